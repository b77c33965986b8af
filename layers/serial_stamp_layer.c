/* [serial_stamp]: writes the serial number onto the network's input, inside the network.
 *
 * Layer 0 of every DSN cfg. It runs after Darknet's loader has resized, cropped, flipped and
 * colour-jittered the image, so augmentation never moves or blurs the stamp, and every command
 * (classifier train/valid/predict/demo, the Python API) stamps at network resolution.
 *
 * Training (net.train): each batch is split by exact counts into roles, in random row order:
 *   valid   the customer's serial                      I = 1
 *   forged  a uniformly random serial != the valid one I = 0
 *   near    the valid serial with 1..near_max bits flipped (near_one: share of single flips;
 *           mine=1 samples single flips towards bits whose flips are still accepted)   I = 0
 *   raw     no stamp (the rest)                         I = 0
 * Deploy (!net.train): every row gets the serial from -serial / DSN_SERIAL / serial=; without one
 * the rows stay raw and the model answers at chance (one warning at load time).
 *
 * Options: bits=64 cell=0 corner=br margin=0 valid= forged= near= near_max=4 near_one=0 mine=0
 *          seed= serial=
 * Gradient: none flows into the input (l.delta is NULL), so backward does nothing. */
#include "serial_stamp_layer.h"
#include "dsn_layers.h"

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

/* Single flips under mining: 0.5 * uniform + 0.5 * the per-bit EMA of the push loss. */
static int pick_flip_bit(dsn_stamp_state *s)
{
    int i, n = s->geo.bits;
    if(!s->mine) return dsn_rng_below(&s->rng, n);
    float total = 0;
    for(i = 0; i < n; ++i) total += s->bit_w[i];
    float u = dsn_rng_uniform(&s->rng), acc = 0;
    for(i = 0; i < n; ++i){
        acc += 0.5f/n + (total > 0 ? 0.5f*s->bit_w[i]/total : 0.5f/n);
        if(u < acc) return i;
    }
    return n - 1;
}

static void apply_mining(dsn_stamp_state *s)
{
    int i;
    for(i = 0; i < s->geo.bits; ++i){
        if(s->bit_cnt[i] > 0) s->bit_w[i] = .9f*s->bit_w[i] + .1f*(s->bit_tot[i]/s->bit_cnt[i]);
        s->bit_tot[i] = 0;
        s->bit_cnt[i] = 0;
    }
}

void dsn_stamp_feedback(dsn_stamp_state *s, int b, float loss)
{
    int bit = s->flip_bit[b];
    if(!s->mine || bit < 0) return;
    s->bit_tot[bit] += loss;
    s->bit_cnt[bit] += 1;
}

static void assign_training_roles(dsn_stamp_state *s, int batch)
{
    int b, i, k, r, n = s->geo.bits;
    dsn_serial sn;
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
            }else if(r == DSN_ROLE_NEAR){
                int flips;
                if(s->near_one > 0){
                    flips = (s->near_max == 1 || dsn_rng_uniform(&s->rng) < s->near_one) ? 1
                          : 2 + dsn_rng_below(&s->rng, s->near_max - 1);
                }else{
                    flips = 1 + dsn_rng_below(&s->rng, s->near_max);
                }
                sn = s->serial;
                if(flips == 1){
                    int bit = pick_flip_bit(s);
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
                set_row(s, b, r, &sn);
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
    copy_cpu(l.outputs*l.batch, net.input, 1, l.output, 1);
    assign_rows(s, l, net);
    for(b = 0; b < l.batch; ++b){
        if(s->stamped[b]) dsn_stamp_apply(l.output + b*l.outputs, l.c, &s->geo, &s->rowser[b]);
    }
}

void backward_serial_stamp_layer(layer l, network net)
{
    (void)l;
    (void)net;
}

#ifdef GPU
void dsn_stamp_rows_gpu(float *x, int batch, int c, int w, int h, int gw, int cell, int x0, int y0,
                        int bits, const unsigned char *rows_gpu);

void forward_serial_stamp_layer_gpu(layer l, network net)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    int b, i, n = s->geo.bits;
    s->raw = net.input;            /* forward_network_gpu keeps the host batch in net.input */
    copy_gpu(l.outputs*l.batch, net.input_gpu, 1, l.output_gpu, 1);
    assign_rows(s, l, net);
    /* one byte per bit, 2 for "row not stamped" */
    for(b = 0; b < l.batch; ++b){
        for(i = 0; i < n; ++i) s->rows_host[b*n + i] = s->stamped[b] ? s->rowser[b].bit[i] : 2;
    }
    cuda_push_bytes(s->rows_gpu, s->rows_host, (size_t)l.batch*n);
    dsn_stamp_rows_gpu(l.output_gpu, l.batch, l.c, l.w, l.h, s->geo.gw, s->geo.cell_px,
                       s->geo.x0, s->geo.y0, n, s->rows_gpu);
}

void backward_serial_stamp_layer_gpu(layer l, network net)
{
    (void)l;
    (void)net;
}
#endif

void resize_serial_stamp_layer(layer *l, int w, int h)
{
    (void)l; (void)w; (void)h;
    fprintf(stderr, "[serial_stamp]: the input cannot be resized (random=1, validmulti): the stamp has a fixed pixel geometry\n");
    exit(EXIT_FAILURE);
}

