# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Least privilege (issue 7 item 7, issue 13).

  * "user": "nobody" in the config: once bound and loaded, every daemon
    process runs as nobody with only the capabilities this kernel and
    config need (CAP_BPF only if map updates need it, CAP_NET_ADMIN only
    if sockmap_sndbuf exceeds net.core.wmem_max; a bounding set to match,
    no_new_privs), one log line says which and why, and it still relays
    through the kernel data plane, reloads, answers passthru-ctl;
  * pins and control socket belong to the run-as user, no root process
    stays; at exit the daemon removes the pins it made and nothing else;
    leftovers (after SIGKILL) are removed by the next start, which never
    follows a symlink planted in their place;
  * two daemons started at once on one instance: one wins, the other exits
    with "already running" and the winner's pins and socket survive;
  * the control socket: every user reads, only root or
    control_admin_group reload (SO_PEERCRED); a control_socket in a
    directory other users can write is refused;
  * with splice only, no capability is kept at all;
  * examples/passthru.service passes systemd-analyze verify.
"""
import hashlib
import json
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
                     Passthru, slack, scaled, unpin, PIN_ROOT, RUN_DIR,
                     ROOT, BUILD, MiB)

CAP_NET_ADMIN = 12
CAP_BPF = 39
PINS = {'pt_pairs', 'pt_socks', 'pt_rx', 'pt_tx', 'pt_meta', 'prog_stream_verdict'}
NOBODY = 65534
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


def wmem_max():
    with open('/proc/sys/net/core/wmem_max') as f:
        return int(f.read())


def kernel_needs_cap_bpf():
    """Before 5.19 every bpf() command needs CAP_BPF when unprivileged BPF is off."""
    with open('/proc/sys/kernel/unprivileged_bpf_disabled') as f:
        disabled = int(f.read()) != 0
    major, minor = (int(x) for x in os.uname().release.split('.')[:2])
    return disabled and (major, minor) < (5, 19)


def sock_path(pt):
    return os.path.join(RUN_DIR, instance_of(pt) + '.sock')


def forget(pt):
    """Remove what an unprivileged daemon could not (files in root's directories)."""
    inst = instance_of(pt)
    unpin(inst)
    for ext in ('.sock', '.pairs', '.lock'):
        try:
            os.unlink(os.path.join(RUN_DIR, inst + ext))
        except OSError:
            pass


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def ctl(pt, *args, user=None):
    return subprocess.run([CTL, '--instance', instance_of(pt)] + list(args), capture_output=True,
                          text=True, timeout=slack(10), preexec_fn=user)


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


def start(workers=1, plane='sockmap', name='privs', **lkw):
    """The daemon as nobody."""
    port = free_port()
    args = ['-w', str(workers)]
    if plane == 'sockmap':
        pt = sockmap_daemon(s, [listener('p', port, [route('sink', sink.addr, protocol='http')],
                                         **lkw)],
                            args=args, name=name, user='nobody')
    else:
        cfg = {'user': 'nobody', 'listeners': [listener('p', port, [
            route('sink', sink.addr, protocol='http')], data_plane=plane)]}
        pt = Passthru(s, cfg, args=args, name=name)
        wait_for_startup(pt)
    return pt, port


def check_caps(pt, want, n):
    """Every daemon process (n of them) runs as nobody with exactly the capabilities @want."""
    pids = wait_for(lambda: len(daemon_pids(pt)) >= n and daemon_pids(pt), 5,
                    '%d daemon processes' % n)
    for pid in pids:
        st = status(pid)
        eq(st['Uid'], [str(NOBODY)] * 4, 'pid %d real/effective/saved/fs uid' % pid)
        eq(st['Gid'], [str(NOBODY)] * 4, 'pid %d gids' % pid)
        for k in ('CapEff', 'CapPrm', 'CapBnd'):
            eq(int(st[k][0], 16), want, 'pid %d %s' % (pid, k))
        eq(st['NoNewPrivs'], ['1'], 'pid %d no_new_privs' % pid)
    return pids


def t_sockmap_as_nobody():
    """sockmap_sndbuf within wmem_max: only CAP_BPF if this kernel needs it, else nothing."""
    need_bpf = kernel_needs_cap_bpf()
    pt, port = start(workers=2, sockmap_sndbuf=wmem_max())
    line = wait_for(lambda: re.search(r'running as nobody \(uid 65534[^\n]*', pt.log()), 5,
                    'the privileges line')
    print('  # kernel %s: %s' % (os.uname().release, line.group(0)))
    check('no CAP_NET_ADMIN: sockmap_sndbuf' in line.group(0), 'says why not CAP_NET_ADMIN')
    check(('CAP_BPF: map updates need it' in line.group(0)) == need_bpf,
          'CAP_BPF kept exactly when this kernel needs it (%s)' % need_bpf)
    check_caps(pt, (1 << CAP_BPF) if need_bpf else 0, 3)
    eq(subprocess.run(['pgrep', '-g', str(pt.proc.pid), '-x', 'passthru-janito'],
                      capture_output=True).stdout, b'', 'no janitor process')
    pins, sock = pin_dir(pt), sock_path(pt)
    eq(set(os.listdir(pins)), PINS, 'the pins')
    for p in [pins, sock] + [os.path.join(pins, f) for f in PINS]:
        eq(os.lstat(p).st_uid, NOBODY, '%s belongs to nobody' % p)
    for _ in range(3):
        upload(port)
    lines = wait_for(lambda: len(pt.conns()) >= 3 and pt.conns(), 5, 'three log lines')
    check(lines and all(d['plane'] == 'sockmap' and d['end'] == 'done' for d in lines[-3:]),
          'the uploads went through sockmap: %s' % [d['line'] for d in lines[-3:]])
    r = ctl(pt, '-j', 'routes')
    eq(r.returncode, 0, 'passthru-ctl routes exit status (%s)' % r.stderr.strip())
    # A reload as nobody (the config is in a world-readable temp dir).
    os.chmod(s.dir, 0o755)
    os.chmod(pt.config_path, 0o644)
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('reloaded') >= 1, 5, 'reload as nobody')
    # Something of someone else's in the pin directory: not ours to remove.
    os.symlink('/etc/hostname', os.path.join(pins, 'foreign'))
    eq(pt.stop(), 0, 'exit status after SIGTERM')
    eq(os.listdir(pins), ['foreign'], 'at exit our pins are gone, the foreign entry stays')
    check(os.path.exists('/etc/hostname'), 'the symlink was not followed')
    os.unlink(os.path.join(pins, 'foreign'))
    forget(pt)


