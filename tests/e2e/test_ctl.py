# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""passthru-ctl against live daemons: status of connections held open by
real clients (python sockets, openssl s_client, curl), counters after
known traffic, the routing table, reload by command and by SIGHUP, -w 2,
two instances, the splice-only pair file, and the error cases (not root,
no instance, foreign map layout, daemon socket gone, bad usage)."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

from ptharness import (BUILD, Suite, Passthru, PtServer, HttpBackend, TlsBackend, Proc, Skip,
                       Fail, run, eq, check, wait_for, listener, route, free_port, closed_port,
                       s_client, curl, connect, recv_all, read_closed, plane_ok, is_root,
                       need_root, PIN_ROOT, RUN_DIR)

CTL = os.path.join(BUILD, 'passthru-ctl')

s = Suite('ctl')
echo = PtServer(s, 'echo')
ban_a = PtServer(s, 'banner', 'A\\n', name='banner-A')
ban_b = PtServer(s, 'banner', 'B\\n', name='banner-B')
web = HttpBackend(s, 'api')
alpha = TlsBackend(s, 'alpha.example')


def instance(pt):
    """The daemon's instance name: its config file name without .json."""
    return os.path.basename(pt.config_path)[:-len('.json')]


def ctl(*args, rc=0, as_nobody=False, timeout=20):
    """Run passthru-ctl; returns (rc, stdout, stderr). rc=None: any."""
    if not os.access(CTL, os.X_OK):
        raise Fail('%s is not built' % CTL)
    argv = [CTL] + [str(a) for a in args]
    if as_nobody:
        argv = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] + argv
    got, out, err = run(argv, timeout=timeout)
    if rc is not None and got != rc:
        raise Fail('passthru-ctl %s exited %d, want %d\n  stdout: %s\n  stderr: %s' % (
            ' '.join(map(str, args)), got, rc, out[-1500:], err[-1500:]))
    return got, out, err


def ctl_json(*args, rc=0, **kw):
    got, out, err = ctl('-j', *args, rc=rc, **kw)
    try:
        return json.loads(out), err
    except ValueError:
        raise Fail('passthru-ctl -j %s: not one JSON document: %r (stderr %r)' % (
            ' '.join(map(str, args)), out[:500], err[:500]))


def status(pt, *args):
    doc, err = ctl_json('status', '--instance', instance(pt), *args)
    return doc


def pairs(pt, *args):
    return status(pt, *args)['pairs']


def wait_pairs(pt, n, what, *args, timeout=5):
    """Poll status until exactly n pairs are listed; returns them."""
    return wait_for(lambda: (lambda p: (p,) if len(p) == n else None)(pairs(pt, *args)),
                    timeout, '%d pairs (%s)' % (n, what), interval=0.05)[0]


def stats(pt):
    doc, err = ctl_json('stats', '--instance', instance(pt))
    eq(len(doc['instances']), 1, 'instances in the stats answer')
    return doc['instances'][0]['stats']


def lstats(st, name):
    for l in st['listeners']:
        if l['name'] == name:
            return l
    raise Fail('no listener %s in stats' % name)


def rstats(st, lname, rname):
    for r in lstats(st, lname)['routes']:
        if r['name'] == rname:
            return r
    raise Fail('no route %s/%s in stats' % (lname, rname))


def http_open(port, host, source=None):
    """An HTTP/1.1 request held open on an echo upstream: the echo is the check."""
    c = connect(port, source=source)
    req = b'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % host.encode()
    c.sendall(req)
    got = b''
    while len(got) < len(req):
        d = c.recv(65536)
        if not d:
            break
        got += d
    eq(got, req, 'echo of the request through %s' % host)
    return c


def ping(c, msg):
    c.sendall(msg)
    got = b''
    while len(got) < len(msg):
        d = c.recv(65536)
        if not d:
            break
        got += d
    eq(got, msg, 'echo through the open connection')


def finish(c):
    c.shutdown(socket.SHUT_WR)
    rest = recv_all(c)
    c.close()
    return rest


class TlsHold:
    """openssl s_client kept open (stdin is a pipe nobody writes to)."""

    def __init__(self, port, sni):
        self.proc = Proc(s, 's_client-%s-%d' % (sni, len(s.procs)),
                         ['openssl', 's_client', '-connect', '127.0.0.1:%d' % port,
                          '-servername', sni], stdin=subprocess.PIPE)

    def close(self):
        self.proc.kill()


class Streamer:
    """A client that keeps sending 4 KiB every 20 ms and reads the echo back."""

    def __init__(self, port, host):
        self.c = http_open(port, host)
        self.stop = False
        self.sent = 0
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        chunk = os.urandom(4096)
        try:
            while not self.stop:
                self.c.sendall(chunk)
                got = 0
                while got < len(chunk):
                    d = self.c.recv(65536)
                    if not d:
                        return
                    got += len(d)
                self.sent += len(chunk)
                time.sleep(0.02)
        except OSError:
            pass

    def close(self):
        self.stop = True
        self.t.join(2)
        self.c.close()


