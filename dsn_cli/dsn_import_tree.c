/* dsn_import_tree.c: GTSRB's published tree and one-folder-per-class trees (see dsn_import_tree.h).
 *
 * Non-goals: no image is held in memory beyond the one being written (GTSRB is 39,209 images,
 * a face set at 224x224 two gigabytes); no guessing at malformed input: a missing CSV, a bad
 * row, a region outside its image, an empty class, an unreadable image each stop the import
 * with the file (and line) named. Images are decoded by dsn_image_load (the stb_image Darknet
 * reads training images with). */
#include "dsn_import_tree.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsn_crypto.h"
#include "dsn_image.h"
#include "dsn_util.h"

#define TREE_PATH_MAX 4096
#define CSV_MAX (64u << 20)
#define SIDE_MAX 65535
#define NAME_MAX_LABEL 32

const char *const dsn_gtsrb_labels[DSN_GTSRB_CLASSES] = {
    "speed020", "speed030", "speed050", "speed060", "speed070", "speed080", "derestrict080",
    "speed100", "speed120", "nopassing", "trucknopass", "rightofway", "priority", "yield", "stop",
    "novehicles", "trucksbanned", "noentry", "caution", "curveleft", "curveright", "doublecurve",
    "bumpy", "slippery", "narrows", "roadwork", "signals", "pedestrians", "children", "bicycles",
    "icesnow", "animals", "derestrictall", "turnright", "turnleft", "aheadonly", "straightright",
    "straightleft", "keepright", "keepleft", "roundabout", "endnopass", "endtruckpass",
};

const char *const dsn_gtsrb_names[DSN_GTSRB_CLASSES] = {
    "Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)", "Speed limit (60km/h)",
    "Speed limit (70km/h)", "Speed limit (80km/h)", "End of speed limit (80km/h)",
    "Speed limit (100km/h)", "Speed limit (120km/h)", "No passing",
    "No passing for vehicles over 3.5 metric tons", "Right-of-way at the next intersection",
    "Priority road", "Yield", "Stop", "No vehicles", "Vehicles over 3.5 metric tons prohibited",
    "No entry", "General caution", "Dangerous curve to the left", "Dangerous curve to the right",
    "Double curve", "Bumpy road", "Slippery road", "Road narrows on the right", "Road work",
    "Traffic signals", "Pedestrians", "Children crossing", "Bicycles crossing", "Beware of ice/snow",
    "Wild animals crossing", "End of all speed and passing limits", "Turn right ahead",
    "Turn left ahead", "Ahead only", "Go straight or right", "Go straight or left", "Keep right",
    "Keep left", "Roundabout mandatory", "End of no passing",
    "End of no passing by vehicles over 3.5 metric tons",
};

static const char csv_header[] = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId";
static const char *const image_exts[] = {"png", "jpg", "jpeg", "ppm", "pgm", "pnm", "bmp", "tga", "gif"};

/* ---- growing text ------------------------------------------------------------------------------ */

typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void text_add(text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *b, const char *fmt, ...)
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
        size_t cap = b->cap ? b->cap : 1 << 16;
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

/* ---- the tree ---------------------------------------------------------------------------------- */

void dsn_tree_free(dsn_tree *t)
{
    for(int i = 0; t->item && i < t->d.n; ++i) {
        free(t->item[i].path);
        free(t->item[i].where);
    }
    for(int c = 0; t->labels && c < t->classes; ++c) free(t->labels[c]);
    free(t->item);
    free(t->labels);
    free(t->map);
    dsn_dataset_free(&t->d);
    memset(t, 0, sizeof *t);
}

static int tree_fetch(const dsn_dataset *d, int i, uint8_t *px, char *err, size_t errlen);

static void tree_init(dsn_tree *t, const dsn_tree_opts *o)
{
    memset(t, 0, sizeof *t);
    dsn_dataset_init_fetch(&t->d, o->size, o->size, o->channels, tree_fetch, t);
}

