# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""sockmap_memory_budget_mib: the kernel memory sockmap pairs may pin in
forced send buffers (doubled by the kernel, two sockets) and queues (one per
direction) comes from one budget shared by the workers.

With sockmap_sndbuf and sockmap_max_queued 1 MiB a pair costs 6 MiB; with a
10 MiB budget, long-lived connections get, one after the other: the full
limits, then halves, quarters... while the first three quarters last, then
no forced buffer and a 64 KiB queue from the last quarter, then no sockmap
at all (plane=splice fallback=over-budget), each
step with the queue limit the verdict sees in its pair slot, the counters
of the stats answer and one warning line. Once they close, the budget is
whole again and a new pair gets the full limits. Each relays byte-exact.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpftest import (BpfSuite, PtServer, Pairs, sockmap_daemon, listener, route,  # noqa: E402
                     free_port, connect, recv_all, eq, check, wait_for, BUILD, instance_of)

s = BpfSuite('bpf-budget')
echo = PtServer(s, 'echo', name='echo')
MiB, KiB = 1 << 20, 1 << 10
SNDBUF = QUEUED = MiB
BUDGET_MIB = 10
MIN_QUEUED = 64 * KiB
HEAD = b'PUT /b HTTP/1.1\r\nHost: budget.example\r\n\r\n'


def cost(sndbuf, queued):
    return 4 * sndbuf + 2 * queued


def expected(n):
    """(sndbuf, queue limit) for n pairs in a row, None once refused: the
    daemon's halving, replayed (only the smallest size may use the last
    quarter of the budget)."""
    budget, used, out = BUDGET_MIB * MiB, 0, []
    for _ in range(n):
        sb, q = SNDBUF, QUEUED
        while True:
            smallest = not sb and q <= MIN_QUEUED
            if used + cost(sb, q) <= (budget if smallest else budget // 4 * 3):
                break
            if smallest:
                sb = None
                break
            sb = 0 if sb // 2 < MIN_QUEUED else sb // 2
            q = max(q // 2, MIN_QUEUED)
        if sb is None:
            out.append(None)
        else:
            used += cost(sb, q)
            out.append((sb, q))
    return out


def stats(pt):
    r = subprocess.run([os.path.join(BUILD, 'passthru-ctl'), '-j', '--instance',
                        instance_of(pt), 'stats'], capture_output=True, text=True, timeout=10)
    eq(r.returncode, 0, 'passthru-ctl stats (%s)' % r.stderr.strip())
    return json.loads(r.stdout)['instances'][0]['stats']['sockmap_budget']


def ping(c, n, head=b''):
    """Send @head and @n random bytes to the echo upstream; all must come back."""
    msg = head + os.urandom(n)
    c.sendall(msg)
    got = b''
    while len(got) < n:
        d = c.recv(65536)
        if not d:
            break
        got += d
    eq(got, msg, 'echo of %d bytes' % n)


def slot_of(pairs, conn_id):
    """The pair slot of connection @conn_id (slot 0 is a slot too)."""
    return wait_for(lambda: (lambda i: None if i is None else (i,))(pairs.find(conn_id)), 5,
                    'the pair slot of #%d' % conn_id)[0]


def t_budget():
    port = free_port()
    pt = sockmap_daemon(s, [listener('b', port, [route('echo', echo.addr, protocol='http')],
                                     sockmap_sndbuf=SNDBUF, sockmap_max_queued=QUEUED)],
                        sockmap_memory_budget_mib=BUDGET_MIB, name='budget')
    want = expected(26)
    check(want[0] == (SNDBUF, QUEUED) and None in want and any(
        w and w != (SNDBUF, QUEUED) for w in want), 'the plan squeezes, then refuses: %s' % want)
    pairs = Pairs(pt)
    conns = []
    try:
        for i, w in enumerate(want):
            m = pt.mark()
            c = connect(port, timeout=10)
            ping(c, 1000, HEAD)
            conns.append(c)
            if w is None:
                continue
            slot = slot_of(pairs, i + 1)
            eq(pairs.slot(slot)['limit'], w[1], 'queue limit of pair %d' % (i + 1))
        st = stats(pt)
        eq(st['reserved'], sum(cost(*w) for w in want if w), 'budget reserved')
        eq(st['squeezed'], sum(1 for w in want if w and w != (SNDBUF, QUEUED)), 'squeezed')
        eq(st['refused'], sum(1 for w in want if w is None), 'refused')
        log = pt.log()
        check('nearly exhausted: new pairs get' in log, 'the squeeze is logged')
        check('exhausted: new pairs use another plane' in log, 'the refusal is logged')
        for c in conns:
            c.shutdown(1)
            recv_all(c)
            c.close()
        lines = pt.conns_after(0, len(want), timeout=10)
        eq([(d['plane'], d.get('fallback')) for d in lines],
           [('sockmap', None) if w else ('splice', 'over-budget') for w in want],
           'plane and fallback of each connection')
        wait_for(lambda: stats(pt)['reserved'] == 0, 5, 'the budget given back')
        c = connect(port, timeout=10)
        ping(c, 1000, HEAD)
        slot = slot_of(pairs, len(want) + 1)
        eq(pairs.slot(slot)['limit'], QUEUED, 'a new pair gets the full limit again')
        c.close()
    finally:
        pairs.close()
        for c in conns:
            c.close()
        pt.stop()


s.test('a %d MiB budget: full, squeezed, then no sockmap; given back at close' % BUDGET_MIB,
       t_budget)
s.finish()
