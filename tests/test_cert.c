/* Certificates (dsn_cli/dsn_cert.c): a golden certificate for the RFC 8032 test-1 key whose
 * signature and serial were computed independently (openssl pkeyutl -sign -rawin, Python hashlib),
 * determinism, the claim that changing any byte of the signed body or of the signature fails, and
 * every malformation the parser must name by file and line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_cert.h"
#include "dsn_test.h"

static const char rfc_seed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

#define GOLDEN_BODY                                                                                \
    "dsn-certificate: 1\n"                                                                         \
    "owner: Acme Vision Ltd\n"                                                                     \
    "customer: Bob Corp\n"                                                                         \
    "model: mnist-t7\n"                                                                            \
    "issued: 2026-11-26T04:00:00Z\n"                                                               \
    "bits: 64\n"                                                                                   \
    "cell: 0\n"                                                                                    \
    "corner: br\n"                                                                                 \
    "margin: 0\n"                                                                                  \
    "pubkey-sha256: 21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9\n"
#define GOLDEN_SIG                                                                                 \
    "signature: 3f1941a84ec040e231222bee6b2bc6749eca84834fdf731c922779780fc40156de4ba88c9f7e3990" \
    "2324196f4c50c0060f48bc2bc2aecc46d606771957a44305\n"
#define GOLDEN_SERIAL "serial: 93CF-J3BN-C6C6-598\n"

static const char golden[] = GOLDEN_BODY GOLDEN_SIG GOLDEN_SERIAL;

static dsn_key *rfc_key(void)
{
    uint8_t seed[32];
    dsn_key *k = NULL;
    assert_int_equal(dsn_hex_decode(seed, sizeof seed, rfc_seed), 0);
    assert_int_equal(dsn_key_from_seed(&k, seed), 0);
    return k;
}

static void golden_cert(dsn_cert *c)
{
    char err[256];
    dsn_geometry g;
    int64_t t;
    assert_int_equal(dsn_time_parse(&t, "2026-11-26T04:00:00Z"), 0);
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_cert_init(c, "Acme Vision Ltd", "Bob Corp", "mnist-t7", t, &g, err, sizeof err), 0);
}

static void test_golden_and_deterministic(void **state)
{
    (void)state;
    dsn_key *k = rfc_key();
    char a[DSN_CERT_TEXT_MAX], b[DSN_CERT_TEXT_MAX], body[DSN_CERT_TEXT_MAX];
    for(int round = 0; round < 2; ++round) {
        dsn_cert c;
        golden_cert(&c);
        assert_int_equal(dsn_cert_sign(&c, k), 0);
        int n = dsn_cert_format(round ? b : a, sizeof a, &c);
        assert_int_equal(n, (int)strlen(golden));
        assert_int_equal(dsn_cert_body(body, sizeof body, &c), (int)strlen(GOLDEN_BODY));
        assert_string_equal(body, GOLDEN_BODY);
    }
    assert_string_equal(a, golden);
    assert_string_equal(b, golden);
    /* too small a buffer is an error, not a truncated certificate */
    dsn_cert c;
    golden_cert(&c);
    assert_int_equal(dsn_cert_sign(&c, k), 0);
    assert_int_equal(dsn_cert_format(a, strlen(golden), &c), -1);
    assert_int_equal(dsn_cert_body(a, 40, &c), -1);
    dsn_key_free(k);
}

static void test_serial_derivation(void **state)
{
    (void)state;
    dsn_cert c;
    char err[256];
    assert_int_equal(dsn_cert_parse(&c, golden, strlen(golden), "golden", err, sizeof err), 0);
    /* SHA-256("DSN-serial-v1" NUL || signature), first bits */
    uint8_t msg[14 + 64], h[32];
    memcpy(msg, "DSN-serial-v1", 14);
    memcpy(msg + 14, c.signature, 64);
    assert_int_equal(dsn_sha256(h, msg, sizeof msg), 0);
    for(int bits = DSN_MIN_BITS; bits <= DSN_MAX_BITS; ++bits) {
        dsn_serial s;
        assert_int_equal(dsn_cert_derive_serial(&s, c.signature, bits), 0);
        assert_int_equal(s.nbits, bits);
        for(int i = 0; i < bits; ++i) assert_int_equal(s.bit[i], (h[i / 8] >> (7 - i % 8)) & 1);
    }
    dsn_serial s;
    assert_int_equal(dsn_cert_derive_serial(&s, c.signature, 64), 0);
    assert_int_equal(dsn_serial_hamming(&s, &c.serial), 0);
}

