/* dsn_attack.h: a thief's attacks on a customer model (`dsn attack KIND`), each a real Darknet
 * run on the stolen cfg and weights, measured against an honest baseline.
 *
 *     dsn_attack_opts o;  char err[1024];
 *     dsn_attack_opts_init(&o);
 *     o.cfg = "alice.cfg";  o.weights = "alice.weights";  o.data = "cfg/mnist.data";
 *     o.cert = "alice.sn";  o.pub = "owner.pub.pem";        // optional: the owner's reference rows
 *     o.json = "finetune.json";  o.md = "finetune.md";  o.png_dir = "report";
 *     if(dsn_attack_run("finetune", &o, err, sizeof err) != 0) ...   // err names what is wrong
 *
 * Kinds (dsn_attack_kinds): finetune, transfer, prune, overwrite, keysearch, reverse, blackbox,
 * distill; `dsn attack --help` says what each does. What the thief holds: the customer cfg, the
 * weights, the stamp geometry (it is in the cfg), the training images (labelled where a kind says
 * so) and no serial. The certificate, when given, only adds the owner's reference measures (the
 * stolen model with its serial; the Hamming distance of a recovered stamp; tracing after the
 * attack), except for overwrite, whose attacker is the leaking customer and knows the serial.
 *
 * Every random choice (image subsets, row order, initialisation, serials, patch starts) comes from
 * --seed through independent streams; the same options give the same numbers (up to the float
 * summation order of Darknet's threads). Every output is written whole (an atomic rename): JSON
 * (libjansson), markdown, and PNG curves through gnuplot (skipped with a warning without it).
 *
 * The context below is shared by the kinds' implementations (dsn_attack_learn.c, dsn_attack_key.c);
 * callers only fill dsn_attack_opts. */
#ifndef DSN_ATTACK_H
#define DSN_ATTACK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dsn_cert.h"
#include "dsn_eval.h"
#include "dsn_learn.h"
#include "dsn_model.h"
#include "dsn_verify.h"

#define DSN_ATTACK_MAX_LIST 32
#define DSN_ATTACK_MAX_CONTROLS 16     /* --controls: random networks per control             */

typedef struct dsn_attack_ctx dsn_attack_ctx;

typedef struct dsn_attack_opts {
    const char *cfg, *weights, *data;    /* the stolen customer model and the data set       */
    const char *cert, *pub;              /* the owner's certificate of it (optional)          */
    const char *certs;                   /* issued certificates: trace the attacked models    */
    const char *json, *md, *png_dir;     /* outputs (each optional)                           */
    const char *cache;                   /* training results reused across runs (optional)    */
    const char *student_cfg;             /* overwrite: the DSN student recipe (cfg)           */
    const char *task_data;               /* transfer: a second task's .data (optional)        */
    const char *task_sizes;              /* transfer: its sizes ("100,500,1000")              */
    const char *darknet;                 /* reverse: the darknet binary (default: beside dsn) */
    const char *name;                    /* a label for the outputs (default: the customer)   */
    int seed;                            /* base seed (0)                                     */
    int repeats;                         /* seeds on the repeated sizes (3)                   */
    const char *sizes;                   /* training-set sizes: "1%,5%,...,100,500,1000"       */
    const char *repeat_sizes;            /* sizes run with every seed ("100,500,1000")        */
    const char *lrs;                     /* learning rates ("0.001,0.0001")                   */
    const char *variants;                /* kind-specific list (default: all)                 */
    const char *levels;                  /* prune: percent levels ("10,...,90")               */
    int batch;                           /* training batch (64)                               */
    int epochs, iters_min, iters_max;    /* budget: clamp(epochs * n / batch, min, max)       */
    int curve_every, curve_images;       /* learning curves                                   */
    int test_images;                     /* test images for final accuracies (0: all)        */
    long queries;                        /* keysearch (100000) / blackbox (10000) budget      */
    int per_serial, finalists;           /* keysearch screening                               */
    int images;                          /* reverse/blackbox: labelled images held (1000)     */
    int steps;                           /* reverse: optimiser steps per start (300)          */
    const char *starts;                  /* reverse: "0.5,0,1,random"                         */
    const char *patch_lr;                /* reverse/blackbox step size ("0.05")               */
    int round_bits;                      /* reverse: bits fixed per progressive round (1)     */
    int png_images;                      /* reverse: patched PNGs run through darknet (500)  */
    int controls;                        /* reverse, blackbox: random networks run as the
                                            control (3; 0: none)                              */
    const char *kd;                      /* overwrite: "hard" (KD off), "unlocked" or both    */
    const char *orig_frac;               /* overwrite: share of raw rows stamped with the
                                            original serial and pushed to uniform ("0.5")     */
    int trace_images;                    /* trace after an attack: test images (400)          */
    int quiet;
} dsn_attack_opts;

