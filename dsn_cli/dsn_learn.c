/* dsn_learn.c: in-memory data sets, input edits, batched prediction and the seeded training loop
 * (see dsn_learn.h). Non-goals: data augmentation, multi-GPU, subdivisions. */
#include "dsn_learn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsn_crypto.h"
#include "dsn_util.h"

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- data --------------------------------------------------------------------------------- */

/* The value of `key` in a Darknet .data file (key=value lines, whitespace removed, # comments). */
static int data_value(const char *data_path, const char *key, char *out, size_t len, char *err, size_t errlen)
{
    size_t n;
    char *text = dsn_read_file_err(data_path, 1u << 20, &n, err, errlen);
    if(!text) return -1;
    int found = 0;
    for(char *p = text; p && *p && !found;) {
        char *e = strchr(p, '\n');
        if(e) *e = '\0';
        char *l = p, *o = p;
        p = e ? e + 1 : NULL;
        for(char *s = l; *s; ++s) {
            if(*s != ' ' && *s != '\t' && *s != '\r') *o++ = *s;
        }
        *o = '\0';
        if(*l == '#' || *l == ';') continue;
        char *eq = strchr(l, '=');
        if(!eq) continue;
        *eq = '\0';
        if(strcmp(l, key) == 0) {
            snprintf(out, len, "%s", eq + 1);
            found = 1;
        }
    }
    free(text);
    if(!found) {
        snprintf(err, errlen, "%s has no %s= line", data_path, key);
        return -1;
    }
    return 0;
}

int dsn_learn_load_set(dsn_eval_data *d, const char *data_path, const char *key, int w, int h, int c,
                       char *err, size_t errlen)
{
    char list[4096];
    memset(d, 0, sizeof *d);
    if(data_value(data_path, key, list, sizeof list, err, errlen) != 0) return -1;
    return dsn_eval_data_load(d, data_path, list, w, h, c, err, errlen);
}

/* ---- input edits -------------------------------------------------------------------------- */

int dsn_patch_size(const dsn_geometry *g, int c)
{
    return c * g->gh * g->cell_px * g->gw * g->cell_px;
}

void dsn_patch_from_cells(float *patch, const float *cells, const dsn_geometry *g, int c)
{
    int pw = g->gw * g->cell_px, ph = g->gh * g->cell_px;
    for(int k = 0; k < c; ++k) {
        for(int y = 0; y < ph; ++y) {
            for(int x = 0; x < pw; ++x) {
                int cell = (y / g->cell_px) * g->gw + x / g->cell_px;
                patch[((size_t)k * ph + y) * pw + x] = cell < g->bits ? cells[cell] : 0;
            }
        }
    }
}

void dsn_patch_grad_to_cells(float *cells, const float *grad_patch, const dsn_geometry *g, int c)
{
    int pw = g->gw * g->cell_px, ph = g->gh * g->cell_px;
    for(int i = 0; i < g->bits; ++i) cells[i] = 0;
    for(int k = 0; k < c; ++k) {
        for(int y = 0; y < ph; ++y) {
            for(int x = 0; x < pw; ++x) {
                int cell = (y / g->cell_px) * g->gw + x / g->cell_px;
                if(cell < g->bits) cells[cell] += grad_patch[((size_t)k * ph + y) * pw + x];
            }
        }
    }
}

void dsn_patch_gather(float *patch, const float *im, const dsn_geometry *g, int c)
{
    int pw = g->gw * g->cell_px, ph = g->gh * g->cell_px;
    for(int k = 0; k < c; ++k) {
        for(int y = 0; y < ph; ++y) {
            for(int x = 0; x < pw; ++x) {
                patch[((size_t)k * ph + y) * pw + x] =
                    im[((size_t)k * g->h + g->y0 + y) * g->w + g->x0 + x];
            }
        }
    }
}

void dsn_input_apply(float *im, int c, const dsn_input *in)
{
    if(!in || !in->geo) return;
    const dsn_geometry *g = in->geo;
    if(in->serial) dsn_stamp_apply(im, c, g, in->serial);
    if(!in->patch) return;
    int pw = g->gw * g->cell_px, ph = g->gh * g->cell_px;
    for(int k = 0; k < c; ++k) {
        for(int y = 0; y < ph; ++y) {
            for(int x = 0; x < pw; ++x) {
                if(!dsn_stamp_covers(g, g->x0 + x, g->y0 + y)) continue;
                im[((size_t)k * g->h + g->y0 + y) * g->w + g->x0 + x] = in->patch[((size_t)k * ph + y) * pw + x];
            }
        }
    }
    dsn_stamp_frame(im, c, g);   /* the public frame, or the patch wrapped into it: what an attacker would paste */
}

