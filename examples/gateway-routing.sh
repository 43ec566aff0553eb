#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The firewall and routing a gateway listener needs (README, "Gateway
# mode"), on the host whose clients route through it:
#
#   gateway-routing.sh tproxy PORT IFACE     "mode": "tproxy" listener on :PORT
#   gateway-routing.sh redirect PORT IFACE   "mode": "redirect" listener on :PORT
#   gateway-routing.sh down
#
# IFACE is the interface the clients' packets come in on: only their TCP
# connections are taken, never passthru's own upstream ones (those leave
# through OUTPUT, which neither rule sees, and their replies come in on
# another interface).
#
# tproxy: the nftables tproxy statement hands each new connection from
# IFACE, whatever its destination, to the listening socket on :PORT (which
# has IP_TRANSPARENT) without rewriting it, and marks it; packets of
# connections that already have a transparent socket (accepted ones, and
# the upstream sockets of "transparent" routes) are marked too. The policy
# route delivers marked packets locally. The destination stays in the
# packets: the accepted socket's own address is the one the client asked
# for.
#
# redirect: destination NAT to this host's address on IFACE, :PORT;
# conntrack remembers the original destination for SO_ORIGINAL_DST. The
# "socket transparent" mark and its policy route are set up as well, for
# "transparent" routes.
#
# PT_MARK (default 1) and PT_TABLE (default 100) choose the firewall mark
# and the routing table. Needs nft (nftables) and ip (iproute2); root.
set -eu

MARK=${PT_MARK:-1}
TABLE=${PT_TABLE:-100}

policy_route() {
	ip -4 rule add fwmark "$MARK" lookup "$TABLE"
	ip -4 route add local 0.0.0.0/0 dev lo table "$TABLE"
	ip -6 rule add fwmark "$MARK" lookup "$TABLE"
	ip -6 route add local ::/0 dev lo table "$TABLE"
}

tproxy() {
	nft -f - <<NFT
table inet passthru_gateway {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set $MARK accept
		iifname "$2" meta l4proto tcp tproxy ip to :$1 meta mark set $MARK accept
		iifname "$2" meta l4proto tcp tproxy ip6 to :$1 meta mark set $MARK accept
	}
}
NFT
	policy_route
}

redirect() {
	nft -f - <<NFT
table inet passthru_gateway {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set $MARK accept
	}
	chain nat {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "$2" meta l4proto tcp redirect to :$1
	}
}
NFT
	policy_route
}

down() {
	nft delete table inet passthru_gateway 2>/dev/null || true
	ip -4 rule del fwmark "$MARK" lookup "$TABLE" 2>/dev/null || true
	ip -4 route del local 0.0.0.0/0 dev lo table "$TABLE" 2>/dev/null || true
	ip -6 rule del fwmark "$MARK" lookup "$TABLE" 2>/dev/null || true
	ip -6 route del local ::/0 dev lo table "$TABLE" 2>/dev/null || true
}

case ${1:-} in
tproxy | redirect)
	[ $# -eq 3 ] || { echo "usage: $0 $1 PORT IFACE" >&2; exit 2; }
	"$1" "$2" "$3"
	;;
down) down ;;
*)
	echo "usage: $0 tproxy|redirect PORT IFACE | down" >&2
	exit 2
	;;
esac
