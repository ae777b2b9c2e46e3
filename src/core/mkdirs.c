/* mkdir -p (see mkdirs.h). */
#include "core/mkdirs.h"

#include <errno.h>
#include <sys/stat.h>

int ember__mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -errno;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}
