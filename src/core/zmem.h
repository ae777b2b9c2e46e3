/* zstd's allocator hook bound to the allocation seam (src/core/alloc.c). */
#ifndef EMBER_ZMEM_H
#define EMBER_ZMEM_H

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem, ZSTD_create*_advanced */
#include <zstd.h>

extern const ZSTD_customMem ember__zstd_mem;

#endif
