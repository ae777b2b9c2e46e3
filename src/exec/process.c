/* The process backend, process[N]: tasks in N worker processes, so that a
 * crash in user code (a segfault, an abort, the OOM killer) costs one attempt
 * of one task, not the job.
 *
 * Workers are forked from the driver at each stage: everything the stage needs
 * (the lineage, user functions and their arguments, broadcast values, cached
 * partitions, the shuffle outputs of earlier stages, the job's own state) is
 * simply there, as the driver has it, never shipped or serialized. They
 * start as the stage needs them (more_due). A worker takes its attempts in
 * order from the driver over its socket (a few sent ahead while its attempts
 * are short or it has run none yet: AHEAD_NS; one it has not begun can be
 * taken back for another worker: recall), runs each, and hands back what
 * it left (sched/job.c packs it: the sink's state as the arenas it already is,
 * counters, accumulator updates) in the message when small, else in a memfd
 * passed with SCM_RIGHTS, with any descriptor it hands over (a spill file);
 * the driver takes it in. A dead worker (a signal, an exit, or killed past
 * conf.task_timeout) fails the attempt it ran, named with its signal and the
 * record it was at (a cursor in a shared page the pipeline keeps); the driver
 * forks a fresh worker and the job layer says whether the task runs again. A
 * record that crashed two attempts can be skipped (the bad-record policy).
 *
 * The driver never blocks on a worker: it polls their sockets with a timeout.
 * Workers die with the driver (PR_SET_PDEATHSIG, SIGKILL). At a stage's end
 * they are told to go, and are reaped once they have ended: the driver does
 * not wait for their exit (their copy of the address space torn down), which
 * takes longer than a tiny stage. It reaps those already ended (WNOHANG) each
 * time it lets one go, so jobs in a row leave at most the last stage's
 * workers unreaped; a thread of the context (the reaper) reaps those within
 * REAP_MS once the driver stops running jobs. The reaper sleeps meanwhile: a
 * thread of the driver's woken at each worker's exit would run on the other
 * core while the driver forks, and each fork and copy-on-write fault would
 * then flush that core's TLB too (an interrupt, costly in a VM). A cancel
 * kills them, and waits until every one is reaped; so does the context's
 * close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"

typedef struct task_msg {
    int32_t task, attempt; /* task -1: exit */
    int64_t skip;
    int64_t seq; /* the worker's count of attempts sent, this one included */
    char why[200];
} task_msg;

typedef struct result_msg {
    int32_t task, attempt;
    int32_t inl; /* the bytes follow in the message; else in the first descriptor */
    uint64_t len;
} result_msg;

typedef struct pending {
    int task, attempt;
    int64_t skip;
} pending;

/* Attempts a worker may hold sent ahead (AHEAD_NS). */
#define AHEAD_MAX 3

typedef struct wslot {
    pid_t pid;
    int fd;            /* the driver's end of the socket; -1: no worker */
    int task, attempt; /* the attempt it runs; task -1: idle */
    uint64_t started;
    bool timed_out;
    /* the attempts sent ahead, waiting in its socket in this order, and how
     * long its last attempt took from the driver's view */
    pending next[AHEAD_MAX];
    int nnext;
    uint64_t last_ns;
    int64_t sent; /* attempts sent to it (its claim word counts those it began) */
} wslot;

typedef struct proc {
    int n;
    double task_timeout; /* seconds; 0: none */
    size_t worker_memory;
    void *shared; /* the workers' cursors, a cache line each */
    size_t shared_len;
    _Atomic int *cancel;
    int64_t restarts; /* workers replaced, over the context's life */
    int64_t spawns;   /* workers forked: each one's claim numbers start at spawns << 32 */
    uint64_t fork_ns; /* what the last fork took the driver */
    const ember__executor_ops *self;
    /* workers told to go at a stage's end, reaped by a thread of their own as
     * they end: the driver does not wait for their exit */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pid_t *leaving;
    int nleaving, leaving_cap;
    bool reaper_on, stop;
    pthread_t reaper;
} proc;

static const ember__executor_ops process_ops;

/* The shared page: a cache line a worker (its cursor, its task's halt word,
 * when it began its attempt, how many attempts it has claimed), then the
 * cancel word. */
