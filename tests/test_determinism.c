/* Same seed, same model: `darknet classifier train -seed N` twice on the same machine with the same
 * thread count writes byte-identical weights, for a teacher and for a DSN student (stamp roles,
 * distillation, gradient reversal), with the loader's augmentation (random crops and rotations)
 * on. Another seed must give other weights, so the comparison can fail. */
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

/* crops of 16..20 px and +-10 degrees: every batch draws from the loader's generators */
#define NET_HEAD "[net]\nbatch=32\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\nmin_crop=16\nmax_crop=20\n" \
                 "angle=10\nflip=0\nlearning_rate=0.002\nadam=1\ndecay=0\npolicy=constant\nmax_batches=%d\n\n"
#define G_E "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n" \
            "[connected]\noutput=32\nactivation=relu\n\n"

static const char *TEACHER = NET_HEAD G_E "[connected]\noutput=4\nactivation=linear\n\n[softmax]\n";

static const char *STUDENT =
    NET_HEAD "[serial_stamp]\nbits=16\nvalid=.5\nforged=.2\nnear=.15\nnear_max=2\n\n" G_E
    "[connected]\noutput=4\nactivation=linear\n\n"
    "[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\ntemperature=4\nhard=.5\npush=.5\n\n"
    "[route]\nlayers=3\n\n[gradient_reversal]\nlambda=1\ngamma=10\n\n"
    "[connected]\noutput=32\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[masked_softmax]\nselect=neg\n";

typedef struct fixture {
    char dir[256];
    char *data, *bin;
} fixture;

/* Trains cfg (a file in f->dir) into f->dir/run<tag>/ and returns that run's weights, read whole. */
static char *train(const fixture *f, const char *cfg, const char *name, int seed, const char *serial, const char *tag,
                   size_t *len)
{
    char out[4096], path[512], data[512];
    dsn_test_pathf(path, sizeof path, "%s/run%s", f->dir, tag);
    dsn_test_pathf(data, sizeof data, "%s/run%s.data", f->dir, tag);
    /* the same data set, each run with its own backup folder */
    int rc = dsn_test_run(out, sizeof out, "mkdir -p %s && sed 's|^backup=.*|backup=%s/|' %s > %s", path, path, f->data, data);
    assert_int_equal(rc, 0);
    rc = dsn_test_run(out, sizeof out,
                      "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train %s %s -seed %d %s%s > %s/train.log 2>&1",
                      f->dir, f->bin, data, cfg, seed, serial ? "-serial " : "", serial ? serial : "", path);
    if(rc != 0) fail_msg("training %s (seed %d) failed with %d: see %s/train.log", name, seed, rc, path);
    dsn_test_pathf(path, sizeof path, "%s/run%s/%s.weights", f->dir, tag, name);
    char *w = dsn_test_read(path);
    assert_non_null(w);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fclose(fp);
    return w;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    dsn_test_tmpdir(f->dir, sizeof f->dir);
    f->data = dsn_test_make_dataset(f->dir, 4, 40, 16, 16, 11);
    f->bin = realpath(dsn_test_build_dir(), NULL);
    *state = f;
    return f->bin ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dsn_test_rmtree(f->dir);
    free(f->data);
    free(f->bin);
    free(f);
    return 0;
}

static void assert_same(const char *a, size_t na, const char *b, size_t nb, const char *what)
{
    assert_true(na > 1000);
    assert_int_equal(na, nb);
    if(memcmp(a, b, na) != 0) fail_msg("%s: the same seed wrote different weights", what);
}

static void test_teacher_and_student_repeat(void **state)
{
    fixture *f = *state;
    char text[8192], tw[512], serial[DSN_SERIAL_TEXT_MAX];
    size_t n1, n2, n3;

    snprintf(text, sizeof text, TEACHER, 300);
    char *tcfg = dsn_test_write(f->dir, "teacher.cfg", text);
    char *t1 = train(f, tcfg, "teacher", 5, NULL, "t1", &n1);
    char *t2 = train(f, tcfg, "teacher", 5, NULL, "t2", &n2);
    char *t3 = train(f, tcfg, "teacher", 6, NULL, "t3", &n3);
    assert_same(t1, n1, t2, n2, "teacher");
    assert_int_equal(n1, n3);
    assert_true(memcmp(t1, t3, n1) != 0);          /* another seed, another model */

    dsn_serial sn;
    const uint8_t bytes[2] = {0x5A, 0xC3};
    assert_int_equal(dsn_serial_from_bytes(&sn, bytes, 2, 16), 0);
    assert_true(dsn_serial_encode(serial, sizeof serial, &sn) > 0);
    dsn_test_pathf(tw, sizeof tw, "%s/runt1/teacher.weights", f->dir);
    snprintf(text, sizeof text, STUDENT, 300, tcfg, tw);
    char *scfg = dsn_test_write(f->dir, "student.cfg", text);
    char *s1 = train(f, scfg, "student", 8, serial, "s1", &n1);
    char *s2 = train(f, scfg, "student", 8, serial, "s2", &n2);
    char *s3 = train(f, scfg, "student", 9, serial, "s3", &n3);
    assert_same(s1, n1, s2, n2, "student");
    assert_int_equal(n1, n3);
    assert_true(memcmp(s1, s3, n1) != 0);
    free(t1); free(t2); free(t3); free(s1); free(s2); free(s3);
    free(tcfg); free(scfg);
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_teacher_and_student_repeat, setup, teardown),
    };
    return cmocka_run_group_tests_name("determinism", tests, NULL, NULL);
}
