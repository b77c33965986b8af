/* dsn_attack_learn.c: the attacks that train (finetune, transfer, overwrite, distill), each
 * beside its baseline: the same architecture trained from scratch on exactly the same images
 * (the same list, in the same order: dsn_fit's hashes prove it), with the same batch, iterations
 * and constant learning rate, best over the same learning rates. The attacker's side is its best
 * variant (the best mean over seeds of every variant and learning rate, chosen on test accuracy:
 * an optimistic choice the baseline gets as well). */
#include "dsn_attack.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn_layers.h"
#include "dsn_seal.h"
#include "dsn_util.h"

#define CACHE_TAG "fit1"

/* ---- which stolen layers a run keeps ------------------------------------------------------- */

typedef enum { KEEP_NONE, KEEP_ALL, KEEP_CONV, KEEP_CONV_FC1, KEEP_ALL_BUT_LASTCONV } keep_rule;

typedef struct variant {
    const char *name;
    keep_rule keep;
    int frozen;          /* the kept layers do not learn                      */
    const char *what;
    int resealed;        /* the kept layers sealed again under a random serial  */
} variant;

static const variant finetune_variants[] = {
    {"keep", KEEP_ALL, 0, "every stolen layer, all fine-tuned", 0},
    {"reinit-fc", KEEP_CONV, 0, "fully connected layers re-initialised, all fine-tuned", 0},
    {"reinit-lastconv", KEEP_ALL_BUT_LASTCONV, 0, "last convolution re-initialised, all fine-tuned", 0},
    {"resealed-conv", KEEP_CONV, 0, "the stolen convolutions sealed again under a random serial (on a sealed model, "
     "what the thief would hold had it been sold under another key), fully connected layers re-initialised, all "
     "fine-tuned", 1},
};
static const variant transfer_variants[] = {
    {"conv-trained", KEEP_CONV, 0, "stolen convolutions (G_e), fresh fully connected head, all trained", 0},
    {"conv-frozen", KEEP_CONV, 1, "stolen convolutions frozen, fresh head trained", 0},
    {"fc1-trained", KEEP_CONV_FC1, 0, "stolen convolutions and fc1, fresh last layer, all trained", 0},
    {"fc1-frozen", KEEP_CONV_FC1, 1, "stolen convolutions and fc1 frozen, fresh last layer trained", 0},
};
static const variant scratch_variant = {"scratch", KEEP_NONE, 0, "the same network from scratch", 0};

static int kept(const network *net, keep_rule k, int i)
{
    int fc1 = dsn_net_first(net, CONNECTED), lastconv = dsn_net_last(net, CONVOLUTIONAL);
    switch(k) {
    case KEEP_ALL: return 1;
    case KEEP_CONV: return fc1 < 0 || i < fc1;
    case KEEP_CONV_FC1: return fc1 < 0 || i <= fc1;
    case KEEP_ALL_BUT_LASTCONV: return i != lastconv;
    default: return 0;
    }
}

/* Copies the kept stolen layers into net; frozen: they get no updates and no backward pass. */
static int apply_variant(dsn_attack_ctx *a, network *net, const variant *v)
{
    network *src = a->stolen.net;
    int first_trainable = -1;
    for(int i = 0; i < net->n; ++i) {
        if(!dsn_layer_has_params(&net->layers[i])) continue;
        if(!kept(net, v->keep, i)) {
            if(first_trainable < 0) first_trainable = i;
            continue;
        }
        if(i >= src->n || dsn_layer_copy_params(&net->layers[i], &src->layers[i]) != 0)
            return dsn_attack_fail(a, "layer %d of the stolen model does not fit the training network", i);
        if(v->frozen) net->layers[i].learning_rate_scale = 0;
    }
    if(v->frozen && first_trainable > 0) net->layers[first_trainable - 1].stopbackward = 1;
    return 0;
}

/* The kept layers sealed once more under a random serial of the seed: what the thief would hold had
 * the model been sold under another key (version 1 left the values, shuffled; versions 2 and 3 nothing). */
static int reseal_kept(dsn_attack_ctx *a, network *net, const variant *v, uint64_t seed)
{
    dsn_serial key, none = {.nbits = a->geo.bits};
    dsn_rng r;
    dsn_rng_stream(&r, dsn_attack_seed(seed, "reseal", 0, 0), 1);
    dsn_eval_forged(&key, 1, &none, &r);
    dsn_seal_spec seal = dsn_attack_seal(a);
    for(int i = 0; i < net->n; ++i) {
        if(!kept(net, v->keep, i) || !dsn_layer_has_params(&net->layers[i])) continue;
        if(dsn_seal_network(net, i, i + 1, &key, &seal, DSN_SEAL) != 0)
            return dsn_attack_fail(a, "sealing layer %d failed", i);
    }
    return 0;
}

/* ---- a task: the images a study trains and tests on ---------------------------------------- */

typedef struct task {
    const char *name;            /* "mnist" or the second task's name                */
    dsn_eval_data *train, *test;
    int n_test;
    const char *data;
} task;

/* ---- one training run (or its cached record) ----------------------------------------------- */

typedef struct run_spec {
    const variant *v;
    const task *t;
    const int *idx;
    int n, iterations;
    double lr;
    uint64_t seed;
    int trace;                   /* trace the trained model against --certs               */
    int classes_edit;            /* the task's classes differ: set the last layer's output */
} run_spec;

static int fresh_for_task(dsn_attack_ctx *a, dsn_model *m, const task *t, unsigned init_seed)
{
    dsn_cfg c;
    if(dsn_attack_train_cfg(a, &c, a->o->batch) != 0) return -1;
    int last = -1;
    for(int i = 0; i < c.n; ++i) {
        if(strcmp(c.sec[i].type, "[connected]") == 0) last = i;
    }
    char cls[16];
    snprintf(cls, sizeof cls, "%d", t->train->classes);
    if(last >= 0 && dsn_cfg_set(&c, last, "output", cls) != 0) {
        dsn_cfg_free(&c);
        return dsn_attack_fail(a, "out of memory");
    }
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, a->o->batch);
    mo.init_seed = init_seed;
    int rc = dsn_model_load_cfg(m, &c, NULL, NULL, &mo, a->err, a->errlen);
    dsn_cfg_free(&c);
    return rc;
}

