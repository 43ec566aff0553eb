#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The man pages under man/: each renders with man -l (groff -ww: every
# warning) without a word on stderr, and passthru.json(5) has an entry
# (".TP" then ".B key") for every key of every key table in user/config*.c,
# so adding a key without documenting it fails here; they and
# debian/changelog name the daemon's version. Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."

pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
	echo "skip: man-db or groff missing (make deps)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

for m in man/*.[1-8]; do
	err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$m" 2>&1 >/dev/null)
	[ -z "$err" ] && ok || bad "man -l $m: $err"
	err=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
	[ -z "$err" ] && ok || bad "groff -ww $m: $err"
	sec=$(sed -n 's/^\.TH [^ ]* \([0-9]\).*/\1/p' "$m")
	[ "$sec" = "${m##*.}" ] && ok || bad "$m: .TH section '$sec' is not the file's"
done

# The version they (and debian/changelog) name is the daemon's.
ver=$(sed -n 's/^#define PT_VERSION[[:space:]]*"\(.*\)"/\1/p' user/main.c)
for m in man/*.[1-8]; do
	grep -q "^\.TH .* \"passthru $ver\"" "$m" && ok || bad "$m: .TH does not name passthru $ver"
done
head -n 1 debian/changelog | grep -q "^passthru ($ver)" && ok ||
	bad "debian/changelog does not start with passthru ($ver)"

# Every key of every "struct pt_cfg_key NAME[...] = {" table: its entries
# are "[ENUM] = {"key", ...", possibly with the brace on the next line.
keys=$(python3 - user/config*.c <<'PY'
import re, sys
keys = set()
for f in sys.argv[1:]:
	src = open(f).read()
	for t in re.finditer(r'struct pt_cfg_key\s+\w+\s*\[[^]]*\]\s*=\s*\{', src):
		body = src[t.end():src.index('\n};', t.end())]
		keys.update(re.findall(r'\[\w+\]\s*=\s*\{\s*"([^"]+)"', body))
print("\n".join(sorted(keys)))
PY
)
n=$(echo "$keys" | grep -c .)
[ "$n" -ge 30 ] && ok || bad "only $n config keys found in user/config*.c: the table pattern changed?"
documented=$(awk 'tp && /^\.B /{print $2} {tp = /^\.TP/}' man/passthru.json.5 | sort -u)
for k in $keys; do
	grep -qx -- "$k" <<<"$documented" && ok || bad "config key \"$k\" has no entry in man/passthru.json.5"
done

# The daemon's long options are in passthru(8).
for o in $(grep -o '{ "[a-z-]*", [a-z_]*_argument' user/main.c | cut -d'"' -f2); do
	grep -q -- "\\\\-\\\\-${o//-/\\\\-}" man/passthru.8 && ok || bad "passthru --$o is not in man/passthru.8"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
