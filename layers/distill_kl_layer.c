/* [distill_kl]: the G_y loss of a DSN student.
 *
 * Gradient convention (Darknet's): l.delta is minus the gradient of the loss with respect to
 * the logits z this layer reads, summed over the batch; backward adds into net.delta.
 *
 * For the rows stamped with the valid serial (I = 1, from layer 0):
 *   L_kd   = T^2 * KL(q_T || p_T),  p_T = softmax(z/T), q_T = the teacher's softmax at T
 *            on the RAW input (Hinton);            -dL/dz = T * (q_T - p_T)
 *   L_hard = hard * CE(y, p_1)                      -dL/dz = hard * (y - p_1)
 * For every other row (I = 0):
 *   L_push = push * KL(u || p_1) = push * (-log K - mean_j log p_1j)
 *                                                   -dL/dz = push * (u - p_1)
 *            u uniform, or with push_class=c one constant answer: u = 0.9 e_c + 0.1/K (the
 *            answer without the serial is then c whatever the image, not a near-uniform
 *            output whose argmax can lean towards the right class)
 * With normalize=1 each term is a mean over its own rows (Darknet divides by the batch, so the
 * deltas are scaled by batch/rows), as in the PyTorch recipe. The output is softmax(z) at T=1,
 * so the layer also serves as G_y's prediction.
 *
 * The teacher (teacher_cfg, teacher_weights) is loaded here with exactly as many rows as the
 * batch has I=1 rows, and runs only on those rows.
 *
 * warm=1 starts G_e and G_y (the student's layers between the stamp and this one) from the
 * teacher's weights: the same architecture, distilled from where the teacher already is.
 *
 * Options: teacher_cfg= teacher_weights= temperature=4 hard=0.5 push=0.5 push_class=-1 normalize=1 warm=0 */
#include "distill_kl_layer.h"
#include "dsn_layers.h"

#include "blas.h"
#include "connected_layer.h"
#include "convolutional_layer.h"
#include "cuda.h"
#include "parser.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char SECTION[] = "[distill_kl]";

typedef struct kl_state {
    distill_kl_params p;
    network *teacher;
    int teacher_rows;      /* rows the teacher was built for (I=1 rows per batch) */
    float *tin;            /* [teacher_rows * inputs] gathered raw rows          */
    float *q;              /* [batch * n] teacher probabilities, row order        */
    float *z;              /* [batch * n] host logits (GPU path)                  */
    float *row_push;       /* [batch]                                             */
} kl_state;

static void softmax_row(const float *z, int n, float T, float *out)
{
    int i;
    float mx = z[0], sum = 0;
    for(i = 1; i < n; ++i) if(z[i] > mx) mx = z[i];
    for(i = 0; i < n; ++i){ out[i] = expf((z[i] - mx)/T); sum += out[i]; }
    for(i = 0; i < n; ++i) out[i] /= sum;
}

float distill_kl_compute(const distill_kl_params *p, int batch, int n, const float *z, const float *q,
                         const float *mask, const float *truth, float *output, float *delta,
                         float *row_push, float *kd_out, float *hard_out, float *push_out)
{
    int b, i, n1 = 0, n0 = 0, j = 0;
    float pT[1024];
    double kd = 0, hard = 0, push = 0;
    for(b = 0; b < batch; ++b) softmax_row(z + b*n, n, 1, output + b*n);
    if(!delta) return 0;
    for(b = 0; b < batch; ++b){ if(mask[b] > .5f) ++n1; else ++n0; }
    float s1 = p->normalize && n1 ? (float)batch/n1 : 1;
    float s0 = p->normalize && n0 ? (float)batch/n0 : 1;
    for(b = 0; b < batch; ++b){
        const float *zb = z + b*n, *p1 = output + b*n;
        float *db = delta + b*n;
        if(mask[b] > .5f){
            const float *qb = q + (j++)*n;
            softmax_row(zb, n, p->T, pT);
            for(i = 0; i < n; ++i){
                db[i] = s1 * p->T * (qb[i] - pT[i]);
                if(qb[i] > 0) kd += p->T*p->T * qb[i] * (logf(qb[i]) - logf(pT[i] + 1e-30f));
                if(p->hard > 0 && truth){
                    db[i] += s1 * p->hard * (truth[b*n + i] - p1[i]);
                    if(truth[b*n + i] > 0) hard -= truth[b*n + i] * logf(p1[i] + 1e-30f);
                }
            }
        }else{
            double rpd = 0;   /* KL(u || p_1) */
            for(i = 0; i < n; ++i){
                float u = p->push_const ? DSN_PUSH_SMOOTH/n + (i == p->push_class ? 1 - DSN_PUSH_SMOOTH : 0) : 1.f/n;
                db[i] = s0 * p->push * (u - p1[i]);
                rpd += u * (log((double)u) - logf(p1[i] + 1e-30f));
            }
            float rp = (float)rpd;
            if(row_push) row_push[b] = rp;
            push += rp;
        }
    }
    if(kd_out) *kd_out = n1 ? kd/n1 : 0;
    if(hard_out) *hard_out = n1 ? hard/n1 : 0;
    if(push_out) *push_out = n0 ? push/n0 : 0;
    /* the batch sum of the weighted loss, as Darknet's cost layers report it */
    return (float)(s1*(kd + p->hard*hard) + s0*p->push*push);
}

