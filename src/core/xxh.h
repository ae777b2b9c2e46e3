/* xxHash from its header with every function inlined (XXH_INLINE_ALL): the
 * same hashes, and no libxxhash mapped into the program (nothing of it for a
 * process[N] fork to copy). Every file that hashes includes this, not
 * <xxhash.h>. */
#ifndef EMBER_XXH_H
#define EMBER_XXH_H

#define XXH_INLINE_ALL
#include <xxhash.h>

#endif
