/* Internal declarations of the net layer: bounded concurrency and HTTP. The
 * net layer may use core, sched, exec, shuffle and io; only its files include
 * <curl/curl.h>. */
#ifndef EMBER_NET_NET_H
#define EMBER_NET_NET_H

#include <stddef.h>

#include "core/core.h"
#include "sched/sched.h"

#ifndef container_of
#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))
#endif

/* The request parser and header callbacks of ember_http on given bytes, with a
 * default conf, sending nothing: for the fuzz harness tests/fuzz/http_request.c.
 * 0 or EMBER_ENOMEM. */
int ember__http_probe(const void *request, size_t rlen, const void *headers, size_t hlen);

#endif
