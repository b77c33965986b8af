/* cmd_report.c: `dsn report --out report/ RUN.json...`: many eval results, one report.
 *
 * Runs (dsn_report.h: eval JSONs, or run manifests that add training times and logs) are grouped
 * by data set and seed. Per seed: each customer model's measures, their mean over the seed's
 * models, the cross-customer matrix (rows: model, columns: serial; the diagonal is the valid
 * serial) and the wall times. Per data set: mean, sample sd, min and max of the per-seed values.
 * Writes report.json, report.md and, through gnuplot, PNGs in plots/ (with the .gp scripts and .dat
 * files beside them, so a plot can be restyled and redrawn by hand). Per data set also the lock's
 * per-model targets (dsn_targets.h; the valid serial's limit --max-drop): how many models meet
 * each, who misses it by how much; and each stamp cell's accuracy with its bit flipped, mean and
 * max over the data set's models, with the weakest row and column of the grid. Prints the summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsn_jansson.h"
#include "dsn_serial.h"
#include "dsn_learn.h"
#include "dsn_report.h"
#include "dsn_targets.h"
#include "dsn_util.h"

#define MAX_RUNS 4096
#define MAX_NAMES 256

/* Each stamp cell's accuracy with its bit flipped, mean and max over a data set's models with
 * per-bit results as long as its first such run's, on a grid of as many columns (cell_map_of); the
 * grid is the stamp's, and the row and column means name the weakest line. models == 0: no run
 * has per-bit results. */
typedef struct cell_map {
    int models, bits, gw, gh, weak_row, weak_col;
    double *mean, *max, weak_row_mean, weak_col_mean, all_mean;
} cell_map;

typedef struct report {
    dsn_run *runs;
    int n;
    const char *out;
    char plots[1024];
    int gnuplot;          /* 1 found, 0 not yet tried, -1 missing */
    int plot_failures;
    dsn_lock_limits limits;   /* the lock's per-model targets          */
    json_t **targets;         /* [n]: at each data set's first run, its targets (targets_of) */
    cell_map *cells;          /* [n]: at each data set's first run, its cell map (cell_map_of) */
} report;

/* The stamp's grid for `bits` cells, row-major: `columns` columns as dsn eval wrote them
 * ("grid_columns"), or for 0 (an eval file from before) ceil(sqrt(bits)), as dsn_geometry_init
 * lays out a square grid. */
static void grid_shape(int bits, int columns, int *gw, int *gh)
{
    int w = dsn_grid_columns(bits, columns);
    *gw = w;
    *gh = (bits + w - 1) / w;
}

/* ---- grouping ---------------------------------------------------------------------------- */

/* Within a data set: by seed, then customer. */
static int run_cmp(const void *a, const void *b)
{
    const dsn_run *x = a, *y = b;
    if(x->seed != y->seed) return x->seed < y->seed ? -1 : 1;
    return strcmp(x->customer, y->customer);
}

/* [*first, *end) is the group of runs sharing runs[*first]'s data set (and seed when by_seed). */
static void group_end(const report *rp, int first, int by_seed, int *end)
{
    int e = first + 1;
    while(e < rp->n && strcmp(rp->runs[e].dataset, rp->runs[first].dataset) == 0 &&
          (!by_seed || rp->runs[e].seed == rp->runs[first].seed))
        ++e;
    *end = e;
}

/* Mean over the seed's models of one measure; 0 when none has it. */
static int seed_mean(const report *rp, int a, int b, int m, double *out)
{
    double sum = 0;
    int n = 0;
    for(int i = a; i < b; ++i) {
        if(!rp->runs[i].has[m]) continue;
        sum += rp->runs[i].value[m];
        ++n;
    }
    if(n) *out = sum / n;
    return n > 0;
}

/* The teacher trains once per seed: its time is the largest any manifest of the seed gives. */
static double seed_train_seconds(const report *rp, int a, int b, int *known)
{
    double teacher = -1, students = 0;
    *known = 0;
    for(int i = a; i < b; ++i) {
        if(rp->runs[i].teacher_seconds > teacher) teacher = rp->runs[i].teacher_seconds;
        if(rp->runs[i].train_seconds >= 0) {
            students += rp->runs[i].train_seconds;
            *known = 1;
        }
    }
    if(teacher >= 0) *known = 1;
    return (teacher > 0 ? teacher : 0) + students;
}

static double seed_eval_seconds(const report *rp, int a, int b, int *known)
{
    double s = 0;
    *known = 0;
    for(int i = a; i < b; ++i) {
        if(rp->runs[i].eval_seconds >= 0) {
            s += rp->runs[i].eval_seconds;
            *known = 1;
        }
    }
    return s;
}

/* Columns of the cross-customer matrix: the seed's customers, then other serials named. */
static int cross_columns(const report *rp, int a, int b, const char **cols)
{
    int n = 0;
    for(int i = a; i < b && n < MAX_NAMES; ++i) cols[n++] = rp->runs[i].customer;
    for(int i = a; i < b; ++i) {
        for(int k = 0; k < rp->runs[i].n_cross && n < MAX_NAMES; ++k) {
            int seen = 0;
            for(int j = 0; j < n && !seen; ++j) seen = strcmp(cols[j], rp->runs[i].cross_name[k]) == 0;
            if(!seen) cols[n++] = rp->runs[i].cross_name[k];
        }
    }
    return n;
}

/* Model `r` with the serial of customer `col`: the valid accuracy on the diagonal. */
static int cross_entry(const dsn_run *r, const char *col, double *out)
{
    if(strcmp(r->customer, col) == 0) {
        *out = r->value[DSN_M_VALID];
        return 1;
    }
    for(int k = 0; k < r->n_cross; ++k) {
        if(strcmp(r->cross_name[k], col) == 0) {
            *out = r->cross[k];
            return 1;
        }
    }
    return 0;
}

/* ---- report.json ------------------------------------------------------------------------- */

