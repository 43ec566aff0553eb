# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Choosing the data plane, and falling back.

  * data_plane "auto" with bulk_plane "sockmap" and BPF working: the
    kernel data plane loads (startup line, pins); a connection starts on
    copy and moves into sockmap once it shows bulk (plane=copy>sockmap);
  * --data-plane splice overrides every listener, even one that says
    "sockmap": plane=splice, nothing loaded, nothing pinned;
  * BPF not permitted (the daemon runs as nobody through setpriv, on high
    ports): with "auto" and bulk_plane "sockmap" exactly one clear log line
    says why and that splice is used (bulk moves there: copy>splice), and
    bytes still arrive intact; with "sockmap" in the config (or
    --data-plane sockmap) the same failure stops the start: non-zero exit
    and a message that names the reason;
  * a client whose FIN is in before the hand-off goes to splice by design
    (the kernel refuses a CLOSE_WAIT socket), and its bytes arrive.
"""
import hashlib
import json
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time

from bpftest import (BpfSuite, PtServer, Passthru, Proc, sockmap_daemon, wait_for_startup,
                     listener, route,
                     free_port, connect, recv_all, pin_dir, instance_of, check, eq, expect,
                     wait_for, is_listening, Skip, Fail, PASSTHRU, PIN_ROOT, MiB)

s = BpfSuite('bpf-fallback')
echo = PtServer(s, 'echo', name='echo')
DATA = random.Random(4).randbytes(2 * MiB)
HEAD = b'POST /fb HTTP/1.1\r\nHost: fallback.example\r\n\r\n'


def routes():
    return [route('echo', echo.addr, protocol='http')]


def echo_check(port, head_fin=False, data=DATA, fin_late=False):
    """HEAD + data through port to the echo server, sha256 compared. With
    head_fin the FIN comes with the data; otherwise it waits until the head
    came back (the relay is running by then). With fin_late it waits until
    the whole echo came back: a move the bulk triggers has happened by then,
    however slow the machine (a FIN in first makes the kernel refuse it)."""
    c = connect(port, timeout=10)
    if fin_late:
        got = echo_then_fin(c, data)
    elif head_fin:
        # Corked, the bytes wait for the FIN and leave in one segment with
        # it: the daemon never sees them without it.
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        c.sendall(HEAD + data)
        c.shutdown(socket.SHUT_WR)
        got = recv_all(c)
    else:
        c.sendall(HEAD)
        got = b''
        while len(got) < len(HEAD):
            d = c.recv(65536)
            check(d, 'echo of the head')
            got += d
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        got += recv_all(c)
    c.close()
    eq((len(got), hashlib.sha256(got).hexdigest()),
       (len(HEAD) + len(data), hashlib.sha256(HEAD + data).hexdigest()),
       'echo (length, sha256)')


def echo_then_fin(c, data):
    """Send HEAD + data from a thread while reading the echo; the FIN goes
    only after the last echoed byte is in. Returns what came back."""
    writer = threading.Thread(target=c.sendall, args=(HEAD + data,))
    writer.start()
    got = b''
    while len(got) < len(HEAD) + len(data):
        d = c.recv(65536)
        if not d:
            break
        got += d
    writer.join()
    c.shutdown(socket.SHUT_WR)
    return got + recv_all(c)


# auto with the kernel plane as its bulk plane; low thresholds, so that the
# 1 MiB echo shows bulk (two reads of 16 KiB in a row) and moves.
AUTO_SOCKMAP = {'data_plane': 'auto', 'bulk_plane': 'sockmap', 'bulk_turn_bytes': 16384,
                'bulk_turns': 2}


def t_auto_sockmap():
    s.need_bpf()
    port = free_port()
    pt = sockmap_daemon(s, [listener('auto', port, routes(), **AUTO_SOCKMAP)], name='auto')
    try:
        eq(wait_for_startup(pt), 'copy+sockmap', 'data planes in the startup line')
        check(os.path.isdir(pin_dir(pt)), 'pins exist')
        m = pt.mark()
        echo_check(port, fin_late=True)
        expect(pt.conn_after(m, timeout=5), plane='copy>sockmap', end='done',
               up=len(HEAD) + len(DATA), down=len(HEAD) + len(DATA))
        eq(pt.stop(), 0, 'exit status after SIGTERM')
    finally:
        pt.stop()


def t_cli_splice():
    s.need_bpf()
    p1, p2 = free_port(), free_port()
    pt = Passthru(s, {'listeners': [listener('sm', p1, routes(), data_plane='sockmap'),
                                    listener('auto', p2, routes(), data_plane='auto')]},
                  args=['-v', '--data-plane', 'splice'], name='cli-splice')
    s.instances.append(instance_of(pt))
    try:
        eq(wait_for_startup(pt), 'splice', 'data plane in the startup line')
        eq(re.findall(r'kernel data plane[^\n]*', pt.log()), [], 'kernel data plane log lines')
        check(not os.path.exists(pin_dir(pt)), 'nothing pinned at %s' % pin_dir(pt))
        for port in (p1, p2):
            m = pt.mark()
            echo_check(port)
            expect(pt.conn_after(m, timeout=5), plane='splice', end='done',
                   up=len(HEAD) + len(DATA))
        eq(pt.stop(), 0, 'exit status after SIGTERM')
    finally:
        pt.stop()


class Unprivileged:
    """passthru as nobody:nogroup (setpriv), config in a world-readable dir."""

    def __init__(self, name, listeners, args=(), verbose=True):
        if not shutil.which('setpriv'):
            raise Skip('setpriv not installed')
        self.dir = tempfile.mkdtemp(prefix='pt-bpf-nobody-')
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, '%s.json' % name)
        with open(self.config, 'w') as f:
            json.dump({'listeners': listeners}, f)
        os.chmod(self.config, 0o644)
        self.instance = name
        s.instances.append(name)
        self.proc = Proc(s, name, ['setpriv', '--reuid=nobody', '--regid=nogroup',
                                   '--clear-groups', PASSTHRU, '-c', self.config] +
                         (['-v'] if verbose else []) + list(args), stdout=False)

    def log(self):
        return self.proc.stderr()

    def close(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def conn_lines(log):
    from bpftest import parse_conn_line
    return [d for d in map(parse_conn_line, log.splitlines()) if d]


def t_unprivileged_auto():
    s.need_bpf()
    port = free_port()
    # At the default log level, so that libbpf's own (debug) lines are out.
    u = Unprivileged('bt-nobody-auto-%d' % os.getpid(),
                     [listener('auto', port, routes(), **AUTO_SOCKMAP)],
                     verbose=False)
    try:
        wait_for(lambda: 'listening on' in u.log() or not u.proc.alive(), 10, 'the listener')
        check(u.proc.alive(), 'daemon runs as nobody: %s' % u.log()[-800:])
        wait_for(lambda: re.search(r', \d+ workers, data planes', u.log()), 5, 'the startup line')
        lines = re.findall(r'[^\n]* bpf: [^\n]*', u.log())
        eq(len(lines), 1, 'log lines of the bpf category: %r' % lines)
        check(re.search(r'warn bpf: kernel data plane unavailable: not permitted.*; relaying '
                        r'with splice$', lines[0]), 'the fallback line names the reason: %r' %
              lines[0])
        check(re.search(r'data planes copy\+splice', u.log()),
              'startup line says data planes copy+splice')
        check(not os.path.exists(os.path.join(PIN_ROOT, u.instance)), 'nothing pinned')
        n0 = len(conn_lines(u.log()))
        # FIN after the echo: a move needs no FIN seen, and in a slow guest (6.1 under
        # TCG) 2 MiB and a FIN right behind arrived before four bulk turns had.
        echo_check(port, fin_late=True)
        d = wait_for(lambda: conn_lines(u.log())[n0:], 5, 'the connection line')[0]
        expect(d, plane='copy>splice', end='done', up=len(HEAD) + len(DATA),
               down=len(HEAD) + len(DATA))
    finally:
        u.close()


def unprivileged_refused(listeners, args, what):
    s.need_bpf()
    u = Unprivileged('bt-nobody-sm-%d' % os.getpid(), listeners, args)
    try:
        rc = u.proc.wait(10)
        if rc is None:
            raise Fail('daemon as nobody with %s still runs after 10 s: %s' % (
                what, u.log()[-600:]))
        check(rc != 0, 'exit status %d with %s' % (rc, what))
        check(re.search(r'cannot load the kernel data plane: not permitted', u.log()),
              'message names the reason: %s' % u.log().strip()[-600:])
        check(not os.path.exists(os.path.join(PIN_ROOT, u.instance)), 'nothing pinned')
    finally:
        u.close()


def t_unprivileged_sockmap():
    unprivileged_refused([listener('sm', free_port(), routes(), data_plane='sockmap')], (),
                         'data_plane "sockmap" in the config')


def t_unprivileged_cli_sockmap():
    unprivileged_refused([listener('auto', free_port(), routes())], ('--data-plane', 'sockmap'),
                         '--data-plane sockmap')


def t_fin_before_handoff():
    s.need_bpf()
    port = free_port()
    pt = sockmap_daemon(s, [listener('fin', port, routes())], name='fin')
    try:
        # Small enough to be in the daemon's socket, FIN included, before
        # the route is even decided.
        m = pt.mark()
        echo_check(port, head_fin=True, data=DATA[:1000])
        d = pt.conn_after(m, timeout=5)
        expect(d, plane='splice', fallback='peer-closed', end='done', up=len(HEAD) + 1000,
               down=len(HEAD) + 1000)
        # Then the next connection of the same daemon is back on sockmap.
        m = pt.mark()
        echo_check(port)
        expect(pt.conn_after(m, timeout=5), plane='sockmap', end='done')
        eq(pt.stop(), 0, 'exit status after SIGTERM')
    finally:
        pt.stop()


s.test('data_plane auto, bulk_plane sockmap, BPF working: bulk moves into sockmap',
       t_auto_sockmap)
s.test('--data-plane splice overrides every listener (even "sockmap"): splice, nothing pinned',
       t_cli_splice)
s.test('BPF not permitted (nobody), auto: one clear log line, bulk to splice, bytes intact',
       t_unprivileged_auto)
s.test('BPF not permitted (nobody), data_plane sockmap: start-up error naming the reason',
       t_unprivileged_sockmap)
s.test('BPF not permitted (nobody), --data-plane sockmap: start-up error naming the reason',
       t_unprivileged_cli_sockmap)
s.test('client FIN before the hand-off: splice by design, bytes intact; next one sockmap',
       t_fin_before_handoff)
s.finish()