void dsn_patch_gradient(float *gpatch, const float *delta, int B, int inputs, const dsn_geometry *g, int c)
{
    int pw = g->gw * g->cell_px;
    size_t plane = (size_t)g->gh * g->cell_px * pw;
    memset(gpatch, 0, (size_t)dsn_patch_size(g, c) * sizeof *gpatch);
    for(int y = g->sy0; y < g->sy0 + g->sh * g->cell_px; ++y) {
        for(int x = g->sx0; x < g->sx0 + g->sw * g->cell_px; ++x) {
            int sx, sy;
            if(!dsn_stamp_source(g, x, y, &sx, &sy)) continue;
            size_t at = (size_t)(sy - g->y0) * pw + (size_t)(sx - g->x0);
            for(int b = 0; b < B; ++b) {
                for(int k = 0; k < c; ++k)
                    gpatch[k * plane + at] -= delta[(size_t)b * inputs + ((size_t)k * g->h + y) * g->w + x] / B;
            }
        }
    }
}

/* ---- running ------------------------------------------------------------------------------ */

long dsn_run_rows(network *net, const dsn_eval_data *d, const int *img, long rows, dsn_row_fn fn, void *ctx,
                  int out_layer, uint8_t *correct, float *probs)
{
    int B = net->batch, inputs = d->w * d->h * d->c, classes = d->classes;
    float *in = calloc((size_t)B * inputs, sizeof(float));
    if(!in) return -1;
    long right = 0;
    for(long start = 0; start < rows; start += B) {
        long end = start + B < rows ? start + B : rows;
        for(long r = start; r < end; ++r) {
            float *row = in + (size_t)(r - start) * inputs;
            memcpy(row, d->x + (size_t)img[r] * inputs, (size_t)inputs * sizeof(float));
            if(fn) fn(ctx, r, row);
        }
        if(end - start < B) memset(in + (size_t)(end - start) * inputs, 0, (size_t)(B - (end - start)) * inputs * sizeof(float));
        float *out = network_predict(net, in);
        if(out_layer >= 0) out = net->layers[out_layer].output;
        for(long r = start; r < end; ++r) {
            const float *o = out + (size_t)(r - start) * classes;
            int best = 0;
            for(int k = 1; k < classes; ++k) {
                if(o[k] > o[best]) best = k;
            }
            int ok = best == d->label[img[r]];
            right += ok;
            if(correct) correct[r] = (uint8_t)ok;
            if(probs) memcpy(probs + (size_t)r * classes, o, (size_t)classes * sizeof(float));
        }
    }
    free(in);
    return right;
}

typedef struct image_ctx { const dsn_input *in; int c; } image_ctx;

static void image_row(void *ctx, long row, float *im)
{
    (void)row;
    const image_ctx *x = ctx;
    dsn_input_apply(im, x->c, x->in);
}

long dsn_run_images(network *net, const dsn_eval_data *d, const int *idx, int n, const dsn_input *in,
                    int out_layer, uint8_t *correct, float *probs)
{
    int *all = NULL;
    if(!idx) {
        if(!(all = malloc((size_t)(n ? n : 1) * sizeof *all))) return -1;
        for(int i = 0; i < n; ++i) all[i] = i;
        idx = all;
    }
    image_ctx ctx = {in, d->c};
    long right = dsn_run_rows(net, d, idx, n, in ? image_row : NULL, &ctx, out_layer, correct, probs);
    free(all);
    return right;
}

/* ---- training ----------------------------------------------------------------------------- */

void dsn_fit_opts_init(dsn_fit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iterations = 100;
    o->lr = 1e-3f;
    o->out_layer = -1;
}

void dsn_fit_result_free(dsn_fit_result *r)
{
    if(!r) return;
    free(r->curve_iter);
    free(r->curve_acc);
    memset(r, 0, sizeof *r);
}

void dsn_ints_sha256(char out[65], const int *v, long n)
{
    uint8_t *bytes = malloc((size_t)(n > 0 ? n : 1) * 4), h[DSN_SHA256_BYTES];
    if(!bytes) {
        snprintf(out, 65, "?");
        return;
    }
    for(long i = 0; i < n; ++i) {
        uint32_t u = (uint32_t)v[i];
        for(int b = 0; b < 4; ++b) bytes[4 * i + b] = (uint8_t)(u >> (8 * b));
    }
    if(dsn_sha256(h, bytes, (size_t)n * 4) != 0) snprintf(out, 65, "?");
    else dsn_hex_encode(out, h, DSN_SHA256_BYTES);
    free(bytes);
}

static int curve_point(network *net, const dsn_fit_opts *o, dsn_fit_result *r, int iter)
{
    long right = dsn_run_images(net, o->test, o->test_idx, o->test_n, o->test_in, o->out_layer, NULL, NULL);
    if(right < 0) return -1;
    r->curve_iter[r->n_curve] = iter;
    r->curve_acc[r->n_curve] = 100.0 * right / (o->test_n ? o->test_n : 1);
    ++r->n_curve;
    return 0;
}

/* The next batch's image positions: an epoch-wise shuffle of 0..n-1, continued across epochs. */
typedef struct order { int *perm, n, at; dsn_rng rng; } order;

