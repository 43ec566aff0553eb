// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Skeleton lifecycle: open -> size maps -> load -> attach (bpf_prog_attach,
 * libbpf 1.1 has no sockmap attach helper) -> rings -> mmap -> pin. Errors come back
 * as -errno with a short reason for the log. pt_bpf_load() decides from
 * the config whether to load at all and how many pair slots to make.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_loader.h"
#include "config-t.h"
#include "fsutil.h"
#include "log.h"
#include "passthru.skel.h"
#include "selftest.h"

_Static_assert(sizeof(struct pt_pair) % 8 == 0, "pt_pair must be 8-byte aligned in the array");
_Static_assert(sizeof(struct pt_dir) == 72, "pt_dir layout changed: bump PT_ABI_VERSION");
_Static_assert(sizeof(struct pt_pair) == 376, "pt_pair layout changed: bump PT_ABI_VERSION");
_Static_assert(sizeof(struct pt_sock_ref) == 24, "pt_sock_ref layout changed: bump PT_ABI_VERSION");

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf is chatty: its warnings are our debug, its debug our trace. */
	enum pt_log_level l = level == LIBBPF_WARN ? PT_LOG_DEBUG : PT_LOG_TRACE;

	if (pt_log_enabled(PT_LC_BPF, l))
		pt_vlog(PT_LC_BPF, l, fmt, ap);
	return 0;
}

void pt_bpf_set_print(void)
{
	libbpf_set_print(libbpf_print);
}

int pt_bpf_mount(void)
{
	struct statfs st;

	if (statfs(PT_BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", PT_BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	pr_info(BPF, "mounted bpffs on %s", PT_BPFFS);
	return 0;
}

/* The pid recorded by the instance pinned at dir, or 0 if none is readable. */
static pid_t pinned_pid(const char *dir)
{
	char path[PATH_MAX];
	struct pt_meta m;
	__u32 zero = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, PT_STR(PT_MAP_META));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &zero, &m) || pt_meta_check(&m) == -EBADMSG)
		m.pid = 0;
	close(fd);
	return m.pid;
}

/*
 * A pin directory left by a passthru that died is removed (we hold the
 * instance lock, so nobody else is making it now); one whose stamp names
 * a live process is an error (a daemon from before the lock file).
 */
static int clean_stale(const char *dir, const char **why)
{
	struct stat st;
	pid_t pid;

	if (stat(dir, &st))
		return 0;
	pid = pinned_pid(dir);
	if (pid > 0 && pid != getpid() && pt_pid_alive(pid)) {
		*why = "instance already in use by a running passthru";
		pr_err(BPF, "%s belongs to running pid %d: use another instance name", dir, pid);
		return -EBUSY;
	}
	pr_info(BPF, "removing stale instance %s (pid %d is gone)", dir, pid);
	pt_remove_path(dir);
	return 0;
}

static void size_maps(struct passthru *skel, uint32_t n_slots, int n_workers)
{
	bpf_map__set_max_entries(skel->maps.PT_MAP_PAIRS, n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_SOCKS, 2 * n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_RX, 2 * n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_TX, 2 * n_slots);
	bpf_map__set_max_entries(skel->maps.PT_MAP_WAKE, n_workers);
	bpf_map__set_max_entries(skel->maps.PT_MAP_WAKE_LOST, n_workers);
}

#ifdef PT_TEST_HOOKS
/*
 * Test build only (build/tests/passthru-hooks): PASSTHRU_FAULT_WAKE_RING=N
 * makes each wake-up ring N bytes (a power of two, at least a page) instead
 * of PT_WAKE_RING_SIZE, so that a test can fill one and see the rescan.
 */
static uint32_t wake_ring_size(void)
{
	const char *e = getenv("PASSTHRU_FAULT_WAKE_RING");
	long n = e ? strtol(e, NULL, 10) : 0;

	return n > 0 ? (uint32_t)n : PT_WAKE_RING_SIZE;
}
#else
#define wake_ring_size() PT_WAKE_RING_SIZE /* no test knobs outside the test build */
#endif

/*
 * One wake-up ring per worker, in PT_MAP_WAKE at the worker's id. A
 * ringbuf may be an inner map: bpf_map_meta_alloc() wants
 * ops->map_meta_equal, and ringbuf_map_ops has it (6.1.192:
 * kernel/bpf/map_in_map.c l.27, kernel/bpf/ringbuf.c l.346);
 * bpf_map_meta_equal() (map_in_map.c l.84-94) does not compare
 * max_entries.
 */
