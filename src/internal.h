/*
 * internal.h — declarations shared between liboclip's source files. Not installed.
 *
 * Prefixes: oc_ (core helpers), oc_zip_ (zip directory), oc_pk_ (pickle VM),
 * oc_st_ (safetensors), oc_torch_ (PyTorch containers).
 */
#ifndef OCLIP_INTERNAL_H
#define OCLIP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "oclip.h"

#if defined(__GNUC__) || defined(__clang__)
#define OC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define OC_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------------------------------------
 * Errors (util.c)
 *
 * oc_err_set writes the innermost cause and returns `code`, so readers can write
 *     return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': ...", name);
 * oc_err_wrap prefixes outer context ("loading 'x.bin': ") on the way up; it returns nothing, so
 * callers return their own status (err may be NULL, and then holds no code to return).
 * oc_err_hint appends "\nhint: ..." once. All accept err == NULL.
 */
oclip_status oc_err_set(oclip_error *err, oclip_status code, const char *fmt, ...) OC_PRINTF(3, 4);
void oc_err_wrap(oclip_error *err, const char *fmt, ...) OC_PRINTF(2, 3);
void oc_err_hint(oclip_error *err, const char *fmt, ...) OC_PRINTF(2, 3);
void oc_err_clear(oclip_error *err);

/* Options struct `o` of type `name` as the caller passed it: zero-initialised (struct_size 0:
 * this version's layout) or filled by its *_default() function (struct_size = sizeof), else
 * OCLIP_E_ARG (util.c). A later version that appends fields reads them only when struct_size
 * covers them. */
oclip_status oc_options_ok(uint32_t struct_size, size_t size, const char *name,
                           oclip_error *err);
#define OC_OPTIONS_OK(o, name, err) oc_options_ok((o)->struct_size, sizeof *(o), name, err)
/* snprintf into out[size]; false when the result did not fit (or on an encoding error). */
bool oc_fmt(char *out, size_t size, const char *fmt, ...) OC_PRINTF(3, 4);

/* ---------------------------------------------------------------------------------------------
 * Overflow-checked arithmetic (true on overflow, as the GCC builtins)
 */
static inline bool oc_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_mul_overflow(a, b, r);
}
static inline bool oc_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_add_overflow(a, b, r);
}

/* Little-endian loads from unaligned bytes. */
static inline uint16_t oc_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t oc_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t oc_rd64(const uint8_t *p) {
    return (uint64_t)oc_rd32(p) | ((uint64_t)oc_rd32(p + 4) << 32);
}

/* ---------------------------------------------------------------------------------------------
 * Arena (util.c): many small allocations freed together. Blocks are 16-byte aligned.
 * Allocation fails (NULL) past `limit` bytes in total (0 = no limit), so hostile inputs cannot
 * make the reader take unbounded memory.
 */
typedef struct oc_arena_block oc_arena_block;
typedef struct {
    oc_arena_block *head;
    uint64_t used;  /* bytes handed out, all blocks */
    uint64_t limit; /* 0 = unlimited */
} oc_arena;

void *oc_arena_alloc(oc_arena *a, size_t n);            /* zeroed */
char *oc_arena_strndup(oc_arena *a, const char *s, size_t n);
char *oc_arena_printf(oc_arena *a, const char *fmt, ...) OC_PRINTF(2, 3);
void oc_arena_free(oc_arena *a);

/* Embedded text split into NULL-terminated pieces (builtin_data.c), joined into one malloc'd
 * NUL-terminated string of `len` bytes; NULL when out of memory or the pieces are longer. */
char *oc_join_pieces(const char *const *pieces, size_t len);

/* Growable array helper: ensures cap >= need for an array of `elem` bytes; false on failure. */
bool oc_grow(void **ptr, size_t *cap, size_t need, size_t elem);

/* ---------------------------------------------------------------------------------------------
 * Read-only file mapping (util.c)
 */
typedef struct {
    const uint8_t *data;
    size_t size;
    void *addr; /* what to munmap; NULL for empty files or memory the caller owns */
    size_t map_size;
} oc_map;

/* Maps a regular file (oc_open_regular's checks). */
oclip_status oc_map_file(const char *path, oc_map *m, oclip_error *err);
void oc_unmap(oc_map *m);
/* Hands the pages wholly inside [p, p + n) back to the kernel (MADV_PAGEOUT, Linux 5.4+): a
 * read-only file mapping's pages leave the resident set and are read from the file again if
 * touched; anonymous memory is swapped at most. Contents never change; a no-op elsewhere. */
void oc_release_pages(const void *p, size_t n);
/* The same for tensor data of ck: when [p, p + n) lies inside one of the files ck maps (read-only,
 * private, never written), MADV_DONTNEED, which only drops the page-table entries (cheaper than
 * MADV_PAGEOUT; the pages stay in the page cache and a later touch maps them again, unchanged);
 * anything else (a copy on the heap, memory the caller owns) goes to oc_release_pages. */
