/* The DSN layers: gradients against central finite differences, the stamp's roles and pixels,
 * and a clear fatal error for each bad option. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_layers.h"
#include "dsn_test.h"
#include "distill_kl_layer.h"
#include "gradient_reversal_layer.h"
#include "masked_softmax_layer.h"
#include "serial_stamp_layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((*s >> 8) & 0xffff) / 65536.f - .5f;
}

static double rel_err(const double *a, const double *b, int n)
{
    double e = 0, na = 0, nb = 0;
    int i;
    for(i = 0; i < n; ++i){ e += (a[i] - b[i])*(a[i] - b[i]); na += a[i]*a[i]; nb += b[i]*b[i]; }
    return sqrt(e) / fmax(sqrt(fmax(na, nb)), 1e-12);
}

/* ---- gradient_reversal ------------------------------------------------------------------- */
static void test_grl_sign_and_lambda(void **state)
{
    (void)state;
    layer l = make_gradient_reversal_layer(2, 3, 1, 1, 0.7f, 0);
    network net = {0};
    size_t seen = 0;
    float in[6], d[6] = {0};
    unsigned s = 1;
    int i;
    for(i = 0; i < 6; ++i){ in[i] = frand(&s); l.delta[i] = frand(&s); d[i] = 0.25f; }
    net.input = in;
    net.delta = d;
    net.seen = &seen;
    net.batch = 2;
    net.subdivisions = 1;
    net.max_batches = 100;
    forward_gradient_reversal_layer(l, net);
    for(i = 0; i < 6; ++i) assert_float_equal(l.output[i], in[i], 0);
    backward_gradient_reversal_layer(l, net);
    for(i = 0; i < 6; ++i) assert_float_equal(d[i], 0.25f - 0.7f*l.delta[i], 1e-7);
    /* the DANN ramp: lambda * (2/(1+exp(-gamma p)) - 1) at p = seen/(batch*subdiv)/max_batches */
    l.alpha = 10;
    seen = 2*25;                      /* 25 batches of 100: p = 0.25 */
    float want = 0.7f*(2.f/(1.f + expf(-2.5f)) - 1.f);
    assert_float_equal(gradient_reversal_lambda(&l, &net), want, 1e-6);
    seen = 0;
    assert_float_equal(gradient_reversal_lambda(&l, &net), 0, 1e-7);
    free(l.output);
    free(l.delta);
}

/* ---- distill_kl: finite differences of its reported cost ---------------------------------- */
static void check_kl_gradient_to(float T, float hard, float push, int normalize, int push_class)
{
    enum { B = 5, N = 4 };
    distill_kl_params p = {T, hard, push, normalize, push_class >= 0, push_class};
    float z[B*N], q[B*N], truth[B*N] = {0}, out[B*N], delta[B*N];
    const float mask[B] = {1, 0, 1, 0, 0};
    unsigned s = 7;
    int i, b, j = 0;
    for(i = 0; i < B*N; ++i) z[i] = 2*frand(&s);
    for(b = 0; b < B; ++b){
        truth[b*N + b % N] = 1;
        if(mask[b] > .5f){                       /* teacher probabilities for the I=1 rows */
            float sum = 0;
            for(i = 0; i < N; ++i){ q[j*N + i] = expf(3*frand(&s)); sum += q[j*N + i]; }
            for(i = 0; i < N; ++i) q[j*N + i] /= sum;
            ++j;
        }
    }
    distill_kl_compute(&p, B, N, z, q, mask, truth, out, delta, 0, 0, 0, 0);
    double num[B*N], ana[B*N];
    const float h = 1e-2f;
    for(i = 0; i < B*N; ++i){
        float keep = z[i], scratch[B*N], sd[B*N];
        z[i] = keep + h;
        double up = distill_kl_compute(&p, B, N, z, q, mask, truth, scratch, sd, 0, 0, 0, 0);
        z[i] = keep - h;
        double dn = distill_kl_compute(&p, B, N, z, q, mask, truth, scratch, sd, 0, 0, 0, 0);
        z[i] = keep;
        num[i] = -(up - dn)/(2*h);               /* Darknet's delta is minus the gradient */
        ana[i] = delta[i];
    }
    double e = rel_err(num, ana, B*N);
    print_message("  distill_kl T=%g hard=%g push=%g normalize=%d push_class=%d: relative error %.2g\n", T, hard, push,
                  normalize, push_class, e);
    assert_true(e < 1e-3);
    /* masking: with push=0 and hard=0, I=0 rows get no gradient at all */
    if(push == 0 && hard == 0) for(b = 0; b < B; ++b) if(mask[b] < .5f) for(i = 0; i < N; ++i) assert_float_equal(delta[b*N + i], 0, 0);
    /* the output is the softmax at T=1 */
    for(b = 0; b < B; ++b){
        float sum = 0;
        for(i = 0; i < N; ++i) sum += out[b*N + i];
        assert_float_equal(sum, 1, 1e-5);
    }
}

