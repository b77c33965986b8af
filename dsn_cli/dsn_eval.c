/* dsn_eval.c: the test set in memory, the statistics, the serial sampling and the batched,
 * threaded evaluation behind `dsn eval` (see dsn_eval.h).
 *
 * Every measurement is a list of rows, one (image, serial) pair each; the rows of all measures
 * are laid out once, cut into batches, and each worker thread pulls the next batch, stamps each
 * row with its own serial through dsn_stamp_override, runs Darknet's forward pass and records
 * whether the argmax matched (and, on the raw rows, the argmax itself). The tallies per measure
 * come afterwards, so the thread count and the batch size never change a number. Non-goals: top-k, per-class confusion, GPU batching
 * beyond what Darknet's own forward does. */
#include "dsn_eval.h"
#include "dsn_model.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_cert.h"
#include "dsn_jansson.h"
#include "dsn_layers.h"
#include "dsn_model.h"
#include "dsn_targets.h"
#include "dsn_util.h"

/* OpenBLAS runs its own threads inside each gemm; with one network per core we want it single
 * threaded. Weak, so a build without OpenBLAS still links. */
extern void openblas_set_num_threads(int n) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

#define LIST_FILE_MAX (64u << 20)
#define CFG_FILE_MAX (4u << 20)

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- small text helpers ------------------------------------------------------------------ */

/* Splits text in place into lines (LF; a CR before it is dropped). Returns the count; lines[i]
 * points into text. */
static int split_lines(char *text, char ***lines_out)
{
    int n = 0, cap = 0;
    char **lines = NULL;
    char *p = text;
    while(*p) {
        char *e = strchr(p, '\n');
        if(e) *e = '\0';
        size_t len = strlen(p);
        if(len && p[len - 1] == '\r') p[len - 1] = '\0';
        if(n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **bigger = realloc(lines, (size_t)cap * sizeof *lines);
            if(!bigger) {
                free(lines);
                *lines_out = NULL;
                return -1;
            }
            lines = bigger;
        }
        lines[n++] = p;
        if(!e) break;
        p = e + 1;
    }
    *lines_out = lines;
    return n;
}

/* Darknet's strip(): removes every space, tab and newline, wherever it is. */
static void dk_strip(char *s)
{
    char *o = s;
    for(; *s; ++s) {
        if(*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') *o++ = *s;
    }
    *o = '\0';
}

static int parse_whole_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if(errno || end == s || *end || v < -2147483647L || v > 2147483647L) return -1;
    *out = (int)v;
    return 0;
}

static int readable(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* ---- the .data file, labels, list and images ---------------------------------------------- */

typedef struct kv { char *key, *val; } kv;

/* Reads `key=value` lines as Darknet's read_data_cfg does (whitespace removed, # and ; comments). */
static char *read_kv_file(const char *path, kv **out, int *nout, char *err, size_t errlen)
{
    size_t len;
    char *text = dsn_read_file_err(path, CFG_FILE_MAX, &len, err, errlen);
    if(!text) return NULL;
    char **lines;
    int n = split_lines(text, &lines), m = 0;
    kv *items = n > 0 ? calloc((size_t)n, sizeof *items) : NULL;
    if(n < 0 || (n > 0 && !items)) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(lines);
        free(items);
        free(text);
        return NULL;
    }
    for(int i = 0; i < n; ++i) {
        char *l = lines[i];
        dk_strip(l);
        if(!*l || *l == '#' || *l == ';') continue;
        char *eq = strchr(l, '=');
        if(!eq) {
            snprintf(err, errlen, "%s:%d: '%s' is not key=value", path, i + 1, l);
            free(lines);
            free(items);
            free(text);
            return NULL;
        }
        *eq = '\0';
        items[m].key = l;
        items[m].val = eq + 1;
        ++m;
    }
    free(lines);
    *out = items;
    *nout = m;
    return text;
}

static const char *kv_find(const kv *items, int n, const char *key)
{
    for(int i = 0; i < n; ++i) {
        if(strcmp(items[i].key, key) == 0) return items[i].val;
    }
    return NULL;
}

void dsn_eval_data_free(dsn_eval_data *d)
{
    if(!d) return;
    free(d->x);
    free(d->label);
    if(d->names) {
        for(int i = 0; i < d->classes; ++i) free(d->names[i]);
    }
    free(d->names);
    if(d->paths) {
        for(int i = 0; i < d->n; ++i) free(d->paths[i]);
    }
    free(d->paths);
    free(d->subsets);
    memset(d, 0, sizeof *d);
}

static int load_labels(dsn_eval_data *d, const char *path, int classes, const char *data_path,
                       char *err, size_t errlen)
{
    size_t len;
    char *text = dsn_read_file_err(path, LIST_FILE_MAX, &len, err, errlen);
    if(!text) return -1;
    char **lines;
    int n = split_lines(text, &lines), rc = -1;
    if(n < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    if(n == 0) {
        snprintf(err, errlen, "labels file %s is empty", path);
        goto done;
    }
    for(int i = 0; i < n; ++i) {
        if(!lines[i][0]) {
            snprintf(err, errlen, "%s:%d: empty label (Darknet would match it in every path)", path, i + 1);
            goto done;
        }
    }
    if(classes > 0 && classes != n) {
        snprintf(err, errlen, "%s says classes=%d but %s has %d labels", data_path, classes, path, n);
        goto done;
    }
    d->names = calloc((size_t)n, sizeof *d->names);
    if(!d->names) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    d->classes = n;
    for(int i = 0; i < n; ++i) {
        if(!(d->names[i] = strdup(lines[i]))) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto done;
        }
    }
    rc = 0;
done:
    free(lines);
    free(text);
    return rc;
}

