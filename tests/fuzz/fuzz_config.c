// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness for the config loader. The input is JSON text, loaded
 * with pt_config_parse(). It must return either NULL with errno EINVAL and
 * at least one error line naming the file, or a config (and no error line)
 * whose pt_config_dump() output loads again and dumps to the same text.
 * ASan's leak checker runs after every input that frees less than it
 * allocated, so a leak on any error path is a crash too.
 *
 * A config must not load if a string in it holds \u0000: cJSON cuts it there.
 *
 * An input starting with a NUL byte is a mode byte, then the text:
 *   bit 0  the text is the "servers" object of a legacy (Go passthru) file,
 *          wrapped here as {"version": ..., "servers": TEXT}
 *   bit 1  --data-plane splice (opts.force_data_plane)
 *   bit 2  -t 1234 and a program name in the messages
 *   bit 3  load through a file with pt_config_load() (NUL bytes in the
 *          text reach the loader, which must refuse them)
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz-split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_LEGACY 0x1
#define FZ_SPLICE 0x2
#define FZ_OPTS	  0x4
#define FZ_FILE	  0x8

#define FZ_NAME "fuzz.json"

/*
 * The loader resolves upstream names with getaddrinfo(). A fuzzer must be
 * hermetic, fast and deterministic, and DNS is none of these: there is no
 * network in CI, a query per input would cap the harness at a few runs a
 * second, and answers change. This definition takes the place of libc's
 * (and of ASan's interceptor, a weak symbol) in this binary only. Numeric
 * hosts go to the real getaddrinfo() with AI_NUMERICHOST, which never asks
 * NSS; "localhost", which seed configs use, is answered as 127.0.0.1; any
 * other name fails as an unknown one does (EAI_NONAME), which the loader
 * reports as "cannot resolve".
 */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h = { 0 };

	if (!real)
		real = (int (*)(const char *, const char *, const struct addrinfo *,
				struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (!real)
		abort();
	if (hints)
		h = *hints;
	if (node && !strcasecmp(node, "localhost") && h.ai_family != AF_INET6)
		node = "127.0.0.1";
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

/*
 * "user" names a local account, looked up with getpwnam(): NSS again, which
 * may ask a directory service, and the answer depends on the machine. In
 * this binary only root and nobody exist.
 */
struct passwd *getpwnam(const char *name)
{
	static struct passwd pw[] = {
		{ (char *)"root", (char *)"x", 0, 0, (char *)"root", (char *)"/root",
		  (char *)"/bin/sh" },
		{ (char *)"nobody", (char *)"x", 65534, 65534, (char *)"nobody",
		  (char *)"/nonexistent", (char *)"/usr/sbin/nologin" },
	};

	for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++)
		if (!strcmp(name, pw[i].pw_name))
			return &pw[i];
	return NULL;
}

/* Is the number at s (digits) above @max? */
static bool count_above(const char *s, unsigned long max)
{
	unsigned long v = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (unsigned long)(*s - '0')) > max)
			return true;
	return false;
}

/*
 * Regexes in a config go to glibc's regcomp(), which has known exponential
 * cases: nested counted repetitions such as "((a{1,99}){1,99}){1,99}" are
 * expanded into an automaton that exhausts memory or time. That is glibc's
 * behaviour, not a bug of ours, and the fuzzer would find it at once and
 * then nothing else. So in this binary regcomp() refuses, as REG_ESPACE,
 * a pattern longer than 256 bytes, with more than two '{', or with a count
 * above 32; the loader reports that like any bad regex. Everything else
 * goes to glibc.
 */
int regcomp(regex_t *preg, const char *regex, int cflags)
{
	static int (*real)(regex_t *, const char *, int);
	int braces = 0;

	if (!real)
		real = (int (*)(regex_t *, const char *, int))dlsym(RTLD_NEXT, "regcomp");
	if (!real)
		abort();
	if (strlen(regex) > 256)
		return REG_ESPACE;
	for (const char *p = strchr(regex, '{'); p; p = strchr(p + 1, '{')) {
		const char *comma = p + 1 + strspn(p + 1, "0123456789");

		if (++braces > 2 || count_above(p + 1, 32) ||
		    (*comma == ',' && count_above(comma + 1, 32)))
			return REG_ESPACE;
	}
	return real(preg, regex, cflags);
}

static void cfg_fail(const char *what, const char *text, const char *errs, const char *d1,
		     const char *d2)
{
	fprintf(stderr, "fuzz: config: %s\n--- input\n%s\n--- errors\n%s", what, text ? text : "",
		errs ? errs : "");
	if (d1)
		fprintf(stderr, "--- dump\n%s", d1);
	if (d2)
		fprintf(stderr, "--- dump of the dump\n%s", d2);
	abort();
}

/*
 * Every line of @errs starts with "[prog: ]NAME:", holds no control
 * character (a user string must not fake or hide log lines), and the
 * output ends in a newline.
 */
