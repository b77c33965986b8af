/* The webcam demos, tested headless: the camera preprocessing pixel by pixel (dsn_prep), then a
 * video made with OpenCV's VideoWriter from 200 MNIST test digits drawn dark on a white page with
 * noise, blur and a slight perspective tilt, run through `dsn demo --headless` and, under Xvfb,
 * through `darknet classifier demo -filename` and `dsn demo`'s window with --record and --frames.
 * The shipped model (weights/) must name at least 90% of the frames right with alice's serial and
 * at most 20% without a serial or with a forged one. Under the sanitizers the video has 50 frames
 * and only the first figure is checked: memory errors are the point there (every frame runs the
 * same code), and the rates of the other two on so few frames say little. Bad input (a missing
 * video, a camera that cannot open, no display) must give one clear line and the documented exit
 * status.
 *
 * Xvfb (Debian's xvfb) is a test dependency that `make test` installs; without it the tests that
 * need a display fail and say so. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dsn_test.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_eval.h"
#include "dsn_layers.h"
#include "dsn_prep.h"
#include "dsn_serial.h"
#include "dsn_video.h"

#define N_DIGITS (SANITIZED ? 50 : 200)
#define FRAME_W 320
#define FRAME_H 240
#define MODEL "--cfg cfg/mnist_customer.cfg --weights weights/mnist_customer.weights --cert weights/alice.sn"
#define DARKNET_DEMO "classifier demo cfg/mnist.data cfg/mnist_customer.cfg weights/mnist_customer.weights"

static const char *const digit_names[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};

/* What the group setup makes once: the video, its labels, the serials, the display. */
static struct {
    char dir[256], video[512], bin[1024], serial[128], forged[128], display[40], xvfb_why[512];
    int label[N_DIGITS];
    pid_t xvfb;
} fx;

/* ---- dsn_prep, pixel by pixel ------------------------------------------------------------- */

/* A w x h RGB page of brightness `paper` with an ink rectangle of colour ink[3]. */
static float *page(int w, int h, float paper, int x0, int y0, int rw, int rh, const float ink[3])
{
    float *f = malloc((size_t)3 * w * h * sizeof *f);
    assert_non_null(f);
    for(int k = 0; k < 3; ++k){
        for(int y = 0; y < h; ++y){
            for(int x = 0; x < w; ++x){
                int in = x >= x0 && x < x0 + rw && y >= y0 && y < y0 + rh;
                f[((size_t)k * h + y) * w + x] = in ? ink[k] : paper;
            }
        }
    }
    return f;
}

typedef struct shape { int x0, y0, x1, y1; double cx, cy, max, min; } shape;   /* pixels > 0.5 */

static shape measure(const float *im, int w, int h)
{
    shape s = {w, h, -1, -1, 0, 0, 0, 1};
    double m = 0;
    for(int y = 0; y < h; ++y){
        for(int x = 0; x < w; ++x){
            float v = im[y * w + x];
            s.max = v > s.max ? v : s.max;
            s.min = v < s.min ? v : s.min;
            m += v;
            s.cx += v * (x + 0.5);
            s.cy += v * (y + 0.5);
            if(v > 0.5f){
                s.x0 = x < s.x0 ? x : s.x0;
                s.y0 = y < s.y0 ? y : s.y0;
                s.x1 = x > s.x1 ? x : s.x1;
                s.y1 = y > s.y1 ? y : s.y1;
            }
        }
    }
    if(m > 0){
        s.cx /= m;
        s.cy /= m;
    }
    return s;
}

static const float black[3] = {0.05f, 0.05f, 0.05f};

