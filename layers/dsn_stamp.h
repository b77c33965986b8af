/* dsn_stamp.h: where a serial goes on an image, and the pixels it writes there.
 *
 * One implementation, shared by the [serial_stamp] layer (at network resolution, inside the
 * network, after Darknet's resizing and augmentation) and by `dsn stamp` (on image files).
 *
 *     dsn_geometry g;  char err[160];
 *     dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0);            // 8x8 grid, auto cell size
 *     if(dsn_geometry_place(&g, 28, 28, err, sizeof err) != 0) die(err);
 *     dsn_stamp_apply(image_chw, 1, &g, &serial);       // CHW, 1 channel, 28x28
 *
 * Grid: gw = ceil(sqrt(bits)) columns (or columns=N: N columns), gh = ceil(bits/gw) rows; cell i
 * (row-major from the grid's top-left) carries bit i; cells past `bits` are left untouched. A wide
 * grid (64 bits as columns=16: 16x4) lies along the image's edge instead of in its corner. Each cell is a square of
 * `cell` pixels. The grid sits `margin` pixels in from the chosen corner. Pixel rule (the paper's
 * Eq. 7): a 1 bit sets the cell's pixels to 1.0 in every channel, a 0 bit sets them to 0.0.
 * Images are planar CHW floats in [0,1], as Darknet holds them.
 *
 * Frame (frame=N, default 0): N rings of cells around the grid with a fixed checkerboard (cell
 * (x, y) of the stamp, frame included, is 1 when x + y is odd), written whenever a serial is.
 * Every serial cell then has stamped cells on all sides: a network reading the stamp through
 * 3x3 convolutions sees each bit in a full neighbourhood, instead of beside the image's edge or
 * the digit. The frame is public (it is the same for every serial); the certificate carries it.
 *
 * Wrapped frame (wrap=1, with frame >= 1): the rings repeat the grid's opposite edges instead, as
 * if the grid were drawn on a torus (the ring above row 0 is row gh-1, the ring left of column 0
 * is column gw-1, the corners the opposite corners). Every serial cell, edge cells included, then
 * sits in a neighbourhood of serial cells, as an interior cell does: a flipped edge bit changes
 * two (a corner bit four) cells the convolutions see. Measured on MNIST: the grid's edge bits
 * were the ones whose single flips still unlocked the model with the checkerboard. Nothing of a
 * wrapped frame is public: it is part of the serial's pattern. */
#ifndef DSN_STAMP_H
#define DSN_STAMP_H

#include <stddef.h>
#include "dsn_serial.h"

#define DSN_MAX_FRAME 2
/* the most cells a stamp has: a 16x16 grid (256 bits) in two rings of frame */
#define DSN_MAX_STAMP_CELLS ((16 + 2*DSN_MAX_FRAME)*(16 + 2*DSN_MAX_FRAME))

typedef enum { DSN_CORNER_TL = 0, DSN_CORNER_TR, DSN_CORNER_BL, DSN_CORNER_BR, DSN_CORNER_COUNT } dsn_corner;

typedef struct dsn_geometry {
    int bits;          /* serial length                                        */
    int cell;          /* cell size in pixels as configured; 0 = from the image */
    dsn_corner corner;
    int margin;        /* pixels between the stamp and the corner's two edges   */
    int frame;         /* rings of cells around the grid (0..DSN_MAX_FRAME)     */
    int wrap;          /* 1: the rings repeat the grid's opposite edges (torus) */
    int columns;       /* grid columns as configured; 0 = ceil(sqrt(bits))     */
    /* filled by dsn_geometry_place() */
    int gw, gh;        /* grid columns and rows                                 */
    int cell_px;       /* effective cell size                                   */
    int x0, y0;        /* top-left pixel of the grid (the serial's cells)       */
    int sw, sh;        /* stamp columns and rows, frame included: gw + 2*frame  */
    int sx0, sy0;      /* top-left pixel of the stamp, frame included           */
    int w, h;          /* image size it was placed for                          */
} dsn_geometry;

