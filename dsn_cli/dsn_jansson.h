/* dsn_jansson.h: JSON for dsn over libjansson (Debian libjansson-dev), with the strictness our
 * readers ask for, and the layout our writers use.
 *
 *     char err[512];
 *     json_t *j = dsn_json_load("run.json", 1 << 20, err, sizeof err);    // NULL: err = "run.json:3:14: ..."
 *     double v = dsn_json_num(json_object_get(j, "valid"), -1);            // -1 when absent or not a number
 *     const char *who = json_string_value(json_object_get(j, "customer")); // NULL when absent
 *     json_decref(j);
 *
 *     json_t *o = json_object();  int bad = 0;
 *     dsn_json_put(o, "valid", dsn_json_real(98.75), &bad);               // NaN and infinities -> null
 *     dsn_buf b = {0};
 *     if(bad || dsn_json_dump(&b, o) != 0) ...out of memory...;  json_decref(o);  ...b.s, b.n...
 *
 * Reading takes RFC 8259 JSON only: one value of any type, no comments, no trailing commas, no
 * NaN or Infinity, valid UTF-8 with no NUL (neither raw nor \u0000), at most DSN_JSON_DEPTH
 * arrays and objects deep. A key given twice in one object is refused: which one did the writer
 * mean? Every number is read as a double (json_real), integers too, so readers see one type.
 * Errors name the place as name:line:column (jansson's column: the character it stopped at).
 * Writing: two-space indent, keys in the order they were added, reals with 10 significant
 * digits (whole reals keep a ".0"), a final newline. */
#ifndef DSN_JANSSON_H
#define DSN_JANSSON_H

#include <jansson.h>
#include <stddef.h>

#include "dsn_util.h"

#define DSN_JSON_DEPTH 64

/* Parses len bytes. Returns a new reference (json_decref it), or NULL with err holding
 * "name:line:col: what is wrong". */
json_t *dsn_json_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Reads and parses a file of at most max bytes; err names the file. */
json_t *dsn_json_load(const char *path, size_t max, char *err, size_t errlen);

/* A real, or null when v is NaN or infinite (jansson refuses those). NULL only when out of memory. */
json_t *dsn_json_real(double v);

/* obj[key] = v, or arr[] += v when key is NULL; takes v's reference. A failure (v NULL from a
 * constructor that ran out of memory, or the insertion itself) increments *bad. */
void dsn_json_put(json_t *obj, const char *key, json_t *v, int *bad);

/* j as text (the layout above) appended to b. Returns 0, or -1 when out of memory. */
int dsn_json_dump(dsn_buf *b, const json_t *j);

/* j's value when it is a number, def otherwise (also when j is NULL). */
double dsn_json_num(const json_t *j, double def);

#endif
