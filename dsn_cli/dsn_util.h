/* dsn_util.h: what every `dsn` verb shares: messages and exit codes, checked helpers that carry
 * the caller's file:line, option parsing from a table, and atomic, never-clobber file writing.
 *
 *     static const char *key, *out;  static int bits = 64;
 *     static const dsn_option opts[] = {
 *         {"--key", NULL, DSN_ARG_STR, &key,  "FILE", "owner private key (PEM)"},
 *         {"--bits", NULL, DSN_ARG_INT, &bits, "N",   "serial length in bits (default 64)"},
 *         {"--output", "-o", DSN_ARG_STR, &out, "FILE", "certificate to write"},
 *     };
 *     static const dsn_usage usage = {"issue", "--key FILE ... -o FILE", "Issues a certificate."};
 *     int r = dsn_args_parse(argc, argv, opts, DSN_COUNT(opts), &usage, NULL, 0, NULL);
 *     if(r != DSN_ARGS_RUN) return r == DSN_ARGS_HELP ? DSN_EXIT_OK : DSN_EXIT_ERROR;
 *     ...
 *     if(dsn_write_file(out, text, n, 0644, DSN_WRITE_NEW) != 0) return DSN_EXIT_ERROR;
 *
 * Messages go to stderr as "dsn: ..." lines. Set DSN_DEBUG=1 to add the source location of the
 * check that failed. dsn_die() and the signal handlers remove any temporary file a write left. */
#ifndef DSN_UTIL_H
#define DSN_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define DSN_EXIT_OK 0       /* done; or checked and positive (valid, verified)    */
#define DSN_EXIT_NO 1       /* checked and negative (not valid, not verified)     */
#define DSN_EXIT_ERROR 2    /* usage, input or I/O error: nothing was checked     */

#define DSN_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* "dsn: <message>\n" on stderr. */
void dsn_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "dsn: <message>", removes pending temporary files and exits with DSN_EXIT_ERROR. */
#define dsn_die(...) dsn_die_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void dsn_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fopen/malloc that die with the path and the reason instead of returning NULL. */
#define dsn_xfopen(path, mode) dsn_xfopen_at(path, mode, __FILE__, __LINE__)
FILE *dsn_xfopen_at(const char *path, const char *mode, const char *file, int line);
#define dsn_xmalloc(n) dsn_xmalloc_at(n, __FILE__, __LINE__)
void *dsn_xmalloc_at(size_t n, const char *file, int line);

/* Reads a whole file of at most `max` bytes into a NUL-terminated malloc'd buffer (the caller
 * frees it); *len excludes the NUL. Returns NULL after printing an error naming the file. */
char *dsn_read_file(const char *path, size_t max, size_t *len);

