#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Request/response through the same-host bypass against the other planes.

    python3 tools/bench/local_rr.py CONNS ROUNDS   (root, from the top of the tree,
                                                    after make and cc -O2 -std=gnu11 -o build/bench/ptload tools/bench/ptload.c)

One ptload server (CPU 1), passthru -w 1 on data_plane local, sockmap and copy,
HAProxy 2.6 in TCP mode (inspect-delay, hello check), and the direct path; each
round runs `ptload rr -n CONNS -t 3` (CPU 0) against each in turn (interleaved,
for a shared, noisy machine) and the medians of the rates come last. Not part
of `make bench`: a quick look for the issue 14 gate (README, "Same-host bypass"). "proxy_us" is the proxy
process's own CPU time (utime + stime, /proc/PID/stat) per transaction:
steadier than the rates on a machine shared with other jobs.
"""
import json, os, subprocess, time, statistics, sys, socket
PTL = os.path.abspath('build/bench/ptload')
PT = os.path.abspath('build/passthru')
HELLO = os.path.abspath('tests/data/tls/curl-https.bin')
def port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
sp = port()
srv = subprocess.Popen(['taskset', '-c', '1', PTL, 'server', '-l', '127.0.0.1:%d' % sp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ports = {n: port() for n in ('local', 'sockmap', 'copy', 'haproxy')}
def lst(name, dp):
    return {'name': name, 'listen': '127.0.0.1:%d' % ports[name], 'data_plane': dp, 'max_connections': 3000,
            'max_connections_per_source': 0, 'routes': [{'name': 'all', 'forward': '127.0.0.1:%d' % sp}]}
os.chdir(__import__('tempfile').mkdtemp(prefix='pt-local-rr-'))  # mode 0700: control sockets here
procs = []
pids = {}
for name, dp in (('local', 'local'), ('sockmap', 'sockmap'), ('copy', 'copy')):
    cfg = {'experimental': True, 'control_socket': os.path.join(os.getcwd(), '%s.sock' % name), 'listeners': [lst(name, dp)]}
    open('%s.json' % name, 'w').write(json.dumps(cfg))
    procs.append(subprocess.Popen([PT, '-c', '%s.json' % name, '-w', '1', '-i', 'bench' + name], stderr=open('%s.log' % name, 'w')))
    pids[name] = procs[-1].pid
open('haproxy.cfg', 'w').write('''global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 600s
    timeout server 600s
frontend bench
    bind 127.0.0.1:%d
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    default_backend b
backend b
    server s 127.0.0.1:%d
''' % (ports['haproxy'], sp))
procs.append(subprocess.Popen(['haproxy', '-db', '-f', 'haproxy.cfg'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
pids['haproxy'] = procs[-1].pid
def cpu_s(pid):
    """utime + stime of every thread of pid, in seconds."""
    v = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf('SC_CLK_TCK')
time.sleep(2)
ports['direct'] = sp
res = {}
n = int(sys.argv[1]); rounds = int(sys.argv[2])
for r in range(rounds):
    for name in ('direct', 'local', 'sockmap', 'copy', 'haproxy'):
        c0 = cpu_s(pids[name]) if name in pids else 0
        out = subprocess.run(['taskset', '-c', '0', PTL, 'rr', '-c', '127.0.0.1:%d' % ports[name], '-P', HELLO, '-n', str(n), '-t', '3'], capture_output=True, text=True)
        j = None
        for line in out.stdout.splitlines():
            if line.startswith('{'):
                j = json.loads(line)
        if j and name in pids and j.get('count'):
            j['proxy_us'] = (cpu_s(pids[name]) - c0) * 1e6 / j['count']
        res.setdefault(name, []).append(j)
        print(r, name, out.returncode, {k: j[k] for k in j if k in ('rate', 'errors', 'cpu_busy_s', 'count', 'first_error', 'proxy_us')} if j else out.stderr[-200:], flush=True)
for p in procs: p.terminate()
srv.terminate()
for name, v in res.items():
    rates = [x['rate'] for x in v if x]
    us = [x['proxy_us'] for x in v if x and 'proxy_us' in x]
    print('%-8s n=%d median rate %.0f  (%s)%s' % (name, n, statistics.median(rates), ', '.join('%.0f' % x for x in rates),
          '  proxy CPU us/txn median %.1f (%s)' % (statistics.median(us), ', '.join('%.1f' % x for x in us)) if us else ''))
for name in ('local', 'sockmap', 'copy'):
    print(name, open('%s.log' % name).read().count('plane=' + name), 'conn lines with plane=' + name)
