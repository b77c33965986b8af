/* dsn_fleet_report.c: `dsn fleet report FLEET`: every customer's evaluation in one report,
 * report/fleet.md and report/fleet.json.
 *
 * Reads, per item: items/NAME.json (who, seed, serial), out/NAME/eval.json (what dsn eval
 * measured) and out/NAME/result.json (times), or failed/NAME.json. Writes a table per customer,
 * the fleet's summary and worst cases (lowest valid-serial accuracy, highest raw, forged,
 * Hamming-1, Hamming-2 and neighbour-swap accuracy, highest cross-customer pair), the cross-customer matrix over the pairs the
 * plan sampled (dsn fleet plan --cross K --seed S), the failures and what is still pending, and
 * which customers' models meet the lock's per-model targets (dsn_eval.h's DSN_LOCK_LIMITS_DEFAULT,
 * the valid serial's limit the plan's --max-drop), by how much the others miss them.
 * All accuracies in percent, as dsn eval writes them. */
#include "dsn_fleet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsn_dir.h"
#include "dsn_targets.h"
#include "dsn_util.h"

#define FULL_MATRIX_MAX 16   /* up to this many customers the cross matrix is drawn in full */
#define PAIRS_LISTED 50      /* otherwise the highest pairs are listed                       */

/* The measures of one customer, in table order; `low` marks the one where lower is worse. */
enum { M_TEACHER, M_VALID, M_RAW, M_FORGED, M_FORGED_MAX, M_H1, M_H1_MAX, M_H2, M_H2_MAX, M_H4, M_SWAP_MAX, M_CROSS_MAX,
       M_COUNT };
/* key in eval.json (cross_max: the highest of its "cross"), title, column of the customer table */
static const struct { const char *key, *title, *column; int low; } measures[M_COUNT] = {
    {"teacher", "teacher", "teacher", 1},
    {"valid", "valid serial", "valid", 1},
    {"raw", "no serial", "raw", 0},
    {"forged_mean", "forged mean", "forged mean", 0},
    {"forged_max", "forged max", "forged max", 0},
    {"hamming_1", "Hamming 1 mean", "H1 mean", 0},
    {"hamming_1_max", "Hamming 1 max", "H1 max", 0},
    {"hamming_2", "Hamming 2 mean", "H2", 0},
    {"hamming_2_max", "Hamming 2 max", "H2 max", 0},
    {"hamming_4", "Hamming 4 mean", "H4", 0},
    {"swap_max", "neighbour swaps max", "swap max", 0},
    {"cross_max", "other customers max", "others max", 0},
};

typedef struct row {
    const char *name;
    json_t *item, *eval, *result, *failure;   /* owned                              */
    dsn_fleet_state state;
    double v[M_COUNT];
    int has[M_COUNT];
    double train_s, total_s, cpu_s;   /* wall seconds of training and of the item; CPU seconds */
    int run, runs;                    /* the training run dsn select kept, of runs; -1: one run  */
} row;

typedef struct report {
    const dsn_fleet *f;
    row *rows;
    int n, done, failed, pending;
    json_t *targets;   /* the lock's per-model targets over the evaluated customers (targets_json) */
} report;

static json_t *read_if(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? dsn_fleet_read_json(path) : NULL;
}

/* Wall seconds of the steps named `step` or `step` and a run number (train, train0, train1...). */
static double step_seconds(const json_t *result, const char *step)
{
    json_t *s;
    size_t i, n = strlen(step);
    double sum = 0;
    json_array_foreach(json_object_get(result, "steps"), i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        if(!name || strncmp(name, step, n) != 0 || strspn(name + n, "0123456789") != strlen(name + n)) continue;
        sum += json_number_value(json_object_get(s, "seconds"));
    }
    return sum;
}

/* out/NAME/select.json: the run dsn select kept and of how many, or -1 (one run, no choice). */
static void chosen_run(const report *r, row *w)
{
    char path[DSN_FLEET_PATH];
    dsn_fleet_path(path, sizeof path, r->f, "out/%s/select.json", w->name);
    json_t *j = read_if(path);
    w->run = json_is_integer(json_object_get(j, "chosen")) ? (int)json_integer_value(json_object_get(j, "chosen")) : -1;
    w->runs = (int)json_array_size(json_object_get(j, "candidates"));
    json_decref(j);
}

