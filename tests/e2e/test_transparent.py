# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Transparent upstream connections ("transparent": true on a route) in
network namespaces: client -> passthru -> server over veth pairs
(ptnet.Chain), the passthru namespace set up by the shipped
examples/transparent-routing.sh. The server's view is checked with real
parts: a Python server's getpeername() and nginx's access log
($remote_addr); bytes of a bulk download by sha256, so that a sockmap or
splice pair carries them; IPv4 and IPv6. A route without "transparent"
shows passthru's own address, which proves the test can tell them apart.
Needs root; skipped (with the reason) where namespaces cannot be made."""
import atexit
import hashlib
import json
import os
import socket

from ptharness import (Suite, Proc, Fail, Skip, eq, check, listener, route, plane_ok, wait_for,
                       run, ROOT, BUILD, PASSTHRU)
from ptnet import Chain, NsEchoServer, NsPassthru, sock_in, in_ns, netns_unavailable, sh

s = Suite('transparent')
WHY = netns_unavailable()
BIG = os.urandom(4 << 20)
BIG_SHA = hashlib.sha256(BIG).hexdigest()
P_NGX, P_ECHO, P_ECHO6 = 8080, 9000, 9006
ROUTING = os.path.join(ROOT, 'examples', 'transparent-routing.sh')
CTL = os.path.join(BUILD, 'passthru-ctl')


class PeerServer(NsEchoServer):
    """Greets with "peer=IP\\n": the getpeername() it saw."""

    def greeting(self, c, peer):
        return b'peer=%s\n' % peer[0].encode()


def start_nginx(net):
    d = s.dir
    os.makedirs(os.path.join(d, 'www'), exist_ok=True)
    with open(os.path.join(d, 'www', 'big'), 'wb') as f:
        f.write(BIG)
    conf = ('user root;\nworker_processes 1;\ndaemon off;\npid %(d)s/nginx.pid;\n'
            'error_log %(d)s/nginx-error.log info;\nevents { worker_connections 256; }\n'
            'http {\n client_body_temp_path %(d)s/ngx-body;\n'
            ' log_format peer "$remote_addr $request $status $body_bytes_sent";\n'
            ' access_log %(d)s/nginx-access.log peer;\n'
            ' server { listen %(a)s:%(p)d; listen [%(a6)s]:%(p)d; root %(d)s/www;\n'
            '  location = / { return 200 "remote=$remote_addr\\n"; } }\n}\n' %
            {'d': d, 'a': net.v4(2, 2), 'a6': net.v6(2, 2), 'p': P_NGX})
    path = s.write('nginx.conf', conf)
    p = Proc(s, 'nginx', in_ns(net.srv, 'nginx', '-p', d, '-c', path))
    wait_for(lambda: ':%d ' % P_NGX in sh(*in_ns(net.srv, 'ss', '-Htln')) or not p.alive(),
             10, 'nginx')
    if not p.alive():
        raise Fail('nginx died: %s' % p.stderr())


def access_log():
    try:
        with open(s.path('nginx-access.log')) as f:
            return f.read().splitlines()
    except OSError:
        return []


def curl_in(ns, url, *args):
    return run(in_ns(ns, 'curl', '-sS', '--max-time', '20', *args, url), timeout=30)


def url(host, port, path='/'):
    return 'http://%s:%d%s' % ('[%s]' % host if ':' in host else host, port, path)


if WHY:
    def t_skip():
        raise Skip(WHY)
    s.test('transparent upstreams in namespaces', t_skip)
    s.finish()

net = Chain(s, 't')
atexit.register(net.close)
sh(*in_ns(net.pt, ROUTING, 'up'))
start_nginx(net)
echo4 = PeerServer(net.srv, net.v4(2, 2), P_ECHO)
echo6 = PeerServer(net.srv, net.v6(2, 2), P_ECHO6)
CLI4, CLI6, PT4, PT6 = net.v4(1, 2), net.v6(1, 2), net.v4(2, 1), net.v6(2, 1)
SRV4, SRV6 = net.v4(2, 2), net.v6(2, 2)
P_T, P_PLAIN, P_T6, P_TE, P_TE6, P_DUAL, P_DROP = 7000, 7001, 7006, 7010, 7016, 7020, 7030


def lst(name, port, routes, host='0.0.0.0'):
    l = listener(name, port, routes)
    l['listen'] = '%s:%d' % ('[%s]' % host if ':' in host else host, port)
    return l


def troute(*a, **kw):
    r = route(*a, **kw)
    r['transparent'] = True
    return r


pt = NsPassthru(s, net.pt, {'listeners': [
    lst('t', P_T, [troute('t-http', '%s:%d' % (SRV4, P_NGX), protocol='http')]),
    lst('te', P_TE, [troute('t-echo', '%s:%d' % (SRV4, P_ECHO))]),
    lst('plain', P_PLAIN, [route('plain', '%s:%d' % (SRV4, P_NGX))]),
    lst('t6', P_T6, [troute('t6-http', '[%s]:%d' % (SRV6, P_NGX), protocol='http')], host='::'),
    dict(lst('dual', P_DUAL, [troute('dual-echo', '%s:%d' % (SRV4, P_ECHO))]),
         listen=':%d' % P_DUAL),
    lst('te6', P_TE6, [troute('t6-echo', '[%s]:%d' % (SRV6, P_ECHO6))], host='::'),
]})


def echo_via(ns, host, port, payload):
    """Connect from ns to passthru, read the server's "peer=" line, echo payload."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    c = sock_in(ns, fam)
    c.settimeout(10)
    c.connect((host, port))
    line = b''
    while not line.endswith(b'\n'):
        d = c.recv(1)
        if not d:
            raise Fail('server closed before its peer line')
        line += d
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    got = b''
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        got += d
    c.close()
    return line.decode().strip(), got


