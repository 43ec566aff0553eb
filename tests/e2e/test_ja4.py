# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""JA4 routing: a route whose "ja4" prefix is curl's fingerprint takes curl to backend
A, openssl s_client (another fingerprint) falls through to backend B. The expected
fingerprints come from each client's real ClientHello, captured first and fingerprinted
by tests/tools/ja4ref.py (a second implementation), not by the daemon. Also: ja4= in
the text and JSON log lines, and in passthru-ctl conn show for a connection held open."""
import json
import os
import socket
import ssl
import subprocess
import sys

from ptharness import (Suite, Passthru, TlsBackend, TcpServer, s_client, curl, cert_cn, eq,
                       check, expect, listener, route, free_port, plane_ok, run, wait_for,
                       Fail, BUILD)

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
JA4REF = os.path.join(TOP, 'tests', 'tools', 'ja4ref.py')
CTL = os.path.join(BUILD, 'passthru-ctl')

s = Suite('ja4')
back_a = TlsBackend(s, 'a.example')
back_b = TlsBackend(s, 'b.example')


def capture(client):
    """The first flight client(port) sends to a server that never answers."""
    got = {}

    def handler(c, srv):
        buf = b''
        c.settimeout(5)
        while len(buf) < 5 or len(buf) < 5 + int.from_bytes(buf[3:5], 'big'):
            d = c.recv(65536)
            if not d:
                break
            buf += d
        got['hello'] = buf
        c.close()

    srv = TcpServer(s, handler)
    client(srv.port)
    srv.close()
    check(got.get('hello', b'')[:1] == b'\x16', 'captured a ClientHello')
    return got['hello']


def ja4ref(hello):
    path = s.write('hello-%d.bin' % len(os.listdir(s.dir)), hello)
    out = subprocess.run([sys.executable, JA4REF, path], capture_output=True, text=True,
                         check=True).stdout.split()
    check(len(out) == 2 and out[1] != '-', 'ja4ref.py fingerprinted the hello: %r' % out)
    return out[1]


def curl_to(port):
    return curl('-k', '--connect-timeout', '3', 'https://a.example:%d/' % port, '--resolve',
                'a.example:%d:127.0.0.1' % port)


def s_client_to(port):
    return s_client(port, 'b.example', request=False, timeout=5)


JA4_CURL = ja4ref(capture(lambda p: curl('-k', '--max-time', '3',
                                         'https://a.example:%d/' % p, '--resolve',
                                         'a.example:%d:127.0.0.1' % p)))
JA4_OPENSSL = ja4ref(capture(lambda p: s_client_to(p)))
print('curl %s, openssl s_client %s' % (JA4_CURL, JA4_OPENSSL))
# The shortest prefix (whole parts) of curl's fingerprint that openssl's does not share.
PREFIX = next((JA4_CURL[:n] + '*' for n in (10, 23) if JA4_CURL[:n] != JA4_OPENSSL[:n]),
              JA4_CURL)

port, json_port = free_port(), free_port()
routes = [route('curl', back_a.addr, protocol='tls', ja4=[PREFIX]),
          route('other-tls', back_b.addr, protocol='tls')]
pt = Passthru(s, {'listeners': [listener('front', port, routes, timeout_ms=5000)]})
ptj = Passthru(s, {'log_format': 'json',
                   'listeners': [listener('front', json_port, routes, timeout_ms=5000)]},
               name='passthru-json')


def t_differ():
    check(JA4_CURL != JA4_OPENSSL, 'curl and openssl s_client have different JA4s')


def t_curl():
    m = pt.mark()
    rc, out, err = curl('-kv', 'https://a.example:%d/' % port, '--resolve',
                        'a.example:%d:127.0.0.1' % port)
    eq(cert_cn(err), 'a.example', 'certificate curl saw (backend A)')
    expect(pt.conn_after(m), route='curl', proto='tls', sni='a.example', ja4=JA4_CURL,
           upstream=back_a.addr, plane=plane_ok)


def t_openssl():
    m = pt.mark()
    out = s_client(port, 'a.example')
    eq(cert_cn(out), 'b.example', 'certificate s_client saw (backend B)')
    expect(pt.conn_after(m), route='other-tls', proto='tls', sni='a.example',
           ja4=JA4_OPENSSL, upstream=back_b.addr)


def t_json():
    start = len(ptj.log())
    curl('-k', 'https://a.example:%d/' % json_port, '--resolve',
         'a.example:%d:127.0.0.1' % json_port)

    def conn():
        for line in ptj.log()[start:].splitlines():
            d = json.loads(line)
            if d.get('cat') == 'conn' and 'id' in d:
                return d
    d = wait_for(conn, 5, 'a JSON connection line')
    eq(d.get('ja4'), JA4_CURL, 'JSON "ja4"')
    eq(d.get('route'), 'curl', 'JSON "route"')


def t_conn_show():
    """A Python ssl client held open: conn show lists its fingerprint."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = pt.mark()
    raw = socket.create_connection(('127.0.0.1', port), timeout=5)
    c = ctx.wrap_socket(raw, server_hostname='py.example')
    inst = os.path.basename(pt.config_path)[:-len('.json')]
    try:
        def pairs():
            rc, out, err = run([CTL, '-j', 'conn', 'show', '--instance', inst])
            p = json.loads(out)['pairs'] if rc == 0 else []
            return p if p else None
        p = wait_for(pairs, 5, 'one pair in conn show')
        eq(len(p), 1, 'pairs listed')
        ja4 = p[0].get('ja4')
        check(ja4 and ja4.startswith('t13d'), 'conn show -j has the ja4: %r' % ja4)
        rc, out, err = run([CTL, 'conn', 'show', '--instance', inst])
        check('JA4' in out and ja4 in out, 'conn show table has a JA4 column: %r' % out)
    finally:
        c.close()
    expect(pt.conn_after(m), route='other-tls', sni='py.example', ja4=ja4)


def t_check():
    bad = dict(pt.config)
    bad['listeners'] = [listener('front', port, [
        route('x', back_a.addr, protocol='tls', ja4=['T13d*'])])]
    path = s.write('bad-ja4.json', json.dumps(bad))
    rc, out, err = run([os.path.join(BUILD, 'passthru'), '--check', '-c', path])
    check(rc != 0, '--check refuses a bad ja4 pattern')
    check('listeners[0].routes[0].match.ja4[0]: bad JA4 pattern "T13d*"' in err,
          'clear error: %r' % err)


s.test('curl and openssl s_client fingerprints differ', t_differ)
s.test('curl matches the ja4 prefix %s: backend A, ja4= logged' % PREFIX, t_curl)
s.test('openssl s_client falls through to backend B, its ja4 logged', t_openssl)
s.test('JSON log line carries "ja4"', t_json)
s.test('passthru-ctl conn show lists the JA4 of a live connection', t_conn_show)
s.test('--check: bad ja4 pattern', t_check)
s.finish()
