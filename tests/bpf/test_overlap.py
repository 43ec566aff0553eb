# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A TCP segment that repeats bytes already received reaches the upstream once.

TCP queues a segment that begins before rcv_nxt but ends after it (a
retransmission covering bytes the receiver already has: tcp_data_queue(),
"Partial packet"), and tcp_read_skb() hands it to the verdict whole, old
bytes included. Redirected or passed, those bytes reached the target
twice (likely the "redirected + passed > received" once seen in make
stress: 65,483 bytes, under heavy backpressure). The verdict now follows
each socket's TCP sequence and cuts such heads off (bpf/passthru.bpf.c,
"Bytes seen twice"). Without that cut both tests fail: the daemon resets
the pair with "relayed 61000 bytes more than the source sent" and the
upstream has had OLD + NEW bytes twice.

Made certain here rather than waited for: in a private network namespace
(TCP timestamps off, so a segment needs no TS option), a client uploads
through sockmap; once everything it sent is acknowledged, the test reads
its send sequence (TCP_REPAIR, TCP_QUEUE_SEQ) and injects, by a raw
socket, one segment carrying the last OLD bytes it sent and the next NEW
bytes of its stream. The client then goes on from where it was, so its
next segment repeats those NEW bytes (a second overlap). Checked for the
redirect path (upstream reading) and the pass path (upstream not reading
yet, the pair over its queue limit and passing when the segment comes):

  * the upstream receives exactly the client's stream (length, sha256);
  * the connection ends done on plane sockmap, without the daemon's
    "relayed .. more than the source sent" reset;
  * the verdict cut OLD + NEW bytes (trimmed in the -v counters).
"""
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

NETNS_ENV = 'PT_OVERLAP_NETNS'
if __name__ == '__main__' and not os.environ.get(NETNS_ENV) and os.geteuid() == 0 and \
        shutil.which('unshare'):
    os.environ[NETNS_ENV] = '1'
    raise SystemExit(subprocess.run(['unshare', '-n', sys.executable] + sys.argv).returncode)

from bpftest import (BpfSuite, TcpServer, Pairs, sockmap_daemon, listener, route,  # noqa: E402
                     free_port, sockmap_counters, check, eq, wait_for, slack, Skip,
                     HTTP_PREFIX_BYTES, KiB, MiB)

s = BpfSuite('bpf-overlap')
FIRST = 256 * KiB   # sent (and acknowledged) before the injection
OLD = 60000         # bytes of the injected segment the receiver already has
NEW = 1000          # bytes of it that are new (the client sends them again)
REST = 1 * MiB      # sent after the injection
LIMIT = 64 * KiB    # the pair's queue limit (sockmap_max_queued)
TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
SIOCOUTQ = 0x5411


def stream(n):
    """n bytes that are not all alike."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b'%d' % i).digest()
        i += 1
    return bytes(out[:n])


BODY = stream(FIRST + NEW + REST)


def netns_ready():
    if not os.environ.get(NETNS_ENV):
        raise Skip('needs root and unshare (a private network namespace)')
    r = subprocess.run(['ip', 'link', 'set', 'lo', 'up'], capture_output=True, text=True)
    if r.returncode:
        raise Skip('ip link set lo up: %s' % r.stderr.strip())
    with open('/proc/sys/net/ipv4/tcp_timestamps', 'w') as f:
        f.write('0')


def queue_seq(c, queue):
    """The TCP sequence TCP_QUEUE_SEQ reports for a queue (the socket in repair mode)."""
    c.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)
    return struct.unpack('I', c.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]


def sequences(c):
    """(next sequence the client sends, next it expects): the repair-mode view."""
    c.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    try:
        return queue_seq(c, TCP_SEND_QUEUE), queue_seq(c, TCP_RECV_QUEUE)
    finally:
        c.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)


