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
    g->bits = bits;
    g->cell = cell;
    g->corner = corner;
    g->margin = margin;
    return dsn_geometry_set_columns(g, 0, err, errlen);
}

/* 0 when the stamp of gw x gh cells in `frame` rings has at most DSN_MAX_STAMP_CELLS cells. */
static int stamp_cells_fit(int gw, int gh, int frame, char *err, size_t errlen)
{
    long long cells = (long long)(gw + 2 * frame) * (gh + 2 * frame);
    if(cells <= DSN_MAX_STAMP_CELLS) return 0;
    snprintf(err, errlen, "a %dx%d grid in %d ring%s is %lld cells, more than a stamp holds (%d)", gw, gh, frame,
             frame == 1 ? "" : "s", cells, DSN_MAX_STAMP_CELLS);
    return -1;
}

int dsn_geometry_set_columns(dsn_geometry *g, int columns, char *err, size_t errlen)
{
    if(columns < 0 || columns > g->bits) {
        snprintf(err, errlen, "columns=%d is out of range (0: a square grid, or 1..%d, the bits)", columns, g->bits);
        return -1;
    }
    int gw = dsn_grid_columns(g->bits, columns);
    int gh = (g->bits + gw - 1) / gw;
    if(stamp_cells_fit(gw, gh, g->frame, err, errlen) != 0) return -1;
    g->columns = columns;
    g->gw = gw;
    g->gh = gh;
    return 0;
}

int dsn_geometry_set_frame(dsn_geometry *g, int frame, int wrap, char *err, size_t errlen)
{
    if(frame < 0 || frame > DSN_MAX_FRAME) {
        snprintf(err, errlen, "frame=%d is out of range (0..%d rings of cells)", frame, DSN_MAX_FRAME);
        return -1;
    }
    if(wrap != 0 && wrap != 1) {
        snprintf(err, errlen, "wrap=%d must be 0 (checkerboard frame) or 1 (the grid's wrap-around)", wrap);
        return -1;
    }
    if(wrap && !frame) {
        snprintf(err, errlen, "wrap=1 needs a frame to wrap into (frame=1 or 2)");
        return -1;
    }
    if(stamp_cells_fit(g->gw, g->gh, frame, err, errlen) != 0) return -1;
    g->frame = frame;
    g->wrap = wrap;
    return 0;
}

int dsn_geometry_same(const dsn_geometry *a, const dsn_geometry *b)
{
    return a->bits == b->bits && a->cell == b->cell && a->corner == b->corner && a->margin == b->margin &&
           a->frame == b->frame && a->wrap == b->wrap && a->columns == b->columns;
}

