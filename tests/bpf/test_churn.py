# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""10,000 connections through the kernel data plane leave nothing behind.

9,400 short echo connections (300 at a time, 1..4 KiB, a 200 ms pause after
the request head so each one is in the maps before its payload and FIN;
ptstream sends the FIN of an empty payload without the pause, hence 1..),
300 that the client resets mid-stream and 300 that the upstream resets.
Afterwards, with every connection logged as closed:

  * the daemon holds no more file descriptors than before (+2 at most);
  * pt_socks, pt_rx and pt_tx have no entries (bpf(2) and bpftool agree);
  * every slot of pt_pairs is state 0 (free), read from the pinned array;
  * at least 99% of the 10,000 went through plane=sockmap (the rest through
    splice because their FIN came before the hand-off) and all ended as
    they should.
"""
import socket
import struct
import threading
import time

from bpftest import (BpfSuite, PtServer, TcpServer, Pairs, sockmap_daemon, listener, route,
                     free_port, connect, read_head, pinned_keys, pin_dir, bpftool_j, fd_count,
                     ptstream_client, client_totals, all_sockmap, check, eq, wait_for, Skip,
                     HTTP_PREFIX, STATE_NAMES, scaled, slack, TIME_SCALE)

s = BpfSuite('bpf-churn')
N_ECHO, N_CRST, N_URST = scaled(9400, 300), scaled(300, 30), scaled(300, 30)
N = N_ECHO + N_CRST + N_URST
echo = PtServer(s, 'echo', name='echo')


def linger0(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def reader(c, srv):
    """Reads until the client's reset (or EOF)."""
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass


def resetter(c, srv):
    """Reads the request head, sends 64 KiB, resets."""
    if b'\r\n\r\n' not in read_head(c):
        return
    c.sendall(bytes(65536))
    linger0(c)


rd = TcpServer(s, reader)
rs = TcpServer(s, resetter)
port = free_port()
pt = None
try:
    pt = sockmap_daemon(s, [listener('churn', port, [
        route('echo', echo.addr, protocol='http', host='bpf.example'),
        route('crst', rd.addr, protocol='http', host='crst.example'),
        route('urst', rs.addr, protocol='http', host='urst.example')],
        max_connections_per_source=0)])  # 300 at once from 127.0.0.1
except Skip:
    pass


def client_reset_conn(i):
    c = connect(port, timeout=10)
    c.sendall(b'POST / HTTP/1.1\r\nHost: crst.example\r\n\r\n')
    # Time for the hand-off before the reset (a slow guest needs more).
    time.sleep(slack(0.1))
    c.sendall(bytes(16384 + i))
    linger0(c)


def upstream_reset_conn(i):
    c = connect(port, timeout=10)
    c.sendall(b'GET / HTTP/1.1\r\nHost: urst.example\r\n\r\n')
    try:
        while c.recv(65536):
            pass
    except ConnectionResetError:
        pass
    c.close()


def run_threads(fn, n, conc, errors):
    def worker(k):
        for i in range(k, n, conc):
            try:
                fn(i)
            except Exception as e:  # reported by the test
                errors.append('%s #%d: %r' % (fn.__name__, i, e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(conc)]
    for t in ts:
        t.start()
    return ts


def t_churn():
    s.need_bpf()
    pid = pt.proc.pid
    time.sleep(0.2)
    fds0 = fd_count(pid)
    m = pt.mark()
    t0 = time.monotonic()
    errors = []
    ts = run_threads(client_reset_conn, N_CRST, 10, errors)
    ts += run_threads(upstream_reset_conn, N_URST, 10, errors)
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'echo', '-C', 300,
                                   '-N', N_ECHO, '-s', '1:4k', '-S', 3, '--prefix-text',
                                   HTTP_PREFIX, '-g', 200, '--summary', '-T', 100, timeout=120)
    for t in ts:
        t.join()
    eq(rc, 0, 'ptstream echo, %d connections (%s)' % (N_ECHO, err.strip()[:300]))
    eq(errors[:3], [], 'reset clients')
    lines = pt.conns_after(m, N, timeout=30)
    secs = time.monotonic() - t0
    print('measure: %d connections in %.1f s (%.0f/s)' % (N, secs, N / secs))
    # A client whose FIN is in before the hand-off goes to splice by design
    # (the kernel refuses a CLOSE_WAIT socket); under load the daemon can
    # accept a connection long after the kernel did, so allow a few.
    # A client that resets before the daemon even routed it (route=-, as an
    # emulated VM's slow detection allows) never had a data plane to use.
    # In an emulated VM (PT_TIME_SCALE > 1) the daemon is slow enough that
    # many clients' FINs beat the hand-off: fallback=peer-closed, by design.
    # So does one whose reset came while the daemon was still connecting
    # to the upstream (end=client-gone, plane=-: seen under a load average
    # of 3 with 300 clients at once).
    other = [d for d in lines if d['plane'] != 'sockmap' and
             not (d['end'] == 'client-reset' and d.get('route') == '-') and
             not (d['end'] == 'client-gone' and d.get('route') == 'crst' and
                  d['plane'] == '-') and
             not (TIME_SCALE > 1 and d.get('fallback') == 'peer-closed')]
    print('measure: %d of %d connections through sockmap' % (N - len(other), N))
    check(len(other) <= N // 100, '%d connections not through sockmap (at most 1%%), e.g. %s' % (
        len(other), other[0]['line'] if other else ''))
    bad = [d['line'] for d in other if d['plane'] != 'splice' or d.get('fallback') != 'peer-closed']
    eq(bad[:2], [], 'connections neither sockmap nor a splice fallback for a closed peer')
    ends = {}
    for d in lines:
        ends[(d['route'], d['end'])] = ends.get((d['route'], d['end']), 0) + 1
    # Only the crst clients reset; one whose reset beat the daemon's first
    # look at it (route=-, its head never read) still counts as theirs.
    early = ends.pop(('-', 'client-reset'), 0) + ends.pop(('crst', 'client-gone'), 0)
    print('measure: %d client resets before the hand-off' % early)
    if early:
        ends[('crst', 'client-reset')] = ends.get(('crst', 'client-reset'), 0) + early
    eq(ends, {('echo', 'done'): N_ECHO, ('crst', 'client-reset'): N_CRST,
              ('urst', 'upstream-reset'): N_URST}, 'connections per (route, end)')
    eq(sum(d['up'] for d in lines if d['route'] == 'echo'), client_totals(out)['up'],
       'bytes up in the log vs sent by the echo clients')

    time.sleep(0.2)
    fds1 = fd_count(pid)
    check(fds1 <= fds0 + 2, 'daemon fds: %d before, %d after 10,000 connections' % (fds0, fds1))
    for name in ('pt_socks', 'pt_rx', 'pt_tx'):
        eq(len(pinned_keys(pt, name)), 0, 'entries left in %s' % name)
        rc, obj, err = bpftool_j('map', 'dump', 'pinned', '%s/%s' % (pin_dir(pt), name))
        eq((rc, obj), (0, []), 'bpftool map dump pinned %s (%s)' % (name, err))
    pairs = Pairs(pt)
    states = pairs.states()
    busy = [(i, STATE_NAMES.get(st, st)) for i, st in enumerate(states) if st]
    pairs.close()
    eq(busy[:5], [], 'pt_pairs slots not free (of %d)' % len(states))


s.test('%d connections (echo, client resets, upstream resets): no fd, map entry or pair slot '
       'left' % N, t_churn)
if pt:
    pt.stop()
s.finish()
