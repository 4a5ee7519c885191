/*
 * curl.h — libcurl, loaded on the first download (curl.c: dlopen of libcurl.so.4 or
 * libcurl-gnutls.so.4, or what OCLIP_LIBCURL names), not linked: every other process (inspect,
 * embed, tokenize, a library user that never downloads) starts without the thirty-odd libraries
 * it brings (TLS, Kerberos, LDAP, SSH, IDN, ...), sooner (docs/BENCHMARKS.md), and none of
 * their code is mapped into a process that parses hostile files.
 *
 * Include this instead of <curl/curl.h>: after oc_curl_load() has returned true, the curl_*
 * functions below are called as usual (the names are macros for the loaded pointers). Internal.
 */
#ifndef OCLIP_CURL_H
#define OCLIP_CURL_H

#define CURL_DISABLE_TYPECHECK /* the calls go through pointers */
#include <curl/curl.h>
#include <stdbool.h>

/* The libcurl functions oclip uses: set once (oc_curl_load, under pthread_once), read-only after. */
struct oc_curl_fns {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *c);
    void (*easy_reset)(CURL *c);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};
extern struct oc_curl_fns oc_curl;

/* Loads and initialises libcurl the first time (thread-safe); true when it is ready, else false
 * with *why (a static sentence: what could not be loaded, and how to fix it). */
bool oc_curl_load(const char **why);

#undef curl_easy_setopt /* curl.h's own macros for these two */
#undef curl_easy_getinfo
#define curl_global_init (*oc_curl.global_init)
#define curl_easy_init (*oc_curl.easy_init)
#define curl_easy_cleanup (*oc_curl.easy_cleanup)
#define curl_easy_reset (*oc_curl.easy_reset)
#define curl_easy_setopt (*oc_curl.easy_setopt)
#define curl_easy_perform (*oc_curl.easy_perform)
#define curl_easy_getinfo (*oc_curl.easy_getinfo)
#define curl_easy_strerror (*oc_curl.easy_strerror)
#define curl_slist_append (*oc_curl.slist_append)
#define curl_slist_free_all (*oc_curl.slist_free_all)

#endif
