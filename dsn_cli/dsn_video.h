/* dsn_video.h: the little of OpenCV that `dsn demo` and its test need, behind a C interface
 * (OpenCV 4 has no C API; dsn_video.cpp is the C++ behind it).
 *
 *     char err[256];
 *     dsn_video *v = dsn_video_open("digits.mp4", 0, err, sizeof err);  // NULL file: camera 0
 *     float *rgb = NULL;  int w, h;
 *     while(dsn_video_read(v, &rgb, &w, &h) == 1) { ... }               // planar RGB in 0..1
 *     dsn_video_close(v);  free(rgb);
 *
 *     dsn_canvas *c = dsn_canvas_new(640, 480);
 *     dsn_canvas_fill(c, 0, 0, 640, 480, DSN_RGB(20, 20, 20));
 *     dsn_canvas_image(c, 10, 10, 8, input, 28, 28, 1);                // nearest neighbour, 8x
 *     dsn_canvas_text(c, 10, 250, 0.5, DSN_RGB(255, 255, 255), "valid serial");
 *     if(dsn_window_check(err, sizeof err) == 0) key = dsn_window_show("dsn demo", c, 1);
 *     dsn_recorder *r = dsn_recorder_open("out.mp4", 640, 480, 15, err, sizeof err);
 *     dsn_recorder_write(r, c);  dsn_recorder_close(r);  dsn_canvas_free(c);
 *
 * Every function catches OpenCV's exceptions: a failure comes back as a return value (with the
 * reason in err where there is one), never as an abort. Images in and out are planar floats
 * [c][h][w] in 0..1 (Darknet's layout); c is 1 (grey) or 3 (RGB). Built without OpenCV
 * (make OPENCV=0), every open fails with a message saying so. */
#ifndef DSN_VIDEO_H
#define DSN_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSN_RGB(r, g, b) ((uint32_t)(((r) << 16) | ((g) << 8) | (b)))

/* ---- reading a camera or a video file ---------------------------------------------------- */

typedef struct dsn_video dsn_video;

/* Opens the video `file`, or camera number `camera` when file is NULL. NULL on failure, with err
 * naming the file (and why: missing, unreadable, not a video) or the camera. */
dsn_video *dsn_video_open(const char *file, int camera, char *err, size_t errlen);
/* The next frame into *rgb (planar RGB, realloc'ed to fit; the caller frees it). Returns 1, 0 at
 * the end of the video, -1 when memory runs out. */
int dsn_video_read(dsn_video *v, float **rgb, int *w, int *h);
/* The source's frame rate, 0 when it does not say. */
double dsn_video_fps(const dsn_video *v);
void dsn_video_close(dsn_video *v);

/* ---- drawing ----------------------------------------------------------------------------- */

typedef struct dsn_canvas dsn_canvas;

dsn_canvas *dsn_canvas_new(int w, int h);   /* black; NULL when out of memory */
void dsn_canvas_free(dsn_canvas *c);
int dsn_canvas_width(const dsn_canvas *c);
int dsn_canvas_height(const dsn_canvas *c);
/* Rectangles (clipped to the canvas); box draws the outline, `thick` pixels wide. */
void dsn_canvas_fill(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb);
void dsn_canvas_box(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb, int thick);
/* The image at (x, y), each pixel a scale x scale square (clipped to the canvas). */
void dsn_canvas_image(dsn_canvas *c, int x, int y, int scale, const float *im, int iw, int ih, int ic);
/* The image shrunk or enlarged (area averaging) to fit w x h, aspect kept, at (x, y). Returns the
 * factor used (canvas pixels per image pixel), 0 on failure. */
double dsn_canvas_image_fit(dsn_canvas *c, int x, int y, int w, int h, const float *im, int iw, int ih, int ic);
/* One line of text, its baseline at y; `size` 1.0 is about 22 pixels high. */
void dsn_canvas_text(dsn_canvas *c, int x, int y, double size, uint32_t rgb, const char *text);
int dsn_canvas_text_width(double size, const char *text);
/* The pixel at (x, y) as DSN_RGB, for tests. */
uint32_t dsn_canvas_pixel(const dsn_canvas *c, int x, int y);
/* The canvas as a PNG file in memory (*png malloc'ed; the caller frees it). Returns 0 or -1. */
int dsn_canvas_png(const dsn_canvas *c, unsigned char **png, size_t *len);

/* ---- a window ---------------------------------------------------------------------------- */

/* 0 when a window can open; otherwise -1 with the reason in err (no DISPLAY, an X server that
 * does not answer: OpenCV's Qt backend would abort the program). */
int dsn_window_check(char *err, size_t errlen);
/* Shows the canvas in the window `name` (opened on first use) and waits up to wait_ms (>= 1) for a
 * key. Returns the key's code (0..255), -1 for none, -2 when the user closed the window. */
int dsn_window_show(const char *name, const dsn_canvas *c, int wait_ms);
void dsn_window_close(const char *name);

/* ---- writing a video --------------------------------------------------------------------- */

typedef struct dsn_recorder dsn_recorder;

/* A w x h video at fps frames per second; the container and codec follow the extension: .mp4
 * (MPEG-4 part 2) or .avi (Motion JPEG). NULL on failure with err naming the path. */
dsn_recorder *dsn_recorder_open(const char *path, int w, int h, double fps, char *err, size_t errlen);
/* Appends the canvas (of the recorder's size). Returns 0 or -1. */
int dsn_recorder_write(dsn_recorder *r, const dsn_canvas *c);
void dsn_recorder_close(dsn_recorder *r);

#ifdef __cplusplus
}
#endif

#endif
