/*
 * pickle.c — the pickle VM of pickle.h: builds values, never executes anything.
 *
 * Format summary (Python's pickle, protocol 2, as torch.save writes it; Lib/pickle.py):
 * a byte stream of opcodes for a stack machine. Values are pushed by literal opcodes
 * (BININT, BINUNICODE, EMPTY_DICT, ...); MARK remembers a stack position for TUPLE, SETITEMS,
 * APPENDS; BINPUT/BINGET copy values to/from a memo table; GLOBAL pushes a named callable and
 * REDUCE calls it with a tuple of arguments; BINPERSID asks the container for an external object
 * (a tensor storage); STOP ends the pickle with the top of the stack as the result.
 *
 * Safety: the opcode set is exactly the table below (anything else, including every
 * protocol-4 opcode, is refused); GLOBAL resolves only names on torch's weights_only allow-list
 * and fails at once for anything else (os.system, builtins.eval, ... never get as far as a
 * REDUCE); REDUCE, BUILD, SETITEM(S), APPEND(S) check the types they act on. Every read is
 * bounds-checked, every count capped, and all memory comes from an arena with a limit, so a
 * hostile pickle ends in an error, never a crash or an unbounded allocation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"

/* Opcodes of the accepted subset (Lib/pickle.py names). */
enum {
    OP_PROTO = 0x80, OP_STOP = '.', OP_MARK = '(', OP_GLOBAL = 'c', OP_REDUCE = 'R',
    OP_BUILD = 'b', OP_NEWOBJ = 0x81, OP_EMPTY_DICT = '}', OP_EMPTY_LIST = ']',
    OP_EMPTY_TUPLE = ')', OP_EMPTY_SET = 0x8f, OP_SETITEM = 's', OP_SETITEMS = 'u',
    OP_APPEND = 'a', OP_APPENDS = 'e', OP_TUPLE = 't', OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87, OP_NONE = 'N', OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_BININT1 = 'K',
    OP_BININT2 = 'M', OP_BININT = 'J', OP_LONG1 = 0x8a, OP_BINFLOAT = 'G', OP_BINUNICODE = 'X',
    OP_SHORT_BINSTRING = 'U', OP_BINPERSID = 'Q', OP_BINPUT = 'q', OP_LONG_BINPUT = 'r',
    OP_BINGET = 'h', OP_LONG_BINGET = 'j'
};

#define GLOBAL_NAME_MAX 256

oc_pk_value *oc_pk_new(oc_pk *vm, oc_pk_type type) {
    if (vm->nodes >= vm->max_nodes) return NULL;
    oc_pk_value *v = oc_arena_alloc(vm->arena, sizeof *v);
    if (!v) return NULL;
    vm->nodes++;
    v->type = type;
    return v;
}

