# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Gateway mode ("mode": "tproxy" and "redirect") in network namespaces:
a client namespace whose default route goes through the passthru
namespace, connecting to two "internet" addresses (198.51.100.10 and
203.0.113.10, and 2001:db8:100::10 for IPv6) held by a third; the passthru namespace set up by the
shipped examples/gateway-routing.sh, once per mode. TLS by SNI goes to
an override, SMTP by its port (dst_port, before any byte: the server
speaks first) and one port of one network (dst_cidr + dst_port) to their
own servers, everything else to the destination the client asked for
(forward "original"), bytes checked by sha256; a transparent "original"
route keeps both addresses; a client that asks for passthru's own
listener is refused (no loop). Needs root; skipped (with the reason)
where namespaces cannot be made."""
import atexit
import hashlib
import json
import os
import socket
import ssl
import threading

from ptharness import (Suite, Fail, Skip, eq, check, listener, plane_ok, wait_for, make_cert,
                       run, ROOT, BUILD, PASSTHRU)
from ptnet import Chain, NsEchoServer, NsPassthru, sock_in, in_ns, netns_unavailable, sh

s = Suite('gateway')
WHY = netns_unavailable()
BIG = os.urandom(2 << 20)
BIG_SHA = hashlib.sha256(BIG).hexdigest()
ROUTING = os.path.join(ROOT, 'examples', 'gateway-routing.sh')
CTL = os.path.join(BUILD, 'passthru-ctl')
NET_A, NET_B = '198.51.100.10', '203.0.113.10'
NET_6 = '2001:db8:100::10'
P_GW = 7100


class Server(NsEchoServer):
    """Greets with "srv=ADDR:PORT\\n" (its own address), or banner."""

    def __init__(self, ns, addr, port, ctx=None, banner=None):
        self.banner = banner
        super().__init__(ns, addr, port, ctx)

    def greeting(self, c, peer):
        me = c.getsockname()
        host = '[%s]' % me[0] if ':' in me[0] else me[0]
        return self.banner or b'srv=%s:%d\n' % (host.encode(), me[1])


def talk(dst, port, payload, sni=None):
    """From the client namespace to dst:port (TLS if sni): the first line, then
    payload echoed back (its sha256)."""
    c = sock_in(net.cli, socket.AF_INET6 if ':' in dst else socket.AF_INET)
    c.settimeout(20)
    c.connect((dst, port))
    if sni:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = ctx.wrap_socket(c, server_hostname=sni)
    line = b''
    while not line.endswith(b'\n'):
        d = c.recv(1)
        if not d:
            raise Fail('%s:%d closed before its first line (got %r)' % (dst, port, line))
        line += d
    got = b''
    if payload and sni:
        c.sendall(payload)  # small: fits the buffers on the way back (TLS: one thread)
    elif payload:
        threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)),
                         daemon=True).start()
    if payload:
        while len(got) < len(payload):
            d = c.recv(1 << 20)
            if not d:
                break
            got += d
    c.close()
    return line.decode().strip(), hashlib.sha256(got).hexdigest()


if WHY:
    def t_skip():
        raise Skip(WHY)
    s.test('gateway mode in namespaces', t_skip)
    s.finish()

net = Chain(s, 'g')
atexit.register(net.close)
atexit.register(lambda: sh(*in_ns(net.pt, ROUTING, 'down'), check_rc=False))
SRV, CLI = net.v4(2, 2), net.v4(1, 2)
for a in (NET_A, NET_B):
    sh('ip', '-n', net.srv, 'addr', 'add', a + '/32', 'dev', 's0')
    sh('ip', '-n', net.pt, 'route', 'add', a + '/32', 'via', SRV)
sh('ip', '-n', net.srv, 'addr', 'add', NET_6 + '/128', 'dev', 's0', 'nodad')
sh('ip', '-n', net.pt, 'route', 'add', NET_6 + '/128', 'via', net.v6(2, 2))
net.sysctl(net.pt, 'net.ipv6.conf.all.forwarding=1')
net.sysctl(net.pt, 'net.ipv4.ip_forward=1')
cert, key = make_cert(s, 'override.example')
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
servers = {}
for a in (NET_A, NET_B):
    servers[a, 80] = Server(net.srv, a, 80)
    servers[a, 443] = Server(net.srv, a, 443, tls)
    servers[a, 81] = Server(net.srv, a, 81)
servers[NET_6, 80] = Server(net.srv, NET_6, 80)
servers[NET_6, 443] = Server(net.srv, NET_6, 443, tls)
servers['override'] = Server(net.srv, SRV, 8443, tls)
servers['smtp'] = Server(net.srv, SRV, 2525, banner=b'220 smtp.example ESMTP\n')
servers['web81'] = Server(net.srv, SRV, 9081)


def route(name, forward, transparent=False, **match):
    r = {'name': name, 'forward': forward}
    if match:
        r['match'] = match
    if transparent:
        r['transparent'] = True
    return r


def config(mode):
    l = listener('gw', P_GW, [
        route('smtp', '%s:2525' % SRV, dst_port=25),
        route('b81', '%s:9081' % SRV, dst_cidr='203.0.113.0/24', dst_port=81),
        route('kept', 'original', transparent=True, dst_port=80, dst_cidr=NET_B + '/32'),
        route('override', '%s:8443' % SRV, protocol='tls', sni='override.example'),
        route('original', 'original'),
    ], mode=mode, timeout_ms=1000)
    l['listen'] = ['0.0.0.0:%d' % P_GW, '[::]:%d' % P_GW]
    return {'listeners': [l]}


def addr_of(v):
    return v.rsplit(':', 1)[0].strip('[]')


def hp(host, port):
    return '%s:%d' % ('[%s]' % host if ':' in host else host, port)


def t_original(dst, port, want):
    m = pt.mark()
    line, sha = talk(dst, port, BIG)
    eq(line, 'srv=%s' % hp(dst, port), 'the server the client asked for answered')
    eq(sha, BIG_SHA, 'sha256 of 2 MiB echoed')
    pt.conn_after(m, timeout=20, route=want, dst=hp(dst, port), upstream=hp(dst, port),
                  plane=plane_ok, end='done')


def t_kept():
    """forward "original" + transparent: the server sees the client, the client the server."""
    srv = servers[NET_B, 80]
    n = len(srv.peers)
    m = pt.mark()
    line, sha = talk(NET_B, 80, BIG)
    eq((line, sha), ('srv=%s:80' % NET_B, BIG_SHA), 'reply and sha256')
    eq(srv.peers[n:], [CLI], "the server's getpeername()")
    pt.conn_after(m, timeout=20, route='kept', src=lambda v: addr_of(v) == CLI, plane=plane_ok,
                  end='done')


def t_override(dst):
    m = pt.mark()
    line, sha = talk(dst, 443, BIG[:200000], sni='override.example')
    eq(line, 'srv=%s:8443' % SRV, 'the override answered')
    eq(sha, hashlib.sha256(BIG[:200000]).hexdigest(), 'sha256 through TLS')
    pt.conn_after(m, timeout=20, route='override', dst=hp(dst, 443), proto='tls',
                  plane=plane_ok)


def t_other_sni():
    m = pt.mark()
    line, sha = talk(NET_A, 443, BIG[:200000], sni='other.example')
    eq(line, 'srv=%s:443' % NET_A, 'another name goes to the destination asked for')
    pt.conn_after(m, timeout=20, route='original', dst='%s:443' % NET_A, proto='tls')


def t_smtp():
    """dst_port decides at accept: the server's banner comes with no byte sent."""
    m = pt.mark()
    line, _ = talk(NET_A, 25, b'')
    eq(line, '220 smtp.example ESMTP', 'SMTP banner from the port route')
    pt.conn_after(m, timeout=20, route='smtp', dst='%s:25' % NET_A, proto='-')


