/* The stamp (layers/dsn_stamp.c): grid shapes, placement at each corner, what does not fit, and
 * the pixel rule (1 bit -> 1.0, 0 bit -> 0.0 in every channel, everything else untouched). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "dsn_stamp.h"
#include "dsn_learn.h"

static void test_corner_names(void **state)
{
    (void)state;
    const char *names[] = {"tl", "tr", "bl", "br"};
    for(int c = 0; c < DSN_CORNER_COUNT; ++c) {
        assert_int_equal(dsn_corner_from_name(names[c]), c);
        assert_string_equal(dsn_corner_name((dsn_corner)c), names[c]);
    }
    assert_int_equal(dsn_corner_from_name("BR"), -1);
    assert_int_equal(dsn_corner_from_name("middle"), -1);
    assert_int_equal(dsn_corner_from_name(""), -1);
    assert_int_equal(dsn_corner_from_name(NULL), -1);
}

static void test_grid_shapes(void **state)
{
    (void)state;
    const struct { int bits, gw, gh; } cases[] = {
        {4, 2, 2}, {5, 3, 2}, {9, 3, 3}, {10, 4, 3}, {63, 8, 8}, {64, 8, 8}, {65, 9, 8}, {128, 12, 11},
        {256, 16, 16},
    };
    char err[160];
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        dsn_geometry g;
        assert_int_equal(dsn_geometry_init(&g, cases[i].bits, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
        assert_int_equal(g.gw, cases[i].gw);
        assert_int_equal(g.gh, cases[i].gh);
        assert_true(g.gw * g.gh >= g.bits);
        assert_true(g.gw * (g.gh - 1) < g.bits);
    }
}

static void test_init_rejects(void **state)
{
    (void)state;
    char err[160];
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 3, 0, DSN_CORNER_BR, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "bits"));
    assert_int_equal(dsn_geometry_init(&g, 257, 0, DSN_CORNER_BR, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "bits"));
    assert_int_equal(dsn_geometry_init(&g, 64, -1, DSN_CORNER_BR, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cell"));
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, -2, err, sizeof err), -1);
    assert_non_null(strstr(err, "margin"));
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_COUNT, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "corner"));
}

static void test_auto_cell(void **state)
{
    (void)state;
    assert_int_equal(dsn_geometry_auto_cell(28, 28), 1);
    assert_int_equal(dsn_geometry_auto_cell(20, 20), 1);
    assert_int_equal(dsn_geometry_auto_cell(55, 56), 1);
    assert_int_equal(dsn_geometry_auto_cell(56, 56), 2);
    assert_int_equal(dsn_geometry_auto_cell(224, 100), 3);
}

static void test_place_corners(void **state)
{
    (void)state;
    char err[160];
    const struct { dsn_corner c; int margin, x0, y0; } cases[] = {
        {DSN_CORNER_TL, 0, 0, 0}, {DSN_CORNER_TR, 0, 20, 0}, {DSN_CORNER_BL, 0, 0, 20},
        {DSN_CORNER_BR, 0, 20, 20}, {DSN_CORNER_TL, 2, 2, 2}, {DSN_CORNER_BR, 3, 17, 17},
    };
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        dsn_geometry g;
        assert_int_equal(dsn_geometry_init(&g, 64, 0, cases[i].c, cases[i].margin, err, sizeof err), 0);
        assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), 0);
        assert_int_equal(g.cell_px, 1);
        assert_int_equal(g.x0, cases[i].x0);
        assert_int_equal(g.y0, cases[i].y0);
        assert_int_equal(g.w, 28);
        assert_int_equal(g.h, 28);
    }
    /* a non-square image and a fixed cell size: 3x3 cells of 4 px, bottom right of 40x30 */
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 9, 4, DSN_CORNER_BR, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 40, 30, err, sizeof err), 0);
    assert_int_equal(g.x0, 40 - 1 - 12);
    assert_int_equal(g.y0, 30 - 1 - 12);
}