static void check_kl_gradient(float T, float hard, float push, int normalize)
{
    check_kl_gradient_to(T, hard, push, normalize, -1);
}

static void test_kl_gradient_T1(void **s) { (void)s; check_kl_gradient(1, 0, 0, 0); check_kl_gradient(1, .5f, .5f, 1); }

/* push_class: the I=0 rows pushed towards one constant answer. The gradient of the reported
 * cost, and its minimum: an I=0 row already at 0.9 e_c + 0.1/N has no push gradient and no loss. */
static void test_kl_push_class(void **s)
{
    (void)s;
    check_kl_gradient_to(4, .5f, .5f, 1, 2);
    check_kl_gradient_to(1, 0, 1, 0, 0);
    enum { N = 4 };
    distill_kl_params p = {4, 0, 1, 0, 1, 2};
    float z[N], out[N], delta[N], row_push, u[N];
    const float mask[1] = {0};
    for(int i = 0; i < N; ++i){ u[i] = DSN_PUSH_SMOOTH/N + (i == 2 ? 1 - DSN_PUSH_SMOOTH : 0); z[i] = logf(u[i]); }
    distill_kl_compute(&p, 1, N, z, NULL, mask, NULL, out, delta, &row_push, 0, 0, 0);
    for(int i = 0; i < N; ++i) assert_float_equal(delta[i], 0, 1e-6);
    assert_float_equal(row_push, 0, 1e-6);
    z[0] += 1;                                   /* away from it: a loss, pulled back */
    distill_kl_compute(&p, 1, N, z, NULL, mask, NULL, out, delta, &row_push, 0, 0, 0);
    assert_true(row_push > 1e-3f && delta[0] < 0 && delta[2] > 0);
}
static void test_kl_gradient_T4(void **s) { (void)s; check_kl_gradient(4, 0, 0, 0); check_kl_gradient(4, .5f, .5f, 1); check_kl_gradient(4, 0, .5f, 0); }

/* KL is zero (and so is the KD gradient) when the student matches the teacher at T. */
static void test_kl_zero_at_match(void **state)
{
    (void)state;
    distill_kl_params p = {4, 0, 0, 0, 0, 0};
    float z[3] = {1, -2, .5f}, q[3], out[3], delta[3], kd;
    const float mask[1] = {1};
    float sum = 0;
    int i;
    for(i = 0; i < 3; ++i){ q[i] = expf(z[i]/4); sum += q[i]; }
    for(i = 0; i < 3; ++i) q[i] /= sum;
    distill_kl_compute(&p, 1, 3, z, q, mask, 0, out, delta, 0, &kd, 0, 0);
    assert_float_equal(kd, 0, 1e-6);
    for(i = 0; i < 3; ++i) assert_float_equal(delta[i], 0, 1e-6);
}

/* ---- masked_softmax ---------------------------------------------------------------------- */
static void check_masked_gradient(int select, int normalize)
{
    enum { B = 6, N = 3 };
    float z[B*N], truth[B*N] = {0}, out[B*N], delta[B*N];
    const float mask[B] = {1, 0, 0, 1, 0, 1};
    unsigned s = 13;
    int i, b;
    for(i = 0; i < B*N; ++i) z[i] = 2*frand(&s);
    for(b = 0; b < B; ++b) truth[b*N + (b*7) % N] = 1;
    masked_softmax_compute(select, 1.5f, normalize, B, N, z, mask, truth, out, delta, 0, 0);
    double num[B*N], ana[B*N];
    const float h = 1e-2f;
    for(i = 0; i < B*N; ++i){
        float keep = z[i], so[B*N], sd[B*N];
        z[i] = keep + h;
        double up = masked_softmax_compute(select, 1.5f, normalize, B, N, z, mask, truth, so, sd, 0, 0);
        z[i] = keep - h;
        double dn = masked_softmax_compute(select, 1.5f, normalize, B, N, z, mask, truth, so, sd, 0, 0);
        z[i] = keep;
        num[i] = -(up - dn)/(2*h);
        ana[i] = delta[i];
    }
    double e = rel_err(num, ana, B*N);
    print_message("  masked_softmax select=%d normalize=%d: relative error %.2g\n", select, normalize, e);
    assert_true(e < 1e-3);
    for(b = 0; b < B; ++b){
        int sel = select == MASKED_ALL || (select == MASKED_NEG) == (mask[b] < .5f);
        if(!sel) for(i = 0; i < N; ++i) assert_float_equal(delta[b*N + i], 0, 0);
    }
}

static void test_masked_gradient(void **state)
{
    (void)state;
    check_masked_gradient(MASKED_NEG, 1);
    check_masked_gradient(MASKED_NEG, 0);
    check_masked_gradient(MASKED_POS, 1);
    check_masked_gradient(MASKED_ALL, 0);
}

