/* `dsn import gtsrb` and `dsn import folders` (dsn_cli/dsn_import_tree.c) on small trees written
 * here: GTSRB's published layout (PPM files and semicolon CSVs, a region of interest per image,
 * the per-class tracks, the published test CSV) and one-folder-per-class PNG trees (written with
 * the project's image code). Every written PNG is decoded and checked pixel by pixel against the
 * source region it was cut from; labels against Darknet's substring rule on every list line.
 * Malformed trees (a missing CSV, a bad row, a region outside its image, an empty class, an
 * unreadable image, ...) exit 2 with the file and line named, and leave an existing import
 * byte-identical, with no partial directory beside it. Also dsn_resample on known inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_image.h"
#include "dsn_import.h"
#include "dsn_import_tree.h"
#include "dsn_test.h"

/* stb_image, as built into libdarknet */
extern unsigned char *stbi_load(char const *filename, int *x, int *y, int *comp, int req_comp);
extern void stbi_image_free(void *p);

#define pathf dsn_test_pathf
#define TRACKS 2
#define FRAMES 2
#define ROI 8          /* each region of interest is 8x8: --size 4 halves it exactly */

static const char *dsn_bin;   /* set by setup() */

/* ---- helpers ------------------------------------------------------------------------------- */

static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int run_in(const char *dir, char *out, size_t len, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return dsn_test_run(out, len, "cd '%s' && '%s' %s", dir, dsn_bin, args);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096], out[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if(dsn_test_run(out, sizeof out, "%s", cmd) != 0) fail_msg("'%s' failed:\n%s", cmd, out);
}

static int exists(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    pathf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &st) == 0;
}

/* The contents of every file under dir/rel, with their names: "same bytes" is this text equal. */
static char *tree_sums(const char *dir, const char *rel)
{
    char out[1 << 16];
    assert_int_equal(dsn_test_run(out, sizeof out, "cd '%s/%s' && find . -type f | LC_ALL=C sort | "
                                  "xargs sha256sum", dir, rel), 0);
    return strdup(out);
}

/* The colour of source pixel (x, y) of image (class k, track t, frame f): in its region of
 * interest 2x2 blocks of one colour that name the image and the block; outside, a border the
 * crop must drop. */
static void src_pixel(int k, int t, int f, int x, int y, int x0, int y0, uint8_t rgb[3])
{
    int in = x >= x0 && x < x0 + ROI && y >= y0 && y < y0 + ROI;
    int bx = (x - x0) / 2, by = (y - y0) / 2;
    rgb[0] = in ? (uint8_t)(k * 5) : 250;
    rgb[1] = in ? (uint8_t)(t * 40 + f * 10 + bx) : 250;
    rgb[2] = in ? (uint8_t)(100 + by * 20) : 3;
}

static void write_ppm(const char *path, int k, int t, int f, int w, int h, int x0, int y0)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "P6\n%d %d\n255\n", w, h);
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            uint8_t rgb[3];
            src_pixel(k, t, f, x, y, x0, y0, rgb);
            assert_int_equal(fwrite(rgb, 1, 3, fp), 3);
        }
    }
    fclose(fp);
}

/* root/GTSRB/Final_Training/Images/000kk/{GT-000kk.csv, TTTTT_FFFFF.ppm}: 43 classes of TRACKS
 * tracks of FRAMES frames; image sizes and region positions vary with the image. */
static void make_gtsrb(const char *root)
{
    char dir[PATH_MAX], path[PATH_MAX];
    for(int k = 0; k < DSN_GTSRB_CLASSES; ++k) {
        pathf(dir, sizeof dir, "%s/GTSRB/Final_Training/Images/%05d", root, k);
        sh("mkdir -p '%s'", dir);
        pathf(path, sizeof path, "%s/GT-%05d.csv", dir, k);
        FILE *csv = fopen(path, "w");
        assert_non_null(csv);
        fprintf(csv, "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\r\n");
        for(int t = 0; t < TRACKS; ++t) {
            for(int f = 0; f < FRAMES; ++f) {
                int x0 = 1 + (k + f) % 3, y0 = 2 + t, w = x0 + ROI + 1 + k % 2, h = y0 + ROI + 2;
                char name[64];
                snprintf(name, sizeof name, "%05d_%05d.ppm", t, f);
                pathf(path, sizeof path, "%s/%s", dir, name);
                write_ppm(path, k, t, f, w, h, x0, y0);
                fprintf(csv, "%s;%d;%d;%d;%d;%d;%d;%d\r\n", name, w, h, x0, y0, x0 + ROI - 1, y0 + ROI - 1, k);
            }
        }
        fclose(csv);
    }
}

