/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 */
#include "shared_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define SH_MAX_NAMES 64
#define SH_MAX_CHILDREN 128
#define SH_MAX_AGENTS 32
#define SH_MAX_MSGS 4096
#define SH_SLOTS 16

char sh_objs[64];

static pid_t runner_pid;          /* the process that runs the suite */
static pid_t owner_pid;           /* the test's process: the one that cleans */
static char names[SH_MAX_NAMES][256];
static int nnames, name_counter;
static struct sh_child children[SH_MAX_CHILDREN];
static int nchildren;
static struct sh_agent agents[SH_MAX_AGENTS];
static int nagents;
static int reply_pipe[2] = { -1, -1 };
static struct sh_msg msgs[SH_MAX_MSGS];
static char consumed[SH_MAX_MSGS];
static int nmsgs;

/* In a child: where its failures go. */
static int child_report_fd = -1;

/* ---- Time ---------------------------------------------------------------- */

long long sh_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

void sh_spin_us(unsigned *seed, unsigned max_us)
{
    long long end = sh_now_ns() + (long long)(rand_r(seed) % (max_us + 1)) * 1000;
    while (sh_now_ns() < end)
        ;
}

/* ---- Names -------------------------------------------------------------- */

static const char *register_name(const char *name)
{
    ck_assert_int_lt(nnames, SH_MAX_NAMES);
    snprintf(names[nnames], sizeof names[nnames], "%s", name);
    (void)caplimit_unlink(name);
    (void)shm_unlink(name);
    return names[nnames++];
}

const char *sh_name(void)
{
    char buf[256];
    snprintf(buf, sizeof buf, "/caplimit-test-%d-%d-%d", (int)runner_pid, (int)getpid(),
             name_counter++);
    return register_name(buf);
}

const char *sh_name_len(size_t len)
{
    char buf[256];
    size_t n;

    ck_assert_uint_lt(len, sizeof buf - 1);
    snprintf(buf, sizeof buf, "/caplimit-test-%d-%d-%d-", (int)runner_pid, (int)getpid(),
             name_counter++);
    n = strlen(buf);
    ck_assert_uint_le(n, len + 1);
    while (n < len + 1)
        buf[n++] = 'x';
    buf[n] = '\0';
    return register_name(buf);
}

void sh_cleanup(void)
{
    int i;

    if (owner_pid != getpid())
        return;
    for (i = 0; i < nchildren; i++) {
        if (!children[i].reaped) {
            kill(children[i].pid, SIGKILL);
            while (waitpid(children[i].pid, &children[i].status, 0) < 0 && errno == EINTR)
                ;
            children[i].reaped = 1;
        }
        if (!children[i].forgotten)
            close(children[i].report);
    }
    for (i = 0; i < nagents; i++)
        if (agents[i].cmd >= 0)
            close(agents[i].cmd);
    for (i = 0; i < nnames; i++) {
        (void)caplimit_unlink(names[i]);
        (void)shm_unlink(names[i]);
    }
    if (reply_pipe[0] >= 0) {
        close(reply_pipe[0]);
        close(reply_pipe[1]);
    }
    reply_pipe[0] = reply_pipe[1] = -1;
    nchildren = nagents = nnames = nmsgs = 0;
}

static void cleanup_at_exit(void)
{
    sh_cleanup();
}

void sh_setup(void)
{
    static pid_t registered_in;

    owner_pid = getpid();
    if (registered_in != owner_pid) {
        registered_in = owner_pid;
        atexit(cleanup_at_exit);
    }
}

static void sweep(void)
{
    char prefix[64];
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    int left = 0;

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "caplimit-test-%d-", (int)runner_pid);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char path[300];
            snprintf(path, sizeof path, "/%s", e->d_name);
            (void)shm_unlink(path);
            left++;
        }
    }
    closedir(d);
    if (left > 0)
        fprintf(stderr, "shared tests: removed %d name(s) left by ended tests\n", left);
}

int sh_main(Suite *s)
{
    int rc;

    runner_pid = getpid();
    rc = harness_run(s);
    sweep();
    return rc;
}

caplimit_t *sh_create(const char *name, size_t total)
{
    caplimit_t *lim = NULL;
    int rc = caplimit_open(&lim, name, O_CREAT | O_EXCL, 0600, total);

    ck_assert_msg(rc == 0, "caplimit_open(%s, O_CREAT|O_EXCL): %s", name, strerror(rc));
    ck_assert_ptr_nonnull(lim);
    return lim;
}

