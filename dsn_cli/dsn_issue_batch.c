/* dsn_issue_batch.c: `dsn issue --batch` (see dsn_issue_batch.h).
 *
 * Three phases: read and check everything (CSV, names, duplicates, the existing DIR), sign every
 * certificate in memory, then write a new directory and swap it in. Nothing reaches DIR before
 * the last phase, and the last phase replaces DIR as a whole. */
#include "dsn_issue_batch.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn_cert.h"
#include "dsn_csv.h"
#include "dsn_dir.h"
#include "dsn_util.h"

#define CSV_MAX (64u << 20)
#define FILE_MAX 64

typedef struct entry {
    int line;                   /* CSV line; 0 for a certificate already in DIR */
    char file[FILE_MAX + 4];    /* "bob_corp.sn"                                */
    const char *notes;
    dsn_cert cert;
} entry;

typedef struct batch {
    const dsn_issue_batch_opts *o;
    entry *e;
    int n, n_old;
    dsn_csv_record *rec;
    int n_rec;
    json_t *old_index;          /* DIR/customers.json when it exists            */
} batch;

void dsn_customer_file(char *out, size_t len, const char *customer)
{
    size_t n = 0;
    for(const unsigned char *p = (const unsigned char *)customer; *p && n + 1 < len && n < FILE_MAX; ++p) {
        int c = *p;
        if(c < 128 && isalnum(c)) out[n++] = (char)tolower(c);
        else if(c == '-' || c == '_' || (c == '.' && n > 0)) out[n++] = (char)c;
        else out[n++] = '_';
    }
    out[n] = '\0';
}

static int is_header(const dsn_csv_record *r)
{
    const char *a = r->field[0], *b = r->nfields > 1 ? r->field[1] : "";
    return (strcasecmp(a, "name") == 0 || strcasecmp(a, "customer") == 0) &&
           (strcasecmp(b, "model") == 0 || strcasecmp(b, "model id") == 0 || strcasecmp(b, "model_id") == 0);
}

/* A new certificate (line > 0) must not repeat a customer or a file of any entry before it. */
static int check_unique(const batch *b, const entry *x)
{
    const char *csv = b->o->csv;
    for(const entry *y = b->e; y < x; ++y) {
        const char *where = y->line ? "" : b->o->out;
        if(strcmp(y->cert.customer, x->cert.customer) == 0) {
            if(y->line) dsn_error("issue: %s:%d: customer '%s' is already on line %d", csv, x->line, x->cert.customer, y->line);
            else dsn_error("issue: %s:%d: customer '%s' already has a certificate: %s/%s", csv, x->line, x->cert.customer, where, y->file);
            return -1;
        }
        if(strcmp(y->file, x->file) == 0) {
            if(y->line) dsn_error("issue: %s:%d: customer '%s' would be written to %s, as '%s' on line %d is: rename one",
                                  csv, x->line, x->cert.customer, x->file, y->cert.customer, y->line);
            else dsn_error("issue: %s:%d: customer '%s' would be written to %s/%s, which holds '%s's certificate",
                           csv, x->line, x->cert.customer, where, x->file, y->cert.customer);
            return -1;
        }
    }
    return 0;
}

/* The certificates already in DIR (in file name order), as entries with line 0; and the old index. */
static int load_existing(batch *b)
{
    int have = dsn_dir_exists(b->o->out);
    if(have <= 0) return have;
    struct dirent **e = NULL;
    int n = scandir(b->o->out, &e, NULL, alphasort), rc = 0;
    if(n < 0) {
        dsn_error("issue: cannot read %s", b->o->out);
        return -1;
    }
    entry *bigger = realloc(b->e, (size_t)(n + b->n_rec + 1) * sizeof *bigger);
    if(!bigger) dsn_die("out of memory");
    b->e = bigger;
    for(int i = 0; i < n; ++i) {
        const char *name = e[i]->d_name;
        size_t len = strlen(name);
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", b->o->out, name);
        if(rc == 0 && strcmp(name, "customers.json") == 0) {
            json_error_t je;
            if(!(b->old_index = json_load_file(path, 0, &je))) {
                dsn_error("issue: %s:%d: %s", path, je.line, je.text);
                rc = -1;
            }
        } else if(rc == 0 && len > 3 && strcmp(name + len - 3, ".sn") == 0) {
            entry *x = &b->e[b->n];
            memset(x, 0, sizeof *x);
            if(len > FILE_MAX + 3 || dsn_cert_load(&x->cert, path, err, sizeof err) != 0) {
                dsn_error("issue: %s: %s", path, len > FILE_MAX + 3 ? "file name too long" : err);
                rc = -1;
            } else {
                memcpy(x->file, name, len + 1); /* len <= FILE_MAX + 3: checked above */
                ++b->n;
            }
        }
        free(e[i]);
    }
    free(e);
    b->n_old = b->n;
    return rc;
}

