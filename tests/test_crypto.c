/* Owner keys and signatures (dsn_cli/dsn_crypto.c): RFC 8032 section 7.1 vectors 1-3, SHA-256
 * against FIPS 180-2's "abc", PEM round trips, and every way a key file can be wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dsn_crypto.h"
#include "dsn_test.h"

static const struct {
    const char *seed, *pub, *msg, *sig;
} rfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
     "6bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d"
     "8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6"
     "594a7c15e9716ed28dc027beceea1ec40a"},
};

static void hex(uint8_t *out, size_t len, const char *h)
{
    assert_int_equal(strlen(h), 2 * len);
    assert_int_equal(dsn_hex_decode(out, len, h), 0);
}

static void test_rfc8032_sign(void **state)
{
    (void)state;
    for(size_t v = 0; v < sizeof rfc8032 / sizeof rfc8032[0]; ++v) {
        uint8_t seed[32], pub[32], want[64], msg[2], sig[64], got_pub[32];
        size_t mlen = strlen(rfc8032[v].msg) / 2;
        hex(seed, 32, rfc8032[v].seed);
        hex(pub, 32, rfc8032[v].pub);
        hex(want, 64, rfc8032[v].sig);
        if(mlen) hex(msg, mlen, rfc8032[v].msg);
        dsn_key *k = NULL;
        assert_int_equal(dsn_key_from_seed(&k, seed), 0);
        assert_true(dsn_key_is_private(k));
        assert_int_equal(dsn_key_public_raw(got_pub, k), 0);
        assert_memory_equal(got_pub, pub, 32);
        assert_int_equal(dsn_sign(sig, msg, mlen, k), 0);
        assert_memory_equal(sig, want, 64);
        assert_int_equal(dsn_verify(sig, msg, mlen, k), 0);
        dsn_key_free(k);
    }
}

static void test_rfc8032_verify(void **state)
{
    (void)state;
    for(size_t v = 0; v < sizeof rfc8032 / sizeof rfc8032[0]; ++v) {
        uint8_t pub[32], sig[64], msg[3] = {0};
        size_t mlen = strlen(rfc8032[v].msg) / 2;
        hex(pub, 32, rfc8032[v].pub);
        hex(sig, 64, rfc8032[v].sig);
        if(mlen) hex(msg, mlen, rfc8032[v].msg);
        dsn_key *k = NULL;
        assert_int_equal(dsn_key_from_public(&k, pub), 0);
        assert_false(dsn_key_is_private(k));
        assert_int_equal(dsn_verify(sig, msg, mlen, k), 0);
        /* a public key cannot sign */
        uint8_t other[64];
        assert_int_equal(dsn_sign(other, msg, mlen, k), -1);
        dsn_crypto_clear_errors();
        /* every flipped signature bit, and a changed or longer message, fail */
        for(int bit = 0; bit < 512; ++bit) {
            sig[bit / 8] ^= (uint8_t)(1 << bit % 8);
            assert_int_equal(dsn_verify(sig, msg, mlen, k), -1);
            sig[bit / 8] ^= (uint8_t)(1 << bit % 8);
        }
        if(mlen) {
            msg[0] ^= 1;
            assert_int_equal(dsn_verify(sig, msg, mlen, k), -1);
            msg[0] ^= 1;
        }
        assert_int_equal(dsn_verify(sig, msg, mlen + 1, k), -1);
        dsn_key_free(k);
    }
}

