/* dsn_attack_key.c: the attacks on the lock itself rather than on the data: pruning the weights,
 * searching serials, and finding a stamp by gradients (white-box) or by queries (black-box). All
 * run the stolen network built without its [serial_stamp] layer and edit its input here. */
#include "dsn_attack.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsn_image.h"
#include "dsn_seal.h"
#include "dsn_layers.h"
#include "dsn_util.h"

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void headline(dsn_attack_ctx *a, const char *setting, double value, double baseline, int has_baseline)
{
    char seeds[32];
    snprintf(seeds, sizeof seeds, "%d", a->o->seed);
    json_t *h = json_pack("{s:s, s:s, s:f, s:f, s:s}", "attack", a->kind->name, "setting", setting, "value", value, "sd", 0.0,
                          "seeds", seeds);
    json_object_set_new(h, "baseline", has_baseline ? json_real(baseline) : json_null());
    json_array_append_new(json_object_get(a->root, "headline"), h);
}

/* ---- controls: the same attack on networks with nothing to leak ----------------------------- */

/* The controls of an attack: networks with nothing to leak, each run through the attack in place
 * of the stolen one. K = o->controls freshly initialised networks of the same architecture; for a
 * sealed model also K copies of the stolen weights sealed again under random serials (what the
 * thief would hold under another key). fn gets the kind ("fresh" or "resealed") to record. */
typedef double (*control_fn)(dsn_attack_ctx *a, void *ctx, const char *kind);

static int control_count(const dsn_attack_ctx *a)
{
    return a->o->controls * (a->stolen.seal.version ? 2 : 1);
}

/* Runs fn on every control in turn; out[i] is its result on the i-th, *best the largest (-1
 * without controls). Returns 0, or -1 with a->err set. */
static int run_controls(dsn_attack_ctx *a, const char *tag, control_fn fn, void *ctx, double *out, double *best)
{
    network *stolen = a->stolen.net;
    int K = a->o->controls;
    *best = -1;
    if(K < 0 || K > DSN_ATTACK_MAX_CONTROLS) return dsn_attack_fail(a, "--controls %d: 0 to %d", K, DSN_ATTACK_MAX_CONTROLS);
    for(int i = 0; i < control_count(a); ++i) {
        dsn_model m;
        int resealed = i >= K;
        uint64_t seed = dsn_attack_seed((uint64_t)a->o->seed, tag, i % K, resealed);
        dsn_attack_say(a, "control %d of %d: %s", i + 1, control_count(a),
                       resealed ? "the stolen weights sealed again under a random serial" : "a freshly initialised network");
        if(resealed ? dsn_attack_resealed_net(a, &m, stolen->batch, seed) : dsn_attack_fresh_net(a, &m, stolen->batch, (unsigned)seed))
            return -1;
        a->stolen.net = m.net;
        out[i] = fn(a, ctx, resealed ? "resealed" : "fresh");
        a->stolen.net = stolen;
        dsn_model_free(&m);
        if(out[i] < 0) return -1;
        if(out[i] > *best) *best = out[i];
    }
    return 0;
}

/* The controls' lines of the markdown and their JSON, with how many of them reach the stolen
 * model's result `value`; the baseline a headline compares with (their best, or raw without). */
static double controls_report(dsn_attack_ctx *a, json_t *node, json_t *runs, const double *acc, double best, double raw,
                              double value)
{
    int K = a->o->controls, n = control_count(a), reach = 0;
    if(K <= 0) {
        json_decref(runs);
        return raw;
    }
    for(int i = 0; i < n; ++i) reach += acc[i] >= value;
    json_object_set_new(node, "controls", runs);
    json_object_set_new(node, "controls_best_test", json_real(best));
    json_object_set_new(node, "controls_at_or_above", json_integer(reach));
    dsn_attack_md(a, "\nControls (nothing to leak): the same attack, same starts and seeds, on %d freshly initialised networks "
                     "of the same architecture:", K);
    for(int i = 0; i < K; ++i) dsn_attack_md(a, "%s %.2f", i ? "," : "", acc[i]);
    if(a->stolen.seal.version) {
        dsn_attack_md(a, "; on the stolen weights sealed again under %d random serials (what the thief would hold under another "
                         "key: sealing twice is one sealing):", K);
        for(int i = 0; i < K; ++i) dsn_attack_md(a, "%s %.2f", i ? "," : "", acc[K + i]);
    }
    dsn_attack_md(a, ". Continuous patch, %% on the test images; best %.2f%%, the headline's baseline. %d of the %d controls "
                     "reach the stolen model's %.2f%% or more.\n", best, reach, n, value);
    return best;
}

/* ---- prune ---------------------------------------------------------------------------------- */

static int abs_cmp(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return a < b ? -1 : a > b;
}

/* Zeroes the `pct` percent of conv and connected weights (not biases) smallest in magnitude. */
static long prune_global(network *net, double pct)
{
    long total = 0;
    for(int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        if(l->type == CONVOLUTIONAL) total += l->nweights;
        if(l->type == CONNECTED) total += (long)l->inputs * l->outputs;
    }
    float *mag = malloc((size_t)(total ? total : 1) * sizeof *mag);
    if(!mag) dsn_die("out of memory");
    long k = 0;
    for(int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        long nw = l->type == CONVOLUTIONAL ? l->nweights : l->type == CONNECTED ? (long)l->inputs * l->outputs : 0;
        for(long j = 0; j < nw; ++j) mag[k++] = fabsf(l->weights[j]);
    }
    qsort(mag, (size_t)total, sizeof *mag, abs_cmp);
    long cut = (long)floor(pct / 100 * total + 0.5), zeroed = 0;
    float thr = cut > 0 ? mag[cut - 1] : -1;
    free(mag);
    for(int i = 0; i < net->n && cut > 0; ++i) {
        layer *l = &net->layers[i];
        long nw = l->type == CONVOLUTIONAL ? l->nweights : l->type == CONNECTED ? (long)l->inputs * l->outputs : 0;
        for(long j = 0; j < nw && zeroed < cut; ++j) {
            if(fabsf(l->weights[j]) <= thr) {
                l->weights[j] = 0;
                ++zeroed;
            }
        }
    }
    return zeroed;
}

