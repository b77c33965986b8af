/* cmd_demo.c: `dsn demo`: a customer model on a camera or a video, with the valid serial, without
 * a serial and with a forged one, side by side.
 *
 * Each frame is preprocessed once (layers/dsn_prep.h: the MNIST recipe for a camera) and run as
 * one batch of three rows, one per panel; the [serial_stamp] layer stamps each row with its own
 * serial through dsn_stamp_override, as dsn eval does, and each panel shows that row of the
 * layer's output: exactly what the rest of the network saw. Output goes to a window, a video
 * (--record), PNG files (--frames) and/or JSON lines (--headless). Everything is checked before
 * the first frame: options, certificate (and signature with --pub), cfg against certificate,
 * labels, outputs, the display, the video or camera, the weights. Non-goals: more than one model,
 * tracking the digit between frames, audio. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "darknet.h"
#include "dsn_cert.h"
#include "dsn_eval.h"
#include "dsn_layers.h"
#include "dsn_prep.h"
#include "dsn_util.h"
#include "dsn_video.h"

enum { PANEL_VALID, PANEL_NONE, PANEL_FORGED, PANEL_COUNT };
static const char *const panel_names[PANEL_COUNT] = {"valid", "none", "forged"};
static const char *const panel_titles[PANEL_COUNT] = {"valid serial", "no serial", "forged serial"};

#define WINDOW_NAME "dsn demo"
#define LABELS_MAX 4096
#define DATA_FILE_MAX (1u << 20)

/* Layout, in canvas pixels. */
enum { PAD = 12, HEADER = 40, TITLE = 44, BAR_H = 20, FOOTER = 28, CAM_W = 300, LABEL_W = 80, PCT_W = 56 };

typedef struct demo_opts {
    const char *cfg, *weights, *cert, *pub, *video, *data, *prep, *record, *frames, *panels;
    int camera, headless, max_frames, seed, fps, threads;
    int no_gray, no_crop, no_invert, no_normalize, no_center;
} demo_opts;

typedef struct demo_run {
    demo_opts o;
    dsn_cert cert;
    dsn_prep prep;
    network *net;
    int w, h, c, classes, scale, bars, nbits;
    char **names;                       /* [classes]                                     */
    char *names_text;                   /* the labels file they point into               */
    dsn_serial serial[PANEL_COUNT];
    uint8_t has[PANEL_COUNT], on[PANEL_COUNT];
    dsn_rng rng;
    float *frame, *batch, *seen, *prob; /* frame; [3][whc] in; [3][whc] stamped; [3][classes] */
    int fw, fh;
    dsn_prep_info info;
    dsn_video *video;
    dsn_canvas *canvas;
    dsn_recorder *rec;
    char rec_tmp[PATH_MAX];
    int window, frames_written;
    double fps;
} demo_run;

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- inputs: certificate, cfg, labels ---------------------------------------------------- */

static int load_certificate(demo_run *d)
{
    return dsn_eval_cert_load("demo", &d->cert, d->o.cert, d->o.pub);
}

/* The cfg's input size, and its stamp geometry against the certificate's. */
static int check_cfg(demo_run *d)
{
    if(dsn_eval_cfg_for_cert("demo", d->o.cfg, d->o.cert, &d->cert, &d->w, &d->h, &d->c) != 0) return -1;
    if(d->c != 1 && d->c != 3) {
        dsn_error("demo: --cfg %s: channels=%d; the demo feeds 1 or 3", d->o.cfg, d->c);
        return -1;
    }
    return 0;
}

/* `key=value` of a Darknet .data file (spaces removed, # comments), copied into out; 0 or -1. */
static int data_value(const char *text, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for(const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        char line[PATH_MAX];
        size_t n = 0;
        for(const char *q = p; *q && *q != '\n' && n + 1 < sizeof line; ++q) {
            if(*q != ' ' && *q != '\t' && *q != '\r') line[n++] = *q;
        }
        line[n] = '\0';
        if(strncmp(line, key, klen) == 0 && line[klen] == '=') {
            snprintf(out, len, "%s", line + klen + 1);
            return 0;
        }
    }
    return -1;
}

