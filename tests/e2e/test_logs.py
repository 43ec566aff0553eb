# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""Log formats: "log_format": "json" and the journal.

With json (-w 1 and -w 2) every line of stderr is one JSON object that
python's json module reads; a connection line has the keys of the text
line (id, client, listener, proto and what detection found, route,
upstream, plane, up, down, dur, end) with the values the text format
would carry, checked against what the backends saw; names with quotes and
spaces survive; a reload switches the format of master and workers. When
stderr is the journal (JOURNAL_STREAM names it) lines carry no timestamp
of ours and text lines start with an sd-daemon "<N>" priority; when
JOURNAL_STREAM names another file, lines keep their timestamps.
"""
import json
import os
import re
import signal
import socket

from ptharness import (Suite, Passthru, HttpBackend, TlsBackend, Fail, eq, check, wait_for,
                       listener, route, free_port, curl, s_client, connect, read_closed)

s = Suite('logs')
web = HttpBackend(s, 'web')
alpha = TlsBackend(s, 'alpha.example')
ODD = 'front "quoted" and spaced'


def config(fmt):
    c = {'listeners': [
        listener(ODD, free_port(), [
            route('tls alpha', alpha.addr, protocol='tls', sni='alpha.example'),
            route('web', web.addr, protocol='http'),
            route('nothing', reject=True)], timeout_ms=500)]}
    if fmt:
        c['log_format'] = fmt
    return c


def json_lines(pt, start=0):
    """Every stderr line after byte start, each parsed as JSON (Fail if one is not)."""
    out = []
    for line in pt.log()[start:].splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            raise Fail('not a JSON line: %r' % line)
        check(isinstance(d, dict), 'an object: %r' % line)
        out.append(d)
    return out


def conn_objs(pt, start=0):
    return [d for d in json_lines(pt, start) if d.get('cat') == 'conn' and 'id' in d]


def wait_conns(pt, n, start=0):
    return wait_for(lambda: (lambda c: c if len(c) >= n else None)(conn_objs(pt, start)), 5,
                    '%d JSON connection lines' % n)


def traffic(pt):
    rc, out, err = curl('http://127.0.0.1:%d/a/b?c' % pt.port(), '-H', 'Host: web.example')
    eq(rc, 0, 'curl: %s' % err)
    out = s_client(pt.port(), 'alpha.example', alpn='h2,http/1.1')
    check('alpha.example' in out, 's_client reached alpha')
    sock = connect(pt.port())
    sock.sendall(b'\x00\x01garbage that no detector takes\r\n')
    read_closed(sock, 5)
    sock.close()


def t_json(workers):
    pt = Passthru(s, config('json'), args=['-w', str(workers)], name='json-w%d' % workers)
    traffic(pt)
    conns = wait_conns(pt, 3)
    lines = json_lines(pt)
    for d in lines:
        for k in ('tag', 'level', 'cat', 'ts'):
            check(k in d, 'key %s in %r' % (k, d))
        check(re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', d['ts']), 'ts: %r' % d)
        check('msg' in d or 'id' in d, 'a message or a connection: %r' % d)
    check(any('listening on' in d.get('msg', '') for d in lines), 'the start-up lines')
    by_route = {d['route']: d for d in conns}
    h = by_route.get('web')
    check(h, 'an http line: %r' % conns)
    for k in ('id', 'client', 'listener', 'proto', 'route', 'upstream', 'plane', 'up', 'down',
              'dur', 'end'):
        check(k in h, 'key %s: %r' % (k, h))
    eq((h['listener'], h['proto'], h['method'], h['host'], h['path'], h['end']),
       (ODD, 'http', 'GET', 'web.example', '/a/b?c', 'done'), 'http fields')
    check(isinstance(h['id'], int) and isinstance(h['up'], int) and
          isinstance(h['dur'], float), 'numbers: %r' % h)
    rec = web.records[-1]
    eq((h['up'], h['down']), (rec['rx'], rec['tx']), 'bytes = what the backend saw')
    eq(h['upstream'], web.addr, 'upstream')
    check(h['client'].startswith('127.0.0.1:'), 'client: %r' % h['client'])
    t = by_route.get('tls alpha')
    check(t, 'a tls line: %r' % conns)
    eq((t['proto'], t['sni'], t['alpn']), ('tls', 'alpha.example', 'h2,http/1.1'), 'tls fields')
    n = by_route.get('nothing')
    check(n, 'a rejected line: %r' % conns)
    eq((n['proto'], n['end'], n['upstream'], n['plane']), ('unknown', 'rejected', None, None),
       'rejected: nulls for "-"')
    check(n.get('why'), 'why: %r' % n)
    pt.stop()


def t_reload_switches():
    pt = Passthru(s, config(None), args=['-w', '2'], name='switch')
    traffic(pt)
    wait_for(lambda: len(pt.conns()) >= 3, 5, 'three text lines')
    cfg = dict(pt.config, log_format='json')
    pt.set_config(cfg)
    start = len(pt.log())
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log()[start:].count('reloaded') >= 2, 5, 'both workers reloaded')
    start = len(pt.log())
    traffic(pt)
    wait_conns(pt, 3, start)
    json_lines(pt, start)  # every line after the reload is JSON
    pt.stop()


def journal_run(name, fmt, match):
    """passthru with JOURNAL_STREAM naming its stderr file (or, match False, another file)."""
    err = s.path(name + '.err')
    open(err, 'wb').close()
    st = os.stat(err if match else s.path('logs-other'))
    env = dict(os.environ, JOURNAL_STREAM='%d:%d' % (st.st_dev, st.st_ino))
    pt = Passthru(s, config(fmt), name=name, env=env)
    traffic(pt)
    return pt


def t_journal_text():
    s.write('logs-other', '')
    pt = journal_run('journal-text', None, True)
    wait_for(lambda: pt.log().count(' conn: #') >= 3, 5, 'three connection lines')
    for line in pt.log().splitlines():
        check(re.match(r'^<[3467]>main (error|warn|info|debug) \w+: ', line),
              'a journal line, no timestamp: %r' % line)
    check(re.search(r'^<6>main info conn: #\d+ client=', pt.log(), re.M), 'info -> <6>')
    pt.stop()


def t_journal_json():
    pt = journal_run('journal-json', 'json', True)
    conns = wait_conns(pt, 3)
    for d in json_lines(pt):
        check('ts' not in d, 'no timestamp of ours: %r' % d)
    eq(sorted(d['route'] for d in conns), ['nothing', 'tls alpha', 'web'], 'routes')
    pt.stop()


def t_not_journal():
    s.write('logs-other', '')
    pt = journal_run('journal-other', None, False)
    wait_for(lambda: len(pt.conns()) >= 3, 5, 'three text lines, parsed as usual')
    check(all(re.match(r'^\d{4}-', l) for l in pt.log().splitlines()), 'timestamps kept')
    pt.stop()


s.test('json, -w 1: every line an object, connection fields', t_json, 1)
s.test('json, -w 2', t_json, 2)
s.test('a reload switches text to json everywhere', t_reload_switches)
s.test('journal: text lines without timestamps, with priorities', t_journal_text)
s.test('journal: json lines without ts', t_journal_json)
s.test('JOURNAL_STREAM naming another file: timestamps stay', t_not_journal)
s.finish()
