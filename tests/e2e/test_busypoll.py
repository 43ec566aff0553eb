# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane
"""Busy polling before a worker sleeps (user/loop.c, "busy_poll_us"), as a
user runs it. The poll yields the CPU each time round (sched_yield()), and
nothing else in the daemon does, so perf counts the polls of the running
daemon (-w 1) on the syscalls:sys_enter_sched_yield tracepoint:

- one dense ping-pong (each message sent as soon as its echo is back)
  with the default: the worker polls, and every byte comes back;
- the same with "busy_poll_us": 0: no poll;
- a sparse ping-pong (a message every 5 ms): the window shuts after each
  gap, fewer polls than messages (a dense one polls about 20 times a
  message here);
- the dense ping-pong while the worker holds more than 32 connections
  (busy rounds batch well): no poll.
A window or a share of CPU is not timed here: the bench measures latency.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

from ptharness import (Suite, Passthru, Skip, TcpServer, check, eq, listener, route,
                       free_port, connect, slack, scaled, echo)

s = Suite('busypoll')
MSGS = scaled(2000, 300)
HOLD = 40  # more than PT_SPIN_MAX_CONNS (worker.c)

backend = TcpServer(s, echo)


def daemon(name, busy_poll_us=None):
    port = free_port()
    cfg = {'listeners': [listener('l', port, [route('all', backend.addr)],
                                  data_plane='copy', max_connections=200)]}
    if busy_poll_us is not None:
        cfg['busy_poll_us'] = busy_poll_us
    return Passthru(s, cfg, args=['-w', '1'], name=name), port


polling, polling_port = daemon('polling')
still, still_port = daemon('still', busy_poll_us=0)


def ping_pong(port, n, gap=0.0):
    c = connect(port)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = os.urandom(64)
    for _ in range(n):
        c.sendall(msg)
        got = b''
        while len(got) < len(msg):
            d = c.recv(len(msg) - len(got))
            check(d, 'echo before EOF')
            got += d
        eq(got, msg, 'the echo')
        if gap:
            time.sleep(gap)
    c.shutdown(socket.SHUT_WR)
    eq(c.recv(1), b'', 'EOF after the ping-pong')
    c.close()


def worker_pid(pt):
    """-w 1: the worker is the daemon's one child."""
    pid = pt.proc.p.pid
    kids = open('/proc/%d/task/%d/children' % (pid, pid)).read().split()
    return int(kids[0]) if kids else pid


def polls(pt, fn):
    """sched_yield() calls of the daemon's worker while fn() runs."""
    if not shutil.which('perf'):
        raise Skip('perf is not installed (make deps)')
    out = s.path('perf-%s-%d.txt' % (pt.name, time.monotonic_ns()))
    st = subprocess.Popen(['perf', 'stat', '-x', ',', '-o', out, '-e',
                           'syscalls:sys_enter_sched_yield', '-p', str(worker_pid(pt))],
                          stderr=subprocess.PIPE)
    time.sleep(slack(0.5))  # attached
    if st.poll() is not None:
        raise Skip('perf stat: %s' % st.stderr.read().decode(errors='replace').strip())
    fn()
    st.send_signal(signal.SIGINT)
    st.wait(timeout=10)
    for line in open(out):
        f = line.split(',')
        if len(f) > 2 and 'sched_yield' in f[2]:
            if not f[0].strip().isdigit():
                raise Skip('perf cannot count the tracepoint: %s' % line.strip())
            print('  %s: %d sched_yield()' % (pt.name, int(f[0])))
            return int(f[0])
    raise Skip('perf stat printed no count: %s' % open(out).read()[-300:])


def t_dense():
    n = polls(polling, lambda: ping_pong(polling_port, MSGS))
    check(n > 0, 'the worker polled between messages')


def t_off():
    eq(polls(still, lambda: ping_pong(still_port, MSGS)), 0, 'polls with busy_poll_us 0')


def t_sparse():
    msgs = scaled(100, 40)
    n = polls(polling, lambda: ping_pong(polling_port, msgs, gap=0.005))
    check(n < msgs, 'fewer polls than messages (the window shuts after each gap)')


def t_many():
    held = [connect(polling_port) for _ in range(HOLD)]
    for c in held:  # each relays once: the worker holds all of them
        c.sendall(b'x')
        eq(c.recv(1), b'x', 'held connection echo')
    try:
        eq(polls(polling, lambda: ping_pong(polling_port, MSGS)), 0,
           'polls while the worker holds %d connections' % (HOLD + 1))
    finally:
        for c in held:
            c.close()


s.test('a dense ping-pong: the worker polls before it sleeps, every byte', t_dense)
s.test('"busy_poll_us": 0: no poll', t_off)
s.test('a sparse ping-pong: the window shuts after each gap', t_sparse)
s.test('over 32 connections: no poll', t_many)
s.finish()
