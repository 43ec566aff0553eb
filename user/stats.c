// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>

#include "stats.h"

struct pt_stats *pt_stats_create(void)
{
	void *p = mmap(NULL, sizeof(struct pt_stats), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void pt_stats_destroy(struct pt_stats *s)
{
	if (s)
		munmap(s, sizeof(*s));
}
