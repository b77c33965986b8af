/* `dsn eval` (dsn_cli/dsn_eval.c, cmd_eval.c): the interval maths against hand values, the serial
 * sampling (forged never valid, near serials at exactly their distance, every bit flipped once),
 * the class-stratified subsets, reading cfgs and data sets, and an end-to-end evaluation of a tiny
 * random customer model whose raw and valid accuracies are recomputed here one image at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_eval.h"
#include "dsn_jansson.h"
#include "dsn_layers.h"
#include "dsn_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define assert_near(a, b, eps) do { double a_ = (a), b_ = (b); \
    if(!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.9g, expected %.9g", #a, a_, b_); } while(0)

/* ---- statistics -------------------------------------------------------------------------- */

static void test_wilson_hand_values(void **state)
{
    (void)state;
    /* p = k/n, z = 1.959964: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) */
    const struct { long k, n; double lo, hi; } cases[] = {
        {8, 10, 49.0162472, 94.3317849},   /* the textbook example: 0.4902 - 0.9433 */
        {0, 10, 0, 27.7532800},
        {10, 10, 72.2467200, 100},
        {50, 100, 40.3831530, 59.6168470},
        {1998, 2000, 99.6361066, 99.9725721},
    };
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        dsn_eval_acc a = dsn_eval_wilson(cases[i].k, cases[i].n);
        assert_int_equal(a.correct, cases[i].k);
        assert_int_equal(a.total, cases[i].n);
        assert_near(a.acc, 100.0 * cases[i].k / cases[i].n, 1e-9);
        assert_near(a.lo, cases[i].lo, 1e-6);
        assert_near(a.hi, cases[i].hi, 1e-6);
        assert_true(a.lo <= a.acc && a.acc <= a.hi);
    }
    dsn_eval_acc none = dsn_eval_wilson(0, 0);
    assert_int_equal(none.total, 0);
    assert_true(none.acc == 0 && none.lo == 0 && none.hi == 0);
}

static void test_mean_over_serials(void **state)
{
    (void)state;
    dsn_eval_acc each[3] = {dsn_eval_wilson(1, 10), dsn_eval_wilson(3, 10), dsn_eval_wilson(2, 10)};
    dsn_eval_set s = {.n = 3, .each = each};
    dsn_eval_set_stats(&s);
    assert_near(s.mean, 20, 1e-9);
    assert_near(s.sd, 10, 1e-9);                         /* sample sd of 10, 30, 20 */
    assert_near(s.lo, 20 - 1.959963985 * 10 / sqrt(3), 1e-6);
    assert_near(s.hi, 20 + 1.959963985 * 10 / sqrt(3), 1e-6);
    assert_int_equal(s.max_i, 1);
    assert_int_equal(s.min_i, 0);

    s.n = 1;                                             /* one serial: its own Wilson interval */
    dsn_eval_set_stats(&s);
    assert_near(s.mean, 10, 1e-9);
    assert_near(s.lo, each[0].lo, 1e-12);
    assert_near(s.hi, each[0].hi, 1e-12);

    s.n = 0;
    dsn_eval_set_stats(&s);
    assert_true(s.mean == 0);
    assert_int_equal(s.max_i, -1);
    assert_int_equal(s.min_i, -1);

    dsn_eval_acc flat[2] = {dsn_eval_wilson(0, 10), dsn_eval_wilson(0, 10)};
    dsn_eval_set z = {.n = 2, .each = flat};             /* the interval never leaves [0, 100] */
    dsn_eval_set_stats(&z);
    assert_near(z.lo, 0, 0);
    assert_near(z.hi, 0, 0);
}

/* ---- serials ----------------------------------------------------------------------------- */

static dsn_serial make_serial(int nbits, unsigned seed)
{
    dsn_serial s = {.nbits = nbits};
    for(int i = 0; i < nbits; ++i) {
        seed = seed * 1664525u + 1013904223u;
        s.bit[i] = (seed >> 20) & 1;
    }
    return s;
}

static void test_forged_never_valid(void **state)
{
    (void)state;
    dsn_rng rng;
    dsn_rng_seed(&rng, 7);
    /* 4 bits: 16 values, so a sampler that could return the valid one would, often */
    dsn_serial valid = make_serial(4, 3), *out = malloc(2000 * sizeof *out);
    int seen[16] = {0};
    dsn_eval_forged(out, 2000, &valid, &rng);
    for(int i = 0; i < 2000; ++i) {
        assert_int_equal(out[i].nbits, 4);
        assert_true(dsn_serial_hamming(&out[i], &valid) > 0);
        seen[out[i].bit[0] << 3 | out[i].bit[1] << 2 | out[i].bit[2] << 1 | out[i].bit[3]]++;
    }
    int v = valid.bit[0] << 3 | valid.bit[1] << 2 | valid.bit[2] << 1 | valid.bit[3];
    for(int k = 0; k < 16; ++k) {
        if(k == v) assert_int_equal(seen[k], 0);
        else assert_true(seen[k] > 2000 / 15 / 2);       /* every other value, roughly uniformly */
    }
    valid = make_serial(64, 5);
    dsn_eval_forged(out, 1000, &valid, &rng);
    double ones = 0;
    for(int i = 0; i < 1000; ++i) {
        assert_true(dsn_serial_hamming(&out[i], &valid) > 0);
        for(int b = 0; b < 64; ++b) ones += out[i].bit[b];
    }
    assert_near(ones / 64000, 0.5, 0.02);
    free(out);
}

static void test_near_exact_distance(void **state)
{
    (void)state;
    dsn_rng rng;
    dsn_rng_seed(&rng, 11);
    dsn_serial out[300];
    const int nbits[] = {4, 9, 64, 256};
    for(size_t k = 0; k < sizeof nbits / sizeof nbits[0]; ++k) {
        dsn_serial valid = make_serial(nbits[k], 9);
        const int dists[] = {1, 2, 4};
        for(int d = 0; d < 3; ++d) {
            dsn_eval_near(out, 300, &valid, dists[d], &rng);
            for(int i = 0; i < 300; ++i) {
                assert_int_equal(out[i].nbits, nbits[k]);
                assert_int_equal(dsn_serial_hamming(&out[i], &valid), dists[d]);
                for(int b = nbits[k]; b < DSN_MAX_BITS; ++b) assert_int_equal(out[i].bit[b], 0);
            }
        }
    }
    /* distance 4 on 4 bits: the complement, every time */
    dsn_serial valid = make_serial(4, 1);
    dsn_eval_near(out, 10, &valid, 4, &rng);
    for(int i = 0; i < 10; ++i)
        for(int b = 0; b < 4; ++b) assert_int_equal(out[i].bit[b], !valid.bit[b]);
}

