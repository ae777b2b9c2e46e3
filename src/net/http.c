/* ember_http: a request per record, sent through libcurl's multi interface.
 *
 * Each task drives its own multi handle from its own thread: no thread per
 * request, no helper thread. The task keeps a ring of max_in_flight slots; a
 * record from the parent takes the next slot, and when the ring is full the
 * task runs the event loop until the head is final, hands it on, and reuses
 * its slot. The loop is libcurl's socket interface on the task's own epoll
 * set: curl says which sockets to watch and when its next timeout is due;
 * epoll_wait reports only the sockets that are ready, and
 * curl_multi_socket_action acts on those alone, so a turn of the loop costs
 * what happened, not the number of transfers in flight. Outputs therefore leave
 * in input order, exactly one per input, and memory is bounded by the window.
 *
 * A slot waits (backoff, or an empty bucket), runs (its easy handle is in the
 * multi), or is final (its response record built). Waiting slots start in ring
 * order, each after taking a token from the rdd's bucket, which every task of
 * the process shares under its mutex. A throttled answer (429, or 503 with
 * Retry-After) pauses the bucket, so every task waits as the server asked.
 * Retries use exponential backoff with full jitter.
 *
 * Shared between tasks: the bucket (mutex), the live counters (atomics), and a
 * curl share of DNS answers and TLS sessions (a mutex per kind of data). A
 * failed task removes its transfers and drops its slots; its retry sends its
 * partition's requests again (the accumulators count the successful attempt).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/xxh.h" /* XXH3_state_t on the stack */
#include "net/http_int.h"

/* The response bytes every request of the process holds (see http_int.h). */
_Atomic int64_t ember__http_held;

static double jitter(engine *e)
{
    e->rng ^= e->rng << 13;
    e->rng ^= e->rng >> 7;
    e->rng ^= e->rng << 17;
    return (double)(e->rng >> 11) / 9007199254740992.0;
}

/* Full jitter: a random delay in [0, min(max, base * 2^(attempts - 1))] seconds. */
static uint64_t backoff_ns(engine *e, int attempts)
{
    const ember_http_conf *c = &e->src->conf;
    double cap = c->backoff_base * ldexp(1.0, attempts > 60 ? 60 : attempts - 1);
    if (cap > c->backoff_max)
        cap = c->backoff_max;
    return (uint64_t)(jitter(e) * cap * 1e9);
}

static bool budget_full(const http_src *src)
{
    return atomic_load_explicit(&ember__http_held, memory_order_relaxed) >=
           (int64_t)src->conf.max_memory;
}

static void count(engine *e, int which)
{
    atomic_fetch_add(&e->src->sh->live[which], 1);
    ember_accumulator_add_i64(e->src->acc[which], 1); /* ENOMEM only; counted live anyway */
}

/* ---------------------------------------------------------------- response records */

static size_t put_field(unsigned char *p, const void *b, size_t n)
{
    unsigned char *q = ember__varint_put(p, n);
    if (n)
        memcpy(q, b, n);
    return (size_t)(q - p) + n;
}

