/* dsn_eval.h: how well a customer model works with its serial, and how badly without it.
 *
 *     dsn_eval_data d;  dsn_eval_opts o;  dsn_eval_result r;  char err[512];
 *     if(dsn_eval_data_load(&d, "cfg/mnist.data", NULL, 28, 28, 1, err, sizeof err) != 0) ...
 *     dsn_eval_opts_init(&o);
 *     o.cfg = "alice.cfg";  o.weights = "alice.weights";  o.valid = cert.serial;
 *     if(dsn_eval_run(&r, &o, &d, err, sizeof err) != 0) ...        // err names the file or option
 *     dsn_buf b = {0};  dsn_eval_json(&b, &r, &o, &d);  ...  dsn_buf_free(&b);
 *     dsn_eval_result_free(&r);  dsn_eval_data_free(&d);
 *
 * What is measured (accuracy = argmax of the network's output equals the label, in percent):
 *   teacher   the teacher network on raw images (when o.teacher_cfg is set)
 *   valid     the customer model, every image stamped with the valid serial (A_X+K)
 *   raw       the customer model, nothing stamped (A_X); also what it answers there: its most
 *             frequent answer and that answer's share, and the balanced accuracy (the mean over
 *             classes of the share of each class's images answered right), which is 100 /
 *             classes for any answer that ignores the image, however unbalanced the test set
 *   forged    o.forged random serials != valid, each on its own class-stratified subset of
 *             o.per_serial images: mean, spread and maximum over serials
 *   hamming 1 every single-bit neighbour of the valid serial, each on all images (per bit too)
 *   hamming 2, 4  o.near2 / o.near4 serials with exactly 2 / 4 bits flipped, subsets as forged
 *   swap      every serial with two neighbouring cells of different value exchanged (8-neighbours
 *             on the stamp grid; Hamming 2, the pattern moved by one cell in one place), subsets
 *             as forged (unless o.no_swaps)
 *   cross     the serial of each other customer, on all images
 * Single accuracies carry a Wilson 95% interval; means over serials a normal 95% interval over
 * the serials (mean +- 1.96 sd / sqrt(n)).
 *
 * Speed: each (image, serial) pair is one row of a batch; the [serial_stamp] layer stamps row b
 * with its own serial (dsn_stamp_override), so thousands of serials share the forward passes.
 * o.threads networks run side by side, each on whole batches. Everything is seeded by o.seed:
 * the same options give the same serials, subsets and numbers. */
#ifndef DSN_EVAL_H
#define DSN_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "dsn_util.h"
#include "dsn_serial.h"
#include "dsn_stamp.h"

struct dsn_rng;

/* ---- the test set, in memory ------------------------------------------------------------- */

typedef struct dsn_eval_data {
    int n;            /* images                                          */
    int w, h, c;      /* network input size every image was loaded at     */
    int classes;
    float *x;         /* [n][c*h*w] planar, as Darknet's loader holds it   */
    int *label;       /* [n] class index                                   */
    char **names;     /* [classes] label names from the labels file        */
    char **paths;     /* [n] each image's path, as its list line gives it   */
    char *subsets;    /* the .data's subsets= (dsn eval --subsets), or NULL */
} dsn_eval_data;

/* Reads a Darknet .data file (classes=, valid=, labels=), the image list (list_path, or the
 * .data's valid= when NULL) and every image, at w x h with c channels, through Darknet's
 * load_image. An image's label is the one label name its path contains (Darknet's substring
 * rule); none or several is an error naming the list line. Returns 0, or -1 with err set. */
int dsn_eval_data_load(dsn_eval_data *d, const char *data_path, const char *list_path, int w, int h,
                       int c, char *err, size_t errlen);
void dsn_eval_data_free(dsn_eval_data *d);

/* The input size ([net] width, height, channels) and the stamp geometry of a DSN cfg's
 * [serial_stamp] section (which must directly follow [net]), read with Darknet's cfg rules and the
 * layer's defaults, without building the network (whose parser exits on errors). Returns 0, or -1
 * with err naming the file (and line) when it is unreadable, lacks a size or has no such section. */
int dsn_eval_cfg_peek(const char *cfg_path, dsn_geometry *g, int *w, int *h, int *c, char *err,
                      size_t errlen);
/* dsn_eval_cfg_peek on cfg_path, then the certificate's stamp against the cfg's: dsn eval and dsn
 * demo refuse a certificate issued for another geometry. Prints the error prefixed with `verb`
 * (naming cert_path and cfg_path) and returns -1; 0 when they agree. */
