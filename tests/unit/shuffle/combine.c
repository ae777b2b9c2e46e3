/* src/shuffle/combine.c: the combining table against a plain reference, with
 * keys around the in-slot length (0 to 40 bytes) and values that grow from a few
 * bytes into the arena (concatenation), shrink back, and keep their length (sum). */
#include "shuffle/shuffle.h"
#include "support.h"

enum { KEYS = 3000, ADDS = 40000 };

/* a key of k's own length, 0 to 40 bytes, distinct per k */
static size_t key_of(int k, char *buf)
{
    size_t len = (size_t)(k % 41);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (k * 7 + (int)i) % 26);
    if (len >= 4)
        memcpy(buf, &k, 4); /* distinct when long enough to hold k */
    return len;
}

/* keys of the same length under 4 bytes collide on purpose: the reference
 * folds k onto a representative of its (length, bytes) */
static int canon(int k)
{
    char a[64], b[64];
    size_t la = key_of(k, a);
    for (int r = 0; r < k; r++)
        if (key_of(r, b) == la && !memcmp(a, b, la))
            return r;
    return k;
}

/* keeps the last 30 bytes of a then b: lengths go up and down across 8 */
static int cat_tail(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    char buf[128];
    memcpy(buf, a.ptr, a.len);
    memcpy(buf + a.len, b.ptr, b.len);
    size_t n = a.len + b.len, keep = n > 30 ? 30 : n;
    if (n % 5 == 0)
        keep = 3; /* now and then short again */
    return ember_buf_set(res, buf + n - keep, keep);
}

static void test_against_reference(void **state)
{
    static int64_t sums[KEYS];
    static char cats[KEYS][32];
    static size_t catlen[KEYS];
    static int rep[KEYS];
    memset(sums, 0, sizeof sums);
    memset(catlen, 0, sizeof catlen);
    for (int k = 0; k < KEYS; k++)
        rep[k] = canon(k);
    ember__kv sum, cat;
    ember__kv_init(&sum);
    ember__kv_init(&cat);
    bool seen[KEYS] = {0};
    uint64_t s = 99;
    for (int i = 0; i < ADDS; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = rep[(s >> 33) % KEYS];
        char key[64], v[8];
        size_t klen = key_of(k, key);
        int64_t one = (int64_t)(s >> 60) + 1;
        assert_int_equal(ember__kv_combine(&sum, ember_bytes_of(key, klen), ember_bytes_of(&one, 8),
                                           ember_sum_i64, NULL),
                         0);
        sums[k] += one;
        size_t vlen = 1 + (s >> 20) % 7;
        memset(v, 'A' + (int)(s >> 40) % 26, vlen);
        assert_int_equal(ember__kv_combine(&cat, ember_bytes_of(key, klen), ember_bytes_of(v, vlen),
                                           cat_tail, NULL),
                         0);
        if (!seen[k]) {
            memcpy(cats[k], v, vlen);
            catlen[k] = vlen;
        } else {
            ember_buf r = {0};
            cat_tail(ember_bytes_of(cats[k], catlen[k]), ember_bytes_of(v, vlen), &r, NULL);
            memcpy(cats[k], r.ptr, r.len);
            catlen[k] = r.len;
            ember_buf_destroy(&r);
        }
        seen[k] = true;
    }
    int distinct = 0;
    for (int k = 0; k < KEYS; k++)
        distinct += seen[k];
    for (int t = 0; t < 2; t++) {
        ember__kv *kv = t ? &cat : &sum;
        size_t pos = 0;
        ember_rec rec;
        int n = 0;
        while (ember__kv_next(kv, &pos, &rec)) {
            /* find the key's k among the seen ones */
            int found = -1;
            for (int k = 0; k < KEYS && found < 0; k++) {
                char key[64];
                size_t klen = key_of(k, key);
                if (seen[k] && rep[k] == k && klen == rec.key.len &&
                    !memcmp(key, rec.key.ptr, klen))
                    found = k;
            }
            assert_true(found >= 0);
            if (t) {
                assert_int_equal(rec.val.len, catlen[found]);
                assert_memory_equal(rec.val.ptr, cats[found], catlen[found]);
            } else {
                assert_int_equal(ember_i64(rec.val), sums[found]);
            }
            n++;
        }
        assert_int_equal(n, distinct);
    }
    ember__kv_destroy(&sum);
    ember__kv_destroy(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
