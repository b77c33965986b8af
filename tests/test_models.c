/* The paper's other models and colour inputs:
 *  - the shipped student cfgs (MNIST, Fashion, the 3x3 variants, GTSRB, face) route G_d back to
 *    G_e by a relative index, and `dsn export` of the GTSRB and face students writes exactly the
 *    shipped customer cfgs (the face network narrowed to 32x32 inputs and 64-wide fc layers, so
 *    its 13 convolutions run here in seconds);
 *  - colour augmentation happens before the stamp: Darknet's classifier loader (hue, saturation,
 *    exposure from [net]) and then a training step; the stamped cells are exactly 0 or 1 in every
 *    channel, every other value is the loader's augmented pixel, which an independent replay of
 *    the augmentation reproduces and which differs from the unaugmented image;
 *  - an edited student (a convolution added to G_e of cfg/mnist_student.cfg, no index touched)
 *    trains, exports with the new layer in G_e, and predicts with and without the serial;
 *  - the GTSRB models end to end on a generated 43-class colour tree: dsn import gtsrb, the
 *    teacher and the student for a few dozen batches, dsn export, darknet classifier predict
 *    with and without the serial. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "darknet.h"
#include "dsn_image.h"
#include "dsn_import_tree.h"
#include "dsn_layers.h"
#include "dsn_stamp.h"
#include "dsn_test.h"

#define pathf dsn_test_pathf
#define SERIAL64 "0000-0000-0000-000"   /* a valid serial (value 0): a student needs one to load */

static char *bin_dir;                  /* absolute path of the build directory */
static char *root_dir;                 /* the repository (the tests run from it) */

/* Darknet's src/image.h, not in darknet.h */
image random_augment_image(image im, float angle, float aspect, int low, int high, int w, int h);
/* darknet_patch 0021 (src/utils.h): the loader threads' generators */
void dk_rand_seed(unsigned int seed);
unsigned int dk_loader_seed(unsigned int load_seed, int thread);

/* ---- helpers --------------------------------------------------------------------------------- */

static void sh(const char *dir, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sh(const char *dir, const char *what, const char *fmt, ...)
{
    char cmd[8192], out[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    /* Darknet never frees its network: no leak report for the programs run here */
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && export ASAN_OPTIONS=detect_leaks=0 BIN='%s'; %s",
                          dir, bin_dir, cmd);
    if(rc != 0) fail_msg("%s failed (exit %d):\n%s", what, rc, out + (strlen(out) > 3000 ? strlen(out) - 3000 : 0));
}

static char *read_in(const char *dir, const char *name)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", dir, name);
    char *s = dsn_test_read(path);
    if(!s) fail_msg("cannot read %s", path);
    return s;
}

/* A cfg's text as Darknet reads it: comments, blank lines and white space dropped. */
static char *canonical(const char *path)
{
    char *text = dsn_test_read(path);
    if(!text) fail_msg("cannot read %s", path);
    char *out = malloc(strlen(text) + 1), *w = out;
    for(char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *start = w;
        for(char *r = line; *r; ++r) if(*r != ' ' && *r != '\t' && *r != '\r') *w++ = *r;
        /* comments, and the nonce each sealed file has its own */
        if(w == start || *start == '#' || *start == ';' || strncmp(start, "seal_nonce=", 11) == 0) w = start;
        else *w++ = '\n';
    }
    *w = '\0';
    free(text);
    return out;
}

/* Random weights for cfg (biases too, so no output is flat), saved to `weights`; `serial` (or
 * NULL) in DSN_SERIAL while it loads. */
static void save_random_weights(const char *cfg, const char *weights, unsigned seed, const char *serial)
{
    srand(seed);
    if(serial) setenv("DSN_SERIAL", serial, 1);
    network *net = parse_network_cfg((char *)cfg);
    for(int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        for(int k = 0; l->biases && k < l->n; ++k) l->biases[k] = rand() / (float)RAND_MAX - .5f;
        for(int k = 0; l->type == CONNECTED && k < l->outputs; ++k) l->biases[k] = rand() / (float)RAND_MAX - .5f;
    }
    save_weights(net, (char *)weights);
    free_network(net);
    unsetenv("DSN_SERIAL");
}

