// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An open-addressing hash table in shared memory, under a spinlock that
 * records its holder's pid (so the master can break it if a worker dies
 * holding it). Every operation is a handful of memory accesses. Deletion
 * shifts later entries of the probe chain back (no tombstones), so the
 * table never degrades however many sources come and go.
 */
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sources.h"

struct pt_src {
	uint8_t addr[16]; /* IPv4 in IPv4-mapped form */
	uint16_t lidx;
	uint16_t used;
	uint32_t total;
	uint16_t per_worker[]; /* n_workers counts */
};

struct pt_sources {
	pid_t lock; /* holder's pid, 0 = free */
	uint32_t n_used;
	uint32_t n_workers;
	uint32_t stride; /* bytes per entry */
	uint64_t untracked;
	size_t size; /* of the whole mapping */
	uint8_t entries[];
};

static struct pt_src *entry(const struct pt_sources *t, uint32_t i)
{
	return (struct pt_src *)(t->entries + (size_t)i * t->stride);
}

struct pt_sources *pt_sources_create(int n_workers)
{
	uint32_t stride = (sizeof(struct pt_src) + n_workers * sizeof(uint16_t) + 7) & ~7u;
	size_t size = sizeof(struct pt_sources) + (size_t)PT_SOURCES_SLOTS * stride;
	struct pt_sources *t;

	t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	t->n_workers = n_workers;
	t->stride = stride;
	t->size = size;
	return t;
}

void pt_sources_destroy(struct pt_sources *t)
{
	if (t)
		munmap(t, t->size);
}

static void lock(struct pt_sources *t)
{
	pid_t me = getpid(), free_ = 0;

	for (int spins = 0; !__atomic_compare_exchange_n(&t->lock, &free_, me, false,
							 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
	     spins++) {
		free_ = 0;
		if (spins > 100)
			sched_yield();
	}
}

static void unlock(struct pt_sources *t)
{
	__atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

/* The key of a client address: 16 bytes, IPv4 mapped into IPv6. */
static void key_of(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return;
	}
	key[10] = key[11] = 0xff;
	memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

static uint32_t hash(const uint8_t key[16], int lidx)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)lidx;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32)) & (PT_SOURCES_SLOTS - 1);
}

/* The slot holding (key, lidx), or the empty slot where it would go. */
static uint32_t find(const struct pt_sources *t, const uint8_t key[16], int lidx)
{
	uint32_t i = hash(key, lidx);

	while (entry(t, i)->used &&
	       (entry(t, i)->lidx != lidx || memcmp(entry(t, i)->addr, key, 16)))
		i = (i + 1) & (PT_SOURCES_SLOTS - 1);
	return i;
}

bool pt_source_take(struct pt_sources *t, int wid, int lidx, const struct sockaddr *sa,
		    unsigned int max, unsigned int *count)
{
	uint8_t key[16];
	struct pt_src *e;
	bool ok = true;

	key_of(sa, key);
	lock(t);
	e = entry(t, find(t, key, lidx));
	if (!e->used) {
		/* Keep one slot free so that find() always ends. */
		if (t->n_used + 1 >= PT_SOURCES_SLOTS) {
			t->untracked++;
			*count = 0;
			unlock(t);
			return true;
		}
		memset(e, 0, t->stride);
		memcpy(e->addr, key, 16);
		e->lidx = lidx;
		e->used = 1;
		t->n_used++;
	}
	if (e->total >= max) {
		ok = false;
	} else {
		e->total++;
		e->per_worker[wid]++;
	}
	*count = e->total + !ok;
	unlock(t);
	return ok;
}

/* Remove slot i and pull back the entries of its probe chain. */
static void remove_slot(struct pt_sources *t, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & (PT_SOURCES_SLOTS - 1);
		if (!entry(t, j)->used)
			break;
		home = hash(entry(t, j)->addr, entry(t, j)->lidx);
		/* Entry j may move to i if i lies on its path from home to j. */
		if (((j - home) & (PT_SOURCES_SLOTS - 1)) >= ((j - i) & (PT_SOURCES_SLOTS - 1))) {
			memcpy(entry(t, i), entry(t, j), t->stride);
			i = j;
		}
	}
	memset(entry(t, i), 0, t->stride);
	t->n_used--;
}

void pt_source_release(struct pt_sources *t, int wid, int lidx, const struct sockaddr *sa)
{
	uint8_t key[16];
	struct pt_src *e;
	uint32_t i;

	key_of(sa, key);
	lock(t);
	i = find(t, key, lidx);
	e = entry(t, i);
	if (e->used && e->per_worker[wid]) {
		e->per_worker[wid]--;
		if (--e->total == 0)
			remove_slot(t, i);
	}
	unlock(t);
}

void pt_sources_forget_worker(struct pt_sources *t, int wid, pid_t pid)
{
	uint32_t i;

	/* A worker killed inside the lock leaves its pid there: take it over. */
	__atomic_compare_exchange_n(&t->lock, &pid, 0, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
	lock(t);
	for (i = 0; i < PT_SOURCES_SLOTS; i++) {
		struct pt_src *e = entry(t, i);

		if (!e->used || !e->per_worker[wid])
			continue;
		e->total -= e->per_worker[wid] < e->total ? e->per_worker[wid] : e->total;
		e->per_worker[wid] = 0;
	}
	/* Removing shifts entries back into earlier slots: sweep until none is left. */
	for (bool again = true; again;) {
		again = false;
		for (i = 0; i < PT_SOURCES_SLOTS; i++) {
			if (entry(t, i)->used && !entry(t, i)->total) {
				remove_slot(t, i);
				again = true;
			}
		}
	}
	unlock(t);
}

uint64_t pt_sources_untracked(const struct pt_sources *t)
{
	return __atomic_load_n(&t->untracked, __ATOMIC_RELAXED);
}
