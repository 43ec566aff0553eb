# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""passthru-ctl's OBJECT COMMAND grammar against a live daemon: conn show
with its route and client keywords, route show, stats show, instance
list/show, config reload, help for every object (null under -j), prefixes,
and the errors: unknown object, unknown command, a stray argument, an
option of another command, each a clear message, non-zero, JSON under -j.
The verbs of 0.1 are covered by test_ctl.py."""
import json
import os
import socket

from ptharness import (BUILD, Suite, Passthru, PtServer, Fail, run, eq, check, wait_for,
                       listener, route, free_port, connect)

CTL = os.path.join(BUILD, 'passthru-ctl')

s = Suite('ctl_grammar')
echo = PtServer(s, 'echo')
P_FRONT = free_port()
pt = Passthru(s, {'listeners': [listener('front', P_FRONT, [
    route('web', echo.addr, protocol='http', host='web.example'),
    route('other', echo.addr),
])]}, name='ctlg')
INST = os.path.basename(pt.config_path)[:-len('.json')]


def ctl(*args, rc=0):
    """Run passthru-ctl; returns (stdout, stderr)."""
    got, out, err = run([CTL] + [str(a) for a in args], timeout=20)
    if rc is not None and got != rc:
        raise Fail('passthru-ctl %s exited %d, want %d\n  stdout: %s\n  stderr: %s' % (
            ' '.join(map(str, args)), got, rc, out[-1500:], err[-1500:]))
    return out, err


def ctl_json(*args, rc=0):
    out, err = ctl('-j', *args, rc=rc)
    try:
        return json.loads(out)
    except ValueError:
        raise Fail('passthru-ctl -j %s: not one JSON document: %r (stderr %r)' % (
            ' '.join(map(str, args)), out[:500], err[:500]))


def http_open(host):
    c = connect(P_FRONT)
    req = b'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % host.encode()
    c.sendall(req)
    got = b''
    while len(got) < len(req):
        d = c.recv(65536)
        if not d:
            break
        got += d
    eq(got, req, 'echo through %s' % host)
    return c


def t_conn_show():
    a, b = http_open('web.example'), http_open('other.example')
    try:
        def two():
            doc = ctl_json('--instance', INST, 'conn', 'show')
            return (doc,) if len(doc['pairs']) == 2 else None
        doc = wait_for(two, 5, 'two pairs in conn show', interval=0.05)[0]
        eq(sorted(p['route'] for p in doc['pairs']), ['other', 'web'], 'routes')
        old = ctl_json('status', '--instance', INST)
        eq(sorted(old), sorted(doc), 'conn show and status give one document')
        eq([p['route'] for p in ctl_json('conn', 'show', 'route', 'web',
                                          '--instance', INST)['pairs']], ['web'], 'route web')
        eq(len(ctl_json('conn', 'list', 'client', '127.0.0.0/8', '--instance',
                        INST)['pairs']), 2, 'client 127.0.0.0/8')
        eq(len(ctl_json('conn', 'show', 'client', '10.0.0.1', 'route', 'web', '--instance',
                        INST)['pairs']), 0, 'client 10.0.0.1')
        eq(len(ctl_json('conn', '--instance', INST, '--route', 'web')['pairs']), 1,
           'conn without a command is conn show; --route still works there')
        eq([p['route'] for p in ctl_json('--route', 'web', '--instance', INST,
                                          'status')['pairs']], ['web'],
           '0.1 order: --route before status')
        doc = ctl_json('--route', 'web', 'stats', rc=22)
        check('--route' in doc['error'], '--route before stats: %s' % doc)
        out, err = ctl('conn', 'show', '--instance', INST)
        check('Instance' in out and '2 pairs' in out, 'conn show table: %r' % out)
        doc = ctl_json('conn', 'show', 'client', '1.2.3.300', '--instance', INST, rc=22)
        check('--client' in doc['error'], 'bad client: %s' % doc)
        doc = ctl_json('conn', 'show', 'route', rc=22)
        check("'route NAME'" in doc['error'], 'route without NAME: %s' % doc)
    finally:
        a.close()
        b.close()


def t_route_stats():
    doc = ctl_json('route', 'show', '--instance', INST)
    routes = doc['instances'][0]['routes']['listeners'][0]['routes']
    eq([r['name'] for r in routes], ['web', 'other'], 'route show')
    eq(ctl_json('routes', '--instance', INST), doc, 'route show is routes')
    eq(ctl_json('ro', '--instance', INST), doc, '"ro": route and routes are one command')
    out, err = ctl('route', 'show', '--instance', INST)
    check('listener 0 front' in out and 'web' in out, 'route show table: %r' % out)
    doc = ctl_json('stats', 'show', '--instance', INST)
    st = doc['instances'][0]['stats']
    check(st['listeners'][0]['accepted'] >= 2, 'stats show: %s' % st['listeners'][0])
    out, err = ctl('stats', 'list', '--instance', INST)
    check('listener 0 front' in out, 'stats list table: %r' % out)


def t_instance():
    doc = ctl_json('instance', 'list', '--instance', INST)
    eq([i['name'] for i in doc['instances']], [INST], 'instance list')
    check(doc['instances'][0]['control_ok'], 'control ok: %s' % doc)
    doc2 = ctl_json('instance', 'show', INST)
    eq([i['name'] for i in doc2['instances']], [INST], 'instance show NAME')
    doc = ctl_json('instance', 'show', 'nosuch-%d' % os.getpid(), rc=2)
    check('not running' in doc['error'], 'instance show of nothing: %s' % doc)
    doc = ctl_json('instance', 'list', 'extra', rc=22)
    check("unexpected argument 'extra'" in doc['error'], 'stray argument: %s' % doc)


def t_config_reload():
    doc = ctl_json('config', 'reload', '--instance', INST)
    eq([i['name'] for i in doc['instances']], [INST], 'config reload answered')
    eq(doc['instances'][0]['generation'], 1, 'generation after config reload')
    out, err = ctl('config', 'reload', '--instance', INST)
    check(out.startswith('instance %s: reloaded' % INST), 'config reload text: %r' % out)
    out, err = ctl('config')
    check(out.startswith('Usage: passthru-ctl [OPTIONS] config reload'),
          'config alone is config help: %r' % out)


def t_help():
    for obj, grammar in (('conn', 'conn { show | list } [route NAME] [client CIDR]'),
                         ('stats', 'stats { show | list }'),
                         ('route', 'route { show | list }'),
                         ('config', 'config reload'),
                         ('instance', 'instance { list | show [NAME...] }')):
        out, err = ctl(obj, 'help')
        check(out.startswith('Usage: passthru-ctl [OPTIONS] %s' % grammar),
              '%s help: %r' % (obj, out))
        check('OPTIONS :=' in out, '%s help lists the options' % obj)
        out, err = ctl('-j', obj, 'help')
        eq(out.strip(), 'null', '%s help under -j' % obj)
    out, err = ctl('help')
    check('OBJECT :=' in out and 'COMMAND :=' in out, 'help: objects and aliases')
    for obj in ('conn', 'stats', 'route', 'config', 'instance'):
        check('passthru-ctl %s ' % obj in out, 'help shows the grammar of %s' % obj)
    out, err = ctl('version', 'help')
    check(out.startswith('Usage: passthru-ctl [OPTIONS] version'), 'version help: %r' % out)


def t_errors():
    doc = ctl_json('bogus', rc=22)
    eq(doc, {'error': "unknown command 'bogus' (see 'passthru-ctl help')"}, 'unknown object')
    doc = ctl_json('conn', 'bogus', rc=22)
    eq(doc, {'error': "unknown command 'bogus' (see 'passthru-ctl conn help')"},
       'unknown command')
    doc = ctl_json('c', rc=22)
    eq(doc, {'error': "command 'c' is ambiguous: conn, config"}, 'ambiguous object')
    doc = ctl_json('instance', 's', INST)
    eq([i['name'] for i in doc['instances']], [INST], 'command prefix: instance s')
    doc = ctl_json('route', 'show', '--client', '1.2.3.4', rc=22)
    check('status only' in doc['error'], 'an option of another command: %s' % doc)
    doc = ctl_json('stats', 'show', '--bogus', rc=22)
    check("unknown or incomplete option '--bogus'" in doc['error'], 'unknown option: %s' % doc)
    out, err = ctl('conn', 'bogus', rc=22)
    eq(out, '', 'nothing on stdout without -j')
    check(err.startswith("Error: unknown command 'bogus'"), 'text error: %r' % err)
    out, err = ctl('-p', 'conn', 'bogus', rc=22)
    check(json.loads(out)['error'].startswith('unknown command') and '\n' in out.strip(),
          '-p error is pretty JSON: %r' % out)


s.test('conn show: route and client keywords, table, the status alias', t_conn_show)
s.test('route show, stats show', t_route_stats)
s.test('instance list, instance show NAME', t_instance)
s.test('config reload', t_config_reload)
s.test('help for every object, null under -j', t_help)
s.test('errors: unknown object and command, stray options, JSON under -j', t_errors)
s.finish()
