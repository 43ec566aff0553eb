// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Logging to stderr, one line per message, with a timestamp, the worker tag,
 * the level and the category. Levels are per category; -v raises them all.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum pt_log_level cat_level[PT_LC_MAX] = {
	PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO, PT_LOG_INFO,
};
static char log_tag[16] = "main";

static const char *const level_names[] = {
	[PT_LOG_ERR] = "error",	  [PT_LOG_WARN] = "warn",   [PT_LOG_INFO] = "info",
	[PT_LOG_DEBUG] = "debug", [PT_LOG_TRACE] = "trace",
};

static const char *const cat_names[PT_LC_MAX] = {
	[PT_LC_MAIN] = "main",	 [PT_LC_CONFIG] = "config", [PT_LC_CONN] = "conn",
	[PT_LC_PROBE] = "probe", [PT_LC_BPF] = "bpf",
};

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

void pt_vlog(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n;

	if (!pt_log_enabled(cat, level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_tag, level_names[level], cat_names[cat]);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	/* One write(2) per line so that workers sharing stderr never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void pt_log(enum pt_log_cat cat, enum pt_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pt_vlog(cat, level, fmt, ap);
	va_end(ap);
}
