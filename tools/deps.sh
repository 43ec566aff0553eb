#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Install every Debian 12 package passthru needs to build, test, benchmark and
# run its examples, and virtme-ng (the VM runner) from Debian 13. Idempotent:
# does nothing when all are present, and runs `apt-get update` only when an
# install fails for want of package lists.
set -eu
cd "$(dirname "$0")/.."

# virtme-ng is not in Debian 12; trixie's package is pure Python and its
# dependencies are all in Debian 12. It is fetched through tools/apt-suite
# (trixie's lists kept apart: nothing else moves to trixie) and installed
# as a local .deb, pinned to this version.
VNG_SUITE=trixie
VNG_VERSION=1.35-1

PKGS=(
	# build
	gcc make pkg-config clang llvm libbpf-dev libxdp-dev xdp-tools bpftool
	libcjson-dev libelf-dev zlib1g-dev libcap-dev libssl-dev liburing-dev
	# tests and examples: real clients and servers
	openssl gnutls-bin curl openssh-server openssh-client dante-server
	python3 iproute2 procps psmisc netcat-openbsd socat strace
	# metrics: a real Prometheus scrapes passthru (and promtool checks the exposition)
	prometheus
	# fuzzing (libFuzzer runtime: only recommended by clang) and memcheck
	libclang-rt-dev valgrind
	# VM runner: virtme-ng's needs (see below); udev makes the guest's
	# /dev/virtio-ports/ links its init waits for; busybox for its initramfs
	qemu-system-x86 busybox-static kmod udev file
	python3-argcomplete python3-pkg-resources python3-requests
	# packaging, man pages, the k8s manifest check (make deb, test-package)
	dpkg-dev debhelper lintian man-db groff-base systemd python3-kubernetes
	# benchmark peers
	haproxy sslh iperf3 sockperf wrk nginx-light linux-perf
	# PROXY protocol tests: nginx's stream module as an upstream
	libnginx-mod-stream
	# the shield figure (tools/bench/shield_nft.py): the nftables side
	nftables
)

installed()
{
	dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | grep -q "^install ok installed ${2:-}"
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
vng_ok=1
installed virtme-ng "$VNG_VERSION\$" || vng_ok=0
[ ${#missing[@]} -eq 0 ] && [ "$vng_ok" -eq 1 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	[ "$vng_ok" -eq 1 ] || missing+=("virtme-ng=$VNG_VERSION")
	echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
dl=
policy=
trap 'rm -rf $dl $policy' EXIT
# Installing a server package must not start it (no init system in CI anyway).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	policy=/usr/sbin/policy-rc.d
fi
apt_install() {
	apt-get install -y -q --no-install-recommends "$@"
}
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	if ! apt_install "${missing[@]}"; then
		apt-get update -q
		apt_install "${missing[@]}"
	fi
fi

[ "$vng_ok" -eq 1 ] && exit 0
echo "deps: installing virtme-ng $VNG_VERSION from Debian $VNG_SUITE"
dl=$(mktemp -d)
chown _apt "$dl" 2>/dev/null || true
rc=0
err=$(cd "$dl" && "$OLDPWD/tools/apt-suite" "$VNG_SUITE" apt-get download -q \
	"virtme-ng=$VNG_VERSION" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	# Not fatal: everything but the VM tests works without it, and
	# tools/vmtest says so when it is missing.
	echo "deps: WARNING: cannot fetch virtme-ng $VNG_VERSION from Debian $VNG_SUITE" \
		"($(echo "$err" | grep -E '^(E|apt-suite):' | tail -n 1)); the VM tests" \
		"(make vmtest) need it; everything else is installed" >&2
	exit 0
fi
# A newer virtme-ng installed by hand goes back to the pinned one.
apt_install --allow-downgrades "$dl"/virtme-ng_*.deb
