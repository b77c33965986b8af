/* dsn_eval_subsets.c: per-subset accuracies for `dsn eval --subsets` (see dsn_eval_subsets.h).
 * The run itself is dsn_eval_run's; this only groups its per-image results. */
#include "dsn_eval_subsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dsn_eval_subsets_free(dsn_eval_subsets *s)
{
    if(s->names) {
        for(int i = 0; i <= s->n; ++i) free(s->names[i]);
    }
    free(s->names);
    free(s->of);
    free(s->images);
    free(s->teacher);
    free(s->valid);
    free(s->raw);
    memset(s, 0, sizeof *s);
}

static int name_ok(const char *w, size_t len)
{
    if(len < 1 || len > 64) return 0;
    for(size_t i = 0; i < len; ++i) {
        char c = w[i];
        if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return 0;
    }
    return 1;
}

static int parse_spec(dsn_eval_subsets *s, const char *spec, char *err, size_t errlen)
{
    int n = 1;
    for(const char *p = spec; *p; ++p) n += *p == ',';
    if(n > DSN_EVAL_SUBSETS_MAX) {
        snprintf(err, errlen, "--subsets: %d subsets, at most %d", n, DSN_EVAL_SUBSETS_MAX);
        return -1;
    }
    if(!(s->names = calloc((size_t)n + 1, sizeof *s->names))) goto oom;
    for(const char *p = spec;; ++p) {
        size_t len = strcspn(p, ",");
        if(!name_ok(p, len)) {
            snprintf(err, errlen, "--subsets %s: '%.*s' is not a subset name (1..64 letters, digits or '-')", spec,
                     (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        for(int i = 0; i < s->n; ++i) {
            if(strlen(s->names[i]) == len && memcmp(s->names[i], p, len) == 0) {
                snprintf(err, errlen, "--subsets %s: '%s' is named twice", spec, s->names[i]);
                return -1;
            }
        }
        if(!(s->names[s->n] = strndup(p, len))) goto oom;
        ++s->n;
        p += len;
        if(!*p) break;
    }
    if(!(s->names[s->n] = strdup("(none)"))) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "--subsets: out of memory");
    return -1;
}

/* The subset of one path: the name equal to a word of its file name; s->n for none, -1 for two. */
static int subset_of(const dsn_eval_subsets *s, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int found = s->n;
    for(const char *w = base; *w;) {
        size_t len = strcspn(w, "_.");
        for(int i = 0; i < s->n; ++i) {
            if(strlen(s->names[i]) == len && memcmp(s->names[i], w, len) == 0 && i != found) {
                if(found != s->n) return -1;
                found = i;
            }
        }
        w += len;
        if(*w) ++w;
    }
    return found;
}

int dsn_eval_subsets_group(dsn_eval_subsets *s, const char *spec, char *const *paths, int n, char *err,
                           size_t errlen)
{
    memset(s, 0, sizeof *s);
    if(parse_spec(s, spec, err, errlen) != 0) goto fail;
    s->n_images = n;
    s->of = calloc((size_t)(n ? n : 1), sizeof *s->of);
    s->images = calloc((size_t)s->n + 1, sizeof *s->images);
    s->teacher = calloc((size_t)s->n + 1, sizeof *s->teacher);
    s->valid = calloc((size_t)s->n + 1, sizeof *s->valid);
    s->raw = calloc((size_t)s->n + 1, sizeof *s->raw);
    if(!s->of || !s->images || !s->teacher || !s->valid || !s->raw) {
        snprintf(err, errlen, "--subsets: out of memory");
        goto fail;
    }
    for(int i = 0; i < n; ++i) {
        if((s->of[i] = subset_of(s, paths[i])) < 0) {
            snprintf(err, errlen, "--subsets %s: %s names two subsets", spec, paths[i]);
            goto fail;
        }
        ++s->images[s->of[i]];
    }
    return 0;
fail:
    dsn_eval_subsets_free(s);
    return -1;
}

void dsn_eval_subsets_tally(dsn_eval_subsets *s, const dsn_eval_result *r)
{
    s->has_teacher = r->has_teacher && r->teacher_ok;
    for(int t = 0; t <= s->n; ++t) {
        long kt = 0, kv = 0, kr = 0;
        for(int i = 0; i < s->n_images && i < r->n_images; ++i) {
            if(s->of[i] != t) continue;
            kt += s->has_teacher && r->teacher_ok[i];
            kv += r->valid_ok[i];
            kr += r->raw_ok[i];
        }
        s->teacher[t] = dsn_eval_wilson(kt, s->has_teacher ? s->images[t] : 0);
        s->valid[t] = dsn_eval_wilson(kv, s->images[t]);
        s->raw[t] = dsn_eval_wilson(kr, s->images[t]);
    }
}

char *dsn_eval_subsets_markdown(const dsn_eval_subsets *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if(!f) return NULL;
    fprintf(f, "\nBy subset (the word in each image's file name; %% with 95%% CI):\n\n"
               "| subset | images | teacher | valid serial | valid - teacher | no serial |\n"
               "|---|---:|---:|---:|---:|---:|\n");
    for(int t = 0; t <= s->n; ++t) {
        if(t == s->n && s->images[t] == 0) break;
        fprintf(f, "| %s | %ld | ", s->names[t], s->images[t]);
        if(!s->images[t]) {
            fprintf(f, "- | - | - | - |\n");
            continue;
        }
        if(s->has_teacher) fprintf(f, "%.2f (%.2f - %.2f) | ", s->teacher[t].acc, s->teacher[t].lo, s->teacher[t].hi);
        else fprintf(f, "- | ");
        fprintf(f, "%.2f (%.2f - %.2f) | ", s->valid[t].acc, s->valid[t].lo, s->valid[t].hi);
        if(s->has_teacher) fprintf(f, "%+.2f | ", s->valid[t].acc - s->teacher[t].acc);
        else fprintf(f, "- | ");
        fprintf(f, "%.2f (%.2f - %.2f) |\n", s->raw[t].acc, s->raw[t].lo, s->raw[t].hi);
    }
    if(fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* acc and its interval, or nulls */
static int put_acc(json_t *o, const char *key, const dsn_eval_acc *a, int present)
{
    char k[64];
    snprintf(k, sizeof k, "%s_ci95", key);
    json_t *ci = present ? json_pack("[ff]", a->lo, a->hi) : json_null();
    return json_object_set_new(o, key, present ? json_real(a->acc) : json_null()) | json_object_set_new(o, k, ci);
}

json_t *dsn_eval_subsets_json(const dsn_eval_subsets *s)
{
    json_t *all = json_object();
    int bad = !all;
    for(int t = 0; t <= s->n && !bad; ++t) {
        if(t == s->n && s->images[t] == 0) break;
        const int some = s->images[t] > 0, teach = s->has_teacher && some;
        json_t *o = json_object();
        bad |= !o || json_object_set_new(o, "images", json_integer(s->images[t]));
        bad |= !o || put_acc(o, "teacher", &s->teacher[t], teach);
        bad |= !o || put_acc(o, "valid", &s->valid[t], some);
        bad |= !o || json_object_set_new(o, "valid_minus_teacher",
                                         teach ? json_real(s->valid[t].acc - s->teacher[t].acc) : json_null());
        bad |= !o || put_acc(o, "raw", &s->raw[t], some);
        bad |= json_object_set_new(all, s->names[t], o);
    }
    if(bad) {
        json_decref(all);
        return NULL;
    }
    return all;
}

char *dsn_eval_subsets_splice(const char *json_text, const json_t *obj)
{
    const char *end = strrchr(json_text, '}');
    if(!end) return NULL;
    char *dump = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if(!dump) return NULL;
    /* the object up to its closing brace (and the line break before it), then the key, with the
     * dump indented one level */
    size_t keep = (size_t)(end - json_text);
    while(keep > 0 && (json_text[keep - 1] == '\n' || json_text[keep - 1] == ' ')) --keep;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if(f) {
        fprintf(f, "%.*s,\n  \"subsets\": ", (int)keep, json_text);
        for(const char *p = dump; *p; ++p) {
            if(*p == '\n') fputs("\n  ", f);
            else fputc(*p, f);
        }
        fputs("\n}\n", f);
        if(fclose(f) != 0) {
            free(text);
            text = NULL;
        }
    }
    free(dump);
    return text;
}
