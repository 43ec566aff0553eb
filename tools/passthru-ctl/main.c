// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * passthru-ctl: look at running passthru instances without disturbing them.
 *
 *   passthru-ctl [OPTIONS] COMMAND [ARGS]
 *
 * Per-connection status comes from the pair slots each instance keeps in
 * memory shared with the kernel (PT_MAP_PAIRS, pinned under
 * /sys/fs/bpf/passthru/<instance>/, stamped in PT_MAP_META); everything
 * else (names, the routing table, counters, reload) comes from the
 * instance's control socket, /run/passthru/<instance>.sock. Output is a
 * table, or JSON with -j; errors are "Error: ..." or {"error": "..."}.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/types.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>

#include "passthru.h"

#define CTL_VERSION		"0.1.0"
#define CTL_PROTOCOL		1	/* the control protocol this tool speaks */
#define CTL_BPFFS		"/sys/fs/bpf"
#define CTL_RUN_DIR		"/run/passthru"
#define CTL_ASK_MS		3000
#define CTL_RELOAD_MS		10000	/* the daemon waits up to 5 s for its workers */
#define CTL_MAX_INSTANCES	256
#define CTL_ANSWER_MAX		(16 << 20)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(PT_PROTO_MAX == 9, "a protocol was added: name it in proto_names[]");

static bool json_output;
static bool pretty_output;
static bool debug;
static const char *opt_socket;
static const char *opt_route;
static const char *opt_client;
static const char *opt_instances[CTL_MAX_INSTANCES];
static int n_opt_instances;
static const char *bin_name = "passthru-ctl";

/* The enums of passthru.h are stored in maps and never renumbered. */
static const char *const proto_names[PT_PROTO_MAX] = {
	[PT_PROTO_NONE] = "none",	[PT_PROTO_UNKNOWN] = "unknown",
	[PT_PROTO_TLS] = "tls",		[PT_PROTO_HTTP] = "http",
	[PT_PROTO_HTTP2] = "http2",	[PT_PROTO_SSH] = "ssh",
	[PT_PROTO_SOCKS4] = "socks4",	[PT_PROTO_SOCKS5] = "socks5",
	[PT_PROTO_PATTERN] = "pattern",
};

static const char *const state_names[] = {
	[PT_PAIR_FREE] = "free",
	[PT_PAIR_RELAYING] = "relaying",
	[PT_PAIR_HALF_CLOSED] = "half-closed",
	[PT_PAIR_DRAINING] = "draining",
	[PT_PAIR_CLOSING] = "closing",
};

static const char *const plane_names[] = {
	[PT_PLANE_NONE] = "none",
	[PT_PLANE_SPLICE] = "splice",
	[PT_PLANE_SOCKMAP] = "sockmap",
};

static const char *enum_name(const char *const *names, size_t n, unsigned int v)
{
	return v < n && names[v] ? names[v] : "?";
}

/* --- output ------------------------------------------------------------ */

/* The one way errors leave: "Error: ..." on stderr, or {"error": "..."} on stdout with -j. */
static void __attribute__((format(printf, 1, 2))) p_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_output) {
		cJSON *doc = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(doc, "error", msg);
		text = pretty_output ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(doc);
	} else {
		fprintf(stderr, "Error: %s\n", msg);
	}
}

/* Warnings go to stderr in both modes: they never break the JSON document. */
static void __attribute__((format(printf, 1, 2))) p_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "Warning: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void print_json(cJSON *doc)
{
	char *text = pretty_output ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);

	if (text)
		printf("%s\n", text);
	free(text);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * A table printed like ss: every column as wide as its widest cell, text
 * left-aligned, numbers right-aligned, two spaces between columns.
 */
#define TBL_COLS 20

struct table {
	int n_cols;
	const char *head[TBL_COLS];
	bool right[TBL_COLS];
	char **cells;			/* rows * n_cols strings */
	int rows, cap;
};

static void table_init(struct table *t, const char *const *head, const bool *right, int n)
{
	memset(t, 0, sizeof(*t));
	t->n_cols = n;
	for (int i = 0; i < n; i++) {
		t->head[i] = head[i];
		t->right[i] = right ? right[i] : false;
	}
}

/* Append one row: exactly n_cols strings, copied. */
static void table_row(struct table *t, ...)
{
	char **cells;
	va_list ap;

	if (t->rows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		cells = realloc(t->cells, sizeof(char *) * t->cap * t->n_cols);
		if (!cells) {
			t->cap = t->rows;
			return;
		}
		t->cells = cells;
	}
	va_start(ap, t);
	for (int i = 0; i < t->n_cols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->rows * t->n_cols + i] = strdup(s ? s : "");
	}
	va_end(ap);
	t->rows++;
}

static void table_free(struct table *t)
{
	for (int i = 0; i < t->rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cap = 0;
}

/* Print the table aligned like ss(8), then free its cells. */
static void table_print(struct table *t, const char *indent)
{
	size_t w[TBL_COLS];

	for (int c = 0; c < t->n_cols; c++) {
		w[c] = strlen(t->head[c]);
		for (int r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * t->n_cols + c];

			if (s && strlen(s) > w[c])
				w[c] = strlen(s);
		}
	}
	for (int r = -1; r < t->rows; r++) {
		fputs(indent, stdout);
		for (int c = 0; c < t->n_cols; c++) {
			const char *s = r < 0 ? t->head[c] : t->cells[r * t->n_cols + c];
			bool last = c == t->n_cols - 1;

			if (!s)
				s = "";
			if (t->right[c])
				printf("%*s", (int)w[c], s);
			else if (last)
				printf("%s", s);
			else
				printf("%-*s", (int)w[c], s);
			if (!last)
				fputs("  ", stdout);
		}
		fputc('\n', stdout);
	}
	table_free(t);
}

