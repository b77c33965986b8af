/* fuzz_cert.c: libFuzzer target for the certificate parser (dsn_cert_parse), the code that reads
 * untrusted .sn files. Besides not crashing, it checks two properties on every input:
 *   - a rejected input always comes with a message;
 *   - an accepted one formats back to canonical text that parses to the same certificate, and
 *     checking it against a key never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dsn_key *fixed_key(void)
{
    static dsn_key *k;
    static const uint8_t seed[DSN_SEED_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};
    if(!k && dsn_key_from_seed(&k, seed) != 0) abort();
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dsn_cert c, d;
    char err[512], text[DSN_CERT_TEXT_MAX];
    if(dsn_cert_parse(&c, (const char *)data, size, "fuzz.sn", err, sizeof err) != 0) {
        if(!err[0]) abort();
        return 0;
    }
    int n = dsn_cert_format(text, sizeof text, &c);
    if(n < 0) abort();
    if(dsn_cert_parse(&d, text, (size_t)n, "canonical.sn", err, sizeof err) != 0) abort();
    if(memcmp(&c, &d, sizeof c) != 0) abort();
    if(dsn_cert_verify(&c, fixed_key(), err, sizeof err) == 0) abort(); /* not signed by this key */
    return 0;
}
