/*
 * oclip.h — OpenCLIP in C. The one public header of liboclip.
 *
 * liboclip reads every OpenCLIP checkpoint form safely (PyTorch zip `.bin/.pt/.pth`, the legacy
 * pre-1.6 PyTorch format, TorchScript archives such as OpenAI's `ViT-B-32.pt`, safetensors,
 * sharded safetensors; no pickle code is executed), validates it against its architecture,
 * converts it, and computes what OpenCLIP 3.3.0 computes: image and text embeddings, logits,
 * zero-shot classification, with OpenCLIP's preprocessing and tokenizer. Sections, in order:
 * errors, dtypes, tensors, checkpoints, model configs, validation (oclip check), conversion,
 * model sources (where a model comes from: -m SPEC), inference, images, tokenizer, zero-shot.
 *
 * Usage:
 *
 *     oclip_error err;
 *     oclip_model *m = NULL;
 *     if (oclip_model_load("ViT-B-32:laion2b_s34b_b79k", NULL, &m, &err) != OCLIP_OK) {
 *         fprintf(stderr, "%s\n", err.msg);   // e.g. "pretrained ViT-B-32:...: weights not
 *         return 1;                           //  in the cache ...\nhint: `oclip pull ...`"
 *     }
 *     const char *paths[] = {"cat.jpg"};
 *     float emb[1024];                        // oclip_model_embed_dim(m) floats an image
 *     oclip_encode_image_files(m, paths, 1, emb, 1, &err);
 *     oclip_model_free(m);
 *
 *     oclip_checkpoint *ck = NULL;            // or just the tensors of a file
 *     if (oclip_checkpoint_open("open_clip_pytorch_model.bin", NULL, &ck, &err) == OCLIP_OK) {
 *         const oclip_tensor *t = oclip_checkpoint_find(ck, "visual.proj");
 *         // t->dtype, t->ndim, t->shape[], t->data (C-contiguous, little-endian), t->nbytes
 *         oclip_checkpoint_free(ck);
 *     }
 *
 * Conventions (every function):
 *   - Fallible calls return an oclip_status and take a nullable `oclip_error *err` as the last
 *     argument; on failure err->msg holds the context chain (file -> record -> tensor -> reason)
 *     and, where one helps, a "hint: ..." sentence.
 *   - The library never prints, exits or aborts. Every *_free accepts NULL.
 *   - Options structs begin with `uint32_t struct_size` and come with a *_default() function
 *     that fills in the defaults and sets struct_size to the size of the struct as the caller
 *     compiled it; set fields after calling it. Fields are only ever appended: the library
 *     reads a field only when the caller's struct_size covers it, so a program built against
 *     this header keeps working with later versions of the library. A zero-initialised struct
 *     (struct_size 0) is read as this version's layout with every field at its zero value,
 *     which is the default for every field but the dtypes: there, 0 (OCLIP_DTYPE_F32) is read
 *     as OCLIP_DTYPE_KEEP. A pointer to options may be NULL: the defaults.
 *   - Thread safety: every function may be called from several threads at once. Objects are
 *     read-only after they are returned and may be shared between threads, except
 *     oclip_source, which oclip_source_open / oclip_source_check complete (one thread at a
 *     time). An oclip_model is internally synchronised: any number of threads may encode with
 *     one handle at once (each call takes its own scratch memory; a tower's weights are packed
 *     by its first call under the handle's own lock), and oclip_model_set_threads may change
 *     its thread count meanwhile.
 *   - Process-wide state, none of it visible in results: each piece is built once, on first
 *     use, thread-safely (pthread_once or a lock), and only read afterwards -- the CPU kernel
 *     path (chosen from the CPU and OCLIP_SIMD), the worker thread pool (started by the first
 *     multi-threaded call, kept for the process), the pretrained-tag table, the built-in
 *     configs' expected state dicts, the tokenizer's vocabulary and ftfy's tables, the
 *     zero-shot templates, and libcurl (loaded by the first download). The environment is
 *     read (HF_*, OCLIP_*, HOME), never written.
 */
#ifndef OCLIP_H
#define OCLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What liboclip exports: the functions declared with OCLIP_API, and nothing else (the library is
 * built with -fvisibility=hidden; `make check-abi` compares the exported symbols with
 * include/oclip.symbols). */
#if defined(__GNUC__) || defined(__clang__)
#define OCLIP_API __attribute__((visibility("default")))
#else
#define OCLIP_API
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
    OCLIP_E_NOTFOUND,    /* a named thing (tensor, entry) does not exist */
    OCLIP_E_MISMATCH     /* a checkpoint that does not fit its architecture (oclip_model_load,
                            oclip_convert refuse it; oclip_check has the full report) */
} oclip_status;

#define OCLIP_ERROR_MSG_SIZE 1024

typedef struct {
    oclip_status code;
    char msg[OCLIP_ERROR_MSG_SIZE]; /* NUL-terminated; "" when code == OCLIP_OK */
} oclip_error;

/* Short fixed description of a status code ("format error", ...). Never NULL. */
OCLIP_API const char *oclip_status_str(oclip_status s);

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

OCLIP_API const char *oclip_dtype_name(oclip_dtype dt); /* "F32"...; "?" for an invalid value */
OCLIP_API size_t oclip_dtype_size(oclip_dtype dt);      /* bytes per element; 0 for an invalid value */

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
OCLIP_API const char *oclip_container_name(oclip_container c);

/* Key layout, judged from the tensor names (and the container for OpenAI archives). */
typedef enum {
    OCLIP_LAYOUT_UNKNOWN = 0,
    OCLIP_LAYOUT_OPEN_CLIP,        /* visual.*, token_embedding.weight, transformer.resblocks.* */
    OCLIP_LAYOUT_OPEN_CLIP_CUSTOM, /* CustomTextCLIP: text.* + visual.* */
    OCLIP_LAYOUT_HF,               /* transformers CLIPModel: text_model.*, vision_model.* */
    OCLIP_LAYOUT_OPENAI            /* OpenAI JIT archive / its state dict (input_resolution ...) */
} oclip_layout;

/* "unknown", "open_clip", "open_clip-custom-text", "hf", "openai" */
OCLIP_API const char *oclip_layout_name(oclip_layout l);

typedef struct oclip_checkpoint oclip_checkpoint;

/* Limits applied while reading untrusted files. Zero fields take the defaults. */
typedef struct {
    uint32_t struct_size;      /* oclip_limits_default sets it (see Conventions, at the top) */
    uint64_t max_tensors;      /* default 1,000,000 */
    uint64_t max_pickle_nodes; /* objects a pickle may create; default 50,000,000 */
    uint32_t max_depth;        /* nesting of containers in a pickle / JSON; default 1000 */
    uint64_t max_header_bytes; /* safetensors JSON header; default 100,000,000 (as safetensors) */
} oclip_limits;
OCLIP_API void oclip_limits_default(oclip_limits *o);

/*
 * Opens PATH and reads its tensor table. The container is recognised from the bytes, not the
 * name (a path ending in ".index.json" is a shard index). Training checkpoints
 * ({"epoch":..., "state_dict":...}) are unwrapped to their state_dict and a common "module." or
 * "_orig_mod." prefix is stripped. Files that are no checkpoint at all (an HTML page, a git-lfs
 * pointer, gzip data, ONNX, GGUF, ...) are refused with a message that says what they look like.
 * `limits` may be NULL. On success *out owns the mapping; free it with oclip_checkpoint_free.
 */
OCLIP_API oclip_status oclip_checkpoint_open(const char *path, const oclip_limits *limits,
                                   oclip_checkpoint **out, oclip_error *err);

/*
 * Same, over `size` bytes at `data` that the caller keeps alive and unchanged until the
 * checkpoint is freed. `name` is used in messages only (may be NULL). Sharded indexes cannot be
 * opened this way (their shards are separate files).
 */
OCLIP_API oclip_status oclip_checkpoint_open_memory(const void *data, size_t size, const char *name,
                                          const oclip_limits *limits, oclip_checkpoint **out,
                                          oclip_error *err);

OCLIP_API void oclip_checkpoint_free(oclip_checkpoint *ck);

OCLIP_API oclip_container oclip_checkpoint_container(const oclip_checkpoint *ck);
OCLIP_API oclip_layout oclip_checkpoint_layout(const oclip_checkpoint *ck);

/* Number of tensors and the i-th one, in file order (NULL when i is out of range). */
OCLIP_API size_t oclip_checkpoint_n_tensors(const oclip_checkpoint *ck);
OCLIP_API const oclip_tensor *oclip_checkpoint_tensor(const oclip_checkpoint *ck, size_t i);
/* The tensor named `name`, or NULL. O(1). */
OCLIP_API const oclip_tensor *oclip_checkpoint_find(const oclip_checkpoint *ck, const char *name);

