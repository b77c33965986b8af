/* dsn_crypto.c: Ed25519 keys and signatures, SHA-256 (see dsn_crypto.h).
 *
 * Every function that calls OpenSSL has one `cleanup` label that frees what it made; failures
 * leave OpenSSL's error queue for the CLI to print. Key files are read into memory here (so a
 * missing file is reported with errno, and the size is bounded) and parsed from a memory BIO. */
#include "dsn_crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

struct dsn_key {
    EVP_PKEY *pkey;
    int is_private;
};

static int key_wrap(dsn_key **out, EVP_PKEY *pkey, int is_private)
{
    dsn_key *k = calloc(1, sizeof *k);
    if(!k) return -1;
    k->pkey = pkey;
    k->is_private = is_private;
    *out = k;
    return 0;
}

void dsn_key_free(dsn_key *k)
{
    if(!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int dsn_key_is_private(const dsn_key *k)
{
    return k && k->is_private;
}

int dsn_key_generate(dsn_key **out)
{
    int rc = -1;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    *out = NULL;
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if(!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) goto cleanup;
    if(key_wrap(out, pkey, 1) != 0) goto cleanup;
    pkey = NULL;
    rc = 0;
cleanup:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Wraps a freshly made raw key (NULL when OpenSSL refused it), freeing it on failure. */
static int key_wrap_new(dsn_key **out, EVP_PKEY *pkey, int has_private)
{
    *out = NULL;
    if(!pkey) return -1;
    if(key_wrap(out, pkey, has_private) != 0) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    return 0;
}

int dsn_key_from_seed(dsn_key **out, const uint8_t seed[DSN_SEED_BYTES])
{
    return key_wrap_new(out, EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, DSN_SEED_BYTES), 1);
}

int dsn_key_from_public(dsn_key **out, const uint8_t pk[DSN_PUBKEY_BYTES])
{
    return key_wrap_new(out, EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, DSN_PUBKEY_BYTES), 0);
}

/* Reads at most DSN_KEYFILE_MAX bytes of path into a NUL-terminated malloc'd buffer. */
static char *read_key_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f) {
        snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(DSN_KEYFILE_MAX + 1);
    if(!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, DSN_KEYFILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if(bad || n > DSN_KEYFILE_MAX) {
        snprintf(err, errlen, bad ? "cannot read key file %s" : "key file %s is larger than %d bytes: "
                 "not a PEM key", path, DSN_KEYFILE_MAX);
        OPENSSL_cleanse(buf, n > DSN_KEYFILE_MAX ? DSN_KEYFILE_MAX : n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void free_key_file(char *buf, size_t len)
{
    if(!buf) return;
    OPENSSL_cleanse(buf, len);
    free(buf);
}

/* Never prompts: an encrypted key is refused, not asked about. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* Explains why text did not parse as a PEM key of the wanted kind ("PRIVATE KEY"/"PUBLIC KEY"). */
static void explain_pem_failure(const char *text, const char *path, const char *kind, char *err,
                                size_t errlen)
{
    char begin[64], end[64];
    snprintf(begin, sizeof begin, "-----BEGIN %s-----", kind);
    snprintf(end, sizeof end, "-----END %s-----", kind);
    if(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        snprintf(err, errlen, "%s is an encrypted private key: dsn needs an unencrypted one "
                 "(openssl pkey -in %s -out plain.pem)", path, path);
    else if(!strstr(text, "-----BEGIN "))
        snprintf(err, errlen, "%s is not a PEM file (no -----BEGIN line)", path);
    else if(strstr(text, begin) && !strstr(text, end))
        snprintf(err, errlen, "%s is a truncated PEM file (no -----END %s----- line)", path, kind);
    else if(!strstr(text, begin))
        snprintf(err, errlen, "%s holds no %s (it has a PEM block of another kind)", path, kind);
    else
        snprintf(err, errlen, "%s: cannot decode the %s (corrupt or truncated PEM)", path, kind);
}

static int check_ed25519(EVP_PKEY *pkey, const char *path, char *err, size_t errlen)
{
    if(EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519) return 0;
    const char *name = EVP_PKEY_get0_type_name(pkey);
    snprintf(err, errlen, "%s is an %s key: dsn needs an Ed25519 key (dsn keygen, or "
             "openssl genpkey -algorithm ed25519)", path, name ? name : "unknown");
    return -1;
}

/* Decodes the PEM text of a key file (private or public half) into *out; checks it is Ed25519. */
static int parse_pem_key(dsn_key **out, const char *text, size_t len, int private_key, const char *path,
                         char *err, size_t errlen)
{
    int rc = -1;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    if(!bio) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto cleanup;
    }
    pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)
                       : PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
    if(!pkey) {
        explain_pem_failure(text, path, private_key ? "PRIVATE KEY" : "PUBLIC KEY", err, errlen);
        goto cleanup;
    }
    if(check_ed25519(pkey, path, err, errlen) != 0) goto cleanup;
    if(key_wrap(out, pkey, private_key) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto cleanup;
    }
    pkey = NULL;
    rc = 0;
cleanup:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

int dsn_key_load_private(dsn_key **out, const char *path, char *err, size_t errlen)
{
    int rc = -1;
    size_t len = 0;
    char *text = NULL;
    *out = NULL;
    text = read_key_file(path, &len, err, errlen);
    if(!text) goto cleanup;
    if(strstr(text, "-----BEGIN PUBLIC KEY-----") && !strstr(text, "PRIVATE KEY-----")) {
        snprintf(err, errlen, "%s is a public key: signing needs the private key file", path);
        goto cleanup;
    }
    rc = parse_pem_key(out, text, len, 1, path, err, errlen);
cleanup:
    free_key_file(text, len);
    return rc;
}

int dsn_key_load_public(dsn_key **out, const char *path, char *err, size_t errlen)
{
    int rc = -1;
    size_t len = 0;
    char *text = NULL;
    uint8_t pk[DSN_PUBKEY_BYTES];
    *out = NULL;
    text = read_key_file(path, &len, err, errlen);
    if(!text) goto cleanup;
    if(strstr(text, "PRIVATE KEY-----") && !strstr(text, "-----BEGIN PUBLIC KEY-----")) {
        /* a private key file also names its public key: keep only that half */
        free_key_file(text, len);
        text = NULL;
        dsn_key *priv = NULL;
        if(dsn_key_load_private(&priv, path, err, errlen) != 0) goto cleanup;
        int r = dsn_key_public_raw(pk, priv);
        dsn_key_free(priv);
        if(r != 0 || dsn_key_from_public(out, pk) != 0) {
            snprintf(err, errlen, "%s: cannot extract the public key", path);
            goto cleanup;
        }
        rc = 0;
        goto cleanup;
    }
    rc = parse_pem_key(out, text, len, 0, path, err, errlen);
cleanup:
    free_key_file(text, len);
    return rc;
}

/* Copies a memory BIO's contents into a NUL-terminated malloc'd buffer. */
static int bio_to_string(char **out, size_t *len, BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if(n <= 0 || !data) return -1;
    char *s = malloc((size_t)n + 1);
    if(!s) return -1;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    *out = s;
    *len = (size_t)n;
    return 0;
}

int dsn_key_private_pem(char **pem, size_t *len, const dsn_key *k)
{
    int rc = -1;
    BIO *bio = NULL;
    *pem = NULL;
    *len = 0;
    if(!k || !k->is_private) goto cleanup;
    bio = BIO_new(BIO_s_secmem());
    if(!bio || !PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)) goto cleanup;
    if(bio_to_string(pem, len, bio) != 0) goto cleanup;
    rc = 0;
cleanup:
    BIO_free(bio);
    return rc;
}

void dsn_key_pem_free(char *pem, size_t len)
{
    if(!pem) return;
    OPENSSL_cleanse(pem, len);
    free(pem);
}

int dsn_key_public_pem(char **pem, size_t *len, const dsn_key *k)
{
    int rc = -1;
    BIO *bio = NULL;
    *pem = NULL;
    *len = 0;
    if(!k) goto cleanup;
    bio = BIO_new(BIO_s_mem());
    if(!bio || !PEM_write_bio_PUBKEY(bio, k->pkey)) goto cleanup;
    if(bio_to_string(pem, len, bio) != 0) goto cleanup;
    rc = 0;
cleanup:
    BIO_free(bio);
    return rc;
}

int dsn_key_public_raw(uint8_t pk[DSN_PUBKEY_BYTES], const dsn_key *k)
{
    size_t n = DSN_PUBKEY_BYTES;
    if(!k || EVP_PKEY_get_raw_public_key(k->pkey, pk, &n) != 1 || n != DSN_PUBKEY_BYTES) return -1;
    return 0;
}

int dsn_key_fingerprint(char out[DSN_FINGERPRINT_HEX], const dsn_key *k)
{
    uint8_t pk[DSN_PUBKEY_BYTES], h[DSN_SHA256_BYTES];
    if(dsn_key_public_raw(pk, k) != 0 || dsn_sha256(h, pk, sizeof pk) != 0) return -1;
    dsn_hex_encode(out, h, sizeof h);
    return 0;
}

int dsn_sign(uint8_t sig[DSN_SIG_BYTES], const uint8_t *msg, size_t len, const dsn_key *k)
{
    int rc = -1;
    size_t siglen = DSN_SIG_BYTES;
    EVP_MD_CTX *ctx = NULL;
    if(!k || !k->is_private) goto cleanup;
    ctx = EVP_MD_CTX_new();
    if(!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1) goto cleanup;
    if(EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 || siglen != DSN_SIG_BYTES) goto cleanup;
    rc = 0;
cleanup:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int dsn_verify(const uint8_t sig[DSN_SIG_BYTES], const uint8_t *msg, size_t len, const dsn_key *k)
{
    int rc = -1;
    EVP_MD_CTX *ctx = NULL;
    if(!k) goto cleanup;
    ctx = EVP_MD_CTX_new();
    if(!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) != 1) goto cleanup;
    rc = EVP_DigestVerify(ctx, sig, DSN_SIG_BYTES, msg, len) == 1 ? 0 : -1;
    /* a bad signature is an answer, not an error: keep the queue for real failures */
    ERR_clear_error();
cleanup:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int dsn_sha256(uint8_t out[DSN_SHA256_BYTES], const uint8_t *in, size_t len)
{
    unsigned int n = 0;
    if(EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) != 1 || n != DSN_SHA256_BYTES) return -1;
    return 0;
}

void dsn_crypto_print_errors(FILE *f)
{
    const char *data;
    int flags;
    unsigned long e;
    while((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *lib = ERR_lib_error_string(e), *reason = ERR_reason_error_string(e);
        fprintf(f, "dsn: openssl: %s: %s%s%s\n", lib ? lib : "library", reason ? reason : "error",
                (flags & ERR_TXT_STRING) && data && *data ? ": " : "",
                (flags & ERR_TXT_STRING) && data ? data : "");
    }
}

void dsn_crypto_clear_errors(void)
{
    ERR_clear_error();
}

void dsn_hex_encode(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for(size_t i = 0; i < len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    if(c >= '0' && c <= '9') return c - '0';
    if(c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int dsn_hex_decode(uint8_t *out, size_t len, const char *hex)
{
    for(size_t i = 0; i < len; ++i) {
        int hi = hex_digit(hex[2 * i]);
        int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if(hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * len] == '\0' ? 0 : -1;
}
