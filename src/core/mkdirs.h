/* Making a directory and its parents; shared by the library and the ember
 * command (which compiles src/core/mkdirs.c in too). */
#ifndef EMBER_MKDIRS_H
#define EMBER_MKDIRS_H

/* mkdir -p: path and every missing parent (mode 0755; path is restored after
 * being cut at each '/'). 0, or -errno of the first mkdir that failed. */
int ember__mkdirs(char *path);

#endif
