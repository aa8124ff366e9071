/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * bench: libcaplimit against its baselines, side by side in one run.
 *
 * Each round measures everything once (odd rounds in reverse order); every
 * figure is the ratio of two costs in ns per operation (lower is better)
 * measured in the same round.  The table gives the medians over the rounds
 * and the interquartile range of the ratio; PASS when the median ratio
 * meets the target.  Baselines: sem_t; the naive FIFO limiter (one mutex,
 * one condition variable, broadcast on every change); the baton floor for
 * strict FIFO (a semaphore per thread, tokens passed round-robin).  A
 * second thread is alive from the start, as in any program with a limiter.
 *
 *   bench [--quick] [--rounds N] [--csv PATH] [--only 1a,3,...] [--strict]
 *   BENCH_QUICK=1, BENCH_ROUNDS=N, BENCH_CSV=PATH, BENCH_ONLY=1a,3 do the same.
 */
#include "bench.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#define MAX_ROUNDS 101
#define NHELD 100000
#define CHAIN_SMALL 25
#define CHAIN_BIG 400
#define CROWD_THREADS 8
#define CROWD_TOKENS 2
#define SPIN_NS 300
#define WEIGHTED_THREADS 8
#define WEIGHTED_TOKENS 16

static const unsigned scale_threads[] = { 2, 4, 8, 16, 64 };
#define NSCALE (sizeof scale_threads / sizeof scale_threads[0])

/* The crowds of the thread scaling, at 2 tokens like figures 4 and 5. */
enum scale_kind { SC_CAP, SC_BATON, SC_CAP_TP, SC_SEM, NSCALE_KINDS };
static const enum lim_kind scale_lim[NSCALE_KINDS] = {
    [SC_CAP] = LIM_CAP, [SC_BATON] = LIM_BATON,
    [SC_CAP_TP] = LIM_CAP_THROUGHPUT, [SC_SEM] = LIM_SEM,
};

enum meas {
    M_CAP_NOWAIT, M_SEM_TRYWAIT, M_CAP_WAIT, M_SEM_WAIT,
    M_OBJ_HELD, M_OBJ_NONE, M_OBJ_HELD_FRESH, M_OBJ_NONE_FRESH,
    M_CHAIN_CAP_SMALL, M_CHAIN_CAP_BIG, M_CHAIN_NAIVE_SMALL, M_CHAIN_NAIVE_BIG,
    M_CHAIN_BATON_SMALL, M_CHAIN_BATON_BIG,
    M_CROWD_CAP, M_CROWD_SEM, M_CROWD_NAIVE, M_CROWD_BATON, M_CROWD_CAP_TP,
    M_TAIL_CAP, M_TAIL_CAP_TP,
    M_W_CAP, M_W_CAP_TP, M_W_GO,     /* weighted crowds (R23) */
    M_WT_CAP, M_WT_CAP_TP, M_WT_GO,  /* the same, timed */
    M_SHM_NOWAIT, M_SHM_SEM_TRYWAIT, M_SHM_WAIT, M_SHM_SEM_WAIT,
    M_PONG_CAP, M_PONG_SEM, M_PONG_SEM_FREE, /* hand-offs between two processes */
    M_SCALE,                         /* + kind * NSCALE + i, N=8 excepted */
    NMEAS = M_SCALE + NSCALE_KINDS * NSCALE
};

