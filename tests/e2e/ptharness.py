# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""End-to-end test harness for passthru.

A test file builds one Suite, starts what it needs through it (passthru with
a generated config, real backends: openssl s_server, sshd, dante, ptstream,
small python servers), runs named tests and ends with suite.finish(), which
prints "N passed, N failed, N skipped" and exits non-zero on a failure.

    s = Suite('tls')
    alpha = TlsBackend(s, 'alpha.example')
    pt = Passthru(s, {'listeners': [...]})
    def t_alpha():
        m = pt.mark()
        out = s_client(pt.port(), 'alpha.example')
        eq(cert_cn(out), 'alpha.example', 'certificate CN')
        pt.conn_after(m, route='alpha', proto='tls', end='done')
    s.test('sni alpha', t_alpha)
    s.finish()

Every process is started in its own session and killed (its whole process
group) when the suite ends, whatever happened; the temporary directory goes
too unless PT_KEEP=1. Everything listens on 127.0.0.1 with ports the kernel
hands out. A test passes when its function returns, is skipped when it
raises Skip, fails on anything else; the failure and the tail of every
passthru log are printed.

Environment: BUILD (build directory, default build), PT_KEEP=1 (keep the
temporary directory: configs, every process's output), PT_DATA_PLANE
(splice|sockmap|auto: force it on every listener built with listener()),
PT_TIME_SCALE (stretch timeouts and upper time bounds on slow machines).
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(ROOT, os.environ.get('BUILD', 'build'))
PASSTHRU = os.path.join(BUILD, 'passthru')
# The test build of the daemon (make tests): build/passthru plus the test
# knobs below, which the shipped binary does not read (-DPT_TEST_HOOKS).
PASSTHRU_HOOKS = os.path.join(BUILD, 'tests', 'passthru-hooks')
PIN_ROOT = '/sys/fs/bpf/passthru'   # the daemon's PT_PIN_ROOT
RUN_DIR = '/run/passthru'           # its PT_RUN_DIR: locks, control sockets, .pairs
HOOK_VARS = ('PASSTHRU_FAULT_', 'PASSTHRU_SELFTEST_FAIL')
PTSTREAM = os.path.join(BUILD, 'tests', 'ptstream')
SSHD = '/usr/sbin/sshd'
DANTED = '/usr/sbin/danted'
# PT_DATA_PLANE=copy|splice|sockmap|auto puts that data_plane into every listener
# that listener() builds and makes plane_ok() demand it; unset, listeners keep
# the daemon's default and either plane is fine.
DATA_PLANE = os.environ.get('PT_DATA_PLANE')
# PT_TIME_SCALE=N stretches every timeout and every "at most this long"
# bound by N, for slow machines (emulated VMs); lower bounds stay.
TIME_SCALE = float(os.environ.get('PT_TIME_SCALE', '1'))
# PT_LOAD_SCALE=F shrinks transfer sizes and connection counts of the load
# tests (not below each test's minimum), for emulated VMs (tests/run vm).
LOAD_SCALE = float(os.environ.get('PT_LOAD_SCALE', '1'))


def scaled(n, minimum=1):
    """n (bytes or connections) times PT_LOAD_SCALE, at least minimum."""
    return max(int(n * LOAD_SCALE), minimum)


def human(n):
    """1073741824 -> '1 GiB', 52428 -> '51 KiB' (names of scaled tests)."""
    for unit, size in (('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if n >= size:
            return '%d %s' % (n // size, unit)
    return '%d B' % n


class Skip(Exception):
    """Raised by a test that cannot run here (says why)."""


class Fail(AssertionError):
    """A check failed."""


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail('%s: got %r, want %r' % (what, got, want))


def is_root():
    return os.geteuid() == 0


def need_root(what):
    if not is_root():
        raise Skip('%s needs root' % what)


def need_file(path):
    if not os.path.exists(path):
        raise Skip('%s not found' % path)


def slack(seconds):
    """An upper time bound, stretched by PT_TIME_SCALE."""
    return seconds * TIME_SCALE


def wait_for(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns something true; Fail after timeout."""
    timeout = slack(timeout)
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Fail('timed out after %.1f s waiting for %s' % (timeout, what))
        time.sleep(interval)


def is_listening(port, host='127.0.0.1'):
    """Is something listening on host:port? Reads /proc, connects nowhere."""
    want = '%08X:%04X' % (socket.ntohl(int.from_bytes(socket.inet_aton(host), 'big')),
                          port)
    try:
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == want and parts[3] == '0A':
                    return True
    except OSError:
        pass
    return False


_ports_given = set()


def free_port():
    """A loopback TCP port nobody listens on right now (never the same twice)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise Fail('no free port')


def closed_port():
    """A port with nothing listening: connecting to it is refused."""
    return free_port()


# --- processes -----------------------------------------------------------


class Proc:
    """A child process in its own session, output to files in the suite dir."""

    def __init__(self, suite, name, argv, stdout=True, stdin=None, env=None, cwd=None):
        self.suite = suite
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(suite.dir, name + '.out')
        self.err_path = os.path.join(suite.dir, name + '.err')
        out = open(self.out_path, 'wb') if stdout else subprocess.DEVNULL
        err = open(self.err_path, 'wb')
        self.p = subprocess.Popen(argv, stdout=out, stderr=err,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  env=env, cwd=cwd, start_new_session=True)
        if stdout:
            out.close()
        err.close()
        suite.procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def stdout(self):
        try:
            with open(self.out_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def stderr(self):
        with open(self.err_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def alive(self):
        return self.p.poll() is None

    def send_signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout):
        """Exit status, or None if still running after timeout seconds."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """Kill the process and everything it forked (its process group)."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, sig=signal.SIGTERM, timeout=3):
        """Ask politely, then kill the group; returns the exit status."""
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                self.kill()
        self.wait_group(1)  # e.g. workers finishing their clean-up
        self.kill()  # stragglers in the group
        return self.p.returncode

    def wait_group(self, timeout):
        """Wait up to timeout seconds (stretched) until no process is left in the group."""
        end = time.time() + slack(timeout)
        while time.time() < end:
            try:
                os.killpg(self.p.pid, 0)
            except (ProcessLookupError, PermissionError):
                return True
            time.sleep(0.02)
        return False


def run(argv, timeout=20, input=None, check_rc=None, env=None):
    """Run a client program to completion; returns (rc, stdout, stderr) as text.

    The program runs in its own session; on timeout (stretched by
    PT_TIME_SCALE) its whole group is killed and Fail is raised.
    """
    timeout = slack(timeout)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                         env=env)
    try:
        out, err = p.communicate(input, timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise Fail('%s timed out after %s s; stderr: %s' % (
            ' '.join(argv[:3]), timeout, err.decode('utf-8', 'replace')[-500:]))
    out = out.decode('utf-8', 'replace')
    err = err.decode('utf-8', 'replace')
    if check_rc is not None and p.returncode != check_rc:
        raise Fail('%s exited %d, want %d; stderr: %s' % (
            ' '.join(argv[:3]), p.returncode, check_rc, err[-800:]))
    return p.returncode, out, err


# --- the suite -------------------------------------------------------------


class Suite:
    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix='pt-e2e-%s-' % name)
        self.procs = []
        self.servers = []
        self.passthrus = []
        self.passed = self.failed = self.skipped = 0
        self.t0 = time.monotonic()
        self._cleaned = False
        atexit.register(self.cleanup)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        if not os.access(PASSTHRU, os.X_OK):
            print('note: %s is not built; tests that need it fail' % PASSTHRU)

    def _on_signal(self, signo, frame):
        self.cleanup()
        sys.exit(128 + signo)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
        return p

    def test(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print('skip %s: %s' % (name, e), flush=True)
            return
        except Exception as e:
            self.failed += 1
            why = str(e) if isinstance(e, Fail) else traceback.format_exc().rstrip()
            print('not ok %s: %s' % (name, why), flush=True)
            for pt in self.passthrus:
                print('  --- %s log (last lines):' % pt.name)
                for line in pt.log().splitlines()[-12:]:
                    print('  | ' + line)
            sys.stdout.flush()
            return
        self.passed += 1
        print('ok %s (%.2f s)' % (name, time.monotonic() - t0), flush=True)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for s in self.servers:
            s.close()
        # SIGTERM twice (passthru: stop accepting, then close everything now)
        # so daemons remove their BPF pins and control sockets; then SIGKILL
        # whatever is left.
        live = [p for p in reversed(self.procs) if p.alive()]
        for sig in (signal.SIGTERM, signal.SIGTERM):
            for p in live:
                try:
                    os.killpg(p.p.pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        deadline = time.time() + 2
        while time.time() < deadline and any(p.alive() for p in live):
            time.sleep(0.02)
        for p in reversed(self.procs):
            p.kill()
        for pt in self.passthrus:
            pt.remove_dropped_leftovers()
        if os.environ.get('PT_KEEP'):
            print('kept %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def finish(self):
        self.cleanup()
        print('%s: %.1f s' % (self.name, time.monotonic() - self.t0))
        print('%d passed, %d failed, %d skipped' % (self.passed, self.failed, self.skipped),
              flush=True)
        sys.exit(1 if self.failed else 0)


# --- passthru ----------------------------------------------------------------

CONN_RE = re.compile(r'^(\S+) (\S+) (\w+) conn: #(\d+) (client=.*)$')
TOKEN_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)|(\S+)')
FLAGS = ('sslv2', 'ech')


def parse_conn_line(line):
    """One per-connection log line as a dict (None if it is not one).

    Keys: time, tag (main, w0..), level, id, and every key=value of the
    line; up/down/id are ints, dur a float in seconds, quoted values are
    unquoted, the flags "sslv2" and "ech" map to True. Other bare words
    continue the value before them: names may hold spaces (the legacy
    format's "TLS SNI alpha.example") and the daemon does not quote them.
    """
    m = CONN_RE.match(line)
    if not m:
        return None
    d = {'time': m.group(1), 'tag': m.group(2), 'level': m.group(3),
         'id': int(m.group(4)), 'line': line}
    last = None
    for km in TOKEN_RE.finditer(m.group(5)):
        if km.group(3):
            if km.group(3) in FLAGS or last is None:
                d[km.group(3)] = True
            else:
                d[last] += ' ' + km.group(3)
            continue
        k, v = km.group(1), km.group(2)
        last = k
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace('\\\\', '\\')
        d[k] = v
    for k in ('up', 'down'):
        if k in d:
            d[k] = int(d[k])
    if d.get('dur', '').endswith('s'):
        d['dur'] = float(d['dur'][:-1])
    return d


def match_conn(d, want):
    """Compare a parsed line with want: values are exact (compared as
    strings, ints as ints) or callables returning bool."""
    bad = []
    for k, v in want.items():
        got = d.get(k)
        if callable(v):
            ok = got is not None and (v(got, d) if getattr(v, 'needs_line', False) else v(got))
        elif isinstance(v, int) and not isinstance(v, bool):
            ok = got == v
        else:
            ok = got is not None and str(got) == str(v)
        if not ok:
            bad.append('%s=%r (want %s)' % (k, got, getattr(v, 'desc', repr(v))))
    return bad


def between(lo, hi):
    """Predicate lo <= v <= hi, for expect()."""
    f = lambda v: lo <= v <= hi
    f.desc = 'in [%s, %s]' % (lo, hi)
    return f


def at_least(lo):
    f = lambda v: v >= lo
    f.desc = '>= %s' % lo
    return f


def passthru_for(env):
    """The daemon to run with environment env: the test build when env sets a test knob."""
    if env and any(k.startswith(HOOK_VARS) for k in env):
        return PASSTHRU_HOOKS
    return PASSTHRU


class Passthru:
    """build/passthru on a config generated from a dict (or given as text); the test
    build, build/tests/passthru-hooks, when env sets a PASSTHRU_FAULT_* or
    PASSTHRU_SELFTEST_FAIL knob."""

    def __init__(self, suite, config, args=(), name=None, start=True, env=None,
                 default_workers=False):
        self.suite = suite
        self.env = env
        self.name = name or 'passthru%d' % len(suite.passthrus)
        # The daemon names its BPF pin directory after the config file: keep
        # it unique among concurrently running suites.
        self.config_path = suite.path('%s-%d.json' % (self.name, os.getpid()))
        self.args = list(args)
        self.default_workers = default_workers  # no -w: the daemon's own default
        self.proc = None
        self.set_config(config)
        suite.passthrus.append(self)
        if start:
            self.start()

    def set_config(self, config):
        self.config = config
        text = config if isinstance(config, str) else json.dumps(config, indent=1)
        tmp = self.config_path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, self.config_path)

    def listen_addrs(self):
        if isinstance(self.config, str):
            return []
        out = []
        for l in self.config.get('listeners', []):
            v = l['listen']
            out += [v] if isinstance(v, str) else v
        return out

    def port(self, i=0):
        """Port of the i-th listen address in the config."""
        return int(self.listen_addrs()[i].rsplit(':', 1)[1])

    def start(self, wait=True):
        binary = passthru_for(self.env)
        need_file(binary)
        args = list(self.args)
        if TIME_SCALE > 1 and '-t' not in args:
            # The daemon's default detection deadline stretches like ours.
            args += ['-t', str(int(3000 * TIME_SCALE))]
        if not self.default_workers and not {'-w', '--workers'} & set(args):
            # One worker unless a test asks: connection numbers (#ID) are
            # per worker, and the tests match log lines and counters by them.
            args += ['-w', '1']
        self.proc = Proc(self.suite, self.name, [binary, '-c', self.config_path] + args,
                         stdout=False, env=self.env)
        if wait:
            n = max(1, len(self.listen_addrs()))
            wait_for(lambda: self.log().count('listening on') >= n or not self.proc.alive(),
                     10, '%s to listen' % self.name)
            if not self.proc.alive():
                raise Fail('%s exited %s at start: %s' % (self.name, self.proc.p.returncode,
                                                          self.log()[-1500:]))
        return self

    def log(self):
        try:
            with open(self.proc.err_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (OSError, AttributeError):
            return ''

    def conns(self):
        """Every per-connection line logged so far, parsed, in log order. Only
        whole lines: one being written as we read is left for the next call."""
        out = []
        text = self.log()
        for line in text[:text.rfind('\n') + 1].splitlines():
            d = parse_conn_line(line)
            if d:
                out.append(d)
        return out

    def mark(self):
        return len(self.conns())

    def conns_after(self, mark, n, timeout=5):
        """Wait until n connection lines have been logged after mark; return them."""
        got = wait_for(lambda: (lambda c: c[mark:] if len(c) >= mark + n else None)(
            self.conns()), timeout, '%d connection log lines from %s' % (n, self.name))
        return got[:n]

    def conn_after(self, mark, timeout=5, **want):
        """The one connection line logged after mark, checked against want."""
        d = self.conns_after(mark, 1, timeout)[0]
        time.sleep(0.05)
        extra = self.conns()[mark + 1:]
        if extra:
            raise Fail('expected one connection line, got %d more: %s' % (
                len(extra), extra[0]['line']))
        expect(d, **want)
        return d

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=5):
        return self.proc.stop(signal.SIGTERM, timeout)

    def remove_dropped_leftovers(self):
        """A daemon that dropped to a "user" cannot remove its lock, socket,
        .pairs file and empty pin directory from root's directories; the next
        start of the same instance would (README, "Running as a service"), but
        our instance names carry a pid. Removed here, once it has exited."""
        if not isinstance(self.config, dict) or 'user' not in self.config or \
                (self.proc and self.proc.alive()):
            return
        inst = instance_of(self)
        for ext in ('.lock', '.sock', '.pairs'):
            try:
                os.unlink(os.path.join(RUN_DIR, inst + ext))
            except OSError:
                pass
        pins = os.path.join(PIN_ROOT, inst)
        for sub in ('shield', ''):  # empty once the daemon unpinned its maps
            try:
                os.rmdir(os.path.join(pins, sub) if sub else pins)
            except OSError:
                pass


def instance_of(pt):
    """The daemon's instance: --instance, else the config name without .json."""
    args = pt.args
    for i, a in enumerate(args):
        if a in ('--instance', '-i') and i + 1 < len(args):
            return args[i + 1]
        if a.startswith('--instance='):
            return a.split('=', 1)[1]
    base = os.path.basename(pt.config_path)
    return base[:-5] if base.endswith('.json') else base


def expect(d, **want):
    bad = match_conn(d, want)
    if bad:
        raise Fail('log line: %s\n  in: %s' % ('; '.join(bad), d['line']))


def listener(name, port, routes, **kw):
    l = {'name': name, 'listen': '127.0.0.1:%d' % port, 'routes': routes}
    if DATA_PLANE:
        l['data_plane'] = DATA_PLANE
    l.update(kw)
    return l


# What auto may log: copy, or copy then a move to the bulk plane.
AUTO_PLANES = ('copy', 'copy>splice', 'copy>sockmap')


def plane_ok(v, d=None):
    """The data plane a log line names is the one PT_DATA_PLANE asks for.
    With sockmap forced, splice is right only for a connection the daemon
    logged as fallback=peer-closed: its client had sent FIN before the
    handoff, and the kernel inserts only ESTABLISHED sockets. With auto, a
    connection starts on copy and may have moved ("copy>splice")."""
    if DATA_PLANE == 'sockmap' and v == 'splice':
        return (d or {}).get('fallback') == 'peer-closed'
    if DATA_PLANE in ('copy', 'splice', 'sockmap'):
        return v == DATA_PLANE
    if DATA_PLANE == 'auto':
        return v in AUTO_PLANES
    return v in ('splice', 'sockmap') + AUTO_PLANES


plane_ok.needs_line = True


plane_ok.desc = {'copy': 'copy', 'splice': 'splice', 'sockmap': 'sockmap',
                 'auto': 'copy, or copy moved to the bulk plane'}.get(
                     DATA_PLANE, 'any plane')


def route(name, forward=None, reject=False, **match):
    r = {'name': name}
    if match:
        r['match'] = match
    if reject:
        r['reject'] = True
    else:
        r['forward'] = forward
    return r


def addr(port):
    return '127.0.0.1:%d' % port


# --- in-process servers ---------------------------------------------------------


class TcpServer:
    """A loopback server running handler(sock, server) per connection in a thread."""

    def __init__(self, suite, handler, host='127.0.0.1'):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.handler = handler
        self.conns = []
        self.records = []
        self.lock = threading.Lock()
        self.closed = False
        suite.servers.append(self)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return addr(self.port)

    def _accept(self):
        while not self.closed:
            try:
                c, peer = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c, self)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def record(self, **kw):
        with self.lock:
            self.records.append(kw)

    def close(self):
        self.closed = True
        try:
            self.ls.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def echo(c, srv):
    """A TcpServer handler: send every byte back until EOF (the server then
    closes the socket: the FIN follows the last byte)."""
    while True:
        d = c.recv(1 << 16)
        if not d:
            return
        c.sendall(d)


def recv_all(sock, limit=1 << 30):
    """Read until EOF; returns the bytes."""
    buf = bytearray()
    while len(buf) < limit:
        d = sock.recv(65536)
        if not d:
            break
        buf += d
    return bytes(buf)


def ping(sock, msg):
    """Send msg to an echo peer and check that exactly msg comes back."""
    sock.sendall(msg)
    got = b''
    while len(got) < len(msg):
        d = sock.recv(65536)
        if not d:
            break
        got += d
    eq(got, msg, 'echo of %d bytes' % len(msg))


def finish(sock):
    """Half-close, read what is left until EOF, close; returns what was left."""
    sock.shutdown(socket.SHUT_WR)
    rest = recv_all(sock)
    sock.close()
    return rest


def recv_until(sock, marker, limit=65536):
    buf = b''
    while marker not in buf:
        d = sock.recv(4096)
        if not d:
            break
        buf += d
        if len(buf) > limit:
            break
    return buf


class HttpBackend(TcpServer):
    """Minimal HTTP/1.x server that answers with its name and what it saw.

    Body: "backend=NAME method=M host=H path=P\\n". Each connection is
    recorded with the exact bytes received (rx) and sent (tx), so a test
    can compare them with passthru's up=/down= counts.
    """

    def __init__(self, suite, name):
        self.name = name
        super().__init__(suite, self._handle)

    def _handle(self, c, _):
        req = read_head(c)
        rx = len(req)
        head = req.split(b'\r\n\r\n', 1)[0].decode('latin-1')
        lines = head.split('\r\n')
        parts = lines[0].split(' ')
        host = ''
        for h in lines[1:]:
            k, _, v = h.partition(':')
            if k.strip().lower() == 'host':
                host = v.strip()
        body = ('backend=%s method=%s host=%s path=%s\n' % (
            self.name, parts[0] if parts else '', host,
            parts[1] if len(parts) > 1 else '')).encode()
        resp = (b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n'
                b'Connection: close\r\n\r\n' % len(body)) + body
        c.sendall(resp)
        c.shutdown(socket.SHUT_WR)
        rx += len(recv_all(c))
        self.record(rx=rx, tx=len(resp), host=host, path=parts[1] if len(parts) > 1 else '')


# --- external backends -------------------------------------------------------------


def make_cert(suite, cn):
    """Self-signed EC certificate for cn (also its subjectAltName); returns (cert, key)."""
    cert, key = suite.path('%s.crt' % cn), suite.path('%s.key' % cn)
    if not os.path.exists(cert):
        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
             '-days', '2', '-subj', '/CN=%s' % cn, '-addext', 'subjectAltName=DNS:%s' % cn],
            check_rc=0)
    return cert, key


class TlsBackend:
    """openssl s_server -www with its own certificate (CN = cn), optional -alpn."""

    def __init__(self, suite, cn, alpn=None):
        self.cn = cn
        self.port = free_port()
        cert, key = make_cert(suite, cn)
        argv = ['openssl', 's_server', '-accept', '127.0.0.1:%d' % self.port, '-cert', cert,
                '-key', key, '-www', '-quiet']
        if alpn:
            argv += ['-alpn', alpn]
        self.proc = Proc(suite, 'tls-%s' % cn, argv)
        wait_for(lambda: is_listening(self.port) or not self.proc.alive(), 10,
                 's_server %s' % cn)
        if not self.proc.alive():
            raise Fail('s_server %s died: %s' % (cn, self.proc.stderr()))

    @property
    def addr(self):
        return addr(self.port)


class PtServer:
    """build/tests/ptstream server MODE ARGS on a kernel-chosen port."""

    def __init__(self, suite, mode, *args, opts=(), name=None):
        need_file(PTSTREAM)
        self.name = name or 'ptstream-%s-%d' % (mode, len(suite.procs))
        self.proc = Proc(suite, self.name, [PTSTREAM, 'server', '-v'] + list(opts) +
                         [mode] + [str(a) for a in args])
        m = wait_for(lambda: re.search(r'listening on \S+:(\d+)\n', self.proc.stdout())
                     or (not self.proc.alive() and 'dead'), 5, self.name)
        if m == 'dead':
            raise Fail('%s died: %s' % (self.name, self.proc.stderr()))
        self.port = int(m.group(1))

    @property
    def addr(self):
        return addr(self.port)

    def conn_lines(self):
        """The per-connection lines (ptstream server -v) as dicts."""
        out = []
        for line in self.proc.stderr().splitlines():
            m = re.match(r'ptstream: server #(\d+) (ok|FAIL) (.*)', line)
            if m:
                d = dict(kv.split('=', 1) for kv in m.group(3).split() if '=' in kv)
                d['idx'] = int(m.group(1))
                d['ok'] = m.group(2) == 'ok'
                d['line'] = line
                out.append(d)
        return out


def failures(err, pt=None, limit=5):
    """The FAIL lines of a ptstream client's stderr, each with passthru's log
    line for that connection (found by the client's local address)."""
    out = []
    conns = {d.get('client'): d['line'] for d in pt.conns()} if pt else {}
    for line in err.splitlines():
        if 'FAIL' not in line:
            continue
        m = re.search(r'local (\S+)\)$', line)
        if m and m.group(1) in conns:
            line += '\n      passthru: ' + conns[m.group(1)]
        out.append(line)
        if len(out) == limit:
            break
    return out


def no_failures(rc, err, pt, what):
    """Fail with the ptstream client's failures (and passthru's lines for them)."""
    f = failures(err, pt)
    if rc or f:
        raise Fail('%s: ptstream exited %d\n    %s' % (what, rc, '\n    '.join(f) or err[-500:]))


def ptstream_client(*args, timeout=120):
    """Run ptstream client ARGS; returns (rc, stdout, stderr)."""
    need_file(PTSTREAM)
    return run([PTSTREAM, 'client'] + [str(a) for a in args], timeout=timeout)


class Sshd:
    """A real sshd on 127.0.0.1 with a generated host key and a root login key."""

    def __init__(self, suite):
        need_root('sshd')
        need_file(SSHD)
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        self.port = free_port()
        d = suite.path('sshd')
        os.makedirs(d, exist_ok=True)
        self.hostkey = os.path.join(d, 'ssh_host_ed25519_key')
        self.userkey = os.path.join(d, 'id_ed25519')
        for k in (self.hostkey, self.userkey):
            run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'pt-e2e', '-f', k],
                check_rc=0)
        shutil.copy(self.userkey + '.pub', os.path.join(d, 'authorized_keys'))
        conf = os.path.join(d, 'sshd_config')
        with open(conf, 'w') as f:
            f.write('\n'.join([
                'Port %d' % self.port, 'ListenAddress 127.0.0.1',
                'HostKey %s' % self.hostkey, 'PidFile none', 'UsePAM no',
                'StrictModes no', 'PermitRootLogin prohibit-password',
                'PubkeyAuthentication yes', 'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'AuthorizedKeysFile %s' % os.path.join(d, 'authorized_keys'),
                'LogLevel INFO', '']))
        self.proc = Proc(suite, 'sshd', [SSHD, '-D', '-e', '-f', conf])
        wait_for(lambda: is_listening(self.port) or not self.proc.alive(), 10, 'sshd')
        if not self.proc.alive():
            raise Fail('sshd died: %s' % self.proc.stderr())

    @property
    def addr(self):
        return addr(self.port)

    def host_key(self):
        """The public host key as "ssh-ed25519 BASE64"."""
        with open(self.hostkey + '.pub') as f:
            return ' '.join(f.read().split()[:2])


class Dante:
    """danted SOCKS 4/4a/5 server on 127.0.0.1, no authentication, loopback only."""

    def __init__(self, suite):
        need_root('danted')
        need_file(DANTED)
        self.port = free_port()
        conf = suite.path('danted.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join([
                'logoutput: stderr', 'internal: 127.0.0.1 port = %d' % self.port,
                'external: 127.0.0.1', 'socksmethod: none', 'clientmethod: none',
                'user.privileged: root', 'user.unprivileged: nobody',
                'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
                'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 protocol: tcp }', '']))
        self.proc = Proc(suite, 'danted', [DANTED, '-f', conf, '-p', suite.path('danted.pid'),
                                            '-N', '1'])
        wait_for(lambda: is_listening(self.port) or not self.proc.alive(), 10, 'danted')
        if not self.proc.alive():
            raise Fail('danted died: %s' % self.proc.stderr())

    @property
    def addr(self):
        return addr(self.port)