/* ---- serial_stamp: roles ------------------------------------------------------------------ */
/* A stamp layer with `frame` rings (wrap: the grid's opposite edges) round a `bits` grid. */
static layer framed_stamp_layer(int batch, int w, int h, int c, int bits, int frame, int wrap)
{
    dsn_geometry g;
    char err[200];
    assert_int_equal(dsn_geometry_init(&g, bits, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, frame, wrap, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, w, h, err, sizeof err), 0);
    return make_serial_stamp_layer(batch, w, h, c, &g);
}

static layer stamp_layer(int batch, int w, int h, int c, int bits)
{
    return framed_stamp_layer(batch, w, h, c, bits, 0, 0);
}

static void random_serial(dsn_serial *sn, int bits, unsigned seed)
{
    uint8_t bytes[32];
    unsigned s = seed;
    int i;
    for(i = 0; i < 32; ++i){ s = s*1664525u + 1013904223u; bytes[i] = (uint8_t)(s >> 24); }
    assert_int_equal(dsn_serial_from_bytes(sn, bytes, sizeof bytes, bits), 0);
}

/* A soft row: every cell in [0,1], some not 0 or 1; its pixels are exactly those cell values. */
static void soft_cells_check(float *want, const layer *l, const dsn_stamp_state *s, int b)
{
    const float *v = s->rowval + (size_t)b*s->geo.bits;
    int i, fractional = 0;
    for(i = 0; i < s->geo.bits; ++i){
        assert_true(v[i] >= 0 && v[i] <= 1);
        fractional += v[i] != 0 && v[i] != 1;
    }
    assert_true(fractional > 0);
    dsn_stamp_apply_values(want, l->c, &s->geo, v);
}

static void test_stamp_role_counts_and_distances(void **state)
{
    (void)state;
    static const int batches[] = {1, 3, 7, 10, 13, 100};
    size_t k;
    for(k = 0; k < sizeof batches / sizeof batches[0]; ++k){
        int batch = batches[k], b, r;
        layer l = stamp_layer(batch, 12, 12, 3, 16);
        dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
        random_serial(&s->serial, 16, 42);
        s->has_serial = 1;
        s->near_one = .5f;
        dsn_rng_seed(&s->rng, 9);
        assert_int_equal(serial_stamp_set_roles(&l, .3f, .15f, .3f, .1f, 3), 0);
        /* largest-remainder counts: each within floor/ceil of its quota, summing to the batch */
        const float frac[DSN_ROLE_COUNT] = {.3f, .15f, .3f, .1f, .15f};
        int total = 0;
        for(r = 0; r < DSN_ROLE_COUNT; ++r){
            float q = frac[r]*batch;
            assert_true(s->count[r] >= (int)floorf(q + 1e-5f) && s->count[r] <= (int)ceilf(q - 1e-5f));
            total += s->count[r];
        }
        assert_int_equal(total, batch);
        float *in = calloc((size_t)batch*l.inputs, sizeof(float));
        network net = {0};
        net.input = in;
        net.train = 1;
        int rep;
        for(rep = 0; rep < 20; ++rep){
            forward_serial_stamp_layer(l, net);
            int seen[DSN_ROLE_COUNT] = {0};
            for(b = 0; b < batch; ++b){
                int role = s->role[b], d = s->stamped[b] ? dsn_serial_hamming(&s->rowser[b], &s->serial) : -1;
                seen[role]++;
                assert_int_equal(s->mask[b] > .5f, role == DSN_ROLE_VALID);
                if(role == DSN_ROLE_VALID) assert_int_equal(d, 0);
                if(role == DSN_ROLE_FORGED) assert_true(d > 0);
                if(role == DSN_ROLE_NEAR) assert_true(d >= 1 && d <= 3);
                if(role == DSN_ROLE_RAW) assert_int_equal(s->stamped[b], 0);
                if(role == DSN_ROLE_SOFT) assert_int_equal(s->stamped[b], 2);
                /* the pixels: a stamped row equals the shared stamp of its serial (or its cell values),
                   a raw row is untouched */
                float *want = calloc(l.inputs, sizeof(float));
                if(s->stamped[b] == 1) dsn_stamp_apply(want, l.c, &s->geo, &s->rowser[b]);
                if(s->stamped[b] == 2) soft_cells_check(want, &l, s, b);
                assert_memory_equal(want, l.output + b*l.outputs, l.inputs*sizeof(float));
                free(want);
            }
            for(r = 0; r < DSN_ROLE_COUNT; ++r) assert_int_equal(seen[r], s->count[r]);
            assert_int_equal(s->n_valid, s->count[DSN_ROLE_VALID]);
        }
        free(in);
        free(l.output);
        destroy_serial_stamp(l);
    }
}

/* soft_pool: the pool climbs towards whatever the feedback rewards. Here the "push loss" of a row
 * is exp(-|v - target|^2) for a hidden target stamp (a network that unlocks near it): after 300
 * batches of selection the best member has a far higher score than any of the random starts and
 * lies near the target, while half of the soft rows still come from the three fixed kinds. */
