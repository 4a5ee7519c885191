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


/* ---------------------------------------------------------------------------------------------
 * Model configs (OpenCLIP model-config JSON, openclip-spec.md §4), with OpenCLIP's defaults.
 *
 * Strings are fixed-size and NUL-terminated. Fields that OpenCLIP leaves unset (None) are
 * marked with a has_* flag. `family` says which tower types the config needs; oclip computes
 * only OCLIP_FAMILY_NATIVE (native ViT + native text), the others are recognised and refused.
 */
typedef enum {
    OCLIP_FAMILY_NATIVE = 0,  /* native ViT + native CLIP text: what oclip runs */
    OCLIP_FAMILY_RESNET,      /* ModifiedResNet image tower (RN50 ...) */
    OCLIP_FAMILY_TIMM,        /* timm image tower (ConvNeXt, EVA, SigLIP ViTs ...) */
    OCLIP_FAMILY_HF_TEXT,     /* Hugging Face text tower (xlm-roberta, mt5, ...) */
    OCLIP_FAMILY_CUSTOM_TEXT, /* CustomTextCLIP with native towers (text.* keys) */
    OCLIP_FAMILY_COCA,        /* multimodal_cfg: CoCa */
    OCLIP_FAMILY_OTHER        /* anything else unusual (custom blocks, attentional pool, ...) */
} oclip_family;

/* "native", "ModifiedResNet", "timm", "hf-text", "custom-text", "CoCa", "other" */
const char *oclip_family_name(oclip_family f);

typedef struct {
    int image_size[2];      /* [h, w]; default 224 */
    int patch_size;         /* default 16 */
    int width;              /* default 768 */
    int layers;             /* default 12; 0 when `layers` is a ResNet tuple */
    int resnet_layers[4];   /* ModifiedResNet block counts, when layers is a list */
    int head_width;         /* default 64 */
    double mlp_ratio;       /* default 4.0; MLP hidden = (int)(width * mlp_ratio) */
    int has_ls;             /* ls_init_value set -> LayerScale (ls_1/ls_2.gamma keys) */
    double ls_init_value;
    int no_ln_pre;
    int final_ln_after_pool;
    int attentional_pool;
    char pool_type[16];     /* "tok" | "avg" | "none" */
    char pos_embed_type[16];/* "learnable" | "sin_cos_2d" */
    double ln_eps;          /* norm_kwargs.eps, default 1e-5 */
    char act_approximate[16]; /* act_kwargs.approximate: "" (exact) or "tanh" */
    char timm_model_name[96]; /* "" unless a timm tower */
    int custom_block;       /* block_type "custom" or any qk_norm/scale_* flag */
} oclip_vision_cfg;

typedef struct {
    int context_length;     /* default 77 */
    int vocab_size;         /* default 49408 */
    int width;              /* default 512 */
    int heads;              /* default 8 */
    int layers;             /* default 12 */
    double mlp_ratio;       /* default 4.0 */
    int has_ls;
    double ls_init_value;
    int embed_cls;
    int pad_id;             /* default 0 */
    int eos_id;             /* default 2 */
    int no_causal_mask;
    char pool_type[16];     /* "argmax" (default) | "eos" | "first" | "last" | "none" */
    int proj_bias;          /* text_projection is a Linear (weight [E,W] + bias [E]) */
    char proj_type[16];     /* "linear" (default) | "none" */
    double ln_eps;          /* default 1e-5 */
    char act_approximate[16];
    char hf_model_name[96];     /* "" unless an HF text tower */
    char hf_tokenizer_name[96]; /* "" means OpenCLIP's SimpleTokenizer */
    int custom_block;
} oclip_text_cfg;

typedef struct {
    char name[64];          /* built-in name, or "" */
    int embed_dim;
    int quick_gelu;         /* default 0 (exact GELU) */
    int has_logit_bias;     /* init_logit_bias set (SigLIP) -> a logit_bias tensor exists */
    double init_logit_bias;
    int nonscalar_logit_scale; /* logit_scale shape [1] instead of [] */
    int custom_text;
    int multimodal;         /* multimodal_cfg present (CoCa) */
    oclip_family family;
    oclip_vision_cfg vision;
    oclip_text_cfg text;
    /* keys the parser did not know, comma-separated ("vision_cfg.foo, bar"); "" if none.
     * OpenCLIP ignores some of them; oclip reports them so nothing is dropped silently. */
    char unknown_keys[512];
} oclip_model_config;