/* 1 when the file was a training checkpoint whose "state_dict" entry was used. */
OCLIP_API int oclip_checkpoint_is_training(const oclip_checkpoint *ck);
/* "module.", "_orig_mod." (or "module._orig_mod." ...) when a prefix was stripped, else NULL. */
OCLIP_API const char *oclip_checkpoint_prefix_stripped(const oclip_checkpoint *ck);

/*
 * What the file said about itself, as (key, value) strings:
 *   - top-level entries of a pickled dict that are not the tensor table, summarised
 *     ("epoch" -> "32", "name" -> "'ViT-B-32'", "optimizer" -> "dict (2 entries)"),
 *   - safetensors "__metadata__" pairs (key and value verbatim),
 *   - records of note ("byteorder", "version", "torchscript.root" ...).
 * Returns 0 and leaves the pointers untouched when i is out of range.
 */
OCLIP_API size_t oclip_checkpoint_n_entries(const oclip_checkpoint *ck);
OCLIP_API int oclip_checkpoint_entry(const oclip_checkpoint *ck, size_t i, const char **key,
                           const char **value);


/* ---------------------------------------------------------------------------------------------
 * Model configs (OpenCLIP model-config JSON, open_clip model.py CLIPVisionCfg/CLIPTextCfg), with OpenCLIP's defaults.
 *
 * Strings are fixed-size and NUL-terminated. Fields that OpenCLIP leaves unset (None) are
 * marked with a has_* flag. `family` says which tower types the config needs; oclip computes
 * OCLIP_FAMILY_NATIVE (native ViT + native text), OCLIP_FAMILY_RESNET and the SigLIP models of
 * OCLIP_FAMILY_TIMM; the others are recognised and refused.
 */
typedef enum {
    OCLIP_FAMILY_NATIVE = 0,  /* native ViT + native CLIP text: what oclip runs */
    OCLIP_FAMILY_RESNET,      /* ModifiedResNet image tower (RN50 ...): computed */
    OCLIP_FAMILY_TIMM,        /* timm image tower (ConvNeXt, EVA, SigLIP ViTs ...) */
    OCLIP_FAMILY_HF_TEXT,     /* Hugging Face text tower (xlm-roberta, mt5, ...) */
    OCLIP_FAMILY_CUSTOM_TEXT, /* CustomTextCLIP with native towers (text.* keys) */
    OCLIP_FAMILY_COCA,        /* multimodal_cfg: CoCa */
    OCLIP_FAMILY_OTHER        /* anything else unusual (custom blocks, attentional pool, ...) */
} oclip_family;

/* "native", "ModifiedResNet", "timm", "hf-text", "custom-text", "CoCa", "other" */
OCLIP_API const char *oclip_family_name(oclip_family f);

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
    int attentional_pool;   /* 0; 1 true; 2 a string ('parallel' / 'cascade') */
    char pool_type[16];     /* "tok" | "avg" | "none" */
    char pos_embed_type[16];/* "learnable" | "sin_cos_2d" */
    double ln_eps;          /* norm_kwargs.eps, default 1e-5 */
    char act_approximate[16]; /* act_kwargs.approximate: "" (exact) or "tanh" */
    char timm_model_name[96]; /* "" unless a timm tower */
    int custom_block;       /* block_type "custom" or any qk_norm/scale_* flag */
    char timm_pool[16];     /* timm towers' pooling: default "avg"; SigLIP "map" */
    char timm_proj[16];     /* timm towers' projection: default "linear"; SigLIP "none";
                               "" for null */
    int attn_pooler_queries; /* attentional_pool: AttentionalPooler queries, default 256 */
    int attn_pooler_heads;   /* and its heads, default 8 */
} oclip_vision_cfg;

/* CoCa's multimodal_cfg (open_clip coca_model.py MultimodalCfg, a CLIPTextCfg): what
 * _build_text_decoder_tower reads of it (the MultimodalTransformer's sizes; its mlp_ratio is
 * MultimodalTransformer's default 4.0, whatever the config says) */
typedef struct {
    int context_length;     /* default 77 (the decoder's causal mask) */
    int width;              /* default 512 */
    int heads;              /* default 8 */
    int layers;             /* default 12 */
    int has_ls;
    double ls_init_value;
} oclip_multimodal_cfg;

/* The Hugging Face model of an HF text tower (text_cfg.hf_model_name): its config.json values,
 * filled by oclip_check from the config.json beside the weights, in the Hugging Face cache, or
 * built in for the names OpenCLIP's configs use (src/model/hftext.c). */
typedef struct {
    char model_type[24];    /* "roberta" | "xlm-roberta" | "m2m_100" (NLLB's encoder); "" until
                               resolved. m2m_100's d_model, encoder_layers,
                               encoder_attention_heads, encoder_ffn_dim are read as hidden_size,
                               num_hidden_layers, num_attention_heads, intermediate_size */
    int vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int max_position_embeddings, type_vocab_size, pad_token_id;
    double layer_norm_eps;
    int scale_embedding;    /* m2m_100: token embeddings times sqrt(d_model) */
    char activation[16];    /* "gelu" (hidden_act) | "relu" (m2m_100 activation_function) */
    char source[320];       /* where the values came from */
} oclip_hf_text_cfg;

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
    /* tokenizer_kwargs (OpenCLIP passes them to the tokenizer's constructor): clean as an
     * oclip_clean value, -1 when not set (the tokenizer's default: "lower" for OpenCLIP's
     * SimpleTokenizer, "whitespace" for HFTokenizer); strip_sep_token 0 / 1 */
    int tokenizer_clean;
    int strip_sep_token;
    /* HFTextEncoder (open_clip hf_model.py): hf_pooler_type (default "mean_pooler") and
     * hf_proj_type (default "mlp"; "" for null), and the Hugging Face model's config */
    char hf_pooler_type[40];
    char hf_proj_type[16];
    oclip_hf_text_cfg hf;
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
    oclip_multimodal_cfg multimodal_cfg; /* when multimodal */
} oclip_model_config;

/* Preprocessing config (open_clip_config.json "preprocess_cfg" / pretrained tag). */
typedef struct {
    int size[2];            /* [h, w]; 0 = the model's image_size */
    double mean[3], std[3]; /* default OpenAI constants */
    char interpolation[16]; /* "bicubic" (default) | "bilinear" */
    char resize_mode[16];   /* "shortest" (default) | "longest" | "squash" */
    int fill_color;         /* default 0 */
    /* refuse an image whose resize target (before the crop) has more pixels than this: a thin
     * image resized "shortest" grows by the square of the ratio (16384 x 1 to 224: 822 M
     * pixels). 0 = 178,956,970, the decoder's default; at most 2^32 whatever is set. Not
     * from the config file. */
    uint64_t max_pixels;
} oclip_preprocess_cfg;

/* Parses an OpenCLIP model-config JSON object (a model_configs/ file, or the "model_cfg" of an
 * open_clip_config.json). Missing keys take OpenCLIP's defaults. */
OCLIP_API oclip_status oclip_config_parse(const char *json, size_t len, oclip_model_config *out,
                                oclip_error *err);

/* Parses an open_clip_config.json: model_cfg into *model and preprocess_cfg into *pre (either
 * may be NULL). A file without "model_cfg" is an error. */
OCLIP_API oclip_status oclip_config_parse_open_clip(const char *json, size_t len, oclip_model_config *model,
                                          oclip_preprocess_cfg *pre, oclip_error *err);

/* Converts a transformers CLIPModel config.json (text_config / vision_config / projection_dim,
 * with transformers' defaults for absent keys) into the equivalent OpenCLIP config:
 * hidden_act "quick_gelu" -> quick_gelu, head_width = hidden_size / num_attention_heads,
 * mlp_ratio = intermediate_size / hidden_size, layer_norm_eps -> ln_eps. */
OCLIP_API oclip_status oclip_config_from_hf(const char *json, size_t len, oclip_model_config *out,
                                  oclip_error *err);

/* The config as OpenCLIP model-config JSON (geometry always, options where they differ from
 * OpenCLIP's defaults; what open_clip_config.json's "model_cfg" holds). A NUL-terminated string
 * to release with oclip_free; NULL when out of memory. */
OCLIP_API char *oclip_config_to_json(const oclip_model_config *cfg);
/* Why this library cannot compute an architecture: NULL when it can (oclip_model_load runs it),
 * else a constant sentence naming the part it does not implement ("ModifiedResNet image tower
 * (RN50 family)", "text embed_cls (CoCa)", ...), the reason loading it is refused. */
