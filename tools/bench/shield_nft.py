#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The shield figure: SYNs per second dropped by the XDP shield against an
nftables drop rule for the same deny list, on the same veth, in one run.

A server namespace holds passthru (listening on :8443) and one side of a
veth pair; a client namespace sends bare SYNs from a denied address with
build/tests/ptsyn (AF_PACKET, sendmmsg, one thread) for SECONDS. The deny
list is LIST_SIZE random /24s plus the sender's /32. Each round measures,
in turn:
  xdp         the shield on the server veth (native mode), counter "denied";
  nft-ingress passthru without shield, an nftables netdev ingress chain on
              the veth: "ip saddr @deny counter drop";
  nft-raw     the same rule in an inet chain at prerouting, priority raw.
Reported per method: packets per second the sender offered and packets per
second dropped (medians of ROUNDS), and the share of the machine's CPU time
that was busy meanwhile (/proc/stat: every CPU, so other load counts too).
On a veth pair the receiving side runs in the softirq of the sending CPU,
so a cheaper drop shows as a higher offered (and dropped) rate.

  tools/bench/shield_nft.py [--seconds 5] [--rounds 3] [--list-size 1000]
"""
import argparse
import ipaddress
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'bpf'))

from shieldtest import ShieldSuite, Net, NsPassthru, counters, sh  # noqa: E402

PTSYN = os.path.join(ROOT, os.environ.get('BUILD', 'build'), 'tests', 'ptsyn')
PORT = 8443


def cpu_busy():
    """(busy, total) jiffies over all CPUs."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def send(net, dmac, seconds):
    b0 = cpu_busy()
    out = sh('ip', 'netns', 'exec', net.clients[0], PTSYN, 'vc0', dmac, net.v4(0, 3),
             net.v4(0, 1), str(PORT), str(seconds))
    b1 = cpu_busy()
    sent = int(re.search(r'sent (\d+) packets', out).group(1))
    busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
    return sent, busy


def deny_list(net, n):
    rnd = random.Random(42)
    nets = set()
    while len(nets) < n:
        nets.add('198.%d.%d.0/24' % (rnd.randint(18, 19), rnd.randint(0, 255)) if len(nets) < 512
                 else '100.%d.%d.0/24' % (rnd.randint(64, 127), rnd.randint(0, 255)))
    return sorted(nets) + [net.v4(0, 3) + '/32']


def config(prefixes, shield):
    l = {'name': 'bench', 'listen': ':%d' % PORT,
         'routes': [{'name': 'any', 'forward': '127.0.0.1:9'}]}
    if shield:
        l['shield'] = {'interfaces': ['vs0'], 'deny': prefixes}
    return {'listeners': [l]}


def nft_rules(net, prefixes, where):
    elems = ', '.join(prefixes)
    if where == 'ingress':
        text = ('table netdev ptbench {\n set deny { type ipv4_addr; flags interval; '
                'elements = { %s } }\n chain ptin {\n type filter hook ingress device vs0 '
                'priority 0;\n ip saddr @deny counter drop\n }\n}\n' % elems)
    else:
        text = ('table inet ptbench {\n set deny { type ipv4_addr; flags interval; '
                'elements = { %s } }\n chain ptpre {\n type filter hook prerouting priority raw;\n'
                ' ip saddr @deny counter drop\n }\n}\n' % elems)
    p = subprocess.run(['ip', 'netns', 'exec', net.srv, 'nft', '-f', '-'], input=text,
                       text=True, capture_output=True)
    if p.returncode:
        raise SystemExit('nft: %s' % p.stderr)


def nft_dropped(net):
    out = json.loads(sh('ip', 'netns', 'exec', net.srv, 'nft', '-j', 'list', 'ruleset'))
    n = 0
    for e in out['nftables']:
        for x in e.get('rule', {}).get('expr', []):
            if 'counter' in x:
                n += x['counter']['packets']
    return n


def nft_flush(net):
    sh('ip', 'netns', 'exec', net.srv, 'nft', 'flush', 'ruleset')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--list-size', type=int, default=1000)
    a = ap.parse_args()
    s = ShieldSuite('shield-nft')
    if s.why:
        raise SystemExit(s.why)
    net = Net(s, 1)
    dmac = re.search(r'link/ether (\S+)', sh('ip', '-n', net.srv, 'link', 'show', 'vs0')).group(1)
    prefixes = deny_list(net, a.list_size)
    inst = 'ptbench-%d' % os.getpid()
    res = {'xdp': [], 'nft-ingress': [], 'nft-raw': []}
    for r in range(a.rounds):
        pt = NsPassthru(s, net.srv, config(prefixes, True), args=['-i', inst], name='x%d' % r)
        before = counters(inst)['denied'][0]
        sent, busy = send(net, dmac, a.seconds)
        dropped = counters(inst)['denied'][0] - before
        res['xdp'].append((sent, dropped, busy))
        pt.stop()
        pt = NsPassthru(s, net.srv, config(prefixes, False), args=['-i', inst], name='n%d' % r)
        for where in ('ingress', 'raw'):
            nft_rules(net, prefixes, where)
            sent, busy = send(net, dmac, a.seconds)
            res['nft-' + where].append((sent, nft_dropped(net), busy))
            nft_flush(net)
        pt.stop()
    print('deny list: %d prefixes; %s s per measurement, %d rounds, same veth' %
          (len(prefixes), a.seconds, a.rounds))
    print('%-12s %14s %16s %10s' % ('method', 'offered pps', 'dropped pps', 'CPU busy'))
    for k, v in res.items():
        print('%-12s %14.0f %16.0f %9.0f%%' % (
            k, statistics.median(x[0] for x in v) / a.seconds,
            statistics.median(x[1] for x in v) / a.seconds,
            100 * statistics.median(x[2] for x in v)))
    s.cleanup()
    net.close()


if __name__ == '__main__':
    main()
