/* main.c: `dsn <verb> [options]`, the owner's and the customer's command line for DSN.
 *
 * Each verb is one file, dsn_cli/cmd_<verb>.c, defining `int dsn_cmd_<verb>(int argc, char **argv)`
 * (argv[0] is the verb's name; it returns a DSN_EXIT_* code). Adding a verb is that file plus one
 * row in DSN_VERBS below. Exit codes, for every verb: 0 done (or valid), 1 checked and negative,
 * 2 usage, input or I/O error. OpenSSL's error queue is printed here, once, when a verb fails. */
#include <stdio.h>
#include <string.h>

#include "darknet.h"
#include "dsn_crypto.h"
#include "dsn_util.h"

/*   name           function     one-line help */
#define DSN_VERBS(X)                                                                              \
    X("keygen",      keygen,      "make the owner's Ed25519 key pair (PEM)")                      \
    X("issue",       issue,       "issue a signed serial-number certificate to a customer")       \
    X("show",        show,        "print a certificate's fields")                                 \
    X("verify-cert", verify_cert, "check a certificate's signature and serial against a key")     \
    X("serial",      serial,      "print a certificate's serial, or check a typed one")           \
    X("stamp",       stamp,       "stamp a serial on image files, as the [serial_stamp] layer does") \
    X("import",      import,      "import MNIST, Fashion-MNIST, GTSRB or a folder tree into Darknet's classifier layout") \
    X("export",      export,      "cut the customer's model (cfg + weights) from a trained student") \
    X("eval",        eval,        "measure a customer model: valid, raw, forged, near and cross-customer serials") \
    X("select",      select,      "of several training runs of a customer's model, the one whose lock holds best") \
    X("report",      report,      "aggregate eval results into report/ (JSON, markdown, plots)") \
    X("demo",        demo,        "a customer model on a camera or video: valid, no and forged serial side by side") \
    X("fleet",       fleet,       "a student per customer: plan, run locally or on Slurm, report") \
    X("verify",      verify,      "prove a suspect model is keyed to an issued serial (p-value)") \
    X("trace",       trace,       "name the customer whose issued serial unlocks a suspect model") \
    X("attack",      attack,      "attack a customer model as a thief would (fine-tune, prune, reverse, ...)")

#define X(name, fn, help) int dsn_cmd_##fn(int argc, char **argv);
DSN_VERBS(X)
#undef X

typedef struct dsn_verb {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} dsn_verb;

static const dsn_verb verbs[] = {
#define X(name, fn, help) {name, dsn_cmd_##fn, help},
    DSN_VERBS(X)
#undef X
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dsn <verb> [options]      (dsn <verb> --help for each verb)\n\n"
               "Deep Serial Number for Darknet: keys, serial numbers and stamps.\n\nverbs:\n");
    for(int i = 0; i < DSN_COUNT(verbs); ++i) fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\nexit status: 0 done or valid, 1 checked and not valid, 2 usage, input or I/O error\n");
}

int main(int argc, char **argv)
{
    if(argc < 2) {
        usage(stderr);
        return DSN_EXIT_ERROR;
    }
    if(strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return DSN_EXIT_OK;
    }
    for(int i = 0; i < DSN_COUNT(verbs); ++i) {
        if(strcmp(argv[1], verbs[i].name) != 0) continue;
        dsn_util_init();
        darknet_exit_code = DSN_EXIT_ERROR;   /* Darknet's fatal errors (a bad cfg, weights) are input errors */
        int rc = verbs[i].run(argc - 1, argv + 1);
        dsn_quiet_end();   /* -q (any verb: dsn_args_parse) captured stderr until here */
        if(rc != DSN_EXIT_OK) dsn_crypto_print_errors(stderr);
        else dsn_crypto_clear_errors();
        if(fflush(stdout) != 0) {
            dsn_error("cannot write to standard output");
            return DSN_EXIT_ERROR;
        }
        return rc;
    }
    dsn_error("unknown verb '%s' (dsn --help lists them)", argv[1]);
    return DSN_EXIT_ERROR;
}
