# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The Prometheus endpoint ("metrics": {"listen": ...}) of a live daemon.

With -w 1 (the worker serves it) and -w 2 (the master does): the
exposition passes `promtool check metrics`, counters move by exactly the
connections curl made through passthru, the duration histogram is
cumulative and its +Inf bucket is _count, bytes land on the data plane
the listener uses; HTTP errors (404, 405, 400, 431) for everything but
GET/HEAD /metrics; idle, slow and garbage clients are dropped while the
daemon keeps relaying; a reload that moves metrics.listen is logged and
the endpoint stays; a real Prometheus (Debian's) scrapes passthru and
its query API sees a counter that moved after traffic; every metric the
Grafana dashboard in examples/ queries exists and its queries run.
"""
import json
import os
import re
import shutil
import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from ptharness import (ROOT, DATA_PLANE, Suite, Passthru, HttpBackend, Proc, Skip, Fail, run,
                       eq, check, wait_for, listener, route, free_port, curl, connect,
                       read_closed, slack)

PROMTOOL = shutil.which('promtool') or '/usr/bin/promtool'
PROMETHEUS = shutil.which('prometheus') or '/usr/bin/prometheus'
DASHBOARD = os.path.join(ROOT, 'examples', 'grafana-passthru.json')
CLIENTS_MAX = 8  # PT_METRICS_CLIENTS_MAX
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')

s = Suite('metrics')
web = HttpBackend(s, 'web')


def config(mport):
    return {'metrics': {'listen': '127.0.0.1:%d' % mport},
            'listeners': [listener('front', free_port(), [route('web', web.addr)])]}


mport1, mport2 = free_port(), free_port()
pt1 = Passthru(s, config(mport1), name='w1')
pt2 = Passthru(s, config(mport2), args=['-w', '2'], name='w2')


def http(port, raw, timeout=5):
    """Send raw bytes to the metrics port; (status line, headers, body) of the answer."""
    sock = connect(port, timeout=timeout)
    sock.sendall(raw)
    data, how, _ = read_closed(sock, timeout)
    sock.close()
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    return lines[0], lines[1:], body


def scrape(port):
    status, headers, body = http(port, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    eq(status, 'HTTP/1.1 200 OK', 'status of GET /metrics')
    check('Content-Type: text/plain; version=0.0.4; charset=utf-8' in headers,
          'content type: %r' % headers)
    clen = [h for h in headers if h.startswith('Content-Length: ')]
    eq(int(clen[0].split(': ')[1]) if clen else None, len(body), 'Content-Length')
    return body.decode()


def samples(text):
    """{'name{labels}': float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = SAMPLE_RE.match(line)
        check(m, 'not a sample line: %r' % line)
        out[m.group(1) + (m.group(2) or '')] = float(m.group(3))
    return out


def families(text):
    return {line.split()[2] for line in text.splitlines() if line.startswith('# TYPE ')}


def through(pt, n):
    for i in range(n):
        rc, out, err = curl('http://127.0.0.1:%d/n%d' % (pt.port(), i))
        eq(rc, 0, 'curl through passthru: %s' % err)
        check('backend=web' in out, 'answer from the backend: %r' % out)


def t_promtool(pt, port):
    if not os.access(PROMTOOL, os.X_OK):
        raise Skip('promtool not installed (make deps installs prometheus)')
    through(pt, 1)
    text = scrape(port)
    path = s.write('metrics-%d.txt' % port, text)
    with open(path) as f:
        rc, out, err = run([PROMTOOL, 'check', 'metrics'], input=f.read().encode())
    eq(rc, 0, 'promtool check metrics: %s %s' % (out, err))
    check(not (out + err).strip(), 'promtool has no complaint: %r' % (out + err))


def t_counters(pt, port):
    n = 3
    before = samples(scrape(port))
    m = pt.mark()
    through(pt, n)
    lines = pt.conns_after(m, n)
    time.sleep(0.1)
    after = samples(scrape(port))
    L = '{listener="front"}'

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    eq(delta('passthru_connections_accepted_total' + L), n, 'accepted moved by n')
    eq(delta('passthru_route_connections_total{listener="front",route="web"}'), n,
       'route matched moved by n')
    eq(delta('passthru_connections_ended_total{listener="front",end="done"}'), n,
       'ended done moved by n')
    eq(delta('passthru_connection_duration_seconds_count' + L), n, 'histogram count moved')
    up = sum(d['up'] for d in lines)
    down = sum(d['down'] for d in lines)
    eq(delta('passthru_bytes_total{listener="front",direction="up"}'), up, 'bytes up = log')
    eq(delta('passthru_bytes_total{listener="front",direction="down"}'), down,
       'bytes down = log')
    by_plane = {p: delta('passthru_route_bytes_total{listener="front",route="web",plane="%s",'
                         'direction="down"}' % p) for p in ('copy', 'splice', 'sockmap')}
    eq(sum(by_plane.values()), down, 'bytes by plane add up to the bytes')
    if DATA_PLANE in by_plane:
        eq(by_plane[DATA_PLANE], down, 'every byte on the %s plane' % DATA_PLANE)
    eq(after.get('passthru_connections_active' + L), 0, 'nothing open')
    # The histogram: cumulative, +Inf = _count, one bucket per le.
    buckets = [(k, v) for k, v in after.items()
               if k.startswith('passthru_connection_duration_seconds_bucket{listener="front"')]
    check(len(buckets) > 5, 'buckets: %r' % buckets)
    les = [float(re.search(r'le="([^"]+)"', k).group(1)) for k, _ in buckets]
    eq(les, sorted(les), 'buckets in increasing le order')
    vals = [v for _, v in buckets]
    eq(vals, sorted(vals), 'bucket counts never decrease')
    eq(les[-1], float('inf'), 'last bucket +Inf')
    eq(vals[-1], after['passthru_connection_duration_seconds_count' + L], '+Inf = _count')
    ended = sum(v for k, v in after.items() if k.startswith('passthru_connections_ended_total'))
    eq(vals[-1], ended, 'every ended connection is in the histogram')


def t_http_errors(port):
    eq(http(port, b'GET / HTTP/1.1\r\n\r\n')[0], 'HTTP/1.1 404 Not Found', 'GET /')
    eq(http(port, b'GET /metricsx HTTP/1.0\r\n\r\n')[0], 'HTTP/1.1 404 Not Found', '/metricsx')
    status, headers, _ = http(port, b'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n')
    eq(status, 'HTTP/1.1 405 Method Not Allowed', 'POST')
    check('Allow: GET, HEAD' in headers, 'Allow header: %r' % headers)
    eq(http(port, b'\x16\x03\x01\x02\x00garbage\r\n\r\n')[0], 'HTTP/1.1 400 Bad Request',
       'binary garbage')
    eq(http(port, b'GET /metrics SPDY/3\r\n\r\n')[0], 'HTTP/1.1 400 Bad Request', 'not HTTP/1')
    eq(http(port, b'GET /metrics HTTP/1.1\r\nX: ' + b'a' * 8000 + b'\r\n\r\n')[0],
       'HTTP/1.1 431 Request Header Fields Too Large', 'huge head')
    status, headers, body = http(port, b'HEAD /metrics HTTP/1.1\r\n\r\n')
    eq((status, body), ('HTTP/1.1 200 OK', b''), 'HEAD: head only')
    rc, out, err = curl('-o', '/dev/null', '-w', '%{http_code}',
                        'http://127.0.0.1:%d/metrics?x=1' % port)
    eq(out, '200', 'curl with a query string')


def t_slow_clients(pt, port):
    """Idle and dribbling clients take no more than their slots and their time."""
    idle = [connect(port) for _ in range(CLIENTS_MAX - 1)]
    drip = connect(port)
    t0 = time.monotonic()
    for b in b'GET /met':
        drip.send(bytes([b]))
        time.sleep(0.05)
    # Over the cap: closed at once.
    extra = connect(port)
    data, how, secs = read_closed(extra, 1.5)
    check(how in ('eof', 'reset') and secs < 1, 'a client over the cap is closed: %s' % how)
    extra.close()
    through(pt, 2)  # the loop that serves them still relays
    for c in idle + [drip]:
        data, how, _ = read_closed(c, slack(6))
        check(how in ('eof', 'reset'), 'the daemon dropped a silent client: %s' % how)
        c.close()
    took = time.monotonic() - t0
    check(1.5 < took < slack(6), 'dropped after the 2 s read deadline (%.1f s)' % took)
    scrape(port)  # and a scrape works again


def t_garbage(pt, port):
    for i in range(20):
        sock = connect(port)
        sock.sendall(os.urandom(100 + i * 50) + b'\n\n')
        read_closed(sock, 3)
        sock.close()
    through(pt, 1)
    scrape(port)


def t_reload_moves_listen(pt, port):
    cfg = config(free_port())
    cfg['listeners'] = pt.config['listeners']
    pt.set_config(cfg)
    m = len(pt.log())
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'that takes a restart' in pt.log()[m:], 5, 'the restart line')
    check('generation 1' in pt.log()[m:] or 'reloaded' in pt.log()[m:], 'the reload happened')
    text = scrape(port)
    check('passthru_config_generation 1\n' in text, 'the endpoint serves the new generation')
    through(pt, 1)


def t_bad_listen():
    """A port in use: passthru says so and exits."""
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    cfg = config(busy.getsockname()[1])
    path = s.write('busy.json', json.dumps(cfg))
    rc, out, err = run([pt1.proc.argv[0], '-c', path, '-w', '1', '-i', 'metrics-busy'],
                       timeout=10)
    port = busy.getsockname()[1]
    busy.close()
    check(rc != 0, 'exit status %d' % rc)
    check('metrics.listen "127.0.0.1:%d": Address already in use' % port in err,
          'the error names metrics.listen: %r' % err[-500:])


# --- a real Prometheus --------------------------------------------------------

class Prometheus:
    def __init__(self, targets):
        if not os.access(PROMETHEUS, os.X_OK):
            raise Skip('prometheus not installed (make deps installs it)')
        self.port = free_port()
        conf = s.write('prometheus.yml', (
            'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
            'scrape_configs:\n  - job_name: passthru\n    scrape_interval: 1s\n'
            '    scrape_timeout: 1s\n    static_configs:\n      - targets: [%s]\n') %
            ', '.join('"127.0.0.1:%d"' % t for t in targets))
        self.proc = Proc(s, 'prometheus', [
            PROMETHEUS, '--config.file=' + conf, '--storage.tsdb.path=' + s.path('tsdb'),
            '--web.listen-address=127.0.0.1:%d' % self.port, '--log.level=warn'],
            stdout=False)
        wait_for(lambda: self.ready() or not self.proc.alive(), 30, 'prometheus ready')
        check(self.proc.alive(), 'prometheus runs: %s' % self.proc.stderr()[-800:])

    def ready(self):
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/-/ready' % self.port,
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, q):
        url = 'http://127.0.0.1:%d/api/v1/query?%s' % (
            self.port, urllib.parse.urlencode({'query': q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            raise Fail('query %s: HTTP %d: %s' % (q, e.code, e.read()[:300]))
        eq(doc.get('status'), 'success', 'query %s: %r' % (q, doc))
        return doc['data']['result']

    def value(self, q):
        res = self.query(q)
        return float(res[0]['value'][1]) if res else None


prom = None


def t_prometheus():
    global prom
    prom = Prometheus([mport1, mport2])
    for port in (mport1, mport2):
        target = 'up{instance="127.0.0.1:%d"}' % port
        wait_for(lambda: prom.value(target) == 1, 20, 'prometheus scraped %d' % port)
    q = 'passthru_connections_accepted_total{instance="127.0.0.1:%d",listener="front"}' % mport2
    wait_for(lambda: prom.value(q) is not None, 10, 'a first sample of %s' % q)
    v0 = prom.value(q)
    through(pt2, 4)
    wait_for(lambda: (prom.value(q) or 0) >= v0 + 4, 20, '%s to move by 4 from %s' % (q, v0))
    # A histogram query over what passthru exposes.
    res = prom.query('histogram_quantile(0.9, sum by (le) (passthru_connection_duration_'
                     'seconds_bucket{instance="127.0.0.1:%d"}))' % mport2)
    check(res and res[0]['value'][1] not in ('NaN',), 'a quantile: %r' % res)


def dashboard_exprs():
    with open(DASHBOARD) as f:
        doc = json.load(f)
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ('expr', 'query') and isinstance(v, str) and 'passthru_' in v:
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(doc)
    return doc, exprs


def t_dashboard():
    need = os.path.exists(DASHBOARD)
    check(need, '%s exists' % DASHBOARD)
    doc, exprs = dashboard_exprs()
    check(doc.get('title') and doc.get('panels'), 'a dashboard with a title and panels')
    check(len(exprs) >= 8, 'queries found: %d' % len(exprs))
    have = families(scrape(mport1))
    for e in exprs:
        for name in re.findall(r'passthru_[a-z_]+', e):
            base = re.sub(r'_(bucket|sum|count)$', '', name)
            check(name in have or base in have,
                  'dashboard metric %s is in /metrics (%s)' % (name, e))
    if prom is None:
        raise Skip('no Prometheus to run the queries (see the prometheus test)')
    for e in exprs:
        # Grafana's label_values(SELECTOR, LABEL) asks Prometheus for SELECTOR's series.
        m = re.match(r'label_values\((.*), *\w+\)$', e)
        q = m.group(1) if m else e
        q = (q.replace('$__rate_interval', '1m').replace('$__interval', '1m')
             .replace('$instance', '.*').replace('$listener', '.*').replace('$job', 'passthru'))
        prom.query(q)  # fails on a syntax error


for pt, port in ((pt1, mport1), (pt2, mport2)):
    tag = pt.name
    s.test('%s: promtool check metrics' % tag, t_promtool, pt, port)
    s.test('%s: counters move by the connections made' % tag, t_counters, pt, port)
    s.test('%s: HTTP errors' % tag, t_http_errors, port)
    s.test('%s: idle and slow clients dropped, relaying goes on' % tag, t_slow_clients, pt, port)
    s.test('%s: garbage' % tag, t_garbage, pt, port)
s.test('metrics.listen in use: exit with the error', t_bad_listen)
s.test('a real Prometheus scrapes and queries', t_prometheus)
s.test('the Grafana dashboard queries existing metrics', t_dashboard)
s.test('reload that moves metrics.listen: logged, endpoint stays', t_reload_moves_listen,
       pt2, mport2)
s.finish()