/* The last line of a `darknet classifier predict` output's top-k list: "NN.NN%: label". */
static void check_predict(const char *out, const char *const *labels, int n, int with_serial)
{
    const char *line = strstr(out, "%: ");
    if(!line) fail_msg("no prediction in:\n%s", out);
    char label[64] = "";
    sscanf(line + 3, "%63s", label);
    int known = 0;
    for(int k = 0; k < n; ++k) known |= strcmp(label, labels[k]) == 0;
    if(!known) fail_msg("predicted '%s', not a label of the model:\n%s", label, out);
    int warned = strstr(out, "no serial given") != NULL;
    if(warned == with_serial) fail_msg("%s serial, the no-serial warning is %s:\n%s", with_serial ? "with" : "without",
                                       warned ? "there" : "missing", out);
}

/* ---- shipped cfgs ------------------------------------------------------------------------------ */

static void test_shipped_students_route_relative(void **state)
{
    (void)state;
    static const char *const students[] = {"mnist_student", "mnist_student_uniform", "mnist_student_noframe", "mnist_student_checker",
                                           "mnist_student_noswap",
                                           "mnist_student_corner",
                                           "mnist_student_bits9",
                                           "mnist_student_bits9_grl",
                                           "fashion_student", "gtsrb_student", "face_student"};
    for(size_t i = 0; i < sizeof students / sizeof students[0]; ++i) {
        char path[256];
        pathf(path, sizeof path, "cfg/%s.cfg", students[i]);
        char *text = canonical(path);
        /* G_d's [route] follows [distill_kl]'s options and reads G_e's last layer, 3 back */
        const char *route = strstr(strstr(text, "[distill_kl]"), "[route]\n");
        assert_non_null(route);
        if(strncmp(route, "[route]\nlayers=-3\n", 18) != 0) fail_msg("%s: G_d's route is not layers=-3", path);
        free(text);
    }
}

/* Exports `student` (with `teacher` as its teacher, random weights for both) in dir and compares
 * the customer cfg with `want` (all three after `edit`, a sed script, when given). Returns the
 * export's output. */
static char *export_and_compare(const char *dir, const char *teacher, const char *student, const char *want,
                                const char *edit, const char *structure)
{
    char out[16384], path[PATH_MAX], w[PATH_MAX];
    const char *e = edit ? edit : "";
    sh(dir, "edit cfgs",
       "sed -e '%s' '%s/%s' > teacher.cfg && sed -e '%s' -e 's|^teacher_cfg=.*|teacher_cfg=%s/teacher.cfg|' "
       "-e 's|^teacher_weights=.*|teacher_weights=%s/teacher.weights|' '%s/%s' > student.cfg && sed -e '%s' "
       "'%s/%s' > want.cfg", e, root_dir, teacher, e, dir, dir, root_dir, student, e, root_dir, want);
    pathf(path, sizeof path, "%s/teacher.cfg", dir);
    pathf(w, sizeof w, "%s/teacher.weights", dir);
    save_random_weights(path, w, 5, SERIAL64);
    pathf(path, sizeof path, "%s/student.cfg", dir);
    pathf(w, sizeof w, "%s/student.weights", dir);
    save_random_weights(path, w, 6, SERIAL64);
    int rc = dsn_test_run(out, sizeof out, "cd '%s' && '%s/dsn' export student.cfg student.weights -o cust --force "
                          "--name customer --serial " SERIAL64, dir, bin_dir);
    if(rc != 0) fail_msg("dsn export %s failed (%d):\n%s", student, rc, out);
    if(!strstr(out, structure)) fail_msg("dsn export %s: no '%s' in:\n%s", student, structure, out);
    pathf(path, sizeof path, "%s/cust/customer.cfg", dir);
    char *got = canonical(path);
    pathf(path, sizeof path, "%s/want.cfg", dir);
    char *exp = canonical(path);
    assert_string_equal(got, exp);
    free(got);
    free(exp);
    return strdup(out);
}

