# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Bytes the verdict passed back can still be on their way when the FIN is in.

A socket's psock queue holds, in order, what is redirected to it (to send)
and what its own verdict passed while that queue was not empty (to read:
sk_psock_verdict_apply() keeps them behind, for order). The kernel's worker
moves a passed skb to the readable queue only once every skb before it was
sent, which waits on the socket's send buffer and on its peer reading. If
the peer's FIN came in meanwhile, recv() answers 0 (EOF: SOCK_DONE, nothing
readable) although passed bytes are still queued. The daemon took that for
a stream that lost bytes and reset the pair: under two-way load with small
queue limits and send buffers (a squeezed sockmap_memory_budget_mib) a
download ended early, logged end=client-reset.

Made certain here: 4 KiB send buffers (sockmap_sndbuf), the smallest queue
limit and an 8 KiB client receive buffer; the upstream sends its download
at once, the client does not read it, so what is redirected to the client
stays in the daemon's client socket's psock queue; the client then uploads
(over the limit: passed, queued behind the download) and half-closes, and
only then reads. Each byte must arrive both ways, and the connection must
end done on sockmap with every passed byte written.
"""
import hashlib
import socket
import threading
import time

from bpftest import (BpfSuite, TcpServer, sockmap_daemon, listener, route, free_port,
                     sockmap_counters, check, eq, expect, wait_for, Skip,
                     HTTP_PREFIX_BYTES, KiB, MiB)

s = BpfSuite('bpf-passed-eof')
UP = 2 * MiB
DOWN = 4 * MiB
ROUNDS = 3
figures = []


def blob(n, seed):
    """n reproducible bytes."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b'%d:%d' % (seed, i)).digest() * 64
        i += 1
    return bytes(out[:n])


DOWN_BYTES = blob(DOWN, 1)


def upstream(c, srv):
    """Send the download at once, read the upload to EOF, then close."""
    sender = threading.Thread(target=lambda: c.sendall(DOWN_BYTES), daemon=True)
    sender.start()
    h = hashlib.sha256()
    n = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    sender.join(30)
    srv.record(rx=n, sha=h.hexdigest())


srv = TcpServer(s, upstream)
port = free_port()
pt = None
try:
    pt = sockmap_daemon(s, [listener('pe', port, [route('up', srv.addr, protocol='http')],
                                     sockmap_max_queued=64 * KiB, sockmap_sndbuf=4 * KiB)])
except Skip:
    pass


def one(seed):
    m = pt.mark()
    n0 = len(srv.records)
    up = blob(UP, seed + 100)
    c = socket.socket()
    c.settimeout(30)
    # A small window: the download stops in the daemon's client socket.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * KiB)
    c.connect(('127.0.0.1', port))
    c.sendall(HTTP_PREFIX_BYTES)
    # The pair is in the maps and the download stuck in the client socket's
    # psock queue (the client reads nothing) before the upload starts.
    time.sleep(0.3)
    c.sendall(up)
    c.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        try:
            d = c.recv(1 << 16)
        except ConnectionResetError:
            break
        if not d:
            break
        got += d
    c.close()
    eq((len(got), hashlib.sha256(got).hexdigest()),
       (DOWN, hashlib.sha256(DOWN_BYTES).hexdigest()), 'download: bytes and sha256 received')
    r = wait_for(lambda: srv.records[n0:] and srv.records[n0], 10, 'upstream record')
    total = len(HTTP_PREFIX_BYTES) + UP
    eq((r['rx'], r['sha']), (total, hashlib.sha256(HTTP_PREFIX_BYTES + up).hexdigest()),
       'upload: bytes and sha256 the upstream received')
    d = pt.conn_after(m, timeout=10)
    expect(d, route='up', plane='sockmap', end='done', up=total, down=DOWN)
    k = wait_for(lambda: sockmap_counters(pt).get(d['id']), 5, 'counters of #%d' % d['id'])
    for dn in ('up', 'down'):
        eq(k[dn]['passed'], k[dn]['consumed'], '%s: every passed byte written' % dn)
        eq(k[dn]['redirect_fail'], 0, '%s: redirect_fail' % dn)
    return k['up']


def t_passed_after_fin():
    s.need_bpf()
    waits0 = pt.log().count('passed bytes still queued after EOF')
    passed = 0
    for i in range(ROUNDS):
        k = one(i)
        check(k['pass_events'] > 0, 'round %d: upload passed to the daemon (%r)' % (i, k))
        passed += k['passed']
    figures.append('%d rounds: %d upload bytes passed to the daemon, %d waits for passed '
                   'bytes after EOF' % (ROUNDS, passed,
                                        pt.log().count('passed bytes still queued after EOF')
                                        - waits0))


s.test('upload passed behind a stuck download, then FIN: every byte both ways, end=done',
       t_passed_after_fin)
if pt:
    pt.stop()
for f in figures:
    print('measure: ' + f)
s.finish()
