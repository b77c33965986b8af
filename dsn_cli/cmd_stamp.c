/* cmd_stamp.c: `dsn stamp`: the [serial_stamp] layer's pixels, written into image files.
 *
 *     dsn stamp --serial S [--bits N --cell N --corner C --margin N --frame N --wrap] in.png out.png
 *     dsn stamp --cert customer.sn in.png out.png
 *     dsn stamp (--serial ... | --cert ...) --list images.txt --outdir DIR
 *
 * The image is taken as the network's input as it is: no resizing, so stamp files at the
 * network's resolution. Grayscale stays grayscale, colour stays colour. Everything is checked
 * before the first file is written: the serial (a typo stops here), the geometry, that no output
 * is an input image (or the list) and that none exists unless --force, and in list mode that
 * every listed image reads and fits and that no two outputs share a name. Each file is written
 * atomically (temporary file, then linked or renamed into place). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsn_cert.h"
#include "dsn_image.h"
#include "dsn_util.h"

#define LIST_FILE_MAX (64u << 20)

/* ---- outputs: never an input, never an existing file without --force ------------------------ */

typedef struct file_id { dev_t dev; ino_t ino; } file_id;

static int cmp_id(const void *a, const void *b)
{
    const file_id *x = a, *y = b;
    if(x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* 0 when out may be written: it is none of the inputs (ids[n], sorted) and, unless force, does not
 * exist; else -1 after an error naming it. */
static int check_output(const char *out, const file_id *ids, int n, int force, const char *what)
{
    struct stat st;
    if(stat(out, &st) != 0) return 0;
    file_id id = {st.st_dev, st.st_ino};
    if(bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_id)) {
        dsn_error("stamp: the output %s is %s: stamping it in place would destroy the original "
                  "(choose another output%s)", out, what, n > 1 ? " directory" : " name");
        return -1;
    }
    if(!force) {
        dsn_error("stamp: %s already exists: pass --force to replace it", out);
        return -1;
    }
    return 0;
}

/* The inputs' identities, sorted; -1 after an error naming the one that cannot be read. */
static int input_ids(char *const *in, int n, const char *list, file_id **out)
{
    file_id *ids = calloc((size_t)n + 1, sizeof *ids);
    if(!ids) return -1;
    for(int i = 0; i <= n; ++i) {
        const char *p = i < n ? in[i] : list;
        struct stat st;
        if(!p) continue;
        if(stat(p, &st) != 0) {
            dsn_error("stamp: cannot read %s: %s", p, strerror(errno));
            free(ids);
            return -1;
        }
        ids[i] = (file_id){st.st_dev, st.st_ino};
    }
    int m = n + (list != NULL);
    qsort(ids, (size_t)m, sizeof *ids, cmp_id);
    *out = ids;
    return m;
}

/* Loads, places and stamps one image; writes it when `out` is not NULL (NULL: check only),
 * replacing an existing file only with force (atomically either way). */
static int stamp_one(const char *in, const char *out, const dsn_geometry *g0, const dsn_serial *s, int force)
{
    char err[512];
    dsn_image im;
    if(dsn_image_load(&im, in, err, sizeof err) != 0) {
        dsn_error("stamp: %s", err);
        return -1;
    }
    dsn_geometry g = *g0;
    int rc = -1;
    if(dsn_geometry_place(&g, im.w, im.h, err, sizeof err) != 0) {
        dsn_error("stamp: %s: %s", in, err);
        goto cleanup;
    }
    if(out) {
        if(dsn_image_stamp(&im, &g, s) != 0) {
            dsn_error("stamp: %s: out of memory", in);
            goto cleanup;
        }
        unsigned char *buf;
        size_t len;
        if(dsn_image_encode(&buf, &len, &im, out, err, sizeof err) != 0) {
            dsn_error("stamp: %s", err);
            goto cleanup;
        }
        int w = dsn_write_file(out, buf, len, 0644, force ? DSN_WRITE_REPLACE : DSN_WRITE_NEW);
        free(buf);
        if(w != 0) goto cleanup;
    }
    rc = 0;
cleanup:
    dsn_image_free(&im);
    return rc;
}

/* DIR/<base of in, extension replaced by .png> */
static int list_output_name(char *out, size_t len, const char *dir, const char *in)
{
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    int n = snprintf(out, len, "%s/%.*s.png", dir, stem, base);
    return n < 0 || (size_t)n >= len || stem == 0 ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits the list file into lines (in place): trailing CR and spaces cut, empty lines skipped. */
static int list_lines(char *text, char ***lines_out, int *n_out)
{
    int cap = 64, n = 0;
    char **lines = malloc((size_t)cap * sizeof *lines);
    if(!lines) return -1;
    for(char *p = text; *p;) {
        char *end = strchr(p, '\n');
        char *next = end ? end + 1 : p + strlen(p);
        if(end) *end = '\0';
        size_t len = strlen(p);
        while(len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t')) p[--len] = '\0';
        if(len) {
            if(n == cap) {
                char **more = realloc(lines, (size_t)cap * 2 * sizeof *lines);
                if(!more) {
                    free(lines);
                    return -1;
                }
                lines = more;
                cap *= 2;
            }
            lines[n++] = p;
        }
        p = next;
    }
    *lines_out = lines;
    *n_out = n;
    return 0;
}

static int stamp_list(const char *list, const char *outdir, const dsn_geometry *g, const dsn_serial *s, int force)
{
    size_t len;
    char *text = dsn_read_file(list, LIST_FILE_MAX, &len);
    if(!text) return -1;
    int rc = -1, n = 0;
    char **lines = NULL, **outs = NULL, **sorted = NULL;
    file_id *ids = NULL;
    if(strlen(text) != len) {
        dsn_error("stamp: --list %s contains a NUL byte: not a list of file names", list);
        goto cleanup;
    }
    if(list_lines(text, &lines, &n) != 0) {
        dsn_error("stamp: --list %s: out of memory", list);
        goto cleanup;
    }
    if(n == 0) {
        dsn_error("stamp: --list %s names no images", list);
        goto cleanup;
    }
    struct stat st;
    if(stat(outdir, &st) != 0) {
        dsn_error("stamp: --outdir %s: %s", outdir, strerror(errno));
        goto cleanup;
    }
    if(!S_ISDIR(st.st_mode)) {
        dsn_error("stamp: --outdir %s is not a directory", outdir);
        goto cleanup;
    }
    outs = calloc((size_t)n, sizeof *outs);
    sorted = calloc((size_t)n, sizeof *sorted);
    if(!outs || !sorted) {
        dsn_error("stamp: out of memory");
        goto cleanup;
    }
    for(int i = 0; i < n; ++i) {
        char name[4096];
        if(list_output_name(name, sizeof name, outdir, lines[i]) != 0 || !(outs[i] = strdup(name))) {
            dsn_error("stamp: %s:%d: no output name for '%s'", list, i + 1, lines[i]);
            goto cleanup;
        }
        sorted[i] = outs[i];
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    for(int i = 1; i < n; ++i) {
        if(strcmp(sorted[i - 1], sorted[i]) == 0) {
            dsn_error("stamp: --list %s: two images would both be written to %s", list, sorted[i]);
            goto cleanup;
        }
    }
    for(int i = 0; i < n; ++i) {
        if(stamp_one(lines[i], NULL, g, s, force) != 0) goto cleanup;
    }
    int nid = input_ids(lines, n, list, &ids);
    if(nid < 0) goto cleanup;
    for(int i = 0; i < n; ++i) {
        if(check_output(outs[i], ids, nid, force, "one of the listed images (or the list)") != 0) goto cleanup;
    }
    for(int i = 0; i < n; ++i) {
        if(stamp_one(lines[i], outs[i], g, s, force) != 0) goto cleanup;
    }
    printf("stamped %d image%s into %s\n", n, n == 1 ? "" : "s", outdir);
    rc = 0;
cleanup:
    if(outs) for(int i = 0; i < n; ++i) free(outs[i]);
    free(outs);
    free(sorted);
    free(ids);
    free(lines);
    free(text);
    return rc;
}

/* --serial with --bits, --cell, --corner, --margin, --columns, --frame (INT_MIN / NULL: the default).
 * 0 or -1. */
static int options_geometry(dsn_geometry *g, dsn_serial *s, const char *serial_text, int bits, int cell,
                            const char *corner_name, int margin, int columns, int frame, int wrap)
{
    char err[512];
    if(!serial_text) {
        dsn_error("stamp: missing --serial S or --cert FILE (see dsn stamp --help)");
        return -1;
    }
    if(dsn_cert_geometry_options(g, bits, cell, corner_name, margin, columns, frame, wrap, err, sizeof err) != 0) {
        dsn_error("stamp: %s", err);
        return -1;
    }
    if(dsn_serial_decode(s, serial_text, g->bits, err, sizeof err) != 0) {
        dsn_error("stamp: --serial: %s", err);
        return -1;
    }
    return 0;
}

int dsn_cmd_stamp(int argc, char **argv)
{
    const char *serial_text = NULL, *cert = NULL, *corner_name = NULL, *list = NULL, *outdir = NULL;
    int bits = INT_MIN, cell = INT_MIN, margin = INT_MIN, columns = INT_MIN, frame = INT_MIN, wrap = 0; /* INT_MIN: not given */
    int force = 0;
    char *pos[2];
    int npos = 0;
    const dsn_option opts[] = {
        {"--serial", NULL, DSN_ARG_STR, &serial_text, "S", "the serial to stamp, e.g. XXXX-XXXX-XXXX-XXX"},
        {"--bits", NULL, DSN_ARG_INT, &bits, "N", "serial length in bits (default 64)"},
        {"--cell", NULL, DSN_ARG_INT, &cell, "N", "cell size in pixels, 0 = scale with input (default 0)"},
        {"--corner", NULL, DSN_ARG_STR, &corner_name, "C", "tl, tr, bl or br (default br)"},
        {"--margin", NULL, DSN_ARG_INT, &margin, "N", "pixels between stamp and corner (default 0)"},
        {"--columns", NULL, DSN_ARG_INT, &columns, "N", "grid columns, 1..bits (default 0: a square grid)"},
        {"--frame", NULL, DSN_ARG_INT, &frame, "N", "rings of checkerboard cells around the serial (default 0)"},
        {"--wrap", NULL, DSN_ARG_FLAG, &wrap, NULL, "the frame repeats the grid's opposite edges (needs --frame)"},
        {"--cert", NULL, DSN_ARG_STR, &cert, "FILE", "take serial and geometry from a certificate"},
        {"--list", NULL, DSN_ARG_STR, &list, "FILE", "stamp every image named in FILE (one per line)"},
        {"--outdir", NULL, DSN_ARG_STR, &outdir, "DIR", "where --list writes DIR/<name>.png"},
        {"--force", NULL, DSN_ARG_FLAG, &force, NULL, "replace existing outputs (never an input image)"},
    };
    const dsn_usage u = {
        "stamp", "(--serial S [--bits N --cell N --corner C --margin N --columns N --frame N --wrap] | --cert FILE)\n"
                 "                 (in.png out.png | --list images.txt --outdir DIR)",
        "Writes the exact pixels the [serial_stamp] layer produces, with the image taken as the\n"
        "network input (no resizing). Output is PNG (.pgm/.ppm names write netpbm). An existing\n"
        "output is replaced only with --force, and never when it is one of the input images.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 2, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;

    char err[512];
    dsn_serial s;
    dsn_geometry g;
    if(cert) {
        if(serial_text || bits != INT_MIN || cell != INT_MIN || margin != INT_MIN || columns != INT_MIN ||
           frame != INT_MIN || wrap || corner_name) {
            dsn_error("stamp: --cert gives the serial and the geometry: drop --serial, --bits, --cell, "
                      "--corner, --margin, --columns, --frame and --wrap");
            return DSN_EXIT_ERROR;
        }
        dsn_cert c;
        if(dsn_cert_load(&c, cert, err, sizeof err) != 0) {
            dsn_error("%s", err);
            return DSN_EXIT_ERROR;
        }
        if(dsn_cert_geometry(&g, &c, err, sizeof err) != 0) {
            dsn_error("stamp: %s: %s", cert, err);
            return DSN_EXIT_ERROR;
        }
        s = c.serial;
    } else if(options_geometry(&g, &s, serial_text, bits, cell, corner_name, margin, columns, frame, wrap) != 0) {
        return DSN_EXIT_ERROR;
    }

    if(list || outdir) {
        if(!list || !outdir || npos != 0) {
            dsn_error("stamp: list mode takes --list FILE and --outdir DIR and no image names");
            return DSN_EXIT_ERROR;
        }
        return stamp_list(list, outdir, &g, &s, force) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    }
    if(npos != 2) {
        dsn_error("stamp: expected an input and an output image (dsn stamp ... in.png out.png)");
        return DSN_EXIT_ERROR;
    }
    if(stamp_one(pos[0], NULL, &g, &s, force) != 0) return DSN_EXIT_ERROR;
    file_id *ids = NULL;
    int nid = input_ids(pos, 1, NULL, &ids);
    int ok = nid > 0 && check_output(pos[1], ids, nid, force, "the input image") == 0 &&
             stamp_one(pos[0], pos[1], &g, &s, force) == 0;
    free(ids);
    return ok ? DSN_EXIT_OK : DSN_EXIT_ERROR;
}
