/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Prometheus text exposition (format 0.0.4) of the shared counters:
 * a pure function of the config (listener and route names) and a snapshot
 * of struct pt_stats, so tests/unit can check it without a daemon. The
 * metric names and labels are listed in README.md ("Metrics").
 */
#ifndef __PT_METRICS_TEXT_H
#define __PT_METRICS_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "config-t.h"
#include "stats.h"

/* What one exposition is made of. */
struct pt_metrics_src {
	const struct pt_config *cfg;	/* names; route rows only if it is stats->route_gen */
	const struct pt_stats *stats;
	const char *version;		/* the daemon's, for passthru_build_info */
	int n_workers;
};

/* Write @v as a label value: \ " and newline escaped. */
void pt_metrics_label_value(FILE *f, const char *v);

/*
 * Render the exposition of @src into a malloc'd, NUL-terminated *@out of
 * *@len bytes. 0 or -ENOMEM.
 */
int pt_metrics_render(const struct pt_metrics_src *src, char **out, size_t *len);

#endif /* __PT_METRICS_TEXT_H */
