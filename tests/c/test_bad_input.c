/* Bad input at the C ABI, table-driven: every exported function is called with NULL, closed
 * zones, released handles, invalid UTF-8, empty and over-long names, zero and absurd sizes,
 * unknown flags and modes, and kind mismatches. Each call must return its documented status,
 * leave its out-parameter untouched, create no file, and write nothing to the zone file (the
 * only bytes a refused registration may change are the header's failure counters, which must
 * grow by exactly the documented amount). Handles whose zone was closed stay valid and work;
 * released handles are harmless no-ops. Runs under ASan+UBSan and valgrind (make c-test).
 *
 * Self-contained on purpose (no check.h): it needs the public header and, for the offsets of the
 * header's failure counters, tests/vectors/zone_layout.json. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmmetrics.h"

static int checks;
static int failures;

#define FAILF(...)                                                                                \
    do {                                                                                          \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                             \
        fputc('\n', stderr);                                                                      \
        failures++;                                                                               \
    } while (0)

#define EXPECT(cond)                                                                              \
    do {                                                                                          \
        checks++;                                                                                 \
        if (!(cond)) FAILF("expected %s", #cond);                                                 \
    } while (0)

#define EXPECT_ST(call, want)                                                                     \
    do {                                                                                          \
        checks++;                                                                                 \
        shm_status got_ = (call);                                                                 \
        if (got_ != (want))                                                                       \
            FAILF("%s returned %s (%d), expected %s: %s", #call, shm_status_str(got_), (int)got_, \
                  #want, shm_last_error());                                                       \
    } while (0)

/* ---- fixture ------------------------------------------------------------------------------ */

#define ZONE_SIZE (64u << 10)
#define NAME(s) (s), strlen(s)

static char dir[64];
static char zone_path[128];  /* the zone all failing calls are aimed at */
static char tiny_path[128];  /* a full zone */

static shm_zone *z;      /* open, writable */
static shm_zone *ro;     /* open, read-only, same file */
static shm_zone *closed; /* closed: parked by the library */
static shm_zone *tiny;   /* full */
static shm_counter *c;   /* live counter "requests" */
static shm_gauge *g;     /* live gauge "depth" */
static shm_gauge_f64 *f; /* live float gauge "ratio" */
static shm_counter *released_c;
static shm_gauge *released_g;
static shm_gauge_f64 *released_f;
static shm_counter *tiny_c[64];

/* Out-parameters start as a sentinel; a refused call must leave them as they are. */
static int sentinel_obj;
#define SENTINEL ((void *)&sentinel_obj)
static shm_zone *out_zone;
static shm_counter *out_counter;
static shm_gauge *out_gauge;
static shm_gauge_f64 *out_f64;
static shm_stats out_stats;
static shm_metric_info out_info;
static uint32_t out_u32;
static uint32_t cursor;

static char long_name[400]; /* 256 'x' then NUL; valid memory well past the limit */
static char name_200[201], name_201[202];
static char long_path[PATH_MAX + 64];
static char dir_as_zone[128], fifo_path[128], link_path[128], missing_dir_path[192];

static void reset_outs(void) {
    out_zone = SENTINEL;
    out_counter = SENTINEL;
    out_gauge = SENTINEL;
    out_f64 = SENTINEL;
    memset(&out_stats, 0xA5, sizeof out_stats);
    memset(&out_info, 0xA5, sizeof out_info);
    out_u32 = 0xA5A5A5A5u;
    cursor = 0;
}

static int outs_untouched(void) {
    unsigned char pat_stats[sizeof out_stats], pat_info[sizeof out_info];
    memset(pat_stats, 0xA5, sizeof pat_stats);
    memset(pat_info, 0xA5, sizeof pat_info);
    return out_zone == SENTINEL && out_counter == SENTINEL && out_gauge == SENTINEL && out_f64 == SENTINEL &&
           memcmp(&out_stats, pat_stats, sizeof pat_stats) == 0 && memcmp(&out_info, pat_info, sizeof pat_info) == 0 &&
           out_u32 == 0xA5A5A5A5u;
}

struct file_image {
    unsigned char *bytes;
    size_t len;
};

static struct file_image read_file(const char *path) {
    struct file_image im = {NULL, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return im;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n > 0 && fseek(fp, 0, SEEK_SET) == 0) {
            im.bytes = malloc((size_t)n);
            if (im.bytes && fread(im.bytes, 1, (size_t)n, fp) == (size_t)n) im.len = (size_t)n;
        }
    }
    fclose(fp);
    return im;
}

static uint64_t u64_at(const unsigned char *b, size_t off) {
    uint64_t v;
    memcpy(&v, b + off, sizeof v);
    return v;
}

/* Where the header's two u64 failure counters are: read from tests/vectors/zone_layout.json,
 * which tests/format_doc.rs generates from the layout structs (the path is relative to the source
 * tree, where make runs the tests; SHMM_LAYOUT_VECTORS overrides it). */
static long failed_registrations = -1, failed_zone_full = -1;

