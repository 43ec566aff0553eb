/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one log line per connection (README.md, "Logs"), as key=value text
 * or, with "log_format": "json", one JSON object with the same fields.
 */
#ifndef __PT_CONN_LOG_H
#define __PT_CONN_LOG_H

#include <stddef.h>

struct pt_conn;

/*
 * The log words of what detection found ("proto=tls", "sni=a.example",
 * a bare flag like "ech"), each NUL-terminated, the list ended by an empty
 * one: what struct pt_conn keeps as its summary. Returns the bytes used,
 * the last NUL included.
 */
size_t pt_conn_log_words(const struct pt_conn *c, char *buf, size_t size);

/* Log @c's line: who, what, where, how much, how it ended. */
void pt_conn_log_end(const struct pt_conn *c);

#endif /* __PT_CONN_LOG_H */
