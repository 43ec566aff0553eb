# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""Config handling seen from outside: --check, errors and exit codes, and the
legacy (Go passthru) format loading and routing real traffic."""
import json
import re
import socket

from ptharness import (Suite, Passthru, TlsBackend, HttpBackend, PtServer, PASSTHRU, run,
                       s_client, cert_cn, curl, connect, recv_all, eq, check, expect, free_port,
                       need_file, listener, route)

s = Suite('config')
alpha = TlsBackend(s, 'alpha.example')
h2 = TlsBackend(s, 'h2.example', alpn='h2')
web = HttpBackend(s, 'web')
other = HttpBackend(s, 'other')
ssh = PtServer(s, 'banner', 'ssh\\n', name='banner-ssh')
port = free_port()

LEGACY = {
    'version': 'v0.2.0',
    'servers': {
        '127.0.0.1:%d' % port: {
            'TLS': {
                'SNI alpha.example': {'action': 'FORWARD', 'to_addr': alpha.addr},
                'ALPN h2': {'action': 'FORWARD', 'to_addr': h2.addr},
                'CATCHALL': {'action': 'REJECT'},
            },
            'HTTP': {'HOST web.example': {'action': 'FORWARD', 'to_addr': web.addr}},
            'SSH': {'CATCHALL': {'action': 'FORWARD', 'to_addr': ssh.addr}},
            'CATCHALL': {'CATCHALL': {'action': 'FORWARD', 'to_addr': other.addr}},
        }
    }
}


def check_cmd(path, *extra):
    need_file(PASSTHRU)
    return run([PASSTHRU, '--check', '-c', path] + list(extra), timeout=10)


def t_legacy_check():
    path = s.write('legacy.json', json.dumps(LEGACY))
    rc, out, err = check_cmd(path)
    eq(rc, 0, 'exit status of --check on the legacy file (%s)' % err.strip())
    check('legacy format' in err, 'stderr says it read the legacy format: %r' % err)
    cfg = json.loads(out)
    eq(len(cfg['listeners']), 1, 'listeners in the translation')
    l0 = cfg['listeners'][0]
    eq(l0['listen'], ['127.0.0.1:%d' % port], 'translated listen address')
    got = [(r.get('match', {}).get('protocol', 'any'), r.get('forward'), r.get('reject', False))
           for r in l0['routes']]
    # Specific rules first within a protocol, then its CATCHALL; SSH's silent clients
    # (a timeout route); the global CATCHALL last.
    eq(got, [('tls', [alpha.addr], False), ('tls', [h2.addr], False), ('tls', None, True),
             ('http', [web.addr], False), ('ssh', [ssh.addr], False),
             ('timeout', [ssh.addr], False), ('any', [other.addr], False)],
       'translated routes (protocol, forward, reject)')
    eq(l0['routes'][0]['match'].get('sni'), ['alpha.example'], 'SNI rule')
    eq(l0['routes'][1]['match'].get('alpn'), ['h2'], 'ALPN rule')
    eq(l0['routes'][3]['match'].get('host'), ['web.example'], 'HOST rule')
    # The translation is itself a valid native config.
    rc2, out2, err2 = check_cmd(s.write('translated.json', out))
    eq(rc2, 0, '--check of the translation (%s)' % err2.strip())
    eq(json.loads(out2)['listeners'], cfg['listeners'], 'translation round trip')


legacy_pt = None


def legacy():
    global legacy_pt
    if legacy_pt is None:
        legacy_pt = Passthru(s, LEGACY, name='legacy')
    return legacy_pt


def t_legacy_sni():
    pt = legacy()
    m = pt.mark()
    out = s_client(port, 'alpha.example')
    eq(cert_cn(out), 'alpha.example', 'certificate through the legacy SNI rule')
    expect(pt.conn_after(m), route='TLS SNI alpha.example', proto='tls', sni='alpha.example',
           upstream=alpha.addr, end='done')


def t_legacy_alpn():
    pt = legacy()
    m = pt.mark()
    out = s_client(port, 'other.example', alpn='h2')
    eq(cert_cn(out), 'h2.example', 'certificate through the legacy ALPN rule')
    expect(pt.conn_after(m), route='TLS ALPN h2', proto='tls', alpn='h2', upstream=h2.addr,
           end='done')


def t_legacy_reject():
    pt = legacy()
    m = pt.mark()
    out = s_client(port, 'other.example', request=False)
    eq(cert_cn(out), None, 'no certificate: TLS CATCHALL rejects')
    expect(pt.conn_after(m), route='TLS CATCHALL', proto='tls', sni='other.example',
           end='rejected', up=0, down=0)


def t_legacy_http():
    pt = legacy()
    m = pt.mark()
    rc, out, err = curl('-H', 'Host: web.example', 'http://127.0.0.1:%d/leg' % port)
    eq(out, 'backend=web method=GET host=web.example path=/leg\n', 'HTTP HOST rule')
    expect(pt.conn_after(m), route='HTTP HOST web.example', proto='http', host='web.example',
           upstream=web.addr, end='done')


def t_legacy_ssh():
    pt = legacy()
    m = pt.mark()
    c = connect(port)
    c.sendall(b'SSH-2.0-legacy_test\r\n')
    c.shutdown(socket.SHUT_WR)
    eq(recv_all(c), b'ssh\nSSH-2.0-legacy_test\r\n', 'SSH CATCHALL rule')
    expect(pt.conn_after(m), route='SSH CATCHALL', proto='ssh', upstream=ssh.addr, end='done',
           up=21, down=25)


def t_legacy_catchall():
    pt = legacy()
    m = pt.mark()
    rc, out, err = curl('-H', 'Host: elsewhere.example', 'http://127.0.0.1:%d/x' % port)
    eq(out, 'backend=other method=GET host=elsewhere.example path=/x\n',
       'HTTP without a HOST rule goes to the global CATCHALL')
    expect(pt.conn_after(m), route='CATCHALL', proto='http', upstream=other.addr, end='done')


def t_native_check():
    p2 = free_port()
    cfg = {'grace_ms': 1500, 'listeners': [listener('one', p2, [
        route('a', web.addr, protocol='http', host=['x.example', '*.y.example']),
        route('b', reject=True, cidr='10.0.0.0/8'),
        route('c', [web.addr, other.addr]),
    ], timeout_ms=1234, idle_timeout_ms=60000)]}
    rc, out, err = check_cmd(s.write('native.json', json.dumps(cfg)))
    eq(rc, 0, 'exit status (%s)' % err.strip())
    got = json.loads(out)
    eq(got['grace_ms'], 1500, 'grace_ms')
    l0 = got['listeners'][0]
    eq((l0['name'], l0['listen'], l0['timeout_ms'], l0['idle_timeout_ms']),
       ('one', ['127.0.0.1:%d' % p2], 1234, 60000), 'listener fields')
    eq([r['name'] for r in l0['routes']], ['a', 'b', 'c'], 'route order')
    eq(l0['routes'][0]['match']['host'], ['x.example', '*.y.example'], 'host list')
    eq(l0['routes'][2]['forward'], [web.addr, other.addr], 'forward list')
    check(l0['routes'][1].get('reject') is True, 'reject route')


ERR_RE = r'^passthru: \S*%s: %s: .+$'


def bad_config(name, text, paths):
    """--check and a real start both exit 2 and name every error's JSON path."""
    path = s.write(name, text)
    for argv in (['--check', '-c', path], ['-c', path]):
        need_file(PASSTHRU)
        rc, out, err = run([PASSTHRU] + argv, timeout=10)
        eq(rc, 2, 'exit status of passthru %s' % ' '.join(argv))
        eq(out, '', 'stdout of a failed check')
        for p in paths:
            check(re.search(ERR_RE % (re.escape(name), re.escape(p)), err, re.M),
                  'error line "passthru: %s: %s: ..." in:\n%s' % (name, p, err))