static long layout_offset(const struct file_image *json, const char *field) {
    char key[96];
    size_t off, size;
    snprintf(key, sizeof key, "\"%s\": ", field);
    const char *p = strstr((const char *)json->bytes, key);
    if (!p || sscanf(p + strlen(key), "{\"offset\": %zu, \"size\": %zu}", &off, &size) != 2 || size != 8) {
        fprintf(stderr, "zone_layout.json: no 8-byte field %s\n", field);
        exit(2);
    }
    return (long)off;
}

static void load_layout(void) {
    const char *path = getenv("SHMM_LAYOUT_VECTORS") ? getenv("SHMM_LAYOUT_VECTORS") : "tests/vectors/zone_layout.json";
    FILE *fp = fopen(path, "rb");
    char text[16384];
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp) fclose(fp);
    if (n == 0) {
        fprintf(stderr, "%s: cannot read the zone layout (run from the source tree)\n", path);
        exit(2);
    }
    text[n] = '\0';
    struct file_image json = {(unsigned char *)text, n};
    failed_registrations = layout_offset(&json, "header.failed_registrations");
    failed_zone_full = layout_offset(&json, "header.failed_zone_full");
}

static int in_counter(size_t i, long counter) {
    return (long)i >= counter && (long)i < counter + 8;
}

/* Compares two images of one zone: identical except the failure counters, which must have grown
 * by exactly `regs` and `full`. Returns the first unexpected difference or -1. */
static long image_diff(const struct file_image *a, const struct file_image *b, uint64_t regs, uint64_t full) {
    if (!a->bytes || !b->bytes || a->len != b->len) return 0;
    if (u64_at(b->bytes, (size_t)failed_registrations) != u64_at(a->bytes, (size_t)failed_registrations) + regs) return failed_registrations;
    if (u64_at(b->bytes, (size_t)failed_zone_full) != u64_at(a->bytes, (size_t)failed_zone_full) + full) return failed_zone_full;
    for (size_t i = 0; i < a->len; i++) {
        if (in_counter(i, failed_registrations) || in_counter(i, failed_zone_full)) continue;
        if (a->bytes[i] != b->bytes[i]) return (long)i;
    }
    return -1;
}

static int count_dir_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n++;
    closedir(d);
    return n;
}

/* ---- the table ---------------------------------------------------------------------------- */

/* Each case: a call, the status it must return, and how much the failure counters of the zone
 * at `zone_path` (regs) and of the full zone at `tiny_path` (tiny_regs, tiny_full) must grow. */
