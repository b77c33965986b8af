/* [serial_stamp]: writes the serial number onto the network's input, inside the network.
 *
 * Layer 0 of every DSN cfg. It runs after Darknet's loader has resized, cropped, flipped and
 * colour-jittered the image, so augmentation never moves or blurs the stamp, and every command
 * (classifier train/valid/predict/demo, the Python API) stamps at network resolution.
 *
 * Training (net.train): each batch is split by exact counts into roles, in random row order:
 *   valid   the customer's serial                      I = 1
 *   forged  a uniformly random serial != the valid one I = 0
 *   near    the valid serial with 1..near_max bits flipped (near_one: share of single flips), or
 *           with one neighbour swap (share swap: two 8-neighbouring cells of different value
 *           exchanged, across the wrapped frame's edges too; dsn_serial_swaps); mine=1 samples
 *           single flips and swaps towards those still accepted; near_soft=P: a share P of
 *           the single flips move their cell only part of the way (by 0.3 to 0.9), so the
 *           lock must answer to every cell more steeply than a whole flip needs  I = 0
 *   soft    a continuous stamp: cells anywhere in [0,1] (uniform noise; the valid or a random
 *           serial with every cell moved part of the way to its opposite; a blend of the valid
 *           serial and a forged one), so a stamp optimised as real numbers finds no way in; with soft_pool=N,
 *           half of them are mutations of a pool of N stamps kept by selection: a mutant that the
 *           network accepts more (a larger push loss: its output further from uniform) than the
 *           stamp it came from replaces it, so the pool climbs towards whatever continuous stamp
 *           unlocks the model, and the lock is trained against exactly those (a search in the
 *           spirit of the black-box attacker's, run inside training)                 I = 0
 *   raw     no stamp (the rest)                         I = 0
 * augment=P (training only): before any stamp, each row's raw image is distorted with probability
 * P in one label-preserving way: shifted by up to 3 px, strokes thinned (erosion) or thickened
 * (dilation), blurred, or its ink made fainter. Every role alike, so a distortion says nothing
 * about the serial; the teacher sees the same distorted image, so the student learns to answer
 * as the teacher does on inputs unlike the training set (fidelity under distribution shift).
 * Deploy (!net.train): every row gets the serial from -serial / DSN_SERIAL / serial=; without one
 * the rows stay raw and the model answers at chance (one warning at load time).
 *
 * Sealed customer models (sealed=3, seal_nonce=, seal_cost=, written by dsn export; sealed=2 and 1, the
 * older seals, still read): the weights file is encrypted under the serial (dsn_seal.h); right after Darknet loads it, this
 * layer unseals it with the serial. Without one the network runs on weights that are random draws.
 *
 * Options: bits=64 cell=0 corner=br margin=0 columns=0 frame=0 wrap=0 valid= forged= near= soft= soft_pool=0 near_max=4
 *          near_one=0 mine=0 mine_share=0.5 near_soft=0 swap=0 augment=0 seed= serial= sealed=0 seal_nonce= seal_cost=
 * Multi-GPU training (-gpus 0,1,...): each copy of the network has its own state (parsed anew);
 * copy k > 0 (DSN_NET_COPY, darknet_patch/0034) seeds its generator apart from copy 0.
 * Gradient: none flows into the input (l.delta is NULL), so backward does nothing. */
#include "serial_stamp_layer.h"
#include "dsn_layers.h"
#include "dsn_seal.h"

#include "blas.h"
#include "cuda.h"
#include "utils.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SECTION[] = "[serial_stamp]";

static void set_row(dsn_stamp_state *s, int b, dsn_role role, const dsn_serial *sn)
{
    s->role[b] = (uint8_t)role;
    s->mask[b] = role == DSN_ROLE_VALID;
    s->stamped[b] = sn != NULL;
    if(sn) s->rowser[b] = *sn;
}

/* A continuous stamp for row b (I = 0), one of four kinds with equal odds: every cell uniform
 * noise; the valid serial with each cell moved towards its opposite by up to d, d in [0.2, 0.6];
 * a blend a*valid + (1-a)*forged, a in [0, 0.9]; a random serial moved like the valid one (the
 * neighbourhoods of all-0, all-1 and every other corner an attack may start from). */
