// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The shield: an XDP program (loaded by user/shield.c through libxdp, as
 * one program of the multiprog dispatcher of each interface) that drops
 * unwanted packets to passthru's listening sockets before the kernel
 * builds an skb for them. Contract and order of the checks:
 * include/passthru-shield.h.
 *
 * Only IPv4 and IPv6 TCP (one optional VLAN tag, no IPv6 extension
 * headers, no IPv4 fragment but the first) to a destination listed in
 * PT_MAP_SHIELD_DST for the receiving interface is looked at: every other
 * packet is XDP_PASS, so the next program of the dispatcher or the stack
 * gets it untouched.
 *
 * The SYN rate limit is a GCRA per source (the equivalent of a token
 * bucket of syn_burst tokens refilled at syn_rate per second): one u64 per
 * source, the time the bucket will be full again. Two CPUs updating the
 * same source at once may both pass: the limit is approximate by a packet
 * or two, never more.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "passthru-shield.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#define AF_INET		2
#define AF_INET6	10
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF
#define NSEC_PER_SEC	1000000000ull

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PT_SHIELD_DST_MAX);
	__type(key, struct pt_shield_dst);
	__type(value, struct pt_shield_lcfg);
} PT_MAP_SHIELD_DST SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PT_SHIELD_LISTS_MAX);
	__type(key, struct pt_shield_lpm);
	__type(value, __u32);
} PT_MAP_SHIELD_LISTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PT_SHIELD_RATE_MAX);
	__type(key, struct pt_shield_src);
	__type(value, __u64);
} PT_MAP_SHIELD_RATE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PT_SHIELD_BANS_MAX);
	__type(key, struct pt_shield_src);
	__type(value, struct pt_shield_ban);
} PT_MAP_SHIELD_BANS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PT_SHIELD_IFACES_MAX * PT_SHIELD_R_MAX);
	__type(key, __u32);
	__type(value, struct pt_shield_count);
} PT_MAP_SHIELD_COUNTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_shield_meta);
} PT_MAP_SHIELD_META SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PT_SHIELD_FAILS_MAX);
	__type(key, struct pt_shield_src);
	__type(value, struct pt_shield_fail);
} PT_MAP_SHIELD_FAILS SEC(".maps");

/* Run before the other programs of the dispatcher; go on to them on XDP_PASS. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} _prog_shield SEC(".xdp_run_config");

/* What the parser found: source, destination, whether it is a bare SYN. */
struct pkt {
	struct pt_shield_dst dst;
	__u8 src[16];
	bool syn;
	__u32 len;
};

static __always_inline int parse_tcp(void *l4, void *end, struct pkt *p)
{
	struct tcphdr *th = l4;

	/* keep clang from computing th again after the check (the verifier loses its range) */
	asm volatile("" : "+r"(th));
	if ((void *)(th + 1) > end)
		return -1;
	p->dst.port = th->dest;
	p->syn = th->syn && !th->ack;
	return 0;
}

static __always_inline int parse_ipv4(void *l3, void *end, struct pkt *p)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return -1;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return -1;	/* no TCP header in this fragment */
	p->dst.family = AF_INET;
	__builtin_memcpy(p->dst.addr, &ip->daddr, 4);
	__builtin_memcpy(p->src, &ip->saddr, 4);
	return parse_tcp(l3 + ip->ihl * 4, end, p);
}

static __always_inline int parse_ipv6(void *l3, void *end, struct pkt *p)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
		return -1;
	p->dst.family = AF_INET6;
	__builtin_memcpy(p->dst.addr, &ip6->daddr, 16);
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	return parse_tcp(ip6 + 1, end, p);
}

static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__u16 proto;

	if (l3 > end)
		return -1;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > end)
			return -1;
		proto = vh->h_vlan_encapsulated_proto;
		l3 = vh + 1;
	}
	p->len = end - data;
	p->dst.ifindex = ctx->ingress_ifindex;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(l3, end, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(l3, end, p);
	return -1;
}

