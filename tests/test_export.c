/* `dsn export`: the customer model cut from a student computes what the student's [distill_kl]
 * outputs (loaded back here, on random inputs, with and without a serial); for cfg/mnist_student.cfg
 * it is cfg/mnist_customer.cfg; bad inputs and existing outputs are refused with exit 2, the file
 * named, and nothing written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_layers.h"
#include "dsn_seal.h"
#include "dsn_test.h"

/* valid serials (value 0): a student's training roles need one to load */
#define SERIAL16 "0000-00"
#define SERIAL64 "0000-0000-0000-000"

static const char *dsn_bin;   /* set by setup() */


#define pathf dsn_test_pathf


static const char teacher_cfg[] =
    "[net]\nbatch=1\nheight=8\nwidth=8\nchannels=1\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n[softmax]\ngroups=1\n";

/* A tiny student: stamp, G_e (conv), G_y (connected), distill_kl, then the G_d branch. */
static const char student_fmt[] =
    "# tiny student\n[net]\nbatch=4\nsubdivisions=1\nheight=8\nwidth=8\nchannels=1\nlearning_rate=0.01\n"
    "max_crop=8\n\n"
    "[serial_stamp]\nbits=16\ncell=1\ncorner=tl\nmargin=1\nvalid=0.5\nforged=0.25\nnear=0.25\nnear_max=2\nseed=7\n\n"
    "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "# G_y\n  [connected]\n output = 4\t\nactivation=linear\n\n"
    "[distill_kl]\nteacher_cfg=%s/teacher.cfg\nteacher_weights=%s/teacher.weights\ntemperature=2\n\n"
    "[route]\nlayers=1\n\n[gradient_reversal]\nlambda=1\n\n[connected]\noutput=4\nactivation=linear\n\n"
    "[masked_softmax]\nselect=neg\n";

static void save_random_weights(const char *cfg, const char *weights, unsigned seed, const char *serial)
{
    srand(seed);
    setenv("DSN_SERIAL", serial, 1);
    network *net = parse_network_cfg((char *)cfg);
    for(int i = 0; i < net->n; ++i) {   /* biases too, so no output is flat */
        layer *l = &net->layers[i];
        for(int k = 0; l->biases && k < l->n; ++k) l->biases[k] = rand() / (float)RAND_MAX - .5f;
        for(int k = 0; l->type == CONNECTED && k < l->outputs; ++k) l->biases[k] = rand() / (float)RAND_MAX - .5f;
    }
    save_weights(net, (char *)weights);
    free_network(net);
    unsetenv("DSN_SERIAL");
}

/* dir with teacher.cfg/.weights and student.cfg/.weights */
static void make_tiny(char *dir, size_t len)
{
    char path[PATH_MAX], text[4096], w[PATH_MAX];
    dsn_test_tmpdir(dir, len);
    free(dsn_test_write(dir, "teacher.cfg", teacher_cfg));
    pathf(path, sizeof path, "%s/teacher.cfg", dir);
    pathf(w, sizeof w, "%s/teacher.weights", dir);
    save_random_weights(path, w, 1, SERIAL16);
    pathf(text, sizeof text, student_fmt, dir, dir);
    free(dsn_test_write(dir, "student.cfg", text));
    pathf(path, sizeof path, "%s/student.cfg", dir);
    pathf(w, sizeof w, "%s/student.weights", dir);
    save_random_weights(path, w, 2, SERIAL16);
}

static int entries(const char *dir)
{
    char out[256];
    assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s' 2>/dev/null | wc -l", dir), 0);
    return atoi(out);
}

static int exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    pathf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* Largest |customer softmax - student distill_kl| on random rows stamped with `s` (or raw). */
static float compare(network *student, network *customer, int kl, const dsn_serial *s, int stamped)
{
    uint8_t has = (uint8_t)stamped;
    assert_int_equal(dsn_stamp_override(student, s, &has, 1), 0);
    assert_int_equal(dsn_stamp_override(customer, s, &has, 1), 0);
    size_t n = (size_t)student->batch * student->inputs;
    float *x = malloc(n * sizeof *x);
    for(size_t i = 0; i < n; ++i) x[i] = rand() / (float)RAND_MAX;
    network_predict(student, x);
    const layer *out = &student->layers[kl];
    float worst = 0, spread = 0;
    for(int b = 0; b < student->batch; ++b) {
        float *y = network_predict(customer, x + (size_t)b * student->inputs);
        for(int k = 0; k < out->outputs; ++k) {
            float d = fabsf(y[k] - out->output[b * out->outputs + k]);
            if(!(d <= worst)) worst = d;
            spread = fmaxf(spread, fabsf(y[k] - 1.f / out->outputs));
        }
    }
    assert_true(spread > 1e-3f);   /* the outputs say something: the check is not vacuous */
    free(x);
    return worst;
}

