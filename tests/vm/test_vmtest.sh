#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Test tools/vmtest (virtme-ng's vng on Debian kernels) and the guest it
# gives the vm suite: boot each kernel (default: 6.1 6.12) and check that
# COMMAND's exit status and arguments come through, stdout and stderr stream
# live and intact, the checkout is at the same path and writes to it reach
# the host while writes elsewhere stay in the guest, the guest environment
# (cgroup2, lo up, network namespaces and veth, modules, memory) and what
# tests/lib/vm-setup.sh adds (bpffs, limits, macvlan, root unlocked, a
# sockmap), and the runner's own codes: 124 timeout, 125 panic or usage
# error, 77 skip.
#
#   tests/vm/test_vmtest.sh [KERNEL...]
#
# A kernel that cannot be fetched is skipped. Last line:
# "N passed, N failed, N skipped"; exit status non-zero on any failure.
# shellcheck disable=SC2016 # '$' is for the guest's shell
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd -P)
VMTEST=$TOP/tools/vmtest

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

pass=0 fail=0 skip=0
T=$(mktemp -d)
# Run directories of our runs go here: it must be empty afterwards.
mkdir "$T/tmp"
export TMPDIR=$T/tmp
TOKEN=$$.$RANDOM
trap 'rm -rf "$T" "$TOP"/.cache/vmtest-probe.*."$TOKEN"' EXIT

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

skipped()
{
	echo "skip $1${2:+: $2}"
	skip=$((skip + 1))
}

# expect NAME WANT GOT
expect()
{
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "want '$2', got '$3'"; fi
}

# expect_re NAME REGEX GOT
expect_re()
{
	if [[ $3 =~ $2 ]]; then ok "$1"; else nok "$1" "'$3' does not match /$2/"; fi
}

# The guest side of the main run: one "K name value" line per fact, a bulk
# of numbered lines on stdout, some stderr, and a chosen exit status.
GUEST='
k() { printf "K %s %s\n" "$1" "$2"; }
k early "$EPOCHREALTIME"
sleep 2
k uname "$(uname -r)"
k uid "$(id -u)"
k pwd "$(pwd)"
k path "$PATH"
k args "$(printf "<%s>" "$@")"
k env "$VMTEST_T_ENV"
k tmp "$(touch /tmp/vmtest-probe && echo writable)"
k run "$(stat -f -c %T /run)"
k cgroup "$(stat -f -c %T /sys/fs/cgroup)"
k debugfs "$(stat -f -c %T /sys/kernel/debug)"
k lo "$(ip -o link show lo | grep -o "<[^>]*>")"
k memory "$(awk "/^MemTotal:/ { print int(\$2 / 1024) }" /proc/meminfo)"
k netns "$(ip netns add vmt && ip netns add vmu &&
	ip -n vmt link add vta type veth peer name vtb netns vmu &&
	ip -n vmt addr add 10.9.9.1/24 dev vta && ip -n vmu addr add 10.9.9.2/24 dev vtb &&
	ip -n vmt link set vta up && ip -n vmu link set vtb up &&
	ip netns exec vmt python3 -c "
