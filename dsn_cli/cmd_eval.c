/* cmd_eval.c: `dsn eval`: the paper's fidelity and reliability figures for one customer model.
 *
 * Every input is checked before the (minute-long) run: the certificate (and its signature when
 * --pub is given), that its geometry is the cfg's [serial_stamp], the other certificates, the
 * files Darknet would otherwise exit on, and that the outputs can be written. The measurement
 * itself is dsn_eval_run (dsn_eval.h); this file parses options and writes the results. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn_cert.h"
#include "dsn_eval.h"
#include "dsn_eval_subsets.h"
#include "dsn_util.h"

#define MAX_OTHERS 64

static int load_cert(dsn_cert *c, const char *path, const char *option)
{
    char err[512];
    if(dsn_cert_load(c, path, err, sizeof err) != 0) {
        dsn_error("eval: %s: %s", option, err);
        return -1;
    }
    return 0;
}

/* "mnist" from "cfg/mnist.data". */
static void dataset_name(char *out, size_t len, const char *data)
{
    const char *base = strrchr(data, '/');
    base = base ? base + 1 : data;
    const char *dot = strrchr(base, '.');
    snprintf(out, len, "%.*s", (int)(dot && dot != base ? dot - base : (long)strlen(base)), base);
}

/* The command line, as parsed. */
typedef struct eval_args {
    const char *cfg, *weights, *cert_path, *pub, *data, *list;
    const char *tcfg, *tweights, *others_arg, *json, *md, *dataset, *subsets;
    int forged, near2, near4, per, seed, fidelity, batch, threads;
} eval_args;

/* The certificates: the customer's, then the others, all of the same length. */
typedef struct eval_certs {
    dsn_cert cert, others[MAX_OTHERS];
    const char *other_names[MAX_OTHERS];
    dsn_serial other_serials[MAX_OTHERS];
    int n_others;
    char *names_buf;
} eval_certs;

/* DSN_ARGS_RUN to go on, else what dsn_args_parse said. */
static int parse_args(eval_args *a, int argc, char **argv)
{
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &a->cfg, "FILE", "customer cfg ([serial_stamp] first), as dsn export writes it"},
        {"--weights", NULL, DSN_ARG_STR, &a->weights, "FILE", "customer weights"},
        {"--cert", NULL, DSN_ARG_STR, &a->cert_path, "FILE", "the customer's certificate (.sn): the valid serial"},
        {"--pub", NULL, DSN_ARG_STR, &a->pub, "FILE", "owner's public key: verify the certificates first"},
        {"--data", NULL, DSN_ARG_STR, &a->data, "FILE", "Darknet .data file (labels=, valid=)"},
        {"--list", NULL, DSN_ARG_STR, &a->list, "FILE", "test image list (default: the .data's valid=)"},
        {"--teacher-cfg", NULL, DSN_ARG_STR, &a->tcfg, "FILE", "teacher cfg, for the teacher's accuracy"},
        {"--teacher-weights", NULL, DSN_ARG_STR, &a->tweights, "FILE", "teacher weights"},
        {"--others", NULL, DSN_ARG_STR, &a->others_arg, "A.sn,B.sn", "other customers' certificates (cross-customer)"},
        {"--forged", NULL, DSN_ARG_INT, &a->forged, "N", "random wrong serials (default 1000)"},
        {"--near2", NULL, DSN_ARG_INT, &a->near2, "N", "serials 2 bits from the valid one (default 200)"},
        {"--near4", NULL, DSN_ARG_INT, &a->near4, "N", "serials 4 bits from the valid one (default 200)"},
        {"--images-per-serial", NULL, DSN_ARG_INT, &a->per, "N", "class-stratified images per forged/near serial (500)"},
        {"--seed", NULL, DSN_ARG_INT, &a->seed, "N", "seed of the serials and subsets (default 0)"},
        {"--json", NULL, DSN_ARG_STR, &a->json, "FILE", "write the results as JSON"},
        {"--md", NULL, DSN_ARG_STR, &a->md, "FILE", "write the results as markdown"},
        {"--dataset", NULL, DSN_ARG_STR, &a->dataset, "NAME", "data set name in the outputs (default: .data's name)"},
        {"--batch", NULL, DSN_ARG_INT, &a->batch, "N", "rows per forward pass (default 128)"},
        {"--threads", NULL, DSN_ARG_INT, &a->threads, "N", "networks run side by side (default: CPUs)"},
        {"--subsets", NULL, DSN_ARG_STR, &a->subsets, "A,B,..", "also per subset: the word of each image's file name "
                                                                "(default: the .data's subsets=)"},
        {"--fidelity", NULL, DSN_ARG_FLAG, &a->fidelity, NULL, "teacher, valid serial and no serial only: no forged, "
                                                               "near, single-bit or other serials"},
    };
    const dsn_usage u = {
        "eval", "--cfg C.cfg --weights W --cert C.sn --data D.data [options]",
        "Measures the customer model's accuracy on the test images: with the valid serial (A_X+K),\n"
        "without a serial (A_X), with random forged serials (mean and max), with every serial 1 bit\n"
        "away (mean, max, per bit), with serials 2 and 4 bits away, with every swap of two\n"
        "neighbouring cells that differ, with other customers' serials, and the teacher's; each\n"
        "with a 95% confidence interval (Wilson for one accuracy, normal over serials for a mean).\n"
        "Prints a table and the time taken; --json and --md save them.\n"
        "JSON keys: teacher, valid, raw, forged_mean, forged_max, hamming_1, hamming_1_max,\n"
        "hamming_1_per_bit, hamming_2(_max), hamming_4(_max), swap(_max), cross {customer: acc},\n"
        "each with a _ci95 [lo, hi], in percent; raw_balanced (the mean over classes of raw input's\n"
        "per-class accuracy: 100 / classes for any answer that ignores the image), raw_answer_class and\n"
        "raw_answer_share (raw input's most frequent answer, its share in percent);\n"
        "n_images, seeds, wall_seconds; with subsets, subsets {name:\n"
        "{images, teacher, valid, valid_minus_teacher, raw, each _ci95}} (e.g. cfg/mnist-shift.data).\n"
        "Exit status: 0 measured, 1 a certificate does not verify against --pub, 2 bad input.",
    };
    return dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
}

