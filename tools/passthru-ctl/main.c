// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * passthru-ctl: look at running passthru instances without disturbing them.
 *
 *   passthru-ctl [OPTIONS] OBJECT { COMMAND | help }
 *
 * Per-connection status comes from the pair slots each instance keeps in
 * memory shared with the kernel (PT_MAP_PAIRS, pinned under
 * /sys/fs/bpf/passthru/<instance>/, stamped in PT_MAP_META); everything
 * else (names, the routing table, counters, reload) comes from the
 * instance's control socket, /run/passthru/<instance>.sock. Output is a
 * table, or JSON with -j; errors are "Error: ..." or {"error": "..."}.
 *
 * This file holds the global options, the table of objects (one file
 * each: conn.c, stats.c, route.c, config.c, instance.c), the verbs of
 * passthru-ctl 0.1 kept as aliases, version and help.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "ctl.h"

bool json_output;
bool pretty_output;
bool debug;
const char *opt_socket;
const char *opt_instances[CTL_MAX_INSTANCES];
int n_opt_instances;
const char *bin_name = "passthru-ctl";

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* -V: this tool's version, ABI and control protocol. */
void print_version(void)
{
	if (json_output)
		printf("{\"version\":\"%s\",\"abi\":%d,\"protocol\":%d}\n", CTL_VERSION,
		       PT_ABI_VERSION, PT_CONTROL_PROTOCOL);
	else
		printf("%s v%s (abi %d, control protocol %d)\n", bin_name, CTL_VERSION,
		       PT_ABI_VERSION, PT_CONTROL_PROTOCOL);
}

/* This tool's version and the version of every selected daemon. */
static int version_show(void)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc;
	int err;

	err = ask_all("version", CTL_ASK_MS, answers);
	if (err < 0)
		return err;
	if (json_output) {
		doc = wrap_answers(answers, "version");
		cJSON_AddStringToObject(doc, "passthru_ctl", CTL_VERSION);
		cJSON_AddNumberToObject(doc, "abi", PT_ABI_VERSION);
		cJSON_AddNumberToObject(doc, "protocol", PT_CONTROL_PROTOCOL);
		print_json(doc);
		cJSON_Delete(doc);
	} else {
		printf("%s %s (abi %d, control protocol %d)\n", bin_name, CTL_VERSION,
		       PT_ABI_VERSION, PT_CONTROL_PROTOCOL);
		for (int i = 0; i < n_instances; i++)
			if (answers[i])
				printf("instance %s: passthru %s, pid %.0f, %.0f worker(s), abi %.0f, "
				       "protocol %.0f, %s generation %.0f\n",
				       instances[i].name, jstr(answers[i], "passthru") ?: "?",
				       jnum(answers[i], "pid"), jnum(answers[i], "workers"),
				       jnum(answers[i], "abi"), jnum(answers[i], "protocol"),
				       jstr(answers[i], "config") ?: "?",
				       jnum(answers[i], "generation"));
	}
	free_answers(answers);
	return 0;
}

/* passthru-ctl version [show | list | help]: this tool's version and every daemon's. */
int do_version(int argc, char **argv)
{
	return run_alias(argc, argv, "version",
			 "version\nThis tool's version and the version of every running daemon.",
			 version_show);
}


static int do_help(int argc, char **argv);

/*
 * Objects, and between them the verbs of 0.1 they replace, in an order
 * that keeps 0.1's prefixes: "st" is still status or stats.
 */
static const struct cmd objects[] = {
	{ .name = "conn", .fn = do_conn,
	  .help = "relayed connections, from the kernel's pair slots" },
	{ .name = "status", .fn = do_status, .alias_of = "conn",
	  .help = "= conn show [route NAME] [client CIDR]" },
	{ .name = "stats", .fn = do_stats,
	  .help = "counters per listener and route, data-plane counters" },
	{ .name = "route", .fn = do_route, .help = "the routing table the daemon runs" },
	{ .name = "routes", .fn = do_routes, .alias_of = "route", .help = "= route show" },
	{ .name = "upstream", .fn = do_upstream,
	  .help = "upstream pools: servers' state and counters" },
	{ .name = "config", .fn = do_config,
	  .help = "re-read the config (new connections use it)" },
	{ .name = "reload", .fn = do_reload, .alias_of = "config", .help = "= config reload" },
	{ .name = "instance", .fn = do_instance,
	  .help = "running instances and what is usable of each" },
	{ .name = "instances", .fn = do_instances, .alias_of = "instance",
	  .help = "= instance list" },
	{ .name = "ban", .fn = do_ban, .help = "addresses the XDP shield drops for a while" },
	{ .name = "version", .fn = do_version, .help = "versions of this tool and of the daemons" },
	{ .name = "help", .fn = do_help, .help = "this text" },
	{ 0 },
};

