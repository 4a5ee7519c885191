/*
 * _oclip.c — the CPython binding of liboclip (include/oclip.h), the low layer of the `oclip`
 * package: python/oclip/__init__.py builds the OpenCLIP-like API on it.
 *
 * Arrays cross the boundary through the buffer protocol, without NumPy's C API: inputs are
 * read in place when they are C-contiguous with the expected item format (the Python layer
 * converts other arrays once), outputs are written into arrays the Python layer allocated.
 * Every call into the library that computes, reads files or downloads runs with the GIL
 * released (Py_BEGIN_ALLOW_THREADS); an oclip_model handle is internally synchronised
 * (oclip.h, "Thread safety"), so one Model object may be used from several threads at once.
 * Errors become the exception classes the Python layer registers (_set_errors), one per
 * oclip_status, carrying the message and the hint separately.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"

/* ---------------------------------------------------------------------------------------------
 * Errors
 */
#define N_STATUS (OCLIP_E_MISMATCH + 1) /* the statuses of include/oclip.h, OCLIP_OK included */
static PyObject *error_classes[N_STATUS]; /* [0]: oclip.Error; [s]: the class of status s */

static PyObject *py_set_errors(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq)) return NULL;
    if (!PySequence_Check(seq) || PySequence_Size(seq) != N_STATUS) {
        PyErr_SetString(PyExc_TypeError, "_set_errors: a sequence of one class per status");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < N_STATUS; i++) {
        PyObject *c = PySequence_GetItem(seq, i);
        if (!c) return NULL;
        Py_XSETREF(error_classes[i], c);
    }
    Py_RETURN_NONE;
}

/* Raises the class of err->code with (message, hint, status); returns NULL. */
static PyObject *raise_error(const oclip_error *err) {
    char msg[OCLIP_ERROR_MSG_SIZE];
    snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : oclip_status_str(err->code));
    const char *hint = NULL;
    char *h = strstr(msg, "\nhint: ");
    if (h) {
        *h = '\0';
        hint = h + 7;
    }
    int code = (int)err->code;
    PyObject *cls = code > 0 && code < N_STATUS ? error_classes[code] : error_classes[0];
    if (!cls) cls = PyExc_RuntimeError;
    PyObject *exc = PyObject_CallFunction(cls, "szi", msg, hint, code);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *raise_status(oclip_status s, const char *what) {
    oclip_error e;
    e.code = s;
    snprintf(e.msg, sizeof e.msg, "%s", what);
    return raise_error(&e);
}

/* _statuses() -> [oclip_status_str(s) for each status]: the statuses this build knows, for the
 * package's test that every one has its exception class */
static PyObject *py_statuses(PyObject *self, PyObject *noargs) {
    (void)self, (void)noargs;
    PyObject *l = PyList_New(N_STATUS);
    for (int i = 0; l && i < N_STATUS; i++) {
        PyObject *v = PyUnicode_FromString(oclip_status_str((oclip_status)i));
        if (!v) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, i, v);
    }
    return l;
}

/* _raise(status, message): raises what a library error of that status raises (tests) */
static PyObject *py_raise(PyObject *self, PyObject *args) {
    (void)self;
    int code;
    const char *msg;
    if (!PyArg_ParseTuple(args, "is", &code, &msg)) return NULL;
    return raise_status((oclip_status)code, msg);
}

/* ---------------------------------------------------------------------------------------------
 * Buffers
 */
/* A C-contiguous buffer of items of `size` bytes whose struct format is one of `formats`
 * (characters, '@' / '=' / '<' prefixes accepted). */
static int get_buffer(PyObject *o, Py_buffer *b, int writable, const char *formats, size_t size,
                      const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, b, flags) != 0) return -1;
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if ((size_t)b->itemsize != size || strlen(f) != 1 || !strchr(formats, *f)) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of format '%s' (%zu bytes), got '%s'",
                     what, formats, size, b->format ? b->format : "B");
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

