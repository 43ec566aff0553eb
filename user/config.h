/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The config module's interface: load a native or legacy file into the
 * model of config-t.h, print it back, the enum spellings, and the
 * descriptor-limit policy the daemon applies to a config.
 */
#ifndef __PT_CONFIG_H
#define __PT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "config-t.h"

struct pt_config_opts {
	unsigned int default_timeout_ms;	/* -t: for listeners without timeout_ms */
	const char *prog;			/* if set, error lines start with "prog: " */
	unsigned long long fd_limit;		/* RLIMIT_NOFILE per process, 0 = ignore */
	int workers;				/* -w, to share fd_limit */
	bool force_data_plane;			/* --data-plane given: */
	enum pt_data_plane data_plane;		/* use this on every listener */
	bool skip_resolve;			/* check upstream names, leave addrs empty */
};

/*
 * Load and validate a config file (native or legacy format, told apart by a
 * top-level "servers" object). Every error found is printed to @errs as
 * "FILE: JSON.PATH: what is wrong", one per line. Returns a config with one
 * reference, or NULL with errno set (EINVAL for config errors, else the
 * errno of the failed read).
 */
struct pt_config *pt_config_load(const char *path, const struct pt_config_opts *opts,
				 FILE *errs);

/*
 * pt_config_load() that also hands back the file's text as it was read
 * (*text malloc'd and NUL-terminated, *len bytes), when the load succeeds.
 */
struct pt_config *pt_config_load_text(const char *path, const struct pt_config_opts *opts,
				      FILE *errs, char **text, size_t *len);

/*
 * The hand-over of a loaded config from the master to its workers
 * (config-pack.c). pt_config_pack() writes @text, the file @cfg was parsed
 * from, and every upstream address @cfg resolved, into a sealed memfd and
 * returns it (or -errno). pt_config_unpack() parses that text again with
 * @opts but never resolves a name: the addresses are the master's. It
 * returns a config with one reference, or NULL with errno set and the
 * reasons printed to @errs.
 */
int pt_config_pack(const struct pt_config *cfg, const char *text, size_t len);
struct pt_config *pt_config_unpack(int fd, const struct pt_config_opts *opts, FILE *errs);

/* Same, from a string already in memory; @name is used in error messages. */
struct pt_config *pt_config_parse(const char *name, const char *text,
				  const struct pt_config_opts *opts, FILE *errs);

struct pt_config *pt_config_get(struct pt_config *cfg);
void pt_config_put(struct pt_config *cfg);

/* The number of routes over all listeners. */
int pt_config_n_routes(const struct pt_config *cfg);

/*
 * Print the model in the native JSON format (what --check shows); loading
 * the output gives the same model. Returns 0, -ENOMEM or -EIO.
 */
int pt_config_dump(const struct pt_config *cfg, FILE *out);

/*
 * The descriptor-limit policy (config-fds.c). pt_config_raise_fds() raises
 * RLIMIT_NOFILE to the hard limit and returns it for pt_config_opts.fd_limit
 * (0: none or unknown). pt_config_check_fds() logs and returns -EMFILE when
 * @workers workers cannot hold the max_connections of @cfg, else 0.
 */
unsigned long long pt_config_raise_fds(void);
int pt_config_check_fds(const struct pt_config *cfg, int workers);

/* Text form of sockaddrs, "1.2.3.4:80" / "[::1]:80"; returns buf. */
char *pt_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size);

/* Config spellings of the enums ("tls", "splice"); *_from_name() gives -1 if unknown. */
const char *pt_match_proto_name(enum pt_match_proto p);
int pt_match_proto_from_name(const char *name);
const char *pt_data_plane_name(enum pt_data_plane dp);
const char *pt_listen_mode_name(enum pt_listen_mode m);
int pt_data_plane_from_name(const char *name);

#endif /* __PT_CONFIG_H */
