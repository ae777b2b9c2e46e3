/* Master strings: "local", "local[N]", "local[*]", "local[N,F]", "local[*,F]".
 *
 * Parsed strictly: a string that does not parse is an error naming the string,
 * never a silent default. Spark's attempt rule: local and local[N] give a task
 * one attempt, local[N,F] gives it F.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"

int ember__cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Read a positive decimal int at *p; advances. -1 when none or out of range. */
static int read_count(const char **p)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > 1 << 16)
            return -1;
    }
    *p = s;
    return v > 0 ? (int)v : -1;
}

int ember__parse_master(const char *m, ember__master *out)
{
    *out = (ember__master){0};
    if (!strcmp(m, "local")) {
        *out = (ember__master){EMBER__BACKEND_THREADS, 1, 1};
        return 0;
    }
    if (!strcmp(m, "mpi")) {
        *out = (ember__master){EMBER__BACKEND_MPI, 0, 4}; /* threads: the rank's share */
        return 0;
    }
    const char *p;
    int backend;
    if (!strncmp(m, "local[", 6)) {
        p = m + 6;
        backend = EMBER__BACKEND_THREADS;
    } else if (!strncmp(m, "mpi[", 4)) { /* mpi[threads per rank] or mpi[N,F] */
        p = m + 4;
        backend = EMBER__BACKEND_MPI;
    } else if (!strncmp(m, "process[", 8)) {
        p = m + 8;
        backend = EMBER__BACKEND_PROCESSES;
    } else {
        return EMBER_EMASTER;
    }
    /* Spark's defaults: one attempt locally, four on a cluster (and processes) */
    int threads, attempts = backend == EMBER__BACKEND_THREADS ? 1 : 4;
    if (*p == '*') {
        threads = ember__cores();
        p++;
    } else if ((threads = read_count(&p)) < 0) {
        return EMBER_EMASTER;
    }
    if (*p == ',') {
        p++;
        if ((attempts = read_count(&p)) < 0)
            return EMBER_EMASTER;
    }
    if (strcmp(p, "]"))
        return EMBER_EMASTER;
    *out = (ember__master){backend, threads, attempts};
    return 0;
}

int ember__parse_size(const char *s, size_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    switch (tolower((unsigned char)*end)) {
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    case '\0':
        break;
    default:
        return -1;
    }
    if (shift && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
        return -1;
    if (errno || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)v << shift;
    return 0;
}

size_t ember__default_budget(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return (size_t)1 << 30;
    return (size_t)pages / 4 * (size_t)size;
}
