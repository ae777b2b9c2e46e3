/* What this host charges for the two things seeing a job cannot do without.
 *
 * "write": appending an event log's bytes to a file, as the log's writer does
 * (writes of 4 MiB, O_APPEND, the file new): BYTES bytes a job (what one tiny
 * job's events take as JSON lines, bench/run_ui_floor.sh measures it) for
 * JOBS jobs; prints the mean microseconds a job's bytes take, the file
 * removed after.
 *   bench_host write PATH BYTES JOBS
 * "handover": one line of memory written by a thread on one CPU, then by a
 * thread on the other, back and forth ROUNDS times (each thread pinned); prints
 * the mean nanoseconds a handover takes: what a line costs each time a task
 * thread's data is read or written on another core.
 *   bench_host handover ROUNDS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_floor(const char *path, size_t bytes, long jobs)
{
    size_t chunk = 4u << 20, total = bytes * (size_t)jobs;
    char *b = malloc(chunk);
    if (!b)
        return 1;
    for (size_t i = 0; i < chunk; i++) /* JSON-like text, a line every ~500 bytes */
        b[i] = i % 500 == 499 ? '\n' : (char)('a' + i % 26);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        free(b);
        return 1;
    }
    double t0 = now_s();
    for (size_t done = 0; done < total;) {
        size_t n = total - done < chunk ? total - done : chunk;
        ssize_t w = write(fd, b, n);
        if (w <= 0) {
            perror(path);
            break;
        }
        done += (size_t)w;
    }
    double t = now_s() - t0;
    close(fd);
    unlink(path);
    free(b);
    printf("%.3f\n", t * 1e6 / (double)jobs);
    return 0;
}

static _Atomic long turn __attribute__((aligned(64)));
static long rounds;

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *other(void *arg)
{
    pin(*(int *)arg);
    for (long i = 0; i < rounds; i++) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int handover(long n)
{
    cpu_set_t all;
    int cpus[2], k = 0;
    if (sched_getaffinity(0, sizeof all, &all))
        return 1;
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &all))
            cpus[k++] = c;
    if (k < 2) {
        fprintf(stderr, "bench_host: handover needs two CPUs\n");
        return 1;
    }
    rounds = n;
    pin(cpus[0]);
    pthread_t th;
    if (pthread_create(&th, NULL, other, &cpus[1]))
        return 1;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        atomic_store_explicit(&turn, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 2)
            ;
    }
    double t = now_s() - t0;
    pthread_join(th, NULL);
    printf("%.1f\n", t * 1e9 / (double)n / 2);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "write"))
        return write_floor(argv[2], (size_t)atol(argv[3]), atol(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "handover"))
        return handover(atol(argv[2]));
    fprintf(stderr, "usage: bench_host write PATH BYTES JOBS | handover ROUNDS\n");
    return 2;
}
