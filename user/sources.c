// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An open-addressing hash table in shared memory, under a spinlock: every
 * operation is a handful of memory accesses, so workers never wait long.
 * Deletion shifts later entries of the probe chain back (no tombstones), so
 * the table never degrades however many sources come and go.
 */
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "sources.h"

struct pt_src {
	uint8_t addr[16]; /* IPv4 in IPv4-mapped form */
	uint16_t lidx;
	uint16_t used;
	uint32_t count;
};

struct pt_sources {
	int lock;
	uint32_t n_used;
	uint64_t untracked;
	struct pt_src e[PT_SOURCES_SLOTS];
};

struct pt_sources *pt_sources_create(void)
{
	void *p = mmap(NULL, sizeof(struct pt_sources), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void pt_sources_destroy(struct pt_sources *t)
{
	if (t)
		munmap(t, sizeof(*t));
}

static void lock(struct pt_sources *t)
{
	for (int spins = 0; __atomic_test_and_set(&t->lock, __ATOMIC_ACQUIRE); spins++)
		if (spins > 100)
			sched_yield();
}

static void unlock(struct pt_sources *t)
{
	__atomic_clear(&t->lock, __ATOMIC_RELEASE);
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

	while (t->e[i].used && (t->e[i].lidx != lidx || memcmp(t->e[i].addr, key, 16)))
		i = (i + 1) & (PT_SOURCES_SLOTS - 1);
	return i;
}

bool pt_source_take(struct pt_sources *t, int lidx, const struct sockaddr *sa, unsigned int max,
		    unsigned int *count)
{
	uint8_t key[16];
	bool ok = true;
	uint32_t i;

	key_of(sa, key);
	lock(t);
	i = find(t, key, lidx);
	if (!t->e[i].used) {
		/* Keep one slot free so that find() always ends. */
		if (t->n_used + 1 >= PT_SOURCES_SLOTS) {
			t->untracked++;
			*count = 0;
			unlock(t);
			return true;
		}
		memcpy(t->e[i].addr, key, 16);
		t->e[i].lidx = lidx;
		t->e[i].used = 1;
		t->e[i].count = 0;
		t->n_used++;
	}
	if (t->e[i].count >= max)
		ok = false;
	else
		t->e[i].count++;
	*count = t->e[i].count + !ok;
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
		if (!t->e[j].used)
			break;
		home = hash(t->e[j].addr, t->e[j].lidx);
		/* Entry j may move to i if i lies on its path from home to j. */
		if (((j - home) & (PT_SOURCES_SLOTS - 1)) >= ((j - i) & (PT_SOURCES_SLOTS - 1))) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->n_used--;
}

void pt_source_release(struct pt_sources *t, int lidx, const struct sockaddr *sa)
{
	uint8_t key[16];
	uint32_t i;

	key_of(sa, key);
	lock(t);
	i = find(t, key, lidx);
	if (t->e[i].used && --t->e[i].count == 0)
		remove_slot(t, i);
	unlock(t);
}

uint64_t pt_sources_untracked(const struct pt_sources *t)
{
	return __atomic_load_n(&t->untracked, __ATOMIC_RELAXED);
}