const char *oc_pk_type_name(oc_pk_type t) {
    static const char *const names[] = {"None", "bool", "int", "int", "float", "str",
                                        "bytes", "tuple", "list", "set", "dict", "global",
                                        "object", "storage", "tensor"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

oc_pk_value *oc_pk_dict_get(const oc_pk_value *d, const char *key) {
    if (!d || d->type != OC_PK_DICT) return NULL;
    size_t n = strlen(key);
    /* last one wins, as in Python */
    for (size_t i = d->u.dict.n; i-- > 0;) {
        const oc_pk_value *k = d->u.dict.keys[i];
        if (k->type == OC_PK_STR && k->u.str.n == n && memcmp(k->u.str.s, key, n) == 0)
            return d->u.dict.vals[i];
    }
    return NULL;
}

void oc_pk_describe(const oc_pk_value *v, char *buf, size_t size) {
    switch (v->type) {
    case OC_PK_NONE: snprintf(buf, size, "None"); break;
    case OC_PK_BOOL: snprintf(buf, size, "%s", v->u.b ? "True" : "False"); break;
    case OC_PK_INT: snprintf(buf, size, "%lld", (long long)v->u.i); break;
    case OC_PK_BIGINT: snprintf(buf, size, "int (%zu bytes)", v->u.str.n); break;
    case OC_PK_FLOAT: snprintf(buf, size, "%.17g", v->u.f); break;
    case OC_PK_STR:
        snprintf(buf, size, "'%.*s%s'", v->u.str.n > 200 ? 200 : (int)v->u.str.n, v->u.str.s,
                 v->u.str.n > 200 ? "..." : "");
        break;
    case OC_PK_BYTES: snprintf(buf, size, "bytes (%zu)", v->u.str.n); break;
    case OC_PK_TUPLE:
    case OC_PK_LIST:
    case OC_PK_SET:
        snprintf(buf, size, "%s (%zu items)", oc_pk_type_name(v->type), v->u.seq.n);
        break;
    case OC_PK_DICT: snprintf(buf, size, "dict (%zu entries)", v->u.dict.n); break;
    case OC_PK_GLOBAL: snprintf(buf, size, "%s.%s", v->u.global.module, v->u.global.name); break;
    case OC_PK_OBJECT: snprintf(buf, size, "object %s", v->u.obj.cls); break;
    case OC_PK_STORAGE: snprintf(buf, size, "storage"); break;
    case OC_PK_TENSOR: {
        int k = snprintf(buf, size, "tensor %s [", oclip_dtype_name(v->u.tensor.dtype));
        for (int i = 0; i < v->u.tensor.ndim && k > 0 && (size_t)k < size; i++)
            k += snprintf(buf + k, size - (size_t)k, "%s%lld", i ? "," : "",
                          (long long)v->u.tensor.shape[i]);
        if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
        break;
    }
    }
}

/* =============================================================================================
 * The allow-list (torch/_weights_only_unpickler.py, newest)
 */
static const struct {
    const char *name;
    oclip_dtype dtype;
} storage_types[] = {
    {"DoubleStorage", OCLIP_DTYPE_F64},   {"FloatStorage", OCLIP_DTYPE_F32},
    {"HalfStorage", OCLIP_DTYPE_F16},     {"BFloat16Storage", OCLIP_DTYPE_BF16},
    {"LongStorage", OCLIP_DTYPE_I64},     {"IntStorage", OCLIP_DTYPE_I32},
    {"ShortStorage", OCLIP_DTYPE_I16},    {"CharStorage", OCLIP_DTYPE_I8},
    {"ByteStorage", OCLIP_DTYPE_U8},      {"BoolStorage", OCLIP_DTYPE_BOOL},
    {"ComplexFloatStorage", OCLIP_DTYPE_C64}, {"ComplexDoubleStorage", OCLIP_DTYPE_C128},
    {"UntypedStorage", OCLIP_DTYPE_U8},
};

static const struct {
    const char *name;
    oclip_dtype dtype;
} dtypes[] = {
    {"float32", OCLIP_DTYPE_F32},  {"float", OCLIP_DTYPE_F32},     {"float16", OCLIP_DTYPE_F16},
    {"half", OCLIP_DTYPE_F16},     {"bfloat16", OCLIP_DTYPE_BF16}, {"float64", OCLIP_DTYPE_F64},
    {"double", OCLIP_DTYPE_F64},   {"int64", OCLIP_DTYPE_I64},     {"long", OCLIP_DTYPE_I64},
    {"int32", OCLIP_DTYPE_I32},    {"int", OCLIP_DTYPE_I32},       {"int16", OCLIP_DTYPE_I16},
    {"short", OCLIP_DTYPE_I16},    {"int8", OCLIP_DTYPE_I8},       {"uint8", OCLIP_DTYPE_U8},
    {"uint16", OCLIP_DTYPE_U16},   {"uint32", OCLIP_DTYPE_U32},    {"uint64", OCLIP_DTYPE_U64},
    {"bool", OCLIP_DTYPE_BOOL},    {"float8_e4m3fn", OCLIP_DTYPE_F8_E4M3},
    {"float8_e5m2", OCLIP_DTYPE_F8_E5M2}, {"complex64", OCLIP_DTYPE_C64},
    {"complex128", OCLIP_DTYPE_C128}, {"cfloat", OCLIP_DTYPE_C64}, {"cdouble", OCLIP_DTYPE_C128},
};

/* torch allows these; oclip recognises them but cannot turn them into plain tensors. */
static const char *const allowed_unsupported[] = {
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "builtins.complex",
    "torch.per_tensor_affine", "torch.per_channel_affine", "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
    "torch.QInt8Storage", "torch.QUInt8Storage", "torch.QInt32Storage",
    "torch.QUInt4x2Storage", "torch.QUInt2x4Storage", "torch.TypedStorage",
    "torch.float8_e4m3fnuz", "torch.float8_e5m2fnuz", "torch.complex32", "torch.chalf",
    "torch.qint8", "torch.quint8", "torch.qint32", "torch.quint4x2", "torch.quint2x4",
};

static const char *const legacy_tensor_types[] = {
    "DoubleTensor", "FloatTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
    "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "Tensor",
};

static bool eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Resolves module.name; false when it is not on the allow-list. */
static bool classify_global(const char *mod, const char *name, bool torchscript,
                            oc_pk_global_kind *kind, oclip_dtype *dtype) {
    *dtype = OCLIP_DTYPE_F32;
    if (eq(mod, "collections") && (eq(name, "OrderedDict") || eq(name, "Counter"))) {
        *kind = OC_G_ORDERED_DICT;
        return true;
    }
    if (eq(mod, "torch._utils")) {
        if (eq(name, "_rebuild_tensor_v2")) *kind = OC_G_REBUILD_V2;
        else if (eq(name, "_rebuild_tensor_v3")) *kind = OC_G_REBUILD_V3;
        else if (eq(name, "_rebuild_tensor")) *kind = OC_G_REBUILD_TENSOR;
        else if (eq(name, "_rebuild_parameter") || eq(name, "_rebuild_parameter_with_state"))
            *kind = OC_G_REBUILD_PARAM;
        else goto other;
        return true;
    }
    if (eq(mod, "torch._tensor") && eq(name, "_rebuild_from_type_v2")) {
        *kind = OC_G_REBUILD_FROM_TYPE;
        return true;
    }
    if (eq(mod, "torch.nn.parameter") && eq(name, "Parameter")) {
        *kind = OC_G_TENSOR_TYPE;
        return true;
    }
    if (eq(mod, "torch.serialization") && eq(name, "_get_layout")) {
        *kind = OC_G_GET_LAYOUT;
        return true;
    }
    if (eq(mod, "_codecs") && eq(name, "encode")) {
        *kind = OC_G_CODECS_ENCODE;
        return true;
    }
    if (eq(mod, "builtins") && eq(name, "set")) {
        *kind = OC_G_SET;
        return true;
    }
    if (eq(mod, "builtins") && eq(name, "bytearray")) {
        *kind = OC_G_BYTEARRAY;
        return true;
    }
    /* torch.UntypedStorage pickles under its defining module (_rebuild_tensor_v3 files) */
    if (eq(mod, "torch.storage") && eq(name, "UntypedStorage")) {
        *kind = OC_G_STORAGE_TYPE;
        *dtype = OCLIP_DTYPE_U8;
        return true;
    }
    if (eq(mod, "torch")) {
        for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types; i++)
            if (eq(name, storage_types[i].name)) {
                *kind = OC_G_STORAGE_TYPE;
                *dtype = storage_types[i].dtype;
                return true;
            }
        for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
            if (eq(name, dtypes[i].name)) {
                *kind = OC_G_DTYPE;
                *dtype = dtypes[i].dtype;
                return true;
            }
        for (size_t i = 0; i < sizeof legacy_tensor_types / sizeof *legacy_tensor_types; i++)
            if (eq(name, legacy_tensor_types[i])) {
                *kind = OC_G_TENSOR_TYPE;
                return true;
            }
        if (eq(name, "Size")) {
            *kind = OC_G_SIZE;
            return true;
        }
        if (eq(name, "device")) {
            *kind = OC_G_DEVICE;
            return true;
        }
    }
    if (torchscript) {
        if (strncmp(mod, "__torch__", 9) == 0 && (mod[9] == '\0' || mod[9] == '.')) {
            *kind = OC_G_TS_CLASS;
            return true;
        }
        if (eq(mod, "torch.jit._pickle")) {
            if (eq(name, "restore_type_tag")) *kind = OC_G_JIT_TAG;
            else if (strncmp(name, "build_", 6) == 0 && strlen(name) > 10 &&
                     eq(name + strlen(name) - 4, "list"))
                *kind = OC_G_JIT_LIST;
            else return false;
            return true;
        }
    }
other:;
    char full[2 * GLOBAL_NAME_MAX + 2];
    snprintf(full, sizeof full, "%s.%s", mod, name);
    for (size_t i = 0; i < sizeof allowed_unsupported / sizeof *allowed_unsupported; i++)
        if (eq(full, allowed_unsupported[i])) {
            *kind = OC_G_ALLOWED_UNSUPPORTED;
            return true;
        }
    return false;
}

/* =============================================================================================
 * The machine
 */

/* The memo is a hash table keyed by index (Python's is a dict): picklers number entries
 * 0, 1, 2, ... but optimisers and hand-made pickles may not, and a sparse index must not make
 * the table huge. It never holds more entries than PUT opcodes were executed. */
typedef struct {
    uint32_t idx;
    oc_pk_value *v; /* NULL = empty slot */
} memo_slot;

typedef struct {
    oc_pk *vm;
    const uint8_t *p;
    size_t n, pos, op_pos;
    oc_pk_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    memo_slot *memo;
    size_t memo_cap, memo_n;
    oclip_error *err;
} machine;

#define FAIL(code, ...) \
    oc_err_set(m->err, code, "pickle opcode at offset %zu: " __VA_ARGS__)

static oclip_status nomem(machine *m) {
    return oc_err_set(m->err, OCLIP_E_NOMEM,
                      "pickle opcode at offset %zu: over the memory/object limit (%llu objects)",
                      m->op_pos, (unsigned long long)m->vm->max_nodes);
}

static oclip_status need(machine *m, size_t k) {
    if (m->n - m->pos < k) {
        m->vm->ran_out = true;
        return FAIL(OCLIP_E_FORMAT, "truncated (needs %zu more bytes, %zu left)", m->op_pos, k,
                    m->n - m->pos);
    }
    return OCLIP_OK;
}

static oclip_status push(machine *m, oc_pk_value *v) {
    if (!v) return nomem(m);
    /* memo GETs push without creating objects: the stack has its own cap (the object limit) */
    if (m->sp >= m->vm->max_nodes)
        return oc_err_set(m->err, OCLIP_E_NOMEM, "pickle opcode at offset %zu: the stack holds "
                          "more than %llu values (limit max_pickle_nodes)", m->op_pos,
                          (unsigned long long)m->vm->max_nodes);
    if (!oc_grow((void **)&m->stack, &m->stack_cap, m->sp + 1, sizeof *m->stack)) return nomem(m);
    m->stack[m->sp++] = v;
    return OCLIP_OK;
}

/* Values above the innermost MARK: [*base, m->sp). */
static oclip_status pop_mark(machine *m, size_t *base) {
    if (m->n_marks == 0) return FAIL(OCLIP_E_FORMAT, "no MARK on the stack", m->op_pos);
    *base = m->marks[--m->n_marks];
    return OCLIP_OK;
}

/* Stack depth above the innermost mark must be >= k. */
static oclip_status need_stack(machine *m, size_t k) {
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp - floor < k)
        return FAIL(OCLIP_E_FORMAT, "stack underflow", m->op_pos);
    return OCLIP_OK;
}