static void fill_row(report *r, row *w)
{
    char path[DSN_FLEET_PATH];
    dsn_fleet_path(path, sizeof path, r->f, "items/%s.json", w->name);
    w->item = read_if(path);
    w->state = dsn_fleet_state_of(r->f, w->name);
    if(w->state == DSN_FLEET_DONE) {
        dsn_fleet_path(path, sizeof path, r->f, "out/%s/eval.json", w->name);
        w->eval = read_if(path);
        dsn_fleet_path(path, sizeof path, r->f, "out/%s/result.json", w->name);
        w->result = read_if(path);
        w->train_s = step_seconds(w->result, "train");
        w->total_s = json_number_value(json_object_get(w->result, "seconds"));
        w->cpu_s = json_number_value(json_object_get(w->result, "cpu_seconds"));
        chosen_run(r, w);
    } else if(w->state == DSN_FLEET_FAILED) {
        dsn_fleet_path(path, sizeof path, r->f, "failed/%s.json", w->name);
        w->failure = read_if(path);
    }
    for(int m = 0; m < M_COUNT && w->eval; ++m) {
        json_t *v = json_object_get(w->eval, measures[m].key);
        w->has[m] = json_is_number(v);
        w->v[m] = json_number_value(v);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(w->eval, "cross"), key, v) {
        if(!w->has[M_CROSS_MAX] || json_number_value(v) > w->v[M_CROSS_MAX]) w->v[M_CROSS_MAX] = json_number_value(v);
        w->has[M_CROSS_MAX] = 1;
    }
    if(w->state == DSN_FLEET_DONE && !w->eval) w->state = DSN_FLEET_FAILED; /* out/ without eval.json */
    r->done += w->state == DSN_FLEET_DONE;
    r->failed += w->state == DSN_FLEET_FAILED;
    r->pending += w->state == DSN_FLEET_PENDING;
}

static const char *str_of(const row *w, const char *key)
{
    const char *s = json_string_value(json_object_get(w->item, key));
    return s ? s : "";
}

/* The customer with the worst value of measure m (lowest when measures[m].low), or -1. */
static int worst_of(const report *r, int m)
{
    int best = -1;
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        if(!w->has[m]) continue;
        if(best < 0 || (measures[m].low ? w->v[m] < r->rows[best].v[m] : w->v[m] > r->rows[best].v[m])) best = i;
    }
    return best;
}

/* mean, sd (sample), min, max of measure m over the customers that have it; returns the count. */
static int stats_of(const report *r, int m, double *mean, double *sd, double *lo, double *hi)
{
    int n = 0;
    double s = 0, ss = 0;
    *lo = *hi = 0;
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        if(!w->has[m]) continue;
        if(n == 0 || w->v[m] < *lo) *lo = w->v[m];
        if(n == 0 || w->v[m] > *hi) *hi = w->v[m];
        s += w->v[m];
        ss += w->v[m] * w->v[m];
        ++n;
    }
    *mean = n ? s / n : 0;
    *sd = n > 1 ? sqrt(fmax(0, (ss - s * s / n) / (n - 1))) : 0;
    return n;
}

/* CPU and wall seconds summed over the finished items (each item's train, export and eval). */
static int cost_of(const report *r, double *cpu, double *wall)
{
    int n = 0;
    *cpu = *wall = 0;
    for(int i = 0; i < r->n; ++i) {
        if(!r->rows[i].result) continue;
        *cpu += r->rows[i].cpu_s;
        *wall += r->rows[i].total_s;
        ++n;
    }
    return n;
}

static json_t *num_or_null(int has, double v) { return has ? json_real(v) : json_null(); }

