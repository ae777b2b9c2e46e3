/* ember_http's rate limit: a token bucket every task of the process shares
 * (under its mutex), and the adaptive pace that finds a server's limit
 * (docs/net.md).
 */
#include <math.h>

#include "net/http_int.h"

/* The adaptive pace. Until the server first throttles, nothing limits the
 * rate but the ceiling. The first throttled answer gives a rough measure (the
 * clean answers of the last second, a burst the server allowed): from BETA of
 * it the rate doubles every second (TCP's slow start) until the server
 * throttles again. From then on, after a cut at cut_ns from wmax requests a
 * second, the rate is wmax (1 + c (t - K)^3), t the seconds since the cut: it
 * starts at BETA wmax, comes back to wmax after K seconds, stays near it a
 * while, then grows ever faster to probe for more (CUBIC's window curve, as a
 * rate). With BETA 0.9 and K 10 s a server that allows 2 requests a second
 * sees about one throttled request every 25 s (docs/net.md). */
#define AIMD_BETA 0.9
#define AIMD_K 10.0
#define AIMD_C ((1 - AIMD_BETA) / (AIMD_K * AIMD_K * AIMD_K))
#define RATE_MIN 0.01 /* requests a second: the floor of a cut */
#define OK_BIN_NS 100000000ull

/* The current rate: INFINITY when nothing limits it. */
static double bucket_rate(const ember__bucket *b, uint64_t now)
{
    double r = b->ceiling > 0 ? b->ceiling : INFINITY;
    if (!b->adapt)
        return r;
    if (b->hint > 0 && now < b->hint_until)
        return b->hint < r ? b->hint : r;
    if (b->wmax > 0) {
        double t = (double)(now - b->cut_ns) * 1e-9, x = t - AIMD_K;
        double w = b->settled ? b->wmax * (1 + AIMD_C * x * x * x)
                              : AIMD_BETA * b->wmax * exp2(t < 60 ? t : 60);
        if (w < RATE_MIN)
            w = RATE_MIN;
        if (w < r)
            r = w;
    }
    return r;
}

/* The bucket's size at rate r: the configured burst, but no more than one
 * second's worth once the server has shown its limit. */
static double bucket_burst(const ember__bucket *b, double r)
{
    double cap = b->burst_max;
    if (b->adapt && (b->wmax > 0 || b->hint > 0) && r < cap)
        cap = r;
    return cap < 1 ? 1 : cap;
}

static void ok_advance(ember__bucket *b, uint64_t now)
{
    uint64_t bin = now / OK_BIN_NS;
    if (bin <= b->ok_bin)
        return;
    uint64_t gap = bin - b->ok_bin;
    for (uint64_t k = 1; k <= gap && k <= OK_BINS; k++)
        b->ok_bins[(b->ok_bin + k) % OK_BINS] = b->sent_bins[(b->ok_bin + k) % OK_BINS] = 0;
    b->ok_bin = bin;
}

/* Events a second in bins over the last 1 to 4 seconds (the longer, the
 * steadier; at least 1 so that the first burst is not taken for a rate). */
static double per_second(ember__bucket *b, const uint32_t *bins, uint64_t now, double most)
{
    ok_advance(b, now);
    double span = b->first_ns && now > b->first_ns ? (double)(now - b->first_ns) * 1e-9 : 0;
    span = span < 1 ? 1 : span > most ? most : span;
    int n = (int)(span * 10 + 0.5);
    uint32_t sum = 0;
    for (int k = 0; k < n; k++)
        sum += bins[(b->ok_bin + OK_BINS - (uint64_t)k) % OK_BINS];
    return (double)sum / span;
}

/* Take a token at now: 0, or the nanoseconds to wait before asking again. */
uint64_t ember__bucket_take(ember__bucket *b, uint64_t now)
{
    uint64_t wait = 0;
    pthread_mutex_lock(&b->mu);
    if (!b->first_ns)
        b->first_ns = now;
    double r = bucket_rate(b, now);
    if (now < b->paused_until) {
        wait = b->paused_until - now;
    } else if (r < INFINITY) {
        double cap = bucket_burst(b, r);
        if (now > b->last_ns) {
            b->tokens += (double)(now - b->last_ns) * 1e-9 * r;
            b->last_ns = now;
        }
        if (b->tokens > cap)
            b->tokens = cap;
        if (b->tokens >= 1)
            b->tokens -= 1;
        else
            wait = (uint64_t)ceil((1 - b->tokens) / r * 1e9) + 1;
    } else {
        b->last_ns = now;
    }
    if (!wait) {
        ok_advance(b, now);
        b->sent_bins[b->ok_bin % OK_BINS]++;
    }
    pthread_mutex_unlock(&b->mu);
    return wait;
}

