/* CPU against GPU for the DSN layers: one student net (stamp, conv, connected, distill_kl,
 * route, gradient_reversal, connected, masked_softmax) parsed twice, once for the CPU (host
 * workspace and im2col buffers: a net parsed on the GPU has only a device workspace) and once on
 * the GPU, which then gets the CPU copy's weights. The same batch runs forward and backward
 * through both; every layer's output and delta, and the weight and bias gradients of the
 * convolutional and connected layers, must agree to 1e-4 (max abs, relative to the largest value
 * where that is above 1). Run with TF32 off (NVIDIA_TF32_OVERRIDE=0): cuDNN may use TF32 on Ampere
 * and later, which rounds far above 1e-4.
 *   DSN_SERIAL=KEY build/gpu/layer_check STUDENT.cfg      (tests/gpu/check.sh builds and runs it) */
#include "darknet.h"
#include "dsn_layers.h"
#include "network.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GPU
#include "connected_layer.h"
#include "convolutional_layer.h"
#include "cuda.h"

static network *load(const char *cfg, int gpu)
{
    gpu_index = gpu;
    srand(1);
    return parse_network_cfg((char *)cfg);
}

/* The GPU copy starts from the CPU copy's parameters (the same seed gives the same ones; this
 * makes sure). */
static void copy_weights(network *gpu, const network *cpu)
{
    int i;
    for(i = 0; i < gpu->n; ++i){
        layer *g = &gpu->layers[i];
        const layer *c = &cpu->layers[i];
        if(g->type != CONVOLUTIONAL && g->type != CONNECTED) continue;
        size_t nw = g->type == CONVOLUTIONAL ? (size_t)g->nweights : (size_t)g->inputs*g->outputs;
        size_t nb = g->type == CONVOLUTIONAL ? (size_t)g->n : (size_t)g->outputs;
        memcpy(g->weights, c->weights, nw*sizeof(float));
        memcpy(g->biases, c->biases, nb*sizeof(float));
        if(g->batch_normalize){
            memcpy(g->scales, c->scales, nb*sizeof(float));
            memcpy(g->rolling_mean, c->rolling_mean, nb*sizeof(float));
            memcpy(g->rolling_variance, c->rolling_variance, nb*sizeof(float));
        }
        if(g->type == CONVOLUTIONAL) push_convolutional_layer(*g);
        else push_connected_layer(*g);
    }
}

/* max |gpu - cpu| over n values, and the largest |cpu| value in *scale */
static double max_diff(const float *cpu, float *gpu_dev, size_t n, double *scale)
{
    float *g = malloc(n*sizeof(float));
    double d = 0, s = 0;
    size_t k;
    cuda_pull_array(gpu_dev, g, n);
    for(k = 0; k < n; ++k){
        d = fmax(d, fabs(g[k] - cpu[k]));
        s = fmax(s, fabs(cpu[k]));
    }
    free(g);
    *scale = s;
    return d;
}

/* one comparison, printed; a buffer the CPU has and the GPU lacks is a failure */
static int check(const char *what, const float *cpu, float *gpu_dev, size_t n)
{
    double scale, d;
    if(!cpu || n == 0) return 1;
    if(!gpu_dev){ printf("  %s: no GPU copy DIFFERS", what); return 0; }
    d = max_diff(cpu, gpu_dev, n, &scale);
    int ok = d <= 1e-4*fmax(1, scale);
    printf("  %s %.3g (max %.3g)%s", what, d, scale, ok ? "" : " DIFFERS");
    return ok;
}

static void fill_batch(network *net)
{
    int i, b;
    srand(2);
    for(i = 0; i < net->inputs*net->batch; ++i) net->input[i] = rand()/(float)RAND_MAX;
    memset(net->truth, 0, (size_t)net->truths*net->batch*sizeof(float));
    for(b = 0; b < net->batch; ++b) net->truth[b*net->truths + b % net->truths] = 1;
    net->train = 1;
    dsn_rng_seed(&dsn_stamp_state_of(net)->rng, 7);
}

int main(int argc, char **argv)
{
    if(argc < 2){ fprintf(stderr, "usage: DSN_SERIAL=KEY %s STUDENT.cfg\n", argv[0]); return 2; }
    darknet_plugins_init();
    cuda_set_device(0);
    network *cpu = load(argv[1], -1), *gpu = load(argv[1], 0);
    if(!dsn_stamp_state_of(cpu) || !dsn_stamp_state_of(gpu)){ fprintf(stderr, "%s: no [serial_stamp]\n", argv[1]); return 2; }
    copy_weights(gpu, cpu);
    fill_batch(cpu);
    fill_batch(gpu);
    gpu_index = -1;
    forward_network(cpu);
    backward_network(cpu);
    gpu_index = 0;
    forward_network(gpu);
    backward_network(gpu);
    int i, bad = 0;
    for(i = 0; i < gpu->n; ++i){
        layer c = cpu->layers[i], g = gpu->layers[i];
        size_t n = (size_t)g.outputs*g.batch;
        int ok = 1;
        const layer_plugin *p = find_layer_plugin(g.type);
        printf("layer %2d %-18s", i, p ? p->name : get_layer_string(g.type));
        ok &= check("out", c.output, g.output_gpu, n);
        ok &= check("delta", c.delta, g.delta_gpu, n);
        if(g.type == CONVOLUTIONAL || g.type == CONNECTED){
            size_t nw = g.type == CONVOLUTIONAL ? (size_t)g.nweights : (size_t)g.inputs*g.outputs;
            ok &= check("dW", c.weight_updates, g.weight_updates_gpu, nw);
            ok &= check("db", c.bias_updates, g.bias_updates_gpu, g.type == CONVOLUTIONAL ? (size_t)g.n : (size_t)g.outputs);
        }
        printf("  %s\n", ok ? "ok" : "DIFFERS");
        bad += !ok;
    }
    printf("%d passed, %d failed\n", gpu->n - bad, bad);
    return bad ? 1 : 0;
}
#else
int main(void)
{
    fprintf(stderr, "layer_check: built without GPU=1\n");
    return 2;
}
#endif
