/* dsn_report.c: reading runs and training logs for `dsn report` (see dsn_report.h). */
#include "dsn_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsn_jansson.h"
#include "dsn_serial.h"
#include "dsn_util.h"

#define RUN_FILE_MAX (16u << 20)
#define LOG_FILE_MAX (1u << 30)

const dsn_metric_info dsn_metrics[DSN_M_COUNT] = {
    [DSN_M_TEACHER] = {"teacher", "teacher", 99.9},
    [DSN_M_VALID] = {"valid", "valid serial (A_X+K)", 99.8},
    [DSN_M_RAW] = {"raw", "no serial (A_X)", 9.2},
    [DSN_M_RAW_BALANCED] = {"raw_balanced", "no serial, balanced", -1},
    [DSN_M_FORGED_MEAN] = {"forged_mean", "forged serials, mean", -1},
    [DSN_M_FORGED_MAX] = {"forged_max", "forged serials, max", -1},
    [DSN_M_H1] = {"hamming_1", "Hamming 1, mean", -1},
    [DSN_M_H1_MAX] = {"hamming_1_max", "Hamming 1, max", -1},
    [DSN_M_H2] = {"hamming_2", "Hamming 2, mean", -1},
    [DSN_M_H2_MAX] = {"hamming_2_max", "Hamming 2, max", -1},
    [DSN_M_H4] = {"hamming_4", "Hamming 4, mean", -1},
    [DSN_M_H4_MAX] = {"hamming_4_max", "Hamming 4, max", -1},
    [DSN_M_SWAP_MAX] = {"swap_max", "neighbour swaps, max", -1},
    [DSN_M_CROSS] = {"cross_customer_mean", "other customers' serials, mean", -1},
};

/* ---- runs -------------------------------------------------------------------------------- */

void dsn_run_free(dsn_run *r)
{
    if(!r) return;
    free(r->source);
    free(r->eval_path);
    free(r->dataset);
    free(r->customer);
    free(r->model);
    free(r->per_bit);
    for(int i = 0; i < r->n_cross; ++i) free(r->cross_name[i]);
    free(r->cross_name);
    free(r->cross);
    free(r->train_log);
    free(r->teacher_log);
    memset(r, 0, sizeof *r);
}