static int make_rings(struct pt_bpf *b, int n_workers)
{
	int outer = bpf_map__fd(b->skel->maps.PT_MAP_WAKE), fd;

	b->ring_fds = calloc(n_workers, sizeof(*b->ring_fds));
	if (!b->ring_fds)
		return -ENOMEM;
	for (__u32 w = 0; w < (__u32)n_workers; w++) {
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, wake_ring_size(), NULL);
		if (fd < 0)
			return -errno;
		b->ring_fds[b->n_rings++] = fd;
		if (bpf_map_update_elem(outer, &w, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Pin @obj's @name in our directory and remember its inode. */
static int pin_one(struct pt_bpf *b, const char *name, struct bpf_map *map,
		   struct bpf_program *prog)
{
	char path[PATH_MAX];
	struct stat st;
	int err;

	snprintf(path, sizeof(path), "%s/%s", b->pin_dir, name);
	err = map ? bpf_map__pin(map, path) : bpf_program__pin(prog, path);
	if (err)
		return err;
	if (fstatat(b->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	b->pins[b->n_pins].name = name;
	b->pins[b->n_pins++].ino = st.st_ino;
	return 0;
}

/*
 * Make the pin directory (it must not exist: clean_stale() removed any
 * leftover while we hold the instance lock) and pin everything in it.
 */
static int pin_all(struct pt_bpf *b)
{
	struct bpf_map *maps[] = {
		b->skel->maps.PT_MAP_PAIRS, b->skel->maps.PT_MAP_SOCKS, b->skel->maps.PT_MAP_RX,
		b->skel->maps.PT_MAP_TX,    b->skel->maps.PT_MAP_META,
	};
	int err;

	_Static_assert(sizeof(maps) / sizeof(maps[0]) + 1 == PT_BPF_PINS, "PT_BPF_PINS");
	if (mkdir(PT_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if (mkdir(b->pin_dir, 0700))
		return -errno;
	b->dir_fd = open(b->pin_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->dir_fd == -1)
		return -errno;
	b->pinned = true;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		err = pin_one(b, bpf_map__name(maps[i]), maps[i], NULL);
		if (err)
			return err;
	}
	return pin_one(b, PT_STR(PT_PROG_VERDICT), NULL, b->skel->progs.PT_PROG_VERDICT);
}

int pt_bpf_chown(struct pt_bpf *b, uid_t uid, gid_t gid)
{
	if (!b->pinned)
		return 0;
	for (int i = 0; i < b->n_pins; i++)
		if (fchownat(b->dir_fd, b->pins[i].name, uid, gid, AT_SYMLINK_NOFOLLOW))
			return -errno;
	return fchown(b->dir_fd, uid, gid) ? -errno : 0;
}

/* Remove what pin_all() made, and nothing else. */
static void unpin_all(struct pt_bpf *b)
{
	struct stat st, dir;

	for (int i = 0; i < b->n_pins; i++)
		if (fstatat(b->dir_fd, b->pins[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_ino == b->pins[i].ino)
			unlinkat(b->dir_fd, b->pins[i].name, 0);
	if (fstat(b->dir_fd, &dir) == 0 && lstat(b->pin_dir, &st) == 0 &&
	    st.st_dev == dir.st_dev && st.st_ino == dir.st_ino)
		rmdir(b->pin_dir);
}

static int write_meta(struct pt_bpf *b, const char *instance, int n_workers)
{
	struct pt_meta m;
	__u32 zero = 0;

	pt_meta_init(&m, b->n_slots, n_workers, instance);
	if (bpf_map_update_elem(b->meta_fd, &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

/* Map @len bytes of the mmapable array @fd (rounded up to pages), or NULL. */
static void *map_array(int fd, size_t *len)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	*len = (*len + page - 1) & ~(page - 1);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int map_pairs(struct pt_bpf *b)
{
	b->pairs_len = (size_t)b->n_slots * sizeof(struct pt_pair);
	b->pairs = map_array(b->pairs_fd, &b->pairs_len);
	if (!b->pairs)
		return -errno;
	b->wake_lost_len = (size_t)b->n_rings * sizeof(*b->wake_lost);
	b->wake_lost = map_array(bpf_map__fd(b->skel->maps.PT_MAP_WAKE_LOST), &b->wake_lost_len);
	return b->wake_lost ? 0 : -errno;
}

static const char *load_reason(int err)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return "not permitted (needs root or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)";
	case ENOENT:
	case ESRCH:
		return "kernel BTF or a helper is missing";
	case EINVAL:
	case E2BIG:
		return "the kernel refused the program (too old?)";
	case ENOMEM:
		return "out of memory (locked memory limit?)";
	default:
		return "load failed";
	}
}

int pt_bpf_open(struct pt_bpf *b, const char *instance, uint32_t n_slots, int n_workers,
		const char **why)
{
	static char why_buf[160];
	const char *step;
	int err;

	memset(b, 0, sizeof(*b));
	b->pairs_fd = b->socks_fd = b->rx_fd = b->tx_fd = b->meta_fd = b->prog_fd = -1;
	b->dir_fd = -1;
	b->n_slots = n_slots;
	libbpf_set_print(libbpf_print);
	*why = "";

	err = pt_bpf_mount();
	if (err) {
		*why = "cannot mount bpffs on /sys/fs/bpf";
		return err;
	}
	pt_pin_dir(b->pin_dir, sizeof(b->pin_dir), instance);
	err = clean_stale(b->pin_dir, why);
	if (err)
		return err;

	b->skel = passthru__open();
	if (!b->skel) {
		err = -errno;
		*why = "cannot open the BPF object";
		return err;
	}
	size_maps(b->skel, n_slots, n_workers);
	err = passthru__load(b->skel);
	if (err) {
		*why = load_reason(err);
		goto fail;
	}
	b->pairs_fd = bpf_map__fd(b->skel->maps.PT_MAP_PAIRS);
	b->socks_fd = bpf_map__fd(b->skel->maps.PT_MAP_SOCKS);
	b->rx_fd = bpf_map__fd(b->skel->maps.PT_MAP_RX);
	b->tx_fd = bpf_map__fd(b->skel->maps.PT_MAP_TX);
	b->meta_fd = bpf_map__fd(b->skel->maps.PT_MAP_META);
	b->prog_fd = bpf_program__fd(b->skel->progs.PT_PROG_VERDICT);

	if (bpf_prog_attach(b->prog_fd, b->rx_fd, BPF_SK_SKB_STREAM_VERDICT, 0)) {
		err = -errno;
		*why = "cannot attach the verdict program to the sockmap";
		goto fail;
	}
	err = make_rings(b, n_workers);
	if (err) {
		*why = "cannot make the wake-up rings";
		goto fail;
	}
	err = map_pairs(b);
	if (err) {
		*why = "cannot mmap the pair map";
		goto fail;
	}
	err = write_meta(b, instance, n_workers);
	if (!err)
		err = pin_all(b);
	if (err) {
		*why = "cannot pin the maps under /sys/fs/bpf/passthru";
		goto fail;
	}
	err = pt_sockmap_selftest(b, &step);
	if (err) {
		snprintf(why_buf, sizeof(why_buf),
			 "kernel self-test failed at step \"%s\" (this kernel lacks a sockmap fix "
			 "passthru needs)",
			 step);
		*why = why_buf;
		goto fail;
	}
	pr_debug(BPF, "kernel self-test passed (pre-insertion bytes, EAGAIN retries, FIN)");
	return 0;
fail:
	pt_bpf_close(b, true);
	return err;
}

void pt_bpf_close(struct pt_bpf *b, bool unpin)
{
	if (b->pairs)
		munmap(b->pairs, b->pairs_len);
	b->pairs = NULL;
	if (b->wake_lost)
		munmap(b->wake_lost, b->wake_lost_len);
	b->wake_lost = NULL;
	for (int i = 0; i < b->n_rings; i++)
		close(b->ring_fds[i]);
	free(b->ring_fds);
	b->ring_fds = NULL;
	b->n_rings = 0;
	if (unpin && b->pinned)
		unpin_all(b);
	if (b->dir_fd >= 0)
		close(b->dir_fd);
	b->dir_fd = -1;
	b->n_pins = 0;
	b->pinned = false;
	if (b->skel)
		passthru__destroy(b->skel);
	b->skel = NULL;
}

/* --- sizing and loading for a config ---------------------------------- */

bool pt_listener_may_sockmap(const struct pt_listener_cfg *l)
{
	return l->data_plane == PT_DP_SOCKMAP ||
	       (l->data_plane == PT_DP_AUTO && l->bulk_plane == PT_DP_SOCKMAP);
}

/* Does any listener want the kernel data plane (*required: one says sockmap)? */
static bool wants_sockmap(const struct pt_config *cfg, bool *required)
{
	bool any = false;

	*required = false;
	for (int i = 0; i < cfg->n_listeners; i++) {
		*required |= cfg->listeners[i].data_plane == PT_DP_SOCKMAP;
		any |= pt_listener_may_sockmap(&cfg->listeners[i]);
	}
	return any;
}

/* The planes listener @l relays on (@bpf: the kernel data plane is loaded). */
static void listener_planes(const struct pt_listener_cfg *l, bool bpf, bool use[PT_PLANE_MAX])
{
	enum pt_plane kernel = bpf ? PT_PLANE_SOCKMAP : PT_PLANE_SPLICE;

	switch (l->data_plane) {
	case PT_DP_COPY:
		use[PT_PLANE_COPY] = true;
		break;
	case PT_DP_SPLICE:
		use[PT_PLANE_SPLICE] = true;
		break;
	case PT_DP_SOCKMAP:
		use[kernel] = true;
		break;
	case PT_DP_LOCAL:
		use[PT_PLANE_LOCAL] = true;	/* copy for connections that fall back */
		use[PT_PLANE_COPY] = true;
		break;
	case PT_DP_AUTO:
		use[PT_PLANE_COPY] = true;
		if (l->bulk_turn_bytes)
			use[l->bulk_plane == PT_DP_SOCKMAP ? kernel : PT_PLANE_SPLICE] = true;
		break;
	}
}

const char *pt_bpf_planes(const struct pt_config *cfg, bool bpf, char *buf, size_t size)
{
	static const enum pt_plane order[] = { PT_PLANE_COPY, PT_PLANE_SPLICE, PT_PLANE_SOCKMAP,
					       PT_PLANE_LOCAL };
	bool use[PT_PLANE_MAX] = {};
	size_t n = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		listener_planes(&cfg->listeners[i], bpf, use);
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && n < size; i++)
		if (use[order[i]])
			n += snprintf(buf + n, size - n, "%s%s", n ? "+" : "",
				      pt_plane_name(order[i]));
	return buf;
}

/*
 * Pair slots: room for every listener's max_connections (0 counts as
 * 65536), within [64, 2^20], rounded up to a multiple of @workers so that
 * each worker gets an equal share. The .pairs file is sized the same way.
 */
uint32_t pt_bpf_slot_count(const struct pt_config *cfg, int workers)
{
	uint64_t n = 0;

	for (int i = 0; i < cfg->n_listeners; i++)
		n += cfg->listeners[i].max_connections ? cfg->listeners[i].max_connections : 65536;
	if (n > (1u << 20))
		n = 1u << 20;
	if (n < 64)
		n = 64;
	return (uint32_t)((n + workers - 1) / workers * workers);
}

/*
 * Load the kernel data plane into @b for @instance if @cfg wants it, sized
 * for @workers. 0 with *out NULL means splice everywhere (logged when it is
 * a fallback); an error only when the instance is taken or a listener
 * insists on sockmap.
 */
int pt_bpf_load(const struct pt_config *cfg, const char *instance, int workers, struct pt_bpf *b,
		struct pt_bpf **out)
{
	const char *why;
	bool required;
	int err;

	*out = NULL;
	if (!wants_sockmap(cfg, &required))
		return 0;
	err = pt_bpf_open(b, instance, pt_bpf_slot_count(cfg, workers), workers, &why);
	if (err) {
		if (err == -EBUSY) {
			pr_err(BPF, "instance %s: %s", instance, why);
			return err;
		}
		if (required) {
			pr_err(BPF, "data_plane sockmap: cannot load the kernel data plane: %s (%s)",
			       why, strerror(-err));
			return err;
		}
		pr_warn(BPF, "kernel data plane unavailable: %s (%s); relaying with splice", why,
			strerror(-err));
		return 0;
	}
	pr_info(BPF, "kernel data plane loaded: %u pair slots, pinned at %s", b->n_slots,
		b->pin_dir);
	*out = b;
	return 0;
}