static oc_pk_value *new_seq(machine *m, oc_pk_type type, oc_pk_value **items, size_t n) {
    oc_pk_value *v = oc_pk_new(m->vm, type);
    if (!v) return NULL;
    if (n) {
        v->u.seq.items = oc_arena_alloc(m->vm->arena, n * sizeof *items);
        if (!v->u.seq.items) return NULL;
        memcpy(v->u.seq.items, items, n * sizeof *items);
    }
    v->u.seq.n = v->u.seq.cap = n;
    return v;
}

/* Appends items to a LIST/SET, growing its arena array geometrically. */
static oclip_status seq_extend(machine *m, oc_pk_value *l, oc_pk_value **items, size_t k) {
    if (k == 0) return OCLIP_OK; /* APPENDS/ADDITEMS of nothing: an empty list has no array */
    if (l->u.seq.n + k > l->u.seq.cap) {
        size_t cap = l->u.seq.cap ? l->u.seq.cap : 8;
        while (cap < l->u.seq.n + k) cap *= 2;
        oc_pk_value **a = oc_arena_alloc(m->vm->arena, cap * sizeof *a);
        if (!a) return nomem(m);
        if (l->u.seq.n) memcpy(a, l->u.seq.items, l->u.seq.n * sizeof *a);
        l->u.seq.items = a;
        l->u.seq.cap = cap;
    }
    memcpy(l->u.seq.items + l->u.seq.n, items, k * sizeof *items);
    l->u.seq.n += k;
    return OCLIP_OK;
}

