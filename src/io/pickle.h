/*
 * pickle.h — a pickle virtual machine that builds data, never runs code (pickle.c).
 *
 * It understands the protocol-2 opcode subset torch.save and torch.jit.save emit
 * (Python's Lib/pickle.py, as torch.save writes it) and resolves GLOBALs against an allow-list equal to
 * torch.load(weights_only=True) (torch/_weights_only_unpickler.py). Calls (REDUCE) are interpreted by oclip itself for the
 * handful of allowed callables (_rebuild_tensor_v2 builds a tensor *description*, OrderedDict
 * builds a dict, ...); nothing from the file is ever executed. In TorchScript mode,
 * `__torch__.*` classes are also accepted as inert attribute bags (NEWOBJ + BUILD), and
 * `torch.jit._pickle.*` helpers as identity/list builders (torch/jit/_pickle.py).
 */
#ifndef OCLIP_PICKLE_H
#define OCLIP_PICKLE_H

#include "internal.h"

typedef enum {
    OC_PK_NONE,
    OC_PK_BOOL,
    OC_PK_INT,
    OC_PK_BIGINT, /* LONG1 wider than 64 bits: raw little-endian bytes */
    OC_PK_FLOAT,
    OC_PK_STR,
    OC_PK_BYTES,
    OC_PK_TUPLE,
    OC_PK_LIST,
    OC_PK_SET,
    OC_PK_DICT,
    OC_PK_GLOBAL,  /* an allow-listed callable or class, see oc_pk_global_kind */
    OC_PK_OBJECT,  /* TorchScript module instance: class + attribute dict */
    OC_PK_STORAGE, /* a storage reached through a persistent id */
    OC_PK_TENSOR   /* a strided view of a storage (_rebuild_tensor_v2/v3) */
} oc_pk_type;

/* What an allow-listed GLOBAL is. */
typedef enum {
    OC_G_ORDERED_DICT,     /* collections.OrderedDict / Counter */
    OC_G_REBUILD_V2,       /* torch._utils._rebuild_tensor_v2 */
    OC_G_REBUILD_V3,       /* torch._utils._rebuild_tensor_v3 */
    OC_G_REBUILD_TENSOR,   /* torch._utils._rebuild_tensor (storage, offset, size, stride) */
    OC_G_REBUILD_PARAM,    /* torch._utils._rebuild_parameter[_with_state] */
    OC_G_REBUILD_FROM_TYPE,/* torch._tensor._rebuild_from_type_v2 */
    OC_G_STORAGE_TYPE,     /* torch.FloatStorage ... : carries a dtype */
    OC_G_DTYPE,            /* torch.float32 ... : carries a dtype */
    OC_G_TENSOR_TYPE,      /* torch.Tensor, torch.nn.parameter.Parameter, torch.FloatTensor ... */
    OC_G_SIZE,             /* torch.Size */
    OC_G_DEVICE,           /* torch.device */
    OC_G_GET_LAYOUT,       /* torch.serialization._get_layout */
    OC_G_CODECS_ENCODE,    /* _codecs.encode */
    OC_G_SET,              /* builtins.set */
    OC_G_BYTEARRAY,        /* builtins.bytearray */
    OC_G_ALLOWED_UNSUPPORTED, /* torch allows it (quantized, sparse, ...), oclip cannot read it */
    OC_G_JIT_LIST,         /* torch.jit._pickle.build_*list: returns its argument */
    OC_G_JIT_TAG,          /* torch.jit._pickle.restore_type_tag: returns its first argument */
    OC_G_TS_CLASS          /* __torch__.* class (TorchScript mode only) */
} oc_pk_global_kind;

typedef struct oc_pk_value oc_pk_value;
struct oc_pk_value {
    oc_pk_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t n; } str;        /* STR (NUL-terminated), BYTES, BIGINT */
        struct { oc_pk_value **items; size_t n, cap; } seq; /* TUPLE, LIST, SET */
        struct { oc_pk_value **keys, **vals; size_t n, cap; } dict;
        struct {
            const char *module, *name;
            oc_pk_global_kind kind;
            oclip_dtype dtype; /* STORAGE_TYPE / DTYPE */
        } global;
        struct { const char *cls; oc_pk_value *attrs; /* DICT or NULL */ } obj;
        struct {
            const char *key;      /* record key ("0", "1", ... or a legacy root key) */
            oclip_dtype dtype;
            uint64_t numel;       /* elements of dtype */
            const uint8_t *data;  /* numel * size bytes, or NULL while unresolved (legacy) */
            bool big_endian;
            oc_pk_value *root;    /* legacy views: the root storage */
            uint64_t view_offset; /* legacy views: element offset into the root */
        } storage;
        struct {
            oc_pk_value *storage;
            oclip_dtype dtype;
            int64_t offset; /* elements */
            int ndim;
            int64_t shape[OCLIP_MAX_DIMS], stride[OCLIP_MAX_DIMS];
        } tensor;
    } u;
};

typedef struct oc_pk oc_pk;

/* Turns a persistent id into a value (a STORAGE). */
typedef oclip_status (*oc_pk_persistent_fn)(void *ctx, oc_pk *vm, oc_pk_value *pid,
                                            oc_pk_value **out, oclip_error *err);

struct oc_pk {
    oc_arena *arena;           /* where values live; its limit bounds memory */
    uint64_t max_nodes;        /* values a run may create */
    uint64_t nodes;
    bool torchscript;          /* accept __torch__.* classes and torch.jit._pickle helpers */
    oc_pk_persistent_fn persistent_load;
    void *ctx;
    bool ran_out;              /* set when a run failed at the end of its input */
};

/*
 * Runs one pickle from p[0..n) up to and including its STOP opcode. *result is the value on top
 * of the stack at STOP; *consumed the number of bytes read. Errors carry the opcode offset.
 */
oclip_status oc_pk_run(oc_pk *vm, const uint8_t *p, size_t n, oc_pk_value **result,
                       size_t *consumed, oclip_error *err);

/* A new value of `type` (counts against max_nodes); NULL when over a limit. */
oc_pk_value *oc_pk_new(oc_pk *vm, oc_pk_type type);

/* The value stored under string key `key` in DICT `d`, or NULL. */
oc_pk_value *oc_pk_dict_get(const oc_pk_value *d, const char *key);

/* Short human description of a value ("int 32", "dict (3 entries)", ...) into buf. */
void oc_pk_describe(const oc_pk_value *v, char *buf, size_t size);

/* "dict", "tensor", ... */
const char *oc_pk_type_name(oc_pk_type t);

#endif