static json_t *row_json(const row *w)
{
    static const char *const states[] = {"pending", "done", "failed"};
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "name", w->name, "customer", str_of(w, "customer"), "model",
                          str_of(w, "model"), "serial", str_of(w, "serial"), "seed",
                          json_object_get(w->item, "seed") ? json_object_get(w->item, "seed") : json_null(), "status",
                          states[w->state]);
    for(int m = 0; m < M_COUNT; ++m) json_object_set_new(j, measures[m].key, num_or_null(w->has[m], w->v[m]));
    json_t *cross = json_object_get(w->eval, "cross");
    json_object_set_new(j, "cross", cross ? json_incref(cross) : json_object());
    json_object_set_new(j, "run", w->result && w->run >= 0 ? json_integer(w->run) : json_null());
    json_object_set_new(j, "runs", w->result && w->run >= 0 ? json_integer(w->runs) : json_null());
    json_object_set_new(j, "train_seconds", num_or_null(w->result != NULL, w->train_s));
    json_object_set_new(j, "seconds", num_or_null(w->result != NULL, w->total_s));
    json_object_set_new(j, "cpu_seconds", num_or_null(w->result != NULL, w->cpu_s));
    json_object_set_new(j, "host", json_string(json_string_value(json_object_get(w->result, "host")) ?
                                               json_string_value(json_object_get(w->result, "host")) : ""));
    return j;
}

typedef struct pair {
    const char *model_of, *serial_of;
    double acc;
} pair;

static int by_acc_desc(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if(x->acc != y->acc) return x->acc < y->acc ? 1 : -1;
    int c = strcmp(x->model_of, y->model_of);
    return c ? c : strcmp(x->serial_of, y->serial_of);
}

/* Every sampled (model, serial of) pair, highest accuracy first. */
static json_t *cross_pairs(const report *r)
{
    size_t n = 0, cap = 0;
    pair *p = NULL;
    for(int i = 0; i < r->n; ++i) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(r->rows[i].eval, "cross"), key, v) {
            if(n == cap && !(p = realloc(p, (cap = cap ? 2 * cap : 64) * sizeof *p))) dsn_die("out of memory");
            p[n++] = (pair){str_of(&r->rows[i], "customer"), key, json_number_value(v)};
        }
    }
    if(n) qsort(p, n, sizeof *p, by_acc_desc);
    json_t *pairs = json_array();
    for(size_t i = 0; i < n; ++i)
        json_array_append_new(pairs, json_pack("{s:s, s:s, s:f}", "model_of", p[i].model_of, "serial_of", p[i].serial_of,
                                               "accuracy", p[i].acc));
    free(p);
    return pairs;
}

/* The lock's limits: dsn_eval.h's, the valid serial's the plan's --max-drop (a plan of before
 * recorded it only under "select", with more than one candidate). */
static dsn_lock_limits limits_of(const report *r)
{
    dsn_lock_limits l = DSN_LOCK_LIMITS_DEFAULT;
    json_t *drop = json_object_get(r->f->plan, "max_drop");
    if(!drop) drop = json_object_get(json_object_get(r->f->plan, "select"), "max_drop");
    if(json_is_number(drop)) l.drop = json_number_value(drop);
    return l;
}

/* The lock's per-model targets over the evaluated customers (dsn_targets.h). */
static json_t *targets_json(const report *r)
{
    static const int m_of[DSN_TARGETS] = {M_VALID, M_RAW, M_FORGED_MAX, M_CROSS_MAX, M_H1_MAX, M_H2_MAX};
    dsn_target_model *t = calloc((size_t)r->n + 1, sizeof *t);
    int n = 0;
    if(!t) dsn_die("out of memory");
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        if(!w->eval) continue;
        t[n] = (dsn_target_model){.name = str_of(w, "customer"), .teacher = w->v[M_TEACHER], .has_teacher = w->has[M_TEACHER]};
        for(int k = 0; k < DSN_TARGETS; ++k) {
            t[n].v[k] = w->v[m_of[k]];
            t[n].has[k] = w->has[m_of[k]];
        }
        ++n;
    }
    dsn_lock_limits l = limits_of(r);
    json_t *j = dsn_targets_json(t, n, &l);
    free(t);
    return j;
}

