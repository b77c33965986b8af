/* dsn_jansson.c: JSON reading and writing over libjansson (see dsn_jansson.h).
 *
 * jansson does the parsing, the UTF-8 and escape checks and the writing. What it cannot be told
 * at run time, we check on the text before it parses: a NUL byte anywhere, and nesting deeper than
 * DSN_JSON_DEPTH (jansson's own limit is a compile-time 2048). */
#include "dsn_jansson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* 1-based line and column of text[at] */
static void line_col(const char *text, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for(size_t i = 0; i < at; ++i) {
        if(text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if(((unsigned char)text[i] & 0xc0) != 0x80) {
            ++*col;   /* characters, not bytes, as jansson counts */
        }
    }
}

/* The offset of the first NUL byte, or of the bracket that opens level DSN_JSON_DEPTH + 1
 * (outside strings); len when there is neither. */
static size_t precheck(const char *text, size_t len, const char **why)
{
    int depth = 0, in_string = 0;
    for(size_t i = 0; i < len; ++i) {
        char c = text[i];
        if(c == '\0') {
            *why = "NUL byte in the text";
            return i;
        }
        if(in_string) {
            if(c == '\\') ++i;
            else if(c == '"') in_string = 0;
        } else if(c == '"') {
            in_string = 1;
        } else if(c == '[' || c == '{') {
            if(++depth > DSN_JSON_DEPTH) {
                *why = "nested too deeply (at most " STR(DSN_JSON_DEPTH) " arrays and objects)";
                return i;
            }
        } else if(c == ']' || c == '}') {
            --depth;
        }
    }
    return len;
}

json_t *dsn_json_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    const char *why = NULL;
    int line, col;
    name = name ? name : "json";
    size_t at = precheck(text, len, &why);
    if(why) {
        line_col(text, at, &line, &col);
        snprintf(err, errlen, "%s:%d:%d: %s", name, line, col, why);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
    if(!j) {
        /* jansson gives column 0 for an empty text */
        snprintf(err, errlen, "%s:%d:%d: %s", name, e.line > 0 ? e.line : 1, e.column > 0 ? e.column : 1, e.text);
    }
    return j;
}

json_t *dsn_json_load(const char *path, size_t max, char *err, size_t errlen)
{
    size_t len;
    char *text = dsn_read_file_err(path, max, &len, err, errlen);
    if(!text) return NULL;
    json_t *j = dsn_json_parse(text, len, path, err, errlen);
    free(text);
    return j;
}

json_t *dsn_json_real(double v)
{
    return dsn_finite(v) ? json_real(v) : json_null();
}

void dsn_json_put(json_t *obj, const char *key, json_t *v, int *bad)
{
    int rc = key ? json_object_set_new(obj, key, v) : json_array_append_new(obj, v);
    if(rc != 0) ++*bad;
}

int dsn_json_dump(dsn_buf *b, const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10) | JSON_ENCODE_ANY) : NULL;
    if(!s) return -1;
    dsn_buf_printf(b, "%s\n", s);
    free(s);
    return b->oom ? -1 : 0;
}

double dsn_json_num(const json_t *j, double def)
{
    return json_is_number(j) ? json_number_value(j) : def;
}