# One daemon for most tests: two listeners, routes for every outcome.
P_FRONT, P_SIDE, P_IDLE = free_port(), free_port(), free_port()
DEAD = closed_port()


def main_config(rl_backend=ban_a, rl_name='allA'):
    return {'listeners': [
        listener('front', P_FRONT, [
            route('banned', reject=True, cidr='127.0.0.2/32'),
            route('alpha', alpha.addr, protocol='tls', sni='alpha.example'),
            route('deadtls', '127.0.0.1:%d' % DEAD, protocol='tls', sni='dead.example'),
            route('web', echo.addr, protocol='http', host='web.example'),
            route('api', web.addr, protocol='http', host='api.example'),
            route('slow', ban_a.addr, protocol='timeout'),
            route('other', echo.addr),
        ], timeout_ms=400),
        listener('side', P_SIDE, [route(rl_name, rl_backend.addr)]),
        listener('idle', P_IDLE, [route('quiet', echo.addr)], idle_timeout_ms=300),
    ]}


pt = Passthru(s, main_config(), name='ctl')
INST = instance(pt)


def t_status_fields():
    side = connect(P_SIDE, source='127.0.0.3')
    eq(side.recv(2), b'A\n', 'banner through the side listener')
    h = http_open(P_FRONT, 'web.example')
    tls = TlsHold(P_FRONT, 'alpha.example')
    try:
        got = wait_pairs(pt, 3, 'side, web, alpha')
        doc = status(pt)
        eq([i['name'] for i in doc['instances']], [INST], 'instances shown')
        check(doc['instances'][0]['control'], 'names came from the control socket')
        eq(doc['instances'][0]['generation'], 0, 'config generation')
        eq(doc['summary']['pairs'], 3, 'summary pairs')
        eq(doc['summary']['instances'], 1, 'summary instances')
        by_route = {p['route']: p for p in got}
        eq(sorted(by_route), ['allA', 'alpha', 'web'], 'routes of the pairs')

        p = by_route['web']
        eq(p['listener'], 'front', 'web: listener')
        eq(p['listener_index'], 0, 'web: listener index')
        eq(p['route_index'], 3, 'web: route index')
        eq(p['client'], '127.0.0.1:%d' % h.getsockname()[1], 'web: client address')
        eq(p['upstream'], echo.addr, 'web: upstream')
        eq(p['proto'], 'http', 'web: protocol')
        eq(p['name'], 'web.example', 'web: Host')
        eq(p['state'], 'relaying', 'web: state')
        check(plane_ok(p['plane']), 'web: plane %s' % p['plane'])
        check(p['route_current'], 'web: route of the current generation')
        req = len(b'GET / HTTP/1.1\r\nHost: web.example\r\n\r\n')
        eq(p['bytes_up'], req, 'web: bytes up (the request)')
        eq(p['bytes_down'], req, 'web: bytes down (its echo)')
        eq(p['up']['bytes'], req, 'web: up.bytes')
        if p['plane'] == 'sockmap':
            check(p['up']['packets'] >= 1 and p['down']['packets'] >= 1, 'web: packets')
        check(0 <= p['age_ms'] < 10000, 'web: age %s ms' % p['age_ms'])

        p = by_route['alpha']
        eq((p['listener'], p['proto'], p['name'], p['upstream']),
           ('front', 'tls', 'alpha.example', alpha.addr), 'alpha: listener, proto, SNI, upstream')
        check(p['bytes_up'] > 100, 'alpha: the ClientHello went up (%d bytes)' % p['bytes_up'])
        p = by_route['allA']
        eq((p['listener'], p['listener_index'], p['client'], p['upstream'], p['name']),
           ('side', 1, '127.0.0.3:%d' % side.getsockname()[1], ban_a.addr, ''),
           'side: listener, client, upstream, no name')
        eq(p['bytes_down'], 2, 'side: the banner went down')

        # The table: aligned columns, one row per pair, the summary line.
        rc, out, err = ctl('status', '--instance', INST)
        lines = out.splitlines()
        check(lines[0].split()[:4] == ['Instance', 'Listener', 'Route', 'Client'],
              'table header: %r' % lines[0])
        eq(len(lines), 5, 'header, three rows, summary: %r' % out)
        col = lines[0].index('Upstream')
        check(all(l[col - 2:col] == '  ' for l in lines[1:4]), 'columns aligned:\n' + out)
        check(lines[4].startswith('1 instance, 3 pairs'), 'summary line: %r' % lines[4])
        # Sorted by listener, then oldest first: side (listener 1) is last.
        check(' side ' in lines[3] and ' front ' in lines[1] and ' front ' in lines[2],
              'rows sorted by listener:\n' + out)
    finally:
        tls.close()
        h.close()
        side.close()
    wait_pairs(pt, 0, 'all closed')


