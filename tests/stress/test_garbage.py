# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Garbage and protocol abuse (issue 7, item 4).

Inputs built by hand and by mutating the captured ClientHellos in
tests/data/tls/: random bytes, TLS record and handshake headers that claim
64 KiB and 16 MiB, ClientHellos with 1,000 extensions (well-formed, with a
duplicate, and too big for the window), server names of 300 characters and
with NUL bytes, a NUL in the Host header and in the request target, HTTP
request lines of 64 KiB, bytes after the ClientHello in the same segment.
Each goes to two listeners, timeout_ms 5000:

  catch   tls sni=good.example, http host=good.example, then an "unknown"
          route and an "any" route (banner backends say which route)
  strict  the same tls and http routes only

Documented outcomes (README "Config reference": a malformed ClientHello is
not "TLS without SNI" and falls through to any/unknown routes; max_bytes is
the detection window): catch routes a malformed input to "unknown" with
proto=unknown and why="..." naming the problem, byte-exact; strict closes it
with end=no-route at the parse error or when the window is full, well
before the deadline (the README does not say when; user/detect.c and
user/detectors/*.c decide at the first malformation, and conn.c on a full
window). A well-formed hello is TLS whatever its size or extension count,
and bytes after it are relayed untouched. After each input a normal client
still gets through.

Then a few thousand seeded random and mutated inputs (each followed by the
client's FIN) through both listeners: each closed promptly, one log line
each with the expected end, echoes byte-exact, no descriptor growth, the
daemon alive and serving.
"""
import os
import random
import socket
import struct
import threading
import time

from stresslib import (StressSuite, PtServer, daemon, fd_kinds, rss_bytes, no_leaks, connect,
                       check, eq, expect, wait_for, listener, route, free_port,
                       between, slack, mib)

s = StressSuite('stress-garbage')
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'tls')
TIMEOUT_MS = 5000
SEED = int(os.environ.get('PT_STRESS_SEED', '7'))
N_RANDOM = int(os.environ.get('PT_STRESS_GARBAGE_N', '5000'))
figures = []


# --- ClientHellos ------------------------------------------------------------------------


def u16(n):
    return struct.pack('!H', n)


def u24(n):
    return struct.pack('!I', n)[1:]


def handshake_of(records):
    """The handshake bytes carried by a run of TLS records."""
    out, off = b'', 0
    while off + 5 <= len(records):
        n = struct.unpack('!H', records[off + 3:off + 5])[0]
        out += records[off + 5:off + 5 + n]
        off += 5 + n
    return out


def parse_hello(records):
    """A captured ClientHello as (fixed part, [(ext type, ext data)])."""
    hs = handshake_of(records)
    check(hs[0] == 1, 'a ClientHello')
    body = hs[4:4 + int.from_bytes(hs[1:4], 'big')]
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + struct.unpack('!H', body[p:p + 2])[0]
    p += 1 + body[p]
    fixed, exts, q = body[:p], [], p + 2
    while q < len(body):
        t, n = struct.unpack('!HH', body[q:q + 4])
        exts.append((t, body[q + 4:q + 4 + n]))
        q += 4 + n
    return fixed, exts


def build_hello(fixed, exts, record_max=16384, hs_len=None, rec_len=None):
    """Records carrying a ClientHello; hs_len/rec_len override the lengths
    the headers claim (the first record's, for rec_len)."""
    eb = b''.join(u16(t) + u16(len(d)) + d for t, d in exts)
    body = fixed + u16(len(eb)) + eb
    hs = b'\x01' + u24(len(body) if hs_len is None else hs_len) + body
    out = b''
    for off in range(0, len(hs), record_max):
        chunk = hs[off:off + record_max]
        n = len(chunk) if rec_len is None or off else rec_len
        out += b'\x16\x03\x01' + u16(n) + chunk
    return out


def sni_ext(name):
    entry = b'\x00' + u16(len(name)) + name
    return (0, u16(len(entry)) + entry)


with open(os.path.join(DATA, 'openssl-sni.bin'), 'rb') as f:
    FIXED, EXTS = parse_hello(f.read())
OTHER = [(t, d) for t, d in EXTS if t != 0]
GOOD = b'good.example'


def hello(name=GOOD, extra=(), **kw):
    return build_hello(FIXED, [sni_ext(name)] + OTHER + list(extra), **kw)


def many_exts(n, size=0, start=0x3000):
    """n extensions of unassigned types, size bytes of data each."""
    return [(start + i, bytes(size)) for i in range(n)]


def http(target=b'/', host=GOOD, tail=b''):
    return b'GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (target, host, tail)


# --- daemon ------------------------------------------------------------------------------

BANNERS = {n: PtServer(s, 'banner', n + '\\n', name='banner-' + n)
           for n in ('tls', 'http', 'unk', 'any', 'big')}
catch_port, strict_port, big_port = free_port(), free_port(), free_port()


def main_routes():
    return [route('tls', BANNERS['tls'].addr, protocol='tls', sni='good.example'),
            route('http', BANNERS['http'].addr, protocol='http', host='good.example')]


pt = daemon(s, [
    listener('catch', catch_port, main_routes() + [
        route('unk', BANNERS['unk'].addr, protocol='unknown'),
        route('any', BANNERS['any'].addr)], timeout_ms=TIMEOUT_MS),
    listener('strict', strict_port, main_routes(), timeout_ms=TIMEOUT_MS),
    listener('big', big_port, [
        route('http', BANNERS['big'].addr, protocol='http', host='good.example'),
        route('unk', BANNERS['unk'].addr, protocol='unknown')],
        timeout_ms=TIMEOUT_MS, max_bytes=65536),
], 'splice', name='garbage')
tried = {'cases': 0, 'random': 0}


def exchange(port, data, want_reply_len, timeout=5, fin=False, source=None):
    """Send data (a writer thread: the daemon may stop reading), optionally
    FIN, read until want_reply_len bytes or the close; returns (reply, how,
    seconds, local address)."""
    c = connect(port, source=source, timeout=timeout)
    local = '%s:%d' % c.getsockname()
    t0 = time.monotonic()
    errs = []

    def writer():
        try:
            c.sendall(data)
            if fin:
                c.shutdown(socket.SHUT_WR)
        except OSError as e:
            errs.append(e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    got, how = b'', 'timeout'
    c.settimeout(timeout)
    try:
        while want_reply_len is None or len(got) < want_reply_len:
            d = c.recv(65536)
            if not d:
                how = 'eof'
                break
            got += d
        else:
            how = 'complete'
    except ConnectionResetError:
        how = 'reset'
    except socket.timeout:
        how = 'timeout'
    took = time.monotonic() - t0
    w.join(timeout)
    c.close()
    return got, how, took, local


def line_for(local, mark, timeout=5):
    """The log line of the connection from local (logged when it ends)."""
    return wait_for(lambda: [d for d in pt.conns()[mark:] if d['client'] == local], timeout,
                    'the log line for %s' % local)[0]


def still_serving():
    """A normal client right after: a good ClientHello and a good request."""
    for data, name in ((hello(), 'tls'), (http(), 'http')):
        got, how, took, _ = exchange(catch_port, data, len(name) + 1 + len(data))
        eq(got, name.encode() + b'\n' + data, 'a normal %s client right after' % name)


def t_routed(data, want_route, port=catch_port, banner=None, **want):
    """data is routed to want_route and relayed byte-exact."""
    banner = banner or want_route
    m = pt.mark()
    reply = banner.encode() + b'\n' + data
    got, how, took, local = exchange(port, data, len(reply))
    check(got == reply, 'reply: %d bytes, want %d (%s)' % (len(got), len(reply), how))
    d = line_for(local, m)
    expect(d, route=want_route, up=len(data), **want)
    tried['cases'] += 1
    still_serving()
    return d


def t_refused(data, why):
    """catch: unknown route, why=...; strict: no-route at once, same why."""
    d = t_routed(data, 'unk', proto='unknown', why=why, dur=between(0, slack(1)))
    m = pt.mark()
    got, how, took, local = exchange(strict_port, data, None, timeout=TIMEOUT_MS / 1000 + 3)
    check(got == b'' and how in ('eof', 'reset') and took < slack(1),
          'strict listener closed it at once (%s after %.2f s, %d bytes back)' % (
              how, took, len(got)))
    expect(line_for(local, m), listener='strict', route='-', proto='unknown', why=why,
           end='no-route', dur=between(0, slack(1)))
    tried['cases'] += 1
    return d


rng = random.Random(SEED)
RANDOM_2K = bytes([1]) + bytes(rng.randrange(256) for _ in range(1999))
NAME_300 = b'.'.join([b'a' * 60] * 4) + b'.' + b'b' * 55  # 299 bytes in 63-byte labels
assert len(NAME_300) == 299
LONG_TARGET = b'/' + b'a' * 65536
BIG_OK_TARGET = b'/' + b'b' * 60000
TRAILING = bytes(rng.randrange(256) for _ in range(3000))

CASES = [
    ('random bytes (2,000)', t_refused, RANDOM_2K, 'no detector recognised the first bytes'),
    ('TLS record header claiming 64 KiB (the most 16 bits say)', t_refused,
     hello(rec_len=0xffff), 'tls: record length exceeds 2^14'),
    ('TLS handshake header claiming 16 MiB', t_refused, hello(hs_len=0xffffff),
     'tls: ClientHello larger than window'),
    ('empty TLS record', t_refused, b'\x16\x03\x01\x00\x00' + hello(),
     'tls: empty handshake record'),
    ('ClientHello with 1,000 extensions, SNI twice', t_refused,
     hello(extra=many_exts(999) + [sni_ext(b'evil.example')]),
     'tls: duplicate extension 0x0000'),
    ('ClientHello with 1,000 extensions of 16 bytes (> max_bytes 16384)', t_refused,
     hello(extra=many_exts(1000, 16)), 'tls: truncated ClientHello'),
    ('SNI of 299 characters', t_refused, hello(NAME_300),
     'tls: server name longer than 253 bytes'),
    ('SNI with a NUL inside', t_refused, hello(b'good.example\0.evil.example'),
     'tls: server name contains a NUL byte'),
    ('SNI with a trailing NUL', t_refused, hello(GOOD + b'\0'),
     'tls: server name contains a NUL byte'),
    ('SNI not a host name', t_refused, hello(b'good example!'), 'tls: invalid server name'),
    ('Host with a NUL', t_refused, http(host=b'good.example\0.evil'), 'http: invalid Host'),
    ('NUL in the request target', t_refused, http(target=b'/a\0b'),
     'http: bad character in request target'),
    ('HTTP request line of 64 KiB (> max_bytes 16384)', t_refused, http(target=LONG_TARGET),
     'http: truncated request line'),
]


def t_1000_exts():
    data = hello(extra=many_exts(1000))
    check(len(data) < 16384, 'fits the window')
    for port, lname in ((catch_port, 'catch'), (strict_port, 'strict')):
        t_routed(data, 'tls', port=port, listener=lname, proto='tls', sni='good.example',
                 end='done')


def t_trailing():
    data = hello() + TRAILING
    for port, lname in ((catch_port, 'catch'), (strict_port, 'strict')):
        t_routed(data, 'tls', port=port, listener=lname, proto='tls', sni='good.example',
                 end='done')


def t_one_byte_records():
    # Legal (RFC 8446 §5.1) and used by censorship-evasion tools.
    data = hello(record_max=1)
    t_routed(data, 'tls', port=strict_port, proto='tls', sni='good.example', end='done')


def t_big_request_fits():
    # With max_bytes 65536 a 60 KB request line is read whole; the path is cut in the log.
    data = http(target=BIG_OK_TARGET)
    t_routed(data, 'http', port=big_port, banner='big', proto='http', host='good.example',
             path=lambda p: p.endswith('...'), end='done')


def t_big_request_over():
    data = http(target=LONG_TARGET)
    t_routed(data, 'unk', port=big_port, proto='unknown', why='http: truncated request line',
             end='done')


# --- random inputs ---------------------------------------------------------------------------

HELLOS = []
for fn in sorted(os.listdir(DATA)):
    if fn.endswith('.bin'):
        with open(os.path.join(DATA, fn), 'rb') as f:
            HELLOS.append(f.read())
REQUESTS = [http(), http(b'/x?y=1', b'good.example:8080', b'Accept: */*\r\n'),
            b'CONNECT good.example:443 HTTP/1.1\r\n\r\n', b'SSH-2.0-OpenSSH_9.2\r\n',
            b'\x05\x01\x00', b'\x04\x01\x00\x50\x7f\x00\x00\x01user\x00',
            b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']


def random_input(r):
    kind = r.randrange(5)
    if kind == 0:
        return 'random', bytes(r.randrange(256) for _ in range(r.randrange(1, 3000)))
    if kind == 1:
        base = bytearray(r.choice(HELLOS))
    elif kind == 2:
        base = bytearray(r.choice(REQUESTS))
    elif kind == 3:
        base = bytearray(b'\x16\x03' + bytes([r.randrange(5)]) + bytes(
            r.randrange(256) for _ in range(r.randrange(2, 600))))
    else:
        base = bytearray(r.choice(HELLOS) + r.choice(REQUESTS))
    for _ in range(r.randrange(1, 9)):
        op = r.randrange(4)
        i = r.randrange(len(base))
        if op == 0:
            base[i] = r.randrange(256)
        elif op == 1:
            base[i] ^= 1 << r.randrange(8)
        elif op == 2:
            del base[i:i + r.randrange(1, 16)]
        else:
            base[i:i] = bytes(r.randrange(256) for _ in range(r.randrange(1, 16)))
        if not base:
            base = bytearray(b'\0')
    if r.randrange(4) == 0:
        base = base[:r.randrange(1, len(base) + 1)]
    return ['', 'hello', 'request', 'tls-header', 'hello+request'][kind], bytes(base)


def t_random():
    r = random.Random(SEED)
    inputs = [random_input(r) for _ in range(N_RANDOM)]
    pid = pt.proc.pid
    base_fds = idle_fds
    rss0 = rss_bytes(pid)
    m = pt.mark()
    results = [None] * len(inputs)
    banners = {b'%s\n' % n.encode(): n for n in BANNERS}

    def worker(k, n_threads):
        for i in range(k, len(inputs), n_threads):
            port = catch_port if i % 2 == 0 else strict_port
            src = '127.0.0.5' if i % 2 == 0 else '127.0.0.6'
            try:
                results[i] = exchange(port, inputs[i][1], None, timeout=slack(3), fin=True,
                                      source=src)
            except OSError as e:
                results[i] = (b'', 'error %s' % e, 0, None)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k, 4), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    check(pt.proc.alive(), 'the daemon is alive after %d inputs' % len(inputs))
    lines = wait_for_lines(m, len(inputs))
    by_client = {}
    for d in lines:
        by_client.setdefault(d['client'], []).append(d)
    bad, routes = [], {}
    for i, ((kind, data), (got, how, took, local)) in enumerate(zip(inputs, results)):
        what = 'input %d (%s, %d bytes)' % (i, kind, len(data))
        if how not in ('eof', 'reset') or took > slack(2):
            bad.append('%s: %s after %.2f s' % (what, how, took))
            continue
        ds = by_client.get(local)
        if not ds:
            bad.append('%s: no log line for %s' % (what, local))
            continue
        d = ds.pop(0)
        routes[d['route']] = routes.get(d['route'], 0) + 1
        if i % 2 == 0:
            head = got.split(b'\n', 1)[0] + b'\n'
            name = banners.get(head)
            if d['end'] != 'done' or name is None or got != head + data or (
                    d['route'] != name):
                bad.append('%s: reply %r... (%s), log: %s' % (what, got[:12], how, d['line']))
        elif d['end'] not in ('done', 'no-route') or (d['end'] == 'done' and got[4:] != data and
                                                        got[5:] != data):
            bad.append('%s: %s' % (what, d['line']))
    check(not bad, '%d of %d inputs went wrong, e.g.:\n    %s' % (
        len(bad), len(inputs), '\n    '.join(bad[:5])))
    checked = no_leaks(pt, base_fds, 'splice', 'after %d random inputs' % len(inputs))
    still_serving()
    rss1 = rss_bytes(pid)
    tried['random'] += len(inputs)
    figures.append('random inputs: %d (seed %d) in %.1f s, outcomes by route %s; %s; RSS %.1f -> '
                   '%.1f MiB' % (len(inputs), SEED, secs, dict(sorted(routes.items())), checked,
                                 mib(rss0), mib(rss1)))


