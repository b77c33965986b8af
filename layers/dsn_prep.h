/* dsn_prep.h: camera frames to the input of an MNIST-like network, made the way MNIST was.
 *
 *     dsn_prep p;
 *     if(dsn_prep_init(&p, "mnist") != 0) ...          // "mnist", "fashion" or "none"
 *     p.invert = 0;                                     // each step can be switched off
 *     dsn_prep_info info;
 *     dsn_prep_run(out, 28, 28, 1, frame, 640, 480, 3, &p, &info);
 *
 * Images are planar floats [c][h][w] in 0..1, Darknet's layout. The steps, in order:
 *   gray       luma (Rec. 601) of an RGB frame; off: the frame's first channel (what stock
 *              Darknet feeds a one-channel network) or, for a three-channel network, the colours
 *   crop       the frame's centred square; off: the whole frame, stretched to the output
 *   invert     1 - v: dark ink on white paper becomes MNIST's white on black
 *   normalize  the paper's level (the median) to 0 and the ink's (the 99.5th percentile) to 1,
 *              with the faintest quarter of that range cut to 0 so paper noise stays black; the
 *              result is scaled again so its brightest pixel is 1. A frame whose ink is within
 *              DSN_PREP_BLANK of the paper is blank: the output is all 0
 *   center     the ink's extent (0.5th to 99.5th percentile of its mass along each axis) scaled,
 *              aspect kept, so its longer side is `box` pixels, then placed with its centre of
 *              mass (com = 1: MNIST, box 20 in 28x28) or the middle of its extent (com = 0:
 *              Fashion-MNIST, box 28) at the output's centre; off: the square resized whole
 * "mnist" and "fashion" switch every step on; "none" switches every step off (a plain resize).
 * Shrinking averages areas (the anti-aliasing MNIST's digits have); enlarging is bilinear.
 *
 * Compiled into libdarknet: `darknet classifier demo` runs it (the .data file's preprocess=)
 * and so does `dsn demo`. Nothing here allocates more than a frame's worth of scratch. */
#ifndef DSN_PREP_H
#define DSN_PREP_H

#include "darknet.h"

#define DSN_PREP_BLANK 0.08f

typedef struct dsn_prep {
    int gray, crop, invert, normalize, center;  /* 1 = step on                        */
    int box;                                    /* longer side of the ink, in pixels  */
    int com;                                    /* 1: centre of mass; 0: extent middle */
} dsn_prep;

/* What the steps found, in frame pixels (for drawing on the camera view). */
typedef struct dsn_prep_info {
    int cx, cy, cw, ch;           /* the region used: the centred square, or the frame       */
    float x0, y0, x1, y1;         /* the ink's extent (center on and not blank), else the region */
    int blank;                    /* normalize found no ink: the output is all 0             */
} dsn_prep_info;

/* Sets every step for a named mode. Returns 0, or -1 for a name that is not one of
 * DSN_PREP_MODES (p is then set to "none"). dsn_prep_known: 1 for a mode's name, else 0. */
#define DSN_PREP_MODES "mnist, fashion, none"
int dsn_prep_init(dsn_prep *p, const char *mode);
int dsn_prep_known(const char *mode);

/* Writes the ow x oh x oc (1 or 3) input into out from the w x h x c (1 or 3) frame. info may be
 * NULL. Returns 0, or -1 when a size or channel count is out of range or memory runs out (out is
 * then all 0). */
int dsn_prep_run(float *out, int ow, int oh, int oc, const float *frame, int w, int h, int c,
                 const dsn_prep *p, dsn_prep_info *info);

/* Darknet's side (darknet_patch/0033): frame to a new w x h x c image with the named mode; an
 * image of width 0 for an unknown mode, a bad size or no memory. The caller frees it. */
image dsn_prep_image(image frame, int w, int h, int c, const char *mode);

#endif
