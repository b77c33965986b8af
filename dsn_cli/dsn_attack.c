/* dsn_attack.c: what every attack kind shares (see dsn_attack.h): loading the stolen model, the
 * data and the owner's certificates, the reference measures, image subsets and budgets, the cache
 * of training results, tracing an attacked model, plots, and writing the outputs. The kinds
 * themselves are in dsn_attack_learn.c (training attacks) and dsn_attack_key.c (the others). */
#include "dsn_attack.h"
#include "dsn_jansson.h"
#include "dsn_seal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsn_util.h"

#define ATTACK_CACHE_VERSION 1

const dsn_attack_kind dsn_attack_kinds[] = {
    {"finetune", dsn_attack_finetune,
     "all layers fine-tuned on raw labelled images (as stolen; fully connected layers re-initialised;\n"
     "              last convolution re-initialised), against the same network from scratch", 0},
    {"transfer", dsn_attack_transfer,
     "the stolen convolutions (and conv + fc1) under a fresh head, trained or frozen; --task-data\n"
     "              adds a second task (e.g. Fashion-MNIST); against scratch", 0},
    {"prune", dsn_attack_prune, "L1 global magnitude pruning of the weights: accuracy with and without the serial", 1},
    {"overwrite", dsn_attack_overwrite,
     "the leaking customer re-keys the model to its own serial with the DSN student recipe and pushes\n"
     "              the original serial to uniform; against the recipe from scratch", 1},
    {"keysearch", dsn_attack_keysearch, "random serials under a query budget: the best accuracy found", 0},
    {"reverse", dsn_attack_reverse,
     "white-box: a continuous stamp optimised by gradient descent through the network, binarised;\n"
     "              the patch pasted into PNGs run through darknet classifier valid without a serial;\n"
     "              controls: the same search on --controls random networks (sealed: and re-sealed copies)", 0},
    {"blackbox", dsn_attack_blackbox,
     "black-box: the continuous stamp by NES on output probabilities only; controls as reverse's", 0},
    {"distill", dsn_attack_distill,
     "an unlocked model (true serial; the reverse attack's patch) distilled into a fresh stamp-free\n"
     "              network on unlabelled images; against scratch with labels", 1},
};
const int dsn_attack_n_kinds = DSN_COUNT(dsn_attack_kinds);

