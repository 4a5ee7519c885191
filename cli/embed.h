/*
 * embed.h — what the commands that embed share (cmd_embed.c: embed-image, embed-text,
 * similarity; cmd_classify.c: classify): their options, the model they load, their inputs.
 */
#ifndef OCLIP_CLI_EMBED_H
#define OCLIP_CLI_EMBED_H
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* --max-pixels in the help of the commands that decode images */
#define MAX_PIXELS_OPTION                                                                        \
    "  --max-pixels N     refuse larger images, and images whose resize target is larger\n"    \
    "                     (default 178956970, Pillow's limit)\n"

/* The model options of their --help. */
#define MODEL_OPTIONS                                                                            \
    "model selection:\n"                                                                         \
    "  -m, --model SPEC   default (also without -m): the small demo model embedded in oclip\n"  \
    "                     (models/default: shapes and colours, not a real CLIP). Else a\n"    \
    "                     checkpoint file (.bin/.pt/.pth/.safetensors, an .index.json) or a\n" \
    "                     folder holding one: open_clip_config.json (or an HF config.json)\n"  \
    "                     beside it, or the metadata 'oclip convert' writes, gives the\n"      \
    "                     architecture, else it is inferred from shapes (with a warning);\n"  \
    "                     hf-hub:ORG/NAME[@REV] or ARCH:TAG, a pretrained name such as\n"      \
    "                     ViT-B-32:laion2b_s34b_b79k: from the Hugging Face cache,\n"          \
    "                     downloaded when missing (not with HF_HUB_OFFLINE=1)\n"              \
    "  --arch NAME        a built-in OpenCLIP config (ViT-B-32, ViT-B-16-quickgelu, ...)\n"        \
    "  --config FILE      an OpenCLIP model config or open_clip_config.json\n"                    \
    "  --quick-gelu, --no-quick-gelu   override the activation\n"                              \
    "  --dtype T          f32 (default: weights as stored, fp32 arithmetic), f16 or bf16:\n"  \
    "                     round the weights at load (bf16 uses AVX512-BF16 dot products where\n" \
    "                     the CPU has them; cosine to f32 >= 0.9999); int8: quantize the\n"     \
    "                     transformer weights per channel, inputs per token (AVX512-VNNI;\n"   \
    "                     accuracy deltas in docs/ENGINE.md)\n"                               \
    "  --threads N        worker threads (default: all cores; results do not depend on it)\n"    \
    "  --batch-size N     inputs per forward pass (default 32; results do not depend on it)\n"  \
    "  -h, --help         this help\n"

/* The parsed command line. */
typedef struct {
    const char *cmd, *pixels, *tokens, *output;
    cli_model model; /* -m, --arch, --config, --quick-gelu */
    int threads, batch, normalize, json;
    prompt_list images, texts; /* file names and prompts */
    int image_args, text_args; /* positional arguments are images / texts */
    const char *labels, *labels_file, *templates; /* classify */
    int top, no_cache;
    uint64_t max_pixels;        /* --max-pixels N (image commands); 0: the library's default */
    oclip_dtype weight_dtype; /* --dtype */
} embed_args;

/* Parses the shared options; returns -1 to go on, or an exit code (help: 0, usage: 2). */
int embed_parse(int argc, char **argv, const char *help, embed_args *a);
/* The model -m names (downloaded when it is not in the cache, unless HF_HUB_OFFLINE=1); 0, or
 * an exit code after printing the error. */
int embed_load_model(const embed_args *a, oclip_model **m);
/* Embeds the images (image = 1) or texts the arguments give into *out [*n, E] (malloc'd). */
int embed_inputs(const embed_args *a, const oclip_model *m, int image, float **out, size_t *n);
/* "oclip CMD: out of memory"; returns EXIT_FAIL. */
int embed_oom(const char *cmd);
void embed_free_args(embed_args *a);
#endif
