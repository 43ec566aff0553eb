# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# e2e: any plane
"""The copy plane's io_uring batcher (user/batch.c), as a user runs it.

- Syscalls, counted by strace on the running daemon (-w 1): 16 ping-pongs
  of 200 messages at once through a copy listener make io_uring_enter()
  calls and at most one recvfrom()/sendto() per two relays (rounds of one
  relay make plain calls: cheaper); a ping-pong alone makes a recvfrom()
  and a sendto() per message; with "io_uring": false the 16 make one of
  each per message and no io_uring_enter().
- Bytes exact, batched: 48 connections at once echo messages of random
  sizes from 1 B to 48 KiB (a read that fills a 16 KiB batch slot goes on
  with plain reads) and end with a half-close from either side; then one
  client that reads slowly, so that batched sends come back short and the
  rest waits for the peer (sha256 of 16 MiB each way; counts and sizes
  scaled by PT_LOAD_SCALE in the VM kernels, which run this program too:
  that io_uring completes MSG_DONTWAIT requests inside io_uring_enter()
  is a kernel behaviour the batcher rests on).
- A burst: 120 connections send 16 KiB each while the worker is stopped
  (SIGSTOP), so that its next round has them all and fills more than 16
  slots (the slots' mapping's Rss in /proc/PID/smaps, sampled through the
  burst); half a second later the pages past 16 slots are given back.
- kernel.io_uring_disabled = 2 (restored after): the daemon starts, says
  so in one line and relays with plain calls.
Every listener is on copy: the batcher belongs to that plane (auto starts
there too), so the program runs once, not per e2e plane.
"""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from ptharness import (Suite, Passthru, Skip, TcpServer, check, eq, listener, route,
                       free_port, connect, slack, wait_for, scaled, echo)

s = Suite('batch')
MSGS = scaled(200, 50)
CONNS = 16
SYSCTL = '/proc/sys/kernel/io_uring_disabled'
SLOT = 16 << 10      # PT_BATCH_BUF
SLOTS = 256          # PT_BATCH_OPS
KEEP = 16            # PT_BATCH_KEEP


backend = TcpServer(s, echo)


def daemon(name, io_uring=None, env=None):
    port = free_port()
    cfg = {'listeners': [listener('l', port, [route('all', backend.addr)],
                                  data_plane='copy')]}
    if io_uring is not None:
        cfg['io_uring'] = io_uring
    return Passthru(s, cfg, args=['-w', '1'], name=name, env=env), port


batched, batched_port = daemon('batched')
plain, plain_port = daemon('plain', io_uring=False)


def ping_pong(port, n, size=100):
    c = connect(port)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b'p' * size
    for _ in range(n):
        c.sendall(msg)
        got = b''
        while len(got) < size:
            d = c.recv(size - len(got))
            check(d, 'echo before EOF')
            got += d
    c.shutdown(socket.SHUT_WR)
    eq(c.recv(1), b'', 'EOF after the ping-pong')
    c.close()