static void test_hamming1_covers_every_bit_once(void **state)
{
    (void)state;
    dsn_serial valid = make_serial(64, 2), out[64];
    int flipped[64] = {0};
    dsn_eval_hamming1(out, &valid);
    for(int i = 0; i < 64; ++i) {
        assert_int_equal(dsn_serial_hamming(&out[i], &valid), 1);
        for(int b = 0; b < 64; ++b) {
            if(out[i].bit[b] != valid.bit[b]) {
                assert_int_equal(b, i);   /* serial i flips bit i */
                flipped[b]++;
            }
        }
    }
    for(int b = 0; b < 64; ++b) assert_int_equal(flipped[b], 1);
}

/* Neighbour swaps on the 4x4 grid of a 16-bit serial: a checkerboard differs from each of its 24
 * horizontal and vertical neighbours and from none of its 18 diagonal ones; all zeros has none;
 * a lone 1 in a corner swaps with its 3 neighbours. Each swap exchanges two 8-neighbours that
 * differ, every pair once. */
static void test_swaps(void **state)
{
    (void)state;
    static dsn_serial out[DSN_SWAPS_MAX];
    dsn_serial s = {.nbits = 16};
    for(int i = 0; i < 16; ++i) s.bit[i] = (uint8_t)((i % 4 + i / 4) % 2);
    int n = dsn_eval_swaps(out, &s, 0, 0);
    assert_int_equal(n, 24);
    assert_int_equal(dsn_eval_swaps(NULL, &s, 0, 0), 24);
    int seen[16][16] = {{0}};
    for(int k = 0; k < n; ++k) {
        int at[2], m = 0;
        for(int i = 0; i < 16; ++i) if(out[k].bit[i] != s.bit[i] && m < 2) at[m++] = i;
        assert_int_equal(dsn_serial_hamming(&out[k], &s), 2);
        assert_int_not_equal(s.bit[at[0]], s.bit[at[1]]);
        int dx = abs(at[0] % 4 - at[1] % 4), dy = abs(at[0] / 4 - at[1] / 4);
        assert_true(dx <= 1 && dy <= 1);
        assert_int_equal(seen[at[0]][at[1]]++, 0);
    }
    memset(s.bit, 0, sizeof s.bit);
    assert_int_equal(dsn_eval_swaps(out, &s, 0, 0), 0);
    s.bit[15] = 1;
    assert_int_equal(dsn_eval_swaps(out, &s, 0, 0), 3);
    /* on the torus (a wrapped frame) the corner cell has 8 neighbours: 3 of them inside, 5 across
       the edges (right column's wrap to the left column, bottom row's to the top row) */
    assert_int_equal(dsn_eval_swaps(out, &s, 0, 1), 8);
    for(int k = 0; k < 8; ++k) {
        int other = -1;
        for(int i = 0; i < 15; ++i) if(out[k].bit[i]) other = i;
        assert_true(other == 0 || other == 3 || other == 10 || other == 11 || other == 12 || other == 14 ||
                    other == 2 || other == 8);
        assert_int_equal(out[k].bit[15], 0);
    }
    for(int i = 0; i < 16; ++i) s.bit[i] = (uint8_t)((i % 4 + i / 4) % 2);   /* checkerboard: even torus */
    assert_int_equal(dsn_eval_swaps(out, &s, 0, 1), 32);   /* 2 * 16 straight neighbours differ, diagonals never */
}

/* A wide grid (columns=8: 16 bits as 8x2) has its own neighbours: bit 7 ends row 0 there (3 of
 * them: 6, 14, 15) where the square 4x4 grid puts it at the end of row 1 (5: 2, 3, 6, 10, 11);
 * the 8x2 checkerboard has 14 across and 8 down, each pair next to each other in 8 columns, and
 * no torus (2 rows) even with wrap=1. */
static void test_swaps_columns(void **state)
{
    (void)state;
    static dsn_serial out[DSN_SWAPS_MAX];
    dsn_serial s = {.nbits = 16};
    s.bit[7] = 1;
    assert_int_equal(dsn_eval_swaps(out, &s, 0, 0), 5);
    assert_int_equal(dsn_eval_swaps(out, &s, 8, 0), 3);
    for(int k = 0; k < 3; ++k) {
        int other = -1;
        for(int i = 0; i < 16; ++i) if(i != 7 && out[k].bit[i]) other = i;
        assert_true(other == 6 || other == 14 || other == 15);
        assert_int_equal(out[k].bit[7], 0);
    }
    for(int i = 0; i < 16; ++i) s.bit[i] = (uint8_t)((i % 8 + i / 8) % 2);
    int n = dsn_eval_swaps(out, &s, 8, 0);
    assert_int_equal(n, 22);
    assert_int_equal(dsn_eval_swaps(out, &s, 8, 1), 22);
    for(int k = 0; k < n; ++k) {
        int at[2], m = 0;
        for(int i = 0; i < 16; ++i) if(out[k].bit[i] != s.bit[i] && m < 2) at[m++] = i;
        assert_int_equal(m, 2);
        int dx = abs(at[0] % 8 - at[1] % 8), dy = abs(at[0] / 8 - at[1] / 8);
        assert_true(dx + dy == 1);
    }
}

/* Balanced accuracy and the most frequent answer, by hand: a constant answer on an unbalanced
 * set scores that class's share as accuracy but 100 / (classes with images) balanced. */
static void test_answers_hand_values(void **state)
{
    (void)state;
    const int label[6] = {1, 1, 1, 1, 0, 2};   /* class 3 has no images */
    const int ones[6] = {1, 1, 1, 1, 1, 1};
    const int mixed[6] = {1, 1, 0, 3, 0, 2};   /* right: 1, 1, 0, 2; answers 0 and 1 tie */
    int top;
    double share, balanced;
    assert_int_equal(dsn_eval_answers(ones, label, 6, 4, &top, &share, &balanced), 0);
    assert_int_equal(top, 1);
    assert_near(share, 100.0, 1e-9);
    assert_near(balanced, 100.0 / 3, 1e-9);
    assert_int_equal(dsn_eval_answers(mixed, label, 6, 4, &top, &share, &balanced), 0);
    assert_int_equal(top, 0);                  /* the lower class on a tie */
    assert_near(share, 100.0 * 2 / 6, 1e-9);
    assert_near(balanced, (50.0 + 100.0 + 100.0) / 3, 1e-9);
    assert_int_equal(dsn_eval_answers(label, label, 6, 4, &top, &share, &balanced), 0);
    assert_int_equal(top, 1);
    assert_near(balanced, 100.0, 1e-9);
}

