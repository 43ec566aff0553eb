# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The pinned kernel objects of an instance (/sys/fs/bpf/passthru/<instance>/).

  * while the daemon runs, bpftool sees the pinned verdict program (sk_skb,
    using the pinned maps) and every map with its expected type and size;
    pt_meta names the instance and the daemon's pid;
  * SIGTERM: exit 0 and the pin directory is gone;
  * SIGKILL leaves a stale directory; a new daemon with the same instance
    removes it (and says so), loads its own and relays through sockmap;
  * a second daemon with the same instance while the first runs refuses to
    start (non-zero exit, a message naming the instance's owner) and leaves
    the first one's pins and connections alone, whatever its data_plane.
"""
import os
import re
import signal
import time

from bpftest import (BpfSuite, PAIR_SIZE, PtServer, Passthru, sockmap_daemon, listener, route,
                     free_port, connect, recv_all, pin_dir, instance_of, read_meta, bpftool_j, obj_get,
                     map_info, check, eq, expect, wait_for, Skip, Fail, PIN_ROOT)

s = BpfSuite('bpf-pins')
INST = 'bt-pins-%d' % os.getpid()
s.instances.append(INST)
echo = PtServer(s, 'echo', name='echo')
META_MAGIC = 0x50545255
MAPS = {  # name: (bpftool type, key bytes, value bytes)
    'pt_pairs': ('array', 4, PAIR_SIZE),
    'pt_socks': ('hash', 8, 24),  # struct pt_sock_ref
    'pt_rx': ('sockhash', 8, 8),
    'pt_tx': ('sockhash', 8, 8),
    'pt_meta': ('array', 4, 72),
}
BPF_F_MMAPABLE = 1 << 10


def config(port, plane='sockmap'):
    """One listener on @plane; "auto" moves bulk to sockmap, so it loads it too."""
    extra = {'bulk_plane': 'sockmap'} if plane == 'auto' else {}
    return [listener('pins', port, [route('echo', echo.addr, protocol='http')],
                     data_plane=plane, max_connections=1000, **extra)]


def start(name, port, plane='sockmap'):
    return sockmap_daemon(s, config(port, plane), args=['--instance', INST], name=name)


def relay_one(pt, port, what):
    """One echo connection through pt; it must go through sockmap."""
    m = pt.mark()
    c = connect(port)
    msg = b'GET /%s HTTP/1.1\r\nHost: pins.example\r\n\r\n' % what.encode()
    c.sendall(msg)
    got = b''
    while len(got) < len(msg):
        d = c.recv(4096)
        check(d, 'echo through %s' % what)
        got += d
    eq(got, msg, 'echo through %s' % what)
    c.shutdown(1)
    eq(recv_all(c), b'', 'EOF after the echo')
    c.close()
    expect(pt.conn_after(m, timeout=5), plane='sockmap', end='done')


def t_pinned_objects():
    s.need_bpf()
    port = free_port()
    pt = start('pins-a', port)
    try:
        d = pin_dir(pt)
        eq(d, os.path.join(PIN_ROOT, INST), 'pin directory of --instance %s' % INST)
        eq(sorted(os.listdir(d)), sorted(list(MAPS) + ['prog_stream_verdict']),
           'pinned objects')
        rc, prog, err = bpftool_j('prog', 'show', 'pinned', os.path.join(d, 'prog_stream_verdict'))
        eq(rc, 0, 'bpftool prog show pinned (%s)' % err)
        eq((prog['type'], prog['name']), ('sk_skb', 'prog_stream_verdict'), 'program type, name')
        ids = {}
        for name, (typ, ks, vs) in MAPS.items():
            rc, mp, err = bpftool_j('map', 'show', 'pinned', os.path.join(d, name))
            eq(rc, 0, 'bpftool map show pinned %s (%s)' % (name, err))
            eq((mp['type'], mp['name'], mp['bytes_key'], mp['bytes_value']),
               (typ, name, ks, vs), '%s: type, name, key and value size' % name)
            ids[name] = mp['id']
            if name == 'pt_pairs':
                check(mp['flags'] & BPF_F_MMAPABLE, 'pt_pairs is mmapable (flags %#x)' %
                      mp['flags'])
                slots = mp['max_entries']
        missing = [n for n in ('pt_pairs', 'pt_socks', 'pt_tx', 'pt_meta')
                   if ids[n] not in prog.get('map_ids', [])]
        eq(missing, [], 'maps the verdict program uses (map_ids %s)' % prog.get('map_ids'))
        meta = read_meta(d)
        eq((meta['magic'], meta['pid'], meta['instance'], meta['pair_size'], meta['n_slots']),
           (META_MAGIC, pt.proc.pid, INST, PAIR_SIZE, slots), 'pt_meta: magic, pid, instance, sizes')
        relay_one(pt, port, 'a')
        eq(pt.stop(), 0, 'exit status after SIGTERM')
        check(not os.path.exists(d), 'pin directory removed after SIGTERM')
    finally:
        pt.stop()


def t_stale_after_sigkill():
    s.need_bpf()
    port = free_port()
    pt = start('pins-b', port)
    d = pin_dir(pt)
    old_pid = pt.proc.pid
    relay_one(pt, port, 'b')
    pt.proc.kill()
    check(os.path.isdir(d), 'SIGKILL leaves the pin directory behind')
    eq(read_meta(d)['pid'], old_pid, 'the stale pt_meta still names the dead pid')
    port2 = free_port()
    pt2 = start('pins-c', port2)
    try:
        line = wait_for(lambda: re.search(r'removing stale instance (\S+) \(pid (\d+) is gone\)',
                                          pt2.log()), 3, 'the stale-instance log line')
        eq((line.group(1), int(line.group(2))), (d, old_pid), 'stale directory and pid logged')
        eq(read_meta(d)['pid'], pt2.proc.pid, 'pt_meta now names the new daemon')
        relay_one(pt2, port2, 'c')
        eq(pt2.stop(), 0, 'exit status after SIGTERM')
    finally:
        pt2.stop()
    check(not os.path.exists(d), 'pin directory removed after SIGTERM')


def t_second_daemon_refused():
    s.need_bpf()
    port = free_port()
    pt = start('pins-d', port)
    try:
        d = pin_dir(pt)
        for plane in ('auto', 'sockmap'):
            port2 = free_port()
            pt2 = Passthru(s, {'listeners': config(port2, plane)},
                           args=['-v', '--instance', INST], name='pins-e-%s' % plane,
                           start=False)
            pt2.start(wait=False)
            rc = pt2.proc.wait(10)
            if rc is None:
                pt2.stop()
                raise Fail('second daemon (data_plane %s) with instance %s still runs after '
                           '10 s; its log: %s' % (plane, INST, pt2.log()[-600:]))
            check(rc != 0, 'second daemon (data_plane %s) exit status %d' % (plane, rc))
            log = pt2.log()
            check('already running' in log and re.search(r'\bpid %d\b' % pt.proc.pid, log),
                  'second daemon (data_plane %s) says the instance is in use by pid %d: %s' % (
                      plane, pt.proc.pid, log.strip()[-600:]))
            check(os.path.isdir(d), 'first daemon\'s pins still there')
            eq(read_meta(d)['pid'], pt.proc.pid, 'pt_meta still names the first daemon')
            relay_one(pt, port, 'still-%s' % plane)
        eq(pt.stop(), 0, 'first daemon exit status after SIGTERM')
    finally:
        pt.stop()
    check(not os.path.exists(d), 'pin directory removed after SIGTERM')


s.test('bpftool sees the pinned program and maps; SIGTERM removes them', t_pinned_objects)
s.test('SIGKILL leaves a stale pin directory; the next daemon removes it and says so',
       t_stale_after_sigkill)
s.test('a second daemon with the same instance refuses to start (auto and sockmap)',
       t_second_daemon_refused)
s.finish()
