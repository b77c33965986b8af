/* [serial_stamp]: the serial number, stamped on the input inside the network (layer 0).
 * See serial_stamp_layer.c for the roles and options; dsn_stamp.h for the pixels. */
#ifndef SERIAL_STAMP_LAYER_H
#define SERIAL_STAMP_LAYER_H

#include "darknet.h"
#include "dsn_stamp.h"

/* A stamp layer for `batch` images of w x h x c with a placed geometry; all rows raw until
 * serial_stamp_set_roles() or a serial is set. Owns its state (free with destroy_serial_stamp). */
layer make_serial_stamp_layer(int batch, int w, int h, int c, const dsn_geometry *geo);
/* Role fractions per batch (raw = the rest). Returns 0, or -1 when out of range. */
int serial_stamp_set_roles(layer *l, float valid, float forged, float near, float soft, int near_max);
/* soft_pool=n: n continuous stamps drawn uniformly, kept by selection (see the .c). */
void serial_stamp_set_pool(layer *l, int n);
void forward_serial_stamp_layer(layer l, network net);
void backward_serial_stamp_layer(layer l, network net);
void resize_serial_stamp_layer(layer *l, int w, int h);
#ifdef GPU
void forward_serial_stamp_layer_gpu(layer l, network net);
void backward_serial_stamp_layer_gpu(layer l, network net);
#endif

#endif