static const char *u64s(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* "4.2s", "3m07s", "2h05m", "3d04h" */
static const char *age_str(char *buf, size_t size, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, size, "%llu.%llus", (unsigned long long)s,
			 (unsigned long long)(ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, size, "%llum%02llus", (unsigned long long)s / 60,
			 (unsigned long long)s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%02llum", (unsigned long long)s / 3600,
			 (unsigned long long)s % 3600 / 60);
	else
		snprintf(buf, size, "%llud%02lluh", (unsigned long long)s / 86400,
			 (unsigned long long)s % 86400 / 3600);
	return buf;
}

static const char *addr_str(char *buf, size_t size, const struct pt_addr *a)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == AF_INET && inet_ntop(AF_INET, a->addr, ip, sizeof(ip)))
		snprintf(buf, size, "%s:%u", ip, ntohs(a->port));
	else if (a->family == AF_INET6 && inet_ntop(AF_INET6, a->addr, ip, sizeof(ip)))
		snprintf(buf, size, "[%s]:%u", ip, ntohs(a->port));
	else
		snprintf(buf, size, "-");
	return buf;
}

/* --- instances ------------------------------------------------------------ */

struct instance {
	char name[32];
	char pin_dir[sizeof(PT_PIN_ROOT) + 32];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char file[sizeof(CTL_RUN_DIR) + 40];	/* the .pairs file (splice only) */
	bool has_pins;			/* the pin directory exists */
	bool has_sock;			/* the socket file exists (or was named) */
	bool has_file;			/* the .pairs file exists */
	bool pinned;			/* the slots came from the pinned map, not the file */
	/* filled by open_pairs() */
	struct pt_meta meta;
	bool meta_ok;
	const struct pt_pair *pairs;	/* read-only mapping of the pair slots */
	void *map;			/* what to munmap */
	size_t map_len;
	uint32_t n_slots;
	int pairs_fd;
	char why[512];			/* why the maps cannot be used */
	int err;
};

static struct instance instances[CTL_MAX_INSTANCES];
static int n_instances;

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 31 || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       n;
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
	snprintf(in->pin_dir, sizeof(in->pin_dir), "%s/%s", PT_PIN_ROOT, name);
	snprintf(in->sock, sizeof(in->sock), "%s/%s.sock", CTL_RUN_DIR, name);
	snprintf(in->file, sizeof(in->file), "%s/%s.pairs", CTL_RUN_DIR, name);
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

	if (!is_bpffs(CTL_BPFFS))
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
		if (!name_ok(de->d_name) || stat(path, &st) || !S_ISDIR(st.st_mode))
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

/* Instances with a socket or a .pairs file in CTL_RUN_DIR. */
static void scan_run_dir(void)
{
	struct dirent *de;
	char name[NAME_MAX + 1];
	struct instance *in;
	size_t n;
	bool sock;
	DIR *d = opendir(CTL_RUN_DIR);

	if (!d)
		return;
	while ((de = readdir(d))) {
		sock = has_suffix(de->d_name, ".sock", &n);
		if (!sock && !has_suffix(de->d_name, ".pairs", &n))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)n, de->d_name);
		if (!name_ok(name) || !(in = instance_add(name)))
			continue;
		if (sock)
			in->has_sock = true;
		else
			in->has_file = true;
	}
	closedir(d);
}

static int ask(const char *path, const char *cmd, int timeout_ms, cJSON **doc, char *why,
	       size_t size);

/*
 * Decide which instances to look at: the --instance names, the instance
 * answering on --socket, or every one found under PT_PIN_ROOT and
 * CTL_RUN_DIR. 0 or -errno (reported).
 */
static int find_instances(void)
{
	struct stat st;
	int err;

	n_instances = 0;
	if (opt_socket && !n_opt_instances) {
		cJSON *doc = NULL, *name;
		char why[256];

		err = ask(opt_socket, "version", CTL_ASK_MS, &doc, why, sizeof(why));
		if (err) {
			p_err("%s: %s", opt_socket, why);
			return err;
		}
		name = cJSON_GetObjectItemCaseSensitive(doc, "instance");
		if (!cJSON_IsString(name) || !name_ok(name->valuestring)) {
			cJSON_Delete(doc);
			p_err("%s: the daemon did not say which instance it is", opt_socket);
			return -EPROTO;
		}
		opt_instances[n_opt_instances++] = strdup(name->valuestring);
		cJSON_Delete(doc);
	}
	if (n_opt_instances) {
		for (int i = 0; i < n_opt_instances; i++) {
			struct instance *in;

			if (!name_ok(opt_instances[i])) {
				p_err("--instance: \"%s\" is not 1-31 of [A-Za-z0-9_.-]",
				      opt_instances[i]);
				return -EINVAL;
			}
			in = instance_add(opt_instances[i]);
			if (!in)
				return -E2BIG;
			if (opt_socket)
				snprintf(in->sock, sizeof(in->sock), "%s", opt_socket);
			in->has_pins = stat(in->pin_dir, &st) == 0 || errno == EACCES;
			in->has_sock = stat(in->sock, &st) == 0 || errno == EACCES;
			in->has_file = stat(in->file, &st) == 0 || errno == EACCES;
			if (!in->has_pins && !in->has_sock && !in->has_file) {
				p_err("instance %s: not running (no %s, no %s)", in->name,
				      in->pin_dir, in->sock);
				return -ENOENT;
			}
		}
		return 0;
	}
	err = scan_pins();
	if (err)
		return err;
	scan_run_dir();
	if (!n_instances) {
		if (!is_bpffs(CTL_BPFFS))
			p_err("no passthru instance running (no BPF filesystem on %s, no socket in %s)",
			      CTL_BPFFS, CTL_RUN_DIR);
		else
			p_err("no passthru instance running (nothing in %s or %s)", PT_PIN_ROOT,
			      CTL_RUN_DIR);
		return -ENOENT;
	}
	qsort(instances, n_instances, sizeof(instances[0]), cmp_instance);
	return 0;
}