void oc_release_tensor_pages(const oclip_checkpoint *ck, const void *p, size_t n);
/* malloc for large blocks (activations, packed weights; freed with free()): from 2 MiB on, on a
 * 2 MiB boundary with transparent huge pages asked for (MADV_HUGEPAGE, a hint; a no-op
 * elsewhere): one page fault and one TLB entry per 2 MiB instead of per 4 KiB (a VM's faults
 * are slow: a fresh CLI process touches tens of MB of activations). NULL when out of memory. */
void *oc_alloc_large(size_t bytes);

/* ---------------------------------------------------------------------------------------------
 * JSON (util.c). Every JSON text from a file goes through these: the bytes are first checked
 * against the JSON grammar (RFC 8259) and the dialect, so that cJSON only ever sees text it reads
 * the way the reference reader does, and a cJSON failure can only mean memory.
 *
 * OC_JSON_PYTHON reads as Python's json.loads (OpenCLIP and transformers read configs and shard
 * indexes with it): NaN, Infinity and -Infinity are numbers; a lone UTF-16 surrogate escape
 * ("\ud800", or a high surrogate not followed by a low one) becomes U+FFFD (Python keeps the
 * surrogate in its str, which UTF-8 cannot hold); of duplicate keys the last value wins, at the
 * first key's position; numbers of any length are read (those over 32 characters by strtod).
 * OC_JSON_SERDE reads as serde_json in safetensors (src/tensor.rs): lone surrogates, NaN and
 * Infinity are refused; duplicate keys are all kept in the tree for the caller to judge.
 * Both: invalid UTF-8, raw control characters in strings, invalid escapes, a byte-order mark,
 * and nesting deeper than cJSON's 1000 levels are refused with the byte offset.
 */
typedef enum { OC_JSON_PYTHON, OC_JSON_SERDE } oc_json_dialect;
struct cJSON;

/* Parses exactly [p, p + n): one JSON value, then nothing but whitespace. Refuses \u0000 (cJSON
 * returns C strings: "a\u0000b" would read as "a"). On failure err says why, where (byte, line,
 * column) and whether it was memory (OCLIP_E_NOMEM) or the text (OCLIP_E_FORMAT); `what` names
 * the text ("safetensors header"). On success *out owns the tree. */
oclip_status oc_json_parse_text(const char *p, size_t n, oc_json_dialect dialect,
                                const char *what, struct cJSON **out, oclip_error *err);

/* The Python dialect on the value at the start of [p, p + n) (text after it is the caller's
 * business; \u0000 is accepted). On success *end is just past the value; on failure NULL is
 * returned and *end points at the error, or is NULL when memory ran out. Thread-safe. */
struct cJSON *oc_json_parse(const char *p, size_t n, const char **end);
/* After oc_json_parse(p, n) returned NULL: sets err (out of memory, or "<what> is not valid
 * JSON (error near line L, column C, byte B: why)") and returns its status. */
oclip_status oc_json_error(const char *p, size_t n, const char *what, oclip_error *err);
/* True when [p, p + n) starts with one JSON value that cJSON parses, given the memory (strict
 * RFC 8259, no lone surrogates, no NaN/Infinity, nesting within cJSON's limit): a cJSON failure
 * on those bytes was memory. */
bool oc_json_failed_for_memory(const char *p, size_t n);

/* ---------------------------------------------------------------------------------------------
 * UTF-8 and messages (util.c)
 */
/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid: overlong forms, surrogates
 * (U+D800-U+DFFF) and code points above U+10FFFF are refused, as Python's 'utf-8' codec does. */
size_t oc_utf8_seq_len(const uint8_t *s, size_t n);
/* Offset of the first byte of s[0..n) that is not valid UTF-8, or SIZE_MAX when all is. */
size_t oc_utf8_check(const uint8_t *s, size_t n);

/* s[0..n), a string from a file, as printable text for a message, into out[cap] (cap >= 8;
 * truncated with "..."): '\' doubled, control characters and DEL as \xNN, bytes that are not
 * UTF-8 as \xNN, and code points a terminal acts on (C1 controls, bidirectional controls,
 * U+2028/9, U+FEFF) as \uNNNN. Returns out. oc_err_set, oc_err_wrap and oc_err_hint also escape
 * what they format the same way (except '\'), so no raw control byte reaches a message; use
 * oc_esc for every file-provided string so that it also reads back unambiguously. */
const char *oc_esc(char *out, size_t cap, const char *s, size_t n);
/* A buffer for one escaped name and the call that fills it. */
typedef struct {
    char s[320];
} oc_escbuf;
#define OC_ESC(b, str) oc_esc((b).s, sizeof (b).s, (str), strlen(str))

/* The hint of every error that a file cut short explains. */
#define OC_HINT_TRUNCATED                                                                       \
    "truncated download? compare the file's size with the original's, or download it again"

/* ---------------------------------------------------------------------------------------------
 * Files (util.c)
 */
/* Opens `path` read-only if it is a regular file (symbolic links followed); anything else (a
 * directory, FIFO, socket or device) is refused with OCLIP_E_IO before it is opened, and the
 * open itself never blocks (O_NONBLOCK: a FIFO swapped in after the check opens at once and is
 * refused by the fstat that follows). *size is the file's size. */
