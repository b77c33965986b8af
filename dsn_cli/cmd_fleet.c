/* cmd_fleet.c: `dsn fleet <plan|item|run|slurm|report>`: a student per customer, trained,
 * exported and evaluated as independent work items, locally or on a Slurm cluster (dsn_fleet.h
 * describes the fleet directory). This file parses options; the work is in dsn_fleet_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_fleet.h"
#include "dsn_learn.h"
#include "dsn_util.h"

static int open_fleet(dsn_fleet *f, int npos, char **pos, const char *verb)
{
    if(npos < 1) {
        dsn_error("fleet %s: missing the fleet directory (see dsn fleet %s --help)", verb, verb);
        return -1;
    }
    return dsn_fleet_open(f, pos[0]);
}

static int at_least(const char *verb, const char *option, int value, int min)
{
    if(value >= min) return 0;
    dsn_error("fleet %s: %s %d: must be at least %d", verb, option, value, min);
    return -1;
}

static int cmd_plan(int argc, char **argv)
{
    dsn_fleet_plan_opts o = {0};
    o.threads = 1;
    o.forged = 1000;
    o.near2 = o.near4 = 200;
    o.per_serial = 500;
    o.cross = 4;
    o.candidates = 2;
    const char *max_drop = "0.5";
    const dsn_option opts[] = {
        {"--certs", NULL, DSN_ARG_STR, &o.certs, "DIR", "the customers' certificates, NAME.sn (dsn issue --batch)"},
        {"--student-cfg", NULL, DSN_ARG_STR, &o.student_cfg, "FILE", "the student cfg ([serial_stamp] first, [distill_kl])"},
        {"--teacher-cfg", NULL, DSN_ARG_STR, &o.teacher_cfg, "FILE", "the teacher cfg"},
        {"--teacher-weights", NULL, DSN_ARG_STR, &o.teacher_weights, "FILE", "the teacher's weights"},
        {"--data", NULL, DSN_ARG_STR, &o.data, "FILE", "Darknet .data file (train=, valid=, labels=)"},
        {"--pub", NULL, DSN_ARG_STR, &o.pub, "FILE", "owner's public key: verify every certificate now and in eval"},
        {"--seed", NULL, DSN_ARG_INT, &o.seed, "N", "the fleet's seed: each item's seed derives from it and the name (0)"},
        {"--threads", NULL, DSN_ARG_INT, &o.threads, "N", "OMP_NUM_THREADS of every step; Slurm's --cpus-per-task (1)"},
        {"--max-batches", NULL, DSN_ARG_INT, &o.max_batches, "N", "train N batches instead of the cfg's max_batches"},
        {"--forged", NULL, DSN_ARG_INT, &o.forged, "N", "dsn eval --forged, and dsn select's (1000)"},
        {"--near2", NULL, DSN_ARG_INT, &o.near2, "N", "dsn eval --near2, and dsn select's (200)"},
        {"--near4", NULL, DSN_ARG_INT, &o.near4, "N", "dsn eval --near4 (200)"},
        {"--images-per-serial", NULL, DSN_ARG_INT, &o.per_serial, "N", "dsn eval --images-per-serial, and select's (500)"},
        {"--cross", NULL, DSN_ARG_INT, &o.cross, "K", "other customers' serials tried on each model, sampled (4, <= 64)"},
        {"--candidates", NULL, DSN_ARG_INT, &o.candidates, "K",
         "training runs per customer, the best lock kept by dsn select (2; 1: one run, no choice)"},
        {"--max-drop", NULL, DSN_ARG_STR, &max_drop, "P", "dsn select --max-drop: valid at most P below the teacher (0.5)"},
        {"--darknet", NULL, DSN_ARG_STR, &o.darknet, "FILE", "darknet to train with (default: beside dsn; build/gpu/darknet)"},
        {"--output", "-o", DSN_ARG_STR, &o.out, "DIR", "the fleet directory to create"},
    };
    const dsn_usage u = {
        "fleet plan", "--certs DIR --student-cfg S.cfg --teacher-cfg T.cfg --teacher-weights T.weights --data D.data -o FLEET",
        "Writes a fleet directory with one work item per certificate: train the customer's student\n"
        "(darknet classifier train ... -seed S -serial KEY), dsn export, dsn eval; with --candidates K\n"
        "the student is trained K times (seeds S, S+1000, ...), each run exported, and dsn select keeps\n"
        "the run whose lock holds best on a quarter of the training images. Paths are made\n"
        "absolute, and Darknet runs where plan ran (the .data lists' image paths are relative to it).\n"
        "Then: dsn fleet run FLEET -j N, or dsn fleet slurm FLEET --submit; dsn fleet report FLEET.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, NULL, 0, NULL);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    const struct { const char *value, *what; } required[] = {
        {o.certs, "--certs DIR"}, {o.student_cfg, "--student-cfg FILE"}, {o.teacher_cfg, "--teacher-cfg FILE"},
        {o.teacher_weights, "--teacher-weights FILE"}, {o.data, "--data FILE"}, {o.out, "-o DIR"},
    };
    for(int i = 0; i < DSN_COUNT(required); ++i) {
        if(!required[i].value) {
            dsn_error("fleet plan: missing %s (see dsn fleet plan --help)", required[i].what);
            return DSN_EXIT_ERROR;
        }
    }
    if(at_least("plan", "--seed", o.seed, 0) || at_least("plan", "--threads", o.threads, 1) ||
       at_least("plan", "--max-batches", o.max_batches, 0) || at_least("plan", "--forged", o.forged, 0) ||
       at_least("plan", "--near2", o.near2, 0) || at_least("plan", "--near4", o.near4, 0) ||
       at_least("plan", "--images-per-serial", o.per_serial, 1) || at_least("plan", "--cross", o.cross, 0))
        return DSN_EXIT_ERROR;
    if(o.candidates < 1 || o.candidates > 64) {
        dsn_error("fleet plan: --candidates %d: must be 1 to 64", o.candidates);
        return DSN_EXIT_ERROR;
    }
    if(dsn_parse_real(max_drop, &o.max_drop) != 0 || o.max_drop < 0 || o.max_drop > 100) {
        dsn_error("fleet plan: --max-drop '%s': give a percentage from 0 to 100", max_drop);
        return DSN_EXIT_ERROR;
    }
    if(o.cross > 64 || o.threads > 64) {
        dsn_error("fleet plan: --cross at most 64 (dsn eval --others), --threads at most 64");
        return DSN_EXIT_ERROR;
    }
    return dsn_fleet_plan(&o);
}

static int cmd_item(int argc, char **argv)
{
    int attempts = 1, index = -1, offset = 0, npos = 0;
    char *pos[2];
    const dsn_option opts[] = {
        {"--index", NULL, DSN_ARG_INT, &index, "I", "run item OFFSET + I (a Slurm array task id) instead of NAME"},
        {"--offset", NULL, DSN_ARG_INT, &offset, "N", "added to --index (0)"},
        {"--attempts", NULL, DSN_ARG_INT, &attempts, "N", "tries before the item is recorded as failed (1)"},
    };
    const dsn_usage u = {
        "fleet item", "FLEET (NAME | --index I) [--attempts N]",
        "Runs one work item: its steps in a fresh work/NAME/, renamed to out/NAME/ when all succeeded;\n"
        "nothing to do when out/NAME exists. Exit status 0 done, 1 failed (failed/NAME.json says why),\n"
        "2 bad input or stopped by a signal. Both dsn fleet run and each Slurm task run this.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 2, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(at_least("item", "--attempts", attempts, 1) || at_least("item", "--offset", offset, 0)) return DSN_EXIT_ERROR;
    if((npos == 2) == (index >= 0)) {
        dsn_error("fleet item: give the item's NAME or --index I, one of them (see dsn fleet item --help)");
        return DSN_EXIT_ERROR;
    }
    dsn_fleet f;
    if(open_fleet(&f, npos, pos, "item") != 0) return DSN_EXIT_ERROR;
    int i = npos == 2 ? dsn_fleet_find(&f, pos[1]) : offset + index;
    int rc = DSN_EXIT_ERROR;
    if(i < 0 || i >= f.n) {
        if(npos == 2) dsn_error("fleet item: %s has no item '%s'", f.dir, pos[1]);
        else dsn_error("fleet item: --offset %d --index %d: %s has items 0..%d", offset, index, f.dir, f.n - 1);
    } else {
        rc = dsn_fleet_item(&f, f.names[i], attempts);
    }
    dsn_fleet_close(&f);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    int jobs = 1, attempts = 2, npos = 0;
    char *pos[1];
    const dsn_option opts[] = {
        {"--jobs", "-j", DSN_ARG_INT, &jobs, "N", "items at a time (1); each uses the plan's --threads"},
        {"--attempts", NULL, DSN_ARG_INT, &attempts, "N", "tries per item: 2 retries a failure once (2)"},
    };
    const dsn_usage u = {
        "fleet run", "FLEET [-j N]",
        "Runs every item not done yet, N at a time (each a child `dsn fleet item`, its messages in\n"
        "logs/NAME.log), with a progress line and an ETA. Resumable: stop it (Ctrl-C, kill) and run it\n"
        "again; finished customers are kept, an interrupted one starts over. Exit status 0 all done,\n"
        "1 some failed (dsn fleet report lists them), 2 bad input or stopped.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(at_least("run", "-j", jobs, 1) || at_least("run", "--attempts", attempts, 1)) return DSN_EXIT_ERROR;
    dsn_fleet f;
    if(open_fleet(&f, npos, pos, "run") != 0) return DSN_EXIT_ERROR;
    int rc = dsn_fleet_run(&f, jobs, attempts);
    dsn_fleet_close(&f);
    return rc;
}

static int cmd_slurm(int argc, char **argv)
{
    dsn_fleet_slurm_opts o = {0};
    o.max_parallel = 100;
    o.attempts = 2;
    o.max_array = 1000;
    o.cpus = 0;
    o.job_name = "dsn-fleet";
    o.sbatch = "sbatch";
    int npos = 0;
    char *pos[1];
    const dsn_option opts[] = {
        {"--submit", NULL, DSN_ARG_FLAG, &o.submit, NULL, "run sbatch on the script(s) and print the job id(s)"},
        {"--wait", NULL, DSN_ARG_FLAG, &o.wait, NULL, "with --submit: return when the job(s) ended; exit 1 unless every item is done"},
        {"--max-parallel", NULL, DSN_ARG_INT, &o.max_parallel, "K", "tasks running at once: --array=...%K (100)"},
        {"--gpu", NULL, DSN_ARG_FLAG, &o.gpu, NULL, "one GPU per task (--gres=gpu:1; plan with --darknet build/gpu/darknet)"},
        {"--cpus", NULL, DSN_ARG_INT, &o.cpus, "N", "--cpus-per-task (default: the plan's --threads)"},
        {"--partition", NULL, DSN_ARG_STR, &o.partition, "P", "Slurm partition"},
        {"--time", NULL, DSN_ARG_STR, &o.time, "T", "time limit per task, e.g. 1:00:00"},
        {"--job-name", NULL, DSN_ARG_STR, &o.job_name, "NAME", "job name (dsn-fleet)"},
        {"--attempts", NULL, DSN_ARG_INT, &o.attempts, "N", "tries per item inside its task (2)"},
        {"--max-array", NULL, DSN_ARG_INT, &o.max_array, "N", "tasks per script, at most the cluster's MaxArraySize (1000)"},
        {"--all", NULL, DSN_ARG_FLAG, &o.all, NULL, "list every item, not only those not done"},
        {"--sbatch", NULL, DSN_ARG_STR, &o.sbatch, "PATH", "the sbatch program (sbatch)"},
    };
    const dsn_usage u = {
        "fleet slurm", "FLEET [--submit [--wait]] [--max-parallel K] [--gpu] [--partition P] [--time T]",
        "Writes FLEET/slurm/fleet-K.sbatch: a job array with one task per item not done yet, each task\n"
        "`dsn fleet item --index $SLURM_ARRAY_TASK_ID FLEET` (the local runner's unit), one log per task\n"
        "in FLEET/logs/slurm-JOB_TASK.out. The fleet directory must be on a file system every node sees,\n"
        "at the same path. --submit runs sbatch and prints each job id on its own line.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    if(at_least("slurm", "--max-parallel", o.max_parallel, 1) || at_least("slurm", "--cpus", o.cpus, 0) ||
       at_least("slurm", "--attempts", o.attempts, 1) || at_least("slurm", "--max-array", o.max_array, 1))
        return DSN_EXIT_ERROR;
    if(o.wait && !o.submit) {
        dsn_error("fleet slurm: --wait goes with --submit");
        return DSN_EXIT_ERROR;
    }
    dsn_fleet f;
    if(open_fleet(&f, npos, pos, "slurm") != 0) return DSN_EXIT_ERROR;
    if(o.cpus == 0) o.cpus = (int)json_integer_value(json_object_get(f.plan, "threads"));
    if(o.cpus < 1) o.cpus = 1;
    int rc = dsn_fleet_slurm(&f, &o);
    dsn_fleet_close(&f);
    return rc;
}

static int cmd_report(int argc, char **argv)
{
    const char *out = NULL;
    int npos = 0;
    char *pos[1];
    const dsn_option opts[] = {
        {"--output", "-o", DSN_ARG_STR, &out, "DIR", "where to write fleet.md and fleet.json (FLEET/report)"},
    };
    const dsn_usage u = {
        "fleet report", "FLEET [-o DIR]",
        "One report over every customer of the fleet: a table per customer (teacher, valid serial, no\n"
        "serial, forged, Hamming 1/2/4, other customers, training time), the fleet's summary and worst\n"
        "cases, the lock's per-model targets (who meets each, who misses it by how much; the valid\n"
        "serial's limit the plan's --max-drop), the cross-customer matrix over the pairs the plan\n"
        "sampled, failures and pending items.\n"
        "Writes fleet.md and fleet.json (jansson; accuracies in percent). Works on a fleet in progress.",
    };
    int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &u, pos, 1, &npos);
    if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
    dsn_fleet f;
    if(open_fleet(&f, npos, pos, "report") != 0) return DSN_EXIT_ERROR;
    int rc = dsn_fleet_report(&f, out);
    dsn_fleet_close(&f);
    return rc;
}

/*   name      function    one-line help */
#define FLEET_VERBS(X)                                                                              \
    X("plan",   cmd_plan,   "write a fleet directory: one work item per customer certificate")      \
    X("item",   cmd_item,   "run one work item (train, export, eval); what each runner executes")   \
    X("run",    cmd_run,    "run the items here, N at a time, resumable")                           \
    X("slurm",  cmd_slurm,  "write (and submit) a Slurm job array, one task per item")              \
    X("report", cmd_report, "one report over every customer's evaluation")

static const struct { const char *name; int (*run)(int, char **); const char *help; } fleet_verbs[] = {
#define X(name, fn, help) {name, fn, help},
    FLEET_VERBS(X)
#undef X
};

int dsn_cmd_fleet(int argc, char **argv)
{
    if(argc >= 2) {
        for(int i = 0; i < DSN_COUNT(fleet_verbs); ++i)
            if(strcmp(argv[1], fleet_verbs[i].name) == 0) return fleet_verbs[i].run(argc - 1, argv + 1);
    }
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = help ? stdout : stderr;
    if(argc >= 2 && !help) dsn_error("fleet: unknown sub-command '%s'", argv[1]);
    fprintf(f, "usage: dsn fleet <sub-command> [options]      (dsn fleet <sub-command> --help)\n\n"
               "A student per customer: plan the work items, run them here or on Slurm, report.\n\n");
    for(int i = 0; i < DSN_COUNT(fleet_verbs); ++i) fprintf(f, "  %-8s %s\n", fleet_verbs[i].name, fleet_verbs[i].help);
    return help ? DSN_EXIT_OK : DSN_EXIT_ERROR;
}
