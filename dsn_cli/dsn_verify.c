/* dsn_verify.c: the ownership test behind dsn verify and dsn trace (see dsn_verify.h for the
 * test and its justification). Rows are (image, serial) pairs run in batches through a network
 * built without [serial_stamp]; each row is stamped here, from the certificate's geometry, so a
 * thief's edits to the cfg's stamp layer change nothing. */
#include "dsn_verify.h"
#include "dsn_seal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsn_layers.h"
#include "dsn_learn.h"
#include "dsn_util.h"

#define LOG10_ZERO (-1e300)

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- statistics --------------------------------------------------------------------------- */

/* Natural log of sum_{i=lo..hi} C(n,i) p^i (1-p)^(n-i), for 0 < p < 1. */
static double log_binom_sum(long lo, long hi, long n, double p)
{
    double lp = log(p), lq = log1p(-p), mx = -DBL_MAX, s = 0;
    double lg = lgamma((double)n + 1);
    for(int pass = 0; pass < 2; ++pass) {
        for(long i = lo; i <= hi; ++i) {
            double t = lg - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + i * lp + (n - i) * lq;
            if(pass == 0) mx = t > mx ? t : mx;
            else s += exp(t - mx);
        }
    }
    return mx + log(s);
}

double dsn_binom_log10_sf(long k, long n, double p)
{
    if(k <= 0) return 0;
    if(k > n || p <= 0) return LOG10_ZERO;
    if(p >= 1) return 0;
    double l = log_binom_sum(k, n, n, p) / log(10.0);
    return l > 0 ? 0 : l;
}

double dsn_binom_upper(long k, long n, double a)
{
    if(k >= n) return 1;
    if(k < 0) return 0;
    double lo = (double)k / n, hi = 1, la = log(a);
    for(int it = 0; it < 100; ++it) {      /* P(X <= k | p) falls as p grows */
        double mid = 0.5 * (lo + hi);
        if(log_binom_sum(0, k, n, mid) > la) lo = mid;
        else hi = mid;
    }
    return hi;
}

/* ---- rows ---------------------------------------------------------------------------------- */

typedef struct rows_ctx {
    const int *ser;                /* [rows] serial index, -1 raw     */
    const dsn_serial *table;
    const dsn_geometry *geos;      /* [serials], or one for all        */
    int one_geo, c;
} rows_ctx;

static void stamp_row(void *ctx, long row, float *im)
{
    const rows_ctx *x = ctx;
    int s = x->ser[row];
    if(s >= 0) dsn_stamp_apply(im, x->c, x->one_geo ? x->geos : &x->geos[s], &x->table[s]);
}

