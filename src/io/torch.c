/*
 * torch.c — PyTorch containers: the zip format of torch.save (since 1.6), TorchScript archives
 * (torch.jit.save, e.g. OpenAI's ViT-B-32.pt) and the legacy pre-1.6 stream
 * (torch/serialization.py _save, _load, _legacy_load; torch/jit/_serialization.py).
 *
 * zip:    <prefix>/data.pkl is a pickle of the saved object whose tensors reference storages by
 *         persistent id ('storage', <StorageType>, key, location, numel); the bytes of storage
 *         `key` are the stored entry <prefix>/data/<key>. <prefix>/byteorder says "little" or
 *         "big" (absent = little). TorchScript archives add <prefix>/constants.pkl and hold the
 *         module tree in data.pkl as __torch__.* objects whose attributes are the tensors.
 * legacy: five pickles back to back (magic number, protocol 1001, sys info, the object, the list
 *         of storage keys) followed, for each key in that list, by an int64 element count and
 *         the raw bytes. Persistent ids carry a sixth field: (view_key, offset, numel) for a view
 *         into a root storage.
 *
 * What comes out: a name -> tensor table. A training checkpoint ({"epoch", "state_dict", ...})
 * yields its state_dict, and the other top-level entries are recorded. Tensors that are
 * C-contiguous little-endian views point straight into the file; others (strided views, big
 * endian files) are copied once into a contiguous buffer the checkpoint owns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "io/zip.h"

/* Storage records up to this size are CRC-checked when they are first used. */
#define ZIP_CRC_STORAGE_MAX ((uint64_t)1 << 20)

/* =============================================================================================
 * Storage table: persistent-id key -> STORAGE value (shared by every tensor that views it)
 */
typedef struct {
    oc_pk_value **slots; /* open addressing by key hash */
    size_t cap, n;
} storage_table;

static uint64_t key_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static oc_pk_value **storage_slot(storage_table *t, const char *key) {
    size_t mask = t->cap - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask)
        if (!t->slots[i] || strcmp(t->slots[i]->u.storage.key, key) == 0) return &t->slots[i];
}

static bool storage_put(storage_table *t, oc_pk_value *s) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        oc_pk_value **old = t->slots;
        size_t ocap = t->cap;
        t->slots = calloc(ncap, sizeof *t->slots);
        if (!t->slots) {
            t->slots = old;
            return false;
        }
        t->cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i]) *storage_slot(t, old[i]->u.storage.key) = old[i];
        free(old);
    }
    *storage_slot(t, s->u.storage.key) = s;
    t->n++;
    return true;
}

static oc_pk_value *storage_get(storage_table *t, const char *key) {
    return t->cap ? *storage_slot(t, key) : NULL;
}

/* =============================================================================================
 * Reading context
 */
typedef struct {
    oclip_checkpoint *ck;
    oc_pk vm;
    storage_table storages;
    bool big_endian;
    /* zip */
    const oc_zip *zip;
    const char *prefix; /* "<prefix>/" */
    size_t prefix_len;
    uint64_t walk_visits; /* TorchScript module-tree walk budget */
} reader;

/* Common part of the persistent id: ('storage', StorageType, key, location, numel[, view]). */
static oclip_status parse_pid(oc_pk_value *pid, size_t want, oclip_dtype *dtype,
                              const char **key, uint64_t *numel, oclip_error *err) {
    if (pid->type != OC_PK_TUPLE || pid->u.seq.n != want)
        return oc_err_set(err, OCLIP_E_FORMAT, "persistent id is not a %zu-tuple", want);
    oc_pk_value **a = pid->u.seq.items;
    if (a[0]->type != OC_PK_STR || strcmp(a[0]->u.str.s, "storage") != 0)
        return oc_err_set(err, OCLIP_E_UNSAFE, "persistent id is not a 'storage' reference");
    if (a[1]->type != OC_PK_GLOBAL || a[1]->u.global.kind != OC_G_STORAGE_TYPE)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "storage type is not a torch storage class");
    if (a[2]->type != OC_PK_STR || a[2]->u.str.n == 0 || strlen(a[2]->u.str.s) != a[2]->u.str.n)
        return oc_err_set(err, OCLIP_E_FORMAT, "storage key is not a string");
    if (a[4]->type != OC_PK_INT || a[4]->u.i < 0) {
        oc_escbuf kb;
        return oc_err_set(err, OCLIP_E_FORMAT, "storage '%s': size is not a non-negative int",
                          OC_ESC(kb, a[2]->u.str.s));
    }
    *dtype = a[1]->u.global.dtype;
    *key = a[2]->u.str.s;
    *numel = (uint64_t)a[4]->u.i;
    return OCLIP_OK;
}

