/* dsn_fleet_plan.c: `dsn fleet plan`: the fleet directory and one work item per certificate.
 *
 * Everything is checked before anything is written: the files, every certificate (its signature
 * against --pub, its stamp against the student cfg's [serial_stamp]), the .data file's lists.
 * The fleet directory is built beside its final name and renamed into place. */
#include "dsn_fleet.h"
#include "dsn_issue_batch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsn_cert.h"
#include "dsn_dir.h"
#include "dsn_eval.h"
#include "dsn_util.h"

#define TEXT_MAX (16u << 20)

typedef struct plan_item {
    char name[DSN_FLEET_NAME_MAX + 1];
    char cert_path[DSN_FLEET_PATH];
    dsn_cert cert;
    const char *notes;
    int seed;
} plan_item;

typedef struct plan {
    const dsn_fleet_plan_opts *o;
    char dsn[DSN_FLEET_PATH], darknet[DSN_FLEET_PATH], cwd[DSN_FLEET_PATH], out[DSN_FLEET_PATH];
    char tcfg[DSN_FLEET_PATH], tweights[DSN_FLEET_PATH], pub[DSN_FLEET_PATH], data[DSN_FLEET_PATH];
    char certs[DSN_FLEET_PATH];
    char train_list[DSN_FLEET_PATH]; /* the .data file's train=, absolute                 */
    char tmp[DSN_FLEET_PATH];        /* the fleet directory being built                  */
    char dataset[256];               /* the .data file's name: "mnist" for cfg/mnist.data */
    char *student;                   /* the student cfg, teacher paths made absolute      */
    char *data_text;                 /* the .data file, lists absolute, no backup= line   */
    plan_item *items;
    int n;
    json_t *notes;                   /* certs/customers.json, when there is one           */
} plan;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for(; *s; ++s) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* An item's seed: the plan's seed and the item's name, nothing else (adding customers never
 * changes another customer's seed). In [1, 2^31). */
static int item_seed(int seed, const char *name)
{
    uint64_t x = fnv1a(name) ^ ((uint64_t)(unsigned)seed * 0x9E3779B97F4A7C15ull);
    return (int)(splitmix(&x) % 2147483646u) + 1;
}

/* Training run j's seed: the item's seed plus 1000 j, kept in [1, 2^31) (run 0: the item's). */
static int run_seed(int seed, int j)
{
    return (int)(((uint64_t)(seed - 1) + 1000u * (uint64_t)j) % 2147483646u) + 1;
}

static int absolute(char *out, const char *path, const char *option)
{
    if(!realpath(path, out)) {
        dsn_error("fleet plan: %s %s: %s", option, path, strerror(errno));
        return -1;
    }
    return 0;
}

