/* dsn_fleet_item.c: `dsn fleet item FLEET NAME`: run one work item, the unit both the local
 * runner and each Slurm array task execute.
 *
 * Under work/NAME.lock (flock: one runner per item, also across machines sharing the fleet
 * directory), an item that is not done yet gets a fresh work/NAME/; each step's argv is executed
 * directly (fork/execv, no shell) with the item's cwd and environment, its output in
 * work/NAME/<step>.log. When every step has succeeded, result.json is written and work/NAME is
 * renamed to out/NAME: out/NAME is never partial. A failed attempt is retried (up to `attempts`);
 * the last failure is recorded in failed/NAME.json. SIGTERM/SIGINT stop the running step and
 * leave out/ as it was. */
#define _GNU_SOURCE /* prctl's PR_SET_PDEATHSIG, strsignal */
#include "dsn_fleet.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsn_cert.h"
#include "dsn_dir.h"
#include "dsn_util.h"

#define TAIL_BYTES 2000

static volatile sig_atomic_t stop_signal;
static volatile pid_t running_child;

static void on_stop(int sig)
{
    stop_signal = sig;
    if(running_child > 0) kill(running_child, sig == SIGINT ? SIGINT : SIGTERM);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* The step's child: cwd, environment, log, then execv. Never returns. */
static _Noreturn void exec_step(const json_t *item, const json_t *step, const char *log, char **argv)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), null = open("/dev/null", O_RDONLY);
    if(fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(127);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the item runner gone (even by SIGKILL): stop */
    const char *cwd = json_string_value(json_object_get(item, "cwd")), *key;
    json_t *v;
    json_object_foreach(json_object_get(item, "env"), key, v) setenv(key, json_string_value(v), 1);
    if(cwd && chdir(cwd) != 0) {
        fprintf(stderr, "dsn: fleet item: cannot enter %s: %s\n", cwd, strerror(errno));
        _exit(127);
    }
    fprintf(stderr, "dsn: fleet item: step %s:", json_string_value(json_object_get(step, "name")));
    for(char **a = argv; *a; ++a) fprintf(stderr, " %s", *a);
    fprintf(stderr, "\n");
    fflush(stderr);
    execv(argv[0], argv);
    fprintf(stderr, "dsn: fleet item: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Runs one step; returns its wait status (or -1 when it could not start), and in *cpu the CPU
 * seconds (user + system) it and its children used: the cost model's core-seconds. */
static int run_step(const json_t *item, const json_t *step, const char *log, double *cpu)
{
    json_t *a = json_object_get(step, "argv");
    size_t n = json_array_size(a);
    char **argv = calloc(n + 1, sizeof *argv);
    if(!argv) dsn_die("out of memory");
    for(size_t i = 0; i < n; ++i) argv[i] = (char *)json_string_value(json_array_get(a, i));
    fflush(NULL);
    pid_t pid = fork();
    if(pid < 0) {
        dsn_error("fleet item: cannot fork: %s", strerror(errno));
        free(argv);
        return -1;
    }
    if(pid == 0) exec_step(item, step, log, argv);
    running_child = pid;
    if(stop_signal) kill(pid, SIGTERM); /* a signal between the check and the fork */
    int status = -1;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while(wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    *cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    running_child = 0;
    free(argv);
    return status;
}

static void describe_status(char *out, size_t len, int status)
{
    if(status == -1) snprintf(out, len, "did not start");
    else if(WIFEXITED(status)) snprintf(out, len, "exit %d", WEXITSTATUS(status));
    else if(WIFSIGNALED(status)) snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(out, len, "status %d", status);
}

/* The last TAIL_BYTES of a log, for failed/NAME.json. */
static json_t *log_tail(const char *path)
{
    char buf[TAIL_BYTES + 1];
    FILE *f = fopen(path, "rb");
    if(!f) return json_string("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > TAIL_BYTES ? size - TAIL_BYTES : 0, SEEK_SET);
    size_t n = fread(buf, 1, TAIL_BYTES, f);
    fclose(f);
    buf[n] = '\0';
    json_t *s = json_stringn(buf, n);
    if(!s) { /* not UTF-8 (or cut inside a character): keep the ASCII */
        for(size_t i = 0; i < n; ++i)
            if((unsigned char)buf[i] >= 0x80) buf[i] = '?';
        s = json_stringn(buf, n);
    }
    return s;
}

/* An item file as plan writes it: the fields the runner relies on, of the right types. */
static json_t *load_item(const dsn_fleet *f, const char *name)
{
    char path[DSN_FLEET_PATH];
    dsn_fleet_path(path, sizeof path, f, "items/%s.json", name);
    json_t *item = dsn_fleet_read_json(path), *steps = json_object_get(item, "steps"), *s;
    if(!item) return NULL;
    int ok = json_is_string(json_object_get(item, "cwd")) && json_is_array(steps) && json_array_size(steps) > 0 &&
             (!json_object_get(item, "env") || json_is_object(json_object_get(item, "env")));
    size_t i, k;
    json_array_foreach(steps, i, s) {
        json_t *argv = json_object_get(s, "argv"), *a;
        const char *log = json_string_value(json_object_get(s, "log"));
        ok = ok && json_is_string(json_object_get(s, "name")) && log && dsn_fleet_name_ok(log) && json_is_array(argv) &&
             json_array_size(argv) > 0;
        json_array_foreach(argv, k, a) ok = ok && json_is_string(a);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(item, "env"), key, v) ok = ok && json_is_string(v);
    if(!ok) {
        dsn_error("%s: not a fleet item (cwd, env and steps [{name, argv, log}] as dsn fleet plan writes them)", path);
        json_decref(item);
        return NULL;
    }
    return item;
}

typedef struct attempt {
    int status;                 /* wait status of the step that failed; 0 when all passed */
    const char *step;           /* the step that failed                                   */
    char log[DSN_FLEET_PATH];   /* its log                                                */
    json_t *times;              /* [{name, seconds, cpu_seconds, exit}]                   */
    double seconds, cpu;        /* wall and CPU (user + system) seconds of the attempt     */
} attempt;

/* One attempt: a fresh work/NAME, every step in order. 0 when all passed. */
static int run_attempt(const dsn_fleet *f, const char *name, const json_t *item, attempt *a)
{
    char work[DSN_FLEET_PATH], backup[DSN_FLEET_PATH + 8];
    dsn_fleet_path(work, sizeof work, f, "work/%s", name);
    dsn_fleet_pathf(backup, sizeof backup, "%s/backup", work);
    double t0 = now_s();
    memset(a, 0, sizeof *a);
    a->times = json_array();
    if(dsn_dir_remove(work) != 0 || mkdir(work, 0777) != 0 || mkdir(backup, 0777) != 0) {
        dsn_error("fleet item %s: cannot create %s: %s", name, work, strerror(errno));
        a->status = -1;
        a->step = "setup";
        return -1;
    }
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(item, "steps"), i, s) {
        const char *step = json_string_value(json_object_get(s, "name"));
        dsn_fleet_pathf(a->log, sizeof a->log, "%s/%s", work, json_string_value(json_object_get(s, "log")));
        double s0 = now_s(), cpu = 0;
        int status = run_step(item, s, a->log, &cpu);
        json_array_append_new(a->times, json_pack("{s:s, s:f, s:f, s:i}", "name", step, "seconds", now_s() - s0,
                                                  "cpu_seconds", cpu, "exit", WIFEXITED(status) ? WEXITSTATUS(status) : -1));
        a->cpu += cpu;
        if(status != 0 || stop_signal) {
            a->status = status ? status : -1;
            a->step = step;
            break;
        }
    }
    a->seconds = now_s() - t0;
    return a->status != 0 ? -1 : 0;
}

static json_t *when_json(void)
{
    char when[DSN_TIME_TEXT], host[256] = "";
    dsn_time_format(when, (int64_t)time(NULL));
    gethostname(host, sizeof host - 1);
    return json_pack("{s:s, s:s}", "finished", when, "host", host);
}

/* A run's final weights: student.weights, or student_runJ.weights of run J > 0. */
static int final_weights(const char *name)
{
    unsigned j;
    int end = 0;
    return strcmp(name, "student.weights") == 0 ||
           (sscanf(name, "student_run%u.weights%n", &j, &end) == 1 && end > 0 && name[end] == '\0');
}

/* Darknet's classifier training also saves a snapshot per epoch and a .backup every 1000
 * batches into backup/ (50 of 1.2 MB for one MNIST student): keep only each run's final weights. */
static void prune_backup(const char *work)
{
    char dir[DSN_FLEET_PATH + 8], path[DSN_FLEET_PATH + 300];
    dsn_fleet_pathf(dir, sizeof dir, "%s/backup", work);
    DIR *d = opendir(dir);
    for(struct dirent *e; d && (e = readdir(d));) {
        if(e->d_name[0] == '.' || final_weights(e->d_name)) continue;
        dsn_fleet_pathf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if(d) closedir(d);
}

/* work/NAME/result.json, then work/NAME -> out/NAME; failed/NAME.json removed. */
static int finish(const dsn_fleet *f, const char *name, const json_t *item, attempt *a, int number)
{
    char work[DSN_FLEET_PATH], out[DSN_FLEET_PATH], path[DSN_FLEET_PATH + 16];
    dsn_fleet_path(work, sizeof work, f, "work/%s", name);
    dsn_fleet_path(out, sizeof out, f, "out/%s", name);
    json_t *r = when_json();
    json_object_update_new(r, json_pack("{s:i, s:s, s:O, s:O, s:O, s:i, s:f, s:f, s:O}", "dsn_fleet_result",
                                        DSN_FLEET_VERSION, "name", name, "customer", json_object_get(item, "customer"),
                                        "serial", json_object_get(item, "serial"), "seed", json_object_get(item, "seed"),
                                        "attempt", number, "seconds", a->seconds, "cpu_seconds", a->cpu, "steps",
                                        a->times));
    prune_backup(work);
    dsn_fleet_pathf(path, sizeof path, "%s/result.json", work);
    int rc = dsn_fleet_write_json(path, r);
    json_decref(r);
    if(rc != 0) return -1;
    dsn_dir_sync(work, 0);
    if(rename(work, out) != 0) {
        dsn_error("fleet item %s: cannot rename %s to %s: %s", name, work, out, strerror(errno));
        return -1;
    }
    dsn_fleet_path(path, sizeof path, f, "out");
    dsn_dir_sync(path, 0);
    dsn_fleet_path(path, sizeof path, f, "failed/%s.json", name);
    unlink(path);
    return 0;
}

/* failed/NAME.json: which step, how it ended, where its log is, the log's end. */
static void record_failure(const dsn_fleet *f, const char *name, const json_t *item, const attempt *a, int attempts)
{
    char path[DSN_FLEET_PATH], how[128];
    describe_status(how, sizeof how, a->status);
    json_t *r = when_json();
    json_object_update_new(r, json_pack("{s:i, s:s, s:O, s:i, s:s, s:s, s:s, s:O, s:o}", "dsn_fleet_failure",
                                        DSN_FLEET_VERSION, "name", name, "customer", json_object_get(item, "customer"),
                                        "attempts", attempts, "step", a->step ? a->step : "?", "status", how, "log",
                                        a->log, "steps", a->times, "log_tail", log_tail(a->log)));
    dsn_fleet_path(path, sizeof path, f, "failed/%s.json", name);
    dsn_fleet_write_json(path, r);
    json_decref(r);
}

/* work/NAME.lock, held until the process exits. Waits while another runner holds it. */
static int lock_item(const dsn_fleet *f, const char *name)
{
    char path[DSN_FLEET_PATH];
    dsn_fleet_path(path, sizeof path, f, "work/%s.lock", name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if(fd < 0) {
        dsn_error("fleet item %s: cannot open %s: %s", name, path, strerror(errno));
        return -1;
    }
    if(flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    fprintf(stderr, "dsn: fleet item %s: another runner holds %s: waiting for it\n", name, path);
    while(flock(fd, LOCK_EX) != 0) {
        if(errno != EINTR || stop_signal) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

int dsn_fleet_item(const dsn_fleet *f, const char *name, int attempts)
{
    dsn_fleet_catch_stops(on_stop);
    json_t *item = load_item(f, name);
    if(!item) return DSN_EXIT_ERROR;
    int fd = lock_item(f, name), rc = DSN_EXIT_ERROR;
    if(fd < 0) goto done;
    if(dsn_fleet_state_of(f, name) == DSN_FLEET_DONE) {
        fprintf(stderr, "dsn: fleet item %s: done already (out/%s)\n", name, name);
        rc = DSN_EXIT_OK;
        goto done;
    }
    for(int k = 1; k <= attempts; ++k) {
        attempt a;
        char how[128];
        fprintf(stderr, "dsn: fleet item %s: attempt %d of %d\n", name, k, attempts);
        if(run_attempt(f, name, item, &a) == 0) {
            rc = finish(f, name, item, &a, k) == 0 ? DSN_EXIT_OK : DSN_EXIT_ERROR;
            json_decref(a.times);
            if(rc == DSN_EXIT_OK) fprintf(stderr, "dsn: fleet item %s: done in %.1f s\n", name, a.seconds);
            break;
        }
        describe_status(how, sizeof how, a.status);
        if(stop_signal) {
            fprintf(stderr, "dsn: fleet item %s: stopped by signal %d during %s; out/%s untouched\n", name,
                    (int)stop_signal, a.step, name);
            json_decref(a.times);
            break;
        }
        fprintf(stderr, "dsn: fleet item %s: step %s failed (%s); log: %s\n", name, a.step, how, a.log);
        if(k == attempts) {
            record_failure(f, name, item, &a, attempts);
            rc = DSN_EXIT_NO;
        }
        json_decref(a.times);
    }
done:
    if(fd >= 0) close(fd);
    json_decref(item);
    return rc;
}