/* Appends an image; `where` may be NULL. */
static int tree_add(dsn_tree *t, const char *path, const char *where, int label, int split,
                    const int roi[6], char *err, size_t errlen)
{
    int i = dsn_dataset_add(&t->d, label, split);
    dsn_tree_item *items = i < 0 ? NULL : realloc(t->item, (size_t)t->d.cap * sizeof *items);
    if(!items) {
        if(i >= 0) --t->d.n;
        snprintf(err, errlen, "out of memory after %d images", t->d.n);
        return -1;
    }
    t->item = items;
    dsn_tree_item *it = &items[i];
    memset(it, 0, sizeof *it);
    it->path = strdup(path);
    it->where = where ? strdup(where) : NULL;
    if(!it->path || (where && !it->where)) {
        snprintf(err, errlen, "out of memory after %d images", t->d.n);
        return -1;
    }
    it->w = roi ? roi[0] : 0;
    it->h = roi ? roi[1] : 0;
    it->x1 = roi ? roi[2] : 0;
    it->y1 = roi ? roi[3] : 0;
    it->x2 = roi ? roi[4] : -1;
    it->y2 = roi ? roi[5] : -1;
    return 0;
}

static int tree_labels(dsn_tree *t, int classes, char *err, size_t errlen)
{
    t->labels = calloc((size_t)classes, sizeof *t->labels);
    if(!t->labels) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->classes = classes;
    return 0;
}