/* "key=value" lines (Darknet strips all blanks), for the teacher paths and the .data keys. */
static int line_key(const char *line, size_t len, char *key, size_t klen, char *val, size_t vlen)
{
    size_t k = 0, v = 0, i = 0;
    for(; i < len && line[i] != '='; ++i)
        if(line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n' && k + 1 < klen) key[k++] = line[i];
    key[k] = '\0';
    if(i == len || k == 0 || key[0] == '#' || key[0] == ';' || key[0] == '[') return 0;
    for(++i; i < len; ++i)
        if(line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n' && v + 1 < vlen) val[v++] = line[i];
    val[v] = '\0';
    return 1;
}

/* The student cfg with teacher_cfg= and teacher_weights= absolute (and max_batches= when asked). */
static int student_text(plan *p)
{
    size_t len, size = 0;
    char *text = dsn_read_file(p->o->student_cfg, TEXT_MAX, &len), *out = NULL;
    if(!text) return -1;
    FILE *m = open_memstream(&out, &size);
    if(!m) dsn_die("out of memory");
    int tc = 0, tw = 0;
    for(char *line = text, *end; *line; line = end) {
        end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        char key[64], val[DSN_FLEET_PATH];
        int is = line_key(line, (size_t)(end - line), key, sizeof key, val, sizeof val);
        if(is && strcmp(key, "teacher_cfg") == 0) tc += fprintf(m, "teacher_cfg=%s\n", p->tcfg) > 0;
        else if(is && strcmp(key, "teacher_weights") == 0) tw += fprintf(m, "teacher_weights=%s\n", p->tweights) > 0;
        else if(is && strcmp(key, "max_batches") == 0 && p->o->max_batches > 0) fprintf(m, "max_batches=%d\n", p->o->max_batches);
        else fwrite(line, 1, (size_t)(end - line), m);
    }
    fclose(m);
    free(text);
    p->student = out;
    if(tc != 1 || tw != 1) {
        dsn_error("fleet plan: --student-cfg %s has %d teacher_cfg= and %d teacher_weights= lines: a student cfg has one "
                  "[distill_kl] with both", p->o->student_cfg, tc, tw);
        return -1;
    }
    return 0;
}

/* The .data file with its lists absolute (they are relative to where Darknet runs) and no backup=. */
static int data_text(plan *p)
{
    static const char *const lists[] = {"train", "valid", "labels", "names", "tree"};
    size_t len, size = 0;
    char *text = dsn_read_file(p->data, TEXT_MAX, &len), *out = NULL;
    if(!text) return -1;
    FILE *m = open_memstream(&out, &size);
    if(!m) dsn_die("out of memory");
    int found = 0, rc = 0, lineno = 0;
    for(char *line = text, *end; *line && rc == 0; line = end) {
        end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        ++lineno;
        char key[64], val[DSN_FLEET_PATH], abs[DSN_FLEET_PATH];
        int is = line_key(line, (size_t)(end - line), key, sizeof key, val, sizeof val), list = -1;
        for(int i = 0; is && i < DSN_COUNT(lists); ++i)
            if(strcmp(key, lists[i]) == 0) list = i;
        if(is && strcmp(key, "backup") == 0) continue;
        if(list < 0) {
            fwrite(line, 1, (size_t)(end - line), m);
            continue;
        }
        if(!realpath(val, abs)) {
            dsn_error("fleet plan: %s:%d: %s=%s: %s (paths are relative to where dsn fleet plan runs)", p->o->data,
                      lineno, key, val, strerror(errno));
            rc = -1;
        }
        fprintf(m, "%s=%s\n", key, abs);
        if(list == 0) snprintf(p->train_list, sizeof p->train_list, "%s", abs);
        if(list < 3) found |= 1 << list;
    }
    fclose(m);
    free(text);
    p->data_text = out;
    if(rc == 0 && found != 7) {
        dsn_error("fleet plan: --data %s needs train=, valid= and labels= lines", p->o->data);
        rc = -1;
    }
    return rc;
}

static int sn_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 3 && e->d_name[0] != '.' && strcmp(e->d_name + n - 3, ".sn") == 0;
}

/* One item per certs/NAME.sn, in name order; each loaded, verified when --pub is given, and of
 * the student cfg's stamp geometry. */
static int load_certs(plan *p, const dsn_geometry *g, dsn_key *pub)
{
    struct dirent **e = NULL;
    char path[DSN_FLEET_PATH + 16], err[1024];
    int n = scandir(p->o->certs, &e, sn_file, alphasort), rc = 0;
    if(n < 0) {
        dsn_error("fleet plan: --certs %s: %s", p->o->certs, strerror(errno));
        return -1;
    }
    dsn_fleet_pathf(path, sizeof path, "%s/customers.json", p->o->certs);
    if(access(path, F_OK) == 0 && !(p->notes = dsn_fleet_read_json(path))) rc = -1;
    p->items = calloc((size_t)n + 1, sizeof *p->items);
    if(!p->items) dsn_die("out of memory");
    for(int i = 0; i < n && rc == 0; ++i) {
        plan_item *it = &p->items[p->n];
        dsn_geometry cg;
        snprintf(it->name, sizeof it->name, "%.*s", (int)(strlen(e[i]->d_name) - 3), e[i]->d_name);
        dsn_fleet_pathf(path, sizeof path, "%s/%s", p->o->certs, e[i]->d_name);
        if(strlen(e[i]->d_name) - 3 > DSN_FLEET_NAME_MAX || !dsn_fleet_name_ok(it->name)) {
            dsn_error("fleet plan: %s: a certificate's file name must be NAME.sn with NAME of 1..%d letters, digits, "
                      "'.', '_' or '-' (dsn issue --batch names them so)", path, DSN_FLEET_NAME_MAX);
            rc = -1;
        } else if(!realpath(path, it->cert_path) || dsn_cert_load(&it->cert, path, err, sizeof err) != 0) {
            dsn_error("fleet plan: %s", err);
            rc = -1;
        } else if(pub && dsn_cert_verify(&it->cert, pub, err, sizeof err) != 0) {
            dsn_error("fleet plan: %s does not verify against --pub %s: %s", path, p->o->pub, err);
            rc = DSN_EXIT_NO;
        } else if(dsn_cert_geometry(&cg, &it->cert, err, sizeof err) != 0 || !dsn_geometry_same(&cg, g)) {
            char want[120], have[120];
            dsn_geometry_describe(have, sizeof have, &cg);
            dsn_geometry_describe(want, sizeof want, g);
            dsn_error("fleet plan: %s is for a stamp of %s, --student-cfg %s stamps %s", path, have,
                      p->o->student_cfg, want);
            rc = -1;
        } else {
            it->notes = dsn_issue_index_notes(p->notes, e[i]->d_name);
            it->seed = item_seed(p->o->seed, it->name);
            ++p->n;
        }
    }
    for(int i = 0; i < n; ++i) free(e[i]);
    free(e);
    if(rc == 0 && p->n == 0) {
        dsn_error("fleet plan: --certs %s holds no certificate (*.sn): dsn issue --batch writes them", p->o->certs);
        rc = -1;
    }
    return rc;
}

static json_t *argv_of(const char *const *a)
{
    json_t *j = json_array();
    for(; *a; ++a) json_array_append_new(j, json_string(*a));
    return j;
}

static json_t *step(const char *name, json_t *argv)
{
    char log[64];
    snprintf(log, sizeof log, "%s.log", name);
    return json_pack("{s:s, s:o, s:s}", "name", name, "argv", argv, "log", log);
}

/* --others for item i: a seeded sample of min(cross, n-1) other customers' certificates. */
static char *others_of(const plan *p, int i, json_t *names)
{
    int k = p->o->cross < p->n - 1 ? p->o->cross : p->n - 1, *idx = malloc(sizeof(int) * (size_t)p->n);
    uint64_t x = fnv1a(p->items[i].name) ^ ((uint64_t)(unsigned)p->o->seed << 32) ^ 0xC0055ull;
    size_t size = 0;
    char *out = NULL;
    FILE *m = open_memstream(&out, &size);
    if(!idx || !m) dsn_die("out of memory");
    for(int j = 0, n = 0; j < p->n; ++j)
        if(j != i) idx[n++] = j;
    for(int j = 0; j < k; ++j) { /* partial Fisher-Yates over the others */
        int r = j + (int)(splitmix(&x) % (uint64_t)(p->n - 1 - j)), t = idx[j];
        idx[j] = idx[r];
        idx[r] = t;
        fprintf(m, "%s%s/certs/%s.sn", j ? "," : "", p->out, p->items[idx[j]].name);
        json_array_append_new(names, json_string(p->items[idx[j]].name));
    }
    fclose(m);
    free(idx);
    return out;
}

static json_t *eval_step(const plan *p, int i, const char *work, json_t *others_names)
{
    const plan_item *it = &p->items[i];
    char cfg[DSN_FLEET_PATH + 32], weights[DSN_FLEET_PATH + 32], cert[DSN_FLEET_PATH + 80],
        data[DSN_FLEET_PATH + 80], json[DSN_FLEET_PATH + 16], md[DSN_FLEET_PATH + 16], n[6][16];
    dsn_fleet_pathf(cfg, sizeof cfg, "%s/customer/customer.cfg", work);
    dsn_fleet_pathf(weights, sizeof weights, "%s/customer/customer.weights", work);
    dsn_fleet_pathf(cert, sizeof cert, "%s/certs/%s.sn", p->out, it->name);
    dsn_fleet_pathf(data, sizeof data, "%s/items/%s.data", p->out, it->name);
    dsn_fleet_pathf(json, sizeof json, "%s/eval.json", work);
    dsn_fleet_pathf(md, sizeof md, "%s/eval.md", work);
    const int nums[6] = {it->seed, p->o->forged, p->o->near2, p->o->near4, p->o->per_serial, p->o->threads};
    for(int k = 0; k < 6; ++k) snprintf(n[k], sizeof n[k], "%d", nums[k]);
    const char *a[40] = {p->dsn, "eval", "--cfg", cfg, "--weights", weights, "--cert", cert, "--data", data,
                         "--teacher-cfg", p->tcfg, "--teacher-weights", p->tweights, "--seed", n[0], "--forged", n[1],
                         "--near2", n[2], "--near4", n[3], "--images-per-serial", n[4], "--threads", n[5],
                         "--json", json, "--md", md, "--dataset", p->dataset, "--quiet"};
    int at = 33;
    char *others = others_of(p, i, others_names);
    if(p->pub[0]) {
        a[at++] = "--pub";
        a[at++] = p->pub;
    }
    if(others[0]) {
        a[at++] = "--others";
        a[at++] = others;
    }
    json_t *s = step("eval", argv_of(a));
    free(others);
    return s;
}

/* dsn select over the K runs' sealed exports, on select.list with the item's run-1 seed (serials
 * other than eval's), installing the chosen run as work/customer/. */
static json_t *select_step(const plan *p, int i, const char *work)
{
    const plan_item *it = &p->items[i];
    char cfg[DSN_FLEET_PATH + 100], cert[DSN_FLEET_PATH + 80], data[DSN_FLEET_PATH + 80], list[DSN_FLEET_PATH + 16],
        json[DSN_FLEET_PATH + 16], customer[DSN_FLEET_PATH + 16], drop[32], n[5][16];
    dsn_fleet_pathf(cfg, sizeof cfg, "%s/run0/customer.cfg", work);
    dsn_fleet_pathf(cert, sizeof cert, "%s/certs/%s.sn", p->out, it->name);
    dsn_fleet_pathf(data, sizeof data, "%s/items/%s.data", p->out, it->name);
    dsn_fleet_pathf(list, sizeof list, "%s/select.list", p->out);
    dsn_fleet_pathf(json, sizeof json, "%s/select.json", work);
    dsn_fleet_pathf(customer, sizeof customer, "%s/customer", work);
    snprintf(drop, sizeof drop, "%.17g", p->o->max_drop);
    const int nums[5] = {run_seed(it->seed, 1), p->o->forged, p->o->near2, p->o->per_serial, p->o->threads};
    for(int k = 0; k < 5; ++k) snprintf(n[k], sizeof n[k], "%d", nums[k]);
    const char *a[] = {p->dsn, "select", "--cfg", cfg, "--cert", cert, "--data", data, "--list", list,
                       "--teacher-cfg", p->tcfg, "--teacher-weights", p->tweights, "--seed", n[0], "--forged", n[1],
                       "--near2", n[2], "--images-per-serial", n[3], "--threads", n[4], "--max-drop", drop,
                       "--json", json, "--install", customer, NULL};
    json_t *argv = argv_of(a);
    if(p->pub[0]) {
        json_array_append_new(argv, json_string("--pub"));
        json_array_append_new(argv, json_string(p->pub));
    }
    for(int j = 0; j < p->o->candidates; ++j) {
        dsn_fleet_pathf(cfg, sizeof cfg, "%s/run%d/customer.weights", work, j);
        json_array_append_new(argv, json_string(cfg));
    }
    return step("select", argv);
}

/* The cfg training run j trains (cfg NULL: not wanted), and the weights it leaves: Darknet names
 * them after the cfg (run 0: student.cfg, backup/student.weights; run j: student_runJ.cfg, a copy
 * of it, backup/student_runJ.weights). */
static void run_paths(const plan *p, int j, const char *work, char *cfg, size_t clen, char *weights, size_t wlen)
{
    if(j == 0) {
        if(cfg) dsn_fleet_pathf(cfg, clen, "%s/student.cfg", p->out);
        dsn_fleet_pathf(weights, wlen, "%s/backup/student.weights", work);
    } else {
        if(cfg) dsn_fleet_pathf(cfg, clen, "%s/student_run%d.cfg", p->out, j);
        dsn_fleet_pathf(weights, wlen, "%s/backup/student_run%d.weights", work, j);
    }
}

/* The steps before eval: train and export each run (one run: train, export into customer/), and
 * with more than one, dsn select installing the best lock's run as customer/. */
static void run_steps(const plan *p, int i, const char *work, const char *serial, json_t *steps, json_t *seeds)
{
    const plan_item *it = &p->items[i];
    int k = p->o->candidates;
    char data[DSN_FLEET_PATH + 80], cfg[DSN_FLEET_PATH + 32], weights[DSN_FLEET_PATH + 100], seed[16], name[32],
        dir[DSN_FLEET_PATH + 100];
    dsn_fleet_pathf(data, sizeof data, "%s/items/%s.data", p->out, it->name);
    for(int j = 0; j < k; ++j) {
        run_paths(p, j, work, cfg, sizeof cfg, weights, sizeof weights);
        snprintf(seed, sizeof seed, "%d", run_seed(it->seed, j));
        json_array_append_new(seeds, json_integer(run_seed(it->seed, j)));
        const char *train[] = {p->darknet, "classifier", "train", data, cfg, "-seed", seed, "-serial", serial, NULL};
        if(k == 1) snprintf(name, sizeof name, "train");
        else snprintf(name, sizeof name, "train%d", j);
        json_array_append_new(steps, step(name, argv_of(train)));
    }
    dsn_fleet_pathf(cfg, sizeof cfg, "%s/student.cfg", p->out); /* every run's cfg is this one */
    for(int j = 0; j < k; ++j) {
        run_paths(p, j, work, NULL, 0, weights, sizeof weights);
        if(k == 1) dsn_fleet_pathf(dir, sizeof dir, "%s/customer", work);
        else dsn_fleet_pathf(dir, sizeof dir, "%s/run%d", work, j);
        if(k == 1) snprintf(name, sizeof name, "export");
        else snprintf(name, sizeof name, "export%d", j);
        /* sealed to the customer's serial, as a shipped model is */
        const char *export[] = {p->dsn, "export", cfg, weights, "-o", dir, "--name", "customer", "--serial", serial, NULL};
        json_array_append_new(steps, step(name, argv_of(export)));
    }
    if(k > 1) json_array_append_new(steps, select_step(p, i, work));
}

/* items/NAME.json and items/NAME.data of item i, written into the fleet being built. */
static int write_item(const plan *p, int i)
{
    const plan_item *it = &p->items[i];
    char work[DSN_FLEET_PATH + 80], out[DSN_FLEET_PATH + 80], serial[DSN_SERIAL_TEXT_MAX], path[DSN_FLEET_PATH + 80],
        threads[16];
    dsn_fleet_pathf(work, sizeof work, "%s/work/%s", p->out, it->name);
    dsn_fleet_pathf(out, sizeof out, "%s/out/%s", p->out, it->name);
    snprintf(threads, sizeof threads, "%d", p->o->threads);
    dsn_serial_encode(serial, sizeof serial, &it->cert.serial);

    json_t *others = json_array(), *steps = json_array(), *seeds = json_array();
    run_steps(p, i, work, serial, steps, seeds);
    json_array_append_new(steps, eval_step(p, i, work, others));
    json_t *item = json_pack("{s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:o, s:s, s:s, s:s, s:{s:s}, s:o, s:o}",
                             "dsn_fleet_item", DSN_FLEET_VERSION, "name", it->name, "index", i, "customer",
                             it->cert.customer, "model", it->cert.model, "notes", it->notes, "serial", serial,
                             "seed", it->seed, "run_seeds", seeds, "cwd", p->cwd, "work", work, "out", out, "env",
                             "OMP_NUM_THREADS", threads, "others", others, "steps", steps);
    if(!item) dsn_die("fleet plan: cannot build item %s (out of memory)", it->name);
    dsn_fleet_pathf(path, sizeof path, "%s/items/%s.json", p->tmp, it->name);
    int rc = dsn_fleet_write_json(path, item);
    json_decref(item);
    size_t n = strlen(p->data_text);
    char *text = malloc(n + sizeof work + 16);
    if(!text) dsn_die("out of memory");
    int len = snprintf(text, n + sizeof work + 16, "%s%sbackup=%s/backup/\n", p->data_text,
                       n && p->data_text[n - 1] != '\n' ? "\n" : "", work);
    dsn_fleet_pathf(path, sizeof path, "%s/items/%s.data", p->tmp, it->name);
    if(rc == 0) rc = dsn_write_file(path, text, (size_t)len, 0644, DSN_WRITE_NEW);
    free(text);
    return rc;
}

static json_t *plan_json(const plan *p)
{
    char when[DSN_TIME_TEXT];
    dsn_time_format(when, (int64_t)time(NULL));
    json_t *names = json_array();
    for(int i = 0; i < p->n; ++i) json_array_append_new(names, json_string(p->items[i].name));
    json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, "
                          "s:{s:i, s:i, s:i, s:i, s:i}, s:o}",
                          "dsn_fleet", DSN_FLEET_VERSION, "created", when, "cwd", p->cwd, "dsn", p->dsn, "darknet",
                          p->darknet, "student_cfg_source", p->o->student_cfg, "teacher_cfg", p->tcfg, "teacher_weights",
                          p->tweights, "data", p->data, "pub", p->pub, "certs", p->certs, "seed", p->o->seed,
                          "threads", p->o->threads, "max_batches", p->o->max_batches, "eval", "forged", p->o->forged,
                          "near2", p->o->near2, "near4", p->o->near4, "images_per_serial", p->o->per_serial, "cross",
                          p->o->cross, "customers", names);
    if(!j) dsn_die("fleet plan: cannot build fleet.json (out of memory)");
    json_object_set_new(j, "candidates", json_integer(p->o->candidates));
    json_object_set_new(j, "max_drop", json_real(p->o->max_drop));   /* every plan: the report's valid limit */
    if(p->o->candidates > 1)
        json_object_set_new(j, "select", json_pack("{s:s}", "list", "select.list"));
    return j;
}