/* Row b becomes a mutant of a pool member (the better of two drawn): a quarter of its cells move by
 * a normal step of sd 0.15 (clamped to [0,1]), one cell at least. */
static void set_pool_row(dsn_stamp_state *s, int b)
{
    int i, n = s->geo.bits;
    int p = dsn_rng_below(&s->rng, s->pool_n), q = dsn_rng_below(&s->rng, s->pool_n);
    if(s->pool_score[q] > s->pool_score[p]) p = q;
    float *v = s->rowval + (size_t)b*n;
    const float *src = s->pool + (size_t)p*n;
    int forced = dsn_rng_below(&s->rng, n);
    for(i = 0; i < n; ++i){
        v[i] = src[i];
        if(i != forced && dsn_rng_uniform(&s->rng) >= .25f) continue;
        /* Box-Muller from two uniforms */
        float u1 = dsn_rng_uniform(&s->rng) + 1e-7f, u2 = dsn_rng_uniform(&s->rng);
        v[i] += .15f*sqrtf(-2*logf(u1))*cosf(6.2831853f*u2);
        v[i] = v[i] < 0 ? 0 : v[i] > 1 ? 1 : v[i];
    }
    s->pool_src[b] = p;
    set_row(s, b, DSN_ROLE_SOFT, NULL);
    s->stamped[b] = 2;
}

/* Selection: a mutant accepted more than its parent replaces it; otherwise the parent's score
 * moves towards what its neighbourhood scores now (the network has been trained on it since). */
static void pool_feedback(dsn_stamp_state *s, int b, float loss)
{
    int p = s->pool_src[b], n = s->geo.bits;
    if(p < 0) return;
    if(loss > s->pool_score[p]){
        memcpy(s->pool + (size_t)p*n, s->rowval + (size_t)b*n, n*sizeof(float));
        s->pool_score[p] = loss;
    }else{
        s->pool_score[p] = .9f*s->pool_score[p] + .1f*loss;
    }
}

static void set_soft_row(dsn_stamp_state *s, int b)
{
    int i, n = s->geo.bits, kind = dsn_rng_below(&s->rng, 4);
    float *v = s->rowval + (size_t)b*n;
    s->pool_src[b] = -1;
    if(s->pool_n > 0 && dsn_rng_below(&s->rng, 2)){
        set_pool_row(s, b);
        return;
    }
    float d = .2f + .4f*dsn_rng_uniform(&s->rng), a = .9f*dsn_rng_uniform(&s->rng);
    for(i = 0; i < n; ++i){
        float bit = s->serial.bit[i], u = dsn_rng_uniform(&s->rng);
        if(kind == 3) bit = (float)dsn_rng_below(&s->rng, 2);
        if(kind == 0) v[i] = u;
        else if(kind == 1 || kind == 3) v[i] = bit ? 1 - d*u : d*u;
        else v[i] = a*bit + (1 - a)*(float)(u < .5f);
    }
    set_row(s, b, DSN_ROLE_SOFT, NULL);
    s->stamped[b] = 2;
}

/* One of the n mining items from `first` on (the bits, or the swap pairs): uniform without mining;
 * under it (1 - mine_share) * uniform + mine_share * the items' EMA of the push loss. Returns the
 * item's index. */
static int pick_mined(dsn_stamp_state *s, int first, int n)
{
    int i;
    if(!s->mine) return first + dsn_rng_below(&s->rng, n);
    const float *w = s->bit_w + first;
    float total = 0;
    for(i = 0; i < n; ++i) total += w[i];
    float u = dsn_rng_uniform(&s->rng), acc = 0, m = s->mine_share;
    for(i = 0; i < n; ++i){
        acc += (1 - m)/n + (total > 0 ? m*w[i]/total : m/n);
        if(u < acc) return first + i;
    }
    return first + n - 1;
}

static void apply_mining(dsn_stamp_state *s)
{
    int i;
    for(i = 0; i < s->geo.bits + s->n_swaps; ++i){
        if(s->bit_cnt[i] > 0) s->bit_w[i] = .9f*s->bit_w[i] + .1f*(s->bit_tot[i]/s->bit_cnt[i]);
        s->bit_tot[i] = 0;
        s->bit_cnt[i] = 0;
    }
}

