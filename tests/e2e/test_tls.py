# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""TLS routing by SNI and ALPN, with real openssl/curl clients and s_server backends."""
import re
import socket
import threading
import time

from ptharness import (Suite, Passthru, TlsBackend, HttpBackend, TcpServer, s_client, curl,
                       cert_cn, eq, check, expect, listener, route, free_port, at_least,
                       between, plane_ok)

s = Suite('tls')
alpha = TlsBackend(s, 'alpha.example')
beta = TlsBackend(s, 'beta.example')
wild = TlsBackend(s, 'wild.example')
h2 = TlsBackend(s, 'h2.example', alpn='h2')
h1 = TlsBackend(s, 'h1.example', alpn='http/1.1')
default = TlsBackend(s, 'default.example')
web = HttpBackend(s, 'web')

port = free_port()
pt = Passthru(s, {'listeners': [listener('front', port, [
    route('alpha', alpha.addr, protocol='tls', sni='alpha.example'),
    route('beta', beta.addr, protocol='tls', sni=['beta.example', 'beta2.example']),
    route('wild', wild.addr, protocol='tls', sni='*.wild.example'),
    route('h2', h2.addr, protocol='tls', sni='alpn.example', alpn='h2'),
    route('h1', h1.addr, protocol='tls', sni='alpn.example', alpn=['http/1.1', 'http/1.0']),
    route('tls-other', default.addr, protocol='tls'),
    route('rest', web.addr),
], timeout_ms=15000)]})

HANDSHAKE_RE = re.compile(r'SSL handshake has read (\d+) bytes and written (\d+) bytes')


def handshake_bytes(out):
    m = HANDSHAKE_RE.search(out)
    check(m, 's_client printed its handshake byte counts')
    return int(m.group(1)), int(m.group(2))


def via_s_client(sni, want_cn, want_route, alpn=None, want_alpn='-', want_sni=None):
    m = pt.mark()
    out = s_client(port, sni, alpn)
    eq(cert_cn(out), want_cn, 'certificate CN seen by s_client for SNI %s' % sni)
    check('HTTP/1.0 200 ok' in out, 's_server -www answered the request')
    rd, wr = handshake_bytes(out)
    # After the handshake: the request and close_notify up; session tickets,
    # the s_server -www page (a few KiB) and close_notify down.
    expect(pt.conn_after(m), route=want_route, proto='tls', sni=want_sni or sni or '-',
           alpn=want_alpn, end='done', plane=plane_ok, upstream=BACKEND[want_route],
           up=between(wr + 40, wr + 200), down=between(rd + 1000, rd + 12000))
    return out


BACKEND = {'alpha': alpha.addr, 'beta': beta.addr, 'wild': wild.addr, 'h2': h2.addr,
           'h1': h1.addr, 'tls-other': default.addr, 'rest': web.addr}


def via_curl(host, want_cn, want_route):
    m = pt.mark()
    rc, out, err = curl('-v', '-k', '--resolve', '%s:%d:127.0.0.1' % (host, port),
                        'https://%s:%d/' % (host, port))
    eq(rc, 0, 'curl exit status (stderr: %s)' % err[-300:])
    eq(cert_cn(err), want_cn, 'certificate CN seen by curl for %s' % host)
    check('HTTP/1.0 200 ok' in err and 's_server' in out, 's_server -www answered curl')
    expect(pt.conn_after(m), route=want_route, proto='tls', sni=host, alpn='h2,http/1.1',
           end='done', plane=plane_ok, upstream=BACKEND[want_route], up=at_least(300),
           down=at_least(len(out)))


s.test('s_client sni alpha.example -> alpha',
       lambda: via_s_client('alpha.example', 'alpha.example', 'alpha'))
s.test('s_client sni beta.example -> beta',
       lambda: via_s_client('beta.example', 'beta.example', 'beta'))
s.test('s_client sni beta2.example (second name of a list) -> beta',
       lambda: via_s_client('beta2.example', 'beta.example', 'beta'))
s.test('s_client sni ALPHA.Example (case) -> alpha',
       lambda: via_s_client('ALPHA.Example', 'alpha.example', 'alpha',
                            want_sni='alpha.example'))
