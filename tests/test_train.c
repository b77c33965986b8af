/* Training through stock `darknet classifier train`: a plain classifier learns a small
 * generated task, and a DSN student (stamp, G_e, G_y + distill_kl, GRL + G_d) trained from that
 * teacher shows both heads' losses falling in its per-iteration "dsn:" lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_test.h"
#include "dsn_serial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TEACHER =
    "[net]\nbatch=32\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\nmin_crop=16\nmax_crop=16\nflip=0\n"
    "learning_rate=0.002\nadam=1\ndecay=0\npolicy=constant\nmax_batches=%d\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=32\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[softmax]\n";

static const char *STUDENT =
    "[net]\nbatch=32\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\nmin_crop=16\nmax_crop=16\nflip=0\n"
    "learning_rate=0.002\nadam=1\ndecay=0\npolicy=constant\nmax_batches=%d\n\n"
    "[serial_stamp]\nbits=16\nvalid=.5\nforged=.2\nnear=.15\nnear_max=2\nseed=1\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=32\nactivation=relu\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n"
    "[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\ntemperature=4\nhard=.5\npush=.5\n\n"
    "[route]\nlayers=3\n\n[gradient_reversal]\nlambda=1\ngamma=10\n\n"
    "[connected]\noutput=32\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[masked_softmax]\nselect=neg\n";

/* Mean of the float after `key` on the first / last `k` lines of `text` that contain `tag`. */
static void head_tail_mean(const char *text, const char *tag, const char *key, int k, double *head, double *tail, int *count,
                           double *peak)
{
    double vals[4096];
    int n = 0, i;
    const char *line = text;
    while(line && *line && n < 4096){
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[1024];
        if(len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        const char *q;
        if(strstr(buf, tag) && (q = strstr(buf, key))) vals[n++] = atof(q + strlen(key));
        line = eol ? eol + 1 : 0;
    }
    *count = n;
    *head = *tail = 0;
    if(peak) *peak = 0;
    if(n < 2*k) return;
    for(i = 0; i < k; ++i){ *head += vals[i]/k; *tail += vals[n - k + i]/k; }
    for(i = 0; peak && i + k <= n; ++i){           /* the highest k-row window mean */
        double m = 0;
        int j;
        for(j = 0; j < k; ++j) m += vals[i + j]/k;
        if(m > *peak) *peak = m;
    }
}

static void test_teacher_then_student(void **state)
{
    (void)state;
    char dir[256], out[4096], text[8192];
    dsn_test_tmpdir(dir, sizeof dir);
    char *data = dsn_test_make_dataset(dir, 4, 40, 16, 16, 3);
    char *bin = realpath(dsn_test_build_dir(), NULL);
    assert_non_null(bin);

    snprintf(text, sizeof text, TEACHER, 120);
    char *tcfg = dsn_test_write(dir, "teacher.cfg", text);
    /* Darknet's own allocations are never freed at exit: no leak report for the child */
    int rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train %s %s -seed 1 > train_teacher.log 2>&1",
                          dir, bin, data, tcfg);
    assert_int_equal(rc, 0);
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/train_teacher.log", dir);
    char *log = dsn_test_read(logpath);
    assert_non_null(log);
    double head, tail;
    int n;
    head_tail_mean(log, " avg, ", ": ", 10, &head, &tail, &n, 0);
    print_message("  teacher: %d iterations, loss %.3f -> %.3f\n", n, head, tail);
    assert_true(n >= 100);
    assert_true(tail < 0.5*head);
    free(log);

    char tw[512];
    snprintf(tw, sizeof tw, "%s/teacher.weights", dir);
    FILE *f = fopen(tw, "rb");
    assert_non_null(f);
    fclose(f);

    dsn_serial sn;
    const uint8_t bytes[2] = {0xA5, 0x3C};
    char serial[DSN_SERIAL_TEXT_MAX];
    assert_int_equal(dsn_serial_from_bytes(&sn, bytes, 2, 16), 0);
    assert_true(dsn_serial_encode(serial, sizeof serial, &sn) > 0);
    free(dsn_test_write(dir, "serial.txt", serial));
    snprintf(text, sizeof text, STUDENT, 200, tcfg, tw);
    char *scfg = dsn_test_write(dir, "student.cfg", text);
    rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train %s %s -seed 2 -serial %s > train_student.log 2>&1",
                      dir, bin, data, scfg, serial);
    snprintf(logpath, sizeof logpath, "%s/train_student.log", dir);
    log = dsn_test_read(logpath);
    assert_non_null(log);
    if(rc != 0) fail_msg("student training failed (%d):\n%s", rc, log + (strlen(log) > 3000 ? strlen(log) - 3000 : 0));
    double kd0, kd1, gd0, gd1, push0, push1, push_peak;
    head_tail_mean(log, "dsn: rows", "kd ", 20, &kd0, &kd1, &n, 0);
    head_tail_mean(log, "dsn: rows", "push ", 20, &push0, &push1, &n, &push_peak);
    head_tail_mean(log, "dsn: rows", "G_d ce ", 20, &gd0, &gd1, &n, 0);
    print_message("  student: %d iterations, G_y kd %.3f -> %.3f, push %.3f -> peak %.3f -> %.3f, G_d ce %.3f -> %.3f\n",
                  n, kd0, kd1, push0, push_peak, push1, gd0, gd1);
    assert_true(n >= 150);
    assert_non_null(strstr(log, "valid 16 forged 6 near 5 raw 5"));
    assert_true(kd1 < 0.3*kd0);                 /* G_y learns the teacher on valid rows       */
    assert_true(gd1 < gd0);                     /* G_d's loss falls too, against the reversal */
    /* the push is near 0 at a random start, rises while G_y learns from the teacher, then
       falls as G_y learns to answer uniformly without the serial */
    assert_true(push1 < 0.6*push_peak);
    free(log);
    free(tcfg); free(scfg); free(data); free(bin);
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_then_student),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