static void test_export_tiny(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX], w[PATH_MAX], cfg[PATH_MAX];
    make_tiny(dir, sizeof dir);
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o cust --name shop --no-seal",
                          dir, dsn_bin);
    if(rc != 0) fail_msg("dsn export failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "max |diff|"));
    pathf(path, sizeof path, "%s/cust", dir);
    assert_int_equal(entries(path), 2);   /* shop.cfg, shop.weights: no temporary left */

    /* the cfg: inference [net], the stamp's geometry only, G_e + G_y, [softmax] */
    pathf(cfg, sizeof cfg, "%s/cust/shop.cfg", dir);
    FILE *f = fopen(cfg, "r");
    assert_non_null(f);
    char text[4096];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    const char *body = strstr(text, "[net]");
    assert_non_null(body);
    assert_string_equal(body,
        "[net]\nbatch=1\nsubdivisions=1\nheight=8\nwidth=8\nchannels=1\n\n"
        "[serial_stamp]\nbits=16\ncell=1\ncorner=tl\nmargin=1\n\n"
        "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
        "[connected]\noutput=4\nactivation=linear\n\n[softmax]\ngroups=1\n");

    /* load both back: the customer's softmax is the student's [distill_kl] output */
    gpu_index = -1;
    pathf(w, sizeof w, "%s/cust/shop.weights", dir);
    network *customer = load_network(cfg, w, 0);
    setenv("DSN_SERIAL", SERIAL16, 1);
    pathf(path, sizeof path, "%s/student.cfg", dir);
    pathf(w, sizeof w, "%s/student.weights", dir);
    network *student = load_network(path, w, 0);
    unsetenv("DSN_SERIAL");
    assert_int_equal(customer->n, 4);
    assert_int_equal(customer->layers[3].type, SOFTMAX);
    assert_int_equal(customer->batch, 1);
    srand(11);
    for(int t = 0; t < 3; ++t) {
        dsn_serial s;
        uint8_t bytes[2] = {(uint8_t)rand(), (uint8_t)rand()};
        assert_int_equal(dsn_serial_from_bytes(&s, bytes, sizeof bytes, 16), 0);
        assert_true(compare(student, customer, 3, &s, 1) <= 1e-5f);
        assert_true(compare(student, customer, 3, &s, 0) <= 1e-5f);
    }
    free_network(customer);
    free_network(student);

    /* an existing output: refused and untouched without --force, replaced with it */
    rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o cust --name shop --no-seal",
                      dir, dsn_bin);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "cust/shop.cfg"));
    assert_non_null(strstr(out, "--force"));
    rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o cust --name shop --force --no-seal",
                      dir, dsn_bin);
    if(rc != 0) fail_msg("dsn export --force failed (%d):\n%s", rc, out);
    pathf(path, sizeof path, "%s/cust", dir);
    assert_int_equal(entries(path), 2);
    dsn_test_rmtree(dir);
}

