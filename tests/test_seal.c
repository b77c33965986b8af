/* Sealed weights (layers/dsn_seal.h). Version 3 (version 2 keyed by a nonce of the weights too):
 * fixed by a known answer, the nonce the same for the same weights and another for any other
 * weights or serial, so two files sealed to one serial share no pad (in version 2 their
 * difference is the weights'), the cfg's sealed= and seal_nonce= checked. Version 2 (the keyed
 * pad over moderate floats): exact for every float in range, refused outside it with nothing
 * changed, fixed by a known answer, each sealed value uniform over its range whatever the weight
 * was (nothing of the trained values is left: not even their multiset), a sealed network computes
 * finite outputs. Version 1 (the keyed
 * permutation and sign flips, still read): exact and invertible for every float, fixed by a known
 * answer (old sealed files must stay readable). Both: different for every serial and tensor (one
 * bit off unseals to garbage), numbered so that a network without its [serial_stamp] layer
 * unseals the same way; the [serial_stamp] layer unseals a sealed=1, 2 or 3 model at load time
 * with -serial / DSN_SERIAL. */
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

/* Version 2 gives back every float of its ranges bit for bit: both zeros, denormals, the ranges'
 * last floats; weights keep |x| < 64, means |x| < 2^16, variances stay in [0, 2^64). */
static void test_v2_round_trip_exact(void **state)
{
    (void)state;
    enum { N = 4099 };
    static float x[N], y[N];
    dsn_serial s = serial16(0xA5, 0x3C);
    const float bound[3] = {64, 65536, 0x1p64f};
    srand(7);
    for(int kind = DSN_SEAL_WEIGHT; kind <= DSN_SEAL_VARIANCE; ++kind){
        int pos = kind == DSN_SEAL_VARIANCE;
        for(int i = 0; i < N; ++i) x[i] = ((float)rand()/RAND_MAX - (pos ? 0 : .5f)) * 3;
        const float last = nextafterf(bound[kind], 0);
        const float edge_signed[] = {-0.f, 0.f, 1e-45f, -1e-45f, 1e-40f, last, -last, 1, -1};
        const float edge_pos[] = {0.f, 1e-45f, 1e-40f, last, 1e10f, 1};
        memcpy(x, pos ? edge_pos : edge_signed, pos ? sizeof edge_pos : sizeof edge_signed);
        memcpy(y, x, sizeof x);
        assert_int_equal(dsn_seal2_array(y, N, &s, NULL, 5, kind, DSN_SEAL), 0);
        int same = 0;
        for(int i = 0; i < N; ++i){
            same += memcmp(&x[i], &y[i], sizeof *x) == 0;
            assert_true(isfinite(y[i]) && fabsf(y[i]) < bound[kind]);
            if(pos) assert_true(!signbit(y[i]));
        }
        assert_true(same < N/100);
        assert_int_equal(dsn_seal2_array(y, N, &s, NULL, 5, kind, DSN_UNSEAL), 0);
        assert_true(same_bits(x, y, N));
    }
}

/* A value outside the range is refused, in either direction, and nothing is changed: not the
 * array, and not a network one of whose tensors holds the value. An unknown kind too. */
static void test_v2_refuses_out_of_range(void **state)
{
    (void)state;
    dsn_serial s = serial16(0xA5, 0x3C);
    const float bad[3][6] = {{64, -64, 1e30f, INFINITY, -INFINITY, NAN},
                             {65536, -65536, 1e30f, INFINITY, -INFINITY, NAN},
                             {-1e-3f, -0.f, 0x1p64f, INFINITY, NAN, -5}};
    for(int kind = DSN_SEAL_WEIGHT; kind <= DSN_SEAL_VARIANCE + 1; ++kind){
        for(int k = 0; k < 6; ++k){
            float x[4] = {.5f, .25f, 0, .125f}, y[4];
            if(kind <= DSN_SEAL_VARIANCE) x[k % 4] = bad[kind][k];
            memcpy(y, x, sizeof x);
            for(int dir = 0; dir < 2; ++dir){
                assert_int_equal(dsn_seal2_array(y, 4, &s, NULL, 1, kind, dir), -1);
                assert_true(same_bits(x, y, 4));
            }
        }
    }
    float mean = 1000;          /* a mean may be this large; a weight may not */
    assert_int_equal(dsn_seal2_array(&mean, 1, &s, NULL, 1, DSN_SEAL_MEAN, DSN_SEAL), 0);
    mean = 1000;
    assert_int_equal(dsn_seal2_array(&mean, 1, &s, NULL, 1, DSN_SEAL_WEIGHT, DSN_SEAL), -1);
}