static const char *const meas_names[M_SCALE] = {
    [M_CAP_NOWAIT] = "caplimit_acquire_nowait+release",
    [M_SEM_TRYWAIT] = "sem_trywait+sem_post",
    [M_CAP_WAIT] = "caplimit_acquire+release",
    [M_SEM_WAIT] = "sem_wait+sem_post",
    [M_OBJ_HELD] = "object pair, 100000 held",
    [M_OBJ_NONE] = "object pair, none held",
    [M_OBJ_HELD_FRESH] = "fresh object pair, 100000 held",
    [M_OBJ_NONE_FRESH] = "fresh object pair, none held",
    [M_CHAIN_CAP_SMALL] = "hand-off caplimit N=25",
    [M_CHAIN_CAP_BIG] = "hand-off caplimit N=400",
    [M_CHAIN_NAIVE_SMALL] = "hand-off naive N=25",
    [M_CHAIN_NAIVE_BIG] = "hand-off naive N=400",
    [M_CHAIN_BATON_SMALL] = "hand-off baton floor N=25",
    [M_CHAIN_BATON_BIG] = "hand-off baton floor N=400",
    [M_CROWD_CAP] = "crowd 8/2 caplimit FIFO",
    [M_CROWD_SEM] = "crowd 8/2 sem_t",
    [M_CROWD_NAIVE] = "crowd 8/2 naive",
    [M_CROWD_BATON] = "crowd 8/2 baton floor",
    [M_CROWD_CAP_TP] = "crowd 8/2 caplimit THROUGHPUT",
    [M_TAIL_CAP] = "timed crowd 8/2 caplimit FIFO",
    [M_TAIL_CAP_TP] = "timed crowd 8/2 caplimit THROUGHPUT",
    [M_W_CAP] = "weighted 8/16 caplimit FIFO",
    [M_W_CAP_TP] = "weighted 8/16 caplimit THROUGHPUT",
    [M_W_GO] = "weighted 8/16 Go-style Weighted",
    [M_WT_CAP] = "timed weighted 8/16 caplimit FIFO",
    [M_WT_CAP_TP] = "timed weighted 8/16 caplimit THROUGHPUT",
    [M_WT_GO] = "timed weighted 8/16 Go-style Weighted",
    [M_SHM_NOWAIT] = "shared caplimit nowait+release",
    [M_SHM_SEM_TRYWAIT] = "pshared sem_trywait+sem_post",
    [M_SHM_WAIT] = "shared caplimit acquire+release",
    [M_SHM_SEM_WAIT] = "pshared sem_wait+sem_post",
    [M_PONG_CAP] = "2-process ping-pong shared caplimit",
    [M_PONG_SEM] = "2-process ping-pong 2 pshared sem_t",
    [M_PONG_SEM_FREE] = "2-process ping-pong sem_t, free-running",
};

/* Measurements that need part two of the API (R23, R24). */
static int part_two(enum meas m)
{
    return m >= M_W_CAP && m <= M_PONG_SEM_FREE;
}

static int have_part_two(void)
{
    return caplimit_acquire_tokens != NULL && caplimit_open != NULL && caplimit_unlink != NULL;
}

/* The measurement of a scaling crowd; at 8 threads, figure 4's and 5's. */
static enum meas scale_meas(enum scale_kind k, unsigned i)
{
    static const enum meas at8[NSCALE_KINDS] = {
        [SC_CAP] = M_CROWD_CAP, [SC_BATON] = M_CROWD_BATON,
        [SC_CAP_TP] = M_CROWD_CAP_TP, [SC_SEM] = M_CROWD_SEM,
    };
    if (scale_threads[i] == CROWD_THREADS)
        return at8[k];
    return (enum meas)(M_SCALE + k * NSCALE + i);
}

static const char *meas_name(enum meas m)
{
    static const char *const kinds[NSCALE_KINDS] = {
        [SC_CAP] = "caplimit FIFO", [SC_BATON] = "baton floor",
        [SC_CAP_TP] = "caplimit THROUGHPUT", [SC_SEM] = "sem_t",
    };
    static char buf[64];
    unsigned k, i;

    if (m < M_SCALE)
        return meas_names[m];
    k = (unsigned)(m - M_SCALE) / NSCALE;
    i = (unsigned)(m - M_SCALE) % NSCALE;
    snprintf(buf, sizeof buf, "crowd %u/%u %s", scale_threads[i], CROWD_TOKENS, kinds[k]);
    return buf;
}

/* Where the plot draws a figure: cost against a baseline, libcaplimit
 * against itself, thread scaling, the tail; "-" not drawn (no libcaplimit
 * figure in it). */
struct figure {
    const char *id, *what, *unit, *panel;
    enum meas value, baseline;
    double target;                   /* 0: for information */
    unsigned threads;                /* thread scaling: the crowd's size */
    int p99;                         /* compare the p99s of two timed runs */
};