/* zip: the storage's bytes are the record <prefix>/data/<key>. */
static oclip_status zip_persistent_load(void *ctx, oc_pk *vm, oc_pk_value *pid,
                                        oc_pk_value **out, oclip_error *err) {
    reader *r = ctx;
    oclip_dtype dtype;
    const char *key;
    uint64_t numel, nbytes;
    oclip_status st = parse_pid(pid, 5, &dtype, &key, &numel, err);
    if (st) return st;
    if ((*out = storage_get(&r->storages, key))) return OCLIP_OK;
    oc_escbuf kb;
    if (oc_mul_overflow_u64(numel, oclip_dtype_size(dtype), &nbytes))
        return oc_err_set(err, OCLIP_E_FORMAT, "storage '%s': size overflows", OC_ESC(kb, key));
    char name[512];
    int len = snprintf(name, sizeof name, "%sdata/%s", r->prefix, key);
    if (len < 0 || (size_t)len >= sizeof name)
        return oc_err_set(err, OCLIP_E_FORMAT, "storage key too long");
    const oc_zip_entry *e = oc_zip_find(r->zip, name, (size_t)len);
    if (!e)
        return oc_err_set(err, OCLIP_E_FORMAT, "storage record '%s' is missing", OC_ESC(kb, name));
    const uint8_t *data;
    uint64_t size;
    if ((st = oc_zip_data(r->zip, e, &data, &size, err))) return st;
    if (size < nbytes)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "storage record '%s' holds %llu bytes, %llu expected", OC_ESC(kb, name),
                          (unsigned long long)size, (unsigned long long)nbytes);
    /* Small storages are checked against their CRC-32 here (at ~1 GB/s, a few KiB cost
     * microseconds and the pages are read at first use anyway); large ones are not: a pass
     * over every weight would read the whole file at open (docs/SECURITY.md, "CRC-32"). */
    if (size <= ZIP_CRC_STORAGE_MAX && (st = oc_zip_check_crc(e, data, size, err))) return st;
    oc_pk_value *s = oc_pk_new(vm, OC_PK_STORAGE);
    if (!s) return oc_err_set(err, OCLIP_E_NOMEM, "over the object limit");
    s->u.storage.key = key;
    s->u.storage.dtype = dtype;
    s->u.storage.numel = numel;
    s->u.storage.data = data;
    s->u.storage.big_endian = r->big_endian;
    if (!storage_put(&r->storages, s)) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    *out = s;
    return OCLIP_OK;
}

/* legacy: register the root storage now, resolve its bytes after the key list is read.
 * A view's persistent id names its root and an element offset into it. */