void dsn_attack_opts_init(dsn_attack_opts *o)
{
    memset(o, 0, sizeof *o);
    o->repeats = 3;
    o->sizes = NULL;              /* per kind */
    o->repeat_sizes = "100,500,1000";
    o->lrs = "0.001,0.0001";
    o->task_sizes = "100,500,1000";
    o->levels = "10,20,30,40,50,60,70,80,90";
    o->batch = 64;
    o->epochs = 10;
    o->iters_min = 200;
    o->iters_max = 500;
    o->curve_every = 25;
    o->curve_images = 500;
    o->queries = 0;               /* per kind */
    o->per_serial = 10;
    o->finalists = 10;
    o->images = 1000;
    o->steps = 300;
    o->starts = "0.5,0,1,random";
    o->patch_lr = "0.05";
    o->round_bits = 1;
    o->png_images = 500;
    o->controls = 3;
    o->kd = "hard,unlocked";
    o->orig_frac = "0.5";
    o->trace_images = 400;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- messages and markdown ---------------------------------------------------------------- */

int dsn_attack_fail(dsn_attack_ctx *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, a->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void dsn_attack_say(dsn_attack_ctx *a, const char *fmt, ...)
{
    if(a->o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dsn: attack %s: ", a->kind->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void dsn_attack_md(dsn_attack_ctx *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if(n < 0) return;
    if(a->md_len + (size_t)n + 1 > a->md_cap) {
        size_t cap = a->md_cap ? a->md_cap : 4096;
        while(cap < a->md_len + (size_t)n + 1) cap *= 2;
        char *bigger = realloc(a->md, cap);
        if(!bigger) dsn_die("out of memory");
        a->md = bigger;
        a->md_cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(a->md + a->md_len, a->md_cap - a->md_len, fmt, ap);
    va_end(ap);
    a->md_len += (size_t)n;
}

void dsn_attack_subsampled(dsn_attack_ctx *a, const char *fmt, ...)
{
    size_t l = strlen(a->subsampled);
    if(l && l + 2 < sizeof a->subsampled) {
        snprintf(a->subsampled + l, sizeof a->subsampled - l, "; ");
        l += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->subsampled + l, sizeof a->subsampled - l, fmt, ap);
    va_end(ap);
}

/* ---- lists, sizes, budgets, subsets ------------------------------------------------------- */

int dsn_attack_reals(dsn_attack_ctx *a, const char *option, const char *list, double *out, int max)
{
    char buf[1024];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    for(char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if(n == max) return dsn_attack_fail(a, "%s: at most %d values", option, max);
        if(dsn_parse_real(p, &out[n]) != 0) return dsn_attack_fail(a, "%s: '%s' is not a number", option, p);
        ++n;
    }
    if(n == 0) return dsn_attack_fail(a, "%s: give at least one value", option);
    return n;
}

int dsn_attack_sizes(dsn_attack_ctx *a, const char *list, int total, dsn_size *out, int max)
{
    char buf[1024];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    for(char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if(n == max) return dsn_attack_fail(a, "--sizes: at most %d sizes", max);
        dsn_size *s = &out[n];
        size_t len = strlen(p);
        double v;
        snprintf(s->text, sizeof s->text, "%s", p);
        if(len > 1 && p[len - 1] == '%') {
            p[len - 1] = '\0';
            if(dsn_parse_real(p, &v) != 0 || v <= 0 || v > 100)
                return dsn_attack_fail(a, "--sizes: '%s%%' is not a percentage in (0, 100]", p);
            s->n = (int)floor(v / 100 * total + 0.5);
        } else {
            if(dsn_parse_real(p, &v) != 0 || v < 1 || v != floor(v))
                return dsn_attack_fail(a, "--sizes: '%s' is neither a percentage (10%%) nor a whole image count", p);
            s->n = (int)v;
        }
        if(s->n < 1) s->n = 1;
        if(s->n > total)
            return dsn_attack_fail(a, "--sizes: %s is %d images, but the training set has %d", s->text, s->n, total);
        s->frac = (double)s->n / total;
        ++n;
    }
    if(n == 0) return dsn_attack_fail(a, "--sizes: give at least one size");
    return n;
}

int dsn_attack_is_repeated(dsn_attack_ctx *a, const dsn_size *s)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", a->o->repeat_sizes ? a->o->repeat_sizes : "");
    for(char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if(strcmp(p, s->text) == 0) return 1;
    }
    return 0;
}

int dsn_attack_iterations(const dsn_attack_ctx *a, int n)
{
    long it = ((long)a->o->epochs * n + a->o->batch - 1) / a->o->batch;
    if(it < a->o->iters_min) it = a->o->iters_min;
    if(it > a->o->iters_max) it = a->o->iters_max;
    return (int)it;
}

uint64_t dsn_attack_seed(uint64_t base, const char *tag, long x, long y)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a over the tag, then mixed */
    for(const char *p = tag; *p; ++p) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h ^= base * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)x * 0xD1B54A32D192ED03ull + (uint64_t)y * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return h;
}

int *dsn_attack_subset(dsn_attack_ctx *a, int n, uint64_t seed)
{
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    if(!idx) return NULL;
    dsn_rng r;
    dsn_rng_stream(&r, dsn_attack_seed(seed, "subset", n, 0), 1);
    if(dsn_eval_stratified(idx, n, a->train.label, a->train.n, a->train.classes, &r) != n) {
        free(idx);
        return NULL;
    }
    return idx;
}

/* ---- networks ----------------------------------------------------------------------------- */

int dsn_attack_train_cfg(dsn_attack_ctx *a, dsn_cfg *out, int batch)
{
    if(dsn_cfg_read(out, a->o->cfg, a->err, a->errlen) != 0) return -1;
    for(int i; (i = dsn_cfg_find(out, "[serial_stamp]", 0)) >= 0;) dsn_cfg_remove(out, i);
    char b[32];
    snprintf(b, sizeof b, "%d", batch);
    static const char *const drop[] = {"steps", "scales", "burn_in", "step", "scale", "gamma", "power"};
    for(int i = 0; i < DSN_COUNT(drop); ++i) dsn_cfg_unset(out, 0, drop[i]);
    const char *set[][2] = {
        {"batch", b}, {"subdivisions", "1"}, {"adam", "1"}, {"B1", "0.9"}, {"B2", "0.999"}, {"eps", "0.0000001"},
        {"learning_rate", "0.001"}, {"momentum", "0.9"}, {"decay", "0"}, {"policy", "constant"},
        {"max_batches", "1000"}, {"random", "0"},
    };
    for(int i = 0; i < DSN_COUNT(set); ++i) {
        if(dsn_cfg_set(out, 0, set[i][0], set[i][1]) != 0) {
            dsn_cfg_free(out);
            return dsn_attack_fail(a, "out of memory");
        }
    }
    return 0;
}

int dsn_attack_fresh_net(dsn_attack_ctx *a, dsn_model *m, int batch, unsigned init_seed)
{
    dsn_cfg c;
    if(dsn_attack_train_cfg(a, &c, batch) != 0) return -1;
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, batch);
    mo.init_seed = init_seed;
    int rc = dsn_model_load_cfg(m, &c, NULL, NULL, &mo, a->err, a->errlen);
    dsn_cfg_free(&c);
    return rc;
}

int dsn_attack_load_stolen(dsn_attack_ctx *a, dsn_model *m, int batch)
{
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, batch);
    return dsn_model_load_cfg(m, &a->cfg, a->o->weights, NULL, &mo, a->err, a->errlen);
}

dsn_seal_spec dsn_attack_seal(const dsn_attack_ctx *a)
{
    /* an open model's copies: a fixed nonce, the least cost (it changes the time, not the values) */
    dsn_seal_spec latest = {DSN_SEAL_LATEST, {0}, DSN_SEAL_COST_MIN};
    return a->stolen.seal.version ? a->stolen.seal : latest;
}

