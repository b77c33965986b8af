/* Numerics against stock Darknet: the speed work (OpenBLAS, OpenMP, -march, the patches) may
 * reorder sums but must not change the arithmetic. tests/numerics_probe.c, built against this
 * build ($DSN_BUILD/tests/numerics_probe) and against stock Darknet with only the build fixes
 * ($DSN_STOCK_BUILD/tests/numerics_probe, default build/stock), trains the MNIST teacher for 10
 * SGD steps from the same state; every step's loss and weight checksums must agree to 1e-4
 * relative, and the loss must move (a probe that trains nothing would agree trivially). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dsn_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 10
#define RTOL 1e-4

typedef struct probe_run {
    int steps;
    double loss[STEPS], sum[STEPS], sumsq[STEPS], sumabs[STEPS], moved[STEPS];
} probe_run;

static const char *stock_dir(void)
{
    const char *s = getenv("DSN_STOCK_BUILD");
    return s && *s ? s : "build/stock";
}

/* OpenBLAS on one thread: Darknet's own threads are OpenMP's, and two spinning thread pools on
 * two cores are the study's worst case (the stock probe does not call OpenBLAS at all). */
static void run_probe(const char *dir, int threads, probe_run *p)
{
    char out[8192];
    int rc = dsn_test_run(out, sizeof out, "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=1 %s/tests/numerics_probe cfg/mnist_teacher.cfg",
                          threads, dir);
    if(rc != 0) fail_msg("%s/tests/numerics_probe failed (%d):\n%s", dir, rc, out);
    memset(p, 0, sizeof *p);
    const char *line = out;
    while(line && *line){
        int s;
        double l, a, b, c, m;
        if(sscanf(line, "step %d loss %lf sum %lf sumsq %lf sumabs %lf moved %lf", &s, &l, &a, &b, &c, &m) == 6
           && s >= 1 && s <= STEPS){
            p->loss[s - 1] = l; p->sum[s - 1] = a; p->sumsq[s - 1] = b; p->sumabs[s - 1] = c; p->moved[s - 1] = m;
            if(s > p->steps) p->steps = s;
        }
        line = strchr(line, '\n');
        if(line) ++line;
    }
    if(p->steps != STEPS) fail_msg("%s/tests/numerics_probe printed %d of %d steps:\n%s", dir, p->steps, STEPS, out);
}

static int close_rel(double a, double b, double scale)
{
    return fabs(a - b) <= RTOL*scale;
}

/* Step for step: loss, sumsq, sumabs and the distance moved to RTOL of themselves; the signed
 * sum to RTOL of sumabs (a small difference of large terms: its own size says nothing about
 * rounding). The distance moved is the sharp one: the sums barely change in 10 steps. */
static void assert_same(const probe_run *a, const char *na, const probe_run *b, const char *nb)
{
    int s;
    for(s = 0; s < STEPS; ++s){
        print_message("  step %2d loss %.7f / %.7f  moved %.7f / %.7f\n", s + 1, a->loss[s], b->loss[s], a->moved[s], b->moved[s]);
        if(!close_rel(a->loss[s], b->loss[s], fabs(b->loss[s])) ||
           !close_rel(a->moved[s], b->moved[s], b->moved[s]) ||
           !close_rel(a->sumsq[s], b->sumsq[s], b->sumsq[s]) ||
           !close_rel(a->sumabs[s], b->sumabs[s], b->sumabs[s]) ||
           !close_rel(a->sum[s], b->sum[s], b->sumabs[s]))
            fail_msg("step %d: %s loss %.9g moved %.9g sum %.9g sumsq %.9g sumabs %.9g,"
                     " %s loss %.9g moved %.9g sum %.9g sumsq %.9g sumabs %.9g",
                     s + 1, na, a->loss[s], a->moved[s], a->sum[s], a->sumsq[s], a->sumabs[s],
                     nb, b->loss[s], b->moved[s], b->sum[s], b->sumsq[s], b->sumabs[s]);
    }
}

static void test_fast_matches_stock(void **state)
{
    (void)state;
    probe_run fast, stock;
    run_probe(dsn_test_build_dir(), 2, &fast);
    run_probe(stock_dir(), 2, &stock);
    /* the net must learn over the steps, or agreement proves nothing */
    print_message("  stock: loss %.6f -> %.6f, weights moved %.6f -> %.6f over %d steps\n",
                  stock.loss[0], stock.loss[STEPS - 1], stock.moved[0], stock.moved[STEPS - 1], STEPS);
    assert_true(stock.loss[STEPS - 1] < 0.9*stock.loss[0]);
    assert_true(stock.moved[0] > 0 && stock.moved[STEPS - 1] > 4*stock.moved[0]);
    assert_same(&fast, "this build", &stock, "stock");
}

static void test_threads_agree(void **state)
{
    (void)state;
    probe_run one, two;
    run_probe(dsn_test_build_dir(), 1, &one);
    run_probe(dsn_test_build_dir(), 2, &two);
    assert_same(&one, "1 thread", &two, "2 threads");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_matches_stock),
        cmocka_unit_test(test_threads_agree),
    };
    return cmocka_run_group_tests_name("numerics", tests, NULL, NULL);
}
