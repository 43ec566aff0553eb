/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A tiny test harness in the spirit of the kernel's test_progs: tests are
 * functions run through RUN_TEST(), checks are ASSERT_* macros that count
 * and return bool so a test can bail out with `if (!ASSERT_...) return;`.
 * pt_test_done() prints the closing line "N passed, N failed, N skipped"
 * and returns the exit status (non-zero on any failure).
 */
#ifndef __PT_TEST_H
#define __PT_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int pt_t_pass, pt_t_fail, pt_t_skip, pt_t_cur_fail, pt_t_cur_skip;
static const char *pt_t_name = "";

static inline bool pt_t_check(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline bool pt_t_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	pt_t_cur_fail++;
	fprintf(stderr, "  FAIL %s (%s:%d): ", pt_t_name, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

#define ASSERT_TRUE(c, what) pt_t_check(!!(c), __FILE__, __LINE__, "%s", what)
#define ASSERT_FALSE(c, what) pt_t_check(!(c), __FILE__, __LINE__, "%s", what)
#define ASSERT_EQ(a, b, what)                                                                      \
	({                                                                                         \
		long long __a = (long long)(a), __b = (long long)(b);                              \
		pt_t_check(__a == __b, __FILE__, __LINE__, "%s: %lld != %lld", what, __a, __b);    \
	})
#define ASSERT_NE(a, b, what)                                                                      \
	({                                                                                         \
		long long __a = (long long)(a), __b = (long long)(b);                              \
		pt_t_check(__a != __b, __FILE__, __LINE__, "%s: both %lld", what, __a);            \
	})
#define ASSERT_OK(err, what)                                                                       \
	({                                                                                         \
		long long __e = (long long)(err);                                                  \
		pt_t_check(__e == 0, __FILE__, __LINE__, "%s: error %lld", what, __e);             \
	})
#define ASSERT_STREQ(a, b, what)                                                                   \
	({                                                                                         \
		const char *__a = (a), *__b = (b);                                                 \
		pt_t_check(__a && __b && !strcmp(__a, __b), __FILE__, __LINE__,                    \
			   "%s: \"%s\" != \"%s\"", what, __a ? __a : "(null)",                     \
			   __b ? __b : "(null)");                                                  \
	})
#define ASSERT_STRSTR(hay, needle, what)                                                           \
	({                                                                                         \
		const char *__h = (hay), *__n = (needle);                                          \
		pt_t_check(__h && __n && strstr(__h, __n), __FILE__, __LINE__,                     \
			   "%s: \"%s\" not in \"%s\"", what, __n ? __n : "(null)",                 \
			   __h ? __h : "(null)");                                                  \
	})

/* Run one test function; it passes if no ASSERT failed inside it. */
#define RUN_TEST(fn)                                                                               \
	do {                                                                                       \
		pt_t_name = #fn;                                                                   \
		pt_t_cur_fail = 0;                                                                 \
		pt_t_cur_skip = 0;                                                                 \
		fn();                                                                              \
		if (pt_t_cur_skip && !pt_t_cur_fail) {                                             \
			pt_t_skip++;                                                               \
		} else if (pt_t_cur_fail) {                                                               \
			pt_t_fail++;                                                               \
			fprintf(stderr, "not ok %s\n", #fn);                                       \
		} else {                                                                           \
			pt_t_pass++;                                                               \
			printf("ok %s\n", #fn);                                                    \
		}                                                                                  \
	} while (0)

/* Mark the current test skipped (call, then return from the test). */
#define TEST_SKIP(why)                                                                             \
	do {                                                                                       \
		printf("skip %s: %s\n", pt_t_name, why);                                           \
		pt_t_cur_skip = 1;                                                                 \
	} while (0)

static inline int pt_test_done(void)
{
	fflush(stderr);
	printf("%d passed, %d failed, %d skipped\n", pt_t_pass, pt_t_fail, pt_t_skip);
	return pt_t_fail ? 1 : 0;
}

#endif /* __PT_TEST_H */
