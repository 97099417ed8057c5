/* The C hot paths against raw atomics on a MAP_SHARED slot, and contention between processes
 * against the same between threads (issue 9, "C path at the floor" and "contention").
 *
 *   bench_hot hot ITERATIONS ROUNDS DIR
 *   bench_hot contention ITERATIONS ROUNDS DIR
 *
 * Every round runs every case once, in turn, so a slow moment of the machine hits all of them;
 * a ratio is taken within each round and the median of the rounds' ratios is printed, with each
 * case's median ns/op. Each loop iteration carries one compiler barrier (BARRIER) in the
 * measured loops and in their baselines alike, so the compiler can neither merge the stores
 * nor hoist the atomics out of the loop; `make core-bench-smoke` checks that shm_slot_add and
 * shm_slot_set compile to the very instructions of their raw baselines. */
#include "bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

NOINLINE void raw_add(int64_t *p, long n) {
    for (long i = 0; i < n; i++) {
        __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
        BARRIER();
    }
}

NOINLINE void slot_add(int64_t *p, long n) {
    for (long i = 0; i < n; i++) {
        shm_slot_add(p, 1);
        BARRIER();
    }
}

NOINLINE void handle_inc(shm_counter *c, long n) {
    for (long i = 0; i < n; i++) {
        shm_counter_inc(c, 1);
        BARRIER();
    }
}

NOINLINE void raw_store(int64_t *p, long n) {
    for (long i = 0; i < n; i++) {
        __atomic_store_n(p, i, __ATOMIC_RELAXED);
        BARRIER();
    }
}

NOINLINE void slot_set(int64_t *p, long n) {
    for (long i = 0; i < n; i++) {
        shm_slot_set(p, i);
        BARRIER();
    }
}

NOINLINE void gauge_update(shm_gauge *g, long n) {
    for (long i = 0; i < n; i++) {
        shm_gauge_update(g, i);
        BARRIER();
    }
}

/* An 8-byte slot at offset 128 of a fresh 4 KiB MAP_SHARED file in DIR: the baseline's memory is
 * the same kind as a zone's (tmpfs page, shared mapping, 128-byte aligned). */
static int64_t *raw_slot(const char *dir, const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) die("raw slot file", strerror(errno));
    char *base = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) die("mmap", strerror(errno));
    close(fd);
    return (int64_t *)(base + 128);
}

/* One case of the hot-path table: a loop over a slot or over a handle. */
struct hot_case {
    void (*on_slot)(int64_t *, long);
    void (*on_counter)(shm_counter *, long);
    void (*on_gauge)(shm_gauge *, long);
    int64_t *slot;
    shm_counter *counter;
    shm_gauge *gauge;
};

/* CPU time, not wall time: on a shared machine a case is not charged for the moments another
 * process had the CPU. */
static uint64_t run_case(const struct hot_case *c, long n) {
    uint64_t t = cpu_ns();
    if (c->on_slot) c->on_slot(c->slot, n);
    else if (c->on_counter) c->on_counter(c->counter, n);
    else c->on_gauge(c->gauge, n);
    return cpu_ns() - t;
}

static void print_case(const char *key, uint64_t *ns, size_t rounds, long n) {
    printf("RESULT %s.ns %.3f\n", key, (double)median_u64(ns, rounds) / (double)n);
}

/* The median of the rounds' ratios: each round's ratio compares runs made moments apart. */
static void print_ratio(const char *key, const uint64_t *num, const uint64_t *den, size_t rounds) {
    uint64_t r[rounds];
    for (size_t i = 0; i < rounds; i++) r[i] = num[i] * 10000 / (den[i] ? den[i] : 1);
    printf("RESULT %s.ratio %.4f\n", key, (double)median_u64(r, rounds) / 10000.0);
}