def t_echo(host, port, client, server, srv_port):
    m = pt.mark()
    peer, got = echo_via(net.cli, host, port, BIG)
    eq(peer, 'peer=%s' % client, "the server's getpeername()")
    eq(hashlib.sha256(got).hexdigest(), BIG_SHA, 'sha256 of the 4 MiB echoed back')
    d = pt.conn_after(m, timeout=20, client=lambda v: v.rsplit(':', 1)[0].strip('[]') == client,
                      src=lambda v: v.rsplit(':', 1)[0].strip('[]') == client, plane=plane_ok,
                      end='done', up=len(BIG), down=len(BIG) + len(peer) + 1)
    check(d['upstream'].rsplit(':', 1)[0].strip('[]') == server, 'upstream %s' % d['upstream'])


def t_nginx(host, port, client):
    n = len(access_log())
    m = pt.mark()
    rc, out, err = curl_in(net.cli, url(host, port), '-H', 'Host: t.example')
    eq((rc, out.strip()), (0, 'remote=%s' % client), 'nginx $remote_addr (curl: %s)' % err)
    pt.conn_after(m, route=lambda v: v.endswith('-http'), plane=plane_ok, end='done',
                  src=lambda v: v.rsplit(':', 1)[0].strip('[]') == client)
    # bulk: a 4 MiB file, its sha256, and the access log's line
    m = pt.mark()
    rc, out, err = run(in_ns(net.cli, 'sh', '-c', 'curl -sS --max-time 20 "$0" | sha256sum',
                             url(host, port, '/big')), timeout=30)
    eq((rc, out.split()[0] if out else ''), (0, BIG_SHA), 'sha256 of /big (%s)' % err)
    pt.conn_after(m, plane=plane_ok, end='done', down=lambda v: v > len(BIG))
    wait_for(lambda: len(access_log()) >= n + 2, 5, 'two nginx access log lines')
    lines = access_log()[n:]
    eq([x.split()[0] for x in lines], [client, client], 'nginx access log $remote_addr')
    check(lines[1].endswith(' 200 %d' % len(BIG)), 'access log: %s' % lines[1])