def t_bytes_move():
    st = Streamer(P_FRONT, 'web.example')
    try:
        time.sleep(0.3)
        a = wait_pairs(pt, 1, 'the streaming connection')[0]
        time.sleep(0.6)
        b = pairs(pt)[0]
        eq(a['conn_id'], b['conn_id'], 'same connection in both samples')
        check(b['bytes_up'] > a['bytes_up'] + 8192,
              'bytes up moved: %d -> %d' % (a['bytes_up'], b['bytes_up']))
        check(b['bytes_down'] > a['bytes_down'] + 8192,
              'bytes down moved: %d -> %d' % (a['bytes_down'], b['bytes_down']))
        check(b['age_ms'] > a['age_ms'], 'age grows')
        if b['plane'] == 'sockmap':
            check(b['up']['packets'] > a['up']['packets'], 'packets up moved')
    finally:
        st.close()
    wait_pairs(pt, 0, 'the streaming connection closed')


def t_pairs_disappear():
    cs = [http_open(P_FRONT, 'web.example') for _ in range(4)]
    wait_pairs(pt, 4, 'four open')
    for i, c in enumerate(cs):
        eq(finish(c), b'', 'clean end of connection %d' % i)
        wait_pairs(pt, 3 - i, 'after closing %d' % (i + 1))


def t_filters():
    side = connect(P_SIDE, source='127.0.0.3')
    side.recv(2)
    hs = [http_open(P_FRONT, 'web.example') for _ in range(2)]
    try:
        wait_pairs(pt, 3, 'three open')
        eq([p['route'] for p in pairs(pt, '--route', 'web')], ['web', 'web'], '--route web')
        eq(len(pairs(pt, '--route', 'nosuch')), 0, '--route nosuch')
        got = pairs(pt, '--client', '127.0.0.3')
        eq([p['route'] for p in got], ['allA'], '--client 127.0.0.3')
        eq(len(pairs(pt, '--client', '127.0.0.0/8')), 3, '--client 127.0.0.0/8')
        eq(len(pairs(pt, '--client', '127.0.0.1/32', '--route', 'allA')), 0,
           '--client and --route together')
        eq(len(pairs(pt, '--client', '::1/128')), 0, '--client of the other family')
        doc, err = ctl_json('status', '--instance', INST, '--client', '10.0.0.300', rc=22)
        check('--client' in doc.get('error', ''), 'bad --client: %s' % doc)
        doc, err = ctl_json('stats', '--route', 'web', rc=22)
        check('status only' in doc.get('error', ''), '--route with stats: %s' % doc)
    finally:
        for c in hs + [side]:
            c.close()
    wait_pairs(pt, 0, 'all closed')


def t_stats():
    before = stats(pt)
    b_front = lstats(before, 'front')
    n_records = len(web.records)
    # Known traffic: one HTTP request by curl, one TLS handshake to alpha, one
    # rejected client, one TLS to a dead upstream, one silent client (timeout).
    rc, out, err = curl('-H', 'Host: api.example', 'http://127.0.0.1:%d/x' % P_FRONT)
    check(rc == 0 and 'backend=api' in out, 'curl through api: %r %r' % (out, err))
    out = s_client(P_FRONT, 'alpha.example')
    check('alpha.example' in out, 's_client to alpha')
    c = connect(P_FRONT, source='127.0.0.2')
    c.settimeout(3)
    eq(c.recv(10), b'', 'rejected client is closed')
    c.close()
    s_client(P_FRONT, 'dead.example', request=False)
    c = connect(P_FRONT)
    c.settimeout(3)
    eq(c.recv(2), b'A\n', 'silent client routed to slow after the detection deadline')
    c.close()
    c = connect(P_IDLE)
    ping(c, b'x')
    data, how, took = read_closed(c, 3)
    check(how in ('eof', 'reset') and took < 2, 'idle connection closed (%s)' % how)
    c.close()

    def settled():
        st = stats(pt)
        return st if lstats(st, 'front')['active'] == 0 else None

    after = wait_for(settled, 5, 'every connection to end')
    a_front = lstats(after, 'front')

    def delta(get):
        return get(after) - get(before)

    eq(lstats(after, 'idle')['timeouts']['idle'] - lstats(before, 'idle')['timeouts']['idle'],
       1, 'idle timeouts')
    eq(a_front['accepted'] - b_front['accepted'], 5, 'accepted')
    eq(a_front['detected']['tls'] - b_front['detected']['tls'], 2, 'detected tls')
    eq(a_front['detected']['http'] - b_front['detected']['http'], 1, 'detected http')
    eq(a_front['timeouts']['detect'] - b_front['timeouts']['detect'], 1, 'detection timeouts')
    eq(a_front['rejected'] - b_front['rejected'], 1, 'rejected (listener)')
    eq(a_front['upstream_failures'] - b_front['upstream_failures'], 1,
       'upstream failures (listener)')
    eq(delta(lambda st: rstats(st, 'front', 'banned')['rejected']), 1, 'banned: rejected')
    eq(delta(lambda st: rstats(st, 'front', 'banned')['matched']), 1, 'banned: matched')
    eq(delta(lambda st: rstats(st, 'front', 'deadtls')['upstream_failures']), 1,
       'deadtls: upstream failures')
    eq(delta(lambda st: rstats(st, 'front', 'deadtls')['connect_errors']), 1,
       'deadtls: connect errors')
    eq(delta(lambda st: rstats(st, 'front', 'api')['matched']), 1, 'api: matched')
    eq(delta(lambda st: rstats(st, 'front', 'alpha')['matched']), 1, 'alpha: matched')
    eq(delta(lambda st: rstats(st, 'front', 'slow')['matched']), 1, 'slow: matched')
    wait_for(lambda: len(web.records) > n_records, 3, 'the api backend to record the request')
    rec = web.records[-1]
    eq(delta(lambda st: rstats(st, 'front', 'api')['bytes']['up']), rec['rx'], 'api: bytes up')
    eq(delta(lambda st: rstats(st, 'front', 'api')['bytes']['down']), rec['tx'],
       'api: bytes down')
    api = rstats(after, 'front', 'api')
    eq(api['kernel_bytes']['up'] + api['daemon_bytes']['up'], api['bytes']['up'],
       'api: kernel + daemon bytes = bytes')
    eq(sum(api['relayed'].values()), api['matched'],
       'api: every matched connection was relayed on a plane')
    for k in ('passed', 'pass_events', 'redirect_fail', 'max_queued'):
        check(set(api[k]) == {'up', 'down'}, 'api: %s each way' % k)

    # The text form names the same numbers.
    rc, out, err = ctl('stats', '--instance', INST)
    check('listener 0 front:' in out and 'deadtls' in out and 'Redir-fail' in out,
          'stats table:\n' + out)


