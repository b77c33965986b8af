/* dsn_eval_subsets.h: `dsn eval --subsets`: the teacher's and the customer model's accuracy on
 * each subset of a test set, the subset named by a word in each image's file name.
 *
 *     dsn_eval_subsets s;  char err[512];
 *     if(dsn_eval_subsets_group(&s, "rotate,shift,thick", d.paths, d.n, err, sizeof err) != 0) ...
 *     ... dsn_eval_run(&r, &o, &d, ...) ...
 *     dsn_eval_subsets_tally(&s, &r);
 *     char *md = dsn_eval_subsets_markdown(&s);         // a table, after dsn_eval_markdown's
 *     json_t *j = dsn_eval_subsets_json(&s);            // {"rotate": {"images": .., "teacher": ..}}
 *     char *all = dsn_eval_subsets_splice(json_text, j); // dsn_eval_json's object + "subsets": j
 *     dsn_eval_subsets_free(&s);
 *
 * An image belongs to the subset whose name is one of the words of its file name, the words being
 * what '_' and '.' separate: data/mnist-shift/test/00012_rotate_seven.png is in "rotate" (the
 * folders never count, so data/mnist-shift/ is not in "shift"). An image with no subset's word is
 * counted apart (the "(none)" row); one with two is an error. */
#ifndef DSN_EVAL_SUBSETS_H
#define DSN_EVAL_SUBSETS_H

#include <jansson.h>
#include <stddef.h>

#include "dsn_eval.h"

#define DSN_EVAL_SUBSETS_MAX 64

typedef struct dsn_eval_subsets {
    int n;                   /* subsets named                                           */
    char **names;            /* [n + 1]: names[n] is "(none)"                            */
    int n_images;
    int *of;                 /* [n_images] subset of each image, n for none              */
    int has_teacher;         /* set by tally                                            */
    long *images;            /* [n + 1] images per subset                               */
    dsn_eval_acc *teacher, *valid, *raw;   /* [n + 1], filled by tally                  */
} dsn_eval_subsets;

/* Parses spec ("a,b,c": words of 1..64 letters, digits or '-', distinct, at most
 * DSN_EVAL_SUBSETS_MAX) and assigns every path a subset. Returns 0, or -1 with err naming the
 * subset or the path (s is then freed). */
int dsn_eval_subsets_group(dsn_eval_subsets *s, const char *spec, char *const *paths, int n, char *err,
                           size_t errlen);
/* Accuracies per subset from r's per-image results (r must come from the same images). */
void dsn_eval_subsets_tally(dsn_eval_subsets *s, const dsn_eval_result *r);
/* A markdown table: subset, images, teacher, valid serial, valid - teacher, no serial. A malloc'd
 * string (the caller frees it), NULL when out of memory. */
char *dsn_eval_subsets_markdown(const dsn_eval_subsets *s);
/* {"<subset>": {"images": n, "teacher": acc|null, "teacher_ci95": [lo, hi]|null, "valid": ..,
 * "valid_ci95": .., "valid_minus_teacher": ..|null, "raw": .., "raw_ci95": ..}, ...} in percent,
 * "(none)" last when some images are in no subset. New reference (json_decref), NULL if no memory. */
json_t *dsn_eval_subsets_json(const dsn_eval_subsets *s);
/* json_text (one JSON object, dsn_eval_json's output) with "subsets": obj added as its last key,
 * as a malloc'd string (the caller frees it); NULL when json_text holds no '}' or memory runs out.
 * (Until dsn_eval_json builds a json_t itself: then json_object_set(root, "subsets", obj).) */
char *dsn_eval_subsets_splice(const char *json_text, const json_t *obj);
void dsn_eval_subsets_free(dsn_eval_subsets *s);

#endif
