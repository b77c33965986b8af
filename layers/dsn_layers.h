/* dsn_layers.h: what the four DSN layer types share.
 *
 * The layers ([serial_stamp], [gradient_reversal], [distill_kl], [masked_softmax]) are Darknet
 * layer plugins (darknet_patch/0002): compiled into libdarknet, registered from main() by
 * darknet_plugins_init(), parsed from cfg sections like any built-in layer.
 *
 * Darknet's gradient convention holds throughout: l.delta is MINUS the gradient of the loss
 * with respect to the layer's output, summed over the batch; backward ADDS into net.delta.
 *
 * The stamp layer (always layer 0) owns the per-batch state the loss layers need: the raw
 * (unstamped) input, the role of each row (I = 1 for the valid serial) and the per-iteration
 * statistics printed during training. Loss layers find it with dsn_stamp_state(net). */
#ifndef DSN_LAYERS_H
#define DSN_LAYERS_H

#include "darknet.h"
#include "dsn_seal.h"
#include "dsn_serial.h"
#include "dsn_stamp.h"

#include <stdint.h>

/* Roles of a training row, in the order the batch is filled. */
typedef enum { DSN_ROLE_VALID = 0, DSN_ROLE_FORGED, DSN_ROLE_NEAR, DSN_ROLE_SOFT, DSN_ROLE_RAW, DSN_ROLE_COUNT } dsn_role;
extern const char *const dsn_role_names[DSN_ROLE_COUNT];

/* Per-iteration statistics: the loss layers fill them, the last one prints them. */
typedef struct dsn_stats {
    float kd, hard, push;        /* distill_kl: per-row means over I=1 (kd, hard) and I=0 (push) */
    float gd, gd_acc;            /* masked_softmax: G_d cross-entropy and accuracy on its rows  */
    float lambda;                /* gradient_reversal's current lambda                         */
    int have_kd, have_gd, have_lambda;
} dsn_stats;

typedef struct dsn_rng { uint64_t s; } dsn_rng;
void dsn_rng_seed(dsn_rng *r, uint64_t seed);
uint64_t dsn_rng_next(dsn_rng *r);
int dsn_rng_below(dsn_rng *r, int n);            /* uniform in [0, n) */
float dsn_rng_uniform(dsn_rng *r);               /* uniform in [0, 1) */

typedef struct dsn_stamp_state {
    dsn_geometry geo;
    dsn_serial serial;             /* the customer's serial (valid rows; every row at deploy) */
    int has_serial;
    float frac[DSN_ROLE_COUNT];    /* valid, forged, near, soft, raw (raw = the rest)        */
    int count[DSN_ROLE_COUNT];     /* exact rows per batch for each role                     */
    int near_max;                  /* near rows flip 1..near_max bits                        */
    float near_one;                /* P(exactly one flip) for a near row; 0: uniform k       */
    int mine;                      /* hard-negative mining of single flips and swaps         */
    float mine_share;              /* share of their draws made by the mined weights         */
    float near_soft;               /* share of single flips that move their cell part way    */
    float swap;                    /* share of near rows that swap two neighbouring cells    */
    int n_swaps;                   /* the serial's neighbour swaps (dsn_serial_swaps)        */
    int *swap_pair;                /* [2 * DSN_SWAPS_MAX] their bit indexes                  */
    /* mining (mine=1) over items: bit i (single flips), then bits + k (swap pair k) */
    float *bit_w;                  /* [bits + DSN_SWAPS_MAX] EMA of the push loss, per item  */
    dsn_rng rng;
    int batch;
    /* this batch */
    float *raw;                    /* host pointer to the unstamped input (net.input)        */
    float *mask;                   /* [batch] I: 1 = valid serial, 0 = anything else         */
    uint8_t *role;                 /* [batch] dsn_role                                       */
    uint8_t *stamped;              /* [batch] 1: a serial's bits (rowser), 2: continuous     */
    dsn_serial *rowser;            /* [batch] the serial stamped on each stamped row         */
    float *rowval;                 /* [batch * bits] cell values of continuous (soft) rows   */
    /* soft_pool=N: continuous stamps the lock still accepts, found by mutation and selection on
       the push loss (the G_y output's distance from uniform) of earlier batches */
    int pool_n;                    /* members (0: off)                                       */
    float *pool;                   /* [pool_n * bits] cell values                            */
    float *pool_score;             /* [pool_n] push loss of each member when last seen       */
    int *pool_src;                 /* [batch] the member a soft row mutated, -1              */
    float augment;                 /* P(a row's raw image is distorted before stamping)      */
    float *aug_tmp;                /* [w*h] scratch plane                                    */
    int *flip_bit;                 /* [batch] the mined item of a near row (above), or -1    */
    int n_valid;                   /* rows with I = 1 in this batch                          */
    int *perm, *bitperm;           /* scratch permutations [batch], [bits]                   */
    float *bit_tot, *bit_cnt;      /* [bits + DSN_SWAPS_MAX] mining feedback of this batch   */
    /* evaluation override (dsn eval): row b gets override[b % n_override]; has==0: raw */
    dsn_serial *override;
    uint8_t *override_has;
    int n_override;
    /* sealed customer model (sealed=1..3): its weights file is keyed to the serial (dsn_seal.h) */
    dsn_seal_spec seal;            /* the cfg's sealed= and seal_nonce=; version 0: not sealed */
    int weights_sealed;            /* the loaded weights are still sealed (no serial yet)   */
    /* reporting */
    dsn_stats stats;
    int last_loss;                 /* index of the last DSN loss layer: it prints the line   */
#ifdef GPU
    float *rows_host, *rows_gpu;   /* [batch * bits] cell values, -1 = row not stamped       */
#endif
} dsn_stamp_state;