static _Atomic int64_t *cursor_of(proc *p, int w)
{
    return (_Atomic int64_t *)(void *)((char *)p->shared + (size_t)w * 64);
}

static _Atomic int *halt_of(proc *p, int w)
{
    return (_Atomic int *)(void *)((char *)p->shared + (size_t)w * 64 + 8);
}

static _Atomic uint64_t *began_of(const proc *p, int w)
{
    return (_Atomic uint64_t *)(void *)((char *)p->shared + (size_t)w * 64 + 16);
}

/* A worker begins the attempt numbered seq only by moving its claim word from
 * seq - 1 to seq; the driver takes back the attempts it has not begun by
 * moving the word past them (recall). One compare-and-swap each: either the
 * worker has begun it or the driver has it back, never both. The numbers of
 * each worker forked start at a count of its own shifted up 32 bits: a worker
 * of an earlier stage that still reads attempts taken back from it, after the
 * slot's next worker has started on the same word, can never claim one. */
static _Atomic int64_t *claim_of(const proc *p, int w)
{
    return (_Atomic int64_t *)(void *)((char *)p->shared + (size_t)w * 64 + 24);
}

static _Atomic int *cancel_word(proc *p)
{
    return (_Atomic int *)(void *)((char *)p->shared + (size_t)p->n * 64);
}

/* ---------------------------------------------------------------- the worker */

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Results up to this size travel in the message itself; larger ones in a
 * memfd (no copy through the socket). */
#define INLINE_MAX (32u << 10)

/* The result of an attempt: the header and its bytes, inline or as a memfd
 * (then the descriptors it hands over) as SCM_RIGHTS. */
static int send_result(int sock, const result_msg *h, int memfd, const void *bytes, const int *fds,
                       int nfds)
{
    int all[9], n = 0;
    if (memfd >= 0)
        all[n++] = memfd;
    for (int i = 0; i < nfds && i < 8; i++)
        all[n++] = fds[i];
    char ctl[CMSG_SPACE(sizeof all)] = {0};
    struct iovec io[2] = {{(void *)h, sizeof *h}, {(void *)bytes, memfd < 0 ? h->len : 0}};
    struct msghdr m = {.msg_iov = io, .msg_iovlen = memfd < 0 && h->len ? 2 : 1};
    if (n) {
        m.msg_control = ctl;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), all, sizeof(int) * (size_t)n);
    }
    ssize_t k;
    do
        k = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    return k == (ssize_t)(sizeof *h + io[1].iov_len) ? 0 : -1;
}

static __attribute__((noreturn)) void worker(proc *p, const ember__task_io *io, void *batch, int w,
                                             int sock, pid_t driver)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != driver) /* the driver died before the line above */
        _exit(0);
    /* a crash kills the worker, whatever handler the program installed; a
     * Ctrl-C is the driver's to handle */
    static const int crashes[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof crashes / sizeof *crashes; i++)
        signal(crashes[i], SIG_DFL);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (p->worker_memory) {
        struct rlimit rl = {p->worker_memory, p->worker_memory};
        setrlimit(RLIMIT_AS, &rl);
    }
    if (io->child)
        io->child(batch);
    ember_buf out = {0};
    for (;;) {
        task_msg t;
        ssize_t k;
        do
            k = recv(sock, &t, sizeof t, 0);
        while (k < 0 && errno == EINTR);
        if (k != (ssize_t)sizeof t || t.task < 0)
            _exit(0);
        int64_t mine = t.seq - 1;
        if (!atomic_compare_exchange_strong(claim_of(p, w), &mine, t.seq))
            continue; /* taken back by the driver for another worker */
        int fds[8], nfds = 0;
        out.len = 0;
        t.why[sizeof t.why - 1] = 0;
        ember__worker_env env = {cursor_of(p, w), halt_of(p, w), cancel_word(p)};
        /* a fresh cursor and halt for this attempt (the last may have halted
         * itself by failing); a cancel that came meanwhile halts it again: the
         * driver raises the cancel word before the halts, so one of the two
         * stores below or the driver's comes last with the halt up */
        atomic_store(cursor_of(p, w), 0);
        atomic_store(halt_of(p, w), 0);
        if (atomic_load(cancel_word(p)))
            atomic_store(halt_of(p, w), 1);
        atomic_store_explicit(began_of(p, w), ember__now_ns(), memory_order_relaxed);
        io->run(batch, t.task, t.attempt, w, t.skip, t.why, &env, &out, fds, &nfds);
        bool inl = out.len <= INLINE_MAX;
        int mfd = inl ? -1 : memfd_create("ember-task", MFD_CLOEXEC);
        size_t off = 0;
        if (!inl && mfd < 0)
            _exit(3);
        while (mfd >= 0 && off < out.len) {
            ssize_t wr = write(mfd, out.ptr + off, out.len - off);
            if (wr < 0 && errno == EINTR)
                continue;
            if (wr <= 0)
                _exit(3); /* no room to hand the result back: the driver retries */
            off += (size_t)wr;
        }
        result_msg h = {t.task, t.attempt, inl, out.len};
        if (send_result(sock, &h, mfd, out.ptr, fds, nfds))
            _exit(3);
        if (mfd >= 0)
            close(mfd);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
    }
}