static void order_shuffle(order *o)
{
    for(int i = o->n - 1; i > 0; --i) {
        int j = dsn_rng_below(&o->rng, i + 1), t = o->perm[i];
        o->perm[i] = o->perm[j];
        o->perm[j] = t;
    }
    o->at = 0;
}

static int order_next(order *o)
{
    if(o->at == o->n) order_shuffle(o);
    return o->perm[o->at++];
}

int dsn_fit(network *net, const dsn_eval_data *train, const int *idx, int n, const dsn_fit_opts *o,
            dsn_fit_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = now_seconds();
    int B = net->batch, inputs = train->w * train->h * train->c, classes = train->classes;
    int points = o->eval_every > 0 && o->test ? o->iterations / o->eval_every + 2 : 0;
    order ord = {0};
    int *seq = malloc((size_t)B * (o->iterations > 0 ? o->iterations : 1) * sizeof *seq);
    ord.perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *ord.perm);
    r->curve_iter = calloc((size_t)points + 1, sizeof *r->curve_iter);
    r->curve_acc = calloc((size_t)points + 1, sizeof *r->curve_acc);
    if(!seq || !ord.perm || !r->curve_iter || !r->curve_acc || n < 1) goto fail;
    ord.n = n;
    for(int i = 0; i < n; ++i) ord.perm[i] = i;
    dsn_rng_stream(&ord.rng, o->order_seed, 0x6f72646572ull);
    order_shuffle(&ord);

    net->learning_rate = o->lr;
    net->policy = CONSTANT;
    net->burn_in = 0;
    net->max_batches = o->iterations;
    net->subdivisions = 1;
    *net->seen = 0;
    *net->t = 0;
    r->iterations = o->iterations;
    r->batch = B;
    r->lr = o->lr;
    dsn_ints_sha256(r->images_sha256, idx, n);
    if(points && curve_point(net, o, r, 0) != 0) goto fail;
    double head = 0, tail = 0;
    int nhead = 0;
    for(int it = 0; it < o->iterations; ++it) {
        for(int b = 0; b < B; ++b) {
            int j = order_next(&ord), im = idx[j];
            seq[(size_t)it * B + b] = im;
            float *row = net->input + (size_t)b * inputs;
            memcpy(row, train->x + (size_t)im * inputs, (size_t)inputs * sizeof(float));
            if(o->prep) o->prep(o->prep_ctx, j, row);
            float *t = net->truth + (size_t)b * net->truths;
            memset(t, 0, (size_t)net->truths * sizeof(float));
            if(o->targets) memcpy(t, o->targets + (size_t)j * classes, (size_t)classes * sizeof(float));
            else t[train->label[im]] = 1;
        }
        float loss = train_network_datum(net) / B;
        r->rows_seen += B;
        if(nhead < 10) head += loss, ++nhead;
        if(it >= o->iterations - 10) tail += loss;
        if(points && ((it + 1) % o->eval_every == 0 || it + 1 == o->iterations) && curve_point(net, o, r, it + 1) != 0)
            goto fail;
    }
    r->first_loss = nhead ? head / nhead : 0;
    r->last_loss = o->iterations ? tail / (o->iterations < 10 ? o->iterations : 10) : 0;
    dsn_ints_sha256(r->order_sha256, seq, (long)B * o->iterations);
    free(seq);
    free(ord.perm);
    r->seconds = now_seconds() - t0;
    return 0;
fail:
    free(seq);
    free(ord.perm);
    dsn_fit_result_free(r);
    return -1;
}

/* ---- small maths ---------------------------------------------------------------------------- */

double dsn_rng_normal(dsn_rng *r)
{
    double u1 = dsn_rng_uniform(r), u2 = dsn_rng_uniform(r);
    if(u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

void dsn_rng_stream(dsn_rng *r, uint64_t seed, uint64_t tag)
{
    dsn_rng_seed(r, seed * 0x9E3779B97F4A7C15ull ^ (tag * 0xD1B54A32D192ED03ull + 0x5851F42D4C957F2Dull));
}

/* finite by the exponent bits: -Ofast folds isfinite() and NaN comparisons away */
static int finite_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return ((u >> 52) & 0x7ff) != 0x7ff;
}

int dsn_parse_real(const char *s, double *out)
{
    char *end;
    if(!s || !*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if(errno || end == s || *end || !finite_bits(v)) return -1;
    *out = v;
    return 0;
}

int dsn_file_sha256(char out[65], const char *path, char *err, size_t errlen)
{
    size_t len;
    uint8_t h[DSN_SHA256_BYTES];
    char *data = dsn_read_file_err(path, (size_t)1 << 34, &len, err, errlen);
    if(!data) return -1;
    int rc = dsn_sha256(h, (const uint8_t *)data, len);
    free(data);
    if(rc != 0) {
        snprintf(err, errlen, "%s: SHA-256 failed", path);
        return -1;
    }
    dsn_hex_encode(out, h, DSN_SHA256_BYTES);
    return 0;
}
