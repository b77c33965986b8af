/* dsn_fleet_run.c: `dsn fleet run FLEET -j N`: every item not done yet, N at a time, each a
 * child process `dsn fleet item` (the same unit a Slurm task runs), its messages appended to
 * logs/NAME.log.
 *
 * Resumable by construction: an item is done when out/NAME exists, and out/NAME only appears
 * complete; a rerun starts whatever is not done (failed items included). SIGINT/SIGTERM stop the
 * running items (they leave out/ untouched) and exit; if the runner is killed outright, each
 * item dies with it (PR_SET_PDEATHSIG) and its work/NAME is discarded by the next attempt. A
 * progress line with an ETA goes to stderr whenever an item ends, and every minute. */
#define _GNU_SOURCE /* PR_SET_PDEATHSIG */
#include "dsn_fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsn_util.h"

#define PROGRESS_EVERY_S 60

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

typedef struct runner {
    const dsn_fleet *f;
    char self[DSN_FLEET_PATH];
    int jobs, attempts;
    pid_t *pid;          /* [n] running child, 0 when none */
    int *todo;           /* item indexes still to start    */
    int n_todo, next, running, done, failed, kept, total;
    double t0, last_print;
} runner;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void fmt_duration(char *out, size_t len, double s)
{
    long t = (long)(s + 0.5);
    if(t >= 3600) snprintf(out, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if(t >= 60) snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, len, "%lds", t);
}

/* "dsn: fleet: 3/10 done (1 kept), 1 failed, 2 running, 4 waiting; 5m12s elapsed, eta 9m40s" */
static void progress(runner *r)
{
    double el = now_s() - r->t0;
    int finished = r->done + r->failed, left = r->n_todo - finished;
    char e[32], eta[32] = "?";
    fmt_duration(e, sizeof e, el);
    if(finished > 0 && left > 0) fmt_duration(eta, sizeof eta, el / finished * left);
    else if(left == 0) snprintf(eta, sizeof eta, "0s");
    fprintf(stderr, "dsn: fleet: %d/%d done (%d kept), %d failed, %d running, %d waiting; %s elapsed, eta %s\n",
            r->done + r->kept, r->total, r->kept, r->failed, r->running, r->n_todo - r->next, e, eta);
    r->last_print = now_s();
}

static pid_t start_item(runner *r, int i)
{
    const char *name = r->f->names[i];
    char log[DSN_FLEET_PATH], attempts[16];
    dsn_fleet_path(log, sizeof log, r->f, "logs/%s.log", name);
    snprintf(attempts, sizeof attempts, "%d", r->attempts);
    fflush(NULL);
    pid_t pid = fork();
    if(pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if(fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(DSN_EXIT_ERROR);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if(getppid() == 1) _exit(DSN_EXIT_ERROR); /* the runner is already gone */
    char *argv[] = {r->self, "fleet", "item", "--attempts", attempts, (char *)r->f->dir, (char *)name, NULL};
    execv(r->self, argv);
    fprintf(stderr, "dsn: fleet run: cannot run %s: %s\n", r->self, strerror(errno));
    _exit(DSN_EXIT_ERROR);
}

/* Accounts for one finished child. */
static void reap(runner *r, pid_t pid, int status)
{
    for(int i = 0; i < r->f->n; ++i) {
        if(r->pid[i] != pid) continue;
        r->pid[i] = 0;
        --r->running;
        const char *name = r->f->names[i];
        if(WIFEXITED(status) && WEXITSTATUS(status) == DSN_EXIT_OK && dsn_fleet_state_of(r->f, name) == DSN_FLEET_DONE) {
            ++r->done;
            fprintf(stderr, "dsn: fleet: %s done\n", name);
        } else if(!stop_signal) {
            ++r->failed;
            fprintf(stderr, "dsn: fleet: %s FAILED (see failed/%s.json and logs/%s.log)\n", name, name, name);
        }
        if(!stop_signal) progress(r);
        return;
    }
}

static void stop_all(runner *r)
{
    for(int i = 0; i < r->f->n; ++i)
        if(r->pid[i] > 0) kill(r->pid[i], SIGTERM);
    while(r->running > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if(pid < 0 && errno != EINTR) break;
        if(pid > 0) reap(r, pid, status);
    }
}

/* Starts items while slots are free, reaps finished ones, prints progress; until all ran or a
 * stop signal. */
static int loop(runner *r)
{
    while((r->next < r->n_todo || r->running > 0) && !stop_signal) {
        while(r->running < r->jobs && r->next < r->n_todo && !stop_signal) {
            int i = r->todo[r->next++];
            pid_t pid = start_item(r, i);
            if(pid < 0) {
                dsn_error("fleet run: cannot fork: %s", strerror(errno));
                stop_all(r);
                return -1;
            }
            r->pid[i] = pid;
            ++r->running;
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if(pid > 0) {
            reap(r, pid, status);
            continue;
        }
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
        if(now_s() - r->last_print >= PROGRESS_EVERY_S) progress(r);
    }
    return 0;
}

int dsn_fleet_run(const dsn_fleet *f, int jobs, int attempts)
{
    runner r;
    memset(&r, 0, sizeof r);
    r.f = f;
    r.jobs = jobs;
    r.attempts = attempts;
    r.total = f->n;
    if(dsn_fleet_self(r.self, sizeof r.self) != 0) return DSN_EXIT_ERROR;
    r.pid = calloc((size_t)f->n + 1, sizeof *r.pid);
    r.todo = calloc((size_t)f->n + 1, sizeof *r.todo);
    if(!r.pid || !r.todo) dsn_die("out of memory");
    for(int i = 0; i < f->n; ++i) {
        if(dsn_fleet_state_of(f, f->names[i]) == DSN_FLEET_DONE) ++r.kept;
        else r.todo[r.n_todo++] = i;
    }
    dsn_fleet_catch_stops(on_stop);
    r.t0 = r.last_print = now_s();
    fprintf(stderr, "dsn: fleet: %s: %d items, %d done already, %d to run, %d at a time\n", f->dir, f->n, r.kept,
            r.n_todo, jobs);
    int rc = loop(&r);
    if(stop_signal) {
        stop_all(&r);
        fprintf(stderr, "dsn: fleet: stopped by signal %d: %d/%d done; run it again to continue\n", (int)stop_signal,
                r.done + r.kept, r.total);
        rc = -1;
    }
    free(r.pid);
    free(r.todo);
    if(rc != 0) return DSN_EXIT_ERROR;
    if(r.n_todo == 0) progress(&r);
    if(r.failed) fprintf(stderr, "dsn: fleet: %d item%s failed: dsn fleet report lists them\n", r.failed, r.failed == 1 ? "" : "s");
    return r.failed ? DSN_EXIT_NO : DSN_EXIT_OK;
}
