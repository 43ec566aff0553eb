// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The conn object: one row per relayed connection, read from the pair
 * slots each instance shares with the kernel (or its .pairs file), with
 * listener and route names from its control socket.
 *
 *   passthru-ctl [OPTIONS] conn { show | list } [route NAME] [client CIDR]
 *
 * "status [--route NAME] [--client CIDR]" is the same, under its 0.1 name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ctl.h"

static const char *opt_route;		/* only this route (name, or index if unnamed) */
static const char *opt_client;		/* only clients in this network */

struct row {
	struct instance *in;
	struct pt_pair p;
	uint32_t slot;
	const char *listener;		/* names from the daemon, NULL if unknown */
	const char *route;
	bool route_stale;		/* the pair's generation is not the daemon's current one */
	uint64_t age_ms;
};

static struct row *rows;
static int n_rows, cap_rows;

/* Is @a, a pair's client address, inside @c? */
static bool cidr_match(const struct pt_cidr *c, const struct pt_addr *a)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (a->family == AF_INET) {
		memcpy(&sin.sin_addr, a->addr, 4);
		return pt_cidr_contains(c, (struct sockaddr *)&sin);
	}
	if (a->family != AF_INET6)
		return false;
	memcpy(&sin6.sin6_addr, a->addr, 16);
	return pt_cidr_contains(c, (struct sockaddr *)&sin6);
}

/* The name of listener @l (or route @r of it, r >= 0) in a "routes" answer. */
static const char *route_name(const cJSON *routes, int l, int r)
{
	const cJSON *ls, *li, *rs;

	ls = cJSON_GetObjectItemCaseSensitive(routes, "listeners");
	li = cJSON_GetArrayItem(ls, l);
	if (!li)
		return NULL;
	if (r < 0)
		return jstr(li, "name");
	rs = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(li, "routes"), r);
	return rs ? jstr(rs, "name") : NULL;
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->in->name, y->in->name);

	if (c)
		return c;
	if (x->p.listener != y->p.listener)
		return x->p.listener < y->p.listener ? -1 : 1;
	if (x->p.start_ns != y->p.start_ns)
		return x->p.start_ns < y->p.start_ns ? -1 : 1;
	return x->p.conn_id < y->p.conn_id ? -1 : x->p.conn_id > y->p.conn_id;
}

/* "splice", or "copy>splice" for a pair that moved there (only copy moves), as the log says. */
static const char *plane_str(char *buf, size_t size, const struct pt_pair *p)
{
	if (!p->moves)
		return pt_plane_name(p->plane);
	snprintf(buf, size, "%s>%s", pt_plane_name(PT_PLANE_COPY), pt_plane_name(p->plane));
	return buf;
}

static uint64_t dir_bytes(const struct pt_dir *d)
{
	return d->redirected + d->consumed + d->copied;
}

/* Collect the rows of one instance that pass the filters. */
static int collect(struct instance *in, const cJSON *routes, const struct pt_cidr *client)
{
	unsigned int gen = routes ? (unsigned int)jnum(routes, "generation") : 0;
	char idx[16];
	struct row *r;
	uint64_t now = pt_now_ns();

	for (uint32_t i = 0; i < in->n_slots; i++) {
		struct pt_pair p;

		if (!read_slot(in, i, &p))
			continue;
		if (client && !cidr_match(client, &p.client))
			continue;
		if (n_rows == cap_rows) {
			cap_rows = cap_rows ? 2 * cap_rows : 64;
			r = realloc(rows, sizeof(*rows) * cap_rows);
			if (!r)
				return -ENOMEM;
			rows = r;
		}
		r = &rows[n_rows];
		memset(r, 0, sizeof(*r));
		r->in = in;
		r->p = p;
		r->p.name[sizeof(r->p.name) - 1] = 0;
		r->slot = i;
		r->age_ms = now > p.start_ns ? (now - p.start_ns) / 1000000 : 0;
		if (routes) {
			r->listener = route_name(routes, p.listener, -1);
			r->route_stale = p.gen != gen;
			if (!r->route_stale)
				r->route = route_name(routes, p.listener, p.route);
		}
		if (opt_route) {
			snprintf(idx, sizeof(idx), "%u", p.route);
			if (r->route ? strcmp(r->route, opt_route) : strcmp(idx, opt_route))
				continue;
		}
		n_rows++;
	}
	return 0;
}

static cJSON *dir_json(const struct pt_dir *d)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "bytes", (double)dir_bytes(d));
	cJSON_AddNumberToObject(o, "packets", (double)d->packets);
	cJSON_AddNumberToObject(o, "redirected", (double)d->redirected);
	cJSON_AddNumberToObject(o, "passed", (double)d->passed);
	cJSON_AddNumberToObject(o, "consumed", (double)d->consumed);
	cJSON_AddNumberToObject(o, "copied", (double)d->copied);
	cJSON_AddNumberToObject(o, "max_queued", (double)d->max_queued);
	cJSON_AddNumberToObject(o, "pass_events", (double)d->pass_events);
	cJSON_AddNumberToObject(o, "redirect_fail", (double)d->redirect_fail);
	return o;
}

