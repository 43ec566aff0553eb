/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_FSUTIL_H
#define __PT_FSUTIL_H

/*
 * Remove a file, or a directory and the entries in it (one level: pin
 * directories and the like hold no subdirectories). Errors are ignored:
 * this is cleanup, and what stays is replaced at the next start.
 */
void pt_remove_path(const char *path);

#endif /* __PT_FSUTIL_H */