def wait_for_lines(mark, n, timeout=20):
    deadline = time.monotonic() + slack(timeout)
    while True:
        lines = pt.conns()[mark:]
        if len(lines) >= n or time.monotonic() > deadline:
            check(len(lines) == n, '%d log lines for %d connections' % (len(lines), n))
            return lines
        time.sleep(0.1)


pid0 = pt.proc.pid
still_serving()
time.sleep(0.3)
idle_fds = fd_kinds(pid0)
for name, fn, data, why in CASES:
    s.test(name, fn, data, why)
s.test('ClientHello with 1,000 extensions (well-formed): routed by its SNI', t_1000_exts)
s.test('bytes after the ClientHello in the same segment: routed, relayed untouched', t_trailing)
s.test('ClientHello in 1-byte TLS records: routed by its SNI', t_one_byte_records)
s.test('max_bytes 65536: a 60 KB request line is read whole (path cut in the log)',
       t_big_request_fits)
s.test('max_bytes 65536: a request line over 64 KiB is unknown at the window limit',
       t_big_request_over)
s.test('%d seeded random and mutated inputs: closed promptly, logged, byte-exact, no leak' %
       N_RANDOM, t_random)


def t_leaks():
    figures.append('after everything: %s' % no_leaks(pt, idle_fds, 'splice'))


s.test('no descriptor left behind', t_leaks)
print('figures:')
print('  hand-made inputs tried: %d (each on catch and strict, or on the listener it needs)' %
      tried['cases'])
for f in figures:
    print('  ' + f)
s.finish()