static const struct figure fixed_figures[] = {
    { "1a", "nowait+release / sem_trywait+sem_post", "ns/pair", "cost",
      M_CAP_NOWAIT, M_SEM_TRYWAIT, 2.0, 0, 0 },
    { "1b", "acquire+release / sem_wait+sem_post", "ns/pair", "cost",
      M_CAP_WAIT, M_SEM_WAIT, 2.0, 0, 0 },
    { "2", "object pair: 100000 held / none; 1024 probes", "ns/pair", "self",
      M_OBJ_HELD, M_OBJ_NONE, 1.2, 0, 0 },
    { "2f", "object pair: 100000 held / none; fresh objs", "ns/pair", "self",
      M_OBJ_HELD_FRESH, M_OBJ_NONE_FRESH, 0, 0, 0 },
    { "3", "hand-off chain: N=400 / N=25", "ns/hand-off", "self",
      M_CHAIN_CAP_BIG, M_CHAIN_CAP_SMALL, 1.2, 0, 0 },
    { "3n", "naive hand-off: N=400 / N=25", "ns/hand-off", "-",
      M_CHAIN_NAIVE_BIG, M_CHAIN_NAIVE_SMALL, 0, 0, 0 },
    { "3x", "hand-off N=400: caplimit / naive", "ns/hand-off", "cost",
      M_CHAIN_CAP_BIG, M_CHAIN_NAIVE_BIG, 0, 0, 0 },
    { "3f", "baton hand-off: N=400 / N=25", "ns/hand-off", "-",
      M_CHAIN_BATON_BIG, M_CHAIN_BATON_SMALL, 0, 0, 0 },
    { "3s", "hand-off N=25: caplimit / baton floor", "ns/hand-off", "cost",
      M_CHAIN_CAP_SMALL, M_CHAIN_BATON_SMALL, 0, 0, 0 },
    { "3b", "hand-off N=400: caplimit / baton floor", "ns/hand-off", "cost",
      M_CHAIN_CAP_BIG, M_CHAIN_BATON_BIG, 0, 0, 0 },
    { "4", "8 thr 2 tok FIFO: caplimit / baton floor", "ns/op", "cost",
      M_CROWD_CAP, M_CROWD_BATON, 1.2, 0, 0 },
    { "4s", "8 thr 2 tok: caplimit FIFO / sem_t", "ns/op", "cost",
      M_CROWD_CAP, M_CROWD_SEM, 0, 0, 0 },
    { "4n", "8 thr 2 tok: caplimit FIFO / naive", "ns/op", "cost",
      M_CROWD_CAP, M_CROWD_NAIVE, 0, 0, 0 },
    { "5", "8 thr 2 tok: THROUGHPUT / sem_t", "ns/op", "cost",
      M_CROWD_CAP_TP, M_CROWD_SEM, 1.3, 0, 0 },
    { "6f", "FIFO wait p99 / p50; 8 thr 2 tok", "ns/acquire", "tail",
      M_TAIL_CAP, M_TAIL_CAP, 0, 0, 0 },
    { "6t", "THROUGHPUT wait p99 / p50; 8 thr 2 tok", "ns/acquire", "tail",
      M_TAIL_CAP_TP, M_TAIL_CAP_TP, 0, 0, 0 },
    { "7", "weighted 1..8 of 16 tok 8 thr: FIFO / Go-style", "ns/op", "weighted",
      M_W_CAP, M_W_GO, 0, 0, 0 },
    { "7t", "weighted 1..8 of 16: THROUGHPUT / Go-style", "ns/op", "weighted",
      M_W_CAP_TP, M_W_GO, 0, 0, 0 },
    { "7f", "weighted wait p99: FIFO / Go-style", "ns/acquire", "weighted",
      M_WT_CAP, M_WT_GO, 0, 0, 1 },
    { "7u", "weighted wait p99: THROUGHPUT / Go-style", "ns/acquire", "weighted",
      M_WT_CAP_TP, M_WT_GO, 0, 0, 1 },
    { "8a", "shared nowait+release / pshared sem_trywait", "ns/pair", "shared",
      M_SHM_NOWAIT, M_SHM_SEM_TRYWAIT, 3.0, 0, 0 },
    { "8b", "shared acquire+release / pshared sem_wait", "ns/pair", "shared",
      M_SHM_WAIT, M_SHM_SEM_WAIT, 3.0, 0, 0 },
    { "8h", "2-process hand-off: shared caplimit / sem_t", "ns/hand-off", "shared",
      M_PONG_CAP, M_PONG_SEM, 1.5, 0, 0 },
    { "8f", "2-process hand-off: caplimit / free sem_t", "ns/hand-off", "shared",
      M_PONG_CAP, M_PONG_SEM_FREE, 0, 0, 0 },
    { "8p", "nowait+release: shared / private limiter", "ns/pair", "shared",
      M_SHM_NOWAIT, M_CAP_NOWAIT, 0, 0, 0 },
};
#define NFIXED (sizeof fixed_figures / sizeof fixed_figures[0])
#define NFIG (NFIXED + 2 * NSCALE + 2)

static struct figure figures[NFIG];
static unsigned nfig;
static char scale_text[2 * NSCALE + 2][3][48];

static int is_tail(const struct figure *f)
{
    return f->value == f->baseline;
}

