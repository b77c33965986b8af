/* dsn_serial.c: serial numbers as bits and as Crockford base32 product keys (see dsn_serial.h).
 *
 * The text is the bit string read as one big number N, padded on the left to a whole number of
 * 5-bit symbols, then two check symbols from the same alphabet: N mod 1021 written as two base32
 * digits (1021 is prime and below 32^2). What the check catches, for any N:
 *   - one substituted data symbol changes N by d * 32^k with 0 < |d| < 32: never 0 mod 1021, a prime
 *     that divides neither d nor 32^k;
 *   - one substituted check symbol changes the check value itself;
 *   - two adjacent data symbols swapped change N by (a - b) * 31 * 32^k: never 0 mod 1021;
 *   - the last data symbol a swapped with the first check symbol c1 (check c = 32 c1 + c0) turns N
 *     into N + c1 - a and the written check into c + 32 (a - c1); they agree only if
 *     1021 | 33 (a - c1), impossible for 0 < |a - c1| < 32;
 *   - the two check symbols swapped give another check value unless they are equal.
 * Every symbol is in 0-9A-Z without I L O U, so a serial is safe unquoted in a shell (Crockford's
 * own check symbols * ~ $ = U, used by the first version, are not). Certificates written with that
 * first version's single mod-37 check still read (dsn_serial_decode_v1); the bits are the same.
 * Non-goals: no allocation, no I/O, no OpenSSL; the layer and the CLI share this file. */
#include "dsn_serial.h"

#include <stdio.h>
#include <string.h>

#define CHECK_PRIME 1021