/* Required options, their pairs and ranges (--fidelity zeroes the serial counts). 0 or -1. */
static int check_options(eval_args *a)
{
    const struct { const char *value, *what; } required[] = {
        {a->cfg, "--cfg FILE"}, {a->weights, "--weights FILE"}, {a->cert_path, "--cert FILE"}, {a->data, "--data FILE"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("eval: missing %s (see dsn eval --help)", required[i].what);
            return -1;
        }
    }
    if(!a->tcfg != !a->tweights) {
        dsn_error("eval: --teacher-cfg and --teacher-weights go together");
        return -1;
    }
    const struct { int value, min; const char *option; } ranges[] = {
        {a->forged, 0, "--forged"}, {a->near2, 0, "--near2"}, {a->near4, 0, "--near4"}, {a->per, 1, "--images-per-serial"},
        {a->seed, 0, "--seed"}, {a->batch, 1, "--batch"}, {a->threads, 1, "--threads"},
    };
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {
        if(ranges[i].value < ranges[i].min) {
            dsn_error("eval: %s %d: must be at least %d", ranges[i].option, ranges[i].value, ranges[i].min);
            return -1;
        }
    }
    if(a->fidelity && (a->others_arg || a->forged != 1000 || a->near2 != 200 || a->near4 != 200)) {
        dsn_error("eval: --fidelity measures no forged, near or other serials: drop --forged, --near2, --near4 "
                  "and --others");
        return -1;
    }
    if(a->fidelity) a->forged = a->near2 = a->near4 = 0;
    if(a->batch > 4096 || a->threads > 64) {
        dsn_error("eval: --batch at most 4096, --threads at most 64");
        return -1;
    }
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {   /* counts, not the seed: any int seed is one */
        if(ranges[i].value > 10000000 && strcmp(ranges[i].option, "--seed") != 0) {
            dsn_error("eval: %s %d: at most 10000000", ranges[i].option, ranges[i].value);
            return -1;
        }
    }
    return 0;
}

/* --json and --md: writable, not an input, not the same file. 0 or -1. */
static int check_outputs(const eval_args *a)
{
    const char *const inputs[] = {a->cfg, a->weights, a->cert_path, a->data, a->list, a->pub, a->tcfg, a->tweights,
                                  a->others_arg};
    if((a->json && dsn_check_output("eval", a->json, "--json", inputs, DSN_COUNT(inputs)) != 0) ||
       (a->md && dsn_check_output("eval", a->md, "--md", inputs, DSN_COUNT(inputs)) != 0))
        return -1;
    if(a->json && a->md && strcmp(a->json, a->md) == 0) {
        dsn_error("eval: --json and --md name the same file %s", a->json);
        return -1;
    }
    return 0;
}

