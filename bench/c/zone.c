/* Zone-wide costs (issue 9): creating and attaching at any size, statistics and iteration,
 * bulk reads, and fork() with zones open. bench/run.py runs each measurement in a fresh
 * process, so memory figures start from the same state.
 *
 *   bench_zone create PATH SIZE          create a zone of SIZE bytes (replacing PATH)
 *   bench_zone attach PATH rw|ro         attach to an existing zone, for writing or read-only
 *   bench_zone fill PATH SIZE N          create a zone and register N counters, then exit
 *                                        (they stay, as orphans)
 *   bench_zone scan PATH ROUNDS          read-only: shm_zone_stats, shm_zone_info, a whole
 *                                        pass of shm_zone_read, of shm_zone_next, and of
 *                                        shm_zone_read + snprintf (Prometheus text); medians
 *   bench_zone forker PATH|- N KIB       a fork() worker: opens PATH (a new zone) and holds N
 *                                        counters, or ("-") no zone, with KIB KiB of touched
 *                                        heap in 128-byte blocks as ballast; prints "ready RSSANON_KIB", then per
 *                                        stdin line "fork K" forks K children that _exit at
 *                                        once and prints the medians of the fork() call and of
 *                                        fork + waitpid in microseconds; "stopped K" does the
 *                                        same while another process sits SIGSTOPped holding
 *                                        the zone's registration lock; "quit 0" ends.
 *
 * create/attach print wall and CPU time, and what the call added to the process's memory:
 * VmRSS and RssShmem from /proc/self/status, and (create) the file's allocated bytes. */
#include "bench.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct mem {
    long rss, shmem;
};

static struct mem mem_now(void) { return (struct mem){proc_status_kib("VmRSS"), proc_status_kib("RssShmem")}; }

static void print_open(const char *what, uint64_t wall, uint64_t cpu, struct mem before, struct mem after, shm_zone *z) {
    shm_info info;
    shm_error err;
    check_status(shm_zone_info(z, &info, &err), "info", &err);
    printf("RESULT %s.wall_us %.1f\n", what, (double)wall / 1e3);
    printf("RESULT %s.cpu_us %.1f\n", what, (double)cpu / 1e3);
    printf("RESULT %s.rss_kib %ld\n", what, after.rss - before.rss);
    printf("RESULT %s.shmem_kib %ld\n", what, after.shmem - before.shmem);
    printf("RESULT %s.rss_total_kib %ld\n", what, after.rss);
    printf("RESULT %s.capacity %u\n", what, info.capacity);
    printf("RESULT %s.used %u\n", what, info.used);
}

static int create(const char *path, uint64_t size) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    o.size = size;
    o.flags = SHM_OPEN_CREATE | SHM_OPEN_FRESH;
    shm_zone *z;
    shm_error err;
    struct mem before = mem_now();
    uint64_t t = now_ns(), c = cpu_ns();
    check_status(shm_zone_open_file(path, &o, &z, &err), "create", &err);
    uint64_t wall = now_ns() - t, cpu = cpu_ns() - c;
    print_open("create", wall, cpu, before, mem_now(), z);
    struct stat st;
    if (stat(path, &st) != 0) die("stat", strerror(errno));
    printf("RESULT create.file_alloc_kib %lld\n", (long long)st.st_blocks / 2);
    shm_zone_close(z);
    return 0;
}

static int attach(const char *path, const char *how) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    int ro = !strcmp(how, "ro");
    if (ro) o.flags = SHM_OPEN_READONLY;
    shm_zone *z;
    shm_error err;
    struct mem before = mem_now();
    uint64_t t = now_ns(), c = cpu_ns();
    check_status(shm_zone_open_file(path, &o, &z, &err), "attach", &err);
    uint64_t wall = now_ns() - t, cpu = cpu_ns() - c;
    print_open(ro ? "attach_ro" : "attach", wall, cpu, before, mem_now(), z);
    shm_zone_close(z);
    return 0;
}

static int fill(const char *path, uint64_t size, uint64_t n) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    o.size = size;
    o.flags = SHM_OPEN_CREATE | SHM_OPEN_FRESH;
    shm_zone *z;
    shm_error err;
    check_status(shm_zone_open_file(path, &o, &z, &err), "create", &err);
    fill_counters(z, 0, n);
    shm_info info;
    check_status(shm_zone_info(z, &info, &err), "info", &err);
    printf("RESULT fill.capacity %u\nRESULT fill.used %u\n", info.capacity, info.used);
    shm_zone_close(z);
    return 0;
}

