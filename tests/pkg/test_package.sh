#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The Debian package end to end (make test-package, root): make deb, lintian
# (no error), apt install ./passthru_*.deb, what it installed (user, units,
# man pages, completions), an instance run as passthru@.service says, a TLS
# client through it to an openssl s_server, a reload, a stop, apt purge and
# what purge leaves. Where systemd is PID 1 the instance runs under
# systemctl; elsewhere the unit is checked with systemd-analyze verify and
# its ExecStartPre/ExecStart lines are run as written, under the unit's
# bounding set, no_new_privs and LimitNOFILE (setpriv, ulimit).
# PT_DEB=FILE.deb skips the build. Ends "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."

pass=0 fail=0 skip=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
summary() {
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
	exit
}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip: not root (apt install needs it)"
	skip=1
	summary
fi
if dpkg-query -W -f='${Status}' passthru 2>/dev/null | grep -q 'ok installed'; then
	bad "passthru is already installed on this machine: not touching it"
	summary
fi

INST=pkgtest
CONF=/etc/passthru/$INST.json
tmp=$(mktemp -d /tmp/pt-pkg.XXXXXX)
user_before=$(getent passwd passthru)
[ -d /run/passthru ] && run_before=1 || run_before=0
[ -d /sys/fs/bpf/passthru ] && pins_before=1 || pins_before=0
installed=0 daemon=0 backend=0

