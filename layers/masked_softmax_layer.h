/* [masked_softmax]: the G_d loss: softmax cross-entropy with the true labels on a subset of
 * rows chosen by the serial stamp's mask (select=neg: I=0 rows, pos: I=1, all). */
#ifndef MASKED_SOFTMAX_LAYER_H
#define MASKED_SOFTMAX_LAYER_H

#include "darknet.h"

enum { MASKED_NEG = 0, MASKED_POS = 1, MASKED_ALL = 2 };

/* softmax(z) into output; in training (delta != NULL) delta = scale * (t - p) on the selected
 * rows (scaled by batch/rows when normalize), 0 elsewhere. Returns the batch-sum cost; *acc
 * receives the accuracy on the selected rows. Exposed for the gradient tests. */
float masked_softmax_compute(int select, float scale, int normalize, int batch, int n, const float *z,
                             const float *mask, const float *truth, float *output, float *delta,
                             float *ce_mean, float *acc);
void forward_masked_softmax_layer(layer l, network net);
void backward_masked_softmax_layer(layer l, network net);
#ifdef GPU
void forward_masked_softmax_layer_gpu(layer l, network net);
void backward_masked_softmax_layer_gpu(layer l, network net);
#endif

#endif
