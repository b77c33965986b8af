/* The numerical patches to Darknet: delta accumulation for two-headed nets (0003), Adam on the
 * CPU (0004), and gemm routed to OpenBLAS (0001) against Darknet's reference loops; and what
 * classifier train leaves in the backup folder (0035), and its ETA (0036). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_test.h"
#include "gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((*s >> 8) & 0xffff) / 65536.f - .5f;
}

/* ---- delta accumulation ------------------------------------------------------------------ */
/* Layer 0 is the shared feature layer (linear, so its backward leaves its delta as received).
 * Head A starts with the layer under test directly at the branch point; head B starts with a
 * [route]. Backward runs head B first, so a head-A entry that overwrites net.delta loses B. */
static const char *TWO_HEADS =
    "[net]\nbatch=3\nwidth=5\nheight=5\nchannels=2\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=linear\n\n"
    "%s\n"
    "[connected]\noutput=3\nactivation=linear\n\n"
    "[cost]\ntype=sse\nscale=%g\n\n"
    "[route]\nlayers=0\n\n"
    "[connected]\noutput=3\nactivation=linear\n\n"
    "[cost]\ntype=sse\nscale=%g\n";

static void run_two_heads(const char *dir, const char *entry, float sa, float sb, float *delta_out, int *n_out)
{
    char text[2048];
    snprintf(text, sizeof text, TWO_HEADS, entry, sa, sb);
    char *cfg = dsn_test_write(dir, "two.cfg", text);
    srand(11);                                  /* identical weights in every run */
    network *net = parse_network_cfg(cfg);
    int i, n = net->layers[0].outputs*net->batch;
    unsigned s = 5;
    for(i = 0; i < net->inputs*net->batch; ++i) net->input[i] = frand(&s);
    for(i = 0; i < net->truths*net->batch; ++i) net->truth[i] = frand(&s);
    net->train = 1;
    srand(23);                                  /* identical dropout masks */
    forward_network(net);
    backward_network(net);
    memcpy(delta_out, net->layers[0].delta, n*sizeof(float));
    *n_out = n;
    free_network(net);
    free(cfg);
}

static void check_accumulates(const char *entry)
{
    char dir[256];
    float both[400], a[400], b[400];
    int n, i;
    dsn_test_tmpdir(dir, sizeof dir);
    run_two_heads(dir, entry, 1, 1, both, &n);
    run_two_heads(dir, entry, 1, 0, a, &n);
    run_two_heads(dir, entry, 0, 1, b, &n);
    double na = 0, nb = 0, err = 0, ref = 0;
    for(i = 0; i < n; ++i){
        na += a[i]*a[i];
        nb += b[i]*b[i];
        err += (both[i] - a[i] - b[i])*(both[i] - a[i] - b[i]);
        ref += (a[i] + b[i])*(a[i] + b[i]);
    }
    print_message("  %-40s |A| %.4g |B| %.4g |both - (A+B)| / |A+B| = %.2g\n", entry, sqrt(na), sqrt(nb), sqrt(err/ref));
    assert_true(na > 1e-6);
    assert_true(nb > 1e-6);
    assert_true(sqrt(err/ref) < 1e-5);
    dsn_test_rmtree(dir);
}

static void test_accumulate_conv1x1(void **s) { (void)s; check_accumulates("[convolutional]\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=linear\n"); }
static void test_accumulate_activation(void **s) { (void)s; check_accumulates("[activation]\nactivation=leaky\n"); }
static void test_accumulate_batchnorm(void **s) { (void)s; check_accumulates("[batchnorm]\n"); }
static void test_accumulate_dropout(void **s) { (void)s; check_accumulates("[dropout]\nprobability=.3\n"); }
static void test_accumulate_conv3x3(void **s) { (void)s; check_accumulates("[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n"); }

/* Dropout owns its buffers now: at inference it copies, and the branch point's output is
 * never scaled in place. */
static void test_dropout_leaves_input_alone(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    char *cfg = dsn_test_write(dir, "d.cfg", "[net]\nbatch=2\nwidth=3\nheight=3\nchannels=1\n\n"
                               "[connected]\noutput=20\nactivation=linear\n\n[dropout]\nprobability=.5\n");
    network *net = parse_network_cfg(cfg);
    int i, n = 20*net->batch, zeros = 0;
    unsigned s = 3;
    for(i = 0; i < net->inputs*net->batch; ++i) net->input[i] = frand(&s);
    net->train = 1;
    forward_network(net);
    assert_ptr_not_equal(net->layers[1].output, net->layers[0].output);
    for(i = 0; i < n; ++i){
        float x = net->layers[0].output[i], y = net->layers[1].output[i];
        if(y == 0 && x != 0) ++zeros;
        else assert_float_equal(y, 2*x, 1e-5);
    }
    assert_true(zeros > 5 && zeros < 35);
    net->train = 0;
    forward_network(net);
    for(i = 0; i < n; ++i) assert_float_equal(net->layers[1].output[i], net->layers[0].output[i], 0);
    free_network(net);
    free(cfg);
    dsn_test_rmtree(dir);
}

