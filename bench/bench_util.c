/* Shared by bench/bench.c and tests/numerics_probe.c; see bench_util.h. */
#include "bench_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *path)
{
    fprintf(stderr, "bench: %s %s failed\n", what, path);
    perror("bench");
    exit(2);
}

uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30))*0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27))*0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float bench_rng_uniform(bench_rng *r)
{
    return (float)(bench_rng_next(r) >> 40)*(1.0f/16777216.0f);
}

int bench_rng_below(bench_rng *r, int n)
{
    return (int)(bench_rng_next(r) % (uint64_t)n);
}

void bench_tmpdir(char *out, size_t len)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, len, "%s/dsn-bench-XXXXXX", t && *t ? t : "/tmp");
    if(!mkdtemp(out)) die("mkdtemp", out);
}

void bench_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    if(!d) return;
    while((e = readdir(d))){
        if(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* The key of a "key=value" line (leading blanks skipped) into key[len]; 0 when not such a line. */
static int line_key(const char *line, char *key, size_t len)
{
    size_t n = 0;
    while(*line == ' ' || *line == '\t') ++line;
    while(line[n] && line[n] != '=' && line[n] != ' ' && line[n] != '\t' && line[n] != '\n') ++n;
    if(n == 0 || n >= len) return 0;
    const char *eq = line + n;
    while(*eq == ' ' || *eq == '\t') ++eq;
    if(*eq != '=') return 0;
    memcpy(key, line, n);
    key[n] = 0;
    return 1;
}

char *bench_cfg_write(const char *dir, const char *name, const char *src, int batch, const char *const *set)
{
    size_t plen = strlen(dir) + strlen(name) + 2;
    char *path = malloc(plen);
    snprintf(path, plen, "%s/%s", dir, name);
    FILE *in = fopen(src, "r");
    if(!in) die("reading", src);
    FILE *out = fopen(path, "w");
    if(!out) die("writing", path);
    char line[4096], key[256];
    int in_net = 0;
    while(fgets(line, sizeof line, in)){
        const char *p = line;
        while(*p == ' ' || *p == '\t') ++p;
        if(*p == '['){
            in_net = !strncmp(p, "[net]", 5) || !strncmp(p, "[network]", 9);
            if(in_net && batch > 0) fprintf(out, "%sbatch=%d\nsubdivisions=1\n", line, batch);
            else fputs(line, out);
            continue;
        }
        if(line_key(line, key, sizeof key)){
            if(in_net && batch > 0 && (!strcmp(key, "batch") || !strcmp(key, "subdivisions"))) continue;
            const char *const *s;
            for(s = set; s && s[0]; s += 2) if(!strcmp(key, s[0])) break;
            if(s && s[0]){
                fprintf(out, "%s=%s\n", s[0], s[1]);
                continue;
            }
        }
        fputs(line, out);
    }
    if(ferror(in)) die("reading", src);
    fclose(in);
    if(fclose(out) != 0) die("writing", path);
    return path;
}

data bench_data(bench_rng *r, int rows, int inputs, int classes)
{
    data d = {0};
    int i, j;
    d.X.rows = d.y.rows = rows;
    d.X.cols = inputs;
    d.y.cols = classes;
    d.X.vals = calloc(rows, sizeof(float *));
    d.y.vals = calloc(rows, sizeof(float *));
    float *x = malloc((size_t)rows*inputs*sizeof(float));
    float *y = calloc((size_t)rows*classes, sizeof(float));
    if(!d.X.vals || !d.y.vals || !x || !y){
        fprintf(stderr, "bench: out of memory for %d x %d synthetic images\n", rows, inputs);
        exit(2);
    }
    for(i = 0; i < rows; ++i){
        d.X.vals[i] = x + (size_t)i*inputs;
        d.y.vals[i] = y + (size_t)i*classes;
        for(j = 0; j < inputs; ++j) d.X.vals[i][j] = bench_rng_uniform(r);
        d.y.vals[i][bench_rng_below(r, classes)] = 1;
    }
    return d;
}

void bench_data_free(data d)
{
    if(d.X.vals) free(d.X.vals[0]);
    if(d.y.vals) free(d.y.vals[0]);
    free(d.X.vals);
    free(d.y.vals);
}

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9*t.tv_nsec;
}
