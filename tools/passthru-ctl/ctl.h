/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * passthru-ctl's own interface between its files: the global options, the
 * output helpers (p_err, JSON, ss-like tables), command tables, option
 * parsing and the commands every object has (common.c), the control
 * socket (control.c), the instances and their pair slots (instance.c), and
 * the entry point of every object (conn.c, stats.c, route.c, config.c,
 * instance.c, shield.c, main.c), and the XDP shield's pins (shield.c).
 */
#ifndef __PT_CTL_H
#define __PT_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>
#include <linux/types.h>

#include <cjson/cJSON.h>

#include "passthru.h"
#include "passthru-common.h"
#include "passthru-shield.h"

#define CTL_VERSION		"0.1.0"
#define CTL_ASK_MS		3000
#define CTL_RELOAD_MS		10000	/* the daemon waits up to 5 s for its workers */
#define CTL_MAX_INSTANCES	256
#define CTL_ANSWER_MAX		(16 << 20)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Global options (main.c), bpftool's names. */
extern bool json_output;
extern bool pretty_output;
extern bool debug;
extern const char *opt_socket;
extern const char *opt_instances[CTL_MAX_INSTANCES];
extern int n_opt_instances;
extern const char *bin_name;

/* --- output (common.c) --- */

void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void p_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_json(cJSON *doc);
void print_null(void);

#define TBL_COLS 20

/* A table printed like ss: columns as wide as their widest cell. */
struct table {
	int n_cols;
	const char *head[TBL_COLS];
	bool right[TBL_COLS];
	char **cells;			/* rows * n_cols strings */
	int rows, cap;
};

void table_init(struct table *t, const char *const *head, const bool *right, int n);
void table_row(struct table *t, ...);
void table_free(struct table *t);
void table_print(struct table *t, const char *indent);
const char *u64s(char *buf, size_t size, uint64_t v);
const char *age_str(char *buf, size_t size, uint64_t ms);
const char *addr_str(char *buf, size_t size, const struct pt_addr *a);

/* --- commands and options (common.c) --- */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
	const char *alias_of;		/* an earlier verb kept for compatibility */
};

int cmd_select(const struct cmd *cmds, const char *arg, const char *what, const char *see);
int cmd_run(const struct cmd *cmds, int argc, char **argv, const char *object, int def);
int verb(int *argc, char ***argv, const char *cmd, const char *usage);
#define CTL_MAX_OPTS 16

void opts_with_globals(struct option *opts, const struct option *own);
int global_opt(int opt, const char *arg);
void p_bad_opt(int opt, const char *arg, const char *with_arg);
int parse_opts(int *argc, char ***argv, const struct option *own,
	       int (*own_fn)(int opt, const char *arg));
void print_usage_opts(void);
int print_object_help(const char *object, const char *grammar, const char *text,
		      const char *more);
int run_no_args(int argc, char **argv, const char *what, int (*fn)(void));
int run_alias(int argc, char **argv, const char *name, const char *usage, int (*fn)(void));
void print_version(void);		/* main.c */
void print_help(void);			/* main.c */

/* --- the control socket (control.c) --- */

struct instance;

int ask(const char *path, const char *cmd, int timeout_ms, cJSON **doc, char *why, size_t size);
double jnum(const cJSON *obj, const char *key);
const char *jstr(const cJSON *obj, const char *key);
int ask_all(const char *cmd, int timeout_ms, cJSON **answers);
void free_answers(cJSON **answers);
cJSON *wrap_answers(cJSON **answers, const char *key);
/* Show instance @in's answer @ans, or add to its JSON object @o (when not NULL). */
typedef void answer_fn(struct instance *in, const cJSON *ans, cJSON *o);
int show_answers(const char *cmd, const char *key, answer_fn *each);
void skip_note(const char *name, const char *why, bool stale);
int skip_or_fail(const char *name, const char *why, int err, bool stale);
bool report_all_stale(int n_stale);
int skip_report(void);
cJSON *skip_list(void);

/* --- instances and their pair slots (instance.c) --- */

struct instance {
	char name[32];
	char pin_dir[sizeof(PT_PIN_ROOT) + 32];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char file[sizeof(PT_RUN_DIR) + 40];	/* the .pairs file (splice only) */
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

extern struct instance instances[CTL_MAX_INSTANCES];
extern int n_instances;

bool is_bpffs(const char *path);
int find_instances(void);
int open_pairs(struct instance *in);
void close_pairs(struct instance *in);
bool read_slot(struct instance *in, uint32_t i, struct pt_pair *out);

/* --- objects, and the verbs of passthru-ctl 0.1 kept as aliases --- */

int do_conn(int argc, char **argv);
int do_status(int argc, char **argv);		/* conn show */
void conn_filter(const char *route, const char *client);
int do_stats(int argc, char **argv);
int do_route(int argc, char **argv);
int do_routes(int argc, char **argv);		/* route show */
int do_upstream(int argc, char **argv);
int do_config(int argc, char **argv);
int do_reload(int argc, char **argv);		/* config reload */
int do_instance(int argc, char **argv);
int do_instances(int argc, char **argv);	/* instance list */
int do_version(int argc, char **argv);
int do_ban(int argc, char **argv);

/* --- the XDP shield's pins (shield.c) --- */

struct pt_shield_meta;
bool shield_meta(const struct instance *in, struct pt_shield_meta *m);
const char *shield_where(const struct pt_shield_meta *m, char *buf, size_t size);
void shield_stats(const struct instance *in, cJSON *o);

#endif /* __PT_CTL_H */
