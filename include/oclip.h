/*
 * oclip.h — OpenCLIP in C. The one public header of liboclip.
 *
 * What is here so far: opening a checkpoint file in any container OpenCLIP users hold
 * (PyTorch zip `.bin/.pt/.pth`, the legacy pre-1.6 PyTorch format, TorchScript archives such as
 * OpenAI's `ViT-B-32.pt`, safetensors, sharded safetensors) as a read-only table of tensors,
 * without executing any pickle code and, where the layout allows, without copying weights.
 *
 * Usage:
 *
 *     oclip_error err;
 *     oclip_checkpoint *ck = NULL;
 *     if (oclip_checkpoint_open("open_clip_pytorch_model.bin", &ck, &err) != OCLIP_OK) {
 *         fprintf(stderr, "%s\n", err.msg);   // e.g. "'x.bin': tensor 'visual.proj': ..."
 *         return 1;
 *     }
 *     const oclip_tensor *t = oclip_checkpoint_find(ck, "visual.proj");
 *     // t->dtype, t->ndim, t->shape[], t->data (C-contiguous, little-endian), t->nbytes
 *     oclip_checkpoint_free(ck);
 *
 * Conventions (every function):
 *   - Fallible calls return an oclip_status and take a nullable `oclip_error *err` as the last
 *     argument; on failure err->msg holds the context chain (file -> record -> tensor -> reason)
 *     and, where one helps, a "hint: ..." sentence.
 *   - The library never prints, exits or aborts; it keeps no global mutable state.
 *   - Every *_free accepts NULL.
 *   - Objects are read-only after they are returned and may be shared between threads.
 */
#ifndef OCLIP_H
#define OCLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OCLIP_VERSION_MAJOR 0
#define OCLIP_VERSION_MINOR 1
#define OCLIP_VERSION_PATCH 0
#define OCLIP_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Status and errors
 */
typedef enum {
    OCLIP_OK = 0,
    OCLIP_E_IO,          /* the file could not be opened, mapped or read */
    OCLIP_E_FORMAT,      /* the bytes are not what the container promises (truncated, corrupt) */
    OCLIP_E_UNSUPPORTED, /* valid, but not something oclip reads (yet) */
    OCLIP_E_UNSAFE,      /* a pickle asked for something outside the allow-list */
    OCLIP_E_NOMEM,       /* out of memory, or a resource limit was reached */
    OCLIP_E_ARG,         /* bad argument from the caller */
    OCLIP_E_NOTFOUND     /* a named thing (tensor, entry) does not exist */
} oclip_status;

#define OCLIP_ERROR_MSG_SIZE 1024

typedef struct {
    oclip_status code;
    char msg[OCLIP_ERROR_MSG_SIZE]; /* NUL-terminated; "" when code == OCLIP_OK */
} oclip_error;

/* Short fixed description of a status code ("format error", ...). Never NULL. */
const char *oclip_status_str(oclip_status s);

/* ---------------------------------------------------------------------------------------------
 * Data types. Names follow safetensors ("F32", "BF16", ...).
 */
typedef enum {
    OCLIP_DTYPE_F32 = 0,
    OCLIP_DTYPE_F16,
    OCLIP_DTYPE_BF16,
    OCLIP_DTYPE_F64,
    OCLIP_DTYPE_I64,
    OCLIP_DTYPE_I32,
    OCLIP_DTYPE_I16,
    OCLIP_DTYPE_I8,
    OCLIP_DTYPE_U8,
    OCLIP_DTYPE_U16,
    OCLIP_DTYPE_U32,
    OCLIP_DTYPE_U64,
    OCLIP_DTYPE_BOOL,
    OCLIP_DTYPE_F8_E4M3,
    OCLIP_DTYPE_F8_E5M2,
    OCLIP_DTYPE_C64,
    OCLIP_DTYPE_C128,
    OCLIP_DTYPE_COUNT
} oclip_dtype;

const char *oclip_dtype_name(oclip_dtype dt); /* "F32"...; "?" for an invalid value */
size_t oclip_dtype_size(oclip_dtype dt);      /* bytes per element; 0 for an invalid value */

/* ---------------------------------------------------------------------------------------------
 * Tensors
 *
 * A tensor as the checkpoint stores it. `data` points into the memory-mapped file when the
 * stored layout is already C-contiguous and little-endian (the usual case: nothing is copied);
 * otherwise (a strided view, a big-endian file) the checkpoint owns a contiguous copy.
 * Either way `data` is C-contiguous, little-endian and valid until oclip_checkpoint_free.
 * `data` is not guaranteed to be aligned beyond 1 byte.
 */
#define OCLIP_MAX_DIMS 8

