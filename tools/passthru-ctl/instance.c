// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Instances: finding them (the --instance names, the one answering on
 * --socket, or every one with pins under PT_PIN_ROOT or files in
 * PT_RUN_DIR), opening their pair slots read-only (the pinned map, else the
 * .pairs file) after checking the stamp, and the instance object:
 *
 *   passthru-ctl [OPTIONS] instance { list | show [NAME...] | help }
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ctl.h"

/* --- finding instances ---------------------------------------------------- */

struct instance instances[CTL_MAX_INSTANCES];
int n_instances;

/* Is a BPF filesystem mounted on @path? */
bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static struct instance *instance_add(const char *name)
{
	struct instance *in;

	for (int i = 0; i < n_instances; i++)
		if (!strcmp(instances[i].name, name))
			return &instances[i];
	if (n_instances == CTL_MAX_INSTANCES)
		return NULL;
	in = &instances[n_instances++];
	memset(in, 0, sizeof(*in));
	in->pairs_fd = -1;
	snprintf(in->name, sizeof(in->name), "%s", name);
	pt_pin_dir(in->pin_dir, sizeof(in->pin_dir), name);
	pt_control_path(in->sock, sizeof(in->sock), name);
	pt_pairs_path(in->file, sizeof(in->file), name);
	return in;
}

static int cmp_instance(const void *a, const void *b)
{
	return strcmp(((const struct instance *)a)->name, ((const struct instance *)b)->name);
}

/* Instances with a pin directory under PT_PIN_ROOT. 0 or -errno (p_err done). */
static int scan_pins(void)
{
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	DIR *d;

	if (!is_bpffs(PT_BPFFS))
		return 0;
	d = opendir(PT_PIN_ROOT);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		if (errno == EACCES || errno == EPERM) {
			p_err("permission denied reading %s (run as root)", PT_PIN_ROOT);
			return -EACCES;
		}
		p_err("cannot read %s: %s", PT_PIN_ROOT, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", PT_PIN_ROOT, de->d_name);
		if (!pt_instance_name_ok(de->d_name) || stat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		if (instance_add(de->d_name))
			instance_add(de->d_name)->has_pins = true;
	}
	closedir(d);
	return 0;
}

static bool has_suffix(const char *s, const char *suffix, size_t *stem)
{
	size_t n = strlen(s), k = strlen(suffix);

	*stem = n - k;
	return n > k && !strcmp(s + n - k, suffix);
}

/* Instances with a socket or a .pairs file in PT_RUN_DIR. */
static void scan_run_dir(void)
{
	struct dirent *de;
	char name[NAME_MAX + 1];
	struct instance *in;
	size_t n;
	bool sock;
	DIR *d = opendir(PT_RUN_DIR);

	if (!d)
		return;
	while ((de = readdir(d))) {
		sock = has_suffix(de->d_name, ".sock", &n);
		if (!sock && !has_suffix(de->d_name, ".pairs", &n))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)n, de->d_name);
		if (!pt_instance_name_ok(name) || !(in = instance_add(name)))
			continue;
		if (sock)
			in->has_sock = true;
		else
			in->has_file = true;
	}
	closedir(d);
}

/* --socket without --instance: the instance is the one the daemon there says it is. */
static int instance_from_socket(void)
{
	cJSON *doc = NULL, *name;
	char why[256];
	int err;

	err = ask(opt_socket, "version", CTL_ASK_MS, &doc, why, sizeof(why));
	if (err) {
		p_err("%s: %s", opt_socket, why);
		return err;
	}
	name = cJSON_GetObjectItemCaseSensitive(doc, "instance");
	if (!cJSON_IsString(name) || !pt_instance_name_ok(name->valuestring)) {
		cJSON_Delete(doc);
		p_err("%s: the daemon did not say which instance it is", opt_socket);
		return -EPROTO;
	}
	opt_instances[n_opt_instances++] = strdup(name->valuestring);
	cJSON_Delete(doc);
	return 0;
}

/* Add the instance named @name (--instance), which must leave some trace. */
static int add_named(const char *name)
{
	struct instance *in;
	struct stat st;

	if (!pt_instance_name_ok(name)) {
		p_err("--instance: \"%s\" is not 1-31 of [A-Za-z0-9_.-]", name);
		return -EINVAL;
	}
	in = instance_add(name);
	if (!in)
		return -E2BIG;
	if (opt_socket)
		snprintf(in->sock, sizeof(in->sock), "%s", opt_socket);
	in->has_pins = stat(in->pin_dir, &st) == 0 || errno == EACCES;
	in->has_sock = stat(in->sock, &st) == 0 || errno == EACCES;
	in->has_file = stat(in->file, &st) == 0 || errno == EACCES;
	if (!in->has_pins && !in->has_sock && !in->has_file) {
		p_err("instance %s: not running (no %s, no %s)", in->name, in->pin_dir, in->sock);
		return -ENOENT;
	}
	return 0;
}