/* MNIST's recipe: ink fitted to 20 pixels, centre of mass at the centre, background exactly 0. */
static void test_prep_mnist(void **state)
{
    (void)state;
    float *f = page(200, 120, 0.9f, 60, 20, 30, 60, black), out[28 * 28];
    dsn_prep p;
    dsn_prep_info info;
    assert_int_equal(dsn_prep_init(&p, "mnist"), 0);
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_int_equal(info.cx, 40);
    assert_int_equal(info.cw, 120);
    assert_int_equal(info.blank, 0);
    assert_true(fabsf(info.x0 - 60) <= 1 && fabsf(info.x1 - 90) <= 1);
    assert_true(fabsf(info.y0 - 20) <= 1 && fabsf(info.y1 - 80) <= 1);
    shape s = measure(out, 28, 28);
    assert_int_equal(s.y1 - s.y0 + 1, 20);           /* the longer side: 20 pixels */
    assert_int_equal(s.x1 - s.x0 + 1, 10);           /* the aspect kept: 30x60 -> 10x20 */
    assert_true(fabs(s.cx - 14) <= 0.5 && fabs(s.cy - 14) <= 0.5);
    assert_true(s.max == 1.0 && s.min == 0.0);
    for(int y = 0; y < 28; ++y){
        for(int x = 0; x < 28; ++x){                  /* nothing outside the ink's 20x10 */
            if(y < s.y0 || y > s.y1 || x < s.x0 || x > s.x1) assert_true(out[y * 28 + x] == 0);
        }
    }
    free(f);
}

/* Fashion-MNIST's recipe: the longer side to 28, the extent's middle at the centre. */
static void test_prep_fashion(void **state)
{
    (void)state;
    float *f = page(120, 120, 0.8f, 10, 30, 80, 40, black), out[3 * 28 * 28];
    dsn_prep p;
    assert_int_equal(dsn_prep_init(&p, "fashion"), 0);
    assert_int_equal(dsn_prep_run(out, 28, 28, 3, f, 120, 120, 3, &p, NULL), 0);
    shape s = measure(out, 28, 28);
    assert_int_equal(s.x0, 0);
    assert_int_equal(s.x1, 27);
    assert_int_equal(s.y1 - s.y0 + 1, 14);
    assert_int_equal(s.y0, 7);
    for(int i = 0; i < 28 * 28; ++i){                 /* grey into all three channels */
        assert_true(out[i] == out[28 * 28 + i] && out[i] == out[2 * 28 * 28 + i]);
    }
    free(f);
}

/* Each --no-STEP switch changes exactly what its step does. */
static void test_prep_steps_off(void **state)
{
    (void)state;
    static const float red[3] = {1, 0, 0};
    float *f = page(200, 120, 0.9f, 60, 20, 30, 60, black), out[28 * 28];
    dsn_prep p;
    dsn_prep_info info;

    dsn_prep_init(&p, "mnist");
    p.invert = 0;                                     /* dark ink is not bright ink: blank */
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_int_equal(info.blank, 1);
    assert_true(measure(out, 28, 28).max == 0);

    dsn_prep_init(&p, "mnist");
    p.crop = 0;                                       /* the whole frame */
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_int_equal(info.cx, 0);
    assert_int_equal(info.cw, 200);

    dsn_prep_init(&p, "mnist");
    p.center = 0;                                     /* the square resized: ink stays where it was */
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    shape s = measure(out, 28, 28);
    assert_true(fabs(s.cx - (75.0 - 40) * 28 / 120) < 0.3 && fabs(s.cy - 50.0 * 28 / 120) < 0.3);

    dsn_prep_init(&p, "mnist");
    p.normalize = 0;                                  /* the paper stays at 1 - 0.9 */
    p.center = 0;
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_true(fabsf(out[0] - 0.1f) < 1e-4f);
    free(f);

    f = page(200, 120, 1.0f, 60, 20, 30, 60, red);    /* red ink: dark in grey, paper-white in R */
    dsn_prep_init(&p, "mnist");
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_int_equal(info.blank, 0);
    p.gray = 0;
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, f, 200, 120, 3, &p, &info), 0);
    assert_int_equal(info.blank, 1);
    free(f);
}

static void test_prep_bad(void **state)
{
    (void)state;
    float frame[3 * 4 * 4] = {0}, out[2 * 28 * 28];
    dsn_prep p;
    assert_int_equal(dsn_prep_init(&p, "mnist2"), -1);
    assert_int_equal(dsn_prep_known("fashion"), 1);
    assert_int_equal(dsn_prep_known(""), 0);
    dsn_prep_init(&p, "mnist");
    assert_int_equal(dsn_prep_run(out, 28, 28, 2, frame, 4, 4, 3, &p, NULL), -1);
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, frame, 4, 4, 2, &p, NULL), -1);
    assert_int_equal(dsn_prep_run(out, 28, 28, 1, frame, 4, 4, 3, &p, NULL), 0);   /* flat: blank */
    assert_true(measure(out, 28, 28).max == 0);
}