OCLIP_API const char *oclip_config_unsupported(const oclip_model_config *cfg);

/* Releases memory the library returned (NULL is fine). */
OCLIP_API void oclip_free(void *p);

/* OpenAI's preprocessing defaults (224, OpenAI mean/std, bicubic, shortest). */
OCLIP_API void oclip_preprocess_cfg_default(oclip_preprocess_cfg *pre);

/* The built-in OpenCLIP configs (shipped with oclip, from OpenCLIP's model_configs/).
 * Names as OpenCLIP spells them; '/' in a name is treated as '-'. */
OCLIP_API size_t oclip_config_builtin_count(void);
OCLIP_API const char *oclip_config_builtin_name(size_t i); /* NULL when out of range */
OCLIP_API oclip_status oclip_config_builtin(const char *name, oclip_model_config *out, oclip_error *err);

/* QuickGELU (x * sigmoid(1.702 x), the activation OpenAI trained with) or exact GELU: the one
 * tri-state for every place that states or chooses it (options, pretrained tags). */
typedef enum {
    OCLIP_QUICK_GELU_UNSET = 0, /* options: as the architecture says; a tag: it does not say */
    OCLIP_QUICK_GELU_ON,        /* QuickGELU */
    OCLIP_QUICK_GELU_OFF        /* exact GELU */
} oclip_quick_gelu;

/* A pretrained tag of OpenCLIP's table (v3.3.0), e.g. ("ViT-B-32", "laion2b_s34b_b79k"). */
typedef struct {
    char arch[64], tag[64];
    char hf_hub[160];       /* "org/repo/" or "org/repo/file", "" if none */
    char url[256];          /* "" if none */
    oclip_quick_gelu quick_gelu; /* what the weights were trained with; UNSET where the table
                                    does not say (OpenCLIP then runs the config's activation) */
    oclip_preprocess_cfg preprocess;
} oclip_pretrained;

/* Looks up ARCH + TAG (tags are matched lowercase with '-' as '_', as OpenCLIP does). */
OCLIP_API oclip_status oclip_pretrained_lookup(const char *arch, const char *tag, oclip_pretrained *out,
                                     oclip_error *err);
OCLIP_API size_t oclip_pretrained_count(void);
/* The i-th (arch, tag) pair in table order; 0 when out of range. */
OCLIP_API int oclip_pretrained_at(size_t i, const char **arch, const char **tag);


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
    uint32_t struct_size;             /* oclip_check_options_default sets it */
    const oclip_model_config *config; /* use this architecture; NULL = infer from the tensors */
    const char *config_source;        /* how it was chosen, for messages ("--arch", ...) */
    int scan;                         /* also look for NaN/Inf in every float tensor */
    const char *tag;                  /* pretrained tag of config->name (e.g. "openai"), or NULL:
                                         its QuickGELU setting is compared with the config's */
    oclip_quick_gelu quick_gelu;      /* ON / OFF: the activation, whatever the config (given
                                         or inferred) says; the report's config shows it */
} oclip_check_options;
OCLIP_API void oclip_check_options_default(oclip_check_options *o);

typedef struct oclip_report oclip_report;

/*
 * Validates `ck` against an architecture. Returns OCLIP_OK when the check ran (whether or not it
 * found problems: see oclip_report_ok); an error status only when it could not run (e.g. the
 * config's family is not supported, or memory). *out is then a report to free.
 */
OCLIP_API oclip_status oclip_check(const oclip_checkpoint *ck, const oclip_check_options *opt,
                         oclip_report **out, oclip_error *err);
OCLIP_API void oclip_report_free(oclip_report *r);

OCLIP_API int oclip_report_ok(const oclip_report *r);             /* 1 when no issue was found */
OCLIP_API size_t oclip_report_n_issues(const oclip_report *r);
OCLIP_API const oclip_issue *oclip_report_issue(const oclip_report *r, size_t i);
/* Notes and hints in order of importance ("HF-transformers layout: mapped automatically (78
 * tensors)", "shapes fit ViT-B-16 (patch 16, 197 positions), not ViT-B-32", ...). */
OCLIP_API size_t oclip_report_n_notes(const oclip_report *r);
OCLIP_API const char *oclip_report_note(const oclip_report *r, size_t i);
/* The architecture compared against, and where it came from ("--arch", "inferred", ...). */
OCLIP_API const oclip_model_config *oclip_report_config(const oclip_report *r);
OCLIP_API const char *oclip_report_config_source(const oclip_report *r);
/* The built-in config whose expected state dict the tensors fit exactly, or NULL. */
OCLIP_API const char *oclip_report_match(const oclip_report *r);
/* "OpenCLIP state dict" view: the checkpoint after mapping (OpenCLIP names, fused q/k/v ...);
 * valid until the report is freed. */
OCLIP_API const oclip_checkpoint *oclip_report_mapped(const oclip_report *r);

/*
 * Infers an architecture from tensor shapes alone (any layout): widths, layers, patch and image
 * size, embed_dim, context length, vocab, MLP ratio, LayerScale, heads (width / 64, OpenCLIP's
 * head_width default, unless a matching built-in config says otherwise). When a built-in native
 * config expects exactly these keys and shapes, *out is that config (with name set); several
 * match when they differ only in what weights cannot show (QuickGELU): the one without
 * "-quickgelu" is returned and *ambiguous_quick_gelu set.
 */
