/* The CPU speed patches (0012-0019) against reference paths written here, in double precision:
 * stride-1 im2col/col2im, the 2x2 maxpool, the batch-parallel convolution with its fused
 * epilogues, kept im2col and input gradient as a convolution, and the activation loops, each
 * with one and with two OpenMP threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_test.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"   /* Darknet's activation inlines */
#include "activations.h"
#include "col2im.h"
#include "convolutional_layer.h"
#include "im2col.h"
#include "maxpool_layer.h"
#pragma GCC diagnostic pop

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((*s >> 8) & 0xffff) / 65536.f - .5f;
}

static float *rand_array(size_t n, unsigned *s)
{
    float *x = malloc(n*sizeof(float));
    assert_non_null(x);
    size_t i;
    for(i = 0; i < n; ++i) x[i] = frand(s);
    return x;
}

/* relative L2 error of got against want */
static double rel_err(const float *got, const double *want, size_t n)
{
    double e = 0, r = 0;
    size_t i;
    for(i = 0; i < n; ++i){ e += (got[i] - want[i])*(got[i] - want[i]); r += want[i]*want[i]; }
    return sqrt(e/(r + 1e-30));
}

/* ---- im2col / col2im ------------------------------------------------------------------- */
static double pixel(const float *im, int h, int w, int c, int y, int x)
{
    return (y < 0 || x < 0 || y >= h || x >= w) ? 0 : im[(c*h + y)*w + x];
}

static const int GEOMS[][5] = {     /* channels, height, width, ksize, pad */
    {1, 28, 28, 3, 1}, {32, 14, 14, 3, 1}, {3, 7, 5, 3, 0}, {2, 6, 9, 5, 2}, {4, 5, 5, 1, 0},
    {2, 3, 4, 3, 2}, {1, 2, 2, 5, 3}, {3, 9, 8, 7, 1},
};

static void test_im2col_stride1_matches_reference(void **state)
{
    (void)state;
    unsigned s = 3;
    size_t g;
    for(g = 0; g < sizeof GEOMS/sizeof GEOMS[0]; ++g){
        int c = GEOMS[g][0], h = GEOMS[g][1], w = GEOMS[g][2], k = GEOMS[g][3], p = GEOMS[g][4];
        int oh = h + 2*p - k + 1, ow = w + 2*p - k + 1;
        if(oh <= 0 || ow <= 0) continue;
        float *im = rand_array((size_t)c*h*w, &s);
        size_t n = (size_t)c*k*k*oh*ow;
        float *col = rand_array(n, &s);         /* garbage first: every cell must be written */
        im2col_cpu(im, c, h, w, k, 1, p, col);
        size_t r, bad = 0;
        for(r = 0; r < (size_t)c*k*k; ++r){
            int x0 = r % k, y0 = (r/k) % k, ch = r/k/k, y, x;
            for(y = 0; y < oh; ++y) for(x = 0; x < ow; ++x){
                if(col[(r*oh + y)*ow + x] != (float)pixel(im, h, w, ch, y + y0 - p, x + x0 - p)) ++bad;
            }
        }
        if(bad) fail_msg("im2col c%d %dx%d k%d p%d: %zu of %zu cells differ", c, h, w, k, p, bad, n);
        free(im); free(col);
    }
}

static void test_col2im_stride1_matches_reference(void **state)
{
    (void)state;
    unsigned s = 4;
    size_t g;
    for(g = 0; g < sizeof GEOMS/sizeof GEOMS[0]; ++g){
        int c = GEOMS[g][0], h = GEOMS[g][1], w = GEOMS[g][2], k = GEOMS[g][3], p = GEOMS[g][4];
        int oh = h + 2*p - k + 1, ow = w + 2*p - k + 1;
        if(oh <= 0 || ow <= 0) continue;
        size_t n = (size_t)c*k*k*oh*ow, ni = (size_t)c*h*w, r, i;
        float *col = rand_array(n, &s), *im = rand_array(ni, &s);
        double *want = malloc(ni*sizeof(double));
        for(i = 0; i < ni; ++i) want[i] = im[i];            /* col2im adds onto the image */
        for(r = 0; r < (size_t)c*k*k; ++r){
            int x0 = r % k, y0 = (r/k) % k, ch = r/k/k, y, x;
            for(y = 0; y < oh; ++y) for(x = 0; x < ow; ++x){
                int iy = y + y0 - p, ix = x + x0 - p;
                if(iy >= 0 && ix >= 0 && iy < h && ix < w) want[(ch*h + iy)*w + ix] += col[(r*oh + y)*ow + x];
            }
        }
        col2im_cpu(col, c, h, w, k, 1, p, im);
        double e = rel_err(im, want, ni);
        if(e > 1e-6) fail_msg("col2im c%d %dx%d k%d p%d: relative error %g", c, h, w, k, p, e);
        free(col); free(im); free(want);
    }
}

