# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Shared helpers for the kernel data plane (sockmap) tests in tests/bpf/.

Builds on the e2e harness (tests/e2e/ptharness.py: Suite, Passthru,
backends, log parsing) and adds what only these tests need:

  * BpfSuite: a Suite whose tests skip, with the reason, when the kernel
    data plane cannot run here (not root, or the daemon logged "kernel data
    plane unavailable"), and which removes the pin directories of the
    daemons it started if one was killed before it could unpin;
  * sockmap_daemon(): passthru at -v with every listener on data_plane
    "sockmap", checked to have loaded the kernel data plane;
  * the -v per-direction counters ("#ID: sockmap up: redirected=..") parsed;
  * the bpf(2) syscall through ctypes: open pinned maps, list keys, read
    the pt_pairs array (struct pt_pair, include/passthru.h) by mmap;
  * bpftool -j, kernel memory samples, fd counts.
"""
import ctypes
import json
import mmap
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'e2e'))

from ptharness import *  # noqa: E402,F401,F403  (re-exported for the tests)
from ptharness import (Suite, Passthru, Skip, Fail, Proc, check, eq, wait_for,  # noqa: E402
                       is_root, free_port, PASSTHRU, PTSTREAM)

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
BPFTOOL = os.environ.get('BPFTOOL', 'bpftool')
HTTP_PREFIX = 'POST /up HTTP/1.1\\r\\nHost: bpf.example\\r\\n\\r\\n'  # ptstream escapes
HTTP_PREFIX_BYTES = b'POST /up HTTP/1.1\r\nHost: bpf.example\r\n\r\n'


# --- suite and daemon ------------------------------------------------------------------


class BpfSuite(Suite):
    """A Suite that knows whether the kernel data plane works here.

    Call need_bpf() at the top of every test: it raises Skip with the
    reason found by the first daemon started through sockmap_daemon() (or
    "needs root"), so a machine without BPF reports every test as skipped,
    visibly, and none as passed.
    """

    def __init__(self, name):
        super().__init__(name)
        self.bpf_why = None if is_root() else 'the kernel data plane needs root'
        self.instances = []
        # Runs before the harness's own cleanup (atexit is LIFO): kill first.
        import atexit
        atexit.register(self._unpin_leftovers)

    def need_bpf(self):
        if self.bpf_why:
            raise Skip(self.bpf_why)

    def _unpin_leftovers(self):
        self.cleanup()
        for inst in self.instances:
            unpin(inst)


def unpin(instance):
    """Remove a pin directory (only call it once its daemon is dead)."""
    d = os.path.join(PIN_ROOT, instance)
    if not os.path.isdir(d):
        return False
    for f in os.listdir(d):
        try:
            os.unlink(os.path.join(d, f))
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass
    return True


def pin_dir(pt):
    return os.path.join(PIN_ROOT, instance_of(pt))


def sockmap_daemon(suite, listeners, args=(), name=None, env=None, **top):
    """Start passthru -v on these listeners (data_plane "sockmap" unless set).

    Returns the Passthru. If the daemon could not load the kernel data
    plane, records why in suite.bpf_why (so need_bpf() skips) and returns
    it anyway; if it did, checks the pin directory exists.
    """
    suite.need_bpf()
    for l in listeners:
        l.setdefault('data_plane', 'sockmap')
    cfg = dict(top)
    cfg['listeners'] = listeners
    pt = Passthru(suite, cfg, args=['-v'] + list(args), name=name, env=env)
    suite.instances.append(instance_of(pt))
    log = wait_for(lambda: re.search(r'kernel data plane (loaded|unavailable)[^\n]*|'
                                     r'cannot load the (kernel) data plane[^\n]*', pt.log()),
                   5, 'the data plane line in the log')
    if log.group(1) != 'loaded':
        suite.bpf_why = 'daemon says: %s' % log.group(0)
        raise Skip(suite.bpf_why)
    wait_for_startup(pt)
    check(os.path.isdir(pin_dir(pt)), 'pin directory %s exists' % pin_dir(pt))
    return pt


def wait_for_startup(pt, timeout=5):
    """Wait for the daemon's startup line (logged once it is fully up, after
    its listeners, data plane and control socket); returns the data planes
    it names ("copy+splice")."""
    m = wait_for(lambda: re.search(r', \d+ workers, data planes ([\w+]+)', pt.log()) or
                 (not pt.proc.alive() and 'dead'), timeout, 'the startup line of %s' % pt.name)
    if m == 'dead':
        raise Fail('%s exited at start: %s' % (pt.name, pt.log()[-800:]))
    return m.group(1)


def listener(name, port, routes, **kw):
    l = {'name': name, 'listen': '127.0.0.1:%d' % port, 'routes': routes}
    l.update(kw)
    return l


# --- log lines ------------------------------------------------------------------------

SM_RE = re.compile(r'conn: #(\d+): sockmap (up|down): (.*)$')


def sockmap_counters(pt):
    """{conn id: {'up': {...}, 'down': {...}}} from the -v lines logged at close."""
    out = {}
    for line in pt.log().splitlines():
        m = SM_RE.search(line)
        if not m:
            continue
        kv = dict(x.split('=', 1) for x in m.group(3).split() if '=' in x)
        if not kv:
            continue  # a warning about the direction, not its counters
        out.setdefault(int(m.group(1)), {})[m.group(2)] = {k: int(v) for k, v in kv.items()}
    return out


def all_sockmap(lines, what='connections'):
    """Fail unless every parsed connection line says plane=sockmap."""
    bad = [d['line'] for d in lines if d.get('plane') != 'sockmap']
    check(not bad, '%d of %d %s did not go through plane=sockmap, e.g.: %s' % (
        len(bad), len(lines), what, bad[0] if bad else ''))


def conns_by_id(pt):
    return {d['id']: d for d in pt.conns()}


# --- ptstream --------------------------------------------------------------------------

CLIENT_OK_RE = re.compile(
    r'^#(\d+) ok up=(\d+) down=(\d+) up_sha256=(\w+) down_sha256=(\w+)\b', re.M)
TOTALS_RE = re.compile(r'(\d+) connections: (\d+) ok, (\d+) failed; up (\d+) bytes, '
                       r'down (\d+) bytes in ([\d.]+) s')


def client_conns(out):
    """ptstream client -v lines: [(idx, up, down, up_sha, down_sha)]."""
    return [(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5))
            for m in CLIENT_OK_RE.finditer(out)]


def client_totals(out):
    m = TOTALS_RE.search(out)
    check(m, 'ptstream totals line in: %r' % out[-300:])
    g = m.groups()
    return {'n': int(g[0]), 'ok': int(g[1]), 'failed': int(g[2]), 'up': int(g[3]),
            'down': int(g[4]), 'secs': float(g[5])}


def upload_arrived(daemon, sink, m, n0, rc, out, err, size):
    """What an upload (ptstream -m upload -v, route 'slow') to a slow upstream
    must show at the end: ptstream succeeded, @sink (a TcpServer recording rx
    and sha) got each byte, the connection ended done on sockmap, and its
    counters account for every byte (the daemon wrote all it was passed).
    @m and @n0: the daemon's log mark and len(sink.records) before. Returns
    the upload direction's counters, the total and the sink's record."""
    eq(rc, 0, 'ptstream upload exit status (%s)' % err.strip()[:300])
    (idx, up, down, up_sha, _), = client_conns(out)
    total = len(HTTP_PREFIX_BYTES) + size
    eq(up, total, 'bytes the client sent')
    r = wait_for(lambda: sink.records[n0:] and sink.records[n0], 5, 'sink record')
    eq((r['rx'], r['sha']), (total, up_sha), 'bytes and sha256 the slow upstream received')
    d = daemon.conn_after(m, timeout=10)
    expect(d, route='slow', plane='sockmap', end='done', up=total)
    k = wait_for(lambda: sockmap_counters(daemon).get(d['id']), 5, 'counters')['up']
    eq(k['redirected'] + k['consumed'], total, 'redirected + consumed')
    eq(k['passed'], k['consumed'], 'every passed byte written by the daemon')
    eq(k['redirect_fail'], 0, 'redirect_fail')
    return k, total, r


def server_conn(srv, n_before, timeout=10):
    """The first per-connection line of a PtServer after n_before, checked ok."""
    lines = wait_for(lambda: len(srv.conn_lines()) > n_before and srv.conn_lines(), timeout,
                     '%s connection line' % srv.name)
    d = lines[n_before]
    check(d['ok'], '%s: %s' % (srv.name, d['line']))
    return d


# --- bpf(2) ---------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
NR_BPF = 321  # x86_64
BPF_MAP_LOOKUP_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD = 1, 4, 7, 15


def _bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = _libc.syscall(NR_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def obj_get(path):
    """fd of a pinned BPF object."""
    p = ctypes.create_string_buffer(path.encode())
    return _bpf(BPF_OBJ_GET, struct.pack('QII', ctypes.addressof(p), 0, 0))


def map_info(fd):
    """{'type', 'id', 'key_size', 'value_size', 'max_entries', 'flags', 'name'}."""
    info = ctypes.create_string_buffer(128)
    _bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack('IIQ', fd, 128, ctypes.addressof(info)))
    t, i, ks, vs, me, fl = struct.unpack_from('6I', info.raw)
    name = info.raw[24:40].split(b'\0', 1)[0].decode()
    return {'type': t, 'id': i, 'key_size': ks, 'value_size': vs, 'max_entries': me,
            'flags': fl, 'name': name}


def map_keys(fd, key_size):
    """Every key of a hash-like map, as bytes."""
    keys = []
    cur = None
    nxt = ctypes.create_string_buffer(key_size)
    while True:
        kp = ctypes.addressof(cur) if cur is not None else 0
        try:
            _bpf(BPF_MAP_GET_NEXT_KEY, struct.pack('IIQQ', fd, 0, kp, ctypes.addressof(nxt)))
        except OSError as e:
            if e.errno == 2:  # ENOENT: no more keys
                return keys
            raise
        keys.append(nxt.raw)
        cur = ctypes.create_string_buffer(nxt.raw, key_size)
        if len(keys) > 10000000:
            raise Fail('map key iteration does not end')


def map_lookup(fd, key, value_size):
    """The value (bytes) stored under key, or None."""
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value_size)
    try:
        _bpf(BPF_MAP_LOOKUP_ELEM, struct.pack('IIQQQ', fd, 0, ctypes.addressof(k),
                                              ctypes.addressof(v), 0))
    except OSError as e:
        if e.errno == 2:
            return None
        raise
    return v.raw


def read_meta(pin):
    """struct pt_meta from the pt_meta map pinned in directory pin."""
    fd = obj_get(os.path.join(pin, 'pt_meta'))
    try:
        raw = map_lookup(fd, struct.pack('I', 0), map_info(fd)['value_size'])
    finally:
        os.close(fd)
    magic, abi, pair_size, n_slots, n_workers, pid, start_ns, miss = struct.unpack_from(
        '6IQQ', raw, 0)
    return {'magic': magic, 'abi': abi, 'pair_size': pair_size, 'n_slots': n_slots,
            'n_workers': n_workers, 'pid': pid, 'redirect_miss': miss,
            'instance': raw[40:72].split(b'\0', 1)[0].decode()}


def pinned_keys(pt, name):
    fd = obj_get(os.path.join(pin_dir(pt), name))
    try:
        return map_keys(fd, map_info(fd)['key_size'])
    finally:
        os.close(fd)


PAIR_SIZE = 376  # struct pt_pair; bump with PT_ABI_VERSION
DIR_FIELDS = ('redirected', 'packets', 'passed', 'consumed', 'copied', 'peer_base',
              'max_queued', 'pass_events', 'redirect_fail')
STATE_NAMES = {0: 'free', 1: 'relaying', 2: 'half-closed', 3: 'draining', 4: 'closing'}


def parse_pair(raw):
    """struct pt_pair (include/passthru.h) as a dict."""
    c0, c1 = struct.unpack_from('QQ', raw, 0)
    dirs = []
    for d in range(2):
        dirs.append(dict(zip(DIR_FIELDS, struct.unpack_from('9Q', raw, 16 + 72 * d))))
    limit, start_ns, conn_id, state, plane = struct.unpack_from('QQQII', raw, 160)
    return {'cookie': (c0, c1), 'dir': dirs, 'limit': limit, 'conn_id': conn_id,
            'state': state, 'plane': plane}


class Pairs:
    """The pinned pt_pairs array, mapped read-only (it is BPF_F_MMAPABLE)."""

    def __init__(self, pt):
        fd = obj_get(os.path.join(pin_dir(pt), 'pt_pairs'))
        try:
            info = map_info(fd)
            eq(info['value_size'], PAIR_SIZE, 'pt_pairs value size (struct pt_pair)')
            self.n = info['max_entries']
            size = (self.n * PAIR_SIZE + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
            self.m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)

    def slot(self, i):
        return parse_pair(self.m[i * PAIR_SIZE:(i + 1) * PAIR_SIZE])

    def states(self):
        """state of every slot, in slot order."""
        return [struct.unpack_from('I', self.m, i * PAIR_SIZE + 184)[0] for i in range(self.n)]

    def find(self, conn_id):
        """The slot in use for this connection id, or None."""
        for i in range(self.n):
            off = i * PAIR_SIZE
            cid, state = struct.unpack_from('QI', self.m, off + 176)
            if cid == conn_id and state:
                return i
        return None

    def close(self):
        self.m.close()


# --- bpftool --------------------------------------------------------------------------


def bpftool_j(*args):
    """bpftool -j ARGS, parsed; (rc, obj or None, stderr)."""
    p = subprocess.run([BPFTOOL, '-j'] + list(args), capture_output=True, text=True, timeout=30)
    try:
        obj = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        obj = None
    return p.returncode, obj, p.stderr.strip()


# --- the machine -----------------------------------------------------------------------


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def mem_sample():
    """Kernel memory figures: TCP pages (sockstat), skb slab objects, MemAvailable."""
    s = {}
    with open('/proc/net/sockstat') as f:
        m = re.search(r'^TCP:.* mem (\d+)', f.read(), re.M)
        s['tcp_mem_pages'] = int(m.group(1)) if m else 0
    skbs = 0
    for cache in ('skbuff_head_cache', 'skbuff_fclone_cache'):
        # SLUB: objects in use (merged caches count their aliases too).
        try:
            with open('/sys/kernel/slab/%s/objects' % cache) as f:
                skbs += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    s['skbs'] = skbs
    with open('/proc/meminfo') as f:
        for line in f:
            k, v = line.split(':', 1)
            if k in ('MemAvailable', 'Slab'):
                s[k] = int(v.split()[0]) * 1024
    return s


class MemSampler:
    """Samples mem_sample() in a thread every interval seconds."""

    def __init__(self, interval=0.05):
        import threading
        self.samples = []
        self.base = mem_sample()
        self._stop = threading.Event()
        self.interval = interval
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(mem_sample())
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()
        self.t.join()
        return self

    def peak(self):
        """Largest increase over the baseline: TCP bytes, skb objects, memory used."""
        b = self.base
        return {
            'tcp_mem_bytes': max(x['tcp_mem_pages'] for x in self.samples) * 4096 -
            b['tcp_mem_pages'] * 4096,
            'skbs': max(x['skbs'] for x in self.samples) - b['skbs'],
            'mem_used_bytes': b['MemAvailable'] - min(x['MemAvailable'] for x in self.samples),
            'slab_bytes': max(x['Slab'] for x in self.samples) - b['Slab'],
        }
