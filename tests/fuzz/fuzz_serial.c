/* fuzz_serial.c: libFuzzer target for the serial decoder (dsn_serial_decode), which reads what
 * people type and what -serial / DSN_SERIAL hand to the [serial_stamp] layer. The first byte picks
 * the length (1..256 bits, some out of range), the rest is the text. An accepted serial must encode
 * and decode back to the same bits; a rejected one must say why, even into a tiny buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[512], err[160], small[6], enc[DSN_SERIAL_TEXT_MAX];
    dsn_serial s, t;
    if(size < 1) return 0;
    int nbits = data[0] + 1;
    size_t n = size - 1 < sizeof text - 1 ? size - 1 : sizeof text - 1;
    memcpy(text, data + 1, n);
    text[n] = '\0';

    int ok = dsn_serial_decode(&s, text, nbits, err, sizeof err) == 0;
    if((dsn_serial_decode(&t, text, nbits, small, sizeof small) == 0) != ok) abort();
    if(!ok) {
        if(!err[0]) abort();
        if(strlen(err) >= sizeof small && strlen(small) != sizeof small - 1) abort();
        return 0;
    }
    if(s.nbits != nbits) abort();
    int len = dsn_serial_encode(enc, sizeof enc, &s);
    if(len < 0 || (size_t)len != strlen(enc)) abort();
    if(dsn_serial_decode(&t, enc, nbits, err, sizeof err) != 0) abort();
    if(t.nbits != s.nbits || memcmp(t.bit, s.bit, sizeof s.bit) != 0) abort();
    uint8_t bytes[DSN_MAX_BITS / 8];
    dsn_serial_to_bytes(bytes, &s);
    if(dsn_serial_from_bytes(&t, bytes, sizeof bytes, nbits) != 0) abort();
    if(memcmp(t.bit, s.bit, sizeof s.bit) != 0 || dsn_serial_hamming(&s, &t) != 0) abort();
    return 0;
}