static void shuffle(int *v, int n, dsn_rng *r)
{
    for(int i = n - 1; i > 0; --i) {
        int j = dsn_rng_below(r, i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- verify ------------------------------------------------------------------------------- */

void dsn_verify_opts_init(dsn_verify_opts *o)
{
    o->images = 1000;
    o->serials = 20;
    o->seed = 0;
    o->alpha = 0.01;
    o->a = 1e-6;
}

void dsn_verify_result_free(dsn_verify_result *r)
{
    if(!r) return;
    free(r->random);
    memset(r, 0, sizeof *r);
}

/* The test on given disjoint image sets. extra: n_extra more null conditions the caller measured
 * on S_null (trace's pool of random serials, its best), or NULL. */
/* How many of the n images idx names carry their most frequent label; -1 without memory. */
static long most_frequent(const dsn_eval_data *test, const int *idx, int n)
{
    long *count = calloc((size_t)test->classes, sizeof *count), best = 0;
    if(!count) return -1;
    for(int i = 0; i < n; ++i) {
        long c = ++count[test->label[idx[i]]];
        if(c > best) best = c;
    }
    free(count);
    return best;
}

static int verify_on(dsn_verify_result *r, network *net, const dsn_geometry *g, const dsn_serial *serial,
                     const dsn_eval_data *test, const int *icert, int n1, const int *inull, int n2,
                     const dsn_eval_acc *extra, int n_extra, const dsn_verify_opts *o, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    double t0 = now_seconds();
    int K = o->serials;
    long rows = (long)n1 + (long)(K + 1) * n2;
    int *img = malloc((size_t)rows * sizeof *img), *ser = malloc((size_t)rows * sizeof *ser);
    dsn_serial *table = malloc((size_t)(K + 1) * sizeof *table);
    uint8_t *ok = malloc((size_t)rows);
    r->random = calloc((size_t)(K ? K : 1), sizeof *r->random);
    int rc = -1;
    if(!img || !ser || !table || !ok || !r->random) {
        snprintf(err, errlen, "out of memory for %ld rows", rows);
        goto done;
    }
    table[0] = *serial;
    dsn_rng rng;
    dsn_rng_stream(&rng, o->seed, 0x72616e646f6dull);
    dsn_eval_forged(table + 1, K, serial, &rng);
    long at = 0;
    for(int i = 0; i < n1; ++i, ++at) img[at] = icert[i], ser[at] = 0;
    for(int s = -1; s < K; ++s) {
        for(int i = 0; i < n2; ++i, ++at) img[at] = inull[i], ser[at] = s < 0 ? -1 : s + 1;
    }
    rows_ctx ctx = {ser, table, g, 1, test->c};
    if(dsn_run_rows(net, test, img, rows, stamp_row, &ctx, -1, ok, NULL) < 0) {
        snprintf(err, errlen, "out of memory while running the model");
        goto done;
    }
    long c = 0;
    at = 0;
    for(int i = 0; i < n1; ++i) c += ok[at++];
    r->cert = dsn_eval_wilson(c, n1);
    long cr = 0;
    for(int i = 0; i < n2; ++i) cr += ok[at++];
    r->raw = dsn_eval_wilson(cr, n2);
    r->constant = most_frequent(test, inull, n2);
    if(r->constant < 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    double lvl = o->a / (K + 1 + n_extra);
    r->p0 = dsn_binom_upper(cr, n2, lvl);
    for(int j = 0; j < n_extra; ++j) {
        double u = dsn_binom_upper(extra[j].correct, n2, lvl);
        if(u > r->p0) r->p0 = u;
    }
    r->n_random = K;
    r->random_max = -1;
    double sum = 0;
    for(int s = 0; s < K; ++s) {
        long cs = 0;
        for(int i = 0; i < n2; ++i) cs += ok[at++];
        r->random[s] = dsn_eval_wilson(cs, n2);
        sum += r->random[s].acc;
        if(r->random_max < 0 || cs > r->random[r->random_max].correct) r->random_max = s;
        double u = dsn_binom_upper(cs, n2, lvl);
        if(u > r->p0) r->p0 = u;
    }
    r->random_mean = K ? sum / K : 0;
    r->n_cert = n1;
    r->n_null = n2;
    r->tail_log10 = dsn_binom_log10_sf(c, n1, r->p0);
    double tail = r->tail_log10 < -300 ? 0 : pow(10, r->tail_log10);
    r->p_value = fmin(1, tail + o->a);
    r->verified = r->p_value <= o->alpha;
    r->rows = rows;
    rc = 0;
done:
    free(img);
    free(ser);
    free(table);
    free(ok);
    if(rc != 0) dsn_verify_result_free(r);
    r->seconds = now_seconds() - t0;
    return rc;
}

static int check_net(network *net, const dsn_eval_data *test, char *err, size_t errlen)
{
    if(net->w != test->w || net->h != test->h || net->c != test->c) {
        snprintf(err, errlen, "the model takes %dx%dx%d input, the images were loaded at %dx%dx%d", net->w,
                 net->h, net->c, test->w, test->h, test->c);
        return -1;
    }
    if(net->outputs != test->classes) {
        snprintf(err, errlen, "the model outputs %d scores, the data set has %d classes", net->outputs, test->classes);
        return -1;
    }
    return 0;
}

int dsn_verify_model(dsn_verify_result *r, network *net, const dsn_geometry *g, const dsn_serial *serial,
                     const dsn_eval_data *test, const dsn_verify_opts *o, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if(check_net(net, test, err, errlen) != 0) return -1;
    if(o->images < 2 || o->serials < 0) {
        snprintf(err, errlen, "--images must be >= 2 and --serials >= 0");
        return -1;
    }
    int n = o->images < test->n ? o->images : test->n;
    if(n < 2) {
        snprintf(err, errlen, "the test set has %d image(s): at least 2 are needed", test->n);
        return -1;
    }
    int *perm = malloc((size_t)test->n * sizeof *perm);
    if(!perm) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for(int i = 0; i < test->n; ++i) perm[i] = i;
    dsn_rng rng;
    dsn_rng_stream(&rng, o->seed, 0x73706c6974ull);
    shuffle(perm, test->n, &rng);
    int n1 = n / 2;
    int rc = verify_on(r, net, g, serial, test, perm, n1, perm + n1, n - n1, NULL, 0, o, err, errlen);
    free(perm);
    return rc;
}

/* ---- trace -------------------------------------------------------------------------------- */

void dsn_trace_opts_init(dsn_trace_opts *o)
{
    memset(&o->seal, 0, sizeof o->seal);
    o->hypotheses = 1;
    o->screen = 50;
    o->top = 3;
    o->pool = 0;
    dsn_verify_opts_init(&o->v);
}

void dsn_trace_result_free(dsn_trace_result *r)
{
    if(!r) return;
    for(int i = 0; i < r->n_top; ++i) dsn_verify_result_free(&r->top[i].v);
    free(r->top);
    free(r->screen_correct);
    free(r->pool_top);
    memset(r, 0, sizeof *r);
}

typedef struct rank { long correct; int index; } rank;

static int rank_cmp(const void *a, const void *b)
{
    const rank *x = a, *y = b;
    if(x->correct != y->correct) return x->correct > y->correct ? -1 : 1;
    return x->index - y->index;
}

/* The n counts ranked best first (ties: the lower index). A malloc'ed [n], or NULL. */
static rank *ranked(const long *correct, int n)
{
    rank *rk = malloc((size_t)n * sizeof *rk);
    if(!rk) return NULL;
    for(int s = 0; s < n; ++s) rk[s].correct = correct[s], rk[s].index = s;
    qsort(rk, (size_t)n, sizeof *rk, rank_cmp);
    return rk;
}

/* The screening rows: all serials in one run of batches, or, for sealed weights, one serial at a
 * time between its unsealing and the sealing that restores the weights. */
static int screen_rows(network *net, const dsn_eval_data *test, const int *img, const int *ser, long rows, int ns,
                       const dsn_serial *serials, rows_ctx *ctx, uint8_t *ok, const dsn_seal_spec *seal, char *err,
                       size_t errlen)
{
    if(!seal->version) {
        if(dsn_run_rows(net, test, img, rows, stamp_row, ctx, -1, ok, NULL) >= 0) return 0;
        snprintf(err, errlen, "out of memory while screening");
        return -1;
    }
    for(long at = 0; at < rows; at += ns) {
        const dsn_serial *sn = &serials[ser[at]];
        if(dsn_seal_network(net, 0, net->n, sn, seal, DSN_UNSEAL) != 0) {
            snprintf(err, errlen, "cannot unseal the weights");
            return -1;
        }
        ctx->ser = ser + at;
        long n = dsn_run_rows(net, test, img + at, ns, stamp_row, ctx, -1, ok + at, NULL);
        ctx->ser = ser;
        if(dsn_seal_network(net, 0, net->n, sn, seal, DSN_SEAL) != 0 || n < 0) {
            snprintf(err, errlen, "cannot seal the weights again, or out of memory while screening");
            return -1;
        }
    }
    return 0;
}

/* Right answers of each of n serials (serials[s] stamped with geos[s]) on the same nimg images
 * (imgs): correct[n]. */
static int count_right(network *net, const dsn_eval_data *test, const int *imgs, int nimg, const dsn_serial *serials,
                       const dsn_geometry *geos, int n, const dsn_seal_spec *seal, long *correct, char *err,
                       size_t errlen)
{
    long rows = (long)n * nimg;
    int *img = malloc((size_t)rows * sizeof *img), *ser = malloc((size_t)rows * sizeof *ser);
    uint8_t *ok = malloc((size_t)rows);
    int rc = -1;
    if(!img || !ser || !ok) {
        snprintf(err, errlen, "out of memory for %ld screening rows", rows);
        goto done;
    }
    long at = 0;
    for(int s = 0; s < n; ++s) {
        for(int i = 0; i < nimg; ++i, ++at) img[at] = imgs[i], ser[at] = s;
    }
    rows_ctx ctx = {ser, serials, geos, 0, test->c};
    if(screen_rows(net, test, img, ser, rows, nimg, serials, &ctx, ok, seal, err, errlen) != 0) goto done;
    at = 0;
    for(int s = 0; s < n; ++s) {
        correct[s] = 0;
        for(int i = 0; i < nimg; ++i) correct[s] += ok[at++];
    }
    rc = 0;
done:
    free(img);
    free(ser);
    free(ok);
    return rc;
}

/* The null of the selection: the pool's random serials (the certificates' lengths and geometries
 * in turn) screened on the certificates' images, and the best r->n_top of them counted on S_null
 * (null_img, n2 images): r->pool_top. */
static int trace_pool(dsn_trace_result *r, network *net, const dsn_geometry *geos, const dsn_serial *serials, int n,
                      const dsn_eval_data *test, const int *screen_img, const int *null_img, int n2,
                      const dsn_trace_opts *o, char *err, size_t errlen)
{
    double t0 = now_seconds();
    int np = o->pool > 0 ? o->pool : (n > 100 ? n : 100), m = r->n_top < np ? r->n_top : np;
    dsn_serial *ps = malloc((size_t)np * sizeof *ps), *sel = malloc((size_t)m * sizeof *sel);
    dsn_geometry *pg = malloc((size_t)np * sizeof *pg), *selg = malloc((size_t)m * sizeof *selg);
    long *pc = malloc((size_t)np * sizeof *pc);   /* right answers: the screen's, then the best's */
    rank *rk = NULL;
    int rc = -1;
    if(!ps || !sel || !pg || !selg || !pc || !(r->pool_top = calloc((size_t)m, sizeof *r->pool_top))) {
        snprintf(err, errlen, "out of memory for %d random serials", np);
        goto done;
    }
    dsn_rng rng;
    dsn_rng_stream(&rng, o->v.seed, 0x706f6f6cull);
    for(int i = 0; i < np; ++i) {
        dsn_eval_forged(&ps[i], 1, &serials[i % n], &rng);
        pg[i] = geos[i % n];
    }
    if(count_right(net, test, screen_img, r->n_screen, ps, pg, np, &o->seal, pc, err, errlen) != 0) goto done;
    if(!(rk = ranked(pc, np))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for(int k = 0; k < m; ++k) sel[k] = ps[rk[k].index], selg[k] = pg[rk[k].index];
    if(count_right(net, test, null_img, n2, sel, selg, m, &o->seal, pc, err, errlen) != 0) goto done;
    r->n_pool = np;
    r->n_pool_top = m;
    r->pool_screen = dsn_eval_wilson(rk[0].correct, r->n_screen);
    for(int k = 0; k < m; ++k) r->pool_top[k] = dsn_eval_wilson(pc[k], n2);
    r->rows += (long)np * r->n_screen + (long)m * n2;
    rc = 0;
done:
    free(ps);
    free(sel);
    free(pg);
    free(selg);
    free(pc);
    free(rk);
    r->pool_seconds = now_seconds() - t0;
    return rc;
}

/* The pool's best random serial (on S_null) answers significantly better than raw input on the
 * same images (above the upper bound at level a of raw's count or of one constant answer's, the
 * higher, with p <= alpha): stamps in general unlock this model, so which certificate does best
 * says nothing about who leaked it. Sets unlock_pool and unlock_raw (that baseline) when it does. */
static int stamps_unlock(dsn_trace_result *r, const dsn_verify_result *v, const dsn_verify_opts *o)
{
    if(!r->n_pool_top) return 0;
    const dsn_eval_acc *best = &r->pool_top[0];
    for(int k = 1; k < r->n_pool_top; ++k) best = r->pool_top[k].correct > best->correct ? &r->pool_top[k] : best;
    long base = v->raw.correct > v->constant ? v->raw.correct : v->constant;
    double u = dsn_binom_upper(base, v->n_null, o->a);
    if(dsn_binom_log10_sf(best->correct, v->n_null, u) > log10(o->alpha)) return 0;
    r->unlock_pool = *best;
    r->unlock_raw = dsn_eval_wilson(base, v->n_null);
    return 1;
}

/* Each candidate's test on fresh images (S_cert: fresh[0..n1), S_null: the n2 after), the pool's
 * best among its null conditions; the p-values times the candidates tested (and the readings). */
static int trace_test(dsn_trace_result *r, network *net, const dsn_geometry *geos, const dsn_serial *serials,
                      const dsn_eval_data *test, const int *fresh, int n1, int n2, const rank *rk,
                      const dsn_trace_opts *o, char *err, size_t errlen)
{
    for(int k = 0; k < r->n_top; ++k) {
        dsn_trace_cand *c = &r->top[k];
        c->index = rk[k].index;
        c->screen = dsn_eval_wilson(rk[k].correct, r->n_screen);
        dsn_verify_opts vo = o->v;
        vo.seed = o->v.seed + 1000003ull * (uint64_t)(k + 1);
        if(o->seal.version && dsn_seal_network(net, 0, net->n, &serials[c->index], &o->seal, DSN_UNSEAL) != 0) {
            snprintf(err, errlen, "cannot unseal the weights");
            return -1;
        }
        int vrc = verify_on(&c->v, net, &geos[c->index], &serials[c->index], test, fresh, n1, fresh + n1, n2,
                            r->pool_top, r->n_pool_top, &vo, err, errlen);
        if(o->seal.version && dsn_seal_network(net, 0, net->n, &serials[c->index], &o->seal, DSN_SEAL) != 0) {
            snprintf(err, errlen, "cannot seal the weights again");
            return -1;
        }
        if(vrc != 0) return -1;
        c->p_adj = fmin(1, c->v.p_value * r->n_top * (o->hypotheses > 1 ? o->hypotheses : 1));
        r->rows += c->v.rows;
    }
    /* the candidate with the smallest p-value, when it passes */
    int best = -1;
    for(int k = 0; k < r->n_top; ++k) {
        if(best < 0 || r->top[k].p_adj < r->top[best].p_adj ||
           (r->top[k].p_adj == r->top[best].p_adj && r->top[k].v.cert.correct > r->top[best].v.cert.correct))
            best = k;
    }
    if(best >= 0 && r->top[best].p_adj <= o->v.alpha) {
        if(stamps_unlock(r, &r->top[best].v, &o->v)) r->inconclusive = 1;
        else r->found = r->top[best].index;
    }
    return 0;
}

int dsn_trace_model(dsn_trace_result *r, network *net, const dsn_geometry *geos, const dsn_serial *serials,
                    int n, const dsn_eval_data *test, const dsn_trace_opts *o, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->found = -1;
    double t0 = now_seconds();
    if(check_net(net, test, err, errlen) != 0) return -1;
    if(n < 1 || o->screen < 1 || o->top < 1 || o->v.images < 2 || o->pool < 0) {
        snprintf(err, errlen, "trace needs certificates, --screen >= 1, --top >= 1, --images >= 2 and --pool >= 0");
        return -1;
    }
    int ns = o->screen, nv = o->v.images, nt = o->top < n ? o->top : n;
    if(ns + 2 > test->n) ns = test->n - 2;
    if(ns < 1) {
        snprintf(err, errlen, "the test set has %d images: too few to screen and then test", test->n);
        return -1;
    }
    if(ns + nv > test->n) nv = test->n - ns;
    int *perm = malloc((size_t)test->n * sizeof *perm), rc = -1;
    rank *rk = NULL;
    r->screen_correct = calloc((size_t)n, sizeof *r->screen_correct);
    if(!perm || !r->screen_correct || !(r->top = calloc((size_t)nt, sizeof *r->top))) {
        snprintf(err, errlen, "out of memory for %d certificates", n);
        goto done;
    }
    r->n = n;
    r->n_screen = ns;
    r->n_top = nt;
    for(int i = 0; i < test->n; ++i) perm[i] = i;
    dsn_rng rng;
    dsn_rng_stream(&rng, o->v.seed, 0x7472616365ull);
    shuffle(perm, test->n, &rng);
    if(count_right(net, test, perm, ns, serials, geos, n, &o->seal, r->screen_correct, err, errlen) != 0) goto done;
    r->rows = (long)n * ns;
    r->screen_seconds = now_seconds() - t0;
    if(!(rk = ranked(r->screen_correct, n))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    int n1 = nv / 2, n2 = nv - n1;
    if(trace_pool(r, net, geos, serials, n, test, perm, perm + ns + n1, n2, o, err, errlen) != 0 ||
       trace_test(r, net, geos, serials, test, perm + ns, n1, n2, rk, o, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    free(perm);
    free(rk);
    if(rc != 0) dsn_trace_result_free(r);
    r->seconds = now_seconds() - t0;
    return rc;
}

int dsn_verify_write_json(const char *path, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : NULL;
    if(!text) {
        dsn_error("out of memory writing %s", path);
        return -1;
    }
    size_t n = strlen(text);
    text[n] = '\n';   /* json_dumps' NUL becomes the final newline */
    int rc = dsn_write_file(path, text, n + 1, 0644, DSN_WRITE_REPLACE);
    free(text);
    return rc;
}

/* ---- the commands' share (dsn verify, dsn trace) ------------------------------------------- */

int dsn_verify_check_args(const char *cmd, const dsn_verify_arg *args, int n, const char *alpha_s, double *alpha)
{
    for(int i = 0; i < n; ++i) {
        if(!args[i].value) {
            dsn_error("%s: missing %s (see dsn %s --help)", cmd, args[i].what, cmd);
            return -1;
        }
    }
    if(alpha_s && (dsn_parse_real(alpha_s, alpha) != 0 || *alpha <= 0 || *alpha >= 1)) {
        dsn_error("%s: --alpha %s: give a probability between 0 and 1", cmd, alpha_s);
        return -1;
    }
    return 0;
}

void dsn_verify_model_opts(dsn_model_opts *mo, int batch)
{
    dsn_model_opts_init(mo);
    mo->batch = batch;
    mo->strip_stamp = 1;
    mo->quiet = 1;
    mo->cpu = 1;
}

json_t *dsn_verify_acc_json(const dsn_eval_acc *a)
{
    return json_pack("{s:f, s:[f, f], s:I, s:I}", "acc", a->acc, "ci95", a->lo, a->hi, "correct", (json_int_t)a->correct,
                     "total", (json_int_t)a->total);
}
