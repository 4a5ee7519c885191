/*
 * zeroshot.c — zero-shot classification as OpenCLIP builds it (open_clip
 * zero_shot_classifier.py build_zero_shot_classifier): for each label, every template formatted
 * with the label, tokenized, encoded with normalize=True, averaged, and the mean divided by its
 * L2 norm; then probabilities = softmax(exp(logit_scale) * cos(image, class)), or for a model
 * with a logit_bias (SigLIP: open_clip model.py CustomTextCLIP.get_logits) independent sigmoids
 * of exp(logit_scale) * cos(image, class) + logit_bias.
 * The templates and ImageNet class names are OpenCLIP's zero_shot_metadata.py, embedded by
 * tools/embed_data.py and parsed on first use under a lock (zs_get), read-only afterwards.
 */
#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

extern const char *const oc_zero_shot_json[];
extern const size_t oc_zero_shot_json_len;

typedef struct {
    const char **imagenet, **simple, **classnames;
    size_t n_imagenet, n_simple, n_classnames;
    cJSON *root; /* owns the strings */
} zs_lists;

/* Parsed on first use under a mutex and published only when complete (read-only afterwards); a
 * parse that ran out of memory is undone and tried again by the next call, so one failure does
 * not lose the templates for the whole process. Callers get a copy taken under the lock. */
static zs_lists zs;
static pthread_mutex_t zs_lock = PTHREAD_MUTEX_INITIALIZER;

static const char **string_array(const cJSON *a, size_t *n) {
    *n = 0;
    int k = cJSON_GetArraySize(a);
    const char **v = k > 0 ? calloc((size_t)k, sizeof *v) : NULL;
    if (!v) return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) if (cJSON_IsString(it)) v[(*n)++] = it->valuestring;
    return v;
}

static zs_lists zs_get(void) {
    pthread_mutex_lock(&zs_lock);
    if (!zs.root) {
        zs_lists t = {0};
        char *text = oc_join_pieces(oc_zero_shot_json, oc_zero_shot_json_len);
        t.root = text ? oc_json_parse(text, strlen(text), NULL) : NULL;
        free(text);
        t.imagenet = string_array(
            cJSON_GetObjectItemCaseSensitive(t.root, "OPENAI_IMAGENET_TEMPLATES"), &t.n_imagenet);
        t.simple = string_array(
            cJSON_GetObjectItemCaseSensitive(t.root, "SIMPLE_IMAGENET_TEMPLATES"), &t.n_simple);
        t.classnames = string_array(
            cJSON_GetObjectItemCaseSensitive(t.root, "IMAGENET_CLASSNAMES"), &t.n_classnames);
        if (t.root && t.imagenet && t.simple && t.classnames) {
            zs = t;
        } else {
            free(t.imagenet);
            free(t.simple);
            free(t.classnames);
            cJSON_Delete(t.root);
        }
    }
    zs_lists copy = zs;
    pthread_mutex_unlock(&zs_lock);
    return copy;
}

size_t oclip_zero_shot_templates(const char *set, const char *const **templates) {
    zs_lists z = zs_get();
    if (set && !strcmp(set, "imagenet") && z.imagenet) {
        *templates = z.imagenet;
        return z.n_imagenet;
    }
    if (set && !strcmp(set, "simple") && z.simple) {
        *templates = z.simple;
        return z.n_simple;
    }
    return 0;
}

size_t oclip_imagenet_classnames(const char *const **names) {
    zs_lists z = zs_get();
    *names = z.classnames;
    return z.classnames ? z.n_classnames : 0;
}

/* template.format(label): every "{}" replaced by the label ("{{" / "}}" are literal braces, as in
 * Python's str.format; other fields are refused). */