/* ---------------------------------------------------------------- the driver */

/* Start worker w: a fork of the driver as it is now. 0, or an errno. */
static int spawn(proc *p, wslot *s, int w, const ember__task_io *io, void *batch, wslot *all, int n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
        return errno;
    pid_t driver = getpid();
    int64_t base = (++p->spawns & 0x7fffffff) << 32;
    atomic_store(claim_of(p, w), base);
    fflush(NULL); /* nothing buffered is written twice */
    uint64_t t0 = ember__now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i < n; i++) /* the other workers' sockets are the driver's */
            if (all[i].fd >= 0)
                close(all[i].fd);
        worker(p, io, batch, w, sv[1], driver);
    }
    close(sv[1]);
    p->fork_ns = ember__now_ns() - t0;
    *s = (wslot){.pid = pid, .fd = sv[0], .task = -1, .sent = base};
    return 0;
}

/* Workers start as the stage needs them: one at first, and one more while
 * attempts wait and every worker has been on its attempt for longer than a
 * fork takes, counted from when the worker began it (a worker just forked
 * spends its first hundreds of microseconds faulting in its copy of the
 * driver's pages: that is not a long task). A stage of tiny tasks then runs
 * on one worker, paying one fork instead of N; one of long tasks gets its N
 * workers a fork's time later.
 * Returns the nanoseconds until the next worker may be due (0: none is), or
 * -1 when one is due now. */
static int64_t more_due(const proc *p, const wslot *ws, int started, int n, bool waiting)
{
    if (!waiting || started >= n)
        return 0;
    uint64_t now = ember__now_ns(), after = p->fork_ns > 50000 ? p->fork_ns : 50000, least = after;
    for (int w = 0; w < started; w++) {
        if (ws[w].pid <= 0 || ws[w].task < 0)
            return 0; /* one is free (or being replaced): it takes the next */
        uint64_t began = atomic_load_explicit(began_of(p, w), memory_order_relaxed);
        uint64_t busy = began >= ws[w].started && began < now ? now - began : 0;
        if (busy < least)
            least = busy;
    }
    return least >= after ? -1 : (int64_t)(after - least);
}

static void wait_pid(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* How long the reaper leaves ended workers to the driver's own sweeps. */
#define REAP_MS 100

/* Reap the leaving workers that have ended (mu held). */
static void sweep(proc *p)
{
    for (int i = 0; i < p->nleaving;) {
        pid_t r = waitpid(p->leaving[i], NULL, WNOHANG);
        if (r > 0 || (r < 0 && errno == ECHILD)) /* reaped (or not a child: gone) */
            p->leaving[i] = p->leaving[--p->nleaving];
        else
            i++;
    }
}

/* The reaper: while workers are leaving, sweeps every REAP_MS; told to stop,
 * waits for every one left. */
static void *reaper_main(void *arg)
{
    proc *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->nleaving) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        struct timespec ts;
        ember__deadline(&ts, REAP_MS * 1000000ull);
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        sweep(p);
    }
    while (p->nleaving)
        wait_pid(p->leaving[--p->nleaving]);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Worker s, told to go, is left to be reaped once it has ended (waited for
 * here when it cannot be). Those that have ended already are reaped now. */
