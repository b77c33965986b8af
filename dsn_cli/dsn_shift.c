/* dsn_shift.c: the shifted MNIST-like test set (see dsn_shift.h): the transforms, sklearn's
 * optdigits (fetched as Debian ships them, parsed, converted the way MNIST was made) and the
 * loader behind `dsn import mnist-shift`. Non-goals: elastic distortions, noise, colour; the
 * set measures what a classifier does on digits drawn a little differently, not adversarially. */
#include "dsn_shift.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "dsn_layers.h"
#include "dsn_prep.h"
#include "dsn_util.h"

/* stb_image, as built into libdarknet */
extern unsigned char *stbi_load(char const *filename, int *x, int *y, int *comp, int req_comp);
extern void stbi_image_free(void *p);

#define PATHLEN 4096
#define LIST_MAX (64u << 20)
#define DIGITS_MAX (64u << 20)

const char *const dsn_shift_names[DSN_SHIFT_KINDS] = {"rotate", "shift", "thick", "thin", "other-hands"};

/* ---- transforms ------------------------------------------------------------------------------ */

static double bilinear(const uint8_t *in, int w, int h, double x, double y)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, v = 0;
    for(int j = 0; j < 2; ++j) {
        for(int i = 0; i < 2; ++i) {
            int px = x0 + i, py = y0 + j;
            if(px < 0 || px >= w || py < 0 || py >= h) continue;
            v += in[py * w + px] * (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
        }
    }
    return v;
}

static uint8_t to_byte(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrint(v);
}

void dsn_shift_rotate(uint8_t *out, const uint8_t *in, int w, int h, double degrees)
{
    const double a = degrees * M_PI / 180.0, c = cos(a), s = sin(a);
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    /* out(p) = in(R^-1 p): on screen (y down) a counter-clockwise turn maps (X, Y) to
     * (X c + Y s, -X s + Y c), so the source of (X, Y) is (X c - Y s, X s + Y c) */
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            double X = x - cx, Y = y - cy;
            out[y * w + x] = to_byte(bilinear(in, w, h, cx + X * c - Y * s, cy + X * s + Y * c));
        }
    }
}

void dsn_shift_translate(uint8_t *out, const uint8_t *in, int w, int h, int dx, int dy)
{
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            int sx = x - dx, sy = y - dy;
            out[y * w + x] = sx >= 0 && sx < w && sy >= 0 && sy < h ? in[sy * w + sx] : 0;
        }
    }
}

void dsn_shift_dilate(uint8_t *out, const uint8_t *in, int w, int h)
{
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            uint8_t m = 0;
            for(int j = y - 1; j <= y + 1; ++j) {
                for(int i = x - 1; i <= x + 1; ++i) {
                    if(i >= 0 && i < w && j >= 0 && j < h && in[j * w + i] > m) m = in[j * w + i];
                }
            }
            out[y * w + x] = m;
        }
    }
}

void dsn_shift_erode(uint8_t *out, const uint8_t *in, int w, int h)
{
    static const int nb[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            uint8_t m = 255;
            for(int k = 0; k < 5; ++k) {
                int i = x + nb[k][0], j = y + nb[k][1];
                uint8_t v = i >= 0 && i < w && j >= 0 && j < h ? in[j * w + i] : 0;
                if(v < m) m = v;
            }
            out[y * w + x] = m;
        }
    }
}

int dsn_shift_survives(const uint8_t *px, int w, int h)
{
    int ink = 0;
    for(int i = 0; i < w * h; ++i) ink += px[i] >= 128;
    return ink >= DSN_SHIFT_MIN_INK;
}

double dsn_shift_mass(const uint8_t *px, int w, int h, double *cx, double *cy)
{
    double m = 0, mx = 0, my = 0;
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            m += px[y * w + x];
            mx += (double)px[y * w + x] * x;
            my += (double)px[y * w + x] * y;
        }
    }
    *cx = m > 0 ? mx / m : (w - 1) / 2.0;
    *cy = m > 0 ? my / m : (h - 1) / 2.0;
    return m;
}

/* ---- seeded draws ---------------------------------------------------------------------------- */

/* One stream per (seed, image, subset) */
static void draw_stream(dsn_rng *r, uint64_t seed, int i, int kind)
{
    dsn_rng_seed(r, seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(uint32_t)i * 0xD1B54A32D192ED03ull +
                                                     (uint64_t)(kind + 1) * 0x5851F42D4C957F2Dull));
    (void)dsn_rng_next(r);
}

