/* dsn_learn.h: running and training Darknet networks on images held in memory, with the input
 * edits the attacks and the ownership checks need (a serial stamped, a continuous patch pasted).
 *
 *     dsn_eval_data train, test;                       // dsn_eval.h: images in memory
 *     dsn_learn_load_set(&train, "cfg/mnist.data", "train", 28, 28, 1, err, sizeof err);
 *     dsn_input in = {.geo = &m.geo, .serial = &serial};   // stamp the serial on every row
 *     long right = dsn_run_images(m.net, &test, NULL, test.n, &in, -1, NULL, NULL);
 *
 *     dsn_fit_opts f;  dsn_fit_result r;
 *     dsn_fit_opts_init(&f);  f.iterations = 300;  f.lr = 1e-3f;  f.order_seed = 7;
 *     f.test = &test;  f.eval_every = 25;               // a learning curve on the test images
 *     dsn_fit(net, &train, idx, n, &f, &r);             // Darknet's train_network_datum
 *     ...  dsn_fit_result_free(&r);
 *
 * Training is Darknet's own step (forward, backward, update with the network's optimiser) on
 * batches this file fills: the n images of idx, reshuffled every epoch by a generator seeded with
 * order_seed, so two runs with the same idx, options and order_seed see the same rows in the same
 * order (the result carries the SHA-256 of the image list and of the row order to prove it).
 * Inputs are used as loaded: no augmentation. Evaluation runs net->batch rows per forward pass;
 * a network built without [serial_stamp] gets its stamp or patch from the dsn_input here. */
#ifndef DSN_LEARN_H
#define DSN_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "darknet.h"
#include "dsn_eval.h"
#include "dsn_layers.h"

/* The images of a .data file's list `key` ("train" or "valid"), loaded at w x h x c. Returns 0,
 * or -1 with err naming the file. */
int dsn_learn_load_set(dsn_eval_data *d, const char *data_path, const char *key, int w, int h, int c,
                       char *err, size_t errlen);

/* ---- input edits -------------------------------------------------------------------------- */

/* A patch covers the stamp grid's bounding box: c planes of (gh*cell_px) x (gw*cell_px) pixels at
 * (x0, y0); only the pixels of the grid's cells (dsn_stamp_covers) are written. */
int dsn_patch_size(const dsn_geometry *g, int c);
/* Per-cell values (bits of them, one per cell, every channel) expanded to a patch. */
void dsn_patch_from_cells(float *patch, const float *cells, const dsn_geometry *g, int c);
/* The sum of a per-pixel gradient over each cell: the gradient of the per-cell values. */
void dsn_patch_grad_to_cells(float *cells, const float *grad_patch, const dsn_geometry *g, int c);
/* Reads the patch region of an image-sized buffer (c planes of w x h) into a patch. */
void dsn_patch_gather(float *patch, const float *im, const dsn_geometry *g, int c);

typedef struct dsn_input {
    const dsn_geometry *geo;   /* where serial and patch go (placed for the image size)    */
    const dsn_serial *serial;  /* stamped when not NULL                                      */
    const float *patch;        /* pasted when not NULL (after the serial)                     */
} dsn_input;

/* Edits one CHW image in place. */
void dsn_input_apply(float *im, int c, const dsn_input *in);

/* The gradient of a loss with respect to a patch pasted by dsn_input_apply, from the input
 * gradient of B images of `inputs` floats each in Darknet's convention (delta = minus the
 * gradient): minus delta, averaged over the images; a wrapped frame's pixels repeat patch pixels,
 * so their delta adds to the pixel they repeat (the chain rule). gpatch has dsn_patch_size floats. */
void dsn_patch_gradient(float *gpatch, const float *delta, int B, int inputs, const dsn_geometry *g, int c);

/* ---- running ------------------------------------------------------------------------------ */

/* Fills row `row`'s input `im` (a copy of its image already) for a dsn_run_rows pass. */
typedef void (*dsn_row_fn)(void *ctx, long row, float *im);

/* Runs `rows` rows; row r is image img[r] of d edited by fn (NULL: as loaded). out_layer: the
 * layer whose output is the prediction (-1: the network's output). correct[r] (optional) is 1
 * when the argmax is the label; probs (optional) gets [rows][classes]. Returns the number
 * correct, or -1 out of memory. */
long dsn_run_rows(network *net, const dsn_eval_data *d, const int *img, long rows, dsn_row_fn fn, void *ctx,
                  int out_layer, uint8_t *correct, float *probs);

/* Images idx[0..n) of d (idx NULL: 0..n-1), each edited by in (NULL: raw). */
long dsn_run_images(network *net, const dsn_eval_data *d, const int *idx, int n, const dsn_input *in,
                    int out_layer, uint8_t *correct, float *probs);

/* ---- training ----------------------------------------------------------------------------- */

typedef struct dsn_fit_opts {
    int iterations;            /* optimiser steps (batches of net->batch rows)              */
    float lr;                  /* constant learning rate of the network's optimiser          */
    uint64_t order_seed;       /* row order                                                   */
    const float *targets;      /* [n][classes] soft targets for idx's rows; NULL: one-hot labels */
    dsn_row_fn prep;           /* edits each training row (row = position in idx), or NULL   */
    void *prep_ctx;
    /* learning curve: accuracy on test (test_idx[0..test_n), NULL: the first test_n) before
       training, every eval_every iterations and at the end; eval_every 0: none */
    const dsn_eval_data *test;
    const int *test_idx;
    int test_n, eval_every;
    const dsn_input *test_in;  /* edit of the curve's test rows (NULL: raw)                    */
    int out_layer;             /* prediction layer for the curve (-1: the network's output)   */
} dsn_fit_opts;

void dsn_fit_opts_init(dsn_fit_opts *o);

typedef struct dsn_fit_result {
    int iterations, batch;
    long rows_seen;
    float lr;
    double seconds;
    double first_loss, last_loss;    /* Darknet's cost per row: mean of the first / last 10 steps */
    char images_sha256[65];          /* of the image index list, in the order given             */
    char order_sha256[65];           /* of every row's image index, in the order trained        */
    int n_curve;
    int *curve_iter;                 /* [n_curve]                                               */
    double *curve_acc;               /* [n_curve] percent                                       */
} dsn_fit_result;

/* Trains net in place: constant learning rate o->lr, the optimiser of the network's [net]
 * (Adam when adam=1), the step counters reset (the seen count a weights file carries, Adam's t).
 * Returns 0, or -1 out of memory (r is then empty). */
int dsn_fit(network *net, const dsn_eval_data *train, const int *idx, int n, const dsn_fit_opts *o,
            dsn_fit_result *r);
void dsn_fit_result_free(dsn_fit_result *r);

/* SHA-256 (hex) of n ints as 4-byte little-endian values. */
void dsn_ints_sha256(char out[65], const int *v, long n);

/* ---- small maths ---------------------------------------------------------------------------- */

/* A standard normal draw (Box-Muller) from r. */
double dsn_rng_normal(dsn_rng *r);
/* Seeds r from (seed, tag): independent streams per purpose. */
void dsn_rng_stream(dsn_rng *r, uint64_t seed, uint64_t tag);

/* Parses a finite decimal number ("0.001", "1e-4"); 0 or -1. */
int dsn_parse_real(const char *s, double *out);
/* Lower-case hex SHA-256 of a whole file. Returns 0, or -1 with err naming the file. */
int dsn_file_sha256(char out[65], const char *path, char *err, size_t errlen);

#endif