def t_routes():
    doc, err = ctl_json('routes', '--instance', INST)
    eq(len(doc['instances']), 1, 'one instance')
    r = doc['instances'][0]['routes']
    eq(r['generation'], 0, 'generation')
    eq([l['name'] for l in r['listeners']], ['front', 'side', 'idle'], 'listeners')
    front = r['listeners'][0]
    eq(front['listen'], ['127.0.0.1:%d' % P_FRONT], 'front: listen')
    eq(front['timeout_ms'], 400, 'front: timeout_ms')
    want = main_config()['listeners'][0]['routes']
    eq([x['name'] for x in front['routes']], [x['name'] for x in want], 'front: route order')
    eq([x['index'] for x in front['routes']], list(range(len(want))), 'front: route indices')
    got = {x['name']: x for x in front['routes']}
    eq(got['banned'].get('reject'), True, 'banned rejects')
    eq(got['banned']['match'], {'cidr': ['127.0.0.2/32']}, 'banned: match')
    eq(got['alpha']['match'], {'protocol': 'tls', 'sni': ['alpha.example']}, 'alpha: match')
    eq(got['alpha']['forward'], [alpha.addr], 'alpha: forward')
    eq(got['other'].get('match'), None, 'other: matches anything')
    rc, out, err = ctl('routes', '--instance', INST)
    check('listener 0 front' in out and 'protocol=tls sni=alpha.example' in out and
          'forward %s' % alpha.addr in out and 'reject' in out, 'routes table:\n' + out)


def t_reload_ctl():
    old = connect(P_SIDE)
    eq(old.recv(2), b'A\n', 'side goes to A before the reload')
    ping(old, b'hello')
    gen0 = status(pt)['instances'][0]['generation']
    pt.set_config(main_config(ban_b, 'allB'))
    doc, err = ctl_json('reload', '--instance', INST)
    eq(doc['instances'][0]['result'], 'ok', 'reload answer')
    eq(doc['instances'][0]['generation'], gen0 + 1, 'new generation')
    new = connect(P_SIDE)
    try:
        eq(new.recv(2), b'B\n', 'a new connection uses the new route')
        ping(old, b'still on A')
        got = {p['conn_id']: p for p in wait_pairs(pt, 2, 'old and new')}
        o, n = sorted(got.values(), key=lambda p: p['conn_id'])
        eq((o['generation'], o['route'], o['route_index'], o['route_current'], o['upstream']),
           (gen0, None, 0, False, ban_a.addr), 'old pair: its own generation, index only')
        eq((n['generation'], n['route'], n['route_current'], n['upstream']),
           (gen0 + 1, 'allB', True, ban_b.addr), 'new pair: the new route')
        rc, out, err = ctl('status', '--instance', INST)
        check(any(' 0? ' in l and ban_a.addr in l for l in out.splitlines()),
              'the old pair shows its route as "0?":\n' + out)
        st = stats(pt)
        eq(st['route_generation'], gen0 + 1, 'route counters follow the new generation')
        eq(rstats(st, 'side', 'allB')['matched'], 1, 'route counters restarted')
    finally:
        eq(finish(old), b'', 'old connection ends cleanly')
        new.close()

    # A broken file is refused with the loader's reasons; the running config stays.
    pt.set_config('{"listeners": [ { "listen": "nowhere" } ] }')
    doc, err = ctl_json('reload', '--instance', INST, rc=22)
    check('reload of' in doc.get('error', '') and 'stays in use' in doc['error'],
          'error answer: %s' % doc)
    check(any('nowhere' in m for m in doc.get('messages', [])),
          'the loader\'s message is in the answer: %s' % doc)
    rc, out, err = ctl('reload', '--instance', INST, rc=22)
    check(err.startswith('Error: instance %s: reload of' % INST) and 'nowhere' in err,
          'text error: %r' % err)
    pt.set_config(main_config(ban_b, 'allB'))
    c = connect(P_SIDE)
    eq(c.recv(2), b'B\n', 'still the last good config')
    c.close()
    wait_pairs(pt, 0, 'all closed')