static void test_stratified_subsets(void **state)
{
    (void)state;
    int label[100], out[100], per[3], mark[100];
    for(int i = 0; i < 100; ++i) label[i] = i < 50 ? 0 : i < 80 ? 1 : 2;   /* 50, 30, 20 */
    dsn_rng rng;
    dsn_rng_seed(&rng, 3);
    assert_int_equal(dsn_eval_stratified(out, 10, label, 100, 3, &rng), 10);
    memset(per, 0, sizeof per);
    memset(mark, 0, sizeof mark);
    for(int i = 0; i < 10; ++i) {
        assert_true(out[i] >= 0 && out[i] < 100);
        assert_int_equal(mark[out[i]]++, 0);        /* distinct */
        per[label[out[i]]]++;
    }
    assert_int_equal(per[0], 5);
    assert_int_equal(per[1], 3);
    assert_int_equal(per[2], 2);

    /* 3, 3, 4 images, 5 wanted: quotas 1.5, 1.5, 2 -> the tie goes to the lower class */
    int l2[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 2};
    assert_int_equal(dsn_eval_stratified(out, 5, l2, 10, 3, &rng), 5);
    memset(per, 0, sizeof per);
    for(int i = 0; i < 5; ++i) per[l2[out[i]]]++;
    assert_int_equal(per[0], 2);
    assert_int_equal(per[1], 1);
    assert_int_equal(per[2], 2);

    /* as many as there are: all of them, in order */
    assert_int_equal(dsn_eval_stratified(out, 100, label, 100, 3, &rng), 100);
    for(int i = 0; i < 100; ++i) assert_int_equal(out[i], i);
    assert_int_equal(dsn_eval_stratified(out, 500, label, 100, 3, &rng), 100);

    /* the same seed, the same subset */
    int a[10], b[10];
    dsn_rng r1, r2;
    dsn_rng_seed(&r1, 42);
    dsn_rng_seed(&r2, 42);
    dsn_eval_stratified(a, 10, label, 100, 3, &r1);
    dsn_eval_stratified(b, 10, label, 100, 3, &r2);
    assert_memory_equal(a, b, sizeof a);

    label[7] = 3;   /* out of range */
    assert_int_equal(dsn_eval_stratified(out, 10, label, 100, 3, &rng), -1);
}

/* ---- cfg and data ------------------------------------------------------------------------ */

static const char *TINY_CFG =
    "[net]\nbatch=1\nwidth=16\nheight=16\nchannels=1\n\n"
    "[serial_stamp]\nbits=16\ncorner = tl\nmargin=1\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=relu\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n"
    "[softmax]\ngroups=1\n";

static const char *TINY_TEACHER =
    "[net]\nbatch=1\nwidth=16\nheight=16\nchannels=1\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=relu\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n"
    "[softmax]\ngroups=1\n";

