/* cmd_export.c: `dsn export`: the customer's model, cut from a trained student.
 *
 *     dsn export cfg/mnist_student.cfg backup/mnist_student.weights -o customer/ [--name NAME]
 *
 * A student cfg is [net], [serial_stamp] (layer 0), G_e and G_y, [distill_kl] (G_y's loss), then
 * the training-only G_d branch. The customer gets DIR/NAME.cfg:
 *   [net]           batch=1, subdivisions=1 and the input size (height, width, channels)
 *   [serial_stamp]  its geometry only (bits, cell, corner, margin): the training roles and any
 *                   serial= are dropped, the customer passes -serial KEY (or DSN_SERIAL)
 *   every section after the stamp up to, not including, [distill_kl]
 *   [softmax]       groups=1: what [distill_kl] outputs at deploy time
 * and DIR/NAME.weights: the student's weights of the layers before [distill_kl]
 * (save_weights_upto), so the two models compute the same function.
 *
 * Sealed by default: with the customer's serial (--cert C.sn or --serial KEY) the weights are
 * written sealed to it (layers/dsn_seal.h, version 3: every weight padded with a keyed uniform
 * draw over a range of moderate floats, the key scrypt of the serial salted with a nonce of these
 * weights) and the cfg's [serial_stamp] says sealed=3, seal_nonce= and seal_cost=, so the file is
 * worth nothing without the serial, each serial a thief tries costs one scrypt, and two exports of
 * different weights to one serial share no pad; --no-seal writes them in the clear (the learned
 * lock alone).
 *
 * That is checked before anything is written: both models are loaded with Darknet (the customer's
 * unsealed by its serial, as darknet will) and run on random inputs stamped with a random serial;
 * the customer's softmax must equal the student's [distill_kl] output within 1e-5 (and every
 * output and exported weight must be finite). The customer's files are staged in memory files
 * (memfd) for that check, then installed as one unit: written into a new directory beside DIR that
 * keeps DIR's other files, which is swapped in with one renameat2 (dsn_swap.h), so DIR holds the
 * old pair or the new pair at every moment. An existing output is replaced only with --force, and
 * never when it is one of the export's own inputs. */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_cert.h"
#include "dsn_model.h"
#include "dsn_import.h"
#include "dsn_layers.h"
#include "dsn_seal.h"
#include "dsn_swap.h"
#include "dsn_util.h"

#define CFG_MAX (4u << 20)
#define CHECK_ROWS 8
#define CHECK_TOL 1e-5f

/* [net] options the customer keeps (after batch=1, subdivisions=1), and the stamp's geometry */
static const char *const net_keep[] = {"height", "width", "channels"};
static const char *const stamp_keep[] = {"bits", "cell", "corner", "margin", "columns", "frame", "wrap"};

/* ---- the cfg, as Darknet reads it ------------------------------------------------------------- */

typedef struct cfg_opt {
    char *key, *val;
    int line;
} cfg_opt;

typedef struct cfg_sec {
    char *name;        /* "[convolutional]"                 */
    int line;
    int first, n;      /* its options: opt[first..first+n)  */
} cfg_sec;

typedef struct cfg_text {
    char *buf;
    cfg_sec *sec;
    cfg_opt *opt;
    int nsec, nopt;
} cfg_text;

static void cfg_free(cfg_text *c)
{
    free(c->buf);
    free(c->sec);
    free(c->opt);
    memset(c, 0, sizeof *c);
}

/* Darknet's read_cfg: white space removed everywhere in a line, lines starting with '#' or ';'
 * are comments, '[' starts a section, anything else is key=value. Returns 0, or -1 after printing
 * an error naming the file and line. */
static int cfg_read(cfg_text *c, const char *path)
{
    size_t len;
    memset(c, 0, sizeof *c);
    c->buf = dsn_read_file(path, CFG_MAX, &len);
    if(!c->buf) return -1;
    if(strlen(c->buf) != len) {
        dsn_error("export: %s contains a NUL byte: not a cfg file", path);
        return -1;
    }
    size_t lines = 1;
    for(size_t i = 0; i < len; ++i) lines += c->buf[i] == '\n';
    c->sec = malloc(lines * sizeof *c->sec);
    c->opt = malloc(lines * sizeof *c->opt);
    if(!c->sec || !c->opt) {
        dsn_error("export: %s: out of memory", path);
        return -1;
    }
    int lineno = 0;
    for(char *p = c->buf; p && *p;) {
        char *nl = strchr(p, '\n'), *next = nl ? nl + 1 : NULL;
        if(nl) *nl = '\0';
        ++lineno;
        char *w = p;
        for(char *r = p; *r; ++r) {
            if(*r != ' ' && *r != '\t' && *r != '\r') *w++ = *r;
        }
        *w = '\0';
        if(*p == '\0' || *p == '#' || *p == ';') {
            p = next;
            continue;
        }
        if(*p == '[') {
            if(w[-1] != ']') {
                dsn_error("export: %s:%d: '%s' is not a section header", path, lineno, p);
                return -1;
            }
            c->sec[c->nsec++] = (cfg_sec){p, lineno, c->nopt, 0};
        } else {
            char *eq = strchr(p, '=');
            if(!c->nsec || !eq || eq == p) {
                dsn_error("export: %s:%d: '%s' is not key=value inside a section", path, lineno, p);
                return -1;
            }
            *eq = '\0';
            c->opt[c->nopt++] = (cfg_opt){p, eq + 1, lineno};
            ++c->sec[c->nsec - 1].n;
        }
        p = next;
    }
    return 0;
}

