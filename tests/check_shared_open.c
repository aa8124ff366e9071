/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * R24 (open, unlink, destroy, the creation race), R27 (a name that holds
 * no limiter) and R28 (room) of shared limiters.
 */
#include "shared_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- R24 open ------------------------------------------------------------ */

START_TEST(test_R24_open_create_then_open_existing)
{
    const char *name = sh_name();
    caplimit_t *a = NULL, *b = NULL, *c = NULL;

    ck_assert_int_eq(caplimit_open(&a, name, O_CREAT, 0600, 3), 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(caplimit_is_shared(a), 1);
    ck_assert_uint_eq(caplimit_total_tokens(a), 3);
    harness_assert_counts(a, 0, 0);
    /* O_CREAT of an existing name opens it: its total is the creator's */
    ck_assert_int_eq(caplimit_open(&b, name, O_CREAT, 0600, 7), 0);
    ck_assert_uint_eq(caplimit_total_tokens(b), 3);
    ck_assert_int_eq(caplimit_open(&c, name, 0, 0, 99), 0);
    ck_assert_uint_eq(caplimit_total_tokens(c), 3);
    ck_assert_int_eq(caplimit_is_shared(c), 1);
    /* one limiter behind the handles */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(a, &sh_objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(b), 1);
    ck_assert_uint_eq(caplimit_available_tokens(c), 2);
    ck_assert_int_eq(caplimit_set_total_tokens(c, 5), 0);
    ck_assert_uint_eq(caplimit_total_tokens(a), 5);
    ck_assert_int_eq(caplimit_release_on_behalf_of(a, &sh_objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(c), 0);
    sh_close(a);
    sh_close(b);
    sh_close(c);
}
END_TEST

START_TEST(test_R24_creator_total_zero_and_infinite)
{
    const char *n0 = sh_name(), *ninf = sh_name();
    caplimit_t *z = sh_create(n0, 0), *inf = sh_create(ninf, CAPLIMIT_INFINITE);
    caplimit_t *z2 = sh_open(n0), *inf2 = sh_open(ninf);

    ck_assert_uint_eq(caplimit_total_tokens(z2), 0);
    ck_assert_int_eq(caplimit_acquire_nowait(z2), EWOULDBLOCK);
    ck_assert_uint_eq(caplimit_total_tokens(inf2), CAPLIMIT_INFINITE);
    ck_assert_uint_eq(caplimit_available_tokens(inf2), CAPLIMIT_INFINITE);
    ck_assert_int_eq(caplimit_acquire_nowait(inf2), 0);
    ck_assert_int_eq(caplimit_release(inf2), 0);
    sh_close(z);
    sh_close(z2);
    sh_close(inf);
    sh_close(inf2);
}
END_TEST

START_TEST(test_R24_excl_and_enoent)
{
    const char *name = sh_name();
    caplimit_t *lim, *mark = (caplimit_t *)&sh_objs[5], *out = mark;

    ck_assert_int_eq(caplimit_open(&out, name, 0, 0600, 1), ENOENT);
    ck_assert_ptr_eq(out, mark);
    lim = sh_create(name, 2);
    ck_assert_int_eq(caplimit_open(&out, name, O_CREAT | O_EXCL, 0600, 1), EEXIST);
    ck_assert_ptr_eq(out, mark);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 2);
    sh_close(lim);
}
END_TEST

START_TEST(test_R24_open_einval)
{
    const char *name = sh_name();
    caplimit_t *mark = (caplimit_t *)&sh_objs[5], *out = mark;
    static const int bad_oflags[] = { O_RDWR, O_TRUNC, O_EXCL, O_CREAT | O_TRUNC,
                                      O_CREAT | O_RDWR, O_RDONLY | O_CREAT | O_EXCL | O_TRUNC,
                                      O_WRONLY, O_CREAT | O_NONBLOCK, -1 };
    size_t i;

    ck_assert_int_eq(caplimit_open(NULL, name, O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, NULL, O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "caplimit-test-noslash", O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "/caplimit-test/inside", O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "/caplimit-test-trailing/", O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "//caplimit-test", O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "/", O_CREAT, 0600, 1), EINVAL);
    ck_assert_int_eq(caplimit_open(&out, "", O_CREAT, 0600, 1), EINVAL);
    for (i = 0; i < sizeof bad_oflags / sizeof bad_oflags[0]; i++)
        ck_assert_msg(caplimit_open(&out, name, bad_oflags[i], 0600, 1) == EINVAL,
                      "oflag %#x accepted", bad_oflags[i]);
    ck_assert_ptr_eq(out, mark);
    /* nothing was created by the refused calls */
    ck_assert_int_eq(caplimit_open(&out, name, 0, 0, 0), ENOENT);
    ck_assert_int_eq(caplimit_unlink(name), ENOENT);
    ck_assert_ptr_eq(out, mark);
}
END_TEST

START_TEST(test_R24_name_of_200_characters_and_ENAMETOOLONG)
{
    const char *n200 = sh_name_len(200), *n201 = sh_name_len(201);
    const char *n300 = sh_name_len(250);
    caplimit_t *mark = (caplimit_t *)&sh_objs[5], *out = mark, *lim;

    ck_assert_uint_eq(strlen(n200), 201);
    lim = sh_create(n200, 1);
    ck_assert_int_eq(caplimit_is_shared(lim), 1);
    sh_close(lim);
    lim = sh_open(n200);
    sh_close(lim);
    ck_assert_int_eq(caplimit_unlink(n200), 0);

    ck_assert_int_eq(caplimit_open(&out, n201, O_CREAT, 0600, 1), ENAMETOOLONG);
    ck_assert_int_eq(caplimit_open(&out, n201, 0, 0, 0), ENAMETOOLONG);
    ck_assert_int_eq(caplimit_open(&out, n300, O_CREAT | O_EXCL, 0600, 1), ENAMETOOLONG);
    ck_assert_ptr_eq(out, mark);
    ck_assert_int_eq(caplimit_unlink(n201), ENAMETOOLONG);
}
END_TEST

static const char *eacces_name;

static void eacces_child(void *arg)
{
    caplimit_t *out = NULL;

    (void)arg;
    CHILD_CHECK_EQ(setgid(65534), 0);
    CHILD_CHECK_EQ(setuid(65534), 0);
    CHILD_CHECK(geteuid() == 65534);
    CHILD_CHECK_EQ(caplimit_open(&out, eacces_name, 0, 0, 0), EACCES);
    CHILD_CHECK_EQ(caplimit_open(&out, eacces_name, O_CREAT, 0600, 1), EACCES);
    CHILD_CHECK(out == NULL);
    /* /dev/shm is sticky: another user's name cannot be removed */
    CHILD_CHECK_EQ(caplimit_unlink(eacces_name), EACCES);
}

START_TEST(test_R24_EACCES_for_another_user)
{
    caplimit_t *lim, *again;

    if (geteuid() != 0) {
        fprintf(stderr, "%s: skipped: needs root to become another user\n", __func__);
        return;
    }
    eacces_name = sh_name();
    lim = sh_create(eacces_name, 1);
    sh_reap_ok(sh_fork(eacces_child, NULL));
    again = sh_open(eacces_name);           /* the name is still there */
    sh_close(again);
    sh_close(lim);
}
END_TEST

START_TEST(test_R24_is_shared)
{
    const char *name = sh_name();
    caplimit_t *s = sh_create(name, 1), *p = harness_make(1);

    ck_assert_int_eq(caplimit_is_shared(s), 1);
    ck_assert_int_eq(caplimit_is_shared(p), 0);
    ck_assert_int_eq(caplimit_is_shared(NULL), 0);
    sh_close(s);
    ck_assert_int_eq(caplimit_destroy(p), 0);
}
END_TEST

/* ---- R24 destroy ---------------------------------------------------------- */

START_TEST(test_R24_destroy_leaves_the_limiter_to_others)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 2);
    struct sh_agent *a = sh_agent_start(name);

    ck_assert_int_eq(sh_do(a, SH_ACQ, HARNESS_PLAIN, 0, 0), 0);
    /* another process's hold does not make this handle busy */
    sh_close(lim);
    lim = sh_open(name);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 1);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 2);
    sh_close(lim);
    ck_assert_int_eq(sh_do(a, SH_BORROWED, 0, 0, 0), 1);
    ck_assert_int_eq(sh_do(a, SH_REL, HARNESS_PLAIN, 0, 0), 0);
    ck_assert_int_eq(sh_do(a, SH_DESTROY, 0, 0, 0), 0);
    sh_do(a, SH__EXIT, 0, 0, 0);
    ck_assert(WIFEXITED(a->child->status) && WEXITSTATUS(a->child->status) == 0);
    /* no handle is left anywhere: the name outlives them until unlinked */
    lim = sh_open(name);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 2);
    harness_assert_counts(lim, 0, 0);
    sh_close(lim);
    ck_assert_int_eq(caplimit_unlink(name), 0);
}
END_TEST