double dsn_shift_angle(uint64_t seed, int i)
{
    dsn_rng r;
    draw_stream(&r, seed, i, DSN_SHIFT_ROTATE);
    double a = DSN_SHIFT_ROT_MIN + (DSN_SHIFT_ROT_MAX - DSN_SHIFT_ROT_MIN) * ((dsn_rng_next(&r) >> 11) * 0x1.0p-53);
    return dsn_rng_below(&r, 2) ? a : -a;
}

void dsn_shift_offset(uint64_t seed, int i, int *dx, int *dy)
{
    dsn_rng r;
    draw_stream(&r, seed, i, DSN_SHIFT_SHIFT);
    const int span = 2 * DSN_SHIFT_MAX_PX + 1;
    do {   /* uniform over the offsets with max(|dx|, |dy|) >= 2: 49 - 9 = 40 of them */
        *dx = dsn_rng_below(&r, span) - DSN_SHIFT_MAX_PX;
        *dy = dsn_rng_below(&r, span) - DSN_SHIFT_MAX_PX;
    } while(abs(*dx) < DSN_SHIFT_MIN_PX && abs(*dy) < DSN_SHIFT_MIN_PX);
}

/* ---- other hands ----------------------------------------------------------------------------- */

int dsn_optdigit_to_mnist(uint8_t out[28 * 28], const uint8_t in[64])
{
    /* dsn_prep's "mnist" centring alone: the 8x8 is already white on black with its own levels */
    const dsn_prep p = {.gray = 0, .crop = 0, .invert = 0, .normalize = 0, .center = 1, .box = 20, .com = 1};
    float frame[64], res[28 * 28];
    dsn_prep_info info;
    memset(out, 0, 28 * 28);
    for(int i = 0; i < 64; ++i) frame[i] = (in[i] > 16 ? 16 : in[i]) / 16.0f;
    if(dsn_prep_run(res, 28, 28, 1, frame, 8, 8, 1, &p, &info) != 0 || info.blank) return -1;
    for(int i = 0; i < 28 * 28; ++i) out[i] = to_byte(255.0 * res[i]);
    return 0;
}

int dsn_optdigits_parse(const char *text, size_t len, const char *name, uint8_t **px, uint8_t **label,
                        char *err, size_t errlen)
{
    int n = 0, cap = 0, line = 1;
    uint8_t *p = NULL, *l = NULL;
    const char *s = text, *end = text + len;
    *px = NULL;
    *label = NULL;
    while(s < end) {
        if(*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n')) {   /* an empty line */
            s += *s == '\r' ? 2 : 1;
            ++line;
            continue;
        }
        if(n == cap) {
            cap = cap ? 2 * cap : 2048;
            uint8_t *np = realloc(p, (size_t)cap * 64), *nl = np ? realloc(l, (size_t)cap) : NULL;
            if(np) p = np;
            if(!np || !nl) {
                snprintf(err, errlen, "%s: out of memory at line %d", name, line);
                goto fail;
            }
            l = nl;
        }
        for(int col = 1; col <= 65; ++col) {
            long v = -1;
            const char *q = s;
            if(q < end && *q >= '0' && *q <= '9') {
                v = 0;
                while(q < end && *q >= '0' && *q <= '9' && v <= 1000) v = 10 * v + (*q++ - '0');
            }
            const long max = col <= 64 ? 16 : 9;
            if(q == s || v > max) {
                snprintf(err, errlen, "%s:%d: column %d: expected a whole number 0..%ld (%s), found '%.*s'",
                         name, line, col, max, col <= 64 ? "an 8x8 pixel" : "the class", (int)strcspn(s, ",\r\n") > 20
                         ? 20 : (int)strcspn(s, ",\r\n"), s);
                goto fail;
            }
            if(col <= 64) p[(size_t)n * 64 + (size_t)(col - 1)] = (uint8_t)v;
            else l[n] = (uint8_t)v;
            const char sep = col < 65 ? ',' : '\n';
            if(col == 65 && q < end && *q == '\r') ++q;
            if(col == 65 && q == end) {
                s = q;
                break;
            }
            if(q >= end || *q != sep) {
                snprintf(err, errlen, "%s:%d: %s after column %d (a row is 64 pixels and the class, "
                         "comma-separated)", name, line, col < 65 ? "expected ','" : "expected the end of the line", col);
                goto fail;
            }
            s = q + 1;
        }
        ++n;
        ++line;
    }
    if(n == 0) {
        snprintf(err, errlen, "%s: no rows", name);
        goto fail;
    }
    *px = p;
    *label = l;
    return n;
fail:
    free(p);
    free(l);
    return -1;
}

