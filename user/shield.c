// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP shield's lifecycle (shield.h): skeleton open -> xdp_program from
 * the skeleton's object -> attach per interface through libxdp (the
 * multiprog dispatcher; the first attach loads the object as an freplace
 * program of the dispatcher, later ones link the same program to other
 * dispatchers) -> pin the maps -> fill them (shield-maps.c) -> stamp
 * PT_MAP_SHIELD_META with who attached it where. Detaching goes by program
 * id, which is also how a later start detaches what a crashed one left.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "bpf_loader.h"
#include "config-t.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "passthru-common.h"
#include "shield-maps.h"
#include "shield.h"
#include "shield.skel.h"

_Static_assert(sizeof(struct pt_shield_meta) == 24 + PT_SHIELD_IFACES_MAX * 21,
	       "pt_shield_meta layout changed: bump PT_SHIELD_ABI_VERSION");

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	/* as for libbpf: its warnings are our debug, the rest our trace */
	enum pt_log_level l = level == LIBXDP_WARN ? PT_LOG_DEBUG : PT_LOG_TRACE;

	if (pt_log_enabled(PT_LC_BPF, l))
		pt_vlog(PT_LC_BPF, l, fmt, ap);
	return 0;
}

/* PT_PIN_ROOT/<instance>/shield into @buf. */
static void shield_dir(char *buf, size_t size, const char *instance)
{
	char inst[128];

	snprintf(buf, size, "%s/%s", pt_pin_dir(inst, sizeof(inst), instance), PT_SHIELD_PIN_DIR);
}

/* --- a crashed instance ------------------------------------------------ */

/* Detach program @prog_id from @ifindex if it is still there. */
static void detach_id(__u32 prog_id, int ifindex, const char *ifname)
{
	struct xdp_program *p = xdp_program__from_id(prog_id);
	int err;

	if (!p || libxdp_get_error(p))
		return;
	err = xdp_program__detach(p, ifindex, XDP_MODE_UNSPEC, 0);
	if (!err)
		pr_info(BPF, "shield: detached the program a dead instance left on %s", ifname);
	xdp_program__close(p);
}

void pt_shield_clean_stale(const char *instance)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct pt_shield_meta m;
	__u32 zero = 0;
	int fd;

	shield_dir(dir, sizeof(dir), instance);
	snprintf(path, sizeof(path), "%s/%s", dir, PT_STR(PT_MAP_SHIELD_META));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	libxdp_set_print(libxdp_print);
	if (!bpf_map_lookup_elem(fd, &zero, &m) && m.magic == PT_SHIELD_MAGIC &&
	    m.abi == PT_SHIELD_ABI_VERSION && (pid_t)m.pid != getpid() &&
	    !pt_pid_alive((pid_t)m.pid)) {
		for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
			if (m.ifindex[i])
				detach_id(m.prog_id, (int)m.ifindex[i], m.ifname[i]);
		pt_remove_path(dir);
	}
	close(fd);
}

/* --- attaching --------------------------------------------------------- */

/* Which interfaces @cfg names (each once), and whether one of them is required. */
static int wanted(const struct pt_config *cfg, const char *names[PT_SHIELD_IFACES_MAX],
		  bool *required)
{
	int n = 0;

	*required = false;
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct pt_shield_cfg *sh = &cfg->listeners[i].shield;

		if (!sh->on)
			continue;
		*required |= sh->required;
		for (int k = 0; k < sh->interfaces.n; k++) {
			int j;

			for (j = 0; j < n && strcmp(names[j], sh->interfaces.v[k]); j++)
				;
			if (j == n && n < PT_SHIELD_IFACES_MAX)
				names[n++] = sh->interfaces.v[k];
		}
	}
	return n;
}

/*
 * How the shield sits on @ifindex: in libxdp's multiprog dispatcher, or
 * alone (libxdp falls back to that when the kernel refuses its dispatcher;
 * then no other XDP program can share the interface).
 */
static const char *sharing(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	const char *how;

	if (!mp || libxdp_get_error(mp))
		return "";
	how = xdp_multiprog__is_legacy(mp) ? ", alone (libxdp could not use its dispatcher here)"
					   : ", in the multiprog dispatcher";
	xdp_multiprog__close(mp);
	return how;
}

