# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Process life: -w workers and their restart, SIGTERM with open
connections (grace, second signal), SIGHUP reload."""
import os
import re
import signal
import time

from ptharness import (Suite, Passthru, PtServer, connect, read_closed, ping, finish, eq, check,
                       expect, listener, route, free_port, ptstream_client, wait_for, slack, Fail,
                       need_root)

s = Suite('lifecycle')
echo = PtServer(s, 'echo')
ban_a = PtServer(s, 'banner', 'A\\n', name='banner-A')
ban_b = PtServer(s, 'banner', 'B\\n', name='banner-B')


def any_to(backend, port, **kw):
    return {'listeners': [listener('front', port, [route('all', backend.addr)], **kw)]}


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def t_workers():
    port = free_port()
    pt = Passthru(s, any_to(echo, port), args=['-w', '2'], name='workers')
    wait_for(lambda: len(children(pt.proc.pid)) == 2, 5, 'two worker processes')
    m = pt.mark()
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'echo', '-C', 20, '-N',
                                   200, '-s', '1k:32k', '--summary')
    eq(rc, 0, 'ptstream echo through 2 workers (%s)' % err.strip()[:300])
    lines = pt.conns_after(m, 200)
    tags = sorted(set(d['tag'] for d in lines))
    eq(tags, ['w0', 'w1'], 'workers that logged connections')
    eq([d['line'] for d in lines if d['end'] != 'done'][:3], [], 'lines with end other than done')
    per = {t: sum(1 for d in lines if d['tag'] == t) for t in tags}
    check(min(per.values()) >= 20, 'connections spread over both workers: %s' % per)

    # A worker that dies is restarted; the service goes on.
    victim = children(pt.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    # The log first: /proc's children list is not exact while a child exits
    # (once it showed two children without the victim before the master had
    # even reaped it).
    wait_for(lambda: re.search(r'worker \d \(pid %d\) killed' % victim, pt.log()), 5,
             'the master to log the dead worker')
    wait_for(lambda: len(children(pt.proc.pid)) == 2 and victim not in children(pt.proc.pid),
             5, 'the worker to be restarted')
    rc, out, err = ptstream_client('-c', '127.0.0.1:%d' % port, '-m', 'echo', '-C', 10, '-N',
                                   50, '-s', '1k:8k', '--summary')
    eq(rc, 0, 'ptstream echo after the restart (%s)' % err.strip()[:300])
    # SIGTERM to the master only: it passes it on to the workers.
    workers = children(pt.proc.pid)
    t0 = time.monotonic()
    pt.send_signal(signal.SIGTERM)
    eq(pt.proc.wait(slack(3)), 0, 'exit status after SIGTERM with -w 2')
    check(time.monotonic() - t0 < slack(2), 'idle workers stop at once')
    eq([w for w in workers if os.path.exists('/proc/%d' % w)], [], 'workers still running')
    check('all workers exited' in pt.log(), 'master logged the end of its workers')


def t_default_workers():
    """Without -w the daemon runs one worker per CPU it may use, like HAProxy
    and nginx (and a single process where that is one CPU)."""
    port = free_port()
    cpus = len(os.sched_getaffinity(0))
    pt = Passthru(s, any_to(echo, port), name='default-w', default_workers=True)
    m = wait_for(lambda: re.search(r', (\d+) workers, data planes', pt.log()), 5,
                 'the startup line')
    eq(int(m.group(1)), cpus, 'workers in the startup line (CPUs: %d)' % cpus)
    if cpus > 1:
        wait_for(lambda: len(children(pt.proc.pid)) == cpus, 5, '%d worker processes' % cpus)
    c = connect(port)
    ping(c, b'default workers')
    finish(c)
    pt.stop()


def t_sigterm_open():
    port = free_port()
    cfg = any_to(echo, port)
    cfg['grace_ms'] = 5000
    pt = Passthru(s, cfg, name='term')
    m = pt.mark()
    c = connect(port)
    ping(c, b'before')
    pt.send_signal(signal.SIGTERM)
    wait_for(lambda: 'stopped accepting' in pt.log(), 3, 'the daemon to stop accepting')
    try:
        connect(port, timeout=2).close()
        raise Fail('a new connection was accepted after SIGTERM')
    except ConnectionRefusedError:
        pass
    ping(c, b'after SIGTERM')
    time.sleep(0.3)
    ping(c, b'still')
    check(pt.proc.alive(), 'daemon still running while the connection is open')
    t0 = time.monotonic()
    eq(finish(c), b'', 'nothing more after our FIN')
    rc = pt.proc.wait(3)
    took = time.monotonic() - t0
    eq(rc, 0, 'exit status once the last connection ended')
    check(took < slack(1.5),
          'exited right after the connection ended (%.2f s), not at grace' % took)
    n = len(b'before' + b'after SIGTERM' + b'still')
    expect(pt.conn_after(m), route='all', end='done', up=n, down=n)


def t_grace_expires():
    port = free_port()
    cfg = any_to(echo, port)
    cfg['grace_ms'] = 500
    pt = Passthru(s, cfg, name='grace')
    m = pt.mark()
    c = connect(port)
    ping(c, b'x')
    pt.send_signal(signal.SIGTERM)
    data, how, took = read_closed(c, 5)
    c.close()
    check(how in ('eof', 'reset') and 0.4 <= took <= slack(2),
          'connection closed when grace_ms=500 ran out (%s after %.2f s)' % (how, took))
    eq(pt.proc.wait(3), 0, 'exit status after the grace period')
    expect(pt.conn_after(m), end='shutdown', up=1, down=1)


def t_second_sigterm():
    port = free_port()
    cfg = any_to(echo, port)
    cfg['grace_ms'] = 30000
    pt = Passthru(s, cfg, name='twice')
    m = pt.mark()
    c = connect(port)
    ping(c, b'x')
    pt.send_signal(signal.SIGTERM)
    wait_for(lambda: 'stopped accepting' in pt.log(), 3, 'the daemon to stop accepting')
    ping(c, b'y')
    pt.send_signal(signal.SIGTERM)
    data, how, took = read_closed(c, 5)
    c.close()
    check(how in ('eof', 'reset') and took < slack(1),
          'second SIGTERM closed the connection at once (%s after %.2f s)' % (how, took))
    eq(pt.proc.wait(3), 0, 'exit status after the second SIGTERM')
    expect(pt.conn_after(m), end='shutdown', up=2, down=2)


def t_sighup(workers):
    port = free_port()
    args = ['-w', str(workers)] if workers > 1 else []
    pt = Passthru(s, any_to(ban_a, port), args=args, name='reload%d' % workers)
    m = pt.mark()
    old = connect(port)
    eq(old.recv(2), b'A\n', 'first backend before the reload')
    ping(old, b'hello')
    pt.set_config(any_to(ban_b, port))
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('reloaded') >= workers, 5, 'reloaded in every worker')
    for i in range(10 * workers):
        c = connect(port)
        eq(c.recv(2), b'B\n', 'new connection %d after the reload' % i)
        eq(finish(c), b'', 'rest of the new connection')
    ping(old, b'still on A')
    eq(finish(old), b'', 'rest of the old connection')
    lines = pt.conns_after(m, 10 * workers + 1)
    old_line = [d for d in lines if d['upstream'] == ban_a.addr]
    eq(len(old_line), 1, 'connections that went to A')
    expect(old_line[0], end='done', up=len(b'hellostill on A'), down=2 + len(b'hellostill on A'))
    eq(sum(1 for d in lines if d['upstream'] == ban_b.addr), 10 * workers,
       'connections that went to B')
    if workers > 1:
        eq(sorted(set(d['tag'] for d in lines if d['upstream'] == ban_b.addr)), ['w0', 'w1'],
           'both workers use the new config')

    # A broken config is refused, once, by the one that loads it; the running one stays.
    pt.set_config('{"listeners": [ { "listen": "nowhere" } ] }')
    n = pt.log().count('keeping the running config')
    reloaded = pt.log().count('reloaded')
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: pt.log().count('keeping the running config') >= n + 1, 5,
             'the reload to be refused')
    time.sleep(0.1)
    eq(pt.log().count('keeping the running config'), n + 1, 'refusals logged')
    eq(pt.log().count('reloaded'), reloaded, 'no process reloaded')
    c = connect(port)
    eq(c.recv(2), b'B\n', 'still the last good config')
    finish(c)
    eq(pt.stop(), 0, 'exit status')


def t_master_loop_error():
    """An error in the master's loop with workers running, as "user" nobody:
    the master waits for its own workers, then exits. (It used to
    waitpid(-1) until no child was left, which hung on the root janitor
    that privileges were dropped with; the janitor is gone since, and the
    master waits for the pids it started.)"""
    need_root('user nobody')
    port = free_port()
    cfg = dict(any_to(echo, port), user='nobody')
    pt = Passthru(s, cfg, args=['-w', '2'], name='looperr',
                  env=dict(os.environ, PASSTHRU_FAULT_MASTER_LOOP='1'))
    wait_for(lambda: len(children(pt.proc.pid)) == 2, 5, 'two workers')
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'master: event loop' in pt.log(), 5, 'the injected loop error')
    rc = pt.proc.wait(slack(5))
    check(rc is not None, 'the master exited after its loop failed (still running: %s)'
          % children(pt.proc.pid))
    eq(rc, 1, 'exit status after a loop error')
    check('all workers exited' in pt.log(), 'the master waited for its workers')


s.test('-w 2: connections spread over both workers; a killed worker is restarted', t_workers)
s.test('no -w: one worker per CPU', t_default_workers)
s.test('SIGTERM: refuses new connections, the open one finishes, exit 0', t_sigterm_open)
s.test('SIGTERM: open connections are closed when grace_ms runs out', t_grace_expires)
s.test('second SIGTERM closes everything at once', t_second_sigterm)
s.test('SIGHUP: new connections use the new config, open ones keep working', t_sighup, 1)
s.test('SIGHUP with -w 2 reaches both workers', t_sighup, 2)
s.test('master loop error as user nobody with -w 2: the master still exits',
       t_master_loop_error)
s.finish()