/* --data: the labels (labels= or names=) and the preprocess= default. */
static int read_data(demo_run *d, char *prep, size_t preplen)
{
    char err[512], labels[PATH_MAX];
    size_t len;
    if(!d->o.data) return 0;
    char *text = dsn_read_file_err(d->o.data, DATA_FILE_MAX, &len, err, sizeof err);
    if(!text) {
        dsn_error("demo: --data: %s", err);
        return -1;
    }
    int has_labels = data_value(text, "labels", labels, sizeof labels) == 0 ||
                     data_value(text, "names", labels, sizeof labels) == 0;
    if(data_value(text, "preprocess", prep, preplen) != 0) prep[0] = '\0';
    free(text);
    if(!has_labels) {
        dsn_error("demo: --data %s: no labels= (or names=) line", d->o.data);
        return -1;
    }
    if(!(d->names_text = dsn_read_file_err(labels, DATA_FILE_MAX, &len, err, sizeof err))) {
        dsn_error("demo: --data %s: labels: %s", d->o.data, err);
        return -1;
    }
    d->names = calloc(LABELS_MAX, sizeof *d->names);
    int n = 0;
    for(char *p = d->names_text; d->names && p && *p && n < LABELS_MAX; ++n) {
        d->names[n] = p;
        p = strchr(p, '\n');
        if(p) *p++ = '\0';
        d->names[n][strcspn(d->names[n], "\r")] = '\0';
    }
    if(!d->names) dsn_die("out of memory");
    d->classes = n;
    return 0;
}

/* The preprocessing: --prep, else the .data's preprocess=, else mnist for a one-channel
 * network; then the --no-STEP switches. */
static int setup_prep(demo_run *d, const char *from_data)
{
    const char *mode = d->o.prep ? d->o.prep : *from_data ? from_data : d->c == 1 ? "mnist" : "none";
    if(dsn_prep_init(&d->prep, mode) != 0) {
        dsn_error("demo: %s %s: the preprocessing is one of %s", d->o.prep ? "--prep" : "preprocess=", mode,
                  DSN_PREP_MODES);
        return -1;
    }
    if(d->o.no_gray) d->prep.gray = 0;
    if(d->o.no_crop) d->prep.crop = 0;
    if(d->o.no_invert) d->prep.invert = 0;
    if(d->o.no_normalize) d->prep.normalize = 0;
    if(d->o.no_center) d->prep.center = 0;
    return 0;
}

/* --panels valid,none,forged (any subset, in any order). */
static int parse_panels(demo_run *d)
{
    char buf[256];
    if(!d->o.panels) {
        memset(d->on, 1, sizeof d->on);
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", d->o.panels);
    memset(d->on, 0, sizeof d->on);
    for(char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = 0;
        while(i < PANEL_COUNT && strcmp(t, panel_names[i]) != 0) ++i;
        if(i == PANEL_COUNT) {
            dsn_error("demo: --panels: '%s' is not a panel (valid, none, forged)", t);
            return -1;
        }
        d->on[i] = 1;
    }
    return 0;
}

/* ---- outputs ------------------------------------------------------------------------------ */

/* --record: the final name must be new; frames go to a hidden file beside it (same extension:
 * OpenCV picks the format by it), linked into place at the end. */
static int open_record(demo_run *d, int cw, int ch, double fps)
{
    char err[512], dir[PATH_MAX];
    const char *path = d->o.record, *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *ext = strrchr(base, '.');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 0, path);
    int n = snprintf(d->rec_tmp, sizeof d->rec_tmp, "%s.%s.%ld.tmp%s", dir, base, (long)getpid(), ext ? ext : "");
    if(n < 0 || (size_t)n >= sizeof d->rec_tmp) {
        dsn_error("demo: --record %s: the name is too long", path);
        d->rec_tmp[0] = '\0';
        return -1;
    }
    d->rec = dsn_recorder_open(d->rec_tmp, cw, ch, fps, err, sizeof err);
    if(!d->rec) {
        unlink(d->rec_tmp);
        dsn_error("demo: --record %s: %s", path, strstr(err, ": ") ? strstr(err, ": ") + 2 : err);
        d->rec_tmp[0] = '\0';
        return -1;
    }
    return 0;
}

