#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make install / uninstall into a DESTDIR: every file where PREFIX puts it,
# the units naming the installed binary, an edited example config kept by a
# second install and by uninstall, nothing else left by uninstall; and the
# daemon's bash completion. Ends "N passed, N failed[, N skipped]".
set -u
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
pass=0 fail=0
check() {
	local what=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fail=$((fail + 1)); fi
}
if [ ! -x "$BUILD/passthru" ] || [ ! -x "$BUILD/passthru-ctl" ]; then
	echo "skip: $BUILD/passthru not built"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
d=$tmp/root
inst() { make -s OUTPUT="$BUILD" DESTDIR="$d" PREFIX=/opt/pt SYSCONFDIR=/opt/etc "$@"; }

check "make install" inst install
want="/opt/etc/passthru/example.json
/opt/pt/lib/systemd/system/passthru.service
/opt/pt/lib/systemd/system/passthru@.service
/opt/pt/sbin/passthru
/opt/pt/sbin/passthru-ctl
/opt/pt/share/bash-completion/completions/passthru
/opt/pt/share/bash-completion/completions/passthru-ctl
/opt/pt/share/man/man5/passthru.json.5
/opt/pt/share/man/man8/passthru-ctl.8
/opt/pt/share/man/man8/passthru.8"
got=$(cd "$d" && find . -type f | sed 's/^\.//' | sort)
check "installed files: $got" test "$got" = "$want"
u=$d/opt/pt/lib/systemd/system/passthru@.service
check "unit runs /opt/pt/sbin/passthru on /opt/etc/passthru/%i.json" \
	grep -qx 'ExecStart=/opt/pt/sbin/passthru -c /opt/etc/passthru/%i.json --instance %i' "$u"
check "no @VAR@ left in the unit" bash -c "! grep -q '@[A-Z]*@' '$u'"
make -s OUTPUT="$BUILD" DESTDIR="$tmp/other" PREFIX=/usr install
check "another PREFIX, another ExecStart" grep -qx \
	'ExecStart=/usr/sbin/passthru -c /etc/passthru/%i.json --instance %i' \
	"$tmp/other/usr/lib/systemd/system/passthru@.service"
check "installed binary runs" bash -c "'$d/opt/pt/sbin/passthru' --version | grep -q '^passthru '"
# Its "user" must exist for --check: the package creates it, make install does not.
sed '/"user":/d' "$d/opt/etc/passthru/example.json" >"$tmp/example.json"
check "installed example config is valid (without its \"user\")" \
	bash -c "'$d/opt/pt/sbin/passthru' --check -c '$tmp/example.json' >/dev/null 2>&1"

# The sandbox is examples/passthru.service's (the unit for one config
# installed by hand), but for the template's command lines, the shared
# directory and --check's table kept out of the journal.
sandbox() {
	sed -n '/^\[Service\]/,/^\[/p' "$1" | grep -E '^[A-Z][A-Za-z]*=' |
		grep -vE '^(ExecStartPre|ExecStart|RuntimeDirectoryPreserve|StandardOutput)='
}
check "passthru@.service has the sandbox of examples/passthru.service" \
	diff <(sandbox examples/passthru.service) <(sandbox dist/systemd/passthru@.service.in)

echo '{}' >"$d/opt/etc/passthru/example.json"
inst install
check "a second install keeps an edited example" grep -qx '{}' "$d/opt/etc/passthru/example.json"
check "make uninstall" inst uninstall
got=$(cd "$d" && find . -type f | sed 's/^\.//')
check "uninstall keeps only the edited example: $got" test "$got" = /opt/etc/passthru/example.json
rm "$d/opt/etc/passthru/example.json"
inst install && inst uninstall
check "install + uninstall leave no file" test -z "$(find "$d" -type f)"

# The daemon's completion: options, planes, config files, instance names.
mkdir -p "$tmp/conf" && touch "$tmp/conf/front.json" "$tmp/conf/back.json" "$tmp/conf/x.txt"
# shellcheck source=../../dist/bash-completion/passthru
. dist/bash-completion/passthru
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_passthru
	printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}
check "complete --d" test "$(comp passthru --d)" = "--data-plane"
check "complete --data-plane s" test "$(comp passthru --data-plane s)" = "sockmap splice"
check "complete -c <conf>/" test "$(comp passthru -c "$tmp/conf/")" = "$tmp/conf/back.json $tmp/conf/front.json"
check "complete --instance" test "$(PASSTHRU_CONF_DIR=$tmp/conf comp passthru --instance '')" = "back front"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