def t_sndbuf_keeps_net_admin():
    """A forced send buffer above wmem_max is the one reason to keep CAP_NET_ADMIN."""
    big = max(wmem_max() * 2, 4 * MiB)
    pt, port = start(sockmap_sndbuf=big, name='privs-sndbuf')
    want = (1 << CAP_NET_ADMIN) | ((1 << CAP_BPF) if kernel_needs_cap_bpf() else 0)
    check('CAP_NET_ADMIN: sockmap_sndbuf %d > net.core.wmem_max' % big in pt.log(),
          'the log says why CAP_NET_ADMIN is kept')
    check_caps(pt, want, 1)
    upload(port)
    pt.stop()
    forget(pt)


def t_sigkill_leftovers():
    """After a SIGKILL the pins stay; the next start on the instance removes them, and a
    symlink planted in place of the pin directory is removed, never followed."""
    pt, port = start()
    pins = pin_dir(pt)
    for pid in daemon_pids(pt):
        os.kill(pid, signal.SIGKILL)
    pt.stop()
    eq(set(os.listdir(pins)), PINS, 'the pins are still there after SIGKILL')
    pt2, port2 = start(name='privs')
    eq(instance_of(pt2), instance_of(pt), 'same instance')
    check('removing stale instance' in pt2.log(), 'the next start removed the leftovers')
    upload(port2)
    pt2.stop()
    forget(pt2)
    # The leftover is now a symlink to a directory of ours: its file must survive.
    victim = tempfile.mkdtemp(prefix='pt-victim-')
    canary = os.path.join(victim, 'canary')
    open(canary, 'w').close()
    os.symlink(victim, pins)
    try:
        pt3, port3 = start(name='privs')
        check(os.path.exists(canary), 'the start did not follow the symlink into %s' % victim)
        check(os.path.isdir(pins) and not os.path.islink(pins), 'a real pin directory replaced it')
        upload(port3)
        pt3.stop()
    finally:
        if os.path.islink(pins):
            os.unlink(pins)
        shutil.rmtree(victim, ignore_errors=True)
    forget(pt3)


def t_start_race():
    """Two daemons on one instance at once, many times: exactly one runs, the other exits
    with a clear error, the winner's pins and socket survive and it keeps relaying."""
    rounds = scaled(8, 2)
    for i in range(rounds):
        # Two configs on one instance (--instance), each its own port: both
        # bind, so the race is on the instance itself.
        ports = [free_port(), free_port()]
        inst = 'privs-race-%d-%d' % (os.getpid(), i)
        s.instances.append(inst)
        procs = []
        for k in range(2):
            cfg = {'listeners': [listener('p', ports[k], [
                route('sink', sink.addr, protocol='http')], data_plane='sockmap')]}
            path = s.write('%s.%d.json' % (inst, k), json.dumps(cfg))
            err = open(s.path('%s.%d.err' % (inst, k)), 'wb')
            procs.append(subprocess.Popen([os.path.join(BUILD, 'passthru'), '-c', path,
                                           '--instance', inst],
                                          stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True))
            err.close()

        def log(k):
            with open(s.path('%s.%d.err' % (inst, k))) as f:
                return f.read()
        try:
            wait_for(lambda: any(p.poll() is not None for p in procs), 10, 'one daemon exiting')
            losers = [k for k, p in enumerate(procs) if p.poll() is not None]
            eq(len(losers), 1, 'exactly one daemon exited (round %d)' % i)
            lose, win = losers[0], 1 - losers[0]
            check(procs[lose].returncode != 0, 'the loser exits with an error')
            check('instance %s is already running (pid %d' % (inst, procs[win].pid) in log(lose),
                  'the loser says why: %s' % log(lose).strip()[-300:])
            wait_for(lambda: 'data planes sockmap' in log(win) or procs[win].poll() is not None,
                     10, 'the winner up')
            check(procs[win].poll() is None, 'the winner runs: %s' % log(win)[-500:])
            eq(set(os.listdir(os.path.join(PIN_ROOT, inst))), PINS,
               'the winner\'s pins')
            check(os.path.exists(os.path.join(RUN_DIR, inst + '.sock')), 'the winner\'s socket')
            r = subprocess.run([CTL, '-j', '--instance', inst, 'routes'], capture_output=True,
                               text=True, timeout=slack(10))
            eq(r.returncode, 0, 'passthru-ctl reaches the winner (%s)' % r.stderr.strip())
            c = connect(ports[win], timeout=10)
            c.sendall(HEAD + b'x' * 1000)
            c.shutdown(1)
            reply = recv_all(c).decode().split()
            c.close()
            eq(reply[-1], str(len(HEAD) + 1000), 'the winner relays')
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
                    try:
                        p.wait(slack(5))
                    except subprocess.TimeoutExpired:
                        os.killpg(p.pid, signal.SIGKILL)
                        p.wait()
        check(not os.path.exists(os.path.join(PIN_ROOT, inst)),
              'the winner removed its pins at exit')