int dsn_attack_prune(dsn_attack_ctx *a)
{
    double levels[DSN_ATTACK_MAX_LIST];
    int nl = dsn_attack_reals(a, "--levels", a->o->levels, levels, DSN_ATTACK_MAX_LIST);
    if(nl < 0) return -1;
    dsn_attack_md(a, "L1 global magnitude pruning: the given share of all convolution and fully connected weights (biases "
                     "kept), smallest magnitude first, no retraining.\n\n| pruned | with the serial | raw | trace names |\n"
                     "|---:|---:|---:|---|\n");
    json_t *rows = json_array();
    json_object_set_new(a->root, "rows", rows);
    dsn_input in = {&a->geo, &a->cert.serial, NULL};
    for(int i = 0; i < nl; ++i) {
        if(levels[i] < 0 || levels[i] > 100) return dsn_attack_fail(a, "--levels: %g is not a percentage", levels[i]);
        dsn_model m;
        if(dsn_attack_load_stolen(a, &m, a->o->batch) != 0) return -1;
        long zeroed = prune_global(m.net, levels[i]);
        dsn_eval_acc with = dsn_attack_test_acc(a, m.net, &in, -1), raw = dsn_attack_test_acc(a, m.net, NULL, -1);
        json_t *t = dsn_attack_trace(a, m.net);
        const char *named = t ? json_string_value(json_object_get(t, "found")) : NULL;
        dsn_attack_md(a, "| %g%% | %.2f | %.2f | %s |\n", levels[i], with.acc, raw.acc, t ? (named ? named : "nobody") : "-");
        json_t *row = json_pack("{s:f, s:I, s:f, s:[f, f], s:f, s:[f, f]}", "pruned_percent", levels[i], "weights_zeroed",
                                (json_int_t)zeroed, "with_serial", with.acc, "with_serial_ci95", with.lo, with.hi, "raw",
                                raw.acc, "raw_ci95", raw.lo, raw.hi);
        if(t) json_object_set_new(row, "trace", t);
        json_array_append_new(rows, row);
        char setting[96];
        snprintf(setting, sizeof setting, "%g%% pruned, raw input (with the serial %.2f)", levels[i], with.acc);
        headline(a, setting, raw.acc, 0, 0);
        dsn_model_free(&m);
    }
    int px[DSN_ATTACK_MAX_LIST];
    double pw[DSN_ATTACK_MAX_LIST], pr[DSN_ATTACK_MAX_LIST];
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        px[i] = (int)floor(json_number_value(json_object_get(row, "pruned_percent")) + 0.5);
        pw[i] = json_number_value(json_object_get(row, "with_serial"));
        pr[i] = json_number_value(json_object_get(row, "raw"));
    }
    dsn_panel panel = {{0}, 2, {{"with the serial", nl, px, pw, 0}, {"raw input", nl, px, pr, 1}}};
    snprintf(panel.title, sizeof panel.title, "L1 global pruning, %s", json_string_value(json_object_get(a->root, "name")));
    char name[256];
    snprintf(name, sizeof name, "attacks_prune_%s", json_string_value(json_object_get(a->root, "name")));
    if(dsn_attack_plot(a, name, "weights pruned (%)", "test accuracy (%)", &panel, 1) != 0) return -1;
    if(a->o->png_dir) dsn_attack_md(a, "\nAccuracy against the share pruned: `%s.png`.\n", name);
    dsn_attack_md(a, "\nPaper (Table 4, MNIST): 10-40%% pruned, about 98.4%% with the serial and about 9%% without.\n");
    return 0;
}

/* ---- keysearch ------------------------------------------------------------------------------- */

typedef struct key_rows { const dsn_geometry *geo; const dsn_serial *table; long first; int per; int c; } key_rows;

static void key_row(void *ctx, long row, float *im)
{
    const key_rows *k = ctx;
    dsn_stamp_apply(im, k->c, k->geo, &k->table[k->first + row / k->per]);
}

typedef struct scored { long correct; long index; } scored;

