/* dsn_prep.c: camera frames to MNIST-like network inputs (see dsn_prep.h).
 *
 * The work happens at the frame's resolution on the chosen region (the centred square): grey or
 * colour planes, inverted and contrast-normalised there, the ink's extent and mass measured there,
 * and only the last step resamples to the network's size, so thin strokes are averaged, not lost
 * between samples. Non-goals: deskewing (MNIST was not deskewed), stroke thickening, tracking. */
#include "dsn_prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HIST_BINS 1024

int dsn_prep_init(dsn_prep *p, const char *mode)
{
    static const struct { const char *name; int on, box, com; } modes[] = {
        {"mnist", 1, 20, 1},     /* LeCun et al.: 20x20 box, centre of mass at the centre of 28x28 */
        {"fashion", 1, 28, 0},   /* Zalando: longest edge to 28, extended and centred               */
        {"none", 0, 28, 1},
    };
    for(size_t i = 0; i < sizeof modes / sizeof modes[0]; ++i){
        if(mode && strcmp(mode, modes[i].name) == 0){
            int on = modes[i].on;
            *p = (dsn_prep){on, on, on, on, on, modes[i].box, modes[i].com};
            return 0;
        }
    }
    *p = (dsn_prep){0, 0, 0, 0, 0, 28, 1};
    return -1;
}

int dsn_prep_known(const char *mode)
{
    dsn_prep p;
    return dsn_prep_init(&p, mode) == 0;
}

/* ---- resampling: separable, area averaging when shrinking, bilinear when enlarging ---------- */

/* w: [dst][n], from sources first..first+n-1 (clamped to the line's ends, 0..len-1) */
typedef struct taps { int n, len, *first; float *w; } taps;

/* 1-D weights from source span [r0, r0 + rlen) of a line of `slen` samples onto `dlen` samples. */
static int taps_make(taps *t, int dlen, float r0, float rlen, int slen)
{
    float f = rlen / (float)dlen;
    t->n = f >= 1 ? (int)ceilf(f) + 1 : 2;
    t->len = slen;
    t->first = calloc((size_t)dlen, sizeof *t->first);
    t->w = calloc((size_t)dlen * (size_t)t->n, sizeof *t->w);
    if(!t->first || !t->w) return -1;
    for(int i = 0; i < dlen; ++i){
        float *w = t->w + (size_t)i * t->n;
        if(f >= 1){
            float a = r0 + i * f, b = a + f;
            int s0 = (int)floorf(a);
            t->first[i] = s0;
            for(int k = 0; k < t->n; ++k){
                float lo = fmaxf(a, (float)(s0 + k)), hi = fminf(b, (float)(s0 + k + 1));
                w[k] = hi > lo ? (hi - lo) / f : 0;
            }
        } else {
            float u = r0 + (i + 0.5f) * f - 0.5f;
            int s0 = (int)floorf(u);
            t->first[i] = s0;
            w[0] = 1 - (u - s0);
            w[1] = u - s0;
        }
    }
    return 0;
}

static void taps_free(taps *t)
{
    free(t->first);
    free(t->w);
}

static float tap(const taps *t, int i, const float *line, int stride)
{
    const float *w = t->w + (size_t)i * t->n;
    float v = 0;
    for(int k = 0; k < t->n; ++k){
        int s = t->first[i] + k;
        s = s < 0 ? 0 : s >= t->len ? t->len - 1 : s;
        if(w[k] != 0) v += w[k] * line[(size_t)s * stride];
    }
    return v;
}

/* dst [ch][dh][dw] from region (rx, ry, rw, rh) of src [ch][sh][sw]. Returns 0 or -1 (memory). */
static int resample(float *dst, int dw, int dh, const float *src, int sw, int sh, int ch, float rx, float ry,
                    float rw, float rh)
{
    taps tx = {0}, ty = {0};
    float *tmp = calloc((size_t)sh * dw, sizeof *tmp);
    int rc = -1;
    if(!tmp || taps_make(&tx, dw, rx, rw, sw) != 0 || taps_make(&ty, dh, ry, rh, sh) != 0) goto done;
    for(int c = 0; c < ch; ++c){
        const float *plane = src + (size_t)c * sw * sh;
        for(int y = 0; y < sh; ++y){
            for(int x = 0; x < dw; ++x) tmp[(size_t)y * dw + x] = tap(&tx, x, plane + (size_t)y * sw, 1);
        }
        for(int y = 0; y < dh; ++y){
            for(int x = 0; x < dw; ++x) dst[((size_t)c * dh + y) * dw + x] = tap(&ty, y, tmp + x, dw);
        }
    }
    rc = 0;
done:
    taps_free(&tx);
    taps_free(&ty);
    free(tmp);
    return rc;
}