static void test_soft_pool_climbs(void **state)
{
    (void)state;
    const int batch = 20, bits = 16;
    layer l = stamp_layer(batch, 12, 12, 1, bits);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    random_serial(&s->serial, bits, 7);
    s->has_serial = 1;
    dsn_rng_seed(&s->rng, 3);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, 0, 1, 1), 0);
    serial_stamp_set_pool(&l, 8);
    float target[16], start_best = 0;
    int i, b, it, pooled = 0, fixed = 0;
    for(i = 0; i < bits; ++i) target[i] = (float)((i*7) % 11) / 10.f;
    for(i = 0; i < 8; ++i){
        float d = 0;
        for(int k = 0; k < bits; ++k) d += (s->pool[i*bits + k] - target[k])*(s->pool[i*bits + k] - target[k]);
        if(expf(-d) > start_best) start_best = expf(-d);
    }
    float *in = calloc((size_t)batch*l.inputs, sizeof(float));
    network net = {0};
    net.input = in;
    net.train = 1;
    for(it = 0; it < 300; ++it){
        forward_serial_stamp_layer(l, net);
        for(b = 0; b < batch; ++b){
            assert_int_equal(s->role[b], DSN_ROLE_SOFT);
            pooled += s->pool_src[b] >= 0;
            fixed += s->pool_src[b] < 0;
            float d = 0, *v = s->rowval + (size_t)b*bits;
            for(i = 0; i < bits; ++i) d += (v[i] - target[i])*(v[i] - target[i]);
            dsn_stamp_feedback(s, b, expf(-d));
        }
    }
    float best = 0, dist = 0;
    for(i = 0; i < 8; ++i){
        float d = 0;
        for(int k = 0; k < bits; ++k) d += (s->pool[i*bits + k] - target[k])*(s->pool[i*bits + k] - target[k]);
        if(expf(-d) > best){ best = expf(-d); dist = sqrtf(d); }
    }
    print_message("  soft pool: best score %.3f (random starts %.3f), distance %.3f; rows %d pooled, %d fixed kinds\n",
                  best, start_best, dist, pooled, fixed);
    assert_true(best > 0.8f && best > 4*start_best);
    assert_true(pooled > 2000 && fixed > 2000);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* augment=P: a training row's raw image becomes exactly one of the five distortions (checked against
 * references written here: a shift of up to 3 px, plus-shaped erosion, 3x3 dilation, the [1 2 1]
 * blur, fainter ink) or stays as it was, in place (the teacher reads net.input), with probability P;
 * every channel the same way. */
static float at(const float *p, int w, int h, int x, int y)
{
    return (x < 0 || y < 0 || x >= w || y >= h) ? 0 : p[y*w + x];
}

static int matches_a_distortion(const float *orig, const float *got, int w, int h)
{
    int x, y, dx, dy, ok;
    float ref[16*16];
    if(!memcmp(orig, got, (size_t)w*h*sizeof(float))) return 1;                     /* untouched */
    for(dy = -3; dy <= 3; ++dy) for(dx = -3; dx <= 3; ++dx){                       /* shift     */
        for(ok = 1, y = 0; y < h; ++y) for(x = 0; x < w; ++x) ok &= got[y*w + x] == at(orig, w, h, x - dx, y - dy);
        if(ok && (dx || dy)) return 2;
    }
    for(y = 0; y < h; ++y) for(x = 0; x < w; ++x){                                 /* erosion   */
        float m = orig[y*w + x];
        m = fminf(m, fminf(at(orig, w, h, x - 1, y), at(orig, w, h, x + 1, y)));
        ref[y*w + x] = fminf(m, fminf(at(orig, w, h, x, y - 1), at(orig, w, h, x, y + 1)));
    }
    if(!memcmp(ref, got, (size_t)w*h*sizeof(float))) return 3;
    for(y = 0; y < h; ++y) for(x = 0; x < w; ++x){                                 /* dilation  */
        float m = 0;
        for(dy = -1; dy <= 1; ++dy) for(dx = -1; dx <= 1; ++dx) m = fmaxf(m, at(orig, w, h, x + dx, y + dy));
        ref[y*w + x] = m;
    }
    if(!memcmp(ref, got, (size_t)w*h*sizeof(float))) return 4;
    for(ok = 1, y = 0; y < h; ++y) for(x = 0; x < w; ++x){                         /* blur      */
        float acc = 0, ws = 0;
        for(dy = -1; dy <= 1; ++dy) for(dx = -1; dx <= 1; ++dx){
            float k = (float)((2 - dx*dx)*(2 - dy*dy));
            acc += k*at(orig, w, h, x + dx, y + dy);
            ws += k;
        }
        ok &= fabsf(got[y*w + x] - acc/ws) < 1e-6f;
    }
    if(ok) return 5;
    float a = -1;                                                                  /* fainter   */
    for(ok = 1, y = 0; y < w*h; ++y){
        if(orig[y] > .5f && a < 0) a = got[y]/orig[y];
    }
    for(y = 0; y < w*h; ++y) ok &= fabsf(got[y] - a*orig[y]) < 1e-6f;
    return ok && a >= .6f && a <= 1 ? 6 : 0;
}