static oclip_status dict_set(machine *m, oc_pk_value *d, oc_pk_value *k, oc_pk_value *v) {
    if (d->u.dict.n == d->u.dict.cap) {
        size_t cap = d->u.dict.cap ? d->u.dict.cap * 2 : 8;
        oc_pk_value **ks = oc_arena_alloc(m->vm->arena, cap * sizeof *ks);
        oc_pk_value **vs = oc_arena_alloc(m->vm->arena, cap * sizeof *vs);
        if (!ks || !vs) return nomem(m);
        if (d->u.dict.n) {
            memcpy(ks, d->u.dict.keys, d->u.dict.n * sizeof *ks);
            memcpy(vs, d->u.dict.vals, d->u.dict.n * sizeof *vs);
        }
        d->u.dict.keys = ks;
        d->u.dict.vals = vs;
        d->u.dict.cap = cap;
    }
    d->u.dict.keys[d->u.dict.n] = k;
    d->u.dict.vals[d->u.dict.n] = v;
    d->u.dict.n++;
    return OCLIP_OK;
}

static oclip_status read_line(machine *m, const char **s, size_t *len) {
    const uint8_t *start = m->p + m->pos;
    size_t left = m->n - m->pos;
    size_t lim = left < GLOBAL_NAME_MAX + 1 ? left : GLOBAL_NAME_MAX + 1;
    const uint8_t *nl = memchr(start, '\n', lim);
    if (!nl && lim == left) { /* the input ends inside the name */
        m->vm->ran_out = true;
        return FAIL(OCLIP_E_FORMAT, "GLOBAL name unterminated (the input ends)", m->op_pos);
    }
    if (!nl) return FAIL(OCLIP_E_FORMAT, "GLOBAL name too long", m->op_pos);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    m->pos += *len + 1;
    for (size_t i = 0; i < *len; i++)
        if (start[i] < 0x20 || start[i] > 0x7e)
            return FAIL(OCLIP_E_FORMAT, "GLOBAL name has a non-printable byte", m->op_pos);
    return OCLIP_OK;
}

static oclip_status op_global(machine *m) {
    const char *mod, *name;
    size_t ml, nl;
    oclip_status st;
    if ((st = read_line(m, &mod, &ml)) || (st = read_line(m, &name, &nl))) return st;
    char smod[GLOBAL_NAME_MAX + 1], sname[GLOBAL_NAME_MAX + 1];
    memcpy(smod, mod, ml);
    smod[ml] = '\0';
    memcpy(sname, name, nl);
    sname[nl] = '\0';
    oc_pk_global_kind kind;
    oclip_dtype dt;
    if (!classify_global(smod, sname, m->vm->torchscript, &kind, &dt)) {
        FAIL(OCLIP_E_UNSAFE, "GLOBAL '%s.%s' is not allowed", m->op_pos, smod, sname);
        oc_err_hint(m->err, "oclip only accepts the objects torch.load(weights_only=True) "
                            "accepts; this file asks for something else and may be malicious "
                            "(nothing was executed)");
        return OCLIP_E_UNSAFE;
    }
    oc_pk_value *v = oc_pk_new(m->vm, OC_PK_GLOBAL);
    if (!v) return nomem(m);
    v->u.global.module = oc_arena_strndup(m->vm->arena, smod, ml);
    v->u.global.name = oc_arena_strndup(m->vm->arena, sname, nl);
    if (!v->u.global.module || !v->u.global.name) return nomem(m);
    v->u.global.kind = kind;
    v->u.global.dtype = dt;
    return push(m, v);
}

/* ---------------------------------------------------------------------------------------------
 * REDUCE: interpret one allow-listed call. `args` is a TUPLE.
 */
static bool is_int(const oc_pk_value *v) { return v->type == OC_PK_INT; }

/* size/stride arguments: a tuple (or torch.Size, already a tuple) of non-negative ints */
static oclip_status int_tuple(machine *m, const oc_pk_value *v, const char *what, int64_t *out,
                              int *ndim) {
    if (v->type != OC_PK_TUPLE && v->type != OC_PK_LIST)
        return FAIL(OCLIP_E_FORMAT, "tensor %s is a %s, not a tuple", m->op_pos, what,
                    oc_pk_type_name(v->type));
    if (v->u.seq.n > OCLIP_MAX_DIMS)
        return FAIL(OCLIP_E_UNSUPPORTED, "tensor %s has %zu dimensions (at most %d)", m->op_pos,
                    what, v->u.seq.n, OCLIP_MAX_DIMS);
    for (size_t i = 0; i < v->u.seq.n; i++) {
        const oc_pk_value *x = v->u.seq.items[i];
        if (!is_int(x) || x->u.i < 0)
            return FAIL(OCLIP_E_FORMAT, "tensor %s[%zu] is not a non-negative int", m->op_pos,
                        what, i);
        out[i] = x->u.i;
    }
    *ndim = (int)v->u.seq.n;
    return OCLIP_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) and
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]);
 * _rebuild_tensor(storage, offset, size, stride). */
static oclip_status rebuild_tensor(machine *m, oc_pk_global_kind kind, oc_pk_value *args,
                                   oc_pk_value **out) {
    size_t n = args->u.seq.n, min = kind == OC_G_REBUILD_TENSOR ? 4 : kind == OC_G_REBUILD_V3 ? 7 : 6;
    if (n < min || n > min + 1)
        return FAIL(OCLIP_E_FORMAT, "tensor rebuild with %zu arguments", m->op_pos, n);
    oc_pk_value **a = args->u.seq.items;
    if (a[0]->type != OC_PK_STORAGE)
        return FAIL(OCLIP_E_FORMAT, "tensor rebuild without a storage (got %s)", m->op_pos,
                    oc_pk_type_name(a[0]->type));
    if (!is_int(a[1]) || a[1]->u.i < 0)
        return FAIL(OCLIP_E_FORMAT, "tensor storage offset is not a non-negative int", m->op_pos);
    oc_pk_value *t = oc_pk_new(m->vm, OC_PK_TENSOR);
    if (!t) return nomem(m);
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.dtype = a[0]->u.storage.dtype;
    int nd_size, nd_stride;
    oclip_status st;
    if ((st = int_tuple(m, a[2], "size", t->u.tensor.shape, &nd_size)) ||
        (st = int_tuple(m, a[3], "stride", t->u.tensor.stride, &nd_stride)))
        return st;
    if (nd_size != nd_stride)
        return FAIL(OCLIP_E_FORMAT, "tensor size has %d dimensions, stride %d", m->op_pos,
                    nd_size, nd_stride);
    t->u.tensor.ndim = nd_size;
    if (kind == OC_G_REBUILD_V3) {
        /* the storage is untyped (bytes); the dtype comes as an argument */
        if (a[6]->type != OC_PK_GLOBAL || a[6]->u.global.kind != OC_G_DTYPE)
            return FAIL(OCLIP_E_FORMAT, "_rebuild_tensor_v3 dtype argument is not a torch dtype",
                        m->op_pos);
        t->u.tensor.dtype = a[6]->u.global.dtype;
    }
    *out = t;
    return OCLIP_OK;
}