static void test_cfg_peek(void **state)
{
    (void)state;
    char dir[256], err[512];
    dsn_test_tmpdir(dir, sizeof dir);
    dsn_geometry g;
    int w, h, c;
    char *cfg = dsn_test_write(dir, "tiny.cfg", TINY_CFG);
    assert_int_equal(dsn_eval_cfg_peek(cfg, &g, &w, &h, &c, err, sizeof err), 0);
    assert_int_equal(g.bits, 16);
    assert_int_equal(g.corner, DSN_CORNER_TL);
    assert_int_equal(g.margin, 1);
    assert_int_equal(g.cell, 0);
    assert_int_equal(w, 16);
    assert_int_equal(h, 16);
    assert_int_equal(c, 1);
    free(cfg);

    /* the layer's defaults */
    cfg = dsn_test_write(dir, "defaults.cfg", "[net]\nwidth=28\nheight=28\nchannels=1\n[serial_stamp]\n[softmax]\nbits=9\n");
    assert_int_equal(dsn_eval_cfg_peek(cfg, &g, &w, &h, &c, err, sizeof err), 0);
    assert_int_equal(g.bits, 64);
    assert_int_equal(g.corner, DSN_CORNER_BR);
    free(cfg);

    const struct { const char *text, *needle; } bad[] = {
        {"[net]\nwidth=28\nheight=28\nchannels=1\n[convolutional]\n", "not [serial_stamp]"},
        {"[net]\nwidth=28\nheight=28\nchannels=1\n", "no [serial_stamp]"},
        {"[net]\nwidth=28\nheight=28\nchannels=1\n[serial_stamp]\nbits=6x4\n", ":6: [serial_stamp] bits=6x4"},
        {"[net]\nwidth=28\nheight=28\nchannels=1\n[serial_stamp]\ncorner=middle\n", "corner=middle"},
        {"[net]\nwidth=28\nheight=28\nchannels=1\n[serial_stamp]\nbits=3\n", "bits"},
        {"[net]\nwidth=28\nheight=28\n[serial_stamp]\n", "channels"},
        {"[serial_stamp]\n", "first section must be [net]"},
        {"[net]\nwidth=8\nheight=8\nchannels=1\n[serial_stamp]\nframe=1\n", "does not fit"},
        {"[net]\nwidth=28\nheight=28\nchannels=1\n[serial_stamp]\nframe=1\nmargin=1.5\ncorner=tl\n", ":7: [serial_stamp]"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        cfg = dsn_test_write(dir, "bad.cfg", bad[i].text);
        err[0] = 0;
        assert_int_equal(dsn_eval_cfg_peek(cfg, &g, &w, &h, &c, err, sizeof err), -1);
        if(!strstr(err, bad[i].needle) || !strstr(err, "bad.cfg")) fail_msg("case %zu: '%s'", i, err);
        free(cfg);
    }
    assert_int_equal(dsn_eval_cfg_peek("/nonexistent/x.cfg", &g, &w, &h, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.cfg"));
    dsn_test_rmtree(dir);
}

static void test_data_load(void **state)
{
    (void)state;
    char dir[256], err[512], text[2048];
    dsn_test_tmpdir(dir, sizeof dir);
    char *data = dsn_test_make_dataset(dir, 4, 3, 16, 16, 5);
    dsn_eval_data d;
    assert_int_equal(dsn_eval_data_load(&d, data, NULL, 16, 16, 1, err, sizeof err), 0);
    assert_int_equal(d.n, 12);
    assert_int_equal(d.classes, 4);
    assert_string_equal(d.names[2], "charlie");
    int per[4] = {0};
    for(int i = 0; i < d.n; ++i) per[d.label[i]]++;
    for(int k = 0; k < 4; ++k) assert_int_equal(per[k], 3);
    for(int i = 0; i < d.n * 256; ++i) assert_true(d.x[i] >= 0 && d.x[i] <= 1);
    dsn_eval_data_free(&d);

    /* a path with two label names, a missing image, a list line without any label */
    const struct { const char *list, *needle; } bad[] = {
        {"%s/img/0_alpha.png\n%s/img/0_bravo_charlie.png\n", "list.txt:2:"},
        {"%s/img/0_alpha.png\n%s/img/99_delta.png\n", "cannot open image"},
        {"%s/img/0_alpha.png\n%s/img/zulu.png\n", "no label name"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        snprintf(text, sizeof text, bad[i].list, dir, dir);
        char *list = dsn_test_write(dir, "list.txt", text);
        assert_int_equal(dsn_eval_data_load(&d, data, list, 16, 16, 1, err, sizeof err), -1);
        if(!strstr(err, bad[i].needle)) fail_msg("case %zu: '%s'", i, err);
        free(list);
    }
    snprintf(text, sizeof text, "classes=5\nvalid=%s/train.list\nlabels=%s/labels.txt\n", dir, dir);
    char *wrong = dsn_test_write(dir, "wrong.data", text);
    assert_int_equal(dsn_eval_data_load(&d, wrong, NULL, 16, 16, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "classes=5"));
    free(wrong);
    free(data);
    dsn_test_rmtree(dir);
}

/* ---- end to end -------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[256];
    char *cfg, *weights, *tcfg, *tweights, *data;
    dsn_eval_data d;
} fixture;

static int setup_model(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];
    dsn_test_tmpdir(f->dir, sizeof f->dir);
    f->cfg = dsn_test_write(f->dir, "tiny.cfg", TINY_CFG);
    f->tcfg = dsn_test_write(f->dir, "teacher.cfg", TINY_TEACHER);
    f->data = dsn_test_make_dataset(f->dir, 4, 9, 16, 16, 13);
    size_t n = strlen(f->dir) + 32;
    f->weights = malloc(n);
    f->tweights = malloc(n);
    snprintf(f->weights, n, "%s/tiny.weights", f->dir);
    snprintf(f->tweights, n, "%s/teacher.weights", f->dir);
    /* random weights, with biases spread so that the classes do not all tie */
    srand(1);
    char *cfgs[2] = {f->cfg, f->tcfg};
    char *outs[2] = {f->weights, f->tweights};
    for(int k = 0; k < 2; ++k) {
        network *net = parse_network_cfg(cfgs[k]);
        for(int i = 0; i < net->n; ++i) {
            layer *l = &net->layers[i];
            if(l->type == CONNECTED || l->type == CONVOLUTIONAL) {
                int nb = l->type == CONNECTED ? l->outputs : l->n;
                for(int j = 0; j < nb; ++j) l->biases[j] = 0.05f * (float)((j * 7 + k) % 5);
            }
        }
        save_weights(net, outs[k]);
        free_network(net);
    }
    if(dsn_eval_data_load(&f->d, f->data, NULL, 16, 16, 1, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_model(void **state)
{
    fixture *f = *state;
    dsn_eval_data_free(&f->d);
    dsn_test_rmtree(f->dir);
    free(f->cfg);
    free(f->weights);
    free(f->tcfg);
    free(f->tweights);
    free(f->data);
    free(f);
    return 0;
}

/* Accuracy of the customer model, one image per forward pass: stamped with `serial` through the
 * deploy path (DSN_SERIAL at parse time), or, when serial is NULL, with no serial at all; and,
 * when `override_raw` is set, with the eval hook's "no stamp" entry as well. Each image's answer
 * goes to answers[i] when answers is not NULL. */
static long count_correct(const fixture *f, const dsn_serial *serial, int override_raw, int *answers)
{
    char text[DSN_SERIAL_TEXT_MAX];
    if(serial) {
        assert_true(dsn_serial_encode(text, sizeof text, serial) > 0);
        setenv("DSN_SERIAL", text, 1);
    } else {
        unsetenv("DSN_SERIAL");
    }
    network *net = parse_network_cfg_batch(f->cfg, 1);
    unsetenv("DSN_SERIAL");
    load_weights(net, f->weights);
    if(override_raw) {
        dsn_serial none = {.nbits = 16};
        uint8_t has = 0;
        assert_int_equal(dsn_stamp_override(net, &none, &has, 1), 0);
    }
    long k = 0;
    for(int i = 0; i < f->d.n; ++i) {
        float *out = network_predict(net, f->d.x + (size_t)i * 256);
        int best = 0;
        for(int c = 1; c < 4; ++c) if(out[c] > out[best]) best = c;
        k += best == f->d.label[i];
        if(answers) answers[i] = best;
    }
    free_network(net);
    return k;
}

static void check_acc(const dsn_eval_acc *a, long total)
{
    assert_int_equal(a->total, total);
    assert_true(a->acc >= 0 && a->acc <= 100);
    assert_true(a->lo >= 0 && a->lo <= a->acc && a->acc <= a->hi && a->hi <= 100);
}

static void check_set(const dsn_eval_set *s, int n, int images)
{
    assert_int_equal(s->n, n);
    assert_int_equal(s->images_each, images);
    for(int i = 0; i < n; ++i) check_acc(&s->each[i], images);
    assert_true(s->mean >= 0 && s->mean <= 100 && s->lo <= s->mean + 1e-9 && s->mean <= s->hi + 1e-9);
    assert_true(s->each[s->max_i].acc >= s->mean - 1e-9 && s->each[s->min_i].acc <= s->mean + 1e-9);
    for(int i = 0; i < n; ++i)
        assert_true(s->each[i].acc <= s->each[s->max_i].acc && s->each[i].acc >= s->each[s->min_i].acc);
}

/* Sizes of every set, the distance of each serial from the valid one, the row count. */
static void check_end_to_end_shape(const dsn_eval_result *r, const dsn_serial *valid)
{
    assert_int_equal(r->n_images, 36);
    assert_int_equal(r->bits, 16);
    assert_true(r->has_teacher);
    check_acc(&r->teacher, 36);
    check_acc(&r->valid, 36);
    check_acc(&r->raw, 36);
    check_set(&r->forged, 12, 10);
    check_set(&r->h1, 16, 36);
    check_set(&r->h2, 5, 10);
    check_set(&r->h4, 6, 10);
    assert_int_equal(r->n_cross, 1);
    check_acc(&r->cross[0], 36);
    for(int i = 0; i < 16; ++i) {
        assert_int_equal(dsn_serial_hamming(&r->h1.serial[i], valid), 1);
        assert_int_not_equal(r->h1.serial[i].bit[i], valid->bit[i]);
    }
    for(int i = 0; i < 12; ++i) assert_true(dsn_serial_hamming(&r->forged.serial[i], valid) > 0);
    for(int i = 0; i < 5; ++i) assert_int_equal(dsn_serial_hamming(&r->h2.serial[i], valid), 2);
    for(int i = 0; i < 6; ++i) assert_int_equal(dsn_serial_hamming(&r->h4.serial[i], valid), 4);
    int nswap = dsn_eval_swaps(NULL, valid, 0, 0);
    assert_true(nswap > 0);
    check_set(&r->swap, nswap, 10);
    for(int i = 0; i < nswap; ++i) assert_int_equal(dsn_serial_hamming(&r->swap.serial[i], valid), 2);
    assert_int_equal(r->rows, 36 * 3 + 12 * 10 + 16 * 36 + 5 * 10 + 6 * 10 + nswap * 10 + 36);
}

/* A second run with one thread and batch 64 gives the same counts and serials as r. */
static void check_threads_batch_invariant(const fixture *f, dsn_eval_opts *o, const dsn_eval_result *r)
{
    char err[512];
    dsn_eval_result r2;
    o->threads = 1;
    o->batch = 64;
    assert_int_equal(dsn_eval_run(&r2, o, &f->d, err, sizeof err), 0);
    assert_int_equal(r2.valid.correct, r->valid.correct);
    assert_int_equal(r2.raw.correct, r->raw.correct);
    assert_int_equal(r2.teacher.correct, r->teacher.correct);
    for(int i = 0; i < 12; ++i) assert_int_equal(r2.forged.each[i].correct, r->forged.each[i].correct);
    for(int i = 0; i < 16; ++i) assert_int_equal(r2.h1.each[i].correct, r->h1.each[i].correct);
    assert_memory_equal(r2.h4.serial, r->h4.serial, 6 * sizeof(dsn_serial));
    dsn_eval_result_free(&r2);
}

/* dsn_eval_json's object: every key, numbers in range, the values of r. */
static void check_eval_json(const dsn_eval_result *r, const dsn_eval_opts *o, const dsn_eval_meta *m)
{
    char err[512];
    dsn_buf b = {0};
    dsn_eval_json(&b, r, o, m);
    assert_false(b.oom);
    json_t *j = dsn_json_parse(b.s, b.n, "eval.json", err, sizeof err);
    if(!j) fail_msg("%s", err);
    const char *keys[] = {"teacher", "valid", "raw", "forged_mean", "forged_max", "hamming_1", "hamming_1_max",
                          "hamming_2", "hamming_2_max", "hamming_4", "hamming_4_max"};
    for(size_t i = 0; i < sizeof keys / sizeof keys[0]; ++i) {
        char ci[64];
        double v = dsn_json_num(json_object_get(j, keys[i]), -1);
        if(!(v >= 0 && v <= 100)) fail_msg("%s = %g", keys[i], v);
        snprintf(ci, sizeof ci, "%s_ci95", keys[i]);
        const json_t *c = json_object_get(j, ci);
        assert_int_equal(json_array_size(c), 2);
        assert_true(dsn_json_num(json_array_get(c, 0), 1e9) <= v + 1e-6 && v <= dsn_json_num(json_array_get(c, 1), -1) + 1e-6);
    }
    assert_near(dsn_json_num(json_object_get(j, "valid"), -1), r->valid.acc, 1e-6);
    assert_near(dsn_json_num(json_object_get(j, "raw_balanced"), -1), r->raw_balanced, 1e-6);
    assert_near(dsn_json_num(json_object_get(j, "raw_answer_share"), -1), r->raw_top_share, 1e-6);
    assert_int_equal((int)dsn_json_num(json_object_get(j, "raw_answer_class"), -1), r->raw_top);
    const json_t *pb = json_object_get(j, "hamming_1_per_bit");
    assert_int_equal(json_array_size(pb), 16);
    for(size_t i = 0; i < 16; ++i) assert_near(dsn_json_num(json_array_get(pb, i), -1), r->h1.each[i].acc, 1e-6);
    double bob = dsn_json_num(json_object_get(json_object_get(j, "cross"), "bob"), -1);
    assert_true(bob >= 0 && bob <= 100);
    assert_int_equal((int)dsn_json_num(json_object_get(j, "n_images"), -1), 36);
    assert_near(dsn_json_num(json_object_get(json_object_get(j, "seeds"), "eval"), -1), (double)o->seed, 0);
    assert_true(dsn_json_num(json_object_get(j, "wall_seconds"), -1) >= 0);
    assert_string_equal(json_string_value(json_object_get(j, "customer")), "alice");
    assert_true(json_is_null(json_object_get(j, "list")));   /* a name not given: null */
    json_decref(j);
    dsn_buf_free(&b);
}

static void test_end_to_end(void **state)
{
    fixture *f = *state;
    char err[512];
    dsn_serial valid = make_serial(16, 77), other = make_serial(16, 78);
    const char *other_name = "bob";
    dsn_eval_opts o;
    dsn_eval_opts_init(&o);
    o.cfg = f->cfg;
    o.weights = f->weights;
    o.teacher_cfg = f->tcfg;
    o.teacher_weights = f->tweights;
    o.valid = valid;
    o.n_others = 1;
    o.others = &other;
    o.other_names = &other_name;
    o.forged = 12;
    o.near2 = 5;
    o.near4 = 6;
    o.per_serial = 10;
    o.seed = 3;
    o.batch = 7;          /* partial last batches everywhere */
    o.threads = 2;
    dsn_eval_result r;
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), 0);
    check_end_to_end_shape(&r, &valid);

    /* raw = the model with no serial = the model with the eval hook's "no stamp"; valid = the
     * deploy path with the serial set, one image at a time */
    int answers[36], top;
    double share, balanced;
    assert_int_equal(r.raw.correct, count_correct(f, NULL, 0, answers));
    assert_int_equal(r.raw.correct, count_correct(f, &valid, 1, NULL));
    assert_int_equal(r.valid.correct, count_correct(f, &valid, 0, NULL));
    assert_int_equal(r.cross[0].correct, count_correct(f, &other, 0, NULL));
    assert_int_equal(r.h1.each[5].correct, count_correct(f, &r.h1.serial[5], 0, NULL));

    /* raw input's answers: the same ones, one image at a time */
    assert_int_equal(dsn_eval_answers(answers, f->d.label, 36, 4, &top, &share, &balanced), 0);
    assert_int_equal(r.raw_top, top);
    assert_near(r.raw_top_share, share, 1e-9);
    assert_near(r.raw_balanced, balanced, 1e-9);

    /* threads and batch size change nothing */
    check_threads_batch_invariant(f, &o, &r);

    /* the JSON: every key, numbers in range */
    dsn_buf b = {0};
    dsn_eval_meta m = {"alice", "tiny", "alice.sn", f->data, NULL, "tiny"};
    check_eval_json(&r, &o, &m);

    dsn_eval_markdown(&b, &r, &o, &m);
    assert_non_null(strstr(b.s, "| valid serial (A_X+K) |"));
    assert_non_null(strstr(b.s, "| serial of bob |"));
    dsn_buf_free(&b);
    dsn_eval_result_free(&r);
}

static void test_run_refuses(void **state)
{
    fixture *f = *state;
    char err[512];
    dsn_eval_opts o;
    dsn_eval_result r;
    dsn_eval_opts_init(&o);
    o.cfg = f->cfg;
    o.weights = f->weights;
    o.forged = o.near2 = o.near4 = 1;
    o.valid = make_serial(9, 1);                     /* the cfg stamps 16 bits */
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), -1);
    assert_non_null(strstr(err, "16-bit"));
    dsn_eval_result_free(&r);

    o.valid = make_serial(16, 1);
    o.weights = f->tweights;                         /* same size: a teacher is a valid G_e + G_y */
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), 0);
    dsn_eval_result_free(&r);

    char *shortw = dsn_test_write(f->dir, "short.weights", "0123456789abcdef0123");
    o.weights = shortw;
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), -1);
    assert_non_null(strstr(err, "short.weights"));
    dsn_eval_result_free(&r);
    free(shortw);

    o.weights = "/nonexistent/w.weights";
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/w.weights"));
    dsn_eval_result_free(&r);

    o.weights = f->weights;
    o.cfg = f->tcfg;                                 /* no [serial_stamp] */
    assert_int_equal(dsn_eval_run(&r, &o, &f->d, err, sizeof err), -1);
    assert_non_null(strstr(err, "serial_stamp"));
    dsn_eval_result_free(&r);
}

