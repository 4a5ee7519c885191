/* npy.h — writing NumPy .npy files (format 1.0, little-endian, C order) for the CLI. */
#ifndef OCLIP_NPY_H
#define OCLIP_NPY_H
#include <stdint.h>
#include <stdio.h>

/* Writes the header for an array of `descr` ("<f4", "<i8", ...) and shape[0..ndim) to f.
 * Returns 0 on success, -1 on a write error. */
int npy_write_header(FILE *f, const char *descr, int ndim, const int64_t *shape);
#endif
