/*
 * npy_read.c — strict .npy reader. Format (numpy/lib/format.py): magic "\x93NUMPY", major and
 * minor version bytes, header length (u16 LE for 1.0, u32 LE for 2.0), then an ASCII Python dict
 * literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with spaces and ended
 * by '\n'; the raw array bytes follow. Anything else (other versions, Fortran order, other
 * dtypes, extra keys, trailing bytes, short data) is refused: the numbers go straight into the
 * model, so a silently misread file would give wrong embeddings.
 */
#include "npy_read.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER 65536

static const char *skip_ws(const char *p) {
    while (*p == ' ') p++;
    return p;
}

/* 'text' -> out (no escapes: descr and key names never need them) */
static const char *parse_str(const char *p, char *out, size_t size) {
    if (*p != '\'' && *p != '"') return NULL;
    char q = *p++;
    size_t n = 0;
    while (*p && *p != q) {
        if (n + 1 >= size || *p == '\\') return NULL;
        out[n++] = *p++;
    }
    if (*p != q) return NULL;
    out[n] = '\0';
    return p + 1;
}

/* (d0, d1, ...) or () or (d0,) */
static const char *parse_shape(const char *p, npy_array *a) {
    if (*p++ != '(') return NULL;
    a->ndim = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == ')') return p + 1;
        if (!isdigit((unsigned char)*p) || a->ndim == NPY_MAX_DIMS) return NULL;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10) return NULL;
            v = v * 10 + (*p++ - '0');
        }
        a->shape[a->ndim++] = v;
        p = skip_ws(p);
        if (*p == ',') p++;
        else if (*p != ')') return NULL;
    }
}

static int fail(char *why, size_t size, const char *msg, const char *arg) {
    snprintf(why, size, msg, arg);
    return -1;
}

int npy_read(const char *path, const char *descr, npy_array *out, char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(why, why_size, "cannot open: %s", strerror(errno));
    unsigned char pre[12];
    char *hdr = NULL;
    int rc = -1;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6)) {
        fail(why, why_size, "%s", "not a .npy file (no \\x93NUMPY magic)");
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1 && pre[7] == 0) {
        if (fread(pre + 8, 1, 2, f) != 2) goto short_file;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 && pre[7] == 0) {
        if (fread(pre + 8, 1, 4, f) != 4) goto short_file;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
    } else {
        char v[16];
        snprintf(v, sizeof v, "%u.%u", pre[6], pre[7]);
        fail(why, why_size, ".npy format version %s not supported (1.0 or 2.0)", v);
        goto done;
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) {
        fail(why, why_size, "%s", "bad .npy header length");
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        fail(why, why_size, "%s", "out of memory");
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) goto short_file;
    hdr[hlen] = '\0';
    if (hdr[hlen - 1] != '\n' || strlen(hdr) != hlen) {
        fail(why, why_size, "%s", "bad .npy header (not one line of text)");
        goto done;
    }
    /* the dict */
    char key[32], got_descr[32] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    const char *p = skip_ws(hdr);
    if (*p++ != '{') goto bad_header;
    for (;;) {
        p = skip_ws(p);
        if (*p == '}') break;
        if (!(p = parse_str(p, key, sizeof key))) goto bad_header;
        p = skip_ws(p);
        if (*p++ != ':') goto bad_header;
        p = skip_ws(p);
        if (!strcmp(key, "descr") && !have_descr) {
            if (!(p = parse_str(p, got_descr, sizeof got_descr))) goto bad_header;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (!strncmp(p, "False", 5)) p += 5;
            else if (!strncmp(p, "True", 4)) p += 4, fortran = 1;
            else goto bad_header;
            have_order = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!(p = parse_shape(p, out))) goto bad_header;
            have_shape = 1;
        } else {
            goto bad_header;
        }
        p = skip_ws(p);
        if (*p == ',') p++;
        else if (*p != '}') goto bad_header;
    }
    p = skip_ws(p + 1);
    if (*p != '\n' || !have_descr || !have_order || !have_shape) goto bad_header;
    if (strcmp(got_descr, descr)) {
        char msg[96];
        snprintf(msg, sizeof msg, "dtype is '%s', expected '%s' (%s)", got_descr, descr,
                 !strcmp(descr, "<f4") ? "float32" : "int64");
        fail(why, why_size, "%s", msg);
        goto done;
    }
    if (fortran) {
        fail(why, why_size, "%s", "Fortran-order array (save it with np.ascontiguousarray)");
        goto done;
    }
    /* the data: exactly numel * 4 or 8 bytes */
    size_t es = descr[2] == '8' ? 8 : 4;
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < out->ndim; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)out->shape[i], &numel)) goto too_big;
    if (__builtin_mul_overflow(numel, (uint64_t)es, &nbytes) || nbytes > SIZE_MAX) goto too_big;
    out->numel = numel;
    /* compare with what the file holds before allocating anything the shape asks for */
    struct stat st;
    long at = ftell(f);
    if (at < 0 || fstat(fileno(f), &st) != 0) {
        fail(why, why_size, "cannot stat: %s", strerror(errno));
        goto done;
    }
    uint64_t have = (uint64_t)st.st_size > (uint64_t)at ? (uint64_t)st.st_size - (uint64_t)at : 0;
    if (have < nbytes) goto short_file;
    if (have > nbytes) {
        fail(why, why_size, "%s", "bytes after the array data");
        goto done;
    }
    out->data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!out->data) {
        fail(why, why_size, "%s", "out of memory");
        goto done;
    }
    if (fread(out->data, 1, (size_t)nbytes, f) != nbytes) goto short_file;
    rc = 0;
    goto done;
too_big:
    fail(why, why_size, "%s", "array too large");
    goto done;
bad_header:
    fail(why, why_size, "%s", "bad .npy header (expected {'descr', 'fortran_order', 'shape'})");
    goto done;
short_file:
    fail(why, why_size, "%s", "truncated .npy file");
done:
    free(hdr);
    fclose(f);
    if (rc) npy_free(out);
    return rc;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}
