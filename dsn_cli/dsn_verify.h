/* dsn_verify.h: is a suspect model keyed to an issued serial (dsn verify), and to which of many
 * (dsn trace)? Both measure behaviour only: the certificates' signatures are the CLI's business.
 *
 *     dsn_verify_opts o;  dsn_verify_result r;  char err[512];
 *     dsn_verify_opts_init(&o);
 *     // net built without [serial_stamp] (dsn_model, strip_stamp=1); g placed for its input
 *     if(dsn_verify_model(&r, net, &g, &cert.serial, &test, &o, err, sizeof err) != 0) ...
 *     r.verified, r.cert (accuracy with the serial), r.raw, r.random_max, r.p_value ...
 *     dsn_verify_result_free(&r);
 *
 * The test, and why this one. The test images are shuffled (seed) and cut into disjoint parts:
 * S_cert (n1 images) is stamped with the certificate's serial; S_null (n2 images) is run raw and
 * with K random serials. H0, "the model is not keyed to this serial", is taken to mean: the serial
 * does no better than no serial or a serial nobody was issued, i.e. its accuracy p_c is at most
 * p_null = the largest accuracy among the K+1 null conditions. p_null is unknown; we bound it
 * from above by p0 = the largest one-sided Clopper-Pearson upper bound of the null conditions at
 * confidence 1 - a/(K+1) each (Bonferroni), so P(p0 < p_null) <= a. The count X of S_cert images
 * right with the serial is exactly Binomial(n1, p_c); under H0 and p0 >= p_null the exact tail
 * P(Bin(n1, p0) >= X) bounds the chance of a count this high. The p-value reported is that tail
 * plus a (a = 1e-6 by default, the floor of every p-value), which is valid for H0 whatever
 * p_null is, needs no assumption about the null's distribution over serials (the maximum is taken,
 * not a mean), and stays conservative when the null is uneven (a near-uniform model answers raw
 * input with one class). Disjoint images keep the two estimates independent. A model that works
 * without a serial (not DSN, or stripped of its lock) has p_c close to p_null, hence p near 1; a
 * model keyed to another serial answers at chance with this one, hence p near 1 too.
 *
 * Trace screens every certificate on a small set S_screen (rows batched: certificates x images),
 * then tests the `top` best on fresh images exactly as above; their p-values are multiplied by
 * `top` (Bonferroni over the candidates tested; the screening used other images). The best of
 * many screened serials is not a random serial, though: on a model that random stamps unlock to
 * uneven degrees (a thief's loose new lock answers any stamp at 40-80%), the best of 100 innocent
 * certificates beats the best of K random serials on fresh images too, and the test above would
 * name its customer. So the null also goes through the selection: a pool of random serials (as
 * many as certificates, at least 100; the certificates' lengths and geometries in turn) is
 * screened on the same S_screen, and its `top` best join every candidate's null conditions on
 * S_null (K + 1 + top conditions in the Bonferroni level). An innocent certificate is then one
 * more draw of the same selection as the pool's best, and it has to beat their upper bound. That
 * alone leaves the case where the certificates' best beats the pool's by luck (the two are equal
 * in distribution, and a steep lock turns a bit or two of luck into many points), so a second
 * rule: when the pool's best answers significantly better than raw input on the same images
 * (above the upper bound, at level a, of raw's count or of one constant answer's, whichever is
 * higher; p <= alpha), random stamps unlock the model, which certificate unlocks it best is no
 * evidence of who leaked it, and trace names nobody (inconclusive). A keyed model answers random
 * serials at chance, so the rule costs nothing there; the constant answer keeps a lock that
 * pushes raw input below chance (an answer that avoids the right class) from making chance
 * itself look like an unlock. */
#ifndef DSN_VERIFY_H
#define DSN_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "darknet.h"
#include "dsn_eval.h"
#include "dsn_model.h"

/* ---- statistics --------------------------------------------------------------------------- */

/* log10 P(X >= k) for X ~ Binomial(n, p); 0 when k <= 0, -inf-like (-1e300) when impossible. */
double dsn_binom_log10_sf(long k, long n, double p);
/* One-sided Clopper-Pearson upper bound: the p with P(X <= k | n, p) = a (1 when k >= n). */
double dsn_binom_upper(long k, long n, double a);

/* ---- verify ------------------------------------------------------------------------------- */

typedef struct dsn_verify_opts {
    int images;        /* test images used, split in two halves (default 1000; at most all) */
    int serials;       /* K random serials of the null (default 20)                          */
    uint64_t seed;     /* image split and random serials (default 0)                         */
    double alpha;      /* verified when p <= alpha (default 0.01)                             */
    double a;          /* error of the null's upper bound, the p-value's floor (1e-6)         */
} dsn_verify_opts;

void dsn_verify_opts_init(dsn_verify_opts *o);

