/* libcurl, loaded when ember_http first needs it (core/lazy.h): the
 * functions ember calls, as shims of the same names. The option setters are
 * variadic: each passes its argument on as the type the option's number says
 * (curl's own ranges: long, object pointer, function pointer, curl_off_t,
 * blob; every getinfo takes a pointer). */
#define CURL_DISABLE_TYPECHECK /* the setters below are defined, not called */
#include <curl/curl.h>
#include <stdarg.h>

#include "core/lazy.h"

EMBER__SHIM(ember__libcurl, CURL *, curl_easy_init, (void), ())
EMBER__SHIM_VOID(ember__libcurl, curl_easy_cleanup, (CURL * h), (h))
EMBER__SHIM_VOID(ember__libcurl, curl_easy_reset, (CURL * h), (h))
EMBER__SHIM(ember__libcurl, CURLcode, curl_easy_pause, (CURL * h, int bits), (h, bits))
EMBER__SHIM(ember__libcurl, const char *, curl_easy_strerror, (CURLcode c), (c))
EMBER__SHIM(ember__libcurl, time_t, curl_getdate, (const char *p, const time_t *unused),
            (p, unused))
EMBER__SHIM(ember__libcurl, CURLcode, curl_global_init_mem,
            (long flags, curl_malloc_callback m, curl_free_callback f, curl_realloc_callback r,
             curl_strdup_callback s, curl_calloc_callback c),
            (flags, m, f, r, s, c))
EMBER__SHIM(ember__libcurl, CURLM *, curl_multi_init, (void), ())
EMBER__SHIM(ember__libcurl, CURLMcode, curl_multi_cleanup, (CURLM * m), (m))
EMBER__SHIM(ember__libcurl, CURLMcode, curl_multi_add_handle, (CURLM * m, CURL *h), (m, h))
EMBER__SHIM(ember__libcurl, CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL *h), (m, h))
EMBER__SHIM(ember__libcurl, CURLMcode, curl_multi_assign, (CURLM * m, curl_socket_t s, void *p),
            (m, s, p))
EMBER__SHIM(ember__libcurl, CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))
EMBER__SHIM(ember__libcurl, CURLMcode, curl_multi_socket_action,
            (CURLM * m, curl_socket_t s, int mask, int *running), (m, s, mask, running))
EMBER__SHIM(ember__libcurl, CURLSH *, curl_share_init, (void), ())
EMBER__SHIM(ember__libcurl, CURLSHcode, curl_share_cleanup, (CURLSH * s), (s))
EMBER__SHIM(ember__libcurl, struct curl_slist *, curl_slist_append,
            (struct curl_slist * l, const char *s), (l, s))
EMBER__SHIM_VOID(ember__libcurl, curl_slist_free_all, (struct curl_slist * l), (l))

/* rc = the library's setter called with the one argument in ap, as the type
 * the option's range says. */
#define FORWARD(rc, R, H, O, name, h, option, ap)                                                  \
    do {                                                                                           \
        static void *_Atomic at;                                                                   \
        void *p = ember__lib_at(&ember__libcurl, &at, name);                                       \
        R (*fn)(H *, O, ...);                                                                      \
        memcpy(&fn, &p, sizeof fn);                                                                \
        long o = (long)(option);                                                                   \
        if (o < CURLOPTTYPE_OBJECTPOINT)                                                           \
            rc = fn(h, option, va_arg(ap, long));                                                  \
        else if (o < CURLOPTTYPE_FUNCTIONPOINT)                                                    \
            rc = fn(h, option, va_arg(ap, void *));                                                \
        else if (o < CURLOPTTYPE_OFF_T)                                                            \
            rc = fn(h, option, va_arg(ap, void (*)(void)));                                        \
        else if (o < CURLOPTTYPE_BLOB)                                                             \
            rc = fn(h, option, va_arg(ap, curl_off_t));                                            \
        else                                                                                       \
            rc = fn(h, option, va_arg(ap, void *));                                                \
    } while (0)

CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    FORWARD(rc, CURLcode, CURL, CURLoption, "curl_easy_setopt", h, option, ap);
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_setopt(CURLM *h, CURLMoption option, ...)
{
    va_list ap;
    va_start(ap, option);
    CURLMcode rc;
    FORWARD(rc, CURLMcode, CURLM, CURLMoption, "curl_multi_setopt", h, option, ap);
    va_end(ap);
    return rc;
}

/* every CURLINFO takes a pointer to where the answer goes */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    static void *_Atomic at;
    void *p = ember__lib_at(&ember__libcurl, &at, "curl_easy_getinfo");
    CURLcode (*fn)(CURL *, CURLINFO, ...);
    memcpy(&fn, &p, sizeof fn);
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

/* the share's options: a lock_data (an int), the lock functions, the user data */
CURLSHcode curl_share_setopt(CURLSH *h, CURLSHoption option, ...)
{
    static void *_Atomic at;
    void *p = ember__lib_at(&ember__libcurl, &at, "curl_share_setopt");
    CURLSHcode (*fn)(CURLSH *, CURLSHoption, ...);
    memcpy(&fn, &p, sizeof fn);
    va_list ap;
    va_start(ap, option);
    CURLSHcode rc;
    if (option == CURLSHOPT_SHARE || option == CURLSHOPT_UNSHARE)
        rc = fn(h, option, va_arg(ap, int));
    else if (option == CURLSHOPT_LOCKFUNC || option == CURLSHOPT_UNLOCKFUNC)
        rc = fn(h, option, va_arg(ap, void (*)(void)));
    else
        rc = fn(h, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