static int finish_record(demo_run *d, int keep)
{
    if(!d->rec) return 0;
    dsn_recorder_close(d->rec);
    d->rec = NULL;
    int rc = 0;
    if(keep && link(d->rec_tmp, d->o.record) != 0) {
        dsn_error("demo: --record %s: %s (the recording is lost)", d->o.record, strerror(errno));
        rc = -1;
    }
    unlink(d->rec_tmp);
    return rc;
}

/* --frames DIR: a new or empty directory (nothing in it is ever replaced). */
static int check_frames_dir(const char *dir)
{
    struct stat st;
    if(stat(dir, &st) != 0) {
        if(errno == ENOENT && mkdir(dir, 0755) == 0) return 0;
        dsn_error("demo: --frames %s: %s", dir, strerror(errno));
        return -1;
    }
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/frame_000000.png", dir);
    if(!S_ISDIR(st.st_mode) || access(probe, F_OK) == 0) {
        dsn_error("demo: --frames %s: %s", dir, S_ISDIR(st.st_mode) ? "already holds frames: choose a new folder"
                                                                   : "exists and is not a folder");
        return -1;
    }
    return 0;
}

static int write_frame_png(demo_run *d, int n)
{
    unsigned char *png = NULL;
    size_t len = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/frame_%06d.png", d->o.frames, n);
    if(dsn_canvas_png(d->canvas, &png, &len) != 0) {
        dsn_error("demo: --frames: cannot encode frame %d", n);
        return -1;
    }
    int rc = dsn_write_file(path, png, len, 0644, DSN_WRITE_NEW);
    free(png);
    return rc;
}

/* ---- one frame ------------------------------------------------------------------------------ */

/* Preprocesses the frame, runs the three rows and keeps each row's stamped input. */
static int run_frame(demo_run *d)
{
    size_t in = (size_t)d->w * d->h * d->c;
    if(dsn_prep_run(d->batch, d->w, d->h, d->c, d->frame, d->fw, d->fh, 3, &d->prep, &d->info) != 0) {
        dsn_error("demo: cannot preprocess a %dx%d frame", d->fw, d->fh);
        return -1;
    }
    for(int p = 1; p < PANEL_COUNT; ++p) memcpy(d->batch + p * in, d->batch, in * sizeof(float));
    if(dsn_stamp_override(d->net, d->serial, d->has, PANEL_COUNT) != 0) {
        dsn_error("demo: --cfg %s: layer 0 is not a [serial_stamp] of %d bits", d->o.cfg, d->nbits);
        return -1;
    }
    const float *out = network_predict(d->net, d->batch);
    layer l0 = d->net->layers[0];
#ifdef GPU
    if(gpu_index >= 0) cuda_pull_array(l0.output_gpu, l0.output, (size_t)l0.outputs * l0.batch);
#endif
    memcpy(d->seen, l0.output, PANEL_COUNT * in * sizeof(float));
    memcpy(d->prob, out, (size_t)PANEL_COUNT * d->classes * sizeof(float));
    return 0;
}

static int top_class(const float *p, int n)
{
    int best = 0;
    for(int k = 1; k < n; ++k) {
        if(p[k] > p[best]) best = k;
    }
    return best;
}