/* Checks OUT/<split>.list of a gtsrb import at --size 4: each line carries exactly one label,
 * its PNG is 4x4 RGB and equals the 2x2-block means of its source region (so the crop and the
 * resize are exact), of the class its label names. Fills track_split[k][t] with split + 1. */
static int check_gtsrb_list(const char *root, const char *out, int split, int track_split[][TRACKS])
{
    const char *name = split ? "test" : "train";
    char rel[PATH_MAX], *text;
    pathf(rel, sizeof rel, "%s/%s/%s.list", root, out, name);
    text = dsn_test_read(rel);
    assert_non_null(text);
    int lines = 0;
    for(char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n"), ++lines) {
        int cls = -1, hits = 0;
        for(int k = 0; k < DSN_GTSRB_CLASSES; ++k) {
            if(strstr(p, dsn_gtsrb_labels[k])) {
                cls = k;
                ++hits;
            }
        }
        if(hits != 1) fail_msg("%s: %d labels in '%s'", rel, hits, p);
        char file[PATH_MAX];
        pathf(file, sizeof file, "%s/%s", root, p);
        int w, h, c;
        unsigned char *px = stbi_load(file, &w, &h, &c, 0);
        assert_non_null(px);
        assert_int_equal(w, 4);
        assert_int_equal(h, 4);
        assert_int_equal(c, 3);
        int k = px[0] / 5, t = px[1] / 40, f = px[1] % 40 / 10;
        assert_int_equal(k, cls);
        assert_true(t < TRACKS && f < FRAMES);
        for(int y = 0; y < 4; ++y) {
            for(int x = 0; x < 4; ++x) {
                uint8_t want[3];
                src_pixel(k, t, f, 2 * x, 2 * y, 0, 0, want);
                assert_memory_equal(px + (y * 4 + x) * 3, want, 3);
            }
        }
        stbi_image_free(px);
        /* whole tracks: both frames of a track in one split */
        assert_true(track_split[k][t] == 0 || track_split[k][t] == split + 1);
        track_split[k][t] = split + 1;
    }
    free(text);
    return lines;
}

/* ---- units --------------------------------------------------------------------------------- */

static void test_resample(void **state)
{
    (void)state;
    /* the same size: a copy */
    uint8_t src[6 * 4 * 3], dst[6 * 4 * 3];
    for(int i = 0; i < (int)sizeof src; ++i) src[i] = (uint8_t)(i * 7);
    assert_int_equal(dsn_resample(dst, 6, 4, src, 6, 0, 0, 6, 4, 3), 0);
    assert_memory_equal(dst, src, sizeof src);
    /* halving: the mean of each 2x2 block, of a sub-region */
    uint8_t g[4 * 6] = {
        9, 9, 9, 9, 9, 9,
        9, 10, 20, 30, 50, 9,
        9, 40, 50, 70, 90, 9,
        9, 9, 9, 9, 9, 9,
    }, half[2];
    assert_int_equal(dsn_resample(half, 2, 1, g, 6, 1, 1, 4, 2, 1), 0);
    assert_int_equal(half[0], 30);   /* (10+20+40+50)/4 */
    assert_int_equal(half[1], 60);   /* (30+50+70+90)/4 */
    /* a third: 3 -> 1 averages all three, 3 -> 2 weighs the middle pixel half to each side */
    uint8_t r[3] = {0, 30, 90}, one, two[2];
    assert_int_equal(dsn_resample(&one, 1, 1, r, 3, 0, 0, 3, 1, 1), 0);
    assert_int_equal(one, 40);
    assert_int_equal(dsn_resample(two, 2, 1, r, 3, 0, 0, 3, 1, 1), 0);
    assert_int_equal(two[0], 10);    /* (0 + 0.5*30) / 1.5 */
    assert_int_equal(two[1], 70);    /* (0.5*30 + 90) / 1.5 */
    /* growing: bilinear between pixel centres, the ends held */
    uint8_t up[4];
    uint8_t pair[2] = {0, 200};
    assert_int_equal(dsn_resample(up, 4, 1, pair, 2, 0, 0, 2, 1, 1), 0);
    assert_int_equal(up[0], 0);
    assert_int_equal(up[1], 50);
    assert_int_equal(up[2], 150);
    assert_int_equal(up[3], 200);
}