static oclip_status legacy_persistent_load(void *ctx, oc_pk *vm, oc_pk_value *pid,
                                           oc_pk_value **out, oclip_error *err) {
    reader *r = ctx;
    oclip_dtype dtype;
    const char *key;
    uint64_t numel;
    oclip_status st = parse_pid(pid, 6, &dtype, &key, &numel, err);
    if (st) return st;
    oc_pk_value *root = storage_get(&r->storages, key);
    oc_escbuf kb;
    if (!root) {
        root = oc_pk_new(vm, OC_PK_STORAGE);
        if (!root) return oc_err_set(err, OCLIP_E_NOMEM, "over the object limit");
        root->u.storage.key = key;
        root->u.storage.dtype = dtype;
        root->u.storage.numel = numel;
        if (!storage_put(&r->storages, root))
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    } else if (root->u.storage.dtype != dtype || root->u.storage.numel != numel) {
        return oc_err_set(err, OCLIP_E_FORMAT, "storage '%s' described twice differently",
                          OC_ESC(kb, key));
    }
    oc_pk_value *view = pid->u.seq.items[5];
    if (view->type == OC_PK_NONE) {
        *out = root;
        return OCLIP_OK;
    }
    /* (view_key, offset, view_numel) */
    oc_pk_value **v = view->u.seq.items;
    if (view->type != OC_PK_TUPLE || view->u.seq.n != 3 || v[1]->type != OC_PK_INT ||
        v[2]->type != OC_PK_INT || v[1]->u.i < 0 || v[2]->u.i < 0 ||
        (uint64_t)v[1]->u.i > numel || (uint64_t)v[2]->u.i > numel - (uint64_t)v[1]->u.i)
        return oc_err_set(err, OCLIP_E_FORMAT, "storage '%s': malformed or out-of-range view",
                          OC_ESC(kb, key));
    oc_pk_value *s = oc_pk_new(vm, OC_PK_STORAGE);
    if (!s) return oc_err_set(err, OCLIP_E_NOMEM, "over the object limit");
    s->u.storage.key = key;
    s->u.storage.dtype = dtype;
    s->u.storage.numel = (uint64_t)v[2]->u.i;
    s->u.storage.root = root;
    s->u.storage.view_offset = (uint64_t)v[1]->u.i;
    *out = s;
    return OCLIP_OK;
}

/* =============================================================================================
 * Tensors out of TENSOR values
 */
static void byteswap(uint8_t *p, uint64_t numel, size_t es) {
    if (es < 2) return;
    for (uint64_t i = 0; i < numel; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Checks the view against its storage and adds it to the table, zero-copy when it is a
 * C-contiguous little-endian run. */
static oclip_status add_tensor(reader *r, const char *name, size_t name_len, oc_pk_value *t,
                               oclip_error *err) {
    oc_escbuf nb, kb;
    const char *ename = oc_esc(nb.s, sizeof nb.s, name, name_len);
    oc_pk_value *s = t->u.tensor.storage;
    const uint8_t *sdata = s->u.storage.data;
    uint64_t s_elems = s->u.storage.numel;
    if (s->u.storage.root) { /* legacy view */
        sdata = s->u.storage.root->u.storage.data;
        if (sdata) sdata += s->u.storage.view_offset * oclip_dtype_size(s->u.storage.dtype);
    }
    size_t es = oclip_dtype_size(t->u.tensor.dtype);
    /* storages count elements of their own dtype; v3 tensors view untyped (byte) storages */
    uint64_t s_bytes = s_elems * oclip_dtype_size(s->u.storage.dtype); /* checked at load */
    uint64_t avail = s_bytes / es;
    int nd = t->u.tensor.ndim;
    uint64_t numel;
    if (!oc_shape_numel(t->u.tensor.shape, nd, &numel))
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': shape overflows", ename);
    /* highest element index the view touches, and whether it is C-contiguous */
    uint64_t last = (uint64_t)t->u.tensor.offset, expect = 1;
    bool contiguous = true;
    for (int i = nd - 1; i >= 0 && numel; i--) {
        uint64_t dim = (uint64_t)t->u.tensor.shape[i], str = (uint64_t)t->u.tensor.stride[i], span;
        if (oc_mul_overflow_u64(dim - 1, str, &span) || oc_add_overflow_u64(last, span, &last))
            return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': strides overflow", ename);
        if (dim != 1 && str != expect) contiguous = false;
        expect *= dim;
    }
    if (numel && last >= avail)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "tensor '%s': view reaches element %llu of a storage of %llu "
                          "(offset %lld)", ename, (unsigned long long)last,
                          (unsigned long long)avail, (long long)t->u.tensor.offset);
    if (numel && !sdata)
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': storage '%s' has no data", ename,
                          OC_ESC(kb, s->u.storage.key));
    static const uint8_t none[1];
    const uint8_t *src = numel ? sdata + (uint64_t)t->u.tensor.offset * es : none;
    oc_pk_value *owner = s->u.storage.root ? s->u.storage.root : s;
    bool swap = owner->u.storage.big_endian && es > 1;
    if (contiguous && !swap)
        return oc_ck_add_tensor(r->ck, name, name_len, t->u.tensor.dtype, nd, t->u.tensor.shape,
                                src, 0, err);
    /* materialise: gather element by element in C order (only views and big-endian files).
     * A stride-0 (broadcast) view can describe far more elements than its storage holds:
     * refuse expansions beyond 16x the storage (plus 64 MiB) rather than allocate them. */
    uint64_t nbytes;
    if (oc_mul_overflow_u64(numel, es, &nbytes) || nbytes > 16 * s_bytes + (64u << 20))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "tensor '%s': a view of %llu elements over a storage of %llu bytes "
                          "(broadcast strides?)", ename, (unsigned long long)numel,
                          (unsigned long long)s_bytes);
    uint8_t *dst = malloc(nbytes ? nbytes : 1);
    if (!dst || !oc_ck_own(r->ck, dst)) {
        free(dst);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    int64_t idx[OCLIP_MAX_DIMS] = {0};
    for (uint64_t k = 0; k < numel; k++) {
        uint64_t off = (uint64_t)t->u.tensor.offset;
        for (int i = 0; i < nd; i++) off += (uint64_t)idx[i] * (uint64_t)t->u.tensor.stride[i];
        memcpy(dst + k * es, sdata + off * es, es);
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < t->u.tensor.shape[i]) break;
            idx[i] = 0;
        }
    }
    if (swap) byteswap(dst, numel, es);
    return oc_ck_add_tensor(r->ck, name, name_len, t->u.tensor.dtype, nd, t->u.tensor.shape, dst,
                            1, err);
}

