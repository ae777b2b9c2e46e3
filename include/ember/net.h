/* ember — bounded concurrency inside tasks, and HTTP requests as a stage.
 *
 * Included by ember/ember.h; including it alone brings ember/ember.h too.
 *
 * Both transformations keep a window of records in flight inside each task:
 * memory is bounded by the window, not by the partition, and an output is
 * handed on as soon as it may be (the head of the window in input order, or
 * any finished record when the order does not matter).
 */
#ifndef EMBER_NET_H
#define EMBER_NET_H

#include "ember/ember.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- bounded concurrency */

/* The order of map_concurrent's outputs. */
enum ember_concurrent_mode {
    EMBER_ORDERED = 0,     /* in input order: the head is handed on as soon as it is done */
    EMBER_AS_COMPLETED = 1 /* in the order the calls finish */
};

/* Run fn, a blocking function (a database query, a call through another
 * client library), on up to max_in_flight records of a task at once. fn has
 * map's and flat_map's convention: it emits zero or more records for its input,
 * and the outputs of one input stay together.
 *
 * Calls run on threads of the context's blocking pool, made as needed and
 * kept until ember_close (stacks of 1 MiB; 4,096 threads at most, calls beyond
 * that wait their turn). The input record is a copy owned by the call; what fn
 * emits is copied. fn may add to accumulators, which count once, when the
 * task's attempt succeeds, as anywhere else.
 *
 * A negative return fails the task (retried as any task) after the calls
 * already started have returned; no further call starts. To keep going past a
 * failed call, emit the failure as a value instead.
 *
 * max_in_flight: 1 to 65,536. mode: EMBER_ORDERED or EMBER_AS_COMPLETED. */
EMBER_EXTERN ember_rdd *ember_map_concurrent(ember_rdd *rdd, ember_map_fn *fn, void *arg,
                                             int max_in_flight, int mode);

/* map_concurrent with engine-owned resources: each thread of the blocking
 * pool that runs a call makes its resource once, with setup(&res, arg) (a
 * database connection), keeps it for every later call with the same setup,
 * teardown and arg (across tasks, rdds and jobs), and tears it down with
 * teardown(res, arg) at ember_close. fn reads it with
 * ember_concurrent_resource(). Threads never outnumber the windows' calls in
 * flight, so neither do the resources. setup returns 0 or a negative code
 * (the call, and so the task, fails). */
typedef struct ember_concurrent_conf {
    int max_in_flight; /* 1 to 65,536 */
    int mode;          /* EMBER_ORDERED or EMBER_AS_COMPLETED */
    int (*setup)(void **res, void *arg);
    void (*teardown)(void *res, void *arg);
} ember_concurrent_conf;
EMBER_EXTERN ember_rdd *ember_map_concurrent_with(ember_rdd *rdd, ember_map_fn *fn, void *arg,
                                                  const ember_concurrent_conf *conf);
/* In a map_concurrent call: its thread's resource (NULL without a setup). */
EMBER_EXTERN void *ember_concurrent_resource(void);

/* ---------------------------------------------------------------- HTTP */

