# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A full wake-up ring loses no bytes: the worker rescans every pair.

The verdict tells a worker that a pair began passing bytes back to it by a
record in the worker's ring (PT_MAP_WAKE); a record that does not fit is
counted in PT_MAP_WAKE_LOST instead, and the worker, seeing that counter
move, gives every sockmap pair of its own a turn (user/sockmap-wake.c,
rescan()). Without that turn a pair whose record was lost would hold its
passed bytes forever: the daemon does not watch EPOLLIN on a pair that
relays in the kernel.

Made certain here with the test build's PASSTHRU_FAULT_WAKE_RING=4096 (one
page: 256 records instead of 4,096) and one worker:

  * N_CONNS connections through passthru (sockmap, the smallest queue limit,
    4 KiB send buffers) to an upstream that does not read yet (4 KiB
    receive buffers);
  * the worker is stopped (SIGSTOP); every client then sends SIZE bytes:
    each pair fills its queue limit and begins passing, one record each,
    more than the ring holds;
  * the worker continues (SIGCONT), the upstream reads: every byte of every
    connection arrives in order (sha256), the daemon logged the lost
    wake-ups and its rescan, and every connection ends done on sockmap.
"""
import hashlib
import os
import selectors
import signal
import socket
import threading
import time

from bpftest import (BpfSuite, TcpServer, sockmap_daemon, listener, route, free_port, check, eq,
                     wait_for, slack, HTTP_PREFIX_BYTES, KiB)

s = BpfSuite('bpf-wake-overflow')
N_CONNS = 400  # > 256 records of a one-page ring
SIZE = 192 * KiB
RING = 4096


def payload(i):
    return hashlib.sha256(b'%d' % i).digest() * (SIZE // 32)


go = threading.Event()


def upstream(c, srv):
    """Wait for go, then read to EOF; record what arrived."""
    go.wait(slack(60))
    h = hashlib.sha256()
    n = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    srv.record(rx=n, sha=h.hexdigest())


def worker_pid(pt):
    """-w 1: the daemon's one process is its worker."""
    with open('/proc/%d/task/%d/children' % (pt.proc.pid, pt.proc.pid)) as f:
        kids = [int(x) for x in f.read().split()]
    eq(kids, [], 'worker processes of -w 1 (it serves in its own process)')
    return pt.proc.pid


def send_all(conns, bodies, pos, deadline):
    """Non-blocking sends of what is left of each body (pos: index -> bytes
    sent, dropped when done); returns the bytes still unsent."""
    sel = selectors.DefaultSelector()
    for i in pos:
        conns[i].setblocking(False)
        sel.register(conns[i], selectors.EVENT_WRITE, i)
    while pos and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                pos[i] += conns[i].send(bodies[i][pos[i]:pos[i] + 65536])
            except BlockingIOError:
                continue
            if pos[i] == len(bodies[i]):
                sel.unregister(conns[i])
                del pos[i]
    sel.close()
    return sum(len(bodies[i]) - p for i, p in pos.items())


def t_overflow():
    srv = TcpServer(s, upstream)
    srv.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * KiB)
    port = free_port()
    env = dict(os.environ)
    env['PASSTHRU_FAULT_WAKE_RING'] = str(RING)
    pt = sockmap_daemon(s, [listener('wo', port, [route('up', srv.addr, protocol='http')],
                                     sockmap_max_queued=64 * KiB, sockmap_sndbuf=4 * KiB,
                                     max_connections_per_source=0)],
                        args=['-w', '1'], name='wake-overflow', env=env)
    m = pt.mark()
    conns = []
    for _ in range(N_CONNS):
        c = socket.create_connection(('127.0.0.1', port))
        c.sendall(HTTP_PREFIX_BYTES)
        conns.append(c)
    wait_for(lambda: len(srv.conns) >= N_CONNS, 20, 'the upstream to accept every connection')
    time.sleep(slack(0.5))  # the first flights written, every pair handed to the kernel
    wpid = worker_pid(pt)
    bodies = [payload(i) for i in range(N_CONNS)]
    pos = {i: 0 for i in range(N_CONNS)}
    os.kill(wpid, signal.SIGSTOP)
    try:
        # Each pair redirects up to its limit, then passes (and the client's
        # window closes); a short while is enough for every pair to begin.
        send_all(conns, bodies, pos, time.monotonic() + slack(3))
    finally:
        os.kill(wpid, signal.SIGCONT)
    go.set()
    left = send_all(conns, bodies, pos, time.monotonic() + slack(60))
    eq(left, 0, 'bytes the clients could not send within 60 s')
    for c in conns:
        c.setblocking(True)
        c.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + slack(60)
    while len(srv.records) < N_CONNS and time.monotonic() < deadline:
        time.sleep(0.1)
    eq(len(srv.records), N_CONNS, 'upstream connections that reached EOF within 60 s')
    want = {(len(HTTP_PREFIX_BYTES) + SIZE,
             hashlib.sha256(HTTP_PREFIX_BYTES + bodies[i]).hexdigest()) for i in range(N_CONNS)}
    got = {(r['rx'], r['sha']) for r in srv.records}
    eq(len(got & want), N_CONNS, 'connections whose bytes all arrived in order')
    for c in conns:
        c.close()
    lines = pt.conns_after(m, N_CONNS, timeout=slack(20))
    ends = {}
    for d in lines:
        ends[(d.get('end'), d.get('plane'))] = ends.get((d.get('end'), d.get('plane')), 0) + 1
    eq(ends, {('done', 'sockmap'): N_CONNS}, 'how the connections ended')
    log = pt.log()
    check('wake-ups lost (ring full); rescanning' in log,
          'the ring overflowed and the worker rescanned (no "wake-ups lost" line)')
    pt.stop()


s.test('%d pairs begin passing while the worker is stopped (ring of %d records): '
       'every byte arrives' % (N_CONNS, RING // 16), t_overflow)
s.finish()