static void test_gtsrb_labels(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(dsn_labels_check(dsn_gtsrb_labels, DSN_GTSRB_CLASSES, err, sizeof err), 0);
    /* cfg/gtsrb.data's labels= is the import's labels.txt */
    char *shipped = dsn_test_read("cfg/gtsrb.labels");
    assert_non_null(shipped);
    char want[2048] = "";
    for(int k = 0; k < DSN_GTSRB_CLASSES; ++k) {
        strcat(want, dsn_gtsrb_labels[k]);
        strcat(want, "\n");
    }
    assert_string_equal(shipped, want);
    free(shipped);
}

/* ---- gtsrb ------------------------------------------------------------------------------------ */

static void test_gtsrb_import(void **state)
{
    (void)state;
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    make_gtsrb(dir);
    int rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --out data/gtsrb --seed 3");
    if(rc != 0) fail_msg("dsn import gtsrb failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "172 images in 43 classes"));
    /* 86 tracks, 20% = 17 to test; every class has two: stratified, 26 classes keep both */
    assert_non_null(strstr(out, "seeded by track: seed 3, 20% of 86 tracks to test"));
    int track_split[DSN_GTSRB_CLASSES][TRACKS];
    memset(track_split, 0, sizeof track_split);
    int train = check_gtsrb_list(dir, "data/gtsrb", 0, track_split);
    int test = check_gtsrb_list(dir, "data/gtsrb", 1, track_split);
    assert_int_equal(train, 138);
    assert_int_equal(test, 34);
    for(int k = 0; k < DSN_GTSRB_CLASSES; ++k) {
        int tests = (track_split[k][0] == 2) + (track_split[k][1] == 2);
        assert_true(track_split[k][0] && track_split[k][1]);
        assert_true(tests <= 1);   /* each class keeps a train track */
    }
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/data/gtsrb/labels.txt", dir);
    char *labels = dsn_test_read(path), *shipped = dsn_test_read("cfg/gtsrb.labels");
    assert_non_null(labels);
    assert_string_equal(labels, shipped);
    free(labels);
    free(shipped);
    pathf(path, sizeof path, "%s/data/gtsrb/label-map.txt", dir);
    char *map = dsn_test_read(path);
    assert_non_null(map);
    assert_non_null(strstr(map, "speed020\t0\tSpeed limit (20km/h)\n"));
    assert_non_null(strstr(map, "endtruckpass\t42\tEnd of no passing by vehicles over 3.5 metric tons\n"));
    free(map);

    /* the same import again: found, nothing rewritten; another seed: refused without --force */
    char *before = tree_sums(dir, "data/gtsrb");
    rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --out data/gtsrb --seed 3");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "already holds this import"));
    rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --out data/gtsrb --seed 4");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--force"));
    char *after = tree_sums(dir, "data/gtsrb");
    assert_string_equal(before, after);
    free(after);
    /* a changed tree is another import: the listing's digest is in the key */
    sh("touch -d '2001-01-01' '%s/GTSRB/Final_Training/Images/00004/00001_00000.ppm'", dir);
    rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --out data/gtsrb --seed 3");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "another import"));
    after = tree_sums(dir, "data/gtsrb");
    assert_string_equal(before, after);
    free(after);
    free(before);
    dsn_test_rmtree(dir);
}

