/*
 * registry.h — a table of named image towers, as each timm family keeps one (timmvit.c, eva.c,
 * vitamin.c, convnext.c, fastvit.c): the towers timm defines (a const array) and the ones a test
 * registers under a name timm does not define (the tiny towers tools/fixtures_<family>.py
 * registers with timm). Lookup by name, registration that replaces a tower of the same name,
 * both thread-safe. Every entry is a struct whose first member is `char name[N]`. Internal.
 */
#ifndef OCLIP_MODEL_REGISTRY_H
#define OCLIP_MODEL_REGISTRY_H

#include <pthread.h>

#include "internal.h"

typedef struct {
    const void *known;  /* the towers timm defines: n_known entries of `size` bytes */
    size_t n_known;
    size_t size;        /* sizeof one entry */
    size_t name_size;   /* sizeof its name array */
    void *added;        /* room for max_added registered entries */
    size_t max_added, n_added;
    const char *what;   /* the registering function, for its errors */
    pthread_mutex_t mu;
} oc_registry;

/* A registry of `type` entries: the array `known` (NULL, 0 entries: none) and the array `room`
 * for registered ones; what names the registering function. */
#define OC_REGISTRY(type, known, n_known, room, what)                                            \
    {(known), (n_known), sizeof(type), sizeof(((type *)0)->name), (room),                        \
     sizeof(room) / sizeof((room)[0]), 0, (what), PTHREAD_MUTEX_INITIALIZER}

/* The entry named `name` (known first, then registered) copied to *out when not NULL; false
 * when there is none (or name is NULL or empty). */
bool oc_registry_find(oc_registry *r, const char *name, void *out);
/* Adds entry (its name non-empty and NUL-terminated within its array; the family has checked
 * the rest), replacing a registered one of the same name; OCLIP_E_ARG "<what>: invalid tower"
 * for a bad name, OCLIP_E_NOMEM "<what>: table full" when there is no room. */
oclip_status oc_registry_add(oc_registry *r, const void *entry, oclip_error *err);

#endif
