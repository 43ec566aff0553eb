# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Fairness inside one worker: a bulk transfer does not starve its neighbours.

One worker (-w 1) relays a sockperf 64-byte ping-pong and, from 1 s into
it, an iperf3 bulk stream (each routed by its own first bytes, as in the
benchmark), on the data plane of the e2e pass (PT_FAIR_PLANES to choose).
A relay that keeps moving the bulk connection's bytes as long as more
arrive holds the worker for tens to hundreds of milliseconds at a time
(p99 75-500 ms measured before PT_RELAY_BUDGET); with at most
PT_RELAY_BUDGET bytes per direction per turn the ping-pong's p99 stays in
single milliseconds on 2 busy CPUs. The bound checked is 30 ms (stretched
by PT_TIME_SCALE).
"""
import os
import re
import shutil
import subprocess
import threading
import time

from ptharness import (Suite, Passthru, Proc, Skip, check, eq, listener, free_port, slack,
                       wait_for, DATA_PLANE)

s = Suite('fair')
SECS = 3
BOUND_MS = 30


def pin(cpu, argv):
    """Clients on CPU 0, servers on CPU 1 (as the benchmark does): with both
    ends of the bulk stream busy on their own CPU, the relay always finds
    more bytes waiting, which is what exposes an unbounded turn."""
    if len(os.sched_getaffinity(0)) < 2:
        return argv
    return ['taskset', '-c', str(cpu)] + argv


def need_tools():
    for t in ('iperf3', 'sockperf'):
        if not shutil.which(t):
            raise Skip('%s is not installed (make deps)' % t)


def backends():
    ip, sp = free_port(), free_port()
    Proc(s, 'iperf3-server', pin(1, ['iperf3', '-s', '-p', str(ip)]))
    Proc(s, 'sockperf-server', pin(1, ['sockperf', 'sr', '--tcp', '-i', '127.0.0.1', '-p',
                                       str(sp)]))
    # both must listen before the clients start (0.3 s was not always enough under load)
    for port in (ip, sp):
        wait_for(lambda: listening(port), 10, 'a server listening on %d' % port)
    return ip, sp


def listening(port):
    """A socket listens on TCP port @port (read off /proc/net/tcp*: a probe
    connection would count as a client to sockperf)."""
    rows = []
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):   # iperf3 listens on [::]
        with open(path) as f:
            rows += [line.split() for line in f.readlines()[1:]]
    return any(r[3] == '0A' and int(r[1].split(':')[-1], 16) == port for r in rows)


def daemon(plane, ip, sp):
    port = free_port()
    cfg = {
        'patterns': [
            # iperf3's cookie: 36 characters of [a-z2-7], then NUL.
            {'name': 'iperf3', 'regex': '^[a-z2-7]{36}', 'min_bytes': 36},
            # sockperf's first message: sequence number 1, flags 0x0003.
            {'name': 'sockperf', 'prefix': '00000000000000010003'},
        ],
        'listeners': [listener('fair', port, [
            {'name': 'iperf3', 'match': {'pattern': 'iperf3'},
             'forward': ['127.0.0.1:%d' % ip]},
            {'name': 'sockperf', 'match': {'pattern': 'sockperf'},
             'forward': ['127.0.0.1:%d' % sp]},
        ], data_plane=plane)],
    }
    return Passthru(s, cfg, args=['-w', '1', '-v'], name='fair-' + plane), port


def t_fair(plane):
    need_tools()
    ip, sp = backends()
    pt, port = daemon(plane, ip, sp)
    bulk = []

    def start_bulk():
        bulk.append(subprocess.run(pin(0, ['iperf3', '-c', '127.0.0.1', '-p', str(port), '-t',
                                           str(SECS + 1)]), capture_output=True, text=True,
                                   timeout=SECS + 30))

    timer = threading.Timer(1.0, start_bulk)
    timer.start()
    r = subprocess.run(pin(0, ['sockperf', 'pp', '--tcp', '-i', '127.0.0.1', '-p', str(port),
                               '-m', '64', '-t', str(SECS), '--full-rtt']),
                       capture_output=True, text=True, timeout=SECS + 30)
    timer.join()
    out = r.stdout + r.stderr
    pct = {m.group(1): float(m.group(2))
           for m in re.finditer(r'percentile (\d+\.\d+) =\s+([\d.]+)', out)}
    eq(r.returncode, 0, 'sockperf exit status')
    check('99.000' in pct, 'sockperf printed percentiles: %s' % out[-300:])
    eq(bulk[0].returncode, 0, 'iperf3 exit status (%s)' % bulk[0].stderr.strip()[-200:])
    gbit = re.findall(r'([\d.]+) Gbits/sec\s+receiver', bulk[0].stdout)
    lines = wait_for(lambda: len(pt.conns()) >= 3 and pt.conns(), 5, 'three log lines')
    planes = sorted(set(d['plane'] for d in lines))
    avg = re.search(r'Summary: Round trip is ([\d.]+) usec', out)
    print('measure: [%s] sockperf 64 B beside iperf3 (%s Gbit/s) on one worker: p50 %.0f us, '
          'p99 %.0f us, p99.9 %.0f us, mean %s us; planes %s' % (
              plane, gbit[0] if gbit else '?', pct['50.000'], pct['99.000'],
              pct.get('99.900', 0), avg.group(1) if avg else '?', planes))
    check(pct['99.000'] < slack(BOUND_MS) * 1000,
          'ping-pong p99 %.1f ms beside the bulk stream (bound %d ms)' % (
              pct['99.000'] / 1000, slack(BOUND_MS)))


# Each e2e pass checks its own plane. On splice the worker itself moves every
# byte; on sockmap the kernel redirects part of the bulk stream and the
# worker copies what backpressure passes to it (most of it on loopback).
# On sockmap this test also once exposed a recv() that answered EAGAIN for
# bytes a MSG_PEEK had just shown (about one run in 25: the iperf3 stream
# was reset); user/sockmap.c now keeps such bytes owed and takes them on
# the next turn.
FAIR_PLANES = os.environ.get('PT_FAIR_PLANES', DATA_PLANE or 'splice,sockmap').split(',')
for p in FAIR_PLANES:
    s.test('[%s] a 64 B ping-pong keeps its turn beside an iperf3 stream on the same worker' % p,
           t_fair, p)
s.finish()