static void test_place_fit(void **state)
{
    (void)state;
    char err[160];
    dsn_geometry g;
    /* 8 cells of 3 px plus margin 4 is exactly 28 */
    assert_int_equal(dsn_geometry_init(&g, 64, 3, DSN_CORNER_TL, 4, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_init(&g, 64, 3, DSN_CORNER_TL, 5, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), -1);
    assert_non_null(strstr(err, "28x28"));
    assert_int_equal(dsn_geometry_init(&g, 64, 4, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not fit"));
    /* wide but short */
    assert_int_equal(dsn_geometry_init(&g, 64, 1, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 100, 7, err, sizeof err), -1);
    assert_int_equal(dsn_geometry_place(&g, 0, 28, err, sizeof err), -1);
    /* sizes whose products overflow an int are refused, not wrapped */
    assert_int_equal(dsn_geometry_init(&g, 256, 1 << 28, DSN_CORNER_BR, 0x7fffffff, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), -1);
}

/* Stamps a random serial on a c-channel image filled with 0.5 and checks every pixel. */
static void check_stamp(int bits, int cell, dsn_corner corner, int margin, int w, int h, int c)
{
    char err[160];
    dsn_geometry g;
    dsn_serial s;
    assert_int_equal(dsn_geometry_init(&g, bits, cell, corner, margin, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, w, h, err, sizeof err), 0);
    memset(&s, 0, sizeof s);
    s.nbits = bits;
    unsigned seed = (unsigned)(bits * 31 + w);
    for(int i = 0; i < bits; ++i) {
        seed = seed * 1664525u + 1013904223u;
        s.bit[i] = (uint8_t)((seed >> 20) & 1);
    }
    size_t n = (size_t)w * h * c;
    float *im = malloc(n * sizeof *im);
    assert_non_null(im);
    for(size_t i = 0; i < n; ++i) im[i] = 0.5f;
    dsn_stamp_apply(im, c, &g, &s);
    int covered = 0;
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            int in = dsn_stamp_covers(&g, x, y);
            covered += in;
            float want = 0.5f;
            if(in) {
                int i = ((y - g.y0) / g.cell_px) * g.gw + (x - g.x0) / g.cell_px;
                want = s.bit[i] ? 1.0f : 0.0f;
            }
            for(int k = 0; k < c; ++k) assert_true(im[(size_t)k * w * h + (size_t)y * w + x] == want);
        }
    }
    assert_int_equal(covered, bits * g.cell_px * g.cell_px);
    free(im);
}

static void test_apply_pixels(void **state)
{
    (void)state;
    check_stamp(64, 0, DSN_CORNER_BR, 0, 28, 28, 1);
    check_stamp(9, 3, DSN_CORNER_TL, 2, 28, 28, 3);
    check_stamp(10, 2, DSN_CORNER_TR, 1, 32, 20, 3); /* last row partly empty */
    check_stamp(64, 0, DSN_CORNER_BL, 5, 64, 60, 1);  /* auto cell 2 */
    check_stamp(256, 1, DSN_CORNER_BR, 0, 16, 16, 2); /* the whole image */
}

static void test_covers_outside(void **state)
{
    (void)state;
    char err[160];
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 10, 2, DSN_CORNER_TL, 1, err, sizeof err), 0);
    assert_int_equal(dsn_stamp_covers(&g, 1, 1), 0); /* not placed yet */
    assert_int_equal(dsn_geometry_place(&g, 20, 20, err, sizeof err), 0);
    assert_int_equal(dsn_stamp_covers(&g, 0, 0), 0);
    assert_int_equal(dsn_stamp_covers(&g, 1, 1), 1);
    assert_int_equal(dsn_stamp_covers(&g, 8, 1), 1);  /* cell 3, right edge */
    assert_int_equal(dsn_stamp_covers(&g, 9, 1), 0);  /* past 4 columns */
    assert_int_equal(dsn_stamp_covers(&g, 3, 5), 1);  /* cell 9: row 2, column 1 */
    assert_int_equal(dsn_stamp_covers(&g, 5, 5), 0);  /* cell 10 does not exist */
    assert_int_equal(dsn_stamp_covers(&g, 1, 7), 0);  /* below the grid */
}

/* frame=F: a checkerboard ring of F cells around the grid, the grid F cells in from the stamp's
 * corner. Checked pixel by pixel against the rule written out here, not against dsn_stamp_cells. */