/* ---- scans ---------------------------------------------------------------------------------- */

#define ROWS 1024
static shm_metric_row rows[ROWS];
static char names[ROWS * 64 + SHM_NAME_MAX + 1];

/* One pass of shm_zone_read; with `text`, each row also becomes a line of Prometheus text. */
NOINLINE size_t read_pass(shm_zone *z, char *text, size_t text_cap, size_t *text_len) {
    uint32_t cursor = 0;
    size_t total = 0, got, off = 0;
    shm_error err;
    shm_status s;
    int64_t sum = 0;
    while ((s = shm_zone_read(z, &cursor, rows, ROWS, names, sizeof names, &got, &err)) == SHM_OK) {
        total += got;
        for (size_t i = 0; i < got; i++) {
            if (text) {
                const shm_metric_row *r = &rows[i];
                int w = r->kind == SHM_KIND_GAUGE_F64
                            ? snprintf(text + off, text_cap - off, "%s %.17g\n", names + r->name_offset, r->value_f64)
                            : snprintf(text + off, text_cap - off, "%s %lld\n", names + r->name_offset, (long long)r->value_i64);
                if (w < 0 || (size_t)w >= text_cap - off) die("text", "buffer too small");
                off += (size_t)w;
            } else {
                sum += rows[i].value_i64;
            }
        }
    }
    if (s != SHM_DONE) check_status(s, "read", &err);
    if (text_len) *text_len = off;
    BARRIER();
    (void)sum;
    return total;
}

NOINLINE size_t next_pass(shm_zone *z) {
    uint32_t cursor = 0;
    shm_metric_info info;
    size_t total = 0;
    shm_status s;
    while ((s = shm_zone_next(z, &cursor, &info)) == SHM_OK) total++;
    if (s != SHM_DONE) check_status(s, "next", NULL);
    return total;
}

static int scan(const char *path, size_t rounds) {
    shm_open_options o;
    memset(&o, 0, sizeof o);
    o.flags = SHM_OPEN_READONLY;
    shm_zone *z;
    shm_error err;
    check_status(shm_zone_open_file(path, &o, &z, &err), "attach", &err);
    shm_info info;
    check_status(shm_zone_info(z, &info, &err), "info", &err);
    size_t text_cap = (size_t)info.used * (SHM_NAME_MAX + 32) + 1, text_len = 0;
    char *text = malloc(text_cap);
    if (!text) die("malloc", "text");
    uint64_t t_stats[rounds], t_info[rounds], t_read[rounds], t_next[rounds], t_text[rounds];
    shm_stats st;
    for (size_t r = 0; r < rounds; r++) {
        uint64_t t = cpu_ns();
        check_status(shm_zone_stats(z, &st), "stats", NULL);
        t_stats[r] = cpu_ns() - t;
        t = cpu_ns();
        check_status(shm_zone_info(z, &info, &err), "info", &err);
        t_info[r] = cpu_ns() - t;
        t = cpu_ns();
        size_t n_read = read_pass(z, NULL, 0, NULL);
        t_read[r] = cpu_ns() - t;
        t = cpu_ns();
        size_t n_next = next_pass(z);
        t_next[r] = cpu_ns() - t;
        t = cpu_ns();
        size_t n_text = read_pass(z, text, text_cap, &text_len);
        t_text[r] = cpu_ns() - t;
        if (n_read != info.used || n_next != info.used || n_text != info.used) die("scan", "a pass missed metrics");
    }
    printf("RESULT scan.capacity %u\nRESULT scan.used %u\nRESULT scan.text_bytes %zu\n", info.capacity, info.used, text_len);
    printf("RESULT scan.stats_us %.2f\n", (double)median_u64(t_stats, rounds) / 1e3);
    printf("RESULT scan.info_us %.2f\n", (double)median_u64(t_info, rounds) / 1e3);
    printf("RESULT scan.read_ms %.3f\n", (double)median_u64(t_read, rounds) / 1e6);
    printf("RESULT scan.next_ms %.3f\n", (double)median_u64(t_next, rounds) / 1e6);
    printf("RESULT scan.text_ms %.3f\n", (double)median_u64(t_text, rounds) / 1e6);
    free(text);
    shm_zone_close(z);
    return 0;
}

