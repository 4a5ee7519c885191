/* collection_search.c — exact top-k over embed-dir shards (see collection_search.h). */
#include "collection_search.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "collection.h"
#include "npy_read.h"

static char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring) : NULL;
}

void coll_index_close(coll_index *ix) {
    free(ix->dir);
    free(ix->spec);
    free(ix->arch);
    free(ix->config);
    memset(ix, 0, sizeof *ix);
}

int coll_index_open(const char *dir, coll_index *ix, char *why, size_t why_size) {
    memset(ix, 0, sizeof *ix);
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t len;
    char *t = coll_read_file(path, 16u << 20, &len);
    if (!t) {
        snprintf(why, why_size, "'%s': %s (is it a folder `oclip embed-dir` wrote?)", path,
                 strerror(errno));
        return -1;
    }
    cJSON *o = cJSON_ParseWithLength(t, len);
    free(t);
    const cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "settings") : NULL;
    const cJSON *m = s ? cJSON_GetObjectItemCaseSensitive(s, "model") : NULL;
    const cJSON *sh = o ? cJSON_GetObjectItemCaseSensitive(o, "shards") : NULL;
    const cJSON *e = m ? cJSON_GetObjectItemCaseSensitive(m, "embed_dim") : NULL;
    char *fp = m ? str_of(m, "fingerprint") : NULL;
    if (!m || !cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 65536 || !fp ||
        strlen(fp) != 32) {
        snprintf(why, why_size, "'%s': not a manifest oclip embed-dir wrote", path);
        free(fp);
        cJSON_Delete(o);
        return -1;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete")) || !cJSON_IsNumber(sh) ||
        sh->valuedouble < 0) {
        snprintf(why, why_size, "'%s': the run did not finish\nhint: complete it with "
                 "`oclip embed-dir ... -o %s --resume`", dir, dir);
        free(fp);
        cJSON_Delete(o);
        return -1;
    }
    ix->dir = strdup(dir);
    ix->spec = str_of(m, "spec");
    ix->arch = str_of(m, "arch");
    ix->config = str_of(m, "config");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(m, "quick_gelu");
    ix->quick = cJSON_IsTrue(q) ? OCLIP_QUICK_GELU_ON : cJSON_IsFalse(q) ? OCLIP_QUICK_GELU_OFF
                                                                         : OCLIP_QUICK_GELU_UNSET;
    char *dt = str_of(m, "dtype");
    ix->weight_dtype = !dt ? OCLIP_DTYPE_F32 : !strcmp(dt, "f16") ? OCLIP_DTYPE_F16
                       : !strcmp(dt, "bf16") ? OCLIP_DTYPE_BF16
                       : !strcmp(dt, "int8") ? OCLIP_DTYPE_I8 : OCLIP_DTYPE_F32;
    free(dt);
    snprintf(ix->fingerprint, sizeof ix->fingerprint, "%s", fp);
    free(fp);
    ix->embed_dim = (size_t)e->valuedouble;
    ix->shards = (uint64_t)sh->valuedouble;
    ix->text = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "text"));
    cJSON_Delete(o);
    if (!ix->dir || !ix->spec) {
        coll_index_close(ix);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}

int coll_index_model(const coll_index *ix, int threads, oclip_model **m, char *why,
                     size_t why_size) {
    cli_model cm = {.spec = strcmp(ix->spec, "default") ? ix->spec : NULL, .arch = ix->arch,
                    .config = ix->config, .quick = ix->quick};
    cli_download d;
    oclip_pull_options po;
    oclip_source_options so;
    cli_source_options(&cm, 0, OCLIP_FETCH_MISSING, &po, &d, &so);
    oclip_model_options opt;
    oclip_model_options_default(&opt);
    opt.threads = threads;
    opt.weight_dtype = ix->weight_dtype;
    opt.source = &so;
    oclip_error err;
    oclip_status s = oclip_model_load(cm.spec, &opt, m, &err);
    cli_download_end(&d);
    if (s != OCLIP_OK) {
        snprintf(why, why_size, "%s", err.msg);
        return -1;
    }
    char fp[33];
    if (oclip_model_fingerprint(*m, fp, &err) != OCLIP_OK || strcmp(fp, ix->fingerprint)) {
        snprintf(why, why_size, "the model '%s' is not the one the index was built with "
                 "(fingerprint %s, index %s)", ix->spec, fp, ix->fingerprint);
        oclip_model_free(*m);
        *m = NULL;
        return -1;
    }
    return 0;
}