/* Build s's response record; s becomes final. */
static int finish(engine *e, slot *s, bool ok, const char *error)
{
    uint64_t now = ember__now_ns();
    uint64_t lat = s->t_first ? now - s->t_first : 0;
    const char *url = (const char *)s->spec.ptr;
    size_t ul = s->spec.len ? strlen(url) : 0, el = error ? strlen(error) : 0;
    size_t need = MAGIC_LEN + 3 * 10 + 1 + 4 * 10 + ul + s->hdrs_in.len + s->body.len + el;
    s->out.len = 0;
    if (ember__buf_reserve(&s->out, need))
        return ember__task_fail(e->task, EMBER_ENOMEM,
                                "http: out of memory building a response (partition %d)",
                                e->task->partition);
    unsigned char *p = s->out.ptr;
    memcpy(p, MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    p = ember__varint_put(p, (uint64_t)s->status);
    p = ember__varint_put(p, (uint64_t)s->attempts);
    p = ember__varint_put(p, lat);
    *p++ = ok;
    p += put_field(p, url, ul);
    p += put_field(p, s->hdrs_in.ptr, s->hdrs_in.len);
    p += put_field(p, s->body.ptr, s->body.len);
    p += put_field(p, error, el);
    s->out.len = (size_t)(p - s->out.ptr);
    s->state = S_FINAL;
    if (e->src->journal) {
        int rc = ember__journal_put(e->src->journal, s->id, ember_buf_bytes(&s->out), ok, now);
        if (rc)
            return ember__task_fail(e->task, rc,
                                    "http: cannot append record %lld of partition %d to the "
                                    "journal %s: %s",
                                    (long long)s->index, e->task->partition, e->src->conf.journal,
                                    ember_strerror(rc));
    }
    count(e, ok ? C_SUCCEEDED : C_FAILED);
    atomic_fetch_add(&e->src->sh->done, 1);
    if (s->t_first) { /* its latency's bin: under 1 ms, then doubling */
        uint64_t l = lat / 1000000;
        int bin = 0;
        while (l && bin < EMBER_HTTP_LAT_BINS - 1) {
            l >>= 1;
            bin++;
        }
        atomic_fetch_add_explicit(&e->src->sh->lat[bin], 1, memory_order_relaxed);
    }
    return 0;
}

/* ---------------------------------------------------------------- transfers */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    slot *s = arg;
    engine *e = s->e;
    size_t n = size * nmemb;
    if (s->body.len + n > e->src->conf.max_body) {
        s->too_big = true;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    int64_t total = atomic_fetch_add(&ember__http_held, (int64_t)n) + (int64_t)n;
    if (total > (int64_t)e->src->conf.max_memory && s != &e->slots[e->head]) {
        atomic_fetch_sub(&ember__http_held, (int64_t)n);
        s->paused = true;
        e->npaused++;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes until it is resumed */
    }
    s->held += n;
    return ember_buf_append(&s->body, ptr, n) ? 0 : n;
}

/* Resume the transfers paused for the budget: the head at once, the others
 * once there is room. */
static void unpause(engine *e)
{
    for (int k = 0; k < e->count && e->npaused; k++) {
        slot *s = &e->slots[(e->head + k) % e->cap];
        if (!s->paused || (k > 0 && budget_full(e->src)))
            continue;
        s->paused = false;
        e->npaused--;
        curl_easy_pause(s->easy, CURLPAUSE_CONT); /* may deliver (and pause) again */
    }
}

/* Seconds as nanoseconds, overflow-safe: negative and NaN are 0, and nothing
 * waits past 10^9 s. */
static uint64_t secs_ns(double secs)
{
    if (!(secs > 0))
        return 0;
    return secs > 1e9 ? (uint64_t)1e18 : (uint64_t)(secs * 1e9);
}

/* Configure s's easy handle for its next attempt and add it to the multi. */
static int start(engine *e, slot *s, uint64_t now)
{
    const ember_http_conf *c = &e->src->conf;
    if (!s->easy && !(s->easy = curl_easy_init()))
        return EMBER_ENOMEM;
    CURL *h = s->easy;
    curl_easy_reset(h);
    const char *url = (const char *)s->spec.ptr, *m = url + s->method_off;
    double left = c->timeout;
    if (s->deadline) {
        double rest = (double)(s->deadline - now) * 1e-9;
        if (rest < left)
            left = rest;
    }
    long timeout_ms = (long)(left * 1e3);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->no_redirects ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout * 1e3));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, ember__http_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (!strncasecmp(url, "https:", 6))
        curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L); /* wait to multiplex over HTTP/2 */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_SHARE, e->src->share);
    struct curl_slist *hl = s->hdrs_out     ? s->hdrs_out
                            : s->empty_body ? e->src->hdrs_empty_body
                                            : e->src->hdrs;
    if (hl)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (!strcmp(m, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(m, "GET") || s->body_len != (size_t)-1)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    if (s->body_len != (size_t)-1 && strcmp(m, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->spec.ptr + s->body_off);
    }
    s->body.len = s->hdrs_in.len = 0;
    ember__http_release(s);
    s->status = 0;
    s->errbuf[0] = 0;
    s->too_big = false;
    s->ra_secs = -1;
    s->rl_remaining = s->rl_reset = -1;
    s->sent_at = now;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK)
        return EMBER_ENOMEM;
    if (!s->t_first)
        s->t_first = now;
    s->attempts++;
    s->state = S_RUN;
    e->waiting--;
    e->running++;
    atomic_fetch_add_explicit(&e->src->sh->in_flight, 1, memory_order_relaxed);
    count(e, C_SENT);
    return 0;
}