def t_reload_sighup():
    def gen():
        doc, err = ctl_json('version', '--instance', INST)
        return doc['instances'][0]['version']['generation']

    g = gen()
    pt.set_config(main_config(ban_a, 'allA'))
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: gen() == g + 1, 5, 'generation %d after SIGHUP' % (g + 1))
    c = connect(P_SIDE)
    eq(c.recv(2), b'A\n', 'SIGHUP: new connections use the new route')
    c.close()
    doc, err = ctl_json('routes', '--instance', INST)
    eq(doc['instances'][0]['routes']['listeners'][1]['routes'][0]['name'], 'allA',
       'routes shows the reloaded table')


def t_workers():
    port = free_port()
    cfg = lambda b, n: {'listeners': [listener('w', port, [route(n, b.addr)])]}
    ptw = Passthru(s, cfg(ban_a, 'toA'), args=['-w', '2'], name='ctlw')
    held = []
    try:
        # SO_REUSEPORT spreads connections by a hash of the addresses: twelve
        # all land on one worker about once in 2,000 runs, so open more
        # until both have some (64 all on one: once in 2^63).
        while len(held) < 64:
            for _ in range(12 if not held else 4):
                c = connect(port)
                eq(c.recv(2), b'A\n', 'before the reload')
                held.append(c)
            got = wait_pairs(ptw, len(held), '%d through two workers' % len(held))
            if len(set(p['worker'] for p in got)) == 2:
                break
        eq(sorted(set(p['worker'] for p in got)), [0, 1], 'pairs of both workers are listed')
        eq(set(p['route'] for p in got), {'toA'}, 'route names from the master')
        ptw.set_config(cfg(ban_b, 'toB'))
        doc, err = ctl_json('reload', '--instance', instance(ptw))
        r = doc['instances'][0]
        eq((r['result'], r['generation'], r['workers']), ('ok', 1, 2),
           'reload answered once both workers applied it')
        # The answer came after both workers switched: no connection may see A now.
        for i in range(20):
            c = connect(port)
            eq(c.recv(2), b'B\n', 'new connection %d after the reload' % i)
            c.close()
        st, err = ctl_json('stats', '--instance', instance(ptw))
        eq([w['generation'] for w in st['instances'][0]['stats']['workers']], [1, 1],
           'both workers run generation 1')
        for c in held:
            ping(c, b'old')
        # The master refuses a broken file; no worker hears of it.
        ptw.set_config('{"listeners": []}')
        reloaded = ptw.log().count('reloaded')
        doc, err = ctl_json('reload', '--instance', instance(ptw), rc=22)
        check('stays in use' in doc['error'], 'refused by the master: %s' % doc)
        eq(ptw.log().count('reloaded'), reloaded, 'no worker reloaded')
        st, err = ctl_json('stats', '--instance', instance(ptw))
        eq([w['generation'] for w in st['instances'][0]['stats']['workers']], [1, 1],
           'workers still on generation 1')
        eq(st['instances'][0]['stats']['generation'], 1, 'master still on generation 1')
    finally:
        for c in held:
            c.close()
    eq(ptw.stop(), 0, 'exit status with -w 2')
    check(not os.path.exists(os.path.join(RUN_DIR, instance(ptw) + '.sock')),
          'control socket removed on exit')


def t_two_instances_and_splice_file():
    port = free_port()
    pts = Passthru(s, {'listeners': [listener('sp', port, [route('e', echo.addr)],
                                              data_plane='splice')]}, name='ctlsplice')
    inst2 = instance(pts)
    h1 = http_open(P_FRONT, 'web.example')
    h2 = connect(port)
    try:
        ping(h2, b'0123456789')
        wait_pairs(pts, 1, 'the splice connection')
        doc, err = ctl_json('status', '--instance', INST, '--instance', inst2)
        eq(sorted(i['name'] for i in doc['instances']), sorted([INST, inst2]), 'two instances')
        eq(doc['summary']['instances'], 2, 'summary: instances')
        eq(doc['summary']['pairs'], 2, 'summary: pairs')
        sp = [p for p in doc['pairs'] if p['instance'] == inst2][0]
        eq((sp['plane'], sp['route'], sp['bytes_up'], sp['bytes_down']), ('splice', 'e', 10, 10),
           'splice pair')
        ping(h2, b'abc')
        sp = wait_for(lambda: (lambda p: p if p and p[0]['bytes_up'] == 13 else None)(
            pairs(pts)), 3, 'splice byte counters to move')[0]
        eq(sp['bytes_down'], 13, 'splice bytes down moved')
        # Without --instance every running instance is listed.
        doc, err = ctl_json('status')
        names = [i['name'] for i in doc['instances']]
        check(INST in names and inst2 in names, 'both in the default listing: %s' % names)
        vdoc, err = ctl_json('version', '--instance', inst2)
        eq(vdoc['instances'][0]['version']['pairs'], os.path.join(RUN_DIR, inst2 + '.pairs'),
           'a splice-only daemon keeps its slots in the .pairs file')
    finally:
        h1.close()
        h2.close()
    eq(pts.stop(), 0, 'splice instance exit status')
    check(not os.path.exists(os.path.join(RUN_DIR, inst2 + '.pairs')), '.pairs file removed')


