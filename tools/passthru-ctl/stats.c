// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The stats object: counters per listener (accepted, detected protocols,
 * timeouts, ends) and per route (matches, rejects, upstream failures,
 * bytes, data-plane counters) from each instance's control socket, with
 * the use of its pair slots and the XDP shield's counters (shield.c).
 *
 *   passthru-ctl [OPTIONS] stats { show | list | help }
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static void nonzero_str(const cJSON *obj, char *buf, size_t size)
{
	const cJSON *k;
	size_t n = 0;

	buf[0] = 0;
	cJSON_ArrayForEach(k, obj)
	if (cJSON_IsNumber(k) && k->valuedouble)
		n += snprintf(buf + n, n < size ? size - n : 0, "%s%s %.0f", n ? ", " : "",
			      k->string, k->valuedouble);
	if (!n)
		snprintf(buf, size, "-");
}

static double updown(const cJSON *obj, const char *key)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, key);

	return jnum(o, "up") + jnum(o, "down");
}

/* Route @r of a listener as a table row. */
static void route_row(struct table *t, const cJSON *r)
{
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(r, "relayed");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "bytes");
	char c[18][24];

	snprintf(c[0], 24, "%.0f", jnum(r, "index"));
	snprintf(c[2], 24, "%.0f", jnum(r, "matched"));
	snprintf(c[3], 24, "%.0f", jnum(r, "rejected"));
	snprintf(c[4], 24, "%.0f", jnum(r, "upstream_failures"));
	snprintf(c[5], 24, "%.0f", jnum(r, "connect_errors"));
	snprintf(c[6], 24, "%.0f", jnum(rel, "splice"));
	snprintf(c[7], 24, "%.0f", jnum(rel, "sockmap"));
	snprintf(c[8], 24, "%.0f", jnum(b, "up"));
	snprintf(c[9], 24, "%.0f", jnum(b, "down"));
	snprintf(c[10], 24, "%.0f", updown(r, "kernel_bytes"));
	snprintf(c[11], 24, "%.0f", updown(r, "daemon_bytes"));
	snprintf(c[12], 24, "%.0f", updown(r, "passed"));
	snprintf(c[13], 24, "%.0f", updown(r, "pass_events"));
	snprintf(c[14], 24, "%.0f", updown(r, "redirect_fail"));
	snprintf(c[15], 24, "%.0f", jnum(rel, "copy"));
	snprintf(c[16], 24, "%.0f", jnum(r, "moves"));
	snprintf(c[17], 24, "%.0f", updown(r, "copy_bytes"));
	table_row(t, c[0], jstr(r, "name") ?: "?", c[2], c[3], c[4], c[5], c[15], c[6], c[7],
		  c[16], c[8], c[9], c[10], c[11], c[17], c[12], c[13], c[14]);
}

/* The counters of listener @l, then the table of its routes. */
static void print_listener(const cJSON *l)
{
	static const char *const head[] = { "#",	 "Route",      "Matched", "Rejected",
					     "Up-fail",	 "Conn-err",   "Copy",	  "Splice",
					     "Sockmap",	 "Moves",      "Bytes-up", "Bytes-down",
					     "Kernel",	 "Daemon",     "Copied",  "Passed",
					     "Pass-ev",	 "Redir-fail" };
	static const bool right[ARRAY_SIZE(head)] = { 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
						      1, 1, 1 };
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(l, "bytes"), *r;
	char buf[1024];
	struct table t;

	printf("listener %.0f %s: %.0f accepted, %.0f active, %.0f over limit, %.0f rejected, "
	       "%.0f without route, %.0f upstream failures\n",
	       jnum(l, "index"), jstr(l, "name") ?: "?", jnum(l, "accepted"), jnum(l, "active"),
	       jnum(l, "over_limit"), jnum(l, "rejected"), jnum(l, "no_route"),
	       jnum(l, "upstream_failures"));
	printf("  closed connections: %.0f bytes up, %.0f bytes down\n", jnum(o, "up"),
	       jnum(o, "down"));
	nonzero_str(cJSON_GetObjectItemCaseSensitive(l, "detected"), buf, sizeof(buf));
	printf("  detected: %s\n", buf);
	nonzero_str(cJSON_GetObjectItemCaseSensitive(l, "timeouts"), buf, sizeof(buf));
	printf("  timeouts: %s\n", buf);
	nonzero_str(cJSON_GetObjectItemCaseSensitive(l, "ended"), buf, sizeof(buf));
	printf("  ended: %s\n", buf);
	table_init(&t, head, right, ARRAY_SIZE(head));
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(l, "routes"))
	{
		route_row(&t, r);
	}
	table_print(&t, "  ");
}

/* The counters of instance @in (its "stats" answer @ans, what its pair slots add @maps). */
static void print_stats(const struct instance *in, const cJSON *ans, const cJSON *maps)
{
	const cJSON *l;

	printf("instance %s: generation %.0f, route counters of generation %.0f\n", in->name,
	       jnum(ans, "generation"), jnum(ans, "route_generation"));
	if (maps && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(maps, "kernel")))
		printf("pair slots: %.0f of %.0f in use (kernel maps), %.0f verdicts on sockets "
		       "without a pair\n",
		       jnum(maps, "in_use"), jnum(maps, "slots"), jnum(maps, "redirect_miss"));
	else if (maps)
		printf("pair slots: %.0f of %.0f in use (%s)\n", jnum(maps, "in_use"),
		       jnum(maps, "slots"), in->file);
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(ans, "listeners"))
	{
		print_listener(l);
	}
}

/* What the pair slots add to the daemon's counters: slots in use, verdicts without a pair. */
static cJSON *map_counters(struct instance *in)
{
	struct pt_pair p;
	uint32_t used = 0;
	cJSON *o;

	if (open_pairs(in))
		return NULL;
	for (uint32_t i = 0; i < in->n_slots; i++)
		used += read_slot(in, i, &p);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "kernel", in->pinned);
	cJSON_AddNumberToObject(o, "slots", in->n_slots);
	cJSON_AddNumberToObject(o, "in_use", used);
	if (in->pinned)
		cJSON_AddNumberToObject(o, "redirect_miss", (double)in->meta.redirect_miss);
	close_pairs(in);
	return o;
}

/* The counters of one instance and what its pair slots add: printed, or added to @o. */
static void stats_of(struct instance *in, const cJSON *ans, cJSON *o)
{
	cJSON *maps = map_counters(in);

	if (!o) {
		print_stats(in, ans, maps);
		shield_stats(in, NULL);
		cJSON_Delete(maps);
		return;
	}
	shield_stats(in, o);
	if (maps) {
		cJSON_AddItemToObject(o, "pair_slots", maps);
	} else {
		cJSON_AddNullToObject(o, "pair_slots");
	}
}

/* The counters of every selected instance, and what its pair slots add. */
static int stats_show(void)
{
	return show_answers("stats", "stats", stats_of);
}

#define STATS_HELP "Counters per listener (accepted, detected protocols, timeouts, ends) "\
		   "and per route\n(matches, rejects, upstream failures, bytes, data-plane "\
		   "counters) since start or the last reload."

static int do_show(int argc, char **argv)
{
	return run_no_args(argc, argv, "stats show", stats_show);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("stats", "{ show | list }", STATS_HELP, "");
}

static const struct cmd cmds[] = {
	{ .name = "show", .fn = do_show },
	{ .name = "list", .fn = do_show },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl stats { show | list | help }; show by default (as in 0.1). */
int do_stats(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "stats", 0);
}
