/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket address helpers: the address syntax of the config file
 * ("1.2.3.4:443", "[::1]:443", ":443"), upstream name resolution and client
 * networks (CIDR, pt_cidr_*() in passthru-common.h). pt_sockaddr_str() is
 * declared in config.h.
 *
 * Parsers return 0 or a negative errno: -EINVAL for bad syntax, -ERANGE for
 * a number out of range (port, prefix length), -ENOENT for a name that does
 * not resolve, -ENOMEM.
 */
#ifndef __PT_ADDR_H
#define __PT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config-t.h"

/* Room for "[ffff:...:255.255.255.255%ifname]:65535" and its NUL. */
#define PT_SOCKADDR_STRLEN 72

int pt_hostport_split(const char *spec, char *host, size_t size, uint16_t *port, bool *bracketed);
int pt_listen_parse(const char *spec, struct pt_sockaddr *sa, bool *v6only);
int pt_upstream_resolve(const char *spec, struct pt_sockaddr **addrs, int *n, const char **why);
int pt_upstream_check(const char *spec, const char **why);
bool pt_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
char *pt_sockaddr_ip_str(const struct sockaddr *sa, char *buf, size_t size);
bool pt_listen_conflict(const struct pt_listen_addr *a, const struct pt_listen_addr *b);

#endif /* __PT_ADDR_H */
