// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ptsyn: send bare TCP SYNs as fast as one thread can, for the shield
 * figure (tools/bench/shield_nft.py). Frames are built once (Ethernet,
 * IPv4, TCP, checksums; 64 source ports) and sent with sendmmsg() on an
 * AF_PACKET socket bound to an interface, bypassing the qdisc.
 *
 *   ptsyn IFACE DST_MAC SRC_IP DST_IP DST_PORT SECONDS
 *
 * Prints "sent N packets in S s: P pps" on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define N_FRAMES 64
#define FRAME_LEN (sizeof(struct ether_header) + sizeof(struct iphdr) + sizeof(struct tcphdr))

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void build(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, struct in_addr src,
		  struct in_addr dst, uint16_t sport, uint16_t dport)
{
	struct ether_header *eth = (struct ether_header *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct tcphdr *th = (struct tcphdr *)(ip + 1);
	struct {
		uint32_t s, d;
		uint8_t zero, proto;
		uint16_t len;
		struct tcphdr th;
	} pseudo;

	memcpy(eth->ether_dhost, dmac, 6);
	memcpy(eth->ether_shost, smac, 6);
	eth->ether_type = htons(ETHERTYPE_IP);
	*ip = (struct iphdr){ .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP,
			      .tot_len = htons(sizeof(*ip) + sizeof(*th)),
			      .saddr = src.s_addr, .daddr = dst.s_addr };
	ip->check = csum(ip, sizeof(*ip), 0);
	*th = (struct tcphdr){ .source = htons(sport), .dest = htons(dport),
			       .seq = htonl(sport * 2654435761u), .doff = 5, .syn = 1,
			       .window = htons(64240) };
	pseudo = (typeof(pseudo)){ src.s_addr, dst.s_addr, 0, IPPROTO_TCP, htons(sizeof(*th)),
				   *th };
	th->check = csum(&pseudo, sizeof(pseudo), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static uint8_t frames[N_FRAMES][FRAME_LEN];
	struct mmsghdr msgs[N_FRAMES];
	struct iovec iov[N_FRAMES];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct in_addr src, dst;
	uint8_t dmac[6], smac[6];
	struct ifreq ifr = {};
	unsigned long long sent = 0;
	double t0, secs;
	int fd, one = 1;

	if (argc != 7 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
				&dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6 ||
	    !inet_aton(argv[3], &src) || !inet_aton(argv[4], &dst)) {
		fprintf(stderr, "usage: ptsyn IFACE DST_MAC SRC_IP DST_IP DST_PORT SECONDS\n");
		return 2;
	}
	secs = atof(argv[6]);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd == -1) {
		perror("ptsyn: socket");
		return 1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1) {
		perror("ptsyn: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == -1) {
		perror("ptsyn: bind");
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	for (int i = 0; i < N_FRAMES; i++) {
		build(frames[i], dmac, smac, src, dst, (uint16_t)(20000 + i),
		      (uint16_t)atoi(argv[5]));
		iov[i] = (struct iovec){ frames[i], FRAME_LEN };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	t0 = now_s();
	while (now_s() - t0 < secs) {
		int n = sendmmsg(fd, msgs, N_FRAMES, 0);

		if (n > 0)
			sent += (unsigned long long)n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			perror("ptsyn: sendmmsg");
			return 1;
		}
	}
	secs = now_s() - t0;
	printf("sent %llu packets in %.2f s: %.0f pps\n", sent, secs, (double)sent / secs);
	close(fd);
	return 0;
}