import socket, subprocess
l = socket.create_server((\"10.9.9.1\", 7000))
c = subprocess.Popen([\"ip\", \"netns\", \"exec\", \"vmu\", \"python3\", \"-c\",
	\"import socket; socket.create_connection((\\\"10.9.9.1\\\", 7000), 10).sendall(b\\\"veth\\\")\"])
a, _ = l.accept(); print(a.recv(4).decode()); c.wait()
")"
k modprobe "$(modprobe sch_ingress && grep -o "^sch_ingress" /proc/modules)"
. tests/lib/vm-setup.sh
vm_setup
k bpffs "$(stat -f -c %T /sys/fs/bpf)"
k nofile "$(ulimit -n)"
k memlock "$(ulimit -l)"
k macvlan "$(grep -ow "^macvlan" /proc/modules)"
k shadow "$(grep -o "^root:[^:]*" /etc/shadow)"
bpftool map create /sys/fs/bpf/vmtest_sm type sockmap key 4 value 4 entries 8 name vmtest_sm &&
	k bpftool_sockmap "$(bpftool map show pinned /sys/fs/bpf/vmtest_sm | grep -o sockmap)"
k tcp "$(python3 -c "
import socket
l = socket.create_server((\"127.0.0.1\", 0)); c = socket.create_connection(l.getsockname())
a, _ = l.accept(); c.sendall(b\"ping\"); print(a.recv(4).decode())
")"
echo "$(uname -r)" > "$VMTEST_T_CHECKOUT/.cache/vmtest-probe.$(uname -r).$VMTEST_T_TOKEN"
echo overlay-only > "/etc/vmtest-probe.$VMTEST_T_TOKEN"
k overlay "$(cat "/etc/vmtest-probe.$VMTEST_T_TOKEN")"
echo to-stderr >&2
seq 1 20000
k late "$EPOCHREALTIME"
exit 3
'

# main_run KERNEL: the one boot that checks most things.
main_run()
{
	local k=$1 out=$T/out.$1 err=$T/err.$1 rc line series want_md5 got_md5 t_early t_late
	local -A got=()

	mkdir -p "$TOP/.cache"
	# Run from the top of the checkout; stamp each stdout line on arrival
	# to see that output streams.
	# The script is a file: vng passes COMMAND on the kernel command line.
	echo "$GUEST" >"$T/guest.sh"
	("$VMTEST" -k "$k" -m 1G -e "VMTEST_T_ENV=a b  c" -e "VMTEST_T_TOKEN=$TOKEN" \
		-e "VMTEST_T_CHECKOUT=$TOP" -- bash "$T/guest.sh" 'x y' "q'uote" '$HOME' '' \
		2>"$err" | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$out"
		exit "${PIPESTATUS[0]}")
	rc=$?
	if [ "$rc" -eq 77 ]; then
		skipped "$k: boot" "$(tail -n 1 "$err")"
		return 1
	fi
	expect "$k: exit status of COMMAND comes back" 3 "$rc"
	while read -r _ tag key val; do
		[ "$tag" = K ] && got[$key]=$val
	done <"$out"

	if [[ $k =~ ^[0-9]+\.[0-9]+ ]]; then
		series=${BASH_REMATCH[0]}
		expect_re "$k: guest runs kernel $k" "^${series//./\\.}[.-]" "${got[uname]:-}"
	fi
	if [ "${got[uname]:-}" != "$(uname -r)" ] && [ -n "${got[uname]:-}" ]; then
		ok "$k: guest kernel ${got[uname]} differs from the host's $(uname -r)"
	else
		nok "$k: guest kernel differs from the host's" "${got[uname]:-none}"
	fi
	expect "$k: COMMAND runs as root" 0 "${got[uid]:-}"
	expect "$k: cwd preserved" "$TOP" "${got[pwd]:-}"
	expect_re "$k: PATH is sane" '(^|:)/usr/sbin(:|$)' "${got[path]:-}"
	expect "$k: arguments pass unchanged" "<x y><q'uote><\$HOME><>" "${got[args]:-}"
	expect "$k: --env value with blanks" "a b  c" "${got[env]:-}"
	expect "$k: /tmp is writable" writable "${got[tmp]:-}"
	expect "$k: /run is tmpfs" tmpfs "${got[run]:-}"
	expect "$k: cgroup2 at /sys/fs/cgroup" cgroup2fs "${got[cgroup]:-}"
	expect "$k: debugfs at /sys/kernel/debug" debugfs "${got[debugfs]:-}"
	expect_re "$k: lo is UP" '[<,]UP[,>]' "${got[lo]:-}"
	expect_re "$k: about 1 GiB of memory (MiB)" '^(9[0-9][0-9]|10[0-9][0-9])$' "${got[memory]:-}"
	expect "$k: a network namespace with a veth pair passes traffic" veth "${got[netns]:-}"
	expect "$k: modprobe finds the guest kernel's modules" sch_ingress "${got[modprobe]:-}"
	expect "$k: vm_setup: bpffs at /sys/fs/bpf" bpf_fs "${got[bpffs]:-}"
	expect_re "$k: vm_setup: RLIMIT_NOFILE raised" '^[0-9]{6,}$' "${got[nofile]:-}"
	expect "$k: vm_setup: RLIMIT_MEMLOCK unlimited" unlimited "${got[memlock]:-}"
	expect "$k: vm_setup: macvlan loaded" macvlan "${got[macvlan]:-}"
	expect "$k: vm_setup: root not locked (sshd key logins)" "root:*" "${got[shadow]:-}"
	expect "$k: a sockmap pinned with bpftool" sockmap "${got[bpftool_sockmap]:-}"
	expect "$k: loopback TCP works" ping "${got[tcp]:-}"
	expect "$k: writes under the checkout reach the host" "${got[uname]:-?}" \
		"$(cat "$TOP/.cache/vmtest-probe.${got[uname]:-?}.$TOKEN" 2>/dev/null)"
	expect "$k: writes elsewhere land in the overlay" overlay-only "${got[overlay]:-}"
	if [ -e "/etc/vmtest-probe.$TOKEN" ]; then
		nok "$k: writes elsewhere stay off the host" "/etc/vmtest-probe.$TOKEN exists"
	else
		ok "$k: writes elsewhere stay off the host"
	fi
	expect "$k: stderr comes out on stderr" to-stderr "$(grep -x to-stderr "$err")"
	want_md5=$(seq 1 20000 | md5sum)
	got_md5=$(awk '$2 ~ /^[0-9]+$/ { print $2 }' "$out" | md5sum)
	expect "$k: 20000 stdout lines arrive intact and in order" "$want_md5" "$got_md5"
	# "early" was printed 2 s before the rest: it must have arrived before it.
	t_early=$(awk '$2 == "K" && $3 == "early" { print $1 }' "$out")
	t_late=$(awk '$2 == "K" && $3 == "late" { print $1 }' "$out")
	if [ -n "$t_early" ] && [ -n "$t_late" ] &&
	   awk -v a="$t_early" -v b="$t_late" 'BEGIN { exit !(b - a >= 1.5) }'; then
		ok "$k: stdout streams live"
	else
		nok "$k: stdout streams live" "early at ${t_early:-?}, late at ${t_late:-?}"
	fi
	return 0
}

# codes_run KERNEL: the runner's own exit codes.
codes_run()
{
	local k=$1 rc out
	out=$("$VMTEST" -k "$k" -- sh -c 'echo before; sleep 1; echo c >/proc/sysrq-trigger; echo after' \
		2>"$T/err")
	rc=$?
	expect "$k: kernel panic gives 125" 125 "$rc"
	expect "$k: output before the panic is kept" before "$out"
	expect_re "$k: the panic is reported" 'no exit status' "$(cat "$T/err")"

	"$VMTEST" -k "$k" --timeout 15 -- sleep 120 2>"$T/err"
	rc=$?
	expect "$k: timeout gives 124" 124 "$rc"
	expect_re "$k: the timeout is reported" 'timed out after 15 s' "$(cat "$T/err")"

	# stdout into a regular file with stderr on the same file: neither
	# may overwrite the other.
	"$VMTEST" -k "$k" -- sh -c 'echo one; echo two >&2; echo three' >"$T/both" 2>&1
	expect "$k: stdout and stderr into one file: all lines kept" 3 \
		"$(grep -cxE 'one|two|three' "$T/both")"
}

# host_only: what needs no boot.
host_only()
{
	local rc err c img
	"$VMTEST" --bogus-option -- true >/dev/null 2>&1
	expect "unknown option gives 125" 125 $?
	"$VMTEST" >/dev/null 2>&1
	expect "no COMMAND gives 125" 125 $?
	err=$("$VMTEST" -k "${kernels[0]}" -- bash -c "$GUEST" 2>&1)
	rc=$?
	if [ "$rc" -ne 77 ]; then
		expect "a COMMAND too long for the kernel command line gives 125" 125 "$rc"
		expect_re "a COMMAND too long: says so" 'put it in a script' "$err"
	fi

	img=$("$VMTEST" --print-kernel -k "${kernels[0]}" 2>/dev/null)
	rc=$?
	if [ "$rc" -eq 77 ]; then
		skipped "--print-kernel" "kernel ${kernels[0]} not fetchable"
	else
		expect_re "--print-kernel prints the image" '/boot/vmlinuz-[^/]+$' "$img"
		expect_re "--print-kernel: the modules are beside it" 'modules.dep' \
			"$(ls "$(dirname "$(dirname "$img")")/lib/modules/${img##*/vmlinuz-}/")"
		err=$("$VMTEST" -n -k "${kernels[0]}" -- tests/run vm 2>&1)
		if [[ $err == "vng --run $img --force-9p "*" --disable-kvm "*" --exec "*"vm-setup.sh\ tests/run\ vm" ]]; then
			ok "--dry-run prints the vng line"
		else
			nok "--dry-run prints the vng line" "$err"
		fi
	fi

	# No archive reachable: an empty cache and an APT proxy nobody listens on.
	c=$T/skip
	mkdir -p "$c"
	printf 'Acquire::http::Proxy "http://127.0.0.1:9";\nAcquire::https::Proxy "http://127.0.0.1:9";\nAcquire::Retries "0";\n' >"$c/apt.conf"
	err=$(APT_CONFIG=$c/apt.conf VMTEST_CACHE=$c/cache "$VMTEST" -k 6.12 -- true 2>&1 >/dev/null)
	rc=$?
	expect "unfetchable kernel gives 77" 77 "$rc"
	expect "unfetchable kernel: one line" 1 "$(echo "$err" | wc -l)"
	expect_re "unfetchable kernel: says so" '^vmtest: cannot fetch linux-image-.*: .*; skipping$' "$err"

	# The same for a suite of its own (tools/apt-suite).
	err=$(APT_SUITE_DIR=$c/apt APT_SUITE_MIRROR=http://127.0.0.1:9/debian VMTEST_CACHE=$c/cache \
		"$VMTEST" -k sid -- true 2>&1 >/dev/null)
	rc=$?
	expect "unreachable suite gives 77" 77 "$rc"
	expect_re "unreachable suite: one line that says so" \
		'^vmtest: cannot fetch linux-image-amd64: apt-suite: cannot reach sid .*; skipping$' "$err"
}

host_only
first=
for k in "${kernels[@]}"; do
	echo "=== kernel $k"
	main_run "$k" && [ -z "$first" ] && first=$k
done
if [ -n "$first" ]; then
	echo "=== exit codes ($first)"
	codes_run "$first"
	acc=$("$VMTEST" -k "$first" -v -- true 2>&1 | sed -n 's/.*, accel \([a-z]*\),.*/\1/p')
	expect_re "--accel auto picks kvm or tcg (here: ${acc:-?})" '^(kvm|tcg)$' "$acc"
fi
if [ -n "$(ls -A "$T/tmp")" ] || pgrep -f "$T/tmp" >/dev/null; then
	nok "no run directory or process left behind" "$(ls -A "$T/tmp")"
else
	ok "no run directory or process left behind"
fi

echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