/* --- the control socket ---------------------------------------------------- */

/*
 * Send @cmd to the daemon at @path and parse its one JSON answer into
 * *doc. An {"error": ...} answer is returned as -EREMOTEIO with the text in
 * @why (the document still in *doc). Other failures: -errno and @why.
 */
static int ask(const char *path, const char *cmd, int timeout_ms, cJSON **doc, char *why,
	       size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timespec t0, t;
	size_t len = 0, cap = 0;
	char *buf = NULL, *p, line[64];
	cJSON *err_item;
	int fd, err = 0, n;
	ssize_t r;

	*doc = NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, size, "socket path too long");
		return -ENAMETOOLONG;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err = -errno;
		snprintf(why, size, "socket: %s", strerror(-err));
		return err;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = -errno;
		if (err == -EACCES || err == -EPERM)
			snprintf(why, size, "permission denied connecting to %s (run as root)", path);
		else if (err == -ECONNREFUSED)
			snprintf(why, size, "nobody answers on %s (stale socket?)", path);
		else
			snprintf(why, size, "cannot connect to %s: %s", path, strerror(-err));
		goto out;
	}
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (send(fd, line, n, MSG_NOSIGNAL) != n) {
		err = -errno ?: -EIO;
		snprintf(why, size, "%s: send: %s", path, strerror(-err));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
				     (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			err = -ETIMEDOUT;
			snprintf(why, size, "no answer on %s within %d ms", path, timeout_ms);
			goto out;
		}
		if (cap - len < 65536) {
			cap = cap ? 2 * cap : 131072;
			p = cap <= CTL_ANSWER_MAX ? realloc(buf, cap + 1) : NULL;
			if (!p) {
				err = -EFBIG;
				snprintf(why, size, "%s: answer too large", path);
				goto out;
			}
			buf = p;
		}
		r = recv(fd, buf + len, cap - len, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err = -errno;
			snprintf(why, size, "%s: %s", path, strerror(-err));
			goto out;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	if (!buf || !len) {
		err = -EPROTO;
		snprintf(why, size, "%s closed without an answer", path);
		goto out;
	}
	buf[len] = 0;
	*doc = cJSON_Parse(buf);
	if (!*doc) {
		err = -EPROTO;
		snprintf(why, size, "%s: the answer is not JSON", path);
		goto out;
	}
	err_item = cJSON_GetObjectItemCaseSensitive(*doc, "error");
	if (cJSON_IsString(err_item)) {
		err = -EREMOTEIO;
		snprintf(why, size, "%s", err_item->valuestring);
	}
out:
	free(buf);
	close(fd);
	return err;
}

static double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- the pair slots ---------------------------------------------------------- */

/*
 * Is the daemon that wrote a stamp still running? Its pid must exist and,
 * when /proc says, still be a passthru: pins left by a killed daemon
 * outlive it, and its pid may have gone to someone else since.
 */
static bool pid_alive(__u32 pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	if (!pid || (kill((pid_t)pid, 0) && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return !comm[0] || !strncmp(comm, "passthru", 8);
}

static void close_pairs(struct instance *in)
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
	if (in->meta.magic != PT_META_MAGIC)
		return fail(in, -EPROTO, "%s is not a passthru stamp (magic 0x%08x)", where,
			    in->meta.magic);
	if (in->meta.abi != PT_ABI_VERSION || in->meta.pair_size != sizeof(struct pt_pair))
		return fail(in, -EPROTO, "map layout version %u, this passthru-ctl understands %u",
			    in->meta.abi, PT_ABI_VERSION);
	in->meta_ok = true;
	if (!pid_alive(in->meta.pid))
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
static int open_pairs(struct instance *in)
{
	struct stat st;
	bool bpffs = is_bpffs(CTL_BPFFS);

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
			    "connections", CTL_BPFFS, in->file);
	return fail(in, -ENOENT, "no %s and no %s: nothing lists its connections", in->pin_dir,
		    in->file);
}

/*
 * Copy slot @i into @out; false if it is free or changed while we read it
 * (the daemon reused it).
 */
static bool read_slot(struct instance *in, uint32_t i, struct pt_pair *out)
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

/* --- command tables ------------------------------------------------------------- */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

/*
 * Find @arg in @cmds: an exact name, or the one name it is a prefix of.
 * Several candidates are an error that lists them. Returns the index or
 * -errno (reported).
 */
static int cmd_select(const struct cmd *cmds, const char *arg, const char *what)
{
	char list[512] = "";
	int found = -1, n = 0;

	for (int i = 0; cmds[i].name; i++) {
		if (!strcmp(cmds[i].name, arg))
			return i;
		if (strncmp(cmds[i].name, arg, strlen(arg)))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", n ? ", " : "",
			 cmds[i].name);
		found = i;
		n++;
	}
	if (n == 1)
		return found;
	if (n > 1)
		p_err("%s '%s' is ambiguous: %s", what, arg, list);
	else
		p_err("unknown %s '%s' (see '%s help')", what, arg, bin_name);
	return -EINVAL;
}

/*
 * Every command takes an optional verb: "show" or "list" (the default) or
 * "help". Returns 1 for show, 0 when help was printed, -errno on an error.
 */
static int verb(int *argc, char ***argv, const char *cmd, const char *usage)
{
	if (*argc > 0 && (!strcmp((*argv)[0], "show") || !strcmp((*argv)[0], "list"))) {
		(*argc)--;
		(*argv)++;
	}
	if (*argc > 0 && !strcmp((*argv)[0], "help")) {
		if (json_output)
			printf("null\n");
		else
			printf("Usage: %s [OPTIONS] %s\n", bin_name, usage);
		return 0;
	}
	if (*argc > 0) {
		p_err("%s: unexpected argument '%s'", cmd, (*argv)[0]);
		return -EINVAL;
	}
	return 1;
}

/* --- status ------------------------------------------------------------------- */

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

struct cidr {
	int family;
	uint8_t addr[16];
	int prefix;
};

static int parse_cidr(const char *s, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long prefix = -1;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end)
			return -EINVAL;
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6;
	else
		return -EINVAL;
	c->prefix = prefix < 0 ? (c->family == AF_INET ? 32 : 128) : (int)prefix;
	if (c->prefix > (c->family == AF_INET ? 32 : 128))
		return -EINVAL;
	return 0;
}

