/* dsn_fleet_slurm.c: `dsn fleet slurm FLEET`: a Slurm job array, one task per item not done yet,
 * each task `dsn fleet item --index $SLURM_ARRAY_TASK_ID` (the unit `dsn fleet run` runs locally).
 *
 * Slurm refuses array indexes at or above its MaxArraySize (1001 by default), so a fleet larger
 * than --max-array items is split into several scripts, slurm/fleet-K.sbatch, script K covering
 * items K*max_array .. (K+1)*max_array - 1 (task i runs item K*max_array + i). Only items not done
 * are listed in --array (ranges such as 0-3,7,9-12), so resubmitting after a failure or a
 * cancellation runs only what is missing. With --submit each script goes to sbatch --parsable and
 * the job ids are printed, one per line; --wait then polls squeue every 2 s until none of the jobs
 * is pending or running (sbatch --wait's own poll interval grows to 10 s, per task of an array),
 * and exits 0 when every item of the fleet is done, 1 otherwise. */
#include "dsn_fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsn_util.h"

#define SCRIPT_MAX 65536

/* "0-3,7,9-12" from the sorted task ids; NULL when out of memory. */
static char *ranges(const int *ids, int n)
{
    size_t size = 0;
    char *out = NULL;
    FILE *m = open_memstream(&out, &size);
    if(!m) return NULL;
    for(int i = 0; i < n;) {
        int j = i;
        while(j + 1 < n && ids[j + 1] == ids[j] + 1) ++j;
        if(j == i) fprintf(m, "%s%d", i ? "," : "", ids[i]);
        else fprintf(m, "%s%d-%d", i ? "," : "", ids[i], ids[j]);
        i = j + 1;
    }
    fclose(m);
    return out;
}

/* Slurm's #SBATCH lines have no quoting: refuse what they cannot hold. */
static int sbatch_safe(const char *what, const char *s)
{
    for(const char *p = s; *p; ++p) {
        if(*p == ' ' || *p == '\t' || *p == '\n' || *p == '%' || *p == '\'' || *p == '"' || *p == '\\') {
            dsn_error("fleet slurm: %s '%s' holds a character Slurm's #SBATCH lines cannot carry (blank, %%, quote, "
                      "backslash)", what, s);
            return -1;
        }
    }
    return 0;
}

static int write_script(const dsn_fleet *f, const dsn_fleet_slurm_opts *o, const char *path, int offset,
                        const int *ids, int n)
{
    char self[DSN_FLEET_PATH], text[SCRIPT_MAX];
    char *array = ranges(ids, n);
    if(!array || dsn_fleet_self(self, sizeof self) != 0) {
        free(array);
        return -1;
    }
    int len = snprintf(text, sizeof text,
                       "#!/bin/sh\n"
                       "# dsn fleet slurm: one array task per customer of %s; task i runs item %d + i\n"
                       "# (fleet.json \"customers\"[%d + i]). Written by dsn fleet slurm; sbatch this file.\n"
                       "#SBATCH --job-name=%s\n#SBATCH --array=%s%%%d\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n"
                       "#SBATCH --output=%s/logs/slurm-%%A_%%a.out\n%s%s%s%s%s%s%s"
                       "exec '%s' fleet item --attempts %d --offset %d --index \"$SLURM_ARRAY_TASK_ID\" '%s'\n",
                       f->dir, offset, offset, o->job_name, array, o->max_parallel, o->cpus, f->dir,
                       o->gpu ? "#SBATCH --gres=gpu:1\n" : "", o->partition ? "#SBATCH --partition=" : "",
                       o->partition ? o->partition : "", o->partition ? "\n" : "", o->time ? "#SBATCH --time=" : "",
                       o->time ? o->time : "", o->time ? "\n" : "", self, o->attempts, offset, f->dir);
    free(array);
    if(len < 0 || (size_t)len >= sizeof text) {
        dsn_error("fleet slurm: %s: the script would be over %d bytes (a smaller --max-array)", path, SCRIPT_MAX);
        return -1;
    }
    return dsn_write_file(path, text, (size_t)len, 0755, DSN_WRITE_REPLACE);
}

typedef struct job {
    char id[64];
    char script[DSN_FLEET_PATH];
    int tasks;
} job;

/* Runs argv with its stdout in out (NUL-terminated, the rest dropped); returns the wait status,
 * or -1 when it could not run. stderr passes through. */