struct dsn_cert;
int dsn_eval_cfg_for_cert(const char *verb, const char *cfg_path, const char *cert_path, const struct dsn_cert *cert,
                          int *w, int *h, int *c);

/* Loads the certificate at cert_path into *c and, when pub is not NULL, verifies its signature
 * against that owner key. Errors go out as "<verb>: --cert: ...", "<verb>: --pub: ..." and
 * "<verb>: --cert PATH does not verify against PUB: ...". Returns DSN_EXIT_OK, DSN_EXIT_NO (it
 * does not verify) or DSN_EXIT_ERROR. */
int dsn_eval_cert_load(const char *verb, struct dsn_cert *c, const char *cert_path, const char *pub);

/* Sets DSN_SERIAL to serial's text: the [serial_stamp] layer reads it when parsed, and an
 * inherited, different DSN_SERIAL must not interfere with a measurement that stamps every row
 * itself (or unseals the weights with the certificate's serial). Prints an error naming `verb`
 * and returns -1 when it cannot. */
int dsn_eval_serial_env(const char *verb, const dsn_serial *serial);

/* ---- statistics -------------------------------------------------------------------------- */

#define DSN_EVAL_Z95 1.959963984540054

typedef struct dsn_eval_acc {
    long correct, total;
    double acc, lo, hi;        /* percent; [lo, hi] the Wilson 95% interval */
} dsn_eval_acc;

/* correct / total as a percentage with its Wilson score interval (z = 1.96). total 0 gives zeros:
 * check total (no NaNs anywhere: dsn_cli is built with -Ofast, under which NaN tests fold away). */
dsn_eval_acc dsn_eval_wilson(long correct, long total);

typedef struct dsn_eval_set {
    int n;                     /* serials                                       */
    int images_each;           /* images each serial was evaluated on           */
    dsn_serial *serial;        /* [n]                                           */
    dsn_eval_acc *each;        /* [n]                                           */
    double mean, sd, lo, hi;   /* over serials: mean, sample sd, normal 95% CI   */
    int max_i, min_i;          /* index of the best / worst serial               */
} dsn_eval_set;

/* Fills mean, sd, lo, hi, max_i and min_i from each[]. With one serial, the interval is that
 * serial's Wilson interval; with none, everything is 0 and max_i = min_i = -1. */
void dsn_eval_set_stats(dsn_eval_set *s);
/* The best accuracy of a set (its max_i serial), or 0 when it holds no serial. */
double dsn_eval_set_max(const dsn_eval_set *s);

/* ---- serials and subsets ----------------------------------------------------------------- */

/* n uniformly random serials of valid's length, none equal to valid. */
void dsn_eval_forged(dsn_serial *out, int n, const dsn_serial *valid, struct dsn_rng *rng);
/* n serials at Hamming distance exactly `dist` (1..nbits) from valid: dist distinct bits flipped. */
void dsn_eval_near(dsn_serial *out, int n, const dsn_serial *valid, int dist, struct dsn_rng *rng);
/* valid->nbits serials: out[i] is valid with bit i flipped. */
void dsn_eval_hamming1(dsn_serial *out, const dsn_serial *valid);
/* Every serial that is valid with one neighbour swap exchanged (dsn_serial_swaps: 8-neighbouring
 * cells of different value on a grid of `columns` columns, 0 the square default, across the
 * opposite edges too when wrap=1), in its order. out has room
 * for DSN_SWAPS_MAX serials; NULL only counts. Returns the number. */
int dsn_eval_swaps(dsn_serial *out, const dsn_serial *valid, int columns, int wrap);

/* Picks min(m, n) distinct indexes of 0..n-1 into out, class-stratified: class k gets its share
 * m * n_k / n rounded by largest remainder (ties to the lower class). m >= n gives 0..n-1 in
 * order. Returns the number picked, or -1 when out of memory or a label is out of range. */
int dsn_eval_stratified(int *out, int m, const int *label, int n, int classes, struct dsn_rng *rng);

/* ---- the measurement --------------------------------------------------------------------- */

