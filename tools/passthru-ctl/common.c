// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What every passthru-ctl object uses: the one way errors leave (p_err),
 * JSON and ss-like tables, command tables with prefix matching, option
 * parsing after OBJECT COMMAND, the control socket (one command, one JSON
 * answer) asked of one instance or of all, and the notes on instances left
 * out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* --- output ------------------------------------------------------------ */

/* The one way errors leave: "Error: ..." on stderr, or {"error": "..."} on stdout with -j. */
void p_err(const char *fmt, ...)
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
void p_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "Warning: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Print @doc on stdout: one line, or indented with -p. */
void print_json(cJSON *doc)
{
	char *text = pretty_output ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);

	if (text)
		printf("%s\n", text);
	free(text);
}

/*
 * A table printed like ss: every column as wide as its widest cell, text
 * left-aligned, numbers right-aligned, two spaces between columns.
 */
void table_init(struct table *t, const char *const *head, const bool *right, int n)
{
	memset(t, 0, sizeof(*t));
	t->n_cols = n;
	for (int i = 0; i < n; i++) {
		t->head[i] = head[i];
		t->right[i] = right ? right[i] : false;
	}
}

/* Append one row: exactly n_cols strings, copied. */
void table_row(struct table *t, ...)
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

/* Free the cells of @t (table_print() does it too). */
void table_free(struct table *t)
{
	for (int i = 0; i < t->rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cap = 0;
}

/* Print the table aligned like ss(8), then free its cells. */
void table_print(struct table *t, const char *indent)
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

/* @v in decimal into @buf; returns @buf. */
const char *u64s(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* "4.2s", "3m07s", "2h05m", "3d04h" */
const char *age_str(char *buf, size_t size, uint64_t ms)
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

/* "1.2.3.4:80" or "[::1]:80" into @buf, "-" if unused; returns @buf. */
const char *addr_str(char *buf, size_t size, const struct pt_addr *a)
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

/* --- command tables and options ------------------------------------------------- */

/* "null": what help prints under -j. */
void print_null(void)
{
	printf("null\n");
}

/*
 * Find @arg in @cmds: an exact name, or the one name it is a prefix of.
 * Candidates that are one command under two names (an object and the verb
 * it replaced: route, routes) count once, as the object. Several
 * candidates are an error that lists them; @see names the help to read.
 * Returns the index or -errno (reported).
 */
int cmd_select(const struct cmd *cmds, const char *arg, const char *what, const char *see)
{
	const char *canon = NULL;
	char list[512] = "";
	int found = -1, n = 0, n_canon = 0;

	for (int i = 0; cmds[i].name; i++) {
		const char *c = cmds[i].alias_of ?: cmds[i].name;

		if (!strcmp(cmds[i].name, arg))
			return i;
		if (strncmp(cmds[i].name, arg, strlen(arg)))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", n ? ", " : "",
			 cmds[i].name);
		if (!canon || strcmp(canon, c)) {
			canon = c;
			n_canon++;
		}
		if (found < 0 || !strcmp(cmds[i].name, c))
			found = i;
		n++;
	}
	if (n_canon == 1)
		return found;
	if (n > 1)
		p_err("%s '%s' is ambiguous: %s", what, arg, list);
	else
		p_err("unknown %s '%s' (see '%s help')", what, arg, see);
	return -EINVAL;
}

/*
 * Run the command of @object named by argv[0] (a prefix will do) with the
 * arguments after it. Without a command, or when the first argument is an
 * option, cmds[@def] runs with every argument. Returns what it returns.
 */
int cmd_run(const struct cmd *cmds, int argc, char **argv, const char *object, int def)
{
	char see[64];
	int i;

	if (argc < 1 || argv[0][0] == '-')
		return cmds[def].fn(argc, argv);
	snprintf(see, sizeof(see), "%s %s", bin_name, object);
	i = cmd_select(cmds, argv[0], "command", see);
	if (i < 0)
		return i;
	return cmds[i].fn(argc - 1, argv + 1);
}

/*
 * The verbs of passthru-ctl 0.1 take an optional "show" or "list" (the
 * default) or "help". Returns 1 for show, 0 when help was printed, -errno
 * on an error.
 */
int verb(int *argc, char ***argv, const char *cmd, const char *usage)
{
	if (*argc > 0 && (!strcmp((*argv)[0], "show") || !strcmp((*argv)[0], "list"))) {
		(*argc)--;
		(*argv)++;
	}
	if (*argc > 0 && !strcmp((*argv)[0], "help")) {
		if (json_output)
			print_null();
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

static const struct option global_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "pretty", no_argument, NULL, 'p' },
	{ "debug", no_argument, NULL, 'd' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "instance", required_argument, NULL, 'i' },
	{ "socket", required_argument, NULL, 's' },
};

/*
 * Fill @opts (room for CTL_MAX_OPTS and the terminating zeros) with the
 * long options every command takes, then @own (NULL for none).
 */
void opts_with_globals(struct option *opts, const struct option *own)
{
	int n = 0;

	memset(opts, 0, sizeof(*opts) * (CTL_MAX_OPTS + 1));
	for (size_t i = 0; i < ARRAY_SIZE(global_opts); i++)
		opts[n++] = global_opts[i];
	for (int i = 0; own && own[i].name && n < CTL_MAX_OPTS; i++)
		opts[n++] = own[i];
}

/*
 * Apply @opt if it is one of the options every command takes and that
 * only set something: -j, -p, -d, --instance @arg, --socket @arg. -V and
 * -h are the caller's. Returns 0, 1 if @opt is none of them, or -errno
 * (reported).
 */
int global_opt(int opt, const char *arg)
{
	switch (opt) {
	case 'j':
		json_output = true;
		return 0;
	case 'p':
		json_output = pretty_output = true;
		return 0;
	case 'd':
		debug = true;
		return 0;
	case 'i':
		if (n_opt_instances == CTL_MAX_INSTANCES) {
			p_err("too many --instance options");
			return -E2BIG;
		}
		opt_instances[n_opt_instances++] = arg;
		return 0;
	case 's':
		opt_socket = arg;
		return 0;
	}
	return 1;
}

/*
 * Report the option getopt_long() refused: the short option @opt when
 * set (it needs an argument if it is in @with_arg), else @arg as typed.
 */
void p_bad_opt(int opt, const char *arg, const char *with_arg)
{
	if (opt)
		p_err("option '-%c' %s", opt,
		      strchr(with_arg, opt) ? "needs an argument" : "is unknown");
	else
		p_err("unknown or incomplete option '%s' (see '%s help')", arg, bin_name);
}

/*
 * Is the unknown long option @arg one that only status takes? It gets the
 * message passthru-ctl 0.1 gave when it parsed every option globally.
 */
static bool status_only(const char *arg)
{
	size_t n = strcspn(arg + 2, "=");

	return !strncmp(arg, "--", 2) && n &&
	       (!strncmp(arg + 2, "route", n) || !strncmp(arg + 2, "client", n));
}

/* An option parse_opts() does not know, @arg as typed: -EINVAL (reported). */
static int refuse_opt(const char *arg)
{
	int opt = optopt == '?' ? 0 : optopt;	/* "-?" is reported as typed */

	if (!opt && status_only(arg))
		p_err("--route and --client go with status only");
	else
		p_bad_opt(opt, arg, "isrc");
	return -EINVAL;
}

/*
 * Parse the options after OBJECT COMMAND (GNU style, anywhere among the
 * arguments): the global ones (-j, -p, -d, -V, -h, --instance, --socket)
 * and @own, the command's own, handed to @own_fn. *argc and *argv are left
 * on the remaining arguments, which (*argv)[-1] must precede. Returns 0,
 * 1 when -V or -h printed what was asked (the command is done), or -errno
 * (reported).
 */
int parse_opts(int *argc, char ***argv, const struct option *own,
	       int (*own_fn)(int opt, const char *arg))
{
	struct option opts[CTL_MAX_OPTS + 1];
	int opt, err, ac = *argc + 1;
	char **av = *argv - 1;

	opts_with_globals(opts, own);
	opterr = 0;
	optind = 0;	/* glibc: start afresh on this argument vector */
	while ((opt = getopt_long(ac, av, "jpdVhi:s:", opts, NULL)) != -1) {
		if (opt == 'V') {
			print_version();
			return 1;
		}
		if (opt == 'h') {
			print_help();
			return 1;
		}
		if (opt == '?' || opt == ':')
			return refuse_opt(av[optind - 1]);
		err = global_opt(opt, optarg);
		if (err == 1)
			err = own_fn ? own_fn(opt, optarg) : -EINVAL;
		if (err)
			return err;
	}
	*argv = av + optind;
	*argc = ac - optind;
	return 0;
}

/* The OPTIONS part of every usage text. */
void print_usage_opts(void)
{
	printf("OPTIONS := { -j|--json [-p|--pretty] | --instance NAME | --socket PATH |\n"
	       "             -d|--debug | -V|--version | -h|--help }\n");
}

/*
 * The help of @object: its grammar, "help", @text (what it shows), @more
 * (lines on its arguments, may be ""), then the options; "null" with -j.
 * Returns 0.
 */
int print_object_help(const char *object, const char *grammar, const char *text,
		      const char *more)
{
	if (json_output) {
		print_null();
		return 0;
	}
	printf("Usage: %s [OPTIONS] %s %s\n"
	       "       %s [OPTIONS] %s help\n"
	       "\n"
	       "%s\n%s\n",
	       bin_name, object, grammar, bin_name, object, text, more);
	print_usage_opts();
	return 0;
}

/*
 * Run @fn, a command named @what that takes options but no arguments.
 * Returns what @fn returns, 0 when -V or -h answered, or -errno (reported).
 */
int run_no_args(int argc, char **argv, const char *what, int (*fn)(void))
{
	int err = parse_opts(&argc, &argv, NULL, NULL);

	if (err)
		return err < 0 ? err : 0;
	if (argc) {
		p_err("%s: unexpected argument '%s'", what, argv[0]);
		return -EINVAL;
	}
	return fn();
}

/*
 * Run @fn as the passthru-ctl 0.1 verb @name: options, then an optional
 * "show", "list" or "help" (which prints @usage). Returns what @fn returns,
 * 0 when help was printed, or -errno (reported).
 */
int run_alias(int argc, char **argv, const char *name, const char *usage, int (*fn)(void))
{
	int err = parse_opts(&argc, &argv, NULL, NULL);

	if (err)
		return err < 0 ? err : 0;
	err = verb(&argc, &argv, name, usage);
	if (err <= 0)
		return err;
	return fn();
}

/* --- the control socket ---------------------------------------------------- */

/*
 * Send @cmd to the daemon at @path and parse its one JSON answer into
 * *doc. An {"error": ...} answer is returned as -EREMOTEIO with the text in
 * @why (the document still in *doc). Other failures: -errno and @why.
 */
int ask(const char *path, const char *cmd, int timeout_ms, cJSON **doc, char *why,
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

/* The number @key of @obj, 0 if absent. */
double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The string @key of @obj, NULL if absent. */
const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
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

void skip_note(const char *name, const char *why, bool stale)
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

/* The skipped instances as a JSON array (NULL if none), now the caller's. */
cJSON *skip_list(void)
{
	cJSON *list = skips.list;

	skips.list = NULL;
	return list;
}

/* Print the skip warnings and forget them; returns how many were stale. */
int skip_report(void)
{
	int n_stale = skips.n_stale;

	for (int i = 0; i < skips.n_groups; i++)
		p_warn("instance%s %s%s: %s", skips.g[i].n > 1 ? "s" : "", skips.g[i].names,
		       skips.g[i].n > 4 ? " and more" : "", skips.g[i].why);
	if (skips.n_stale)
		p_warn("%d stale instance%s skipped (passthru gone, files left; see '%s instance list')",
		       skips.n_stale, skips.n_stale > 1 ? "s" : "", bin_name);
	skips.n_groups = 0;
	skips.n_stale = 0;
	return n_stale;
}

/* --- commands answered by the daemon ------------------------------------------------ */

/*
 * Ask every selected instance @cmd. Instances without a socket are skipped
 * (with a warning) when looking at all of them, an error with --instance.
 * Fills answers[]; returns the number of answers or -errno (reported).
 */
int ask_all(const char *cmd, int timeout_ms, cJSON **answers)
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
		      "instance list')", bin_name);
		return -ENOENT;
	}
	if (!n) {
		p_err("no instance answered on its control socket");
		return -ENOTCONN;
	}
	return n;
}