START_TEST(test_R24_destroy_EBUSY_while_this_process_holds_or_waits)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct harness_waiter w;
    struct harness_state before;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    harness_snap(lim, &before);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    harness_assert_unchanged(lim, &before);
    harness_snap_free(&before);
    ck_assert_int_eq(caplimit_release(lim), 0);

    ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &sh_objs[1]), 0);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &sh_objs[1]), 0);

    ck_assert_int_eq(caplimit_set_total_tokens(lim, 0), 0);
    harness_waiter_init(&w, lim, HARNESS_OBJ, &sh_objs[2], 0);
    harness_waiter_queue(&w, 1);
    ck_assert_int_eq(caplimit_destroy(lim), EBUSY);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 1), 0);
    ck_assert_int_eq(harness_waiter_join(&w), 0);
    harness_assert_no_worker_failures();
    sh_close(lim);
}
END_TEST

/* ---- R24 unlink ----------------------------------------------------------- */

/* R7, R24: caplimit_open and caplimit_destroy are no cancellation points.
 * A cancellation already pending when they are called must wait for the
 * next real one: were it acted on in the shm_open, fcntl or close inside
 * them, it would end the thread with the process's table of mappings
 * locked, and every later open or destroy in the process would hang. */
struct cancel_open {
    const char *name;
    int open_rc, destroy_rc, returned;
};