void dsn_stamp_feedback(dsn_stamp_state *s, int b, float loss)
{
    if(s->role[b] == DSN_ROLE_SOFT) pool_feedback(s, b, loss);
    int item = s->flip_bit[b];
    if(!s->mine || item < 0) return;
    s->bit_tot[item] += loss;
    s->bit_cnt[item] += 1;
}

/* Row b: the valid serial with one cell moved part of the way to its opposite (d in [0.3, 0.9]), a
 * continuous stamp (near_soft). No mining feedback: the weights mine full flips only. */
static void set_partial_flip_row(dsn_stamp_state *s, int b, int bit)
{
    int i, n = s->geo.bits;
    float *v = s->rowval + (size_t)b*n, d = .3f + .6f*dsn_rng_uniform(&s->rng);
    for(i = 0; i < n; ++i) v[i] = (float)s->serial.bit[i];
    v[bit] = s->serial.bit[bit] ? 1 - d : d;
    set_row(s, b, DSN_ROLE_NEAR, NULL);
    s->stamped[b] = 2;
}

/* A near row: the valid serial with a neighbour swap (share `swap`), or 1..near_max bits flipped
 * (near_one: share of single flips); single flips and swaps drawn by the mined weights when mine=1. */
static void set_near_row(dsn_stamp_state *s, int b)
{
    int i, n = s->geo.bits, flips;
    dsn_serial sn = s->serial;
    if(s->swap > 0 && s->n_swaps > 0 && dsn_rng_uniform(&s->rng) < s->swap){
        int item = pick_mined(s, n, s->n_swaps), k = item - n;
        sn.bit[s->swap_pair[2*k]] ^= 1;
        sn.bit[s->swap_pair[2*k + 1]] ^= 1;
        s->flip_bit[b] = item;
        set_row(s, b, DSN_ROLE_NEAR, &sn);
        return;
    }
    if(s->near_one > 0){
        flips = (s->near_max == 1 || dsn_rng_uniform(&s->rng) < s->near_one) ? 1
              : 2 + dsn_rng_below(&s->rng, s->near_max - 1);
    }else{
        flips = 1 + dsn_rng_below(&s->rng, s->near_max);
    }
    if(flips == 1){
        int bit = pick_mined(s, 0, n);
        if(s->near_soft > 0 && dsn_rng_uniform(&s->rng) < s->near_soft){
            set_partial_flip_row(s, b, bit);
            return;
        }
        sn.bit[bit] ^= 1;
        s->flip_bit[b] = bit;
    }else{
        /* `flips` distinct positions: a partial Fisher-Yates over the bit indexes */
        for(i = 0; i < n; ++i) s->bitperm[i] = i;
        for(i = 0; i < flips; ++i){
            int j = i + dsn_rng_below(&s->rng, n - i), t = s->bitperm[i];
            s->bitperm[i] = s->bitperm[j];
            s->bitperm[j] = t;
            sn.bit[s->bitperm[i]] ^= 1;
        }
    }
    set_row(s, b, DSN_ROLE_NEAR, &sn);
}

static void assign_training_roles(dsn_stamp_state *s, int batch)
{
    int b, i, k, r, n = s->geo.bits;
    dsn_serial sn;
    s->n_swaps = s->swap > 0 ? dsn_serial_swaps(s->swap_pair, &s->serial, s->geo.columns, s->geo.wrap) : 0;
    apply_mining(s);
    for(b = 0; b < batch; ++b) s->perm[b] = b;
    for(b = batch - 1; b > 0; --b){
        int j = dsn_rng_below(&s->rng, b + 1), t = s->perm[b];
        s->perm[b] = s->perm[j];
        s->perm[j] = t;
    }
    int at = 0;
    s->n_valid = 0;
    for(r = 0; r < DSN_ROLE_COUNT; ++r){
        for(k = 0; k < s->count[r]; ++k, ++at){
            b = s->perm[at];
            s->flip_bit[b] = -1;
            if(r == DSN_ROLE_VALID){
                set_row(s, b, r, &s->serial);
                ++s->n_valid;
            }else if(r == DSN_ROLE_FORGED){
                sn = s->serial;
                do{
                    for(i = 0; i < n; ++i) sn.bit[i] = (uint8_t)dsn_rng_below(&s->rng, 2);
                }while(dsn_serial_hamming(&sn, &s->serial) == 0);
                set_row(s, b, r, &sn);
            }else if(r == DSN_ROLE_SOFT){
                set_soft_row(s, b);
            }else if(r == DSN_ROLE_NEAR){
                set_near_row(s, b);
            }else{
                set_row(s, b, r, NULL);
            }
        }
    }
}

