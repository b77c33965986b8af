/* bench_util.h: what make bench (bench/bench.c) and the numerics probe (tests/numerics_probe.c)
 * share. Compiled against this build's Darknet and against stock Darknet (-DDSN_STOCK), so it
 * uses only the API both have.
 *
 *   char dir[256];  bench_tmpdir(dir, sizeof dir);
 *   const char *set[] = {"teacher_weights", "/tmp/t.weights", NULL};
 *   char *cfg = bench_cfg_write(dir, "student.cfg", "cfg/mnist_student.cfg", 500, set);
 *   network *net = parse_network_cfg(cfg);                 // 500 images per pass
 *   bench_rng r = {1};
 *   data d = bench_data(&r, net->batch, net->inputs, net->truths);
 *   ...  bench_data_free(d);  free(cfg);  bench_rmtree(dir);
 *
 * Every function exits with a message naming the file on an I/O error: these are tools, and a
 * half-written cfg must never be measured. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include "darknet.h"

#include <stddef.h>
#include <stdint.h>

/* splitmix64: one stream for everything synthetic, independent of Darknet's rand(). */
typedef struct bench_rng { uint64_t s; } bench_rng;
uint64_t bench_rng_next(bench_rng *r);
float bench_rng_uniform(bench_rng *r);               /* [0, 1), 24 bits                  */
int bench_rng_below(bench_rng *r, int n);            /* [0, n)                           */

/* A fresh mkdtemp directory under $TMPDIR (default /tmp). */
void bench_tmpdir(char *out, size_t len);
/* Removes the files directly inside dir, then dir (no subdirectories are made here). */
void bench_rmtree(const char *dir);

/* Copies the cfg `src` to dir/name with batch=`batch` and subdivisions=1 in its [net] section
 * (batch <= 0: unchanged) and, in any section, each `key=` line whose key is named in `set`
 * (key, value pairs, NULL-terminated; may be NULL) replaced by key=value. Returns the malloc'ed
 * path (caller frees). */
char *bench_cfg_write(const char *dir, const char *name, const char *src, int batch, const char *const *set);

/* `rows` images of `inputs` uniform [0,1) pixels and one-hot labels over `classes`, drawn from r.
 * X's rows lie in one contiguous block (X.vals[0] is the whole batch, as network_predict wants).
 * Free with bench_data_free. */
data bench_data(bench_rng *r, int rows, int inputs, int classes);
void bench_data_free(data d);

/* Seconds on the monotonic clock. */
double bench_now(void);

#endif
