/* cmd_verify.c: `dsn verify`: does a suspect model belong to the owner, keyed to the serial the
 * owner issued to one customer?
 *
 * First the certificate: it must parse and its Ed25519 signature must verify against the owner's
 * public key (else nothing is claimed: exit 2). Then the model's behaviour, with the test of
 * dsn_verify.h: accuracy with the certificate's serial on half the images, raw and with random
 * serials on the other half, and an exact one-sided binomial p-value. The model is built without
 * its [serial_stamp] layer (if it still has one) and every image is stamped here from the
 * certificate's geometry, so a cfg whose stamp was removed or edited is verified all the same.
 * Exit 0 verified, 1 not verified, 2 bad input. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsn_cert.h"
#include "dsn_learn.h"
#include "dsn_model.h"
#include "dsn_util.h"
#include "dsn_verify.h"

static void print_p(char *out, size_t len, double p, double tail_log10)
{
    if(p >= 1e-4) snprintf(out, len, "%.4g", p);
    else snprintf(out, len, "%.1e", p);
    if(tail_log10 < -6) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, " (the binomial tail is 10^%.0f; the floor is the null bound's error)", tail_log10);
    }
}

/* What a verification is about: the inputs, checked, and what identifies them. */
typedef struct verify_case {
    const char *cfg, *weights, *cert_path, *pub, *data, *list;
    int seed;
    dsn_cert cert;
    dsn_geometry g;
    char fp[DSN_FINGERPRINT_HEX], hcfg[65], hw[65];
    int had_stamp;
    int unsealed;      /* the weights were unsealed with the certificate's serial      */
    int readings;      /* 1, or 2 when the other sealing reading was tried as well     */
} verify_case;

/* The certificate must be the owner's: else nothing about the model can be claimed with it. */
static int check_cert(verify_case *vc)
{
    char err[1024];
    dsn_key *key = NULL;
    if(dsn_cert_load(&vc->cert, vc->cert_path, err, sizeof err) != 0) {
        dsn_error("verify: --cert: %s", err);
        return -1;
    }
    if(dsn_key_load_public(&key, vc->pub, err, sizeof err) != 0) {
        dsn_error("verify: --pub: %s", err);
        return -1;
    }
    int ok = dsn_cert_verify(&vc->cert, key, err, sizeof err) == 0;
    if(dsn_key_fingerprint(vc->fp, key) != 0) snprintf(vc->fp, sizeof vc->fp, "?");
    dsn_key_free(key);
    if(!ok) {
        dsn_error("verify: --cert %s does not verify against --pub %s: %s. Nothing about the model can be "
                  "claimed with it (a certificate of another owner, or an altered one)", vc->cert_path, vc->pub, err);
        return -1;
    }
    return 0;
}

/* The suspect model without its stamp layer, the certificate's stamp placed on its input, and
 * the test images at its size. */
static int load_suspect(verify_case *vc, dsn_model *m, dsn_eval_data *d, int batch, int unseal)
{
    char err[1024];
    dsn_model_opts mo;
    dsn_verify_model_opts(&mo, batch);
    mo.unseal = unseal;
    if(dsn_model_load(m, vc->cfg, vc->weights, &vc->cert.serial, &mo, err, sizeof err) != 0) {
        dsn_error("verify: %s", err);
        return -1;
    }
    vc->had_stamp = m->had_stamp;
    if(dsn_cert_geometry(&vc->g, &vc->cert, err, sizeof err) != 0 || dsn_geometry_place(&vc->g, m->w, m->h, err, sizeof err) != 0) {
        dsn_error("verify: --cert %s: its stamp does not fit the model's %dx%d input: %s", vc->cert_path, m->w, m->h, err);
        return -1;
    }
    if(dsn_file_sha256(vc->hcfg, vc->cfg, err, sizeof err) != 0 || dsn_file_sha256(vc->hw, vc->weights, err, sizeof err) != 0 ||
       dsn_eval_data_load(d, vc->data, vc->list, m->w, m->h, m->c, err, sizeof err) != 0) {
        dsn_error("verify: %s", err);
        return -1;
    }
    return 0;
}

