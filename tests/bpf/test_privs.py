# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Least privilege (issue 7 item 7).

  * "user": "nobody" in the config: once bound and loaded, every daemon
    process runs as nobody with exactly CAP_BPF and CAP_NET_ADMIN (and a
    bounding set to match, no_new_privs), and still relays through the
    kernel data plane, reloads, answers passthru-ctl;
  * the root janitor removes the pins, control socket and slot file when
    the daemon stops, cleanly or by SIGKILL;
  * with splice only, no capability is kept at all;
  * examples/passthru.service passes systemd-analyze verify.
"""
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time

from bpftest import (BpfSuite, PtServer, sockmap_daemon, wait_for_startup, listener, route,
                     free_port, connect, recv_all, pin_dir, instance_of, check, eq, wait_for, Skip,
                     Passthru,
                     ROOT, BUILD, MiB)

CAP_NET_ADMIN = 12
CAP_BPF = 39
s = BpfSuite('bpf-privs')
sink = PtServer(s, 'sink', name='sink')
DATA = random.Random(7).randbytes(8 * MiB)
HEAD = b'PUT /p HTTP/1.1\r\nHost: privs.example\r\n\r\n'
CTL = os.path.join(BUILD, 'passthru-ctl')


def status(pid):
    """The fields of /proc/PID/status we look at."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('Uid', 'Gid', 'CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs'):
                out[k] = v.split()
    return out


def daemon_pids(pt):
    """The daemon's processes (master and workers), janitor excluded."""
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/comm' % d) as f:
                comm = f.read().strip()
            with open('/proc/%s/stat' % d) as f:
                pgid = int(f.read().rsplit(')', 1)[1].split()[2])
        except OSError:
            continue
        if comm == 'passthru' and pgid == pt.proc.pid:
            pids.append(int(d))
    return pids


def janitor_pid(pt):
    out = subprocess.run(['pgrep', '-g', str(pt.proc.pid), '-x', 'passthru-janito'],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def upload(port):
    c = connect(port, timeout=10)
    c.sendall(HEAD)
    time.sleep(0.05)
    c.sendall(DATA)
    c.shutdown(2 - 1)  # SHUT_WR
    reply = recv_all(c).decode().split()
    c.close()
    eq(reply, [hashlib.sha256(HEAD + DATA).hexdigest(), str(len(HEAD) + len(DATA))],
       'sink reply (sha256, bytes)')


def start(workers=1, plane='sockmap'):
    """The daemon as nobody, once its janitor has named itself (until then
    the fresh child still reads "passthru" and would pass for the daemon)."""
    port = free_port()
    args = ['-w', str(workers)]
    if plane == 'sockmap':
        pt = sockmap_daemon(s, [listener('p', port, [route('sink', sink.addr,
                                                          protocol='http')])],
                            args=args, name='privs', user='nobody')
    else:
        cfg = {'user': 'nobody', 'listeners': [listener('p', port, [
            route('sink', sink.addr, protocol='http')], data_plane=plane)]}
        pt = Passthru(s, cfg, args=args, name='privs')
        wait_for_startup(pt)
    wait_for(lambda: janitor_pid(pt), 5, 'the janitor process')
    return pt, port


def t_sockmap_as_nobody():
    pt, port = start(workers=2)
    check('running as nobody (uid 65534' in pt.log(), 'log says it dropped to nobody')
    pids = wait_for(lambda: len(daemon_pids(pt)) >= 3 and daemon_pids(pt), 5,
                    'master and two workers')
    want_caps = (1 << CAP_BPF) | (1 << CAP_NET_ADMIN)
    for pid in pids:
        st = status(pid)
        eq(st['Uid'], ['65534'] * 4, 'pid %d real/effective/saved/fs uid' % pid)
        eq(st['Gid'], ['65534'] * 4, 'pid %d gids' % pid)
        for k in ('CapEff', 'CapPrm', 'CapBnd'):
            eq(int(st[k][0], 16), want_caps, 'pid %d %s = CAP_BPF|CAP_NET_ADMIN' % (pid, k))
        eq(st['NoNewPrivs'], ['1'], 'pid %d no_new_privs' % pid)
    jan = janitor_pid(pt)
    check(jan, 'a janitor process runs')
    eq(status(jan)['Uid'][0], '0', 'the janitor stays root')
    for _ in range(3):
        upload(port)
    lines = wait_for(lambda: len(pt.conns()) >= 3 and pt.conns(), 5, 'three log lines')
    check(lines and all(d['plane'] == 'sockmap' and d['end'] == 'done' for d in lines[-3:]),
          'the uploads went through sockmap: %s' % [d['line'] for d in lines[-3:]])
    # passthru-ctl (root) still reads the pins and talks to the socket.
    r = subprocess.run([CTL, '-j', '--instance', instance_of(pt), 'routes'], capture_output=True,
                       text=True, timeout=10)
    eq(r.returncode, 0, 'passthru-ctl routes exit status (%s)' % r.stderr.strip())
    # A reload as nobody (the config is in a world-readable temp dir).
    os.chmod(s.dir, 0o755)
    os.chmod(pt.config_path, 0o644)
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('reloaded') >= 1, 5, 'reload as nobody')
    pins = pin_dir(pt)
    sock = '/run/passthru/%s.sock' % instance_of(pt)
    check(os.path.isdir(pins) and os.path.exists(sock), 'pins and socket while running')
    eq(pt.stop(), 0, 'exit status after SIGTERM')
    wait_for(lambda: not os.path.exists(pins) and not os.path.exists(sock), 5,
             'the janitor removed %s and %s' % (pins, sock))


