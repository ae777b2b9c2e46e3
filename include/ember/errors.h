/* ember — error codes.
 *
 * Every call that can fail returns 0 or a negative code from this table; system
 * errors pass through as -errno. ember_strerror() names a code, ember_errmsg()
 * says in words what happened on a context.
 */
#ifndef EMBER_ERRORS_H
#define EMBER_ERRORS_H

#include <errno.h>

/* X(name, value, text): one table, expanded into the enum and into ember_strerror(). */
#define EMBER_ERRNO_MAP(X)                                                                         \
    X(EINVAL, -EINVAL, "invalid argument")                                                         \
    X(ENOMEM, -ENOMEM, "out of memory")                                                            \
    X(ENOTSUP, -ENOTSUP, "not supported")                                                          \
    X(ERANGE, -ERANGE, "result out of range")                                                      \
    X(EIO, -EIO, "input/output error")                                                             \
    X(EEMPTY, -4001, "empty rdd")                                                                  \
    X(ETASK, -4002, "task failed")                                                                 \
    X(ECTX, -4003, "rdd belongs to another context or was freed")                                  \
    X(EMASTER, -4004, "master string does not parse")                                              \
    X(ECLOSED, -4005, "context is closed")                                                         \
    X(EUSER, -4006, "user function failed")                                                        \
    X(ECANCELED, -ECANCELED, "cancelled")

typedef enum ember_errno {
#define EMBER__ERR_ENUM(name, value, text) EMBER_##name = (value),
    EMBER_ERRNO_MAP(EMBER__ERR_ENUM)
#undef EMBER__ERR_ENUM
        EMBER_OK = 0
} ember_errno;

#endif
