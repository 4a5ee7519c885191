/*
 * clscache.h — the class-embedding cache of `oclip classify`: zero-shot classifier weights keyed
 * by (model fingerprint + kernel path + --dtype, labels, templates), so repeated runs skip the
 * text tower. Files live in $OCLIP_CACHE_DIR, else $XDG_CACHE_HOME/oclip, else ~/.cache/oclip,
 * under classifiers/. Each
 * file stores its whole key and is used only when the key matches byte for byte; a damaged or
 * foreign file is ignored (and rewritten). Writes are atomic (temporary file + rename). The cache
 * is best effort: any failure just means the classifier is computed.
 */
#ifndef OCLIP_CLSCACHE_H
#define OCLIP_CLSCACHE_H
#include <stddef.h>

typedef struct {
    char *key;       /* the key text */
    size_t key_len;
    char path[4096]; /* the cache file; "" when no cache folder could be named */
} clscache;

/* Builds the key; -1 when out of memory. */
int clscache_init(clscache *c, const char *fingerprint, size_t E, const char *const *labels,
                  size_t n_labels, const char *const *templates, size_t n_templates);
/* 1 when the cache held the weights [n_labels, E] (copied into w), else 0. */
int clscache_load(const clscache *c, float *w, size_t n_labels, size_t E);
/* Stores the weights; returns 0, or -1 when they could not be written (ignored by callers). */
int clscache_store(const clscache *c, const float *w, size_t n_labels, size_t E);
void clscache_free(clscache *c);
#endif
