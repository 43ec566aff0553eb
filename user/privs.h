/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef __PT_PRIVS_H
#define __PT_PRIVS_H

#include <stdbool.h>

/*
 * Become @user (and its primary group, no supplementary groups) once the
 * listeners are bound and the BPF objects loaded. With @keep_bpf the process
 * keeps CAP_BPF (map updates: unprivileged bpf() is off on most systems) and
 * CAP_NET_ADMIN (SO_SNDBUFFORCE for sockmap pairs); otherwise it keeps no
 * capability at all. The bounding set is cut to match and no_new_privs set.
 *
 * An unprivileged daemon could not remove its pins and control socket at
 * exit (their directories belong to root), so first a "janitor" child is
 * forked that stays root, holds nothing but one end of a pipe and removes
 * @cleanup (NULL-terminated paths, empty strings skipped; directories with
 * their entries) once every daemon process is gone, even after a SIGKILL.
 * Returns 0 or -errno.
 */
int pt_privs_drop(const char *user, bool keep_bpf, const char *const *cleanup);

#endif /* __PT_PRIVS_H */
