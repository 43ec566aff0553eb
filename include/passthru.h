/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one contract between the BPF programs in bpf/ and userspace (the
 * daemon, passthru-ctl, tests). It includes nothing: the includer provides
 * <linux/types.h> (userspace) or vmlinux.h / <linux/bpf.h> (BPF).
 */
#ifndef __PASSTHRU_H
#define __PASSTHRU_H

/* Protocols a detector can report. Stored in BPF maps: never renumber. */
enum pt_proto {
	PT_PROTO_NONE = 0,	/* no detector decided (deadline or empty EOF) */
	PT_PROTO_UNKNOWN,	/* every detector said "not mine" */
	PT_PROTO_TLS,
	PT_PROTO_HTTP,
	PT_PROTO_HTTP2,
	PT_PROTO_SSH,
	PT_PROTO_SOCKS4,
	PT_PROTO_SOCKS5,
	PT_PROTO_PATTERN,	/* a user-defined pattern from the config */
	PT_PROTO_MAX,
};

/* Detection window limits (bytes). */
#define PT_WINDOW_DEFAULT	16384
#define PT_WINDOW_MAX		65536

/* Longest DNS name kept for SNI / Host (RFC 1035: 253 characters). */
#define PT_NAME_MAX		253

#endif /* __PASSTHRU_H */