static bool cidr_match(const struct cidr *c, const struct pt_addr *a)
{
	int full = c->prefix / 8, bits = c->prefix % 8;

	if (a->family != c->family)
		return false;
	if (memcmp(a->addr, c->addr, full))
		return false;
	return !bits || !((a->addr[full] ^ c->addr[full]) & (0xff00 >> bits));
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

static uint64_t dir_bytes(const struct pt_dir *d)
{
	return d->redirected + d->consumed + d->copied;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Collect the rows of one instance that pass the filters. */
static int collect(struct instance *in, const cJSON *routes, const struct cidr *client)
{
	unsigned int gen = routes ? (unsigned int)jnum(routes, "generation") : 0;
	char idx[16];
	struct row *r;
	uint64_t now = mono_ns();

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
	cJSON_AddStringToObject(o, "proto", enum_name(proto_names, PT_PROTO_MAX, r->p.proto));
	cJSON_AddStringToObject(o, "name", r->p.name);
	cJSON_AddStringToObject(o, "plane",
				enum_name(plane_names, ARRAY_SIZE(plane_names), r->p.plane));
	cJSON_AddStringToObject(o, "state",
				enum_name(state_names, ARRAY_SIZE(state_names), r->p.state));
	cJSON_AddNumberToObject(o, "age_ms", (double)r->age_ms);
	cJSON_AddNumberToObject(o, "limit", (double)r->p.limit);
	cJSON_AddNumberToObject(o, "bytes_up", (double)dir_bytes(&r->p.dir[0]));
	cJSON_AddNumberToObject(o, "bytes_down", (double)dir_bytes(&r->p.dir[1]));
	cJSON_AddItemToObject(o, "up", dir_json(&r->p.dir[0]));
	cJSON_AddItemToObject(o, "down", dir_json(&r->p.dir[1]));
	return o;
}

static void print_rows(void)
{
	static const char *const head[] = { "Instance", "Listener", "Route", "Client",
					     "Upstream", "Proto",    "Name",  "Plane",
					     "State",    "Up",       "Down",  "Pkts-up",
					     "Pkts-down", "Age" };
	static const bool right[ARRAY_SIZE(head)] = { [9] = true, [10] = true, [11] = true,
						      [12] = true, [13] = true };
	char l[24], rt[24], cl[64], up[64], b1[24], b2[24], k1[24], k2[24], age[24];
	struct table t;

	table_init(&t, head, right, ARRAY_SIZE(head));
	for (int i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		bool sm = r->p.plane == PT_PLANE_SOCKMAP;

		snprintf(l, sizeof(l), "%u", r->p.listener);
		snprintf(rt, sizeof(rt), "%u%s", r->p.route, r->route_stale ? "?" : "");
		table_row(&t, r->in->name, r->listener ? r->listener : l, r->route ? r->route : rt,
			  addr_str(cl, sizeof(cl), &r->p.client),
			  addr_str(up, sizeof(up), &r->p.upstream),
			  enum_name(proto_names, PT_PROTO_MAX, r->p.proto),
			  r->p.name[0] ? r->p.name : "-",
			  enum_name(plane_names, ARRAY_SIZE(plane_names), r->p.plane),
			  enum_name(state_names, ARRAY_SIZE(state_names), r->p.state),
			  u64s(b1, sizeof(b1), dir_bytes(&r->p.dir[0])),
			  u64s(b2, sizeof(b2), dir_bytes(&r->p.dir[1])),
			  sm ? u64s(k1, sizeof(k1), r->p.dir[0].packets) : "-",
			  sm ? u64s(k2, sizeof(k2), r->p.dir[1].packets) : "-",
			  age_str(age, sizeof(age), r->age_ms));
	}
	table_print(&t, "");
}

/*
 * Instances left out while looking at all of them: warned about once per
 * distinct reason, the stale ones (daemon gone, pins or socket left) only
 * counted. With -j they are listed in the document's "skipped".
 */
#define SKIP_GROUPS 16

static struct {
	cJSON *list;
	int n_stale;
	int n_groups;
	struct {
		char why[512];
		char names[200];
		int n;
	} g[SKIP_GROUPS];
} skips;

static void skip_note(const char *name, const char *why, bool stale)
{
	cJSON *o = cJSON_CreateObject();
	int i;

	if (!skips.list)
		skips.list = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "instance", name);
	cJSON_AddStringToObject(o, "reason", why);
	cJSON_AddBoolToObject(o, "stale", stale);
	cJSON_AddItemToArray(skips.list, o);
	if (stale) {
		skips.n_stale++;
		return;
	}
	for (i = 0; i < skips.n_groups && strcmp(skips.g[i].why, why); i++)
		;
	if (i == SKIP_GROUPS) {
		p_warn("instance %s: %s", name, why);
		return;
	}
	if (i == skips.n_groups) {
		snprintf(skips.g[i].why, sizeof(skips.g[i].why), "%s", why);
		skips.n_groups++;
	}
	if (skips.g[i].n++ < 4) {
		size_t n = strlen(skips.g[i].names);

		snprintf(skips.g[i].names + n, sizeof(skips.g[i].names) - n, "%s%s",
			 n ? ", " : "", name);
	}
}

/* Print the skip warnings and forget them; returns how many were stale. */
static int skip_report(void)
{
	int n_stale = skips.n_stale;

	for (int i = 0; i < skips.n_groups; i++)
		p_warn("instance%s %s%s: %s", skips.g[i].n > 1 ? "s" : "", skips.g[i].names,
		       skips.g[i].n > 4 ? " and more" : "", skips.g[i].why);
	if (skips.n_stale)
		p_warn("%d stale instance%s skipped (passthru gone, files left; see '%s instances')",
		       skips.n_stale, skips.n_stale > 1 ? "s" : "", bin_name);
	skips.n_groups = 0;
	skips.n_stale = 0;
	return n_stale;
}

/* Does the daemon answer on its socket? 0, or -errno (-ECONNREFUSED: stale). */
static int sock_alive(struct instance *in)
{
	cJSON *doc;
	char why[256];
	int err;

	if (!in->has_sock)
		return -ENOENT;
	err = ask(in->sock, "version", CTL_ASK_MS, &doc, why, sizeof(why));
	cJSON_Delete(doc);
	return err;
}

/*
 * An instance whose connections cannot be listed: with --instance it is an
 * error, when looking at all of them a note for skip_report().
 */
static int skip_instance(struct instance *in)
{
	if (n_opt_instances) {
		p_err("instance %s: %s", in->name, in->why);
		return in->err;
	}
	skip_note(in->name, in->why,
		  in->err == -ESRCH || (in->err == -ENOENT && sock_alive(in) == -ECONNREFUSED));
	return 0;
}

static int do_status(int argc, char **argv)
{
	cJSON *doc = NULL, *ia, *pa, *sum, *o;
	cJSON *answers[CTL_MAX_INSTANCES] = {};
	uint64_t tot[2] = {}, planes[3] = {};
	struct cidr client;
	int err, shown = 0, n_stale;
	char why[512];

	err = verb(&argc, &argv, "status",
		   "status [--route NAME] [--client CIDR]\n"
		   "One row per relayed connection: listener, route, client, upstream, protocol,\n"
		   "SNI or Host, data plane, state, bytes and packets each way, age.");
	if (err <= 0)
		return err;
	if (opt_client && parse_cidr(opt_client, &client)) {
		p_err("--client: expected an address or ADDRESS/PREFIX, got \"%s\"", opt_client);
		return -EINVAL;
	}
	err = find_instances();
	if (err)
		return err;
	doc = cJSON_CreateObject();
	ia = cJSON_AddArrayToObject(doc, "instances");
	pa = cJSON_AddArrayToObject(doc, "pairs");
	for (int i = 0; i < n_instances; i++) {
		struct instance *in = &instances[i];
		cJSON *routes = NULL;

		err = open_pairs(in);
		if (err) {
			err = skip_instance(in);
			if (err)
				goto out;
			continue;
		}
		err = ask(in->sock, "routes", CTL_ASK_MS, &routes, why, sizeof(why));
		if (err) {
			p_warn("instance %s: %s; listeners and routes shown as indices", in->name,
			       why);
			cJSON_Delete(routes);
			routes = NULL;
		}
		answers[i] = routes;
		err = collect(in, routes, opt_client ? &client : NULL);
		if (err) {
			p_err("out of memory");
			goto out;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", in->name);
		cJSON_AddNumberToObject(o, "pid", in->meta.pid);
		cJSON_AddNumberToObject(o, "workers", in->meta.n_workers);
		cJSON_AddNumberToObject(o, "slots", in->n_slots);
		cJSON_AddBoolToObject(o, "control", routes != NULL);
		if (routes)
			cJSON_AddNumberToObject(o, "generation", jnum(routes, "generation"));
		cJSON_AddItemToArray(ia, o);
		shown++;
	}
	n_stale = skip_report();
	if (skips.list) {
		cJSON_AddItemToObject(doc, "skipped", skips.list);
		skips.list = NULL;
	}
	if (!shown) {
		if (n_stale == n_instances)
			p_err("no passthru instance running (only files left by dead ones: see '%s "
			      "instances')", bin_name);
		else
			p_err("no instance to show: %s", n_instances == 1 ? instances[0].why :
					"none of them has readable pair slots");
		err = -ENOENT;
		goto out;
	}
	qsort(rows, n_rows, sizeof(*rows), cmp_row);
	for (int i = 0; i < n_rows; i++) {
		tot[0] += dir_bytes(&rows[i].p.dir[0]);
		tot[1] += dir_bytes(&rows[i].p.dir[1]);
		planes[rows[i].p.plane < 3 ? rows[i].p.plane : 0]++;
		if (json_output)
			cJSON_AddItemToArray(pa, row_json(&rows[i]));
	}
	if (json_output) {
		sum = cJSON_AddObjectToObject(doc, "summary");
		cJSON_AddNumberToObject(sum, "instances", shown);
		cJSON_AddNumberToObject(sum, "pairs", n_rows);
		cJSON_AddNumberToObject(sum, "sockmap", (double)planes[PT_PLANE_SOCKMAP]);
		cJSON_AddNumberToObject(sum, "splice", (double)planes[PT_PLANE_SPLICE]);
		cJSON_AddNumberToObject(sum, "bytes_up", (double)tot[0]);
		cJSON_AddNumberToObject(sum, "bytes_down", (double)tot[1]);
		print_json(doc);
	} else {
		if (n_rows)
			print_rows();
		printf("%d instance%s, %d pair%s (%llu sockmap, %llu splice), %llu bytes up, "
		       "%llu bytes down\n",
		       shown, shown == 1 ? "" : "s", n_rows, n_rows == 1 ? "" : "s",
		       (unsigned long long)planes[PT_PLANE_SOCKMAP],
		       (unsigned long long)planes[PT_PLANE_SPLICE], (unsigned long long)tot[0],
		       (unsigned long long)tot[1]);
	}
	err = 0;
out:
	for (int i = 0; i < n_instances; i++) {
		cJSON_Delete(answers[i]);
		close_pairs(&instances[i]);
	}
	cJSON_Delete(doc);
	return err;
}

/* --- commands answered by the daemon ------------------------------------------------ */

/*
 * Ask every selected instance @cmd. Instances without a socket are skipped
 * (with a warning) when looking at all of them, an error with --instance.
 * Fills answers[]; returns the number of answers or -errno (reported).
 */
static int ask_all(const char *cmd, int timeout_ms, cJSON **answers)
{
	char why[512];
	int err, n = 0, n_stale;

	err = find_instances();
	if (err)
		return err;
	for (int i = 0; i < n_instances; i++) {
		struct instance *in = &instances[i];

		answers[i] = NULL;
		if (!n_opt_instances && !in->has_sock)
			continue; /* pins without a socket: stale, or an older daemon */
		err = ask(in->sock, cmd, timeout_ms, &answers[i], why, sizeof(why));
		if (err == -EREMOTEIO && !strcmp(cmd, "reload"))
			err = 0; /* reported per instance */
		if (err) {
			cJSON_Delete(answers[i]);
			answers[i] = NULL;
			if (n_opt_instances) {
				p_err("instance %s: %s", in->name, why);
				return err;
			}
			skip_note(in->name, why, err == -ECONNREFUSED);
			continue;
		}
		n++;
	}
	n_stale = skip_report();
	if (!n && n_stale == n_instances) {
		p_err("no passthru instance running (only files left by dead ones: see '%s "
		      "instances')", bin_name);
		return -ENOENT;
	}
	if (!n) {
		p_err("no instance answered on its control socket");
		return -ENOTCONN;
	}
	return n;
}

static void free_answers(cJSON **answers)
{
	for (int i = 0; i < n_instances; i++)
		cJSON_Delete(answers[i]);
}

/* A JSON document with the answers: {"instances": [{"name": ..., KEY: answer}]} */
static cJSON *wrap_answers(cJSON **answers, const char *key)
{
	cJSON *doc = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(doc, "instances"), *o;

	for (int i = 0; i < n_instances; i++) {
		if (!answers[i])
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", instances[i].name);
		cJSON_AddItemToObject(o, key, answers[i]);
		answers[i] = NULL;
		cJSON_AddItemToArray(a, o);
	}
	return doc;
}

/* "protocol=tls sni=a.example,*.b.example" */
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

static int do_routes(int argc, char **argv)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc;
	int err;

	err = verb(&argc, &argv, "routes",
		   "routes\nThe routing table each instance runs: listeners, routes in order, "
		   "what they match, where they go.");
	if (err <= 0)
		return err;
	err = ask_all("routes", CTL_ASK_MS, answers);
	if (err < 0)
		return err;
	if (json_output) {
		doc = wrap_answers(answers, "routes");
		print_json(doc);
		cJSON_Delete(doc);
	} else {
		for (int i = 0, n = 0; i < n_instances; i++) {
			if (!answers[i])
				continue;
			if (n++)
				putchar('\n');
			print_routes(&instances[i], answers[i]);
		}
	}
	free_answers(answers);
	return 0;
}

/* "tls 3, http 5" for the non-zero members of @obj; "-" if none */
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

static void print_stats(const struct instance *in, const cJSON *ans, const cJSON *maps)
{
	static const char *const head[] = { "#",	  "Route",    "Matched", "Rejected",
					     "Up-fail",	  "Conn-err", "Splice",  "Sockmap",
					     "Bytes-up",  "Bytes-down", "Kernel", "Daemon",
					     "Passed",	  "Pass-ev",  "Redir-fail" };
	static const bool right[ARRAY_SIZE(head)] = { 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	char buf[1024], c[15][24];
	const cJSON *l, *r, *o;
	struct table t;

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
		o = cJSON_GetObjectItemCaseSensitive(l, "bytes");
		printf("listener %.0f %s: %.0f accepted, %.0f active, %.0f over limit, %.0f rejected, "
		       "%.0f without route, %.0f upstream failures\n",
		       jnum(l, "index"), jstr(l, "name") ?: "?", jnum(l, "accepted"),
		       jnum(l, "active"), jnum(l, "over_limit"), jnum(l, "rejected"),
		       jnum(l, "no_route"), jnum(l, "upstream_failures"));
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
			const cJSON *rel = cJSON_GetObjectItemCaseSensitive(r, "relayed");
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "bytes");

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
			table_row(&t, c[0], jstr(r, "name") ?: "?", c[2], c[3], c[4], c[5], c[6],
				  c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14]);
		}
		table_print(&t, "  ");
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