static void normalize(float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

int coll_query(const oclip_model *m, const char *text, const char *image, float *q, char *why,
               size_t why_size) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_error err;
    float *tmp = malloc(E * sizeof *tmp);
    if (!tmp) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    memset(q, 0, E * sizeof *q);
    int bad = 0;
    if (text) {
        bad = oclip_encode_text_strings(m, &text, NULL, 1, tmp, 1, &err) != OCLIP_OK;
        for (size_t i = 0; !bad && i < E; i++) q[i] += tmp[i];
    }
    if (!bad && image) {
        bad = oclip_encode_image_files(m, &image, 1, tmp, 1, &err) != OCLIP_OK;
        for (size_t i = 0; !bad && i < E; i++) q[i] += tmp[i];
    }
    free(tmp);
    if (bad) {
        snprintf(why, why_size, "%s", err.msg);
        return -1;
    }
    if (text && image) normalize(q, E);
    return 0;
}

/* a . b in 8 independent partial sums (vectorised by the compiler without reassociation) */
static float dot(const float *a, const float *b, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

/* The row-th line of a metadata file, malloc'd. */
static char *meta_line(const char *dir, uint64_t shard, uint64_t row) {
    char path[4200];
    coll_shard_path(path, sizeof path, dir, "metadata", shard);
    size_t len;
    char *t = coll_read_file(path, (size_t)1 << 32, &len);
    if (!t) return NULL;
    char *p = t, *out = NULL;
    for (uint64_t i = 0; i < row && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (p && *p) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if ((out = malloc(n + 1))) {
            memcpy(out, p, n);
            out[n] = '\0';
        }
    }
    free(t);
    return out;
}

void coll_hits_free(coll_hit *hits, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(hits[i].meta);
        hits[i].meta = NULL;
    }
}

int coll_search(const coll_index *ix, const char *kind, const float *q, size_t k,
                coll_hit *hits, size_t *n, char *why, size_t why_size) {
    *n = 0;
    size_t E = ix->embed_dim;
    for (uint64_t s = 0; s < ix->shards; s++) {
        char path[4200];
        coll_shard_path(path, sizeof path, ix->dir, kind, s);
        npy_array a;
        char w[200];
        if (npy_read(path, "<f4", &a, w, sizeof w)) {
            snprintf(why, why_size, "'%s': %s", path, w);
            return -1;
        }
        if (a.ndim != 2 || (size_t)a.shape[1] != E) {
            snprintf(why, why_size, "'%s': shape is not [rows, %zu]", path, E);
            npy_free(&a);
            return -1;
        }
        const float *x = a.data;
        for (uint64_t r = 0; r < (uint64_t)a.shape[0]; r++) {
            float sc = dot(x + r * E, q, E);
            if (sc != sc) continue; /* NaN */
            if (*n == k && !(sc > hits[k - 1].score)) continue;
            size_t pos = *n < k ? (*n)++ : k - 1;
            while (pos > 0 && sc > hits[pos - 1].score) {
                hits[pos] = hits[pos - 1];
                pos--;
            }
            hits[pos] = (coll_hit){.score = sc, .shard = s, .row = r, .meta = NULL};
        }
        npy_free(&a);
    }
    for (size_t i = 0; i < *n; i++) hits[i].meta = meta_line(ix->dir, hits[i].shard, hits[i].row);
    return 0;
}