caplimit_t *sh_open(const char *name)
{
    caplimit_t *lim = NULL;
    int rc = caplimit_open(&lim, name, 0, 0, 0);

    ck_assert_msg(rc == 0, "caplimit_open(%s, 0): %s", name, strerror(rc));
    ck_assert_ptr_nonnull(lim);
    return lim;
}

void sh_close(caplimit_t *lim)
{
    ck_assert_int_eq(caplimit_destroy(lim), 0);
}

/* ---- Plain children ------------------------------------------------------ */

static void child_report(const char *text)
{
    if (child_report_fd >= 0) {
        ssize_t n = write(child_report_fd, text, strlen(text));
        (void)n;
    }
    fprintf(stderr, "child %d: %s\n", (int)getpid(), text);
}

void sh_child_fail(const char *file, int line, const char *what)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%s:%d: %s", file, line, what);
    child_report(buf);
    _exit(1);
}

void sh_child_failf(const char *file, int line, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    sh_child_fail(file, line, what);
}

static struct sh_child *fork_child(void)
{
    int rp[2], i;
    struct sh_child *c;
    pid_t pid;

    for (i = 0; i < nchildren && !children[i].forgotten; i++)
        ;
    ck_assert_int_lt(i, SH_MAX_CHILDREN);
    ck_assert_int_eq(pipe(rp), 0);
    pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(rp[0]);
        child_report_fd = rp[1];
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        return NULL;
    }
    close(rp[1]);
    fcntl(rp[0], F_SETFL, O_NONBLOCK);
    fcntl(rp[0], F_SETFD, FD_CLOEXEC);
    c = &children[i];
    if (i == nchildren)
        nchildren++;
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->report = rp[0];
    return c;
}

struct sh_child *sh_fork(void (*fn)(void *), void *arg)
{
    struct sh_child *c = fork_child();

    if (c == NULL) {
        fn(arg);
        _exit(0);
    }
    return c;
}

static void read_report(struct sh_child *c, char *buf, size_t size)
{
    ssize_t n = read(c->report, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
}

static int try_reap(struct sh_child *c)
{
    pid_t r;

    if (c->reaped)
        return 1;
    r = waitpid(c->pid, &c->status, WNOHANG);
    if (r == c->pid)
        c->reaped = 1;
    return c->reaped;
}

int sh_reap(struct sh_child *c)
{
    struct timespec d = harness_deadline_ms(HARNESS_POLL_MS);

    while (!try_reap(c)) {
        if (harness_past(&d)) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            c->reaped = 1;
            ck_abort_msg("child %d did not end in time (killed)", (int)c->pid);
        }
        harness_yield();
    }
    return c->status;
}

static void assert_exited_ok(struct sh_child *c)
{
    char report[512];

    read_report(c, report, sizeof report);
    if (WIFSIGNALED(c->status))
        ck_abort_msg("child %d killed by signal %d; report: %s", (int)c->pid,
                     WTERMSIG(c->status), report);
    ck_assert_msg(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0,
                  "child %d exited with %d: %s", (int)c->pid, WEXITSTATUS(c->status), report);
}

void sh_reap_ok(struct sh_child *c)
{
    sh_reap(c);
    assert_exited_ok(c);
}

long long sh_kill(struct sh_child *c)
{
    ck_assert(!c->reaped);
    ck_assert_int_eq(kill(c->pid, SIGKILL), 0);
    while (waitpid(c->pid, &c->status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    c->reaped = 1;
    return sh_now_ns();
}

void sh_forget(struct sh_child *c)
{
    ck_assert(c->reaped);
    close(c->report);
    c->forgotten = 1;
}

void sh_gate_init(struct sh_gate *g)
{
    ck_assert_int_eq(pipe(g->fd), 0);
}

void sh_gate_wait(struct sh_gate *g)
{
    char b;
    struct pollfd p;

    close(g->fd[1]);
    p.fd = g->fd[0];
    p.events = POLLIN;
    CHILD_CHECK(poll(&p, 1, HARNESS_POLL_MS) == 1);
    CHILD_CHECK(read(g->fd[0], &b, 1) == 0);
    close(g->fd[0]);
}

void sh_gate_open(struct sh_gate *g)
{
    close(g->fd[1]);
    close(g->fd[0]);
}

void *sh_shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, size);
    return p;
}

/* ---- Agents: the child's side --------------------------------------------- */

struct sh_cmd {
    int op;
    long long x[6];
};