static int do_stats(int argc, char **argv)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc, *a, *o, *maps;
	int err;

	err = verb(&argc, &argv, "stats",
		   "stats\nCounters per listener (accepted, detected protocols, timeouts, ends) "
		   "and per route\n(matches, rejects, upstream failures, bytes, data-plane "
		   "counters) since start or the last reload.");
	if (err <= 0)
		return err;
	err = ask_all("stats", CTL_ASK_MS, answers);
	if (err < 0)
		return err;
	doc = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(doc, "instances");
	for (int i = 0, n = 0; i < n_instances; i++) {
		if (!answers[i])
			continue;
		maps = map_counters(&instances[i]);
		if (json_output) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", instances[i].name);
			cJSON_AddItemToObject(o, "stats", answers[i]);
			if (maps)
				cJSON_AddItemToObject(o, "pair_slots", maps);
			else
				cJSON_AddNullToObject(o, "pair_slots");
			cJSON_AddItemToArray(a, o);
			answers[i] = NULL;
			continue;
		}
		if (n++)
			putchar('\n');
		print_stats(&instances[i], answers[i], maps);
		cJSON_Delete(maps);
	}
	if (json_output)
		print_json(doc);
	cJSON_Delete(doc);
	free_answers(answers);
	return 0;
}

static int do_reload(int argc, char **argv)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc, *a, *o, *m;
	int err, failed = 0, first_bad = -1;

	err = verb(&argc, &argv, "reload",
		   "reload\nMake the daemon re-read its config file: new connections use it, "
		   "established ones\nkeep theirs. With several instances running, name one "
		   "with --instance.");
	if (err <= 0)
		return err;
	if (!n_opt_instances) {
		/* Without --instance, reload the one daemon that answers, if only one does. */
		char list[256] = "";
		int n = ask_all("version", CTL_ASK_MS, answers), pick = -1;

		if (n < 0)
			return n;
		for (int i = 0; i < n_instances; i++) {
			if (!answers[i])
				continue;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.31s",
				 pick < 0 ? "" : ", ", instances[i].name);
			pick = i;
		}
		free_answers(answers);
		memset(answers, 0, sizeof(answers));
		if (n > 1) {
			p_err("%d instances are running (%s): name the one to reload with --instance",
			      n, list);
			return -EINVAL;
		}
		opt_instances[n_opt_instances++] = strdup(instances[pick].name);
	}
	err = ask_all("reload", CTL_RELOAD_MS, answers);
	if (err < 0)
		return err;
	for (int i = 0; i < n_instances; i++) {
		if (answers[i] && jstr(answers[i], "error")) {
			failed++;
			if (first_bad < 0)
				first_bad = i;
		}
	}
	if (failed == 1 && n_instances == 1) {
		/* The common case: one instance, one error, its reasons. */
		if (json_output) {
			print_json(answers[first_bad]);
		} else {
			fprintf(stderr, "Error: instance %s: %s\n", instances[first_bad].name,
				jstr(answers[first_bad], "error"));
			cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(answers[first_bad],
									       "messages"))
			if (cJSON_IsString(m))
				fprintf(stderr, "  %s\n", m->valuestring);
		}
		free_answers(answers);
		return -EINVAL;
	}
	if (json_output) {
		doc = cJSON_CreateObject();
		a = cJSON_AddArrayToObject(doc, "instances");
		for (int i = 0; i < n_instances; i++) {
			if (!answers[i])
				continue;
			o = answers[i];
			answers[i] = NULL;
			cJSON_AddItemToObject(o, "name", cJSON_CreateString(instances[i].name));
			cJSON_AddItemToArray(a, o);
		}
		print_json(doc);
		cJSON_Delete(doc);
	} else {
		for (int i = 0; i < n_instances; i++) {
			if (!answers[i])
				continue;
			if (jstr(answers[i], "error"))
				fprintf(stderr, "Error: instance %s: %s\n", instances[i].name,
					jstr(answers[i], "error"));
			else
				printf("instance %s: reloaded %s, generation %.0f\n",
				       instances[i].name, jstr(answers[i], "config") ?: "?",
				       jnum(answers[i], "generation"));
		}
	}
	free_answers(answers);
	return failed ? -EINVAL : 0;
}

