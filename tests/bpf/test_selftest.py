# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The start-up self-test of the kernel data plane (user/selftest.c).

passthru relays two loopback connections through its maps before it
accepts anyone and checks what older kernels got wrong: bytes queued before
insertion, EAGAIN retries under a tiny send buffer, FIN handling. On a
kernel that fails a step it falls back to splice with one log line.

  * this kernel passes (the daemon says so at -v and relays with sockmap);
  * each step made to fail (PASSTHRU_SELFTEST_FAIL=step, as a kernel
    lacking that fix would): with data_plane "auto" and bulk_plane
    "sockmap" one warning names the step and bulk moves to splice instead;
    with "sockmap" the start fails with the same reason;
  * the knob exists only in the test build: build/passthru holds neither it
    nor the PASSTHRU_FAULT_* ones, build/tests/passthru-hooks holds all.
"""
import hashlib
import os
import platform
import random
import re

from bpftest import (BpfSuite, PtServer, Passthru, sockmap_daemon, wait_for_startup, listener,
                     route, free_port, connect, recv_all, pin_dir, check, eq, wait_for, Proc,
                     PASSTHRU, PASSTHRU_HOOKS, passthru_for, need_file, MiB)

s = BpfSuite('bpf-selftest')
sink = PtServer(s, 'sink', name='sink')
DATA = random.Random(9).randbytes(MiB)
HEAD = b'PUT /s HTTP/1.1\r\nHost: selftest.example\r\n\r\n'
STEPS = ('pre', 'bulk', 'fin')


def upload(port):
    c = connect(port, timeout=10)
    c.sendall(HEAD)
    c.sendall(DATA)
    c.shutdown(1)
    reply = recv_all(c).decode().split()
    c.close()
    eq(reply, [hashlib.sha256(HEAD + DATA).hexdigest(), str(len(HEAD) + len(DATA))],
       'sink reply (sha256, bytes)')


def relayed_plane(pt, port):
    """Upload through pt; the data plane its log line says carried it."""
    upload(port)
    return wait_for(lambda: pt.conns() and pt.conns()[-1], 5, 'the connection line')['plane']


def routes():
    return [route('sink', sink.addr, protocol='http')]


def t_passes_here():
    port = free_port()
    pt = sockmap_daemon(s, [listener('st', port, routes())], name='selftest')
    check('kernel self-test passed' in pt.log(), 'the daemon says the self-test passed on %s' %
          platform.release())
    eq(relayed_plane(pt, port), 'sockmap', 'data plane after a passed self-test')
    pt.stop()


def t_step_auto(step):
    s.need_bpf()
    port = free_port()
    cfg = {'listeners': [listener('st', port, routes(), data_plane='auto', bulk_plane='sockmap',
                                  bulk_turn_bytes=16384, bulk_turns=2)]}
    pt = Passthru(s, cfg, name='selftest-%s' % step,
                  env=dict(os.environ, PASSTHRU_SELFTEST_FAIL=step))
    plane = wait_for_startup(pt)
    eq(plane, 'copy+splice', 'data planes after the %s step failed' % step)
    lines = [l for l in pt.log().splitlines() if 'kernel data plane unavailable' in l]
    eq(len(lines), 1, 'one fallback line')
    check('self-test failed at step "%s"' % step in lines[0] and 'relaying with splice' in
          lines[0], 'the line names the step and the fallback: %s' % lines[0])
    check(not os.path.exists(pin_dir(pt)), 'nothing stays pinned after a failed self-test')
    # An upload whose FIN comes right behind its bytes may end before it shows bulk.
    plane = relayed_plane(pt, port)
    check(plane in ('copy', 'copy>splice'), 'data planes of the connection: %s' % plane)
    pt.stop()


def t_step_required(step):
    s.need_bpf()
    port = free_port()
    cfg = s.write('required-%s.json' % step, '{"listeners": [{"name": "st", "listen": '
                  '"127.0.0.1:%d", "data_plane": "sockmap", "routes": [{"name": "sink", '
                  '"forward": "%s"}]}]}' % (port, sink.addr))
    env = dict(os.environ, PASSTHRU_SELFTEST_FAIL=step)
    p = Proc(s, 'required-%s' % step, [passthru_for(env), '-c', cfg], env=env)
    rc = p.wait(10)
    check(rc not in (None, 0), 'a sockmap listener on a failing kernel stops the start (rc %s)'
          % rc)
    check(re.search(r'self-test failed at step "%s"' % step, p.stderr()),
          'the error names the step: %s' % p.stderr()[-300:])


def t_knobs_test_build_only():
    knobs = (b'PASSTHRU_SELFTEST_FAIL', b'PASSTHRU_FAULT_OWED', b'PASSTHRU_FAULT_INFLIGHT',
             b'PASSTHRU_FAULT_REPLY_SLEEP_MS', b'PASSTHRU_FAULT_WAKE_RING',
             b'PASSTHRU_FAULT_MASTER_LOOP')
    for path, want in ((PASSTHRU, False), (PASSTHRU_HOOKS, True)):
        need_file(path)
        with open(path, 'rb') as f:
            data = f.read()
        eq([k.decode() for k in knobs if (k in data) != want], [],
           'knobs %s in %s' % ('missing' if want else 'found', path))


s.test('the test knobs exist only in the test build (build/tests/passthru-hooks)',
       t_knobs_test_build_only)
s.test('this kernel (%s) passes the self-test and relays with sockmap' % platform.release(),
       t_passes_here)
for st in STEPS:
    s.test('self-test step "%s" failing: auto falls back to splice with one line' % st,
           t_step_auto, st)
    s.test('self-test step "%s" failing: data_plane sockmap refuses to start' % st,
           t_step_required, st)
s.finish()