static void test_stamp_augment(void **state)
{
    (void)state;
    const int batch = 50, w = 16, h = 16, c = 2;
    layer l = stamp_layer(batch, w, h, c, 16);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    dsn_rng_seed(&s->rng, 5);
    s->augment = .7f;
    float orig[16*16], *in = calloc((size_t)batch*l.inputs, sizeof(float));
    for(int i = 0; i < w*h; ++i) orig[i] = (float)((i*37) % 101)/100.f;         /* some texture */
    network net = {0};
    net.input = in;
    net.train = 1;
    int kinds[7] = {0}, it, b, k;
    for(it = 0; it < 20; ++it){
        for(b = 0; b < batch; ++b) for(k = 0; k < c; ++k) memcpy(in + (size_t)b*l.inputs + k*w*h, orig, sizeof orig);
        forward_serial_stamp_layer(l, net);
        for(b = 0; b < batch; ++b){
            const float *row = in + (size_t)b*l.inputs;
            int kind = matches_a_distortion(orig, row, w, h);
            assert_true(kind > 0);
            assert_memory_equal(row, row + w*h, (size_t)w*h*sizeof(float));      /* channels alike */
            assert_memory_equal(row, l.output + (size_t)b*l.outputs, l.inputs*sizeof(float));  /* raw rows */
            kinds[kind]++;
        }
    }
    print_message("  augment: untouched %d, shift %d, erode %d, dilate %d, blur %d, fainter %d\n",
                  kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6]);
    assert_true(kinds[1] > 200 && kinds[1] < 400);        /* 30% of 1,000 rows untouched */
    for(k = 2; k <= 6; ++k) assert_true(kinds[k] > 80);
    /* not at deploy time */
    net.train = 0;
    memcpy(in, orig, sizeof orig);
    memcpy(in + w*h, orig, sizeof orig);
    forward_serial_stamp_layer(l, net);
    assert_memory_equal(in, orig, sizeof orig);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* One training batch of 64 single-flip rows (near=1, near_max=1) over a 9-bit serial on a 9x9
 * input, with near_soft as given; *in is the (zero) input, for the caller to free. */
static layer single_flip_batch(float near_soft, float **in)
{
    layer l = stamp_layer(64, 9, 9, 1, 9);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    random_serial(&s->serial, 9, 5);
    s->has_serial = 1;
    s->near_soft = near_soft;
    dsn_rng_seed(&s->rng, 3);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, 1, 0, 1), 0);
    *in = calloc((size_t)64*l.inputs, sizeof(float));
    network net = {0};
    net.input = *in;
    net.train = 1;
    forward_serial_stamp_layer(l, net);
    return l;
}

