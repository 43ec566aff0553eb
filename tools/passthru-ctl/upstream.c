// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The upstream object: each instance's pools of upstream servers, with
 * every server's state (up, down by the health checks, ejected after
 * connect failures) and counters, from the shared rows the workers use.
 *
 *   passthru-ctl [OPTIONS] upstream { show | list | help }
 */
#include <stdio.h>

#include "ctl.h"

static void print_pools(const struct instance *in, const cJSON *ans)
{
	static const char *const head[] = { "Pool", "Balance", "Server", "Weight", "State",
					    "Active", "Conns", "ConnFail", "Ejected", "Checks",
					    "ChkFail", "Changes" };
	static const bool right[ARRAY_SIZE(head)] = { [3] = true, [5] = true, [6] = true,
						      [7] = true, [8] = true, [9] = true,
						      [10] = true, [11] = true };
	static const char *const nums[] = { "weight", "active", "connections",
					    "connect_failures", "ejections", "checks",
					    "checks_failed", "transitions" };
	char v[ARRAY_SIZE(nums)][24];
	const cJSON *p, *sv;
	struct table t;

	printf("instance %s: generation %.0f\n", in->name, jnum(ans, "generation"));
	table_init(&t, head, right, ARRAY_SIZE(head));
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ans, "pools"))
	{
		cJSON_ArrayForEach(sv, cJSON_GetObjectItemCaseSensitive(p, "servers"))
		{
			for (size_t i = 0; i < ARRAY_SIZE(nums); i++)
				snprintf(v[i], sizeof(v[i]), "%.0f", jnum(sv, nums[i]));
			table_row(&t, jstr(p, "name") ?: "?", jstr(p, "balance") ?: "?",
				  jstr(sv, "addr") ?: "?", v[0], jstr(sv, "state") ?: "?", v[1],
				  v[2], v[3], v[4], v[5], v[6], v[7]);
		}
	}
	table_print(&t, "  ");
}

static void upstream_of(struct instance *in, const cJSON *ans, cJSON *o)
{
	if (!o)
		print_pools(in, ans);
}

static int upstream_show(void)
{
	return show_answers("upstreams", "upstreams", upstream_of);
}

#define UPSTREAM_HELP "Upstream pools: each server's state (up, down, ejected), open " \
		      "connections and counters."

static int do_show(int argc, char **argv)
{
	return run_no_args(argc, argv, "upstream show", upstream_show);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("upstream", "{ show | list }", UPSTREAM_HELP, "");
}

static const struct cmd cmds[] = {
	{ .name = "show", .fn = do_show },
	{ .name = "list", .fn = do_show },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl upstream { show | list | help }; show by default. */
int do_upstream(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "upstream", 0);
}