int dsn_eval_data_load(dsn_eval_data *d, const char *data_path, const char *list_path, int w, int h,
                       int c, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    kv *items = NULL;
    int nitems = 0, rc = -1, classes = 0;
    char *list_text = NULL, **lines = NULL;
    char *kv_text = read_kv_file(data_path, &items, &nitems, err, errlen);
    if(!kv_text) return -1;

    const char *cls = kv_find(items, nitems, "classes");
    const char *labels = kv_find(items, nitems, "labels");
    const char *list = list_path ? list_path : kv_find(items, nitems, "valid");
    if(cls && (parse_whole_int(cls, &classes) != 0 || classes < 1)) {
        snprintf(err, errlen, "%s: classes=%s is not a positive whole number", data_path, cls);
        goto done;
    }
    if(!labels) {
        snprintf(err, errlen, "%s has no labels= line (the file naming one class per line)", data_path);
        goto done;
    }
    if(!list) {
        snprintf(err, errlen, "%s has no valid= line: name the test images with --list FILE", data_path);
        goto done;
    }
    if(load_labels(d, labels, classes, data_path, err, errlen) != 0) goto done;
    const char *subsets = kv_find(items, nitems, "subsets");
    if(subsets && !(d->subsets = strdup(subsets))) {
        snprintf(err, errlen, "%s: out of memory", data_path);
        goto done;
    }

    size_t len;
    if(!(list_text = dsn_read_file_err(list, LIST_FILE_MAX, &len, err, errlen))) goto done;
    int n = split_lines(list_text, &lines);
    if(n < 0) {
        snprintf(err, errlen, "%s: out of memory", list);
        goto done;
    }
    int inputs = w * h * c;
    d->w = w;
    d->h = h;
    d->c = c;
    d->x = malloc((size_t)(n ? n : 1) * (size_t)inputs * sizeof(float));
    d->label = malloc((size_t)(n ? n : 1) * sizeof(int));
    d->paths = calloc((size_t)(n ? n : 1), sizeof *d->paths);
    if(!d->x || !d->label || !d->paths) {
        snprintf(err, errlen, "%s: out of memory for %d images", list, n);
        goto done;
    }
    for(int i = 0; i < n; ++i) {
        char *path = lines[i];
        if(!path[0]) continue;
        int found = -1, count = 0;
        for(int k = 0; k < d->classes; ++k) {
            if(strstr(path, d->names[k])) {
                if(count == 0) found = k;
                ++count;
            }
        }
        if(count != 1) {
            if(count == 0) snprintf(err, errlen, "%s:%d: %s contains no label name from %s", list, i + 1, path, labels);
            else snprintf(err, errlen, "%s:%d: %s contains %d label names from %s (Darknet matches labels as substrings of the path: rename the files or the labels)",
                          list, i + 1, path, count, labels);
            goto done;
        }
        FILE *f = fopen(path, "rb");
        if(!f) {
            snprintf(err, errlen, "%s:%d: cannot open image %s: %s", list, i + 1, path, strerror(errno));
            goto done;
        }
        fclose(f);
        image im = load_image(path, w, h, c);
        if(im.w != w || im.h != h || im.c != c || !im.data) {
            free_image(im);
            snprintf(err, errlen, "%s:%d: cannot decode image %s", list, i + 1, path);
            goto done;
        }
        memcpy(d->x + (size_t)d->n * inputs, im.data, (size_t)inputs * sizeof(float));
        free_image(im);
        if(!(d->paths[d->n] = strdup(path))) {
            snprintf(err, errlen, "%s: out of memory", list);
            goto done;
        }
        d->label[d->n++] = found;
    }
    if(d->n == 0) {
        snprintf(err, errlen, "image list %s is empty", list);
        goto done;
    }
    rc = 0;
done:
    free(lines);
    free(list_text);
    free(items);
    free(kv_text);
    if(rc != 0) dsn_eval_data_free(d);
    return rc;
}

int dsn_eval_cfg_peek(const char *cfg_path, dsn_geometry *g, int *w, int *h, int *c, char *err,
                      size_t errlen)
{
    dsn_cfg cfg;
    *w = *h = *c = 0;
    if(dsn_cfg_read(&cfg, cfg_path, err, errlen) != 0) return -1;
    int rc = -1;
    if(cfg.n < 2)
        snprintf(err, errlen, "%s has no [serial_stamp] layer after [net]: not a DSN customer cfg", cfg_path);
    else if(strcmp(cfg.sec[1].type, "[serial_stamp]") != 0)
        snprintf(err, errlen, "%s:%d: the first layer is %s, not [serial_stamp]: not a DSN customer cfg", cfg_path,
                 cfg.sec[1].line, cfg.sec[1].type);
    else if(dsn_cfg_input_size(&cfg, w, h, c, err, errlen) == 0 && dsn_cfg_stamp_geometry(&cfg, g, err, errlen) == 0)
        rc = 0;
    dsn_cfg_free(&cfg);
    return rc;
}

int dsn_eval_cfg_for_cert(const char *verb, const char *cfg_path, const char *cert_path, const dsn_cert *cert,
                          int *w, int *h, int *c)
{
    char err[1024] = "", want[120], have[120];
    dsn_geometry cg, kg;
    if(dsn_eval_cfg_peek(cfg_path, &cg, w, h, c, err, sizeof err) != 0) {
        dsn_error("%s: --cfg: %s", verb, err);
        return -1;
    }
    if(dsn_cert_geometry(&kg, cert, err, sizeof err) != 0) {
        dsn_error("%s: --cert %s: %s", verb, cert_path, err);
        return -1;
    }
    if(!dsn_geometry_same(&cg, &kg)) {
        dsn_geometry_describe(want, sizeof want, &kg);
        dsn_geometry_describe(have, sizeof have, &cg);
        dsn_error("%s: --cert %s is for a stamp of %s, but --cfg %s has %s: not this model's certificate",
                  verb, cert_path, want, cfg_path, have);
        return -1;
    }
    return 0;
}

int dsn_eval_cert_load(const char *verb, dsn_cert *c, const char *cert_path, const char *pub)
{
    char err[512];
    if(dsn_cert_load(c, cert_path, err, sizeof err) != 0) {
        dsn_error("%s: --cert: %s", verb, err);
        return DSN_EXIT_ERROR;
    }
    if(!pub) return DSN_EXIT_OK;
    dsn_key *key = NULL;
    if(dsn_key_load_public(&key, pub, err, sizeof err) != 0) {
        dsn_error("%s: --pub: %s", verb, err);
        return DSN_EXIT_ERROR;
    }
    int bad = dsn_cert_verify(c, key, err, sizeof err) != 0;
    dsn_key_free(key);
    if(bad) {
        dsn_error("%s: --cert %s does not verify against %s: %s", verb, cert_path, pub, err);
        return DSN_EXIT_NO;
    }
    return DSN_EXIT_OK;
}

double dsn_eval_set_max(const dsn_eval_set *s)
{
    return s->n > 0 ? s->each[s->max_i].acc : 0;
}

