/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the terminated-proxy harnesses (fuzz_socks5, fuzz_httpconnect) share:
 * the invariants of a destination a handshake parser accepted.
 */
#ifndef __PT_FUZZ_TUNNEL_H
#define __PT_FUZZ_TUNNEL_H

#include "tunnel-t.h"

/*
 * @q has a port, a NUL-terminated host that is a valid host name or an
 * address in canonical text form; otherwise print what broke and abort.
 */
void fz_check_requested(const struct pt_requested *q);

#endif /* __PT_FUZZ_TUNNEL_H */
