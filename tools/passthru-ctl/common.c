// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What every passthru-ctl object uses: the one way errors leave (p_err),
 * JSON and ss-like tables, command tables with prefix matching, the global
 * options and option parsing after OBJECT COMMAND, and the help, show and
 * alias commands every object has.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