static void test_gtsrb_published_test(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    make_gtsrb(dir);
    /* GTSRB_Final_Test_GT.zip's CSV in Final_Test/, the images in Final_Test/Images/ */
    pathf(path, sizeof path, "%s/GTSRB/Final_Test/Images", dir);
    sh("mkdir -p '%s'", path);
    pathf(path, sizeof path, "%s/GTSRB/Final_Test/GT-final_test.csv", dir);
    FILE *csv = fopen(path, "w");
    assert_non_null(csv);
    fprintf(csv, "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n");
    const int cls[5] = {14, 0, 42, 14, 7};
    for(int i = 0; i < 5; ++i) {
        pathf(path, sizeof path, "%s/GTSRB/Final_Test/Images/%05d.ppm", dir, i);
        write_ppm(path, cls[i], 1, 1, ROI + 3, ROI + 1, 2, 0);
        fprintf(csv, "%05d.ppm;%d;%d;2;0;%d;%d;%d\n", i, ROI + 3, ROI + 1, ROI + 1, ROI - 1, cls[i]);
    }
    fclose(csv);
    int rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --seed 1");
    assert_int_equal(rc, 2);   /* the published split has no seed */
    assert_non_null(strstr(out, "--seed"));
    assert_non_null(strstr(out, "GT-final_test.csv"));
    assert_false(exists(dir, "data"));
    rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4");
    if(rc != 0) fail_msg("dsn import gtsrb failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "published test set: Final_Test/GT-final_test.csv"));
    int track_split[DSN_GTSRB_CLASSES][TRACKS];
    memset(track_split, 0, sizeof track_split);
    assert_int_equal(check_gtsrb_list(dir, "data/gtsrb", 0, track_split), 172);
    memset(track_split, 0, sizeof track_split);
    assert_int_equal(check_gtsrb_list(dir, "data/gtsrb", 1, track_split), 5);
    pathf(path, sizeof path, "%s/data/gtsrb/test.list", dir);
    char *list = dsn_test_read(path);
    assert_non_null(list);
    assert_string_equal(list, "data/gtsrb/test/00000_stop.png\ndata/gtsrb/test/00001_speed020.png\n"
                              "data/gtsrb/test/00002_endtruckpass.png\ndata/gtsrb/test/00003_stop.png\n"
                              "data/gtsrb/test/00004_speed100.png\n");
    free(list);
    dsn_test_rmtree(dir);
}

/* One malformed variant of the good tree: a shell edit in GTSRB/, the strings the error must
 * hold (the file, and its line where there is one). */
typedef struct bad_tree {
    const char *edit, *names, *what;
} bad_tree;

static void test_gtsrb_malformed(void **state)
{
    (void)state;
    static const bad_tree cases[] = {
        {"rm Final_Training/Images/00005/GT-00005.csv", "Final_Training/Images/00005/GT-00005.csv", "missing"},
        {"sed -i '3s/;[0-9]*\\r$/\\r/' Final_Training/Images/00003/GT-00003.csv", "GT-00003.csv:3", "7 fields"},
        {"sed -i '2s/^\\([^;]*\\);[0-9]*;/\\1;abc;/' Final_Training/Images/00003/GT-00003.csv", "GT-00003.csv:2",
         "Width 'abc'"},
        {"sed -i '1s/ClassId/Class/' Final_Training/Images/00001/GT-00001.csv", "GT-00001.csv:1", "header"},
        {"sed -i '4s/;12;13;2;3;9;10;/;12;13;2;3;12;10;/' Final_Training/Images/00007/GT-00007.csv",
         "GT-00007.csv:4", "region of interest (2,3)-(12,10) is not inside the 12x13 image"},
        {"sed -i '2s/;0$/;1/;2s/;0\\r$/;1\\r/' Final_Training/Images/00000/GT-00000.csv", "GT-00000.csv:2", "ClassId 1"},
        {"head -1 Final_Training/Images/00009/GT-00009.csv > x && mv x Final_Training/Images/00009/GT-00009.csv",
         "GT-00009.csv", "empty"},
        {"rm Final_Training/Images/00011/00001_00000.ppm", "00011/00001_00000.ppm", "GT-00011.csv:4"},
        {"echo garbage > Final_Training/Images/00012/00000_00001.ppm", "00012/00000_00001.ppm", "GT-00012.csv:3"},
        {"sed -i '2s/;12;12;3;2;/;13;12;3;2;/' Final_Training/Images/00020/GT-00020.csv",
         "00020/00000_00000.ppm: 12x12 pixels, but its row", "GT-00020.csv:2) says 13x12"},
        {"mkdir Final_Training/Images/00043", "Final_Training/Images/00043", "not a GTSRB class"},
        {"rm -r Final_Training/Images/00042", "Final_Training/Images/00042", "missing"},
    };
    char dir[256], out[16384];
    dsn_test_tmpdir(dir, sizeof dir);
    make_gtsrb(dir);
    int rc = run_in(dir, out, sizeof out, "import gtsrb --from GTSRB --size 4 --out data/g");
    if(rc != 0) fail_msg("dsn import gtsrb failed (%d):\n%s", rc, out);
    char *before = tree_sums(dir, "data/g");
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        sh("cd '%s' && rm -rf bad && cp -r GTSRB bad && cd bad && %s", dir, cases[i].edit);
        rc = run_in(dir, out, sizeof out, "import gtsrb --from bad --size 4 --out data/g --force");
        if(rc != 2 || !strstr(out, cases[i].names) || !strstr(out, cases[i].what) || !strstr(out, "dsn: "))
            fail_msg("'%s': exit %d, expected 2 and a message naming '%s' and '%s':\n%s", cases[i].edit, rc,
                     cases[i].names, cases[i].what, out);
        char *after = tree_sums(dir, "data/g");
        assert_string_equal(before, after);   /* the existing import, byte for byte */
        free(after);
        char data[PATH_MAX];
        pathf(data, sizeof data, "%s/data", dir);
        assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s'", data), 0);
        assert_string_equal(out, "g\n");      /* no partial directory left */
    }
    free(before);
    dsn_test_rmtree(dir);
}