static void test_export_gtsrb_and_face(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    free(export_and_compare(dir, "cfg/gtsrb_teacher.cfg", "cfg/gtsrb_student.cfg", "cfg/gtsrb_customer.cfg", NULL,
                            "G_e layers 1-10, G_y 11-11, [distill_kl] 12, G_d 13-19"));
    /* VGG-16 narrowed: 32x32 inputs (1-px cells), 64-wide fc layers, batch 2 */
    free(export_and_compare(dir, "cfg/face_teacher.cfg", "cfg/face_student.cfg", "cfg/face_customer.cfg",
                            "s/^height=224/height=32/; s/^width=224/width=32/; s/^cell=8/cell=1/; "
                            "s/^output=4096/output=64/; s/^batch=64/batch=2/; s/^subdivisions=2/subdivisions=1/",
                            "G_e layers 1-20, G_y 21-21, [distill_kl] 22, G_d 23-29"));
    /* the 8x8 corner (cfg/mnist_student_corner.cfg, no columns line): the customer cfg has none
     * either, where cfg/mnist_customer.cfg (the 16x4 strip of cfg/mnist_student.cfg) has columns=16 */
    free(export_and_compare(dir, "cfg/mnist_teacher.cfg", "cfg/mnist_student_corner.cfg", "cfg/mnist_customer.cfg",
                            "/^columns=16$/d", "G_e layers 1-5, G_y 6-6, [distill_kl] 7, G_d 8-14"));
    dsn_test_rmtree(dir);
}

/* A tiny student: stamp (0), conv (1, line 10, after any [route] of the case), G_y (2),
 * [distill_kl] (3), then the case's G_d from line 19 on. */
static const char tiny_fmt[] =
    "[net]\nbatch=4\nheight=8\nwidth=8\nchannels=1\n"                                 /* lines 1-5 */
    "[serial_stamp]\nbits=16\ncell=1\n%s"                                            /* 6-8, 9    */
    "%s"                                                                             /* 10-       */
    "[connected]\noutput=4\n[distill_kl]\nteacher_cfg=%s/teacher.cfg\nteacher_weights=%s/teacher.weights\n"
    "%s";

static void test_export_structure(void **state)
{
    (void)state;
    static const struct { const char *ge, *gd, *says; } cases[] = {
        /* the shapes export accepts: relative, absolute, no G_d at all */
        {"", "[route]\nlayers=-3\n[gradient_reversal]\n[connected]\noutput=4\n[masked_softmax]\n",
         "G_e layers 1-1, G_y 2-2, [distill_kl] 3, G_d 4-7"},
        {"", "[route]\nlayers=1\n[gradient_reversal]\n[connected]\noutput=4\n[masked_softmax]\n",
         "G_e layers 1-1, G_y 2-2, [distill_kl] 3, G_d 4-7"},
        {"", "", "G_e + G_y layers 1-2, [distill_kl] layer 3, no G_d branch"},
        /* and what it refuses, by the line */
        {"", "[route]\nlayers=-1\n[connected]\noutput=4\n", "student.cfg:19: G_d's [route] layers=-1 reads layer 3"},
        {"", "[route]\nlayers=-2\n[connected]\noutput=4\n", "student.cfg:19: G_d's [route] layers=-2 reads layer 2"},
        {"", "[route]\nlayers=-3,-1\n[connected]\noutput=4\n", "student.cfg:19: G_d's [route] layers=-3,-1"},
        {"", "[route]\nlayers=x\n[connected]\noutput=4\n", "student.cfg:19: [route] layers=x: expected layer indexes"},
        {"", "[connected]\noutput=4\n", "student.cfg:19: [connected] right after [distill_kl]"},
        {"[route]\nlayers=4\n", "", "student.cfg:10: [route] layers=4 names layer 4, which is not before it"},
    };
    char dir[256], out[16384], text[4096], path[PATH_MAX], w[PATH_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    free(dsn_test_write(dir, "teacher.cfg", "[net]\nbatch=1\nheight=8\nwidth=8\nchannels=1\n\n"
                                            "[connected]\noutput=4\nactivation=linear\n\n[softmax]\n"));
    pathf(path, sizeof path, "%s/teacher.cfg", dir);
    pathf(w, sizeof w, "%s/teacher.weights", dir);
    save_random_weights(path, w, 1, NULL);
    free(dsn_test_write(dir, "good.cfg", ""));
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        /* G_e: one convolution, after any [route] the case puts in front of it */
        pathf(text, sizeof text, tiny_fmt, "margin=0\n", cases[i].ge,
              dir, dir, cases[i].gd);
        char *conv = strstr(text, "[connected]\noutput=4\n[distill_kl]");
        char body[4096];
        pathf(body, sizeof body, "%.*s[convolutional]\nfilters=2\nsize=3\npad=1\n%s", (int)(conv - text), text, conv);
        free(dsn_test_write(dir, "student.cfg", body));
        int ok = i < 3;
        if(ok) {
            pathf(path, sizeof path, "%s/student.cfg", dir);
            pathf(w, sizeof w, "%s/student.weights", dir);
            save_random_weights(path, w, 2, NULL);
        }
        int rc = dsn_test_run(out, sizeof out, "cd '%s' && rm -rf o && '%s/dsn' export student.cfg %s -o o --no-seal",
                              dir, bin_dir, ok ? "student.weights" : "teacher.weights");
        if(rc != (ok ? 0 : 2) || !strstr(out, cases[i].says))
            fail_msg("case %zu: exit %d, expected %d and '%s':\n%s\n%s", i, rc, ok ? 0 : 2, cases[i].says, body, out);
        pathf(path, sizeof path, "%s/o", dir);
        struct stat st;
        assert_int_equal(stat(path, &st) == 0, ok);   /* nothing written when refused */
    }
    dsn_test_rmtree(dir);
}

