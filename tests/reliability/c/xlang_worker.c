/* Reliability suite, issue 4 item 2: a C process that increments the same counters and updates
 * the same gauges as Rust and Python processes (tests/reliability_xlang.rs drives it).
 *
 *   xlang_worker ZONE_PATH ID N GATE_PATH
 *
 * Registers xl_total, xl_by_c, xl_gauge, xl_f64; creates GATE_PATH.ready.ID; waits for
 * GATE_PATH to exist (all workers start together); then N times: xl_total += 1, xl_by_c += 1,
 * and every 64th time xl_gauge = (ID << 40) | (i / 64) and xl_f64 += 0.25. Prints what it did:
 *   done incs=N f64adds=M last_gauge=G                                                        */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmmetrics.h"

#define CHECK(call)                                                                              \
    do {                                                                                         \
        shm_status st_ = (call);                                                                 \
        if (st_ != SHM_OK) {                                                                     \
            fprintf(stderr, "%s: %s (%s)\n", #call, shm_status_str(st_), shm_last_error());     \
            exit(2);                                                                             \
        }                                                                                        \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ZONE_PATH ID N GATE_PATH\n", argv[0]);
        return 2;
    }
    const char *zone_path = argv[1];
    long long id = atoll(argv[2]);
    long long n = atoll(argv[3]);
    const char *gate = argv[4];

    shm_zone *zone = NULL;
    CHECK(shm_zone_open_path(zone_path, 0, 0, 0, &zone));
    shm_counter *total = NULL, *mine = NULL;
    shm_gauge *gauge = NULL;
    shm_gauge_f64 *f64 = NULL;
    CHECK(shm_counter_open(zone, "xl_total", strlen("xl_total"), &total));
    CHECK(shm_counter_open(zone, "xl_by_c", strlen("xl_by_c"), &mine));
    CHECK(shm_gauge_open(zone, "xl_gauge", strlen("xl_gauge"), &gauge));
    CHECK(shm_gauge_f64_open(zone, "xl_f64", strlen("xl_f64"), &f64));

    char ready[4096];
    snprintf(ready, sizeof ready, "%s.ready.%lld", gate, id);
    FILE *r = fopen(ready, "w");
    if (!r) return perror(ready), 2;
    fclose(r);
    for (int waited = 0; access(gate, F_OK) != 0; waited++) {
        if (waited > 60000) return fprintf(stderr, "gate never opened\n"), 3;
        sleep_ms(1);
    }

    long long f64adds = 0, last_gauge = 0;
    for (long long i = 1; i <= n; i++) {
        shm_counter_inc(total, 1);
        shm_counter_inc(mine, 1);
        if (i % 64 == 0) {
            last_gauge = (id << 40) | (i / 64);
            shm_gauge_update(gauge, last_gauge);
            shm_gauge_f64_add(f64, 0.25);
            f64adds++;
        }
    }
    printf("done incs=%lld f64adds=%lld last_gauge=%lld\n", n, f64adds, last_gauge);
    /* close, not release: the parent holds these too, but a worker must never free them. */
    shm_counter_close(total);
    shm_counter_close(mine);
    shm_gauge_close(gauge);
    shm_gauge_f64_close(f64);
    CHECK(shm_zone_close(zone));
    return 0;
}
