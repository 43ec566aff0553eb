# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Stacked protocols: passthru terminates SOCKS5 and HTTP CONNECT itself
("terminate" on a listener), detects again inside the tunnel and routes by
the inner TLS SNI and the requested destination, with real curl clients
(--socks5-hostname, -x socks5h://user:pass@, -x http:// CONNECT) and two
openssl s_server backends. The client asks for "localhost:PORT" and
--connect-to keeps the inner SNI at alpha.example / beta.example, so the
SNI, not the requested name, decides."""
import json
import os
import socket
import ssl
import subprocess

from ptharness import (Suite, Passthru, TlsBackend, eq, check, expect, listener, route,
                       free_port, curl, cert_cn, plane_ok, closed_port, run, wait_for, BUILD)

CTL = os.path.join(BUILD, 'passthru-ctl')

s = Suite('stack')
alpha = TlsBackend(s, 'alpha.example')
beta = TlsBackend(s, 'beta.example')
port_open, port_auth = free_port(), free_port()
dead = closed_port()


def routes():
    return [
        # alpha: where the client asked, if that is alpha's port
        route('alpha', 'requested', protocol='tls', sni='alpha.example', dst_port=alpha.port),
        # beta: wherever the client asked, to the beta backend
        route('beta', beta.addr, protocol='tls', sni='beta.example'),
        # a name that does not resolve must not reach a lookup-free route
        route('dead', 'requested', protocol='tls', sni='dead.example', dst_host='localhost'),
    ]


pt = Passthru(s, {'listeners': [
    listener('open', port_open, routes(), terminate={
        'socks5': {}, 'http_connect': {'ports': [alpha.port, beta.port, dead, port_open]}}),
    listener('auth', port_auth, routes(), terminate={
        'socks5': {'users': {'alice': 'secret', 'bob': 'hunter2'}}}),
]})


def tunnel(proxy, sni, asked_port, *extra):
    """curl https://SNI:ASKED_PORT through @proxy, its TCP connection asked
    of the proxy as localhost:ASKED_PORT."""
    return curl('-v', '-k', '-x', proxy, '--connect-to',
                '%s:%d:localhost:%d' % (sni, asked_port, asked_port),
                'https://%s:%d/' % (sni, asked_port), *extra)


def ok(proxy, outer, sni, asked_port, want_route, upstream):
    m = pt.mark()
    rc, out, err = tunnel(proxy, sni, asked_port)
    eq(rc, 0, 'curl exit status (%s)' % err[-300:])
    eq(cert_cn(err), sni, 'certificate CN curl saw')
    check('s_server' in out, 's_server -www answered through the tunnel')
    expect(pt.conn_after(m), proto='%s>tls' % outer, sni=sni, route=want_route,
           requested='localhost:%d' % asked_port, upstream=upstream, end='done', plane=plane_ok)


def refused(proxy, outer, sni, asked_port, rc_want, why, end='rejected', requested=None):
    m = pt.mark()
    rc, out, err = tunnel(proxy, sni, asked_port)
    check(rc != 0, 'curl failed (%s)' % err[-200:])
    if rc_want:
        eq(rc, rc_want, 'curl exit status (%s)' % err[-200:])
    want = dict(proto=lambda v: v.startswith(outer), end=end, why=why)
    if requested:
        want['requested'] = requested
    expect(pt.conn_after(m), **want)
    return err


SOCKS = 'socks5h://127.0.0.1:%d' % port_open
AUTH = 'socks5h://alice:secret@127.0.0.1:%d' % port_auth
HTTP = 'http://127.0.0.1:%d' % port_open

s.test('socks5 (no auth) sni alpha.example -> requested localhost:alpha', ok, SOCKS, 'socks5',
       'alpha.example', alpha.port, 'alpha', '127.0.0.1:%d' % alpha.port)
s.test('socks5 (no auth) sni beta.example -> beta backend', ok, SOCKS, 'socks5', 'beta.example',
       alpha.port, 'beta', beta.addr)
s.test('socks5 user/password sni alpha.example -> alpha', ok, AUTH, 'socks5', 'alpha.example',
       alpha.port, 'alpha', '127.0.0.1:%d' % alpha.port)
s.test('socks5 user/password sni beta.example -> beta', ok, AUTH, 'socks5', 'beta.example',
       beta.port, 'beta', beta.addr)


def t_socks_curl_flag():
    """The --socks5-hostname flag (no -x URL)."""
    m = pt.mark()
    rc, out, err = curl('-v', '-k', '--socks5-hostname', '127.0.0.1:%d' % port_open,
                        '--connect-to', 'beta.example:%d:localhost:%d' % (beta.port, beta.port),
                        'https://beta.example:%d/' % beta.port)
    eq(rc, 0, 'curl exit status (%s)' % err[-300:])
    eq(cert_cn(err), 'beta.example', 'certificate CN curl saw')
    expect(pt.conn_after(m), proto='socks5>tls', sni='beta.example', route='beta',
           requested='localhost:%d' % beta.port, end='done')


s.test('curl --socks5-hostname https://beta.example -> beta', t_socks_curl_flag)
s.test('socks5 denied inner sni -> tunnel closed after success', refused, SOCKS, 'socks5>tls',
       'denied.example', alpha.port, None, 'no route for the inner protocol')
s.test('socks5 alpha sni to a port alpha does not take -> closed', refused, SOCKS, 'socks5>tls',
       'alpha.example', beta.port, None, 'no route for the inner protocol')
s.test('socks5 wrong password -> auth failure', refused,
       'socks5h://alice:wrong@127.0.0.1:%d' % port_auth, 'socks5', 'alpha.example', alpha.port,
       97, 'authentication failed')
s.test('socks5 without credentials on the auth listener -> no method', refused,
       'socks5h://127.0.0.1:%d' % port_auth, 'socks5', 'alpha.example', alpha.port, 97,
       'no acceptable method')
s.test('CONNECT sni alpha.example -> requested localhost:alpha', ok, HTTP, 'http',
       'alpha.example', alpha.port, 'alpha', '127.0.0.1:%d' % alpha.port)
s.test('CONNECT sni beta.example -> beta backend', ok, HTTP, 'http', 'beta.example', beta.port,
       'beta', beta.addr)


def t_connect_port():
    err = refused(HTTP, 'http', 'alpha.example', 8, 56, 'port not allowed',
                  requested='localhost:8')
    check('403' in err, 'curl saw the 403 (%s)' % err[-200:])


def t_slow_reply():
    """The daemon sleeps after the success reply (test build), so curl's
    ClientHello is queued before the daemon looks again: it came in an skb of
    its own, and the kernel plane takes the tunnel (once it said
    fallback=handshake, checking for early bytes after the reply)."""
    port = free_port()
    slow = Passthru(s, {'listeners': [listener('slow', port, routes(), terminate={
        'socks5': {}, 'http_connect': {'ports': [beta.port]}})]}, name='slow',
        env=dict(os.environ, PASSTHRU_FAULT_REPLY_SLEEP_MS='30'))
    try:
        for proxy, outer in (('socks5h://127.0.0.1:%d' % port, 'socks5'),
                             ('http://127.0.0.1:%d' % port, 'http')):
            m = slow.mark()
            rc, out, err = tunnel(proxy, 'beta.example', beta.port)
            eq(rc, 0, 'curl exit status (%s)' % err[-300:])
            d = slow.conn_after(m, proto='%s>tls' % outer, route='beta', end='done',
                                plane=plane_ok)
            eq(d.get('fallback'), None, 'no fallback (%s)' % d['line'])
    finally:
        slow.stop()


s.test('CONNECT to a port not allowed -> 403', t_connect_port)
s.test('a slow reply, then the inner bytes: no fallback to another plane', t_slow_reply)
s.test('CONNECT denied inner sni -> closed after 200', refused, HTTP, 'http>tls',
       'denied.example', alpha.port, None, 'no route for the inner protocol')


def t_unresolvable():
    m = pt.mark()
    rc, out, err = curl('-v', '-k', '-x', SOCKS, 'https://no-such-host.invalid:%d/' % alpha.port)
    check(rc != 0, 'curl failed')
    expect(pt.conn_after(m), proto='socks5', requested='no-such-host.invalid:%d' % alpha.port,
           why='name does not resolve', end='upstream-failed')


s.test('socks5 name that does not resolve -> host unreachable', t_unresolvable)


def t_connect_refused():
    """dst_host localhost matches, the route connects where asked: nothing listens there."""
    m = pt.mark()
    rc, out, err = tunnel(HTTP, 'dead.example', dead)
    check(rc != 0, 'curl failed')
    expect(pt.conn_after(m), proto='http>tls', sni='dead.example', route='dead',
           requested='localhost:%d' % dead, end='upstream-failed')


s.test('CONNECT whose requested destination refuses -> closed, upstream-failed',
       t_connect_refused)


def t_loop():
    """A CONNECT to passthru's own listener on a "requested" route is refused, not looped."""
    m = pt.mark()
    rc, out, err = tunnel(HTTP, 'dead.example', port_open)
    check(rc != 0, 'curl failed')
    expect(pt.conn_after(m), proto='http>tls', route='dead', end='upstream-failed',
           requested='localhost:%d' % port_open)
    check('(a loop): refused' in pt.log(), 'the warning says why')


s.test('CONNECT to passthru itself -> refused, not looped', t_loop)


def client_hello(sni):
    """The first flight of Python's TLS client for @sni."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def t_pipelined():
    """CONNECT head and ClientHello in one segment: the head is consumed, the
    hello stays queued for the inner detection and reaches the backend."""
    m = pt.mark()
    c = socket.create_connection(('127.0.0.1', port_open), timeout=10)
    try:
        c.sendall(b'CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n'
                  % (alpha.port, alpha.port) + client_hello('alpha.example'))
        got = b''
        while b'\r\n\r\n' not in got or len(got) < got.index(b'\r\n\r\n') + 9:
            d = c.recv(4096)
            if not d:
                break
            got += d
        head, _, rest = got.partition(b'\r\n\r\n')
        check(head.startswith(b'HTTP/1.1 200 '), '200 first (%r)' % head[:40])
        eq(rest[:2], b'\x16\x03', 'then the backend\'s ServerHello')
    finally:
        c.close()
    expect(pt.conn_after(m), proto='http>tls', sni='alpha.example', route='alpha',
           upstream='127.0.0.1:%d' % alpha.port)


s.test('CONNECT with the ClientHello in the same segment -> alpha', t_pipelined)


def t_status():
    """A live tunnel (openssl s_client -proxy: CONNECT) in passthru-ctl status:
    the requested destination as its dst, the inner SNI as its name."""
    p = subprocess.Popen(['openssl', 's_client', '-proxy', '127.0.0.1:%d' % port_open,
                          '-connect', 'localhost:%d' % alpha.port, '-servername',
                          'alpha.example'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        inst = os.path.basename(pt.config_path)[:-len('.json')]

        def pairs():
            rc, out, err = run([CTL, '-j', 'status', '--instance', inst])
            eq(rc, 0, 'passthru-ctl status (stderr %s)' % err[-300:])
            return json.loads(out)['pairs']

        got = wait_for(lambda: [q for q in pairs() if q.get('dst')], 10, 'a pair with a dst')
        eq([(q['dst'], q['name']) for q in got],
           [('127.0.0.1:%d' % alpha.port, 'alpha.example')], 'dst and name of the tunnel')
    finally:
        p.stdin.close()
        p.wait(10)


s.test('passthru-ctl status shows the requested destination', t_status)
s.finish()