static void test_parse_round_trip_and_verify(void **state)
{
    (void)state;
    dsn_cert c;
    char err[256], text[DSN_CERT_TEXT_MAX];
    assert_int_equal(dsn_cert_parse(&c, golden, strlen(golden), "golden.sn", err, sizeof err), 0);
    assert_string_equal(c.owner, "Acme Vision Ltd");
    assert_string_equal(c.customer, "Bob Corp");
    assert_string_equal(c.model, "mnist-t7");
    assert_int_equal(c.issued, 1795665600);
    assert_int_equal(c.bits, 64);
    assert_int_equal(c.cell, 0);
    assert_int_equal(c.corner, DSN_CORNER_BR);
    assert_int_equal(c.margin, 0);
    assert_int_equal(dsn_cert_format(text, sizeof text, &c), (int)strlen(golden));
    assert_string_equal(text, golden);
    dsn_key *k = rfc_key();
    assert_int_equal(dsn_cert_verify(&c, k, err, sizeof err), 0);
    /* without the final newline it is still the same certificate */
    assert_int_equal(dsn_cert_parse(&c, golden, strlen(golden) - 1, "golden.sn", err, sizeof err), 0);
    assert_int_equal(dsn_cert_verify(&c, k, err, sizeof err), 0);
    /* the serial may be typed loosely: it is checked by value */
    static const char loose[] = GOLDEN_BODY GOLDEN_SIG "serial: 93cfj3bnc6c6598\n";
    assert_int_equal(dsn_cert_parse(&c, loose, strlen(loose), "loose.sn", err, sizeof err), 0);
    assert_int_equal(dsn_cert_verify(&c, k, err, sizeof err), 0);
    /* a certificate written with the first version's one check symbol stays valid, and is
     * written back with two (the serial is its bits) */
    static const char v1[] = GOLDEN_BODY GOLDEN_SIG "serial: 93CF-J3BN-C6C6-5E\n";
    assert_int_equal(dsn_cert_parse(&c, v1, strlen(v1), "v1.sn", err, sizeof err), 0);
    assert_int_equal(dsn_cert_verify(&c, k, err, sizeof err), 0);
    assert_int_equal(dsn_cert_format(text, sizeof text, &c), (int)strlen(golden));
    assert_string_equal(text, golden);
    dsn_key_free(k);
}

/* Any byte of the body or the signature line replaced by any other byte value: it either does
 * not parse or does not verify. */
static void test_every_byte_change_fails(void **state)
{
    (void)state;
    dsn_key *k = rfc_key();
    char text[sizeof golden], err[256];
    size_t signed_len = strlen(GOLDEN_BODY GOLDEN_SIG);
    long parsed = 0, rejected = 0;
    memcpy(text, golden, sizeof golden);
    for(size_t i = 0; i < signed_len; ++i) {
        for(int v = 0; v < 256; ++v) {
            if(v == (unsigned char)golden[i]) continue;
            text[i] = (char)v;
            dsn_cert c;
            if(dsn_cert_parse(&c, text, sizeof golden - 1, "m.sn", err, sizeof err) == 0) {
                ++parsed;
                if(dsn_cert_verify(&c, k, err, sizeof err) == 0)
                    fail_msg("byte %zu changed to 0x%02x still verifies", i, v);
            } else {
                ++rejected;
            }
        }
        text[i] = golden[i];
    }
    print_message("  %ld changes parsed and failed verification, %ld did not parse\n", parsed, rejected);
    assert_true(parsed > 1000); /* the signature really was checked, not just the syntax */
    dsn_key_free(k);
}

