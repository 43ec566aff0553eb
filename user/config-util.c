// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The machinery every config reader and the dump share: error messages that
 * name the JSON path, quoting, the key-table walker (type and range checks,
 * unknown and duplicate keys, defaults) and its dumper, allocation helpers
 * that report ENOMEM as a config error, and the config spellings of the
 * enums. It knows no format: the tables it walks belong to the readers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"

static const char *const match_proto_names[] = {
	[PT_MATCH_ANY] = "any",		[PT_MATCH_TLS] = "tls",
	[PT_MATCH_HTTP] = "http",	[PT_MATCH_HTTP2] = "http2",
	[PT_MATCH_SSH] = "ssh",		[PT_MATCH_SOCKS4] = "socks4",
	[PT_MATCH_SOCKS5] = "socks5",	[PT_MATCH_PATTERN] = "pattern",
	[PT_MATCH_TIMEOUT] = "timeout", [PT_MATCH_UNKNOWN] = "unknown",
};

static const char *const data_plane_names[] = {
	[PT_DP_AUTO] = "auto",
	[PT_DP_SOCKMAP] = "sockmap",
	[PT_DP_SPLICE] = "splice",
	[PT_DP_COPY] = "copy",
	[PT_DP_LOCAL] = "local",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Name of a match protocol as written in the config ("tls"), or "?" */
const char *pt_match_proto_name(enum pt_match_proto p)
{
	return (unsigned int)p < ARRAY_SIZE(match_proto_names) ? match_proto_names[p] : "?";
}

/* Inverse of pt_match_proto_name(); -1 if @name is not one. */
int pt_match_proto_from_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(match_proto_names); i++)
		if (!strcmp(name, match_proto_names[i]))
			return (int)i;
	return -1;
}

/* Name of a data plane as written in the config ("splice"), or "?" */
const char *pt_data_plane_name(enum pt_data_plane dp)
{
	return (unsigned int)dp < ARRAY_SIZE(data_plane_names) ? data_plane_names[dp] : "?";
}

/* Inverse of pt_data_plane_name(); -1 if @name is not one. */
int pt_data_plane_from_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(data_plane_names); i++)
		if (!strcmp(name, data_plane_names[i]))
			return (int)i;
	return -1;
}

/* Report one error at the current JSON path: "[prog: ]FILE: PATH: message". */
void pt_cfg_err(struct pt_cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	if (!ctx->errs)
		return;
	if (ctx->prog)
		fprintf(ctx->errs, "%s: ", ctx->prog);
	fprintf(ctx->errs, "%s: %s: ", ctx->file, ctx->path_len ? ctx->path : "(top level)");
	va_start(ap, fmt);
	vfprintf(ctx->errs, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->errs);
}

/* Report an allocation failure once. */
void pt_cfg_oom(struct pt_cfg_ctx *ctx)
{
	if (!ctx->oom)
		pt_cfg_err(ctx, "out of memory");
	ctx->oom = true;
}

/*
 * Quote a user string for a message, JSON-style, cut to PT_CFG_QUOTE_MAX.
 * The result lives in one of four rotating buffers of @ctx, so up to four
 * may appear in one message.
 */