static cJSON *row_json(const struct row *r)
{
	cJSON *o = cJSON_CreateObject();
	char buf[64];

	cJSON_AddStringToObject(o, "instance", r->in->name);
	cJSON_AddNumberToObject(o, "conn_id", (double)r->p.conn_id);
	cJSON_AddNumberToObject(o, "worker", r->p.worker);
	cJSON_AddNumberToObject(o, "slot", r->slot);
	if (r->listener)
		cJSON_AddStringToObject(o, "listener", r->listener);
	else
		cJSON_AddNullToObject(o, "listener");
	cJSON_AddNumberToObject(o, "listener_index", r->p.listener);
	if (r->route)
		cJSON_AddStringToObject(o, "route", r->route);
	else
		cJSON_AddNullToObject(o, "route");
	cJSON_AddNumberToObject(o, "route_index", r->p.route);
	cJSON_AddNumberToObject(o, "generation", r->p.gen);
	cJSON_AddBoolToObject(o, "route_current", !r->route_stale);
	cJSON_AddStringToObject(o, "client", addr_str(buf, sizeof(buf), &r->p.client));
	cJSON_AddStringToObject(o, "upstream", addr_str(buf, sizeof(buf), &r->p.upstream));
	if (r->p.dst.family)
		cJSON_AddStringToObject(o, "dst", addr_str(buf, sizeof(buf), &r->p.dst));
	else
		cJSON_AddNullToObject(o, "dst");
	cJSON_AddStringToObject(o, "proto", pt_proto_name(r->p.proto));
	cJSON_AddStringToObject(o, "name", r->p.name);
	if (r->p.ja4[0])
		cJSON_AddStringToObject(o, "ja4", r->p.ja4);
	else
		cJSON_AddNullToObject(o, "ja4");
	cJSON_AddStringToObject(o, "plane", pt_plane_name(r->p.plane));
	cJSON_AddNumberToObject(o, "moves", r->p.moves);
	cJSON_AddStringToObject(o, "state", pt_pair_state_name(r->p.state));
	cJSON_AddNumberToObject(o, "age_ms", (double)r->age_ms);
	cJSON_AddNumberToObject(o, "limit", (double)r->p.limit);
	cJSON_AddNumberToObject(o, "bytes_up", (double)dir_bytes(&r->p.dir[0]));
	cJSON_AddNumberToObject(o, "bytes_down", (double)dir_bytes(&r->p.dir[1]));
	cJSON_AddItemToObject(o, "up", dir_json(&r->p.dir[0]));
	cJSON_AddItemToObject(o, "down", dir_json(&r->p.dir[1]));
	return o;
}

/* The client, and on a gateway listener ">" the destination it asked for. */
static const char *client_str(char *buf, size_t size, const struct pt_pair *p)
{
	char d[64];

	addr_str(buf, size, &p->client);
	if (p->dst.family)
		snprintf(buf + strlen(buf), size - strlen(buf), ">%s", addr_str(d, sizeof(d), &p->dst));
	return buf;
}

static void print_rows(void)
{
	static const char *const head[] = { "Instance", "Listener", "Route", "Client",
					     "Upstream", "Proto",    "Name",  "Plane",
					     "State",    "Up",       "Down",  "Pkts-up",
					     "Pkts-down", "Age",     "JA4" };
	static const bool right[ARRAY_SIZE(head)] = { [9] = true, [10] = true, [11] = true,
						      [12] = true, [13] = true };
	char l[24], rt[24], cl[136], up[64], b1[24], b2[24], k1[24], k2[24], age[24], pl[24];
	struct table t;

	table_init(&t, head, right, ARRAY_SIZE(head));
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		bool sm = r->p.plane == PT_PLANE_SOCKMAP;

		snprintf(l, sizeof(l), "%u", r->p.listener);
		snprintf(rt, sizeof(rt), "%u%s", r->p.route, r->route_stale ? "?" : "");
		table_row(&t, r->in->name, r->listener ? r->listener : l, r->route ? r->route : rt,
			  client_str(cl, sizeof(cl), &r->p),
			  addr_str(up, sizeof(up), &r->p.upstream),
			  pt_proto_name(r->p.proto),
			  r->p.name[0] ? r->p.name : "-",
			  plane_str(pl, sizeof(pl), &r->p),
			  pt_pair_state_name(r->p.state),
			  u64s(b1, sizeof(b1), dir_bytes(&r->p.dir[0])),
			  u64s(b2, sizeof(b2), dir_bytes(&r->p.dir[1])),
			  sm ? u64s(k1, sizeof(k1), r->p.dir[0].packets) : "-",
			  sm ? u64s(k2, sizeof(k2), r->p.dir[1].packets) : "-",
			  age_str(age, sizeof(age), r->age_ms),
			  r->p.ja4[0] ? r->p.ja4 : "-");
	}
	table_print(&t, "");
}

