# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Who speaks first, through the kernel data plane.

  * upstream first, route decided without a client byte: a "timeout" route
    (short detection deadline) and an "any" route (decided at accept). The
    banner must arrive, then traffic both ways byte for byte, then EOF;
  * upstream first with 4 MiB before the client says anything: those bytes
    are in the daemon's upstream socket before the pair is in the maps and
    must still come out, in order;
  * client first: an HTTP request head, then traffic both ways.
"""
import hashlib
import random
import socket
import threading
import time

from bpftest import (BpfSuite, PtServer, TcpServer, sockmap_daemon, listener, route, free_port,
                     connect, recv_all, all_sockmap, sockmap_counters, check, eq, expect, wait_for,
                     Skip, MiB)

s = BpfSuite('bpf-first')
BANNER = b'SSH-2.0-pt_banner_test\r\n'
banner = PtServer(s, 'banner', BANNER.decode().replace('\r', '\\r').replace('\n', '\\n'),
                  name='banner')
echo = PtServer(s, 'echo', name='echo')
BIG_BANNER = random.Random(5).randbytes(4 * MiB)


def big_banner(c, srv):
    """Sends 4 MiB at once, then echoes until EOF."""
    c.sendall(BIG_BANNER)
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)


big = TcpServer(s, big_banner)

t_port, a_port, b_port, c_port = free_port(), free_port(), free_port(), free_port()
pt = None
try:
    pt = sockmap_daemon(s, [
        listener('timeout', t_port, [route('banner', banner.addr, protocol='timeout'),
                                     route('http', echo.addr, protocol='http')],
                 timeout_ms=200),
        listener('any', a_port, [route('banner-any', banner.addr)]),
        listener('big', b_port, [route('big', big.addr)]),
        listener('client', c_port, [route('echo', echo.addr, protocol='http')], timeout_ms=2000),
    ])
except Skip:
    pass


def read_exact(c, n, what):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(1 << 20, n - len(buf)))
        if not d:
            raise AssertionError('%s: EOF after %d of %d bytes' % (what, len(buf), n))
        buf += d
    return bytes(buf)


def echo_both_ways(c, data):
    """Send data from a thread while reading the echo; the echo must match."""
    err = []

    def send():
        try:
            c.sendall(data)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=send)
    t.start()
    got = read_exact(c, len(data), 'echo')
    t.join()
    check(not err, 'sending: %s' % err)
    eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(),
       'sha256 of the echo of %d bytes' % len(data))


def finish(c):
    """Half-close and read to EOF: nothing may follow the echo."""
    c.shutdown(socket.SHUT_WR)
    rest = recv_all(c)
    c.close()
    eq(rest, b'', 'bytes after the echo, before EOF')


def server_first(port, rname, min_wait, max_wait):
    s.need_bpf()
    m = pt.mark()
    data = random.Random(rname).randbytes(8 * MiB)
    c = connect(port, timeout=10)
    t0 = time.monotonic()
    got = read_exact(c, len(BANNER), 'banner')
    dt = time.monotonic() - t0
    eq(got, BANNER, 'banner, before the client sent anything')
    check(min_wait <= dt <= max_wait, 'banner after %.3f s, want %.1f..%.1f s' % (
        dt, min_wait, max_wait))
    echo_both_ways(c, data)
    echo_both_ways(c, data[:1000])
    finish(c)
    d = pt.conn_after(m, timeout=10)
    expect(d, route=rname, plane='sockmap', end='done', up=len(data) + 1000,
           down=len(BANNER) + len(data) + 1000)
    k = wait_for(lambda: sockmap_counters(pt).get(d['id']), 5, 'counters')
    eq(k['down']['redirected'] + k['down']['consumed'], d['down'], 'down counters vs log')


def t_timeout_route():
    # The deadline is 200 ms; the banner cannot come before it.
    server_first(t_port, 'banner', 0.19, 3)


def t_any_route():
    server_first(a_port, 'banner-any', 0, 2)


def t_big_banner():
    s.need_bpf()
    m = pt.mark()
    c = connect(b_port, timeout=10)
    time.sleep(0.3)  # the 4 MiB wait in the daemon's sockets; we read nothing yet
    got = read_exact(c, len(BIG_BANNER), '4 MiB banner')
    eq(hashlib.sha256(got).digest(), hashlib.sha256(BIG_BANNER).digest(),
       'sha256 of the 4 MiB sent before the client spoke')
    data = random.Random(9).randbytes(2 * MiB)
    echo_both_ways(c, data)
    finish(c)
    d = pt.conn_after(m, timeout=10)
    expect(d, route='big', plane='sockmap', end='done', up=len(data),
           down=len(BIG_BANNER) + len(data))


def t_client_first():
    s.need_bpf()
    m = pt.mark()
    head = b'POST /echo HTTP/1.1\r\nHost: echo.example\r\n\r\n'
    data = random.Random(3).randbytes(8 * MiB)
    c = connect(c_port, timeout=10)
    c.sendall(head)
    eq(read_exact(c, len(head), 'echoed head'), head, 'the echoed request head')
    echo_both_ways(c, data)
    finish(c)
    d = pt.conn_after(m, timeout=10)
    expect(d, route='echo', proto='http', plane='sockmap', end='done', up=len(head) + len(data),
           down=len(head) + len(data))


s.test('upstream speaks first, "timeout" route (200 ms): banner, then 8 MiB both ways',
       t_timeout_route)
s.test('upstream speaks first, "any" route: banner at once, then 8 MiB both ways', t_any_route)
s.test('upstream sends 4 MiB before the client speaks: all of it, in order', t_big_banner)
s.test('client speaks first (HTTP head): echo of head and 8 MiB both ways', t_client_first)
if pt:
    pt.stop()
s.finish()
