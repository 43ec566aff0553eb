# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Helpers for the XDP shield tests (tests/bpf/test_shield*.py).

  * Net: network namespaces joined by veth pairs, made and removed by the
    test: a server namespace (where passthru runs and the shield attaches)
    and client namespaces, each with IPv4 and IPv6 addresses on its veth;
    a macvlan on the server side gives an interface without native XDP;
  * sock_in(): a socket created inside a namespace (setns(2) on this
    thread, then back), usable from the test as any other;
  * NsPassthru: the daemon started inside the server namespace (nsenter
    --net: the mount namespace, hence /sys/fs/bpf, stays the host's);
  * counters(): the shield's per-CPU counters summed per reason, read with
    bpftool from the pinned map; xdp_status(): `xdp-loader status` there;
  * syn_flood(): bare SYNs from a raw socket inside a namespace.
"""
import json
import os
import random
import socket
import struct
import subprocess
import time

from bpftest import (Suite, Passthru, Proc, Skip, Fail, check, eq, wait_for, is_root,  # noqa: F401
                     need_file, PASSTHRU, TIME_SCALE, PIN_ROOT, BPFTOOL)
from ptnet import In, in_ns, sh, sock_in, netns_unavailable as _netns_unavailable  # noqa: E402,F401 (bpftest put e2e on the path)

REASONS = ('pass', 'banned', 'denied', 'not_allowed', 'rate')  # enum pt_shield_reason
R_MAX = len(REASONS)


def netns_unavailable():
    return _netns_unavailable('network namespaces, XDP')


class Net:
    """A server namespace and @n_clients client namespaces, one veth pair each.

    Client i reaches the server at 10.<b>.<i>.1 / fd<b>:<i>::1 from
    10.<b>.<i>.2 (and .3, a second source) / fd<b>:<i>::2 (and ::3); the
    server side of pair i is "vs<i>", the client side "vc<i>".
    """

    def __init__(self, suite, n_clients=1, macvlan=False):
        self.tag = '%d' % (os.getpid() % 100000)
        self.b = 100 + os.getpid() % 100
        self.srv = 'ptsh-%s-s' % self.tag
        self.clients = ['ptsh-%s-c%d' % (self.tag, i) for i in range(n_clients)]
        self.made = []
        suite.nets.append(self)
        self._add(self.srv)
        sh('ip', '-n', self.srv, 'link', 'set', 'lo', 'up')
        for i, c in enumerate(self.clients):
            self._add(c)
            sh('ip', '-n', c, 'link', 'set', 'lo', 'up')
            self.add_pair(i)
        if macvlan:
            # on vs0: the client of pair 0 reaches it at 10.<b>.100.1
            p = subprocess.run(['ip', '-n', self.srv, 'link', 'add', 'mv0', 'link', 'vs0',
                                'type', 'macvlan', 'mode', 'bridge'], capture_output=True,
                               text=True)
            if p.returncode:
                raise Skip('no macvlan here (%s)' % p.stderr.strip())
            sh('ip', '-n', self.srv, 'addr', 'add', '10.%d.100.1/24' % self.b, 'dev', 'mv0')
            # only mv0 answers ARP for its address, and vs0 never claims it in its
            # own requests, so that the packets to it arrive on mv0
            sh('ip', 'netns', 'exec', self.srv, 'sysctl', '-qw', 'net.ipv4.conf.vs0.arp_ignore=1',
               'net.ipv4.conf.vs0.arp_announce=2')
            sh('ip', '-n', self.srv, 'link', 'set', 'mv0', 'up')
            sh('ip', '-n', self.clients[0], 'route', 'add', '10.%d.100.0/24' % self.b, 'dev',
               'vc0')

    def add_pair(self, i):
        """The veth pair vs<i> (server side) - vc<i> (client <i>), addressed and up."""
        c = self.clients[i]
        sh('ip', 'link', 'add', 'vs%d' % i, 'netns', self.srv, 'type', 'veth', 'peer',
           'name', 'vc%d' % i, 'netns', c)
        sh('ip', '-n', self.srv, 'addr', 'add', '%s/24' % self.v4(i, 1), 'dev', 'vs%d' % i)
        sh('ip', '-n', self.srv, 'addr', 'add', '%s/64' % self.v6(i, 1), 'dev', 'vs%d' % i,
           'nodad')
        for h in (2, 3):
            sh('ip', '-n', c, 'addr', 'add', '%s/24' % self.v4(i, h), 'dev', 'vc%d' % i)
            sh('ip', '-n', c, 'addr', 'add', '%s/64' % self.v6(i, h), 'dev', 'vc%d' % i,
               'nodad')
        sh('ip', '-n', self.srv, 'link', 'set', 'vs%d' % i, 'up')
        sh('ip', '-n', c, 'link', 'set', 'vc%d' % i, 'up')

    def _add(self, name):
        subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
        sh('ip', 'netns', 'add', name)
        self.made.append(name)

    def v4(self, i, host):
        return '10.%d.%d.%d' % (self.b, i, host)

    def v6(self, i, host):
        return 'fd%02x:%d::%d' % (self.b, i, host)

    def close(self):
        for n in reversed(self.made):
            subprocess.run(['ip', 'netns', 'del', n], capture_output=True)
        self.made = []


class ShieldSuite(Suite):
    """A Suite that removes its namespaces and skips without them."""

    def __init__(self, name):
        super().__init__(name)
        self.nets = []
        self.why = netns_unavailable()
        import atexit
        atexit.register(self._close_nets)

    def need(self):
        if self.why:
            raise Skip(self.why)

    def case(self, name, fn, host_only=False):
        """s.test(), then stop whatever daemon and namespace the test left.
        host_only: daemon logic, no kernel behaviour of its own: not run in
        the TCG guests of tools/vmtest (VMTEST=1, set by tests/run vm),
        where it costs minutes."""
        def run():
            if host_only and os.environ.get('VMTEST') == '1':
                raise Skip('daemon logic, run on the host only (not in vmtest guests)')
            try:
                fn()
            finally:
                for pt in self.passthrus:
                    if pt.proc and pt.proc.alive():
                        pt.proc.stop()
                for n in self.nets:
                    n.close()
        self.test(name, run)

    def _close_nets(self):
        self.cleanup()
        for n in self.nets:
            n.close()


def try_connect(ns, host, port, source=None, timeout=1.0, scale=True):
    """True if a TCP handshake from namespace ns to host:port completes in timeout
    (stretched by PT_TIME_SCALE unless scale is False: a dropped SYN is
    retransmitted after 1 s, which a ban or a rate bucket may let through)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = sock_in(ns, fam)
    s.settimeout(timeout * TIME_SCALE if scale else timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        return True
    except (socket.timeout, OSError):
        return False
    finally:
        s.close()


def answered(ns, host, port, source):
    """True if host:port answers a SYN from source at all (handshake or reset)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = sock_in(ns, fam)
    s.settimeout(1.0 * TIME_SCALE)
    try:
        s.bind((source, 0))
        s.connect((host, port))
        return True
    except ConnectionRefusedError:
        return True
    except (socket.timeout, OSError):
        return False
    finally:
        s.close()


class NsPassthru(Passthru):
    """passthru -w 1 inside network namespace ns (nsenter --net)."""

    def __init__(self, suite, ns, config, args=(), name=None, start=True):
        self.ns = ns
        super().__init__(suite, config, args=args, name=name, start=start)

    def start(self, wait=True):
        need_file(PASSTHRU)
        argv = ['nsenter', '--net=/run/netns/' + self.ns, PASSTHRU, '-c', self.config_path,
                '-w', '1'] + self.args
        self.proc = Proc(self.suite, self.name, argv, stdout=False)
        if wait:
            wait_for(lambda: 'data planes' in self.log() or not self.proc.alive(),
                     10 * TIME_SCALE, '%s to start' % self.name)
        return self


def shield_pins(instance):
    return os.path.join(PIN_ROOT, instance, 'shield')


def counters(instance, slot=0):
    """{reason: (packets, bytes)} of interface slot @slot, summed over CPUs."""
    path = os.path.join(shield_pins(instance), 'pt_shield_counts')
    out = json.loads(sh(BPFTOOL, '-j', 'map', 'dump', 'pinned', path))
    got = {}
    for e in out:
        k = e['key'] if isinstance(e['key'], int) else int.from_bytes(
            bytes(int(x, 16) for x in e['key']), 'little')
        if k // R_MAX != slot:
            continue
        pk = by = 0
        for v in e['values']:  # struct pt_shield_count, raw bytes per CPU
            raw = bytes(int(x, 16) for x in v['value'])
            p, b = struct.unpack('<QQ', raw[:16])
            pk += p
            by += b
        got[REASONS[k % R_MAX]] = (pk, by)
    return got


def xdp_status(ns):
    return sh(*in_ns(ns, 'xdp-loader', 'status'), check_rc=False)


def attached_ids(ns, iface):
    """Program ids xdp-loader lists on iface (the dispatcher's and its programs')."""
    ids, cur = [], None
    for line in xdp_status(ns).splitlines():
        f = line.split()
        if not f:
            continue
        if not line.startswith(' '):
            cur = f[0]
        if cur == iface and 'prog_shield' in f:
            i = f.index('prog_shield')
            ids += [int(x) for x in f[i + 1:i + 4] if x.isdigit()]
    return ids


def _csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def syn_flood(ns, src, dst, port, count):
    """Send count bare SYNs src -> dst:port (IPv4) from a raw socket in ns."""
    s = sock_in(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.bind((src, 0))
    sa, da = socket.inet_aton(src), socket.inet_aton(dst)
    sent = 0
    try:
        for _ in range(count):
            sport = random.randint(20000, 60000)
            seq = random.getrandbits(32)
            hdr = struct.pack('!HHIIBBHHH', sport, port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
            pseudo = sa + da + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(hdr))
            hdr = hdr[:16] + struct.pack('!H', _csum(pseudo + hdr)) + hdr[18:]
            try:
                s.sendto(hdr, (dst, 0))
                sent += 1
            except BlockingIOError:
                time.sleep(0.001)
    finally:
        s.close()
    return sent
