# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane (its subject is not the relay: tests/run runs it on auto only)
"""Upstream pools with real parts: three backend processes on loopback ports
(python servers that greet each client with their name and hold the
connection until the client closes; openssl s_server for the TLS checks),
passthru with two workers in front. Distribution per balance policy over
3,000 connections, source-hash keeping each client address on one server,
active health checks marking a killed backend down and its restart up again
with no connection reaching it in between, passive ejection, the fallback
when every server is down, and a reload that changes a pool."""
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.request

from ptharness import (Suite, Passthru, Proc, Fail, check, eq, listener, free_port,
                       is_listening, wait_for, slack, TlsBackend, run, BUILD)

s = Suite('pools')
N = 3000
CTL = os.path.join(BUILD, 'passthru-ctl')

BACKEND = r'''
import socket, sys, threading
name, port = sys.argv[1].encode(), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', port))
ls.listen(1024)
def serve(c):
    try:
        c.sendall(name + b'\n')
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''
script = s.write('backend.py', BACKEND)


class Backend:
    """One backend process on a fixed port: stop() kills it, start() brings it back."""

    def __init__(self, name):
        self.name, self.port, self.proc = name, free_port(), None
        self.start()

    @property
    def addr(self):
        return '127.0.0.1:%d' % self.port

    def start(self):
        self.proc = Proc(s, 'backend-' + self.name, [sys.executable, script, self.name,
                                                    str(self.port)])
        wait_for(lambda: is_listening(self.port), 5, 'backend %s to listen' % self.name)

    def stop(self):
        self.proc.kill()
        wait_for(lambda: not is_listening(self.port), 5, 'backend %s to stop' % self.name)


backs = [Backend(n) for n in ('a', 'b', 'c')]


def greet(port, src=None, hold=False):
    """Connect through passthru (from address src), return the backend's name
    (and the open socket if hold)."""
    c = socket.socket()
    c.settimeout(5 * slack(1))
    if src:
        c.bind((src, 0))
    c.connect(('127.0.0.1', port))
    got = b''
    while not got.endswith(b'\n'):
        d = c.recv(64)
        if not d:
            break
        got += d
    if hold:
        return got.strip().decode(), c
    c.close()
    return got.strip().decode()


def pools_config(pool, port, extra_pools=None, mport=None):
    up = {'web': pool}
    up.update(extra_pools or {})
    cfg = {'upstreams': up,
           'listeners': [listener('front', port, [{'name': 'web', 'forward': 'web'}])]}
    if mport:
        cfg['metrics'] = {'listen': '127.0.0.1:%d' % mport}
    return cfg


def start(pool, extra_pools=None, workers=2, mport=None):
    port = free_port()
    pt = Passthru(s, pools_config(pool, port, extra_pools, mport), args=['-w', str(workers)])
    return pt, port


def ctl_servers(pt):
    """passthru-ctl -j upstream show: {addr: server object} of pool web."""
    inst = os.path.basename(pt.config_path)[:-len('.json')]
    rc, out, err = run([CTL, '-j', 'upstream', 'show', '--instance', inst])
    eq(rc, 0, 'passthru-ctl upstream show: %s' % err)
    pools = json.loads(out)['instances'][0]['upstreams']['pools']
    return {sv['addr']: sv for p in pools if p['name'] == 'web' for sv in p['servers']}


def metric(mport, name, server):
    """The value of name{pool="web",server=...} on the metrics endpoint."""
    body = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % mport, timeout=5).read()
    m = re.search(r'^%s\{pool="web",server="%s"\} (\d+)$' % (name, re.escape(server)),
                  body.decode(), re.M)
    check(m, '%s for %s in the exposition' % (name, server))
    return int(m.group(1))


def tally(names):
    out = {}
    for n in names:
        out[n] = out.get(n, 0) + 1
    return out


def within(got, want, tol, what):
    """got and want: {name: count}; each within tol (a fraction of want)."""
    for k, w in want.items():
        g = got.get(k, 0)
        if abs(g - w) > tol * w:
            raise Fail('%s: %s got %d, want %d +- %d%% (all: %s)' % (what, k, g, w,
                                                                    tol * 100, got))
    extra = set(got) - set(want)
    check(not extra, '%s: unexpected servers %s' % (what, extra))
    print('  %s: %s' % (what, ' '.join('%s=%d' % kv for kv in sorted(got.items()))))


def servers(weights=(1, 1, 1)):
    return [{'addr': b.addr, 'weight': w} for b, w in zip(backs, weights)]


def t_round_robin():
    pt, port = start({'servers': servers((1, 1, 2)), 'balance': 'round-robin'})
    got = tally(greet(port) for _ in range(N))
    within(got, {'a': N / 4, 'b': N / 4, 'c': N / 2}, 0.05, 'round-robin 1:1:2')
    pt.stop()


def t_least_conn():
    """Batches of 30 connections held open at once: each server gets its
    weight's share of every batch, whichever worker accepted them."""
    pt, port = start({'servers': servers((1, 1, 1)), 'balance': 'least-conn'})
    names = []
    for _ in range(N // 30):
        held = [greet(port, hold=True) for _ in range(30)]
        names += [n for n, _ in held]
        for _, c in held:
            c.close()
        # the daemon counts a connection out when it sees the close
        time.sleep(0.02)
    within(tally(names), {'a': N / 3, 'b': N / 3, 'c': N / 3}, 0.05, 'least-conn 1:1:1')
    pt.stop()


def t_least_conn_busy():
    """A server holding long connections gets the new ones only when the
    others have as many: 20 held on the pool, then 20 more all go elsewhere."""
    pt, port = start({'servers': servers((1, 1, 1)), 'balance': 'least-conn'})
    first = [greet(port, hold=True) for _ in range(21)]
    on_a = [c for n, c in first if n == 'a']
    for n, c in first:
        if n != 'a':
            c.close()
    time.sleep(0.2)
    # a holds 7 open connections, b and c none: the next 14 go to b and c
    nxt = tally(greet(port) for _ in range(14))
    eq(nxt.get('a', 0), 0, 'connections to the busy server (%s)' % nxt)
    for c in on_a:
        c.close()
    pt.stop()


def is_closed(c):
    c.setblocking(False)
    try:
        return c.recv(1) == b''
    except BlockingIOError:
        return False
    except OSError:
        return True


def t_worker_killed():
    """A worker killed with connections open: the master gives back what it
    held, so least-conn's counts are the connections still open."""
    pt, port = start({'servers': servers(), 'balance': 'least-conn'})
    held = [greet(port, hold=True)[1] for _ in range(30)]
    time.sleep(0.2)
    eq(sum(sv['active'] for sv in ctl_servers(pt).values()), 30, 'open before')
    with open('/proc/%d/task/%d/children' % (pt.proc.pid, pt.proc.pid)) as f:
        worker = int(f.read().split()[0])
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: '(pid %d) killed' % worker in pt.log(), 5, 'the master to see it die')
    time.sleep(0.3)
    alive = sum(not is_closed(c) for c in held)
    check(0 < alive < 30, 'both workers held some (%d of 30 left)' % alive)
    eq(sum(sv['active'] for sv in ctl_servers(pt).values()), alive, 'open after the kill')
    for c in held:
        c.close()
    pt.stop()


def src_addr(i):
    return '127.1.%d.%d' % (i // 250, 1 + i % 250)


def t_source_hash():
    pt, port = start({'servers': servers((1, 1, 1)), 'balance': 'source-hash'})
    first = {src_addr(i): greet(port, src=src_addr(i)) for i in range(N)}
    within(tally(first.values()), {'a': N / 3, 'b': N / 3, 'c': N / 3}, 0.10,
           'source-hash 1:1:1 over %d client addresses' % len(first))
    again = [a for a in list(first)[:300] if greet(port, src=a) != first[a]]
    eq(again, [], 'client addresses that changed server')
    pt.stop()


def t_first():
    pt, port = start({'servers': servers((1, 1, 1))})
    got = tally(greet(port) for _ in range(300))
    eq(got, {'a': 300}, 'balance first')
    pt.stop()


DOWN_RE = r'pool web: server %s is down'
UP_RE = r'pool web: server %s is up'


def wait_log(pt, pattern, timeout, after=0):
    t0 = time.monotonic()
    try:
        wait_for(lambda: re.search(pattern, pt.log()[after:]), timeout, pattern)
    except Fail:
        print('\n'.join(l for l in pt.log().splitlines() if 'conn:' not in l))
        raise
    return time.monotonic() - t0


def t_health():
    """b killed: marked down after fall checks; restarted: no connection
    reaches it before rise checks mark it up; then it gets its share again."""
    health = {'interval_ms': 200, 'timeout_ms': 100, 'rise': 3, 'fall': 2}
    mport = free_port()
    pt, port = start({'servers': servers(), 'balance': 'round-robin', 'health': health},
                     mport=mport)
    b = backs[1]
    time.sleep(0.5)
    eq(tally(greet(port) for _ in range(300)), {'a': 100, 'b': 100, 'c': 100}, 'all up')
    mark = len(pt.log())
    t_kill = time.monotonic()
    b.stop()
    wait_log(pt, DOWN_RE % re.escape(b.addr), 5 * slack(1), mark)
    t_down = time.monotonic() - t_kill
    print('  killed -> marked down: %.0f ms (interval 200, timeout 100, fall 2)' %
          (t_down * 1000))
    sv = ctl_servers(pt)
    eq(sv[b.addr]['state'], 'down', 'passthru-ctl: b')
    eq(sv[backs[0].addr]['state'], 'up', 'passthru-ctl: a')
    eq(sv[backs[0].addr]['connections'], 100, 'passthru-ctl: connections to a')
    eq(sv[b.addr]['transitions'], 1, 'passthru-ctl: b changed once')
    eq(metric(mport, 'passthru_upstream_up', b.addr), 0, 'passthru_upstream_up of b')
    eq(metric(mport, 'passthru_upstream_up', backs[0].addr), 1, 'passthru_upstream_up of a')
    eq(metric(mport, 'passthru_upstream_connections_total', backs[2].addr), 100,
       'passthru_upstream_connections_total of c')
    mark = len(pt.log())
    b.start()
    t0 = time.monotonic()
    during = []
    # A greeting counts as "during" if the up line was not logged yet once it
    # arrived: the checks log a transition before they publish it.
    while True:
        if time.monotonic() - t0 > 5 * slack(1):
            raise Fail('b not marked up again: %s' % pt.log()[-800:])
        got = greet(port)
        if re.search(UP_RE % re.escape(b.addr), pt.log()[mark:]):
            break
        during.append(got)
    t_up = time.monotonic() - t0
    print('  restarted -> marked up: %.0f ms (rise 3); %d connections meanwhile: %s' % (
        t_up * 1000, len(during), tally(during)))
    check(during, 'connections made while b was still marked down')
    eq(tally(during).get('b', 0), 0, 'connections to b while it was marked down')
    # b's share went to a and c alike, not all to the server after it
    within(tally(during), {'a': len(during) / 2, 'c': len(during) / 2}, 0.10, 'b down')
    got = tally(greet(port) for _ in range(300))
    eq(got, {'a': 100, 'b': 100, 'c': 100}, 'all up again')
    eq(pt.log().count('is down'), 1, 'down transitions logged')
    eq(ctl_servers(pt)[b.addr]['state'], 'up', 'passthru-ctl: b up again')
    pt.stop()


def t_tls_health():
    """tls: true passes on openssl s_server (ServerHello) and fails on a
    server that answers something else (our greeter)."""
    tport = TlsBackend(s, 'pool.example').port
    health = {'interval_ms': 200, 'timeout_ms': 150, 'rise': 1, 'fall': 1, 'tls': True}
    pool = {'servers': ['127.0.0.1:%d' % tport, backs[0].addr], 'health': health}
    pt, port = start(pool)
    wait_log(pt, DOWN_RE % re.escape(backs[0].addr), 5 * slack(1))
    time.sleep(0.6)
    check(not re.search(DOWN_RE % ('127.0.0.1:%d' % tport), pt.log()),
          'openssl s_server passes the TLS check')
    pt.stop()


def t_send_expect():
    health = {'interval_ms': 200, 'timeout_ms': 150, 'rise': 1, 'fall': 1,
              'send': 'hello\r\n', 'expect': 'b\n'}
    pt, port = start({'servers': servers(), 'health': health})
    for bk in (backs[0], backs[2]):
        wait_log(pt, DOWN_RE % re.escape(bk.addr), 5 * slack(1))
    time.sleep(0.5)
    check(not re.search(DOWN_RE % re.escape(backs[1].addr), pt.log()), 'b passes')
    eq(tally(greet(port) for _ in range(30)), {'b': 30}, 'only b gets connections')
    pt.stop()


def t_passive():
    """No active checks: two connect failures in a row eject b for 3 s."""
    pool = {'servers': servers(), 'balance': 'round-robin',
            'eject': {'failures': 2, 'cooldown_ms': 3000}}
    pt, port = start(pool, workers=1)
    b = backs[1]
    b.stop()
    try:
        t_start = time.monotonic()      # b is ejected after this: until t_start + 3 s at least
        got = tally(greet(port) for _ in range(60))
        t_done = time.monotonic()       # ... and it was ejected before this
        check('b' not in got and sum(got.values()) == 60, 'every client served: %s' % got)
        eq(pt.log().count('ejected for 3000 ms'), 1, 'ejections logged')
        eq(ctl_servers(pt)[b.addr]['state'], 'ejected', 'passthru-ctl: b')
        b.start()
        while time.monotonic() < t_start + 2.9:
            eq(greet(port) != 'b', True, 'b gets nothing while ejected')
        time.sleep(max(0, t_done + 3.2 - time.monotonic()))
        got = tally(greet(port) for _ in range(30))
        check(got.get('b', 0) >= 8, 'b back after the cooldown: %s' % got)
        eq(pt.log().count('back after its 3000 ms ejection'), 1, 'end of ejection logged')
    finally:
        if not b.proc.alive():
            b.start()
    pt.stop()


def t_fallback():
    """Every server of web down: "reject" closes clients; a fallback pool serves them."""
    dead = ['127.0.0.1:%d' % free_port() for _ in range(2)]
    health = {'interval_ms': 100, 'timeout_ms': 50, 'rise': 1, 'fall': 1}
    pt, port = start({'servers': dead, 'health': health, 'fallback': 'reject'})
    for d in dead:
        wait_log(pt, DOWN_RE % re.escape(d), 5 * slack(1))
    eq(greet(port), '', 'reject: closed without a greeting')
    sv = ctl_servers(pt)
    eq([sv[d]['connect_failures'] for d in dead], [0, 0], 'connects to servers marked down')
    pt.stop()
    pt, port = start({'servers': dead, 'health': health, 'fallback': 'spare'},
                     {'spare': {'servers': [backs[2].addr]}})
    for d in dead:
        wait_log(pt, DOWN_RE % re.escape(d), 5 * slack(1))
    eq(tally(greet(port) for _ in range(20)), {'c': 20}, 'fallback pool')
    sv = ctl_servers(pt)
    eq([sv[d]['connect_failures'] for d in dead], [0, 0], 'connects to servers marked down')
    pt.stop()


def t_reload():
    """A reload that changes the pool (servers and balance) applies to new connections."""
    pt, port = start({'servers': servers(), 'balance': 'first'})
    eq(tally(greet(port) for _ in range(30)), {'a': 30}, 'before')
    pt.set_config(pools_config({'servers': [backs[1].addr, backs[2].addr],
                                'balance': 'round-robin'}, port))
    mark = len(pt.log())
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'loaded; handed to 2 workers' in pt.log()[mark:], 5, 'reload')
    time.sleep(0.2)
    eq(tally(greet(port) for _ in range(30)), {'b': 15, 'c': 15}, 'after')
    pt.stop()


def t_reload_ctl():
    """-w 1 (the worker runs the checks): passthru-ctl config reload adds a
    server that is down and health checks; it is marked down and skipped,
    the servers kept keep their counters."""
    pt, port = start({'servers': servers()[:2], 'balance': 'round-robin'}, workers=1)
    eq(tally(greet(port) for _ in range(30)), {'a': 15, 'b': 15}, 'before')
    dead = '127.0.0.1:%d' % free_port()
    health = {'interval_ms': 100, 'timeout_ms': 50, 'rise': 1, 'fall': 1}
    pt.set_config(pools_config({'servers': servers()[:2] + [dead], 'balance': 'round-robin',
                                'health': health}, port))
    inst = os.path.basename(pt.config_path)[:-len('.json')]
    rc, out, err = run([CTL, 'config', 'reload', '--instance', inst])
    eq(rc, 0, 'passthru-ctl config reload: %s %s' % (out, err))
    wait_log(pt, DOWN_RE % re.escape(dead), 5 * slack(1))
    eq(tally(greet(port) for _ in range(30)), {'a': 15, 'b': 15}, 'after')
    sv = ctl_servers(pt)
    eq(sv[backs[0].addr]['connections'], 30, 'a kept its counters over the reload')
    eq(sv[dead]['connect_failures'], 0, 'no connect to the server marked down')
    pt.stop()


s.test('round-robin 1:1:2 over %d connections, two workers' % N, t_round_robin)
s.test('least-conn over %d connections held 30 at a time' % N, t_least_conn)
s.test('least-conn: new connections avoid the server holding many', t_least_conn_busy)
s.test('least-conn: a killed worker\'s connections are given back', t_worker_killed)
s.test('source-hash over %d client addresses, each stays' % N, t_source_hash)
s.test('first: all to the first server', t_first)
s.test('health: killed -> down, restarted -> up, none while down', t_health)
s.test('health tls: ServerHello passes, a greeting fails', t_tls_health)
s.test('health send/expect', t_send_expect)
s.test('passive ejection after 2 connect failures, back after cooldown', t_passive)
s.test('fallback: reject, another pool', t_fallback)
s.test('reload (SIGHUP, -w 2) with a changed pool', t_reload)
s.test('passthru-ctl config reload (-w 1) adds a server and checks', t_reload_ctl)
s.finish()