def t_sigkill_cleanup():
    pt, port = start()
    pins = pin_dir(pt)
    jan = janitor_pid(pt)
    check(jan, 'a janitor process runs')
    for pid in daemon_pids(pt):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(pins), 5, 'pins removed after SIGKILL')
    wait_for(lambda: not os.path.exists('/proc/%d' % jan), 5, 'the janitor exits')


def t_splice_no_caps():
    pt, port = start(plane='splice')
    check('without capabilities' in pt.log(), 'log says no capability is kept')
    for pid in wait_for(lambda: daemon_pids(pt), 5, 'daemon process'):
        st = status(pid)
        eq(st['Uid'][1], '65534', 'effective uid')
        eq(int(st['CapEff'][0], 16), 0, 'no effective capability')
        eq(int(st['CapBnd'][0], 16), 0, 'empty bounding set')
    upload(port)
    line = wait_for(lambda: pt.conns() and pt.conns()[-1], 5, 'the connection log line')
    eq(line['plane'], 'splice', 'relayed with splice')


def t_unit_file():
    if not shutil.which('systemd-analyze'):
        raise Skip('systemd-analyze not installed')
    d = tempfile.mkdtemp(prefix='pt-unit-')
    try:
        with open(os.path.join(ROOT, 'examples', 'passthru.service')) as f:
            unit = f.read().replace('/usr/local/sbin/passthru', os.path.join(BUILD, 'passthru'))
        path = os.path.join(d, 'passthru.service')
        with open(path, 'w') as f:
            f.write(unit)
        r = subprocess.run(['systemd-analyze', 'verify', path], capture_output=True, text=True,
                           timeout=30)
        bad = [l for l in (r.stdout + r.stderr).splitlines()
               if 'passthru.service' in l and not re.search(r'Documentation|\.mount', l)]
        eq(bad, [], 'systemd-analyze verify findings')
        for key in ('CapabilityBoundingSet=', 'ProtectSystem=strict', 'SystemCallFilter=',
                    'NoNewPrivileges=yes', 'ExecReload='):
            check(key in unit, 'the unit sets %s' % key)
    finally:
        shutil.rmtree(d, ignore_errors=True)


s.test('user nobody: sockmap relays with only CAP_BPF+CAP_NET_ADMIN, ctl and reload work, '
       'the janitor cleans up', t_sockmap_as_nobody)
s.test('user nobody: SIGKILLed daemon, the janitor still removes the pins', t_sigkill_cleanup)
s.test('user nobody with splice: no capability at all', t_splice_no_caps)
s.test('examples/passthru.service passes systemd-analyze verify', t_unit_file)
s.finish()
