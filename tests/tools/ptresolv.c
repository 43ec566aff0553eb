// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ptresolv.so: a getaddrinfo() for tests, put in front of the C library's
 * with LD_PRELOAD (only in the test's daemon, nothing on the machine
 * changes). Names ending in ".test" are answered here, everything else goes
 * to the real resolver. Every such call appends "pid name" to the file
 * $PTRESOLV_LOG (under flock) and k, the number of earlier calls for that
 * name, shapes the answer:
 *
 *   *.seq.test    127.0.0.(2 + k): each call a different address
 *   *.flaky.test  the first call fails (EAI_AGAIN), later ones 127.0.0.1
 *   *.slow.test   127.0.0.1 after $PTRESOLV_SLOW_MS ms (default 2000)
 *   other *.test  127.0.0.1
 */
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

/* Log this call; return how many calls for @name came before it. */
static int count_call(const char *name)
{
	const char *path = getenv("PTRESOLV_LOG");
	char line[512], want[512];
	FILE *f;
	int k = 0;

	if (!path)
		return 0;
	f = fopen(path, "a+");
	if (!f)
		return 0;
	flock(fileno(f), LOCK_EX);
	snprintf(want, sizeof(want), " %s\n", name);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');

		k += sp && !strcmp(sp, want);
	}
	fprintf(f, "%d %s\n", (int)getpid(), name);
	fflush(f);
	flock(fileno(f), LOCK_UN);
	fclose(f);
	return k;
}

static int answer(const char *serv, const struct addrinfo *hints, unsigned int last,
		  struct addrinfo **res)
{
	struct {
		struct addrinfo ai;
		struct sockaddr_in sin;
	} *p;

	if (hints && hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET)
		return EAI_ADDRFAMILY;
	/* glibc's freeaddrinfo() frees each entry (and its canonname) with free(). */
	p = calloc(1, sizeof(*p));
	if (!p)
		return EAI_MEMORY;
	p->sin.sin_family = AF_INET;
	p->sin.sin_port = htons((uint16_t)(serv ? atoi(serv) : 0));
	p->sin.sin_addr.s_addr = htonl(0x7f000000u | last);
	p->ai.ai_family = AF_INET;
	p->ai.ai_socktype = hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
	p->ai.ai_protocol = IPPROTO_TCP;
	p->ai.ai_addrlen = sizeof(p->sin);
	p->ai.ai_addr = (struct sockaddr *)&p->sin;
	*res = &p->ai;
	return 0;
}

int getaddrinfo(const char *node, const char *serv, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static gai_fn real;
	const char *ms;
	int k;

	if (!node || !ends_with(node, ".test")) {
		if (!real)
			real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
		return real ? real(node, serv, hints, res) : EAI_SYSTEM;
	}
	k = count_call(node);
	if (ends_with(node, ".seq.test"))
		return answer(serv, hints, 2 + (unsigned int)k % 250, res);
	if (ends_with(node, ".flaky.test") && k == 0)
		return EAI_AGAIN;
	if (ends_with(node, ".slow.test")) {
		long n = (ms = getenv("PTRESOLV_SLOW_MS")) ? atol(ms) : 2000;
		struct timespec ts = { n / 1000, (n % 1000) * 1000000 };

		while (nanosleep(&ts, &ts))
			;
	}
	return answer(serv, hints, 1, res);
}
