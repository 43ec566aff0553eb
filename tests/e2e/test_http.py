# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""HTTP/1.x routing by Host and path prefix with curl, and the HTTP/2 preface."""
import socket

from ptharness import (Suite, Passthru, HttpBackend, PtServer, curl, connect, recv_all, eq,
                       check, expect, listener, route, free_port, plane_ok, wait_for)

s = Suite('http')
web = HttpBackend(s, 'web')
api1 = HttpBackend(s, 'api-v1')
api2 = HttpBackend(s, 'api')
other = HttpBackend(s, 'other')
h2c = PtServer(s, 'echo')

port = free_port()
pt = Passthru(s, {'listeners': [listener('front', port, [
    route('api-v1', api1.addr, protocol='http', host='api.example',
          path_prefix=['/v1/', '/legacy/v1/']),
    route('api', api2.addr, protocol='http', host='api.example'),
    route('web', web.addr, protocol='http', host=['web.example', '*.web.example']),
    route('h2c', h2c.addr, protocol='http2'),
    route('http-other', other.addr, protocol='http'),
])]})


def get(host, path, backend, want_route, want_host=None, method='GET', extra=()):
    m = pt.mark()
    n = len(backend.records)
    args = ['-H', 'Host: %s' % host] if host is not None else []
    if method != 'GET':
        args += ['-X', method]
    rc, out, err = curl(*(args + list(extra) + ['http://127.0.0.1:%d%s' % (port, path)]))
    eq(rc, 0, 'curl exit status (%s)' % err.strip())
    want_host = want_host if want_host is not None else host.split(':')[0].lower()
    eq(out, 'backend=%s method=%s host=%s path=%s\n' % (backend.name, method, host, path),
       'backend answer')
    rec = wait_for(lambda: len(backend.records) > n and backend.records[-1], 3,
                   'backend record')
    # Byte counts: exactly what the backend read and wrote.
    expect(pt.conn_after(m), route=want_route, proto='http', method=method,
           host=want_host or '-', path=path, upstream=backend.addr, plane=plane_ok,
           end='done', up=rec['rx'], down=rec['tx'])


s.test('Host: web.example -> web', get, 'web.example', '/hello', web, 'web')
s.test('Host: WEB.Example (case-insensitive) -> web', get, 'WEB.Example', '/', web, 'web',
       'web.example')
s.test('Host with port web.example:8080 -> web', get, 'web.example:8080', '/x', web, 'web',
       'web.example')
s.test('Host: a.web.example (wildcard) -> web', get, 'a.web.example', '/', web, 'web')
s.test('api.example /v1/users -> api-v1 (path_prefix)', get, 'api.example', '/v1/users', api1,
       'api-v1')
s.test('api.example /legacy/v1/x -> api-v1 (second prefix)', get, 'api.example',
       '/legacy/v1/x', api1, 'api-v1')
s.test('api.example /v2/users -> api (prefix does not match)', get, 'api.example', '/v2/users',
       api2, 'api')
s.test('api.example /v1 (no trailing slash) -> api', get, 'api.example', '/v1', api2, 'api')
s.test('POST to api.example /v1/ -> api-v1', get, 'api.example', '/v1/items', api1, 'api-v1',
       None, 'POST', ('-d', 'x=1'))
s.test('unknown host -> http catch-all', get, 'nobody.example', '/', other, 'http-other')
s.test('web.example.evil (suffix trick) -> http catch-all', get, 'web.example.evil', '/', other,
       'http-other')


def t_http10_no_host():
    m = pt.mark()
    n = len(other.records)
    c = connect(port)
    req = b'GET /old HTTP/1.0\r\n\r\n'
    c.sendall(req)
    resp = recv_all(c)
    c.close()
    check(resp.startswith(b'HTTP/1.0 200') and b'backend=other' in resp,
          'HTTP/1.0 without Host reached the catch-all: %r' % resp[:80])
    wait_for(lambda: len(other.records) > n, 3, 'backend record')
    expect(pt.conn_after(m), route='http-other', proto='http', method='GET', host='-',
           path='/old', end='done', up=len(req), down=len(resp))


s.test('HTTP/1.0 without Host -> http catch-all', t_http10_no_host)


def t_h2_preface():
    m = pt.mark()
    c = connect(port)
    # Client connection preface followed by an empty SETTINGS frame (RFC 9113 §3.4).
    msg = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00'
    c.sendall(msg)
    c.shutdown(socket.SHUT_WR)
    eq(recv_all(c), msg, 'h2c backend (echo) sent the preface back')
    c.close()
    expect(pt.conn_after(m), route='h2c', proto='http2', upstream=h2c.addr, end='done',
           up=len(msg), down=len(msg))


s.test('HTTP/2 prior-knowledge preface -> h2c', t_h2_preface)


def t_curl_h2c():
    m = pt.mark()
    rc, out, err = curl('--http2-prior-knowledge', '--max-time', '2',
                        'http://127.0.0.1:%d/' % port)
    # The echo backend is no HTTP/2 server; what matters is where curl went.
    expect(pt.conn_after(m), route='h2c', proto='http2', upstream=h2c.addr, up=lambda v: v > 24)


s.test('curl --http2-prior-knowledge -> h2c', t_curl_h2c)
s.finish()
