/* src/core/buf.c: buffers, varints and the record encoding of arenas. */
#include "core/core.h"
#include "support.h"

static void test_varint_roundtrip(void **state)
{
    uint64_t cases[] = {0,         1, 127, 128, 255, 16383, 16384, UINT32_MAX, (uint64_t)1 << 56,
                        UINT64_MAX};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char buf[16];
        unsigned char *end = ember__varint_put(buf, cases[i]);
        assert_int_equal((size_t)(end - buf), ember__varint_len(cases[i]));
        uint64_t v = 0;
        const unsigned char *p = ember__varint_get(buf, end, &v);
        assert_ptr_equal(p, end);
        assert_int_equal(v, cases[i]);
        /* cut short: no value */
        assert_null(ember__varint_get(buf, end - 1, &v));
    }
}

static void test_arena_records(void **state)
{
    ember_buf a;
    ember_buf_init(&a);
    char big[300];
    memset(big, 'x', sizeof big);
    ember_rec in[] = {
        {.val = B("plain")},
        {.key = B("k"), .val = B("v")},
        {.key = {"", 0}, .val = {"", 0}}, /* an empty key is a key */
        {.val = {big, sizeof big}},       /* a two-byte length */
        {.val = {NULL, 0}},
    };
    size_t n = sizeof in / sizeof *in;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ember__arena_put(&a, in[i]), 0);
    ember_iter it;
    ember_iter_init(&it, ember_buf_bytes(&a));
    ember_rec r;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ember_iter_next(&it, &r), 1);
        assert_int_equal(r.key.ptr != NULL, in[i].key.ptr != NULL);
        assert_int_equal(r.key.len, in[i].key.len);
        assert_int_equal(r.val.len, in[i].val.len);
        if (r.val.len)
            assert_memory_equal(r.val.ptr, in[i].val.ptr, r.val.len);
    }
    assert_int_equal(ember_iter_next(&it, &r), 0);
    ember_buf_destroy(&a);
}

static void test_malformed_is_eio(void **state)
{
    /* a value length that runs past the end */
    unsigned char bad[] = {0, 9, 'a', 'b'};
    ember_iter it;
    ember_rec r;
    ember_iter_init(&it, ember_bytes_of(bad, sizeof bad));
    assert_int_equal(ember_iter_next(&it, &r), EMBER_EIO);
    /* a key length past the end */
    unsigned char bad2[] = {7, 'a'};
    ember_iter_init(&it, ember_bytes_of(bad2, sizeof bad2));
    assert_int_equal(ember_iter_next(&it, &r), EMBER_EIO);
    /* an endless varint */
    unsigned char bad3[12];
    memset(bad3, 0xff, sizeof bad3);
    ember_iter_init(&it, ember_bytes_of(bad3, sizeof bad3));
    assert_int_equal(ember_iter_next(&it, &r), EMBER_EIO);
}

/* Random bytes, and valid arenas cut or flipped at random: decoding never reads
 * past the buffer (the sanitizer build checks) and every record it hands out lies
 * inside it. */
static void test_decode_fuzz(void **state)
{
    uint64_t seed = 0x1234567;
    for (int round = 0; round < 20000; round++) {
        unsigned char *buf;
        size_t len;
        ember_buf a = {0};
        if (round % 2) {
            len = (size_t)(seed % 64);
            buf = malloc(len + 1);
            for (size_t i = 0; i < len; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[i] = (unsigned char)(seed >> 56);
            }
        } else {
            for (int k = 0; k < 4; k++) {
                char key[40], val[200];
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t kl = (seed >> 20) % sizeof key, vl = (seed >> 40) % sizeof val;
                memset(key, 'k', kl);
                memset(val, 'v', vl);
                ember_rec r = {.key = {(seed & 1) ? key : NULL, (seed & 1) ? kl : 0},
                               .val = {val, vl}};
                assert_int_equal(ember__arena_put(&a, r), 0);
            }
            len = (size_t)(seed % (a.len + 1)); /* cut anywhere */
            buf = malloc(len + 1);
            memcpy(buf, a.ptr, len);
            if (len && (seed & 2))
                buf[(seed >> 8) % len] ^= (unsigned char)(seed >> 16); /* and flip a byte */
        }
        ember_iter it;
        ember_rec r;
        int rc;
        ember_iter_init(&it, ember_bytes_of(buf, len));
        while ((rc = ember_iter_next(&it, &r)) == 1) {
            const unsigned char *lo = buf, *hi = buf + len;
            assert_true((const unsigned char *)r.val.ptr >= lo);
            assert_true((const unsigned char *)r.val.ptr + r.val.len <= hi);
            if (r.key.ptr)
                assert_true((const unsigned char *)r.key.ptr + r.key.len <= hi);
        }
        assert_true(rc == 0 || rc == EMBER_EIO);
        free(buf);
        ember_buf_destroy(&a);
    }
}

static void test_buf_set_append(void **state)
{
    ember_buf b;
    ember_buf_init(&b);
    assert_int_equal(ember_buf_set(&b, "hello", 5), 0);
    assert_int_equal(ember_buf_append(&b, " world", 6), 0);
    assert_bytes(ember_buf_bytes(&b), "hello world");
    assert_int_equal(ember_buf_set_i64(&b, -42), 0);
    assert_int_equal(ember_i64(ember_buf_bytes(&b)), -42);
    assert_int_equal(ember_buf_set(&b, NULL, 3), EMBER_EINVAL);
    assert_int_equal(ember_i64(ember_buf_bytes(&b)), -42); /* unchanged */
    /* out of memory keeps the old contents */
    ember__alloc_fail_at(1);
    char big[4096] = {0};
    assert_int_equal(ember_buf_set(&b, big, sizeof big), EMBER_ENOMEM);
    ember__alloc_fail_at(0);
    assert_int_equal(ember_i64(ember_buf_bytes(&b)), -42);
    ember_buf_destroy(&b);
    ember_buf_destroy(NULL);
}

static void test_i64_f64_helpers(void **state)
{
    int64_t v = 7;
    assert_int_equal(ember_i64(ember_bytes_of(&v, 8)), 7);
    assert_int_equal(ember_i64(ember_bytes_of(&v, 4)), 0); /* wrong length: 0 */
    double d = 2.5;
    assert_true(ember_f64(ember_bytes_of(&d, 8)) == 2.5);
    assert_int_equal(ember_str(NULL).len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip), cmocka_unit_test(test_arena_records),
        cmocka_unit_test(test_malformed_is_eio), cmocka_unit_test(test_decode_fuzz),
        cmocka_unit_test(test_buf_set_append),   cmocka_unit_test(test_i64_f64_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