static void assign_deploy_rows(dsn_stamp_state *s, int batch)
{
    int b;
    s->n_valid = 0;
    for(b = 0; b < batch; ++b){
        s->flip_bit[b] = -1;
        if(s->n_override > 0){
            int o = b % s->n_override;
            set_row(s, b, DSN_ROLE_RAW, s->override_has[o] ? &s->override[o] : NULL);
            s->mask[b] = 0;
        }else if(s->has_serial){
            set_row(s, b, DSN_ROLE_VALID, &s->serial);
            ++s->n_valid;
        }else{
            set_row(s, b, DSN_ROLE_RAW, NULL);
        }
    }
}

/* One w x h plane through a 3x3 neighbourhood: erode (min over the plus), dilate (max over the
 * square) or blur ([1 2 1] x [1 2 1] / 16); outside the image counts as 0 (background). */
static void filter3(float *p, float *tmp, int w, int h, int kind)
{
    int x, y, dx, dy;
    for(y = 0; y < h; ++y) for(x = 0; x < w; ++x){
        float acc = kind == 0 ? p[y*w + x] : 0, wsum = 0;
        for(dy = -1; dy <= 1; ++dy) for(dx = -1; dx <= 1; ++dx){
            int xx = x + dx, yy = y + dy;
            float v = (xx < 0 || yy < 0 || xx >= w || yy >= h) ? 0 : p[yy*w + xx];
            if(kind == 0 && dx*dy == 0) acc = v < acc ? v : acc;
            if(kind == 1) acc = v > acc ? v : acc;
            if(kind == 2){ float k = (float)((2 - dx*dx)*(2 - dy*dy)); acc += k*v; wsum += k; }
        }
        tmp[y*w + x] = kind == 2 ? acc/wsum : acc;
    }
    memcpy(p, tmp, (size_t)w*h*sizeof(float));
}

static void shift_plane(float *p, float *tmp, int w, int h, int dx, int dy)
{
    int x, y;
    for(y = 0; y < h; ++y) for(x = 0; x < w; ++x){
        int sx = x - dx, sy = y - dy;
        tmp[y*w + x] = (sx < 0 || sy < 0 || sx >= w || sy >= h) ? 0 : p[sy*w + sx];
    }
    memcpy(p, tmp, (size_t)w*h*sizeof(float));
}

/* augment=P: row b's raw image, distorted in place (every channel the same way). */
static void augment_row(dsn_stamp_state *s, float *im, int w, int h, int c)
{
    if(!(dsn_rng_uniform(&s->rng) < s->augment)) return;
    int k, kind = dsn_rng_below(&s->rng, 5), dx = 0, dy = 0;
    float a = .6f + .4f*dsn_rng_uniform(&s->rng);
    while(kind == 0 && dx == 0 && dy == 0){ dx = dsn_rng_below(&s->rng, 7) - 3; dy = dsn_rng_below(&s->rng, 7) - 3; }
    for(k = 0; k < c; ++k){
        float *p = im + (size_t)k*w*h;
        if(kind == 0) shift_plane(p, s->aug_tmp, w, h, dx, dy);
        else if(kind <= 3) filter3(p, s->aug_tmp, w, h, kind - 1);
        else for(int i = 0; i < w*h; ++i) p[i] *= a;
    }
}

static void assign_rows(dsn_stamp_state *s, layer l, network net)
{
    if(net.train && s->n_override == 0) assign_training_roles(s, l.batch);
    else assign_deploy_rows(s, l.batch);
    memset(&s->stats, 0, sizeof s->stats);
}

