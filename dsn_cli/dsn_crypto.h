/* dsn_crypto.h: the owner key (Ed25519) and SHA-256, over OpenSSL 3.
 *
 *     dsn_key *k = NULL;  uint8_t sig[DSN_SIG_BYTES];  char err[256];
 *     if(dsn_key_load_private(&k, "owner.pem", err, sizeof err) != 0) { report(err); ... }
 *     if(dsn_sign(sig, msg, msglen, k) != 0) ...
 *     if(dsn_verify(sig, msg, msglen, k) != 0) ... not valid ...
 *     dsn_key_free(k);
 *
 * Shaped like libsodium: outputs first, explicit lengths, 0 on success and -1 on failure. Keys are
 * PEM files in the formats `openssl genpkey -algorithm ed25519` (PKCS#8 "PRIVATE KEY") and
 * `openssl pkey -pubout` ("PUBLIC KEY") write. A failing call leaves OpenSSL's reasons on its error
 * queue; the CLI prints that queue once (dsn_crypto_print_errors), nothing in here prints. */
#ifndef DSN_CRYPTO_H
#define DSN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DSN_SEED_BYTES 32        /* Ed25519 private key (RFC 8032 "secret key")  */
#define DSN_PUBKEY_BYTES 32
#define DSN_SIG_BYTES 64
#define DSN_SHA256_BYTES 32
#define DSN_FINGERPRINT_HEX 65   /* 64 hex digits + NUL                           */
#define DSN_KEYFILE_MAX 65536    /* larger key files are refused before parsing    */

typedef struct dsn_key dsn_key;  /* an Ed25519 key: private (can sign) or public only */

/* New random key pair. *out is owned by the caller (dsn_key_free). */
int dsn_key_generate(dsn_key **out);

/* Key pair from a 32-byte RFC 8032 secret key, or a public-only key from 32 raw bytes. */
int dsn_key_from_seed(dsn_key **out, const uint8_t seed[DSN_SEED_BYTES]);
int dsn_key_from_public(dsn_key **out, const uint8_t pk[DSN_PUBKEY_BYTES]);

/* Reads a PEM key file. On failure *out is NULL and err holds one line naming the file and what
 * is wrong with it (missing, not PEM, truncated, encrypted, not Ed25519: "... is an RSA key"). A
 * public-key load also accepts a private key file and keeps only its public half. */
int dsn_key_load_private(dsn_key **out, const char *path, char *err, size_t errlen);
int dsn_key_load_public(dsn_key **out, const char *path, char *err, size_t errlen);

/* PEM text of the key (PKCS#8 private, SubjectPublicKeyInfo public) in a malloc'd,
 * NUL-terminated buffer the caller frees; *len excludes the NUL. The private form needs a
 * private key. */
int dsn_key_private_pem(char **pem, size_t *len, const dsn_key *k);
int dsn_key_public_pem(char **pem, size_t *len, const dsn_key *k);

/* Wipes and frees a buffer from dsn_key_private_pem (free() would leave the key in the heap). */
void dsn_key_pem_free(char *pem, size_t len);

int dsn_key_public_raw(uint8_t pk[DSN_PUBKEY_BYTES], const dsn_key *k);
int dsn_key_is_private(const dsn_key *k);

/* Lower-case hex SHA-256 of the raw 32-byte public key. */
int dsn_key_fingerprint(char out[DSN_FINGERPRINT_HEX], const dsn_key *k);

void dsn_key_free(dsn_key *k);

/* Ed25519 (pure, no prehash) signature of msg. Deterministic for a given key and message. */
int dsn_sign(uint8_t sig[DSN_SIG_BYTES], const uint8_t *msg, size_t len, const dsn_key *k);

/* 0 when sig is a valid signature of msg under k's public key, -1 otherwise. A signature that
 * does not verify is not an error: the OpenSSL error queue is left empty for it. */
int dsn_verify(const uint8_t sig[DSN_SIG_BYTES], const uint8_t *msg, size_t len, const dsn_key *k)
    __attribute__((warn_unused_result));

int dsn_sha256(uint8_t out[DSN_SHA256_BYTES], const uint8_t *in, size_t len);

/* Prints and clears OpenSSL's error queue, one "dsn: openssl: ..." line per entry. */
void dsn_crypto_print_errors(FILE *f);
void dsn_crypto_clear_errors(void);

/* Hex helpers: lower-case encoding into out[2*len+1]; decoding accepts only lower-case digits
 * and exactly 2*len of them (returns -1 otherwise). */
void dsn_hex_encode(char *out, const uint8_t *in, size_t len);
int dsn_hex_decode(uint8_t *out, size_t len, const char *hex);

#endif
