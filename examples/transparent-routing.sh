#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The routing a "transparent": true route needs on the passthru host
# (README, "Transparent upstream connections"):
#
#   transparent-routing.sh up|down
#
# An upstream socket bound to the client's address gets its replies
# addressed to the client, an address this host does not have. The
# upstreams must route the client networks through this host (their
# default route, or a route per client network); here the nftables rule
# marks every TCP packet that belongs to a transparent socket (the
# nft "socket transparent" match looks the socket up), and the policy
# route delivers marked packets locally, to that socket, instead of
# forwarding them on to the client.
#
# PT_MARK (default 1) and PT_TABLE (default 100) choose the firewall mark
# and the routing table, if those are taken. Needs nft (nftables) and ip
# (iproute2); run as root.
set -eu

MARK=${PT_MARK:-1}
TABLE=${PT_TABLE:-100}

up() {
	nft -f - <<NFT
table inet passthru_transparent {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set $MARK accept
	}
}
NFT
	ip -4 rule add fwmark "$MARK" lookup "$TABLE"
	ip -4 route add local 0.0.0.0/0 dev lo table "$TABLE"
	ip -6 rule add fwmark "$MARK" lookup "$TABLE"
	ip -6 route add local ::/0 dev lo table "$TABLE"
}

down() {
	nft delete table inet passthru_transparent 2>/dev/null || true
	ip -4 rule del fwmark "$MARK" lookup "$TABLE" 2>/dev/null || true
	ip -4 route del local 0.0.0.0/0 dev lo table "$TABLE" 2>/dev/null || true
	ip -6 rule del fwmark "$MARK" lookup "$TABLE" 2>/dev/null || true
	ip -6 route del local ::/0 dev lo table "$TABLE" 2>/dev/null || true
}

case ${1:-} in
up) up ;;
down) down ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