static void test_struct_changes_fail(void **state)
{
    (void)state;
    dsn_key *k = rfc_key();
    dsn_cert c, m;
    char err[256];
    assert_int_equal(dsn_cert_parse(&c, golden, strlen(golden), "g", err, sizeof err), 0);
    for(int bit = 0; bit < 512; ++bit) {
        m = c;
        m.signature[bit / 8] ^= (uint8_t)(1 << bit % 8);
        assert_int_equal(dsn_cert_verify(&m, k, err, sizeof err), -1);
    }
    for(int bit = 0; bit < 64; ++bit) {
        m = c;
        m.serial.bit[bit] ^= 1;
        assert_int_equal(dsn_cert_verify(&m, k, err, sizeof err), -1);
        assert_non_null(strstr(err, "serial"));
    }
    m = c;
    m.cell = 1;
    assert_int_equal(dsn_cert_verify(&m, k, err, sizeof err), -1);
    assert_non_null(strstr(err, "signature"));
    m = c;
    m.issued += 1;
    assert_int_equal(dsn_cert_verify(&m, k, err, sizeof err), -1);
    /* another key */
    dsn_key *other = NULL;
    assert_int_equal(dsn_key_generate(&other), 0);
    assert_int_equal(dsn_cert_verify(&c, other, err, sizeof err), -1);
    assert_non_null(strstr(err, "another key"));
    /* the other key re-signing our body gives another serial and still fails against ours */
    m = c;
    assert_int_equal(dsn_cert_sign(&m, other), 0);
    assert_int_equal(dsn_cert_verify(&m, other, err, sizeof err), 0);
    assert_int_equal(dsn_cert_verify(&m, k, err, sizeof err), -1);
    assert_true(dsn_serial_hamming(&m.serial, &c.serial) > 0);
    dsn_key_free(other);
    dsn_key_free(k);
}

static void test_time(void **state)
{
    (void)state;
    const struct { const char *s; int64_t t; } ok[] = {
        {"1970-01-01T00:00:00Z", 0}, {"2000-02-29T12:34:56Z", 951827696},
        {"2026-11-26T04:00:00Z", 1795665600}, {"9999-12-31T23:59:59Z", 253402300799},
    };
    char buf[DSN_TIME_TEXT];
    for(size_t i = 0; i < sizeof ok / sizeof ok[0]; ++i) {
        int64_t t;
        assert_int_equal(dsn_time_parse(&t, ok[i].s), 0);
        assert_int_equal(t, ok[i].t);
        dsn_time_format(buf, t);
        assert_string_equal(buf, ok[i].s);
    }
    /* every day from 1970 to 2100 formats and parses back */
    for(int64_t t = 0; t < 4102444800; t += 86400 + 3661) {
        int64_t back;
        dsn_time_format(buf, t);
        assert_int_equal(dsn_time_parse(&back, buf), 0);
        assert_int_equal(back, t);
    }
    const char *bad[] = {
        "", "2026-11-26", "2026-11-26T04:00:00", "2026-11-26T04:00:00+00:00", "2026-11-26 04:00:00Z",
        "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "1969-12-31T23:59:59Z",
        "2026-11-26T24:00:00Z", "2026-11-26T04:60:00Z", "2026-11-26T04:00:60Z", "2026-11-00T04:00:00Z",
        "2026-11-26t04:00:00z", "+026-11-26T04:00:00Z", "2026-11-26T04:00:00ZZ", "2026-04-31T00:00:00Z",
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        int64_t t;
        if(dsn_time_parse(&t, bad[i]) == 0) fail_msg("'%s' was accepted", bad[i]);
    }
    int64_t t;
    assert_int_equal(dsn_time_parse(&t, NULL), -1);
}