static json_t *report_json(const report *r, json_t *pairs)
{
    json_t *summary = json_object(), *worst = json_object(), *rows = json_array(), *failures = json_array(),
           *pending = json_array();
    for(int m = 0; m < M_COUNT; ++m) {
        double mean, sd, lo, hi;
        int n = stats_of(r, m, &mean, &sd, &lo, &hi), w = worst_of(r, m);
        if(n == 0) continue;
        json_object_set_new(summary, measures[m].key, json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", n, "mean", mean, "sd",
                                                                sd, "min", lo, "max", hi));
        json_object_set_new(worst, measures[m].key, json_pack("{s:s, s:s, s:f}", "rule", measures[m].low ? "lowest" : "highest",
                                                              "customer", str_of(&r->rows[w], "customer"), "value",
                                                              r->rows[w].v[m]));
    }
    if(json_array_size(pairs) > 0) json_object_set(worst, "cross_pair", json_array_get(pairs, 0));
    double cpu = 0, wall = 0;
    int n_cost = cost_of(r, &cpu, &wall);
    json_object_set_new(summary, "cost", json_pack("{s:i, s:f, s:f, s:f}", "customers", n_cost, "cpu_seconds", cpu,
                                                   "wall_seconds", wall, "students_per_core_hour",
                                                   cpu > 0 ? 3600.0 * n_cost / cpu : 0.0));
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        json_array_append_new(rows, row_json(w));
        if(w->state == DSN_FLEET_FAILED)
            json_array_append_new(failures, w->failure ? json_deep_copy(w->failure)
                                                       : json_pack("{s:s, s:s}", "name", w->name, "status",
                                                                   "out/ holds no eval.json"));
        if(w->state == DSN_FLEET_PENDING) json_array_append_new(pending, json_string(w->name));
    }
    return json_pack("{s:i, s:s, s:O, s:{s:i, s:i, s:i, s:i}, s:o, s:o, s:o, s:o, s:O, s:o, s:o}", "dsn_fleet_report",
                     DSN_FLEET_VERSION, "fleet", r->f->dir, "seed", json_object_get(r->f->plan, "seed"), "counts", "customers",
                     r->n, "done", r->done, "failed", r->failed, "pending", r->pending, "summary", summary, "worst",
                     worst, "targets", json_incref(r->targets), "customers", rows, "cross_pairs", pairs, "failures", failures,
                     "pending_items", pending);
}

static void md_num(FILE *m, const row *w, int k)
{
    if(w->has[k]) fprintf(m, " %.2f |", w->v[k]);
    else fprintf(m, " - |");
}

static void md_summary(FILE *m, const report *r, const json_t *pairs)
{
    fprintf(m, "## Fleet summary (%d customer%s evaluated)\n\n| measure | mean | sd | min | max | worst case |\n"
               "|---|---:|---:|---:|---:|---|\n", r->done, r->done == 1 ? "" : "s");
    for(int k = 0; k < M_COUNT; ++k) {
        double mean, sd, lo, hi;
        if(stats_of(r, k, &mean, &sd, &lo, &hi) == 0) continue;
        int w = worst_of(r, k);
        fprintf(m, "| %s | %.2f | %.2f | %.2f | %.2f | %s: %.2f (%s) |\n", measures[k].title, mean, sd, lo, hi,
                str_of(&r->rows[w], "customer"), r->rows[w].v[k], measures[k].low ? "lowest" : "highest");
    }
    double cpu, wall;
    int n = cost_of(r, &cpu, &wall);
    if(n > 0 && cpu > 0)
        fprintf(m, "\nCost, measured: %.3f core-hours of CPU for %d customers (every step: %.1f core-minutes each, "
                   "%.1f min of wall time each), %.2f students per core-hour.\n", cpu / 3600, n, cpu / 60 / n, wall / 60 / n,
                3600.0 * n / cpu);
    fprintf(m, "\n## Worst cases\n\n");
    static const struct { int m; const char *what; } worst[] = {
        {M_VALID, "lowest accuracy with the valid serial"}, {M_RAW, "highest accuracy without a serial"},
        {M_FORGED_MAX, "highest accuracy with a forged serial"}, {M_H1_MAX, "highest accuracy 1 bit from the serial"},
        {M_H2_MAX, "highest accuracy 2 bits from the serial"},
        {M_SWAP_MAX, "highest accuracy with two neighbouring cells of the serial swapped"},
    };
    for(int i = 0; i < DSN_COUNT(worst); ++i) {
        int w = worst_of(r, worst[i].m);
        if(w >= 0) fprintf(m, "- %s: **%.2f%%**, %s\n", worst[i].what, r->rows[w].v[worst[i].m], str_of(&r->rows[w], "customer"));
    }
    json_t *top = json_array_get(pairs, 0);
    if(top)
        fprintf(m, "- highest accuracy with another customer's serial: **%.2f%%**, %s's model with %s's serial\n",
                json_number_value(json_object_get(top, "accuracy")), json_string_value(json_object_get(top, "model_of")),
                json_string_value(json_object_get(top, "serial_of")));
    fprintf(m, "\n");
}

