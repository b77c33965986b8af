/* cmd_issue.c: `dsn issue`: sign a serial-number certificate for one customer and one model.
 *
 * Every input is checked before the key is read and before anything is written: names, time,
 * geometry (and that the stamp fits a --size image), and that the output does not exist yet
 * (unless --force). The certificate is a pure function of its inputs and the key, so issuing
 * twice with the same --time gives the same file byte for byte. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dsn_cert.h"
#include "dsn_issue_batch.h"
#include "dsn_model.h"
#include "dsn_util.h"

/* The stamp geometry of the options, checked to fit a --size image. 0 or -1. */
static int issue_geometry(dsn_geometry *g, int bits, const char *corner_name, int cell, int margin, int columns, int frame,
                          int wrap, const char *size)
{
    char err[512];
    if(dsn_cert_geometry_options(g, bits, cell, corner_name, margin, columns, frame, wrap, err, sizeof err) != 0) {
        dsn_error("issue: %s", err);
        return -1;
    }
    int w, h;
    if(dsn_parse_size(size, &w, &h) != 0) {
        dsn_error("issue: --size '%s' is not WxH (e.g. 28x28)", size);
        return -1;
    }
    dsn_geometry placed = *g;
    if(dsn_geometry_place(&placed, w, h, err, sizeof err) != 0) {
        dsn_error("issue: the stamp does not fit the network input (--size %dx%d): %s", w, h, err);
        return -1;
    }
    return 0;
}

/* --cfg: the stamp geometry of the cfg's [serial_stamp] (placed on its [net] input, so it fits).
 * The geometry options must not be given as well. 0 or -1. */
static int cfg_geometry(dsn_geometry *g, const char *cfg, int geometry_given)
{
    char err[512];
    if(geometry_given) {
        dsn_error("issue: --cfg %s gives the stamp geometry: drop --bits, --corner, --cell, --margin, --columns, --frame, "
                  "--wrap and --size", cfg);
        return -1;
    }
    if(dsn_cfg_file_stamp_geometry(cfg, g, err, sizeof err) != 0) {
        dsn_error("issue: --cfg: %s", err);
        return -1;
    }
    return 0;
}

/* Signs c with the private key, writes it to out and prints the serial. 0 or -1. */
static int sign_and_write(dsn_cert *c, const char *key, const char *out, int force)
{
    char err[512], text[DSN_CERT_TEXT_MAX], serial[DSN_SERIAL_TEXT_MAX];
    dsn_key *k = NULL;
    if(dsn_key_load_private(&k, key, err, sizeof err) != 0) {
        dsn_error("issue: --key: %s", err);
        return -1;
    }
    int n = -1;
    if(dsn_cert_sign(c, k) == 0) n = dsn_cert_format(text, sizeof text, c);
    dsn_key_free(k);
    if(n < 0) {
        dsn_error("issue: cannot sign the certificate with %s", key);
        return -1;
    }
    if(dsn_write_file(out, text, (size_t)n, 0644, force ? DSN_WRITE_REPLACE : DSN_WRITE_NEW) != 0) return -1;
    dsn_serial_encode(serial, sizeof serial, &c->serial);
    printf("%s\n", serial);
    return 0;
}