/* Transport errors worth another attempt (the server may answer next time). */
static bool transient(CURLcode r)
{
    switch (r) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Wait before the next attempt; false when the total timeout comes first. */
static bool retry_at(engine *e, slot *s, uint64_t at)
{
    if (s->deadline && at >= s->deadline)
        return false;
    s->ready_at = at;
    s->state = S_WAIT;
    e->waiting++;
    return true;
}

/* An attempt of s ended with r. */
static int complete(engine *e, slot *s, CURLcode r)
{
    const ember_http_conf *c = &e->src->conf;
    uint64_t now = ember__now_ns();
    char why[520];
    curl_multi_remove_handle(e->multi, s->easy);
    e->running--;
    atomic_fetch_sub_explicit(&e->src->sh->in_flight, 1, memory_order_relaxed);
    if (s->paused) { /* ended (a timeout) while waiting for the budget */
        s->paused = false;
        e->npaused--;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (r == CURLE_OK) {
        long st = s->status;
        if (st == 429 || (st == 503 && s->ra_secs >= 0)) {
            /* throttled: every task waits as long as the server asked (Retry-After,
             * else the RateLimit reset, else a backoff; at most max_retry_after),
             * and the pace is cut */
            s->throttled++;
            count(e, C_THROTTLED);
            double cap = c->max_retry_after;
            uint64_t wait = s->ra_secs >= 0    ? secs_ns(s->ra_secs < cap ? s->ra_secs : cap)
                            : s->rl_reset >= 0 ? secs_ns(s->rl_reset < cap ? s->rl_reset : cap)
                                               : backoff_ns(e, s->throttled);
            ember__bucket_throttled(&e->src->sh->bucket, now, s->sent_at, now + wait);
            if (s->throttled <= c->max_throttled && retry_at(e, s, now + wait))
                return 0;
            if (s->throttled > c->max_throttled)
                snprintf(why, sizeof why, "HTTP %ld: throttled %d times", st, s->throttled);
            else /* the wait asked for runs past the request's total timeout */
                snprintf(why, sizeof why,
                         "total timeout (%.3g s) before the %.3g s the server asked to wait: "
                         "HTTP %ld, throttled %d time%s",
                         c->total_timeout, (double)wait * 1e-9, st, s->throttled,
                         s->throttled == 1 ? "" : "s");
            return finish(e, s, false, why);
        }
        /* what the server says of its quota */
        double reset = s->rl_reset < c->max_retry_after ? s->rl_reset : c->max_retry_after;
        if (s->rl_remaining == 0)
            ember__bucket_throttled(&e->src->sh->bucket, now, s->sent_at, now + secs_ns(reset));
        else if (s->rl_remaining > 0 && s->rl_reset >= 0)
            ember__bucket_hint(&e->src->sh->bucket, now, s->rl_remaining, reset);
        if (st >= 500 && (s->idempotent || c->retry_unsafe) && s->attempts < c->max_attempts) {
            if (retry_at(e, s, now + backoff_ns(e, s->attempts))) {
                count(e, C_RETRIED);
                return 0;
            }
        }
        if (st >= 200 && st < 400) {
            ember__bucket_ok(&e->src->sh->bucket, now);
            return finish(e, s, true, NULL);
        }
        snprintf(why, sizeof why, "HTTP %ld after %d attempt%s", st, s->attempts,
                 s->attempts == 1 ? "" : "s");
        return finish(e, s, false, why);
    }
    /* no answer, or a broken one */
    if (s->too_big || r == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, sizeof why, "the answer is larger than max_body (%zu bytes)", c->max_body);
        s->body.len = 0;
        return finish(e, s, false, why);
    }
    bool again = transient(r) && (s->idempotent || c->retry_unsafe || r == CURLE_COULDNT_CONNECT);
    if (again && s->attempts < c->max_attempts &&
        retry_at(e, s, now + backoff_ns(e, s->attempts))) {
        count(e, C_RETRIED);
        return 0;
    }
    snprintf(why, sizeof why, "%s%s%s (after %d attempt%s%s)", curl_easy_strerror(r),
             s->errbuf[0] ? ": " : "", s->errbuf, s->attempts, s->attempts == 1 ? "" : "s",
             again && s->attempts < c->max_attempts ? "; total timeout" : "");
    s->status = 0;
    s->body.len = 0;
    return finish(e, s, false, why);
}

/* curl's socket callback: watch fd for what curl waits on, in the task's epoll set. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)easy;
    engine *e = arg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    /* a socket curl has not seen before has no pointer assigned: add it and
     * mark it, so that later changes are one EPOLL_CTL_MOD */
    if (sockp)
        return epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) ? -1 : 0;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) &&
        (errno != EEXIST || epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev)))
        return -1;
    curl_multi_assign(e->multi, fd, e);
    return 0;
}