/* Every instance with pins under PT_PIN_ROOT or files in PT_RUN_DIR, sorted by name. */
static int scan_instances(void)
{
	int err = scan_pins();

	if (err)
		return err;
	scan_run_dir();
	if (!n_instances) {
		if (!is_bpffs(PT_BPFFS))
			p_err("no passthru instance running (no BPF filesystem on %s, no socket in %s)",
			      PT_BPFFS, PT_RUN_DIR);
		else
			p_err("no passthru instance running (nothing in %s or %s)", PT_PIN_ROOT,
			      PT_RUN_DIR);
		return -ENOENT;
	}
	qsort(instances, n_instances, sizeof(instances[0]), cmp_instance);
	return 0;
}

/*
 * Decide which instances to look at: the --instance names, the instance
 * answering on --socket, or every one found under PT_PIN_ROOT and
 * PT_RUN_DIR. 0 or -errno (reported).
 */
int find_instances(void)
{
	int err;

	n_instances = 0;
	if (opt_socket && !n_opt_instances) {
		err = instance_from_socket();
		if (err)
			return err;
	}
	if (!n_opt_instances)
		return scan_instances();
	for (int i = 0; i < n_opt_instances; i++) {
		err = add_named(opt_instances[i]);
		if (err)
			return err;
	}
	return 0;
}

/* --- the pair slots ---------------------------------------------------------- */

/* Unmap and close what open_pairs() opened. */
void close_pairs(struct instance *in)
{
	if (in->map)
		munmap(in->map, in->map_len);
	in->map = NULL;
	in->pairs = NULL;
	if (in->pairs_fd >= 0)
		close(in->pairs_fd);
	in->pairs_fd = -1;
}

static int fail(struct instance *in, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record why the pair slots of @in cannot be read; returns @err. */
static int fail(struct instance *in, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->why, sizeof(in->why), fmt, ap);
	va_end(ap);
	in->err = err;
	close_pairs(in);
	return err;
}

static int perm_or(struct instance *in, int err, const char *path)
{
	if (err == -EACCES || err == -EPERM)
		return fail(in, -EACCES, "permission denied reading %s (run as root)", path);
	return fail(in, err, "%s: %s", path, strerror(-err));
}

/* The stamp must be ours (magic), of our layout (abi, pair size), its daemon alive. */
static int check_meta(struct instance *in, const char *where)
{
	int err = pt_meta_check(&in->meta);

	if (err == -EBADMSG)
		return fail(in, -EPROTO, "%s is not a passthru stamp (magic 0x%08x)", where,
			    in->meta.magic);
	if (err)
		return fail(in, -EPROTO, "map layout version %u, this passthru-ctl understands %u",
			    in->meta.abi, PT_ABI_VERSION);
	in->meta_ok = true;
	if (!pt_pid_alive((pid_t)in->meta.pid))
		return fail(in, -ESRCH, "its passthru (pid %u) is gone; stale %s", in->meta.pid,
			    where);
	return 0;
}

/* The kernel data plane's pinned stamp and pair slots, read-only. */
static int open_pinned(struct instance *in)
{
	LIBBPF_OPTS(bpf_obj_get_opts, ro, .file_flags = BPF_F_RDONLY);
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info), zero = 0;
	char path[PATH_MAX];
	long page = sysconf(_SC_PAGESIZE);
	int fd, err;
	void *p;

	snprintf(path, sizeof(path), "%s/%s", in->pin_dir, PT_STR(PT_MAP_META));
	fd = bpf_obj_get_opts(path, &ro);
	if (fd < 0)
		return perm_or(in, -errno, in->pin_dir);
	err = bpf_map_lookup_elem(fd, &zero, &in->meta) ? -errno : 0;
	close(fd);
	if (err)
		return perm_or(in, err, path);
	err = check_meta(in, path);
	if (err)
		return err;

	snprintf(path, sizeof(path), "%s/%s", in->pin_dir, PT_STR(PT_MAP_PAIRS));
	fd = bpf_obj_get_opts(path, &ro);
	if (fd < 0)
		return perm_or(in, -errno, in->pin_dir);
	in->pairs_fd = fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return perm_or(in, -errno, path);
	if (info.value_size != sizeof(struct pt_pair))
		return fail(in, -EPROTO, "pair slots of %u bytes, this passthru-ctl understands %zu",
			    info.value_size, sizeof(struct pt_pair));
	in->n_slots = info.max_entries;
	in->map_len = ((size_t)info.max_entries * info.value_size + page - 1) & ~(size_t)(page - 1);
	p = (info.map_flags & BPF_F_MMAPABLE) ?
		    mmap(NULL, in->map_len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (p != MAP_FAILED) {
		in->map = p;
		in->pairs = p;
	}
	return 0;
}

