/* opencv_lazy.c: OpenCV loaded on first use, for the `darknet` and `dsn` executables.
 *
 * Debian's OpenCV modules pull in some 250 shared libraries (GDAL through imgcodecs, FFmpeg and
 * GStreamer through videoio): loading them took 0.25 s of every process start, most of what a
 * `dsn` command that never touches an image costs. The executables therefore link this file
 * instead of the OpenCV side of the build (Darknet's image_opencv.cpp, our dsn_video.cpp), which
 * the Makefile links into libdsn_opencv.so beside them. Each function here has the name and type
 * of the one it stands for; the first call of any of them dlopens that library once and takes
 * every function from it. A library that cannot be loaded is a fatal error naming its path.
 * libdarknet.a, libdarknet.so and the tests keep the real functions, linked directly.
 * Non-goals: unloading; finding the library anywhere but beside the executable. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_video.h"
#include "image.h"   /* load_image_cv, show_image_cv (darknet.h declares the others) */

/* X(return type, name, parameters, arguments) for each function returning a value, XV(...) for
 * each returning nothing. */
#define DSN_CV_FUNCS(X, XV) \
    X(image, load_image_cv, (char *filename, int channels), (filename, channels)) \
    X(int, show_image_cv, (image im, const char *name, int ms), (im, name, ms)) \
    XV(make_window, (char *name, int w, int h, int fullscreen), (name, w, h, fullscreen)) \
    X(int, window_check, (char *why, size_t len), (why, len)) \
    X(void *, open_video_stream, (const char *f, int c, int w, int h, int fps), (f, c, w, h, fps)) \
    X(image, get_image_from_stream, (void *p), (p)) \
    X(dsn_video *, dsn_video_open, (const char *file, int camera, char *err, size_t errlen), \
      (file, camera, err, errlen)) \
    X(int, dsn_video_read, (dsn_video *v, float **rgb, int *w, int *h), (v, rgb, w, h)) \
    X(double, dsn_video_fps, (const dsn_video *v), (v)) \
    XV(dsn_video_close, (dsn_video *v), (v)) \
    X(dsn_canvas *, dsn_canvas_new, (int w, int h), (w, h)) \
    XV(dsn_canvas_free, (dsn_canvas *c), (c)) \
    X(int, dsn_canvas_width, (const dsn_canvas *c), (c)) \
    X(int, dsn_canvas_height, (const dsn_canvas *c), (c)) \
    XV(dsn_canvas_fill, (dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb), (c, x, y, w, h, rgb)) \
    XV(dsn_canvas_box, (dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb, int thick), \
       (c, x, y, w, h, rgb, thick)) \
    XV(dsn_canvas_image, (dsn_canvas *c, int x, int y, int scale, const float *im, int iw, int ih, int ic), \
       (c, x, y, scale, im, iw, ih, ic)) \
    X(double, dsn_canvas_image_fit, \
      (dsn_canvas *c, int x, int y, int w, int h, const float *im, int iw, int ih, int ic), \
      (c, x, y, w, h, im, iw, ih, ic)) \
    XV(dsn_canvas_text, (dsn_canvas *c, int x, int y, double size, uint32_t rgb, const char *text), \
       (c, x, y, size, rgb, text)) \
    X(int, dsn_canvas_text_width, (double size, const char *text), (size, text)) \
    X(uint32_t, dsn_canvas_pixel, (const dsn_canvas *c, int x, int y), (c, x, y)) \
    X(int, dsn_canvas_png, (const dsn_canvas *c, unsigned char **png, size_t *len), (c, png, len)) \
    X(int, dsn_window_check, (char *err, size_t errlen), (err, errlen)) \
    X(int, dsn_window_show, (const char *name, const dsn_canvas *c, int wait_ms), (name, c, wait_ms)) \
    XV(dsn_window_close, (const char *name), (name)) \
    X(dsn_recorder *, dsn_recorder_open, \
      (const char *path, int w, int h, double fps, char *err, size_t errlen), (path, w, h, fps, err, errlen)) \
    X(int, dsn_recorder_write, (dsn_recorder *r, const dsn_canvas *c), (r, c)) \
    XV(dsn_recorder_close, (dsn_recorder *r), (r))

#define FIELD(ret, name, params, args) ret (*name) params;
#define FIELDV(name, params, args) void (*name) params;
static struct { DSN_CV_FUNCS(FIELD, FIELDV) } cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

/* The library's path: libdsn_opencv.so in the executable's folder. */
static void cv_path(char *path, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if(slash) *slash = '\0';
    snprintf(path, len, "%s/libdsn_opencv.so", slash ? exe : ".");
}

static void *cv_sym(void *lib, const char *path, const char *name)
{
    void *f = dlsym(lib, name);
    if(!f) darknet_fatal("OpenCV support: %s has no %s: %s", path, name, dlerror());
    return f;
}

static void cv_load(void)
{
    char path[PATH_MAX + 32];
    cv_path(path, sizeof path);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if(!lib) darknet_fatal("OpenCV support cannot be loaded: %s", dlerror());
#define LOAD(ret, name, params, args) *(void **)&cv.name = cv_sym(lib, path, #name);
#define LOADV(name, params, args) LOAD(void, name, params, args)
    DSN_CV_FUNCS(LOAD, LOADV)
}

#define STUB(ret, name, params, args) \
    ret name params { pthread_once(&cv_once, cv_load); return cv.name args; }
#define STUBV(name, params, args) \
    void name params { pthread_once(&cv_once, cv_load); cv.name args; }
DSN_CV_FUNCS(STUB, STUBV)
