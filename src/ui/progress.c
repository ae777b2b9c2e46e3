/* Spark's console progress bar, on stderr:
 *
 *   [Stage 3:=====>                    (12 + 2) / 40]
 *
 * completed tasks, + those running, / the stage's tasks; several running
 * stages share the line. As Spark's, a stage shows once it has run for half a
 * second (a quick job draws nothing), the line is redrawn at most 10 times a
 * second, and cleared when no stage runs. An HTTP stage adds its answers a
 * second and a 429 pause: [Stage 1:==>   (0 + 2) / 2] 118 answers/s, paused 1.2s
 *
 * The listener only counts, each task thread in a slot of its own (no lock, no
 * line of memory shared with another task thread); a thread of the bar's own
 * sums the slots and draws, so a task never waits for the terminal.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/tslot.h"
#include "ui/ui.h"

#define SHOW_AFTER_NS 500000000ull
#define MAX_SHOWN 4

typedef struct bar_stage {
    int64_t id;
    int total;
    uint64_t since;
} bar_stage;

/* A task thread's counts of a stage's tasks, written by that thread alone and
 * read by the drawer, so that task threads share no line of memory: stage
 * is the stage counted (-1 while its counts are zeroed for another). */
typedef struct bar_count {
    _Atomic int64_t stage;
    _Atomic int started, ended, ok;
} bar_count;

#define COUNTED 16 /* stages a thread counts at once: c[stage id % COUNTED] */

typedef struct bar_slot {
    ember__tslot head;
    bar_count c[COUNTED];
    char pad[64]; /* the next thread's slot on a line of its own */
} bar_slot;

struct ui_bar {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool stop, drawn;
    bar_stage st[16];
    int n;
    ember__tslots slots; /* bar_slot: every task thread's counts */
    /* the newest HTTP status: answers a second from the last two */
    int64_t http_stage, http_done, http_prev_done;
    uint64_t http_t, http_prev_t;
    double paused_s;
    size_t last_len;
    char last[1200]; /* the line drawn last: drawn again only when it changes */
};

static void draw(ui_bar *b);

static bar_stage *find(ui_bar *b, int64_t id)
{
    for (int i = 0; i < b->n; i++)
        if (b->st[i].id == id)
            return &b->st[i];
    return NULL;
}