static oclip_status op_reduce(machine *m) {
    oclip_status st = need_stack(m, 2);
    if (st) return st;
    oc_pk_value *args = m->stack[--m->sp];
    oc_pk_value *fn = m->stack[--m->sp];
    if (fn->type != OC_PK_GLOBAL)
        return FAIL(OCLIP_E_UNSAFE, "REDUCE on a %s, not an allowed callable", m->op_pos,
                    oc_pk_type_name(fn->type));
    if (args->type != OC_PK_TUPLE)
        return FAIL(OCLIP_E_FORMAT, "REDUCE arguments are a %s, not a tuple", m->op_pos,
                    oc_pk_type_name(args->type));
    oc_pk_value **a = args->u.seq.items;
    size_t n = args->u.seq.n;
    oc_pk_value *r = NULL;
    for (int hops = 0;; hops++) {
        switch (fn->u.global.kind) {
        case OC_G_ORDERED_DICT:
            /* OrderedDict() or OrderedDict([(k, v), ...]) */
            r = oc_pk_new(m->vm, OC_PK_DICT);
            if (!r) return nomem(m);
            if (n == 1 && a[0]->type == OC_PK_LIST) {
                for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                    oc_pk_value *kv = a[0]->u.seq.items[i];
                    if (kv->type != OC_PK_TUPLE || kv->u.seq.n != 2)
                        return FAIL(OCLIP_E_FORMAT, "OrderedDict item is not a pair", m->op_pos);
                    if ((st = dict_set(m, r, kv->u.seq.items[0], kv->u.seq.items[1]))) return st;
                }
            } else if (n != 0) {
                return FAIL(OCLIP_E_UNSUPPORTED, "OrderedDict called with %zu arguments",
                            m->op_pos, n);
            }
            return push(m, r);
        case OC_G_REBUILD_V2:
        case OC_G_REBUILD_V3:
        case OC_G_REBUILD_TENSOR:
            if ((st = rebuild_tensor(m, fn->u.global.kind, args, &r))) return st;
            return push(m, r);
        case OC_G_REBUILD_PARAM:
            /* Parameter(data, requires_grad, hooks[, state]) is its data */
            if (n < 3 || a[0]->type != OC_PK_TENSOR)
                return FAIL(OCLIP_E_FORMAT, "_rebuild_parameter without a tensor", m->op_pos);
            return push(m, a[0]);
        case OC_G_REBUILD_FROM_TYPE:
            /* _rebuild_from_type_v2(func, new_type, args, state) = func(*args), retyped */
            if (hops > 0 || n != 4 || a[0]->type != OC_PK_GLOBAL || a[2]->type != OC_PK_TUPLE)
                return FAIL(OCLIP_E_FORMAT, "malformed _rebuild_from_type_v2", m->op_pos);
            if (a[1]->type != OC_PK_GLOBAL || a[1]->u.global.kind != OC_G_TENSOR_TYPE)
                return FAIL(OCLIP_E_UNSUPPORTED, "tensor subclass '%s.%s'", m->op_pos,
                            a[1]->type == OC_PK_GLOBAL ? a[1]->u.global.module : "?",
                            a[1]->type == OC_PK_GLOBAL ? a[1]->u.global.name : "?");
            fn = a[0];
            args = a[2];
            a = args->u.seq.items;
            n = args->u.seq.n;
            continue;
        case OC_G_SIZE:
            /* torch.Size(tuple) is the tuple */
            if (n != 1 || (a[0]->type != OC_PK_TUPLE && a[0]->type != OC_PK_LIST))
                return FAIL(OCLIP_E_FORMAT, "malformed torch.Size", m->op_pos);
            return push(m, new_seq(m, OC_PK_TUPLE, a[0]->u.seq.items, a[0]->u.seq.n));
        case OC_G_DEVICE:
        case OC_G_GET_LAYOUT:
            /* torch.device('cpu'), _get_layout('torch.strided'): keep the string */
            if (n < 1 || a[0]->type != OC_PK_STR)
                return FAIL(OCLIP_E_FORMAT, "malformed %s", m->op_pos, fn->u.global.name);
            return push(m, a[0]);
        case OC_G_CODECS_ENCODE: {
            /* _codecs.encode(str, 'latin1'): protocol 2's spelling of a bytes object. Decode
             * the UTF-8 of str to code points, each of which must fit a byte. */
            if (n != 2 || a[0]->type != OC_PK_STR || a[1]->type != OC_PK_STR ||
                (strcmp(a[1]->u.str.s, "latin1") != 0 && strcmp(a[1]->u.str.s, "latin-1") != 0))
                return FAIL(OCLIP_E_UNSUPPORTED, "_codecs.encode other than latin1", m->op_pos);
            r = oc_pk_new(m->vm, OC_PK_BYTES);
            uint8_t *b = r ? oc_arena_alloc(m->vm->arena, a[0]->u.str.n + 1) : NULL;
            if (!b) return nomem(m);
            const uint8_t *s = (const uint8_t *)a[0]->u.str.s;
            size_t k = 0;
            for (size_t i = 0; i < a[0]->u.str.n; i++) {
                if (s[i] < 0x80) {
                    b[k++] = s[i];
                } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < a[0]->u.str.n && s[i] <= 0xC3 &&
                           (s[i + 1] & 0xC0) == 0x80) {
                    b[k++] = (uint8_t)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3F));
                    i++;
                } else {
                    return FAIL(OCLIP_E_FORMAT, "latin1 encode of a character above U+00FF",
                                m->op_pos);
                }
            }
            r->u.str.s = (const char *)b;
            r->u.str.n = k;
            return push(m, r);
        }
        case OC_G_SET:
        case OC_G_JIT_LIST:
            /* set(list) / build_intlist(list): a list of the same items */
            if (n == 0 && fn->u.global.kind == OC_G_SET) return push(m, new_seq(m, OC_PK_SET, NULL, 0));
            if (n != 1 || (a[0]->type != OC_PK_LIST && a[0]->type != OC_PK_TUPLE))
                return FAIL(OCLIP_E_FORMAT, "malformed %s", m->op_pos, fn->u.global.name);
            return push(m, new_seq(m, fn->u.global.kind == OC_G_SET ? OC_PK_SET : OC_PK_LIST,
                                   a[0]->u.seq.items, a[0]->u.seq.n));
        case OC_G_BYTEARRAY:
            if (n == 1 && a[0]->type == OC_PK_BYTES) return push(m, a[0]);
            return FAIL(OCLIP_E_UNSUPPORTED, "bytearray of a non-bytes value", m->op_pos);
        case OC_G_JIT_TAG:
            /* restore_type_tag(value, type_str) = value */
            if (n != 2) return FAIL(OCLIP_E_FORMAT, "malformed restore_type_tag", m->op_pos);
            return push(m, a[0]);
        case OC_G_ALLOWED_UNSUPPORTED:
            return FAIL(OCLIP_E_UNSUPPORTED, "'%s.%s' (quantized, sparse or other special "
                        "tensors) is not supported", m->op_pos, fn->u.global.module,
                        fn->u.global.name);
        case OC_G_STORAGE_TYPE:
        case OC_G_DTYPE:
        case OC_G_TENSOR_TYPE:
        case OC_G_TS_CLASS:
            return FAIL(OCLIP_E_UNSAFE, "REDUCE on '%s.%s' is not allowed", m->op_pos,
                        fn->u.global.module, fn->u.global.name);
        }
        return FAIL(OCLIP_E_UNSAFE, "REDUCE on an unknown callable", m->op_pos);
    }
}

