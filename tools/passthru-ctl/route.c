// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The route object: the routing table each instance runs, from its
 * control socket: listeners, their routes in order, what each matches and
 * where it goes.
 *
 *   passthru-ctl [OPTIONS] route { show | list | help }
 *
 * "routes" is the same, under its 0.1 name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static void match_str(const cJSON *match, char *buf, size_t size)
{
	const cJSON *k, *v;
	size_t n = 0;

	buf[0] = 0;
	cJSON_ArrayForEach(k, match)
	{
		n += snprintf(buf + n, n < size ? size - n : 0, "%s%s=", n ? " " : "", k->string);
		if (cJSON_IsArray(k)) {
			int j = 0;

			cJSON_ArrayForEach(v, k)
			n += snprintf(buf + n, n < size ? size - n : 0, "%s%s", j++ ? "," : "",
				      cJSON_IsString(v) ? v->valuestring : "?");
		} else {
			n += snprintf(buf + n, n < size ? size - n : 0, "%s",
				      cJSON_IsString(k) ? k->valuestring : "?");
		}
	}
	if (!n)
		snprintf(buf, size, "any");
}

static void strv_str(const cJSON *a, char *buf, size_t size)
{
	const cJSON *v;
	size_t n = 0;

	buf[0] = 0;
	cJSON_ArrayForEach(v, a)
	n += snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? "," : "",
		      cJSON_IsString(v) ? v->valuestring : "?");
}

static void print_routes(const struct instance *in, const cJSON *ans)
{
	static const char *const head[] = { "#", "Route", "Match", "Action" };
	static const bool right[ARRAY_SIZE(head)] = { true };
	const cJSON *l, *r;
	char match[1024], act[1024], idx[16], listen[512];
	struct table t;

	printf("instance %s: %s, generation %.0f\n", in->name, jstr(ans, "config") ?: "?",
	       jnum(ans, "generation"));
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(ans, "listeners"))
	{
		strv_str(cJSON_GetObjectItemCaseSensitive(l, "listen"), listen, sizeof(listen));
		printf("listener %.0f %s: listen %s, data_plane %s, timeout %.0f ms, "
		       "max_connections %.0f\n",
		       jnum(l, "index"), jstr(l, "name") ?: "?", listen,
		       jstr(l, "data_plane") ?: "?", jnum(l, "timeout_ms"),
		       jnum(l, "max_connections"));
		table_init(&t, head, right, ARRAY_SIZE(head));
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(l, "routes"))
		{
			match_str(cJSON_GetObjectItemCaseSensitive(r, "match"), match,
				  sizeof(match));
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "reject"))) {
				snprintf(act, sizeof(act), "reject");
			} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "drop"))) {
				snprintf(act, sizeof(act), "drop");
			} else {
				strv_str(cJSON_GetObjectItemCaseSensitive(r, "forward"), listen,
					 sizeof(listen));
				snprintf(act, sizeof(act), "forward %s", listen);
			}
			snprintf(idx, sizeof(idx), "%.0f", jnum(r, "index"));
			table_row(&t, idx, jstr(r, "name") ?: "?", match, act);
		}
		table_print(&t, "  ");
	}
}

/* The routing table of one instance; under -j its answer as it is. */
static void route_of(struct instance *in, const cJSON *ans, cJSON *o)
{
	if (!o)
		print_routes(in, ans);
}

/* The routing table of every selected instance. */
static int route_show(void)
{
	return show_answers("routes", "routes", route_of);
}

#define ROUTE_HELP "The routing table each instance runs: listeners, routes in order, "\
		   "what they match, where they go."

static int do_show(int argc, char **argv)
{
	return run_no_args(argc, argv, "route show", route_show);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("route", "{ show | list }", ROUTE_HELP, "");
}

static const struct cmd cmds[] = {
	{ .name = "show", .fn = do_show },
	{ .name = "list", .fn = do_show },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl route { show | list | help }; show by default. */
int do_route(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "route", 0);
}

/* passthru-ctl 0.1's "routes [show | list | help]": route show. */
int do_routes(int argc, char **argv)
{
	return run_alias(argc, argv, "routes", "routes\n" ROUTE_HELP, route_show);
}