/* --- instances, version, help --------------------------------------------------- */

static int do_instances(int argc, char **argv)
{
	static const char *const head[] = { "Name",  "Pid",	  "Workers", "Generation",
					     "Slots", "Pairs", "Pair-slots", "Control" };
	static const bool right[ARRAY_SIZE(head)] = { 0, 1, 1, 1, 1, 1 };
	cJSON *doc, *a, *o, *ans;
	char why[512], pid[16], wk[16], gen[16], sl[16], pr[16], maps[128], ctl[600];
	struct table t;
	int err;

	err = verb(&argc, &argv, "instances",
		   "instances\nEvery instance found: its pins under " PT_PIN_ROOT
		   ", its control socket under " CTL_RUN_DIR ",\nand whether each can be used.");
	if (err <= 0)
		return err;
	err = find_instances();
	if (err)
		return err;
	doc = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(doc, "instances");
	table_init(&t, head, right, ARRAY_SIZE(head));
	for (int i = 0; i < n_instances; i++) {
		struct instance *in = &instances[i];
		uint32_t used = 0;
		struct pt_pair p;
		bool maps_ok;

		ans = NULL;
		err = in->has_sock ? ask(in->sock, "version", CTL_ASK_MS, &ans, why, sizeof(why))
				   : -ENOENT;
		if (!in->has_sock)
			snprintf(why, sizeof(why), "no socket");
		maps_ok = open_pairs(in) == 0;
		if (maps_ok)
			for (uint32_t s = 0; s < in->n_slots; s++)
				used += read_slot(in, s, &p);
		close_pairs(in);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", in->name);
		cJSON_AddStringToObject(o, "pairs_from", !maps_ok ? "" : in->pinned ?
							 in->pin_dir : in->file);
		cJSON_AddStringToObject(o, "socket", in->has_sock ? in->sock : "");
		cJSON_AddBoolToObject(o, "pairs_ok", maps_ok);
		if (maps_ok) {
			cJSON_AddNumberToObject(o, "slots", in->n_slots);
			cJSON_AddNumberToObject(o, "pairs", used);
		} else {
			cJSON_AddStringToObject(o, "pairs_error", in->why);
		}
		cJSON_AddBoolToObject(o, "control_ok", !err);
		if (err)
			cJSON_AddStringToObject(o, "control_error", why);
		else
			cJSON_AddItemToObject(o, "version", cJSON_Duplicate(ans, true));

		snprintf(pid, sizeof(pid), ans || in->meta_ok ? "%.0f" : "-",
			 ans ? jnum(ans, "pid") : in->meta.pid);
		snprintf(wk, sizeof(wk), ans || in->meta_ok ? "%.0f" : "-",
			 ans ? jnum(ans, "workers") : in->meta.n_workers);
		snprintf(gen, sizeof(gen), ans ? "%.0f" : "-", ans ? jnum(ans, "generation") : 0);
		snprintf(sl, sizeof(sl), maps_ok ? "%u" : "-", in->n_slots);
		snprintf(pr, sizeof(pr), maps_ok ? "%u" : "-", used);
		snprintf(maps, sizeof(maps), "%s",
			 maps_ok ? (in->pinned ? "kernel maps" : "file")
			 : in->err == -ESRCH ? "stale (daemon gone)" : in->why);
		snprintf(ctl, sizeof(ctl), "%s", !err ? "ok" : !in->has_sock ? "-" :
				 err == -ECONNREFUSED ? "stale socket" : why);
		table_row(&t, in->name, pid, wk, gen, sl, pr, maps, ctl);
		cJSON_AddItemToArray(a, o);
		cJSON_Delete(ans);
	}
	if (json_output)
		print_json(doc);
	else
		table_print(&t, "");
	table_free(&t);
	cJSON_Delete(doc);
	return 0;
}

