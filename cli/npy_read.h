/* npy_read.h — a strict NumPy .npy reader for the CLI's --pixels / --tokens inputs. */
#ifndef OCLIP_NPY_READ_H
#define OCLIP_NPY_READ_H
#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    uint64_t numel;
    void *data; /* numel elements, malloc'd, aligned for float / int64 */
} npy_array;

/*
 * Reads PATH, which must be a .npy file (format 1.0 or 2.0) holding a C-order array of dtype
 * `descr` exactly ("<f4" or "<i8"; "|"-less little-endian spelling as NumPy writes it), with
 * exactly the data its shape needs and nothing after it. Returns 0, or -1 with a reason in
 * why[why_size] ("dtype is '<f8', expected '<f4' (float32)" ...).
 */
int npy_read(const char *path, const char *descr, npy_array *out, char *why, size_t why_size);
void npy_free(npy_array *a);
#endif