/* near_max=1 and near=1: every row is exactly one bit away; over many rows every bit is hit. */
static void test_stamp_near_single_flips_cover_bits(void **state)
{
    (void)state;
    float *in;
    layer l = single_flip_batch(0, &in);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    int hit[9] = {0}, b, i;
    for(b = 0; b < 64; ++b){
        assert_int_equal(dsn_serial_hamming(&s->rowser[b], &s->serial), 1);
        assert_true(s->flip_bit[b] >= 0 && s->flip_bit[b] < 9);
        hit[s->flip_bit[b]]++;
    }
    for(i = 0; i < 9; ++i) assert_true(hit[i] > 0);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* near_soft=0.5 with near_max=1: about half the single flips are continuous rows, the valid serial
 * with exactly one cell moved by 0.3-0.9 towards its opposite, stamped pixel by pixel; those rows
 * give the miner no feedback (flip_bit -1), the whole flips still do. */
static void test_stamp_near_partial_flips(void **state)
{
    (void)state;
    float *in;
    layer l = single_flip_batch(.5f, &in);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    float *want = calloc(l.inputs, sizeof(float));
    int b, i, partial = 0, whole = 0;
    for(b = 0; b < 64; ++b){
        assert_int_equal(s->role[b], DSN_ROLE_NEAR);
        assert_true(s->mask[b] < .5f);
        memset(want, 0, l.inputs*sizeof(float));
        if(s->stamped[b] == 1){
            assert_int_equal(dsn_serial_hamming(&s->rowser[b], &s->serial), 1);
            assert_true(s->flip_bit[b] >= 0);
            dsn_stamp_apply(want, l.c, &s->geo, &s->rowser[b]);
            ++whole;
        }else{
            assert_int_equal(s->stamped[b], 2);
            assert_int_equal(s->flip_bit[b], -1);
            const float *v = s->rowval + (size_t)b*9;
            int moved = 0;
            for(i = 0; i < 9; ++i){
                float d = fabsf(v[i] - (float)s->serial.bit[i]);
                if(d == 0) continue;
                ++moved;
                assert_true(d >= .3f - 1e-6f && d <= .9f + 1e-6f);
            }
            assert_int_equal(moved, 1);
            dsn_stamp_apply_values(want, l.c, &s->geo, v);
            ++partial;
        }
        assert_memory_equal(want, l.output + b*l.outputs, l.inputs*sizeof(float));
    }
    assert_true(partial >= 16 && whole >= 16);
    free(want);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* swap=1: every near row exchanges two 8-neighbouring cells of different value (Hamming 2, one
 * cell moved by one place); over many rows, many different pairs. A serial with no such pair
 * (all zeros) falls back to ordinary flips. */
static void test_stamp_near_swaps(void **state)
{
    (void)state;
    layer l = stamp_layer(64, 12, 12, 1, 16);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    random_serial(&s->serial, 16, 7);
    s->has_serial = 1;
    s->swap = 1;
    dsn_rng_seed(&s->rng, 4);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, 1, 0, 1), 0);
    float *in = calloc((size_t)64*l.inputs, sizeof(float));
    network net = {0};
    net.input = in;
    net.train = 1;
    int pairs[16*16] = {0}, distinct = 0, b, i, rep;
    for(rep = 0; rep < 4; ++rep){
        forward_serial_stamp_layer(l, net);
        for(b = 0; b < 64; ++b){
            int at[2], n = 0;
            for(i = 0; i < 16; ++i) if(s->rowser[b].bit[i] != s->serial.bit[i] && n < 2) at[n++] = i;
            assert_int_equal(dsn_serial_hamming(&s->rowser[b], &s->serial), 2);
            assert_int_not_equal(s->serial.bit[at[0]], s->serial.bit[at[1]]);   /* a swap, not two flips */
            int dx = at[1] % 4 - at[0] % 4, dy = at[1] / 4 - at[0] / 4;        /* 4x4 grid */
            assert_true(dx >= -1 && dx <= 1 && dy >= 0 && dy <= 1);
            distinct += pairs[at[0]*16 + at[1]]++ == 0;
        }
    }
    assert_true(distinct >= 10);
    memset(s->serial.bit, 0, sizeof s->serial.bit);   /* no pair differs: single flips instead */
    forward_serial_stamp_layer(l, net);
    for(b = 0; b < 64; ++b) assert_int_equal(dsn_serial_hamming(&s->rowser[b], &s->serial), 1);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* The near row of item `item` (a bit, or bits + k for swap pair k) is exactly the valid serial
 * with that bit flipped or that pair exchanged. */
static void check_near_item(const dsn_stamp_state *s, const dsn_serial *row, int item, const int *pairs)
{
    dsn_serial want = s->serial;
    int n = s->geo.bits;
    if(item < n) want.bit[item] ^= 1;
    else {
        want.bit[pairs[2*(item - n)]] ^= 1;
        want.bit[pairs[2*(item - n) + 1]] ^= 1;
    }
    assert_int_equal(dsn_serial_hamming(row, &want), 0);
}

/* Swaps and single flips over batches of near rows: (share of swap rows that are `pair`, share of
 * single flips that are `bit`) in the last `last` of `batches` batches; feedback rewards the two
 * (push loss 1, others 0). cover[k] counts the rows of swap pair k. */
static void run_mined(layer l, int batches, int last, int bit, int pair, const int *pairs, int *cover,
                      float *share_pair, float *share_bit)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    int n = s->geo.bits, b, t, hit_pair = 0, swaps = 0, hit_bit = 0, flips = 0;
    network net = {0};
    net.input = calloc((size_t)l.batch*l.inputs, sizeof(float));
    net.train = 1;
    for(t = 0; t < batches; ++t){
        forward_serial_stamp_layer(l, net);
        for(b = 0; b < l.batch; ++b){
            int item = s->flip_bit[b];
            assert_true(item >= 0 && item < n + s->n_swaps);
            check_near_item(s, &s->rowser[b], item, pairs);
            if(item >= n) cover[item - n]++;
            if(t >= batches - last){
                if(item >= n){ swaps++; hit_pair += item == n + pair; }
                else{ flips++; hit_bit += item == bit; }
            }
            dsn_stamp_feedback(s, b, item == bit || item == n + pair ? 1.f : 0.f);
        }
    }
    *share_pair = (float)hit_pair/swaps;
    *share_bit = (float)hit_bit/flips;
    free(net.input);
}

/* mine=1: single flips and neighbour swaps drawn towards those whose push loss stays high (the
 * lock still accepts them); the swaps are dsn_serial_swaps' pairs, across the wrapped frame's
 * edges too, the same pairs dsn eval measures. Without mining every pair is drawn about alike.
 * An item's weight moves only in batches that draw it, so the others fade as they are drawn: 100
 * batches of 32 swaps and 32 flips. */
