/* bench: images per second of Darknet on the MNIST nets of cfg/, one measurement per run.
 * bench/run.sh (make bench) runs it over modes, batches, threads and builds, in rounds.
 *
 *   build/bench MODE BATCH SECS [CFG_DIR]       MODE: teacher_train student_train infer stamp
 *   build/bench sgemm N SECS                    cblas_sgemm N x N x N: the machine's ceiling
 *   build/bench unseal COST SECS                a thief's try of one serial on a sealed file
 *   build/stock/bench ...                       the same driver against stock Darknet
 *                                               (teacher_train, infer and sgemm: no DSN layers)
 *
 * Prints one line to stdout, e.g.
 *   RESULT mode=teacher_train batch=500 img_s=2012.4 mflop_img=12.877 iters=9 secs=2.24 loss=2.31
 *   RESULT mode=sgemm n=2048 gflops=101.3 best=103.0 reps=12
 *   RESULT mode=unseal cost=14 serials_s=28.9 iters=58 secs=2.01
 *
 * What is timed:
 *   teacher_train  train_network() on cfg/mnist_teacher.cfg at BATCH: forward, backward, update
 *                  (the cfg's optimizer: Adam here with darknet_patch/0004, SGD-momentum in stock
 *                  Darknet, which has no CPU Adam; the update is <0.1% of a step)
 *   student_train  the same on cfg/mnist_student.cfg, the DSN student: stamp roles, G_e, G_y with
 *                  the teacher run on the valid rows, G_d behind the gradient reversal. Its teacher
 *                  is a freshly initialised cfg/mnist_teacher.cfg saved to a temporary directory;
 *                  the serial is DSN_SERIAL (a fixed valid 64-bit serial when unset).
 *   infer          network_predict() of the teacher at BATCH
 *   stamp          the [serial_stamp] layer's forward alone (deploy mode: every row stamped)
 *   unseal         what trying one serial on a sealed weights file costs a thief: the key of a new
 *                  serial each time and 8 values of the first tensor unsealed with it (enough to
 *                  tell a wrong serial: it unseals mostly tiny values). COST 0: version 2's key
 *                  (one SHA-256); COST 1..20: version 3's (scrypt, N = 2^COST; dsn export's 14)
 * Data are synthetic, generated once before timing: uniform pixels, random one-hot labels. Each
 * mode warms up (>= 2 iterations and >= 0.3 s), then runs >= SECS seconds and >= 3 iterations;
 * img/s is images over the timed wall time. Threads: OMP_NUM_THREADS for Darknet,
 * OPENBLAS_NUM_THREADS for sgemm (bench/run.sh sets both).
 *
 * mflop_img counts the GEMM work (multiply-add = 2) of the convolutional and connected layers:
 * forward, the weight gradients, and the input gradients where the layer below has a delta.
 * The student adds its teacher's forward on the valid rows. The teacher's 12.877 (train) and
 * 4.443 (inference) are those of the CPU performance study. */
#include "bench_util.h"

#ifndef DSN_STOCK
#include "dsn_layers.h"
#include "dsn_seal.h"
#include "dsn_serial.h"
#endif

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARM_SECS 0.3
#define WARM_ITERS 2
#define MIN_ITERS 3

static void usage(void)
{
    fprintf(stderr, "usage: bench teacher_train|student_train|infer|stamp BATCH SECS [CFG_DIR]\n"
                    "       bench sgemm N SECS\n"
                    "       bench unseal COST SECS\n");
    exit(2);
}

/* GEMM MFLOP per image: forward, and backward (weight gradients + input gradients). */
static void net_mflop(const network *net, double *fwd, double *bwd)
{
    int i;
    *fwd = *bwd = 0;
    for(i = 0; i < net->n; ++i){
        const layer *l = &net->layers[i];
        double f;
        if(l->type == CONVOLUTIONAL) f = 2.0*l->n*l->size*l->size*(l->c/l->groups)*l->out_h*l->out_w;
        else if(l->type == CONNECTED) f = 2.0*l->inputs*l->outputs;
        else continue;
        int input_grad = i > 0 && net->layers[i - 1].delta;   /* backward_network's net.delta */
        *fwd += f/1e6;
        *bwd += (input_grad ? 2 : 1)*f/1e6;
    }
}

typedef struct run_ctx {
    network *net;
    data d;
    double loss;
} run_ctx;

static void step_train(run_ctx *c) { c->loss = train_network(c->net, c->d); }
static void step_infer(run_ctx *c) { network_predict(c->net, c->d.X.vals[0]); }
static void step_stamp(run_ctx *c)
{
    network n = *c->net;            /* as network_predict does: the net keeps its own input */
    n.input = c->d.X.vals[0];
    n.train = 0;
    n.layers[0].forward(n.layers[0], n);
}