/* A dict of name -> tensor: add the tensors, record anything else as an entry. */
static oclip_status add_state_dict(reader *r, oc_pk_value *d, oclip_error *err) {
    for (size_t i = 0; i < d->u.dict.n; i++) {
        oc_pk_value *k = d->u.dict.keys[i], *v = d->u.dict.vals[i];
        if (k->type != OC_PK_STR)
            return oc_err_set(err, OCLIP_E_FORMAT, "state dict key %zu is a %s, not a string", i,
                              oc_pk_type_name(k->type));
        oclip_status st;
        if (v->type == OC_PK_TENSOR) {
            st = add_tensor(r, k->u.str.s, k->u.str.n, v, err);
        } else {
            char desc[256];
            oc_pk_describe(v, desc, sizeof desc);
            st = oc_ck_add_entry(r->ck, k->u.str.s, desc, err);
        }
        if (st) return st;
    }
    return OCLIP_OK;
}

static size_t count_tensors(const oc_pk_value *d) {
    size_t n = 0;
    for (size_t i = 0; i < d->u.dict.n; i++) n += d->u.dict.vals[i]->type == OC_PK_TENSOR;
    return n;
}

/* The root object of a state-dict pickle: the state dict itself, or a training checkpoint. */
static oclip_status extract_root(reader *r, oc_pk_value *root, oclip_error *err) {
    if (root->type != OC_PK_DICT)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "the file holds a %s, not a state dict (a dict of tensors)",
                          oc_pk_type_name(root->type));
    oc_pk_value *sd = oc_pk_dict_get(root, "state_dict");
    if (!sd || sd->type != OC_PK_DICT) {
        if (count_tensors(root) == 0 && root->u.dict.n > 0) {
            oc_err_set(err, OCLIP_E_UNSUPPORTED,
                       "the top-level dict holds no tensors and no 'state_dict' entry");
            oc_err_hint(err, "a checkpoint that keeps its weights under another key (e.g. "
                             "'model') is not recognised yet");
            return OCLIP_E_UNSUPPORTED;
        }
        return add_state_dict(r, root, err);
    }
    /* training checkpoint: {'epoch', 'name', 'state_dict', 'optimizer', 'scaler'} */
    r->ck->is_training = 1;
    oclip_status st = add_state_dict(r, sd, err);
    for (size_t i = 0; st == OCLIP_OK && i < root->u.dict.n; i++) {
        oc_pk_value *k = root->u.dict.keys[i], *v = root->u.dict.vals[i];
        if (k->type != OC_PK_STR || v == sd) continue;
        char desc[256];
        oc_pk_describe(v, desc, sizeof desc);
        st = oc_ck_add_entry(r->ck, k->u.str.s, desc, err);
    }
    return st;
}

