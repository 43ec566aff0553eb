// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model printed back as a native-format config: the key tables build a
 * cJSON tree, printed here with two-space indentation and whatever fits on
 * one line on one line (cJSON_Print() would use tabs and one line per value).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config-int.h"
#include "config.h"

#define PT_DUMP_WIDTH 100

static void print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static bool is_container(const cJSON *j)
{
	return cJSON_IsArray(j) || cJSON_IsObject(j);
}

/* No objects inside, and arrays inside hold only scalars. */
static bool is_simple(const cJSON *j)
{
	const cJSON *c, *e;

	cJSON_ArrayForEach(c, j)
	{
		if (cJSON_IsObject(c))
			return false;
		if (cJSON_IsArray(c))
			cJSON_ArrayForEach(e, c) if (is_container(e)) return false;
	}
	return true;
}

static void print_scalar(FILE *out, const cJSON *j)
{
	if (cJSON_IsString(j))
		print_string(out, j->valuestring);
	else if (cJSON_IsNumber(j))
		fprintf(out, "%.0f", j->valuedouble);
	else
		fputs(cJSON_IsTrue(j) ? "true" : cJSON_IsFalse(j) ? "false" : "null", out);
}

/* { "a": 1, "b": ["x", "y"] } on one line */
static void print_inline(FILE *out, const cJSON *j)
{
	bool obj = cJSON_IsObject(j);
	const cJSON *c;

	if (!is_container(j)) {
		print_scalar(out, j);
		return;
	}
	fputs(obj ? "{ " : "[", out);
	cJSON_ArrayForEach(c, j)
	{
		if (c != j->child)
			fputs(", ", out);
		if (obj) {
			print_string(out, c->string);
			fputs(": ", out);
		}
		print_inline(out, c);
	}
	fputs(obj ? " }" : "]", out);
}

/* Print a simple container on one line if it fits in @width; false if not. */
static bool print_short(FILE *out, const cJSON *j, int width)
{
	size_t len = 0;
	char *buf = NULL;
	FILE *mem;
	bool fits;

	if (!is_simple(j) || !(mem = open_memstream(&buf, &len)))
		return false;
	print_inline(mem, j);
	fits = !fclose(mem) && buf && len <= (size_t)width;
	if (fits)
		fputs(buf, out);
	free(buf);
	return fits;
}

/* Print @j at nesting @depth, starting at column @col. */
static void print_json(FILE *out, const cJSON *j, int depth, int col)
{
	bool obj = cJSON_IsObject(j);
	const cJSON *c;

	if (!is_container(j)) {
		print_scalar(out, j);
		return;
	}
	if (!j->child) {
		fputs(obj ? "{}" : "[]", out);
		return;
	}
	if (print_short(out, j, PT_DUMP_WIDTH - col))
		return;
	fputc(obj ? '{' : '[', out);
	cJSON_ArrayForEach(c, j)
	{
		fprintf(out, "%s\n%*s", c == j->child ? "" : ",", 2 * (depth + 1), "");
		col = 2 * (depth + 1);
		if (obj) {
			print_string(out, c->string);
			fputs(": ", out);
			col += (int)strlen(c->string) + 4;
		}
		print_json(out, c, depth + 1, col);
	}
	fprintf(out, "\n%*s%c", 2 * depth, "", obj ? '}' : ']');
}

/*
 * Print @cfg as a native-format config (legacy files come out translated);
 * loading the output gives the same model. A listener's timeout_ms is shown
 * only when the file set it, so that -t keeps its meaning.
 */
int pt_config_dump(const struct pt_config *cfg, FILE *out)
{
	cJSON *root = cJSON_CreateObject();

	if (!root)
		return -ENOMEM;
	pt_cfg_dump_keys(root, pt_cfg_top_keys, pt_cfg_n_top_keys, cfg, cfg);
	print_json(out, root, 0, 0);
	fputc('\n', out);
	cJSON_Delete(root);
	return ferror(out) ? -EIO : 0;
}
