# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Shared helpers for the stress tests in tests/stress/ (make stress).

Builds on the e2e harness (tests/e2e/ptharness.py: Suite, Passthru, backends,
log parsing) and the BPF helpers (tests/bpf/bpftest.py: pinned maps, the
pt_pairs array) and adds what the stress tests need:

  * planes(): the data planes to run (PT_DATA_PLANE, or auto, splice, sockmap);
  * daemon(): passthru with every listener on one data plane, checked to
    have loaded the kernel data plane when that is sockmap (else Skip);
  * the daemon's process tree: RSS, descriptors by kind (sockets, pipes);
  * leak checks: descriptors back to a baseline, pinned maps empty, every
    pair slot free;
  * the control socket (stats) without passthru-ctl;
  * percentiles, ptloris.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, os.path.join(HERE, '..', 'bpf'))

from ptharness import *  # noqa: E402,F401,F403  (re-exported for the tests)
from ptharness import (Passthru, Skip, Fail, check, eq, wait_for, BUILD, DATA_PLANE,  # noqa: E402
                       AUTO_PLANES, slack)
import bpftest  # noqa: E402
from bpftest import (Pairs, pinned_keys, pin_dir, instance_of, wait_for_startup,  # noqa: E402,F401
                     KiB, MiB)

PTLORIS = os.path.join(BUILD, 'tests', 'ptloris')
PASSTHRU_CTL = os.path.join(BUILD, 'passthru-ctl')


def planes():
    """The data planes to test: PT_DATA_PLANE if it names one, else auto (the
    default: copy, bulk moved to splice), splice and sockmap."""
    if DATA_PLANE in ('auto', 'copy', 'splice', 'sockmap'):
        return [DATA_PLANE]
    return ['auto', 'splice', 'sockmap']


def logged_plane_ok(plane, d):
    """Is the plane= of log line @d right for a daemon run on @plane? auto
    starts on copy and may move ("copy>splice"); sockmap may fall back to
    splice for a client whose FIN came before the handoff, or without a slot."""
    if plane == 'auto':
        return d.get('plane') in AUTO_PLANES
    if plane == 'sockmap':
        return d.get('plane') == 'sockmap' or d.get('fallback') in ('peer-closed', 'no-slot')
    return d.get('plane') == plane


def daemon(suite, listeners, plane, args=(), name=None, **top):
    """Start passthru with data_plane=plane on every listener.

    For sockmap, raises Skip (with the daemon's reason) when the kernel data
    plane cannot load here, and registers the instance so its pins go even
    if the daemon is killed. Returns the Passthru once it is fully up.
    """
    if plane == 'sockmap' and not is_root():
        raise Skip('the kernel data plane needs root')
    for l in listeners:
        l['data_plane'] = plane
    cfg = dict(top)
    cfg['listeners'] = listeners
    pt = Passthru(suite, cfg, args=list(args), name=name)
    if hasattr(suite, 'instances'):
        suite.instances.append(instance_of(pt))
    if plane == 'sockmap':
        m = wait_for(lambda: re.search(r'kernel data plane (loaded|unavailable)[^\n]*|'
                                       r'cannot load the kernel data plane[^\n]*', pt.log()) or
                     (not pt.proc.alive() and 'dead'), 10, 'the data plane line of %s' % pt.name)
        if m == 'dead' or not m.group(1) or m.group(1) == 'unavailable':
            why = pt.log()[-300:] if m == 'dead' else m.group(0)
            pt.stop()
            raise Skip('no kernel data plane: %s' % why.strip())
    wait_for_startup(pt, timeout=10)
    return pt


class StressSuite(bpftest.BpfSuite):
    """A Suite that also removes the pins of daemons it had to kill."""

    def __init__(self, name):
        super().__init__(name)
        self.bpf_why = None


# --- the daemon's processes ----------------------------------------------------------------