static void let_go(proc *p, wslot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->pid <= 0)
        return;
    pid_t pid = s->pid;
    s->pid = 0;
    pthread_mutex_lock(&p->mu);
    if (!p->reaper_on && !pthread_create(&p->reaper, NULL, reaper_main, p))
        p->reaper_on = true;
    if (p->reaper_on && p->nleaving == p->leaving_cap) {
        int cap = p->leaving_cap ? 2 * p->leaving_cap : 16;
        pid_t *l = ember__realloc(p->leaving, (size_t)cap * sizeof *l);
        if (l) {
            p->leaving = l;
            p->leaving_cap = cap;
        }
    }
    bool queued = p->reaper_on && p->nleaving < p->leaving_cap;
    if (queued) {
        if (!p->nleaving++) /* the reaper sleeps until there is one */
            pthread_cond_signal(&p->cv);
        p->leaving[p->nleaving - 1] = pid;
        sweep(p);
    }
    pthread_mutex_unlock(&p->mu);
    if (!queued)
        wait_pid(pid);
}

/* Wait until every leaving worker is reaped. */
static void reap_leaving(proc *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->nleaving)
        wait_pid(p->leaving[--p->nleaving]);
    pthread_mutex_unlock(&p->mu);
}

/* Worker s killed (a cancel past its grace) and waited for. */
static void kill_and_reap(wslot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        wait_pid(s->pid);
    }
    s->pid = 0;
}

/* How the worker of s ended: "worker killed by SIGSEGV while processing record
 * 1,204 of partition 3". */
