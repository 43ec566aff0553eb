# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The PROXY protocol both ways, with real parts: nginx (http and stream
modules, `listen ... proxy_protocol`) as the upstream reporting
$proxy_protocol_addr, HAProxy as the front load balancer sending
send-proxy-v2 / send-proxy (and LOCAL health checks), curl and openssl
s_client as clients; raw sockets for the headers no real part sends
(malformed, truncated, split, LOCAL, late). Clients bind to 127.0.0.x
addresses other than 127.0.0.1 so that the client's address differs from
the balancer's and passthru's."""
import json
import os
import socket
import struct
import time

from ptharness import (Suite, Passthru, Proc, TcpServer, Fail, Skip, eq, check, expect,
                       listener, route, free_port, is_listening, wait_for, make_cert, curl,
                       s_client, connect, read_closed, plane_ok, run, slack, BUILD,
                       TIME_SCALE, echo)

SIG = b'\r\n\r\n\x00\r\nQUIT\n'
NGX_STREAM = '/usr/lib/nginx/modules/ngx_stream_module.so'
CTL = os.path.join(BUILD, 'passthru-ctl')

s = Suite('proxy')


def pp2_len(b):
    """Length of the v2 header at the start of b, or None while incomplete."""
    if len(b) < 16:
        return None
    n = 16 + struct.unpack('!H', b[14:16])[0]
    return n if len(b) >= n else None


def parse_v2(b):
    """The v2 header at the start of b as a dict: cmd, src, dst, tlvs, len."""
    eq(b[:12], SIG, 'v2 signature')
    n = pp2_len(b)
    body, fam = b[16:n], b[13]
    if fam == 0x11:
        ips = [socket.inet_ntop(socket.AF_INET, body[i:i + 4]) for i in (0, 4)]
        ports, off = struct.unpack('!HH', body[8:12]), 12
    elif fam == 0x21:
        ips = [socket.inet_ntop(socket.AF_INET6, body[i:i + 16]) for i in (0, 16)]
        ports, off = struct.unpack('!HH', body[32:36]), 36
    else:
        raise Fail('v2 family byte 0x%02x' % fam)
    tlvs, i = {}, off
    while i + 3 <= len(body):
        t, ln = body[i], struct.unpack('!H', body[i + 1:i + 3])[0]
        tlvs[t] = body[i + 3:i + 3 + ln]
        i += 3 + ln
    eq(i, len(body), 'TLVs fill the header exactly')
    return {'cmd': b[12], 'src': '%s:%d' % (ips[0], ports[0]),
            'dst': '%s:%d' % (ips[1], ports[1]), 'tlvs': tlvs, 'len': n}


def capture(c, srv):
    """Upstream that records the PROXY v2 header and what follows it (up to
    an HTTP request's end or a TLS record's head), answers "ok" and closes."""
    c.settimeout(5)
    data = b''
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
        n = pp2_len(data)
        if n and (data[n:n + 1] == b'\x16' and len(data) >= n + 5 or
                  b'\r\n\r\n' in data[n:]):
            break
    srv.record(data=data)
    c.sendall(b'ok\n')


# --- the real upstreams and the balancer ------------------------------------

P_NGX1, P_NGX_SSL, P_NGX_STREAM = free_port(), free_port(), free_port()
P_D, P_LB, P_LIM = free_port(), free_port(), free_port()
P_H1, P_H2, P_HCHK = free_port(), free_port(), free_port()
HAS_STREAM = os.path.exists(NGX_STREAM)
BODY = ('pp_addr=$proxy_protocol_addr pp_port=$proxy_protocol_port '
        'server=$proxy_protocol_server_addr:$proxy_protocol_server_port remote=$remote_addr\\n')


def start_nginx():
    cert, key = make_cert(s, 'tls.example')
    d = s.dir
    conf = ('%(load)suser root;\nworker_processes 1;\ndaemon off;\npid %(d)s/nginx.pid;\n'
            'error_log %(d)s/nginx-error.log info;\nevents { worker_connections 256; }\n'
            'http {\n client_body_temp_path %(d)s/ngx-body;\n'
            ' log_format pp "$proxy_protocol_addr:$proxy_protocol_port $remote_addr";\n'
            ' access_log %(d)s/nginx-access.log pp;\n'
            ' server { listen 127.0.0.1:%(p1)d proxy_protocol;\n'
            '  location / { return 200 "%(body)s"; } }\n'
            ' server { listen 127.0.0.1:%(p2)d ssl proxy_protocol;\n'
            '  ssl_certificate %(cert)s; ssl_certificate_key %(key)s;\n'
            '  location / { return 200 "%(body)s"; } }\n}\n' %
            {'load': 'load_module %s;\n' % NGX_STREAM if HAS_STREAM else '', 'd': d,
             'p1': P_NGX1, 'p2': P_NGX_SSL, 'cert': cert, 'key': key, 'body': BODY})
    if HAS_STREAM:
        conf += ('stream { server { listen 127.0.0.1:%d proxy_protocol;\n'
                 ' return "pp_addr=$proxy_protocol_addr pp_port=$proxy_protocol_port\\n"; } }\n'
                 % P_NGX_STREAM)
    path = s.write('nginx.conf', conf)
    p = Proc(s, 'nginx', ['nginx', '-p', d, '-c', path])
    ports = [P_NGX1, P_NGX_SSL] + ([P_NGX_STREAM] if HAS_STREAM else [])
    wait_for(lambda: all(is_listening(x) for x in ports) or not p.alive(), 10, 'nginx')
    if not p.alive():
        raise Fail('nginx died: %s' % p.stderr())


def start_haproxy():
    conf = ('global\n maxconn 256\n'
            'defaults\n mode tcp\n timeout connect 5s\n timeout client 30s\n'
            ' timeout server 30s\n timeout check 2s\n'
            'listen v2\n bind 127.0.0.1:%(h2)d\n server pt 127.0.0.1:%(lb)d send-proxy-v2\n'
            'listen v1\n bind 127.0.0.1:%(h1)d\n server pt 127.0.0.1:%(lb)d send-proxy\n'
            % {'h1': P_H1, 'h2': P_H2, 'lb': P_LB})
    path = s.write('haproxy.cfg', conf)
    p = Proc(s, 'haproxy', ['haproxy', '-db', '-f', path])
    wait_for(lambda: all(is_listening(x) for x in (P_H1, P_H2)) or not p.alive(), 10,
             'haproxy')
    if not p.alive():
        raise Fail('haproxy died: %s' % p.stderr())


start_nginx()
cap = TcpServer(s, capture)
ech = TcpServer(s, echo)
NGX1, NGX_SSL, NGX_STREAM = ('127.0.0.1:%d' % p for p in (P_NGX1, P_NGX_SSL, P_NGX_STREAM))


def pp(r, version):
    r['proxy_protocol'] = version
    return r


LB_TIMEOUT_MS = int(1500 * TIME_SCALE)   # detection deadline of 'lb': the header's too
TRUST = {'accept_proxy': True, 'trusted_sources': ['127.0.0.1/32', '::1']}
pt = Passthru(s, {'listeners': [
    listener('direct', P_D, [
        pp(route('d-stream', NGX_STREAM, cidr='127.0.0.5/32'), 1),
        pp(route('d-tls', NGX_SSL, protocol='tls', sni='tls.example'), 2),
        pp(route('d-tlv', cap.addr, protocol='tls', sni='tlv.example'), 2),
        pp(route('d-v1', NGX1, protocol='http', host='v1.example'), 1),
        pp(route('d-v2', NGX1, protocol='http', host='v2.example'), 2),
    ], timeout_ms=5000),
    listener('lb', P_LB, [
        pp(route('lb-near', NGX1, cidr='127.0.0.2/32'), 1),
        pp(route('lb-tls', NGX_SSL, protocol='tls'), 2),
        pp(route('lb-onward', cap.addr, protocol='http', host='onward.example'), 2),
        pp(route('lb-http', NGX1, protocol='http'), 2),
        route('lb-rest', ech.addr),
    ], timeout_ms=LB_TIMEOUT_MS, **TRUST),
    listener('lim', P_LIM, [route('hold', ech.addr)], max_connections_per_source=1, **TRUST),
]})
start_haproxy()


END_S_CLIENT = lambda v: v in ('done', 'upstream-reset')
END_S_CLIENT.desc = 'done or upstream-reset (nginx answers close_notify after its close with RST)'


def pp_plane(v, d):
    """plane_ok, or splice with fallback=proxy-header under sockmap: the client's
    first bytes came right behind the header and may share its skb."""
    return plane_ok(v, d) or (v == 'splice' and d.get('fallback') == 'proxy-header' and
                               os.environ.get('PT_DATA_PLANE') in ('sockmap', None))


pp_plane.needs_line = True
pp_plane.desc = plane_ok.desc + ' (or splice, fallback=proxy-header)'


def body(text):
    """The key=value words nginx returned."""
    return dict(kv.split('=', 1) for kv in text.split() if '=' in kv)


def http_req(port, host, source=None, pre=b''):
    """A raw HTTP/1.0 request (after @pre); returns (reply, request, socket port)."""
    c = connect(port, source=source)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' % host.encode()
    c.sendall(pre + req)
    data, how, _ = read_closed(c, 10)
    lport = c.getsockname()[1]
    c.close()
    return data.decode(errors='replace'), req, lport


def v1(src, sport, dst='127.0.0.1', dport=80):
    return b'PROXY TCP4 %s %s %d %d\r\n' % (src.encode(), dst.encode(), sport, dport)


# --- to the upstream ---------------------------------------------------------

def t_direct_http(version, host):
    m = pt.mark()
    out, req, lport = http_req(P_D, host, source='127.0.0.2')
    b = body(out)
    eq((b.get('pp_addr'), b.get('pp_port')), ('127.0.0.2', str(lport)),
       'nginx $proxy_protocol_addr/port (reply %r)' % out[-200:])
    eq(b.get('server'), '127.0.0.1:%d' % P_D, "nginx $proxy_protocol_server_addr:port")
    expect(pt.conn_after(m), route='d-v%d' % version, client='127.0.0.2:%d' % lport,
           end='done', plane=plane_ok, up=len(req))


def t_direct_curl_tls():
    m = pt.mark()
    rc, out, err = curl('-k', '--interface', '127.0.0.2', '--resolve',
                        'tls.example:%d:127.0.0.1' % P_D, 'https://tls.example:%d/' % P_D)
    eq(rc, 0, 'curl exit status (stderr %s)' % err[-300:])
    d = pt.conn_after(m)
    expect(d, route='d-tls', proto='tls', sni='tls.example', end='done', plane=plane_ok)
    eq('%s:%s' % (body(out).get('pp_addr'), body(out).get('pp_port')), d['client'],
       'nginx (ssl) saw the client passthru logged')
    check(d['client'].startswith('127.0.0.2:'), 'client is curl --interface 127.0.0.2')


def t_direct_s_client():
    m = pt.mark()
    out = s_client(P_D, 'tls.example')
    check('HTTP/1.1 200' in out, 's_client got nginx\'s answer: %r' % out[-300:])
    d = pt.conn_after(m)
    # nginx closes after its answer; s_client's close_notify may then meet a closed socket
    expect(d, route='d-tls', end=END_S_CLIENT, plane=plane_ok)
    eq('%s:%s' % (body(out).get('pp_addr'), body(out).get('pp_port')), d['client'],
       'nginx saw s_client\'s address')


def t_stream():
    if not HAS_STREAM:
        raise Skip('%s not installed (make deps installs libnginx-mod-stream)' % NGX_STREAM)
    m = pt.mark()
    c = connect(P_D, source='127.0.0.5')
    lport = c.getsockname()[1]
    data, how, _ = read_closed(c, 10)
    c.close()
    eq(body(data.decode()), {'pp_addr': '127.0.0.5', 'pp_port': str(lport)},
       'nginx stream $proxy_protocol_addr/port')
    expect(pt.conn_after(m), route='d-stream', client='127.0.0.5:%d' % lport, up=0,
           plane=plane_ok)


def t_tlvs():
    m = pt.mark()
    n0 = len(cap.records)
    s_client(P_D, 'tlv.example', alpn='h2,http/1.1', request=False)
    wait_for(lambda: len(cap.records) > n0, 5, 'the capture upstream got a connection')
    data = cap.records[-1]['data']
    h = parse_v2(data)
    d = pt.conn_after(m)
    eq(h['cmd'], 0x21, 'v2 PROXY command')
    eq(h['src'], d['client'], 'v2 source is the client passthru logged')
    eq(h['dst'], '127.0.0.1:%d' % P_D, 'v2 destination is the listener')
    eq(h['tlvs'].get(0x01), b'h2', 'ALPN TLV (0x01): the first offered')
    eq(h['tlvs'].get(0x02), b'tlv.example', 'authority TLV (0x02): the SNI')
    eq(h['tlvs'].get(0xE0), b'direct', 'listener TLV (0xE0)')
    eq(data[h['len']:h['len'] + 2], b'\x16\x03', 'the ClientHello follows the header')


# --- from a front load balancer --------------------------------------------

def t_haproxy_v2_curl():
    m = pt.mark()
    rc, out, err = curl('--interface', '127.0.0.2', 'http://127.0.0.1:%d/' % P_H2)
    eq(rc, 0, 'curl exit status (stderr %s)' % err[-300:])
    d = pt.conn_after(m)
    expect(d, route='lb-near', pp='v2', via=lambda v: v.startswith('127.0.0.1:'),
           end='done', plane=pp_plane)
    check(d['client'].startswith('127.0.0.2:'), 'client is curl, not haproxy: %s' % d['client'])
    eq('%s:%s' % (body(out)['pp_addr'], body(out)['pp_port']), d['client'],
       'nginx $proxy_protocol_addr is curl\'s address, through haproxy and passthru')


def t_haproxy_v1_curl_tls():
    m = pt.mark()
    rc, out, err = curl('-k', '--interface', '127.0.0.4', '--resolve',
                        'tls.example:%d:127.0.0.1' % P_H1, 'https://tls.example:%d/' % P_H1)
    eq(rc, 0, 'curl exit status (stderr %s)' % err[-300:])
    d = pt.conn_after(m)
    expect(d, route='lb-tls', pp='v1', sni='tls.example', end='done', plane=pp_plane)
    check(d['client'].startswith('127.0.0.4:'), 'client from the v1 header: %s' % d['client'])
    eq(body(out).get('pp_addr'), '127.0.0.4', 'nginx (ssl) $proxy_protocol_addr')


def t_haproxy_v2_s_client():
    m = pt.mark()
    out = s_client(P_H2, 'tls.example')
    check('HTTP/1.1 200' in out, 's_client through haproxy: %r' % out[-300:])
    d = pt.conn_after(m)
    expect(d, route='lb-tls', pp='v2', end=END_S_CLIENT, plane=pp_plane)
    eq('%s:%s' % (body(out).get('pp_addr'), body(out).get('pp_port')), d['client'],
       'nginx saw s_client\'s address')


def t_haproxy_local():
    """HAProxy health checks with check-send-proxy send a v2 LOCAL header
    (a haproxy of its own, stopped after: its checks would log lines)."""
    conf = ('defaults\n mode tcp\n timeout connect 5s\n timeout client 30s\n'
            ' timeout server 30s\n timeout check 2s\n'
            'listen chk\n bind 127.0.0.1:%d\n'
            ' server pt 127.0.0.1:%d send-proxy-v2 check-send-proxy check inter 300\n'
            % (P_HCHK, P_LB))
    m = pt.mark()
    p = Proc(s, 'haproxy-check', ['haproxy', '-db', '-f', s.write('haproxy-check.cfg', conf)])
    try:
        got = wait_for(lambda: [d for d in pt.conns()[m:] if d.get('pp') == 'local'], 10,
                       'a health check logged with pp=local')
    finally:
        p.stop()
    time.sleep(0.5)     # the last check's line, before the next test's mark
    d = got[0]
    # a check connects, sends the header and closes (haproxy resets it): no route yet
    expect(d, listener='lb', via=lambda v: v.startswith('127.0.0.1:'))
    eq(d['client'], d['via'], 'LOCAL: the client is the balancer itself')


def t_cidr_on_header():
    m = pt.mark()
    out, req, _ = http_req(P_LB, 'x.example', pre=v1('127.0.0.2', 4242))
    eq(body(out).get('pp_addr'), '127.0.0.2', 'onward header to nginx')
    expect(pt.conn_after(m), route='lb-near', client='127.0.0.2:4242', pp='v1', up=len(req),
           plane=pp_plane)
    m = pt.mark()
    out, req, _ = http_req(P_LB, 'x.example', pre=v1('127.0.0.3', 4243))
    expect(pt.conn_after(m), route='lb-http', client='127.0.0.3:4243', pp='v1', up=len(req))


def t_onward():
    m = pt.mark()
    n0 = len(cap.records)
    hdr = v1('192.0.2.9', 4444, '198.51.100.7', 8080)
    out, req, _ = http_req(P_LB, 'onward.example', pre=hdr)
    eq(out, 'ok\n', 'capture upstream answered')
    wait_for(lambda: len(cap.records) > n0, 5, 'capture record')
    data = cap.records[-1]['data']
    h = parse_v2(data)
    eq((h['src'], h['dst']), ('192.0.2.9:4444', '198.51.100.7:8080'),
       'the header sent onward carries the incoming header\'s addresses')
    eq(h['tlvs'].get(0x02), b'onward.example', 'authority TLV: the Host')
    eq(h['tlvs'].get(0xE0), b'lb', 'listener TLV')
    eq(data[h['len']:], req, 'exactly the request follows, the incoming header removed')
    expect(pt.conn_after(m), route='lb-onward', client='192.0.2.9:4444', up=len(req),
           plane=pp_plane)


def t_split():
    m = pt.mark()
    c = connect(P_LB)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hdr = v1('127.0.0.7', 5555)
    for part in (hdr[:3], hdr[3:20], hdr[20:]):
        c.sendall(part)
        time.sleep(0.1)
    time.sleep(0.2)     # the header is read before the request comes: no skb shared
    req = b'GET / HTTP/1.0\r\nHost: split.example\r\n\r\n'
    c.sendall(req)
    data, how, _ = read_closed(c, 10)
    c.close()
    eq(body(data.decode()).get('pp_addr'), '127.0.0.7', 'nginx saw the split header\'s client')
    # the header came alone: every plane takes it, sockmap too (no skb half read)
    expect(pt.conn_after(m), route='lb-http', client='127.0.0.7:5555', pp='v1', up=len(req),
           plane=plane_ok)


def t_v2_split_with_data():
    """A v2 header and the request in one segment, then a v2 header split."""
    hdr = (SIG + b'\x21\x11\x00\x0c' + socket.inet_aton('203.0.113.5') +
           socket.inet_aton('127.0.0.1') + struct.pack('!HH', 3333, 80))
    m = pt.mark()
    out, req, _ = http_req(P_LB, 'v2.example', pre=hdr)
    eq(body(out).get('pp_addr'), '203.0.113.5', 'v2 header and request in one segment')
    expect(pt.conn_after(m), client='203.0.113.5:3333', pp='v2', up=len(req), plane=pp_plane)


def t_local_crafted():
    m = pt.mark()
    hdr = SIG + b'\x20\x00\x00\x00'
    out, req, lport = http_req(P_LB, 'local.example', pre=hdr)
    eq(body(out).get('pp_addr'), '127.0.0.1', 'LOCAL: nginx sees the balancer')
    eq(body(out).get('pp_port'), str(lport), 'LOCAL: ... and its port')
    expect(pt.conn_after(m), route='lb-http', client='127.0.0.1:%d' % lport, pp='local',
           up=len(req), plane=pp_plane)


def refused(want_pp, send, source=None, shut=False, wait=5):
    m = pt.mark()
    c = connect(P_LB, source=source)
    try:
        if send:
            c.sendall(send)
        if shut:
            c.shutdown(socket.SHUT_WR)
        data, how, secs = read_closed(c, wait)
    finally:
        c.close()
    eq(data, b'', 'nothing reached the client')
    check(how in ('eof', 'reset'), 'closed by passthru (%s)' % how)
    expect(pt.conn_after(m), pp=want_pp, end='rejected', up=0, upstream='-')
    return secs


def t_untrusted():
    refused('untrusted', v1('127.0.0.2', 1) + b'GET / HTTP/1.0\r\n\r\n', source='127.0.0.3')


def t_malformed():
    refused('bad', b'PROXY TCP4 1.2.3.4 nonsense 1 2\r\nGET / HTTP/1.0\r\n\r\n')
    refused('bad', b'GET / HTTP/1.0\r\nHost: x\r\n\r\n')
    refused('bad', SIG + b'\x31\x11\x00\x0c' + b'\0' * 12)


def t_truncated():
    refused('truncated', b'PROXY TCP4 127.0.0.2 127.0', shut=True)
    refused('truncated', SIG[:7], shut=True)


def t_timeout():
    t = LB_TIMEOUT_MS / 1000
    secs = refused('timeout', SIG + b'\x21\x11\x00\x0c' + b'\0' * 5, wait=slack(10))
    check(t - 0.3 <= secs <= t + slack(2), 'closed at the %.1f s detection deadline (%.2f s)'
          % (t, secs))
    secs = refused('timeout', None, wait=slack(10))
    check(t - 0.3 <= secs <= t + slack(2), 'silent client closed at the deadline (%.2f s)' % secs)


def hold(client):
    c = connect(P_LIM)
    c.sendall(v1(client, 1000) + b'hello')
    got = c.recv(5)
    return c, got


def t_per_source():
    """max_connections_per_source 1 counts the header's clients, not the balancer."""
    a, got_a = hold('10.0.0.1')
    b, got_b = hold('10.0.0.2')
    try:
        eq((got_a, got_b), (b'hello', b'hello'), 'two clients behind one balancer admitted')
        m = pt.mark()
        c = connect(P_LIM)
        c.sendall(v1('10.0.0.1', 1001) + b'hello')
        data, how, _ = read_closed(c, 5)
        c.close()
        eq(data, b'', 'second connection of 10.0.0.1 refused')
        expect(pt.conn_after(m), listener='lim', client='10.0.0.1:1001',
               pp='over-source-limit', end='rejected')
        if os.access(CTL, os.X_OK):
            inst = os.path.basename(pt.config_path)[:-len('.json')]
            rc, out, err = run([CTL, '-j', 'status', '--instance', inst])
            eq(rc, 0, 'passthru-ctl status (stderr %s)' % err[-300:])
            clients = sorted(p['client'] for p in json.loads(out)['pairs'])
            eq(clients, ['10.0.0.1:1000', '10.0.0.2:1000'],
               'passthru-ctl status shows the clients the headers named')
    finally:
        a.close()
        b.close()