static void test_names(void **state)
{
    (void)state;
    char err[256], big[200];
    assert_int_equal(dsn_cert_check_name("owner", "Acme", err, sizeof err), 0);
    assert_int_equal(dsn_cert_check_name("owner", "Zoë Schmidt GmbH – Köln", err, sizeof err), 0);
    assert_int_equal(dsn_cert_check_name("owner", "株式会社", err, sizeof err), 0);
    assert_int_equal(dsn_cert_check_name("owner", "Acme \xc2\xa0 Ltd", err, sizeof err), 0); /* NBSP inside */
    assert_int_equal(dsn_cert_check_name("owner", "\xd8\xb4\xd8\xb1\xd9\x83\xd8\xa9", err, sizeof err), 0); /* Arabic */
    const struct { const char *v, *why; } bad[] = {
        {"", "empty"}, {" Acme", "space"}, {"Acme ", "space"}, {"Ac\tme", "control"},
        {"Ac\nme", "control"}, {"Ac\x7fme", "control"}, {"Ac\xc2\x85me", "control"},
        {"Ac\xffme", "UTF-8"}, {"Ac\xc0\xafme", "UTF-8"}, {"Ac\xed\xa0\x80me", "UTF-8"},
        {"Ac\xe2\x82", "UTF-8"}, {"\xf4\x90\x80\x80", "UTF-8"},
        /* Unicode categories Cf, Zl, Zp anywhere; a space of any kind at either end */
        {"Acme\xe2\x80\xaegnp.exe", "U+202E"},      /* right-to-left override   */
        {"Ac\xe2\x80\x8bme", "U+200B"},             /* zero-width space          */
        {"Ac\xe2\x80\x8dme", "format character (Cf)"}, /* zero-width joiner      */
        {"\xef\xbb\xbf" "Acme", "U+FEFF"},            /* byte order mark           */
        {"Ac\xc2\xadme", "U+00AD"},                   /* soft hyphen               */
        {"Ac\xe2\x81\xa6me", "U+2066"},             /* left-to-right isolate     */
        {"Ac\xf3\xa0\x80\x81me", "U+E0001"},        /* language tag              */
        {"Ac\xe2\x80\xa8me", "line separator (Zl)"},
        {"Ac\xe2\x80\xa9me", "paragraph separator (Zp)"},
        {"Acme\xc2\xa0", "U+00A0"},                   /* trailing no-break space   */
        {"\xe3\x80\x80" "Acme", "U+3000"},            /* leading ideographic space */
        {"Acme\xe2\x80\x89", "U+2009"},              /* trailing thin space       */
        {"\xe1\x9a\x80" "Acme", "U+1680"},            /* leading ogham space mark  */
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        assert_int_equal(dsn_cert_check_name("owner", bad[i].v, err, sizeof err), -1);
        if(!strstr(err, "owner") || !strstr(err, bad[i].why)) fail_msg("case %zu: '%s'", i, err);
    }
    memset(big, 'a', sizeof big);
    big[128] = '\0';
    assert_int_equal(dsn_cert_check_name("model", big, err, sizeof err), 0);
    big[128] = 'a';
    big[129] = '\0';
    assert_int_equal(dsn_cert_check_name("model", big, err, sizeof err), -1);
    assert_non_null(strstr(err, "128"));

    dsn_cert c;
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    assert_int_equal(dsn_cert_init(&c, "A", " B", "m", 0, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "customer"));
    assert_int_equal(dsn_cert_init(&c, "A", "B", "m", -1, &g, err, sizeof err), -1);
    assert_int_equal(dsn_cert_init(&c, "A", "B", "m", 253402300800, &g, err, sizeof err), -1);
    g.cell = DSN_CERT_INT_MAX + 1;
    assert_int_equal(dsn_cert_init(&c, "A", "B", "m", 0, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "cell"));
}

/* ---- malformed certificates ------------------------------------------------------------------ */

static const char *golden_lines[12] = {
    "dsn-certificate: 1", "owner: Acme Vision Ltd", "customer: Bob Corp", "model: mnist-t7",
    "issued: 2026-11-26T04:00:00Z", "bits: 64", "cell: 0", "corner: br", "margin: 0",
    "pubkey-sha256: 21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
    "signature: 3f1941a84ec040e231222bee6b2bc6749eca84834fdf731c922779780fc40156de4ba88c9f7e3990"
    "2324196f4c50c0060f48bc2bc2aecc46d606771957a44305",
    "serial: 93CF-J3BN-C6C6-598",
};

/* The golden lines with line `at` (0-based) replaced by `with` (NULL: dropped), and `extra`
 * inserted before line `insert_at` (-1: none). */
