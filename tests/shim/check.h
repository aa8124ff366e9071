/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The part of Check's API that the suites use, for builds where Check is
 * not there (musl: .ci/run configures with CHECK_CFLAGS=-I.../tests/shim).
 * Each test runs in a child process (fork mode, always) under an alarm of
 * CK_DEFAULT_TIMEOUT seconds (4 unless set) or tcase_set_timeout's; the
 * summary line is Check's: "100%: Checks: N, Failures: F, Errors: E".
 * Everything is static inline, so each file that includes this has its
 * own copy and nothing needs linking.
 */
#ifndef CAPLIMIT_CHECK_SHIM_H
#define CAPLIMIT_CHECK_SHIM_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum fork_status { CK_FORK_GETENV, CK_NOFORK, CK_FORK };
enum print_output { CK_SILENT, CK_MINIMAL, CK_NORMAL, CK_VERBOSE, CK_ENV, CK_LAST };

typedef void (*SFun)(void);

typedef struct TTest {
    const char *name;
    void (*fn)(int);
} TTest;

typedef struct TCase {
    const char *name;
    const TTest **tests;
    size_t n, cap;
    double timeout;                  /* 0: CK_DEFAULT_TIMEOUT */
    SFun setup, teardown;            /* checked fixture: run in the child */
    struct TCase *next;
} TCase;

typedef struct Suite {
    const char *name;
    TCase *first, *last;
} Suite;

typedef struct SRunner {
    Suite *suite;
    int checks, failures, errors;
} SRunner;

#define START_TEST(name)                                                       \
    static void name##_fn(int _i);                                             \
    static const TTest name##_ttest = { #name, name##_fn };                    \
    static const TTest *const name = &name##_ttest;                            \
    static void name##_fn(int _i __attribute__((unused)))
#define END_TEST

/* The test running in this (child) process, for failure messages. */
static inline const char **ck_shim_current(void)
{
    static const char *current[2];
    return current;
}

__attribute__((format(printf, 3, 4), noreturn))
static inline void ck_shim_fail(const char *file, int line, const char *fmt, ...)
{
    const char **cur = ck_shim_current();
    va_list ap;

    printf("%s:%d:F:%s:%s:0: ", file, line, cur[0] ? cur[0] : "?", cur[1] ? cur[1] : "?");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    _exit(1);
}

#define ck_assert_msg(expr, ...)                                               \
    do {                                                                       \
        if (!(expr))                                                           \
            ck_shim_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)
