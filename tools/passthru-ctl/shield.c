// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP shield seen from its pins (PT_PIN_ROOT/<instance>/shield/,
 * include/passthru-shield.h), read and written with bpf(2) directly, no
 * daemon involved: the ban object, and what stats and instance show of
 * the shield (where it is attached, its counters per interface and reason).
 *
 *   passthru-ctl [OPTIONS] ban { list | add ADDR [SECONDS] | del ADDR | help }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ctl.h"
#include "passthru-shield.h"

#define CTL_BAN_DEFAULT_S 600

static const char *const reason_names[PT_SHIELD_R_MAX] = {
	[PT_SHIELD_R_PASS] = "passed",
	[PT_SHIELD_R_BANNED] = "banned",
	[PT_SHIELD_R_DENIED] = "denied",
	[PT_SHIELD_R_NOT_ALLOWED] = "not_allowed",
	[PT_SHIELD_R_RATE] = "rate",
};

/* Open the pinned shield map @name of @in: fd, or -errno. */
static int shield_map(const struct instance *in, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", in->pin_dir, PT_SHIELD_PIN_DIR, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

bool shield_meta(const struct instance *in, struct pt_shield_meta *m)
{
	int fd = shield_map(in, PT_STR(PT_MAP_SHIELD_META));
	__u32 zero = 0;
	bool ok;

	if (fd < 0)
		return false;
	ok = !bpf_map_lookup_elem(fd, &zero, m) && m->magic == PT_SHIELD_MAGIC &&
	     m->abi == PT_SHIELD_ABI_VERSION;
	close(fd);
	return ok;
}

/* "vs0 native, eth1 generic", or "-". */
const char *shield_where(const struct pt_shield_meta *m, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (m->ifindex[i])
			n += snprintf(buf + n, n < size ? size - n : 0, "%s%.16s %s", n ? ", " : "",
				      m->ifname[i],
				      m->mode[i] == PT_SHIELD_MODE_NATIVE ? "native" : "generic");
	if (!n)
		snprintf(buf, size, "-");
	return buf;
}

/* Counters of interface slot @slot, summed over the CPUs, into @sum[reason]. */
static int slot_counts(int fd, int slot, struct pt_shield_count sum[PT_SHIELD_R_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct pt_shield_count *v;

	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return -ENOMEM;
	for (__u32 r = 0; r < PT_SHIELD_R_MAX; r++) {
		__u32 k = (__u32)slot * PT_SHIELD_R_MAX + r;

		sum[r] = (struct pt_shield_count){};
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		for (int c = 0; c < ncpu; c++) {
			sum[r].packets += v[c].packets;
			sum[r].bytes += v[c].bytes;
		}
	}
	free(v);
	return 0;
}

/*
 * The shield of @in: where it is attached and its counters per interface
 * and reason, added to @o as "shield" (JSON) or printed. Nothing if @in
 * has no shield.
 */
void shield_stats(const struct instance *in, cJSON *o)
{
	struct pt_shield_count sum[PT_SHIELD_R_MAX];
	struct pt_shield_meta m;
	char where[400];
	cJSON *js = NULL, *ifs = NULL;
	int fd;

	if (!shield_meta(in, &m) || (fd = shield_map(in, PT_STR(PT_MAP_SHIELD_COUNTS))) < 0)
		return;
	if (o) {
		js = cJSON_AddObjectToObject(o, "shield");
		cJSON_AddNumberToObject(js, "prog_id", m.prog_id);
		ifs = cJSON_AddArrayToObject(js, "interfaces");
	} else {
		printf("shield (program %u): %s\n", m.prog_id, shield_where(&m, where,
									 sizeof(where)));
	}
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++) {
		if (!m.ifindex[i] || slot_counts(fd, i, sum))
			continue;
		if (ifs) {
			cJSON *e = cJSON_CreateObject(), *pk, *by;

			cJSON_AddStringToObject(e, "name", m.ifname[i]);
			cJSON_AddStringToObject(e, "mode", m.mode[i] == PT_SHIELD_MODE_NATIVE ?
								   "native" : "generic");
			pk = cJSON_AddObjectToObject(e, "packets");
			by = cJSON_AddObjectToObject(e, "bytes");
			for (int r = 0; r < PT_SHIELD_R_MAX; r++) {
				cJSON_AddNumberToObject(pk, reason_names[r], (double)sum[r].packets);
				cJSON_AddNumberToObject(by, reason_names[r], (double)sum[r].bytes);
			}
			cJSON_AddItemToArray(ifs, e);
			continue;
		}
		printf("  %.16s:", m.ifname[i]);
		for (int r = 0; r < PT_SHIELD_R_MAX; r++)
			printf(" %s %llu pkts %llu B%s", reason_names[r],
			       (unsigned long long)sum[r].packets, (unsigned long long)sum[r].bytes,
			       r + 1 < PT_SHIELD_R_MAX ? "," : "\n");
	}
	close(fd);
}

/* --- ban ----------------------------------------------------------------- */

/* Parse @s (an IPv4 or IPv6 address) into @k. */
static int parse_addr(const char *s, struct pt_shield_src *k)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, s, &s4.sin_addr) == 1)
		return pt_shield_src_of((struct sockaddr *)&s4, k) ? 0 : -EINVAL;
	if (inet_pton(AF_INET6, s, &s6.sin6_addr) == 1)
		return pt_shield_src_of((struct sockaddr *)&s6, k) ? 0 : -EINVAL;
	p_err("ban: \"%s\" is not an IPv4 or IPv6 address", s);
	return -EINVAL;
}