/* Teacher probabilities (at T) for the I=1 rows of this batch, in row order. */
static void run_teacher(kl_state *k, const dsn_stamp_state *s, int batch, int inputs, int n)
{
    int b, j = 0;
    for(b = 0; b < batch && j < k->teacher_rows; ++b){
        if(s->mask[b] > .5f) memcpy(k->tin + (size_t)(j++)*inputs, s->raw + (size_t)b*inputs, inputs*sizeof(float));
    }
    if(j == 0) return;
    if(j != k->teacher->batch) set_batch_network(k->teacher, j);
    float *out = network_predict(k->teacher, k->tin);
    memcpy(k->q, out, (size_t)j*n*sizeof(float));
}

static void kl_forward(layer l, network net, const float *z)
{
    kl_state *k = (kl_state *)l.plugin_data;
    dsn_stamp_state *s = dsn_stamp_state_of(&net);
    int n = l.inputs;
    if(!net.train || !s){
        distill_kl_compute(&k->p, l.batch, n, z, 0, 0, 0, l.output, 0, 0, 0, 0, 0);
        if(l.cost) l.cost[0] = 0;
        return;
    }
    if(s->n_valid > k->teacher_rows){
        fprintf(stderr, "[distill_kl]: %d valid rows but the teacher was built for %d\n", s->n_valid, k->teacher_rows);
        exit(EXIT_FAILURE);
    }
    run_teacher(k, s, l.batch, net.layers[0].inputs, n);
    float kd, hard, push;
    l.cost[0] = distill_kl_compute(&k->p, l.batch, n, z, k->q, s->mask, net.truth, l.output, l.delta,
                                   k->row_push, &kd, &hard, &push);
    int b;
    for(b = 0; b < l.batch; ++b) if(s->mask[b] <= .5f) dsn_stamp_feedback(s, b, k->row_push[b]);
    s->stats.kd = kd;
    s->stats.hard = hard;
    s->stats.push = push;
    s->stats.have_kd = 1;
    dsn_stamp_report(s, net.index, net);
}

network *distill_kl_teacher(layer l)
{
    return l.plugin_data ? ((kl_state *)l.plugin_data)->teacher : 0;
}

void forward_distill_kl_layer(layer l, network net)
{
    kl_forward(l, net, net.input);
}

void backward_distill_kl_layer(layer l, network net)
{
    if(net.delta) axpy_cpu(l.inputs*l.batch, 1, l.delta, 1, net.delta, 1);
}

#ifdef GPU
void forward_distill_kl_layer_gpu(layer l, network net)
{
    kl_state *k = (kl_state *)l.plugin_data;
    cuda_pull_array(net.input_gpu, k->z, l.inputs*l.batch);
    kl_forward(l, net, k->z);
    cuda_push_array(l.output_gpu, l.output, l.outputs*l.batch);
    cuda_push_array(l.delta_gpu, l.delta, l.outputs*l.batch);
}

void backward_distill_kl_layer_gpu(layer l, network net)
{
    if(net.delta_gpu) axpy_gpu(l.inputs*l.batch, 1, l.delta_gpu, 1, net.delta_gpu, 1);
}
#endif