/* ## Lock targets: how many models meet each, who misses it and by how much. */
static void md_targets(FILE *m, const report *r)
{
    char *md = dsn_targets_md(r->targets);
    fprintf(m, "## Lock targets\n\n%s\n", md);
    free(md);
}

static void md_customers(FILE *m, const report *r)
{
    static const char *const states[] = {"pending", "done", "FAILED"};
    fprintf(m, "## Customers\n\n| # | customer | model | serial | seed |");
    for(int k = 0; k < M_COUNT; ++k) fprintf(m, " %s |", measures[k].column);
    fprintf(m, " run kept | train s | CPU s | status |\n|---:|---|---|---|---:|");
    for(int k = 0; k < M_COUNT; ++k) fprintf(m, "---:|");
    fprintf(m, "---:|---:|---:|---|\n");
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        fprintf(m, "| %d | %s | %s | `%s` | %lld |", i, str_of(w, "customer"), str_of(w, "model"), str_of(w, "serial"),
                (long long)json_integer_value(json_object_get(w->item, "seed")));
        for(int k = 0; k < M_COUNT; ++k) md_num(m, w, k);
        if(w->result && w->run >= 0) fprintf(m, " %d of %d |", w->run, w->runs);
        else fprintf(m, " - |");
        if(w->result) fprintf(m, " %.0f | %.0f |", w->train_s, w->cpu_s);
        else fprintf(m, " - | - |");
        fprintf(m, " %s |\n", states[w->state]);
    }
    fprintf(m, "\n");
}

/* The sampled pairs: a full matrix (unsampled cells '.') for a small fleet, the top pairs otherwise. */
static void md_cross(FILE *m, const report *r, const json_t *pairs)
{
    size_t n = json_array_size(pairs);
    fprintf(m, "## Cross-customer matrix (%zu sampled pairs, plan seed %lld, --cross %lld)\n\nAccuracy (%%) of each "
               "customer's model (row) with another customer's serial (column).\n\n", n,
            (long long)json_integer_value(json_object_get(r->f->plan, "seed")),
            (long long)json_integer_value(json_object_get(json_object_get(r->f->plan, "eval"), "cross")));
    if(n == 0) return;
    if(r->n <= FULL_MATRIX_MAX) {
        fprintf(m, "| model \\ serial of |");
        for(int j = 0; j < r->n; ++j) fprintf(m, " %s |", str_of(&r->rows[j], "customer"));
        fprintf(m, "\n|---|");
        for(int j = 0; j < r->n; ++j) fprintf(m, "---:|");
        for(int i = 0; i < r->n; ++i) {
            fprintf(m, "\n| %s |", str_of(&r->rows[i], "customer"));
            json_t *cross = json_object_get(r->rows[i].eval, "cross");
            for(int j = 0; j < r->n; ++j) {
                json_t *v = json_object_get(cross, str_of(&r->rows[j], "customer"));
                if(v) fprintf(m, " %.2f |", json_number_value(v));
                else fprintf(m, " %s |", i == j ? "(own)" : ".");
            }
        }
        fprintf(m, "\n\n");
        return;
    }
    fprintf(m, "| model of | serial of | accuracy |\n|---|---|---:|\n");
    for(size_t i = 0; i < n && i < PAIRS_LISTED; ++i) {
        json_t *p = json_array_get(pairs, i);
        fprintf(m, "| %s | %s | %.2f |\n", json_string_value(json_object_get(p, "model_of")),
                json_string_value(json_object_get(p, "serial_of")), json_number_value(json_object_get(p, "accuracy")));
    }
    fprintf(m, "\n(the %d highest of %zu; every pair is in fleet.json)\n\n", PAIRS_LISTED, n);
}