/* 4@N and 5@N: figures 4 and 5 at N threads; 4s64, 5s64: 64 / 8 threads. */
static void make_figures(void)
{
    unsigned i, j = 0;
    char (*t)[48];

    memcpy(figures, fixed_figures, sizeof fixed_figures);
    nfig = NFIXED;
    for (i = 0; i < NSCALE; i++) {
        t = scale_text[j++];
        snprintf(t[0], sizeof t[0], "4@%u", scale_threads[i]);
        snprintf(t[1], sizeof t[1], "%u thr 2 tok FIFO: caplimit / baton floor",
                 scale_threads[i]);
        figures[nfig++] = (struct figure){ t[0], t[1], "ns/op", "scale",
            scale_meas(SC_CAP, i), scale_meas(SC_BATON, i), 0, scale_threads[i], 0 };
        t = scale_text[j++];
        snprintf(t[0], sizeof t[0], "5@%u", scale_threads[i]);
        snprintf(t[1], sizeof t[1], "%u thr 2 tok: THROUGHPUT / sem_t", scale_threads[i]);
        figures[nfig++] = (struct figure){ t[0], t[1], "ns/op", "scale",
            scale_meas(SC_CAP_TP, i), scale_meas(SC_SEM, i), 0, scale_threads[i], 0 };
    }
    figures[nfig++] = (struct figure){ "4s64", "FIFO crowd: 64 thr / 8 thr", "ns/op",
        "self", scale_meas(SC_CAP, NSCALE - 1), M_CROWD_CAP, 0, 0, 0 };
    figures[nfig++] = (struct figure){ "5s64", "THROUGHPUT crowd: 64 thr / 8 thr", "ns/op",
        "self", scale_meas(SC_CAP_TP, NSCALE - 1), M_CROWD_CAP_TP, 0, 0, 0 };
}

struct options {
    int rounds, quick, strict;
    const char *csv;
    const char *only;                /* comma-separated figure ids, or NULL */
};

static struct result results[NMEAS][MAX_ROUNDS];
static caplimit_t *obj_held, *obj_none;
static char held_objects[NHELD];
static int shown[NFIG];              /* figures selected by --only */
static int needed[NMEAS];            /* measurements they use */

/* What the figures were measured on. */
struct machine {
    char cpu[128], kernel[256], libc[32], compiler[128];
};

/* ---- Statistics -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n), interpolated. */
static double quantile(const double *v, int n, double q)
{
    double s[MAX_ROUNDS], pos;
    int i;

    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    pos = q * (n - 1);
    i = (int)pos;
    return i + 1 < n ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[n - 1];
}

/* The median over the rounds of one double field (at offset) of a result. */
static double median_of(enum meas m, int n, size_t offset)
{
    double v[MAX_ROUNDS];
    int r;

    for (r = 0; r < n; r++)
        memcpy(&v[r], (const char *)&results[m][r] + offset, sizeof v[r]);
    return quantile(v, n, 0.5);
}

#define median_ns(m, n) median_of((m), (n), offsetof(struct result, ns))
#define median_csw(m, n) median_of((m), (n), offsetof(struct result, csw))
#define median_cpu(m, n) median_of((m), (n), offsetof(struct result, cpu))
#define median_field(m, n, f) median_of((m), (n), offsetof(struct result, f))

static double max_over_rounds(enum meas m, int n, size_t offset)
{
    double v, best = 0;
    int r;

    for (r = 0; r < n; r++) {
        memcpy(&v, (const char *)&results[m][r] + offset, sizeof v);
        if (v > best)
            best = v;
    }
    return best;
}

/* A tail figure's value is its p99 and its baseline its p50. */
static double value_ns(const struct figure *f, int r)
{
    return is_tail(f) || f->p99 ? results[f->value][r].p99 : results[f->value][r].ns;
}

static double baseline_ns(const struct figure *f, int r)
{
    if (f->p99)
        return results[f->baseline][r].p99;
    return is_tail(f) ? results[f->baseline][r].p50 : results[f->baseline][r].ns;
}

static double median_value(const struct figure *f, int n)
{
    return is_tail(f) || f->p99 ? median_field(f->value, n, p99) : median_ns(f->value, n);
}

static double median_baseline(const struct figure *f, int n)
{
    if (f->p99)
        return median_field(f->baseline, n, p99);
    return is_tail(f) ? median_field(f->baseline, n, p50) : median_ns(f->baseline, n);
}

static void ratios(const struct figure *f, int n, double *v)
{
    int r;

    for (r = 0; r < n; r++)
        v[r] = value_ns(f, r) / (baseline_ns(f, r) > 0 ? baseline_ns(f, r) : 1);
}

/* ---- Measuring --------------------------------------------------------- */

static void make_object_limiters(void)
{
    size_t i;

    CHECK(caplimit_create(&obj_held, CAPLIMIT_INFINITE));
    CHECK(caplimit_create(&obj_none, CAPLIMIT_INFINITE));
    for (i = 0; i < NHELD; i++)
        CHECK(caplimit_acquire_on_behalf_of_nowait(obj_held, &held_objects[i]));
}

static void free_object_limiters(void)
{
    size_t i;

    for (i = 0; i < NHELD; i++)
        CHECK(caplimit_release_on_behalf_of(obj_held, &held_objects[i]));
    CHECK(caplimit_destroy(obj_held));
    CHECK(caplimit_destroy(obj_none));
}