/* ---- the test video ------------------------------------------------------------------------ */

static float bilinear(const image *m, float u, float v)
{
    u -= 0.5f;
    v -= 0.5f;
    int x = (int)floorf(u), y = (int)floorf(v);
    float a = u - x, b = v - y, s = 0;
    for(int j = 0; j < 2; ++j){
        for(int i = 0; i < 2; ++i){
            int X = x + i, Y = y + j;
            if(X >= 0 && X < m->w && Y >= 0 && Y < m->h) s += (i ? a : 1 - a) * (j ? b : 1 - b) * m->data[Y * m->w + X];
        }
    }
    return s;
}

static float gauss(dsn_rng *r)
{
    float u = dsn_rng_uniform(r) + 1e-7f, v = dsn_rng_uniform(r);
    return sqrtf(-2 * logf(u)) * cosf(6.2831853f * v);
}

/* One frame: the digit dark on a tinted, unevenly lit page, seen through a slight perspective
 * tilt and rotation, blurred ([1 2 1]/4 twice each way) and with camera noise. */
static void draw_digit(float *f, const image *digit, dsn_rng *r)
{
    const int W = FRAME_W, H = FRAME_H;
    const float tint[3] = {1.0f, 0.97f, 0.92f};
    float s = 4.0f + dsn_rng_uniform(r), ang = (dsn_rng_uniform(r) - 0.5f) * 0.2f;
    float cx = W / 2 + (dsn_rng_uniform(r) - 0.5f) * 24, cy = H / 2 + (dsn_rng_uniform(r) - 0.5f) * 20;
    float px = (dsn_rng_uniform(r) - 0.5f) * 0.0024f, py = (dsn_rng_uniform(r) - 0.5f) * 0.0024f;
    float paper = 0.82f + 0.12f * dsn_rng_uniform(r), ink = 0.08f + 0.12f * dsn_rng_uniform(r);
    float light = (dsn_rng_uniform(r) - 0.5f) * 0.12f;
    for(int y = 0; y < H; ++y){
        for(int x = 0; x < W; ++x){
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy, w = 1 + px * dx + py * dy;
            float u = (cosf(ang) * dx - sinf(ang) * dy) / w / s + 14, v = (sinf(ang) * dx + cosf(ang) * dy) / w / s + 14;
            float m = bilinear(digit, u, v), pg = paper + light * (x - W / 2.0f) / W;
            for(int k = 0; k < 3; ++k) f[((size_t)k * H + y) * W + x] = pg * tint[k] * (1 - (1 - ink) * m);
        }
    }
    float *t = malloc(sizeof(float) * W * H);
    assert_non_null(t);
    for(int k = 0; k < 3; ++k){
        float *p = f + (size_t)k * W * H;
        for(int pass = 0; pass < 2; ++pass){
            for(int y = 0; y < H; ++y) for(int x = 0; x < W; ++x)
                t[y * W + x] = (p[y * W + (x ? x - 1 : x)] + 2 * p[y * W + x] + p[y * W + (x + 1 < W ? x + 1 : x)]) / 4;
            for(int y = 0; y < H; ++y) for(int x = 0; x < W; ++x)
                p[y * W + x] = (t[(y ? y - 1 : y) * W + x] + 2 * t[y * W + x] + t[(y + 1 < H ? y + 1 : y) * W + x]) / 4;
        }
        for(int i = 0; i < W * H; ++i) p[i] += 0.03f * gauss(r);
    }
    free(t);
}

/* The class of a list line ".../00017_seven.png". */
static int label_of(const char *path)
{
    const char *u = strrchr(path, '_');
    for(int k = 0; u && k < 10; ++k){
        size_t n = strlen(digit_names[k]);
        if(strncmp(u + 1, digit_names[k], n) == 0 && strcmp(u + 1 + n, ".png") == 0) return k;
    }
    return -1;
}

