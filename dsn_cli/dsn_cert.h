/* dsn_cert.h: serial-number certificates: the signed text that ties a serial to an owner key.
 *
 *     dsn_cert c;  dsn_geometry g;  char err[256], text[DSN_CERT_TEXT_MAX];
 *     dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0, err, sizeof err);
 *     if(dsn_cert_init(&c, "Acme", "Bob Corp", "mnist-t7", issued, &g, err, sizeof err) != 0) ...
 *     if(dsn_cert_sign(&c, owner_key) != 0) ...            // fills fingerprint, signature, serial
 *     dsn_cert_format(text, sizeof text, &c);              // the .sn file
 *     ...
 *     if(dsn_cert_load(&c, "bob.sn", err, sizeof err) != 0) ...   // malformed: err names file:line
 *     if(dsn_cert_verify(&c, owner_pub, err, sizeof err) != 0) ... // not valid: err says why
 *
 * The file (UTF-8, LF line ends, one `field: value` per line, in exactly this order):
 *
 *     dsn-certificate: 1
 *     owner: Acme Vision Ltd
 *     customer: Bob Corp
 *     model: mnist-t7
 *     issued: 2026-11-26T04:00:00Z
 *     bits: 64
 *     cell: 0
 *     corner: br
 *     margin: 0
 *     columns: 16               (only for a grid of other than ceil(sqrt(bits)) columns, 1..bits)
 *     frame: 1                  (only for a framed stamp, frame 1..DSN_MAX_FRAME)
 *     pubkey-sha256: <64 lower-case hex: SHA-256 of the raw 32-byte Ed25519 public key>
 *     signature: <128 lower-case hex: Ed25519 signature of the body>
 *     serial: XXXX-XXXX-XXXX-XXX
 *
 * The signed body is the lines up to pubkey-sha256 exactly as above, each LF-terminated. Parsing accepts only
 * that canonical spelling (lower-case hex, plain decimal numbers, one space after the colon), so
 * changing any byte of the body either fails to parse or fails the signature. The serial is the
 * first `bits` bits of SHA-256("DSN-serial-v1" NUL || signature): Ed25519 is deterministic, so the
 * same inputs always give the same certificate, and anyone holding it and the public key can
 * re-derive the serial. Nothing here allocates; load reads at most DSN_CERT_FILE_MAX bytes. */
#ifndef DSN_CERT_H
#define DSN_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "dsn_crypto.h"
#include "dsn_serial.h"
#include "dsn_stamp.h"

#define DSN_CERT_VERSION 1
#define DSN_CERT_LINE_MAX 1024     /* bytes in one line, without its LF             */
#define DSN_CERT_NAME_MAX 128      /* bytes in owner, customer and model             */
#define DSN_CERT_INT_MAX 1000000   /* largest cell or margin a certificate may hold  */
#define DSN_CERT_FILE_MAX 16384    /* larger files are refused before parsing         */
#define DSN_CERT_TEXT_MAX 2048     /* room for any formatted certificate              */
#define DSN_TIME_TEXT 21           /* "2026-11-26T04:00:00Z" + NUL                    */
#define DSN_SERIAL_DOMAIN "DSN-serial-v1" /* hashed with its NUL before the signature */

typedef struct dsn_cert {
    char owner[DSN_CERT_NAME_MAX + 1];
    char customer[DSN_CERT_NAME_MAX + 1];
    char model[DSN_CERT_NAME_MAX + 1];
    int64_t issued;                             /* seconds since 1970-01-01T00:00:00Z */
    int bits, cell, margin, frame, wrap;        /* stamp geometry, as dsn_geometry    */
    int columns;                                /* the grid's columns; 0: square      */
    dsn_corner corner;
    uint8_t pubkey_sha256[DSN_SHA256_BYTES];    /* filled by dsn_cert_sign             */
    uint8_t signature[DSN_SIG_BYTES];           /* filled by dsn_cert_sign             */
    dsn_serial serial;                          /* filled by dsn_cert_sign             */
} dsn_cert;

