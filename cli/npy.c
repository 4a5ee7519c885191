/*
 * npy.c — NumPy .npy header writer. Format 1.0: magic "\x93NUMPY", version 1.0, u16 LE header
 * length, then a Python dict literal padded with spaces and ended by '\n' so that the data
 * starts at a multiple of 64 bytes (numpy pads to 64 since 1.17).
 */
#include "npy.h"

#include <string.h>

int npy_write_header(FILE *f, const char *descr, int ndim, const int64_t *shape) {
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int i = 0; i < ndim && n > 0 && (size_t)n < sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)shape[i],
                      i + 1 < ndim ? " " : "");
    if (n > 0 && ndim > 1 && (size_t)n < sizeof dict) n--; /* "(2, 3)" not "(2, 3,)" */
    if (n > 0 && (size_t)n < sizeof dict) n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n < 0 || (size_t)n + 1 >= sizeof dict) return -1;
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)n, f) != (size_t)n) return -1;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', f) == EOF) return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}