/* Preprocessing config (open_clip_config.json "preprocess_cfg" / pretrained tag). */
typedef struct {
    int size[2];            /* [h, w]; 0 = the model's image_size */
    double mean[3], std[3]; /* default OpenAI constants */
    char interpolation[16]; /* "bicubic" (default) | "bilinear" */
    char resize_mode[16];   /* "shortest" (default) | "longest" | "squash" */
    int fill_color;         /* default 0 */
} oclip_preprocess_cfg;

/* Parses an OpenCLIP model-config JSON object (a model_configs/ file, or the "model_cfg" of an
 * open_clip_config.json). Missing keys take OpenCLIP's defaults. */
oclip_status oclip_config_parse(const char *json, size_t len, oclip_model_config *out,
                                oclip_error *err);

/* Parses an open_clip_config.json: model_cfg into *model and preprocess_cfg into *pre (either
 * may be NULL). A file without "model_cfg" is an error. */
oclip_status oclip_config_parse_open_clip(const char *json, size_t len, oclip_model_config *model,
                                          oclip_preprocess_cfg *pre, oclip_error *err);

/* Converts a transformers CLIPModel config.json (text_config / vision_config / projection_dim,
 * with transformers' defaults for absent keys) into the equivalent OpenCLIP config:
 * hidden_act "quick_gelu" -> quick_gelu, head_width = hidden_size / num_attention_heads,
 * mlp_ratio = intermediate_size / hidden_size, layer_norm_eps -> ln_eps. */
oclip_status oclip_config_from_hf(const char *json, size_t len, oclip_model_config *out,
                                  oclip_error *err);

/* The config as OpenCLIP model-config JSON (geometry always, options where they differ from
 * OpenCLIP's defaults; what open_clip_config.json's "model_cfg" holds). A NUL-terminated string
 * to release with oclip_free; NULL when out of memory. */
char *oclip_config_to_json(const oclip_model_config *cfg);
/* Releases memory the library returned (NULL is fine). */
void oclip_free(void *p);

/* OpenAI's preprocessing defaults (224, OpenAI mean/std, bicubic, shortest). */
void oclip_preprocess_cfg_default(oclip_preprocess_cfg *pre);

/* The built-in OpenCLIP configs (shipped with oclip, from OpenCLIP's model_configs/).
 * Names as OpenCLIP spells them; '/' in a name is treated as '-'. */
size_t oclip_config_builtin_count(void);
const char *oclip_config_builtin_name(size_t i); /* NULL when out of range */
oclip_status oclip_config_builtin(const char *name, oclip_model_config *out, oclip_error *err);

/* A pretrained tag of OpenCLIP's table (v3.3.0), e.g. ("ViT-B-32", "laion2b_s34b_b79k"). */
typedef struct {
    char arch[64], tag[64];
    char hf_hub[160];       /* "org/repo/" or "org/repo/file", "" if none */
    char url[256];          /* "" if none */
    int quick_gelu;         /* -1 unknown/unset, 0 no, 1 trained with QuickGELU */
    oclip_preprocess_cfg preprocess;
} oclip_pretrained;

/* Looks up ARCH + TAG (tags are matched lowercase with '-' as '_', as OpenCLIP does). */
oclip_status oclip_pretrained_lookup(const char *arch, const char *tag, oclip_pretrained *out,
                                     oclip_error *err);
size_t oclip_pretrained_count(void);
/* The i-th (arch, tag) pair in table order; 0 when out of range. */
int oclip_pretrained_at(size_t i, const char **arch, const char **tag);


/* ---------------------------------------------------------------------------------------------
 * Architecture validation (oclip check)
 *
 * oclip_check maps a checkpoint's keys onto OpenCLIP's native `CLIP` layout (HF transformers
 * CLIPModel: q/k/v fused in q|k|v order, projections transposed; OpenAI JIT archives: root
 * scalars dropped; harmless buffers such as position_ids / attn_mask dropped with a note), picks
 * the architecture (the config given, else inferred from tensor shapes and matched to a built-in
 * config), and compares every key, shape and dtype with what that architecture expects. All
 * problems are collected into one report; nothing stops at the first one.
 */
