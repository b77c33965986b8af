/* Sealed weights (layers/dsn_seal.h): the keyed permutation and sign flips are exact and
 * invertible for every float, fixed by a known answer (old sealed files must stay readable),
 * different for every serial and tensor (one bit off unseals to garbage), and numbered so that a
 * network without its [serial_stamp] layer unseals the same way. The [serial_stamp] layer unseals
 * a sealed=1 model at load time with -serial / DSN_SERIAL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "dsn_layers.h"
#include "dsn_seal.h"
#include "dsn_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dsn_serial serial16(uint8_t hi, uint8_t lo)
{
    dsn_serial s;
    const uint8_t b[2] = {hi, lo};
    assert_int_equal(dsn_serial_from_bytes(&s, b, 2, 16), 0);
    return s;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n*sizeof *a) == 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_round_trip_exact(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 3, 7, 64, 1000, 4099};
    dsn_serial s = serial16(0xA5, 0x3C);
    srand(3);
    for(size_t k = 0; k < sizeof sizes/sizeof sizes[0]; ++k){
        size_t n = sizes[k];
        float *x = malloc(n*sizeof *x), *y = malloc(n*sizeof *y);
        for(size_t i = 0; i < n; ++i) x[i] = (float)rand()/RAND_MAX - .5f;
        /* every kind of float survives: -0, infinities, a NaN payload, a denormal */
        uint32_t nan_bits = 0x7FC01234u;
        if(n > 4){ x[0] = -0.f; x[1] = INFINITY; x[2] = -INFINITY; memcpy(&x[3], &nan_bits, 4); x[4] = 1e-40f; }
        memcpy(y, x, n*sizeof *x);
        for(int flip = 0; flip < 2; ++flip){
            assert_int_equal(dsn_seal_array(y, n, &s, 5, flip, DSN_SEAL), 0);
            if(n >= 64) assert_false(same_bits(x, y, n));
            assert_int_equal(dsn_seal_array(y, n, &s, 5, flip, DSN_UNSEAL), 0);
            assert_true(same_bits(x, y, n));
        }
        /* flip=0 keeps every value and sign, only moves them: the sorted arrays are equal */
        for(size_t i = 0; i < n; ++i) x[i] = (float)rand()/RAND_MAX - .5f;
        memcpy(y, x, n*sizeof *x);
        assert_int_equal(dsn_seal_array(y, n, &s, 5, 0, DSN_SEAL), 0);
        qsort(x, n, sizeof *x, cmp_float);
        qsort(y, n, sizeof *y, cmp_float);
        assert_true(same_bits(x, y, n));
        free(x);
        free(y);
    }
}

/* The format: values 1..8 sealed with the serial 0x1234 as tensor 3. If this changes, every
 * sealed model in the field stops loading: bump the tag in dsn_seal.c instead. The answer was
 * computed independently of dsn_seal.c from the spec in its header, with Python's hashlib and
 * `openssl enc -chacha20 -K <sha256 hex> -iv 00..00` on 64 zero bytes as the keystream. */
static void test_known_answer(void **state)
{
    (void)state;
    dsn_serial s = serial16(0x12, 0x34);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float want[8] = {1, -7, 8, 4, -2, -6, 5, 3};
    assert_int_equal(dsn_seal_array(x, 8, &s, 3, 1, DSN_SEAL), 0);
    assert_true(same_bits(x, want, 8));
}

/* Another serial (one bit off) or another tensor number gives another permutation and signs. */
static void test_keyed(void **state)
{
    (void)state;
    enum { N = 2000 };
    static float x[N], a[N], b[N];
    dsn_serial s = serial16(0xA5, 0x3C), t = s;
    t.bit[9] ^= 1;
    for(int i = 0; i < N; ++i) x[i] = (float)(i + 1);
    memcpy(a, x, sizeof x);
    memcpy(b, x, sizeof x);
    assert_int_equal(dsn_seal_array(a, N, &s, 0, 1, DSN_SEAL), 0);
    assert_int_equal(dsn_seal_array(b, N, &t, 0, 1, DSN_SEAL), 0);
    int same = 0, fixed = 0, neg = 0;
    for(int i = 0; i < N; ++i){
        same += a[i] == b[i];
        fixed += fabsf(a[i]) == x[i];
        neg += a[i] < 0;
    }
    assert_true(same < N/50);          /* a random pair of permutations agrees on ~1 place  */
    assert_true(fixed < N/50);         /* hardly any value stays where it was               */
    assert_true(neg > N*4/10 && neg < N*6/10);   /* about half the signs flipped       */
    /* unsealing with the neighbour serial does not give x back */
    assert_int_equal(dsn_seal_array(a, N, &t, 0, 1, DSN_UNSEAL), 0);
    same = 0;
    for(int i = 0; i < N; ++i) same += a[i] == x[i];
    assert_true(same < N/50);
    memcpy(a, x, sizeof x);
    assert_int_equal(dsn_seal_array(a, N, &s, 1, 1, DSN_SEAL), 0);
    memcpy(b, x, sizeof x);
    assert_int_equal(dsn_seal_array(b, N, &s, 0, 1, DSN_SEAL), 0);
    same = 0;
    for(int i = 0; i < N; ++i) same += a[i] == b[i];
    assert_true(same < N/50);
}