static void *open_with_cancel_pending(void *arg)
{
    struct cancel_open *c = arg;
    caplimit_t *lim = NULL;

    pthread_cancel(pthread_self());
    c->open_rc = caplimit_open(&lim, c->name, 0, 0, 0);
    c->destroy_rc = c->open_rc == 0 ? caplimit_destroy(lim) : -1;
    c->returned = 1;
    pthread_testcancel();
    return NULL;
}

START_TEST(test_R7_R24_open_and_destroy_are_no_cancellation_points)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1);
    struct cancel_open c = { name, -1, -1, 0 };
    pthread_t t;
    void *res = NULL;

    /* the thread's open maps the segment anew: no handle here meanwhile */
    sh_close(lim);
    ck_assert_int_eq(pthread_create(&t, NULL, open_with_cancel_pending, &c), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_int_eq(c.returned, 1);
    ck_assert_int_eq(c.open_rc, 0);
    ck_assert_int_eq(c.destroy_rc, 0);
    ck_assert_ptr_eq(res, PTHREAD_CANCELED);
    /* and the process can still open it */
    lim = sh_open(name);
    sh_close(lim);
    ck_assert_int_eq(caplimit_unlink(name), 0);
}
END_TEST

START_TEST(test_R24_unlink_keeps_open_handles_working)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, 1), *fresh, *out = NULL;

    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_unlink(name), 0);
    ck_assert_int_eq(caplimit_open(&out, name, 0, 0, 0), ENOENT);
    ck_assert_int_eq(caplimit_unlink(name), ENOENT);
    /* the old handle still works */
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[0]), EWOULDBLOCK);
    ck_assert_int_eq(caplimit_set_total_tokens(lim, 2), 0);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &sh_objs[0]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), 2);
    /* the name can be made again: another limiter */
    fresh = sh_create(name, 5);
    ck_assert_uint_eq(caplimit_total_tokens(fresh), 5);
    ck_assert_uint_eq(caplimit_borrowed_tokens(fresh), 0);
    ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &sh_objs[0]), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    ck_assert_uint_eq(caplimit_total_tokens(lim), 2);
    sh_close(lim);
    sh_close(fresh);
}
END_TEST