/* ---- CPU Adam ---------------------------------------------------------------------------- */
/* A linear connected layer y = W x + b with an sse cost, three steps of Adam through
 * forward/backward/update_network, against the update written out in double precision. */
static void test_cpu_adam_matches_hand_computation(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    char *cfg = dsn_test_write(dir, "adam.cfg",
        "[net]\nbatch=2\ninputs=3\nadam=1\nB1=.9\nB2=.999\neps=.0000001\nlearning_rate=.01\n"
        "momentum=.9\ndecay=.05\npolicy=constant\nmax_batches=10\n\n"
        "[connected]\noutput=2\nactivation=linear\n\n[cost]\ntype=sse\n");
    network *net = parse_network_cfg(cfg);
    layer *l = &net->layers[0];
    const float x[2][3] = {{.5f, -1.f, 2.f}, {1.5f, .25f, -.5f}}, t[2][2] = {{1, -1}, {.5f, 2}};
    double W[6] = {.1, -.2, .3, .05, .4, -.1}, B[2] = {.01, -.02}, mW[6] = {0}, vW[6] = {0}, mB[2] = {0}, vB[2] = {0};
    int i, j, k, step, batch = 2;
    const double lr = .01, b1 = .9, b2 = .999, eps = 1e-7, decay = .05;
    for(i = 0; i < 6; ++i) l->weights[i] = (float)W[i];
    for(i = 0; i < 2; ++i) l->biases[i] = (float)B[i];
    for(step = 1; step <= 3; ++step){
        memcpy(net->input, x, sizeof x);
        memcpy(net->truth, t, sizeof t);
        net->train = 1;
        forward_network(net);
        backward_network(net);
        update_network(net);
        /* by hand: d = sum over the batch of (t - y) x^T (minus the gradient), then Adam */
        double dW[6] = {0}, dB[2] = {0};
        for(k = 0; k < batch; ++k){
            for(i = 0; i < 2; ++i){
                double y = B[i];
                for(j = 0; j < 3; ++j) y += W[i*3 + j]*x[k][j];
                double d = t[k][i] - y;
                dB[i] += d;
                for(j = 0; j < 3; ++j) dW[i*3 + j] += d*x[k][j];
            }
        }
        double c1 = 1 - pow(b1, step), c2 = 1 - pow(b2, step);
        for(i = 0; i < 6; ++i){
            double g = dW[i] - decay*batch*W[i];
            mW[i] = b1*mW[i] + (1 - b1)*g;
            vW[i] = b2*vW[i] + (1 - b2)*g*g;
            W[i] += lr*(mW[i]/c1)/(sqrt(vW[i]/c2) + eps);
        }
        for(i = 0; i < 2; ++i){
            double g = dB[i] - decay*batch*B[i];
            mB[i] = b1*mB[i] + (1 - b1)*g;
            vB[i] = b2*vB[i] + (1 - b2)*g*g;
            B[i] += lr*(mB[i]/c1)/(sqrt(vB[i]/c2) + eps);
        }
        for(i = 0; i < 6; ++i) assert_float_equal(l->weights[i], W[i], 1e-5);
        for(i = 0; i < 2; ++i) assert_float_equal(l->biases[i], B[i], 1e-5);
    }
    /* and it is not SGD: after 3 steps Adam moved each weight by about 3 * lr */
    assert_true(fabs(l->weights[0] - .1) > 2*lr);
    free_network(net);
    free(cfg);
    dsn_test_rmtree(dir);
}

/* ---- OpenBLAS gemm against the reference loops ------------------------------------------ */
static void test_gemm_matches_reference(void **state)
{
    (void)state;
    /* {1, N, K}: one row runs as gemv (0020); {500, 120, 1568}: rows split over the team (0012) */
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {32, 196, 288}, {17, 1, 64}, {64, 33, 1}, {120, 10, 1568},
                                    {1, 120, 1568}, {1, 33, 7}, {500, 120, 1568}};
    unsigned s = 99;
    size_t si;
    int ta, tb;
    for(si = 0; si < sizeof shapes / sizeof shapes[0]; ++si){
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        for(ta = 0; ta < 2; ++ta) for(tb = 0; tb < 2; ++tb){
            float alpha = 1 + frand(&s), beta = (si % 2) ? 0 : .5f + frand(&s);
            float *A = malloc(sizeof(float)*M*K), *B = malloc(sizeof(float)*K*N);
            float *C1 = malloc(sizeof(float)*M*N), *C2 = malloc(sizeof(float)*M*N);
            int i;
            for(i = 0; i < M*K; ++i) A[i] = frand(&s);
            for(i = 0; i < K*N; ++i) B[i] = frand(&s);
            for(i = 0; i < M*N; ++i) C1[i] = C2[i] = frand(&s);
            int lda = ta ? M : K, ldb = tb ? K : N;
            gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, N);
            gemm_cpu(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, N);
            double err = 0, ref = 0;
            for(i = 0; i < M*N; ++i){ err += (C1[i] - C2[i])*(C1[i] - C2[i]); ref += C2[i]*C2[i]; }
            if(sqrt(err/(ref + 1e-30)) > 1e-5) fail_msg("gemm %dx%dx%d TA=%d TB=%d: relative error %g", M, N, K, ta, tb, sqrt(err/ref));
            free(A); free(B); free(C1); free(C2);
        }
    }
}