#define CUSTOMER "[net]\nbatch=1\nheight=12\nwidth=12\nchannels=1\n\n"
#define STAMP "[serial_stamp]\nbits=16\ncell=1\n%s\n"
#define BODY "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=relu\n\n" \
             "[maxpool]\nsize=2\nstride=2\n\n[connected]\noutput=6\nactivation=relu\n\n" \
             "[connected]\noutput=3\nactivation=linear\n\n[softmax]\n"

typedef struct params { float *p[16]; size_t n[16]; int count; } params;

static void collect(network *net, params *ps)
{
    memset(ps, 0, sizeof *ps);
    for(int i = 0; i < net->n; ++i){
        layer *l = &net->layers[i];
        if(l->type == CONVOLUTIONAL){
            ps->p[ps->count] = l->weights; ps->n[ps->count++] = (size_t)l->nweights;
            ps->p[ps->count] = l->biases; ps->n[ps->count++] = (size_t)l->n;
            ps->p[ps->count] = l->scales; ps->n[ps->count++] = (size_t)l->n;
            ps->p[ps->count] = l->rolling_variance; ps->n[ps->count++] = (size_t)l->n;
        }else if(l->type == CONNECTED){
            ps->p[ps->count] = l->weights; ps->n[ps->count++] = (size_t)l->inputs*l->outputs;
            ps->p[ps->count] = l->biases; ps->n[ps->count++] = (size_t)l->outputs;
        }
    }
}

static int nets_equal(network *a, network *b)
{
    params pa, pb;
    collect(a, &pa);
    collect(b, &pb);
    assert_int_equal(pa.count, pb.count);
    for(int k = 0; k < pa.count; ++k){
        assert_int_equal(pa.n[k], pb.n[k]);
        if(!same_bits(pa.p[k], pb.p[k], pa.n[k])) return 0;
    }
    return 1;
}

/* Plain weights, and the same sealed to 0xA53C, written by a network without the stamp layer. */
static void test_load_unseals(void **state)
{
    (void)state;
    char dir[256], text[2048], plain[512], sealed[512], ser[DSN_SERIAL_TEXT_MAX], off[DSN_SERIAL_TEXT_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    dsn_serial s = serial16(0xA5, 0x3C), t = s;
    t.bit[15] ^= 1;
    assert_true(dsn_serial_encode(ser, sizeof ser, &s) > 0);
    assert_true(dsn_serial_encode(off, sizeof off, &t) > 0);
    unsetenv("DSN_SERIAL");
    gpu_index = -1;

    char *bare = dsn_test_write(dir, "bare.cfg", CUSTOMER BODY);
    snprintf(text, sizeof text, CUSTOMER STAMP BODY, "sealed=1");
    char *cfg = dsn_test_write(dir, "sealed.cfg", text);
    network *ref = parse_network_cfg(bare);
    srand(5);
    params ps;
    collect(ref, &ps);
    for(int k = 0; k < ps.count; ++k) for(size_t i = 0; i < ps.n[k]; ++i) ps.p[k][i] = (float)rand()/RAND_MAX + .1f;
    dsn_test_pathf(plain, sizeof plain, "%s/plain.weights", dir);
    dsn_test_pathf(sealed, sizeof sealed, "%s/sealed.weights", dir);
    save_weights(ref, plain);
    assert_int_equal(dsn_seal_network(ref, 0, ref->n, &s, DSN_SEAL), 0);
    save_weights(ref, sealed);
    assert_int_equal(dsn_seal_network(ref, 0, ref->n, &s, DSN_UNSEAL), 0);

    setenv("DSN_SERIAL", ser, 1);               /* the right serial: unsealed at load */
    network *good = load_network(cfg, sealed, 0);
    assert_false(dsn_stamp_is_sealed(good));
    assert_true(nets_equal(good, ref));
    setenv("DSN_SERIAL", off, 1);               /* one bit off: garbage */
    network *bad = load_network(cfg, sealed, 0);
    assert_false(nets_equal(bad, ref));
    unsetenv("DSN_SERIAL");                     /* none: stays sealed until unsealed */
    network *none = load_network(cfg, sealed, 0);
    assert_true(dsn_stamp_is_sealed(none));
    assert_false(nets_equal(none, ref));
    assert_int_equal(dsn_stamp_unseal(none, &s), 0);
    assert_false(dsn_stamp_is_sealed(none));
    assert_true(nets_equal(none, ref));
    assert_int_equal(dsn_stamp_unseal(none, &s), -1);      /* already unsealed */
    /* sealed=0 (the default) leaves the file's values alone */
    snprintf(text, sizeof text, CUSTOMER STAMP BODY, "");
    char *open_cfg = dsn_test_write(dir, "open.cfg", text);
    setenv("DSN_SERIAL", ser, 1);
    network *clear = load_network(open_cfg, plain, 0);
    unsetenv("DSN_SERIAL");
    assert_true(nets_equal(clear, ref));
    assert_int_equal(dsn_stamp_unseal(clear, &s), -1);

    free_network(ref); free_network(good); free_network(bad); free_network(none); free_network(clear);
    free(bare); free(cfg); free(open_cfg);
    dsn_test_rmtree(dir);
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_keyed),
        cmocka_unit_test(test_load_unseals),
    };
    return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