#define ck_assert(expr) ck_assert_msg(expr, "Assertion '%s' failed", #expr)
#define ck_abort_msg(...) ck_shim_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CK_SHIM_CMP(T, fmt, X, OP, Y)                                          \
    do {                                                                       \
        T ck_x_ = (T)(X);                                                      \
        T ck_y_ = (T)(Y);                                                      \
        ck_assert_msg(ck_x_ OP ck_y_,                                          \
                      "Assertion '%s' failed: %s == " fmt ", %s == " fmt,      \
                      #X " " #OP " " #Y, #X, ck_x_, #Y, ck_y_);                \
    } while (0)
#define ck_assert_int_eq(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, ==, Y)
#define ck_assert_int_ne(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, !=, Y)
#define ck_assert_int_lt(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, <, Y)
#define ck_assert_int_le(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, <=, Y)
#define ck_assert_int_gt(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, >, Y)
#define ck_assert_int_ge(X, Y) CK_SHIM_CMP(intmax_t, "%jd", X, >=, Y)
#define ck_assert_uint_eq(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, ==, Y)
#define ck_assert_uint_ne(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, !=, Y)
#define ck_assert_uint_lt(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, <, Y)
#define ck_assert_uint_le(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, <=, Y)
#define ck_assert_uint_gt(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, >, Y)
#define ck_assert_uint_ge(X, Y) CK_SHIM_CMP(uintmax_t, "%ju", X, >=, Y)
#define ck_assert_ptr_eq(X, Y) CK_SHIM_CMP(const void *, "%p", X, ==, Y)
#define ck_assert_ptr_ne(X, Y) CK_SHIM_CMP(const void *, "%p", X, !=, Y)
#define ck_assert_ptr_nonnull(X) ck_assert_ptr_ne(X, NULL)
#define ck_assert_ptr_null(X) ck_assert_ptr_eq(X, NULL)
#define ck_assert_str_eq(X, Y)                                                 \
    do {                                                                       \
        const char *ck_x_ = (X), *ck_y_ = (Y);                                 \
        ck_assert_msg(strcmp(ck_x_, ck_y_) == 0,                               \
                      "Assertion '%s == %s' failed: \"%s\" != \"%s\"", #X, #Y, \
                      ck_x_, ck_y_);                                           \
    } while (0)

static inline void *ck_shim_alloc(size_t size)
{
    void *p = calloc(1, size);
    if (p == NULL) {
        perror("check shim");
        exit(2);
    }
    return p;
}

static inline Suite *suite_create(const char *name)
{
    Suite *s = ck_shim_alloc(sizeof *s);
    s->name = name;
    return s;
}

static inline TCase *tcase_create(const char *name)
{
    TCase *tc = ck_shim_alloc(sizeof *tc);
    tc->name = name;
    return tc;
}

static inline void suite_add_tcase(Suite *s, TCase *tc)
{
    if (s->last != NULL)
        s->last->next = tc;
    else
        s->first = tc;
    s->last = tc;
}

static inline void tcase_add_test(TCase *tc, const TTest *t)
{
    if (tc->n == tc->cap) {
        tc->cap = tc->cap ? 2 * tc->cap : 16;
        tc->tests = realloc(tc->tests, tc->cap * sizeof *tc->tests);
        if (tc->tests == NULL) {
            perror("check shim");
            exit(2);
        }
    }
    tc->tests[tc->n++] = t;
}

static inline void tcase_set_timeout(TCase *tc, double seconds)
{
    tc->timeout = seconds;
}

static inline void tcase_add_checked_fixture(TCase *tc, SFun setup, SFun teardown)
{
    tc->setup = setup;
    tc->teardown = teardown;
}

static inline SRunner *srunner_create(Suite *s)
{
    SRunner *sr = ck_shim_alloc(sizeof *sr);
    sr->suite = s;
    return sr;
}

static inline void srunner_set_fork_status(SRunner *sr, enum fork_status f)
{
    (void)sr;
    (void)f;                         /* always fork */
}

static inline unsigned ck_shim_timeout(const TCase *tc)
{
    const char *env = getenv("CK_DEFAULT_TIMEOUT");
    double t = tc->timeout;

    if (t <= 0)
        t = env != NULL ? atof(env) : 4;
    return t < 1 ? 1 : (unsigned)t;
}

/* Runs one test in a child; 0 passed, 1 failed, 2 error. */
static inline int ck_shim_run_one(const TCase *tc, const TTest *t)
{
    pid_t pid;
    int status;

    fflush(stdout);
    if ((pid = fork()) < 0) {
        perror("check shim: fork");
        return 2;
    }
    if (pid == 0) {
        const char **cur = ck_shim_current();
        cur[0] = tc->name;
        cur[1] = t->name;
        alarm(ck_shim_timeout(tc));
        if (tc->setup != NULL)
            tc->setup();
        t->fn(0);
        if (tc->teardown != NULL)
            tc->teardown();
        fflush(stdout);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status) == 0 ? 0 : WEXITSTATUS(status) == 1 ? 1 : 2;
    if (WTERMSIG(status) == SIGALRM)
        printf("%s:%s: E: Test timeout expired\n", tc->name, t->name);
    else
        printf("%s:%s: E: Received signal %d (%s)\n", tc->name, t->name,
               WTERMSIG(status), strsignal(WTERMSIG(status)));
    return 2;
}

static inline void srunner_run_all(SRunner *sr, enum print_output mode)
{
    const TCase *tc;
    size_t i;
    int passed;

    (void)mode;
    printf("Running suite(s): %s\n", sr->suite->name);
    for (tc = sr->suite->first; tc != NULL; tc = tc->next) {
        for (i = 0; i < tc->n; i++) {
            int r = ck_shim_run_one(tc, tc->tests[i]);
            sr->checks++;
            sr->failures += r == 1;
            sr->errors += r == 2;
        }
    }
    passed = sr->checks - sr->failures - sr->errors;
    printf("%d%%: Checks: %d, Failures: %d, Errors: %d\n",
           sr->checks ? 100 * passed / sr->checks : 100, sr->checks, sr->failures,
           sr->errors);
}

static inline int srunner_ntests_failed(SRunner *sr)
{
    return sr->failures + sr->errors;
}

static inline void srunner_free(SRunner *sr)
{
    TCase *tc, *next;

    for (tc = sr->suite->first; tc != NULL; tc = next) {
        next = tc->next;
        free(tc->tests);
        free(tc);
    }
    free(sr->suite);
    free(sr);
}

#endif