int dsn_eval_serial_env(const char *verb, const dsn_serial *serial)
{
    char text[DSN_SERIAL_TEXT_MAX];
    if(dsn_serial_encode(text, sizeof text, serial) < 0 || setenv("DSN_SERIAL", text, 1) != 0) {
        dsn_error("%s: cannot set DSN_SERIAL", verb);
        return -1;
    }
    return 0;
}

/* ---- statistics -------------------------------------------------------------------------- */

dsn_eval_acc dsn_eval_wilson(long correct, long total)
{
    dsn_eval_acc a = {correct, total, 0, 0, 0};
    if(total <= 0) return a;
    double n = (double)total, p = (double)correct / n, z = DSN_EVAL_Z95, z2 = z * z;
    double denom = 1 + z2 / n;
    double centre = (p + z2 / (2 * n)) / denom;
    double half = z / denom * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    a.acc = 100 * p;
    /* lo <= p <= hi holds exactly; the clamps only undo rounding at p = 0 and p = 1 */
    a.lo = 100 * fmin(p, fmax(0, centre - half));
    a.hi = 100 * fmax(p, fmin(1, centre + half));
    return a;
}

void dsn_eval_set_stats(dsn_eval_set *s)
{
    s->mean = s->sd = s->lo = s->hi = 0;
    s->max_i = s->min_i = -1;
    if(s->n <= 0) return;
    double sum = 0;
    for(int i = 0; i < s->n; ++i) {
        double a = s->each[i].acc;
        sum += a;
        if(s->max_i < 0 || a > s->each[s->max_i].acc) s->max_i = i;
        if(s->min_i < 0 || a < s->each[s->min_i].acc) s->min_i = i;
    }
    s->mean = sum / s->n;
    if(s->n == 1) {
        s->sd = 0;
        s->lo = s->each[0].lo;
        s->hi = s->each[0].hi;
        return;
    }
    double ss = 0;
    for(int i = 0; i < s->n; ++i) ss += (s->each[i].acc - s->mean) * (s->each[i].acc - s->mean);
    s->sd = sqrt(ss / (s->n - 1));
    double half = DSN_EVAL_Z95 * s->sd / sqrt((double)s->n);
    s->lo = fmax(0, s->mean - half);
    s->hi = fmin(100, s->mean + half);
}

/* ---- serials and subsets ----------------------------------------------------------------- */

void dsn_eval_forged(dsn_serial *out, int n, const dsn_serial *valid, dsn_rng *rng)
{
    for(int k = 0; k < n; ++k) {
        dsn_serial s = *valid;
        do {
            for(int i = 0; i < valid->nbits; ++i) s.bit[i] = (uint8_t)dsn_rng_below(rng, 2);
        } while(dsn_serial_hamming(&s, valid) == 0);
        out[k] = s;
    }
}

void dsn_eval_near(dsn_serial *out, int n, const dsn_serial *valid, int dist, dsn_rng *rng)
{
    int idx[DSN_MAX_BITS], nb = valid->nbits;
    for(int k = 0; k < n; ++k) {
        dsn_serial s = *valid;
        for(int i = 0; i < nb; ++i) idx[i] = i;
        /* the first `dist` places of a partial Fisher-Yates shuffle: distinct bits */
        for(int i = 0; i < dist && i < nb; ++i) {
            int j = i + dsn_rng_below(rng, nb - i), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            s.bit[idx[i]] ^= 1;
        }
        out[k] = s;
    }
}

void dsn_eval_hamming1(dsn_serial *out, const dsn_serial *valid)
{
    for(int i = 0; i < valid->nbits; ++i) {
        out[i] = *valid;
        out[i].bit[i] ^= 1;
    }
}

int dsn_eval_swaps(dsn_serial *out, const dsn_serial *valid, int columns, int wrap)
{
    int pairs[2 * DSN_SWAPS_MAX], n = dsn_serial_swaps(out ? pairs : NULL, valid, columns, wrap);
    for(int k = 0; out && k < n; ++k) {
        out[k] = *valid;
        out[k].bit[pairs[2 * k]] ^= 1;
        out[k].bit[pairs[2 * k + 1]] ^= 1;
    }
    return n;
}

int dsn_eval_stratified(int *out, int m, const int *label, int n, int classes, dsn_rng *rng)
{
    if(m >= n) {
        for(int i = 0; i < n; ++i) out[i] = i;
        return n;
    }
    if(m <= 0) return 0;
    int *count = calloc((size_t)classes, sizeof *count), *quota = calloc((size_t)classes, sizeof *quota);
    int *start = calloc((size_t)classes + 1, sizeof *start), *members = malloc((size_t)n * sizeof *members);
    double *rem = calloc((size_t)classes, sizeof *rem);
    int picked = -1;
    if(!count || !quota || !start || !members || !rem) goto done;
    for(int i = 0; i < n; ++i) {
        if(label[i] < 0 || label[i] >= classes) goto done;
        ++count[label[i]];
    }
    int given = 0;
    for(int k = 0; k < classes; ++k) {
        double q = (double)m * count[k] / n;
        quota[k] = (int)floor(q);
        rem[k] = q - quota[k];
        given += quota[k];
    }
    while(given < m) {   /* largest remainder; a class can take one extra at most */
        int best = -1;
        for(int k = 0; k < classes; ++k) {
            if(quota[k] < count[k] && rem[k] >= 0 && (best < 0 || rem[k] > rem[best])) best = k;
        }
        if(best < 0) break;
        ++quota[best];
        rem[best] = -1;
        ++given;
    }
    /* members grouped by class, in index order */
    for(int k = 0; k < classes; ++k) start[k + 1] = start[k] + count[k];
    for(int k = 0; k < classes; ++k) count[k] = 0;
    for(int i = 0; i < n; ++i) members[start[label[i]] + count[label[i]]++] = i;
    picked = 0;
    for(int k = 0; k < classes; ++k) {
        int *mk = members + start[k], nk = count[k];
        for(int i = 0; i < quota[k]; ++i) {
            int j = i + dsn_rng_below(rng, nk - i), t = mk[i];
            mk[i] = mk[j];
            mk[j] = t;
            out[picked++] = mk[i];
        }
    }
done:
    free(count);
    free(quota);
    free(start);
    free(members);
    free(rem);
    return picked;
}

/* ---- networks ---------------------------------------------------------------------------- */

/* Parses cfg for `batch` rows and loads weights, through the one model loader (dsn_model.h).
 * quiet: Darknet's layer table goes to /dev/null (for the copies of a network already shown once).
 * The network keeps its [serial_stamp] layer: rows are stamped through dsn_stamp_override. */