static void make_video(void)
{
    char path[600], line[512], err[256];
    snprintf(path, sizeof path, "%s/mnist/test.list", fx.dir);
    FILE *list = fopen(path, "r");
    if(!list) fail_msg("cannot read %s (dsn import mnist)", path);
    snprintf(fx.video, sizeof fx.video, "%s/digits.mp4", fx.dir);
    dsn_recorder *rec = dsn_recorder_open(fx.video, FRAME_W, FRAME_H, 10, err, sizeof err);
    dsn_canvas *c = dsn_canvas_new(FRAME_W, FRAME_H);
    float *f = malloc(sizeof(float) * 3 * FRAME_W * FRAME_H);
    if(!rec || !c || !f) fail_msg("cannot write the test video: %s", err);
    dsn_rng r;
    dsn_rng_seed(&r, 2024);
    for(int i = 0; i < N_DIGITS; ++i){
        if(!fgets(line, sizeof line, list)) fail_msg("%s: only %d lines", path, i);
        line[strcspn(line, "\r\n")] = 0;
        char img[1024];
        snprintf(img, sizeof img, "%s/%s", fx.dir, line);
        fx.label[i] = label_of(line);
        assert_true(fx.label[i] >= 0);
        image digit = load_image(img, 0, 0, 1);
        draw_digit(f, &digit, &r);
        free_image(digit);
        dsn_canvas_image(c, 0, 0, 1, f, FRAME_W, FRAME_H, 3);
        assert_int_equal(dsn_recorder_write(rec, c), 0);
    }
    fclose(list);
    free(f);
    dsn_canvas_free(c);
    dsn_recorder_close(rec);
}

/* ---- Xvfb ------------------------------------------------------------------------------------ */