/* curl's timer callback: when to call it back with CURL_SOCKET_TIMEOUT. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    engine *e = arg;
    e->timer_on = timeout_ms >= 0;
    e->timer_at = ember__now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    return 0;
}

static int journal_failed(engine *e, int rc)
{
    return ember__task_fail(e->task, rc, "http: cannot write the journal %s: %s (partition %d)",
                            e->src->conf.journal, ember_strerror(rc), e->task->partition);
}

/* The stage's state as an event for the UI, once a second from whichever task
 * is due (force: now, at a task's end). */
static void report(engine *e, bool force)
{
    ember_ctx *ctx = e->node->ctx;
    if (!ember__ev_wanted(ctx, EMBER_EV_HTTP))
        return;
    http_src *src = e->src;
    uint64_t now = ember__now_ns(), last = atomic_load(&src->sh->reported_at);
    if (!force && (now - last < 1000000000ull ||
                   !atomic_compare_exchange_strong(&src->sh->reported_at, &last, now)))
        return;
    ember_http_status st = {.rdd_id = e->node->id,
                            .sent = atomic_load(&src->sh->live[C_SENT]),
                            .succeeded = atomic_load(&src->sh->live[C_SUCCEEDED]),
                            .retried = atomic_load(&src->sh->live[C_RETRIED]),
                            .throttled = atomic_load(&src->sh->live[C_THROTTLED]),
                            .failed = atomic_load(&src->sh->live[C_FAILED]),
                            .resumed = atomic_load(&src->sh->live[C_RESUMED]),
                            .done = atomic_load(&src->sh->done),
                            .in_flight = atomic_load(&src->sh->in_flight)};
    for (int i = 0; i < EMBER_HTTP_LAT_BINS; i++)
        st.latency[i] = atomic_load_explicit(&src->sh->lat[i], memory_order_relaxed);
    ember__bucket_peek(&src->sh->bucket, now, &st.rate, &st.tokens, &st.paused_s);
    ember_event ev = {.type = EMBER_EV_HTTP,
                      .job_id = ctx->cur_job,
                      .stage_id = e->task->job->stage_id,
                      .partition = e->task->partition,
                      .http = &st};
    ember__emit(ctx, &ev);
}

/* One turn of the loop: start what may start, wait for activity (up to the next
 * wake when block), and settle what finished. */
