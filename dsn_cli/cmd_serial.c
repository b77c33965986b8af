/* cmd_serial.c: `dsn serial --cert customer.sn` prints just the serial (for scripts and
 * Makefiles); `dsn serial --check TEXT [--bits N]` checks a typed serial and prints its canonical
 * spelling. --check exits 1 for a serial with a typo, the verb's "checked and negative". */
#include <stdio.h>

#include "dsn_cert.h"
#include "dsn_util.h"

int dsn_cmd_serial(int argc, char **argv)
{
    const char *cert = NULL, *check = NULL;
    int bits = 64;
    const dsn_option opts[] = {
        {"--cert", NULL, DSN_ARG_STR, &cert, "FILE", "print the serial of this certificate"},
        {"--check", NULL, DSN_ARG_STR, &check, "TEXT", "check a typed serial (typos, length)"},
        {"--bits", NULL, DSN_ARG_INT, &bits, "N", "length of the --check serial in bits (default 64)"},
    };
    const dsn_usage u = {
        "serial", "--cert customer.sn | --check XXXX-XXXX-XXXX-XXX [--bits N]",
        "Prints a certificate's serial, or checks a typed one: lower case, missing hyphens and the\n"
        "look-alikes I, L (for 1) and O (for 0) are fine; a typo is caught by the check symbol.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(!cert == !check) {
        dsn_error("serial: give exactly one of --cert FILE and --check TEXT");
        return DSN_EXIT_ERROR;
    }
    char err[512], text[DSN_SERIAL_TEXT_MAX];
    dsn_serial s;
    if(cert) {
        dsn_cert c;
        if(dsn_cert_load(&c, cert, err, sizeof err) != 0) {
            dsn_error("%s", err);
            return DSN_EXIT_ERROR;
        }
        s = c.serial;
    } else {
        if(bits < DSN_MIN_BITS || bits > DSN_MAX_BITS) {
            dsn_error("serial: --bits %d is out of range (%d..%d)", bits, DSN_MIN_BITS, DSN_MAX_BITS);
            return DSN_EXIT_ERROR;
        }
        if(dsn_serial_decode(&s, check, bits, err, sizeof err) != 0) {
            dsn_error("serial: --check '%s': %s", check, err);
            return DSN_EXIT_NO;
        }
    }
    dsn_serial_encode(text, sizeof text, &s);
    printf("%s\n", text);
    return DSN_EXIT_OK;
}