static json_t *run_fit(dsn_attack_ctx *a, const run_spec *s)
{
    char key[1024], img_sha[65];
    dsn_ints_sha256(img_sha, s->idx, s->n);
    /* keyed by what the run does, not by its name: finetune's reinit-fc is transfer's conv-trained */
    snprintf(key, sizeof key, "%s|keep=%d|frozen=%d%s|cfg=%s|w=%s|task=%s|n=%d|img=%s|it=%d|b=%d|lr=%.6g|seed=%llu|test=%d",
             CACHE_TAG, (int)s->v->keep, s->v->frozen, s->v->resealed ? "|resealed" : "", a->cfg_sha,
             s->v->keep == KEEP_NONE ? "-" : a->weights_sha, s->t->name, s->n, img_sha, s->iterations, a->o->batch, s->lr, (unsigned long long)s->seed, s->t->n_test);
    json_t *hit = dsn_attack_cache_get(a, key);
    if(hit && (!s->trace || json_object_get(hit, "trace"))) {
        json_t *o = json_deep_copy(hit);
        json_object_set_new(o, "variant", json_string(s->v->name));
        json_object_set_new(o, "cached", json_true());
        return o;
    }

    dsn_model m;
    unsigned init = (unsigned)dsn_attack_seed(s->seed, "init", 0, 0);
    if(fresh_for_task(a, &m, s->t, init) != 0) return NULL;
    if(apply_variant(a, m.net, s->v) != 0 || (s->v->resealed && reseal_kept(a, m.net, s->v, s->seed) != 0)) {
        dsn_model_free(&m);
        return NULL;
    }
    int *curve_idx = NULL;
    dsn_fit_opts f;
    dsn_fit_opts_init(&f);
    f.iterations = s->iterations;
    f.lr = (float)s->lr;
    f.order_seed = dsn_attack_seed(s->seed, "order", s->n, 0);
    f.test = s->t->test;
    f.test_n = a->o->curve_images < s->t->n_test ? a->o->curve_images : s->t->n_test;
    f.eval_every = a->o->curve_every;
    dsn_fit_result r;
    if(dsn_fit(m.net, s->t->train, s->idx, s->n, &f, &r) != 0) {
        dsn_model_free(&m);
        dsn_attack_fail(a, "out of memory while training");
        return NULL;
    }
    long right = dsn_run_images(m.net, s->t->test, NULL, s->t->n_test, NULL, -1, NULL, NULL);
    dsn_eval_acc acc = dsn_eval_wilson(right, s->t->n_test);
    json_t *o = dsn_attack_fit_json(&r, s->seed, &acc);
    if(!o) {
        dsn_fit_result_free(&r);
        dsn_model_free(&m);
        dsn_attack_fail(a, "out of memory writing a training run's record");
        return NULL;
    }
    json_object_set_new(o, "variant", json_string(s->v->name));
    json_object_set_new(o, "images", json_integer(s->n));
    if(s->trace) {
        json_t *t = dsn_attack_trace(a, m.net);
        if(t) json_object_set_new(o, "trace", t);
    }
    dsn_fit_result_free(&r);
    dsn_model_free(&m);
    free(curve_idx);
    dsn_attack_cache_put(a, key, o);
    return o;
}

/* ---- a study: sizes x seeds x (variants + scratch) x learning rates ------------------------- */

typedef struct cell {            /* one (variant, lr) of one size, over seeds             */
    const variant *v;
    double lr;
    int n;
    double acc[16];
    json_t *runs;
} cell;

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for(int i = 0; i < n; ++i) s += v[i];
    *mean = n ? s / n : 0;
    for(int i = 0; i < n; ++i) ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

static json_t *cell_json(const cell *c)
{
    double m, sd;
    mean_sd(c->acc, c->n, &m, &sd);
    return json_pack("{s:s, s:f, s:f, s:f, s:O}", "variant", c->v->name, "lr", c->lr, "mean", m, "sd", sd, "runs", c->runs);
}

/* The curve of seed `seed` in a cell's runs (for plots). */
static int cell_curve(const cell *c, int *x, double *y, int max)
{
    return dsn_attack_curve(json_array_get(c->runs, 0), x, y, max);
}

typedef struct study {
    const char *kind;
    const variant *variants;
    int n_variants;
    const task *t;
    const char *sizes;
    int trace;
    int one_seed;        /* every size with the base seed only (the second task's study) */
} study;

#define MAX_CELLS 64
#define CURVE_MAX 256

/* The study's subset of n images for a seed. */
static int *study_subset(dsn_attack_ctx *a, const study *st, int n, uint64_t seed)
{
    if(st->t->train == &a->train) return dsn_attack_subset(a, n, seed);
    dsn_rng r;
    int *idx = malloc((size_t)n * sizeof *idx);
    dsn_rng_stream(&r, dsn_attack_seed(seed, "subset", n, 1), 1);
    if(idx && dsn_eval_stratified(idx, n, st->t->train->label, st->t->train->n, st->t->train->classes, &r) != n) {
        free(idx);
        idx = NULL;
    }
    return idx;
}

/* Every seed of one size: each cell (variant x learning rate, scratch included) trained on the
 * seed's subset. seed_text receives "0,1,2". */
static int run_size(dsn_attack_ctx *a, const study *st, const dsn_size *sz, int iters, cell *cells, int nc,
                    char *seed_text, size_t len)
{
    int repeated = !st->one_seed && dsn_attack_is_repeated(a, sz), seeds = repeated ? a->o->repeats : 1;
    seed_text[0] = '\0';
    for(int k = 0; k < seeds; ++k) {
        uint64_t seed = (uint64_t)a->o->seed + (uint64_t)k;
        size_t sl = strlen(seed_text);
        snprintf(seed_text + sl, len - sl, "%s%llu", k ? "," : "", (unsigned long long)seed);
        int *idx = study_subset(a, st, sz->n, seed);
        if(!idx) return dsn_attack_fail(a, "out of memory");
        for(int c = 0; c < nc; ++c) {
            run_spec rs = {cells[c].v, st->t, idx, sz->n, iters, cells[c].lr, seed,
                           st->trace && k == 0 && cells[c].v != &scratch_variant && repeated, 0};
            dsn_attack_say(a, "%s: %s (%d images), seed %llu, %s, lr %g, %d iterations", st->t->name, sz->text, sz->n,
                           (unsigned long long)seed, cells[c].v->name, cells[c].lr, iters);
            json_t *run = run_fit(a, &rs);
            if(!run) {
                free(idx);
                return -1;
            }
            cells[c].acc[cells[c].n++] = json_number_value(json_object_get(run, "acc"));
            json_array_append_new(cells[c].runs, run);
        }
        free(idx);
        dsn_attack_cache_flush(a);
    }
    return 0;
}

/* The best attack cell and the best scratch cell by mean over seeds. */
static void best_cells(const cell *cells, int nc, int *best, int *sbest)
{
    double bm = -1, sm = -1;
    *best = *sbest = -1;
    for(int c = 0; c < nc; ++c) {
        double m, sd;
        mean_sd(cells[c].acc, cells[c].n, &m, &sd);
        if(cells[c].v == &scratch_variant) {
            if(m > sm) sm = m, *sbest = c;
        } else if(m > bm) {
            bm = m, *best = c;
        }
    }
}