/* A copy of an optional string field; -1 (err set) when present but not a string. */
static int opt_str(char **out, const json_t *obj, const char *key, const char *file, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if(!v || json_is_null(v)) return 0;
    if(!json_is_string(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a string", file, key);
        return -1;
    }
    if(!(*out = strdup(json_string_value(v)))) {
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    return 0;
}

static int opt_num(double *out, const json_t *obj, const char *key, double def, const char *file, char *err,
                   size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    *out = def;
    if(!v || json_is_null(v)) return 0;
    if(!json_is_number(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a number", file, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* 1 when v is a number in 0..100 */
static int percent(const json_t *v, double *out)
{
    if(!json_is_number(v)) return 0;
    *out = json_number_value(v);
    return *out >= 0 && *out <= 100;
}

/* "hamming_1_per_bit": an array of percentages */
static int read_per_bit(dsn_run *r, const json_t *pb, const char *file, char *err, size_t errlen)
{
    size_t n = json_array_size(pb);
    if(n == 0) return 0;
    if(!(r->per_bit = malloc(n * sizeof *r->per_bit))) {
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    r->n_bits = (int)n;
    for(size_t i = 0; i < n; ++i) {
        if(!percent(json_array_get(pb, i), &r->per_bit[i])) {
            snprintf(err, errlen, "%s: \"hamming_1_per_bit\"[%zu] must be a percentage", file, i);
            return -1;
        }
    }
    return 0;
}

/* "cross": {"customer": percentage, ...}, and their mean */
static int read_cross(dsn_run *r, const json_t *cross, const char *file, char *err, size_t errlen)
{
    size_t n = json_object_size(cross);
    if(n == 0) return 0;
    r->cross_name = calloc(n, sizeof *r->cross_name);
    r->cross = calloc(n, sizeof *r->cross);
    if(!r->cross_name || !r->cross) goto oom;
    const char *key;
    const json_t *v;
    double sum = 0;
    json_object_foreach((json_t *)cross, key, v) {
        if(!percent(v, &r->cross[r->n_cross])) {
            snprintf(err, errlen, "%s: \"cross\".\"%s\" must be a percentage", file, key);
            return -1;
        }
        if(!(r->cross_name[r->n_cross] = strdup(key))) goto oom;
        sum += r->cross[r->n_cross++];
    }
    r->value[DSN_M_CROSS] = sum / r->n_cross;
    r->has[DSN_M_CROSS] = 1;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", file);
    return -1;
}

/* The measures of an eval JSON. */
static int read_eval(dsn_run *r, const json_t *e, const char *file, char *err, size_t errlen)
{
    for(int m = 0; m < DSN_M_COUNT; ++m) {
        if(m == DSN_M_CROSS) continue;
        const json_t *v = json_object_get(e, dsn_metrics[m].key);
        if(!v || json_is_null(v)) {
            if(m == DSN_M_VALID || m == DSN_M_RAW) {
                snprintf(err, errlen, "%s: no \"%s\": not a dsn eval result", file, dsn_metrics[m].key);
                return -1;
            }
            continue;
        }
        if(!percent(v, &r->value[m])) {
            snprintf(err, errlen, "%s: \"%s\" must be a percentage (0..100)", file, dsn_metrics[m].key);
            return -1;
        }
        r->has[m] = 1;
        char key[64];
        snprintf(key, sizeof key, "%s_ci95", dsn_metrics[m].key);
        const json_t *ci = json_object_get(e, key);
        if(json_array_size(ci) == 2 && json_is_number(json_array_get(ci, 0)) && json_is_number(json_array_get(ci, 1))) {
            r->lo[m] = json_number_value(json_array_get(ci, 0));
            r->hi[m] = json_number_value(json_array_get(ci, 1));
            r->has_ci[m] = 1;
        }
    }
    const json_t *pb = json_object_get(e, "hamming_1_per_bit"), *cross = json_object_get(e, "cross");
    if(json_is_array(pb) && read_per_bit(r, pb, file, err, errlen) != 0) return -1;
    const json_t *gc = json_object_get(e, "grid_columns");
    double columns = gc ? dsn_json_num(gc, -1) : 0;
    if(gc && !(columns >= 1 && columns <= DSN_MAX_BITS && columns == floor(columns))) {
        snprintf(err, errlen, "%s: \"grid_columns\" must be a whole number 1..%d", file, DSN_MAX_BITS);
        return -1;
    }
    r->grid_columns = (int)columns;
    if(json_is_object(cross) && read_cross(r, cross, file, err, errlen) != 0) return -1;
    r->n_images = (int)dsn_json_num(json_object_get(e, "n_images"), 0);
    r->classes = (int)dsn_json_num(json_object_get(e, "classes"), 0);
    return opt_num(&r->eval_seconds, e, "wall_seconds", -1, file, err, errlen);
}

int dsn_run_load(dsn_run *r, const char *path, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->eval_seconds = r->train_seconds = r->teacher_seconds = -1;
    json_t *top = dsn_json_load(path, RUN_FILE_MAX, err, errlen), *ev = NULL;
    if(!top) return -1;
    int rc = -1;
    const json_t *man = NULL, *e = top;
    if(!(r->source = strdup(path))) goto oom;
    if(json_object_get(top, "dsn_run")) {
        man = top;
        const char *ep = json_string_value(json_object_get(man, "eval"));
        if(!ep) {
            snprintf(err, errlen, "%s: a run manifest needs \"eval\": the path of a dsn eval JSON", path);
            goto done;
        }
        if(!(r->eval_path = strdup(ep))) goto oom;
        if(!(ev = dsn_json_load(ep, RUN_FILE_MAX, err, errlen))) {
            size_t n = strlen(err);
            snprintf(err + n, errlen > n ? errlen - n : 0, " (named by %s)", path);
            goto done;
        }
        e = ev;
    } else if(!(r->eval_path = strdup(path))) {
        goto oom;
    }
    if(!json_object_get(e, "dsn_eval")) {
        snprintf(err, errlen, "%s: neither a run manifest (\"dsn_run\") nor a dsn eval result (\"dsn_eval\")", r->eval_path);
        goto done;
    }
    if(read_eval(r, e, r->eval_path, err, errlen) != 0) goto done;

    /* names: the manifest's, else the eval's */
    struct { char **dest; const char *key; } names[] = {
        {&r->dataset, "dataset"}, {&r->customer, "customer"}, {&r->model, "model"},
    };
    for(int i = 0; i < DSN_COUNT(names); ++i) {
        if(man && opt_str(names[i].dest, man, names[i].key, path, err, errlen) != 0) goto done;
        if(!*names[i].dest && opt_str(names[i].dest, e, names[i].key, r->eval_path, err, errlen) != 0) goto done;
    }
    if(!r->dataset && !(r->dataset = strdup("data"))) goto oom;
    if(!r->customer && !(r->customer = strdup("customer"))) goto oom;
    double seed = 0;
    if(man && json_object_get(man, "seed")) {
        if(opt_num(&seed, man, "seed", 0, path, err, errlen) != 0) goto done;
    } else {
        seed = dsn_json_num(json_object_get(json_object_get(e, "seeds"), "eval"), 0);
    }
    if(seed != floor(seed) || seed < 0 || seed > 1e15) {
        snprintf(err, errlen, "%s: \"seed\" must be a whole number >= 0", path);
        goto done;
    }
    r->seed = (long)seed;
    if(man) {
        if(opt_num(&r->train_seconds, man, "train_wall_seconds", -1, path, err, errlen) != 0 ||
           opt_num(&r->teacher_seconds, man, "teacher_wall_seconds", -1, path, err, errlen) != 0 ||
           opt_str(&r->train_log, man, "train_log", path, err, errlen) != 0 ||
           opt_str(&r->teacher_log, man, "teacher_log", path, err, errlen) != 0)
            goto done;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
done:
    json_decref(top);
    json_decref(ev);
    if(rc != 0) dsn_run_free(r);
    return rc;
}

/* ---- training logs ----------------------------------------------------------------------- */

void dsn_curve_free(dsn_curve *c)
{
    if(!c) return;
    free(c->iter);
    free(c->loss);
    free(c->avg_loss);
    free(c->dsn);
    memset(c, 0, sizeof *c);
}

/* The number after `key` (" kd ") in s, searching from `from`; 0 when absent. */
static int field(const char *from, const char *key, double *out)
{
    const char *p = from ? strstr(from, key) : NULL;
    if(!p) return 0;
    char *end;
    double v = strtod(p + strlen(key), &end);
    if(end == p + strlen(key) || !dsn_finite(v)) return 0;
    *out = v;
    return 1;
}

static int grow(void **p, size_t each, int n)
{
    /* capacities are powers of two: grow when n is one */
    if(n & (n - 1)) return 0;
    void *q = realloc(*p, (size_t)(n ? 2 * n : 1) * each);
    if(!q) return -1;
    *p = q;
    return 0;
}

int dsn_curve_add_line(dsn_curve *c, const char *line)
{
    long iter, images;
    double epoch, loss, avg, rate, secs;
    if(strncmp(line, "dsn: rows", 9) == 0) {
        dsn_log_dsn d = {0};
        const char *gy = strstr(line, "| G_y "), *gdp = strstr(line, "| G_d ");
        d.has_kd = field(gy, " kd ", &d.kd);
        field(gy, " hard ", &d.hard);
        field(gy, " push ", &d.push);
        d.has_gd = field(gdp, " ce ", &d.gd);
        field(gdp, " acc ", &d.gd_acc);
        d.has_lambda = field(line, " lambda ", &d.lambda);
        if(!d.has_kd && !d.has_gd) return 0;
        if(grow((void **)&c->dsn, sizeof *c->dsn, c->n_dsn) != 0) return -1;
        c->dsn[c->n_dsn++] = d;
        return 2;
    }
    if(sscanf(line, "%ld, %lf: %lf, %lf avg, %lf rate, %lf seconds, %ld images", &iter, &epoch, &loss, &avg,
              &rate, &secs, &images) != 7)
        return 0;
    if(!dsn_finite(loss) || !dsn_finite(avg)) return 0;
    if(grow((void **)&c->iter, sizeof *c->iter, c->n) != 0 || grow((void **)&c->loss, sizeof *c->loss, c->n) != 0 ||
       grow((void **)&c->avg_loss, sizeof *c->avg_loss, c->n) != 0)
        return -1;
    c->iter[c->n] = iter;
    c->loss[c->n] = loss;
    c->avg_loss[c->n] = avg;
    ++c->n;
    return 1;
}

/* Feeds every \r- or \n-separated piece of f to the curve; pieces longer than the buffer (not an
 * iteration line) are skipped, so memory stays bounded whatever the file holds. */
static int curve_read_pieces(dsn_curve *c, FILE *f)
{
    char piece[4096];
    size_t n = 0;
    int skip = 0, ch;
    for(;;) {
        ch = getc(f);
        if(ch == EOF || ch == '\n' || ch == '\r') {
            piece[n] = '\0';
            if(!skip && n && dsn_curve_add_line(c, piece) < 0) return -1;
            if(ch == EOF) return 0;
            n = 0;
            skip = 0;
        } else if(n + 1 < sizeof piece) {
            piece[n++] = (char)ch;
        } else {
            skip = 1;
        }
    }
}

int dsn_curve_load(dsn_curve *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if(!f) {
        snprintf(err, errlen, "cannot open training log %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if(fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)LOG_FILE_MAX) {
        snprintf(err, errlen, "training log %s is not a regular file of at most %u bytes", path, LOG_FILE_MAX);
        fclose(f);
        return -1;
    }
    int rc = curve_read_pieces(c, f);
    if(rc) snprintf(err, errlen, "%s: out of memory", path);
    if(!rc && ferror(f)) {
        snprintf(err, errlen, "cannot read training log %s", path);
        rc = -1;
    }
    fclose(f);
    if(rc) dsn_curve_free(c);
    return rc;
}

/* ---- statistics -------------------------------------------------------------------------- */

dsn_spread dsn_spread_of(const double *v, int n)
{
    dsn_spread s = {n, 0, 0, 0, 0};
    if(n <= 0) return s;
    double sum = 0;
    s.min = s.max = v[0];
    for(int i = 0; i < n; ++i) {
        sum += v[i];
        if(v[i] < s.min) s.min = v[i];
        if(v[i] > s.max) s.max = v[i];
    }
    s.mean = sum / n;
    if(n > 1) {
        double ss = 0;
        for(int i = 0; i < n; ++i) ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.sd = sqrt(ss / (n - 1));
    }
    return s;
}
