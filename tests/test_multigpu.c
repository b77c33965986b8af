/* Multi-GPU training with DSN cfgs, what the CPU can check of it.
 *
 * `darknet classifier train ... -gpus 0,1` (train_classifier) loads one copy of the network per GPU
 * with load_network, each after the same srand(seed), trains the copies on different parts of the
 * batch in threads, and every 4 batches sync_nets averages the weights of the CONVOLUTIONAL,
 * DECONVOLUTIONAL and CONNECTED layers (merge/scale/pull/distribute_weights skip every other type).
 * Here, without a GPU, the copies are loaded the way train_classifier loads them (srand(seed), and
 * DSN_NET_COPY=i, darknet_patch/0034) and checked for what that scheme needs:
 *   - each copy owns its DSN state: the [serial_stamp] state and buffers, the [distill_kl] teacher;
 *   - the copies start from the same weights, and draw different training roles and serials
 *     (copy 0 exactly as a single network does); a forward of one leaves the other untouched;
 *   - the DSN layers hold nothing sync_nets would have to average (no weights), the standalone
 *     [batchnorm] at G_d's input never changes its scales or biases, so averaging the
 *     convolutional and connected weights alone (what sync_nets does) makes the copies compute
 *     the same customer output (G_y) bit for bit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "darknet.h"
#include "distill_kl_layer.h"
#include "dsn_layers.h"
#include "dsn_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 16
#define SIDE 16
#define CLASSES 4
#define DISTILL 5    /* layer index of [distill_kl] in STUDENT */
#define BATCHNORM_AT 8

static const char *TEACHER =
    "[net]\nbatch=8\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=16\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[softmax]\n";

static const char *STUDENT =
    "[net]\nbatch=16\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\nlearning_rate=0.01\nadam=1\ndecay=0\n"
    "policy=constant\nmax_batches=100\n\n"
    "[serial_stamp]\nbits=16\nvalid=.5\nforged=.25\nnear=.125\nnear_max=2\nmine=1\n\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=16\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n"
    "[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\n\n"
    "[route]\nlayers=3\n\n[gradient_reversal]\nlambda=1\ngamma=10\n\n[batchnorm]\n\n"
    "[connected]\noutput=16\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[masked_softmax]\nselect=neg\n";

typedef struct fixture {
    char dir[256];
    char *student;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char tw[512], text[4096];
    dsn_test_tmpdir(f->dir, sizeof f->dir);
    char *tcfg = dsn_test_write(f->dir, "teacher.cfg", TEACHER);
    network *t = parse_network_cfg(tcfg);
    dsn_test_pathf(tw, sizeof tw, "%s/teacher.weights", f->dir);
    save_weights(t, tw);
    free_network(t);
    snprintf(text, sizeof text, STUDENT, tcfg, tw);
    f->student = dsn_test_write(f->dir, "student.cfg", text);
    free(tcfg);
    setenv("DSN_SERIAL", "13QN-TY", 1);    /* a 16-bit serial: the valid rows need one */
    setenv("DARKNET_SEED", "7", 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dsn_test_rmtree(f->dir);
    free(f->student);
    free(f);
    unsetenv("DSN_SERIAL");
    unsetenv("DARKNET_SEED");
    return 0;
}

/* Copy `copy` of the network as train_classifier loads it; copy < 0: a lone network (no -gpus). */
static network *load_copy(const fixture *f, int copy)
{
    char k[16];
    snprintf(k, sizeof k, "%d", copy);
    srand(1234);
    if(copy >= 0) setenv("DSN_NET_COPY", k, 1);
    network *net = load_network(f->student, 0, 0);
    unsetenv("DSN_NET_COPY");
    return net;
}

/* A deterministic batch: inputs in [0, 1) and one-hot labels. */
static void fill_batch(float *x, float *y, unsigned seed)
{
    for(int i = 0; i < BATCH * SIDE * SIDE; ++i) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f;
    }
    memset(y, 0, sizeof(float) * BATCH * CLASSES);
    for(int b = 0; b < BATCH; ++b) y[b * CLASSES + b % CLASSES] = 1;
}

/* One training step (forward, backward, update) on the batch (x, y), as train_network does. */
static void train_step(network *net, const float *x, const float *y)
{
    memcpy(net->input, x, sizeof(float) * BATCH * SIDE * SIDE);
    memcpy(net->truth, y, sizeof(float) * BATCH * CLASSES);
    train_network_datum(net);
}

static int is_synced_type(LAYER_TYPE t) { return t == CONVOLUTIONAL || t == DECONVOLUTIONAL || t == CONNECTED; }

static void test_each_copy_owns_its_state(void **state)
{
    fixture *f = *state;
    network *a = load_copy(f, 0), *b = load_copy(f, 1);
    dsn_stamp_state *sa = dsn_stamp_state_of(a), *sb = dsn_stamp_state_of(b);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_ptr_not_equal(sa, sb);
    const void *pa[] = {sa->mask, sa->role, sa->stamped, sa->rowser, sa->flip_bit, sa->perm, sa->bit_w, a->layers[0].output};
    const void *pb[] = {sb->mask, sb->role, sb->stamped, sb->rowser, sb->flip_bit, sb->perm, sb->bit_w, b->layers[0].output};
    for(size_t i = 0; i < sizeof pa / sizeof pa[0]; ++i) {
        assert_non_null(pa[i]);
        assert_ptr_not_equal(pa[i], pb[i]);
    }
    /* the teacher: one per copy, the same weights */
    network *ta = distill_kl_teacher(a->layers[DISTILL]), *tb = distill_kl_teacher(b->layers[DISTILL]);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_ptr_not_equal(ta, tb);
    assert_ptr_not_equal(ta->layers[0].weights, tb->layers[0].weights);
    assert_memory_equal(ta->layers[0].weights, tb->layers[0].weights, sizeof(float) * ta->layers[0].nweights);
    /* the same starting weights in every synced layer (train_classifier's srand(seed) per copy) */
    for(int i = 0; i < a->n; ++i) {
        layer la = a->layers[i], lb = b->layers[i];
        if(la.type == CONVOLUTIONAL) assert_memory_equal(la.weights, lb.weights, sizeof(float) * la.nweights);
        if(la.type == CONNECTED) assert_memory_equal(la.weights, lb.weights, sizeof(float) * la.inputs * la.outputs);
    }
    free_network(a);
    free_network(b);
}