const char *pt_cfg_q(struct pt_cfg_ctx *ctx, const char *s)
{
	char *buf = ctx->quote[ctx->quote_slot++ % 4], *o = buf;
	char *end = buf + PT_CFG_QUOTE_MAX;

	*o++ = '"';
	for (; *s && o < end; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += sprintf(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += sprintf(o, "\\u%04x", c);
		else
			*o++ = (char)c;
	}
	if (*s)
		o += sprintf(o, "...");
	*o++ = '"';
	*o = '\0';
	return buf;
}

static size_t path_append(struct pt_cfg_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static size_t path_append(struct pt_cfg_ctx *ctx, const char *fmt, ...)
{
	size_t mark = ctx->path_len, room = sizeof(ctx->path) - mark;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ctx->path + mark, room, fmt, ap);
	va_end(ap);
	ctx->path_len += n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
	return mark;
}

static bool is_ident(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/*
 * Descend into object key @key: ".key", or ["key"] when it is not an
 * identifier (legacy addresses and rules). Returns the mark to pop back to.
 */
size_t pt_cfg_path_key(struct pt_cfg_ctx *ctx, const char *key)
{
	if (is_ident(key))
		return path_append(ctx, "%s%s", ctx->path_len ? "." : "", key);
	return path_append(ctx, "[%s]", pt_cfg_q(ctx, key));
}

/* Descend into array element @i; returns the mark to pop back to. */
size_t pt_cfg_path_index(struct pt_cfg_ctx *ctx, int i)
{
	return path_append(ctx, "[%d]", i);
}

/* Go back up to @mark, as returned by pt_cfg_path_key() / pt_cfg_path_index(). */
void pt_cfg_path_pop(struct pt_cfg_ctx *ctx, size_t mark)
{
	ctx->path_len = mark;
	ctx->path[mark] = '\0';
}

/* Compare two object keys: exactly, or ignoring case in legacy files. */
bool pt_cfg_key_eq(const struct pt_cfg_ctx *ctx, const char *a, const char *b)
{
	return ctx->fold_keys ? !strcasecmp(a, b) : !strcmp(a, b);
}

/* Has @item's key already appeared earlier in @parent? Reports it if so. */
bool pt_cfg_dup_key(struct pt_cfg_ctx *ctx, const cJSON *parent, const cJSON *item)
{
	const cJSON *c;
	size_t mark;

	for (c = parent->child; c && c != item; c = c->next) {
		if (!pt_cfg_key_eq(ctx, c->string, item->string))
			continue;
		mark = pt_cfg_path_key(ctx, item->string);
		pt_cfg_err(ctx, "duplicate key");
		pt_cfg_path_pop(ctx, mark);
		return true;
	}
	return false;
}

/* Report that @got is not what the key needs: "expected integer, got string "x"". */
void pt_cfg_err_type(struct pt_cfg_ctx *ctx, const char *expected, const cJSON *got)
{
	if (cJSON_IsString(got))
		pt_cfg_err(ctx, "expected %s, got string %s", expected,
			   pt_cfg_q(ctx, got->valuestring));
	else if (cJSON_IsNumber(got))
		pt_cfg_err(ctx, "expected %s, got number %.15g", expected, got->valuedouble);
	else
		pt_cfg_err(ctx, "expected %s, got %s", expected,
			   cJSON_IsTrue(got)	? "true"
			   : cJSON_IsFalse(got) ? "false"
			   : cJSON_IsNull(got)	? "null"
			   : cJSON_IsArray(got) ? "array"
						: "object");
}

static bool check_uint(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j)
{
	double d = j->valuedouble;
	char what[48];

	snprintf(what, sizeof(what), "integer %u..%u", k->min, k->max);
	if (!cJSON_IsNumber(j)) {
		pt_cfg_err_type(ctx, what, j);
		return false;
	}
	/* no libm: integral values below 2^32 survive the round trip */
	if (d >= 0 && d < 4294967296.0 && d != (double)(unsigned int)d) {
		pt_cfg_err(ctx, "expected %s, got %.15g", what, d);
		return false;
	}
	if (!(d >= k->min && d <= k->max)) {
		pt_cfg_err(ctx, "%.15g is out of range %u..%u", d, k->min, k->max);
		return false;
	}
	return true;
}

static bool check_type(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j)
{
	switch (k->type) {
	case PT_J_STRING:
		if (cJSON_IsString(j))
			return true;
		pt_cfg_err_type(ctx, "string", j);
		return false;
	case PT_J_STRV:
		if (cJSON_IsString(j) || cJSON_IsArray(j))
			return true;
		pt_cfg_err_type(ctx, "string or array of strings", j);
		return false;
	case PT_J_UINT:
		return check_uint(ctx, k, j);
	case PT_J_UINTV:
		if (cJSON_IsNumber(j) || cJSON_IsArray(j))
			return true;
		pt_cfg_err_type(ctx, "integer or array of integers", j);
		return false;
	case PT_J_BOOL:
		if (cJSON_IsBool(j))
			return true;
		pt_cfg_err_type(ctx, "true or false", j);
		return false;
	case PT_J_OBJECT:
		if (cJSON_IsObject(j))
			return true;
		pt_cfg_err_type(ctx, "object", j);
		return false;
	case PT_J_ARRAY:
		if (cJSON_IsArray(j))
			return true;
		pt_cfg_err_type(ctx, "array", j);
		return false;
	}
	return false;
}

/* Levenshtein distance, capped: good enough to catch "listn" for "listen". */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[32], prev, tmp;

	if (lb >= ARRAY_SIZE(row) || la >= 32)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			int best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

static void err_unknown_key(struct pt_cfg_ctx *ctx, const char *key, const struct pt_cfg_key *keys,
			    int n)
{
	char list[256] = "";
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!strcasecmp(key, keys[i].name) || edit_distance(key, keys[i].name) <= 2) {
			pt_cfg_err(ctx, "unknown key (did you mean \"%s\"?)", keys[i].name);
			return;
		}
	}
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					keys[i].name);
	pt_cfg_err(ctx, "unknown key (expected one of: %s)", list);
}

