/* fuzz_alloc.c: the allocation and FILE registry of the cfg fuzzer (see fuzz_alloc.h).
 *
 * Every live block and open FILE of the code built with fuzz_alloc.h is in an open-addressing
 * table; fz_release_all() frees and closes what is left after a parse, whether it ended normally
 * (Darknet's own leaks: free_network does not free everything) or by longjmp out of a fatal
 * error. A single block over FZ_BLOCK_MAX or more than FZ_TOTAL_MAX live bytes counts as "out of
 * memory": a legal but enormous cfg (a 40000x40000 input) would otherwise trip libFuzzer's
 * malloc limit, which is not the bug class this target hunts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "darknet.h"

#define FZ_SLOTS (1u << 16)
#define FZ_BLOCK_MAX ((size_t)64 << 20)
#define FZ_TOTAL_MAX ((size_t)512 << 20)

typedef struct { void *p; size_t n; int file; } fz_slot;
static fz_slot *slots;
static size_t live_bytes, occupied;   /* occupied: slots not empty, tombstones included */
static void *const tomb = (void *)1;

static size_t hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (FZ_SLOTS - 1);
}

static void too_big(size_t n)
{
    darknet_fatal("fuzz: allocation of %zu bytes refused (over the fuzzer's memory cap)", n);
}

static void add(void *p, size_t n, int file)
{
    if(!slots) slots = calloc(FZ_SLOTS, sizeof *slots);
    if(occupied >= FZ_SLOTS / 4 * 3) {
        if(file) fclose(p);
        else free(p);
        darknet_fatal("fuzz: more than %u live allocations (over the fuzzer's cap)", FZ_SLOTS / 4 * 3);
    }
    size_t i = hash(p);
    while(slots[i].p && slots[i].p != tomb) i = (i + 1) & (FZ_SLOTS - 1);
    if(!slots[i].p) ++occupied;
    slots[i] = (fz_slot){p, n, file};
    live_bytes += n;
}

/* removes p; 0 when it was not in the table (allocated elsewhere) */
static int del(void *p)
{
    if(!slots || !p) return 0;
    size_t i = hash(p);
    while(slots[i].p) {
        if(slots[i].p == p) {
            live_bytes -= slots[i].n;
            slots[i].p = tomb;
            return 1;
        }
        i = (i + 1) & (FZ_SLOTS - 1);
    }
    return 0;
}

static void check(size_t n)
{
    if(n > FZ_BLOCK_MAX || live_bytes + n > FZ_TOTAL_MAX) too_big(n);
}

void *fz_malloc(size_t n)
{
    check(n);
    void *p = malloc(n ? n : 1);
    if(p) add(p, n, 0);
    return p;
}

void *fz_calloc(size_t n, size_t m)
{
    if(m && n > FZ_BLOCK_MAX / m) too_big(n * m);
    check(n * m);
    void *p = calloc(n ? n : 1, m ? m : 1);
    if(p) add(p, n * m, 0);
    return p;
}

void *fz_realloc(void *old, size_t n)
{
    check(n);
    del(old);
    void *p = realloc(old, n ? n : 1);
    if(p) add(p, n, 0);
    return p;
}

void fz_free(void *p)
{
    del(p);
    free(p);
}

char *fz_strdup(const char *s)
{
    char *p = fz_malloc(strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

FILE *fz_fopen(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if(f) add(f, 0, 1);
    return f;
}

int fz_fclose(FILE *f)
{
    del(f);
    return fclose(f);
}

void fz_release_all(void)
{
    if(!slots) return;
    for(size_t i = 0; i < FZ_SLOTS; ++i) {
        if(!slots[i].p || slots[i].p == tomb) continue;
        if(slots[i].file) fclose(slots[i].p);
        else free(slots[i].p);
    }
    memset(slots, 0, FZ_SLOTS * sizeof *slots);
    live_bytes = 0;
    occupied = 0;
}