static const char *cfg_find(const cfg_text *c, int s, const char *key)
{
    for(int i = 0; i < c->sec[s].n; ++i) {
        const cfg_opt *o = &c->opt[c->sec[s].first + i];
        if(strcmp(o->key, key) == 0) return o->val;
    }
    return NULL;
}

static int in_list(const char *const *list, int n, const char *key)
{
    for(int i = 0; i < n; ++i) {
        if(strcmp(list[i], key) == 0) return 1;
    }
    return 0;
}

/* ---- the student's parts, found by structure ---------------------------------------------------- */

/* Layer i of the network is section i + 1 (section 0 is [net]). G_y is the path that ends at
 * [distill_kl]; G_d starts at the [route] right after it, which reads back into the features:
 * the layer it names is G_e's last, and G_e is what both heads share. Indexes in [route] layers=
 * and [shortcut] from= may be negative (relative), so a layer added to G_e moves nothing. */
typedef struct student_parts {
    int kl;       /* [distill_kl]: the customer model is the layers before it */
    int feat;     /* G_e's last layer (what G_d reads); -1 when the student has no G_d */
    int route;    /* G_d's [route]; -1 when none */
    int n;        /* layers in the student */
} student_parts;

/* The layers a [route] (layers=) or [shortcut] (from=) of layer i reads, as absolute indexes. */
static int layer_inputs(const cfg_text *c, int i, int *in, int max, const char *path)
{
    const int s = i + 1;
    const char *key = strcmp(c->sec[s].name, "[route]") == 0      ? "layers"
                    : strcmp(c->sec[s].name, "[shortcut]") == 0   ? "from"
                    : NULL;
    if(!key) return 0;
    const char *v = cfg_find(c, s, key);
    int n = 0, bad = !v || !*v;
    for(const char *p = v; !bad && *p;) {
        char *end;
        long k = strtol(p, &end, 10);
        bad = end == p || (*end && *end != ',') || (*end == ',' && !end[1]) || n == max ||
              k < -(1L << 30) || k > 1L << 30;
        if(!bad) in[n++] = (int)(k < 0 ? i + k : k);
        p = *end ? end + 1 : end;
    }
    if(bad) {
        dsn_error("export: %s:%d: %s %s=%s: expected layer indexes (negative: counted back from "
                  "this layer)", path, c->sec[s].line, c->sec[s].name, key, v ? v : "(missing)");
        return -1;
    }
    for(int k = 0; k < n; ++k) {
        if(in[k] < 0 || in[k] >= i) {
            dsn_error("export: %s:%d: %s %s=%s names layer %d, which is not before it (layer %d)", path,
                      c->sec[s].line, c->sec[s].name, key, v, in[k], i);
            return -1;
        }
    }
    return n;
}

/* Finds [distill_kl], G_d's [route] and G_e's last layer; prints an error naming the line. */
static int student_parts_find(const cfg_text *c, const char *path, student_parts *p)
{
    int in[64];
    *p = (student_parts){-1, -1, -1, c->nsec - 1};
    for(int i = 1; i < p->n && p->kl < 0; ++i) {
        if(strcmp(c->sec[i + 1].name, "[distill_kl]") == 0) p->kl = i;
        else if(layer_inputs(c, i, in, DSN_COUNT(in), path) < 0) return -1;
    }
    if(p->kl < 0) {
        dsn_error("export: %s: no [distill_kl] section: not a DSN student cfg (the customer model "
                  "ends where [distill_kl] is)", path);
        return -1;
    }
    if(p->kl < 2) {
        dsn_error("export: %s:%d: [distill_kl] follows [serial_stamp] directly: no G_y layers to export",
                  path, c->sec[p->kl + 1].line);
        return -1;
    }
    if(p->kl + 1 == p->n) return 0;   /* no G_d: a student trained by G_y's loss alone */
    const cfg_sec *r = &c->sec[p->kl + 2];
    if(strcmp(r->name, "[route]") != 0) {
        dsn_error("export: %s:%d: %s right after [distill_kl]: G_d must start with a [route] back to "
                  "G_e's last layer (e.g. layers=-3 behind a one-layer G_y)", path, r->line, r->name);
        return -1;
    }
    int n = layer_inputs(c, p->kl + 1, in, DSN_COUNT(in), path);
    if(n < 0) return -1;
    if(n != 1 || in[0] < 1 || in[0] >= p->kl - 1) {
        dsn_error("export: %s:%d: G_d's [route] layers=%s reads layer %d: it must name one layer of G_e, "
                  "between the stamp (0) and G_y's first layer (G_y ends at [distill_kl], layer %d)", path,
                  r->line, cfg_find(c, p->kl + 2, "layers"), in[0], p->kl);
        return -1;
    }
    p->route = p->kl + 1;
    p->feat = in[0];
    return 0;
}