static int scored_cmp(const void *x, const void *y)
{
    const scored *a = x, *b = y;
    if(a->correct != b->correct) return a->correct > b->correct ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* A sealed model is tried the way its thief would: each candidate serial first unseals the weights
 * (a wrong one gives a different scramble), then is stamped; sealing again restores them exactly.
 * `keyed`: the seal (dsn_seal.h); version 0: the network is used as it is (an open model). */
typedef struct key_net { dsn_attack_ctx *a; network *net; dsn_seal_spec keyed; } key_net;

static int keyed(const key_net *k, const dsn_serial *sn, int direction)
{
    if(!k->keyed.version || dsn_seal_network(k->net, 0, k->net->n, sn, &k->keyed, direction) == 0) return 0;
    return dsn_attack_fail(k->a, "sealing failed (OpenSSL or memory)");
}

static int keyed_test_acc(const key_net *k, const dsn_serial *sn, dsn_eval_acc *acc)
{
    dsn_input in = {&k->a->geo, sn, NULL};
    if(keyed(k, sn, DSN_UNSEAL) != 0) return -1;
    *acc = dsn_attack_test_acc(k->a, k->net, &in, -1);
    return keyed(k, sn, DSN_SEAL);
}

/* One search's results: serials ranked by their screen, the finalists' best test accuracy. */
typedef struct key_search {
    long n_serials;
    int per, finalists;
    const dsn_serial *table;
    scored *sc;
    long *hist;          /* [per + 1] serials by images right              */
    double best, secs;   /* the finalists' best test accuracy; screen time */
    json_t *top;
} key_search;

/* Screens every serial of ks->table on the same `per` images (batched 4,096 serials at a time, one
 * at a time when each unseals), then tests the finalists. */
static int key_search_run(const key_net *k, key_search *ks, const int *pool)
{
    dsn_attack_ctx *a = k->a;
    const long chunk = k->keyed.version ? 1 : 4096;
    int m = ks->per;
    key_rows kr = {&a->geo, ks->table, 0, m, a->train.c};
    int *img = malloc((size_t)chunk * m * sizeof *img);
    uint8_t *ok = malloc((size_t)chunk * m);
    if(!img || !ok) dsn_die("out of memory");
    for(long i = 0; i < chunk * m; ++i) img[i] = pool[i % m];
    double t0 = now_seconds();
    for(long first = 0; first < ks->n_serials; first += chunk) {
        long n = ks->n_serials - first < chunk ? ks->n_serials - first : chunk;
        kr.first = first;
        if(keyed(k, &ks->table[first], DSN_UNSEAL) != 0) return -1;
        if(dsn_run_rows(k->net, &a->train, img, n * m, key_row, &kr, -1, ok, NULL) < 0) dsn_die("out of memory");
        if(keyed(k, &ks->table[first], DSN_SEAL) != 0) return -1;
        for(long s = 0; s < n; ++s) {
            long c = 0;
            for(int j = 0; j < m; ++j) c += ok[s * m + j];
            ks->sc[first + s] = (scored){c, first + s};
            ks->hist[c]++;
        }
    }
    ks->secs = now_seconds() - t0;
    free(img);
    free(ok);
    qsort(ks->sc, (size_t)ks->n_serials, sizeof *ks->sc, scored_cmp);
    ks->best = -1;
    ks->top = json_array();
    for(int f = 0; f < ks->finalists; ++f) {
        const dsn_serial *sn = &ks->table[ks->sc[f].index];
        dsn_eval_acc acc;
        if(keyed_test_acc(k, sn, &acc) != 0) return -1;
        char text[DSN_SERIAL_TEXT_MAX];
        dsn_serial_encode(text, sizeof text, sn);
        json_t *j = json_pack("{s:s, s:I, s:f}", "serial", text, "screen_correct", (json_int_t)ks->sc[f].correct, "test_acc", acc.acc);
        if(a->has_cert) json_object_set_new(j, "hamming", json_integer(dsn_serial_hamming(sn, &a->cert.serial)));
        json_array_append_new(ks->top, j);
        if(acc.acc > ks->best) ks->best = acc.acc;
    }
    return 0;
}

/* For the record, not a thief's move: the best of the serial's single-bit neighbours on the test
 * images (a sealed model unsealed with each). -1 without a certificate, -2 on failure. */
static double best_neighbour(const key_net *k)
{
    double best = -1;
    if(!k->a->has_cert) return -1;
    for(int b = 0; b < k->a->cert.serial.nbits; ++b) {
        dsn_serial nb = k->a->cert.serial;
        nb.bit[b] ^= 1;
        dsn_eval_acc acc;
        if(keyed_test_acc(k, &nb, &acc) != 0) return -2;
        if(acc.acc > best) best = acc.acc;
    }
    return best;
}

/* The control of a sealed model's search: the same serials unsealing a freshly initialised network
 * of the same architecture, i.e. the same search over random networks. -1 on failure. */
static int key_search_control(dsn_attack_ctx *a, key_search *ctl, const int *pool)
{
    dsn_model fresh;
    if(dsn_attack_fresh_net(a, &fresh, a->o->batch, (unsigned)dsn_attack_seed((uint64_t)a->o->seed, "keyctl", 0, 0)) != 0)
        return -1;
    key_net k = {a, fresh.net, dsn_attack_seal(a)};
    int rc = key_search_run(&k, ctl, pool);
    dsn_model_free(&fresh);
    return rc;
}

static void key_search_json(dsn_attack_ctx *a, const key_search *ks, const key_search *ctl, double raw, double nb)
{
    int m = ks->per, bits = a->geo.bits, min_h = bits;
    double rate = ks->secs > 0 ? ks->n_serials * m / ks->secs : 0;
    /* expected work: uniform search without replacement over 2^bits serials, A of which unlock */
    double space = pow(2.0, bits), e1 = (space + 1) / 2, eA = (space + 1) / (bits + 2);
    double years1 = rate > 0 ? e1 * m / rate / 3.15576e7 : -1, yearsA = rate > 0 ? eA * m / rate / 3.15576e7 : -1;
    json_t *jh = json_array();
    for(int c = 0; c <= m; ++c) json_array_append_new(jh, json_integer(ks->hist[c]));
    for(long i = 0; a->has_cert && i < ks->n_serials; ++i) {
        int h = dsn_serial_hamming(&ks->table[i], &a->cert.serial);
        if(h < min_h) min_h = h;
    }
    json_t *jk = json_pack("{s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:o, s:O, s:f, s:f, s:f, s:f, s:f, s:b}", "queries",
                           (json_int_t)(ks->n_serials * m), "serials", (json_int_t)ks->n_serials, "images_per_serial", m,
                           "finalists", ks->finalists, "best_test_acc", ks->best, "raw_test_acc", raw, "queries_per_second",
                           rate, "screen_histogram", jh, "top", ks->top, "expected_serials_one", e1, "expected_serials_ball",
                           eA, "expected_years_one", years1, "expected_years_ball", yearsA, "seconds", ks->secs,
                           "unsealed_per_serial", ctl != NULL);
    if(a->has_cert) json_object_set_new(jk, "nearest_hamming", json_integer(min_h));
    if(a->has_cert) json_object_set_new(jk, "best_single_bit_neighbour", json_real(nb));
    if(ctl) json_object_set_new(jk, "random_networks_best_test_acc", json_real(ctl->best));
    json_object_set_new(a->root, "keysearch", jk);
    char nearest[32] = "-";
    if(a->has_cert) snprintf(nearest, sizeof nearest, "%d bits away", min_h);
    if(ctl) dsn_attack_md(a, "The weights are sealed: each candidate serial unseals them first, as a thief who tries a serial "
                             "would run them. Control: the same serials unsealing a freshly initialised network of the "
                             "same architecture (the same search over random networks).\n\n");
    dsn_attack_md(a, "Random serials, each screened on the same %d labelled training images (one query = one image with one "
                     "serial), the %d best re-tested on the test images. %ld serials, %ld queries in %.1f s (%.0f queries/s).\n\n"
                     "| best screen | best test accuracy of the finalists | %s | nearest serial tried |\n|---:|---:|---:|---:|\n"
                     "| %ld/%d | %.2f | %.2f | %s |\n\n",
                  m, ks->finalists, ks->n_serials, ks->n_serials * m, ks->secs, rate,
                  ctl ? "control: random networks" : "raw input", ks->sc[0].correct, m, ks->best, ctl ? ctl->best : raw, nearest);
    dsn_attack_md(a, "Expected work for %d bits by uniform search: %.3g serials to hit the one serial (%.3g years at %d "
                     "queries per serial and this rate); %.3g serials (%.3g years) even if all %d single-bit neighbours "
                     "unlocked too.\n", bits, e1, years1, m, eA, yearsA, bits);
    if(a->has_cert)
        dsn_attack_md(a, "\nFor the record (a thief does not know them): the best of the serial's %d single-bit neighbours "
                         "reaches %.2f%% on the test images.\n", bits, nb);
}

int dsn_attack_keysearch(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    long Q = o->queries > 0 ? o->queries : 100000;
    int m = o->per_serial, F = o->finalists, bits = a->geo.bits;
    if(m < 1 || F < 1) return dsn_attack_fail(a, "--per-serial and --finalists must be >= 1");
    long N = Q / m;
    if(N < 1) return dsn_attack_fail(a, "--queries %ld is less than --per-serial %d", Q, m);
    if(N > 10000000) return dsn_attack_fail(a, "--queries %ld: at most 10^7 serials per run", Q);
    if(F > N) F = (int)N;
    int sealed = a->stolen.seal.version;
    int *pool = dsn_attack_subset(a, m, dsn_attack_seed((uint64_t)o->seed, "keypool", 0, 0));
    dsn_serial *table = malloc((size_t)N * sizeof *table);
    scored *sc = malloc((size_t)N * 2 * sizeof *sc);
    long *hist = calloc((size_t)(m + 1) * 2, sizeof *hist);
    if(!pool || !table || !sc || !hist) dsn_die("out of memory");
    dsn_serial ref = a->has_cert ? a->cert.serial : (dsn_serial){.nbits = bits};
    dsn_rng r;
    dsn_rng_stream(&r, dsn_attack_seed((uint64_t)o->seed, "keysearch", 0, 0), 1);
    dsn_eval_forged(table, (int)N, &ref, &r);
    dsn_attack_say(a, "%ld random serials x %d labelled training images = %ld queries%s", N, m, N * m,
                   sealed ? ", each serial unsealing the weights (and the same on a random network)" : "");
    key_net k = {a, a->stolen.net, a->stolen.seal};
    key_search ks = {N, m, F, table, sc, hist, -1, 0, NULL}, ctl = {N, m, F, table, sc + N, hist + m + 1, -1, 0, NULL};
    int rc = key_search_run(&k, &ks, pool);
    if(rc == 0 && sealed) rc = key_search_control(a, &ctl, pool);
    double nb = rc == 0 ? best_neighbour(&k) : -2;
    if(rc == 0 && nb >= -1) {
        double raw = json_number_value(json_object_get(json_object_get(a->root, "stolen"), "raw"));
        key_search_json(a, &ks, sealed ? &ctl : NULL, raw, nb);
        dsn_attack_subsampled(a, "%ld serials of 2^%d, each screened on %d images", N, bits, m);
        char setting[96];
        snprintf(setting, sizeof setting, "%ld queries of random serials: best test accuracy", N * m);
        headline(a, setting, ks.best, sealed ? ctl.best : raw, 1);
    }
    json_decref(ks.top);
    json_decref(ctl.top);
    free(pool);
    free(table);
    free(sc);
    free(hist);
    return rc == 0 && nb >= -1 ? 0 : -1;
}

/* ---- white-box: a continuous stamp by gradient descent ------------------------------------- */

/* RELU <-> LEAKY on every layer that has it (the surrogate); returns how many changed. */
static int swap_relu(network *net, ACTIVATION from, ACTIVATION to)
{
    int n = 0;
    for(int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if((l->type == CONVOLUTIONAL || l->type == CONNECTED) && l->activation == from) l->activation = to, ++n;
    }
    return n;
}

/* The next batch of the search: rows from idx (reshuffled every pass), the patch pasted, one-hot
 * labels; then Darknet's forward and backward passes with the input gradient into delta. */
typedef struct search_batch { const int *idx; int n, at; int *order; dsn_rng rng; } search_batch;

static void search_step(dsn_attack_ctx *a, network *net, search_batch *sb, const float *patch, float *delta)
{
    int B = net->batch, inputs = net->inputs, C = a->train.c;
    dsn_input in = {&a->geo, NULL, patch};
    for(int b = 0; b < B; ++b) {
        if(sb->at == sb->n) {
            for(int i = sb->n - 1; i > 0; --i) {
                int j = dsn_rng_below(&sb->rng, i + 1), t = sb->order[i];
                sb->order[i] = sb->order[j];
                sb->order[j] = t;
            }
            sb->at = 0;
        }
        int im = sb->idx[sb->order[sb->at++]];
        float *row = net->input + (size_t)b * inputs;
        memcpy(row, a->train.x + (size_t)im * inputs, (size_t)inputs * sizeof(float));
        dsn_input_apply(row, C, &in);
        float *t = net->truth + (size_t)b * net->truths;
        memset(t, 0, (size_t)net->truths * sizeof(float));
        t[a->train.label[im]] = 1;
    }
    memset(delta, 0, (size_t)B * inputs * sizeof *delta);
    net->train = 1;
    forward_network(net);
    backward_network(net);
    net->train = 0;
}

/* The search left weight gradients in the layers; nothing applies them, but a later user of the
 * network must start clean. */
static void clear_updates(network *net)
{
    for(int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if(l->type == CONVOLUTIONAL && l->weight_updates) memset(l->weight_updates, 0, (size_t)l->nweights * sizeof(float));
        if(l->type == CONNECTED && l->weight_updates) memset(l->weight_updates, 0, (size_t)l->inputs * l->outputs * sizeof(float));
        if((l->type == CONVOLUTIONAL || l->type == CONNECTED) && l->bias_updates)
            memset(l->bias_updates, 0, (size_t)(l->type == CONVOLUTIONAL ? l->n : l->outputs) * sizeof(float));
    }
}

double dsn_attack_patch_search(dsn_attack_ctx *a, const int *idx, int n, const dsn_patch_opts *po, float *params,
                               float *patch)
{
    network *net = a->stolen.net;
    const dsn_geometry *g = &a->geo;
    int C = a->train.c, B = net->batch, inputs = net->inputs, per_cell = po->per_cell;
    int P = per_cell ? g->bits : dsn_patch_size(g, C), psize = dsn_patch_size(g, C);
    float *m1 = calloc((size_t)P, sizeof *m1), *v1 = calloc((size_t)P, sizeof *v1);
    float *gpatch = malloc((size_t)psize * sizeof *gpatch), *gp = malloc((size_t)P * sizeof *gp);
    float *delta = calloc((size_t)B * inputs, sizeof *delta);
    search_batch sb = {idx, n, n, malloc((size_t)n * sizeof(int)), {0}};
    if(!m1 || !v1 || !gpatch || !gp || !delta || !sb.order) dsn_die("out of memory");
    dsn_rng_stream(&sb.rng, dsn_attack_seed(po->seed, "patch", per_cell, 0), 1);
    double s0 = 0.5, result = -1;
    int random = po->start && strcmp(po->start, "random") == 0, swapped = 0;
    if(!po->init && !random && (dsn_parse_real(po->start ? po->start : "0.5", &s0) != 0 || s0 < 0 || s0 > 1)) {
        dsn_attack_fail(a, "--starts: '%s' is not 0..1 or random", po->start);
        goto done;
    }
    for(int i = 0; i < P; ++i) params[i] = po->init ? po->init[i] : random ? dsn_rng_uniform(&sb.rng) : (float)s0;
    for(int i = 0; i < n; ++i) sb.order[i] = i;
    float *saved_delta = net->delta;
    net->delta = delta;
    for(int step = 1; step <= po->steps; ++step) {
        if(step == 1 && po->surrogate_steps > 0) swapped = swap_relu(net, RELU, LEAKY);
        if(step == po->surrogate_steps + 1 && swapped) swap_relu(net, LEAKY, RELU), swapped = 0;
        if(per_cell) dsn_patch_from_cells(patch, params, g, C);
        else memcpy(patch, params, (size_t)psize * sizeof *patch);
        search_step(a, net, &sb, patch, delta);
        dsn_patch_gradient(gpatch, delta, B, inputs, g, C);
        if(per_cell) dsn_patch_grad_to_cells(gp, gpatch, g, C);
        else memcpy(gp, gpatch, (size_t)P * sizeof *gp);
        float c1 = 1 - powf(0.9f, (float)step), c2 = 1 - powf(0.999f, (float)step);   /* Adam, descent, clamped */
        for(int i = 0; i < P; ++i) {
            if(po->fixed && po->fixed[i]) continue;
            m1[i] = 0.9f * m1[i] + 0.1f * gp[i];
            v1[i] = 0.999f * v1[i] + 0.001f * gp[i] * gp[i];
            float p = params[i] - (float)po->lr * (m1[i] / c1) / (sqrtf(v1[i] / c2) + 1e-8f);
            params[i] = p < 0 ? 0 : p > 1 ? 1 : p;
        }
    }
    if(swapped) swap_relu(net, LEAKY, RELU);
    net->delta = saved_delta;
    clear_updates(net);
    if(per_cell) dsn_patch_from_cells(patch, params, g, C);
    else memcpy(patch, params, (size_t)psize * sizeof *patch);
    dsn_input in = {g, NULL, patch};
    long right = dsn_run_images(net, &a->train, idx, n, &in, -1, NULL, NULL);
    result = right < 0 ? -1 : 100.0 * right / n;
done:
    free(m1), free(v1), free(gpatch), free(gp), free(delta), free(sb.order);
    return result;
}

/* ---- the patch in ordinary image files, through darknet classifier valid ------------------- */

static void darknet_path(dsn_attack_ctx *a, char *out, size_t len)
{
    if(a->o->darknet) {
        snprintf(out, len, "%s", a->o->darknet);
        return;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if(n <= 0) {
        snprintf(out, len, "darknet");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if(slash) *slash = '\0';
    snprintf(out, len, "%.4000s/darknet", self);
}

/* A fresh directory whose path contains no label name (Darknet matches labels as substrings). */
static int label_safe_tmpdir(dsn_attack_ctx *a, char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    for(int tries = 0; tries < 20; ++tries) {
        snprintf(dir, len, "%s/dsn-patched-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if(!mkdtemp(dir)) return dsn_attack_fail(a, "cannot create a temporary directory: %s", strerror(errno));
        int clash = 0;
        for(int k = 0; k < a->test.classes; ++k) clash |= strstr(dir, a->test.names[k]) != NULL;
        if(!clash) return 0;
        rmdir(dir);
    }
    return dsn_attack_fail(a, "cannot find a temporary directory name free of the label names");
}

/* n test images with the patch pasted, as 8-bit PNGs named for their label, their list, the
 * labels and a .data file in dir. Returns 0, or -1 with why set. */
static int write_patched_set(dsn_attack_ctx *a, const float *patch, int n, const char *dir, char *why, size_t wlen)
{
    char path[4352];
    int W = a->test.w, H = a->test.h, C = a->test.c, inputs = W * H * C, rc = -1;
    float *row = malloc((size_t)inputs * sizeof *row);
    dsn_image im = {W, H, C, malloc((size_t)inputs)};
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *list = fopen(path, "w"), *lf = NULL, *df = NULL;
    if(!row || !im.data || !list) {
        snprintf(why, wlen, "cannot write in %.300s", dir);
        goto done;
    }
    dsn_input in = {&a->geo, NULL, patch};
    for(int i = 0; i < n; ++i) {
        memcpy(row, a->test.x + (size_t)i * inputs, (size_t)inputs * sizeof(float));
        dsn_input_apply(row, C, &in);
        for(int y = 0; y < H; ++y) {
            for(int x = 0; x < W; ++x) {
                for(int k = 0; k < C; ++k) {
                    float v = row[((size_t)k * H + y) * W + x] * 255.0f + 0.5f;
                    im.data[((size_t)y * W + x) * C + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
        snprintf(path, sizeof path, "%s/p%05d_%s.png", dir, i, a->test.names[a->test.label[i]]);
        if(dsn_image_save(&im, path) != 0) {
            snprintf(why, wlen, "cannot write %.300s", path);
            goto done;
        }
        fprintf(list, "%s\n", path);
    }
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    lf = fopen(path, "w");
    for(int k = 0; lf && k < a->test.classes; ++k) fprintf(lf, "%s\n", a->test.names[k]);
    snprintf(path, sizeof path, "%s/set.data", dir);
    df = fopen(path, "w");
    if(df) fprintf(df, "classes=%d\nvalid=%s/list.txt\nlabels=%s/labels.txt\ntop=1\n", a->test.classes, dir, dir);
    rc = lf && df ? 0 : -1;
    if(rc != 0) snprintf(why, wlen, "cannot write the lists in %.300s", dir);
done:
    if(list && fclose(list) != 0) rc = -1;
    if(lf && fclose(lf) != 0) rc = -1;
    if(df && fclose(df) != 0) rc = -1;
    free(row);
    free(im.data);
    return rc;
}

/* `darknet classifier valid DIR/set.data cfg weights`, no serial: its last top-1 line. */
static double run_valid(dsn_attack_ctx *a, const char *darknet, const char *dir, char *why, size_t wlen)
{
    char data[4352], logp[4352];
    snprintf(data, sizeof data, "%s/set.data", dir);
    snprintf(logp, sizeof logp, "%s/valid.log", dir);
    pid_t pid = fork();
    if(pid == 0) {
        FILE *lg = fopen(logp, "w");
        if(lg) {
            dup2(fileno(lg), 1);
            dup2(fileno(lg), 2);
        }
        unsetenv("DSN_SERIAL");
        execl(darknet, darknet, "classifier", "valid", data, a->o->cfg, a->o->weights, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while(pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    size_t len;
    char err[256];
    char *log = dsn_read_file_err(logp, 64u << 20, &len, err, sizeof err);
    const char *last = NULL;
    for(const char *p = log; p && (p = strstr(p, "top 1: ")); p += 7) last = p;
    double acc = -1;
    if(pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !last)
        snprintf(why, wlen, "darknet classifier valid failed (exit %d); log: %.300s", WIFEXITED(st) ? WEXITSTATUS(st) : -1, logp);
    else
        acc = 100 * atof(last + 7), unlink(logp);
    free(log);
    return acc;
}

/* Writes n test images with the patch pasted as 8-bit PNGs and runs `darknet classifier valid`
 * on them with the stolen cfg and weights and no serial. Returns its top-1 accuracy (percent),
 * or -1 with why in `why` (the directory is then kept for a look). */
static double patched_pngs_valid(dsn_attack_ctx *a, const float *patch, int n, char *why, size_t wlen)
{
    char dir[4096], path[4352], darknet[4096];
    if(n > a->test.n) n = a->test.n;
    darknet_path(a, darknet, sizeof darknet);
    if(access(darknet, X_OK) != 0) {
        snprintf(why, wlen, "no darknet binary at %.300s (--darknet PATH)", darknet);
        return -1;
    }
    if(label_safe_tmpdir(a, dir, sizeof dir) != 0) {
        snprintf(why, wlen, "%s", a->err);
        return -1;
    }
    double acc = -1;
    if(write_patched_set(a, patch, n, dir, why, wlen) == 0) acc = run_valid(a, darknet, dir, why, wlen);
    if(acc < 0) return -1;
    for(int i = 0; i < n; ++i) {
        snprintf(path, sizeof path, "%s/p%05d_%s.png", dir, i, a->test.names[a->test.label[i]]);
        unlink(path);
    }
    static const char *const extra[] = {"list.txt", "labels.txt", "set.data"};
    for(int i = 0; i < DSN_COUNT(extra); ++i) {
        snprintf(path, sizeof path, "%s/%s", dir, extra[i]);
        unlink(path);
    }
    rmdir(dir);
    return acc;
}

/* ---- reverse ---------------------------------------------------------------------------------- */

static void binarise(dsn_serial *s, const float *cells, int bits)
{
    memset(s, 0, sizeof *s);
    s->nbits = bits;
    for(int i = 0; i < bits; ++i) s->bit[i] = cells[i] > 0.5f;
}

static json_t *cells_json(const float *v, int n)
{
    json_t *arr = json_array();
    for(int i = 0; i < n; ++i) json_array_append_new(arr, json_real(floor(v[i] * 1e4 + 0.5) / 1e4));
    return arr;
}

typedef struct patch_result {
    double pool_acc, test_cont, test_bin;
    int hamming;
    dsn_serial bin;
} patch_result;

static void measure_patch(dsn_attack_ctx *a, const float *cells, const float *patch, patch_result *r)
{
    dsn_input in = {&a->geo, NULL, patch};
    r->test_cont = dsn_attack_test_acc(a, a->stolen.net, &in, -1).acc;
    binarise(&r->bin, cells, a->geo.bits);
    dsn_input ib = {&a->geo, &r->bin, NULL};
    r->test_bin = dsn_attack_test_acc(a, a->stolen.net, &ib, -1).acc;
    r->hamming = a->has_cert ? dsn_serial_hamming(&r->bin, &a->cert.serial) : -1;
}

/* Fix round_bits bits at a time (the most decided ones), re-optimising the rest in between. */
static int progressive(dsn_attack_ctx *a, const int *pool, int n_pool, const float *start_cells, double lr, int surrogate,
                       float *cells, float *patch, int *rounds_out)
{
    int bits = a->geo.bits, per = a->o->round_bits > 0 ? a->o->round_bits : 1, rounds = 0;
    int steps = a->o->steps / 10 > 20 ? a->o->steps / 10 : 20;
    uint8_t *fixed = calloc((size_t)bits, 1);
    if(!fixed) dsn_die("out of memory");
    memcpy(cells, start_cells, (size_t)bits * sizeof *cells);
    for(int nfixed = 0; nfixed < bits; ++rounds) {
        for(int k = 0; k < per && nfixed < bits; ++k) {
            int best = -1;
            for(int i = 0; i < bits; ++i) {
                if(!fixed[i] && (best < 0 || fabsf(cells[i] - 0.5f) > fabsf(cells[best] - 0.5f))) best = i;
            }
            fixed[best] = 1;
            cells[best] = cells[best] > 0.5f ? 1.0f : 0.0f;
            ++nfixed;
        }
        if(nfixed == bits) break;
        float *init = malloc((size_t)bits * sizeof *init);
        if(!init) dsn_die("out of memory");
        memcpy(init, cells, (size_t)bits * sizeof *init);
        dsn_patch_opts po = {init, NULL, 1, steps, surrogate ? steps / 2 : 0, lr,
                             dsn_attack_seed((uint64_t)a->o->seed, "round", rounds, 0), fixed};
        double acc = dsn_attack_patch_search(a, pool, n_pool, &po, cells, patch);
        free(init);
        if(acc < 0) {
            free(fixed);
            return -1;
        }
    }
    dsn_patch_from_cells(patch, cells, &a->geo, a->train.c);
    free(fixed);
    *rounds_out = rounds + 1;
    return 0;
}

/* The white-box search's working state. */
typedef struct reverse_state {
    int *pool, n_pool, bits, psize;
    double lr, best_pool;
    float *cells, *best_cells, *patch, *best_patch;
    patch_result best;
    char best_start[32];
    int best_sur;
} reverse_state;

/* One start of the white-box search (its seed from the start and the surrogate) into rs->cells
 * and rs->patch; the accuracy on the attacker's images, -1 on failure. */
static double run_start(dsn_attack_ctx *a, reverse_state *rs, const char *start, int sur)
{
    const dsn_attack_opts *o = a->o;
    dsn_patch_opts po = {NULL, start, 1, o->steps, sur ? o->steps / 2 : 0, rs->lr,
                         dsn_attack_seed((uint64_t)o->seed, start, sur, 0), NULL};
    return dsn_attack_patch_search(a, rs->pool, rs->n_pool, &po, rs->cells, rs->patch);
}

/* The control's run: every start on the network in a->stolen (a control), the best by the
 * attacker's images as for the stolen model, measured on the test images once; its continuous
 * test accuracy, -1 on failure. */
typedef struct reverse_control { reverse_state *rs; json_t *runs; float *cells, *patch; } reverse_control;

static double reverse_on_control(dsn_attack_ctx *a, void *ctx, const char *kind)
{
    reverse_control *c = ctx;
    reverse_state *rs = c->rs;
    char starts[256];
    snprintf(starts, sizeof starts, "%s", a->o->starts);
    patch_result best = {.pool_acc = -1};
    for(char *save = NULL, *p = strtok_r(starts, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        for(int sur = 0; sur < 2; ++sur) {
            double acc = run_start(a, rs, p, sur);
            if(acc < 0) return -1;
            if(acc <= best.pool_acc) continue;
            best.pool_acc = acc;
            memcpy(c->cells, rs->cells, (size_t)rs->bits * sizeof *c->cells);
            memcpy(c->patch, rs->patch, (size_t)rs->psize * sizeof *c->patch);
        }
    }
    measure_patch(a, c->cells, c->patch, &best);
    double raw = dsn_attack_test_acc(a, a->stolen.net, NULL, -1).acc;
    json_array_append_new(c->runs, json_pack("{s:s, s:f, s:f, s:f, s:f}", "network", kind, "raw", raw, "attacker_images_acc",
                                             best.pool_acc, "test_continuous", best.test_cont, "test_binarised", best.test_bin));
    return best.test_cont;
}

/* Every start, through the true network and with the leaky surrogate first; keeps the best by
 * the accuracy on the attacker's own images (the test set is the owner's, never the attacker's). */
static int reverse_starts(dsn_attack_ctx *a, reverse_state *rs)
{
    const dsn_attack_opts *o = a->o;
    char starts[256];
    snprintf(starts, sizeof starts, "%s", o->starts);
    json_t *js = json_array();
    rs->best_pool = -1;
    for(char *save = NULL, *p = strtok_r(starts, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        for(int sur = 0; sur < 2; ++sur) {
            dsn_attack_say(a, "start %s%s: %d steps", p, sur ? " with the leaky surrogate" : "", o->steps);
            double t0 = now_seconds();
            patch_result r;
            r.pool_acc = run_start(a, rs, p, sur);
            if(r.pool_acc < 0) {
                json_decref(js);
                return -1;
            }
            measure_patch(a, rs->cells, rs->patch, &r);
            char ham[16] = "-";
            if(r.hamming >= 0) snprintf(ham, sizeof ham, "%d", r.hamming);
            dsn_attack_md(a, "| %s | %s | %.2f | %.2f | %s | %.2f |\n", p, sur ? "leaky, then true" : "true", r.pool_acc,
                          r.test_cont, ham, r.test_bin);
            json_t *j = json_pack("{s:s, s:b, s:f, s:f, s:f, s:f, s:o}", "start", p, "surrogate", sur, "attacker_images_acc",
                                  r.pool_acc, "test_continuous", r.test_cont, "test_binarised", r.test_bin, "seconds",
                                  now_seconds() - t0, "cells", cells_json(rs->cells, rs->bits));
            if(r.hamming >= 0) json_object_set_new(j, "hamming", json_integer(r.hamming));
            json_array_append_new(js, j);
            if(r.pool_acc > rs->best_pool) {
                rs->best_pool = r.pool_acc;
                rs->best = r;
                rs->best_sur = sur;
                snprintf(rs->best_start, sizeof rs->best_start, "%s", p);
                memcpy(rs->best_cells, rs->cells, (size_t)rs->bits * sizeof *rs->cells);
                memcpy(rs->best_patch, rs->patch, (size_t)rs->psize * sizeof *rs->patch);
            }
        }
    }
    json_object_set_new(a->root, "starts", js);
    if(rs->best_pool < 0) return dsn_attack_fail(a, "--starts: give at least one start");
    json_object_set_new(a->root, "best_start", json_string(rs->best_start));
    json_object_set_new(a->root, "best_surrogate", json_boolean(rs->best_sur));
    return 0;
}

/* Per pixel (and channel): different from per cell only when a cell has several pixels. */
static int reverse_per_pixel(dsn_attack_ctx *a, reverse_state *rs)
{
    const dsn_attack_opts *o = a->o;
    if(rs->psize == rs->bits) {
        dsn_attack_md(a, "\nA per-pixel patch is the per-cell patch here: each cell is one pixel of one channel.\n");
        json_object_set_new(a->root, "per_pixel", json_pack("{s:i, s:s}", "parameters", rs->psize, "note", "identical to per cell"));
        return 0;
    }
    dsn_attack_say(a, "per-pixel patch: %d parameters", rs->psize);
    float *pix = malloc((size_t)rs->psize * sizeof *pix);
    if(!pix) dsn_die("out of memory");
    dsn_patch_opts po = {NULL, rs->best_start, 0, o->steps, rs->best_sur ? o->steps / 2 : 0, rs->lr,
                         dsn_attack_seed((uint64_t)o->seed, "pixel", 0, 0), NULL};
    double pool_acc = dsn_attack_patch_search(a, rs->pool, rs->n_pool, &po, pix, rs->patch);
    free(pix);
    if(pool_acc < 0) return -1;
    dsn_input in = {&a->geo, NULL, rs->patch};
    double test = dsn_attack_test_acc(a, a->stolen.net, &in, -1).acc;
    dsn_attack_md(a, "| per pixel, from %s | %s | %.2f | %.2f | - | - |\n", rs->best_start,
                  rs->best_sur ? "leaky, then true" : "true", pool_acc, test);
    json_object_set_new(a->root, "per_pixel", json_pack("{s:i, s:f, s:f}", "parameters", rs->psize, "attacker_images_acc",
                                                        pool_acc, "test_continuous", test));
    return 0;
}

/* The best continuous patch in ordinary files, through stock darknet without -serial. */
static void reverse_png(dsn_attack_ctx *a, reverse_state *rs)
{
    char why[512] = "";
    int npng = a->o->png_images < a->test.n ? a->o->png_images : a->test.n;
    if(npng <= 0) return;
    double png_acc = patched_pngs_valid(a, rs->best_patch, npng, why, sizeof why);
    if(png_acc >= 0) {
        dsn_attack_md(a, "\nThe best continuous patch pasted into %d test images saved as 8-bit PNGs, run through `darknet "
                         "classifier valid` with the stolen cfg and weights and no serial: %.2f%% top-1 (the layer only warns).\n",
                      npng, png_acc);
        json_object_set_new(a->root, "png_valid", json_pack("{s:i, s:f}", "images", npng, "top1", png_acc));
    } else {
        dsn_attack_say(a, "warning: patched PNGs not measured: %s", why);
        dsn_attack_md(a, "\nPatched PNGs through darknet: not measured (%s).\n", why);
        json_object_set_new(a->root, "png_valid", json_pack("{s:s}", "error", why));
    }
}

int dsn_attack_reverse(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    reverse_state rs;
    memset(&rs, 0, sizeof rs);
    if(dsn_parse_real(o->patch_lr, &rs.lr) != 0 || rs.lr <= 0) return dsn_attack_fail(a, "--patch-lr %s is not a positive number", o->patch_lr);
    rs.n_pool = o->images < a->train.n ? o->images : a->train.n;
    rs.bits = a->geo.bits;
    rs.psize = dsn_patch_size(&a->geo, a->train.c);
    rs.pool = dsn_attack_subset(a, rs.n_pool, dsn_attack_seed((uint64_t)o->seed, "pool", 0, 0));
    rs.cells = malloc((size_t)rs.bits * sizeof *rs.cells);
    rs.best_cells = malloc((size_t)rs.bits * sizeof *rs.best_cells);
    rs.patch = malloc((size_t)rs.psize * sizeof *rs.patch);
    rs.best_patch = malloc((size_t)rs.psize * sizeof *rs.best_patch);
    if(!rs.pool || !rs.cells || !rs.best_cells || !rs.patch || !rs.best_patch) dsn_die("out of memory");
    double raw = json_number_value(json_object_get(json_object_get(a->root, "stolen"), "raw"));
    dsn_attack_md(a, "White-box: the stamp region's %d cells optimised as continuous values in [0,1] by Adam on the "
                     "input gradient of the cross-entropy through the stolen network (Darknet's backward pass), %d steps of "
                     "%d images from %d labelled training images, step %g; the surrogate runs the first half of the steps "
                     "with leaky ReLUs (a gradient through units dead on every image), then the true network. Then rounded "
                     "to bits.\n\n| start | gradient through | attacker's images | test, continuous patch | binarised: Hamming "
                     "to the serial | test, binarised |\n|---|---|---:|---:|---:|---:|\n",
                  rs.bits, o->steps, a->stolen.net->batch, rs.n_pool, rs.lr);
    int rc = -1, rounds = 0;
    patch_result pr;
    if(reverse_starts(a, &rs) != 0 || reverse_per_pixel(a, &rs) != 0) goto done;
    dsn_attack_say(a, "progressive rounding from start %s, %d bit(s) per round", rs.best_start, o->round_bits);
    if(progressive(a, rs.pool, rs.n_pool, rs.best_cells, rs.lr, rs.best_sur, rs.cells, rs.patch, &rounds) != 0) goto done;
    measure_patch(a, rs.cells, rs.patch, &pr);
    char ham[16] = "-";
    if(pr.hamming >= 0) snprintf(ham, sizeof ham, "%d", pr.hamming);
    dsn_attack_md(a, "\nProgressive rounding (from start %s: fix the %d most decided bit(s), re-optimise the others for %d "
                     "steps, %d rounds): Hamming %s to the serial, test accuracy %.2f%%.\n",
                  rs.best_start, o->round_bits, o->steps / 10 > 20 ? o->steps / 10 : 20, rounds, ham, pr.test_bin);
    json_t *jp = json_pack("{s:i, s:i, s:f, s:o}", "rounds", rounds, "bits_per_round", o->round_bits, "test_binarised",
                           pr.test_bin, "cells", cells_json(rs.cells, rs.bits));
    if(pr.hamming >= 0) json_object_set_new(jp, "hamming", json_integer(pr.hamming));
    json_object_set_new(a->root, "progressive", jp);
    reverse_png(a, &rs);
    json_t *jb = json_pack("{s:s, s:f, s:f, s:f, s:i, s:o}", "start", rs.best_start, "test_continuous", rs.best.test_cont,
                           "test_binarised", rs.best.test_bin, "raw", raw, "hamming", rs.best.hamming, "cells",
                           cells_json(rs.best_cells, rs.bits));
    json_object_set_new(a->root, "best", jb);
    double ctl[2 * DSN_ATTACK_MAX_CONTROLS], best_ctl;
    reverse_control rc_ctx = {&rs, json_array(), malloc((size_t)rs.bits * sizeof(float)), malloc((size_t)rs.psize * sizeof(float))};
    if(!rc_ctx.cells || !rc_ctx.patch) dsn_die("out of memory");
    int ctl_rc = run_controls(a, "reversectl", reverse_on_control, &rc_ctx, ctl, &best_ctl);
    free(rc_ctx.cells), free(rc_ctx.patch);
    if(ctl_rc != 0) {
        json_decref(rc_ctx.runs);
        goto done;
    }
    double base = controls_report(a, jb, rc_ctx.runs, ctl, best_ctl, raw, rs.best.test_cont);
    const char *bname = a->o->controls > 0 ? "the controls" : "raw";
    char setting[160];
    snprintf(setting, sizeof setting, "continuous patch, %d labelled images (best of the starts; baseline: %s)", rs.n_pool, bname);
    headline(a, setting, rs.best.test_cont, base, 1);
    snprintf(setting, sizeof setting, "progressively binarised patch, Hamming %s to the serial (baseline: %s)", ham, bname);
    headline(a, setting, pr.test_bin, base, 1);
    rc = 0;
done:
    free(rs.pool), free(rs.cells), free(rs.best_cells), free(rs.patch), free(rs.best_patch);
    return rc;
}

/* ---- black-box: NES on output probabilities ----------------------------------------------- */

#define NES_PAIRS 5        /* antithetic pairs per step    */
#define NES_IMAGES 10      /* images per evaluation        */
#define NES_SIGMA 0.1f     /* perturbation scale           */

typedef struct nes_rows { const dsn_geometry *geo; const float *patches; int psize, per, c; } nes_rows;

static void nes_row(void *ctx, long row, float *im)
{
    const nes_rows *x = ctx;
    dsn_input in = {x->geo, NULL, x->patches + (size_t)(row / x->per) * x->psize};
    dsn_input_apply(im, x->c, &in);
}

/* One NES step: the gradient estimate from K antithetic pairs' scores f, then an Adam ascent on
 * the cells theta (moments m1, v1), kept in [0, 1]. */
static void nes_step(float *theta, float *m1, float *v1, const float *u, const float *f, int bits, int K, float sigma,
                     float lr, long step)
{
    float c1 = 1 - powf(0.9f, (float)step), c2 = 1 - powf(0.999f, (float)step);
    for(int i = 0; i < bits; ++i) {
        float g = 0;
        for(int k = 0; k < K; ++k) g += (f[2 * k] - f[2 * k + 1]) * u[k * bits + i];
        g /= 2 * sigma * K;
        m1[i] = 0.9f * m1[i] + 0.1f * g;
        v1[i] = 0.999f * v1[i] + 0.001f * g * g;
        float p = theta[i] + lr * (m1[i] / c1) / (sqrtf(v1[i] / c2) + 1e-8f);   /* ascent */
        theta[i] = p < 0 ? 0 : p > 1 ? 1 : p;
    }
}

/* One NES search on a->stolen.net from all-0.5: theta (bits cells) ends as the found patch; with
 * cx/cy, the test accuracy every 10 steps (nc points). Returns the queries made. */
typedef struct nes_search { long steps; int n_pool; const int *pool; double lr; float *theta; int *cx; double *cy; int nc; } nes_search;

static long nes_run(dsn_attack_ctx *a, nes_search *ns)
{
    const int K = NES_PAIRS, b = NES_IMAGES;
    int bits = a->geo.bits, C = a->train.c, psize = dsn_patch_size(&a->geo, C), classes = a->train.classes;
    float *u = malloc((size_t)K * bits * sizeof *u), *cand = malloc((size_t)2 * K * bits * sizeof *cand);
    float *patches = malloc((size_t)2 * K * psize * sizeof *patches), *probs = malloc((size_t)2 * K * b * classes * sizeof *probs);
    float *m1 = calloc((size_t)bits, sizeof *m1), *v1 = calloc((size_t)bits, sizeof *v1), *patch = malloc((size_t)psize * sizeof *patch);
    int *img = malloc((size_t)2 * K * b * sizeof *img);
    if(!u || !cand || !patches || !probs || !m1 || !v1 || !patch || !img) dsn_die("out of memory");
    dsn_rng r;
    dsn_rng_stream(&r, dsn_attack_seed((uint64_t)a->o->seed, "nes", 0, 0), 1);
    for(int i = 0; i < bits; ++i) ns->theta[i] = 0.5f;
    nes_rows nr = {&a->geo, patches, psize, b, C};
    int curve_n = a->o->curve_images < a->n_test ? a->o->curve_images : a->n_test;
    long queries = 0;
    ns->nc = 0;
    for(long step = 1; step <= ns->steps; ++step) {
        for(int j = 0; j < b; ++j) {
            int im = ns->pool[dsn_rng_below(&r, ns->n_pool)];
            for(int c = 0; c < 2 * K; ++c) img[c * b + j] = im;
        }
        for(int k = 0; k < K; ++k) {
            for(int i = 0; i < bits; ++i) {
                float e = (float)dsn_rng_normal(&r);
                u[k * bits + i] = e;
                float p = ns->theta[i] + NES_SIGMA * e, q = ns->theta[i] - NES_SIGMA * e;
                cand[(2 * k) * bits + i] = p < 0 ? 0 : p > 1 ? 1 : p;
                cand[(2 * k + 1) * bits + i] = q < 0 ? 0 : q > 1 ? 1 : q;
            }
        }
        for(int c = 0; c < 2 * K; ++c) dsn_patch_from_cells(patches + (size_t)c * psize, cand + (size_t)c * bits, &a->geo, C);
        if(dsn_run_rows(a->stolen.net, &a->train, img, 2L * K * b, nes_row, &nr, -1, NULL, probs) < 0) dsn_die("out of memory");
        queries += 2L * K * b;
        float f[2 * NES_PAIRS];
        for(int c = 0; c < 2 * K; ++c) {
            double sum = 0;
            for(int j = 0; j < b; ++j) sum += log(probs[((size_t)c * b + j) * classes + a->train.label[img[c * b + j]]] + 1e-12);
            f[c] = (float)(sum / b);
        }
        nes_step(ns->theta, m1, v1, u, f, bits, K, NES_SIGMA, (float)ns->lr, step);
        if(ns->cx && (step % 10 == 0 || step == ns->steps)) {
            dsn_patch_from_cells(patch, ns->theta, &a->geo, C);
            dsn_input in = {&a->geo, NULL, patch};
            long right = dsn_run_images(a->stolen.net, &a->test, NULL, curve_n, &in, -1, NULL, NULL);
            ns->cx[ns->nc] = (int)queries;
            ns->cy[ns->nc++] = 100.0 * right / curve_n;
        }
    }
    free(u), free(cand), free(patches), free(probs), free(m1), free(v1), free(patch), free(img);
    return queries;
}

/* The control's run: the same search on the network in a->stolen (a fresh one), no curve. */
typedef struct nes_control { nes_search ns; json_t *runs; } nes_control;

/* measure_patch for a patch given by its cells. */
static void measure_cells(dsn_attack_ctx *a, const float *cells, patch_result *r)
{
    float *patch = malloc((size_t)dsn_patch_size(&a->geo, a->train.c) * sizeof *patch);
    if(!patch) dsn_die("out of memory");
    dsn_patch_from_cells(patch, cells, &a->geo, a->train.c);
    measure_patch(a, cells, patch, r);
    free(patch);
}

static double blackbox_on_control(dsn_attack_ctx *a, void *ctx, const char *kind)
{
    nes_control *c = ctx;
    nes_run(a, &c->ns);
    patch_result res;
    measure_cells(a, c->ns.theta, &res);
    double raw = dsn_attack_test_acc(a, a->stolen.net, NULL, -1).acc;
    json_array_append_new(c->runs, json_pack("{s:s, s:f, s:f, s:f}", "network", kind, "raw", raw, "test_continuous",
                                             res.test_cont, "test_binarised", res.test_bin));
    return res.test_cont;
}

/* The black-box report: JSON, markdown, the curve's plot; the controls; the headline. */
static int blackbox_report(dsn_attack_ctx *a, const nes_search *ns, long queries, const patch_result *res, nes_control *ctl)
{
    int bits = a->geo.bits;
    double raw = json_number_value(json_object_get(json_object_get(a->root, "stolen"), "raw")), acc[2 * DSN_ATTACK_MAX_CONTROLS];
    json_t *curve = json_array();
    for(int i = 0; i < ns->nc; ++i) json_array_append_new(curve, json_pack("[i, f]", ns->cx[i], ns->cy[i]));
    json_t *j = json_pack("{s:I, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:o, s:o}", "queries", (json_int_t)queries, "pairs",
                          NES_PAIRS, "images_per_evaluation", NES_IMAGES, "sigma", (double)NES_SIGMA, "step", ns->lr,
                          "test_continuous", res->test_cont, "test_binarised", res->test_bin, "raw", raw, "curve", curve,
                          "cells", cells_json(ns->theta, bits));
    if(res->hamming >= 0) json_object_set_new(j, "hamming", json_integer(res->hamming));
    json_object_set_new(a->root, "blackbox", j);
    char ham[16] = "-";
    if(res->hamming >= 0) snprintf(ham, sizeof ham, "%d", res->hamming);
    dsn_attack_md(a, "Black-box: only the output probabilities. NES (natural evolution strategies) on the %d cells from all-0.5: "
                     "each step %d antithetic Gaussian perturbations (sigma %g) evaluated on the same %d labelled training "
                     "images (one query = one image with one patch), Adam ascent on the mean log-probability of the label, "
                     "step %g. %ld queries.\n\n| test, continuous patch | binarised: Hamming | test, binarised | raw |\n"
                     "|---:|---:|---:|---:|\n| %.2f | %s | %.2f | %.2f |\n",
                  bits, 2 * NES_PAIRS, (double)NES_SIGMA, NES_IMAGES, ns->lr, queries, res->test_cont, ham, res->test_bin, raw);
    dsn_panel panel = {{0}, 1, {{"NES patch (test accuracy)", ns->nc, ns->cx, ns->cy, 0}}};
    snprintf(panel.title, sizeof panel.title, "black-box NES, %s", json_string_value(json_object_get(a->root, "name")));
    char name[256];
    snprintf(name, sizeof name, "attacks_blackbox_%s", json_string_value(json_object_get(a->root, "name")));
    int rc = dsn_attack_plot(a, name, "queries", "test accuracy (%)", &panel, 1);
    if(rc == 0 && a->o->png_dir) dsn_attack_md(a, "\nTest accuracy against queries: `%s.png`.\n", name);
    double best;
    if(run_controls(a, "blackboxctl", blackbox_on_control, ctl, acc, &best) != 0) {
        json_decref(ctl->runs);
        return -1;
    }
    double base = controls_report(a, j, ctl->runs, acc, best, raw, res->test_cont);
    char setting[128];
    snprintf(setting, sizeof setting, "%ld queries, continuous patch (baseline: %s)", queries,
             a->o->controls > 0 ? "the controls" : "raw");
    headline(a, setting, res->test_cont, base, 1);
    return rc;
}

int dsn_attack_blackbox(dsn_attack_ctx *a)
{
    const dsn_attack_opts *o = a->o;
    long Q = o->queries > 0 ? o->queries : 10000;
    double lr;
    if(dsn_parse_real(o->patch_lr, &lr) != 0 || lr <= 0) return dsn_attack_fail(a, "--patch-lr %s is not a positive number", o->patch_lr);
    int bits = a->geo.bits;
    long steps = Q / (2L * NES_PAIRS * NES_IMAGES);
    if(steps < 1) return dsn_attack_fail(a, "--queries %ld: a step needs %d", Q, 2 * NES_PAIRS * NES_IMAGES);
    int n_pool = o->images < a->train.n ? o->images : a->train.n;
    int *pool = dsn_attack_subset(a, n_pool, dsn_attack_seed((uint64_t)o->seed, "pool", 0, 0));
    float *theta = malloc((size_t)bits * sizeof *theta);
    nes_search ns = {steps, n_pool, pool, lr, theta, malloc((size_t)(steps / 10 + 2) * sizeof(int)),
                     malloc((size_t)(steps / 10 + 2) * sizeof(double)), 0};
    nes_control ctl = {{steps, n_pool, pool, lr, malloc((size_t)bits * sizeof(float)), NULL, NULL, 0}, json_array()};
    if(!pool || !theta || !ns.cx || !ns.cy || !ctl.ns.theta) dsn_die("out of memory");
    dsn_attack_say(a, "NES: %ld steps of %d queries", steps, 2 * NES_PAIRS * NES_IMAGES);
    long queries = nes_run(a, &ns);
    patch_result res;
    measure_cells(a, theta, &res);
    int rc = blackbox_report(a, &ns, queries, &res, &ctl);
    free(pool), free(theta), free(ns.cx), free(ns.cy), free(ctl.ns.theta);
    return rc;
}