/*
 * Attach to @name in slot @slot: native mode, else generic. One log line
 * either way; 0 or -errno.
 */
static int attach_iface(struct pt_shield *s, const char *name, int slot)
{
	struct pt_shield_iface *ifc = &s->ifaces[slot];
	char why[128], why2[128];
	int ifindex = (int)if_nametoindex(name), err;

	if (!ifindex) {
		err = -errno;
		pr_warn(BPF, "shield: interface %s: %s; it is not shielded", name, strerror(-err));
		return err;
	}
	err = xdp_program__attach(s->prog, ifindex, XDP_MODE_NATIVE, 0);
	if (!err) {
		ifc->mode = PT_SHIELD_MODE_NATIVE;
		pr_info(BPF, "shield: attached to %s in native mode%s", name, sharing(ifindex));
	} else {
		libxdp_strerror(err, why, sizeof(why));
		err = xdp_program__attach(s->prog, ifindex, XDP_MODE_SKB, 0);
		if (err) {
			libxdp_strerror(err, why2, sizeof(why2));
			pr_warn(BPF,
				"shield: interface %s refuses XDP (native: %s; generic: %s); it is not "
				"shielded",
				name, why, why2);
			return err;
		}
		ifc->mode = PT_SHIELD_MODE_GENERIC;
		pr_info(BPF, "shield: attached to %s in generic mode (native: %s)%s", name, why,
			sharing(ifindex));
	}
	snprintf(ifc->name, sizeof(ifc->name), "%s", name);
	ifc->ifindex = ifindex;
	s->loaded = true;
	return 0;
}

static void detach_iface(struct pt_shield *s, int slot)
{
	struct pt_shield_iface *ifc = &s->ifaces[slot];
	int err;

	err = xdp_program__detach(s->prog, ifc->ifindex, XDP_MODE_UNSPEC, 0);
	if (err)
		pr_warn(BPF, "shield: cannot detach from %s: %s", ifc->name, strerror(-err));
	else
		pr_info(BPF, "shield: detached from %s", ifc->name);
	ifc->ifindex = 0;
}

static int slot_of(const struct pt_shield *s, const char *name)
{
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (s->ifaces[i].ifindex && !strcmp(s->ifaces[i].name, name))
			return i;
	return -1;
}

static int free_slot(const struct pt_shield *s)
{
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (!s->ifaces[i].ifindex)
			return i;
	return -1;
}

/*
 * Attach to every interface of @names not attached yet and detach from
 * those no longer named. Returns how many of @names failed.
 */
static int sync_ifaces(struct pt_shield *s, const char **names, int n)
{
	int failed = 0;

	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++) {
		int k;

		if (!s->ifaces[i].ifindex)
			continue;
		for (k = 0; k < n && strcmp(names[k], s->ifaces[i].name); k++)
			;
		if (k == n)
			detach_iface(s, i);
	}
	for (int k = 0; k < n; k++) {
		int slot;

		if (slot_of(s, names[k]) >= 0)
			continue;
		slot = free_slot(s);
		if (slot < 0 || attach_iface(s, names[k], slot))
			failed++;
		else if (s->pinned)
			pt_shield_zero_counts(s->counts_fd, slot);
	}
	return failed;
}

/* --- pins and the stamp ------------------------------------------------ */

static struct bpf_map *const *shield_maps(struct shield *skel, int *n)
{
	static struct bpf_map *maps[7];

	maps[0] = skel->maps.PT_MAP_SHIELD_DST;
	maps[1] = skel->maps.PT_MAP_SHIELD_LISTS;
	maps[2] = skel->maps.PT_MAP_SHIELD_RATE;
	maps[3] = skel->maps.PT_MAP_SHIELD_BANS;
	maps[4] = skel->maps.PT_MAP_SHIELD_COUNTS;
	maps[5] = skel->maps.PT_MAP_SHIELD_META;
	maps[6] = skel->maps.PT_MAP_SHIELD_FAILS;
	*n = 7;
	return maps;
}