/* ---- maxpool ---------------------------------------------------------------------------- */
static void check_maxpool(int batch, int h, int w, int c, int size, int stride, int ties, int threads)
{
    omp_set_num_threads(threads);
    unsigned s = 7;
    maxpool_layer l = make_maxpool_layer(batch, h, w, c, size, stride, size - 1);
    size_t ni = (size_t)batch*c*h*w, no = (size_t)batch*l.outputs, i;
    float *in = rand_array(ni, &s);
    if(ties) for(i = 0; i < ni; ++i) in[i] = floorf(in[i]*2);      /* many equal maxima */
    network net = {0};
    net.input = in;
    net.delta = calloc(ni, sizeof(float));
    forward_maxpool_layer(l, net);
    int b, k, y, x, m, n;
    size_t bad = 0;
    for(b = 0; b < batch; ++b) for(k = 0; k < c; ++k) for(y = 0; y < l.out_h; ++y) for(x = 0; x < l.out_w; ++x){
        float best = -FLT_MAX;
        int best_i = -1;
        for(n = 0; n < size; ++n) for(m = 0; m < size; ++m){
            int yy = y*stride + n - l.pad/2, xx = x*stride + m - l.pad/2;
            if(yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
            int idx = ((b*c + k)*h + yy)*w + xx;
            if(in[idx] > best){ best = in[idx]; best_i = idx; }
        }
        size_t o = (((size_t)b*c + k)*l.out_h + y)*l.out_w + x;
        if(l.output[o] != best || l.indexes[o] != best_i) ++bad;
    }
    if(bad) fail_msg("maxpool %dx%dx%d b%d size %d stride %d ties %d threads %d: %zu outputs differ",
            h, w, c, batch, size, stride, ties, threads, bad);
    /* backward scatters each output's delta onto its argmax, adding */
    double *want = calloc(ni, sizeof(double));
    for(i = 0; i < ni; ++i){ net.delta[i] = .25f; want[i] = .25; }
    for(i = 0; i < no; ++i){ l.delta[i] = frand(&s); want[l.indexes[i]] += l.delta[i]; }
    backward_maxpool_layer(l, net);
    double e = rel_err(net.delta, want, ni);
    if(e > 1e-6) fail_msg("maxpool backward %dx%dx%d threads %d: relative error %g", h, w, c, threads, e);
    free(in); free(net.delta); free(want);
    free_layer(l);
}

static void test_maxpool_matches_reference(void **state)
{
    (void)state;
    int t;
    for(t = 1; t <= 2; ++t){
        check_maxpool(50, 28, 28, 32, 2, 2, 0, t);      /* fast path, parallel */
        check_maxpool(3, 14, 14, 4, 2, 2, 1, t);        /* fast path, ties */
        check_maxpool(2, 7, 7, 3, 2, 2, 1, t);          /* odd size: generic loop */
        check_maxpool(2, 9, 8, 3, 3, 2, 0, t);          /* 3x3 windows */
        check_maxpool(2, 6, 6, 2, 2, 1, 1, t);          /* stride 1 */
    }
}

/* ---- convolution ------------------------------------------------------------------------ */
typedef struct { int batch, h, w, c, n, groups, size, stride, pad; ACTIVATION act; int bn, first; } conv_case;

static double act_ref(double x, ACTIVATION a)
{
    if(a == RELU) return x > 0 ? x : 0;
    if(a == LEAKY) return x > 0 ? x : .1*x;
    if(a == LOGISTIC) return 1/(1 + exp(-x));
    return x;
}

static double grad_ref(double y, ACTIVATION a)
{
    if(a == RELU) return y > 0;
    if(a == LEAKY) return y > 0 ? 1 : .1;
    if(a == LOGISTIC) return (1 - y)*y;
    return 1;
}

/* One forward + backward of a [convolutional] layer, checked against a direct convolution.
 * train selects the kept-im2col path (forward writes it during training only). */
static void check_conv(conv_case k, int threads, int train)
{
    if(k.bn && !train) return;      /* outside training batchnorm uses its rolling statistics */
    omp_set_num_threads(threads);
    unsigned s = 17 + k.size + 31*k.groups;
    convolutional_layer l = make_convolutional_layer(k.batch, k.h, k.w, k.c, k.n, k.groups, k.size,
            k.stride, k.pad, k.act, k.bn, 0, 0, 0);
    size_t ni = (size_t)k.batch*l.inputs, no = (size_t)k.batch*l.outputs, i;
    int cpg = k.c/k.groups, mpg = k.n/k.groups;
    for(i = 0; i < (size_t)l.nweights; ++i) l.weights[i] = frand(&s);
    for(i = 0; i < (size_t)k.n; ++i) l.biases[i] = frand(&s);
    network net = {0};
    net.train = train;
    net.workspace_slots = max_threads();
    net.workspace = calloc(net.workspace_slots, l.workspace_size);
    net.input = rand_array(ni, &s);
    net.delta = k.first ? 0 : rand_array(ni, &s);
    float *delta0 = k.first ? 0 : malloc(ni*sizeof(float));
    if(delta0) memcpy(delta0, net.delta, ni*sizeof(float));

    forward_convolutional_layer(l, net);

    /* reference forward */
    double *pre = calloc(no, sizeof(double)), *out = calloc(no, sizeof(double));
    int b, o, y, x, c, u, v;
    for(b = 0; b < k.batch; ++b) for(o = 0; o < k.n; ++o) for(y = 0; y < l.out_h; ++y) for(x = 0; x < l.out_w; ++x){
        int g = o/mpg;
        double acc = k.bn ? 0 : l.biases[o];
        for(c = 0; c < cpg; ++c) for(u = 0; u < k.size; ++u) for(v = 0; v < k.size; ++v){
            acc += l.weights[((size_t)o*cpg + c)*k.size*k.size + u*k.size + v] *
                   pixel(net.input + (size_t)b*l.inputs, k.h, k.w, g*cpg + c, y*k.stride + u - k.pad, x*k.stride + v - k.pad);
        }
        size_t oi = (((size_t)b*k.n + o)*l.out_h + y)*l.out_w + x;
        pre[oi] = acc;
        out[oi] = act_ref(acc, k.act);
    }
    if(k.bn){           /* batch statistics (Darknet's: n-1, epsilon outside the root), scale 1, bias */
        int hw = l.out_h*l.out_w;
        for(o = 0; o < k.n; ++o){
            double mean = 0, var = 0;
            for(b = 0; b < k.batch; ++b) for(i = 0; i < (size_t)hw; ++i) mean += pre[((size_t)b*k.n + o)*hw + i];
            mean /= k.batch*hw;
            for(b = 0; b < k.batch; ++b) for(i = 0; i < (size_t)hw; ++i){ double d = pre[((size_t)b*k.n + o)*hw + i] - mean; var += d*d; }
            var /= k.batch*hw - 1;
            for(b = 0; b < k.batch; ++b) for(i = 0; i < (size_t)hw; ++i){
                size_t oi = ((size_t)b*k.n + o)*hw + i;
                out[oi] = act_ref((pre[oi] - mean)/(sqrt(var) + .000001) + l.biases[o], k.act);
            }
        }
    }
    double e = rel_err(l.output, out, no);
    if(e > 2e-5) fail_msg("conv forward (b%d %dx%dx%d n%d g%d k%d s%d p%d act %d bn %d, %d threads, train %d): relative error %g",
            k.batch, k.h, k.w, k.c, k.n, k.groups, k.size, k.stride, k.pad, k.act, k.bn, threads, train, e);
    if(k.bn){ free(pre); free(out); goto done; }    /* batchnorm's backward is Darknet's own, unchanged */

    /* reference backward from a random output delta */
    float *dy = rand_array(no, &s);
    memcpy(l.delta, dy, no*sizeof(float));
    memset(l.weight_updates, 0, l.nweights*sizeof(float));
    memset(l.bias_updates, 0, k.n*sizeof(float));
    l.weight_updates[0] = .5f;                  /* updates accumulate: keep what was there */
    l.bias_updates[0] = .25f;
    backward_convolutional_layer(l, net);

    double *dw = calloc(l.nweights, sizeof(double)), *db = calloc(k.n, sizeof(double));
    double *dx = calloc(ni, sizeof(double));
    dw[0] = .5; db[0] = .25;
    if(delta0) for(i = 0; i < ni; ++i) dx[i] = delta0[i];
    for(b = 0; b < k.batch; ++b) for(o = 0; o < k.n; ++o) for(y = 0; y < l.out_h; ++y) for(x = 0; x < l.out_w; ++x){
        int g = o/mpg;
        size_t oi = (((size_t)b*k.n + o)*l.out_h + y)*l.out_w + x;
        double d = dy[oi]*grad_ref(out[oi], k.act);
        db[o] += d;
        for(c = 0; c < cpg; ++c) for(u = 0; u < k.size; ++u) for(v = 0; v < k.size; ++v){
            int iy = y*k.stride + u - k.pad, ix = x*k.stride + v - k.pad;
            if(iy < 0 || ix < 0 || iy >= k.h || ix >= k.w) continue;
            size_t wi = ((size_t)o*cpg + c)*k.size*k.size + u*k.size + v;
            size_t ii = (((size_t)b*k.c + g*cpg + c)*k.h + iy)*k.w + ix;
            dw[wi] += d*net.input[ii];
            dx[ii] += d*l.weights[wi];
        }
    }
    double ew = rel_err(l.weight_updates, dw, l.nweights), eb = rel_err(l.bias_updates, db, k.n);
    double ex = k.first ? 0 : rel_err(net.delta, dx, ni);
    if(ew > 2e-5 || eb > 2e-5 || ex > 2e-5)
        fail_msg("conv backward (b%d %dx%dx%d n%d g%d k%d s%d p%d act %d first %d, %d threads, train %d): "
                "relative error weights %g biases %g input delta %g",
                k.batch, k.h, k.w, k.c, k.n, k.groups, k.size, k.stride, k.pad, k.act, k.first, threads, train, ew, eb, ex);
    free(dy); free(dw); free(db); free(dx); free(pre); free(out);
done:
    free(net.input); free(net.delta); free(delta0); free(net.workspace);
    free_layer(l);
}

static const conv_case CONVS[] = {
    /* batch h  w   c   n  g  k  s  p  act      bn first */
    {  7, 28, 28, 1, 32, 1, 3, 1, 1, RELU,     0, 1},  /* MNIST conv1: kept im2col, no input delta */
    {  5, 14, 14, 32, 32, 1, 3, 1, 1, RELU,    0, 0},  /* MNIST conv2: input gradient as a conv */
    {  3, 9, 7, 4, 6, 1, 3, 1, 1, LEAKY,       0, 0},  /* more filters than channels: col2im path */
    {  3, 9, 7, 6, 4, 2, 3, 1, 1, LINEAR,      0, 0},  /* groups */
    {  2, 11, 10, 3, 5, 1, 5, 1, 2, LOGISTIC,  0, 0},  /* 5x5, generic activation */
    {  3, 10, 9, 3, 4, 1, 3, 2, 1, RELU,       0, 0},  /* stride 2: generic im2col/col2im */
    {  4, 6, 6, 5, 3, 1, 1, 1, 0, LEAKY,       0, 0},  /* 1x1 */
    {  2, 5, 5, 3, 3, 1, 3, 1, 0, RELU,        0, 0},  /* no padding */
    {  4, 8, 8, 3, 4, 1, 3, 1, 1, RELU,        1, 0},  /* batch_normalize: separate passes */
};

static void test_conv_matches_direct_convolution(void **state)
{
    (void)state;
    size_t i;
    int t, train;
    for(i = 0; i < sizeof CONVS/sizeof CONVS[0]; ++i)
        for(t = 1; t <= 2; ++t)
            for(train = 0; train <= 1; ++train) check_conv(CONVS[i], t, train);
}

/* ---- activation loops -------------------------------------------------------------------- */
static void test_activation_loops_match_scalar(void **state)
{
    (void)state;
    static const ACTIVATION acts[] = {LINEAR, RELU, LEAKY, LOGISTIC, ELU, TANH};
    const int n = 200000;           /* above the parallel threshold */
    unsigned s = 23;
    size_t a;
    int t, i;
    for(t = 1; t <= 2; ++t) for(a = 0; a < sizeof acts/sizeof acts[0]; ++a){
        omp_set_num_threads(t);
        float *x = rand_array(n, &s), *y = malloc(n*sizeof(float)), *d = rand_array(n, &s), *d2 = malloc(n*sizeof(float));
        memcpy(y, x, n*sizeof(float));
        memcpy(d2, d, n*sizeof(float));
        activate_array(y, n, acts[a]);
        gradient_array(y, n, acts[a], d2);
        int bad = 0;
        for(i = 0; i < n; ++i){
            if(fabsf(y[i] - activate(x[i], acts[a])) > 1e-6f) ++bad;
            if(fabsf(d2[i] - d[i]*gradient(y[i], acts[a])) > 1e-6f) ++bad;
        }
        if(bad) fail_msg("activation %d, %d threads: %d values differ from activate()/gradient()", acts[a], t, bad);
        free(x); free(y); free(d); free(d2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im2col_stride1_matches_reference),
        cmocka_unit_test(test_col2im_stride1_matches_reference),
        cmocka_unit_test(test_maxpool_matches_reference),
        cmocka_unit_test(test_conv_matches_direct_convolution),
        cmocka_unit_test(test_activation_loops_match_scalar),
    };
    return cmocka_run_group_tests_name("fastpaths", tests, NULL, NULL);
}