/* Fills the body fields of c (the rest zeroed). Checks each name (dsn_cert_check_name), the issue
 * time (1970..9999) and the geometry (bits, cell and margin within DSN_CERT_INT_MAX). Returns 0,
 * or -1 with err naming the field. */
int dsn_cert_init(dsn_cert *c, const char *owner, const char *customer, const char *model,
                  int64_t issued, const dsn_geometry *g, char *err, size_t errlen);

/* The stamp geometry of a verb's --bits, --cell, --corner, --margin, --columns, --frame and --wrap
 * options (INT_MIN or NULL: not given, the default 64, 0, br, 0, 0, 0; wrap 0 or 1), each checked as a
 * certificate would hold it. Returns 0, or -1 with err naming the option ("--bits 3 is out of
 * range (4..256)"). Not placed on an image. */
int dsn_cert_geometry_options(dsn_geometry *g, int bits, int cell, const char *corner_name, int margin, int columns,
                              int frame, int wrap, char *err, size_t errlen);

/* A name is 1..DSN_CERT_NAME_MAX bytes of well-formed UTF-8 with no code point of the Unicode
 * categories Cc, Cf, Zl or Zp (controls, invisible format characters such as bidi overrides and
 * zero-width spaces, line and paragraph separators), and no space of any kind (Zs, White_Space) at
 * either end. Checked at issue time and whenever a certificate is read. Returns 0, or -1 with err
 * naming `field` and the code point. */
int dsn_cert_check_name(const char *field, const char *value, char *err, size_t errlen);

/* The canonical signed body / the whole certificate text, NUL-terminated. Returns the length
 * without the NUL, or -1 when len is too small (DSN_CERT_TEXT_MAX always suffices). */
int dsn_cert_body(char *out, size_t len, const dsn_cert *c);
int dsn_cert_format(char *out, size_t len, const dsn_cert *c);

/* Signs the body with the owner's private key and fills pubkey_sha256, signature and serial. */
int dsn_cert_sign(dsn_cert *c, const dsn_key *owner);

/* The serial of a signature: the first `bits` bits of SHA-256(DSN_SERIAL_DOMAIN NUL || sig). */
int dsn_cert_derive_serial(dsn_serial *s, const uint8_t sig[DSN_SIG_BYTES], int bits);

/* Parses certificate text of `len` bytes; `name` (a file name) prefixes every message, with the
 * line number: "bob.sn:3: duplicated field 'owner' (first on line 2)". Rejects missing,
 * duplicated, unknown and out-of-order fields, CR and other control characters, bytes that are not
 * UTF-8, lines over DSN_CERT_LINE_MAX and any non-canonical value. Checks the serial's spelling
 * (check symbols; the one-symbol spelling of certificates written before them is read too) but not
 * the signature. Returns 0, or -1 with c zeroed. */
int dsn_cert_parse(dsn_cert *c, const char *text, size_t len, const char *name, char *err,
                   size_t errlen) __attribute__((warn_unused_result));

/* Reads and parses a certificate file; I/O errors name the file. */
int dsn_cert_load(dsn_cert *c, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Checks that the certificate was issued by `pub`: the fingerprint names pub, the signature
 * verifies over the canonical body, and the serial is the one derived from the signature.
 * Returns 0 when all three hold, -1 with the first failed check in err. */
int dsn_cert_verify(const dsn_cert *c, const dsn_key *pub, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The stamp geometry the certificate names (dsn_geometry_init of its fields). */
int dsn_cert_geometry(dsn_geometry *g, const dsn_cert *c, char *err, size_t errlen);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC, years 1970..9999) <-> seconds since the epoch. Parse returns 0,
 * or -1 for anything else, including impossible dates such as 2026-02-30. */
int dsn_time_parse(int64_t *t, const char *s);
void dsn_time_format(char out[DSN_TIME_TEXT], int64_t t);

#endif