static const cJSON *find_key(const struct pt_cfg_ctx *ctx, const cJSON *j, const char *name)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, j) if (pt_cfg_key_eq(ctx, c->string, name)) return c;
	return NULL;
}

int pt_cfg_parse_flag(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *j, void *obj)
{
	*(bool *)((char *)obj + k->off) = cJSON_IsTrue(j) != !!k->def;
	return 0;
}

void pt_cfg_dump_flag(cJSON *out, const struct pt_cfg_key *k, const void *obj,
		      const struct pt_config *cfg)
{
	if (*(const bool *)((const char *)obj + k->off))
		cJSON_AddBoolToObject(out, k->name, !k->def);
}

static void walk_key(struct pt_cfg_ctx *ctx, const struct pt_cfg_key *k, const cJSON *c, void *obj,
		     bool *bad)
{
	*bad = !check_type(ctx, k, c);
	if (*bad)
		return;
	if (k->parse)
		*bad = k->parse(ctx, k, c, obj) < 0;
	else if (k->type == PT_J_UINT)
		*(unsigned int *)((char *)obj + k->off) = (unsigned int)c->valuedouble;
}

/*
 * Read object @j into @obj as the table @keys describes: unknown and
 * duplicate keys are errors, required keys must be there, absent keys get
 * their defaults, present ones are type-checked and parsed (in table order,
 * so that e.g. patterns are known before the listeners that use them).
 * Returns the keys given, as PT_CFG_BIT(index); @bad (may be NULL) gets the
 * keys given whose value was wrong.
 */
uint64_t pt_cfg_object(struct pt_cfg_ctx *ctx, const cJSON *j, const struct pt_cfg_key *keys, int n,
		       void *obj, uint64_t *bad)
{
	uint64_t seen = 0, wrong = 0;
	const cJSON *c;
	size_t mark;
	bool b;
	int i;

	pt_cfg_defaults(keys, n, obj);
	if (!cJSON_IsObject(j)) {
		pt_cfg_err_type(ctx, "object", j);
		return 0;
	}
	cJSON_ArrayForEach(c, j)
	{
		for (i = 0; i < n && !pt_cfg_key_eq(ctx, c->string, keys[i].name); i++)
			;
		mark = pt_cfg_path_key(ctx, c->string);
		if (i == n)
			err_unknown_key(ctx, c->string, keys, n);
		pt_cfg_path_pop(ctx, mark);
		if (i < n)
			pt_cfg_dup_key(ctx, j, c);
	}
	for (i = 0; i < n; i++) {
		c = find_key(ctx, j, keys[i].name);
		mark = pt_cfg_path_key(ctx, keys[i].name);
		if (!c && keys[i].required) {
			pt_cfg_err(ctx, "required key missing (%s)", keys[i].help);
		} else if (c) {
			seen |= PT_CFG_BIT(i);
			walk_key(ctx, &keys[i], c, obj, &b);
			if (b)
				wrong |= PT_CFG_BIT(i);
		}
		pt_cfg_path_pop(ctx, mark);
	}
	if (bad)
		*bad = wrong;
	return seen;
}

/* Store the defaults of the plain integer keys of @keys into @obj. */
void pt_cfg_defaults(const struct pt_cfg_key *keys, int n, void *obj)
{
	int i;

	for (i = 0; i < n; i++)
		if (keys[i].type == PT_J_UINT && !keys[i].parse)
			*(unsigned int *)((char *)obj + keys[i].off) = keys[i].def;
}

/*
 * Call @fn for each string of a "x" or ["x", "y"] value, with the path
 * pointing at the string. An empty array or a non-string is an error.
 * Returns 0, or -EINVAL if anything was wrong (all of it reported).
 */
