/*
 * hub.h — the hub layer: where the Hugging Face cache keeps a repository's files and where
 * OpenCLIP's URL downloads go (cache.c, offline), and the client that downloads them (hub.c,
 * libcurl through curl.c). Nothing here knows model specs: the model layer
 * (src/model/source.c) decides which repository and files a spec names and calls these. Not
 * installed.
 *
 * Cache layout (huggingface_hub file_download.py / constants.py; docs/HUB.md):
 *     <cache>/models--ORG--NAME/refs/<branch or tag>        the commit hash, one line
 *     <cache>/models--ORG--NAME/snapshots/<hash>/<file>     usually a symlink into ../../blobs/
 * Paths are always built through the snapshot folder, never through a blob, so that the
 * open_clip_config.json beside the weights is found by the folder of the path.
 */
#ifndef OCLIP_HUB_H
#define OCLIP_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oclip.h"

/* Room for any path the hub layer builds (cache folders, snapshot files). */
#define OC_PATH_SIZE 4096

/* ---------------------------------------------------------------------------------------------
 * The cache, offline (cache.c)
 */
/* 0: nothing there (errno says why; 0 for a device, FIFO ...), 1: a regular file (links
 * followed), 2: a folder. */
int oc_path_kind(const char *p);

/* True when the environment variable holds one of huggingface_hub's true values
 * ("1", "ON", "YES", "TRUE", any case). */
bool oc_env_true(const char *name);

/* A name that may become one path component: letters, digits, '-', '_', '.'; 1..max bytes; no
 * "..", no leading '.' (so never "." or ".."). */
bool oc_hub_name_ok(const char *s, size_t n, size_t max);

/* The snapshot folder of repository ORG/NAME at `rev` (a branch or tag through refs/, else the
 * commit itself) in snap[OC_PATH_SIZE], and the repository folder in repo_dir[OC_PATH_SIZE]
 * ("" when not even the cache folder is known). OCLIP_E_NOTFOUND (message set, no hint) when the
 * repository or revision is not in the cache; OCLIP_E_FORMAT for a refs/ file that holds no
 * commit name. */
oclip_status oc_hub_snapshot(const char *org, const char *name, const char *rev, char *repo_dir,
                             char *snap, oclip_error *err);

/* The first of names[0..n) that is a regular file in `dir`: its path in out[OC_PATH_SIZE] and
 * its index; -1 (out = "") when none is. */
int oc_hub_first_file(const char *dir, const char *const *names, size_t n, char *out);

/* A pretrained tag's hf_hub ("org/repo/" or "org/repo/file"; the file is after the last '/')
 * split into checked parts, with the files OpenCLIP tries in order (pretrained.py
 * _get_safe_alternatives: the .safetensors sibling of a .bin/.pth first, then the file itself;
 * the default file is open_clip_pytorch_model.bin). false when hf_hub is malformed. */
typedef struct {
    char org[128], name[128], file[256], alt[256];
    const char *names[2]; /* point into file / alt or at a constant */
    int n;                /* 1 or 2 */
} oc_hub_tag_files;

bool oc_hub_split_tag(const char *hf_hub, oc_hub_tag_files *t);

/* Where OpenCLIP's download_pretrained_from_url keeps a URL's file: ~/.cache/clip/<the URL's
 * last path component>, in out[size]. false when that name is unusable as a file name, HOME is
 * not set, or the path does not fit. */
bool oc_hub_url_file(const char *url, char *out, size_t size);

/* ---------------------------------------------------------------------------------------------
 * The client (hub.c): downloads into the cache above, with the hub's HTTP conventions. Every
 * header value is hostile; nothing prints; progress goes to the options' callback.
 */
typedef struct oc_hub oc_hub;

/* What a client did so far. */
typedef struct {
    int files;          /* files looked at on the hub */
    int downloaded;     /* files downloaded (0: all were in the cache) */
    uint64_t bytes;     /* bytes transferred */
    char commit[64];    /* the snapshot's commit of the last repository; "" for URL files */
} oc_hub_stats;

/* A client for opt's endpoint and token (NULL members: the environment's, as huggingface_hub);
 * loads libcurl on first use. */
oclip_status oc_hub_open(const oclip_pull_options *opt, oc_hub **out, oclip_error *err);
void oc_hub_close(oc_hub *h);
/* true when the last failure was the network (no answer at all), not the hub's answer. */
bool oc_hub_unreachable(const oc_hub *h);
const oc_hub_stats *oc_hub_stats_of(const oc_hub *h);

/* Called with the architecture file of a repository once it is in the cache and before any
 * weights are downloaded: open_clip_config.json (hf = false), or, for a repository with only
 * HF-transformers weights, its config.json (hf = true). An error stops the pull. */
typedef oclip_status (*oc_hub_config_check)(void *ctx, const char *config_path, bool hf,
                                            oclip_error *err);

/* Repository ORG/NAME at `rev` into the cache, as OpenCLIP's hf-hub: loads it:
 * open_clip_config.json, then open_clip_model.safetensors, else open_clip_pytorch_model.bin; a
 * repository without OpenCLIP weights gives model.safetensors, else pytorch_model.bin (with its
 * config.json when there is no open_clip_config.json). `check` may be NULL. Files already in
 * the cache are not downloaded again (one HEAD request each). */
oclip_status oc_hub_pull_repo(oc_hub *h, const char *org, const char *name, const char *rev,
                              oc_hub_config_check check, void *ctx, oclip_error *err);

/* The Hugging Face tokenizer of repository ORG/NAME at "main" into the cache (a SigLIP config's
 * text_cfg.hf_tokenizer_name): tokenizer.json (OCLIP_E_NOTFOUND when the repository has none),
 * tokenizer_config.json and special_tokens_map.json when it has them. */
oclip_status oc_hub_pull_tokenizer(oc_hub *h, const char *org, const char *name,
                                   oclip_error *err);

/* A pretrained tag's weights: its hf_hub file at "main" (oc_hub_tag_files' order) and the
 * repository's open_clip_config.json when it has one; with no hf_hub (""), or when that
 * repository is gone, its url into ~/.cache/clip/ (verified against the SHA-256 the URL carries
 * as its folder name, as OpenCLIP does). `label` ("ARCH:TAG") names the tag in messages. */
oclip_status oc_hub_pull_tag(oc_hub *h, const char *hf_hub, const char *url, const char *label,
                             oclip_error *err);

/* The hub's header helpers, for tests: an ETag as huggingface_hub normalises it
 * (file_download._normalize_etag: a leading "W/" and the quotes dropped) into out[size]; false
 * when the result is empty, too long, or holds anything but letters, digits, '-' and '_' (it
 * becomes a file name in blobs/). */
bool oc_hub_etag(const char *value, char *out, size_t size);
/* True for 64 lowercase hex digits (an LFS file's SHA-256, as X-Linked-Etag carries it). */
bool oc_hub_is_sha256(const char *s);

#endif
