#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The bash completion of passthru-ctl: source it, complete a few command
# lines (objects, commands, keywords, options, instance names from a fake
# pin root and run directory) and compare. Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."

pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pins/front" "$tmp/pins/back" "$tmp/run"
touch "$tmp/run/front.sock" "$tmp/run/edge.pairs"
export PASSTHRU_CTL_PIN_ROOT=$tmp/pins PASSTHRU_CTL_RUN_DIR=$tmp/run

# shellcheck source=../../tools/passthru-ctl/bash-completion/passthru-ctl
. tools/passthru-ctl/bash-completion/passthru-ctl

# expect "WORDS..." "EXPECTED": complete the last word of WORDS (may be "").
expect()
{
	local line=$1 want=$2 got
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_passthru_ctl
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
	if [ "$got" = "$want" ]; then
		pass=$((pass + 1))
	else
		echo "FAIL: '$line': got '$got', want '$want'"
		fail=$((fail + 1))
	fi
}

expect "passthru-ctl " "ban config conn help instance instances reload route routes stats status upstream version"
expect "passthru-ctl ban " "add del help list"
expect "passthru-ctl co" "config conn"
expect "passthru-ctl -j con" "config conn"
expect "passthru-ctl conn " "help list show"
expect "passthru-ctl config " "help reload"
expect "passthru-ctl conn show " "client route"
expect "passthru-ctl conn show route web " "client"
expect "passthru-ctl conn show route " ""
expect "passthru-ctl --instance " "back edge front"
expect "passthru-ctl --instance f" "front"
expect "passthru-ctl instance show " "back edge front"
expect "passthru-ctl --instance front st" "stats status"
expect "passthru-ctl status --r" "--route"
expect "passthru-ctl stats --r" ""
expect "passthru-ctl route show --j" "--json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
