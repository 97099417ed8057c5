/* The ABI 1.1 additions end to end: options-based opens (by directory and by file), shm_error
 * filled on failure only, registration by kind for bindings, bulk reads, zone info, integer
 * gauge adds and the inline slot helpers. */
#include "check.h"
#include <stdint.h>
#include <sys/stat.h>

#define NAME(s) (s), strlen(s)

static void opens_with_options(void) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    o.flags = SHM_OPEN_CREATE;
    shm_zone *z = NULL;
    shm_error err;
    CHECK_OK(shm_zone_open_in(test_dir, "opts", &o, &z, &err)); /* size 0: SHM_DEFAULT_SIZE */
    char path[256];
    struct stat st;
    EXPECT(stat(zone_file("shmmetrics-opts", path, sizeof path), &st) == 0);
    EXPECT((uint64_t)st.st_size >= SHM_DEFAULT_SIZE);
    shm_info info;
    CHECK_OK(shm_zone_info(z, &info, &err));
    EXPECT(info.file_size == (uint64_t)st.st_size && info.max_writers == SHM_MAX_ATTACHED);
    EXPECT(info.mode == 0600 && info.owner_uid == (uint32_t)geteuid() && info.read_only == 0);
    EXPECT(info.created_unix_ns > 0 && info.creator_pid == (uint32_t)getpid() && info.version_major == 1);
    char got[256];
    size_t len = 0;
    CHECK_OK(shm_zone_path(z, got, sizeof got, &len, &err));
    EXPECT(strcmp(got, path) == 0 && len == strlen(path));
    size_t untouched = 12345;
    EXPECT_STATUS(shm_zone_path(z, got, len, &untouched, &err), SHM_ERR_INVALID_ARGUMENT); /* no room for the NUL */
    EXPECT(untouched == 12345 && err.status == SHM_ERR_INVALID_ARGUMENT);
    CHECK_OK(shm_zone_close(z));

    /* NULL dir: $SHMMETRICS_DIR (the test directory); NULL options: open an existing zone. */
    CHECK_OK(shm_zone_open_in(NULL, "opts", NULL, &z, NULL));
    CHECK_OK(shm_zone_close(z));
    CHECK_OK(shm_zone_open_file(path, NULL, &z, NULL));
    CHECK_OK(shm_zone_close(z));

    /* Failures fill the error with the status and a message; out-params stay untouched. */
    memset(&err, 0x5A, sizeof err);
    z = NULL;
    EXPECT_STATUS(shm_zone_open_in(test_dir, "missing", NULL, &z, &err), SHM_ERR_NOT_FOUND);
    EXPECT(z == NULL && err.status == SHM_ERR_NOT_FOUND && err.message_len == strlen(err.message));
    EXPECT(strstr(err.message, "shmmetrics-missing") != NULL);
    EXPECT_STATUS(shm_zone_open_in(test_dir, "../escape", NULL, &z, &err), SHM_ERR_INVALID_NAME);
    EXPECT(err.status == SHM_ERR_INVALID_NAME && z == NULL);
    o.reserved[2] = 1;
    EXPECT_STATUS(shm_zone_open_in(test_dir, "opts", &o, &z, &err), SHM_ERR_INVALID_ARGUMENT);
    o.reserved[2] = 0;
    o.flags = 1u << 6;
    EXPECT_STATUS(shm_zone_open_file(path, &o, &z, &err), SHM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(shm_zone_open_file(NULL, NULL, &z, &err), SHM_ERR_NULL_ARGUMENT);
    EXPECT_STATUS(shm_zone_open_in(test_dir, "opts", NULL, NULL, &err), SHM_ERR_NULL_ARGUMENT);
    EXPECT(err.status == SHM_ERR_NULL_ARGUMENT);
}

static void registration_by_kind(void) {
    shm_zone *z = NULL;
    shm_error err;
    CHECK_OK(shm_zone_open("refs", 1 << 20, SHM_OPEN_CREATE, &z));
    shm_metric_ref a, b, g;
    CHECK_OK(shm_zone_register(z, SHM_KIND_COUNTER, NAME("jobs_total"), &a, &err));
    CHECK_OK(shm_zone_register(z, SHM_KIND_COUNTER, NAME("jobs_total"), &b, &err));
    EXPECT(a.slot == b.slot && a.index == b.index && a.generation == b.generation && a.kind == SHM_KIND_COUNTER);
    EXPECT(((uintptr_t)a.slot & 127) == 0);
    shm_slot_add((int64_t *)a.slot, 5);
    CHECK_OK(shm_zone_register(z, SHM_KIND_GAUGE_F64, NAME("load"), &g, &err));
    shm_slot_f64_set((double *)g.slot, 0.5);
    shm_slot_f64_add((double *)g.slot, 0.25);
    EXPECT(shm_slot_f64_get((const double *)g.slot) == 0.75);

    shm_metric_ref bad;
    memset(&bad, 0, sizeof bad);
    EXPECT_STATUS(shm_zone_register(z, SHM_KIND_GAUGE, NAME("jobs_total"), &bad, &err), SHM_ERR_KIND_MISMATCH);
    EXPECT(err.status == SHM_ERR_KIND_MISMATCH && strstr(err.message, "jobs_total") != NULL && bad.slot == NULL);
    EXPECT_STATUS(shm_zone_register(z, 9, NAME("x"), &bad, &err), SHM_ERR_INVALID_ARGUMENT);
    char long_name[300];
    memset(long_name, 'x', sizeof long_name);
    EXPECT_STATUS(shm_zone_register(z, SHM_KIND_COUNTER, long_name, sizeof long_name, &bad, &err), SHM_ERR_NAME_TOO_LONG);
    EXPECT(strstr(err.message, "300 bytes") != NULL);

    /* Two holds: the first unregister keeps the metric, the second frees it. */
    CHECK_OK(shm_zone_unregister(z, &a, &err));
    EXPECT(shm_slot_get((const int64_t *)b.slot) == 5);
    CHECK_OK(shm_zone_unregister(z, &b, &err));
    EXPECT_STATUS(shm_zone_unregister(z, &b, &err), SHM_ERR_CLOSED);
    shm_stats s;
    CHECK_OK(shm_zone_stats(z, &s));
    EXPECT(s.used == 1);
    CHECK_OK(shm_zone_close(z));
}

