/* cmd_attack.c: `dsn attack KIND` (a thief's attack on a customer model, measured against its
 * baseline; dsn_attack.h) and `dsn attack summary` (several results merged into one report).
 * Exit 0 done, 2 bad input or a failed run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_attack.h"
#include "dsn_util.h"

#define SUMMARY_MAX 256

static int summary(int argc, char **argv)
{
    const char *json = NULL, *md = NULL;
    char *pos[SUMMARY_MAX];
    int npos = 0;
    const dsn_option opts[] = {
        {"--json", NULL, DSN_ARG_STR, &json, "FILE", "the merged JSON"},
        {"--md", NULL, DSN_ARG_STR, &md, "FILE", "the merged markdown (a headline table, then each result)"},
    };
    const dsn_usage u = {"attack summary", "--json F --md F RESULT.json...",
                         "Merges dsn attack results (their --json files, in the order given) into one report."};
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, SUMMARY_MAX, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos < 1 || (!json && !md)) {
        dsn_error("attack summary: give --json and/or --md and at least one result file");
        return DSN_EXIT_ERROR;
    }
    char err[1024];
    if(dsn_attack_summary((const char *const *)pos, npos, json, md, err, sizeof err) != 0) {
        dsn_error("attack summary: %s", err);
        return DSN_EXIT_ERROR;
    }
    return DSN_EXIT_OK;
}

int dsn_cmd_attack(int argc, char **argv)
{
    if(argc >= 2 && strcmp(argv[1], "summary") == 0) return summary(argc - 1, argv + 1);
    dsn_attack_opts o;
    dsn_attack_opts_init(&o);
    int queries = 0;
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &o.cfg, "FILE", "the stolen customer cfg ([serial_stamp] first)"},
        {"--weights", NULL, DSN_ARG_STR, &o.weights, "FILE", "the stolen weights"},
        {"--data", NULL, DSN_ARG_STR, &o.data, "FILE", "Darknet .data (train= the thief's images, valid= the test set)"},
        {"--cert", NULL, DSN_ARG_STR, &o.cert, "FILE", "the owner's certificate of the model (reference rows; needed by\n"
                                                       "                         prune, overwrite, distill)"},
        {"--pub", NULL, DSN_ARG_STR, &o.pub, "FILE", "the owner's public key (checks --cert and --certs)"},
        {"--certs", NULL, DSN_ARG_STR, &o.certs, "DIR", "issued certificates: trace the attacked models (dsn trace)"},
        {"--seed", NULL, DSN_ARG_INT, &o.seed, "N", "base seed (0)"},
        {"--json", NULL, DSN_ARG_STR, &o.json, "FILE", "write the result as JSON"},
        {"--md", NULL, DSN_ARG_STR, &o.md, "FILE", "write the result as markdown (else it goes to stdout)"},
        {"--png-dir", NULL, DSN_ARG_STR, &o.png_dir, "DIR", "write the curves there as PNG (gnuplot)"},
        {"--name", NULL, DSN_ARG_STR, &o.name, "NAME", "label of the outputs (default: the certificate's customer)"},
        {"--cache", NULL, DSN_ARG_STR, &o.cache, "FILE", "reuse training runs recorded there (and record new ones)"},
        {"--sizes", NULL, DSN_ARG_STR, &o.sizes, "LIST", "training-set sizes, percentages or counts (finetune, transfer:\n"
                                                         "                         1%,5%,10%,20%,30%,40%,100,500,1000; overwrite:\n"
                                                         "                         10%,20%,30%,40%; distill: 100%)"},
        {"--repeats", NULL, DSN_ARG_INT, &o.repeats, "K", "seeds (seed..seed+K-1) on the --repeat-sizes (3)"},
        {"--repeat-sizes", NULL, DSN_ARG_STR, &o.repeat_sizes, "LIST", "sizes run with every seed (100,500,1000)"},
        {"--lrs", NULL, DSN_ARG_STR, &o.lrs, "LIST", "learning rates, each run for attack and baseline (0.001,0.0001)"},
        {"--batch", NULL, DSN_ARG_INT, &o.batch, "N", "training and evaluation batch (64)"},
        {"--epochs", NULL, DSN_ARG_INT, &o.epochs, "E", "budget: E epochs of the subset ... (10)"},
        {"--iters-min", NULL, DSN_ARG_INT, &o.iters_min, "N", "... but at least N iterations (200)"},
        {"--iters-max", NULL, DSN_ARG_INT, &o.iters_max, "N", "... and at most N (500)"},
        {"--curve-every", NULL, DSN_ARG_INT, &o.curve_every, "N", "learning-curve point every N iterations (25)"},
        {"--curve-images", NULL, DSN_ARG_INT, &o.curve_images, "N", "test images per curve point (500)"},
        {"--test-images", NULL, DSN_ARG_INT, &o.test_images, "N", "test images for the final accuracies (0: all)"},
        {"--task-data", NULL, DSN_ARG_STR, &o.task_data, "FILE", "transfer: a second task's .data (e.g. Fashion-MNIST)"},
        {"--task-sizes", NULL, DSN_ARG_STR, &o.task_sizes, "LIST", "transfer: sizes on the second task (100,500,1000)"},
        {"--levels", NULL, DSN_ARG_STR, &o.levels, "LIST", "prune: percent of weights zeroed (10,...,90)"},
        {"--student-cfg", NULL, DSN_ARG_STR, &o.student_cfg, "FILE", "overwrite: the DSN student recipe (cfg/mnist_student.cfg)"},
        {"--kd", NULL, DSN_ARG_STR, &o.kd, "MODE", "overwrite: hard (labels), unlocked (the stolen model as teacher) or both (default)"},
        {"--orig-frac", NULL, DSN_ARG_STR, &o.orig_frac, "P", "overwrite: share of raw rows stamped with the original serial (0.5)"},
        {"--queries", NULL, DSN_ARG_INT, &queries, "N", "keysearch (100000) and blackbox (10000) query budget"},
        {"--per-serial", NULL, DSN_ARG_INT, &o.per_serial, "M", "keysearch: images each serial is screened on (10)"},
        {"--finalists", NULL, DSN_ARG_INT, &o.finalists, "F", "keysearch: best serials re-tested on the test set (10)"},
        {"--images", NULL, DSN_ARG_INT, &o.images, "N", "reverse, blackbox, distill: labelled images the attacker holds (1000)"},
        {"--steps", NULL, DSN_ARG_INT, &o.steps, "N", "reverse: optimiser steps per start (300)"},
        {"--starts", NULL, DSN_ARG_STR, &o.starts, "LIST", "reverse: patch starts (0.5,0,1,random)"},
        {"--patch-lr", NULL, DSN_ARG_STR, &o.patch_lr, "X", "reverse, blackbox: step size on the patch (0.05)"},
        {"--round-bits", NULL, DSN_ARG_INT, &o.round_bits, "N", "reverse: bits fixed per progressive rounding round (1)"},
        {"--png-images", NULL, DSN_ARG_INT, &o.png_images, "N", "reverse: patched PNGs run through darknet (500; 0: none)"},
        {"--controls", NULL, DSN_ARG_INT, &o.controls, "K", "reverse, blackbox: the same attack on K fresh networks, and for a\n"
                                                          "                         sealed model on K copies re-sealed under random serials (3)"},
        {"--darknet", NULL, DSN_ARG_STR, &o.darknet, "FILE", "reverse: the darknet binary (default: beside dsn)"},
        {"--trace-images", NULL, DSN_ARG_INT, &o.trace_images, "N", "test images of each candidate's test in a trace (400)"},
        {"--quiet", "-q", DSN_ARG_FLAG, &o.quiet, NULL, "no progress lines"},
    };
    static char about[4096];
    int at = snprintf(about, sizeof about,
                      "A thief's attack on a stolen customer model (the cfg, the weights, the training images, no serial),\n"
                      "each a real Darknet run, every number beside its baseline. KIND:\n");
    for(int i = 0; i < dsn_attack_n_kinds && at < (int)sizeof about; ++i)
        at += snprintf(about + at, sizeof about - at, "  %-11s %s\n", dsn_attack_kinds[i].name, dsn_attack_kinds[i].help);
    snprintf(about + (at < (int)sizeof about ? at : (int)sizeof about - 1), sizeof about - (size_t)(at < (int)sizeof about ? at : (int)sizeof about - 1),
             "  summary     merge results: dsn attack summary --json F --md F RESULT.json...\n"
             "Seeded (--seed): the same options give the same numbers. Exit status: 0 done, 2 bad input or failure.");
    const dsn_usage u = {"attack", "KIND --cfg C.cfg --weights W --data D.data [--cert C.sn --pub P] [options]", about};
    char *pos[1];
    int npos = 0;
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos != 1) {
        dsn_error("attack: which attack? (dsn attack KIND ...; dsn attack --help lists them)");
        return DSN_EXIT_ERROR;
    }
    const struct { int value, min; const char *option; } ranges[] = {
        {o.seed, 0, "--seed"}, {o.repeats, 1, "--repeats"}, {o.batch, 1, "--batch"}, {o.epochs, 1, "--epochs"},
        {o.iters_min, 1, "--iters-min"}, {o.iters_max, 1, "--iters-max"}, {o.curve_every, 0, "--curve-every"},
        {o.curve_images, 1, "--curve-images"}, {o.test_images, 0, "--test-images"}, {queries, 0, "--queries"},
        {o.per_serial, 1, "--per-serial"}, {o.finalists, 1, "--finalists"}, {o.images, 1, "--images"},
        {o.steps, 1, "--steps"}, {o.round_bits, 1, "--round-bits"}, {o.png_images, 0, "--png-images"},
        {o.controls, 0, "--controls"},
        {o.trace_images, 4, "--trace-images"},
    };
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {
        if(ranges[i].value < ranges[i].min) {
            dsn_error("attack: %s %d: must be at least %d", ranges[i].option, ranges[i].value, ranges[i].min);
            return DSN_EXIT_ERROR;
        }
    }
    if(o.batch > 4096 || o.iters_max < o.iters_min || o.controls > DSN_ATTACK_MAX_CONTROLS) {
        dsn_error("attack: --batch at most 4096, --iters-max at least --iters-min, --controls at most %d",
                  DSN_ATTACK_MAX_CONTROLS);
        return DSN_EXIT_ERROR;
    }
    o.queries = queries;
    char err[2048];
    if(dsn_attack_run(pos[0], &o, err, sizeof err) != 0) {
        dsn_error("attack %s: %s", pos[0], err);
        return DSN_EXIT_ERROR;
    }
    return DSN_EXIT_OK;
}
