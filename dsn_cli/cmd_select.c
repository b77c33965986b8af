/* cmd_select.c: `dsn select`: of several training runs of one customer's student, the one whose
 * lock holds best, measured on images the report does not use.
 *
 *     dsn select --cfg open/mnist_customer.cfg --cert alice.sn --data D.data --list val.list \
 *                [--teacher-cfg T.cfg --teacher-weights T.weights] [--pub owner.pub.pem] W0 W1 ...
 *
 * Each candidate W is the customer model (dsn export, open or sealed) of one training run of the
 * same student cfg for the same certificate: runs of another seed differ far more in their lock
 * (the worst single-bit neighbour, the raw and forged rows) than in their accuracy with the serial.
 * Every candidate is measured by dsn_eval_run (valid serial, no serial, --forged random serials,
 * every single-bit neighbour, --near2 serials two bits away, the teacher) and scored by how far it
 * misses the lock's limits (dsn_eval_lock_score: the sum of the excesses over --max-raw,
 * --max-forged, --max-h1, --max-h2 and --max-drop; when it misses none, its largest excess, <= 0);
 * the lowest score wins, ties to the earlier candidate. A score <= 0 meets every limit.
 *
 * The images are --list's (the .data's valid= otherwise): give images the reported evaluation does
 * not see (the demo gives a quarter of the training images), and a --seed other than the report's,
 * so that the random forged and two-bit serials the choice was made on are not the reported ones.
 *
 * Prints one row per candidate and, last, "chosen: INDEX PATH" (-q: the path only); --json writes
 * every candidate's measures and score; --install DIR copies the chosen model (--cfg and the chosen
 * weights, each under its own file name) into DIR, a new directory built beside it and renamed
 * into place, so DIR is complete or absent (dsn fleet's select step). Exit status: 0 chosen, 1 the
 * certificate does not verify against --pub, 2 bad input. Nothing is written but --json and
 * --install, and only once every candidate is measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_cert.h"
#include "dsn_dir.h"
#include "dsn_eval.h"
#include "dsn_jansson.h"
#include "dsn_learn.h"
#include "dsn_util.h"

#define MAX_CANDIDATES 64
#define INSTALL_MAX (1u << 30)   /* the largest file --install copies */

typedef struct select_args {
    const char *cfg, *cert_path, *pub, *data, *list, *tcfg, *tweights, *json, *install;
    const char *limit_text[5];   /* --max-raw, --max-forged, --max-h1, --max-h2, --max-drop */
    int forged, near2, per, seed, batch, threads;
    char *cand[MAX_CANDIDATES];
    int n;
    char install_dir[4096];      /* --install without trailing slashes */
} select_args;

/* One candidate's measures, as dsn_eval_lock_score reads them. */
typedef struct select_row {
    double teacher, valid, raw, forged_max, h1_max, h2_max, score;
    const char *worst;
    int has_teacher;
} select_row;

static const char *const limit_option[5] = {"--max-raw", "--max-forged", "--max-h1", "--max-h2", "--max-drop"};