/* select.list: every fourth image of the training list (its 1st, 5th, ...), as make demo's. */
static int write_select_list(const plan *p)
{
    size_t len, size = 0;
    char *text = dsn_read_file(p->train_list, TEXT_MAX * 16, &len), *out = NULL, path[DSN_FLEET_PATH + 32];
    if(!text) return -1;
    FILE *m = open_memstream(&out, &size);
    if(!m) dsn_die("out of memory");
    int line = 0, kept = 0;
    for(char *at = text, *end; *at; at = end, ++line) {
        end = strchr(at, '\n');
        end = end ? end + 1 : at + strlen(at);
        if(line % 4 != 0 || end - at < 2) continue;
        fwrite(at, 1, (size_t)(end - at), m);
        if(end[-1] != '\n') fputc('\n', m);
        ++kept;
    }
    fclose(m);
    free(text);
    dsn_fleet_pathf(path, sizeof path, "%s/select.list", p->tmp);
    int rc = kept > 0 ? dsn_write_file(path, out, size, 0644, DSN_WRITE_NEW) : -1;
    if(kept == 0) dsn_error("fleet plan: %s (train= of --data %s) lists no image to choose runs on", p->train_list, p->o->data);
    free(out);
    return rc;
}

/* The fleet directory, built in p->tmp (beside its final name) and renamed into place. */
static int write_fleet(plan *p)
{
    static const char *const dirs[] = {"certs", "items", "work", "out", "failed", "logs", "slurm"};
    char path[DSN_FLEET_PATH + 100], text[DSN_CERT_TEXT_MAX];
    if(dsn_dir_new_beside(p->tmp, sizeof p->tmp, p->out) != 0) return -1;
    int rc = 0;
    for(int i = 0; i < DSN_COUNT(dirs) && rc == 0; ++i) {
        dsn_fleet_pathf(path, sizeof path, "%s/%s", p->tmp, dirs[i]);
        if(mkdir(path, 0777) != 0) {
            dsn_error("fleet plan: cannot create %s: %s", path, strerror(errno));
            rc = -1;
        }
    }
    for(int j = 0; j < p->o->candidates && rc == 0; ++j) {
        if(j == 0) dsn_fleet_pathf(path, sizeof path, "%s/student.cfg", p->tmp);
        else dsn_fleet_pathf(path, sizeof path, "%s/student_run%d.cfg", p->tmp, j);
        rc = dsn_write_file(path, p->student, strlen(p->student), 0644, DSN_WRITE_NEW);
    }
    if(rc == 0 && p->o->candidates > 1) rc = write_select_list(p);
    for(int i = 0; i < p->n && rc == 0; ++i) {
        int n = dsn_cert_format(text, sizeof text, &p->items[i].cert);
        dsn_fleet_pathf(path, sizeof path, "%s/certs/%s.sn", p->tmp, p->items[i].name);
        rc = n < 0 ? -1 : dsn_write_file(path, text, (size_t)n, 0644, DSN_WRITE_NEW);
        if(rc == 0) rc = write_item(p, i);
    }
    json_t *j = plan_json(p);
    dsn_fleet_pathf(path, sizeof path, "%s/fleet.json", p->tmp);
    if(rc == 0) rc = dsn_fleet_write_json(path, j);
    json_decref(j);
    if(rc != 0) {
        dsn_dir_remove(p->tmp);
        return -1;
    }
    dsn_dir_sync(p->tmp, 1);
    return dsn_dir_install(p->tmp, p->out);
}

