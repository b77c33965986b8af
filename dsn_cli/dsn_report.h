/* dsn_report.h: what `dsn report` reads: runs (an eval JSON, optionally wrapped in a run
 * manifest that adds training times and logs) and Darknet training logs.
 *
 *     dsn_run r;  char err[512];
 *     if(dsn_run_load(&r, "build/demo/mnist/seed0/run_alice.json", err, sizeof err) != 0) ...
 *     r.value[DSN_M_VALID], r.has[DSN_M_VALID], r.cross_name[i], r.cross[i], r.train_log, ...
 *     dsn_run_free(&r);
 *
 *     dsn_curve c;
 *     if(dsn_curve_load(&c, "build/demo/mnist/seed0/student_alice.log", err, sizeof err) != 0) ...
 *     c.iter[i], c.avg_loss[i]  (Darknet's iteration lines);  c.dsn[i].kd, .push, .gd (our lines)
 *     dsn_curve_free(&c);
 *
 * A run manifest (JSON; every field but "eval" optional; paths relative to the current directory,
 * as in Darknet's .data files):
 *
 *     {"dsn_run": 1, "eval": "seed0/eval_alice.json", "dataset": "mnist", "seed": 0,
 *      "customer": "alice", "train_wall_seconds": 812.5, "train_log": "seed0/student_alice.log",
 *      "teacher_wall_seconds": 301, "teacher_log": "seed0/teacher.log"}
 *
 * dataset, seed and customer default to the eval JSON's "dataset", "seeds"."eval" and "customer".
 * An eval JSON given directly is a run without training times or logs. */
#ifndef DSN_REPORT_H
#define DSN_REPORT_H

#include <stddef.h>

/* The measures a report aggregates, in table order. */
typedef enum {
    DSN_M_TEACHER, DSN_M_VALID, DSN_M_RAW, DSN_M_RAW_BALANCED, DSN_M_FORGED_MEAN, DSN_M_FORGED_MAX, DSN_M_H1, DSN_M_H1_MAX,
    DSN_M_H2, DSN_M_H2_MAX, DSN_M_H4, DSN_M_H4_MAX, DSN_M_SWAP_MAX, DSN_M_CROSS, DSN_M_COUNT
} dsn_metric;

typedef struct dsn_metric_info {
    const char *key;      /* in eval and report JSON: "forged_mean"; DSN_M_CROSS: mean of "cross" */
    const char *label;    /* in tables: "forged serials, mean"                                  */
    double mnist_anchor;  /* the paper's MNIST figure, or -1                                   */
} dsn_metric_info;
extern const dsn_metric_info dsn_metrics[DSN_M_COUNT];

typedef struct dsn_run {
    char *source;                 /* the file named on the command line                */
    char *eval_path;              /* the eval JSON                                      */
    char *dataset, *customer, *model;
    long seed;
    double value[DSN_M_COUNT];    /* percent                                            */
    double lo[DSN_M_COUNT], hi[DSN_M_COUNT];   /* 95% interval, when has_ci              */
    int has[DSN_M_COUNT], has_ci[DSN_M_COUNT];
    int n_bits;
    double *per_bit;              /* [n_bits] hamming_1_per_bit                        */
    int grid_columns;             /* the stamp grid's columns; 0: unknown (square)     */
    int n_cross;
    char **cross_name;            /* [n_cross] other customers                          */
    double *cross;                /* [n_cross] accuracy with their serials              */
    int n_images, classes;        /* 0: unknown                                        */
    double eval_seconds, train_seconds, teacher_seconds;   /* -1: unknown               */
    char *train_log, *teacher_log;                          /* NULL: none               */
} dsn_run;

/* Reads a manifest or an eval JSON. Returns 0, or -1 with err naming the file and the field. */
int dsn_run_load(dsn_run *r, const char *path, char *err, size_t errlen);
void dsn_run_free(dsn_run *r);

/* ---- training logs ----------------------------------------------------------------------- */

typedef struct dsn_log_dsn {
    double kd, hard, push, gd, gd_acc, lambda;
    int has_kd, has_gd, has_lambda;
} dsn_log_dsn;

typedef struct dsn_curve {
    int n;                      /* Darknet lines "N, E: loss, avg avg, rate rate, s seconds, k images" */
    long *iter;                 /* [n]                                                        */
    double *loss, *avg_loss;    /* [n]                                                        */
    int n_dsn;                  /* our lines "dsn: rows ... | G_y kd .. | G_d ce .. acc .."    */
    dsn_log_dsn *dsn;           /* [n_dsn], in file order                                      */
} dsn_curve;

/* Parses one line into c (ignoring anything else). Returns 1 for a Darknet iteration line, 2 for
 * a dsn line, 0 otherwise, -1 out of memory. Non-finite losses are skipped. */
int dsn_curve_add_line(dsn_curve *c, const char *line);
/* Reads a whole log. Returns 0, or -1 with err naming the file. */
int dsn_curve_load(dsn_curve *c, const char *path, char *err, size_t errlen);
void dsn_curve_free(dsn_curve *c);

/* ---- statistics over seeds --------------------------------------------------------------- */

typedef struct dsn_spread {
    int n;
    double mean, sd, min, max;  /* sd: sample standard deviation (0 when n < 2) */
} dsn_spread;

dsn_spread dsn_spread_of(const double *v, int n);

#endif