typedef struct dsn_verify_result {
    int n_cert, n_null;          /* images in S_cert and S_null                               */
    dsn_eval_acc cert, raw;      /* with the certificate's serial (S_cert); raw (S_null)       */
    long constant;               /* S_null's most frequent label: what one constant answer gets */
    int n_random;
    dsn_eval_acc *random;        /* [n_random] each random serial on S_null                  */
    double random_mean;
    int random_max;              /* index of the best random serial                           */
    double p0;                   /* the null's upper bound (fraction)                          */
    double tail_log10;           /* log10 P(Bin(n_cert, p0) >= correct)                        */
    double p_value;              /* min(1, tail + a)                                           */
    int verified;                /* p_value <= alpha                                           */
    long rows;
    double seconds;
} dsn_verify_result;

/* net: built without [serial_stamp], net->w x net->h input; g: the certificate's geometry placed
 * for that size; test: images loaded at that size. Returns 0, or -1 with err set. */
int dsn_verify_model(dsn_verify_result *r, network *net, const dsn_geometry *g, const dsn_serial *serial,
                     const dsn_eval_data *test, const dsn_verify_opts *o, char *err, size_t errlen);
void dsn_verify_result_free(dsn_verify_result *r);

/* ---- trace -------------------------------------------------------------------------------- */

typedef struct dsn_trace_opts {
    dsn_seal_spec seal;      /* the weights are sealed (dsn_seal.h) this way (version 0: not):
                                each certificate's serial unseals them before its rows run,
                                and they are sealed again after (exactly: sealing is a
                                bijection)                                                     */
    int screen;              /* images each certificate is screened on (default 50)        */
    int hypotheses;          /* readings of the model tried so far (1; up to 4 when the other
                                seal versions are tried after the cfg's): p-values are
                                multiplied by it                                               */
    int top;                 /* candidates tested with a p-value (default 3)               */
    int pool;                /* random serials screened as the certificates are, the null of
                                the selection (0, the default: as many as certificates, at
                                least 100)                                                   */
    dsn_verify_opts v;       /* the test of each candidate; images split after S_screen    */
} dsn_trace_opts;

void dsn_trace_opts_init(dsn_trace_opts *o);

typedef struct dsn_trace_cand {
    int index;               /* into the certificates given                              */
    dsn_eval_acc screen;     /* accuracy on S_screen                                      */
    dsn_verify_result v;     /* the test on fresh images                                   */
    double p_adj;            /* min(1, v.p_value * top)                                    */
} dsn_trace_cand;

typedef struct dsn_trace_result {
    int n;                   /* certificates                                              */
    long *screen_correct;    /* [n] right answers on S_screen                              */
    int n_screen;
    int n_top;
    dsn_trace_cand *top;     /* [n_top], best screen first                                 */
    int n_pool;              /* random serials screened                                    */
    dsn_eval_acc pool_screen;  /* the best of them on S_screen                             */
    int n_pool_top;
    dsn_eval_acc *pool_top;  /* [n_pool_top] the pool's best on S_null, best screen first   */
    int found;               /* index of the named certificate, or -1                      */
    int inconclusive;        /* a candidate passed, but the pool's best random serial also
                                beats raw input: stamps in general unlock the model, nobody
                                is named (found -1)                                          */
    dsn_eval_acc unlock_pool, unlock_raw;  /* then: the pool's best and the baseline it beat on
                                S_null (raw input or one constant answer, the higher)        */
    long rows;
    double seconds, screen_seconds, pool_seconds;
} dsn_trace_result;

/* serials[i] stamped with geos[i] (each placed for the network's input). Returns 0, or -1 with
 * err set. */
int dsn_trace_model(dsn_trace_result *r, network *net, const dsn_geometry *geos, const dsn_serial *serials,
                    int n, const dsn_eval_data *test, const dsn_trace_opts *o, char *err, size_t errlen);
void dsn_trace_result_free(dsn_trace_result *r);

/* Writes a result object as indented JSON, atomically (replacing path). Returns 0, or -1 after
 * printing an error naming the file. */
int dsn_verify_write_json(const char *path, json_t *o);

/* ---- the commands' share (dsn verify, dsn trace) ------------------------------------------- */

/* An option a command cannot do without: its value (NULL when not given) and how to give it. */
typedef struct dsn_verify_arg {
    const char *value, *what;
} dsn_verify_arg;

/* Every one of the n args given ("CMD: missing WHAT (see dsn CMD --help)" else), and alpha_s,
 * when given, a probability strictly between 0 and 1, stored in *alpha. Returns 0, or -1 after
 * printing the error. */
int dsn_verify_check_args(const char *cmd, const dsn_verify_arg *args, int n, const char *alpha_s, double *alpha);
/* The suspect model as verify and trace build it: without [serial_stamp] (every row is stamped
 * from a certificate's geometry), quiet, on the CPU, batch rows per forward pass. dsn attack
 * builds the stolen model and its controls the same way. */
void dsn_verify_model_opts(dsn_model_opts *mo, int batch);
/* An accuracy as JSON: {"acc", "ci95": [lo, hi], "correct", "total"}. */
json_t *dsn_verify_acc_json(const dsn_eval_acc *a);

#endif