/* Paths made absolute, the programs found, the output checked. */
static int resolve(plan *p)
{
    const dsn_fleet_plan_opts *o = p->o;
    if(dsn_check_new(o->out, "dsn fleet plan writes a new fleet directory (run, report and slurm use an existing one)") != 0)
        return -1;
    if(!getcwd(p->cwd, sizeof p->cwd) || dsn_fleet_self(p->dsn, sizeof p->dsn) != 0) return -1;
    if(o->darknet) {
        if(absolute(p->darknet, o->darknet, "--darknet") != 0) return -1;
    } else {
        char *slash = strrchr(p->dsn, '/');
        snprintf(p->darknet, sizeof p->darknet, "%.*s/darknet", (int)(slash - p->dsn), p->dsn);
    }
    if(access(p->darknet, X_OK) != 0) {
        dsn_error("fleet plan: %s is not an executable darknet (--darknet PATH)", p->darknet);
        return -1;
    }
    if(absolute(p->tcfg, o->teacher_cfg, "--teacher-cfg") != 0 ||
       absolute(p->tweights, o->teacher_weights, "--teacher-weights") != 0 || absolute(p->data, o->data, "--data") != 0 ||
       absolute(p->certs, o->certs, "--certs") != 0 ||
       (o->pub && absolute(p->pub, o->pub, "--pub") != 0))
        return -1;
    const char *base = strrchr(p->data, '/') + 1, *dot = strrchr(base, '.');
    snprintf(p->dataset, sizeof p->dataset, "%.*s", (int)(dot && dot != base ? dot - base : (long)strlen(base)), base);
    /* the output's absolute name: its parent must exist */
    char parent[DSN_FLEET_PATH], copy[DSN_FLEET_PATH];
    snprintf(copy, sizeof copy, "%s", o->out);
    size_t n = strlen(copy);
    while(n > 1 && copy[n - 1] == '/') copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    base = slash ? slash + 1 : copy;
    if(slash == copy) snprintf(parent, sizeof parent, "/");
    else snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - copy) : 1, slash ? copy : ".");
    char real[DSN_FLEET_PATH];
    if(!realpath(parent, real)) {
        dsn_error("fleet plan: -o %s: %s: %s", o->out, parent, strerror(errno));
        return -1;
    }
    if((size_t)snprintf(p->out, sizeof p->out, "%s/%s", strcmp(real, "/") ? real : "", base) >= sizeof p->out - 200) {
        dsn_error("fleet plan: -o %s: path too long", o->out);
        return -1;
    }
    return 0;
}

