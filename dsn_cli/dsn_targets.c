/* dsn_targets.c: the lock's per-model targets over a set of models (dsn_targets.h). */
#include "dsn_targets.h"

#include <stdio.h>
#include <stdlib.h>

#include "dsn_util.h"

static const char *const keys[DSN_TARGETS] = {"valid", "raw", "forged_max", "cross_max", "hamming_1_max", "hamming_2_max"};

static double limit_of(int k, const dsn_lock_limits *l)
{
    const double v[DSN_TARGETS] = {l->drop, l->raw, l->forged, l->forged, l->h1, l->h2};
    return v[k];
}

int dsn_target_excess(const dsn_target_model *m, int k, const dsn_lock_limits *l, double *x)
{
    if(!m->has[k] || (k == DSN_TARGET_VALID && !m->has_teacher)) return -1;
    *x = k == DSN_TARGET_VALID ? m->teacher - l->drop - m->v[k] : m->v[k] - limit_of(k, l);
    return 0;
}

double dsn_targets_score(const dsn_target_model *m, const dsn_lock_limits *l, const char **worst)
{
    static const int order[DSN_TARGETS] = {DSN_TARGET_RAW, DSN_TARGET_FORGED, DSN_TARGET_CROSS, DSN_TARGET_H1,
                                           DSN_TARGET_H2, DSN_TARGET_VALID};
    int k = -1;
    double missed = 0, most = 0, x;
    for(int i = 0; i < DSN_TARGETS; ++i) {
        if(dsn_target_excess(m, order[i], l, &x) != 0) continue;
        if(k < 0 || x > most) {
            k = order[i];
            most = x;
        }
        if(x > 0) missed += x;
    }
    if(worst) *worst = k < 0 ? "none" : keys[k];
    return missed > 0 ? missed : most;
}

json_t *dsn_targets_json(const dsn_target_model *m, int n, const dsn_lock_limits *l)
{
    json_t *limits = json_object(), *each = json_object(), *all = json_array();
    for(int k = 0; k < DSN_TARGETS; ++k) {
        json_t *missed = json_array();
        int met = 0, of = 0;
        double x;
        for(int i = 0; i < n; ++i) {
            if(dsn_target_excess(&m[i], k, l, &x) != 0) continue;
            ++of;
            if(x <= 0) ++met;
            else json_array_append_new(missed, json_pack("{s:s, s:f}", "name", m[i].name, "value", m[i].v[k]));
        }
        json_object_set_new(limits, keys[k], json_real(limit_of(k, l)));
        json_object_set_new(each, keys[k], json_pack("{s:i, s:i, s:o}", "met", met, "of", of, "missed", missed));
    }
    for(int i = 0; i < n; ++i) {
        int ok = 1;
        double x;
        for(int k = 0; k < DSN_TARGETS && ok; ++k) ok = dsn_target_excess(&m[i], k, l, &x) != 0 || x <= 0;
        if(ok) json_array_append_new(all, json_string(m[i].name));
    }
    json_t *j = json_pack("{s:o, s:i, s:i, s:o, s:o}", "limits", limits, "evaluated", n, "met_all",
                          (int)json_array_size(all), "met_all_names", all, "each", each);
    if(!j) dsn_die("out of memory");
    return j;
}

char *dsn_targets_md(const json_t *t)
{
    static const char *const titles[DSN_TARGETS] = {
        "valid serial at most %g below the teacher", "no serial <= %g", "forged max <= %g",
        "other customers' serials <= %g", "Hamming 1 max <= %g", "Hamming 2 max <= %g"};
    dsn_buf b = {0};
    json_t *name, *miss;
    size_t i;
    dsn_buf_printf(&b, "Every target met by **%d of %d** models", (int)json_integer_value(json_object_get(t, "met_all")),
                   (int)json_integer_value(json_object_get(t, "evaluated")));
    json_array_foreach(json_object_get(t, "met_all_names"), i, name)
        dsn_buf_printf(&b, "%s%s", i ? ", " : ": ", json_string_value(name));
    dsn_buf_printf(&b, ".\n\n| target | met | missed by |\n|---|---:|---|\n");
    for(int k = 0; k < DSN_TARGETS; ++k) {
        json_t *e = json_object_get(json_object_get(t, "each"), keys[k]);
        char title[96];
        snprintf(title, sizeof title, titles[k], json_number_value(json_object_get(json_object_get(t, "limits"), keys[k])));
        dsn_buf_printf(&b, "| %s | %d of %d |", title, (int)json_integer_value(json_object_get(e, "met")),
                       (int)json_integer_value(json_object_get(e, "of")));
        json_array_foreach(json_object_get(e, "missed"), i, miss)
            dsn_buf_printf(&b, "%s %s %.2f", i ? "," : "", json_string_value(json_object_get(miss, "name")),
                           json_number_value(json_object_get(miss, "value")));
        dsn_buf_printf(&b, " |\n");
    }
    if(b.oom) dsn_die("out of memory");
    return b.s;
}