static void test_export_refusals(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX];
    make_tiny(dir, sizeof dir);
    const struct { const char *args, *names; } cases[] = {
        {"export missing.cfg student.weights -o o1 --no-seal", "missing.cfg"},
        {"export teacher.cfg teacher.weights -o o1 --no-seal", "teacher.cfg: no [serial_stamp]"},
        {"export nokl.cfg student.weights -o o1 --no-seal", "nokl.cfg: no [distill_kl]"},
        {"export student.cfg teacher.weights -o o1 --no-seal", "teacher.weights hold "},
        {"export student.cfg student.weights --no-seal", "-o DIR"},
        {"export student.cfg student.weights -o o1 --name ../x --no-seal", "--name"},
        {"export bad.cfg student.weights -o o1 --no-seal", "bad.cfg:3"},
        {"export far.cfg student.weights -o o1 --no-seal", "teacher_weights=nowhere/t.weights"},
        /* sealing: exactly one of --cert, --serial, --no-seal; a serial of the stamp's length */
        {"export student.cfg student.weights -o o1", "--no-seal"},
        {"export student.cfg student.weights -o o1 --serial 0000-0 --no-seal", "exactly one"},
        {"export student.cfg student.weights -o o1 --serial 0000-1", "--serial '0000-1'"},
        {"export student.cfg student.weights -o o1 --serial " SERIAL64, "16 bits"},
        {"export student.cfg student.weights -o o1 --cert missing.sn", "missing.sn"},
    };
    free(dsn_test_write(dir, "nokl.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[serial_stamp]\nbits=16\n"
                                         "[connected]\noutput=4\n"));
    free(dsn_test_write(dir, "bad.cfg", "[net]\nheight=8\nwidth\n"));
    free(dsn_test_write(dir, "far.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[serial_stamp]\nbits=16\n"
                                        "[connected]\noutput=4\n[distill_kl]\nteacher_cfg=teacher.cfg\n"
                                        "teacher_weights=nowhere/t.weights\n"));
    int before = entries(dir);
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' %s", dir, dsn_bin, cases[i].args);
        if(rc != 2 || !strstr(out, cases[i].names))
            fail_msg("'%s': exit %d, expected 2 and a message naming '%s':\n%s", cases[i].args, rc,
                     cases[i].names, out);
        assert_int_equal(entries(dir), before);   /* no o1/, no temporary file */
    }

    /* an existing cfg output without --force: the weights are not written either */
    pathf(path, sizeof path, "%s/o2", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    free(dsn_test_write(path, "customer.cfg", "old\n"));
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o o2 --no-seal", dir, dsn_bin);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "o2/customer.cfg already exists"));
    assert_int_equal(entries(path), 1);
    assert_false(exists(path, "customer.weights"));
    dsn_test_rmtree(dir);
}

/* The size of two files that must have the same size. */
static size_t same_size(const char *p, const char *q)
{
    struct stat sp, sq;
    assert_int_equal(stat(p, &sp), 0);
    assert_int_equal(stat(q, &sq), 0);
    assert_int_equal(sp.st_size, sq.st_size);
    return (size_t)sp.st_size;
}

/* Sealed export: the same model as --no-seal once loaded with its serial (darknet unseals it at load
 * time), a different file of the same size, scrambled without the serial or with a neighbour. The
 * cfg says sealed=3, the nonce of these weights (dsn_seal_nonce) and the default cost; exported
 * again, the same bytes. */