void dsn_attack_opts_init(dsn_attack_opts *o);

typedef struct dsn_attack_kind {
    const char *name;
    int (*run)(dsn_attack_ctx *a);
    const char *help;
    int needs_cert;                      /* 1: the owner's certificate is required            */
} dsn_attack_kind;

extern const dsn_attack_kind dsn_attack_kinds[];
extern const int dsn_attack_n_kinds;

/* Runs one kind and writes its outputs. Returns 0, or -1 with err set. */
int dsn_attack_run(const char *kind, const dsn_attack_opts *o, char *err, size_t errlen);

/* Merges attack JSON files into one report: out_json {"attacks": {kind: [results]}} and
 * out_md (a headline table, then every result's markdown, in the order given). */
int dsn_attack_summary(const char *const *inputs, int n, const char *out_json, const char *out_md,
                       char *err, size_t errlen);

/* ---- for the implementations ------------------------------------------------------------- */

struct dsn_attack_ctx {
    const dsn_attack_opts *o;
    const dsn_attack_kind *kind;
    char *err;
    size_t errlen;
    dsn_cfg cfg;                  /* the stolen cfg                                          */
    dsn_model stolen;             /* built without [serial_stamp], batch o->batch             */
    dsn_geometry geo;             /* its stamp geometry, placed                              */
    int has_cert;
    dsn_cert cert;                /* the owner's certificate (has_cert)                      */
    int n_certs;                  /* issued certificates for tracing (o->certs)              */
    dsn_cert *certs;
    dsn_geometry *cert_geo;
    dsn_serial *cert_serial;
    dsn_eval_data train, test;
    int n_test;                   /* test images used for final accuracies                  */
    char cfg_sha[65], weights_sha[65];
    json_t *root;                 /* the result                                             */
    json_t *cache;                /* o->cache's contents                                    */
    int cache_dirty;
    char *md;                     /* markdown being written (malloc'd)                      */
    size_t md_len, md_cap;
    char subsampled[1024];        /* what was cut to fit the budget                          */
};