static int pump(engine *e, bool block)
{
    uint64_t now = ember__now_ns(), wake = UINT64_MAX;
    int rc;
    if (!e->cancelled && ember__halted(e->task))
        e->cancelled = true; /* a cancel, a failure, or enough (take): start nothing */
    for (int k = 0, left = e->cancelled ? 0 : e->waiting; k < e->count && left > 0; k++) {
        slot *s = &e->slots[(e->head + k) % e->cap];
        if (s->state != S_WAIT)
            continue;
        left--;
        if (s->deadline && now >= s->deadline) { /* it waited out its total timeout */
            char why[200];
            snprintf(why, sizeof why,
                     "total timeout (%.3g s) reached while waiting to be %s (after %d attempt%s)",
                     e->src->conf.total_timeout, s->attempts ? "sent again" : "sent", s->attempts,
                     s->attempts == 1 ? "" : "s");
            e->waiting--;
            s->status = s->attempts ? s->status : 0;
            if ((rc = finish(e, s, false, why)))
                return rc;
            continue;
        }
        if (s->deadline && s->deadline < wake)
            wake = s->deadline;
        /* the response-memory budget is used up: only the head may start (it
         * frees what the slots behind it hold once it is final) */
        if (k > 0 && budget_full(e->src)) {
            e->budget_waits = true;
            break;
        }
        if (s->ready_at > now) {
            if (s->ready_at < wake)
                wake = s->ready_at;
            continue;
        }
        uint64_t w = ember__bucket_take(&e->src->sh->bucket, now);
        if (w) { /* no token: the rest wait their turn, in order */
            if (now + w < wake)
                wake = now + w;
            break;
        }
        if ((rc = start(e, s, now)))
            return ember__task_fail(e->task, rc, "http: cannot start a request (partition %d)",
                                    e->task->partition);
    }
    if (e->npaused)
        unpause(e);
    if (e->timer_on && e->timer_at < wake)
        wake = e->timer_at;
    int timeout_ms = 0;
    if (block) {
        uint64_t d = wake == UINT64_MAX ? 1000000000ull : wake > now ? wake - now : 0;
        timeout_ms = (int)((d + 999999) / 1000000);
        if (timeout_ms > 100) /* a cancel is seen within 100 ms */
            timeout_ms = 100;
    }
    struct epoll_event ev[256];
    int still, nev = epoll_wait(e->epfd, ev, 256, timeout_ms);
    for (int i = 0; i < nev; i++) {
        int mask = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(e->multi, ev[i].data.fd, mask, &still);
    }
    if (e->timer_on && ember__now_ns() >= e->timer_at) {
        e->timer_on = false;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        slot *s;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if ((rc = complete(e, s, msg->data.result)))
            return rc;
    }
    if (e->src->journal && (rc = ember__journal_tick(e->src->journal, ember__now_ns())))
        return journal_failed(e, rc);
    report(e, false);
    return 0;
}

/* Hand on the final slots at the head, in order. */
static int settle(engine *e)
{
    while (e->count && e->slots[e->head].state == S_FINAL) {
        slot *s = &e->slots[e->head];
        ember_rec out;
        ember__rec_set(&out, s->has_key ? (const void *)s->key.ptr : NULL, s->key.len, s->out.ptr,
                       s->out.len);
        if (s->has_key && !out.key.ptr)
            out.key.ptr = "";
        e->head = (e->head + 1) % e->cap;
        e->count--;
        s->state = 0;
        curl_slist_free_all(s->hdrs_out);
        s->hdrs_out = NULL;
        int rc = e->next->push(e->next, &out);
        ember__http_release(s); /* counted until handed on */
        /* a big answer's buffers go back once handed on: kept for the slot's
         * next request, they would hold memory the budget no longer counts */
        if (s->body.cap > ((size_t)1 << 20))
            ember_buf_destroy(&s->body);
        if (s->out.cap > ((size_t)1 << 20))
            ember_buf_destroy(&s->out);
        if (rc)
            return rc;
    }
    return 0;
}

/* The journal's id of a record: its hash, and the copies of it seen before in
 * this partition. 0 or EMBER_ENOMEM. */