static struct result run_one(const struct params *p, enum meas m)
{
    switch (m) {
    case M_CAP_NOWAIT: return run_pairs(p, PAIR_CAP_NOWAIT);
    case M_SEM_TRYWAIT: return run_pairs(p, PAIR_SEM_TRYWAIT);
    case M_CAP_WAIT: return run_pairs(p, PAIR_CAP_WAIT);
    case M_SEM_WAIT: return run_pairs(p, PAIR_SEM_WAIT);
    case M_OBJ_HELD: return run_object_pairs(p, obj_held, PROBE_DISTINCT);
    case M_OBJ_NONE: return run_object_pairs(p, obj_none, PROBE_DISTINCT);
    case M_OBJ_HELD_FRESH: return run_object_pairs(p, obj_held, PROBE_FRESH);
    case M_OBJ_NONE_FRESH: return run_object_pairs(p, obj_none, PROBE_FRESH);
    case M_CHAIN_CAP_SMALL: return run_chain(p, LIM_CAP, CHAIN_SMALL);
    case M_CHAIN_CAP_BIG: return run_chain(p, LIM_CAP, CHAIN_BIG);
    case M_CHAIN_NAIVE_SMALL: return run_chain(p, LIM_NAIVE, CHAIN_SMALL);
    case M_CHAIN_NAIVE_BIG: return run_chain(p, LIM_NAIVE, CHAIN_BIG);
    case M_CHAIN_BATON_SMALL: return run_chain(p, LIM_BATON, CHAIN_SMALL);
    case M_CHAIN_BATON_BIG: return run_chain(p, LIM_BATON, CHAIN_BIG);
    case M_CROWD_CAP: return run_crowd(p, LIM_CAP, CROWD_THREADS, CROWD_TOKENS, 0);
    case M_CROWD_SEM: return run_crowd(p, LIM_SEM, CROWD_THREADS, CROWD_TOKENS, 0);
    case M_CROWD_NAIVE: return run_crowd(p, LIM_NAIVE, CROWD_THREADS, CROWD_TOKENS, 0);
    case M_CROWD_BATON: return run_crowd(p, LIM_BATON, CROWD_THREADS, CROWD_TOKENS, 0);
    case M_CROWD_CAP_TP:
        return run_crowd(p, LIM_CAP_THROUGHPUT, CROWD_THREADS, CROWD_TOKENS, 0);
    case M_TAIL_CAP: return run_crowd(p, LIM_CAP, CROWD_THREADS, CROWD_TOKENS, 1);
    case M_TAIL_CAP_TP:
        return run_crowd(p, LIM_CAP_THROUGHPUT, CROWD_THREADS, CROWD_TOKENS, 1);
    case M_W_CAP: case M_W_CAP_TP: case M_W_GO:
        return run_weighted(p, (enum wkind)(m - M_W_CAP), WEIGHTED_THREADS,
                            WEIGHTED_TOKENS, 0);
    case M_WT_CAP: case M_WT_CAP_TP: case M_WT_GO:
        return run_weighted(p, (enum wkind)(m - M_WT_CAP), WEIGHTED_THREADS,
                            WEIGHTED_TOKENS, 1);
    case M_SHM_NOWAIT: return run_pairs(p, PAIR_SHM_CAP_NOWAIT);
    case M_SHM_SEM_TRYWAIT: return run_pairs(p, PAIR_SHM_SEM_TRYWAIT);
    case M_SHM_WAIT: return run_pairs(p, PAIR_SHM_CAP_WAIT);
    case M_SHM_SEM_WAIT: return run_pairs(p, PAIR_SHM_SEM_WAIT);
    case M_PONG_CAP: return run_pong(p, PONG_CAP);
    case M_PONG_SEM: return run_pong(p, PONG_SEM);
    case M_PONG_SEM_FREE: return run_pong(p, PONG_SEM_FREE);
    default: break;
    }
    if (m >= M_SCALE && m < NMEAS) {
        unsigned k = (unsigned)(m - M_SCALE) / NSCALE, i = (unsigned)(m - M_SCALE) % NSCALE;
        return run_crowd(p, scale_lim[k], scale_threads[i], CROWD_TOKENS, 0);
    }
    die("unknown measurement", EINVAL);
}

static void run_round(const struct params *p, int r)
{
    int i, m;

    for (i = 0; i < NMEAS; i++) {
        m = r % 2 ? NMEAS - 1 - i : i;
        if (needed[m])
            results[m][r] = run_one(p, (enum meas)m);
    }
}