oclip_status oc_open_regular(const char *path, int *fd, uint64_t *size, oclip_error *err);
/* The first cap - 1 bytes of the regular file `path` (oc_open_regular's checks: a FIFO never
 * blocks) into out[cap], NUL-terminated: their count, 0 when the file cannot be read. For the
 * small text files of the Hugging Face cache (refs/, the token file). */
size_t oc_read_small_file(const char *path, char *out, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * dtype helpers (util.c)
 */
/* Parses a safetensors dtype string ("F32"...); false when unknown. */
bool oc_dtype_from_name(const char *s, size_t n, oclip_dtype *out);

/* Element count of a shape, overflow-checked (also against `limit` bytes for elemsize). */
bool oc_shape_numel(const int64_t *shape, int ndim, uint64_t *numel);

/* ---------------------------------------------------------------------------------------------
 * Checkpoint under construction (checkpoint.c). Readers add tensors and entries; oc_ck_finish
 * unwraps names, builds the index and judges the layout.
 */
struct oclip_checkpoint {
    oclip_container container;
    oclip_layout layout;
    oclip_limits limits;
    const char *name; /* for messages: the path or the caller's name */

    oc_map *maps; /* files this checkpoint keeps mapped (several for shards) */
    size_t n_maps, cap_maps;

    oclip_tensor *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t *index; /* open-addressing hash of tensor names -> index+1 (0 = empty) */
    size_t index_cap;

    const char **entry_keys, **entry_values;
    size_t n_entries, cap_entries;

    int is_training;
    const char *prefix_stripped;

    oclip_checkpoint *parent; /* a mapped view owns the checkpoint it points into */

    oc_arena arena;      /* names, strings, small objects */
    void **owned;        /* materialised tensor copies (malloc'd) */
    size_t n_owned, cap_owned;
};

oclip_checkpoint *oc_ck_new(const char *name, const oclip_limits *limits);

/*
 * Appends a tensor. `name` is copied. `data` must stay valid for the checkpoint's life (a
 * mapping the checkpoint holds, or memory passed to oc_ck_own). Validates the dtype, rank and
 * that numel * elemsize does not overflow; the caller has already checked that `nbytes` lie
 * inside the file.
 */
oclip_status oc_ck_add_tensor(oclip_checkpoint *ck, const char *name, size_t name_len,
                              oclip_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, int copied, oclip_error *err);

/* Hands a malloc'd buffer to the checkpoint, which frees it in oclip_checkpoint_free. */
bool oc_ck_own(oclip_checkpoint *ck, void *buf);

/* Records a (key, value) entry; both are copied. */
oclip_status oc_ck_add_entry(oclip_checkpoint *ck, const char *key, const char *value,
                             oclip_error *err);

/* Keeps a mapping alive for the checkpoint's life (takes ownership). */
bool oc_ck_keep_map(oclip_checkpoint *ck, const oc_map *m);

/*
 * Called by the front end once every tensor is in: strips a common "module." / "_orig_mod."
 * prefix, builds the name index (refusing duplicate names) and judges the layout.
 */
oclip_status oc_ck_finish(oclip_checkpoint *ck, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * File recognition (sniff.c)
 */
typedef enum {
    OC_KIND_UNKNOWN = 0,
    OC_KIND_ZIP,
    OC_KIND_TORCH_LEGACY,
    OC_KIND_SAFETENSORS,
    OC_KIND_JSON,
    OC_KIND_OTHER /* recognised, but not a checkpoint: `what` says what it looks like */
} oc_kind;

/* Looks at the first bytes. For OC_KIND_OTHER/UNKNOWN, *what is a phrase such as
 * "an HTML page (a failed download?)"; *hint may be NULL or a sentence for the user. */
oc_kind oc_sniff(const uint8_t *p, size_t n, const char **what, const char **hint);

/* ---------------------------------------------------------------------------------------------
 * Readers. Each appends tensors/entries to ck and sets ck->container. `base/size` is the whole
 * file; the mapping outlives the checkpoint (the caller registers it with oc_ck_keep_map).
 * Messages do not repeat the file name: the front end wraps them with it.
 */
oclip_status oc_st_read(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                        oclip_error *err);
/* `path` is a model.safetensors.index.json; shards are mapped from its folder. */
oclip_status oc_st_read_index(oclip_checkpoint *ck, const char *path, oclip_error *err);

/* torch zip (state dict, training checkpoint or TorchScript archive). */
oclip_status oc_torch_read_zip(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                               oclip_error *err);
/* torch legacy (pickle magic, protocol, sys-info, object, storage keys, raw storages). */
oclip_status oc_torch_read_legacy(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                                  oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * The embedded default model (default_model.c): its open_clip_model.safetensors and
 * open_clip_config.json (NUL-terminated) in the library's read-only data. false when this build
 * has none (non-ELF targets).
 */
bool oc_default_model(const void **weights, size_t *weights_size, const char **config,
                      size_t *config_size);

#endif /* OCLIP_INTERNAL_H */