/* The CSV's records as new entries, every one checked. */
static int read_records(batch *b)
{
    const char *csv = b->o->csv;
    char err[1024];
    int first = b->n_rec > 0 && is_header(&b->rec[0]);
    for(int i = first; i < b->n_rec; ++i) {
        const dsn_csv_record *r = &b->rec[i];
        entry *x = &b->e[b->n];
        memset(x, 0, sizeof *x);
        x->line = r->line;
        if(r->nfields < 2 || r->nfields > 3) {
            dsn_error("issue: %s:%d: %d field%s: expected name,model[,notes]", csv, r->line, r->nfields,
                      r->nfields == 1 ? "" : "s");
            return -1;
        }
        x->notes = r->nfields > 2 ? r->field[2] : "";
        if(strlen(x->notes) > DSN_NOTES_MAX) {
            dsn_error("issue: %s:%d: notes longer than %d bytes", csv, r->line, DSN_NOTES_MAX);
            return -1;
        }
        if(dsn_cert_init(&x->cert, b->o->owner, r->field[0], r->field[1], b->o->issued, &b->o->geo, err, sizeof err) != 0) {
            dsn_error("issue: %s:%d: %s", csv, r->line, err);
            return -1;
        }
        dsn_customer_file(x->file, sizeof x->file - 3, x->cert.customer);
        strcat(x->file, ".sn");
        if(check_unique(b, x) != 0) return -1;
        ++b->n;
    }
    if(b->n == b->n_old) {
        dsn_error("issue: %s holds no customer", csv);
        return -1;
    }
    return 0;
}

const char *dsn_issue_index_notes(const json_t *index, const char *file)
{
    json_t *list = json_object_get(index, "customers"), *c;
    size_t i;
    json_array_foreach(list, i, c) {
        const char *f = json_string_value(json_object_get(c, "file"));
        const char *notes = json_string_value(json_object_get(c, "notes"));
        if(f && notes && strcmp(f, file) == 0) return notes;
    }
    return "";
}

/* customers.json for every entry, old ones first, in DIR order then CSV order. */
static char *index_json(const batch *b)
{
    json_t *list = json_array();
    for(int i = 0; i < b->n; ++i) {
        const entry *x = &b->e[i];
        char serial[DSN_SERIAL_TEXT_MAX], when[DSN_TIME_TEXT];
        dsn_serial_encode(serial, sizeof serial, &x->cert.serial);
        dsn_time_format(when, x->cert.issued);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "customer", x->cert.customer,
                                              "model", x->cert.model, "notes", x->line ? x->notes : dsn_issue_index_notes(b->old_index, x->file),
                                              "file", x->file, "serial", serial, "issued", when));
    }
    json_t *root = json_pack("{s:i, s:o}", "dsn_customers", 1, "customers", list);
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    char *line = text ? realloc(text, strlen(text) + 2) : NULL;
    if(!line) {
        free(text);
        return NULL;
    }
    strcat(line, "\n");
    return line;
}

/* Signs every new entry with the owner's key. */
static int sign_all(batch *b)
{
    char err[512];
    dsn_key *k = NULL;
    if(dsn_key_load_private(&k, b->o->key, err, sizeof err) != 0) {
        dsn_error("issue: --key: %s", err);
        return -1;
    }
    int rc = 0;
    for(int i = b->n_old; i < b->n && rc == 0; ++i) {
        if(dsn_cert_sign(&b->e[i].cert, k) != 0) {
            dsn_error("issue: cannot sign %s's certificate with %s", b->e[i].cert.customer, b->o->key);
            rc = -1;
        }
    }
    dsn_key_free(k);
    return rc;
}

/* The new directory: DIR's files linked, the new certificates and the index written; swapped in. */
static int write_all(const batch *b)
{
    char tmp[4096], path[4200], text[DSN_CERT_TEXT_MAX];
    int have = dsn_dir_exists(b->o->out);
    if(have < 0 || dsn_dir_new_beside(tmp, sizeof tmp, b->o->out) != 0) return -1;
    if(have && dsn_dir_link_all(tmp, b->o->out) != 0) goto fail;
    for(int i = b->n_old; i < b->n; ++i) {
        int n = dsn_cert_format(text, sizeof text, &b->e[i].cert);
        snprintf(path, sizeof path, "%s/%s", tmp, b->e[i].file);
        if(n < 0 || dsn_write_file(path, text, (size_t)n, 0644, DSN_WRITE_NEW) != 0) goto fail;
    }
    char *index = index_json(b);
    snprintf(path, sizeof path, "%s/customers.json", tmp);
    if(have) unlink(path); /* a link to the old index: replaced, never written through */
    int bad = !index || dsn_write_file(path, index, strlen(index), 0644, DSN_WRITE_NEW) != 0;
    free(index);
    if(bad) goto fail;
    dsn_dir_sync(tmp, 1);
    return dsn_dir_install(tmp, b->o->out);
fail:
    dsn_dir_remove(tmp);
    return -1;
}

int dsn_issue_batch(const dsn_issue_batch_opts *o)
{
    batch b = {o, NULL, 0, 0, NULL, 0, NULL};
    size_t len;
    char err[1024];
    int rc = DSN_EXIT_ERROR;
    char *text = dsn_read_file(o->csv, CSV_MAX, &len);
    if(!text) return DSN_EXIT_ERROR;
    if(dsn_csv_parse(&b.rec, &b.n_rec, text, len, o->csv, err, sizeof err) != 0) {
        dsn_error("issue: %s", err);
        goto done;
    }
    b.e = malloc((size_t)(b.n_rec + 1) * sizeof *b.e);
    if(!b.e) dsn_die("out of memory");
    if(load_existing(&b) != 0 || read_records(&b) != 0 || sign_all(&b) != 0 || write_all(&b) != 0) goto done;
    for(int i = b.n_old; i < b.n; ++i) {
        char serial[DSN_SERIAL_TEXT_MAX];
        dsn_serial_encode(serial, sizeof serial, &b.e[i].cert.serial);
        printf("%s\t%s\t%s/%s\n", b.e[i].cert.customer, serial, o->out, b.e[i].file);
    }
    rc = DSN_EXIT_OK;
done:
    json_decref(b.old_index);
    dsn_csv_free(b.rec, b.n_rec);
    free(b.e);
    free(text);
    return rc;
}
