/* Minimal test helpers for the C suites: CHECK_OK/EXPECT_STATUS/EXPECT abort with a message,
 * and a private zone directory per test run. */
#ifndef SHMMETRICS_CHECK_H
#define SHMMETRICS_CHECK_H

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmmetrics.h"

static int checks_run;

#define EXPECT(cond)                                                                              \
    do {                                                                                          \
        checks_run++;                                                                             \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                  \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#define EXPECT_STATUS(call, want)                                                                 \
    do {                                                                                          \
        checks_run++;                                                                             \
        shm_status got_ = (call);                                                                 \
        if (got_ != (want)) {                                                                     \
            fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s: %s\n", __FILE__, __LINE__, \
                    #call, shm_status_str(got_), (int)got_, #want, shm_last_error());           \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#define CHECK_OK(call) EXPECT_STATUS(call, SHM_OK)

/* A fresh directory for this test's zones; the path of zone file `name` inside it. */
static char test_dir[128];

static void test_dir_init(const char *tag) {
    snprintf(test_dir, sizeof test_dir, "/tmp/shmm-c-%.32s-%ld", tag, (long)getpid());
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", test_dir, test_dir);
    if (system(cmd) != 0) exit(2);
    setenv("SHMMETRICS_DIR", test_dir, 1);
}

static const char *zone_file(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", test_dir, name);
    return buf;
}

static void test_dir_cleanup(void) {
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf %s", test_dir);
    if (system(cmd) != 0) exit(2);
}

static int passed(const char *suite) {
    test_dir_cleanup();
    printf("%s: %d passed, 0 failed\n", suite, checks_run);
    return 0;
}

#endif