/* One size's JSON row, headline entry and markdown line. */
static void size_row(dsn_attack_ctx *a, const study *st, const dsn_size *sz, int iters, const cell *cells, int nc,
                     int best, int sbest, const char *seed_text, json_t *out_rows)
{
    double bm, bsd, sm, ssd;
    mean_sd(cells[best].acc, cells[best].n, &bm, &bsd);
    mean_sd(cells[sbest].acc, cells[sbest].n, &sm, &ssd);
    json_t *jc = json_array(), *jsc = json_array();
    for(int c = 0; c < nc; ++c) json_array_append_new(cells[c].v == &scratch_variant ? jsc : jc, cell_json(&cells[c]));
    json_t *row = json_pack("{s:s, s:i, s:f, s:i, s:i, s:s, s:{s:s, s:f, s:f, s:f}, s:{s:f, s:f, s:f}, s:f, s:o, s:o}",
                            "size", sz->text, "n", sz->n, "fraction", sz->frac, "iterations", iters, "batch", a->o->batch,
                            "seeds", seed_text, "attack_best", "variant", cells[best].v->name, "lr", cells[best].lr, "mean",
                            bm, "sd", bsd, "scratch_best", "lr", cells[sbest].lr, "mean", sm, "sd", ssd, "gain", bm - sm,
                            "variants", jc, "scratch", jsc);
    json_array_append_new(out_rows, row);
    int main_task = st->t->train == &a->train;
    char setting[160], share[32] = "";
    if(strchr(sz->text, '%')) snprintf(share, sizeof share, " (%.15s)", sz->text);
    snprintf(setting, sizeof setting, "%.60s%sn=%d%s", main_task ? "" : st->t->name, main_task ? "" : ", ", sz->n, share);
    json_array_append_new(json_object_get(a->root, "headline"),
                          json_pack("{s:s, s:s, s:f, s:f, s:f, s:s, s:s}", "attack", st->kind, "setting", setting, "value",
                                    bm, "sd", bsd, "baseline", sm, "seeds", seed_text, "best", cells[best].v->name));
    dsn_attack_md(a, "| %d | %.1f%% | %d x %d | %s | %.2f | %s, %g | %.2f (%g) | %+.2f |", sz->n, 100 * sz->frac, iters,
                  a->o->batch, seed_text, bm, cells[best].v->name, cells[best].lr, sm, cells[sbest].lr, bm - sm);
    for(int v = 0; v < st->n_variants; ++v) {
        double vb = -1;
        for(int c = 0; c < nc; ++c) {
            double m, sd;
            mean_sd(cells[c].acc, cells[c].n, &m, &sd);
            if(cells[c].v == &st->variants[v] && m > vb) vb = m;
        }
        dsn_attack_md(a, " %.2f |", vb);
    }
    dsn_attack_md(a, "\n");
}

/* Plot data of the whole study: one panel per size, the best attack against the best scratch. */
typedef struct study_plot {
    dsn_panel panels[DSN_ATTACK_MAX_LIST];
    int x[DSN_ATTACK_MAX_LIST][2][CURVE_MAX];
    double y[DSN_ATTACK_MAX_LIST][2][CURVE_MAX];
    char titles[DSN_ATTACK_MAX_LIST][2][96];
    int n;
} study_plot;

static void add_panel(dsn_attack_ctx *a, const study *st, const dsn_size *sz, const cell *cells, int best, int sbest,
                      study_plot *sp)
{
    if(sp->n >= DSN_ATTACK_MAX_LIST) return;
    int k = sp->n++, main_task = st->t->train == &a->train;
    dsn_panel *p = &sp->panels[k];
    memset(p, 0, sizeof *p);
    char share[32] = "";
    if(strchr(sz->text, '%')) snprintf(share, sizeof share, " (%.15s)", sz->text);
    snprintf(p->title, sizeof p->title, "%.60s%s%d images%s, seed %d", main_task ? "" : st->t->name, main_task ? "" : ": ",
             sz->n, share, a->o->seed);
    int n0 = cell_curve(&cells[best], sp->x[k][0], sp->y[k][0], CURVE_MAX);
    int n1 = cell_curve(&cells[sbest], sp->x[k][1], sp->y[k][1], CURVE_MAX);
    snprintf(sp->titles[k][0], sizeof sp->titles[k][0], "%s (%s, lr %g)", st->kind, cells[best].v->name, cells[best].lr);
    snprintf(sp->titles[k][1], sizeof sp->titles[k][1], "scratch (lr %g)", cells[sbest].lr);
    p->s[0] = (dsn_series){sp->titles[k][0], n0, sp->x[k][0], sp->y[k][0], 0};
    p->s[1] = (dsn_series){sp->titles[k][1], n1, sp->x[k][1], sp->y[k][1], 1};
    p->n = 2;
}

static void study_notes(dsn_attack_ctx *a, const study *st, const dsn_size *sizes, int ns)
{
    int once = 0, curve_n = a->o->curve_images < st->t->n_test ? a->o->curve_images : st->t->n_test;
    for(int si = 0; si < ns; ++si) once += st->one_seed || !dsn_attack_is_repeated(a, &sizes[si]);
    if(once && a->o->repeats > 1)
        dsn_attack_subsampled(a, "%s: %d of %d sizes with one seed (%d), the others (%s) with %d", st->t->name, once, ns,
                              a->o->seed, a->o->repeat_sizes, a->o->repeats);
    if(curve_n < st->t->n_test) dsn_attack_subsampled(a, "%s learning curves on the first %d test images", st->t->name, curve_n);
    if(st->trace && a->n_certs)
        dsn_attack_subsampled(a, "tracing after the attack: first seed of the repeated sizes, %d certificates, %d test images",
                              a->n_certs, a->o->trace_images);
}

static int run_study(dsn_attack_ctx *a, const study *st, json_t *out_rows)
{
    dsn_size sizes[DSN_ATTACK_MAX_LIST];
    double lrs[8];
    int ns = dsn_attack_sizes(a, st->sizes, st->t->train->n, sizes, DSN_ATTACK_MAX_LIST);
    int nl = dsn_attack_reals(a, "--lrs", a->o->lrs, lrs, 8);
    if(ns < 0 || nl < 0) return -1;
    if(a->o->repeats < 1 || a->o->repeats > 16) return dsn_attack_fail(a, "--repeats must be 1..16");
    if((st->n_variants + 1) * nl > MAX_CELLS) return dsn_attack_fail(a, "too many variants x learning rates");
    study_plot *sp = calloc(1, sizeof *sp);
    if(!sp) return dsn_attack_fail(a, "out of memory");
    dsn_attack_md(a, "\n| images | share | iterations x batch | seeds | attacker's best | variant, lr | scratch (best lr) | gain |");
    for(int v = 0; v < st->n_variants; ++v) dsn_attack_md(a, " %s |", st->variants[v].name);
    dsn_attack_md(a, "\n|---:|---:|---:|---|---:|---|---:|---:|");
    for(int v = 0; v < st->n_variants; ++v) dsn_attack_md(a, "---:|");
    dsn_attack_md(a, "\n");
    int rc = 0;
    for(int si = 0; si < ns && rc == 0; ++si) {
        cell cells[MAX_CELLS];
        int nc = 0, iters = dsn_attack_iterations(a, sizes[si].n), best, sbest;
        for(int v = -1; v < st->n_variants; ++v) {
            for(int l = 0; l < nl; ++l) cells[nc++] = (cell){v < 0 ? &scratch_variant : &st->variants[v], lrs[l], 0, {0}, json_array()};
        }
        char seed_text[128];
        rc = run_size(a, st, &sizes[si], iters, cells, nc, seed_text, sizeof seed_text);
        if(rc == 0) {
            best_cells(cells, nc, &best, &sbest);
            size_row(a, st, &sizes[si], iters, cells, nc, best, sbest, seed_text, out_rows);
            add_panel(a, st, &sizes[si], cells, best, sbest, sp);
        }
        for(int c = 0; c < nc; ++c) json_decref(cells[c].runs);
    }
    if(rc == 0) {
        study_notes(a, st, sizes, ns);
        char name[256];
        int main_task = st->t->train == &a->train;
        snprintf(name, sizeof name, "attacks_%s_%s%s%s", st->kind, json_string_value(json_object_get(a->root, "name")),
                 main_task ? "" : "_", main_task ? "" : st->t->name);
        rc = dsn_attack_plot(a, name, "iterations", "test accuracy (%)", sp->panels, sp->n);
        if(rc == 0 && a->o->png_dir)
            dsn_attack_md(a, "\nLearning curves (first seed; attack solid, scratch dashed): `%s.png`.\n", name);
    }
    free(sp);
    return rc;
}