static void md_failures(FILE *m, const report *r)
{
    fprintf(m, "## Failures (%d)\n\n", r->failed);
    for(int i = 0; i < r->n; ++i) {
        const row *w = &r->rows[i];
        if(w->state != DSN_FLEET_FAILED) continue;
        const char *tail = json_string_value(json_object_get(w->failure, "log_tail"));
        fprintf(m, "- **%s** (%s): step %s, %s after %lld attempt(s); log %s\n", w->name, str_of(w, "customer"),
                json_string_value(json_object_get(w->failure, "step")) ? json_string_value(json_object_get(w->failure, "step")) : "?",
                json_string_value(json_object_get(w->failure, "status")) ? json_string_value(json_object_get(w->failure, "status"))
                                                                         : "out/ holds no eval.json",
                (long long)json_integer_value(json_object_get(w->failure, "attempts")),
                json_string_value(json_object_get(w->failure, "log")) ? json_string_value(json_object_get(w->failure, "log")) : "-");
        if(tail && *tail) { /* its last 6 lines */
            size_t len = strlen(tail);
            const char *end = tail + len - (tail[len - 1] == '\n'), *from = end;
            for(int lines = 0; from > tail; --from)
                if(from[-1] == '\n' && ++lines == 6) break;
            fprintf(m, "\n```\n%.*s\n```\n\n", (int)(end - from), from);
        }
    }
    if(r->pending) {
        fprintf(m, "\n## Pending (%d): not run yet, or interrupted\n\n", r->pending);
        for(int i = 0; i < r->n; ++i)
            if(r->rows[i].state == DSN_FLEET_PENDING) fprintf(m, "- %s\n", r->rows[i].name);
    }
}

static char *report_md(const report *r, const json_t *pairs)
{
    size_t size = 0;
    char *out = NULL;
    FILE *m = open_memstream(&out, &size);
    if(!m) dsn_die("out of memory");
    fprintf(m, "# DSN fleet report\n\n`%s`: %d customers, %d done, %d failed, %d pending. Plan seed %lld, %lld thread(s) "
               "per item, student cfg `%s`.\n\n", r->f->dir, r->n, r->done, r->failed, r->pending,
            (long long)json_integer_value(json_object_get(r->f->plan, "seed")),
            (long long)json_integer_value(json_object_get(r->f->plan, "threads")),
            json_string_value(json_object_get(r->f->plan, "student_cfg_source")) ?
                json_string_value(json_object_get(r->f->plan, "student_cfg_source")) : "?");
    if(r->done) md_summary(m, r, pairs);
    if(r->done) md_targets(m, r);
    md_customers(m, r);
    md_cross(m, r, pairs);
    md_failures(m, r);
    fclose(m);
    return out;
}

int dsn_fleet_report(const dsn_fleet *f, const char *out_dir)
{
    report r = {f, calloc((size_t)f->n + 1, sizeof(row)), f->n, 0, 0, 0, NULL};
    char dir[DSN_FLEET_PATH], path[DSN_FLEET_PATH + 16];
    if(!r.rows) dsn_die("out of memory");
    for(int i = 0; i < f->n; ++i) {
        r.rows[i].name = f->names[i];
        fill_row(&r, &r.rows[i]);
    }
    r.targets = targets_json(&r);
    json_t *pairs = cross_pairs(&r), *j = report_json(&r, pairs);
    char *md = report_md(&r, pairs);
    if(out_dir) snprintf(dir, sizeof dir, "%s", out_dir);
    else dsn_fleet_path(dir, sizeof dir, f, "report");
    int rc = DSN_EXIT_ERROR;
    if(mkdir(dir, 0777) != 0 && dsn_dir_exists(dir) != 1) dsn_error("fleet report: cannot create %s", dir);
    else {
        snprintf(path, sizeof path, "%s/fleet.json", dir);
        if(j && dsn_fleet_write_json(path, j) == 0) {
            snprintf(path, sizeof path, "%s/fleet.md", dir);
            if(dsn_write_file(path, md, strlen(md), 0644, DSN_WRITE_REPLACE) == 0) rc = DSN_EXIT_OK;
        }
    }
    if(rc == DSN_EXIT_OK)
        printf("%s/fleet.md, %s/fleet.json: %d customers, %d done, %d failed, %d pending\n", dir, dir, r.n, r.done,
               r.failed, r.pending);
    for(int i = 0; i < r.n; ++i) {
        json_decref(r.rows[i].item);
        json_decref(r.rows[i].eval);
        json_decref(r.rows[i].result);
        json_decref(r.rows[i].failure);
    }
    free(r.rows);
    free(md);
    json_decref(j);
    json_decref(pairs);
    json_decref(r.targets);
    return rc;
}
