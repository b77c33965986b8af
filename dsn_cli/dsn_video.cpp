// dsn_video.cpp: OpenCV behind the C interface of dsn_video.h (capture, drawing, window, writer).
//
// The only C++ in dsn_cli/. Every entry point catches cv::Exception (and std::bad_alloc) and
// turns it into a return value. Colours are DSN_RGB in the interface and BGR inside (OpenCV's).
// Non-goals: anything the demo does not draw; audio; codecs beyond what Debian's FFmpeg offers.
#include "dsn_video.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unistd.h>

#ifdef OPENCV
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

extern "C" int window_check(char *why, size_t len);   // darknet_patch/0032, in libdarknet

struct dsn_video { cv::VideoCapture cap; cv::Mat frame; };
struct dsn_canvas { cv::Mat m; };
struct dsn_recorder { cv::VideoWriter w; int width, height; };

static cv::Scalar bgr(uint32_t rgb)
{
    return cv::Scalar(rgb & 0xff, (rgb >> 8) & 0xff, (rgb >> 16) & 0xff);
}

static unsigned char byte_of(float v)
{
    return (unsigned char)(v <= 0 ? 0 : v >= 1 ? 255 : std::lround(v * 255.0f));
}

// planar floats [c][h][w] to an 8-bit BGR Mat
static cv::Mat to_mat(const float *im, int iw, int ih, int ic)
{
    cv::Mat m(ih, iw, CV_8UC3);
    size_t plane = (size_t)iw * ih;
    for(int y = 0; y < ih; ++y){
        unsigned char *row = m.ptr<unsigned char>(y);
        for(int x = 0; x < iw; ++x){
            size_t i = (size_t)y * iw + x;
            for(int k = 0; k < 3; ++k) row[3 * x + (2 - k)] = byte_of(im[(ic == 3 ? k : 0) * plane + i]);
        }
    }
    return m;
}

// ---- reading --------------------------------------------------------------------------------