static int check_shape(const Py_buffer *b, int ndim, const Py_ssize_t *shape, const char *what) {
    int ok = b->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || b->shape[i] == shape[i];
    if (!ok) {
        char want[128] = "[", got[128] = "[";
        for (int i = 0; i < ndim; i++) {
            if (shape[i] < 0)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%sN", i ? ", " : "");
            else
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%zd", i ? ", " : "",
                         shape[i]);
        }
        strcat(want, "]");
        for (int i = 0; i < b->ndim && i < 8; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zd", i ? ", " : "",
                     b->shape[i]);
        strcat(got, "]");
        PyErr_Format(PyExc_ValueError, "%s: expected shape %s, got %s", what, want, got);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Images: a list of ("path", bytes) / ("data", bytes) / ("raw", w, h, mode, pixels, palette)
 * tuples (the Python layer builds them from paths, file bytes, PIL images, uint8 arrays)
 */
typedef struct {
    oclip_image **img;
    size_t n;
} image_list;

static void images_free(image_list *l) {
    for (size_t i = 0; l->img && i < l->n; i++) oclip_image_free(l->img[i]);
    free(l->img);
    l->img = NULL;
    l->n = 0;
}

static int images_load(PyObject *items, uint64_t max_pixels, int exif, image_list *l) {
    l->img = NULL;
    l->n = 0;
    PyObject *seq = PySequence_Fast(items, "images: a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    l->img = calloc(n ? (size_t)n : 1, sizeof *l->img);
    if (!l->img) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    l->n = (size_t)n;
    oclip_image_options io;
    oclip_image_options_default(&io);
    io.max_pixels = max_pixels;
    io.exif_transpose = exif;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
        const char *kind;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 ||
            !(kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0)))) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "images[%zd]: internal: not an image tuple", i);
            goto fail;
        }
        oclip_error err;
        oclip_status s;
        if (!strcmp(kind, "path") || !strcmp(kind, "data")) {
            Py_buffer b;
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 1), &b, PyBUF_SIMPLE) != 0) goto fail;
            if (kind[0] == 'p') {
                char *path = malloc((size_t)b.len + 1);
                if (!path) {
                    PyBuffer_Release(&b);
                    PyErr_NoMemory();
                    goto fail;
                }
                memcpy(path, b.buf, (size_t)b.len);
                path[b.len] = '\0';
                if (strlen(path) != (size_t)b.len) {
                    free(path);
                    PyBuffer_Release(&b);
                    PyErr_Format(PyExc_ValueError, "images[%zd]: embedded NUL in the path", i);
                    goto fail;
                }
                Py_BEGIN_ALLOW_THREADS
                s = oclip_image_load(path, &io, &l->img[i], &err);
                Py_END_ALLOW_THREADS
                free(path);
            } else {
                Py_BEGIN_ALLOW_THREADS
                s = oclip_image_decode(b.buf, (size_t)b.len, "<bytes>", &io, &l->img[i], &err);
                Py_END_ALLOW_THREADS
            }
            PyBuffer_Release(&b);
            if (s != OCLIP_OK) {
                raise_error(&err);
                goto fail;
            }
        } else if (!strcmp(kind, "raw") && PyTuple_GET_SIZE(t) == 6) {
            unsigned long w = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(t, 1));
            unsigned long h = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(t, 2));
            long mode = PyLong_AsLong(PyTuple_GET_ITEM(t, 3));
            if (PyErr_Occurred()) goto fail;
            if (w == 0 || h == 0 || w > UINT32_MAX || h > UINT32_MAX || mode < 0 ||
                mode > OCLIP_IMAGE_I16B) {
                PyErr_Format(PyExc_ValueError, "images[%zd]: bad size %lux%lu or mode %ld", i,
                             w, h, mode);
                goto fail;
            }
            /* the same pixel limit as the decoders (max_pixels, 0 = the default) */
            uint64_t limit = max_pixels ? max_pixels : 178956970u;
            if ((uint64_t)w * (uint64_t)h > limit) {
                char m[200];
                snprintf(m, sizeof m, "images[%zd]: %lu x %lu pixels exceed the limit of %llu", i,
                         w, h, (unsigned long long)limit);
                raise_status(OCLIP_E_NOMEM, m);
                goto fail;
            }
            if (oclip_image_new((uint32_t)w, (uint32_t)h, (oclip_image_mode)mode, &l->img[i],
                                &err) != OCLIP_OK) {
                raise_error(&err);
                goto fail;
            }
            oclip_image *im = l->img[i];
            Py_buffer px;
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 4), &px, PyBUF_SIMPLE) != 0) goto fail;
            size_t need = (size_t)w * h * im->channels;
            if ((size_t)px.len != need) {
                PyErr_Format(PyExc_ValueError, "images[%zd]: %zd pixel bytes, expected %zu", i,
                             px.len, need);
                PyBuffer_Release(&px);
                goto fail;
            }
            memcpy(im->pixels, px.buf, need);
            PyBuffer_Release(&px);
            PyObject *pal = PyTuple_GET_ITEM(t, 5);
            if (pal != Py_None) {
                Py_buffer pb;
                if (PyObject_GetBuffer(pal, &pb, PyBUF_SIMPLE) != 0) goto fail;
                size_t k = (size_t)pb.len < sizeof im->palette ? (size_t)pb.len : sizeof im->palette;
                memcpy(im->palette, pb.buf, k);
                PyBuffer_Release(&pb);
            }
        } else {
            PyErr_Format(PyExc_TypeError, "images[%zd]: internal: unknown image kind '%s'", i, kind);
            goto fail;
        }
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    images_free(l);
    return -1;
}

/* (h, w, (m0, m1, m2), (s0, s1, s2), interpolation, resize_mode, fill_color, max_pixels) */
static int parse_preprocess(PyObject *o, oclip_preprocess_cfg *c) {
    oclip_preprocess_cfg_default(c);
    const char *interp, *mode;
    unsigned long long maxpx = 0;
    if (!PyArg_ParseTuple(o, "ii(ddd)(ddd)ssiK", &c->size[0], &c->size[1], &c->mean[0],
                          &c->mean[1], &c->mean[2], &c->std[0], &c->std[1], &c->std[2], &interp,
                          &mode, &c->fill_color, &maxpx))
        return -1;
    if (strlen(interp) >= sizeof c->interpolation || strlen(mode) >= sizeof c->resize_mode) {
        PyErr_SetString(PyExc_ValueError, "interpolation / resize_mode: too long");
        return -1;
    }
    strcpy(c->interpolation, interp);
    strcpy(c->resize_mode, mode);
    c->max_pixels = maxpx;
    return 0;
}

static PyObject *preprocess_dict(const oclip_preprocess_cfg *p) {
    return Py_BuildValue("{s:(ii),s:(ddd),s:(ddd),s:s,s:s,s:i}", "size", p->size[0], p->size[1],
                         "mean", p->mean[0], p->mean[1], p->mean[2], "std", p->std[0], p->std[1],
                         p->std[2], "interpolation", p->interpolation, "resize_mode",
                         p->resize_mode, "fill_color", p->fill_color);
}

static PyObject *config_json(const oclip_model_config *c) {
    if (!c) Py_RETURN_NONE;
    char *s = oclip_config_to_json(c);
    if (!s) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(s);
    oclip_free(s);
    return r;
}

