# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Byte-exact relaying through the kernel data plane.

  * 1 B, 1 MiB and 1 GiB uploaded to a sink and downloaded from a source,
    sha256 compared end to end (the uploading client waits 100 ms after its
    request head, so the connection is in the maps before its payload and
    FIN; the downloading client sends no FIN before the download's EOF);
  * 500 concurrent connections, random sizes 0..4 MiB both ways, seeded
    (500 ms pause after the request head: with 500 arriving at once the
    daemon may accept one long after the kernel did, and a FIN that comes
    before the hand-off sends the connection to splice, by design);
  * clients that send their first flight (an HTTP head or a captured TLS
    ClientHello) and the payload straight on, while passthru is still
    detecting, connecting and handing the pair to the kernel.

Every checked connection must have gone through plane=sockmap and its
-v counters must account for every byte. Also measured, not asserted: 1 GiB
upload throughput through sockmap, splice and no proxy at all (ptstream,
which checks every byte, and iperf3, which does not).
"""
import os
import shutil
import subprocess

from bpftest import (BpfSuite, PtServer, Proc, sockmap_daemon, listener, route, free_port,
                     ptstream_client, client_conns, client_totals, server_conn, sockmap_counters,
                     all_sockmap, conns_by_id, wait_for, connect, is_listening, check, eq, expect, Skip,
                     PTSTREAM, HTTP_PREFIX, KiB, MiB, GiB, LOAD_SCALE, scaled, slack, human)

s = BpfSuite('bpf-integrity')
SEED = 11
BIG = scaled(GiB, 16 * MiB)
SIZES = [('1 B', 1), ('1 MiB', MiB), (human(BIG), BIG)]
TLS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'tls')
HELLO = os.path.join(TLS_DIR, 'openssl-alpn.bin')  # SNI alpn.openssl.example
figures = []

sink = PtServer(s, 'sink', name='sink')
sources = {n: PtServer(s, 'source', n, opts=['-S', str(SEED)], name='source-%d' % n)
           for _, n in SIZES}
stream_http = PtServer(s, 'stream', opts=['--prefix-text', HTTP_PREFIX], name='stream-http')
stream_tls = PtServer(s, 'stream', opts=['-P', HELLO], name='stream-tls')


def routes():
    r = [route('up', sink.addr, protocol='http', host='up.example'),
         route('stream', stream_http.addr, protocol='http', host='bpf.example'),
         route('tls', stream_tls.addr, protocol='tls', sni='alpn.openssl.example'),
         route('tls-sink', sink.addr, protocol='tls', sni='openssl.example')]
    for _, n in SIZES:
        r.append(route('down-%d' % n, sources[n].addr, protocol='http',
                       host='down-%d.example' % n))
    return r


sm_port, sp_port = free_port(), free_port()
pt = None
try:
    # 500 at once from 127.0.0.1: no per-source limit.
    pt = sockmap_daemon(s, [listener('sm', sm_port, routes(), max_connections_per_source=0),
                            listener('sp', sp_port, routes(), data_plane='splice',
                                     max_connections_per_source=0)])
except Skip:
    pass


def up_prefix(host='up.example'):
    return 'POST /up HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % host


def plen(text):
    return len(text.replace('\\r', '\r').replace('\\n', '\n'))


def gen_sha(idx, direction, n, prefix=b''):
    """sha256 of prefix + n bytes of ptstream's stream (SEED, idx, direction)."""
    import hashlib
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
    eq(got, n, 'ptstream gen length')
    return h.hexdigest()


def check_counters(cid, up, down):
    """The -v counters of connection cid account for exactly up/down bytes."""
    c = wait_for(lambda: sockmap_counters(pt).get(cid), 5, 'sockmap counters of #%d' % cid)
    for d, want in (('up', up), ('down', down)):
        k = c[d]
        eq(k['redirected'] + k['consumed'], want,
           '#%d %s: redirected + consumed (bytes through the kernel + by the daemon)' % (cid, d))
        eq(k['passed'], k['consumed'], '#%d %s: every passed byte written by the daemon' % (cid, d))
        eq(k['redirect_fail'], 0, '#%d %s: redirect_fail' % (cid, d))


def t_upload(size):
    s.need_bpf()
    prefix = up_prefix()
    m = pt.mark()
    n0 = len(sink.conn_lines())
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % sm_port, '-m', 'upload', '-s', size,
                                   '-S', SEED, '--prefix-text', prefix, '-g', 100, '-v',
                                   timeout=slack(90))
    eq(rc, 0, 'ptstream upload exit status (%s)' % err.strip()[:300])
    (idx, up, down, up_sha, down_sha), = client_conns(out)
    total = plen(prefix) + size
    eq(up, total, 'bytes the client sent')
    srv = server_conn(sink, n0)
    eq((int(srv['rx']), srv['rx_sha256']), (total, up_sha),
       'bytes and sha256 the sink received vs what the client sent')
    if size <= MiB:
        eq(up_sha, gen_sha(0, 'up', size, prefix.replace('\\r', '\r').replace('\\n', '\n')
                           .encode()), 'sha256 of the client stream vs ptstream gen')
    d = pt.conn_after(m, timeout=20)
    expect(d, route='up', plane='sockmap', end='done', up=total, down=down)
    check_counters(d['id'], total, down)
    if size == BIG:
        t = client_totals(out)['secs']
        figures.append('%s upload, sockmap, ptstream (checked): %.0f MiB/s' % (human(BIG), BIG / MiB / t))


