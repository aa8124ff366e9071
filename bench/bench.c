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
 * strict FIFO (a semaphore per thread, tokens passed round-robin).
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
#include <unistd.h>

#define MAX_ROUNDS 101
#define NHELD 100000
#define CHAIN_SMALL 25
#define CHAIN_BIG 400
#define CROWD_THREADS CROWD_MAX
#define CROWD_TOKENS 2
#define SPIN_NS 300

enum meas {
    M_CAP_NOWAIT, M_SEM_TRYWAIT, M_CAP_WAIT, M_SEM_WAIT,
    M_OBJ_HELD, M_OBJ_NONE,
    M_CHAIN_CAP_SMALL, M_CHAIN_CAP_BIG, M_CHAIN_NAIVE_SMALL, M_CHAIN_NAIVE_BIG,
    M_CHAIN_BATON_SMALL, M_CHAIN_BATON_BIG,
    M_CROWD_CAP, M_CROWD_SEM, M_CROWD_NAIVE, M_CROWD_BATON, M_CROWD_CAP_TP,
    NMEAS
};

static const char *const meas_names[NMEAS] = {
    [M_CAP_NOWAIT] = "caplimit_acquire_nowait+release",
    [M_SEM_TRYWAIT] = "sem_trywait+sem_post",
    [M_CAP_WAIT] = "caplimit_acquire+release",
    [M_SEM_WAIT] = "sem_wait+sem_post",
    [M_OBJ_HELD] = "object pair, 100000 held",
    [M_OBJ_NONE] = "object pair, none held",
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
};

struct figure {
    const char *id, *what, *unit;
    enum meas value, baseline;
    double target;                   /* 0: for information */
};

static const struct figure figures[] = {
    { "1a", "nowait+release / sem_trywait+sem_post", "ns/pair",
      M_CAP_NOWAIT, M_SEM_TRYWAIT, 3.0 },
    { "1b", "acquire+release / sem_wait+sem_post", "ns/pair",
      M_CAP_WAIT, M_SEM_WAIT, 3.0 },
    { "2", "object pair: 100000 held / none (R14)", "ns/pair",
      M_OBJ_HELD, M_OBJ_NONE, 1.3 },
    { "3", "hand-off chain: N=400 / N=25", "ns/hand-off",
      M_CHAIN_CAP_BIG, M_CHAIN_CAP_SMALL, 1.2 },
    { "3n", "naive hand-off: N=400 / N=25", "ns/hand-off",
      M_CHAIN_NAIVE_BIG, M_CHAIN_NAIVE_SMALL, 0 },
    { "3x", "hand-off N=400: caplimit / naive", "ns/hand-off",
      M_CHAIN_CAP_BIG, M_CHAIN_NAIVE_BIG, 0 },
    { "3f", "baton hand-off: N=400 / N=25", "ns/hand-off",
      M_CHAIN_BATON_BIG, M_CHAIN_BATON_SMALL, 0 },
    { "3s", "hand-off N=25: caplimit / baton floor", "ns/hand-off",
      M_CHAIN_CAP_SMALL, M_CHAIN_BATON_SMALL, 0 },
    { "3b", "hand-off N=400: caplimit / baton floor", "ns/hand-off",
      M_CHAIN_CAP_BIG, M_CHAIN_BATON_BIG, 0 },
    { "4", "8 thr 2 tok FIFO: caplimit / baton floor", "ns/op",
      M_CROWD_CAP, M_CROWD_BATON, 1.3 },
    { "4s", "8 thr 2 tok: caplimit FIFO / sem_t", "ns/op",
      M_CROWD_CAP, M_CROWD_SEM, 0 },
    { "4n", "8 thr 2 tok: caplimit FIFO / naive", "ns/op",
      M_CROWD_CAP, M_CROWD_NAIVE, 0 },
    { "5", "8 thr 2 tok: THROUGHPUT / sem_t", "ns/op",
      M_CROWD_CAP_TP, M_CROWD_SEM, 1.5 },
};
#define NFIG (sizeof figures / sizeof figures[0])

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

