#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""make bench: passthru against what users would run instead, on loopback.

Configurations, all routing the same traffic the same way (TLS by SNI, iperf3
and sockperf by a pattern on their real first bytes, anything else refused):

    direct            no proxy: the load generator talks to the backend
    haproxy           HAProxy 2.6, TCP mode, tcp-request inspect-delay
    haproxy-splice    the same with `option splice-auto`
    sslh-fork         sslh 1.20, one process per connection
    sslh-select       sslh 1.20, one select() loop
    passthru-auto     passthru as users get it: data_plane auto (copy, bulk
                      moves to splice), one worker per CPU
    passthru-copy     passthru, data_plane copy
    passthru-sockmap  passthru, data_plane sockmap
    passthru-splice   passthru, data_plane splice
    passthru-local    passthru, data_plane local (experimental: the same-host
                      bypass; every backend here is on this host)

Measurements (each repetition runs every test on every configuration, one
after the other; repetitions repeat that, so slow drift hits all alike):

    bulk     iperf3, 1 and 8 streams, client->server and server->client
    lat      sockperf ping-pong 64 B and 16 KiB; 64 B while an iperf3 stream
             runs through the same proxy
    rr       ptload: 100 and 1000 long-lived connections, 64 B request/response
    cps      ptload: connect, ClientHello, 64 B reply, close; 1 and 64 at once
    http     wrk through the proxy to nginx serving a 64-byte file: keep-alive at
             1000 connections, and Connection: close at 64 (requests/s, and
             requests that took over 1 s: wrk --timeout 1s counts them)
    cost     whole-machine busy CPU (/proc/stat) per GB and per 100k
             transactions, measured over the same intervals; context switches
             and syscalls per transaction (perf stat -a) at 100 connections
    mem      a fresh proxy holding 10,000 idle connections: PSS of all its
             processes, and the machine's used memory

Output: a markdown table (tools/bench/results.md, also printed) and JSON
(tools/bench/results.json). Every process started here runs in its own
session and is killed (its process group) on the way out, whatever happens.

    tools/bench/bench.py [--quick] [--reps N] [--only CFG,...] [--tests T,...]
                         [--pin split|none|...] [--out DIR]
"""
import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(ROOT, 'build')
PASSTHRU = os.path.join(BUILD, 'passthru')
PTLOAD = os.path.join(BUILD, 'bench', 'ptload')
PTLOAD_SRC = os.path.join(ROOT, 'tools', 'bench', 'ptload.c')
HELLO = os.path.join(ROOT, 'tests', 'data', 'tls', 'openssl-sni.bin')
SNI = 'openssl.example'
SSLH_FORK = '/usr/sbin/sslh'
SSLH_SELECT = '/usr/sbin/sslh-select'
NGINX = '/usr/sbin/nginx'
HTTP_HOST = 'bench.example'
HTTP_BODY = b'x' * 63 + b'\n'  # the 64-byte file wrk asks for

CONFIGS = ['direct', 'haproxy', 'haproxy-splice', 'sslh-fork', 'sslh-select',
           'passthru-auto', 'passthru-copy', 'passthru-sockmap', 'passthru-splice',
           'passthru-local']
REF = 'haproxy'          # the "÷ HAProxy" column divides by this one
# The bulk stream beside the 64 B ping-pong runs at this fixed rate, below
# what every proxy relays, so that each latency is measured beside the same
# load (unlimited, a proxy that relays less bulk would look faster).
LATLOAD_RATE = '4G'
MEM_CONNS = 10000
BUSY = 0.10              # machine busy fraction above which we call it not quiet

# What routes iperf3 and sockperf in every proxy: their real first bytes.
PATTERNS = [
    ('iperf3', 'the 37-byte cookie iperf3 sends first on every connection: '
     '36 characters of [a-z2-7], then NUL',
     'regex `^[a-z2-7]{36}`'),
    ('sockperf', 'the header of sockperf\'s first message: sequence number 1 '
     '(8 bytes, big-endian), flags 0x0003',
     'prefix `00000000000000010003`'),
]

# HAProxy's splice variants: the heuristic, or always in both directions.
SPLICE_OPTS = {
    'auto': '    option splice-auto',
    'always': '    option splice-request\n    option splice-response',
}

# Pinning plans: CPU list per role (None: not pinned).
PIN_PLANS = {
    'none': {'client': None, 'server': None, 'proxy': None},
    'split': {'client': '0', 'server': '1', 'proxy': None},
    'gen0': {'client': '0', 'server': '0', 'proxy': '1'},
}


def log(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------

class Procs:
    """Every process we start, each in its own session; killed at exit."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.live = []
        self.n = 0
        self.sessions = {os.getsid(0)}

    def start(self, name, argv, pin=None, stdin=None, stdout=None):
        self.n += 1
        logpath = os.path.join(self.tmp, '%02d-%s.log' % (self.n, name))
        if pin is not None:
            argv = ['taskset', '-c', pin] + argv
        errf = open(logpath, 'ab')
        p = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else errf, stderr=errf,
                             start_new_session=True, cwd=self.tmp)
        errf.close()
        self.sessions.add(p.pid)
        p.name = name
        p.logpath = logpath
        self.live.append(p)
        return p

    def stop(self, p, timeout=5):
        """SIGTERM the process group, SIGKILL what is left after timeout."""
        if p not in self.live:
            return
        self.live.remove(p)
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None and not group_alive(p.pid):
                break
            time.sleep(0.05)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, timeout=3)