/* How ember_http sends its requests. Zero fields take the defaults named. */
typedef struct ember_http_conf {
    /* Requests in flight in each task (0: 256). Each running task drives its
     * own transfers from its own thread with libcurl's multi interface, so
     * local[2] with 500 puts 1,000 requests in flight from two threads. */
    int max_in_flight;
    /* Connections open at once, all tasks of the job together (every rank's),
     * shared evenly among the tasks that can run at once (0: no cap but the
     * window). */
    int max_connections;
    /* Connections to one host, likewise shared (0: no cap). */
    int max_host_connections;

    /* Rate limit: a token bucket shared by every task of this rdd in the
     * process (under MPI each rank has one with its share of rate and burst).
     * rate: requests a second at most (0: no ceiling; else 0.0001 to 10^9; 2 is
     * 120 a minute); burst: the bucket's size (0: max(1, rate); at most 10^9).
     *
     * The pace adapts to the server (unless no_adapt): when answers show the
     * client is too fast (429; 503 with Retry-After; RateLimit-Remaining: 0 or
     * X-RateLimit-Remaining: 0) the whole bucket pauses for the time the server
     * asks (Retry-After in seconds or as an HTTP date, the Reset header, or a
     * backoff delay), and its rate and burst are cut to 0.9 of what the server
     * was seen to accept; the rate then grows back along a cubic curve (flat near
     * the rate of the last cut, steeper beyond it) while answers stay clean, so
     * the pace settles just under what the server allows. RateLimit-Remaining
     * and -Reset (the IETF draft's, also as one RateLimit header) or their
     * X-RateLimit-* forms, when the server sends them, set the pace directly:
     * what remains, spread over the time to the reset. rate stays a ceiling.
     * With no_adapt the rate is fixed: throttled answers only pause. */
    double rate;
    double burst;

    /* Attempts of a request that fails with a connection error, a timeout or a
     * 5xx (0: 4). Idempotent methods only (GET HEAD PUT DELETE OPTIONS TRACE)
     * unless retry_unsafe. Backoff before attempt n is a random time in [0,
     * min(backoff_max, backoff_base * 2^(n-2))] seconds ("full jitter"; 0: 0.1
     * and 30). */
    int max_attempts;
    double backoff_base, backoff_max;
    bool retry_unsafe;
    /* Throttled answers (429; 503 with Retry-After) are sent again up to this
     * many times, not counted against max_attempts (0: 100). */
    int max_throttled;
    /* The longest pause a server may ask for (Retry-After, RateLimit-Reset),
     * in seconds (0: 600); a longer one is cut to it. A Retry-After that is
     * neither digits nor an HTTP date counts as absent (a backoff pause). */
    double max_retry_after;

    /* Seconds, each at most 10^7. timeout: one attempt, connecting included (0:
     * 30). connect_timeout (0: 10). total_timeout: a request from the moment
     * it enters its task's window to its final answer, every wait included
     * (backoff, Retry-After, the rate limit); a request past it ends with that
     * error, never waits on (0: none). */
    double timeout, connect_timeout, total_timeout;

    /* For records that are a bare URL (NULL: "GET"). */
    const char *method;
    /* Sent with every request, "Name: value" each; NULL-terminated, or NULL. A
     * JSON request's own header of the same name (any case) wins. */
    const char *const *headers;
    /* Response headers kept in the output, by name (any case); NULL-terminated,
     * or NULL for Content-Type alone. */
    const char *const *keep_headers;
    /* A larger answer fails its request with a message (0: 64 MiB). */
    size_t max_body;
    /* Response bytes held at once by every ember_http request of the process
     * (bodies being received, answers not handed on yet). Past it, new requests
     * wait and transfers pause, but each task's oldest request, which frees the
     * rest once it is final (0: a quarter of the machine's memory). */
    size_t max_memory;
    /* TLS: verification is on unless insecure; ca_file adds trusted CAs (PEM). */
    bool insecure;
    const char *ca_file;
    /* Redirects are followed, up to 10, unless no_redirects. */
    bool no_redirects;
    const char *user_agent; /* NULL: "ember/VERSION" */

    /* After ember_cancel: seconds to wait for the requests in flight, whose
     * answers then count (and are journaled); none starts meanwhile (0: 5;
     * negative: none). */
    double grace;
    /* A fixed rate: see rate. */
    bool no_adapt;
    /* A journal file (NULL: none). Each final answer is appended to it the
     * moment it is final (one write; a process killed at any moment loses none
     * written before). A request whose answer is in the journal is not sent
     * again: its recorded response is the output, so a job run again after an
     * interruption or a crash sends only what had no final answer, and a task
     * retried by the scheduler does not send its partition's answered requests
     * twice. A request is known by its input record's key and value (and how
     * many identical records come before it in its partition): give identical
     * requests distinct keys to send each. Made with mode 0600 when missing; a
     * journal written for another journal_tag, or with other request options
     * (method, headers, keep_headers, user_agent, no_redirects), is refused:
     * the action fails with EMBER_EINVAL and says why. Under MPI rank R > 0
     * appends to PATH.rank-R, and every rank reads them all. The caller removes
     * the file(s) when it no longer needs them. */
    const char *journal;
    /* What the job is for, in the caller's words (the input's name and hash,
     * options of its own): stored in the journal and compared when it is
     * opened again. NULL: "". One line. */
    const char *journal_tag;
    /* Requests whose journaled answer is a failure are sent again. */
    bool retry_failed;
} ember_http_conf;