void dsn_geometry_describe(char *out, size_t len, const dsn_geometry *g)
{
    int n = snprintf(out, len, "bits=%d cell=%d corner=%s margin=%d", g->bits, g->cell,
                     dsn_corner_name(g->corner), g->margin);
    if(g->columns && n >= 0 && (size_t)n < len) n += snprintf(out + n, len - (size_t)n, " columns=%d", g->columns);
    if(g->frame && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, g->wrap ? " frame=%d wrap=1" : " frame=%d", g->frame);
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
    int sw = g->gw + 2 * g->frame, sh = g->gh + 2 * g->frame;
    long long gridw = (long long)sw * cell, gridh = (long long)sh * cell;
    if(gridw + g->margin > w || gridh + g->margin > h) {
        snprintf(err, errlen, "the stamp (%dx%d cells of %d px = %lldx%lld px) plus margin %d does not "
                 "fit a %dx%d image", sw, sh, cell, gridw, gridh, g->margin, w, h);
        return -1;
    }
    int right = g->corner == DSN_CORNER_TR || g->corner == DSN_CORNER_BR;
    int bottom = g->corner == DSN_CORNER_BL || g->corner == DSN_CORNER_BR;
    g->cell_px = cell;
    g->sw = sw;
    g->sh = sh;
    g->sx0 = right ? w - g->margin - (int)gridw : g->margin;
    g->sy0 = bottom ? h - g->margin - (int)gridh : g->margin;
    g->x0 = g->sx0 + g->frame * cell;
    g->y0 = g->sy0 + g->frame * cell;
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

/* The grid coordinate a frame coordinate repeats when wrapped: v taken modulo n. */
static int wrap_index(int v, int n)
{
    return ((v % n) + n) % n;
}

int dsn_stamp_cells(const dsn_geometry *g, const float *vals, float *out)
{
    for(int y = 0; y < g->sh; ++y) {
        for(int x = 0; x < g->sw; ++x) {
            int gx = x - g->frame, gy = y - g->frame;
            int in_grid = gx >= 0 && gy >= 0 && gx < g->gw && gy < g->gh;
            if(!in_grid && !g->wrap) {
                out[y * g->sw + x] = (float)((x + y) & 1);
                continue;
            }
            int i = wrap_index(gy, g->gh) * g->gw + wrap_index(gx, g->gw);
            out[y * g->sw + x] = i < g->bits ? vals[i] : -1.0f;
        }
    }
    return g->sw * g->sh;
}

void dsn_stamp_apply_values(float *im, int c, const dsn_geometry *g, const float *vals)
{
    size_t plane = (size_t)g->w * (size_t)g->h;
    float cells[DSN_MAX_STAMP_CELLS];
    int n = dsn_stamp_cells(g, vals, cells);
    for(int i = 0; i < n; ++i) {
        float v = cells[i];
        if(v < 0) continue;
        int x0 = g->sx0 + (i % g->sw) * g->cell_px;
        int y0 = g->sy0 + (i / g->sw) * g->cell_px;
        for(int k = 0; k < c; ++k) {
            for(int y = y0; y < y0 + g->cell_px; ++y) {
                float *row = im + (size_t)k * plane + (size_t)y * (size_t)g->w;
                for(int x = x0; x < x0 + g->cell_px; ++x) row[x] = v;
            }
        }
    }
}

int dsn_stamp_source(const dsn_geometry *g, int x, int y, int *sx, int *sy)
{
    int pw = g->gw * g->cell_px, ph = g->gh * g->cell_px, gx = x - g->x0, gy = y - g->y0;
    int in_grid = gx >= 0 && gy >= 0 && gx < pw && gy < ph;
    if(!dsn_stamp_covers(g, x, y) || (!in_grid && !g->wrap)) return 0;
    /* pixel coordinates modulo the grid's size in pixels: the cell rule at pixel level */
    *sx = g->x0 + wrap_index(gx, pw);
    *sy = g->y0 + wrap_index(gy, ph);
    return 1;
}

/* Wrapped frame: each frame pixel takes the grid pixel it repeats, if that pixel is stamped. */
static void wrap_frame_pixels(float *im, int c, const dsn_geometry *g)
{
    size_t plane = (size_t)g->w * (size_t)g->h;
    for(int y = g->sy0; y < g->sy0 + g->sh * g->cell_px; ++y) {
        for(int x = g->sx0; x < g->sx0 + g->sw * g->cell_px; ++x) {
            int sx, sy;
            if(!dsn_stamp_source(g, x, y, &sx, &sy) || (sx == x && sy == y)) continue;
            for(int k = 0; k < c; ++k) im[k * plane + (size_t)y * g->w + x] = im[k * plane + (size_t)sy * g->w + sx];
        }
    }
}

void dsn_stamp_frame(float *im, int c, const dsn_geometry *g)
{
    float none[DSN_MAX_BITS];
    if(!g->frame) return;
    if(g->wrap) {
        wrap_frame_pixels(im, c, g);
        return;
    }
    for(int i = 0; i < g->bits; ++i) none[i] = -1.0f;
    dsn_stamp_apply_values(im, c, g, none);
}

int dsn_stamp_covers(const dsn_geometry *g, int x, int y)
{
    if(g->cell_px <= 0 || x < g->sx0 || y < g->sy0) return 0;
    int col = (x - g->sx0) / g->cell_px - g->frame, row = (y - g->sy0) / g->cell_px - g->frame;
    if(col >= g->gw + g->frame || row >= g->gh + g->frame) return 0;
    if(col < 0 || row < 0 || col >= g->gw || row >= g->gh) {
        if(!g->wrap) return 1;   /* the checkerboard frame */
        col = wrap_index(col, g->gw);
        row = wrap_index(row, g->gh);
    }
    return row * g->gw + col < g->bits;
}
