/* dsn_plugins.c: registration of the DSN layer types, and what they share (strict option
 * parsing, the stamp state lookup, the training report, a small seeded generator).
 *
 * darknet's main() calls darknet_plugins_init() (darknet_patch/0002); the constructor covers
 * programs that link libdarknet without going through main() (tests, `dsn`, the Python API). */
#include "dsn_layers.h"
#include "serial_stamp_layer.h"
#include "gradient_reversal_layer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option_list.h"

const char *const dsn_role_names[DSN_ROLE_COUNT] = {"valid", "forged", "near", "soft", "raw"};

/* ---- registry table --------------------------------------------------------------------- */
static const layer_plugin dsn_plugins[] = {
    {LAYER_PLUGIN_ABI, "[serial_stamp]", parse_serial_stamp, resize_serial_stamp_layer, destroy_serial_stamp,
     loaded_serial_stamp},
    {LAYER_PLUGIN_ABI, "[gradient_reversal]", parse_gradient_reversal, resize_gradient_reversal_layer, 0, 0},
    {LAYER_PLUGIN_ABI, "[distill_kl]", parse_distill_kl, 0, destroy_distill_kl, 0},
    {LAYER_PLUGIN_ABI, "[masked_softmax]", parse_masked_softmax, 0, 0, 0},
};
static int stamp_type = -1;

void darknet_plugins_init(void)
{
    static int done = 0;
    size_t i;
    if(done) return;
    done = 1;
    for(i = 0; i < sizeof dsn_plugins / sizeof dsn_plugins[0]; ++i){
        int t = register_layer_plugin(&dsn_plugins[i]);
        if(t < 0){
            fprintf(stderr, "dsn: cannot register layer type %s\n", dsn_plugins[i].name);
            exit(EXIT_FAILURE);
        }
        if(i == 0) stamp_type = t;
    }
}

__attribute__((constructor)) static void dsn_plugins_ctor(void)
{
    darknet_plugins_init();
}

dsn_stamp_state *dsn_stamp_state_of(const network *net)
{
    if(!net || net->n < 1 || stamp_type < 0 || (int)net->layers[0].type != stamp_type) return 0;
    return (dsn_stamp_state *)net->layers[0].plugin_data;
}

int dsn_stamp_override(network *net, const dsn_serial *serials, const uint8_t *has, int n)
{
    dsn_stamp_state *s = dsn_stamp_state_of(net);
    int i;
    if(!s || n < 0) return -1;
    for(i = 0; i < n; ++i) if(has[i] && serials[i].nbits != s->geo.bits) return -1;
    free(s->override);
    free(s->override_has);
    s->override = 0;
    s->override_has = 0;
    s->n_override = 0;
    if(n == 0) return 0;
    s->override = malloc(n*sizeof(dsn_serial));
    s->override_has = malloc(n);
    memcpy(s->override, serials, n*sizeof(dsn_serial));
    memcpy(s->override_has, has, n);
    s->n_override = n;
    return 0;
}

void dsn_stamp_register_loss(dsn_stamp_state *s, int index)
{
    if(index > s->last_loss) s->last_loss = index;
}

void dsn_stamp_report(dsn_stamp_state *s, int index, network net)
{
    const dsn_stats *t = &s->stats;
    char line[320];
    int n = 0, r;
    if(index != s->last_loss || !net.train) return;
    n += snprintf(line + n, sizeof line - n, "dsn: rows");
    for(r = 0; r < DSN_ROLE_COUNT; ++r){   /* soft rows only when the cfg asks for them */
        if(r != DSN_ROLE_SOFT || s->count[r]) n += snprintf(line + n, sizeof line - n, " %s %d", dsn_role_names[r], s->count[r]);
    }
    if(t->have_kd) n += snprintf(line + n, sizeof line - n, " | G_y kd %.4f hard %.4f push %.4f", t->kd, t->hard, t->push);
    if(t->have_gd) n += snprintf(line + n, sizeof line - n, " | G_d ce %.4f acc %.3f", t->gd, t->gd_acc);
    if(t->have_lambda) n += snprintf(line + n, sizeof line - n, " lambda %.3f", t->lambda);
    fprintf(stderr, "%s\n", line);
}