/* The ban map of every selected instance that has a shield, by @fn. */
static int each_bans(int (*fn)(const struct instance *in, int fd, void *arg), void *arg)
{
	int err = find_instances(), n = 0, fd;

	if (err)
		return err;
	for (int i = 0; i < n_instances && !err; i++) {
		fd = shield_map(&instances[i], PT_STR(PT_MAP_SHIELD_BANS));
		if (fd < 0) {
			if (fd != -ENOENT)
				p_warn("instance %s: cannot open its bans: %s", instances[i].name,
				       strerror(-fd));
			continue;
		}
		n++;
		err = fn(&instances[i], fd, arg);
		close(fd);
	}
	if (!err && !n) {
		p_err("no instance with a shield (%s/<instance>/%s)", PT_PIN_ROOT,
		      PT_SHIELD_PIN_DIR);
		return -ENOENT;
	}
	return err;
}

struct ban_list {
	struct table t;
	cJSON *arr;
	uint64_t now;
};

static int list_one(const struct instance *in, int fd, void *arg)
{
	struct ban_list *bl = arg;
	struct pt_shield_src key, next;
	struct pt_shield_ban b;
	char addr[INET6_ADDRSTRLEN], left[32];
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &b) || b.until_ns <= bl->now)
			continue;	/* expired: the shield ignores it */
		inet_ntop(key.family, key.addr, addr, sizeof(addr));
		snprintf(left, sizeof(left), "%llu",
			 (unsigned long long)((b.until_ns - bl->now + 999999999ull) / 1000000000ull));
		if (json_output) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "instance", in->name);
			cJSON_AddStringToObject(e, "address", addr);
			cJSON_AddNumberToObject(e, "seconds_left", atof(left));
			cJSON_AddItemToArray(bl->arr, e);
		} else {
			table_row(&bl->t, in->name, addr, left);
		}
	}
	return 0;
}

static int ban_list(void)
{
	static const char *const head[] = { "Instance", "Address", "Seconds-left" };
	static const bool right[ARRAY_SIZE(head)] = { 0, 0, 1 };
	struct ban_list bl = { .arr = cJSON_CreateArray(), .now = pt_now_ns() };
	int err;

	table_init(&bl.t, head, right, ARRAY_SIZE(head));
	err = each_bans(list_one, &bl);
	if (!err && json_output)
		print_json(bl.arr);
	else if (!err)
		table_print(&bl.t, "");
	table_free(&bl.t);
	cJSON_Delete(bl.arr);
	return err;
}

struct ban_change {
	struct pt_shield_src key;
	unsigned int seconds;	/* add; 0 = del */
	const char *spec;
};

static int change_one(const struct instance *in, int fd, void *arg)
{
	struct ban_change *bc = arg;
	uint64_t now = pt_now_ns();
	struct pt_shield_ban b = { .added_ns = now,
				   .until_ns = now + bc->seconds * 1000000000ull };

	if (bc->seconds ? bpf_map_update_elem(fd, &bc->key, &b, BPF_ANY)
			: bpf_map_delete_elem(fd, &bc->key)) {
		if (!bc->seconds && errno == ENOENT) {
			p_warn("instance %s: %s was not banned", in->name, bc->spec);
			return 0;
		}
		p_err("instance %s: %s: %s", in->name, bc->spec, strerror(errno));
		return -errno;
	}
	if (!json_output)
		printf("instance %s: %s %s\n", in->name, bc->spec,
		       bc->seconds ? "banned" : "no longer banned");
	return 0;
}

static int ban_change(int argc, char **argv, bool add)
{
	struct ban_change bc = { .seconds = add ? CTL_BAN_DEFAULT_S : 0 };
	int err = parse_opts(&argc, &argv, NULL, NULL);
	char *end;
	long v;

	if (err)
		return err < 0 ? err : 0;
	if (argc < 1 || argc > (add ? 2 : 1)) {
		p_err("usage: ban %s", add ? "add ADDR [SECONDS]" : "del ADDR");
		return -EINVAL;
	}
	bc.spec = argv[0];
	err = parse_addr(argv[0], &bc.key);
	if (err)
		return err;
	if (argc == 2) {
		v = strtol(argv[1], &end, 10);
		if (*end || v < 1 || v > 30 * 86400) {
			p_err("ban add: SECONDS must be 1..2592000, got \"%s\"", argv[1]);
			return -EINVAL;
		}
		bc.seconds = (unsigned int)v;
	}
	err = each_bans(change_one, &bc);
	if (!err && json_output)
		print_null();
	return err;
}

static int do_list(int argc, char **argv)
{
	return run_no_args(argc, argv, "ban list", ban_list);
}

static int do_add(int argc, char **argv)
{
	return ban_change(argc, argv, true);
}

static int do_del(int argc, char **argv)
{
	return ban_change(argc, argv, false);
}

static int do_help(int argc, char **argv)
{
	return print_object_help("ban", "{ list | add ADDR [SECONDS] | del ADDR }",
				 "Addresses the XDP shield drops until their ban expires: the "
				 "daemon's (failed detections)\nand yours, in every selected "
				 "instance with a shield.",
				 "add bans for SECONDS (default 600); del lifts a ban.\n");
}

static const struct cmd cmds[] = {
	{ .name = "list", .fn = do_list },
	{ .name = "show", .fn = do_list },
	{ .name = "add", .fn = do_add },
	{ .name = "del", .fn = do_del },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl ban { list | add | del | help }; list by default. */
int do_ban(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "ban", 0);
}