static int hot(long n, size_t rounds, const char *dir) {
    int64_t *raw = raw_slot(dir, "raw.slot");
    char path[512];
    snprintf(path, sizeof path, "%s/hot.zone", dir);
    shm_zone *z = zone_for(path, 16, 0);
    shm_counter *c;
    shm_gauge *g;
    check_status(shm_counter_open(z, "hot_counter", 11, &c), "counter", NULL);
    check_status(shm_gauge_open(z, "hot_gauge", 9, &g), "gauge", NULL);
    int64_t *cs = shm_counter_slot(c), *gs = shm_gauge_slot(g);

    enum { RAW_ADD, SLOT_ADD, INC, RAW_STORE, SLOT_SET, UPDATE, RAW_ADD_AGAIN, CASES };
    const struct hot_case cases[CASES] = {
        [RAW_ADD] = {.on_slot = raw_add, .slot = raw},
        [SLOT_ADD] = {.on_slot = slot_add, .slot = cs},
        [INC] = {.on_counter = handle_inc, .counter = c},
        [RAW_STORE] = {.on_slot = raw_store, .slot = raw},
        [SLOT_SET] = {.on_slot = slot_set, .slot = gs},
        [UPDATE] = {.on_gauge = gauge_update, .gauge = g},
        /* The baseline once more: how far apart two runs of the same code are (noise). */
        [RAW_ADD_AGAIN] = {.on_slot = raw_add, .slot = raw},
    };
    uint64_t t[CASES][rounds];
    raw_add(raw, n / 10 + 1); /* warm up: pages faulted, caches and frequency settled */
    slot_add(cs, n / 10 + 1);
    for (size_t r = 0; r < rounds; r++)
        for (int k = 0; k < CASES; k++) { /* every other round backwards: no case always first */
            int i = r % 2 ? CASES - 1 - k : k;
            t[i][r] = run_case(&cases[i], n);
        }
    uint64_t *t_raw_add = t[RAW_ADD], *t_slot_add = t[SLOT_ADD], *t_inc = t[INC], *t_raw_st = t[RAW_STORE],
             *t_slot_set = t[SLOT_SET], *t_upd = t[UPDATE], *t_again = t[RAW_ADD_AGAIN];
    /* The adds all happened: nothing was optimised away. */
    int64_t want = (int64_t)(n / 10 + 1) + (int64_t)rounds * 2 * n; /* slot_add and handle_inc */
    if (shm_slot_get(cs) != want) die("counter", "lost increments");
    print_ratio("hot.slot_add", t_slot_add, t_raw_add, rounds);
    print_ratio("hot.counter_inc", t_inc, t_raw_add, rounds);
    print_ratio("hot.slot_set", t_slot_set, t_raw_st, rounds);
    print_ratio("hot.gauge_update", t_upd, t_raw_st, rounds);
    print_ratio("hot.same_code_twice", t_again, t_raw_add, rounds);
    print_case("hot.raw_add", t_raw_add, rounds, n);
    print_case("hot.slot_add", t_slot_add, rounds, n);
    print_case("hot.counter_inc", t_inc, rounds, n);
    print_case("hot.raw_store", t_raw_st, rounds, n);
    print_case("hot.slot_set", t_slot_set, rounds, n);
    print_case("hot.gauge_update", t_upd, rounds, n);
    shm_counter_close(c);
    shm_gauge_close(g);
    shm_zone_close(z);
    return 0;
}

/* ---- contention ----------------------------------------------------------------------------
 * Two workers start together (they spin on a shared `go` word) and each does n adds; a case's
 * time is the slower worker's own elapsed time, its figure ns per add of one worker. */

struct control {
    int64_t ready;
    int64_t go;
    uint64_t elapsed[2], cpu[2];
};

struct worker {
    struct control *ctl;
    int64_t *slot;
    long n;
    int id;
};

static void *work(void *arg) {
    struct worker *w = arg;
    __atomic_fetch_add(&w->ctl->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&w->ctl->go, __ATOMIC_ACQUIRE)) BARRIER();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    uint64_t t = now_ns();
    slot_add(w->slot, w->n);
    w->ctl->elapsed[w->id] = now_ns() - t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    w->ctl->cpu[w->id] = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
    return NULL;
}

static void start(struct control *ctl, int workers) {
    while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) < workers) usleep(100);
    __atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
}

static void reset(struct control *ctl) { memset(ctl, 0, sizeof *ctl); }

/* The slower worker's wall time, and the two workers' mean CPU time in *cpu. */
static uint64_t slower(struct control *ctl, int workers, uint64_t *cpu) {
    *cpu = workers == 1 ? ctl->cpu[0] : (ctl->cpu[0] + ctl->cpu[1]) / 2;
    return workers == 1 || ctl->elapsed[0] > ctl->elapsed[1] ? ctl->elapsed[0] : ctl->elapsed[1];
}

/* `workers` threads of this process, on slots[0] and slots[1] (the same slot when equal). */
static uint64_t threads(struct control *ctl, int64_t *slots[2], int workers, long n, uint64_t *cpu) {
    reset(ctl);
    pthread_t tid[2];
    struct worker w[2];
    for (int i = 0; i < workers; i++) {
        w[i] = (struct worker){ctl, slots[i], n, i};
        if (pthread_create(&tid[i], NULL, work, &w[i])) die("pthread_create", "failed");
    }
    start(ctl, workers);
    for (int i = 0; i < workers; i++) pthread_join(tid[i], NULL);
    return slower(ctl, workers, cpu);
}