/* Trace results, one line per traced run. */
static void md_traces(dsn_attack_ctx *a, json_t *rows)
{
    if(!a->n_certs) return;
    int named = 0, total = 0;
    size_t i, j, k;
    json_t *row, *cellj, *run;
    json_array_foreach(rows, i, row) {
        json_array_foreach(json_object_get(row, "variants"), j, cellj) {
            json_array_foreach(json_object_get(cellj, "runs"), k, run) {
                json_t *t = json_object_get(run, "trace");
                if(!t) continue;
                ++total;
                named += json_is_true(json_object_get(t, "owner_customer_named"));
            }
        }
    }
    if(total)
        dsn_attack_md(a, "\nTracing after the attack (%d certificates; first seed, repeated sizes, every variant and rate): "
                         "the leaking customer named for %d of %d attacked models.\n", a->n_certs, named, total);
}

static void md_variants(dsn_attack_ctx *a, const variant *v, int n)
{
    dsn_attack_md(a, "\nVariants: ");
    for(int i = 0; i < n; ++i) dsn_attack_md(a, "%s`%s`: %s", i ? "; " : "", v[i].name, v[i].what);
    dsn_attack_md(a, ". Adam, constant learning rate, batch %d, iterations = clamp(%d epochs, %d, %d); no augmentation.\n",
                  a->o->batch, a->o->epochs, a->o->iters_min, a->o->iters_max);
}

/* A task's name from its .data path: "mnist" from "cfg/mnist.data". */
static void data_name(char *out, size_t len, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, len, "%.*s", (int)strcspn(base, "."), base);
}

int dsn_attack_finetune(dsn_attack_ctx *a)
{
    static char tname[64];
    data_name(tname, sizeof tname, a->o->data);
    task t = {tname, &a->train, &a->test, a->n_test, a->o->data};
    dsn_attack_md(a, "Fine-tuning on raw labelled training images, against the same network trained from scratch on the "
                     "same images with the same budget.\n");
    md_variants(a, finetune_variants, DSN_COUNT(finetune_variants));
    study st = {"finetune", finetune_variants, DSN_COUNT(finetune_variants), &t,
                a->o->sizes ? a->o->sizes : "1%,5%,10%,20%,30%,40%,100,500,1000", 1, 0};
    json_t *rows = json_array();
    json_object_set_new(a->root, "rows", rows);
    if(run_study(a, &st, rows) != 0) return -1;
    md_traces(a, rows);
    dsn_attack_md(a, "\nPaper (Table 3, MNIST): fine-tuning with 10-40%% of the data 94.7-97.0%% against 93.2-96.7%% from scratch.\n");
    return 0;
}

int dsn_attack_transfer(dsn_attack_ctx *a)
{
    static char tname[64], tname2[64];
    data_name(tname, sizeof tname, a->o->data);
    task t = {tname, &a->train, &a->test, a->n_test, a->o->data};
    dsn_attack_md(a, "Transfer learning: the stolen feature layers under a fresh head, against scratch.\n");
    md_variants(a, transfer_variants, DSN_COUNT(transfer_variants));
    study st = {"transfer", transfer_variants, DSN_COUNT(transfer_variants), &t,
                a->o->sizes ? a->o->sizes : "1%,5%,10%,20%,30%,40%,100,500,1000", 1, 0};
    json_t *rows = json_array();
    json_object_set_new(a->root, "rows", rows);
    if(run_study(a, &st, rows) != 0) return -1;
    md_traces(a, rows);
    if(a->o->task_data) {
        dsn_eval_data tr = {0}, te = {0};
        data_name(tname2, sizeof tname2, a->o->task_data);
        dsn_attack_say(a, "loading the second task %s", a->o->task_data);
        if(dsn_learn_load_set(&tr, a->o->task_data, "train", a->stolen.w, a->stolen.h, a->stolen.c, a->err, a->errlen) != 0 ||
           dsn_learn_load_set(&te, a->o->task_data, "valid", a->stolen.w, a->stolen.h, a->stolen.c, a->err, a->errlen) != 0) {
            dsn_eval_data_free(&tr);
            return -1;
        }
        int nt = te.n < 2000 ? te.n : 2000;
        if(nt < te.n) dsn_attack_subsampled(a, "%s: test accuracy on the first %d of %d test images", tname2, nt, te.n);
        task t2 = {tname2, &tr, &te, nt, a->o->task_data};
        study st2 = {"transfer", transfer_variants, DSN_COUNT(transfer_variants), &t2, a->o->task_sizes, 0, 1};
        dsn_attack_md(a, "\nTo another task: the %s model's features for %s (%d training images; test on %d).\n", tname, tname2,
                      tr.n, nt);
        json_t *rows2 = json_array();
        json_object_set_new(a->root, "task", json_pack("{s:s, s:s, s:o}", "name", tname2, "data", a->o->task_data, "rows", rows2));
        int rc = run_study(a, &st2, rows2);
        dsn_eval_data_free(&tr);
        dsn_eval_data_free(&te);
        if(rc != 0) return -1;
    }
    dsn_attack_md(a, "\nPaper (Table 5, MNIST): transfer learning with 10-40%% of the data 93.6-96.9%%.\n");
    return 0;
}

/* ---- overwrite ------------------------------------------------------------------------------- */

typedef struct prestamp {
    const dsn_geometry *geo;
    const dsn_serial *serial;
    double frac;
    int c;
    dsn_rng rng;
} prestamp;