int pt_cfg_strings(struct pt_cfg_ctx *ctx, const cJSON *j,
		   int (*fn)(struct pt_cfg_ctx *ctx, const char *s, void *arg), void *arg)
{
	const cJSON *c;
	int i = 0, err = 0;
	size_t mark;

	if (cJSON_IsString(j))
		return fn(ctx, j->valuestring, arg) < 0 ? -EINVAL : 0;
	if (!cJSON_IsArray(j)) {
		pt_cfg_err_type(ctx, "string or array of strings", j);
		return -EINVAL;
	}
	if (!j->child) {
		pt_cfg_err(ctx, "empty list");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		mark = pt_cfg_path_index(ctx, i++);
		if (!cJSON_IsString(c)) {
			pt_cfg_err_type(ctx, "string", c);
			err = -EINVAL;
		} else if (fn(ctx, c->valuestring, arg) < 0) {
			err = -EINVAL;
		}
		pt_cfg_path_pop(ctx, mark);
	}
	return err;
}

/* realloc @arr (of @n elements) to n + 1, the new one zeroed; NULL on ENOMEM. */
void *pt_cfg_grow(struct pt_cfg_ctx *ctx, void *arr, int n, size_t size)
{
	char *p = realloc(arr, ((size_t)n + 1) * size);

	if (!p) {
		pt_cfg_oom(ctx);
		return NULL;
	}
	memset(p + (size_t)n * size, 0, size);
	return p;
}

/* strdup() and asprintf() that report ENOMEM as a config error. */
char *pt_cfg_strdup(struct pt_cfg_ctx *ctx, const char *s)
{
	char *d = strdup(s);

	if (!d)
		pt_cfg_oom(ctx);
	return d;
}

char *pt_cfg_printf(struct pt_cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		pt_cfg_oom(ctx);
		return NULL;
	}
	return s;
}

/* Add every key of table @keys for @obj to the cJSON object @out. */
void pt_cfg_dump_keys(cJSON *out, const struct pt_cfg_key *keys, int n, const void *obj,
		      const struct pt_config *cfg)
{
	int i;

	for (i = 0; i < n; i++) {
		if (keys[i].dump)
			keys[i].dump(out, &keys[i], obj, cfg);
		else if (keys[i].type == PT_J_UINT)
			cJSON_AddNumberToObject(
				out, keys[i].name,
				*(const unsigned int *)((const char *)obj + keys[i].off));
	}
}

/* Add @sv as an array of strings named @name, unless it is empty. */
void pt_cfg_dump_strv(cJSON *out, const char *name, const struct pt_strv *sv)
{
	cJSON *a;
	int i;

	if (!sv->n || !(a = cJSON_AddArrayToObject(out, name)))
		return;
	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
}

/* One port, 1..65535, appended to @v. */
static int port_push(struct pt_cfg_ctx *ctx, const cJSON *j, uint16_t **v, int *n)
{
	uint16_t *nv;

	/* the range first: casting a double out of int's range is undefined */
	if (!cJSON_IsNumber(j) || j->valuedouble < 1 || j->valuedouble > 65535 ||
	    j->valuedouble != (double)(int)j->valuedouble) {
		pt_cfg_err_type(ctx, "port 1..65535", j);
		return -EINVAL;
	}
	nv = pt_cfg_grow(ctx, *v, *n, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = (uint16_t)j->valuedouble;
	return 0;
}

int pt_cfg_ports(struct pt_cfg_ctx *ctx, const cJSON *j, uint16_t **v, int *n)
{
	const cJSON *c;
	size_t mark;
	int i = 0, err = 0;

	if (cJSON_IsNumber(j))
		return port_push(ctx, j, v, n);
	if (!j->child) {
		pt_cfg_err(ctx, "an empty list matches nothing");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, j)
	{
		mark = pt_cfg_path_index(ctx, i++);
		if (port_push(ctx, c, v, n))
			err = -EINVAL;
		pt_cfg_path_pop(ctx, mark);
	}
	return err;
}

/* Add the ports @v as the array @name of @out (nothing if there are none). */
void pt_cfg_dump_ports(cJSON *out, const char *name, const uint16_t *v, int n)
{
	cJSON *a;

	if (!n || !(a = cJSON_AddArrayToObject(out, name)))
		return;
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
}
