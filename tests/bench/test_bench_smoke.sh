#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Smoke test of `make bench`: one short repetition (QUICK=1 REPS=1, a few
# minutes), then check that the run produced every row and every column of
# its tables, not what the figures are. Not part of `make test`.
#
#   tests/bench/test_bench_smoke.sh
#
# What must hold: make exits 0; results.md and results.json are written
# (to a temporary BENCH_OUT, never over the committed tools/bench/results.md);
# every row of the JSON is in both markdown tables with one cell per
# configuration; direct, HAProxy and every passthru plane have a figure in
# every row (direct: all but the proxy-memory rows); no passthru measurement
# failed; nothing the run started is still running. sslh may fail where it
# cannot (sslh-select and its select() limit): that is a figure, not a bug.
#
# Needs root (passthru loads BPF). Last line: "N passed, N failed, N skipped";
# exit status non-zero on any failure.
set -u
cd "$(dirname "$0")/../.." || exit 1

pass=0 fail=0 skip=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ok()
{
	echo "ok   $1"
	pass=$((pass + 1))
}

nok()
{
	echo "FAIL $1${2:+: $2}"
	fail=$((fail + 1))
}

finish()
{
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
	exit
}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip bench smoke: needs root"
	skip=1
	finish
fi

ONLY=direct,haproxy,passthru-auto,passthru-copy,passthru-sockmap,passthru-splice,passthru-local
start=$(date +%s)
if make bench QUICK=1 REPS=1 ONLY=$ONLY BENCH_OUT="$T/out" >"$T/make.log" 2>&1; then
	ok "make bench QUICK=1 REPS=1 exits 0 ($(($(date +%s) - start)) s)"
else
	nok "make bench QUICK=1 REPS=1" "exit $?; last lines:"
	tail -n 30 "$T/make.log"
fi

if [ -s "$T/out/results.md" ] && [ -s "$T/out/results.json" ]; then
	ok "results.md and results.json written"
else
	nok "results.md and results.json written"
	finish
fi

if grep -q '^| measure |' "$T/make.log"; then
	ok "the table is printed"
else
	nok "the table is printed"
fi

# The row and cell checks: one line per check, "ok NAME" or "FAIL NAME: why".
python3 - "$T/out/results.json" "$T/out/results.md" >"$T/checks" 2>&1 <<'EOF'
import json
import sys

doc = json.load(open(sys.argv[1]))
md = open(sys.argv[2]).read().splitlines()
configs = doc['configs']
rows = doc['rows']
res = doc['results']
must = ['direct', 'haproxy', 'passthru-auto', 'passthru-copy', 'passthru-sockmap',
        'passthru-splice', 'passthru-local']


def check(cond, name, why=''):
    print(('ok   %s' % name) if cond else ('FAIL %s: %s' % (name, why)))


check(len(rows) >= 25, 'the JSON lists every measure', '%d rows' % len(rows))
check(set(configs) == set(must), 'every configuration asked for ran', ' '.join(configs))
for r in rows:
    lines = [l for l in md if l.startswith('| %s |' % r['label'])]
    cells = [len(l.strip().strip('|').split('|')) for l in lines]
    # Absolute table: label, unit, one cell per configuration; ratio table:
    # label, one cell per configuration but direct.
    check(cells == [len(configs) + 2, len(configs)], 'row "%s" in both tables' % r['label'],
          'cells per line %s' % cells)
    missing = [c for c in must
               if not (c == 'direct' and r['key'].startswith('mem_'))
               and not res.get(r['key'], {}).get(c, {}).get('n')]
    check(not missing, 'row "%s" has figures for %s' % (r['label'], ', '.join(must)),
          'missing: ' + ' '.join(missing))
bad = [e for e in doc['errors'] if e['config'].startswith('passthru')]
check(not bad, 'no passthru measurement failed', '; '.join(
    '%s %s: %s' % (e['config'], e['test'], e['error']) for e in bad))
EOF
while IFS= read -r line; do
	case $line in
	ok\ *)
		echo "$line"
		pass=$((pass + 1))
		;;
	FAIL\ *)
		echo "$line"
		fail=$((fail + 1))
		;;
	*)
		nok "result checks" "$line"
		;;
	esac
done <"$T/checks"

# Whatever the run started is gone (it kills its process groups on exit).
left=$(pgrep -a -f "$(pwd)/build/bench/ptload|ptbench|build/bench/run-" 2>/dev/null |
	grep -v -e pgrep -e "$$" || true)
if [ -z "$left" ]; then
	ok "no process of the run is left"
else
	nok "no process of the run is left" "$left"
fi

finish