/* ---- the import: sources --------------------------------------------------------------------- */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void rm_tree(const char *dir)   /* our own mkdtemp directory */
{
    char *rm[] = {"rm", "-rf", "--", (char *)dir, NULL};
    char ignored[256];
    dsn_import_run(rm, NULL, NULL, NULL, 0, ignored, sizeof ignored);
}

static int check_sha(const char *path, const char *want, const char *what, char *err, size_t errlen)
{
    char hex[65];
    if(dsn_file_sha256_hex(hex, path, err, errlen) != 0) return -1;
    if(strcmp(hex, want) != 0) {
        snprintf(err, errlen, "%s: SHA-256 %s, expected %s: not %s (delete it to fetch it again)", path, hex,
                 want, what);
        return -1;
    }
    return 0;
}

/* cache/python3-sklearn_*.deb: one found there, or one apt-get download puts there. */
static int digits_deb(char *deb, size_t len, const char *cache, char *err, size_t errlen)
{
    char pat[PATHLEN], tmp[PATHLEN];
    glob_t g;
    dsn_pathf(pat, sizeof pat, "%s/%s_*.deb", cache, DSN_DIGITS_DEB);
    if(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        dsn_pathf(deb, len, "%s", g.gl_pathv[g.gl_pathc - 1]);   /* sorted: the newest version last */
        globfree(&g);
        return 0;
    }
    globfree(&g);
    if(dsn_pathf(tmp, sizeof tmp, "%s/apt-XXXXXX", cache) != 0 || !mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create a directory in %s: %s", cache, strerror(errno));
        return -1;
    }
    chmod(tmp, 0755);   /* apt drops to its _apt user to download */
    printf("fetching %s from Debian's archive (apt-get download) into %s\n", DSN_DIGITS_DEB, cache);
    char *argv[] = {"apt-get", "download", "-q", DSN_DIGITS_DEB, NULL};
    int rc = -1;
    if(dsn_import_run(argv, tmp, NULL, NULL, 0, err, errlen) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, ": cannot fetch the Debian package %s (no network? the other-hands digits are its "
                 "%s). Fetch it once where Debian's archive is reachable (apt-get download %s) and put the .deb in %s, "
                 "or pass --digits FILE", DSN_DIGITS_DEB, DSN_DIGITS_MEMBER, DSN_DIGITS_DEB, cache);
        goto done;
    }
    dsn_pathf(pat, sizeof pat, "%s/%s_*.deb", tmp, DSN_DIGITS_DEB);
    if(glob(pat, 0, NULL, &g) != 0 || g.gl_pathc != 1) {
        snprintf(err, errlen, "apt-get download %s left no %s_*.deb in %s", DSN_DIGITS_DEB, DSN_DIGITS_DEB, tmp);
        globfree(&g);
        goto done;
    }
    const char *base = strrchr(g.gl_pathv[0], '/') + 1;
    dsn_pathf(deb, len, "%s/%s", cache, base);
    if(rename(g.gl_pathv[0], deb) != 0) snprintf(err, errlen, "cannot move %s to %s: %s", g.gl_pathv[0], deb, strerror(errno));
    else rc = 0;
    globfree(&g);
done:
    rm_tree(tmp);
    return rc;
}

int dsn_shift_digits_fetch(char *path, size_t len, const char *cache, char *err, size_t errlen)
{
    char deb[PATHLEN], tmp[PATHLEN], member[PATHLEN + 128];
    const char *what = DSN_DIGITS_DEB "'s " DSN_DIGITS_MEMBER;
    if(dsn_pathf(path, len, "%s/%s", cache, DSN_DIGITS_CACHED) != 0) {
        snprintf(err, errlen, "--cache %s: path too long", cache);
        return -1;
    }
    if(exists(path)) return check_sha(path, DSN_DIGITS_SHA256, what, err, errlen);
    if(dsn_mkdirs(cache, err, errlen) != 0 || digits_deb(deb, sizeof deb, cache, err, errlen) != 0) return -1;
    if(dsn_pathf(tmp, sizeof tmp, "%s/sklearn-XXXXXX", cache) != 0 || !mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create a directory in %s: %s", cache, strerror(errno));
        return -1;
    }
    printf("extracting %s from %s\n", DSN_DIGITS_MEMBER, deb);
    char *argv[] = {"dpkg-deb", "-x", deb, tmp, NULL};
    int rc = dsn_import_run(argv, NULL, NULL, NULL, 0, err, errlen);
    dsn_pathf(member, sizeof member, "%s/%s", tmp, DSN_DIGITS_MEMBER);
    if(rc == 0 && !exists(member)) {
        snprintf(err, errlen, "%s holds no %s (delete it to fetch it again)", deb, DSN_DIGITS_MEMBER);
        rc = -1;
    }
    if(rc == 0) rc = check_sha(member, DSN_DIGITS_SHA256, what, err, errlen);
    if(rc == 0 && rename(member, path) != 0) {
        snprintf(err, errlen, "cannot move %s to %s: %s", member, path, strerror(errno));
        rc = -1;
    }
    rm_tree(tmp);
    return rc;
}