START_TEST(test_R24_unlink_errors)
{
    const char *missing = sh_name();

    ck_assert_int_eq(caplimit_unlink(NULL), EINVAL);
    ck_assert_int_eq(caplimit_unlink(""), EINVAL);
    ck_assert_int_eq(caplimit_unlink("/"), EINVAL);
    ck_assert_int_eq(caplimit_unlink("caplimit-test-noslash"), EINVAL);
    ck_assert_int_eq(caplimit_unlink("/caplimit-test/inside"), EINVAL);
    ck_assert_int_eq(caplimit_unlink(sh_name_len(201)), ENAMETOOLONG);
    ck_assert_int_eq(caplimit_unlink(missing), ENOENT);
}
END_TEST

/* ---- R24 the creation race ------------------------------------------------ */

#define RACERS 8
#define RACE_ROUNDS 12

struct race {
    const char *name;
    struct sh_gate gate;
    int oflag;
    int i;
};

/* Each racer reports through its exit status: 0 failed, else 1 + the
 * total it saw (totals are small), or 200 + an errno of interest. */
static void racer(void *arg)
{
    struct race *r = arg;
    caplimit_t *lim = NULL;
    struct timespec d;
    int rc;

    sh_gate_wait(&r->gate);
    d = harness_deadline_ms(HARNESS_POLL_MS);
    for (;;) {
        rc = caplimit_open(&lim, r->name, r->oflag, 0600, (size_t)(10 + r->i));
        /* an opener without O_CREAT may come before any creator */
        if (rc != ENOENT || r->oflag != 0 || harness_past(&d))
            break;
    }
    if (rc == EEXIST && r->oflag == (O_CREAT | O_EXCL))
        _exit(200);
    CHILD_CHECK_EQ(rc, 0);
    CHILD_CHECK_EQ(caplimit_is_shared(lim), 1);
    /* the limiter works at once: never half made */
    CHILD_CHECK_EQ(caplimit_acquire_on_behalf_of(lim, &sh_objs[r->i]), 0);
    CHILD_CHECK_EQ(caplimit_release_on_behalf_of(lim, &sh_objs[r->i]), 0);
    rc = (int)caplimit_total_tokens(lim);
    CHILD_CHECK(rc >= 10 && rc < 10 + RACERS);
    _exit(1 + rc);
}

