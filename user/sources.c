// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An open-addressing hash table in shared memory, under a spinlock that
 * records its holder's pid (so the master can break it if a worker dies
 * holding it). Every operation is a handful of memory accesses. Deletion
 * shifts later entries of the probe chain back (no tombstones), so the
 * table never degrades however many sources come and go. The slot of a key
 * is SipHash-1-3 under a random key drawn at creation: without the key a
 * client cannot pick addresses that pile up in one probe chain.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "sources.h"

struct pt_src {
	uint8_t addr[16]; /* IPv4 in IPv4-mapped form */
	uint16_t lidx;
	uint16_t used;
	uint32_t total;
	uint32_t per_worker[]; /* n_workers counts */
};

struct pt_sources {
	pid_t lock; /* holder's pid, 0 = free */
	uint32_t n_used;
	uint32_t n_workers;
	uint32_t stride; /* bytes per entry */
	uint64_t untracked;
	uint64_t seed[2]; /* SipHash key */
	size_t size; /* of the whole mapping */
	uint8_t entries[];
};

static struct pt_src *entry(const struct pt_sources *t, uint32_t i)
{
	return (struct pt_src *)(t->entries + (size_t)i * t->stride);
}

struct pt_sources *pt_sources_create(int n_workers)
{
	uint32_t stride = (sizeof(struct pt_src) + n_workers * sizeof(uint32_t) + 7) & ~7u;
	size_t size = sizeof(struct pt_sources) + (size_t)PT_SOURCES_SLOTS * stride;
	struct pt_sources *t;
	int err;

	t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	if (getrandom(t->seed, sizeof(t->seed), 0) != sizeof(t->seed)) {
		err = errno ? errno : EIO;
		munmap(t, size);
		errno = err;
		return NULL;
	}
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

/* Keep the first @bits of the @n bytes at @p, clear the rest. */
static void keep_bits(uint8_t *p, unsigned int n, unsigned int bits)
{
	for (unsigned int i = 0; i < n; i++, bits = bits > 8 ? bits - 8 : 0)
		p[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
}

void pt_source_key(const struct sockaddr *sa, unsigned int prefix4, unsigned int prefix6,
		   struct pt_source_key *key)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint8_t *k = key->addr;

	memset(k, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(k, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (memcmp(k, mapped, 12)) {
			keep_bits(k, 16, prefix6);
			return;
		}
	} else {
		memcpy(k, mapped, 12);
		memcpy(k + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
	keep_bits(k + 12, 4, prefix4);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

/* SipHash-1-3 of @n 64-bit words (the length byte goes into the last one). */
static uint64_t siphash13(const uint64_t seed[2], const uint64_t *m, int n)
{
	uint64_t v[4] = { seed[0] ^ 0x736f6d6570736575ull, seed[1] ^ 0x646f72616e646f6dull,
			  seed[0] ^ 0x6c7967656e657261ull, seed[1] ^ 0x7465646279746573ull };

	for (int i = 0; i < n; i++) {
		v[3] ^= m[i];
		sip_round(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	for (int i = 0; i < 3; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint32_t hash(const struct pt_sources *t, const uint8_t key[16], int lidx)
{
	uint64_t m[3];

	memcpy(m, key, 16);
	m[2] = (uint64_t)(uint16_t)lidx | (uint64_t)18 << 56; /* 18 bytes of input */
	return (uint32_t)siphash13(t->seed, m, 3) & (PT_SOURCES_SLOTS - 1);
}

/* The slot holding (key, lidx), or the empty slot where it would go. */
static uint32_t find(const struct pt_sources *t, const uint8_t key[16], int lidx)
{
	uint32_t i = hash(t, key, lidx);

	while (entry(t, i)->used &&
	       (entry(t, i)->lidx != lidx || memcmp(entry(t, i)->addr, key, 16)))
		i = (i + 1) & (PT_SOURCES_SLOTS - 1);
	return i;
}

bool pt_source_take(struct pt_sources *t, int wid, int lidx, const struct pt_source_key *k,
		    unsigned int max, unsigned int *count)
{
	const uint8_t *key = k->addr;
	struct pt_src *e;
	bool ok = true;

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
		home = hash(t, entry(t, j)->addr, entry(t, j)->lidx);
		/* Entry j may move to i if i lies on its path from home to j. */
		if (((j - home) & (PT_SOURCES_SLOTS - 1)) >= ((j - i) & (PT_SOURCES_SLOTS - 1))) {
			memcpy(entry(t, i), entry(t, j), t->stride);
			i = j;
		}
	}
	memset(entry(t, i), 0, t->stride);
	t->n_used--;
}

void pt_source_release(struct pt_sources *t, int wid, int lidx, const struct pt_source_key *k)
{
	const uint8_t *key = k->addr;
	struct pt_src *e;
	uint32_t i;

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