def t_plain():
    """Without "transparent" the server sees passthru: the test tells them apart."""
    rc, out, err = curl_in(net.cli, url(net.v4(1, 1), P_PLAIN))
    eq((rc, out.strip()), (0, 'remote=%s' % PT4), 'nginx $remote_addr without transparent')


def t_status():
    """passthru-ctl status names the real client of a relaying pair."""
    c = sock_in(net.cli)
    c.settimeout(10)
    c.connect((net.v4(1, 1), P_TE))
    c.recv(100)
    try:
        inst = os.path.basename(pt.config_path)[:-len('.json')]
        rc, out, err = run([CTL, '-j', 'status', '--instance', inst])
        eq(rc, 0, 'passthru-ctl status (stderr %s)' % err[-300:])
        clients = [p['client'].rsplit(':', 1)[0] for p in json.loads(out)['pairs']]
        eq(clients, [CLI4], 'passthru-ctl status shows the client')
    finally:
        c.close()


def t_dropped():
    """Dropped to "user": the daemon keeps CAP_NET_ADMIN for transparent routes."""
    p = NsPassthru(s, net.pt, {'user': 'nobody', 'listeners': [
        lst('drop', P_DROP, [troute('drop-echo', '%s:%d' % (SRV4, P_ECHO))])]}, name='dropped')
    try:
        wait_for(lambda: 'running as nobody' in p.log(), 10, 'the privilege drop')
        check('with CAP_NET_ADMIN' in p.log() or 'and CAP_NET_ADMIN' in p.log(),
              'kept CAP_NET_ADMIN: %s' % [x for x in p.log().splitlines() if 'running as' in x])
        m = p.mark()
        peer, got = echo_via(net.cli, net.v4(1, 1), P_DROP, b'x' * 1000)
        eq(peer, 'peer=%s' % CLI4, "the server's getpeername()")
        p.conn_after(m, plane=plane_ok, end='done', up=1000)
    finally:
        p.stop()


def t_check_no_cap():
    """--check without CAP_NET_ADMIN or CAP_NET_RAW: a clear error, exit 2."""
    path = s.path('nocap.json')
    with open(path, 'w') as f:
        json.dump({'listeners': [lst('x', 7999, [troute('r', '127.0.0.1:80')])]}, f)
    os.chmod(s.dir, 0o755)
    os.chmod(path, 0o644)
    rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                        PASSTHRU, '--check', '-c', path])
    eq(rc, 2, '--check exit status (stderr %s)' % err)
    check('listeners[0].routes[0].transparent: needs CAP_NET_ADMIN or CAP_NET_RAW' in err,
          'the error names the capability: %r' % err)
    rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                        '--inh-caps=+net_raw', '--ambient-caps=+net_raw', PASSTHRU, '--check',
                        '-c', path])
    eq(rc, 0, '--check with CAP_NET_RAW alone (stderr %s)' % err)


s.test('v4 echo: getpeername is the client, 4 MiB by sha256',
       t_echo, net.v4(1, 1), P_TE, CLI4, SRV4, P_ECHO)
s.test('v4 nginx: $remote_addr is the client, bulk by sha256', t_nginx, net.v4(1, 1), P_T, CLI4)
s.test('v6 echo: getpeername is the client', t_echo, net.v6(1, 1), P_TE6, CLI6, SRV6, P_ECHO6)
s.test('v6 nginx: $remote_addr is the client', t_nginx, net.v6(1, 1), P_T6, CLI6)
s.test('dual-stack listener, IPv4 client (::ffff:) bound as IPv4', t_echo, net.v4(1, 1), P_DUAL,
       CLI4, SRV4, P_ECHO)
s.test('without transparent the server sees passthru', t_plain)
s.test('passthru-ctl status shows the client', t_status)
s.test('dropped to a user, CAP_NET_ADMIN kept', t_dropped)
s.test('--check without the capability', t_check_no_cap)
sh(*in_ns(net.pt, ROUTING, 'down'))
net.close()
s.finish()