/* preprocess(images, cfg, out[n, 3, h, w] float32, max_pixels, exif) */
static PyObject *py_preprocess(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *items, *cfgo, *outo;
    int exif = 0;
    if (!PyArg_ParseTuple(args, "OOO|p", &items, &cfgo, &outo, &exif)) return NULL;
    oclip_preprocess_cfg cfg;
    if (parse_preprocess(cfgo, &cfg) != 0) return NULL;
    Py_buffer out;
    if (get_buffer(outo, &out, 1, "f", 4, "preprocess out") != 0) return NULL;
    image_list l;
    if (images_load(items, cfg.max_pixels, exif, &l) != 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_ssize_t shape[4] = {(Py_ssize_t)l.n, 3, cfg.size[0], cfg.size[1]};
    if (check_shape(&out, 4, shape, "preprocess out") != 0) {
        images_free(&l);
        PyBuffer_Release(&out);
        return NULL;
    }
    oclip_error err;
    oclip_status s = OCLIP_OK;
    size_t per = (size_t)3 * (size_t)cfg.size[0] * (size_t)cfg.size[1];
    size_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i < l.n && s == OCLIP_OK; i++) s = oclip_preprocess(l.img[i], &cfg, (float *)out.buf + i * per, &err);
    Py_END_ALLOW_THREADS
    images_free(&l);
    PyBuffer_Release(&out);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * Model
 */
typedef struct {
    PyObject_HEAD
    oclip_model *m;
} ModelObject;

static PyTypeObject ModelType;

static void model_dealloc(ModelObject *self) {
    oclip_model_free(self->m);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_dtype(const char *s, oclip_dtype *dt) {
    if (!s || !strcmp(s, "") || !strcmp(s, "keep") || !strcmp(s, "f32") || !strcmp(s, "fp32") ||
        !strcmp(s, "float32"))
        *dt = OCLIP_DTYPE_KEEP;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *dt = OCLIP_DTYPE_BF16;
    else if (!strcmp(s, "f16") || !strcmp(s, "fp16") || !strcmp(s, "float16")) *dt = OCLIP_DTYPE_F16;
    else if (!strcmp(s, "int8") || !strcmp(s, "i8")) *dt = OCLIP_DTYPE_I8;
    else return -1;
    return 0;
}

/* Source options shared by load / source_info / inspect / check / convert. */
typedef struct {
    const char *arch, *config_file;
    int quick_gelu; /* 0 unset, 1 on, 2 off */
    int fetch;      /* oclip_fetch */
    int offline;
} src_args;

static void fill_source(const src_args *a, int weights_optional, oclip_source_options *so,
                        oclip_pull_options *po) {
    oclip_source_options_default(so);
    oclip_pull_options_default(po);
    po->offline = a->offline;
    so->arch = a->arch;
    so->config_file = a->config_file;
    so->quick_gelu = (oclip_quick_gelu)a->quick_gelu;
    so->weights_optional = weights_optional;
    so->fetch = (oclip_fetch)a->fetch;
    so->pull = po;
}

static int check_src_args(const src_args *a) {
    if (a->quick_gelu < 0 || a->quick_gelu > 2 || a->fetch < 0 || a->fetch > 2) {
        PyErr_SetString(PyExc_ValueError, "quick_gelu / fetch out of range");
        return -1;
    }
    return 0;
}

/* load(spec, threads, dtype, arch, config_file, quick_gelu, fetch, offline) -> Model */
static PyObject *py_load(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "threads", "dtype", "arch", "config_file", "quick_gelu",
                             "fetch", "offline", NULL};
    const char *spec = NULL, *dtype = NULL;
    int threads = 0;
    src_args a = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "z|izzziip", kwlist, &spec, &threads, &dtype,
                                     &a.arch, &a.config_file, &a.quick_gelu, &a.fetch, &a.offline))
        return NULL;
    if (check_src_args(&a) != 0) return NULL;
    if (threads < 0) {
        PyErr_SetString(PyExc_ValueError, "threads: 0 (all cores) or more");
        return NULL;
    }
    oclip_model_options mo;
    oclip_model_options_default(&mo);
    mo.threads = threads;
    if (parse_dtype(dtype, &mo.weight_dtype) != 0) {
        PyErr_Format(PyExc_ValueError, "dtype '%s': expected None, 'f32', 'bf16', 'f16' or 'int8'",
                     dtype);
        return NULL;
    }
    oclip_source_options so;
    oclip_pull_options po;
    fill_source(&a, 0, &so, &po);
    mo.source = &so;
    oclip_model *m = NULL;
    oclip_error err;
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_model_load(spec, &mo, &m, &err);
    Py_END_ALLOW_THREADS
    if (s != OCLIP_OK) return raise_error(&err);
    ModelObject *o = PyObject_New(ModelObject, &ModelType);
    if (!o) {
        oclip_model_free(m);
        return NULL;
    }
    o->m = m;
    return (PyObject *)o;
}

static int out_rows(PyObject *outo, Py_buffer *out, Py_ssize_t n, Py_ssize_t cols, const char *what) {
    if (get_buffer(outo, out, 1, "f", 4, what) != 0) return -1;
    Py_ssize_t shape[2] = {n, cols};
    if (check_shape(out, 2, shape, what) != 0) {
        PyBuffer_Release(out);
        return -1;
    }
    return 0;
}