/* A task's start or end, counted in its thread's slot without a lock. */
static void count(ui_bar *b, const ember_event *ev)
{
    bar_slot *t = (bar_slot *)ember__tslot_of(&b->slots);
    if (!t)
        return;
    bar_count *c = &t->c[(uint64_t)ev->stage_id % COUNTED];
    if (atomic_load_explicit(&c->stage, memory_order_relaxed) != ev->stage_id) {
        atomic_store_explicit(&c->stage, -1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&c->started, 0, memory_order_relaxed);
        atomic_store_explicit(&c->ended, 0, memory_order_relaxed);
        atomic_store_explicit(&c->ok, 0, memory_order_relaxed);
        atomic_store_explicit(&c->stage, ev->stage_id, memory_order_release);
    }
    _Atomic int *n = ev->type == EMBER_EV_TASK_START ? &c->started : &c->ended;
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (ev->type == EMBER_EV_TASK_END && !ev->failed)
        atomic_store_explicit(&c->ok, atomic_load_explicit(&c->ok, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

/* A stage's tasks done and running, summed over the threads' slots (a slot
 * caught while it turns to another stage is left out of this redraw). */
static void counts(ui_bar *b, int64_t id, int *done, int *running)
{
    int started = 0, ended = 0, ok = 0;
    for (ember__tslot *h = ember__tslots_first(&b->slots); h; h = h->next) {
        bar_count *c = &((bar_slot *)(void *)h)->c[(uint64_t)id % COUNTED];
        if (atomic_load_explicit(&c->stage, memory_order_acquire) != id)
            continue;
        int s = atomic_load_explicit(&c->started, memory_order_relaxed);
        int e = atomic_load_explicit(&c->ended, memory_order_relaxed);
        int k = atomic_load_explicit(&c->ok, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&c->stage, memory_order_relaxed) != id)
            continue;
        started += s, ended += e, ok += k;
    }
    *done = ok;
    *running = started > ended ? started - ended : 0;
}

static void on_event(const ember_event *ev, void *arg)
{
    ui_bar *b = arg;
    if (ev->type == EMBER_EV_TASK_START || ev->type == EMBER_EV_TASK_END) {
        count(b, ev);
        return;
    }
    pthread_mutex_lock(&b->mu);
    bar_stage *s = find(b, ev->stage_id);
    switch (ev->type) {
    case EMBER_EV_STAGE_SUBMITTED:
        if (!s && b->n < (int)(sizeof b->st / sizeof *b->st))
            b->st[b->n++] =
                (bar_stage){.id = ev->stage_id, .total = ev->num_tasks, .since = ember__now_ns()};
        break;
    case EMBER_EV_STAGE_COMPLETED: /* (the driver's thread): cleared before the action returns */
        if (s)
            *s = b->st[--b->n];
        if (b->drawn)
            draw(b);
        break;
    case EMBER_EV_HTTP:
        if (ev->http) {
            uint64_t now = ember__now_ns();
            if (b->http_stage != ev->stage_id || now - b->http_t > 3000000000ull) {
                b->http_prev_done = ev->http->done;
                b->http_prev_t = now;
            } else {
                b->http_prev_done = b->http_done;
                b->http_prev_t = b->http_t;
            }
            b->http_stage = ev->stage_id;
            b->http_done = ev->http->done;
            b->http_t = now;
            b->paused_s = ev->http->paused_s;
        }
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&b->mu);
}

void ember__ui_bar_format(char *out, size_t cap, int width, const int64_t *ids, const int *done,
                          const int *running, const int *total, int n)
{
    size_t at = 0;
    out[0] = 0;
    int each = n ? width / n : width;
    for (int i = 0; i < n && at < cap; i++) {
        char head[48], tail[80];
        snprintf(head, sizeof head, "[Stage %lld:", (long long)ids[i]);
        snprintf(tail, sizeof tail, "(%d + %d) / %d]", done[i], running[i], total[i]);
        int w = each - (int)strlen(head) - (int)strlen(tail);
        int k = snprintf(out + at, cap - at, "%s", head);
        at += k > 0 ? (size_t)k : 0;
        if (w > 0) {
            int pct = total[i] ? (int)((long long)w * done[i] / total[i]) : 0;
            for (int c = 0; c < w && at + 1 < cap; c++)
                out[at++] = c < pct ? '=' : c == pct ? '>' : ' ';
            out[at < cap ? at : cap - 1] = 0;
        }
        k = snprintf(out + at, at < cap ? cap - at : 0, "%s", tail);
        at += k > 0 ? (size_t)k : 0;
    }
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col - 1;
    return 79;
}

static void put(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One redraw: the stages that ran half a second, or a clear when none does. */
static void draw(ui_bar *b)
{
    int64_t ids[MAX_SHOWN];
    int done[MAX_SHOWN], running[MAX_SHOWN], total[MAX_SHOWN], n = 0;
    uint64_t now = ember__now_ns();
    bool http = false;
    for (int i = 0; i < b->n && n < MAX_SHOWN; i++) {
        if (now - b->st[i].since < SHOW_AFTER_NS)
            continue;
        ids[n] = b->st[i].id;
        counts(b, ids[n], &done[n], &running[n]);
        total[n] = b->st[i].total;
        http |= b->st[i].id == b->http_stage && b->http_t;
        n++;
    }
    char line[1024], extra[96] = "";
    if (http) {
        double dt = (double)(b->http_t - b->http_prev_t) * 1e-9;
        double rate = dt > 0 ? (double)(b->http_done - b->http_prev_done) / dt : 0;
        int k = snprintf(extra, sizeof extra, " %.0f answers/s", rate);
        if (b->paused_s > 0)
            snprintf(extra + k, sizeof extra - (size_t)k, ", 429 pause %.1fs", b->paused_s);
    }
    int width = term_width() - (int)strlen(extra);
    if (n)
        ember__ui_bar_format(line, sizeof line, width, ids, done, running, total, n);
    char buf[1200];
    size_t len = n ? strlen(line) + strlen(extra) : 0;
    if (!n && !b->drawn)
        return;
    /* \r, the line, spaces over what the last one had more */
    int k = snprintf(buf, sizeof buf, "\r%s%s", n ? line : "", n ? extra : "");
    if (n && !strcmp(buf, b->last))
        return;
    snprintf(b->last, sizeof b->last, "%s", n ? buf : "");
    size_t pad = b->last_len > len ? b->last_len - len : 0;
    if ((size_t)k + pad + 2 < sizeof buf) {
        memset(buf + k, ' ', pad);
        k += (int)pad;
        if (!n) /* cleared: back to the start of the empty line */
            buf[k++] = '\r';
    }
    put(buf, (size_t)k);
    b->last_len = len;
    b->drawn = n > 0;
}

static void *bar_main(void *arg)
{
    ui_bar *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        struct timespec ts;
        ember__deadline(&ts, 100000000);
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        draw(b);
    }
    b->n = 0;
    draw(b); /* cleared at the end */
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int ember__ui_bar_open(ember_ctx *ctx, ui_bar **out)
{
    ui_bar *b = ember__calloc(1, sizeof *b);
    if (!b)
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    b->http_stage = -1;
    ember__tslots_init(&b->slots, sizeof(bar_slot));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    int rc = pthread_create(&b->th, NULL, bar_main, b);
    if (rc) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        ember__tslots_destroy(&b->slots, NULL);
        ember__free(b);
        return ember__err(ctx, -rc, "ember_open: cannot start the progress bar: %s", strerror(rc));
    }
    unsigned mask = 1u << EMBER_EV_STAGE_SUBMITTED | 1u << EMBER_EV_STAGE_COMPLETED |
                    1u << EMBER_EV_TASK_START | 1u << EMBER_EV_TASK_END | 1u << EMBER_EV_HTTP;
    if ((rc = ember__listen(ctx, on_event, b, mask, true))) { /* no names, no times */
        ember__ui_bar_close(b);
        return ember__err(ctx, rc, "ember_open: out of memory");
    }
    *out = b;
    return 0;
}

void ember__ui_bar_close(ui_bar *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    ember__tslots_destroy(&b->slots, NULL);
    ember__free(b);
}