typedef struct {
    const char *name;               /* key after unwrapping / prefix stripping */
    oclip_dtype dtype;
    int ndim;                       /* 0 for a scalar (one element) */
    int64_t shape[OCLIP_MAX_DIMS];  /* shape[0..ndim) */
    int64_t strides[OCLIP_MAX_DIMS];/* in elements; always the C-contiguous strides of shape */
    uint64_t numel;                 /* product of shape (1 for a scalar) */
    uint64_t nbytes;                /* numel * oclip_dtype_size(dtype) */
    const void *data;
    int copied;                     /* 1 when the data had to be materialised (view/byte order) */
} oclip_tensor;

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 */
typedef enum {
    OCLIP_CONTAINER_TORCH_ZIP = 0,     /* torch.save since 1.6 */
    OCLIP_CONTAINER_TORCH_LEGACY,      /* torch.save before 1.6 / _use_new_zipfile_serialization=False */
    OCLIP_CONTAINER_TORCHSCRIPT,       /* torch.jit.save (OpenAI's ViT-B-32.pt) */
    OCLIP_CONTAINER_SAFETENSORS,
    OCLIP_CONTAINER_SAFETENSORS_SHARDED
} oclip_container;

/* "torch-zip", "torch-legacy", "torchscript", "safetensors", "safetensors-sharded" */
const char *oclip_container_name(oclip_container c);

/* Key layout, judged from the tensor names (and the container for OpenAI archives). */
typedef enum {
    OCLIP_LAYOUT_UNKNOWN = 0,
    OCLIP_LAYOUT_OPEN_CLIP,        /* visual.*, token_embedding.weight, transformer.resblocks.* */
    OCLIP_LAYOUT_OPEN_CLIP_CUSTOM, /* CustomTextCLIP: text.* + visual.* */
    OCLIP_LAYOUT_HF,               /* transformers CLIPModel: text_model.*, vision_model.* */
    OCLIP_LAYOUT_OPENAI            /* OpenAI JIT archive / its state dict (input_resolution ...) */
} oclip_layout;

/* "unknown", "open_clip", "open_clip-custom-text", "hf", "openai" */
const char *oclip_layout_name(oclip_layout l);

typedef struct oclip_checkpoint oclip_checkpoint;

/* Limits applied while reading untrusted files. Zero fields take the defaults. */
typedef struct {
    uint64_t max_tensors;      /* default 1,000,000 */
    uint64_t max_pickle_nodes; /* objects a pickle may create; default 50,000,000 */
    uint32_t max_depth;        /* nesting of containers in a pickle / JSON; default 1000 */
    uint64_t max_header_bytes; /* safetensors JSON header; default 100,000,000 (as safetensors) */
} oclip_limits;

/*
 * Opens PATH and reads its tensor table. The container is recognised from the bytes, not the
 * name (a path ending in ".index.json" is a shard index). Training checkpoints
 * ({"epoch":..., "state_dict":...}) are unwrapped to their state_dict and a common "module." or
 * "_orig_mod." prefix is stripped. Files that are no checkpoint at all (an HTML page, a git-lfs
 * pointer, gzip data, ONNX, GGUF, ...) are refused with a message that says what they look like.
 * `limits` may be NULL. On success *out owns the mapping; free it with oclip_checkpoint_free.
 */
oclip_status oclip_checkpoint_open(const char *path, const oclip_limits *limits,
                                   oclip_checkpoint **out, oclip_error *err);

/*
 * Same, over `size` bytes at `data` that the caller keeps alive and unchanged until the
 * checkpoint is freed. `name` is used in messages only (may be NULL). Sharded indexes cannot be
 * opened this way (their shards are separate files).
 */
oclip_status oclip_checkpoint_open_memory(const void *data, size_t size, const char *name,
                                          const oclip_limits *limits, oclip_checkpoint **out,
                                          oclip_error *err);

void oclip_checkpoint_free(oclip_checkpoint *ck);

oclip_container oclip_checkpoint_container(const oclip_checkpoint *ck);
oclip_layout oclip_checkpoint_layout(const oclip_checkpoint *ck);

/* Number of tensors and the i-th one, in file order (NULL when i is out of range). */
size_t oclip_checkpoint_n_tensors(const oclip_checkpoint *ck);
const oclip_tensor *oclip_checkpoint_tensor(const oclip_checkpoint *ck, size_t i);
/* The tensor named `name`, or NULL. O(1). */
const oclip_tensor *oclip_checkpoint_find(const oclip_checkpoint *ck, const char *name);

/* 1 when the file was a training checkpoint whose "state_dict" entry was used. */
int oclip_checkpoint_is_training(const oclip_checkpoint *ck);
/* "module.", "_orig_mod." (or "module._orig_mod." ...) when a prefix was stripped, else NULL. */
const char *oclip_checkpoint_prefix_stripped(const oclip_checkpoint *ck);

/*
 * What the file said about itself, as (key, value) strings:
 *   - top-level entries of a pickled dict that are not the tensor table, summarised
 *     ("epoch" -> "32", "name" -> "'ViT-B-32'", "optimizer" -> "dict (2 entries)"),
 *   - safetensors "__metadata__" pairs (key and value verbatim),
 *   - records of note ("byteorder", "version", "torchscript.root" ...).
 * Returns 0 and leaves the pointers untouched when i is out of range.
 */
size_t oclip_checkpoint_n_entries(const oclip_checkpoint *ck);
int oclip_checkpoint_entry(const oclip_checkpoint *ck, size_t i, const char **key,
                           const char **value);

#ifdef __cplusplus
}
#endif
#endif /* OCLIP_H */
