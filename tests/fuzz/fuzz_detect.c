// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for pt_detect(): every built-in detector plus 0..3 user
 * patterns, over a fuzzed sequence of reads replayed as the daemon does
 * (input format and invariants in fuzz-split.h). Flag bits 4-5 give the
 * number of patterns; each is then described by
 *
 *   u8   bits 0-3: regex, an index into fz_regexes[] (0 and values past
 *        the list: none); bits 4-6: prefix length 0..7
 *   u8   min_bytes (0: the config's default, the prefix length or 1)
 *   ...  the prefix bytes
 *
 * A pattern with neither prefix nor regex gets the first regex, as the
 * config insists on one of them.
 *
 * Regexes come from a fixed list and are never fuzzed: glibc's regcomp()
 * and regexec() have known exponential cases (nested counted repetitions
 * blow up the compiled automaton, back-references backtrack), which would
 * drown the fuzzer in timeouts that say nothing about our code. The list
 * holds only regexes that keep matching once they match (no "$", no word
 * boundaries, no back-references), so a longer window never takes a match
 * back; a pattern that says NEXT once min_bytes are in and would match
 * later is the documented min_bytes rule, and is excused (see below).
 */
#include <dlfcn.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-split.h"

/* from <sanitizer/asan_interface.h>; weak: a coverage build has no ASan */
void *__asan_region_is_poisoned(void *beg, size_t size) __attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_PATS 3

static const char *const fz_regexes[] = {
	"^\\*[0-9]+\r\n\\$", /* the README's redis example */
	"^[A-Z]+ /",
	"HTTP/1\\.[01]\r?\n",
	"[Hh]ost: *[a-z0-9.-]+\\.example",
	"^SSH-2\\.0-[^ \r\n]*OpenSSH",
	"^\x16\x03[\x01-\x04]",
	"(a|b)+c{2,4}",
	"\r\n\r\n",
	"^.{8}x",
	"[^\x01-\x7f]{3}",
	"^(GET|POST|PUT) [^ ]* HTTP",
	".",
};

#define FZ_N_REGEXES (sizeof(fz_regexes) / sizeof(fz_regexes[0]))

static regex_t fz_compiled[FZ_N_REGEXES];
static char *const fz_names[FZ_MAX_PATS] = { "p0", "p1", "p2" };

static void compile_regexes(void)
{
	static bool done;

	if (done)
		return;
	for (size_t i = 0; i < FZ_N_REGEXES; i++) {
		if (regcomp(&fz_compiled[i], fz_regexes[i], REG_EXTENDED | REG_NOSUB)) {
			fprintf(stderr, "fuzz_detect: cannot compile regex %zu\n", i);
			abort();
		}
	}
	done = true;
}

/*
 * The sanitizers' regexec() interceptor checks strlen(string) + 1 bytes even
 * with REG_STARTEND, where glibc reads only [rm_so, rm_eo) (checked with a
 * guard page), so it reports every window that is not NUL-terminated. This
 * definition replaces the interceptor (a weak symbol) in this binary: it
 * checks the bytes the call may read, the same for both forms, and hands
 * over to glibc.
 */
int regexec(const regex_t *preg, const char *string, size_t nmatch, regmatch_t pmatch[], int eflags)
{
	static int (*real)(const regex_t *, const char *, size_t, regmatch_t *, int);
	size_t so = 0, eo;

	if (!real)
		real = (int (*)(const regex_t *, const char *, size_t, regmatch_t *, int))dlsym(
			RTLD_NEXT, "regexec");
	if (!real)
		abort();
	if (eflags & REG_STARTEND) {
		so = (size_t)pmatch[0].rm_so;
		eo = (size_t)pmatch[0].rm_eo;
	} else {
		eo = strlen(string) + 1;
	}
	if (eo > so && __asan_region_is_poisoned &&
	    __asan_region_is_poisoned((void *)(string + so), eo - so)) {
		fprintf(stderr, "fuzz: regexec() would read [%zu, %zu) of a shorter buffer\n", so,
			eo);
		abort();
	}
	return real(preg, string, nmatch, pmatch, eflags);
}

static enum pt_probe probe_detect(const struct fz_target *t, const uint8_t *buf, size_t len,
				  bool final, struct pt_fields *f)
{
	return pt_detect(t->pats, t->n_pats, buf, len, final, f);
}

static enum pt_probe pattern_at(const struct pt_pattern *p, const uint8_t *data, size_t len,
				bool final, struct pt_fields *f)
{
	uint8_t *buf = malloc(len ? len : 1);
	enum pt_probe v;

	if (!buf)
		abort();
	memcpy(buf, data, len);
	pt_fields_init(f);
	v = pt_probe_pattern(p, buf, len, final, f);
	free(buf);
	return v;
}

/*
 * A regex pattern says NEXT as soon as min_bytes are in without a match
 * (detect.h), so fewer bytes in the first reads can turn a later match into
 * NEXT: the verdict then depends on the split by design. Excuse exactly
 * that: some regex pattern said "regex did not match" at the split's
 * deciding round and matches the whole window.
 */
static bool regex_gave_up(const struct fz_target *t, const uint8_t *data, size_t at, bool at_final,
			  size_t whole, bool whole_final)
{
	struct pt_fields f;

	for (int i = 0; i < t->n_pats; i++) {
		const struct pt_pattern *p = &t->pats[i];

		if (!p->has_regex)
			continue;
		if (pattern_at(p, data, at, at_final, &f) != PT_PROBE_NEXT ||
		    !strstr(f.reason, "regex did not match"))
			continue;
		if (pattern_at(p, data, whole, whole_final, &f) == PT_PROBE_MATCH)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_pattern pats[FZ_MAX_PATS];
	uint8_t prefix[FZ_MAX_PATS][7];
	struct fz_reader r = { data, size };
	struct fz_target t = {
		.name = "detect",
		.probe = probe_detect,
		.proto = PT_PROTO_NONE,
		.pats = pats,
		.excuse = regex_gave_up,
	};
	struct fz_input in;

	compile_regexes();
	fz_input_head(&r, &in);
	t.n_pats = (in.extra & 3) % (FZ_MAX_PATS + 1);
	for (int i = 0; i < t.n_pats; i++) {
		struct pt_pattern *p = &pats[i];
		uint8_t sel = fz_u8(&r), min = fz_u8(&r);
		size_t re = sel & 0x0f;

		memset(p, 0, sizeof(*p));
		p->name = fz_names[i];
		p->prefix_len = fz_bytes(&r, prefix[i], (sel >> 4) & 7);
		p->prefix = p->prefix_len ? prefix[i] : NULL;
		if (!p->prefix_len && (!re || re > FZ_N_REGEXES))
			re = 1;
		if (re && re <= FZ_N_REGEXES) {
			p->has_regex = true;
			p->regex = fz_compiled[re - 1];
			p->regex_src = (char *)fz_regexes[re - 1];
		}
		p->min_bytes = min ? min : p->prefix_len ? p->prefix_len : 1;
		if (p->min_bytes < p->prefix_len)
			p->min_bytes = p->prefix_len;
	}
	fz_input_data(&r, &in);
	fz_check_target(&t, &in);
	return 0;
}