static json_t *num_or_null(int present, double v)
{
    return present ? dsn_json_real(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *json_run(const dsn_run *r, int *bad)
{
    json_t *j = json_object(), *cross = json_object(), *bits = json_array();
    if(!j) ++*bad;
    dsn_json_put(j, "customer", str_or_null(r->customer), bad);
    dsn_json_put(j, "model", str_or_null(r->model), bad);
    dsn_json_put(j, "source", str_or_null(r->source), bad);
    dsn_json_put(j, "eval", str_or_null(r->eval_path), bad);
    for(int m = 0; m < DSN_M_COUNT; ++m) {
        dsn_json_put(j, dsn_metrics[m].key, num_or_null(r->has[m], r->value[m]), bad);
        if(!r->has_ci[m]) continue;
        char key[64];
        snprintf(key, sizeof key, "%s_ci95", dsn_metrics[m].key);
        dsn_json_put(j, key, json_pack("[o, o]", dsn_json_real(r->lo[m]), dsn_json_real(r->hi[m])), bad);
    }
    for(int k = 0; k < r->n_cross; ++k) dsn_json_put(cross, r->cross_name[k], dsn_json_real(r->cross[k]), bad);
    dsn_json_put(j, "cross", cross, bad);
    for(int i = 0; i < r->n_bits; ++i) dsn_json_put(bits, NULL, dsn_json_real(r->per_bit[i]), bad);
    dsn_json_put(j, "hamming_1_per_bit", bits, bad);
    dsn_json_put(j, "n_images", json_integer(r->n_images), bad);
    dsn_json_put(j, "train_wall_seconds", num_or_null(r->train_seconds >= 0, r->train_seconds), bad);
    dsn_json_put(j, "teacher_wall_seconds", num_or_null(r->teacher_seconds >= 0, r->teacher_seconds), bad);
    dsn_json_put(j, "eval_wall_seconds", num_or_null(r->eval_seconds >= 0, r->eval_seconds), bad);
    dsn_json_put(j, "train_log", str_or_null(r->train_log), bad);
    dsn_json_put(j, "teacher_log", str_or_null(r->teacher_log), bad);
    return j;
}

static json_t *json_spread(dsn_spread s)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:i}", "mean", num_or_null(s.n > 0, s.mean), "sd",
                     num_or_null(s.n > 1, s.sd), "min", num_or_null(s.n > 0, s.min), "max",
                     num_or_null(s.n > 0, s.max), "n", s.n);
}

/* The per-seed values of measure m (m == DSN_M_COUNT: training seconds, +1: eval seconds) over
 * the data set's seeds [a, b). */
static dsn_spread over_seeds(const report *rp, int a, int b, int m)
{
    double v[MAX_RUNS];
    int n = 0;
    for(int s = a, e; s < b; s = e) {
        group_end(rp, s, 1, &e);
        double x;
        int ok;
        if(m < DSN_M_COUNT) ok = seed_mean(rp, s, e, m, &x);
        else if(m == DSN_M_COUNT) x = seed_train_seconds(rp, s, e, &ok);
        else x = seed_eval_seconds(rp, s, e, &ok);
        if(ok) v[n++] = x;
    }
    return dsn_spread_of(v, n);
}

/* One seed of a data set, runs [s, se): its runs, their means, the cross-customer matrix, times. */
static json_t *json_seed(const report *rp, int s, int se, int *bad)
{
    json_t *j = json_object(), *runs = json_array(), *rows = json_array(), *columns = json_array(),
           *matrix = json_array();
    if(!j) ++*bad;
    for(int i = s; i < se; ++i) dsn_json_put(runs, NULL, json_run(&rp->runs[i], bad), bad);
    dsn_json_put(j, "runs", runs, bad);
    for(int m = 0; m < DSN_M_COUNT; ++m) {
        double x = 0;
        int ok = seed_mean(rp, s, se, m, &x);
        dsn_json_put(j, dsn_metrics[m].key, num_or_null(ok, x), bad);
    }
    const char *cols[MAX_NAMES];
    int nc = cross_columns(rp, s, se, cols);
    for(int jc = 0; jc < nc; ++jc) dsn_json_put(columns, NULL, json_string(cols[jc]), bad);
    for(int i = s; i < se; ++i) {
        json_t *row = json_array();
        dsn_json_put(rows, NULL, json_string(rp->runs[i].customer), bad);
        for(int jc = 0; jc < nc; ++jc) {
            double x = 0;
            int ok = cross_entry(&rp->runs[i], cols[jc], &x);
            dsn_json_put(row, NULL, num_or_null(ok, x), bad);
        }
        dsn_json_put(matrix, NULL, row, bad);
    }
    dsn_json_put(j, "cross_customer", json_pack("{s:o, s:o, s:o}", "rows", rows, "columns", columns, "matrix", matrix),
                 bad);
    int tk, ek;
    double ts = seed_train_seconds(rp, s, se, &tk), es = seed_eval_seconds(rp, s, se, &ek);
    dsn_json_put(j, "wall_seconds", json_pack("{s:o, s:o}", "train", num_or_null(tk, ts), "eval", num_or_null(ek, es)),
                 bad);
    return j;
}

/* The lock's per-model targets over runs [a, b) of one data set, each named "seed S CUSTOMER". */
static json_t *targets_of(const report *rp, int a, int b)
{
    dsn_target_model *t = calloc((size_t)(b - a) + 1, sizeof *t);
    char (*names)[160] = calloc((size_t)(b - a) + 1, sizeof *names);
    if(!t || !names) dsn_die("out of memory");
    static const int m_of[DSN_TARGETS] = {DSN_M_VALID, DSN_M_RAW, DSN_M_FORGED_MAX, -1, DSN_M_H1_MAX, DSN_M_H2_MAX};
    for(int i = a; i < b; ++i) {
        const dsn_run *r = &rp->runs[i];
        dsn_target_model *m = &t[i - a];
        snprintf(names[i - a], sizeof names[i - a], "seed %ld %s", r->seed, r->customer);
        *m = (dsn_target_model){.name = names[i - a], .teacher = r->value[DSN_M_TEACHER], .has_teacher = r->has[DSN_M_TEACHER]};
        for(int k = 0; k < DSN_TARGETS; ++k) {
            if(m_of[k] < 0) continue;
            m->v[k] = r->value[m_of[k]];
            m->has[k] = r->has[m_of[k]];
        }
        for(int c = 0; c < r->n_cross; ++c) {   /* the best other customer's serial */
            if(!m->has[DSN_TARGET_CROSS] || r->cross[c] > m->v[DSN_TARGET_CROSS]) m->v[DSN_TARGET_CROSS] = r->cross[c];
            m->has[DSN_TARGET_CROSS] = 1;
        }
    }
    json_t *j = dsn_targets_json(t, b - a, &rp->limits);
    free(t);
    free(names);
    return j;
}

/* ---- single-bit neighbours by stamp cell ------------------------------------------------- */

/* The mean of the cells of grid row `index` (is_row) or column `index`. */
static double line_mean(const cell_map *m, int index, int is_row)
{
    double sum = 0;
    int n = 0;
    for(int j = 0; j < (is_row ? m->gw : m->gh); ++j) {
        int k = is_row ? index * m->gw + j : j * m->gw + index;
        if(k < m->bits) sum += m->mean[k], ++n;
    }
    return n ? sum / n : 0;
}

