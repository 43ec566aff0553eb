# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Upstream faults (issue 7, item 5), on both data planes.

The whole file runs in a network namespace of its own (stresslib
run_in_netns): loopback, plus addresses whose SYNs vanish (a veth pair and
a neighbour entry to a MAC nobody owns). One daemon per data plane, routes
chosen by the HTTP Host, connect_timeout_ms 500, sockmap_max_queued 1 MiB
(the default is 16 MiB) and sockmap_sndbuf 256 KiB. Checked for each plane:

  * refused (nothing listens): the client is closed at once, upstream-failed;
  * black-holed SYNs: closed after 2 x 500 ms (two addresses tried),
    upstream-failed, two connect timeouts counted; with a live upstream
    after a black hole the client is served after 500 ms;
  * the upstream resets mid-stream, while sending (the client gets a prefix
    of the stream, byte-exact, then a reset, never a clean EOF) and while
    the client uploads (the client's send or receive fails with a reset);
    end=upstream-reset;
  * the upstream closes during the hand-off: accept then FIN at once, accept
    then RST at once, FIN with the request unread (its kernel answers RST):
    the client is closed promptly, and sees a reset whenever the request was
    lost;
  * the upstream accepts and never reads (or stops after 32 MiB) while the
    client uploads 256 MiB: the client blocks (its send stops making
    progress) with at most the kernel buffers on the way in flight, the
    daemon's memory does not grow, and with sockmap the queue towards the
    upstream (max_queued, live and logged) stays within sockmap_max_queued
    + 64 KiB; once the upstream reads, all 256 MiB arrive byte-exact
    (sha256; the figures say how much the kernel redirected); a client that
    gives up (RST) while blocked ends client-reset and the upstream sees the
    reset;
  * afterwards: no descriptor left in the daemon; with sockmap pt_socks,
    pt_rx and pt_tx are empty and every pt_pairs slot is free.
"""
import errno
import hashlib
import select
import socket
import struct
import threading
import time

import stresslib
from stresslib import (StressSuite, PtServer, TcpServer, Pairs, daemon, planes, fd_kinds,
                       rss_bytes, no_leaks, read_head, listener_stats, blackholes, sysctl, connect,
                       read_closed, recv_all, check, eq, expect, wait_for, listener, route,
                       free_port, closed_port, between, slack, mib, Skip, Fail, KiB,
                       MiB)

if __name__ == '__main__':
    rc = stresslib.run_in_netns(__file__)
    if rc is not None:
        raise SystemExit(rc)

s = StressSuite('stress-upstream')
CONNECT_MS = 500
LIMIT = 1 * MiB
SNDBUF = 256 * KiB
UPLOAD = 256 * MiB
SINK_RCVBUF = 64 * KiB
figures = []


def head(host, method='POST'):
    return b'%s /x HTTP/1.1\r\nHost: %s\r\n\r\n' % (method.encode(), host.encode())


def pattern(n):
    """n bytes that are not all alike (a seeded generator, repeatable)."""
    out, x = bytearray(), 0x9e3779b9
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        out += struct.pack('<Q', x)
    return bytes(out[:n])


BLOCK = pattern(1 * MiB)
DOWN = pattern(256 * KiB)


def rst_close(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


# --- upstreams -----------------------------------------------------------------------------

def reset_down(c, srv):
    """Reads the request, sends 256 KiB, resets."""
    read_head(c)
    c.sendall(DOWN)
    rst_close(c)


def reset_up(c, srv):
    """Reads 1 MiB of the client's upload, resets."""
    n = 0
    while n < 1 * MiB:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    srv.record(rx=n)
    rst_close(c)


def close_fin(c, srv):
    c.close()


def close_rst(c, srv):
    rst_close(c)


def close_unread(c, srv):
    """Waits until the request is there, closes without reading it (the
    kernel then answers with an RST)."""
    select.select([c], [], [], 5)
    c.close()


class StallSink(TcpServer):
    """Reads the first read_first bytes, then nothing until released; then
    reads everything and answers "<sha256 hex> <count>\\n" (ptstream's sink
    protocol). Its receive buffer is locked small. If the peer resets
    instead, records it."""

    def __init__(self, suite):
        self.release = threading.Event()
        self.read_first = 0
        super().__init__(suite, self._handle)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SINK_RCVBUF)

    def _handle(self, c, srv):
        h, n, how = hashlib.sha256(), 0, 'eof'
        c.settimeout(30)
        try:
            while n < self.read_first:
                d = c.recv(min(1 << 20, self.read_first - n))
                if not d:
                    break
                h.update(d)
                n += len(d)
            while not self.release.wait(0.05):
                if self.closed:
                    return
            while True:
                d = c.recv(1 << 20)
                if not d:
                    break
                h.update(d)
                n += len(d)
            c.sendall(b'%s %d\n' % (h.hexdigest().encode(), n))
        except ConnectionResetError:
            how = 'reset'
        except socket.timeout:
            how = 'timeout'
        self.record(n=n, how=how, sha=h.hexdigest())