/* ---- generator: splitmix64 (small, seeded, independent of rand()) ------------------------ */
void dsn_rng_seed(dsn_rng *r, uint64_t seed) { r->s = seed; }

uint64_t dsn_rng_next(dsn_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int dsn_rng_below(dsn_rng *r, int n)
{
    return (int)((dsn_rng_next(r) >> 11) % (uint64_t)n);
}

float dsn_rng_uniform(dsn_rng *r)
{
    return (float)((dsn_rng_next(r) >> 40) * (1.0 / 16777216.0));
}

/* ---- options ------------------------------------------------------------------------------
 * Every value is checked where it enters: a whole number that fits an int, a finite number
 * (tested on the float's bits, so no finite-math assumption can fold the test away), and within
 * the option's range. Failures are fatal errors naming the cfg file, the line, the section and the
 * option, through darknet_fatal (exit code darknet_exit_code; the cfg fuzzer's hook). */
static void fail_msg(const char *where, const char *fmt, va_list ap) __attribute__((noreturn));
static void fail_msg(const char *where, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    darknet_fatal("\n%s: %s", where, msg);
}

void dsn_layer_fail(size_params p, const char *section, const char *fmt, ...)
{
    char where[512];
    va_list ap;
    snprintf(where, sizeof where, "%s: %s (layer %d)", p.file ? p.file : "cfg", section, p.index);
    va_start(ap, fmt);
    fail_msg(where, fmt, ap);
    va_end(ap);
}

static kvp *opt_kvp(list *options, const char *key)
{
    node *n;
    for(n = options->front; n; n = n->next){
        kvp *o = (kvp *)n->val;
        if(strcmp(o->key, key) == 0){
            o->used = 1;
            return o;
        }
    }
    return 0;
}

/* "file:line: [section] (layer N) key=value: " + the message */
static void opt_fail(size_params p, const char *section, const kvp *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void opt_fail(size_params p, const char *section, const kvp *o, const char *fmt, ...)
{
    char where[512];
    va_list ap;
    snprintf(where, sizeof where, "%s:%d: %s (layer %d) %s=%s", o->file ? o->file : p.file ? p.file : "cfg",
             o->line, section, p.index, o->key, o->val);
    va_start(ap, fmt);
    fail_msg(where, fmt, ap);
    va_end(ap);
}

int dsn_float_is_finite(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return ((bits >> 23) & 0xff) != 0xff;
}

const char *dsn_opt_str(list *options, const char *key)
{
    kvp *o = opt_kvp(options, key);
    return o ? o->val : 0;
}

int dsn_opt_int_range(list *options, size_params p, const char *section, const char *key, int def, int lo, int hi)
{
    kvp *o = opt_kvp(options, key);
    char *end;
    if(!o) return def;
    errno = 0;
    long x = strtol(o->val, &end, 10);
    if(errno || end == o->val || *end || x < lo || x > hi)
        opt_fail(p, section, o, "must be a whole number in [%d, %d]", lo, hi);
    return (int)x;
}

int dsn_opt_int(list *options, size_params p, const char *section, const char *key, int def)
{
    return dsn_opt_int_range(options, p, section, key, def, -2147483647, 2147483647);
}

float dsn_opt_float_range(list *options, size_params p, const char *section, const char *key, float def,
                          float lo, float hi)
{
    kvp *o = opt_kvp(options, key);
    char *end;
    if(!o) return def;
    float x = strtof(o->val, &end);
    if(end == o->val || *end || !dsn_float_is_finite(x) || !(x >= lo && x <= hi))
        opt_fail(p, section, o, "must be a finite number in [%g, %g]", lo, hi);
    return x;
}

float dsn_opt_float(list *options, size_params p, const char *section, const char *key, float def)
{
    return dsn_opt_float_range(options, p, section, key, def, -3.4e38f, 3.4e38f);
}
