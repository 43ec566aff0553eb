# shellcheck shell=bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# vm_setup: what the vm suite needs beyond a virtme-ng guest's own setup
# (which has /run, /tmp, cgroup2, debugfs, lo up, the kernel's modules):
# bpffs, locked memory for BPF maps (charged to RLIMIT_MEMLOCK before 5.11),
# descriptors, the modules $VMTEST_MODULES (default: veth for the
# namespaces, macvlan for the shield's generic XDP mode), and root's account
# unlocked for sshd's key logins (vng's init bind-mounts an /etc/shadow with
# every account locked, "!"). Harmless on a host, whose /etc/shadow is left
# alone. Sourced by tests/run (suite vm) and tests/vm/test_vmtest.sh.
vm_setup() {
	[ "$(id -u)" -eq 0 ] || return 0
	grep -q ' /sys/fs/bpf bpf ' /proc/mounts ||
		mount -t bpf -o mode=0700 bpf /sys/fs/bpf || echo "vm_setup: cannot mount bpffs" >&2
	ulimit -l unlimited
	ulimit -n "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	local mods=${VMTEST_MODULES-veth macvlan}
	# shellcheck disable=SC2086 # a list of names
	[ -z "$mods" ] || modprobe -a $mods || echo "vm_setup: cannot load $mods" >&2
	# Written in place: a rename cannot replace a bind-mounted file.
	if mountpoint -q /etc/shadow && grep -q '^root:!' /etc/shadow; then
		local shadow
		shadow=$(sed 's/^root:![^:]*:/root:*:/' /etc/shadow) && printf '%s\n' "$shadow" >/etc/shadow
	fi
}
