/* dsn_util.c: messages, checked helpers, atomic writes and option parsing for `dsn` (see dsn_util.h).
 *
 * Atomic writes keep the name of their temporary file in a small table until it is linked or
 * renamed into place; dsn_die() and the signal handlers unlink whatever is in the table, so an
 * interrupted or failed command never leaves a partial key, certificate or image behind. */
#include "dsn_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_BUF 4096
#define PENDING_MAX 4

static char pending[PENDING_MAX][PATH_BUF];
static volatile sig_atomic_t pending_used[PENDING_MAX];

static void pending_remove_all(void)
{
    for(int i = 0; i < PENDING_MAX; ++i) {
        if(pending_used[i]) {
            unlink(pending[i]);
            pending_used[i] = 0;
        }
    }
}

static int pending_add(const char *path)
{
    for(int i = 0; i < PENDING_MAX; ++i) {
        if(!pending_used[i]) {
            snprintf(pending[i], PATH_BUF, "%s", path);
            pending_used[i] = 1;
            return i;
        }
    }
    return -1;
}

/* ---- quiet: stderr captured, errors still printed ------------------------------------------- */

static FILE *quiet_err;                    /* the real stderr while quiet; NULL when not quiet */
static volatile sig_atomic_t quiet_fd = -1; /* the capture file (unbuffered), while quiet       */
static volatile sig_atomic_t quiet_settled; /* the verb returned or died with its own message    */

/* Copies the last 64 KiB of the capture to the real stderr: what Darknet printed before it exited
 * or aborted on its own. read/write/lseek only, so that a signal handler may call it. */
static void quiet_replay(void)
{
    static char buf[4096];
    int fd = quiet_fd;
    if(fd < 0 || !quiet_err) return;
    off_t end = lseek(fd, 0, SEEK_END);
    if(end <= 0 || lseek(fd, end > 65536 ? end - 65536 : 0, SEEK_SET) < 0) return;
    ssize_t n;
    while((n = read(fd, buf, sizeof buf)) > 0) {
        if(write(fileno(quiet_err), buf, (size_t)n) != n) break;
    }
}

static void quiet_atexit(void)
{
    if(!quiet_settled) quiet_replay();
}

int dsn_quiet_begin(void)
{
    static int registered;
    if(quiet_err) return 0;
    FILE *cap = tmpfile();
    if(!cap) return -1;
    setvbuf(cap, NULL, _IONBF, 0);
    fflush(stderr);
    quiet_err = stderr;
    stderr = cap;   /* glibc's stderr is a plain variable: Darknet's fprintf(stderr, ...) lands here */
    quiet_fd = fileno(cap);
    quiet_settled = 0;
    /* darknet_fatal ends with quick_exit (darknet_patch/0038) */
    if(!registered) registered = atexit(quiet_atexit) == 0 && at_quick_exit(quiet_atexit) == 0;
    return 0;
}

void dsn_quiet_end(void)
{
    if(!quiet_err) return;
    quiet_settled = 1;
    quiet_fd = -1;
    fclose(stderr);
    stderr = quiet_err;
    quiet_err = NULL;
}

int dsn_quiet(void)
{
    return quiet_err != NULL;
}

FILE *dsn_err_stream(void)
{
    return quiet_err ? quiet_err : stderr;
}

static void on_signal(int sig)
{
    pending_remove_all(); /* unlink() is async-signal-safe */
    if(sig == SIGABRT && !quiet_settled) quiet_replay();   /* Darknet's error(): perror, then assert */
    signal(sig, SIG_DFL);
    raise(sig);
}

void dsn_util_catch(void (*handler)(int), int abrt)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if(abrt) sigaction(SIGABRT, &sa, NULL);
}

void dsn_util_init(void)
{
    dsn_util_catch(on_signal, 1);
}

static void vmessage(const char *fmt, va_list ap)
{
    FILE *f = dsn_err_stream();
    fputs("dsn: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
}

void dsn_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

static void where(const char *file, int line)
{
    const char *debug = getenv("DSN_DEBUG");
    if(debug && *debug && strcmp(debug, "0") != 0) fprintf(dsn_err_stream(), "dsn:   (at %s:%d)\n", file, line);
}

_Noreturn void dsn_die_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    where(file, line);
    pending_remove_all();
    quiet_settled = 1;   /* the message above says what went wrong */
    exit(DSN_EXIT_ERROR);
}

FILE *dsn_xfopen_at(const char *path, const char *mode, const char *file, int line)
{
    FILE *f = fopen(path, mode);
    if(!f) {
        dsn_die_at(file, line, "cannot open %s for %s: %s", path,
                   mode[0] == 'r' ? "reading" : "writing", strerror(errno));
    }
    return f;
}

void *dsn_xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if(!p) dsn_die_at(file, line, "out of memory (%zu bytes)", n);
    return p;
}