def t_dst_cidr():
    m = pt.mark()
    line, _ = talk(NET_B, 81, b'x' * 100)
    eq(line, 'srv=%s:9081' % SRV, '203.0.113.10:81 goes to the dst_cidr route')
    line, _ = talk(NET_A, 81, b'x' * 100)
    eq(line, 'srv=%s:81' % NET_A, '198.51.100.10:81 (other network) to its original')
    got = pt.conns_after(m, 2, timeout=20)
    eq([d['route'] for d in got], ['b81', 'original'], 'routes')


def t_loop():
    """A client that asks for passthru's own listener is refused, not looped."""
    m = pt.mark()
    c = sock_in(net.cli)
    c.settimeout(10)
    c.connect((net.v4(1, 1), P_GW))
    c.sendall(b'GET / HTTP/1.0\r\n\r\n')
    try:
        got = c.recv(100)
    except OSError:
        got = b''
    c.close()
    eq(got, b'', 'nothing answered')
    pt.conn_after(m, timeout=20, route='original', end='upstream-failed',
                  dst='%s:%d' % (net.v4(1, 1), P_GW))
    check('(a loop): refused' in pt.log(), 'the warning says why')


def t_status():
    c = sock_in(net.cli)
    c.settimeout(10)
    c.connect((NET_A, 80))
    c.recv(100)
    try:
        inst = os.path.basename(pt.config_path)[:-len('.json')]
        rc, out, err = run([CTL, '-j', 'status', '--instance', inst])
        eq(rc, 0, 'passthru-ctl status (stderr %s)' % err[-300:])
        pairs = [(addr_of(p['client']), p['dst']) for p in json.loads(out)['pairs']]
        eq(pairs, [(CLI, '%s:80' % NET_A)], 'passthru-ctl status: client and destination')
    finally:
        c.close()