def t_control_levels():
    """Reads for everyone, reload for root or control_admin_group, a clear refusal."""
    pt, port = start(plane='splice', name='privs-ctl')
    os.chmod(s.dir, 0o755)
    os.chmod(pt.config_path, 0o644)
    r = ctl(pt, '-j', 'routes', user=as_nobody)
    eq(r.returncode, 0, 'nobody reads the routes (%s)' % r.stderr.strip())
    r = ctl(pt, 'reload', user=as_nobody)
    check(r.returncode != 0, 'nobody cannot reload')
    check('permission denied' in r.stderr and '"reload" needs root' in r.stderr
          and 'uid 65534' in r.stderr, 'a clear refusal: %r' % r.stderr)
    check('"reload" refused to uid 65534' in pt.log(), 'the daemon logs the refusal')
    r = ctl(pt, 'reload')
    eq(r.returncode, 0, 'root reloads (%s)' % r.stderr.strip())
    # Now nobody's group may.
    cfg = dict(pt.config)
    cfg['control_admin_group'] = 'nogroup'
    pt.set_config(cfg)
    os.chmod(pt.config_path, 0o644)
    eq(ctl(pt, 'reload').returncode, 0, 'root reloads the config with control_admin_group')
    r = ctl(pt, 'reload', user=as_nobody)
    eq(r.returncode, 0, 'a member of control_admin_group reloads (%s)' % r.stderr.strip())
    pt.stop()
    forget(pt)


def t_control_dir_refused():
    """A control_socket where other users could replace it is refused at start."""
    open_dir = tempfile.mkdtemp(prefix='pt-open-')
    os.chmod(open_dir, 0o777)
    safe = tempfile.mkdtemp(prefix='pt-safe-')   # 0700 under the sticky /tmp: fine
    try:
        for path, ok in ((os.path.join(open_dir, 'c.sock'), False),
                         ('/tmp/pt-privs-%d.sock' % os.getpid(), False),
                         (os.path.join(safe, 'c.sock'), True)):
            cfg = {'control_socket': path, 'listeners': [listener(
                'p', free_port(), [route('sink', sink.addr)], data_plane='splice')]}
            pt = Passthru(s, cfg, name='privs-dir', start=False)
            pt.start(wait=False)
            if ok:
                wait_for_startup(pt)
                check(os.path.exists(path), '%s made' % path)
                eq(pt.stop(), 0, 'exit status')
                continue
            rc = pt.proc.wait(slack(10))
            check(rc not in (0, None), '%s refused (exit status %s)' % (path, rc))
            check('control socket %s: refused' % path in pt.log() and
                  'can be changed by other users' in pt.log(), 'says why: %s' % pt.log()[-300:])
            check(not os.path.exists(path), 'no socket made at %s' % path)
    finally:
        shutil.rmtree(open_dir, ignore_errors=True)
        shutil.rmtree(safe, ignore_errors=True)


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
    pt.stop()
    forget(pt)


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


s.test('user nobody: sockmap relays with only the capabilities the kernel needs, owns its '
       'pins and socket, removes only its own pins', t_sockmap_as_nobody)
s.test('user nobody: sockmap_sndbuf above wmem_max keeps CAP_NET_ADMIN', t_sndbuf_keeps_net_admin)
s.test('user nobody: SIGKILL leftovers removed by the next start, symlinks never followed',
       t_sigkill_leftovers)
s.test('two daemons on one instance at once: one wins, its pins survive', t_start_race)
s.test('control socket: reads for all, reload for root or control_admin_group',
       t_control_levels)
s.test('control socket in a directory others can write: refused', t_control_dir_refused)
s.test('user nobody with splice: no capability at all', t_splice_no_caps)
s.test('examples/passthru.service passes systemd-analyze verify', t_unit_file)
s.finish()