def proc_stat(pid):
    """Fields of /proc/PID/stat from the state on (index 0 is field 3), or None."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rindex(')') + 2:].split()


def procs_where(index, value):
    """Live (not zombie) pids whose /proc/PID/stat field at index equals value."""
    out = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            f = proc_stat(pid)
            if f is not None and int(f[index]) == value and f[0] != 'Z':
                out.append(int(pid))
    return out


def group_alive(pgid):
    return bool(procs_where(2, pgid))


def session_pids(sid):
    """Live processes of session sid (a proxy and all it forked)."""
    return procs_where(3, sid)


def pss_kib(pids):
    """Sum of Pss and of Rss (KiB) over pids, from smaps_rollup."""
    pss = rss = 0
    for pid in pids:
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        pss += int(line.split()[1])
                    elif line.startswith('Rss:'):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def mem_used_kib():
    m = {}
    with open('/proc/meminfo') as f:
        for line in f:
            k, v = line.split(':', 1)
            m[k] = int(v.split()[0])
    return m['MemTotal'] - m['MemAvailable']


def cpu_ticks():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, sum(v)


HZ = os.sysconf('SC_CLK_TCK')
PF_KTHREAD = 0x00200000


class CpuMeter:
    """
    Busy CPU time of the whole machine over an interval, and the same less
    the time of user processes that are not ours.

    /proc/stat counts everything: softirq, kworkers and every process. On a
    machine someone else is using too, their processes land in it; we
    subtract the user and system time of every process that was running at
    the start, is not a kernel thread and is in none of our sessions (ours:
    this script's, and one per process we start). Kernel threads stay in:
    sockmap's redirects run in kworkers, splice's and TCP's in softirq.
    """

    def __init__(self, sessions):
        self.sessions = sessions

    def foreign(self):
        out = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            f = proc_stat(pid)
            if f is None or int(f[6]) & PF_KTHREAD or int(f[3]) in self.sessions:
                continue
            out.append(pid)
        return out

    def sample(self, pids):
        busy, _ = cpu_ticks()
        ticks = {}
        for pid in pids:
            f = proc_stat(pid)
            if f is not None:
                ticks[pid] = int(f[11]) + int(f[12])
        return busy, ticks

    def start(self):
        self.s0 = self.sample(self.foreign())

    def stop(self):
        """
        (machine busy seconds, the same less foreign processes) since
        start(). A foreign process that ended in between is left in: what it
        used is lost with it.
        """
        busy1, ticks1 = self.sample(self.s0[1])
        busy = (busy1 - self.s0[0]) / HZ
        other = sum(t - self.s0[1][pid] for pid, t in ticks1.items())
        return busy, busy - other / HZ


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def tail(path, n=15):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


# --- proxy configurations -------------------------------------------------------

def haproxy_cfg(port, be, splice, maxconn):
    return '''global
    maxconn {maxconn}
defaults
    mode tcp
    timeout connect 5s
    timeout client 600s
    timeout server 600s
{splice}
frontend bench
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 5s
    acl tls_hello req.ssl_hello_type 1
    acl iperf3 req.payload(0,36) -m reg ^[a-z2-7]{{36}}$
    acl sockperf req.payload(0,10) -m bin 00000000000000010003
    acl http req.payload(0,4) -m bin 47455420
    tcp-request content accept if tls_hello
    tcp-request content accept if iperf3
    tcp-request content accept if sockperf
    tcp-request content accept if http
    tcp-request content reject
    use_backend tls_bench if {{ req.ssl_sni -i {sni} }}
    use_backend iperf3 if iperf3
    use_backend sockperf if sockperf
    use_backend http if http
backend tls_bench
    server s 127.0.0.1:{load}
backend iperf3
    server s 127.0.0.1:{iperf}
backend sockperf
    server s 127.0.0.1:{sockperf}
backend http
    server s 127.0.0.1:{http}
'''.format(maxconn=maxconn, port=port, sni=SNI, splice=SPLICE_OPTS.get(splice, ''), **be)


def sslh_cfg(port, be):
    # The last protocol also takes whatever matched nothing: send that to a
    # closed port so that a pattern that fails shows up as errors.
    return '''foreground: true;
inetd: false;
numeric: true;
transparent: false;
timeout: 5;
listen: ( {{ host: "127.0.0.1"; port: "{port}"; }} );
protocols: (
  {{ name: "tls"; host: "127.0.0.1"; port: "{load}"; sni_hostnames: [ "{sni}" ]; log_level: 0; }},
  {{ name: "regex"; host: "127.0.0.1"; port: "{iperf}"; regex_patterns: [ "^[a-z2-7]{{36}}" ]; log_level: 0; }},
  {{ name: "regex"; host: "127.0.0.1"; port: "{sockperf}";
     regex_patterns: [ "^\\\\x00\\\\x00\\\\x00\\\\x00\\\\x00\\\\x00\\\\x00\\\\x01\\\\x00\\\\x03" ]; log_level: 0; }},
  {{ name: "http"; host: "127.0.0.1"; port: "{http}"; log_level: 0; }},
  {{ name: "regex"; host: "127.0.0.1"; port: "{nowhere}"; regex_patterns: [ "^$" ]; log_level: 0; }}
);
'''.format(port=port, sni=SNI, **be)


def passthru_cfg(port, be, plane, max_conns):
    cfg = {
        'patterns': [
            {'name': 'iperf3', 'regex': '^[a-z2-7]{36}', 'min_bytes': 36},
            {'name': 'sockperf', 'prefix': '00000000000000010003'},
        ],
        'listeners': [{
            'name': 'bench',
            'listen': '127.0.0.1:%d' % port,
            'data_plane': plane,
            'max_connections': max_conns,
            'max_connections_per_source': 0,  # every load comes from 127.0.0.1
            'routes': [
                {'name': 'tls', 'match': {'protocol': 'tls', 'sni': SNI},
                 'forward': '127.0.0.1:%d' % be['load']},
                {'name': 'iperf3', 'match': {'pattern': 'iperf3'},
                 'forward': '127.0.0.1:%d' % be['iperf']},
                {'name': 'sockperf', 'match': {'pattern': 'sockperf'},
                 'forward': '127.0.0.1:%d' % be['sockperf']},
                {'name': 'http', 'match': {'protocol': 'http', 'host': HTTP_HOST},
                 'forward': '127.0.0.1:%d' % be['http']},
                {'name': 'other', 'reject': True},
            ],
        }],
    }
    if plane == 'local':
        cfg['experimental'] = True
    return cfg


class Proxy:
    """One running proxy configuration (a process group) on its own port."""

    def __init__(self, bench, cfg, mem=False, verbose=False):
        self.b = bench
        self.cfg = cfg
        self.mem = mem
        self.verbose = verbose
        self.proc = None
        self.port = None

    def start(self):
        b, cfg = self.b, self.cfg
        self.port = free_port()
        tag = '%s%s%s' % (cfg, '-mem' if self.mem else '', '-v' if self.verbose else '')
        path = os.path.join(b.tmp, tag)
        pin = b.pin['proxy']
        if cfg.startswith('haproxy'):
            # One process can hold at most (20000 fds - a few) / 2 relayed
            # connections: the memory test runs two that share the port
            # (SO_REUSEPORT, HAProxy's default), like passthru -w 2.
            maxconn = 6000 if self.mem else 7000
            with open(path + '.cfg', 'w') as f:
                f.write(haproxy_cfg(self.port, b.be, b.args.haproxy_splice if cfg.endswith(
                    'splice') else None, maxconn))
            n = 2 if self.mem else 1
            argv = ['haproxy', '-db', '-f', path + '.cfg']
            if n == 1:
                self.proc = b.procs.start(tag, argv, pin=pin)
            else:
                # Both in one session so that memory and cleanup see both.
                self.proc = b.procs.start(tag, ['sh', '-c', '%s & %s & wait' % (
                    ' '.join(argv), ' '.join(argv))], pin=pin)
        elif cfg.startswith('sslh'):
            with open(path + '.cfg', 'w') as f:
                f.write(sslh_cfg(self.port, b.be))
            binary = SSLH_FORK if cfg == 'sslh-fork' else SSLH_SELECT
            self.proc = b.procs.start(tag, [binary, '-F' + path + '.cfg'], pin=pin)
        elif cfg.startswith('passthru'):
            plane = cfg.split('-', 1)[1]
            with open(path + '.json', 'w') as f:
                json.dump(passthru_cfg(self.port, b.be, plane, 12000 if self.mem else 7000), f,
                          indent=1)
            argv = [PASSTHRU, '-c', path + '.json', '--instance',
                    'bench%d-%s' % (os.getpid(), tag)]
            if self.mem:
                argv += ['-w', str(max(2, b.args.workers))]
            elif b.args.workers > 1:
                argv += ['-w', str(b.args.workers)]
            if self.verbose:
                argv += ['-v']
            self.proc = b.procs.start(tag, argv, pin=pin)
        else:
            raise ValueError(cfg)
        if not wait_port(self.port, self.proc):
            raise RuntimeError('%s did not start listening:\n%s' % (tag, tail(self.proc.logpath)))
        # HAProxy x2: wait until both have bound (two listening sockets).
        if cfg.startswith('haproxy') and self.mem:
            deadline = time.time() + 5
            while time.time() < deadline and len(session_pids(self.proc.pid)) < 3:
                time.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            self.b.procs.stop(self.proc)
            self.proc = None


# --- the benchmark ---------------------------------------------------------------

ROWS = [
    # key, label, unit, better, digits
    ('bulk_up1', 'bulk, 1 stream, client→server', 'Gbit/s', 'high', 2),
    ('bulk_down1', 'bulk, 1 stream, server→client', 'Gbit/s', 'high', 2),
    ('bulk_up8', 'bulk, 8 streams, client→server', 'Gbit/s', 'high', 2),
    ('bulk_down8', 'bulk, 8 streams, server→client', 'Gbit/s', 'high', 2),
    ('lat64_p50', 'ping-pong 64 B, p50', 'µs RTT', 'low', 1),
    ('lat64_p99', 'ping-pong 64 B, p99', 'µs RTT', 'low', 1),
    ('lat64_p999', 'ping-pong 64 B, p99.9', 'µs RTT', 'low', 1),
    ('lat16k_p50', 'ping-pong 16 KiB, p50', 'µs RTT', 'low', 1),
    ('lat16k_p99', 'ping-pong 16 KiB, p99', 'µs RTT', 'low', 1),
    ('lat16k_p999', 'ping-pong 16 KiB, p99.9', 'µs RTT', 'low', 1),
    ('latload_p50', 'ping-pong 64 B beside a 4 Gbit/s stream, p50', 'µs RTT', 'low', 1),
    ('latload_p99', 'ping-pong 64 B beside a 4 Gbit/s stream, p99', 'µs RTT', 'low', 1),
    ('rr100', '100 connections × 64 B request/response', 'transactions/s', 'high', 0),
    ('rr1000', '1000 connections × 64 B request/response', 'transactions/s', 'high', 0),
    ('cps1', 'new connections, concurrency 1', 'connections/s', 'high', 0),
    ('cps64', 'new connections, concurrency 64', 'connections/s', 'high', 0),
    ('http_ka', 'HTTP keep-alive, 1000 connections (wrk → nginx)', 'requests/s', 'high', 0),
    ('http_ka_slow', 'HTTP keep-alive, 1000 connections: requests over 1 s', 'requests', 'low',
     0),
    ('http_ka_p99', 'HTTP keep-alive, 1000 connections: p99', 'ms', 'low', 1),
    ('http_close', 'HTTP Connection: close, 64 at once (wrk → nginx)', 'requests/s', 'high', 0),
    ('cpu_up1', 'CPU per GB, 1 stream client→server', 'CPU s/GB', 'low', 2),
    ('cpu_down1', 'CPU per GB, 1 stream server→client', 'CPU s/GB', 'low', 2),
    ('cpu_up8', 'CPU per GB, 8 streams client→server', 'CPU s/GB', 'low', 2),
    ('cpu_down8', 'CPU per GB, 8 streams server→client', 'CPU s/GB', 'low', 2),
    ('cpu_rr100', 'CPU per 100k transactions, 100 connections', 'CPU s', 'low', 2),
    ('cpu_rr1000', 'CPU per 100k transactions, 1000 connections', 'CPU s', 'low', 2),
    ('cpu_cps64', 'CPU per 10k new connections, concurrency 64', 'CPU s', 'low', 2),
    ('cpu_http_ka', 'CPU per 100k HTTP requests, keep-alive', 'CPU s', 'low', 2),
    ('cs_rr100', 'context switches per transaction, 100 connections', 'switches', 'low', 2),
    ('sys_rr100', 'syscalls per transaction, 100 connections', 'syscalls', 'low', 2),
    ('mem_pss', 'proxy memory, 10k idle connections (PSS)', 'MiB', 'low', 1),
    ('mem_per_conn', 'proxy memory per idle connection (PSS)', 'KiB', 'low', 2),
]

TESTS = ['bulk', 'lat', 'latload', 'rr', 'cps', 'http', 'mem']


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.reps = args.reps or (1 if self.quick else 5)
        self.d_bulk = 1 if self.quick else 2
        self.d_lat = 1 if self.quick else 2
        self.d_rr = 1 if self.quick else 2
        self.configs = args.only.split(',') if args.only else list(CONFIGS)
        self.tests = args.tests.split(',') if args.tests else list(TESTS)
        self.pin_name = args.pin
        self.pin = PIN_PLANS[args.pin]
        # Configs and logs of this run; kept when something failed.
        self.tmp = os.path.join(BUILD, 'bench', time.strftime('run-%Y%m%d-%H%M%S'))
        os.makedirs(self.tmp, exist_ok=True)
        self.procs = Procs(self.tmp)
        self.cpu = CpuMeter(self.procs.sessions)
        self.cpu_used = (0, 0)
        self.proxies = {}
        self.raw = {}       # row key -> cfg -> [values]
        self.errors = []    # (rep, test, cfg, message)
        self.bg = []        # background busy fraction before each cell
        self.notes = []
        self.diag = {}
        self.waited = 0
        self.flags = {}     # (test, cfg) -> [messages]: figure kept, but errors seen
        self.mem_runs = 0
        self.restarts = {}  # cfg -> (times it exited and was restarted, its last log lines)
        # At most this long per measurement, and in all, waiting for others' work to end.
        self.max_wait = 2 if self.quick else 10
        self.wait_budget = 0 if self.quick else 60
        self.settle = 0.5 if self.quick else 1.0

    # -- helpers --
    def record(self, key, cfg, value):
        self.raw.setdefault(key, {}).setdefault(cfg, []).append(value)

    def error(self, rep, test, cfg, msg):
        msg = msg.strip().replace('\n', ' | ')[:400]
        log('ERROR rep %d %s %s: %s' % (rep, test, cfg, msg))
        self.errors.append({'rep': rep, 'test': test, 'config': cfg, 'error': msg})

    def quiet(self):
        """
        Let the previous cell settle and note how busy the machine is without
        us; while something else keeps it busy, wait a little (a bounded
        time: the figures then say so).
        """
        time.sleep(0.2)
        start = time.time()
        deadline = start + min(self.max_wait, self.wait_budget)
        while True:
            b0, t0 = cpu_ticks()
            time.sleep(0.25)
            b1, t1 = cpu_ticks()
            frac = (b1 - b0) / max(1, t1 - t0)
            if frac <= BUSY or time.time() >= deadline:
                break
        self.wait_budget -= max(0, time.time() - start - 0.25)
        self.waited += 1 if frac > BUSY else 0
        self.bg.append(frac)
        return frac

    def port(self, cfg, backend):
        if cfg == 'direct':
            return self.be[backend]
        p = self.proxies[cfg]
        if not p.alive():
            log('%s died: restarting it\n%s' % (cfg, tail(p.proc.logpath)))
            n, _ = self.restarts.get(cfg, (0, ''))
            self.restarts[cfg] = (n + 1, tail(p.proc.logpath, 2).strip().replace('\n', ' | '))
            p.stop()
            p.start()
        return p.port

    def run(self, argv, pin_role, timeout, meter=False):
        """
        Run a client to its end; with meter, CPU is measured from start to
        end, or between its "window start" and "window end" lines if it prints them.
        """
        if self.pin[pin_role] is not None:
            argv = ['taskset', '-c', self.pin[pin_role]] + argv
        if meter:
            self.cpu.start()
        err = tempfile.TemporaryFile(mode='w+')
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             text=True, start_new_session=True)
        self.procs.sessions.add(p.pid)
        timer = threading.Timer(timeout, os.killpg, (p.pid, signal.SIGKILL))
        timer.start()
        out = []
        try:
            for line in p.stdout:
                if meter and line.startswith('window start'):
                    self.cpu.start()
                elif meter and line.startswith('window end'):
                    self.cpu_used = self.cpu.stop()
                    meter = False
                else:
                    out.append(line)
            p.wait()
        finally:
            timer.cancel()
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p.returncode == -signal.SIGKILL:
            raise subprocess.TimeoutExpired(argv, timeout)
        if meter:
            self.cpu_used = self.cpu.stop()
        err.seek(0)
        return subprocess.CompletedProcess(argv, p.returncode, ''.join(out), err.read())

    # -- setup --
    def build(self):
        os.makedirs(os.path.dirname(PTLOAD), exist_ok=True)
        if (not os.path.exists(PTLOAD)
                or os.path.getmtime(PTLOAD) < os.path.getmtime(PTLOAD_SRC)):
            log('building %s' % os.path.relpath(PTLOAD, ROOT))
            subprocess.run(['cc', '-O2', '-g', '-std=gnu11', '-Wall', '-Wextra', '-Werror',
                            '-Wno-unused-parameter', '-D_GNU_SOURCE', '-o', PTLOAD, PTLOAD_SRC],
                           check=True)
        for tool in ('haproxy', 'iperf3', 'sockperf', 'taskset', 'wrk', 'perf', NGINX):
            if not shutil.which(tool):
                raise RuntimeError('%s is missing: run make deps' % tool)
        for path in (PASSTHRU, SSLH_FORK, SSLH_SELECT, HELLO):
            if not os.path.exists(path):
                raise RuntimeError('%s is missing' % path)

    def start_backends(self):
        # sslh's fallback target: a port we hold bound but never listen on.
        self.nowhere = socket.socket()
        self.nowhere.bind(('127.0.0.1', 0))
        self.be = {'iperf': free_port(), 'sockperf': free_port(), 'load': free_port(),
                   'http': free_port(), 'nowhere': self.nowhere.getsockname()[1]}
        spin = self.pin['server']
        self.iperf_srv = self.procs.start('iperf3-server', ['iperf3', '-s', '-p', str(self.be['iperf'])],
                                          pin=spin)
        self.procs.start('sockperf-server', ['sockperf', 'sr', '--tcp', '-i', '127.0.0.1', '-p',
                                             str(self.be['sockperf'])], pin=spin)
        self.procs.start('ptload-server', [PTLOAD, 'server', '-l', '127.0.0.1:%d' % self.be['load']],
                         pin=spin)
        self.start_nginx(spin)
        for name in ('iperf', 'load', 'http'):
            if not wait_port(self.be[name]):
                raise RuntimeError('backend %s did not start' % name)
        time.sleep(0.5)  # sockperf: a probe connection would count as a client

    def start_nginx(self, pin):
        """nginx, one worker, serving HTTP_BODY at /64 on be['http'], no logs."""
        root = os.path.join(self.tmp, 'www')
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, '64'), 'wb') as f:
            f.write(HTTP_BODY)
        conf = os.path.join(self.tmp, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write('''daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8000; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
'''.format(tmp=self.tmp, port=self.be['http'], root=root))
        self.procs.start('nginx', [NGINX, '-c', conf, '-e', os.path.join(self.tmp, 'nginx-error.log')],
                         pin=pin)

    def restart_iperf_server(self):
        self.procs.stop(self.iperf_srv)
        self.iperf_srv = self.procs.start('iperf3-server', ['iperf3', '-s', '-p',
                                                            str(self.be['iperf'])],
                                          pin=self.pin['server'])
        wait_port(self.be['iperf'])

    def start_proxies(self):
        for cfg in self.configs:
            if cfg != 'direct':
                self.proxies[cfg] = Proxy(self, cfg).start()

    def smoke(self):
        """Each configuration routes each kind of traffic: fail early if not."""
        for cfg in self.configs:
            r = self.run([PTLOAD, 'rr', '-c', '127.0.0.1:%d' % self.port(cfg, 'load'), '-P', HELLO,
                          '-n', '2', '-t', '0.2', '-W', '0'], 'client', 20)
            if r.returncode != 0:
                raise RuntimeError('%s does not route the ClientHello: %s %s' % (
                    cfg, r.stdout.strip(), r.stderr.strip()))

    # -- measurements --
    def iperf(self, cfg, streams, reverse, secs):
        argv = ['iperf3', '-c', '127.0.0.1', '-p', str(self.port(cfg, 'iperf')), '-t', str(secs),
                '-P', str(streams), '-J']
        if reverse:
            argv.append('-R')
        for attempt in range(3):
            try:
                r = self.run(argv, 'client', secs + 30, meter=True)
            except subprocess.TimeoutExpired:
                self.restart_iperf_server()
                raise RuntimeError('iperf3 timed out')
            try:
                j = json.loads(r.stdout)
            except ValueError:
                j = {'error': 'no JSON: %s %s' % (r.stdout[-300:], r.stderr[-300:])}
            if 'error' not in j:
                break
            if 'busy' in j['error']:
                time.sleep(2)
                if attempt == 1:
                    self.restart_iperf_server()
                continue
            if attempt == 0:
                # Say so, and try once more: one failure is not the figure.
                self.notes.append('iperf3 -P %d%s through %s failed once (%s) and was run '
                                  'again' % (streams, ' -R' if reverse else '', cfg, j['error']))
                time.sleep(1)
                continue
            raise RuntimeError('iperf3: %s' % j['error'])
        else:
            raise RuntimeError('iperf3: %s' % j['error'])
        s = j['end']['sum_received']
        return s['bits_per_second'] / 1e9, s['bytes'], self.cpu_used

    def sockperf(self, cfg, size, secs):
        # sockperf leaves the first 0.4 s of -t out of its statistics. No
        # warm-up stage (1.7 s of dummy messages): the first bytes are the same.
        r = self.run(['sockperf', 'pp', '--tcp', '-i', '127.0.0.1', '-p',
                      str(self.port(cfg, 'sockperf')), '-m', str(size), '-t',
                      str(secs + 1), '--full-rtt', '--dontwarmup'], 'client', secs + 30)
        out = r.stdout + r.stderr
        pct = {m.group(1): float(m.group(2))
               for m in re.finditer(r'percentile (\d+\.\d+) =\s+([\d.]+)', out)}
        if r.returncode != 0 or '50.000' not in pct:
            raise RuntimeError('sockperf failed: %s' % out[-400:])
        return pct['50.000'], pct['99.000'], pct['99.900']

    def ptload(self, cfg, mode, n, secs):
        r = self.run([PTLOAD, mode, '-c', '127.0.0.1:%d' % self.port(cfg, 'load'), '-P', HELLO,
                      '-n', str(n), '-t', str(secs), '-W', '0.5'], 'client', secs + 90, meter=True)
        try:
            j = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError('ptload %s: %s %s' % (mode, r.stdout[-300:], r.stderr[-300:]))
        if not j['count']:
            raise RuntimeError('ptload %s -n %d: %d errors, first: %s (nothing done)' % (
                mode, n, j['errors'], j['first_error']))
        j['cpu_machine_s'], j['cpu_ours_s'] = self.cpu_used
        return j

    def flag_errors(self, rep, key, cfg, j, what):
        """Connections failed but others worked: keep the figure, say so."""
        if j['errors']:
            msg = '%d %s failed (first: %s); %d succeeded in the measured window' % (
                j['errors'], what, j['first_error'], j['count'])
            self.error(rep, key, cfg, msg)
            self.flags.setdefault((key, cfg), []).append(msg)

    def t_bulk(self, rep, cfg):
        for streams in (1, 8):
            for rev in (False, True):
                key = '%s%d' % ('down' if rev else 'up', streams)
                try:
                    gbps, nbytes, (machine, cpu) = self.iperf(cfg, streams, rev, self.d_bulk)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    self.error(rep, 'bulk_' + key, cfg, str(e))
                    continue
                self.record('bulk_' + key, cfg, gbps)
                self.record('cpu_' + key, cfg, cpu / (nbytes / 1e9))
                self.record('cpu_machine_' + key, cfg, machine / (nbytes / 1e9))

    def t_lat(self, rep, cfg):
        for size, key in ((64, 'lat64'), (16384, 'lat16k')):
            try:
                p50, p99, p999 = self.sockperf(cfg, size, self.d_lat)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.error(rep, key, cfg, str(e))
                continue
            self.record(key + '_p50', cfg, p50)
            self.record(key + '_p99', cfg, p99)
            self.record(key + '_p999', cfg, p999)

    def t_latload(self, rep, cfg):
        secs = self.d_lat
        argv = ['iperf3', '-c', '127.0.0.1', '-p', str(self.port(cfg, 'iperf')), '-t',
                str(secs + 3), '-b', LATLOAD_RATE, '-J']
        if self.pin['client'] is not None:
            argv = ['taskset', '-c', self.pin['client']] + argv
        bulk = []

        def start_bulk():
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
            self.procs.sessions.add(p.pid)
            bulk.append(p)

        # sockperf idles 2 s after connecting and leaves its first 0.4 s out:
        # the bulk stream starts 1.5 s in and outlasts the ping-pong.
        timer = threading.Timer(1.5, start_bulk)
        timer.start()
        try:
            p50, p99, _ = self.sockperf(cfg, 64, secs)
            timer.join()
            out, err = bulk[0].communicate(timeout=secs + 30)
            j = json.loads(out)
            if 'error' in j:
                raise RuntimeError('iperf3 under the ping-pong: %s' % j['error'])
            self.record('latload_p50', cfg, p50)
            self.record('latload_p99', cfg, p99)
            self.record('latload_bulk', cfg, j['end']['sum_received']['bits_per_second'] / 1e9)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            self.error(rep, 'latload', cfg, str(e))
        finally:
            timer.cancel()
            timer.join()
            for p in bulk:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()

    def perf_stat(self, delay, secs):
        """perf stat -a of context switches and syscalls over @secs, starting in
        @delay seconds (after ptload's warm-up); returns a function that waits
        for it and gives {'cs': n, 'sys': n} (empty if perf failed)."""
        box = {}

        def start():
            box['p'] = subprocess.Popen(
                ['perf', 'stat', '-a', '-x,', '-e', 'context-switches,raw_syscalls:sys_enter',
                 '--', 'sleep', str(secs)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, start_new_session=True)
            self.procs.sessions.add(box['p'].pid)

        timer = threading.Timer(delay, start)
        timer.start()

        def result():
            timer.join()
            p = box.get('p')
            if p is None:
                return {}
            try:
                _, err = p.communicate(timeout=secs + 10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return {}
            got = {}
            for line in err.splitlines():
                f = line.split(',')
                if len(f) > 2 and f[0].strip().isdigit():
                    got['cs' if f[2] == 'context-switches' else 'sys'] = int(f[0])
            return got
        return result

    def t_rr(self, rep, cfg):
        for n in (100, 1000):
            counts = self.perf_stat(0.5, self.d_rr) if n == 100 else None
            try:
                j = self.ptload(cfg, 'rr', n, self.d_rr)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.error(rep, 'rr%d' % n, cfg, str(e))
                if counts:
                    counts()
                continue
            self.flag_errors(rep, 'rr%d' % n, cfg, j, 'connections')
            self.record('rr%d' % n, cfg, j['rate'])
            self.record('cpu_rr%d' % n, cfg, j['cpu_ours_s'] / (j['count'] / 1e5))
            self.record('cpu_machine_rr%d' % n, cfg, j['cpu_machine_s'] / (j['count'] / 1e5))
            got = counts() if counts else {}
            tx = j['rate'] * self.d_rr
            for k in ('cs', 'sys'):
                if k in got and tx:
                    self.record('%s_rr%d' % (k, n), cfg, got[k] / tx)

    def wrk(self, cfg, conns, close, secs):
        """wrk against nginx's 64-byte file through @cfg: rate, slow requests, p99."""
        argv = ['wrk', '-t2', '-c%d' % conns, '-d%ds' % secs, '--timeout', '1s', '--latency',
                '-H', 'Host: ' + HTTP_HOST]
        if close:
            argv += ['-H', 'Connection: close']
        argv.append('http://127.0.0.1:%d/64' % self.port(cfg, 'http'))
        r = self.run(argv, 'client', secs + 60, meter=True)
        out = r.stdout
        m = re.search(r'Requests/sec:\s+([\d.]+)', out)
        n = re.search(r'(\d+) requests in', out)
        if r.returncode != 0 or not m or not n:
            raise RuntimeError('wrk failed: %s %s' % (out[-300:], r.stderr[-300:]))
        err = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)',
                        out)
        bad = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
        p99 = re.search(r'^\s+99%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        scale = {'us': 1e-3, 'ms': 1, 's': 1e3}
        return {'rate': float(m.group(1)), 'requests': int(n.group(1)),
                'timeouts': int(err.group(4)) if err else 0,
                'errors': sum(int(x) for x in err.groups()[:3]) if err else 0,
                'non2xx': int(bad.group(1)) if bad else 0,
                'p99_ms': float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
                'cpu': self.cpu_used}

    def t_http(self, rep, cfg):
        for key, conns, close in (('http_ka', 1000, False), ('http_close', 64, True)):
            try:
                w = self.wrk(cfg, conns, close, self.d_rr)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.error(rep, key, cfg, str(e))
                continue
            if not w['requests']:
                self.error(rep, key, cfg, 'no request answered (%d socket errors)' % w['errors'])
                continue
            if w['errors'] or w['non2xx']:
                msg = '%d socket errors, %d non-2xx responses of %d requests' % (
                    w['errors'], w['non2xx'], w['requests'])
                self.error(rep, key, cfg, msg)
                self.flags.setdefault((key, cfg), []).append(msg)
            self.record(key, cfg, w['rate'])
            self.record(key + '_slow', cfg, w['timeouts'])
            if w['p99_ms'] is not None:
                self.record(key + '_p99', cfg, w['p99_ms'])
            self.record('cpu_' + key, cfg, w['cpu'][1] / (w['requests'] / 1e5))

    def t_cps(self, rep, cfg):
        for n in (1, 64):
            try:
                j = self.ptload(cfg, 'cps', n, self.d_rr)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.error(rep, 'cps%d' % n, cfg, str(e))
                continue
            self.flag_errors(rep, 'cps%d' % n, cfg, j, 'connections')
            self.record('cps%d' % n, cfg, j['rate'])
            if n == 64:
                self.record('cpu_cps64', cfg, j['cpu_ours_s'] / (j['count'] / 1e4))
                self.record('cpu_machine_cps64', cfg, j['cpu_machine_s'] / (j['count'] / 1e4))

    def t_mem(self, rep, cfg):
        """A fresh proxy, 10k connections set up and left idle, then memory."""
        proxy = None
        hold = None
        try:
            if cfg == 'direct':
                port = self.be['load']
            else:
                proxy = Proxy(self, cfg, mem=True).start()
                port = proxy.port
                time.sleep(0.3)
            pss0 = pss_kib(session_pids(proxy.proc.pid))[0] if proxy else 0
            used0 = mem_used_kib()
            hold = self.procs.start('hold-%s' % cfg, [PTLOAD, 'hold', '-c', '127.0.0.1:%d' % port,
                                                      '-P', HELLO, '-n', str(MEM_CONNS)],
                                    pin=self.pin['client'], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
            line = hold.stdout.readline().decode(errors='replace').strip()
            m = re.match(r'ready (\d+) errors (\d+) setup_s ([\d.]+)', line)
            if not m or int(m.group(2)) or int(m.group(1)) < MEM_CONNS:
                raise RuntimeError('could not hold %d connections: %s %s%s' % (
                    MEM_CONNS, line or 'no output', tail(hold.logpath, 3),
                    '; proxy log: ' + tail(proxy.proc.logpath, 2) if proxy else ''))
            time.sleep(self.settle)  # let lazy frees and deferred work settle
            used1 = mem_used_kib()
            if proxy:
                pids = session_pids(proxy.proc.pid)
                pss, rss = pss_kib(pids)
                self.record('mem_pss', cfg, pss / 1024)
                self.record('mem_rss', cfg, rss / 1024)
                self.record('mem_procs', cfg, len(pids))
                self.record('mem_per_conn', cfg, (pss - pss0) / MEM_CONNS)
            self.record('mem_machine', cfg, (used1 - used0) / 1024)
            self.record('mem_setup_s', cfg, float(m.group(3)))
        except (RuntimeError, OSError) as e:
            self.error(rep, 'mem', cfg, str(e))
        finally:
            if hold is not None:
                try:
                    hold.stdin.close()
                except OSError:
                    pass
                try:
                    hold.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
                self.procs.stop(hold)
            if proxy is not None:
                proxy.stop()
            # The backend closes its 10k sockets: let that finish.
            time.sleep(self.settle)

    def sockmap_share(self):
        """How much of a bulk transfer the kernel relayed (passthru -v counters)."""
        if 'passthru-sockmap' not in self.configs or 'bulk' not in self.tests:
            return
        p = Proxy(self, 'passthru-sockmap', verbose=True)
        p.mem = False
        p.start()
        saved = self.proxies.get('passthru-sockmap')
        self.proxies['passthru-sockmap'] = p
        try:
            for streams in (1, 8):
                for rev in (False, True):
                    mark = os.path.getsize(p.proc.logpath)
                    try:
                        self.iperf('passthru-sockmap', streams, rev, self.d_bulk)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        self.notes.append('kernel share run failed: %s' % e)
                        continue
                    time.sleep(0.5)
                    with open(p.proc.logpath, errors='replace') as f:
                        f.seek(mark)
                        text = f.read()
                    red = oth = 0
                    for m in re.finditer(r'sockmap (up|down): redirected=(\d+) packets=\d+ '
                                         r'passed=(\d+) consumed=(\d+)', text):
                        red += int(m.group(2))
                        oth += int(m.group(4))
                    key = '%s%d' % ('down' if rev else 'up', streams)
                    self.diag[key] = {'redirected': red, 'daemon': oth,
                                      'share': red / (red + oth) if red + oth else None}
        finally:
            p.stop()
            self.proxies['passthru-sockmap'] = saved

    def main(self):
        t0 = time.time()
        self.build()
        self.start_backends()
        self.start_proxies()
        self.smoke()
        log('configs: %s; tests: %s; %d repetitions; pinning %s' % (
            ' '.join(self.configs), ' '.join(self.tests), self.reps, self.pin_name))
        funcs = {'bulk': self.t_bulk, 'lat': self.t_lat, 'latload': self.t_latload,
                 'rr': self.t_rr, 'cps': self.t_cps, 'http': self.t_http, 'mem': self.t_mem}
        for rep in range(self.reps):
            for test in self.tests:
                # The memory test is slow and steady: every other repetition.
                if test == 'mem' and rep % 2:
                    continue
                if test == 'mem':
                    self.mem_runs += 1
                for cfg in self.configs:
                    self.quiet()
                    t = time.time()
                    funcs[test](rep, cfg)
                    log('rep %d/%d %-8s %-17s %5.1fs' % (rep + 1, self.reps, test, cfg,
                                                           time.time() - t))
        self.sockmap_share()
        self.elapsed = time.time() - t0


# --- report ----------------------------------------------------------------------

def fmt(v, digits):
    if v is None:
        return '—'
    if digits == 0:
        return '{:,.0f}'.format(v).replace(',', ' ')
    return '%.*f' % (digits, v)


def error_test(key):
    """The test name errors are filed under for a row key."""
    k = key.replace('cpu_', '')
    if k.startswith(('up', 'down')):
        return 'bulk_' + k
    if k.startswith('bulk_') or k.startswith('rr') or k.startswith('cps'):
        return k
    return k.split('_')[0]


def summarize(vals):
    if not vals:
        return None
    return {'median': statistics.median(vals), 'min': min(vals), 'max': max(vals), 'n': len(vals),
            'values': vals}


def machine_info():
    cpu = '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass

    def ver(argv, pat):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return '?'
        m = re.search(pat, out)
        return m.group(1) if m else '?'

    rev = ver(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], r'(\S+)')
    dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--untracked-files=no',
                            '--', 'user', 'bpf', 'include'], stdout=subprocess.PIPE,
                           text=True).stdout.strip()
    return {
        'kernel': platform.release(),
        'cpus': os.cpu_count(),
        'cpu_model': cpu,
        'passthru': rev + (' (with uncommitted daemon changes)' if dirty else ''),
        'haproxy': ver(['haproxy', '-v'], r'version (\S+)'),
        'sslh': ver([SSLH_SELECT, '-V'], r'sslh\S* (\S+)'),
        'iperf3': ver(['iperf3', '--version'], r'iperf (\S+)'),
        'sockperf': ver(['sockperf', '--version'], r'version (\S+)'),
    }