/* encode_image(pixels[n, 3, H, W] float32, out[n, E] float32, normalize) */
static PyObject *model_encode_image(ModelObject *self, PyObject *args) {
    PyObject *ino, *outo;
    int normalize = 0;
    if (!PyArg_ParseTuple(args, "OO|p", &ino, &outo, &normalize)) return NULL;
    int h, w;
    oclip_model_image_size(self->m, &h, &w);
    Py_buffer in, out;
    if (get_buffer(ino, &in, 0, "f", 4, "encode_image pixels") != 0) return NULL;
    Py_ssize_t shape[4] = {-1, 3, h, w};
    if (check_shape(&in, 4, shape, "encode_image pixels") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    Py_ssize_t n = in.shape[0];
    if (out_rows(outo, &out, n, oclip_model_embed_dim(self->m), "encode_image out") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    oclip_error err;
    oclip_status s = OCLIP_OK;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        s = oclip_encode_image(self->m, in.buf, (size_t)n, out.buf, normalize, &err);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
}

/* encode_images(images, out[n, E], normalize, max_pixels, exif): files / bytes / raw images,
 * each preprocessed with the model's preprocessing */
static PyObject *model_encode_images(ModelObject *self, PyObject *args) {
    PyObject *items, *outo;
    int normalize = 0, exif = 0;
    unsigned long long maxpx = 0;
    if (!PyArg_ParseTuple(args, "OO|pKp", &items, &outo, &normalize, &maxpx, &exif)) return NULL;
    image_list l;
    if (images_load(items, maxpx, exif, &l) != 0) return NULL;
    Py_buffer out;
    if (out_rows(outo, &out, (Py_ssize_t)l.n, oclip_model_embed_dim(self->m), "encode_image out") != 0) {
        images_free(&l);
        return NULL;
    }
    oclip_error err;
    oclip_status s = OCLIP_OK;
    if (l.n) {
        Py_BEGIN_ALLOW_THREADS
        s = oclip_encode_images(self->m, (const oclip_image *const *)l.img, l.n, out.buf,
                                normalize, &err);
        Py_END_ALLOW_THREADS
    }
    images_free(&l);
    PyBuffer_Release(&out);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
}

/* encode_text(tokens[n, ctx] int64, out[n, E], normalize) */
static PyObject *model_encode_text(ModelObject *self, PyObject *args) {
    PyObject *ino, *outo;
    int normalize = 0;
    if (!PyArg_ParseTuple(args, "OO|p", &ino, &outo, &normalize)) return NULL;
    Py_buffer in, out;
    if (get_buffer(ino, &in, 0, "lq", 8, "encode_text tokens") != 0) return NULL;
    Py_ssize_t shape[2] = {-1, oclip_model_context_length(self->m)};
    if (check_shape(&in, 2, shape, "encode_text tokens") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    Py_ssize_t n = in.shape[0];
    if (out_rows(outo, &out, n, oclip_model_embed_dim(self->m), "encode_text out") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    oclip_error err;
    oclip_status s = OCLIP_OK;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        s = oclip_encode_text(self->m, in.buf, (size_t)n, out.buf, normalize, &err);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
}

/* UTF-8 pointers and lengths of a sequence of str; `keep` holds the sequence (the strings'
 * UTF-8 buffers live as long as the strings). */
static int utf8_list(PyObject *o, PyObject **keep, const char ***ptrs, size_t **lens, size_t *n,
                     const char *what) {
    *keep = PySequence_Tuple(o);
    if (!*keep) return -1;
    *n = (size_t)PyTuple_GET_SIZE(*keep);
    *ptrs = malloc((*n ? *n : 1) * sizeof **ptrs);
    *lens = malloc((*n ? *n : 1) * sizeof **lens);
    if (!*ptrs || !*lens) {
        PyErr_NoMemory();
        goto fail;
    }
    for (size_t i = 0; i < *n; i++) {
        PyObject *s = PyTuple_GET_ITEM(*keep, (Py_ssize_t)i);
        if (!PyUnicode_Check(s)) {
            PyErr_Format(PyExc_TypeError, "%s[%zu]: expected str, got %s", what, i,
                         Py_TYPE(s)->tp_name);
            goto fail;
        }
        Py_ssize_t len;
        (*ptrs)[i] = PyUnicode_AsUTF8AndSize(s, &len);
        if (!(*ptrs)[i]) goto fail;
        (*lens)[i] = (size_t)len;
    }
    return 0;
fail:
    free(*ptrs);
    free(*lens);
    *ptrs = NULL;
    *lens = NULL;
    Py_CLEAR(*keep);
    return -1;
}

/* encode_text_strings(texts, out[n, E], normalize) */
static PyObject *model_encode_text_strings(ModelObject *self, PyObject *args) {
    PyObject *texts, *outo, *keep;
    int normalize = 0;
    if (!PyArg_ParseTuple(args, "OO|p", &texts, &outo, &normalize)) return NULL;
    const char **p;
    size_t *lens, n;
    if (utf8_list(texts, &keep, &p, &lens, &n, "texts") != 0) return NULL;
    Py_buffer out;
    PyObject *ret = NULL;
    if (out_rows(outo, &out, (Py_ssize_t)n, oclip_model_embed_dim(self->m), "encode_text out") == 0) {
        oclip_error err;
        oclip_status s = OCLIP_OK;
        if (n) {
            Py_BEGIN_ALLOW_THREADS
            s = oclip_encode_text_strings(self->m, p, lens, n, out.buf, normalize, &err);
            Py_END_ALLOW_THREADS
        }
        PyBuffer_Release(&out);
        if (s != OCLIP_OK) raise_error(&err);
        else { Py_INCREF(Py_None); ret = Py_None; }
    }
    free(p);
    free(lens);
    Py_DECREF(keep);
    return ret;
}

/* logits(img[n, E], txt[m, E], out[n, m]) */
static PyObject *model_logits(ModelObject *self, PyObject *args) {
    PyObject *io, *to, *oo;
    if (!PyArg_ParseTuple(args, "OOO", &io, &to, &oo)) return NULL;
    Py_ssize_t E = oclip_model_embed_dim(self->m);
    Py_buffer bi, bt, bo;
    Py_ssize_t sh[2] = {-1, E};
    if (get_buffer(io, &bi, 0, "f", 4, "image features") != 0) return NULL;
    if (check_shape(&bi, 2, sh, "image features") != 0) goto f1;
    if (get_buffer(to, &bt, 0, "f", 4, "text features") != 0) goto f1;
    if (check_shape(&bt, 2, sh, "text features") != 0) goto f2;
    if (out_rows(oo, &bo, bi.shape[0], bt.shape[0], "logits out") != 0) goto f2;
    oclip_error err;
    oclip_status s = OCLIP_OK;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_logits(self->m, bi.buf, (size_t)bi.shape[0], bt.buf, (size_t)bt.shape[0], bo.buf, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bi);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
f2:
    PyBuffer_Release(&bt);
f1:
    PyBuffer_Release(&bi);
    return NULL;
}

/* zero_shot_classifier(labels, templates, out[n_labels, E]) */
static PyObject *model_zero_shot_classifier(ModelObject *self, PyObject *args) {
    PyObject *labels, *templates, *outo, *k1, *k2;
    if (!PyArg_ParseTuple(args, "OOO", &labels, &templates, &outo)) return NULL;
    const char **lp, **tp;
    size_t *ll, *tl, nl, nt;
    if (utf8_list(labels, &k1, &lp, &ll, &nl, "classnames") != 0) return NULL;
    PyObject *ret = NULL;
    if (utf8_list(templates, &k2, &tp, &tl, &nt, "templates") == 0) {
        Py_buffer out;
        if (out_rows(outo, &out, (Py_ssize_t)nl, oclip_model_embed_dim(self->m), "classifier out") == 0) {
            oclip_error err;
            oclip_status s;
            /* the library's strings are NUL-terminated: a NUL inside one would cut it */
            int nul = 0;
            for (size_t i = 0; i < nl; i++) nul |= strlen(lp[i]) != ll[i];
            for (size_t i = 0; i < nt; i++) nul |= strlen(tp[i]) != tl[i];
            if (nul) {
                PyErr_SetString(PyExc_ValueError, "classnames / templates: embedded NUL");
            } else {
                Py_BEGIN_ALLOW_THREADS
                s = oclip_zero_shot_classifier(self->m, lp, nl, tp, nt, out.buf, &err);
                Py_END_ALLOW_THREADS
                if (s != OCLIP_OK) raise_error(&err);
                else { Py_INCREF(Py_None); ret = Py_None; }
            }
            PyBuffer_Release(&out);
        }
        free(tp);
        free(tl);
        Py_DECREF(k2);
    }
    free(lp);
    free(ll);
    Py_DECREF(k1);
    return ret;
}

/* zero_shot_probs(img[n, E], weights[L, E], out[n, L]) */
static PyObject *model_zero_shot_probs(ModelObject *self, PyObject *args) {
    PyObject *io, *wo, *oo;
    if (!PyArg_ParseTuple(args, "OOO", &io, &wo, &oo)) return NULL;
    Py_ssize_t E = oclip_model_embed_dim(self->m);
    Py_buffer bi, bw, bo;
    Py_ssize_t sh[2] = {-1, E};
    if (get_buffer(io, &bi, 0, "f", 4, "image features") != 0) return NULL;
    if (check_shape(&bi, 2, sh, "image features") != 0) goto f1;
    if (get_buffer(wo, &bw, 0, "f", 4, "classifier") != 0) goto f1;
    if (check_shape(&bw, 2, sh, "classifier") != 0) goto f2;
    if (out_rows(oo, &bo, bi.shape[0], bw.shape[0], "probs out") != 0) goto f2;
    oclip_error err;
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_zero_shot_probs(self->m, bi.buf, (size_t)bi.shape[0], bw.buf, (size_t)bw.shape[0],
                              bo.buf, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&bi);
    if (s != OCLIP_OK) return raise_error(&err);
    Py_RETURN_NONE;
f2:
    PyBuffer_Release(&bw);
f1:
    PyBuffer_Release(&bi);
    return NULL;
}

/* info() -> dict: embed_dim, image_size, context_length, logit_scale, logit_bias,
 * has_logit_bias, threads, source, config (JSON text), preprocess, hf_tokenizer */
static PyObject *model_info(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    int h, w;
    oclip_model_image_size(self->m, &h, &w);
    const oclip_model_config *c = oclip_model_config_of(self->m);
    PyObject *cfg = config_json(c);
    if (!cfg) return NULL;
    PyObject *pre = preprocess_dict(oclip_model_preprocess(self->m));
    if (!pre) {
        Py_DECREF(cfg);
        return NULL;
    }
    return Py_BuildValue("{s:i,s:(ii),s:i,s:f,s:f,s:O,s:i,s:s,s:N,s:N,s:s,s:s}", "embed_dim",
                         oclip_model_embed_dim(self->m), "image_size", h, w, "context_length",
                         oclip_model_context_length(self->m), "logit_scale",
                         (double)oclip_model_logit_scale(self->m), "logit_bias",
                         (double)oclip_model_logit_bias(self->m), "has_logit_bias",
                         c->has_logit_bias ? Py_True : Py_False, "threads",
                         oclip_model_threads(self->m), "source", oclip_model_source(self->m),
                         "config", cfg, "preprocess", pre, "hf_tokenizer",
                         c->text.hf_tokenizer_name, "name", c->name);
}

/* set_threads(n): oclip_model_set_threads (safe while other threads encode) */
static PyObject *model_set_threads(ModelObject *self, PyObject *args) {
    int n;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    oclip_error err;
    if (oclip_model_set_threads(self->m, n, &err) != OCLIP_OK) return raise_error(&err);
    return PyLong_FromLong(oclip_model_threads(self->m));
}

static PyObject *model_threads(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    return PyLong_FromLong(oclip_model_threads(self->m));
}

static PyObject *model_fingerprint(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    char fp[33];
    oclip_error err;
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_model_fingerprint(self->m, fp, &err);
    Py_END_ALLOW_THREADS
    if (s != OCLIP_OK) return raise_error(&err);
    return PyUnicode_FromString(fp);
}

static PyObject *ids_list(const int64_t *ids, size_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *v = PyLong_FromLongLong((long long)ids[i]);
        if (!v) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

static PyObject *model_can_caption(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    return PyBool_FromLong(oclip_model_can_caption(self->m));
}

/* caption(image, (num_beams, num_beam_groups, seq_len, min_seq_len, repetition_penalty),
 * max_pixels, exif) -> [ids]: image a list of one image tuple (decoded, then preprocessed with
 * the model's transform, as encode_images) or preprocessed pixels float32 [3, H, W]. What
 * OpenCLIP's model.generate(image) returns for it (oclip_caption). */
static PyObject *model_caption(ModelObject *self, PyObject *args) {
    PyObject *imo;
    oclip_caption_options o;
    oclip_caption_options_default(&o);
    unsigned long long maxpx = 0;
    int exif = 0;
    if (!PyArg_ParseTuple(args, "O(iiiid)|Kp", &imo, &o.num_beams, &o.num_beam_groups,
                          &o.seq_len, &o.min_seq_len, &o.repetition_penalty, &maxpx, &exif))
        return NULL;
    if (o.num_beams < 1 || o.num_beam_groups < 1 || o.seq_len < 1 || o.min_seq_len < 1 ||
        !(o.repetition_penalty > 0)) {
        /* 0 would mean "the default" to the library: refused here instead */
        PyErr_SetString(PyExc_ValueError, "caption: options out of range");
        return NULL;
    }
    const oclip_preprocess_cfg *cfg = oclip_model_preprocess(self->m);
    size_t per = (size_t)3 * (size_t)cfg->size[0] * (size_t)cfg->size[1];
    int64_t *ids = malloc((size_t)o.seq_len * sizeof *ids);
    if (!ids) return PyErr_NoMemory();
    oclip_error err;
    oclip_status s;
    size_t n = 0;
    if (PyList_Check(imo)) {
        image_list l;
        if (PyList_GET_SIZE(imo) != 1) {
            free(ids);
            PyErr_SetString(PyExc_ValueError, "caption: one image");
            return NULL;
        }
        float *px = malloc(per * sizeof *px);
        if (!px) {
            free(ids);
            return PyErr_NoMemory();
        }
        if (images_load(imo, maxpx, exif, &l) != 0) {
            free(px);
            free(ids);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        s = oclip_preprocess(l.img[0], cfg, px, &err);
        if (s == OCLIP_OK) s = oclip_caption(self->m, px, &o, ids, (size_t)o.seq_len, &n, &err);
        Py_END_ALLOW_THREADS
        images_free(&l);
        free(px);
    } else {
        Py_buffer in;
        if (get_buffer(imo, &in, 0, "f", 4, "caption pixels") != 0) {
            free(ids);
            return NULL;
        }
        Py_ssize_t shape[3] = {3, cfg->size[0], cfg->size[1]};
        if (check_shape(&in, 3, shape, "caption pixels") != 0) {
            PyBuffer_Release(&in);
            free(ids);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        s = oclip_caption(self->m, in.buf, &o, ids, (size_t)o.seq_len, &n, &err);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&in);
    }
    PyObject *ret = s == OCLIP_OK ? ids_list(ids, n) : raise_error(&err);
    free(ids);
    return ret;
}

static PyMethodDef model_methods[] = {
    {"encode_image", (PyCFunction)model_encode_image, METH_VARARGS,
     "encode_image(pixels, out, normalize): pixels float32 [N,3,H,W] -> out float32 [N,E]"},
    {"encode_images", (PyCFunction)model_encode_images, METH_VARARGS,
     "encode_images(images, out, normalize, max_pixels, exif): image tuples -> out [N,E]"},
    {"encode_text", (PyCFunction)model_encode_text, METH_VARARGS,
     "encode_text(tokens, out, normalize): tokens int64 [N,ctx] -> out float32 [N,E]"},
    {"encode_text_strings", (PyCFunction)model_encode_text_strings, METH_VARARGS,
     "encode_text_strings(texts, out, normalize): list of str -> out float32 [N,E]"},
    {"logits", (PyCFunction)model_logits, METH_VARARGS,
     "logits(image_features, text_features, out): OpenCLIP's get_logits"},
    {"zero_shot_classifier", (PyCFunction)model_zero_shot_classifier, METH_VARARGS,
     "zero_shot_classifier(classnames, templates, out[L,E])"},
    {"zero_shot_probs", (PyCFunction)model_zero_shot_probs, METH_VARARGS,
     "zero_shot_probs(image_features, classifier[L,E], out[N,L])"},
    {"can_caption", (PyCFunction)model_can_caption, METH_NOARGS,
     "can_caption() -> True for a model with a text decoder (CoCa)"},
    {"caption", (PyCFunction)model_caption, METH_VARARGS,
     "caption([image tuple] | pixels[3,H,W], (beams, groups, seq_len, min_len, penalty), "
     "max_pixels, exif) -> [ids]"},
    {"info", (PyCFunction)model_info, METH_NOARGS, "info() -> dict"},
    {"fingerprint", (PyCFunction)model_fingerprint, METH_NOARGS, "fingerprint() -> str"},
    {"set_threads", (PyCFunction)model_set_threads, METH_VARARGS,
     "set_threads(n) -> the count now (0: all cores); safe while other threads encode"},
    {"threads", (PyCFunction)model_threads, METH_NOARGS, "threads() -> the worker threads per call"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "oclip._oclip.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = (destructor)model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A loaded oclip_model (thread-safe: one handle may be used by several threads).",
    .tp_methods = model_methods,
};

/* ---------------------------------------------------------------------------------------------
 * Tokenizer
 */
/* tokenize(texts, context_length, clean, out[n, ctx] int64) */
static PyObject *py_tokenize(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *texts, *outo, *keep;
    Py_ssize_t ctx;
    int clean;
    if (!PyArg_ParseTuple(args, "OniO", &texts, &ctx, &clean, &outo)) return NULL;
    if (ctx < 1 || clean < 0 || clean > 2) {
        PyErr_SetString(PyExc_ValueError, "context_length >= 1; clean lower|whitespace|canonicalize");
        return NULL;
    }
    const char **p;
    size_t *lens, n;
    if (utf8_list(texts, &keep, &p, &lens, &n, "texts") != 0) return NULL;
    Py_buffer out;
    PyObject *ret = NULL;
    if (get_buffer(outo, &out, 1, "lq", 8, "tokens out") == 0) {
        Py_ssize_t sh[2] = {(Py_ssize_t)n, ctx};
        if (check_shape(&out, 2, sh, "tokens out") == 0) {
            oclip_error err;
            oclip_status s = OCLIP_OK;
            Py_BEGIN_ALLOW_THREADS
            for (size_t i = 0; i < n && s == OCLIP_OK; i++)
                s = oclip_tokenize(p[i], lens[i], (oclip_clean)clean, (int64_t *)out.buf + i * (size_t)ctx,
                                   (size_t)ctx, &err);
            Py_END_ALLOW_THREADS
            if (s != OCLIP_OK) raise_error(&err);
            else { Py_INCREF(Py_None); ret = Py_None; }
        }
        PyBuffer_Release(&out);
    }
    free(p);
    free(lens);
    Py_DECREF(keep);
    return ret;
}

/* ---------------------------------------------------------------------------------------------
 * Sources, inspect, check, convert, pull
 */
static PyObject *str_list(size_t n, const char *(*get)(const oclip_source *, size_t),
                         const oclip_source *s) {
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *v = PyUnicode_FromString(get(s, i));
        if (!v || PyList_Append(l, v) != 0) {
            Py_XDECREF(v);
            Py_CLEAR(l);
            break;
        }
        Py_DECREF(v);
    }
    return l;
}

static const char *kind_name(oclip_source_kind k) {
    static const char *const names[] = {"embedded", "file", "dir", "hf-hub", "pretrained", "arch",
                                        "config"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

static PyObject *source_dict(const oclip_source *s) {
    PyObject *cfg = config_json(oclip_source_config(s));
    if (!cfg) return NULL;
    const oclip_fetch_info *fi = oclip_source_fetch_info(s);
    const oclip_model_config *c = oclip_source_config(s);
    return Py_BuildValue(
        "{s:s,s:s,s:N,s:s,s:N,s:s,s:s,s:s,s:N,s:N,s:{s:i,s:i,s:K,s:O,s:s},s:s}", "kind",
        kind_name(oclip_source_kind_of(s)), "path", oclip_source_path(s), "config", cfg,
        "config_origin", oclip_source_config_origin(s), "preprocess",
        preprocess_dict(oclip_source_preprocess(s)), "preprocess_origin",
        oclip_source_preprocess_origin(s), "tag", oclip_source_tag(s), "description",
        oclip_source_description(s), "notes",
        str_list(oclip_source_n_notes(s), oclip_source_note, s), "warnings",
        str_list(oclip_source_n_warnings(s), oclip_source_warning, s), "fetch", "files",
        fi->files, "downloaded", fi->downloaded, "bytes", (unsigned long long)fi->bytes, "offline",
        fi->offline ? Py_True : Py_False, "commit", fi->commit ? fi->commit : "",
        "hf_tokenizer", c ? c->text.hf_tokenizer_name : "");
}

static oclip_status resolve(const char *spec, const src_args *a, int weights_optional,
                            oclip_source **src, oclip_error *err) {
    oclip_source_options so;
    oclip_pull_options po;
    fill_source(a, weights_optional, &so, &po);
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_source_resolve(spec, &so, src, err);
    Py_END_ALLOW_THREADS
    return s;
}

#define SRC_KW "arch", "config_file", "quick_gelu", "fetch", "offline"

/* source_info(spec, weights_optional, ...) -> dict */
static PyObject *py_source_info(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "weights_optional", SRC_KW, NULL};
    const char *spec;
    int wopt = 1;
    src_args a = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "z|pzziip", kwlist, &spec, &wopt, &a.arch,
                                     &a.config_file, &a.quick_gelu, &a.fetch, &a.offline))
        return NULL;
    if (check_src_args(&a) != 0) return NULL;
    oclip_source *src = NULL;
    oclip_error err;
    if (resolve(spec, &a, wopt, &src, &err) != OCLIP_OK) return raise_error(&err);
    PyObject *d = source_dict(src);
    oclip_source_free(src);
    return d;
}

/* The library's JSON text (oclip_inspect_json / oclip_report_json) as a str; NULL (raised)
 * when it is NULL: out of memory. */
static PyObject *json_result(char *text) {
    if (!text) return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(text);
    oclip_free(text);
    return r;
}

static const char *source_label(const oclip_source *src) {
    return oclip_source_kind_of(src) == OCLIP_SOURCE_EMBEDDED ? "default model (embedded)"
                                                              : oclip_source_path(src);
}

/* inspect(spec, tensors, fetch, offline) -> JSON text with the fields of `oclip inspect --json`
 * (oclip_inspect_json) */
static PyObject *py_inspect(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "tensors", "fetch", "offline", NULL};
    const char *spec;
    int list = 0;
    src_args a = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "z|pip", kwlist, &spec, &list, &a.fetch, &a.offline))
        return NULL;
    if (check_src_args(&a) != 0) return NULL;
    oclip_source *src = NULL;
    oclip_error err;
    if (resolve(spec, &a, 0, &src, &err) != OCLIP_OK) return raise_error(&err);
    oclip_status s;
    oclip_report *r = NULL;
    char why[OCLIP_ERROR_MSG_SIZE] = "";
    Py_BEGIN_ALLOW_THREADS
    s = oclip_source_open(src, &err);
    if (s == OCLIP_OK) {
        oclip_error e2;
        if (oclip_source_check(src, 0, &r, &e2) != OCLIP_OK) {
            snprintf(why, sizeof why, "%s", e2.msg);
            r = NULL;
        }
    }
    Py_END_ALLOW_THREADS
    if (s != OCLIP_OK) {
        oclip_source_free(src);
        return raise_error(&err);
    }
    PyObject *ret = json_result(oclip_inspect_json(src, r, why, list));
    oclip_report_free(r);
    oclip_source_free(src);
    return ret;
}

/* Resolves and checks: *src and *r to free; NULL on error (raised). */
static int resolve_check(const char *spec, const src_args *a, int scan, oclip_source **src,
                         oclip_report **r) {
    oclip_error err;
    *src = NULL;
    *r = NULL;
    if (resolve(spec, a, 0, src, &err) != OCLIP_OK) {
        raise_error(&err);
        return -1;
    }
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_source_check(*src, scan, r, &err);
    Py_END_ALLOW_THREADS
    if (s != OCLIP_OK) {
        oclip_source_free(*src);
        *src = NULL;
        raise_error(&err);
        return -1;
    }
    return 0;
}

/* check(spec, scan, arch, config_file, quick_gelu, fetch, offline) -> JSON text */
static PyObject *py_check(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "scan", SRC_KW, NULL};
    const char *spec;
    int scan = 0;
    src_args a = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "z|pzziip", kwlist, &spec, &scan, &a.arch,
                                     &a.config_file, &a.quick_gelu, &a.fetch, &a.offline))
        return NULL;
    if (check_src_args(&a) != 0) return NULL;
    oclip_source *src;
    oclip_report *r;
    if (resolve_check(spec, &a, scan, &src, &r) != 0) return NULL;
    PyObject *ret = json_result(oclip_report_json(src, r));
    oclip_report_free(r);
    oclip_source_free(src);
    return ret;
}