/* The grammar of every object, then its aliases and the options. */
void print_help(void)
{
	printf("Usage: %s [OPTIONS] OBJECT { COMMAND | help }\n"
	       "       %s help\n"
	       "\n"
	       "OBJECT := { conn | stats | route | config | instance | version }\n"
	       "       %s conn { show | list } [route NAME] [client CIDR]\n"
	       "       %s stats { show | list }\n"
	       "       %s route { show | list }\n"
	       "       %s config reload\n"
	       "       %s instance { list | show [NAME...] }\n"
	       "       %s version\n"
	       "\n",
	       bin_name, bin_name, bin_name, bin_name, bin_name, bin_name, bin_name, bin_name);
	for (int i = 0; objects[i].name; i++)
		if (!objects[i].alias_of)
			printf("  %-10s %s\n", objects[i].name, objects[i].help);
	printf("\nThe commands of passthru-ctl 0.1 still work, as aliases:\n"
	       "COMMAND := { status | stats | routes | reload | instances | version } [show | list | "
	       "help]\n");
	for (int i = 0; objects[i].name; i++)
		if (objects[i].alias_of)
			printf("  %-10s %s\n", objects[i].name, objects[i].help);
	printf("  %-10s takes --route NAME and --client CIDR\n\n", "status");
	print_usage_opts();
	printf("  --instance NAME  only this instance (repeat for more; default: every one under\n"
	       "                   %s and %s)\n"
	       "  --socket PATH    the control socket, if the config moved it (control_socket)\n"
	       "Objects, commands and options may be shortened to any unambiguous prefix.\n",
	       PT_PIN_ROOT, PT_RUN_DIR);
}

static int do_help(int argc, char **argv)
{
	if (json_output)
		print_null();
	else
		print_help();
	return 0;
}

/* The connection filters passthru-ctl 0.1 took before the verb ("--route web status"). */
static const struct option filter_opts[] = {
	{ "route", required_argument, NULL, 'r' },
	{ "client", required_argument, NULL, 'c' },
	{ 0 },
};

struct filters {
	const char *route;
	const char *client;
};

/*
 * The options before OBJECT (a command parses those after it). Returns 0,
 * 1 when -h printed the help, or -errno (reported); *version is set by -V.
 */
static int parse_global_opts(int argc, char **argv, struct filters *f, bool *version)
{
	struct option opts[CTL_MAX_OPTS + 1];
	int opt, err;

	opts_with_globals(opts, filter_opts);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+jpdVhi:s:", opts, NULL)) != -1) {
		switch (opt) {
		case 'V':
			*version = true;
			break;
		case 'h':
			do_help(0, NULL);
			return 1;
		case 'r':
			f->route = optarg;
			break;
		case 'c':
			f->client = optarg;
			break;
		default:
			err = global_opt(opt, optarg);
			if (err == 1) {
				p_bad_opt(optopt, argv[optind - 1], "is");
				return -EINVAL;
			}
			if (err)
				return err;
		}
	}
	return 0;
}

/* Run the object named by argv[0] (a prefix will do) with the arguments after it. */
static int run_object(int argc, char **argv, const struct filters *f)
{
	int idx = cmd_select(objects, argv[0], "command", bin_name);

	if (idx < 0)
		return idx;
	if ((f->route || f->client) && objects[idx].fn != do_status &&
	    objects[idx].fn != do_conn) {
		p_err("--route and --client filter connections: conn show route NAME client CIDR, "
		      "or status --route NAME --client CIDR");
		return -EINVAL;
	}
	conn_filter(f->route, f->client);
	return objects[idx].fn(argc - 1, argv + 1);
}

/* passthru-ctl [OPTIONS] OBJECT { COMMAND | help }: exits 0 or a positive errno. */
int main(int argc, char **argv)
{
	struct filters f = {};
	bool version = false;
	int err;

	err = parse_global_opts(argc, argv, &f, &version);
	if (err)
		return err < 0 ? -err : 0;
	libbpf_set_print(libbpf_print);
	if (version) {
		print_version();
		return 0;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return do_help(0, NULL);
	err = run_object(argc, argv, &f);
	return err < 0 ? -err : 0;
}