/* Pin every map in PT_PIN_ROOT/<instance>/shield/ (made here, after pt_bpf_load()). */
static int pin_maps(struct pt_shield *s)
{
	char inst[128], path[PATH_MAX];
	struct bpf_map *const *maps;
	int n, err;

	pt_pin_dir(inst, sizeof(inst), s->instance);
	if (mkdir(PT_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if (!mkdir(inst, 0700))
		s->made_instance_dir = true;
	else if (errno != EEXIST)
		return -errno;
	if (mkdir(s->pin_dir, 0700))
		return -errno;
	s->pinned = true;
	maps = shield_maps(s->skel, &n);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->pin_dir, bpf_map__name(maps[i]));
		err = bpf_map__pin(maps[i], path);
		if (err)
			return err;
	}
	return 0;
}

static void unpin_maps(struct pt_shield *s)
{
	struct bpf_map *const *maps;
	char inst[128];
	int n;

	if (!s->pinned)
		return;
	maps = shield_maps(s->skel, &n);
	for (int i = 0; i < n; i++)
		bpf_map__unpin(maps[i], NULL);
	rmdir(s->pin_dir);
	/* the kernel data plane's own pins may still be there: then this fails */
	rmdir(pt_pin_dir(inst, sizeof(inst), s->instance));
	s->pinned = false;
}

static int write_meta(struct pt_shield *s)
{
	struct pt_shield_meta m = {
		.magic = PT_SHIELD_MAGIC,
		.abi = PT_SHIELD_ABI_VERSION,
		.pid = (__u32)getpid(),
		.prog_id = xdp_program__id(s->prog),
		.n_slots = PT_SHIELD_IFACES_MAX,
	};
	__u32 zero = 0;

	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++) {
		m.ifindex[i] = (__u32)s->ifaces[i].ifindex;
		m.mode[i] = (__u8)s->ifaces[i].mode;
		memcpy(m.ifname[i], s->ifaces[i].name, sizeof(m.ifname[i]));
	}
	if (bpf_map_update_elem(s->meta_fd, &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

/* Fill the maps from @cfg; log (not fail) what does not fit. */
static void fill(struct pt_shield *s, const struct pt_config *cfg)
{
	int err = pt_shield_sync_dst(s->dst_fd, cfg, s->ifaces);

	if (!err)
		err = pt_shield_sync_lists(s->lists_fd, cfg);
	if (!err)
		err = write_meta(s);
	if (err)
		pr_err(BPF, "shield: cannot update its maps: %s", strerror(-err));
}

/* --- start, reload, stop ----------------------------------------------- */

static int open_prog(struct pt_shield *s)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, opts);
	int err;

	s->skel = shield__open();
	if (!s->skel)
		return -errno;
	opts.obj = s->skel->obj;
	opts.prog_name = PT_STR(PT_PROG_SHIELD);
	s->prog = xdp_program__create(&opts);
	err = libxdp_get_error(s->prog);
	if (err) {
		s->prog = NULL;
		return err;
	}
	return 0;
}

/* After the first attach: the maps exist. Pin and fill them. */
static int setup_maps(struct pt_shield *s, const struct pt_config *cfg)
{
	int err;

	s->dst_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_DST);
	s->lists_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_LISTS);
	s->bans_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_BANS);
	s->counts_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_COUNTS);
	s->meta_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_META);
	s->fails_fd = bpf_map__fd(s->skel->maps.PT_MAP_SHIELD_FAILS);
	err = pin_maps(s);
	if (err) {
		pr_err(BPF, "shield: cannot pin its maps under %s: %s", s->pin_dir, strerror(-err));
		return err;
	}
	fill(s, cfg);
	return 0;
}

int pt_shield_start(struct pt_shield *s, const struct pt_config *cfg, const char *instance,
		    struct pt_shield **out)
{
	const char *names[PT_SHIELD_IFACES_MAX];
	bool required;
	int n, failed, err;