/* TorchScript: depth-first walk of the module tree; tensors become "a.b.c" names. Non-module
 * attributes other than tensors (ints, strings, lists, ...) are skipped. */
static oclip_status walk_module(reader *r, oc_pk_value *obj, char *path, size_t len,
                                size_t cap, uint32_t depth, oclip_error *err) {
    if (depth > r->ck->limits.max_depth)
        return oc_err_set(err, OCLIP_E_FORMAT, "module tree deeper than %u (limit max_depth; a cycle?)",
                          r->ck->limits.max_depth);
    /* a submodule shared by several parents is walked once per path (as state_dict() lists
     * it); bound the total so a DAG of shared modules cannot take exponential time */
    if (++r->walk_visits > r->ck->limits.max_tensors)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "module tree has more than %llu module paths (limit max_tensors; shared "
                          "submodules?)",
                          (unsigned long long)r->ck->limits.max_tensors);
    oc_pk_value *attrs = obj->u.obj.attrs;
    if (!attrs) return OCLIP_OK;
    for (size_t i = 0; i < attrs->u.dict.n; i++) {
        oc_pk_value *k = attrs->u.dict.keys[i], *v = attrs->u.dict.vals[i];
        if (k->type != OC_PK_STR || (v->type != OC_PK_TENSOR && v->type != OC_PK_OBJECT))
            continue;
        size_t add = k->u.str.n + (len ? 1 : 0);
        if (len + add + 1 > cap)
            return oc_err_set(err, OCLIP_E_FORMAT, "module path too long");
        if (len) path[len] = '.';
        memcpy(path + len + (len ? 1 : 0), k->u.str.s, k->u.str.n);
        path[len + add] = '\0';
        oclip_status st = v->type == OC_PK_TENSOR
                              ? add_tensor(r, path, len + add, v, err)
                              : walk_module(r, v, path, len + add, cap, depth + 1, err);
        if (st) return st;
    }
    path[len] = '\0';
    return OCLIP_OK;
}

static void reader_init(reader *r, oclip_checkpoint *ck, oc_arena *arena, size_t input_size) {
    memset(r, 0, sizeof *r);
    r->ck = ck;
    /* values are ~100 bytes; allow 64 bytes per input byte on top as slack for arrays, but
     * never beyond 4 GiB */
    uint64_t limit = (uint64_t)input_size * 64 + (64u << 20);
    arena->limit = limit < (4ull << 30) ? limit : (4ull << 30);
    r->vm.arena = arena;
    r->vm.max_nodes = ck->limits.max_pickle_nodes;
    r->vm.ctx = r;
}

/* =============================================================================================
 * zip / TorchScript
 */
static oclip_status find_record(const reader *r, const char *rec, const oc_zip_entry **e) {
    char name[512];
    int n = snprintf(name, sizeof name, "%s%s", r->prefix, rec);
    *e = (n > 0 && (size_t)n < sizeof name) ? oc_zip_find(r->zip, name, (size_t)n) : NULL;
    return OCLIP_OK;
}

/* The bytes of a record oclip interprets (data.pkl, version, byteorder), CRC-checked. */
static oclip_status load_record(const reader *r, const oc_zip_entry *e, const uint8_t **d,
                                uint64_t *n, oclip_error *err) {
    oclip_status st = oc_zip_data(r->zip, e, d, n, err);
    return st ? st : oc_zip_check_crc(e, *d, *n, err);
}