/* ---- the steps -------------------------------------------------------------------------- */

/* The region's planes: luma, the first channel, or the colours. */
static void take_region(float *work, int wc, const float *frame, int w, int h, int c, int gray,
                        const dsn_prep_info *r)
{
    size_t n = (size_t)r->cw * r->ch;
    for(int y = 0; y < r->ch; ++y){
        for(int x = 0; x < r->cw; ++x){
            size_t s = (size_t)(r->cy + y) * w + (r->cx + x), d = (size_t)y * r->cw + x, plane = (size_t)w * h;
            if(wc == 1 && gray && c == 3) work[d] = 0.299f * frame[s] + 0.587f * frame[plane + s] + 0.114f * frame[2 * plane + s];
            else for(int k = 0; k < wc; ++k) work[k * n + d] = frame[(size_t)k * plane + s];
        }
    }
}

/* Percentile q (0..1) of the per-pixel channel means, from a histogram. */
static float percentile(const unsigned *hist, size_t n, float q)
{
    size_t want = (size_t)(q * (float)(n - 1)), seen = 0;
    for(int b = 0; b < HIST_BINS; ++b){
        seen += hist[b];
        if(seen > want) return (b + 0.5f) / HIST_BINS;
    }
    return 1;
}

/* Paper to 0, ink to 1 (see dsn_prep.h). Returns 1 when the region is blank. */
static int normalize(float *work, int wc, size_t n)
{
    unsigned *hist = calloc(HIST_BINS, sizeof *hist);
    if(!hist) return 1;
    for(size_t i = 0; i < n; ++i){
        float v = 0;
        for(int k = 0; k < wc; ++k) v += work[k * n + i];
        int b = (int)(v / wc * HIST_BINS);
        hist[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
    float lo = percentile(hist, n, 0.5f), hi = percentile(hist, n, 0.995f);
    free(hist);
    if(hi - lo < DSN_PREP_BLANK) return 1;
    float t = lo + 0.25f * (hi - lo), s = 1 / (hi - t);
    for(size_t i = 0; i < n * (size_t)wc; ++i){
        float v = (work[i] - t) * s;
        work[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return 0;
}

/* The ink's extent along one axis: from the first index where the mass reaches 0.5% to the last
 * one (exclusive end). */
static void extent(const double *mass, int n, float *a, float *b)
{
    double total = 0, run = 0;
    for(int i = 0; i < n; ++i) total += mass[i];
    int i0 = 0, i1 = n - 1;
    for(i0 = 0; i0 < n - 1 && (run += mass[i0]) < 0.005 * total; ++i0) {}
    run = 0;
    for(i1 = n - 1; i1 > i0 && (run += mass[i1]) < 0.005 * total; --i1) {}
    *a = (float)i0;
    *b = (float)(i1 + 1);
}

/* Scales the ink's extent into a box and centres it (see dsn_prep.h). Returns 0, 1 (no ink) or -1. */
static int center(float *out, int ow, int oh, int wc, const float *work, dsn_prep_info *r, const dsn_prep *p)
{
    int cw = r->cw, chh = r->ch;
    size_t n = (size_t)cw * chh;
    double *col = calloc((size_t)cw, sizeof *col), *row = calloc((size_t)chh, sizeof *row), total = 0;
    if(!col || !row){
        free(col);
        free(row);
        return -1;
    }
    for(int y = 0; y < chh; ++y){
        for(int x = 0; x < cw; ++x){
            float v = 0;
            for(int k = 0; k < wc; ++k) v += work[k * n + (size_t)y * cw + x];
            col[x] += v;
            row[y] += v;
            total += v;
        }
    }
    float x0, x1, y0, y1;
    extent(col, cw, &x0, &x1);
    extent(row, chh, &y0, &y1);
    free(col);
    free(row);
    if(total <= 0) return 1;
    r->x0 = r->cx + x0; r->x1 = r->cx + x1; r->y0 = r->cy + y0; r->y1 = r->cy + y1;
    float bw = x1 - x0, bh = y1 - y0, s = (float)p->box / fmaxf(bw, bh);
    int tw = (int)lrintf(bw * s), th = (int)lrintf(bh * s);
    tw = tw < 1 ? 1 : tw;
    th = th < 1 ? 1 : th;
    float *patch = calloc((size_t)tw * th * wc, sizeof *patch);
    if(!patch || resample(patch, tw, th, work, cw, chh, wc, x0, y0, bw, bh) != 0){
        free(patch);
        return -1;
    }
    double m = 0, mx = 0, my = 0;
    for(int y = 0; y < th; ++y){
        for(int x = 0; x < tw; ++x){
            double v = 0;
            for(int k = 0; k < wc; ++k) v += patch[((size_t)k * th + y) * tw + x];
            m += v;
            mx += v * (x + 0.5);
            my += v * (y + 0.5);
        }
    }
    int ox, oy;
    if(p->com && m > 0){
        ox = (int)lrint(ow / 2.0 - mx / m);
        oy = (int)lrint(oh / 2.0 - my / m);
    } else {
        ox = (ow - tw) / 2;
        oy = (oh - th) / 2;
    }
    memset(out, 0, (size_t)ow * oh * wc * sizeof *out);
    for(int k = 0; k < wc; ++k){
        for(int y = 0; y < th; ++y){
            for(int x = 0; x < tw; ++x){
                int X = x + ox, Y = y + oy;
                if(X >= 0 && X < ow && Y >= 0 && Y < oh) out[((size_t)k * oh + Y) * ow + X] = patch[((size_t)k * th + y) * tw + x];
            }
        }
    }
    free(patch);
    return 0;
}

/* ---- the pipeline ----------------------------------------------------------------------- */

int dsn_prep_run(float *out, int ow, int oh, int oc, const float *frame, int w, int h, int c,
                 const dsn_prep *p, dsn_prep_info *info)
{
    dsn_prep_info r = {0};
    if(ow < 1 || oh < 1 || (oc != 1 && oc != 3)) return -1;
    memset(out, 0, (size_t)ow * oh * oc * sizeof *out);
    if(w < 1 || h < 1 || (c != 1 && c != 3)) return -1;
    int side = w < h ? w : h;
    r.cw = p->crop ? side : w;
    r.ch = p->crop ? side : h;
    r.cx = (w - r.cw) / 2;
    r.cy = (h - r.ch) / 2;
    int wc = (oc == 1 || (p->gray && c == 3)) ? 1 : c;
    size_t n = (size_t)r.cw * r.ch;
    float *work = malloc(n * wc * sizeof *work), *res = malloc((size_t)ow * oh * wc * sizeof *res);
    int rc = -1;
    if(!work || !res) goto done;
    take_region(work, wc, frame, w, h, c, p->gray, &r);
    if(p->invert){
        for(size_t i = 0; i < n * wc; ++i) work[i] = 1 - work[i];
    }
    r.blank = p->normalize && normalize(work, wc, n);
    r.x0 = (float)r.cx; r.y0 = (float)r.cy; r.x1 = (float)(r.cx + r.cw); r.y1 = (float)(r.cy + r.ch);
    if(r.blank){
        memset(res, 0, (size_t)ow * oh * wc * sizeof *res);
    } else if(p->center){
        int got = center(res, ow, oh, wc, work, &r, p);
        if(got < 0) goto done;
        r.blank = got;
        if(got) memset(res, 0, (size_t)ow * oh * wc * sizeof *res);
    } else if(resample(res, ow, oh, work, r.cw, r.ch, wc, 0, 0, (float)r.cw, (float)r.ch) != 0){
        goto done;
    }
    if(p->normalize && !r.blank){               /* the brightest pixel to 1 after resampling */
        float mx = 0;
        for(size_t i = 0; i < (size_t)ow * oh * wc; ++i) mx = fmaxf(mx, res[i]);
        if(mx > 0) for(size_t i = 0; i < (size_t)ow * oh * wc; ++i) res[i] /= mx;
    }
    for(int k = 0; k < oc; ++k){
        memcpy(out + (size_t)k * ow * oh, res + (size_t)(wc == 1 ? 0 : k) * ow * oh, (size_t)ow * oh * sizeof *out);
    }
    rc = 0;
done:
    free(work);
    free(res);
    if(info) *info = r;
    return rc;
}

image dsn_prep_image(image frame, int w, int h, int c, const char *mode)
{
    dsn_prep p;
    image none = {0, 0, 0, 0};
    if(dsn_prep_init(&p, mode) != 0 || w < 1 || h < 1 || (c != 1 && c != 3)) return none;
    image out = make_image(w, h, c);
    if(dsn_prep_run(out.data, w, h, c, frame.data, frame.w, frame.h, frame.c, &p, NULL) != 0){
        free_image(out);
        return none;
    }
    return out;
}
