/* dsn_stamp.c: the stamp grid's geometry and the pixels it writes (see dsn_stamp.h).
 *
 * Shared by the [serial_stamp] layer and `dsn stamp`, so a stamped file and a stamp applied inside
 * the network are the same pixels. Non-goals: no image I/O, no resizing, no allocation. */
#include "dsn_stamp.h"

#include <stdio.h>
#include <string.h>

static const char *const corner_names[DSN_CORNER_COUNT] = {"tl", "tr", "bl", "br"};

int dsn_corner_from_name(const char *name)
{
    if(!name) return -1;
    for(int c = 0; c < DSN_CORNER_COUNT; ++c) {
        if(strcmp(name, corner_names[c]) == 0) return c;
    }
    return -1;
}

const char *dsn_corner_name(dsn_corner c)
{
    return ((int)c >= 0 && c < DSN_CORNER_COUNT) ? corner_names[c] : "?";
}

int dsn_geometry_init(dsn_geometry *g, int bits, int cell, dsn_corner corner, int margin,
                      char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if(bits < DSN_MIN_BITS || bits > DSN_MAX_BITS) {
        snprintf(err, errlen, "bits=%d is out of range (%d..%d)", bits, DSN_MIN_BITS, DSN_MAX_BITS);
        return -1;
    }
    if(cell < 0) {
        snprintf(err, errlen, "cell=%d must be 0 (scale with the input) or a size in pixels", cell);
        return -1;
    }
    if(margin < 0) {
        snprintf(err, errlen, "margin=%d must be 0 or more pixels", margin);
        return -1;
    }
    if((int)corner < 0 || corner >= DSN_CORNER_COUNT) {
        snprintf(err, errlen, "corner=%d is not one of tl, tr, bl, br", (int)corner);
        return -1;
    }
    int gw = 1;
    while(gw * gw < bits) ++gw;
    g->bits = bits;
    g->cell = cell;
    g->corner = corner;
    g->margin = margin;
    g->gw = gw;
    g->gh = (bits + gw - 1) / gw;
    return 0;
}

int dsn_geometry_auto_cell(int w, int h)
{
    int m = w < h ? w : h;
    return m / 28 > 1 ? m / 28 : 1;
}

int dsn_geometry_place(dsn_geometry *g, int w, int h, char *err, size_t errlen)
{
    if(w <= 0 || h <= 0) {
        snprintf(err, errlen, "image size %dx%d is empty", w, h);
        return -1;
    }
    int cell = g->cell ? g->cell : dsn_geometry_auto_cell(w, h);
    /* 64-bit sums: cell and margin come from user input and may be huge */
    long long gridw = (long long)g->gw * cell, gridh = (long long)g->gh * cell;
    if(gridw + g->margin > w || gridh + g->margin > h) {
        snprintf(err, errlen, "the stamp (%dx%d cells of %d px = %lldx%lld px) plus margin %d does not "
                 "fit a %dx%d image", g->gw, g->gh, cell, gridw, gridh, g->margin, w, h);
        return -1;
    }
    int right = g->corner == DSN_CORNER_TR || g->corner == DSN_CORNER_BR;
    int bottom = g->corner == DSN_CORNER_BL || g->corner == DSN_CORNER_BR;
    g->cell_px = cell;
    g->x0 = right ? w - g->margin - (int)gridw : g->margin;
    g->y0 = bottom ? h - g->margin - (int)gridh : g->margin;
    g->w = w;
    g->h = h;
    return 0;
}

void dsn_stamp_apply(float *im, int c, const dsn_geometry *g, const dsn_serial *s)
{
    float v[DSN_MAX_BITS];
    for(int i = 0; i < g->bits; ++i) v[i] = s->bit[i] ? 1.0f : 0.0f;
    dsn_stamp_apply_values(im, c, g, v);
}

void dsn_stamp_apply_values(float *im, int c, const dsn_geometry *g, const float *vals)
{
    size_t plane = (size_t)g->w * (size_t)g->h;
    for(int i = 0; i < g->bits; ++i) {
        float v = vals[i];
        int x0 = g->x0 + (i % g->gw) * g->cell_px;
        int y0 = g->y0 + (i / g->gw) * g->cell_px;
        for(int k = 0; k < c; ++k) {
            for(int y = y0; y < y0 + g->cell_px; ++y) {
                float *row = im + (size_t)k * plane + (size_t)y * (size_t)g->w;
                for(int x = x0; x < x0 + g->cell_px; ++x) row[x] = v;
            }
        }
    }
}

int dsn_stamp_covers(const dsn_geometry *g, int x, int y)
{
    if(g->cell_px <= 0 || x < g->x0 || y < g->y0) return 0;
    int col = (x - g->x0) / g->cell_px, row = (y - g->y0) / g->cell_px;
    if(col >= g->gw || row >= g->gh) return 0;
    return row * g->gw + col < g->bits;
}
