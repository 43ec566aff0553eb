/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_LOG_H
#define __PT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum pt_log_level {
	PT_LOG_ERR = 0,
	PT_LOG_WARN,
	PT_LOG_INFO,
	PT_LOG_DEBUG,
	PT_LOG_TRACE,
};

/* Categories let a user raise one part's verbosity without the others. */
enum pt_log_cat {
	PT_LC_MAIN = 0,
	PT_LC_CONFIG,
	PT_LC_CONN,
	PT_LC_PROBE,
	PT_LC_BPF,
	PT_LC_MAX,
};

/* How lines look ("log_format"): key=value text, or one JSON object per line. */
enum pt_log_format {
	PT_LOG_FMT_TEXT = 0,
	PT_LOG_FMT_JSON,
	PT_LOG_FMT_MAX,
};

void pt_log_set_format(enum pt_log_format fmt);
enum pt_log_format pt_log_format(void);
void pt_log_set_level(enum pt_log_level level);
void pt_log_set_cat_level(enum pt_log_cat cat, enum pt_log_level level);
void pt_log_set_tag(const char *tag);
int pt_log_enabled(enum pt_log_cat cat, enum pt_log_level level);
void pt_log(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Append @s to @buf (@n bytes used of @size) as the inside of a JSON
 * string, escaped; stops short of the end. Returns the new length.
 */
size_t pt_log_json_str(char *buf, size_t size, size_t n, const char *s);
/*
 * With log_format json: one line of the object's head ("tag", "level", ...)
 * and @members, the caller's "key":value pairs, escaped already.
 */
void pt_log_json(enum pt_log_cat cat, enum pt_log_level level, const char *members);
void pt_vlog(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, va_list ap);

#define pr_err(cat, ...)   pt_log(PT_LC_##cat, PT_LOG_ERR, __VA_ARGS__)
#define pr_warn(cat, ...)  pt_log(PT_LC_##cat, PT_LOG_WARN, __VA_ARGS__)
#define pr_info(cat, ...)  pt_log(PT_LC_##cat, PT_LOG_INFO, __VA_ARGS__)
#define pr_debug(cat, ...)                                                         \
	do {                                                                       \
		if (pt_log_enabled(PT_LC_##cat, PT_LOG_DEBUG))                     \
			pt_log(PT_LC_##cat, PT_LOG_DEBUG, __VA_ARGS__);            \
	} while (0)

#endif /* __PT_LOG_H */