#define BAD_CASES(X)                                                                                                    \
    /* status text and versions take no pointers: covered below */                                                      \
    /* shm_zone_open */                                                                                                 \
    X(open_null_name, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_open(NULL, ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))      \
    X(open_null_out_bad_name, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("", ZONE_SIZE, SHM_OPEN_CREATE, NULL))        \
    X(open_empty_name, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))        \
    X(open_slash, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("a/b", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))          \
    X(open_dotdot, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("..", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))          \
    X(open_dotdot_slash, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("../escape", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone)) \
    X(open_abs_path, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("/etc/passwd", 0, SHM_OPEN_READONLY, &out_zone))     \
    X(open_dot, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open(".", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))              \
    X(open_hidden, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open(".hidden", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))     \
    X(open_space, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("a b", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))          \
    X(open_newline, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("a\nb", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))       \
    X(open_201_chars, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open(name_201, ZONE_SIZE, SHM_OPEN_CREATE, &out_zone))   \
    X(open_bad_utf8, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("bad\xff\xfe", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone)) \
    X(open_non_ascii, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open("caf\xc3\xa9", ZONE_SIZE, SHM_OPEN_CREATE, &out_zone)) \
    X(open_size_0, SHM_ERR_INVALID_SIZE, 0, 0, 0, shm_zone_open("new0", 0, SHM_OPEN_CREATE, &out_zone))                \
    X(open_size_1, SHM_ERR_INVALID_SIZE, 0, 0, 0, shm_zone_open("new1", 1, SHM_OPEN_CREATE, &out_zone))                \
    X(open_size_below_min, SHM_ERR_INVALID_SIZE, 0, 0, 0, shm_zone_open("new2", 16384, SHM_OPEN_CREATE, &out_zone))    \
    X(open_size_max, SHM_ERR_INVALID_SIZE, 0, 0, 0, shm_zone_open("new3", UINT64_MAX, SHM_OPEN_CREATE, &out_zone))     \
    X(open_size_over_1tib, SHM_ERR_INVALID_SIZE, 0, 0, 0,                                                              \
      shm_zone_open("new4", (UINT64_C(1) << 40) + 1, SHM_OPEN_CREATE, &out_zone))                                       \
    X(open_fresh_size_0, SHM_ERR_INVALID_SIZE, 0, 0, 0, shm_zone_open("bad", 0, SHM_OPEN_FRESH, &out_zone))           \
    X(open_unknown_flag, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open("bad", ZONE_SIZE, 1u << 6, &out_zone))       \
    X(open_all_flags, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open("bad", ZONE_SIZE, 0xFFFFFFFFu, &out_zone))      \
    X(open_ro_create, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0,                                                               \
      shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_READONLY | SHM_OPEN_CREATE, &out_zone))                                  \
    X(open_ro_fresh, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0,                                                                \
      shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_READONLY | SHM_OPEN_FRESH, &out_zone))                                   \
    X(open_ro_remove, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0,                                                               \
      shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_READONLY | SHM_OPEN_REMOVE_ON_CLOSE, &out_zone))                         \
    X(open_exclusive_alone, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_EXCLUSIVE, &out_zone)) \
    X(open_exclusive_exists, SHM_ERR_EXISTS, 0, 0, 0,                                                                  \
      shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE, &out_zone))                                 \
    X(open_missing, SHM_ERR_NOT_FOUND, 0, 0, 0, shm_zone_open("missing", ZONE_SIZE, 0, &out_zone))                     \
    X(open_missing_ro, SHM_ERR_NOT_FOUND, 0, 0, 0, shm_zone_open("missing", 0, SHM_OPEN_READONLY, &out_zone))          \
    X(open_ro_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_open("bad", 0, SHM_OPEN_READONLY, NULL))              \
    /* shm_zone_open_path */                                                                                            \
    X(path_null, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_open_path(NULL, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone))  \
    X(path_empty, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_zone_open_path("", ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone))    \
    X(path_bad_utf8, SHM_ERR_INVALID_NAME, 0, 0, 0,                                                                    \
      shm_zone_open_path("/tmp/\xff\xfe", ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone))                                    \
    X(path_mode_0400, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, SHM_OPEN_CREATE, 0400, &out_zone)) \
    X(path_mode_0200, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, SHM_OPEN_CREATE, 0200, &out_zone)) \
    X(path_mode_setuid, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, SHM_OPEN_CREATE, 04600, &out_zone)) \
    X(path_mode_sticky, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, SHM_OPEN_CREATE, 01600, &out_zone)) \
    X(path_mode_huge, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, SHM_OPEN_CREATE, 0xFFFFFFFFu, &out_zone)) \
    X(path_unknown_flag, SHM_ERR_INVALID_ARGUMENT, 0, 0, 0, shm_zone_open_path(zone_path, ZONE_SIZE, 1u << 31, 0, &out_zone)) \
    X(path_directory, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(dir_as_zone, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone)) \
    X(path_directory_ro, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(dir_as_zone, 0, SHM_OPEN_READONLY, 0, &out_zone)) \
    X(path_fifo, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(fifo_path, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone)) \
    X(path_fifo_ro, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(fifo_path, 0, SHM_OPEN_READONLY, 0, &out_zone))  \
    X(path_symlink, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(link_path, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone)) \
    X(path_symlink_ro, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path(link_path, 0, SHM_OPEN_READONLY, 0, &out_zone)) \
    X(path_dev_null, SHM_ERR_NOT_A_FILE, 0, 0, 0, shm_zone_open_path("/dev/null", 0, SHM_OPEN_READONLY, 0, &out_zone)) \
    X(path_missing_dir, SHM_ERR_NOT_FOUND, 0, 0, 0,                                                                    \
      shm_zone_open_path(missing_dir_path, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone))                                   \
    X(path_too_long, SHM_ERR_IO, 0, 0, 0, shm_zone_open_path(long_path, ZONE_SIZE, SHM_OPEN_CREATE, 0, &out_zone))    \
    /* shm_zone_close / stats / next / verify / repair */                                                               \
    X(close_closed, SHM_ERR_CLOSED, 0, 0, 0, shm_zone_close(closed))                                                   \
    X(stats_null_zone, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_stats(NULL, &out_stats))                               \
    X(stats_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_stats(z, NULL))                                         \
    X(stats_closed, SHM_ERR_CLOSED, 0, 0, 0, shm_zone_stats(closed, &out_stats))                                       \
    X(next_null_zone, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_next(NULL, &cursor, &out_info))                         \
    X(next_null_cursor, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_next(z, NULL, &out_info))                             \
    X(next_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_next(z, &cursor, NULL))                                  \
    X(next_closed, SHM_ERR_CLOSED, 0, 0, 0, shm_zone_next(closed, &cursor, &out_info))                                 \
    X(verify_null, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_verify(NULL))                                              \
    X(verify_closed, SHM_ERR_CLOSED, 0, 0, 0, shm_zone_verify(closed))                                                 \
    X(repair_null, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_zone_repair(NULL, &out_u32))                                    \
    X(repair_closed, SHM_ERR_CLOSED, 0, 0, 0, shm_zone_repair(closed, &out_u32))                                       \
    X(repair_readonly, SHM_ERR_READ_ONLY, 0, 0, 0, shm_zone_repair(ro, &out_u32))                                      \
    /* registration: argument errors that never reach the name check are not counted */                                \
    X(counter_null_zone, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_counter_open(NULL, NAME("x"), &out_counter))              \
    X(counter_closed_zone, SHM_ERR_CLOSED, 0, 0, 0, shm_counter_open(closed, NAME("x"), &out_counter))                 \
    X(counter_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_counter_open(z, NAME("x"), NULL))                          \
    X(counter_null_name, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_counter_open(z, NULL, 3, &out_counter))                   \
    X(counter_readonly, SHM_ERR_READ_ONLY, 0, 0, 0, shm_counter_open(ro, NAME("x"), &out_counter))                     \
    X(gauge_null_zone, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_gauge_open(NULL, NAME("x"), &out_gauge))                    \
    X(gauge_closed_zone, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_open(closed, NAME("x"), &out_gauge))                       \
    X(gauge_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_gauge_open(z, NAME("x"), NULL))                              \
    X(gauge_readonly, SHM_ERR_READ_ONLY, 0, 0, 0, shm_gauge_open(ro, NAME("x"), &out_gauge))                           \
    X(f64_null_zone, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_gauge_f64_open(NULL, NAME("x"), &out_f64))                    \
    X(f64_closed_zone, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_f64_open(closed, NAME("x"), &out_f64))                       \
    X(f64_null_out, SHM_ERR_NULL_ARGUMENT, 0, 0, 0, shm_gauge_f64_open(z, NAME("x"), NULL))                            \
    X(f64_readonly, SHM_ERR_READ_ONLY, 0, 0, 0, shm_gauge_f64_open(ro, NAME("x"), &out_f64))                           \
    /* bad names: refused and counted in failed_registrations */                                                        \
    X(counter_empty_name, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "", 0, &out_counter))                     \
    X(counter_null_name_len_0, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, NULL, 0, &out_counter))              \
    X(counter_256_bytes, SHM_ERR_NAME_TOO_LONG, 1, 0, 0, shm_counter_open(z, long_name, 256, &out_counter))            \
    X(counter_absurd_len, SHM_ERR_NAME_TOO_LONG, 1, 0, 0, shm_counter_open(z, long_name, SIZE_MAX, &out_counter))      \
    X(counter_bad_utf8, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "\xff\xfe", 2, &out_counter))              \
    X(counter_overlong_utf8, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "\xc0\xaf", 2, &out_counter))         \
    X(counter_surrogate, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "\xed\xa0\x80", 3, &out_counter))         \
    X(counter_cut_utf8, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "caf\xc3\xa9", 4, &out_counter))           \
    X(counter_embedded_nul, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_counter_open(z, "a\0b", 3, &out_counter))               \
    X(gauge_empty_name, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_gauge_open(z, "", 0, &out_gauge))                           \
    X(gauge_256_bytes, SHM_ERR_NAME_TOO_LONG, 1, 0, 0, shm_gauge_open(z, long_name, 256, &out_gauge))                  \
    X(gauge_bad_utf8, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_gauge_open(z, "\x80", 1, &out_gauge))                         \
    X(f64_empty_name, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_gauge_f64_open(z, "", 0, &out_f64))                           \
    X(f64_256_bytes, SHM_ERR_NAME_TOO_LONG, 1, 0, 0, shm_gauge_f64_open(z, long_name, 256, &out_f64))                  \
    X(f64_embedded_nul, SHM_ERR_INVALID_NAME, 1, 0, 0, shm_gauge_f64_open(z, "\0", 1, &out_f64))                       \
    /* a read-only zone checks names too, but counts nothing (it cannot write) */                                       \
    X(readonly_bad_name, SHM_ERR_INVALID_NAME, 0, 0, 0, shm_counter_open(ro, "", 0, &out_counter))                     \
    /* kind mismatches */                                                                                               \
    X(gauge_on_counter, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_gauge_open(z, NAME("requests"), &out_gauge))               \
    X(f64_on_counter, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_gauge_f64_open(z, NAME("requests"), &out_f64))               \
    X(counter_on_gauge, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_counter_open(z, NAME("depth"), &out_counter))              \
    X(f64_on_gauge, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_gauge_f64_open(z, NAME("depth"), &out_f64))                    \
    X(counter_on_f64, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_counter_open(z, NAME("ratio"), &out_counter))                \
    X(gauge_on_f64, SHM_ERR_KIND_MISMATCH, 1, 0, 0, shm_gauge_open(z, NAME("ratio"), &out_gauge))                      \
    /* a full zone: counted in both counters of that zone */                                                            \
    X(counter_zone_full, SHM_ERR_ZONE_FULL, 0, 1, 1, shm_counter_open(tiny, NAME("one_too_many"), &out_counter))       \
    X(gauge_zone_full, SHM_ERR_ZONE_FULL, 0, 1, 1, shm_gauge_open(tiny, NAME("one_too_many"), &out_gauge))             \
    X(f64_zone_full, SHM_ERR_ZONE_FULL, 0, 1, 1, shm_gauge_f64_open(tiny, NAME("one_too_many"), &out_f64))             \
    X(full_and_bad_name, SHM_ERR_NAME_TOO_LONG, 0, 1, 0, shm_counter_open(tiny, long_name, 256, &out_counter))         \
    /* released handles: parked by the library, a second end is a clean error */                                        \
    X(counter_release_twice, SHM_ERR_CLOSED, 0, 0, 0, shm_counter_release(released_c))                                 \
    X(counter_close_released, SHM_ERR_CLOSED, 0, 0, 0, shm_counter_close(released_c))                                  \
    X(gauge_release_twice, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_release(released_g))                                     \
    X(gauge_close_released, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_close(released_g))                                      \
    X(f64_release_twice, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_f64_release(released_f))                                   \
    X(f64_close_released, SHM_ERR_CLOSED, 0, 0, 0, shm_gauge_f64_close(released_f))                                    \
    /* NULL handles: fine */                                                                                            \
    X(counter_release_null, SHM_OK, 0, 0, 0, shm_counter_release(NULL))                                                \
    X(counter_close_null, SHM_OK, 0, 0, 0, shm_counter_close(NULL))                                                    \
    X(gauge_release_null, SHM_OK, 0, 0, 0, shm_gauge_release(NULL))                                                    \
    X(gauge_close_null, SHM_OK, 0, 0, 0, shm_gauge_close(NULL))                                                        \
    X(f64_release_null, SHM_OK, 0, 0, 0, shm_gauge_f64_release(NULL))                                                  \
    X(f64_close_null, SHM_OK, 0, 0, 0, shm_gauge_f64_close(NULL))                                                      \
    X(zone_close_null, SHM_OK, 0, 0, 0, shm_zone_close(NULL))                                                          \
    /* end of iteration is SHM_DONE, wherever the cursor points */                                                      \
    X(next_cursor_max, SHM_DONE, 0, 0, 0, (cursor = UINT32_MAX, shm_zone_next(z, &cursor, &out_info)))                 \
    X(next_cursor_capacity, SHM_DONE, 0, 0, 0, (cursor = 1u << 30, shm_zone_next(z, &cursor, &out_info)))