static void test_stamp_mining_flips_and_swaps(void **state)
{
    (void)state;
    layer l = framed_stamp_layer(64, 12, 12, 1, 16, 1, 1);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    random_serial(&s->serial, 16, 7);
    s->has_serial = 1;
    s->swap = .5f;
    s->mine_share = .9f;
    dsn_rng_seed(&s->rng, 5);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, 1, 0, 1), 0);
    int pairs[2*DSN_SWAPS_MAX], np = dsn_serial_swaps(pairs, &s->serial, s->geo.columns, 1), across = 0, k;
    int cover[DSN_SWAPS_MAX] = {0};
    for(k = 0; k < np; ++k) across += abs(pairs[2*k] % 4 - pairs[2*k + 1] % 4) == 3 || pairs[2*k + 1] / 4 - pairs[2*k] / 4 == 3;
    assert_true(np > 8 && across > 0);
    float share_pair, share_bit;
    run_mined(l, 12, 12, 3, np - 1, pairs, cover, &share_pair, &share_bit);   /* mine=0 */
    for(k = 0; k < np; ++k) assert_true(cover[k] > 0);                      /* every pair, edges too */
    assert_true(share_pair < .25f && share_bit < .25f);
    s->mine = 1;
    run_mined(l, 100, 10, 3, np - 1, pairs, cover, &share_pair, &share_bit);
    assert_true(share_pair > .5f && share_bit > .5f);   /* here 0.70 and 0.87; uniform 1/32, 1/16 */
    free(l.output);
    destroy_serial_stamp(l);
}

/* Deploy: every row stamped with the serial; without one, the input passes untouched. */
static void test_stamp_deploy(void **state)
{
    (void)state;
    layer l = stamp_layer(3, 10, 8, 3, 16);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    float *in = calloc((size_t)3*l.inputs, sizeof(float));
    unsigned r = 2;
    int i, b;
    for(i = 0; i < 3*l.inputs; ++i) in[i] = frand(&r) + .5f;
    network net = {0};
    net.input = in;
    forward_serial_stamp_layer(l, net);
    assert_memory_equal(l.output, in, 3*l.inputs*sizeof(float));
    random_serial(&s->serial, 16, 77);
    s->has_serial = 1;
    forward_serial_stamp_layer(l, net);
    for(b = 0; b < 3; ++b){
        float *want = malloc(l.inputs*sizeof(float));
        memcpy(want, in + b*l.inputs, l.inputs*sizeof(float));
        dsn_stamp_apply(want, 3, &s->geo, &s->serial);
        assert_memory_equal(want, l.output + b*l.outputs, l.inputs*sizeof(float));
        assert_float_equal(s->mask[b], 1, 0);
        free(want);
    }
    /* evaluation override: row b gets serials[b % 2]; has = 0 leaves it raw */
    dsn_serial two[2];
    uint8_t has[2] = {0, 1};
    random_serial(&two[1], 16, 78);
    s->override = malloc(sizeof two);
    s->override_has = malloc(2);
    memcpy(s->override, two, sizeof two);
    memcpy(s->override_has, has, 2);
    s->n_override = 2;
    forward_serial_stamp_layer(l, net);
    assert_memory_equal(l.output, in, l.inputs*sizeof(float));
    float *want = malloc(l.inputs*sizeof(float));
    memcpy(want, in + l.inputs, l.inputs*sizeof(float));
    dsn_stamp_apply(want, 3, &s->geo, &two[1]);
    assert_memory_equal(want, l.output + l.outputs, l.inputs*sizeof(float));
    free(want);
    free(in);
    free(l.output);
    destroy_serial_stamp(l);
}

/* ---- bad options: each a fatal error naming the option ------------------------------------ */
static char *bad_cfg;
static void parse_bad(void *arg)
{
    (void)arg;
    parse_network_cfg(bad_cfg);
}

static const char *NET = "[net]\nbatch=10\nwidth=16\nheight=16\nchannels=1\n\n";

static void expect_bad(const char *dir, const char *body, const char *needle)
{
    char text[4096], err[8192];
    snprintf(text, sizeof text, "%s%s", NET, body);
    bad_cfg = dsn_test_write(dir, "bad.cfg", text);
    unsetenv("DSN_SERIAL");
    int rc = dsn_test_in_child(parse_bad, 0, err, sizeof err);
    if(rc == 0 || !strstr(err, needle) || !strstr(err, "bad.cfg"))
        fail_msg("expected a failure naming '%s' for:\n%s\ngot rc=%d:\n%s", needle, body, rc, err);
    free(bad_cfg);
}