s.test('direct, proxy_protocol 1: nginx $proxy_protocol_addr is the client',
       t_direct_http, 1, 'v1.example')
s.test('direct, proxy_protocol 2: nginx $proxy_protocol_addr is the client',
       t_direct_http, 2, 'v2.example')
s.test('direct, curl https -> nginx ssl proxy_protocol (v2)', t_direct_curl_tls)
s.test('direct, openssl s_client -> nginx ssl proxy_protocol (v2)', t_direct_s_client)
s.test('direct, cidr route decided at accept -> nginx stream proxy_protocol (v1)', t_stream)
s.test('v2 TLVs: ALPN, authority (SNI), listener name (0xE0)', t_tlvs)
s.test('haproxy send-proxy-v2 -> accept_proxy -> nginx: curl\'s address', t_haproxy_v2_curl)
s.test('haproxy send-proxy (v1) -> accept_proxy -> nginx ssl: curl\'s address',
       t_haproxy_v1_curl_tls)
s.test('haproxy send-proxy-v2 with openssl s_client', t_haproxy_v2_s_client)
s.test('haproxy check-send-proxy health check: v2 LOCAL', t_haproxy_local)
s.test('routes\' cidr match the header\'s client', t_cidr_on_header)
s.test('a header sent onward carries the incoming header\'s addresses', t_onward)
s.test('header split across segments', t_split)
s.test('v2 header and request in one segment', t_v2_split_with_data)
s.test('v2 LOCAL: the balancer is the client', t_local_crafted)
s.test('untrusted source: rejected, pp=untrusted', t_untrusted)
s.test('malformed header: rejected, pp=bad', t_malformed)
s.test('truncated header (FIN inside it): rejected, pp=truncated', t_truncated)
s.test('no header by the detection deadline: rejected, pp=timeout', t_timeout)
s.test('per-source limits and passthru-ctl status use the header\'s client', t_per_source)
s.finish()