static void print_verdict(const verify_case *vc, const dsn_verify_result *v, const dsn_verify_opts *vo, int images)
{
    char serial[DSN_SERIAL_TEXT_MAX], issued[DSN_TIME_TEXT], ptext[160];
    const dsn_cert *c = &vc->cert;
    const dsn_geometry *g = &vc->g;
    dsn_serial_encode(serial, sizeof serial, &c->serial);
    dsn_time_format(issued, c->issued);
    print_p(ptext, sizeof ptext, v->p_value, v->tail_log10);
    const dsn_eval_acc *mx = &v->random[v->random_max];
    printf("DSN ownership verification\n");
    printf("  certificate     %s: owner \"%s\", customer \"%s\", model \"%s\", issued %s\n", vc->cert_path, c->owner,
           c->customer, c->model, issued);
    printf("  serial          %s (%d bits, %dx%d cells of %d px at the %s corner, margin %d, frame %d%s)\n", serial,
           c->bits, g->gw, g->gh, g->cell_px, dsn_corner_name(g->corner), g->margin, g->frame, g->wrap ? " wrap" : "");
    printf("  signature       valid: Ed25519 by the key in %s (SHA-256 of the key %s)\n", vc->pub, vc->fp);
    printf("  suspect model   cfg %s (SHA-256 %s)\n                  weights %s (SHA-256 %s)\n", vc->cfg, vc->hcfg,
           vc->weights, vc->hw);
    printf("                  %s; every image stamped here from the certificate's geometry\n",
           vc->had_stamp ? "built without the cfg's [serial_stamp] layer" : "the cfg has no [serial_stamp] layer");
    printf("                  weights %s%s\n", vc->unsealed ? "unsealed with the certificate's serial" : "used as stored",
           vc->readings > 1 ? " (the second reading tried: the first gave no verdict; p-value times 2)" : "");
    printf("  test images     %d of %d from %s (seed %d): %d with the certificate's serial, %d others for the null\n",
           v->n_cert + v->n_null, images, vc->list ? vc->list : vc->data, vc->seed, v->n_cert, v->n_null);
    printf("  accuracy        with the certificate's serial  %6.2f%%  [%.2f, %.2f]  (%ld/%ld)\n", v->cert.acc, v->cert.lo,
           v->cert.hi, v->cert.correct, v->cert.total);
    printf("                  without a serial               %6.2f%%  [%.2f, %.2f]  (%ld/%ld)\n", v->raw.acc, v->raw.lo,
           v->raw.hi, v->raw.correct, v->raw.total);
    printf("                  %d random serials, mean        %6.2f%%\n", v->n_random, v->random_mean);
    printf("                  %d random serials, best        %6.2f%%  [%.2f, %.2f]  (%ld/%ld)\n", v->n_random, mx->acc,
           mx->lo, mx->hi, mx->correct, mx->total);
    printf("  test            exact one-sided binomial test of H0 \"the model is not keyed to this serial\": its\n"
           "                  accuracy with the serial is at most the best of the null conditions, bounded above by\n"
           "                  %.2f%% at confidence 1 - %g (Clopper-Pearson, Bonferroni over %d conditions)\n",
           100 * v->p0, vo->a, v->n_random + 1);
    printf("  p-value         %s\n", ptext);
    if(v->verified)
        printf("  VERDICT         VERIFIED: this model is keyed to the serial that \"%s\" issued to \"%s\" for model "
               "\"%s\" (p <= %g)\n", c->owner, c->customer, c->model, vo->alpha);
    else
        printf("  VERDICT         NOT VERIFIED: the model's behaviour does not show the serial issued to \"%s\" "
               "(p = %.3g > %g)\n", c->customer, v->p_value, vo->alpha);
}

static int write_json(const char *path, const verify_case *vc, const dsn_verify_result *v, const dsn_verify_opts *vo)
{
    char serial[DSN_SERIAL_TEXT_MAX];
    dsn_serial_encode(serial, sizeof serial, &vc->cert.serial);
    json_t *rnd = json_array();
    for(int i = 0; i < v->n_random; ++i) json_array_append_new(rnd, dsn_verify_acc_json(&v->random[i]));
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:f, s:o, "
                          "s:f, s:f, s:f, s:f, s:f, s:b, s:f}",
                          "dsn_verify", 1, "cert", vc->cert_path, "owner", vc->cert.owner, "customer", vc->cert.customer,
                          "model", vc->cert.model, "serial", serial, "cfg", vc->cfg, "cfg_sha256", vc->hcfg, "weights",
                          vc->weights, "weights_sha256", vc->hw, "data", vc->list ? vc->list : vc->data, "images_cert",
                          v->n_cert, "images_null", v->n_null, "seed", vc->seed, "cert_serial",
                          dsn_verify_acc_json(&v->cert), "raw", dsn_verify_acc_json(&v->raw), "random_mean",
                          v->random_mean, "random", rnd, "null_upper_bound", 100 * v->p0,
                          "tail_log10", v->tail_log10, "p_value", v->p_value, "alpha", vo->alpha, "bound_error", vo->a,
                          "verified", v->verified, "wall_seconds", v->seconds);
    json_object_set_new(o, "weights_unsealed", json_boolean(vc->unsealed));
    json_object_set_new(o, "readings", json_integer(vc->readings));
    int rc = dsn_verify_write_json(path, o);
    json_decref(o);
    return rc;
}