def py_download(port, prefix, size):
    """Send prefix, read to EOF hashing (never half-closing first, so the
    connection is in the maps before anything ends); (bytes, sha256, secs)."""
    import hashlib
    import time
    c = connect(port, timeout=60)
    t0 = time.monotonic()
    c.sendall(prefix)
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    n = 0
    while True:
        k = c.recv_into(buf)
        if not k:
            break
        h.update(view[:k])
        n += k
    secs = time.monotonic() - t0
    c.close()
    return n, h.hexdigest(), secs


def t_download(size):
    s.need_bpf()
    prefix = b'GET /dl HTTP/1.1\r\nHost: down-%d.example\r\n\r\n' % size
    m = pt.mark()
    n0 = len(sources[size].conn_lines())
    n, sha, secs = py_download(sm_port, prefix, size)
    eq(n, size, 'bytes the client received before EOF')
    srv = server_conn(sources[size], n0)
    eq((int(srv['tx']), srv['tx_sha256']), (size, sha),
       'bytes and sha256 the source sent vs what the client received')
    if size <= MiB:
        eq(sha, gen_sha(0, 'down', size), 'sha256 received vs ptstream gen')
    d = pt.conn_after(m, timeout=20)
    expect(d, route='down-%d' % size, plane='sockmap', end='done', up=len(prefix), down=size)
    check_counters(d['id'], len(prefix), size)
    if size == BIG:
        figures.append('%s download, sockmap, python client (checked): %.0f MiB/s' % (
            human(BIG), BIG / MiB / secs))


def many(n, conc, sizes, prefix_args, gap, route_name, deadline=90):
    """n ptstream 'both' connections, conc at a time; all byte-exact, all sockmap."""
    s.need_bpf()
    m = pt.mark()
    args = ['-c', '127.0.0.1:%d' % sm_port, '-m', 'both', '-C', conc, '-N', n, '-s', sizes,
            '-S', SEED, '-v', '--summary', '-T', deadline] + prefix_args
    if gap:
        args += ['-g', gap]
    rc, out, err = ptstream_client(*args, timeout=deadline + 30)
    fails = [l for l in err.splitlines() if 'FAIL' in l]
    eq((rc, fails[:3]), (0, []), 'ptstream: every connection byte-exact both ways')
    check('%d passed, 0 failed' % n in out, 'ptstream summary: %s' % out.strip()[-200:])
    tot = client_totals(out)
    lines = pt.conns_after(m, n, timeout=30)
    all_sockmap(lines)
    bad = [d['line'] for d in lines if d.get('route') != route_name or d.get('end') != 'done']
    eq(bad[:2], [], 'log lines with another route or end')
    eq((sum(d['up'] for d in lines), sum(d['down'] for d in lines)), (tot['up'], tot['down']),
       'sum of up=/down= in the log vs what the clients sent and received')
    counters = wait_for(lambda: (lambda c: c if all(d['id'] in c for d in lines) else None)(
        sockmap_counters(pt)), 5, 'counters of every connection')
    for d in lines:
        k = counters[d['id']]
        for dname in ('up', 'down'):
            eq(k[dname]['redirect_fail'], 0, '#%d %s redirect_fail' % (d['id'], dname))
            eq(k[dname]['redirected'] + k[dname]['consumed'], d[dname],
               '#%d %s: counters vs the log line' % (d['id'], dname))
    return tot, lines


N_CONC = scaled(500, 20)


def t_concurrent():
    tot, lines = many(N_CONC, N_CONC, '0:4m', ['--prefix-text', HTTP_PREFIX], 500, 'stream', 120)
    figures.append('%d concurrent, 0..4 MiB both ways: %.0f MiB total in %.1f s' % (
        N_CONC, (tot['up'] + tot['down']) / MiB, tot['secs']))


def t_straight_on_tls():
    """ClientHello then payload at once, no pause; sizes big enough that the
    client cannot have sent its FIN before the hand-off (its window is
    closed while passthru only peeks)."""
    many(scaled(100, 10), scaled(100, 10), '1m:3m', ['-P', HELLO], 0, 'tls')


def t_straight_on_http():
    many(scaled(100, 10), scaled(100, 10), '1m:3m', ['--prefix-text', HTTP_PREFIX], 0, 'stream')


