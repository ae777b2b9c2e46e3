/* src/core/htab.c: the byte-key counting table against a plain count. */
#include "core/core.h"
#include "support.h"

static void test_counts_match(void **state)
{
    enum { KEYS = 5000, ADDS = 60000 };
    static int64_t expect[KEYS];
    memset(expect, 0, sizeof expect);
    ember__htab h;
    ember__htab_init(&h);
    uint64_t s = 12345;
    for (int i = 0; i < ADDS; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((s >> 33) % KEYS);
        char key[32];
        int len = snprintf(key, sizeof key, "key-%d", k);
        int64_t *v = ember__htab_upsert(&h, ember_bytes_of(key, (size_t)len));
        assert_non_null(v);
        (*v)++;
        expect[k]++;
    }
    size_t pos = 0, seen = 0;
    ember_bytes key;
    int64_t val;
    while (ember__htab_next(&h, &pos, &key, &val)) {
        int k = atoi((const char *)key.ptr + 4);
        assert_int_equal(val, expect[k]);
        expect[k] = -1;
        seen++;
    }
    size_t nonzero = 0;
    for (int k = 0; k < KEYS; k++)
        nonzero += expect[k] == -1;
    assert_int_equal(seen, nonzero);
    assert_int_equal(h.len, seen);
    ember__htab_destroy(&h);
}

static void test_empty_key_and_hash_is_fixed(void **state)
{
    ember__htab h;
    ember__htab_init(&h);
    int64_t *v = ember__htab_upsert(&h, ember_bytes_of("", 0));
    assert_non_null(v);
    *v = 5;
    assert_int_equal(*ember__htab_upsert(&h, ember_bytes_of("", 0)), 5);
    assert_int_equal(h.len, 1);
    ember__htab_destroy(&h);
    /* the same bytes hash the same in every process (a fixed seed) */
    assert_int_equal(ember__hash(B("ember")), ember__hash(B("ember")));
    assert_true(ember__hash(B("ember")) != ember__hash(B("embes")));
}

static void test_out_of_memory(void **state)
{
    ember__htab h;
    ember__htab_init(&h);
    ember__alloc_fail_at(1);
    assert_null(ember__htab_upsert(&h, B("x")));
    ember__alloc_fail_at(0);
    assert_non_null(ember__htab_upsert(&h, B("x")));
    ember__htab_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match),
        cmocka_unit_test(test_empty_key_and_hash_is_fixed),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
