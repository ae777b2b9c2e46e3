/* Parsing the conf's master string (core/conf.c). */
#ifndef EMBER_CONF_H
#define EMBER_CONF_H

#include "core/core.h"

enum { EMBER__BACKEND_THREADS = 1, EMBER__BACKEND_PROCESSES, EMBER__BACKEND_MPI };

typedef struct ember__master {
    int backend;
    int threads;  /* tasks at once */
    int attempts; /* Spark's default attempts for this master */
} ember__master;

/* 0, or EMBER_EMASTER when m does not parse. */
int ember__parse_master(const char *m, ember__master *out);
/* The cores this process may run on. */
int ember__cores(void);
/* A size in bytes: digits with an optional k, m or g (powers of 1024). 0 or -1. */
int ember__parse_size(const char *s, size_t *out);
/* The memory budget when none is given: a quarter of the machine's memory. */
size_t ember__default_budget(void);

#endif
