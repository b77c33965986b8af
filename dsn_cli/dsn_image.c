/* dsn_image.c: image decode/encode for `dsn stamp` (see dsn_image.h).
 *
 * The stb_image / stb_image_write functions are the ones compiled into Darknet's image.c and
 * exported from build/libdarknet.a; they are declared here rather than included, so this file
 * needs no Darknet headers. Darknet's own load_image()/save_image_png() are not used: the first
 * exits with status 0 on an unreadable file, the second truncates instead of rounding and appends
 * ".png" to the name. Swapping the codec means replacing the four functions marked "codec". */
#include "dsn_image.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_util.h"

/* stb_image v2.19 / stb_image_write v1.09, as built into libdarknet */
extern unsigned char *stbi_load_from_memory(unsigned char const *buffer, int len, int *x, int *y,
                                            int *comp, int req_comp);
extern int stbi_info_from_memory(unsigned char const *buffer, int len, int *x, int *y, int *comp);
extern const char *stbi_failure_reason(void);
extern void stbi_image_free(void *retval_from_stbi_load);
typedef void stbi_write_func(void *context, void *data, int size);
extern int stbi_write_png_to_func(stbi_write_func *func, void *context, int w, int h, int comp,
                                  const void *data, int stride_in_bytes);

void dsn_image_free(dsn_image *im)
{
    if(!im) return;
    free(im->data);
    im->data = NULL;
}

/* Binary netpbm (P5, P6) shorter than its header says: stb_image would decode it anyway, the
 * missing pixels left uninitialised. Returns the bytes missing, or 0 (not PNM, or whole). */
static size_t pnm_missing(const unsigned char *buf, size_t len)
{
    if(len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '6')) return 0;
    size_t i = 2, v[3];
    for(int k = 0; k < 3; ++k) {
        for(;;) {   /* white space and comments, as stb skips them */
            while(i < len && strchr(" \t\n\v\f\r", buf[i])) ++i;
            if(i >= len || buf[i] != '#') break;
            while(i < len && buf[i] != '\n' && buf[i] != '\r') ++i;
        }
        for(v[k] = 0; i < len && buf[i] >= '0' && buf[i] <= '9' && v[k] < (1u << 20); ++i)
            v[k] = v[k] * 10 + (size_t)(buf[i] - '0');
    }
    size_t need = v[0] * v[1] * (buf[1] == '6' ? 3 : 1), have = i < len ? len - i - 1 : 0;
    return have < need ? need - have : 0;
}

/* codec: decode bytes into im (1 or 3 channels) */
static int decode(dsn_image *im, const unsigned char *buf, size_t len, const char *path, char *err,
                  size_t errlen)
{
    int w, h, comp;
    size_t missing = pnm_missing(buf, len);
    if(missing) {
        snprintf(err, errlen, "%s: a netpbm image cut short (%zu bytes of pixels missing)", path, missing);
        return -1;
    }
    if(!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
        snprintf(err, errlen, "%s: not an image this build can read (%s)", path, stbi_failure_reason());
        return -1;
    }
    int want = comp >= 3 ? 3 : 1;
    unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, want);
    if(!px) {
        snprintf(err, errlen, "%s: cannot decode the image (%s)", path, stbi_failure_reason());
        return -1;
    }
    size_t n = (size_t)w * (size_t)h * (size_t)want;
    im->data = malloc(n);
    if(!im->data) {
        stbi_image_free(px);
        snprintf(err, errlen, "%s: out of memory for a %dx%d image", path, w, h);
        return -1;
    }
    memcpy(im->data, px, n);
    stbi_image_free(px);
    im->w = w;
    im->h = h;
    im->c = want;
    return 0;
}