def ping_pongs(port, conns, n):
    """@conns connections at once, @n messages each."""
    errors = []

    def one():
        try:
            ping_pong(port, n)
        except Exception as e:
            errors.append(str(e))
    threads = [threading.Thread(target=one) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(slack(60))
    eq(errors, [], 'ping-pong errors')


def count_syscalls(pt, port, conns):
    """{syscall: calls} of the daemon during @conns ping-pongs of MSGS messages at once."""
    if not shutil.which('strace'):
        raise Skip('strace is not installed (make deps)')
    out = s.path('strace-%s-%d.txt' % (pt.name, conns))
    st = subprocess.Popen(['strace', '-f', '-c', '-o', out, '-e',
                           'trace=recvfrom,sendto,io_uring_enter', '-p', str(pt.proc.p.pid)],
                          stderr=subprocess.DEVNULL)
    time.sleep(slack(0.5))  # attached
    ping_pongs(port, conns, MSGS)
    st.send_signal(signal.SIGINT)
    st.wait(timeout=10)
    calls = {'recvfrom': 0, 'sendto': 0, 'io_uring_enter': 0}
    for line in open(out):
        f = line.split()
        if len(f) >= 5 and f[-1] in calls:
            calls[f[-1]] = int(f[3])
    print('  %d connection(s) x %d messages: %s' % (conns, MSGS, calls))
    return calls


def t_syscalls_batched():
    """16 at once: most rounds carry several relays (2 per message: up, and the echo down)."""
    calls = count_syscalls(batched, batched_port, CONNS)
    relays = 2 * CONNS * MSGS
    check(calls['recvfrom'] + calls['sendto'] <= relays // 2,
          'at most one plain call per two relays (a plain pair per relay without batching)')
    check(calls['io_uring_enter'] >= CONNS * MSGS // 20, 'io_uring_enter() calls')


def t_syscalls_lone():
    """One connection: a round has one relay, which a plain recv() and send() do cheaper."""
    calls = count_syscalls(batched, batched_port, 1)
    check(calls['recvfrom'] >= 2 * MSGS and calls['sendto'] >= 2 * MSGS,
          'a recvfrom() and a sendto() per message each way')
    check(calls['io_uring_enter'] <= 16, 'few io_uring_enter() calls')


def t_syscalls_plain():
    calls = count_syscalls(plain, plain_port, CONNS)
    check(calls['recvfrom'] >= 2 * CONNS * MSGS and calls['sendto'] >= 2 * CONNS * MSGS,
          'a recvfrom() and a sendto() per message each way')
    eq(calls['io_uring_enter'], 0, 'io_uring_enter() calls with "io_uring": false')


def conversation(port, seed, errors):
    """Random-sized messages, each echoed whole, then a half-close."""
    rnd = random.Random(seed)
    try:
        c = connect(port, timeout=slack(30))
        up, down = hashlib.sha256(), hashlib.sha256()
        for _ in range(rnd.randint(5, 40)):
            msg = rnd.randbytes(rnd.choice((1, rnd.randint(2, 1500), rnd.randint(1, 49152))))
            up.update(msg)
            c.sendall(msg)
            got = 0
            while got < len(msg):
                d = c.recv(65536)
                if not d:
                    raise AssertionError('EOF after %d of %d bytes' % (got, len(msg)))
                down.update(d)
                got += len(d)
        c.shutdown(socket.SHUT_WR)
        if c.recv(1) != b'':
            raise AssertionError('bytes after the echo')
        if up.digest() != down.digest():
            raise AssertionError('sha256 differs')
        c.close()
    except Exception as e:  # reported by the test thread
        errors.append('conversation %d: %s' % (seed, e))


def t_concurrent():
    mark = batched.mark()
    errors = []
    threads = [threading.Thread(target=conversation, args=(batched_port, i, errors))
               for i in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(slack(120))
    eq(errors, [], 'conversations')
    ends = batched.conns_after(mark, 48, timeout=slack(10))
    bad = [d for d in ends if d.get('end') != 'done' or d.get('plane') != 'copy']
    eq(bad, [], 'connections that did not end done')


def t_slow_reader():
    size = scaled(16 << 20, 1 << 20)
    data = random.Random(7).randbytes(size)
    c = connect(batched_port, timeout=slack(60))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)

    def writer():
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=writer)
    t.start()
    got, h = 0, hashlib.sha256()
    while True:
        d = c.recv(65536)
        if not d:
            break
        h.update(d)
        got += len(d)
        if got < size // 2:
            time.sleep(0.0005)  # slow for the first half: the daemon's sends come back short
    t.join()
    c.close()
    eq(got, size, 'bytes echoed')
    eq(h.hexdigest(), hashlib.sha256(data).hexdigest(), 'sha256 of the echo')


def slots_of(pid):
    """(pid, Rss KiB) of the batcher's slots: the anonymous rw-p mapping of SLOTS *
    SLOT bytes (guard pages keep it from merging with a neighbour), in the daemon
    or its worker."""
    pids = [pid] + [int(p) for p in open('/proc/%d/task/%d/children' % (pid, pid)).read().split()]
    found = []
    for p in pids:
        cur = None
        for line in open('/proc/%d/smaps' % p):
            f = line.split()
            if re.match(r'^[0-9a-f]+-[0-9a-f]+$', f[0]):
                lo, hi = (int(x, 16) for x in f[0].split('-'))
                cur = hi - lo == SLOTS * SLOT and f[1] == 'rw-p' and len(f) == 5
            elif cur and f[0] == 'Rss:':
                found.append((p, int(f[1])))
    eq(len(found), 1, 'slot mappings found')
    return found[0]


def slots_rss_kib(pid):
    return slots_of(pid)[1]


def t_trim():
    conns = [connect(batched_port, timeout=slack(30)) for _ in range(120)]
    msg = b'b' * SLOT  # a read fills its slot: every page of it
    peak, done = [0], threading.Event()

    def sample():  # the trim may come between two rounds of a slow burst
        while not done.is_set():
            peak[0] = max(peak[0], slots_rss_kib(batched.proc.pid))
            time.sleep(0.01)
    t = threading.Thread(target=sample)
    t.start()
    worker = slots_of(batched.proc.pid)[0]
    try:
        for _ in range(3):
            os.kill(worker, signal.SIGSTOP)
            try:
                for c in conns:
                    c.sendall(msg)
            finally:
                os.kill(worker, signal.SIGCONT)
            for c in conns:
                got = 0
                while got < len(msg):
                    d = c.recv(65536)
                    check(d, 'echo before EOF')
                    got += len(d)
    finally:
        done.set()
        t.join()
    print('  slots Rss at the peak of the burst: %d KiB' % peak[0])
    check(peak[0] > KEEP * SLOT // 1024, 'the burst used more than %d slots' % KEEP)
    wait_for(lambda: slots_rss_kib(batched.proc.pid) <= KEEP * SLOT // 1024, slack(3),
             'the slots past %d given back' % KEEP)
    for c in conns:
        c.close()


def t_disabled():
    try:
        old = open(SYSCTL).read().strip()
    except OSError:
        raise Skip('no %s on this kernel' % SYSCTL)
    try:
        with open(SYSCTL, 'w') as f:
            f.write('2')
    except OSError as e:
        raise Skip('cannot write %s: %s' % (SYSCTL, e))
    try:
        pt, port = daemon('refused')
        wait_for(lambda: re.search(r'io_uring: .*the copy plane makes a recv\(\) and a send\(\)',
                                   pt.log()), 5, 'the start-up line about io_uring')
    finally:
        with open(SYSCTL, 'w') as f:
            f.write(old)
    ping_pong(port, scaled(50, 10))
    eq([d.get('end') for d in pt.conns()], ['done'], 'the connection relayed with plain calls')


s.test('16 ping-pongs at once: io_uring_enter() calls, few recvfrom()/sendto()',
       t_syscalls_batched)
s.test('one ping-pong alone: a plain recvfrom() and sendto() per message', t_syscalls_lone)
s.test('"io_uring": false: a recvfrom() and a sendto() per message', t_syscalls_plain)
s.test('48 connections of random-sized messages, batched: every byte', t_concurrent)
s.test('a slow reader: short batched sends wait for the peer, every byte', t_slow_reader)
s.test('after a burst the slots past 16 give their pages back', t_trim)
s.test('io_uring refused by the kernel: a start-up line, plain calls', t_disabled)
s.finish()