static void race_round(int mixed, int excl)
{
    struct race r[RACERS];
    struct sh_child *c[RACERS];
    struct sh_gate gate;
    const char *name = sh_name();
    caplimit_t *lim;
    int i, total = -1, winners = 0, status;

    sh_gate_init(&gate);
    for (i = 0; i < RACERS; i++) {
        r[i].name = name;
        r[i].gate = gate;
        r[i].i = i;
        r[i].oflag = excl ? O_CREAT | O_EXCL : (mixed && i % 2) ? 0 : O_CREAT;
        c[i] = sh_fork(racer, &r[i]);
    }
    sh_gate_open(&gate);
    for (i = 0; i < RACERS; i++) {
        status = sh_reap(c[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                      "racer %d failed (status 0x%x)", i, status);
        sh_forget(c[i]);
        status = WEXITSTATUS(status);
        if (status == 200) {
            ck_assert(excl);
            continue;
        }
        winners++;
        if (total < 0)
            total = status - 1;
        ck_assert_msg(status - 1 == total, "racer %d saw total %d, another %d", i,
                      status - 1, total);
    }
    if (excl)
        ck_assert_int_eq(winners, 1);
    else
        ck_assert_int_eq(winners, RACERS);
    lim = sh_open(name);
    ck_assert_int_eq((int)caplimit_total_tokens(lim), total);
    harness_assert_counts(lim, 0, 0);
    sh_close(lim);
    ck_assert_int_eq(caplimit_unlink(name), 0);
}

START_TEST(test_R24_creation_race_gives_one_limiter)
{
    int round;

    for (round = 0; round < RACE_ROUNDS; round++)
        race_round(0, 0);
}
END_TEST

START_TEST(test_R24_creation_race_opener_never_sees_half_made)
{
    int round;

    for (round = 0; round < RACE_ROUNDS; round++)
        race_round(1, 0);
}
END_TEST

START_TEST(test_R24_excl_race_exactly_one_wins)
{
    int round;

    for (round = 0; round < RACE_ROUNDS; round++)
        race_round(0, 1);
}
END_TEST

/* ---- R27 a name that holds no limiter ------------------------------------- */

static void make_foreign(const char *name, size_t size, unsigned seed)
{
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    unsigned char buf[4096];
    size_t i, done;

    ck_assert_msg(fd >= 0, "shm_open: %s", strerror(errno));
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    for (done = 0; done < size; done += sizeof buf) {
        for (i = 0; i < sizeof buf; i++)
            buf[i] = (unsigned char)rand_r(&seed);
        ck_assert_int_gt(write(fd, buf, size - done < sizeof buf ? size - done : sizeof buf), 0);
    }
    close(fd);
}

START_TEST(test_R27_name_with_garbage_is_EPROTO)
{
    static const size_t sizes[] = { 1, 7, 64, 256, 4096, 65536, 1 << 20 };
    caplimit_t *mark = (caplimit_t *)&sh_objs[5], *out = mark;
    size_t i;

    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *name = sh_name();

        make_foreign(name, sizes[i], (unsigned)i + 1);
        ck_assert_msg(caplimit_open(&out, name, 0, 0, 0) == EPROTO, "size %zu", sizes[i]);
        ck_assert_int_eq(caplimit_open(&out, name, O_CREAT, 0600, 1), EPROTO);
        ck_assert_int_eq(caplimit_open(&out, name, O_CREAT | O_EXCL, 0600, 1), EEXIST);
        ck_assert_ptr_eq(out, mark);
    }
}
END_TEST

START_TEST(test_R27_zero_length_object_is_EPROTO)
{
    const char *name = sh_name();
    caplimit_t *mark = (caplimit_t *)&sh_objs[5], *out = mark;
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    struct stat sb;

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(caplimit_open(&out, name, 0, 0, 0), EPROTO);
    ck_assert_int_eq(caplimit_open(&out, name, O_CREAT, 0600, 1), EPROTO);
    ck_assert_ptr_eq(out, mark);
    /* the foreign object was left as it was */
    fd = shm_open(name, O_RDONLY, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &sb), 0);
    ck_assert_int_eq((int)sb.st_size, 0);
    close(fd);
}
END_TEST

START_TEST(test_R27_zero_filled_object_is_EPROTO)
{
    const char *name = sh_name();
    caplimit_t *mark = (caplimit_t *)&sh_objs[5], *out = mark;
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    ck_assert_int_eq(caplimit_open(&out, name, 0, 0, 0), EPROTO);
    ck_assert_ptr_eq(out, mark);
}
END_TEST

/* ---- R28 room ------------------------------------------------------------- */

#define ROOM 1024
#define ROOM_PROBE_CAP (1 << 17)

