/* numerics_probe: 10 training steps of the MNIST teacher from a state fixed by this program,
 * printed so that two builds can be compared number for number (tests/test_numerics.c runs it
 * built against this build's libdarknet.a and against stock Darknet's).
 *
 *   numerics_probe [CFG]          (default cfg/mnist_teacher.cfg)
 *
 * Prints one line per step, after the step's update:
 *   step 1 loss 3.34926438 sum -14.2281162 sumsq 397.85821 sumabs 6758.22392 moved 0.00123456
 * loss is train_network()'s mean cost over the batch; sum, sumsq and sumabs run over every
 * weight and bias of the net, moved is the squared distance of all of them from their initial
 * values (the sums barely change in 10 steps; the distance is all change).
 *
 * Everything that could differ between the builds except the arithmetic is fixed here: batch 64;
 * the weights and biases come from a splitmix64 stream (never Darknet's rand()); one synthetic
 * batch (uniform pixels, random one-hot labels) is trained on 10 times. The optimizer is plain
 * SGD with momentum (lr 0.01, momentum 0.9, decay 5e-4) whatever the cfg says: the cfg trains with
 * Adam, which stock Darknet does only on the GPU (its CPU update ignores adam=1), so Adam would
 * compare two different optimizers. */
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH 64
#define STEPS 10

/* He-uniform weights and small biases from the stream; conv and connected layers only. */
static void set_weights(network *net, bench_rng *r)
{
    int i, j;
    for(i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        int nw, nb, fan_in;
        if(l->type == CONVOLUTIONAL){ nw = l->nweights; nb = l->n; fan_in = l->size*l->size*l->c/l->groups; }
        else if(l->type == CONNECTED){ nw = l->inputs*l->outputs; nb = l->outputs; fan_in = l->inputs; }
        else if(l->weights || l->biases){
            fprintf(stderr, "numerics_probe: layer %d has parameters of a type this probe does not set\n", i);
            exit(2);
        }else continue;
        float a = sqrtf(6.0f/fan_in);
        for(j = 0; j < nw; ++j) l->weights[j] = a*(2*bench_rng_uniform(r) - 1);
        for(j = 0; j < nb; ++j) l->biases[j] = 0.1f*(2*bench_rng_uniform(r) - 1);
    }
}

/* Sums over every weight and bias. init: where to save them (step 0), or the saved values to
 * measure the distance moved from. Returns the number of parameters. */
static size_t checksum(const network *net, float *init, int save, double *sum, double *sumsq, double *sumabs, double *moved)
{
    int i, j;
    size_t k = 0;
    *sum = *sumsq = *sumabs = *moved = 0;
    for(i = 0; i < net->n; ++i){
        const layer *l = &net->layers[i];
        int nw, nb;
        if(l->type == CONVOLUTIONAL){ nw = l->nweights; nb = l->n; }
        else if(l->type == CONNECTED){ nw = l->inputs*l->outputs; nb = l->outputs; }
        else continue;
        for(j = 0; j < nw + nb; ++j){
            float v = j < nw ? l->weights[j] : l->biases[j - nw];
            if(init && save) init[k] = v;
            else if(init) *moved += ((double)v - init[k])*((double)v - init[k]);
            *sum += v; *sumsq += (double)v*v; *sumabs += fabs(v);
            ++k;
        }
    }
    return k;
}

int main(int argc, char **argv)
{
    const char *cfg = argc > 1 ? argv[1] : "cfg/mnist_teacher.cfg";
    char dir[256];
    gpu_index = -1;
    bench_tmpdir(dir, sizeof dir);
    char *path = bench_cfg_write(dir, "teacher.cfg", cfg, BATCH, NULL);
    network *net = parse_network_cfg(path);
    free(path);
    bench_rmtree(dir);
    if(net->batch != BATCH){ fprintf(stderr, "numerics_probe: batch %d, not %d\n", net->batch, BATCH); return 2; }

    net->adam = 0;
    net->policy = CONSTANT;
    net->learning_rate = 0.01f;
    net->momentum = 0.9f;
    net->decay = 0.0005f;

    bench_rng r = {0x5EED};
    set_weights(net, &r);
    data d = bench_data(&r, BATCH, net->inputs, net->truths);
    double sum, sumsq, sumabs, moved;
    float *init = malloc(checksum(net, NULL, 0, &sum, &sumsq, &sumabs, &moved)*sizeof(float));
    checksum(net, init, 1, &sum, &sumsq, &sumabs, &moved);
    int s;
    for(s = 1; s <= STEPS; ++s){
        float loss = train_network(net, d);
        checksum(net, init, 0, &sum, &sumsq, &sumabs, &moved);
        printf("step %d loss %.9g sum %.9g sumsq %.9g sumabs %.9g moved %.9g\n", s, loss, sum, sumsq, sumabs, moved);
    }
    free(init);
    bench_data_free(d);
    free_network(net);
    return 0;
}