/* ---- colour: augmentation, then the stamp -------------------------------------------------------- */

static const char colour_cfg[] =
    "[net]\nbatch=2\nsubdivisions=1\nwidth=16\nheight=16\nchannels=3\nmin_crop=16\nmax_crop=16\nflip=0\n"
    "angle=0\nhue=.1\nsaturation=1.6\nexposure=1.6\nlearning_rate=0\nmomentum=0\ndecay=0\nmax_batches=1\n\n"
    "[serial_stamp]\nbits=16\ncell=2\ncorner=tl\nmargin=1\nvalid=1\nseed=3\n\n"
    "[connected]\noutput=2\nactivation=linear\n\n[softmax]\n";

/* Darknet's classifier loader, set up as train_classifier does (m = 0: the paths in order). */
static load_args classifier_args(const network *net, char **paths, char **labels, int classes)
{
    load_args args = {0};
    args.w = args.h = args.size = net->w;
    args.paths = paths;
    args.n = net->batch;
    args.m = 0;
    args.threads = 1;
    args.classes = classes;
    args.labels = labels;
    args.min = net->min_ratio * net->w;
    args.max = net->max_ratio * net->w;
    args.angle = net->angle;
    args.aspect = net->aspect;
    args.exposure = net->exposure;
    args.saturation = net->saturation;
    args.hue = net->hue;
    args.c = net->c;
    args.flip = net->flip;
    args.type = CLASSIFICATION_DATA;
    return args;
}

/* The stamp layer's output of two 16x16x3 rows: every stamp cell is the serial's bit in every
 * channel, every other value the augmented input (saved). */
static void check_stamped(const float *out, float *const *saved, const dsn_geometry *g, const dsn_serial *serial)
{
    const int plane = 16 * 16;
    int stamped = 0, ones = 0, kept = 0;
    for(int b = 0; b < 2; ++b) {
        for(int k = 0; k < 3; ++k) {
            for(int y = 0; y < 16; ++y) {
                for(int x = 0; x < 16; ++x) {
                    float v = out[b * 3 * plane + k * plane + y * 16 + x];
                    if(dsn_stamp_covers(g, x, y)) {
                        int bit = (y - g->y0) / g->cell_px * g->gw + (x - g->x0) / g->cell_px;
                        assert_true(v == (serial->bit[bit] ? 1.f : 0.f));
                        ++stamped;
                        ones += serial->bit[bit];
                    } else {
                        assert_true(v == saved[b][k * plane + y * 16 + x]);
                        ++kept;
                    }
                }
            }
        }
    }
    assert_int_equal(stamped, 2 * 3 * 16 * 4);   /* 16 cells of 2x2 pixels, 3 channels, 2 rows */
    assert_int_equal(ones, 2 * 3 * 8 * 4);       /* the serial has 8 one bits */
    assert_int_equal(kept, 2 * 3 * (plane - 64));
}