/*
 * The archive's format version, as PyTorch's reader checks it (caffe2/serialize/
 * inline_container.cc, PyTorchStreamReader::init): the record .data/version, else version
 * (neither: refused), read with std::stoull (leading whitespace, a sign, decimal digits, the
 * rest ignored) and required to lie in [kMinSupportedFileFormatVersion,
 * kMaxSupportedFileFormatVersion] of caffe2/serialize/versions.h: 1 to 0xA in torch 2.9.1.
 * torch 2.9.1 refuses 0, 11, 999, "abc", "-1" and a number past 2^64, and reads " 3" and "3\n";
 * so does this. (.format_version, written by torch.save since 2.1, is not checked by torch:
 * torch/serialization.py only compares it with "1", so it is not checked here either.)
 */
#define TORCH_MIN_FILE_FORMAT 1
#define TORCH_MAX_FILE_FORMAT 10
static oclip_status check_version(const reader *r, oclip_error *err) {
    const oc_zip_entry *e;
    const char *rec = ".data/version";
    find_record(r, rec, &e);
    if (!e) find_record(r, rec = "version", &e);
    oc_escbuf pb;
    const char *prefix = OC_ESC(pb, r->prefix);
    if (!e) {
        oc_err_set(err, OCLIP_E_FORMAT, "a PyTorch archive without %sversion (PyTorch refuses "
                   "it)", prefix);
        oc_err_hint(err, "torch.save and torch.jit.save always write this record: the file was "
                         "damaged or put together by hand");
        return OCLIP_E_FORMAT;
    }
    const uint8_t *d;
    uint64_t n;
    oclip_status st = load_record(r, e, &d, &n, err);
    if (st) return st;
    /* std::stoull reads the whole record; past 4 KiB of leading whitespace no version record
     * written by torch is left, and the scan stays bounded */
    size_t i = 0, len = n < 4096 ? (size_t)n : 4096;
    while (i < len && (d[i] == ' ' || (d[i] >= '\t' && d[i] <= '\r'))) i++;
    bool neg = i < len && d[i] == '-';
    if (i < len && (d[i] == '+' || d[i] == '-')) i++;
    uint64_t v = 0;
    size_t digits = 0;
    bool overflow = false;
    for (; i < len && d[i] >= '0' && d[i] <= '9'; i++, digits++)
        overflow |= oc_mul_overflow_u64(v, 10, &v) || oc_add_overflow_u64(v, d[i] - '0', &v);
    if (neg) v = 0 - v; /* strtoull negates in unsigned arithmetic: "-1" is 2^64 - 1 */
    if (digits == 0 || overflow || v < TORCH_MIN_FILE_FORMAT || v > TORCH_MAX_FILE_FORMAT) {
        /* newer than PyTorch reads: unsupported; anything else: malformed */
        oclip_status code = digits && !overflow && !neg && v > TORCH_MAX_FILE_FORMAT
                                ? OCLIP_E_UNSUPPORTED : OCLIP_E_FORMAT;
        oc_escbuf vb;
        oc_err_set(err, code, "%s%s is '%s': PyTorch 2.9 reads archive versions "
                   "%d to %d only", prefix, rec,
                   oc_esc(vb.s, 48, (const char *)d, n < 32 ? (size_t)n : 32),
                   TORCH_MIN_FILE_FORMAT, TORCH_MAX_FILE_FORMAT);
        oc_err_hint(err, "a file from a newer PyTorch, or a damaged or hand-made one; PyTorch "
                         "itself refuses to load it");
        return code;
    }
    return OCLIP_OK;
}

