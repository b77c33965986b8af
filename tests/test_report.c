/* `dsn report` (dsn_cli/dsn_jansson.c, dsn_report.c, cmd_report.c): the JSON reader and writer, the
 * training-log parser, the spread over seeds, reading runs, and a whole report from hand-made eval
 * results whose means, spreads and cross-customer matrix are checked against hand values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_jansson.h"
#include "dsn_report.h"
#include "dsn_test.h"
#include "dsn_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define assert_near(a, b, eps) do { double a_ = (a), b_ = (b); \
    if(!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.9g, expected %.9g", #a, a_, b_); } while(0)

/* ---- JSON (dsn_cli/dsn_jansson.c over libjansson) ------------------------------------------ */

static json_t *parse(const char *text, char *err, size_t errlen)
{
    return dsn_json_parse(text, strlen(text), "t.json", err, errlen);
}

static void test_json_values(void **state)
{
    (void)state;
    char err[256];
    json_t *j = parse(" {\"a\": [1, -2.5e2, 0, 0.125, true, false, null, 18446744073709551616],\n"
                      " \"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\", \"o\": {}, \"e\": []} ", err, sizeof err);
    if(!j) fail_msg("%s", err);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 4);
    const json_t *a = json_object_get(j, "a");
    assert_int_equal(json_array_size(a), 8);
    /* every number is a real, integers too (even one beyond 64 bits) */
    assert_true(json_is_real(json_array_get(a, 0)));
    assert_near(dsn_json_num(json_array_get(a, 1), 0), -250, 0);
    assert_near(dsn_json_num(json_array_get(a, 3), 0), 0.125, 0);
    assert_near(dsn_json_num(json_array_get(a, 7), 0), 18446744073709551616.0, 0);
    assert_true(json_is_true(json_array_get(a, 4)));
    assert_true(json_is_false(json_array_get(a, 5)));
    assert_true(json_is_null(json_array_get(a, 6)));
    assert_string_equal(json_string_value(json_object_get(j, "s")), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(json_object_size(json_object_get(j, "o")), 0);
    assert_null(json_object_get(j, "missing"));
    assert_near(dsn_json_num(json_object_get(j, "s"), -1), -1, 0);   /* not a number: the default */
    assert_near(dsn_json_num(NULL, -2), -2, 0);
    json_decref(j);

    /* a key given twice is refused, at the second one */
    assert_null(parse("{\"a\": 1,\n \"a\": 2}", err, sizeof err));
    if(!strstr(err, "t.json:2:") || !strstr(err, "duplicate")) fail_msg("%s", err);

    /* the writer: NaN and infinities as null, 10 significant digits, two-space indent, a newline */
    const char *nasty = "q\"b\\s\x01t\tn\ne\x7f";
    int bad = 0;
    json_t *o = json_object(), *n = json_array();
    dsn_json_put(o, "k", json_string(nasty), &bad);
    dsn_json_put(n, NULL, dsn_json_real(99.123456789), &bad);
    dsn_json_put(n, NULL, dsn_json_real(1e300 * 1e300), &bad);
    dsn_json_put(n, NULL, dsn_json_real(-NAN), &bad);
    dsn_json_put(n, NULL, json_integer(42), &bad);
    dsn_json_put(o, "n", n, &bad);
    dsn_json_put(o, "z", json_null(), &bad);
    assert_int_equal(bad, 0);
    dsn_buf b = {0};
    assert_int_equal(dsn_json_dump(&b, o), 0);
    json_decref(o);
    assert_string_equal(b.s, "{\n  \"k\": \"q\\\"b\\\\s\\u0001t\\tn\\ne\x7f\",\n  \"n\": [\n    99.12345679,\n"
                             "    null,\n    null,\n    42\n  ],\n  \"z\": null\n}\n");
    j = dsn_json_parse(b.s, b.n, "w.json", err, sizeof err);
    if(!j) fail_msg("%s in %s", err, b.s);
    assert_string_equal(json_string_value(json_object_get(j, "k")), nasty);
    json_decref(j);
    dsn_buf_free(&b);

    /* a failed constructor (NULL) or a put into a non-container counts, and leaks nothing */
    json_t *arr = json_array();
    dsn_json_put(arr, NULL, NULL, &bad);
    assert_int_equal(bad, 1);
    dsn_json_put(arr, "k", json_integer(1), &bad);     /* a key into an array */
    assert_int_equal(bad, 2);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    assert_int_equal(dsn_json_dump(&b, NULL), -1);

    assert_false(dsn_finite(NAN));
    assert_false(dsn_finite(-1e300 * 1e300));
    assert_true(dsn_finite(-0.0));
}

