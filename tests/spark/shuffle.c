/* Shuffles against Spark's semantics: partition_by. */
#include "shuffle/shuffle.h"
#include "support.h"

static ember_rdd *pairs(ember_ctx *ctx, int n, int parts)
{
    ember_rec *items = calloc((size_t)n + 1, sizeof *items);
    static char keys[4096][16];
    for (int i = 0; i < n; i++) {
        int len = snprintf(keys[i], sizeof keys[i], "k%d", i % 97);
        items[i] = (ember_rec){ember_bytes_of(keys[i], (size_t)len), ember_bytes_of(&keys[i], 1)};
    }
    ember_rdd *r = ember_parallelize_pairs(ctx, items, (size_t)n, parts);
    free(items);
    return r;
}

static void test_partition_by(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *src = pairs(ctx, 1000, 7);
    ember_rdd *p = ember_partition_by(src, 5);
    assert_int_equal(ember_num_partitions(p), 5);
    /* every record kept, each in the partition its key hashes to */
    ember_rdd *g = ember_glom(p);
    ember_result *res;
    assert_int_equal(ember_collect(g, &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    size_t total = 0;
    for (size_t part = 0; part < 5; part++) {
        ember_iter it;
        ember_rec r;
        ember_iter_init(&it, ember_result_at(res, part).val);
        while (ember_iter_next(&it, &r) == 1) {
            assert_int_equal(ember__partition_of(r.key, 5), (int)part);
            total++;
        }
    }
    assert_int_equal(total, 1000);
    ember_result_free(res);
    /* the map side runs once, kept for later actions */
    int64_t jobs = ember_job_count(ctx);
    assert_int_equal(count_of(p), 1000);
    assert_int_equal(ember_job_count(ctx), jobs + 1);
    ember_close(ctx);
}

static int same(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_rec(out, in);
}

static void test_already_partitioned(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *p = ember_partition_by(pairs(ctx, 100, 3), 4);
    assert_ptr_equal(ember_partition_by(p, 4), p);   /* no second shuffle */
    ember_rdd *mv = ember_map_values(p, same, NULL); /* keys stay put */
    assert_ptr_equal(ember_partition_by(mv, 4), mv);
    assert_true(ember_partition_by(mv, 3) != mv); /* another count shuffles */
    ember_rdd *m = ember_map(p, same, NULL);      /* map may move keys */
    assert_true(ember_partition_by(m, 4) != m);
    assert_int_equal(count_of(ember_partition_by(m, 0)), 100); /* 0: the parent's count */
    ember_close(ctx);
}

static void test_same_everywhere_and_edges(void **state)
{
    /* the same partition for a key on any parallelism, in any context */
    ember_ctx *a = open_ctx("local[1]"), *b = open_ctx("local[2]");
    ember_result *ra, *rb;
    assert_int_equal(ember_collect(ember_glom(ember_partition_by(pairs(a, 300, 2), 6)), &ra), 0);
    assert_int_equal(ember_collect(ember_glom(ember_partition_by(pairs(b, 300, 9), 6)), &rb), 0);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(ember_result_at(ra, i).val.len, ember_result_at(rb, i).val.len);
    ember_result_free(ra);
    ember_result_free(rb);
    ember_close(a);
    /* empty, one partition, more partitions than records */
    assert_int_equal(count_of(ember_partition_by(pairs(b, 0, 3), 4)), 0);
    assert_int_equal(count_of(ember_partition_by(pairs(b, 50, 1), 1)), 50);
    assert_int_equal(count_of(ember_partition_by(pairs(b, 3, 2), 64)), 3);
    /* values only: a clear failure, and the context usable */
    int64_t n;
    assert_int_equal(ember_count(ember_partition_by(ember_range(b, 0, 10, 1, 2), 3), &n),
                     EMBER_EINVAL);
    assert_msg(b, "no key");
    assert_int_equal(ember_count(ember_partition_by(pairs(b, 10, 2), -1), &n), EMBER_EINVAL);
    assert_int_equal(count_of(pairs(b, 10, 2)), 10);
    ember_close(b);
}

/* word -> count, as Spark's reduceByKey(add) */
static int one(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair_i64(out, in.val, 1);
}

static int failing_sum(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    if (ember_i64(a) + ember_i64(b) > *(int64_t *)arg)
        return -42;
    return ember_sum_i64(a, b, res, NULL);
}

static void test_reduce_by_key(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    const char *words[] = {"b", "a", "b", "c", "b", "a", "", "b"};
    ember_bytes items[8];
    for (int i = 0; i < 8; i++)
        items[i] = ember_str(words[i]);
    for (int parts = 1; parts <= 5; parts++) {
        ember_rdd *counts = ember_reduce_by_key(
            ember_map(ember_parallelize(ctx, items, 8, 3), one, NULL), ember_sum_i64, NULL, parts);
        assert_int_equal(ember_num_partitions(counts), parts);
        ember_result *res;
        assert_int_equal(ember_count_by_value(ember_keys(counts), &res), 0);
        assert_int_equal(ember_result_len(res), 4); /* one record per key */
        for (size_t i = 0; i < 4; i++)
            assert_int_equal(ember_i64(ember_result_at(res, i).val), 1);
        ember_result_free(res);
        /* gather: key -> count */
        assert_int_equal(ember_collect(counts, &res), 0);
        int64_t a = 0, b = 0, c = 0, empty = 0;
        for (size_t i = 0; i < ember_result_len(res); i++) {
            ember_rec r = ember_result_at(res, i);
            int64_t v = ember_i64(r.val);
            if (r.key.len == 0)
                empty = v;
            else if (!memcmp(r.key.ptr, "a", 1))
                a = v;
            else if (!memcmp(r.key.ptr, "b", 1))
                b = v;
            else
                c = v;
        }
        assert_int_equal(a, 2);
        assert_int_equal(b, 4);
        assert_int_equal(c, 1);
        assert_int_equal(empty, 1); /* an empty key is a key */
        ember_result_free(res);
    }
    /* many keys, many records: the totals survive both combines */
    ember_rdd *big = ember_reduce_by_key(ember_map_values(pairs(ctx, 4000, 8), one, NULL),
                                         ember_sum_i64, NULL, 6);
    ember_rdd *vals = ember_values(big);
    int64_t total;
    assert_int_equal(ember_sum_i64_values(vals, &total), 0);
    assert_int_equal(total, 4000);
    assert_int_equal(count_of(big), 97);
    /* a failing reducer: the task fails with its code, named */
    int64_t limit = 2, n;
    assert_int_equal(
        ember_count(ember_reduce_by_key(ember_map_values(pairs(ctx, 400, 2), one, NULL),
                                        failing_sum, &limit, 2),
                    &n),
        -42);
    assert_msg(ctx, "reduce_by_key function returned -42");
    assert_int_equal(
        ember_count(ember_reduce_by_key(ember_range(ctx, 0, 5, 1, 1), ember_sum_i64, NULL, 2), &n),
        EMBER_EINVAL);
    assert_int_equal(ember_count(ember_reduce_by_key(pairs(ctx, 5, 1), NULL, NULL, 2), &n),
                     EMBER_EINVAL);
    assert_int_equal(count_of(ember_reduce_by_key(pairs(ctx, 0, 2), ember_sum_i64, NULL, 3)), 0);
    ember_close(ctx);
}

static void test_group_by_key(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec items[] = {{B("x"), B("1")}, {B("y"), B("2")}, {B("x"), B("3")},
                         {B("z"), B("")},  {B("x"), B("5")}, {B("y"), B("6")}};
    ember_rdd *g = ember_group_by_key(ember_parallelize_pairs(ctx, items, 6, 3), 2);
    ember_result *res;
    assert_int_equal(ember_collect(g, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    for (size_t i = 0; i < 3; i++) {
        ember_rec r = ember_result_at(res, i);
        ember_iter it;
        ember_rec v;
        char got[16] = {0};
        size_t n = 0;
        ember_iter_init(&it, r.val);
        while (ember_iter_next(&it, &v) == 1) {
            assert_null(v.key.ptr);
            if (v.val.len)
                got[n] = *(const char *)v.val.ptr;
            n++;
        }
        /* the values of each key, in map order: x: 1 3 5, y: 2 6, z: one empty */
        if (!memcmp(r.key.ptr, "x", 1)) {
            assert_int_equal(n, 3);
            assert_string_equal(got, "135");
        } else if (!memcmp(r.key.ptr, "y", 1)) {
            assert_string_equal(got, "26");
        } else {
            assert_int_equal(n, 1);
        }
    }
    ember_result_free(res);
    /* a hot key: every record under one key, from many partitions */
    static ember_rec hot[5000];
    for (int i = 0; i < 5000; i++)
        hot[i] = (ember_rec){B("hot"), B("v")};
    assert_int_equal(
        ember_collect(ember_group_by_key(ember_parallelize_pairs(ctx, hot, 5000, 9), 4), &res), 0);
    assert_int_equal(ember_result_len(res), 1);
    ember_iter it;
    ember_rec v;
    size_t n = 0;
    ember_iter_init(&it, ember_result_at(res, 0).val);
    while (ember_iter_next(&it, &v) == 1)
        n++;
    assert_int_equal(n, 5000);
    ember_result_free(res);
    assert_int_equal(count_of(ember_group_by_key(pairs(ctx, 0, 2), 3)), 0);
    ember_close(ctx);
}

static void test_distinct_and_count_by_key(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {3, 1, 3, 3, 2, 1, 7, 2, 3};
    int64_t got[16];
    for (int parts = 1; parts <= 4; parts++) {
        size_t n = collect_i64(ember_distinct(ember_parallelize_i64(ctx, v, 9, 4), parts), got, 16);
        assert_int_equal(n, 4);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += got[i];
        assert_int_equal(sum, 1 + 2 + 3 + 7);
    }
    /* pairs compare whole: (k1,a) and (k1,b) both stay; an exact duplicate goes */
    ember_rec p[] = {{B("k1"), B("a")}, {B("k1"), B("b")}, {B("k1"), B("a")}, {B("k2"), B("a")}};
    assert_int_equal(count_of(ember_distinct(ember_parallelize_pairs(ctx, p, 4, 2), 3)), 3);
    assert_int_equal(count_of(ember_distinct(ember_range(ctx, 0, 0, 1, 2), 2)), 0);
    /* count_by_key: (key, count), ordered by key */
    ember_result *res;
    assert_int_equal(ember_count_by_key(ember_parallelize_pairs(ctx, p, 4, 3), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    assert_bytes(ember_result_at(res, 0).key, "k1");
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 3);
    assert_int_equal(ember_i64(ember_result_at(res, 1).val), 1);
    ember_result_free(res);
    assert_int_equal(ember_count_by_key(ember_range(ctx, 0, 3, 1, 1), &res), EMBER_EINVAL);
    assert_msg(ctx, "no key");
    ember_close(ctx);
}

/* "key:left|right" for each join record, sorted; '-' for an absent side */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *joined(ember_rdd *r)
{
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    size_t n = ember_result_len(res);
    char **rows = calloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        ember_rec rec = ember_result_at(res, i);
        ember_bytes l, rr;
        int has = ember_join_sides(rec.val, &l, &rr);
        assert_true(has >= 0);
        rows[i] = malloc(64);
        snprintf(rows[i], 64, "%.*s:%.*s|%.*s", (int)rec.key.len, (const char *)rec.key.ptr,
                 has & 1 ? (int)l.len : 1, has & 1 ? (const char *)l.ptr : "-",
                 has & 2 ? (int)rr.len : 1, has & 2 ? (const char *)rr.ptr : "-");
    }
    qsort(rows, n, sizeof *rows, cmp_str);
    char *all = calloc(1, 64 * (n + 1));
    for (size_t i = 0; i < n; i++) {
        strcat(all, rows[i]);
        strcat(all, " ");
        free(rows[i]);
    }
    free(rows);
    ember_result_free(res);
    return all;
}

static void check_join(ember_rdd *r, const char *expect)
{
    char *got = joined(r);
    if (strcmp(got, expect)) {
        fprintf(stderr, "got '%s', expected '%s'\n", got, expect);
        fail();
    }
    free(got);
}

static void test_joins(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* Spark's docs: x = [("a", 1), ("b", 4)], y = [("a", 2), ("a", 3)] (+ ("c", 8)) */
    ember_rec xs[] = {{B("a"), B("1")}, {B("b"), B("4")}};
    ember_rec ys[] = {{B("a"), B("2")}, {B("a"), B("3")}, {B("c"), B("8")}};
    ember_rdd *x = ember_parallelize_pairs(ctx, xs, 2, 2);
    ember_rdd *y = ember_parallelize_pairs(ctx, ys, 3, 3);
    for (int parts = 0; parts <= 3; parts++) {
        check_join(ember_join(x, y, parts), "a:1|2 a:1|3 ");
        check_join(ember_left_outer_join(x, y, parts), "a:1|2 a:1|3 b:4|- ");
        check_join(ember_right_outer_join(x, y, parts), "a:1|2 a:1|3 c:-|8 ");
        check_join(ember_full_outer_join(x, y, parts), "a:1|2 a:1|3 b:4|- c:-|8 ");
    }
    assert_int_equal(ember_num_partitions(ember_join(x, y, 0)), 3); /* the larger parent's */
    /* duplicate keys on both sides: every pair (2 x 2) */
    ember_rec d1[] = {{B("k"), B("p")}, {B("k"), B("q")}};
    ember_rec d2[] = {{B("k"), B("r")}, {B("k"), B("s")}};
    check_join(ember_join(ember_parallelize_pairs(ctx, d1, 2, 2),
                          ember_parallelize_pairs(ctx, d2, 2, 1), 2),
               "k:p|r k:p|s k:q|r k:q|s ");
    /* cogroup: a: ([1], [2, 3]), b: ([4], []), c: ([], [8]) */
    ember_result *res;
    assert_int_equal(ember_collect(ember_cogroup(x, y, 2), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    for (size_t i = 0; i < 3; i++) {
        ember_rec r = ember_result_at(res, i);
        ember_bytes l, rr;
        assert_int_equal(ember_cogroup_sides(r.val, &l, &rr), 0);
        ember_iter it;
        ember_rec v;
        size_t nl = 0, nr = 0;
        ember_iter_init(&it, l);
        while (ember_iter_next(&it, &v) == 1)
            nl++;
        ember_iter_init(&it, rr);
        while (ember_iter_next(&it, &v) == 1)
            nr++;
        char k = *(const char *)r.key.ptr;
        assert_int_equal(nl, k == 'c' ? 0u : 1u);
        assert_int_equal(nr, k == 'a' ? 2u : k == 'b' ? 0u : 1u);
    }
    ember_result_free(res);
    /* empty sides, another context, a value-only rdd */
    check_join(ember_join(x, ember_parallelize_pairs(ctx, NULL, 0, 2), 2), "");
    int64_t n;
    ember_ctx *other = open_ctx("local[1]");
    assert_int_equal(ember_count(ember_join(x, ember_parallelize_pairs(other, ys, 3, 1), 2), &n),
                     EMBER_ECTX);
    ember_close(other);
    assert_int_equal(ember_count(ember_join(x, ember_range(ctx, 0, 3, 1, 1), 2), &n), EMBER_EINVAL);
    assert_msg(ctx, "no key");
    ember_close(ctx);
}

static void value_of(ember_rdd *r, const char *key, void *out, size_t len)
{
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    bool found = false;
    for (size_t i = 0; i < ember_result_len(res); i++) {
        ember_rec rec = ember_result_at(res, i);
        if (rec.key.len == strlen(key) && !memcmp(rec.key.ptr, key, rec.key.len)) {
            assert_int_equal(rec.val.len, len);
            memcpy(out, rec.val.ptr, len);
            found = true;
        }
    }
    assert_true(found);
    ember_result_free(res);
}

static void test_fold_aggregate_combine(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t one = 1, two = 2, three = 3, zero = 0;
    ember_rec kv[] = {{B("a"), ember_bytes_of(&one, 8)},
                      {B("a"), ember_bytes_of(&two, 8)},
                      {B("b"), ember_bytes_of(&three, 8)}};
    int64_t v;
    /* foldByKey(1, add): the zero once per key per map partition.
       One partition: a = 1+1+2 = 4. Two ([a1], [a2, b3]): a = (1+1)+(1+2) = 5, b = 4 */
    value_of(ember_fold_by_key(ember_parallelize_pairs(ctx, kv, 3, 1), ember_bytes_of(&one, 8),
                               ember_sum_i64, NULL, 2),
             "a", &v, 8);
    assert_int_equal(v, 4);
    ember_rdd *two_parts = ember_parallelize_pairs(ctx, kv, 3, 2);
    value_of(ember_fold_by_key(two_parts, ember_bytes_of(&one, 8), ember_sum_i64, NULL, 3), "a", &v,
             8);
    assert_int_equal(v, 5);
    value_of(ember_fold_by_key(two_parts, ember_bytes_of(&zero, 8), ember_sum_i64, NULL, 3), "a",
             &v, 8);
    assert_int_equal(v, 3); /* a zero of 0 is reduce_by_key */
    /* aggregateByKey((0, 0), seq, comb) and combineByKey: (sum, count) per key */
    int64_t z2[2] = {0, 0}, sc[2];
    for (int parts = 1; parts <= 3; parts++) {
        ember_rdd *src = ember_parallelize_pairs(ctx, kv, 3, parts);
        value_of(ember_aggregate_by_key(src, ember_bytes_of(z2, 16), sc_add, sc_merge, NULL, 2),
                 "a", sc, 16);
        assert_int_equal(sc[0], 3);
        assert_int_equal(sc[1], 2);
        value_of(ember_combine_by_key(src, sc_create, sc_add, sc_merge, NULL, 2), "b", sc, 16);
        assert_int_equal(sc[0], 3);
        assert_int_equal(sc[1], 1);
        value_of(ember_combine_by_key(src, sc_create, sc_add, sc_merge, NULL, 2), "a", sc, 16);
        assert_int_equal(sc[0], 3);
        assert_int_equal(sc[1], 2);
    }
    int64_t n;
    assert_int_equal(
        ember_count(ember_combine_by_key(two_parts, NULL, sc_add, sc_merge, NULL, 2), &n),
        EMBER_EINVAL);
    assert_int_equal(
        ember_count(
            ember_aggregate_by_key(two_parts, ember_bytes_of(z2, 16), sc_add, NULL, NULL, 2), &n),
        EMBER_EINVAL);
    ember_close(ctx);
}

static void test_subtract_intersection(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec xs[] = {{B("a"), B("1")}, {B("b"), B("4")}, {B("b"), B("5")}, {B("c"), B("6")}};
    ember_rec ys[] = {{B("a"), B("9")}, {B("c"), B("6")}};
    ember_rdd *x = ember_parallelize_pairs(ctx, xs, 4, 2),
              *y = ember_parallelize_pairs(ctx, ys, 2, 3);
    /* subtractByKey: b's two records stay */
    ember_result *res;
    assert_int_equal(ember_collect(ember_subtract_by_key(x, y, 0), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    for (size_t i = 0; i < 2; i++)
        assert_bytes(ember_result_at(res, i).key, "b");
    ember_result_free(res);
    assert_int_equal(ember_num_partitions(ember_subtract_by_key(x, y, 0)), 2); /* a's count */
    /* subtract compares whole records: (c, 6) goes, (a, 1) stays (y has (a, 9)) */
    assert_int_equal(count_of(ember_subtract(x, y, 0)), 3);
    /* duplicates in a are kept by subtract, intersection gives each record once */
    int64_t v1[] = {1, 1, 2, 3, 3, 4}, v2[] = {3, 1, 5, 3};
    ember_rdd *p = ember_parallelize_i64(ctx, v1, 6, 3), *q = ember_parallelize_i64(ctx, v2, 4, 2);
    int64_t got[8];
    size_t n = collect_i64(ember_subtract(p, q, 2), got, 8);
    assert_int_equal(n, 2); /* 2 and 4 */
    assert_int_equal(got[0] + got[1], 6);
    n = collect_i64(ember_intersection(p, q, 4), got, 8);
    assert_int_equal(n, 2); /* 1 and 3, once each */
    assert_int_equal(got[0] + got[1], 4);
    assert_int_equal(count_of(ember_intersection(p, ember_parallelize_i64(ctx, NULL, 0, 2), 2)), 0);
    ember_close(ctx);
}

static int first_char(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, ember_bytes_of(in.val.ptr, in.val.len ? 1 : 0));
}

static void test_repartition_group_by_unique_id(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* repartition: every record kept, spread evenly, no keys needed */
    int64_t sizes[16];
    ember_rdd *r = ember_repartition(ember_range(ctx, 0, 1000, 1, 3), 4);
    assert_int_equal(partition_sizes(r, sizes, 16), 4);
    int64_t total = 0;
    for (int i = 0; i < 4; i++) {
        total += sizes[i];
        assert_true(sizes[i] >= 240 && sizes[i] <= 260); /* round-robin from each map task */
    }
    assert_int_equal(total, 1000);
    int64_t sum;
    assert_int_equal(ember_sum_i64_values(r, &sum), 0);
    assert_int_equal(sum, 999 * 1000 / 2);
    int64_t n;
    assert_int_equal(ember_count(ember_repartition(r, 0), &n), EMBER_EINVAL);
    /* group_by: by the first letter */
    ember_bytes words[] = {B("apple"), B("avocado"), B("banana"), B("blueberry"), B("cherry")};
    ember_rdd *g = ember_group_by(ember_parallelize(ctx, words, 5, 2), first_char, NULL, 2);
    ember_result *res;
    assert_int_equal(ember_collect(g, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    ember_result_free(res);
    /* zip_with_unique_id: partition k gives k, n + k, ...: unique, and no counting job */
    ember_rdd *z = ember_zip_with_unique_id(ember_range(ctx, 0, 10, 1, 3));
    int64_t jobs = ember_job_count(ctx);
    assert_int_equal(ember_collect(z, &res), 0);
    assert_int_equal(ember_job_count(ctx), jobs + 1);
    int64_t expect[] = {0, 3, 6, 1, 4, 7, 2, 5, 8, 11}; /* range(10) in 3: 3, 3, 4 records */
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(ember_i64(ember_result_at(res, i).val), expect[i]);
    ember_result_free(res);
    ember_close(ctx);
}

/* the value of a pair record as the key (PySpark's lambda kv: kv[1]) */
static int pair_value(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, in.val);
}

/* the first byte of a pair's key */
static int key_initial(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit(out, ember_bytes_of(in.key.ptr, in.key.len ? 1 : 0));
}

/* Spark's keyBy, sortBy and groupBy keep whole elements: a pair record goes
 * through with its key (PySpark: sortBy(lambda kv: kv[1]) on pairs returns the
 * pairs; groupBy groups the pairs themselves). */
static void test_whole_records(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec kv[] = {{B("b"), B("3")}, {B("a"), B("1")}, {B("c"), B("2")}, {B("ab"), B("0")}};
    ember_rdd *src = ember_parallelize_pairs(ctx, kv, 4, 2);
    ember_result *res;
    /* sort_by the value: the pairs, keys and all, in the values' order */
    assert_int_equal(ember_collect(ember_sort_by(src, pair_value, NULL, true, NULL, NULL, 2), &res),
                     0);
    assert_int_equal(ember_result_len(res), 4);
    const char *keys[] = {"ab", "a", "c", "b"}, *vals[] = {"0", "1", "2", "3"};
    for (size_t i = 0; i < 4; i++) {
        assert_bytes(ember_result_at(res, i).key, keys[i]);
        assert_bytes(ember_result_at(res, i).val, vals[i]);
    }
    ember_result_free(res);
    /* sort_by of plain values keeps them as they were */
    int64_t v[] = {5, -1, 3};
    assert_int_equal(ember_collect(ember_sort_by(ember_parallelize_i64(ctx, v, 3, 2), pair_value,
                                                 NULL, true, ember_cmp_i64, NULL, 1),
                                   &res),
                     0);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), -1);
    assert_null(ember_result_at(res, 0).key.ptr);
    assert_int_equal(ember_i64(ember_result_at(res, 2).val), 5);
    ember_result_free(res);
    /* key_by of pairs: (new key, the whole pair), read back with ember_iter */
    assert_int_equal(ember_collect(ember_key_by(src, key_initial, NULL), &res), 0);
    assert_int_equal(ember_result_len(res), 4);
    for (size_t i = 0; i < 4; i++) {
        ember_rec r = ember_result_at(res, i), inner;
        ember_iter it;
        ember_iter_init(&it, r.val);
        assert_int_equal(ember_iter_next(&it, &inner), 1);
        assert_memory_equal(inner.key.ptr, kv[i].key.ptr, kv[i].key.len);
        assert_int_equal(inner.key.len, kv[i].key.len);
        assert_memory_equal(inner.val.ptr, kv[i].val.ptr, kv[i].val.len);
        assert_memory_equal(r.key.ptr, kv[i].key.ptr, 1);
        assert_int_equal(ember_iter_next(&it, &inner), 0);
    }
    ember_result_free(res);
    /* group_by the key's initial: the groups hold the whole pairs */
    ember_rdd *g = ember_group_by(src, key_initial, NULL, 2);
    assert_int_equal(ember_collect(g, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    for (size_t i = 0; i < 3; i++) {
        ember_rec r = ember_result_at(res, i);
        if (r.key.len != 1 || *(const char *)r.key.ptr != 'a')
            continue;
        ember_iter groups; /* the group: values, each a whole pair */
        ember_iter_init(&groups, r.val);
        ember_rec member, pair;
        int n = 0, found_ab = 0;
        while (ember_iter_next(&groups, &member) == 1) {
            ember_iter one;
            ember_iter_init(&one, member.val);
            assert_int_equal(ember_iter_next(&one, &pair), 1);
            assert_int_equal(*(const char *)pair.key.ptr, 'a');
            found_ab += pair.key.len == 2 && *(const char *)pair.val.ptr == '0';
            n++;
        }
        assert_int_equal(n, 2);
        assert_int_equal(found_ab, 1);
    }
    ember_result_free(res);
    ember_close(ctx);
}

static void test_lookup_and_local(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rec kv[] = {{B("a"), B("1")}, {B("b"), B("2")}, {B("a"), B("3")}, {B("c"), B("4")}};
    ember_rdd *src = ember_parallelize_pairs(ctx, kv, 4, 3);
    ember_result *res;
    /* lookup: every value of the key, in partition order */
    assert_int_equal(ember_lookup(src, B("a"), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    assert_bytes(ember_result_at(res, 0).val, "1");
    assert_bytes(ember_result_at(res, 1).val, "3");
    ember_result_free(res);
    assert_int_equal(ember_lookup(src, B("zz"), &res), 0);
    assert_int_equal(ember_result_len(res), 0);
    ember_result_free(res);
    /* on an rdd partitioned by key: one partition read (one task) */
    ember_rdd *p = ember_partition_by(src, 4);
    assert_int_equal(ember_lookup(p, B("a"), &res), 0);
    assert_int_equal(ember_result_len(res), 2);
    ember_result_free(res);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_string_equal(js.action, "lookup");
    assert_int_equal(js.stages[js.nstages - 1].tasks, 1); /* after partition_by's map side */
    /* collect_as_map: the last value read wins; ordered by key */
    assert_int_equal(ember_collect_as_map(src, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_bytes(ember_result_at(res, 0).key, "a");
    assert_bytes(ember_result_at(res, 0).val, "3");
    ember_result_free(res);
    /* reduce_by_key_locally */
    int64_t one = 1;
    ember_rec nums[] = {{B("x"), ember_bytes_of(&one, 8)},
                        {B("y"), ember_bytes_of(&one, 8)},
                        {B("x"), ember_bytes_of(&one, 8)}};
    assert_int_equal(ember_reduce_by_key_locally(ember_parallelize_pairs(ctx, nums, 3, 2),
                                                 ember_sum_i64, NULL, &res),
                     0);
    assert_int_equal(ember_result_len(res), 2);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 2);
    ember_result_free(res);
    assert_int_equal(ember_lookup(ember_range(ctx, 0, 3, 1, 1), B("a"), &res), EMBER_EINVAL);
    ember_close(ctx);
}

static int key_is_value(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair(out, in.val, in.val);
}

static int negate(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_i64(out, -ember_i64(in.val));
}

static void test_sort(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    enum { N = 3000 };
    static int64_t v[N];
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = (int64_t)(x % 500) - 250; /* duplicates aplenty */
    }
    ember_rdd *pairs_i = ember_map(ember_parallelize_i64(ctx, v, N, 5), key_is_value, NULL);
    for (int asc = 0; asc <= 1; asc++) {
        for (int parts = 1; parts <= 4; parts += 3) {
            ember_rdd *sorted = ember_sort_by_key(pairs_i, asc, ember_cmp_i64, NULL, parts);
            assert_int_equal(ember_num_partitions(sorted), parts);
            int64_t sizes[8];
            assert_int_equal(partition_sizes(sorted, sizes, 8), parts);
            for (int i = 0; i < parts; i++) /* the sampled boundaries balance the ranges */
                assert_true(sizes[i] > N / (4 * parts));
            ember_result *res;
            assert_int_equal(ember_collect(sorted, &res), 0);
            assert_int_equal(ember_result_len(res), N);
            for (size_t i = 1; i < N; i++) {
                int64_t a = ember_i64(ember_result_at(res, i - 1).key);
                int64_t b = ember_i64(ember_result_at(res, i).key);
                assert_true(asc ? a <= b : a >= b);
            }
            ember_result_free(res);
        }
    }
    /* sort_by: the records in the order of the key function (descending of -v) */
    int64_t got[N];
    size_t n = collect_i64(ember_sort_by(ember_parallelize_i64(ctx, v, N, 3), negate, NULL, false,
                                         ember_cmp_i64, NULL, 3),
                           got, N);
    assert_int_equal(n, N);
    for (size_t i = 1; i < N; i++)
        assert_true(got[i - 1] <= got[i]);
    /* the default order: bytes */
    ember_rec w[] = {{B("pear"), B("1")}, {B("apple"), B("2")}, {B("fig"), B("3")}};
    ember_result *res;
    assert_int_equal(
        ember_collect(ember_sort_by_key(ember_parallelize_pairs(ctx, w, 3, 2), true, NULL, NULL, 2),
                      &res),
        0);
    assert_bytes(ember_result_at(res, 0).key, "apple");
    assert_bytes(ember_result_at(res, 2).key, "pear");
    ember_result_free(res);
    /* every key equal; empty; values only */
    int64_t same[100];
    for (int i = 0; i < 100; i++)
        same[i] = 7;
    assert_int_equal(count_of(ember_sort_by_key(
                         ember_map(ember_parallelize_i64(ctx, same, 100, 4), key_is_value, NULL),
                         true, ember_cmp_i64, NULL, 3)),
                     100);
    assert_int_equal(count_of(ember_sort_by_key(pairs(ctx, 0, 2), true, NULL, NULL, 3)), 0);
    int64_t cnt;
    assert_int_equal(
        ember_count(ember_sort_by_key(ember_range(ctx, 0, 5, 1, 2), true, NULL, NULL, 2), &cnt),
        EMBER_EINVAL);
    ember_close(ctx);
}

static void test_repartition_and_sort_within_partitions(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    enum { N = 2000 };
    static int64_t v[N];
    uint64_t x = 2463534242ULL;
    int64_t total = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = (int64_t)(x % 300) - 150;
        total += v[i];
    }
    ember_rdd *kv = ember_map(ember_parallelize_i64(ctx, v, N, 4), key_is_value, NULL);
    for (int asc = 0; asc <= 1; asc++) {
        ember_rdd *r =
            ember_repartition_and_sort_within_partitions(kv, 3, asc, ember_cmp_i64, NULL);
        assert_int_equal(ember_num_partitions(r), 3);
        /* each partition: the keys hashing to it, in order; every record kept */
        ember_result *res;
        assert_int_equal(ember_collect(ember_glom(r), &res), 0);
        assert_int_equal(ember_result_len(res), 3);
        int64_t n = 0, sum = 0;
        for (size_t part = 0; part < 3; part++) {
            ember_iter it;
            ember_rec rec;
            int64_t prev = 0;
            bool first = true;
            ember_iter_init(&it, ember_result_at(res, part).val);
            while (ember_iter_next(&it, &rec) == 1) {
                assert_int_equal(ember__partition_of(rec.key, 3), (int)part);
                int64_t k = ember_i64(rec.key);
                assert_true(first || (asc ? prev <= k : prev >= k));
                prev = k, first = false;
                sum += ember_i64(rec.val), n++;
            }
        }
        assert_int_equal(n, N);
        assert_int_equal(sum, total);
        ember_result_free(res);
        /* partitioned by key as partition_by: no second shuffle, lookup reads one */
        assert_ptr_equal(ember_partition_by(r, 3), r);
    }
    /* the default order is bytes; 0 partitions: the parent's count; empty input */
    ember_rec w[] = {{B("pear"), B("1")}, {B("apple"), B("2")}, {B("fig"), B("3")}};
    ember_result *res;
    ember_rdd *one = ember_repartition_and_sort_within_partitions(
        ember_parallelize_pairs(ctx, w, 3, 1), 0, true, NULL, NULL);
    assert_int_equal(ember_num_partitions(one), 1);
    assert_int_equal(ember_collect(one, &res), 0);
    assert_bytes(ember_result_at(res, 0).key, "apple");
    assert_bytes(ember_result_at(res, 1).key, "fig");
    assert_bytes(ember_result_at(res, 2).key, "pear");
    ember_result_free(res);
    assert_int_equal(count_of(ember_repartition_and_sort_within_partitions(pairs(ctx, 0, 2), 4,
                                                                           true, NULL, NULL)),
                     0);
    /* bad input: negative partitions, records without keys */
    int64_t cnt;
    assert_int_equal(
        ember_count(ember_repartition_and_sort_within_partitions(kv, -1, true, NULL, NULL), &cnt),
        EMBER_EINVAL);
    assert_int_equal(ember_count(ember_repartition_and_sort_within_partitions(
                                     ember_range(ctx, 0, 5, 1, 2), 2, true, NULL, NULL),
                                 &cnt),
                     EMBER_EINVAL);
    ember_close(ctx);
}

static int build_inside(ember_rec in, ember_out *out, void *arg)
{
    ember_rdd *r = ember_reduce_by_key(arg, ember_sum_i64, NULL, 2);
    return r ? EMBER_EINVAL : ember_emit_rec(out, in); /* refused: the record goes on */
}

static void test_bad_input(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *kv = pairs(ctx, 50, 2);
    int64_t n;
    /* NULL parents: NULL back, the message names the operation */
    assert_null(ember_reduce_by_key(NULL, ember_sum_i64, NULL, 2));
    assert_non_null(strstr(ember_errmsg(NULL), "reduce_by_key"));
    assert_null(ember_sort_by_key(NULL, true, NULL, NULL, 2));
    assert_non_null(strstr(ember_errmsg(NULL), "sort_by_key"));
    assert_null(ember_join(NULL, kv, 2));
    /* negative partition counts: an error at the action, naming op and count */
    ember_rdd *bad = ember_group_by_key(kv, -3);
    assert_int_equal(ember_count(bad, &n), EMBER_EINVAL);
    assert_msg(ctx, "group_by_key: partitions must be > 0 (got -3)");
    /* a parent's error carried on through a shuffle */
    ember_rdd *after = ember_distinct(ember_partition_by(bad, 2), 2);
    assert_int_equal(ember_count(after, &n), EMBER_EINVAL);
    assert_msg(ctx, "partitions must be > 0 (got -3)");
    /* built inside a task: refused; the context goes on */
    assert_int_equal(count_of(ember_map(kv, build_inside, kv)), 50);
    assert_int_equal(count_of(ember_reduce_by_key(kv, ember_sum_i64, NULL, 0)), 50);
    ember_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_by),
        cmocka_unit_test(test_already_partitioned),
        cmocka_unit_test(test_same_everywhere_and_edges),
        cmocka_unit_test(test_reduce_by_key),
        cmocka_unit_test(test_group_by_key),
        cmocka_unit_test(test_distinct_and_count_by_key),
        cmocka_unit_test(test_joins),
        cmocka_unit_test(test_fold_aggregate_combine),
        cmocka_unit_test(test_subtract_intersection),
        cmocka_unit_test(test_repartition_group_by_unique_id),
        cmocka_unit_test(test_lookup_and_local),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_whole_records),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_repartition_and_sort_within_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