#define DEFINE_CASE(id, want, regs, tiny_regs, tiny_full, expr) \
    static shm_status case_##id(void) { return (expr); }
BAD_CASES(DEFINE_CASE)

struct bad_case {
    const char *name;
    shm_status (*call)(void);
    shm_status want;
    uint64_t regs, tiny_regs, tiny_full;
};

#define TABLE_ROW(id, want, regs, tiny_regs, tiny_full, expr) {#id, case_##id, want, regs, tiny_regs, tiny_full},
static const struct bad_case cases[] = {BAD_CASES(TABLE_ROW)};

static void run_table(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *k = &cases[i];
        int entries = count_dir_entries();
        struct file_image before = read_file(zone_path), tiny_before = read_file(tiny_path);
        shm_stats s_before, s_after;
        EXPECT_ST(shm_zone_stats(z, &s_before), SHM_OK);
        reset_outs();
        /* cursor is an in/out parameter the DONE cases set themselves */
        shm_status got = k->call();
        uint32_t cursor_after = cursor;
        checks++;
        if (got != k->want)
            FAILF("%s: returned %s (%d), expected %s (%d): %s", k->name, shm_status_str(got), (int)got,
                  shm_status_str(k->want), (int)k->want, shm_last_error());
        checks++;
        if (got != SHM_OK && strlen(shm_last_error()) == 0 && got != SHM_DONE) FAILF("%s: empty shm_last_error()", k->name);
        cursor = cursor_after;
        out_u32 = got == SHM_OK ? 0xA5A5A5A5u : out_u32; /* repair-style calls may write on success only */
        checks++;
        if (!outs_untouched()) FAILF("%s: an out-parameter was written by a call that did not succeed", k->name);
        struct file_image after = read_file(zone_path), tiny_after = read_file(tiny_path);
        long d = image_diff(&before, &after, k->regs, 0);
        checks++;
        if (d >= 0) FAILF("%s: the zone file changed at byte %ld (or its failure counter did not grow by %u)", k->name, d, (unsigned)k->regs);
        d = image_diff(&tiny_before, &tiny_after, k->tiny_regs, k->tiny_full);
        checks++;
        if (d >= 0) FAILF("%s: the full zone changed at byte %ld", k->name, d);
        checks++;
        if (count_dir_entries() != entries) FAILF("%s: a file was created or removed in the zone directory", k->name);
        EXPECT_ST(shm_zone_stats(z, &s_after), SHM_OK);
        checks++;
        if (s_after.used != s_before.used || s_after.attached != s_before.attached)
            FAILF("%s: the zone's metrics or attachments changed (used %u -> %u, attached %u -> %u)", k->name, s_before.used,
                  s_after.used, s_before.attached, s_after.attached);
        free(before.bytes);
        free(after.bytes);
        free(tiny_before.bytes);
        free(tiny_after.bytes);
    }
    printf("table: %zu cases\n", sizeof cases / sizeof cases[0]);
}

