/* Serial numbers as text (layers/dsn_serial.c): golden encodings computed independently (Python
 * big integers), round trips for every supported length, the lenient spellings, and the claim the
 * two check symbols make: every single-symbol substitution and every adjacent transposition is
 * caught, exhaustively over every length; the first version's texts (one mod-37 check symbol) still
 * read through dsn_serial_decode_v1, and no serial has a symbol a shell would expand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dsn_serial.h"

/* every symbol a serial is written with; the first version's check-only symbols are typos now */
static const char symbols[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char v1_only[] = "*~$=U";

static unsigned lcg(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 16;
}

static void random_serial(dsn_serial *s, int nbits, unsigned *seed)
{
    memset(s, 0, sizeof *s);
    s->nbits = nbits;
    for(int i = 0; i < nbits; ++i) s->bit[i] = (uint8_t)(lcg(seed) & 1);
}

/* The text without hyphens. */
static void strip(char *out, const char *in)
{
    for(; *in; ++in) if(*in != '-') *out++ = *in;
    *out = '\0';
}

static void test_golden(void **state)
{
    (void)state;
    static const uint8_t bytes[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    uint8_t ones[32];
    memset(ones, 0xff, sizeof ones);
    uint8_t nine[2] = {0xb3, 0x80}; /* 1011 0011 1 */
    char text[DSN_SERIAL_TEXT_MAX];
    dsn_serial s;

    assert_int_equal(dsn_serial_from_bytes(&s, bytes, sizeof bytes, 64), 0);
    /* Python: N = int(bits, 2); symbols of N, then N % 1021 as two base32 digits */
    assert_int_equal(dsn_serial_encode(text, sizeof text, &s), 18);
    assert_string_equal(text, "028T-5CY4-TQKF-FHF");
    assert_int_equal(dsn_serial_from_bytes(&s, nine, sizeof nine, 9), 0);
    dsn_serial_encode(text, sizeof text, &s);
    assert_string_equal(text, "B7B7");
    assert_int_equal(dsn_serial_from_bytes(&s, ones, sizeof ones, 256), 0);
    assert_int_equal(dsn_serial_encode(text, sizeof text, &s), 67);
    assert_string_equal(text, "1ZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-QB");
}

static void test_bytes(void **state)
{
    (void)state;
    uint8_t in[32], out[32];
    unsigned seed = 7;
    for(int i = 0; i < 32; ++i) in[i] = (uint8_t)lcg(&seed);
    for(int nbits = DSN_MIN_BITS; nbits <= DSN_MAX_BITS; ++nbits) {
        dsn_serial s;
        assert_int_equal(dsn_serial_from_bytes(&s, in, sizeof in, nbits), 0);
        for(int i = nbits; i < DSN_MAX_BITS; ++i) assert_int_equal(s.bit[i], 0);
        memset(out, 0xaa, sizeof out);
        dsn_serial_to_bytes(out, &s);
        int n = (nbits + 7) / 8;
        for(int i = 0; i < n; ++i) {
            uint8_t mask = i == n - 1 && nbits % 8 ? (uint8_t)(0xff << (8 - nbits % 8)) : 0xff;
            assert_int_equal(out[i], in[i] & mask);
        }
    }
    dsn_serial s;
    assert_int_equal(dsn_serial_from_bytes(&s, in, sizeof in, DSN_MIN_BITS - 1), -1);
    assert_int_equal(dsn_serial_from_bytes(&s, in, sizeof in, DSN_MAX_BITS + 1), -1);
    assert_int_equal(dsn_serial_from_bytes(&s, in, 7, 64), -1); /* too few bytes */
    assert_int_equal(dsn_serial_symbols(64), 13);
    assert_int_equal(dsn_serial_symbols(65), 13);
    assert_int_equal(dsn_serial_symbols(66), 14);
}

static void test_round_trip_every_length(void **state)
{
    (void)state;
    unsigned seed = 1;
    char text[DSN_SERIAL_TEXT_MAX], err[160];
    for(int nbits = DSN_MIN_BITS; nbits <= DSN_MAX_BITS; ++nbits) {
        for(int pattern = 0; pattern < 6; ++pattern) {
            dsn_serial s, back;
            random_serial(&s, nbits, &seed);
            if(pattern == 0) memset(s.bit, 0, (size_t)nbits);
            if(pattern == 1) memset(s.bit, 1, (size_t)nbits);
            int n = dsn_serial_encode(text, sizeof text, &s);
            int total = dsn_serial_symbols(nbits) + DSN_SERIAL_CHECK_SYMBOLS;
            assert_int_equal(n, total + (total - 1) / DSN_SERIAL_GROUP);
            assert_int_equal((int)strlen(text), n);
            assert_int_equal(dsn_serial_decode(&back, text, nbits, err, sizeof err), 0);
            assert_int_equal(back.nbits, nbits);
            assert_memory_equal(back.bit, s.bit, sizeof s.bit);
            assert_int_equal(dsn_serial_hamming(&s, &back), 0);
        }
    }
}

static void test_lenient_spellings(void **state)
{
    (void)state;
    char err[160], text[DSN_SERIAL_TEXT_MAX];
    dsn_serial want, s;
    assert_int_equal(dsn_serial_decode(&want, "028T-5CY4-TQKF-FHF", 64, err, sizeof err), 0);
    const char *same[] = {
        "028t-5cy4-tqkf-fhf", "028T5CY4TQKFFHF", "0-2-8-T5CY4--TQKF-FH-F-", "-028T5cy4-tqkf-Fhf",
        "O28T-5CY4-TQKF-FHF", "o28T-5CY4-TQKF-FHF",
    };
    for(size_t i = 0; i < sizeof same / sizeof same[0]; ++i) {
        assert_int_equal(dsn_serial_decode(&s, same[i], 64, err, sizeof err), 0);
        assert_memory_equal(s.bit, want.bit, sizeof s.bit);
    }
    /* I and L read as 1: find a serial with a 1 in it */
    unsigned seed = 3;
    for(int tries = 0; tries < 1000; ++tries) {
        random_serial(&want, 64, &seed);
        dsn_serial_encode(text, sizeof text, &want);
        char *one = strchr(text, '1');
        if(!one) continue;
        const char alike[] = {'I', 'i', 'L', 'l'};
        for(size_t k = 0; k < sizeof alike; ++k) {
            *one = alike[k];
            assert_int_equal(dsn_serial_decode(&s, text, 64, err, sizeof err), 0);
            assert_memory_equal(s.bit, want.bit, sizeof s.bit);
        }
        return;
    }
    fail_msg("no serial with a 1 in 1000 tries");
}

static void test_every_substitution_caught(void **state)
{
    (void)state;
    unsigned seed = 11;
    char text[DSN_SERIAL_TEXT_MAX], flat[DSN_SERIAL_TEXT_MAX], err[160];
    long tried = 0;
    for(int nbits = DSN_MIN_BITS; nbits <= DSN_MAX_BITS; ++nbits) {
        dsn_serial s, back;
        random_serial(&s, nbits, &seed);
        dsn_serial_encode(text, sizeof text, &s);
        strip(flat, text);
        size_t n = strlen(flat);
        for(size_t i = 0; i < n; ++i) {
            char orig = flat[i];
            for(const char *c = symbols; *c; ++c) {
                if(*c == orig) continue;
                flat[i] = *c;
                if(dsn_serial_decode(&back, flat, nbits, err, sizeof err) == 0)
                    fail_msg("%d bits: %s (symbol %zu %c->%c) was accepted", nbits, flat, i, orig, *c);
                ++tried;
            }
            flat[i] = orig;
        }
    }
    print_message("  %ld substitutions, all caught\n", tried);
}

static void test_every_transposition_caught(void **state)
{
    (void)state;
    unsigned seed = 5;
    char text[DSN_SERIAL_TEXT_MAX], flat[DSN_SERIAL_TEXT_MAX], err[160];
    long tried = 0;
    for(int nbits = DSN_MIN_BITS; nbits <= DSN_MAX_BITS; ++nbits) {
        for(int rep = 0; rep < 4; ++rep) {
            dsn_serial s, back;
            random_serial(&s, nbits, &seed);
            dsn_serial_encode(text, sizeof text, &s);
            strip(flat, text);
            size_t n = strlen(flat);
            for(size_t i = 0; i + 1 < n; ++i) {
                if(flat[i] == flat[i + 1]) continue;
                char a = flat[i];
                flat[i] = flat[i + 1];
                flat[i + 1] = a;
                if(dsn_serial_decode(&back, flat, nbits, err, sizeof err) == 0)
                    fail_msg("%d bits: %s (symbols %zu,%zu swapped) was accepted", nbits, flat, i, i + 1);
                ++tried;
                flat[i + 1] = flat[i];
                flat[i] = a;
            }
        }
    }
    print_message("  %ld transpositions, all caught\n", tried);
}

static void test_errors_explain(void **state)
{
    (void)state;
    char err[160];
    dsn_serial s;
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-FHG", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "typo"));
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-FH", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "15 symbols"));
    assert_non_null(strstr(err, "has 14"));
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-FHF0", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "has 16"));
    assert_int_equal(dsn_serial_decode(&s, "028T 5CY4-TQKF-FHF", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "' '"));
    assert_non_null(strstr(err, "position 5"));
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-F\xc3\xa9", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "\\xC3"));
    /* the first version's check-only symbols are bad characters anywhere now */
    for(const char *c = v1_only; *c; ++c) {
        char text[32];
        snprintf(text, sizeof text, "028T-5CY4-TQKF-F%c", *c);
        assert_int_equal(dsn_serial_decode(&s, text, 64, err, sizeof err), -1);
        assert_non_null(strstr(err, "bad character"));
    }
    assert_int_equal(dsn_serial_decode(&s, "", 64, err, sizeof err), -1);
    assert_int_equal(dsn_serial_decode(&s, NULL, 64, err, sizeof err), -1);
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-FHF", 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(dsn_serial_decode(&s, "028T-5CY4-TQKF-FHF", 257, err, sizeof err), -1);
    /* 64 bits use 65: a first symbol of 16 or more is not a 64-bit serial */
    assert_int_equal(dsn_serial_decode(&s, "G28T-5CY4-TQKF-FHF", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "too large"));
    /* a failed decode leaves no stale bits, and a tiny err buffer is fine */
    assert_int_equal(s.nbits, 0);
    assert_int_equal(dsn_serial_decode(&s, "x", 64, err, 4), -1);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(dsn_serial_decode(&s, "x", 64, NULL, 0), -1);
}

/* The first version's texts: golden values of the mod-37 check (Python), same bits as now. */
static void test_v1_still_reads(void **state)
{
    (void)state;
    char err[160];
    dsn_serial old, now;
    assert_int_equal(dsn_serial_decode_v1(&old, "028T-5CY4-TQKF-FA", 64, err, sizeof err), 0);
    assert_int_equal(dsn_serial_decode(&now, "028T-5CY4-TQKF-FHF", 64, err, sizeof err), 0);
    assert_memory_equal(old.bit, now.bit, sizeof old.bit);
    assert_int_equal(dsn_serial_decode_v1(&old, "B7T", 9, err, sizeof err), 0);
    assert_int_equal(dsn_serial_decode_v1(&old, "028T-5CY4-TQKF-FB", 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "typo"));
    /* and each reader refuses the other's text */
    assert_int_equal(dsn_serial_decode_v1(&old, "028T-5CY4-TQKF-FHF", 64, err, sizeof err), -1);
    assert_int_equal(dsn_serial_decode(&now, "028T-5CY4-TQKF-FA", 64, err, sizeof err), -1);
}

/* Every serial of every length is written with [0-9A-Z-] only: nothing a shell globs or expands. */
static void test_shell_safe(void **state)
{
    (void)state;
    unsigned seed = 13;
    char text[DSN_SERIAL_TEXT_MAX];
    for(int nbits = DSN_MIN_BITS; nbits <= DSN_MAX_BITS; ++nbits) {
        for(int rep = 0; rep < 40; ++rep) {
            dsn_serial s;
            random_serial(&s, nbits, &seed);
            dsn_serial_encode(text, sizeof text, &s);
            for(const char *c = text; *c; ++c)
                if(*c != '-' && !strchr(symbols, *c)) fail_msg("%s: symbol %c", text, *c);
        }
    }
}

static void test_encode_limits_and_hamming(void **state)
{
    (void)state;
    char text[DSN_SERIAL_TEXT_MAX];
    dsn_serial a, b;
    unsigned seed = 9;
    random_serial(&a, 64, &seed);
    assert_int_equal(dsn_serial_encode(text, 18, &a), -1); /* needs 19 with the NUL */
    assert_int_equal(dsn_serial_encode(text, 19, &a), 18);
    b = a;
    b.bit[0] ^= 1;
    b.bit[63] ^= 1;
    assert_int_equal(dsn_serial_hamming(&a, &b), 2);
    b.nbits = 63;
    assert_int_equal(dsn_serial_hamming(&a, &b), -1);
    a.bit[5] = 2;
    assert_int_equal(dsn_serial_encode(text, sizeof text, &a), -1);
    a.bit[5] = 0;
    a.nbits = 1;
    assert_int_equal(dsn_serial_encode(text, sizeof text, &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_round_trip_every_length),
        cmocka_unit_test(test_lenient_spellings),
        cmocka_unit_test(test_every_substitution_caught),
        cmocka_unit_test(test_every_transposition_caught),
        cmocka_unit_test(test_errors_explain),
        cmocka_unit_test(test_v1_still_reads),
        cmocka_unit_test(test_shell_safe),
        cmocka_unit_test(test_encode_limits_and_hamming),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
