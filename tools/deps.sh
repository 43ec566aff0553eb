#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Install every Debian 12 package passthru needs to build, test, benchmark and
# run its examples. Idempotent: does nothing when all are present, and runs
# `apt-get update` only when an install fails for want of package lists.
set -eu

PKGS=(
	# build
	gcc make pkg-config clang llvm libbpf-dev libxdp-dev xdp-tools bpftool
	libcjson-dev libelf-dev zlib1g-dev libcap-dev libssl-dev
	# tests and examples: real clients and servers
	openssl gnutls-bin curl openssh-server openssh-client dante-server
	python3 iproute2 procps psmisc netcat-openbsd socat
	# metrics: a real Prometheus scrapes passthru (and promtool checks the exposition)
	prometheus
	# fuzzing (libFuzzer runtime: only recommended by clang) and memcheck
	libclang-rt-dev valgrind
	# VM runner
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
	# packaging, man pages, the k8s manifest check (make deb, test-package)
	dpkg-dev debhelper lintian man-db groff-base systemd python3-kubernetes
	# benchmark peers
	haproxy sslh iperf3 sockperf wrk nginx-light linux-perf
	# PROXY protocol tests: nginx's stream module as an upstream
	libnginx-mod-stream
	# the shield figure (tools/bench/shield_nft.py): the nftables side
	nftables
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Installing a server package must not start it (no init system in CI anyway).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt_install() {
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}
if ! apt_install; then
	apt-get update -q
	apt_install
fi
