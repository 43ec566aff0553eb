/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_FSUTIL_H
#define __PT_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Remove a file, or a directory and the entries in it (one level: pin
 * directories and the like hold no subdirectories). A symlink is removed
 * itself, never followed, so a directory someone swapped for a link to
 * /etc costs nothing but the link. Errors are ignored: this is cleanup,
 * and what stays is replaced at the next start.
 */
void pt_remove_path(const char *path);

/*
 * Own @instance: take an exclusive flock on PT_RUN_DIR/<instance>.lock
 * (made if missing, never through a symlink) and write our pid in it. The
 * lock lasts as long as a process holds the descriptor (the workers
 * inherit it). Returns the descriptor, -EBUSY with *holder the owner's
 * pid (0 if unknown) when another process holds it, or -errno. A lock
 * taken on a file its owner unlinked meanwhile does not count (retried).
 */
int pt_instance_lock(const char *instance, pid_t *holder);

/*
 * At exit: remove the lock file if we may (root; an unprivileged daemon
 * leaves it, harmless: the lock is the flock, not the file) and close @fd.
 */
void pt_instance_unlock(int fd, const char *instance);

/*
 * Own @instance for as long as any of our processes lives (they inherit
 * *lock_fd): pt_instance_lock() with the log lines. Returns 0 (*lock_fd
 * -1 when an unprivileged start could not lock: warned), or -errno when
 * another daemon runs it or the lock failed (logged).
 */
int pt_instance_claim(const char *instance, int *lock_fd);

/*
 * Is the directory of @file (and every directory above it) safe for a
 * control socket: owned by root or @uid and writable by its owner alone?
 * Above the socket's own directory, a root-owned sticky directory such as
 * /tmp is accepted too (others cannot rename what is in it). Returns 0,
 * or -EPERM / -errno with @why saying which directory and why.
 */
int pt_dir_check_private(const char *file, uid_t uid, char *why, size_t size);

#endif /* __PT_FSUTIL_H */
