/* dsn_json.c: JSON text buffer, writers and a strict recursive-descent parser (see dsn_json.h).
 *
 * Not a general JSON library: no streaming, no editing of a parsed tree, numbers as doubles only.
 * It reads what `dsn eval` and run manifests hold, and refuses anything else with a line:column. */
#include "dsn_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_util.h"

/* ---- writing ----------------------------------------------------------------------------- */

static int buf_reserve(dsn_buf *b, size_t extra)
{
    if(b->oom) return -1;
    if(b->s && b->n + extra < b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while(cap <= b->n + extra) cap *= 2;
    char *s = realloc(b->s, cap);
    if(!s) {
        b->oom = 1;
        return -1;
    }
    if(!b->s) s[0] = '\0';
    b->s = s;
    b->cap = cap;
    return 0;
}

void dsn_buf_printf(dsn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if(n < 0 || buf_reserve(b, (size_t)n + 1) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void dsn_buf_json_str(dsn_buf *b, const char *s)
{
    if(!s) {
        dsn_buf_printf(b, "null");
        return;
    }
    dsn_buf_printf(b, "\"");
    for(const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        if(*p == '"' || *p == '\\') dsn_buf_printf(b, "\\%c", *p);
        else if(*p == '\n') dsn_buf_printf(b, "\\n");
        else if(*p == '\t') dsn_buf_printf(b, "\\t");
        else if(*p < 0x20 || *p == 0x7f) dsn_buf_printf(b, "\\u%04x", *p);
        else dsn_buf_printf(b, "%c", *p);
    }
    dsn_buf_printf(b, "\"");
}

int dsn_finite(double v)
{
    /* by the bits: our code is built with -Ofast, whose -ffinite-math-only folds isfinite() to 1 */
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return ((u >> 52) & 0x7ff) != 0x7ff;
}

void dsn_buf_json_num(dsn_buf *b, double v)
{
    if(!dsn_finite(v)) dsn_buf_printf(b, "null");
    else if(v == floor(v) && fabs(v) < 1e15) dsn_buf_printf(b, "%.0f", v);
    else dsn_buf_printf(b, "%.10g", v);
}

void dsn_buf_free(dsn_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct parser {
    const char *s, *end, *name;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void fail(parser *p, const char *at, const char *what)
{
    if(p->failed) return;
    p->failed = 1;
    int line = 1, col = 1;
    for(const char *q = p->s; q < at && q < p->end; ++q) {
        if(*q == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->name, line, col, what);
}

static const char *skip_ws(const char *q, const char *end)
{
    while(q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) ++q;
    return q;
}

static void free_value(dsn_json *j)
{
    if(j->type == DSN_JSON_STRING) free(j->string);
    if(j->type == DSN_JSON_ARRAY || j->type == DSN_JSON_OBJECT) {
        for(int i = 0; i < j->n; ++i) {
            free_value(&j->items[i]);
            if(j->keys) free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
    }
}

static int hex4(const char *q, const char *end, unsigned *out)
{
    unsigned v = 0;
    if(end - q < 4) return -1;
    for(int i = 0; i < 4; ++i) {
        char c = q[i];
        v <<= 4;
        if(c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if(c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if(c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(char *o, size_t *n, unsigned cp)
{
    if(cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if(cp < 0x800) {
        o[(*n)++] = (char)(0xc0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if(cp < 0x10000) {
        o[(*n)++] = (char)(0xe0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*n)++] = (char)(0xf0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* *q points at the opening quote; returns the decoded string (malloc'd) and moves *q past it. */
static char *parse_string(parser *p, const char **q)
{
    const char *r = *q + 1;
    /* the decoded text is never longer than the source */
    const char *close = r;
    while(close < p->end && *close != '"') close += (*close == '\\' && close + 1 < p->end) ? 2 : 1;
    if(close >= p->end) {
        fail(p, *q, "unterminated string");
        return NULL;
    }
    char *o = malloc((size_t)(close - r) + 1);
    if(!o) {
        fail(p, *q, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while(r < close) {
        unsigned char c = (unsigned char)*r;
        if(c < 0x20) {
            fail(p, r, "control character in a string (escape it)");
            goto bad;
        }
        if(c != '\\') {
            o[n++] = (char)c;
            ++r;
            continue;
        }
        char e = r[1];
        r += 2;
        switch(e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if(hex4(r, close, &cp) != 0) {
                fail(p, r - 2, "\\u needs four hex digits");
                goto bad;
            }
            r += 4;
            if(cp >= 0xd800 && cp < 0xdc00) {
                if(close - r < 6 || r[0] != '\\' || r[1] != 'u' || hex4(r + 2, close, &lo) != 0 ||
                   lo < 0xdc00 || lo > 0xdfff) {
                    fail(p, r - 6, "unpaired UTF-16 surrogate");
                    goto bad;
                }
                r += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if(cp >= 0xdc00 && cp < 0xe000) {
                fail(p, r - 6, "unpaired UTF-16 surrogate");
                goto bad;
            }
            if(cp == 0) {
                fail(p, r - 6, "\\u0000 is not allowed in a string here");
                goto bad;
            }
            put_utf8(o, &n, cp);
            break;
        }
        default:
            fail(p, r - 2, "unknown escape in a string");
            goto bad;
        }
    }
    o[n] = '\0';
    *q = close + 1;
    return o;
bad:
    free(o);
    return NULL;
}

static int parse_number(parser *p, const char **q, double *out)
{
    const char *r = *q, *start = r;
    if(r < p->end && *r == '-') ++r;
    if(r < p->end && *r == '0') {
        ++r;
    } else if(r < p->end && *r >= '1' && *r <= '9') {
        while(r < p->end && *r >= '0' && *r <= '9') ++r;
    } else {
        fail(p, start, "expected a value");
        return -1;
    }
    if(r < p->end && *r == '.') {
        ++r;
        if(r >= p->end || *r < '0' || *r > '9') {
            fail(p, r, "expected a digit after '.'");
            return -1;
        }
        while(r < p->end && *r >= '0' && *r <= '9') ++r;
    }
    if(r < p->end && (*r == 'e' || *r == 'E')) {
        ++r;
        if(r < p->end && (*r == '+' || *r == '-')) ++r;
        if(r >= p->end || *r < '0' || *r > '9') {
            fail(p, r, "expected a digit in the exponent");
            return -1;
        }
        while(r < p->end && *r >= '0' && *r <= '9') ++r;
    }
    char tmp[64];
    size_t n = (size_t)(r - start);
    if(n >= sizeof tmp) {
        fail(p, start, "number too long");
        return -1;
    }
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    *q = r;
    return 0;
}

static int literal(const char *q, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - q) >= n && memcmp(q, word, n) == 0;
}

static int parse_value(parser *p, const char **q, dsn_json *v, int depth);

static int append_item(parser *p, dsn_json *v, int *cap, const char *at)
{
    if(v->n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 8;
    dsn_json *items = realloc(v->items, (size_t)nc * sizeof *items);
    if(!items) {
        fail(p, at, "out of memory");
        return -1;
    }
    v->items = items;
    if(v->type == DSN_JSON_OBJECT) {
        char **keys = realloc(v->keys, (size_t)nc * sizeof *keys);
        if(!keys) {
            fail(p, at, "out of memory");
            return -1;
        }
        v->keys = keys;
    }
    *cap = nc;
    return 0;
}

static int parse_container(parser *p, const char **q, dsn_json *v, int depth)
{
    int object = **q == '{', cap = 0;
    char close = object ? '}' : ']';
    v->type = object ? DSN_JSON_OBJECT : DSN_JSON_ARRAY;
    if(depth >= DSN_JSON_DEPTH) {
        fail(p, *q, "nested too deeply");
        return -1;
    }
    const char *r = skip_ws(*q + 1, p->end);
    if(r < p->end && *r == close) {
        *q = r + 1;
        return 0;
    }
    for(;;) {
        char *key = NULL;
        if(object) {
            if(r >= p->end || *r != '"') {
                fail(p, r, "expected a quoted key");
                return -1;
            }
            if(!(key = parse_string(p, &r))) return -1;
            r = skip_ws(r, p->end);
            if(r >= p->end || *r != ':') {
                free(key);
                fail(p, r, "expected ':' after a key");
                return -1;
            }
            r = skip_ws(r + 1, p->end);
        }
        if(append_item(p, v, &cap, r) != 0) {
            free(key);
            return -1;
        }
        memset(&v->items[v->n], 0, sizeof v->items[v->n]);
        if(object) v->keys[v->n] = key;
        ++v->n;   /* counted before parsing so that free_value releases a half-built item */
        if(parse_value(p, &r, &v->items[v->n - 1], depth + 1) != 0) return -1;
        r = skip_ws(r, p->end);
        if(r < p->end && *r == ',') {
            r = skip_ws(r + 1, p->end);
            continue;
        }
        if(r < p->end && *r == close) {
            *q = r + 1;
            return 0;
        }
        fail(p, r, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return -1;
    }
}

static int parse_value(parser *p, const char **q, dsn_json *v, int depth)
{
    const char *r = skip_ws(*q, p->end);
    if(r >= p->end) {
        fail(p, r, "unexpected end of input");
        return -1;
    }
    int rc = 0;
    if(*r == '{' || *r == '[') {
        rc = parse_container(p, &r, v, depth);
    } else if(*r == '"') {
        v->type = DSN_JSON_STRING;
        if(!(v->string = parse_string(p, &r))) rc = -1;
    } else if(literal(r, p->end, "true") || literal(r, p->end, "false")) {
        v->type = DSN_JSON_BOOL;
        v->boolean = *r == 't';
        r += v->boolean ? 4 : 5;
    } else if(literal(r, p->end, "null")) {
        v->type = DSN_JSON_NULL;
        r += 4;
    } else {
        v->type = DSN_JSON_NUMBER;
        rc = parse_number(p, &r, &v->number);
    }
    *q = r;
    return rc;
}

dsn_json *dsn_json_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    parser p = {text, text + len, name ? name : "json", err, errlen, 0};
    dsn_json *root = calloc(1, sizeof *root);
    if(!root) {
        snprintf(err, errlen, "%s: out of memory", p.name);
        return NULL;
    }
    const char *q = text;
    if(memchr(text, '\0', len)) {
        fail(&p, memchr(text, '\0', len), "NUL byte in the text");
    } else if(parse_value(&p, &q, root, 0) == 0) {
        q = skip_ws(q, p.end);
        if(q != p.end) fail(&p, q, "text after the end of the value");
    }
    if(p.failed) {
        dsn_json_free(root);
        return NULL;
    }
    return root;
}

dsn_json *dsn_json_load(const char *path, size_t max, char *err, size_t errlen)
{
    size_t len;
    char *text = dsn_read_file_err(path, max, &len, err, errlen);
    if(!text) return NULL;
    dsn_json *j = dsn_json_parse(text, len, path, err, errlen);
    free(text);
    return j;
}

void dsn_json_free(dsn_json *j)
{
    if(!j) return;
    free_value(j);
    free(j);
}

const dsn_json *dsn_json_get(const dsn_json *obj, const char *key)
{
    if(!obj || obj->type != DSN_JSON_OBJECT) return NULL;
    for(int i = 0; i < obj->n; ++i) {
        if(strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    }
    return NULL;
}

double dsn_json_num(const dsn_json *j, double def)
{
    return j && j->type == DSN_JSON_NUMBER ? j->number : def;
}

const char *dsn_json_str(const dsn_json *j)
{
    return j && j->type == DSN_JSON_STRING ? j->string : NULL;
}