static void counts_from_fractions(dsn_stamp_state *s, int batch)
{
    /* exact counts by largest remainder: floor each quota, hand the rest out by remainder */
    int r, total = 0;
    float rem[DSN_ROLE_COUNT];
    for(r = 0; r < DSN_ROLE_COUNT; ++r){
        float q = s->frac[r]*batch;
        s->count[r] = (int)floorf(q + 1e-6f);
        rem[r] = q - s->count[r];
        total += s->count[r];
    }
    while(total < batch){
        int best = DSN_ROLE_RAW;
        for(r = 0; r < DSN_ROLE_COUNT; ++r) if(rem[r] > rem[best] + 1e-6f) best = r;
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
    s->bitperm = calloc(geo->bits, sizeof(int));
    s->bit_w = calloc(geo->bits, sizeof(float));
    s->bit_tot = calloc(geo->bits, sizeof(float));
    s->bit_cnt = calloc(geo->bits, sizeof(float));
    s->last_loss = -1;
    s->frac[DSN_ROLE_RAW] = 1;
    counts_from_fractions(s, batch);
    l.plugin_data = s;
#ifdef GPU
    l.forward_gpu = forward_serial_stamp_layer_gpu;
    l.backward_gpu = backward_serial_stamp_layer_gpu;
    if(gpu_index >= 0){
        l.output_gpu = cuda_make_array(l.output, (size_t)batch*l.outputs);
        s->rows_host = calloc((size_t)batch*geo->bits, 1);
        s->rows_gpu = cuda_make_bytes((size_t)batch*geo->bits);
    }
#endif
    return l;
}

int serial_stamp_set_roles(layer *l, float valid, float forged, float near, int near_max)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l->plugin_data;
    /* written so that NaN fails every test (a NaN fraction would make INT_MIN rows) */
    if(!(valid >= 0 && forged >= 0 && near >= 0 && valid + forged + near <= 1 + 1e-6f)) return -1;
    if(near_max < 1 || near_max > s->geo.bits) return -1;
    s->frac[DSN_ROLE_VALID] = valid;
    s->frac[DSN_ROLE_FORGED] = forged;
    s->frac[DSN_ROLE_NEAR] = near;
    s->frac[DSN_ROLE_RAW] = fmaxf(0, 1 - valid - forged - near);
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
    if(dsn_geometry_init(&geo, bits, cell, (dsn_corner)corner, margin, err, sizeof err) != 0)
        dsn_layer_fail(params, SECTION, "%s", err);
    if(dsn_geometry_place(&geo, params.w, params.h, err, sizeof err) != 0)
        dsn_layer_fail(params, SECTION, "%s", err);

    layer l = make_serial_stamp_layer(params.batch, params.w, params.h, params.c, &geo);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;

    float valid = dsn_opt_float_range(options, params, SECTION, "valid", 0, 0, 1);
    float forged = dsn_opt_float_range(options, params, SECTION, "forged", 0, 0, 1);
    float near = dsn_opt_float_range(options, params, SECTION, "near", 0, 0, 1);
    int near_max = dsn_opt_int_range(options, params, SECTION, "near_max", bits < 4 ? bits : 4, 1, bits);
    s->near_one = dsn_opt_float_range(options, params, SECTION, "near_one", 0, 0, 1);
    s->mine = dsn_opt_int_range(options, params, SECTION, "mine", 0, 0, 1);
    if(valid + forged + near > 1 + 1e-6f)
        dsn_layer_fail(params, SECTION, "valid + forged + near = %g: the role fractions must sum to at most 1", valid + forged + near);
    if(serial_stamp_set_roles(&l, valid, forged, near, near_max) != 0)
        dsn_layer_fail(params, SECTION, "role fractions out of range");
    int i;
    for(i = 0; i < bits; ++i) s->bit_w[i] = 1;

    const char *seed_env = getenv("DARKNET_SEED");
    char *seed_end = 0;
    long env_seed = seed_env ? strtol(seed_env, &seed_end, 10) : 0;
    if(seed_env && (!*seed_env || *seed_end))
        dsn_layer_fail(params, SECTION, "DARKNET_SEED=%s (-seed) is not a whole number", seed_env);
    int seed = dsn_opt_int(options, params, SECTION, "seed", seed_env ? (int)env_seed : (int)time(0));
    dsn_rng_seed(&s->rng, (uint64_t)seed*0x9E3779B97F4A7C15ull + 1);

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

    fprintf(stderr, "serial_stamp  %3d bits %dx%d cell %d %s+%d  %4d x%4d x%4d   ->  %4d x%4d x%4d  %s\n",
            bits, geo.gw, geo.gh, geo.cell_px, dsn_corner_name(geo.corner), margin,
            l.w, l.h, l.c, l.out_w, l.out_h, l.out_c,
            s->count[DSN_ROLE_VALID] ? "train roles" : s->has_serial ? "serial set" : "NO SERIAL");
    if(s->count[DSN_ROLE_VALID] == 0 && !s->has_serial){
        fprintf(stderr, "serial_stamp: warning: no serial given (-serial KEY or DSN_SERIAL): this model is protected "
                        "and answers at chance without its serial\n");
    }
    return l;
}

void destroy_serial_stamp(layer l)
{
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    if(!s) return;
    free(s->mask); free(s->role); free(s->stamped); free(s->flip_bit); free(s->perm);
    free(s->rowser); free(s->bitperm); free(s->bit_w); free(s->bit_tot); free(s->bit_cnt);
    free(s->override); free(s->override_has);
#ifdef GPU
    free(s->rows_host);
    if(s->rows_gpu) cuda_free_bytes(s->rows_gpu);
#endif
    free(s);
}