def t_straight_on_upload():
    """Upload to the sink right behind a ClientHello: the first flight and the
    first payload bytes are in the queue before insertion."""
    s.need_bpf()
    m = pt.mark()
    n = scaled(50, 5)
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % sm_port, '-m', 'upload', '-C', n,
                                   '-N', n, '-s', '2m:8m', '-S', SEED, '-P',
                                   os.path.join(TLS_DIR, 'openssl-sni.bin'), '--summary',
                                   timeout=slack(90))
    eq(rc, 0, 'ptstream upload behind a ClientHello (%s)' % err.strip()[:300])
    lines = pt.conns_after(m, n, timeout=20)
    all_sockmap(lines)
    eq(sorted(set((d['route'], d['end']) for d in lines)), [('tls-sink', 'done')],
       'routes and end reasons')


def iperf(port, what):
    """iperf3 1 GiB upload to port; Gbit/s as the receiver counted it."""
    import json
    rc, out, err = run_cmd(['iperf3', '-c', '127.0.0.1', '-p', str(port), '-n', '1G', '-J'], 60)
    eq(rc, 0, 'iperf3 %s (%s)' % (what, err.strip()[:200]))
    j = json.loads(out)
    return j['end']['sum_received']['bits_per_second'] / 1e9


def run_cmd(argv, timeout):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def t_throughput():
    if LOAD_SCALE < 1:
        raise Skip('a measurement: not run with PT_LOAD_SCALE < 1')
    """Measured, not asserted (beyond byte-exactness and the plane)."""
    s.need_bpf()
    res = {}
    prefix = up_prefix()
    for name, port in (('splice', sp_port), ('direct', None)):
        n0 = len(sink.conn_lines())
        if port:
            args = ['-c', '127.0.0.1:%d' % port, '--prefix-text', prefix, '-g', 100]
        else:
            args = ['-c', sink.addr]
        m = pt.mark()
        rc, out, err = ptstream_client(*(args + ['-m', 'upload', '-s', GiB, '-S', SEED, '-v']),
                                       timeout=90)
        eq(rc, 0, 'ptstream 1 GiB upload, %s (%s)' % (name, err.strip()[:200]))
        (idx, up, down, up_sha, _), = client_conns(out)
        srv = server_conn(sink, n0)
        eq(srv['rx_sha256'], up_sha, 'sha256 at the sink, %s' % name)
        if port:
            expect(pt.conn_after(m, timeout=20), plane='splice', end='done')
        res[name] = GiB / MiB / client_totals(out)['secs']
    figures.append('1 GiB upload, ptstream (checked): splice %.0f MiB/s, direct %.0f MiB/s' % (
        res['splice'], res['direct']))
    if not shutil.which('iperf3'):
        figures.append('iperf3 not installed: no unchecked throughput figures')
        return
    port = free_port()
    srv = Proc(s, 'iperf3', ['iperf3', '-s', '-B', '127.0.0.1', '-p', str(port)])
    wait_for(lambda: is_listening(port) or not srv.alive(), 5, 'iperf3 server')
    ipt = sockmap_daemon(s, [listener('sm', free_port(), [route('all', '127.0.0.1:%d' % port)]),
                             listener('sp', free_port(), [route('all', '127.0.0.1:%d' % port)],
                                      data_plane='splice')], name='iperf-pt')
    g = {}
    for rnd in range(2):
        for name, p in (('sockmap', ipt.port(0)), ('splice', ipt.port(1)), ('direct', port)):
            m = ipt.mark()
            g.setdefault(name, []).append(iperf(p, name))
            if name != 'direct':
                lines = ipt.conns_after(m, 2, timeout=10)
                check(all(d['plane'] == name for d in lines),
                      'iperf3 connections went through %s: %s' % (name, lines[0]['line']))
    figures.append('1 GiB upload, iperf3 (unchecked), Gbit/s, 2 rounds: ' + ', '.join(
        '%s %s' % (k, '/'.join('%.1f' % x for x in v)) for k, v in g.items()))
    ipt.stop()
    srv.stop()


for name, n in SIZES:
    s.test('%s upload through sockmap, sha256 end to end' % name, t_upload, n)
    s.test('%s download through sockmap, sha256 end to end' % name, t_download, n)
s.test('%d concurrent connections, random 0..4 MiB both ways, all sockmap' % N_CONC, t_concurrent)
s.test('ClientHello then payload without pause, %d at once, both ways' % scaled(100, 10),
       t_straight_on_tls)
s.test('HTTP head then payload without pause, %d at once, both ways' % scaled(100, 10),
       t_straight_on_http)
s.test('upload right behind a ClientHello, %d at once, to a sink' % scaled(50, 5),
       t_straight_on_upload)
s.test('throughput: sockmap vs splice vs direct (measured)', t_throughput)
if pt:
    pt.stop()
for f in figures:
    print('measure: ' + f)
s.finish()
