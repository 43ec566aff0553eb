// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control socket of passthru-ctl: one command, one JSON answer, asked
 * of one instance or of every selected one, the notes on instances left
 * out, and the answers shown one block per instance (or as one JSON
 * document).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* --- one instance ------------------------------------------------------------- */

/* A socket connected to the daemon at @path, or -errno with @why. */
static int ask_connect(const char *path, char *why, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

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
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	err = -errno;
	if (err == -EACCES || err == -EPERM)
		snprintf(why, size, "permission denied connecting to %s (run as root)", path);
	else if (err == -ECONNREFUSED)
		snprintf(why, size, "nobody answers on %s (stale socket?)", path);
	else
		snprintf(why, size, "cannot connect to %s: %s", path, strerror(-err));
	close(fd);
	return err;
}

/* Send @cmd, one line, on @fd. 0 or -errno with @why. */
static int ask_send(int fd, const char *path, const char *cmd, char *why, size_t size)
{
	char line[64];
	int n, err;

	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (send(fd, line, n, MSG_NOSIGNAL) == n)
		return 0;
	err = -errno ?: -EIO;
	snprintf(why, size, "%s: send: %s", path, strerror(-err));
	return err;
}

/* Milliseconds left of @timeout_ms since @t0 (CLOCK_MONOTONIC). */
static long ms_left(const struct timespec *t0, int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return timeout_ms - ((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Make room for 64 KiB more after @len in *buf (one byte more for a NUL). 0 or -EFBIG. */
static int grow(char **buf, size_t *cap, size_t len)
{
	char *p;

	if (*cap - len >= 65536)
		return 0;
	*cap = *cap ? 2 * *cap : 131072;
	p = *cap <= CTL_ANSWER_MAX ? realloc(*buf, *cap + 1) : NULL;
	if (!p)
		return -EFBIG;
	*buf = p;
	return 0;
}

/*
 * Read on @fd until the daemon closes it, @timeout_ms at the most, into
 * *buf (the caller frees it), its length in *len. 0 or -errno with @why.
 */
static int ask_read(int fd, const char *path, int timeout_ms, char **buf, size_t *len,
		    char *why, size_t size)
{
	struct timespec t0;
	size_t cap = 0;
	ssize_t r;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = ms_left(&t0, timeout_ms);

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			snprintf(why, size, "no answer on %s within %d ms", path, timeout_ms);
			return -ETIMEDOUT;
		}
		if (grow(buf, &cap, *len)) {
			snprintf(why, size, "%s: answer too large", path);
			return -EFBIG;
		}
		r = recv(fd, *buf + *len, cap - *len, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err = -errno;
			snprintf(why, size, "%s: %s", path, strerror(-err));
			return err;
		}
		if (!r)
			return 0;
		*len += (size_t)r;
	}
}

/*
 * Parse the answer in @buf (@len bytes, room for a NUL after them) into
 * *doc. An {"error": ...} answer is -EREMOTEIO with its text in @why.
 */
static int ask_parse(char *buf, size_t len, const char *path, cJSON **doc, char *why,
		     size_t size)
{
	cJSON *err_item;

	if (!buf || !len) {
		snprintf(why, size, "%s closed without an answer", path);
		return -EPROTO;
	}
	buf[len] = 0;
	*doc = cJSON_Parse(buf);
	if (!*doc) {
		snprintf(why, size, "%s: the answer is not JSON", path);
		return -EPROTO;
	}
	err_item = cJSON_GetObjectItemCaseSensitive(*doc, "error");
	if (cJSON_IsString(err_item)) {
		snprintf(why, size, "%s", err_item->valuestring);
		return -EREMOTEIO;
	}
	return 0;
}

/*
 * Send @cmd to the daemon at @path and parse its one JSON answer into
 * *doc. An {"error": ...} answer is returned as -EREMOTEIO with the text in
 * @why (the document still in *doc). Other failures: -errno and @why.
 */
int ask(const char *path, const char *cmd, int timeout_ms, cJSON **doc, char *why, size_t size)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, err;

	*doc = NULL;
	fd = ask_connect(path, why, size);
	if (fd < 0)
		return fd;
	err = ask_send(fd, path, cmd, why, size);
	if (!err)
		err = ask_read(fd, path, timeout_ms, &buf, &len, why, size);
	if (!err)
		err = ask_parse(buf, len, path, doc, why, size);
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

/* Note instance @name left out for @why (@stale: its daemon is gone). */
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

/*
 * Instance @name cannot be used (@why, -errno @err; @stale: its daemon is
 * gone): with --instance an error, returned; when looking at all of them
 * a note for skip_report(), and 0.
 */
int skip_or_fail(const char *name, const char *why, int err, bool stale)
{
	if (n_opt_instances) {
		p_err("instance %s: %s", name, why);
		return err;
	}
	skip_note(name, why, stale);
	return 0;
}

/* If all @n_stale of the instances found were stale, say so (an error) and return true. */
bool report_all_stale(int n_stale)
{
	if (n_stale != n_instances)
		return false;
	p_err("no passthru instance running (only files left by dead ones: see '%s "
	      "instance list')", bin_name);
	return true;
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

/* --- every selected instance ------------------------------------------------ */

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
			err = skip_or_fail(in->name, why, err, err == -ECONNREFUSED);
			if (err)
				return err;
			continue;
		}
		n++;
	}
	n_stale = skip_report();
	if (!n && report_all_stale(n_stale))
		return -ENOENT;
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