/* The listener settings for this packet's destination, or NULL: not ours. */
static __always_inline struct pt_shield_lcfg *guarded(struct pkt *p)
{
	struct pt_shield_lcfg *c = bpf_map_lookup_elem(&PT_MAP_SHIELD_DST, &p->dst);

	if (c)
		return c;
	__builtin_memset(p->dst.addr, 0, sizeof(p->dst.addr));
	return bpf_map_lookup_elem(&PT_MAP_SHIELD_DST, &p->dst);
}

static __always_inline bool is_banned(const struct pkt *p, __u64 now)
{
	struct pt_shield_src k = { .family = p->dst.family };
	struct pt_shield_ban *b;

	__builtin_memcpy(k.addr, p->src, sizeof(k.addr));
	b = bpf_map_lookup_elem(&PT_MAP_SHIELD_BANS, &k);
	return b && b->until_ns > now;
}

/* PT_SHIELD_R_PASS, _DENIED or _NOT_ALLOWED from the listener's lists. */
static __always_inline int check_lists(const struct pkt *p, const struct pt_shield_lcfg *c)
{
	struct pt_shield_lpm k = {
		.prefixlen = 32 + (p->dst.family == AF_INET ? 32 : 128),
		.listener = c->listener,
		.family = p->dst.family,
	};
	__u32 *v;

	__builtin_memcpy(k.addr, p->src, sizeof(k.addr));
	v = bpf_map_lookup_elem(&PT_MAP_SHIELD_LISTS, &k);
	if (v && *v == PT_SHIELD_LIST_DENY)
		return PT_SHIELD_R_DENIED;
	if ((c->flags & PT_SHIELD_F_ALLOW_LIST) && !(v && *v == PT_SHIELD_LIST_ALLOW))
		return PT_SHIELD_R_NOT_ALLOWED;
	return PT_SHIELD_R_PASS;
}

/* Clear the bits of @addr past @bits. */
static __always_inline void cut(__u8 *addr, __u32 bits)
{
	for (int i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		addr[i] &= (__u8)(0xff00 >> bits);
		bits = 0;
	}
}

/* Is this SYN within its source's rate (GCRA, see the header)? */
static __always_inline bool syn_allowed(const struct pkt *p, const struct pt_shield_lcfg *c,
					__u64 now)
{
	struct pt_shield_src k = { .listener = c->listener, .family = p->dst.family };
	__u64 interval, tolerance, tat, *v;

	if (!c->syn_rate)
		return true;
	__builtin_memcpy(k.addr, p->src, sizeof(k.addr));
	cut(k.addr, p->dst.family == AF_INET ? c->prefix_v4 : c->prefix_v6);
	interval = NSEC_PER_SEC / c->syn_rate;
	tolerance = interval * (c->syn_burst ? c->syn_burst : 1);
	v = bpf_map_lookup_elem(&PT_MAP_SHIELD_RATE, &k);
	if (!v) {
		tat = now + interval;
		bpf_map_update_elem(&PT_MAP_SHIELD_RATE, &k, &tat, BPF_ANY);
		return true;
	}
	tat = *v > now ? *v : now;
	if (tat + interval > now + tolerance)
		return false;
	*v = tat + interval;
	return true;
}

static __always_inline void count(__u32 slot, __u32 reason, __u32 len)
{
	__u32 i = slot * PT_SHIELD_R_MAX + reason;
	struct pt_shield_count *n = bpf_map_lookup_elem(&PT_MAP_SHIELD_COUNTS, &i);

	if (n) {
		n->packets++;
		n->bytes += len;
	}
}

SEC("xdp")
int PT_PROG_SHIELD(struct xdp_md *ctx)
{
	struct pt_shield_lcfg *c;
	struct pkt p = {};
	__u64 now;
	int reason;

	if (parse(ctx, &p))
		return XDP_PASS;
	c = guarded(&p);
	if (!c)
		return XDP_PASS;
	now = bpf_ktime_get_ns();
	if (is_banned(&p, now))
		reason = PT_SHIELD_R_BANNED;
	else
		reason = check_lists(&p, c);
	if (reason == PT_SHIELD_R_PASS && p.syn && !syn_allowed(&p, c, now))
		reason = PT_SHIELD_R_RATE;
	count(c->slot, reason, p.len);
	return reason == PT_SHIELD_R_PASS ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
