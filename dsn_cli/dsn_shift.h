/* dsn_shift.h: a shifted MNIST-like test set, for fidelity under distribution shift
 * (`dsn import mnist-shift`; issue 11). Kept out of training: it is built from the MNIST test
 * split only, plus digits from another source.
 *
 *     uint8_t out[28 * 28];
 *     dsn_shift_rotate(out, in, 28, 28, 12.5);      // counter-clockwise on screen, about the centre
 *     dsn_shift_translate(out, in, 28, 28, -3, 2);  // 3 px left, 2 px down, zeros shifted in
 *     dsn_shift_dilate(out, in, 28, 28);            // thicker strokes (grey-level max, 3x3)
 *     dsn_shift_erode(out, in, 28, 28);             // thinner strokes (grey-level min, plus shape)
 *     if(dsn_shift_survives(out, 28, 28)) ...       // the digit kept its ink
 *     dsn_optdigit_to_mnist(out, v8x8);             // UCI optdigits 8x8 (0..16) to MNIST's 28x28
 *
 * Images are w x h bytes, row-major, 0 = background (black), ink bright: MNIST's convention.
 * Every function writes all of out and never reads it (out and in must not overlap).
 *
 * The subsets, each one transformed copy of every MNIST test image (or one image per optdigits
 * row), tagged in their file names (data/mnist-shift/test/<index>_<subset>_<label>.png):
 *   rotate       rotation by a uniform angle in +-[5, 15] degrees, bilinear
 *   shift        translation by dx, dy in -3..3 with max(|dx|, |dy|) >= 2
 *   thick        grey-level dilation, 3x3 square
 *   thin         grey-level erosion, plus-shaped 3x3 (the square wipes MNIST's 2-pixel strokes);
 *                kept only when the digit survives (dsn_shift_survives)
 *   other-hands  the UCI optical handwritten digits (43 writers, 8x8, 0..16) as Debian's
 *                python3-sklearn ships them (digits.csv.gz), made the way MNIST was made: the ink
 *                scaled to fit a 20x20 box (aspect kept, bilinear), centred by its centre of mass
 *                in 28x28 (dsn_prep.h's "mnist" centring, as the camera demo does it)
 * The angle and the shift of image i come from a generator seeded by (seed, i, subset), so a seed
 * gives the same set on every machine and one subset's draws never move another's. */
#ifndef DSN_SHIFT_H
#define DSN_SHIFT_H

#include <stddef.h>
#include <stdint.h>

#include "dsn_import.h"

enum { DSN_SHIFT_ROTATE, DSN_SHIFT_SHIFT, DSN_SHIFT_THICK, DSN_SHIFT_THIN, DSN_SHIFT_OTHER, DSN_SHIFT_KINDS };
/* "rotate", "shift", "thick", "thin", "other-hands": the subset tags */
extern const char *const dsn_shift_names[DSN_SHIFT_KINDS];

#define DSN_SHIFT_ROT_MIN 5.0
#define DSN_SHIFT_ROT_MAX 15.0
#define DSN_SHIFT_MAX_PX 3
#define DSN_SHIFT_MIN_PX 2
/* dsn_shift_survives: at least this many pixels at or above half intensity (128) */
#define DSN_SHIFT_MIN_INK 12

/* Rotation by `degrees` (positive: counter-clockwise as displayed, y pointing down) about the
 * image centre ((w-1)/2, (h-1)/2), bilinear, zero outside; values rounded. */
void dsn_shift_rotate(uint8_t *out, const uint8_t *in, int w, int h, double degrees);
/* out(x, y) = in(x - dx, y - dy), 0 where that is outside the image. */
void dsn_shift_translate(uint8_t *out, const uint8_t *in, int w, int h, int dx, int dy);
/* Grey-level dilation: each pixel the maximum of its 3x3 neighbourhood (inside the image). */
void dsn_shift_dilate(uint8_t *out, const uint8_t *in, int w, int h);
/* Grey-level erosion: each pixel the minimum of itself and its 4 neighbours (0 beyond the edge). */
void dsn_shift_erode(uint8_t *out, const uint8_t *in, int w, int h);
/* 1 when px still shows a digit: at least DSN_SHIFT_MIN_INK pixels >= 128; else 0. */
int dsn_shift_survives(const uint8_t *px, int w, int h);
/* Total grey mass of px; its centre of mass (pixel index coordinates) in *cx, *cy (the image
 * centre when the mass is 0). */
double dsn_shift_mass(const uint8_t *px, int w, int h, double *cx, double *cy);

/* The seeded draws for image i: the rotation (+-[5, 15] degrees) and the shift. */
double dsn_shift_angle(uint64_t seed, int i);
void dsn_shift_offset(uint64_t seed, int i, int *dx, int *dy);

/* ---- other hands: the UCI optical digits ---------------------------------------------------- */

/* One 8x8 optdigit (row-major, grey levels 0..16) as a 28x28 MNIST-style digit. Returns 0, or
 * -1 for a blank digit or out of memory (out is then all 0). */
int dsn_optdigit_to_mnist(uint8_t out[28 * 28], const uint8_t in[64]);

/* Parses sklearn's digits.csv: lines of 65 comma-separated whole numbers, 64 pixels (0..16) and
 * the class (0..9). Fills malloc'd px[n*64] and label[n] (the caller frees both). Returns n (at
 * least 1), or -1 with err naming `name`, the line and the column. */
int dsn_optdigits_parse(const char *text, size_t len, const char *name, uint8_t **px, uint8_t **label,
                        char *err, size_t errlen);

/* ---- the import ------------------------------------------------------------------------------ */

/* sklearn's digits as Debian 12 ships them (python3-sklearn 1.2.1+dfsg-1) */
#define DSN_DIGITS_DEB "python3-sklearn"
#define DSN_DIGITS_MEMBER "usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
#define DSN_DIGITS_SHA256 "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a"
#define DSN_DIGITS_ROWS 1797
#define DSN_DIGITS_CACHED "sklearn-digits.csv.gz"

typedef struct dsn_shift_opts {
    const char *mnist;      /* a finished `dsn import mnist` (its test split is read)          */
    const char *digits;     /* a digits.csv[.gz] of the user's, or NULL: Debian's, via cache  */
    const char *cache;      /* where the .deb and the extracted file are kept                 */
    uint64_t seed;
    const char *const *labels;  /* the 10 MNIST labels */
} dsn_shift_opts;

/* cache/sklearn-digits.csv.gz, checked against DSN_DIGITS_SHA256; made when missing from
 * python3-sklearn_*.deb in the cache, fetched there first with `apt-get download` when absent.
 * Fills path. Returns 0, or -1 with err saying what failed and what to do. */
int dsn_shift_digits_fetch(char *path, size_t len, const char *cache, char *err, size_t errlen);

/* Fills d (grey 28x28, every image in the test split, tagged with its subset, in subset order)
 * from o->mnist's test split and the optdigits, and prints the counts per subset and class.
 * Returns 0, or -1 with err naming the file. */
int dsn_shift_load(dsn_dataset *d, const dsn_shift_opts *o, char *err, size_t errlen);

#endif