def t_not_root():
    need_root('switching to nobody')
    if not shutil.which('setpriv'):
        raise Skip('setpriv not installed')
    rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                        CTL, '-V'])
    if rc != 0:
        raise Skip('nobody cannot run %s: %s' % (CTL, err.strip()))
    doc, err = ctl_json('status', '--instance', INST, rc=13, as_nobody=True)
    eq(doc, {'error': 'instance %s: permission denied reading %s/%s (run as root)' % (
        INST, PIN_ROOT, INST)}, 'status as nobody, one instance')
    doc, err = ctl_json('status', rc=13, as_nobody=True)
    eq(doc, {'error': 'permission denied reading %s (run as root)' % PIN_ROOT},
       'status as nobody, all instances')
    # The control socket answers reads to anyone, reloads only to root.
    rc, out, err = ctl('stats', '--instance', INST, rc=0, as_nobody=True)
    rc, out, err = run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                        CTL, '--instance', INST, 'config', 'reload'])
    check(rc != 0 and 'permission denied: "reload" needs root (you are uid 65534)' in err,
          'reload as nobody refused: rc %d %r' % (rc, err))


def unshared(script):
    """Run a shell script in a private mount namespace (as root)."""
    need_root('a private mount namespace')
    if not shutil.which('unshare'):
        raise Skip('unshare not installed')
    return run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script])


def t_no_instance():
    doc, err = ctl_json('status', '--instance', 'nosuch-%d' % os.getpid(), rc=2)
    eq(doc['error'], 'instance nosuch-%d: not running (no %s/nosuch-%d, no %s/nosuch-%d.sock)' % (
        os.getpid(), PIN_ROOT, os.getpid(), RUN_DIR, os.getpid()), 'unknown instance')
    # Nothing at all: empty bpffs and empty /run in a private mount namespace.
    rc, out, err = unshared('mount -t bpf bpf /sys/fs/bpf && mount -t tmpfs tmpfs /run && '
                            'exec %s -j status' % CTL)
    eq((rc, json.loads(out)), (2, {'error': 'no passthru instance running (nothing in %s or %s)'
                                   % (PIN_ROOT, RUN_DIR)}), 'no instance anywhere')
    # No bpffs mounted: said so.
    rc, out, err = unshared('mount -t tmpfs tmpfs /sys/fs/bpf && mount -t tmpfs tmpfs /run && '
                            'exec %s status' % CTL)
    eq((rc, err.strip()), (2, 'Error: no passthru instance running (no BPF filesystem on '
                              '/sys/fs/bpf, no socket in %s)' % RUN_DIR), 'no bpffs')