static void test_copies_draw_their_own_roles(void **state)
{
    fixture *f = *state;
    static float x[BATCH * SIDE * SIDE], y[BATCH * CLASSES];
    fill_batch(x, y, 5);
    network *a = load_copy(f, 0), *b = load_copy(f, 1), *lone = load_copy(f, -1);
    dsn_stamp_state *sa = dsn_stamp_state_of(a), *sb = dsn_stamp_state_of(b), *sl = dsn_stamp_state_of(lone);
    assert_int_not_equal(sa->rng.s, sb->rng.s);
    assert_int_equal(sa->rng.s, sl->rng.s);          /* copy 0 is seeded as a lone network */
    uint64_t b_rng = sb->rng.s;
    uint8_t b_role[BATCH];
    memcpy(b_role, sb->role, BATCH);
    train_step(a, x, y);
    assert_int_equal(sb->rng.s, b_rng);              /* a's step leaves b's generator alone */
    assert_memory_equal(sb->role, b_role, BATCH);
    train_step(b, x, y);
    train_step(lone, x, y);
    int same_rows = 0;
    for(int r = 0; r < DSN_ROLE_COUNT; ++r) assert_int_equal(sa->count[r], sb->count[r]);
    for(int i = 0; i < BATCH; ++i)
        same_rows += sa->role[i] == sb->role[i] && sa->stamped[i] == sb->stamped[i] &&
                     (!sa->stamped[i] || dsn_serial_hamming(&sa->rowser[i], &sb->rowser[i]) == 0);
    print_message("  copies 0 and 1: %d of %d rows with the same role and serial\n", same_rows, BATCH);
    assert_true(same_rows < BATCH);
    assert_memory_equal(sa->role, sl->role, BATCH);  /* copy 0 draws what a lone network draws */
    for(int i = 0; i < BATCH; ++i)
        if(sa->stamped[i]) assert_int_equal(dsn_serial_hamming(&sa->rowser[i], &sl->rowser[i]), 0);
    free_network(a);
    free_network(b);
    free_network(lone);
}

/* sync_nets averages CONVOLUTIONAL/DECONVOLUTIONAL/CONNECTED weights only: the DSN layers must
 * have none, the standalone [batchnorm] must not learn, and averaging those weights alone must
 * give the copies the same customer output. */
static void test_sync_covers_every_weight(void **state)
{
    fixture *f = *state;
    static float x[BATCH * SIDE * SIDE], y[BATCH * CLASSES];
    network *a = load_copy(f, 0), *b = load_copy(f, 1);
    for(int i = 0; i < a->n; ++i) {
        layer l = a->layers[i];
        if(!find_layer_plugin(l.type)) continue;
        assert_false(is_synced_type(l.type));
        assert_null(l.weights);
        assert_null(l.biases);
        assert_null(l.scales);
        assert_int_equal(l.nweights, 0);
    }
    assert_int_equal(a->layers[BATCHNORM_AT].type, BATCHNORM);
    for(int k = 0; k < 6; ++k) {       /* the copies see different data, as each GPU does */
        fill_batch(x, y, 100 + k);
        train_step(a, x, y);
        fill_batch(x, y, 200 + k);
        train_step(b, x, y);
    }
    layer bn = a->layers[BATCHNORM_AT];
    for(int c = 0; c < bn.out_c; ++c) {
        assert_true(bn.scales[c] == 1.0f);
        assert_true(bn.biases[c] == 0.0f);
    }
    /* distribute_weights: every synced layer of b takes a's weights */
    int differed = 0;
    for(int i = 0; i < a->n; ++i) {
        layer la = a->layers[i], lb = b->layers[i];
        if(!is_synced_type(la.type)) continue;
        size_t nw = la.type == CONNECTED ? (size_t)la.inputs * la.outputs : (size_t)la.nweights;
        size_t nb = la.type == CONNECTED ? (size_t)la.outputs : (size_t)la.n;
        differed += memcmp(la.weights, lb.weights, nw * sizeof(float)) != 0;
        memcpy(lb.weights, la.weights, nw * sizeof(float));
        memcpy(lb.biases, la.biases, nb * sizeof(float));
    }
    assert_true(differed > 0);          /* the steps did train the copies apart */
    fill_batch(x, y, 999);
    a->train = b->train = 0;
    memcpy(a->input, x, sizeof x);
    memcpy(b->input, x, sizeof x);
    forward_network(a);
    forward_network(b);
    assert_memory_equal(a->layers[DISTILL].output, b->layers[DISTILL].output, sizeof(float) * BATCH * CLASSES);
    free_network(a);
    free_network(b);
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_copy_owns_its_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copies_draw_their_own_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_covers_every_weight, setup, teardown),
    };
    return cmocka_run_group_tests_name("multigpu", tests, NULL, NULL);
}
