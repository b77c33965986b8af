/* dsn_targets.h: the lock's per-model targets (issue #11), counted over a set of models: how many
 * meet each, who misses it by how much, who meets them all. dsn fleet report and dsn report.
 *
 *     dsn_target_model m[N];   // name, teacher, v[DSN_TARGET_*], has[...] per model
 *     dsn_lock_limits l = DSN_LOCK_LIMITS_DEFAULT;
 *     json_t *t = dsn_targets_json(m, N, &l);
 *     char *md = dsn_targets_md(t);
 *
 * The targets: the valid serial at most l.drop below the teacher; no serial <= l.raw; the best
 * forged serial and the best other customer's serial <= l.forged; the best single-bit neighbour
 * <= l.h1; the best serial two bits away <= l.h2. A value on a limit meets it. A model without a
 * measure (no teacher, no other customer tried) is not counted for that target. */
#ifndef DSN_TARGETS_H
#define DSN_TARGETS_H

#include <jansson.h>

#include "dsn_eval.h"

enum { DSN_TARGET_VALID, DSN_TARGET_RAW, DSN_TARGET_FORGED, DSN_TARGET_CROSS, DSN_TARGET_H1, DSN_TARGET_H2, DSN_TARGETS };

typedef struct dsn_target_model {
    const char *name;             /* "alice", "seed 0 bob"                           */
    double teacher;               /* the teacher's accuracy, when has_teacher         */
    double v[DSN_TARGETS];        /* valid, raw, forged max, others max, H1 max, H2 max */
    int has_teacher, has[DSN_TARGETS];
} dsn_target_model;

/* How far model m misses target k in points (<= 0: met). 0, or -1 when m lacks the measure (no
 * teacher for the valid serial's target, no other customer tried): not counted then. */
int dsn_target_excess(const dsn_target_model *m, int k, const dsn_lock_limits *l, double *x);

/* One number for how far m misses its targets: the sum of the positive excesses (every missed
 * target counts), or, when every target is met, the largest excess (<= 0: the margin left); so a
 * model that meets them all scores below any that misses one. *worst (when not NULL): the key of
 * the largest excess (the first in the order raw, forged_max, cross_max, hamming_1_max,
 * hamming_2_max, valid on ties). dsn select's score (dsn_eval_lock_score). */
double dsn_targets_score(const dsn_target_model *m, const dsn_lock_limits *l, const char **worst);

/* {"limits": {key: limit}, "evaluated": n, "met_all": k, "met_all_names": [...],
 *  "each": {key: {"met", "of", "missed": [{"name", "value"}]}}}; keys: valid, raw, forged_max,
 * cross_max, hamming_1_max, hamming_2_max. */
json_t *dsn_targets_json(const dsn_target_model *m, int n, const dsn_lock_limits *l);

/* The Markdown of dsn_targets_json's object (its limits included): a sentence and a table (malloc'd). */
char *dsn_targets_md(const json_t *targets);

#endif