OCLIP_API oclip_status oclip_infer_config(const oclip_checkpoint *ck, oclip_model_config *out,
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
OCLIP_API oclip_status oclip_dtype_cast(void *dst, oclip_dtype to, const void *src, oclip_dtype from,
                              size_t n, oclip_error *err);

/* "Keep each tensor's dtype": the one way to say so, wherever a dtype is asked for
 * (oclip_save_safetensors' cast, oclip_convert_options.dtype, oclip_model_options.weight_dtype). */
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
OCLIP_API oclip_status oclip_save_safetensors(const oclip_checkpoint *ck, const char *path,
                                    const char *const *names, size_t n_names, oclip_dtype cast,
                                    const char *const *metadata, size_t n_metadata,
                                    oclip_error *err);

typedef enum {
    OCLIP_FORMAT_OPEN_CLIP = 0, /* OpenCLIP state dict (open_clip_model.safetensors) */
    OCLIP_FORMAT_HF             /* transformers CLIPModel folder (model.safetensors + config.json) */
} oclip_format;

/* The defaults (oclip_convert_options_default, or NULL): OpenCLIP format, every dtype kept,
 * OpenAI preprocessing, no progress reports. */
typedef struct {
    uint32_t struct_size;                   /* oclip_convert_options_default sets it */
    oclip_format to;
    oclip_dtype dtype;                      /* OCLIP_DTYPE_KEEP, or F32 / F16 / BF16: float
                                               tensors are cast to it (oclip_dtype_cast) */
    const oclip_preprocess_cfg *preprocess; /* written to open_clip_config.json; NULL = OpenAI's */
    /* called from the writing thread after each chunk of tensor data: bytes done of total */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
    int no_metadata;                        /* 1: a single OpenCLIP .safetensors file without
                                               the "open_clip_config" metadata (below) */
} oclip_convert_options;
OCLIP_API void oclip_convert_options_default(oclip_convert_options *o);

/*
 * Writes the checkpoint a check report describes in another format. The report must be OK
 * (oclip_report_ok; OCLIP_E_MISMATCH otherwise); its mapped tensors (oclip_report_mapped: OpenCLIP
 * names, whatever the source layout) and its architecture (oclip_report_config) are used.
 *
 * OCLIP_FORMAT_OPEN_CLIP: exactly the keys of OpenCLIP's state dict for the architecture
 *   (logit_scale as [] or, with nonscalar_logit_scale, [1]). When `out` is an existing folder or
 *   ends with '/', writes out/open_clip_model.safetensors and out/open_clip_config.json
 *   ({"model_cfg": the architecture as an OpenCLIP model config, "preprocess_cfg": ...}; the
 *   folder is created if needed); otherwise `out` is the .safetensors file to write, and its
 *   __metadata__ holds that open_clip_config.json text as "open_clip_config" (one line), so
 *   that the file alone keeps its architecture and preprocessing (oclip_source_open reads it;
 *   OpenCLIP and safetensors ignore it); no_metadata leaves it out (then the bytes are those
 *   of safetensors.torch.save_file for the tensors alone).
 * OCLIP_FORMAT_HF: `out` is a folder (created if needed) that receives model.safetensors
 *   (transformers CLIPModel keys: q/k/v split from in_proj, projections transposed, metadata
 *   {"format": "pt"}), config.json (CLIPConfig) and open_clip_config.json (the exact OpenCLIP
 *   architecture, which config.json cannot always carry: head_width, mlp_ratio ...). Refused
 *   with OCLIP_E_UNSUPPORTED, every reason listed, when CLIPModel cannot express the
 *   architecture (LayerScale, no ln_pre, pooling other than the class / EOT token, projection
 *   bias, logit_bias, non-square images, heads that do not divide the width ...).
 * All files appear together at the end (see above); nothing is written on failure.
 */
OCLIP_API oclip_status oclip_convert(const oclip_report *r, const char *out,
                           const oclip_convert_options *opt, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Model sources: where a model comes from (source.c)
 *
 * oclip_source_resolve turns a model spec (what `-m SPEC` names) and the overrides into one
 * description: the weights file, the architecture and the preprocessing with where each came
 * from, the pretrained tag, notes and warnings. oclip_model_load is resolve -> open -> check ->
 * bind, and every command of the oclip program reads its specs through the same function.
 *
 *     oclip_source *src = NULL;
 *     oclip_source_options so;
 *     oclip_source_options_default(&so);
 *     so.weights_optional = 1;                       // preprocessing only: no weights needed
 *     if (oclip_source_resolve("ViT-B-32:openai", &so, &src, &err) != OCLIP_OK) ...
 *     const oclip_preprocess_cfg *pre = oclip_source_preprocess(src);
 *     oclip_source_free(src);
 *
 * Specs:
 *   NULL, "" or "default"
 *                 the default model embedded in the library (models/default: a small CLIP
 *                 trained with OpenCLIP on generated shapes; see its README) -- a demo, not a
 *                 real CLIP. A file or folder named "default" is "./default".
 *   PATH          a checkpoint file (.bin/.pt/.pth/.safetensors) or a
 *                 model.safetensors.index.json
 *   DIR           the checkpoint OpenCLIP's local-dir loader picks (open_clip factory.py,
 *                 pretrained.py): open_clip_model.safetensors, open_clip_pytorch_model.safetensors,
 *                 open_clip_pytorch_model.bin, open_clip_pytorch_model.pth, model.safetensors,
 *                 model.safetensors.index.json, pytorch_model.bin, pytorch_model.pth, model.pth
 *   hf-hub:ORG/NAME[@REVISION]
 *                 the Hugging Face cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
 *                 $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 *                 ~/.cache/huggingface/hub (as huggingface_hub). The snapshot is
 *                 models--ORG--NAME/snapshots/<hash>/, where <hash> is read from refs/<REVISION>
 *                 (default "main") or is REVISION itself; paths go through the snapshot folder
 *                 (never a blob's name). Weights: open_clip_model.safetensors, else
 *                 open_clip_pytorch_model.bin, else (a repository with HF-transformers weights
 *                 only) model.safetensors, else pytorch_model.bin. ORG, NAME and REVISION may
 *                 hold letters, digits, '-', '_' and '.' only (no "..", no leading '.').
 *   ARCH:TAG      OpenCLIP's pretrained table (oclip_pretrained_lookup; the tag is normalised):
 *                 the weights are the tag's hf_hub file at refs/main in the cache
 *                 ("org/repo/" -> open_clip_model.safetensors, else open_clip_pytorch_model.bin;
 *                 "org/repo/x.bin" -> x.safetensors, else x.bin), else the file named by the
 *                 tag's url in ~/.cache/clip (OpenCLIP's download folder for URLs).
 *   ARCH, or a config file (an open_clip_config.json, an OpenCLIP model config or an
 *                 HF-transformers config.json; told by content, at most 16 MiB)
 *                 an architecture without weights: only with weights_optional (for
 *                 preprocessing and tokenizing).
 * A spec that is none of these is OCLIP_E_IO with the system's reason ("No such file or
 * directory").
 *
 * The architecture is the first of:
 *   1. the options: config (in memory), arch (built-in NAME, or NAME:TAG: also that tag's
 *      preprocessing and QuickGELU statement), config_file;
 *   2. what the spec names: the embedded model's own config; the open_clip_config.json beside
 *      the checkpoint (in the folder of the path as given, not of a symlink's target) or in the
 *      hf-hub snapshot (its HF-transformers config.json when the snapshot has only HF weights);
 *      for ARCH:TAG the built-in ARCH as given (OpenCLIP 3.3's choice: ViT-B-32:openai runs
 *      exact GELU, and a warning says that the tag was trained with QuickGELU), unless the
 *      snapshot's open_clip_config.json describes other tensor shapes (weights ARCH cannot
 *      load): then that config;
 *   3. once the checkpoint is open (oclip_source_open): the config `oclip convert` writes into a
 *      single safetensors file's __metadata__ ("open_clip_config", the open_clip_config.json
 *      text), else an HF config.json beside an HF-layout checkpoint;
 *   4. during the check (oclip_source_check): inferred from the tensor shapes
 *      (oclip_infer_config). When no built-in config fits them, the attention heads, the
 *      activation and the norm epsilon are guesses, and a warning says so.
 * quick_gelu, when set, then overrides the activation. The preprocessing is the preprocess_cfg
 * of the open_clip_config.json that gave the architecture (or of config_file), else the
 * pretrained tag's, else OpenAI's defaults (OpenCLIP's, and what an HF-transformers config
 * implies; oclip_source_preprocess_origin is "" when nothing stated it: an inferred
 * architecture); its size is always the architecture's image_size.
 *
 * Downloads (fetch, below) go to the caches above exactly as huggingface_hub lays them out
 * (blobs/<etag>, snapshots/<commit>/<file> relative symlinks, refs/<revision>), through
 * blobs/<etag>.incomplete, resumed with a Range request, verified (the SHA-256 the hub reports
 * for LFS files, else the size), fsynced and renamed: no partial file ever has the final name.
 * A per-blob flock (.locks/, the lock huggingface_hub takes) serialises concurrent pulls;
 * docs/HUB.md has the hub's HTTP conventions. A model family oclip does not run (timm towers
 * other than SigLIP's, Hugging Face towers, CoCa, ...) is refused before anything is downloaded
 * (OCLIP_E_UNSUPPORTED, naming the family): for ARCH:TAG the built-in config says so offline,
 * for hf-hub: the repository's open_clip_config.json, fetched first.
 */
typedef struct oclip_source oclip_source;

typedef enum {
    OCLIP_SOURCE_EMBEDDED = 0, /* the default model embedded in the library */
    OCLIP_SOURCE_FILE,         /* a checkpoint file or shard index */
    OCLIP_SOURCE_DIR,          /* a folder */
    OCLIP_SOURCE_HF_HUB,       /* hf-hub:ORG/NAME[@REVISION] */
    OCLIP_SOURCE_PRETRAINED,   /* ARCH:TAG */
    OCLIP_SOURCE_ARCH,         /* a built-in architecture name, no weights */
    OCLIP_SOURCE_CONFIG        /* a config file, no weights */
} oclip_source_kind;

/* When oclip_source_resolve may download (hf-hub: and ARCH:TAG; nothing else is downloaded). */
typedef enum {
    OCLIP_FETCH_NEVER = 0, /* the caches only; what is missing is OCLIP_E_NOTFOUND with the
                              folder looked at and the `oclip pull` command that fetches it */
    OCLIP_FETCH_MISSING,   /* download what the caches lack (HF_HUB_OFFLINE=1 forbids it) */
    OCLIP_FETCH_ALWAYS     /* ask the hub about every file, download what changed (oclip_pull) */
} oclip_fetch;

/* Where and how to download (all optional). */
typedef struct {
    uint32_t struct_size; /* oclip_pull_options_default sets it */
    int offline;          /* 1: never use the network, as HF_HUB_OFFLINE=1 */
    const char *endpoint; /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;    /* NULL: $HF_TOKEN, else the token file `hf auth login` writes */
    const char *revision; /* NULL: the spec's @REVISION, else "main" (ARCH:TAG: "main" only) */
    /* called as bytes arrive (total 0 = unknown) and once more when a file is complete */
    void (*progress)(void *user, const char *file, uint64_t done, uint64_t total);
    void *user;
} oclip_pull_options;
OCLIP_API void oclip_pull_options_default(oclip_pull_options *o);