static void test_sha256_and_fingerprint(void **state)
{
    (void)state;
    uint8_t h[32], want[32], seed[32];
    hex(want, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(dsn_sha256(h, (const uint8_t *)"abc", 3), 0);
    assert_memory_equal(h, want, 32);
    /* fingerprint = SHA-256 of the raw public key, as lower-case hex */
    hex(seed, 32, rfc8032[0].seed);
    dsn_key *k = NULL;
    assert_int_equal(dsn_key_from_seed(&k, seed), 0);
    uint8_t pub[32];
    char fp[DSN_FINGERPRINT_HEX], want_fp[DSN_FINGERPRINT_HEX];
    hex(pub, 32, rfc8032[0].pub);
    assert_int_equal(dsn_sha256(h, pub, 32), 0);
    dsn_hex_encode(want_fp, h, 32);
    assert_int_equal(dsn_key_fingerprint(fp, k), 0);
    assert_string_equal(fp, want_fp);
    dsn_key_free(k);
    /* hex decoding is strict */
    uint8_t b[2];
    assert_int_equal(dsn_hex_decode(b, 2, "0aff"), 0);
    assert_int_equal(dsn_hex_decode(b, 2, "0AFF"), -1);
    assert_int_equal(dsn_hex_decode(b, 2, "0af"), -1);
    assert_int_equal(dsn_hex_decode(b, 2, "0aff0"), -1);
    assert_int_equal(dsn_hex_decode(b, 2, "0ag0"), -1);
}

static char *write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = dsn_test_write(dir, name, "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_pem_round_trip(void **state)
{
    (void)state;
    char dir[256], err[512];
    dsn_test_tmpdir(dir, sizeof dir);
    dsn_key *k = NULL, *priv = NULL, *pub = NULL;
    assert_int_equal(dsn_key_generate(&k), 0);
    char *ppem, *upem;
    size_t plen, ulen;
    assert_int_equal(dsn_key_private_pem(&ppem, &plen, k), 0);
    assert_int_equal(dsn_key_public_pem(&upem, &ulen, k), 0);
    assert_non_null(strstr(ppem, "-----BEGIN PRIVATE KEY-----\n"));
    assert_non_null(strstr(upem, "-----BEGIN PUBLIC KEY-----\n"));
    char *pp = write_bytes(dir, "k.pem", ppem, plen);
    char *up = write_bytes(dir, "k.pub.pem", upem, ulen);
    assert_int_equal(dsn_key_load_private(&priv, pp, err, sizeof err), 0);
    assert_int_equal(dsn_key_load_public(&pub, up, err, sizeof err), 0);
    uint8_t a[32], b[32], c[32], sig[64];
    assert_int_equal(dsn_key_public_raw(a, k), 0);
    assert_int_equal(dsn_key_public_raw(b, priv), 0);
    assert_int_equal(dsn_key_public_raw(c, pub), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_equal(a, c, 32);
    assert_int_equal(dsn_sign(sig, (const uint8_t *)"m", 1, priv), 0);
    assert_int_equal(dsn_verify(sig, (const uint8_t *)"m", 1, pub), 0);
    /* a private key file also serves as the public key */
    dsn_key_free(pub);
    assert_int_equal(dsn_key_load_public(&pub, pp, err, sizeof err), 0);
    assert_false(dsn_key_is_private(pub));
    assert_int_equal(dsn_verify(sig, (const uint8_t *)"m", 1, pub), 0);
    /* a public key cannot be exported as a private one */
    char *none;
    size_t nlen;
    assert_int_equal(dsn_key_private_pem(&none, &nlen, pub), -1);
    dsn_key_pem_free(ppem, plen);
    free(upem);
    free(pp);
    free(up);
    dsn_key_free(k);
    dsn_key_free(priv);
    dsn_key_free(pub);
    dsn_test_rmtree(dir);
}

/* Loading `text` as a private key fails with a message naming the file and containing `why`. */
static void expect_bad_private(const char *dir, const char *name, const void *text, size_t len,
                               const char *why)
{
    char err[512];
    char *path = write_bytes(dir, name, text, len);
    dsn_key *k = (dsn_key *)1;
    assert_int_equal(dsn_key_load_private(&k, path, err, sizeof err), -1);
    assert_null(k);
    if(!strstr(err, path) || !strstr(err, why)) fail_msg("%s: message '%s' lacks '%s'", name, err, why);
    dsn_crypto_clear_errors();
    free(path);
}

static char *pem_of(EVP_PKEY *pkey, int private_part, const EVP_CIPHER *cipher)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    if(private_part) assert_int_equal(PEM_write_bio_PrivateKey(b, pkey, cipher, (unsigned char *)"pw", 2,
                                                               NULL, NULL), 1);
    else assert_int_equal(PEM_write_bio_PUBKEY(b, pkey), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static void test_bad_key_files(void **state)
{
    (void)state;
    char dir[256], err[512];
    dsn_test_tmpdir(dir, sizeof dir);

    dsn_key *k = NULL;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    assert_int_equal(dsn_key_load_private(&k, missing, err, sizeof err), -1);
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(dsn_key_load_public(&k, missing, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(dsn_key_load_private(&k, dir, err, sizeof err), -1); /* a directory */

    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(rsa);
    assert_non_null(ec);
    assert_non_null(ed);
    char *rsa_pem = pem_of(rsa, 1, NULL), *ec_pem = pem_of(ec, 1, NULL);
    char *ed_pem = pem_of(ed, 1, NULL), *ed_pub = pem_of(ed, 0, NULL);
    char *ed_enc = pem_of(ed, 1, EVP_aes_128_cbc()), *rsa_pub = pem_of(rsa, 0, NULL);

    expect_bad_private(dir, "rsa.pem", rsa_pem, strlen(rsa_pem), "RSA key");
    expect_bad_private(dir, "ec.pem", ec_pem, strlen(ec_pem), "EC key");
    expect_bad_private(dir, "short.pem", ed_pem, strlen(ed_pem) / 2, "truncated");
    expect_bad_private(dir, "short2.pem", ed_pem, strlen(ed_pem) - 10, "truncated");
    expect_bad_private(dir, "pub.pem", ed_pub, strlen(ed_pub), "public key");
    expect_bad_private(dir, "enc.pem", ed_enc, strlen(ed_enc), "encrypted");
    expect_bad_private(dir, "empty.pem", "", 0, "not a PEM file");
    expect_bad_private(dir, "text.pem", "hello\n", 6, "not a PEM file");
    expect_bad_private(dir, "bin.pem", "\x00\xff\x01", 3, "not a PEM file");
    /* the body corrupted, the armour intact */
    char *bad = strdup(ed_pem);
    char *body = strchr(bad, '\n') + 5;
    memset(body, 'A', 10);
    expect_bad_private(dir, "corrupt.pem", bad, strlen(bad), "cannot decode");
    free(bad);

    /* public-key loads */
    char *rp = write_bytes(dir, "rsa.pub.pem", rsa_pub, strlen(rsa_pub));
    assert_int_equal(dsn_key_load_public(&k, rp, err, sizeof err), -1);
    assert_non_null(strstr(err, "RSA key"));
    char *tp = write_bytes(dir, "t.pub.pem", ed_pub, strlen(ed_pub) - 12);
    assert_int_equal(dsn_key_load_public(&k, tp, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    dsn_crypto_clear_errors();

    free(rp);
    free(tp);
    free(rsa_pem);
    free(ec_pem);
    free(ed_pem);
    free(ed_pub);
    free(ed_enc);
    free(rsa_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    dsn_test_rmtree(dir);
}

static void test_signatures_are_deterministic(void **state)
{
    (void)state;
    dsn_key *k = NULL;
    uint8_t a[64], b[64];
    assert_int_equal(dsn_key_generate(&k), 0);
    assert_int_equal(dsn_sign(a, (const uint8_t *)"body", 4, k), 0);
    assert_int_equal(dsn_sign(b, (const uint8_t *)"body", 4, k), 0);
    assert_memory_equal(a, b, 64);
    dsn_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_sign),
        cmocka_unit_test(test_rfc8032_verify),
        cmocka_unit_test(test_sha256_and_fingerprint),
        cmocka_unit_test(test_pem_round_trip),
        cmocka_unit_test(test_bad_key_files),
        cmocka_unit_test(test_signatures_are_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