# --- clients -------------------------------------------------------------------------


def s_client(port, sni=None, alpn=None, extra=(), timeout=10, request=True):
    """openssl s_client to 127.0.0.1:port; returns its stdout+stderr.

    With request (for s_server -www backends) it sends "GET / HTTP/1.0" and
    reads until the server closes, so both ends close cleanly (a client that
    quits with the server's session tickets unread resets the connection);
    without, stdin is at EOF and s_client quits after the handshake.
    """
    argv = ['openssl', 's_client', '-connect', '127.0.0.1:%d' % port]
    argv += ['-servername', sni] if sni else ['-noservername']
    if alpn:
        argv += ['-alpn', alpn]
    if request:
        argv.append('-ign_eof')
    rc, out, err = run(argv + list(extra), timeout=timeout,
                       input=b'GET / HTTP/1.0\r\n\r\n' if request else b'')
    return out + err


def cert_cn(out):
    """Subject CN of the peer certificate in s_client or curl -v output."""
    m = re.search(r'subject=\s*CN\s*=\s*(\S+)', out) or re.search(r'subject: CN=(\S+)', out)
    return m.group(1) if m else None


def curl(*args, timeout=10):
    rc, out, err = run(['curl', '-sS', '--max-time', str(timeout)] + list(args),
                       timeout=timeout + 5)
    return rc, out, err


