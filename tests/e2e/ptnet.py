# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Network namespaces for the e2e tests that need passthru between hosts
(transparent upstreams): made and removed by the test.

  * Chain: three namespaces in a row joined by veth pairs,

        client  10.B.1.2 / fdB:1::2  --  10.B.1.1 / fdB:1::1  passthru
        passthru 10.B.2.1 / fdB:2::1  --  10.B.2.2 / fdB:2::2  server

    client and server route everything through passthru's side;
    rp_filter is 0 everywhere (replies to a client address that is not
    passthru's come in on the server link);
  * In(ns): `with` block whose thread is in namespace ns; sock_in() a
    socket made there; in_ns() the argv that runs a program there (nsenter
    --net: the mount namespace, hence /sys/fs/bpf, stays the host's);
  * NsPassthru: the daemon inside a namespace.
"""
import ctypes
import os
import socket
import subprocess
import threading

from ptharness import Passthru, Proc, Fail, need_file, wait_for, passthru_for, TIME_SCALE

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv, check_rc=True):
    p = subprocess.run(list(argv), capture_output=True, text=True)
    if check_rc and p.returncode:
        raise Fail('%s: exit %d: %s' % (' '.join(argv), p.returncode, p.stderr.strip()))
    return p.stdout


def netns_unavailable(what='network namespaces'):
    """Why network namespaces cannot be used here, or None; @what: what needs root."""
    if os.geteuid() != 0:
        return 'needs root (%s)' % what
    name = 'ptnet-probe-%d' % os.getpid()
    if subprocess.run(['ip', 'netns', 'add', name], capture_output=True).returncode:
        return 'cannot create a network namespace (ip netns add)'
    subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
    return None


def in_ns(ns, *argv):
    """argv in network namespace ns, keeping our mount namespace: `ip netns exec`
    mounts a fresh /sys without bpffs (where libxdp finds no dispatcher pins)."""
    return ['nsenter', '--net=/run/netns/' + ns] + list(argv)


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET):
            e = ctypes.get_errno()
            raise OSError(e, 'setns %s: %s' % (path, os.strerror(e)))
    finally:
        os.close(fd)


class In:
    """with In(ns): the calling thread is in network namespace ns."""

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        self.back = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
        _setns('/run/netns/' + self.ns)

    def __exit__(self, *a):
        if _libc.setns(self.back, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), 'setns back')
        os.close(self.back)


def sock_in(ns, family=socket.AF_INET, type=socket.SOCK_STREAM, proto=0):
    with In(ns):
        return socket.socket(family, type, proto)


class NsEchoServer:
    """A TCP server in namespace ns on addr:port (TLS with ctx): per connection
    it records the client's address in peers, sends greeting(conn, peer), then
    echoes until EOF."""

    def __init__(self, ns, addr, port, ctx=None):
        self.ls = sock_in(ns, socket.AF_INET6 if ':' in addr else socket.AF_INET)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((addr, port))
        self.ls.listen(64)
        self.ctx = ctx
        self.peers = []
        threading.Thread(target=self._accept, daemon=True).start()

    def greeting(self, c, peer):
        return b''

    def _accept(self):
        while True:
            try:
                c, peer = self.ls.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            threading.Thread(target=self._serve, args=(c, peer), daemon=True).start()

    def _serve(self, c, peer):
        try:
            c.settimeout(20)
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            c.sendall(self.greeting(c, peer))
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()


class Chain:
    """client -- passthru -- server, as the module's header draws it."""

    def __init__(self, suite, tag):
        self.b = 100 + os.getpid() % 100
        t = '%s%d' % (tag, os.getpid() % 100000)
        self.cli, self.pt, self.srv = ('pt%s-%s' % (t, n) for n in ('c', 'p', 's'))
        self.made = []
        suite.nets = getattr(suite, 'nets', [])
        for n in (self.cli, self.pt, self.srv):
            self._add(n)
        self._link(self.cli, 'c0', self.pt, 'p1', 1)
        self._link(self.srv, 's0', self.pt, 'p2', 2)
        for ns, dev, i in ((self.cli, 'c0', 1), (self.srv, 's0', 2)):
            sh('ip', '-n', ns, 'route', 'add', 'default', 'via', self.v4(i, 1), 'dev', dev)
            sh('ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', self.v6(i, 1), 'dev', dev)
        for ns in self.made:
            self.sysctl(ns, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0')

    def sysctl(self, ns, *kv):
        sh(*in_ns(ns, 'sysctl', '-qw', *kv))

    def _add(self, name):
        subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
        sh('ip', 'netns', 'add', name)
        self.made.append(name)
        sh('ip', '-n', name, 'link', 'set', 'lo', 'up')

    def _link(self, a, da, b, db, i):
        """veth da (in a, host 2) -- db (in b, host 1) on net i."""
        sh('ip', 'link', 'add', da, 'netns', a, 'type', 'veth', 'peer', 'name', db, 'netns', b)
        for ns, dev, h in ((a, da, 2), (b, db, 1)):
            sh('ip', '-n', ns, 'addr', 'add', '%s/24' % self.v4(i, h), 'dev', dev)
            sh('ip', '-n', ns, 'addr', 'add', '%s/64' % self.v6(i, h), 'dev', dev, 'nodad')
            sh('ip', '-n', ns, 'link', 'set', dev, 'up')
            self.sysctl(ns, 'net.ipv4.conf.%s.rp_filter=0' % dev)

    def v4(self, i, host):
        return '10.%d.%d.%d' % (self.b, i, host)

    def v6(self, i, host):
        return 'fd%02x:%d::%d' % (self.b, i, host)

    def close(self):
        for n in reversed(self.made):
            subprocess.run(['ip', 'netns', 'del', n], capture_output=True)
        self.made = []


class NsPassthru(Passthru):
    """Passthru (one worker) inside network namespace ns."""

    def __init__(self, suite, ns, config, **kw):
        self.ns = ns
        super().__init__(suite, config, **kw)

    def start(self, wait=True):
        binary = passthru_for(self.env)
        need_file(binary)
        args = list(self.args)
        if not {'-w', '--workers'} & set(args):
            args += ['-w', '1']
        self.proc = Proc(self.suite, self.name,
                         in_ns(self.ns, binary, '-c', self.config_path, *args),
                         stdout=False, env=self.env)
        if wait:
            n = max(1, len(self.listen_addrs()))
            wait_for(lambda: self.log().count('listening on') >= n or not self.proc.alive(),
                     10 * TIME_SCALE, '%s to listen' % self.name)
            if not self.proc.alive():
                raise Fail('%s exited %s at start: %s' % (self.name, self.proc.p.returncode,
                                                          self.log()[-1500:]))
        return self