/* The same, with the reason in err instead of printed. */
char *dsn_read_file_err(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* ---- text buffer ------------------------------------------------------------------------------ */

/* A growing NUL-terminated text: dsn_buf b = {0}; dsn_buf_printf(&b, ...); if(b.oom) ...;
 * use b.s, b.n; dsn_buf_free(&b). */
typedef struct dsn_buf {
    char *s;      /* NUL-terminated text (NULL until the first append) */
    size_t n;     /* bytes, without the NUL                           */
    size_t cap;
    int oom;      /* set when an append ran out of memory: s holds what fitted before */
} dsn_buf;

void dsn_buf_printf(dsn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dsn_buf_free(dsn_buf *b);

/* 1 unless v is NaN or infinite. Tested on the bits: dsn_cli is compiled with -Ofast, under
 * which isnan() and isfinite() are folded to constants. */
int dsn_finite(double v);

/* ---- atomic writes --------------------------------------------------------------------------- */

enum { DSN_WRITE_NEW = 0, DSN_WRITE_REPLACE = 1 };

/* Writes data to path through a temporary file in the same directory (fsync'd, then linked or
 * renamed into place), so the path holds either nothing, its old contents, or all of the new ones.
 * DSN_WRITE_NEW refuses an existing path. `mode` is filtered by the umask (0600 stays 0600).
 * Returns 0, or -1 after printing an error naming the path; no temporary file is left behind. */
int dsn_write_file(const char *path, const void *data, size_t len, mode_t mode, int how);

/* 0 when nothing exists at path; otherwise prints "dsn: <path> already exists: <hint>" and
 * returns -1. For checking every output before any work is done. */
int dsn_check_new(const char *path, const char *hint);

/* An output named by `option`, checked before a long run: the directory part of path must exist
 * and be writable, and path must be neither a directory nor one of inputs[0..ninputs-1] (NULLs
 * skipped). Prints "<verb>: <option> <path>: ..." and returns -1, or returns 0. */
int dsn_check_output(const char *verb, const char *path, const char *option, const char *const *inputs, int ninputs);

/* Installs SIGINT/SIGTERM/SIGHUP/SIGABRT handlers that remove pending temporary files. */
void dsn_util_init(void);
/* handler for SIGINT, SIGTERM and SIGHUP (and SIGABRT when abrt is set), no flags, none blocked */
void dsn_util_catch(void (*handler)(int), int abrt);

/* ---- quiet (-q, --quiet on every verb; dsn_args_parse calls dsn_quiet_begin) ------------------ */

/* From here on, whatever is written to stderr (Darknet's option defaults, layer tables and
 * "Loading weights" lines, our layers' rows, progress lines) goes to a private temporary file;
 * dsn_error and dsn_die still print, on the real stderr. stdout (a verb's results) is untouched.
 * Should Darknet exit or abort on its own (a cfg it cannot parse), the last 64 KiB it printed are
 * copied to the real stderr, so its error is not lost. Returns 0, or -1 (still loud) when no
 * temporary file can be made. */
int dsn_quiet_begin(void);
/* Back to the real stderr, the capture dropped (main() calls it when the verb returns). */
void dsn_quiet_end(void);
int dsn_quiet(void);
/* Where errors go: the real stderr, quiet or not. */
FILE *dsn_err_stream(void);

/* ---- options --------------------------------------------------------------------------------- */

typedef enum { DSN_ARG_FLAG, DSN_ARG_STR, DSN_ARG_INT } dsn_arg_type;

typedef struct dsn_option {
    const char *name;    /* "--bits"                                                   */
    const char *alias;   /* "-o", or NULL                                               */
    dsn_arg_type type;
    void *dest;          /* int * (FLAG: set to 1; INT), or const char ** (STR)          */
    const char *meta;    /* value placeholder in the help: "N", "FILE"; NULL for flags   */
    const char *help;
} dsn_option;

typedef struct dsn_usage {
    const char *verb;      /* "issue"                                       */
    const char *synopsis;  /* what follows "dsn issue" in the usage line     */
    const char *about;     /* a paragraph: what it does, what it writes      */
} dsn_usage;

enum { DSN_ARGS_ERROR = -1, DSN_ARGS_RUN = 0, DSN_ARGS_HELP = 1 };

/* Parses argv[1..argc-1] (argv[0] is the verb): "--opt value", "--opt=value", "-o value", flags,
 * "--help"/"-h", and "--" before operands. Operands go to pos[0..maxpos-1] (*npos counts them).
 * Returns DSN_ARGS_RUN, DSN_ARGS_HELP (help printed to stdout) or DSN_ARGS_ERROR (a message
 * naming the option printed). Integers must be whole decimal numbers that fit an int. */
int dsn_args_parse(int argc, char **argv, const dsn_option *opts, int nopts, const dsn_usage *u,
                   char **pos, int maxpos, int *npos);

void dsn_args_help(FILE *f, const dsn_option *opts, int nopts, const dsn_usage *u);

/* Parses "WxH" (both 1..65536). Returns 0 or -1. */
int dsn_parse_size(const char *s, int *w, int *h);

#endif
