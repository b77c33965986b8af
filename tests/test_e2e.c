/* The main job in small, end to end with the shipped tools and cfgs: dsn import mnist, a short
 * teacher, dsn keygen/issue/serial, a short student, dsn export and dsn eval on a slice of the
 * test list. The valid serial must beat raw input by a clear margin. Under the sanitizers the
 * same pipeline runs with a handful of iterations and dsn eval on 100 images: memory errors are
 * the point there, and the accuracies are only checked to be well-formed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dsn_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the number after "key": in a JSON text, or -1 */
static double json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if(!p) return -1;
    p += strlen(pat);
    while(*p == ' ') ++p;
    return *p == 'n' ? -1 : atof(p);          /* null: not measured */
}

static void run_ok(const char *what, const char *fmt, const char *dir, const char *bin)
{
    char out[8192], cmd[4096];
    dsn_test_pathf(cmd, sizeof cmd, "cd %s && export ASAN_OPTIONS=detect_leaks=0 BIN=%s; %s", dir, bin, fmt);
    int rc = dsn_test_run(out, sizeof out, "%s", cmd);
    if(rc != 0) fail_msg("%s failed (exit %d):\n%s", what, rc, out + (strlen(out) > 3000 ? strlen(out) - 3000 : 0));
}

static void test_mnist_end_to_end(void **state)
{
    (void)state;
    char dir[256], path[512];
    dsn_test_tmpdir(dir, sizeof dir);
    char *bin = realpath(dsn_test_build_dir(), NULL);
    char *root = realpath(".", NULL);
    assert_non_null(bin);
    assert_non_null(root);
    const int teacher_batches = SANITIZED ? 8 : 250, student_batches = SANITIZED ? 8 : 600;
    char cmd[4096];

    /* import: the real package, through the repository's download cache */
    dsn_test_pathf(cmd, sizeof cmd, "$BIN/dsn import mnist -o mnist --cache %s/build/cache > import.log 2>&1", root);
    run_ok("dsn import mnist", cmd, dir, bin);
    /* a 1,000-image slice of the 2,000 test images keeps dsn eval short (100 under the sanitizers) */
    free(dsn_test_write(dir, "mnist.data", "classes=10\ntrain=mnist/train.list\nvalid=mnist/test1k.list\n"
                                           "labels=mnist/labels.txt\nbackup=backup/\ntop=1\n"));
    run_ok("test slice", SANITIZED ? "mkdir -p backup && head -n 100 mnist/test.list > mnist/test1k.list"
                                   : "mkdir -p backup && head -n 1000 mnist/test.list > mnist/test1k.list", dir, bin);

    /* the shipped cfgs with shorter schedules and this directory's teacher */
    dsn_test_pathf(cmd, sizeof cmd,
        "sed 's/^max_batches=.*/max_batches=%d/' %s/cfg/mnist_teacher.cfg > teacher.cfg && "
        "sed -e 's/^max_batches=.*/max_batches=%d/' -e 's|^teacher_cfg=.*|teacher_cfg=teacher.cfg|' "
        "-e 's|^teacher_weights=.*|teacher_weights=backup/teacher.weights|' %s/cfg/mnist_student.cfg > student.cfg",
        teacher_batches, root, student_batches, root);
    run_ok("cfgs", cmd, dir, bin);
    run_ok("teacher training", "$BIN/darknet classifier train mnist.data teacher.cfg -seed 1 > teacher.log 2>&1", dir, bin);

    run_ok("keys and serial",
           "$BIN/dsn keygen -o owner.pem > keygen.log 2>&1 && "
           "$BIN/dsn issue --key owner.pem --owner 'e2e test' --customer alice --model e2e --cfg student.cfg -o alice.sn > issue.log 2>&1 && "
           "$BIN/dsn serial --cert alice.sn > serial.txt", dir, bin);
    run_ok("student training",
           "$BIN/darknet classifier train mnist.data student.cfg -seed 2 -serial \"$(cat serial.txt)\" > student.log 2>&1",
           dir, bin);
    run_ok("export", "$BIN/dsn export student.cfg backup/student.weights -o customer --name mnist_customer --cert alice.sn > export.log 2>&1",
           dir, bin);
    run_ok("eval",
           "$BIN/dsn eval --cfg customer/mnist_customer.cfg --weights customer/mnist_customer.weights --cert alice.sn "
           "--pub owner.pub.pem --data mnist.data --teacher-cfg teacher.cfg --teacher-weights backup/teacher.weights "
           "--forged 20 --near2 10 --near4 10 --images-per-serial 100 --json eval.json -q > eval.log 2>&1", dir, bin);

    dsn_test_pathf(path, sizeof path, "%s/eval.json", dir);
    char *json = dsn_test_read(path);
    assert_non_null(json);
    double teacher = json_number(json, "teacher"), valid = json_number(json, "valid"), raw = json_number(json, "raw");
    double forged = json_number(json, "forged_mean"), h1 = json_number(json, "hamming_1");
    print_message("  %d+%d batches: teacher %.1f, valid %.1f, raw %.1f, forged mean %.1f, hamming 1 %.1f\n",
                  teacher_batches, student_batches, teacher, valid, raw, forged, h1);
    assert_true(teacher >= 0 && teacher <= 100);
    assert_true(valid >= 0 && valid <= 100);
    assert_true(raw >= 0 && raw <= 100);
    assert_true(forged >= 0 && forged <= 100);
    if(!SANITIZED){
        assert_true(teacher >= 90);
        assert_true(valid >= 80);               /* the serial unlocks the model ...           */
        assert_true(valid - raw >= 50);         /* ... and raw input is far below it          */
        assert_true(valid - forged >= 50);      /* and so are random wrong serials            */
    }
    free(json);
    free(bin);
    free(root);
    dsn_test_rmtree(dir);
}

