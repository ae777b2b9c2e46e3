/* src/exec/pool.c: every task of every batch runs exactly once, on any thread count. */
#include <unistd.h>

#include "exec/exec.h"
#include "support.h"

typedef struct counts {
    atomic_int *hits;
    atomic_int workers_seen[8];
} counts;

static void bump(void *arg, int i, int worker)
{
    counts *c = arg;
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->workers_seen[worker], 1);
}

static void run_batches(int threads)
{
    const ember__executor_ops *ops;
    void *impl;
    assert_int_equal(ember__pool_create(threads, &ops, &impl), 0);
    for (int round = 0; round < 300; round++) {
        int n = round % 37; /* 0, 1 and more tasks than threads */
        counts c = {0};
        c.hits = calloc((size_t)n + 1, sizeof *c.hits);
        assert_int_equal(ops->run(impl, n, bump, &c), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(atomic_load(&c.hits[i]), 1);
        free(c.hits);
    }
    ops->destroy(impl);
}

static void test_one_thread(void **state)
{
    run_batches(1);
}

static void test_two_threads(void **state)
{
    run_batches(2);
}

static void test_more_threads_than_cores(void **state)
{
    run_batches(7);
}

static void test_more_tasks_than_a_batch(void **state)
{
    /* 65,535 tasks at most per batch: a larger job runs as several, each task once */
    const ember__executor_ops *ops;
    void *impl;
    assert_int_equal(ember__pool_create(3, &ops, &impl), 0);
    int n = 150000;
    counts c = {0};
    c.hits = calloc((size_t)n, sizeof *c.hits);
    assert_int_equal(ops->run(impl, n, bump, &c), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
    ops->destroy(impl);
}

static void slow(void *arg, int i, int worker)
{
    counts *c = arg;
    usleep(2000);
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->workers_seen[worker], 1);
}

static void test_workers_take_part(void **state)
{
    /* a batch of slow tasks right after creation: the workers that start late still join */
    const ember__executor_ops *ops;
    void *impl;
    assert_int_equal(ember__pool_create(4, &ops, &impl), 0);
    counts c = {0};
    c.hits = calloc(40, sizeof *c.hits);
    ops->run(impl, 40, slow, &c);
    int used = 0;
    for (int w = 0; w < 4; w++)
        used += atomic_load(&c.workers_seen[w]) > 0;
    assert_true(used >= 2);
    free(c.hits);
    ops->destroy(impl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_more_threads_than_cores),
        cmocka_unit_test(test_more_tasks_than_a_batch),
        cmocka_unit_test(test_workers_take_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
