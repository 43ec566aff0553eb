# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""HTTP requests that try to slip past a reject route: other spellings of the
path (curl --path-as-is), two Host headers, a Host against an absolute-form
target. The spellings hit the reject route; the Host tricks are unknown."""
import socket

from ptharness import (Suite, Passthru, HttpBackend, curl, connect, recv_all, eq, check, expect,
                       listener, route, free_port)

s = Suite('http-strict')
web = HttpBackend(s, 'web')
other = HttpBackend(s, 'other')
port = free_port()
pt = Passthru(s, {'listeners': [listener('front', port, [
    route('deny', reject=True, protocol='http', path_prefix='/admin'),
    route('b', other.addr, protocol='http', host='b.example'),
    route('web', web.addr, protocol='http'),
])]})


def t_spelling(path):
    m = pt.mark()
    rc, out, err = curl('--path-as-is', 'http://127.0.0.1:%d%s' % (port, path))
    check(rc != 0 and 'backend=' not in out, 'curl %s reached a backend: %r' % (path, out))
    expect(pt.conn_after(m), route='deny', proto='http', end='rejected')


def t_public():
    m = pt.mark()
    rc, out, err = curl('--path-as-is', 'http://127.0.0.1:%d/public/../pub' % port)
    eq(rc, 0, 'curl exit status (%s)' % err.strip())
    check('backend=web' in out, 'reached web: %r' % out)
    expect(pt.conn_after(m), route='web', proto='http', path='/public/../pub', end='done')


def raw(req):
    m = pt.mark()
    c = connect(port)
    c.sendall(req)
    try:
        # The daemon may have closed an unroutable request already (ENOTCONN).
        c.shutdown(socket.SHUT_WR)
        resp = recv_all(c)
    except (ConnectionResetError, OSError):
        resp = b''
    c.close()
    check(b'backend=' not in resp, 'a backend answered: %r' % resp[:80])
    return pt.conn_after(m)


def t_two_hosts():
    d = raw(b'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n')
    expect(d, proto='unknown', route='-', end='no-route')
    check('more than one Host' in d['line'], 'reason logged: %s' % d['line'])


def t_absolute_vs_host():
    m = pt.mark()
    rc, out, err = curl('--request-target', 'http://a.example/', '-H', 'Host: b.example',
                        'http://127.0.0.1:%d/' % port)
    check('backend=' not in out, 'a backend answered: %r' % out)
    d = pt.conn_after(m)
    expect(d, proto='unknown', route='-', end='no-route')
    check('Host disagrees' in d['line'], 'reason logged: %s' % d['line'])


def t_absolute_agrees():
    m = pt.mark()
    rc, out, err = curl('--request-target', 'http://b.example/x', '-H', 'Host: b.example:80',
                        'http://127.0.0.1:%d/' % port)
    eq(rc, 0, 'curl exit status (%s)' % err.strip())
    check('backend=other' in out, 'reached b: %r' % out)
    expect(pt.conn_after(m), route='b', proto='http', host='b.example', end='done')


for p in ('/admin', '//admin', '/%61dmin', '/x/../admin', '/./admin/', '/%2e%2E/admin?x=1',
          '///admin//panel'):
    s.test('%s -> reject route' % p, t_spelling, p)
s.test('/public/../pub -> web (path logged as sent)', t_public)
s.test('two Host headers -> unknown', t_two_hosts)
s.test('absolute-form a.example + Host: b.example -> unknown', t_absolute_vs_host)
s.test('absolute-form and Host agree -> routed by host', t_absolute_agrees)
s.finish()
