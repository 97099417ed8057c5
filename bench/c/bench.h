/* Helpers shared by the C benchmarks (bench/c/): clocks, memory figures from /proc, metric
 * names, zones sized for a number of metrics, and failing loudly. Every benchmark prints
 * `RESULT <key> <value>` lines that bench/run.py turns into the table of docs/BENCHMARKS.md. */
#ifndef SHMMETRICS_BENCH_H
#define SHMMETRICS_BENCH_H

#define _GNU_SOURCE

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "shmmetrics.h"

/* Keeps the compiler from merging, hoisting or deleting memory operations across it: the
 * measured loop and its baseline both carry one per iteration, so they have the same shape. */
#define BARRIER() __asm__ volatile("" ::: "memory")
#define NOINLINE __attribute__((noinline))

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* CPU time of this process (user + system), nanoseconds. */
static inline uint64_t cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void die(const char *what, const char *detail) {
    fprintf(stderr, "bench: %s: %s\n", what, detail);
    exit(2);
}

static inline void check_status(shm_status s, const char *what, const shm_error *err) {
    if (s == SHM_OK) return;
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s", shm_status_str(s), err && err->message_len ? err->message : shm_last_error());
    die(what, msg);
}

/* A field of /proc/self/status in KiB ("VmRSS", "RssShmem", ...), -1 if absent. */
static inline long proc_status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The name of metric `i`: labelled like a real application's, 40-50 bytes. Both MOSN's
 * worker (bench/mosn/main.go) and ours use exactly this format. */
static inline size_t metric_name(char *buf, size_t cap, uint64_t i) {
    int n = snprintf(buf, cap, "app_requests_total{route=\"/api/v1/item/%llu\",code=\"200\"}", (unsigned long long)i);
    return (size_t)n;
}

/* The k-th of n indexes in a fixed scattered order (a permutation of 0..n-1: 2654435761 is a
 * prime larger than any n used here), so lookups do not walk memory in registration order. */
static inline uint64_t scattered(uint64_t k, uint64_t n) { return (k % n) * 2654435761u % n; }

/* Opens (creating, replacing any old file) a zone at `path` that holds at least `metrics`. */
static inline shm_zone *zone_for(const char *path, uint64_t metrics, uint32_t extra_flags) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    o.flags = SHM_OPEN_CREATE | SHM_OPEN_FRESH | extra_flags;
    /* 516 bytes a metric with the default writer slots (docs/FORMAT.md), plus the header,
     * writer slots and page rounding; grown until the library says it fits. */
    o.size = metrics * 520 + (64u << 10);
    for (;;) {
        shm_zone *z;
        shm_error err;
        check_status(shm_zone_open_file(path, &o, &z, &err), "open zone", &err);
        shm_info info;
        check_status(shm_zone_info(z, &info, &err), "zone info", &err);
        if (info.capacity >= metrics) return z;
        shm_zone_close(z);
        o.size += o.size / 8;
    }
}

/* Registers counters 0..n-1 of metric_name() in `z` and closes their handles: the zone keeps
 * them, held by this attachment until it closes, then as orphans that stay. */
static inline void fill_counters(shm_zone *z, uint64_t first, uint64_t n) {
    char name[128];
    for (uint64_t i = first; i < first + n; i++) {
        size_t len = metric_name(name, sizeof name, i);
        shm_counter *c;
        check_status(shm_counter_open(z, name, len, &c), "register", NULL);
        shm_slot_add(shm_counter_slot(c), (int64_t)i);
        shm_counter_close(c);
    }
}

static inline int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline uint64_t median_u64(uint64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_u64);
    return n ? v[n / 2] : 0;
}

#endif