/* The format, as test_known_answer for version 1: values 1..8 sealed with the serial 0x1234 as a
 * weight tensor 3, a variance tensor 4 and a mean tensor 5, computed independently from the spec
 * in dsn_seal.c (Python's hashlib and struct, `openssl enc -chacha20 -K <sha256 hex> -iv 00..00`
 * on 64 zero bytes). If this changes, every version-2 sealed model stops loading: make a new version.
 * Both directions: unsealing gives 1..8 back. */
static void known_answer(const dsn_seal_spec *spec, const uint32_t want[3][8])
{
    dsn_serial s = serial16(0x12, 0x34);
    const unsigned tensor[3] = {3, 5, 4};
    for(int kind = DSN_SEAL_WEIGHT; kind <= DSN_SEAL_VARIANCE; ++kind){
        float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        assert_int_equal(dsn_seal2_array(x, 8, &s, spec, tensor[kind], kind, DSN_SEAL), 0);
        for(int i = 0; i < 8; ++i){
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            assert_int_equal(u, want[kind][i]);
        }
        assert_int_equal(dsn_seal2_array(x, 8, &s, spec, tensor[kind], kind, DSN_UNSEAL), 0);
        for(int i = 0; i < 8; ++i) assert_true(x[i] == (float)(i + 1));
    }
}

static void test_v2_known_answer(void **state)
{
    (void)state;
    const uint32_t want[3][8] = {
        {0x1125D851u, 0x290F3FCAu, 0x8DD71486u, 0x067411C2u, 0x02787493u, 0x9EA2C0B5u, 0x014925FEu, 0x2E067915u},
        {0x91FD569Cu, 0xAAF3F9DBu, 0x4628F38Bu, 0xA9D2A6C5u, 0x3708B64Bu, 0x37DDAD27u, 0x30A394E2u, 0x203E13E7u},
        {0x0E27EFF8u, 0x560BE04Bu, 0x1D3CC085u, 0x0D005028u, 0x551533F9u, 0x5DCC10A4u, 0x400DF365u, 0x1314DAF3u}};
    known_answer(NULL, want);
}

/* Nothing of the weights is left: tensors of very different values (a constant 0.5, a constant
 * -0.01, small and large spreads) seal to values whose place in the range's value order is
 * uniform (chi-square over 32 equal bins, 31 degrees of freedom: 61.1 is its 0.999 quantile),
 * with the same distribution of magnitudes whatever went in. Version 1 kept each tensor's sorted
 * absolute values (test_round_trip_exact). */
static void test_v2_keeps_nothing(void **state)
{
    (void)state;
    enum { N = 32000, BINS = 32 };
    static float x[N];
    dsn_serial s = serial16(0x5A, 0xC3);
    double median[4];
    for(int kind = 0; kind < 4; ++kind){
        srand(11);
        for(int i = 0; i < N; ++i)
            x[i] = kind == 0 ? .5f : kind == 1 ? -.01f : ((float)rand()/RAND_MAX - .5f) * (kind == 2 ? .02f : 20);
        assert_int_equal(dsn_seal2_array(x, N, &s, NULL, (unsigned)kind, DSN_SEAL_WEIGHT, DSN_SEAL), 0);
        long bin[BINS] = {0};
        for(int i = 0; i < N; ++i){
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            uint64_t o = u >> 31 ? 0x42800000u - 1 - (u & 0x7FFFFFFFu) : 0x42800000u + (uint64_t)u;
            bin[o * BINS / (2ull*0x42800000u)]++;
        }
        double chi = 0, e = (double)N / BINS;
        for(int b = 0; b < BINS; ++b) chi += (bin[b] - e) * (bin[b] - e) / e;
        assert_true(chi < 61.1);
        for(int i = 0; i < N; ++i) x[i] = fabsf(x[i]);
        qsort(x, N, sizeof *x, cmp_float);
        median[kind] = x[N/2];
    }
    /* a uniform order over |x| < 64 has its median magnitude at 1.5 * 2^-61; within a factor 4 */
    for(int kind = 0; kind < 4; ++kind) assert_true(median[kind] > 0x1p-63 && median[kind] < 0x1p-58);
}