/* isfinite() by the bits: -Ofast (-ffinite-math-only) may fold isfinite() to 1. */
static int finite_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return ((u >> 23) & 0xFF) != 0xFF;
}

/* Warm-up, then >= secs and >= MIN_ITERS timed calls of step. Returns the timed seconds. */
static double timed(void (*step)(run_ctx *), run_ctx *c, double secs, int *iters)
{
    int n = 0;
    double t0 = bench_now();
    while(n < WARM_ITERS || bench_now() - t0 < WARM_SECS){ step(c); ++n; }
    n = 0;
    t0 = bench_now();
    double t;
    do { step(c); ++n; t = bench_now() - t0; } while(n < MIN_ITERS || t < secs);
    *iters = n;
    return t;
}

static network *parse_at(const char *dir, const char *name, const char *cfg, int batch, const char *const *set)
{
    char *path = bench_cfg_write(dir, name, cfg, batch, set);
    network *net = parse_network_cfg(path);
    free(path);
    if(net->batch != batch){
        fprintf(stderr, "bench: %s parsed with batch %d, not %d\n", cfg, net->batch, batch);
        exit(2);
    }
    return net;
}

#ifndef DSN_STOCK
/* A fixed, valid 64-bit serial for the student when DSN_SERIAL is not set. */
static void default_serial(void)
{
    const char *env = getenv("DSN_SERIAL");
    if(env && *env) return;
    static const uint8_t bytes[8] = {0x5E, 0x71, 0xA2, 0x0C, 0x93, 0xD4, 0x1B, 0xE6};
    dsn_serial s;
    char text[DSN_SERIAL_TEXT_MAX];
    if(dsn_serial_from_bytes(&s, bytes, sizeof bytes, 64) != 0 || dsn_serial_encode(text, sizeof text, &s) < 0){
        fprintf(stderr, "bench: cannot make the default serial\n");
        exit(2);
    }
    setenv("DSN_SERIAL", text, 1);
}
#endif

#ifndef DSN_STOCK
/* Serials per second a thief tries on a sealed file (version 2 with cost 0, else version 3). */
static int run_unseal(int cost, double secs)
{
    dsn_seal_spec spec = {cost ? DSN_SEAL_V3 : DSN_SEAL_V2, {0x4E, 0x6F, 0x6E, 0x63, 0x65}, cost};
    uint64_t k = 0;
    int n = 0;
    double t0 = 0;
    for(int warm = 1; warm >= 0; --warm){
        n = 0;
        t0 = bench_now();
        do {
            uint8_t bytes[8];
            for(int i = 0; i < 8; ++i) bytes[i] = (uint8_t)(++k >> (8*i));    /* a new serial each try */
            dsn_serial s;
            float x[8] = {.01f, -.02f, .03f, -.04f, .05f, -.06f, .07f, -.08f};
            if(dsn_serial_from_bytes(&s, bytes, 8, 64) != 0 || dsn_seal2_array(x, 8, &s, &spec, 0, DSN_SEAL_WEIGHT, DSN_UNSEAL)){
                fprintf(stderr, "bench: unsealing failed (cost %d)\n", cost);
                return 2;
            }
            ++n;
        } while(n < (warm ? WARM_ITERS : MIN_ITERS) || bench_now() - t0 < (warm ? WARM_SECS : secs));
    }
    double t = bench_now() - t0;
    printf("RESULT mode=unseal cost=%d serials_s=%.2f iters=%d secs=%.3f\n", cost, n/t, n, t);
    return 0;
}
#endif

static int run_sgemm(int n, double secs)
{
    size_t nn = (size_t)n*n;
    float *a = malloc(nn*sizeof(float)), *b = malloc(nn*sizeof(float)), *c = calloc(nn, sizeof(float));
    bench_rng r = {7};
    size_t i;
    if(!a || !b || !c){ fprintf(stderr, "bench: out of memory for sgemm %d\n", n); return 2; }
    /* the fast build's gemm.c sets OpenBLAS to one thread when it loads (one runtime: OpenMP);
       the ceiling is measured with the pool OPENBLAS_NUM_THREADS asks for */
    const char *t = getenv("OPENBLAS_NUM_THREADS");
    if(t && atoi(t) > 0) openblas_set_num_threads(atoi(t));
    for(i = 0; i < nn; ++i){ a[i] = bench_rng_uniform(&r) - 0.5f; b[i] = bench_rng_uniform(&r) - 0.5f; }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);   /* warm-up */
    double g[4096], t0 = bench_now(), best = 0;
    int k = 0;
    while(k < (int)(sizeof g/sizeof g[0]) && (k < MIN_ITERS || bench_now() - t0 < secs)){
        double t = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        g[k] = 2.0*n*n*(double)n/(bench_now() - t)/1e9;
        if(g[k] > best) best = g[k];
        ++k;
    }
    int x, y;   /* insertion sort for the median */
    for(x = 1; x < k; ++x) for(y = x; y > 0 && g[y - 1] > g[y]; --y){ double s = g[y]; g[y] = g[y - 1]; g[y - 1] = s; }
    double med = k % 2 ? g[k/2] : 0.5*(g[k/2 - 1] + g[k/2]);
    printf("RESULT mode=sgemm n=%d gflops=%.2f best=%.2f reps=%d\n", n, med, best, k);
    free(a); free(b); free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if(argc < 4) usage();
    const char *mode = argv[1];
    int batch = atoi(argv[2]);
    double secs = atof(argv[3]);
    const char *cfgdir = argc > 4 ? argv[4] : "cfg";
    if(batch < 0 || (batch == 0 && strcmp(mode, "unseal")) || !(secs >= 0)) usage();
    if(!strcmp(mode, "sgemm")) return run_sgemm(batch, secs);
