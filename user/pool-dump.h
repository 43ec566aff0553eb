/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pools as the control socket shows them ("upstreams", passthru-ctl
 * upstream show): each pool's servers with their state (up, down,
 * ejected) and counters, read from the shared rows at @now (ms).
 */
#ifndef __PT_POOL_DUMP_H
#define __PT_POOL_DUMP_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "config-t.h"
#include "pool-t.h"

cJSON *pt_pool_answer(const struct pt_config *cfg, struct pt_pool_shared *sh, uint64_t now);

#endif /* __PT_POOL_DUMP_H */