static int record_id(engine *e, const ember_rec *rec, unsigned char id[EMBER__JOURNAL_ID])
{
    XXH3_state_t st;
    uint64_t kl = rec->key.ptr ? rec->key.len + 1 : 0; /* no key differs from an empty one */
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, &kl, sizeof kl);
    if (rec->key.len)
        XXH3_128bits_update(&st, rec->key.ptr, rec->key.len);
    if (rec->val.len)
        XXH3_128bits_update(&st, rec->val.ptr, rec->val.len);
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits_digest(&st));
    int64_t *copies = ember__htab_upsert(&e->seen, ember_bytes_of(h.digest, sizeof h.digest));
    if (!copies)
        return EMBER_ENOMEM;
    uint64_t k = (uint64_t)(*copies)++;
    memcpy(id, h.digest, 16);
    for (int i = 0; i < 8; i++)
        id[16 + i] = (unsigned char)(k >> (8 * i));
    return 0;
}

/* A final answer from the journal for s: 1 when there is one (s is final), 0
 * when the request must be sent, or a failure of the task. */
static int from_journal(engine *e, slot *s)
{
    bool ok = false;
    int rc = ember__journal_get(e->src->journal, s->id, &s->out, &ok);
    if (rc < 0)
        return ember__task_fail(e->task, rc,
                                "http: cannot read record %lld of partition %d from the journal "
                                "%s: %s",
                                (long long)s->index, e->task->partition, e->src->conf.journal,
                                ember_strerror(rc));
    if (rc == 0 || (!ok && e->src->conf.retry_failed))
        return 0;
    s->state = S_FINAL;
    count(e, C_RESUMED);
    count(e, ok ? C_SUCCEEDED : C_FAILED);
    atomic_fetch_add(&e->src->sh->done, 1);
    return 1;
}

static int http_push(ember_out *self, const ember_rec *rec)
{
    engine *e = container_of(self, engine, in);
    int rc;
    while (e->count == e->cap) {
        if ((rc = pump(e, e->slots[e->head].state != S_FINAL)) || (rc = settle(e)))
            return rc;
        if (e->cancelled && e->count == e->cap)
            return ember__halt_code(e->task);
    }
    slot *s = &e->slots[(e->head + e->count) % e->cap];
    e->count++;
    s->index = e->next_index++;
    s->attempts = s->throttled = 0;
    s->t_first = 0;
    /* total_timeout bounds the request from the moment it enters the window:
     * its waits (backoff, Retry-After, the rate limit) included */
    s->deadline =
        e->src->conf.total_timeout > 0 ? ember__now_ns() + secs_ns(e->src->conf.total_timeout) : 0;
    s->has_key = rec->key.ptr != NULL;
    s->key.len = 0;
    s->status = 0;
    s->body.len = s->hdrs_in.len = 0;
    char why[400];
    if ((s->has_key && ember_buf_append(&s->key, rec->key.ptr, rec->key.len)) ||
        (e->src->journal && record_id(e, rec, s->id)))
        return ember__task_fail(e->task, EMBER_ENOMEM, "http: out of memory reading a request");
    if (e->src->journal && (rc = from_journal(e, s)))
        return rc < 0 ? rc : settle(e);
    if (ember__http_parse_request(e, s, rec->val, why, sizeof why))
        return ember__task_fail(e->task, EMBER_ENOMEM, "http: out of memory reading a request");
    if (why[0]) {
        char msg[520];
        snprintf(msg, sizeof msg, "record %lld of partition %d: %s", (long long)s->index,
                 e->task->partition, why);
        s->spec.len = 0;
        if ((rc = finish(e, s, false, msg)))
            return rc;
        return settle(e);
    }
    s->state = S_WAIT;
    s->ready_at = 0;
    e->waiting++;
    /* send it now: a turn that does not wait starts it and settles what is done */
    if ((rc = pump(e, false)))
        return rc;
    return settle(e);
}

