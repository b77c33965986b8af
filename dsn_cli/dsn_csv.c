/* dsn_csv.c: RFC 4180 records (see dsn_csv.h). One pass over the text, one field at a time. */
#include "dsn_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_parser {
    const char *s;
    size_t len, at;
    int line;
    const char *name;
    char *err;
    size_t errlen;
    char *buf;          /* the field being read */
    size_t n, cap;
} csv_parser;

static int fail(csv_parser *p, int line, const char *what, int field)
{
    snprintf(p->err, p->errlen, "%s:%d: %s (field %d)", p->name, line, what, field);
    return -1;
}

static int put(csv_parser *p, char c)
{
    if(p->n + 1 >= p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        char *b = realloc(p->buf, cap);
        if(!b) return -1;
        p->buf = b;
        p->cap = cap;
    }
    p->buf[p->n++] = c;
    p->buf[p->n] = '\0';
    return 0;
}

static int peek(const csv_parser *p) { return p->at < p->len ? (unsigned char)p->s[p->at] : -1; }

/* At a record end (LF, CRLF or the end of the text)? Consumes it when `eat`. */
static int at_eol(csv_parser *p, int eat)
{
    int c = peek(p);
    size_t w = 0;
    if(c < 0) return 1;
    if(c == '\n') w = 1;
    else if(c == '\r' && p->at + 1 < p->len && p->s[p->at + 1] == '\n') w = 2;
    if(w && eat) {
        p->at += w;
        ++p->line;
    }
    return w != 0;
}

static void skip_blanks(csv_parser *p)
{
    while(peek(p) == ' ' || peek(p) == '\t') ++p->at;
}

/* Reads one field into p->buf; *quoted tells whether it was. Stops before the ',' or the EOL. */
static int read_field(csv_parser *p, int field, int *quoted)
{
    p->n = 0;
    if(p->buf) p->buf[0] = '\0';
    skip_blanks(p);
    *quoted = peek(p) == '"';
    if(*quoted) {
        int open_line = p->line;
        for(++p->at;; ++p->at) {
            int c = peek(p);
            if(c < 0) return fail(p, open_line, "a quote opened here is never closed", field);
            if(c == '\0') return fail(p, p->line, "a NUL byte", field);
            if(c == '"') {
                if(p->at + 1 < p->len && p->s[p->at + 1] == '"') ++p->at;
                else break;
            }
            if(c == '\n') ++p->line;
            if(put(p, (char)c) != 0) return fail(p, p->line, "out of memory", field);
        }
        ++p->at;
        skip_blanks(p);
        if(peek(p) != ',' && !at_eol(p, 0)) return fail(p, p->line, "text after the closing quote", field);
        return 0;
    }
    while(peek(p) != ',' && !at_eol(p, 0)) {
        int c = peek(p);
        if(c == '"') return fail(p, p->line, "a quote inside an unquoted field (quote the whole field)", field);
        if(c == '\0') return fail(p, p->line, "a NUL byte", field);
        if(put(p, (char)c) != 0) return fail(p, p->line, "out of memory", field);
        ++p->at;
    }
    while(p->n > 0 && (p->buf[p->n - 1] == ' ' || p->buf[p->n - 1] == '\t')) p->buf[--p->n] = '\0';
    return 0;
}

void dsn_csv_free(dsn_csv_record *r, int n)
{
    if(!r) return;
    for(int i = 0; i < n; ++i) {
        for(int j = 0; j < r[i].nfields; ++j) free(r[i].field[j]);
        free(r[i].field);
    }
    free(r);
}

/* Reads one record into rec (its fields malloc'd). *blank: the line held only blanks. */
static int read_record(csv_parser *p, dsn_csv_record *rec, int *blank)
{
    memset(rec, 0, sizeof *rec);
    rec->line = p->line;
    int quoted_any = 0;
    for(;;) {
        int quoted;
        if(read_field(p, rec->nfields + 1, &quoted) != 0) return -1;
        quoted_any |= quoted;
        char **f = realloc(rec->field, (size_t)(rec->nfields + 1) * sizeof *f);
        char *copy = strdup(p->buf ? p->buf : "");
        if(!f || !copy) {
            free(copy);
            if(f) rec->field = f;
            return fail(p, rec->line, "out of memory", rec->nfields + 1);
        }
        rec->field = f;
        rec->field[rec->nfields++] = copy;
        if(peek(p) == ',') {
            ++p->at;
            continue;
        }
        at_eol(p, 1);
        break;
    }
    *blank = rec->nfields == 1 && !quoted_any && rec->field[0][0] == '\0';
    return 0;
}

int dsn_csv_parse(dsn_csv_record **out, int *n, const char *text, size_t len, const char *name,
                  char *err, size_t errlen)
{
    csv_parser p = {text, len, 0, 1, name, err, errlen, NULL, 0, 0};
    dsn_csv_record *recs = NULL;
    int count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    while(p.at < p.len) {
        dsn_csv_record rec;
        int blank;
        if(read_record(&p, &rec, &blank) != 0) {
            for(int j = 0; j < rec.nfields; ++j) free(rec.field[j]);
            free(rec.field);
            goto fail;
        }
        if(blank) {
            free(rec.field[0]);
            free(rec.field);
            continue;
        }
        if(count == cap) {
            cap = cap ? 2 * cap : 16;
            dsn_csv_record *bigger = realloc(recs, (size_t)cap * sizeof *bigger);
            if(!bigger) {
                for(int j = 0; j < rec.nfields; ++j) free(rec.field[j]);
                free(rec.field);
                fail(&p, rec.line, "out of memory", 1);
                goto fail;
            }
            recs = bigger;
        }
        recs[count++] = rec;
    }
    free(p.buf);
    *out = recs;
    *n = count;
    return 0;
fail:
    free(p.buf);
    dsn_csv_free(recs, count);
    return -1;
}