	*out = NULL;
	memset(s, 0, sizeof(*s));
	s->link.ev.fd = -1;
	n = wanted(cfg, names, &required);
	if (!n)
		return 0;
	snprintf(s->instance, sizeof(s->instance), "%s", instance);
	shield_dir(s->pin_dir, sizeof(s->pin_dir), instance);
	libxdp_set_print(libxdp_print);
	pt_bpf_set_print();
	err = pt_bpf_mount();	/* libxdp pins the dispatchers there */
	if (!err)
		err = open_prog(s);
	if (err) {
		pr_warn(BPF, "shield: cannot open the XDP program: %s", strerror(-err));
		goto fail;
	}
	failed = sync_ifaces(s, names, n);
	if (!s->loaded) {
		err = -ENODEV;
		pr_warn(BPF, "shield: attached to no interface; serving without it");
		goto fail;
	}
	s->cfg = pt_config_get((struct pt_config *)cfg);
	err = setup_maps(s, cfg);
	if (err)
		goto fail;
	if (failed && required) {
		err = -ENODEV;
		goto fail;
	}
	if (cfg->user[0])
		pr_warn(BPF, "shield: running as %s, passthru cannot detach it at exit: the next "
			"start of instance %s does", cfg->user, instance);
	*out = s;
	return 0;
fail:
	pt_shield_stop(s);
	if (required) {
		pr_err(BPF, "shield: required, and not attached to every interface");
		return err;
	}
	return 0;
}

void pt_shield_apply(struct pt_shield *s, const struct pt_config *cfg)
{
	const char *names[PT_SHIELD_IFACES_MAX];
	bool required;
	int n = wanted(cfg, names, &required);

	/* a reload keeps the program: with no interface left it detaches from all */
	sync_ifaces(s, names, n);
	fill(s, cfg);
	pt_config_put(s->cfg);
	s->cfg = pt_config_get((struct pt_config *)cfg);
}

void pt_shield_stop(struct pt_shield *s)
{
	pt_shield_unwatch(s);
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (s->ifaces[i].ifindex)
			detach_iface(s, i);
	if (s->skel)
		unpin_maps(s);
	xdp_program__close(s->prog);
	s->prog = NULL;
	if (s->skel)
		shield__destroy(s->skel);
	s->skel = NULL;
	s->loaded = false;
	pt_config_put(s->cfg);
	s->cfg = NULL;
}

/* --- interfaces that go and come (events from linkwatch.c) ------------- */

static int slot_of_index(const struct pt_shield *s, int ifindex)
{
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (ifindex && s->ifaces[i].ifindex == ifindex)
			return i;
	return -1;
}

/* Does the config name @name for a shield? */
static bool is_wanted(const struct pt_shield *s, const char *name)
{
	const char *names[PT_SHIELD_IFACES_MAX];
	bool required;
	int n = wanted(s->cfg, names, &required);

	for (int k = 0; k < n; k++)
		if (!strcmp(names[k], name))
			return true;
	return false;
}

/* The kernel took the program off with the interface: forget the slot. */
static void forget_slot(struct pt_shield *s, int slot, const char *why)
{
	struct pt_shield_iface *ifc = &s->ifaces[slot];

	pr_warn(BPF, "shield: interface %s (index %d) %s: it is not shielded until an "
		"interface of that name comes back", ifc->name, ifc->ifindex, why);
	ifc->ifindex = 0;
}

static void iface_gone(struct pt_shield *s, int ifindex)
{
	int slot = slot_of_index(s, ifindex);

	if (slot < 0 || !s->cfg)
		return;
	forget_slot(s, slot, "is gone");
	fill(s, s->cfg);
}

static void iface_seen(struct pt_shield *s, int ifindex, const char *name)
{
	int slot = slot_of_index(s, ifindex);
	bool changed = false;

	if (!s->cfg)
		return;
	if (slot >= 0) {
		if (!strcmp(s->ifaces[slot].name, name))
			return;	/* a flag or an address changed */
		/* renamed: detach, then attach below if its new name is wanted */
		detach_iface(s, slot);
		pr_warn(BPF, "shield: interface %s is now called %s", s->ifaces[slot].name, name);
		changed = true;
	}
	if (is_wanted(s, name) && slot_of(s, name) < 0) {
		slot = free_slot(s);
		pr_info(BPF, "shield: interface %s (index %d) appeared", name, ifindex);
		if (slot >= 0 && !attach_iface(s, name, slot)) {
			pt_shield_zero_counts(s->counts_fd, slot);
			changed = true;
		}
	}
	if (changed)
		fill(s, s->cfg);
}

