/* Registration through the public C API, as a worker that bench/run.py drives in turn with
 * MOSN's (bench/mosn/main.go) so both are measured moments apart (issue 9, registration rows).
 *
 *   bench_register DIR METRICS CAPACITY
 *
 * Creates DIR/register.zone with room for CAPACITY metrics, registers counters 0..METRICS-1 of
 * metric_name() (this attachment holds them; their handles are closed), opens a second
 * attachment of the same zone, prints "ready", then answers one line per command on stdin:
 *
 *   existing B   shm_counter_open + shm_counter_close of B held names (scattered order):
 *                ns per open+close, then ns per open alone
 *   held_ref B   shm_zone_register of B held names (what the Go binding calls): ns per call
 *   new B        shm_counter_open of B names never seen before: ns per open; in batches of
 *                METRICS/10, each released (untimed) before the next, so the zone holds
 *                METRICS to METRICS * 1.1 metrics throughout
 *   join B       shm_counter_open of B names through the second attachment, which does not
 *                hold them (a name another process registered): ns per open; then (untimed)
 *                releases them, so the next round joins again
 *   quit
 *
 * Times are CPU time of the process (CLOCK_PROCESS_CPUTIME_ID), as in MOSN's worker: on a
 * shared machine a measurement is not charged for the moments other processes had the CPU.
 * Names are formatted before the clock starts. Each measured loop is its own function, so
 * `valgrind --tool=callgrind --toggle-collect=measured_*` counts its instructions alone. */
#include "bench.h"

#define NAME_CAP 96

struct names {
    char (*text)[NAME_CAP];
    size_t *len;
    size_t n;
};

static struct names names_alloc(size_t n) {
    struct names s = {malloc(n * NAME_CAP), malloc(n * sizeof(size_t)), n};
    if (!s.text || !s.len) die("malloc", "names");
    return s;
}

/* Names of metrics scattered(k, modulo) for k in first..first+n-1 (modulo 0: first+k itself). */
static void names_fill(struct names *s, uint64_t first, uint64_t modulo) {
    for (size_t k = 0; k < s->n; k++) {
        uint64_t i = modulo ? scattered(first + k, modulo) : first + k;
        s->len[k] = metric_name(s->text[k], NAME_CAP, i);
    }
}

static inline void open_all(shm_zone *z, const struct names *s, shm_counter **out) {
    for (size_t k = 0; k < s->n; k++) check_status(shm_counter_open(z, s->text[k], s->len[k], &out[k]), "open", NULL);
}

/* One function per measured operation, none calling another (callgrind's --toggle-collect
 * would switch off inside a nested one). */
NOINLINE void measured_existing_open(shm_zone *z, const struct names *s, shm_counter **out) { open_all(z, s, out); }
NOINLINE void measured_new(shm_zone *z, const struct names *s, shm_counter **out) { open_all(z, s, out); }
NOINLINE void measured_join(shm_zone *z, const struct names *s, shm_counter **out) { open_all(z, s, out); }

NOINLINE void measured_existing_close(shm_counter **h, size_t n) {
    for (size_t k = 0; k < n; k++) check_status(shm_counter_close(h[k]), "close", NULL);
}

NOINLINE void measured_held_ref(shm_zone *z, const struct names *s) {
    shm_metric_ref ref;
    shm_error err;
    for (size_t k = 0; k < s->n; k++)
        check_status(shm_zone_register(z, SHM_KIND_COUNTER, s->text[k], s->len[k], &ref, &err), "register", &err);
}

static void release_all(shm_counter **h, size_t n) {
    for (size_t k = 0; k < n; k++) check_status(shm_counter_release(h[k]), "release", NULL);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR METRICS CAPACITY\n", argv[0]);
        return 2;
    }
    uint64_t metrics = strtoull(argv[2], NULL, 10), capacity = strtoull(argv[3], NULL, 10);
    if (metrics < 1 || capacity < metrics) die("arguments", "need 1 <= METRICS <= CAPACITY");
    char path[512];
    snprintf(path, sizeof path, "%s/register.zone", argv[1]);
    shm_zone *z = zone_for(path, capacity, 0);
    fill_counters(z, 0, metrics);
    shm_zone *other; /* a second attachment: another writer, as another process would be */
    shm_error err;
    check_status(shm_zone_open_file(path, NULL, &other, &err), "second attachment", &err);
    printf("ready\n");
    fflush(stdout);

    uint64_t existing_at = 0, join_at = 0, new_at = metrics;
    char cmd[32];
    size_t b;
    while (scanf("%31s %zu", cmd, &b) == 2 && b > 0) {
        struct names s = names_alloc(b);
        shm_counter **h = malloc(b * sizeof *h);
        if (!h) die("malloc", "handles");
        if (!strcmp(cmd, "existing")) {
            names_fill(&s, existing_at, metrics);
            existing_at += b;
            uint64_t t0 = cpu_ns();
            measured_existing_open(z, &s, h);
            uint64_t t1 = cpu_ns();
            measured_existing_close(h, b);
            uint64_t t2 = cpu_ns();
            printf("%.1f %.1f\n", (double)(t2 - t0) / (double)b, (double)(t1 - t0) / (double)b);
        } else if (!strcmp(cmd, "held_ref")) {
            names_fill(&s, existing_at, metrics);
            existing_at += b;
            uint64_t t0 = cpu_ns();
            measured_held_ref(z, &s);
            printf("%.1f\n", (double)(cpu_ns() - t0) / (double)b);
        } else if (!strcmp(cmd, "new")) {
            /* In batches of a tenth of the zone, each released (untimed) before the next, so
             * the zone stays near METRICS whatever B is. */
            size_t batch = metrics / 10 ? (size_t)(metrics / 10) : 1;
            uint64_t spent = 0;
            for (size_t done = 0; done < b; done += s.n) {
                s.n = b - done < batch ? b - done : batch;
                names_fill(&s, new_at, 0);
                new_at += s.n;
                uint64_t t0 = cpu_ns();
                measured_new(z, &s, h);
                spent += cpu_ns() - t0;
                release_all(h, s.n);
            }
            printf("%.1f\n", (double)spent / (double)b);
        } else if (!strcmp(cmd, "join")) {
            names_fill(&s, join_at, metrics);
            join_at += b;
            uint64_t t0 = cpu_ns();
            measured_join(other, &s, h);
            printf("%.1f\n", (double)(cpu_ns() - t0) / (double)b);
            release_all(h, b);
        } else {
            die("unknown command", cmd);
        }
        fflush(stdout);
        free(h);
        free(s.text);
        free(s.len);
    }
    shm_zone_close(other);
    shm_zone_close(z);
    return 0;
}