static void bulk_read(void) {
    shm_zone *z = NULL;
    CHECK_OK(shm_zone_open("bulk", 1 << 20, SHM_OPEN_CREATE, &z));
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char name[64];
        int len = snprintf(name, sizeof name, "bulk_metric_%03d{shard=\"%d\"}", i, i % 7);
        shm_gauge *g = NULL;
        CHECK_OK(shm_gauge_open(z, name, (size_t)len, &g));
        shm_gauge_update(g, i);
        shm_gauge_add(g, 1000);
        shm_gauge_add(g, -1);
        CHECK_OK(shm_gauge_close(g));
    }
    /* Small buffers force many calls; every metric comes exactly once, in index order. */
    shm_metric_row rows[16];
    char names[600];
    uint32_t cursor = 0;
    size_t n = 0, total = 0;
    int seen[N] = {0};
    uint32_t last_index = 0;
    shm_status st;
    shm_error err;
    while ((st = shm_zone_read(z, &cursor, rows, 16, names, sizeof names, &n, &err)) == SHM_OK) {
        EXPECT(n >= 1 && n <= 16);
        for (size_t i = 0; i < n; i++) {
            const char *name = names + rows[i].name_offset;
            EXPECT(strlen(name) == rows[i].name_len && rows[i].kind == SHM_KIND_GAUGE);
            EXPECT(total == 0 || rows[i].index > last_index);
            last_index = rows[i].index;
            int k = atoi(name + strlen("bulk_metric_"));
            EXPECT(k >= 0 && k < N && !seen[k]);
            seen[k] = 1;
            EXPECT(rows[i].value_i64 == k + 999 && rows[i].value_f64 == (double)(k + 999));
            EXPECT(rows[i].created_unix_ns > 0 && rows[i].generation > 0);
            total++;
        }
    }
    EXPECT(st == SHM_DONE && n == 0 && total == N);
    cursor = 0;
    EXPECT_STATUS(shm_zone_read(z, &cursor, rows, 0, names, sizeof names, &n, &err), SHM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(shm_zone_read(z, &cursor, rows, 16, names, SHM_NAME_MAX, &n, &err), SHM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(shm_zone_read(z, &cursor, NULL, 16, names, sizeof names, &n, &err), SHM_ERR_NULL_ARGUMENT);
    CHECK_OK(shm_zone_check(z, &err));
    CHECK_OK(shm_zone_close(z));
}

/* A zone another user owns or may write: writers get SHM_ERR_UNTRUSTED unless they opt in;
 * monitors read it. Ownership needs root; the mode check runs for anyone. */
static void untrusted_zones(void) {
    shm_zone *z = NULL;
    CHECK_OK(shm_zone_open("squat", 1 << 20, SHM_OPEN_CREATE, &z));
    CHECK_OK(shm_zone_close(z));
    char path[256];
    zone_file("shmmetrics-squat", path, sizeof path);
    shm_open_options o;
    memset(&o, 0, sizeof o);
    shm_error err;
    EXPECT(chmod(path, 0666) == 0);
    EXPECT_STATUS(shm_zone_open_in(test_dir, "squat", &o, &z, &err), SHM_ERR_UNTRUSTED);
    EXPECT(err.status == SHM_ERR_UNTRUSTED && strstr(err.message, "any user") != NULL);
    if (geteuid() == 0) {
        EXPECT(chown(path, 65534, 65534) == 0);
        EXPECT_STATUS(shm_zone_open_in(test_dir, "squat", &o, &z, &err), SHM_ERR_UNTRUSTED);
        EXPECT(strstr(err.message, "65534") != NULL);
        o.flags = SHM_OPEN_FRESH;
        EXPECT_STATUS(shm_zone_open_in(test_dir, "squat", &o, &z, &err), SHM_ERR_UNTRUSTED);
    }
    o.flags = SHM_OPEN_READONLY;
    CHECK_OK(shm_zone_open_in(test_dir, "squat", &o, &z, &err));
    CHECK_OK(shm_zone_close(z));
    o.flags = SHM_OPEN_TRUST_SHARED;
    CHECK_OK(shm_zone_open_in(test_dir, "squat", &o, &z, &err));
    CHECK_OK(shm_zone_close(z));
}

int main(void) {
    test_dir_init("abi11");
    opens_with_options();
    registration_by_kind();
    bulk_read();
    untrusted_zones();
    return passed("test_abi11");
}
