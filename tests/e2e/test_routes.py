# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Route kinds: cidr, reject, timeout (server speaks first), unknown, any;
dead upstreams and failover; detection deadline without a fallback route."""
import os
import socket
import time

from ptharness import (Suite, Passthru, PtServer, connect, read_closed, recv_all, eq, check,
                       expect, listener, route, free_port, closed_port, plane_ok, between,
                       capture_client_hello, addr, slack)

s = Suite('routes')


def banner_server(name):
    """ptstream banner server: says NAME\\n at once, then echoes."""
    return PtServer(s, 'banner', name + '\\n', name='banner-' + name)


b_cidr = banner_server('cidr')
b_web = banner_server('web')
b_fail = banner_server('failover')
b_smtp = PtServer(s, 'banner', '220 hello\\r\\n', name='banner-smtp')
b_unk = banner_server('unknown')
b_any = banner_server('any')
dead1, dead2 = closed_port(), closed_port()

port, strict_port = free_port(), free_port()
pt = Passthru(s, {'listeners': [
    listener('front', port, [
        route('cidr', b_cidr.addr, cidr=['127.0.0.2/32', '10.0.0.0/8']),
        route('reject', reject=True, protocol='http', host='reject.example'),
        route('dead', addr(dead1), protocol='http', host='dead.example'),
        route('all-dead', [addr(dead1), addr(dead2)], protocol='http', host='alldead.example'),
        route('failover', [addr(dead1), addr(dead2), b_fail.addr], protocol='http',
              host='failover.example'),
        route('web', b_web.addr, protocol='http', host='web.example'),
        route('smtp', b_smtp.addr, protocol='timeout'),
        route('unk', b_unk.addr, protocol='unknown'),
        route('any', b_any.addr),
    ], timeout_ms=300),
    listener('strict', strict_port, [
        route('tls-only', b_any.addr, protocol='tls'),
    ], timeout_ms=300),
]})


def req(host):
    return b'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % host.encode()


def exchange(data, source=None, p=None):
    """Connect, send data, half-close, read everything; returns the reply."""
    c = connect(p or port, source=source)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    got = recv_all(c)
    c.close()
    return got


def t_cidr():
    m = pt.mark()
    r = req('web.example')
    eq(exchange(r, source='127.0.0.2'), b'cidr\n' + r, 'reply to a client from 127.0.0.2')
    # Decided at accept, before any byte: no protocol in the log.
    expect(pt.conn_after(m), route='cidr', proto='-', client=lambda c: c.startswith(
        '127.0.0.2:'), upstream=b_cidr.addr, plane=plane_ok, end='done', up=len(r),
        down=5 + len(r))


def t_not_cidr():
    m = pt.mark()
    r = req('web.example')
    eq(exchange(r, source='127.0.0.1'), b'web\n' + r, 'reply to a client from 127.0.0.1')
    expect(pt.conn_after(m), route='web', proto='http', host='web.example',
           client=lambda c: c.startswith('127.0.0.1:'), upstream=b_web.addr, end='done',
           up=len(r), down=4 + len(r))


def closed_promptly(host, want_end, want_route):
    m = pt.mark()
    c = connect(port)
    c.sendall(req(host))
    data, how, took = read_closed(c, 3)
    c.close()
    eq(data, b'', 'bytes the client got')
    check(how in ('eof', 'reset'), 'client saw the connection closed (%s)' % how)
    check(took < slack(1.0), 'closed promptly (%.2f s)' % took)
    return expect(pt.conn_after(m), route=want_route, proto='http', host=host, end=want_end,
                  up=0, down=0, dur=between(0, slack(1)))


def t_reject():
    closed_promptly('reject.example', 'rejected', 'reject')
    expect(pt.conns()[-1], upstream='-')


def t_dead():
    closed_promptly('dead.example', 'upstream-failed', 'dead')


def t_all_dead():
    closed_promptly('alldead.example', 'upstream-failed', 'all-dead')


def t_failover():
    m = pt.mark()
    r = req('failover.example')
    eq(exchange(r), b'failover\n' + r, 'reply through the third upstream')
    expect(pt.conn_after(m), route='failover', proto='http', upstream=b_fail.addr,
           end='done', up=len(r), down=9 + len(r))


def t_server_first():
    m = pt.mark()
    c = connect(port)
    t0 = time.monotonic()
    c.settimeout(3)
    banner = c.recv(100)
    took = time.monotonic() - t0
    eq(banner, b'220 hello\r\n', 'banner of the server-speaks-first backend')
    check(0.28 <= took <= slack(1.0), 'banner after timeout_ms=300 (%.3f s)' % took)
    c.sendall(b'QUIT\r\n')
    c.shutdown(socket.SHUT_WR)
    eq(recv_all(c), b'QUIT\r\n', 'rest of the conversation')
    c.close()
    expect(pt.conn_after(m), route='smtp', proto='none', upstream=b_smtp.addr, plane=plane_ok,
           end='done', up=6, down=11 + 6, dur=between(0.29, slack(2)))


def t_empty_fin():
    # A client that half-closes without a byte needs no deadline: timeout route at once.
    m = pt.mark()
    c = connect(port)
    t0 = time.monotonic()
    c.shutdown(socket.SHUT_WR)
    got = recv_all(c)
    took = time.monotonic() - t0
    c.close()
    eq(got, b'220 hello\r\n', 'banner after an empty FIN')
    check(took < slack(0.25), 'no wait for the deadline (%.3f s)' % took)
    expect(pt.conn_after(m), route='smtp', proto='none', end='done', up=0, down=11)


GARBAGE = bytes(range(0, 256, 7)) * 3


def t_unknown():
    m = pt.mark()
    eq(exchange(GARBAGE), b'unknown\n' + GARBAGE, 'garbage reached the unknown route')
    expect(pt.conn_after(m), route='unk', proto='unknown', upstream=b_unk.addr,
           end='done', up=len(GARBAGE), down=8 + len(GARBAGE), dur=between(0, slack(0.25)))


def t_bad_hello():
    # A TLS record that is no ClientHello is not "TLS without SNI": unknown.
    m = pt.mark()
    bad = b'\x16\x03\x01\x00\x08\x02\x00\x00\x04\x03\x03\x00\x00'
    eq(exchange(bad), b'unknown\n' + bad, 'malformed hello reached the unknown route')
    expect(pt.conn_after(m), route='unk', proto='unknown', end='done', up=len(bad),
           why=lambda w: len(w) > 0)


hello = capture_client_hello(s, 'some.example', 'h2')


def t_any():
    m = pt.mark()
    eq(exchange(hello), b'any\n' + hello, 'TLS with no TLS route reached the catch-all')
    expect(pt.conn_after(m), route='any', proto='tls', sni='some.example', alpn='h2',
           upstream=b_any.addr, end='done', up=len(hello), down=4 + len(hello))


def t_after_garbage():
    m = pt.mark()
    for _ in range(3):
        exchange(os.urandom(300))
    pt.conns_after(m, 3)
    t_not_cidr()


def t_strict_silent():
    m = pt.mark()
    c = connect(strict_port)
    data, how, took = read_closed(c, 3)
    c.close()
    eq(data, b'', 'bytes the silent client got')
    check(how in ('eof', 'reset') and 0.28 <= took <= slack(1.0),
          'closed at the 300 ms detection deadline (%s after %.3f s)' % (how, took))
    expect(pt.conn_after(m), listener='strict', route='-', proto='none', upstream='-',
           end='no-route', up=0, down=0)


def t_strict_garbage():
    m = pt.mark()
    c = connect(strict_port)
    c.sendall(GARBAGE)
    data, how, took = read_closed(c, 3)
    c.close()
    check(data == b'' and how in ('eof', 'reset') and took < slack(0.25),
          'garbage closed at once (%s after %.3f s)' % (how, took))
    expect(pt.conn_after(m), listener='strict', route='-', proto='unknown', end='no-route')


s.test('cidr route: client bound to 127.0.0.2', t_cidr)
s.test('cidr route: 127.0.0.1 goes on to the http route', t_not_cidr)
s.test('reject route closes at once', t_reject)
s.test('dead upstream: client closed promptly, upstream-failed', t_dead)
s.test('two dead upstreams: upstream-failed', t_all_dead)
s.test('failover: two dead upstreams, third alive', t_failover)
s.test('server speaks first: banner after timeout_ms via timeout route', t_server_first)
s.test('empty FIN goes to the timeout route at once', t_empty_fin)
s.test('garbage -> unknown route', t_unknown)
s.test('malformed ClientHello -> unknown route', t_bad_hello)
s.test('TLS without TLS route -> any', t_any)
s.test('random garbage does not disturb later routing', t_after_garbage)
s.test('silent client, no timeout route: no-route at the deadline', t_strict_silent)
s.test('garbage, no unknown route: no-route at once', t_strict_garbage)
s.finish()