/* The .pairs file of a daemon without the kernel maps: a pt_meta, then the slots. */
static int open_file(struct instance *in)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(in->file, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return perm_or(in, -errno, in->file);
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(struct pt_meta)) {
		close(fd);
		return fail(in, -EPROTO, "%s: too short", in->file);
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return perm_or(in, -errno, in->file);
	in->map = p;
	in->map_len = st.st_size;
	memcpy(&in->meta, p, sizeof(in->meta));
	if (check_meta(in, in->file))
		return in->err;
	in->pairs = (const struct pt_pair *)((const struct pt_meta *)p + 1);
	in->n_slots = (st.st_size - sizeof(struct pt_meta)) / sizeof(struct pt_pair);
	if (in->meta.n_slots < in->n_slots)
		in->n_slots = in->meta.n_slots;
	return 0;
}

/*
 * Open the instance's pair slots, read-only: the pinned map when the
 * daemon loaded the kernel data plane, else its .pairs file. 0, or -errno
 * with in->why set.
 */
int open_pairs(struct instance *in)
{
	struct stat st;
	bool bpffs = is_bpffs(PT_BPFFS);

	in->meta_ok = false;
	in->err = 0;
	in->why[0] = 0;
	in->pinned = bpffs && (stat(in->pin_dir, &st) == 0 || errno == EACCES || errno == EPERM);
	if (in->pinned)
		return open_pinned(in);
	if (stat(in->file, &st) == 0 || errno == EACCES)
		return open_file(in);
	if (!bpffs)
		return fail(in, -ENOENT, "no BPF filesystem on %s and no %s: nothing lists its "
			    "connections", PT_BPFFS, in->file);
	return fail(in, -ENOENT, "no %s and no %s: nothing lists its connections", in->pin_dir,
		    in->file);
}

/*
 * Copy slot @i into @out; false if it is free or changed while we read it
 * (the daemon reused it).
 */
bool read_slot(struct instance *in, uint32_t i, struct pt_pair *out)
{
	const struct pt_pair *src;
	__u64 id;

	if (!in->pairs) {
		/* No mapping: one lookup per slot (slower, same answer). */
		return bpf_map_lookup_elem(in->pairs_fd, &i, out) == 0 &&
		       out->state != PT_PAIR_FREE;
	}
	src = &in->pairs[i];
	if (__atomic_load_n(&src->state, __ATOMIC_ACQUIRE) == PT_PAIR_FREE)
		return false;
	id = __atomic_load_n(&src->conn_id, __ATOMIC_ACQUIRE);
	memcpy(out, src, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&src->conn_id, __ATOMIC_RELAXED) == id &&
	       __atomic_load_n(&src->state, __ATOMIC_RELAXED) != PT_PAIR_FREE &&
	       out->state != PT_PAIR_FREE;
}

/* What could be learnt of one instance: from its control socket, from its pair slots. */
struct probe {
	cJSON *ans;			/* its "version" answer, NULL if none */
	int err;			/* why not: -errno and why[] */
	char why[512];
	bool maps_ok;			/* its pair slots could be read */
	uint32_t used;			/* pair slots in use */
	char shield[400];		/* where the XDP shield is attached, "-" if nowhere */
};

/* Ask @in its version and count its pair slots in use. */
static void probe_instance(struct instance *in, struct probe *pr)
{
	struct pt_shield_meta sm;
	struct pt_pair p;

	memset(pr, 0, sizeof(*pr));
	pr->err = in->has_sock ? ask(in->sock, "version", CTL_ASK_MS, &pr->ans, pr->why,
				     sizeof(pr->why)) : -ENOENT;
	if (!in->has_sock)
		snprintf(pr->why, sizeof(pr->why), "no socket");
	if (!shield_meta(in, &sm) || !shield_where(&sm, pr->shield, sizeof(pr->shield)))
		snprintf(pr->shield, sizeof(pr->shield), "-");
	pr->maps_ok = open_pairs(in) == 0;
	if (pr->maps_ok)
		for (uint32_t s = 0; s < in->n_slots; s++)
			pr->used += read_slot(in, s, &p);
	close_pairs(in);
}

