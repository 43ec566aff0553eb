# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Plane moves: data_plane "auto" starts every connection on copy and moves
one that shows bulk to its bulk_plane. Low thresholds here (a turn of 16 KiB,
twice) make moves happen early and at random points of each stream.

  * 300 connections, random sizes 0..4 MiB each way at once, 50 at a time:
    every byte arrives, in order, in both directions (ptstream checks each
    byte and the trailer); every log line says copy or copy>BULK, end=done,
    and most of the large ones moved;
  * client FIN at random points: upload-only streams (0..2 MiB) whose FIN
    comes while the bytes before it may still be on their way: all arrive;
  * client RST at random points (0..1 MiB sent, then SO_LINGER 0): the
    upstream receives an in-order prefix of what was sent, then a reset or
    EOF, and the daemon logs end=client-reset;
  * upstream RST at random points while it streams down: the client gets an
    in-order prefix, then a reset, and the daemon logs end=upstream-reset.

Each runs twice: with bulk_plane splice (the default) and with bulk_plane
sockmap, where the kernel's verdict takes over a live connection (it cuts
by TCP sequence any skb head copy already relayed). Without BPF the sockmap
round skips. Under PT_DATA_PLANE=copy or sockmap the file skips (the
listener is auto either way: nothing new).
"""
import random
import re
import socket
import struct
import threading

from ptharness import (Suite, Passthru, PtServer, TcpServer, DATA_PLANE, Skip, connect,
                       recv_all, eq, check, listener, route, free_port, ptstream_client,
                       capture_client_hello, no_failures, wait_for, scaled, slack)

s = Suite('moves')
MiB = 1 << 20
BULK = 'splice'  # the round running; the tests below read BULK, MOVED, port and pt
MOVED = 'copy>' + BULK
SEED = 11

hello = capture_client_hello(s, 'moves.example')
hello_path = s.write('hello.bin', hello)
stream = PtServer(s, 'stream', opts=['-P', hello_path], name='stream')
sink = PtServer(s, 'sink', name='sink')


def read_to_end(c):
    """Everything @c receives until EOF or a reset, and which ended it."""
    got, how = bytearray(), 'eof'
    try:
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            got += d
    except ConnectionResetError:
        how = 'reset'
    return bytes(got), how


def recorder(c, srv):
    """Records what arrived until EOF or a reset, and how it ended."""
    got, how = read_to_end(c)
    srv.record(data=got, how=how)


def resetting_source(c, srv):
    """Reads the request head and 12 bytes (seed, size), streams that many
    bytes of random.Random(seed), then resets (SO_LINGER 0) instead of a FIN."""
    req = b''
    while b'\r\n\r\n' not in req or len(req) < req.index(b'\r\n\r\n') + 4 + 12:
        d = c.recv(4096)
        if not d:
            return
        req += d
    at = req.index(b'\r\n\r\n') + 4
    seed, size = struct.unpack('<QI', req[at:at + 12])
    c.sendall(random.Random(seed).randbytes(size))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))


rec = TcpServer(s, recorder)
rst_src = TcpServer(s, resetting_source)


def config(port, bulk):
    return {'listeners': [listener('moves', port, [
    route('stream', stream.addr, protocol='http', host='stream.example'),
    route('sink', sink.addr, protocol='http', host='sink.example'),
    route('rec', rec.addr, protocol='http', host='rec.example'),
    route('rst', rst_src.addr, protocol='http', host='rst.example'),
    route('tls', stream.addr, protocol='tls', sni='moves.example'),
], data_plane='auto', bulk_plane=bulk, bulk_turn_bytes=16384, bulk_turns=2,
    max_connections_per_source=0)]}


def head(host):
    return b'PUT /m HTTP/1.1\r\nHost: %s\r\n\r\n' % host.encode()


def planes_of(lines):
    return sorted(set(d['plane'] for d in lines))


def t_both_ways():
    n = scaled(300, 20)
    m = pt.mark()
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'both', '-C', 50, '-N', n,
                                   '-s', '0:4m', '-S', SEED, '-P', hello_path, '--summary',
                                   timeout=slack(240))
    no_failures(rc, err, pt, 'ptstream both ways')
    lines = pt.conns_after(m, n, timeout=slack(30))
    eq([d['line'] for d in lines if d['end'] != 'done'][:2], [], 'lines not end=done')
    eq([p for p in planes_of(lines) if p not in ('copy', MOVED)], [], 'planes logged')
    moved = [d for d in lines if d['plane'] == MOVED]
    big = [d for d in lines if d['up'] > MiB and d['down'] > MiB]
    check(len(moved) >= len(big) // 2, '%d of %d connections moved (%d over 1 MiB each way)'
          % (len(moved), n, len(big)))
    print('measure: %d of %d connections moved to %s' % (len(moved), n, BULK))


def t_fin_random():
    n = scaled(200, 20)
    m = pt.mark()
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'upload', '-C', 40, '-N',
                                   n, '-s', '0:2m', '-S', SEED + 1, '--prefix-text',
                                   head('sink.example').decode(), '--summary',
                                   timeout=slack(240))
    no_failures(rc, err, pt, 'ptstream uploads')
    lines = pt.conns_after(m, n, timeout=slack(30))
    eq([d['line'] for d in lines if d['end'] != 'done'][:2], [], 'lines not end=done')


def reset(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def t_client_rst():
    rnd = random.Random(SEED + 2)
    n = scaled(40, 8)
    m = pt.mark()
    n0 = len(rec.records)
    sent = []
    for i in range(n):
        data = head('rec.example') + rnd.randbytes(rnd.randrange(0, MiB))
        c = connect(port, timeout=10)
        cut = rnd.randrange(len(head('rec.example')), len(data) + 1)
        try:
            c.sendall(data[:cut])
        except OSError:
            pass
        reset(c)
        sent.append(data[:cut])
    lines = pt.conns_after(m, n, timeout=slack(20))
    routed = sum(1 for d in lines if d.get('upstream', '-') != '-')
    # A client reset before routing never reaches the upstream.
    recs = wait_for(lambda: rec.records[n0:] if len(rec.records) >= n0 + routed else None,
                    slack(20), '%d upstream records' % routed)
    # The upstream's connections arrive in the clients' order only roughly:
    # match each record to a send it is a prefix of.
    left = list(sent)
    for r in sorted(recs, key=lambda r: -len(r['data'])):  # short ones match many
        if len(r['data']) <= len(head('rec.example')):
            continue
        hit = [k for k, d in enumerate(left) if d.startswith(r['data'])]
        check(hit, 'the upstream got %d bytes that are no prefix of any client\'s bytes'
              % len(r['data']))
        left.pop(hit[0])
    check(recs, 'some of the reset clients reached the upstream')
    ends = sorted(set(d['end'] for d in lines))
    eq([e for e in ends if e not in ('client-reset', 'client-gone', 'done')], [],
       'ends logged: %s' % ends)
    check('client-reset' in ends, 'at least one client-reset logged: %s' % ends)


def t_upstream_rst():
    rnd = random.Random(SEED + 3)
    n = scaled(30, 6)
    m = pt.mark()
    for i in range(n):
        size = rnd.randrange(0, 2 * MiB)
        seed = rnd.randrange(1 << 32)
        c = connect(port, timeout=10)
        c.sendall(head('rst.example') + struct.pack('<QI', seed, size))
        got, _ = read_to_end(c)
        c.close()
        want = random.Random(seed).randbytes(size)
        check(want.startswith(got), 'connection %d: %d bytes that are not a prefix of '
              'the %d the upstream sent' % (i, len(got), size))
    lines = pt.conns_after(m, n, timeout=slack(20))
    ends = sorted(set(d['end'] for d in lines))
    eq([e for e in ends if e not in ('upstream-reset', 'done')], [], 'ends logged: %s' % ends)
    check('upstream-reset' in ends, 'at least one upstream-reset logged: %s' % ends)


def planes(pt):
    """The data planes the daemon's startup line names ("copy+sockmap")."""
    m = wait_for(lambda: re.search(r', \d+ workers, data planes ([\w+]+)', pt.log()), 10,
                 'the startup line')
    return m.group(1)


def t_no_bpf(got):
    raise Skip('the kernel data plane did not load (data planes %s)' % got)


def t_copy_never_moves():
    raise Skip('the same listener (auto) as under auto and splice')


if DATA_PLANE in ('copy', 'sockmap'):
    s.test('plane moves', t_copy_never_moves)
else:
    for BULK in ('splice', 'sockmap'):
        MOVED = 'copy>' + BULK
        port = free_port()
        pt = Passthru(s, config(port, BULK), name='moves-' + BULK)
        if BULK == 'sockmap' and 'sockmap' not in planes(pt):
            s.test('moves to sockmap', t_no_bpf, planes(pt))
            pt.stop()
            continue
        s.test('both ways at once, 0..4 MiB, moves to %s at random points: byte-exact' % BULK,
               t_both_ways)
        s.test('uploads with FIN at random points, moves to %s: byte-exact' % BULK,
               t_fin_random)
        s.test('client RST at random points, %s: the upstream gets an in-order prefix' % BULK,
               t_client_rst)
        s.test('upstream RST at random points, %s: the client gets an in-order prefix' % BULK,
               t_upstream_rst)
        pt.stop()
s.finish()
