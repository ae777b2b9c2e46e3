/* A slot a thread: per-thread parts of a shared structure (the event log's
 * lines of each task thread), each under a lock that only its thread and, now
 * and then, a reader of all of them take, so that threads writing at once
 * share no line of memory. A slot is made at its thread's first use and
 * kept until the set is destroyed; the list only grows, at its head (read
 * without a lock: a walk that started before a slot was added passes it).
 */
#ifndef EMBER_CORE_TSLOT_H
#define EMBER_CORE_TSLOT_H

#include <pthread.h>
#include <stdint.h>

typedef struct ember__tslot {
    pthread_mutex_t mu;
    pthread_t owner;
    struct ember__tslot *next;
} ember__tslot; /* the head of a larger struct, size bytes in all */

typedef struct ember__tslots {
    pthread_mutex_t mu; /* adding a slot */
    ember__tslot *_Atomic first;
    uint64_t id; /* this set among the process's */
    size_t size;
} ember__tslots;

void ember__tslots_init(ember__tslots *t, size_t size);
/* The calling thread's slot (made zeroed past its head at first use; NULL out
 * of memory). */
ember__tslot *ember__tslot_of(ember__tslots *t);
/* The first slot of the list (then ->next). */
ember__tslot *ember__tslots_first(ember__tslots *t);
/* Every slot's contents taken at one instant: the set held (a thread making
 * its slot waits) and every slot's lock at once while swap(slot, arg) runs on
 * each, then all released; so whatever one slot's thread did after another's
 * taken is taken too. *all: the slots (an array grown as needed, *cap its
 * room; the caller frees it). Returns how many, or -1 out of memory (nothing
 * taken). */
int ember__tslots_take(ember__tslots *t, ember__tslot ***all, int *cap,
                       void (*swap)(ember__tslot *, void *), void *arg);
/* Every slot freed, after fn(slot) frees what it holds. */
void ember__tslots_destroy(ember__tslots *t, void (*fn)(ember__tslot *));

#endif
