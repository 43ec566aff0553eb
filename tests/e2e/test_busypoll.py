# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane
"""Busy polling before a worker sleeps (user/loop.c, "busy_poll_us"), as a
user runs it. The poll yields the CPU each time round (sched_yield()), and
nothing else in the daemon does, so perf counts the polls of the running
daemon (-w 1) on the syscalls:sys_enter_sched_yield tracepoint:

- one dense ping-pong (each message sent as soon as its echo is back)
  with the default: the worker polls, and every byte comes back;
- the same with "busy_poll_us": 0: no poll;
- a trickle (64 B every 5 ms to a backend that answers nothing): the
  window stays shut, fewer polls than messages (a dense ping-pong polls
  about 20 times a message here);
- the dense ping-pong while the worker holds more than 8 connections
  (busy rounds batch well): no poll;
- the dense ping-pong on an auto listener while a bulk stream that moved
  to splice is open on the same worker (a stream pays for polls in CPU
  per byte and needs no quick wake-up): no poll.
A window or a share of CPU is not timed here: the bench measures latency.
"""
import os
import shutil
import threading
import signal
import socket
import subprocess
import time

from ptharness import (Suite, Passthru, Skip, TcpServer, check, eq, listener, route,
                       free_port, connect, slack, scaled, echo)

s = Suite('busypoll')
MSGS = scaled(2000, 300)
HOLD = 12  # more than PT_SPIN_MAX_CONNS (worker.c)

backend = TcpServer(s, echo)


def sink(c, srv):
    """A TcpServer handler: read everything, answer nothing."""
    while c.recv(1 << 16):
        pass


quiet = TcpServer(s, sink)


def daemon(name, busy_poll_us=None, data_plane='copy', to=backend):
    port = free_port()
    cfg = {'listeners': [listener('l', port, [route('all', to.addr)],
                                  data_plane=data_plane, max_connections=200)]}
    if busy_poll_us is not None:
        cfg['busy_poll_us'] = busy_poll_us
    return Passthru(s, cfg, args=['-w', '1'], name=name), port


polling, polling_port = daemon('polling')
still, still_port = daemon('still', busy_poll_us=0)
mixed, mixed_port = daemon('mixed', data_plane='auto')
trickle, trickle_port = daemon('trickle', to=quiet)


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


def one_way(port, n, gap):
    c = connect(port)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        c.sendall(b'm' * 64)
        time.sleep(gap)
    c.close()


def t_sparse():
    msgs = scaled(200, 50)
    n = polls(trickle, lambda: one_way(trickle_port, msgs, 0.005))
    check(n < msgs, 'fewer polls than messages (the window stays shut)')


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


def stream(port, size):
    """A connection that sends @size bytes while it reads their echo: bulk."""
    c = connect(port, timeout=slack(30))
    data = os.urandom(1 << 16) * (size >> 16)

    def writer():
        c.sendall(data)
    t = threading.Thread(target=writer)
    t.start()
    got = 0
    while got < len(data):
        d = c.recv(1 << 20)
        check(d, 'echo before EOF')
        got += len(d)
    t.join()
    return c


def t_stream():
    mark = mixed.mark()
    bulk = stream(mixed_port, 16 << 20)
    try:
        eq(polls(mixed, lambda: ping_pong(mixed_port, MSGS)), 0,
           'polls while a stream that moved is open')
    finally:
        bulk.shutdown(socket.SHUT_WR)
        eq(bulk.recv(1), b'', 'EOF after the stream')
        bulk.close()
    ends = mixed.conns_after(mark, 2, timeout=slack(10))
    planes = sorted(d.get('plane') for d in ends)
    eq(planes, ['copy', 'copy>splice'], 'planes of the ping-pong and the stream')


s.test('a dense ping-pong: the worker polls before it sleeps, every byte', t_dense)
s.test('"busy_poll_us": 0: no poll', t_off)
s.test('a trickle, 5 ms apart: the window stays shut', t_sparse)
s.test('over 8 connections: no poll', t_many)
s.test('a stream that moved to splice on the worker: no poll', t_stream)
s.finish()