/* --cert and --others. 0 or -1. */
static int load_certs(eval_certs *k, const eval_args *a)
{
    if(load_cert(&k->cert, a->cert_path, "--cert") != 0) return -1;
    if(!a->others_arg) return 0;
    if(!(k->names_buf = strdup(a->others_arg))) dsn_die("out of memory");
    for(char *save = NULL, *p = strtok_r(k->names_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        dsn_cert *o = &k->others[k->n_others];
        if(k->n_others == MAX_OTHERS) {
            dsn_error("eval: --others: at most %d certificates", MAX_OTHERS);
            return -1;
        }
        if(load_cert(o, p, "--others") != 0) return -1;
        if(o->bits != k->cert.bits) {
            dsn_error("eval: --others %s holds a %d-bit serial, --cert %s a %d-bit one", p, o->bits, a->cert_path,
                      k->cert.bits);
            return -1;
        }
        if(dsn_serial_hamming(&o->serial, &k->cert.serial) == 0) {
            dsn_error("eval: warning: --others %s has the same serial as --cert %s: skipped", p, a->cert_path);
            continue;
        }
        k->other_names[k->n_others] = o->customer;
        k->other_serials[k->n_others] = o->serial;
        ++k->n_others;
    }
    return 0;
}

/* Every certificate against --pub: DSN_EXIT_OK, DSN_EXIT_NO (one does not verify) or DSN_EXIT_ERROR. */
static int verify_certs(const eval_certs *k, const eval_args *a)
{
    dsn_key *key = NULL;
    char err[512];
    if(dsn_key_load_public(&key, a->pub, err, sizeof err) != 0) {
        dsn_error("eval: --pub: %s", err);
        return DSN_EXIT_ERROR;
    }
    int bad = 0;
    if(dsn_cert_verify(&k->cert, key, err, sizeof err) != 0) {
        dsn_error("eval: --cert %s does not verify against %s: %s", a->cert_path, a->pub, err);
        bad = 1;
    }
    for(int i = 0; i < k->n_others && !bad; ++i) {
        if(dsn_cert_verify(&k->others[i], key, err, sizeof err) != 0) {
            dsn_error("eval: --others certificate of %s does not verify against %s: %s", k->others[i].customer, a->pub, err);
            bad = 1;
        }
    }
    dsn_key_free(key);
    return bad ? DSN_EXIT_NO : DSN_EXIT_OK;
}

/* The cfg must stamp where the certificate says; *w, *h, *c: the cfg's input. 0 or -1. */
static int check_geometry(const eval_args *a, const dsn_cert *cert, int *w, int *h, int *c)
{
    if(dsn_eval_cfg_for_cert("eval", a->cfg, a->cert_path, cert, w, h, c) != 0) return -1;
    return dsn_eval_serial_env("eval", &cert->serial);
}

static void fill_opts(dsn_eval_opts *o, const eval_args *a, const eval_certs *k)
{
    o->cfg = a->cfg;
    o->weights = a->weights;
    o->teacher_cfg = a->tcfg;
    o->teacher_weights = a->tweights;
    o->valid = k->cert.serial;
    o->n_others = k->n_others;
    o->others = k->other_serials;
    o->other_names = k->other_names;
    o->forged = a->forged;
    o->near2 = a->near2;
    o->near4 = a->near4;
    o->per_serial = a->per;
    o->seed = (uint64_t)a->seed;
    o->batch = a->batch;
    o->threads = a->threads;
    o->progress = !dsn_quiet();
    o->no_hamming1 = a->fidelity;
    o->no_swaps = a->fidelity;
}

/* Prints the tables and writes --json and --md. DSN_EXIT_OK or DSN_EXIT_ERROR. */
static int report(const eval_args *a, const eval_certs *k, const dsn_eval_opts *o, dsn_eval_result *res,
                  dsn_eval_subsets *sub, const char *subsets)
{
    char ds[256];
    dataset_name(ds, sizeof ds, a->data);
    dsn_eval_meta meta = {k->cert.customer, k->cert.model, a->cert_path, a->data, a->list, a->dataset ? a->dataset : ds};
    dsn_buf mdb = {0}, jb = {0};
    dsn_eval_markdown(&mdb, res, o, &meta);
    dsn_eval_json(&jb, res, o, &meta);
    if(mdb.oom || jb.oom) dsn_die("out of memory");
    const char *jtext = jb.s;
    char *sub_json = NULL;
    if(subsets) {   /* the per-subset table after the others, and "subsets" as the JSON's last key */
        dsn_eval_subsets_tally(sub, res);
        char *smd = dsn_eval_subsets_markdown(sub);
        json_t *sj = dsn_eval_subsets_json(sub);
        if(!smd || !sj || !(sub_json = dsn_eval_subsets_splice(jb.s, sj))) dsn_die("out of memory");
        dsn_buf_printf(&mdb, "%s", smd);
        if(mdb.oom) dsn_die("out of memory");
        free(smd);
        json_decref(sj);
        jtext = sub_json;
    }
    fputs(mdb.s, stdout);
    printf("\n%ld rows in %.1f s (%.0f rows/s)\n", res->rows, res->seconds, res->seconds > 0 ? res->rows / res->seconds : 0.0);
    int rc = DSN_EXIT_OK;
    if(a->json && dsn_write_file(a->json, jtext, strlen(jtext), 0644, DSN_WRITE_REPLACE) != 0) rc = DSN_EXIT_ERROR;
    if(a->md && dsn_write_file(a->md, mdb.s, mdb.n, 0644, DSN_WRITE_REPLACE) != 0) rc = DSN_EXIT_ERROR;
    dsn_buf_free(&mdb);
    dsn_buf_free(&jb);
    free(sub_json);
    return rc;
}

/* Loads the images, runs the measurement and reports it. DSN_EXIT_OK or DSN_EXIT_ERROR. */
static int measure(const eval_args *a, const eval_certs *k, dsn_eval_opts *o, int w, int h, int c)
{
    char err[1024] = "";
    dsn_eval_data d;
    dsn_eval_subsets sub = {0};
    if(dsn_eval_data_load(&d, a->data, a->list, w, h, c, err, sizeof err) != 0) {
        dsn_error("eval: %s", err);
        return DSN_EXIT_ERROR;
    }
    const char *subsets = a->subsets ? a->subsets : d.subsets;
    if(subsets && dsn_eval_subsets_group(&sub, subsets, d.paths, d.n, err, sizeof err) != 0) {
        dsn_error("eval: %s%s", err, subsets == d.subsets ? " (the subsets= line of --data)" : "");
        dsn_eval_data_free(&d);
        return DSN_EXIT_ERROR;
    }
    fill_opts(o, a, k);
    fprintf(stderr, "dsn: eval: %d images (%d classes) from %s; %d forged, %d + %d near serials and %d neighbour "
                    "swaps on %d images each, %d single-bit flips and %d other customers on all; %d thread%s, batch %d\n",
            d.n, d.classes, a->list ? a->list : a->data, a->forged, a->near2, a->near4,
            a->fidelity ? 0 : dsn_eval_swaps(NULL, &k->cert.serial, k->cert.columns, k->cert.wrap), a->per < d.n ? a->per : d.n,
            a->fidelity ? 0 : k->cert.bits, k->n_others, a->threads, a->threads == 1 ? "" : "s", a->batch);
    dsn_eval_result res;
    int rc = DSN_EXIT_ERROR;
    if(dsn_eval_run(&res, o, &d, err, sizeof err) == 0) rc = report(a, k, o, &res, &sub, subsets);
    else dsn_error("eval: %s", err);
    dsn_eval_result_free(&res);
    dsn_eval_subsets_free(&sub);
    dsn_eval_data_free(&d);
    return rc;
}

int dsn_cmd_eval(int argc, char **argv)
{
    dsn_eval_opts o;
    dsn_eval_opts_init(&o);
    eval_args a = {.forged = 1000, .near2 = 200, .near4 = 200, .per = 500, .batch = o.batch, .threads = o.threads};
    int r = parse_args(&a, argc, argv);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(check_options(&a) != 0 || check_outputs(&a) != 0) return DSN_EXIT_ERROR;
    static eval_certs k;
    int rc = DSN_EXIT_ERROR, w, h, c;
    if(load_certs(&k, &a) == 0 && (!a.pub || (rc = verify_certs(&k, &a)) == DSN_EXIT_OK)) {
        rc = DSN_EXIT_ERROR;
        if(check_geometry(&a, &k.cert, &w, &h, &c) == 0) rc = measure(&a, &k, &o, w, h, c);
    }
    free(k.names_buf);
    return rc;
}
