/* A slot a thread (core/tslot.h). A thread finds its own slot of a set in a
 * small cache of its own (sets it used last), else in the set's list, under
 * the set's lock, where it adds one at its first use. */
#include <stdatomic.h>
#include <string.h>

#include "core/core.h"
#include "core/tslot.h"

#define CACHED 4

static _Atomic uint64_t set_ids;
static __thread struct {
    uint64_t id;
    ember__tslot *slot;
} cache[CACHED];
static __thread unsigned cache_next;

void ember__tslots_init(ember__tslots *t, size_t size)
{
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->first, NULL);
    t->id = atomic_fetch_add(&set_ids, 1) + 1;
    t->size = size;
}

ember__tslot *ember__tslot_of(ember__tslots *t)
{
    for (int i = 0; i < CACHED; i++)
        if (cache[i].id == t->id)
            return cache[i].slot;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&t->mu);
    ember__tslot *s = atomic_load_explicit(&t->first, memory_order_relaxed);
    while (s && !pthread_equal(s->owner, self)) /* (a thread of the same id, ended: its) */
        s = s->next;
    if (!s && (s = ember__calloc(1, t->size))) {
        ember__mutex_init_short(&s->mu);
        s->owner = self;
        s->next = atomic_load_explicit(&t->first, memory_order_relaxed);
        atomic_store_explicit(&t->first, s, memory_order_release);
    }
    pthread_mutex_unlock(&t->mu);
    if (s) {
        unsigned k = cache_next++ % CACHED;
        cache[k].id = t->id;
        cache[k].slot = s;
    }
    return s;
}

ember__tslot *ember__tslots_first(ember__tslots *t)
{
    return atomic_load_explicit(&t->first, memory_order_acquire);
}

int ember__tslots_take(ember__tslots *t, ember__tslot ***all, int *cap,
                       void (*swap)(ember__tslot *, void *), void *arg)
{
    pthread_mutex_lock(&t->mu);
    int n = 0;
    for (ember__tslot *s = ember__tslots_first(t); s; s = s->next)
        n++;
    if (n > *cap) {
        ember__tslot **g = ember__realloc(*all, (size_t)n * sizeof *g);
        if (!g) {
            pthread_mutex_unlock(&t->mu);
            return -1;
        }
        *all = g;
        *cap = n;
    }
    n = 0;
    for (ember__tslot *s = ember__tslots_first(t); s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        (*all)[n++] = s;
    }
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < n; i++)
        swap((*all)[i], arg);
    for (int i = 0; i < n; i++)
        pthread_mutex_unlock(&(*all)[i]->mu);
    return n;
}

void ember__tslots_destroy(ember__tslots *t, void (*fn)(ember__tslot *))
{
    for (ember__tslot *s = ember__tslots_first(t), *next; s; s = next) {
        next = s->next;
        if (fn)
            fn(s);
        pthread_mutex_destroy(&s->mu);
        ember__free(s);
    }
    atomic_store(&t->first, NULL);
    pthread_mutex_destroy(&t->mu);
}