/* ---- what must work ----------------------------------------------------------------------- */

static void setup(void) {
    load_layout();
    snprintf(dir, sizeof dir, "/tmp/shmm-bad-input-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    setenv("SHMMETRICS_DIR", dir, 1);
    snprintf(zone_path, sizeof zone_path, "%s/shmmetrics-bad", dir);
    snprintf(tiny_path, sizeof tiny_path, "%s/shmmetrics-tiny", dir);
    snprintf(dir_as_zone, sizeof dir_as_zone, "%s/a-directory", dir);
    snprintf(fifo_path, sizeof fifo_path, "%s/a-fifo", dir);
    snprintf(link_path, sizeof link_path, "%s/a-symlink", dir);
    snprintf(missing_dir_path, sizeof missing_dir_path, "%s/no-such-dir/zone", dir);
    if (mkdir(dir_as_zone, 0700) != 0 || mkfifo(fifo_path, 0600) != 0 || symlink(zone_path, link_path) != 0) {
        perror("fixture");
        exit(2);
    }
    memset(long_name, 'x', 256);
    long_name[256] = '\0';
    memset(name_200, 'n', 200);
    name_200[200] = '\0';
    memset(name_201, 'n', 201);
    name_201[201] = '\0';
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';

    EXPECT_ST(shm_zone_open("bad", ZONE_SIZE, SHM_OPEN_CREATE | SHM_OPEN_EXCLUSIVE, &z), SHM_OK);
    EXPECT_ST(shm_zone_open("bad", 0, SHM_OPEN_READONLY, &ro), SHM_OK);
    EXPECT_ST(shm_zone_open("bad", 0, 0, &closed), SHM_OK);
    EXPECT_ST(shm_zone_close(closed), SHM_OK);
    EXPECT_ST(shm_counter_open(z, NAME("requests"), &c), SHM_OK);
    EXPECT_ST(shm_gauge_open(z, NAME("depth"), &g), SHM_OK);
    EXPECT_ST(shm_gauge_f64_open(z, NAME("ratio"), &f), SHM_OK);
    shm_counter_inc(c, 7);
    shm_gauge_update(g, -3);
    shm_gauge_f64_update(f, 0.5);
    EXPECT_ST(shm_counter_open(z, NAME("gone_c"), &released_c), SHM_OK);
    EXPECT_ST(shm_gauge_open(z, NAME("gone_g"), &released_g), SHM_OK);
    EXPECT_ST(shm_gauge_f64_open(z, NAME("gone_f"), &released_f), SHM_OK);
    EXPECT_ST(shm_counter_release(released_c), SHM_OK);
    EXPECT_ST(shm_gauge_release(released_g), SHM_OK);
    EXPECT_ST(shm_gauge_f64_close(released_f), SHM_OK);

    /* The smallest zone, filled up. */
    EXPECT_ST(shm_zone_open("tiny", 1, SHM_OPEN_CREATE, &tiny), SHM_ERR_INVALID_SIZE);
    EXPECT_ST(shm_zone_open("tiny", 20608, SHM_OPEN_CREATE, &tiny), SHM_OK);
    shm_stats s;
    EXPECT_ST(shm_zone_stats(tiny, &s), SHM_OK);
    EXPECT(s.capacity > 0 && s.capacity < 64 && s.file_size == 24576);
    for (uint32_t i = 0; i < s.capacity && i < 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "fill_%u", i);
        EXPECT_ST(shm_counter_open(tiny, NAME(name), &tiny_c[i]), SHM_OK);
    }
    EXPECT_ST(shm_zone_stats(tiny, &s), SHM_OK);
    EXPECT(s.used == s.capacity && s.free == 0);
}