cleanup() {
	[ "$daemon" -ne 0 ] && kill -KILL "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ "$backend" -ne 0 ] && kill "$backend" 2>/dev/null && wait "$backend" 2>/dev/null
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "passthru@$INST" >/dev/null 2>&1
	fi
	rm -f "/etc/systemd/system/multi-user.target.wants/passthru@$INST.service"
	rm -f "$CONF" /run/passthru/"$INST".*
	rmdir /sys/fs/bpf/passthru/"$INST" 2>/dev/null
	[ "$pins_before" -eq 0 ] && rmdir /sys/fs/bpf/passthru 2>/dev/null
	[ "$run_before" -eq 0 ] && rmdir /run/passthru 2>/dev/null
	[ "$installed" -eq 1 ] && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 purge -y -q passthru >/dev/null 2>&1
	# Debian keeps system users at purge; the test removes the one it made.
	if [ -z "$user_before" ] && getent passwd passthru >/dev/null; then
		deluser --system --quiet passthru >/dev/null 2>&1
		getent group passthru >/dev/null && delgroup --system --quiet passthru >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# What could be left of a passthru install, before and after.
leftovers() {
	find /etc /lib/systemd/system /usr/sbin /usr/share/man /usr/share/doc \
		/usr/share/bash-completion /var/lib/systemd/deb-systemd-helper-enabled /var/lib/dpkg/info \
		-name '*passthru*' 2>/dev/null | sort
}
leftovers >"$tmp/before"

# --- build and lint
t0=$SECONDS
git status --porcelain >"$tmp/tree.before" 2>/dev/null
if [ -n "${PT_DEB:-}" ]; then
	deb=$(realpath "$PT_DEB")
else
	make -s deb >"$tmp/deb.log" 2>&1 || { tail -n 30 "$tmp/deb.log"; bad "make deb"; summary; }
	deb=$(realpath build/deb/passthru_*.deb 2>/dev/null | head -n 1)
fi
check "make deb built a package ($((SECONDS - t0)) s)" test -f "$deb"
[ -f "$deb" ] || summary
git status --porcelain >"$tmp/tree.after" 2>/dev/null
check "the package build changed nothing git sees in the tree" diff "$tmp/tree.before" "$tmp/tree.after"
t0=$SECONDS
lint=${deb%.deb}.changes
[ -f "$lint" ] || lint=$deb
lintian --fail-on error "$lint" >"$tmp/lintian" 2>&1
rc=$?
check "lintian $(basename "$lint"): no error (exit $rc, $((SECONDS - t0)) s)" test "$rc" -eq 0
grep -E '^[EW]:' "$tmp/lintian" | sed 's/^/  lintian /'

# --- install
t0=$SECONDS
DEBIAN_FRONTEND=noninteractive apt -o DPkg::Lock::Timeout=300 install -y -q "$deb" >"$tmp/apt.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] && installed=1
check "apt install $deb ($((SECONDS - t0)) s)" test "$rc" -eq 0
[ "$installed" -eq 1 ] || { tail -n 20 "$tmp/apt.log"; summary; }

pw=$(getent passwd passthru)
uid=$(echo "$pw" | cut -d: -f3)
check "system user passthru (${pw:-none})" \
	bash -c "[ -n '$uid' ] && [ '$uid' -lt 1000 ] && [ '${pw##*:}' = /usr/sbin/nologin ]"
check "passthru.service enabled (the group of the instances)" \
	test -L /etc/systemd/system/multi-user.target.wants/passthru.service
for f in /usr/sbin/passthru /usr/sbin/passthru-ctl /lib/systemd/system/passthru@.service \
	/etc/passthru/example.json; do
	check "installed $f" test -s "$f"
done
check "/etc/passthru/example.json is a conffile" \
	bash -c "dpkg-query -W -f='\${Conffiles}' passthru | grep -q /etc/passthru/example.json"
for m in 8:passthru 8:passthru-ctl 5:passthru.json; do
	check "man ${m%%:*} ${m#*:} renders without warnings" bash -c \
		"out=\$(MANWIDTH=80 man --warnings ${m%%:*} ${m#*:} 2>&1 >/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; false; }"
done
for c in passthru passthru-ctl; do
	check "bash completion of $c loads" bash -c \
		". /usr/share/bash-completion/completions/$c && complete -p $c >/dev/null"
done
check "example config passes passthru --check" \
	bash -c '/usr/sbin/passthru --check -c /etc/passthru/example.json >/dev/null 2>&1'

# --- an instance, on free loopback ports, user passthru as in the example
read -r lport bport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
sed -e "s/127.0.0.1:8443/127.0.0.1:$lport/" -e "s/127.0.0.1:9443/127.0.0.1:$bport/" \
	/etc/passthru/example.json >"$CONF"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=site.example -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
openssl s_server -accept "127.0.0.1:$bport" -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
	-rev -quiet >"$tmp/backend.log" 2>&1 </dev/null &
backend=$!

unit=/lib/systemd/system/passthru@.service
cp "$unit" "$tmp/passthru@$INST.service"
# verify resolves the template from the unit path; the copy names the instance.
systemd-analyze verify "$tmp/passthru@$INST.service" >"$tmp/verify" 2>&1
rc=$?
# Exit 0 needs the binary and the man pages in place; an unknown key only warns.
check "systemd-analyze verify passthru@$INST.service: exit $rc, $(wc -l <"$tmp/verify") lines" \
	test "$rc" -eq 0 -a ! -s "$tmp/verify"
sed 's/^/  verify: /' "$tmp/verify"

# The unit's line KEY=..., with %i expanded and $MAINPID left to the caller.
unit_line() {
	sed -n "s/^$1=[-@:+!]*//p" "$unit" | head -n 1 | sed "s/%i/$INST/g"
}
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' |
	sed -e 's/cap_/+/g' -e 's/ /,/g')
nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")

socket=/run/passthru/$INST.sock
systemctl enable "passthru@$INST" >"$tmp/enable" 2>&1
check "systemctl enable passthru@$INST: $(tr '\n' ' ' <"$tmp/enable")" \
	test -L "/etc/systemd/system/multi-user.target.wants/passthru@$INST.service"
if [ -d /run/systemd/system ]; then
	echo "systemd is PID 1: systemctl start passthru@$INST"
	check "systemctl start passthru@$INST" systemctl start "passthru@$INST"
	daemon_pid() { systemctl show -P MainPID "passthru@$INST"; }
	reload_cmd=(systemctl reload "passthru@$INST")
	stop_cmd=(systemctl stop "passthru@$INST")
