/* cmd_trace.c: `dsn trace`: which issued certificate's serial unlocks a suspect model?
 *
 * Reads every *.sn in --certs (in name order), keeps those whose signature verifies against the
 * owner's key (the others are listed and skipped), screens all of them on a few images in large
 * batches (certificates x images rows, each stamped here from its certificate's geometry on the
 * model built without [serial_stamp]), then tests the best candidates on fresh images with the
 * p-value of dsn verify (dsn_verify.h), Bonferroni-adjusted over the candidates. Names the
 * customer when the best adjusted p-value is at most --alpha.
 * Exit 0 a customer named, 1 none, 2 bad input. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_cert.h"
#include "dsn_learn.h"
#include "dsn_model.h"
#include "dsn_seal.h"
#include "dsn_util.h"
#include "dsn_verify.h"

#define TRACE_MAX_CERTS 100000

typedef struct cert_set {
    int n, cap, skipped;
    dsn_cert *cert;
    char **path;
    dsn_geometry *geo;
    dsn_serial *serial;
} cert_set;

static void cert_set_free(cert_set *s)
{
    for(int i = 0; i < s->n; ++i) free(s->path[i]);
    free(s->path);
    free(s->cert);
    free(s->geo);
    free(s->serial);
    memset(s, 0, sizeof *s);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.sn of dir that parses, verifies against key and fits a w x h input. */