/* Refused command lines: each "<base> <extra> <args>" exits with rc and names needle; with `keep`,
 * that file still holds exactly "keep\n" afterwards. */
typedef struct refusal {
    const char *args, *needle;
    int rc;
} refusal;

static void check_refusals(const char *base, const char *extra, const refusal *cases, size_t n, const char *keep)
{
    char out[8192];
    for(size_t i = 0; i < n; ++i) {
        int rc = dsn_test_run(out, sizeof out, "%s %s %s", base, extra, cases[i].args);
        if(rc != cases[i].rc || !strstr(out, cases[i].needle))
            fail_msg("case %zu (%s): exit %d, expected %d with '%s':\n%s", i, cases[i].args, rc, cases[i].rc,
                     cases[i].needle, out);
        char *kept = keep ? dsn_test_read(keep) : NULL;
        if(keep && (!kept || strcmp(kept, "keep\n") != 0)) fail_msg("case %zu (%s) changed %s", i, cases[i].args, keep);
        free(kept);
    }
}

/* The command line: exit codes and the option or file named. */
static void test_cli(void **state)
{
    fixture *f = *state;
    char out[8192];
    char b[1024], real[4096];
    const char *d = f->dir;
    if(!realpath(dsn_test_build_dir(), real) || strlen(real) >= sizeof b) fail_msg("no build directory %s", dsn_test_build_dir());
    memcpy(b, real, strlen(real) + 1);
    int rc = dsn_test_run(out, sizeof out,
                          "cd %s && %s/dsn keygen -o owner.pem && %s/dsn keygen -o other.pem && "
                          "%s/dsn issue --key owner.pem --owner O --customer alice --model m --bits 16 --corner tl --margin 1 -o alice.sn && "
                          "%s/dsn issue --key owner.pem --owner O --customer bob --model m --bits 16 --corner tl --margin 1 -o bob.sn && "
                          "%s/dsn issue --key owner.pem --owner O --customer carl --model m --bits 16 -o carl.sn && "
                          "%s/dsn issue --key other.pem --owner X --customer eve --model m --bits 16 --corner tl --margin 1 -o eve.sn",
                          d, b, b, b, b, b, b);
    if(rc != 0) fail_msg("setup: %s", out);
    char base[4096];
    snprintf(base, sizeof base, "cd %s && %s/dsn eval --cfg tiny.cfg --weights tiny.weights --data set.data "
             "--forged 4 --near2 2 --near4 2 --images-per-serial 8 -q", d, b);

    rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --pub owner.pub.pem --others bob.sn "
                      "--teacher-cfg teacher.cfg --teacher-weights teacher.weights --json e.json --md e.md", base);
    if(rc != 0) fail_msg("eval: %s", out);
    assert_non_null(strstr(out, "| serial of bob |"));
    assert_non_null(strstr(out, "rows in"));
    char err[512], path[512];
    snprintf(path, sizeof path, "%s/e.json", d);
    json_t *j = dsn_json_load(path, 1 << 20, err, sizeof err);
    if(!j) fail_msg("%s", err);
    assert_string_equal(json_string_value(json_object_get(j, "customer")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "dataset")), "set");
    json_decref(j);

    const refusal cases[] = {
        {"--cert eve.sn --pub owner.pub.pem", "does not verify", 1},
        {"--cert alice.sn --pub owner.pub.pem --others eve.sn", "eve", 1},
        {"--cert carl.sn", "corner=br", 2},                       /* geometry of another cfg */
        {"--cert missing.sn", "missing.sn", 2},
        {"--cert alice.sn --list nolist.txt", "nolist.txt", 2},
        {"--cert alice.sn --teacher-cfg teacher.cfg", "--teacher-weights", 2},
        {"--cert alice.sn --json /nonexistent/e.json", "/nonexistent", 2},
        {"--cert alice.sn --forged -1", "--forged", 2},
        {"--cert alice.sn --others bob.sn,nobody.sn", "nobody.sn", 2},
    };
    check_refusals(base, "", cases, sizeof cases / sizeof cases[0], NULL);
    rc = dsn_test_run(out, sizeof out, "cd %s && %s/dsn eval --cfg tiny.cfg --weights tiny.weights --data set.data", d, b);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--cert"));
    rc = dsn_test_run(out, sizeof out, "%s/dsn eval --help", b);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "hamming_1_per_bit"));
    assert_non_null(strstr(out, "-q, --quiet"));

    /* -q: the results on stdout and nothing at all on stderr; without it, Darknet's layer table */
    size_t len;
    for(int quiet = 0; quiet < 2; ++quiet) {
        /* (a sanitized build's leak checker lists its suppressions on stderr at exit: not here) */
        rc = dsn_test_run(out, sizeof out, "cd %s && export LSAN_OPTIONS=\"$LSAN_OPTIONS:print_suppressions=0\" && "
                          "{ %s/dsn eval --cfg tiny.cfg --weights tiny.weights --data set.data "
                          "--forged 4 --near2 2 --near4 2 --images-per-serial 8 --cert alice.sn --pub owner.pub.pem "
                          "%s 2>stderr.txt; }", d, b, quiet ? "-q" : "");
        if(rc != 0) fail_msg("eval%s: %s", quiet ? " -q" : "", out);
        assert_non_null(strstr(out, "| valid serial (A_X+K) |"));
        snprintf(path, sizeof path, "%s/stderr.txt", d);
        char *err_text = dsn_read_file(path, 1 << 20, &len);
        assert_non_null(err_text);
        if(quiet && len != 0) fail_msg("eval -q wrote on stderr:\n%s", err_text);
        if(!quiet && !strstr(err_text, "serial_stamp")) fail_msg("no layer table on stderr:\n%s", err_text);
        free(err_text);
    }
    /* -q, and Darknet's parser exits on a cfg it cannot read: its message still reaches stderr */
    snprintf(path, sizeof path, "%s/tiny.cfg", d);
    char *cfg = dsn_read_file(path, 1 << 20, &len);
    assert_non_null(cfg);
    snprintf(path, sizeof path, "%s/bogus.cfg", d);
    assert_int_equal(dsn_write_file(path, cfg, len, 0644, DSN_WRITE_NEW), 0);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs("\n[bogus_section]\n", fp);
    fclose(fp);
    free(cfg);
    rc = dsn_test_run(out, sizeof out, "cd %s && %s/dsn eval --cfg bogus.cfg --weights tiny.weights --data set.data "
                      "--cert alice.sn --pub owner.pub.pem -q", d, b);
    if(rc == 0 || !strstr(out, "unknown section [bogus_section]")) fail_msg("eval -q, bad cfg: exit %d:\n%s", rc, out);
}