struct slot {
    pthread_t thread;
    int used;
    int v, obj, autorelease;
    long ms;
    size_t n;
    int go;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static caplimit_t *agent_lim;
static int agent_id;
static struct slot slots[SH_SLOTS];

static void agent_send(int type, int slot, int rc, long long val)
{
    struct sh_msg m;

    memset(&m, 0, sizeof m);
    m.agent = agent_id;
    m.type = type;
    m.slot = slot;
    m.rc = rc;
    m.t = sh_now_ns();
    m.val = val;
    CHILD_CHECK(write(reply_pipe[1], &m, sizeof m) == (ssize_t)sizeof m);
}

static const void *agent_obj(long long i)
{
    return i < 0 ? NULL : &sh_objs[i];
}

/* ms < 0: no deadline; 0: nowait; else until, on CLOCK_MONOTONIC. */
static int agent_acquire_tokens(const void *b, size_t n, long ms)
{
    struct timespec t;

    if (ms < 0)
        return caplimit_acquire_tokens(agent_lim, b, n);
    if (ms == 0)
        return caplimit_acquire_tokens_nowait(agent_lim, b, n);
    t = harness_deadline_ms(ms);
    return caplimit_acquire_tokens_until(agent_lim, b, n, CLOCK_MONOTONIC, &t);
}

static int agent_release_hold(const void *b)
{
    return b == NULL ? caplimit_release(agent_lim)
                     : caplimit_release_on_behalf_of(agent_lim, b);
}

static void *agent_worker(void *arg)
{
    struct slot *s = arg;
    int i = (int)(s - slots), rc;

    if (s->n > 1)
        rc = agent_acquire_tokens(agent_obj(s->obj), s->n, s->ms);
    else
        rc = harness_acquire_variant(agent_lim, (enum harness_variant)s->v,
                                     agent_obj(s->obj), s->ms);
    agent_send(SH_GRANT, i, rc, 0);
    if (rc != 0)
        return NULL;
    if (!s->autorelease) {
        pthread_mutex_lock(&s->lock);
        while (!s->go)
            pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    if (s->n > 1)
        CHILD_CHECK_EQ(agent_release_hold(agent_obj(s->obj)), 0);
    else
        CHILD_CHECK_EQ(harness_release_variant(agent_lim, (enum harness_variant)s->v,
                                               agent_obj(s->obj)), 0);
    return NULL;
}

static int agent_check_stats(void)
{
    struct caplimit_statistics st;
    pthread_t zero;
    size_t i;
    int j;

    memset(&zero, 0, sizeof zero);
    if (caplimit_statistics(agent_lim, &st) != 0)
        return __LINE__;
    for (i = 0; i < st.nborrowers; i++) {
        struct caplimit_borrower *b = &st.borrowers[i];
        int ours = b->pid == getpid();

        for (j = 0; j < 4; j++)
            if (b->reserved[j] != 0)
                return __LINE__;
        if (b->kind == CAPLIMIT_BORROWER_OBJECT) {
            if (memcmp(&b->thread, &zero, sizeof zero) != 0 || b->tid != 0)
                return __LINE__;
        } else if (b->kind == CAPLIMIT_BORROWER_THREAD) {
            if (b->tid <= 0)
                return __LINE__;
            if (!ours && memcmp(&b->thread, &zero, sizeof zero) != 0)
                return __LINE__;
            if (ours && b->tid == (pid_t)syscall(SYS_gettid) &&
                !pthread_equal(b->thread, pthread_self()))
                return __LINE__;
        } else {
            return __LINE__;
        }
    }
    caplimit_statistics_destroy(&st);
    return 0;
}

static long long agent_exec(const struct sh_cmd *c)
{
    const long long *x = c->x;
    struct slot *s;
    struct timespec t;
    void *ret;

    switch ((enum sh_op)c->op) {
    case SH_ACQ:
        return harness_acquire_variant(agent_lim, (enum harness_variant)x[0],
                                       agent_obj(x[1]), (long)x[2]);
    case SH_REL:
        return harness_release_variant(agent_lim, (enum harness_variant)x[0],
                                       agent_obj(x[1]));
    case SH_ACQ_TOKENS:
        return agent_acquire_tokens(agent_obj(x[0]), (size_t)x[1], (long)x[2]);
    case SH_REL_TOKENS:
        return caplimit_release_tokens(agent_lim, agent_obj(x[0]), (size_t)x[1]);
    case SH_HOLDS:
        return x[0] < 0 ? caplimit_holds(agent_lim)
                        : caplimit_holds_on_behalf_of(agent_lim, agent_obj(x[0]));
    case SH_SET_TOTAL:
        return caplimit_set_total_tokens(agent_lim, (size_t)x[0]);
    case SH_SET_POLICY:
        return caplimit_set_policy(agent_lim, (enum caplimit_policy)x[0],
                                   (unsigned long long)x[1]);
    case SH_SET_REENTRANT:
        return caplimit_set_reentrant(agent_lim, (int)x[0]);
    case SH_CLOSE:
        return caplimit_close(agent_lim);
    case SH_IS_CLOSED:
        return caplimit_is_closed(agent_lim);
    case SH_DESTROY:
        return caplimit_destroy(agent_lim);
    case SH_WAITING:
        return (long long)caplimit_threads_waiting(agent_lim);
    case SH_BORROWED:
        return (long long)caplimit_borrowed_tokens(agent_lim);
    case SH_TID:
        return (long long)syscall(SYS_gettid);
    case SH_CHECK_STATS:
        return agent_check_stats();
    case SH_START:
        CHILD_CHECK(x[0] >= 0 && x[0] < SH_SLOTS && !slots[x[0]].used);
        s = &slots[x[0]];
        s->used = 1;
        s->v = (int)x[1];
        s->obj = (int)x[2];
        s->ms = (long)x[3];
        s->n = (size_t)x[4];
        s->autorelease = (int)x[5];
        s->go = 0;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        CHILD_CHECK_EQ(pthread_create(&s->thread, NULL, agent_worker, s), 0);
        return 0;
    case SH_WREL:
        s = &slots[x[0]];
        pthread_mutex_lock(&s->lock);
        s->go = 1;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        CHILD_CHECK_EQ(pthread_join(s->thread, NULL), 0);
        s->used = 0;
        return 0;
    case SH_WCANCEL:
        s = &slots[x[0]];
        CHILD_CHECK_EQ(pthread_cancel(s->thread), 0);
        CHILD_CHECK_EQ(pthread_join(s->thread, &ret), 0);
        s->used = 0;
        return ret == PTHREAD_CANCELED;
    case SH_WJOIN:
        s = &slots[x[0]];
        CHILD_CHECK_EQ(pthread_join(s->thread, NULL), 0);
        s->used = 0;
        return 0;
    case SH_EXIT:
        exit((int)x[0]);
    case SH__EXIT:
        _exit((int)x[0]);
    case SH_ABORT:
        abort();
    case SH_CRASH:
        raise(SIGSEGV);
        _exit(99);
    case SH_DRAIN:
        if (x[0] < 0)
            return caplimit_drain(agent_lim, CLOCK_MONOTONIC, NULL);
        t = harness_deadline_ms((long)x[0]);
        return caplimit_drain(agent_lim, CLOCK_MONOTONIC, &t);
    }
    sh_child_failf(__FILE__, __LINE__, "unknown op %d", c->op);
}

static void agent_main(int cmd_fd, const char *name, int inherited)
{
    struct rlimit no_core = { 0, 0 };
    struct sh_cmd c;
    int rc = 0;

    setrlimit(RLIMIT_CORE, &no_core);
    if (!inherited)
        rc = caplimit_open(&agent_lim, name, 0, 0, 0);
    agent_send(SH_READY, 0, rc, getpid());
    if (rc != 0)
        _exit(2);
    for (;;) {
        ssize_t n = read(cmd_fd, &c, sizeof c);
        if (n == 0)
            break;
        CHILD_CHECK(n == (ssize_t)sizeof c);
        agent_send(SH_REPLY, 0, 0, agent_exec(&c));
    }
    if (!inherited)
        (void)caplimit_destroy(agent_lim);
    _exit(0);
}

/* ---- Agents: the test's side ---------------------------------------------- */

static struct sh_msg *find_msg(int agent, int type, int slot)
{
    int i;

    for (i = 0; i < nmsgs; i++)
        if (!consumed[i] && msgs[i].agent == agent && msgs[i].type == type &&
            (type != SH_GRANT || msgs[i].slot == slot))
            return &msgs[i];
    return NULL;
}

/* Reads what the agents sent within ms milliseconds; 0 on nothing. */
static int pump(int ms)
{
    struct pollfd p;
    ssize_t n;

    p.fd = reply_pipe[0];
    p.events = POLLIN;
    if (poll(&p, 1, ms) != 1)
        return 0;
    ck_assert_int_lt(nmsgs, SH_MAX_MSGS);
    n = read(reply_pipe[0], &msgs[nmsgs], sizeof msgs[0]);
    ck_assert_int_eq(n, (ssize_t)sizeof msgs[0]);
    nmsgs++;
    return 1;
}

static struct sh_msg wait_msg(struct sh_agent *a, int type, int slot)
{
    struct timespec d = harness_deadline_ms(HARNESS_POLL_MS);
    struct sh_msg *m;
    char report[512];

    while ((m = find_msg(a->id, type, slot)) == NULL) {
        if (try_reap(a->child)) {
            while (pump(0))
                ;
            if ((m = find_msg(a->id, type, slot)) != NULL)
                break;
            read_report(a->child, report, sizeof report);
            ck_abort_msg("agent %d (pid %d) ended (status 0x%x) while awaited: %s", a->id,
                         (int)a->child->pid, a->child->status, report);
        }
        ck_assert_msg(!harness_past(&d), "agent %d: no message of type %d (slot %d) in time",
                      a->id, type, slot);
        pump(20);
    }
    consumed[m - msgs] = 1;
    return *m;
}

static struct sh_agent *agent_start(const char *name, caplimit_t *lim)
{
    struct sh_agent *a;
    struct sh_child *c;
    struct sh_msg m;
    int cp[2], i;

    ck_assert_int_lt(nagents, SH_MAX_AGENTS);
    if (reply_pipe[0] < 0)
        ck_assert_int_eq(pipe(reply_pipe), 0);
    ck_assert_int_eq(pipe(cp), 0);
    a = &agents[nagents];
    a->id = nagents;
    c = fork_child();
    if (c == NULL) {
        close(cp[1]);
        for (i = 0; i < nagents; i++)
            close(agents[i].cmd);
        agent_id = a->id;
        agent_lim = lim;
        agent_main(cp[0], name, lim != NULL);
    }
    nagents++;
    close(cp[0]);
    a->child = c;
    a->cmd = cp[1];
    m = wait_msg(a, SH_READY, 0);
    ck_assert_msg(m.rc == 0, "agent could not open %s: %s", name, strerror(m.rc));
    return a;
}

struct sh_agent *sh_agent_start(const char *name)
{
    return agent_start(name, NULL);
}

struct sh_agent *sh_agent_start_inherit(caplimit_t *lim)
{
    return agent_start(NULL, lim);
}

pid_t sh_agent_pid(struct sh_agent *a)
{
    return a->child->pid;
}

static void send_cmd(struct sh_agent *a, enum sh_op op, const long long *x)
{
    struct sh_cmd c;

    memset(&c, 0, sizeof c);
    c.op = op;
    memcpy(c.x, x, sizeof c.x);
    ck_assert_int_eq(write(a->cmd, &c, sizeof c), (ssize_t)sizeof c);
}

long long sh_do(struct sh_agent *a, enum sh_op op, long long x, long long y, long long z)
{
    long long args[6] = { x, y, z, 0, 0, 0 };

    send_cmd(a, op, args);
    if (op == SH_EXIT || op == SH__EXIT || op == SH_ABORT || op == SH_CRASH) {
        sh_reap(a->child);
        return a->child->status;
    }
    return wait_msg(a, SH_REPLY, 0).val;
}

void sh_start(struct sh_agent *a, int slot, enum harness_variant v, int obj, long ms,
              size_t n, int autorelease)
{
    long long args[6] = { slot, v, obj, ms, (long long)n, autorelease };

    send_cmd(a, SH_START, args);
    ck_assert_int_eq(wait_msg(a, SH_REPLY, 0).val, 0);
}

struct sh_msg sh_grant(struct sh_agent *a, int slot)
{
    return wait_msg(a, SH_GRANT, slot);
}

int sh_granted(struct sh_agent *a, int slot)
{
    while (pump(0))
        ;
    return find_msg(a->id, SH_GRANT, slot) != NULL;
}

int sh_grant_index(struct sh_agent *a, int slot)
{
    int i, k = 0;

    for (i = 0; i < nmsgs; i++) {
        if (msgs[i].type != SH_GRANT)
            continue;
        if (msgs[i].agent == a->id && msgs[i].slot == slot)
            return k;
        k++;
    }
    return -1;
}

void sh_agent_stop(struct sh_agent *a)
{
    close(a->cmd);
    a->cmd = -1;
    sh_reap_ok(a->child);
}

long long sh_agent_kill(struct sh_agent *a)
{
    return sh_kill(a->child);
}