typedef struct {
    uint32_t struct_size;             /* oclip_source_options_default sets it */
    const char *arch;                 /* a built-in architecture NAME, or NAME:TAG (the tag's
                                         preprocessing and QuickGELU statement too); NULL */
    const char *config_file;          /* an open_clip_config.json (architecture and
                                         preprocessing) or an OpenCLIP model config; NULL */
    const oclip_model_config *config; /* an architecture in memory; NULL */
    const char *config_source;        /* how `config` was chosen, for messages; NULL: "given" */
    oclip_quick_gelu quick_gelu;      /* ON / OFF override the activation */
    int weights_optional;             /* 1: the architecture and preprocessing are enough:
                                         missing weights are no error, and a bare ARCH or a
                                         config file is a spec */
    oclip_fetch fetch;                /* default OCLIP_FETCH_NEVER */
    const oclip_pull_options *pull;   /* for downloads; NULL: the defaults */
} oclip_source_options;
OCLIP_API void oclip_source_options_default(oclip_source_options *o);

/*
 * Resolves SPEC (the forms above; opt may be NULL) into *out, to free with oclip_source_free.
 * Small JSON files are read; the checkpoint itself is not opened (oclip_source_open does that).
 * Errors: OCLIP_E_IO (no such file), OCLIP_E_NOTFOUND (not in the cache: the message names the
 * folder looked at and `oclip pull SPEC`; no such tag: it lists the valid ones), OCLIP_E_ARG (a
 * malformed hf-hub: name, a path too long, a bare ARCH without weights_optional),
 * OCLIP_E_FORMAT (a config file that does not parse), OCLIP_E_UNSUPPORTED (a model family oclip
 * does not run, before downloading it); download errors as oclip_pull's. Reads the
 * environment; thread-safe.
 */
OCLIP_API oclip_status oclip_source_resolve(const char *spec, const oclip_source_options *opt,
                                  oclip_source **out, oclip_error *err);
OCLIP_API void oclip_source_free(oclip_source *s);

/*
 * Downloads what SPEC (hf-hub:ORG/NAME[@REVISION] or ARCH:TAG) needs into the caches, asking
 * the hub about every file (already cached files are not downloaded again: one HEAD request
 * each), then resolves it as oclip_source_resolve does (*out). hf-hub: takes
 * open_clip_config.json, then open_clip_model.safetensors, else open_clip_pytorch_model.bin; a
 * repository with neither gives its HF-transformers model.safetensors (else pytorch_model.bin)
 * and config.json (a note says so). ARCH:TAG takes the tag's hf_hub file at "main" (its
 * .safetensors sibling first) and the repository's open_clip_config.json when it has one; a
 * tag with only a url (or whose repository is gone) downloads the url to ~/.cache/clip/.
 * Offline (opt->offline or HF_HUB_OFFLINE=1) nothing touches the network: the spec is resolved
 * in the cache, or the error names the missing file and the `oclip pull` command. When the hub cannot be reached, the cache answers if it can (a note
 * says so). Errors: OCLIP_E_ARG (not a pullable spec), OCLIP_E_NOTFOUND (no such tag, repo,
 * revision or file: the message lists what the repo has), OCLIP_E_IO (network, HTTP 401/403
 * with a hint about HF_TOKEN, disk), OCLIP_E_FORMAT (SHA-256 or size mismatch: the partial file
 * is deleted; a malformed answer), OCLIP_E_UNSUPPORTED (see above). Thread-safe.
 */
OCLIP_API oclip_status oclip_pull(const char *spec, const oclip_pull_options *opt, oclip_source **out,
                        oclip_error *err);
/* 1 when HF_HUB_OFFLINE holds a true value ("1", "ON", "YES", "TRUE"), as huggingface_hub. */
OCLIP_API int oclip_hub_offline(void);
/* The Hugging Face hub cache folder the rules above give, in out[size]: OCLIP_OK, or
 * OCLIP_E_NOTFOUND when no variable says where (no HOME) or OCLIP_E_ARG when it is too long. */
OCLIP_API oclip_status oclip_hf_cache_dir(char *out, size_t size, oclip_error *err);

/*
 * Opens the checkpoint (the embedded one from the library's memory) and completes the
 * architecture from it when nothing before did (step 3 above). The checkpoint belongs to the
 * source (oclip_source_checkpoint). Nothing happens the second time. OCLIP_E_ARG when the
 * source has no weights; the reader's errors, or a malformed metadata / config.json, otherwise.
 */
OCLIP_API oclip_status oclip_source_open(oclip_source *s, oclip_error *err);
/*
 * Opens (if not yet) and validates the checkpoint against the source's architecture
 * (oclip_check; inferred when there is none; quick_gelu applied); scan: also look for NaN/Inf.
 * Afterwards the source's config is the report's (named, inferred or overridden) and its
 * warnings say what was guessed. *out is a report to free; errors as oclip_check's.
 */
OCLIP_API oclip_status oclip_source_check(oclip_source *s, int scan, oclip_report **out, oclip_error *err);

OCLIP_API oclip_source_kind oclip_source_kind_of(const oclip_source *s);
/* The weights' file; "" when there is none (the embedded model; weights_optional without
 * weights in the cache; a bare ARCH or config file). */
OCLIP_API const char *oclip_source_path(const oclip_source *s);
/* The checkpoint oclip_source_open opened, or NULL. */
OCLIP_API const oclip_checkpoint *oclip_source_checkpoint(const oclip_source *s);
/* The architecture, or NULL while it is not known (before steps 3-4 above). */
OCLIP_API const oclip_model_config *oclip_source_config(const oclip_source *s);
/* Where it came from: a file's path, "built-in config ARCH (pretrained ARCH:TAG)", "checkpoint
 * metadata (open_clip_config)", "inferred", ... with " + QuickGELU" / " + exact GELU" when
 * overridden; "" while unknown. */
OCLIP_API const char *oclip_source_config_origin(const oclip_source *s);
/* How images are preprocessed (size = the architecture's image_size, once known). Never NULL. */
OCLIP_API const oclip_preprocess_cfg *oclip_source_preprocess(const oclip_source *s);
/* Where that came from; "" when nothing stated it (OpenAI's defaults). */
OCLIP_API const char *oclip_source_preprocess_origin(const oclip_source *s);
/* ARCH:TAG (or arch NAME:TAG): the normalised tag and what it was trained with; "" / UNSET. */
OCLIP_API const char *oclip_source_tag(const oclip_source *s);
OCLIP_API oclip_quick_gelu oclip_source_tag_quick_gelu(const oclip_source *s);
/* One line for people: what the spec resolved to and where everything came from. */
OCLIP_API const char *oclip_source_description(const oclip_source *s);
/* Notes (what was done: "offline: ... is in the cache", an HF-transformers repository ...) and
 * warnings (what may make the results differ from the model's own: a tag trained with another
 * activation, a guessed architecture); NULL when i is out of range. */
OCLIP_API size_t oclip_source_n_notes(const oclip_source *s);
OCLIP_API const char *oclip_source_note(const oclip_source *s, size_t i);
OCLIP_API size_t oclip_source_n_warnings(const oclip_source *s);
OCLIP_API const char *oclip_source_warning(const oclip_source *s, size_t i);
/* What the downloads of oclip_pull or OCLIP_FETCH_* did (all zero when there were none). */
typedef struct {
    int files;          /* files looked at on the hub */
    int downloaded;     /* files downloaded now (0: all were in the cache) */
    uint64_t bytes;     /* bytes transferred now */
    int offline;        /* answered from the cache without the network */
    const char *commit; /* the snapshot's commit; "" for a url file or without downloads */
} oclip_fetch_info;
OCLIP_API const oclip_fetch_info *oclip_source_fetch_info(const oclip_source *s);

/* ---------------------------------------------------------------------------------------------
 * Reports as JSON: the output of `oclip inspect --json` and `oclip check --json` (fields in
 * README.md), for programs and the Python package. One compact object, valid UTF-8 whatever the
 * file held: control characters as \u00XX, bytes that are not UTF-8 as \ufffd. malloc'd, to
 * release with oclip_free; NULL when out of memory or `s` has no checkpoint (not opened).
 */
/* What the opened source `s` holds (oclip_source_open): path, container, layout, wrapper,
 * prefix_stripped, tensors, parameters, dtypes, entries, and its architecture: `r`, the report
 * of oclip_source_check(s), or NULL when that failed, with `arch_note` (its error message) as
 * architecture_note. tensors != 0: also tensor_list (name, dtype, shape of each). */
OCLIP_API char *oclip_inspect_json(const oclip_source *s, const oclip_report *r,
                                   const char *arch_note, int tensors);
/* The check report `r` of the source `s` (oclip_source_check(s, ...)): path, ok, layout,
 * architecture, source, quick_gelu, fits, issues (kind, key, expected, found, detail), notes,
 * warnings. */
OCLIP_API char *oclip_report_json(const oclip_source *s, const oclip_report *r);