static network *load_net(const char *cfg, const char *weights, int batch, int quiet, char *err,
                         size_t errlen)
{
    dsn_model m;
    dsn_model_opts o;
    dsn_model_opts_init(&o);
    o.batch = batch;
    o.quiet = quiet;
    if(readable(cfg, "cfg", err, errlen) != 0 || dsn_model_load(&m, cfg, weights, NULL, &o, err, errlen) != 0) return NULL;
    return m.net;
}

struct network *dsn_eval_load_net(const char *cfg, const char *weights, int batch, char *err, size_t errlen)
{
    return load_net(cfg, weights, batch, 0, err, errlen);
}

/* ---- the row engine ---------------------------------------------------------------------- */

typedef struct engine {
    const dsn_eval_data *d;
    const dsn_serial *table;   /* serials by index                              */
    const int *img, *ser;      /* [rows]: image index; serial index, -1 = raw    */
    long rows;
    uint8_t *correct;          /* [rows]                                         */
    int *raw_answer;           /* [images] the answer on each raw row, or NULL   */
    int batch, stamped;        /* stamped: the networks have a [serial_stamp]     */
    atomic_long next;          /* next batch to hand out                         */
    atomic_long done;          /* rows finished                                   */
    atomic_int failed;
} engine;

typedef struct worker {
    engine *e;
    network *net;
    pthread_t th;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    engine *e = w->e;
    const dsn_eval_data *d = e->d;
    int B = e->batch, inputs = d->w * d->h * d->c, classes = d->classes;
    float *in = calloc((size_t)B * inputs, sizeof(float));
    dsn_serial *ov = calloc((size_t)B, sizeof *ov);
    uint8_t *has = calloc((size_t)B, 1);
    if(!in || !ov || !has) {
        atomic_store(&e->failed, 1);
        goto done;
    }
    for(;;) {
        long start = atomic_fetch_add(&e->next, 1) * (long)B;
        if(start >= e->rows || atomic_load(&e->failed)) break;
        long end = start + B < e->rows ? start + B : e->rows;
        for(long r = start; r < end; ++r) {
            int b = (int)(r - start), s = e->ser[r];
            memcpy(in + (size_t)b * inputs, d->x + (size_t)e->img[r] * inputs, (size_t)inputs * sizeof(float));
            has[b] = s >= 0;
            if(s >= 0) ov[b] = e->table[s];
        }
        for(int b = (int)(end - start); b < B; ++b) has[b] = 0;
        if(e->stamped && dsn_stamp_override(w->net, ov, has, B) != 0) {
            atomic_store(&e->failed, 1);
            break;
        }
        const float *out = network_predict(w->net, in);
        for(long r = start; r < end; ++r) {
            const float *o = out + (size_t)(r - start) * classes;
            int best = 0;
            for(int k = 1; k < classes; ++k) {
                if(o[k] > o[best]) best = k;
            }
            e->correct[r] = best == d->label[e->img[r]];
            if(e->raw_answer && e->ser[r] < 0) e->raw_answer[e->img[r]] = best;
        }
        atomic_fetch_add(&e->done, end - start);
    }
done:
    free(in);
    free(ov);
    free(has);
    return NULL;
}