static int load_certs(cert_set *s, const char *dir, const dsn_key *key, int w, int h, int quiet)
{
    memset(s, 0, sizeof *s);
    DIR *dp = opendir(dir);
    if(!dp) {
        dsn_error("trace: --certs %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    int nn = 0, cap = 0;
    struct dirent *e;
    while((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if(len < 4 || strcmp(e->d_name + len - 3, ".sn") != 0) continue;
        if(nn == TRACE_MAX_CERTS) break;
        if(nn == cap) {
            cap = cap ? 2 * cap : 256;
            char **bigger = realloc(names, (size_t)cap * sizeof *names);
            if(!bigger) dsn_die("out of memory");
            names = bigger;
        }
        if(!(names[nn++] = strdup(e->d_name))) dsn_die("out of memory");
    }
    closedir(dp);
    qsort(names, (size_t)nn, sizeof *names, name_cmp);
    s->cert = malloc((size_t)(nn ? nn : 1) * sizeof *s->cert);
    s->path = calloc((size_t)(nn ? nn : 1), sizeof *s->path);
    s->geo = malloc((size_t)(nn ? nn : 1) * sizeof *s->geo);
    s->serial = malloc((size_t)(nn ? nn : 1) * sizeof *s->serial);
    if(!s->cert || !s->path || !s->geo || !s->serial) dsn_die("out of memory");
    for(int i = 0; i < nn; ++i) {
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        dsn_cert *c = &s->cert[s->n];
        dsn_geometry *g = &s->geo[s->n];
        const char *why = NULL;
        if(dsn_cert_load(c, path, err, sizeof err) != 0) why = "unreadable";
        else if(dsn_cert_verify(c, key, err, sizeof err) != 0) why = "does not verify against the key";
        else if(dsn_cert_geometry(g, c, err, sizeof err) != 0 || dsn_geometry_place(g, w, h, err, sizeof err) != 0)
            why = "its stamp does not fit the model";
        if(why) {
            if(!quiet) dsn_error("trace: warning: skipping %s: %s: %s", path, why, err);
            ++s->skipped;
            continue;
        }
        s->serial[s->n] = c->serial;
        if(!(s->path[s->n] = strdup(path))) dsn_die("out of memory");
        ++s->n;
    }
    for(int i = 0; i < nn; ++i) free(names[i]);
    free(names);
    if(s->n == 0) {
        dsn_error("trace: --certs %s: no certificate that verifies against the key (%d file(s) skipped)", dir, s->skipped);
        return -1;
    }
    return 0;
}

static int write_json(const char *path, const cert_set *s, const dsn_trace_result *t, const char *cfg,
                      const char *weights, const char *hw)
{
    json_t *top = json_array();
    for(int k = 0; k < t->n_top; ++k) {
        const dsn_trace_cand *c = &t->top[k];
        json_array_append_new(top, json_pack("{s:s, s:s, s:o, s:o, s:o, s:f, s:f, s:f, s:f}", "customer",
                                             s->cert[c->index].customer, "cert", s->path[c->index], "screen",
                                             dsn_verify_acc_json(&c->screen), "cert_serial",
                                             dsn_verify_acc_json(&c->v.cert), "raw", dsn_verify_acc_json(&c->v.raw),
                                             "null_upper_bound", 100 * c->v.p0, "tail_log10", c->v.tail_log10,
                                             "p_value", c->v.p_value, "p_adjusted", c->p_adj));
    }
    json_t *fresh = json_array();
    for(int k = 0; k < t->n_pool_top; ++k) json_array_append_new(fresh, dsn_verify_acc_json(&t->pool_top[k]));
    json_t *pool = json_pack("{s:i, s:o, s:o, s:f}", "serials", t->n_pool, "screen_best", dsn_verify_acc_json(&t->pool_screen),
                             "best_fresh", fresh, "seconds", t->pool_seconds);
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:b, s:s?, s:s?, s:I, s:f, s:f}", "dsn_trace", 1,
                          "cfg", cfg, "weights", weights, "weights_sha256", hw, "certificates", s->n, "skipped", s->skipped,
                          "screen_images", t->n_screen, "null_pool", pool, "top", top, "inconclusive", t->inconclusive, "found",
                          t->found >= 0 ? s->cert[t->found].customer : NULL, "found_cert",
                          t->found >= 0 ? s->path[t->found] : NULL, "rows", (json_int_t)t->rows, "screen_seconds",
                          t->screen_seconds, "wall_seconds", t->seconds);
    int rc = dsn_verify_write_json(path, o);
    json_decref(o);
    return rc;
}

static void print_trace(const cert_set *cs, const dsn_trace_result *t, const dsn_trace_opts *to, const char *weights,
                        const char *hw, const char *dir, const char *pub)
{
    printf("DSN trace of %s (weights SHA-256 %s)\n", weights, hw);
    printf("  certificates    %d from %s verify against %s (%d skipped)\n", cs->n, dir, pub, cs->skipped);
    printf("  screening       %d images each, %ld rows in %.1f s (%.0f rows/s)\n", t->n_screen, (long)cs->n * t->n_screen,
           t->screen_seconds, t->screen_seconds > 0 ? cs->n * t->n_screen / t->screen_seconds : 0.0);
    printf("  null pool       %d random serials screened the same way in %.1f s: the best %.2f%% on the screen,",
           t->n_pool, t->pool_seconds, t->pool_screen.acc);
    for(int k = 0; k < t->n_pool_top; ++k) printf("%s%.2f", k ? ", " : " its best on fresh images ", t->pool_top[k].acc);
    printf("%%\n");
    printf("  candidates      tested on %d fresh images each (half with the serial, half for the null), "
           "p-values x %d\n", to->v.images, t->n_top);
    printf("    %-4s %-24s %10s %22s %10s %12s\n", "rank", "customer", "screen %", "with its serial % [95%]",
           "null bound", "p (adj.)");
    double best_p = 1;
    for(int k = 0; k < t->n_top; ++k) {
        const dsn_trace_cand *c = &t->top[k];
        char acc[64];
        snprintf(acc, sizeof acc, "%.2f [%.1f, %.1f]", c->v.cert.acc, c->v.cert.lo, c->v.cert.hi);
        printf("    %-4d %-24.24s %10.2f %22s %9.2f%% %12.3g\n", k + 1, cs->cert[c->index].customer, c->screen.acc, acc,
               100 * c->v.p0, c->p_adj);
        best_p = c->p_adj < best_p ? c->p_adj : best_p;
    }
    if(t->found >= 0)
        printf("  VERDICT         the serial issued to \"%s\" (%s, model \"%s\") unlocks this model (p <= %.3g)\n",
               cs->cert[t->found].customer, cs->path[t->found], cs->cert[t->found].model, to->v.alpha);
    else if(t->inconclusive)
        printf("  VERDICT         inconclusive: random serials unlock this model too (the pool's best %.2f%% against "
               "%.2f%% for raw input or one constant answer), so the certificate that unlocks it best names nobody "
               "(best adjusted p = %.3g)\n",
               t->unlock_pool.acc, t->unlock_raw.acc, best_p);
    else
        printf("  VERDICT         no issued certificate unlocks this model (best adjusted p = %.3g > %g)\n", best_p,
               to->v.alpha);
    printf("  time            %.1f s, %ld rows\n", t->seconds, t->rows);
}

/* What the cfg says about sealing first; a cfg can have been edited, so when nobody is found
 * the other readings are tried too, the latest seal first (version 3 only with the cfg's nonce;
 * each candidate's p-value then counts the readings tried: times 2, 3 or 4). */
static int trace_readings(dsn_trace_result *t, const dsn_model *m, const cert_set *cs, const dsn_eval_data *d,
                          dsn_trace_opts *to)
{
    char err[1024];
    dsn_seal_spec readings[DSN_SEAL_LATEST + 1] = {m->seal};
    int n = 1;
    for(int v = DSN_SEAL_LATEST; v >= 0; --v) {
        if(v == m->seal.version || v == DSN_SEAL_V3) continue;   /* version 3 needs the cfg's own nonce */
        readings[n] = m->seal;
        readings[n++].version = v;
    }
    for(int pass = 0, tried = 0; pass < n; ++pass) {
        /* a reading the weights cannot be in (values a version-2 or 3 seal never writes) is not tried */
        if(pass > 0 && readings[pass].version && dsn_seal_fits(m->net, 0, m->net->n, readings[pass].version) != 1)
            continue;
        to->seal = readings[pass];
        to->hypotheses = ++tried;
        dsn_trace_result_free(t);
        if(dsn_trace_model(t, m->net, cs->geo, cs->serial, cs->n, d, to, err, sizeof err) != 0) {
            dsn_error("trace: %s", err);
            return -1;
        }
        if(t->found >= 0 || t->inconclusive) break;
    }
    return 0;
}

int dsn_cmd_trace(int argc, char **argv)
{
    const char *cfg = NULL, *weights = NULL, *dir = NULL, *pub = NULL, *data = NULL, *list = NULL;
    const char *alpha_s = NULL, *json = NULL;
    int images = 1000, serials = 20, seed = 0, batch = 256, screen = 50, top = 3, pool = 0, quiet = 0;
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &cfg, "FILE", "the suspect model's cfg (its [serial_stamp], if any, is ignored)"},
        {"--weights", NULL, DSN_ARG_STR, &weights, "FILE", "the suspect model's weights"},
        {"--certs", NULL, DSN_ARG_STR, &dir, "DIR", "the issued certificates (every *.sn in DIR)"},
        {"--pub", NULL, DSN_ARG_STR, &pub, "FILE", "the owner's public key (PEM)"},
        {"--data", NULL, DSN_ARG_STR, &data, "FILE", "Darknet .data file (labels=, valid=)"},
        {"--list", NULL, DSN_ARG_STR, &list, "FILE", "test image list (default: the .data's valid=)"},
        {"--screen", NULL, DSN_ARG_INT, &screen, "N", "images each certificate is screened on (default 50)"},
        {"--top", NULL, DSN_ARG_INT, &top, "K", "best candidates tested with a p-value (default 3)"},
        {"--pool", NULL, DSN_ARG_INT, &pool, "N", "random serials screened the same way, the null of the selection\n"
                                                  "                         (default: as many as certificates, at least 100)"},
        {"--images", NULL, DSN_ARG_INT, &images, "N", "fresh images for each candidate's test (default 1000)"},
        {"--serials", NULL, DSN_ARG_INT, &serials, "K", "random serials in each test's null (default 20)"},
        {"--seed", NULL, DSN_ARG_INT, &seed, "N", "seed of the image split and the random serials (0)"},
        {"--alpha", NULL, DSN_ARG_STR, &alpha_s, "P", "name a customer when the adjusted p-value is at most P (0.01)"},
        {"--batch", NULL, DSN_ARG_INT, &batch, "N", "rows per forward pass (default 256)"},
        {"--json", NULL, DSN_ARG_STR, &json, "FILE", "also write the result as JSON"},
        {"--quiet", "-q", DSN_ARG_FLAG, &quiet, NULL, "no warnings about skipped certificates"},
    };
    const dsn_usage u = {
        "trace", "--cfg C.cfg --weights W --certs DIR --pub owner.pub.pem --data D.data [options]",
        "Tries every certificate in DIR on the suspect model and names the customer whose serial\n"
        "unlocks it: all certificates are screened in batches on --screen images, then the --top best\n"
        "are tested on fresh images as dsn verify does (p-values multiplied by --top). The null goes\n"
        "through the same selection: a pool of random serials is screened on the same images and its\n"
        "--top best join each candidate's null, so the best of many innocent certificates is not\n"
        "named on a model that random stamps unlock; when the pool's best beats raw input (and one\n"
        "constant answer), random stamps open the model and nobody is named (inconclusive).\n"
        "Certificates that do not verify against --pub are skipped with a warning.\n"
        "Exit status: 0 a customer named, 1 none (or inconclusive), 2 bad input.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    const dsn_verify_arg required[] = {
        {cfg, "--cfg FILE"}, {weights, "--weights FILE"}, {dir, "--certs DIR"}, {pub, "--pub FILE"},
        {data, "--data FILE"},
    };
    dsn_trace_opts to;
    dsn_trace_opts_init(&to);
    if(dsn_verify_check_args("trace", required, DSN_COUNT(required), alpha_s, &to.v.alpha) != 0) return DSN_EXIT_ERROR;
    if(images < 2 || serials < 1 || seed < 0 || batch < 1 || batch > 4096 || screen < 1 || top < 1 || pool < 0) {
        dsn_error("trace: --images must be >= 2, --serials, --screen and --top >= 1, --seed and --pool >= 0, "
                  "--batch 1..4096");
        return DSN_EXIT_ERROR;
    }
    to.screen = screen;
    to.top = top;
    to.pool = pool;
    to.v.images = images;
    to.v.serials = serials;
    to.v.seed = (uint64_t)seed;

    char err[1024];
    dsn_key *key = NULL;
    if(dsn_key_load_public(&key, pub, err, sizeof err) != 0) {
        dsn_error("trace: --pub: %s", err);
        return DSN_EXIT_ERROR;
    }
    dsn_model m;
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, batch);
    if(dsn_model_load(&m, cfg, weights, NULL, &mo, err, sizeof err) != 0) {
        dsn_error("trace: %s", err);
        dsn_key_free(key);
        return DSN_EXIT_ERROR;
    }
    cert_set cs;
    int rc = DSN_EXIT_ERROR, loaded = load_certs(&cs, dir, key, m.w, m.h, quiet) == 0;
    dsn_key_free(key);
    char hw[65];
    dsn_eval_data d = {0};
    dsn_trace_result t = {0};
    if(!loaded) goto done;
    if(dsn_file_sha256(hw, weights, err, sizeof err) != 0 ||
       dsn_eval_data_load(&d, data, list, m.w, m.h, m.c, err, sizeof err) != 0) {
        dsn_error("trace: %s", err);
        goto done;
    }
    if(trace_readings(&t, &m, &cs, &d, &to) != 0) goto done;
    print_trace(&cs, &t, &to, weights, hw, dir, pub);
    rc = t.found >= 0 ? DSN_EXIT_OK : DSN_EXIT_NO;
    if(json && write_json(json, &cs, &t, cfg, weights, hw) != 0) rc = DSN_EXIT_ERROR;
done:
    dsn_trace_result_free(&t);
    dsn_eval_data_free(&d);
    cert_set_free(&cs);
    dsn_model_free(&m);
    return rc;
}
