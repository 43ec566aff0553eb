#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""One reload, one config: the master alone reads the file and resolves the
upstream names, once, off any serving loop, and hands the result to the
workers; a reload that fails reaches no worker.

The daemon runs with build/tests/ptresolv.so as LD_PRELOAD, a getaddrinfo()
that answers names ending in .test itself and logs every call (see
tests/tools/ptresolv.c): *.seq.test gives another address on each call,
*.flaky.test fails on its first call, *.slow.test takes PT_SLOW_MS."""
import json
import os
import signal
import socket
import threading
import time

from ptharness import (Suite, Passthru, TcpServer, BUILD, connect, ping, eq, check, listener, echo,
                       route, free_port, wait_for, slack, need_file, run, Fail, TIME_SCALE)

SHIM = os.path.join(BUILD, 'tests', 'ptresolv.so')
CTL = os.path.join(BUILD, 'passthru-ctl')
SLOW_MS = 2000

s = Suite('reload')
need_file(SHIM)
RESOLV_LOG = s.path('resolv.log')


# On 0.0.0.0: reachable at every 127.x.y.z the fake resolver hands out.
backend = TcpServer(s, echo, host='0.0.0.0')


def shim_env():
    env = dict(os.environ, LD_PRELOAD=SHIM, PTRESOLV_LOG=RESOLV_LOG,
               PTRESOLV_SLOW_MS=str(SLOW_MS))
    # An ASan build wants its runtime first; the shim comes before it.
    env['ASAN_OPTIONS'] = ':'.join(filter(None, [os.environ.get('ASAN_OPTIONS'),
                                                  'verify_asan_link_order=0']))
    return env


def resolutions(name):
    """(pid, name) of every getaddrinfo() call for name so far."""
    try:
        with open(RESOLV_LOG) as f:
            return [l.split() for l in f if l.split()[1:] == [name]]
    except OSError:
        return []


def cfg(port, upstream):
    return {'listeners': [listener('front', port, [route('all', upstream)])]}


def start2(name, config):
    """-w 2 with the fake resolver, once the master runs its workers (the
    kernel plane and the control socket come after "listening on")."""
    pt = Passthru(s, config, args=['-w', '2'], name=name, env=shim_env())
    wait_for(lambda: 'running 2 workers' in pt.log(), 10, '%s to run its workers' % name)
    return pt


def worker_gens(pt):
    inst = os.path.basename(pt.config_path)[:-len('.json')]
    rc, out, err = run([CTL, '-j', 'stats', '--instance', inst])
    eq(rc, 0, 'passthru-ctl stats (%s %s)' % (out.strip()[:300], err.strip()[:300]))
    st = json.loads(out)['instances'][0]['stats']
    return st['generation'], [w['generation'] for w in st['workers']]


def spread(pt, port, want_tags=('w0', 'w1'), most=64):
    """Echo through new connections until both workers logged some; their log lines."""
    m = pt.mark()
    n = 0
    while n < most:
        for _ in range(8):
            c = connect(port)
            ping(c, b'x' * 64)
            c.close()
            n += 1
        lines = pt.conns_after(m, n)
        if set(d['tag'] for d in lines) >= set(want_tags):
            return lines
    raise Fail('%d connections all went to one worker' % n)


def t_one_resolution():
    """-w 2: each reload resolves the name once, in the master; both workers
    use the addresses it got (before, each process resolved it itself)."""
    port = free_port()
    name = 'up.seq.test'
    pt = start2('seq', cfg(port, '%s:%d' % (name, backend.port)))
    eq(len(resolutions(name)), 1, 'resolutions at start')
    before = resolutions(name)
    pt.set_config(cfg(port, '%s:%d' % (name, backend.port)) | {'grace_ms': 1000})
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: worker_gens(pt) == (1, [1, 1]), 5, 'generation 1 everywhere')
    time.sleep(0.2)  # a late resolution would show now
    calls = resolutions(name)[len(before):]
    eq([pid for pid, _ in calls], [str(pt.proc.pid)], 'one resolution, in the master (pids)')
    lines = spread(pt, port)
    ups = sorted(set((d['tag'], d['upstream']) for d in lines))
    eq(sorted(set(d['upstream'] for d in lines)), ['127.0.0.3:%d' % backend.port],
       'the upstream both workers use, the master\'s second answer (%s)' % ups)
    eq(pt.stop(), 0, 'exit status')


def t_failed_reload():
    """-w 2: a reload the master cannot load reaches no worker, even when a
    worker could have loaded it (a name that fails only on its first call)."""
    port = free_port()
    pt = start2('flaky', cfg(port, backend.addr))
    eq(worker_gens(pt), (0, [0, 0]), 'generations at start')
    # A syntax error.
    n = pt.log().count('reload of')
    pt.set_config('{"listeners": [')
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('reload of') > n, 5, 'the refused reload')
    time.sleep(0.3)
    eq(worker_gens(pt), (0, [0, 0]), 'generations after a syntax error')
    # A name the master cannot resolve this time.
    n = pt.log().count('reload of')
    pt.set_config(cfg(port, 'up.flaky.test:%d' % backend.port))
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('reload of') > n, 5, 'the refused reload')
    time.sleep(0.3)
    eq(worker_gens(pt), (0, [0, 0]), 'generations after a name failed to resolve')
    eq(len(resolutions('up.flaky.test')), 1, 'resolutions of the failed name')
    lines = spread(pt, port)
    eq(set(d['upstream'] for d in lines), {backend.addr}, 'still the old upstream')
    # The same file again: the name resolves now; one resolution, everyone moves.
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: worker_gens(pt) == (1, [1, 1]), 5, 'generation 1 everywhere')
    eq(len(resolutions('up.flaky.test')), 2, 'resolutions after the good reload')
    eq(pt.stop(), 0, 'exit status')


def t_slow_resolution():
    """-w 1: relays and new connections keep flowing while a reload waits
    PT_SLOW_MS for a name (the resolution used to block the only loop)."""
    port = free_port()
    base = cfg(port, backend.addr)
    pt = Passthru(s, base, name='slow', env=shim_env())
    held = connect(port)
    ping(held, b'y' * 64)
    worst = {'held': 0.0, 'new': 0.0}
    stop = threading.Event()
    errors = []

    def pinger():
        try:
            while not stop.is_set():
                t = time.monotonic()
                ping(held, b'p' * 64)
                worst['held'] = max(worst['held'], time.monotonic() - t)
                t = time.monotonic()
                c = connect(port)
                ping(c, b'n' * 64)
                c.close()
                worst['new'] = max(worst['new'], time.monotonic() - t)
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    slow = dict(base)
    slow['listeners'] = [listener('front', port, [route('late', 'x.slow.test:%d' % backend.port,
                                                        protocol='ssh'),
                                                  route('all', backend.addr)])]
    pt.set_config(slow)
    th = threading.Thread(target=pinger, daemon=True)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'reloaded' in pt.log(), slack(SLOW_MS / 1000 + 5), 'the slow reload')
    took = time.monotonic() - t0
    time.sleep(0.2)
    stop.set()
    th.join(10)
    held.close()
    check(not errors, 'ping-pong errors: %s' % errors)
    print('  reload took %.2f s; worst 64 B round trip: held %.0f ms, new connection %.0f ms'
          % (took, worst['held'] * 1000, worst['new'] * 1000))
    check(took >= SLOW_MS / 1000 * 0.9, 'the reload waited for the slow name (%.2f s)' % took)
    limit = 0.2 * TIME_SCALE
    check(worst['held'] < limit and worst['new'] < limit,
          'no stall over %.0f ms during the reload (held %.0f ms, new %.0f ms)' % (
              limit * 1000, worst['held'] * 1000, worst['new'] * 1000))
    eq(pt.stop(), 0, 'exit status')


s.test('-w 2: a reload resolves each name once, in the master; workers use its answer',
       t_one_resolution)
s.test('-w 2: a failed reload (syntax, unresolved name) changes no worker\'s generation',
       t_failed_reload)
s.test('-w 1: relays and accepts go on during a reload with a slow resolver', t_slow_resolution)
s.finish()
