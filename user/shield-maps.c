// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Filling the shield's maps from a config (shield-maps.h). The new key set
 * is built in memory, written with BPF_ANY, then the map is walked and
 * every key not in the set (sorted, searched with bsearch) is deleted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config-t.h"
#include "shield-maps.h"
#include "shield.h"

/* A key set being built: @n entries of @size bytes, values alongside. */
struct keyset {
	char *keys;
	char *vals;
	size_t size, vsize;
	int n, cap;
};

static int keyset_add(struct keyset *ks, const void *key, const void *val)
{
	if (ks->n == ks->cap) {
		int cap = ks->cap ? 2 * ks->cap : 64;
		char *k = realloc(ks->keys, (size_t)cap * ks->size);

		if (!k)
			return -ENOMEM;
		ks->keys = k;
		k = realloc(ks->vals, (size_t)cap * ks->vsize);
		if (!k)
			return -ENOMEM;
		ks->vals = k;
		ks->cap = cap;
	}
	memcpy(ks->keys + (size_t)ks->n * ks->size, key, ks->size);
	memcpy(ks->vals + (size_t)ks->n * ks->vsize, val, ks->vsize);
	ks->n++;
	return 0;
}

static size_t cmp_size;

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, cmp_size);
}

/* Write @ks into @fd, then delete from @fd what @ks lacks. Frees @ks. */
static int keyset_apply(struct keyset *ks, int fd)
{
	char key[64], next[64];
	int err = 0;
	bool first = true;

	for (int i = 0; i < ks->n && !err; i++)
		if (bpf_map_update_elem(fd, ks->keys + (size_t)i * ks->size,
					ks->vals + (size_t)i * ks->vsize, BPF_ANY))
			err = -errno;
	if (err)
		goto out;
	/* sort only the keys: the values are no longer needed */
	cmp_size = ks->size;
	qsort(ks->keys, (size_t)ks->n, ks->size, cmp_key);
	while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, ks->size);
		if (ks->n && bsearch(key, ks->keys, (size_t)ks->n, ks->size, cmp_key))
			continue;
		/* a deleted key cannot lead on: restart the walk, get_next_key(NULL) */
		if (!bpf_map_delete_elem(fd, key))
			first = true;
	}
out:
	free(ks->keys);
	free(ks->vals);
	return err;
}

static int slot_named(const struct pt_shield_iface *ifaces, const char *name)
{
	for (int i = 0; i < PT_SHIELD_IFACES_MAX; i++)
		if (ifaces[i].ifindex && !strcmp(ifaces[i].name, name))
			return i;
	return -1;
}

/* The destination keys of listen address @la on the interface in @slot. */
static int add_listen(struct keyset *ks, const struct pt_listen_addr *la, int ifindex,
		      struct pt_shield_lcfg *v)
{
	const union pt_inet_addr *a = &la->addr.ss;
	struct pt_shield_dst k = { .ifindex = (__u32)ifindex };
	int err;

	if (a->ss_family == AF_INET) {
		k.family = AF_INET;
		k.port = a->sin.sin_port;
		memcpy(k.addr, &a->sin.sin_addr, 4);
		return keyset_add(ks, &k, v);
	}
	k.family = AF_INET6;
	k.port = a->sin6.sin6_port;
	memcpy(k.addr, &a->sin6.sin6_addr, 16);
	err = keyset_add(ks, &k, v);
	if (err || la->v6only || !IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr))
		return err;
	/* a dual-stack wildcard listens for IPv4 too */
	memset(k.addr, 0, sizeof(k.addr));
	k.family = AF_INET;
	return keyset_add(ks, &k, v);
}

static void lcfg_of(const struct pt_listener_cfg *l, int index, int slot,
		    struct pt_shield_lcfg *v)
{
	const struct pt_shield_cfg *sh = &l->shield;

	memset(v, 0, sizeof(*v));
	v->listener = (__u32)index;
	v->slot = (__u32)slot;
	v->flags = sh->n_allow ? PT_SHIELD_F_ALLOW_LIST : 0;
	v->syn_rate = sh->syn_rate;
	v->syn_burst = sh->syn_burst ? sh->syn_burst : sh->syn_rate;
	v->prefix_v4 = (__u8)l->source_prefix_v4;
	v->prefix_v6 = (__u8)l->source_prefix_v6;
}

int pt_shield_sync_dst(int fd, const struct pt_config *cfg, const struct pt_shield_iface *ifaces)
{
	struct keyset ks = { .size = sizeof(struct pt_shield_dst),
			     .vsize = sizeof(struct pt_shield_lcfg) };
	struct pt_shield_lcfg v;
	int err = 0;

	for (int i = 0; i < cfg->n_listeners && !err; i++) {
		const struct pt_listener_cfg *l = &cfg->listeners[i];

		if (!l->shield.on)
			continue;
		for (int k = 0; k < l->shield.interfaces.n && !err; k++) {
			int slot = slot_named(ifaces, l->shield.interfaces.v[k]);

			if (slot < 0)
				continue;
			lcfg_of(l, i, slot, &v);
			for (int a = 0; a < l->n_listen && !err; a++)
				err = add_listen(&ks, &l->listen[a], ifaces[slot].ifindex, &v);
		}
	}
	if (err) {
		free(ks.keys);
		free(ks.vals);
		return err;
	}
	return keyset_apply(&ks, fd);
}

static int add_prefixes(struct keyset *ks, int listener, const struct pt_cidr *c, int n, __u32 what)
{
	int err = 0;

	for (int i = 0; i < n && !err; i++) {
		struct pt_shield_lpm k = {
			.prefixlen = 32 + (__u32)c[i].prefix,
			.listener = (__u16)listener,
			.family = (__u16)c[i].family,
		};

		memcpy(k.addr, c[i].addr, sizeof(k.addr));
		err = keyset_add(ks, &k, &what);
	}
	return err;
}

int pt_shield_sync_lists(int fd, const struct pt_config *cfg)
{
	struct keyset ks = { .size = sizeof(struct pt_shield_lpm), .vsize = sizeof(__u32) };
	int err = 0;

	for (int i = 0; i < cfg->n_listeners && !err; i++) {
		const struct pt_shield_cfg *sh = &cfg->listeners[i].shield;

		if (!sh->on)
			continue;
		err = add_prefixes(&ks, i, sh->allow, sh->n_allow, PT_SHIELD_LIST_ALLOW);
		if (!err)
			err = add_prefixes(&ks, i, sh->deny, sh->n_deny, PT_SHIELD_LIST_DENY);
	}
	if (err) {
		free(ks.keys);
		free(ks.vals);
		return err;
	}
	return keyset_apply(&ks, fd);
}

void pt_shield_zero_counts(int fd, int slot)
{
	int n = libbpf_num_possible_cpus();
	struct pt_shield_count *zero;

	if (n <= 0 || !(zero = calloc((size_t)n, sizeof(*zero))))
		return;
	for (__u32 r = 0; r < PT_SHIELD_R_MAX; r++) {
		__u32 i = (__u32)slot * PT_SHIELD_R_MAX + r;

		bpf_map_update_elem(fd, &i, zero, BPF_ANY);
	}
	free(zero);
}
