# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Real HTTP keep-alive at 1,000 connections: no request stalls (issue 12).

The issue's first report of the kernel plane: `wrk -t2 -c1000 -d4` with
keep-alive through passthru (-w 2, one route by Host) to nginx serving a
64-byte file saw 61-552 requests time out (over 2 s) on sockmap. One cause
found since is the lost wake-up fixed in daa004d (its regression test is in
tests/bpf/test_backpressure.py, PASSTHRU_FAULT_INFLIGHT). On the AMD EPYC
VM of 2026-12-05 the issue's command stalled nothing in three runs each on
d823e33 (before that fix) and 2aecc9d, so no test can be made to fail on
the old code here; this one guards the user-visible symptom on every data
plane:

  * wrk (real client, two threads, 1,000 keep-alive connections, --timeout
    1s) through passthru to nginx (one worker, no access log), PT_TIME_SCALE
    x 4 seconds, with the default max_detecting (wrk opens all 1,000
    before it sends a request: without the eviction grace the cap reset
    8-20 of them in 2 of 3 runs, splice's turn as the slowest);
  * no request over 1 s (wrk's timeout count), no socket error, every
    response 2xx, and at least 1,000 requests (each connection served);
  * one log line per connection afterwards, ended by the client (done, or
    client-reset where wrk closed with a request in flight), on the plane
    asked for.

The requests/s are printed (a figure, not a check: performance is measured
by make bench). Skips without wrk or nginx.
"""
import os
import re
import shutil
import subprocess

import stresslib  # noqa: E402
from stresslib import (StressSuite, Proc, daemon, planes, logged_plane_ok, check, eq, wait_for,
                       listener, route, free_port, slack, Skip, is_listening, TIME_SCALE)

NGINX = '/usr/sbin/nginx'
CONNS = 1000
SECONDS = max(4, int(4 * TIME_SCALE))
HOST = 'keepalive.example'
BODY = b'x' * 63 + b'\n'

s = StressSuite('stress-http-keepalive')
figures = []


def start_nginx():
    if not os.path.exists(NGINX) or not shutil.which('wrk'):
        raise Skip('needs nginx and wrk (make deps)')
    root = s.path('www')
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, '64'), 'wb') as f:
        f.write(BODY)
    port = free_port()
    tmp = s.path('nginx')
    os.makedirs(tmp, exist_ok=True)
    conf = s.write('nginx.conf', '''daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 8000;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4000; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
'''.format(tmp=tmp, port=port, root=root))
    Proc(s, 'nginx', [NGINX, '-c', conf, '-e', os.path.join(tmp, 'error.log')])
    wait_for(lambda: is_listening(port), 10, 'nginx to listen')
    return port


def wrk(port):
    argv = ['wrk', '-t2', '-c%d' % CONNS, '-d%ds' % SECONDS, '--timeout', '1s',
            '-H', 'Host: ' + HOST, 'http://127.0.0.1:%d/64' % port]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 60)
    out = r.stdout
    n = re.search(r'(\d+) requests in', out)
    rate = re.search(r'Requests/sec:\s+([\d.]+)', out)
    if r.returncode != 0 or not n or not rate:
        raise AssertionError('wrk failed (%d): %s %s' % (r.returncode, out[-400:], r.stderr[-400:]))
    err = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    bad = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    return {'requests': int(n.group(1)), 'rate': float(rate.group(1)),
            'errors': [int(x) for x in err.groups()] if err else [0, 0, 0, 0],
            'non2xx': int(bad.group(1)) if bad else 0}


def t_keepalive(plane):
    if not nginx_port:
        raise Skip('no nginx')
    nginx = nginx_port
    port = free_port()
    pt = daemon(s, [listener('ka', port, [route('web', '127.0.0.1:%d' % nginx, protocol='http',
                                                host=HOST)],
                             max_connections=4000, max_connections_per_source=0)],
                plane, args=['-w', '2'], name='ka-' + plane)
    m = pt.mark()
    w = wrk(port)
    figures.append('[%s] %.0f requests/s, %d requests, socket errors %s' % (
        plane, w['rate'], w['requests'], w['errors']))
    eq(w['errors'][3], 0, 'requests over 1 s (wrk timeouts)')
    eq(w['errors'][:3], [0, 0, 0], 'wrk socket errors connect/read/write')
    eq(w['non2xx'], 0, 'non-2xx responses')
    check(w['requests'] >= CONNS, '%d requests for %d connections' % (w['requests'], CONNS))
    lines = pt.conns_after(m, CONNS, timeout=slack(20))
    ends = {}
    for d in lines:
        ends[d.get('end')] = ends.get(d.get('end'), 0) + 1
    # wrk ends by closing every connection, some with a request in flight
    # (an RST); one it opened and closed without a byte finds no route.
    odd = {e: n for e, n in ends.items() if e not in ('done', 'client-reset', 'no-route')}
    eq(odd, {}, 'connections that ended otherwise than by the client (all: %s)' % ends)
    wrong = [d for d in lines if d.get('route') == 'web' and not logged_plane_ok(plane, d)]
    eq(wrong[:3], [], 'log lines on another plane than %s' % plane)
    pt.stop()


nginx_port = None


def t_nginx():
    global nginx_port
    nginx_port = start_nginx()


s.test('nginx serving a 64-byte file', t_nginx)
for p in planes():
    s.test('[%s] wrk keep-alive, %d connections, %d s: no request over 1 s' % (p, CONNS, SECONDS),
           t_keepalive, p)
print('figures:')
for f in figures:
    print('  ' + f)
s.finish()