/* convert(spec, out, to, dtype, metadata, arch, config_file, quick_gelu, fetch, offline)
 * -> the check report (JSON text) of the source; raises when it does not fit */
static PyObject *py_convert(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "out", "to", "dtype", "metadata", SRC_KW, NULL};
    const char *spec, *out, *to = "open_clip", *dtype = NULL;
    int metadata = 1;
    src_args a = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zs|zzpzziip", kwlist, &spec, &out, &to, &dtype,
                                     &metadata, &a.arch, &a.config_file, &a.quick_gelu, &a.fetch,
                                     &a.offline))
        return NULL;
    if (check_src_args(&a) != 0) return NULL;
    oclip_convert_options co;
    oclip_convert_options_default(&co);
    if (!to || !strcmp(to, "open_clip")) co.to = OCLIP_FORMAT_OPEN_CLIP;
    else if (!strcmp(to, "hf")) co.to = OCLIP_FORMAT_HF;
    else {
        PyErr_Format(PyExc_ValueError, "to='%s': expected 'open_clip' or 'hf'", to);
        return NULL;
    }
    if (!dtype) co.dtype = OCLIP_DTYPE_KEEP;
    else if (!strcmp(dtype, "f32") || !strcmp(dtype, "float32")) co.dtype = OCLIP_DTYPE_F32;
    else if (!strcmp(dtype, "f16") || !strcmp(dtype, "float16")) co.dtype = OCLIP_DTYPE_F16;
    else if (!strcmp(dtype, "bf16") || !strcmp(dtype, "bfloat16")) co.dtype = OCLIP_DTYPE_BF16;
    else {
        PyErr_Format(PyExc_ValueError, "dtype='%s': expected None, 'f32', 'f16' or 'bf16'", dtype);
        return NULL;
    }
    co.no_metadata = !metadata;
    if (!out[0]) {
        PyErr_SetString(PyExc_ValueError, "out: an empty path");
        return NULL;
    }
    oclip_source *src;
    oclip_report *r;
    if (resolve_check(spec, &a, 0, &src, &r) != 0) return NULL;
    oclip_error err;
    oclip_status s = OCLIP_OK;
    if (!oclip_report_ok(r)) {
        const oclip_model_config *c = oclip_report_config(r);
        err.code = s = OCLIP_E_MISMATCH;
        snprintf(err.msg, sizeof err.msg,
                 "'%s' does not fit %s (architecture: %s): %zu issue(s); nothing written\n"
                 "hint: oclip.check(...) gives the full report",
                 source_label(src), c->name[0] ? c->name : "its architecture",
                 oclip_report_config_source(r), oclip_report_n_issues(r));
    } else {
        /* the preprocessing the source states (else OpenAI's, the library's default), as the
         * CLI's convert */
        if (oclip_source_preprocess_origin(src)[0]) co.preprocess = oclip_source_preprocess(src);
        Py_BEGIN_ALLOW_THREADS
        s = oclip_convert(r, out, &co, &err);
        Py_END_ALLOW_THREADS
    }
    PyObject *ret = NULL;
    if (s != OCLIP_OK) raise_error(&err);
    else ret = json_result(oclip_report_json(src, r));
    oclip_report_free(r);
    oclip_source_free(src);
    return ret;
}