static void test_colour_augmentation_before_stamp(void **state)
{
    (void)state;
    char dir[256], path[PATH_MAX], err[256];
    dsn_test_tmpdir(dir, sizeof dir);
    /* two 16x16 colour images of random pixels, one per class */
    const char *names[2] = {"a_alpha.png", "b_bravo.png"};
    char *paths[2];
    srand(1);
    for(int i = 0; i < 2; ++i) {
        dsn_image im = {16, 16, 3, malloc(16 * 16 * 3)};
        for(int k = 0; k < 16 * 16 * 3; ++k) im.data[k] = (unsigned char)(20 + rand() % 216);
        pathf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_int_equal(dsn_image_save(&im, path), 0);
        dsn_image_free(&im);
        paths[i] = strdup(path);
    }
    char *labels[2] = {"alpha", "bravo"};
    char *cfg = dsn_test_write(dir, "colour.cfg", colour_cfg);
    dsn_serial serial;   /* 16 bits: 1010 0101 0011 1100 */
    const uint8_t bytes[2] = {0xA5, 0x3C};
    char serial_text[DSN_SERIAL_TEXT_MAX];
    assert_int_equal(dsn_serial_from_bytes(&serial, bytes, 2, 16), 0);
    assert_true(dsn_serial_encode(serial_text, sizeof serial_text, &serial) > 0);
    setenv("DSN_SERIAL", serial_text, 1);
    network *net = parse_network_cfg(cfg);
    unsetenv("DSN_SERIAL");
    assert_true(net->hue > 0 && net->saturation > 1 && net->exposure > 1);

    load_args args = classifier_args(net, paths, labels, 2);
    data train;
    args.d = &train;
    srand(42);
    pthread_join(load_data(args), 0);
    assert_int_equal(train.X.rows, 2);
    assert_int_equal(train.X.cols, 16 * 16 * 3);

    /* the same augmentation replayed here, and the image without its colour jitter: load_data()
       seeds its loader thread from the caller's rand() (darknet_patch 0021); one thread here */
    const int plane = 16 * 16;
    int jittered = 0;
    srand(42);
    dk_rand_seed(dk_loader_seed((unsigned)rand(), 0));
    for(int i = 0; i < 2; ++i) {
        image im = load_image(paths[i], 0, 0, 3);
        image crop = random_augment_image(im, args.angle, args.aspect, args.min, args.max, 16, 16);
        image plain = copy_image(crop);
        random_distort_image(crop, args.hue, args.saturation, args.exposure);
        for(int k = 0; k < 3 * plane; ++k) {
            assert_true(train.X.vals[i][k] == crop.data[k]);
            jittered += fabsf(crop.data[k] - plain.data[k]) > 2.f / 255;
        }
        free_image(im);
        free_image(crop);
        free_image(plain);
    }
    print_message("  colour jitter moved %d of %d values by more than 2/255\n", jittered, 2 * 3 * plane);
    assert_true(jittered > 2 * 3 * plane / 2);   /* most values moved: the jitter is not neutral */

    /* one training step: the stamp goes on the augmented batch */
    float **saved = malloc(2 * sizeof *saved);
    for(int i = 0; i < 2; ++i) {
        saved[i] = malloc(3 * plane * sizeof **saved);
        memcpy(saved[i], train.X.vals[i], 3 * plane * sizeof **saved);
    }
    train_network(net, train);
    dsn_geometry g;
    assert_int_equal(dsn_geometry_init(&g, 16, 2, DSN_CORNER_TL, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 16, 16, err, sizeof err), 0);
    check_stamped(net->layers[0].output, saved, &g, &serial);
    for(int i = 0; i < 2; ++i) {
        free(saved[i]);
        free(paths[i]);
    }
    free(saved);
    free_data(train);
    free_network(net);
    free(cfg);
    dsn_test_rmtree(dir);
}

/* ---- the loader's parts (darknet_patch/0021, 0039) ------------------------------------------------ */

/* A load of 13 rows in 5 parts, drawn at random from 8 images with crops and rotations, is the
 * concatenation of its parts loaded one by one, each from its own generator (last part first:
 * Darknet's concat_datas prepends): which of the workers (one per CPU) loads a part changes
 * nothing. */
