/* process[N] under crashes: a job of TASKS tasks, each a fixed amount of
 * arithmetic (about MS milliseconds), of which one in a hundred segfaults on
 * its first attempt (a marker file per task says it has crashed). Prints the
 * job's wall-clock seconds; fails unless every task's result came back and
 * every crash cost exactly one retried attempt.
 *   bench_proc MASTER TASKS MS crash|clean
 * With "floor", the least a stage in a forked process can take on this
 * machine: a context open (libember and what it loads mapped, as in the tiny
 * job), then JOBS times a fork whose child answers one byte on a pipe; prints
 * the mean microseconds from the fork to the answer (each child is reaped
 * after its answer, outside the time, as process[N] reaps off the job's path).
 *   bench_proc floor JOBS
 * With "faults", what one page fault costs here (a fork makes dozens a job, in
 * the driver and in its worker): PAGES pages of fresh memory written once
 * each, then written again after a fork while the child lives (each a
 * copy-on-write fault); prints the two means in microseconds a fault.
 *   bench_proc faults PAGES
 */
#include <ember/ember.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char marks[64];
static int64_t spins; /* iterations a task spins for MS milliseconds */
static int crashing;

static uint64_t spin(int64_t n, uint64_t x)
{
    for (int64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static int task(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    int64_t v = ember_i64(in.val);
    uint64_t x = spin(spins, (uint64_t)v);
    if (crashing && v % 100 == 37) {
        char p[128];
        snprintf(p, sizeof p, "%s/%lld", marks, (long long)v);
        if (access(p, F_OK) != 0) {
            FILE *f = fopen(p, "w");
            if (f)
                fclose(f);
            raise(SIGSEGV);
        }
    }
    if (spins && x == 42) /* keeps the arithmetic; never true (x is v without it) */
        return EMBER_EIO;
    return ember_emit_i64(out, v);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int floor_of_fork(int jobs)
{
    ember_ctx *ctx;
    int64_t n;
    if (ember_open(&ctx, &(ember_conf){.master = "local[1]", .progress = -1}) ||
        ember_count(ember_range(ctx, 0, 1000, 1, 4), &n))
        return 1;
    double spent = 0;
    for (int j = 0; j < jobs; j++) {
        int fds[2];
        char c = 0;
        if (pipe(fds))
            return 1;
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0) {
            ssize_t w = write(fds[1], "x", 1);
            _exit(w == 1 ? 0 : 1);
        }
        if (pid < 0 || read(fds[0], &c, 1) != 1)
            return 1;
        spent += now() - t0;
        close(fds[0]);
        close(fds[1]);
        waitpid(pid, NULL, 0);
    }
    ember_close(ctx);
    printf("%.2f\n", spent / jobs * 1e6);
    return 0;
}

static int fault_cost(long pages)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (pages <= 0 || p == MAP_FAILED)
        return 1;
    double t0 = now();
    for (long i = 0; i < pages; i++)
        p[(size_t)i * page] = 1;
    double fresh = now() - t0;
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    if (pid < 0)
        return 1;
    t0 = now();
    for (long i = 0; i < pages; i++)
        p[(size_t)i * page] = 2;
    double cow = now() - t0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    printf("%.2f %.2f\n", fresh / (double)pages * 1e6, cow / (double)pages * 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "floor"))
        return floor_of_fork(atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "faults"))
        return fault_cost(atol(argv[2]));
    if (argc < 5) {
        fprintf(stderr, "usage: bench_proc MASTER TASKS MS crash|clean\n");
        return 2;
    }
    int tasks = atoi(argv[2]);
    double ms = atof(argv[3]);
    crashing = !strcmp(argv[4], "crash");
    double t0 = now();
    volatile uint64_t sink = spin(10000000, 1);
    (void)sink;
    spins = (int64_t)(10000000 * ms / 1000 / (now() - t0));
    snprintf(marks, sizeof marks, "/tmp/ember-bench-proc-XXXXXX");
    if (!mkdtemp(marks))
        return 1;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = argv[1], .progress = -1})) {
        fprintf(stderr, "bench_proc: %s\n", ember_errmsg(NULL));
        return 1;
    }
    int64_t sum = 0;
    t0 = now();
    int rc =
        ember_sum_i64_values(ember_map(ember_range(ctx, 0, tasks, 1, tasks), task, NULL), &sum);
    double took = now() - t0;
    ember_job_stats js;
    ember_job_stats_get(ctx, -1, &js);
    int want_failed = crashing ? (tasks + 62) / 100 : 0;
    if (rc || sum != (int64_t)tasks * (tasks - 1) / 2 || js.total.failed_attempts != want_failed) {
        fprintf(stderr, "bench_proc: rc %d (%s), sum %lld, %lld failed attempts (want %d)\n", rc,
                rc ? ember_errmsg(ctx) : "", (long long)sum, (long long)js.total.failed_attempts,
                want_failed);
        return 1;
    }
    ember_close(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", marks);
    if (system(cmd))
        return 1;
    printf("%.3f\n", took);
    return 0;
}
