/* libmicrohttpd, loaded when the web UI or the history server first starts
 * (core/lazy.h): the functions ember calls, as shims of the same names;
 * MHD_start_daemon's options go on through the library's MHD_start_daemon_va. */
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/lazy.h"

#define L ember__libmhd
EMBER__SHIM(L, enum MHD_Result, MHD_add_response_header,
            (struct MHD_Response * r, const char *header, const char *content),
            (r, header, content))
EMBER__SHIM(L, struct MHD_Response *, MHD_create_response_from_buffer,
            (size_t size, void *buffer, enum MHD_ResponseMemoryMode mode), (size, buffer, mode))
EMBER__SHIM_VOID(L, MHD_destroy_response, (struct MHD_Response * r), (r))
EMBER__SHIM(L, const char *, MHD_lookup_connection_value,
            (struct MHD_Connection * c, enum MHD_ValueKind kind, const char *key), (c, kind, key))
EMBER__SHIM(L, enum MHD_Result, MHD_queue_response,
            (struct MHD_Connection * c, unsigned int status, struct MHD_Response *r),
            (c, status, r))
EMBER__SHIM_VOID(L, MHD_stop_daemon, (struct MHD_Daemon * d), (d))
EMBER__SHIM(L, struct MHD_Daemon *, MHD_start_daemon_va,
            (unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
             MHD_AccessHandlerCallback dh, void *dh_cls, va_list ap),
            (flags, port, apc, apc_cls, dh, dh_cls, ap))

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}
