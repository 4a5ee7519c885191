/*
 * progress.h — a one-line progress bar with rate and ETA on stderr, for long batches and
 * downloads. Drawn only when stderr is a terminal (and OCLIP_PROGRESS is not "0"); silent
 * otherwise, so scripts and logs see nothing. Redraws at most ~10 times a second, starting after
 * half a second (short jobs stay quiet). OCLIP_PROGRESS=always draws every update, terminal or
 * not (for tests and logs that want it).
 */
#ifndef OCLIP_PROGRESS_H
#define OCLIP_PROGRESS_H
#include <stdint.h>

typedef struct {
    char label[48];
    uint64_t total, done;
    int bytes;     /* 1: sizes in MB and MB/s; 0: items and items/s */
    int active;    /* drawing (stderr is a terminal) */
    int drawn;     /* a line is on screen */
    int always;    /* OCLIP_PROGRESS=always */
    int tty;       /* stderr is a terminal: redraw one line; else one line per update */
    uint64_t drawn_done;
    double t0, last;
} cli_progress;

/* total 0 = unknown (no percentage or ETA). */
void cli_progress_start(cli_progress *p, const char *label, uint64_t total, int bytes);
void cli_progress_update(cli_progress *p, uint64_t done);
/* Draws the final state and ends the line; silent when nothing was drawn. */
void cli_progress_end(cli_progress *p);
#endif