int dsn_attack_resealed_net(dsn_attack_ctx *a, dsn_model *m, int batch, uint64_t seed)
{
    if(dsn_attack_load_stolen(a, m, batch) != 0) return -1;
    dsn_serial key, none = {.nbits = a->geo.bits};
    dsn_rng r;
    dsn_rng_stream(&r, seed, 1);
    dsn_eval_forged(&key, 1, &none, &r);
    dsn_seal_spec seal = dsn_attack_seal(a);
    if(dsn_seal_network(m->net, 0, m->net->n, &key, &seal, DSN_SEAL) != 0) {
        dsn_model_free(m);
        return dsn_attack_fail(a, "sealing a copy of %s failed (out of memory or OpenSSL)", a->o->weights);
    }
    return 0;
}

dsn_eval_acc dsn_attack_test_acc(dsn_attack_ctx *a, network *net, const dsn_input *in, int out_layer)
{
    long right = dsn_run_images(net, &a->test, NULL, a->n_test, in, out_layer, NULL, NULL);
    if(right < 0) dsn_die("out of memory while testing");
    return dsn_eval_wilson(right, a->n_test);
}

json_t *dsn_attack_fit_json(const dsn_fit_result *r, uint64_t seed, const dsn_eval_acc *acc)
{
    json_t *curve = json_array();
    for(int i = 0; i < r->n_curve; ++i) json_array_append_new(curve, json_pack("[i, f]", r->curve_iter[i], r->curve_acc[i]));
    /* a loss that is not finite (a run that diverged: NaN; a label given probability 0: inf) is
     * written as null: jansson refuses such reals, and json_pack would fail the whole record */
    return json_pack("{s:I, s:f, s:f, s:[f, f], s:i, s:i, s:I, s:s, s:s, s:f, s:o, s:o, s:o}", "seed", (json_int_t)seed,
                     "lr", (double)r->lr, "acc", acc->acc, "acc_ci95", acc->lo, acc->hi, "iterations", r->iterations,
                     "batch", r->batch, "rows_seen", (json_int_t)r->rows_seen, "images_sha256", r->images_sha256,
                     "order_sha256", r->order_sha256, "seconds", r->seconds, "loss_first", dsn_json_real(r->first_loss),
                     "loss_last", dsn_json_real(r->last_loss), "curve", curve);
}

int dsn_attack_mute(void)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *null = fopen("/dev/null", "w");
    if(saved >= 0 && null) dup2(fileno(null), 2);
    if(null) fclose(null);
    return saved;
}

