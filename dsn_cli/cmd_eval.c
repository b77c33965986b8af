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

/* The directory part of path must exist and be writable, and path must not be a directory nor
 * one of the inputs: found now, not after the run. */
static int check_output(const char *path, const char *option, const char *const *inputs, int ninputs)
{
    char dir[PATH_MAX];
    struct stat st, in;
    if(!*path) {
        dsn_error("eval: %s: empty file name", option);
        return -1;
    }
    if(stat(path, &st) == 0) {
        if(!S_ISREG(st.st_mode)) {
            dsn_error("eval: %s %s: exists and is not a regular file (a directory?)", option, path);
            return -1;
        }
        for(int i = 0; i < ninputs; ++i) {
            if(inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino) {
                dsn_error("eval: %s %s is the input %s: it would be overwritten", option, path, inputs[i]);
                return -1;
            }
        }
    }
    const char *slash = strrchr(path, '/');
    if(!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path ? slash - path : 1), path);
    if(access(dir, W_OK) != 0) {
        dsn_error("eval: %s %s: cannot write in %s: %s", option, path, dir, strerror(errno));
        return -1;
    }
    return 0;
}

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

int dsn_cmd_eval(int argc, char **argv)
{
    const char *cfg = NULL, *weights = NULL, *cert_path = NULL, *pub = NULL, *data = NULL, *list = NULL;
    const char *tcfg = NULL, *tweights = NULL, *others_arg = NULL, *json = NULL, *md = NULL;
    const char *dataset = NULL, *subsets = NULL;
    int forged = 1000, near2 = 200, near4 = 200, per = 500, seed = 0, fidelity = 0;
    dsn_eval_opts o;
    dsn_eval_opts_init(&o);
    int batch = o.batch, threads = o.threads;
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &cfg, "FILE", "customer cfg ([serial_stamp] first), as dsn export writes it"},
        {"--weights", NULL, DSN_ARG_STR, &weights, "FILE", "customer weights"},
        {"--cert", NULL, DSN_ARG_STR, &cert_path, "FILE", "the customer's certificate (.sn): the valid serial"},
        {"--pub", NULL, DSN_ARG_STR, &pub, "FILE", "owner's public key: verify the certificates first"},
        {"--data", NULL, DSN_ARG_STR, &data, "FILE", "Darknet .data file (labels=, valid=)"},
        {"--list", NULL, DSN_ARG_STR, &list, "FILE", "test image list (default: the .data's valid=)"},
        {"--teacher-cfg", NULL, DSN_ARG_STR, &tcfg, "FILE", "teacher cfg, for the teacher's accuracy"},
        {"--teacher-weights", NULL, DSN_ARG_STR, &tweights, "FILE", "teacher weights"},
        {"--others", NULL, DSN_ARG_STR, &others_arg, "A.sn,B.sn", "other customers' certificates (cross-customer)"},
        {"--forged", NULL, DSN_ARG_INT, &forged, "N", "random wrong serials (default 1000)"},
        {"--near2", NULL, DSN_ARG_INT, &near2, "N", "serials 2 bits from the valid one (default 200)"},
        {"--near4", NULL, DSN_ARG_INT, &near4, "N", "serials 4 bits from the valid one (default 200)"},
        {"--images-per-serial", NULL, DSN_ARG_INT, &per, "N", "class-stratified images per forged/near serial (500)"},
        {"--seed", NULL, DSN_ARG_INT, &seed, "N", "seed of the serials and subsets (default 0)"},
        {"--json", NULL, DSN_ARG_STR, &json, "FILE", "write the results as JSON"},
        {"--md", NULL, DSN_ARG_STR, &md, "FILE", "write the results as markdown"},
        {"--dataset", NULL, DSN_ARG_STR, &dataset, "NAME", "data set name in the outputs (default: .data's name)"},
        {"--batch", NULL, DSN_ARG_INT, &batch, "N", "rows per forward pass (default 128)"},
        {"--threads", NULL, DSN_ARG_INT, &threads, "N", "networks run side by side (default: CPUs)"},
        {"--subsets", NULL, DSN_ARG_STR, &subsets, "A,B,..", "also per subset: the word of each image's file name "
                                                             "(default: the .data's subsets=)"},
        {"--fidelity", NULL, DSN_ARG_FLAG, &fidelity, NULL, "teacher, valid serial and no serial only: no forged, "
                                                            "near, single-bit or other serials"},
    };
    const dsn_usage u = {
        "eval", "--cfg C.cfg --weights W --cert C.sn --data D.data [options]",
        "Measures the customer model's accuracy on the test images: with the valid serial (A_X+K),\n"
        "without a serial (A_X), with random forged serials (mean and max), with every serial 1 bit\n"
        "away (mean, max, per bit), with serials 2 and 4 bits away, with other customers' serials,\n"
        "and the teacher's; each with a 95% confidence interval (Wilson for one accuracy, normal\n"
        "over serials for a mean). Prints a table and the time taken; --json and --md save them.\n"
        "JSON keys: teacher, valid, raw, forged_mean, forged_max, hamming_1, hamming_1_max,\n"
        "hamming_1_per_bit, hamming_2(_max), hamming_4(_max), cross {customer: acc}, each with a\n"
        "_ci95 [lo, hi], in percent; n_images, seeds, wall_seconds; with subsets, subsets {name:\n"
        "{images, teacher, valid, valid_minus_teacher, raw, each _ci95}} (e.g. cfg/mnist-shift.data).\n"
        "Exit status: 0 measured, 1 a certificate does not verify against --pub, 2 bad input.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;

    const struct { const char *value, *what; } required[] = {
        {cfg, "--cfg FILE"}, {weights, "--weights FILE"}, {cert_path, "--cert FILE"}, {data, "--data FILE"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("eval: missing %s (see dsn eval --help)", required[i].what);
            return DSN_EXIT_ERROR;
        }
    }
    if(!tcfg != !tweights) {
        dsn_error("eval: --teacher-cfg and --teacher-weights go together");
        return DSN_EXIT_ERROR;
    }
    const struct { int value, min; const char *option; } ranges[] = {
        {forged, 0, "--forged"}, {near2, 0, "--near2"}, {near4, 0, "--near4"}, {per, 1, "--images-per-serial"},
        {seed, 0, "--seed"}, {batch, 1, "--batch"}, {threads, 1, "--threads"},
    };
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {
        if(ranges[i].value < ranges[i].min) {
            dsn_error("eval: %s %d: must be at least %d", ranges[i].option, ranges[i].value, ranges[i].min);
            return DSN_EXIT_ERROR;
        }
    }
    if(fidelity && (others_arg || forged != 1000 || near2 != 200 || near4 != 200)) {
        dsn_error("eval: --fidelity measures no forged, near or other serials: drop --forged, --near2, --near4 "
                  "and --others");
        return DSN_EXIT_ERROR;
    }
    if(fidelity) forged = near2 = near4 = 0;
    if(batch > 4096 || threads > 64) {
        dsn_error("eval: --batch at most 4096, --threads at most 64");
        return DSN_EXIT_ERROR;
    }
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {   /* counts, not the seed: any int seed is one */
        if(ranges[i].value > 10000000 && strcmp(ranges[i].option, "--seed") != 0) {
            dsn_error("eval: %s %d: at most 10000000", ranges[i].option, ranges[i].value);
            return DSN_EXIT_ERROR;
        }
    }
    const char *const inputs[] = {cfg, weights, cert_path, data, list, pub, tcfg, tweights, others_arg};
    if((json && check_output(json, "--json", inputs, DSN_COUNT(inputs)) != 0) ||
       (md && check_output(md, "--md", inputs, DSN_COUNT(inputs)) != 0))
        return DSN_EXIT_ERROR;
    if(json && md && strcmp(json, md) == 0) {
        dsn_error("eval: --json and --md name the same file %s", json);
        return DSN_EXIT_ERROR;
    }

    /* certificates: the customer's, then the others, all of the same length */
    static dsn_cert cert, others[MAX_OTHERS];
    char *names_buf = NULL;
    const char *other_names[MAX_OTHERS];
    dsn_serial other_serials[MAX_OTHERS];
    int n_others = 0, rc = DSN_EXIT_ERROR;
    if(load_cert(&cert, cert_path, "--cert") != 0) return DSN_EXIT_ERROR;
    if(others_arg) {
        if(!(names_buf = strdup(others_arg))) dsn_die("out of memory");
        for(char *save = NULL, *p = strtok_r(names_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            if(n_others == MAX_OTHERS) {
                dsn_error("eval: --others: at most %d certificates", MAX_OTHERS);
                goto done;
            }
            if(load_cert(&others[n_others], p, "--others") != 0) goto done;
            if(others[n_others].bits != cert.bits) {
                dsn_error("eval: --others %s holds a %d-bit serial, --cert %s a %d-bit one", p,
                          others[n_others].bits, cert_path, cert.bits);
                goto done;
            }
            if(dsn_serial_hamming(&others[n_others].serial, &cert.serial) == 0) {
                dsn_error("eval: warning: --others %s has the same serial as --cert %s: skipped", p, cert_path);
                continue;
            }
            other_names[n_others] = others[n_others].customer;
            other_serials[n_others] = others[n_others].serial;
            ++n_others;
        }
    }
    if(pub) {
        dsn_key *k = NULL;
        char err[512];
        if(dsn_key_load_public(&k, pub, err, sizeof err) != 0) {
            dsn_error("eval: --pub: %s", err);
            goto done;
        }
        int bad = 0;
        if(dsn_cert_verify(&cert, k, err, sizeof err) != 0) {
            dsn_error("eval: --cert %s does not verify against %s: %s", cert_path, pub, err);
            bad = 1;
        }
        for(int i = 0; i < n_others && !bad; ++i) {
            if(dsn_cert_verify(&others[i], k, err, sizeof err) != 0) {
                dsn_error("eval: --others certificate of %s does not verify against %s: %s", others[i].customer, pub, err);
                bad = 1;
            }
        }
        dsn_key_free(k);
        if(bad) {
            rc = DSN_EXIT_NO;
            goto done;
        }
    }

    /* the cfg must stamp where the certificate says */
    char err[1024] = "";
    dsn_geometry cg, kg;
    int w, h, c;
    if(dsn_eval_cfg_peek(cfg, &cg, &w, &h, &c, err, sizeof err) != 0) {
        dsn_error("eval: --cfg: %s", err);
        goto done;
    }
    if(dsn_cert_geometry(&kg, &cert, err, sizeof err) != 0) {
        dsn_error("eval: --cert %s: %s", cert_path, err);
        goto done;
    }
    if(cg.bits != kg.bits || cg.cell != kg.cell || cg.corner != kg.corner || cg.margin != kg.margin) {
        dsn_error("eval: --cert %s is for a stamp of bits=%d cell=%d corner=%s margin=%d, but --cfg %s has "
                  "bits=%d cell=%d corner=%s margin=%d: not this model's certificate",
                  cert_path, kg.bits, kg.cell, dsn_corner_name(kg.corner), kg.margin, cfg, cg.bits, cg.cell,
                  dsn_corner_name(cg.corner), cg.margin);
        goto done;
    }

    /* the [serial_stamp] layer reads DSN_SERIAL when parsed: give it this certificate's serial
     * (eval stamps every row itself; an inherited, different DSN_SERIAL must not interfere) */
    char serial_text[DSN_SERIAL_TEXT_MAX];
    if(dsn_serial_encode(serial_text, sizeof serial_text, &cert.serial) < 0 ||
       setenv("DSN_SERIAL", serial_text, 1) != 0) {
        dsn_error("eval: cannot set DSN_SERIAL");
        goto done;
    }

    dsn_eval_data d;
    dsn_eval_subsets sub = {0};
    if(dsn_eval_data_load(&d, data, list, w, h, c, err, sizeof err) != 0) {
        dsn_error("eval: %s", err);
        goto done;
    }
    if(!subsets) subsets = d.subsets;
    if(subsets && dsn_eval_subsets_group(&sub, subsets, d.paths, d.n, err, sizeof err) != 0) {
        dsn_error("eval: %s%s", err, subsets == d.subsets ? " (the subsets= line of --data)" : "");
        dsn_eval_data_free(&d);
        goto done;
    }
    o.cfg = cfg;
    o.weights = weights;
    o.teacher_cfg = tcfg;
    o.teacher_weights = tweights;
    o.valid = cert.serial;
    o.n_others = n_others;
    o.others = other_serials;
    o.other_names = other_names;
    o.forged = forged;
    o.near2 = near2;
    o.near4 = near4;
    o.per_serial = per;
    o.seed = (uint64_t)seed;
    o.batch = batch;
    o.threads = threads;
    o.progress = !dsn_quiet();
    o.no_hamming1 = fidelity;
    fprintf(stderr, "dsn: eval: %d images (%d classes) from %s; %d forged, %d + %d near serials on %d images each, "
                    "%d single-bit flips and %d other customers on all; %d thread%s, batch %d\n",
            d.n, d.classes, list ? list : data, forged, near2, near4, per < d.n ? per : d.n, fidelity ? 0 : cert.bits, n_others,
            threads, threads == 1 ? "" : "s", batch);

    dsn_eval_result res;
    int ok = dsn_eval_run(&res, &o, &d, err, sizeof err) == 0;
    if(!ok) {
        dsn_error("eval: %s", err);
        dsn_eval_result_free(&res);
        dsn_eval_subsets_free(&sub);
        dsn_eval_data_free(&d);
        goto done;
    }
    char ds[256];
    dataset_name(ds, sizeof ds, data);
    dsn_eval_meta meta = {cert.customer, cert.model, cert_path, data, list, dataset ? dataset : ds};
    dsn_buf mdb = {0}, jb = {0};
    dsn_eval_markdown(&mdb, &res, &o, &meta);
    dsn_eval_json(&jb, &res, &o, &meta);
    if(mdb.oom || jb.oom) dsn_die("out of memory");
    const char *jtext = jb.s;
    char *sub_json = NULL;
    if(subsets) {   /* the per-subset table after the others, and "subsets" as the JSON's last key */
        dsn_eval_subsets_tally(&sub, &res);
        char *smd = dsn_eval_subsets_markdown(&sub);
        json_t *sj = dsn_eval_subsets_json(&sub);
        if(!smd || !sj || !(sub_json = dsn_eval_subsets_splice(jb.s, sj))) dsn_die("out of memory");
        dsn_buf_printf(&mdb, "%s", smd);
        if(mdb.oom) dsn_die("out of memory");
        free(smd);
        json_decref(sj);
        jtext = sub_json;
    }
    fputs(mdb.s, stdout);
    printf("\n%ld rows in %.1f s (%.0f rows/s)\n", res.rows, res.seconds, res.seconds > 0 ? res.rows / res.seconds : 0.0);
    rc = DSN_EXIT_OK;
    if(json && dsn_write_file(json, jtext, strlen(jtext), 0644, DSN_WRITE_REPLACE) != 0) rc = DSN_EXIT_ERROR;
    if(md && dsn_write_file(md, mdb.s, mdb.n, 0644, DSN_WRITE_REPLACE) != 0) rc = DSN_EXIT_ERROR;
    dsn_buf_free(&mdb);
    dsn_buf_free(&jb);
    free(sub_json);
    dsn_eval_subsets_free(&sub);
    dsn_eval_result_free(&res);
    dsn_eval_data_free(&d);
done:
    free(names_buf);
    return rc;
}