static int parse_args(select_args *a, int argc, char **argv)
{
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &a->cfg, "FILE", "customer cfg, as dsn export writes it (the same for every candidate)"},
        {"--cert", NULL, DSN_ARG_STR, &a->cert_path, "FILE", "the customer's certificate (.sn)"},
        {"--pub", NULL, DSN_ARG_STR, &a->pub, "FILE", "owner's public key: verify the certificate first"},
        {"--data", NULL, DSN_ARG_STR, &a->data, "FILE", "Darknet .data file (labels=, valid=)"},
        {"--list", NULL, DSN_ARG_STR, &a->list, "FILE", "images to choose on (default: the .data's valid=)"},
        {"--teacher-cfg", NULL, DSN_ARG_STR, &a->tcfg, "FILE", "teacher cfg: the valid serial's limit is the teacher's accuracy"},
        {"--teacher-weights", NULL, DSN_ARG_STR, &a->tweights, "FILE", "teacher weights"},
        {"--forged", NULL, DSN_ARG_INT, &a->forged, "N", "random wrong serials (default 500)"},
        {"--near2", NULL, DSN_ARG_INT, &a->near2, "N", "serials 2 bits from the valid one (default 400)"},
        {"--images-per-serial", NULL, DSN_ARG_INT, &a->per, "N", "class-stratified images per forged/near serial (250)"},
        {"--seed", NULL, DSN_ARG_INT, &a->seed, "N", "seed of the serials and subsets (default 1000)"},
        {"--max-raw", NULL, DSN_ARG_STR, &a->limit_text[0], "P", "no serial at most P % (default 11)"},
        {"--max-forged", NULL, DSN_ARG_STR, &a->limit_text[1], "P", "the best forged serial at most P % (default 11)"},
        {"--max-h1", NULL, DSN_ARG_STR, &a->limit_text[2], "P", "the best single-bit neighbour at most P % (default 20)"},
        {"--max-h2", NULL, DSN_ARG_STR, &a->limit_text[3], "P", "the best serial 2 bits away at most P % (default 15)"},
        {"--max-drop", NULL, DSN_ARG_STR, &a->limit_text[4], "P", "the valid serial at most P points below the teacher (0.5)"},
        {"--json", NULL, DSN_ARG_STR, &a->json, "FILE", "write every candidate's measures and the choice as JSON"},
        {"--install", NULL, DSN_ARG_STR, &a->install, "DIR", "a new DIR holding --cfg and the chosen weights"},
        {"--batch", NULL, DSN_ARG_INT, &a->batch, "N", "rows per forward pass (default 128)"},
        {"--threads", NULL, DSN_ARG_INT, &a->threads, "N", "networks run side by side (default: CPUs)"},
    };
    const dsn_usage u = {
        "select", "--cfg C.cfg --cert C.sn --data D.data [--list L] [options] W0 W1 ...",
        "Chooses, of several training runs of one customer's model (W0 W1 ...: customer weights\n"
        "exported from each run for the same cfg and certificate), the one whose lock holds best:\n"
        "each is measured on --list's images (valid serial, no serial, forged serials, every\n"
        "single-bit neighbour, serials 2 bits away, the teacher) and scored by the sum of its\n"
        "excesses over the limits (--max-*), or, meeting them all, by its margin (<= 0); the\n"
        "lowest score wins, ties to the first.\n"
        "Choose on images and serials the reported evaluation does not use (--list, --seed).\n"
        "Prints a row per candidate, then \"chosen: INDEX PATH\" (-q: the path only); --install DIR\n"
        "puts the chosen model (--cfg and the chosen weights, under their own names) into a new DIR.\n"
        "Exit status: 0 chosen, 1 the certificate does not verify against --pub, 2 bad input.",
    };
    return dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, a->cand, MAX_CANDIDATES, &a->n);
}

/* Required options, ranges, the limits as numbers. 0 or -1. */
static int check_options(const select_args *a, dsn_lock_limits *l)
{
    const struct { const char *value, *what; } required[] = {
        {a->cfg, "--cfg FILE"}, {a->cert_path, "--cert FILE"}, {a->data, "--data FILE"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("select: missing %s (see dsn select --help)", required[i].what);
            return -1;
        }
    }
    if(a->n < 1) {
        dsn_error("select: no candidates: give the customer weights of each training run (at most %d)", MAX_CANDIDATES);
        return -1;
    }
    if(!a->tcfg != !a->tweights) {
        dsn_error("select: --teacher-cfg and --teacher-weights go together");
        return -1;
    }
    const struct { int value, min, max; const char *option; } ranges[] = {
        {a->forged, 0, 1000000, "--forged"}, {a->near2, 0, 1000000, "--near2"}, {a->per, 1, 1000000, "--images-per-serial"},
        {a->seed, 0, 2147483647, "--seed"}, {a->batch, 1, 4096, "--batch"}, {a->threads, 1, 64, "--threads"},
    };
    for(int i = 0; i < DSN_COUNT(ranges); ++i) {
        if(ranges[i].value < ranges[i].min || ranges[i].value > ranges[i].max) {
            dsn_error("select: %s %d: must be %d to %d", ranges[i].option, ranges[i].value, ranges[i].min, ranges[i].max);
            return -1;
        }
    }
    double *dst[5] = {&l->raw, &l->forged, &l->h1, &l->h2, &l->drop};
    for(int i = 0; i < 5; ++i) {
        if(a->limit_text[i] && (dsn_parse_real(a->limit_text[i], dst[i]) != 0 || *dst[i] < 0 || *dst[i] > 100)) {
            dsn_error("select: %s '%s': give a percentage from 0 to 100", limit_option[i], a->limit_text[i]);
            return -1;
        }
    }
    return 0;
}

/* The certificate, its signature (with --pub) and its stamp against the cfg's. DSN_EXIT_OK,
 * DSN_EXIT_NO (it does not verify) or DSN_EXIT_ERROR. */
static int load_cert(dsn_cert *c, const select_args *a, int *w, int *h, int *ch)
{
    int rc = dsn_eval_cert_load("select", c, a->cert_path, a->pub);
    if(rc != DSN_EXIT_OK) return rc;
    if(dsn_eval_cfg_for_cert("select", a->cfg, a->cert_path, c, w, h, ch) != 0 ||
       dsn_eval_serial_env("select", &c->serial) != 0)
        return DSN_EXIT_ERROR;
    return DSN_EXIT_OK;
}