void dsn_attack_unmute(int saved)
{
    if(saved < 0) return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

int dsn_attack_curve(json_t *fit, int *x, double *y, int max)
{
    int n = 0;
    size_t i;
    json_t *pt;
    json_array_foreach(json_object_get(fit, "curve"), i, pt) {
        if(n == max) break;
        x[n] = (int)json_integer_value(json_array_get(pt, 0));
        y[n] = json_number_value(json_array_get(pt, 1));
        ++n;
    }
    return n;
}

/* ---- cache -------------------------------------------------------------------------------- */

static void cache_load(dsn_attack_ctx *a)
{
    a->cache = NULL;
    if(!a->o->cache) return;
    json_error_t je;
    json_t *c = json_load_file(a->o->cache, 0, &je);
    if(c && json_integer_value(json_object_get(c, "version")) == ATTACK_CACHE_VERSION && json_is_object(json_object_get(c, "runs"))) {
        a->cache = c;
        return;
    }
    if(c || access(a->o->cache, F_OK) == 0)
        dsn_attack_say(a, "warning: ignoring the cache %s (unreadable or another version)", a->o->cache);
    json_decref(c);
    a->cache = json_pack("{s:i, s:{}}", "version", ATTACK_CACHE_VERSION, "runs");
}

json_t *dsn_attack_cache_get(dsn_attack_ctx *a, const char *key)
{
    if(!a->cache) return NULL;
    return json_object_get(json_object_get(a->cache, "runs"), key);
}

void dsn_attack_cache_put(dsn_attack_ctx *a, const char *key, json_t *value)
{
    if(!a->cache || !value) return;
    json_object_set_new(json_object_get(a->cache, "runs"), key, json_deep_copy(value));
    a->cache_dirty = 1;
}

static int write_json_file(const char *path, json_t *o)
{
    return dsn_verify_write_json(path, o);
}

void dsn_attack_cache_flush(dsn_attack_ctx *a)
{
    if(!a->cache || !a->cache_dirty) return;
    if(write_json_file(a->o->cache, a->cache) == 0) a->cache_dirty = 0;
}

/* ---- tracing and dead units ---------------------------------------------------------------- */

json_t *dsn_attack_trace(dsn_attack_ctx *a, network *net)
{
    if(!a->n_certs) return NULL;
    dsn_trace_opts to;
    dsn_trace_opts_init(&to);
    to.screen = 50;
    to.top = 3;
    to.v.images = a->o->trace_images;
    to.v.serials = 10;
    to.v.seed = (uint64_t)a->o->seed;
    dsn_trace_result t;
    char err[512];
    if(dsn_trace_model(&t, net, a->cert_geo, a->cert_serial, a->n_certs, &a->test, &to, err, sizeof err) != 0) {
        dsn_attack_say(a, "warning: trace failed: %s", err);
        return json_pack("{s:s}", "error", err);
    }
    json_t *top = json_array();
    for(int k = 0; k < t.n_top; ++k) {
        const dsn_trace_cand *c = &t.top[k];
        json_array_append_new(top, json_pack("{s:s, s:f, s:f, s:f}", "customer", a->certs[c->index].customer, "screen",
                                             c->screen.acc, "acc", c->v.cert.acc, "p_adjusted", c->p_adj));
    }
    const char *found = t.found >= 0 ? a->certs[t.found].customer : NULL;
    json_t *o = json_pack("{s:s?, s:b, s:i, s:o, s:f, s:f}", "found", found, "inconclusive", t.inconclusive, "certificates",
                          a->n_certs, "top", top, "p_adjusted", t.n_top ? t.top[0].p_adj : 1.0, "pool_best",
                          t.n_pool_top ? t.pool_top[0].acc : 0.0);
    if(a->has_cert) json_object_set_new(o, "owner_customer_named", json_boolean(found && strcmp(found, a->cert.customer) == 0));
    dsn_trace_result_free(&t);
    return o;
}

double dsn_attack_dead_units(dsn_attack_ctx *a, network *net, int li, const dsn_input *in, int n)
{
    if(li < 0 || li >= net->n) return -1;
    const layer *l = &net->layers[li];
    int units = l->outputs, B = net->batch, inputs = a->train.w * a->train.h * a->train.c;
    if(n > a->train.n) n = a->train.n;
    float *mx = malloc((size_t)units * sizeof *mx), *buf = calloc((size_t)B * inputs, sizeof *buf);
    if(!mx || !buf) dsn_die("out of memory");
    for(int u = 0; u < units; ++u) mx[u] = -1e30f;
    for(int start = 0; start < n; start += B) {
        int m = start + B < n ? B : n - start;
        for(int b = 0; b < m; ++b) {
            float *row = buf + (size_t)b * inputs;
            memcpy(row, a->train.x + (size_t)(start + b) * inputs, (size_t)inputs * sizeof(float));
            dsn_input_apply(row, a->train.c, in);
        }
        network_predict(net, buf);
        for(int b = 0; b < m; ++b) {
            const float *o = net->layers[li].output + (size_t)b * units;
            for(int u = 0; u < units; ++u) mx[u] = o[u] > mx[u] ? o[u] : mx[u];
        }
    }
    int dead = 0;
    for(int u = 0; u < units; ++u) dead += mx[u] <= 0;
    free(mx);
    free(buf);
    return (double)dead / units;
}

/* ---- plots -------------------------------------------------------------------------------- */

static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for(; *s; ++s) {
        if(*s == '\'') fputs("''", f);
        else if((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('\'', f);
}

int dsn_attack_plot(dsn_attack_ctx *a, const char *name, const char *xlabel, const char *ylabel,
                    const dsn_panel *panels, int n_panels)
{
    const char *dir = a->o->png_dir;
    if(!dir || n_panels < 1) return 0;
    char plots[4096], dat[4200], gp[4200], tmp[4200], png[4200];
    snprintf(plots, sizeof plots, "%s/plots", dir);
    if(mkdir(dir, 0755) != 0 && errno != EEXIST) return dsn_attack_fail(a, "--png-dir %s: %s", dir, strerror(errno));
    if(mkdir(plots, 0755) != 0 && errno != EEXIST) return dsn_attack_fail(a, "%s: %s", plots, strerror(errno));
    snprintf(dat, sizeof dat, "%s/%s.dat", plots, name);
    snprintf(gp, sizeof gp, "%s/%s.gp", plots, name);
    snprintf(tmp, sizeof tmp, "%s/%s.png.tmp", plots, name);
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    FILE *d = fopen(dat, "w"), *g = fopen(gp, "w");
    if(!d || !g) {
        if(d) fclose(d);
        if(g) fclose(g);
        return dsn_attack_fail(a, "cannot write %s: %s", d ? gp : dat, strerror(errno));
    }
    int cols = n_panels < 3 ? n_panels : 3, rows = (n_panels + cols - 1) / cols, block = 0;
    fprintf(g, "set terminal pngcairo size %d,%d noenhanced font ',9'\nset output ", 420 * cols, 320 * rows);
    gp_quote(g, tmp);
    fprintf(g, "\nset grid\nset key bottom right\nset xlabel ");
    gp_quote(g, xlabel);
    fprintf(g, "\nset ylabel ");
    gp_quote(g, ylabel);
    fprintf(g, "\nset yrange [0:100]\n");
    if(n_panels > 1) fprintf(g, "set multiplot layout %d,%d\n", rows, cols);
    for(int p = 0; p < n_panels; ++p) {
        fprintf(g, "set title ");
        gp_quote(g, panels[p].title);
        fprintf(g, "\nplot ");
        for(int s = 0; s < panels[p].n; ++s) {
            const dsn_series *se = &panels[p].s[s];
            fprintf(d, "# %s: %s\n", panels[p].title, se->title);
            for(int i = 0; i < se->n; ++i) fprintf(d, "%d %.4f\n", se->x[i], se->y[i]);
            if(se->n == 0) fprintf(d, "0 0\n");
            fprintf(d, "\n\n");
            fprintf(g, "%s", s ? ", " : "");
            gp_quote(g, dat);
            fprintf(g, " index %d with linespoints lw 2 pt 7 ps 0.5 dt %d title ", block++, se->dashed ? 2 : 1);
            gp_quote(g, se->title);
        }
        fprintf(g, "\n");
    }
    if(n_panels > 1) fprintf(g, "unset multiplot\n");
    int bad = ferror(d) || ferror(g);
    bad |= fclose(d) != 0;
    bad |= fclose(g) != 0;
    if(bad) return dsn_attack_fail(a, "cannot write %s", gp);
    pid_t pid = fork();
    if(pid < 0) return dsn_attack_fail(a, "cannot start gnuplot: %s", strerror(errno));
    if(pid == 0) {
        execlp("gnuplot", "gnuplot", gp, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while(waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if(code != 0) {
        unlink(tmp);
        dsn_attack_say(a, "warning: %s: no PNG (%s; apt-get install gnuplot-nox, then run gnuplot %s)", png,
                       code == 127 ? "gnuplot not found" : "gnuplot failed", gp);
        return 0;
    }
    if(rename(tmp, png) != 0) return dsn_attack_fail(a, "cannot rename %s to %s: %s", tmp, png, strerror(errno));
    return 0;
}

/* ---- setup -------------------------------------------------------------------------------- */

static int load_certs_dir(dsn_attack_ctx *a, const dsn_key *key)
{
    DIR *dp = opendir(a->o->certs);
    if(!dp) return dsn_attack_fail(a, "--certs %s: %s", a->o->certs, strerror(errno));
    struct dirent *e;
    int cap = 0;
    char err[1024];
    while((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if(len < 4 || strcmp(e->d_name + len - 3, ".sn") != 0) continue;
        if(a->n_certs == cap) {
            cap = cap ? 2 * cap : 64;
            a->certs = realloc(a->certs, (size_t)cap * sizeof *a->certs);
            a->cert_geo = realloc(a->cert_geo, (size_t)cap * sizeof *a->cert_geo);
            a->cert_serial = realloc(a->cert_serial, (size_t)cap * sizeof *a->cert_serial);
            if(!a->certs || !a->cert_geo || !a->cert_serial) dsn_die("out of memory");
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", a->o->certs, e->d_name);
        dsn_cert *c = &a->certs[a->n_certs];
        dsn_geometry *g = &a->cert_geo[a->n_certs];
        if(dsn_cert_load(c, path, err, sizeof err) != 0 || dsn_cert_verify(c, key, err, sizeof err) != 0 ||
           dsn_cert_geometry(g, c, err, sizeof err) != 0 || dsn_geometry_place(g, a->stolen.w, a->stolen.h, err, sizeof err) != 0) {
            dsn_attack_say(a, "warning: --certs: skipping %s: %s", path, err);
            continue;
        }
        a->cert_serial[a->n_certs++] = c->serial;
    }
    closedir(dp);
    if(!a->n_certs) return dsn_attack_fail(a, "--certs %s holds no certificate that verifies against --pub", a->o->certs);
    return 0;
}

static int load_cert(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    char err[1024];
    dsn_key *key = NULL;
    if((o->cert || o->certs) && !o->pub) return dsn_attack_fail(a, "--cert and --certs need --pub (the owner's public key)");
    if(o->pub && dsn_key_load_public(&key, o->pub, err, sizeof err) != 0) return dsn_attack_fail(a, "--pub: %s", err);
    int rc = -1;
    if(o->cert) {
        dsn_geometry g;
        if(dsn_cert_load(&a->cert, o->cert, err, sizeof err) != 0) {
            dsn_attack_fail(a, "--cert: %s", err);
            goto done;
        }
        if(dsn_cert_verify(&a->cert, key, err, sizeof err) != 0) {
            dsn_attack_fail(a, "--cert %s does not verify against --pub %s: %s", o->cert, o->pub, err);
            goto done;
        }
        if(dsn_cert_geometry(&g, &a->cert, err, sizeof err) != 0 || !dsn_geometry_same(&g, &a->geo)) {
            dsn_attack_fail(a, "--cert %s is for another stamp geometry than the [serial_stamp] of --cfg %s", o->cert, o->cfg);
            goto done;
        }
        a->has_cert = 1;
    } else if(a->kind->needs_cert) {
        dsn_attack_fail(a, "%s needs --cert (and --pub): %s", a->kind->name,
                        strcmp(a->kind->name, "overwrite") == 0 ? "its attacker is the leaking customer, who knows the serial"
                                                                 : "it measures the model with its serial");
        goto done;
    }
    if(o->certs && load_certs_dir(a, key) != 0) goto done;
    rc = 0;
done:
    dsn_key_free(key);
    return rc;
}

static int setup(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    char err[1024];
    if(!o->cfg || !o->weights || !o->data) return dsn_attack_fail(a, "missing --cfg, --weights or --data (see dsn attack --help)");
    /* no inherited DSN_SERIAL may reach a [serial_stamp] layer parsed here: the thief has none */
    unsetenv("DSN_SERIAL");
    if(dsn_cfg_read(&a->cfg, o->cfg, a->err, a->errlen) != 0) return -1;
    int g = dsn_cfg_stamp_geometry(&a->cfg, &a->geo, a->err, a->errlen);
    if(g < 0) return -1;
    if(g > 0) return dsn_attack_fail(a, "--cfg %s has no [serial_stamp]: not a DSN customer model", o->cfg);
    if(dsn_attack_load_stolen(a, &a->stolen, o->batch) != 0) return -1;
    if(load_cert(a) != 0) return -1;
    if(dsn_file_sha256(a->cfg_sha, o->cfg, err, sizeof err) != 0 || dsn_file_sha256(a->weights_sha, o->weights, err, sizeof err) != 0)
        return dsn_attack_fail(a, "%s", err);
    dsn_attack_say(a, "loading the training and test images of %s", o->data);
    if(dsn_learn_load_set(&a->train, o->data, "train", a->stolen.w, a->stolen.h, a->stolen.c, a->err, a->errlen) != 0 ||
       dsn_learn_load_set(&a->test, o->data, "valid", a->stolen.w, a->stolen.h, a->stolen.c, a->err, a->errlen) != 0)
        return -1;
    if(a->stolen.classes != a->test.classes)
        return dsn_attack_fail(a, "--cfg %s outputs %d scores, %s has %d classes", o->cfg, a->stolen.classes, o->data, a->test.classes);
    a->n_test = o->test_images > 0 && o->test_images < a->test.n ? o->test_images : a->test.n;
    cache_load(a);
    return 0;
}

/* The stolen model as the thief finds it, and (with the certificate) as its owner sold it. */
static void reference(dsn_attack_ctx *a)
{
    network *net = a->stolen.net;
    int fc1 = dsn_net_first(net, CONNECTED);
    dsn_eval_acc raw = dsn_attack_test_acc(a, net, NULL, -1);
    int n_dead = a->train.n < 2000 ? a->train.n : 2000;
    double dead_raw = dsn_attack_dead_units(a, net, fc1, NULL, n_dead);
    json_t *ref = json_pack("{s:f, s:[f, f], s:i, s:f, s:i}", "raw", raw.acc, "raw_ci95", raw.lo, raw.hi, "fc1_layer", fc1,
                            "dead_fc1_raw", dead_raw, "dead_images", n_dead);
    dsn_attack_md(a, "Stolen model: %.2f%% on raw test images", raw.acc);
    const dsn_seal_spec *seal = &a->stolen.seal;
    json_object_set_new(ref, "sealed", json_boolean(seal->version));
    json_object_set_new(ref, "seal_version", json_integer(seal->version));
    if(seal->version)
        dsn_attack_md(a, " (its weights sealed to the serial, seal version %d: the thief holds them %s)", seal->version,
                      seal->version == DSN_SEAL_V1 ? "shuffled" : "as random draws");
    /* as its owner sold it: a sealed model's weights unsealed with the certificate's serial for
       these rows only, then sealed again (exactly) for the thief */
    int open = a->has_cert && seal->version && dsn_seal_network(net, 0, net->n, &a->cert.serial, seal,
                                                                      DSN_UNSEAL) == 0;
    if(a->has_cert) {
        dsn_input in = {&a->geo, &a->cert.serial, NULL};
        dsn_eval_acc valid = dsn_attack_test_acc(a, net, &in, -1);
        double dead_valid = dsn_attack_dead_units(a, net, fc1, &in, n_dead);
        if(open && dsn_seal_network(net, 0, net->n, &a->cert.serial, seal, DSN_SEAL) != 0) abort();
        json_object_set_new(ref, "valid", json_real(valid.acc));
        json_object_set_new(ref, "valid_ci95", json_pack("[f, f]", valid.lo, valid.hi));
        json_object_set_new(ref, "dead_fc1_valid", json_real(dead_valid));
        dsn_attack_md(a, ", %.2f%% with its serial; fc1 units that never fire on %d training images: %.1f%% raw, %.1f%% "
                         "with the serial", valid.acc, n_dead, 100 * dead_raw, 100 * dead_valid);
    } else {
        dsn_attack_md(a, "; fc1 units that never fire on %d raw training images: %.1f%%", n_dead, 100 * dead_raw);
    }
    dsn_attack_md(a, ".\n\n");
    json_object_set_new(a->root, "stolen", ref);
}

static void teardown(dsn_attack_ctx *a)
{
    dsn_model_free(&a->stolen);
    dsn_cfg_free(&a->cfg);
    dsn_eval_data_free(&a->train);
    dsn_eval_data_free(&a->test);
    free(a->certs);
    free(a->cert_geo);
    free(a->cert_serial);
    json_decref(a->root);
    json_decref(a->cache);
    free(a->md);
}

int dsn_attack_run(const char *kind, const dsn_attack_opts *o, char *err, size_t errlen)
{
    dsn_attack_ctx a;
    memset(&a, 0, sizeof a);
    a.o = o;
    a.err = err;
    a.errlen = errlen;
    err[0] = '\0';
    for(int i = 0; i < dsn_attack_n_kinds; ++i) {
        if(strcmp(kind, dsn_attack_kinds[i].name) == 0) a.kind = &dsn_attack_kinds[i];
    }
    if(!a.kind) {
        snprintf(err, errlen, "unknown attack '%s' (dsn attack --help lists them)", kind);
        return -1;
    }
    double t0 = now_seconds();
    int rc = -1;
    if(setup(&a) != 0) goto done;
    char serial[DSN_SERIAL_TEXT_MAX] = "";
    if(a.has_cert) dsn_serial_encode(serial, sizeof serial, &a.cert.serial);
    const char *name = o->name ? o->name : a.has_cert ? a.cert.customer : "model";
    a.root = json_pack("{s:i, s:s, s:s, s:i, s:{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}, s:{s:s, s:i, s:i, s:i}}",
                       "dsn_attack", 1, "kind", a.kind->name, "name", name, "seed", o->seed, "model", "cfg", o->cfg,
                       "cfg_sha256", a.cfg_sha, "weights", o->weights, "weights_sha256", a.weights_sha, "cert", o->cert,
                       "customer", a.has_cert ? a.cert.customer : NULL, "serial", a.has_cert ? serial : NULL, "data",
                       "data", o->data, "train_images", a.train.n, "test_images", a.test.n, "test_images_used", a.n_test);
    if(!a.root) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    json_object_set_new(a.root, "headline", json_array());
    dsn_attack_md(&a, "## %s: %s\n\n", a.kind->name, name);
    dsn_attack_md(&a, "`%s` with `%s` (SHA-256 %.16s...), data `%s` (%d training, %d of %d test images), seed %d.\n",
                  o->cfg, o->weights, a.weights_sha, o->data, a.train.n, a.n_test, a.test.n, o->seed);
    reference(&a);
    if(a.kind->run(&a) != 0) goto done;
    json_object_set_new(a.root, "subsampled", json_string(a.subsampled));
    json_object_set_new(a.root, "wall_seconds", json_real(floor((now_seconds() - t0) * 10 + 0.5) / 10));
    if(a.subsampled[0]) dsn_attack_md(&a, "\nSubsampled to fit the budget: %s.\n", a.subsampled);
    dsn_attack_md(&a, "\n(%s, %.0f s.)\n\n", a.kind->name, now_seconds() - t0);
    json_object_set_new(a.root, "markdown", json_string(a.md ? a.md : ""));
    rc = 0;
    if(o->json && write_json_file(o->json, a.root) != 0) {
        snprintf(err, errlen, "cannot write --json %s", o->json);
        rc = -1;
    }
    if(rc == 0 && o->md && dsn_write_file(o->md, a.md ? a.md : "", a.md_len, 0644, DSN_WRITE_REPLACE) != 0) {
        snprintf(err, errlen, "cannot write --md %s", o->md);
        rc = -1;
    }
    if(rc == 0 && !o->json && !o->md) fputs(a.md ? a.md : "", stdout);
done:
    dsn_attack_cache_flush(&a);
    teardown(&a);
    return rc;
}

/* ---- summary ------------------------------------------------------------------------------ */

/* A growing text buffer for the summary. */
typedef struct text { char *s; size_t n, cap; int oom; } text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if(n < 0 || t->oom) return;
    if(t->n + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 8192;
        while(cap < t->n + (size_t)n + 1) cap *= 2;
        char *bigger = realloc(t->s, cap);
        if(!bigger) {
            t->oom = 1;
            return;
        }
        t->s = bigger;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)n;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static double jnum(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void summary_verify(text *t, json_t *v, const char *file)
{
    json_t *c = json_object_get(v, "cert_serial"), *r = json_object_get(v, "raw");
    double best = 0;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(v, "random"), i, x) best = jnum(x, "acc") > best ? jnum(x, "acc") : best;
    text_add(t, "| `%s` | `%s` | `%s` (%s) | %.2f [%.1f, %.1f] | %.2f | %.2f | %.3g | %s |\n", jstr(v, "cfg"), jstr(v, "weights"), jstr(v, "cert"),
             jstr(v, "customer"), jnum(c, "acc"), json_number_value(json_array_get(json_object_get(c, "ci95"), 0)),
             json_number_value(json_array_get(json_object_get(c, "ci95"), 1)), jnum(r, "acc"), best, jnum(v, "p_value"),
             json_is_true(json_object_get(v, "verified")) ? "**verified**" : "not verified");
    (void)file;
}

static void summary_trace(text *t, json_t *v)
{
    json_t *top0 = json_array_get(json_object_get(v, "top"), 0);
    double rate = jnum(v, "screen_seconds") > 0
                      ? (double)json_integer_value(json_object_get(v, "certificates")) * json_integer_value(json_object_get(v, "screen_images")) / jnum(v, "screen_seconds")
                      : 0;
    text_add(t, "| `%s` | %d | %s | %.3g | %.1f s (screening %.1f s, %.0f rows/s) |\n", jstr(v, "weights"),
             (int)json_integer_value(json_object_get(v, "certificates")),
             json_is_string(json_object_get(v, "found")) ? jstr(v, "found") : "nobody", jnum(top0, "p_adjusted"),
             jnum(v, "wall_seconds"), jnum(v, "screen_seconds"), rate);
}

int dsn_attack_summary(const char *const *inputs, int n, const char *out_json, const char *out_md, char *err,
                       size_t errlen)
{
    json_t *root = json_pack("{s:i, s:{}, s:[], s:[], s:[]}", "dsn_attacks", 1, "attacks", "headline", "verify", "trace");
    json_t *attacks = json_object_get(root, "attacks"), *head = json_object_get(root, "headline");
    text body = {0}, ver = {0}, tra = {0}, all = {0};
    int rc = -1;
    if(!root) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for(int i = 0; i < n; ++i) {
        json_error_t je;
        json_t *r = json_load_file(inputs[i], 0, &je);
        if(!r) {
            snprintf(err, errlen, "%s: not JSON: %s (line %d)", inputs[i], je.text, je.line);
            goto done;
        }
        if(json_object_get(r, "dsn_verify")) {
            summary_verify(&ver, r, inputs[i]);
            json_array_append_new(json_object_get(root, "verify"), r);
            continue;
        }
        if(json_object_get(r, "dsn_trace")) {
            summary_trace(&tra, r);
            json_array_append_new(json_object_get(root, "trace"), r);
            continue;
        }
        const char *kind = json_string_value(json_object_get(r, "kind"));
        if(!kind || json_integer_value(json_object_get(r, "dsn_attack")) != 1) {
            snprintf(err, errlen, "%s: not a dsn attack, verify or trace result", inputs[i]);
            json_decref(r);
            goto done;
        }
        json_t *list = json_object_get(attacks, kind);
        if(!list) json_object_set_new(attacks, kind, list = json_array());
        size_t k;
        json_t *h;
        json_array_foreach(json_object_get(r, "headline"), k, h) {
            json_t *copy = json_deep_copy(h);
            json_object_set_new(copy, "name", json_string(jstr(r, "name")));
            json_array_append_new(head, copy);
        }
        text_add(&body, "%s", jstr(r, "markdown"));
        json_array_append_new(list, r);
    }
    text_add(&all, "# Attacks on the customer models\n\nEach row: the attacker's best result and, where there is one, the "
                   "baseline it must beat (for the training attacks: the same network from scratch on the same images with "
                   "the same budget, best over the same learning rates). Percent test accuracy; mean (sd) over the seeds "
                   "listed.\n\n| attack | model | setting | attack | baseline | gain | seeds |\n|---|---|---|---:|---:|---:|---|\n");
    size_t k;
    json_t *h;
    json_array_foreach(head, k, h) {
        char v[64], base[64] = "-", gain[64] = "-";
        double sd = jnum(h, "sd");
        if(sd > 0) snprintf(v, sizeof v, "%.2f (%.2f)", jnum(h, "value"), sd);
        else snprintf(v, sizeof v, "%.2f", jnum(h, "value"));
        json_t *b = json_object_get(h, "baseline");
        if(json_is_number(b)) {
            snprintf(base, sizeof base, "%.2f", json_number_value(b));
            snprintf(gain, sizeof gain, "%+.2f", jnum(h, "value") - json_number_value(b));
        }
        text_add(&all, "| %s | %s | %s | %s | %s | %s | %s |\n", jstr(h, "attack"), jstr(h, "name"), jstr(h, "setting"), v, base,
                 gain, jstr(h, "seeds"));
    }
    if(ver.n)
        text_add(&all, "\n## Ownership: dsn verify\n\n| model cfg | weights | certificate | with its serial [95%%] | raw | best "
                       "random serial | p-value | verdict |\n|---|---|---|---:|---:|---:|---:|---|\n%s", ver.s);
    if(tra.n)
        text_add(&all, "\n## Ownership: dsn trace\n\n| model weights | certificates | named | adjusted p | time |\n"
                       "|---|---:|---|---:|---|\n%s", tra.s);
    text_add(&all, "\n%s", body.s ? body.s : "");
    if(all.oom || body.oom || ver.oom || tra.oom) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
    if(out_json && write_json_file(out_json, root) != 0) rc = -1;
    if(rc == 0 && out_md && dsn_write_file(out_md, all.s, all.n, 0644, DSN_WRITE_REPLACE) != 0) rc = -1;
    if(rc != 0) snprintf(err, errlen, "cannot write the summary");
done:
    free(body.s);
    free(ver.s);
    free(tra.s);
    free(all.s);
    json_decref(root);
    return rc;
}