dsn_video *dsn_video_open(const char *file, int camera, char *err, size_t errlen)
{
    if(file && access(file, R_OK) != 0){
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return NULL;
    }
    dsn_video *v = new(std::nothrow) dsn_video;
    if(!v){
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    // OpenCV warns on stderr about streams it cannot open: the caller reports it in one line
    cv::utils::logging::LogLevel level = cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    try {
        // files through FFmpeg and cameras through V4L2 (every webcam on Linux): on a stream that
        // does not open, OpenCV would go on to probe GStreamer, which loads (and leaks) every
        // plugin it has, for seconds
        if(file) v->cap.open(file, cv::CAP_FFMPEG);
        else v->cap.open(camera, cv::CAP_V4L2);
    } catch(const cv::Exception &e) {
        (void)e;
    }
    cv::utils::logging::setLogLevel(level);
    if(!v->cap.isOpened()){
        if(file) snprintf(err, errlen, "%s: not a video OpenCV can read", file);
        else snprintf(err, errlen, "cannot open camera %d (is there a /dev/video%d?)", camera, camera);
        delete v;
        return NULL;
    }
    return v;
}

int dsn_video_read(dsn_video *v, float **rgb, int *w, int *h)
{
    try {
        if(!v->cap.read(v->frame) || v->frame.empty()) return 0;
        cv::Mat f;
        if(v->frame.channels() == 3) f = v->frame;
        else if(v->frame.channels() == 1) cv::cvtColor(v->frame, f, cv::COLOR_GRAY2BGR);
        else cv::cvtColor(v->frame, f, cv::COLOR_BGRA2BGR);
        if(f.depth() != CV_8U) return -1;
        int fw = f.cols, fh = f.rows;
        size_t plane = (size_t)fw * fh;
        float *buf = (float *)realloc(*rgb, 3 * plane * sizeof(float));
        if(!buf) return -1;
        *rgb = buf;
        for(int y = 0; y < fh; ++y){
            const unsigned char *row = f.ptr<unsigned char>(y);
            for(int x = 0; x < fw; ++x){
                for(int k = 0; k < 3; ++k) buf[k * plane + (size_t)y * fw + x] = row[3 * x + (2 - k)] / 255.0f;
            }
        }
        *w = fw;
        *h = fh;
        return 1;
    } catch(const cv::Exception &e) {
        (void)e;
        return 0;
    }
}

double dsn_video_fps(const dsn_video *v)
{
    double fps = v->cap.get(cv::CAP_PROP_FPS);
    return fps > 0 && fps < 1000 ? fps : 0;
}

void dsn_video_close(dsn_video *v)
{
    delete v;
}

// ---- drawing --------------------------------------------------------------------------------

dsn_canvas *dsn_canvas_new(int w, int h)
{
    if(w < 1 || h < 1) return NULL;
    try {
        dsn_canvas *c = new dsn_canvas;
        c->m = cv::Mat::zeros(h, w, CV_8UC3);
        return c;
    } catch(...) {
        return NULL;
    }
}

void dsn_canvas_free(dsn_canvas *c)
{
    delete c;
}

int dsn_canvas_width(const dsn_canvas *c) { return c->m.cols; }
int dsn_canvas_height(const dsn_canvas *c) { return c->m.rows; }

void dsn_canvas_fill(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
    cv::Rect r = cv::Rect(x, y, w, h) & cv::Rect(0, 0, c->m.cols, c->m.rows);
    if(r.area() > 0) c->m(r).setTo(bgr(rgb));
}

void dsn_canvas_box(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb, int thick)
{
    for(int t = 0; t < thick; ++t){
        dsn_canvas_fill(c, x - t, y - t, w + 2 * t, 1, rgb);
        dsn_canvas_fill(c, x - t, y + h - 1 + t, w + 2 * t, 1, rgb);
        dsn_canvas_fill(c, x - t, y - t, 1, h + 2 * t, rgb);
        dsn_canvas_fill(c, x + w - 1 + t, y - t, 1, h + 2 * t, rgb);
    }
}

void dsn_canvas_image(dsn_canvas *c, int x, int y, int scale, const float *im, int iw, int ih, int ic)
{
    size_t plane = (size_t)iw * ih;
    for(int j = 0; j < ih * scale; ++j){
        int Y = y + j;
        if(Y < 0 || Y >= c->m.rows) continue;
        unsigned char *row = c->m.ptr<unsigned char>(Y);
        for(int i = 0; i < iw * scale; ++i){
            int X = x + i;
            if(X < 0 || X >= c->m.cols) continue;
            size_t s = (size_t)(j / scale) * iw + i / scale;
            for(int k = 0; k < 3; ++k) row[3 * X + (2 - k)] = byte_of(im[(ic == 3 ? k : 0) * plane + s]);
        }
    }
}

double dsn_canvas_image_fit(dsn_canvas *c, int x, int y, int w, int h, const float *im, int iw, int ih, int ic)
{
    try {
        double f = std::fmin((double)w / iw, (double)h / ih);
        int tw = (int)std::lround(iw * f), th = (int)std::lround(ih * f);
        if(tw < 1 || th < 1) return 0;
        cv::Mat small;
        cv::resize(to_mat(im, iw, ih, ic), small, cv::Size(tw, th), 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        cv::Rect dst = cv::Rect(x, y, tw, th) & cv::Rect(0, 0, c->m.cols, c->m.rows);
        if(dst.area() > 0) small(cv::Rect(dst.x - x, dst.y - y, dst.width, dst.height)).copyTo(c->m(dst));
        return f;
    } catch(...) {
        return 0;
    }
}

void dsn_canvas_text(dsn_canvas *c, int x, int y, double size, uint32_t rgb, const char *text)
{
    try {
        cv::putText(c->m, text, cv::Point(x, y), cv::FONT_HERSHEY_SIMPLEX, size * 0.6, bgr(rgb),
                    size >= 0.9 ? 2 : 1, cv::LINE_AA);
    } catch(const cv::Exception &e) {
        (void)e;
    }
}

int dsn_canvas_text_width(double size, const char *text)
{
    int base = 0;
    return cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, size * 0.6, size >= 0.9 ? 2 : 1, &base).width;
}

uint32_t dsn_canvas_pixel(const dsn_canvas *c, int x, int y)
{
    const unsigned char *p = c->m.ptr<unsigned char>(y) + 3 * x;
    return DSN_RGB((uint32_t)p[2], (uint32_t)p[1], (uint32_t)p[0]);
}

int dsn_canvas_png(const dsn_canvas *c, unsigned char **png, size_t *len)
{
    try {
        std::vector<unsigned char> buf;
        if(!cv::imencode(".png", c->m, buf)) return -1;
        unsigned char *p = (unsigned char *)malloc(buf.size());
        if(!p) return -1;
        memcpy(p, buf.data(), buf.size());
        *png = p;
        *len = buf.size();
        return 0;
    } catch(...) {
        return -1;
    }
}

// ---- the window -----------------------------------------------------------------------------

int dsn_window_check(char *err, size_t errlen)
{
    return window_check(err, errlen);
}

int dsn_window_show(const char *name, const dsn_canvas *c, int wait_ms)
{
    try {
        cv::imshow(name, c->m);
        int key = cv::waitKey(wait_ms < 1 ? 1 : wait_ms);
        if(cv::getWindowProperty(name, cv::WND_PROP_VISIBLE) < 1) return -2;
        return key < 0 ? -1 : key & 0xff;
    } catch(const cv::Exception &e) {
        (void)e;
        return -2;
    }
}

void dsn_window_close(const char *name)
{
    try {
        cv::destroyWindow(name);
        cv::waitKey(1);
    } catch(const cv::Exception &e) {
        (void)e;
    }
}

// ---- writing --------------------------------------------------------------------------------

dsn_recorder *dsn_recorder_open(const char *path, int w, int h, double fps, char *err, size_t errlen)
{
    const char *dot = strrchr(path, '.');
    int fourcc;
    if(dot && (strcmp(dot, ".mp4") == 0 || strcmp(dot, ".m4v") == 0)) fourcc = cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    else if(dot && strcmp(dot, ".avi") == 0) fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    else {
        snprintf(err, errlen, "%s: the name must end in .mp4 or .avi (the format follows it)", path);
        return NULL;
    }
    try {
        dsn_recorder *r = new dsn_recorder;
        r->width = w;
        r->height = h;
        if(r->w.open(path, fourcc, fps > 0 ? fps : 15, cv::Size(w, h))) return r;
        delete r;
    } catch(...) {
    }
    snprintf(err, errlen, "%s: OpenCV cannot write this video", path);
    return NULL;
}

int dsn_recorder_write(dsn_recorder *r, const dsn_canvas *c)
{
    if(c->m.cols != r->width || c->m.rows != r->height) return -1;
    try {
        r->w.write(c->m);
        return 0;
    } catch(const cv::Exception &e) {
        (void)e;
        return -1;
    }
}

void dsn_recorder_close(dsn_recorder *r)
{
    if(!r) return;
    try {
        r->w.release();
    } catch(const cv::Exception &e) {
        (void)e;
    }
    delete r;
}

#else  // built without OpenCV: every open says so

static const char no_opencv[] = "this dsn was built without OpenCV (make OPENCV=1)";

dsn_video *dsn_video_open(const char *file, int camera, char *err, size_t errlen)
{
    (void)file; (void)camera;
    snprintf(err, errlen, "%s", no_opencv);
    return NULL;
}
int dsn_video_read(dsn_video *v, float **rgb, int *w, int *h) { (void)v; (void)rgb; (void)w; (void)h; return 0; }
double dsn_video_fps(const dsn_video *v) { (void)v; return 0; }
void dsn_video_close(dsn_video *v) { (void)v; }
dsn_canvas *dsn_canvas_new(int w, int h) { (void)w; (void)h; return NULL; }
void dsn_canvas_free(dsn_canvas *c) { (void)c; }
int dsn_canvas_width(const dsn_canvas *c) { (void)c; return 0; }
int dsn_canvas_height(const dsn_canvas *c) { (void)c; return 0; }
void dsn_canvas_fill(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb) { (void)c; (void)x; (void)y; (void)w; (void)h; (void)rgb; }
void dsn_canvas_box(dsn_canvas *c, int x, int y, int w, int h, uint32_t rgb, int thick) { (void)c; (void)x; (void)y; (void)w; (void)h; (void)rgb; (void)thick; }
void dsn_canvas_image(dsn_canvas *c, int x, int y, int s, const float *im, int iw, int ih, int ic) { (void)c; (void)x; (void)y; (void)s; (void)im; (void)iw; (void)ih; (void)ic; }
double dsn_canvas_image_fit(dsn_canvas *c, int x, int y, int w, int h, const float *im, int iw, int ih, int ic) { (void)c; (void)x; (void)y; (void)w; (void)h; (void)im; (void)iw; (void)ih; (void)ic; return 0; }
void dsn_canvas_text(dsn_canvas *c, int x, int y, double size, uint32_t rgb, const char *text) { (void)c; (void)x; (void)y; (void)size; (void)rgb; (void)text; }
int dsn_canvas_text_width(double size, const char *text) { (void)size; (void)text; return 0; }
uint32_t dsn_canvas_pixel(const dsn_canvas *c, int x, int y) { (void)c; (void)x; (void)y; return 0; }
int dsn_canvas_png(const dsn_canvas *c, unsigned char **png, size_t *len) { (void)c; (void)png; (void)len; return -1; }
int dsn_window_check(char *err, size_t errlen) { snprintf(err, errlen, "%s", no_opencv); return -1; }
int dsn_window_show(const char *name, const dsn_canvas *c, int wait_ms) { (void)name; (void)c; (void)wait_ms; return -2; }
void dsn_window_close(const char *name) { (void)name; }
dsn_recorder *dsn_recorder_open(const char *path, int w, int h, double fps, char *err, size_t errlen)
{
    (void)path; (void)w; (void)h; (void)fps;
    snprintf(err, errlen, "%s", no_opencv);
    return NULL;
}
int dsn_recorder_write(dsn_recorder *r, const dsn_canvas *c) { (void)r; (void)c; return -1; }
void dsn_recorder_close(dsn_recorder *r) { (void)r; }

#endif