int dsn_image_load(dsn_image *im, const char *path, char *err, size_t errlen)
{
    memset(im, 0, sizeof *im);
    size_t len = 0;
    char *buf = dsn_read_file_err(path, DSN_IMAGE_FILE_MAX, &len, err, errlen);
    if(!buf) return -1;
    int rc = decode(im, (const unsigned char *)buf, len, path, err, errlen);
    free(buf);
    return rc;
}

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if(m->failed || size <= 0) return;
    if(m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while(cap < m->len + (size_t)size) cap *= 2;
        unsigned char *p = realloc(m->data, cap);
        if(!p) {
            m->failed = 1;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static int ext_is(const char *ext, const char *want)
{
    for(; *ext && *want; ++ext, ++want) {
        char c = *ext >= 'A' && *ext <= 'Z' ? (char)(*ext - 'A' + 'a') : *ext;
        if(c != *want) return 0;
    }
    return *ext == *want;
}

/* codec: netpbm P5/P6 */
static int encode_pnm(membuf *m, const dsn_image *im)
{
    char head[64];
    int n = snprintf(head, sizeof head, "P%c\n%d %d\n255\n", im->c == 1 ? '5' : '6', im->w, im->h);
    membuf_write(m, head, n);
    membuf_write(m, im->data, im->w * im->h * im->c);
    return m->failed ? -1 : 0;
}

/* codec: PNG */
static int encode_png(membuf *m, const dsn_image *im)
{
    if(!stbi_write_png_to_func(membuf_write, m, im->w, im->h, im->c, im->data, im->w * im->c))
        return -1;
    return m->failed ? -1 : 0;
}

int dsn_image_encode(unsigned char **out, size_t *len, const dsn_image *im, const char *path,
                     char *err, size_t errlen)
{
    static const char *const lossy[] = {"jpg", "jpeg", "webp", "gif", "bmp", "tga"};
    const char *ext = extension(path);
    membuf m = {0};
    *out = NULL;
    *len = 0;
    for(int i = 0; i < DSN_COUNT(lossy); ++i) {
        if(ext_is(ext, lossy[i])) {
            snprintf(err, errlen, "%s: dsn writes stamped images as PNG (.png) or netpbm (.pgm, .ppm); "
                     "a .%s file would not keep the stamp's exact pixels", path, ext);
            return -1;
        }
    }
    int pnm = ext_is(ext, "pgm") || ext_is(ext, "ppm") || ext_is(ext, "pnm");
    if((pnm ? encode_pnm(&m, im) : encode_png(&m, im)) != 0) {
        free(m.data);
        snprintf(err, errlen, "%s: cannot encode the image", path);
        return -1;
    }
    *out = m.data;
    *len = m.len;
    return 0;
}

int dsn_image_save(const dsn_image *im, const char *path)
{
    char err[512];
    unsigned char *buf;
    size_t len;
    if(dsn_image_encode(&buf, &len, im, path, err, sizeof err) != 0) {
        dsn_error("%s", err);
        return -1;
    }
    int rc = dsn_write_file(path, buf, len, 0644, DSN_WRITE_REPLACE);
    free(buf);
    return rc;
}

int dsn_image_stamp(dsn_image *im, const dsn_geometry *g, const dsn_serial *s)
{
    if(g->w != im->w || g->h != im->h || g->cell_px <= 0 || s->nbits != g->bits) return -1;
    size_t plane = (size_t)im->w * (size_t)im->h;
    float *chw = malloc(plane * (size_t)im->c * sizeof *chw);
    if(!chw) return -1;
    /* the exact floats Darknet's load_image_stb makes: (float)byte/255. */
    for(int k = 0; k < im->c; ++k) {
        for(size_t i = 0; i < plane; ++i) chw[k * plane + i] = (float)(im->data[i * im->c + k] / 255.);
    }
    dsn_stamp_apply(chw, im->c, g, s);
    for(int k = 0; k < im->c; ++k) {
        for(size_t i = 0; i < plane; ++i) {
            long v = lrintf(chw[k * plane + i] * 255.0f);
            im->data[i * im->c + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(chw);
    return 0;
}
