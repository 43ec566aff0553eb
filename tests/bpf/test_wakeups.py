# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The daemon sleeps while the kernel relays, and still hears about passed bytes.

Since 6.4 (and in 6.1.y) every batch the verdict redirects ends in the
socket's sock_def_readable(): a daemon watching EPOLLIN on a sockmap pair
is woken for nothing each time (ep_poll_callback wakes epoll_wait, which
finds nothing ready and sleeps again: no syscall returns, only a context
switch). passthru watches EPOLLRDHUP only while a pair relays purely in
the kernel and learns about passed bytes from the verdict's ring.

  * 100 connections of 64 B request/response (an echo upstream, -w 2):
    the daemon's processes make fewer than MAX_CS voluntary context
    switches per round trip (1.0-1.3 when every batch woke a worker);
  * a slow reader: a 16 MiB upload to an upstream that reads in bursts
    with pauses, with a 64 KiB queue limit, so the verdict passes bytes
    back to the daemon again and again. Every byte arrives in order
    (sha256), the mechanism engaged (pass_events > 0, passed == consumed),
    and no burst waited long for bytes the daemon held: the longest gap
    between two reads of the upstream, its own pauses aside, stays under
    MAX_GAP seconds.
"""
import hashlib
import os
import selectors
import socket
import subprocess
import time

from bpftest import (BpfSuite, upload_arrived, PtServer, TcpServer, sockmap_daemon, listener, route,
                     free_port, check, expect, Skip, slack, PTSTREAM, HTTP_PREFIX, KiB, MiB)

s = BpfSuite('bpf-wakeups')
N_CONNS = 100
MSG = 64
SECONDS = 3.0
MAX_CS = 0.1  # voluntary context switches of the daemon per round trip
SIZE = 16 * MiB
BURST = 512 * KiB  # the slow reader takes this much, then pauses
PAUSE = 0.05
MAX_GAP = slack(1.0)  # seconds a read may wait for bytes, beyond the pauses


def bursty_sink(c, srv):
    """ptstream's sink protocol (reply "<sha256> <count>\\n"), read in bursts."""
    h = hashlib.sha256()
    n = got = 0
    gap = 0.0
    t_last = time.monotonic()
    while True:
        d = c.recv(65536)
        now = time.monotonic()
        if not d:
            break
        gap = max(gap, now - t_last)
        h.update(d)
        n += len(d)
        got += len(d)
        if got >= BURST:
            got = 0
            time.sleep(PAUSE)
        t_last = time.monotonic()
    c.sendall(b'%s %d\n' % (h.hexdigest().encode(), n))
    srv.record(rx=n, sha=h.hexdigest(), gap=gap)


echo = PtServer(s, 'echo', name='echo')
sink = TcpServer(s, bursty_sink)
rr_port, slow_port = free_port(), free_port()
pt = None
try:
    pt = sockmap_daemon(s, [
        listener('rr', rr_port, [route('echo', echo.addr)], max_connections_per_source=0),
        listener('slow', slow_port, [route('slow', sink.addr, protocol='http')],
                 sockmap_max_queued=64 * KiB, sockmap_sndbuf=256 * KiB)], args=['-w', '2'])
except Skip:
    pass


def daemon_pids():
    """The master and its workers."""
    pid = pt.proc.p.pid
    kids = []
    for task in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return [pid] + kids


def voluntary_cs(pids):
    n = 0
    for p in pids:
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('voluntary_ctxt_switches'):
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def open_conns():
    """N_CONNS connections through the daemon, each already in the kernel
    (one round trip done)."""
    conns = []
    for _ in range(N_CONNS):
        c = socket.create_connection(('127.0.0.1', rr_port), timeout=5)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(c)
    for c in conns:
        ping(c)
    return conns


def ping(c):
    c.sendall(b'x' * MSG)
    got = 0
    while got < MSG:
        d = c.recv(MSG - got)
        if not d:
            raise AssertionError('EOF from the echo')
        got += len(d)


def round_trips(conns, seconds):
    """Every connection sends MSG bytes and waits for them to come back,
    again and again, for @seconds; returns the number of round trips."""
    sel = selectors.DefaultSelector()
    for c in conns:
        c.setblocking(False)
        c.send(b'x' * MSG)
        sel.register(c, selectors.EVENT_READ, [0])
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(1.0):
            c, st = key.fileobj, key.data
            d = c.recv(65536)
            if not d:
                raise AssertionError('EOF from the echo')
            st[0] += len(d)
            if st[0] >= MSG:
                st[0] -= MSG
                n += 1
                c.send(b'x' * MSG)
    sel.close()
    # Take the last echo of each before closing: unread bytes make close() reset.
    for c in conns:
        c.setblocking(True)
    for c in conns:
        left = MSG
        while left:
            d = c.recv(left)
            if not d:
                raise AssertionError('EOF from the echo')
            left -= len(d)
    return n


def close_all(conns):
    for c in conns:
        c.shutdown(socket.SHUT_WR)
    for c in conns:
        c.settimeout(5)
        while c.recv(65536):
            pass
        c.close()


def t_rr_sleeps():
    s.need_bpf()
    m = pt.mark()
    conns = open_conns()
    try:
        time.sleep(0.2)  # the handoff turns are over
        pids = daemon_pids()
        check(len(pids) == 3, 'master and 2 workers found (%s)' % pids)
        cs0 = voluntary_cs(pids)
        n = round_trips(conns, SECONDS)
        cs = voluntary_cs(pids) - cs0
    finally:
        close_all(conns)
    per = cs / max(n, 1)
    print('  %d round trips in %.1f s, %d voluntary context switches of the daemon: %.4f '
          'per round trip' % (n, SECONDS, cs, per))
    check(n > 1000, 'at least 1000 round trips (%d)' % n)
    check(per < MAX_CS, 'daemon context switches per round trip %.4f < %.2f' % (per, MAX_CS))
    ds = pt.conns_after(m, N_CONNS, timeout=10)
    for d in ds:
        expect(d, route='echo', plane='sockmap', end='done')


def t_slow_reader():
    s.need_bpf()
    m = pt.mark()
    n0 = len(sink.records)
    t0 = time.monotonic()
    p = subprocess.run([PTSTREAM, 'client', '-c', '127.0.0.1:%d' % slow_port, '-m', 'upload',
                        '-s', str(SIZE), '--prefix-text', HTTP_PREFIX, '-g', '100', '-v',
                        '-T', '40'], capture_output=True, text=True, timeout=60)
    secs = time.monotonic() - t0
    k, total, r = upload_arrived(pt, sink, m, n0, p.returncode, p.stdout, p.stderr, SIZE)
    print('  %.1f s; passed %d bytes in %d pass events, longest wait for bytes %.3f s' %
          (secs, k['passed'], k['pass_events'], r['gap']))
    check(k['pass_events'] > 0 and k['passed'] > 0, 'the verdict passed bytes to the daemon')
    check(r['gap'] < MAX_GAP, 'longest wait for bytes %.3f s < %.1f s' % (r['gap'], MAX_GAP))


s.test('100 connections of 64 B request/response: the daemon sleeps', t_rr_sleeps)
s.test('a bursty slow reader gets every byte in order, without stalls', t_slow_reader)
s.finish()