static void recheck(struct pt_shield *s)
{
	const char *names[PT_SHIELD_IFACES_MAX];
	bool required;
	int n;

	if (!s->cfg)
		return;
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (s->ifaces[i].ifindex &&
		    (int)if_nametoindex(s->ifaces[i].name) != s->ifaces[i].ifindex)
			forget_slot(s, i, "is gone or was renamed");
	n = wanted(s->cfg, names, &required);
	sync_ifaces(s, names, n);
	fill(s, s->cfg);
}

static void link_changed(struct pt_linkwatch *lw, int ifindex, const char *name)
{
	struct pt_shield *s = container_of(lw, struct pt_shield, link);

	if (name)
		iface_seen(s, ifindex, name);
	else
		iface_gone(s, ifindex);
}

static void link_lost(struct pt_linkwatch *lw)
{
	pr_warn(BPF, "shield: interface events were lost (socket buffer full); rechecking "
		"every interface");
	recheck(container_of(lw, struct pt_shield, link));
}

int pt_shield_watch(struct pt_shield *s, struct pt_loop *loop)
{
	int err = pt_linkwatch_start(&s->link, loop, link_changed, link_lost);

	if (err)
		pr_warn(BPF, "shield: cannot watch interfaces (rtnetlink): %s; one that goes and "
			"comes back is shielded again at the next reload only", strerror(-err));
	return err;
}

void pt_shield_unwatch(struct pt_shield *s)
{
	pt_linkwatch_stop(&s->link);
}

void pt_shield_forget_watch(struct pt_shield *s)
{
	pt_linkwatch_forget(&s->link);
}

/* --- bans ---------------------------------------------------------------- */

/* Drop the bans that have expired (the map is full). */
static void sweep_bans(int fd, uint64_t now)
{
	struct pt_shield_src key, next;
	struct pt_shield_ban b;
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (!bpf_map_lookup_elem(fd, &key, &b) && b.until_ns <= now &&
		    !bpf_map_delete_elem(fd, &key))
			first = true;
	}
}

static int ban(int fd, const struct pt_shield_src *k, unsigned int seconds, uint64_t now)
{
	struct pt_shield_ban b = { .added_ns = now, .until_ns = now + seconds * 1000000000ull };

	if (!bpf_map_update_elem(fd, k, &b, BPF_ANY))
		return 0;
	if (errno != E2BIG)
		return -errno;
	sweep_bans(fd, now);
	return bpf_map_update_elem(fd, k, &b, BPF_ANY) ? -errno : 0;
}

void pt_shield_failed(const struct pt_shield *s, const struct pt_shield_cfg *sh,
		      const struct sockaddr *client)
{
	uint64_t now = pt_now_ns(), window = sh->ban_window_s * 1000000000ull;
	struct pt_shield_fail f = {};
	struct pt_shield_src k;
	char addr[INET6_ADDRSTRLEN];
	int err;

	if (!sh->ban_failures || !pt_shield_src_of(client, &k))
		return;
	if (bpf_map_lookup_elem(s->fails_fd, &k, &f) || now - f.first_ns > window)
		f = (struct pt_shield_fail){ .first_ns = now };
	if (++f.count < sh->ban_failures) {
		bpf_map_update_elem(s->fails_fd, &k, &f, BPF_ANY);
		return;
	}
	bpf_map_delete_elem(s->fails_fd, &k);
	inet_ntop(k.family, k.addr, addr, sizeof(addr));
	err = ban(s->bans_fd, &k, sh->ban_seconds, now);
	if (err)
		pr_warn(BPF, "shield: cannot ban %s: %s", addr, strerror(-err));
	else
		pr_warn(BPF, "shield: banned %s for %u s (%u failed detections in %u s)", addr,
			sh->ban_seconds, f.count, (unsigned int)((now - f.first_ns) / 1000000000ull));
}