ECHO = PtServer(s, 'echo')
DEAD = closed_port()
UPS = {
    'reset-down': TcpServer(s, reset_down),
    'reset-up': TcpServer(s, reset_up),
    'close-fin': TcpServer(s, close_fin),
    'close-rst': TcpServer(s, close_rst),
    'close-unread': TcpServer(s, close_unread),
}
HOLES = ['%s:80' % h for h in blackholes()]


def config_routes(stall):
    r = [route('refused', '127.0.0.1:%d' % DEAD, protocol='http', host='refused.example'),
         route('echo', ECHO.addr, protocol='http', host='echo.example'),
         route('stall', stall.addr, protocol='http', host='stall.example')]
    r += [route(n, u.addr, protocol='http', host=n + '.example') for n, u in UPS.items()]
    if HOLES:
        r += [route('blackhole', HOLES, protocol='http', host='blackhole.example'),
              route('failover', [HOLES[0], ECHO.addr], protocol='http',
                    host='failover.example')]
    return r


class Plane:
    """One daemon on one data plane, and the stall sink it uses."""

    def __init__(self, plane):
        self.plane = plane
        self.pt = None
        self.stall = StallSink(s)
        self.port = free_port()

    def start(self):
        if self.pt is None:
            self.pt = daemon(s, [listener('up', self.port, config_routes(self.stall),
                                          connect_timeout_ms=CONNECT_MS,
                                          sockmap_max_queued=LIMIT, sockmap_sndbuf=SNDBUF)],
                             self.plane, args=['-v'], name='up-' + self.plane)
            time.sleep(0.1)
            self.idle = fd_kinds(self.pt.proc.pid)
        return self.pt


P = {p: Plane(p) for p in planes()}


def with_plane(fn):
    def run(plane, *args):
        pl = P[plane]
        if pl.pt is None and getattr(pl, 'skip', None):
            raise Skip(pl.skip)
        try:
            pt = pl.start()
        except Skip as e:
            pl.skip = str(e)
            raise
        return fn(pl, pt, *args)
    return run


def ask(pl, host, data=b'', timeout=5):
    """Send a request head (+ data), read until closed: (reply, how, secs, local)."""
    c = connect(pl.port, timeout=timeout)
    local = '%s:%d' % c.getsockname()
    t0 = time.monotonic()
    c.sendall(head(host) + data)
    got, how, _ = read_closed(c, timeout)
    took = time.monotonic() - t0
    c.close()
    return got, how, took, local


def line_for(pt, local, mark, timeout=10):
    return wait_for(lambda: [d for d in pt.conns()[mark:] if d['client'] == local], timeout,
                    'the log line for %s' % local)[0]


def route_stats(pt, name):
    for r in listener_stats(pt)['routes']:
        if r['name'] == name:
            return r
    raise Fail('no route %s in stats' % name)


@with_plane
def t_refused(pl, pt):
    m = pt.mark()
    got, how, took, local = ask(pl, 'refused.example')
    check(got == b'' and how in ('eof', 'reset') and took < slack(0.5),
          'closed at once (%s after %.3f s, %d bytes)' % (how, took, len(got)))
    expect(line_for(pt, local, m), route='refused', end='upstream-failed', up=0, down=0,
           dur=between(0, slack(0.5)))
    figures.append('[%s] refused: closed after %.3f s' % (pl.plane, took))