/* ---- classifier train: the last and the best weights, -backups (0035), ETA (0036) --------- */
static const char *TINY_CLASSIFIER =
    "[net]\nbatch=8\nsubdivisions=1\nwidth=8\nheight=8\nchannels=3\nmax_batches=30\n"
    "learning_rate=0.1\nmomentum=0.9\ndecay=0.0005\npolicy=constant\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n[softmax]\n";

/* trains dir/<name>.cfg for 30 batches of 8 on 40 images (6 epochs); the log in dir/<name>.log */
static void train_tiny(const char *dir, const char *name, const char *opts)
{
    char out[4096], path[512];
    char *bin = realpath(dsn_test_build_dir(), NULL);
    assert_non_null(bin);
    snprintf(path, sizeof path, "%s.cfg", name);
    free(dsn_test_write(dir, path, TINY_CLASSIFIER));
    int rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train set.data "
                          "%s.cfg -seed 3 %s > %s.log 2>&1", dir, bin, name, opts, name);
    free(bin);
    if(rc != 0) fail_msg("classifier train %s: exit %d (log %s/%s.log)", opts, rc, dir, name);
}

static void test_classifier_train_last_best_eta(void **state)
{
    (void)state;
    char dir[256], out[4096], path[512];
    dsn_test_tmpdir(dir, sizeof dir);
    free(dsn_test_make_dataset(dir, 4, 10, 8, 8, 5));   /* dir/set.data, backup=dir */
    train_tiny(dir, "tiny", "");
    /* the final weights and the best, nothing per epoch, no .backup or .tmp left */
    assert_int_equal(dsn_test_run(out, sizeof out, "cd %s && LC_ALL=C ls -d tiny.* tiny_* | tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "tiny.cfg tiny.log tiny.weights tiny_best.weights ");
    assert_int_equal(dsn_test_run(out, sizeof out, "cd %s && "
                                  "[ $(stat -c %%s tiny.weights) = $(stat -c %%s tiny_best.weights) ]", dir), 0);
    snprintf(path, sizeof path, "%s/tiny.log", dir);
    char *log = dsn_test_read(path);
    assert_non_null(log);
    /* every progress line has an ETA after the fields dsn report parses; the last says 0s */
    int lines = 0, etas = 0, bests = 0;
    float prev = 1e30f, last_eta = -1;
    char *save = 0, *line;
    for(line = strtok_r(log, "\n", &save); line; line = strtok_r(0, "\n", &save)){
        long it, imgs;
        float epoch, loss, avg, rate, secs, best;
        int ep;
        if(sscanf(line, "%ld, %f: %f, %f avg, %f rate, %f seconds, %ld images", &it, &epoch, &loss, &avg, &rate, &secs, &imgs) == 7){
            ++lines;
            const char *e = strstr(line, " images, ETA ");
            if(e){ ++etas; last_eta = strtof(e + 13, 0); }
        }
        if(sscanf(line, "best: epoch %d, %f avg ->", &ep, &best) == 2){
            if(!(best < prev)) fail_msg("best %g after %g: not lower", best, prev);
            prev = best;
            ++bests;
        }
    }
    assert_int_equal(lines, 30);
    assert_int_equal(etas, 30);
    assert_true(last_eta == 0);
    assert_true(bests >= 1 && bests <= 6);
    free(log);

    /* -backups: stock's file per epoch and its .backup, and the best too */
    train_tiny(dir, "tinyb", "-backups");
    assert_int_equal(dsn_test_run(out, sizeof out, "cd %s && LC_ALL=C ls -d tinyb.* tinyb_* | tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "tinyb.backup tinyb.cfg tinyb.log tinyb.weights tinyb_1.weights tinyb_2.weights "
                             "tinyb_3.weights tinyb_4.weights tinyb_5.weights tinyb_6.weights tinyb_best.weights ");
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();     /* a static link runs no constructor of an unreferenced object */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulate_conv1x1),
        cmocka_unit_test(test_accumulate_activation),
        cmocka_unit_test(test_accumulate_batchnorm),
        cmocka_unit_test(test_accumulate_dropout),
        cmocka_unit_test(test_accumulate_conv3x3),
        cmocka_unit_test(test_dropout_leaves_input_alone),
        cmocka_unit_test(test_cpu_adam_matches_hand_computation),
        cmocka_unit_test(test_gemm_matches_reference),
        cmocka_unit_test(test_classifier_train_last_best_eta),
    };
    return cmocka_run_group_tests_name("darknet_patches", tests, NULL, NULL);
}