static void student_parts_print(const student_parts *p, const char *path)
{
    if(p->feat < 0) {
        printf("%s: G_e + G_y layers 1-%d, [distill_kl] layer %d, no G_d branch\n", path, p->kl - 1, p->kl);
        return;
    }
    printf("%s: G_e layers 1-%d, G_y %d-%d, [distill_kl] %d, G_d %d-%d (not exported)\n", path, p->feat,
           p->feat + 1, p->kl - 1, p->kl, p->route, p->n - 1);
}

/* ---- memory files --------------------------------------------------------------------------- */

typedef struct memfile {
    int fd;
    char path[64];     /* /proc/self/fd/N: a name Darknet can fopen */
} memfile;

static int memfile_open(memfile *m, const char *name)
{
    m->fd = memfd_create(name, MFD_CLOEXEC);
    if(m->fd < 0) {
        dsn_error("export: cannot create a memory file: %s", strerror(errno));
        return -1;
    }
    snprintf(m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
    return 0;
}

static void memfile_close(memfile *m)
{
    if(m->fd >= 0) close(m->fd);
    m->fd = -1;
}

static off_t memfile_size(const memfile *m)
{
    struct stat st;
    return fstat(m->fd, &st) == 0 ? st.st_size : -1;
}

static char *memfile_read(const memfile *m, size_t *len)
{
    off_t n = memfile_size(m);
    if(n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if(!buf) return NULL;
    size_t got = 0;
    while(got < (size_t)n) {
        ssize_t r = pread(m->fd, buf + got, (size_t)n - got, (off_t)got);
        if(r < 0 && errno == EINTR) continue;
        if(r <= 0) {
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    *len = got;
    return buf;
}

/* ---- the export ----------------------------------------------------------------------------- */

/* Appends "[name]\nkey=val\n...\n" for section s, keeping only `keep` (NULL: all). */
static void emit_section(FILE *f, const cfg_text *c, int s, const char *const *keep, int nkeep)
{
    fprintf(f, "\n%s\n", c->sec[s].name);
    for(int i = 0; i < c->sec[s].n; ++i) {
        const cfg_opt *o = &c->opt[c->sec[s].first + i];
        if(!keep || in_list(keep, nkeep, o->key)) fprintf(f, "%s=%s\n", o->key, o->val);
    }
}

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if(!f) return 0;
    fclose(f);
    return 1;
}

/* NAME from the student's file name: x_student.cfg -> x_customer, x.cfg -> x_customer. */
static void default_name(char *out, size_t len, const char *cfg)
{
    const char *base = strrchr(cfg, '/');
    base = base ? base + 1 : cfg;
    size_t n = strlen(base);
    if(n > 4 && strcmp(base + n - 4, ".cfg") == 0) n -= 4;
    if(n >= 7 && strncmp(base + n - 7, "student", 7) == 0) snprintf(out, len, "%.*scustomer", (int)(n - 7), base);
    else snprintf(out, len, "%.*s_customer", (int)n, base);
}

static void random_bytes(uint8_t *out, size_t n)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(out, 1, n, f) : 0;
    if(f) fclose(f);
    if(got == n) return;
    dsn_rng r;   /* no /dev/urandom: still a serial nobody chose */
    dsn_rng_seed(&r, (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL));
    for(size_t i = 0; i < n; ++i) out[i] = (uint8_t)dsn_rng_next(&r);
}

typedef struct export_job {
    const char *cfg, *weights, *dir, *name;
    int force;
    int seal;                  /* seal the weights to `serial`                    */
    int seal_cost;             /* scrypt's log2 N in the seal's key (--seal-cost) */
    const char *serial_text;   /* --serial, decoded once the cfg's bits are known */
    dsn_serial serial;         /* the customer's serial (when sealing)            */
} export_job;

/* Loads both models and compares them; *maxdiff is the largest difference seen. */
static int check_models(network *student, network *customer, int kl, const dsn_serial *s,
                        float *maxdiff, int *rows_out, char *err, size_t errlen)
{
    const uint8_t has = 1;
    const layer *out = &student->layers[kl];
    if(customer->outputs != out->outputs || customer->inputs != student->inputs) {
        snprintf(err, errlen, "the customer model has %d inputs and %d outputs, the student %d and %d",
                 customer->inputs, customer->outputs, student->inputs, out->outputs);
        return -1;
    }
    if(dsn_stamp_override(student, s, &has, 1) != 0 || dsn_stamp_override(customer, s, &has, 1) != 0) {
        snprintf(err, errlen, "cannot stamp the check serial (%d bits) on both models", s->nbits);
        return -1;
    }
    int rows = student->batch < CHECK_ROWS ? student->batch : CHECK_ROWS;
    size_t n = (size_t)student->batch * (size_t)student->inputs;
    float *x = malloc(n * sizeof *x);
    if(!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    dsn_rng r;
    uint8_t seed[8];
    random_bytes(seed, sizeof seed);
    uint64_t sv = 0;
    for(int i = 0; i < 8; ++i) sv = sv << 8 | seed[i];
    dsn_rng_seed(&r, sv);
    for(size_t i = 0; i < n; ++i) x[i] = dsn_rng_uniform(&r);
    network_predict(student, x);
    float worst = 0;
    int rc = 0;
    for(int b = 0; b < rows && rc == 0; ++b) {
        float *y = network_predict(customer, x + (size_t)b * student->inputs);
        const float *want = out->output + (size_t)b * out->outputs;
        for(int k = 0; k < out->outputs; ++k) {
            float d = fabsf(y[k] - want[k]);
            if(!dsn_float_is_finite(y[k]) || !dsn_float_is_finite(want[k])) rc = -1;
            if(!(d <= worst)) worst = d;   /* NaN sticks */
        }
    }
    if(rc != 0) snprintf(err, errlen, "the student's output is not finite (NaN or inf): its weights are "
                         "broken (a diverged training?); nothing exported");
    free(x);
    dsn_stamp_override(student, NULL, NULL, 0);
    dsn_stamp_override(customer, NULL, NULL, 0);
    *maxdiff = worst;
    *rows_out = rows;
    if(rc != 0) return -1;
    if(!(worst <= CHECK_TOL)) {
        snprintf(err, errlen, "the exported model disagrees with the student's [distill_kl] output "
                 "by %g (tolerance %g)", worst, CHECK_TOL);
        return -1;
    }
    return 0;
}

/* Writes the student's layers [0, kl) to path, sealed to the customer's serial when asked (*seal:
 * how; version 0 when not); the student in memory is left as it was. */
static int seal_and_save(network *student, int kl, const export_job *job, const char *path, dsn_seal_spec *seal)
{
    memset(seal, 0, sizeof *seal);
    seal->version = job->seal ? DSN_SEAL_LATEST : 0;
    seal->cost = job->seal_cost;
    if(job->seal && dsn_seal_fits(student, 0, kl, DSN_SEAL_LATEST) == 0) {
        dsn_error("export: cannot seal the weights: one is outside the seal's range (|w| >= 64, a negative variance, "
                  "or not finite: did training diverge?)");
        return -1;
    }
    if(job->seal && (dsn_seal_nonce(seal->nonce, student, 0, kl) != 0 ||
                     dsn_seal_network(student, 0, kl, &job->serial, seal, DSN_SEAL) != 0)) {
        dsn_error("export: cannot seal the weights (out of memory, OpenSSL, or a layer type sealing does not know)");
        return -1;
    }
    save_weights_upto(student, (char *)path, kl);
    if(job->seal && dsn_seal_network(student, 0, kl, &job->serial, seal, DSN_UNSEAL) != 0) {
        dsn_error("export: cannot unseal the weights in memory");
        return -1;
    }
    return 0;
}

/* ---- inputs and outputs ------------------------------------------------------------------------ */

/* Every parameter of the customer's weights (after the header save_weights_upto writes) finite. */
static int weights_finite(const char *buf, size_t len, char *err, size_t errlen)
{
    size_t header = 3 * sizeof(int) + sizeof(size_t);
    for(size_t at = header; at + sizeof(float) <= len; at += sizeof(float)) {
        float v;
        memcpy(&v, buf + at, sizeof v);
        if(!dsn_float_is_finite(v)) {
            snprintf(err, errlen, "the student's weights hold NaN or inf (parameter %zu of the customer's part): "
                     "a diverged training; nothing exported", (at - header) / sizeof(float));
            return -1;
        }
    }
    return 0;
}

/* An output that is one of the inputs (the student's cfg or weights, the teacher's) is refused,
 * --force or not: replacing it would destroy what the export reads. */
static int check_not_inputs(const export_job *job, const cfg_text *c, int kls, const char *const outs[2])
{
    const char *in[4] = {job->cfg, job->weights, cfg_find(c, kls, "teacher_cfg"), cfg_find(c, kls, "teacher_weights")};
    static const char *const what[4] = {"STUDENT.cfg", "STUDENT.weights", "the teacher_cfg", "the teacher_weights"};
    for(int o = 0; o < 2; ++o) {
        struct stat so, si;
        if(stat(outs[o], &so) != 0) continue;
        for(int i = 0; i < 4; ++i) {
            if(in[i] && stat(in[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
                dsn_error("export: the output %s is %s (%s): choose another -o or --name", outs[o], what[i], in[i]);
                return -1;
            }
        }
    }
    return 0;
}

/* Writes NAME.cfg and NAME.weights into a stage beside -o DIR (holding everything else DIR holds)
 * and swaps it in: DIR has the old pair or the new pair at every moment, never a mix (dsn_swap.h). */
static int install_pair(const export_job *job, const char *cfg_buf, size_t cfg_len, const char *w_buf,
                        size_t w_len)
{
    char stage[4096], err[1024], names[2][256], path[4400];
    snprintf(names[0], sizeof names[0], "%s.weights", job->name);
    snprintf(names[1], sizeof names[1], "%s.cfg", job->name);
    const char *const mine[2] = {names[0], names[1]};
    const char *const data[2] = {w_buf, cfg_buf};
    const size_t len[2] = {w_len, cfg_len};
    if(dsn_stage_dir(stage, sizeof stage, job->dir, mine, 2, err, sizeof err) != 0) {
        dsn_error("export: -o %s", err);
        return -1;
    }
    for(int i = 0; i < 2; ++i) {
        if(dsn_pathf(path, sizeof path, "%s/%s", stage, names[i]) != 0 ||
           dsn_write_file(path, data[i], len[i], 0644, DSN_WRITE_NEW) != 0) {
            dsn_remove_tree(stage, err, sizeof err);
            return -1;
        }
    }
    if(dsn_swap_dir(stage, job->dir, err, sizeof err) != 0) {
        dsn_error("export: -o %s", err);
        return -1;
    }
    return 0;
}

/* The student cfg: [net], [serial_stamp] first, a [distill_kl] after G_y, outputs that are not
 * its inputs, a readable teacher. 0 or -1. */
static int check_student(export_job *job, const cfg_text *c, student_parts *parts, const char *const outs[2])
{
    if(c->nsec < 1 || (strcmp(c->sec[0].name, "[net]") != 0 && strcmp(c->sec[0].name, "[network]") != 0)) {
        dsn_error("export: %s: the first section must be [net]", job->cfg);
        return -1;
    }
    if(c->nsec < 2 || strcmp(c->sec[1].name, "[serial_stamp]") != 0) {
        dsn_error("export: %s: no [serial_stamp] as the first layer: not a DSN student cfg", job->cfg);
        return -1;
    }
    if(student_parts_find(c, job->cfg, parts) != 0) return -1;
    student_parts_print(parts, job->cfg);
    const int kls = parts->kl + 1;   /* [distill_kl]'s section: section 0 is [net] */
    if(check_not_inputs(job, c, kls, outs) != 0) return -1;
    /* the student loads its teacher; say so here rather than from inside Darknet */
    const char *const teacher[] = {"teacher_cfg", "teacher_weights"};
    for(int i = 0; i < DSN_COUNT(teacher); ++i) {
        const char *t = cfg_find(c, kls, teacher[i]);
        if(t && !readable(t)) {
            dsn_error("export: %s:%d: [distill_kl] %s=%s cannot be read (loading the student loads "
                      "its teacher; paths are relative to where dsn runs)", job->cfg, c->sec[kls].line,
                      teacher[i], t);
            return -1;
        }
    }
    return 0;
}

/* The customer cfg (G_e + G_y, then [softmax]; the weights sealed as *seal says) into the file at
 * path. 0 or -1. */
static int write_customer_cfg(const export_job *job, const cfg_text *c, int kls, const dsn_seal_spec *seal,
                              const char *path)
{
    FILE *f = fopen(path, "w");
    if(!f) {
        dsn_error("export: cannot write the memory file %s: %s", path, strerror(errno));
        return -1;
    }
    const char *base = strrchr(job->cfg, '/');
    base = base ? base + 1 : job->cfg;
    fprintf(f, "# %s: customer model exported by `dsn export` from %.200s (G_e + G_y).\n"
               "# The serial comes from -serial KEY (or DSN_SERIAL) at run time.%s\n",
            job->name, base, job->seal ? "\n# The weights are sealed to it: without it they are random draws." : "");
    fprintf(f, "[net]\nbatch=1\nsubdivisions=1\n");
    for(int i = 0; i < c->sec[0].n; ++i) {
        const cfg_opt *o = &c->opt[c->sec[0].first + i];
        if(in_list(net_keep, DSN_COUNT(net_keep), o->key)) fprintf(f, "%s=%s\n", o->key, o->val);
    }
    emit_section(f, c, 1, stamp_keep, DSN_COUNT(stamp_keep));
    if(seal->version) {
        char nonce[2*DSN_SEAL_NONCE_BYTES + 1];
        dsn_seal_nonce_text(nonce, seal);
        fprintf(f, "sealed=%d\nseal_nonce=%s\nseal_cost=%d\n", seal->version, nonce, seal->cost);
    }
    for(int s = 2; s < kls; ++s) emit_section(f, c, s, NULL, 0);
    fprintf(f, "\n[softmax]\ngroups=1\n");
    if(fclose(f) != 0) {
        dsn_error("export: cannot write the memory file %s", path);
        return -1;
    }
    return 0;
}

/* The customer's serial (--serial) decoded at the stamp's length, and a random check serial of
 * that length in *check and check_text. 0 or -1. */
static int stamp_serials(export_job *job, const cfg_text *c, dsn_serial *check, char *check_text, size_t len)
{
    char err[512];
    const char *bits_text = cfg_find(c, 1, "bits");
    long bits = bits_text ? strtol(bits_text, NULL, 10) : 64;
    if(bits < DSN_MIN_BITS || bits > DSN_MAX_BITS) {
        dsn_error("export: %s: [serial_stamp] bits=%s is out of range (%d..%d)", job->cfg,
                  bits_text ? bits_text : "", DSN_MIN_BITS, DSN_MAX_BITS);
        return -1;
    }
    if(job->serial_text && dsn_serial_decode(&job->serial, job->serial_text, (int)bits, err, sizeof err) != 0) {
        dsn_error("export: --serial '%s' (%ld bits, as %s's [serial_stamp]): %s", job->serial_text, bits, job->cfg, err);
        return -1;
    }
    if(job->seal && job->serial.nbits != bits) {
        dsn_error("export: the customer's serial has %d bits, %s's [serial_stamp] bits=%ld",
                  job->serial.nbits, job->cfg, bits);
        return -1;
    }
    uint8_t rnd[DSN_MAX_BITS / 8];
    random_bytes(rnd, sizeof rnd);
    if(dsn_serial_from_bytes(check, rnd, sizeof rnd, (int)bits) != 0 || dsn_serial_encode(check_text, len, check) < 0) {
        dsn_error("export: cannot make a %ld-bit check serial", bits);
        return -1;
    }
    return 0;
}

/* Loads the student, writes the customer weights (sealed) to weights_path and its cfg (c's
 * sections [0, kl + 1)) to cfg_path, loads the customer model back and checks it against the
 * student on random inputs. 0 or -1; the networks are returned for the caller to free. */
static int build_and_check(const export_job *job, const cfg_text *c, int kl, const char *cfg_path,
                           const char *weights_path, const dsn_serial *check, network **student, network **customer,
                           float *maxdiff, int *rows)
{
    char err[1024];
    gpu_index = -1;
    darknet_plugins_init();
    printf("loading the student %s with %s\n", job->cfg, job->weights);
    fflush(stdout);
    *student = parse_network_cfg((char *)job->cfg);
    /* Darknet's one size check (darknet_patch/0026), reported here rather than exiting */
    if(check_weights_size(*student, (char *)job->weights, 0, (*student)->n, err, sizeof err) != 0) {
        dsn_error("export: %s", err);
        return -1;
    }
    load_weights(*student, (char *)job->weights);
    dsn_seal_spec seal;
    if(seal_and_save(*student, kl, job, weights_path, &seal) != 0 ||
       write_customer_cfg(job, c, kl + 1, &seal, cfg_path) != 0)
        return -1;
    printf("checking the customer model against the student\n");
    fflush(stdout);
    if(job->seal) {   /* the customer model unseals itself at load time, with its serial */
        char cust_text[DSN_SERIAL_TEXT_MAX];
        dsn_serial_encode(cust_text, sizeof cust_text, &job->serial);
        setenv("DSN_SERIAL", cust_text, 1);
    }
    *customer = load_network((char *)cfg_path, (char *)weights_path, 0);
    if((*customer)->n != kl + 1) {
        dsn_error("export: the customer cfg has %d layers, expected %d", (*customer)->n, kl + 1);
        return -1;
    }
    if(check_models(*student, *customer, kl, check, maxdiff, rows, err, sizeof err) != 0) {
        dsn_error("export: %s", err);
        return -1;
    }
    return 0;
}

/* Reads the staged pair back, checks the weights are finite and installs both. 0 or -1. */
static int install_staged(export_job *job, memfile *mcfg, memfile *mweights, const char *const outs[2], size_t *w_len)
{
    char err[512];
    size_t cfg_len = 0;
    char *cfg_buf = memfile_read(mcfg, &cfg_len), *w_buf = memfile_read(mweights, w_len);
    int rc = -1;
    if(!cfg_buf || !w_buf) dsn_error("export: cannot read back the staged customer files");
    else if(weights_finite(w_buf, *w_len, err, sizeof err) != 0) dsn_error("export: %s", err);
    else if(job->force || (dsn_check_new(outs[0], "pass --force to replace it") == 0 &&
                           dsn_check_new(outs[1], "pass --force to replace it") == 0))
        rc = install_pair(job, cfg_buf, cfg_len, w_buf, *w_len);
    free(cfg_buf);
    free(w_buf);
    return rc;
}

static int export_model(export_job *job)
{
    char out_cfg[4096], out_weights[4096], serial_text[DSN_SERIAL_TEXT_MAX];
    cfg_text c;
    memfile mcfg = {-1, ""}, mweights = {-1, ""};
    network *student = NULL, *customer = NULL;
    char *old_serial = NULL;
    int rc = -1;

    if(dsn_pathf(out_cfg, sizeof out_cfg, "%s/%s.cfg", job->dir, job->name) != 0 ||
       dsn_pathf(out_weights, sizeof out_weights, "%s/%s.weights", job->dir, job->name) != 0) {
        dsn_error("export: -o %s: path too long", job->dir);
        return -1;
    }
    if(!job->force && (dsn_check_new(out_cfg, "pass --force to replace it") != 0 ||
                       dsn_check_new(out_weights, "pass --force to replace it") != 0))
        return -1;
    const char *const outs[2] = {out_cfg, out_weights};
    student_parts parts;
    if(cfg_read(&c, job->cfg) != 0 || check_student(job, &c, &parts, outs) != 0) goto cleanup;
    const int kl = parts.kl;
    if(memfile_open(&mcfg, "customer.cfg") != 0 || memfile_open(&mweights, "customer.weights") != 0) goto cleanup;
    /* a random serial of the stamp's length stamps the check inputs; the student's training
     * roles need one set at load time (valid > 0), so DSN_SERIAL holds it while loading */
    dsn_serial serial;
    if(stamp_serials(job, &c, &serial, serial_text, sizeof serial_text) != 0) goto cleanup;
    const char *prev = getenv("DSN_SERIAL");
    if(prev) old_serial = strdup(prev);
    setenv("DSN_SERIAL", serial_text, 1);
    float maxdiff;
    int rows;
    size_t w_len = 0;
    if(build_and_check(job, &c, kl, mcfg.path, mweights.path, &serial, &student, &customer, &maxdiff, &rows) != 0 ||
       install_staged(job, &mcfg, &mweights, outs, &w_len) != 0)
        goto cleanup;
    printf("wrote %s (%d layers: [serial_stamp] .. layer %d, [softmax]) and %s (%zu bytes)\n"
           "checked: on %d random inputs with a random serial the customer's output equals the "
           "student's [distill_kl] output (max |diff| %.2g)\n",
           out_cfg, kl + 1, kl - 1, out_weights, w_len, rows, (double)maxdiff);
    rc = 0;
cleanup:
    if(old_serial) setenv("DSN_SERIAL", old_serial, 1);
    else unsetenv("DSN_SERIAL");
    free(old_serial);
    if(customer) free_network(customer);
    if(student) free_network(student);
    memfile_close(&mcfg);
    memfile_close(&mweights);
    cfg_free(&c);
    return rc;
}

/* --cert must be for the stamp the student cfg trains with (else its stamped images and dsn eval
 * would not match the customer model). 0 or -1. */
static int cert_fits_cfg(const dsn_cert *c, const char *cert, const char *cfg)
{
    char err[512], want[120], have[120];
    dsn_geometry g, cg;
    if(dsn_cfg_file_stamp_geometry(cfg, &g, err, sizeof err) != 0) {
        dsn_error("export: %s", err);
        return -1;
    }
    if(dsn_cert_geometry(&cg, c, err, sizeof err) != 0 || !dsn_geometry_same(&cg, &g)) {
        dsn_geometry_describe(have, sizeof have, &cg);
        dsn_geometry_describe(want, sizeof want, &g);
        dsn_error("export: --cert %s is for a stamp of %s, but %s stamps %s: not this model's certificate "
                  "(dsn issue --cfg %s)", cert, have, cfg, want, cfg);
        return -1;
    }
    return 0;
}

/* The serial to seal to: exactly one of --cert, --serial and --no-seal. */
static int export_serial(export_job *job, const char *cert, const char *serial, int no_seal)
{
    char err[512];
    if((cert != NULL) + (serial != NULL) + (no_seal != 0) != 1) {
        dsn_error("export: give exactly one of --cert FILE, --serial KEY (the weights are sealed to the "
                  "customer's serial) and --no-seal");
        return -1;
    }
    job->seal = !no_seal;
    if(cert) {
        dsn_cert c;
        if(dsn_cert_load(&c, cert, err, sizeof err) != 0) {
            dsn_error("export: --cert: %s", err);
            return -1;
        }
        if(cert_fits_cfg(&c, cert, job->cfg) != 0) return -1;
        job->serial = c.serial;
    }
    job->serial_text = serial;
    return 0;
}

int dsn_cmd_export(int argc, char **argv)
{
    export_job job = {NULL, NULL, NULL, NULL, 0, 0, DSN_SEAL_COST_DEFAULT, NULL, {0, {0}}};
    const char *cert = NULL, *serial = NULL;
    int no_seal = 0;
    char *pos[2];
    int npos = 0;
    const dsn_option opts[] = {
        {"--output", "-o", DSN_ARG_STR, &job.dir, "DIR", "where to write NAME.cfg and NAME.weights"},
        {"--name", NULL, DSN_ARG_STR, &job.name, "NAME", "file names (default: the cfg's, student -> customer)"},
        {"--force", NULL, DSN_ARG_FLAG, &job.force, NULL, "replace existing outputs"},
        {"--cert", NULL, DSN_ARG_STR, &cert, "FILE", "the customer's certificate: seal the weights to its serial"},
        {"--serial", NULL, DSN_ARG_STR, &serial, "KEY", "the customer's serial, typed (instead of --cert)"},
        {"--no-seal", NULL, DSN_ARG_FLAG, &no_seal, NULL, "write the weights in the clear (the learned lock only)"},
        {"--seal-cost", NULL, DSN_ARG_INT, &job.seal_cost, "N", "scrypt's log2 N in the seal's key, 1..20 (14): each serial a "
                                                                 "thief tries costs 2^N KiB and ~2^N x 5 us of a core"},
    };
    const dsn_usage u = {
        "export", "STUDENT.cfg STUDENT.weights -o DIR (--cert C.sn | --serial KEY | --no-seal) [--name NAME] [--force]",
        "Writes the customer's model: DIR/NAME.cfg ([net] for inference, the serial stamp's geometry,\n"
        "G_e and G_y, a [softmax]) and DIR/NAME.weights (the student's weights up to [distill_kl]),\n"
        "sealed to the customer's serial: without it every weight is a keyed random draw (sealed=3,\n"
        "seal_nonce= and seal_cost= in the cfg: the key is scrypt of the serial, salted with a nonce of\n"
        "these weights; darknet ... -serial KEY unseals them at load time). --no-seal writes them in the clear.\n"
        "Both models are loaded and compared on random stamped inputs before anything is written.\n"
        "Run it where the student cfg's teacher paths resolve (loading a student loads its teacher).",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 2, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(npos != 2) {
        dsn_error("export: expected STUDENT.cfg and STUDENT.weights (see dsn export --help)");
        return DSN_EXIT_ERROR;
    }
    if(!job.dir || !*job.dir) {
        dsn_error("export: missing -o DIR (see dsn export --help)");
        return DSN_EXIT_ERROR;
    }
    job.cfg = pos[0];
    job.weights = pos[1];
    if(export_serial(&job, cert, serial, no_seal) != 0) return DSN_EXIT_ERROR;
    if(job.seal_cost < DSN_SEAL_COST_MIN || job.seal_cost > DSN_SEAL_COST_MAX) {
        dsn_error("export: --seal-cost %d: give %d..%d (scrypt's log2 N)", job.seal_cost, DSN_SEAL_COST_MIN, DSN_SEAL_COST_MAX);
        return DSN_EXIT_ERROR;
    }
    char name[256];
    if(job.name) {
        if(!*job.name || strchr(job.name, '/') || job.name[0] == '.' || strlen(job.name) > 200) {
            dsn_error("export: --name '%s': give a file name without '/' (not starting with '.')", job.name);
            return DSN_EXIT_ERROR;
        }
    } else {
        default_name(name, sizeof name, job.cfg);
        job.name = name;
    }
    struct stat st;
    if(stat(job.dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        dsn_error("export: -o %s exists and is not a directory", job.dir);
        return DSN_EXIT_ERROR;
    }
    const struct { const char *path, *what; } inputs[] = {{job.cfg, "STUDENT.cfg"}, {job.weights, "STUDENT.weights"}};
    for(int i = 0; i < DSN_COUNT(inputs); ++i) {
        if(!readable(inputs[i].path)) {
            dsn_error("export: cannot read %s (%s): %s", inputs[i].path, inputs[i].what, strerror(errno));
            return DSN_EXIT_ERROR;
        }
    }
    return export_model(&job) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
}