static void ratios(const struct figure *f, int n, double *v)
{
    int r;

    for (r = 0; r < n; r++)
        v[r] = results[f->value][r].ns / results[f->baseline][r].ns;
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
    case M_OBJ_HELD: return run_object_pairs(p, obj_held);
    case M_OBJ_NONE: return run_object_pairs(p, obj_none);
    case M_CHAIN_CAP_SMALL: return run_chain(p, LIM_CAP, CHAIN_SMALL);
    case M_CHAIN_CAP_BIG: return run_chain(p, LIM_CAP, CHAIN_BIG);
    case M_CHAIN_NAIVE_SMALL: return run_chain(p, LIM_NAIVE, CHAIN_SMALL);
    case M_CHAIN_NAIVE_BIG: return run_chain(p, LIM_NAIVE, CHAIN_BIG);
    case M_CHAIN_BATON_SMALL: return run_chain(p, LIM_BATON, CHAIN_SMALL);
    case M_CHAIN_BATON_BIG: return run_chain(p, LIM_BATON, CHAIN_BIG);
    case M_CROWD_CAP: return run_crowd(p, LIM_CAP, CROWD_THREADS, CROWD_TOKENS);
    case M_CROWD_SEM: return run_crowd(p, LIM_SEM, CROWD_THREADS, CROWD_TOKENS);
    case M_CROWD_NAIVE: return run_crowd(p, LIM_NAIVE, CROWD_THREADS, CROWD_TOKENS);
    case M_CROWD_BATON: return run_crowd(p, LIM_BATON, CROWD_THREADS, CROWD_TOKENS);
    case M_CROWD_CAP_TP:
        return run_crowd(p, LIM_CAP_THROUGHPUT, CROWD_THREADS, CROWD_TOKENS);
    case NMEAS: break;
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
    unsigned i, any = 0;

    for (i = 0; i < NFIG; i++) {
        shown[i] = only == NULL || listed(only, figures[i].id);
        if (shown[i])
            needed[figures[i].value] = needed[figures[i].baseline] = 1;
        any |= (unsigned)shown[i];
    }
    if (!any) {
        fprintf(stderr, "bench: --only %s names no figure\n", only);
        exit(2);
    }
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

    printf("\n%-3s %-41s %11s %11s %6s %13s %6s %s\n", "fig", "what", "value",
           "baseline", "ratio", "IQR", "target", "verdict");
    for (i = 0; i < NFIG; i++) {
        const struct figure *f = &figures[i];
        if (!shown[i])
            continue;
        ratios(f, n, v);
        ratio = quantile(v, n, 0.5);
        missed |= f->target != 0 && ratio > f->target;
        printf("%-3s %-41s %11.1f %11.1f %6.2f %6.2f..%-5.2f ", f->id, f->what,
               median_ns(f->value, n), median_ns(f->baseline, n), ratio,
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

    printf("\n%-34s %11s %11s %11s %9s %11s\n", "measurement (ns per operation)", "median",
           "min", "max", "csw/op", "cpu ns/op");
    for (m = 0; m < NMEAS; m++) {
        if (!needed[m])
            continue;
        for (r = 0; r < n; r++)
            v[r] = results[m][r].ns;
        printf("%-34s %11.1f %11.1f %11.1f %9.2f %11.1f\n", meas_names[m],
               quantile(v, n, 0.5), quantile(v, n, 0), quantile(v, n, 1),
               median_csw((enum meas)m, n), median_cpu((enum meas)m, n));
    }
}

static void write_csv(const char *path, int n)
{
    double v[MAX_ROUNDS], ratio;
    unsigned i;
    FILE *out = fopen(path, "w");

    if (out == NULL) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(out, "figure,what,unit,value,baseline,ratio,ratio_p25,ratio_p75,"
                 "ratio_min,ratio_max,target,verdict,value_csw,baseline_csw,"
                 "value_cpu_ns,baseline_cpu_ns,rounds\n");
    for (i = 0; i < NFIG; i++) {
        const struct figure *f = &figures[i];
        if (!shown[i])
            continue;
        ratios(f, n, v);
        ratio = quantile(v, n, 0.5);
        fprintf(out, "%s,\"%s\",%s,%.2f,%.2f,%.4f,%.4f,%.4f,%.4f,%.4f,", f->id, f->what,
                f->unit, median_ns(f->value, n), median_ns(f->baseline, n), ratio,
                quantile(v, n, 0.25), quantile(v, n, 0.75), quantile(v, n, 0),
                quantile(v, n, 1));
        if (f->target != 0)
            fprintf(out, "%.2f,", f->target);
        else
            fprintf(out, ",");
        fprintf(out, "%s,%.3f,%.3f,%.1f,%.1f,%d\n", verdict(f, ratio),
                median_csw(f->value, n), median_csw(f->baseline, n), median_cpu(f->value, n),
                median_cpu(f->baseline, n), n);
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
    double load[3] = { 0, 0, 0 };
    int r, missed;

    parse_options(argc, argv, &o);
    select_figures(o.only);
    set_params(&o, &p);
    if (getloadavg(load, 3) < 0)
        load[0] = load[1] = load[2] = 0;
    printf("libcaplimit bench: %d rounds%s, %ld cpus, load %.2f %.2f %.2f\n", o.rounds,
           o.quick ? " (quick)" : "", sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1],
           load[2]);
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
    write_csv(o.csv, o.rounds);
    return o.strict && missed ? 1 : 0;
}
