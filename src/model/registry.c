/*
 * registry.c — the tables of named image towers the timm families share (model/registry.h).
 */
#include <string.h>

#include "model/registry.h"

static const char *name_at(const void *base, size_t size, size_t i) {
    return (const char *)base + i * size;
}

bool oc_registry_find(oc_registry *r, const char *name, void *out) {
    if (!name || !name[0]) return false;
    for (size_t i = 0; i < r->n_known; i++)
        if (!strcmp(name_at(r->known, r->size, i), name)) {
            if (out) memcpy(out, name_at(r->known, r->size, i), r->size);
            return true;
        }
    bool found = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_added && !found; i++)
        if (!strcmp(name_at(r->added, r->size, i), name)) {
            if (out) memcpy(out, name_at(r->added, r->size, i), r->size);
            found = true;
        }
    pthread_mutex_unlock(&r->mu);
    return found;
}

oclip_status oc_registry_add(oc_registry *r, const void *entry, oclip_error *err) {
    const char *name = entry;
    if (!entry || !name[0] || !memchr(name, '\0', r->name_size))
        return oc_err_set(err, OCLIP_E_ARG, "%s: invalid tower", r->what);
    oclip_status s = OCLIP_OK;
    pthread_mutex_lock(&r->mu);
    size_t i = 0;
    while (i < r->n_added && strcmp(name_at(r->added, r->size, i), name)) i++;
    if (i < r->n_added || r->n_added < r->max_added) {
        memcpy((char *)r->added + i * r->size, entry, r->size);
        if (i == r->n_added) r->n_added++;
    } else {
        s = oc_err_set(err, OCLIP_E_NOMEM, "%s: table full", r->what);
    }
    pthread_mutex_unlock(&r->mu);
    return s;
}