int dsn_fleet_plan(const dsn_fleet_plan_opts *o)
{
    plan p;
    memset(&p, 0, sizeof p);
    p.o = o;
    dsn_geometry g;
    int w, h, c, rc = -1;
    char err[1024];
    dsn_key *pub = NULL;
    if(resolve(&p) != 0) goto done;
    if(dsn_eval_cfg_peek(o->student_cfg, &g, &w, &h, &c, err, sizeof err) != 0) {
        dsn_error("fleet plan: --student-cfg: %s", err);
        goto done;
    }
    if(o->pub && dsn_key_load_public(&pub, o->pub, err, sizeof err) != 0) {
        dsn_error("fleet plan: --pub: %s", err);
        goto done;
    }
    if((rc = load_certs(&p, &g, pub)) != 0) goto done;
    rc = -1;
    if(student_text(&p) != 0 || data_text(&p) != 0 || write_fleet(&p) != 0) goto done;
    printf("%s: %d items (seed %d, %d thread%s each", p.out, p.n, o->seed, o->threads, o->threads == 1 ? "" : "s");
    if(o->candidates > 1) printf(", %d training runs each, the best lock kept", o->candidates);
    printf(")\n");
    rc = 0;
done:
    dsn_key_free(pub);
    json_decref(p.notes);
    free(p.items);
    free(p.student);
    free(p.data_text);
    return rc == 0 ? DSN_EXIT_OK : rc == DSN_EXIT_NO ? DSN_EXIT_NO : DSN_EXIT_ERROR;
}
