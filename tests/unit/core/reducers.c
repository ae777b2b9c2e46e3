/* src/core/reducers.c: the ready reducers and comparators. */
#include <math.h>

#include "core/core.h"
#include "support.h"

static ember_bytes i64b(const int64_t *v)
{
    return ember_bytes_of(v, sizeof *v);
}

static void test_reducers(void **state)
{
    ember_buf out;
    ember_buf_init(&out);
    int64_t a = 5, b = -7, big = INT64_MAX, one = 1;
    assert_int_equal(ember_sum_i64(i64b(&a), i64b(&b), &out, NULL), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), -2);
    /* wraps as Spark's Long, without undefined behaviour */
    assert_int_equal(ember_sum_i64(i64b(&big), i64b(&one), &out, NULL), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), INT64_MIN);
    assert_int_equal(ember_min_i64(i64b(&a), i64b(&b), &out, NULL), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), -7);
    assert_int_equal(ember_max_i64(i64b(&a), i64b(&b), &out, NULL), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 5);
    double x = 1.5, y = 2.25;
    assert_int_equal(ember_sum_f64(ember_bytes_of(&x, 8), ember_bytes_of(&y, 8), &out, NULL), 0);
    assert_float_equal(ember_f64(ember_buf_bytes(&out)), 3.75, 0);
    /* a value that is not 8 bytes is an error, not a zero */
    assert_int_equal(ember_sum_i64(B("abc"), i64b(&a), &out, NULL), EMBER_EINVAL);
    ember_buf_destroy(&out);
}

static void test_comparators(void **state)
{
    int64_t a = -1, b = 3;
    assert_true(ember_cmp_i64(i64b(&a), i64b(&b), NULL) < 0);
    assert_true(ember_cmp_i64(i64b(&b), i64b(&a), NULL) > 0);
    assert_int_equal(ember_cmp_i64(i64b(&a), i64b(&a), NULL), 0);
    double n = NAN, z = 0;
    /* NaN sorts above every number, as Spark's Double ordering */
    assert_true(ember_cmp_f64(ember_bytes_of(&n, 8), ember_bytes_of(&z, 8), NULL) > 0);
    assert_int_equal(ember_cmp_f64(ember_bytes_of(&n, 8), ember_bytes_of(&n, 8), NULL), 0);
    assert_true(ember_cmp_bytes(B("ab"), B("abc"), NULL) < 0); /* a prefix first */
    assert_true(ember_cmp_bytes(B("b"), B("abc"), NULL) > 0);
    assert_int_equal(ember_cmp_bytes(B(""), B(""), NULL), 0);
    assert_true(ember_cmp_bytes(B("\xff"), B("\x01"), NULL) > 0); /* unsigned bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reducers),
        cmocka_unit_test(test_comparators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