/* Send a request for each record of rdd and yield exactly one output record per
 * input, in input order, never dropping one and never repeating one.
 *
 * An input's value is a URL ("https://host/path"; spaces around it are
 * ignored), or a JSON object {"method": "POST", "url": "...", "headers": {"K":
 * "V"} or ["K: V", ...], "body": "text" or any JSON value (sent as JSON)}. An
 * input's key, if any, is the output's key. The output's value is a response
 * record: read it with ember_http_response_get or turn it into a JSON line with
 * ember_http_response_json. A record that is not a valid request yields a
 * response record with its error ("record 17 of partition 2: ...") and is
 * never sent.
 *
 * conf is copied (its strings too); NULL takes every default. The counters of
 * the rdd's requests are accumulators: ember_http_counters. */
EMBER_EXTERN ember_rdd *ember_http(ember_rdd *rdd, const ember_http_conf *conf);

/* A response record, decoded. Every ember_bytes is borrowed from the record. */
typedef struct ember_http_response {
    int status;      /* the final HTTP status; 0 when no answer came */
    int attempts;    /* requests sent (0: the record was not a valid request) */
    double latency;  /* seconds from the first attempt to the answer, waits included */
    bool ok;         /* a 2xx or 3xx answer */
    ember_bytes url; /* the request's URL */
    /* the kept response headers, "Name: value\r\n" each, as received */
    ember_bytes headers;
    ember_bytes body;
    ember_bytes error; /* on a final failure, what happened (empty when ok) */
} ember_http_response;

/* Decode a response record's value. 0, or EMBER_EINVAL when val is not one. */
EMBER_EXTERN int ember_http_response_get(ember_bytes val, ember_http_response *out);
/* The value of header name (any case) in r->headers, or {NULL, 0}. */
EMBER_EXTERN ember_bytes ember_http_response_header(const ember_http_response *r, const char *name);
/* Append a response record as one JSON object, no newline: {"url", "status",
 * "ok", "attempts", "latency_ms", "headers": {..}, "body": "...", "error"}.
 * The body is a JSON string (bytes that are not UTF-8 are replaced by U+FFFD).
 * 0, EMBER_EINVAL, or EMBER_ENOMEM. */
EMBER_EXTERN int ember_http_response_json(ember_bytes val, ember_buf *out);
/* Flags of ember_http_response_json_ex. */
enum {
    /* a body that is valid JSON is embedded as a JSON value (compact, one
     * line), not as a string; any other body stays a string */
    EMBER_HTTP_JSON_BODY = 1
};
/* ember_http_response_json with flags (EMBER_HTTP_JSON_BODY or 0). */
EMBER_EXTERN int ember_http_response_json_ex(ember_bytes val, ember_buf *out, unsigned flags);

/* What an ember_http rdd's requests have done. */
typedef struct ember_http_counts {
    int64_t sent;      /* requests sent, retries included */
    int64_t succeeded; /* inputs answered 2xx or 3xx */
    int64_t retried;   /* attempts after an error (not throttled ones) */
    int64_t throttled; /* 429 answers, and 503 with Retry-After */
    int64_t failed;    /* inputs that ended without a 2xx or 3xx answer */
    int64_t resumed;   /* inputs answered from the journal, not sent (in succeeded or failed) */
} ember_http_counts;

/* The accumulators' values: what the successful task attempts counted (each
 * input once; a failed attempt's counts are dropped). From the driver. 0, or
 * EMBER_EINVAL when rdd is not an ember_http rdd. */
EMBER_EXTERN int ember_http_counters(ember_rdd *rdd, ember_http_counts *out);
/* Live counts while an action runs, every attempt included: for a progress
 * line, from any thread. done: inputs finished. */
EMBER_EXTERN int ember_http_progress(ember_rdd *rdd, ember_http_counts *out, int64_t *done);
/* Raise this process's soft limit of open files to its hard limit, and return
 * the new limit (or -errno). Each request in flight holds a socket, and the
 * usual soft limit is 1,024: call this before a job with more in flight. The
 * library never changes the limit on its own (`ember http` calls this). */
EMBER_EXTERN long ember_raise_open_files_limit(void);

/* The pace the rate limit allows now, in requests a second (what the
 * adaptation has found, under the ceiling); 0 when nothing limits it or rdd is
 * not an ember_http rdd. Any thread. */
EMBER_EXTERN double ember_http_rate(ember_rdd *rdd);

#ifdef __cplusplus
}
#endif

#endif
