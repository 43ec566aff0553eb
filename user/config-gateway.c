// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The "mode" key of a native listener: how its clients reach it. "proxy"
 * (the default): they connect to its address. "tproxy": an nftables tproxy
 * rule hands it connections for any address, which the listening socket
 * takes with IP_TRANSPARENT (CAP_NET_ADMIN or CAP_NET_RAW, checked here as
 * for transparent routes). "redirect": an nftables redirect (NAT) rule
 * sends them to its port, and conntrack keeps where they were going
 * (SO_ORIGINAL_DST). Either way the destination the client asked for is
 * read at accept (gateway.c) for dst_cidr, dst_port and forward "original".
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"

static const char *const mode_names[] = {
	[PT_MODE_PROXY] = "proxy",
	[PT_MODE_TPROXY] = "tproxy",
	[PT_MODE_REDIRECT] = "redirect",
};

const char *pt_listen_mode_name(enum pt_listen_mode m)
{
	return (unsigned int)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

int pt_cfg_parse_mode(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	struct pt_listener_cfg *l = obj;
	unsigned int m;

	for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
		if (!strcmp(j->valuestring, mode_names[m]))
			break;
	if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
		pt_cfg_err(ctx, "unknown mode %s (expected proxy, tproxy or redirect)",
			   pt_cfg_q(ctx, j->valuestring));
		return -EINVAL;
	}
	if (m == PT_MODE_TPROXY && !pt_cfg_transparent_capable()) {
		pt_cfg_err(ctx, "\"tproxy\" needs CAP_NET_ADMIN or CAP_NET_RAW (IP_TRANSPARENT on "
				"the listening socket), which this process does not have: run "
				"passthru as root");
		return -EPERM;
	}
	l->mode = (enum pt_listen_mode)m;
	l->needs_dst = l->needs_dst || m != PT_MODE_PROXY;
	return 0;
}

void pt_cfg_dump_mode(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	const struct pt_listener_cfg *l = obj;

	if (l->mode != PT_MODE_PROXY)
		cJSON_AddStringToObject(out, k->name, pt_listen_mode_name(l->mode));
}
