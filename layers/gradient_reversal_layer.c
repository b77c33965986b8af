/* [gradient_reversal]: identity forward, reversed and scaled gradient backward.
 *
 * Gradient convention (Darknet's): l.delta is minus the gradient of the loss with respect to
 * this layer's output, summed over the batch; backward adds into net.delta. The layer's
 * gradient is -lambda times the incoming one, so backward is one axpy with -lambda.
 *
 * Options: lambda=1 (the weight), gamma=0 (0: fixed; >0: the DANN ramp
 * lambda * (2/(1+exp(-gamma p)) - 1), p = batches seen / max_batches). */
#include "gradient_reversal_layer.h"
#include "dsn_layers.h"

#include "blas.h"
#include "cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char SECTION[] = "[gradient_reversal]";

float gradient_reversal_lambda(const layer *l, const network *net)
{
    if(l->alpha <= 0 || net->max_batches <= 0) return l->scale;
    float p = (float)get_current_batch((network *)net) / net->max_batches;
    if(p > 1) p = 1;
    return l->scale * (2.f/(1.f + expf(-l->alpha*p)) - 1.f);
}

static void note_lambda(layer l, network net, float lambda)
{
    dsn_stamp_state *s = dsn_stamp_state_of(&net);
    (void)l;
    if(!s) return;
    s->stats.lambda = lambda;
    s->stats.have_lambda = 1;
}

void forward_gradient_reversal_layer(layer l, network net)
{
    copy_cpu(l.outputs*l.batch, net.input, 1, l.output, 1);
    if(net.train) note_lambda(l, net, gradient_reversal_lambda(&l, &net));
}

void backward_gradient_reversal_layer(layer l, network net)
{
    if(net.delta) axpy_cpu(l.outputs*l.batch, -gradient_reversal_lambda(&l, &net), l.delta, 1, net.delta, 1);
}

#ifdef GPU
void forward_gradient_reversal_layer_gpu(layer l, network net)
{
    copy_gpu(l.outputs*l.batch, net.input_gpu, 1, l.output_gpu, 1);
    if(net.train) note_lambda(l, net, gradient_reversal_lambda(&l, &net));
}

void backward_gradient_reversal_layer_gpu(layer l, network net)
{
    if(net.delta_gpu) axpy_gpu(l.outputs*l.batch, -gradient_reversal_lambda(&l, &net), l.delta_gpu, 1, net.delta_gpu, 1);
}
#endif

static void alloc_buffers(layer *l)
{
    l->inputs = l->outputs = l->w*l->h*l->c;
    l->output = calloc((size_t)l->batch*l->outputs, sizeof(float));
    l->delta = calloc((size_t)l->batch*l->outputs, sizeof(float));
#ifdef GPU
    if(gpu_index >= 0){
        l->output_gpu = cuda_make_array(l->output, (size_t)l->batch*l->outputs);
        l->delta_gpu = cuda_make_array(l->delta, (size_t)l->batch*l->outputs);
    }
#endif
}

layer make_gradient_reversal_layer(int batch, int w, int h, int c, float lambda, float gamma)
{
    layer l = {0};
    l.batch = batch;
    l.w = l.out_w = w;
    l.h = l.out_h = h;
    l.c = l.out_c = c;
    l.scale = lambda;
    l.alpha = gamma;
    alloc_buffers(&l);
    l.forward = forward_gradient_reversal_layer;
    l.backward = backward_gradient_reversal_layer;
#ifdef GPU
    l.forward_gpu = forward_gradient_reversal_layer_gpu;
    l.backward_gpu = backward_gradient_reversal_layer_gpu;
#endif
    return l;
}

void resize_gradient_reversal_layer(layer *l, int w, int h)
{
    free(l->output);
    free(l->delta);
#ifdef GPU
    if(l->output_gpu) cuda_free(l->output_gpu);
    if(l->delta_gpu) cuda_free(l->delta_gpu);
#endif
    l->w = l->out_w = w;
    l->h = l->out_h = h;
    alloc_buffers(l);
}

layer parse_gradient_reversal(list *options, size_params params)
{
    float lambda = dsn_opt_float_range(options, params, SECTION, "lambda", 1, 0, 1000);
    float gamma = dsn_opt_float_range(options, params, SECTION, "gamma", 0, 0, 1000);   /* 0: fixed lambda, 10: the DANN ramp */
    if(params.inputs <= 0) dsn_layer_fail(params, SECTION, "has no input");
    int w = params.w, h = params.h, c = params.c;
    if(w*h*c != params.inputs){ w = h = 1; c = params.inputs; }
    layer l = make_gradient_reversal_layer(params.batch, w, h, c, lambda, gamma);
    fprintf(stderr, "grad_reverse  lambda %g %s        %4d x%4d x%4d   ->  %4d x%4d x%4d\n",
            lambda, gamma > 0 ? "DANN ramp" : "fixed    ", w, h, c, w, h, c);
    return l;
}
