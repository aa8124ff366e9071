/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R27: a shared limiter's segment is untrusted input.  A child opens a
 * live limiter, scribbles random bytes at random offsets of its shared
 * memory object, then makes every public call: each must return 0 or an
 * errno value, never crash, and never wait past its deadline (an alarm is
 * the watchdog).  The first 256 bytes, where the segment's header keeps
 * the robust mutex, are left alone: a scribbled lock word can block any
 * locker, which no check can prevent.  The sanitizer build of the CI runs
 * this under ASan, which also catches reads and writes outside the segment.
 */
#include "shared_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEEDS 300
#define HEADER 256

struct fuzz {
    const char *name;
    unsigned seed;
    int nowait_only;
};

/* each call made once: 0 or an errno value; 0 or 1 */
#define RC_OK(call)                                                            \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ < 0 || rc_ >= 4096)                                            \
            sh_child_failf(__FILE__, __LINE__, "%s returned %d", #call, rc_);  \
    } while (0)
#define BOOL_OK(call)                                                          \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0 && rc_ != 1)                                              \
            sh_child_failf(__FILE__, __LINE__, "%s returned %d", #call, rc_);  \
    } while (0)

static void scribble(const char *name, unsigned *seed)
{
    char path[300];
    struct stat sb;
    unsigned char *p;
    size_t size, off, span;
    int fd, i, n;

    snprintf(path, sizeof path, "/dev/shm%s", name);
    fd = open(path, O_RDWR);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK_EQ(fstat(fd, &sb), 0);
    size = (size_t)sb.st_size;
    CHILD_CHECK(size > HEADER);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHILD_CHECK(p != MAP_FAILED);
    close(fd);
    n = 1 + rand_r(seed) % 24;
    for (i = 0; i < n; i++) {
        /* mostly near the front, where the counts and the first slots lie */
        span = size - HEADER;
        if (rand_r(seed) % 2 && span > 4096)
            span = 4096;
        else if (rand_r(seed) % 2 && span > 65536)
            span = 65536;
        off = HEADER + (size_t)rand_r(seed) % span;
        switch (rand_r(seed) % 4) {
        case 0:                             /* a random byte */
            p[off] = (unsigned char)rand_r(seed);
            break;
        case 1:                             /* all ones: huge counts, bad links */
            memset(p + off, 0xff, size - off < 8 ? size - off : 8);
            break;
        case 2:                             /* zeros */
            memset(p + off, 0, size - off < 8 ? size - off : 8);
            break;
        default: {                          /* a small number, as an index might be */
            unsigned v = (unsigned)rand_r(seed) % 4096;
            memcpy(p + off, &v, size - off < sizeof v ? size - off : sizeof v);
        }
        }
    }
    munmap(p, size);
}

static void *plain_acquirer(void *arg)
{
    caplimit_t *lim = arg;
    if (caplimit_acquire_tokens(lim, &sh_objs[40], 1) == 0)
        (void)caplimit_release_on_behalf_of(lim, &sh_objs[40]);
    return NULL;
}

static void every_call(caplimit_t *lim, const struct fuzz *f, unsigned *seed)
{
    struct caplimit_statistics st;
    struct caplimit_counters c;
    struct timespec mono = harness_deadline_ms(2), real = harness_deadline_on(CLOCK_REALTIME, 2);
    struct timespec now;
    caplimit_t *other = NULL;
    char buf[128];
    int rc;

    rc = caplimit_counters(lim, &c);
    RC_OK(rc);
    rc = caplimit_statistics(lim, &st);
    RC_OK(rc);
    if (rc == 0)
        caplimit_statistics_destroy(&st);
    rc = caplimit_format(lim, buf, sizeof buf);
    if (rc >= 0)
        CHILD_CHECK(memchr(buf, '\0', sizeof buf) != NULL);
    (void)caplimit_total_tokens(lim);
    (void)caplimit_borrowed_tokens(lim);
    (void)caplimit_available_tokens(lim);
    (void)caplimit_threads_waiting(lim);
    BOOL_OK(caplimit_holds(lim));
    BOOL_OK(caplimit_holds_on_behalf_of(lim, &sh_objs[0]));
    BOOL_OK(caplimit_is_closed(lim));
    {
        enum caplimit_policy p = CAPLIMIT_POLICY_FIFO;
        int prc = caplimit_get_policy(lim, &p, NULL);
        CHILD_CHECK(prc == 0 || prc == EPROTO);
        CHILD_CHECK(p == CAPLIMIT_POLICY_FIFO || p == CAPLIMIT_POLICY_THROUGHPUT);
    }
    BOOL_OK(caplimit_is_shared(lim));
    RC_OK(caplimit_acquire_nowait(lim));
    RC_OK(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[1]));
    RC_OK(caplimit_acquire_tokens_nowait(lim, &sh_objs[2], 1 + (size_t)(rand_r(seed) % 3)));
    if (!f->nowait_only) {
        RC_OK(caplimit_acquire_until(lim, CLOCK_MONOTONIC, &mono));
        RC_OK(caplimit_acquire_on_behalf_of_until(lim, &sh_objs[3], CLOCK_REALTIME, &real));
        RC_OK(caplimit_acquire_tokens_until(lim, &sh_objs[4], 2, CLOCK_MONOTONIC, &mono));
        RC_OK(caplimit_drain(lim, CLOCK_REALTIME, &real));
    } else {
        clock_gettime(CLOCK_MONOTONIC, &now);
        RC_OK(caplimit_drain(lim, CLOCK_MONOTONIC, &now));   /* a past deadline */
    }
    RC_OK(caplimit_release(lim));
    RC_OK(caplimit_release_on_behalf_of(lim, &sh_objs[1]));
    RC_OK(caplimit_release_tokens(lim, &sh_objs[2], 1));
    RC_OK(caplimit_release_on_behalf_of(lim, &sh_objs[2]));
    RC_OK(caplimit_release_on_behalf_of(lim, &sh_objs[3]));
    RC_OK(caplimit_release_tokens(lim, &sh_objs[4], 2));
    RC_OK(caplimit_release_on_behalf_of(lim, &sh_objs[5]));   /* held before the scribble */
    RC_OK(caplimit_set_total_tokens(lim, (size_t)(rand_r(seed) % 5)));
    RC_OK(caplimit_set_policy(lim, (enum caplimit_policy)(rand_r(seed) % 2), 1000));
    RC_OK(caplimit_set_reentrant(lim, 1));
    RC_OK(caplimit_set_reentrant(lim, 0));
    rc = caplimit_open(&other, f->name, 0, 0, 0);
    CHILD_CHECK(rc == 0 || rc == EPROTO);
    if (rc == 0)
        RC_OK(caplimit_destroy(other));
    if (rand_r(seed) % 4 == 0)
        RC_OK(caplimit_close(lim));
}