/* pull(spec, offline, endpoint, token, revision) -> source dict */
static PyObject *py_pull(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"spec", "offline", "endpoint", "token", "revision", NULL};
    const char *spec;
    oclip_pull_options po;
    oclip_pull_options_default(&po);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|pzzz", kwlist, &spec, &po.offline,
                                     &po.endpoint, &po.token, &po.revision))
        return NULL;
    oclip_source *src = NULL;
    oclip_error err;
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_pull(spec, &po, &src, &err);
    Py_END_ALLOW_THREADS
    if (s != OCLIP_OK) return raise_error(&err);
    PyObject *d = source_dict(src);
    oclip_source_free(src);
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * Tables
 */
static PyObject *py_list_pretrained(PyObject *self, PyObject *noargs) {
    (void)self, (void)noargs;
    size_t n = oclip_pretrained_count();
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < n; i++) {
        const char *arch, *tag;
        if (!oclip_pretrained_at(i, &arch, &tag)) break;
        PyObject *t = Py_BuildValue("(ss)", arch, tag);
        if (!t || PyList_Append(l, t) != 0) Py_CLEAR(l);
        Py_XDECREF(t);
    }
    return l;
}

static PyObject *py_list_models(PyObject *self, PyObject *noargs) {
    (void)self, (void)noargs;
    size_t n = oclip_config_builtin_count();
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = PyUnicode_FromString(oclip_config_builtin_name(i));
        if (!s || PyList_Append(l, s) != 0) Py_CLEAR(l);
        Py_XDECREF(s);
    }
    return l;
}