/* ---- dsn select -------------------------------------------------------------------------- */

/* A result with one serial per set at the given accuracies (n = 0 leaves a set out). */
typedef struct fake_result {
    dsn_eval_result r;
    dsn_eval_acc acc[3];
} fake_result;

static void fake(fake_result *f, double raw, double forged, double h1, double h2, double teacher, double valid)
{
    memset(f, 0, sizeof *f);
    f->r.raw.acc = raw;
    f->r.valid.acc = valid;
    f->r.teacher.acc = teacher;
    f->r.has_teacher = teacher >= 0;
    dsn_eval_set *sets[3] = {&f->r.forged, &f->r.h1, &f->r.h2};
    double v[3] = {forged, h1, h2};
    for(int i = 0; i < 3; ++i) {
        f->acc[i].acc = v[i];
        sets[i]->n = v[i] >= 0;
        sets[i]->each = &f->acc[i];
        sets[i]->max_i = v[i] >= 0 ? 0 : -1;
    }
}

/* The score: the sum of the missed limits' excesses, else the largest (negative) excess. */
static void test_lock_score(void **state)
{
    (void)state;
    const dsn_lock_limits l = DSN_LOCK_LIMITS_DEFAULT;
    const struct { double raw, forged, h1, h2, teacher, valid, score; const char *worst; } cases[] = {
        {10, 10, 19, 14, 98, 97.8, -0.3, "valid"},                   /* every limit met: the margin */
        {10, 10.5, 18, 13, -1, 0, -0.5, "forged_max"},               /* no teacher: no valid term */
        {12, 10, 22.5, 14, 98, 98, 1 + 2.5, "hamming_1_max"},        /* two missed: their sum */
        {10, 13, 19, 19, 98, 96.5, 2 + 4 + 1, "hamming_2_max"},      /* the valid serial too */
        {10, -1, 21, -1, -1, 0, 1, "hamming_1_max"},                 /* sets without serials left out */
        {11, 11, 20, 15, 98, 97.5, 0, "raw"},                        /* on the limits: met, ties to the first */
    };
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        fake_result f;
        const char *worst = NULL;
        fake(&f, cases[i].raw, cases[i].forged, cases[i].h1, cases[i].h2, cases[i].teacher, cases[i].valid);
        double got = dsn_eval_lock_score(&f.r, &l, &worst);
        if(fabs(got - cases[i].score) > 1e-9 || strcmp(worst, cases[i].worst) != 0)
            fail_msg("case %zu: score %g (%s), expected %g (%s)", i, got, worst, cases[i].score, cases[i].worst);
    }
}

