/*
 * test.h — a tiny test harness (after sds's test_cond): CHECK records a failure with file:line
 * and carries on; TEST_MAIN_END prints the tally and sets the exit status.
 */
#ifndef OCLIP_TEST_H
#define OCLIP_TEST_H
#include <stdio.h>
#include <string.h>

static int test_failed_, test_passed_;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (cond) {                                                                              \
            test_passed_++;                                                                      \
        } else {                                                                                 \
            test_failed_++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                                        \
    } while (0)

#define CHECKF(cond, ...)                                                                        \
    do {                                                                                         \
        if (cond) {                                                                              \
            test_passed_++;                                                                      \
        } else {                                                                                 \
            test_failed_++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

#define TEST_REPORT(name)                                                                        \
    (fprintf(stderr, "%s: %d passed, %d failed\n", (name), test_passed_, test_failed_),          \
     test_failed_ ? 1 : 0)

#endif
