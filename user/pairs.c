// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pair slots (pairs.h): a worker fills one for each relayed connection
 * and frees it at the end; the master reclaims a dead worker's share.
 * Without the kernel maps the slots live in the .pairs file made here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf_loader.h"
#include "conn.h"
#include "control.h"
#include "log.h"
#include "pairs.h"
#include "worker.h"

static void fill_addr(struct pt_addr *a, const union pt_inet_addr *ss)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		a->family = AF_INET;
		a->port = in->sin_port;
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		a->family = AF_INET6;
		a->port = in6->sin6_port;
		memcpy(a->addr, &in6->sin6_addr, 16);
	}
}

/* The JA4 fingerprint: from the fields, or from the "ja4=" log word kept of them. */
static const char *conn_ja4(const struct pt_conn *c)
{
	const char *w;

	if (!c->detected)
		return NULL;
	if (c->fields)
		return c->fields->ja4;
	for (w = c->summary; w && *w; w += strlen(w) + 1)
		if (!strncmp(w, "ja4=", 4))
			return w + 4;
	return NULL;
}

static void fill_pair(struct pt_conn *c, struct pt_pair *p, enum pt_plane plane)
{
	const char *name = pt_conn_name(c), *ja4;
	const struct pt_sockaddr *dst = pt_conn_local(c);

	memset(p, 0, sizeof(*p));
	p->start_ns = pt_now_ns() - (c->w->loop.now - c->t_start) * 1000000ull;
	p->conn_id = c->id;
	p->plane = plane;
	p->listener = c->lidx;
	p->route = c->ridx;
	p->proto = pt_conn_proto(c);
	p->worker = c->w->id;
	p->gen = c->cfg->generation;
	p->limit = c->lcfg->sockmap_max_queued;
	fill_addr(&p->client, &c->peer.ss);
	if (c->up_addr)
		fill_addr(&p->upstream, &c->up_addr->ss);
	if ((c->lcfg->mode != PT_MODE_PROXY || c->tun) && dst)
		fill_addr(&p->dst, &dst->ss);
	if (c->detected && name)
		snprintf(p->name, sizeof(p->name), "%.*s", (int)sizeof(p->name) - 1, name);
	ja4 = conn_ja4(c);
	if (ja4 && strcmp(ja4, "-"))
		snprintf(p->ja4, sizeof(p->ja4), "%.*s", (int)sizeof(p->ja4) - 1, ja4);
}

struct pt_pair *pt_pair_open(struct pt_conn *c, enum pt_plane plane)
{
	struct pt_worker *w = c->w;
	struct pt_pair *p;

	if (c->pair)
		return c->pair;
	if (!w->pairs || !w->n_free_slots)
		return NULL;
	c->slot = w->free_slots[--w->n_free_slots];
	p = &w->pairs[c->slot];
	fill_pair(c, p, plane);
	pt_pair_set_state(p, PT_PAIR_RELAYING);
	c->pair = p;
	return p;
}

void pt_pair_close(struct pt_conn *c)
{
	if (!c->pair)
		return;
	pt_pair_set_state(c->pair, PT_PAIR_FREE);
	c->w->free_slots[c->w->n_free_slots++] = c->slot;
	c->pair = NULL;
}

void pt_pairs_reclaim(struct pt_pair *pairs, __u32 n_slots, int n_workers, int wid,
		      struct pt_bpf *bpf)
{
	__u32 first, n;

	if (!pairs)
		return;
	pt_pairs_share(n_slots, n_workers, wid, &first, &n);
	for (__u32 i = first; i < first + n; i++) {
		struct pt_pair *p = &pairs[i];

		if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == PT_PAIR_FREE)
			continue;
		for (int s = 0; bpf && s < 2; s++) {
			if (!p->cookie[s])
				continue;
			bpf_map_delete_elem(bpf->rx_fd, &p->cookie[s]);
			bpf_map_delete_elem(bpf->tx_fd, &p->cookie[s]);
			bpf_map_delete_elem(bpf->socks_fd, &p->cookie[s]);
		}
		memset(p, 0, sizeof(*p));
	}
}

/*
 * Create /run/passthru/<instance>.pairs and map it: the header, then the
 * slots. On failure the daemon runs without listing connections: warn,
 * leave @pf empty and return NULL.
 */
struct pt_pair *pt_pairs_file_open(struct pt_pairs_file *pf, const char *instance, uint32_t n_slots,
				   int n_workers)
{
	struct pt_meta *m;
	int fd, err;

	pt_pairs_path(pf->path, sizeof(pf->path), instance);
	pf->len = sizeof(struct pt_meta) + (size_t)n_slots * sizeof(struct pt_pair);
	if (mkdir(PT_RUN_DIR, 0755) && errno != EEXIST)
		goto fail;
	fd = open(pf->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (ftruncate(fd, (off_t)pf->len)) {
		err = errno;
		close(fd);
		errno = err;
		goto fail_unlink;
	}
	pf->map = mmap(NULL, pf->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	errno = err;
	if (pf->map == MAP_FAILED)
		goto fail_unlink;
	m = pf->map;
	pt_meta_init(m, n_slots, n_workers, instance);
	pr_info(MAIN, "%u pair slots in %s", n_slots, pf->path);
	return (struct pt_pair *)(m + 1);
fail_unlink:
	unlink(pf->path);
fail:
	pr_warn(MAIN, "%s: %s; passthru-ctl status will not list connections", pf->path,
		strerror(errno));
	pf->map = NULL;
	pf->path[0] = 0;
	return NULL;
}

/* Unmap and remove the file, if pt_pairs_file_open() made one. */
void pt_pairs_file_close(struct pt_pairs_file *pf)
{
	if (pf->map)
		munmap(pf->map, pf->len);
	if (pf->path[0])
		unlink(pf->path);
	pf->map = NULL;
	pf->path[0] = 0;
}

/*
 * Where the pair slots live: the kernel's PT_MAP_PAIRS when @bpf is loaded,
 * else a .pairs file of @n_slots slots made in @pf. @where gets the path
 * passthru-ctl reads them from ("" if none), *n_slots their number.
 * Returns the first slot, or NULL when there are none (warned).
 */
struct pt_pair *pt_pairs_place(struct pt_pairs_file *pf, const struct pt_bpf *bpf,
			       uint32_t n_slots, const char *instance, int n_workers, char *where,
			       size_t size, uint32_t *n_out)
{
	struct pt_pair *slots;

	if (bpf) {
		snprintf(where, size, "%s/%s", bpf->pin_dir, PT_STR(PT_MAP_PAIRS));
		*n_out = bpf->n_slots;
		return bpf->pairs;
	}
	slots = pt_pairs_file_open(pf, instance, n_slots, n_workers);
	snprintf(where, size, "%s", pf->path);
	*n_out = n_slots;
	return slots;
}