typedef struct dsn_eval_opts {
    const char *cfg, *weights;                  /* the customer model                        */
    const char *teacher_cfg, *teacher_weights;  /* optional                                  */
    dsn_serial valid;
    int n_others;                               /* other customers' serials (cross-customer)  */
    const dsn_serial *others;                   /* [n_others]                                */
    const char *const *other_names;             /* [n_others]                                */
    int forged, near2, near4;                   /* serials per measure (default 1000, 200, 200) */
    int per_serial;                             /* images per forged/near serial (500)       */
    uint64_t seed;                              /* (0)                                       */
    int batch;                                  /* rows per forward pass (default 128)       */
    int threads;                                /* networks side by side (default: CPUs, <= 8) */
    int progress;                               /* progress and ETA on stderr (default 0)     */
    int no_hamming1;                            /* skip the single-bit neighbours (default 0) */
    int no_swaps;                               /* skip the neighbour swaps (default 0)       */
} dsn_eval_opts;

void dsn_eval_opts_init(dsn_eval_opts *o);

typedef struct dsn_eval_result {
    int n_images, classes, bits, has_teacher;
    int grid_columns;                           /* the stamp grid's columns (h1.each is row-major) */
    dsn_eval_acc teacher, valid, raw;
    int raw_top;                                /* raw input: the most frequent answer (class) */
    double raw_top_share, raw_balanced;         /* its share of the answers; balanced accuracy */
    dsn_eval_set forged, h1, h2, h4, swap;
    int n_cross;
    dsn_eval_acc *cross;                        /* [n_cross], in the order of o.others       */
    uint8_t *teacher_ok, *valid_ok, *raw_ok;    /* [n_images] 1 = right (teacher_ok: NULL    */
                                                /* without a teacher), for per-subset tallies */
    long rows;                                  /* (image, serial) pairs evaluated           */
    double seconds;                             /* wall time of dsn_eval_run                  */
} dsn_eval_result;

/* Loads the networks (the first one prints Darknet's layer table), evaluates everything above and
 * fills r (freed with dsn_eval_result_free, also after a failure). The cfg must start with a
 * [serial_stamp] layer of valid.nbits bits and output d->classes scores; the teacher must take
 * the same input. Returns 0, or -1 with err naming the file or option at fault. Files that
 * Darknet cannot open are checked first, since Darknet would exit. */
int dsn_eval_run(dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_data *d, char *err,
                 size_t errlen);
void dsn_eval_result_free(dsn_eval_result *r);

/* What a model answered on n images (pred[i], label[i] in [0, classes)): *top the most frequent
 * answer (the lower class on a tie), *share its share of the n answers, *balanced the mean over
 * the classes that have images of the percentage of each class's images answered right. A
 * constant answer gives *balanced = 100 / (classes with images) whatever the class shares, where
 * plain accuracy is that class's share of the images. Returns 0, or -1 when out of memory. */
int dsn_eval_answers(const int *pred, const int *label, int n, int classes, int *top, double *share,
                     double *balanced);

/* The lock's limits (percent): the per-model targets are the defaults of dsn select.
 * drop: how far the valid serial may fall below the teacher (used only with a teacher). */
typedef struct dsn_lock_limits {
    double raw, forged, h1, h2, drop;
} dsn_lock_limits;
#define DSN_LOCK_LIMITS_DEFAULT {11, 11, 20, 15, 0.5}

/* How far r misses its limits, in points: dsn_targets_score (dsn_targets.h, which says how) of
 * r's valid serial, raw input, forged max, Hamming 1 max and Hamming 2 max (a set with no
 * serials, and the valid serial without a teacher, left out). *worst: "raw", "forged_max",
 * "hamming_1_max", "hamming_2_max" or "valid". */
double dsn_eval_lock_score(const dsn_eval_result *r, const dsn_lock_limits *l, const char **worst);

/* Parses cfg for `batch` rows (Darknet's layer table on stderr) and loads weights, after checking
 * that both files open and that the weights hold every value the network reads (Darknet would
 * leave the rest random). Returns the network (free_network), or NULL with err naming the file. */
struct network;
struct network *dsn_eval_load_net(const char *cfg, const char *weights, int batch, char *err, size_t errlen);

/* ---- output ------------------------------------------------------------------------------ */

/* Names and provenance written beside the numbers. */
typedef struct dsn_eval_meta {
    const char *customer, *model, *cert, *data, *list, *dataset;
} dsn_eval_meta;

/* The JSON object (see dsn eval --help for its keys), each accuracy in percent, as text appended
 * to b (b->oom set when out of memory). */
void dsn_eval_json(dsn_buf *b, const dsn_eval_result *r, const dsn_eval_opts *o,
                   const dsn_eval_meta *m);
/* A markdown section: one table of every measure with its interval. */
void dsn_eval_markdown(dsn_buf *b, const dsn_eval_result *r, const dsn_eval_opts *o,
                       const dsn_eval_meta *m);

#endif
