/* cmd_show.c: `dsn show customer.sn`: a certificate's fields, for people.
 *
 * Parsing is as strict as verification (a malformed file exits 2, naming the line), but nothing
 * is checked against a key: `dsn verify-cert` does that. */
#include <stdio.h>

#include "dsn_cert.h"
#include "dsn_util.h"

int dsn_cmd_show(int argc, char **argv)
{
    char *pos[1];
    int npos = 0;
    const dsn_usage u = {
        "show", "customer.sn",
        "Prints what a certificate says: owner, customer, model, issue time, serial, stamp geometry\n"
        "and the owner key's fingerprint. Does not check the signature (see dsn verify-cert).",
    };
    int r = dsn_args_parse(argc, argv, NULL, 0, &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos != 1) {
        dsn_error("show: which certificate? (dsn show customer.sn)");
        return DSN_EXIT_ERROR;
    }
    dsn_cert c;
    dsn_geometry g;
    char err[512], when[DSN_TIME_TEXT], serial[DSN_SERIAL_TEXT_MAX];
    char fp[2 * DSN_SHA256_BYTES + 1], sig[2 * DSN_SIG_BYTES + 1];
    if(dsn_cert_load(&c, pos[0], err, sizeof err) != 0) {
        dsn_error("%s", err);
        return DSN_EXIT_ERROR;
    }
    if(dsn_cert_geometry(&g, &c, err, sizeof err) != 0) {
        dsn_error("%s: %s", pos[0], err);
        return DSN_EXIT_ERROR;
    }
    dsn_time_format(when, c.issued);
    dsn_serial_encode(serial, sizeof serial, &c.serial);
    dsn_hex_encode(fp, c.pubkey_sha256, sizeof c.pubkey_sha256);
    dsn_hex_encode(sig, c.signature, sizeof c.signature);
    printf("certificate  %s (dsn-certificate %d)\n", pos[0], DSN_CERT_VERSION);
    printf("owner        %s\n", c.owner);
    printf("customer     %s\n", c.customer);
    printf("model        %s\n", c.model);
    printf("issued       %s\n", when);
    printf("serial       %s (%d bits)\n", serial, c.bits);
    char frame[64] = "";
    if(c.frame)
        snprintf(frame, sizeof frame, ", framed by %d ring%s of %s", c.frame, c.frame > 1 ? "s" : "",
                 c.wrap ? "the grid's wrap-around" : "checkerboard cells");
    if(c.cell) printf("stamp        %dx%d grid of %d-pixel cells, corner %s, margin %d%s\n", g.gw, g.gh, c.cell,
                      dsn_corner_name(c.corner), c.margin, frame);
    else printf("stamp        %dx%d grid, cells scaled with the input, corner %s, margin %d%s\n", g.gw, g.gh,
                dsn_corner_name(c.corner), c.margin, frame);
    printf("owner key    sha256 %s\n", fp);
    printf("signature    %.32s... (not checked here: dsn verify-cert %s --pub KEY)\n", sig, pos[0]);
    return DSN_EXIT_OK;
}
