# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Load (issue 7, item 6).

10,000 concurrent relayed connections, on each data plane: one ptstream
client process opens them all (each sends an HTTP request head, pauses
6 s, then uploads and downloads independent random amounts, 0..256 KiB
each way), one ptstream stream server checks every upload byte and sends
every download byte, passthru runs -w 2 with max_connections 12000 (each
worker stays well under the 20,000-descriptor hard limit). Checked: every
connection byte-exact both ways (ptstream verifies each byte; the server
only sends its trailer after checking the whole upload), all 10,000 were
open in the daemon at once and relayed at once (passthru-ctl status), one
log line each with end=done on the plane asked for, no descriptor, map
entry or pair slot left afterwards.

RLIMIT_NOFILE too low for max_connections: passthru refuses to start,
exit 1, with one error naming the numbers; a limit that fits starts.

EMFILE at run time: the daemon's limit is lowered under it (prlimit --pid)
so that exactly ten relayed connections fit. The next client stays in the
kernel's accept queue, the log says "pausing accepts", the daemon does not
spin meanwhile; once five connections end, the five waiting ones are
accepted and relayed without any help; with the limit restored, it serves
as before. With room for the client's socket only, the upstream socket()
fails instead: the line says "upstream socket: ...; pausing accepts", the
connection retries and is relayed once the limit is raised.
"""
import json
import os
import re
import resource
import socket
import subprocess
import time

import stresslib  # noqa: E402
from stresslib import (StressSuite, Passthru, PtServer, Proc, daemon, planes, fd_kinds, rss_bytes,
                       no_leaks, listener_stats, instance_of, connect, ping, finish, run, check,
                       eq, wait_for, listener, route, free_port, slack, mib, Skip, PASSTHRU,
                       PTSTREAM, PASSTHRU_CTL)

s = StressSuite('stress-load')
N = int(os.environ.get('PT_STRESS_LOAD_N', '10000'))
MAX_CONN = max(12000, N + 2000)
GAP_MS = 6000
SEED = int(os.environ.get('PT_STRESS_SEED', '7'))
PREFIX = 'POST /up HTTP/1.1\\r\\nHost: load.example\\r\\n\\r\\n'  # ptstream escapes
figures = []
TOTALS_RE = re.compile(r'(\d+) connections: (\d+) ok, (\d+) failed; up (\d+) bytes, '
                       r'down (\d+) bytes in ([\d.]+) s')


def ctl_summary(pt):
    r = subprocess.run([PASSTHRU_CTL, '-j', 'status', '--instance', instance_of(pt)],
                       capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout)['summary'] if r.returncode == 0 else {'error': r.stderr}


def t_load(plane):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    need = max(N + 100, 2 * (MAX_CONN // 2) + 600)
    if hard < need:
        raise Skip('RLIMIT_NOFILE hard limit %d, %d connections need %d' % (hard, N, need))
    srv = PtServer(s, 'stream', opts=['--prefix-text', PREFIX], name='stream-' + plane)
    port = free_port()
    pt = daemon(s, [listener('load', port, [route('load', srv.addr, protocol='http',
                                                  host='load.example')],
                             max_connections=MAX_CONN, max_connections_per_source=0,
                             max_detecting=0)],  # 10,000 at once from one address
                plane, args=['-w', '2'],
                name='load-' + plane)
    time.sleep(0.2)
    idle = fd_kinds(pt.proc.pid)
    rss0 = rss_bytes(pt.proc.pid)
    m = pt.mark()
    cli = Proc(s, 'client-' + plane, [PTSTREAM, 'client', '-c', '127.0.0.1:%d' % port, '-m',
                                      'both', '-C', str(N), '-N', str(N), '-s', '0:256k', '-S',
                                      str(SEED), '--prefix-text', PREFIX, '-g', str(GAP_MS),
                                      '-T', str(int(slack(240)))])
    peak, rss_peak, relayed, fds_peak, series = 0, rss0, {}, idle, []
    t0 = time.monotonic()
    while cli.alive():
        try:
            active = listener_stats(pt)['active']
        except (OSError, ValueError, KeyError):
            active = 0
        peak = max(peak, active)
        rss_peak = max(rss_peak, rss_bytes(pt.proc.pid))
        pairs = None
        if active >= 0.9 * N and relayed.get('pairs', 0) < N:
            st = ctl_summary(pt)
            pairs = st.get('pairs')
            if pairs is not None and pairs > relayed.get('pairs', -1):
                relayed = st
                fds_peak = fd_kinds(pt.proc.pid)
        series.append('%.1fs:%d/%s' % (time.monotonic() - t0, active, pairs))
        time.sleep(0.2)
    secs = time.monotonic() - t0
    rc = cli.p.returncode
    out = cli.stdout()
    mt = TOTALS_RE.search(out)
    check(mt, 'ptstream totals: %r %s' % (out[-300:], cli.stderr()[-500:]))
    n, ok, failed, up, down = (int(x) for x in mt.groups()[:5])
    fails = [l for l in cli.stderr().splitlines() if 'FAIL' in l][:3]
    check(rc == 0 and ok == N and failed == 0, '%d of %d connections byte-exact, %d failed '
          '(exit %s): %s' % (ok, N, failed, rc, fails))
    check(peak >= N, 'all %d connections open in the daemon at once (peak active %d)' % (
        N, peak))
    check(relayed.get('pairs', 0) >= N,
          'all %d relayed at once (passthru-ctl status: %s; seconds:active/pairs %s)' % (
              N, relayed, ' '.join(series)))
    lines = wait_for(lambda: (lambda c: c if len(c) >= N else None)(pt.conns()[m:]), 30,
                     '%d log lines' % N)
    bad = [d['line'] for d in lines if d['end'] != 'done' or not plane_ok_for(plane, d)]
    check(not bad, '%d log lines not end=done on %s, e.g. %s' % (len(bad), plane, bad[:2]))
    eq((sum(d['up'] for d in lines), sum(d['down'] for d in lines)), (up, down),
       'bytes up and down in the log = what the client sent and received')
    starved = 'no file descriptor for a splice pipe' in pt.log()
    checked = no_leaks(pt, idle, plane, 'after %d connections' % N, timeout=30)
    figures.append('[%s] %d concurrent (peak active %d, %s relayed at once: %s), %.2f GiB up + '
                   '%.2f GiB down byte-exact in %.1f s; daemon RSS %.1f -> %.1f MiB, peak fds %s'
                   '%s; %s' % (plane, N, peak, relayed.get('pairs'),
                               {k: relayed.get(k) for k in ('sockmap', 'splice')}, up / 2**30,
                               down / 2**30, secs, mib(rss0), mib(rss_peak), fds_peak,
                               '; splice waited for pipes (EMFILE)' if starved else '', checked))
    pt.stop(timeout=15)
    srv.proc.stop()


def plane_ok_for(plane, d):
    return stresslib.logged_plane_ok(plane, d)


# --- RLIMIT_NOFILE at start ------------------------------------------------------------------


def t_nofile_low():
    cfg = s.write('nofile-%d.json' % os.getpid(), json.dumps({'listeners': [
        listener('few', free_port(), [route('all', '127.0.0.1:9')], max_connections=1000,
                 data_plane='splice')]}))
    t0 = time.monotonic()
    rc, out, err = run(['prlimit', '--nofile=256:256', PASSTHRU, '-c', cfg], timeout=10)
    took = time.monotonic() - t0
    eq(rc, 1, 'exit status with RLIMIT_NOFILE 256 and max_connections 1000 (stderr: %s)' %
       err[-300:])
    errs = [l for l in err.splitlines() if 'RLIMIT_NOFILE' in l]
    check(len(errs) == 1 and '256' in errs[0] and '1000' in errs[0],
          'one error line naming the limit (256) and max_connections (1000): %r' % errs)
    check('listening on' not in err, 'nothing was started')
    check(took < slack(2), 'refused at once (%.2f s)' % took)
    figures.append('RLIMIT_NOFILE 256, max_connections 1000: exit 1 after %.2f s: "%s"' % (
        took, errs[0].split(' ', 3)[-1]))


class LimitedPassthru(Passthru):
    """Passthru started under prlimit --nofile=N:N."""

    def __init__(self, suite, config, nofile, **kw):
        self.nofile = nofile
        super().__init__(suite, config, **kw)

    def start(self, wait=True):
        self.proc = Proc(self.suite, self.name, ['prlimit', '--nofile=%d:%d' % (
            self.nofile, self.nofile), PASSTHRU, '-c', self.config_path] + self.args,
                         stdout=False)
        wait_for(lambda: 'listening on' in self.log() or not self.proc.alive(), 10,
                 '%s to listen' % self.name)
        check(self.proc.alive(), '%s started: %s' % (self.name, self.log()[-500:]))
        return self


def t_nofile_fits():
    echo = PtServer(s, 'echo', name='echo-nofile')
    port = free_port()
    pt = LimitedPassthru(s, {'listeners': [listener('fits', port, [route('all', echo.addr)],
                                                    max_connections=1000,
                                                    data_plane='splice')]},
                         4096, name='nofile-fits')
    c = connect(port)
    ping(c, b'fits')
    eq(finish(c), b'', 'end')
    pt.stop()


# --- EMFILE at run time --------------------------------------------------------------------------

K = 10


def open_fds(pid):
    return sorted(int(n) for n in os.listdir('/proc/%d/fd' % pid))


def limit_for_free(pid, free):
    """The RLIMIT_NOFILE under which exactly `free` more descriptors fit."""
    fds = set(open_fds(pid))
    lim, avail = 0, 0
    while avail < free or lim in fds:
        if lim not in fds:
            avail += 1
        lim += 1
    return lim


def cpu_secs(pid):
    with open('/proc/%d/stat' % pid) as f:
        st = f.read().rsplit(')', 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf('SC_CLK_TCK')


def nofile(pid):
    """(soft, hard) RLIMIT_NOFILE of pid."""
    with open('/proc/%d/limits' % pid) as f:
        m = re.search(r'^Max open files\s+(\d+)\s+(\d+)', f.read(), re.M)
    return int(m.group(1)), int(m.group(2))


def prlimit(pid, soft):
    """Set the soft limit only: raising a hard limit needs CAP_SYS_RESOURCE,
    which a container may not grant, and lowering the soft one is enough."""
    run(['prlimit', '--pid', str(pid), '--nofile=%d:%d' % (soft, nofile(pid)[1])], check_rc=0)


def t_emfile(plane):
    echo = PtServer(s, 'echo', name='echo-emfile-' + plane)
    port = free_port()
    pt = daemon(s, [listener('em', port, [route('all', echo.addr)], max_connections=100)],
                plane, name='emfile-' + plane)
    pid = pt.proc.pid
    # Warm up: splice keeps the pipes it used in its pool.
    warm = [connect(port) for _ in range(3)]
    for c in warm:
        ping(c, b'warm')
    for c in warm:
        finish(c)
    wait_for(lambda: fd_kinds(pid)['socket'] <= 2, 5, 'the warm-up connections to end')
    idle = fd_kinds(pid)
    m = pt.mark()
    soft0 = nofile(pid)[0]
    lim = limit_for_free(pid, 2 * K)
    prlimit(pid, lim)
    try:
        held = [connect(port) for _ in range(K)]
        for i, c in enumerate(held):
            ping(c, b'held %d' % i)
        waiting = []
        for i in range(5):
            c = connect(port)  # the kernel completes the handshake; accept fails
            c.sendall(b'waiting %d' % i)
            waiting.append(c)
        wait_for(lambda: re.search(r'listener em: accept: Too many open files; pausing accepts',
                                   pt.log()), 5, 'the "pausing accepts" line')
        cpu0, t0 = cpu_secs(pid), time.monotonic()
        time.sleep(1)
        cpu = cpu_secs(pid) - cpu0
        dt = time.monotonic() - t0
        check(cpu < 0.25 * dt, 'no busy loop while out of descriptors (%.2f s CPU in %.2f s)' %
              (cpu, dt))
        for c in waiting:
            c.settimeout(0.05)
            try:
                got = c.recv(100)
            except socket.timeout:
                got = None
            check(got is None, 'a waiting client got %r before any descriptor was free' % got)
            c.settimeout(5)
        pauses = len(re.findall(r'pausing accepts', pt.log()))
        # Five connections end: their ten descriptors let the five waiting in.
        t1 = time.monotonic()
        for c in held[:5]:
            eq(finish(c), b'', 'end of a held connection')
        for i, c in enumerate(waiting):
            want = b'waiting %d' % i
            got = b''
            while len(got) < len(want):
                d = c.recv(100)
                if not d:
                    break
                got += d
            eq(got, want, 'echo for a client that waited in the accept queue')
        recovered = time.monotonic() - t1
        check(recovered < slack(2), 'accepted again promptly (%.2f s)' % recovered)
        for c in held[5:] + waiting:
            ping(c, b'still fine')
            eq(finish(c), b'', 'end')
        lines = pt.conns_after(m, K + 5, timeout=10)
        check(all(d['end'] == 'done' for d in lines), 'every connection ended done: %s' % [
            d['line'] for d in lines if d['end'] != 'done'][:2])
    finally:
        prlimit(pid, soft0)
    check(pt.proc.alive(), 'the daemon survived')
    c = connect(port)
    ping(c, b'after the limit is restored')
    eq(finish(c), b'', 'end')
    checked = no_leaks(pt, idle, plane, 'after EMFILE')
    figures.append('[%s] EMFILE: limit %d (room for %d relayed connections), 5 clients waited '
                   'in the accept queue, %d "pausing accepts" lines, %.2f s CPU per s while '
                   'paused, all 5 served %.2f s after 5 others ended; %s' % (
                       plane, lim, K, pauses, cpu / dt, recovered, checked))
    pt.stop()


def t_emfile_upstream(plane):
    echo = PtServer(s, 'echo', name='echo-upem-' + plane)
    port = free_port()
    pt = daemon(s, [listener('um', port, [route('all', echo.addr)])], plane,
                name='upem-' + plane)
    pid = pt.proc.pid
    soft0 = nofile(pid)[0]
    prlimit(pid, limit_for_free(pid, 1))
    try:
        c = connect(port)  # takes the last descriptor: its upstream socket() fails
        c.sendall(b'retry')
        wait_for(lambda: 'pausing accepts' in pt.log(), 5, 'the "pausing accepts" line')
        check(re.search(r'listener um: upstream socket: Too many open files; pausing accepts',
                        pt.log()), 'the line names the upstream socket: %s' % [
                            l for l in pt.log().splitlines() if 'pausing' in l])
        time.sleep(0.3)
    finally:
        prlimit(pid, soft0)
    c.settimeout(5)
    eq(c.recv(100), b'retry', 'echo once the retry found a descriptor')
    eq(finish(c), b'', 'end')
    pt.stop()


for plane in planes():
    s.test('[%s] %d concurrent relayed connections, random sizes 0..256 KiB, byte-exact' % (
        plane, N), t_load, plane)
s.test('RLIMIT_NOFILE 256 with max_connections 1000: clear start-up error, exit 1',
       t_nofile_low)
s.test('RLIMIT_NOFILE 4096 with max_connections 1000: starts and serves', t_nofile_fits)
for plane in planes():
    s.test('[%s] EMFILE at run time: accept pauses, recovers by itself' % plane, t_emfile, plane)
for plane in planes():
    s.test('[%s] EMFILE for an upstream socket: accepts pause, the connect retries' % plane,
           t_emfile_upstream, plane)
print('figures:')
for f in figures:
    print('  ' + f)
s.finish()