/* One bit off the serial, or another tensor number: another pad. */
static void test_v2_keyed(void **state)
{
    (void)state;
    enum { N = 2000 };
    static float x[N], a[N], b[N];
    dsn_serial s = serial16(0xA5, 0x3C), t = s;
    t.bit[9] ^= 1;
    for(int i = 0; i < N; ++i) x[i] = (float)(i % 50) / 10 - 2.5f;
    memcpy(a, x, sizeof x);
    assert_int_equal(dsn_seal2_array(a, N, &s, NULL, 0, DSN_SEAL_WEIGHT, DSN_SEAL), 0);
    memcpy(b, a, sizeof a);
    assert_int_equal(dsn_seal2_array(b, N, &t, NULL, 0, DSN_SEAL_WEIGHT, DSN_UNSEAL), 0);      /* the neighbour serial */
    int same = 0;
    for(int i = 0; i < N; ++i) same += b[i] == x[i];
    assert_true(same < N/100);
    memcpy(b, x, sizeof x);
    assert_int_equal(dsn_seal2_array(b, N, &s, NULL, 1, DSN_SEAL_WEIGHT, DSN_SEAL), 0);        /* another tensor */
    same = 0;
    for(int i = 0; i < N; ++i) same += a[i] == b[i];
    assert_true(same < N/100);
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

/* Plain weights, and the same sealed to 0xA53C in `version`, written by a network without the
 * stamp layer; a sealed=`version` cfg loads them. */
static void load_unseals(int version)
{
    char dir[256], opt[80], text[2048], plain[512], sealed[512], ser[DSN_SERIAL_TEXT_MAX], off[DSN_SERIAL_TEXT_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    dsn_serial s = serial16(0xA5, 0x3C), t = s;
    t.bit[15] ^= 1;
    assert_true(dsn_serial_encode(ser, sizeof ser, &s) > 0);
    assert_true(dsn_serial_encode(off, sizeof off, &t) > 0);
    unsetenv("DSN_SERIAL");
    gpu_index = -1;

    char *bare = dsn_test_write(dir, "bare.cfg", CUSTOMER BODY);
    network *ref = parse_network_cfg(bare);
    srand(5);
    params ps;
    collect(ref, &ps);
    for(int k = 0; k < ps.count; ++k) for(size_t i = 0; i < ps.n[k]; ++i) ps.p[k][i] = (float)rand()/RAND_MAX + .1f;
    dsn_seal_spec spec = {version, {0}, 6};
    char nonce[2*DSN_SEAL_NONCE_BYTES + 1];
    assert_int_equal(dsn_seal_nonce(spec.nonce, ref, 0, ref->n), 0);
    dsn_seal_nonce_text(nonce, &spec);
    snprintf(opt, sizeof opt, "sealed=%d%s%s%s", version, version == DSN_SEAL_V3 ? "\nseal_nonce=" : "",
             version == DSN_SEAL_V3 ? nonce : "", version == DSN_SEAL_V3 ? "\nseal_cost=6" : "");
    snprintf(text, sizeof text, CUSTOMER STAMP BODY, opt);
    char *cfg = dsn_test_write(dir, "sealed.cfg", text);
    dsn_test_pathf(plain, sizeof plain, "%s/plain.weights", dir);
    dsn_test_pathf(sealed, sizeof sealed, "%s/sealed.weights", dir);
    save_weights(ref, plain);
    assert_int_equal(dsn_seal_network(ref, 0, ref->n, &s, &spec, DSN_SEAL), 0);
    save_weights(ref, sealed);
    assert_int_equal(dsn_seal_network(ref, 0, ref->n, &s, &spec, DSN_UNSEAL), 0);

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
    float in[144];                              /* sealed weights compute finite outputs */
    for(int i = 0; i < 144; ++i) in[i] = (float)rand()/RAND_MAX;
    float *out = network_predict(none, in);
    for(int i = 0; i < 3; ++i) assert_true(isfinite(out[i]));
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

/* A network holding one weight the version-2 seal cannot take (64, as a diverged training might
 * leave) is refused whole, before any tensor changes: sealing it fails and every parameter keeps
 * its bits; dsn_seal_fits says so beforehand, and version 1 (a permutation) takes it. */
static void test_v2_network_refused_untouched(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    char *bare = dsn_test_write(dir, "bare.cfg", CUSTOMER BODY);
    network *net = parse_network_cfg(bare);
    dsn_serial s = serial16(0xA5, 0x3C);
    params ps;
    collect(net, &ps);
    srand(9);
    for(int k = 0; k < ps.count; ++k) for(size_t i = 0; i < ps.n[k]; ++i) ps.p[k][i] = (float)rand()/RAND_MAX + .1f;
    ps.p[ps.count - 1][ps.n[ps.count - 1] - 1] = 64;       /* the last tensor's last value */
    float *copy[16];
    for(int k = 0; k < ps.count; ++k){
        copy[k] = malloc(ps.n[k]*sizeof *copy[k]);
        memcpy(copy[k], ps.p[k], ps.n[k]*sizeof *copy[k]);
    }
    assert_int_equal(dsn_seal_fits(net, 0, net->n, DSN_SEAL_V2), 0);
    assert_int_equal(dsn_seal_fits(net, 0, net->n, DSN_SEAL_V1), 1);
    assert_int_equal(dsn_seal_fits(net, 0, net->n, DSN_SEAL_V3), 0);
    assert_int_equal(dsn_seal_fits(net, 0, net->n, 4), -1);
    const dsn_seal_spec v2 = {DSN_SEAL_V2, {0}, 0}, v3 = {DSN_SEAL_V3, {1, 2, 3}, 4};
    for(int dir_ = 0; dir_ < 2; ++dir_) {
        assert_int_equal(dsn_seal_network(net, 0, net->n, &s, &v2, dir_), -1);
        assert_int_equal(dsn_seal_network(net, 0, net->n, &s, &v3, dir_), -1);
    }
    for(int k = 0; k < ps.count; ++k) assert_true(same_bits(copy[k], ps.p[k], ps.n[k]));
    /* outside the layers asked for, the value does not matter */
    assert_int_equal(dsn_seal_fits(net, 0, 2, DSN_SEAL_V2), 1);
    assert_int_equal(dsn_seal_network(net, 0, 2, &s, &v2, DSN_SEAL), 0);
    assert_false(same_bits(copy[0], ps.p[0], ps.n[0]));
    for(int k = 0; k < ps.count; ++k) free(copy[k]);
    free_network(net);
    free(bare);
    dsn_test_rmtree(dir);
}

static void test_load_unseals_v1(void **state)
{
    (void)state;
    load_unseals(DSN_SEAL_V1);
}

static void test_load_unseals_v2(void **state)
{
    (void)state;
    load_unseals(DSN_SEAL_V2);
}

static void test_load_unseals_v3(void **state)
{
    (void)state;
    load_unseals(DSN_SEAL_V3);
}

/* Version 3's format, as test_v2_known_answer: values 1..8 sealed with the serial 0x1234, the
 * nonce 00 01 .. 0f and the cost 10 as a weight tensor 3, a variance tensor 4 and a mean tensor 5,
 * computed independently from the spec in dsn_seal.c (Python's hashlib.scrypt, sha256 and struct,
 * `openssl enc -chacha20` on 64 zero bytes; the same script gives test_v2_known_answer's figures). */
static void test_v3_known_answer(void **state)
{
    (void)state;
    dsn_seal_spec spec = {DSN_SEAL_V3, {0}, 10};
    for(int i = 0; i < DSN_SEAL_NONCE_BYTES; ++i) spec.nonce[i] = (uint8_t)i;
    const uint32_t want[3][8] = {
        {0x2FFBEB89u, 0xBA77E7B2u, 0x1B2E9824u, 0x4271013Du, 0x8F13D691u, 0x1262DDCFu, 0x0BD50F35u, 0x35A83C0Au},
        {0xB678482Au, 0x901DFA2Eu, 0x2168DFC1u, 0x94572793u, 0x13853FDDu, 0x3C0367C8u, 0x30B9F870u, 0x076302A1u},
        {0x4EA25F71u, 0x20390954u, 0x07E65C8Bu, 0x4456A262u, 0x35574AB9u, 0x1DF88913u, 0x5579D18Bu, 0x14A57982u}};
    known_answer(&spec, want);
}

/* sealed order number of x (a weight) minus that of y, mod M: what a thief subtracting two files reads */
static uint64_t order_diff(float x, float y)
{
    const uint64_t n = 0x42800000u, m = 2*n;
    uint32_t u, v;
    memcpy(&u, &x, sizeof u);
    memcpy(&v, &y, sizeof v);
    uint64_t ou = u >> 31 ? n - 1 - (u & 0x7FFFFFFFu) : n + u, ov = v >> 31 ? n - 1 - (v & 0x7FFFFFFFu) : n + v;
    return (ou + m - ov) % m;
}

/* Two networks that differ in one weight (a retrained model, a checkpoint), sealed to one serial.
 * Version 2 shares the pads: subtracting the sealed files gives the weights' own differences, zero
 * wherever they agree. Version 3's nonce differs (a hash of the weights: one weight changed gives
 * another, the same weights the same), so the sealed files agree nowhere and their difference is
 * not the weights'. The same nonce under another serial or another cost: other pads. */
static void test_v3_nonce_separates_files(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    char *bare = dsn_test_write(dir, "bare.cfg", CUSTOMER BODY);
    network *a = parse_network_cfg(bare), *b = parse_network_cfg(bare);
    dsn_serial s = serial16(0xA5, 0x3C), t = s;
    t.bit[3] ^= 1;
    params pa, pb;
    collect(a, &pa);
    collect(b, &pb);
    srand(13);
    for(int k = 0; k < pa.count; ++k) for(size_t i = 0; i < pa.n[k]; ++i) pa.p[k][i] = pb.p[k][i] = (float)rand()/RAND_MAX - .5f;
    pb.p[0][0] += .25f;                                     /* one weight of the convolution moved */
    dsn_seal_spec sa = {DSN_SEAL_V3, {0}, 4}, sb = sa, again = sa;
    assert_int_equal(dsn_seal_nonce(sa.nonce, a, 0, a->n), 0);
    assert_int_equal(dsn_seal_nonce(sb.nonce, b, 0, b->n), 0);
    assert_int_equal(dsn_seal_nonce(again.nonce, a, 0, a->n), 0);
    assert_memory_equal(sa.nonce, again.nonce, DSN_SEAL_NONCE_BYTES);
    assert_memory_not_equal(sa.nonce, sb.nonce, DSN_SEAL_NONCE_BYTES);
    size_t n = pa.n[0];                                     /* the convolution's 36 weights */
    const dsn_seal_spec v2 = {DSN_SEAL_V2, {0}, 0};
    /* b sealed: by version 2, by version 3 with b's nonce, a's nonce under another serial, and
       under another cost; a sealed each time as a's own (version 2, or version 3 with a's nonce) */
    const dsn_seal_spec *specs_b[4] = {&v2, &sb, &sa, &sa};
    for(int k = 0; k < 4; ++k){
        float *x = malloc(n*sizeof *x), *y = malloc(n*sizeof *y);
        memcpy(x, pa.p[0], n*sizeof *x);
        memcpy(y, pb.p[0], n*sizeof *y);
        dsn_seal_spec ka = k == 0 ? v2 : sa;
        if(k == 3) ka.cost = sa.cost + 1;
        assert_int_equal(dsn_seal2_array(x, n, &s, &ka, 0, DSN_SEAL_WEIGHT, DSN_SEAL), 0);
        assert_int_equal(dsn_seal2_array(y, n, k == 2 ? &t : &s, specs_b[k], 0, DSN_SEAL_WEIGHT, DSN_SEAL), 0);
        size_t leaked = 0;
        for(size_t i = 0; i < n; ++i) leaked += order_diff(y[i], x[i]) == order_diff(pb.p[0][i], pa.p[0][i]);
        if(k == 0) assert_int_equal(leaked, n);   /* every difference, 35 of them zero */
        else assert_int_equal(leaked, 0);
        free(x);
        free(y);
    }
    free_network(a);
    free_network(b);
    free(bare);
    dsn_test_rmtree(dir);
}

/* The cfg's sealed=, seal_nonce= and seal_cost=: version 3 needs a nonce of 32 hex digits and a
 * cost of 1..20, the others take neither; each refusal names the option. */
static void test_seal_spec_parse(void **state)
{
    (void)state;
    const char *hex = "000102030405060708090a0b0c0d0eFF";
    char err[200], text[2*DSN_SEAL_NONCE_BYTES + 1];
    dsn_seal_spec sp;
    assert_int_equal(dsn_seal_spec_parse(&sp, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(sp.version, 0);
    assert_int_equal(dsn_seal_spec_parse(&sp, "2", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(sp.version, DSN_SEAL_V2);
    assert_int_equal(dsn_seal_spec_parse(&sp, "3", hex, "14", err, sizeof err), 0);
    assert_int_equal(sp.version, DSN_SEAL_V3);
    assert_int_equal(sp.cost, 14);
    assert_int_equal(sp.nonce[1], 1);
    assert_int_equal(sp.nonce[15], 0xFF);
    dsn_seal_nonce_text(text, &sp);
    assert_string_equal(text, "000102030405060708090a0b0c0d0eff");
    const char *bad[][4] = {{"3", NULL, "14", "seal_nonce="}, {"3", "0001", "14", "seal_nonce="},
                            {"3", "000102030405060708090a0b0c0d0eGG", "14", "seal_nonce="},
                            {"3", "000102030405060708090a0b0c0d0e0f00", "14", "seal_nonce="},
                            {"3", hex, NULL, "seal_cost="}, {"3", hex, "0", "seal_cost= 1..20"},
                            {"3", hex, "21", "not 21"}, {"3", hex, "14x", "not 14x"},
                            {"2", hex, NULL, "seal_nonce= goes with sealed=3"}, {NULL, hex, NULL, "seal_nonce="},
                            {"2", NULL, "14", "seal_cost= goes with sealed=3"},
                            {"4", NULL, NULL, "sealed=4"}, {"-1", NULL, NULL, "sealed=-1"}, {"x", NULL, NULL, "sealed=x"},
                            {"", NULL, NULL, "sealed="}};
    for(size_t i = 0; i < sizeof bad/sizeof bad[0]; ++i){
        err[0] = 0;
        assert_int_equal(dsn_seal_spec_parse(&sp, bad[i][0], bad[i][1], bad[i][2], err, sizeof err), -1);
        if(!strstr(err, bad[i][3])) fail_msg("case %zu: '%s' does not name %s", i, err, bad[i][3]);
    }
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_keyed),
        cmocka_unit_test(test_v2_round_trip_exact),
        cmocka_unit_test(test_v2_refuses_out_of_range),
        cmocka_unit_test(test_v2_known_answer),
        cmocka_unit_test(test_v2_keeps_nothing),
        cmocka_unit_test(test_v2_keyed),
        cmocka_unit_test(test_v2_network_refused_untouched),
        cmocka_unit_test(test_load_unseals_v1),
        cmocka_unit_test(test_load_unseals_v2),
        cmocka_unit_test(test_load_unseals_v3),
        cmocka_unit_test(test_v3_known_answer),
        cmocka_unit_test(test_v3_nonce_separates_files),
        cmocka_unit_test(test_seal_spec_parse),
    };
    return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
