# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Ends of a relayed connection through the kernel data plane.

The kernel never forwards a FIN between sockmap sockets: the daemon must
pass it on itself, and only after every byte before it reached the peer.
Truncation (EOF too early) is the classic bug, so every half-close here
moves more data than the socket buffers hold and checks that EOF comes
after ALL of it.

  * client FIN first (right behind 32 MiB): the upstream reads to EOF, gets
    every byte, then answers 16 MiB and closes; the client gets all 16 MiB,
    then EOF;
  * upstream FIN first (right behind 16 MiB): the client reads it all to
    EOF, then keeps sending 32 MiB; the upstream receives every byte;
  * RST from the client (SO_LINGER 0) while uploading and while
    downloading: the upstream sees a reset promptly, end=client-reset;
  * RST from the upstream, same two ways: the client sees a reset,
    end=upstream-reset. Nothing may hang;
  * the same races 1000 times each, with the reset right behind the first
    bytes: a reset must never turn into a clean EOF on the other side.
"""
import hashlib
import random
import socket
import struct
import threading
import time

from bpftest import (BpfSuite, TcpServer, sockmap_daemon, listener, route, free_port, connect,
                     read_head, recv_all, read_closed, sockmap_counters, check, eq, expect,
                     wait_for, Skip, MiB, scaled, slack, human)

s = BpfSuite('bpf-close')
UP = random.Random(1).randbytes(scaled(32 * MiB, 2 * MiB))
DOWN = random.Random(2).randbytes(scaled(16 * MiB, MiB))
HEAD = b'PUT /x HTTP/1.1\r\nHost: close.example\r\n\r\n'


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_to_eof(c):
    """(bytes, how it ended: 'eof' or 'reset')."""
    buf = bytearray()
    try:
        while True:
            d = c.recv(1 << 20)
            if not d:
                return bytes(buf), 'eof'
            buf += d
    except ConnectionResetError:
        return bytes(buf), 'reset'


def reply_after_eof(c, srv):
    """Reads to EOF, then answers DOWN and closes right behind it."""
    got, how = read_to_eof(c)
    srv.record(rx=len(got), sha=sha(got), how=how)
    c.sendall(DOWN)
    c.shutdown(socket.SHUT_WR)
    read_to_eof(c)


def fin_first(c, srv):
    """Reads the head, sends DOWN and its FIN right behind it, then reads to EOF."""
    buf = read_head(c)
    c.sendall(DOWN)
    c.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    got, how = read_to_eof(c)
    got = buf + got
    srv.record(rx=len(got), sha=sha(got), how=how, t_eof=time.monotonic() - t0)


def slow_read(c, srv):
    """Reads until the connection ends; records how and when it ended."""
    n = 0
    t_end = None
    how = 'eof'
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
            srv.record(progress=n)
    except ConnectionResetError:
        how = 'reset'
    t_end = time.monotonic()
    srv.record(rx=n, how=how, t_end=t_end)


def stream_out(c, srv):
    """Reads the head, then sends until the connection breaks (64 MiB at most)."""
    read_head(c)
    chunk = bytes(65536)
    sent = 0
    how = 'done'
    try:
        while sent < 64 * MiB:
            sent += c.send(chunk)
            srv.record(progress=sent)
    except (ConnectionResetError, BrokenPipeError):
        how = 'reset'
    srv.record(tx=sent, how=how, t_end=time.monotonic())


def rst_after(n):
    """A server that reads n bytes (after the head) then resets the connection."""
    def handler(c, srv):
        got = 0
        while got < n:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        srv.record(rx=got, t_rst=time.monotonic())
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.close()
    return handler


def rst_while_sending(c, srv):
    """Reads the head, sends 4 MiB, then resets the connection."""
    read_head(c)
    c.sendall(bytes(4 * MiB))
    srv.record(t_rst=time.monotonic())
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def reset_at_once(c, srv):
    """Reads the head, sends 1000 bytes and resets, as fast as it can."""
    if b'\r\n\r\n' not in read_head(c):
        return
    c.sendall(bytes(1000))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def read_how(c, srv):
    """Reads until the end; records how it ended and how many bytes came."""
    got, how = read_to_eof(c)
    srv.record(how=how, n=len(got))


servers = {
    'reply': TcpServer(s, reply_after_eof),
    'finfirst': TcpServer(s, fin_first),
    'slowread': TcpServer(s, slow_read),
    'streamout': TcpServer(s, stream_out),
    'rstread': TcpServer(s, rst_after(4 * MiB)),
    'rstsend': TcpServer(s, rst_while_sending),
    'rstfast': TcpServer(s, reset_at_once),
    'readhow': TcpServer(s, read_how),
}
port = free_port()
pt = None
try:
    pt = sockmap_daemon(s, [listener('close', port, [
        route(n, srv.addr, protocol='http', path_prefix='/%s' % n) for n, srv in servers.items()],
        drain_timeout_ms=5000)])
except Skip:
    pass


def head(name):
    return b'PUT /%s HTTP/1.1\r\nHost: close.example\r\n\r\n' % name.encode()


def record(srv, key, n0, timeout=10):
    return wait_for(lambda: next((r for r in srv.records[n0:] if key in r), None), timeout,
                    '%s record' % key)


def t_client_fin_first():
    s.need_bpf()
    srv = servers['reply']
    n0 = len(srv.records)
    m = pt.mark()
    h = head('reply')
    c = connect(port, timeout=20)
    c.sendall(h + UP)
    c.shutdown(socket.SHUT_WR)  # FIN right behind the last byte
    got, how = read_to_eof(c)
    c.close()
    eq(how, 'eof', 'how the reply ended')
    eq((len(got), sha(got)), (len(DOWN), sha(DOWN)),
       'reply the client got before EOF (length, sha256)')
    r = record(srv, 'rx', n0)
    eq((r['rx'], r['sha'], r['how']), (len(h) + len(UP), sha(h + UP), 'eof'),
       'what the upstream read before it saw our FIN')
    d = pt.conn_after(m, timeout=10)
    expect(d, route='reply', plane='sockmap', end='done', up=len(h) + len(UP), down=len(DOWN))


def t_upstream_fin_first():
    s.need_bpf()
    srv = servers['finfirst']
    n0 = len(srv.records)
    m = pt.mark()
    h = head('finfirst')
    c = connect(port, timeout=20)
    c.sendall(h)
    got, how = read_to_eof(c)
    eq(how, 'eof', 'how the upstream direction ended')
    eq((len(got), sha(got)), (len(DOWN), sha(DOWN)),
       'what the client got before the upstream\'s EOF (length, sha256)')
    c.sendall(UP)  # our direction is still open
    c.shutdown(socket.SHUT_WR)
    r = record(srv, 'rx', n0)
    eq((r['rx'], r['sha'], r['how']), (len(h) + len(UP), sha(h + UP), 'eof'),
       'what the upstream received after its own FIN')
    rest, how = read_to_eof(c)
    c.close()
    eq((rest, how), (b'', 'eof'), 'nothing more for the client, then EOF')
    d = pt.conn_after(m, timeout=10)
    expect(d, route='finfirst', plane='sockmap', end='done', up=len(h) + len(UP), down=len(DOWN))


def linger0(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def t_client_rst_uploading():
    s.need_bpf()
    srv = servers['slowread']
    n0 = len(srv.records)
    m = pt.mark()
    c = connect(port, timeout=10)
    c.sendall(head('slowread'))
    c.setblocking(False)
    chunk = bytes(65536)
    deadline = time.monotonic() + 10
    # Keep sending until the upstream has 4 MiB, then reset mid-stream.
    while not any(r.get('progress', 0) >= 4 * MiB for r in srv.records[n0:]):
        check(time.monotonic() < deadline, 'upstream got 4 MiB within 10 s')
        try:
            c.send(chunk)
        except BlockingIOError:
            time.sleep(0.001)
    t_rst = time.monotonic()
    linger0(c)
    r = record(srv, 'how', n0)
    eq(r['how'], 'reset', 'how the upstream\'s read ended')
    check(r['t_end'] - t_rst < slack(1.0), 'upstream saw the reset %.3f s after it' % (r['t_end'] - t_rst))
    d = pt.conn_after(m, timeout=5)
    expect(d, route='slowread', plane='sockmap', end='client-reset')


def t_client_rst_downloading():
    s.need_bpf()
    srv = servers['streamout']
    n0 = len(srv.records)
    m = pt.mark()
    c = connect(port, timeout=10)
    c.sendall(head('streamout'))
    got = 0
    while got < 4 * MiB:
        d = c.recv(65536)
        check(d, 'download ended after %d bytes' % got)
        got += len(d)
    t_rst = time.monotonic()
    linger0(c)
    r = record(srv, 'how', n0)
    eq(r['how'], 'reset', 'how the upstream\'s sending ended')
    check(r['t_end'] - t_rst < slack(1.0), 'upstream saw the reset %.3f s after it' % (r['t_end'] - t_rst))
    d = pt.conn_after(m, timeout=5)
    expect(d, route='streamout', plane='sockmap', end='client-reset')


def t_upstream_rst_reading():
    """The upstream resets while the client is still uploading."""
    s.need_bpf()
    srv = servers['rstread']
    n0 = len(srv.records)
    m = pt.mark()
    c = connect(port, timeout=10)
    c.sendall(head('rstread'))
    c.settimeout(5)
    how = None
    t0 = time.monotonic()
    try:
        for _ in range(16 * 64):  # up to 64 MiB; the upstream resets after 4
            c.sendall(bytes(65536))
        c.shutdown(socket.SHUT_WR)
        data, how, _ = read_closed(c, 5)
    except (ConnectionResetError, BrokenPipeError):
        how = 'reset'
    except socket.timeout:
        how = 'timeout'
    t_end = time.monotonic()
    c.close()
    eq(how, 'reset', 'how the client\'s upload ended')
    r = record(srv, 't_rst', n0)
    check(t_end - r['t_rst'] < slack(1.0), 'client saw the reset %.3f s after it' % (t_end - r['t_rst']))
    d = pt.conn_after(m, timeout=5)
    expect(d, route='rstread', plane='sockmap', end='upstream-reset')


def t_upstream_rst_sending():
    """The upstream sends 4 MiB and resets; the client is reading."""
    s.need_bpf()
    srv = servers['rstsend']
    n0 = len(srv.records)
    m = pt.mark()
    c = connect(port, timeout=10)
    c.sendall(head('rstsend'))
    data, how, _ = read_closed(c, 5)
    t_end = time.monotonic()
    c.close()
    eq(how, 'reset', 'how the client\'s download ended (%d bytes read)' % len(data))
    r = record(srv, 't_rst', n0)
    check(t_end - r['t_rst'] < slack(1.0), 'client saw the reset %.3f s after it' % (t_end - r['t_rst']))
    d = pt.conn_after(m, timeout=5)
    expect(d, route='rstsend', plane='sockmap', end='upstream-reset')


RACE_N = scaled(1000, 50)


def t_upstream_rst_race():
    """An upstream that resets right after its first bytes, 1000 times in a
    row: each client must see the reset, never a clean EOF (a lost reset
    turns an aborted response into one that looks complete)."""
    s.need_bpf()
    m = pt.mark()
    hows = {}
    for i in range(RACE_N):
        c = connect(port, timeout=5)
        c.sendall(head('rstfast'))
        got, how = read_to_eof(c)
        c.close()
        hows[(how, len(got))] = hows.get((how, len(got)), 0) + 1
    lines = pt.conns_after(m, RACE_N, timeout=10)
    sm = [d for d in lines if d['plane'] == 'sockmap']
    check(len(sm) >= RACE_N * 9 // 10, '%d of %d connections went through sockmap' % (
        len(sm), RACE_N))
    ends = {}
    for d in sm:
        ends[d['end']] = ends.get(d['end'], 0) + 1
    eq(ends, {'upstream-reset': len(sm)}, 'end= of the sockmap connections')
    eof = {k: v for k, v in hows.items() if k[0] == 'eof'}
    eq(eof, {}, 'clients that saw a clean EOF (how, bytes): count')


def t_client_rst_race():
    """A client that resets 0.5 ms after its first bytes, 1000 times: an
    upstream that received bytes must never see a clean EOF (it would take a
    cut upload for a complete one)."""
    s.need_bpf()
    srv = servers['readhow']
    n0 = len(srv.records)
    m = pt.mark()
    for i in range(RACE_N):
        c = connect(port, timeout=5)
        c.sendall(head('readhow') + bytes(1000))
        time.sleep(0.0005)
        linger0(c)
    lines = pt.conns_after(m, RACE_N, timeout=10)
    time.sleep(0.3)
    sm = [d for d in lines if d['plane'] == 'sockmap']
    check(len(sm) >= RACE_N // 10, '%d of %d connections went through sockmap' % (len(sm), RACE_N))
    bad = [d['line'] for d in sm if d['end'] != 'client-reset']
    eq(bad[:2], [], 'sockmap connections that did not end client-reset (%d)' % len(bad))
    eof = [r for r in srv.records[n0:] if r['how'] == 'eof' and r['n'] > 0]
    eq(eof[:3], [], 'upstreams that got bytes and then a clean EOF (%d)' % len(eof))


s.test('client FIN right behind %s: upstream gets all, then EOF; %s reply, then EOF' % (
       human(len(UP)), human(len(DOWN))),
       t_client_fin_first)
s.test('upstream FIN right behind %s: client gets all, then EOF; then uploads %s' % (
       human(len(DOWN)), human(len(UP))),
       t_upstream_fin_first)
s.test('client RST while uploading: upstream reset at once, end=client-reset',
       t_client_rst_uploading)
s.test('client RST while downloading: upstream reset at once, end=client-reset',
       t_client_rst_downloading)
s.test('upstream RST while the client uploads: client reset at once, end=upstream-reset',
       t_upstream_rst_reading)
s.test('upstream RST after sending 4 MiB: client reset at once, end=upstream-reset',
       t_upstream_rst_sending)
s.test('upstream resets right after its first bytes, %d times: every client sees the reset' %
       RACE_N,
       t_upstream_rst_race)
s.test('client resets 0.5 ms after its first bytes, %d times: no upstream sees a clean EOF' %
       RACE_N,
       t_client_rst_race)
if pt:
    pt.stop()
s.finish()