def proc_tree(pid):
    """pid and all its descendants (passthru -w N: the master and its workers)."""
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(')', 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def rss_bytes(pid):
    """Resident memory of pid and its descendants, in bytes."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open('/proc/%d/status' % p) as f:
                m = re.search(r'^VmRSS:\s+(\d+) kB', f.read(), re.M)
        except OSError:
            continue
        if m:
            total += int(m.group(1)) * 1024
    return total


def fd_kinds(pid):
    """Descriptors of pid and its descendants by kind: socket, pipe, other."""
    out = {'socket': 0, 'pipe': 0, 'other': 0}
    for p in proc_tree(pid):
        d = '/proc/%d/fd' % p
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            try:
                t = os.readlink(os.path.join(d, n))
            except OSError:
                continue
            k = t.split(':', 1)[0]
            out[k if k in ('socket', 'pipe') else 'other'] += 1
    return out


def no_leaks(pt, base, plane, what='after the tests', timeout=10):
    """Wait until the daemon holds no more sockets than base (fd_kinds() of
    the idle daemon) and no other new descriptors (idle pipes are pooled,
    up to 1024 per worker, and not counted); with sockmap also check that
    pt_socks, pt_rx and pt_tx are empty and every pt_pairs slot is free.
    Returns a one-line description of what was checked."""
    pid = pt.proc.pid

    def settled():
        now = fd_kinds(pid)
        return now if now['socket'] <= base['socket'] and now['other'] <= base['other'] else None

    try:
        now = wait_for(settled, timeout, 'the daemon to release its descriptors')
    except Fail:
        now = fd_kinds(pid)
        raise Fail('%s: descriptor leak: %s, idle daemon had %s' % (what, now, base))
    if plane != 'sockmap':
        return 'sockets %d (idle %d), pipes %d' % (now['socket'], base['socket'], now['pipe'])
    left = {}
    for name in ('pt_socks', 'pt_rx', 'pt_tx'):
        try:
            keys = wait_for(lambda: not pinned_keys(pt, name) or None, timeout,
                            '%s to be empty' % name)
        except Fail:
            keys = pinned_keys(pt, name)
            left[name] = len(keys)
    pairs = Pairs(pt)
    try:
        busy = [i for i, st in enumerate(pairs.states()) if st]
        n = pairs.n
    finally:
        pairs.close()
    check(not left and not busy, '%s: map entries left %s, pair slots in use %s' % (
        what, left, busy[:10]))
    return 'sockets %d (idle %d), pipes %d, pt_socks/pt_rx/pt_tx empty, %d pair slots free' % (
        now['socket'], base['socket'], now['pipe'], n)


# --- the control socket ----------------------------------------------------------------


def control(pt, command, timeout=5):
    """One command on the daemon's control socket; the JSON answer."""
    path = pt.config.get('control_socket') if isinstance(pt.config, dict) else None
    path = path or '/run/passthru/%s.sock' % instance_of(pt)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(command.encode() + b'\n')
        buf = b''
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    return json.loads(buf)


def listener_stats(pt, idx=0):
    return control(pt, 'stats')['listeners'][idx]


# --- numbers -------------------------------------------------------------------------------


def pct(values, p):
    """The p-th percentile (0..100) of values, nearest rank."""
    v = sorted(values)
    if not v:
        return float('nan')
    i = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[i]


def mib(n):
    return n / float(MiB)


def sysctl(name):
    with open('/proc/sys/' + name.replace('.', '/')) as f:
        return [int(x) for x in f.read().split()]


# --- ptloris -------------------------------------------------------------------------------

LORIS_SUM_RE = re.compile(
    r'^ptloris: (idle|slow): (\d+) connected, (\d+) closed \(eof (\d+), reset (\d+)\), (\d+) open, '
    r'(\d+) failed; life s: min ([\d.]+) p50 ([\d.]+) p99 ([\d.]+) max ([\d.]+)$', re.M)
LORIS_CONN_RE = re.compile(
    r'^#(\d+) (idle|slow) life=(-?[\d.]+) how=(\S+) sent=(\d+) rx=(\d+) local=(\S+)$', re.M)


def loris_summary(out):
    """{kind: {connected, closed, eof, reset, open, failed, min, p50, p99, max}}."""
    res = {}
    for m in LORIS_SUM_RE.finditer(out):
        g = m.groups()
        res[g[0]] = dict(zip(('connected', 'closed', 'eof', 'reset', 'open', 'failed'),
                             map(int, g[1:7])))
        res[g[0]].update(zip(('min', 'p50', 'p99', 'max'), map(float, g[7:])))
    return res


def loris_conns(out):
    """The -v lines: [{idx, kind, life, how, sent, rx, local}]."""
    return [{'idx': int(m.group(1)), 'kind': m.group(2), 'life': float(m.group(3)),
             'how': m.group(4), 'sent': int(m.group(5)), 'rx': int(m.group(6)),
             'local': m.group(7)} for m in LORIS_CONN_RE.finditer(out)]


def c_escape(data):
    """bytes as a ptloris/ptstream text argument (\\xNN for anything unusual)."""
    out = []
    for b in data:
        c = chr(b)
        if c == '\\':
            out.append('\\\\')
        elif 0x21 <= b < 0x7f:
            out.append(c)
        else:
            out.append('\\x%02x' % b)
    return ''.join(out)


# --- a private network namespace -----------------------------------------------------------

NETNS_ENV = 'PT_STRESS_NETNS'
BLACKHOLE_ENV = 'PT_STRESS_BLACKHOLE'
BLACKHOLE_NET = '10.254.0'
BLACKHOLE_MAC = '02:00:00:00:00:fe'  # owned by nobody: frames to it are dropped


def _ip(*args):
    return subprocess.run(['ip'] + list(args), capture_output=True, text=True, timeout=10)


def _netns_cleanup(name):
    """Kill whatever still runs in the namespace (only our children can), delete it."""
    for _ in range(3):
        pids = [int(p) for p in _ip('netns', 'pids', name).stdout.split()]
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    _ip('netns', 'del', name)


def run_in_netns(script, n_blackholes=2):
    """Run script again inside a new network namespace and return its exit
    status, or None (with a note) when no namespace can be made here, in
    which case the caller runs in the current namespace and the tests that
    need one skip.

    The namespace has lo up and a veth pair bh0/bh1 (both ends inside):
    bh0 is BLACKHOLE_NET.1/24 and BLACKHOLE_NET.2, .3, ... have permanent
    neighbour entries to a MAC nobody owns, so a SYN to them leaves bh0,
    reaches bh1 addressed to another host and is dropped: a connect there
    times out. The child finds those addresses in $PT_STRESS_BLACKHOLE. The
    namespace and everything in it go when the child ends, or when this
    process is told to stop.
    """
    if os.environ.get(NETNS_ENV):
        return None
    if not is_root() or not shutil.which('ip') or not shutil.which('nsenter'):
        print('note: no private network namespace (needs root, ip, nsenter)', flush=True)
        return None
    name = 'ptstress-%d' % os.getpid()
    r = _ip('netns', 'add', name)
    if r.returncode:
        print('note: ip netns add: %s' % r.stderr.strip(), flush=True)
        return None
    child = None

    def stop(signo, frame):
        if child and child.poll() is None:
            child.send_signal(signo)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                pass
        _netns_cleanup(name)
        sys.exit(128 + signo)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        holes = ['%s.%d' % (BLACKHOLE_NET, 2 + i) for i in range(n_blackholes)]
        steps = [('link', 'set', 'lo', 'up'),
                 ('link', 'add', 'bh0', 'type', 'veth', 'peer', 'name', 'bh1'),
                 ('addr', 'add', BLACKHOLE_NET + '.1/24', 'dev', 'bh0'),
                 ('link', 'set', 'bh0', 'up'), ('link', 'set', 'bh1', 'up')]
        steps += [('neigh', 'replace', h, 'lladdr', BLACKHOLE_MAC, 'dev', 'bh0', 'nud',
                   'permanent') for h in holes]
        for st in steps:
            r = _ip('-n', name, *st)
            if r.returncode:
                print('note: ip -n %s %s: %s' % (name, ' '.join(st), r.stderr.strip()),
                      flush=True)
                return None
        env = dict(os.environ)
        env[NETNS_ENV] = name
        env[BLACKHOLE_ENV] = ','.join(holes)
        print('running in network namespace %s (black holes %s)' % (name, ', '.join(holes)),
              flush=True)
        child = subprocess.Popen(['nsenter', '--net=/run/netns/' + name, sys.executable,
                                  os.path.abspath(script)] + sys.argv[1:], env=env)
        return child.wait()
    finally:
        if child and child.poll() is None:
            child.kill()
            child.wait()
        _netns_cleanup(name)


def blackholes():
    """Addresses a connect to times out (inside run_in_netns), or []."""
    v = os.environ.get(BLACKHOLE_ENV)
    return v.split(',') if v and os.environ.get(NETNS_ENV) else []
