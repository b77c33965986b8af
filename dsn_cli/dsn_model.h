/* dsn_model.h: the one place a model (a cfg and its weights) is loaded, and the cfg edits the
 * attacks, dsn verify and dsn trace make before loading one.
 *
 *     dsn_model m;  dsn_model_opts o;  char err[512];
 *     dsn_model_opts_init(&o);
 *     o.batch = 256;  o.strip_stamp = 1;           // build without [serial_stamp]: stamp yourself
 *     if(dsn_model_load(&m, "alice.cfg", "alice.weights", NULL, &o, err, sizeof err) != 0) ...
 *     m.net (Darknet's network), m.had_stamp, m.geo (the stripped stamp's geometry, placed) ...
 *     dsn_model_free(&m);
 *
 *     dsn_cfg c;                                    // edit a cfg, then load the edited text
 *     if(dsn_cfg_read(&c, "alice.cfg", err, sizeof err) != 0) ...
 *     dsn_cfg_set(&c, 0, "learning_rate", "0.001");
 *     dsn_model_load_cfg(&m, &c, "alice.weights", NULL, &o, err, sizeof err);
 *     dsn_cfg_free(&c);
 *
 * Every network `dsn attack`, `dsn verify`, `dsn trace` and `dsn eval` runs comes from
 * dsn_model_load_cfg: a keyed transform of the weights at load time (a serial-dependent
 * decryption, say) belongs there and nowhere else. `serial` is the key a legitimate user holds
 * (NULL for a thief, and for the networks an attack trains); today it only sets the serial of a
 * kept [serial_stamp] layer.
 *
 * Before Darknet parses anything (its parser exits on errors), the loader checks what it can and
 * reports it in err: unreadable files, a cfg without [net] or an input size, a [serial_stamp] with
 * a bad geometry, and weights of another size than the cfg needs (darknet_patch 0026). Darknet's
 * layer table goes to stderr unless quiet. Nothing here changes Darknet's global state but
 * rand()'s seed (srand(init_seed) before parsing, for a reproducible random initialisation). */
#ifndef DSN_MODEL_H
#define DSN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "darknet.h"
#include "dsn_seal.h"
#include "dsn_serial.h"
#include "dsn_stamp.h"

/* ---- cfg text ----------------------------------------------------------------------------- */

typedef struct dsn_cfg_kv {
    char *key, *val;
    int line;          /* line of the option in the file, 0 for options set here            */
} dsn_cfg_kv;

typedef struct dsn_cfg_section {
    char *type;        /* "[net]", "[convolutional]", ... as written (whitespace removed) */
    int line;          /* line of the header in the file, 0 for sections added here        */
    int n;
    dsn_cfg_kv *kv;    /* [n], in file order                                               */
} dsn_cfg_section;

typedef struct dsn_cfg {
    char *path;        /* the file it was read from (messages)                             */
    int n;
    dsn_cfg_section *sec;
    int edited;        /* changed since read: loading writes the text to a temporary file;
                          an unchanged cfg is parsed from path itself (messages name it)   */
} dsn_cfg;

/* Reads a cfg the way Darknet's read_cfg does (all whitespace removed, '#' and ';' comments,
 * key=value options under [section] headers). Returns 0, or -1 with err naming the file and line
 * (unreadable, an option before the first section, a line that is not key=value, no [net]
 * first). c is empty after a failure. */
int dsn_cfg_read(dsn_cfg *c, const char *path, char *err, size_t errlen);
void dsn_cfg_free(dsn_cfg *c);

/* Index of the first section of `type` ("[serial_stamp]") at or after `from`; -1 when none. */
int dsn_cfg_find(const dsn_cfg *c, const char *type, int from);
/* The value of key in section s, or NULL. */
const char *dsn_cfg_get(const dsn_cfg_section *s, const char *key);
/* Sets key=val in section i (replacing the first one, or appending). Returns 0, or -1 out of
 * memory or for an index out of range. */
int dsn_cfg_set(dsn_cfg *c, int i, const char *key, const char *val);
/* Removes key from section i (every occurrence). */
void dsn_cfg_unset(dsn_cfg *c, int i, const char *key);
/* Removes section i / inserts an empty section of `type` before index `at` (at == n appends).
 * Insert returns the new section's index, or -1 out of memory. */