static bool errors_well_formed(const char *errs, const char *prog, const char *name)
{
	char lead[256];
	size_t n;

	n = (size_t)snprintf(lead, sizeof(lead), "%s%s%s", prog ? prog : "", prog ? ": " : "",
			     name);
	if (!*errs || errs[strlen(errs) - 1] != '\n')
		return false;
	for (const char *p = errs; *p; p++)
		if ((*p > 0 && *p < 0x20 && *p != '\n') || *p == 0x7f)
			return false;
	for (const char *l = errs; *l; l = strchr(l, '\n') + 1)
		if (strncmp(l, lead, n) || (l[n] != ':'))
			return false;
	return true;
}

/*
 * Does the JSON text hold the escape \u0000 (an odd run of backslashes, then
 * u0000)? cJSON keeps strings NUL-terminated, so such a string would be cut
 * short, and a loader that accepts it silently uses another value.
 */
static bool has_escaped_nul(const char *text)
{
	size_t run = 0;

	for (const char *p = text; *p; p++) {
		if (*p == '\\') {
			run++;
			continue;
		}
		if (run % 2 && !strncmp(p, "u0000", 5))
			return true;
		run = 0;
	}
	return false;
}

static struct pt_config *load(const char *text, size_t len, bool file,
			      const struct pt_config_opts *opts, char **errs, char *name,
			      size_t name_size)
{
	struct pt_config *cfg;
	size_t errs_len;
	FILE *f;
	int fd, err;

	f = open_memstream(errs, &errs_len);
	if (!f)
		abort();
	if (!file) {
		snprintf(name, name_size, "%s", FZ_NAME);
		cfg = pt_config_parse(name, text, opts, f);
		err = errno;
	} else {
		fd = memfd_create("fuzz-config", MFD_CLOEXEC);
		if (fd == -1 || (len && write(fd, text, len) != (ssize_t)len))
			abort();
		snprintf(name, name_size, "/proc/self/fd/%d", fd);
		cfg = pt_config_load(name, opts, f);
		err = errno;
		close(fd);
	}
	fclose(f);
	errno = err;
	return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char legacy_head[] = "{\"version\": \"v0.2.0\", \"servers\": ";
	struct pt_config_opts opts = { 0 };
	char *text, *errs = NULL, *errs2 = NULL, *d1 = NULL, *d2 = NULL;
	struct pt_config *cfg, *cfg2;
	char name[64], name2[64];
	size_t len = 0, d1_len, d2_len;
	unsigned int mode = 0;
	FILE *f;

	if (size >= 2 && !data[0]) {
		mode = data[1];
		data += 2;
		size -= 2;
	}
	text = malloc(size + sizeof(legacy_head) + 2);
	if (!text)
		abort();
	if (mode & FZ_LEGACY) {
		memcpy(text, legacy_head, sizeof(legacy_head) - 1);
		len = sizeof(legacy_head) - 1;
	}
	memcpy(text + len, data, size);
	len += size;
	if (mode & FZ_LEGACY)
		text[len++] = '}';
	text[len] = '\0';
	if (mode & FZ_SPLICE) {
		opts.force_data_plane = true;
		opts.data_plane = PT_DP_SPLICE;
	}
	if (mode & FZ_OPTS) {
		opts.default_timeout_ms = 1234;
		opts.prog = "passthru";
	}

	cfg = load(text, len, mode & FZ_FILE, &opts, &errs, name, sizeof(name));
	if (!cfg) {
		if (errno != EINVAL)
			cfg_fail("NULL without EINVAL", text, errs, NULL, NULL);
		if (!errors_well_formed(errs, opts.prog, name))
			cfg_fail("NULL without well-formed error lines", text, errs, NULL, NULL);
		goto out;
	}
	if (*errs)
		cfg_fail("a config and error lines", text, errs, NULL, NULL);
	if (has_escaped_nul(text) && !fz_known("json-nul-truncation"))
		cfg_fail("a string with \\u0000 is accepted (and cut short)", text, errs, NULL,
			 NULL);
	if (pt_config_get(cfg) != cfg)
		cfg_fail("pt_config_get", text, errs, NULL, NULL);
	pt_config_put(cfg);

	f = open_memstream(&d1, &d1_len);
	if (!f || pt_config_dump(cfg, f))
		cfg_fail("dump failed", text, errs, NULL, NULL);
	fclose(f);
	cfg2 = load(d1, d1_len, false, &opts, &errs2, name2, sizeof(name2));
	if (!cfg2 && cfg->legacy && strstr(errs2, "routes[") &&
	    strstr(errs2, "].name: a name must be") && fz_known("legacy-route-name"))
		goto out_put;
	if (!cfg2)
		cfg_fail("the dump does not load", text, errs2, d1, NULL);
	if (cfg2->legacy)
		cfg_fail("the dump loads as legacy", text, errs2, d1, NULL);
	f = open_memstream(&d2, &d2_len);
	if (!f || pt_config_dump(cfg2, f))
		cfg_fail("dump of the dump failed", text, errs2, d1, NULL);
	fclose(f);
	if (strcmp(d1, d2))
		cfg_fail("the dump of the dump differs", text, errs2, d1, d2);
	pt_config_put(cfg2);
out_put:
	pt_config_put(cfg);
out:
	free(errs);
	free(errs2);
	free(d1);
	free(d2);
	free(text);
	return 0;
}
