/* dsn_fleet.c: what the fleet verbs share: the plan, item paths and states, JSON files. */
#include "dsn_fleet.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn_util.h"

int dsn_fleet_name_ok(const char *name)
{
    size_t n = strlen(name);
    if(n == 0 || n > DSN_FLEET_NAME_MAX || name[0] == '.') return 0;
    for(size_t i = 0; i < n; ++i) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if(!ok) return 0;
    }
    return 1;
}

void dsn_fleet_path(char *out, size_t len, const dsn_fleet *f, const char *fmt, ...)
{
    char tail[DSN_FLEET_PATH];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    if(n < 0 || (size_t)n >= sizeof tail || (size_t)snprintf(out, len, "%s/%s", f->dir, tail) >= len)
        dsn_die("fleet: path too long under %s", f->dir);
}

void dsn_fleet_pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if(n < 0 || (size_t)n >= len) dsn_die("fleet: path too long: %s...", out);
}

char *dsn_fleet_json_text(const json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    if(!text) return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if(!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}

int dsn_fleet_write_json(const char *path, const json_t *j)
{
    char *text = dsn_fleet_json_text(j);
    if(!text) {
        dsn_error("fleet: cannot format %s (out of memory)", path);
        return -1;
    }
    int rc = dsn_write_file(path, text, strlen(text), 0644, DSN_WRITE_REPLACE);
    free(text);
    return rc;
}

json_t *dsn_fleet_read_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if(!j) {
        dsn_error("%s:%d: %s", path, e.line, e.text);
        return NULL;
    }
    if(!json_is_object(j)) {
        dsn_error("%s: not a JSON object", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

void dsn_fleet_catch_stops(void (*handler)(int))
{
    dsn_util_catch(handler, 0);
}

int dsn_fleet_self(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if(n <= 0 || (size_t)n >= len - 1) {
        dsn_error("fleet: cannot find the path of this program (/proc/self/exe): %s", strerror(errno));
        return -1;
    }
    out[n] = '\0';
    return 0;
}

int dsn_fleet_open(dsn_fleet *f, const char *dir)
{
    memset(f, 0, sizeof *f);
    char path[DSN_FLEET_PATH + 16];
    if(!realpath(dir, f->dir)) {
        dsn_error("fleet: %s: %s (dsn fleet plan writes a fleet directory)", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/fleet.json", f->dir);
    if(!(f->plan = dsn_fleet_read_json(path))) return -1;
    json_t *names = json_object_get(f->plan, "customers");
    if(json_integer_value(json_object_get(f->plan, "dsn_fleet")) != DSN_FLEET_VERSION || !json_is_array(names)) {
        dsn_error("%s: not a version %d fleet plan (no \"dsn_fleet\": %d and \"customers\")", path,
                  DSN_FLEET_VERSION, DSN_FLEET_VERSION);
        dsn_fleet_close(f);
        return -1;
    }
    f->n = (int)json_array_size(names);
    f->names = calloc((size_t)f->n + 1, sizeof *f->names);
    if(!f->names) dsn_die("out of memory");
    for(int i = 0; i < f->n; ++i) {
        f->names[i] = json_string_value(json_array_get(names, (size_t)i));
        if(!f->names[i] || !dsn_fleet_name_ok(f->names[i])) {
            dsn_error("%s: customers[%d] is not an item name", path, i);
            dsn_fleet_close(f);
            return -1;
        }
    }
    return 0;
}

void dsn_fleet_close(dsn_fleet *f)
{
    json_decref(f->plan);
    free(f->names);
    f->plan = NULL;
    f->names = NULL;
    f->n = 0;
}

int dsn_fleet_find(const dsn_fleet *f, const char *name)
{
    for(int i = 0; i < f->n; ++i)
        if(strcmp(f->names[i], name) == 0) return i;
    return -1;
}

dsn_fleet_state dsn_fleet_state_of(const dsn_fleet *f, const char *name)
{
    char path[DSN_FLEET_PATH];
    struct stat st;
    dsn_fleet_path(path, sizeof path, f, "out/%s", name);
    if(stat(path, &st) == 0) return DSN_FLEET_DONE;
    dsn_fleet_path(path, sizeof path, f, "failed/%s.json", name);
    if(stat(path, &st) == 0) return DSN_FLEET_FAILED;
    return DSN_FLEET_PENDING;
}