static oclip_status read_zip(reader *r, oc_zip *zip, oc_arena *arena, const uint8_t *base,
                             size_t size, oclip_error *err) {
    oclip_status st = oc_zip_open(zip, base, size, err);
    if (st) return st;
    r->zip = zip;
    if (zip->n == 0) return oc_err_set(err, OCLIP_E_FORMAT, "an empty zip archive");
    /* the archive prefix: the first entry's name up to its first '/' (as torch's reader) */
    const oc_zip_entry *first = &zip->entries[0];
    const char *slash = memchr(first->name, '/', first->name_len);
    size_t plen = slash ? (size_t)(slash - first->name) + 1 : 0;
    if (plen > 256) return oc_err_set(err, OCLIP_E_FORMAT, "zip: archive prefix too long");
    r->prefix = oc_arena_strndup(arena, first->name, plen);
    if (!r->prefix) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    r->prefix_len = plen;

    oc_escbuf pb;
    const char *prefix = OC_ESC(pb, r->prefix);
    const oc_zip_entry *pkl, *consts, *order;
    find_record(r, "data.pkl", &pkl);
    find_record(r, "constants.pkl", &consts);
    find_record(r, "byteorder", &order);
    if (!pkl) {
        const oc_zip_entry *ver;
        find_record(r, "version", &ver);
        if (ver || consts)
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "a PyTorch archive without %sdata.pkl (truncated or damaged)",
                              prefix);
        oc_err_set(err, OCLIP_E_UNSUPPORTED, "a zip archive without %sdata.pkl", prefix);
        oc_err_hint(err, "not a PyTorch checkpoint (a NumPy .npz, or another zip file?)");
        return OCLIP_E_UNSUPPORTED;
    }
    if ((st = check_version(r, err))) return st;
    if (order) {
        const uint8_t *d;
        uint64_t n;
        if ((st = load_record(r, order, &d, &n, err))) return st;
        if (n == 3 && memcmp(d, "big", 3) == 0) r->big_endian = true;
        else if (!(n == 6 && memcmp(d, "little", 6) == 0))
            return oc_err_set(err, OCLIP_E_FORMAT, "byteorder record is neither 'little' nor 'big'");
        if (r->big_endian && (st = oc_ck_add_entry(r->ck, "byteorder", "big", err))) return st;
    }
    const uint8_t *p;
    uint64_t n;
    if ((st = load_record(r, pkl, &p, &n, err))) return st;
    r->vm.torchscript = consts != NULL;
    r->vm.persistent_load = zip_persistent_load;
    r->ck->container = consts ? OCLIP_CONTAINER_TORCHSCRIPT : OCLIP_CONTAINER_TORCH_ZIP;
    oc_pk_value *root;
    if ((st = oc_pk_run(&r->vm, p, (size_t)n, &root, NULL, err))) {
        oc_err_wrap(err, "%sdata.pkl", prefix);
        return st;
    }
    if (!consts) return extract_root(r, root, err);

    /* TorchScript: the root module object */
    if (root->type != OC_PK_OBJECT)
        return oc_err_set(err, OCLIP_E_FORMAT, "TorchScript data.pkl holds a %s, not a module",
                          oc_pk_type_name(root->type));
    if ((st = oc_ck_add_entry(r->ck, "torchscript.class", root->u.obj.cls, err))) return st;
    char path[4096];
    path[0] = '\0';
    return walk_module(r, root, path, 0, sizeof path, 0, err);
}

oclip_status oc_torch_read_zip(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                               oclip_error *err) {
    reader r;
    oc_arena arena = {0};
    oc_zip zip = {0};
    ck->container = OCLIP_CONTAINER_TORCH_ZIP;
    reader_init(&r, ck, &arena, size);
    oclip_status st = read_zip(&r, &zip, &arena, base, size, err);
    /* names were copied into the checkpoint; the VM's values are no longer needed */
    free(r.storages.slots);
    oc_zip_close(&zip);
    oc_arena_free(&arena);
    return st;
}

/* =============================================================================================
 * legacy
 */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                         0x20, 0x6a, 0xa8, 0x50, 0x19};

/* One of the legacy file's pickles at base[pos..size); `what` names it in messages. A pickle
 * that runs into the end of the file is what an interrupted download leaves. */
static oclip_status legacy_pickle(reader *r, const uint8_t *base, size_t size, size_t pos,
                                  oc_pk_value **v, size_t *used, const char *what,
                                  oclip_error *err) {
    r->vm.ran_out = false;
    oclip_status st = oc_pk_run(&r->vm, base + pos, size - pos, v, used, err);
    if (st) {
        oc_err_wrap(err, "%s", what);
        if (r->vm.ran_out) oc_err_hint(err, OC_HINT_TRUNCATED);
    }
    return st;
}