static void test_json_errors(void **state)
{
    (void)state;
    char err[256], deep[300];
    const struct { const char *text, *needle; } bad[] = {
        {"", "t.json:1:1: "},
        {"{\"a\": 1,}", "t.json:1:9: "},
        {"[1, 2", "t.json:1:5: "},
        {"{\"a\" 1}", "':' expected"},
        {"\"abc", "premature end of input"},
        {"\"a\\qb\"", "invalid escape"},
        {"\"a\\u12\"", "invalid escape"},
        {"\"\\ud800x\"", "invalid Unicode"},
        {"\"\\udc00\"", "invalid Unicode"},
        {"\"\\u0000\"", "\\u0000 is not allowed"},
        {"\"tab\there\"", "control character"},
        {"\"\xff\"", "unable to decode byte 0xff"},
        {"[01]", "invalid token"},
        {"[1.]", "invalid token"},
        {"[1e]", "invalid token"},
        {"[-]", "invalid token"},
        {"nul", "invalid token"},
        {"NaN", "invalid token"},
        {"[Infinity]", "invalid token"},
        {"[1e999]", "overflow"},
        {"{}\n  x", "t.json:2:3: end of file expected"},
        {"[1] // comment", "end of file expected"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        err[0] = 0;
        json_t *j = parse(bad[i].text, err, sizeof err);
        if(j || !strstr(err, bad[i].needle)) fail_msg("case %zu '%s': '%s'", i, bad[i].text, err);
    }
    /* NUL inside the text, at its place */
    assert_null(dsn_json_parse("[1,\n 2]\0", 8, "t.json", err, sizeof err));
    assert_string_equal(err, "t.json:2:4: NUL byte in the text");
    /* depth: DSN_JSON_DEPTH levels parse, one more does not; brackets in strings do not count */
    memset(deep, '[', DSN_JSON_DEPTH);
    memset(deep + DSN_JSON_DEPTH, ']', DSN_JSON_DEPTH);
    deep[2 * DSN_JSON_DEPTH] = 0;
    json_t *j = parse(deep, err, sizeof err);
    if(!j) fail_msg("%s", err);
    json_decref(j);
    memset(deep, '[', DSN_JSON_DEPTH + 1);
    memset(deep + DSN_JSON_DEPTH + 1, ']', DSN_JSON_DEPTH + 1);
    deep[2 * DSN_JSON_DEPTH + 2] = 0;
    assert_null(parse(deep, err, sizeof err));
    assert_non_null(strstr(err, "t.json:1:65: nested too deeply"));
    snprintf(deep, sizeof deep, "[\"\\\"%0*d\"]", 2 * DSN_JSON_DEPTH, 0);
    memset(deep + 4, '[', 2 * DSN_JSON_DEPTH);
    j = parse(deep, err, sizeof err);
    if(!j) fail_msg("%s", err);
    json_decref(j);
    /* a half-built tree is freed (ASan checks) */
    assert_null(parse("{\"a\": [1, {\"b\": \"c\", \"d\": [tru", err, sizeof err));
    /* a file: its name in the message */
    assert_null(dsn_json_load("/nonexistent/x.json", 100, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.json"));
}

/* ---- logs and spreads -------------------------------------------------------------------- */

static void test_log_lines(void **state)
{
    (void)state;
    dsn_curve c = {0};
    assert_int_equal(dsn_curve_add_line(&c, "123, 1.230: 0.456789, 0.500000 avg, 0.001000 rate, 0.1 seconds, 12300 images"), 1);
    assert_int_equal(dsn_curve_add_line(&c, "dsn: rows valid 40 forged 15 near 30 raw 15 | G_y kd 0.2500 hard 0.1000 "
                                            "push 0.0300 | G_d ce 2.2000 acc 0.125 lambda 0.500"), 2);
    assert_int_equal(dsn_curve_add_line(&c, "dsn: rows valid 40 forged 15 near 30 raw 15 | G_y kd 0.5000 hard 0.2000 push 0.0100"), 2);
    assert_int_equal(dsn_curve_add_line(&c, "dsn: rows valid 0 forged 0 near 0 raw 100"), 0);      /* no losses */
    assert_int_equal(dsn_curve_add_line(&c, "124, 1.240: nan, -nan avg, 0.001000 rate, 0.1 seconds, 12400 images"), 0);
    assert_int_equal(dsn_curve_add_line(&c, "Loaded: 0.000031 seconds"), 0);
    assert_int_equal(dsn_curve_add_line(&c, "125, 1.250: 0.4, 0.49 avg, 0.001 rate, 0.1 seconds, 12500 images"), 1);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.iter[0], 123);
    assert_near(c.loss[0], 0.456789, 1e-12);
    assert_near(c.avg_loss[0], 0.5, 1e-12);
    assert_int_equal(c.iter[1], 125);
    assert_int_equal(c.n_dsn, 2);
    assert_true(c.dsn[0].has_kd && c.dsn[0].has_gd && c.dsn[0].has_lambda);
    assert_near(c.dsn[0].kd, 0.25, 1e-12);
    assert_near(c.dsn[0].hard, 0.1, 1e-12);
    assert_near(c.dsn[0].push, 0.03, 1e-12);
    assert_near(c.dsn[0].gd, 2.2, 1e-12);
    assert_near(c.dsn[0].gd_acc, 0.125, 1e-12);
    assert_near(c.dsn[0].lambda, 0.5, 1e-12);
    assert_true(c.dsn[1].has_kd && !c.dsn[1].has_gd && !c.dsn[1].has_lambda);
    dsn_curve_free(&c);

    /* a file, with \r-separated pieces and many lines (growth) */
    char dir[256], err[256];
    dsn_test_tmpdir(dir, sizeof dir);
    dsn_buf b = {0};
    for(int i = 1; i <= 1000; ++i)
        dsn_buf_printf(&b, "%d, 0.1: 1.0, %g avg, 0.001 rate, 0.1 seconds, %d images\r\n", i, 1.0 / i, i * 10);
    dsn_buf_printf(&b, "progress\r500, 0.1: 1.0, 0.5 avg, 0.001 rate, 0.1 seconds, 1 images\n");
    char *log = dsn_test_write(dir, "train.log", b.s);
    assert_int_equal(dsn_curve_load(&c, log, err, sizeof err), 0);
    assert_int_equal(c.n, 1001);
    assert_near(c.avg_loss[999], 0.001, 1e-12);
    assert_int_equal(c.iter[1000], 500);
    dsn_curve_free(&c);
    assert_int_equal(dsn_curve_load(&c, "/nonexistent/train.log", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/train.log"));
    free(log);
    dsn_buf_free(&b);
    dsn_test_rmtree(dir);
}

static void test_spread(void **state)
{
    (void)state;
    const double v[4] = {97.5, 98.5, 99.0, 98.0};
    dsn_spread s = dsn_spread_of(v, 4);
    assert_int_equal(s.n, 4);
    assert_near(s.mean, 98.25, 1e-12);
    assert_near(s.sd, sqrt((0.5625 + 0.0625 + 0.5625 + 0.0625) / 3), 1e-12);   /* 0.645497 */
    assert_near(s.min, 97.5, 0);
    assert_near(s.max, 99.0, 0);
    s = dsn_spread_of(v, 1);
    assert_near(s.mean, 97.5, 0);
    assert_near(s.sd, 0, 0);
    s = dsn_spread_of(v, 0);
    assert_int_equal(s.n, 0);
}

/* ---- runs and the report ----------------------------------------------------------------- */

/* A hand-made eval result: valid v, raw r, every other measure derived from them. */
static char *write_eval(const char *dir, const char *name, const char *customer, int seed, double teacher,
                        double v, double r, const char *other, double cross)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"dsn_eval\": 1, \"customer\": \"%s\", \"model\": \"m\", \"dataset\": \"mnist\", \"classes\": 10,\n"
             " \"n_images\": 2000, \"seeds\": {\"eval\": %d},\n"
             " \"teacher\": %g, \"teacher_ci95\": [%g, %g], \"valid\": %g, \"valid_ci95\": [%g, %g], \"raw\": %g,\n"
             " \"raw_balanced\": %g, \"forged_mean\": %g, \"forged_max\": %g, \"hamming_1\": %g, \"hamming_1_max\": %g,\n"
             " \"hamming_1_per_bit\": [%g, %g, %g, %g, 10, 10, 10, 10, 10],\n"
             " \"hamming_2\": %g, \"hamming_2_max\": %g, \"hamming_4\": %g, \"hamming_4_max\": %g,\n"
             " \"cross\": {\"%s\": %g}, \"wall_seconds\": 60.5}\n",
             customer, seed, teacher, teacher - 0.5, teacher + 0.3, v, v - 1, v + 1, r, r - 1, r + 1, r + 2, r + 30, r + 60,
             r + 60, r + 1, r + 2, r + 3, r + 20, r + 25, r + 5, r + 8, other, cross);
    return dsn_test_write(dir, name, text);
}

static void test_run_load(void **state)
{
    (void)state;
    char dir[256], err[512], text[1024];
    dsn_test_tmpdir(dir, sizeof dir);
    char *ev = write_eval(dir, "e.json", "alice", 3, 99, 98, 10, "bob", 11);
    dsn_run r;
    assert_int_equal(dsn_run_load(&r, ev, err, sizeof err), 0);
    assert_string_equal(r.customer, "alice");
    assert_string_equal(r.dataset, "mnist");
    assert_int_equal(r.seed, 3);
    assert_true(r.has[DSN_M_TEACHER] && r.has_ci[DSN_M_TEACHER]);
    assert_near(r.lo[DSN_M_VALID], 97, 0);
    assert_near(r.value[DSN_M_H4_MAX], 18, 0);
    assert_near(r.value[DSN_M_CROSS], 11, 0);
    assert_int_equal(r.n_bits, 9);
    assert_int_equal(r.grid_columns, 0);   /* not in the file: a square grid */
    assert_int_equal(r.classes, 10);
    assert_near(r.eval_seconds, 60.5, 0);
    assert_near(r.train_seconds, -1, 0);
    assert_null(r.train_log);
    dsn_run_free(&r);

    snprintf(text, sizeof text, "{\"dsn_run\": 1, \"eval\": \"%s\", \"seed\": 7, \"dataset\": \"fashion\", "
             "\"train_wall_seconds\": 12.5, \"train_log\": \"s.log\", \"teacher_log\": \"t.log\"}", ev);
    char *man = dsn_test_write(dir, "run.json", text);
    assert_int_equal(dsn_run_load(&r, man, err, sizeof err), 0);
    assert_int_equal(r.seed, 7);
    assert_string_equal(r.dataset, "fashion");
    assert_string_equal(r.customer, "alice");
    assert_near(r.train_seconds, 12.5, 0);
    assert_string_equal(r.train_log, "s.log");
    assert_string_equal(r.teacher_log, "t.log");
    assert_string_equal(r.eval_path, ev);
    dsn_run_free(&r);
    free(man);

    const struct { const char *text, *needle; } bad[] = {
        {"{\"dsn_run\": 1}", "needs \"eval\""},
        {"{\"dsn_run\": 1, \"eval\": \"/nonexistent/e.json\"}", "/nonexistent/e.json"},
        {"{\"hello\": 1}", "neither a run manifest"},
        {"{\"dsn_eval\": 1, \"raw\": 10}", "no \"valid\""},
        {"{\"dsn_eval\": 1, \"valid\": 120, \"raw\": 10}", "\"valid\" must be a percentage"},
        {"{\"dsn_eval\": 1, \"valid\": 99, \"raw\": 10, \"cross\": {\"b\": \"x\"}}", "\"cross\".\"b\""},
        {"{\"dsn_eval\": 1, \"valid\": 99, \"raw\": 10, \"customer\": 5}", "\"customer\" must be a string"},
        {"[1, 2", "bad.json:1:5: ']' expected"},
        {"{\"dsn_eval\": 1, \"valid\": 99,\n \"raw\": 10, \"valid\": 12}", "bad.json:2:19: duplicate object key"},
        {"{\"dsn_eval\": 1, \"valid\": 99, \"raw\": 10, \"hamming_1_per_bit\": [50, null]}", "[1] must be"},
        {"{\"dsn_eval\": 1, \"valid\": 99, \"raw\": 10, \"grid_columns\": 0}", "\"grid_columns\" must be a whole number 1..256"},
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        man = dsn_test_write(dir, "bad.json", bad[i].text);
        err[0] = 0;
        assert_int_equal(dsn_run_load(&r, man, err, sizeof err), -1);
        if(!strstr(err, bad[i].needle)) fail_msg("case %zu: '%s'", i, err);
        free(man);
    }
    snprintf(text, sizeof text, "{\"dsn_run\": 1, \"eval\": \"%s\", \"seed\": 1.5}", ev);
    man = dsn_test_write(dir, "bad.json", text);
    assert_int_equal(dsn_run_load(&r, man, err, sizeof err), -1);
    assert_non_null(strstr(err, "whole number"));
    free(man);
    free(ev);
    dsn_test_rmtree(dir);
}

static const json_t *at(const json_t *j, const char *path)
{
    /* "a.b.c" */
    char key[128];
    while(j && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        j = json_object_get(j, key);
        path += n + (dot ? 1 : 0);
    }
    return j;
}

/* A student log (dsn lines and Darknet's) and a teacher log, 50 iterations each, written to dir. */
static void write_logs(const char *dir, char **slog, char **tlog)
{
    dsn_buf lb = {0}, tb = {0};
    for(int i = 1; i <= 50; ++i) {
        dsn_buf_printf(&lb, "dsn: rows valid 4 forged 2 near 2 raw 2 | G_y kd %g hard 0.1 push 0.05 | G_d ce 2.3 acc 0.1 lambda 0.5\n", 1.0 / i);
        dsn_buf_printf(&lb, "%d, 0.1: 1.0, %g avg, 0.001 rate, 0.1 seconds, %d images\n", i, 2.0 / i, i * 10);
        dsn_buf_printf(&tb, "%d, 0.1: 1.0, %g avg, 0.001 rate, 0.1 seconds, %d images\n", i, 1.0 / i, i * 10);
    }
    *slog = dsn_test_write(dir, "student.log", lb.s);
    *tlog = dsn_test_write(dir, "teacher.log", tb.s);
    dsn_buf_free(&lb);
    dsn_buf_free(&tb);
}

/* dir/rep/report.json: per-seed values, the summary over seeds, wall times, the matrix, the runs. */
static void check_report_json(const char *dir, const char *slog)
{
    char err[512], path[4400];
    snprintf(path, sizeof path, "%s/rep/report.json", dir);
    json_t *j = dsn_json_load(path, 1 << 22, err, sizeof err);
    if(!j) fail_msg("%s", err);
    const json_t *mn = at(j, "datasets.mnist");
    assert_non_null(mn);
    assert_near(dsn_json_num(at(mn, "seeds.0.valid"), -1), 98.5, 1e-9);
    assert_near(dsn_json_num(at(mn, "seeds.1.valid"), -1), 98.0, 1e-9);
    assert_near(dsn_json_num(at(mn, "seeds.0.raw"), -1), 11, 1e-9);
    assert_near(dsn_json_num(at(mn, "seeds.0.raw_balanced"), -1), 10, 1e-9);     /* r - 1 */
    assert_near(dsn_json_num(at(mn, "seeds.0.hamming_4"), -1), 16, 1e-9);       /* r + 5 */
    assert_near(dsn_json_num(at(mn, "seeds.0.cross_customer_mean"), -1), 10, 1e-9);  /* (11 + 9) / 2 */
    assert_near(dsn_json_num(at(mn, "summary.valid.mean"), -1), 98.25, 1e-9);
    assert_near(dsn_json_num(at(mn, "summary.valid.sd"), -1), sqrt(0.125), 1e-9);
    assert_near(dsn_json_num(at(mn, "summary.valid.min"), -1), 98, 1e-9);
    assert_near(dsn_json_num(at(mn, "summary.valid.max"), -1), 98.5, 1e-9);
    assert_near(dsn_json_num(at(mn, "summary.valid.n"), -1), 2, 0);
    assert_near(dsn_json_num(at(mn, "summary.teacher.mean"), -1), 99.25, 1e-9);
    /* the lock's targets (report.md's table, check_report_md) */
    assert_near(dsn_json_num(at(mn, "targets.evaluated"), -1), 4, 0);
    assert_near(dsn_json_num(at(mn, "targets.met_all"), -1), 0, 0);
    assert_near(dsn_json_num(at(mn, "targets.each.raw.met"), -1), 3, 0);
    assert_near(dsn_json_num(at(mn, "targets.each.cross_max.met"), -1), 3, 0);
    assert_near(dsn_json_num(at(mn, "targets.limits.hamming_1_max"), -1), 20, 0);
    /* training time: seed 0 only (40 for the teacher, once, + 100 + 101) */
    assert_near(dsn_json_num(at(mn, "seeds.0.wall_seconds.train"), -1), 241, 1e-9);
    assert_true(json_is_null(at(mn, "seeds.1.wall_seconds.train")));
    assert_near(dsn_json_num(at(mn, "seeds.1.wall_seconds.eval"), -1), 121, 1e-9);
    assert_near(dsn_json_num(at(mn, "summary.train_wall_seconds.n"), -1), 1, 0);
    /* the matrix: rows models, columns serials, valid on the diagonal */
    const json_t *cm = at(mn, "seeds.1.cross_customer");
    assert_non_null(cm);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cm, "rows"), 0)), "alice");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cm, "columns"), 1)), "bob");
    const json_t *mx = json_object_get(cm, "matrix");
    const double want[2][2] = {{97, 10}, {13, 99}};
    for(size_t r = 0; r < 2; ++r)
        for(size_t c = 0; c < 2; ++c) assert_near(dsn_json_num(json_array_get(json_array_get(mx, r), c), -1), want[r][c], 0);
    const json_t *runs = at(mn, "seeds.0.runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "customer")), "alice");
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "train_log")), slog);
    assert_near(dsn_json_num(at(j, "anchors.mnist.raw"), -1), 9.2, 1e-12);
    /* by stamp cell: write_eval's bits are r+60, r+1, r+2, r+3 and five 10s on a 3x3 grid; r is 10,
       12, 8 and 9 (mean 9.75) */
    const json_t *cells = at(mn, "hamming_1_cells");
    assert_near(dsn_json_num(json_object_get(cells, "models"), -1), 4, 0);
    assert_near(dsn_json_num(json_object_get(cells, "columns"), -1), 3, 0);
    const double mean[9] = {69.75, 10.75, 11.75, 12.75, 10, 10, 10, 10, 10}, max[9] = {72, 13, 14, 15, 10, 10, 10, 10, 10};
    assert_int_equal(json_array_size(json_object_get(cells, "mean")), 9);
    for(size_t k = 0; k < 9; ++k) {
        assert_near(dsn_json_num(json_array_get(json_object_get(cells, "mean"), k), -1), mean[k], 1e-9);
        assert_near(dsn_json_num(json_array_get(json_object_get(cells, "max"), k), -1), max[k], 1e-9);
    }
    assert_near(dsn_json_num(at(cells, "weakest_row.index"), -1), 0, 0);
    assert_near(dsn_json_num(at(cells, "weakest_row.mean"), -1), (69.75 + 10.75 + 11.75) / 3, 1e-6);
    assert_near(dsn_json_num(at(cells, "weakest_column.index"), -1), 0, 0);
    assert_near(dsn_json_num(at(cells, "weakest_column.mean"), -1), (69.75 + 12.75 + 10) / 3, 1e-6);
    assert_near(dsn_json_num(json_object_get(cells, "all_mean"), -1), 155.0 / 9, 1e-6);
    json_decref(j);
}