/* Copies src's parameters into dst when both are the same kind and shape; -1 otherwise. */
static int copy_params(layer *dst, const layer *src)
{
    if(dst->type != src->type || dst->inputs != src->inputs || dst->outputs != src->outputs ||
       dst->nweights != src->nweights || dst->batch_normalize != src->batch_normalize) return -1;
    size_t n = dst->type == CONVOLUTIONAL ? (size_t)dst->n : (size_t)dst->outputs;
    if(dst->type == CONVOLUTIONAL || dst->type == CONNECTED){
        size_t nw = dst->type == CONVOLUTIONAL ? (size_t)dst->nweights : (size_t)dst->inputs*dst->outputs;
        memcpy(dst->weights, src->weights, nw*sizeof(float));
        memcpy(dst->biases, src->biases, n*sizeof(float));
        if(dst->batch_normalize){
            memcpy(dst->scales, src->scales, n*sizeof(float));
            memcpy(dst->rolling_mean, src->rolling_mean, n*sizeof(float));
            memcpy(dst->rolling_variance, src->rolling_variance, n*sizeof(float));
        }
#ifdef GPU
        if(gpu_index >= 0){
            if(dst->type == CONVOLUTIONAL) push_convolutional_layer(*dst);
            else push_connected_layer(*dst);
        }
#endif
    }else if(dst->weights || dst->biases){
        return -1;                   /* a layer type with parameters warm= does not copy */
    }
    return 0;
}

/* warm=1: G_e and G_y (layers 1 .. index-1) start as the teacher's layers before its softmax. */
static void warm_start(size_params params, network *t, const char *cfg)
{
    int i, n = t->n - 1;
    if(n != params.index - 1)
        dsn_layer_fail(params, SECTION, "warm=1: teacher_cfg=%s has %d layers before its [softmax], the student %d "
                       "between [serial_stamp] and [distill_kl]: they must be the same layers", cfg, n, params.index - 1);
    for(i = 0; i < n; ++i){
        if(copy_params(&params.net->layers[i + 1], &t->layers[i]) != 0)
            dsn_layer_fail(params, SECTION, "warm=1: student layer %d and teacher layer %d of %s differ in type or shape",
                           i + 1, i, cfg);
    }
}

/* The teacher's files: regular and readable, else a fatal error naming the option. */
static void check_teacher_file(size_params p, const char *key, const char *path, struct stat *st)
{
    FILE *f = fopen(path, "rb");
    if(!f) dsn_layer_fail(p, SECTION, "%s=%s cannot be read: %s", key, path, strerror(errno));
    int ok = fstat(fileno(f), st) == 0 && S_ISREG(st->st_mode);
    fclose(f);
    if(!ok) dsn_layer_fail(p, SECTION, "%s=%s is not a regular file (a directory?)", key, path);
}

/* A teacher is a plain classifier: while one is parsed, a [distill_kl] in it (a student as its own
 * teacher, directly or through other students) is refused instead of recursing until the stack
 * overflows. The cfg fuzzer resets the nesting after a parse it abandoned with longjmp. */
static const char *teacher_of = 0;      /* the student whose teacher is being parsed */
static const char *teacher_cfg_now = 0;

void distill_kl_reset_nesting(void)
{
    teacher_of = 0;
    teacher_cfg_now = 0;
}

static void check_teacher_cfg(size_params p, const char *cfg)
{
    struct stat st, me;
    if(teacher_of)
        dsn_layer_fail(p, SECTION, "%s is the teacher of %s (its teacher_cfg=%s) but is itself a student "
                       "(it has a [distill_kl] section): the teacher must be a plain classifier",
                       p.file ? p.file : "this cfg", teacher_of, teacher_cfg_now);
    check_teacher_file(p, "teacher_cfg", cfg, &st);
    if(p.file && stat(p.file, &me) == 0 && me.st_dev == st.st_dev && me.st_ino == st.st_ino)
        dsn_layer_fail(p, SECTION, "teacher_cfg=%s names this student cfg itself: give the teacher's cfg", cfg);
}