/* ---- folders ---------------------------------------------------------------------------------- */

/* dir/<cls>/<name>: w x h, c channels; the centred square flat (v, v+1, v+2), the sides 0. */
static void write_png(const char *dir, const char *cls, const char *name, int w, int h, int c, int v)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", dir, cls);
    sh("mkdir -p '%s'", path);
    pathf(path, sizeof path, "%s/%s/%s", dir, cls, name);
    dsn_image im = {w, h, c, malloc((size_t)w * h * c)};
    assert_non_null(im.data);
    int s = w < h ? w : h, x0 = (w - s) / 2, y0 = (h - s) / 2;
    for(int y = 0; y < h; ++y) {
        for(int x = 0; x < w; ++x) {
            int in = x >= x0 && x < x0 + s && y >= y0 && y < y0 + s;
            for(int k = 0; k < c; ++k) im.data[(y * w + x) * c + k] = (unsigned char)(in ? v + k : 0);
        }
    }
    assert_int_equal(dsn_image_save(&im, path), 0);
    dsn_image_free(&im);
}

static const char *const faces[] = {"Alice", "alice smith", "Bob-Jones", "Zo\xc3\xab Salda\xc3\xb1" "a", "7"};
/* in byte order (digits, upper case, lower case): 7, Alice, Bob-Jones, Zo..., alice smith */
static const char *const face_labels[] = {"k000-7", "k001-alice", "k002-bob_jones", "k003-zo_salda_a",
                                          "k004-alice_smith"};
static const int face_pos[] = {1, 4, 2, 3, 0};   /* faces[i] is class face_pos[i] */
static const int face_n[] = {5, 4, 6, 3, 2};     /* images of faces[i] */
static const int class_n[] = {2, 5, 6, 3, 4};    /* images of class k */

static void make_faces(const char *dir)
{
    for(int i = 0; i < 5; ++i) {
        for(int j = 0; j < face_n[i]; ++j) {
            char name[32];
            snprintf(name, sizeof name, "img%02d.%s", j, j % 2 ? "PNG" : "png");
            /* landscape, portrait, square; grey or colour; each image its own value */
            int w = 6 + (j % 3) * 2, h = 6 + ((j + 1) % 3) * 2;
            write_png(dir, faces[i], name, w, h, j % 2 ? 1 : 3, face_pos[i] * 40 + j * 3);
        }
    }
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/Alice", dir);
    free(dsn_test_write(path, "notes.txt", "not an image\n"));
    free(dsn_test_write(path, ".hidden.png", "hidden: skipped\n"));
    free(dsn_test_write(dir, "README", "a file beside the class folders\n"));
}

/* Checks a folders import at --size 2: every list line carries its own label and no other (the
 * labels' substring rule on the real paths), and its image is the flat square's value. */