/* Rows the [serial_stamp] layer leaves raw keep this stamp: the original serial, pushed to uniform. */
static void prestamp_row(void *ctx, long row, float *im)
{
    (void)row;
    prestamp *p = ctx;
    if(dsn_rng_uniform(&p->rng) < p->frac) dsn_stamp_apply(im, p->c, p->geo, p->serial);
}

/* Where the attacker's student starts, and what teaches its new serial. */
typedef enum { INIT_STOLEN, INIT_STOLEN_CONV, INIT_SCRATCH } overwrite_init;
static const char *const init_names[] = {"stolen", "stolen-conv", "scratch"};
static const char *const init_what[] = {
    "every stolen layer", "the stolen convolutions with fresh fully connected layers (units dead without the old serial "
                          "pass no gradient)", "a random initialisation (the baseline)"};

/* The attacker's student cfg: the recipe with the new serial and a teacher it can run (the stolen
 * model unlocked with the original serial, or, KD off, any). *distill_layer, *fc1_layer: layer
 * indexes in the built network. */
static int overwrite_cfg(dsn_attack_ctx *a, dsn_cfg *s, const dsn_serial *fresh, int unlocked, uint64_t seed,
                         char *teacher_path, size_t tlen, int *distill_layer, int *fc1_layer)
{
    const dsn_attack_opts *o = a->o;
    if(dsn_cfg_read(s, o->student_cfg, a->err, a->errlen) != 0) return -1;
    int st = dsn_cfg_find(s, "[serial_stamp]", 0), kd = dsn_cfg_find(s, "[distill_kl]", 0), fc = dsn_cfg_find(s, "[connected]", 0);
    if(st != 1 || kd < 0 || fc < 0 || fc > kd) {
        dsn_cfg_free(s);
        return dsn_attack_fail(a, "--student-cfg %s: not a DSN student recipe ([serial_stamp] first, [connected] layers, a "
                                  "[distill_kl])", o->student_cfg);
    }
    *distill_layer = kd - 1;
    *fc1_layer = fc - 1;
    char text[DSN_SERIAL_TEXT_MAX], num[32];
    dsn_serial_encode(text, sizeof text, fresh);
    snprintf(num, sizeof num, "%d", (int)(seed % 1000000007ull));
    dsn_cfg_set(s, st, "serial", text);
    dsn_cfg_set(s, st, "seed", num);
    dsn_cfg t;
    if(dsn_cfg_read(&t, o->cfg, a->err, a->errlen) != 0) {
        dsn_cfg_free(s);
        return -1;
    }
    int ts = dsn_cfg_find(&t, "[serial_stamp]", 0);
    if(unlocked) {
        char orig[DSN_SERIAL_TEXT_MAX];
        dsn_serial_encode(orig, sizeof orig, &a->cert.serial);
        dsn_cfg_set(&t, ts, "serial", orig);
    } else {
        dsn_cfg_remove(&t, ts);
        /* KD off: at temperature 0.001 its gradient T*(q_T - p_T) is at most 0.002 per logit */
        dsn_cfg_set(s, kd, "temperature", "0.001");
    }
    int rc = dsn_cfg_write_temp(&t, teacher_path, tlen, a->err, a->errlen);
    dsn_cfg_free(&t);
    if(rc != 0) {
        dsn_cfg_free(s);
        return -1;
    }
    dsn_cfg_set(s, kd, "teacher_cfg", teacher_path);
    dsn_cfg_set(s, kd, "teacher_weights", o->weights);
    /* the attack sets the starting weights itself (stolen or fresh): the recipe's warm start off */
    dsn_cfg_set(s, kd, "warm", "0");
    return 0;
}

/* The stolen layers must be the recipe's G_e + G_y, one for one. */
static int check_recipe(dsn_attack_ctx *a, network *student, int upto)
{
    network *src = a->stolen.net;
    if(upto - 1 != src->n - 1)
        return dsn_attack_fail(a, "--student-cfg has %d layers before [distill_kl], the stolen model %d (without its "
                               "[serial_stamp] and [softmax]): not this model's recipe", upto - 1, src->n - 1);
    for(int i = 1; i < upto; ++i) {
        const layer *x = &student->layers[i], *y = &src->layers[i - 1];
        if(x->type != y->type || x->outputs != y->outputs || x->inputs != y->inputs)
            return dsn_attack_fail(a, "--student-cfg layer %d differs from the stolen model's layer %d", i, i - 1);
    }
    return 0;
}

/* The attacker's student network from the recipe. *kd: the [distill_kl] layer (G_y's
 * prediction); *lr: the recipe's learning rate. */
static int overwrite_student(dsn_attack_ctx *a, const dsn_serial *fresh, overwrite_init init, int unlocked, uint64_t seed,
                             dsn_model *m, int *kd, double *lr)
{
    dsn_cfg s;
    char teacher[4096];
    int fc1 = 0;
    if(overwrite_cfg(a, &s, fresh, unlocked, seed, teacher, sizeof teacher, kd, &fc1) != 0) return -1;
    *lr = 0.001;
    const char *lrs = dsn_cfg_get(&s.sec[0], "learning_rate");
    if(lrs) dsn_parse_real(lrs, lr);
    dsn_model_opts mo;
    dsn_model_opts_init(&mo);
    mo.quiet = 1;
    mo.cpu = 1;
    mo.upto = init == INIT_STOLEN_CONV ? fc1 : *kd;
    mo.init_seed = (unsigned)dsn_attack_seed(seed, "init", 0, 0);
    int rc = dsn_model_load_cfg(m, &s, init == INIT_SCRATCH ? NULL : a->o->weights, NULL, &mo, a->err, a->errlen);
    unlink(teacher);
    dsn_cfg_free(&s);
    if(rc != 0) return -1;
    if(check_recipe(a, m->net, *kd) != 0) {
        dsn_model_free(m);
        return -1;
    }
    return 0;
}

/* The re-keyed G_e + G_y saved and loaded back as the stolen cfg's customer model (what the
 * attacker would ship), built without its stamp layer. */
