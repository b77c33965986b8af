/* cmd_keygen.c: `dsn keygen -o owner.pem`: a new Ed25519 owner key pair.
 *
 * Writes the private key (PKCS#8 PEM, mode 0600) and its public key (SubjectPublicKeyInfo PEM)
 * beside it, the same files `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`
 * write. Never replaces an existing file: a lost owner key cannot be re-made, so there is no
 * --force. Either both files are written or neither is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn_crypto.h"
#include "dsn_util.h"

/* owner.pem -> owner.pub.pem; anything else gets ".pub.pem" appended. */
static int public_name(char *out, size_t len, const char *priv)
{
    size_t n = strlen(priv);
    int r;
    if(n > 4 && strcmp(priv + n - 4, ".pem") == 0) r = snprintf(out, len, "%.*s.pub.pem", (int)(n - 4), priv);
    else r = snprintf(out, len, "%s.pub.pem", priv);
    return r < 0 || (size_t)r >= len ? -1 : 0;
}

int dsn_cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *pub = NULL;
    const dsn_option opts[] = {
        {"--output", "-o", DSN_ARG_STR, &out, "FILE", "private key to write (mode 0600), e.g. owner.pem"},
        {"--pub", NULL, DSN_ARG_STR, &pub, "FILE", "public key to write (default: FILE with .pub.pem)"},
    };
    const dsn_usage u = {
        "keygen", "-o owner.pem [--pub owner.pub.pem]",
        "Makes the owner's Ed25519 key pair: the private key signs certificates (keep it secret and\n"
        "backed up), the public key lets anyone check them. Refuses to overwrite either file.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(!out) {
        dsn_error("keygen: missing -o FILE (see dsn keygen --help)");
        return DSN_EXIT_ERROR;
    }
    char pubname[4096];
    if(!pub) {
        if(public_name(pubname, sizeof pubname, out) != 0) {
            dsn_error("keygen: -o %s: name too long", out);
            return DSN_EXIT_ERROR;
        }
        pub = pubname;
    }
    if(strcmp(pub, out) == 0) {
        dsn_error("keygen: --pub and -o name the same file %s", out);
        return DSN_EXIT_ERROR;
    }
    if(dsn_check_new(out, "refusing to overwrite a key (move it away first)") != 0 ||
       dsn_check_new(pub, "refusing to overwrite a key (move it away first)") != 0)
        return DSN_EXIT_ERROR;

    int rc = DSN_EXIT_ERROR;
    dsn_key *k = NULL;
    char *priv_pem = NULL, *pub_pem = NULL, fp[DSN_FINGERPRINT_HEX];
    size_t priv_len = 0, pub_len = 0;
    if(dsn_key_generate(&k) != 0 || dsn_key_private_pem(&priv_pem, &priv_len, k) != 0 ||
       dsn_key_public_pem(&pub_pem, &pub_len, k) != 0 || dsn_key_fingerprint(fp, k) != 0) {
        dsn_error("keygen: cannot make an Ed25519 key");
        goto cleanup;
    }
    if(dsn_write_file(out, priv_pem, priv_len, 0600, DSN_WRITE_NEW) != 0) goto cleanup;
    if(dsn_write_file(pub, pub_pem, pub_len, 0644, DSN_WRITE_NEW) != 0) {
        unlink(out); /* made a moment ago by us: no half pair */
        goto cleanup;
    }
    printf("wrote %s (private: keep it secret) and %s\nkey sha256 %s\n", out, pub, fp);
    rc = DSN_EXIT_OK;
cleanup:
    dsn_key_pem_free(priv_pem, priv_len);
    free(pub_pem);
    dsn_key_free(k);
    return rc;
}