/* A clean answer (for the estimate of what the server accepts). */
void ember__bucket_ok(ember__bucket *b, uint64_t now)
{
    pthread_mutex_lock(&b->mu);
    ok_advance(b, now);
    b->ok_bins[b->ok_bin % OK_BINS]++;
    pthread_mutex_unlock(&b->mu);
}

/* The server asked every caller to wait until `until`: no token is handed out
 * before then, and none gathers meanwhile (a full bucket after a pause would
 * only be throttled again). */
static void pause_locked(ember__bucket *b, uint64_t until)
{
    if (until > b->paused_until)
        b->paused_until = until;
    b->tokens = 0;
    if (b->last_ns < until)
        b->last_ns = until;
}

/* Answers said the client is too fast (a request sent at sent_at): pause until
 * `until`, and, once for each burst of such answers (those to requests sent
 * before the last cut are the same event), cut the rate. */
void ember__bucket_throttled(ember__bucket *b, uint64_t now, uint64_t sent_at, uint64_t until)
{
    pthread_mutex_lock(&b->mu);
    pause_locked(b, until);
    if (b->adapt && (b->wmax == 0 || sent_at >= b->cut_ns)) {
        /* what the server accepted lately */
        /* (in the slow start, the last second alone: the rate was climbing) */
        double seen = per_second(b, b->ok_bins, now, b->wmax > 0 && !b->settled ? 1 : 4);
        double r = bucket_rate(b, now);
        if (seen == 0) /* nothing accepted lately: no measure; start again from 1/s */
            seen = 1;
        if (r < seen)
            seen = r;
        if (seen < RATE_MIN)
            seen = RATE_MIN;
        /* a cut below the last one: the limit is lower still, give way more */
        b->wmax = b->settled && seen < b->wmax ? seen * (1 + AIMD_BETA) / 2 : seen;
        b->settled = b->cut_ns > 0;
        b->cut_ns = now;
        b->hint = 0;
    }
    pthread_mutex_unlock(&b->mu);
}

/* RateLimit headers: `remaining` requests (> 0) until reset_s seconds from
 * now. The quota is spread over the time left once the pace would use it up
 * before the reset (a quota of 5,000 an hour does not slow a job of 1,000
 * calls); while that lasts, every answer's numbers set the pace again. */
void ember__bucket_hint(ember__bucket *b, uint64_t now, double remaining, double reset_s)
{
    if (!b->adapt)
        return;
    pthread_mutex_lock(&b->mu);
    if (reset_s < 0.001)
        reset_s = 0.001;
    bool active = b->hint > 0 && now < b->hint_until;
    if (active || per_second(b, b->sent_bins, now, 4) * reset_s > remaining) {
        b->hint = remaining / reset_s;
        if (b->hint < RATE_MIN)
            b->hint = RATE_MIN;
        b->hint_until = now + (uint64_t)(reset_s * 1e9);
    }
    pthread_mutex_unlock(&b->mu);
}

/* For tests and the progress line: the pace now (0: none). */
void ember__bucket_peek(ember__bucket *b, uint64_t now, double *rate, double *tokens,
                        double *paused_s)
{
    pthread_mutex_lock(&b->mu);
    double r = bucket_rate(b, now);
    *rate = r < INFINITY ? r : 0;
    double t = b->tokens;
    if (r < INFINITY && now > b->last_ns) { /* what it holds now, as a take would see */
        t += (double)(now - b->last_ns) * 1e-9 * r;
        double cap = bucket_burst(b, r);
        t = t > cap ? cap : t;
    }
    *tokens = r < INFINITY ? t : 0;
    *paused_s = b->paused_until > now ? (double)(b->paused_until - now) * 1e-9 : 0;
    pthread_mutex_unlock(&b->mu);
}

double ember__bucket_now(ember__bucket *b)
{
    pthread_mutex_lock(&b->mu);
    double r = bucket_rate(b, ember__now_ns());
    pthread_mutex_unlock(&b->mu);
    return r < INFINITY ? r : 0;
}