static PyObject *cstr_list(const char *const *v, size_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = PyUnicode_FromString(v[i]);
        if (!s) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

static PyObject *py_templates(PyObject *self, PyObject *args) {
    (void)self;
    const char *set;
    if (!PyArg_ParseTuple(args, "s", &set)) return NULL;
    const char *const *t;
    size_t n = oclip_zero_shot_templates(set, &t);
    if (!n) {
        char m[160];
        snprintf(m, sizeof m, "template set '%.60s': expected 'imagenet' or 'simple'", set);
        return raise_status(OCLIP_E_NOTFOUND, m);
    }
    return cstr_list(t, n);
}

static PyObject *py_imagenet_classnames(PyObject *self, PyObject *noargs) {
    (void)self, (void)noargs;
    const char *const *names;
    size_t n = oclip_imagenet_classnames(&names);
    return cstr_list(names, n);
}

/* decode(ids int64 [n] buffer, caption) -> str: SimpleTokenizer.decode (oclip_decode) */
static PyObject *py_decode(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ino;
    int caption = 0;
    if (!PyArg_ParseTuple(args, "O|p", &ino, &caption)) return NULL;
    Py_buffer in;
    if (get_buffer(ino, &in, 0, "lq", 8, "decode ids") != 0) return NULL;
    Py_ssize_t shape[1] = {-1};
    if (check_shape(&in, 1, shape, "decode ids") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    char *text = NULL;
    oclip_error err;
    oclip_status s;
    Py_BEGIN_ALLOW_THREADS
    s = oclip_decode(in.buf, (size_t)in.shape[0], caption, &text, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (s != OCLIP_OK) return raise_error(&err);
    /* valid UTF-8 (ill-formed byte sequences are U+FFFD already) */
    PyObject *r = PyUnicode_FromString(text);
    oclip_free(text);
    return r;
}

static PyObject *py_simd(PyObject *self, PyObject *noargs) {
    (void)self, (void)noargs;
    return PyUnicode_FromString(oclip_simd_name());
}

static PyMethodDef module_methods[] = {
    {"_set_errors", py_set_errors, METH_VARARGS, "registers the exception classes"},
    {"_statuses", py_statuses, METH_NOARGS, "oclip_status_str of every status"},
    {"_raise", py_raise, METH_VARARGS, "_raise(status, message): raises that status's class"},
    {"load", (PyCFunction)(void (*)(void))py_load, METH_VARARGS | METH_KEYWORDS,
     "load(spec, threads, dtype, arch, config_file, quick_gelu, fetch, offline) -> Model"},
    {"preprocess", py_preprocess, METH_VARARGS,
     "preprocess(images, cfg, out, exif): OpenCLIP's inference transform into out [N,3,H,W]"},
    {"tokenize", py_tokenize, METH_VARARGS,
     "tokenize(texts, context_length, clean, out): OpenCLIP's SimpleTokenizer into out"},
    {"source_info", (PyCFunction)(void (*)(void))py_source_info, METH_VARARGS | METH_KEYWORDS,
     "source_info(spec, weights_optional, ...) -> dict"},
    {"inspect", (PyCFunction)(void (*)(void))py_inspect, METH_VARARGS | METH_KEYWORDS,
     "inspect(spec, tensors, fetch, offline) -> JSON text (oclip inspect --json)"},
    {"check", (PyCFunction)(void (*)(void))py_check, METH_VARARGS | METH_KEYWORDS,
     "check(spec, scan, ...) -> JSON text (oclip check --json)"},
    {"convert", (PyCFunction)(void (*)(void))py_convert, METH_VARARGS | METH_KEYWORDS,
     "convert(spec, out, to, dtype, metadata, ...) -> JSON text (the check report)"},
    {"pull", (PyCFunction)(void (*)(void))py_pull, METH_VARARGS | METH_KEYWORDS,
     "pull(spec, offline, endpoint, token, revision) -> dict"},
    {"list_pretrained", py_list_pretrained, METH_NOARGS, "[(arch, tag), ...]"},
    {"list_models", py_list_models, METH_NOARGS, "built-in architecture names"},
    {"templates", py_templates, METH_VARARGS, "templates('imagenet' | 'simple') -> list of str"},
    {"imagenet_classnames", py_imagenet_classnames, METH_NOARGS, "the 1000 ImageNet class names"},
    {"decode", py_decode, METH_VARARGS,
     "decode(ids int64 [n], caption) -> str: SimpleTokenizer.decode (+ the caption recipe)"},
    {"simd", py_simd, METH_NOARGS, "the CPU kernel path: avx512, avx2 or scalar"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "oclip._oclip",
                                        "liboclip, the C library of oclip (low-level binding).",
                                        -1, module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__oclip(void);
PyMODINIT_FUNC PyInit__oclip(void) {
    if (PyType_Ready(&ModelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0 ||
        PyModule_AddStringConstant(m, "__version__", OCLIP_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "CONTEXT_LENGTH", OCLIP_CONTEXT_LENGTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