@with_plane
def t_blackhole(pl, pt):
    if not HOLES:
        raise Skip('needs the private network namespace (root, ip, nsenter)')
    m = pt.mark()
    before = route_stats(pt, 'blackhole')
    got, how, took, local = ask(pl, 'blackhole.example')
    want = 2 * CONNECT_MS / 1000
    check(got == b'' and how in ('eof', 'reset') and want - 0.05 <= took <= want + slack(0.5),
          'closed after 2 x %d ms connect timeouts (%s after %.3f s)' % (CONNECT_MS, how, took))
    expect(line_for(pt, local, m), route='blackhole', end='upstream-failed', up=0, down=0,
           dur=between(want - 0.01, want + slack(0.5)))
    after = route_stats(pt, 'blackhole')
    eq(after['connect_timeouts'] - before['connect_timeouts'], 2, 'connect timeouts counted')
    m = pt.mark()
    data = b'through the second upstream'
    c = connect(pl.port)
    local = '%s:%d' % c.getsockname()
    t0 = time.monotonic()
    c.sendall(head('failover.example') + data)
    want_reply = head('failover.example') + data
    got = b''
    c.settimeout(5)
    while len(got) < len(want_reply):
        d = c.recv(65536)
        if not d:
            break
        got += d
    took2 = time.monotonic() - t0
    c.shutdown(socket.SHUT_WR)
    rest = recv_all(c)
    c.close()
    eq(got + rest, want_reply, 'echo through the live upstream after the black hole')
    check(CONNECT_MS / 1000 - 0.05 <= took2 <= CONNECT_MS / 1000 + slack(0.5),
          'served after one %d ms connect timeout (%.3f s)' % (CONNECT_MS, took2))
    d = line_for(pt, local, m)
    expect(d, route='failover', upstream=ECHO.addr, end='done')
    check(stresslib.logged_plane_ok(pl.plane, d), 'plane=%s on %s' % (d.get('plane'), pl.plane))
    figures.append('[%s] black hole: closed after %.3f s (2 x %d ms), failover served after '
                   '%.3f s' % (pl.plane, took, CONNECT_MS, took2))


@with_plane
def t_reset_down(pl, pt):
    m = pt.mark()
    got, how, took, local = ask(pl, 'reset-down.example', timeout=5)
    eq(how, 'reset', 'the client sees the upstream\'s reset (got %d bytes)' % len(got))
    check(got == DOWN[:len(got)], 'the %d bytes that arrived are the stream\'s first bytes' %
          len(got))
    check(took < slack(1), 'promptly (%.3f s)' % took)
    expect(line_for(pt, local, m), route='reset-down', end='upstream-reset')
    figures.append('[%s] reset while sending 256 KiB: client got %d bytes, then a reset' % (
        pl.plane, len(got)))


@with_plane
def t_reset_up(pl, pt):
    m = pt.mark()
    c = connect(pl.port, timeout=10)
    local = '%s:%d' % c.getsockname()
    err = {}

    def writer():
        try:
            c.sendall(head('reset-up.example'))
            for _ in range(64):
                c.sendall(BLOCK)
            err['send'] = 'completed'
        except OSError as e:
            err['send'] = errno.errorcode.get(e.errno, str(e.errno))

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    got, how, took = read_closed(c, 10)
    w.join(10)
    c.close()
    # The socket reports the reset once: to whichever of the two threads
    # asks first (the other then sees EOF, or EPIPE on send).
    check('reset' in (how, {'ECONNRESET': 'reset'}.get(err.get('send'))),
          'the client sees a reset (receive: %s, upload: %s)' % (how, err.get('send')))
    check(err.get('send') in ('ECONNRESET', 'EPIPE'), 'the upload fails (%s)' % err.get('send'))
    expect(line_for(pt, local, m), route='reset-up', end='upstream-reset')
    figures.append('[%s] reset while the client uploads: receive %s, upload %s' % (
        pl.plane, how, err.get('send')))


def handoff(pl, pt, name, strict):
    m = pt.mark()
    got, how, took, local = ask(pl, name + '.example', data=b'request body')
    d = line_for(pt, local, m)
    check(got == b'' and how in ('eof', 'reset') and took < slack(1),
          'closed promptly (%s after %.3f s)' % (how, took))
    if strict:
        # An RST that beats the daemon's connect check counts as a failed
        # connect (the next upstream would be tried): upstream-failed.
        check(how == 'reset' and d['end'] in strict,
              'the lost request is signalled: client sees %s, log says end=%s' % (how, d['end']))
    else:
        check(d['end'] in ('upstream-reset', 'done'), 'end %s' % d['end'])
    figures.append('[%s] %s during the hand-off: client saw %s after %.3f s, end=%s' % (
        pl.plane, name, how, took, d['end']))


@with_plane
def t_close_fin(pl, pt):
    handoff(pl, pt, 'close-fin', False)


@with_plane
def t_close_rst(pl, pt):
    handoff(pl, pt, 'close-rst', ('upstream-reset', 'upstream-failed'))