/* One JSON line per shown panel: {"frame", "panel", "class", "label", "prob", "serial", "fps"}. */
static int print_json(demo_run *d, int frame)
{
    for(int p = 0; p < PANEL_COUNT; ++p) {
        if(!d->on[p]) continue;
        const float *prob = d->prob + (size_t)p * d->classes;
        int top = top_class(prob, d->classes);
        char serial[DSN_SERIAL_TEXT_MAX] = "";
        if(d->has[p]) dsn_serial_encode(serial, sizeof serial, &d->serial[p]);
        json_t *o = json_pack("{s:i, s:s, s:i, s:s, s:f, s:o, s:f}", "frame", frame, "panel", panel_names[p],
                              "class", top, "label", d->names[top], "prob", round(prob[top] * 1e4) / 1e4,
                              "serial", d->has[p] ? json_string(serial) : json_null(), "fps",
                              round(d->fps * 10) / 10);
        int bad = !o || json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) != 0 || fputc('\n', stdout) == EOF;
        json_decref(o);
        if(bad) {
            dsn_error("demo: cannot write to standard output");
            return -1;
        }
    }
    return fflush(stdout) == 0 ? 0 : -1;
}

/* ---- drawing ------------------------------------------------------------------------------ */

static int panel_width(const demo_run *d)
{
    int img = d->w * d->scale;
    return (img > 250 ? img : 250) + 2 * PAD;
}

static void canvas_size(const demo_run *d, int *cw, int *ch)
{
    *cw = PAD + CAM_W + PAD + PANEL_COUNT * (panel_width(d) + PAD);
    *ch = HEADER + TITLE + d->h * d->scale + PAD + d->bars * BAR_H + FOOTER;
}

/* The camera (or video): the frame, the region the network's input comes from (yellow) and the
 * ink's extent (green). */
static void draw_camera(demo_run *d, int x, int y)
{
    dsn_canvas *c = d->canvas;
    int boxh = d->h * d->scale;
    char src[64];
    if(d->o.video) snprintf(src, sizeof src, "video");
    else snprintf(src, sizeof src, "camera %d", d->o.camera);
    dsn_canvas_text(c, x, y + 18, 0.9, DSN_RGB(230, 230, 230), src);
    char steps[128];
    snprintf(steps, sizeof steps, "%s%s%s%s%s", d->prep.gray ? "gray " : "", d->prep.crop ? "crop " : "",
             d->prep.invert ? "invert " : "", d->prep.normalize ? "normalize " : "", d->prep.center ? "center" : "");
    dsn_canvas_text(c, x, y + 38, 0.6, DSN_RGB(150, 150, 150), *steps ? steps : "no preprocessing");
    y += TITLE;
    double f = dsn_canvas_image_fit(c, x, y, CAM_W, boxh, d->frame, d->fw, d->fh, 3);
    if(f <= 0) return;
    const dsn_prep_info *in = &d->info;
    dsn_canvas_box(c, x + (int)lrint(in->cx * f), y + (int)lrint(in->cy * f), (int)lrint(in->cw * f),
                   (int)lrint(in->ch * f), DSN_RGB(240, 200, 40), 1);
    if(!in->blank && d->prep.center) {
        dsn_canvas_box(c, x + (int)lrint(in->x0 * f), y + (int)lrint(in->y0 * f), (int)lrint((in->x1 - in->x0) * f),
                       (int)lrint((in->y1 - in->y0) * f), DSN_RGB(60, 220, 90), 1);
    }
    if(in->blank) dsn_canvas_text(c, x + 4, y + boxh - 8, 0.6, DSN_RGB(240, 200, 40), "no ink found");
}

/* The bars: every class in order for up to 10 classes, else the 10 most probable. */
static void draw_bars(demo_run *d, const float *prob, int x, int y, int pw)
{
    int order[10], n = d->bars, top = top_class(prob, d->classes), barw = pw - 2 * PAD - LABEL_W - PCT_W;
    for(int i = 0; i < n; ++i) {
        int best = -1;
        for(int k = 0; k < d->classes && d->classes > 10; ++k) {
            int used = 0;
            for(int j = 0; j < i; ++j) used |= order[j] == k;
            if(!used && (best < 0 || prob[k] > prob[best])) best = k;
        }
        order[i] = d->classes > 10 ? best : i;
    }
    for(int i = 0; i < n; ++i) {
        int k = order[i], yy = y + i * BAR_H;
        uint32_t col = k == top ? DSN_RGB(70, 200, 110) : DSN_RGB(110, 110, 130);
        char name[16], pct[16];
        snprintf(name, sizeof name, "%.9s", d->names[k]);
        snprintf(pct, sizeof pct, "%5.1f%%", 100 * prob[k]);
        dsn_canvas_text(d->canvas, x + PAD, yy + 14, 0.7, k == top ? DSN_RGB(255, 255, 255) : DSN_RGB(170, 170, 170), name);
        dsn_canvas_fill(d->canvas, x + PAD + LABEL_W, yy + 3, barw, BAR_H - 6, DSN_RGB(45, 45, 55));
        dsn_canvas_fill(d->canvas, x + PAD + LABEL_W, yy + 3, (int)lrintf(barw * prob[k]), BAR_H - 6, col);
        dsn_canvas_text(d->canvas, x + PAD + LABEL_W + barw + 4, yy + 14, 0.6, DSN_RGB(200, 200, 200), pct);
    }
}