static oclip_status read_legacy(reader *r, const uint8_t *base, size_t size, oclip_error *err) {
    size_t pos = 0, used;
    oc_pk_value *v, *root, *keys;
    oclip_status st;
    r->vm.persistent_load = legacy_persistent_load;
    r->ck->container = OCLIP_CONTAINER_TORCH_LEGACY;
    /* 1. magic number, 2. protocol version, 3. sys info */
    if ((st = legacy_pickle(r, base, size, pos, &v, &used, "legacy magic number", err)))
        return st;
    if (v->type != OC_PK_BIGINT || v->u.str.n != 10 || memcmp(v->u.str.s, legacy_magic, 10))
        return oc_err_set(err, OCLIP_E_FORMAT, "legacy torch file: wrong magic number");
    pos += used;
    if ((st = legacy_pickle(r, base, size, pos, &v, &used, "legacy protocol version", err)))
        return st;
    if (v->type != OC_PK_INT || v->u.i != 1001)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "legacy torch file: protocol version is not 1001");
    pos += used;
    if ((st = legacy_pickle(r, base, size, pos, &v, &used, "legacy sys info", err))) return st;
    oc_pk_value *le = oc_pk_dict_get(v, "little_endian");
    if (!le || le->type != OC_PK_BOOL)
        return oc_err_set(err, OCLIP_E_FORMAT, "legacy torch file: sys info lacks little_endian");
    r->big_endian = !le->u.b;
    pos += used;
    /* 4. the object */
    if ((st = legacy_pickle(r, base, size, pos, &root, &used, "legacy object pickle", err)))
        return st;
    pos += used;
    /* 5. storage keys, then each storage's int64 element count and bytes, in that order */
    if ((st = legacy_pickle(r, base, size, pos, &keys, &used, "legacy storage key list", err)))
        return st;
    pos += used;
    if (keys->type != OC_PK_LIST)
        return oc_err_set(err, OCLIP_E_FORMAT, "legacy storage key list is a %s",
                          oc_pk_type_name(keys->type));
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        oc_pk_value *k = keys->u.seq.items[i];
        if (k->type != OC_PK_STR)
            return oc_err_set(err, OCLIP_E_FORMAT, "legacy storage key %zu is not a string", i);
        oc_escbuf kb;
        const char *key = OC_ESC(kb, k->u.str.s);
        oc_pk_value *s = storage_get(&r->storages, k->u.str.s);
        if (!s)
            return oc_err_set(err, OCLIP_E_FORMAT, "legacy storage '%s' is not used by any tensor",
                              key);
        if (s->u.storage.data)
            return oc_err_set(err, OCLIP_E_FORMAT, "legacy storage '%s' listed twice", key);
        if (size - pos < 8) {
            oc_err_set(err, OCLIP_E_FORMAT, "legacy storage '%s': the file ends before its size",
                       key);
            oc_err_hint(err, OC_HINT_TRUNCATED);
            return OCLIP_E_FORMAT;
        }
        uint64_t count = oc_rd64(base + pos), nbytes;
        pos += 8;
        size_t es = oclip_dtype_size(s->u.storage.dtype);
        if (count != s->u.storage.numel || oc_mul_overflow_u64(count, es, &nbytes))
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "legacy storage '%s': %llu elements stored, %llu expected", key,
                              (unsigned long long)count, (unsigned long long)s->u.storage.numel);
        if (nbytes > size - pos) {
            oc_err_set(err, OCLIP_E_FORMAT, "legacy storage '%s': %llu bytes, past the end of the "
                       "file (%zu bytes left)", key, (unsigned long long)nbytes, size - pos);
            oc_err_hint(err, OC_HINT_TRUNCATED);
            return OCLIP_E_FORMAT;
        }
        s->u.storage.data = base + pos;
        s->u.storage.big_endian = r->big_endian;
        pos += (size_t)nbytes;
    }
    return extract_root(r, root, err);
}

oclip_status oc_torch_read_legacy(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                                  oclip_error *err) {
    reader r;
    oc_arena arena = {0};
    reader_init(&r, ck, &arena, size);
    oclip_status st = read_legacy(&r, base, size, err);
    free(r.storages.slots);
    oc_arena_free(&arena);
    return st;
}