static int capture(char *const argv[], char *out, size_t len)
{
    int fd[2];
    if(pipe(fd) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if(pid < 0) return -1;
    if(pid == 0) {
        close(fd[0]);
        if(dup2(fd[1], 1) < 0) _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "dsn: fleet slurm: cannot run %s: %s (is Slurm installed?)\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    for(ssize_t r; (r = read(fd[0], out + n, n + 1 < len ? len - 1 - n : 0)) > 0 || (r < 0 && errno == EINTR);)
        if(r > 0) n += (size_t)r;
    char sink[4096];
    while(read(fd[0], sink, sizeof sink) > 0) {}
    out[n] = '\0';
    close(fd[0]);
    int status;
    while(waitpid(pid, &status, 0) < 0)
        if(errno != EINTR) return -1;
    return status;
}

/* sbatch --parsable SCRIPT; the job id ("ID" or "ID;cluster") printed on stdout. */
static int submit_one(const dsn_fleet_slurm_opts *o, job *j)
{
    char out[256];
    char *argv[] = {(char *)o->sbatch, "--parsable", j->script, NULL};
    int status = capture(argv, out, sizeof out);
    out[strcspn(out, ";\r\n")] = '\0';
    if(status != 0 || !out[0] || strspn(out, "0123456789") != strlen(out) || strlen(out) >= sizeof j->id) {
        dsn_error("fleet slurm: %s %s did not submit the job (exit status %d, printed '%s')", o->sbatch, j->script,
                  status < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128, out);
        return -1;
    }
    memcpy(j->id, out, strlen(out) + 1); /* shorter than j->id: checked above */
    printf("%s\n", j->id);
    fflush(stdout);
    fprintf(stderr, "dsn: fleet slurm: submitted job %s: %d task%s (%s)\n", j->id, j->tasks, j->tasks == 1 ? "" : "s",
            j->script);
    return 0;
}

static void count_states(const dsn_fleet *f, int *done, int *failed)
{
    *done = *failed = 0;
    for(int i = 0; i < f->n; ++i) {
        dsn_fleet_state s = dsn_fleet_state_of(f, f->names[i]);
        *done += s == DSN_FLEET_DONE;
        *failed += s == DSN_FLEET_FAILED;
    }
}

/* Until squeue lists none of the jobs (pending, running or completing): every 2 s, a progress
 * line a minute. Then 0 when every item of the fleet is done, 1 otherwise. */
static int wait_jobs(const dsn_fleet *f, const job *jobs, int n)
{
    size_t size = 0;
    char *ids = NULL, out[4096];
    FILE *m = open_memstream(&ids, &size);
    if(!m) dsn_die("out of memory");
    for(int i = 0; i < n; ++i) fprintf(m, "%s%s", i ? "," : "", jobs[i].id);
    fclose(m);
    char *argv[] = {"squeue", "--noheader", "--format=%i", "--jobs", ids, NULL};
    int done, failed;
    for(int t = 0;; ++t) {
        int status = capture(argv, out, sizeof out);
        /* squeue fails ("Invalid job id") once the controller has forgotten the jobs: done too */
        if(status < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 127)) {
            free(ids);
            return DSN_EXIT_ERROR;
        }
        if(strspn(out, " \t\r\n") == strlen(out)) break;
        if(t % 30 == 29) {
            count_states(f, &done, &failed);
            fprintf(stderr, "dsn: fleet slurm: job %s: %d/%d done, %d failed\n", ids, done, f->n, failed);
        }
        sleep(2);
    }
    free(ids);
    count_states(f, &done, &failed);
    fprintf(stderr, "dsn: fleet slurm: the job ended: %d/%d done, %d failed, %d not run\n", done, f->n, failed,
            f->n - done - failed);
    return done == f->n ? DSN_EXIT_OK : DSN_EXIT_NO;
}

int dsn_fleet_slurm(const dsn_fleet *f, const dsn_fleet_slurm_opts *o)
{
    char self[DSN_FLEET_PATH];
    if(dsn_fleet_self(self, sizeof self) != 0 || sbatch_safe("the fleet directory", f->dir) != 0 ||
       sbatch_safe("the dsn program", self) != 0 || sbatch_safe("--job-name", o->job_name) != 0 ||
       (o->partition && sbatch_safe("--partition", o->partition) != 0) || (o->time && sbatch_safe("--time", o->time) != 0))
        return DSN_EXIT_ERROR;
    int n_chunks = (f->n + o->max_array - 1) / o->max_array, n_jobs = 0, rc = DSN_EXIT_OK, *ids = calloc((size_t)o->max_array, sizeof *ids);
    job *jobs = calloc((size_t)n_chunks + 1, sizeof *jobs);
    if(!ids || !jobs) dsn_die("out of memory");
    for(int k = 0; k < n_chunks && rc == DSN_EXIT_OK; ++k) {
        int offset = k * o->max_array, n = 0;
        for(int i = offset; i < f->n && i < offset + o->max_array; ++i)
            if(o->all || dsn_fleet_state_of(f, f->names[i]) != DSN_FLEET_DONE) ids[n++] = i - offset;
        if(n == 0) continue;
        job *j = &jobs[n_jobs];
        dsn_fleet_path(j->script, sizeof j->script, f, "slurm/fleet-%d.sbatch", k);
        j->tasks = n;
        if(write_script(f, o, j->script, offset, ids, n) != 0) rc = DSN_EXIT_ERROR;
        else fprintf(stderr, "dsn: fleet slurm: %s: %d task%s\n", j->script, n, n == 1 ? "" : "s");
        ++n_jobs;
    }
    if(rc == DSN_EXIT_OK && n_jobs == 0) fprintf(stderr, "dsn: fleet slurm: every item is done: nothing to submit\n");
    for(int i = 0; i < n_jobs && rc == DSN_EXIT_OK && o->submit; ++i)
        if(submit_one(o, &jobs[i]) != 0) rc = DSN_EXIT_ERROR;
    if(rc == DSN_EXIT_OK && o->wait) rc = n_jobs ? wait_jobs(f, jobs, n_jobs) : DSN_EXIT_OK;
    free(ids);
    free(jobs);
    return rc;
}