typedef enum {
    OCLIP_ISSUE_MISSING = 0, /* expected key absent */
    OCLIP_ISSUE_UNEXPECTED,  /* key the architecture does not have */
    OCLIP_ISSUE_SHAPE,       /* present with another shape */
    OCLIP_ISSUE_DTYPE,       /* a dtype oclip cannot use for this tensor */
    OCLIP_ISSUE_NONFINITE    /* NaN/Inf values (only with scan) */
} oclip_issue_kind;

typedef struct {
    oclip_issue_kind kind;
    const char *key;        /* OpenCLIP name (after mapping) */
    const char *source_key; /* name in the file, when mapping renamed it; else == key */
    int expected_ndim, found_ndim; /* -1 when not applicable */
    int64_t expected[OCLIP_MAX_DIMS], found[OCLIP_MAX_DIMS];
    const char *detail;     /* e.g. the dtype, or "3 NaN, 0 Inf" */
} oclip_issue;

typedef struct {
    const oclip_model_config *config; /* use this architecture; NULL = infer from the tensors */
    const char *config_source;        /* how it was chosen, for messages ("--arch", ...) */
    int scan;                         /* also look for NaN/Inf in every float tensor */
    const char *tag;                  /* pretrained tag of config->name (e.g. "openai"), or NULL:
                                         its QuickGELU setting is compared with the config's */
} oclip_check_options;

typedef struct oclip_report oclip_report;

/*
 * Validates `ck` against an architecture. Returns OCLIP_OK when the check ran (whether or not it
 * found problems: see oclip_report_ok); an error status only when it could not run (e.g. the
 * config's family is not supported, or memory). *out is then a report to free.
 */
oclip_status oclip_check(const oclip_checkpoint *ck, const oclip_check_options *opt,
                         oclip_report **out, oclip_error *err);
void oclip_report_free(oclip_report *r);

int oclip_report_ok(const oclip_report *r);             /* 1 when no issue was found */
size_t oclip_report_n_issues(const oclip_report *r);
const oclip_issue *oclip_report_issue(const oclip_report *r, size_t i);
/* Notes and hints in order of importance ("HF-transformers layout: mapped automatically (78
 * tensors)", "shapes fit ViT-B-16 (patch 16, 197 positions), not ViT-B-32", ...). */
size_t oclip_report_n_notes(const oclip_report *r);
const char *oclip_report_note(const oclip_report *r, size_t i);
/* The architecture compared against, and where it came from ("--arch", "inferred", ...). */
const oclip_model_config *oclip_report_config(const oclip_report *r);
const char *oclip_report_config_source(const oclip_report *r);
/* The built-in config whose expected state dict the tensors fit exactly, or NULL. */
const char *oclip_report_match(const oclip_report *r);
/* "OpenCLIP state dict" view: the checkpoint after mapping (OpenCLIP names, fused q/k/v ...);
 * valid until the report is freed. */
const oclip_checkpoint *oclip_report_mapped(const oclip_report *r);

/*
 * Infers an architecture from tensor shapes alone (any layout): widths, layers, patch and image
 * size, embed_dim, context length, vocab, MLP ratio, LayerScale, heads (width / 64, OpenCLIP's
 * head_width default, unless a matching built-in config says otherwise). When a built-in native
 * config expects exactly these keys and shapes, *out is that config (with name set); several
 * match when they differ only in what weights cannot show (QuickGELU): the one without
 * "-quickgelu" is returned and *ambiguous_quick_gelu set.
 */