s.test('curl https://alpha.example -> alpha', lambda: via_curl('alpha.example', 'alpha.example',
                                                               'alpha'))
s.test('curl https://beta.example -> beta', lambda: via_curl('beta.example', 'beta.example',
                                                             'beta'))
s.test('wildcard x.wild.example -> wild',
       lambda: via_s_client('x.wild.example', 'wild.example', 'wild'))
s.test('wildcard a.b.wild.example -> wild',
       lambda: via_s_client('a.b.wild.example', 'wild.example', 'wild'))
s.test('wild.example itself is not under *.wild.example -> tls-other',
       lambda: via_s_client('wild.example', 'default.example', 'tls-other'))
s.test('unknown sni -> tls catch-all',
       lambda: via_s_client('nobody.example', 'default.example', 'tls-other'))
s.test('no sni -> tls catch-all', lambda: via_s_client(None, 'default.example', 'tls-other'))


def t_alpn(offer, want_cn, want_route, want_proto):
    out = via_s_client('alpn.example', want_cn, want_route, alpn=offer, want_alpn=offer)
    if want_proto:
        check('ALPN protocol: %s' % want_proto in out,
              'backend negotiated ALPN %s' % want_proto)


s.test('alpn h2 -> h2 backend', t_alpn, 'h2', 'h2.example', 'h2', 'h2')
s.test('alpn http/1.1 -> http/1.1 backend', t_alpn, 'http/1.1', 'h1.example', 'h1', 'http/1.1')
s.test('alpn h2,http/1.1 -> h2 (first route that matches)', t_alpn, 'h2,http/1.1', 'h2.example',
       'h2', 'h2')
s.test('alpn spdy/3 -> tls catch-all', t_alpn, 'spdy/3', 'default.example', 'tls-other', None)


class SlowProxy:
    """Forwards s_client to passthru, trickling its ClientHello: the first
    32 bytes one per 100 ms, then 7-byte pieces every 10 ms; the rest (and
    everything back) at full speed."""

    def __init__(self, target_port):
        self.target = target_port
        self.server = TcpServer(s, self._handle)
        self.port = self.server.port

    def _handle(self, c, _):
        up = socket.create_connection(('127.0.0.1', self.target))
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def down():
            try:
                while True:
                    d = up.recv(65536)
                    if not d:
                        c.shutdown(socket.SHUT_WR)
                        return
                    c.sendall(d)
            except OSError:
                pass

        threading.Thread(target=down, daemon=True).start()
        buf = b''
        while len(buf) < 5 or len(buf) < 5 + int.from_bytes(buf[3:5], 'big'):
            d = c.recv(65536)
            if not d:
                break
            buf += d
        hello_len = 5 + int.from_bytes(buf[3:5], 'big')
        sent = 0
        while sent < hello_len:
            n = 1 if sent < 32 else 7
            up.sendall(buf[sent:min(sent + n, hello_len)])
            sent = min(sent + n, hello_len)
            time.sleep(0.1 if sent <= 32 else 0.01)
        self.pieces = 32 + (hello_len - 32 + 6) // 7
        up.sendall(buf[hello_len:])
        while True:
            d = c.recv(65536)
            if not d:
                up.shutdown(socket.SHUT_WR)
                break
            up.sendall(d)


def t_slow():
    proxy = SlowProxy(port)
    m = pt.mark()
    t0 = time.monotonic()
    out = s_client(proxy.port, 'beta.example', timeout=30)
    took = time.monotonic() - t0
    eq(cert_cn(out), 'beta.example', 'certificate CN through the slow client')
    check(took > 3.2, 'the hello really was slow (%.1f s)' % took)
    expect(pt.conn_after(m), route='beta', proto='tls', sni='beta.example', end='done',
           dur=at_least(3.2))


s.test('slow client: ClientHello 1 byte per 100 ms still routes by SNI', t_slow)


def t_after():
    # Everything above went through one daemon: it still routes correctly.
    via_s_client('alpha.example', 'alpha.example', 'alpha')


s.test('still routing after all of the above', t_after)
s.finish()