def t_check_no_cap():
    """--check: "tproxy" without CAP_NET_ADMIN or CAP_NET_RAW is a clear error;
    "redirect" needs none."""
    os.chmod(s.dir, 0o755)
    for mode, want_rc in (('tproxy', 2), ('redirect', 0)):
        path = s.path('nocap-%s.json' % mode)
        cfg = config(mode)
        for r in cfg['listeners'][0]['routes']:
            r.pop('transparent', None)  # only the mode needs a capability here
        with open(path, 'w') as f:
            json.dump(cfg, f)
        os.chmod(path, 0o644)
        rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                            PASSTHRU, '--check', '-c', path])
        eq(rc, want_rc, '%s: --check exit status (stderr %s)' % (mode, err))
    rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                        PASSTHRU, '--check', '-c', s.path('nocap-tproxy.json')])
    check('listeners[0].mode: "tproxy" needs CAP_NET_ADMIN or CAP_NET_RAW' in err,
          'the error names the capability: %r' % err)


s.test('--check: tproxy without the capability', t_check_no_cap)
for mode in ('tproxy', 'redirect'):
    sh(*in_ns(net.pt, ROUTING, mode, str(P_GW), 'p1'))
    pt = NsPassthru(s, net.pt, config(mode), name='gw-' + mode)
    s.test('%s: plain to %s:80 goes to its original destination' % (mode, NET_A), t_original,
           NET_A, 80, 'original')
    s.test('%s: transparent original keeps both addresses' % mode, t_kept)
    s.test('%s: TLS override.example to %s goes to the override' % (mode, NET_B),
           t_override, NET_B)
    s.test('%s: TLS override.example to %s too' % (mode, NET_A), t_override, NET_A)
    s.test('%s: TLS other.example to its original' % mode, t_other_sni)
    s.test('%s: IPv6 plain to [%s]:80 goes to its original destination' % (mode, NET_6),
           t_original, NET_6, 80, 'original')
    s.test('%s: IPv6 TLS override.example goes to the override' % mode, t_override, NET_6)
    s.test('%s: SMTP by dst_port before any byte' % mode, t_smtp)
    s.test('%s: dst_cidr and dst_port' % mode, t_dst_cidr)
    s.test('%s: asking for passthru itself is refused' % mode, t_loop)
    s.test('%s: passthru-ctl status shows the destination' % mode, t_status)
    pt.stop()
    sh(*in_ns(net.pt, ROUTING, 'down'))
s.finish()