char *dsn_read_file_err(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if(!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while(buf) {
        if(n == cap) {
            if(cap > max) break;
            char *bigger = realloc(buf, 2 * cap + 1);
            if(!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if(got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if(!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if(bad || n > max) {
        if(bad) snprintf(err, errlen, "cannot read %s (a directory, or an I/O error)", path);
        else snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *dsn_read_file(const char *path, size_t max, size_t *len)
{
    char err[512];
    char *buf = dsn_read_file_err(path, max, len, err, sizeof err);
    if(!buf) dsn_error("%s", err);
    return buf;
}

/* ---- text buffer ------------------------------------------------------------------------------ */

static int buf_reserve(dsn_buf *b, size_t extra)
{
    if(b->oom) return -1;
    if(b->s && b->n + extra < b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while(cap <= b->n + extra) cap *= 2;
    char *s = realloc(b->s, cap);
    if(!s) {
        b->oom = 1;
        return -1;
    }
    if(!b->s) s[0] = '\0';
    b->s = s;
    b->cap = cap;
    return 0;
}

void dsn_buf_printf(dsn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if(n < 0 || buf_reserve(b, (size_t)n + 1) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void dsn_buf_free(dsn_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

int dsn_finite(double v)
{
    /* by the bits: our code is built with -Ofast, whose -ffinite-math-only folds isfinite() to 1 */
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return ((u >> 52) & 0x7ff) != 0x7ff;
}

int dsn_check_new(const char *path, const char *hint)
{
    struct stat st;
    if(lstat(path, &st) == 0) {
        dsn_error("%s already exists%s%s", path, hint ? ": " : "", hint ? hint : "");
        return -1;
    }
    return 0;
}

/* "dir/.base.XXXXXX" next to path. */
static int temp_name(char *out, size_t len, const char *path)
{
    const char *slash = strrchr(path, '/');
    int n;
    if(slash) n = snprintf(out, len, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
    else n = snprintf(out, len, ".%s.XXXXXX", path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void sync_parent_dir(const char *path)
{
    char dir[PATH_BUF];
    const char *slash = strrchr(path, '/');
    if(slash == path) snprintf(dir, sizeof dir, "/");
    else if(slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if(fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
}

/* Links tmp to path without ever replacing an existing file. */
static int link_new(const char *tmp, const char *path)
{
    if(link(tmp, path) == 0) return 0;
    if(errno == EEXIST) return -1;
    /* file systems without hard links: claim the name exclusively, then rename over the claim */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if(fd < 0) return -1;
    close(fd);
    if(rename(tmp, path) == 0) return 0;
    int saved = errno;
    unlink(path);
    errno = saved;
    return -1;
}

int dsn_write_file(const char *path, const void *data, size_t len, mode_t mode, int how)
{
    char tmp[PATH_BUF];
    if(!path || !*path) {
        dsn_error("no output file name given");
        return -1;
    }
    if(how == DSN_WRITE_NEW && dsn_check_new(path, "refusing to overwrite it") != 0) return -1;
    if(temp_name(tmp, sizeof tmp, path) != 0) {
        dsn_error("%s: path too long", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if(fd < 0) {
        dsn_error("cannot create %s (temporary %s): %s", path, tmp, strerror(errno));
        return -1;
    }
    int slot = pending_add(tmp);
    mode_t mask = umask(0);
    umask(mask);

    const char *p = data;
    size_t left = len;
    int err = 0;
    if(fchmod(fd, mode & ~mask) != 0) err = errno;
    while(!err && left > 0) {
        ssize_t w = write(fd, p, left);
        if(w < 0) {
            if(errno == EINTR) continue;
            err = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if(!err && fsync(fd) != 0) err = errno;
    if(close(fd) != 0 && !err) err = errno;
    if(err) {
        dsn_error("cannot write %s: %s", path, strerror(err));
        goto fail;
    }
    if(how == DSN_WRITE_NEW) {
        if(link_new(tmp, path) != 0) {
            if(errno == EEXIST) dsn_error("%s already exists: refusing to overwrite it", path);
            else dsn_error("cannot create %s: %s", path, strerror(errno));
            goto fail;
        }
        unlink(tmp);
    } else if(rename(tmp, path) != 0) {
        dsn_error("cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    if(slot >= 0) pending_used[slot] = 0;
    sync_parent_dir(path);
    return 0;
fail:
    unlink(tmp);
    if(slot >= 0) pending_used[slot] = 0;
    return -1;
}

/* ---- options --------------------------------------------------------------------------------- */

static const char QUIET_HELP[] = "results and errors only (no progress, no Darknet layer tables)";

/* A verb's own --quiet flag (it then does more than the common -q), or NULL. */
static const dsn_option *own_quiet(const dsn_option *opts, int nopts)
{
    for(int i = 0; i < nopts; ++i)
        if(strcmp(opts[i].name, "--quiet") == 0 && opts[i].type == DSN_ARG_FLAG) return &opts[i];
    return NULL;
}

void dsn_args_help(FILE *f, const dsn_option *opts, int nopts, const dsn_usage *u)
{
    const dsn_option *quiet = own_quiet(opts, nopts);
    fprintf(f, "usage: dsn %s %s\n\n%s\n", u->verb, u->synopsis, u->about);
    fprintf(f, "\noptions:\n");
    for(int i = 0; i < nopts; ++i) {
        char left[64];
        if(&opts[i] == quiet) continue;   /* with the common one, below */
        snprintf(left, sizeof left, "%s%s%s%s%s", opts[i].alias ? opts[i].alias : "",
                 opts[i].alias ? ", " : "", opts[i].name, opts[i].meta ? " " : "",
                 opts[i].meta ? opts[i].meta : "");
        fprintf(f, "  %-22s %s\n", left, opts[i].help);
    }
    fprintf(f, "  %-22s %s%s%s\n", "-q, --quiet", QUIET_HELP, quiet ? "; " : "", quiet ? quiet->help : "");
    fprintf(f, "  %-22s %s\n", "-h, --help", "show this help");
}

static const dsn_option *find_option(const dsn_option *opts, int nopts, const char *arg, size_t n)
{
    for(int i = 0; i < nopts; ++i) {
        if(strlen(opts[i].name) == n && strncmp(opts[i].name, arg, n) == 0) return &opts[i];
        if(opts[i].alias && strlen(opts[i].alias) == n && strncmp(opts[i].alias, arg, n) == 0)
            return &opts[i];
    }
    return NULL;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if(!*s || *end || errno || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

int dsn_args_parse(int argc, char **argv, const dsn_option *opts, int nopts, const dsn_usage *u,
                   char **pos, int maxpos, int *npos)
{
    int np = 0, only_operands = 0;
    if(npos) *npos = 0;
    for(int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if(only_operands || a[0] != '-' || a[1] == '\0') {
            if(np >= maxpos) {
                dsn_error("%s: unexpected argument '%s' (see dsn %s --help)", u->verb, a, u->verb);
                return DSN_ARGS_ERROR;
            }
            pos[np++] = argv[i];
            continue;
        }
        if(strcmp(a, "--") == 0) {
            only_operands = 1;
            continue;
        }
        if(strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            dsn_args_help(stdout, opts, nopts, u);
            return DSN_ARGS_HELP;
        }
        if(strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            if(dsn_quiet_begin() != 0) dsn_error("%s: -q: cannot open a temporary file: %s (not quiet)", u->verb, strerror(errno));
            const dsn_option *own = own_quiet(opts, nopts);
            if(own) *(int *)own->dest = 1;   /* and the verb's own quiet */
            continue;
        }
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const dsn_option *o = find_option(opts, nopts, a, n);
        if(!o) {
            dsn_error("%s: unknown option '%.*s' (see dsn %s --help)", u->verb, (int)n, a, u->verb);
            return DSN_ARGS_ERROR;
        }
        if(o->type == DSN_ARG_FLAG) {
            if(eq) {
                dsn_error("%s: option %s takes no value", u->verb, o->name);
                return DSN_ARGS_ERROR;
            }
            *(int *)o->dest = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if(!val) {
            if(i + 1 >= argc) {
                dsn_error("%s: option %s needs a value (%s)", u->verb, o->name, o->meta ? o->meta : "");
                return DSN_ARGS_ERROR;
            }
            val = argv[++i];
        }
        if(o->type == DSN_ARG_STR) {
            *(const char **)o->dest = val;
        } else if(parse_int(val, (int *)o->dest) != 0) {
            dsn_error("%s: option %s: '%s' is not a whole number", u->verb, o->name, val);
            return DSN_ARGS_ERROR;
        }
    }
    if(npos) *npos = np;
    return DSN_ARGS_RUN;
}

int dsn_parse_size(const char *s, int *w, int *h)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if(end == s || (*end != 'x' && *end != 'X') || errno) return -1;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if(end == t || *end || errno) return -1;
    if(a < 1 || a > 65536 || b < 1 || b > 65536) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

/* The directory part of path must exist and be writable, and path must not be a directory nor
 * one of the inputs: found now, not after the run. */
int dsn_check_output(const char *verb, const char *path, const char *option, const char *const *inputs, int ninputs)
{
    char dir[PATH_MAX];
    struct stat st, in;
    if(!*path) {
        dsn_error("%s: %s: empty file name", verb, option);
        return -1;
    }
    if(stat(path, &st) == 0) {
        if(!S_ISREG(st.st_mode)) {
            dsn_error("%s: %s %s: exists and is not a regular file (a directory?)", verb, option, path);
            return -1;
        }
        for(int i = 0; i < ninputs; ++i) {
            if(inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino) {
                dsn_error("%s: %s %s is the input %s: it would be overwritten", verb, option, path, inputs[i]);
                return -1;
            }
        }
    }
    const char *slash = strrchr(path, '/');
    if(!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path ? slash - path : 1), path);
    if(access(dir, W_OK) != 0) {
        dsn_error("%s: %s %s: cannot write in %s: %s", verb, option, path, dir, strerror(errno));
        return -1;
    }
    return 0;
}
