/* dsn_serial.h: serial numbers as bits and as typable product keys.
 *
 * A serial is `nbits` bits (DSN_MIN_BITS..DSN_MAX_BITS). As text it is Crockford base32 (0-9 and
 * A-Z without I, L, O, U), most significant symbol first, padded on the left to ceil(nbits/5)
 * symbols, followed by two check symbols from the same alphabet (the value mod 1021, as two base32
 * digits), written in hyphen-separated groups of DSN_SERIAL_GROUP symbols:
 *
 *     dsn_serial s;  char err[160], text[DSN_SERIAL_TEXT_MAX];
 *     if(dsn_serial_decode(&s, "028T-5CY4-TQKF-FHF", 64, err, sizeof err) != 0) die(err);
 *     dsn_serial_encode(text, sizeof text, &s);      // "028T-5CY4-TQKF-FHF"
 *
 * Decoding accepts lower case, missing or extra hyphens and Crockford's look-alikes (I and L read
 * as 1, O as 0). Every single-symbol substitution and every adjacent transposition is reported as
 * a typo; no symbol needs quoting in a shell. Nothing here allocates, nothing needs OpenSSL (the
 * signature and the SHA-256 derivation live in dsn_cli/).
 *
 * Bit order: bit i is bit (7 - i%8) of byte i/8 when packed (MSB first), and cell i of the stamp
 * grid (row-major from the grid's top-left cell). */
#ifndef DSN_SERIAL_H
#define DSN_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#define DSN_MIN_BITS 4
#define DSN_MAX_BITS 256
#define DSN_SERIAL_GROUP 4
#define DSN_SERIAL_CHECK_SYMBOLS 2
/* 52 data symbols + 2 check + 13 hyphens + NUL for 256 bits, with room */
#define DSN_SERIAL_TEXT_MAX 80

typedef struct dsn_serial {
    int nbits;                     /* DSN_MIN_BITS..DSN_MAX_BITS                */
    uint8_t bit[DSN_MAX_BITS];     /* 0 or 1 each; entries >= nbits are zero    */
} dsn_serial;

/* Sets s to nbits bits taken MSB first from `bytes` (at least ceil(nbits/8) bytes).
 * Returns 0, or -1 when nbits is out of range. */
int dsn_serial_from_bytes(dsn_serial *s, const uint8_t *bytes, size_t len, int nbits);

/* Packs the bits MSB first into out[ceil(nbits/8)] (unused low bits zero). */
void dsn_serial_to_bytes(uint8_t *out, const dsn_serial *s);

/* Number of data symbols for nbits (ceil(nbits/5)). */
int dsn_serial_symbols(int nbits);

/* Writes the grouped text with its check symbol. Returns the length written (without the
 * NUL), or -1 when `len` is too small or s is invalid. */
int dsn_serial_encode(char *out, size_t len, const dsn_serial *s);

/* Parses `text` as a serial of exactly `nbits` bits. Returns 0 on success; -1 with a one-line,
 * human-readable reason in err (a bad character and its position, the wrong number of symbols
 * for a `nbits`-bit serial, a check symbol that does not match: "typo"). */
int dsn_serial_decode(dsn_serial *s, const char *text, int nbits, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The first version's text, one check symbol (the value mod 37, Crockford's check alphabet with
 * "*~$=U"): for certificates written before the two-symbol check. Same bits, same errors. */
int dsn_serial_decode_v1(dsn_serial *s, const char *text, int nbits, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Number of differing bits (both serials must have the same nbits; -1 otherwise). */
int dsn_serial_hamming(const dsn_serial *a, const dsn_serial *b);

/* The serial's neighbour swaps: pairs of 8-neighbouring cells of different value on the stamp's
 * grid (gw = columns, or for columns 0 the smallest with gw*gw >= nbits, as dsn_geometry_init and
 * dsn_geometry_set_columns lay it out), each unordered pair once, in
 * row-major order of the first cell. wrap=1 (a wrapped frame) also counts the cells the frame puts
 * side by side across opposite edges (the grid as a torus; grids of 3x3 and more). pairs (room for
 * DSN_SWAPS_MAX pairs) gets the two bit indexes of pair k at [2k] and [2k+1]; NULL only counts.
 * Exchanging a pair's cells is the valid pattern moved by one cell in one place. Returns the number. */
#define DSN_SWAPS_MAX (4 * DSN_MAX_BITS)
/* The stamp grid's columns for `bits` cells: `columns` when 1..bits, else (0: the square default)
 * the smallest gw with gw*gw >= bits. One rule for the stamp, the swaps and the reports. */
int dsn_grid_columns(int bits, int columns);
int dsn_serial_swaps(int *pairs, const dsn_serial *valid, int columns, int wrap);

#endif
