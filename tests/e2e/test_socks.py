# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""SOCKS 5, 4 and 4a through passthru to a real dante server, with curl.

dante 1.4 answers SOCKS4a requests with "rejected" (91), so 4a goes to a
small SOCKS4a server written here instead (connect only, IPv4, loopback).
"""
import socket
import threading

from ptharness import (Suite, Passthru, Dante, HttpBackend, TcpServer, Skip, curl, eq, expect,
                       listener, route, free_port, plane_ok, wait_for, is_root)

s = Suite('socks')
web = HttpBackend(s, 'web')
dante = None
pt = None
port = free_port()


def socks4a_handler(c, srv):
    """SOCKS4/4a CONNECT (RFC-less classic): VER CMD PORT IP USERID\0 [HOST\0]."""
    buf = b''
    while len(buf) < 9 or buf.count(b'\0', 8) < (2 if buf[4:7] == b'\0\0\0' else 1):
        d = c.recv(4096)
        if not d:
            return
        buf += d
    port = int.from_bytes(buf[2:4], 'big')
    rest = buf[8:].split(b'\0')
    host = rest[1].decode() if buf[4:7] == b'\0\0\0' else socket.inet_ntoa(buf[4:8])
    try:
        up = socket.create_connection((host, port), timeout=5)
    except OSError:
        c.sendall(b'\0\x5b' + b'\0' * 6)
        return
    c.sendall(b'\0\x5a' + b'\0' * 6)

    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                b.sendall(d)
        except OSError:
            pass

    t = threading.Thread(target=pump, args=(up, c), daemon=True)
    t.start()
    pump(c, up)
    t.join(5)
    up.close()


socks4a = TcpServer(s, socks4a_handler)
port4a = free_port()
pt4a = Passthru(s, {'listeners': [listener('front4a', port4a, [
    route('socks4a', socks4a.addr, protocol='socks4'),
    route('rest', reject=True),
])]}, name='passthru4a')


def t_setup():
    global dante, pt
    if not is_root():
        raise Skip('danted needs root')
    dante = Dante(s)
    pt = Passthru(s, {'listeners': [listener('front', port, [
        route('socks5', dante.addr, protocol='socks5'),
        route('socks4', dante.addr, protocol='socks4'),
        route('rest', reject=True),
    ])]})


def via(flag, url_host, proto, target=None, greet=None, to_4a=False):
    if to_4a:
        daemon, p, upstream = pt4a, port4a, socks4a.addr
    elif pt is None:
        raise Skip('no dante')
    else:
        daemon, p, upstream = pt, port, dante.addr
    m = daemon.mark()
    n = len(web.records)
    rc, out, err = curl(flag, '127.0.0.1:%d' % p, 'http://%s:%d/through' % (url_host, web.port))
    eq(rc, 0, 'curl %s exit status (%s)' % (flag, err.strip()))
    eq(out, 'backend=web method=GET host=%s:%d path=/through\n' % (url_host, web.port),
       'HTTP backend answer through SOCKS')
    rec = wait_for(lambda: len(web.records) > n and web.records[-1], 3, 'backend record')
    want = dict(route='socks4a' if to_4a else proto, proto=proto, upstream=upstream,
                plane=plane_ok, end='done')
    if target:
        want['target'] = target
    # The relayed bytes are the HTTP exchange plus the SOCKS handshake, which is
    # small and of known size for each version.
    up, down = greet
    want['up'] = lambda v: v - rec['rx'] in up
    want['up'].desc = 'HTTP bytes %d + one of %s' % (rec['rx'], up)
    want['down'] = lambda v: v - rec['tx'] in down
    want['down'].desc = 'HTTP bytes %d + one of %s' % (rec['tx'], down)
    expect(daemon.conn_after(m), **want)


s.test('setup: danted', t_setup)
# SOCKS5: greeting 3 or 4 bytes + request 10 (IPv4) / 7 + name; replies 2 + 10.
s.test('curl --socks5 -> dante -> HTTP backend', via, '--socks5', '127.0.0.1', 'socks5', None,
       ((13, 14), (12,)))
s.test('curl --socks5-hostname localhost -> dante -> HTTP backend', via, '--socks5-hostname',
       'localhost', 'socks5', None, ((3 + 7 + 9, 4 + 7 + 9), (12,)))
# SOCKS4: request 8 + user id + NUL; reply 8. 4a adds the host name + NUL.
s.test('curl --socks4 -> dante -> HTTP backend', via, '--socks4', '127.0.0.1', 'socks4',
       '127.0.0.1:%d' % web.port, (range(9, 41), (8,)))
s.test('curl --socks4a localhost -> SOCKS4a server -> HTTP backend', via, '--socks4a',
       'localhost', 'socks4', 'localhost:%d' % web.port, (range(9 + 10, 41 + 10), (8,)), True)
s.finish()
