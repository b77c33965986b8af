/* dsn_csv.h: comma-separated records (RFC 4180), for `dsn issue --batch customers.csv`.
 *
 *     dsn_csv_record *r;  int n;  char err[512];
 *     if(dsn_csv_parse(&r, &n, text, len, "customers.csv", err, sizeof err) != 0) ...  // err: file:line
 *     for(int i = 0; i < n; ++i) printf("line %d: %s\n", r[i].line, r[i].field[0]);
 *     dsn_csv_free(r, n);
 *
 * The format: records end at LF or CRLF; fields are separated by commas; a field may be enclosed
 * in double quotes, and then holds commas, line breaks and quotes written twice (""). Beyond RFC
 * 4180, for hand-written files: spaces and tabs around an unquoted field (and around a quoted
 * one, outside its quotes) are dropped, and blank lines are skipped. Refused, with the line
 * number: a quote inside an unquoted field, text after a closing quote, a quote never closed, a
 * NUL byte. A record's line is the line it starts on. */
#ifndef DSN_CSV_H
#define DSN_CSV_H

#include <stddef.h>

typedef struct dsn_csv_record {
    int line;        /* 1-based line where the record starts */
    int nfields;
    char **field;    /* [nfields] NUL-terminated, unquoted  */
} dsn_csv_record;

/* Parses text[0..len). On success *out (malloc'd; dsn_csv_free) holds *n records and 0 is
 * returned; otherwise -1 with err = "NAME:LINE: what is wrong" and nothing to free. */
int dsn_csv_parse(dsn_csv_record **out, int *n, const char *text, size_t len, const char *name,
                  char *err, size_t errlen);
void dsn_csv_free(dsn_csv_record *r, int n);

#endif