#ifndef DSN_STOCK
    if(!strcmp(mode, "unseal")) return batch <= DSN_SEAL_COST_MAX ? run_unseal(batch, secs) : (usage(), 2);
#endif

    int train = !strcmp(mode, "teacher_train") || !strcmp(mode, "student_train");
    int student = !strcmp(mode, "student_train"), stamp = !strcmp(mode, "stamp");
    if(!train && !stamp && strcmp(mode, "infer")) usage();
#ifdef DSN_STOCK
    if(student || stamp){
        fprintf(stderr, "bench: %s needs the DSN layers: stock Darknet has no plugin registry\n", mode);
        return 2;
    }
#else
    darknet_plugins_init();
    default_serial();
    if(!getenv("DARKNET_SEED")) setenv("DARKNET_SEED", "1", 1);
#endif
    gpu_index = -1;
    srand(1);

    char dir[256], teacher_cfg[512], student_cfg[512];
    bench_tmpdir(dir, sizeof dir);
    snprintf(teacher_cfg, sizeof teacher_cfg, "%s/mnist_teacher.cfg", cfgdir);
    snprintf(student_cfg, sizeof student_cfg, "%s/mnist_student.cfg", cfgdir);

    network *net;
    double fwd, bwd, extra = 0;
    if(student){
        /* the student's teacher: this teacher freshly initialised, saved where the copy points */
        network *t = parse_at(dir, "teacher.cfg", teacher_cfg, 1, NULL);
        char tw[512], tc[512];
        snprintf(tw, sizeof tw, "%s/teacher.weights", dir);
        snprintf(tc, sizeof tc, "%s/teacher.cfg", dir);
        save_weights(t, tw);
        double tf, tb;
        net_mflop(t, &tf, &tb);
        free_network(t);
        const char *set[] = {"teacher_cfg", tc, "teacher_weights", tw, NULL};
        net = parse_at(dir, "student.cfg", student_cfg, batch, set);
#ifndef DSN_STOCK
        extra = tf*dsn_stamp_state_of(net)->count[DSN_ROLE_VALID]/batch;
#endif
    }else if(stamp){
        /* the deploy path of the customer cfg: one stamp layer, every row given the serial */
        char path[512];
        snprintf(path, sizeof path, "%s/stamp.cfg", dir);
        FILE *f = fopen(path, "w");
        if(!f || fprintf(f, "[net]\nbatch=%d\nwidth=28\nheight=28\nchannels=1\n\n[serial_stamp]\nbits=64\n", batch) < 0
           || fclose(f) != 0){
            perror(path);
            return 2;
        }
        net = parse_network_cfg(path);
    }else{
        net = parse_at(dir, "teacher.cfg", teacher_cfg, batch, NULL);
    }
    net_mflop(net, &fwd, &bwd);
    double mflop = (train ? fwd + bwd : fwd) + extra;

    bench_rng r = {42};
    run_ctx c = {net, bench_data(&r, batch, net->inputs, net->truths > 0 ? net->truths : 1), 0};
    int iters;
    double t = timed(train ? step_train : stamp ? step_stamp : step_infer, &c, secs, &iters);
    if(train && !finite_bits(c.loss)){
        fprintf(stderr, "bench: the loss is %g: the measurement is not of a working net\n", c.loss);
        return 1;
    }
    printf("RESULT mode=%s batch=%d img_s=%.2f mflop_img=%.3f iters=%d secs=%.3f", mode, batch, batch*(double)iters/t,
           mflop, iters, t);
    if(train) printf(" loss=%.4f", c.loss);
    printf("\n");
    bench_data_free(c.d);
    free_network(net);
    bench_rmtree(dir);
    return 0;
}
