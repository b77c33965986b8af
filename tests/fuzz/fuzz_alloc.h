/* fuzz_alloc.h: forced into every Darknet and layers/ source of the cfg fuzzer (clang -include),
 * and only there. It routes their allocations and FILEs through a registry (fuzz_alloc.c) so that
 * the fuzzer can free everything a parse allocated when a fatal error ends it with longjmp
 * (darknet_fatal_hook) instead of exit: without it every refused cfg would leak, and a 60 s run
 * would leak gigabytes. The system headers are included first, so their declarations keep the
 * real names; the macros only rename the calls in the code that follows. */
#ifndef FUZZ_ALLOC_H
#define FUZZ_ALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *fz_malloc(size_t n);
void *fz_calloc(size_t n, size_t m);
void *fz_realloc(void *p, size_t n);
void fz_free(void *p);
char *fz_strdup(const char *s);
FILE *fz_fopen(const char *path, const char *mode);
int fz_fclose(FILE *f);

#define malloc(n) fz_malloc(n)
#define calloc(n, m) fz_calloc(n, m)
#define realloc(p, n) fz_realloc(p, n)
#define free(p) fz_free(p)
#define strdup(s) fz_strdup(s)
#define fopen(p, m) fz_fopen(p, m)
#define fclose(f) fz_fclose(f)

#endif
