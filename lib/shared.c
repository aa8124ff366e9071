/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * The shared store (R24..R28): a limiter's state and tables in a POSIX
 * shared memory object that every process maps at an address of its own.
 * The protocol (queue.c) is the same; what differs lives here:
 *
 *   the lock     a robust, process-shared mutex.  EOWNERDEAD means its
 *                owner died inside a call: the state is rebuilt from the
 *                slots (cl_rebuild), whose status words make each slot
 *                whole or free at every instruction, then made consistent.
 *   liveness     each process that maps the segment holds an open-file-
 *                description lock on one byte, its process slot's: the
 *                kernel drops it when the process ends however it ends,
 *                so "is it alive" is the kernel's word, not a guess from a
 *                pid that may have been reused (LMDB's reader table).
 *   wakes        a futex word in each waiter slot: one sleeper per word.
 *   trust        nothing read from the segment is believed unchecked
 *                (R27): the sizes are compiled in, slot numbers are checked
 *                at each use (cl_waiter_at, cl_entry_at), walks are bounded.
 *
 * One mapping per segment per process, shared by every handle of that
 * process: the process holds one liveness lock, whatever its handles.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FUTEX_WAIT                             /* not every libc brings linux/futex.h */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#endif

#define CL_SHM_MAGIC 0x31746d696c706163ULL    /* "caplimt1" */
#define CL_SHM_LAYOUT 1
#define CL_SHM_ENTRIES 2048                    /* R28: 1024 holders + 1024 queued */
#define CL_SHM_WAITERS 1088                    /* R28: 1024 waiters + drainers */
#define CL_SHM_PROCS 4096
#define CL_SHM_INDEX 4096                      /* at most half full */
#define CL_NAME_MAX 200                        /* R24 */
#define CL_LOCK_INIT 0                         /* byte locked while a segment is made */
#define CL_LOCK_PROC 1                         /* first process slot's byte */
#define CL_RECLAIM_NS 20000000ULL              /* look for the dead at most so often */
#define CL_POLL_NS 40000000LL                  /* R26: a waiter looks at least this often */

struct cl_proc {
    pid_t pid;
    uint32_t in_use;
};

/* The first 256 bytes: what identifies the segment, and its lock. */
struct cl_header {
    uint64_t magic;                  /* written last when made */
    uint32_t layout;
    uint32_t word;                   /* sizeof(size_t): 32- and 64-bit differ */
    uint64_t size;
    uint32_t ecap, wcap, pcap, icap;
    unsigned long long created_ns;   /* CLOCK_REALTIME */
    unsigned long long last_reclaim_ns;
    pthread_mutex_t lock;
};

struct cl_segment {
    union {
        struct cl_header h;
        char pad[256];
    } u;
    struct cl_state st;
    struct cl_proc procs[CL_SHM_PROCS];
    struct cl_entry entries[CL_SHM_ENTRIES];
    struct cl_islot index[CL_SHM_INDEX];
    struct cl_waiter waiters[CL_SHM_WAITERS];
};

/* This process's mapping of one segment. */
struct cl_shared {
    struct cl_segment *seg;
    int fd;
    dev_t dev;
    ino_t ino;
    pid_t pid;                       /* the process that registered */
    uint32_t proc;                   /* its slot + 1, 0 until registered */
    size_t handles;
    unsigned inflight;               /* wakes chosen, not yet sent: atomic */
    struct cl_shared *next;
};

static pthread_mutex_t cl_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_shared *cl_maps;
static pthread_once_t cl_atfork_once = PTHREAD_ONCE_INIT;

/* ---- Names, and errno kept as it was ------------------------------------ */

static int check_name(const char *name)
{
    size_t len;

    if (name == NULL || name[0] != '/')
        return EINVAL;
    len = strnlen(name + 1, CL_NAME_MAX + 1);
    if (len == 0 || memchr(name + 1, '/', len) != NULL)
        return EINVAL;
    return len > CL_NAME_MAX ? ENAMETOOLONG : 0;
}

static unsigned long long now_ns(clockid_t clock)
{
    struct timespec t;

    clock_gettime(clock, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

/* ---- Liveness: a lock on one byte per process -------------------------- */

static int byte_lock(int fd, int cmd, short type, off_t at)
{
    struct flock fl;

    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = at;
    fl.l_len = 1;
    if (fcntl(fd, cmd, &fl) != 0)
        return -1;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

/* 1 while process slot p's owner lives, as the kernel says. */
static int proc_alive(const struct cl_shared *m, uint32_t p)
{
    return byte_lock(m->fd, F_OFD_GETLK, F_WRLCK, CL_LOCK_PROC + (off_t)p) != 0;
}

/* Under the segment lock: a process slot for this process (R25).  A slot
 * left by a dead process is first emptied of what it held (R26). */
static int register_process(caplimit_t *lim)
{
    struct cl_shared *m = lim->shared;
    struct cl_segment *seg = m->seg;
    uint32_t p;

    for (p = 0; p < CL_SHM_PROCS; p++) {
        if (seg->procs[p].in_use && proc_alive(m, p))
            continue;
        if (byte_lock(m->fd, F_OFD_SETLK, F_WRLCK, CL_LOCK_PROC + (off_t)p) != 0)
            continue;                /* alive after all, its slot scribbled */
        if (seg->procs[p].in_use)
            cl_reclaim_process(lim, p + 1);
        seg->procs[p].pid = getpid();
        seg->procs[p].in_use = 1;
        m->proc = p + 1;
        m->pid = getpid();
        return 0;
    }
    return ENOSPC;
}

static void unregister_process(struct cl_shared *m)
{
    uint32_t p = m->proc - 1;

    if (m->proc == 0)
        return;
    m->seg->procs[p].in_use = 0;
    m->seg->procs[p].pid = 0;
    byte_lock(m->fd, F_OFD_SETLK, F_UNLCK, CL_LOCK_PROC + (off_t)p);
    m->proc = 0;
}

/* R25: a child made by fork shares its parent's open file descriptions,
 * and so would keep the parent's liveness locks alive: give the child
 * descriptions of its own; it registers anew at its first call. */
static void after_fork_in_child(void)
{
    struct cl_shared *m;
    char path[64];

    for (m = cl_maps; m != NULL; m = m->next) {
        int fd;
        snprintf(path, sizeof path, "/proc/self/fd/%d", m->fd);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            dup3(fd, m->fd, O_CLOEXEC);
            close(fd);
        }
        m->proc = 0;
    }
    pthread_mutex_init(&cl_maps_lock, NULL);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* ---- The lock ---------------------------------------------------------- */

/* The mutex answered something no repair helps: a scribbled lock word. */
static void remake_lock(pthread_mutex_t *lock)
{
    pthread_mutexattr_t a;

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(lock, &a);
    pthread_mutexattr_destroy(&a);
    pthread_mutex_lock(lock);
}

/* What taking the lock answered: EOWNERDEAD is repaired, anything else
 * but 0 is a scribbled lock word; then this process's slot. */
static void locked(caplimit_t *lim, int rc)
{
    struct cl_shared *m = lim->shared;

    if (CL_UNLIKELY(rc != 0)) {
        if (rc == EOWNERDEAD) {
            /* R26: its owner died inside a call: rebuild from the slots,
             * give back what the dead held, then the lock is sound again */
            cl_rebuild(lim);
            cl_shared_reclaim(lim);
            pthread_mutex_consistent(&m->seg->u.h.lock);
        } else {
            remake_lock(&m->seg->u.h.lock);
            lim->corrupt = 1;
        }
    }
    /* a child made by fork starts with proc 0 (after_fork_in_child) */
    if (CL_UNLIKELY(m->proc == 0))
        register_process(lim);       /* no room leaves it 0: ENOSPC */
    lim->proc = m->proc;
}

int cl_shared_lock(caplimit_t *lim)
{
    locked(lim, pthread_mutex_lock(&lim->shared->seg->u.h.lock));
    return 0;
}

/* R27: a call with a deadline does not wait for ever for the lock, which a
 * scribbled lock word (or a stopped process) could hold for ever.  It
 * waits until a second past its deadline: the lock is held for
 * microseconds, so a call that takes it late still counts (R19) and may
 * still be granted at once (R6). */
#define CL_LOCK_GRACE_NS 1000000000LL

/* ThreadSanitizer does not see pthread_mutex_clocklock take a lock, and
 * then reports every unlock of it: its builds wait without the bound. */
#if defined(__SANITIZE_THREAD__)
#define CL_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CL_UNDER_TSAN 1
#endif
#endif

#ifdef CL_UNDER_TSAN
int cl_shared_lock_until(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    (void)clock;
    (void)abstime;
    return cl_shared_lock(lim);
}
#else
int cl_shared_lock_until(caplimit_t *lim, clockid_t clock, const struct timespec *abstime)
{
    pthread_mutex_t *lock = &lim->shared->seg->u.h.lock;
    struct timespec now, until;
    long long ns;
    clockid_t on;
    int rc;

#ifdef HAVE_PTHREAD_MUTEX_CLOCKLOCK
    on = CLOCK_MONOTONIC;
#else
    on = CLOCK_REALTIME;             /* pthread_mutex_timedlock's clock */
#endif
    clock_gettime(clock, &now);
    if (abstime->tv_sec - now.tv_sec > 1000000)
        ns = 1000000LL * 1000000000LL;
    else
        ns = (long long)(abstime->tv_sec - now.tv_sec) * 1000000000LL
           + (abstime->tv_nsec - now.tv_nsec);
    if (ns < 0)
        ns = 0;
    ns += CL_LOCK_GRACE_NS;
    clock_gettime(on, &until);
    ns += until.tv_nsec;
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
#ifdef HAVE_PTHREAD_MUTEX_CLOCKLOCK
    rc = pthread_mutex_clocklock(lock, on, &until);
#else
    rc = pthread_mutex_timedlock(lock, &until);
#endif
    if (rc == ETIMEDOUT)
        return ETIMEDOUT;
    locked(lim, rc);
    return 0;
}
#endif

void cl_shared_unlock(caplimit_t *lim)
{
    pthread_mutex_unlock(&lim->shared->seg->u.h.lock);
}

/* ---- Dead processes (R26) ---------------------------------------------- */

void cl_shared_reclaim(caplimit_t *lim)
{
    struct cl_shared *m = lim->shared;
    struct cl_segment *seg = m->seg;
    uint32_t p;

    seg->u.h.last_reclaim_ns = now_ns(CLOCK_MONOTONIC);
    for (p = 0; p < CL_SHM_PROCS; p++) {
        if (!seg->procs[p].in_use || p + 1 == m->proc || proc_alive(m, p))
            continue;
        cl_reclaim_process(lim, p + 1);
        seg->procs[p].in_use = 0;
        seg->procs[p].pid = 0;
    }
}

pid_t cl_shared_pid_of(const caplimit_t *lim, uint32_t proc)
{
    if (proc == 0 || proc > CL_SHM_PROCS)
        return 0;
    return lim->shared->seg->procs[proc - 1].pid;
}

/* ---- Sleeping and waking ----------------------------------------------- */

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *t)
{
    return syscall(SYS_futex, word, op, val, t, NULL, 0);
}

unsigned *cl_shared_inflight(caplimit_t *lim)
{
    return &lim->shared->inflight;
}

void cl_shared_wake(const struct cl_wake *wake)
{
    /* RELEASE: what the waker wrote under the lock is there before the
     * sleeper sees the word move (it re-reads the state under the lock) */
    __atomic_fetch_add(wake->futex, 1, __ATOMIC_RELEASE);
    futex(wake->futex, FUTEX_WAKE, 1, NULL);
}

/* The span to sleep: until abstime on its clock, at most CL_POLL_NS. */
static struct timespec span_until(clockid_t clock, const struct timespec *abstime)
{
    struct timespec t = { 0, CL_POLL_NS };
    long long ns;

    if (abstime == NULL)
        return t;
    clock_gettime(clock, &t);
    if (abstime->tv_sec - t.tv_sec > 1)
        ns = CL_POLL_NS;
    else
        ns = (long long)(abstime->tv_sec - t.tv_sec) * 1000000000LL
           + (abstime->tv_nsec - t.tv_nsec);
    if (ns > CL_POLL_NS)
        ns = CL_POLL_NS;
    if (ns < 0)
        ns = 0;
    t.tv_sec = 0;
    t.tv_nsec = ns;
    return t;
}

static int passed(clockid_t clock, const struct timespec *abstime)
{
    struct timespec now;

    if (abstime == NULL)
        return 0;
    clock_gettime(clock, &now);
    return now.tv_sec > abstime->tv_sec
        || (now.tv_sec == abstime->tv_sec && now.tv_nsec >= abstime->tv_nsec);
}

int cl_shared_sleep(caplimit_t *lim, uint32_t w, clockid_t clock,
                    const struct timespec *abstime, int *locked)
{
    uint32_t *word = &cl_waiter_at(lim, w)->futex;
    /* ACQUIRE: pairs with the waker's RELEASE; read under the lock, so a
     * wake sent after we drop it moves the word and the wait returns */
    uint32_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    struct timespec span = span_until(clock, abstime);
    int type;

    if (passed(clock, abstime))
        return ETIMEDOUT;
    *locked = 0;
    cl_shared_unlock(lim);
    /* the futex wait is this wait's cancellation point (R7): only the
     * system call runs with asynchronous cancellation, never the lock */
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
    futex(word, FUTEX_WAIT, seen, &span);
    pthread_setcanceltype(type, NULL);
    cl_shared_lock(lim);
    *locked = 1;
    if (now_ns(CLOCK_MONOTONIC) - lim->shared->seg->u.h.last_reclaim_ns > CL_RECLAIM_NS)
        cl_shared_reclaim(lim);
    return passed(clock, abstime) ? ETIMEDOUT : 0;
}

/* ---- Making and checking a segment (R24, R27) -------------------------- */

static void init_segment(struct cl_segment *seg, size_t total)
{
    pthread_mutexattr_t a;
    struct cl_state *s = &seg->st;
    uint32_t i;

    seg->u.h.layout = CL_SHM_LAYOUT;
    seg->u.h.word = sizeof(size_t);
    seg->u.h.size = sizeof *seg;
    seg->u.h.ecap = CL_SHM_ENTRIES;
    seg->u.h.wcap = CL_SHM_WAITERS;
    seg->u.h.pcap = CL_SHM_PROCS;
    seg->u.h.icap = CL_SHM_INDEX;
    seg->u.h.created_ns = now_ns(CLOCK_REALTIME);
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&seg->u.h.lock, &a);
    pthread_mutexattr_destroy(&a);
    memset(s, 0, sizeof *s);
    s->total = total;
    s->policy = CAPLIMIT_POLICY_FIFO;
    s->bypass_ns = CL_DEFAULT_BYPASS_NS;
    s->head = s->tail = s->drainers = s->holders = CL_NIL;
    for (i = 0; i < CL_SHM_INDEX; i++)
        seg->index[i].entry = CL_NIL;
    s->free_entry = CL_NIL;
    for (i = CL_SHM_ENTRIES; i-- > 0;) {
        seg->entries[i].next = s->free_entry;
        s->free_entry = i;
    }
    s->free_waiter = CL_NIL;
    for (i = CL_SHM_WAITERS; i-- > 0;) {
        seg->waiters[i].next = s->free_waiter;
        s->free_waiter = i;
    }
    __atomic_store_n(&seg->u.h.magic, CL_SHM_MAGIC, __ATOMIC_RELEASE);
}

static int segment_is_ours(const struct cl_segment *seg)
{
    const struct cl_header *h = &seg->u.h;

    return __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == CL_SHM_MAGIC
        && h->layout == CL_SHM_LAYOUT && h->word == sizeof(size_t)
        && h->size == sizeof *seg && h->ecap == CL_SHM_ENTRIES
        && h->wcap == CL_SHM_WAITERS && h->pcap == CL_SHM_PROCS
        && h->icap == CL_SHM_INDEX;
}

/* Under the init lock: the object's size says whether it was made. */
static int map_segment(int fd, int made, size_t total, struct cl_segment **out)
{
    struct stat st;
    int fresh;
    void *p;

    if (fstat(fd, &st) != 0)
        return errno;
    fresh = st.st_size == 0;
    if (fresh && !made)
        return EAGAIN;               /* being made by another: look again */
    if (fresh && ftruncate(fd, sizeof **out) != 0)
        return errno == EFBIG ? ENOSPC : errno;
    if (!fresh && (size_t)st.st_size != sizeof **out)
        return EPROTO;
    p = mmap(NULL, sizeof **out, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return errno;
    if (fresh) {
        init_segment(p, total);
    } else if (!segment_is_ours(p)) {
        munmap(p, sizeof **out);
        return EPROTO;
    }
    *out = p;
    return 0;
}

/* Opens the object: made by us only with O_EXCL, so a racing creator and
 * opener agree on who makes it. */
static int open_object(const char *name, int oflag, mode_t mode, int *made)
{
    int fd, tries;

    for (tries = 0; tries < 100; tries++) {
        if (oflag & O_CREAT) {
            fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
            if (fd >= 0) {
                *made = 1;
                return fd;
            }
            if (errno != EEXIST || (oflag & O_EXCL))
                return -errno;
        }
        fd = shm_open(name, O_RDWR, 0);
        if (fd >= 0) {
            *made = 0;
            return fd;
        }
        if (errno != ENOENT || !(oflag & O_CREAT))
            return -errno;
        /* unlinked between the two calls: try again */
    }
    return -EAGAIN;
}

/* The object open as fd, mapped and checked; a segment in the making is
 * waited for under its init lock, which its maker holds. */
static int map_object(int fd, int made, size_t total, struct cl_segment **out)
{
    struct timespec pause = { 0, 1000000 };
    int rc, tries;

    for (tries = 0; tries < 1000; tries++) {
        if (byte_lock(fd, F_OFD_SETLKW, F_WRLCK, CL_LOCK_INIT) != 0)
            return errno == EINTR ? EAGAIN : errno;
        rc = map_segment(fd, made, total, out);
        byte_lock(fd, F_OFD_SETLK, F_UNLCK, CL_LOCK_INIT);
        if (rc != EAGAIN)
            return rc;
        nanosleep(&pause, NULL);     /* its maker has not locked it yet */
    }
    /* empty for a second: holds no limiter (or its maker died before it
     * sized it: unlink the name to start again) */
    return EPROTO;
}

static struct cl_shared *find_mapping(dev_t dev, ino_t ino)
{
    struct cl_shared *m;

    for (m = cl_maps; m != NULL; m = m->next)
        if (m->dev == dev && m->ino == ino)
            return m;
    return NULL;
}

/* This process's mapping of the object open as fd, made or shared. */
static int attach(int fd, int made, size_t total, struct cl_shared **out)
{
    struct cl_shared *m;
    struct stat st;
    int rc;

    if (fstat(fd, &st) != 0)
        return errno;
    if ((m = find_mapping(st.st_dev, st.st_ino)) != NULL) {
        close(fd);                   /* an OFD lock is not dropped by this */
        m->handles++;
        *out = m;
        return 0;
    }
    if ((m = cl_malloc(sizeof *m)) == NULL)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    m->fd = fd;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->pid = getpid();
    if ((rc = map_object(fd, made, total, &m->seg)) != 0) {
        cl_free(m);
        return rc;
    }
    m->handles = 1;
    m->next = cl_maps;
    cl_maps = m;
    *out = m;
    return 0;
}

static void detach(struct cl_shared *m)
{
    struct cl_shared **p;

    if (--m->handles != 0)
        return;
    for (p = &cl_maps; *p != NULL; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    /* a waker of this process may be about to touch a futex word of the
     * segment (cl_unlock sends wakes after the unlock): the mapping must
     * outlive it.  ACQUIRE pairs with send_wake's RELEASE. */
    while (__atomic_load_n(&m->inflight, __ATOMIC_ACQUIRE) != 0)
        sched_yield();
    munmap(m->seg, sizeof *m->seg);
    close(m->fd);
    cl_free(m);
}

static void point_handle(caplimit_t *lim, struct cl_shared *m)
{
    struct cl_segment *seg = m->seg;

    lim->shared = m;
    lim->st = &seg->st;
    lim->lock = &seg->u.h.lock;
    lim->entries = seg->entries;
    lim->index = seg->index;
    lim->waiters = seg->waiters;
    lim->ecap = CL_SHM_ENTRIES;
    lim->wcap = CL_SHM_WAITERS;
    lim->imask = CL_SHM_INDEX - 1;
}

static int open_handle(caplimit_t *lim, const char *name, int oflag, mode_t mode,
                       size_t total)
{
    struct cl_shared *m = NULL;
    int made = 0, fd, rc;

    fd = open_object(name, oflag, mode, &made);
    if (fd < 0)
        return -fd;
    if ((rc = attach(fd, made, total, &m)) != 0) {
        close(fd);
        if (made)
            shm_unlink(name);        /* no half-made limiter is left behind */
        return rc;
    }
    point_handle(lim, m);
    cl_lock(lim);                    /* registers this process (R25) */
    rc = m->proc == 0 ? ENOSPC : 0;
    if (rc == 0)
        cl_shared_reclaim(lim);      /* R26: open notices the dead at once */
    rc = cl_unlock(lim) ? EPROTO : rc;
    if (rc != 0)
        detach(m);
    return rc;
}

int caplimit_open(caplimit_t **out, const char *name, int oflag, mode_t mode,
                  size_t total_tokens)
{
    caplimit_t *lim;
    int saved = errno, rc, cancel;

    if (out == NULL)
        return EINVAL;
    if ((rc = check_name(name)) != 0)
        return rc;
    if ((oflag & ~(O_CREAT | O_EXCL)) != 0 || oflag == O_EXCL)
        return EINVAL;
    pthread_once(&cl_atfork_once, install_atfork);
    if ((lim = cl_malloc(sizeof *lim)) == NULL) {
        errno = saved;
        return ENOMEM;
    }
    memset(lim, 0, sizeof *lim);
    /* R7: no cancellation point; shm_open and fcntl(F_OFD_SETLKW) are,
     * and a cancel there would leave cl_maps_lock held for ever */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    pthread_mutex_lock(&cl_maps_lock);
    rc = open_handle(lim, name, oflag, mode, total_tokens);
    pthread_mutex_unlock(&cl_maps_lock);
    pthread_setcancelstate(cancel, NULL);
    if (rc != 0)
        cl_free(lim);
    else
        *out = lim;
    errno = saved;
    return rc;
}

int cl_shared_destroy(caplimit_t *lim)
{
    struct cl_shared *m = lim->shared;
    int busy, cancel;

    /* R7: close(2) in detach is a cancellation point; see caplimit_open */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    pthread_mutex_lock(&cl_maps_lock);
    cl_lock(lim);
    busy = cl_busy(lim);
    if (!busy && m->handles == 1)
        unregister_process(m);
    cl_unlock(lim);
    if (!busy) {
        detach(m);
        cl_free(lim);
    }
    pthread_mutex_unlock(&cl_maps_lock);
    pthread_setcancelstate(cancel, NULL);
    return busy ? EBUSY : 0;
}

int caplimit_unlink(const char *name)
{
    int saved = errno, rc;

    if ((rc = check_name(name)) != 0)
        return rc;
    rc = shm_unlink(name) == 0 ? 0 : errno;
    if (rc == EPERM)
        rc = EACCES;                 /* musl: unlink(2) in sticky /dev/shm; glibc maps it */
    errno = saved;
    return rc == ENOENT || rc == EACCES || rc == ENAMETOOLONG || rc == 0 ? rc : EINVAL;
}

int caplimit_is_shared(const caplimit_t *lim)
{
    return lim != NULL && lim->shared != NULL;
}