/* The cell map of runs [a, b) (one data set). Returns the number of models in it. */
static int cell_map_of(const report *rp, int a, int b, cell_map *m)
{
    memset(m, 0, sizeof *m);
    int columns = 0;
    for(int i = a; i < b && !m->bits; ++i) m->bits = rp->runs[i].n_bits, columns = rp->runs[i].grid_columns;
    if(m->bits < 1) return 0;
    m->mean = calloc((size_t)m->bits, sizeof *m->mean);
    m->max = calloc((size_t)m->bits, sizeof *m->max);
    if(!m->mean || !m->max) dsn_die("out of memory");
    for(int i = a; i < b; ++i) {
        const dsn_run *r = &rp->runs[i];
        if(r->n_bits != m->bits || r->grid_columns != columns) continue;
        for(int k = 0; k < m->bits; ++k) {
            m->mean[k] += r->per_bit[k];
            if(!m->models || r->per_bit[k] > m->max[k]) m->max[k] = r->per_bit[k];
        }
        ++m->models;
    }
    for(int k = 0; k < m->bits; ++k) m->all_mean += (m->mean[k] /= m->models) / m->bits;
    grid_shape(m->bits, columns, &m->gw, &m->gh);
    m->weak_row_mean = m->weak_col_mean = -1;
    for(int y = 0; y < m->gh; ++y) {
        double v = line_mean(m, y, 1);
        if(v > m->weak_row_mean) m->weak_row_mean = v, m->weak_row = y;
    }
    for(int x = 0; x < m->gw; ++x) {
        double v = line_mean(m, x, 0);
        if(v > m->weak_col_mean) m->weak_col_mean = v, m->weak_col = x;
    }
    return m->models;
}

static void cell_map_free(cell_map *m)
{
    free(m->mean);
    free(m->max);
}

static json_t *json_cells(const cell_map *m, int *bad)
{
    if(!m->models) return json_null();
    json_t *mean = json_array(), *max = json_array();
    for(int k = 0; k < m->bits; ++k) {
        dsn_json_put(mean, NULL, dsn_json_real(m->mean[k]), bad);
        dsn_json_put(max, NULL, dsn_json_real(m->max[k]), bad);
    }
    json_t *j = json_pack("{s:i, s:i, s:o, s:o, s:f, s:{s:i, s:f}, s:{s:i, s:f}}", "models", m->models, "columns",
                          m->gw, "mean", mean, "max", max, "all_mean", m->all_mean, "weakest_row", "index", m->weak_row,
                          "mean", m->weak_row_mean, "weakest_column", "index", m->weak_col, "mean", m->weak_col_mean);
    if(!j) ++*bad;
    return j;
}

static void md_grid(dsn_buf *b, const cell_map *m, const double *v)
{
    dsn_buf_printf(b, "```\n    ");
    for(int x = 0; x < m->gw; ++x) dsn_buf_printf(b, " %6d", x);
    for(int k = 0; k < m->bits; ++k) {
        if(k % m->gw == 0) dsn_buf_printf(b, "\n%4d", k / m->gw);
        dsn_buf_printf(b, " %6.2f", v[k]);
    }
    dsn_buf_printf(b, "\n```\n");
}

static void md_cells(dsn_buf *b, const cell_map *m)
{
    if(!m->models) return;
    dsn_buf_printf(b, "\n### Single-bit neighbours by stamp cell (%d model%s)\n\nAccuracy with one cell's bit flipped, "
                   "grid rows and columns as in each eval's report (bit = row * %d + column). Weakest row %d (mean "
                   "%.2f), weakest column %d (mean %.2f); every cell %.2f.\n\nMean over the models:\n\n", m->models,
                   m->models == 1 ? "" : "s", m->gw, m->weak_row, m->weak_row_mean, m->weak_col, m->weak_col_mean,
                   m->all_mean);
    md_grid(b, m, m->mean);
    dsn_buf_printf(b, "\nMax over the models:\n\n");
    md_grid(b, m, m->max);
}

static void write_json(dsn_buf *b, const report *rp)
{
    int bad = 0;
    json_t *top = json_object(), *mnist = json_object(), *datasets = json_object();
    if(!top) bad = 1;
    dsn_json_put(top, "dsn_report", json_integer(1), &bad);
    for(int m = 0; m < DSN_M_COUNT; ++m) {
        if(dsn_metrics[m].mnist_anchor >= 0) dsn_json_put(mnist, dsn_metrics[m].key, json_real(dsn_metrics[m].mnist_anchor), &bad);
    }
    dsn_json_put(top, "anchors", json_pack("{s:o}", "mnist", mnist), &bad);
    for(int d = 0, de; d < rp->n; d = de) {
        group_end(rp, d, 0, &de);
        json_t *seeds = json_object(), *summary = json_object();
        for(int s = d, se; s < de; s = se) {
            group_end(rp, s, 1, &se);
            char key[32];
            snprintf(key, sizeof key, "%ld", rp->runs[s].seed);
            dsn_json_put(seeds, key, json_seed(rp, s, se, &bad), &bad);
        }
        for(int m = 0; m <= DSN_M_COUNT + 1; ++m) {
            const char *key = m < DSN_M_COUNT ? dsn_metrics[m].key : m == DSN_M_COUNT ? "train_wall_seconds" : "eval_wall_seconds";
            dsn_json_put(summary, key, json_spread(over_seeds(rp, d, de, m)), &bad);
        }
        dsn_json_put(datasets, rp->runs[d].dataset,
                     json_pack("{s:o, s:o, s:o, s:o}", "seeds", seeds, "summary", summary, "targets",
                               json_incref(rp->targets[d]), "hamming_1_cells", json_cells(&rp->cells[d], &bad)), &bad);
    }
    dsn_json_put(top, "datasets", datasets, &bad);
    if(bad || dsn_json_dump(b, top) != 0) b->oom = 1;
    json_decref(top);
}

/* ---- report.md and the summary on stdout -------------------------------------------------- */

static void md_num(dsn_buf *b, int ok, double v, const char *fmt)
{
    if(ok) dsn_buf_printf(b, fmt, v);
    else dsn_buf_printf(b, " - |");
}

static void summary_table(dsn_buf *b, const report *rp, int d, int de, int md)
{
    int nseeds = 0;
    for(int s = d, se; s < de; s = se, ++nseeds) group_end(rp, s, 1, &se);
    int mnist = strcmp(rp->runs[d].dataset, "mnist") == 0;
    if(md) {
        dsn_buf_printf(b, "| measure (%%) | paper | mean | sd | min | max | seeds |\n|---|---:|---:|---:|---:|---:|---:|\n");
    } else {
        dsn_buf_printf(b, "%s: %d run%s, %d seed%s\n  %-32s %6s %7s %6s %7s %7s %5s\n", rp->runs[d].dataset, de - d,
                       de - d == 1 ? "" : "s", nseeds, nseeds == 1 ? "" : "s", "measure (%)", "paper", "mean", "sd",
                       "min", "max", "seeds");
    }
    for(int m = 0; m <= DSN_M_COUNT + 1; ++m) {
        const char *label = m < DSN_M_COUNT ? dsn_metrics[m].label : m == DSN_M_COUNT ? "training wall time (s)" : "eval wall time (s)";
        double anchor = m < DSN_M_COUNT && mnist ? dsn_metrics[m].mnist_anchor : -1;
        dsn_spread s = over_seeds(rp, d, de, m);
        if(s.n == 0 && m >= DSN_M_COUNT) continue;
        if(md) {
            dsn_buf_printf(b, "| %s |", label);
            md_num(b, anchor >= 0, anchor, " %.1f |");
            md_num(b, s.n > 0, s.mean, " %.2f |");
            md_num(b, s.n > 1, s.sd, " %.2f |");
            md_num(b, s.n > 0, s.min, " %.2f |");
            md_num(b, s.n > 0, s.max, " %.2f |");
            dsn_buf_printf(b, " %d |\n", s.n);
        } else {
            char a[16] = "-", mean[16] = "-", sd[16] = "-", mn[16] = "-", mx[16] = "-";
            if(anchor >= 0) snprintf(a, sizeof a, "%.1f", anchor);
            if(s.n > 0) {
                snprintf(mean, sizeof mean, "%.2f", s.mean);
                snprintf(mn, sizeof mn, "%.2f", s.min);
                snprintf(mx, sizeof mx, "%.2f", s.max);
            }
            if(s.n > 1) snprintf(sd, sizeof sd, "%.2f", s.sd);
            dsn_buf_printf(b, "  %-32s %6s %7s %6s %7s %7s %5d\n", label, a, mean, sd, mn, mx, s.n);
        }
    }
}