/* The JSON entry of @in. */
static cJSON *probe_json(const struct instance *in, const struct probe *pr)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", in->name);
	cJSON_AddStringToObject(o, "pairs_from", !pr->maps_ok ? "" : in->pinned ?
						 in->pin_dir : in->file);
	cJSON_AddStringToObject(o, "socket", in->has_sock ? in->sock : "");
	cJSON_AddBoolToObject(o, "pairs_ok", pr->maps_ok);
	if (pr->maps_ok) {
		cJSON_AddNumberToObject(o, "slots", in->n_slots);
		cJSON_AddNumberToObject(o, "pairs", pr->used);
	} else {
		cJSON_AddStringToObject(o, "pairs_error", in->why);
	}
	cJSON_AddStringToObject(o, "shield", pr->shield);
	cJSON_AddBoolToObject(o, "control_ok", !pr->err);
	if (pr->err)
		cJSON_AddStringToObject(o, "control_error", pr->why);
	else
		cJSON_AddItemToObject(o, "version", cJSON_Duplicate(pr->ans, true));
	return o;
}

/* The table row of @in: from its daemon if it answered, else from its stamp. */
static void probe_row(struct table *t, const struct instance *in, const struct probe *pr)
{
	char pid[16], wk[16], gen[16], sl[16], pairs[16], maps[128], ctl[600];
	const cJSON *ans = pr->ans;

	snprintf(pid, sizeof(pid), ans || in->meta_ok ? "%.0f" : "-",
		 ans ? jnum(ans, "pid") : in->meta.pid);
	snprintf(wk, sizeof(wk), ans || in->meta_ok ? "%.0f" : "-",
		 ans ? jnum(ans, "workers") : in->meta.n_workers);
	snprintf(gen, sizeof(gen), ans ? "%.0f" : "-", ans ? jnum(ans, "generation") : 0);
	snprintf(sl, sizeof(sl), pr->maps_ok ? "%u" : "-", in->n_slots);
	snprintf(pairs, sizeof(pairs), pr->maps_ok ? "%u" : "-", pr->used);
	snprintf(maps, sizeof(maps), "%s",
		 pr->maps_ok ? (in->pinned ? "kernel maps" : "file")
		 : in->err == -ESRCH ? "stale (daemon gone)" : in->why);
	snprintf(ctl, sizeof(ctl), "%s", !pr->err ? "ok" : !in->has_sock ? "-" :
			 pr->err == -ECONNREFUSED ? "stale socket" : pr->why);
	table_row(t, in->name, pid, wk, gen, sl, pairs, maps, pr->shield, ctl);
}

/* The table (or JSON) of every selected instance and what is usable of each. */
static int list_instances(void)
{
	static const char *const head[] = { "Name",  "Pid",	  "Workers", "Generation",
					     "Slots", "Pairs", "Pair-slots", "Shield", "Control" };
	static const bool right[ARRAY_SIZE(head)] = { 0, 1, 1, 1, 1, 1 };
	struct probe pr;
	struct table t;
	cJSON *doc, *a;
	int err;

	err = find_instances();
	if (err)
		return err;
	doc = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(doc, "instances");
	table_init(&t, head, right, ARRAY_SIZE(head));
	for (int i = 0; i < n_instances; i++) {
		probe_instance(&instances[i], &pr);
		cJSON_AddItemToArray(a, probe_json(&instances[i], &pr));
		probe_row(&t, &instances[i], &pr);
		cJSON_Delete(pr.ans);
	}
	if (json_output)
		print_json(doc);
	else
		table_print(&t, "");
	table_free(&t);
	cJSON_Delete(doc);
	return 0;
}

#define INSTANCES_HELP                                                                          \
	"Every instance found: its pins under " PT_PIN_ROOT ", its control socket under "       \
	PT_RUN_DIR ",\nand whether each can be used."
#define INSTANCES_ARGS "show lists the instances named (like --instance NAME), list every one.\n"

static int do_list(int argc, char **argv)
{
	return run_no_args(argc, argv, "instance list", list_instances);
}

static int do_show(int argc, char **argv)
{
	int err = parse_opts(&argc, &argv, NULL, NULL);

	if (err)
		return err < 0 ? err : 0;
	for (int i = 0; i < argc; i++) {
		if (n_opt_instances == CTL_MAX_INSTANCES) {
			p_err("too many instances");
			return -E2BIG;
		}
		opt_instances[n_opt_instances++] = argv[i];
	}
	return list_instances();
}

static int do_help(int argc, char **argv)
{
	return print_object_help("instance", "{ list | show [NAME...] }", INSTANCES_HELP,
				 INSTANCES_ARGS);
}

static const struct cmd cmds[] = {
	{ .name = "list", .fn = do_list },
	{ .name = "show", .fn = do_show },
	{ .name = "help", .fn = do_help },
	{ 0 },
};

/* passthru-ctl instance { list | show [NAME...] | help }; list by default. */
int do_instance(int argc, char **argv)
{
	return cmd_run(cmds, argc, argv, "instance", 0);
}

/* passthru-ctl 0.1's "instances [show | list | help]": instance list. */
int do_instances(int argc, char **argv)
{
	return run_alias(argc, argv, "instances", "instances\n" INSTANCES_HELP, list_instances);
}
