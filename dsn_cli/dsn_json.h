/* dsn_json.h: the JSON that `dsn eval` writes and `dsn report` reads: a growing text buffer with
 * JSON writers, and a small strict parser into a tree.
 *
 *     dsn_buf b = {0};
 *     dsn_buf_printf(&b, "{\"customer\": ");  dsn_buf_json_str(&b, name);
 *     dsn_buf_printf(&b, ", \"valid\": ");    dsn_buf_json_num(&b, 98.75);   // NaN -> null
 *     dsn_buf_printf(&b, "}\n");
 *     if(b.oom) ...;  write b.s, b.n;  dsn_buf_free(&b);
 *
 *     dsn_json *j = dsn_json_parse(text, len, "run.json", err, sizeof err);  // NULL: err says where
 *     double v = dsn_json_num(dsn_json_get(j, "valid"), -1);                  // -1 when absent
 *     const char *who = dsn_json_str(dsn_json_get(j, "customer"));             // NULL when absent
 *     dsn_json_free(j);
 *
 * The parser takes RFC 8259 JSON only (no comments, no trailing commas, no NaN), at most
 * DSN_JSON_DEPTH levels deep; strings are decoded to UTF-8 (\u escapes, surrogate pairs) and may not
 * hold NUL. Duplicate object keys are kept; dsn_json_get returns the first. The tree owns all its
 * memory; dsn_json_free releases it. */
#ifndef DSN_JSON_H
#define DSN_JSON_H

#include <stddef.h>

#define DSN_JSON_DEPTH 64

/* ---- writing ----------------------------------------------------------------------------- */

typedef struct dsn_buf {
    char *s;      /* NUL-terminated text (NULL until the first append) */
    size_t n;     /* bytes, without the NUL                           */
    size_t cap;
    int oom;      /* set when an append ran out of memory: s holds what fitted before */
} dsn_buf;

void dsn_buf_printf(dsn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a quoted JSON string (control characters, quotes and backslashes escaped); NULL -> null. */
void dsn_buf_json_str(dsn_buf *b, const char *s);
/* v with up to 10 significant digits; NaN and infinities -> null. */
void dsn_buf_json_num(dsn_buf *b, double v);
/* 1 unless v is NaN or infinite. Tested on the bits: dsn_cli is compiled with -Ofast, under
 * which isnan() and isfinite() are folded to constants. */
int dsn_finite(double v);
void dsn_buf_free(dsn_buf *b);

/* ---- reading ----------------------------------------------------------------------------- */

typedef enum {
    DSN_JSON_NULL, DSN_JSON_BOOL, DSN_JSON_NUMBER, DSN_JSON_STRING, DSN_JSON_ARRAY, DSN_JSON_OBJECT
} dsn_json_type;

typedef struct dsn_json {
    dsn_json_type type;
    int boolean;               /* BOOL                                        */
    double number;             /* NUMBER                                      */
    char *string;              /* STRING                                      */
    int n;                     /* ARRAY, OBJECT: number of items              */
    struct dsn_json *items;    /* ARRAY, OBJECT: [n]                          */
    char **keys;               /* OBJECT: [n] keys, in file order             */
} dsn_json;

/* Parses len bytes. Returns the tree (caller frees with dsn_json_free), or NULL with err holding
 * "name:line:col: what was expected". */
dsn_json *dsn_json_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Reads and parses a file of at most `max` bytes; err names the file. */
dsn_json *dsn_json_load(const char *path, size_t max, char *err, size_t errlen);

void dsn_json_free(dsn_json *j);

/* obj[key], or NULL when obj is NULL, not an object, or has no such key. */
const dsn_json *dsn_json_get(const dsn_json *obj, const char *key);
/* The value as a number / string; `def` / NULL when j is NULL or of another type. */
double dsn_json_num(const dsn_json *j, double def);
const char *dsn_json_str(const dsn_json *j);

#endif
