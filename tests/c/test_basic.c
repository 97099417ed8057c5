/* The C API end to end: zones, the three kinds, iteration, stats, two processes, read-only
 * attach, fresh start, release versus close. */
#include "check.h"
#include <stdint.h>
#include <sys/wait.h>

#define NAME(s) (s), strlen(s)

static void counters_and_gauges(void) {
    shm_zone *z = NULL;
    CHECK_OK(shm_zone_open("basic", 1 << 20, SHM_OPEN_CREATE, &z));
    shm_counter *c = NULL, *c2 = NULL;
    CHECK_OK(shm_counter_open(z, NAME("requests_total"), &c));
    CHECK_OK(shm_counter_open(z, NAME("requests_total"), &c2));
    shm_counter_inc(c, 5);
    shm_counter_dec(c2, 2);
    EXPECT(shm_counter_count(c) == 3);
    EXPECT(shm_counter_slot(c) == shm_counter_slot(c2));
    EXPECT(((uintptr_t)shm_counter_slot(c) & 63) == 0); /* documented: cache-line aligned */
    __atomic_fetch_add(shm_counter_slot(c), 10, __ATOMIC_RELAXED); /* the binding fast path */
    EXPECT(shm_counter_count(c2) == 13);
    shm_counter_clear(c);
    EXPECT(shm_counter_count(c) == 0);

    shm_gauge *g = NULL;
    CHECK_OK(shm_gauge_open(z, NAME("queue_depth"), &g));
    shm_gauge_update(g, -42);
    EXPECT(shm_gauge_value(g) == -42);

    shm_gauge_f64 *f = NULL;
    CHECK_OK(shm_gauge_f64_open(z, NAME("temperature"), &f));
    shm_gauge_f64_update(f, 1.5);
    shm_gauge_f64_add(f, 0.25);
    EXPECT(shm_gauge_f64_value(f) == 1.75);

    shm_gauge *wrong = NULL;
    EXPECT_STATUS(shm_gauge_open(z, NAME("requests_total"), &wrong), SHM_ERR_KIND_MISMATCH);
    EXPECT(wrong == NULL); /* out-params are written only on success */

    uint32_t cursor = 0, seen = 0;
    shm_metric_info info;
    shm_status st;
    while ((st = shm_zone_next(z, &cursor, &info)) == SHM_OK) {
        seen++;
        EXPECT(strlen(info.name) == info.name_len);
        if (strcmp(info.name, "queue_depth") == 0) EXPECT(info.kind == SHM_KIND_GAUGE && info.value_i64 == -42);
        if (strcmp(info.name, "temperature") == 0) EXPECT(info.kind == SHM_KIND_GAUGE_F64 && info.value_f64 == 1.75);
    }
    EXPECT(st == SHM_DONE && seen == 3);

    shm_stats s;
    CHECK_OK(shm_zone_stats(z, &s));
    EXPECT(s.used == 3 && s.free == s.capacity - 3 && s.attached == 1 && s.failed_registrations == 1);
    EXPECT(s.name_max == SHM_NAME_MAX && s.version_major == 1);
    CHECK_OK(shm_zone_verify(z));

    /* Release unregisters once every holder released; close keeps the metric. */
    CHECK_OK(shm_counter_release(c));
    CHECK_OK(shm_counter_release(c2));
    CHECK_OK(shm_gauge_close(g));
    CHECK_OK(shm_gauge_f64_release(f));
    CHECK_OK(shm_zone_stats(z, &s));
    EXPECT(s.used == 1);
    CHECK_OK(shm_zone_close(z));
}