static void md_targets(dsn_buf *b, const report *rp, int d)
{
    char *md = dsn_targets_md(rp->targets[d]);
    dsn_buf_printf(b, "\n### Lock targets (per model)\n\n%s", md);
    free(md);
}

static void write_md(dsn_buf *b, const report *rp, char **pngs, int npng)
{
    dsn_buf_printf(b, "# DSN report\n\n%d run%s. Accuracies in percent on each data set's test images; "
                   "\"paper\" is the DSN paper's MNIST figure. Spread is over seeds (each seed's value is the mean "
                   "over its customer models); every run's 95%% intervals are in report.json and its eval JSON.\n",
                   rp->n, rp->n == 1 ? "" : "s");
    for(int d = 0, de; d < rp->n; d = de) {
        group_end(rp, d, 0, &de);
        dsn_buf_printf(b, "\n## %s\n\n### Summary over seeds\n\n", rp->runs[d].dataset);
        summary_table(b, rp, d, de, 1);
        dsn_buf_printf(b, "\n### Runs\n\n| seed | customer | teacher | valid | raw | raw balanced | forged mean | "
                       "forged max | H1 mean | H1 max | H2 mean | H4 mean | others | train s | eval s |\n"
                       "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        static const int cols[] = {DSN_M_TEACHER, DSN_M_VALID, DSN_M_RAW, DSN_M_RAW_BALANCED, DSN_M_FORGED_MEAN,
                                   DSN_M_FORGED_MAX, DSN_M_H1, DSN_M_H1_MAX, DSN_M_H2, DSN_M_H4, DSN_M_CROSS};
        for(int i = d; i < de; ++i) {
            const dsn_run *r = &rp->runs[i];
            dsn_buf_printf(b, "| %ld | %s |", r->seed, r->customer);
            for(int k = 0; k < DSN_COUNT(cols); ++k) md_num(b, r->has[cols[k]], r->value[cols[k]], " %.2f |");
            md_num(b, r->train_seconds >= 0, r->train_seconds, " %.0f |");
            md_num(b, r->eval_seconds >= 0, r->eval_seconds, " %.1f |");
            dsn_buf_printf(b, "\n");
        }
        md_targets(b, rp, d);
        md_cells(b, &rp->cells[d]);
        for(int s = d, se; s < de; s = se) {
            group_end(rp, s, 1, &se);
            const char *cn[MAX_NAMES];
            int nc = cross_columns(rp, s, se, cn);
            if(nc < 2) continue;
            dsn_buf_printf(b, "\n### Cross-customer accuracy, seed %ld (rows: model, columns: serial)\n\n| model \\ serial |",
                           rp->runs[s].seed);
            for(int j = 0; j < nc; ++j) dsn_buf_printf(b, " %s |", cn[j]);
            dsn_buf_printf(b, "\n|---|");
            for(int j = 0; j < nc; ++j) dsn_buf_printf(b, "---:|");
            dsn_buf_printf(b, "\n");
            for(int i = s; i < se; ++i) {
                dsn_buf_printf(b, "| %s |", rp->runs[i].customer);
                for(int j = 0; j < nc; ++j) {
                    double x = 0;
                    int ok = cross_entry(&rp->runs[i], cn[j], &x);
                    md_num(b, ok, x, strcmp(cn[j], rp->runs[i].customer) == 0 ? " **%.2f** |" : " %.2f |");
                }
                dsn_buf_printf(b, "\n");
            }
        }
    }
    if(npng) {
        dsn_buf_printf(b, "\n## Plots\n\n");
        for(int i = 0; i < npng; ++i) dsn_buf_printf(b, "![%s](plots/%s)\n\n", pngs[i], pngs[i]);
    }
}

/* ---- plots ------------------------------------------------------------------------------- */

/* A file-name-safe copy: letters, digits, '.', '-', '_'; anything else becomes '_'. */
static void safe_name(char *out, size_t len, const char *s)
{
    size_t n = 0;
    for(; *s && n + 1 < len; ++s) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 (c == '.' && n > 0);
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
}

/* s inside a single-quoted gnuplot string ('' is a quote there). */
static void gp_str(dsn_buf *b, const char *s)
{
    dsn_buf_printf(b, "'");
    for(; *s; ++s) {
        if(*s == '\'') dsn_buf_printf(b, "''");
        else if((unsigned char)*s >= 0x20) dsn_buf_printf(b, "%c", *s);
    }
    dsn_buf_printf(b, "'");
}

static int write_plot_file(const report *rp, const char *name, const dsn_buf *b)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", rp->plots, name);
    if(b->oom) {
        dsn_error("report: out of memory writing %s", path);
        return -1;
    }
    return dsn_write_file(path, b->s ? b->s : "", b->n, 0644, DSN_WRITE_REPLACE);
}