/* The MNIST test split of a finished `dsn import mnist` in dir: malloc'd px[n*784], label[n]. */
static int mnist_test_read(const char *dir, const char *const *labels, uint8_t **px, uint8_t **label,
                           char *err, size_t errlen)
{
    char path[PATHLEN], file[PATHLEN];
    size_t len;
    int n = 0, cap = 0, line = 0, rc = -1;
    uint8_t *p = NULL, *l = NULL;
    dsn_pathf(path, sizeof path, "%s/%s", dir, DSN_IMPORT_STAMP);
    char *stamp = dsn_read_file_err(path, 1u << 20, &len, err, errlen);
    if(!stamp) return -1;
    int is_mnist = strstr(stamp, "\ndataset=mnist\n") != NULL;
    free(stamp);
    if(!is_mnist) {
        snprintf(err, errlen, "%s: not a `dsn import mnist` (no dataset=mnist line)", path);
        return -1;
    }
    dsn_pathf(path, sizeof path, "%s/test.list", dir);
    char *text = dsn_read_file_err(path, LIST_MAX, &len, err, errlen);
    if(!text) return -1;
    for(char *s = text, *nl; *s; s = nl + 1) {
        ++line;
        if(!(nl = strchr(s, '\n'))) {
            snprintf(err, errlen, "%s:%d: the last line has no newline: cut short?", path, line);
            goto done;
        }
        *nl = '\0';
        const char *base = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
        int cls = -1, hits = 0;
        for(int k = 0; k < 10; ++k) {
            if(strstr(base, labels[k])) {
                cls = k;
                ++hits;
            }
        }
        if(hits != 1) {
            snprintf(err, errlen, "%s:%d: %s carries %d labels, not one", path, line, s, hits);
            goto done;
        }
        if(n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *np = realloc(p, (size_t)cap * 784), *nl2 = np ? realloc(l, (size_t)cap) : NULL;
            if(np) p = np;
            if(!np || !nl2) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto done;
            }
            l = nl2;
        }
        int w = 0, h = 0, c = 0;
        dsn_pathf(file, sizeof file, "%s/test/%s", dir, base);   /* the image, wherever dir is now */
        unsigned char *im = stbi_load(file, &w, &h, &c, 1);
        if(!im || w != 28 || h != 28) {
            snprintf(err, errlen, "%s:%d: %s: %s", path, line, file, im ? "not 28x28" : "cannot read it as an image");
            if(im) stbi_image_free(im);
            goto done;
        }
        memcpy(p + (size_t)n * 784, im, 784);
        stbi_image_free(im);
        l[n++] = (uint8_t)cls;
    }
    if(n == 0) {
        snprintf(err, errlen, "%s is empty", path);
        goto done;
    }
    rc = n;
done:
    free(text);
    if(rc < 0) {
        free(p);
        free(l);
        p = l = NULL;
    }
    *px = p;
    *label = l;
    return rc;
}