oclip_status oclip_infer_config(const oclip_checkpoint *ck, oclip_model_config *out,
                                int *ambiguous_quick_gelu, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Writing and converting checkpoints (oclip convert)
 *
 * Every file is written atomically: into a temporary file in the destination folder, flushed to
 * disk (fsync), then renamed over the destination. On failure no output file is created or
 * changed (the temporaries are removed).
 */

/*
 * Casts n float elements (F32, F16, BF16, F64, any direction) from src to dst, giving the bytes
 * PyTorch gives for tensor.float() / .half() / .bfloat16() on an x86 CPU: round to nearest,
 * ties to even; F16 overflow becomes +-inf; subnormals are kept; NaN stays NaN (F16: quiet,
 * sign and top payload bits kept; BF16: 0xffff from F32, as torch's vectorised kernel writes,
 * 0x7fc0 from F16/F64, as its element-wise path writes). Widening is exact.
 * src and dst need no alignment; they may overlap only when from == to.
 * OCLIP_E_UNSUPPORTED for a non-float dtype.
 */
oclip_status oclip_dtype_cast(void *dst, oclip_dtype to, const void *src, oclip_dtype from,
                              size_t n, oclip_error *err);

/* `cast` value of oclip_save_safetensors: keep every tensor's dtype. */
#define OCLIP_DTYPE_KEEP OCLIP_DTYPE_COUNT

/*
 * Writes tensors of `ck` as a safetensors file at `path` (atomically, see above).
 *   names      the tensors to write (n_names of them), or NULL for all of them;
 *              OCLIP_E_NOTFOUND when one does not exist, OCLIP_E_ARG for a duplicate.
 *   cast       OCLIP_DTYPE_KEEP, or F32 / F16 / BF16: float tensors are converted to it
 *              (oclip_dtype_cast); other tensors keep their dtype.
 *   metadata   n_metadata (key, value) pairs as 2 * n_metadata strings, written as the header's
 *              "__metadata__" object (transformers writes {"format": "pt"}); NULL when none.
 * The file is laid out as safetensors' own writer does it (entries by descending dtype
 * alignment, then by name; header padded with spaces to a multiple of 8; data packed), so the
 * same tensors give the same bytes as safetensors.torch.save_file.
 */
oclip_status oclip_save_safetensors(const oclip_checkpoint *ck, const char *path,
                                    const char *const *names, size_t n_names, oclip_dtype cast,
                                    const char *const *metadata, size_t n_metadata,
                                    oclip_error *err);

typedef enum {
    OCLIP_FORMAT_OPEN_CLIP = 0, /* OpenCLIP state dict (open_clip_model.safetensors) */
    OCLIP_FORMAT_HF             /* transformers CLIPModel folder (model.safetensors + config.json) */
} oclip_format;

/* Zero-initialised (or NULL) options mean: OpenCLIP format, every dtype kept, OpenAI
 * preprocessing, no progress reports. */
typedef struct {
    oclip_format to;
    int cast;                               /* 1: convert float tensors to `dtype` */
    oclip_dtype dtype;                      /* F32, F16 or BF16 (with cast = 1) */
    const oclip_preprocess_cfg *preprocess; /* written to open_clip_config.json; NULL = OpenAI's */
    /* called from the writing thread after each chunk of tensor data: bytes done of total */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
} oclip_convert_options;

/*
 * Writes the checkpoint a check report describes in another format. The report must be OK
 * (oclip_report_ok; OCLIP_E_FORMAT otherwise); its mapped tensors (oclip_report_mapped: OpenCLIP
 * names, whatever the source layout) and its architecture (oclip_report_config) are used.
 *
 * OCLIP_FORMAT_OPEN_CLIP: exactly the keys of OpenCLIP's state dict for the architecture
 *   (logit_scale as [] or, with nonscalar_logit_scale, [1]). When `out` is an existing folder or
 *   ends with '/', writes out/open_clip_model.safetensors and out/open_clip_config.json
 *   ({"model_cfg": the architecture as an OpenCLIP model config, "preprocess_cfg": ...}; the
 *   folder is created if needed); otherwise `out` is the .safetensors file to write.
 * OCLIP_FORMAT_HF: `out` is a folder (created if needed) that receives model.safetensors
 *   (transformers CLIPModel keys: q/k/v split from in_proj, projections transposed, metadata
 *   {"format": "pt"}), config.json (CLIPConfig) and open_clip_config.json (the exact OpenCLIP
 *   architecture, which config.json cannot always carry: head_width, mlp_ratio ...). Refused
 *   with OCLIP_E_UNSUPPORTED, every reason listed, when CLIPModel cannot express the
 *   architecture (LayerScale, no ln_pre, pooling other than the class / EOT token, projection
 *   bias, logit_bias, non-square images, heads that do not divide the width ...).
 * All files appear together at the end (see above); nothing is written on failure.
 */
oclip_status oclip_convert(const oclip_report *r, const char *out,
                           const oclip_convert_options *opt, oclip_error *err);

#ifdef __cplusplus
}
#endif
#endif /* OCLIP_H */
