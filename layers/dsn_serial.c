/* dsn_serial.c: serial numbers as bits and as Crockford base32 product keys (see dsn_serial.h).
 *
 * The text is the bit string read as one big number, padded on the left to a whole number of
 * 5-bit symbols, plus one check symbol: the number mod 37. 37 is prime and larger than the
 * alphabet, so any single substituted symbol changes the remainder (d * 32^k with 0 < |d| < 32),
 * and swapping two adjacent data symbols changes it by (a - b) * 31 * 32^k, also never 0 mod 37.
 * Non-goals: no allocation, no I/O, no OpenSSL; the layer and the CLI share this file. */
#include "dsn_serial.h"

#include <stdio.h>
#include <string.h>

/* The first 32 symbols are the data alphabet; the last five are check symbols only. */
static const char check_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* Symbol value of c: 0..31 data, 32..36 check-only, -1 not a symbol. I/L read as 1, O as 0. */
static int symbol_value(char c)
{
    if(c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if(c == 'I' || c == 'L') return 1;
    if(c == 'O') return 0;
    if(c == '\0') return -1;
    const char *p = strchr(check_alphabet, c);
    return p ? (int)(p - check_alphabet) : -1;
}

static int nbits_valid(int nbits)
{
    return nbits >= DSN_MIN_BITS && nbits <= DSN_MAX_BITS;
}

int dsn_serial_symbols(int nbits)
{
    return (nbits + 4) / 5;
}

int dsn_serial_from_bytes(dsn_serial *s, const uint8_t *bytes, size_t len, int nbits)
{
    if(!nbits_valid(nbits) || len < (size_t)(nbits + 7) / 8) return -1;
    memset(s, 0, sizeof *s);
    s->nbits = nbits;
    for(int i = 0; i < nbits; ++i) s->bit[i] = (uint8_t)((bytes[i / 8] >> (7 - i % 8)) & 1);
    return 0;
}

void dsn_serial_to_bytes(uint8_t *out, const dsn_serial *s)
{
    int n = (s->nbits + 7) / 8;
    memset(out, 0, (size_t)n);
    for(int i = 0; i < s->nbits; ++i) out[i / 8] |= (uint8_t)((s->bit[i] & 1) << (7 - i % 8));
}

/* Value of data symbol k: bits 5k..5k+4 of the left-padded bit string. */
static int symbol_at(const dsn_serial *s, int k)
{
    int pad = 5 * dsn_serial_symbols(s->nbits) - s->nbits;
    int v = 0;
    for(int j = 0; j < 5; ++j) {
        int i = 5 * k + j - pad;
        v = (v << 1) | (i >= 0 ? s->bit[i] : 0);
    }
    return v;
}

int dsn_serial_encode(char *out, size_t len, const dsn_serial *s)
{
    if(!out || !s || !nbits_valid(s->nbits)) return -1;
    for(int i = 0; i < s->nbits; ++i) if(s->bit[i] > 1) return -1;
    int nsym = dsn_serial_symbols(s->nbits);
    int total = nsym + 1;
    size_t need = (size_t)total + (size_t)(total - 1) / DSN_SERIAL_GROUP + 1;
    if(len < need) return -1;

    int check = 0;
    size_t n = 0;
    for(int k = 0; k < total; ++k) {
        int v;
        if(k < nsym) {
            v = symbol_at(s, k);
            check = (check * 32 + v) % 37;
        } else {
            v = check;
        }
        if(k > 0 && k % DSN_SERIAL_GROUP == 0) out[n++] = '-';
        out[n++] = check_alphabet[v];
    }
    out[n] = '\0';
    return (int)n;
}

/* Formats a character for an error message: 'x' when printable, else \xNN. */
static void describe_char(char *buf, size_t len, char c)
{
    unsigned char u = (unsigned char)c;
    if(u >= 0x20 && u < 0x7f) snprintf(buf, len, "'%c'", c);
    else snprintf(buf, len, "byte \\x%02X", u);
}

static int fail(char *err, size_t errlen, const char *msg)
{
    if(err && errlen) snprintf(err, errlen, "%s", msg);
    return -1;
}

int dsn_serial_decode(dsn_serial *s, const char *text, int nbits, char *err, size_t errlen)
{
    char msg[160], ch[16];
    if(!s) return fail(err, errlen, "no output serial");
    memset(s, 0, sizeof *s);
    if(!nbits_valid(nbits)) {
        snprintf(msg, sizeof msg, "serial length %d bits is out of range (%d..%d)", nbits, DSN_MIN_BITS,
                 DSN_MAX_BITS);
        return fail(err, errlen, msg);
    }
    if(!text) return fail(err, errlen, "no serial given");

    int nsym = dsn_serial_symbols(nbits);
    int count = 0;
    for(size_t i = 0; text[i]; ++i) {
        if(text[i] == '-') continue;
        if(symbol_value(text[i]) < 0) {
            describe_char(ch, sizeof ch, text[i]);
            snprintf(msg, sizeof msg, "bad character %s at position %zu of the serial (Crockford base32: "
                     "0-9 and A-Z without U, in groups joined by '-')", ch, i + 1);
            return fail(err, errlen, msg);
        }
        ++count;
    }
    if(count != nsym + 1) {
        snprintf(msg, sizeof msg, "a %d-bit serial has %d symbols (%d and a check symbol), this one has %d",
                 nbits, nsym + 1, nsym, count);
        return fail(err, errlen, msg);
    }

    int pad = 5 * nsym - nbits;
    int check = 0, k = 0;
    for(size_t i = 0; text[i]; ++i) {
        if(text[i] == '-') continue;
        int v = symbol_value(text[i]);
        if(k == nsym) {
            if(v != check) {
                memset(s, 0, sizeof *s);
                return fail(err, errlen, "the check symbol does not match: the serial has a typo");
            }
            break;
        }
        describe_char(ch, sizeof ch, text[i]);
        if(v >= 32) {
            snprintf(msg, sizeof msg, "%s at position %zu is only valid as the last (check) symbol: "
                     "the serial has a typo", ch, i + 1);
            memset(s, 0, sizeof *s);
            return fail(err, errlen, msg);
        }
        if(k == 0 && (v >> (5 - pad)) != 0) {
            snprintf(msg, sizeof msg, "first symbol %s is too large for a %d-bit serial: "
                     "the serial has a typo or a different length", ch, nbits);
            return fail(err, errlen, msg);
        }
        check = (check * 32 + v) % 37;
        for(int j = 0; j < 5; ++j) {
            int b = 5 * k + j - pad;
            if(b >= 0) s->bit[b] = (uint8_t)((v >> (4 - j)) & 1);
        }
        ++k;
    }
    s->nbits = nbits;
    if(err && errlen) err[0] = '\0';
    return 0;
}

int dsn_serial_hamming(const dsn_serial *a, const dsn_serial *b)
{
    if(a->nbits != b->nbits || !nbits_valid(a->nbits)) return -1;
    int d = 0;
    for(int i = 0; i < a->nbits; ++i) d += (a->bit[i] & 1) != (b->bit[i] & 1);
    return d;
}