/* The stamp state of net (layer 0 must be [serial_stamp]); NULL otherwise. */
dsn_stamp_state *dsn_stamp_state_of(const network *net);

/* Evaluation hook: stamp row b of every following forward pass with serials[b % n] (has[b % n]
 * == 0: leave that row raw). n == 0 restores normal behaviour. Copies the arrays. Returns 0, or
 * -1 when net has no [serial_stamp] layer or a serial has the wrong length. */
int dsn_stamp_override(network *net, const dsn_serial *serials, const uint8_t *has, int n);

/* A sealed model (sealed=1, 2 or 3 in [serial_stamp]) is unsealed right after its weights load when a
 * serial was given (-serial / DSN_SERIAL). dsn_stamp_is_sealed: 1 while net's loaded weights are
 * still sealed. dsn_stamp_unseal: unseals them with sn (e.g. a certificate's serial); returns 0, or
 * -1 when net has no sealed weights loaded, sn has the wrong length, or unsealing failed. */
int dsn_stamp_is_sealed(const network *net);
int dsn_stamp_unseal(network *net, const dsn_serial *sn) __attribute__((warn_unused_result));
void loaded_serial_stamp(layer *l, network *net, int start, int cutoff);

/* Mining feedback from the push loss: row b (a near row: a single flip or a swap) had push loss `loss`. */
void dsn_stamp_feedback(dsn_stamp_state *s, int b, float loss);

/* Called by a loss layer at parse time: it reports statistics, the last one prints. */
void dsn_stamp_register_loss(dsn_stamp_state *s, int index);
/* Called by each loss layer after its forward; prints the line when index is the last. */
void dsn_stamp_report(dsn_stamp_state *s, int index, network net);

/* ---- strict option parsing: a bad value is a fatal error naming the file:line, section, option ----
 * Fatal errors go through darknet_fatal (darknet_patch/0023): exit code darknet_exit_code, and the
 * cfg fuzzer's hook. An int must be a whole number, a float a finite number (checked on its bits,
 * whatever the compiler's finite-math assumptions), both within [lo, hi] for the _range forms. */
void dsn_layer_fail(size_params p, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
int dsn_opt_int(list *options, size_params p, const char *section, const char *key, int def);
int dsn_opt_int_range(list *options, size_params p, const char *section, const char *key, int def, int lo, int hi);
float dsn_opt_float(list *options, size_params p, const char *section, const char *key, float def);
float dsn_opt_float_range(list *options, size_params p, const char *section, const char *key, float def,
                          float lo, float hi);
/* NULL when absent; the string lives only while the section is parsed (strdup to keep it). */
const char *dsn_opt_str(list *options, const char *key);
/* 1 when x is neither NaN nor infinite, tested on the bits (survives -ffinite-math-only). */
int dsn_float_is_finite(float x);

#ifdef GPU
#endif

/* ---- the layer types ---------------------------------------------------------------------- */
layer parse_serial_stamp(list *options, size_params params);
void destroy_serial_stamp(layer l);
layer parse_gradient_reversal(list *options, size_params params);
layer parse_distill_kl(list *options, size_params params);
void destroy_distill_kl(layer l);
layer parse_masked_softmax(list *options, size_params params);

#endif
