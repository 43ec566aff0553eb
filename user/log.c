// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Logging to stderr, one line per message, with a timestamp, the worker tag,
 * the level and the category. Levels are per category; -v raises them all.
 * "log_format": "json" makes each line one JSON object (README.md, "Logs").
 * When stderr is the systemd journal (JOURNAL_STREAM names it), lines carry
 * no timestamp of ours and text lines start with the "<N>" priority prefix
 * of sd-daemon(3), so journald records the level.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum pt_log_level cat_level[PT_LC_MAX] = {
	PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO,
};
static char log_tag[16] = "main";
static enum pt_log_format log_format = PT_LOG_FMT_TEXT;
static int to_journal = -1;	/* stderr is the journal; -1: not looked at yet */

static const char *const level_names[] = {
	[PT_LOG_ERR] = "error",	  [PT_LOG_WARN] = "warn",   [PT_LOG_INFO] = "info",
	[PT_LOG_DEBUG] = "debug", [PT_LOG_TRACE] = "trace",
};

static const char *const cat_names[PT_LC_MAX] = {
	[PT_LC_MAIN] = "main",	 [PT_LC_CONFIG] = "config", [PT_LC_CONN] = "conn",
	[PT_LC_PROBE] = "probe", [PT_LC_BPF] = "bpf",
};

/* syslog(3) priorities of our levels, for the journal's "<N>" prefix. */
static const int level_prio[] = {
	[PT_LOG_ERR] = 3, [PT_LOG_WARN] = 4, [PT_LOG_INFO] = 6, [PT_LOG_DEBUG] = 7,
	[PT_LOG_TRACE] = 7,
};

void pt_log_set_format(enum pt_log_format fmt)
{
	if (fmt < PT_LOG_FMT_MAX)
		log_format = fmt;
}

enum pt_log_format pt_log_format(void)
{
	return log_format;
}

/* Is stderr the stream systemd set up to the journal (JOURNAL_STREAM=dev:ino)? */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void pt_log_set_level(enum pt_log_level level)
{
	for (int i = 0; i < PT_LC_MAX; i++)
		cat_level[i] = level;
}

void pt_log_set_cat_level(enum pt_log_cat cat, enum pt_log_level level)
{
	if (cat < PT_LC_MAX)
		cat_level[cat] = level;
}

/* Tag printed on every line: "main" for the master, "w0".."wN" for workers. */
void pt_log_set_tag(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag);
}

int pt_log_enabled(enum pt_log_cat cat, enum pt_log_level level)
{
	return cat < PT_LC_MAX && level <= cat_level[cat];
}

/* Append @s to @buf (at @n of @size) as the inside of a JSON string. */
size_t pt_log_json_str(char *buf, size_t size, size_t n, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(buf + n, size - n, "\\u00%c%c", hex[c >> 4],
					      hex[c & 15]);
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n] = 0;
	return n;
}

/*
 * "2024-01-02T03:04:05.678Z", or "" in the journal (it stamps lines itself).
 * The date and time up to the second are formatted once per second: a busy
 * worker writes thousands of lines in each.
 */
static void timestamp(char *buf, size_t size)
{
	static char second[64];
	static time_t second_of = -1;
	struct timespec ts;
	struct tm tm;

	buf[0] = 0;
	if (to_journal)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != second_of) {
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(second, sizeof(second), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		second_of = ts.tv_sec;
	}
	snprintf(buf, size, "%.24s.%03dZ", second, (int)(ts.tv_nsec / 1000000));
}

/* The start of a line up to the message: text "TIME TAG LEVEL CAT: ", JSON '{"ts":...,'. */
static int line_head(char *line, size_t size, enum pt_log_cat cat, enum pt_log_level level)
{
	char ts[64];

	if (to_journal < 0)
		to_journal = stderr_is_journal();
	timestamp(ts, sizeof(ts));
	if (log_format == PT_LOG_FMT_JSON)
		return snprintf(line, size, "{%s%s%s\"tag\":\"%s\",\"level\":\"%s\",\"cat\":\"%s\",",
				ts[0] ? "\"ts\":\"" : "", ts, ts[0] ? "\"," : "", log_tag,
				level_names[level], cat_names[cat]);
	if (to_journal)
		return snprintf(line, size, "<%d>%s %s %s: ", level_prio[level], log_tag,
				level_names[level], cat_names[cat]);
	return snprintf(line, size, "%s %s %s %s: ", ts, log_tag, level_names[level],
			cat_names[cat]);
}

/* End @line (@n bytes used of @size) with a newline and write it. */
static void line_write(char *line, size_t size, int n)
{
	if (n >= (int)size - 1)
		n = size - 2;
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	/* One write(2) per line so that workers sharing stderr never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void pt_vlog(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, va_list ap)
{
	char line[2048], msg[1800];
	int n;

	if (!pt_log_enabled(cat, level))
		return;
	n = line_head(line, sizeof(line), cat, level);
	if (log_format != PT_LOG_FMT_JSON) {
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		line_write(line, sizeof(line), n);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (size_t len = strlen(msg); len && msg[len - 1] == '\n'; len--)
		msg[len - 1] = 0;
	n += snprintf(line + n, sizeof(line) - n, "\"msg\":\"");
	n = pt_log_json_str(line, sizeof(line) - 4, n, msg);
	n += snprintf(line + n, sizeof(line) - n, "\"}");
	line_write(line, sizeof(line), n);
}

void pt_log_json(enum pt_log_cat cat, enum pt_log_level level, const char *members)
{
	char line[2048];
	int n;

	if (!pt_log_enabled(cat, level))
		return;
	n = line_head(line, sizeof(line), cat, level);
	n += snprintf(line + n, sizeof(line) - n, "%s}", members);
	line_write(line, sizeof(line), n);
}

void pt_log(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pt_vlog(cat, level, fmt, ap);
	va_end(ap);
}