/* Measures candidate i into *row. 0 or -1 (the error names the candidate). */
static int measure(const select_args *a, const dsn_cert *c, const dsn_eval_data *d, const dsn_lock_limits *l, int i,
                   select_row *row)
{
    char err[1024] = "";
    dsn_eval_opts o;
    dsn_eval_opts_init(&o);
    o.cfg = a->cfg;
    o.weights = a->cand[i];
    o.teacher_cfg = a->tcfg;
    o.teacher_weights = a->tweights;
    o.valid = c->serial;
    o.forged = a->forged;
    o.near2 = a->near2;
    o.near4 = 0;
    o.per_serial = a->per;
    o.seed = (uint64_t)a->seed;
    o.batch = a->batch;
    o.threads = a->threads;
    o.progress = !dsn_quiet();
    o.no_swaps = 1;
    dsn_eval_result r;
    int rc = dsn_eval_run(&r, &o, d, err, sizeof err);
    if(rc != 0) {
        dsn_error("select: candidate %d (%s): %s", i, a->cand[i], err);
    } else {
        row->has_teacher = r.has_teacher;
        row->teacher = r.teacher.acc;
        row->valid = r.valid.acc;
        row->raw = r.raw.acc;
        row->forged_max = dsn_eval_set_max(&r.forged);
        row->h1_max = dsn_eval_set_max(&r.h1);
        row->h2_max = dsn_eval_set_max(&r.h2);
        row->score = dsn_eval_lock_score(&r, l, &row->worst);
    }
    dsn_eval_result_free(&r);
    return rc;
}

/* --json: the limits, the options and every candidate. DSN_EXIT_OK or DSN_EXIT_ERROR. */
static int write_json(const select_args *a, const dsn_cert *c, const dsn_lock_limits *l, const select_row *rows,
                      int chosen)
{
    int bad = 0;
    json_t *j = json_object(), *cands = json_array();
    json_t *lim = json_pack("{s:o, s:o, s:o, s:o, s:o}", "raw", dsn_json_real(l->raw), "forged_max", dsn_json_real(l->forged),
                            "hamming_1_max", dsn_json_real(l->h1), "hamming_2_max", dsn_json_real(l->h2),
                            "valid_below_teacher", dsn_json_real(l->drop));
    dsn_json_put(j, "dsn_select", json_integer(1), &bad);
    dsn_json_put(j, "customer", json_string(c->customer), &bad);
    dsn_json_put(j, "cert", json_string(a->cert_path), &bad);
    dsn_json_put(j, "list", a->list ? json_string(a->list) : json_null(), &bad);
    dsn_json_put(j, "seed", json_integer(a->seed), &bad);
    dsn_json_put(j, "limits", lim, &bad);
    for(int i = 0; i < a->n; ++i) {
        const select_row *r = &rows[i];
        dsn_json_put(cands, NULL, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "weights", a->cand[i],
                                            "teacher", r->has_teacher ? dsn_json_real(r->teacher) : json_null(),
                                            "valid", dsn_json_real(r->valid), "raw", dsn_json_real(r->raw),
                                            "forged_max", dsn_json_real(r->forged_max),
                                            "hamming_1_max", dsn_json_real(r->h1_max),
                                            "hamming_2_max", dsn_json_real(r->h2_max), "score", dsn_json_real(r->score),
                                            "worst", r->worst), &bad);
    }
    dsn_json_put(j, "candidates", cands, &bad);
    dsn_json_put(j, "chosen", json_integer(chosen), &bad);
    dsn_json_put(j, "chosen_weights", json_string(a->cand[chosen]), &bad);
    dsn_buf b = {0};
    if(bad || dsn_json_dump(&b, j) != 0) dsn_die("out of memory");
    json_decref(j);
    int rc = dsn_write_file(a->json, b.s, b.n, 0644, DSN_WRITE_REPLACE) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    dsn_buf_free(&b);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* --install DIR, checked before anything is measured: DIR new, its parent there, and the cfg's
 * file name not that of a candidate (both land in DIR under their own names). 0 or -1. */
static int check_install(select_args *a)
{
    if(!a->install) return 0;
    size_t n = strlen(a->install);
    while(n > 1 && a->install[n - 1] == '/') --n;
    if(n >= sizeof a->install_dir) {
        dsn_error("select: --install %s: path too long", a->install);
        return -1;
    }
    snprintf(a->install_dir, sizeof a->install_dir, "%.*s", (int)n, a->install);
    a->install = a->install_dir;
    if(dsn_check_new(a->install, "dsn select --install makes a new directory") != 0 ||
       dsn_check_output("select", a->install, "--install", NULL, 0) != 0)
        return -1;
    for(int i = 0; i < a->n; ++i) {
        if(strcmp(base_name(a->cand[i]), base_name(a->cfg)) == 0) {
            dsn_error("select: --install: candidate %d (%s) has the file name of --cfg %s", i, a->cand[i], a->cfg);
            return -1;
        }
    }
    return 0;
}

