# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A worker that dies gives back what it held (issues 7 items 3 and 5).

passthru -w 2 shares its limits between the workers: the "active" count
behind max_connections, the per-source counts behind
max_connections_per_source, and (sockmap) the pinned pt_socks entries and
pt_pairs slots. The master restarts a worker that dies (SIGKILL here, as
the OOM killer would); the kernel closes the dead worker's sockets, so its
clients are gone. Checked on each data plane, once the workers are back
and the clients have closed:

  * the listener's "active" count is back to 0 and max_connections admits
    as many connections as before;
  * a source that was at max_connections_per_source can connect again;
  * with sockmap: no pt_socks, pt_rx or pt_tx entry and no busy pt_pairs
    slot is left, and passthru-ctl status shows no pair.
"""
import os
import signal
import subprocess
import time

from stresslib import (StressSuite, PtServer, Pairs, daemon, planes, proc_tree, listener_stats,
                       pinned_keys, instance_of, connect, ping, finish, read_closed, check, eq,
                       wait_for, listener, route, free_port, slack, PASSTHRU_CTL)

s = StressSuite('stress-worker-kill')
echo = PtServer(s, 'echo')
MAX_CONN, PER_SOURCE = 6, 2
figures = []


def workers(pt):
    return sorted(p for p in proc_tree(pt.proc.pid) if p != pt.proc.pid)


def served(port, source):
    c = connect(port, source=source)
    try:
        c.sendall(b'hello')
        got, how, _ = read_closed(c, 0.5)
    except OSError:
        got = b''
    c.close()
    return got == b'hello'


def t_kill(plane):
    port = free_port()
    pt = daemon(s, [listener('f', port, [route('all', echo.addr)], max_connections=MAX_CONN,
                             max_connections_per_source=PER_SOURCE)], plane,
                args=['-w', '2'], name='kill-' + plane)
    sources = ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3']
    held = []
    for i, src in enumerate(sources):
        c = connect(port, source=src)
        ping(c, b'held %d' % i)
        held.append(c)
    eq(listener_stats(pt)['active'], MAX_CONN, 'active with every slot taken')
    old = workers(pt)
    eq(len(old), 2, 'two workers')
    for w in old:
        os.kill(w, signal.SIGKILL)
    wait_for(lambda: len(workers(pt)) == 2 and not set(workers(pt)) & set(old), slack(5),
             'the master to restart both workers')
    for c in held:
        c.close()
    time.sleep(0.5)
    problems = []
    active = listener_stats(pt)['active']
    if active:
        problems.append('active is %d with no connection open' % active)
    if not served(port, '127.0.0.1'):
        problems.append('127.0.0.1 (it had %d connections on the dead workers) is refused' %
                        PER_SOURCE)
    # That connection counts until the daemon has torn it down, which may
    # take a moment after our close: max_connections is measured without it.
    wait_for(lambda: listener_stats(pt)["active"] == 0, 5,
             'the check connection to be closed by the daemon')
    fresh = [connect(port, source='127.0.0.%d' % (10 + i)) for i in range(MAX_CONN)]
    ok = 0
    for i, c in enumerate(fresh):
        try:
            ping(c, b'fresh %d' % i)
            ok += 1
        except Exception:
            pass
    for c in fresh:
        c.close()
    if ok != MAX_CONN:
        problems.append('max_connections %d admits only %d new connections' % (MAX_CONN, ok))
    if plane == 'sockmap':
        time.sleep(0.3)
        left = {n: len(pinned_keys(pt, n)) for n in ('pt_socks', 'pt_rx', 'pt_tx')}
        p = Pairs(pt)
        busy = sum(1 for x in p.states() if x)
        p.close()
        if any(left.values()) or busy:
            problems.append('map entries left %s, %d busy pair slots' % (left, busy))
        r = subprocess.run([PASSTHRU_CTL, 'status', '--instance', instance_of(pt)],
                           capture_output=True, text=True, timeout=10)
        last = (r.stdout.strip().splitlines() or [''])[-1]
        if ' 0 pairs' not in last:
            problems.append('passthru-ctl status: %s' % last)
    figures.append('[%s] after SIGKILL of both workers: %s' % (
        plane, '; '.join(problems) or 'every count, entry and slot given back'))
    check(not problems, 'what the dead workers held is still counted: %s' % '; '.join(problems))
    pt.stop()


for plane in planes():
    s.test('[%s] -w 2, both workers killed with every slot taken: limits and slots given back' %
           plane, t_kill, plane)
print('figures:')
for f in figures:
    print('  ' + f)
s.finish()
