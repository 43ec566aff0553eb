# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Detection cost against clients that send their first flight one byte at a
time: a 16 KiB ClientHello and a 16 KiB HTTP head, each byte its own segment.
The daemon's detection rounds (stats: detect_rounds) must stay bounded (a few
for TLS, whose record header says how much is coming; O(log window) for HTTP)
instead of one peek and parse of the whole window per byte; the verdicts are
the same. The low-water mark set while waiting must not hold back the
deadline, a FIN, or the relay afterwards."""
import json
import os
import socket
import struct
import time

from ptharness import (BUILD, Suite, Passthru, HttpBackend, PtServer, Fail, run, eq, check,
                       expect, listener, route, free_port, connect, recv_all, slack, plane_ok,
                       wait_for)

CTL = os.path.join(BUILD, 'passthru-ctl')
FLIGHT = 16384
TIMEOUT_MS = 2000
FRONT_TIMEOUT_MS = 10000  # room for a 16 KiB dribble

s = Suite('dribble')
echo = PtServer(s, 'echo')
web = HttpBackend(s, 'web')
port, short = free_port(), free_port()
routes = [route('tls', echo.addr, protocol='tls'), route('http', web.addr, protocol='http')]
pt = Passthru(s, {'listeners': [
    listener('front', port, routes, max_bytes=32768, timeout_ms=int(slack(FRONT_TIMEOUT_MS))),
    listener('short', short, routes, timeout_ms=TIMEOUT_MS)]})


def stats_doc():
    inst = os.path.basename(pt.config_path)[:-len('.json')]
    rc, out, err = run([CTL, '-j', 'stats', '--instance', inst])
    return json.loads(out) if rc == 0 else None


def rounds():
    """The listener's detection rounds so far, from passthru-ctl -j stats."""
    doc = wait_for(stats_doc, 10, 'the control socket to answer stats')
    st = doc['instances'][0]['stats']
    return [l for l in st['listeners'] if l['name'] == 'front'][0]['detect_rounds']


def client_hello(size):
    """A well-formed TLS 1.3 ClientHello of about size bytes (padding extension), one record."""
    name = b'dribble.example'
    sni = struct.pack('!HBH', len(name) + 3, 0, len(name)) + name
    exts = struct.pack('!HH', 0, len(sni)) + sni
    exts += struct.pack('!HHBH', 0x2b, 3, 2, 0x0304)
    pad = size - 5 - 4 - 2 - 32 - 1 - 4 - 2 - 2 - len(exts) - 4
    exts += struct.pack('!HH', 0x15, pad) + b'\0' * pad
    body = struct.pack('!H', 0x0303) + os.urandom(32) + b'\0' + struct.pack('!HH', 2, 0x1301)
    body += b'\x01\x00' + struct.pack('!H', len(exts)) + exts
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    return b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs


def http_head(size):
    """A head of size bytes whose Host line comes last, after a long header."""
    start, host = b'GET /dribble HTTP/1.1\r\n', b'Host: web.example\r\n\r\n'
    fill = size - len(start) - len(host) - len(b'X-Fill: \r\n')
    return start + b'X-Fill: ' + b'a' * fill + b'\r\n' + host


def dribble(c, data, gap=0.001, every=8):
    """Send data one byte per segment (TCP_NODELAY), a short gap every few bytes
    so that the daemon sees thousands of separate arrivals."""
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if gap and i % every == every - 1:
            time.sleep(gap)


def t_tls():
    hello = client_hello(FLIGHT)
    eq(len(hello), FLIGHT, 'hello size')
    before, m = rounds(), pt.mark()
    c = connect(port, timeout=slack(20))
    t0 = time.monotonic()
    dribble(c, hello)
    c.shutdown(socket.SHUT_WR)
    eq(recv_all(c), hello, 'echo backend sent the hello back')
    c.close()
    n = rounds() - before
    print('  TLS %d bytes one at a time: %d detection rounds, %.2f s' % (
        FLIGHT, n, time.monotonic() - t0))
    check(n <= 8, 'TLS: %d detection rounds for %d dribbled bytes, want <= 8' % (n, FLIGHT))
    expect(pt.conn_after(m), route='tls', proto='tls', sni='dribble.example', end='done',
           plane=plane_ok, up=FLIGHT, down=FLIGHT)


def t_http():
    head = http_head(FLIGHT)
    before, m = rounds(), pt.mark()
    c = connect(port, timeout=slack(FRONT_TIMEOUT_MS / 1000 + 10))
    t0 = time.monotonic()
    dribble(c, head)
    # Past the exact rounds the daemon waits for twice the bytes seen: a head
    # that ends short of that is decided at the deadline, on all its bytes.
    resp = recv_all(c)
    c.close()
    n = rounds() - before
    print('  HTTP %d bytes one at a time: %d detection rounds, %.2f s' % (
        FLIGHT, n, time.monotonic() - t0))
    check(b'backend=web' in resp, 'HTTP reached web: %r' % resp[:80])
    # 16 exact rounds, then the need at least doubles up to the 32 KiB window,
    # plus the deadline's round.
    check(n <= 40, 'HTTP: %d detection rounds for %d dribbled bytes, want <= 40' % (n, FLIGHT))
    expect(pt.conn_after(m), route='http', proto='http', host='web.example', path='/dribble',
           end='done')


def t_deadline():
    """A record header announcing 16 KiB, then silence: the deadline still fires."""
    m = pt.mark()
    c = connect(short, timeout=slack(20))
    c.sendall(client_hello(FLIGHT)[:100])
    t0 = time.monotonic()
    pt.conns_after(m, 1, timeout=TIMEOUT_MS / 1000 + 3)
    took = time.monotonic() - t0
    c.close()
    check(took >= TIMEOUT_MS / 1000 - 0.5, 'decided after %.2f s, before the deadline' % took)
    expect(pt.conns()[m], proto='none', route='-', end='no-route')


def t_fin():
    """The same half hello and a FIN: decided at once, not at the deadline."""
    m = pt.mark()
    c = connect(short, timeout=slack(20))
    c.sendall(client_hello(FLIGHT)[:100])
    time.sleep(0.2)
    t0 = time.monotonic()
    c.shutdown(socket.SHUT_WR)
    pt.conns_after(m, 1, timeout=2)
    took = time.monotonic() - t0
    c.close()
    check(took < slack(1.5), 'FIN decided after %.2f s' % took)
    expect(pt.conns()[m], proto='none', end='no-route')


def t_relay_after():
    """After a dribbled hello the relay moves small messages (low-water mark back at 1)."""
    hello = client_hello(2048)
    c = connect(port, timeout=slack(10))
    dribble(c, hello, gap=0)
    got = b''
    while len(got) < len(hello):
        got += c.recv(65536)
    for msg in (b'x', b'yz', b'0123456789'):
        c.sendall(msg)
        eq(c.recv(100), msg, 'small message echoed through the relay')
    c.close()


s.test('16 KiB ClientHello one byte at a time: few rounds', t_tls)
s.test('16 KiB HTTP head one byte at a time: O(log) rounds', t_http)
s.test('partial hello then silence: the deadline fires', t_deadline)
s.test('partial hello then FIN: decided at once', t_fin)
s.test('after detection the relay moves single bytes', t_relay_after)
s.finish()