/*
 * An instance whose connections cannot be listed: with --instance it is an
 * error, when looking at all of them a note for skip_report().
 */
static int skip_instance(struct instance *in)
{
	return skip_or_fail(in->name, in->why, in->err,
			    in->err == -ESRCH || (in->err == -ENOENT && in->has_sock &&
						  pt_sock_alive(in->sock, NULL) == 0));
}

/* The daemon's "routes" answer, for names; NULL (warned) if it does not answer. */
static cJSON *ask_routes(const struct instance *in)
{
	cJSON *routes = NULL;
	char why[512];

	if (ask(in->sock, "routes", CTL_ASK_MS, &routes, why, sizeof(why)) == 0)
		return routes;
	p_warn("instance %s: %s; listeners and routes shown as indices", in->name, why);
	cJSON_Delete(routes);
	return NULL;
}

/* The "instances" entry of @in: its daemon, slots, and whether it answered. */
static cJSON *instance_json(const struct instance *in, const cJSON *routes)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", in->name);
	cJSON_AddNumberToObject(o, "pid", in->meta.pid);
	cJSON_AddNumberToObject(o, "workers", in->meta.n_workers);
	cJSON_AddNumberToObject(o, "slots", in->n_slots);
	cJSON_AddBoolToObject(o, "control", routes != NULL);
	if (routes)
		cJSON_AddNumberToObject(o, "generation", jnum(routes, "generation"));
	return o;
}

/*
 * Collect the rows of @in that pass the filters, its "routes" answer
 * (kept for the names) in *routes and its entry in @ia. 1 if shown, 0 if
 * skipped, or -errno (reported).
 */
static int show_instance(struct instance *in, const struct pt_cidr *client, cJSON *ia,
			 cJSON **routes)
{
	if (open_pairs(in))
		return skip_instance(in);
	*routes = ask_routes(in);
	if (collect(in, *routes, client)) {
		p_err("out of memory");
		return -ENOMEM;
	}
	cJSON_AddItemToArray(ia, instance_json(in, *routes));
	return 1;
}

/* The error when no instance could be shown; returns -ENOENT. */
static int none_shown(int n_stale)
{
	if (!report_all_stale(n_stale))
		p_err("no instance to show: %s", n_instances == 1 ? instances[0].why :
				"none of them has readable pair slots");
	return -ENOENT;
}

struct totals {
	uint64_t bytes[2];		/* up, down */
	uint64_t planes[PT_PLANE_MAX];	/* pairs per data plane */
};

/* Sort the rows and add them up; with -j they go into @pa too. */
static void sum_rows(struct totals *tot, cJSON *pa)
{
	if (n_rows)
		qsort(rows, n_rows, sizeof(*rows), cmp_row);	/* rows is NULL before the first */
	for (int i = 0; i < n_rows; i++) {
		tot->bytes[0] += dir_bytes(&rows[i].p.dir[0]);
		tot->bytes[1] += dir_bytes(&rows[i].p.dir[1]);
		tot->planes[rows[i].p.plane < PT_PLANE_MAX ? rows[i].p.plane : 0]++;
		if (json_output)
			cJSON_AddItemToArray(pa, row_json(&rows[i]));
	}
}

/* @doc with its "summary", printed. */
static void print_conn_json(cJSON *doc, int shown, const struct totals *tot)
{
	cJSON *sum = cJSON_AddObjectToObject(doc, "summary");

	cJSON_AddNumberToObject(sum, "instances", shown);
	cJSON_AddNumberToObject(sum, "pairs", n_rows);
	cJSON_AddNumberToObject(sum, "sockmap", (double)tot->planes[PT_PLANE_SOCKMAP]);
	cJSON_AddNumberToObject(sum, "splice", (double)tot->planes[PT_PLANE_SPLICE]);
	cJSON_AddNumberToObject(sum, "copy", (double)tot->planes[PT_PLANE_COPY]);
	cJSON_AddNumberToObject(sum, "local", (double)tot->planes[PT_PLANE_LOCAL]);
	cJSON_AddNumberToObject(sum, "bytes_up", (double)tot->bytes[0]);
	cJSON_AddNumberToObject(sum, "bytes_down", (double)tot->bytes[1]);
	print_json(doc);
}