static int listed(const char *list, const char *id)
{
    size_t n = strlen(id);

    while (list != NULL && *list != '\0') {
        if (strncmp(list, id, n) == 0 && (list[n] == ',' || list[n] == '\0'))
            return 1;
        list = strchr(list, ',');
        if (list != NULL)
            list++;
    }
    return 0;
}

static void select_figures(const char *only)
{
    unsigned i, any = 0, skipped = 0;
    int two = have_part_two();

    for (i = 0; i < nfig; i++) {
        shown[i] = only == NULL || listed(only, figures[i].id);
        if (shown[i] && !two && (part_two(figures[i].value) || part_two(figures[i].baseline))) {
            shown[i] = 0;
            skipped++;
        }
        if (shown[i])
            needed[figures[i].value] = needed[figures[i].baseline] = 1;
        any |= (unsigned)shown[i];
    }
    if (skipped > 0)
        printf("the library has no weighted holds or shared limiters: %u figures skipped\n",
               skipped);
    if (!any) {
        fprintf(stderr, "bench: --only %s names no figure\n", only);
        exit(2);
    }
}

/* ---- The machine ----------------------------------------------------- */

static void chomp(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* CSV-safe: no quotes or commas in a field (results.gp filters by comma). */
static void tame(char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '"' || *s == ',')
            *s = ' ';
}