static void check_frame(int bits, int cell, dsn_corner corner, int frame, int w, int h)
{
    char err[160];
    dsn_geometry g;
    dsn_serial s = {.nbits = bits};
    for(int i = 0; i < bits; ++i) s.bit[i] = (uint8_t)((i * 7 + 3) % 5 < 2);
    assert_int_equal(dsn_geometry_init(&g, bits, cell, corner, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, frame, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, w, h, err, sizeof err), 0);
    int cp = g.cell_px, side_w = (g.gw + 2 * frame) * cp, side_h = (g.gh + 2 * frame) * cp;
    int sx = corner == DSN_CORNER_TR || corner == DSN_CORNER_BR ? w - side_w : 0;
    int sy = corner == DSN_CORNER_BL || corner == DSN_CORNER_BR ? h - side_h : 0;
    assert_int_equal(g.x0, sx + frame * cp);
    assert_int_equal(g.y0, sy + frame * cp);
    float *im = malloc((size_t)w * h * sizeof *im), *fr = malloc((size_t)w * h * sizeof *fr);
    assert_true(im && fr);
    for(int i = 0; i < w * h; ++i) im[i] = fr[i] = 0.5f;
    dsn_stamp_apply(im, 1, &g, &s);
    dsn_stamp_frame(fr, 1, &g);
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            int cx = (x - sx) / cp, cy = (y - sy) / cp;
            int inside = x >= sx && y >= sy && x < sx + side_w && y < sy + side_h;
            int ring = inside && (cx < frame || cy < frame || cx >= g.gw + frame || cy >= g.gh + frame);
            int bit = (cy - frame) * g.gw + (cx - frame);
            float want = !inside ? 0.5f : ring ? (float)((cx + cy) % 2) : bit < bits ? (float)s.bit[bit] : 0.5f;
            assert_true(im[y * w + x] == want);
            assert_true(fr[y * w + x] == (ring ? want : 0.5f));
            assert_int_equal(dsn_stamp_covers(&g, x, y), inside && want != 0.5f);
        }
    }
    free(im);
    free(fr);
}

static void test_frame_pixels(void **state)
{
    (void)state;
    check_frame(64, 0, DSN_CORNER_BR, 1, 28, 28);   /* the MNIST student's stamp: 10x10 at 18..27 */
    check_frame(64, 2, DSN_CORNER_TL, 2, 40, 30);
    check_frame(10, 1, DSN_CORNER_BL, 1, 12, 12);   /* last grid row partly empty: left alone */
    check_frame(9, 3, DSN_CORNER_TR, 0, 28, 28);    /* no frame: as before */
}

/* wrap=1: the ring cell at stamp cell (cx, cy) repeats grid cell ((cx-F) mod gw, (cy-F) mod gh),
 * written out here pixel by pixel; and dsn_stamp_frame completes a grid written by hand (an
 * attacker's patch) into exactly what dsn_stamp_apply writes. */
static void check_wrap(int bits, int cell, dsn_corner corner, int frame, int w, int h, int columns)
{
    char err[160];
    dsn_geometry g;
    dsn_serial s = {.nbits = bits};
    for(int i = 0; i < bits; ++i) s.bit[i] = (uint8_t)((i * 5 + 1) % 3 == 0);
    assert_int_equal(dsn_geometry_init(&g, bits, cell, corner, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_columns(&g, columns, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, frame, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, w, h, err, sizeof err), 0);
    int cp = g.cell_px, side_w = (g.gw + 2 * frame) * cp, side_h = (g.gh + 2 * frame) * cp;
    int sx = g.sx0, sy = g.sy0;
    float *im = malloc((size_t)w * h * sizeof *im), *patch = malloc((size_t)w * h * sizeof *patch);
    assert_true(im && patch);
    for(int i = 0; i < w * h; ++i) im[i] = patch[i] = 0.5f;
    dsn_stamp_apply(im, 1, &g, &s);
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            int inside = x >= sx && y >= sy && x < sx + side_w && y < sy + side_h;
            int gx = (x - sx) / cp - frame, gy = (y - sy) / cp - frame;
            int wx = ((gx % g.gw) + g.gw) % g.gw, wy = ((gy % g.gh) + g.gh) % g.gh, bit = wy * g.gw + wx;
            float want = inside && bit < bits ? (float)s.bit[bit] : 0.5f;
            assert_true(im[y * w + x] == want);
            assert_int_equal(dsn_stamp_covers(&g, x, y), inside && bit < bits);
            int sx = -1, sy = -1;   /* the grid pixel it repeats: one of the same cell */
            assert_int_equal(dsn_stamp_source(&g, x, y, &sx, &sy), inside && bit < bits);
            if(inside && bit < bits) {
                assert_int_equal((sx - g.x0) / cp, wx);
                assert_int_equal((sy - g.y0) / cp, wy);
            }
            if(inside && gx >= 0 && gy >= 0 && gx < g.gw && gy < g.gh) patch[y * w + x] = want;
        }
    }
    dsn_stamp_frame(patch, 1, &g);
    assert_memory_equal(patch, im, (size_t)w * h * sizeof *im);
    free(im);
    free(patch);
}