static oclip_status format_template(const char *tpl, const char *label, char **out,
                                    oclip_error *err) {
    size_t tl = strlen(tpl), ll = strlen(label), n = 0, holes = 0;
    for (size_t i = 0; i < tl; i++)
        if (tpl[i] == '{' && tpl[i + 1] == '}') holes++, i++;
    if (holes > (SIZE_MAX - tl - 1) / (ll ? ll : 1))
        return oc_err_set(err, OCLIP_E_ARG, "template too long");
    char *s = malloc(tl + holes * ll + 1);
    if (!s) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    for (size_t i = 0; i < tl; i++) {
        if (tpl[i] == '{' && tpl[i + 1] == '}') {
            memcpy(s + n, label, ll);
            n += ll;
            i++;
        } else if ((tpl[i] == '{' && tpl[i + 1] == '{') || (tpl[i] == '}' && tpl[i + 1] == '}')) {
            s[n++] = tpl[i++];
        } else if (tpl[i] == '{' || tpl[i] == '}') {
            free(s);
            return oc_err_set(err, OCLIP_E_ARG,
                              "template '%.200s': only {} placeholders are allowed", tpl);
        } else {
            s[n++] = tpl[i];
        }
    }
    s[n] = '\0';
    *out = s;
    return OCLIP_OK;
}

oclip_status oclip_zero_shot_classifier(const oclip_model *m, const char *const *labels,
                                        size_t n_labels, const char *const *templates,
                                        size_t n_templates, float *weights, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n_labels && (!labels || !weights)) || (n_templates && !templates))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_zero_shot_classifier: NULL argument");
    if (n_templates == 0) return oc_err_set(err, OCLIP_E_ARG, "no templates");
    size_t E = (size_t)oclip_model_embed_dim(m);
    char **texts = calloc(n_templates, sizeof *texts);
    float *emb = malloc(n_templates * E * sizeof *emb);
    oclip_status st = texts && emb ? OCLIP_OK : oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    for (size_t c = 0; c < n_labels && !st; c++) {
        for (size_t t = 0; t < n_templates && !st; t++) {
            free(texts[t]);
            texts[t] = NULL;
            st = format_template(templates[t], labels[c], &texts[t], err);
        }
        if (!st)
            st = oclip_encode_text_strings(m, (const char *const *)texts, NULL, n_templates, emb,
                                           1, err);
        if (st) {
            oc_err_wrap(err, "label '%.200s'", labels[c]);
            break;
        }
        /* mean over the templates, then x / ||x|| (OpenCLIP: class_embedding.norm(), no eps) */
        float *w = weights + c * E;
        double norm = 0;
        for (size_t e = 0; e < E; e++) {
            float sum = 0; /* float32 like torch's mean */
            for (size_t t = 0; t < n_templates; t++) sum += emb[t * E + e];
            w[e] = sum / (float)n_templates;
            norm += (double)w[e] * w[e];
        }
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t e = 0; e < E; e++) w[e] *= inv;
    }
    if (texts)
        for (size_t t = 0; t < n_templates; t++) free(texts[t]);
    free(texts);
    free(emb);
    return st;
}

oclip_status oclip_zero_shot_probs(const oclip_model *m, const float *img_emb, size_t n_img,
                                   const float *weights, size_t n_labels, float *probs,
                                   oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n_img && n_labels && (!img_emb || !weights || !probs)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_zero_shot_probs: NULL argument");
    size_t E = (size_t)oclip_model_embed_dim(m);
    double scale = exp((double)oclip_model_logit_scale(m));
    int sigmoid = oclip_model_has_logit_bias(m);
    double bias = sigmoid ? (double)oclip_model_logit_bias(m) : 0.0;
    for (size_t i = 0; i < n_img; i++) {
        const float *x = img_emb + i * E;
        double xn = 0;
        for (size_t e = 0; e < E; e++) xn += (double)x[e] * x[e];
        xn = sqrt(xn) > 1e-12 ? sqrt(xn) : 1e-12; /* F.normalize's eps */
        float *p = probs + i * n_labels;
        double mx = -INFINITY, total = 0;
        for (size_t c = 0; c < n_labels; c++) {
            double dot = 0;
            for (size_t e = 0; e < E; e++) dot += (double)x[e] * weights[c * E + e];
            double logit = scale * dot / xn + bias;
            p[c] = (float)logit;
            if (logit > mx) mx = logit;
        }
        if (sigmoid) {
            for (size_t c = 0; c < n_labels; c++) p[c] = (float)(1.0 / (1.0 + exp(-(double)p[c])));
            continue;
        }
        for (size_t c = 0; c < n_labels; c++) total += exp((double)p[c] - mx);
        for (size_t c = 0; c < n_labels; c++) p[c] = (float)(exp((double)p[c] - mx) / total);
    }
    return OCLIP_OK;
}
