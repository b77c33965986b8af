/* dsn_model.c: cfg text edits and the one model loader (see dsn_model.h).
 *
 * The cfg reader mirrors Darknet's read_cfg (src/parser.c) closely enough that a cfg it accepts
 * builds the same network from the text dsn_cfg_text writes back; it is stricter about what
 * Darknet only warns about (an option before the first section). Non-goals: keeping comments or
 * formatting of the original file (the edited text is a temporary file Darknet reads once). */
#include "dsn_model.h"
#include "dsn_seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn_layers.h"
#include "dsn_util.h"

#ifdef GPU
#include "batchnorm_layer.h"
#include "connected_layer.h"
#include "convolutional_layer.h"
#endif

#define CFG_FILE_MAX (4u << 20)

/* ---- cfg text ----------------------------------------------------------------------------- */

static void strip_all(char *s)
{
    char *o = s;
    for(; *s; ++s) {
        if(*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') *o++ = *s;
    }
    *o = '\0';
}

void dsn_cfg_free(dsn_cfg *c)
{
    if(!c) return;
    for(int i = 0; i < c->n; ++i) {
        dsn_cfg_section *s = &c->sec[i];
        for(int k = 0; k < s->n; ++k) {
            free(s->kv[k].key);
            free(s->kv[k].val);
        }
        free(s->kv);
        free(s->type);
    }
    free(c->sec);
    free(c->path);
    memset(c, 0, sizeof *c);
}

static int kv_append(dsn_cfg_section *s, const char *key, const char *val, int line)
{
    dsn_cfg_kv *bigger = realloc(s->kv, ((size_t)s->n + 1) * sizeof *bigger);
    if(!bigger) return -1;
    s->kv = bigger;
    s->kv[s->n].key = strdup(key);
    s->kv[s->n].val = strdup(val);
    s->kv[s->n].line = line;
    if(!s->kv[s->n].key || !s->kv[s->n].val) {
        free(s->kv[s->n].key);
        free(s->kv[s->n].val);
        return -1;
    }
    ++s->n;
    return 0;
}

int dsn_cfg_insert(dsn_cfg *c, int at, const char *type)
{
    if(at < 0 || at > c->n) at = c->n;
    dsn_cfg_section *bigger = realloc(c->sec, ((size_t)c->n + 1) * sizeof *bigger);
    if(!bigger) return -1;
    c->sec = bigger;
    char *t = strdup(type);
    if(!t) return -1;
    memmove(c->sec + at + 1, c->sec + at, ((size_t)c->n - at) * sizeof *c->sec);
    memset(&c->sec[at], 0, sizeof c->sec[at]);
    c->sec[at].type = t;
    ++c->n;
    c->edited = 1;
    return at;
}

void dsn_cfg_remove(dsn_cfg *c, int i)
{
    if(i < 0 || i >= c->n) return;
    dsn_cfg_section *s = &c->sec[i];
    for(int k = 0; k < s->n; ++k) {
        free(s->kv[k].key);
        free(s->kv[k].val);
    }
    free(s->kv);
    free(s->type);
    memmove(c->sec + i, c->sec + i + 1, ((size_t)c->n - i - 1) * sizeof *c->sec);
    --c->n;
    c->edited = 1;
}

int dsn_cfg_read(dsn_cfg *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    size_t len;
    char *text = dsn_read_file_err(path, CFG_FILE_MAX, &len, err, errlen);
    if(!text) return -1;
    if(!(c->path = strdup(path))) goto oom;
    int line = 0;
    for(char *p = text; p && *p;) {
        char *e = strchr(p, '\n');
        if(e) *e = '\0';
        ++line;
        char *l = p;
        p = e ? e + 1 : NULL;
        strip_all(l);
        if(!*l || *l == '#' || *l == ';') continue;
        if(*l == '[') {
            if(l[strlen(l) - 1] != ']') {
                snprintf(err, errlen, "%s:%d: section header %s has no closing ]", path, line, l);
                goto fail;
            }
            int at = dsn_cfg_insert(c, c->n, l);
            if(at < 0) goto oom;
            c->sec[at].line = line;
            continue;
        }
        char *eq = strchr(l, '=');
        if(!c->n) {
            snprintf(err, errlen, "%s:%d: '%s' comes before the first [section]", path, line, l);
            goto fail;
        }
        if(!eq) {
            snprintf(err, errlen, "%s:%d: '%s' is not key=value", path, line, l);
            goto fail;
        }
        *eq = '\0';
        if(kv_append(&c->sec[c->n - 1], l, eq + 1, line) != 0) goto oom;
    }
    if(!c->n || (strcmp(c->sec[0].type, "[net]") != 0 && strcmp(c->sec[0].type, "[network]") != 0)) {
        snprintf(err, errlen, "%s: the first section must be [net]", path);
        goto fail;
    }
    free(text);
    c->edited = 0;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    free(text);
    dsn_cfg_free(c);
    return -1;
}

int dsn_cfg_find(const dsn_cfg *c, const char *type, int from)
{
    for(int i = from < 0 ? 0 : from; i < c->n; ++i) {
        if(strcmp(c->sec[i].type, type) == 0) return i;
    }
    return -1;
}

const char *dsn_cfg_get(const dsn_cfg_section *s, const char *key)
{
    for(int k = 0; k < s->n; ++k) {
        if(strcmp(s->kv[k].key, key) == 0) return s->kv[k].val;
    }
    return NULL;
}

int dsn_cfg_set(dsn_cfg *c, int i, const char *key, const char *val)
{
    if(i < 0 || i >= c->n) return -1;
    dsn_cfg_section *s = &c->sec[i];
    c->edited = 1;
    for(int k = 0; k < s->n; ++k) {
        if(strcmp(s->kv[k].key, key) != 0) continue;
        char *v = strdup(val);
        if(!v) return -1;
        free(s->kv[k].val);
        s->kv[k].val = v;
        return 0;
    }
    return kv_append(s, key, val, 0);
}

void dsn_cfg_unset(dsn_cfg *c, int i, const char *key)
{
    if(i < 0 || i >= c->n) return;
    dsn_cfg_section *s = &c->sec[i];
    int o = 0;
    c->edited = 1;
    for(int k = 0; k < s->n; ++k) {
        if(strcmp(s->kv[k].key, key) == 0) {
            free(s->kv[k].key);
            free(s->kv[k].val);
        } else {
            s->kv[o++] = s->kv[k];
        }
    }
    s->n = o;
}

char *dsn_cfg_text(const dsn_cfg *c)
{
    size_t cap = 1;
    for(int i = 0; i < c->n; ++i) {
        cap += strlen(c->sec[i].type) + 2;
        for(int k = 0; k < c->sec[i].n; ++k) cap += strlen(c->sec[i].kv[k].key) + strlen(c->sec[i].kv[k].val) + 2;
    }
    char *t = malloc(cap), *o = t;
    if(!t) return NULL;
    for(int i = 0; i < c->n; ++i) {
        o += sprintf(o, "%s\n", c->sec[i].type);
        for(int k = 0; k < c->sec[i].n; ++k) o += sprintf(o, "%s=%s\n", c->sec[i].kv[k].key, c->sec[i].kv[k].val);
        if(i + 1 < c->n) *o++ = '\n', *o = '\0';
    }
    *o = '\0';
    return t;
}

int dsn_cfg_write_temp(const dsn_cfg *c, char *path, size_t len, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, len, "%s/dsn-cfg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *text = dsn_cfg_text(c);
    if(!text) {
        snprintf(err, errlen, "%s: out of memory", c->path ? c->path : "cfg");
        return -1;
    }
    int fd = mkstemp(path);
    if(fd < 0) {
        snprintf(err, errlen, "cannot create a temporary cfg %s: %s", path, strerror(errno));
        free(text);
        return -1;
    }
    size_t n = strlen(text), done = 0;
    while(done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if(w <= 0) {
            if(w < 0 && errno == EINTR) continue;
            snprintf(err, errlen, "cannot write the temporary cfg %s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            free(text);
            return -1;
        }
        done += (size_t)w;
    }
    free(text);
    if(close(fd) != 0) {
        snprintf(err, errlen, "cannot write the temporary cfg %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int whole_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if(errno || end == s || *end || v < -2147483647L || v > 2147483647L) return -1;
    *out = (int)v;
    return 0;
}

int dsn_cfg_input_size(const dsn_cfg *c, int *w, int *h, int *ch, char *err, size_t errlen)
{
    static const char *const keys[3] = {"width", "height", "channels"};
    int *dst[3] = {w, h, ch};
    for(int k = 0; k < 3; ++k) {
        const char *v = dsn_cfg_get(&c->sec[0], keys[k]);
        if(!v || whole_int(v, dst[k]) != 0 || *dst[k] < 1) {
            snprintf(err, errlen, "%s:%d: [net] needs %s= as a positive whole number", c->path, c->sec[0].line, keys[k]);
            return -1;
        }
    }
    return 0;
}

/* The line of option key in s (its first occurrence), or the section's own line. */
static int option_line(const dsn_cfg_section *s, const char *key)
{
    for(int k = 0; k < s->n; ++k) {
        if(strcmp(s->kv[k].key, key) == 0) return s->kv[k].line ? s->kv[k].line : s->line;
    }
    return s->line;
}

int dsn_cfg_stamp_geometry(const dsn_cfg *c, dsn_geometry *g, char *err, size_t errlen)
{
    int i = dsn_cfg_find(c, "[serial_stamp]", 0);
    if(i < 0) return 1;
    const dsn_cfg_section *s = &c->sec[i];
    struct { const char *key; int value; } opt[] = {{"bits", 64}, {"cell", 0}, {"margin", 0}, {"frame", 0}, {"wrap", 0},
                                                     {"columns", 0}};
    for(int k = 0; k < DSN_COUNT(opt); ++k) {
        const char *v = dsn_cfg_get(s, opt[k].key);
        if(v && whole_int(v, &opt[k].value) != 0) {
            snprintf(err, errlen, "%s:%d: [serial_stamp] %s=%s is not a whole number", c->path,
                     option_line(s, opt[k].key), opt[k].key, v);
            return -1;
        }
    }
    const char *cn = dsn_cfg_get(s, "corner");
    int corner = cn ? dsn_corner_from_name(cn) : DSN_CORNER_BR;
    if(corner < 0) {
        snprintf(err, errlen, "%s:%d: [serial_stamp] corner=%s: use tl, tr, bl or br", c->path, option_line(s, "corner"), cn);
        return -1;
    }
    int w, h, ch;
    char gerr[256];
    if(dsn_cfg_input_size(c, &w, &h, &ch, err, errlen) != 0) return -1;
    if(dsn_geometry_init(g, opt[0].value, opt[1].value, (dsn_corner)corner, opt[2].value, gerr, sizeof gerr) != 0 ||
       dsn_geometry_set_columns(g, opt[5].value, gerr, sizeof gerr) != 0 ||
       dsn_geometry_set_frame(g, opt[3].value, opt[4].value, gerr, sizeof gerr) != 0 || dsn_geometry_place(g, w, h, gerr, sizeof gerr) != 0) {
        snprintf(err, errlen, "%s:%d: [serial_stamp]: %s", c->path, s->line, gerr);
        return -1;
    }
    return 0;
}

int dsn_cfg_file_stamp_geometry(const char *path, dsn_geometry *g, char *err, size_t errlen)
{
    dsn_cfg c;
    if(dsn_cfg_read(&c, path, err, errlen) != 0) return -1;
    int rc = dsn_cfg_stamp_geometry(&c, g, err, errlen);
    dsn_cfg_free(&c);
    if(rc > 0) snprintf(err, errlen, "%s has no [serial_stamp] layer: not a DSN cfg", path);
    return rc == 0 ? 0 : -1;
}

/* ---- loading ------------------------------------------------------------------------------ */

void dsn_model_opts_init(dsn_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->init_seed = 1;
}

void dsn_model_free(dsn_model *m)
{
    if(!m) return;
    if(m->net) free_network(m->net);
    memset(m, 0, sizeof *m);
}


static int readable(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* Darknet's printing (its layer table, "Loading weights") captured while the model is built, the
 * way -q captures it (dsn_util.h): a fatal error inside Darknet still reaches the real stderr, replayed
 * at exit, instead of vanishing. 1: this call began the capture; 0: it was already on (or failed). */
static int mute_stderr(void)
{
    if(dsn_quiet()) return 0;
    return dsn_quiet_begin() == 0;
}

static void unmute_stderr(int began)
{
    if(began > 0) dsn_quiet_end();
}

/* Sealed weights, unsealed with the serial a legitimate user holds: by the [serial_stamp] layer
 * when the network kept it (unless it already did at load time, with DSN_SERIAL), here otherwise. */
static int unseal(dsn_model *m, const dsn_cfg *c, const dsn_serial *serial, const dsn_model_opts *o,
                  char *err, size_t errlen)
{
    network *net = m->net;
    int upto = o->upto > 0 && o->upto < net->n ? o->upto : net->n;
    if(o->unseal < 0 || (!m->seal.version && o->unseal == 0)) return 0;
    /* a forced reading of weights no seal of the latest versions writes: they stay as stored */
    if(!m->seal.version && dsn_seal_fits(net, 0, upto, DSN_SEAL_LATEST) == 0) return 0;
    /* a cfg naming no seal has no nonce either: version 2, the latest without one */
    dsn_seal_spec reading = m->seal;
    if(!reading.version) reading.version = DSN_SEAL_V2;
    if(m->has_stamp && m->seal.version) {
        if(dsn_stamp_is_sealed(net) && dsn_stamp_unseal(net, serial) != 0) {
            snprintf(err, errlen, "%s: cannot unseal the weights with the serial", c->path);
            return -1;
        }
    } else if(dsn_seal_network(net, 0, upto, serial, &reading, DSN_UNSEAL) != 0) {
        snprintf(err, errlen, "%s: cannot unseal the weights (not sealed in version %d, out of memory, or a layer type "
                 "sealing does not know)", c->path, reading.version);
        return -1;
    }
    m->unsealed = 1;
    return 0;
}

int dsn_model_load_cfg(dsn_model *m, const dsn_cfg *c, const char *weights, const dsn_serial *serial,
                       const dsn_model_opts *o, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if(weights && readable(weights, "weights", err, errlen) != 0) return -1;
    int g = dsn_cfg_stamp_geometry(c, &m->geo, err, errlen);
    if(g < 0) return -1;
    m->had_stamp = g == 0;
    int stamp_at = dsn_cfg_find(c, "[serial_stamp]", 0);
    if(m->had_stamp && stamp_at != 1 && !o->strip_stamp) {
        snprintf(err, errlen, "%s:%d: [serial_stamp] must be the first layer", c->path, c->sec[stamp_at].line);
        return -1;
    }
    if(dsn_cfg_input_size(c, &m->w, &m->h, &m->c, err, errlen) != 0) return -1;

    /* an edited cfg, or one to build without its stamp, goes through a temporary copy */
    int temp = c->edited || (o->strip_stamp && m->had_stamp);
    char tmp[4096];
    if(temp) {
        dsn_cfg copy = *c;
        if(o->strip_stamp && m->had_stamp) {
            /* a shallow copy without the stamp sections: dsn_cfg_write_temp only reads it */
            copy.n = 0;
            copy.sec = malloc((size_t)c->n * sizeof *copy.sec);
            if(!copy.sec) {
                snprintf(err, errlen, "%s: out of memory", c->path);
                return -1;
            }
            for(int i = 0; i < c->n; ++i) {
                if(strcmp(c->sec[i].type, "[serial_stamp]") != 0) copy.sec[copy.n++] = c->sec[i];
            }
        }
        int rc = dsn_cfg_write_temp(&copy, tmp, sizeof tmp, err, errlen);
        if(copy.sec != c->sec) free(copy.sec);
        if(rc != 0) return -1;
    } else {
        snprintf(tmp, sizeof tmp, "%s", c->path);
    }
    int saved = o->quiet ? mute_stderr() : -1;
    srand(o->init_seed);
    m->net = parse_network_cfg_batch(tmp, o->batch > 0 ? o->batch : 0);
    if(temp) unlink(tmp);
    network *net = m->net;
#ifdef GPU
    if(o->cpu) net->gpu_index = -1;   /* host weights are loaded too: the CPU path reads them */
#endif
    m->has_stamp = dsn_stamp_state_of(net) != NULL;
    m->inputs = net->inputs;
    m->classes = net->outputs;
    int rc = -1;
    if(weights) {
        /* Darknet's one size check (darknet_patch/0026), reported here instead of exiting */
        if(check_weights_size(net, (char *)weights, 0, o->upto > 0 && o->upto < net->n ? o->upto : net->n, err, errlen) != 0) goto done;
        load_weights_upto(net, (char *)weights, 0, o->upto > 0 ? o->upto : net->n);
    }
    if(m->has_stamp && serial) {
        dsn_stamp_state *s = dsn_stamp_state_of(net);
        if(serial->nbits != s->geo.bits) {
            snprintf(err, errlen, "%s stamps %d-bit serials, the serial has %d bits", c->path, s->geo.bits, serial->nbits);
            goto done;
        }
        s->serial = *serial;
        s->has_serial = 1;
    }
    int at = dsn_cfg_find(c, "[serial_stamp]", 0);
    char serr[200];
    const dsn_cfg_section *st = at >= 0 ? &c->sec[at] : NULL;
    if(st && dsn_seal_spec_parse(&m->seal, dsn_cfg_get(st, "sealed"), dsn_cfg_get(st, "seal_nonce"),
                                 dsn_cfg_get(st, "seal_cost"), serr, sizeof serr) != 0) {
        snprintf(err, errlen, "%s:%d: [serial_stamp] %s", c->path, c->sec[at].line, serr);
        goto done;
    }
    if(weights && serial && unseal(m, c, serial, o, err, errlen) != 0) goto done;
    rc = 0;
done:
    unmute_stderr(saved);
    if(rc != 0) dsn_model_free(m);
    return rc;
}

int dsn_model_load(dsn_model *m, const char *cfg_path, const char *weights, const dsn_serial *serial,
                   const dsn_model_opts *o, char *err, size_t errlen)
{
    dsn_cfg c;
    memset(m, 0, sizeof *m);
    if(dsn_cfg_read(&c, cfg_path, err, errlen) != 0) return -1;
    int rc = dsn_model_load_cfg(m, &c, weights, serial, o, err, errlen);
    dsn_cfg_free(&c);
    return rc;
}

/* ---- layers ------------------------------------------------------------------------------- */

int dsn_layer_has_params(const layer *l)
{
    return l->type == CONVOLUTIONAL || l->type == CONNECTED || l->type == BATCHNORM;
}

int dsn_layer_copy_params(layer *dst, const layer *src)
{
    if(dst->type != src->type || !dsn_layer_has_params(src)) return -1;
    /* Darknet's connected layer leaves nweights at 0 */
    long nw = src->type == CONVOLUTIONAL ? src->nweights : src->type == CONNECTED ? (long)src->inputs * src->outputs : 0;
    if(dst->nweights != src->nweights || dst->outputs != src->outputs || dst->inputs != src->inputs ||
       dst->batch_normalize != src->batch_normalize || dst->n != src->n || dst->size != src->size)
        return -1;
    int nb = src->type == CONVOLUTIONAL ? src->n : src->type == CONNECTED ? src->outputs : src->c;
    if(src->type != BATCHNORM) {
        memcpy(dst->weights, src->weights, (size_t)nw * sizeof(float));
        memcpy(dst->biases, src->biases, (size_t)nb * sizeof(float));
    }
    if(src->type == BATCHNORM || src->batch_normalize) {
        if(src->type == BATCHNORM) memcpy(dst->biases, src->biases, (size_t)nb * sizeof(float));
        memcpy(dst->scales, src->scales, (size_t)nb * sizeof(float));
        memcpy(dst->rolling_mean, src->rolling_mean, (size_t)nb * sizeof(float));
        memcpy(dst->rolling_variance, src->rolling_variance, (size_t)nb * sizeof(float));
    }
#ifdef GPU
    if(gpu_index >= 0) {
        if(src->type == CONVOLUTIONAL) push_convolutional_layer(*dst);
        if(src->type == CONNECTED) push_connected_layer(*dst);
        if(src->type == BATCHNORM) push_batchnorm_layer(*dst);
    }
#endif
    return 0;
}

int dsn_net_first(const network *net, LAYER_TYPE type)
{
    for(int i = 0; i < net->n; ++i) {
        if(net->layers[i].type == type) return i;
    }
    return -1;
}

int dsn_net_last(const network *net, LAYER_TYPE type)
{
    for(int i = net->n - 1; i >= 0; --i) {
        if(net->layers[i].type == type) return i;
    }
    return -1;
}
