/* progress.c — see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fmt_amount(char *buf, size_t size, double v, int bytes) {
    if (bytes) snprintf(buf, size, "%.1f MB", v / 1e6);
    else snprintf(buf, size, "%.0f", v);
}

static void fmt_time(char *buf, size_t size, double s) {
    if (s < 0 || s > 359999) snprintf(buf, size, "--:--");
    else if (s >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else snprintf(buf, size, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(cli_progress *p, double t) {
    double el = t - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    char done[32], tot[32], rt[32], eta[16], bar[32];
    fmt_amount(done, sizeof done, (double)p->done, p->bytes);
    fmt_amount(rt, sizeof rt, rate, p->bytes);
    if (p->total) {
        double f = (double)p->done / (double)p->total;
        if (f > 1) f = 1;
        int w = 24, fill = (int)(f * w);
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        fmt_amount(tot, sizeof tot, (double)p->total, p->bytes);
        uint64_t left = p->done < p->total ? p->total - p->done : 0;
        fmt_time(eta, sizeof eta, rate > 0 ? (double)left / rate : -1);
        fprintf(stderr, "%s%s [%s] %3d%% %s/%s %s%s/s ETA %s%s", p->tty ? "\r" : "", p->label,
                bar, (int)(f * 100), done, tot, rt, p->bytes ? "" : " items", eta,
                p->tty ? "\033[K" : "\n");
    } else {
        fmt_time(eta, sizeof eta, el);
        fprintf(stderr, "%s%s %s %s%s/s %s%s", p->tty ? "\r" : "", p->label, done, rt,
                p->bytes ? "" : " items", eta, p->tty ? "\033[K" : "\n");
    }
    fflush(stderr);
    p->drawn = 1;
    p->drawn_done = p->done;
    p->last = t;
}

void cli_progress_start(cli_progress *p, const char *label, uint64_t total, int bytes) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->bytes = bytes;
    const char *env = getenv("OCLIP_PROGRESS");
    p->always = env && !strcmp(env, "always");
    p->tty = isatty(STDERR_FILENO);
    p->active = p->always || (p->tty && !(env && !strcmp(env, "0")));
    p->t0 = p->last = now_s();
}

void cli_progress_update(cli_progress *p, uint64_t done) {
    p->done = done;
    if (!p->active) return;
    double t = now_s();
    /* nothing for the first half second (short jobs stay quiet), then ~10 redraws a second */
    if (!p->always && (t - p->t0 < 0.5 || t - p->last < 0.1)) return;
    draw(p, t);
}

void cli_progress_end(cli_progress *p) {
    if (!p->active || !p->drawn) return;
    if (p->drawn_done != p->done) draw(p, now_s());
    if (p->tty) fputc('\n', stderr);
    p->active = 0;
}