/* Starts Xvfb on a free display (-displayfd); fx.display is ":N", or fx.xvfb_why says why not. */
static void start_xvfb(void)
{
    int fd[2];
    if(pipe(fd) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if(pid == 0){
        char num[16], log[600];
        snprintf(log, sizeof log, "%s/xvfb.log", fx.dir);   /* what Xvfb says, for need_display's message */
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        snprintf(num, sizeof num, "%d", fd[1]);
        close(fd[0]);
        dup2(out, 1);
        dup2(out, 2);
        execlp("Xvfb", "Xvfb", "-displayfd", num, "-nolisten", "tcp", "-screen", "0", "1600x900x24", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    /* Xvfb writes the number and then "\n" in two writes, and exits ("Cannot write display number")
       if the pipe is closed in between: read up to the newline before closing */
    struct pollfd p = {fd[0], POLLIN, 0};
    char buf[32] = "";
    size_t n = 0;
    while(n < sizeof buf - 1 && !memchr(buf, '\n', n) && poll(&p, 1, 20000) == 1){
        ssize_t got = read(fd[0], buf + n, sizeof buf - 1 - n);
        if(got <= 0) break;
        n += (size_t)got;
    }
    close(fd[0]);
    if(n > 0 && memchr(buf, '\n', n) && buf[0] >= '0' && buf[0] <= '9'){
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        snprintf(fx.display, sizeof fx.display, ":%s", buf);
        fx.xvfb = pid;
        return;
    }
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    snprintf(fx.xvfb_why, sizeof fx.xvfb_why, "%s", WIFEXITED(st) && WEXITSTATUS(st) == 127
             ? "Xvfb is not installed: these tests need Debian's xvfb (make test installs it; or apt-get install xvfb)"
             : "Xvfb did not start (no display number within 20 s)");
}

/* The display, and Xvfb still serving it: if it has gone, the test fails saying so, with the end
 * of Xvfb's own log (a client error alone, "cannot connect to the display", does not say why). */
static void need_display(void)
{
    if(!fx.display[0]) fail_msg("%s", fx.xvfb_why);
    int st = 0;
    if(fx.xvfb > 0 && waitpid(fx.xvfb, &st, WNOHANG) == fx.xvfb){
        char out[2048] = "";
        fx.xvfb = 0;
        dsn_test_run(out, sizeof out, "tail -5 %s/xvfb.log", fx.dir);
        fail_msg("Xvfb on %s has exited (%s %d); its log ends:\n%s", fx.display,
                 WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), out);
    }
}

static int setup(void **state)
{
    (void)state;
    char out[4096], cmd[2048], *bin = realpath(dsn_test_build_dir(), NULL), *root = realpath(".", NULL);
    if(!bin || !root) return -1;
    snprintf(fx.bin, sizeof fx.bin, "%s", bin);
    dsn_test_tmpdir(fx.dir, sizeof fx.dir);
    snprintf(cmd, sizeof cmd, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/dsn import mnist -o mnist --cache %s/build/cache > import.log",
             fx.dir, bin, root);
    if(dsn_test_run(out, sizeof out, "%s", cmd) != 0){
        fprintf(stderr, "dsn import mnist failed:\n%s\n", out);
        return -1;
    }
    /* alice's serial, derived from her certificate (the weights may be retrained) */
    if(dsn_test_run(fx.serial, sizeof fx.serial, "%s/dsn serial --cert weights/alice.sn", bin) != 0) return -1;
    fx.serial[strcspn(fx.serial, "\r\n")] = 0;
    dsn_serial valid, forged;
    char err[256];
    if(dsn_serial_decode(&valid, fx.serial, 64, err, sizeof err) != 0) return -1;
    dsn_rng r;
    dsn_rng_seed(&r, 77);
    dsn_eval_forged(&forged, 1, &valid, &r);
    dsn_serial_encode(fx.forged, sizeof fx.forged, &forged);
    make_video();
    start_xvfb();
    free(bin);
    free(root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if(fx.xvfb > 0){
        kill(fx.xvfb, SIGTERM);
        waitpid(fx.xvfb, NULL, 0);
    }
    dsn_test_rmtree(fx.dir);
    return 0;
}

/* ---- dsn demo --headless --------------------------------------------------------------------- */

typedef struct tally { int right[3], total[3]; } tally;

static const char *const panels[3] = {"valid", "none", "forged"};

/* Reads the JSON lines; every frame must have one line per panel, in order. */
static tally read_json_lines(const char *path)
{
    tally t = {{0}, {0}};
    FILE *f = fopen(path, "r");
    char line[1024];
    assert_non_null(f);
    int n = 0;
    while(fgets(line, sizeof line, f)){
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if(!o) fail_msg("%s:%d: not JSON: %s", path, n + 1, e.text);
        int frame = -1, cls = -1;
        const char *panel = NULL, *label = NULL;
        double prob = -1;
        if(json_unpack(o, "{s:i, s:s, s:i, s:s, s:F}", "frame", &frame, "panel", &panel, "class", &cls, "label",
                       &label, "prob", &prob) != 0) fail_msg("%s:%d: keys missing: %s", path, n + 1, line);
        assert_int_equal(frame, n / 3);
        assert_string_equal(panel, panels[n % 3]);
        assert_true(cls >= 0 && cls < 10 && prob >= 0 && prob <= 1);
        assert_string_equal(label, digit_names[cls]);
        assert_true((json_object_get(o, "serial") == json_null()) == (n % 3 == 1));
        t.total[n % 3]++;
        t.right[n % 3] += cls == fx.label[frame];
        json_decref(o);
        ++n;
    }
    fclose(f);
    return t;
}

static void test_dsn_demo_headless(void **state)
{
    (void)state;
    char out[4096], json[600];
    snprintf(json, sizeof json, "%s/headless.jsonl", fx.dir);
    /* no display at all: --headless needs none */
    int rc = dsn_test_run(out, sizeof out, "env -u DISPLAY %s/dsn demo " MODEL " --pub weights/owner.pub.pem "
                          "--data cfg/mnist.data --video %s --headless > %s 2> %s/headless.err; rc=$?; "
                          "grep -v '^dsn: demo: [0-9]* frames in' %s/headless.err | tail -5; "
                          "grep '^dsn: demo: [0-9]* frames in' %s/headless.err; exit $rc",
                          fx.bin, fx.video, json, fx.dir, fx.dir, fx.dir);
    if(rc != 0) fail_msg("dsn demo --headless failed (%d):\n%s", rc, out);
    tally t = read_json_lines(json);
    double acc[3];
    for(int p = 0; p < 3; ++p){
        assert_int_equal(t.total[p], N_DIGITS);
        acc[p] = 100.0 * t.right[p] / t.total[p];
    }
    const char *speed = strstr(out, "frames in");
    print_message("  dsn demo: frames right: valid %.1f%%, none %.1f%%, forged %.1f%% (%.*s)\n", acc[0], acc[1], acc[2],
                  speed ? (int)strcspn(speed, "\n") : 0, speed ? speed : "");
    assert_true(acc[0] >= 90);
    assert_true(SANITIZED || acc[1] <= 20);
    assert_true(SANITIZED || acc[2] <= 20);
}

/* ---- darknet classifier demo under Xvfb -------------------------------------------------- */

/* Runs the demo on the video; returns the share of frames whose top prediction is right. */
static double darknet_demo(const char *serial, double *fps)
{
    char out[4096], log[600], line[512];
    snprintf(log, sizeof log, "%s/darknet-demo.out", fx.dir);
    int rc = dsn_test_run(out, sizeof out, "DISPLAY=%s ASAN_OPTIONS=detect_leaks=0 %s/darknet " DARKNET_DEMO
                          " -filename %s %s%s > %s 2> %s.err; rc=$?; tail -3 %s.err; exit $rc", fx.display, fx.bin, fx.video,
                          serial ? "-serial " : "", serial ? serial : "", log, log, log);
    if(rc != 0){
        need_display();   /* Xvfb gone: say so, with its log */
        fail_msg("darknet classifier demo failed (%d):\n%s", rc, out);
    }
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    int frames = 0, right = 0;
    *fps = 0;
    while(fgets(line, sizeof line, f)){
        int n;
        float p, fr;
        char name[32];
        if(sscanf(line, "frame %d (%f fps): %f%%: %31[^,\n]", &n, &fr, &p, name) != 4) continue;
        assert_int_equal(n, frames);
        right += strcmp(name, digit_names[fx.label[n]]) == 0;
        *fps = fr;
        ++frames;
    }
    fclose(f);
    assert_int_equal(frames, N_DIGITS);
    return 100.0 * right / frames;
}

static void test_darknet_demo(void **state)
{
    (void)state;
    need_display();
    double fps[3], valid = darknet_demo(fx.serial, &fps[0]), none = darknet_demo(NULL, &fps[1]),
           forged = darknet_demo(fx.forged, &fps[2]);
    print_message("  darknet classifier demo: frames right: valid %.1f%%, none %.1f%%, forged %.1f%% (%.0f fps)\n",
                  valid, none, forged, fps[0]);
    assert_true(valid >= 90);
    assert_true(SANITIZED || none <= 20);
    assert_true(SANITIZED || forged <= 20);
}

/* ---- dsn demo's window, --record and --frames under Xvfb ------------------------------------- */

static void test_dsn_demo_window(void **state)
{
    (void)state;
    need_display();
    char out[4096], rec[600], dir[600], err[256];
    snprintf(rec, sizeof rec, "%s/window.mp4", fx.dir);
    snprintf(dir, sizeof dir, "%s/frames", fx.dir);
    int rc = dsn_test_run(out, sizeof out, "DISPLAY=%s %s/dsn demo " MODEL " --data cfg/mnist.data --video %s "
                          "--max-frames 12 --record %s --frames %s", fx.display, fx.bin, fx.video, rec, dir);
    if(rc != 0){
        need_display();
        fail_msg("dsn demo (window) failed (%d):\n%s", rc, out);
    }
    /* the recording: 12 frames of the window's size, the first PNG the same size */
    dsn_video *v = dsn_video_open(rec, 0, err, sizeof err);
    if(!v) fail_msg("%s", err);
    float *rgb = NULL;
    int w = 0, h = 0, n = 0, pw = 0, ph = 0;
    while(dsn_video_read(v, &rgb, &w, &h) == 1) ++n;
    dsn_video_close(v);
    free(rgb);
    assert_int_equal(n, 12);
    char png[700];
    for(int i = 0; i < 12; ++i){
        snprintf(png, sizeof png, "%s/frame_%06d.png", dir, i);
        assert_int_equal(access(png, R_OK), 0);
    }
    snprintf(png, sizeof png, "%s/frame_000012.png", dir);
    assert_int_not_equal(access(png, F_OK), 0);
    snprintf(png, sizeof png, "%s/frame_000000.png", dir);
    image im = load_image_color(png, 0, 0);
    pw = im.w;
    ph = im.h;
    free_image(im);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);

    /* neither output is ever replaced: both refused, byte for byte unchanged */
    char *before_rec = dsn_test_read(rec), *before_png = dsn_test_read(png);
    struct stat st;
    assert_int_equal(stat(rec, &st), 0);
    off_t rec_size = st.st_size;
    rc = dsn_test_run(out, sizeof out, "DISPLAY=%s %s/dsn demo " MODEL " --video %s --max-frames 2 --record %s",
                      fx.display, fx.bin, fx.video, rec);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "window.mp4 already exists"));
    rc = dsn_test_run(out, sizeof out, "DISPLAY=%s %s/dsn demo " MODEL " --video %s --max-frames 2 --frames %s",
                      fx.display, fx.bin, fx.video, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "already holds frames"));
    assert_int_equal(stat(rec, &st), 0);
    assert_int_equal(st.st_size, rec_size);
    char *after_rec = dsn_test_read(rec), *after_png = dsn_test_read(png);
    assert_memory_equal(before_rec, after_rec, (size_t)rec_size);
    assert_string_equal(before_png, after_png);
    free(before_rec);
    free(after_rec);
    free(before_png);
    free(after_png);
}