/* Handles of a closed zone keep working: closing the zone only drops the zone handle. */
static void handles_outlive_their_zone(void) {
    shm_zone *tmp = NULL, *check = NULL;
    shm_counter *hc = NULL, *other = NULL;
    shm_gauge *hg = NULL;
    shm_gauge_f64 *hf = NULL;
    EXPECT_ST(shm_zone_open("bad", 0, 0, &tmp), SHM_OK);
    EXPECT_ST(shm_counter_open(tmp, NAME("outlives"), &hc), SHM_OK);
    EXPECT_ST(shm_gauge_open(tmp, NAME("outlives_g"), &hg), SHM_OK);
    EXPECT_ST(shm_gauge_f64_open(tmp, NAME("outlives_f"), &hf), SHM_OK);
    EXPECT_ST(shm_zone_close(tmp), SHM_OK);
    EXPECT_ST(shm_zone_close(tmp), SHM_ERR_CLOSED);
    EXPECT_ST(shm_counter_open(tmp, NAME("outlives"), &other), SHM_ERR_CLOSED);
    shm_counter_inc(hc, 5);
    shm_counter_dec(hc, 1);
    shm_gauge_update(hg, 11);
    shm_gauge_f64_add(hf, 2.5);
    EXPECT(shm_counter_count(hc) == 4 && shm_gauge_value(hg) == 11 && shm_gauge_f64_value(hf) == 2.5);
    EXPECT(shm_counter_slot(hc) != NULL && shm_gauge_slot(hg) != NULL && shm_gauge_f64_slot(hf) != NULL);
    /* Another attachment sees the values. */
    EXPECT_ST(shm_zone_open("bad", 0, SHM_OPEN_READONLY, &check), SHM_OK);
    shm_metric_info info;
    uint32_t cur = 0;
    int seen = 0;
    while (shm_zone_next(check, &cur, &info) == SHM_OK) {
        if (strcmp(info.name, "outlives") == 0) seen += info.value_i64 == 4;
        if (strcmp(info.name, "outlives_g") == 0) seen += info.value_i64 == 11;
        if (strcmp(info.name, "outlives_f") == 0) seen += info.value_f64 == 2.5;
    }
    EXPECT(seen == 3);
    /* Ending them works, once. */
    EXPECT_ST(shm_counter_release(hc), SHM_OK);
    EXPECT_ST(shm_gauge_close(hg), SHM_OK);
    EXPECT_ST(shm_gauge_f64_release(hf), SHM_OK);
    EXPECT_ST(shm_counter_release(hc), SHM_ERR_CLOSED);
    EXPECT_ST(shm_zone_verify(check), SHM_OK);
    EXPECT_ST(shm_zone_close(check), SHM_OK);
}

