// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Interfaces that go and come (linkwatch.h): an rtnetlink socket bound to
 * RTMGRP_LINK; each RTM_NEWLINK becomes changed(index, name), each
 * RTM_DELLINK changed(index, NULL), and ENOBUFS (events the kernel could
 * not queue) lost(). The XDP shield uses it (shield.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "linkwatch.h"

/* The interface name in an RTM_*LINK message, or NULL. */
static const char *ifname_of(const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
	int len = (int)nlh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));
	const struct rtattr *rta = IFLA_RTA(ifi);

	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type != IFLA_IFNAME)
			continue;
		if (RTA_PAYLOAD(rta) < 1 || RTA_PAYLOAD(rta) > IFNAMSIZ ||
		    ((const char *)RTA_DATA(rta))[RTA_PAYLOAD(rta) - 1] != '\0')
			return NULL;
		return RTA_DATA(rta);
	}
	return NULL;
}

static void link_msg(struct pt_linkwatch *lw, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi;
	const char *name;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	ifi = NLMSG_DATA(nlh);
	if (nlh->nlmsg_type == RTM_DELLINK) {
		lw->changed(lw, ifi->ifi_index, NULL);
		return;
	}
	name = ifname_of(nlh);
	if (name)
		lw->changed(lw, ifi->ifi_index, name);
}

static void readable(struct pt_ev *ev, uint32_t events)
{
	struct pt_linkwatch *lw = container_of(ev, struct pt_linkwatch, ev);
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	bool lost = false;
	ssize_t n;

	(void)events;
	for (;;) {
		n = recv(ev->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == ENOBUFS) {
			lost = true;
			continue;
		}
		if (n <= 0)
			break;
		for (const struct nlmsghdr *nlh = (void *)buf; NLMSG_OK(nlh, (size_t)n);
		     nlh = NLMSG_NEXT(nlh, n))
			link_msg(lw, nlh);
	}
	if (lost)
		lw->lost(lw);
}

int pt_linkwatch_start(struct pt_linkwatch *lw, struct pt_loop *loop, pt_link_fn changed,
		       pt_link_lost_fn lost)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto fail;
	}
	lw->changed = changed;
	lw->lost = lost;
	pt_ev_init(&lw->ev, fd, readable);
	err = pt_loop_watch(loop, &lw->ev, EPOLLIN);
	if (err)
		goto fail;
	lw->loop = loop;
	return 0;
fail:
	close(fd);
	lw->ev.fd = -1;
	return err;
}

void pt_linkwatch_stop(struct pt_linkwatch *lw)
{
	if (!lw->loop)
		return;
	pt_loop_unwatch(lw->loop, &lw->ev);
	pt_linkwatch_forget(lw);
}

void pt_linkwatch_forget(struct pt_linkwatch *lw)
{
	if (!lw->loop)
		return;
	close(lw->ev.fd);
	lw->ev.fd = -1;
	lw->loop = NULL;
}
