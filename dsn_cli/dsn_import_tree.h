/* dsn_import_tree.h: image trees a user brings, for `dsn import gtsrb` and `dsn import folders`.
 *
 *     dsn_tree t;  char err[1024];
 *     dsn_tree_opts o = {32, 3, 20, 0};                 // size, channels, test %, seed
 *     if(dsn_gtsrb_scan(&t, "GTSRB", &o, err, sizeof err) != 0) die(err);   // or dsn_folders_scan
 *     dsn_layout lay = {"data/gtsrb", (const char *const *)t.labels, t.classes, key, 0, t.map};
 *     if(dsn_layout_write(&lay, &t.d, err, sizeof err) != 0) die(err);      // decodes each image
 *     dsn_tree_free(&t);
 *
 * A scan reads the tree's folders and CSV files and checks every row, but decodes no image: it
 * fills t.d (a fetch data set: labels, splits) and the labels, the label map and a digest of the
 * listing. Images are decoded, cropped and resized one at a time while the layout is written
 * (dsn_import.c builds it in a partial directory, so a bad image leaves OUT as it was).
 *
 * GTSRB (the published "GTSRB_Final_Training_Images" layout, DIR holding Final_Training/):
 *     DIR/Final_Training/Images/000NN/GT-000NN.csv     one per class, NN = 00..42
 *     DIR/Final_Training/Images/000NN/TTTTT_IIIII.ppm  T: the track (one physical sign), I: frame
 *     CSV: "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId", one image a row; the
 *     region of interest is inclusive (X2 is the last column of the sign's box).
 * Each image is cut to its region of interest and resized to size x size. The test set is the
 * published one when GT-final_test.csv (with ClassId; from GTSRB_Final_Test_GT.zip) is found in
 * DIR/Final_Test/Images/, DIR/Final_Test/ or DIR, its images in DIR/Final_Test/Images/; otherwise
 * a seeded split of the training tracks, stratified by class (whole tracks: the 30 frames of one
 * sign never straddle train and test). Labels are short sign names (dsn_gtsrb_labels).
 *
 * Folders (any one-folder-per-class tree, e.g. faces):
 *     DIR/<class>/<image>   png, jpg/jpeg, ppm/pgm/pnm, bmp, tga, gif (by extension, any case)
 * Classes in byte order of their folder names; hidden entries skipped; other files reported and
 * skipped; a folder inside a class folder is an error. Each image's centred square is resized to
 * size x size; the split is seeded and stratified by class. Labels are "kNNN-<name>": the class
 * index, then the folder name in lower-case letters, digits and '_' (at most 32). No label is a
 * substring of another, nor occurs in another class's image path: each holds one '-', whose
 * neighbours "kNNN" differ between classes. OUT/label-map.txt maps labels to folder names. */
#ifndef DSN_IMPORT_TREE_H
#define DSN_IMPORT_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "dsn_import.h"

#define DSN_GTSRB_CLASSES 43

/* GTSRB's class names, as labels (ClassId order) and as published (for the label map) */
extern const char *const dsn_gtsrb_labels[DSN_GTSRB_CLASSES];
extern const char *const dsn_gtsrb_names[DSN_GTSRB_CLASSES];

typedef struct dsn_tree_opts {
    int size;          /* images are written size x size                                  */
    int channels;      /* 1 or 3                                                          */
    int test_percent;  /* seeded split: share of test images (gtsrb: of tracks), 1..99    */
    int seed;          /* seeded split                                                    */
} dsn_tree_opts;

typedef struct dsn_tree_item {
    char *path;        /* the image file                                                   */
    char *where;       /* "CSV:line" of its row, or NULL                                   */
    int w, h;          /* its size as the CSV gives it; 0: not given                       */
    int x1, y1, x2, y2;/* region of interest, inclusive; x2 < 0: the centred square        */
} dsn_tree_item;

typedef struct dsn_tree {
    dsn_dataset d;     /* a fetch data set (d.src is this tree: do not move a scanned tree) */
    dsn_tree_item *item;   /* [d.n] */
    int classes;
    char **labels;     /* [classes] */
    char *map;         /* the text of OUT/label-map.txt */
    char split[160];   /* how the split was made, for the import's key */
    char digest[65];   /* SHA-256 of the listing: file names, sizes, times, CSV texts */
    int skipped;       /* files that are not images (folders) */
} dsn_tree;

/* Scan DIR (see the top of this file). Returns 0, or -1 with err naming the file (and line) and
 * what is wrong; t is then empty (dsn_tree_free is still allowed). */
int dsn_gtsrb_scan(dsn_tree *t, const char *dir, const dsn_tree_opts *o, char *err, size_t errlen);
int dsn_folders_scan(dsn_tree *t, const char *dir, const dsn_tree_opts *o, char *err, size_t errlen);

void dsn_tree_free(dsn_tree *t);

/* Resizes the w x h region at (x0, y0) of src (a row of sw pixels of c bytes) to dst, dw x dh:
 * area averaging along an axis that shrinks, bilinear (pixel centres) along one that grows; an
 * axis of the same size is copied. Returns 0, or -1 when out of memory. */
int dsn_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int x0, int y0, int w,
                 int h, int c);

#endif