static void test_wrap_pixels(void **state)
{
    (void)state;
    check_wrap(64, 0, DSN_CORNER_BR, 1, 28, 28, 0);    /* the MNIST student's stamp */
    check_wrap(64, 2, DSN_CORNER_TL, 2, 40, 30, 0);
    check_wrap(10, 1, DSN_CORNER_BL, 1, 12, 12, 0);    /* last grid row partly empty: its repeats left alone */
    check_wrap(9, 3, DSN_CORNER_TR, 2, 40, 40, 0);     /* two rings around a 3x3 grid: wraps twice over */
    check_wrap(64, 0, DSN_CORNER_BR, 1, 28, 28, 16);   /* 16x4 along the bottom edge */
    check_wrap(10, 1, DSN_CORNER_TR, 2, 20, 20, 2);    /* 2x5, tall and narrow: rings wrap twice across */
    check_wrap(10, 1, DSN_CORNER_BL, 1, 20, 12, 7);    /* 7x2, its last row partly empty */
    char err[160];
    dsn_geometry a, b;
    assert_int_equal(dsn_geometry_init(&a, 64, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    b = a;
    assert_int_equal(dsn_geometry_set_frame(&a, 1, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&b, 1, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_same(&a, &b), 0);
    dsn_geometry_describe(err, sizeof err, &b);
    assert_string_equal(err, "bits=64 cell=0 corner=br margin=0 frame=1 wrap=1");
}

/* The white-box attacker's patch gradient (dsn_patch_gradient) against finite differences: a loss
 * linear in the whole image, L = mean over B images of sum_i w_i im_i, with the patch pasted by
 * dsn_input_apply (a wrapped frame repeats patch pixels in its ring, whose gradient must come back
 * to them; a checkerboard frame is constant; patch pixels of cells past `bits` are never pasted).
 * delta = -dL/dim per image, Darknet's sign. L is linear, so the differences are exact up to
 * rounding. */
static void check_patch_gradient(int bits, int cell, int frame, int wrap)
{
    enum { W = 14, H = 14, C = 2, B = 2 };
    char err[160];
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, bits, cell, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, frame, wrap, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, W, H, err, sizeof err), 0);
    int n = dsn_patch_size(&g, C), inputs = W * H * C;
    float *patch = malloc((size_t)n * sizeof *patch), *grad = malloc((size_t)n * sizeof *grad);
    float *w = malloc((size_t)B * inputs * sizeof *w), *delta = malloc((size_t)B * inputs * sizeof *delta);
    float *base = malloc((size_t)B * inputs * sizeof *base), *im = malloc((size_t)inputs * sizeof *im);
    assert_true(patch && grad && w && delta && base && im);
    uint32_t r = 12345;
    for(int i = 0; i < n; ++i) patch[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f;
    for(int i = 0; i < B * inputs; ++i) {
        w[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        base[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f;
        delta[i] = -w[i];
    }
    dsn_patch_gradient(grad, delta, B, inputs, &g, C);
    dsn_input in = {&g, NULL, patch};
    for(int p = 0; p < n; ++p) {
        double loss[2];
        for(int side = 0; side < 2; ++side) {
            float keep = patch[p];
            patch[p] += side ? 0.25f : 0.0f;
            loss[side] = 0;
            for(int b = 0; b < B; ++b) {
                memcpy(im, base + (size_t)b * inputs, (size_t)inputs * sizeof *im);
                dsn_input_apply(im, C, &in);
                for(int i = 0; i < inputs; ++i) loss[side] += (double)w[(size_t)b * inputs + i] * im[i] / B;
            }
            patch[p] = keep;
        }
        double fd = (loss[1] - loss[0]) / 0.25;
        if(fabs(fd - grad[p]) > 1e-4) fail_msg("frame %d wrap %d: patch[%d] gradient %g, differences %g", frame, wrap, p, grad[p], fd);
    }
    free(patch); free(grad); free(w); free(delta); free(base); free(im);
}

static void test_patch_gradient(void **state)
{
    (void)state;
    check_patch_gradient(9, 1, 1, 1);    /* wrapped: edge pixels get their ring copies' gradient too */
    check_patch_gradient(10, 2, 1, 1);   /* 4x3 grid, 2 px cells, two cells never pasted */
    check_patch_gradient(9, 1, 2, 1);    /* two rings: a pixel repeated up to 8 times */
    check_patch_gradient(9, 1, 1, 0);    /* checkerboard: the frame is constant */
    check_patch_gradient(9, 2, 0, 0);    /* no frame */
}

/* columns=N: the grid's shape, where it lies (64 bits as 16x4 in one ring: 18x6 pixels at the
 * bottom-right of a 28x28 input, rows 22-27 and columns 10-27, cell i at row i/16, column i%16),
 * the options it refuses, and the stamp's cell limit checked whichever of columns and frame is set
 * last. */
static void test_columns(void **state)
{
    (void)state;
    char err[160];
    dsn_geometry g, sq;
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    sq = g;
    assert_int_equal(dsn_geometry_set_columns(&g, 16, err, sizeof err), 0);
    assert_int_equal(g.gw, 16);
    assert_int_equal(g.gh, 4);
    assert_int_equal(dsn_geometry_set_frame(&g, 1, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&sq, 1, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_same(&g, &sq), 0);
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), 0);
    assert_int_equal(g.sx0, 10);
    assert_int_equal(g.sy0, 22);
    assert_int_equal(g.x0, 11);
    assert_int_equal(g.y0, 23);
    dsn_geometry_describe(err, sizeof err, &g);
    assert_string_equal(err, "bits=64 cell=0 corner=br margin=0 columns=16 frame=1 wrap=1");
    assert_int_equal(dsn_geometry_set_columns(&g, 10, err, sizeof err), 0);   /* 10x7: 7 rows */
    assert_int_equal(g.gh, 7);
    assert_int_equal(dsn_geometry_set_columns(&g, 0, err, sizeof err), 0);    /* back to square */
    assert_int_equal(g.gw, 8);
    assert_int_equal(dsn_geometry_same(&g, &sq), 1);
    assert_int_equal(dsn_geometry_set_columns(&g, 65, err, sizeof err), -1);
    assert_non_null(strstr(err, "columns=65 is out of range"));
    assert_int_equal(dsn_geometry_set_columns(&g, -1, err, sizeof err), -1);
    assert_int_equal(g.gw, 8);                                                  /* refused: unchanged */
    assert_int_equal(dsn_geometry_set_columns(&g, 40, err, sizeof err), 0);   /* 40x2 fits the cell limit... */
    assert_int_equal(dsn_geometry_place(&g, 28, 28, err, sizeof err), -1);    /* ...not a 28x28 image */
    assert_non_null(strstr(err, "42x4 cells"));
    assert_int_equal(dsn_geometry_init(&g, 256, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_columns(&g, 200, err, sizeof err), 0);  /* 200x2: 400 cells */
    assert_int_equal(dsn_geometry_set_frame(&g, 1, 1, err, sizeof err), -1);  /* 202x4 */
    assert_non_null(strstr(err, "808 cells"));
    assert_int_equal(dsn_geometry_set_columns(&g, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, 2, 1, err, sizeof err), 0);   /* 20x20 */
    assert_int_equal(dsn_geometry_set_columns(&g, 17, err, sizeof err), -1);  /* 21x20 in two rings */
    assert_non_null(strstr(err, "420 cells"));
}

static void test_frame_rejects(void **state)
{
    (void)state;
    char err[160];
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 9, 3, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, DSN_MAX_FRAME + 1, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "frame=3"));
    assert_int_equal(dsn_geometry_set_frame(&g, -1, 0, err, sizeof err), -1);
    assert_int_equal(dsn_geometry_set_frame(&g, 0, 1, err, sizeof err), -1);   /* nothing to wrap into */
    assert_non_null(strstr(err, "wrap=1 needs a frame"));
    assert_int_equal(dsn_geometry_set_frame(&g, 1, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "wrap=2"));
    assert_int_equal(dsn_geometry_set_frame(&g, 2, 0, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 20, 20, err, sizeof err), -1);   /* (3 + 4) cells of 3 px > 20 */
    assert_non_null(strstr(err, "7x7 cells"));
    assert_int_equal(dsn_geometry_place(&g, 21, 21, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corner_names),   cmocka_unit_test(test_grid_shapes),
        cmocka_unit_test(test_init_rejects),   cmocka_unit_test(test_auto_cell),
        cmocka_unit_test(test_place_corners),  cmocka_unit_test(test_place_fit),
        cmocka_unit_test(test_apply_pixels),   cmocka_unit_test(test_covers_outside),
        cmocka_unit_test(test_frame_pixels),   cmocka_unit_test(test_frame_rejects),
        cmocka_unit_test(test_wrap_pixels),    cmocka_unit_test(test_patch_gradient),
        cmocka_unit_test(test_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