/* The model shipped in weights/ (README): `darknet classifier predict` with alice's serial names
 * each sample digit confidently; without a serial its weights stay sealed and its answers are
 * wrong as often as chance would have them (at most 2 of 10 right). */
static void test_shipped_weights(void **state)
{
    (void)state;
    static const char *digits[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    char *bin = realpath(dsn_test_build_dir(), NULL);
    assert_non_null(bin);
    char out[8192], serial[128];
    int rc = dsn_test_run(serial, sizeof serial, "%s/dsn serial --cert weights/alice.sn", bin);
    assert_int_equal(rc, 0);
    serial[strcspn(serial, "\r\n")] = 0;
    /* the certificate is the owner's: it verifies against the shipped public key */
    rc = dsn_test_run(out, sizeof out, "%s/dsn verify-cert weights/alice.sn --pub weights/owner.pub.pem 2>&1", bin);
    if(rc != 0) fail_msg("weights/alice.sn does not verify against weights/owner.pub.pem:\n%s", out);
    int right = 0, right_raw = 0;
    size_t d;
    for(d = 0; d < 10; ++d){
        int with;
        for(with = 1; with >= 0; --with){
            /* Darknet's predict never frees its network: no leak report for the child */
            rc = dsn_test_run(out, sizeof out, "ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier predict cfg/mnist.data cfg/mnist_customer.cfg "
                              "weights/mnist_customer.weights weights/samples/%s.png %s%s 2>&1", bin, digits[d],
                              with ? "-serial " : "", with ? serial : "");
            if(rc != 0) fail_msg("predict %s failed (%d):\n%s", digits[d], rc, out);
            const char *line = strstr(out, "%: ");
            assert_non_null(line);
            const char *num = line;
            while(num > out && (num[-1] == '.' || (num[-1] >= '0' && num[-1] <= '9'))) --num;
            double p = atof(num);
            char label[32] = "";
            sscanf(line + 3, "%31s", label);
            if(with && p > 50 && strcmp(label, digits[d]) == 0) ++right;
            if(!with && strcmp(label, digits[d]) == 0) ++right_raw;
        }
    }
    print_message("  weights/: %d of 10 samples right with the serial; %d without it\n", right, right_raw);
    assert_true(right >= 9);
    assert_true(right_raw <= 2);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_weights),
        cmocka_unit_test(test_mnist_end_to_end),
    };
    return cmocka_run_group_tests_name("e2e", tests, NULL, NULL);
}
