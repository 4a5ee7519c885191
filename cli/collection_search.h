/*
 * collection_search.h — exact top-k search over the shards `oclip embed-dir` wrote
 * (collection_search.c), for `oclip search` and any other caller (a server): open the index,
 * load its model, embed a query, rank.
 */
#ifndef OCLIP_CLI_COLLECTION_SEARCH_H
#define OCLIP_CLI_COLLECTION_SEARCH_H
#include <stddef.h>
#include <stdint.h>

#include "oclip.h"

typedef struct {
    char *dir;
    char *spec, *arch, *config; /* the model as manifest.json names it (arch, config: NULL) */
    oclip_quick_gelu quick;
    oclip_dtype weight_dtype;
    char fingerprint[33];
    size_t embed_dim;
    uint64_t shards;
    int text;                   /* text_emb/ shards exist */
} coll_index;

typedef struct {
    float score;    /* dot product of normalized embeddings: the cosine */
    uint64_t shard, row;
    char *meta;     /* the row's metadata line (JSON object), malloc'd; NULL if unreadable */
} coll_hit;

/* Reads DIR/manifest.json (a complete run). 0, or -1 with why. */
int coll_index_open(const char *dir, coll_index *ix, char *why, size_t why_size);
void coll_index_close(coll_index *ix);
/* The model the index was built with (its fingerprint checked); threads 0 = all cores. */
int coll_index_model(const coll_index *ix, int threads, oclip_model **m, char *why,
                     size_t why_size);
/* The normalized query embedding q[E]: the text, the image file, or (both) their normalized
 * sum renormalized. */
int coll_query(const oclip_model *m, const char *text, const char *image, float *q, char *why,
               size_t why_size);
/* The k best rows of the "img" (or "text") shards for q[E], best first (ties: earlier rows
 * first): hits[0..*n). Exact: every row is scored. */
int coll_search(const coll_index *ix, const char *kind, const float *q, size_t k,
                coll_hit *hits, size_t *n, char *why, size_t why_size);
void coll_hits_free(coll_hit *hits, size_t n);
#endif