static void test_export_sealed(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX], w[PATH_MAX], ser[DSN_SERIAL_TEXT_MAX], off[DSN_SERIAL_TEXT_MAX];
    make_tiny(dir, sizeof dir);
    dsn_serial s, t;
    const uint8_t bytes[2] = {0x6B, 0x91};
    assert_int_equal(dsn_serial_from_bytes(&s, bytes, 2, 16), 0);
    t = s;
    t.bit[3] ^= 1;
    assert_true(dsn_serial_encode(ser, sizeof ser, &s) > 0);
    assert_true(dsn_serial_encode(off, sizeof off, &t) > 0);
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o plain --name m --no-seal && "
                          "'%s' export student.cfg student.weights -o sealed --name m --serial %s && "
                          "'%s' export student.cfg student.weights -o again --name m --serial %s",
                          dir, dsn_bin, dsn_bin, ser, dsn_bin, ser);
    if(rc != 0) fail_msg("dsn export failed (%d):\n%s", rc, out);
    pathf(path, sizeof path, "%s/sealed/m.cfg", dir);
    char *text = dsn_test_read(path), *nonce_at = strstr(text, "\nseal_nonce=");
    assert_non_null(strstr(text, "[serial_stamp]\nbits=16\ncell=1\ncorner=tl\nmargin=1\nsealed=3\nseal_nonce="));
    assert_non_null(strstr(nonce_at, "\nseal_cost=14\n"));
    char nonce[2*DSN_SEAL_NONCE_BYTES + 1];
    snprintf(nonce, sizeof nonce, "%s", nonce_at + strlen("\nseal_nonce="));
    assert_int_equal(nonce_at[strlen("\nseal_nonce=") + 2*DSN_SEAL_NONCE_BYTES], '\n');
    free(text);
    pathf(path, sizeof path, "%s/again/m.weights", dir);
    pathf(w, sizeof w, "%s/sealed/m.weights", dir);
    char *again = dsn_test_read(path), *first = dsn_test_read(w);
    assert_memory_equal(again, first, same_size(path, w));
    free(again);
    free(first);
    pathf(path, sizeof path, "%s/plain/m.weights", dir);
    pathf(w, sizeof w, "%s/sealed/m.weights", dir);
    char *a = dsn_test_read(path), *b = dsn_test_read(w);
    size_t size = same_size(path, w);
    assert_memory_equal(a, b, 20);                         /* Darknet's header is kept */
    assert_memory_not_equal(a + 20, b + 20, size - 20);
    free(a);
    free(b);

    gpu_index = -1;
    pathf(path, sizeof path, "%s/plain/m.cfg", dir);
    pathf(w, sizeof w, "%s/plain/m.weights", dir);
    network *plain = load_network(path, w, 0);
    dsn_seal_spec want = {DSN_SEAL_V3, {0}, DSN_SEAL_COST_DEFAULT};
    char want_text[2*DSN_SEAL_NONCE_BYTES + 1];
    assert_int_equal(dsn_seal_nonce(want.nonce, plain, 0, plain->n), 0);
    dsn_seal_nonce_text(want_text, &want);
    assert_string_equal(nonce, want_text);
    pathf(path, sizeof path, "%s/sealed/m.cfg", dir);
    pathf(w, sizeof w, "%s/sealed/m.weights", dir);
    const char *keys[] = {ser, off, NULL};
    for(int k = 0; k < 3; ++k) {
        if(keys[k]) setenv("DSN_SERIAL", keys[k], 1);
        else unsetenv("DSN_SERIAL");
        network *sealed = load_network(path, w, 0);
        const layer *p = &plain->layers[1], *q = &sealed->layers[1];   /* the convolution */
        int same = memcmp(p->weights, q->weights, (size_t)p->nweights * sizeof(float)) == 0 &&
                   memcmp(p->biases, q->biases, (size_t)p->n * sizeof(float)) == 0 &&
                   memcmp(plain->layers[2].weights, sealed->layers[2].weights,
                          (size_t)plain->layers[2].inputs * plain->layers[2].outputs * sizeof(float)) == 0;
        assert_int_equal(same, k == 0);                    /* only the customer's serial unseals */
        free_network(sealed);
    }
    unsetenv("DSN_SERIAL");
    free_network(plain);
    dsn_test_rmtree(dir);
}

/* A student whose convolution holds a weight of 100 (training diverged) cannot be sealed: the
 * sealed export refuses it naming the seal's range and writes nothing; --no-seal still writes it. */
static void test_export_refuses_unsealable(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX], w[PATH_MAX];
    make_tiny(dir, sizeof dir);
    pathf(path, sizeof path, "%s/student.cfg", dir);
    pathf(w, sizeof w, "%s/student.weights", dir);
    setenv("DSN_SERIAL", SERIAL16, 1);
    network *net = load_network(path, w, 0);
    net->layers[1].weights[4] = 100;
    save_weights(net, w);
    free_network(net);
    unsetenv("DSN_SERIAL");
    int before = entries(dir);
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o sealed --serial " SERIAL16 " 2>&1",
                          dir, dsn_bin);
    if(rc == 0 || !strstr(out, "outside the seal's range")) fail_msg("expected a refusal naming the range, got %d:\n%s", rc, out);
    assert_int_equal(entries(dir), before);
    rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' export student.cfg student.weights -o plain --no-seal 2>&1", dir, dsn_bin);
    if(rc != 0) fail_msg("--no-seal export failed (%d):\n%s", rc, out);
    dsn_test_rmtree(dir);
}

/* Parses the text of a cfg with comments and white space dropped, as Darknet reads it. */
static char *canonical(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap), line[1024];
    while(fgets(line, sizeof line, f)) {
        char *w = line;
        for(char *r = line; *r; ++r) if(*r != ' ' && *r != '\t' && *r != '\n' && *r != '\r') *w++ = *r;
        *w = '\0';
        if(!line[0] || line[0] == '#' || line[0] == ';') continue;
        if(strncmp(line, "seal_nonce=", 11) == 0) continue;   /* each sealed file's own */
        n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
        assert_true(n < cap);
    }
    fclose(f);
    return out;
}