void dsn_cfg_remove(dsn_cfg *c, int i);
int dsn_cfg_insert(dsn_cfg *c, int at, const char *type);
/* The cfg as text (malloc'd, NUL-terminated), or NULL out of memory. */
char *dsn_cfg_text(const dsn_cfg *c);
/* Writes the text to a new private temporary file; path receives its name (the caller unlinks
 * it). Returns 0, or -1 with err set. */
int dsn_cfg_write_temp(const dsn_cfg *c, char *path, size_t len, char *err, size_t errlen);

/* The [serial_stamp] section's geometry (bits, cell, corner, margin with the layer's defaults),
 * placed on the [net] input size. Returns 0, 1 when the cfg has no [serial_stamp], -1 with err
 * naming the file and line of a bad value. */
int dsn_cfg_stamp_geometry(const dsn_cfg *c, dsn_geometry *g, char *err, size_t errlen);
/* The same read from the cfg file at path; a cfg without [serial_stamp] is an error here. Returns 0,
 * or -1 with err naming the file. */
int dsn_cfg_file_stamp_geometry(const char *path, dsn_geometry *g, char *err, size_t errlen);
/* [net] width, height and channels. Returns 0, or -1 with err when one is missing or bad. */
int dsn_cfg_input_size(const dsn_cfg *c, int *w, int *h, int *ch, char *err, size_t errlen);

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct dsn_model_opts {
    int batch;              /* rows per forward pass (0: the cfg's batch)                        */
    int strip_stamp;        /* remove [serial_stamp] before building (its geometry goes to geo) */
    int upto;               /* load the weights of layers [0, upto) of the built network only
                               (0: all); the others keep their random initialisation           */
    unsigned init_seed;     /* srand() before parsing: the random initialisation               */
    int quiet;              /* Darknet's layer table and messages to /dev/null                 */
    int cpu;                /* run on the CPU even in a GPU build (input edits and input
                               gradients live in host memory)                                   */
    int unseal;             /* sealed weights (layers/dsn_seal.h) and a serial given: 0 unseal
                               when the cfg's [serial_stamp] says sealed=1..3, 1 unseal whatever
                               the cfg says (a cfg a thief edited: in version 2, the latest without
                               a nonce, when it names none), -1 never                          */
} dsn_model_opts;

void dsn_model_opts_init(dsn_model_opts *o);

typedef struct dsn_model {
    network *net;
    int had_stamp;          /* the cfg had a [serial_stamp] section                              */
    int has_stamp;          /* ... and the built network still has it as layer 0                 */
    dsn_geometry geo;       /* that section's geometry, placed (had_stamp)                       */
    int w, h, c, inputs, classes;
    dsn_seal_spec seal;     /* the cfg's seal (sealed=1..3, seal_nonce=; dsn_seal.h), version 0: none */
    int unsealed;           /* the loaded weights were unsealed with the serial given              */
} dsn_model;

/* Builds cfg_path's network and loads `weights` (NULL: random initialisation only). serial: the
 * user's key (see above), or NULL. Returns 0, or -1 with err set (and m zeroed). */
int dsn_model_load(dsn_model *m, const char *cfg_path, const char *weights, const dsn_serial *serial,
                   const dsn_model_opts *o, char *err, size_t errlen);
/* The same from an edited cfg (c->path names it in messages). */
int dsn_model_load_cfg(dsn_model *m, const dsn_cfg *c, const char *weights, const dsn_serial *serial,
                       const dsn_model_opts *o, char *err, size_t errlen);
void dsn_model_free(dsn_model *m);

/* ---- layers ------------------------------------------------------------------------------- */

/* 1 for the layer types with parameters this project's cfgs use (convolutional, connected,
 * batchnorm). */
int dsn_layer_has_params(const layer *l);
/* Copies src's parameters (weights, biases, batchnorm scales and rolling statistics) into dst.
 * Returns 0, or -1 when the types or the sizes differ. */
int dsn_layer_copy_params(layer *dst, const layer *src);
/* Index of the first / last layer of `type` in net, or -1. */
int dsn_net_first(const network *net, LAYER_TYPE type);
int dsn_net_last(const network *net, LAYER_TYPE type);

#endif