/* ---------------------------------------------------------------------------------------------
 * Inference: models, image and text embeddings, logits (docs/ENGINE.md)
 *
 *     oclip_model *m = NULL;
 *     if (oclip_model_load("ViT-B-32-dir/", NULL, &m, &err) != OCLIP_OK) ...
 *     float *emb = malloc(n * oclip_model_embed_dim(m) * sizeof(float));
 *     oclip_encode_image(m, pixels, n, emb, 1, &err);   // pixels [n, 3, H, W], preprocessed
 *     oclip_model_free(m);
 *
 * The native ViT image tower and native text tower of OpenCLIP's `CLIP` (open_clip transformer.py, model.py),
 * computed in fp32 from the weights as stored (F32, F16 or BF16 read straight from the mapped
 * file). Results are bit-identical for any thread count. A model handle is read-only: several
 * threads may encode with one handle at once (each call takes its own scratch memory).
 */
typedef struct oclip_model oclip_model;

/* The defaults (oclip_model_options_default, or NULL): all cores, the spec's architecture (or
 * inferred), the weights as stored, nothing downloaded. */
typedef struct {
    uint32_t struct_size;             /* oclip_model_options_default sets it */
    int threads;                      /* worker threads per call; 0 = all online cores */
    const oclip_model_config *config; /* the same as oclip_source_options.config /
                                         .config_source / .quick_gelu: set here, they take */
    const char *config_source;        /* precedence over `source`'s */
    oclip_quick_gelu quick_gelu;
    oclip_dtype weight_dtype;         /* OCLIP_DTYPE_KEEP (or F32, the same): the weights as
                                         stored, exact fp32 arithmetic (widening F16 / BF16 to
                                         fp32 is exact). OCLIP_DTYPE_BF16 / F16: the GEMM
                                         weights rounded to that type at load (half the memory
                                         traffic); BF16 on a CPU with AVX512-BF16 also rounds
                                         the GEMM inputs to BF16 and uses its dot products
                                         (faster, cosine to fp32 >= 0.9999; docs/ENGINE.md).
                                         Only on the SIMD kernel paths (oclip_simd_name()).
                                         OCLIP_DTYPE_I8: the transformer blocks' weights
                                         quantized to int8 per output channel and their inputs
                                         per token (AVX512-VNNI dot products where present, an
                                         exact integer reference elsewhere; the same results
                                         on every path; accuracy in docs/ENGINE.md). Other
                                         values: OCLIP_E_ARG */
    const oclip_source_options *source; /* how `spec` is resolved (overrides, downloads); NULL:
                                           the defaults (nothing downloaded) */
} oclip_model_options;
OCLIP_API void oclip_model_options_default(oclip_model_options *o);

/*
 * Loads a model: oclip_source_resolve(spec) -> oclip_source_open -> oclip_source_check ->
 * the towers bound to the weights in the mapped file. `spec`, the architecture and the
 * preprocessing follow "Model sources" above; the source's errors are returned as they are.
 * A checkpoint that does not fit its architecture is refused (OCLIP_E_MISMATCH) with the first
 * problems and a hint to run `oclip check`. Architectures or options the engine does not compute
 * (other families, attentional pooling, pool type 'none', custom blocks ...) are refused
 * (OCLIP_E_UNSUPPORTED), never approximated. The weights stay in the mapped file; each tower's
 * GEMM weights are copied into the kernels' layout (and rounded or quantized for weight_dtype)
 * by the first call that uses that tower, so that call takes longer (ViT-B-32 image tower: a
 * few tenths of a second) and may fail with OCLIP_E_NOMEM (a later call tries again).
 */
OCLIP_API oclip_status oclip_model_load(const char *spec, const oclip_model_options *opt,
                              oclip_model **out, oclip_error *err);
OCLIP_API void oclip_model_free(oclip_model *m);

OCLIP_API int oclip_model_embed_dim(const oclip_model *m);      /* E: floats per embedding */
OCLIP_API void oclip_model_image_size(const oclip_model *m, int *h, int *w); /* pixels input H, W */
OCLIP_API int oclip_model_context_length(const oclip_model *m); /* tokens per text (77 for CLIP BPE) */
OCLIP_API float oclip_model_logit_scale(const oclip_model *m);  /* stored (log) value; scale = exp() */
OCLIP_API float oclip_model_logit_bias(const oclip_model *m);   /* 0 when the model has none */
/* 1 when the model has a logit_bias (SigLIP): its probabilities are independent sigmoids of
 * exp(logit_scale) * cos + logit_bias, not a softmax over the texts (oclip_zero_shot_probs) */
OCLIP_API int oclip_model_has_logit_bias(const oclip_model *m);
OCLIP_API int oclip_model_threads(const oclip_model *m);
/* Sets the worker threads of m's calls (0 = all online cores; OCLIP_E_ARG when negative). Safe at
 * any time, from any thread, also while other threads encode with m: a call already running
 * may use the old count for some of its steps and the new one for others, and its results are
 * the same bytes either way (they are for any thread count). The count is per handle: threads
 * encoding with one handle share it. */
OCLIP_API oclip_status oclip_model_set_threads(oclip_model *m, int threads, oclip_error *err);
OCLIP_API const oclip_model_config *oclip_model_config_of(const oclip_model *m); /* resolved config */
/* One line: the checkpoint used and where the architecture came from, with the source's
 * warnings (oclip_source_description and warnings of oclip_model_source_of(m)). */
OCLIP_API const char *oclip_model_source(const oclip_model *m);
/* Where the model came from, as resolved (valid until oclip_model_free). */
OCLIP_API const oclip_source *oclip_model_source_of(const oclip_model *m);
/* 32 hex digits identifying the model's weights and architecture, for caches of derived data
 * (the CLI's class-embedding cache): the same for the same weights wherever the file lives,
 * different after any retraining (it hashes the config and a sample of every tensor's bytes). */
OCLIP_API oclip_status oclip_model_fingerprint(const oclip_model *m, char out[33], oclip_error *err);

/*
 * Image embeddings from preprocessed pixels: `pixels` float32 [n, 3, H, W] (C order, H x W =
 * oclip_model_image_size), `out` [n, E]. normalize = 1 divides each row by its L2 norm
 * (F.normalize), as OpenCLIP's encode_image(normalize=True).
 */
OCLIP_API oclip_status oclip_encode_image(const oclip_model *m, const float *pixels, size_t n, float *out,
                                int normalize, oclip_error *err);

/* How the model preprocesses images (the source's preprocessing; size = the model's
 * image_size). */
OCLIP_API const oclip_preprocess_cfg *oclip_model_preprocess(const oclip_model *m);

/* Image embeddings from image files (any format oclip_image_load reads), each preprocessed
 * with oclip_model_preprocess(m) exactly as OpenCLIP would: out [n, E]. The files are decoded on
 * the model's threads (oclip_model_set_threads), up to 32 at a time, then encoded together.
 * Errors name the file (the first failing one in the list). */
OCLIP_API oclip_status oclip_encode_image_files(const oclip_model *m, const char *const *paths, size_t n,
                                      float *out, int normalize, oclip_error *err);
/* The same from decoded images (oclip_image_load / oclip_image_decode), e.g. images a caller got
 * from memory or standard input: out [n, E]. */
struct oclip_image; /* see "Images and preprocessing" below */
OCLIP_API oclip_status oclip_encode_images(const oclip_model *m, const struct oclip_image *const *images,
                                 size_t n, float *out, int normalize, oclip_error *err);

/*
 * Text embeddings from token ids: `tokens` int64 [n, context_length] as OpenCLIP's tokenizer
 * returns them (EOT = the largest id, zero padding), `out` [n, E]. Ids outside the vocabulary
 * are refused (OCLIP_E_ARG).
 */
OCLIP_API oclip_status oclip_encode_text(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                               int normalize, oclip_error *err);

/* Token ids of UTF-8 strings with the model's own tokenizer, as open_clip.get_tokenizer(model)
 * gives them: out int64 [n, context_length]. A config naming a Hugging Face tokenizer
 * (text_cfg.hf_tokenizer_name, e.g. SigLIP) uses OpenCLIP's HFTokenizer over tokenizer.json and
 * tokenizer_config.json -- from the model's folder for a local path, else from the Hugging Face
 * cache copy of that repo or beside the weights (OCLIP_E_NOTFOUND with a hint when neither has
 * them) --, loaded on the first call; otherwise OpenCLIP's SimpleTokenizer. text_cfg's
 * tokenizer_kwargs (clean, strip_sep_token) apply. lens[i] is the byte length of texts[i] (NUL
 * bytes are text), or lens = NULL for NUL-terminated strings. */
OCLIP_API oclip_status oclip_model_tokenize(const oclip_model *m, const char *const *texts,
                                            const size_t *lens, size_t n, int64_t *out,
                                            oclip_error *err);