/* Hot-path calls on NULL and on released handles are no-ops that touch no zone. */
static void hot_path_null_and_released(void) {
    struct file_image before = read_file(zone_path);
    shm_counter_inc(NULL, 1);
    shm_counter_dec(NULL, 1);
    shm_counter_clear(NULL);
    shm_gauge_update(NULL, 1);
    shm_gauge_f64_update(NULL, 1.0);
    shm_gauge_f64_add(NULL, 1.0);
    EXPECT(shm_counter_count(NULL) == 0 && shm_gauge_value(NULL) == 0 && shm_gauge_f64_value(NULL) == 0.0);
    EXPECT(shm_counter_slot(NULL) == NULL && shm_gauge_slot(NULL) == NULL && shm_gauge_f64_slot(NULL) == NULL);
    shm_counter_inc(released_c, 1000);
    shm_counter_dec(released_c, 3);
    shm_counter_clear(released_c);
    shm_gauge_update(released_g, 1000);
    shm_gauge_f64_update(released_f, 1000.0);
    shm_gauge_f64_add(released_f, 1.0);
    (void)shm_counter_count(released_c);
    (void)shm_gauge_value(released_g);
    (void)shm_gauge_f64_value(released_f);
    EXPECT(shm_counter_slot(released_c) == NULL && shm_gauge_slot(released_g) == NULL && shm_gauge_f64_slot(released_f) == NULL);
    struct file_image after = read_file(zone_path);
    long d = image_diff(&before, &after, 0, 0);
    checks++;
    if (d >= 0) FAILF("a no-op on a NULL or released handle changed the zone at byte %ld", d);
    EXPECT(shm_counter_count(c) == 7 && shm_gauge_value(g) == -3 && shm_gauge_f64_value(f) == 0.5);
    free(before.bytes);
    free(after.bytes);
}