def t_wrong_version():
    need_root('bpftool map create')
    if not shutil.which('bpftool'):
        raise Skip('bpftool not installed')
    if not os.path.isdir(PIN_ROOT):
        raise Skip('no %s (the kernel data plane never loaded here)' % PIN_ROOT)
    name = 'fake-%d' % os.getpid()
    d = os.path.join(PIN_ROOT, name)
    os.makedirs(d, exist_ok=True)
    try:
        meta = os.path.join(d, 'pt_meta')
        run(['bpftool', 'map', 'create', meta, 'type', 'array', 'key', '4', 'value', '72',
             'entries', '1', 'name', 'pt_meta'], check_rc=0)
        # struct pt_meta: magic "PTRU", abi 1, pair_size, n_slots, n_workers, pid, ...
        value = struct.pack('<IIIIIIQQ32s', 0x50545255, 1, 296, 64, 1, os.getpid(), 0, 0,
                            name.encode())
        run(['bpftool', 'map', 'update', 'pinned', meta, 'key', 'hex', '00', '00', '00', '00',
             'value', 'hex'] + ['%02x' % b for b in value], check_rc=0)
        doc, err = ctl_json('status', '--instance', name, rc=71)
        eq(doc, {'error': 'instance %s: map layout version 1, this passthru-ctl understands 4'
                 % name}, 'foreign layout, named instance')
        rc, out, err = ctl('status', '--instance', name, rc=71)
        eq(err.strip(), 'Error: instance %s: map layout version 1, this passthru-ctl '
           'understands 4' % name, 'text error')
        # Among all instances it is skipped with a warning; the live one is still shown.
        doc, err = ctl_json('status')
        check(INST in [i['name'] for i in doc['instances']], 'the live instance is shown')
        check(any(x['instance'] == name and 'map layout version 1' in x['reason']
                  for x in doc['skipped']), 'the fake one is skipped: %s' % doc['skipped'])
        check('map layout version 1' in err, 'warning on stderr: %r' % err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_socket_gone():
    sock = os.path.join(RUN_DIR, INST + '.sock')
    aside = sock + '.aside'
    h = http_open(P_FRONT, 'web.example')
    os.rename(sock, aside)
    try:
        wait_for(lambda: len(pairs(pt)) == 1, 3, 'the pair without the daemon\'s names')
        doc, err = ctl_json('status', '--instance', INST)
        p = doc['pairs'][0]
        eq((p['listener'], p['listener_index'], p['route'], p['route_index']),
           (None, 0, None, 3), 'indices instead of names')
        eq(doc['instances'][0]['control'], False, 'no control socket')
        check(err.startswith('Warning: instance %s: ' % INST) and
              'listeners and routes shown as indices' in err, 'warning: %r' % err)
        rc, out, err = ctl('status', '--instance', INST)
        check(out.splitlines()[1].split()[1:3] == ['0', '3'], 'indices in the table:\n' + out)
        doc, err = ctl_json('stats', '--instance', INST, rc=2)
        check(doc['error'].startswith('instance %s: cannot connect to %s' % (INST, sock)),
              'stats without the socket: %s' % doc)
    finally:
        os.rename(aside, sock)
        h.close()
    doc, err = ctl_json('stats', '--instance', INST)
    check(doc['instances'], 'the socket answers again')


def t_usage():
    doc, err = ctl_json('st', rc=22)
    eq(doc, {'error': "command 'st' is ambiguous: status, stats"}, 'ambiguous prefix')
    doc, err = ctl_json('stat', '--instance', INST, rc=22)
    check('ambiguous' in doc['error'], '"stat" is ambiguous too')
    doc, err = ctl_json('sta', '--instance', INST, rc=22)
    doc, err = ctl_json('statu', '--instance', INST)
    check('pairs' in doc, 'an unambiguous prefix works')
    doc, err = ctl_json('r', rc=22)
    check('routes' in doc['error'] and 'reload' in doc['error'], 'r: %s' % doc)
    doc, err = ctl_json('bogus', rc=22)
    check(doc['error'].startswith("unknown command 'bogus'"), 'unknown command: %s' % doc)
    rc, out, err = ctl('-j', 'help')
    eq(out.strip(), 'null', 'help under -j')
    rc, out, err = ctl('help')
    check('COMMAND :=' in out and 'status' in out, 'help text')
    rc, out, err = ctl('routes', 'help')
    check(out.startswith('Usage: passthru-ctl [OPTIONS] routes'), 'routes help: %r' % out)
    doc, err = ctl_json('routes', 'show', '--instance', INST)
    check(doc['instances'], '"routes show" is "routes"')
    doc, err = ctl_json('-V')
    eq(doc['abi'], 4, 'ctl abi')
    rc, out, err = ctl('-p', 'instances', '--instance', INST)
    doc = json.loads(out)
    check('\n' in out and doc['instances'][0]['pairs_ok'] and doc['instances'][0]['control_ok'],
          'pretty instances: %s' % out[:300])


def t_control_protocol():
    """The raw protocol: one line in, one JSON document and a newline out."""
    path = os.path.join(RUN_DIR, INST + '.sock')
    st = os.stat(path)
    eq(oct(st.st_mode & 0o777), '0o666', 'socket mode (access is decided per peer)')

    def raw(line):
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(path)
        c.sendall(line)
        data = b''
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            pass  # the daemon closed with part of a too long line unread
        c.close()
        return data

    for cmd in ('version', 'listeners', 'routes', 'stats', 'help'):
        data = raw(cmd.encode() + b'\n')
        check(data.endswith(b'\n') and data.count(b'\n') == 1, '%s: one line' % cmd)
        check('error' not in json.loads(data), '%s: no error' % cmd)
    eq(json.loads(raw(b'nope\n')), {'error': 'unknown command "nope" (try "help")'}, 'unknown')
    check('longer than' in json.loads(raw(b'x' * 300))['error'], 'long line')
    v = json.loads(raw(b'version\r\n'))
    eq((v['instance'], v['protocol'], v['pid']), (INST, 1, pt.proc.pid), 'version answer')
    # A client that never sends its line is dropped; others are served meanwhile.
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(path)
    t0 = time.monotonic()
    check('listeners' in json.loads(raw(b'listeners\n')), 'served while one client idles')
    idle.settimeout(5)
    eq(idle.recv(10), b'', 'the idle client is dropped')
    check(time.monotonic() - t0 < 3, 'dropped within the read timeout')
    idle.close()


def t_stale_socket_replaced():
    """A daemon killed with SIGKILL leaves its socket; the next start replaces it."""
    port = free_port()
    cfg = {'listeners': [listener('k', port, [route('e', echo.addr)])]}
    pk = Passthru(s, cfg, name='ctlkill')
    sock = os.path.join(RUN_DIR, instance(pk) + '.sock')
    wait_for(lambda: 'control socket' in pk.log(), 5, 'the control socket')
    check(os.path.exists(sock), 'socket created')
    pk.proc.kill()
    check(os.path.exists(sock), 'SIGKILL leaves the socket')
    doc, err = ctl_json('stats', '--instance', instance(pk), rc=111)
    check('stale socket' in doc['error'], 'stale socket reported: %s' % doc)
    pk.start()
    wait_for(lambda: 'passthru 0.1.0' in pk.log(), 5, 'the restarted daemon')
    doc, err = ctl_json('version', '--instance', instance(pk))
    eq(doc['instances'][0]['version']['pid'], pk.proc.pid, 'the new daemon answers')
    # A second daemon on the same instance (other port, splice) is refused by
    # the instance lock before it reaches the socket.
    other = s.write('clash.json', json.dumps({'listeners': [
        dict(listener('k', free_port(), [route('e', echo.addr)]), data_plane='splice')]}))
    rc, out, err = run([os.path.join(BUILD, 'passthru'), '-c', other, '-i', instance(pk)],
                       timeout=10)
    check(rc != 0 and 'is already running (pid %d' % pk.proc.pid in err,
          'second daemon refused: rc %d %s' % (rc, err[-400:]))
    eq(pk.stop(), 0, 'exit status')


def t_control_socket_key():
    path = s.path('elsewhere.sock')
    cfg = {'control_socket': path,
           'listeners': [listener('c', free_port(), [route('e', echo.addr)])]}
    pc = Passthru(s, cfg, name='ctlsock')
    wait_for(lambda: os.path.exists(path), 5, 'the socket at control_socket')
    check(not os.path.exists(os.path.join(RUN_DIR, instance(pc) + '.sock')),
          'nothing at the default path')
    doc, err = ctl_json('routes', '--socket', path)
    eq(doc['instances'][0]['name'], instance(pc), 'the instance named by its answer')
    doc, err = ctl_json('version', '--instance', instance(pc), '--socket', path)
    eq(doc['instances'][0]['version']['control_socket'], path, 'version: control_socket')
    rc, out, err = run([os.path.join(BUILD, 'passthru'), '--check', '-c', pc.config_path])
    check(rc == 0 and '"control_socket": "%s"' % path in out, '--check shows it: %s' % out)
    bad = s.write('badsock.json', json.dumps(dict(cfg, control_socket='relative.sock')))
    rc, out, err = run([os.path.join(BUILD, 'passthru'), '--check', '-c', bad])
    eq((rc, err.strip()), (2, 'passthru: %s: control_socket: expected an absolute path of at '
                              'most 107 characters, got "relative.sock"' % bad), 'bad value')
    eq(pc.stop(), 0, 'exit status')
    check(not os.path.exists(path), 'socket removed on exit')


def t_clean_exit():
    sock = os.path.join(RUN_DIR, INST + '.sock')
    check(os.path.exists(sock), 'socket there while running')
    eq(pt.stop(), 0, 'exit status after SIGTERM')
    for path in (sock, os.path.join(RUN_DIR, INST + '.pairs'), os.path.join(PIN_ROOT, INST)):
        check(not os.path.exists(path), '%s removed on clean exit' % path)
    doc, err = ctl_json('status', '--instance', INST, rc=2)
    check('not running' in doc['error'], 'stopped instance: %s' % doc)


s.test('status: fields of pairs held by real clients, table and summary', t_status_fields)
s.test('status: byte counters move while data flows', t_bytes_move)
s.test('status: pairs disappear when their connections close', t_pairs_disappear)
s.test('status: --route and --client filters', t_filters)
s.test('stats: counters after known traffic', t_stats)
s.test('routes: the loaded routing table', t_routes)
s.test('reload via passthru-ctl: new connections use it, old ones keep theirs', t_reload_ctl)
s.test('reload via SIGHUP', t_reload_sighup)
s.test('-w 2: pairs of both workers, reload answered after both applied it', t_workers)
s.test('two instances; splice-only instance lists pairs from its .pairs file',
       t_two_instances_and_splice_file)
s.test('error: not root', t_not_root)
s.test('error: no instance, no bpffs', t_no_instance)
s.test('error: map layout from another version', t_wrong_version)
s.test('error: daemon socket gone (status from the maps alone)', t_socket_gone)
s.test('usage: prefixes, help, -j, -p, -V', t_usage)
s.test('control protocol on the raw socket', t_control_protocol)
s.test('stale socket replaced at start, live one refused', t_stale_socket_replaced)
s.test('control_socket in the config, passthru-ctl --socket', t_control_socket_key)
s.test('clean exit removes the socket, the pair file and the pins', t_clean_exit)
s.finish()
