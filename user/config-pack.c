// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * How the master hands a loaded config to its workers (config.h): the
 * file's text exactly as the master read and validated it, then the
 * addresses the master resolved, one record per upstream in model order
 * (the pools' servers, then listeners, their routes, their forward lists).
 * A worker parses the same text with the same options, resolving nothing,
 * and takes the addresses in the same order: every worker runs the
 * master's model, names included.
 * Both ends are the same binary (the workers are forked), so the records
 * hold struct pt_sockaddr as it is in memory.
 *
 *   head | path | text | { u32 spec_len, u32 n_addrs, spec, addrs[] } ...
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define PT_PACK_MAGIC "ptpack1"

struct pt_pack_head {
	char magic[8];
	uint32_t path_len;
	uint32_t text_len;
	uint32_t n_upstreams;
	uint32_t pad;
};

struct pt_pack_rec {
	uint32_t spec_len;
	uint32_t n_addrs;
};

/*
 * Call @fn on every upstream of @cfg, in model order (the pools' servers,
 * then the routes' forward lists); stop at its first error.
 */
static int each_upstream(const struct pt_config *cfg,
			 int (*fn)(struct pt_upstream *u, void *arg), void *arg)
{
	int err;

	for (int i = 0; i < cfg->n_pools; i++)
		for (int k = 0; k < cfg->pools[i].n_servers; k++) {
			err = fn(&cfg->pools[i].servers[k].u, arg);
			if (err)
				return err;
		}
	for (int i = 0; i < cfg->n_listeners; i++) {
		const struct pt_listener_cfg *l = &cfg->listeners[i];

		for (int j = 0; j < l->n_routes; j++)
			for (int k = 0; k < l->routes[j].n_upstreams; k++) {
				err = fn(&l->routes[j].upstreams[k], arg);
				if (err)
					return err;
			}
	}
	return 0;
}

static int count_upstream(struct pt_upstream *u, void *arg)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static int put(FILE *f, const void *p, size_t n)
{
	return n && fwrite(p, n, 1, f) != 1 ? -EIO : 0;
}

static int put_upstream(struct pt_upstream *u, void *arg)
{
	struct pt_pack_rec rec = { strlen(u->spec), (uint32_t)u->n_addrs };
	FILE *f = arg;
	int err;

	err = put(f, &rec, sizeof(rec));
	if (!err)
		err = put(f, u->spec, rec.spec_len);
	if (!err)
		err = put(f, u->addrs, rec.n_addrs * sizeof(*u->addrs));
	return err;
}

/*
 * Write @cfg's text and resolved addresses into a new memfd, sealed against
 * any change: the workers read exactly what the master wrote.
 */
int pt_config_pack(const struct pt_config *cfg, const char *text, size_t len)
{
	struct pt_pack_head h = { PT_PACK_MAGIC, strlen(cfg->path), (uint32_t)len, 0, 0 };
	FILE *f = NULL;
	int fd, err;

	each_upstream(cfg, count_upstream, &h.n_upstreams);
	fd = memfd_create("passthru-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	f = fdopen(dup(fd), "w");
	if (!f) {
		err = -errno;
		goto out_close;
	}
	err = put(f, &h, sizeof(h));
	if (!err)
		err = put(f, cfg->path, h.path_len);
	if (!err)
		err = put(f, text, len);
	if (!err)
		err = each_upstream(cfg, put_upstream, f);
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		err = -errno;
	if (!err)
		return fd;
out_close:
	close(fd);
	return err;
}

/* A cursor over the mapped pack. */
struct pt_pack_in {
	const uint8_t *p, *end;
};

static const void *take(struct pt_pack_in *in, size_t n)
{
	const void *p = in->p;

	if ((size_t)(in->end - in->p) < n)
		return NULL;
	in->p += n;
	return p;
}

/* Give @u the next record's addresses; its spec must be the one parsed here. */
static int take_upstream(struct pt_upstream *u, void *arg)
{
	struct pt_pack_in *in = arg;
	const void *at = take(in, sizeof(struct pt_pack_rec));
	struct pt_pack_rec rec;
	const char *spec;
	const void *addrs;

	if (!at)
		return -EBADMSG;
	memcpy(&rec, at, sizeof(rec));	/* records follow text: not aligned */
	spec = take(in, rec.spec_len);
	if (!spec || rec.spec_len != strlen(u->spec) || memcmp(spec, u->spec, rec.spec_len) ||
	    !rec.n_addrs || rec.n_addrs > (uint32_t)(in->end - in->p) / sizeof(*u->addrs))
		return -EBADMSG;
	addrs = take(in, rec.n_addrs * sizeof(*u->addrs));
	u->addrs = malloc(rec.n_addrs * sizeof(*u->addrs));
	if (!u->addrs)
		return -ENOMEM;
	memcpy(u->addrs, addrs, rec.n_addrs * sizeof(*u->addrs));
	u->n_addrs = (int)rec.n_addrs;
	return 0;
}

/* Parse the pack's text, resolving nothing, and take the master's addresses. */
static struct pt_config *unpack(struct pt_pack_in *in, const struct pt_config_opts *opts,
				FILE *errs)
{
	const struct pt_pack_head *h = take(in, sizeof(*h));
	struct pt_config_opts o = opts ? *opts : (struct pt_config_opts){ 0 };
	const char *path = h ? take(in, h->path_len) : NULL;
	const char *body = path ? take(in, h->text_len) : NULL;
	struct pt_config *cfg = NULL;
	char *name = NULL, *text = NULL;
	int err = -EBADMSG;

	if (!body || memcmp(h->magic, PT_PACK_MAGIC, sizeof(h->magic)))
		goto out;
	name = strndup(path, h->path_len);
	text = strndup(body, h->text_len);
	err = name && text ? 0 : -ENOMEM;
	if (err)
		goto out;
	o.skip_resolve = true;
	cfg = pt_config_parse(name, text, &o, errs);
	if (!cfg) {
		err = -errno;
		goto out;
	}
	err = each_upstream(cfg, take_upstream, in);
	if (!err && in->p != in->end)
		err = -EBADMSG;
out:
	if (err == -EBADMSG && errs)
		fprintf(errs, "%s: the master's config does not match what this process parsed\n",
			name ? name : "config");
	if (err && cfg) {
		pt_config_put(cfg);
		cfg = NULL;
	}
	free(name);
	free(text);
	errno = -err;
	return cfg;
}

/* Map the pack @fd and rebuild the master's config from it (see config.h). */
struct pt_config *pt_config_unpack(int fd, const struct pt_config_opts *opts, FILE *errs)
{
	struct pt_pack_in in;
	struct pt_config *cfg;
	struct stat st;
	void *map;
	int err;

	if (fstat(fd, &st))
		return NULL;
	if (st.st_size < (off_t)sizeof(struct pt_pack_head)) {
		errno = EBADMSG;
		return NULL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return NULL;
	in.p = map;
	in.end = in.p + st.st_size;
	cfg = unpack(&in, opts, errs);
	err = errno;
	munmap(map, (size_t)st.st_size);
	errno = err;
	return cfg;
}