static int do_version(int argc, char **argv)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc;
	int err;

	err = verb(&argc, &argv, "version",
		   "version\nThis tool's version and the version of every running daemon.");
	if (err <= 0)
		return err;
	err = ask_all("version", CTL_ASK_MS, answers);
	if (err < 0)
		return err;
	if (json_output) {
		doc = wrap_answers(answers, "version");
		cJSON_AddStringToObject(doc, "passthru_ctl", CTL_VERSION);
		cJSON_AddNumberToObject(doc, "abi", PT_ABI_VERSION);
		cJSON_AddNumberToObject(doc, "protocol", CTL_PROTOCOL);
		print_json(doc);
		cJSON_Delete(doc);
	} else {
		printf("%s %s (abi %d, control protocol %d)\n", bin_name, CTL_VERSION,
		       PT_ABI_VERSION, CTL_PROTOCOL);
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

static int do_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "status", do_status, "relayed connections, from the kernel's pair slots" },
	{ "stats", do_stats, "counters per listener and route, data-plane counters" },
	{ "routes", do_routes, "the routing table the daemon runs" },
	{ "reload", do_reload, "re-read the config (new connections use it)" },
	{ "instances", do_instances, "running instances and what is usable of each" },
	{ "version", do_version, "versions of this tool and of the daemons" },
	{ "help", do_help, "this text" },
	{ 0 },
};

