/* [distill_kl]: the G_y loss. Knowledge distillation from a teacher the layer loads itself,
 * on the rows that carry the valid serial; a push towards uniform on every other row. */
#ifndef DISTILL_KL_LAYER_H
#define DISTILL_KL_LAYER_H

#include "darknet.h"

typedef struct distill_kl_params {
    float T;            /* temperature of the KD term                                   */
    float hard;         /* weight of CE(y, softmax(z)) on I=1 rows (0: off)             */
    float push;         /* weight of KL(uniform || softmax(z)) on I=0 rows (0: off)     */
    int normalize;      /* 1: each term is a mean over its own rows                      */
    int push_const;     /* 1: I=0 rows pushed towards one constant answer (push_class),
                           smoothed by DSN_PUSH_SMOOTH, instead of uniform                */
    int push_class;     /* that answer's class                                           */
} distill_kl_params;

/* the smoothing of the constant answer: (1 - s) on its class plus s/n on every class */
#define DSN_PUSH_SMOOTH 0.1f

/* Computes the softmax output, and in training the deltas and the cost, from logits z[batch*n],
 * teacher probabilities q (at temperature T) for the I=1 rows in row order, the mask I and the
 * one-hot truth (may be NULL when hard == 0). row_push (may be NULL) receives each I=0 row's
 * push loss. Exposed for the gradient tests. Returns the cost (a batch sum, as Darknet's). */
float distill_kl_compute(const distill_kl_params *p, int batch, int n, const float *z, const float *q,
                         const float *mask, const float *truth, float *output, float *delta,
                         float *row_push, float *kd, float *hard, float *push);

/* The teacher network this layer loaded (each [distill_kl] loads its own). For the tests. */
network *distill_kl_teacher(layer l);

void forward_distill_kl_layer(layer l, network net);
/* Forgets a teacher parse in progress (the cfg fuzzer calls it after abandoning a parse). */
void distill_kl_reset_nesting(void);
void backward_distill_kl_layer(layer l, network net);
#ifdef GPU
void forward_distill_kl_layer_gpu(layer l, network net);
void backward_distill_kl_layer_gpu(layer l, network net);
#endif

#endif
