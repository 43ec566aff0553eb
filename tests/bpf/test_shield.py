# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The XDP shield (bpf/shield.bpf.c, user/shield.c) in network namespaces.

passthru runs in a server namespace joined to client namespaces by veth
pairs; a handshake that completes is a packet the shield let through, one
that times out a SYN it dropped (nothing else listens or filters there).

  * deny list, IPv4 and IPv6, on veth in native mode (the log says so):
    the denied source's handshake times out, the other source's completes,
    the "denied" counter counts the dropped SYNs; another port is untouched
    (its reset reaches the denied source); xdp-loader status lists
    prog_shield;
  * allow list: only the allowed source gets through ("not_allowed");
  * generic mode on a macvlan (no native XDP there; the log says so);
  * a reload swaps the lists without detaching (same program id); one that
    names another interface detaches from the old and attaches to the new;
  * SIGTERM detaches and unpins; SIGKILL leaves it attached and the next
    start of the instance detaches it (and says so) before attaching its own;
  * an interface that does not exist: one log line, the daemon serves;
    with "required": true it does not start;
  * SYN rate limit: a SYN flood from one namespace while a real client in
    another keeps connecting, every one of its handshakes completing; two
    IPv6 addresses of one /64 share a bucket;
  * bans: three connections that fail detection within the window ban the
    source for 2 s (one log line, "banned" counted, listed by passthru-ctl
    ban list), other sources pass, and the ban expires;
  * passthru-ctl ban add/del (IPv4, IPv6) take effect at once; stats (text
    and JSON) count packets and bytes per interface and reason; instance
    show says where the shield is attached;
  * a route with "drop": true answers nothing (no byte, no FIN) until the
    listener's timeout_ms, then closes; with "ban": true each connection
    on it counts toward the shield's ban;
  * coexistence with a program loaded by xdp-loader on the same interface
    (skipped, with the reason, where libxdp cannot use its dispatcher).