void forward_serial_stamp_layer(layer l, network net)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    int b;
    s->raw = net.input;
    if(net.train && s->n_override == 0 && s->augment > 0){   /* the teacher reads the same rows */
        for(b = 0; b < l.batch; ++b) augment_row(s, net.input + (size_t)b*l.inputs, l.w, l.h, l.c);
    }
    copy_cpu(l.outputs*l.batch, net.input, 1, l.output, 1);
    assign_rows(s, l, net);
    for(b = 0; b < l.batch; ++b){
        if(s->stamped[b] == 1) dsn_stamp_apply(l.output + b*l.outputs, l.c, &s->geo, &s->rowser[b]);
        if(s->stamped[b] == 2) dsn_stamp_apply_values(l.output + b*l.outputs, l.c, &s->geo, s->rowval + (size_t)b*s->geo.bits);
    }
}

void backward_serial_stamp_layer(layer l, network net)
{
    (void)l;
    (void)net;
}

#ifdef GPU
void dsn_stamp_rows_gpu(float *x, int batch, int c, int w, int h, int gw, int cell, int x0, int y0,
                        int bits, const float *rows_gpu);

void forward_serial_stamp_layer_gpu(layer l, network net)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    int b, i, n = s->geo.bits;
    s->raw = net.input;            /* forward_network_gpu keeps the host batch in net.input */
    if(net.train && s->n_override == 0 && s->augment > 0){   /* on the host, then to the device */
        for(b = 0; b < l.batch; ++b) augment_row(s, net.input + (size_t)b*l.inputs, l.w, l.h, l.c);
        cuda_push_array(net.input_gpu, net.input, (size_t)l.inputs*l.batch);
    }
    copy_gpu(l.outputs*l.batch, net.input_gpu, 1, l.output_gpu, 1);
    assign_rows(s, l, net);
    /* one value per cell of the stamp (frame included), -1 for "leave this cell's pixels alone" */
    int cells = s->geo.sw*s->geo.sh;
    float bitv[DSN_MAX_BITS];
    for(b = 0; b < l.batch; ++b){
        float *row = s->rows_host + (size_t)b*cells;
        if(!s->stamped[b]){
            for(i = 0; i < cells; ++i) row[i] = -1.f;
            continue;
        }
        for(i = 0; i < n; ++i) bitv[i] = s->stamped[b] == 1 ? (float)s->rowser[b].bit[i] : s->rowval[(size_t)b*n + i];
        dsn_stamp_cells(&s->geo, bitv, row);
    }
    cuda_push_array(s->rows_gpu, s->rows_host, (size_t)l.batch*cells);
    dsn_stamp_rows_gpu(l.output_gpu, l.batch, l.c, l.w, l.h, s->geo.sw, s->geo.cell_px,
                       s->geo.sx0, s->geo.sy0, cells, s->rows_gpu);
}

void backward_serial_stamp_layer_gpu(layer l, network net)
{
    (void)l;
    (void)net;
}
#endif

/* Darknet has just filled layers [start, cutoff) from a weights file (darknet_patch/0022). */
void loaded_serial_stamp(layer *l, network *net, int start, int cutoff)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l->plugin_data;
    if(!s->seal.version) return;
    s->weights_sealed = 1;
    if(!s->has_serial) return;
    if(dsn_seal_network(net, start, cutoff, &s->serial, &s->seal, DSN_UNSEAL) != 0){
        fprintf(stderr, "[serial_stamp]: cannot unseal the weights (sealed=%d): %s\n", s->seal.version,
                s->seal.version >= DSN_SEAL_V2
                ? "a value no version-2 or 3 seal writes (the file was not sealed this way: sealed= in the cfg says otherwise?), "
                  "or out of memory, OpenSSL failed, or a layer type sealing does not know"
                : "out of memory, OpenSSL failed, or a layer type sealing does not know");
        exit(EXIT_FAILURE);
    }
    s->weights_sealed = 0;
}

int dsn_stamp_is_sealed(const network *net)
{
    dsn_stamp_state *s = dsn_stamp_state_of(net);
    return s && s->seal.version && s->weights_sealed;
}

int dsn_stamp_unseal(network *net, const dsn_serial *sn)
{
    dsn_stamp_state *s = dsn_stamp_state_of(net);
    if(!dsn_stamp_is_sealed(net) || sn->nbits != s->geo.bits) return -1;
    if(dsn_seal_network(net, 0, net->n, sn, &s->seal, DSN_UNSEAL) != 0) return -1;
    s->weights_sealed = 0;
    return 0;
}