/* digits.csv or digits.csv.gz (gzip's magic) as text */
static char *digits_text(const char *path, size_t *len, char *err, size_t errlen)
{
    char magic[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    if(!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t got = fread(magic, 1, 2, f);
    fclose(f);
    if(got == 2 && (uint8_t)magic[0] == 0x1f && (uint8_t)magic[1] == 0x8b) {
        char *out = NULL;
        char *argv[] = {"gzip", "-dc", "--", (char *)path, NULL};
        if(dsn_import_run(argv, NULL, &out, len, DIGITS_MAX, err, errlen) != 0) return NULL;
        return out;
    }
    return dsn_read_file_err(path, DIGITS_MAX, len, err, errlen);
}

/* ---- the import ------------------------------------------------------------------------------ */

static void print_counts(const dsn_dataset *d, const char *const *labels, int dropped_thin, int dropped_other)
{
    int c[DSN_SHIFT_KINDS + 1][11];
    memset(c, 0, sizeof c);
    for(int i = 0; i < d->n; ++i) {
        ++c[d->tag[i]][d->label[i]];
        ++c[d->tag[i]][10];
        ++c[DSN_SHIFT_KINDS][d->label[i]];
        ++c[DSN_SHIFT_KINDS][10];
    }
    printf("  %-12s", "subset");
    for(int k = 0; k < 10; ++k) printf(" %6s", labels[k]);
    printf(" %7s\n", "total");
    for(int t = 0; t <= DSN_SHIFT_KINDS; ++t) {
        printf("  %-12s", t < DSN_SHIFT_KINDS ? dsn_shift_names[t] : "total");
        for(int k = 0; k <= 10; ++k) printf(k < 10 ? " %6d" : " %7d", c[t][k]);
        printf("\n");
    }
    printf("thin: %d digits eroded away (fewer than %d pixels >= 128 left) are left out; other-hands: %d "
           "blank rows left out\n", dropped_thin, DSN_SHIFT_MIN_INK, dropped_other);
}

/* One transformed copy of each MNIST test image for subset `kind`; returns how many it dropped. */
static int add_kind(dsn_dataset *d, int kind, const uint8_t *px, const uint8_t *label, int n, uint64_t seed)
{
    int dropped = 0, dx, dy;
    uint8_t out[784];
    for(int i = 0; i < n; ++i) {
        const uint8_t *in = px + (size_t)i * 784;
        switch(kind) {
        case DSN_SHIFT_ROTATE: dsn_shift_rotate(out, in, 28, 28, dsn_shift_angle(seed, i)); break;
        case DSN_SHIFT_SHIFT:
            dsn_shift_offset(seed, i, &dx, &dy);
            dsn_shift_translate(out, in, 28, 28, dx, dy);
            break;
        case DSN_SHIFT_THICK: dsn_shift_dilate(out, in, 28, 28); break;
        default: dsn_shift_erode(out, in, 28, 28); break;
        }
        if(kind == DSN_SHIFT_THIN && !dsn_shift_survives(out, 28, 28)) {
            ++dropped;
            continue;
        }
        if(dsn_dataset_push(d, out, label[i], DSN_SPLIT_TEST, kind) < 0) return -1;
    }
    return dropped;
}

int dsn_shift_load(dsn_dataset *d, const dsn_shift_opts *o, char *err, size_t errlen)
{
    uint8_t *mpx = NULL, *mlab = NULL, *opx = NULL, *olab = NULL;
    char path[PATHLEN];
    int rc = -1, dropped_thin = 0, dropped_other = 0;
    int n = mnist_test_read(o->mnist, o->labels, &mpx, &mlab, err, errlen);
    if(n < 0) goto done;
    printf("read %d test images from %s/test.list (its train split is not read)\n", n, o->mnist);
    if(o->digits) dsn_pathf(path, sizeof path, "%s", o->digits);
    else if(dsn_shift_digits_fetch(path, sizeof path, o->cache, err, errlen) != 0) goto done;
    size_t len;
    char *text = digits_text(path, &len, err, errlen);
    if(!text) goto done;
    int m = dsn_optdigits_parse(text, len, path, &opx, &olab, err, errlen);
    free(text);
    if(m < 0) goto done;
    if(!o->digits && m != DSN_DIGITS_ROWS) {
        snprintf(err, errlen, "%s: %d rows, expected %d", path, m, DSN_DIGITS_ROWS);
        goto done;
    }
    printf("read %d optical digits (8x8, other writers) from %s\n", m, path);
    for(int kind = 0; kind < DSN_SHIFT_OTHER; ++kind) {
        int got = add_kind(d, kind, mpx, mlab, n, o->seed);
        if(got < 0) goto oom;
        if(kind == DSN_SHIFT_THIN) dropped_thin = got;
    }
    for(int i = 0; i < m; ++i) {
        uint8_t out[784];
        if(dsn_optdigit_to_mnist(out, opx + (size_t)i * 64) != 0) {
            ++dropped_other;
            continue;
        }
        if(dsn_dataset_push(d, out, olab[i], DSN_SPLIT_TEST, DSN_SHIFT_OTHER) < 0) goto oom;
    }
    print_counts(d, o->labels, dropped_thin, dropped_other);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory after %d images", d->n);
done:
    free(mpx);
    free(mlab);
    free(opx);
    free(olab);
    return rc;
}