/* Runs `gnuplot NAME.gp` in the plots folder; records NAME.png on success. */
static void run_gnuplot(report *rp, const char *base, char **pngs, int *npng)
{
    if(rp->gnuplot < 0) return;
    pid_t pid = fork();
    if(pid < 0) {
        dsn_error("report: warning: cannot start gnuplot: %s", strerror(errno));
        return;
    }
    if(pid == 0) {
        char gp[512];
        snprintf(gp, sizeof gp, "%s.gp", base);
        if(chdir(rp->plots) != 0) _exit(126);
        execlp("gnuplot", "gnuplot", gp, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while(waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if(code == 127) {
        rp->gnuplot = -1;
        dsn_error("report: warning: gnuplot not found: no PNG plots (install it: apt-get install gnuplot-nox; "
                  "then run each %s/*.gp with gnuplot in that folder)", rp->plots);
        return;
    }
    if(code != 0) {
        dsn_error("report: warning: gnuplot failed on %s/%s.gp (exit %d): that plot is missing", rp->plots, base, code);
        ++rp->plot_failures;
        return;
    }
    rp->gnuplot = 1;
    if(*npng < MAX_RUNS && (pngs[*npng] = malloc(strlen(base) + 5))) {
        snprintf(pngs[*npng], strlen(base) + 5, "%s.png", base);
        ++*npng;
    }
}

/* Writes BASE.dat and BASE.gp into the plots folder, then renders BASE.png with gnuplot. */
static void render_plot(report *rp, const char *base, const dsn_buf *dat, const dsn_buf *gp, char **pngs, int *npng)
{
    char name[300];
    snprintf(name, sizeof name, "%s.dat", base);
    if(write_plot_file(rp, name, dat) != 0) return;
    snprintf(name, sizeof name, "%s.gp", base);
    if(write_plot_file(rp, name, gp) != 0) return;
    run_gnuplot(rp, base, pngs, npng);
}

static void gp_head(dsn_buf *g, const char *base, int w, int h)
{
    dsn_buf_printf(g, "# written by dsn report; redraw with: gnuplot %s.gp\n"
                      "set terminal pngcairo size %d,%d noenhanced font ',10'\nset output '%s.png'\n", base, w, h, base);
}

/* Accuracy against distance from the valid serial: 0, 1, 2, 4, random (forged). */
static void plot_hamming(report *rp, int d, int de, char **pngs, int *npng)
{
    char ds[128], base[256];
    safe_name(ds, sizeof ds, rp->runs[d].dataset);
    snprintf(base, sizeof base, "hamming_%s", ds);
    static const int mean[5] = {DSN_M_VALID, DSN_M_H1, DSN_M_H2, DSN_M_H4, DSN_M_FORGED_MEAN};
    static const int worst[5] = {DSN_M_VALID, DSN_M_H1_MAX, DSN_M_H2_MAX, DSN_M_H4_MAX, DSN_M_FORGED_MAX};
    dsn_buf dat = {0}, g = {0};
    int classes = 0;
    dsn_buf_printf(&dat, "# per run: x (0 valid, 1, 2, 4 bits, random), mean, ci lo, ci hi, max\n");
    for(int i = d; i < de; ++i) {
        const dsn_run *r = &rp->runs[i];
        if(r->classes > classes) classes = r->classes;
        dsn_buf_printf(&dat, "# %s seed %ld\n", r->customer, r->seed);
        for(int k = 0; k < 5; ++k) {
            if(!r->has[mean[k]]) continue;
            double lo = r->has_ci[mean[k]] ? r->lo[mean[k]] : r->value[mean[k]];
            double hi = r->has_ci[mean[k]] ? r->hi[mean[k]] : r->value[mean[k]];
            dsn_buf_printf(&dat, "%d %.4f %.4f %.4f %.4f\n", k, r->value[mean[k]], lo, hi,
                           r->has[worst[k]] ? r->value[worst[k]] : r->value[mean[k]]);
        }
        dsn_buf_printf(&dat, "\n\n");
    }
    gp_head(&g, base, 900, 560);
    dsn_buf_printf(&g, "set title ");
    char title[512];
    snprintf(title, sizeof title, "%s: accuracy against distance from the valid serial (lines: mean with 95%% CI; "
             "circles: worst serial)", rp->runs[d].dataset);
    gp_str(&g, title);
    dsn_buf_printf(&g, "\nset xtics ('0 (valid)' 0, '1 bit' 1, '2 bits' 2, '4 bits' 3, 'random' 4)\n"
                       "set xrange [-0.3:4.3]\nset yrange [0:105]\nset ylabel 'accuracy %%'\n"
                       "set xlabel 'Hamming distance from the valid serial'\nset grid ytics\nset key outside right\n");
    if(classes > 0) dsn_buf_printf(&g, "set arrow from -0.3,%g to 4.3,%g nohead dt 3 lc rgb 'gray40'\n"
                                       "set label 'chance' at 4.25,%g right offset 0,0.7 tc rgb 'gray40'\n",
                                   100.0 / classes, 100.0 / classes, 100.0 / classes);
    dsn_buf_printf(&g, "plot \\\n");
    for(int i = d; i < de; ++i) {
        char t[256];
        snprintf(t, sizeof t, "%s, seed %ld", rp->runs[i].customer, rp->runs[i].seed);
        dsn_buf_printf(&g, "  '%s.dat' index %d using 1:2:3:4 with yerrorlines lw 2 pt 7 lc %d title ", base, i - d, i - d + 1);
        gp_str(&g, t);
        dsn_buf_printf(&g, ", \\\n  '%s.dat' index %d using 1:5 with points pt 6 ps 1.6 lc %d notitle%s\n", base, i - d,
                       i - d + 1, i + 1 < de ? ", \\" : "");
    }
    render_plot(rp, base, &dat, &g, pngs, npng);
    dsn_buf_free(&dat);
    dsn_buf_free(&g);
}

/* A heat map of a matrix with the value in each cell; NaN cells stay blank. */
static void plot_matrix(report *rp, const char *base, const char *title, const char *xlabel, const char *ylabel,
                        const dsn_buf *dat, int w, int h, const char *xtics, const char *ytics, int ncol, int nrow,
                        char **pngs, int *npng)
{
    dsn_buf g = {0};
    gp_head(&g, base, w, h);
    dsn_buf_printf(&g, "set title ");
    gp_str(&g, title);
    dsn_buf_printf(&g, "\nset xlabel ");
    gp_str(&g, xlabel);
    dsn_buf_printf(&g, "\nset ylabel ");
    gp_str(&g, ylabel);
    dsn_buf_printf(&g, "\nset cbrange [0:100]\nset cblabel 'accuracy %%'\n"
                       "set palette defined (0 '#ffffff', 50 '#fdae6b', 100 '#d7301f')\n"
                       "set xrange [-0.5:%g]\nset yrange [%g:-0.5]\nset tics scale 0\nunset key\nset size ratio -1\n",
                   ncol - 0.5, nrow - 0.5);
    dsn_buf_printf(&g, "%s\n%s\n", xtics, ytics);
    dsn_buf_printf(&g, "plot '%s.dat' matrix using 1:2:3 with image, \\\n"
                       "  '' matrix using 1:2:(($3 == $3) ? sprintf('%%.1f', $3) : '') with labels font ',9'\n", base);
    render_plot(rp, base, dat, &g, pngs, npng);
    dsn_buf_free(&g);
}

static void tics(dsn_buf *b, const char *axis, const char **names, int n)
{
    dsn_buf_printf(b, "set %stics (", axis);
    for(int i = 0; i < n; ++i) {
        dsn_buf_printf(b, "%s", i ? ", " : "");
        gp_str(b, names[i]);
        dsn_buf_printf(b, " %d", i);
    }
    dsn_buf_printf(b, ")");
}

static void plot_cross(report *rp, int s, int se, char **pngs, int *npng)
{
    const char *cols[MAX_NAMES], *rows[MAX_NAMES];
    int nc = cross_columns(rp, s, se, cols), nr = 0;
    if(nc < 2) return;
    char ds[128], base[256], title[512];
    safe_name(ds, sizeof ds, rp->runs[s].dataset);
    snprintf(base, sizeof base, "cross_%s_s%ld", ds, rp->runs[s].seed);
    snprintf(title, sizeof title, "%s, seed %ld: cross-customer accuracy", rp->runs[s].dataset, rp->runs[s].seed);
    dsn_buf dat = {0}, xt = {0}, yt = {0};
    for(int i = s; i < se && nr < MAX_NAMES; ++i) {
        rows[nr++] = rp->runs[i].customer;
        for(int j = 0; j < nc; ++j) {
            double x = 0;
            int ok = cross_entry(&rp->runs[i], cols[j], &x);
            if(ok) dsn_buf_printf(&dat, "%s%.3f", j ? " " : "", x);
            else dsn_buf_printf(&dat, "%sNaN", j ? " " : "");
        }
        dsn_buf_printf(&dat, "\n");
    }
    tics(&xt, "x", cols, nc);
    tics(&yt, "y", rows, nr);
    if(!xt.oom && !yt.oom)
        plot_matrix(rp, base, title, "serial of customer", "model of customer", &dat, 200 + 90 * nc, 160 + 80 * nr,
                    xt.s, yt.s, nc, nr, pngs, npng);
    dsn_buf_free(&dat);
    dsn_buf_free(&xt);
    dsn_buf_free(&yt);
}

static void plot_bits(report *rp, const dsn_run *r, char **pngs, int *npng)
{
    if(r->n_bits < 1) return;
    int gw, gh;
    grid_shape(r->n_bits, r->grid_columns, &gw, &gh);
    char ds[128], cu[128], base[300], title[512];
    safe_name(ds, sizeof ds, r->dataset);
    safe_name(cu, sizeof cu, r->customer);
    snprintf(base, sizeof base, "h1bits_%s_s%ld_%s", ds, r->seed, cu);
    snprintf(title, sizeof title, "%s, seed %ld, %s: accuracy with one bit flipped (stamp grid)", r->dataset, r->seed,
             r->customer);
    dsn_buf dat = {0};
    for(int y = 0; y < gh; ++y) {
        for(int x = 0; x < gw; ++x) {
            int i = y * gw + x;
            if(i < r->n_bits) dsn_buf_printf(&dat, "%s%.3f", x ? " " : "", r->per_bit[i]);
            else dsn_buf_printf(&dat, "%sNaN", x ? " " : "");
        }
        dsn_buf_printf(&dat, "\n");
    }
    plot_matrix(rp, base, title, "grid column", "grid row (bit = row * columns + column)", &dat, 720, 640,
                "set xtics 1", "set ytics 1", gw, gh, pngs, npng);
    dsn_buf_free(&dat);
}

/* One training log of a seed, as plot_learning draws it. */
typedef struct learn_log {
    const char *path, *who;
    int student;
    dsn_curve c;
} learn_log;

/* Loads the teacher and student logs that runs s..se-1 name, each path once, into logs (at most
 * MAX_NAMES); warns about and skips those without a curve. Returns how many were loaded. */
static int load_learning_logs(const report *rp, int s, int se, learn_log *logs)
{
    int nl = 0;
    char err[512];
    for(int i = s; i < se; ++i) {
        const char *paths[2] = {rp->runs[i].teacher_log, rp->runs[i].train_log};
        for(int k = 0; k < 2; ++k) {
            if(!paths[k] || nl == MAX_NAMES) continue;
            int dup = 0;
            for(int j = 0; j < nl && !dup; ++j) dup = strcmp(logs[j].path, paths[k]) == 0;
            if(dup) continue;
            if(dsn_curve_load(&logs[nl].c, paths[k], err, sizeof err) != 0) {
                dsn_error("report: warning: %s (named by %s): no learning curve from it", err, rp->runs[i].source);
                continue;
            }
            if(logs[nl].c.n == 0 && logs[nl].c.n_dsn == 0) {
                dsn_error("report: warning: %s has no Darknet iteration lines: no learning curve from it", paths[k]);
                dsn_curve_free(&logs[nl].c);
                continue;
            }
            logs[nl].path = paths[k];
            logs[nl].who = k == 0 ? "teacher" : rp->runs[i].customer;
            logs[nl].student = k == 1;
            ++nl;
        }
    }
    return nl;
}

/* One student's dsn block: iteration, G_y kd, G_y push, G_d ce, as means over up to 200 bins. */
static void write_dsn_bins(dsn_buf *dat, const learn_log *lg)
{
    const dsn_curve *c = &lg->c;
    /* dsn lines go to stderr, Darknet's to stdout: the order in a log is not reliable, the
     * counts are (one dsn line per forward pass), so spread them over the iterations */
    double last = c->n > 0 ? (double)c->iter[c->n - 1] : (double)c->n_dsn;
    int bins = c->n_dsn < 200 ? c->n_dsn : 200;
    dsn_buf_printf(dat, "# %s: iteration, G_y kd, G_y push, G_d ce (bin means)\n", lg->who);
    for(int k = 0; k < bins; ++k) {
        int a = (int)((long)c->n_dsn * k / bins), e = (int)((long)c->n_dsn * (k + 1) / bins), n = 0, ng = 0;
        double kd = 0, push = 0, gd = 0;
        for(int i = a; i < e; ++i) {
            if(c->dsn[i].has_kd) {
                kd += c->dsn[i].kd;
                push += c->dsn[i].push;
                ++n;
            }
            if(c->dsn[i].has_gd) {
                gd += c->dsn[i].gd;
                ++ng;
            }
        }
        double x = last * (a + e) / 2.0 / c->n_dsn;
        dsn_buf_printf(dat, "%.1f ", x);
        if(n) dsn_buf_printf(dat, "%.6g %.6g ", kd / n, push / n);
        else dsn_buf_printf(dat, "NaN NaN ");
        if(ng) dsn_buf_printf(dat, "%.6g\n", gd / ng);
        else dsn_buf_printf(dat, "NaN\n");
    }
    dsn_buf_printf(dat, "\n\n");
}

/* The data file: per log, the loss block then (students) the dsn block. Sets each log's block
 * indices (-1 where it has none); returns whether any dsn block was written. */
static int write_learning_data(dsn_buf *dat, const learn_log *logs, int nl, int *loss_block, int *dsn_block)
{
    int block = 0;
    for(int l = 0; l < nl; ++l) {
        const dsn_curve *c = &logs[l].c;
        int step = c->n > 400 ? c->n / 400 : 1;
        loss_block[l] = -1;
        if(c->n > 0) {
            dsn_buf_printf(dat, "# %s: iteration, Darknet avg loss\n", logs[l].who);
            for(int i = 0; i < c->n; i += step) dsn_buf_printf(dat, "%ld %.6g\n", c->iter[i], c->avg_loss[i]);
            dsn_buf_printf(dat, "\n\n");
            loss_block[l] = block++;
        }
        dsn_block[l] = -1;
        if(logs[l].student && c->n_dsn > 0) {
            write_dsn_bins(dat, &logs[l]);
            dsn_block[l] = block++;
        }
    }
    int any_dsn = 0;
    for(int l = 0; l < nl; ++l) any_dsn |= dsn_block[l] >= 0;
    return any_dsn;
}

/* The upper (or only) panel: every log's Darknet average loss. */
static void gp_loss_panel(dsn_buf *g, const dsn_run *r, const char *base, const learn_log *logs, int nl,
                          const int *loss_block)
{
    char title[512];
    snprintf(title, sizeof title, "%s, seed %ld: Darknet's average training loss", r->dataset, r->seed);
    dsn_buf_printf(g, "set title ");
    gp_str(g, title);
    dsn_buf_printf(g, "\nset ylabel 'avg loss'\nplot ");
    int first = 1;
    for(int l = 0; l < nl; ++l) {
        if(loss_block[l] < 0) continue;
        dsn_buf_printf(g, "%s'%s.dat' index %d using 1:2 with lines lw 2 title ", first ? "" : ", \\\n  ", base, loss_block[l]);
        gp_str(g, logs[l].who);
        first = 0;
    }
    if(first) dsn_buf_printf(g, "NaN notitle");
    dsn_buf_printf(g, "\n");
}

/* The lower panel: each student's kd, push and G_d ce, one colour per student. */
static void gp_dsn_panel(dsn_buf *g, const dsn_run *r, const char *base, const learn_log *logs, int nl,
                         const int *dsn_block)
{
    char title[512];
    snprintf(title, sizeof title, "%s, seed %ld: student losses (G_y: kd on valid rows, push on the others; "
             "G_d: cross-entropy)", r->dataset, r->seed);
    dsn_buf_printf(g, "set title ");
    gp_str(g, title);
    dsn_buf_printf(g, "\nset ylabel 'loss'\nplot ");
    int first = 1;
    for(int l = 0; l < nl; ++l) {
        if(dsn_block[l] < 0) continue;
        static const char *what[3] = {"kd", "push", "G_d ce"};
        for(int k = 0; k < 3; ++k) {
            char t[256];
            snprintf(t, sizeof t, "%s %s", logs[l].who, what[k]);
            dsn_buf_printf(g, "%s'%s.dat' index %d using 1:%d with lines lw 2 dt %d lc %d title ",
                           first ? "" : ", \\\n  ", base, dsn_block[l], k + 2, k + 1, l + 1);
            gp_str(g, t);
            first = 0;
        }
    }
    dsn_buf_printf(g, "\nunset multiplot\n");
}

/* Learning curves of one seed: Darknet's average loss for the teacher and every student, and
 * each student's DSN losses (G_y kd and push, G_d ce), averaged in up to 200 bins. */
static void plot_learning(report *rp, int s, int se, char **pngs, int *npng)
{
    learn_log logs[MAX_NAMES];
    int nl = load_learning_logs(rp, s, se, logs);
    if(nl == 0) return;
    char ds[128], base[256];
    safe_name(ds, sizeof ds, rp->runs[s].dataset);
    snprintf(base, sizeof base, "learning_%s_s%ld", ds, rp->runs[s].seed);
    dsn_buf dat = {0}, g = {0};
    int loss_block[MAX_NAMES], dsn_block[MAX_NAMES];
    int any_dsn = write_learning_data(&dat, logs, nl, loss_block, dsn_block);
    gp_head(&g, base, 900, any_dsn ? 900 : 500);
    dsn_buf_printf(&g, "set datafile missing 'NaN'\nset key outside right\nset grid\nset xlabel 'iteration'\n");
    if(any_dsn) dsn_buf_printf(&g, "set multiplot layout 2,1\n");
    gp_loss_panel(&g, &rp->runs[s], base, logs, nl, loss_block);
    if(any_dsn) gp_dsn_panel(&g, &rp->runs[s], base, logs, nl, dsn_block);
    render_plot(rp, base, &dat, &g, pngs, npng);
    dsn_buf_free(&dat);
    dsn_buf_free(&g);
    for(int l = 0; l < nl; ++l) dsn_curve_free(&logs[l].c);
}

/* ---- the verb ---------------------------------------------------------------------------- */

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for(char *p = tmp + 1; ; ++p) {
        if(*p != '/' && *p) continue;
        char c = *p;
        *p = '\0';
        if(mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            dsn_error("report: cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = c;
        if(!c) break;
    }
    struct stat st;
    if(stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        dsn_error("report: %s is not a folder", path);
        return -1;
    }
    return 0;
}

/* Loads every RUN.json named on the command line into rp (rp->n counts them); -1, reported, at
 * the first that fails. */
static int load_runs(report *rp, char **pos, int npos)
{
    char err[1024];
    for(int i = 0; i < npos; ++i) {
        if(dsn_run_load(&rp->runs[rp->n], pos[i], err, sizeof err) != 0) {
            dsn_error("report: %s", err);
            return -1;
        }
        ++rp->n;
    }
    return 0;
}

/* Data sets in the order they first appear on the command line; in each, by seed and customer. */
static void sort_runs(report *rp)
{
    dsn_run *sorted = calloc((size_t)rp->n, sizeof *sorted);
    char *done_flags = calloc((size_t)rp->n, 1);
    if(!sorted || !done_flags) dsn_die("out of memory");
    int k = 0;
    for(int i = 0; i < rp->n; ++i) {
        if(done_flags[i]) continue;
        int start = k;
        for(int j = i; j < rp->n; ++j) {
            if(!done_flags[j] && strcmp(rp->runs[j].dataset, rp->runs[i].dataset) == 0) {
                sorted[k++] = rp->runs[j];
                done_flags[j] = 1;
            }
        }
        qsort(sorted + start, (size_t)(k - start), sizeof *sorted, run_cmp);
    }
    memcpy(rp->runs, sorted, (size_t)rp->n * sizeof *sorted);
    free(sorted);
    free(done_flags);
}

/* -1, reported, when two of the sorted runs share data set, seed and customer. */
static int check_unique(const report *rp)
{
    for(int i = 1; i < rp->n; ++i) {
        const dsn_run *a = &rp->runs[i - 1], *b = &rp->runs[i];
        if(strcmp(a->dataset, b->dataset) == 0 && a->seed == b->seed && strcmp(a->customer, b->customer) == 0) {
            dsn_error("report: %s and %s are both %s, seed %ld, customer %s: give each run once", a->source, b->source,
                      a->dataset, a->seed, a->customer);
            return -1;
        }
    }
    return 0;
}

/* Every plot: per data set, accuracy against Hamming distance; per seed, the learning curves,
 * the cross-customer matrix and each run's per-bit map. */
static void plot_all(report *rp, char **pngs, int *npng)
{
    for(int d = 0, de; d < rp->n; d = de) {
        group_end(rp, d, 0, &de);
        plot_hamming(rp, d, de, pngs, npng);
        for(int s = d, se; s < de; s = se) {
            group_end(rp, s, 1, &se);
            plot_learning(rp, s, se, pngs, npng);
            plot_cross(rp, s, se, pngs, npng);
            for(int i = s; i < se; ++i) plot_bits(rp, &rp->runs[i], pngs, npng);
        }
    }
}

/* Writes report.json and report.md into rp->out and prints the summary tables and what was
 * written; DSN_EXIT_OK, or DSN_EXIT_ERROR when a file could not be written. */
static int write_outputs(const report *rp, char **pngs, int npng)
{
    const char *out = rp->out;
    dsn_buf js = {0}, md = {0}, sum = {0};
    write_json(&js, rp);
    write_md(&md, rp, pngs, npng);
    for(int d = 0, de; d < rp->n; d = de) {
        group_end(rp, d, 0, &de);
        summary_table(&sum, rp, d, de, 0);
        const json_t *t = rp->targets[d];
        dsn_buf_printf(&sum, "  lock targets: every one met by %lld of %lld models (report.md: who misses which)\n",
                       json_integer_value(json_object_get(t, "met_all")), json_integer_value(json_object_get(t, "evaluated")));
        const cell_map *m = &rp->cells[d];
        if(m->models) {
            dsn_buf_printf(&sum, "  single flips by stamp cell: weakest row %d (%.2f), column %d (%.2f), every cell %.2f\n",
                           m->weak_row, m->weak_row_mean, m->weak_col, m->weak_col_mean, m->all_mean);
        }
    }
    if(js.oom || md.oom || sum.oom) dsn_die("out of memory");
    char path[2048];
    snprintf(path, sizeof path, "%s/report.json", out);
    int rc = dsn_write_file(path, js.s, js.n, 0644, DSN_WRITE_REPLACE) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    snprintf(path, sizeof path, "%s/report.md", out);
    if(dsn_write_file(path, md.s, md.n, 0644, DSN_WRITE_REPLACE) != 0) rc = DSN_EXIT_ERROR;
    fputs(sum.s, stdout);
    printf("wrote %s/report.json, %s/report.md and %d plot%s in %s/\n", out, out, npng, npng == 1 ? "" : "s", rp->plots);
    dsn_buf_free(&js);
    dsn_buf_free(&md);
    dsn_buf_free(&sum);
    return rc;
}

int dsn_cmd_report(int argc, char **argv)
{
    const char *out = "report", *max_drop = "0.5";
    int no_plots = 0;
    char *pos[MAX_RUNS];
    int npos = 0;
    const dsn_option opts[] = {
        {"--out", "-o", DSN_ARG_STR, &out, "DIR", "folder to write (default report/; created if missing)"},
        {"--no-plots", NULL, DSN_ARG_FLAG, &no_plots, NULL, "skip gnuplot (report.json and report.md only)"},
        {"--max-drop", NULL, DSN_ARG_STR, &max_drop, "P", "lock targets: the valid serial at most P below the teacher (0.5)"},
    };
    const dsn_usage u = {
        "report", "--out report/ RUN.json...",
        "Aggregates dsn eval results into DIR/report.json, DIR/report.md and DIR/plots/*.png (gnuplot):\n"
        "per data set and seed, each model's measures, their mean over the seed's models, the\n"
        "cross-customer matrix and the wall times; per data set, mean, sample sd, min and max over\n"
        "seeds, beside the paper's MNIST figures. Plots: learning curves (from the training logs),\n"
        "accuracy against Hamming distance, the cross-customer matrix, the per-bit Hamming-1 map.\n"
        "Each RUN.json is a dsn eval --json file, or a run manifest that names one and adds what\n"
        "eval cannot know (all but \"eval\" optional; paths relative to the current directory):\n"
        "  {\"dsn_run\": 1, \"eval\": \"seed0/eval_alice.json\", \"dataset\": \"mnist\", \"seed\": 0,\n"
        "   \"customer\": \"alice\", \"train_wall_seconds\": 812, \"train_log\": \"seed0/student_alice.log\",\n"
        "   \"teacher_wall_seconds\": 301, \"teacher_log\": \"seed0/teacher.log\"}\n"
        "Without a manifest, data set, seed and customer come from the eval JSON (--dataset, --seed).\n"
        "Per data set, the lock's per-model targets: the valid serial at most --max-drop below the\n"
        "teacher, no serial, forged and other customers' serials <= 11, Hamming 1 max <= 20,\n"
        "Hamming 2 max <= 15; how many models meet each, who misses it by how much.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, MAX_RUNS, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos == 0) {
        dsn_error("report: which runs? (dsn report --out report/ eval_alice.json eval_bob.json ...)");
        return DSN_EXIT_ERROR;
    }
    if(strlen(out) > 900) {
        dsn_error("report: --out: a folder name of at most 900 bytes, please");
        return DSN_EXIT_ERROR;
    }
    report rp = {0};
    rp.out = out;
    rp.limits = (dsn_lock_limits)DSN_LOCK_LIMITS_DEFAULT;
    if(dsn_parse_real(max_drop, &rp.limits.drop) != 0 || rp.limits.drop < 0 || rp.limits.drop > 100) {
        dsn_error("report: --max-drop '%s': give a percentage from 0 to 100", max_drop);
        return DSN_EXIT_ERROR;
    }
    rp.runs = calloc((size_t)npos, sizeof *rp.runs);
    char **pngs = calloc(MAX_RUNS, sizeof *pngs);
    int npng = 0, rc = DSN_EXIT_ERROR;
    if(!rp.runs || !pngs) dsn_die("out of memory");
    if(load_runs(&rp, pos, npos) != 0) goto done;
    sort_runs(&rp);
    if(check_unique(&rp) != 0) goto done;
    rp.targets = calloc((size_t)rp.n, sizeof *rp.targets);
    rp.cells = calloc((size_t)rp.n, sizeof *rp.cells);
    if(!rp.targets || !rp.cells) dsn_die("out of memory");
    for(int d = 0, de; d < rp.n; d = de) {   /* once per data set: report.json, report.md, stdout */
        group_end(&rp, d, 0, &de);
        rp.targets[d] = targets_of(&rp, d, de);
        cell_map_of(&rp, d, de, &rp.cells[d]);
    }

    snprintf(rp.plots, sizeof rp.plots, "%s/plots", out);
    if(mkdirs(out) != 0 || (!no_plots && mkdirs(rp.plots) != 0)) goto done;
    if(!no_plots) plot_all(&rp, pngs, &npng);
    rc = write_outputs(&rp, pngs, npng);
done:
    for(int i = 0; rp.targets && i < rp.n; ++i) json_decref(rp.targets[i]);
    free(rp.targets);
    for(int i = 0; rp.cells && i < rp.n; ++i) cell_map_free(&rp.cells[i]);
    free(rp.cells);
    for(int i = 0; i < rp.n; ++i) dsn_run_free(&rp.runs[i]);
    free(rp.runs);
    for(int i = 0; i < npng; ++i) free(pngs[i]);
    free(pngs);
    return rc;
}