void resize_serial_stamp_layer(layer *l, int w, int h)
{
    (void)l; (void)w; (void)h;
    fprintf(stderr, "[serial_stamp]: the input cannot be resized (random=1, validmulti): the stamp has a fixed pixel geometry\n");
    exit(EXIT_FAILURE);
}

static void counts_from_fractions(dsn_stamp_state *s, int batch)
{
    /* exact counts by largest remainder: floor each quota, hand the rest out by remainder. In
       integers (fractions to 1e-6), so that ties (16 rows at .35/.1/.3/.15/.1) go the same way in
       every build and under every compiler's float rounding: raw first, then by role order. */
    int r, total = 0;
    long long rem[DSN_ROLE_COUNT];
    for(r = 0; r < DSN_ROLE_COUNT; ++r){
        long long q = llround((double)s->frac[r]*1e6)*batch;
        s->count[r] = (int)(q/1000000);
        rem[r] = q%1000000;
        total += s->count[r];
    }
    while(total < batch){
        int best = DSN_ROLE_RAW;
        for(r = 0; r < DSN_ROLE_COUNT; ++r) if(rem[r] > rem[best]) best = r;
        s->count[best]++;
        rem[best] = -1;
        total++;
    }
}

layer make_serial_stamp_layer(int batch, int w, int h, int c, const dsn_geometry *geo)
{
    layer l = {0};
    dsn_stamp_state *s = calloc(1, sizeof(*s));
    l.batch = batch;
    l.w = l.out_w = w;
    l.h = l.out_h = h;
    l.c = l.out_c = c;
    l.inputs = l.outputs = w*h*c;
    l.output = calloc((size_t)batch*l.outputs, sizeof(float));
    l.forward = forward_serial_stamp_layer;
    l.backward = backward_serial_stamp_layer;
    s->geo = *geo;
    s->batch = batch;
    s->raw = 0;
    s->mask = calloc(batch, sizeof(float));
    s->role = calloc(batch, 1);
    s->stamped = calloc(batch, 1);
    s->flip_bit = calloc(batch, sizeof(int));
    s->perm = calloc(batch, sizeof(int));
    s->rowser = calloc(batch, sizeof(dsn_serial));
    s->rowval = calloc((size_t)batch*geo->bits, sizeof(float));
    s->pool_src = calloc(batch, sizeof(int));
    s->aug_tmp = calloc((size_t)w*h, sizeof(float));
    s->bitperm = calloc(geo->bits, sizeof(int));
    s->swap_pair = calloc(2*DSN_SWAPS_MAX, sizeof(int));
    s->bit_w = calloc(geo->bits + DSN_SWAPS_MAX, sizeof(float));
    s->bit_tot = calloc(geo->bits + DSN_SWAPS_MAX, sizeof(float));
    s->bit_cnt = calloc(geo->bits + DSN_SWAPS_MAX, sizeof(float));
    for(int i = 0; i < geo->bits + DSN_SWAPS_MAX; ++i) s->bit_w[i] = 1;
    s->last_loss = -1;
    s->frac[DSN_ROLE_RAW] = 1;
    counts_from_fractions(s, batch);
    l.plugin_data = s;
#ifdef GPU
    l.forward_gpu = forward_serial_stamp_layer_gpu;
    l.backward_gpu = backward_serial_stamp_layer_gpu;
    if(gpu_index >= 0){
        l.output_gpu = cuda_make_array(l.output, (size_t)batch*l.outputs);
        s->rows_host = calloc((size_t)batch*geo->sw*geo->sh, sizeof(float));
        s->rows_gpu = cuda_make_array(s->rows_host, (size_t)batch*geo->sw*geo->sh);
    }
#endif
    return l;
}

void serial_stamp_set_pool(layer *l, int n)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l->plugin_data;
    int i, bits = s->geo.bits;
    free(s->pool);
    free(s->pool_score);
    s->pool_n = n;
    s->pool = n ? calloc((size_t)n*bits, sizeof(float)) : 0;
    s->pool_score = n ? calloc((size_t)n, sizeof(float)) : 0;
    for(i = 0; i < n*bits; ++i) s->pool[i] = dsn_rng_uniform(&s->rng);
}