/* NEWOBJ (cls, args): only TorchScript classes, which become inert attribute bags. */
static oclip_status op_newobj(machine *m) {
    oclip_status st = need_stack(m, 2);
    if (st) return st;
    oc_pk_value *args = m->stack[--m->sp];
    oc_pk_value *cls = m->stack[--m->sp];
    if (cls->type != OC_PK_GLOBAL || cls->u.global.kind != OC_G_TS_CLASS)
        return FAIL(OCLIP_E_UNSAFE, "NEWOBJ on a %s that is not a TorchScript class", m->op_pos,
                    oc_pk_type_name(cls->type));
    if (args->type != OC_PK_TUPLE)
        return FAIL(OCLIP_E_FORMAT, "NEWOBJ arguments are not a tuple", m->op_pos);
    oc_pk_value *o = oc_pk_new(m->vm, OC_PK_OBJECT);
    if (!o) return nomem(m);
    o->u.obj.cls = oc_arena_printf(m->vm->arena, "%s.%s", cls->u.global.module,
                                   cls->u.global.name);
    if (!o->u.obj.cls) return nomem(m);
    return push(m, o);
}

/* BUILD (obj, state): a dict's `_metadata`, a tensor's Python attributes (both ignored), or a
 * TorchScript object's attributes. */
static oclip_status op_build(machine *m) {
    oclip_status st = need_stack(m, 2);
    if (st) return st;
    oc_pk_value *state = m->stack[--m->sp];
    oc_pk_value *obj = m->stack[m->sp - 1];
    switch (obj->type) {
    case OC_PK_DICT:
    case OC_PK_TENSOR:
        return OCLIP_OK;
    case OC_PK_OBJECT:
        if (state->type != OC_PK_DICT)
            return FAIL(OCLIP_E_UNSUPPORTED, "TorchScript object state is a %s, not a dict",
                        m->op_pos, oc_pk_type_name(state->type));
        obj->u.obj.attrs = state;
        return OCLIP_OK;
    default:
        return FAIL(OCLIP_E_UNSAFE, "BUILD on a %s is not allowed", m->op_pos,
                    oc_pk_type_name(obj->type));
    }
}

static memo_slot *memo_find(machine *m, uint32_t idx) {
    size_t mask = m->memo_cap - 1;
    for (size_t i = (idx * 2654435761u) & mask;; i = (i + 1) & mask)
        if (!m->memo[i].v || m->memo[i].idx == idx) return &m->memo[i];
}

static oclip_status memo_put(machine *m, uint32_t idx) {
    if (m->sp == 0) return FAIL(OCLIP_E_FORMAT, "memo put with an empty stack", m->op_pos);
    if ((m->memo_n + 1) * 2 > m->memo_cap) {
        size_t ncap = m->memo_cap ? m->memo_cap * 2 : 256;
        memo_slot *old = m->memo;
        size_t ocap = m->memo_cap;
        m->memo = calloc(ncap, sizeof *m->memo);
        if (!m->memo) {
            m->memo = old;
            return nomem(m);
        }
        m->memo_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].v) *memo_find(m, old[i].idx) = old[i];
        free(old);
    }
    memo_slot *sl = memo_find(m, idx);
    if (!sl->v && m->memo_n >= m->vm->max_nodes)
        return oc_err_set(m->err, OCLIP_E_NOMEM, "pickle opcode at offset %zu: the memo holds "
                          "more than %llu entries (limit max_pickle_nodes)", m->op_pos,
                          (unsigned long long)m->vm->max_nodes);
    if (!sl->v) m->memo_n++;
    sl->idx = idx;
    sl->v = m->stack[m->sp - 1];
    return OCLIP_OK;
}

