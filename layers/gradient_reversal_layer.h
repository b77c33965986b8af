/* [gradient_reversal]: identity forward; backward adds -lambda * delta (the DANN trick). */
#ifndef GRADIENT_REVERSAL_LAYER_H
#define GRADIENT_REVERSAL_LAYER_H

#include "darknet.h"

/* lambda: the weight; gamma > 0 puts it on the ramp lambda * (2/(1+exp(-gamma p)) - 1) over
 * training progress p = batches seen / max_batches (gamma = 10 is DANN's); gamma = 0: fixed. */
layer make_gradient_reversal_layer(int batch, int w, int h, int c, float lambda, float gamma);
float gradient_reversal_lambda(const layer *l, const network *net);
void forward_gradient_reversal_layer(layer l, network net);
void backward_gradient_reversal_layer(layer l, network net);
void resize_gradient_reversal_layer(layer *l, int w, int h);
#ifdef GPU
void forward_gradient_reversal_layer_gpu(layer l, network net);
void backward_gradient_reversal_layer_gpu(layer l, network net);
#endif

#endif
