/*
 * fuzz_blocked.h — what the fuzz targets that open files share: a call that blocked until a
 * signal interrupted it is a finding (fuzz_checkpoint.c, fuzz_index.c).
 */
#ifndef OCLIP_FUZZ_BLOCKED_H
#define OCLIP_FUZZ_BLOCKED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oclip.h"

/* A system call that blocks (open() of a FIFO without O_NONBLOCK waits for a writer forever)
 * does not show as a libFuzzer timeout: libFuzzer's own timer (SIGALRM every timeout/2 + 1 s)
 * interrupts it, and the open fails with EINTR after seconds, an ordinary-looking error. So a
 * call that took over a second and failed with EINTR is the finding (both conditions: the
 * fuzzer soon learns to put the words "Interrupted system call" into a file). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void blocked_check(oclip_status st, const oclip_error *err, double t0) {
    double dt = now_s() - t0;
    if (st != OCLIP_OK && dt > 1.0 && strstr(err->msg, "Interrupted system call")) {
        fprintf(stderr, "fuzz: a call blocked for %.1f s until a signal interrupted it: %s\n", dt,
                err->msg);
        abort();
    }
}

#endif