static void two_processes_share_values(void) {
    enum { CHILDREN = 4, PER_CHILD = 100000 };
    shm_zone *z = NULL;
    CHECK_OK(shm_zone_open("procs", 1 << 20, SHM_OPEN_CREATE, &z));
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* Each child opens the zone itself, as an unrelated process would. */
            shm_zone *cz = NULL;
            shm_counter *c = NULL;
            if (shm_zone_open("procs", 0, 0, &cz) != SHM_OK) _exit(10);
            if (shm_counter_open(cz, NAME("shared_total"), &c) != SHM_OK) _exit(11);
            for (int k = 0; k < PER_CHILD; k++) shm_counter_inc(c, 1);
            shm_counter_close(c);
            shm_zone_close(cz);
            _exit(0);
        }
        EXPECT(pid > 0);
    }
    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        EXPECT(wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    shm_counter *c = NULL;
    CHECK_OK(shm_counter_open(z, NAME("shared_total"), &c));
    EXPECT(shm_counter_count(c) == (int64_t)CHILDREN * PER_CHILD);

    /* A forked child may use inherited handles directly, and register through the inherited zone. */
    pid_t pid = fork();
    if (pid == 0) {
        shm_counter_inc(c, 7);
        shm_gauge *g = NULL;
        if (shm_gauge_open(z, NAME("child_gauge"), &g) != SHM_OK) _exit(12);
        shm_gauge_update(g, 99);
        shm_stats s;
        if (shm_zone_stats(z, &s) != SHM_OK || s.attached != 2) _exit(13);
        _exit(0);
    }
    int status = 0;
    EXPECT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT(shm_counter_count(c) == (int64_t)CHILDREN * PER_CHILD + 7);
    shm_gauge *g = NULL;
    CHECK_OK(shm_gauge_open(z, NAME("child_gauge"), &g));
    EXPECT(shm_gauge_value(g) == 99);
    shm_stats s;
    CHECK_OK(shm_zone_stats(z, &s));
    EXPECT(s.attached == 1); /* the children's attach slots died with them */
    CHECK_OK(shm_zone_verify(z));
    shm_gauge_close(g);
    shm_counter_close(c);
    CHECK_OK(shm_zone_close(z));
}

static void readonly_fresh_exclusive(void) {
    char path[300];
    zone_file("shmmetrics-ro", path, sizeof path);
    shm_zone *w = NULL, *r = NULL, *x = NULL;
    EXPECT_STATUS(shm_zone_open("ro", 0, SHM_OPEN_READONLY, &r), SHM_ERR_NOT_FOUND);
    CHECK_OK(shm_zone_open("ro", 64 << 10, SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE, &w));
    EXPECT(access(path, F_OK) == 0);
    EXPECT_STATUS(shm_zone_open("ro", 64 << 10, SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE, &x), SHM_ERR_EXISTS);
    shm_counter *c = NULL, *rc = NULL;
    CHECK_OK(shm_counter_open(w, NAME("hits"), &c));
    shm_counter_inc(c, 3);

    CHECK_OK(shm_zone_open("ro", 0, SHM_OPEN_READONLY, &r));
    EXPECT_STATUS(shm_counter_open(r, NAME("hits"), &rc), SHM_ERR_READ_ONLY);
    uint32_t cursor = 0;
    shm_metric_info info;
    CHECK_OK(shm_zone_next(r, &cursor, &info));
    EXPECT(strcmp(info.name, "hits") == 0 && info.value_i64 == 3);
    shm_stats s;
    CHECK_OK(shm_zone_stats(r, &s));
    EXPECT(s.attached == 1 && s.used == 1); /* monitors are not counted */
    CHECK_OK(shm_zone_verify(r));

    /* Start fresh: new attachers see an empty zone; the old attachment keeps its own. */
    CHECK_OK(shm_zone_open("ro", 64 << 10, SHM_OPEN_FRESH, &x));
    CHECK_OK(shm_zone_stats(x, &s));
    EXPECT(s.used == 0);
    shm_counter_inc(c, 1);
    EXPECT(shm_counter_count(c) == 4);
    CHECK_OK(shm_zone_close(x));
    CHECK_OK(shm_zone_close(r));
    shm_counter_close(c);
    CHECK_OK(shm_zone_close(w));

    /* Remove on close: the file goes with its last attached process. */
    CHECK_OK(shm_zone_open("ro", 0, SHM_OPEN_REMOVE_ON_CLOSE, &w));
    CHECK_OK(shm_zone_open("ro", 0, 0, &x));
    CHECK_OK(shm_zone_close(w));
    EXPECT(access(path, F_OK) == 0); /* x is still attached */
    CHECK_OK(shm_zone_open("ro", 0, SHM_OPEN_REMOVE_ON_CLOSE, &w));
    CHECK_OK(shm_zone_close(x));
    CHECK_OK(shm_zone_close(w));
    EXPECT(access(path, F_OK) != 0);
}

int main(void) {
    test_dir_init("basic");
    EXPECT(shm_abi_version() == ((SHM_ABI_VERSION_MAJOR << 16) | SHM_ABI_VERSION_MINOR));
    counters_and_gauges();
    two_processes_share_values();
    readonly_fresh_exclusive();
    return passed("test_basic");
}
