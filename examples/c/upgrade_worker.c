/* One generation of a server in the hot-upgrade demo (examples/demo/hot_upgrade.sh).
 *
 *   upgrade_worker ZONE_PATH VERSION
 *
 * Counts "requests" into upgrade_requests_total (one atomic add each) and holds 1 in the
 * gauge upgrade_workers while it runs, so an overlap of two generations shows as 2. Prints
 * "ready" once registered; on SIGTERM it stops, prints how many requests it added and exits
 * without releasing the counter: the next generation, already attached, keeps counting. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmmetrics.h"

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: %s ZONE_PATH VERSION\n", argv[0]), 2;
    signal(SIGTERM, on_term);
    shm_zone *zone = NULL;
    shm_counter *requests = NULL;
    shm_gauge *workers = NULL;
    const char *rname = "upgrade_requests_total", *wname = "upgrade_workers";
    if (shm_zone_open_path(argv[1], 1 << 20, SHM_OPEN_CREATE, 0, &zone) != SHM_OK ||
        shm_counter_open(zone, rname, strlen(rname), &requests) != SHM_OK ||
        shm_gauge_open(zone, wname, strlen(wname), &workers) != SHM_OK)
        return fprintf(stderr, "%s: %s\n", argv[2], shm_last_error()), 1;
    shm_gauge_add(workers, 1);
    printf("ready\n");
    fflush(stdout);
    long long added = 0;
    const struct timespec pause = {0, 200 * 1000}; /* ~5,000 requests a second */
    while (!stop) {
        shm_counter_inc(requests, 1);
        added++;
        nanosleep(&pause, NULL);
    }
    shm_gauge_add(workers, -1);
    printf("%lld\n", added);
    shm_counter_close(requests); /* close, not release: the counter stays for the next generation */
    shm_gauge_close(workers);
    return shm_zone_close(zone) == SHM_OK ? 0 : 1;
}