static oclip_status memo_get(machine *m, uint32_t idx) {
    memo_slot *sl = m->memo_cap ? memo_find(m, idx) : NULL;
    if (!sl || !sl->v)
        return FAIL(OCLIP_E_FORMAT, "memo index %u was never stored", m->op_pos, idx);
    return push(m, sl->v);
}

/*
 * A string: BINUNICODE, or SHORT_BINSTRING decoded as torch.load does (encoding "utf-8",
 * torch/serialization.py). Python's 'utf-8' codec refuses overlong forms, code points above
 * U+10FFFF and stray bytes ("'utf-8' codec can't decode"), and so does this. Encoded UTF-16
 * surrogates (ED A0 80 ... ED BF BF) are refused too, although Python's BINUNICODE decodes with
 * "surrogatepass" (Lib/pickle.py load_binunicode; torch/_weights_only_unpickler.py) and would
 * accept them: such a str is no text (it cannot be printed, written as UTF-8 or saved by
 * safetensors), no model names a parameter so, and every name oclip hands out is UTF-8.
 */
static oclip_status new_str(machine *m, oc_pk_type type, size_t len) {
    oclip_status st = need(m, len);
    if (st) return st;
    size_t bad = type == OC_PK_STR ? oc_utf8_check(m->p + m->pos, len) : SIZE_MAX;
    if (bad != SIZE_MAX) {
        const uint8_t *b = m->p + m->pos + bad;
        bool surrogate = len - bad >= 3 && b[0] == 0xed && b[1] >= 0xa0 && b[1] <= 0xbf &&
                         (b[2] & 0xc0) == 0x80;
        return FAIL(OCLIP_E_FORMAT, "a string that is not valid UTF-8 (byte %zu of its %zu: %s)",
                    m->op_pos, bad, len, surrogate ? "an encoded UTF-16 surrogate, no character"
                    : "Python's unpickler refuses it too: 'utf-8' codec can't decode");
    }
    oc_pk_value *v = oc_pk_new(m->vm, type);
    if (!v) return nomem(m);
    v->u.str.s = oc_arena_strndup(m->vm->arena, (const char *)m->p + m->pos, len);
    if (!v->u.str.s) return nomem(m);
    v->u.str.n = len;
    m->pos += len;
    return push(m, v);
}

static oclip_status new_int(machine *m, int64_t i) {
    oc_pk_value *v = oc_pk_new(m->vm, OC_PK_INT);
    if (v) v->u.i = i;
    return push(m, v);
}

