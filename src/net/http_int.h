/* ember_http's parts, shared by the files of src/net that make it:
 *
 *   http.c       the engine: a task's slots, its transfers, the event loop
 *   request.c    what a record asks for, and the headers that come back
 *   response.c   the response record and its readers (public)
 *   rate.c       the shared token bucket and its adaptive pace
 *   http_node.c  the transformation: its conf, its counters
 *
 * Only these files include <curl/curl.h>.
 */
#ifndef EMBER_NET_HTTP_INT_H
#define EMBER_NET_HTTP_INT_H

#include <stdatomic.h>

#include <curl/curl.h>

#include "net/journal.h"
#include "net/net.h"

#define MAGIC "\xeeHR1" /* a response record's first bytes */
#define MAGIC_LEN 4
#define URL_MAX 65536 /* servers take 8 KiB; curl 8 MiB */

enum { S_WAIT = 1, S_RUN, S_FINAL };
enum { C_SENT, C_SUCCEEDED, C_RETRIED, C_THROTTLED, C_FAILED, C_RESUMED, C_N };

/* ---------------------------------------------------------------- the rate limit (rate.c) */

#define OK_BINS 40 /* clean answers in 100 ms bins: the last 4 s */

typedef struct ember__bucket {
    pthread_mutex_t mu;
    double ceiling;   /* requests a second at most (0: none) */
    double burst_max; /* the bucket's size at most */
    double tokens;
    uint64_t last_ns, paused_until;
    bool adapt;
    double wmax;     /* the rate at the last cut (0: never cut) */
    uint64_t cut_ns; /* when */
    bool settled;    /* cut twice: past the slow start */
    double hint;     /* a pace from RateLimit headers, valid until hint_until */
    uint64_t hint_until;
    uint32_t ok_bins[OK_BINS], sent_bins[OK_BINS];
    uint64_t ok_bin; /* the number of the newest bin (time / 100 ms) */
    uint64_t first_ns;
} ember__bucket;

/* Take a token at now: 0, or the nanoseconds to wait before asking again. */
uint64_t ember__bucket_take(ember__bucket *b, uint64_t now);
/* A clean answer (for the estimate of what the server accepts). */
void ember__bucket_ok(ember__bucket *b, uint64_t now);
/* Answers said the client is too fast (a request sent at sent_at): pause until
 * `until`, and cut the rate once for each burst of such answers. */
void ember__bucket_throttled(ember__bucket *b, uint64_t now, uint64_t sent_at, uint64_t until);
/* RateLimit headers: `remaining` requests until reset_s seconds from now. */
void ember__bucket_hint(ember__bucket *b, uint64_t now, double remaining, double reset_s);
/* The pace now, in requests a second (0: none). */
double ember__bucket_now(ember__bucket *b);
/* The pace, the bucket's level and the seconds of a pause left, at now. */
void ember__bucket_peek(ember__bucket *b, uint64_t now, double *rate, double *tokens,
                        double *paused_s);

/* ---------------------------------------------------------------- the node */

/* What the tasks of an ember_http node share, in memory every process of the
 * context sees (process[N] workers included, forked from the driver): the
 * bucket (a process-shared mutex), the live counters. */
typedef struct http_shared {
    ember__bucket bucket;
    _Atomic int64_t live[C_N], done;
    /* for the UI's events: requests on the wire, final answers by latency, when
     * the last status went out (one a second, from whichever task is due) */
    _Atomic int64_t in_flight, lat[EMBER_HTTP_LAT_BINS];
    _Atomic uint64_t reported_at;
} http_shared;

typedef struct http_src {
    ember_http_conf conf;
    char **strings; /* copies of conf's strings and lists, freed with the node */
    int nstrings;
    http_shared *sh; /* mmap'ed, MAP_SHARED */
    /* conf.headers as curl lists, shared read-only by every request that has no
     * headers of its own: for bodyless requests, and for bare-URL POST, PUT and
     * PATCH (an empty body, and no form Content-Type) */
    struct curl_slist *hdrs, *hdrs_empty_body;
    ember__journal *journal;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    ember_accumulator *acc[C_N];
} http_src;

/* ---------------------------------------------------------------- the response-memory budget */

/* Response bytes held by every ember_http request of the process (bodies being
 * received, and final answers not yet handed on). Past the budget
 * (conf.max_memory) no request starts but each task's head, and a transfer
 * that is not its task's head pauses until bytes are freed; the head never
 * waits, so the window always moves on. */
extern _Atomic int64_t ember__http_held;

/* ---------------------------------------------------------------- a task's slots */

typedef struct engine engine;

typedef struct slot {
    engine *e;
    CURL *easy;
    int state;
    int64_t index; /* of the record in its partition */
    uint64_t ready_at, t_first, deadline, sent_at;
    int attempts, throttled;
    bool idempotent, too_big;
    bool paused;    /* its transfer waits for the response-memory budget */
    double ra_secs; /* the answer's Retry-After in seconds (-1: none, or garbage) */
    size_t held;    /* bytes of body counted against the budget */
    ember_buf key;
    bool has_key;
    ember_buf spec; /* url \0 method \0 body */
    size_t method_off, body_off, body_len;
    struct curl_slist *hdrs_out;   /* the request's own list; NULL: the shared one */
    bool empty_body;               /* a bare-URL POST, PUT or PATCH */
    double rl_remaining, rl_reset; /* RateLimit headers of the answer (-1: none) */
    unsigned char id[EMBER__JOURNAL_ID];
    ember_buf body, hdrs_in;
    long status;
    char errbuf[CURL_ERROR_SIZE];
    char err[600];
    ember_buf out; /* the response record, once final */
} slot;

struct engine {
    ember_out in; /* what the parent pushes into */
    ember_out *next;
    ember__task *task;
    ember_rdd *node;
    http_src *src;
    CURLM *multi;
    slot *slots;
    int cap, head, count, waiting, running;
    int64_t next_index;
    uint64_t rng;
    int epfd;          /* the sockets curl watches */
    bool timer_on;     /* curl wants a call at timer_at */
    uint64_t timer_at; /* ns */
    bool cancelled;    /* ember_cancel: start nothing more */
    bool budget_waits; /* a request did not start for the response-memory budget */
    int npaused;       /* transfers paused for the budget */
    ember__htab seen;  /* journal: hash of a record -> copies seen in this partition */
};

/* s's body bytes no longer count against the budget */
static inline void ember__http_release(slot *s)
{
    if (s->held) {
        atomic_fetch_sub(&ember__http_held, (int64_t)s->held);
        s->held = 0;
    }
}

/* ---------------------------------------------------------------- request.c */

/* An HTTP method name in capitals. */
bool ember__http_method_ok(const char *m);
/* Fill s->spec and s->hdrs_out from a record's value: a URL or a JSON request.
 * 0, or a message in why (the record is then final with that error), or
 * EMBER_ENOMEM. */
int ember__http_parse_request(engine *e, slot *s, ember_bytes v, char *why, size_t whylen);
/* Append to *l the conf's headers that *l does not name already (a request's
 * own headers win), then Content-Type: application/json when json_body and no
 * Content-Type is set. 0 or EMBER_ENOMEM. */
int ember__http_merge_headers(const ember_http_conf *c, struct curl_slist **l, bool json_body);
/* curl's header callback: keeps the headers asked for, reads Retry-After and
 * the RateLimit headers. */
size_t ember__http_on_header(char *ptr, size_t size, size_t nmemb, void *arg);

/* ---------------------------------------------------------------- http.c */

/* The node's compute: a task's requests, answered in input order. */
int ember__http_compute(ember_rdd *n, int part, ember_out *sink);

#endif
