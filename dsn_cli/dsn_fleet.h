/* dsn_fleet.h: one student per customer, trained, exported and evaluated as independent work
 * items, locally (dsn fleet run) or as a Slurm job array (dsn fleet slurm), and one report.
 *
 *     dsn fleet plan --certs certs/ --student-cfg S.cfg --teacher-cfg T.cfg \
 *                    --teacher-weights T.weights --data D.data -o fleet/
 *     dsn fleet run fleet/ -j 2            or    dsn fleet slurm fleet/ --submit
 *     dsn fleet report fleet/
 *
 * The fleet directory (written whole by plan, then only ever added to):
 *
 *     fleet.json            the plan: settings, and "customers", the item names in index order
 *                           (index = Slurm array task id)
 *     student.cfg           the student cfg, its teacher paths made absolute
 *     certs/NAME.sn         each customer's certificate (copied from --certs)
 *     student_runJ.cfg      with --candidates K > 1: student.cfg again for runs 1..K-1 (Darknet
 *                           names a run's weights after its cfg: backup/student_runJ.weights)
 *     select.list           with K > 1: every fourth training image, what dsn select chooses on
 *     items/NAME.json       one work item: its seed, serial, and the argv of each step (train with
 *                           darknet, dsn export, dsn eval; with K > 1 train0..trainK-1 and
 *                           export0..exportK-1 into work/NAME/runJ/, then dsn select, which
 *                           installs the run whose lock holds best as customer/, then dsn eval)
 *                           with absolute paths; no shell involved
 *     items/NAME.data       the .data file of that item (backup= its own work directory)
 *     work/NAME/            a running (or the last failed) attempt: logs, weights, results
 *     work/NAME.lock        held (flock) while an item runs: one runner per item at a time
 *     out/NAME/             a finished item: work/NAME renamed here once every step succeeded, so
 *                           out/NAME exists only complete (train/export/eval logs, backup/, customer/,
 *                           eval.json, eval.md, result.json; with K > 1 also runJ/, select.json)
 *     failed/NAME.json      the last attempt's failure (step, exit status, log tail); removed on success
 *     logs/NAME.log         the item runner's own messages; logs/slurm-JOB_TASK.out under Slurm
 *     slurm/fleet-K.sbatch  written by dsn fleet slurm
 *     report/fleet.md, report/fleet.json   written by dsn fleet report
 *
 * Determinism: an item's seed is a function of the plan's --seed and the item's name alone, and
 * each step runs with OMP_NUM_THREADS fixed by the plan (--threads), so an item computes the same
 * thing wherever it runs. */
#ifndef DSN_FLEET_H
#define DSN_FLEET_H

#include <jansson.h>
#include <stddef.h>

#define DSN_FLEET_VERSION 1
#define DSN_FLEET_NAME_MAX 64
#define DSN_FLEET_PATH 4096

typedef struct dsn_fleet {
    char dir[DSN_FLEET_PATH];  /* absolute                                   */
    json_t *plan;              /* fleet.json                                 */
    int n;                     /* items                                      */
    const char **names;        /* [n] item names, borrowed from plan          */
} dsn_fleet;

typedef enum { DSN_FLEET_PENDING, DSN_FLEET_DONE, DSN_FLEET_FAILED } dsn_fleet_state;

/* Loads dir/fleet.json. Returns 0, or -1 after a message naming the file. */
int dsn_fleet_open(dsn_fleet *f, const char *dir);
void dsn_fleet_close(dsn_fleet *f);

/* Index of an item name, or -1. */
int dsn_fleet_find(const dsn_fleet *f, const char *name);

/* f->dir/<fmt...>, e.g. dsn_fleet_path(p, sizeof p, f, "out/%s", name). Dies when too long. */
void dsn_fleet_path(char *out, size_t len, const dsn_fleet *f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* snprintf for paths: dies ("path too long") rather than truncating. */
void dsn_fleet_pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* DONE when out/NAME exists, else FAILED when failed/NAME.json does, else PENDING. */
dsn_fleet_state dsn_fleet_state_of(const dsn_fleet *f, const char *name);

/* An item name: 1..DSN_FLEET_NAME_MAX of [A-Za-z0-9._-], not starting with '.'. */
int dsn_fleet_name_ok(const char *name);

/* j as indented JSON text with a final newline (malloc'd), or NULL. */
char *dsn_fleet_json_text(const json_t *j);
/* Writes j to path atomically (replacing). Returns 0 or -1 (message printed). */
int dsn_fleet_write_json(const char *path, const json_t *j);
/* Loads a JSON object; NULL after a message naming path:line. */
json_t *dsn_fleet_read_json(const char *path);

/* The absolute path of the running `dsn` program. */
int dsn_fleet_self(char *out, size_t len);

/* SIGINT, SIGTERM and SIGHUP to handler (a runner stops its children and exits cleanly). */
void dsn_fleet_catch_stops(void (*handler)(int));

/* ---- the verbs (each returns a DSN_EXIT_* code) -------------------------------------------- */

typedef struct dsn_fleet_plan_opts {
    const char *certs, *student_cfg, *teacher_cfg, *teacher_weights, *data, *pub, *darknet, *out;
    int seed, threads, max_batches;                 /* max_batches 0: the cfg's           */
    int forged, near2, near4, per_serial, cross;    /* dsn eval's counts; cross: others/item */
    int candidates;                                 /* training runs per item, dsn select keeps one */
    double max_drop;                                /* dsn select --max-drop                 */
} dsn_fleet_plan_opts;

int dsn_fleet_plan(const dsn_fleet_plan_opts *o);

/* Runs one item (all its steps, up to `attempts` times) and puts out/NAME in place. 0 done (or
 * done before), 1 failed every attempt (failed/NAME.json written), 2 error or interrupted. */
int dsn_fleet_item(const dsn_fleet *f, const char *name, int attempts);

/* Runs every item not done, `jobs` at a time, each as a child `dsn fleet item`. */
int dsn_fleet_run(const dsn_fleet *f, int jobs, int attempts);

typedef struct dsn_fleet_slurm_opts {
    int submit, wait, gpu, max_parallel, cpus, attempts, max_array, all;
    const char *partition, *time, *job_name, *sbatch, *extra;
} dsn_fleet_slurm_opts;

int dsn_fleet_slurm(const dsn_fleet *f, const dsn_fleet_slurm_opts *o);

int dsn_fleet_report(const dsn_fleet *f, const char *out_dir);

#endif