/* What select reports for candidate i must be dsn eval's figures for the same options. */
static void check_select_candidate(const char *dir, const char *b, const json_t *cand, const char *weights, int i)
{
    char out[8192], path[512], err[512];
    int rc = dsn_test_run(out, sizeof out, "cd %s && %s/dsn eval --cfg tiny.cfg --weights %s --data set.data --cert "
                          "alice.sn --teacher-cfg teacher.cfg --teacher-weights teacher.weights --forged 4 --near2 3 "
                          "--near4 0 --images-per-serial 8 --seed 5 -q --json e%d.json", dir, b, weights, i);
    if(rc != 0) fail_msg("eval of %s: %s", weights, out);
    snprintf(path, sizeof path, "%s/e%d.json", dir, i);
    json_t *e = dsn_json_load(path, 1 << 20, err, sizeof err);
    if(!e) fail_msg("%s", err);
    const char *keys[] = {"teacher", "valid", "raw", "forged_max", "hamming_1_max", "hamming_2_max"};
    for(size_t k = 0; k < sizeof keys / sizeof keys[0]; ++k) {
        double want = dsn_json_num(json_object_get(e, keys[k]), -1), got = dsn_json_num(json_object_get(cand, keys[k]), -2);
        if(fabs(want - got) > 1e-9) fail_msg("candidate %d (%s): %s %g, dsn eval says %g", i, weights, keys[k], got, want);
    }
    assert_string_equal(json_string_value(json_object_get(cand, "weights")), weights);
    json_decref(e);
}

/* The score of a candidate's JSON row, worked out here from its measures (default limits). */
static double select_score(const json_t *c)
{
    double ex[5] = {dsn_json_num(json_object_get(c, "raw"), -1) - 11, dsn_json_num(json_object_get(c, "forged_max"), -1) - 11,
                    dsn_json_num(json_object_get(c, "hamming_1_max"), -1) - 20,
                    dsn_json_num(json_object_get(c, "hamming_2_max"), -1) - 15,
                    dsn_json_num(json_object_get(c, "teacher"), -1) - 0.5 - dsn_json_num(json_object_get(c, "valid"), -1)};
    double sum = 0, best = ex[0];
    for(int k = 0; k < 5; ++k) {
        if(ex[k] > 0) sum += ex[k];
        if(ex[k] > best) best = ex[k];
    }
    return sum > 0 ? sum : best;
}

/* dsn select: each candidate measured as dsn eval measures it, the lowest score chosen (ties to
 * the earlier), and every refusal leaves --json as it was. */
/* Byte-for-byte equality of two files (a missing one fails). */
static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = dsn_read_file(a, 1u << 26, &na), *y = dsn_read_file(b, 1u << 26, &nb);
    if(!x || !y || na != nb || memcmp(x, y, na) != 0) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

/* The entries of dir, other than . and .. */
static int entries(const char *dir)
{
    char out[4096];
    dsn_test_run(out, sizeof out, "ls -A %s | wc -l", dir);
    return atoi(out);
}

/* --install DIR: the cfg and the chosen weights, byte for byte, and nothing else; an existing DIR
 * or a candidate of the cfg's file name refused before anything is measured, DIR as it was. */