def connect(port, host='127.0.0.1', source=None, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def read_head(c):
    """Read a request head on a backend's socket: what came up to the blank
    line (and any bytes behind it in the last read), or less if the peer
    closed first."""
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    return buf


def read_closed(sock, timeout):
    """Read until the peer closes; returns (data, 'eof'|'reset'|'timeout', seconds)."""
    t0 = time.monotonic()
    sock.settimeout(timeout)
    data = b''
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return data, 'eof', time.monotonic() - t0
            data += d
    except ConnectionResetError:
        return data, 'reset', time.monotonic() - t0
    except socket.timeout:
        return data, 'timeout', time.monotonic() - t0


def capture_client_hello(suite, sni, alpn=None):
    """The first TLS record openssl s_client sends for sni (a real ClientHello)."""
    got = {}

    def handler(c, srv):
        buf = b''
        c.settimeout(5)
        while len(buf) < 5 or len(buf) < 5 + int.from_bytes(buf[3:5], 'big'):
            d = c.recv(65536)
            if not d:
                break
            buf += d
        got['hello'] = buf[:5 + int.from_bytes(buf[3:5], 'big')]

    srv = TcpServer(suite, handler)
    s_client(srv.port, sni, alpn, request=False)
    srv.close()
    hello = got.get('hello', b'')
    check(len(hello) > 100 and hello[0] == 0x16, 'captured a ClientHello for %s' % sni)
    return hello
