/* dsn_test.h: helpers shared by the CMocka suites (include after cmocka.h).
 *
 *   char dir[256];  dsn_test_tmpdir(dir, sizeof dir);            // fresh mkdtemp directory
 *   dsn_test_write(dir, "net.cfg", "[net]\n...");                 // returns the full path (static)
 *   int rc = dsn_test_run(out, sizeof out, "%s/darknet ...", ...); // exit status + combined output
 *   dsn_test_expect_exit_fail(fn, arg, "bits");                   // fn(arg) in a child must exit != 0
 *                                                                 // and print a line containing "bits"
 * Paths of the built programs come from DSN_BUILD (default "build").
 * Under the sanitizers, tests/run.sh points LSAN_OPTIONS at tests/lsan.supp (Darknet's own leaks)
 * for each suite and every program it runs. */
#ifndef DSN_TEST_H
#define DSN_TEST_H

#include <stddef.h>

const char *dsn_test_build_dir(void);
/* Absolute path of the dsn binary: $DSN_BIN, else $DSN_BUILD/dsn. NULL (with a message on
 * stderr) when it does not exist. */
const char *dsn_test_dsn_bin(void);
/* snprintf into a fixed buffer that aborts the test program instead of truncating. */
void dsn_test_pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void dsn_test_tmpdir(char *out, size_t len);
/* The whole file as a malloc'ed NUL-terminated string (caller frees); NULL if unreadable. */
char *dsn_test_read(const char *path);
/* Writes text to dir/name; returns a malloc'ed full path (caller frees). */
char *dsn_test_write(const char *dir, const char *name, const char *text);
/* Runs a shell command (printf format); returns its exit status, output (stdout+stderr) in out. */
int dsn_test_run(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs fn(arg) in a forked child with stderr captured. Returns the child's exit status (256 +
 * signal number when killed), stderr text in err. */
int dsn_test_in_child(void (*fn)(void *), void *arg, char *err, size_t len);
/* Writes a Darknet classification data set of n_per_class PNG images per class into dir:
 * dir/img/<i>_<label>.png, dir/train.list, dir/labels.txt, dir/set.data. Class k is a w x h
 * grey image with a bright square at a class-specific position plus noise, so a small net
 * learns it in a few hundred steps. Returns the malloc'ed path of set.data. */
char *dsn_test_make_dataset(const char *dir, int classes, int n_per_class, int w, int h, unsigned seed);
/* rm -rf dir (kept when DSN_KEEP_TMP is set: tests/gpu/check.sh reuses the files) */
void dsn_test_rmtree(const char *dir);

/* A tiny DSN model for the ownership and attack tests, trained with the built darknet in a fresh
 * directory: a 4-class 16x16 data set (dsn_test_make_dataset, 50 images per class; train and
 * valid lists are the same), an owner key and another owner's key (fixed seeds), n_certs
 * certificates of 16-bit serials (customers c00, c01, ...) in certs/, a teacher, and a student
 * keyed to the serial of customer `target`; customer.cfg ([serial_stamp] first) and plain.cfg
 * (the same without the stamp layer) load the student's weights. Returns 0, or -1 after
 * printing what failed. */
typedef struct dsn_test_model {
    char dir[256];
    char data[512], certs[512], owner_key[512], owner_pub[512], other_pub[512], other_cert[512];
    char target_cert[512], wrong_cert[512];
    char teacher_cfg[512], teacher_weights[512], student_cfg[512], student_weights[512];
    char customer_cfg[512], plain_cfg[512];
    char customer_weights[512];   /* dsn export --no-seal of the student: G_e + G_y in the clear */
    int n_certs, target;
} dsn_test_model;
int dsn_test_make_dsn_model(dsn_test_model *m, int n_certs, int target, int teacher_iters, int student_iters);

/* 1 in the SANITIZE=1 build (AddressSanitizer), where suites run shorter versions of slow checks */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#endif