/* Text embeddings from UTF-8 strings, tokenized by oclip_model_tokenize: out [n, E]. */
OCLIP_API oclip_status oclip_encode_text_strings(const oclip_model *m, const char *const *texts,
                                       const size_t *lens, size_t n, float *out, int normalize,
                                       oclip_error *err);

/*
 * Logits as OpenCLIP's get_logits: out [n_img, n_txt] = exp(logit_scale) * cos(img_i, txt_j)
 * (+ logit_bias when the model has one). The embeddings need not be normalized.
 */
OCLIP_API oclip_status oclip_logits(const oclip_model *m, const float *img_emb, size_t n_img,
                          const float *txt_emb, size_t n_txt, float *out, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Images and preprocessing (image.c, preprocess.c)
 *
 * Decoding follows Pillow (PIL.Image.open) so that oclip sees the same pixels and the same image
 * *mode* as OpenCLIP: the mode decides how the image is resized (palette and bilevel images with
 * NEAREST, RGBA/LA premultiplied around the resize) before the conversion to RGB. Formats: PNG,
 * JPEG, BMP, PPM/PGM/PBM, GIF (first frame), WebP, TIFF. No EXIF rotation unless asked for.
 *
 *     oclip_image *img = NULL;
 *     oclip_preprocess_cfg cfg;
 *     oclip_preprocess_cfg_default(&cfg);                       // 224, OpenAI mean/std, bicubic
 *     float *px = malloc(sizeof(float) * 3 * cfg.size[0] * cfg.size[1]);
 *     if (oclip_image_load("cat.jpg", NULL, &img, &err) != OCLIP_OK ||
 *         oclip_preprocess(img, &cfg, px, &err) != OCLIP_OK) ...  // px: [3, h, w] float32
 *     oclip_image_free(img);
 */
typedef enum {
    OCLIP_IMAGE_1 = 0, /* bilevel; one byte per pixel, 0 or 255 (as Pillow stores mode "1") */
    OCLIP_IMAGE_L,     /* 8-bit gray */
    OCLIP_IMAGE_P,     /* 8-bit index into palette[] */
    OCLIP_IMAGE_I16,   /* 16-bit gray, host-endian uint16 (Pillow "I;16"; 16-bit gray PNG) */
    OCLIP_IMAGE_LA,    /* gray, alpha */
    OCLIP_IMAGE_RGB,
    OCLIP_IMAGE_RGBA,  /* straight (not premultiplied) alpha */
    OCLIP_IMAGE_CMYK,  /* as Pillow holds it (Adobe JPEGs: inverted on decode, like Pillow) */
    OCLIP_IMAGE_I16B   /* 16-bit gray stored big-endian (Pillow "I;16B"; big-endian 16-bit TIFF),
                        * kept apart because Pillow resizes it differently from "I;16" */
} oclip_image_mode;

typedef struct oclip_image {
    uint32_t width, height;
    oclip_image_mode mode;
    uint32_t channels;         /* bytes per pixel: 1 (1, L, P), 2 (LA, I16, I16B), 3 (RGB), 4 */
    uint8_t *pixels;           /* height rows of width * channels bytes, top row first */
    uint8_t palette[256 * 3];  /* mode P: RGB entries; entries a file leaves unset are black,
                                * as in Pillow */
    const char *format;        /* "png", "jpeg", "bmp", "ppm", "gif", "webp", "tiff", "raw" */
} oclip_image;

/* Limits and choices for decoding. Zero fields take the defaults. */
typedef struct {
    uint32_t struct_size; /* oclip_image_options_default sets it */
    uint64_t max_pixels; /* refuse larger images (decompression bombs); default 178,956,970 =
                          * 2 * Pillow's MAX_IMAGE_PIXELS, where Pillow raises an error too */
    int exif_transpose;  /* 1: apply a JPEG's EXIF orientation (ImageOps.exif_transpose);
                          * default 0, as OpenCLIP, which applies none */
} oclip_image_options;
OCLIP_API void oclip_image_options_default(oclip_image_options *o);

/*
 * Decodes an image from memory (`name` is used in messages only; may be NULL) or from a file.
 * The format is recognised from the bytes. `opt` may be NULL. Corrupt or truncated data gives
 * OCLIP_E_FORMAT, an unsupported variant OCLIP_E_UNSUPPORTED, a too large image OCLIP_E_NOMEM;
 * messages name the file. On success *out is owned by the caller (oclip_image_free).
 * Thread-safe; the decoders' own error and warning output is captured, never printed.
 */
OCLIP_API oclip_status oclip_image_decode(const void *data, size_t size, const char *name,
                                const oclip_image_options *opt, oclip_image **out,
                                oclip_error *err);
OCLIP_API oclip_status oclip_image_load(const char *path, const oclip_image_options *opt,
                              oclip_image **out, oclip_error *err);
/* A zero-filled image (black palette), for callers with their own pixels. No pixel limit. */
OCLIP_API oclip_status oclip_image_new(uint32_t width, uint32_t height, oclip_image_mode mode,
                             oclip_image **out, oclip_error *err);
OCLIP_API void oclip_image_free(oclip_image *img);
/* "1", "L", "P", "I;16", "LA", "RGB", "RGBA", "CMYK", "I;16B" (Pillow's names). */
OCLIP_API const char *oclip_image_mode_name(oclip_image_mode m);

/*
 * OpenCLIP's inference transform (open_clip.image_transform(is_train=False), transform.py), bit-exact with Pillow 12 / torchvision 0.24: resize by cfg->resize_mode and
 * cfg->interpolation in the image's own mode, center crop (or pad with fill_color), convert to
 * RGB, then ToTensor and Normalize in float32. cfg->size = [h, w] must be set (both > 0).
 * oclip_preprocess writes out[3 * h * w] (CHW, channel-major);
 * oclip_preprocess_u8 writes the RGB image ToTensor receives, out[h * w * 3] (HWC).
 * A side that OpenCLIP would resize to 0 pixels is refused (OCLIP_E_ARG), as torchvision does.
 * Thread-safe; the image is not modified.
 */
OCLIP_API oclip_status oclip_preprocess(const oclip_image *img, const oclip_preprocess_cfg *cfg, float *out,
                              oclip_error *err);
OCLIP_API oclip_status oclip_preprocess_u8(const oclip_image *img, const oclip_preprocess_cfg *cfg,
                                 uint8_t *out, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer: OpenCLIP's SimpleTokenizer (what open_clip.get_tokenizer returns for every model
 * with the native text tower; open_clip tokenizer.py), id for id, with the vocabulary built in.
 *
 *     int64_t row[OCLIP_CONTEXT_LENGTH];
 *     if (oclip_tokenize("a photo of a cat.", 17, OCLIP_CLEAN_LOWER, row,
 *                        OCLIP_CONTEXT_LENGTH, &err) != OCLIP_OK) ...
 *     // row = {49406, 320, 1125, 539, 320, 2368, 269, 49407, 0, ...}
 *
 * Text is UTF-8; ill-formed bytes are read as U+FFFD, one per maximal ill-formed subpart, as
 * Python's bytes.decode('utf-8', errors='replace') does. NUL bytes are text (ftfy drops them).
 * The cleaning is ftfy 6.3's fix_text (mojibake repair included), html.unescape twice,
 * whitespace collapsing and Python's lowercasing; docs/TOKENIZER.md lists the measured
 * differences (characters assigned after Unicode 15.0, bounded work on pathological input).
 * All functions are thread-safe; the vocabulary is built on first use (or by
 * oclip_tokenizer_init) and shared read-only.
 */
#define OCLIP_SOT_ID 49406        /* <start_of_text> */
#define OCLIP_EOT_ID 49407        /* <end_of_text> */
#define OCLIP_VOCAB_SIZE 49408
#define OCLIP_CONTEXT_LENGTH 77   /* OpenCLIP's default context length */

typedef enum {
    OCLIP_CLEAN_LOWER = 0,    /* clean='lower' (default): basic clean, whitespace, lowercase */
    OCLIP_CLEAN_WHITESPACE,   /* clean='whitespace': the same without lowercasing */
    OCLIP_CLEAN_CANONICALIZE  /* clean='canonicalize': also '_' -> ' ', ASCII punctuation dropped */
} oclip_clean;

/* ---- Hugging Face tokenizers (tokenizer.json), without a model ----
 * OpenCLIP's HFTokenizer(source, context_length, clean=...) over a tokenizer.json file, id for id
 * with `tokenizers` + transformers (docs/HF_TOKENIZER.md lists the components it implements and
 * refuses by name). `path` is a tokenizer.json file or a folder holding one; the
 * tokenizer_config.json beside it, when there is one, gives the pad and sep tokens and the
 * padding / truncation sides as transformers reads them. A loaded tokenizer is read-only: any
 * number of threads may use it at once. */
typedef struct oclip_hf_tokenizer oclip_hf_tokenizer;
OCLIP_API oclip_status oclip_hf_tokenizer_load(const char *path, oclip_hf_tokenizer **out,
                                               oclip_error *err);
OCLIP_API void oclip_hf_tokenizer_free(oclip_hf_tokenizer *tok);
/* HFTokenizer(...)(texts): n UTF-8 texts (lens[i] bytes, or lens = NULL for NUL-terminated) into
 * out int64 [n, context_length], EOS kept on truncation, padded with the pad token; clean as
 * HFTokenizer's clean= (its default is OCLIP_CLEAN_WHITESPACE). OCLIP_E_FORMAT when the tokenizer
 * has no pad token and a text is shorter than context_length (transformers refuses too). */
OCLIP_API oclip_status oclip_hf_tokenizer_tokenize(const oclip_hf_tokenizer *tok,
                                                   const char *const *texts, const size_t *lens,
                                                   size_t n, size_t context_length,
                                                   oclip_clean clean, int64_t *out,
                                                   oclip_error *err);
/* Ids of one UTF-8 text as Tokenizer.encode(text, add_special_tokens).ids: no cleaning, no
 * truncation or padding. *ids is malloc'd (release with oclip_free_ids; NULL when *n_ids is 0). */
OCLIP_API oclip_status oclip_hf_tokenizer_encode(const oclip_hf_tokenizer *tok, const char *text,
                                                 size_t len, int add_special_tokens,
                                                 int32_t **ids, size_t *n_ids, oclip_error *err);
OCLIP_API void oclip_free_ids(int32_t *ids);
/* The largest id an encoding can produce, + 1. */
OCLIP_API size_t oclip_hf_tokenizer_id_limit(const oclip_hf_tokenizer *tok);

/* Builds the vocabulary now (it is otherwise built by the first call; ~1 ms). Optional. */
OCLIP_API oclip_status oclip_tokenizer_init(oclip_error *err);

/*
 * OpenCLIP's tokenizer(texts, context_length) for one text: writes row[context_length] =
 * [SOT] + ids + [EOT], cut to context_length with EOT forced into the last slot when too long,
 * padded with 0. context_length >= 1 (OCLIP_E_ARG otherwise).
 */
OCLIP_API oclip_status oclip_tokenize(const char *text, size_t len, oclip_clean clean, int64_t *row,
                            size_t context_length, oclip_error *err);

/* SimpleTokenizer.encode(text): the BPE ids without SOT/EOT and without any length limit.
 * Writes the first min(*n_ids, max_ids) ids; *n_ids is the full count (pass max_ids = 0 and
 * ids = NULL to ask for it). */
OCLIP_API oclip_status oclip_tokenize_ids(const char *text, size_t len, oclip_clean clean, int32_t *ids,
                                size_t max_ids, size_t *n_ids, oclip_error *err);

/* The cleaned text the BPE sees (tokenizer.py clean_fn(text)), as UTF-8: writes at most
 * cap - 1 bytes and a NUL; *out_len is the full length in bytes. */
OCLIP_API oclip_status oclip_tokenize_clean(const char *text, size_t len, oclip_clean clean, char *out,
                                  size_t cap, size_t *out_len, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Zero-shot classification (OpenCLIP's build_zero_shot_classifier, zero_shot_classifier.py)
 */
/* OpenCLIP's templates: set "imagenet" (80, OPENAI_IMAGENET_TEMPLATES) or "simple" (7); each holds
 * one "{}" for the label. Returns the count (0 for an unknown set); the strings are static. */
OCLIP_API size_t oclip_zero_shot_templates(const char *set, const char *const **templates);
/* The 1000 ImageNet class names OpenCLIP uses, in class-index order (static strings). */
OCLIP_API size_t oclip_imagenet_classnames(const char *const **names);
/* Class embeddings weights[n_labels, E]: for each label every template formatted with it
 * ("{}" -> label), encoded with normalize=True, averaged and renormalized, as OpenCLIP does. */
OCLIP_API oclip_status oclip_zero_shot_classifier(const oclip_model *m, const char *const *labels,
                                        size_t n_labels, const char *const *templates,
                                        size_t n_templates, float *weights, oclip_error *err);
/* probs[n_img, n_labels] = softmax over labels of exp(logit_scale) * cos(image, class); for a
 * model with a logit_bias (oclip_model_has_logit_bias: SigLIP) each is on its own
 * sigmoid(exp(logit_scale) * cos(image, class) + logit_bias), as SigLIP reports them. */
OCLIP_API oclip_status oclip_zero_shot_probs(const oclip_model *m, const float *img_emb, size_t n_img,
                                   const float *weights, size_t n_labels, float *probs,
                                   oclip_error *err);

/* ---- CoCa captioning (open_clip coca_model.py CoCa.generate) ---- */
/* generation_type "beam_search" with OpenCLIP's defaults; a field at 0 takes its default. */
typedef struct {
    uint32_t struct_size;      /* oclip_caption_options_default sets it */
    int num_beams;             /* 0: 6 (at least 2: BeamSearchScorer's rule) */
    int num_beam_groups;       /* 0: 3 (dividing num_beams) */
    int seq_len;               /* 0: 30, the longest caption in ids, start-of-text included */
    int min_seq_len;           /* 0: 5: end-of-text is not chosen before this many ids; 1: none */
    double repetition_penalty; /* 0: 1.0 (none); RepetitionPenaltyLogitsProcessor's */
} oclip_caption_options;
OCLIP_API void oclip_caption_options_default(oclip_caption_options *o);
/* 1 when the model has a text decoder (a CoCa), else 0 */
OCLIP_API int oclip_model_can_caption(const oclip_model *m);
/* The caption ids of one preprocessed image pixels [3, H, W] (oclip_preprocess): what
 * model.generate(image) returns for it (ids[0] = start-of-text 49406; end-of-text 49407 last
 * unless the caption reached seq_len). ids has room for `cap` >= seq_len ids; *n_ids gets the
 * count. OCLIP_E_UNSUPPORTED for a model without a decoder. */
OCLIP_API oclip_status oclip_caption(const oclip_model *m, const float *pixels,
                                     const oclip_caption_options *opt, int64_t *ids, size_t cap,
                                     size_t *n_ids, oclip_error *err);
/* SimpleTokenizer.decode (open_clip tokenizer.py): the ids' byte-level symbols as UTF-8 (ill-formed
 * sequences as U+FFFD, errors="replace"), "</w>" -> " ". With `caption`, what OpenCLIP's caption
 * recipe keeps of it: decode(ids).split("<end_of_text>")[0].replace("<start_of_text>", "").
 * *text: NUL-terminated, release with oclip_free. OCLIP_E_ARG for an id outside the vocabulary
 * [0, 49408) (Python's KeyError). */
OCLIP_API oclip_status oclip_decode(const int64_t *ids, size_t n, int caption, char **text,
                                    oclip_error *err);

/* ---- CPU kernels ---- */
/* The kernel path the engine uses in this process: "avx512", "avx2", "neon" (AArch64) or
 * "scalar". Chosen on first use: the environment variable OCLIP_SIMD (scalar|avx2|avx512|neon)
 * when this CPU and OS support that path, else the best supported one. */
OCLIP_API const char *oclip_simd_name(void);
/* Why the OCLIP_SIMD or OCLIP_AMX setting of this process is not what runs: one sentence naming
 * the value and what is used instead; NULL when both are unset or honoured. Fixed for the
 * process. */
OCLIP_API const char *oclip_simd_warning(void);
/* What computes products with weights of a reduced type (oclip_model_options.weight_dtype) on
 * this path: int8 "amx-int8" (Intel AMX tiles, where the CPU has them and OCLIP_AMX is not
 * "0"), "avx512-vnni", "avx2", "neon-sdot" (AArch64 dot product), "neon" or "reference" (an
 * exact integer reference in C; all give the same bytes); bf16 "amx-bf16" (Intel AMX tile
 * products, where the CPU has them and OCLIP_AMX is not "0"), "avx512-bf16" (native dot
 * products) or "widened" (exact fp32 arithmetic on the rounded weights); f16 "widened"; bf16
 * and f16 on the scalar path "as-stored" (the scalar path ignores them). NULL for other
 * dtypes. */
OCLIP_API const char *oclip_dtype_kernel_name(oclip_dtype dt);

#ifdef __cplusplus
}
#endif
#endif /* OCLIP_H */
