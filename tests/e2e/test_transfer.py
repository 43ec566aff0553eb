# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Bulk data through passthru: 200 MiB each way checked by sha256, half-close
in both orders, and 500 concurrent connections checked byte for byte.

Everything runs twice: on a listener with data_plane "splice" and on one
with the default data plane ("auto", or PT_DATA_PLANE when set), whose plane
the log reports.
"""
import hashlib
import random
import re
import socket
import subprocess

from ptharness import (Suite, Passthru, PtServer, TcpServer, PTSTREAM, connect,
                       recv_all, recv_until, eq, check, expect, listener, route, free_port,
                       plane_ok, ptstream_client, capture_client_hello, wait_for, no_failures)

s = Suite('transfer')
MiB = 1 << 20
BIG = 200 * MiB
SEED = 7

hello = capture_client_hello(s, 'stream.example')
hello_path = s.write('hello.bin', hello)

sink = PtServer(s, 'sink', name='sink')
source = PtServer(s, 'source', BIG, opts=['-S', str(SEED)], name='source')
stream = PtServer(s, 'stream', opts=['-P', hello_path], name='stream')
echo = PtServer(s, 'echo', name='echo')

REPLY = random.Random(1).randbytes(MiB)


def client_first(c, srv):
    """Reads to EOF, then answers with 1 MiB and closes."""
    got = recv_all(c)
    c.sendall(REPLY)
    srv.record(rx=len(got), sha=hashlib.sha256(got).hexdigest())


def upstream_first(c, srv):
    """Reads the request head, says bye and half-closes, then reads to EOF."""
    head = recv_until(c, b'\r\n\r\n')
    c.sendall(b'bye\n')
    c.shutdown(socket.SHUT_WR)
    rest = recv_all(c)
    got = head + rest
    srv.record(rx=len(got), sha=hashlib.sha256(got).hexdigest())


hc1 = TcpServer(s, client_first)
hc2 = TcpServer(s, upstream_first)


def routes():
    return [
        route('up', sink.addr, protocol='http', host='up.example'),
        route('down', source.addr, protocol='http', host='down.example'),
        route('echo', echo.addr, protocol='http', host='echo.example'),
        route('hc1', hc1.addr, protocol='http', host='hc1.example'),
        route('hc2', hc2.addr, protocol='http', host='hc2.example'),
        route('stream', stream.addr, protocol='tls', sni='stream.example'),
    ]


splice_port, auto_port = free_port(), free_port()
# 500 concurrent connections come from 127.0.0.1: no per-source limit.
auto = listener('auto', auto_port, routes(), max_connections_per_source=0)
pt = Passthru(s, {'listeners': [
    listener('splice', splice_port, routes(), data_plane='splice', max_connections_per_source=0),
    auto,
]})
PLANES = [('splice', splice_port, 'splice'), ('auto', auto_port, None)]


def gen_sha(prefix, idx, direction, n):
    """sha256 of prefix + n bytes of ptstream stream (SEED, idx, direction)."""
    h = hashlib.sha256(prefix)
    p = subprocess.Popen([PTSTREAM, 'gen', '-S', str(SEED), '-i', str(idx), '-d', direction,
                          '-n', str(n)], stdout=subprocess.PIPE)
    got = 0
    while True:
        d = p.stdout.read(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
    p.wait()
    eq(got, n, 'ptstream gen output length')
    return h.hexdigest()


def client_line(out):
    m = re.search(r'^#0 ok up=(\d+) down=(\d+) up_sha256=(\w+) down_sha256=(\w+) local=\S+$',
                  out, re.M)
    check(m, 'ptstream client reported the connection: %s' % out)
    return int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


def server_line(srv, n_before):
    lines = wait_for(lambda: len(srv.conn_lines()) > n_before and srv.conn_lines(), 5,
                     '%s connection line' % srv.name)
    d = lines[n_before]
    check(d['ok'], '%s: %s' % (srv.name, d['line']))
    return d


def t_upload(lname, port, plane):
    prefix = b'POST /upload HTTP/1.1\r\nHost: up.example\r\n\r\n'
    m = pt.mark()
    n0 = len(sink.conn_lines())
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'upload', '-s', BIG,
                                   '-S', SEED, '--prefix-text', prefix.decode(), '-v')
    eq(rc, 0, 'ptstream upload exit status (%s)' % err.strip())
    up, down, up_sha, _ = client_line(out)
    want_sha = gen_sha(prefix, 0, 'up', BIG)
    eq(up_sha, want_sha, 'sha256 of what the client sent')
    srv = server_line(sink, n0)
    eq((int(srv['rx']), srv['rx_sha256']), (len(prefix) + BIG, want_sha),
       'bytes and sha256 the sink received')
    # The sink's reply is "<sha256 hex> <count>\n"; the client checked it too.
    reply_len = 64 + 1 + len(str(len(prefix) + BIG)) + 1
    eq((up, down), (len(prefix) + BIG, reply_len), 'client byte counts')
    expect(pt.conn_after(m, timeout=10), listener=lname, route='up', proto='http',
           host='up.example', method='POST', upstream=sink.addr, plane=plane or plane_ok,
           end='done', up=len(prefix) + BIG, down=reply_len)


def t_download(lname, port, plane):
    prefix = b'GET /download HTTP/1.1\r\nHost: down.example\r\n\r\n'
    m = pt.mark()
    n0 = len(source.conn_lines())
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'download',
                                   '--no-header', '-s', BIG, '-S', SEED,
                                   '--prefix-text', prefix.decode(), '-v')
    eq(rc, 0, 'ptstream download exit status (%s)' % err.strip())
    up, down, _, down_sha = client_line(out)
    want_sha = gen_sha(b'', 0, 'down', BIG)
    eq((up, down, down_sha), (len(prefix), BIG, want_sha),
       'client: bytes sent, received, sha256 received')
    srv = server_line(source, n0)
    eq((int(srv['tx']), srv['tx_sha256']), (BIG, want_sha), 'bytes and sha256 the source sent')
    expect(pt.conn_after(m, timeout=10), listener=lname, route='down', proto='http',
           host='down.example', upstream=source.addr, plane=plane or plane_ok, end='done',
           up=len(prefix), down=BIG)


def t_halfclose_client(lname, port, plane):
    req = b'PUT /x HTTP/1.1\r\nHost: hc1.example\r\n\r\n'
    body = random.Random(2).randbytes(256 * 1024)
    m = pt.mark()
    n0 = len(hc1.records)
    c = connect(port)
    c.sendall(req + body)
    c.shutdown(socket.SHUT_WR)
    got = recv_all(c)
    c.close()
    eq((len(got), hashlib.sha256(got).digest()), (MiB, hashlib.sha256(REPLY).digest()),
       'reply received after our FIN (length, sha256)')
    rec = wait_for(lambda: len(hc1.records) > n0 and hc1.records[-1], 3, 'server record')
    eq((rec['rx'], rec['sha']), (len(req) + len(body), hashlib.sha256(req + body).hexdigest()),
       'what the server read before replying')
    expect(pt.conn_after(m), listener=lname, route='hc1', plane=plane or plane_ok, end='done',
           up=len(req) + len(body), down=MiB)


def t_halfclose_upstream(lname, port, plane):
    req = b'PUT /y HTTP/1.1\r\nHost: hc2.example\r\n\r\n'
    body = random.Random(3).randbytes(MiB)
    m = pt.mark()
    n0 = len(hc2.records)
    c = connect(port)
    c.sendall(req)
    eq(recv_all(c), b'bye\n', 'upstream said bye and half-closed')
    # Our direction is still open: keep sending after the upstream's FIN.
    c.sendall(body)
    c.shutdown(socket.SHUT_WR)
    rec = wait_for(lambda: len(hc2.records) > n0 and hc2.records[-1], 5, 'server record')
    c.close()
    eq((rec['rx'], rec['sha']), (len(req) + len(body), hashlib.sha256(req + body).hexdigest()),
       'what the upstream received after its own FIN')
    expect(pt.conn_after(m), listener=lname, route='hc2', plane=plane or plane_ok, end='done',
           up=len(req) + len(body), down=4)


def totals(out):
    m = re.search(r'(\d+) connections: (\d+) ok, (\d+) failed; up (\d+) bytes, down (\d+) bytes',
                  out)
    check(m, 'ptstream totals line')
    return [int(x) for x in m.groups()]


def t_concurrent(lname, port, plane, n=500):
    m = pt.mark()
    n0 = len(stream.conn_lines())
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'both', '-C', n, '-N', n,
                                   '-s', '0:256k', '-S', SEED, '-P', hello_path, '--summary',
                                   '-T', '60')
    no_failures(rc, err, pt, 'every connection byte-exact both ways')
    check('%d passed, 0 failed' % n in out, 'ptstream summary: %s' % out.strip())
    total, ok, failed, up, down = totals(out)
    lines = pt.conns_after(m, n, timeout=15)
    def want_plane(d):
        return d.get('plane') == plane if plane else plane_ok(d.get('plane'), d)
    bad = [d['line'] for d in lines if d.get('route') != 'stream' or d.get('end') != 'done' or
           d.get('sni') != 'stream.example' or d.get('listener') != lname or
           not want_plane(d)]
    eq(bad[:2], [], 'log lines that are not stream/done/%s' % lname)
    eq((sum(d['up'] for d in lines), sum(d['down'] for d in lines)), (up, down),
       'sum of up=/down= in the log vs what the clients sent and received')
    srv = [d for d in stream.conn_lines()[n0:]]
    eq(sum(1 for d in srv if d['ok']), n, 'stream server connections that checked out')


def t_sequential_both(lname, port, plane, n=200):
    # One at a time: the client's FIN arrives while the download is still in
    # flight, the case where a premature FIN towards the client shows up.
    m = pt.mark()
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'both', '-C', 1, '-N', n,
                                   '-s', '256k', '-S', SEED, '-P', hello_path, '-T', '60')
    no_failures(rc, err, pt, 'every connection byte-exact both ways')
    lines = pt.conns_after(m, n, timeout=15)
    eq([d['line'] for d in lines if d['end'] != 'done'][:3], [], 'lines with end other than done')


def t_echo_many(lname, port, plane):
    prefix = 'POST /echo HTTP/1.1\\r\\nHost: echo.example\\r\\n\\r\\n'
    m = pt.mark()
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'echo', '-C', 100,
                                   '-N', 300, '-s', '0:64k', '-S', SEED, '--prefix-text', prefix,
                                   '--summary', '-T', '60')
    no_failures(rc, err, pt, 'every echo byte-exact')
    total, ok, failed, up, down = totals(out)
    lines = pt.conns_after(m, 300, timeout=15)
    eq([d['line'] for d in lines if d['end'] != 'done'][:3], [], 'lines with end other than done')
    eq((sum(d['up'] for d in lines), sum(d['down'] for d in lines)), (up, down),
       'sum of up=/down= in the log')


for lname, port, plane in PLANES:
    tag = '[%s]' % lname
    s.test('%s 200 MiB upload, sha256 end to end' % tag, t_upload, lname, port, plane)
    s.test('%s 200 MiB download, sha256 end to end' % tag, t_download, lname, port, plane)
    s.test('%s half-close: client FIN first, reply after it' % tag, t_halfclose_client, lname,
           port, plane)
    s.test('%s half-close: upstream FIN first, client keeps sending' % tag,
           t_halfclose_upstream, lname, port, plane)
    s.test('%s 500 concurrent connections behind a ClientHello, random sizes, both ways' % tag,
           t_concurrent, lname, port, plane)
    s.test('%s 300 echo connections, 100 at a time, behind an HTTP request' % tag,
           t_echo_many, lname, port, plane)
    s.test('%s 200 sequential connections, 256 KiB both ways, client FIN during download' % tag,
           t_sequential_both, lname, port, plane)
s.finish()