int ember__http_compute(ember_rdd *n, int part, ember_out *sink)
{
    http_src *src = n->u.state;
    ember__task *t = sink->task;
    const ember_http_conf *c = &src->conf;
    engine e = {.in = {.push = http_push, .next = sink, .task = t, .node = n},
                .next = sink,
                .task = t,
                .node = n,
                .src = src,
                .cap = c->max_in_flight,
                .epfd = -1,
                .rng = ember__now_ns() ^ (0x9e3779b97f4a7c15ull * (uint64_t)(part + 1))};
    int rc = 0;
    e.rng |= 1;
    ember__htab_init(&e.seen);
    e.multi = curl_multi_init();
    e.slots = ember__calloc((size_t)e.cap, sizeof *e.slots);
    e.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e.epfd < 0) {
        rc = ember__task_fail(t, -errno, "http: epoll_create1: %s", strerror(errno));
        goto out;
    }
    if (!e.multi || !e.slots) {
        rc = ember__task_fail(t, EMBER_ENOMEM, "http: out of memory for a window of %d", e.cap);
        goto out;
    }
    for (int i = 0; i < e.cap; i++)
        e.slots[i].e = &e;
    int tasks = ember_parallelism(n->ctx) * (n->ctx->ranks > 1 ? n->ctx->ranks : 1);
    if (c->max_connections > 0)
        curl_multi_setopt(e.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          (long)((c->max_connections + tasks - 1) / tasks));
    if (c->max_host_connections > 0)
        curl_multi_setopt(e.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)((c->max_host_connections + tasks - 1) / tasks));
    curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, (long)e.cap);
    curl_multi_setopt(e.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e.multi, CURLMOPT_SOCKETDATA, &e);
    curl_multi_setopt(e.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e.multi, CURLMOPT_TIMERDATA, &e);

    rc = ember__compute(n->parent, part, &e.in);
    /* Every request has started: a connection that falls idle now can only serve
     * a retry, so close it while the rest are still waiting on their servers
     * rather than all of them after the last answer. */
    if (!rc)
        curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, 1L);
    while (!rc && e.count) {
        if (!(rc = pump(&e, e.slots[e.head].state != S_FINAL)))
            rc = settle(&e);
        if (!rc && e.cancelled && e.count)
            rc = ember__halt_code(t);
    }
    /* Cancelled: the requests in flight may still answer within the grace
     * period; their answers are final (journaled, and handed on when in order).
     * Nothing starts meanwhile. */
    if (rc == EMBER_ECANCELED && e.running && c->grace > 0) {
        uint64_t until = ember__now_ns() + (uint64_t)(c->grace * 1e9);
        int drc = 0, src_rc = 0;
        e.cancelled = true;
        while (e.running && !drc && ember__now_ns() < until) {
            drc = pump(&e, true);
            if (!src_rc)
                src_rc = settle(&e);
        }
    }
    report(&e, true);
    /* what is final is written before the task ends, whatever its outcome */
    if (src->journal) {
        int jrc = ember__journal_flush(src->journal);
        if (jrc && !rc)
            rc = journal_failed(&e, jrc);
    }
out:
    for (int i = 0; e.slots && i < e.cap; i++) {
        slot *s = &e.slots[i];
        ember__http_release(s);
        if (s->easy) {
            if (s->state == S_RUN) {
                curl_multi_remove_handle(e.multi, s->easy);
                atomic_fetch_sub_explicit(&src->sh->in_flight, 1, memory_order_relaxed);
            }
            curl_easy_cleanup(s->easy);
        }
        curl_slist_free_all(s->hdrs_out);
        ember_buf_destroy(&s->key);
        ember_buf_destroy(&s->spec);
        ember_buf_destroy(&s->body);
        ember_buf_destroy(&s->hdrs_in);
        ember_buf_destroy(&s->out);
    }
    ember__free(e.slots);
    ember__htab_destroy(&e.seen);
    if (e.multi)
        curl_multi_cleanup(e.multi);
    if (e.epfd >= 0)
        close(e.epfd);
    return rc;
}
