/* src/core/handle.c: the registry of live handles, from many threads. */
#include <pthread.h>

#include "core/core.h"
#include "support.h"

static void test_add_del(void **state)
{
    static int a, b;
    assert_false(ember__handle_ok(&a, EMBER__H_RDD));
    assert_int_equal(ember__handle_add(&a, EMBER__H_RDD), 0);
    assert_true(ember__handle_ok(&a, EMBER__H_RDD));
    assert_false(ember__handle_ok(&a, EMBER__H_CTX)); /* the type is checked too */
    assert_false(ember__handle_ok(&b, EMBER__H_RDD));
    ember__handle_del(&a);
    assert_false(ember__handle_ok(&a, EMBER__H_RDD));
    assert_false(ember__handle_ok(NULL, EMBER__H_RDD));
}

static void *churn(void *arg)
{
    int *slots = arg;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 200; i++)
            ember__handle_add(&slots[i], EMBER__H_ACC);
        for (int i = 0; i < 200; i++)
            if (!ember__handle_ok(&slots[i], EMBER__H_ACC))
                return (void *)1;
        for (int i = 0; i < 200; i++)
            ember__handle_del(&slots[i]);
    }
    return NULL;
}

static void test_threads(void **state)
{
    static int slots[4][200];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, slots[i]);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 200; j++)
            assert_false(ember__handle_ok(&slots[i][j], EMBER__H_ACC));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_del),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