@with_plane
def t_close_unread(pl, pt):
    handoff(pl, pt, 'close-unread', ('upstream-reset',))


_sha = []


def upload_sha():
    """sha256 of what stalled_client() sends (the sink hashes the head too)."""
    if not _sha:
        h = hashlib.sha256(head('stall.example'))
        for _ in range(UPLOAD // len(BLOCK)):
            h.update(BLOCK)
        _sha.append(h.hexdigest())
    return _sha[0]


def stalled_client(pl):
    """A client uploading UPLOAD bytes to stall.example from a thread.
    Returns (socket, state, thread); state['sent'] grows as it goes; set
    state['stop'] and join the thread before closing the socket (a close
    while another thread is blocked in send() does not close it)."""
    c = connect(pl.port, timeout=60)
    st = {'sent': 0, 'local': '%s:%d' % c.getsockname(), 'stop': False}

    def send(data):
        off = 0
        while off < len(data):
            if st['stop']:
                return False
            try:
                off += c.send(data[off:])
            except socket.timeout:
                continue
        return True

    def writer():
        try:
            c.settimeout(0.1)
            if not send(head('stall.example')):
                return
            for _ in range(UPLOAD // len(BLOCK)):
                for off in range(0, len(BLOCK), 64 * KiB):
                    if not send(BLOCK[off:off + 64 * KiB]):
                        return
                    st['sent'] += 64 * KiB
            c.shutdown(socket.SHUT_WR)
            st['done'] = True
        except OSError as e:
            st['error'] = type(e).__name__

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    return c, st, t


def wait_stall(st, pl, pt):
    """Wait until the upload stops making progress for 1 s; sample the
    daemon's RSS and (sockmap) the live max_queued meanwhile."""
    rss, queued = [], []
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + slack(30)
    pairs = Pairs(pt) if pl.plane == 'sockmap' else None
    try:
        while time.monotonic() < deadline:
            rss.append(rss_bytes(pt.proc.pid))
            if pairs:
                live = [pairs.slot(i) for i, x in enumerate(pairs.states()) if x]
                queued += [max(p['dir'][0]['max_queued'], p['dir'][1]['max_queued'])
                           for p in live]
            if st['sent'] != last:
                last, since = st['sent'], time.monotonic()
            elif st['sent'] and time.monotonic() - since >= 1.0:
                return st['sent'], max(rss), max(queued or [0])
            time.sleep(0.1)
    finally:
        if pairs:
            pairs.close()
    raise Fail('the upload never stalled (sent %.1f MiB)' % mib(st['sent']))


def kernel_bound(plane):
    """Bytes the kernel may hold between the client and a sink that does
    not read: the client's send buffer, the daemon's client socket's
    receive buffer, the daemon's hold (a 256 KiB pipe, or the psock queue
    up to sockmap_max_queued + 64 KiB), the daemon's upstream send buffer
    (sockmap_sndbuf, doubled by the kernel, or autotuned), the sink's
    receive buffer (locked, doubled), plus 1 MiB of slack."""
    wmem, rmem = sysctl('net.ipv4.tcp_wmem')[2], sysctl('net.ipv4.tcp_rmem')[2]
    hold = LIMIT + 64 * KiB if plane == 'sockmap' else 256 * KiB  # psock queue, pipe or read
    up_snd = 2 * SNDBUF if plane == 'sockmap' else wmem
    return wmem + rmem + hold + up_snd + 2 * SINK_RCVBUF + 1 * MiB


@with_plane
def t_backpressure(pl, pt, read_first):
    m = pt.mark()
    rss0 = rss_bytes(pt.proc.pid)
    pl.stall.release.clear()
    pl.stall.read_first = read_first
    c, st, t = stalled_client(pl)
    stalled, rss_peak, q_live = wait_stall(st, pl, pt)
    bound = kernel_bound(pl.plane)
    check(stalled < read_first + bound, 'the client blocked after %.1f MiB (%.1f MiB read + '
          'bound %.1f MiB)' % (mib(stalled), mib(read_first), mib(bound)))
    check(rss_peak - rss0 < 8 * MiB, 'daemon RSS grew %.1f MiB while stalled' % mib(
        rss_peak - rss0))
    if pl.plane == 'sockmap':
        check(q_live <= LIMIT + 64 * KiB, 'live max_queued %d <= %d + 64 KiB' % (q_live, LIMIT))
    n0 = len(pl.stall.records)
    pl.stall.release.set()
    t.join(slack(60))
    check(st.get('done'), 'upload finished after the release (%s)' % st.get('error'))
    c.settimeout(30)
    c.settimeout(30)
    reply = recv_all(c)
    c.close()
    rec = wait_for(lambda: pl.stall.records[n0:], 10, 'the sink\'s record')[0]
    eq(reply, b'%s %d\n' % (upload_sha().encode(), len(head('stall.example')) + UPLOAD),
       'sink reply: sha256 and count of everything sent (sink saw %s)' % rec['how'])
    d = line_for(pt, st['local'], m, timeout=20)
    expect(d, route='stall', end='done', up=len(head('stall.example')) + UPLOAD)
    check(stresslib.logged_plane_ok(pl.plane, d), 'plane=%s on %s' % (d.get('plane'), pl.plane))
    logged, split = None, {}
    if pl.plane == 'sockmap':
        sm = stresslib.bpftest.sockmap_counters(pt).get(d['id'], {}).get('up', {})
        logged = sm.get('max_queued')
        check(logged is not None and logged <= LIMIT + 64 * KiB,
              'logged max_queued %s <= %d + 64 KiB' % (logged, LIMIT))
        split = sm
    figures.append('[%s] upstream stops reading after %d MiB of a 256 MiB upload: client blocked '
                   'after %.1f MiB (kernel buffers bound %.1f MiB + what was read), daemon RSS '
                   '+%.1f MiB%s; released: 256 MiB byte-exact%s' % (
                       pl.plane, read_first // MiB, mib(stalled), mib(bound),
                       mib(rss_peak - rss0),
                                   ', max_queued live %d / logged %s (limit %d)' % (
                                       q_live, logged, LIMIT) if pl.plane == 'sockmap' else '',
                       ' (kernel-redirected %.1f MiB, passed through the daemon %.1f MiB)' % (
                           mib(split.get('redirected', 0)), mib(split.get('passed', 0)))
                       if split else ''))


@with_plane
def t_backpressure_abort(pl, pt):
    m = pt.mark()
    pl.stall.release.clear()
    pl.stall.read_first = 0
    n0 = len(pl.stall.records)
    c, st, t = stalled_client(pl)
    stalled, _, _ = wait_stall(st, pl, pt)
    st['stop'] = True
    t.join(5)
    t0 = time.monotonic()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()
    d = line_for(pt, st['local'], m)
    took = time.monotonic() - t0
    expect(d, route='stall', end='client-reset')
    check(took < slack(1), 'ended promptly after the client\'s reset (%.3f s)' % took)
    pl.stall.release.set()
    rec = wait_for(lambda: pl.stall.records[n0:], 10, 'the sink\'s record')[0]
    eq(rec['how'], 'reset', 'the upstream sees the reset (after %d bytes), not a clean EOF' %
       rec['n'])
    figures.append('[%s] client gives up while blocked (%.1f MiB sent): end=client-reset after '
                   '%.3f s, upstream saw a reset' % (pl.plane, mib(stalled), took))


@with_plane
def t_leaks(pl, pt):
    figures.append('[%s] after the faults: %s' % (pl.plane, no_leaks(pt, pl.idle, pl.plane)))
    pt.stop()


TESTS = [
    ('upstream refuses: closed at once, upstream-failed', t_refused),
    ('black-holed SYNs: closed after 2 x connect_timeout_ms; failover to a live one', t_blackhole),
    ('upstream resets while sending: client gets a byte-exact prefix, then a reset', t_reset_down),
    ('upstream resets while the client uploads: the upload fails with a reset', t_reset_up),
    ('upstream accepts and closes at once: prompt close', t_close_fin),
    ('upstream accepts and resets at once: client sees a reset', t_close_rst),
    ('upstream closes with the request unread: client sees a reset', t_close_unread),
    ('upstream never reads, 256 MiB upload: client blocks, memory bounded, then byte-exact',
     t_backpressure, 0),
    ('upstream stops reading after 32 MiB: client blocks, queue and memory bounded, byte-exact',
     t_backpressure, 32 * MiB),
    ('upstream never reads, the client gives up: client-reset, upstream sees it',
     t_backpressure_abort),
    ('no descriptor, map entry or pair slot left behind', t_leaks),
]
for plane in planes():
    for name, fn, *args in TESTS:
        s.test('[%s] %s' % (plane, name), fn, plane, *args)
print('figures:')
for f in figures:
    print('  ' + f)
s.finish()