/* "tl","tr","bl","br" <-> dsn_corner. Name lookup returns -1 for an unknown name. */
int dsn_corner_from_name(const char *name);
const char *dsn_corner_name(dsn_corner c);

/* Checks the options (bits in DSN_MIN_BITS..DSN_MAX_BITS, cell >= 0, margin >= 0, corner
 * valid) and computes gw and gh. Returns 0, or -1 with the offending option named in err. */
int dsn_geometry_init(dsn_geometry *g, int bits, int cell, dsn_corner corner, int margin,
                      char *err, size_t errlen);

/* Sets the frame (call between init and place): `frame` rings, checkerboard (wrap 0) or the grid's
 * wrap-around (wrap 1, which needs frame >= 1). Returns 0, or -1 with the option named in err. */
int dsn_geometry_set_frame(dsn_geometry *g, int frame, int wrap, char *err, size_t errlen);

/* Sets the grid's columns (call between init and place; before or after set_frame): 0 for the
 * square default, ceil(sqrt(bits)), or 1..bits (rows: ceil(bits/columns)). The stamp, frame
 * included, must stay within DSN_MAX_STAMP_CELLS cells. Returns 0, or -1 with the option named. */
int dsn_geometry_set_columns(dsn_geometry *g, int columns, char *err, size_t errlen);

/* Every cell of the stamp, frame included, row-major over sw x sh: the frame's checkerboard (or,
 * wrapped, the value of the grid cell it repeats), the serial's cell i from vals[i], and -1 (leave
 * the pixels alone) for grid cells past `bits` and the frame cells that repeat them.
 * out has room for sw*sh values. Returns sw*sh. */
int dsn_stamp_cells(const dsn_geometry *g, const float *vals, float *out);

/* 1 when a and b configure the same stamp (bits, cell, corner, margin, frame, wrap, columns). */
int dsn_geometry_same(const dsn_geometry *a, const dsn_geometry *b);
/* "bits=64 cell=0 corner=br margin=0 columns=16 frame=1 wrap=1" (columns, frame and wrap only when
 * set), for messages. */
void dsn_geometry_describe(char *out, size_t len, const dsn_geometry *g);

/* Effective cell size for a cell option of 0: max(1, min(w,h)/28), so an 8x8 grid covers
 * 8 of MNIST's 28 pixels and scales with larger inputs. */
int dsn_geometry_auto_cell(int w, int h);

/* Places the grid on a w x h image: fills cell_px, x0, y0, w, h. Returns 0, or -1 (err names
 * the geometry and the image size) when the grid plus margin does not fit. */
int dsn_geometry_place(dsn_geometry *g, int w, int h, char *err, size_t errlen);

/* Stamps `s` (s->nbits must equal g->bits) on one CHW image of the placed size. */
void dsn_stamp_apply(float *im, int c, const dsn_geometry *g, const dsn_serial *s);
/* The same with a value per cell (v[bits], anything in [0,1]): the continuous stamps the lock is
 * trained to refuse. */
void dsn_stamp_apply_values(float *im, int c, const dsn_geometry *g, const float *v);

/* Completes a patch of his own the way an attacker would, who knows the geometry: writes the
 * checkerboard frame (it is public), or for a wrapped frame copies the grid's pixels, as they are
 * in im, into the rings that repeat them. Nothing when frame=0. */
void dsn_stamp_frame(float *im, int c, const dsn_geometry *g);

/* The grid pixel (sx, sy) whose value pixel (x, y) carries: itself inside the grid, the repeated
 * grid pixel in a wrapped frame. Returns 1, or 0 when (x, y) carries no serial value (outside
 * the stamp, a checkerboard frame cell, a cell past `bits` or a repeat of one). The attacks use it
 * to add a wrapped frame's input gradient to the grid pixel it repeats. */
int dsn_stamp_source(const dsn_geometry *g, int x, int y, int *sx, int *sy);

/* 1 when pixel (x, y) lies inside a stamped cell (frame included; a wrapped frame's cell when the
 * grid cell it repeats exists), else 0. */
int dsn_stamp_covers(const dsn_geometry *g, int x, int y);

#endif