/* Markdown, printf-style, appended to a->md. */
void dsn_attack_md(dsn_attack_ctx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets a->err (printf-style) and returns -1. */
int dsn_attack_fail(dsn_attack_ctx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress line on stderr (unless quiet). */
void dsn_attack_say(dsn_attack_ctx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A training-set size: "10%" of the training images or an absolute count. */
typedef struct dsn_size { char text[16]; int n; double frac; } dsn_size;
/* Parses a comma list of sizes against a training set of `total` images. Returns the count, or
 * -1 with err set. */
int dsn_attack_sizes(dsn_attack_ctx *a, const char *list, int total, dsn_size *out, int max);
/* A comma list of reals. Returns the count, or -1 with err set naming option. */
int dsn_attack_reals(dsn_attack_ctx *a, const char *option, const char *list, double *out, int max);
/* 1 when the size's text is in the repeat list. */
int dsn_attack_is_repeated(dsn_attack_ctx *a, const dsn_size *s);
/* The iterations a size gets: clamp(epochs * n / batch, iters_min, iters_max). */
int dsn_attack_iterations(const dsn_attack_ctx *a, int n);
/* A class-stratified subset of n training images (seeded by seed and n). */
int *dsn_attack_subset(dsn_attack_ctx *a, int n, uint64_t seed);
/* Appends a note (printf-style) to what was subsampled. */
void dsn_attack_subsampled(dsn_attack_ctx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A seed for (base, tag, a, b). */
uint64_t dsn_attack_seed(uint64_t base, const char *tag, long x, long y);

/* The stolen cfg edited for training: stamp removed, [net] batch, Adam, constant rate. Caller
 * frees with dsn_cfg_free. */
int dsn_attack_train_cfg(dsn_attack_ctx *a, dsn_cfg *out, int batch);

/* The networks of an attack, each built with dsn_verify_model_opts (without [serial_stamp]: the
 * attacks edit the input themselves; quiet, on the CPU).
 * The stolen cfg and weights (o->weights), loaded as they are (a sealed model stays sealed).
 * Returns 0, or -1 with err. */
int dsn_attack_load_stolen(dsn_attack_ctx *a, dsn_model *m, int batch);
/* A network of the stolen architecture (no stamp), fresh random init from init_seed. */
int dsn_attack_fresh_net(dsn_attack_ctx *a, dsn_model *m, int batch, unsigned init_seed);
/* The stolen network (no stamp) loaded again and sealed under a random serial drawn from seed:
 * for a sealed model, what the thief would hold under another key (sealing twice is one such
 * sealing: a keyed permutation with sign flips in version 1, a keyed pad in versions 2 and 3). Returns 0,
 * or -1 with err. */
int dsn_attack_resealed_net(dsn_attack_ctx *a, dsn_model *m, int batch, uint64_t seed);
/* The seal the attacks seal copies with: the stolen model's, or the latest (a fixed nonce) for an
 * open one. */
dsn_seal_spec dsn_attack_seal(const dsn_attack_ctx *a);

/* Test accuracy (percent) of a stamp-free network on the first n_test test images, edited by in. */
dsn_eval_acc dsn_attack_test_acc(dsn_attack_ctx *a, network *net, const dsn_input *in, int out_layer);

/* A training run's JSON record (seed, lr, accuracy, curve, hashes, budget). */
json_t *dsn_attack_fit_json(const dsn_fit_result *r, uint64_t seed, const dsn_eval_acc *acc);

/* Cached results: key -> JSON object (borrowed), or NULL. Store copies the object. */
json_t *dsn_attack_cache_get(dsn_attack_ctx *a, const char *key);
void dsn_attack_cache_put(dsn_attack_ctx *a, const char *key, json_t *value);
/* Writes the cache file (atomically) when it changed. */
void dsn_attack_cache_flush(dsn_attack_ctx *a);

/* Traces a stamp-free network against the issued certificates (o->certs): a JSON object with
 * the named customer (or null) and the top candidates, or NULL when no certificates are given. */
json_t *dsn_attack_trace(dsn_attack_ctx *a, network *net);
/* The fraction of the first connected layer's units that never fire on n training images. */
double dsn_attack_dead_units(dsn_attack_ctx *a, network *net, int layer, const dsn_input *in, int n);

/* Curves: plots series (x, y) into png_dir/<name>.png through gnuplot. Each panel has a title
 * and up to 8 series; the .dat/.gp files go beside it in png_dir/plots/. */
typedef struct dsn_series { const char *title; int n; const int *x; const double *y; int dashed; } dsn_series;
typedef struct dsn_panel { char title[128]; int n; dsn_series s[8]; } dsn_panel;
int dsn_attack_plot(dsn_attack_ctx *a, const char *name, const char *xlabel, const char *ylabel,
                    const dsn_panel *panels, int n_panels);

/* stderr to /dev/null and back (Darknet's and the DSN layers' chatter during a run). */
int dsn_attack_mute(void);
void dsn_attack_unmute(int saved);
/* Reads a fit record's "curve" ([[iteration, accuracy], ...]) into x, y (at most max points). */
int dsn_attack_curve(json_t *fit, int *x, double *y, int max);

/* The kinds. */
int dsn_attack_finetune(dsn_attack_ctx *a);
int dsn_attack_transfer(dsn_attack_ctx *a);
int dsn_attack_overwrite(dsn_attack_ctx *a);
int dsn_attack_distill(dsn_attack_ctx *a);
int dsn_attack_prune(dsn_attack_ctx *a);
int dsn_attack_keysearch(dsn_attack_ctx *a);
int dsn_attack_reverse(dsn_attack_ctx *a);
int dsn_attack_blackbox(dsn_attack_ctx *a);

/* The white-box search (reverse, and distill's unlocking): optimises a continuous patch in the
 * stamp region on labelled training images idx[0..n) by Adam steps on the input gradient of
 * Darknet's cross-entropy through the stolen network (backward_network into net->delta), clamped
 * to [0,1]. Parameters: one per cell (per_cell) or one per pixel and channel; they start from
 * init (P values) or from `start` ("0.5", "0", "1", "random"); fixed[i] != 0 keeps parameter i at
 * its start. The first surrogate_steps steps run the network with leaky ReLUs (slope 0.1) in
 * place of its ReLUs, so that units dead for every image still pass a gradient (a
 * straight-through surrogate); the rest run the true network. params (P out) and patch
 * (dsn_patch_size out) receive the result. Returns the accuracy on the n images with the final
 * patch, or -1 on failure (a->err set). */
typedef struct dsn_patch_opts {
    const float *init;
    const char *start;
    int per_cell, steps, surrogate_steps;
    double lr;
    uint64_t seed;
    const uint8_t *fixed;
} dsn_patch_opts;

double dsn_attack_patch_search(dsn_attack_ctx *a, const int *idx, int n, const dsn_patch_opts *po, float *params,
                               float *patch);

#endif
