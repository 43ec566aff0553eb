# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Limits: max_connections (one worker and shared by two), idle_timeout_ms, max_detecting
(a new client evicts the oldest silent one, also when max_connections is full; a burst of
clients younger than the eviction grace is let in whole)."""
import time

from ptharness import (Suite, Passthru, PtServer, connect, read_closed, ping, finish, eq, check,
                       expect, listener, route, free_port, between, slack)

s = Suite('limits')
echo = PtServer(s, 'echo')


def refused_at_accept(port):
    """Connect: the kernel accepts, passthru closes at once without a byte."""
    c = connect(port)
    local = '127.0.0.1:%d' % c.getsockname()[1]
    c.sendall(b'hello?')
    data, how, took = read_closed(c, 3)
    c.close()
    check(data == b'' and how in ('eof', 'reset') and took < slack(0.5),
          'connection over the limit closed at once (%s, %r after %.2f s)' % (how, data, took))
    return local


def t_max_connections(workers):
    port = free_port()
    args = ['-w', str(workers)] if workers > 1 else []
    pt = Passthru(s, {'listeners': [listener('front', port, [route('all', echo.addr)],
                                             max_connections=2)]},
                  args=args, name='max%d' % workers)
    m = pt.mark()
    c1, c2 = connect(port), connect(port)
    ping(c1, b'one')
    ping(c2, b'two')
    # With two workers the over-limit connections land on either of them.
    over = [refused_at_accept(port) for _ in range(6 if workers > 1 else 1)]
    ping(c1, b'one again')
    eq(finish(c1), b'', 'end of the first connection')
    pt.conns_after(m, 1)
    c4 = connect(port)
    ping(c4, b'four')
    eq(finish(c4), b'', 'a slot was free again')
    eq(finish(c2), b'', 'end of the second connection')
    lines = pt.conns_after(m, 3)
    time.sleep(0.1)
    lines = pt.conns()[m:]
    eq(len(lines), 3, 'connection lines (over-limit ones are not relayed)')
    eq(sorted(d['up'] for d in lines), [3, 4, 12], 'bytes of the relayed connections')
    check(not [d for d in lines if d['client'] in over], 'no over-limit connection relayed')
    eq([d['line'] for d in lines if d['end'] != 'done'][:3], [], 'lines with end other than done')
    pt.stop()


def t_idle():
    port = free_port()
    pt = Passthru(s, {'listeners': [listener('front', port, [route('all', echo.addr)],
                                             idle_timeout_ms=500)]}, name='idle')
    m = pt.mark()
    c = connect(port)
    ping(c, b'hi')
    data, how, took = read_closed(c, 5)
    c.close()
    check(how in ('eof', 'reset') and 0.4 <= took <= slack(1.5),
          'idle connection closed after idle_timeout_ms=500 (%s after %.2f s)' % (how, took))
    expect(pt.conn_after(m), end='idle-timeout', up=2, down=2, dur=between(0.45, slack(1.6)))

    # Traffic every 200 ms keeps it open well past 500 ms.
    m = pt.mark()
    c = connect(port)
    t0 = time.monotonic()
    for i in range(7):
        ping(c, b'tick%d' % i)
        time.sleep(0.2)
    eq(finish(c), b'', 'busy connection ended by us, not by the idle timer')
    check(time.monotonic() - t0 > 1.3, 'the busy connection lived > 1.3 s')
    expect(pt.conn_after(m), end='done', up=35, down=35)
    pt.stop()


GRACE = 0.2  # user/listener.c PT_EVICT_GRACE_MS


def burst_once(port):
    """Six connections at once, then a request on each: (seconds the six
    connects took, what each got back, the sockets)."""
    t0 = time.monotonic()
    burst = [connect(port) for _ in range(6)]
    t_conn = time.monotonic() - t0
    time.sleep(0.05)  # all six accepted, none has sent yet
    got = []
    for i, c in enumerate(burst):
        c.sendall(b'GET /%d HTTP/1.1\r\nHost: a.example\r\n\r\n' % i)
    for c in burst:
        c.settimeout(slack(3))
        try:
            got.append(c.recv(100))
        except OSError as e:
            got.append(repr(e).encode())
    return t_conn, got, burst


def t_detecting_burst():
    """wrk -c1000 opens every connection before it sends a request: none is silent.

    Only an attempt whose six connects took under half the grace counts (a
    loaded machine can stretch them past it: then the cap may evict, rightly);
    up to three attempts."""
    port = free_port()
    pt = Passthru(s, {'listeners': [listener('front', port, [
        route('web', echo.addr, protocol='http')], max_detecting=3, max_connections=20)]},
        args=['-w', '1'], name='burst')
    held = []
    for attempt in range(3):
        m = pt.mark()
        t_conn, got, burst = burst_once(port)
        held += burst
        if t_conn < GRACE / 2:
            break
    check(t_conn < GRACE / 2, 'six connects within %.2f s in one of 3 attempts (last: %.2f s)' % (
        GRACE / 2, t_conn))
    for i, g in enumerate(got):
        check(g.startswith(b'GET /%d ' % i), 'burst client %d relayed: %r' % (i, g[:40]))
    eq([d for d in pt.conns()[m:] if d.get('end') == 'evicted'], [], 'evicted in the burst')
    # Over the cap with connections past the grace: the oldest silent one goes.
    silent = [connect(port) for _ in range(3)]
    time.sleep(GRACE + 0.8)
    m = pt.mark()
    late = connect(port)
    data, how, took = read_closed(silent[0], slack(2))
    check(data == b'' and how in ('eof', 'reset'), 'the oldest silent one is evicted')
    pt.conn_after(m, end='evicted', client='127.0.0.1:%d' % silent[0].getsockname()[1])
    for c in held + silent + [late]:
        c.close()
    pt.stop()


def t_max_detecting():
    port = free_port()
    pt = Passthru(s, {'listeners': [listener('front', port, [
        route('web', echo.addr, protocol='http')], max_detecting=3, max_connections=4)]},
        args=['-w', '1'], name='maxdet')
    m = pt.mark()
    silent = [connect(port) for _ in range(3)]
    # Accepted in this order: silent[0] is the oldest, and older than the
    # grace (PT_EVICT_GRACE_MS, 200 ms) once this sleep is over, even if a
    # loaded machine accepted it late.
    time.sleep(GRACE + 0.8)
    late = connect(port)
    data, how, took = read_closed(silent[0], slack(2))
    check(data == b'' and how in ('eof', 'reset') and took < slack(1),
          'the oldest silent one is evicted at once (%s after %.2f s)' % (how, took))
    d = pt.conn_after(m, end='evicted', proto='-')
    eq(d['client'], '127.0.0.1:%d' % silent[0].getsockname()[1], 'the oldest one, by port')
    late.sendall(b'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n')
    got = late.recv(100)
    check(got.startswith(b'GET /'), 'the newest is detected and relayed: %r' % got[:20])
    # A third silent one fills max_connections 4 (3 detecting, 1 relaying):
    # room for one more is made by evicting the oldest still detecting, never
    # the relayed one.
    fill = connect(port)
    time.sleep(0.2)  # max_connections evicts whatever the age
    m = pt.mark()
    extra = connect(port)
    data, how, took = read_closed(silent[1], slack(2))
    check(data == b'' and how in ('eof', 'reset'), 'max_connections full: next-oldest evicted')
    pt.conn_after(m, end='evicted', client='127.0.0.1:%d' % silent[1].getsockname()[1])
    ping(late, b'still here')
    for c in silent + [late, fill, extra]:
        c.close()
    check('max_detecting (3, 3 per worker) reached' in pt.log(), 'the warning line')
    pt.stop()


s.test('max_connections 2: third connection closed at accept, slot freed later',
       t_max_connections, 1)
s.test('max_connections 2 is shared by -w 2 workers', t_max_connections, 2)
s.test('max_detecting 3: a fourth client evicts the oldest silent one (end=evicted)',
       t_max_detecting)
s.test('max_detecting 3: a burst of 6 within the grace is let in whole, then the oldest go',
       t_detecting_burst)
s.test('idle_timeout_ms closes an idle relayed connection, not a busy one', t_idle)
s.finish()
