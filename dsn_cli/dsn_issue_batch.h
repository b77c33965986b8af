/* dsn_issue_batch.h: `dsn issue --batch customers.csv -o DIR`: one certificate per customer,
 * every one of them or none.
 *
 * customers.csv (RFC 4180, see dsn_csv.h): one customer per record, `name,model[,notes]`; a first
 * record `name,model[,notes]` (or `customer,...`) is a header. DIR receives <file>.sn per customer
 * (file: dsn_customer_file) and customers.json, the index of every certificate in DIR:
 *
 *     {"dsn_customers": 1, "customers": [{"customer": "Bob Corp", "model": "mnist-v1",
 *      "notes": "", "file": "bob_corp.sn", "serial": "XXXX-...", "issued": "2026-..."}, ...]}
 *
 * Refused before anything is written, each with the CSV line: malformed records, bad names, a
 * customer twice in the file, two customers that would share a file, a customer DIR already
 * holds. DIR is then rebuilt beside itself (its files linked, the new ones written) and swapped in
 * (dsn_dir.h): after a failure DIR is byte for byte what it was. */
#ifndef DSN_ISSUE_BATCH_H
#define DSN_ISSUE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "dsn_jansson.h"
#include "dsn_stamp.h"

#define DSN_NOTES_MAX 1024

typedef struct dsn_issue_batch_opts {
    const char *csv, *key, *owner, *out;
    dsn_geometry geo;
    int64_t issued;
} dsn_issue_batch_opts;

/* Returns a DSN_EXIT_* code; prints one "NAME SERIAL FILE" line per new certificate. */
int dsn_issue_batch(const dsn_issue_batch_opts *o);

/* The file name (without ".sn") for a customer name: ASCII letters and digits lower-cased,
 * '-' '_' '.' kept, every other byte '_', a leading '.' made '_', at most 64 bytes. */
void dsn_customer_file(char *out, size_t len, const char *customer);

/* The notes of certificate file `file` in a customers.json index ("" when absent). */
const char *dsn_issue_index_notes(const json_t *index, const char *file);

#endif