static oclip_status step(machine *m, bool *stop) {
    oclip_status st;
    m->op_pos = m->pos;
    if ((st = need(m, 1))) return FAIL(OCLIP_E_FORMAT, "ends without STOP", m->op_pos);
    uint8_t op = m->p[m->pos++];
    switch (op) {
    case OP_PROTO:
        if ((st = need(m, 1))) return st;
        m->pos++; /* any version: what matters is that only known opcodes follow */
        return OCLIP_OK;
    case OP_STOP:
        if (m->sp == 0) return FAIL(OCLIP_E_FORMAT, "STOP with an empty stack", m->op_pos);
        if (m->n_marks) return FAIL(OCLIP_E_FORMAT, "STOP with an unclosed MARK", m->op_pos);
        *stop = true;
        return OCLIP_OK;
    case OP_MARK:
        if (!oc_grow((void **)&m->marks, &m->marks_cap, m->n_marks + 1, sizeof *m->marks))
            return nomem(m);
        if (m->n_marks >= m->vm->max_nodes) return nomem(m);
        m->marks[m->n_marks++] = m->sp;
        return OCLIP_OK;
    case OP_GLOBAL: return op_global(m);
    case OP_REDUCE: return op_reduce(m);
    case OP_BUILD: return op_build(m);
    case OP_NEWOBJ: return op_newobj(m);
    case OP_EMPTY_DICT: return push(m, oc_pk_new(m->vm, OC_PK_DICT));
    case OP_EMPTY_LIST: return push(m, oc_pk_new(m->vm, OC_PK_LIST));
    case OP_EMPTY_TUPLE: return push(m, oc_pk_new(m->vm, OC_PK_TUPLE));
    case OP_EMPTY_SET: return push(m, oc_pk_new(m->vm, OC_PK_SET));
    case OP_NONE: return push(m, oc_pk_new(m->vm, OC_PK_NONE));
    case OP_NEWTRUE:
    case OP_NEWFALSE: {
        oc_pk_value *v = oc_pk_new(m->vm, OC_PK_BOOL);
        if (v) v->u.b = op == OP_NEWTRUE;
        return push(m, v);
    }
    case OP_SETITEM: {
        if ((st = need_stack(m, 3))) return st;
        oc_pk_value *v = m->stack[--m->sp], *k = m->stack[--m->sp], *d = m->stack[m->sp - 1];
        if (d->type != OC_PK_DICT)
            return FAIL(OCLIP_E_UNSAFE, "SETITEM on a %s", m->op_pos, oc_pk_type_name(d->type));
        return dict_set(m, d, k, v);
    }
    case OP_SETITEMS: {
        size_t base = 0;
        if ((st = pop_mark(m, &base))) return st;
        if (base == 0 || (m->sp - base) % 2)
            return FAIL(OCLIP_E_FORMAT, "SETITEMS without a dict or with an odd count",
                        m->op_pos);
        oc_pk_value *d = m->stack[base - 1];
        if (d->type != OC_PK_DICT)
            return FAIL(OCLIP_E_UNSAFE, "SETITEMS on a %s", m->op_pos, oc_pk_type_name(d->type));
        for (size_t i = base; i < m->sp; i += 2)
            if ((st = dict_set(m, d, m->stack[i], m->stack[i + 1]))) return st;
        m->sp = base;
        return OCLIP_OK;
    }
    case OP_APPEND: {
        if ((st = need_stack(m, 2))) return st;
        oc_pk_value *v = m->stack[--m->sp], *l = m->stack[m->sp - 1];
        if (l->type != OC_PK_LIST)
            return FAIL(OCLIP_E_UNSAFE, "APPEND on a %s", m->op_pos, oc_pk_type_name(l->type));
        return seq_extend(m, l, &v, 1);
    }
    case OP_APPENDS: {
        size_t base = 0;
        if ((st = pop_mark(m, &base))) return st;
        if (base == 0) return FAIL(OCLIP_E_FORMAT, "APPENDS without a list", m->op_pos);
        oc_pk_value *l = m->stack[base - 1];
        if (l->type != OC_PK_LIST)
            return FAIL(OCLIP_E_UNSAFE, "APPENDS on a %s", m->op_pos, oc_pk_type_name(l->type));
        if ((st = seq_extend(m, l, m->stack + base, m->sp - base))) return st;
        m->sp = base;
        return OCLIP_OK;
    }
    case OP_TUPLE: {
        size_t base = 0;
        if ((st = pop_mark(m, &base))) return st;
        oc_pk_value *t = new_seq(m, OC_PK_TUPLE, m->sp > base ? m->stack + base : NULL,
                                 m->sp - base);
        m->sp = base;
        return push(m, t);
    }
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3: {
        size_t k = (size_t)(op - OP_TUPLE1 + 1);
        if ((st = need_stack(m, k))) return st;
        oc_pk_value *t = new_seq(m, OC_PK_TUPLE, m->stack + m->sp - k, k);
        m->sp -= k;
        return push(m, t);
    }
    case OP_BININT1:
        if ((st = need(m, 1))) return st;
        m->pos += 1;
        return new_int(m, m->p[m->pos - 1]);
    case OP_BININT2:
        if ((st = need(m, 2))) return st;
        m->pos += 2;
        return new_int(m, oc_rd16(m->p + m->pos - 2));
    case OP_BININT:
        if ((st = need(m, 4))) return st;
        m->pos += 4;
        return new_int(m, (int32_t)oc_rd32(m->p + m->pos - 4));
    case OP_LONG1: {
        if ((st = need(m, 1))) return st;
        size_t len = m->p[m->pos++];
        if ((st = need(m, len))) return st;
        const uint8_t *b = m->p + m->pos;
        if (len > 8) { /* kept as bytes: only legacy's magic number is this wide */
            oc_pk_value *v = oc_pk_new(m->vm, OC_PK_BIGINT);
            if (!v) return nomem(m);
            v->u.str.s = (const char *)b;
            v->u.str.n = len;
            m->pos += len;
            return push(m, v);
        }
        uint64_t u = 0;
        for (size_t i = 0; i < len; i++) u |= (uint64_t)b[i] << (8 * i);
        if (len && len < 8 && (b[len - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * len); /* sign */
        m->pos += len;
        int64_t i;
        memcpy(&i, &u, sizeof i);
        return new_int(m, i);
    }
    case OP_BINFLOAT: {
        if ((st = need(m, 8))) return st;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | m->p[m->pos + i]; /* big-endian */
        m->pos += 8;
        oc_pk_value *v = oc_pk_new(m->vm, OC_PK_FLOAT);
        if (v) memcpy(&v->u.f, &u, sizeof v->u.f);
        return push(m, v);
    }
    case OP_BINUNICODE:
        if ((st = need(m, 4))) return st;
        m->pos += 4;
        return new_str(m, OC_PK_STR, oc_rd32(m->p + m->pos - 4));
    case OP_SHORT_BINSTRING:
        if ((st = need(m, 1))) return st;
        m->pos += 1;
        return new_str(m, OC_PK_STR, m->p[m->pos - 1]);
    case OP_BINPERSID: {
        if ((st = need_stack(m, 1))) return st;
        oc_pk_value *pid = m->stack[--m->sp], *v = NULL;
        if (!m->vm->persistent_load)
            return FAIL(OCLIP_E_FORMAT, "persistent id outside a container", m->op_pos);
        if ((st = m->vm->persistent_load(m->vm->ctx, m->vm, pid, &v, m->err))) {
            oc_err_wrap(m->err, "pickle opcode at offset %zu", m->op_pos);
            return st;
        }
        return push(m, v);
    }
    case OP_BINPUT:
        if ((st = need(m, 1))) return st;
        m->pos += 1;
        return memo_put(m, m->p[m->pos - 1]);
    case OP_LONG_BINPUT:
        if ((st = need(m, 4))) return st;
        m->pos += 4;
        return memo_put(m, oc_rd32(m->p + m->pos - 4));
    case OP_BINGET:
        if ((st = need(m, 1))) return st;
        m->pos += 1;
        return memo_get(m, m->p[m->pos - 1]);
    case OP_LONG_BINGET:
        if ((st = need(m, 4))) return st;
        m->pos += 4;
        return memo_get(m, oc_rd32(m->p + m->pos - 4));
    default:
        FAIL(OCLIP_E_UNSAFE, "opcode 0x%02x is not allowed", m->op_pos, op);
        oc_err_hint(m->err, "torch.save writes pickle protocol 2 with a fixed opcode set; this "
                            "pickle uses others (nothing was executed)");
        return OCLIP_E_UNSAFE;
    }
}

oclip_status oc_pk_run(oc_pk *vm, const uint8_t *p, size_t n, oc_pk_value **result,
                       size_t *consumed, oclip_error *err) {
    machine m = {.vm = vm, .p = p, .n = n, .err = err};
    oclip_status st = OCLIP_OK;
    bool stop = false;
    while (!stop && (st = step(&m, &stop)) == OCLIP_OK) {
    }
    if (st == OCLIP_OK) {
        *result = m.stack[m.sp - 1];
        if (consumed) *consumed = m.pos;
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return st;
}