static void check_select_install(const char *d, const char *base, const char *chosen)
{
    char out[8192], a[512], b[512];
    int rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --install picked/ tiny.weights teacher.weights", base);
    if(rc != 0) fail_msg("select --install: exit %d:\n%s", rc, out);
    snprintf(a, sizeof a, "%s/picked", d);
    assert_int_equal(entries(a), 2);
    snprintf(a, sizeof a, "%s/picked/tiny.cfg", d);
    snprintf(b, sizeof b, "%s/tiny.cfg", d);
    assert_same_file(a, b);
    snprintf(a, sizeof a, "%s/picked/%s", d, chosen);
    snprintf(b, sizeof b, "%s/%s", d, chosen);
    assert_same_file(a, b);
    rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --install picked teacher.weights", base);
    if(rc != 2 || !strstr(out, "picked already exists")) fail_msg("--install onto a directory: exit %d:\n%s", rc, out);
    snprintf(a, sizeof a, "%s/picked/%s", d, chosen);
    assert_same_file(a, b);
    snprintf(a, sizeof a, "%s/picked", d);
    assert_int_equal(entries(a), 2);
    rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --install picked2 tiny.weights sub/tiny.cfg", base);
    if(rc != 2 || !strstr(out, "the file name of --cfg")) fail_msg("--install, a candidate named as the cfg: exit %d:\n%s", rc, out);
    rc = dsn_test_run(out, sizeof out, "cd %s && ls -A | grep -c picked", d);
    if(atoi(out) != 1) fail_msg("--install left something beside picked/:\n%s", out);
}

static void test_select(void **state)
{
    fixture *f = *state;
    char out[8192], b[1024], path[512], err[512];
    const char *d = f->dir;
    if(!realpath(dsn_test_build_dir(), b)) fail_msg("no build directory %s", dsn_test_build_dir());
    int rc = dsn_test_run(out, sizeof out,
                          "cd %s && %s/dsn keygen -o owner.pem && %s/dsn keygen -o other.pem && "
                          "%s/dsn issue --key owner.pem --owner O --customer alice --model m --bits 16 --corner tl --margin 1 -o alice.sn && "
                          "%s/dsn issue --key other.pem --owner X --customer eve --model m --bits 16 --corner tl --margin 1 -o eve.sn",
                          d, b, b, b, b);
    if(rc != 0) fail_msg("setup: %s", out);
    char base[2048];
    snprintf(base, sizeof base, "cd %s && %s/dsn select --cfg tiny.cfg --data set.data --teacher-cfg teacher.cfg "
             "--teacher-weights teacher.weights --forged 4 --near2 3 --images-per-serial 8 --seed 5", d, b);
    rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --pub owner.pub.pem --json s.json tiny.weights teacher.weights "
                      "tiny.weights", base);
    if(rc != 0) fail_msg("select: %s", out);
    snprintf(path, sizeof path, "%s/s.json", d);
    json_t *j = dsn_json_load(path, 1 << 20, err, sizeof err);
    if(!j) fail_msg("%s", err);
    const json_t *cands = json_object_get(j, "candidates");
    assert_int_equal(json_array_size(cands), 3);
    const char *w[3] = {"tiny.weights", "teacher.weights", "tiny.weights"};
    double score[3];
    for(int i = 0; i < 3; ++i) {
        check_select_candidate(d, b, json_array_get(cands, i), w[i], i);
        score[i] = select_score(json_array_get(cands, i));
        assert_near(dsn_json_num(json_object_get(json_array_get(cands, i), "score"), -1e9), score[i], 1e-9);
    }
    assert_near(score[0], score[2], 0);                   /* the same weights twice: a tie */
    int want = score[1] < score[0] ? 1 : 0;
    assert_int_equal((int)dsn_json_num(json_object_get(j, "chosen"), -1), want);   /* numbers load as reals */
    char line[256];
    snprintf(line, sizeof line, "chosen: %d %s", want, w[want]);
    if(!strstr(out, line)) fail_msg("no '%s' in:\n%s", line, out);
    json_decref(j);
    /* -q: the chosen path and nothing else, stderr included (a sanitized build's leak checker lists
     * its suppressions at exit: not here) */
    rc = dsn_test_run(out, sizeof out, "export LSAN_OPTIONS=\"$LSAN_OPTIONS:print_suppressions=0\" && %s --cert alice.sn "
                      "-q tiny.weights teacher.weights", base);
    snprintf(line, sizeof line, "%s\n", w[want]);
    if(rc != 0 || strcmp(out, line) != 0) fail_msg("select -q: exit %d, '%s'", rc, out);
    check_select_install(d, base, w[want]);

    /* refusals: a clear message, the exit status, and keep.json byte for byte */
    snprintf(path, sizeof path, "%s/keep.json", d);
    assert_int_equal(dsn_write_file(path, "keep\n", 5, 0644, DSN_WRITE_NEW), 0);
    char *shortw = dsn_test_write(d, "short.weights", "0123456789abcdef0123");
    free(shortw);
    const refusal cases[] = {
        {"--cert alice.sn", "no candidates", 2},
        {"--cert eve.sn --pub owner.pub.pem tiny.weights", "does not verify", 1},
        {"--cert alice.sn --max-h1 abc tiny.weights", "--max-h1 'abc'", 2},
        {"--cert alice.sn --max-raw nan tiny.weights", "--max-raw", 2},
        {"--cert alice.sn --max-drop 101 tiny.weights", "--max-drop", 2},
        {"--cert alice.sn tiny.weights nothere.weights", "nothere.weights", 2},
        {"--cert alice.sn tiny.weights short.weights", "short.weights", 2},
        {"--cert alice.sn --near2 -1 tiny.weights", "--near2", 2},
        {"--cert alice.sn --seed -3 tiny.weights", "--seed", 2},
    };
    check_refusals(base, "--json keep.json", cases, sizeof cases / sizeof cases[0], path);
    rc = dsn_test_run(out, sizeof out, "%s --cert alice.sn --json tiny.weights tiny.weights", base);
    if(rc != 2 || !strstr(out, "it would be overwritten")) fail_msg("--json onto a candidate: exit %d:\n%s", rc, out);
}

int main(void)
{
    darknet_plugins_init();     /* a static link runs no constructor of an unreferenced object */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_hand_values),
        cmocka_unit_test(test_mean_over_serials),
        cmocka_unit_test(test_forged_never_valid),
        cmocka_unit_test(test_near_exact_distance),
        cmocka_unit_test(test_hamming1_covers_every_bit_once),
        cmocka_unit_test(test_swaps),
        cmocka_unit_test(test_swaps_columns),
        cmocka_unit_test(test_answers_hand_values),
        cmocka_unit_test(test_stratified_subsets),
        cmocka_unit_test(test_cfg_peek),
        cmocka_unit_test(test_data_load),
        cmocka_unit_test_setup_teardown(test_end_to_end, setup_model, teardown_model),
        cmocka_unit_test_setup_teardown(test_run_refuses, setup_model, teardown_model),
        cmocka_unit_test_setup_teardown(test_cli, setup_model, teardown_model),
        cmocka_unit_test(test_lock_score),
        cmocka_unit_test_setup_teardown(test_select, setup_model, teardown_model),
    };
    return cmocka_run_group_tests_name("eval", tests, NULL, NULL);
}