/* Fails naming the first of want[0..n) that md lacks. */
static void md_has_all(const char *md, const char *const *want, size_t n)
{
    for(size_t i = 0; i < n; ++i)
        if(!strstr(md, want[i])) fail_msg("report.md lacks '%s':\n%s", want[i], md);
}

/* dir/rep/report.md: the summary and cross-customer rows. */
static void check_report_md(const char *dir)
{
    char err[512], path[4400];
    snprintf(path, sizeof path, "%s/rep/report.md", dir);
    size_t len;
    char *md = dsn_read_file_err(path, 1 << 22, &len, err, sizeof err);
    if(!md) fail_msg("%s", err);
    assert_non_null(strstr(md, "| valid serial (A_X+K) | 99.8 | 98.25 |"));
    assert_non_null(strstr(md, "| no serial (A_X) | 9.2 |"));
    assert_non_null(strstr(md, "| 0 | alice | 99.50 | 98.00 | 10.00 | 9.00 | 11.00 |"));   /* raw balanced 9 */
    assert_non_null(strstr(md, "| alice | **97.00** | 10.00 |"));
    /* the lock's targets, worked out from write_eval's figures: H1 and H2 max are raw + 60 and + 25;
       values on a limit (bob's valid 0.5 below the teacher, alice's forged 11 and others 11) meet it */
    static const char *const rows[] = {
        "Every target met by **0 of 4** models.",
        "| valid serial at most 0.5 below the teacher | 2 of 4 | seed 0 alice 98.00, seed 1 alice 97.00 |",
        "| no serial <= 11 | 3 of 4 | seed 0 bob 12.00 |",
        "| forged max <= 11 | 2 of 4 | seed 0 alice 12.00, seed 0 bob 14.00 |",
        "| other customers' serials <= 11 | 3 of 4 | seed 1 bob 13.00 |",
        "| Hamming 1 max <= 20 | 0 of 4 | seed 0 alice 70.00, seed 0 bob 72.00, seed 1 alice 68.00, seed 1 bob 69.00 |",
        "| Hamming 2 max <= 15 | 0 of 4 | seed 0 alice 35.00, seed 0 bob 37.00, seed 1 alice 33.00, seed 1 bob 34.00 |",
    };
    md_has_all(md, rows, sizeof rows / sizeof rows[0]);
    /* by stamp cell (check_report_json's figures) */
    static const char *const cells[] = {
        "### Single-bit neighbours by stamp cell (4 models)",
        "Weakest row 0 (mean 30.75), weakest column 0 (mean 30.83); every cell 17.22.",
        "Mean over the models:\n\n```\n          0      1      2\n   0  69.75  10.75  11.75\n   1  12.75  10.00  10.00\n",
        "Max over the models:\n\n```\n          0      1      2\n   0  72.00  13.00  14.00\n",
    };
    md_has_all(md, cells, sizeof cells / sizeof cells[0]);
    free(md);
}