/* ---- fork ----------------------------------------------------------------------------------- */

/* Forks k children that _exit at once: medians of the fork() call (in the parent) and of fork
 * through waitpid, in microseconds. */
static void forks(size_t k) {
    uint64_t call[k], whole[k];
    for (size_t i = 0; i < k; i++) {
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        uint64_t t1 = now_ns();
        if (pid < 0) die("fork", strerror(errno));
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) die("child", "did not exit cleanly");
        call[i] = t1 - t0;
        whole[i] = now_ns() - t0;
    }
    printf("%.1f %.1f\n", (double)median_u64(call, k) / 1e3, (double)median_u64(whole, k) / 1e3);
}

/* The registration lock word (docs/FORMAT.md: header offset 144), read through a read-only
 * mapping of the zone's first page. */
static volatile const uint64_t *lock_word(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("open", strerror(errno));
    const char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap", strerror(errno));
    close(fd);
    return (volatile const uint64_t *)(p + 144);
}

/* A child that registers and releases new names in a loop, so it holds the registration lock
 * most of the time; stopped (SIGSTOP) at a moment it holds it. Returns its pid. */
static pid_t stopped_lock_holder(shm_zone *z, const char *path) {
    volatile const uint64_t *word = lock_word(path);
    pid_t pid = fork();
    if (pid < 0) die("fork", strerror(errno));
    if (pid == 0) {
        char name[64];
        for (uint64_t i = 0;; i++) {
            int len = snprintf(name, sizeof name, "lock_holder_%llu", (unsigned long long)i);
            shm_counter *c;
            if (shm_counter_open(z, name, (size_t)len, &c) == SHM_OK) shm_counter_release(c);
        }
    }
    for (int tries = 0; tries < 100000; tries++) {
        usleep(200);
        kill(pid, SIGSTOP);
        waitpid(pid, NULL, WUNTRACED);
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 0) return pid;
        kill(pid, SIGCONT);
    }
    die("lock holder", "never caught holding the registration lock");
    return -1;
}

static int forker(const char *path, uint64_t n, long ballast_kib) {
    shm_zone *z = NULL;
    if (strcmp(path, "-")) {
        z = zone_for(path, n + 64, 0);
        fill_counters(z, 0, n); /* held by this process: its handles are closed, its claims kept */
    }
    /* Ballast like a heap of small records (the library's per-metric bookkeeping is one):
     * 128-byte blocks, touched, so fork() has as many page tables to copy. */
    size_t blocks = (size_t)(ballast_kib > 0 ? ballast_kib : 0) * 1024 / 128;
    char **ballast = calloc(blocks + 1, sizeof *ballast);
    if (!ballast) die("malloc", "ballast");
    for (size_t i = 0; i < blocks; i++) {
        if (!(ballast[i] = malloc(128 - 16))) die("malloc", "ballast");
        memset(ballast[i], 1, 128 - 16);
    }
    printf("ready %ld\n", proc_status_kib("RssAnon"));
    fflush(stdout);
    char cmd[32];
    size_t k;
    while (scanf("%31s %zu", cmd, &k) == 2 && k > 0) {
        if (!strcmp(cmd, "fork")) {
            forks(k);
        } else if (!strcmp(cmd, "stopped") && z) {
            pid_t holder = stopped_lock_holder(z, path);
            forks(k);
            kill(holder, SIGKILL);
            waitpid(holder, NULL, 0);
        } else {
            die("unknown command", cmd);
        }
        fflush(stdout);
    }
    for (size_t i = 0; i < blocks; i++) free(ballast[i]);
    free(ballast);
    if (z) shm_zone_close(z);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "create") && argc == 4) return create(argv[2], strtoull(argv[3], NULL, 10));
    if (!strcmp(mode, "attach") && argc == 4) return attach(argv[2], argv[3]);
    if (!strcmp(mode, "fill") && argc == 5) return fill(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    if (!strcmp(mode, "scan") && argc == 4 && atol(argv[3]) > 0) return scan(argv[2], (size_t)atol(argv[3]));
    if (!strcmp(mode, "forker") && argc == 5) return forker(argv[2], strtoull(argv[3], NULL, 10), atol(argv[4]));
    fprintf(stderr, "usage: %s create PATH SIZE | attach PATH rw|ro | fill PATH SIZE N | scan PATH ROUNDS | forker PATH|- N KIB\n", argv[0]);
    return 2;
}
