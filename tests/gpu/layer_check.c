/* CPU against GPU for the DSN layers: one student net (stamp, conv, connected, distill_kl,
 * route, gradient_reversal, connected, masked_softmax) parsed on the GPU; the same batch runs
 * forward and backward through the CPU path and through the GPU path, and every layer's output
 * and delta must agree to 1e-4 (max abs).
 *   build/gpu/layer_check STUDENT.cfg            (tests/gpu/check.sh builds and runs it) */
#include "darknet.h"
#include "dsn_layers.h"
#include "network.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GPU
#include "cuda.h"

static float *snapshot(const float *src, size_t n)
{
    float *d = malloc(n*sizeof(float));
    memcpy(d, src, n*sizeof(float));
    return d;
}

int main(int argc, char **argv)
{
    if(argc < 2){ fprintf(stderr, "usage: %s STUDENT.cfg\n", argv[0]); return 2; }
    darknet_plugins_init();
    gpu_index = 0;
    cuda_set_device(0);
    network *net = parse_network_cfg(argv[1]);
    int i, b, L = net->n, bad = 0;
    float **out_cpu = calloc(L, sizeof(float *)), **del_cpu = calloc(L, sizeof(float *));
    srand(1);
    for(i = 0; i < net->inputs*net->batch; ++i) net->input[i] = rand()/(float)RAND_MAX;
    for(b = 0; b < net->batch; ++b) net->truth[b*net->truths + b % net->truths] = 1;
    dsn_stamp_state *s = dsn_stamp_state_of(net);
    net->train = 1;
    /* CPU path (the GPU weights are the host weights: nothing trained yet) */
    dsn_rng_seed(&s->rng, 7);
    net->gpu_index = -1;
    forward_network(net);
    backward_network(net);
    for(i = 0; i < L; ++i){
        layer l = net->layers[i];
        out_cpu[i] = snapshot(l.output, (size_t)l.outputs*l.batch);
        if(l.delta) del_cpu[i] = snapshot(l.delta, (size_t)l.outputs*l.batch);
    }
    /* GPU path */
    dsn_rng_seed(&s->rng, 7);
    net->gpu_index = 0;
    cuda_push_array(net->input_gpu, net->input, net->inputs*net->batch);
    forward_network_gpu(net);
    backward_network_gpu(net);
    for(i = 0; i < L; ++i){
        layer l = net->layers[i];
        size_t n = (size_t)l.outputs*l.batch, k;
        float *g = malloc(n*sizeof(float));
        double dout = 0, ddel = 0;
        cuda_pull_array(l.output_gpu, g, n);
        for(k = 0; k < n; ++k) dout = fmax(dout, fabs(g[k] - out_cpu[i][k]));
        if(l.delta && l.delta_gpu){
            cuda_pull_array(l.delta_gpu, g, n);
            for(k = 0; k < n; ++k) ddel = fmax(ddel, fabs(g[k] - del_cpu[i][k]));
        }
        int ok = dout < 1e-4 && ddel < 1e-4;
        bad += !ok;
        printf("layer %2d %-20s max |out cpu - gpu| %.3g  max |delta cpu - gpu| %.3g  %s\n",
               i, find_layer_plugin(l.type) ? find_layer_plugin(l.type)->name : get_layer_string(l.type), dout, ddel, ok ? "ok" : "DIFFERS");
        free(g);
    }
    printf("%d passed, %d failed\n", L - bad, bad);
    return bad ? 1 : 0;
}
#else
int main(void)
{
    fprintf(stderr, "layer_check: built without GPU=1\n");
    return 2;
}
#endif