START_TEST(test_R28_room_for_1024_borrowers_then_ENOSPC)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, CAPLIMIT_INFINITE);
    char *objs = malloc(ROOM_PROBE_CAP);
    struct harness_state before;
    struct caplimit_statistics st;
    size_t i, n;
    int rc = 0;

    ck_assert_ptr_nonnull(objs);
    for (n = 0; n < ROOM_PROBE_CAP; n++) {
        rc = caplimit_acquire_on_behalf_of_nowait(lim, &objs[n]);
        if (rc != 0)
            break;
    }
    ck_assert_msg(n >= ROOM, "room for only %zu borrowers (rc %d)", n, rc);
    if (n < ROOM_PROBE_CAP) {
        ck_assert_int_eq(rc, ENOSPC);
        harness_snap(lim, &before);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[n]), ENOSPC);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &objs[n]), ENOSPC);
        ck_assert_int_eq(caplimit_acquire(lim), ENOSPC);
        ck_assert_int_eq(caplimit_acquire_tokens_nowait(lim, &objs[n], 2), ENOSPC);
        harness_assert_unchanged(lim, &before);
        harness_snap_free(&before);
        ck_assert_int_eq(caplimit_holds(lim), 0);
    } else {
        fprintf(stderr, "%s: room beyond %d borrowers\n", __func__, ROOM_PROBE_CAP);
    }
    ck_assert_int_eq(caplimit_statistics(lim, &st), 0);
    ck_assert_uint_eq(st.nborrowers, n);
    ck_assert_uint_eq(st.borrowed_tokens, n);
    caplimit_statistics_destroy(&st);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    harness_assert_counts(lim, 0, 0);
    /* a freed slot is room again */
    ck_assert_int_eq(caplimit_acquire(lim), 0);
    ck_assert_int_eq(caplimit_release(lim), 0);
    free(objs);
    sh_close(lim);
}
END_TEST

START_TEST(test_R28_1024_borrowers_with_a_total_of_1024)
{
    const char *name = sh_name();
    caplimit_t *lim = sh_create(name, ROOM);
    static char objs[ROOM + 1];
    size_t i;

    for (i = 0; i < ROOM; i++)
        ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[i]), 0);
    ck_assert_uint_eq(caplimit_borrowed_tokens(lim), ROOM);
    ck_assert_int_eq(caplimit_acquire_on_behalf_of_nowait(lim, &objs[ROOM]), EWOULDBLOCK);
    for (i = 0; i < ROOM; i++)
        ck_assert_int_eq(caplimit_release_on_behalf_of(lim, &objs[i]), 0);
    harness_assert_counts(lim, 0, 0);
    sh_close(lim);
}
END_TEST

/* Waiters: WPROCS processes of WTHREADS threads, then more processes of
 * WTHREADS until one acquire is refused with ENOSPC. */
#define WPROCS 4
#define WTHREADS 256
#define WMAXPROCS 16

struct room_page {
    int queued;                  /* acquires that returned, by result */
    int enospc;
    int canceled;
    int other;
};

static const char *room_name;
static struct room_page *room_page;

