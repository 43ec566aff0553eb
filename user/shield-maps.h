/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The shield's maps from a config (shield.c calls these at start and on
 * every reload): the destinations it guards and the deny/allow prefixes.
 * Each sync writes the new entries first, then deletes the entries the
 * config no longer has, so that a reload never opens a gap.
 */
#ifndef __PT_SHIELD_MAPS_H
#define __PT_SHIELD_MAPS_H

struct pt_config;
struct pt_shield_iface;

/*
 * PT_MAP_SHIELD_DST: one entry per listening address of a shielded
 * listener and attached interface of its list (@ifaces, by slot).
 */
int pt_shield_sync_dst(int fd, const struct pt_config *cfg, const struct pt_shield_iface *ifaces);

/* PT_MAP_SHIELD_LISTS: every listener's deny and allow prefixes. */
int pt_shield_sync_lists(int fd, const struct pt_config *cfg);

/* Zero the counters of interface slot @slot (on every CPU). */
void pt_shield_zero_counts(int fd, int slot);

#endif /* __PT_SHIELD_MAPS_H */