def csum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def inject(c, payload, seq, ack):
    """Send one ACK|PSH segment on c's connection (as from c) by a raw socket."""
    sport, dport = c.getsockname()[1], c.getpeername()[1]
    hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, 0x18, 65535, 0, 0)
    pseudo = socket.inet_aton('127.0.0.1') * 2 + struct.pack('!BBH', 0, socket.IPPROTO_TCP,
                                                              len(hdr) + len(payload))
    hdr = hdr[:16] + struct.pack('!H', csum(pseudo + hdr + payload)) + hdr[18:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as r:
        r.sendto(hdr + payload, ('127.0.0.1', 0))


def unacked(c):
    import fcntl
    return struct.unpack('i', fcntl.ioctl(c.fileno(), SIOCOUTQ, b'\0' * 4))[0]


def passed_up(pt):
    """Bytes of the one live pair's upload the verdict has passed so far."""
    pairs = Pairs(pt)
    try:
        live = [pairs.slot(i) for i, st in enumerate(pairs.states()) if st]
    finally:
        pairs.close()
    eq(len(live), 1, 'live pairs')
    return live[0]['dir'][0]['passed']


def sink(go):
    def handler(c, srv):
        go.wait(slack(30))
        h = hashlib.sha256()
        n, how = 0, 'eof'
        while True:
            try:
                d = c.recv(1 << 16)
            except OSError as e:
                how = type(e).__name__
                break
            if not d:
                break
            h.update(d)
            n += len(d)
        srv.record(rx=n, sha=h.hexdigest(), how=how)
    return handler


def run(path):
    """One upload with an injected overlapping segment; returns the checks' inputs."""
    netns_ready()
    go = threading.Event()
    if path == 'redirect':
        go.set()
    srv = TcpServer(s, sink(go))
    limit = {}
    if path == 'pass':
        srv.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
        limit = {'sockmap_max_queued': LIMIT}
    port = free_port()
    pt = sockmap_daemon(s, [listener('ovl', port, [route('up', srv.addr, protocol='http')],
                                     **limit)], name='overlap-' + path)
    m = pt.mark()
    c = socket.create_connection(('127.0.0.1', port))
    c.sendall(HTTP_PREFIX_BYTES)
    time.sleep(slack(0.2))  # the pair is in the maps
    c.sendall(BODY[:FIRST])
    wait_for(lambda: unacked(c) == 0, slack(10), 'the first %d bytes acknowledged' % FIRST)
    if path == 'pass':
        check(passed_up(pt) > 0, 'the pair passes bytes when the segment comes')
    snd, rcv = sequences(c)
    inject(c, BODY[FIRST - OLD:FIRST + NEW], (snd - OLD) & 0xffffffff, rcv)
    time.sleep(0.1)
    c.sendall(BODY[FIRST:])
    c.shutdown(socket.SHUT_WR)
    go.set()
    c.settimeout(slack(30))
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
    d = pt.conns_after(m, 1, timeout=slack(30))[0]
    rec = wait_for(lambda: srv.records, slack(10), 'the upstream\'s record')[0]
    up = sockmap_counters(pt).get(d['id'], {}).get('up', {})
    warned = pt.log().count('more than the source sent')
    for line in pt.log().splitlines():
        if 'more than the source sent' in line:
            print('  daemon: ' + line.split(' conn: ', 1)[-1], flush=True)
    pt.stop()
    print('  %s path: end=%s plane=%s upstream got %d bytes then %s (%s), trimmed=%s '
          'redirected=%s passed=%s' % (path, d.get('end'), d.get('plane'), rec['rx'], rec['how'],
                         'exact' if rec['sha'] == hashlib.sha256(HTTP_PREFIX_BYTES + BODY)
                         .hexdigest() else 'DIFFERENT', up.get('trimmed'), up.get('redirected'),
                         up.get('passed')), flush=True)
    eq(warned, 0, '"relayed more than the source sent" warnings')
    eq((d.get('end'), d.get('plane')), ('done', 'sockmap'), 'how the connection ended')
    eq(rec['rx'], len(HTTP_PREFIX_BYTES + BODY), 'bytes the upstream received')
    eq(rec['sha'], hashlib.sha256(HTTP_PREFIX_BYTES + BODY).hexdigest(),
       'sha256 of what the upstream received')
    check(up.get('trimmed', 0) >= OLD + NEW, 'the verdict cut the repeated bytes: trimmed=%s, '
          'want >= %d' % (up.get('trimmed'), OLD + NEW))
    if path == 'redirect':
        eq(up.get('passed'), 0, 'bytes passed to the daemon on the redirect path')


s.test('a segment repeating %d received bytes + %d new, redirect path: upstream gets each byte '
       'once' % (OLD, NEW), run, 'redirect')
s.test('the same, pass path (upstream not reading, queue limit %d KiB): each byte once'
       % (LIMIT // KiB), run, 'pass')
s.finish()