/* Status texts: every code has its own, unknown codes get one text, no NULL ever. */
static void status_strings(void) {
    for (int s = SHM_OK; s <= SHM_ERR_LOCK_TIMEOUT; s++) {
        const char *t = shm_status_str(s);
        EXPECT(t != NULL && strlen(t) > 0 && strcmp(t, "unknown status") != 0);
        for (int o = SHM_OK; o < s; o++) EXPECT(strcmp(t, shm_status_str(o)) != 0);
    }
    const int unknown[] = {-1, SHM_ERR_LOCK_TIMEOUT + 1, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        EXPECT(shm_status_str(unknown[i]) != NULL && strcmp(shm_status_str(unknown[i]), "unknown status") == 0);
    EXPECT(shm_last_error() != NULL);
    EXPECT(shm_abi_version() >> 16 == SHM_ABI_VERSION_MAJOR);
}

/* Boundary values that must be accepted. */
static void accepted_boundaries(void) {
    shm_zone *w = NULL;
    shm_counter *h = NULL;
    EXPECT_ST(shm_zone_open(name_200, ZONE_SIZE, SHM_OPEN_CREATE, &w), SHM_OK);
    char p[400];
    snprintf(p, sizeof p, "%s/shmmetrics-%s", dir, name_200);
    EXPECT(access(p, F_OK) == 0);
    EXPECT_ST(shm_counter_open(w, long_name, 255, &h), SHM_OK); /* exactly SHM_NAME_MAX */
    EXPECT_ST(shm_counter_open(w, NAME("caf\xc3\xa9_\xe2\x82\xac"), &out_counter), SHM_OK);
    EXPECT_ST(shm_counter_release(out_counter), SHM_OK);
    EXPECT_ST(shm_counter_release(h), SHM_OK);
    EXPECT_ST(shm_zone_close(w), SHM_OK);
    EXPECT(unlink(p) == 0);
    /* The size is ignored when attaching to an existing zone, however absurd. */
    EXPECT_ST(shm_zone_open("bad", UINT64_MAX, SHM_OPEN_CREATE, &w), SHM_OK);
    EXPECT_ST(shm_zone_close(w), SHM_OK);
    EXPECT_ST(shm_zone_open("bad", 0, 0, &w), SHM_OK);
    EXPECT_ST(shm_zone_close(w), SHM_OK);
    /* Mode 0 means 0600; group-readable works. */
    char mp[160];
    snprintf(mp, sizeof mp, "%s/mode-0640", dir);
    EXPECT_ST(shm_zone_open_path(mp, ZONE_SIZE, SHM_OPEN_CREATE, 0640, &w), SHM_OK);
    struct stat st;
    EXPECT(stat(mp, &st) == 0 && (st.st_mode & 07777) == 0640);
    EXPECT_ST(shm_zone_close(w), SHM_OK);
    EXPECT(unlink(mp) == 0);
    /* A read-only zone verifies and iterates. */
    EXPECT_ST(shm_zone_verify(ro), SHM_OK);
    uint32_t cur = 0;
    shm_metric_info info;
    EXPECT_ST(shm_zone_next(ro, &cur, &info), SHM_OK);
    uint32_t reclaimed = 99;
    EXPECT_ST(shm_zone_repair(z, &reclaimed), SHM_OK);
    EXPECT(reclaimed == 0);
    EXPECT_ST(shm_zone_repair(z, NULL), SHM_OK);
}

/* A NULL out-parameter must make an open fail before it touches anything: no file created, no
 * attach record written, no zone replaced (SHM_OPEN_FRESH). */
static void null_out_opens(void) {
    char victim[160], never[160];
    snprintf(victim, sizeof victim, "%s/shmmetrics-victim", dir);
    snprintf(never, sizeof never, "%s/shmmetrics-never", dir);
    shm_zone *v = NULL;
    shm_counter *vc = NULL;
    EXPECT_ST(shm_zone_open("victim", ZONE_SIZE, SHM_OPEN_CREATE, &v), SHM_OK);
    EXPECT_ST(shm_counter_open(v, NAME("precious"), &vc), SHM_OK);
    shm_counter_inc(vc, 42);
    struct stat st_before, st_after;
    EXPECT(stat(victim, &st_before) == 0);
    struct file_image before = read_file(victim);

    /* 1. Create with a NULL out: no file may appear. */
    EXPECT_ST(shm_zone_open("never", ZONE_SIZE, SHM_OPEN_CREATE, NULL), SHM_ERR_NULL_ARGUMENT);
    EXPECT(access(never, F_OK) != 0);
    EXPECT_ST(shm_zone_open_path(never, ZONE_SIZE, SHM_OPEN_CREATE, 0, NULL), SHM_ERR_NULL_ARGUMENT);
    EXPECT(access(never, F_OK) != 0);
    /* 2. Writable attach with a NULL out: the zone must not be written (no attach record). */
    EXPECT_ST(shm_zone_open("victim", 0, 0, NULL), SHM_ERR_NULL_ARGUMENT);
    struct file_image after = read_file(victim);
    EXPECT(image_diff(&before, &after, 0, 0) < 0);
    free(after.bytes);
    /* 3. Fresh start with a NULL out: the zone must not be replaced. */
    EXPECT_ST(shm_zone_open("victim", ZONE_SIZE, SHM_OPEN_FRESH, NULL), SHM_ERR_NULL_ARGUMENT);
    EXPECT(stat(victim, &st_after) == 0);
    EXPECT(st_after.st_ino == st_before.st_ino);
    {
        shm_zone *r = NULL;
        EXPECT_ST(shm_zone_open("victim", 0, SHM_OPEN_READONLY, &r), SHM_OK);
        uint32_t cur = 0;
        shm_metric_info info;
        EXPECT_ST(shm_zone_next(r, &cur, &info), SHM_OK);
        EXPECT(strcmp(info.name, "precious") == 0 && info.value_i64 == 42);
        EXPECT_ST(shm_zone_close(r), SHM_OK);
    }
    free(before.bytes);
    EXPECT_ST(shm_counter_close(vc), SHM_OK);
    EXPECT_ST(shm_zone_close(v), SHM_OK);
    unlink(victim);
}

static void teardown(void) {
    for (int i = 0; i < 64; i++)
        if (tiny_c[i]) EXPECT_ST(shm_counter_close(tiny_c[i]), SHM_OK);
    EXPECT_ST(shm_counter_release(c), SHM_OK);
    EXPECT_ST(shm_gauge_release(g), SHM_OK);
    EXPECT_ST(shm_gauge_f64_release(f), SHM_OK);
    EXPECT_ST(shm_zone_verify(z), SHM_OK);
    EXPECT_ST(shm_zone_close(tiny), SHM_OK);
    EXPECT_ST(shm_zone_close(ro), SHM_OK);
    EXPECT_ST(shm_zone_close(z), SHM_OK);
    unlink(zone_path);
    unlink(tiny_path);
    unlink(fifo_path);
    unlink(link_path);
    rmdir(dir_as_zone);
    if (rmdir(dir) != 0) {
        FAILF("zone directory %s not empty at the end: %s", dir, strerror(errno));
    }
}

int main(void) {
    setup();
    run_table();
    handles_outlive_their_zone();
    hot_path_null_and_released();
    status_strings();
    accepted_boundaries();
    null_out_opens();
    teardown();
    printf("test_bad_input: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
