/* dsn_image.h: image files for `dsn stamp`: decode, stamp, encode, bytes in and bytes out.
 *
 *     dsn_image im;  char err[256];
 *     if(dsn_image_load(&im, "in.png", err, sizeof err) != 0) die(err);
 *     if(dsn_geometry_place(&g, im.w, im.h, err, sizeof err) != 0) die(err);
 *     dsn_image_stamp(&im, &g, &serial);
 *     if(dsn_image_save(&im, "out.png") != 0) ...   // atomic; prints its own error
 *     dsn_image_free(&im);
 *
 * Decoding uses the stb_image that Darknet links (build/libdarknet.a), so a file reads here as
 * Darknet reads it: any format stb knows (PNG, JPEG, BMP, PNM, ...), 16-bit samples cut to 8.
 * Grayscale stays 1 channel and colour 3 channels; an alpha channel is dropped, as Darknet does.
 * Encoding writes PNG, or binary netpbm (P5/P6) for a .pgm/.ppm/.pnm name; lossy formats are
 * refused, since they would change the stamp's pixels. Stamping goes through dsn_stamp_apply on a
 * CHW float copy holding exactly what Darknet's loader holds (byte/255), and rounds back, so the
 * file's pixels are the ones the [serial_stamp] layer writes at network resolution. */
#ifndef DSN_IMAGE_H
#define DSN_IMAGE_H

#include <stddef.h>

#include "dsn_serial.h"
#include "dsn_stamp.h"

#define DSN_IMAGE_FILE_MAX (256u << 20)  /* larger files are refused before decoding */

typedef struct dsn_image {
    int w, h, c;          /* c is 1 or 3                                         */
    unsigned char *data;  /* h rows of w pixels of c interleaved bytes; malloc'd  */
} dsn_image;

/* Returns 0, or -1 with err naming the file and the reason. im->data is owned by the caller. */
int dsn_image_load(dsn_image *im, const char *path, char *err, size_t errlen);

/* Encodes for `path`'s extension into a malloc'd buffer. Returns 0, or -1 with err set. */
int dsn_image_encode(unsigned char **out, size_t *len, const dsn_image *im, const char *path,
                     char *err, size_t errlen);

/* Encodes and writes atomically, replacing path. Returns 0, or -1 after printing an error. */
int dsn_image_save(const dsn_image *im, const char *path);

/* Stamps s on the image; g must be placed for im->w x im->h. Returns 0, or -1 when it is not or
 * s->nbits differs from g->bits. */
int dsn_image_stamp(dsn_image *im, const dsn_geometry *g, const dsn_serial *s);

void dsn_image_free(dsn_image *im);

#endif
