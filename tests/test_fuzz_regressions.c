/*
 * test_fuzz_regressions.c — inputs the fuzzers found problems with (fuzz/regressions/), run
 * through the same calls in `make test` and `make test-asan`, with what must hold now:
 *   config-empty-key-hang        a JSON key "" among unknown keys: the parser terminates
 *   config-hf-*                  HF config.json values OpenCLIP configs cannot hold: refused
 *   tokenizer-empty-text         "" tokenizes to SOT EOT 0... (no NULL+0 under UBSan)
 *   tokenizer-clean-short-buffer a short output buffer holds whole UTF-8 characters only
 * An alarm turns a hang into a failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

#define DIR "fuzz/regressions/"

static unsigned char *input(const char *name, size_t *n) {
    unsigned char *b = read_file(name, n);
    CHECKF(b != NULL, "cannot read %s", name);
    return b;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_fuzz_regressions: timed out (a hang is back)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(60);
    size_t n;
    oclip_error err;
    oclip_model_config cfg;

    /* the parser used to loop forever on a second unknown key "" */
    unsigned char *b = input(DIR "config-empty-key-hang", &n);
    if (b) {
        CHECK(oclip_config_parse((const char *)b, n, &cfg, &err) != OCLIP_OK ||
              strstr(cfg.unknown_keys, "a") != NULL);
        free(b);
    }

    /* HF configs whose OpenCLIP equivalent would be invalid (head_width 0, heads that do not
     * divide the width, sizes or MLP ratios beyond the parser's limits) are refused */
    static const char *const hf[] = {"config-hf-head-width-zero", "config-hf-heads-not-dividing",
                                     "config-hf-mlp-ratio", "config-hf-over-limits"};
    for (size_t i = 0; i < sizeof hf / sizeof *hf; i++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", hf[i]);
        if (!(b = input(path, &n))) continue;
        CHECKF(oclip_config_from_hf((const char *)b, n, &cfg, &err) != OCLIP_OK, "%s accepted",
               hf[i]);
        CHECKF(err.msg[0] != '\0', "%s: empty message", hf[i]);
        free(b);
    }

    /* empty text: [SOT, EOT, 0, ...] */
    int64_t row[8];
    CHECK(oclip_tokenize("", 0, OCLIP_CLEAN_LOWER, row, 8, &err) == OCLIP_OK);
    CHECK(row[0] == OCLIP_SOT_ID && row[1] == OCLIP_EOT_ID && row[2] == 0 && row[7] == 0);
    if ((b = input(DIR "tokenizer-empty-text", &n))) {
        CHECK(oclip_tokenize((const char *)b + 1, n - 1, OCLIP_CLEAN_LOWER, row, 8, &err) ==
              OCLIP_OK);
        free(b);
    }

    /* "a€€€€€" into 16 bytes: "a" + four whole "€" (13 bytes) and a NUL; full length 16 */
    const char *text = "a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";
    char out[16];
    memset(out, 0xaa, sizeof out);
    size_t len = 0;
    CHECK(oclip_tokenize_clean(text, strlen(text), OCLIP_CLEAN_LOWER, out, sizeof out, &len,
                               &err) == OCLIP_OK);
    CHECK(len == 16 && strlen(out) == 13 && memcmp(out, text, 13) == 0);
    return TEST_REPORT("test_fuzz_regressions");
}
