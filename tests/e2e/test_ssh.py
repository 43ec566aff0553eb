# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""SSH through passthru to a real sshd: by the client's banner, and by timeout; a legacy
(Go passthru) SSH section takes silent clients too, unless "ssh_silent_clients": false."""
import json
import socket
import time

from ptharness import (Suite, Passthru, Sshd, Skip, PASSTHRU, run, connect, recv_until, eq, check, expect,
                       listener, route, free_port, plane_ok, between, is_root, slack)

s = Suite('ssh')
sshd = None
pt = None
port = late_port = 0


def setup():
    global sshd, pt, port, late_port
    sshd = Sshd(s)
    port, late_port = free_port(), free_port()
    pt = Passthru(s, {'listeners': [
        listener('front', port, [
            route('ssh', sshd.addr, protocol='ssh'),
            route('rest', reject=True),
        ], timeout_ms=1000),
        # Server-speaks-first: a client that waits for the banner gets there by timeout.
        listener('late', late_port, [
            route('ssh-late', sshd.addr, protocol='timeout'),
        ], timeout_ms=300),
    ]})


def need_setup():
    if not is_root():
        raise Skip('sshd needs root')
    if sshd is None:
        raise Skip('sshd setup failed')


def t_setup():
    if not is_root():
        raise Skip('sshd needs root')
    setup()


def t_keyscan():
    # ssh-keyscan waits for the server's banner before it sends its own, so
    # only the timeout route can take it (the ssh route would wait forever).
    need_setup()
    m = pt.mark()
    rc, out, err = run(['ssh-keyscan', '-T', '5', '-t', 'ed25519', '-p', str(late_port),
                        '127.0.0.1'], timeout=15)
    keys = [' '.join(l.split()[1:3]) for l in out.splitlines() if l and not l.startswith('#')]
    eq(keys, [sshd.host_key()], 'host key from ssh-keyscan through passthru')
    expect(pt.conn_after(m), listener='late', route='ssh-late', proto='none',
           upstream=sshd.addr, plane=plane_ok, up=lambda v: v > 100,
           down=lambda v: v > 100, end=lambda e: e in ('done', 'client-reset'),
           dur=lambda v: v >= 0.3)


def t_keyscan_ssh_route():
    # On the ssh route the same client is never detected: rejected at the deadline.
    need_setup()
    m = pt.mark()
    t0 = time.monotonic()
    rc, out, err = run(['ssh-keyscan', '-T', '8', '-t', 'ed25519', '-p', str(port),
                        '127.0.0.1'], timeout=15)
    eq(out.strip(), '', 'no key through a route that waits for the client')
    check(time.monotonic() - t0 < slack(4), 'closed at the 1 s detection deadline')
    expect(pt.conn_after(m), listener='front', route='rest', proto='none', end='rejected',
           up=0, down=0, dur=between(0.95, slack(2)))


def t_login():
    need_setup()
    m = pt.mark()
    rc, out, err = run(['ssh', '-p', str(port), '-i', sshd.userkey, '-F', '/dev/null',
                        '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
                        '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
                        'root@127.0.0.1', 'echo', 'hello-through-passthru'], timeout=20)
    eq((rc, out.strip()), (0, 'hello-through-passthru'), 'ssh login and command (%s)' %
       err.strip()[-300:])
    expect(pt.conn_after(m), route='ssh', proto='ssh', banner=lambda b: b.startswith('OpenSSH'),
           upstream=sshd.addr, end='done', up=lambda v: v > 1000, down=lambda v: v > 1000)


def t_timeout_route():
    need_setup()
    m = pt.mark()
    c = connect(late_port)
    t0 = time.monotonic()
    banner = recv_until(c, b'\r\n')
    took = time.monotonic() - t0
    check(banner.startswith(b'SSH-2.0-OpenSSH'), 'sshd banner reached the silent client: %r'
          % banner)
    check(0.25 <= took <= slack(2.0),
          'banner after the 300 ms detection timeout (took %.2f s)' % took)
    mine = b'SSH-2.0-pt_e2e_test\r\n'
    c.sendall(mine)
    # sshd goes on with its binary KEXINIT packet: length, padding, type 20.
    c.settimeout(5)
    pkt = banner.split(b'\r\n', 1)[1]
    while len(pkt) < 6:
        d = c.recv(4096)
        if not d:
            break
        pkt += d
    eq(pkt[5:6], b'\x14', 'SSH message type after the banner exchange (KEXINIT)')
    c.shutdown(socket.SHUT_WR)
    rest = b''
    while True:
        d = c.recv(65536)
        if not d:
            break
        rest += d
    c.close()
    down = len(banner) + len(rest) + len(pkt) - len(banner.split(b'\r\n', 1)[1])
    expect(pt.conn_after(m), listener='late', route='ssh-late', proto='none',
           upstream=sshd.addr, end='done', up=len(mine), down=down, dur=between(0.3, slack(5)))


def legacy_pt(name, silent=None):
    """A legacy-format daemon: SSH to sshd, everything else rejected; 500 ms deadline."""
    lport = free_port()
    cfg = {'version': 'v0.2.0', 'servers': {'127.0.0.1:%d' % lport: {
        'SSH': {'CATCHALL': {'action': 'FORWARD', 'to_addr': sshd.addr}},
        'CATCHALL': {'CATCHALL': {'action': 'REJECT'}}}}}
    if silent is not None:
        cfg['ssh_silent_clients'] = silent
    return Passthru(s, json.dumps(cfg), args=['-t', str(int(500 * max(1, slack(1))))],
                    name=name), lport


def keyscan(p, wait=8):
    rc, out, err = run(['ssh-keyscan', '-T', str(wait), '-t', 'ed25519', '-p', str(p),
                        '127.0.0.1'], timeout=wait + 10)
    return [' '.join(l.split()[1:3]) for l in out.splitlines() if l and not l.startswith('#')]


def t_legacy_keyscan():
    need_setup()
    lpt, lport = legacy_pt('legacy')
    m = lpt.mark()
    eq(keyscan(lport), [sshd.host_key()], 'host key from ssh-keyscan through a legacy SSH section')
    # the legacy format has no data_plane key (PT_DATA_PLANE cannot reach
    # it): its listeners run the default, auto
    expect(lpt.conn_after(m), route='SSH timeout', proto='none', upstream=sshd.addr,
           plane=lambda v: v in ('copy', 'copy>splice', 'copy>sockmap'),
           up=lambda v: v > 100, down=lambda v: v > 100,
           end=lambda e: e in ('done', 'client-reset'))
    rc, out, err = run([PASSTHRU, '--check', '-c', lpt.config_path])
    got = [(r['name'], r.get('match', {}).get('protocol')) for r in
           json.loads(out)['listeners'][0]['routes']]
    eq(got, [('SSH CATCHALL', 'ssh'), ('SSH timeout', 'timeout'), ('CATCHALL', None)],
       '--check shows the timeout route')
    lpt.stop()


def t_legacy_keyscan_off():
    need_setup()
    lpt, lport = legacy_pt('legacy-off', silent=False)
    m = lpt.mark()
    eq(keyscan(lport), [], 'no key: the silent client went to the CATCHALL (REJECT)')
    expect(lpt.conn_after(m), route='CATCHALL', proto='none', end='rejected', up=0, down=0)
    lpt.stop()


s.test('setup: sshd with generated keys', t_setup)
s.test('ssh login through ssh route (client banner first) runs a command', t_login)
s.test('ssh-keyscan (waits for the server) through the timeout route gets the host key',
       t_keyscan)
s.test('ssh-keyscan on a listener without timeout route is rejected at the deadline',
       t_keyscan_ssh_route)
s.test('silent client reaches sshd through the timeout route', t_timeout_route)
s.test('legacy format: ssh-keyscan reaches sshd through the SSH section', t_legacy_keyscan)
s.test('legacy format: "ssh_silent_clients": false sends it to the CATCHALL',
       t_legacy_keyscan_off)
s.finish()