"""
import json
import os
import re
import signal
import socket
import time

from shieldtest import (ShieldSuite, Net, NsPassthru, try_connect, counters, xdp_status,
                        attached_ids, syn_flood, answered, sock_in, in_ns, shield_pins, sh, check, eq, wait_for, Skip,
                        Fail, TIME_SCALE, PIN_ROOT)

s = ShieldSuite('bpf-shield')
INST = 'bt-shield-%d' % os.getpid()
PORT = 8443
CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                   os.environ.get('BUILD', 'build'), 'passthru-ctl')


def config(iface='vs0', listen=':%d' % PORT, **shield):
    shield.setdefault('interfaces', [iface] if isinstance(iface, str) else iface)
    return {'listeners': [{'name': 'sh', 'listen': listen, 'shield': shield,
                           'routes': [{'name': 'any', 'forward': '127.0.0.1:9'}]}]}


def daemon(net, cfg, inst=INST, name=None):
    pt = NsPassthru(s, net.srv, cfg, args=['-i', inst, '-v'], name=name)
    wait_for(lambda: 'shield: attached' in pt.log() or 'shield' in pt.log() and
             'data planes' in pt.log() or not pt.proc.alive(), 10 * TIME_SCALE,
             'the shield line in the log')
    return pt


def stop(pt):
    eq(pt.stop(), 0, 'exit status')


def t_deny_native():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(deny=[net.v4(0, 3) + '/32', net.v6(0, 3) + '/128']))
    check(re.search(r'shield: attached to vs0 in native mode', pt.log()),
          'native mode on veth, logged: %s' % pt.log()[-600:])
    c = net.clients[0]
    check(try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 2)), 'IPv4 other source connects')
    check(try_connect(c, net.v6(0, 1), PORT, source=net.v6(0, 2)), 'IPv6 other source connects')
    check(not try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          'IPv4 denied source is dropped')
    check(not try_connect(c, net.v6(0, 1), PORT, source=net.v6(0, 3), timeout=0.5),
          'IPv6 denied source is dropped')
    got = counters(INST)
    check(got['denied'][0] >= 2, 'denied SYNs counted: %s' % got)
    check(got['pass'][0] >= 2, 'passed packets counted: %s' % got)
    # another port from the denied source: untouched (its reset comes back)
    check(answered(c, net.v4(0, 1), PORT + 1, net.v4(0, 3)),
          'a closed port answers the denied source')
    check(attached_ids(net.srv, 'vs0'), 'xdp-loader status lists prog_shield on vs0:\n%s'
          % xdp_status(net.srv))
    stop(pt)
    check(not attached_ids(net.srv, 'vs0'), 'detached after SIGTERM:\n%s' % xdp_status(net.srv))
    check(not os.path.exists(shield_pins(INST)), 'pins removed after SIGTERM')
    net.close()


def t_allow():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(allow=[net.v4(0, 2) + '/32', net.v6(0, 0) + '/64']))
    c = net.clients[0]
    check(try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 2)), 'allowed IPv4 source connects')
    check(try_connect(c, net.v6(0, 1), PORT, source=net.v6(0, 3)), 'allowed IPv6 /64 connects')
    check(not try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          'IPv4 source not on the allow list is dropped')
    got = counters(INST)
    check(got['not_allowed'][0] >= 1, 'not_allowed counted: %s' % got)
    stop(pt)
    net.close()


def t_generic():
    s.need()
    net = Net(s, 1, macvlan=True)
    dst = '10.%d.100.1' % net.b
    pt = daemon(net, config('mv0', deny=[net.v4(0, 3) + '/32']))
    check(re.search(r'shield: attached to mv0 in generic mode \(native: ', pt.log()),
          'generic mode on macvlan, logged with the reason: %s' % pt.log()[-600:])
    c = net.clients[0]
    check(try_connect(c, dst, PORT, source=net.v4(0, 2)), 'other source connects (generic)')
    check(not try_connect(c, dst, PORT, source=net.v4(0, 3), timeout=0.5),
          'denied source dropped (generic)')
    check(counters(INST)['denied'][0] >= 1, 'denied counted (generic)')
    stop(pt)
    net.close()


def t_reload():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(deny=[net.v4(0, 3) + '/32']))
    ids = attached_ids(net.srv, 'vs0')
    c = net.clients[0]
    check(not try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          '.3 denied before the reload')
    pt.set_config(config(deny=[net.v4(0, 2) + '/32']))
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'generation 2' in pt.log() or 'reloaded' in pt.log(), 5 * TIME_SCALE,
             'the reload')
    time.sleep(0.1)
    check(try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 3)), '.3 connects after the reload')
    check(not try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 2), timeout=0.5),
          '.2 denied after the reload')
    eq(attached_ids(net.srv, 'vs0'), ids, 'same program attached across the reload')
    check('detached' not in pt.log(), 'nothing detached by the reload')
    stop(pt)
    net.close()


def t_reload_ifaces():
    s.need()
    net = Net(s, 2)
    deny = [net.v4(0, 3) + '/32', net.v4(1, 3) + '/32']
    pt = daemon(net, config(['vs0'], deny=deny))
    check(attached_ids(net.srv, 'vs0') and not attached_ids(net.srv, 'vs1'), 'on vs0 only')
    check(try_connect(net.clients[1], net.v4(1, 1), PORT, source=net.v4(1, 3)),
          'vs1 not shielded yet')
    pt.set_config(config(['vs1'], deny=deny))
    pt.send_signal(signal.SIGHUP)
    wait_for(lambda: 'detached from vs0' in pt.log(), 5 * TIME_SCALE, 'vs0 detached by reload')
    check(attached_ids(net.srv, 'vs1') and not attached_ids(net.srv, 'vs0'), 'moved to vs1:\n%s'
          % xdp_status(net.srv))
    check(not try_connect(net.clients[1], net.v4(1, 1), PORT, source=net.v4(1, 3), timeout=0.5),
          'vs1 shielded after the reload')
    check(try_connect(net.clients[0], net.v4(0, 1), PORT, source=net.v4(0, 3)),
          'vs0 no longer shielded')
    stop(pt)
    net.close()


def t_crash_cleanup():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(deny=[net.v4(0, 3) + '/32']), name='crash1')
    ids = attached_ids(net.srv, 'vs0')
    check(ids, 'attached')
    pt.proc.kill()
    check(attached_ids(net.srv, 'vs0') == ids, 'SIGKILL leaves the program attached')
    check(os.path.isdir(shield_pins(INST)), 'and its pins')
    pt2 = daemon(net, config(deny=[net.v4(0, 3) + '/32']), name='crash2')
    check('detached the program a dead instance left on vs0' in pt2.log(),
          'the next start detaches the dead one: %s' % pt2.log()[-800:])
    ids2 = attached_ids(net.srv, 'vs0')
    check(ids2 and ids2 != ids, 'its own program attached instead (%s, was %s)' % (ids2, ids))
    check(not try_connect(net.clients[0], net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          'the new shield drops')
    stop(pt2)
    check(not attached_ids(net.srv, 'vs0'), 'nothing attached after the second exit')
    net.close()


def t_missing_iface():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(['vs0', 'nosuch9'], deny=[net.v4(0, 3) + '/32']))
    check(re.search(r'shield: interface nosuch9: No such device; it is not shielded', pt.log()),
          'one line names the missing interface: %s' % pt.log()[-600:])
    check(pt.proc.alive(), 'the daemon serves')
    check(try_connect(net.clients[0], net.v4(0, 1), PORT, source=net.v4(0, 2)), 'and connects')
    stop(pt)
    pt = NsPassthru(s, net.srv, config(['nosuch9'], required=True), args=['-i', INST],
                    name='required', start=False)
    pt.start(wait=False)
    rc = pt.proc.wait(10 * TIME_SCALE)
    check(rc not in (None, 0), 'required shield that cannot attach: exit %s' % rc)
    check('shield: required' in pt.log(), 'and says why: %s' % pt.log()[-600:])
    net.close()


def iface_gone_and_back(workers):
    net = Net(s, 1)
    pt = NsPassthru(s, net.srv, config(deny=[net.v4(0, 3) + '/32']),
                    args=['-i', INST, '-v', '-w', str(workers)], name='w%d' % workers)
    wait_for(lambda: 'shield: attached to vs0' in pt.log(), 10 * TIME_SCALE, 'attached')
    c = net.clients[0]
    sh('ip', '-n', net.srv, 'link', 'del', 'vs0')
    wait_for(lambda: re.search(r'shield: interface vs0 \(index \d+\) is gone', pt.log()),
             5 * TIME_SCALE, 'a line saying vs0 is gone: %s' % pt.log()[-400:])
    check(pt.proc.alive(), 'the daemon serves on')
    net.add_pair(0)
    wait_for(lambda: pt.log().count('shield: attached to vs0') == 2, 5 * TIME_SCALE,
             'attached again to the new vs0: %s' % pt.log()[-600:])
    check(re.search(r'shield: interface vs0 \(index \d+\) appeared', pt.log()),
          'a line saying vs0 appeared')
    check(attached_ids(net.srv, 'vs0'), 'prog_shield on the new vs0:\n%s' % xdp_status(net.srv))
    check(try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 2)), 'other source connects')
    check(not try_connect(c, net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          'the denied source is dropped on the new vs0 (its new ifindex is in the maps)')
    eq(pt.log().count('is gone'), 1, 'the removal logged once')
    stop(pt)
    check(not attached_ids(net.srv, 'vs0'), 'detached after SIGTERM:\n%s' % xdp_status(net.srv))
    net.close()


def t_iface_gone():
    s.need()
    iface_gone_and_back(2)   # the master follows the interfaces
    iface_gone_and_back(1)   # the only worker does


def t_rate_limit():
    s.need()
    net = Net(s, 2)
    pt = daemon(net, config(['vs0', 'vs1'], syn_rate=20, syn_burst=20))
    flooded = syn_flood(net.clients[0], net.v4(0, 2), net.v4(0, 1), PORT, 3000)
    ok = sum(try_connect(net.clients[1], net.v4(1, 1), PORT, source=net.v4(1, 2))
             for _ in range(20))
    eq(ok, 20, 'real client handshakes completed during the flood')
    flooded += syn_flood(net.clients[0], net.v4(0, 2), net.v4(0, 1), PORT, 2000)
    r0 = counters(INST, slot=0)
    check(r0['rate'][0] >= flooded - 200, 'flood SYNs dropped by the rate limit: %s of %d'
          % (r0['rate'][0], flooded))
    r1 = counters(INST, slot=1)
    eq(r1.get('rate', (0, 0))[0], 0, 'no rate drop for the real client')
    stop(pt)
    net.close()


def t_rate_v6_prefix():
    s.need()
    net = Net(s, 1)
    cfg = config(syn_rate=1, syn_burst=1)
    cfg['listeners'][0]['source_prefix_v6'] = 64
    pt = daemon(net, cfg)
    c, dst = net.clients[0], net.v6(0, 1)
    check(try_connect(c, dst, PORT, source=net.v6(0, 2)), 'first SYN of the /64 passes')
    check(not try_connect(c, dst, PORT, source=net.v6(0, 3), timeout=0.5, scale=False),
          'another address of the same /64 shares its bucket')
    check(counters(INST)['rate'][0] >= 1, 'rate counted: %s' % counters(INST))
    stop(pt)
    net.close()


def garbage(ns, host, source):
    """One connection that fails detection: bytes no detector takes, then EOF."""
    c = sock_in(ns)
    c.settimeout(2 * TIME_SCALE)
    c.bind((source, 0))
    c.connect((host, PORT))
    c.sendall(b'\x00\x01garbage that is no protocol\r\n\r\n')
    try:
        c.shutdown(socket.SHUT_WR)  # the daemon may have given up on it already
        while c.recv(100):
            pass
    except OSError:
        pass
    c.close()


def t_ban_detection():
    s.need()
    net = Net(s, 1)
    cfg = config(ban={'failures': 3, 'window_s': 10, 'seconds': 2})
    cfg['listeners'][0]['routes'] = [{'name': 'web', 'match': {'protocol': 'http'},
                                      'forward': '127.0.0.1:9'}]
    pt = daemon(net, cfg)
    c, dst, bad = net.clients[0], net.v4(0, 1), net.v4(0, 3)
    for i in range(2):
        garbage(c, dst, bad)
    wait_for(lambda: pt.log().count('end=no-route') >= 2, 5 * TIME_SCALE, 'two no-route ends')
    time.sleep(0.1)
    check('shield: banned' not in pt.log(), 'two failures: not banned yet')
    garbage(c, dst, bad)
    wait_for(lambda: 'shield: banned %s for 2 s (3 failed detections' % bad in pt.log(),
             5 * TIME_SCALE, 'the ban line: %s' % pt.log()[-500:])
    t0 = time.monotonic()
    check(not try_connect(c, dst, PORT, source=bad, timeout=0.5, scale=False),
          'banned source dropped')
    check(try_connect(c, dst, PORT, source=net.v4(0, 2)), 'another source connects')
    check(counters(INST)['banned'][0] >= 1, 'banned counted: %s' % counters(INST))
    out = sh(CTL, '-i', INST, 'ban', 'list')
    check(bad in out, 'passthru-ctl ban list shows it: %r' % out)
    time.sleep(max(0, 2.3 - (time.monotonic() - t0)))
    check(bad not in sh(CTL, '-i', INST, 'ban', 'list'), 'expired: no longer listed')
    check(try_connect(c, dst, PORT, source=bad), 'the ban expired after 2 s')
    stop(pt)
    net.close()


def t_ctl():
    s.need()
    net = Net(s, 1)
    pt = daemon(net, config(deny=[net.v4(0, 3) + '/32']))
    c, dst = net.clients[0], net.v4(0, 1)
    out = sh(CTL, '-i', INST, 'ban', 'add', net.v4(0, 2), '30')
    check('banned' in out, 'ban add: %r' % out)
    check(not try_connect(c, dst, PORT, source=net.v4(0, 2), timeout=0.5), 'added ban drops')
    check(net.v4(0, 2) in sh(CTL, '-i', INST, 'ban', 'list'), 'ban list shows the added ban')
    sh(CTL, '-i', INST, 'ban', 'add', net.v6(0, 2))
    check(not try_connect(c, net.v6(0, 1), PORT, source=net.v6(0, 2), timeout=0.5),
          'IPv6 ban drops')
    sh(CTL, '-i', INST, 'ban', 'del', net.v4(0, 2))
    check(try_connect(c, dst, PORT, source=net.v4(0, 2)), 'ban del lets it through')
    check(not try_connect(c, dst, PORT, source=net.v4(0, 3), timeout=0.5), 'denied (counted)')
    st = json.loads(sh(CTL, '-j', '-i', INST, 'stats'))
    txt = json.dumps(st)
    m = re.search(r'"shield": (\{.*?\]\})', txt)
    check(m, 'stats -j has a shield object: %s' % txt[:600])
    sj = json.loads(m.group(1))
    i0 = sj['interfaces'][0]
    eq(i0['name'], 'vs0', 'shielded interface')
    check(i0['packets']['banned'] >= 2 and i0['packets']['denied'] >= 1 and
          i0['packets']['passed'] >= 1, 'per-reason packets: %s' % i0['packets'])
    check(i0['bytes']['denied'] > 0, 'and bytes: %s' % i0['bytes'])
    out = sh(CTL, 'stats', '-i', INST)
    check(re.search(r'shield \(program \d+\): vs0 native', out), 'stats text: %s' % out[-400:])
    out = sh(CTL, 'instance', 'show', INST)
    check('vs0 native' in out, 'instance show says where it is attached: %s' % out)
    stop(pt)
    net.close()


def t_drop():
    s.need()
    net = Net(s, 1)
    cfg = config(ban={'failures': 2, 'window_s': 30, 'seconds': 60})
    cfg['listeners'][0]['timeout_ms'] = int(2000 * TIME_SCALE)
    cfg['listeners'][0]['routes'] = [
        {'name': 'web', 'match': {'protocol': 'http'}, 'forward': '127.0.0.1:9'},
        {'name': 'silence', 'drop': True, 'ban': True}]
    pt = daemon(net, cfg)
    c, dst, src = net.clients[0], net.v4(0, 1), net.v4(0, 3)
    k = sock_in(c)
    k.settimeout(5 * TIME_SCALE)
    k.bind((src, 0))
    k.connect((dst, PORT))
    k.sendall(b'\x00\x01 probe \r\n\r\n')
    wait_for(lambda: 'route=silence' in pt.log(), 5 * TIME_SCALE, 'the drop route chosen')
    k.settimeout(0.8 * TIME_SCALE)
    try:
        got = k.recv(100)
        raise Fail('a dropped connection got %r (want nothing: no byte, no FIN)' % got)
    except socket.timeout:
        pass
    t0 = time.monotonic()
    k.settimeout(5 * TIME_SCALE)
    try:
        got = k.recv(100)
    except ConnectionResetError:
        got = 'reset'
    waited = time.monotonic() - t0
    check(got in (b'', 'reset'), 'closed at the deadline: %r' % got)
    check(waited > 0.5 * TIME_SCALE, 'not before it (%.2f s)' % waited)
    k.close()
    check('end=rejected' in pt.log(), 'logged as rejected')
    check(try_connect(c, dst, PORT, source=src), 'one catch-all hit: not banned yet')
    wait_for(lambda: 'shield: banned %s' % src in pt.log(), 5 * TIME_SCALE,
             'the second catch-all hit bans: %s' % pt.log()[-400:])
    check(not try_connect(c, dst, PORT, source=src, timeout=0.5), 'banned by the catch-all')
    stop(pt)
    net.close()


def t_coexist():
    s.need()
    net = Net(s, 1)
    obj = '/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o'
    if not os.path.exists(obj):
        raise Skip('no xdp-tools program to load next to the shield (%s)' % obj)
    out = sh(*in_ns(net.srv, 'xdp-loader', 'load', '-m', 'native', 'vs0', obj), check_rc=False)
    st = xdp_status(net.srv)
    if 'xdp_dispatcher' not in st:
        raise Skip('libxdp cannot use its multiprog dispatcher on this kernel (xdp-loader '
                   'falls back to a single program too): %s' % st.strip().splitlines()[-1])
    pt = daemon(net, config(deny=[net.v4(0, 3) + '/32']))
    st = xdp_status(net.srv)
    check('prog_shield' in st and 'xdpfilt_alw_all' in st, 'both programs on vs0:\n%s' % st)
    check(not try_connect(net.clients[0], net.v4(0, 1), PORT, source=net.v4(0, 3), timeout=0.5),
          'the shield drops next to the other program')
    check(try_connect(net.clients[0], net.v4(0, 1), PORT, source=net.v4(0, 2)),
          'and passes what it should on to it')
    stop(pt)
    st = xdp_status(net.srv)
    check('prog_shield' not in st and 'xdpfilt_alw_all' in st,
          'the other program stays after the exit:\n%s (%s)' % (st, out))
    sh(*in_ns(net.srv, 'xdp-loader', 'unload', '-a', 'vs0'), check_rc=False)
    net.close()


s.case('deny list, IPv4 and IPv6, native mode on veth', t_deny_native)
s.case('allow list', t_allow)
s.case('generic mode on an interface without native XDP', t_generic)
s.case('reload swaps the lists without detaching', t_reload)
s.case('reload moves the shield to another interface', t_reload_ifaces)
s.case('SIGKILL: the next start detaches what the dead one left', t_crash_cleanup)
s.case('missing interface: logged, serving; required: no start', t_missing_iface, host_only=True)
s.case('an interface deleted and created again is shielded again, -w 2 and -w 1',
       t_iface_gone)
s.case('SYN rate limit: flood from one netns, real client in another', t_rate_limit)
s.case('SYN rate limit: IPv6 sources grouped by source_prefix_v6', t_rate_v6_prefix)
s.case('bans: failed detections ban a source, the ban expires', t_ban_detection)
s.case('passthru-ctl: ban add/del/list, stats and instance show the shield', t_ctl, host_only=True)
s.case('route drop: silence, then the ban of a catch-all', t_drop, host_only=True)
s.case('coexistence with a program loaded by xdp-loader', t_coexist)
s.finish()