static void fuzz_child(void *arg)
{
    const struct fuzz *f = arg;
    unsigned seed = f->seed;
    caplimit_t *lim = NULL;
    pthread_t t;
    int started = 0;

    alarm(f->nowait_only ? 3 : 10);
    CHILD_CHECK_EQ(caplimit_open(&lim, f->name, 0, 0, 0), 0);
    /* some state in the segment before it is scribbled on */
    CHILD_CHECK_EQ(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[5]), 0);
    CHILD_CHECK_EQ(caplimit_acquire_tokens_nowait(lim, NULL, 2), 0);
    scribble(f->name, &seed);
    if (!f->nowait_only && seed % 2) {
        CHILD_CHECK_EQ(pthread_create(&t, NULL, plain_acquirer, lim), 0);
        /* never joined (it may stay blocked): detached, so its end is no leak */
        CHILD_CHECK_EQ(pthread_detach(t), 0);
        started = 1;
    }
    every_call(lim, f, &seed);
    every_call(lim, f, &seed);
    /* With the second thread possibly still inside a call (not yet
     * waiting, or releasing), destroy would free the handle under it:
     * the caller's error, which R12 guards only for threads already
     * waiting.  Those children end without it; the others destroy. */
    if (!started)
        RC_OK(caplimit_destroy(lim));
    /* a thread still blocked in caplimit_acquire is no failure: the
     * scribbled total may well be 0 */
    _exit(0);
}

static void fuzz_seeds(int nowait_only)
{
    const char *name = sh_name();
    struct fuzz f;
    int i, status;

    f.name = name;
    f.nowait_only = nowait_only;
    for (i = 0; i < harness_scale(SEEDS); i++) {
        caplimit_t *lim;
        struct sh_child *c;

        (void)caplimit_unlink(name);
        (void)shm_unlink(name);
        lim = sh_create(name, 4);
        f.seed = 1000u * (unsigned)nowait_only + (unsigned)i;
        c = sh_fork(fuzz_child, &f);
        status = sh_reap(c);
        if (WIFSIGNALED(status))
            ck_abort_msg("seed %u: the child died of signal %d%s", f.seed, WTERMSIG(status),
                         WTERMSIG(status) == SIGALRM ? " (a call blocked past its deadline)"
                                                     : "");
        sh_reap_ok(c);
        sh_forget(c);
        /* the parent's handle may find the segment unusable, never crash */
        status = caplimit_destroy(lim);
        ck_assert_msg(status == 0 || status == EPROTO || status == EBUSY, "destroy: %d",
                      status);
    }
}

START_TEST(test_R27_scribbled_segment_every_call_returns)
{
    fuzz_seeds(0);
}
END_TEST

START_TEST(test_R27_scribbled_segment_nowait_calls_never_block)
{
    fuzz_seeds(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shared_fuzz");
    TCase *tc = tcase_create("fuzz");

    tcase_add_checked_fixture(tc, sh_setup, sh_cleanup);
    tcase_add_test(tc, test_R27_scribbled_segment_every_call_returns);
    tcase_add_test(tc, test_R27_scribbled_segment_nowait_calls_never_block);
    suite_add_tcase(s, tc);
    return sh_main(s);
}