/* --install DIR: --cfg and the chosen weights copied into a new directory beside DIR, then
 * renamed into place (dsn_dir.h). DSN_EXIT_OK or DSN_EXIT_ERROR, DIR absent then. */
static int install_choice(const select_args *a, int chosen)
{
    char tmp[4096], path[4096 + 512];
    const char *src[2] = {a->cfg, a->cand[chosen]};
    if(dsn_dir_new_beside(tmp, sizeof tmp, a->install) != 0) return DSN_EXIT_ERROR;
    int rc = 0;
    for(int i = 0; i < 2 && rc == 0; ++i) {
        size_t len;
        char *data = dsn_read_file(src[i], INSTALL_MAX, &len);
        snprintf(path, sizeof path, "%s/%s", tmp, base_name(src[i]));
        rc = data ? dsn_write_file(path, data, len, 0644, DSN_WRITE_NEW) : -1;
        free(data);
    }
    if(rc != 0) {
        dsn_dir_remove(tmp);
        return DSN_EXIT_ERROR;
    }
    dsn_dir_sync(tmp, 1);
    return dsn_dir_install(tmp, a->install) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
}

static void print_row(int i, const char *path, const select_row *r)
{
    if(dsn_quiet()) return;
    printf("%3d  %6.2f %6.2f %6.2f %6.2f %6.2f  %+6.2f %-13s  %s\n", i, r->valid, r->raw, r->forged_max, r->h1_max,
           r->h2_max, r->score, r->worst, path);
    fflush(stdout);
}

/* Measures every candidate, prints the rows and the choice, writes --json. */
static int choose(const select_args *a, const dsn_cert *c, const dsn_lock_limits *l, int w, int h, int ch)
{
    char err[1024] = "";
    dsn_eval_data d;
    if(dsn_eval_data_load(&d, a->data, a->list, w, h, ch, err, sizeof err) != 0) {
        dsn_error("select: %s", err);
        return DSN_EXIT_ERROR;
    }
    select_row rows[MAX_CANDIDATES];
    int chosen = 0, rc = DSN_EXIT_OK;
    if(!dsn_quiet())
        printf("  #   valid    raw forged     h1     h2   score worst          weights (%d images)\n", d.n);
    for(int i = 0; i < a->n && rc == DSN_EXIT_OK; ++i) {
        if(measure(a, c, &d, l, i, &rows[i]) != 0) rc = DSN_EXIT_ERROR;
        else print_row(i, a->cand[i], &rows[i]);
        if(rc == DSN_EXIT_OK && rows[i].score < rows[chosen].score) chosen = i;
    }
    dsn_eval_data_free(&d);
    if(rc != DSN_EXIT_OK) return rc;
    if(a->json && write_json(a, c, l, rows, chosen) != DSN_EXIT_OK) return DSN_EXIT_ERROR;
    if(a->install && install_choice(a, chosen) != DSN_EXIT_OK) return DSN_EXIT_ERROR;
    if(dsn_quiet()) printf("%s\n", a->cand[chosen]);
    else printf("chosen: %d %s (score %+.2f, %s)\n", chosen, a->cand[chosen], rows[chosen].score,
                rows[chosen].score <= 0 ? "every limit met" : "the limits missed by the least");
    return DSN_EXIT_OK;
}

int dsn_cmd_select(int argc, char **argv)
{
    dsn_eval_opts o;
    dsn_eval_opts_init(&o);
    select_args a = {.forged = 500, .near2 = 400, .per = 250, .seed = 1000, .batch = o.batch, .threads = o.threads};
    dsn_lock_limits l = DSN_LOCK_LIMITS_DEFAULT;
    int r = parse_args(&a, argc, argv);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(check_options(&a, &l) != 0) return DSN_EXIT_ERROR;
    const char *inputs[MAX_CANDIDATES + 6] = {a.cfg, a.cert_path, a.data, a.list, a.tcfg, a.tweights};
    for(int i = 0; i < a.n; ++i) inputs[6 + i] = a.cand[i];
    if(a.json && dsn_check_output("select", a.json, "--json", inputs, 6 + a.n) != 0) return DSN_EXIT_ERROR;
    if(check_install(&a) != 0) return DSN_EXIT_ERROR;
    dsn_cert c;
    int w, h, ch;
    int rc = load_cert(&c, &a, &w, &h, &ch);
    return rc == DSN_EXIT_OK ? choose(&a, &c, &l, w, h, ch) : rc;
}