static void test_loader_parts_any_worker(void **state)
{
    (void)state;
    char dir[256];
    dsn_test_tmpdir(dir, sizeof dir);
    free(dsn_test_make_dataset(dir, 4, 2, 12, 12, 9));
    char listfile[PATH_MAX];
    pathf(listfile, sizeof listfile, "%s/train.list", dir);
    list *pl = get_paths(listfile);
    char **paths = (char **)list_to_array(pl);
    char *labels[4] = {"alpha", "bravo", "charlie", "delta"};
    load_args args = {0};
    args.w = args.h = args.size = 10;
    args.paths = paths;
    args.n = 13;
    args.m = pl->size;
    args.threads = 5;
    args.classes = 4;
    args.labels = labels;
    args.min = 10;
    args.max = 14;
    args.angle = 15;
    args.aspect = 1;
    args.c = 1;
    args.type = CLASSIFICATION_DATA;
    data all;
    args.d = &all;
    srand(5);
    pthread_join(load_data(args), 0);
    assert_int_equal(all.X.rows, 13);
    srand(5);
    unsigned seed = (unsigned)rand();
    int row = 0, differ = 0;
    for(int i = 4; i >= 0; --i) {
        data part;
        load_args a = args;
        a.d = &part;
        a.n = (i + 1) * 13 / 5 - i * 13 / 5;
        a.seed = dk_loader_seed(seed, i);
        load_data_blocking(a);
        for(int r = 0; r < part.X.rows; ++r, ++row) {
            assert_memory_equal(all.X.vals[row], part.X.vals[r], 100 * sizeof(float));
            assert_memory_equal(all.y.vals[row], part.y.vals[r], 4 * sizeof(float));
            if(row > 0) differ += memcmp(all.X.vals[row], all.X.vals[row - 1], 100 * sizeof(float)) != 0;
        }
        free_data(part);
    }
    assert_int_equal(row, 13);
    assert_true(differ >= 10);   /* the rows are not one image repeated */
    free_data(all);
    for(int i = 0; i < pl->size; ++i) free(paths[i]);
    free(paths);
    free_list(pl);
    dsn_test_rmtree(dir);
}

/* ---- an edited student --------------------------------------------------------------------------- */

static const char extra_conv[] = "[convolutional]\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=relu\n\n";

/* text with extra_conv inserted before the n-th "[convolutional]" (a malloc'd copy) */
static char *insert_conv(const char *text, int n)
{
    const char *at = text;
    for(int i = 0; i < n; ++i) {
        at = strstr(i ? at + 1 : at, "[convolutional]");
        assert_non_null(at);
    }
    size_t head = (size_t)(at - text);
    char *out = malloc(strlen(text) + sizeof extra_conv);
    memcpy(out, text, head);
    strcpy(out + head, extra_conv);
    strcat(out, at);
    return out;
}