static void test_export_mnist_matches_customer_cfg(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX], w[PATH_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    /* cfg/mnist_student.cfg with its teacher taken from dir: random weights for both */
    pathf(w, sizeof w, "%s/teacher.weights", dir);
    save_random_weights("cfg/mnist_teacher.cfg", w, 3, SERIAL64);
    char *student = canonical("cfg/mnist_student.cfg");
    char *tw = strstr(student, "teacher_weights=");
    assert_non_null(tw);
    char text[1 << 16];
    pathf(text, sizeof text, "%.*steacher_weights=%s%s", (int)(tw - student), student, w, strchr(tw, '\n'));
    free(student);
    free(dsn_test_write(dir, "mnist_student.cfg", text));
    pathf(path, sizeof path, "%s/mnist_student.cfg", dir);
    pathf(w, sizeof w, "%s/mnist_student.weights", dir);
    save_random_weights(path, w, 4, SERIAL64);

    int rc = dsn_test_run(out, sizeof out, "'%s' export '%s' '%s' -o '%s/customer' --serial " SERIAL64, dsn_bin, path, w, dir);
    if(rc != 0) fail_msg("dsn export failed (%d):\n%s", rc, out);
    pathf(path, sizeof path, "%s/customer/mnist_customer.cfg", dir);
    char *got = canonical(path), *want = canonical("cfg/mnist_customer.cfg");
    assert_string_equal(got, want);
    free(got);
    free(want);

    /* and the same layer structure when Darknet parses them */
    gpu_index = -1;
    network *a = parse_network_cfg(path), *b = parse_network_cfg("cfg/mnist_customer.cfg");
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->batch, b->batch);
    for(int i = 0; i < a->n; ++i) {
        const layer *x = &a->layers[i], *y = &b->layers[i];
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->inputs, y->inputs);
        assert_int_equal(x->outputs, y->outputs);
        assert_int_equal(x->out_w, y->out_w);
        assert_int_equal(x->out_h, y->out_h);
        assert_int_equal(x->out_c, y->out_c);
        assert_int_equal(x->nweights, y->nweights);
        assert_int_equal(x->activation, y->activation);
    }
    free_network(a);
    free_network(b);

    /* --cert must be for the cfg's stamp: another geometry is refused before anything is written;
       a certificate issued with --cfg from the student cfg fits */
    pathf(path, sizeof path, "%s/mnist_student.cfg", dir);
    rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s' keygen -o owner.pem && '%s' issue --key owner.pem --owner O "
                      "--customer c --model m --bits 16 -o c16.sn && '%s' issue --key owner.pem --owner O --customer d "
                      "--model m --cfg mnist_student.cfg -o d.sn", dir, dsn_bin, dsn_bin, dsn_bin);
    if(rc != 0) fail_msg("keygen/issue failed (%d):\n%s", rc, out);
    rc = dsn_test_run(out, sizeof out, "'%s' export '%s' '%s' -o '%s/c16' --cert '%s/c16.sn'", dsn_bin, path, w, dir, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "is for a stamp of bits=16"));
    assert_non_null(strstr(out, "not this model's certificate"));
    pathf(text, sizeof text, "%s/c16", dir);
    assert_int_equal(access(text, F_OK), -1);
    rc = dsn_test_run(out, sizeof out, "'%s' export '%s' '%s' -o '%s/d' --cert '%s/d.sn'", dsn_bin, path, w, dir, dir);
    if(rc != 0) fail_msg("dsn export --cert (issued with --cfg) failed (%d):\n%s", rc, out);
    dsn_test_rmtree(dir);
}

static int setup(void **state)
{
    (void)state;
    gpu_index = -1;
    dsn_bin = dsn_test_dsn_bin();
    return dsn_bin ? 0 : -1;
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_tiny),
        cmocka_unit_test(test_export_refusals),
        cmocka_unit_test(test_export_sealed),
        cmocka_unit_test(test_export_refuses_unsealable),
        cmocka_unit_test(test_export_mnist_matches_customer_cfg),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