static void *room_waiter(void *arg)
{
    caplimit_t *lim = arg;
    int rc = caplimit_acquire(lim);

    if (rc == ENOSPC)
        __atomic_fetch_add(&room_page->enospc, 1, __ATOMIC_SEQ_CST);
    else if (rc == ECANCELED)
        __atomic_fetch_add(&room_page->canceled, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&room_page->other, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void room_child(void *arg)
{
    caplimit_t *lim = NULL;
    pthread_t t[WTHREADS];
    pthread_attr_t attr;
    int i;

    (void)arg;
    CHILD_CHECK_EQ(caplimit_open(&lim, room_name, 0, 0, 0), 0);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (i = 0; i < WTHREADS; i++)
        CHILD_CHECK_EQ(pthread_create(&t[i], &attr, room_waiter, lim), 0);
    for (i = 0; i < WTHREADS; i++)
        CHILD_CHECK_EQ(pthread_join(t[i], NULL), 0);
}

START_TEST(test_R28_room_for_1024_waiters_then_ENOSPC)
{
    caplimit_t *lim;
    struct sh_child *c[WMAXPROCS];
    struct harness_state before;
    size_t waiting, target;
    int i, nproc = 0;

    room_name = sh_name();
    room_page = sh_shared_page(sizeof *room_page);
    lim = sh_create(room_name, 0);
    for (; nproc < WPROCS; nproc++) {
        c[nproc] = sh_fork(room_child, NULL);
        target = (size_t)(nproc + 1) * WTHREADS;
        POLL_UNTIL(caplimit_threads_waiting(lim) == target);
    }
    ck_assert_int_eq(LOAD(&room_page->enospc), 0);
    /* more until the room is full */
    while (LOAD(&room_page->enospc) == 0 && nproc < WMAXPROCS) {
        c[nproc++] = sh_fork(room_child, NULL);
        POLL_UNTIL(caplimit_threads_waiting(lim) + (size_t)LOAD(&room_page->enospc) ==
                   (size_t)nproc * WTHREADS);
    }
    waiting = caplimit_threads_waiting(lim);
    ck_assert_uint_ge(waiting, ROOM);
    if (LOAD(&room_page->enospc) > 0) {
        /* one more is refused and changes nothing */
        harness_snap(lim, &before);
        ck_assert_uint_eq(before.st.threads_waiting, waiting);
        ck_assert_int_eq(caplimit_acquire(lim), ENOSPC);
        ck_assert_int_eq(caplimit_acquire_on_behalf_of(lim, &sh_objs[0]), ENOSPC);
        harness_assert_unchanged(lim, &before);
        harness_snap_free(&before);
    } else {
        fprintf(stderr, "%s: room beyond %d waiters\n", __func__, WMAXPROCS * WTHREADS);
    }
    ck_assert_int_eq(caplimit_close(lim), 0);
    for (i = 0; i < nproc; i++)
        sh_reap_ok(c[i]);
    ck_assert_int_eq(LOAD(&room_page->other), 0);
    ck_assert_uint_eq((size_t)LOAD(&room_page->canceled), waiting);
    harness_assert_counts(lim, 0, 0);
    sh_close(lim);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shared_open");
    TCase *tc = tcase_create("open");

    tcase_add_checked_fixture(tc, sh_setup, sh_cleanup);
    tcase_add_test(tc, test_R24_open_create_then_open_existing);
    tcase_add_test(tc, test_R24_creator_total_zero_and_infinite);
    tcase_add_test(tc, test_R24_excl_and_enoent);
    tcase_add_test(tc, test_R24_open_einval);
    tcase_add_test(tc, test_R24_name_of_200_characters_and_ENAMETOOLONG);
    tcase_add_test(tc, test_R24_EACCES_for_another_user);
    tcase_add_test(tc, test_R24_is_shared);
    tcase_add_test(tc, test_R24_destroy_leaves_the_limiter_to_others);
    tcase_add_test(tc, test_R24_destroy_EBUSY_while_this_process_holds_or_waits);
    tcase_add_test(tc, test_R7_R24_open_and_destroy_are_no_cancellation_points);
    tcase_add_test(tc, test_R24_unlink_keeps_open_handles_working);
    tcase_add_test(tc, test_R24_unlink_errors);
    tcase_add_test(tc, test_R24_creation_race_gives_one_limiter);
    tcase_add_test(tc, test_R24_creation_race_opener_never_sees_half_made);
    tcase_add_test(tc, test_R24_excl_race_exactly_one_wins);
    tcase_add_test(tc, test_R27_name_with_garbage_is_EPROTO);
    tcase_add_test(tc, test_R27_zero_length_object_is_EPROTO);
    tcase_add_test(tc, test_R27_zero_filled_object_is_EPROTO);
    tcase_add_test(tc, test_R28_room_for_1024_borrowers_then_ENOSPC);
    tcase_add_test(tc, test_R28_1024_borrowers_with_a_total_of_1024);
    tcase_add_test(tc, test_R28_room_for_1024_waiters_then_ENOSPC);
    suite_add_tcase(s, tc);
    return sh_main(s);
}
