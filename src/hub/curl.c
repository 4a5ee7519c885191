/*
 * curl.c — loading libcurl on the first download (see curl.h for why it is not linked).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/curl.h"

struct oc_curl_fns oc_curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;         /* libcurl loaded and initialised */
static char curl_init_msg[400]; /* why not */

/* OCLIP_LIBCURL names the library to load (a path or a soname); else libcurl.so.4 (Debian's
 * libcurl4, OpenSSL), then libcurl-gnutls.so.4 (libcurl3-gnutls). */
static void curl_init(void) {
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
    const char *env = getenv("OCLIP_LIBCURL");
    const char *so_name = env && env[0] ? env : names[0];
    void *so = dlopen(so_name, RTLD_NOW | RTLD_LOCAL);
    if (!so && !(env && env[0])) {
        char first[200];
        const char *why = dlerror();
        snprintf(first, sizeof first, "%s", why ? why : "not found");
        so_name = names[1];
        if (!(so = dlopen(so_name, RTLD_NOW | RTLD_LOCAL))) {
            snprintf(curl_init_msg, sizeof curl_init_msg,
                     "downloading needs libcurl, which could not be loaded: %.180s; %s too "
                     "(Debian: apt install libcurl4; OCLIP_LIBCURL names another)", first,
                     so_name);
            return;
        }
    }
    if (!so) {
        const char *why = dlerror();
        snprintf(curl_init_msg, sizeof curl_init_msg,
                 "downloading needs libcurl: OCLIP_LIBCURL=%.100s could not be loaded: %.200s",
                 so_name, why ? why : "not found");
        return;
    }
    static const struct {
        size_t off;
        const char *name;
    } syms[] = {
#define SYM(f, n) {offsetof(struct oc_curl_fns, f), n}
        SYM(global_init, "curl_global_init"),     SYM(easy_init, "curl_easy_init"),
        SYM(easy_cleanup, "curl_easy_cleanup"),   SYM(easy_reset, "curl_easy_reset"),
        SYM(easy_setopt, "curl_easy_setopt"),     SYM(easy_perform, "curl_easy_perform"),
        SYM(easy_getinfo, "curl_easy_getinfo"),   SYM(easy_strerror, "curl_easy_strerror"),
        SYM(slist_append, "curl_slist_append"),   SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
        void *f = dlsym(so, syms[i].name);
        if (!f) {
            snprintf(curl_init_msg, sizeof curl_init_msg, "%s has no %s: not a libcurl 7 or 8",
                     so_name, syms[i].name);
            dlclose(so);
            return;
        }
        /* POSIX guarantees a function's address survives the round trip through void * */
        memcpy((char *)&oc_curl + syms[i].off, &f, sizeof f);
    }
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(curl_init_msg, sizeof curl_init_msg, "libcurl could not start: %s",
                 curl_easy_strerror(rc));
        return; /* the library stays loaded: global state may point into it */
    }
    curl_ready = true;
}

bool oc_curl_load(const char **why) {
    pthread_once(&curl_once, curl_init);
    if (!curl_ready) *why = curl_init_msg;
    return curl_ready;
}
