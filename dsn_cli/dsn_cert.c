/* dsn_cert.c: certificate text, canonical body, signing, parsing and verification (see dsn_cert.h).
 *
 * The parser is strict on purpose: one spelling per certificate, so the bytes a user sees are the
 * bytes that were signed. It is also the code that reads untrusted files, so it works on explicit
 * lengths, never past `len`, and is fuzzed (tests/fuzz/fuzz_cert.c). */
#include "dsn_cert.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <unicode/uchar.h>
#include <stdio.h>
#include <string.h>

enum {
    F_VERSION, F_OWNER, F_CUSTOMER, F_MODEL, F_ISSUED, F_BITS, F_CELL, F_CORNER, F_MARGIN, F_COLUMNS,
    F_FRAME, F_PUBKEY, F_SIGNATURE, F_SERIAL, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "dsn-certificate", "owner", "customer", "model", "issued", "bits", "cell", "corner", "margin",
    "columns", "frame", "pubkey-sha256", "signature", "serial",
};

_Static_assert(sizeof field_names / sizeof field_names[0] == F_COUNT, "one name per field");

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if(err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- time ---------------------------------------------------------------------------------- */

static const int64_t time_max = 253402300799; /* 9999-12-31T23:59:59Z */

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for(int i = 0; i < n; ++i) {
        if(s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int dsn_time_parse(int64_t *t, const char *s)
{
    if(!s || strlen(s) != DSN_TIME_TEXT - 1) return -1;
    if(s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if(y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
    if(h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return -1;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

void dsn_time_format(char out[DSN_TIME_TEXT], int64_t t)
{
    char tmp[64];
    if(t < 0) t = 0;
    if(t > time_max) t = time_max;
    int64_t days = t / 86400, secs = t % 86400;
    /* civil_from_days, the inverse of days_from_civil */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    memcpy(out, tmp, DSN_TIME_TEXT - 1);
    out[DSN_TIME_TEXT - 1] = '\0';
}

/* ---- names ----------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are refused. *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if(c < 0x80) { *cp = c; return 1; }
    if(c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; c &= 0x1f; }
    else if(c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; c &= 0x0f; }
    else if(c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if(n < len) return 0;
    for(size_t i = 1; i < len; ++i) {
        if((s[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if(c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

/* Code points a name may not hold anywhere: controls (Cc), invisible format characters such as
 * the bidi overrides U+202A..202E and the zero-width space U+200B (Cf), and line and paragraph
 * separators (Zl, Zp): each can make `dsn show` print something other than the signed bytes.
 * Categories are ICU's (libicu, Unicode 15). */
static const char *forbidden_category(unsigned cp)
{
    switch(u_charType((UChar32)cp)) {
    case U_CONTROL_CHAR: return "a control character (Cc)";
    case U_FORMAT_CHAR: return "an invisible format character (Cf)";
    case U_LINE_SEPARATOR: return "a line separator (Zl)";
    case U_PARAGRAPH_SEPARATOR: return "a paragraph separator (Zp)";
    default: return NULL;
    }
}

static int is_control(unsigned cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Any kind of space: separators (Zs: U+0020, no-break U+00A0, U+2000..200A, ...) and White_Space. */
static int is_space(unsigned cp)
{
    return u_charType((UChar32)cp) == U_SPACE_SEPARATOR || u_isUWhiteSpace((UChar32)cp);
}

int dsn_cert_check_name(const char *field, const char *value, char *err, size_t errlen)
{
    size_t n = value ? strlen(value) : 0;
    if(n == 0) return fail(err, errlen, "%s is empty", field);
    if(n > DSN_CERT_NAME_MAX)
        return fail(err, errlen, "%s is %zu bytes long, the limit is %d", field, n, DSN_CERT_NAME_MAX);
    const unsigned char *s = (const unsigned char *)value;
    unsigned first = 0, last = 0;
    for(size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = utf8_seq(s + i, n - i, &cp);
        if(k == 0) return fail(err, errlen, "%s has bytes that are not UTF-8 (at byte %zu)", field, i + 1);
        const char *why = forbidden_category(cp);
        if(why) return fail(err, errlen, "%s has %s, U+%04X at byte %zu", field, why, cp, i + 1);
        if(i == 0) first = cp;
        last = cp;
        i += k;
    }
    if(is_space(first) || is_space(last))
        return fail(err, errlen, "%s has a leading or trailing space character (U+%04X)", field, is_space(first) ? first : last);
    return 0;
}

/* ---- body, format, sign ---------------------------------------------------------------------- */

static int geometry_in_range(const dsn_geometry *g)
{
    return g->bits >= DSN_MIN_BITS && g->bits <= DSN_MAX_BITS && g->cell >= 0 && g->cell <= DSN_CERT_INT_MAX &&
           g->margin >= 0 && g->margin <= DSN_CERT_INT_MAX && g->frame >= 0 && g->frame <= DSN_MAX_FRAME &&
           (g->wrap == 0 || (g->wrap == 1 && g->frame > 0)) && g->columns >= 0 && g->columns <= g->bits;
}

int dsn_cert_geometry_options(dsn_geometry *g, int bits, int cell, const char *corner_name, int margin, int columns,
                              int frame, int wrap, char *err, size_t errlen)
{
    char gerr[256];
    int corner = dsn_corner_from_name(corner_name ? corner_name : "br");
    if(corner < 0) return fail(err, errlen, "--corner '%s' is not one of tl, tr, bl, br", corner_name);
    if(bits == INT_MIN) bits = 64;
    if(bits < DSN_MIN_BITS || bits > DSN_MAX_BITS)
        return fail(err, errlen, "--bits %d is out of range (%d..%d)", bits, DSN_MIN_BITS, DSN_MAX_BITS);
    const struct { int value; const char *option; } sizes[] = {{cell, "--cell"}, {margin, "--margin"}};
    for(size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        if(sizes[i].value != INT_MIN && (sizes[i].value < 0 || sizes[i].value > DSN_CERT_INT_MAX))
            return fail(err, errlen, "%s %d is out of range (0..%d pixels)", sizes[i].option, sizes[i].value,
                        DSN_CERT_INT_MAX);
    }
    if(dsn_geometry_init(g, bits, cell == INT_MIN ? 0 : cell, (dsn_corner)corner, margin == INT_MIN ? 0 : margin, gerr,
                         sizeof gerr) != 0 ||
       dsn_geometry_set_columns(g, columns == INT_MIN ? 0 : columns, gerr, sizeof gerr) != 0 ||
       dsn_geometry_set_frame(g, frame == INT_MIN ? 0 : frame, wrap, gerr, sizeof gerr) != 0)
        return fail(err, errlen, "--%s", gerr);
    return 0;
}

int dsn_cert_init(dsn_cert *c, const char *owner, const char *customer, const char *model,
                  int64_t issued, const dsn_geometry *g, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if(dsn_cert_check_name("owner", owner, err, errlen) != 0 ||
       dsn_cert_check_name("customer", customer, err, errlen) != 0 ||
       dsn_cert_check_name("model", model, err, errlen) != 0)
        return -1;
    if(issued < 0 || issued > time_max)
        return fail(err, errlen, "issue time %lld is outside 1970..9999", (long long)issued);
    if(!geometry_in_range(g) || (int)g->corner < 0 || g->corner >= DSN_CORNER_COUNT)
        return fail(err, errlen, "geometry bits=%d cell=%d margin=%d columns=%d frame=%d is out of range (bits "
                    "%d..%d, cell and margin 0..%d, columns 0..bits, frame 0..%d)", g->bits, g->cell, g->margin,
                    g->columns, g->frame, DSN_MIN_BITS, DSN_MAX_BITS, DSN_CERT_INT_MAX, DSN_MAX_FRAME);
    memcpy(c->owner, owner, strlen(owner) + 1);
    memcpy(c->customer, customer, strlen(customer) + 1);
    memcpy(c->model, model, strlen(model) + 1);
    c->issued = issued;
    c->bits = g->bits;
    c->cell = g->cell;
    c->corner = g->corner;
    c->margin = g->margin;
    c->frame = g->frame;
    c->wrap = g->wrap;
    c->columns = g->columns;
    return 0;
}

int dsn_cert_body(char *out, size_t len, const dsn_cert *c)
{
    char when[DSN_TIME_TEXT], fp[2 * DSN_SHA256_BYTES + 1];
    dsn_time_format(when, c->issued);
    dsn_hex_encode(fp, c->pubkey_sha256, sizeof c->pubkey_sha256);
    /* the columns and frame lines only when set: earlier certificates stay valid */
    char columns[32] = "", frame[32] = "";
    if(c->columns) snprintf(columns, sizeof columns, "columns: %d\n", c->columns);
    if(c->frame) snprintf(frame, sizeof frame, c->wrap ? "frame: %d wrap\n" : "frame: %d\n", c->frame);
    int n = snprintf(out, len,
                     "dsn-certificate: %d\nowner: %s\ncustomer: %s\nmodel: %s\nissued: %s\n"
                     "bits: %d\ncell: %d\ncorner: %s\nmargin: %d\n%s%spubkey-sha256: %s\n",
                     DSN_CERT_VERSION, c->owner, c->customer, c->model, when, c->bits, c->cell,
                     dsn_corner_name(c->corner), c->margin, columns, frame, fp);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int dsn_cert_format(char *out, size_t len, const dsn_cert *c)
{
    char sig[2 * DSN_SIG_BYTES + 1], serial[DSN_SERIAL_TEXT_MAX];
    int n = dsn_cert_body(out, len, c);
    if(n < 0 || dsn_serial_encode(serial, sizeof serial, &c->serial) < 0) return -1;
    dsn_hex_encode(sig, c->signature, sizeof c->signature);
    int m = snprintf(out + n, len - (size_t)n, "signature: %s\nserial: %s\n", sig, serial);
    return m < 0 || (size_t)m >= len - (size_t)n ? -1 : n + m;
}

int dsn_cert_derive_serial(dsn_serial *s, const uint8_t sig[DSN_SIG_BYTES], int bits)
{
    uint8_t msg[sizeof DSN_SERIAL_DOMAIN + DSN_SIG_BYTES], h[DSN_SHA256_BYTES];
    memcpy(msg, DSN_SERIAL_DOMAIN, sizeof DSN_SERIAL_DOMAIN); /* with its NUL */
    memcpy(msg + sizeof DSN_SERIAL_DOMAIN, sig, DSN_SIG_BYTES);
    if(dsn_sha256(h, msg, sizeof msg) != 0) return -1;
    return dsn_serial_from_bytes(s, h, sizeof h, bits);
}

int dsn_cert_sign(dsn_cert *c, const dsn_key *owner)
{
    char body[DSN_CERT_TEXT_MAX], fp[DSN_FINGERPRINT_HEX];
    if(dsn_key_fingerprint(fp, owner) != 0 ||
       dsn_hex_decode(c->pubkey_sha256, sizeof c->pubkey_sha256, fp) != 0)
        return -1;
    int n = dsn_cert_body(body, sizeof body, c);
    if(n < 0 || dsn_sign(c->signature, (const uint8_t *)body, (size_t)n, owner) != 0) return -1;
    return dsn_cert_derive_serial(&c->serial, c->signature, c->bits);
}

int dsn_cert_geometry(dsn_geometry *g, const dsn_cert *c, char *err, size_t errlen)
{
    if(dsn_geometry_init(g, c->bits, c->cell, c->corner, c->margin, err, errlen) != 0 ||
       dsn_geometry_set_columns(g, c->columns, err, errlen) != 0)
        return -1;
    return dsn_geometry_set_frame(g, c->frame, c->wrap, err, errlen);
}

int dsn_cert_verify(const dsn_cert *c, const dsn_key *pub, char *err, size_t errlen)
{
    char body[DSN_CERT_TEXT_MAX], fp[DSN_FINGERPRINT_HEX], want[2 * DSN_SHA256_BYTES + 1];
    dsn_serial derived;
    if(dsn_key_fingerprint(fp, pub) != 0) return fail(err, errlen, "cannot read the public key");
    dsn_hex_encode(want, c->pubkey_sha256, sizeof c->pubkey_sha256);
    if(strcmp(fp, want) != 0)
        return fail(err, errlen, "issued under another key: the certificate names key %.16s..., "
                    "the public key given is %.16s...", want, fp);
    int n = dsn_cert_body(body, sizeof body, c);
    if(n < 0) return fail(err, errlen, "certificate body too long");
    if(dsn_verify(c->signature, (const uint8_t *)body, (size_t)n, pub) != 0)
        return fail(err, errlen, "the signature does not match the certificate (altered or forged)");
    if(dsn_cert_derive_serial(&derived, c->signature, c->bits) != 0)
        return fail(err, errlen, "cannot derive the serial");
    if(c->serial.nbits != c->bits || dsn_serial_hamming(&derived, &c->serial) != 0)
        return fail(err, errlen, "the serial is not the one derived from the signature");
    return 0;
}

/* ---- parse ----------------------------------------------------------------------------------- */

/* Plain decimal: "0" or no leading zero, at most DSN_CERT_INT_MAX. */
static int parse_uint(const char *s, int *out)
{
    size_t n = strlen(s);
    if(n == 0 || n > 7 || (n > 1 && s[0] == '0')) return -1;
    int v = digits(s, (int)n);
    if(v < 0 || v > DSN_CERT_INT_MAX) return -1;
    *out = v;
    return 0;
}

/* "N" or "N wrap", N in 1..DSN_MAX_FRAME: canonical, no frame line for frame 0. */
static int parse_frame(dsn_cert *c, const char *v, const char *name, int lineno, char *err, size_t errlen)
{
    char num[16];
    const char *sp = strchr(v, ' ');
    size_t n = sp ? (size_t)(sp - v) : strlen(v);
    c->wrap = sp != NULL;
    if(n >= sizeof num || (sp && strcmp(sp, " wrap") != 0))
        return fail(err, errlen, "%s:%d: frame: '%s' is not N or 'N wrap'", name, lineno, v);
    memcpy(num, v, n);
    num[n] = '\0';
    if(parse_uint(num, &c->frame) != 0 || c->frame < 1 || c->frame > DSN_MAX_FRAME)
        return fail(err, errlen, "%s:%d: frame: '%s' is not a plain number 1..%d (a stamp without a "
                    "frame has no frame line)", name, lineno, v, DSN_MAX_FRAME);
    return 0;
}

static int field_index(const char *key, size_t n)
{
    for(int f = 0; f < F_COUNT; ++f) {
        if(strlen(field_names[f]) == n && memcmp(field_names[f], key, n) == 0) return f;
    }
    return -1;
}

/* Checks one line's bytes: UTF-8, no CR and no other control character. */
static int check_line_bytes(const char *line, size_t n, const char *name, int lineno, char *err,
                            size_t errlen)
{
    const unsigned char *s = (const unsigned char *)line;
    for(size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = utf8_seq(s + i, n - i, &cp);
        if(k == 0)
            return fail(err, errlen, "%s:%d: bytes that are not UTF-8 at column %zu", name, lineno, i + 1);
        if(cp == '\r')
            return fail(err, errlen, "%s:%d: carriage return (CR) at column %zu: certificates use LF "
                        "line ends only (dos2unix)", name, lineno, i + 1);
        if(is_control(cp))
            return fail(err, errlen, "%s:%d: control character U+%04X at column %zu", name, lineno, cp,
                        i + 1);
        i += k;
    }
    return 0;
}

static int parse_value(dsn_cert *c, int f, const char *v, const char *name, int lineno, char *err,
                       size_t errlen)
{
    char why[200];
    int corner;
    switch(f) {
    case F_VERSION:
        if(strcmp(v, "1") != 0)
            return fail(err, errlen, "%s:%d: certificate version '%s' is not supported (this dsn reads "
                        "version %d)", name, lineno, v, DSN_CERT_VERSION);
        return 0;
    case F_OWNER:
    case F_CUSTOMER:
    case F_MODEL:
        if(dsn_cert_check_name(field_names[f], v, why, sizeof why) != 0)
            return fail(err, errlen, "%s:%d: %s", name, lineno, why);
        memcpy(f == F_OWNER ? c->owner : f == F_CUSTOMER ? c->customer : c->model, v, strlen(v) + 1);
        return 0;
    case F_ISSUED:
        if(dsn_time_parse(&c->issued, v) != 0)
            return fail(err, errlen, "%s:%d: issued: '%s' is not a UTC time like 2026-11-26T04:00:00Z",
                        name, lineno, v);
        return 0;
    case F_BITS:
    case F_CELL:
    case F_MARGIN: {
        int *dst = f == F_BITS ? &c->bits : f == F_CELL ? &c->cell : &c->margin;
        if(parse_uint(v, dst) != 0)
            return fail(err, errlen, "%s:%d: %s: '%s' is not a plain number 0..%d", name, lineno,
                        field_names[f], v, DSN_CERT_INT_MAX);
        if(f == F_BITS && (c->bits < DSN_MIN_BITS || c->bits > DSN_MAX_BITS))
            return fail(err, errlen, "%s:%d: bits: %d is out of range (%d..%d)", name, lineno, c->bits,
                        DSN_MIN_BITS, DSN_MAX_BITS);
        return 0;
    }
    case F_COLUMNS:
        if(parse_uint(v, &c->columns) != 0 || c->columns < 1 || c->columns > DSN_MAX_BITS)
            return fail(err, errlen, "%s:%d: columns: '%s' is not a plain number 1..%d (a square grid has no "
                        "columns line)", name, lineno, v, DSN_MAX_BITS);
        return 0;
    case F_FRAME:
        return parse_frame(c, v, name, lineno, err, errlen);
    case F_CORNER:
        corner = dsn_corner_from_name(v);
        if(corner < 0)
            return fail(err, errlen, "%s:%d: corner: '%s' is not one of tl, tr, bl, br", name, lineno, v);
        c->corner = (dsn_corner)corner;
        return 0;
    case F_PUBKEY:
        if(dsn_hex_decode(c->pubkey_sha256, sizeof c->pubkey_sha256, v) != 0)
            return fail(err, errlen, "%s:%d: pubkey-sha256: expected 64 lower-case hex digits", name,
                        lineno);
        return 0;
    case F_SIGNATURE:
        if(dsn_hex_decode(c->signature, sizeof c->signature, v) != 0)
            return fail(err, errlen, "%s:%d: signature: expected 128 lower-case hex digits", name, lineno);
        return 0;
    default:
        return fail(err, errlen, "%s:%d: internal error: field %d", name, lineno, f);
    }
}

/* The serial line: two check symbols; a certificate written before them has one (mod 37), read
 * with the first version's rules. Its bits are what counts (they are derived from the signature). */
static int decode_cert_serial(dsn_serial *s, const char *text, int bits, char *why, size_t len)
{
    int count = 0;
    for(const char *p = text; *p; ++p) count += *p != '-';
    if(count == dsn_serial_symbols(bits) + 1) return dsn_serial_decode_v1(s, text, bits, why, len);
    return dsn_serial_decode(s, text, bits, why, len);
}

static int parse_lines(dsn_cert *c, const char *text, size_t len, const char *name, char *err,
                       size_t errlen)
{
    int line_of[F_COUNT] = {0};
    char value[DSN_CERT_LINE_MAX + 1];
    char serial_text[DSN_CERT_LINE_MAX + 1] = "";
    int last = -1, lineno = 0;

    if(len == 0) return fail(err, errlen, "%s: empty file, not a dsn certificate", name);
    for(size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *lf = memchr(line, '\n', len - pos);
        size_t n = lf ? (size_t)(lf - line) : len - pos;
        pos += n + (lf ? 1 : 0);
        ++lineno;

        static const char magic[] = "dsn-certificate:";
        if(lineno == 1 && (n < sizeof magic - 1 || memcmp(line, magic, sizeof magic - 1) != 0))
            return fail(err, errlen, "%s:1: not a dsn certificate (the first line must be "
                        "'dsn-certificate: %d')", name, DSN_CERT_VERSION);
        if(n > DSN_CERT_LINE_MAX)
            return fail(err, errlen, "%s:%d: line is longer than %d bytes", name, lineno, DSN_CERT_LINE_MAX);
        if(check_line_bytes(line, n, name, lineno, err, errlen) != 0) return -1;
        if(n == 0) return fail(err, errlen, "%s:%d: empty line", name, lineno);

        const char *colon = memchr(line, ':', n);
        if(!colon)
            return fail(err, errlen, "%s:%d: expected 'field: value', found no ':'", name, lineno);
        size_t klen = (size_t)(colon - line);
        int f = field_index(line, klen);
        if(f < 0)
            return fail(err, errlen, "%s:%d: unknown field '%.*s'", name, lineno,
                        (int)(klen > 64 ? 64 : klen), line);
        if(line_of[f])
            return fail(err, errlen, "%s:%d: duplicated field '%s' (first on line %d)", name, lineno,
                        field_names[f], line_of[f]);
        if(f < last)
            return fail(err, errlen, "%s:%d: field '%s' is out of order: it must come before '%s'", name,
                        lineno, field_names[f], field_names[last]);
        line_of[f] = lineno;
        last = f;

        size_t vlen = n - klen - 1;
        const char *v = colon + 1;
        if(vlen < 2 || v[0] != ' ' || v[1] == ' ' || v[vlen - 1] == ' ')
            return fail(err, errlen, "%s:%d: %s: expected one space after ':', then a value without "
                        "trailing spaces", name, lineno, field_names[f]);
        memcpy(value, v + 1, vlen - 1);
        value[vlen - 1] = '\0';
        if(f == F_SERIAL) {
            memcpy(serial_text, value, vlen); /* decoded once bits is known to be valid */
            continue;
        }
        if(parse_value(c, f, value, name, lineno, err, errlen) != 0) return -1;
    }

    for(int f = 0; f < F_COUNT; ++f) {
        if(!line_of[f] && f != F_FRAME && f != F_COLUMNS)
            return fail(err, errlen, "%s: missing field '%s'", name, field_names[f]);
    }
    char why[160];
    if(decode_cert_serial(&c->serial, serial_text, c->bits, why, sizeof why) != 0)
        return fail(err, errlen, "%s:%d: serial: %s", name, line_of[F_SERIAL], why);
    return 0;
}

int dsn_cert_parse(dsn_cert *c, const char *text, size_t len, const char *name, char *err,
                   size_t errlen)
{
    memset(c, 0, sizeof *c);
    if(!name) name = "certificate";
    if(parse_lines(c, text, len, name, err, errlen) != 0) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    if(err && errlen) err[0] = '\0';
    return 0;
}

int dsn_cert_load(dsn_cert *c, const char *path, char *err, size_t errlen)
{
    char buf[DSN_CERT_FILE_MAX + 1];
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if(!f) return fail(err, errlen, "cannot open certificate %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if(bad) return fail(err, errlen, "cannot read certificate %s", path);
    if(n > DSN_CERT_FILE_MAX)
        return fail(err, errlen, "%s is larger than %d bytes: not a dsn certificate", path,
                    DSN_CERT_FILE_MAX);
    return dsn_cert_parse(c, buf, n, path, err, errlen);
}