def report(b):
    info = machine_info()
    summary = {}
    for key, *_ in ROWS:
        for cfg in b.configs:
            s = summarize(b.raw.get(key, {}).get(cfg, []))
            if s:
                summary.setdefault(key, {})[cfg] = s
    extra = {}
    for key in ('mem_rss', 'mem_procs', 'mem_setup_s', 'mem_machine', 'latload_bulk',
                'cpu_machine_up1', 'cpu_machine_down1', 'cpu_machine_up8', 'cpu_machine_down8',
                'cpu_machine_rr100', 'cpu_machine_rr1000', 'cpu_machine_cps64'):
        for cfg in b.configs:
            s = summarize(b.raw.get(key, {}).get(cfg, []))
            if s:
                extra.setdefault(key, {})[cfg] = s

    def med(key, cfg):
        s = summary.get(key, {}).get(cfg)
        return s['median'] if s else None

    def ratio(key, cfg, ref):
        a, r = med(key, cfg), med(key, ref)
        if a is None or r is None or r == 0 or cfg == ref:
            return None
        return a / r

    names = {'direct': 'direct', 'haproxy': 'HAProxy', 'haproxy-splice': 'HAProxy splice',
             'sslh-fork': 'sslh-fork', 'sslh-select': 'sslh-select',
             'passthru-auto': 'passthru auto', 'passthru-copy': 'passthru copy',
             'passthru-sockmap': 'passthru sockmap', 'passthru-splice': 'passthru splice',
             'passthru-local': 'passthru local'}
    cols = b.configs
    L = []
    L.append('# passthru benchmark')
    L.append('')
    L.append('`make bench%s` on %s: %s, %d vCPUs, kernel %s. passthru %s, HAProxy %s, '
             'sslh %s, iperf3 %s, sockperf %s. %d repetition%s, configurations interleaved '
             'within each; %s; run took %.1f min.' % (
                 ' QUICK=1' if b.quick else '', datetime.date.today().isoformat(),
                 info['cpu_model'], info['cpus'], info['kernel'],
                 info['passthru'], info['haproxy'], info['sslh'], info['iperf3'],
                 info['sockperf'], b.reps, '' if b.reps == 1 else 's',
                 'durations %ds (iperf3), %ds (sockperf, ptload)' % (b.d_bulk, b.d_lat),
                 b.elapsed / 60))
    L.append('')
    L.append('Each cell: median (min–max) over the repetitions. Arrows: ↑ higher is better, '
             '↓ lower is better. ⚠: some connections failed, see the end; "failed": no figure.')
    L.append('')
    L.append('| measure | unit | ' + ' | '.join(names.get(c, c) for c in cols) + ' |')
    L.append('|---|---|' + '---:|' * len(cols))
    for key, label, unit, better, digits in ROWS:
        cells = []
        for cfg in cols:
            s = summary.get(key, {}).get(cfg)
            if not s:
                failed = [e for e in b.errors if e['config'] == cfg and
                          e['test'] == error_test(key)]
                cells.append('failed' if failed else '—')
            else:
                if s['n'] == 1 or s['min'] == s['max']:
                    cell = fmt(s['median'], digits)
                else:
                    cell = '%s (%s–%s)' % (fmt(s['median'], digits), fmt(s['min'], digits),
                                           fmt(s['max'], digits))
                if (error_test(key), cfg) in b.flags:
                    cell += ' ⚠'
                cells.append(cell)
        L.append('| %s | %s %s | %s |' % (label, unit, '↑' if better == 'high' else '↓',
                                          ' | '.join(cells)))
    L.append('')
    L.append('Ratios of the medians: ÷ direct / ÷ %s (for ↓ rows a ratio above 1 is worse, '
             'for ↑ rows below 1 is worse).' % names[REF])
    L.append('')
    L.append('| measure | ' + ' | '.join(names.get(c, c) for c in cols if c != 'direct') + ' |')
    L.append('|---|' + '---:|' * len([c for c in cols if c != 'direct']))
    for key, label, unit, better, digits in ROWS:
        cells = []
        for cfg in cols:
            if cfg == 'direct':
                continue
            rd = ratio(key, cfg, 'direct') if 'direct' in cols else None
            rh = ratio(key, cfg, REF) if REF in cols else None
            if cfg == REF:
                rh = 1.0 if med(key, cfg) is not None else None
            cells.append('%s / %s' % ('—' if rd is None else '%.2f' % rd,
                                      '—' if rh is None else '%.2f' % rh))
        L.append('| %s | %s |' % (label, ' | '.join(cells)))
    L.append('')
    L.append('How it was measured')
    L.append('')
    L.append('- Routing, the same in every proxy: TLS by SNI `%s` (a captured OpenSSL '
             'ClientHello, tests/data/tls/openssl-sni.bin, is the first flight of every '
             'ptload connection); iperf3 and sockperf by their real first bytes; wrk\'s HTTP '
             'requests to nginx (passthru by Host `%s`, HAProxy by a `GET ` prefix acl, sslh '
             'by its http probe); anything else refused (sslh has no refusal: its last entry '
             'forwards to a closed port).' % (SNI, HTTP_HOST))
    for name, what, how in PATTERNS:
        L.append('  - %s: %s. passthru %s; HAProxy `req.payload` acls with '
                 '`tcp-request inspect-delay 5s`; sslh a `regex` probe.' % (name, what, how))
    L.append('- HAProxy: TCP mode, default threads (one per CPU), no logging; "HAProxy splice" '
             'adds `%s`. Ratios use plain HAProxy, the default most users run. sslh: sslh-fork '
             'is Debian\'s /usr/sbin/sslh. passthru: `-w %d` (one worker per CPU, its default, '
             'like HAProxy\'s threads), default settings (auto: copy, bulk moves to splice after '
             '4 turns of 64 KiB; sockmap: `sockmap_sndbuf` 32 MiB, `sockmap_max_queued` '
             '16 MiB).' % (
                 SPLICE_OPTS[b.args.haproxy_splice].strip().replace('\n    ', '` + `'),
                 b.args.workers))
    if any(c.startswith('sslh') for c in cols):
        L.append('- sslh sets no TCP_NODELAY on its sockets (strace shows only SO_REUSEADDR and '
                 'IP_FREEBIND), and relays in reads of at most 8 KiB: a 16 KiB message waits on '
                 'Nagle and the peer\'s delayed ACK in each direction.')
    pin = b.pin
    L.append('- Pinning (taskset): load generators (iperf3/sockperf/ptload clients) %s, '
             'backends (iperf3 -s, sockperf sr, ptload server) %s, proxies %s.' % (
                 'CPU ' + pin['client'] if pin['client'] else 'unpinned',
                 'CPU ' + pin['server'] if pin['server'] else 'unpinned',
                 'CPU ' + pin['proxy'] if pin['proxy'] else 'unpinned') +
             (' Why: client and server on different CPUs, as on a real path where every hop '
              'is a cross-CPU wakeup, and the proxy free to use both, as a deployed one would '
              'be (`--pin` changes it).' if b.pin_name == 'split' else ''))
    L.append('- Bulk: `iperf3 -t %d [-P 8] [-R]` through the proxy; Gbit/s received. Latency: '
             '`sockperf pp --tcp --full-rtt -m 64|16384` (round trip, µs). Under load: the '
             '64 B ping-pong while one iperf3 stream runs through the same proxy at a fixed '
             '%sbit/s (`-b`; unlimited, a proxy that relays less bulk would look faster).' % (
                 b.d_bulk, LATLOAD_RATE))
    L.append('- Transactions and connections: ptload (tools/bench/ptload.c), epoll, '
             'non-blocking. rr: N connections, each ClientHello, 64 B reply, then 64 B '
             'request/response in a loop; cps: connect, ClientHello, read the 64 B reply, '
             'close (the client closes first), at concurrency 1 and 64. Context switches and '
             'syscalls: `perf stat -a -e context-switches,raw_syscalls:sys_enter` over the '
             '100-connection window, whole machine (the direct column is the load generator '
             'and backend alone), per transaction.')
    L.append('- HTTP: `wrk -t2 -c1000 --timeout 1s --latency` (keep-alive) and `-c64 -H '
             '"Connection: close"` for %d s through the proxy to nginx (one worker, CPU of the '
             'backends, access log off) serving a 64-byte file; "requests over 1 s" is wrk\'s '
             'timeout count.' % b.d_rr)
    L.append('- CPU: busy time of the whole machine from /proc/stat (user+nice+system+irq+'
             'softirq) over each measured interval, less the user+system time of processes that '
             'are not the benchmark\'s (the machine may be shared; the JSON keeps the raw '
             'figure as cpu_machine_*). Kernel threads and softirq stay in: sockmap redirects '
             'run in kworkers, TCP and splice work in softirq. Load generators and backends '
             'count too: the direct column is their share.')
    L.append('- Memory: a freshly started proxy; ptload holds %d connections open after their '
             'ClientHello and reply; the proxy\'s PSS summed over all its processes '
             '(`/proc/PID/smaps_rollup`; RSS would count the shared pages of sslh-fork\'s '
             'children thousands of times); per connection: (PSS with them − PSS before) / %d. '
             'Kernel memory (socket buffers, psocks) is not in it; the JSON has the change of '
             'MemTotal−MemAvailable, but on a shared machine that is noisy. The fd limit here is 20000, so HAProxy runs as two processes '
             'sharing the port (SO_REUSEPORT) and passthru with `-w 2`.' % (MEM_CONNS, MEM_CONNS))
    if b.diag:
        parts = ['%s %.0f%%' % (k, 100 * v['share']) for k, v in sorted(b.diag.items())
                 if v['share'] is not None]
        L.append('- passthru sockmap: share of bulk bytes the kernel redirected (the rest the '
                 'daemon forwarded), from one extra `-v` run: %s.' % ', '.join(parts))
    bgmax = max(b.bg) if b.bg else 0
    bgmed = statistics.median(b.bg) if b.bg else 0
    L.append('- Machine busy just before each measurement, with nothing of ours running: median '
             '%.0f%%, max %.0f%% of all CPUs; %d of %d measurements started on a machine busier '
             'than %.0f%%%s.' % (100 * bgmed, 100 * bgmax, b.waited, len(b.bg), 100 * BUSY,
                                 ' (other work was running: treat those figures with care)'
                                 if b.waited else ''))
    if extra.get('mem_procs'):
        L.append('- Processes holding the 10k connections: %s.' % ', '.join(
            '%s %d' % (names.get(c, c), v['median']) for c, v in extra['mem_procs'].items()))
    for n in b.notes:
        L.append('- ' + n)
    for cfg, (n, last) in sorted(b.restarts.items()):
        L.append('- %s exited %d time%s during the run and was started again; its last log '
                 'lines: `%s`' % (names.get(cfg, cfg), n, '' if n == 1 else 's', last))
    if b.errors:
        L.append('')
        L.append('Failures (a cell without a figure, or ⚠: the figure counts only the '
                 'connections that worked):')
        L.append('')
        groups = {}
        for e in b.errors:
            groups.setdefault((e['config'], e['test']), []).append(e['error'])
        for (cfg, test), msgs in groups.items():
            L.append('- %s, %s, %d of %d runs: %s' % (names.get(cfg, cfg), test, len(msgs),
                                                    b.reps if test != 'mem' else b.mem_runs,
                                                    msgs[0]))
    md = '\n'.join(L) + '\n'
    doc = {'meta': dict(info, date=datetime.datetime.now().isoformat(timespec='seconds'),
                        quick=b.quick, reps=b.reps, pinning=b.pin, pin_plan=b.pin_name,
                        durations={'bulk': b.d_bulk, 'lat': b.d_lat, 'rr': b.d_rr},
                        elapsed_s=round(b.elapsed, 1), reference=REF,
                        background_busy=b.bg),
           'configs': b.configs, 'tests': b.tests,
           'rows': [{'key': k, 'label': l, 'unit': u, 'better': bt} for k, l, u, bt, _ in ROWS],
           'results': summary, 'extra': extra, 'sockmap_kernel_share': b.diag,
           'errors': b.errors, 'notes': b.notes}
    return md, doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='short runs (under 5 minutes)')
    ap.add_argument('--reps', type=int, default=0, help='repetitions (default 5, quick 3)')
    ap.add_argument('--only', help='comma-separated configurations')
    ap.add_argument('--tests', help='comma-separated tests: ' + ','.join(TESTS))
    ap.add_argument('--pin', default='split', choices=sorted(PIN_PLANS))
    ap.add_argument('--workers', type=int, default=os.cpu_count(),
                    help='passthru -w (default: one per CPU, as HAProxy runs one thread per CPU)')
    ap.add_argument('--haproxy-splice', default='auto', choices=sorted(SPLICE_OPTS),
                    help='HAProxy splice variant: splice-auto, or splice-request+response')
    ap.add_argument('--out', help='where results.md and results.json go (default: tools/bench, '
                    'or build/bench/quick with --quick so that a short run never replaces the '
                    'committed table)')
    args = ap.parse_args()
    if not args.out:
        args.out = os.path.join(BUILD, 'bench', 'quick') if args.quick else os.path.join(
            ROOT, 'tools', 'bench')
    for c in (args.only.split(',') if args.only else []):
        if c not in CONFIGS:
            ap.error('unknown configuration %s' % c)
    for t in (args.tests.split(',') if args.tests else []):
        if t not in TESTS:
            ap.error('unknown test %s' % t)
    if os.geteuid() != 0:
        log('must run as root (passthru loads BPF; ulimits)')
        return 1
    b = Bench(args)

    def on_signal(signo, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(b.procs.stop_all)
    try:
        b.main()
    except KeyboardInterrupt:
        log('interrupted')
        b.procs.stop_all()
        return 130
    except RuntimeError as e:
        log(str(e))
        b.procs.stop_all()
        return 1
    finally:
        b.procs.stop_all()
    md, doc = report(b)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(md)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(doc, f, indent=1)
    print(md)
    log('results in %s/results.{md,json}' % os.path.relpath(args.out, ROOT))
    if b.errors or b.notes or os.environ.get('PT_KEEP') == '1':
        log('configs and logs kept in %s' % os.path.relpath(b.tmp, ROOT))
    else:
        shutil.rmtree(b.tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