int serial_stamp_set_roles(layer *l, float valid, float forged, float near, float soft, int near_max)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l->plugin_data;
    /* written so that NaN fails every test (a NaN fraction would make INT_MIN rows) */
    if(!(valid >= 0 && forged >= 0 && near >= 0 && soft >= 0 && valid + forged + near + soft <= 1 + 1e-6f)) return -1;
    if(near_max < 1 || near_max > s->geo.bits) return -1;
    s->frac[DSN_ROLE_VALID] = valid;
    s->frac[DSN_ROLE_FORGED] = forged;
    s->frac[DSN_ROLE_NEAR] = near;
    s->frac[DSN_ROLE_SOFT] = soft;
    s->frac[DSN_ROLE_RAW] = fmaxf(0, 1 - valid - forged - near - soft);
    s->near_max = near_max;
    counts_from_fractions(s, l->batch);
    return 0;
}

layer parse_serial_stamp(list *options, size_params params)
{
    char err[200];
    dsn_geometry geo;
    if(params.index != 0) dsn_layer_fail(params, SECTION, "must be the first layer (it is layer %d)", params.index);
    if(!(params.h > 0 && params.w > 0 && params.c > 0)) dsn_layer_fail(params, SECTION, "needs an image input: set width, height and channels in [net]");
    if(params.net->random) dsn_layer_fail(params, SECTION, "random=1 in [net] resizes the input, which would move the stamp: set random=0");

    int bits = dsn_opt_int_range(options, params, SECTION, "bits", 64, DSN_MIN_BITS, DSN_MAX_BITS);
    int cell = dsn_opt_int_range(options, params, SECTION, "cell", 0, 0, 65536);
    int margin = dsn_opt_int_range(options, params, SECTION, "margin", 0, 0, 65536);
    const char *corner_name = dsn_opt_str(options, "corner");
    int corner = corner_name ? dsn_corner_from_name(corner_name) : DSN_CORNER_BR;
    if(corner < 0) dsn_layer_fail(params, SECTION, "corner=%s: use tl, tr, bl or br", corner_name);
    int frame = dsn_opt_int_range(options, params, SECTION, "frame", 0, 0, DSN_MAX_FRAME);
    int wrap = dsn_opt_int_range(options, params, SECTION, "wrap", 0, 0, 1);
    int columns = dsn_opt_int_range(options, params, SECTION, "columns", 0, 0, bits);
    if(dsn_geometry_init(&geo, bits, cell, (dsn_corner)corner, margin, err, sizeof err) != 0 ||
       dsn_geometry_set_columns(&geo, columns, err, sizeof err) != 0 ||
       dsn_geometry_set_frame(&geo, frame, wrap, err, sizeof err) != 0)
        dsn_layer_fail(params, SECTION, "%s", err);
    if(dsn_geometry_place(&geo, params.w, params.h, err, sizeof err) != 0)
        dsn_layer_fail(params, SECTION, "%s", err);

    layer l = make_serial_stamp_layer(params.batch, params.w, params.h, params.c, &geo);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;

    float valid = dsn_opt_float_range(options, params, SECTION, "valid", 0, 0, 1);
    float forged = dsn_opt_float_range(options, params, SECTION, "forged", 0, 0, 1);
    float near = dsn_opt_float_range(options, params, SECTION, "near", 0, 0, 1);
    float soft = dsn_opt_float_range(options, params, SECTION, "soft", 0, 0, 1);
    int pool_n = dsn_opt_int_range(options, params, SECTION, "soft_pool", 0, 0, 4096);
    s->augment = dsn_opt_float_range(options, params, SECTION, "augment", 0, 0, 1);
    int near_max = dsn_opt_int_range(options, params, SECTION, "near_max", bits < 4 ? bits : 4, 1, bits);
    s->near_one = dsn_opt_float_range(options, params, SECTION, "near_one", 0, 0, 1);
    s->mine = dsn_opt_int_range(options, params, SECTION, "mine", 0, 0, 1);
    s->mine_share = dsn_opt_float_range(options, params, SECTION, "mine_share", .5f, 0, 1);
    s->near_soft = dsn_opt_float_range(options, params, SECTION, "near_soft", 0, 0, 1);
    s->swap = dsn_opt_float_range(options, params, SECTION, "swap", 0, 0, 1);
    if(valid + forged + near + soft > 1 + 1e-6f)
        dsn_layer_fail(params, SECTION, "valid + forged + near + soft = %g: the role fractions must sum to at most 1",
                       valid + forged + near + soft);
    if(serial_stamp_set_roles(&l, valid, forged, near, soft, near_max) != 0)
        dsn_layer_fail(params, SECTION, "role fractions out of range");
    if(dsn_seal_spec_parse(&s->seal, dsn_opt_str(options, "sealed"), dsn_opt_str(options, "seal_nonce"),
                           dsn_opt_str(options, "seal_cost"), err, sizeof err))
        dsn_layer_fail(params, SECTION, "%s", err);

    const char *seed_env = getenv("DARKNET_SEED");
    char *seed_end = 0;
    long env_seed = seed_env ? strtol(seed_env, &seed_end, 10) : 0;
    if(seed_env && (!*seed_env || *seed_end))
        dsn_layer_fail(params, SECTION, "DARKNET_SEED=%s (-seed) is not a whole number", seed_env);
    int seed = dsn_opt_int(options, params, SECTION, "seed", seed_env ? (int)env_seed : (int)time(0));
    /* -gpus: copy k of the network draws its own roles and serials (darknet_patch/0034); copy 0,
       and every single network, as before */
    const char *copy_env = getenv("DSN_NET_COPY");
    uint64_t copy = copy_env ? (uint64_t)strtoul(copy_env, 0, 10) : 0;
    dsn_rng_seed(&s->rng, (uint64_t)seed*0x9E3779B97F4A7C15ull + 1 + copy*0xD1B54A32D192ED03ull);
    serial_stamp_set_pool(&l, pool_n);

    /* the serial: -serial (DSN_SERIAL) wins over serial= in the cfg */
    const char *opt_serial = dsn_opt_str(options, "serial");
    const char *env_serial = getenv("DSN_SERIAL");
    if(env_serial && !*env_serial)
        dsn_layer_fail(params, SECTION, "-serial (DSN_SERIAL) is empty: give the customer's serial, or leave it unset");
    const char *text = env_serial ? env_serial : opt_serial;
    if(text){
        if(dsn_serial_decode(&s->serial, text, bits, err, sizeof err) != 0)
            dsn_layer_fail(params, SECTION, "serial %s: %s", env_serial ? "from -serial/DSN_SERIAL" : "in serial=", err);
        s->has_serial = 1;
    }
    if(s->count[DSN_ROLE_VALID] > 0 && !s->has_serial)
        dsn_layer_fail(params, SECTION, "valid=%g trains with the customer's serial: pass -serial KEY (or set DSN_SERIAL)", valid);
    if(valid > 0 && s->count[DSN_ROLE_VALID] == 0)
        dsn_layer_fail(params, SECTION, "valid=%g gives no valid row in a batch of %d", valid, params.batch);

    fprintf(stderr, "serial_stamp  %3d bits %dx%d%s cell %d %s+%d  %4d x%4d x%4d   ->  %4d x%4d x%4d  %s\n",
            bits, geo.gw, geo.gh, frame ? (wrap ? "+wrap" : "+frame") : "", geo.cell_px, dsn_corner_name(geo.corner), margin,
            l.w, l.h, l.c, l.out_w, l.out_h, l.out_c,
            s->count[DSN_ROLE_VALID] ? "train roles" : s->has_serial ? "serial set" : "NO SERIAL");
    if(s->count[DSN_ROLE_VALID] == 0 && !s->has_serial){
        fprintf(stderr, "serial_stamp: warning: no serial given (-serial KEY or DSN_SERIAL): this model is protected "
                        "and answers at chance without its serial%s\n", s->seal.version ? " (its weights stay sealed)" : "");
    }
    return l;
}

void destroy_serial_stamp(layer l)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    if(!s) return;
    free(s->mask); free(s->role); free(s->stamped); free(s->flip_bit); free(s->perm);
    free(s->rowser); free(s->rowval); free(s->bitperm); free(s->pool); free(s->pool_score); free(s->pool_src);
    free(s->aug_tmp); free(s->swap_pair); free(s->bit_w); free(s->bit_tot); free(s->bit_cnt);
    free(s->override); free(s->override_has);
#ifdef GPU
    free(s->rows_host);
    if(s->rows_gpu) cuda_free(s->rows_gpu);
#endif
    free(s);
}
