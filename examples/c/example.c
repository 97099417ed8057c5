/* shmmetrics C example: two processes count into one zone, then everything is read back.
 *
 *   c_example [ZONE_PATH]      (default: zone "example" in $SHMMETRICS_DIR or /dev/shm)
 *
 * Each of two processes adds 1000 to example_requests_total; the parent then sets two gauges
 * and prints every metric in the zone. Run it twice: the counter keeps counting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmmetrics.h"

#define CHECK(call)                                                                              \
    do {                                                                                         \
        shm_status st_ = (call);                                                                 \
        if (st_ != SHM_OK) {                                                                     \
            fprintf(stderr, "%s: %s (%s)\n", #call, shm_status_str(st_), shm_last_error());     \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static shm_zone *open_zone(const char *path) {
    shm_zone *zone = NULL;
    if (path)
        CHECK(shm_zone_open_path(path, 1 << 20, SHM_OPEN_CREATE, 0, &zone));
    else
        CHECK(shm_zone_open("example", 1 << 20, SHM_OPEN_CREATE, &zone));
    return zone;
}

static void count_requests(const char *path, int n) {
    shm_zone *zone = open_zone(path);
    shm_counter *requests = NULL;
    const char *name = "example_requests_total";
    CHECK(shm_counter_open(zone, name, strlen(name), &requests));
    for (int i = 0; i < n; i++) shm_counter_inc(requests, 1); /* one atomic add each */
    shm_zone_close(zone);      /* handles stay valid after the zone is closed */
    shm_counter_close(requests); /* frees the handle; the counter stays for the next process */
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : NULL;

    pid_t child = fork();
    if (child < 0) return perror("fork"), 1;
    if (child == 0) {
        count_requests(path, 1000);
        _exit(0);
    }
    shm_zone *zone = open_zone(path);
    shm_counter *requests = NULL;
    const char *name = "example_requests_total";
    CHECK(shm_counter_open(zone, name, strlen(name), &requests)); /* hold it while the child runs */
    for (int i = 0; i < 1000; i++) shm_counter_inc(requests, 1);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fprintf(stderr, "child failed\n"), 1;

    shm_gauge *workers = NULL;
    shm_gauge_f64 *temperature = NULL;
    CHECK(shm_gauge_open(zone, "example_workers", strlen("example_workers"), &workers));
    CHECK(shm_gauge_f64_open(zone, "example_temperature_celsius", strlen("example_temperature_celsius"), &temperature));
    shm_gauge_update(workers, 2);
    shm_gauge_f64_update(temperature, 21.5);

    uint32_t cursor = 0;
    shm_metric_info info;
    shm_status st;
    while ((st = shm_zone_next(zone, &cursor, &info)) == SHM_OK) {
        if (info.kind == SHM_KIND_GAUGE_F64)
            printf("%-40s gauge_f64 %g\n", info.name, info.value_f64);
        else
            printf("%-40s %-9s %lld\n", info.name, info.kind == SHM_KIND_COUNTER ? "counter" : "gauge",
                   (long long)info.value_i64);
    }
    if (st != SHM_DONE) return fprintf(stderr, "iteration: %s\n", shm_status_str(st)), 1;

    shm_stats stats;
    CHECK(shm_zone_stats(zone, &stats));
    printf("zone: %u/%u entries used, %u attached\n", stats.used, stats.capacity, stats.attached);

    /* _close keeps the metrics in the zone (run again: the counter goes on from here);
     * _release would unregister them. */
    shm_counter_close(requests);
    shm_gauge_close(workers);
    shm_gauge_f64_close(temperature);
    CHECK(shm_zone_close(zone));
    return 0;
}