int dsn_cmd_issue(int argc, char **argv)
{
    const char *key = NULL, *owner = NULL, *customer = NULL, *model = NULL, *out = NULL;
    const char *corner_name = NULL, *when = NULL, *size = NULL, *batch = NULL, *cfg = NULL;
    int bits = INT_MIN, cell = INT_MIN, margin = INT_MIN, columns = INT_MIN, frame = INT_MIN; /* INT_MIN, NULL: not given */
    int wrap = 0, force = 0;
    const dsn_option opts[] = {
        {"--key", NULL, DSN_ARG_STR, &key, "FILE", "owner's private key (PEM, Ed25519)"},
        {"--owner", NULL, DSN_ARG_STR, &owner, "NAME", "who issues it (you)"},
        {"--customer", NULL, DSN_ARG_STR, &customer, "NAME", "who receives the model"},
        {"--model", NULL, DSN_ARG_STR, &model, "ID", "which model the serial unlocks"},
        {"--cfg", NULL, DSN_ARG_STR, &cfg, "FILE", "take the stamp geometry from the student cfg's [serial_stamp]"},
        {"--bits", NULL, DSN_ARG_INT, &bits, "N", "serial length, 4..256 (default 64)"},
        {"--corner", NULL, DSN_ARG_STR, &corner_name, "C", "stamp corner: tl, tr, bl or br (default br)"},
        {"--cell", NULL, DSN_ARG_INT, &cell, "N", "cell size in pixels, 0 = scale with input (default 0)"},
        {"--margin", NULL, DSN_ARG_INT, &margin, "N", "pixels between stamp and corner (default 0)"},
        {"--columns", NULL, DSN_ARG_INT, &columns, "N", "grid columns, 1..bits (default 0: a square grid)"},
        {"--frame", NULL, DSN_ARG_INT, &frame, "N", "rings of checkerboard cells around the serial, 0..2 (default 0)"},
        {"--wrap", NULL, DSN_ARG_FLAG, &wrap, NULL, "the frame repeats the grid's opposite edges (needs --frame)"},
        {"--size", NULL, DSN_ARG_STR, &size, "WxH", "network input size the stamp must fit (default 28x28)"},
        {"--time", NULL, DSN_ARG_STR, &when, "T", "issue time, UTC, 2026-11-26T04:00:00Z (default now)"},
        {"--output", "-o", DSN_ARG_STR, &out, "FILE", "certificate to write, e.g. customer.sn"},
        {"--force", NULL, DSN_ARG_FLAG, &force, NULL, "replace an existing certificate"},
        {"--batch", NULL, DSN_ARG_STR, &batch, "CSV", "one certificate per CSV record (name,model[,notes]) into -o DIR"},
    };
    const dsn_usage u = {
        "issue", "--key owner.pem --owner NAME (--customer NAME --model ID -o customer.sn | --batch customers.csv -o DIR) [options]",
        "Signs a certificate naming the owner, customer, model, issue time and stamp geometry, and\n"
        "derives the customer's serial from the signature. Prints the serial.\n"
        "--batch customers.csv -o DIR: every customer of the CSV (RFC 4180, one `name,model[,notes]`\n"
        "per line, an optional header line) into DIR/<name>.sn plus DIR/customers.json, all or none:\n"
        "a malformed line, a customer twice, or one DIR already holds is refused, naming the line.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;

    const struct { const char *value, *what; } required[] = {
        {key, "--key FILE"}, {owner, "--owner NAME"}, {batch ? "" : customer, "--customer NAME"},
        {batch ? "" : model, "--model ID"}, {out, batch ? "-o DIR" : "-o FILE"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("issue: missing %s (see dsn issue --help)", required[i].what);
            return DSN_EXIT_ERROR;
        }
    }

    char err[512];
    const struct { const char *value, *option; } names[] = {
        {owner, "--owner"}, {customer, "--customer"}, {model, "--model"},
    };
    if(batch && (customer || model || force)) {
        dsn_error("issue: --batch takes the customers and models from %s: no --customer, --model or --force", batch);
        return DSN_EXIT_ERROR;
    }
    for(int i = 0; i < (batch ? 1 : DSN_COUNT(names)); ++i) {
        if(dsn_cert_check_name(names[i].option, names[i].value, err, sizeof err) != 0) {
            dsn_error("issue: %s", err);
            return DSN_EXIT_ERROR;
        }
    }
    dsn_geometry g;
    int given = bits != INT_MIN || cell != INT_MIN || margin != INT_MIN || columns != INT_MIN || frame != INT_MIN || wrap ||
                corner_name || size;
    if(cfg ? cfg_geometry(&g, cfg, given) != 0
           : issue_geometry(&g, bits, corner_name, cell, margin, columns, frame, wrap, size ? size : "28x28") != 0)
        return DSN_EXIT_ERROR;
    int64_t issued = (int64_t)time(NULL);
    if(when && dsn_time_parse(&issued, when) != 0) {
        dsn_error("issue: --time '%s' is not a UTC time like 2026-11-26T04:00:00Z", when);
        return DSN_EXIT_ERROR;
    }
    if(batch) {
        dsn_issue_batch_opts bo = {batch, key, owner, out, g, issued};
        return dsn_issue_batch(&bo);
    }
    if(!force && dsn_check_new(out, "refusing to overwrite a certificate (--force replaces it)") != 0)
        return DSN_EXIT_ERROR;

    dsn_cert c;
    if(dsn_cert_init(&c, owner, customer, model, issued, &g, err, sizeof err) != 0) {
        dsn_error("issue: %s", err);
        return DSN_EXIT_ERROR;
    }
    if(sign_and_write(&c, key, out, force) != 0) return DSN_EXIT_ERROR;
    return DSN_EXIT_OK;
}
