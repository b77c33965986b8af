/* cmd_verify_cert.c: `dsn verify-cert customer.sn --pub owner.pub.pem`.
 *
 * Exit 0: the certificate was signed by that key and its serial is the one derived from the
 * signature. Exit 1: it was read fine but is not valid (another key, altered, forged). Exit 2: the
 * certificate or the key could not be read at all. */
#include <stdio.h>

#include "dsn_cert.h"
#include "dsn_util.h"

int dsn_cmd_verify_cert(int argc, char **argv)
{
    const char *pub = NULL;
    char *pos[1];
    int npos = 0;
    const dsn_option opts[] = {
        {"--pub", NULL, DSN_ARG_STR, &pub, "FILE", "owner's public key (PEM; a private key file also works)"},
    };
    const dsn_usage u = {
        "verify-cert", "customer.sn --pub owner.pub.pem",
        "Checks that the certificate names this key, that its Ed25519 signature covers exactly its\n"
        "fields, and that its serial is the one derived from the signature.\n"
        "Exit status: 0 valid, 1 not valid, 2 cannot read the certificate or the key.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos != 1) {
        dsn_error("verify-cert: which certificate? (dsn verify-cert customer.sn --pub owner.pub.pem)");
        return DSN_EXIT_ERROR;
    }
    if(!pub) {
        dsn_error("verify-cert: missing --pub FILE (the owner's public key)");
        return DSN_EXIT_ERROR;
    }
    dsn_cert c;
    dsn_key *k = NULL;
    char err[512], serial[DSN_SERIAL_TEXT_MAX];
    if(dsn_cert_load(&c, pos[0], err, sizeof err) != 0) {
        dsn_error("%s", err);
        return DSN_EXIT_ERROR;
    }
    if(dsn_key_load_public(&k, pub, err, sizeof err) != 0) {
        dsn_error("verify-cert: --pub: %s", err);
        return DSN_EXIT_ERROR;
    }
    int valid = dsn_cert_verify(&c, k, err, sizeof err) == 0;
    dsn_key_free(k);
    if(!valid) {
        printf("%s: NOT VALID: %s\n", pos[0], err);
        return DSN_EXIT_NO;
    }
    dsn_serial_encode(serial, sizeof serial, &c.serial);
    printf("%s: valid: serial %s, issued by %s to %s for model %s\n", pos[0], serial, c.owner,
           c.customer, c.model);
    return DSN_EXIT_OK;
}