/* The scripts and data always, PNGs where gnuplot is installed; out: the report's output, for failures. */
static void check_plots(const char *dir, const char *out)
{
    char path[4400];
    const char *plots[] = {"hamming_mnist", "learning_mnist_s0", "cross_mnist_s0", "cross_mnist_s1",
                           "h1bits_mnist_s0_alice", "h1bits_mnist_s1_bob"};
    int have_gnuplot = dsn_test_run(NULL, 0, "command -v gnuplot") == 0;
    for(size_t i = 0; i < sizeof plots / sizeof plots[0]; ++i) {
        const char *ext[] = {"gp", "dat", "png"};
        for(int k = 0; k < (have_gnuplot ? 3 : 2); ++k) {
            snprintf(path, sizeof path, "%s/rep/plots/%s.%s", dir, plots[i], ext[k]);
            if(access(path, R_OK) != 0) fail_msg("%s is missing:\n%s", path, out);
        }
    }
    snprintf(path, sizeof path, "%s/rep/plots/learning_mnist_s1.gp", dir);   /* seed 1 has no logs */
    assert_int_not_equal(access(path, R_OK), 0);
}

/* Refusals: a run twice, no runs, an unreadable one; and --no-plots writes no plots folder. */
static void check_refusals(const char *bin, const char *dir, const char *e0, const char *m0, char *out, size_t outlen)
{
    char path[4400];
    int rc = dsn_test_run(out, outlen, "%s report --out %s/rep2 %s %s", bin, dir, e0, m0);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "give each run once"));
    rc = dsn_test_run(out, outlen, "%s report --out %s/rep2", bin, dir);
    assert_int_equal(rc, 2);
    rc = dsn_test_run(out, outlen, "%s report --out %s/rep2 %s/none.json", bin, dir, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "none.json"));
    rc = dsn_test_run(out, outlen, "%s report --no-plots --out %s/rep3 %s", bin, dir, e0);
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/rep3/plots", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    /* --max-drop: seed 0 alice, 1.5 below her teacher, meets a limit of 1.5; a bad one refused */
    rc = dsn_test_run(out, outlen, "%s report --no-plots --max-drop 1.5 --out %s/rep3 %s && grep -c "
                      "'| valid serial at most 1.5 below the teacher | 1 of 1 | |' %s/rep3/report.md", bin, dir, e0, dir);
    if(rc != 0) fail_msg("--max-drop 1.5: %s", out);
    rc = dsn_test_run(out, outlen, "%s report --no-plots --max-drop abc --out %s/rep4 %s", bin, dir, e0);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--max-drop 'abc'"));
    snprintf(path, sizeof path, "%s/rep4", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_report_cli(void **state)
{
    (void)state;
    char dir[256], out[8192], real[4096], bin[4200], text[1024];
    dsn_test_tmpdir(dir, sizeof dir);
    if(!realpath(dsn_test_build_dir(), real) || strlen(real) > 1000) fail_msg("no build dir");
    snprintf(bin, sizeof bin, "%s/dsn", real);

    /* two seeds x two customers; valid 98/99 (seed 0) and 97/99 (seed 1): per-seed means 98.5, 98 */
    char *e[4];
    e[0] = write_eval(dir, "e_a0.json", "alice", 0, 99.5, 98, 10, "bob", 11);
    e[1] = write_eval(dir, "e_b0.json", "bob", 0, 99.5, 99, 12, "alice", 9);
    e[2] = write_eval(dir, "e_a1.json", "alice", 1, 99.0, 97, 8, "bob", 10);
    e[3] = write_eval(dir, "e_b1.json", "bob", 1, 99.0, 99, 9, "alice", 13);
    char *slog, *tlog;
    write_logs(dir, &slog, &tlog);
    /* seed 0 through manifests (training times and logs), seed 1 as bare eval JSONs */
    char *m[2];
    for(int i = 0; i < 2; ++i) {
        snprintf(text, sizeof text, "{\"dsn_run\": 1, \"eval\": \"%s\", \"train_wall_seconds\": %d, "
                 "\"teacher_wall_seconds\": 40, \"train_log\": \"%s\", \"teacher_log\": \"%s\"}", e[i], 100 + i, slog, tlog);
        m[i] = dsn_test_write(dir, i ? "m_b0.json" : "m_a0.json", text);
    }
    int rc = dsn_test_run(out, sizeof out, "%s report --out %s/rep %s %s %s %s", bin, dir, e[3], m[1], e[2], m[0]);
    if(rc != 0) fail_msg("report: %s", out);
    assert_non_null(strstr(out, "valid serial (A_X+K)"));
    assert_non_null(strstr(out, "98.25"));                   /* mean valid over seeds */
    assert_non_null(strstr(out, "single flips by stamp cell: weakest row 0 (30.75), column 0 (30.83), every cell 17.22\n"));

    check_report_json(dir, slog);
    check_report_md(dir);

    /* plots: the scripts and data always, PNGs where gnuplot is installed */
    check_plots(dir, out);

    /* refusals: a run twice, no runs, an unreadable one */
    check_refusals(bin, dir, e[0], m[0], out, sizeof out);

    for(int i = 0; i < 4; ++i) free(e[i]);
    free(m[0]);
    free(m[1]);
    free(slog);
    free(tlog);
    dsn_test_rmtree(dir);
}

/* Eval files that name their stamp grid's columns ("grid_columns": 9, the 9 bits in one row):
 * the cell map takes that shape, and a run of the same data set on another grid (here a file
 * without the field: a square 3x3) is left out of it, not mixed in. */
static void test_report_grid_columns(void **state)
{
    (void)state;
    char dir[256], out[8192], real[4096], bin[4200], err[512], path[600];
    dsn_test_tmpdir(dir, sizeof dir);
    if(!realpath(dsn_test_build_dir(), real) || strlen(real) > 1000) fail_msg("no build dir");
    snprintf(bin, sizeof bin, "%s/dsn", real);
    char *e[3];
    e[0] = write_eval(dir, "e_a.json", "alice", 0, 99.5, 98, 10, "bob", 11);
    e[1] = write_eval(dir, "e_b.json", "bob", 0, 99.5, 99, 12, "alice", 9);
    e[2] = write_eval(dir, "e_c.json", "carol", 0, 99.5, 99, 30, "alice", 9);   /* square: left out */
    int rc = dsn_test_run(out, sizeof out, "sed -i 's/\"hamming_1_per_bit\"/\"grid_columns\": 9, &/' %s %s", e[0], e[1]);
    if(rc != 0) fail_msg("sed: %s", out);
    dsn_run r;
    if(dsn_run_load(&r, e[0], err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(r.grid_columns, 9);
    dsn_run_free(&r);
    rc = dsn_test_run(out, sizeof out, "%s report --out %s/rep %s %s %s", bin, dir, e[0], e[1], e[2]);
    if(rc != 0) fail_msg("report: %s", out);
    snprintf(path, sizeof path, "%s/rep/report.json", dir);
    json_t *j = dsn_json_load(path, 1 << 22, err, sizeof err);
    if(!j) fail_msg("%s", err);
    const json_t *cells = at(j, "datasets.mnist.hamming_1_cells");
    assert_non_null(cells);
    assert_near(dsn_json_num(json_object_get(cells, "models"), -1), 2, 0);
    assert_near(dsn_json_num(json_object_get(cells, "columns"), -1), 9, 0);
    assert_near(dsn_json_num(at(cells, "weakest_row.index"), -1), 0, 0);
    assert_near(dsn_json_num(at(cells, "weakest_column.index"), -1), 0, 0);
    assert_near(dsn_json_num(at(cells, "weakest_column.mean"), -1), (70 + 72) / 2.0, 1e-9);   /* r + 60 */
    json_decref(j);
    for(int i = 0; i < 3; ++i) free(e[i]);
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();     /* as every suite does, though nothing here builds a network */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_values),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_run_load),
        cmocka_unit_test(test_report_cli),
        cmocka_unit_test(test_report_grid_columns),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