/* Free what ask_all() left in @answers. */
void free_answers(cJSON **answers)
{
	for (int i = 0; i < n_instances; i++)
		cJSON_Delete(answers[i]);
}

/* {"name": NAME, @key: ANSWER} for instance @i, added to @a; the answer moves into it. */
static cJSON *answer_obj(cJSON *a, int i, cJSON **answers, const char *key)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", instances[i].name);
	cJSON_AddItemToObject(o, key, answers[i]);
	answers[i] = NULL;
	cJSON_AddItemToArray(a, o);
	return o;
}

/* A JSON document with the answers: {"instances": [{"name": ..., KEY: answer}]} */
cJSON *wrap_answers(cJSON **answers, const char *key)
{
	cJSON *doc = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(doc, "instances");

	for (int i = 0; i < n_instances; i++)
		if (answers[i])
			answer_obj(a, i, answers, key);
	return doc;
}

/*
 * Ask every selected instance @cmd and show the answers, one block per
 * instance. With -j: one document {"instances": [{"name": NAME, @key:
 * ANSWER}]}, @each called with each instance's object @o to add to it.
 * Else @each prints the block (@o is NULL), a blank line between blocks.
 * Returns 0 or -errno (reported).
 */
int show_answers(const char *cmd, const char *key, answer_fn *each)
{
	cJSON *answers[CTL_MAX_INSTANCES] = {}, *doc, *a, *ans;
	int err;

	err = ask_all(cmd, CTL_ASK_MS, answers);
	if (err < 0)
		return err;
	doc = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(doc, "instances");
	for (int i = 0, n = 0; i < n_instances; i++) {
		ans = answers[i];
		if (!ans)
			continue;
		if (json_output) {
			each(&instances[i], ans, answer_obj(a, i, answers, key));
			continue;
		}
		if (n++)
			putchar('\n');
		each(&instances[i], ans, NULL);
	}
	if (json_output)
		print_json(doc);
	cJSON_Delete(doc);
	free_answers(answers);
	return 0;
}

/* "protocol=tls sni=a.example,*.b.example" */