static void describe_machine(struct machine *m)
{
    struct utsname u;
    char line[256];
    FILE *f;

    snprintf(m->cpu, sizeof m->cpu, "unknown");
    if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                snprintf(m->cpu, sizeof m->cpu, "%s", colon + 2);
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(m->kernel, sizeof m->kernel, "unknown");
#ifdef __GLIBC__
    snprintf(m->libc, sizeof m->libc, "glibc %s", gnu_get_libc_version());
#else
    snprintf(m->libc, sizeof m->libc, "not glibc");
#endif
#if defined(__clang__)
    snprintf(m->compiler, sizeof m->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
#else
    snprintf(m->compiler, sizeof m->compiler, "unknown");
#endif
    chomp(m->cpu);
    chomp(m->compiler);
    tame(m->cpu);
    tame(m->kernel);
    tame(m->libc);
    tame(m->compiler);
}

/* ---- Reporting --------------------------------------------------------- */

static const char *verdict(const struct figure *f, double ratio)
{
    if (f->target == 0)
        return "info";
    return ratio <= f->target ? "PASS" : "MISS";
}

static int print_table(int n)
{
    double v[MAX_ROUNDS], ratio;
    unsigned i;
    int missed = 0;

    printf("\nvalue and baseline: medians in ns per operation (unit); ratio: median of "
           "the rounds' ratios\n");
    printf("%-4s %-45s %11s %11s %-11s %7s %13s %6s %s\n", "fig", "what", "value",
           "baseline", "unit", "ratio", "IQR", "target", "verdict");
    for (i = 0; i < nfig; i++) {
        const struct figure *f = &figures[i];
        if (!shown[i])
            continue;
        ratios(f, n, v);
        ratio = quantile(v, n, 0.5);
        missed |= f->target != 0 && ratio > f->target;
        printf("%-4s %-45s %11.1f %11.1f %-11s %7.3g %6.3g..%-6.3g ", f->id, f->what,
               median_value(f, n), median_baseline(f, n), f->unit, ratio,
               quantile(v, n, 0.25), quantile(v, n, 0.75));
        if (f->target != 0)
            printf("<=%-4.1f %s\n", f->target, verdict(f, ratio));
        else
            printf("%-6s %s\n", "", verdict(f, ratio));
    }
    return missed;
}

static void print_measurements(int n)
{
    double v[MAX_ROUNDS];
    int m, r;

    printf("\n%-38s %11s %11s %11s %9s %11s\n", "measurement (ns per operation)", "median",
           "min", "max", "csw/op", "cpu ns/op");
    for (m = 0; m < NMEAS; m++) {
        if (!needed[m])
            continue;
        for (r = 0; r < n; r++)
            v[r] = results[m][r].ns;
        printf("%-38s %11.1f %11.1f %11.1f %9.2f %11.1f\n", meas_name((enum meas)m),
               quantile(v, n, 0.5), quantile(v, n, 0), quantile(v, n, 1),
               median_csw((enum meas)m, n), median_cpu((enum meas)m, n));
    }
    if (needed[M_PONG_SEM])
        printf("sem_t ping-pong: %.2f sched_yield calls per hand-off waiting for the other "
               "side to be in sem_wait (median)\n", median_field(M_PONG_SEM, n, yields));
    if (needed[M_PONG_CAP])
        printf("ping-pong: %.2f%% of the shared limiter's grants were hand-offs to a "
               "waiter; per hand-off %.2f caplimit_threads_waiting and %.2f sched_yield "
               "calls (medians); ns, csw and cpu are per hand-off\n",
               100 * median_field(M_PONG_CAP, n, handoff_share),
               median_field(M_PONG_CAP, n, polls), median_field(M_PONG_CAP, n, yields));
}

static void print_tails(int n)
{
    static const enum meas tails[] = { M_TAIL_CAP, M_TAIL_CAP_TP };
    static const enum meas wtails[] = { M_WT_CAP, M_WT_CAP_TP, M_WT_GO };
    unsigned i;

    if (needed[M_WT_CAP] || needed[M_WT_CAP_TP] || needed[M_WT_GO]) {
        printf("\nweighted wait-time tail, ns per acquire (8 threads, requests of 1..8 of 16 "
               "tokens; medians over rounds, max: the largest)\n");
        printf("%-40s %9s %9s %11s\n", "", "p50", "p99", "max");
        for (i = 0; i < sizeof wtails / sizeof wtails[0]; i++)
            if (needed[wtails[i]])
                printf("%-40s %9.0f %9.0f %11.0f\n", meas_name(wtails[i]),
                       median_field(wtails[i], n, p50), median_field(wtails[i], n, p99),
                       max_over_rounds(wtails[i], n, offsetof(struct result, max)));
    }
    if (!needed[M_TAIL_CAP] && !needed[M_TAIL_CAP_TP])
        return;
    printf("\nwait-time tail, ns per acquire (8 threads, 2 tokens; medians over rounds, "
           "max: the largest)\n");
    printf("%-36s %9s %9s %11s | %9s %8s %11s\n", "", "bench p50", "p99", "max",
           "lib mean", "queued", "lib max");
    for (i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        enum meas m = tails[i];
        if (!needed[m])
            continue;
        printf("%-36s %9.0f %9.0f %11.0f | %9.0f %7.1f%% %11.0f\n", meas_name(m),
               median_field(m, n, p50), median_field(m, n, p99),
               max_over_rounds(m, n, offsetof(struct result, max)),
               median_field(m, n, lib_mean), 100 * median_field(m, n, lib_waited),
               max_over_rounds(m, n, offsetof(struct result, lib_max)));
    }
}

static void write_csv(const char *path, int n, const struct machine *mc)
{
    double v[MAX_ROUNDS], ratio;
    unsigned i, x[7] = { 0 }, px;
    FILE *out = fopen(path, "w");

    if (out == NULL) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(out, "figure,what,unit,value,baseline,ratio,ratio_p25,ratio_p75,"
                 "ratio_min,ratio_max,target,verdict,value_csw,baseline_csw,"
                 "value_cpu_ns,baseline_cpu_ns,rounds,panel,x,threads,"
                 "p50_ns,p99_ns,max_ns,lib_mean_ns,lib_queued,lib_max_ns,"
                 "base_p50_ns,base_p99_ns,base_max_ns,"
                 "cpu,kernel,libc,compiler\n");
    for (i = 0; i < nfig; i++) {
        const struct figure *f = &figures[i];
        if (!shown[i])
            continue;
        ratios(f, n, v);
        ratio = quantile(v, n, 0.5);
        fprintf(out, "%s,\"%s\",%s,%.2f,%.2f,%.4f,%.4f,%.4f,%.4f,%.4f,", f->id, f->what,
                f->unit, median_value(f, n), median_baseline(f, n), ratio,
                quantile(v, n, 0.25), quantile(v, n, 0.75), quantile(v, n, 0),
                quantile(v, n, 1));
        if (f->target != 0)
            fprintf(out, "%.2f,", f->target);
        else
            fprintf(out, ",");
        px = strcmp(f->panel, "cost") == 0 ? 0 : strcmp(f->panel, "self") == 0 ? 1
           : strcmp(f->panel, "scale") == 0 ? 2 : strcmp(f->panel, "tail") == 0 ? 3
           : strcmp(f->panel, "weighted") == 0 ? 4 : strcmp(f->panel, "shared") == 0 ? 5 : 6;
        fprintf(out, "%s,%.3f,%.3f,%.1f,%.1f,%d,%s,%u,", verdict(f, ratio),
                median_csw(f->value, n), median_csw(f->baseline, n), median_cpu(f->value, n),
                median_cpu(f->baseline, n), n, f->panel, x[px]++);
        if (f->threads != 0)
            fprintf(out, "%u,", f->threads);
        else
            fprintf(out, ",");
        if (f->p99)
            fprintf(out, "%.0f,%.0f,%.0f,,,,%.0f,%.0f,%.0f,", median_field(f->value, n, p50),
                    median_field(f->value, n, p99),
                    max_over_rounds(f->value, n, offsetof(struct result, max)),
                    median_field(f->baseline, n, p50), median_field(f->baseline, n, p99),
                    max_over_rounds(f->baseline, n, offsetof(struct result, max)));
        else if (is_tail(f))
            fprintf(out, "%.0f,%.0f,%.0f,%.0f,%.4f,%.0f,", median_field(f->value, n, p50),
                    median_field(f->value, n, p99),
                    max_over_rounds(f->value, n, offsetof(struct result, max)),
                    median_field(f->value, n, lib_mean),
                    median_field(f->value, n, lib_waited),
                    max_over_rounds(f->value, n, offsetof(struct result, lib_max)));
        if (is_tail(f))
            fprintf(out, ",,,");
        else if (!f->p99)
            fprintf(out, ",,,,,,,,,");
        fprintf(out, "\"%s\",\"%s\",\"%s\",\"%s\"\n", mc->cpu, mc->kernel, mc->libc,
                mc->compiler);
    }
    if (fclose(out) != 0)
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
    else
        printf("\nwrote %s\n", path);
}

/* ---- Main -------------------------------------------------------------- */

static void usage(FILE *to)
{
    fputs("usage: bench [--quick] [--rounds N] [--csv PATH] [--only IDS] [--strict]\n"
          "  --quick    short measurements and 3 rounds, for smoke use (BENCH_QUICK=1)\n"
          "  --rounds N rounds to take medians over, default 11 (BENCH_ROUNDS)\n"
          "  --csv PATH where the figures go, default bench/results.csv (BENCH_CSV)\n"
          "  --only IDS measure only these figures, e.g. 1a,1b,3 (BENCH_ONLY)\n"
          "  --strict   exit 1 when a target is missed\n",
          to);
}

static int parse_rounds(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || n < 1 || n > MAX_ROUNDS) {
        fprintf(stderr, "bench: rounds must be 1..%d\n", MAX_ROUNDS);
        exit(2);
    }
    return (int)n;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    const char *env;
    int i;

    o->quick = (env = getenv("BENCH_QUICK")) != NULL && *env != '\0' && strcmp(env, "0") != 0;
    o->rounds = 0;
    o->strict = 0;
    o->csv = (env = getenv("BENCH_CSV")) != NULL && *env != '\0' ? env : "bench/results.csv";
    o->only = (env = getenv("BENCH_ONLY")) != NULL && *env != '\0' ? env : NULL;
    if ((env = getenv("BENCH_ROUNDS")) != NULL && *env != '\0')
        o->rounds = parse_rounds(env);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(argv[i], "--strict") == 0) {
            o->strict = 1;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            o->rounds = parse_rounds(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            o->only = argv[++i];
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            o->csv = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (o->rounds == 0)
        o->rounds = o->quick ? 3 : 11;
}

static void set_params(const struct options *o, struct params *p)
{
    p->pairs = o->quick ? 20000 : 400000;
    p->warm_ms = o->quick ? 5 : 20;
    p->handoff_ms = o->quick ? 20 : 150;
    p->crowd_ms = o->quick ? 20 : 200;
    p->spin_iters = calibrate_spin(SPIN_NS);
}

int main(int argc, char **argv)
{
    struct options o;
    struct params p;
    struct machine mc;
    double load[3] = { 0, 0, 0 };
    int r, missed;

    parse_options(argc, argv, &o);
    make_figures();
    select_figures(o.only);
    bystander_start();
    set_params(&o, &p);
    describe_machine(&mc);
    if (getloadavg(load, 3) < 0)
        load[0] = load[1] = load[2] = 0;
    printf("libcaplimit bench: %d rounds%s, %ld cpus, load %.2f %.2f %.2f\n", o.rounds,
           o.quick ? " (quick)" : "", sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1],
           load[2]);
    printf("cpu %s; %s; %s; %s\n", mc.cpu, mc.kernel, mc.libc, mc.compiler);
    printf("a second thread is alive throughout, as in any program that uses a limiter\n");
    printf("pairs %lu per measurement; hand-off %u ms, crowd %u ms each; "
           "critical section %u spins (~%d ns)\n",
           p.pairs, p.handoff_ms, p.crowd_ms, p.spin_iters, SPIN_NS);
    if (needed[M_OBJ_HELD] || needed[M_OBJ_NONE])
        make_object_limiters();
    for (r = 0; r < o.rounds; r++) {
        fprintf(stderr, "\rround %d/%d", r + 1, o.rounds);
        run_round(&p, r);
    }
    fprintf(stderr, "\n");
    if (needed[M_OBJ_HELD] || needed[M_OBJ_NONE])
        free_object_limiters();
    missed = print_table(o.rounds);
    print_measurements(o.rounds);
    print_tails(o.rounds);
    write_csv(o.csv, o.rounds, &mc);
    bystander_stop();
    return o.strict && missed ? 1 : 0;
}
