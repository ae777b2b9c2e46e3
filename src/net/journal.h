/* The journal of ember_http's final answers (src/net/journal.c). */
#ifndef EMBER_NET_JOURNAL_H
#define EMBER_NET_JOURNAL_H

#include "net/net.h"

/* An id: 16 bytes of hash of the input record, 8 of its occurrence. */
#define EMBER__JOURNAL_ID 24

typedef struct ember__journal ember__journal;

/* Open (or make) the journal at path for a job described by tag and the hash of
 * its request options, as rank rank. 0, or a code with the reason in why (a
 * journal of another job, a file that is not a journal, an I/O error). */
int ember__journal_open(const char *path, const char *tag, const uint64_t conf[2], int rank,
                        ember__journal **out, char *why, size_t whylen);
void ember__journal_close(ember__journal *j);
/* The answer recorded for id: 1 with its response record in out and its ok
 * flag, 0 when there is none, or EMBER_ENOMEM / EMBER_EIO. Any thread. */
int ember__journal_get(ember__journal *j, const unsigned char id[EMBER__JOURNAL_ID], ember_buf *out,
                       bool *ok);
/* Append a final answer at time now (ns): kept in memory, written with the
 * others at least every 100 ms. 0, -errno (a write failed) or EMBER_ENOMEM.
 * Any thread. */
int ember__journal_put(ember__journal *j, const unsigned char id[EMBER__JOURNAL_ID],
                       ember_bytes rec, bool ok, uint64_t now);
/* Write what waits when it has waited 100 ms (a cheap test otherwise). 0 or
 * -errno. Any thread. */
int ember__journal_tick(ember__journal *j, uint64_t now);
/* Write what waits. 0 or -errno. */
int ember__journal_flush(ember__journal *j);
/* Answers read at open and appended since. */
int64_t ember__journal_answers(ember__journal *j);

#endif