def t_bad_forward():
    bad_config('bad-forward.json', json.dumps({'listeners': [listener('l', 1, [
        route('ok', '127.0.0.1:1', protocol='ssh'),
        route('bad', 'nowhere')])]}), ['listeners[0].routes[1].forward'])


def t_bad_many():
    # Every error is reported, not just the first.
    bad_config('bad-many.json', json.dumps({'listeners': [
        {'listen': '127.0.0.1:1', 'routes': [{'forward': '127.0.0.1:1', 'colour': 'red'}]},
        {'listen': '127.0.0.1:2', 'routes': [{'match': {'protocol': 'gopher'},
                                              'forward': '127.0.0.1:1'}]},
    ]}), ['listeners[0].routes[0].colour', 'listeners[1].routes[0].match.protocol'])


def t_bad_json():
    path = s.write('bad-json.json', '{"listeners": [ {"listen": ')
    rc, out, err = run([PASSTHRU, '--check', '-c', path], timeout=10)
    eq(rc, 2, 'exit status on malformed JSON')
    check('bad-json.json' in err, 'error names the file: %r' % err)


def t_usage():
    need_file(PASSTHRU)
    for argv, what in (([], 'no -c'), (['-c'], '-c without a file'),
                       (['-w', '0', '-c', '/dev/null'], '-w 0'),
                       (['--no-such-flag'], 'unknown flag'),
                       (['-c', s.path('missing.json')], 'missing file')):
        rc, out, err = run([PASSTHRU] + argv, timeout=10)
        eq(rc, 2, 'exit status for %s' % what)
        check(err.strip(), 'a message on stderr for %s' % what)
    rc, out, err = run([PASSTHRU], timeout=10)
    check('-c' in err, 'missing -c is explained: %r' % err)


def t_cannot_bind():
    # A port another socket holds: runtime failure, exit 1.
    holder = socket.socket()
    holder.bind(('127.0.0.1', 0))
    holder.listen()
    p = holder.getsockname()[1]
    path = s.write('busy.json', json.dumps({'listeners': [listener('busy', p, [
        route('any', '127.0.0.1:1')])]}))
    rc, out, err = run([PASSTHRU, '-c', path], timeout=10)
    holder.close()
    eq(rc, 1, 'exit status when the port is taken')
    check('127.0.0.1:%d' % p in err, 'error names the address: %r' % err[-300:])


s.test('legacy config: --check prints the translation', t_legacy_check)
s.test('legacy config: SNI rule routes', t_legacy_sni)
s.test('legacy config: ALPN rule routes', t_legacy_alpn)
s.test('legacy config: TLS CATCHALL REJECT', t_legacy_reject)
s.test('legacy config: HTTP HOST rule routes', t_legacy_http)
s.test('legacy config: SSH CATCHALL routes', t_legacy_ssh)
s.test('legacy config: global CATCHALL', t_legacy_catchall)
s.test('--check on a native config prints it as JSON', t_native_check)
s.test('bad forward: exit 2, FILE: PATH: message', t_bad_forward)
s.test('every error reported with its path', t_bad_many)
s.test('malformed JSON: exit 2', t_bad_json)
s.test('usage errors and a missing file: exit 2', t_usage)
s.test('port already taken: exit 1', t_cannot_bind)
s.finish()