static void draw_panel(demo_run *d, int p, int x, int y)
{
    int pw = panel_width(d), img = d->w * d->scale;
    size_t in = (size_t)d->w * d->h * d->c;
    char serial[DSN_SERIAL_TEXT_MAX] = "(nothing stamped)";
    if(d->has[p]) dsn_serial_encode(serial, sizeof serial, &d->serial[p]);
    uint32_t title = p == PANEL_VALID ? DSN_RGB(120, 230, 140) : DSN_RGB(240, 140, 120);
    dsn_canvas_text(d->canvas, x + PAD, y + 18, 0.9, title, panel_titles[p]);
    dsn_canvas_text(d->canvas, x + PAD, y + 38, 0.6, DSN_RGB(150, 150, 150), serial);
    if(!d->on[p]) {
        char hint[64];
        snprintf(hint, sizeof hint, "hidden: press %d", p + 1);
        dsn_canvas_text(d->canvas, x + PAD, y + TITLE + 30, 0.7, DSN_RGB(120, 120, 120), hint);
        return;
    }
    dsn_canvas_image(d->canvas, x + (pw - img) / 2, y + TITLE, d->scale, d->seen + p * in, d->w, d->h, d->c);
    draw_bars(d, d->prob + (size_t)p * d->classes, x, y + TITLE + img + PAD, pw);
}