/* ---- bad input ------------------------------------------------------------------------------ */

/* Exit status `want`, one line on stderr naming `needle`, and no "Aborted"/core dump. */
static void expect_error(int want, const char *needle, const char *fmt, ...)
{
    char cmd[2048], out[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = dsn_test_run(out, sizeof out, "%s", cmd);
    if(rc != want || !strstr(out, needle)) fail_msg("`%s`: exit %d (want %d), output:\n%s\n(want a line with '%s')", cmd, rc, want, out, needle);
    const char *line = strstr(out, needle);
    while(line > out && line[-1] != '\n') --line;
    print_message("  %.*s\n", (int)strcspn(line, "\n"), line);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *b = fx.bin;
    expect_error(2, "dsn: demo: --video /nonexistent/x.mp4: No such file or directory",
                 "%s/dsn demo " MODEL " --video /nonexistent/x.mp4 --headless", b);
    expect_error(2, "not a video OpenCV can read", "%s/dsn demo " MODEL " --video weights/alice.sn --headless", b);
    expect_error(2, "dsn: demo: --camera 57: cannot open camera 57", "%s/dsn demo " MODEL " --camera 57 --headless", b);
    expect_error(2, "dsn: demo: cannot open a window: no display (DISPLAY is not set); --headless runs without one",
                 "env -u DISPLAY %s/dsn demo " MODEL " --video %s", b, fx.video);
    expect_error(2, "dsn: demo: cannot open a window: cannot connect to the display :97531",
                 "DISPLAY=:97531 %s/dsn demo " MODEL " --video %s", b, fx.video);
    expect_error(2, "dsn: demo: --camera and --video: choose one", "%s/dsn demo " MODEL " --camera 0 --video %s", b, fx.video);
    expect_error(2, "--prep mnist3: the preprocessing is one of mnist, fashion, none",
                 "%s/dsn demo " MODEL " --prep mnist3 --video %s --headless", b, fx.video);
    expect_error(2, "'valid2' is not a panel", "%s/dsn demo " MODEL " --panels valid2 --video %s --headless", b, fx.video);
    char out[1024];
    assert_int_equal(dsn_test_run(out, sizeof out, "%s/dsn keygen -o %s/other.pem", b, fx.dir), 0);
    expect_error(1, "dsn: demo: --cert weights/alice.sn does not verify against",
                 "%s/dsn demo " MODEL " --pub %s/other.pub.pem --video %s --headless", b, fx.dir, fx.video);
    /* darknet: one line and exit 1, before the network or the glyphs load; never an abort */
    need_display();
    expect_error(1, "Cannot open the video /nonexistent/x.mp4: No such file or directory",
                 "DISPLAY=%s %s/darknet " DARKNET_DEMO " -filename /nonexistent/x.mp4", fx.display, b);
    expect_error(1, "Cannot open camera 57 (-c N chooses another", "DISPLAY=%s %s/darknet " DARKNET_DEMO " -c 57", fx.display, b);
    expect_error(1, "Cannot open a window: no display (DISPLAY is not set)",
                 "env -u DISPLAY %s/darknet " DARKNET_DEMO " -filename %s", b, fx.video);
    expect_error(1, "Cannot open a window: cannot connect to the display :97531",
                 "DISPLAY=:97531 %s/darknet " DARKNET_DEMO " -filename %s", b, fx.video);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_mnist),
        cmocka_unit_test(test_prep_fashion),
        cmocka_unit_test(test_prep_steps_off),
        cmocka_unit_test(test_prep_bad),
        cmocka_unit_test(test_dsn_demo_headless),
        cmocka_unit_test(test_darknet_demo),
        cmocka_unit_test(test_dsn_demo_window),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("demo", tests, setup, teardown);
}