layer parse_distill_kl(list *options, size_params params)
{
    layer l = {0};
    kl_state *k = calloc(1, sizeof(*k));
    dsn_stamp_state *s = dsn_stamp_state_of(params.net);
    int n = params.inputs;
    if(!s) dsn_layer_fail(params, SECTION, "needs a [serial_stamp] as layer 0 (it reads the roles and the raw input)");
    if(n < 2 || n > 1024) dsn_layer_fail(params, SECTION, "expects 2..1024 class logits, gets %d inputs", n);
    k->p.T = dsn_opt_float_range(options, params, SECTION, "temperature", 4, 1e-3f, 100);
    k->p.hard = dsn_opt_float_range(options, params, SECTION, "hard", 0.5f, 0, 1000);
    k->p.push = dsn_opt_float_range(options, params, SECTION, "push", 0.5f, 0, 1000);
    k->p.normalize = dsn_opt_int_range(options, params, SECTION, "normalize", 1, 0, 1);
    k->p.push_class = dsn_opt_int_range(options, params, SECTION, "push_class", -1, -1, n - 1);
    k->p.push_const = k->p.push_class >= 0;
    int warm = dsn_opt_int_range(options, params, SECTION, "warm", 0, 0, 1);
    const char *cfg = dsn_opt_str(options, "teacher_cfg");
    const char *weights = dsn_opt_str(options, "teacher_weights");
    if(!cfg) dsn_layer_fail(params, SECTION, "teacher_cfg= is missing: the teacher's cfg file");
    if(!weights) dsn_layer_fail(params, SECTION, "teacher_weights= is missing: the teacher's weights file");
    struct stat wst;
    check_teacher_cfg(params, cfg);
    check_teacher_file(params, "teacher_weights", weights, &wst);

    k->teacher_rows = s->count[DSN_ROLE_VALID] > 0 ? s->count[DSN_ROLE_VALID] : 1;
    char *cfg_copy = strdup(cfg), *weights_copy = strdup(weights);
    fprintf(stderr, "distill_kl: loading teacher %s (%d rows per batch)\n", cfg_copy, k->teacher_rows);
    teacher_of = params.file ? params.file : "the student";
    teacher_cfg_now = cfg_copy;
    k->teacher = parse_network_cfg_batch(cfg_copy, k->teacher_rows);
    distill_kl_reset_nesting();
    network *t = k->teacher;
    layer tl = t->layers[t->n - 1];
    if(t->inputs != params.net->inputs || t->w != params.net->w || t->h != params.net->h || t->c != params.net->c)
        dsn_layer_fail(params, SECTION, "teacher_cfg=%s takes %dx%dx%d inputs, the student %dx%dx%d",
                       cfg_copy, t->w, t->h, t->c, params.net->w, params.net->h, params.net->c);
    if(t->outputs != n)
        dsn_layer_fail(params, SECTION, "teacher_cfg=%s has %d outputs, the student's G_y head %d classes", cfg_copy, t->outputs, n);
    if(tl.type != SOFTMAX)
        dsn_layer_fail(params, SECTION, "teacher_cfg=%s must end with [softmax] (its probabilities are the targets)", cfg_copy);
    load_weights(t, weights_copy);
    if(warm) warm_start(params, t, cfg_copy);
    set_temp_network(t, k->p.T);
    free(cfg_copy);
    free(weights_copy);

    k->tin = calloc((size_t)k->teacher_rows*t->inputs, sizeof(float));
    k->q = calloc((size_t)params.batch*n, sizeof(float));
    k->z = calloc((size_t)params.batch*n, sizeof(float));
    k->row_push = calloc(params.batch, sizeof(float));
    l.batch = params.batch;
    l.inputs = l.outputs = n;
    l.w = l.h = l.out_w = l.out_h = 1;
    l.c = l.out_c = n;
    l.output = calloc((size_t)l.batch*n, sizeof(float));
    l.delta = calloc((size_t)l.batch*n, sizeof(float));
    l.cost = calloc(1, sizeof(float));
    l.plugin_data = k;
    l.forward = forward_distill_kl_layer;
    l.backward = backward_distill_kl_layer;
#ifdef GPU
    l.forward_gpu = forward_distill_kl_layer_gpu;
    l.backward_gpu = backward_distill_kl_layer_gpu;
    if(gpu_index >= 0){
        l.output_gpu = cuda_make_array(l.output, (size_t)l.batch*n);
        l.delta_gpu = cuda_make_array(l.delta, (size_t)l.batch*n);
    }
#endif
    dsn_stamp_register_loss(s, params.index);
    fprintf(stderr, "distill_kl    T %g hard %g push %g                %4d  ->  %4d\n", k->p.T, k->p.hard, k->p.push, n, n);
    return l;
}

void destroy_distill_kl(layer l)
{
    kl_state *k = (kl_state *)l.plugin_data;
    if(!k) return;
    if(k->teacher) free_network(k->teacher);
    free(k->tin); free(k->q); free(k->z); free(k->row_push);
    free(k);
}