static void draw(demo_run *d, int frame)
{
    dsn_canvas *c = d->canvas;
    int cw = dsn_canvas_width(c), ch = dsn_canvas_height(c), pw = panel_width(d);
    dsn_canvas_fill(c, 0, 0, cw, ch, DSN_RGB(24, 24, 30));
    char head[512];
    snprintf(head, sizeof head, "DSN demo: %s's model %s   frame %d   %.1f fps", d->cert.customer, d->cert.model,
             frame, d->fps);
    dsn_canvas_text(c, PAD, 27, 1.0, DSN_RGB(235, 235, 235), head);
    draw_camera(d, PAD, HEADER);
    for(int p = 0; p < PANEL_COUNT; ++p) {
        int x = PAD + CAM_W + PAD + p * (pw + PAD);
        dsn_canvas_fill(c, x, HEADER, pw, ch - HEADER - FOOTER, DSN_RGB(34, 34, 42));
        draw_panel(d, p, x, HEADER);
    }
    dsn_canvas_text(c, PAD, ch - 9, 0.6, DSN_RGB(140, 140, 140),
                    "keys: 1 2 3 show/hide a panel   f next forged serial   q or Esc quit");
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void next_forged(demo_run *d)
{
    dsn_eval_forged(&d->serial[PANEL_FORGED], 1, &d->cert.serial, &d->rng);
}

/* Window keys; returns 1 to quit. */
static int handle_key(demo_run *d, int key)
{
    if(key == -2 || key == 'q' || key == 'Q' || key == 27) return 1;
    if(key >= '1' && key < '1' + PANEL_COUNT) d->on[key - '1'] ^= 1;
    if(key == 'f' || key == 'F') next_forged(d);
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int loop(demo_run *d)
{
    double start = now_s(), period = d->o.fps > 0 ? 1.0 / d->o.fps : 0;
    int frame = 0, got = 0;
    for(; !stop_requested && (d->o.max_frames <= 0 || frame < d->o.max_frames); ++frame) {
        double t0 = now_s();
        if((got = dsn_video_read(d->video, &d->frame, &d->fw, &d->fh)) != 1) break;
        if(run_frame(d) != 0) return DSN_EXIT_ERROR;
        if(d->o.headless && print_json(d, frame) != 0) return DSN_EXIT_ERROR;
        if(d->canvas) draw(d, frame);
        if(d->rec && dsn_recorder_write(d->rec, d->canvas) != 0) {
            dsn_error("demo: --record %s: cannot write frame %d", d->o.record, frame);
            return DSN_EXIT_ERROR;
        }
        if(d->o.frames && write_frame_png(d, frame) != 0) return DSN_EXIT_ERROR;
        if(d->window) {
            double left = period - (now_s() - t0);
            if(handle_key(d, dsn_window_show(WINDOW_NAME, d->canvas, left > 0 ? (int)(left * 1000) : 1))) {
                ++frame;
                break;
            }
        }
        double dt = now_s() - t0;
        d->fps = frame ? 0.9 * d->fps + 0.1 / (dt > 1e-6 ? dt : 1e-6) : 1 / (dt > 1e-6 ? dt : 1e-6);
    }
    if(got < 0) {
        dsn_error("demo: out of memory reading a frame");
        return DSN_EXIT_ERROR;
    }
    double secs = now_s() - start;
    fprintf(stderr, "dsn: demo: %d frames in %.1f s (%.1f frames/s)\n", frame, secs, secs > 0 ? frame / secs : 0);
    return DSN_EXIT_OK;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Everything that can be refused is refused here, before the network loads. */
static int check_inputs(demo_run *d)
{
    int rc = load_certificate(d);
    if(rc != DSN_EXIT_OK) return rc;
    char prep[64] = "";
    if(check_cfg(d) != 0 || read_data(d, prep, sizeof prep) != 0 || setup_prep(d, prep) != 0 || parse_panels(d) != 0)
        return DSN_EXIT_ERROR;
    if(d->o.record && dsn_check_new(d->o.record, "choose another name for the recording") != 0) return DSN_EXIT_ERROR;
    if(d->o.frames && check_frames_dir(d->o.frames) != 0) return DSN_EXIT_ERROR;
    char err[512];
    if(!d->o.headless && dsn_window_check(err, sizeof err) != 0) {
        dsn_error("demo: cannot open a window: %s; --headless runs without one (with --record or --frames "
                  "to keep the pictures)", err);
        return DSN_EXIT_ERROR;
    }
    d->window = !d->o.headless;
    if(!(d->video = dsn_video_open(d->o.video, d->o.camera, err, sizeof err))) {
        if(d->o.video) dsn_error("demo: --video %s", err);
        else dsn_error("demo: --camera %d: %s", d->o.camera, err);
        return DSN_EXIT_ERROR;
    }
    return DSN_EXIT_OK;
}

static int load_model(demo_run *d)
{
    char err[1024], serial[DSN_SERIAL_TEXT_MAX];
    /* the layer reads DSN_SERIAL when parsed; every row is stamped through the override anyway */
    if(dsn_serial_encode(serial, sizeof serial, &d->cert.serial) < 0 || setenv("DSN_SERIAL", serial, 1) != 0) {
        dsn_error("demo: cannot set DSN_SERIAL");
        return -1;
    }
    if(!(d->net = dsn_eval_load_net(d->o.cfg, d->o.weights, PANEL_COUNT, err, sizeof err))) {
        dsn_error("demo: %s", err);
        return -1;
    }
    if(!dsn_stamp_state_of(d->net)) {
        dsn_error("demo: --cfg %s: layer 0 is not [serial_stamp]: not a customer model", d->o.cfg);
        return -1;
    }
    int outputs = d->net->outputs;
    if(d->names && d->classes != outputs) {
        dsn_error("demo: --data %s names %d labels, but --cfg %s outputs %d scores", d->o.data, d->classes,
                  d->o.cfg, outputs);
        return -1;
    }
    if(!d->names) {                     /* no --data: the class numbers */
        d->names_text = dsn_xmalloc((size_t)outputs * 12);
        d->names = dsn_xmalloc((size_t)outputs * sizeof *d->names);
        for(int k = 0; k < outputs; ++k) {
            d->names[k] = d->names_text + 12 * k;
            snprintf(d->names[k], 12, "%d", k);
        }
    }
    d->classes = outputs;
    return 0;
}

static int setup(demo_run *d)
{
    d->nbits = d->cert.bits;
    d->serial[PANEL_VALID] = d->cert.serial;
    d->has[PANEL_VALID] = 1;
    d->serial[PANEL_NONE] = d->cert.serial;
    d->has[PANEL_NONE] = 0;
    d->has[PANEL_FORGED] = 1;
    dsn_rng_seed(&d->rng, (uint64_t)d->o.seed * 0x9E3779B97F4A7C15ull + 1);
    next_forged(d);
    size_t in = (size_t)d->w * d->h * d->c;
    d->batch = dsn_xmalloc(PANEL_COUNT * in * sizeof(float));
    d->seen = dsn_xmalloc(PANEL_COUNT * in * sizeof(float));
    d->prob = dsn_xmalloc((size_t)PANEL_COUNT * d->classes * sizeof(float));
    d->scale = 224 / (d->w > d->h ? d->w : d->h);
    d->scale = d->scale < 1 ? 1 : d->scale;
    d->bars = d->classes < 10 ? d->classes : 10;
    if(!d->window && !d->o.record && !d->o.frames) return 0;
    int cw, ch;
    canvas_size(d, &cw, &ch);
    if(!(d->canvas = dsn_canvas_new(cw, ch))) dsn_die("out of memory");
    double fps = dsn_video_fps(d->video);
    if(d->o.record && open_record(d, cw, ch, fps > 0 ? fps : 15) != 0) return -1;
    return 0;
}

static void cleanup(demo_run *d)
{
    if(d->window) dsn_window_close(WINDOW_NAME);
    if(d->video) dsn_video_close(d->video);
    dsn_canvas_free(d->canvas);
    if(d->net) free_network(d->net);
    free(d->names);
    free(d->names_text);
    free(d->frame);
    free(d->batch);
    free(d->seen);
    free(d->prob);
}

int dsn_cmd_demo(int argc, char **argv)
{
    static demo_run d;
    memset(&d, 0, sizeof d);
    demo_opts *o = &d.o;
    o->camera = -1;
    o->threads = 1;
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &o->cfg, "FILE", "customer cfg ([serial_stamp] first)"},
        {"--weights", NULL, DSN_ARG_STR, &o->weights, "FILE", "customer weights"},
        {"--cert", NULL, DSN_ARG_STR, &o->cert, "FILE", "the customer's certificate (.sn): the valid serial"},
        {"--pub", NULL, DSN_ARG_STR, &o->pub, "FILE", "owner's public key: verify the certificate first"},
        {"--camera", NULL, DSN_ARG_INT, &o->camera, "N", "camera number (default 0 when no --video)"},
        {"--video", NULL, DSN_ARG_STR, &o->video, "FILE", "a video file instead of a camera"},
        {"--data", NULL, DSN_ARG_STR, &o->data, "FILE", "Darknet .data file: class names (labels=), preprocess="},
        {"--prep", NULL, DSN_ARG_STR, &o->prep, "MODE", "mnist, fashion or none (default: --data's, else mnist)"},
        {"--no-gray", NULL, DSN_ARG_FLAG, &o->no_gray, NULL, "preprocessing without the grey conversion"},
        {"--no-crop", NULL, DSN_ARG_FLAG, &o->no_crop, NULL, "... without the centre square crop"},
        {"--no-invert", NULL, DSN_ARG_FLAG, &o->no_invert, NULL, "... without inverting (ink already bright)"},
        {"--no-normalize", NULL, DSN_ARG_FLAG, &o->no_normalize, NULL, "... without the contrast normalisation"},
        {"--no-center", NULL, DSN_ARG_FLAG, &o->no_center, NULL, "... without fitting and centring the ink"},
        {"--panels", NULL, DSN_ARG_STR, &o->panels, "LIST", "panels shown: valid,none,forged (default all)"},
        {"--seed", NULL, DSN_ARG_INT, &o->seed, "N", "seed of the forged serials (default 0)"},
        {"--headless", NULL, DSN_ARG_FLAG, &o->headless, NULL, "no window: one JSON line per frame and panel"},
        {"--record", NULL, DSN_ARG_STR, &o->record, "FILE", "also write the window as a video (.mp4 or .avi; new file)"},
        {"--frames", NULL, DSN_ARG_STR, &o->frames, "DIR", "also write each frame as DIR/frame_NNNNNN.png (new folder)"},
        {"--max-frames", NULL, DSN_ARG_INT, &o->max_frames, "N", "stop after N frames (default: the end, or q)"},
        {"--fps", NULL, DSN_ARG_INT, &o->fps, "N", "show at most N frames per second (default: as fast as it runs)"},
        {"--threads", NULL, DSN_ARG_INT, &o->threads, "N", "threads for the network (default 1: one frame is small work)"},
    };
    const dsn_usage u = {
        "demo", "--cfg C.cfg --weights W --cert C.sn [--camera N | --video FILE] [options]",
        "Runs a customer model on a camera or a video and shows, side by side, what the network sees\n"
        "and what it answers with the valid serial, without a serial and with a forged serial: each\n"
        "panel is the network's input after preprocessing and stamping, with its prediction bars.\n"
        "Preprocessing (MNIST's recipe, for dark ink on white paper): grey, centre square, inverted,\n"
        "contrast normalised, the ink fitted in a 20x20 box and centred by its centre of mass in\n"
        "28x28 (fashion: a 28 box, centred); --no-STEP switches a step off.\n"
        "Keys: 1 2 3 show or hide a panel, f the next forged serial, q or Esc quit.\n"
        "--headless prints one JSON line per frame and panel: {\"frame\", \"panel\" (valid, none,\n"
        "forged), \"class\" (index), \"label\", \"prob\", \"serial\" (null: none), \"fps\"}.\n"
        "Exit status: 0 done, 1 the certificate does not verify against --pub, 2 bad input.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    const struct { const char *value, *what; } required[] = {
        {o->cfg, "--cfg FILE"}, {o->weights, "--weights FILE"}, {o->cert, "--cert FILE"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("demo: missing %s (see dsn demo --help)", required[i].what);
            return DSN_EXIT_ERROR;
        }
    }
    if(o->video && o->camera >= 0) {
        dsn_error("demo: --camera and --video: choose one");
        return DSN_EXIT_ERROR;
    }
    if((!o->video && o->camera < -1) || o->seed < 0 || o->max_frames < 0 || o->fps < 0) {
        dsn_error("demo: --camera, --seed, --max-frames and --fps take numbers >= 0");
        return DSN_EXIT_ERROR;
    }
    if(o->threads < 1 || o->threads > 256) {
        dsn_error("demo: --threads %d: from 1 to 256", o->threads);
        return DSN_EXIT_ERROR;
    }
#ifdef _OPENMP
    omp_set_num_threads(o->threads);    /* three 28x28 rows: thread start-up costs more than it saves */
#endif
    if(!o->video && o->camera < 0) o->camera = 0;

    int rc = check_inputs(&d);
    if(rc == DSN_EXIT_OK && (load_model(&d) != 0 || setup(&d) != 0)) rc = DSN_EXIT_ERROR;
    if(rc == DSN_EXIT_OK) {
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        rc = loop(&d);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if(finish_record(&d, rc == DSN_EXIT_OK) != 0 && rc == DSN_EXIT_OK) rc = DSN_EXIT_ERROR;
    cleanup(&d);
    return rc;
}