static void death(proc *p, const wslot *s, int status, int w, int partition, char *why, size_t cap)
{
    int64_t rec = atomic_load(cursor_of(p, w));
    char what[96], where[128];
    if (s->timed_out)
        snprintf(what, sizeof what, "worker (pid %d) exceeded task_timeout (%g s)", (int)s->pid,
                 p->task_timeout);
    else if (WIFSIGNALED(status))
        snprintf(what, sizeof what, "worker (pid %d) killed by SIG%s", (int)s->pid,
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else if (WIFEXITED(status))
        snprintf(what, sizeof what, "worker (pid %d) exited with status %d", (int)s->pid,
                 WEXITSTATUS(status));
    else
        snprintf(what, sizeof what, "worker (pid %d) lost", (int)s->pid);
    if (rec > 0)
        snprintf(where, sizeof where, " while processing record %lld of partition %d",
                 (long long)rec, partition);
    else
        snprintf(where, sizeof where, " before the first record of partition %d", partition);
    snprintf(why, cap, "%s%s", what, where);
}

/* Attempts that took less than this get the next one sent ahead. */
#define AHEAD_NS 1000000u

/* Send worker s the attempt t (with why its record is skipped, if it is). */
static int send_task(wslot *s, pending t, const char (*reason)[200])
{
    task_msg m = {.task = t.task, .attempt = t.attempt, .skip = t.skip, .seq = ++s->sent};
    if (t.skip)
        snprintf(m.why, sizeof m.why, "%s", reason[t.task]);
    return send_all(s->fd, &m, sizeof m);
}

/* Take back the attempts sent ahead to worker w that it has not begun (none
 * while it has not begun the one it was sent first): they go back to the
 * head of the queue, in their order. How many. */
static int recall(proc *p, wslot *s, int w, pending *q, int *qh)
{
    int64_t first = s->sent - s->nnext; /* the one it runs, or is to run */
    int64_t c = atomic_load(claim_of(p, w));
    while (c >= first && c < s->sent && !atomic_compare_exchange_weak(claim_of(p, w), &c, s->sent))
        ;
    if (c < first || c >= s->sent)
        return 0;
    int keep = (int)(c - first), back = s->nnext - keep; /* next[0, keep) are begun */
    *qh -= back;
    memcpy(&q[*qh], &s->next[keep], (size_t)back * sizeof *q);
    s->nnext = keep;
    return back;
}

static int run_isolated(void *impl, int ntasks, const ember__task_io *io, void *batch)
{
    proc *p = impl;
    int n = p->n < ntasks ? p->n : ntasks, rc = 0, done = 0;
    bool cancelled_once = false;
    if (n <= 0)
        return 0;
    wslot *ws = ember__calloc((size_t)n, sizeof *ws);
    /* the queue: every task's first attempt, then retries as they come */
    /* (and the attempts sent ahead that workers' deaths send back: what each
     * worker held, AHEAD_MAX at most, for none is sent ahead after a death) */
    int qcap = ntasks * (io->max_attempts > 0 ? io->max_attempts : 1) + ntasks + n * AHEAD_MAX + 1;
    pending *q = ember__calloc((size_t)qcap, sizeof *q);
    int64_t *crash_at = ember__calloc((size_t)ntasks + 1, sizeof *crash_at);
    char(*reason)[200] = ember__calloc((size_t)ntasks + 1, sizeof *reason);
    struct pollfd *pf = ember__calloc((size_t)n, sizeof *pf);
    char *inl = ember__malloc(INLINE_MAX); /* a result that came in the message */
    if (!ws || !q || !crash_at || !reason || !pf || !inl) {
        rc = EMBER_ENOMEM;
        goto out;
    }
    int qh = 0, qt = 0;
    uint64_t cancel_at = 0;
    bool ahead = true; /* attempts may be sent ahead (until a worker dies) */
    atomic_store(cancel_word(p), 0);
    for (int i = 0; i < ntasks; i++)
        q[qt++] = (pending){i, 1, 0};
    for (int w = 0; w < n; w++)
        ws[w] = (wslot){.fd = -1, .task = -1}; /* not started */
    int started = 0, most = n;                 /* workers [0, started) were forked in this stage */
    if ((rc = spawn(p, &ws[0], 0, io, batch, ws, n)))
        rc = -rc;
    else
        started = 1;
    while (!rc && done < ntasks) {
        bool cancelled = p->cancel && atomic_load(p->cancel);
        if (cancelled && !cancel_at) { /* the tasks running stop as under threads */
            cancelled_once = true;
            cancel_at = ember__now_ns();
            atomic_store(cancel_word(p), 1);
            for (int w = 0; w < n; w++)
                atomic_store(halt_of(p, w), 1);
        }
        /* hand out what is queued to idle workers */
        for (int w = 0; w < started && qh < qt && !cancelled; w++) {
            if (ws[w].pid <= 0 || ws[w].task >= 0)
                continue;
            pending t = q[qh++];
            ws[w].task = t.task;
            ws[w].attempt = t.attempt;
            ws[w].started = ember__now_ns();
            ws[w].timed_out = false;
            if (io->started)
                io->started(batch, t.task, t.attempt, w, (int)ws[w].pid);
            if (send_task(&ws[w], t, reason))
                kill(ws[w].pid, SIGKILL); /* seen as dead below */
        }
        /* A worker whose last attempt was short, or that has run none yet,
         * gets the next ones sent ahead, so that it goes on to them at once
         * instead of waiting a round trip for the driver (about 40 us on a VM,
         * more than a small task takes). Not after long ones: they gain
         * nothing by it. A worker that comes free (or is forked) while others
         * hold attempts they have not begun takes those back (recall). */
        for (int w = 0; w < started && qh < qt && ahead && !cancelled; w++) {
            wslot *s = &ws[w];
            if (s->pid <= 0 || s->task < 0 || s->last_ns > AHEAD_NS)
                continue;
            int depth = s->last_ns < AHEAD_NS / 10 ? AHEAD_MAX : 1;
            while (s->nnext < depth && qh < qt) {
                pending t = q[qh++];
                s->next[s->nnext++] = t;
                if (send_task(s, t, reason)) {
                    kill(s->pid, SIGKILL); /* seen as dead below */
                    break;
                }
            }
        }
        int idle = -1, holder = -1;
        for (int w = 0; w < started && qh == qt && !cancelled; w++) {
            if (ws[w].pid > 0 && ws[w].task < 0)
                idle = w;
            if (ws[w].pid > 0 && ws[w].nnext && (holder < 0 || ws[w].nnext > ws[holder].nnext))
                holder = w;
        }
        if (idle >= 0 && holder >= 0 && recall(p, &ws[holder], holder, q, &qh))
            continue; /* the idle one takes them next turn */
        /* cancelled: nothing new starts; the attempts running end as their
         * tasks see the halt (an HTTP stage after its grace); past 30 s they
         * are killed */
        bool busy = false;
        for (int w = 0; w < n; w++)
            busy |= ws[w].pid > 0 && ws[w].task >= 0;
        if (cancelled && (!busy || ember__now_ns() - cancel_at > 30000000000ull)) {
            for (int w = 0; w < n; w++)
                kill_and_reap(&ws[w]);
            break;
        }
        bool held = false; /* attempts sent ahead, not begun as far as the driver knows */
        for (int w = 0; w < started; w++)
            held |= ws[w].pid > 0 && ws[w].nnext > 0;
        int64_t due = cancelled ? 0 : more_due(p, ws, started, most, qh < qt || held);
        if (due < 0) {
            if (spawn(p, &ws[started], started, io, batch, ws, n))
                most = started; /* no fork now (a process limit): on with those there are */
            else
                started++;
            continue;
        }
        /* wait: a result, a death, the next worker's time, or 100 ms
         * (timeouts, a cancel) */
        for (int w = 0; w < n; w++)
            pf[w] = (struct pollfd){.fd = ws[w].fd, .events = POLLIN};
        struct timespec ts = {0, due > 0 && due < 100000000 ? due : 100000000};
        int ready = ppoll(pf, (nfds_t)n, &ts, NULL);
        if (ready < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        uint64_t now = ember__now_ns();
        for (int w = 0; w < n; w++) {
            wslot *s = &ws[w];
            if (s->pid > 0 && s->task >= 0 && p->task_timeout > 0 && !s->timed_out &&
                now - s->started > (uint64_t)(p->task_timeout * 1e9)) {
                s->timed_out = true;
                kill(s->pid, SIGKILL); /* its end is read below, now or next turn */
            }
            if (ready <= 0 || !(pf[w].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            result_msg h;
            int fds[9], nfd = 0;
            char ctl[CMSG_SPACE(sizeof fds)];
            struct iovec iov[2] = {{&h, sizeof h}, {inl, INLINE_MAX}};
            struct msghdr m = {
                .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl, .msg_controllen = sizeof ctl};
            ssize_t k = recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC);
            for (struct cmsghdr *c = k > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                    nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                    memcpy(fds, CMSG_DATA(c), (size_t)nfd * sizeof(int));
                }
            bool whole = k >= (ssize_t)sizeof h && !(m.msg_flags & MSG_TRUNC) &&
                         (h.inl ? (uint64_t)k == sizeof h + h.len && h.len <= INLINE_MAX
                                : k == (ssize_t)sizeof h && nfd >= 1);
            if (whole && h.task == s->task) {
                /* an attempt's outcome, in the message or the memfd */
                int mine = h.inl ? 0 : 1; /* descriptors before those handed over */
                void *mem =
                    h.inl || !h.len ? NULL : mmap(NULL, h.len, PROT_READ, MAP_PRIVATE, fds[0], 0);
                int task = s->task, attempt = s->attempt;
                s->task = -1;
                /* how long it took, from when the worker began it when that
                 * is known (nothing sent ahead: the stamp is still this
                 * attempt's), so that a fresh worker's start is not counted */
                uint64_t now_l = ember__now_ns(), began = atomic_load(began_of(p, w));
                s->last_ns = now_l - (!s->nnext && began >= s->started ? began : s->started);
                if (s->nnext) { /* the first sent ahead is under way */
                    s->task = s->next[0].task;
                    s->attempt = s->next[0].attempt;
                    memmove(s->next, s->next + 1, (size_t)--s->nnext * sizeof *s->next);
                    s->started = ember__now_ns();
                    s->timed_out = false;
                    if (io->started)
                        io->started(batch, s->task, s->attempt, w, (int)s->pid);
                }
                if (mem == MAP_FAILED) {
                    rc = -errno;
                } else {
                    int fin = io->land(batch, task, attempt,
                                       ember_bytes_of(h.inl ? (void *)inl : mem, h.len), fds + mine,
                                       nfd - mine);
                    if (fin)
                        done++;
                    else
                        q[qt++] = (pending){task, attempt + 1, 0};
                }
                if (mem && mem != MAP_FAILED)
                    munmap(mem, h.len);
                if (mine)
                    close(fds[0]);
                continue;
            }
            for (int i = 0; i < nfd; i++)
                close(fds[i]);
            /* ECONNRESET: the worker died with attempts sent ahead unread; the
             * error comes first, once, and what it sent before is read next */
            if (k < 0 && (errno == EINTR || errno == ECONNRESET))
                continue;
            /* the worker is gone (or said what it cannot have: it is made
             * to go): its attempt failed */
            if (k > 0 && s->pid > 0)
                kill(s->pid, SIGKILL);
            int status = 0;
            while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
                ;
            close(s->fd);
            s->fd = -1;
            for (int i = 0; i < s->nnext; i++) /* never begun: queued again, no attempt spent */
                q[qt++] = s->next[i];
            s->nnext = 0;
            ahead = false;
            if (s->task >= 0) {
                int task = s->task, attempt = s->attempt;
                int part = io->partitions ? io->partitions[task] : task;
                int64_t rec = atomic_load(cursor_of(p, w));
                char why[400];
                death(p, s, status, w, part, why, sizeof why);
                s->task = -1;
                int fin = io->died(batch, task, attempt, why);
                if (fin) {
                    done++;
                } else {
                    /* the same record crashed the attempt before: skip it (when
                     * the policy diverts poison records) */
                    int64_t skip = io->poison && rec > 0 && crash_at[task] == rec ? rec : 0;
                    crash_at[task] = rec;
                    snprintf(reason[task], sizeof reason[task], "%.180s", why);
                    q[qt++] = (pending){task, attempt + 1, skip};
                }
            }
            s->pid = 0;
            p->restarts++;
            if (done < ntasks && !(p->cancel && atomic_load(p->cancel))) {
                int e = spawn(p, s, w, io, batch, ws, n);
                if (e)
                    rc = -e;
            }
        }
    }
out:
    /* the stage is over: every worker told to go, reaped as it ends */
    for (int w = 0; ws && w < n; w++) {
        if (ws[w].nnext && ws[w].pid > 0) /* the stage failed: run nothing more */
            kill(ws[w].pid, SIGKILL);
        if (ws[w].fd >= 0) {
            task_msg bye = {.task = -1};
            send_all(ws[w].fd, &bye, sizeof bye);
        }
        let_go(p, &ws[w]);
    }
    if (cancelled_once) /* a cancel stops them all before it returns */
        reap_leaving(p);
    ember__free(ws);
    ember__free(q);
    ember__free(crash_at);
    ember__free(reason);
    ember__free(pf);
    ember__free(inl);
    return rc;
}

static int run_here(void *impl, int ntasks, ember__task_fn *fn, void *batch)
{
    (void)impl; /* a job layer that does not run isolated: in the driver, one at a time */
    for (int i = 0; i < ntasks; i++)
        fn(batch, i, 0);
    return 0;
}

static void destroy(void *impl)
{
    proc *p = impl;
    if (!p)
        return;
    if (p->reaper_on) { /* it reaps what is left, then ends */
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->reaper, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    ember__free(p->leaving);
    if (p->shared)
        munmap(p->shared, p->shared_len);
    ember__free(p);
}

static const ember__executor_ops process_ops = {
    .name = "process", .run = run_here, .destroy = destroy, .run_isolated = run_isolated};

int ember__process_create(int nprocs, double task_timeout, size_t worker_memory,
                          _Atomic int *cancel, const ember__executor_ops **ops, void **impl)
{
    proc *p = ember__calloc(1, sizeof *p);
    if (!p)
        return EMBER_ENOMEM;
    p->n = nprocs;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->task_timeout = task_timeout;
    p->worker_memory = worker_memory;
    p->cancel = cancel;
    p->shared_len = ((size_t)nprocs + 2) * 64;
    p->shared =
        mmap(NULL, p->shared_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->shared == MAP_FAILED) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        ember__free(p);
        return EMBER_ENOMEM;
    }
    *ops = &process_ops;
    *impl = p;
    return 0;
}

int64_t ember__process_restarts(const void *impl)
{
    return impl ? ((const proc *)impl)->restarts : 0;
}