static int check_faces_list(const char *root, const char *split, int channels, int *per_class)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/data/faces/%s.list", root, split);
    char *text = dsn_test_read(path);
    assert_non_null(text);
    int lines = 0;
    for(char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n"), ++lines) {
        int cls = -1, hits = 0;
        for(int k = 0; k < 5; ++k) {
            if(strstr(p, face_labels[k])) {
                cls = k;
                ++hits;
            }
        }
        if(hits != 1) fail_msg("%s: %d labels in '%s'", path, hits, p);
        char file[PATH_MAX];
        pathf(file, sizeof file, "%s/%s", root, p);
        int w, h, c;
        unsigned char *px = stbi_load(file, &w, &h, &c, 0);
        assert_non_null(px);
        assert_int_equal(w, 2);
        assert_int_equal(h, 2);
        assert_int_equal(c, channels);
        int v = px[0];
        assert_int_equal(v / 40, cls);
        for(int i = 0; i < 4; ++i) {
            if(channels == 3) {
                /* grey sources are copied to all three channels, colour ones kept */
                int grey = px[1] == px[0];
                for(int k = 0; k < 3; ++k) assert_int_equal(px[i * 3 + k], v + (grey ? 0 : k));
            } else {
                assert_int_equal(px[i], v);   /* stb's luma of (v, v+1, v+2): v */
            }
        }
        stbi_image_free(px);
        ++per_class[cls];
    }
    free(text);
    return lines;
}

