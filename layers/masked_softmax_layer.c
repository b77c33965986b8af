/* [masked_softmax]: the G_d loss of a DSN student.
 *
 * Gradient convention (Darknet's): l.delta is minus the gradient of the loss with respect to
 * the logits this layer reads, summed over the batch; backward adds into net.delta.
 *
 * On the selected rows (select=neg: I=0, the rows without the valid serial; pos: I=1; all):
 *   L = scale * CE(y, softmax(z)),   -dL/dz = scale * (y - softmax(z))
 * Other rows get no gradient. With normalize=1 the loss is a mean over the selected rows.
 * Behind a [gradient_reversal], this trains G_d to classify inputs without the serial while
 * pushing the shared features G_e to make that impossible.
 *
 * Options: select=neg scale=1 normalize=1 */
#include "masked_softmax_layer.h"
#include "dsn_layers.h"

#include "blas.h"
#include "cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SECTION[] = "[masked_softmax]";
static const char *const select_names[] = {"neg", "pos", "all"};

static int selected(int select, const float *mask, int b)
{
    if(select == MASKED_ALL || !mask) return select == MASKED_ALL || select == MASKED_NEG;
    return select == MASKED_POS ? mask[b] > .5f : mask[b] <= .5f;
}

float masked_softmax_compute(int select, float scale, int normalize, int batch, int n, const float *z,
                             const float *mask, const float *truth, float *output, float *delta,
                             float *ce_mean, float *acc)
{
    int b, i, rows = 0, right = 0;
    double ce = 0;
    for(b = 0; b < batch; ++b){
        const float *zb = z + b*n;
        float *ob = output + b*n, mx = zb[0], sum = 0;
        for(i = 1; i < n; ++i) if(zb[i] > mx) mx = zb[i];
        for(i = 0; i < n; ++i){ ob[i] = expf(zb[i] - mx); sum += ob[i]; }
        for(i = 0; i < n; ++i) ob[i] /= sum;
    }
    if(!delta || !truth) return 0;
    for(b = 0; b < batch; ++b) rows += selected(select, mask, b);
    float s = scale * (normalize && rows ? (float)batch/rows : 1);
    for(b = 0; b < batch; ++b){
        float *db = delta + b*n;
        const float *ob = output + b*n, *tb = truth + b*n;
        if(!selected(select, mask, b)){
            memset(db, 0, n*sizeof(float));
            continue;
        }
        int best = 0, label = 0;
        for(i = 0; i < n; ++i){
            db[i] = s * (tb[i] - ob[i]);
            if(tb[i] > 0) ce -= tb[i] * logf(ob[i] + 1e-30f);
            if(ob[i] > ob[best]) best = i;
            if(tb[i] > tb[label]) label = i;
        }
        right += best == label;
    }
    if(ce_mean) *ce_mean = rows ? ce/rows : 0;
    if(acc) *acc = rows ? (float)right/rows : 0;
    return (float)(s*ce);
}

static void ms_forward(layer l, network net, const float *z)
{
    dsn_stamp_state *s = dsn_stamp_state_of(&net);
    int train = net.train && net.truth;
    float ce = 0, acc = 0;
    float cost = masked_softmax_compute(l.n, l.scale, l.flip, l.batch, l.inputs, z, s ? s->mask : 0,
                                        net.truth, l.output, train ? l.delta : 0, &ce, &acc);
    if(l.cost) l.cost[0] = cost;
    if(train && s){
        s->stats.gd = ce;
        s->stats.gd_acc = acc;
        s->stats.have_gd = 1;
        dsn_stamp_report(s, net.index, net);
    }
}

void forward_masked_softmax_layer(layer l, network net)
{
    ms_forward(l, net, net.input);
}

void backward_masked_softmax_layer(layer l, network net)
{
    if(net.delta) axpy_cpu(l.inputs*l.batch, 1, l.delta, 1, net.delta, 1);
}

#ifdef GPU
void forward_masked_softmax_layer_gpu(layer l, network net)
{
    cuda_pull_array(net.input_gpu, l.x, l.inputs*l.batch);
    ms_forward(l, net, l.x);
    cuda_push_array(l.output_gpu, l.output, l.outputs*l.batch);
    cuda_push_array(l.delta_gpu, l.delta, l.outputs*l.batch);
}

void backward_masked_softmax_layer_gpu(layer l, network net)
{
    if(net.delta_gpu) axpy_gpu(l.inputs*l.batch, 1, l.delta_gpu, 1, net.delta_gpu, 1);
}
#endif

layer parse_masked_softmax(list *options, size_params params)
{
    layer l = {0};
    dsn_stamp_state *s = dsn_stamp_state_of(params.net);
    const char *sel = dsn_opt_str(options, "select");
    int i, select = -1;
    for(i = 0; i < 3; ++i) if(!sel || strcmp(sel, select_names[i]) == 0){ select = i; break; }
    if(select < 0) dsn_layer_fail(params, SECTION, "select=%s: use neg (rows without the valid serial), pos or all", sel);
    if(select != MASKED_ALL && !s) dsn_layer_fail(params, SECTION, "select=%s needs a [serial_stamp] as layer 0", select_names[select]);
    if(params.inputs < 2) dsn_layer_fail(params, SECTION, "expects class logits, gets %d inputs", params.inputs);
    l.scale = dsn_opt_float_range(options, params, SECTION, "scale", 1, 0, 1000);
    l.flip = dsn_opt_int_range(options, params, SECTION, "normalize", 1, 0, 1);
    l.n = select;
    l.batch = params.batch;
    l.inputs = l.outputs = params.inputs;
    l.w = l.h = l.out_w = l.out_h = 1;
    l.c = l.out_c = l.outputs;
    l.output = calloc((size_t)l.batch*l.outputs, sizeof(float));
    l.delta = calloc((size_t)l.batch*l.outputs, sizeof(float));
    l.x = calloc((size_t)l.batch*l.outputs, sizeof(float));
    l.cost = calloc(1, sizeof(float));
    l.forward = forward_masked_softmax_layer;
    l.backward = backward_masked_softmax_layer;
#ifdef GPU
    l.forward_gpu = forward_masked_softmax_layer_gpu;
    l.backward_gpu = backward_masked_softmax_layer_gpu;
    if(gpu_index >= 0){
        l.output_gpu = cuda_make_array(l.output, (size_t)l.batch*l.outputs);
        l.delta_gpu = cuda_make_array(l.delta, (size_t)l.batch*l.outputs);
    }
#endif
    if(s) dsn_stamp_register_loss(s, params.index);
    fprintf(stderr, "masked_softmax select %s scale %g                %4d  ->  %4d\n", select_names[select], l.scale, l.inputs, l.outputs);
    return l;
}