static void test_bad_options(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    char *tcfg = dsn_test_write(dir, "t.cfg", "[net]\nbatch=4\nwidth=16\nheight=16\nchannels=1\n\n[connected]\noutput=3\nactivation=linear\n\n[softmax]\n");
    char *tcfg8 = dsn_test_write(dir, "t8.cfg", "[net]\nbatch=4\nwidth=8\nheight=8\nchannels=1\n\n[connected]\noutput=4\nactivation=linear\n\n[softmax]\n");
    char *tw = dsn_test_write(dir, "t.weights", "");
    char body[2048];
    expect_bad(dir, "[serial_stamp]\nbits=64\ncell=3\n", "cell");
    expect_bad(dir, "[serial_stamp]\nbits=64\nmargin=12\n", "margin");
    expect_bad(dir, "[serial_stamp]\nbits=300\n", "bits");
    expect_bad(dir, "[serial_stamp]\nbits=16\ncorner=middle\n", "corner");
    expect_bad(dir, "[serial_stamp]\nbits=16\nvalid=.6\nforged=.3\nnear=.2\nserial=0000-0\n", "sum to at most 1");
    expect_bad(dir, "[serial_stamp]\nbits=16\nvalid=.5\n", "-serial");
    expect_bad(dir, "[serial_stamp]\nbits=16\nnear_max=0\n", "near_max");
    expect_bad(dir, "[serial_stamp]\nbits=16\nnear_soft=1.5\n", "near_soft");
    expect_bad(dir, "[serial_stamp]\nbits=16\ncolumns=17\n", "columns");
    expect_bad(dir, "[serial_stamp]\nbits=16\ncolumns=16\nframe=1\n", "does not fit");   /* 18x3 cells, 16 px wide */
    expect_bad(dir, "[serial_stamp]\nbits=16\nvalid=abc\n", "valid=abc");
    expect_bad(dir, "[connected]\noutput=3\n\n[serial_stamp]\nbits=16\n", "must be the first layer");
    expect_bad(dir, "[serial_stamp]\nbits=16\n\n[connected]\noutput=3\nactivation=linear\n\n[distill_kl]\nteacher_weights=x\n", "teacher_cfg");
    snprintf(body, sizeof body, "[serial_stamp]\nbits=16\n\n[connected]\noutput=3\nactivation=linear\n\n[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s/missing.weights\n", tcfg, dir);
    expect_bad(dir, body, "teacher_weights");
    snprintf(body, sizeof body, "[serial_stamp]\nbits=16\n\n[connected]\noutput=4\nactivation=linear\n\n[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\n", tcfg, tw);
    expect_bad(dir, body, "3 outputs");
    snprintf(body, sizeof body, "[serial_stamp]\nbits=16\n\n[connected]\noutput=4\nactivation=linear\n\n[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\n", tcfg8, tw);
    expect_bad(dir, body, "8x8x1");
    snprintf(body, sizeof body, "[serial_stamp]\nbits=16\n\n[connected]\noutput=3\nactivation=linear\n\n[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\ntemperature=0\n", tcfg, tw);
    expect_bad(dir, body, "temperature");
    expect_bad(dir, "[serial_stamp]\nbits=16\n\n[connected]\noutput=3\nactivation=linear\n\n[masked_softmax]\nselect=some\n", "select=some");
    expect_bad(dir, "[serial_stamp]\nbits=16\n\n[gradient_reversal]\nlambda=-1\n", "lambda");
    free(tcfg); free(tcfg8); free(tw);
    dsn_test_rmtree(dir);
}

/* A serial with a typo on the command line is refused before anything runs. */
static void test_bad_serial_refused(void **state)
{
    (void)state;
    char dir[256], err[4096];
    dsn_test_tmpdir(dir, sizeof dir);
    char text[512];
    snprintf(text, sizeof text, "%s[serial_stamp]\nbits=16\n", NET);
    bad_cfg = dsn_test_write(dir, "s.cfg", text);
    setenv("DSN_SERIAL", "ZZZZ-ZZZZ", 1);
    int rc = dsn_test_in_child(parse_bad, 0, err, sizeof err);
    unsetenv("DSN_SERIAL");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "serial"));
    free(bad_cfg);
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grl_sign_and_lambda),
        cmocka_unit_test(test_kl_gradient_T1),
        cmocka_unit_test(test_kl_push_class),
        cmocka_unit_test(test_kl_gradient_T4),
        cmocka_unit_test(test_kl_zero_at_match),
        cmocka_unit_test(test_masked_gradient),
        cmocka_unit_test(test_stamp_role_counts_and_distances),
        cmocka_unit_test(test_soft_pool_climbs),
        cmocka_unit_test(test_stamp_augment),
        cmocka_unit_test(test_stamp_near_single_flips_cover_bits),
        cmocka_unit_test(test_stamp_near_partial_flips),
        cmocka_unit_test(test_stamp_near_swaps),
        cmocka_unit_test(test_stamp_mining_flips_and_swaps),
        cmocka_unit_test(test_stamp_deploy),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_serial_refused),
    };
    return cmocka_run_group_tests_name("layers", tests, NULL, NULL);
}