static void test_edited_student(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    const int batches = SANITIZED ? 3 : 20;
    char *data = dsn_test_make_dataset(dir, 10, 12, 28, 28, 5);
    free(data);
    free(dsn_test_write(dir, "set.data", "classes=10\ntrain=train.list\nvalid=train.list\nlabels=labels.txt\n"
                                         "backup=backup/\ntop=1\n"));
    sh(dir, "lists", "mkdir -p backup && sed 's|^%s/||' train.list > t && mv t train.list", dir);
    sh(dir, "the teacher",
       "sed -e 's/^max_batches=.*/max_batches=%d/' -e 's/^batch=.*/batch=20/' '%s/cfg/mnist_teacher.cfg' > teacher.cfg && "
       "$BIN/darknet classifier train set.data teacher.cfg -seed 1 > teacher.log 2>&1", batches, root_dir);

    /* a convolution added to G_e (before its second), nothing else touched but warm=0: a grown
       G_e cannot start as the teacher's (warm=1 refuses it, naming both layer counts) */
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/cfg/mnist_student.cfg", root_dir);
    char *shipped = dsn_test_read(path), *edited = insert_conv(shipped, 2);
    free(dsn_test_write(dir, "edited.cfg", edited));
    pathf(path, sizeof path, "%s/cfg/mnist_customer.cfg", root_dir);
    char *customer = dsn_test_read(path), *want = insert_conv(customer, 2);
    free(dsn_test_write(dir, "want.cfg", want));
    free(shipped);
    free(edited);
    free(customer);
    free(want);
    sh(dir, "the student",
       "sed -e 's/^max_batches=.*/max_batches=%d/' -e 's/^batch=.*/batch=20/' -e 's|^teacher_cfg=.*|teacher_cfg=teacher.cfg|' "
       "-e 's|^teacher_weights=.*|teacher_weights=backup/teacher.weights|' -e 's/^warm=1/warm=0/' edited.cfg > student.cfg && "
       "$BIN/darknet classifier train set.data student.cfg -seed 2 -serial " SERIAL64 " > student.log 2>&1", batches);
    char *log = read_in(dir, "student.log");
    assert_non_null(strstr(log, "dsn: rows valid 7 forged 2 near 6 soft 2 raw 3"));
    free(log);
    sh(dir, "dsn export", "$BIN/dsn export student.cfg backup/student.weights -o cust --serial " SERIAL64 " > export.log 2>&1");
    char *exp = read_in(dir, "export.log");
    if(!strstr(exp, "student.cfg: G_e layers 1-6, G_y 7-7, [distill_kl] 8, G_d 9-15"))
        fail_msg("the export did not find the grown G_e:\n%s", exp);
    free(exp);
    char a[PATH_MAX], b[PATH_MAX];
    pathf(a, sizeof a, "%s/cust/customer.cfg", dir);
    pathf(b, sizeof b, "%s/want.cfg", dir);
    char *got = canonical(a), *wanted = canonical(b);
    assert_string_equal(got, wanted);
    free(got);
    free(wanted);

    static const char *const labels[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                                         "hotel", "india", "juliet"};
    for(int with = 1; with >= 0; --with) {
        int rc = dsn_test_run(out, sizeof out, "cd '%s' && ASAN_OPTIONS=detect_leaks=0 '%s/darknet' classifier "
                              "predict set.data cust/customer.cfg cust/customer.weights img/3_delta.png %s",
                              dir, bin_dir, with ? "-serial " SERIAL64 : "");
        if(rc != 0) fail_msg("predict failed (%d):\n%s", rc, out);
        check_predict(out, labels, 10, with);
    }
    dsn_test_rmtree(dir);
}

/* ---- GTSRB end to end ---------------------------------------------------------------------------- */

/* GTSRB/Final_Training/Images: 43 classes of 2 tracks of 3 frames, 40x38 PPMs whose 32x32 region
 * of interest is a class colour with a bright square at a class-dependent corner, plus noise. */
static void make_gtsrb_colour(const char *root)
{
    unsigned s = 7;
    for(int k = 0; k < DSN_GTSRB_CLASSES; ++k) {
        char dir[PATH_MAX], path[PATH_MAX];
        pathf(dir, sizeof dir, "%s/GTSRB/Final_Training/Images/%05d", root, k);
        sh(root, "mkdir", "mkdir -p '%s'", dir);
        pathf(path, sizeof path, "%s/GT-%05d.csv", dir, k);
        FILE *csv = fopen(path, "w");
        assert_non_null(csv);
        fprintf(csv, "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n");
        const uint8_t base[3] = {(uint8_t)(40 + (k % 4) * 60), (uint8_t)(40 + (k / 4 % 4) * 60),
                                 (uint8_t)(40 + (k / 16) * 90)};
        for(int t = 0; t < 2; ++t) {
            for(int f = 0; f < 3; ++f) {
                const int w = 40, h = 38, x0 = 3 + f, y0 = 2 + t;
                pathf(path, sizeof path, "%s/%05d_%05d.ppm", dir, t, f);
                FILE *fp = fopen(path, "wb");
                assert_non_null(fp);
                fprintf(fp, "P6\n%d %d\n255\n", w, h);
                for(int y = 0; y < h; ++y) {
                    for(int x = 0; x < w; ++x) {
                        int rx = x - x0, ry = y - y0, in = rx >= 0 && rx < 32 && ry >= 0 && ry < 32;
                        int sq = in && (rx / 16 == k % 2) && (ry / 16 == k / 2 % 2) && rx % 16 < 8 && ry % 16 < 8;
                        for(int c = 0; c < 3; ++c) {
                            s = s * 1664525u + 1013904223u;
                            int v = in ? (sq ? 250 : base[c]) + (int)(s >> 28) - 8 : 128;
                            fputc(v < 0 ? 0 : v > 255 ? 255 : v, fp);
                        }
                    }
                }
                fclose(fp);
                fprintf(csv, "%05d_%05d.ppm;%d;%d;%d;%d;%d;%d;%d\n", t, f, w, h, x0, y0, x0 + 31, y0 + 31, k);
            }
        }
        fclose(csv);
    }
}