static void format_duration(char *out, size_t len, double s)
{
    if(s < 0) snprintf(out, len, "?");
    else if(s < 60) snprintf(out, len, "%.0fs", s);
    else if(s < 3600) snprintf(out, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(out, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* Runs every row on the given networks (one thread each) and reports progress on stderr. */
static int run_rows(engine *e, network **nets, int nnets, const char *what, int progress)
{
    worker *ws = calloc((size_t)nnets, sizeof *ws);
    if(!ws) return -1;
    atomic_store(&e->next, 0);
    atomic_store(&e->done, 0);
    atomic_store(&e->failed, 0);
    int started = 0;
    for(int i = 0; i < nnets; ++i) {
        ws[i].e = e;
        ws[i].net = nets[i];
        if(pthread_create(&ws[i].th, NULL, work, &ws[i]) != 0) {
            atomic_store(&e->failed, 1);
            break;
        }
        ++started;
    }
    int tty = isatty(2);
    double t0 = now_seconds(), last = t0;
    while(started && atomic_load(&e->done) < e->rows && !atomic_load(&e->failed)) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        double t = now_seconds();
        if(!progress || t - last < (tty ? 1.0 : 15.0)) continue;
        last = t;
        long done = atomic_load(&e->done);
        double rate = done / (t - t0);
        char eta[32];
        format_duration(eta, sizeof eta, rate > 0 ? (e->rows - done) / rate : -1);
        fprintf(stderr, "%sdsn: eval: %s: %ld/%ld rows (%.0f%%), %.0f rows/s, ETA %s%s", tty ? "\r" : "",
                what, done, e->rows, 100.0 * done / e->rows, rate, eta, tty ? "   " : "\n");
        fflush(stderr);
    }
    for(int i = 0; i < started; ++i) pthread_join(ws[i].th, NULL);
    if(progress && tty && t0 + 1.0 <= last) fputc('\n', stderr);
    free(ws);
    return atomic_load(&e->failed) || started < nnets ? -1 : 0;
}

/* ---- the measurement --------------------------------------------------------------------- */

void dsn_eval_opts_init(dsn_eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->forged = 1000;
    o->near2 = 200;
    o->near4 = 200;
    o->per_serial = 500;
    o->batch = 128;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
#ifdef GPU
    o->threads = 1;   /* one GPU: the batches already fill it */
#endif
}

void dsn_eval_result_free(dsn_eval_result *r)
{
    dsn_eval_set *sets[] = {&r->forged, &r->h1, &r->h2, &r->h4, &r->swap};
    for(int i = 0; i < DSN_COUNT(sets); ++i) {
        free(sets[i]->serial);
        free(sets[i]->each);
    }
    free(r->cross);
    free(r->teacher_ok);
    free(r->valid_ok);
    free(r->raw_ok);
    memset(r, 0, sizeof *r);
}

/* The measures over serials, in table order: forged, h1, h2, h4, swap, cross. */
#define N_MEASURES 6

/* A measure: serials [first, first + n) of the table, each on its own list of images. */
typedef struct measure {
    int first, n;
    long *start;     /* [n + 1]: row range of serial i is [start[i], start[i+1]) */
} measure;

/* Independent, seeded streams, so that changing one count never moves another measure's draws. */
static void stream(dsn_rng *r, uint64_t seed, uint64_t tag)
{
    dsn_rng_seed(r, seed * 0x9E3779B97F4A7C15ull ^ (tag * 0xD1B54A32D192ED03ull + 0x5851F42D4C957F2Dull));
}

static int set_alloc(dsn_eval_set *s, int n)
{
    s->n = n;
    s->serial = calloc((size_t)(n ? n : 1), sizeof *s->serial);
    s->each = calloc((size_t)(n ? n : 1), sizeof *s->each);
    return s->serial && s->each ? 0 : -1;
}

/* The customer's networks, one per thread (the first shows its layer table, the copies are
 * quiet), and the teacher if any, each checked against the serial and the images. */
static int load_nets(network **nets, int nthreads, network **teacher, const dsn_eval_opts *o,
                     const dsn_eval_data *d, int batch, char *err, size_t errlen)
{
    int nb = o->valid.nbits;
    for(int t = 0; t < nthreads; ++t) {
        if(!(nets[t] = load_net(o->cfg, o->weights, batch, t > 0, err, errlen))) return -1;
    }
    dsn_stamp_state *st = dsn_stamp_state_of(nets[0]);
    if(!st) {
        snprintf(err, errlen, "%s: layer 0 is not [serial_stamp]: not a DSN customer cfg", o->cfg);
        return -1;
    }
    if(st->geo.bits != nb) {
        snprintf(err, errlen, "%s stamps %d-bit serials, the certificate's serial has %d bits", o->cfg, st->geo.bits, nb);
        return -1;
    }
    if(nets[0]->w != d->w || nets[0]->h != d->h || nets[0]->c != d->c) {
        snprintf(err, errlen, "%s takes %dx%dx%d input, the images were loaded at %dx%dx%d", o->cfg,
                 nets[0]->w, nets[0]->h, nets[0]->c, d->w, d->h, d->c);
        return -1;
    }
    if(nets[0]->outputs != d->classes) {
        snprintf(err, errlen, "%s outputs %d scores, the data set has %d classes", o->cfg, nets[0]->outputs, d->classes);
        return -1;
    }
    if(o->teacher_cfg) {
        network *tn = *teacher = load_net(o->teacher_cfg, o->teacher_weights, batch, 0, err, errlen);
        if(!tn) return -1;
        if(tn->w != d->w || tn->h != d->h || tn->c != d->c || tn->outputs != d->classes) {
            snprintf(err, errlen, "teacher %s takes %dx%dx%d input and outputs %d scores; the customer model %dx%dx%d and %d",
                     o->teacher_cfg, tn->w, tn->h, tn->c, tn->outputs, d->w, d->h, d->c, d->classes);
            return -1;
        }
    }
    return 0;
}

/* The serial table: valid, forged, hamming 1, 2, 4, swaps (nswap of them; across the edges too
 * when the stamp's frame wraps), others (NULL when out of memory). */
static dsn_serial *serial_table(const dsn_eval_opts *o, int nb, int nswap, const dsn_geometry *geo)
{
    int at = 1 + o->forged + nb + o->near2 + o->near4;
    dsn_serial *table = calloc((size_t)(at + nswap + o->n_others), sizeof *table);
    if(!table) return NULL;
    table[0] = o->valid;
    dsn_rng rs;
    stream(&rs, o->seed, 1);
    dsn_eval_forged(table + 1, o->forged, &o->valid, &rs);
    dsn_eval_hamming1(table + 1 + o->forged, &o->valid);
    stream(&rs, o->seed, 2);
    dsn_eval_near(table + 1 + o->forged + nb, o->near2, &o->valid, 2, &rs);
    stream(&rs, o->seed, 4);
    dsn_eval_near(table + 1 + o->forged + nb + o->near2, o->near4, &o->valid, 4, &rs);
    if(nswap) dsn_eval_swaps(table + at, &o->valid, geo->columns, geo->wrap);
    for(int i = 0; i < o->n_others; ++i) table[at + nswap + i] = o->others[i];
    return table;
}

/* Fills the rows planned (img, ser [rows]): valid, raw, then measure k's counts[k] serials on
 * each[k] images each (all d->n in order, or m of them stratified by class). Returns 0, or -1
 * when out of memory. */
static int fill_rows(measure *ms, int *img, int *ser, const int counts[N_MEASURES], const int each[N_MEASURES], int m,
                     const dsn_eval_data *d, uint64_t seed)
{
    int *subset = malloc((size_t)d->n * sizeof *subset);
    if(!subset) return -1;
    long at = 0;
    for(int i = 0; i < d->n; ++i, ++at) {
        img[at] = i;
        ser[at] = 0;
    }
    for(int i = 0; i < d->n; ++i, ++at) {
        img[at] = i;
        ser[at] = -1;
    }
    int first = 1, rc = -1;
    for(int k = 0; k < N_MEASURES; ++k) {
        ms[k].first = first;
        ms[k].n = counts[k];
        if(!(ms[k].start = malloc(((size_t)counts[k] + 1) * sizeof(long)))) goto done;
        dsn_rng rsub;
        stream(&rsub, seed, 100 + (uint64_t)k);
        for(int i = 0; i < counts[k]; ++i) {
            ms[k].start[i] = at;
            int got = each[k] == d->n ? d->n : dsn_eval_stratified(subset, m, d->label, d->n, d->classes, &rsub);
            if(got < 0) goto done;
            for(int j = 0; j < got; ++j, ++at) {
                img[at] = each[k] == d->n ? j : subset[j];
                ser[at] = first + i;
            }
        }
        ms[k].start[counts[k]] = at;
        first += counts[k];
    }
    rc = 0;
done:
    free(subset);
    return rc;
}

/* The teacher on raw images (one network, small): r->teacher and r->teacher_ok, with correct
 * zeroed again after. Returns 0, or -1 when out of memory (or a thread could not start). */
static int run_teacher(dsn_eval_result *r, network *teacher, const dsn_eval_data *d, const dsn_serial *table,
                       const int *img, uint8_t *correct, int batch, int progress)
{
    int *traw = malloc((size_t)d->n * sizeof *traw);
    if(!traw) return -1;
    for(int i = 0; i < d->n; ++i) traw[i] = -1;
    engine te = {.d = d, .table = table, .img = img, .ser = traw, .rows = d->n, .correct = correct,
                 .batch = batch, .stamped = dsn_stamp_state_of(teacher) != NULL};
    int trc = run_rows(&te, &teacher, 1, "teacher", progress);
    long k = 0;
    for(int i = 0; i < d->n; ++i) k += correct[i];
    free(traw);
    if(trc != 0) return -1;
    r->has_teacher = 1;
    r->teacher = dsn_eval_wilson(k, d->n);
    if(!(r->teacher_ok = malloc((size_t)d->n))) return -1;
    memcpy(r->teacher_ok, correct, (size_t)d->n);
    memset(correct, 0, (size_t)d->n);
    return 0;
}

int dsn_eval_answers(const int *pred, const int *label, int n, int classes, int *top, double *share,
                     double *balanced)
{
    long *count = calloc((size_t)classes * 3, sizeof *count);   /* answers, images, right; per class */
    if(!count) return -1;
    for(int i = 0; i < n; ++i) {
        count[pred[i]] += 1;
        count[classes + label[i]] += 1;
        count[2 * classes + label[i]] += pred[i] == label[i];
    }
    int best = 0, present = 0;
    double sum = 0;
    for(int c = 0; c < classes; ++c) {
        if(count[c] > count[best]) best = c;
        if(count[classes + c] == 0) continue;
        ++present;
        sum += 100.0 * count[2 * classes + c] / count[classes + c];
    }
    *top = best;
    *share = n > 0 ? 100.0 * count[best] / n : 0;
    *balanced = present > 0 ? sum / present : 0;
    free(count);
    return 0;
}

/* The accuracies from the rows' answers: valid, raw, then the measures (forged, h1, h2, h4, swap
 * as sets, the others as cross). Returns 0, or -1 when out of memory. */
static int tally(dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_data *d, const dsn_serial *table,
                 const measure *ms, const int each[N_MEASURES], const uint8_t *correct, const int *raw_answer)
{
    if(dsn_eval_answers(raw_answer, d->label, d->n, d->classes, &r->raw_top, &r->raw_top_share,
                        &r->raw_balanced) != 0) return -1;
    if(!(r->valid_ok = malloc((size_t)d->n)) || !(r->raw_ok = malloc((size_t)d->n))) return -1;
    memcpy(r->valid_ok, correct, (size_t)d->n);
    memcpy(r->raw_ok, correct + d->n, (size_t)d->n);
    long k = 0;
    for(int i = 0; i < d->n; ++i) k += correct[i];
    r->valid = dsn_eval_wilson(k, d->n);
    k = 0;
    for(int i = d->n; i < 2 * d->n; ++i) k += correct[i];
    r->raw = dsn_eval_wilson(k, d->n);
    dsn_eval_set *sets[N_MEASURES - 1] = {&r->forged, &r->h1, &r->h2, &r->h4, &r->swap};
    if(!(r->cross = calloc((size_t)(o->n_others ? o->n_others : 1), sizeof *r->cross))) return -1;
    r->n_cross = o->n_others;
    for(int s = 0; s < N_MEASURES; ++s) {
        dsn_eval_set *set = s < N_MEASURES - 1 ? sets[s] : NULL;
        if(set && set_alloc(set, ms[s].n) != 0) return -1;
        if(set) set->images_each = each[s];
        for(int i = 0; i < ms[s].n; ++i) {
            long c = 0;
            for(long j = ms[s].start[i]; j < ms[s].start[i + 1]; ++j) c += correct[j];
            dsn_eval_acc a = dsn_eval_wilson(c, ms[s].start[i + 1] - ms[s].start[i]);
            if(set) {
                set->each[i] = a;
                set->serial[i] = table[ms[s].first + i];
            } else {
                r->cross[i] = a;
            }
        }
        if(set) dsn_eval_set_stats(set);
    }
    return 0;
}

int dsn_eval_run(dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_data *d, char *err,
                 size_t errlen)
{
    memset(r, 0, sizeof *r);
    double t0 = now_seconds();
    int rc = -1, nb = o->valid.nbits, nthreads = o->threads < 1 ? 1 : o->threads;
    int batch = o->batch < 1 ? 1 : o->batch, m = o->per_serial < d->n ? o->per_serial : d->n;
    network **nets = calloc((size_t)nthreads, sizeof *nets), *teacher = NULL;
    dsn_serial *table = NULL;
    int *img = NULL, *ser = NULL;
    uint8_t *correct = NULL;
    int *raw_answer = NULL;
    measure ms[N_MEASURES] = {{0}};   /* forged, h1, h2, h4, swap, cross */
    int saved_blas = openblas_get_num_threads ? openblas_get_num_threads() : 0;
    if(!nets) goto oom;
    if(o->forged < 0 || o->near2 < 0 || o->near4 < 0 || o->per_serial < 1) {
        snprintf(err, errlen, "--forged, --near2 and --near4 must be >= 0, --images-per-serial >= 1");
        goto fail;
    }
    if(nb > 0 && nb < 4 && o->near4 > 0) {
        snprintf(err, errlen, "a %d-bit serial has no serials 4 bits away: use --near4 0", nb);
        goto fail;
    }
    if(load_nets(nets, nthreads, &teacher, o, d, batch, err, errlen) != 0) goto fail;
    const dsn_geometry *geo = &dsn_stamp_state_of(nets[0])->geo;   /* the cfg's stamp (load_nets checked) */
    int nswap = o->no_swaps ? 0 : dsn_eval_swaps(NULL, &o->valid, geo->columns, geo->wrap);
    if(!(table = serial_table(o, nb, nswap, geo))) goto oom;

    /* rows: valid, raw, then each measure's serials on their images */
    const int counts[N_MEASURES] = {o->forged, o->no_hamming1 ? 0 : nb, o->near2, o->near4, nswap, o->n_others};
    const int each[N_MEASURES] = {m, d->n, m, m, m, d->n};
    long rows = 2L * d->n;
    for(int k = 0; k < N_MEASURES; ++k) rows += (long)counts[k] * each[k];
    img = malloc((size_t)rows * sizeof *img);
    ser = malloc((size_t)rows * sizeof *ser);
    correct = calloc((size_t)rows, 1);
    raw_answer = malloc((size_t)d->n * sizeof *raw_answer);
    if(!img || !ser || !correct || !raw_answer) goto oom;
    if(fill_rows(ms, img, ser, counts, each, m, d, o->seed) != 0) goto oom;

    /* go: the teacher on raw images first (one network, small), then everything else */
    if(nthreads > 1 && openblas_set_num_threads) openblas_set_num_threads(1);
    if(teacher && run_teacher(r, teacher, d, table, img, correct, batch, o->progress) != 0) goto oom;
    engine e = {.d = d, .table = table, .img = img, .ser = ser, .rows = rows, .correct = correct,
                .raw_answer = raw_answer, .batch = batch, .stamped = 1};
    if(run_rows(&e, nets, nthreads, "student", o->progress) != 0) goto oom;
    if(tally(r, o, d, table, ms, each, correct, raw_answer) != 0) goto oom;
    r->n_images = d->n;
    r->classes = d->classes;
    r->bits = nb;
    r->grid_columns = geo->gw;
    r->rows = rows + (teacher ? d->n : 0);
    rc = 0;
    goto fail;
oom:
    if(!err[0] || rc == -1) snprintf(err, errlen, "out of memory (or a thread could not start) while evaluating %s", o->cfg);
fail:
    if(openblas_set_num_threads && saved_blas > 0) openblas_set_num_threads(saved_blas);
    for(int t = 0; nets && t < nthreads; ++t) {
        if(nets[t]) free_network(nets[t]);
    }
    if(teacher) free_network(teacher);
    free(nets);
    free(table);
    free(img);
    free(ser);
    free(correct);
    free(raw_answer);
    for(int k2 = 0; k2 < DSN_COUNT(ms); ++k2) free(ms[k2].start);
    r->seconds = now_seconds() - t0;
    return rc;
}

double dsn_eval_lock_score(const dsn_eval_result *r, const dsn_lock_limits *l, const char **worst)
{
    dsn_target_model m = {.teacher = r->teacher.acc, .has_teacher = r->has_teacher};
    const struct { int k, present; double v; } from[] = {
        {DSN_TARGET_VALID, 1, r->valid.acc}, {DSN_TARGET_RAW, 1, r->raw.acc},
        {DSN_TARGET_FORGED, r->forged.n > 0, dsn_eval_set_max(&r->forged)},
        {DSN_TARGET_H1, r->h1.n > 0, dsn_eval_set_max(&r->h1)}, {DSN_TARGET_H2, r->h2.n > 0, dsn_eval_set_max(&r->h2)},
    };
    for(int i = 0; i < DSN_COUNT(from); ++i) {
        m.v[from[i].k] = from[i].v;
        m.has[from[i].k] = from[i].present;
    }
    return dsn_targets_score(&m, l, worst);
}

/* ---- output ------------------------------------------------------------------------------ */

/* [lo, hi] */
static json_t *json_pair(double lo, double hi)
{
    return json_pack("[o, o]", dsn_json_real(lo), dsn_json_real(hi));
}

/* "<key>" and "<key>_ci95"; both null when absent */
static void json_acc(json_t *j, const char *key, const dsn_eval_acc *a, int present, int *bad)
{
    char ci[96];
    snprintf(ci, sizeof ci, "%s_ci95", key);
    dsn_json_put(j, key, present ? dsn_json_real(a->acc) : json_null(), bad);
    dsn_json_put(j, ci, present ? json_pair(a->lo, a->hi) : json_null(), bad);
}

/* A measure over serials: "<mean_key>" and "<mean_key>_ci95" for the mean, "<key>_sd",
 * "<key>_max" (with its interval and serial), "<key>_min", "<key>_serials", "<key>_images_each". */
static void json_set(json_t *j, const char *key, const char *mean_key, const dsn_eval_set *s, int *bad)
{
    char text[DSN_SERIAL_TEXT_MAX], k[96];
    const dsn_eval_acc *mx = s->max_i >= 0 ? &s->each[s->max_i] : NULL;
    dsn_json_put(j, mean_key, mx ? dsn_json_real(s->mean) : json_null(), bad);
    snprintf(k, sizeof k, "%s_ci95", mean_key);
    dsn_json_put(j, k, mx ? json_pair(s->lo, s->hi) : json_null(), bad);
    snprintf(k, sizeof k, "%s_sd", key);
    dsn_json_put(j, k, mx ? dsn_json_real(s->sd) : json_null(), bad);
    snprintf(k, sizeof k, "%s_max", key);
    dsn_json_put(j, k, mx ? dsn_json_real(mx->acc) : json_null(), bad);
    snprintf(k, sizeof k, "%s_max_ci95", key);
    dsn_json_put(j, k, mx ? json_pair(mx->lo, mx->hi) : json_null(), bad);
    snprintf(k, sizeof k, "%s_max_serial", key);
    int has_serial = mx && dsn_serial_encode(text, sizeof text, &s->serial[s->max_i]) > 0;
    dsn_json_put(j, k, has_serial ? json_string(text) : json_null(), bad);
    snprintf(k, sizeof k, "%s_min", key);
    dsn_json_put(j, k, s->min_i >= 0 ? dsn_json_real(s->each[s->min_i].acc) : json_null(), bad);
    snprintf(k, sizeof k, "%s_serials", key);
    dsn_json_put(j, k, json_integer(s->n), bad);
    snprintf(k, sizeof k, "%s_images_each", key);
    dsn_json_put(j, k, json_integer(s->images_each), bad);
}

void dsn_eval_json(dsn_buf *b, const dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_meta *m)
{
    char serial[DSN_SERIAL_TEXT_MAX] = "";
    dsn_serial_encode(serial, sizeof serial, &o->valid);
    struct { const char *key, *value; } strs[] = {
        {"customer", m->customer}, {"model", m->model}, {"serial", serial}, {"dataset", m->dataset},
        {"cfg", o->cfg}, {"weights", o->weights}, {"cert", m->cert}, {"data", m->data},
        {"list", m->list}, {"teacher_cfg", o->teacher_cfg}, {"teacher_weights", o->teacher_weights},
    };
    int bad = 0;
    json_t *j = json_object(), *per_bit = json_array(), *cross = json_object(), *cross_ci = json_object();
    if(!j) bad = 1;
    dsn_json_put(j, "dsn_eval", json_integer(1), &bad);
    for(int i = 0; i < DSN_COUNT(strs); ++i)
        dsn_json_put(j, strs[i].key, strs[i].value ? json_string(strs[i].value) : json_null(), &bad);
    dsn_json_put(j, "bits", json_integer(r->bits), &bad);
    dsn_json_put(j, "grid_columns", json_integer(r->grid_columns), &bad);
    dsn_json_put(j, "n_images", json_integer(r->n_images), &bad);
    dsn_json_put(j, "classes", json_integer(r->classes), &bad);
    dsn_json_put(j, "counts", json_pack("{s:i, s:i, s:i, s:i, s:i}", "forged", o->forged, "near2", o->near2, "near4",
                                        o->near4, "swaps", r->swap.n, "images_per_serial", o->per_serial), &bad);
    dsn_json_put(j, "seeds", json_pack("{s:I}", "eval", (json_int_t)o->seed), &bad);
    json_acc(j, "teacher", &r->teacher, r->has_teacher, &bad);
    json_acc(j, "valid", &r->valid, 1, &bad);
    json_acc(j, "raw", &r->raw, 1, &bad);
    dsn_json_put(j, "raw_balanced", dsn_json_real(r->raw_balanced), &bad);
    dsn_json_put(j, "raw_answer_class", json_integer(r->raw_top), &bad);
    dsn_json_put(j, "raw_answer_share", dsn_json_real(r->raw_top_share), &bad);
    json_set(j, "forged", "forged_mean", &r->forged, &bad);
    json_set(j, "hamming_1", "hamming_1", &r->h1, &bad);
    dsn_json_put(j, "hamming_1_max_bit", json_integer(r->h1.max_i), &bad);
    for(int i = 0; per_bit && i < r->h1.n; ++i) dsn_json_put(per_bit, NULL, dsn_json_real(r->h1.each[i].acc), &bad);
    dsn_json_put(j, "hamming_1_per_bit", per_bit, &bad);
    json_set(j, "hamming_2", "hamming_2", &r->h2, &bad);
    json_set(j, "hamming_4", "hamming_4", &r->h4, &bad);
    json_set(j, "swap", "swap", &r->swap, &bad);
    for(int i = 0; cross && cross_ci && i < r->n_cross; ++i) {
        dsn_json_put(cross, o->other_names[i], dsn_json_real(r->cross[i].acc), &bad);
        dsn_json_put(cross_ci, o->other_names[i], json_pair(r->cross[i].lo, r->cross[i].hi), &bad);
    }
    dsn_json_put(j, "cross", cross, &bad);
    dsn_json_put(j, "cross_ci95", cross_ci, &bad);
    dsn_json_put(j, "rows", json_integer(r->rows), &bad);
    dsn_json_put(j, "threads", json_integer(o->threads), &bad);
    dsn_json_put(j, "batch", json_integer(o->batch), &bad);
    dsn_json_put(j, "rows_per_second", r->seconds > 0 ? dsn_json_real(floor(r->rows / r->seconds)) : json_null(), &bad);
    dsn_json_put(j, "wall_seconds", dsn_json_real(floor(r->seconds * 100 + 0.5) / 100), &bad);
    if(bad || dsn_json_dump(b, j) != 0) b->oom = 1;
    json_decref(j);
}

static void md_row(dsn_buf *b, const char *what, double acc, double lo, double hi, const char *n)
{
    if(dsn_finite(acc)) dsn_buf_printf(b, "| %s | %.2f | %.2f - %.2f | %s |\n", what, acc, lo, hi, n);
    else dsn_buf_printf(b, "| %s | - | - | %s |\n", what, n);
}

static void md_set(dsn_buf *b, const char *what, const dsn_eval_set *s)
{
    char n[96], w[160];
    if(s->n == 0) return;
    snprintf(n, sizeof n, "%d serials x %d images", s->n, s->images_each);
    snprintf(w, sizeof w, "%s, mean", what);
    md_row(b, w, s->mean, s->lo, s->hi, n);
    snprintf(w, sizeof w, "%s, worst case (max)", what);
    snprintf(n, sizeof n, "%d images", s->images_each);
    md_row(b, w, s->each[s->max_i].acc, s->each[s->max_i].lo, s->each[s->max_i].hi, n);
}

void dsn_eval_markdown(dsn_buf *b, const dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_meta *m)
{
    char serial[DSN_SERIAL_TEXT_MAX] = "", n[64], w[200];
    dsn_serial_encode(serial, sizeof serial, &o->valid);
    dsn_buf_printf(b, "## %s: %s (model %s)\n\n", m->dataset ? m->dataset : "eval",
                   m->customer ? m->customer : "customer", m->model ? m->model : "?");
    dsn_buf_printf(b, "`%s` with `%s`, serial `%s` (%d bits), %d test images, eval seed %llu, %.1f s.\n\n",
                   o->cfg, o->weights, serial, r->bits, r->n_images, (unsigned long long)o->seed, r->seconds);
    dsn_buf_printf(b, "| measure | accuracy %% | 95%% CI | evaluated on |\n|---|---:|---:|---|\n");
    snprintf(n, sizeof n, "%d images", r->n_images);
    if(r->has_teacher) md_row(b, "teacher (raw input)", r->teacher.acc, r->teacher.lo, r->teacher.hi, n);
    md_row(b, "valid serial (A_X+K)", r->valid.acc, r->valid.lo, r->valid.hi, n);
    md_row(b, "no serial (A_X)", r->raw.acc, r->raw.lo, r->raw.hi, n);
    snprintf(w, sizeof w, "no serial, balanced (mean over classes; %.1f%% of answers class %d)", r->raw_top_share,
             r->raw_top);
    dsn_buf_printf(b, "| %s | %.2f | | %s |\n", w, r->raw_balanced, n);
    md_set(b, "forged serials", &r->forged);
    md_set(b, "Hamming distance 1", &r->h1);
    md_set(b, "Hamming distance 2", &r->h2);
    md_set(b, "Hamming distance 4", &r->h4);
    md_set(b, "neighbour swaps (2 bits)", &r->swap);
    for(int i = 0; i < r->n_cross; ++i) {
        snprintf(w, sizeof w, "serial of %s", o->other_names[i]);
        md_row(b, w, r->cross[i].acc, r->cross[i].lo, r->cross[i].hi, n);
    }
    if(r->h1.n > 0) {
        dsn_buf_printf(b, "\nAccuracy with bit i flipped (row-major over the stamp grid; worst bit %d):\n\n```\n",
                       r->h1.max_i);
        int gw = r->grid_columns > 0 ? r->grid_columns : 1;
        for(int i = 0; i < r->h1.n; ++i) {
            dsn_buf_printf(b, "%6.1f%s", r->h1.each[i].acc, (i + 1) % gw == 0 || i + 1 == r->h1.n ? "\n" : "");
        }
        dsn_buf_printf(b, "```\n");
    }
}