/* `workers` forked processes (they inherit the zone and its slots), on slots[0] and slots[1]. */
static uint64_t processes(struct control *ctl, int64_t *slots[2], int workers, long n, uint64_t *cpu) {
    reset(ctl);
    pid_t pid[2];
    for (int i = 0; i < workers; i++) {
        pid[i] = fork();
        if (pid[i] < 0) die("fork", strerror(errno));
        if (pid[i] == 0) {
            struct worker w = {ctl, slots[i], n, i};
            work(&w);
            _exit(0);
        }
    }
    start(ctl, workers);
    for (int i = 0; i < workers; i++) {
        int st;
        if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) die("worker", "failed");
    }
    return slower(ctl, workers, cpu);
}

static int contention(long n, size_t rounds, const char *dir) {
    struct control *ctl = (struct control *)raw_slot(dir, "control.slot");
    int64_t *atomic_word = raw_slot(dir, "atomic.slot");
    char path[512];
    snprintf(path, sizeof path, "%s/contention.zone", dir);
    shm_zone *z = zone_for(path, 16, 0);
    shm_counter *a, *b;
    check_status(shm_counter_open(z, "contended_a", 11, &a), "counter", NULL);
    check_status(shm_counter_open(z, "contended_b", 11, &b), "counter", NULL);
    int64_t *sa = shm_counter_slot(a), *sb = shm_counter_slot(b);

    /* Wall time of the slower worker, and the workers' CPU time: on a loaded machine two
     * workers often cannot run at once, which stretches wall time but not CPU time. */
    uint64_t t2thr[rounds], t2proc[rounds], t2procs2[rounds], t1proc[rounds];
    uint64_t c2thr[rounds], c2proc[rounds], c2procs2[rounds], c1proc[rounds];
    for (size_t r = 0; r < rounds; r++) {
        t2thr[r] = threads(ctl, (int64_t *[2]){atomic_word, atomic_word}, 2, n, &c2thr[r]);
        t2proc[r] = processes(ctl, (int64_t *[2]){sa, sa}, 2, n, &c2proc[r]);
        t2procs2[r] = processes(ctl, (int64_t *[2]){sa, sb}, 2, n, &c2procs2[r]);
        t1proc[r] = processes(ctl, (int64_t *[2]){sb, sb}, 1, n, &c1proc[r]);
    }
    /* No update was lost across processes. */
    int64_t want_a = (int64_t)rounds * 3 * n, want_b = (int64_t)rounds * 2 * n;
    if (shm_slot_get(sa) != want_a || shm_slot_get(sb) != want_b || *atomic_word != want_b)
        die("contention", "lost updates");
    print_ratio("contention.procs_one_counter", t2proc, t2thr, rounds);
    print_ratio("contention.procs_two_counters", t2procs2, t1proc, rounds);
    print_ratio("contention.cpu.procs_one_counter", c2proc, c2thr, rounds);
    print_ratio("contention.cpu.procs_two_counters", c2procs2, c1proc, rounds);
    print_case("contention.cpu.threads_one_atomic", c2thr, rounds, n);
    print_case("contention.cpu.procs_one_counter", c2proc, rounds, n);
    print_case("contention.cpu.procs_two_counters", c2procs2, rounds, n);
    print_case("contention.cpu.one_proc_one_counter", c1proc, rounds, n);
    print_case("contention.threads_one_atomic", t2thr, rounds, n);
    print_case("contention.procs_one_counter", t2proc, rounds, n);
    print_case("contention.procs_two_counters", t2procs2, rounds, n);
    print_case("contention.one_proc_one_counter", t1proc, rounds, n);
    shm_counter_close(a);
    shm_counter_close(b);
    shm_zone_close(z);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s hot|contention ITERATIONS ROUNDS DIR\n", argv[0]);
        return 2;
    }
    long n = atol(argv[2]);
    size_t rounds = (size_t)atol(argv[3]);
    if (n < 1 || rounds < 1) die("arguments", "ITERATIONS and ROUNDS must be positive");
    if (!strcmp(argv[1], "hot")) return hot(n, rounds, argv[4]);
    if (!strcmp(argv[1], "contention")) return contention(n, rounds, argv[4]);
    die("mode", argv[1]);
    return 2;
}