/* The table of rows, then the summary line. */
static void print_conn_text(int shown, const struct totals *tot)
{
	if (n_rows)
		print_rows();
	printf("%d instance%s, %d pair%s (%llu copy, %llu sockmap, %llu splice, %llu local), "
	       "%llu bytes up, %llu bytes down\n",
	       shown, shown == 1 ? "" : "s", n_rows, n_rows == 1 ? "" : "s",
	       (unsigned long long)tot->planes[PT_PLANE_COPY],
	       (unsigned long long)tot->planes[PT_PLANE_SOCKMAP],
	       (unsigned long long)tot->planes[PT_PLANE_SPLICE],
	       (unsigned long long)tot->planes[PT_PLANE_LOCAL], (unsigned long long)tot->bytes[0],
	       (unsigned long long)tot->bytes[1]);
}

/* The connections of every selected instance, @route and @client (or NULL) to filter. */
static int conn_show(const char *route, const char *client_spec)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {};
	cJSON *doc, *ia, *pa, *skipped;
	struct totals tot = {};
	struct pt_cidr client;
	int err = 0, shown = 0, n_stale;

	opt_route = route;
	if (client_spec && pt_cidr_parse(client_spec, &client) < 0) {
		p_err("--client: expected an address or ADDRESS/PREFIX, got \"%s\"", client_spec);
		return -EINVAL;
	}
	err = find_instances();
	if (err)
		return err;
	doc = cJSON_CreateObject();
	ia = cJSON_AddArrayToObject(doc, "instances");
	pa = cJSON_AddArrayToObject(doc, "pairs");
	for (int i = 0; i < n_instances && err >= 0; i++) {
		err = show_instance(&instances[i], client_spec ? &client : NULL, ia, &answers[i]);
		shown += err > 0;
	}
	if (err < 0)
		goto out;
	n_stale = skip_report();
	skipped = skip_list();
	if (skipped)
		cJSON_AddItemToObject(doc, "skipped", skipped);
	if (!shown) {
		err = none_shown(n_stale);
		goto out;
	}
	sum_rows(&tot, pa);
	if (json_output)
		print_conn_json(doc, shown, &tot);
	else
		print_conn_text(shown, &tot);
	err = 0;
out:
	for (int i = 0; i < n_instances; i++) {
		cJSON_Delete(answers[i]);
		close_pairs(&instances[i]);
	}
	cJSON_Delete(doc);
	return err;
}

#define CONN_HELP                                                                               \
	"One row per relayed connection: listener, route, client, upstream, protocol,\n"        \
	"SNI or Host, data plane, state, bytes and packets each way, age."
#define CONN_ARGS                                                                               \
	"route NAME   only connections of that route (its index if it has no name)\n"             \
	"client CIDR  only clients in that network (an address is a /32 or /128)\n"

static const struct option conn_opts[] = {
	{ "route", required_argument, NULL, 'r' },
	{ "client", required_argument, NULL, 'c' },
	{ 0 },
};

static int conn_opt(int opt, const char *arg)
{
	if (opt == 'r')
		opt_route = arg;
	else
		opt_client = arg;
	return 0;
}

/*
 * Filters given before the object, as passthru-ctl 0.1 took them
 * ("--route web status"); options and words after the command override them.
 */
void conn_filter(const char *route, const char *client)
{
	opt_route = route;
	opt_client = client;
}

static int do_show(int argc, char **argv)
{
	int err = parse_opts(&argc, &argv, conn_opts, conn_opt);

	if (err)
		return err < 0 ? err : 0;
	while (argc > 0) {
		if (argc < 2 || (strcmp(argv[0], "route") && strcmp(argv[0], "client"))) {
			p_err("conn show: expected 'route NAME' or 'client CIDR', got '%s'",
			      argv[0]);
			return -EINVAL;
		}
		conn_opt(argv[0][0] == 'r' ? 'r' : 'c', argv[1]);
		argc -= 2;
		argv += 2;
	}
	return conn_show(opt_route, opt_client);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("conn", "{ show | list } [route NAME] [client CIDR]", CONN_HELP,
				 CONN_ARGS);
}

static const struct cmd cmds[] = {
	{ .name = "show", .fn = do_show },
	{ .name = "list", .fn = do_show },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl conn { show | list | help }; show by default. */
int do_conn(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "conn", 0);
}

/* passthru-ctl 0.1's "status [show | list | help] [--route NAME] [--client CIDR]". */
int do_status(int argc, char **argv)
{
	int err = parse_opts(&argc, &argv, conn_opts, conn_opt);

	if (err)
		return err < 0 ? err : 0;
	err = verb(&argc, &argv, "status", "status [--route NAME] [--client CIDR]\n" CONN_HELP);
	if (err <= 0)
		return err;
	return conn_show(opt_route, opt_client);
}