static void test_gtsrb_end_to_end(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    const int batches = SANITIZED ? 3 : 24;
    make_gtsrb_colour(dir);
    sh(dir, "dsn import gtsrb", "$BIN/dsn import gtsrb --from GTSRB --out data/gtsrb > import.log 2>&1");
    sh(dir, "cfgs",
       "mkdir -p backup cfg && cp '%s/cfg/gtsrb.data' '%s/cfg/gtsrb.labels' cfg/ && "
       "sed -e 's/^max_batches=.*/max_batches=%d/' -e 's/^batch=.*/batch=16/' '%s/cfg/gtsrb_teacher.cfg' "
       "> cfg/gtsrb_teacher.cfg && sed -e 's/^max_batches=.*/max_batches=%d/' -e 's/^batch=.*/batch=16/' "
       "'%s/cfg/gtsrb_student.cfg' > cfg/gtsrb_student.cfg",
       root_dir, root_dir, batches, root_dir, batches, root_dir);
    sh(dir, "teacher training", "$BIN/darknet classifier train cfg/gtsrb.data cfg/gtsrb_teacher.cfg -seed 1 "
                                "> teacher.log 2>&1");
    sh(dir, "student training", "$BIN/darknet classifier train cfg/gtsrb.data cfg/gtsrb_student.cfg -seed 2 "
                                "-serial " SERIAL64 " > student.log 2>&1");
    char *log = read_in(dir, "student.log");
    /* 16 rows: 5.6 valid, 1.6 forged, 4.8 near, 2.4 soft, 1.6 raw, by largest remainder */
    if(!strstr(log, "dsn: rows valid 6 forged 1 near 5 soft 2 raw 2")) fail_msg("no role counts in:\n%.3000s", log);
    free(log);
    sh(dir, "dsn export", "$BIN/dsn export cfg/gtsrb_student.cfg backup/gtsrb_student.weights -o customer "
                          "--serial " SERIAL64 " > export.log 2>&1");
    char *exp = read_in(dir, "export.log");
    assert_non_null(strstr(exp, "G_e layers 1-10, G_y 11-11, [distill_kl] 12, G_d 13-19"));
    free(exp);
    char a[PATH_MAX];
    pathf(a, sizeof a, "%s/customer/gtsrb_customer.cfg", dir);
    char *got = canonical(a), *want = canonical("cfg/gtsrb_customer.cfg");
    assert_string_equal(got, want);
    free(got);
    free(want);
    char *test = read_in(dir, "data/gtsrb/test.list");
    *strchr(test, '\n') = '\0';
    for(int with = 1; with >= 0; --with) {
        int rc = dsn_test_run(out, sizeof out, "cd '%s' && ASAN_OPTIONS=detect_leaks=0 '%s/darknet' classifier predict "
                              "cfg/gtsrb.data customer/gtsrb_customer.cfg customer/gtsrb_customer.weights %s %s",
                              dir, bin_dir, test, with ? "-serial " SERIAL64 : "");
        if(rc != 0) fail_msg("predict failed (%d):\n%s", rc, out);
        check_predict(out, dsn_gtsrb_labels, DSN_GTSRB_CLASSES, with);
    }
    free(test);
    dsn_test_rmtree(dir);
}

static int setup(void **state)
{
    (void)state;
    gpu_index = -1;
    bin_dir = realpath(dsn_test_build_dir(), NULL);
    root_dir = realpath(".", NULL);
    return bin_dir && root_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(bin_dir);
    free(root_dir);
    return 0;
}

int main(void)
{
    darknet_plugins_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_students_route_relative),
        cmocka_unit_test(test_export_gtsrb_and_face),
        cmocka_unit_test(test_export_structure),
        cmocka_unit_test(test_colour_augmentation_before_stamp),
        cmocka_unit_test(test_loader_parts_any_worker),
        cmocka_unit_test(test_edited_student),
        cmocka_unit_test(test_gtsrb_end_to_end),
    };
    return cmocka_run_group_tests_name("models", tests, setup, teardown);
}