int dsn_cmd_verify(int argc, char **argv)
{
    verify_case vc;
    memset(&vc, 0, sizeof vc);
    const char *alpha_s = NULL, *json = NULL;
    int images = 1000, serials = 20, batch = 256;
    const dsn_option opts[] = {
        {"--cfg", NULL, DSN_ARG_STR, &vc.cfg, "FILE", "the suspect model's cfg (its [serial_stamp], if any, is ignored)"},
        {"--weights", NULL, DSN_ARG_STR, &vc.weights, "FILE", "the suspect model's weights"},
        {"--cert", NULL, DSN_ARG_STR, &vc.cert_path, "FILE", "the certificate (.sn) the model should be keyed to"},
        {"--pub", NULL, DSN_ARG_STR, &vc.pub, "FILE", "the owner's public key (PEM)"},
        {"--data", NULL, DSN_ARG_STR, &vc.data, "FILE", "Darknet .data file (labels=, valid=)"},
        {"--list", NULL, DSN_ARG_STR, &vc.list, "FILE", "test image list (default: the .data's valid=)"},
        {"--images", NULL, DSN_ARG_INT, &images, "N", "test images used, half with the serial, half for the null (1000)"},
        {"--serials", NULL, DSN_ARG_INT, &serials, "K", "random serials in the null (default 20)"},
        {"--seed", NULL, DSN_ARG_INT, &vc.seed, "N", "seed of the image split and the random serials (0)"},
        {"--alpha", NULL, DSN_ARG_STR, &alpha_s, "P", "verified when the p-value is at most P (default 0.01)"},
        {"--batch", NULL, DSN_ARG_INT, &batch, "N", "rows per forward pass (default 256)"},
        {"--json", NULL, DSN_ARG_STR, &json, "FILE", "also write the result as JSON"},
    };
    const dsn_usage u = {
        "verify", "--cfg C.cfg --weights W --cert C.sn --pub owner.pub.pem --data D.data [options]",
        "Checks the certificate's signature, then whether the model is keyed to its serial: accuracy\n"
        "with the serial (on half the images) against raw input and K random serials (on the other\n"
        "half), and an exact one-sided binomial p-value for H0 \"the model is not keyed to this\n"
        "serial\" (the test and its justification: dsn_cli/dsn_verify.h). The images are stamped here\n"
        "from the certificate's geometry on the model built without its [serial_stamp] layer, so\n"
        "removing or editing that layer in the cfg changes nothing.\n"
        "Exit status: 0 verified, 1 not verified, 2 bad input (unreadable files, a certificate that\n"
        "does not verify against the key, a cfg that does not match the weights).",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    const dsn_verify_arg required[] = {
        {vc.cfg, "--cfg FILE"}, {vc.weights, "--weights FILE"}, {vc.cert_path, "--cert FILE"}, {vc.pub, "--pub FILE"},
        {vc.data, "--data FILE"},
    };
    dsn_verify_opts vo;
    dsn_verify_opts_init(&vo);
    if(dsn_verify_check_args("verify", required, DSN_COUNT(required), alpha_s, &vo.alpha) != 0) return DSN_EXIT_ERROR;
    if(images < 2 || serials < 1 || vc.seed < 0 || batch < 1 || batch > 4096) {
        dsn_error("verify: --images must be >= 2, --serials >= 1, --seed >= 0, --batch 1..4096");
        return DSN_EXIT_ERROR;
    }
    vo.images = images;
    vo.serials = serials;
    vo.seed = (uint64_t)vc.seed;
    if(check_cert(&vc) != 0) return DSN_EXIT_ERROR;
    dsn_model m = {0};
    dsn_eval_data d = {0};
    dsn_verify_result v = {0};
    char err[1024];
    int rc = DSN_EXIT_ERROR;
    /* the model as its cfg says (weights sealed to the serial or not); when that is not verified,
       the other reading too (a cfg can have been edited): its p-value then counts both, times 2 */
    for(int pass = 0; pass < 2; ++pass) {
        dsn_verify_result_free(&v);
        dsn_eval_data_free(&d);
        dsn_model_free(&m);
        int unseal = pass == 0 ? 0 : (vc.unsealed ? -1 : 1);
        if(load_suspect(&vc, &m, &d, batch, unseal) != 0) goto done;
        vc.unsealed = m.unsealed;
        if(dsn_verify_model(&v, m.net, &vc.g, &vc.cert.serial, &d, &vo, err, sizeof err) != 0) {
            dsn_error("verify: %s", err);
            goto done;
        }
        vc.readings = pass + 1;
        if(pass) {
            v.p_value = fmin(1, 2*v.p_value);
            v.verified = v.p_value <= vo.alpha;
        }
        if(v.verified) break;
    }
    print_verdict(&vc, &v, &vo, d.n);
    rc = v.verified ? DSN_EXIT_OK : DSN_EXIT_NO;
    if(json && write_json(json, &vc, &v, &vo) != 0) rc = DSN_EXIT_ERROR;
done:
    dsn_verify_result_free(&v);
    dsn_eval_data_free(&d);
    dsn_model_free(&m);
    return rc;
}