static int do_help(int argc, char **argv)
{
	if (json_output) {
		printf("null\n");
		return 0;
	}
	printf("Usage: %s [OPTIONS] COMMAND [show | list | help] [ARGS]\n"
	       "       %s status [--route NAME] [--client CIDR]\n"
	       "\n"
	       "COMMAND := {",
	       bin_name, bin_name);
	for (int i = 0; cmds[i].name; i++)
		printf("%s%s", i ? " | " : " ", cmds[i].name);
	printf(" }\n\n");
	for (int i = 0; cmds[i].name; i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].help);
	printf("\nOPTIONS := { -j|--json [-p|--pretty] | --instance NAME | --socket PATH |\n"
	       "             -d|--debug | -V|--version | -h|--help }\n"
	       "  --instance NAME  only this instance (repeat for more; default: every one under\n"
	       "                   %s and %s)\n"
	       "  --socket PATH    the control socket, if the config moved it (control_socket)\n"
	       "Commands and options may be shortened to any unambiguous prefix.\n",
	       PT_PIN_ROOT, CTL_RUN_DIR);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "instance", required_argument, NULL, 'i' },
		{ "socket", required_argument, NULL, 's' },
		{ "route", required_argument, NULL, 'r' },
		{ "client", required_argument, NULL, 'c' },
		{ 0 },
	};
	bool version = false;
	int opt, err, idx;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "jpdVhi:s:", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json_output = true;
			break;
		case 'p':
			json_output = pretty_output = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'V':
			version = true;
			break;
		case 'h':
			return do_help(0, NULL);
		case 'i':
			if (n_opt_instances == CTL_MAX_INSTANCES) {
				p_err("too many --instance options");
				return E2BIG;
			}
			opt_instances[n_opt_instances++] = optarg;
			break;
		case 's':
			opt_socket = optarg;
			break;
		case 'r':
			opt_route = optarg;
			break;
		case 'c':
			opt_client = optarg;
			break;
		default:
			if (optopt)
				p_err("option '-%c' %s", optopt,
				      strchr("is", optopt) ? "needs an argument" : "is unknown");
			else
				p_err("unknown or incomplete option '%s' (see '%s help')",
				      argv[optind - 1], bin_name);
			return EINVAL;
		}
	}
	libbpf_set_print(libbpf_print);
	if (version) {
		if (json_output)
			printf("{\"version\":\"%s\",\"abi\":%d,\"protocol\":%d}\n", CTL_VERSION,
			       PT_ABI_VERSION, CTL_PROTOCOL);
		else
			printf("%s v%s (abi %d, control protocol %d)\n", bin_name, CTL_VERSION,
			       PT_ABI_VERSION, CTL_PROTOCOL);
		return 0;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return do_help(0, NULL);
	idx = cmd_select(cmds, argv[0], "command");
	if (idx < 0)
		return -idx;
	if ((opt_route || opt_client) && cmds[idx].fn != do_status) {
		p_err("--route and --client go with status only");
		return EINVAL;
	}
	err = cmds[idx].fn(argc - 1, argv + 1);
	return err < 0 ? -err : 0;
}