else
	echo "systemd is not PID 1 ($(ps -o comm= -p 1)): running the unit's ExecStartPre and ExecStart"
	pre=$(unit_line ExecStartPre)
	start=$(unit_line ExecStart)
	check "ExecStart runs the installed binary on $CONF ($start)" \
		test "${start%% *}" = /usr/sbin/passthru -a "${start#* -c }" != "$start"
	# shellcheck disable=SC2086 # the unit's words, as systemd splits them
	check "ExecStartPre: $pre" bash -c "$pre >/dev/null 2>&1"
	mkdir -p -m 0755 /run/passthru # RuntimeDirectory=
	# shellcheck disable=SC2086
	# LimitNOFILE=, or the hard limit where this container caps it lower.
	ulimit -n "$nofile" 2>/dev/null || { nofile=$(ulimit -Hn); echo "  LimitNOFILE: hard limit here is $nofile"; }
	bash -c "ulimit -n $nofile && exec setpriv --no-new-privs --bounding-set -all,$caps $start" \
		>"$tmp/daemon.log" 2>&1 &
	daemon=$!
	daemon_pid() { echo "$daemon"; }
	reload_cmd=(kill -HUP "$daemon") # ExecReload=/bin/kill -HUP $MAINPID
	stop_cmd=(kill -TERM "$daemon")
fi

for _ in $(seq 100); do
	[ -S "$socket" ] && break
	sleep 0.1
done
check "control socket $socket" test -S "$socket"
[ -S "$socket" ] || sed "s/^/  daemon: /" "$tmp/daemon.log"
pid=$(daemon_pid)
check "daemon runs as user passthru" test "$(ps -o user= -p "$pid" 2>/dev/null)" = passthru

# A real TLS client, through passthru, to the s_server that reverses lines.
out=$( (printf 'hello passthru\n'; sleep 1) | timeout 10 openssl s_client -no_ign_eof \
	-connect "127.0.0.1:$lport" -servername site.example 2>&1)
check "TLS via the route site: backend certificate" grep -q 'subject=CN = site.example' <<<"$out"
check "TLS via the route site: line reversed by the backend" grep -q 'urhtssap olleh' <<<"$out"
stats=$(passthru-ctl -j stats --instance "$INST" 2>&1)
check "passthru-ctl stats: route site matched 1" python3 -c '
import json, sys
def walk(x):
	if isinstance(x, dict):
		if x.get("name") == "site" and "matched" in x:
			yield x["matched"]
		for v in x.values():
			yield from walk(v)
	elif isinstance(x, list):
		for v in x:
			yield from walk(v)
sys.exit(0 if list(walk(json.loads(sys.argv[1]))) == [1] else 1)' "$stats" ||
	echo "  stats: ${stats:0:600}"

gen() { passthru-ctl -j version --instance "$INST" 2>/dev/null | grep -o '"generation":[0-9]*' | head -n 1; }
check "before reload: generation 0" test "$(gen)" = '"generation":0'
"${reload_cmd[@]}"
for _ in $(seq 50); do
	[ "$(gen)" = '"generation":1' ] && break
	sleep 0.1
done
check "reload (the unit's ExecReload): generation 1" test "$(gen)" = '"generation":1'

"${stop_cmd[@]}"
if [ "$daemon" -ne 0 ]; then
	for _ in $(seq 150); do
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	wait "$daemon"
	rc=$?
	daemon=0
	check "SIGTERM: the daemon exits 0 (exit $rc)" test "$rc" -eq 0
	grep -E 'conn: .*route=site' "$tmp/daemon.log" | head -n 1 | sed 's/^/  log: /'
	check "its log line: route=site end=done" grep -qE 'conn: .*route=site .*end=done' "$tmp/daemon.log"
else
	check "systemctl stop: the instance is inactive" \
		bash -c "! systemctl is-active -q passthru@$INST"
fi
kill "$backend" 2>/dev/null
wait "$backend" 2>/dev/null
backend=0

# --- purge: the admin's own config goes first (dpkg would keep it, rightly)
rm -f "$CONF" /run/passthru/"$INST".*
t0=$SECONDS
DEBIAN_FRONTEND=noninteractive apt -o DPkg::Lock::Timeout=300 purge -y -q passthru >"$tmp/purge.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] && installed=0
check "apt purge passthru ($((SECONDS - t0)) s)" test "$rc" -eq 0
check "dpkg knows no passthru" bash -c "! dpkg-query -W -f='\${Status}' passthru 2>/dev/null | grep -q installed"
leftovers >"$tmp/after"
check "purge left no file behind" diff "$tmp/before" "$tmp/after"
if [ -z "$user_before" ]; then
	check "purge keeps the system user (Debian policy; removed by this test)" \
		bash -c 'getent passwd passthru >/dev/null'
fi
summary