static size_t build(char *out, size_t len, int at, const char *with, int insert_at, const char *extra)
{
    size_t n = 0;
    for(int i = 0; i <= 12; ++i) {
        if(i == insert_at) n += (size_t)snprintf(out + n, len - n, "%s\n", extra);
        if(i == 12) break;
        if(i == at && !with) continue;
        n += (size_t)snprintf(out + n, len - n, "%s\n", i == at ? with : golden_lines[i]);
    }
    return n;
}

static void expect_parse_error(const char *text, size_t len, const char *why)
{
    dsn_cert c;
    char err[512];
    assert_int_equal(dsn_cert_parse(&c, text, len, "bob.sn", err, sizeof err), -1);
    if(!strstr(err, "bob.sn") || !strstr(err, why)) fail_msg("message '%s' lacks '%s'", err, why);
    assert_int_equal(c.bits, 0); /* nothing half-parsed is left */
}

static void test_missing_duplicated_unknown(void **state)
{
    (void)state;
    char text[8192], want[128];
    static const char *names[12] = {"dsn-certificate", "owner", "customer", "model", "issued", "bits",
                                    "cell", "corner", "margin", "pubkey-sha256", "signature", "serial"};
    for(int f = 1; f < 12; ++f) {
        size_t n = build(text, sizeof text, f, NULL, -1, NULL);
        snprintf(want, sizeof want, "missing field '%s'", names[f]);
        expect_parse_error(text, n, want);
        n = build(text, sizeof text, -1, NULL, f + 1, golden_lines[f]);
        snprintf(want, sizeof want, "bob.sn:%d: duplicated field '%s' (first on line %d)", f + 2, names[f],
                 f + 1);
        expect_parse_error(text, n, want);
    }
    size_t n = build(text, sizeof text, 0, NULL, -1, NULL);
    expect_parse_error(text, n, "bob.sn:1: not a dsn certificate");
    n = build(text, sizeof text, -1, NULL, 3, "colour: blue");
    expect_parse_error(text, n, "bob.sn:4: unknown field 'colour'");
    n = build(text, sizeof text, -1, NULL, 12, "comment: hi");
    expect_parse_error(text, n, "bob.sn:13: unknown field 'comment'");
    n = build(text, sizeof text, 1, "Owner: Acme", -1, NULL);
    expect_parse_error(text, n, "bob.sn:2: unknown field 'Owner'");
    n = build(text, sizeof text, 2, "owner: Acme Vision Ltd", -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: duplicated field 'owner'");
    /* out of order: customer before owner */
    n = 0;
    for(int i = 0; i < 12; ++i) {
        int j = i == 1 ? 2 : i == 2 ? 1 : i;
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", golden_lines[j]);
    }
    expect_parse_error(text, n, "bob.sn:3: field 'owner' is out of order: it must come before 'customer'");
}

static void test_bad_bytes_and_lines(void **state)
{
    (void)state;
    char text[8192], line[1200];
    size_t n;
    n = build(text, sizeof text, 2, "customer: Bob Corp\r", -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: carriage return");
    n = build(text, sizeof text, 2, "customer: Bob \xff" "Corp", -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: bytes that are not UTF-8 at column 15");
    n = build(text, sizeof text, 2, "customer: Bob \xc0\xaf", -1, NULL);
    expect_parse_error(text, n, "not UTF-8");
    n = build(text, sizeof text, 2, "customer: Bob\tCorp", -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: control character U+0009");
    n = build(text, sizeof text, 2, "customer: Bob#Corp", -1, NULL);
    *strchr(text, '#') = '\0'; /* a NUL inside the name */
    expect_parse_error(text, n, "bob.sn:3: control character U+0000");
    memset(line, 'x', sizeof line);
    memcpy(line, "customer: ", 10);
    line[1025] = '\0';
    n = build(text, sizeof text, 2, line, -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: line is longer than 1024 bytes");
    line[200] = '\0';
    n = build(text, sizeof text, 2, line, -1, NULL);
    expect_parse_error(text, n, "bob.sn:3: customer is 190 bytes long, the limit is 128");
    n = build(text, sizeof text, -1, NULL, 5, "");
    expect_parse_error(text, n, "bob.sn:6: empty line");
    expect_parse_error("", 0, "empty file");
    n = build(text, sizeof text, 3, "model mnist-t7", -1, NULL);
    expect_parse_error(text, n, "bob.sn:4: expected 'field: value'");
}

static void test_bad_values(void **state)
{
    (void)state;
    const struct { int line; const char *text, *why; } cases[] = {
        {0, "dsn-certificate: 2", "bob.sn:1: certificate version '2' is not supported"},
        {1, "owner:Acme", "bob.sn:2: owner: expected one space"},
        {1, "owner:  Acme", "bob.sn:2: owner: expected one space"},
        {1, "owner: Acme ", "bob.sn:2: owner: expected one space"},
        {1, "owner: ", "bob.sn:2: owner: expected one space"},
        {4, "issued: 2026-11-26T04:00:00", "bob.sn:5: issued: '2026-11-26T04:00:00' is not a UTC time"},
        {4, "issued: 2026-02-30T04:00:00Z", "bob.sn:5: issued"},
        {5, "bits: 064", "bob.sn:6: bits: '064' is not a plain number"},
        {5, "bits: +64", "bob.sn:6: bits: '+64'"},
        {5, "bits: 3", "bob.sn:6: bits: 3 is out of range (4..256)"},
        {5, "bits: 257", "bob.sn:6: bits: 257 is out of range"},
        {5, "bits: 99999999", "bob.sn:6: bits: '99999999' is not a plain number"},
        {6, "cell: -1", "bob.sn:7: cell: '-1'"},
        {8, "margin: 1000001", "bob.sn:9: margin: '1000001'"},
        {7, "corner: BR", "bob.sn:8: corner: 'BR' is not one of tl, tr, bl, br"},
        {9, "pubkey-sha256: 21FE31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
         "bob.sn:10: pubkey-sha256: expected 64 lower-case hex digits"},
        {9, "pubkey-sha256: 21fe", "bob.sn:10: pubkey-sha256"},
        {10, "signature: 00", "bob.sn:11: signature: expected 128 lower-case hex digits"},
        {2, "customer: Bob\xe2\x80\xae" "Corp", "bob.sn:3: customer has an invisible format character (Cf), U+202E"},
        {2, "customer: Bob Corp\xc2\xa0", "bob.sn:3: customer has a leading or trailing space character (U+00A0)"},
        {11, "serial: 93CF-J3BN-C6C6-599", "bob.sn:12: serial: the check symbols do not match"},
        {11, "serial: 93CF-J3BN-C6C6-5F", "bob.sn:12: serial: the check symbols do not match"},
        {11, "serial: 93CF-J3BN-C6C6-59*", "bob.sn:12: serial: bad character '*'"},
        {11, "serial: 93CF-J3BN-C6C6", "bob.sn:12: serial: a 64-bit serial has 15 symbols"},
    };
    char text[8192];
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t n = build(text, sizeof text, cases[i].line, cases[i].text, -1, NULL);
        expect_parse_error(text, n, cases[i].why);
    }
    /* bits must agree with the serial's length */
    size_t n = build(text, sizeof text, 5, "bits: 70", -1, NULL);
    expect_parse_error(text, n, "bob.sn:12: serial");
}

static void test_load(void **state)
{
    (void)state;
    char dir[256], err[512], path[300];
    dsn_cert c;
    dsn_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/none.sn", dir);
    assert_int_equal(dsn_cert_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(dsn_cert_load(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, dir));
    char *p = dsn_test_write(dir, "bob.sn", golden);
    assert_int_equal(dsn_cert_load(&c, p, err, sizeof err), 0);
    assert_string_equal(c.customer, "Bob Corp");
    free(p);
    char *big = malloc(DSN_CERT_FILE_MAX + 2);
    memset(big, 'a', DSN_CERT_FILE_MAX + 1);
    big[DSN_CERT_FILE_MAX + 1] = '\0';
    p = dsn_test_write(dir, "big.sn", big);
    assert_int_equal(dsn_cert_load(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "larger than"));
    free(p);
    free(big);
    dsn_test_rmtree(dir);
}

/* Replaces the first occurrence of `from` in text (DSN_CERT_TEXT_MAX bytes) by `to`. */
static void replace_text(char *text, const char *from, const char *to)
{
    char *p = strstr(text, from), rest[DSN_CERT_TEXT_MAX];
    assert_non_null(p);
    snprintf(rest, sizeof rest, "%s", p + strlen(from));
    size_t room = DSN_CERT_TEXT_MAX - (size_t)(p - text);
    assert_true((size_t)snprintf(p, room, "%s%s", to, rest) < room);
}

typedef struct line_case { const char *to, *why; } line_case;

/* Each case replaces `line` in the signed certificate `text` by `to`: with `why`, parsing as
 * `name` fails saying it; without, it parses but the signature no longer matches (the line is
 * signed). */
static void check_line_cases(const char *text, const char *line, const line_case *cases, size_t n, const char *name,
                             dsn_key *k)
{
    char err[256], bad[DSN_CERT_TEXT_MAX];
    dsn_cert p;
    for(size_t i = 0; i < n; ++i) {
        snprintf(bad, sizeof bad, "%s", text);
        replace_text(bad, line, cases[i].to);
        int rc = dsn_cert_parse(&p, bad, strlen(bad), name, err, sizeof err);
        if(cases[i].why) {
            assert_int_equal(rc, -1);
            if(!strstr(err, cases[i].why)) fail_msg("'%s': %s", cases[i].to, err);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(dsn_cert_verify(&p, k, err, sizeof err), -1);
        }
    }
}

/* A framed stamp: the frame line sits between margin and pubkey-sha256 and is signed; a
 * certificate without a frame has no frame line (so earlier certificates stay valid). */
static void test_framed_cert(void **state)
{
    (void)state;
    char err[256], text[DSN_CERT_TEXT_MAX];
    dsn_key *k = rfc_key();
    dsn_cert c, p;
    dsn_geometry g;
    golden_cert(&c);
    c.frame = 1;
    assert_int_equal(dsn_cert_sign(&c, k), 0);
    assert_true(dsn_cert_format(text, sizeof text, &c) > 0);
    assert_non_null(strstr(text, "margin: 0\nframe: 1\npubkey-sha256: "));
    assert_string_not_equal(text, golden);   /* another body, another signature and serial */
    assert_int_equal(dsn_cert_parse(&p, text, strlen(text), "f.sn", err, sizeof err), 0);
    assert_int_equal(p.frame, 1);
    assert_int_equal(dsn_cert_verify(&p, k, err, sizeof err), 0);
    assert_int_equal(dsn_cert_geometry(&g, &p, err, sizeof err), 0);
    assert_int_equal(g.frame, 1);
    const line_case cases[] = {
        {"frame: 2\n", NULL}, {"", NULL},
        {"frame: 0\n", "f.sn:10: frame: '0' is not a plain number 1..2"},
        {"frame: 3\n", "f.sn:10: frame: '3'"},
        {"frame: 01\n", "f.sn:10: frame: '01'"},
        {"frame: 1 wrap\n", NULL},   /* the wrapped frame is signed too */
        {"frame: 1 wrapped\n", "f.sn:10: frame: '1 wrapped' is not N or 'N wrap'"},
        {"frame: 1  wrap\n", "f.sn:10: frame: '1  wrap'"},
        {"frame: wrap\n", "f.sn:10: frame: 'wrap'"},
    };
    check_line_cases(text, "frame: 1\n", cases, sizeof cases / sizeof cases[0], "f.sn", k);
    dsn_key_free(k);
}

/* A wrapped frame: "frame: N wrap", signed, read back into the geometry; a wrap without a frame
 * is refused when issuing. */
static void test_wrapped_cert(void **state)
{
    (void)state;
    char err[256], text[DSN_CERT_TEXT_MAX];
    dsn_key *k = rfc_key();
    dsn_cert c, p;
    dsn_geometry g;
    golden_cert(&c);
    c.frame = 1;
    c.wrap = 1;
    assert_int_equal(dsn_cert_sign(&c, k), 0);
    assert_true(dsn_cert_format(text, sizeof text, &c) > 0);
    assert_non_null(strstr(text, "margin: 0\nframe: 1 wrap\npubkey-sha256: "));
    assert_int_equal(dsn_cert_parse(&p, text, strlen(text), "w.sn", err, sizeof err), 0);
    assert_int_equal(p.frame, 1);
    assert_int_equal(p.wrap, 1);
    assert_int_equal(dsn_cert_verify(&p, k, err, sizeof err), 0);
    assert_int_equal(dsn_cert_geometry(&g, &p, err, sizeof err), 0);
    assert_int_equal(g.wrap, 1);
    assert_int_equal(dsn_geometry_init(&g, 64, 0, DSN_CORNER_BR, 0, err, sizeof err), 0);
    g.wrap = 1;   /* no frame */
    assert_int_equal(dsn_cert_init(&p, "o", "c", "m", 0, &g, err, sizeof err), -1);
    dsn_key_free(k);
}

/* A grid of other columns: "columns: N" between margin and frame, signed, read back into the
 * geometry (16x4); none for a square grid; the spelling, the range and the order refused. */
static void test_columns_cert(void **state)
{
    (void)state;
    char err[256], text[DSN_CERT_TEXT_MAX], bad[DSN_CERT_TEXT_MAX];
    dsn_key *k = rfc_key();
    dsn_cert c, p;
    dsn_geometry g;
    golden_cert(&c);
    c.columns = 16;
    c.frame = 1;
    c.wrap = 1;
    assert_int_equal(dsn_cert_sign(&c, k), 0);
    assert_true(dsn_cert_format(text, sizeof text, &c) > 0);
    assert_non_null(strstr(text, "margin: 0\ncolumns: 16\nframe: 1 wrap\npubkey-sha256: "));
    assert_int_equal(dsn_cert_parse(&p, text, strlen(text), "c.sn", err, sizeof err), 0);
    assert_int_equal(p.columns, 16);
    assert_int_equal(dsn_cert_verify(&p, k, err, sizeof err), 0);
    assert_int_equal(dsn_cert_geometry(&g, &p, err, sizeof err), 0);
    assert_int_equal(g.gw, 16);
    assert_int_equal(g.gh, 4);
    const line_case cases[] = {
        {"columns: 8\n", NULL}, {"", NULL},
        {"columns: 0\n", "c.sn:10: columns: '0' is not a plain number 1..256"},
        {"columns: 016\n", "c.sn:10: columns: '016'"},
        {"columns: 257\n", "c.sn:10: columns: '257'"},
        {"columns: sixteen\n", "c.sn:10: columns: 'sixteen'"},
    };
    check_line_cases(text, "columns: 16\n", cases, sizeof cases / sizeof cases[0], "c.sn", k);
    snprintf(bad, sizeof bad, "%s", text);   /* after the frame line: out of order */
    replace_text(bad, "columns: 16\nframe: 1 wrap\n", "frame: 1 wrap\ncolumns: 16\n");
    assert_int_equal(dsn_cert_parse(&p, bad, strlen(bad), "c.sn", err, sizeof err), -1);
    assert_non_null(strstr(err, "c.sn:11: field 'columns' is out of order: it must come before 'frame'"));
    snprintf(bad, sizeof bad, "%s", text);   /* parses (1..256), but 100 columns of 64 bits is no grid */
    replace_text(bad, "columns: 16\n", "columns: 100\n");
    assert_int_equal(dsn_cert_parse(&p, bad, strlen(bad), "c.sn", err, sizeof err), 0);
    assert_int_equal(dsn_cert_geometry(&g, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "columns=100 is out of range"));
    golden_cert(&c);   /* a square grid writes no columns line */
    assert_int_equal(dsn_cert_sign(&c, k), 0);
    assert_true(dsn_cert_format(text, sizeof text, &c) > 0);
    assert_null(strstr(text, "columns"));
    dsn_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_and_deterministic),
        cmocka_unit_test(test_serial_derivation),
        cmocka_unit_test(test_parse_round_trip_and_verify),
        cmocka_unit_test(test_every_byte_change_fails),
        cmocka_unit_test(test_struct_changes_fail),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_missing_duplicated_unknown),
        cmocka_unit_test(test_bad_bytes_and_lines),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_framed_cert),
        cmocka_unit_test(test_wrapped_cert),
        cmocka_unit_test(test_columns_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
