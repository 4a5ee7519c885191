/*
 * cmd_caption.c — `oclip caption`: captions of images by a CoCa model, as OpenCLIP's
 * model.generate(image) (coca_model.py, generation_type "beam_search") and
 * open_clip.decode(ids).split("<end_of_text>")[0].replace("<start_of_text>", "").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "embed.h"
#include "text.h"

static const char caption_help[] =
    "usage: oclip caption -m SPEC IMAGE... [--json] [--beams N] [--beam-groups G]\n"
    "                     [--seq-len L] [--min-len K] [--repetition-penalty P] [--threads N]\n"
    "\n"
    "Captions by a CoCa model (coca_ViT-B-32:laion2b_s13b_b90k, ...), as OpenCLIP's\n"
    "model.generate(image) computes them: beam search with its defaults, one image at a time,\n"
    "and open_clip.decode(ids).split(\"<end_of_text>\")[0].replace(\"<start_of_text>\", \"\").\n"
    "\n"
    "  IMAGE...                 image files (preprocessed as 'oclip preprocess' does)\n"
    "  --json                   one JSON object per image and line:\n"
    "                           {\"image\": PATH, \"caption\": TEXT, \"ids\": [49406, ...]}\n"
    "  --beams N                num_beams (default 6)\n"
    "  --beam-groups G          num_beam_groups, dividing N (default 3)\n"
    "  --seq-len L              the longest caption in ids, start-of-text included (default 30)\n"
    "  --min-len K              min_seq_len: no end-of-text before K ids (default 5)\n"
    "  --repetition-penalty P   (default 1.0: none)\n"
    "  --threads N              worker threads (default: every core)\n"
    "\n"
    "examples:\n"
    "  oclip caption -m coca_ViT-B-32:mscoco_finetuned_laion2b_s13b_b90k cat.jpg\n"
    "  oclip caption -m ./coca/ photos/*.jpg --json\n"
    "\n" MODEL_OPTIONS;

static int int_arg(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        fprintf(stderr, "oclip: %s: %s: an integer from %d to %d (got '%s')\n", cmd, opt, lo, hi,
                v ? cli_esc(v) : "");
        return EXIT_USAGE;
    }
    *out = (int)x;
    return 0;
}

int cmd_caption(int argc, char **argv); /* cli/oclip.c dispatches to it */

int cmd_caption(int argc, char **argv) {
    const char *cmd = "caption";
    embed_args a = {.cmd = cmd};
    oclip_caption_options o;
    oclip_caption_options_default(&o);
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    size_t ni = 0;
    int json = 0, rc = 0;
    oclip_model *m = NULL;
    float *px = NULL;
    if (!images) return EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_model_option(cmd, argc, argv, &i, 1, &a.model);
        if (r < 0) {
            rc = EXIT_USAGE;
            goto done;
        }
        if (r > 0) continue;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(caption_help, stdout);
            goto done;
        } else if (!strcmp(s, "--json")) {
            json = 1;
        } else if (!strcmp(s, "--beams")) {
            if ((rc = int_arg(cmd, s, v, 2, 64, &o.num_beams))) goto done;
            i++;
        } else if (!strcmp(s, "--beam-groups")) {
            if ((rc = int_arg(cmd, s, v, 1, 64, &o.num_beam_groups))) goto done;
            i++;
        } else if (!strcmp(s, "--seq-len")) {
            if ((rc = int_arg(cmd, s, v, 2, 4096, &o.seq_len))) goto done;
            i++;
        } else if (!strcmp(s, "--min-len")) {
            if ((rc = int_arg(cmd, s, v, 1, 4096, &o.min_seq_len))) goto done;
            i++;
        } else if (!strcmp(s, "--threads")) {
            if ((rc = int_arg(cmd, s, v, 1, 4096, &a.threads))) goto done;
            i++;
        } else if (!strcmp(s, "--dtype")) {
            /* the towers' weights as embed-image casts them (the decoder's stay as stored) */
            if (!v) {
                rc = usage_error(cmd, "%s needs a value", s);
                goto done;
            }
            if (!strcmp(v, "f32")) a.weight_dtype = OCLIP_DTYPE_F32;
            else if (!strcmp(v, "f16")) a.weight_dtype = OCLIP_DTYPE_F16;
            else if (!strcmp(v, "bf16")) a.weight_dtype = OCLIP_DTYPE_BF16;
            else if (!strcmp(v, "int8")) a.weight_dtype = OCLIP_DTYPE_I8;
            else {
                rc = usage_error(cmd, "--dtype '%s': use f32, f16, bf16 or int8", v);
                goto done;
            }
            i++;
        } else if (!strcmp(s, "--repetition-penalty")) {
            char *end;
            double x = v ? strtod(v, &end) : 0;
            if (!v || !*v || *end || !(x > 0) || x > 1e6) {
                rc = usage_error(cmd, "--repetition-penalty: a positive number (got '%s')",
                                 v ? v : "");
                goto done;
            }
            o.repetition_penalty = x;
            i++;
        } else if (s[0] == '-' && s[1]) {
            rc = cli_unknown_option(cmd, s, caption_help);
            goto done;
        } else {
            images[ni++] = s;
        }
    }
    if (!ni) {
        rc = usage_error(cmd, "%s", "no images: give IMAGE files");
        goto done;
    }
    if ((rc = embed_load_model(&a, &m))) goto done;
    if (!oclip_model_can_caption(m)) {
        fprintf(stderr, "oclip: caption: %s has no text decoder\nhint: captions need a CoCa "
                        "model (oclip list coca)\n", cli_esc(a.model.spec ? a.model.spec
                                                                           : "the default model"));
        rc = EXIT_FAIL;
        goto done;
    }
    const oclip_preprocess_cfg *pre = oclip_model_preprocess(m);
    px = malloc((size_t)3 * (size_t)pre->size[0] * (size_t)pre->size[1] * sizeof(float));
    int64_t *ids = malloc((size_t)o.seq_len * sizeof *ids);
    if (!px || !ids) {
        free(ids);
        rc = EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < ni && !rc; i++) {
        oclip_image *img = NULL;
        oclip_error err;
        size_t n = 0;
        char *text = NULL;
        if (oclip_image_load(images[i], NULL, &img, &err) || oclip_preprocess(img, pre, px, &err) ||
            oclip_caption(m, px, &o, ids, (size_t)o.seq_len, &n, &err) ||
            oclip_decode(ids, n, 1, &text, &err)) {
            fprintf(stderr, "oclip: caption: %s: %s\n", cli_esc(images[i]), cli_esc_msg(err.msg));
            rc = EXIT_FAIL;
        } else if (json) {
            cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
            cJSON_AddStringToObject(j, "image", images[i]);
            cJSON_AddStringToObject(j, "caption", text);
            for (size_t k = 0; k < n; k++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)ids[k]));
            cJSON_AddItemToObject(j, "ids", arr);
            char *line = cJSON_PrintUnformatted(j);
            if (line) printf("%s\n", line);
            cJSON_free(line);
            cJSON_Delete(j);
        } else {
            printf("%s\t%s\n", cli_esc(images[i]), cli_esc_text(text, 0));
        }
        oclip_free(text);
        oclip_image_free(img);
    }
    free(ids);
done:
    free(images);
    free(px);
    oclip_model_free(m);
    return rc;
}