/* The data alphabet; the first version's check symbols follow it (legacy reading only). */
static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char v1_check_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* Value of c in `symbols`: I/L read as 1, O as 0; -1 when it is not one. */
static int symbol_in(const char *symbols, char c)
{
    if(c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if(c == 'I' || c == 'L') return 1;
    if(c == 'O') return 0;
    if(c == '\0') return -1;
    const char *p = strchr(symbols, c);
    return p ? (int)(p - symbols) : -1;
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
    int total = nsym + DSN_SERIAL_CHECK_SYMBOLS;
    size_t need = (size_t)total + (size_t)(total - 1) / DSN_SERIAL_GROUP + 1;
    if(len < need) return -1;

    int check = 0;
    size_t n = 0;
    for(int k = 0; k < nsym; ++k) check = (check * 32 + symbol_at(s, k)) % CHECK_PRIME;
    for(int k = 0; k < total; ++k) {
        int v = k < nsym ? symbol_at(s, k) : k == nsym ? check / 32 : check % 32;
        if(k > 0 && k % DSN_SERIAL_GROUP == 0) out[n++] = '-';
        out[n++] = alphabet[v];
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

/* Counts the symbols of text (hyphens skipped); -1 with err set at the first character that is
 * not one of `symbols`. */
static int count_symbols(const char *symbols, const char *text, char *err, size_t errlen)
{
    char msg[200], ch[16];
    int count = 0;
    for(size_t i = 0; text[i]; ++i) {
        if(text[i] == '-') continue;
        if(symbol_in(symbols, text[i]) < 0) {
            describe_char(ch, sizeof ch, text[i]);
            snprintf(msg, sizeof msg, "bad character %s at position %zu of the serial (Crockford base32: "
                     "0-9 and A-Z without U, in groups joined by '-')", ch, i + 1);
            return fail(err, errlen, msg);
        }
        ++count;
    }
    return count;
}

/* The data symbols of a text already counted: bits into s, N mod `prime` returned; -1 when the
 * first symbol is too large for nbits. Check symbols (after nsym data symbols) into check[]. */
static int read_symbols(dsn_serial *s, const char *symbols, const char *text, int nbits, int prime,
                        int *check, int ncheck, char *err, size_t errlen)
{
    char msg[160], ch[16];
    int nsym = dsn_serial_symbols(nbits), pad = 5 * nsym - nbits;
    int rem = 0, k = 0;
    for(size_t i = 0; text[i]; ++i) {
        if(text[i] == '-') continue;
        int v = symbol_in(symbols, text[i]);
        if(k >= nsym) {
            if(k - nsym < ncheck) check[k - nsym] = v;
            ++k;
            continue;
        }
        if(v >= 32) {
            describe_char(ch, sizeof ch, text[i]);
            snprintf(msg, sizeof msg, "%s at position %zu is only valid as the last (check) symbol: "
                     "the serial has a typo", ch, i + 1);
            return fail(err, errlen, msg);
        }
        if(k == 0 && (v >> (5 - pad)) != 0) {
            describe_char(ch, sizeof ch, text[i]);
            snprintf(msg, sizeof msg, "first symbol %s is too large for a %d-bit serial: "
                     "the serial has a typo or a different length", ch, nbits);
            return fail(err, errlen, msg);
        }
        rem = (rem * 32 + v) % prime;
        for(int j = 0; j < 5; ++j) {
            int b = 5 * k + j - pad;
            if(b >= 0) s->bit[b] = (uint8_t)((v >> (4 - j)) & 1);
        }
        ++k;
    }
    return rem;
}

/* Both versions: `ncheck` check symbols of `symbols`, the value mod `prime`. */
static int decode_with(dsn_serial *s, const char *symbols, int ncheck, int prime, const char *text,
                       int nbits, char *err, size_t errlen)
{
    char msg[160];
    if(!s) return fail(err, errlen, "no output serial");
    memset(s, 0, sizeof *s);
    if(!nbits_valid(nbits)) {
        snprintf(msg, sizeof msg, "serial length %d bits is out of range (%d..%d)", nbits, DSN_MIN_BITS,
                 DSN_MAX_BITS);
        return fail(err, errlen, msg);
    }
    if(!text) return fail(err, errlen, "no serial given");
    int nsym = dsn_serial_symbols(nbits);
    int count = count_symbols(symbols, text, err, errlen);
    if(count < 0) return -1;
    if(count != nsym + ncheck) {
        snprintf(msg, sizeof msg, "a %d-bit serial has %d symbols (%d and %d check symbol%s), this one has %d",
                 nbits, nsym + ncheck, nsym, ncheck, ncheck == 1 ? "" : "s", count);
        return fail(err, errlen, msg);
    }
    int check[2] = {0, 0};
    int rem = read_symbols(s, symbols, text, nbits, prime, check, ncheck, err, errlen);
    int want = ncheck == 1 ? check[0] : check[0] * 32 + check[1];
    if(rem < 0 || rem != want) {
        memset(s, 0, sizeof *s);
        return rem < 0 ? -1 : fail(err, errlen, "the check symbols do not match: the serial has a typo");
    }
    s->nbits = nbits;
    if(err && errlen) err[0] = '\0';
    return 0;
}

int dsn_serial_decode(dsn_serial *s, const char *text, int nbits, char *err, size_t errlen)
{
    return decode_with(s, alphabet, DSN_SERIAL_CHECK_SYMBOLS, CHECK_PRIME, text, nbits, err, errlen);
}

int dsn_serial_decode_v1(dsn_serial *s, const char *text, int nbits, char *err, size_t errlen)
{
    return decode_with(s, v1_check_alphabet, 1, 37, text, nbits, err, errlen);
}

int dsn_serial_hamming(const dsn_serial *a, const dsn_serial *b)
{
    if(a->nbits != b->nbits || !nbits_valid(a->nbits)) return -1;
    int d = 0;
    for(int i = 0; i < a->nbits; ++i) d += (a->bit[i] & 1) != (b->bit[i] & 1);
    return d;
}

int dsn_grid_columns(int bits, int columns)
{
    if(columns > 0 && columns <= bits) return columns;
    int gw = 1;
    while(gw * gw < bits) ++gw;
    return gw;
}

int dsn_serial_swaps(int *pairs, const dsn_serial *valid, int columns, int wrap)
{
    /* the later half of the 8-neighbourhood: every unordered pair once */
    static const int dir[4][2] = {{1, 0}, {-1, 1}, {0, 1}, {1, 1}};
    int nb = valid->nbits, gw = dsn_grid_columns(nb, columns), n = 0;
    int gh = (nb + gw - 1) / gw;
    wrap = wrap && gw >= 3 && gh >= 3;   /* smaller tori would meet a pair twice */
    for(int i = 0; i < nb; ++i) {
        for(int d = 0; d < 4; ++d) {
            int x = i % gw + dir[d][0], y = i / gw + dir[d][1];
            if(wrap) {
                x = (x + gw) % gw;
                y = y % gh;
            }
            int j = y * gw + x;
            if(x < 0 || x >= gw || j >= nb || valid->bit[i] == valid->bit[j]) continue;
            if(pairs) {
                pairs[2 * n] = i;
                pairs[2 * n + 1] = j;
            }
            ++n;
        }
    }
    return n;
}
