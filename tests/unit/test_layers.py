#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The daemon's module graph, read off the built objects with nm.

A module calls another when its object file has an undefined symbol that
the other defines. Checks what README's file map promises:
- the graph has no cycle but detect.c <-> detectors/ (a table of probes);
- below conn.c nothing calls up: the data planes, upstream.c, stats.c and
  the detectors call no function of conn, worker, listener, master or main;
- stats.h and the type headers do not include conn.h;
- the test knobs (getenv of PASSTHRU_*) exist only in the test build;
- no C source file is over 800 lines.
Run from anywhere; BUILD (default build) names the build directory.
Ends with "N passed, N failed".
"""
import collections
import glob
import os
import re
import subprocess
import sys

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
BUILD = os.path.join(TOP, os.environ.get('BUILD', 'build'))
OBJ = os.path.join(BUILD, 'obj', 'user')
UPPER = {'conn', 'worker', 'listener', 'master', 'main'}
BELOW_CONN = {'sockmap', 'sockmap-wake', 'splice', 'upstream', 'stats', 'pairs', 'route', 'detect',
              'proxyio', 'proxyproto', 'dataplane', 'pool', 'health'}
ALLOWED_CYCLE = {'detect'}          # plus everything under detectors/
MAX_LINES = 800

passed = failed = 0


def result(ok, what, why=''):
    global passed, failed
    if ok:
        passed += 1
        print('ok', what)
    else:
        failed += 1
        print('FAIL', what + (': ' + why if why else ''))


def module_graph():
    """{module: set(modules it calls)} from nm over build/obj/user."""
    defs, undef = {}, {}
    for o in sorted(glob.glob(OBJ + '/*.o') + glob.glob(OBJ + '/detectors/*.o')):
        m = os.path.relpath(o, OBJ)[:-2]
        out = subprocess.run(['nm', o], capture_output=True, text=True, check=True).stdout
        undef[m] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in 'TDBR':
                defs[f[2]] = m
            elif len(f) == 2 and f[0] == 'U':
                undef[m].add(f[1])
    g = {m: {defs[u] for u in us if u in defs and defs[u] != m} for m, us in undef.items()}
    return g


def cycles(g):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_graph():
    g = module_graph()
    result(len(g) > 20 and 'conn' in g and 'sockmap' in g, 'objects found in ' + OBJ,
           'found %s' % sorted(g))
    bad = [c for c in cycles(g)
           if not all(m in ALLOWED_CYCLE or m.startswith('detectors/') for m in c)]
    result(not bad, 'no cycle but detect <-> detectors/', str(bad))
    for m in sorted(BELOW_CONN | {d for d in g if d.startswith('detectors/')}):
        up = sorted(g.get(m, set()) & UPPER)
        result(not up, '%s calls nothing above conn' % m, 'calls ' + ', '.join(up))


def includes(path):
    with open(path) as f:
        return re.findall(r'^#include "([^"]+)"', f.read(), re.M)


def test_headers():
    for h in ['stats.h'] + [os.path.basename(p) for p in glob.glob(TOP + '/user/*-t.h')]:
        inc = includes(os.path.join(TOP, 'user', h))
        result('conn.h' not in inc and 'worker.h' not in inc,
               '%s includes neither conn.h nor worker.h' % h, str(inc))


def test_knobs():
    knobs = [b'PASSTHRU_FAULT_', b'PASSTHRU_SELFTEST_FAIL']
    with open(os.path.join(BUILD, 'passthru'), 'rb') as f:
        prod = f.read()
    result(not any(k in prod for k in knobs), 'build/passthru reads no test knob')
    hooks = os.path.join(BUILD, 'tests', 'passthru-hooks')
    with open(hooks, 'rb') as f:
        test = f.read()
    result(all(k in test for k in knobs), 'the test build has every knob')


def test_lengths():
    srcs = glob.glob(TOP + '/user/**/*.[ch]', recursive=True) + \
        glob.glob(TOP + '/tools/**/*.[ch]', recursive=True) + glob.glob(TOP + '/bpf/*.c') + \
        glob.glob(TOP + '/include/*.h')
    long_ = []
    for p in sorted(srcs):
        with open(p) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            long_.append('%s (%d)' % (os.path.relpath(p, TOP), n))
    result(len(srcs) > 40 and not long_, 'no source file over %d lines' % MAX_LINES,
           ', '.join(long_))


for t in (test_graph, test_headers, test_knobs, test_lengths):
    try:
        t()
    except Exception as e:  # a missing object or binary is a failure, not a crash
        result(False, t.__name__, repr(e))
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