static int overwrite_export(dsn_attack_ctx *a, network *student, int kd, dsn_model *om)
{
    char wpath[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(wpath, sizeof wpath, "%s/dsn-overwrite-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(wpath);
    if(fd < 0) return dsn_attack_fail(a, "cannot create a temporary weights file: %s", strerror(errno));
    close(fd);
    int saved = dsn_attack_mute();
    save_weights_upto(student, wpath, kd);
    dsn_attack_unmute(saved);
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, a->o->batch);
    int rc = dsn_model_load_cfg(om, &a->cfg, wpath, NULL, &mo, a->err, a->errlen);
    unlink(wpath);
    return rc;
}

/* The overwritten model with the original serial, the new one and none; verify and trace. */
static void overwrite_measure(dsn_attack_ctx *a, network *net, const dsn_serial *fresh, int traced, uint64_t seed, json_t *j)
{
    dsn_input in_orig = {&a->geo, &a->cert.serial, NULL}, in_new = {&a->geo, fresh, NULL};
    dsn_eval_acc acc_new = dsn_attack_test_acc(a, net, &in_new, -1);
    dsn_eval_acc acc_orig = dsn_attack_test_acc(a, net, &in_orig, -1);
    dsn_eval_acc acc_raw = dsn_attack_test_acc(a, net, NULL, -1);
    char text[DSN_SERIAL_TEXT_MAX];
    dsn_serial_encode(text, sizeof text, fresh);
    json_object_set_new(j, "new_serial", json_string(text));
    json_object_set_new(j, "acc_new_serial", json_real(acc_new.acc));
    json_object_set_new(j, "acc_original_serial", json_real(acc_orig.acc));
    json_object_set_new(j, "acc_original_serial_ci95", json_pack("[f, f]", acc_orig.lo, acc_orig.hi));
    json_object_set_new(j, "acc_raw", json_real(acc_raw.acc));
    if(!traced) return;
    dsn_verify_opts vo;
    dsn_verify_opts_init(&vo);
    vo.images = a->o->trace_images;
    vo.serials = 10;
    vo.seed = seed;
    dsn_verify_result v;
    char err[512];
    if(dsn_verify_model(&v, net, &a->geo, &a->cert.serial, &a->test, &vo, err, sizeof err) == 0) {
        json_object_set_new(j, "verify_original", json_pack("{s:b, s:f, s:f}", "verified", v.verified, "p_value", v.p_value,
                                                            "acc", v.cert.acc));
        dsn_verify_result_free(&v);
    }
    json_t *t = dsn_attack_trace(a, net);
    if(t) json_object_set_new(j, "trace", t);
}

static int overwrite_one(dsn_attack_ctx *a, const dsn_size *sz, overwrite_init init, int unlocked, uint64_t seed,
                         json_t **out)
{
    const dsn_attack_opts *o = a->o;
    double frac, lr;
    if(dsn_parse_real(o->orig_frac, &frac) != 0 || frac < 0 || frac > 1)
        return dsn_attack_fail(a, "--orig-frac %s: give a share in [0, 1]", o->orig_frac);
    dsn_serial fresh = a->cert.serial;
    dsn_rng r;
    dsn_rng_stream(&r, dsn_attack_seed(seed, "new-serial", 0, 0), 1);
    dsn_eval_forged(&fresh, 1, &a->cert.serial, &r);
    dsn_model m, om;
    int kd = 0;
    if(overwrite_student(a, &fresh, init, unlocked, seed, &m, &kd, &lr) != 0) return -1;
    int B = m.net->batch, iters = (int)(((long)o->epochs * sz->n + B - 1) / B);
    iters = iters < o->iters_min ? o->iters_min : iters > o->iters_max ? o->iters_max : iters;
    int *idx = dsn_attack_subset(a, sz->n, seed);
    if(!idx) {
        dsn_model_free(&m);
        return dsn_attack_fail(a, "out of memory");
    }
    prestamp ps = {&a->geo, &a->cert.serial, frac, a->train.c, {0}};
    dsn_rng_stream(&ps.rng, dsn_attack_seed(seed, "prestamp", sz->n, 0), 1);
    dsn_fit_opts f;
    dsn_fit_opts_init(&f);
    f.iterations = iters;
    f.lr = (float)lr;
    f.order_seed = dsn_attack_seed(seed, "order", sz->n, 0);
    f.prep = prestamp_row;
    f.prep_ctx = &ps;
    f.test = &a->test;
    f.test_n = o->curve_images < a->n_test ? o->curve_images : a->n_test;
    f.eval_every = o->curve_every;
    f.out_layer = kd;
    dsn_fit_result fr;
    dsn_attack_say(a, "%s (%d images), %s init, %s, %d iterations of %d rows", sz->text, sz->n, init_names[init],
                   unlocked ? "unlocked teacher" : "labels only", iters, B);
    int saved = dsn_attack_mute();        /* the recipe's per-iteration "dsn: rows ..." lines */
    int rc = dsn_fit(m.net, &a->train, idx, sz->n, &f, &fr);
    dsn_attack_unmute(saved);
    free(idx);
    if(rc != 0) {
        dsn_model_free(&m);
        return dsn_attack_fail(a, "out of memory while training");
    }
    rc = overwrite_export(a, m.net, kd, &om);
    dsn_model_free(&m);
    if(rc == 0) {
        dsn_eval_acc none = {0, 0, 0, 0, 0};
        *out = dsn_attack_fit_json(&fr, seed, &none);
        json_object_del(*out, "acc");
        json_object_del(*out, "acc_ci95");
        char label[64];
        snprintf(label, sizeof label, "%s, %s", init_names[init], unlocked ? "unlocked teacher" : "labels");
        json_object_set_new(*out, "variant", json_string(label));
        json_object_set_new(*out, "init", json_string(init_names[init]));
        json_object_set_new(*out, "teacher", json_string(unlocked ? "unlocked" : "none"));
        overwrite_measure(a, om.net, &fresh, init != INIT_SCRATCH, seed, *out);
        dsn_model_free(&om);
    }
    dsn_fit_result_free(&fr);
    return rc;
}

/* One panel per row: the fit records rows[i]["runs"], titled by their key `ka`. */
static int plot_runs(dsn_attack_ctx *a, const char *kind, json_t *rows, const char *ka)
{
    static dsn_panel panels[DSN_ATTACK_MAX_LIST];
    static int x[DSN_ATTACK_MAX_LIST][8][CURVE_MAX];
    static double y[DSN_ATTACK_MAX_LIST][8][CURVE_MAX];
    static char titles[DSN_ATTACK_MAX_LIST][8][96];
    int np = 0;
    size_t i, k;
    json_t *row, *f;
    json_array_foreach(rows, i, row) {
        if(np == DSN_ATTACK_MAX_LIST) break;
        dsn_panel *p = &panels[np];
        memset(p, 0, sizeof *p);
        snprintf(p->title, sizeof p->title, "%d images (%s), seed %d", (int)json_integer_value(json_object_get(row, "n")),
                 json_string_value(json_object_get(row, "size")), a->o->seed);
        json_array_foreach(json_object_get(row, "runs"), k, f) {
            if(p->n == 8) break;
            int s = p->n++;
            snprintf(titles[np][s], sizeof titles[np][s], "%s, lr %g", json_string_value(json_object_get(f, ka)),
                     json_number_value(json_object_get(f, "lr")));
            const char *v = json_string_value(json_object_get(f, ka));
            int dashed = v && (strstr(v, "scratch") || strstr(v, "labels)"));
            p->s[s] = (dsn_series){titles[np][s], dsn_attack_curve(f, x[np][s], y[np][s], CURVE_MAX), x[np][s], y[np][s], dashed};
        }
        ++np;
    }
    char name[256];
    snprintf(name, sizeof name, "attacks_%s_%s", kind, json_string_value(json_object_get(a->root, "name")));
    int rc = dsn_attack_plot(a, name, "iterations", "test accuracy (%)", panels, np);
    if(rc == 0 && a->o->png_dir) dsn_attack_md(a, "\nLearning curves (baselines dashed): `%s.png`.\n", name);
    return rc;
}

/* The teacher modes of --kd ("hard", "unlocked" or both). */
static int kd_modes(dsn_attack_ctx *a, int *modes)
{
    char buf[64];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", a->o->kd);
    for(char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if(n == 2 || (strcmp(p, "hard") != 0 && strcmp(p, "unlocked") != 0))
            return dsn_attack_fail(a, "--kd %s: use hard (labels only), unlocked (the stolen model with the original serial as "
                                      "the teacher) or both: hard,unlocked", a->o->kd);
        modes[n++] = strcmp(p, "unlocked") == 0;
    }
    return n ? n : dsn_attack_fail(a, "--kd: give hard, unlocked or both");
}

/* One size: every init x teacher; the row with the attacker's best and its headline entries. */
static int overwrite_size(dsn_attack_ctx *a, const dsn_size *sz, const int *modes, int nm, json_t *rows)
{
    uint64_t seed = (uint64_t)a->o->seed;
    json_t *runs = json_array(), *best = NULL, *sbest = NULL;
    for(int init = INIT_STOLEN; init <= INIT_SCRATCH; ++init) {
        for(int k = 0; k < nm; ++k) {
            json_t *run = NULL;
            if(overwrite_one(a, sz, (overwrite_init)init, modes[k], seed, &run) != 0) {
                json_decref(runs);
                return -1;
            }
            json_array_append_new(runs, run);
            json_t **b = init == INIT_SCRATCH ? &sbest : &best;
            if(!*b || json_number_value(json_object_get(run, "acc_new_serial")) > json_number_value(json_object_get(*b, "acc_new_serial")))
                *b = run;
            json_t *tr = json_object_get(run, "trace"), *vj = json_object_get(run, "verify_original");
            const char *named = tr ? json_string_value(json_object_get(tr, "found")) : NULL;
            char pv[32] = "-";
            if(vj) snprintf(pv, sizeof pv, "%.3g", json_number_value(json_object_get(vj, "p_value")));
            dsn_attack_md(a, "| %d (%s) | %s | %s | %d | %.2f | %.2f | %.2f | %s | %s |\n", sz->n, sz->text, init_names[init],
                          modes[k] ? "unlocked model" : "labels only", (int)json_integer_value(json_object_get(run, "iterations")),
                          json_number_value(json_object_get(run, "acc_new_serial")),
                          json_number_value(json_object_get(run, "acc_original_serial")),
                          json_number_value(json_object_get(run, "acc_raw")), pv, tr ? (named ? named : "nobody") : "-");
        }
    }
    double bn = json_number_value(json_object_get(best, "acc_new_serial")), bo = json_number_value(json_object_get(best, "acc_original_serial"));
    double sn = json_number_value(json_object_get(sbest, "acc_new_serial"));
    char setting[160], seeds[32];
    snprintf(seeds, sizeof seeds, "%llu", (unsigned long long)seed);
    snprintf(setting, sizeof setting, "n=%d (%.15s), the new serial (%s; baseline: the recipe from scratch)", sz->n, sz->text,
             json_string_value(json_object_get(best, "variant")));
    json_t *hl = json_object_get(a->root, "headline");
    json_array_append_new(hl, json_pack("{s:s, s:s, s:f, s:f, s:f, s:s}", "attack", "overwrite", "setting", setting, "value",
                                        bn, "sd", 0.0, "baseline", sn, "seeds", seeds));
    snprintf(setting, sizeof setting, "n=%d (%.15s), the original serial after that overwrite", sz->n, sz->text);
    json_array_append_new(hl, json_pack("{s:s, s:s, s:f, s:f, s:n, s:s}", "attack", "overwrite", "setting", setting, "value",
                                        bo, "sd", 0.0, "baseline", "seeds", seeds));
    json_array_append_new(rows, json_pack("{s:s, s:i, s:f, s:{s:s, s:f, s:f}, s:{s:s, s:f}, s:o}", "size", sz->text, "n",
                                          sz->n, "fraction", sz->frac, "attack_best", "variant",
                                          json_string_value(json_object_get(best, "variant")), "acc_new_serial", bn,
                                          "acc_original_serial", bo, "scratch_best", "variant",
                                          json_string_value(json_object_get(sbest, "variant")), "acc_new_serial", sn, "runs", runs));
    return 0;
}

int dsn_attack_overwrite(dsn_attack_ctx *a)
{
    dsn_size sizes[DSN_ATTACK_MAX_LIST];
    int modes[2];
    int ns = dsn_attack_sizes(a, a->o->sizes ? a->o->sizes : "10%,20%,30%,40%", a->train.n, sizes, DSN_ATTACK_MAX_LIST);
    int nm = kd_modes(a, modes);
    if(ns < 0 || nm < 0) return -1;
    if(!a->o->student_cfg) return dsn_attack_fail(a, "overwrite needs --student-cfg (the DSN student recipe, e.g. cfg/mnist_student.cfg)");
    dsn_attack_md(a, "Overwriting: the leaking customer (who knows its serial) runs the DSN student recipe `%s` with a new "
                     "serial of its own, from ", a->o->student_cfg);
    for(int i = INIT_STOLEN; i <= INIT_SCRATCH; ++i) dsn_attack_md(a, "%s`%s` (%s)", i ? (i == INIT_SCRATCH ? " or " : ", ") : "", init_names[i], init_what[i]);
    dsn_attack_md(a, "; on the new serial's rows it learns the labels (cross-entropy; the recipe's KD off: temperature 0.001) "
                     "or the stolen model unlocked with the original serial (the recipe's KD, plus cross-entropy), on every "
                     "other row the recipe's push to uniform and G_d; a share %s of the rows the stamp layer leaves raw carry "
                     "the original serial, pushed to uniform. The recipe's batch and learning rate, iterations = clamp(%d "
                     "epochs, %d, %d). The attacker's aim: the new serial works; the owner's: the original still does (the "
                     "watermark).\n\n| images | init | new serial taught by | iterations | new serial | original serial | raw | "
                     "verify original p | trace names |\n|---:|---|---|---:|---:|---:|---:|---:|---|\n",
                  a->o->orig_frac, a->o->epochs, a->o->iters_min, a->o->iters_max);
    json_t *rows = json_array();
    json_object_set_new(a->root, "rows", rows);
    for(int i = 0; i < ns; ++i) {
        if(overwrite_size(a, &sizes[i], modes, nm, rows) != 0) return -1;
    }
    if(plot_runs(a, "overwrite", rows, "variant") != 0) return -1;
    dsn_attack_md(a, "\nPaper (Table 6, MNIST): after overwriting with 10-40%% of the data the original serial still gives "
                     "93.2-95.8%%.\n");
    return 0;
}

/* ---- distill --------------------------------------------------------------------------------- */

/* One size: a fresh network from each teacher's probabilities, and scratch from the labels, at
 * every learning rate; best[t] gets the best test accuracy of each. */
static json_t *distill_size(dsn_attack_ctx *a, const dsn_size *sz, const dsn_input *teachers, const char *const *tnames,
                            const double *lrs, int nl, double best[3])
{
    const dsn_attack_opts *o = a->o;
    uint64_t seed = (uint64_t)o->seed;
    int *idx = dsn_attack_subset(a, sz->n, seed), iters = dsn_attack_iterations(a, sz->n);
    float *targets = malloc((size_t)sz->n * a->train.classes * sizeof *targets);
    if(!idx || !targets) dsn_die("out of memory");
    json_t *runs = json_array();
    for(int t = 0; t < 3; ++t) {
        best[t] = -1;
        if(t < 2 && dsn_run_images(a->stolen.net, &a->train, idx, sz->n, &teachers[t], -1, NULL, targets) < 0)
            dsn_die("out of memory");
        for(int l = 0; l < nl; ++l) {
            dsn_model m;
            if(dsn_attack_fresh_net(a, &m, o->batch, (unsigned)dsn_attack_seed(seed, "init", 0, 0)) != 0) {
                json_decref(runs);
                runs = NULL;
                goto done;
            }
            dsn_fit_opts f;
            dsn_fit_opts_init(&f);
            f.iterations = iters;
            f.lr = (float)lrs[l];
            f.order_seed = dsn_attack_seed(seed, "order", sz->n, 0);
            f.targets = t < 2 ? targets : NULL;
            f.test = &a->test;
            f.test_n = o->curve_images < a->n_test ? o->curve_images : a->n_test;
            f.eval_every = o->curve_every;
            dsn_fit_result fr;
            dsn_attack_say(a, "%s (%d images): %s, lr %g, %d iterations", sz->text, sz->n, t < 2 ? tnames[t] : "scratch",
                           lrs[l], iters);
            if(dsn_fit(m.net, &a->train, idx, sz->n, &f, &fr) != 0) dsn_die("out of memory");
            dsn_eval_acc acc = dsn_attack_test_acc(a, m.net, NULL, -1);
            json_t *j = dsn_attack_fit_json(&fr, seed, &acc);
            json_object_set_new(j, "teacher", json_string(t < 2 ? tnames[t] : "none (labels)"));
            json_object_set_new(j, "images", json_integer(sz->n));
            json_array_append_new(runs, j);
            if(acc.acc > best[t]) best[t] = acc.acc;
            dsn_fit_result_free(&fr);
            dsn_model_free(&m);
        }
    }
done:
    free(idx);
    free(targets);
    return runs;
}

int dsn_attack_distill(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    dsn_size sizes[DSN_ATTACK_MAX_LIST];
    double lrs[8], lr;
    int ns = dsn_attack_sizes(a, o->sizes ? o->sizes : "100%", a->train.n, sizes, DSN_ATTACK_MAX_LIST);
    int nl = dsn_attack_reals(a, "--lrs", o->lrs, lrs, 8);
    if(ns < 0 || nl < 0) return -1;
    if(dsn_parse_real(o->patch_lr, &lr) != 0 || lr <= 0) return dsn_attack_fail(a, "--patch-lr %s is not a positive number", o->patch_lr);
    /* the unlocked teachers: the true serial (upper bound) and a white-box patch */
    int psize = dsn_patch_size(&a->geo, a->train.c), n_pool = o->images < a->train.n ? o->images : a->train.n;
    float *patch = malloc((size_t)psize * sizeof *patch), *cells = malloc((size_t)a->geo.bits * sizeof *cells);
    int *pool = dsn_attack_subset(a, n_pool, dsn_attack_seed((uint64_t)o->seed, "pool", 0, 0));
    if(!patch || !cells || !pool) dsn_die("out of memory");
    dsn_attack_say(a, "unlocking with a white-box patch (%d labelled images, %d steps)", n_pool, o->steps);
    dsn_patch_opts po = {NULL, "0.5", 1, o->steps, o->steps / 2, lr, (uint64_t)o->seed, NULL};
    double pool_acc = dsn_attack_patch_search(a, pool, n_pool, &po, cells, patch);
    free(pool);
    free(cells);
    if(pool_acc < 0) {
        free(patch);
        return -1;
    }
    dsn_input teachers[2] = {{&a->geo, &a->cert.serial, NULL}, {&a->geo, NULL, patch}};
    const char *const tnames[2] = {"true serial", "white-box patch"};
    dsn_eval_acc tacc[2];
    for(int t = 0; t < 2; ++t) tacc[t] = dsn_attack_test_acc(a, a->stolen.net, &teachers[t], -1);
    dsn_attack_md(a, "Distillation of an unlocked model into a fresh network without a stamp, on unlabelled training "
                     "images (the teacher's probabilities as targets), against the same network trained from scratch on the "
                     "same images with their labels, same budget. Teachers: the stolen model with the true serial (%.2f%%, the "
                     "upper bound) and with a continuous patch found by the white-box attack (leaky surrogate, from 0.5) "
                     "from %d labelled images (%.2f%%).\n\n"
                     "| images | iterations x batch | from the serial | from the patch | scratch with labels |\n|---:|---:|---:|---:|---:|\n",
                  tacc[0].acc, n_pool, tacc[1].acc);
    json_t *rows = json_array();
    json_object_set_new(a->root, "teachers", json_pack("{s:f, s:f, s:i}", "serial", tacc[0].acc, "patch", tacc[1].acc,
                                                       "patch_images", n_pool));
    json_object_set_new(a->root, "rows", rows);
    int rc = 0;
    for(int si = 0; si < ns && rc == 0; ++si) {
        const dsn_size *sz = &sizes[si];
        double best[3];
        json_t *runs = distill_size(a, sz, teachers, tnames, lrs, nl, best);
        if(!runs) {
            rc = -1;
            break;
        }
        int iters = dsn_attack_iterations(a, sz->n);
        dsn_attack_md(a, "| %d (%s) | %d x %d | %.2f | %.2f | %.2f |\n", sz->n, sz->text, iters, o->batch, best[0], best[1], best[2]);
        json_array_append_new(rows, json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:o}", "size", sz->text, "n", sz->n,
                                              "iterations", iters, "from_serial", best[0], "from_patch", best[1], "scratch",
                                              best[2], "runs", runs));
        char setting[128], seeds[32];
        snprintf(seeds, sizeof seeds, "%d", o->seed);
        snprintf(setting, sizeof setting, "n=%d unlabelled (%.15s), from the white-box patch", sz->n, sz->text);
        json_array_append_new(json_object_get(a->root, "headline"),
                              json_pack("{s:s, s:s, s:f, s:f, s:f, s:s}", "attack", "distill", "setting", setting, "value",
                                        best[1], "sd", 0.0, "baseline", best[2], "seeds", seeds));
    }
    free(patch);
    if(rc == 0) rc = plot_runs(a, "distill", rows, "teacher");
    return rc;
}