/* The listing's digest; a file's size and time stand for its bytes. */
static int listing_add_file(text *list, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if(stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if(!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a file", path);
        return -1;
    }
    text_add(list, "%s %lld %lld.%09ld\n", path, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec);
    return 0;
}

static int listing_digest(dsn_tree *t, const text *list, char *err, size_t errlen)
{
    uint8_t h[DSN_SHA256_BYTES];
    if(list->failed || dsn_sha256(h, (const uint8_t *)(list->s ? list->s : ""), list->len) != 0) {
        snprintf(err, errlen, "out of memory for the listing");
        return -1;
    }
    for(int i = 0; i < DSN_SHA256_BYTES; ++i) snprintf(t->digest + 2 * i, 3, "%02x", h[i]);
    return 0;
}

/* ---- resizing ---------------------------------------------------------------------------------- */

/* Taps of one axis: output o reads src[first[o] .. first[o] + count[o]) with weights w[o*taps..]. */
typedef struct axis {
    int taps;
    int *first, *count;
    float *w;
} axis;

static void axis_free(axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_make(axis *a, int n_src, int n_dst)
{
    double s = (double)n_src / n_dst;
    a->taps = n_src > n_dst ? (int)ceil(s) + 1 : 2;
    a->first = malloc((size_t)n_dst * sizeof *a->first);
    a->count = malloc((size_t)n_dst * sizeof *a->count);
    a->w = calloc((size_t)n_dst * (size_t)a->taps, sizeof *a->w);
    if(!a->first || !a->count || !a->w) return -1;
    for(int o = 0; o < n_dst; ++o) {
        float *w = a->w + (size_t)o * a->taps;
        if(n_src >= n_dst) {
            /* the box [o*s, (o+1)*s): each source pixel weighs its overlap */
            double lo = o * s, hi = (o + 1) * s;
            int j0 = (int)floor(lo), n = 0;
            for(int j = j0; j < n_src && j < hi && n < a->taps; ++j, ++n) {
                double ov = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                w[n] = (float)(ov / s);
            }
            a->first[o] = j0;
            a->count[o] = n;
        } else {
            double c = (o + 0.5) * s - 0.5;
            c = c < 0 ? 0 : c > n_src - 1 ? n_src - 1 : c;
            int j0 = (int)floor(c);
            float f = (float)(c - j0);
            a->first[o] = j0;
            a->count[o] = j0 + 1 < n_src ? 2 : 1;
            w[0] = a->count[o] == 2 ? 1 - f : 1;
            w[1] = a->count[o] == 2 ? f : 0;
        }
    }
    return 0;
}

int dsn_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int x0, int y0, int w,
                 int h, int c)
{
    axis ax = {0}, ay = {0};
    float *row = malloc((size_t)dw * (size_t)c * (size_t)h * sizeof *row);
    int rc = -1;
    if(!row || axis_make(&ax, w, dw) != 0 || axis_make(&ay, h, dh) != 0) goto done;
    /* horizontal pass: h rows of dw pixels */
    for(int y = 0; y < h; ++y) {
        const uint8_t *s = src + ((size_t)(y0 + y) * (size_t)sw + (size_t)x0) * (size_t)c;
        float *r = row + (size_t)y * dw * c;
        for(int o = 0; o < dw; ++o) {
            const float *wt = ax.w + (size_t)o * ax.taps;
            for(int k = 0; k < c; ++k) {
                float v = 0;
                for(int t = 0; t < ax.count[o]; ++t) v += wt[t] * s[(size_t)(ax.first[o] + t) * c + k];
                r[(size_t)o * c + k] = v;
            }
        }
    }
    /* vertical pass, rounded to bytes */
    for(int o = 0; o < dh; ++o) {
        const float *wt = ay.w + (size_t)o * ay.taps;
        for(int i = 0; i < dw * c; ++i) {
            float v = 0;
            for(int t = 0; t < ay.count[o]; ++t) v += wt[t] * row[(size_t)(ay.first[o] + t) * dw * c + i];
            long q = lrintf(v);
            dst[(size_t)o * dw * c + i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    }
    rc = 0;
done:
    axis_free(&ax);
    axis_free(&ay);
    free(row);
    return rc;
}

/* Grey to RGB by copying, RGB to grey with stb_image's weights (what Darknet's loader computes). */
static int convert_channels(dsn_image *im, int want)
{
    if(im->c == want) return 0;
    size_t n = (size_t)im->w * (size_t)im->h;
    uint8_t *out = malloc(n * (size_t)want);
    if(!out) return -1;
    for(size_t i = 0; i < n; ++i) {
        const uint8_t *p = im->data + i * (size_t)im->c;
        if(want == 3) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = p[0];
        else out[i] = (uint8_t)((p[0] * 77 + p[1] * 150 + 29 * p[2]) >> 8);
    }
    free(im->data);
    im->data = out;
    im->c = want;
    return 0;
}

/* Decodes, checks against its CSV row, crops and resizes image i into px. */
static int tree_fetch(const dsn_dataset *d, int i, uint8_t *px, char *err, size_t errlen)
{
    const dsn_tree *t = d->src;
    const dsn_tree_item *it = &t->item[i];
    char why[1024], at[600] = "";
    if(it->where) snprintf(at, sizeof at, " (%s)", it->where);
    dsn_image im;
    if(dsn_image_load(&im, it->path, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s%s", why, at);
        return -1;
    }
    int rc = -1;
    if(it->w && (im.w != it->w || im.h != it->h)) {
        snprintf(err, errlen, "%s: %dx%d pixels, but its row%s says %dx%d", it->path, im.w, im.h, at,
                 it->w, it->h);
        goto done;
    }
    if(convert_channels(&im, d->c) != 0) {
        snprintf(err, errlen, "%s: out of memory", it->path);
        goto done;
    }
    int x0 = it->x1, y0 = it->y1, w = it->x2 - it->x1 + 1, h = it->y2 - it->y1 + 1;
    if(it->x2 < 0) {   /* the centred square */
        int s = im.w < im.h ? im.w : im.h;
        x0 = (im.w - s) / 2;
        y0 = (im.h - s) / 2;
        w = h = s;
    }
    if(dsn_resample(px, d->w, d->h, im.data, im.w, x0, y0, w, h, d->c) != 0) {
        snprintf(err, errlen, "%s: out of memory resizing %dx%d to %dx%d", it->path, w, h, d->w, d->h);
        goto done;
    }
    rc = 0;
done:
    dsn_image_free(&im);
    return rc;
}

/* ---- GTSRB's CSV files ----------------------------------------------------------------------- */

/* A whole decimal in 0..SIDE_MAX. */
static int parse_side(const char *s, int *out)
{
    if(!*s || strlen(s) > 5) return -1;
    int v = 0;
    for(; *s; ++s) {
        if(*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    if(v > SIDE_MAX) return -1;
    *out = v;
    return 0;
}

typedef struct csv_job {
    const char *csv;      /* its path                          */
    const char *images;   /* the folder its Filename is in      */
    int want_class;       /* training CSV: its folder's class; -1: any class */
    int split;
} csv_job;

/* One data row: "Filename;W;H;X1;Y1;X2;Y2;ClassId". */
static int csv_row(dsn_tree *t, const csv_job *j, char *line, int lineno, text *list, char *err,
                   size_t errlen)
{
    char *f[8];
    int n = 0;
    for(char *p = line;; ++p) {
        if(n < 8) f[n] = p;
        ++n;
        p = strchr(p, ';');
        if(!p) break;
        *p = '\0';
    }
    if(n != 8) {
        snprintf(err, errlen, "%s:%d: %d fields, expected 8 (%s)", j->csv, lineno, n, csv_header);
        return -1;
    }
    int v[7];
    static const char *const names[7] = {"Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"};
    for(int k = 0; k < 7; ++k) {
        if(parse_side(f[k + 1], &v[k]) != 0) {
            snprintf(err, errlen, "%s:%d: %s '%s' is not a whole number (0..%d)", j->csv, lineno, names[k],
                     f[k + 1], SIDE_MAX);
            return -1;
        }
    }
    if(!f[0][0] || strchr(f[0], '/') || strcmp(f[0], ".") == 0 || strcmp(f[0], "..") == 0) {
        snprintf(err, errlen, "%s:%d: Filename '%s' must name a file in %s", j->csv, lineno, f[0], j->images);
        return -1;
    }
    if(v[6] >= DSN_GTSRB_CLASSES || (j->want_class >= 0 && v[6] != j->want_class)) {
        snprintf(err, errlen, "%s:%d: ClassId %d, expected %s%d", j->csv, lineno, v[6],
                 j->want_class >= 0 ? "" : "0..", j->want_class >= 0 ? j->want_class : DSN_GTSRB_CLASSES - 1);
        return -1;
    }
    if(v[0] < 1 || v[1] < 1 || v[2] > v[4] || v[3] > v[5] || v[4] >= v[0] || v[5] >= v[1]) {
        snprintf(err, errlen, "%s:%d: region of interest (%d,%d)-(%d,%d) is not inside the %dx%d image "
                 "(X1 <= X2 < Width, Y1 <= Y2 < Height)", j->csv, lineno, v[2], v[3], v[4], v[5], v[0], v[1]);
        return -1;
    }
    char path[TREE_PATH_MAX], where[TREE_PATH_MAX + 32];
    if(dsn_pathf(path, sizeof path, "%s/%s", j->images, f[0]) != 0) {
        snprintf(err, errlen, "%s:%d: path too long", j->csv, lineno);
        return -1;
    }
    snprintf(where, sizeof where, "%s:%d", j->csv, lineno);
    if(listing_add_file(list, path, err, errlen) != 0) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, " (named by %s)", where);
        return -1;
    }
    const int roi[6] = {v[0], v[1], v[2], v[3], v[4], v[5]};
    return tree_add(t, path, where, v[6], j->split, roi, err, errlen);
}

/* Reads one CSV; returns its number of rows, or -1. */
static int csv_read(dsn_tree *t, const csv_job *j, text *list, char *err, size_t errlen)
{
    size_t len;
    char *buf = dsn_read_file_err(j->csv, CSV_MAX, &len, err, errlen);
    if(!buf) {
        size_t k = strlen(err);
        if(errno == ENOENT) snprintf(err + k, errlen - k, " (GTSRB's per-class CSV: missing)");
        return -1;
    }
    text_add(list, "csv %s\n%s\n", j->csv, buf);
    int lineno = 0, rows = 0, rc = -1;
    for(char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n'), *next = nl ? nl + 1 : NULL;
        if(nl) *nl = '\0';
        size_t n = strlen(p);
        if(n && p[n - 1] == '\r') p[--n] = '\0';
        ++lineno;
        if(lineno == 1) {
            if(strcmp(p, csv_header) != 0) {
                snprintf(err, errlen, "%s:1: header '%.120s', expected '%s'", j->csv, p, csv_header);
                goto done;
            }
        } else if(n) {
            if(csv_row(t, j, p, lineno, list, err, errlen) != 0) goto done;
            ++rows;
        }
        p = next;
    }
    if(lineno == 0) {
        snprintf(err, errlen, "%s: empty file (expected the header '%s')", j->csv, csv_header);
        goto done;
    }
    rc = rows;
done:
    free(buf);
    return rc;
}

/* ---- GTSRB ------------------------------------------------------------------------------------ */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Final_Training/Images/ holds exactly 00000..00042 (hidden entries and the odd file aside). */
static int gtsrb_check_classes(const char *images, char *err, size_t errlen)
{
    DIR *dir = opendir(images);
    if(!dir) {
        snprintf(err, errlen, "%s: %s: pass --from the folder that holds Final_Training/ (GTSRB/ in the "
                 "published zip)", images, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    char path[TREE_PATH_MAX];
    while(rc == 0 && (e = readdir(dir))) {
        if(e->d_name[0] == '.') continue;
        dsn_pathf(path, sizeof path, "%s/%s", images, e->d_name);
        int k;
        if(!is_dir(path)) continue;
        if(strlen(e->d_name) != 5 || parse_side(e->d_name, &k) != 0 || k >= DSN_GTSRB_CLASSES) {
            snprintf(err, errlen, "%s: not a GTSRB class folder (00000..%05d)", path, DSN_GTSRB_CLASSES - 1);
            rc = -1;
        }
    }
    closedir(dir);
    return rc;
}

/* The test CSV with labels: the first of Final_Test/Images, Final_Test, DIR that has one. Returns
 * where it is, relative to DIR, or NULL. */
static const char *gtsrb_find_test(const char *dir, char *csv, size_t len)
{
    static const char *const where[] = {"Final_Test/Images/", "Final_Test/", ""};
    for(int i = 0; i < DSN_COUNT(where); ++i) {
        dsn_pathf(csv, len, "%s/%sGT-final_test.csv", dir, where[i]);
        if(is_file(csv)) return where[i];
    }
    return NULL;
}

static int no_fetch(const dsn_dataset *d, int i, uint8_t *px, char *e, size_t el)
{
    (void)d, (void)i, (void)px;
    snprintf(e, el, "internal: a track group has no pixels");
    return -1;
}

/* An image's track: its class and its file name up to the first '_' (all of it when none). */
typedef struct track_key {
    int label, idx;
    const char *name;
    size_t len;
} track_key;

static int cmp_track(const void *a, const void *b)
{
    const track_key *x = a, *y = b;
    if(x->label != y->label) return x->label < y->label ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if(c) return c;
    if(x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The seeded split by track: each class's tracks go to train or test whole. */
static int gtsrb_split_tracks(dsn_tree *t, const dsn_tree_opts *o, char *err, size_t errlen)
{
    dsn_dataset g;
    dsn_dataset_init_fetch(&g, 1, 1, 1, no_fetch, NULL);
    int *group = malloc((size_t)t->d.n * sizeof *group), rc = -1;
    track_key *key = malloc((size_t)t->d.n * sizeof *key);
    if(!group || !key) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for(int i = 0; i < t->d.n; ++i) {
        const char *base = strrchr(t->item[i].path, '/') + 1, *us = strchr(base, '_');
        key[i] = (track_key){t->d.label[i], i, base, us ? (size_t)(us - base) : strlen(base)};
    }
    qsort(key, (size_t)t->d.n, sizeof *key, cmp_track);
    for(int k = 0; k < t->d.n; ++k) {
        int same = k && key[k].label == key[k - 1].label && key[k].len == key[k - 1].len &&
                   memcmp(key[k].name, key[k - 1].name, key[k].len) == 0;
        if(!same && dsn_dataset_add(&g, key[k].label, DSN_SPLIT_TRAIN) < 0) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        group[key[k].idx] = g.n - 1;
    }
    int n_test = (int)lrint(g.n * o->test_percent / 100.0);
    if(n_test < 1 || n_test >= g.n) {
        snprintf(err, errlen, "%d tracks: --test-percent %d leaves no %s track", g.n, o->test_percent,
                 n_test < 1 ? "test" : "train");
        goto done;
    }
    if(dsn_split_stratified(&g, DSN_GTSRB_CLASSES, g.n - n_test, (uint64_t)(int64_t)o->seed, err, errlen) != 0)
        goto done;
    for(int i = 0; i < t->d.n; ++i) t->d.split[i] = g.split[group[i]];
    snprintf(t->split, sizeof t->split, "seeded by track: seed %d, %d%% of %d tracks to test", o->seed,
             o->test_percent, g.n);
    rc = 0;
done:
    free(group);
    free(key);
    dsn_dataset_free(&g);
    return rc;
}

static int gtsrb_map(dsn_tree *t, char *err, size_t errlen)
{
    text m = {0};
    text_add(&m, "# label\tClassId\tsign (GTSRB)\n");
    for(int c = 0; c < DSN_GTSRB_CLASSES; ++c) text_add(&m, "%s\t%d\t%s\n", t->labels[c], c, dsn_gtsrb_names[c]);
    if(m.failed) {
        free(m.s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->map = m.s;
    return 0;
}

int dsn_gtsrb_scan(dsn_tree *t, const char *dir, const dsn_tree_opts *o, char *err, size_t errlen)
{
    char images[TREE_PATH_MAX], cdir[TREE_PATH_MAX], csv[TREE_PATH_MAX], test[TREE_PATH_MAX];
    text list = {0};
    tree_init(t, o);
    if(tree_labels(t, DSN_GTSRB_CLASSES, err, errlen) != 0) goto fail;
    for(int c = 0; c < DSN_GTSRB_CLASSES; ++c) {
        if(!(t->labels[c] = strdup(dsn_gtsrb_labels[c]))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    dsn_pathf(images, sizeof images, "%s/Final_Training/Images", dir);
    if(gtsrb_check_classes(images, err, errlen) != 0) goto fail;
    for(int c = 0; c < DSN_GTSRB_CLASSES; ++c) {
        dsn_pathf(cdir, sizeof cdir, "%s/%05d", images, c);
        dsn_pathf(csv, sizeof csv, "%s/GT-%05d.csv", cdir, c);
        if(!is_dir(cdir)) {
            snprintf(err, errlen, "%s: missing (GTSRB has %d classes, 00000..%05d)", cdir, DSN_GTSRB_CLASSES,
                     DSN_GTSRB_CLASSES - 1);
            goto fail;
        }
        const csv_job j = {csv, cdir, c, DSN_SPLIT_TRAIN};
        int rows = csv_read(t, &j, &list, err, errlen);
        if(rows < 0) goto fail;
        if(rows == 0) {
            snprintf(err, errlen, "%s: no rows: class %05d (%s) is empty", csv, c, t->labels[c]);
            goto fail;
        }
    }
    const char *at = gtsrb_find_test(dir, test, sizeof test);
    if(at) {
        char tdir[TREE_PATH_MAX];
        dsn_pathf(tdir, sizeof tdir, "%s/Final_Test/Images", dir);
        const csv_job j = {test, tdir, -1, DSN_SPLIT_TEST};
        int rows = csv_read(t, &j, &list, err, errlen);
        if(rows < 0) goto fail;
        if(rows == 0) {
            snprintf(err, errlen, "%s: no rows: the test set is empty", test);
            goto fail;
        }
        snprintf(t->split, sizeof t->split, "published test set: %sGT-final_test.csv", at);
    } else if(gtsrb_split_tracks(t, o, err, errlen) != 0) {
        goto fail;
    }
    if(gtsrb_map(t, err, errlen) != 0 || listing_digest(t, &list, err, errlen) != 0) goto fail;
    free(list.s);
    return 0;
fail:
    free(list.s);
    dsn_tree_free(t);
    return -1;
}

/* ---- one folder per class ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n)
{
    for(int i = 0; names && i < n; ++i) free(names[i]);
    free(names);
}

/* The entries of dir (hidden ones skipped), sorted bytewise. Returns the count, or -1. */
static int list_dir(const char *dir, char ***out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if(!d) {
        snprintf(err, errlen, "cannot read directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while((e = readdir(d))) {
        if(e->d_name[0] == '.') continue;
        if(n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if(!p) goto oom;
            names = p;
        }
        if(!(names[n] = strdup(e->d_name))) goto oom;
        ++n;
    }
    closedir(d);
    if(n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
oom:
    closedir(d);
    free_names(names, n);
    snprintf(err, errlen, "%s: out of memory", dir);
    return -1;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if(!dot) return 0;
    for(int i = 0; i < DSN_COUNT(image_exts); ++i) {
        const char *a = dot + 1, *b = image_exts[i];
        while(*a && *b && (*a | 0x20) == *b) ++a, ++b;
        if(!*a && !*b) return 1;
    }
    return 0;
}

/* "kNNN-<name>": see the top of dsn_import_tree.h for why no label can hit another's path. */
static char *folder_label(int k, const char *folder)
{
    char name[NAME_MAX_LABEL + 1];
    int n = 0;
    for(const char *p = folder; *p && n < NAME_MAX_LABEL; ++p) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if(keep) name[n++] = ch;
        else if(n && name[n - 1] != '_') name[n++] = '_';
    }
    while(n && name[n - 1] == '_') --n;
    name[n] = '\0';
    char buf[NAME_MAX_LABEL + 16];
    snprintf(buf, sizeof buf, "k%03d-%s", k, n ? name : "class");
    return strdup(buf);
}

/* The images of one class folder; returns their number, or -1. */
static int folders_class(dsn_tree *t, const char *cdir, int k, text *list, char *err, size_t errlen)
{
    char **names = NULL, path[TREE_PATH_MAX];
    int n = list_dir(cdir, &names, err, errlen), added = 0, rc = -1;
    if(n < 0) return -1;
    for(int i = 0; i < n; ++i) {
        if(dsn_pathf(path, sizeof path, "%s/%s", cdir, names[i]) != 0) {
            snprintf(err, errlen, "%s/%s: path too long", cdir, names[i]);
            goto done;
        }
        if(is_dir(path)) {
            snprintf(err, errlen, "%s: a folder inside a class folder (the tree must be DIR/<class>/<image>)", path);
            goto done;
        }
        if(!is_image_name(names[i])) {
            if(t->skipped++ == 0) printf("skipping %s: not an image by its name (png, jpg, ppm, bmp, ...)\n", path);
            continue;
        }
        if(listing_add_file(list, path, err, errlen) != 0 ||
           tree_add(t, path, NULL, k, DSN_SPLIT_TRAIN, NULL, err, errlen) != 0)
            goto done;
        ++added;
    }
    rc = added;
done:
    free_names(names, n);
    return rc;
}

static int folders_split(dsn_tree *t, const dsn_tree_opts *o, char *err, size_t errlen)
{
    int n_test = (int)lrint(t->d.n * o->test_percent / 100.0);
    if(n_test < 1 || n_test >= t->d.n) {
        snprintf(err, errlen, "%d images: --test-percent %d leaves no %s image", t->d.n, o->test_percent,
                 n_test < 1 ? "test" : "train");
        return -1;
    }
    if(dsn_split_stratified(&t->d, t->classes, t->d.n - n_test, (uint64_t)(int64_t)o->seed, err, errlen) != 0)
        return -1;
    snprintf(t->split, sizeof t->split, "seeded: seed %d, %d%% of %d images to test", o->seed,
             o->test_percent, t->d.n);
    return 0;
}

int dsn_folders_scan(dsn_tree *t, const char *dir, const dsn_tree_opts *o, char *err, size_t errlen)
{
    char **names = NULL, path[TREE_PATH_MAX];
    text list = {0}, map = {0};
    int n = -1, classes = 0;
    tree_init(t, o);
    n = list_dir(dir, &names, err, errlen);
    if(n < 0) goto fail;
    for(int i = 0; i < n; ++i) {
        dsn_pathf(path, sizeof path, "%s/%s", dir, names[i]);
        if(is_dir(path)) names[classes++] = names[i];
        else free(names[i]);
    }
    n = classes;
    if(classes < 2 || classes > DSN_IMPORT_MAX_CLASSES) {
        snprintf(err, errlen, "%s: %d class folders, expected 2..%d (one folder per class)", dir, classes,
                 DSN_IMPORT_MAX_CLASSES);
        goto fail;
    }
    if(tree_labels(t, classes, err, errlen) != 0) goto fail;
    text_add(&map, "# label\tfolder\n");
    for(int k = 0; k < classes; ++k) {
        if(strpbrk(names[k], "\t\n\r")) {
            snprintf(err, errlen, "%s/%s: a folder name with a tab or a line break", dir, names[k]);
            goto fail;
        }
        if(!(t->labels[k] = folder_label(k, names[k]))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        dsn_pathf(path, sizeof path, "%s/%s", dir, names[k]);
        int got = folders_class(t, path, k, &list, err, errlen);
        if(got < 0) goto fail;
        if(got == 0) {
            snprintf(err, errlen, "%s: no images: an empty class", path);
            goto fail;
        }
        text_add(&map, "%s\t%s\n", t->labels[k], names[k]);
    }
    if(map.failed) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if(folders_split(t, o, err, errlen) != 0 || listing_digest(t, &list, err, errlen) != 0) goto fail;
    t->map = map.s;
    free_names(names, n);
    free(list.s);
    return 0;
fail:
    free_names(names, n);
    free(list.s);
    free(map.s);
    dsn_tree_free(t);
    return -1;
}