static void test_folders_import(void **state)
{
    (void)state;
    char dir[256], out[16384], path[PATH_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    pathf(path, sizeof path, "%s/faces", dir);
    make_faces(path);
    int rc = run_in(dir, out, sizeof out, "import folders --from faces --out data/faces --size 2 "
                                          "--test-percent 25 --seed 9");
    if(rc != 0) fail_msg("dsn import folders failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "20 images in 5 classes"));
    assert_non_null(strstr(out, "skipping faces/Alice/notes.txt"));
    assert_non_null(strstr(out, "seeded: seed 9, 25% of 20 images to test"));
    assert_non_null(strstr(out, "classes=5"));
    /* 25% of 20 = 5 test images, stratified: floor(n*15/20) train per class (1 3 4 2 3), one
     * more for the largest remainders (15/20: class 1; 10/20: classes 0 and 2 tie, 0 first) */
    int train[5] = {0}, test[5] = {0};
    assert_int_equal(check_faces_list(dir, "train", 3, train), 15);
    assert_int_equal(check_faces_list(dir, "test", 3, test), 5);
    const int want_train[5] = {2, 4, 4, 2, 3};
    for(int k = 0; k < 5; ++k) {
        assert_int_equal(train[k], want_train[k]);
        assert_int_equal(train[k] + test[k], class_n[k]);
    }
    for(int i = 0; i < 5; ++i) assert_int_equal(class_n[face_pos[i]], face_n[i]);
    pathf(path, sizeof path, "%s/data/faces/labels.txt", dir);
    char *labels = dsn_test_read(path);
    assert_string_equal(labels, "k000-7\nk001-alice\nk002-bob_jones\nk003-zo_salda_a\nk004-alice_smith\n");
    free(labels);
    pathf(path, sizeof path, "%s/data/faces/label-map.txt", dir);
    char *map = dsn_test_read(path);
    assert_string_equal(map, "# label\tfolder\nk000-7\t7\nk001-alice\tAlice\nk002-bob_jones\tBob-Jones\n"
                             "k003-zo_salda_a\tZo\xc3\xab Salda\xc3\xb1" "a\nk004-alice_smith\talice smith\n");
    free(map);
    /* the same seed, the same split; grey output */
    char *first = tree_sums(dir, "data/faces");
    rc = run_in(dir, out, sizeof out, "import folders --from faces --out data/faces2 --size 2 "
                                      "--test-percent 25 --seed 9");
    assert_int_equal(rc, 0);
    char a[4096], b[4096];   /* the same file names, under another OUT */
    assert_int_equal(dsn_test_run(a, sizeof a, "sed 's|.*/||' '%s/data/faces/test.list'", dir), 0);
    assert_int_equal(dsn_test_run(b, sizeof b, "sed 's|.*/||' '%s/data/faces2/test.list'", dir), 0);
    assert_string_equal(a, b);
    rc = run_in(dir, out, sizeof out, "import folders --from faces --out data/grey --size 2 --channels 1");
    if(rc != 0) fail_msg("dsn import folders --channels 1 failed (%d):\n%s", rc, out);
    /* the sources' luma is stb's (77 R + 150 G + 29 B) >> 8 of (v, v+1, v+2): v + 0 or + 1 */
    pathf(path, sizeof path, "%s/data/grey/train.list", dir);
    char *list = dsn_test_read(path);
    assert_non_null(list);
    for(char *p = strtok(list, "\n"); p; p = strtok(NULL, "\n")) {
        char file[PATH_MAX];
        pathf(file, sizeof file, "%s/%s", dir, p);
        int w, h, c;
        unsigned char *px = stbi_load(file, &w, &h, &c, 0);
        assert_non_null(px);
        assert_int_equal(c, 1);
        for(int i = 1; i < 4; ++i) assert_int_equal(px[i], px[0]);
        assert_int_equal(px[0] % 40 % 3, 0);   /* v = class*40 + 3j, kept exactly */
        stbi_image_free(px);
    }
    free(list);
    char *again = tree_sums(dir, "data/faces");
    assert_string_equal(first, again);
    free(first);
    free(again);
    dsn_test_rmtree(dir);
}

static void test_folders_malformed(void **state)
{
    (void)state;
    static const bad_tree cases[] = {
        {"mkdir empty", "bad/empty", "no images: an empty class"},
        {"echo garbage > Alice/img09.png", "bad/Alice/img09.png", "not an image"},
        {"mkdir -p Alice/more && cp Alice/img00.png Alice/more/", "bad/Alice/more", "a folder inside a class folder"},
        {"rm -r 7 Alice 'alice smith' Bob-Jones", "bad", "1 class folders"},
        {"printf 'P6\\n4 4\\n255\\n' > 7/img00.png", "bad/7/img00.png", "bad/7/img00.png"},
    };
    char dir[256], out[16384], path[PATH_MAX];
    dsn_test_tmpdir(dir, sizeof dir);
    pathf(path, sizeof path, "%s/faces", dir);
    make_faces(path);
    int rc = run_in(dir, out, sizeof out, "import folders --from faces --out data/f --size 2");
    if(rc != 0) fail_msg("dsn import folders failed (%d):\n%s", rc, out);
    char *before = tree_sums(dir, "data/f");
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        sh("cd '%s' && rm -rf bad && cp -r faces bad && cd bad && %s", dir, cases[i].edit);
        rc = run_in(dir, out, sizeof out, "import folders --from bad --size 2 --out data/f --force");
        if(rc != 2 || !strstr(out, cases[i].names) || !strstr(out, cases[i].what) || !strstr(out, "dsn: "))
            fail_msg("'%s': exit %d, expected 2 and a message naming '%s' and '%s':\n%s", cases[i].edit, rc,
                     cases[i].names, cases[i].what, out);
        char *after = tree_sums(dir, "data/f");
        assert_string_equal(before, after);
        free(after);
        pathf(path, sizeof path, "%s/data", dir);
        assert_int_equal(dsn_test_run(out, sizeof out, "ls -A '%s'", path), 0);
        assert_string_equal(out, "f\n");
    }
    /* options: a split that leaves a side empty, a bad size, --train, --channels for gtsrb */
    const struct { const char *args, *says; } opts[] = {
        {"import folders --from faces --test-percent 1 --size 2 --out data/x", "--test-percent 1"},
        {"import folders --from faces --size 0", "--size"},
        {"import folders --from faces --train 10", "--train does not apply to folders"},
        {"import gtsrb --from faces --channels 1", "--channels does not apply to gtsrb"},
        {"import folders", "--from DIR is required"},
        {"import gtsrb --from faces", "Final_Training/Images"},
    };
    for(size_t i = 0; i < sizeof opts / sizeof opts[0]; ++i) {
        rc = run_in(dir, out, sizeof out, "%s", opts[i].args);
        if(rc != 2 || !strstr(out, opts[i].says))
            fail_msg("'%s': exit %d, expected 2 and '%s':\n%s", opts[i].args, rc, opts[i].says, out);
    }
    char *after = tree_sums(dir, "data/f");
    assert_string_equal(before, after);
    free(after);
    free(before);
    assert_false(exists(dir, "data/x"));
    dsn_test_rmtree(dir);
}

static int setup(void **state)
{
    (void)state;
    dsn_bin = dsn_test_dsn_bin();
    return dsn_bin ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample),          cmocka_unit_test(test_gtsrb_labels),
        cmocka_unit_test(test_gtsrb_import),      cmocka_unit_test(test_gtsrb_published_test),
        cmocka_unit_test(test_gtsrb_malformed),   cmocka_unit_test(test_folders_import),
        cmocka_unit_test(test_folders_malformed),
    };
    return cmocka_run_group_tests_name("import_tree", tests, setup, NULL);
}
