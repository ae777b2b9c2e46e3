/* Values that know their kind: the defaults of every action and output that
 * orders, prints or places values follow the kind (numbers as numbers, as
 * Spark and PySpark do), bytes keep the byte order, and the kind travels
 * through the transformations that keep records as they are. */
#include <dirent.h>
#include <sys/stat.h>

#include "support.h"

static int64_t i64_of(ember_buf *b)
{
    return ember_i64(ember_buf_bytes(b));
}

static void test_order_follows_the_kind(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    int64_t v[] = {3, 256, -1, 10};
    ember_rdd *r = ember_parallelize_i64(ctx, v, 4, 2);
    assert_int_equal(ember_value_kind(r), EMBER_KIND_I64);
    ember_buf b;
    ember_buf_init(&b);
    assert_int_equal(ember_max(r, NULL, NULL, &b), 0);
    assert_int_equal(i64_of(&b), 256); /* by bytes it was -1 */
    assert_int_equal(ember_min(r, NULL, NULL, &b), 0);
    assert_int_equal(i64_of(&b), -1);
    ember_result *res;
    assert_int_equal(ember_top(r, 2, NULL, NULL, &res), 0);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 256);
    assert_int_equal(ember_i64(ember_result_at(res, 1).val), 10);
    ember_result_free(res);
    assert_int_equal(ember_take_ordered(r, 3, NULL, NULL, &res), 0);
    int64_t want[] = {-1, 3, 10};
    for (int i = 0; i < 3; i++)
        assert_int_equal(ember_i64(ember_result_at(res, (size_t)i).val), want[i]);
    ember_result_free(res);
    /* through filter, sample, coalesce, union, distinct, repartition: still numbers */
    ember_rdd *u = ember_distinct(ember_repartition(ember_coalesce(ember_union(r, r), 1), 2), 2);
    assert_int_equal(ember_value_kind(u), EMBER_KIND_I64);
    assert_int_equal(ember_max(u, NULL, NULL, &b), 0);
    assert_int_equal(i64_of(&b), 256);
    /* count_by_value in the values' order */
    int64_t w[] = {10, -1, 10, 256, -1, 10};
    assert_int_equal(ember_count_by_value(ember_parallelize_i64(ctx, w, 6, 3), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    int64_t keys[] = {-1, 10, 256}, counts[] = {2, 3, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ember_i64(ember_result_at(res, i).key), keys[i]);
        assert_int_equal(ember_i64(ember_result_at(res, i).val), counts[i]);
    }
    ember_result_free(res);
    /* doubles */
    double d[] = {-0.5, 1e10, 2.5};
    ember_bytes db[3];
    for (int i = 0; i < 3; i++)
        db[i] = ember_bytes_of(&d[i], 8);
    ember_rdd *dr = ember_as_f64(ember_parallelize(ctx, db, 3, 2));
    assert_int_equal(ember_max(dr, NULL, NULL, &b), 0);
    assert_true(ember_f64(ember_buf_bytes(&b)) == 1e10);
    assert_int_equal(ember_min(dr, NULL, NULL, &b), 0);
    assert_true(ember_f64(ember_buf_bytes(&b)) == -0.5);
    /* bytes keep the byte order */
    ember_rdd *s = ember_parallelize(ctx, (ember_bytes[]){ember_str("b"), ember_str("ab")}, 2, 1);
    assert_int_equal(ember_value_kind(s), EMBER_KIND_BYTES);
    assert_int_equal(ember_max(s, NULL, NULL, &b), 0);
    assert_bytes(ember_buf_bytes(&b), "b");
    ember_buf_destroy(&b);
    ember_close(ctx);
}

static int negate_key(ember_rec in, ember_out *out, void *arg)
{
    int64_t k = -ember_i64(in.val);
    return ember_emit_pair(out, ember_bytes_of(&k, 8), in.val);
}

/* sort_by_key and partition_by of int64 keys: numeric order; key k in
 * partition k mod n (PySpark: portable_hash(k) = k; Python's % is never
 * negative) */
static void test_int_keys(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *pairs = ember_as_pairs(ember_map(ember_range(ctx, -4, 8, 1, 3), negate_key, NULL),
                                      EMBER_KIND_I64, EMBER_KIND_I64);
    ember_result *res;
    assert_int_equal(ember_collect(ember_sort_by_key(pairs, true, NULL, NULL, 3), &res), 0);
    assert_int_equal(ember_result_len(res), 12);
    for (size_t i = 0; i < 12; i++)
        assert_int_equal(ember_i64(ember_result_at(res, i).key), -7 + (int64_t)i);
    ember_result_free(res);
    ember_rdd *parted = ember_partition_by(pairs, 3);
    assert_int_equal(ember_key_kind(parted), EMBER_KIND_I64);
    ember_rdd *g = ember_glom(parted);
    assert_int_equal(ember_collect(g, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    for (size_t p = 0; p < 3; p++) {
        ember_iter it;
        ember_rec r;
        int n = 0;
        ember_iter_init(&it, ember_result_at(res, p).val);
        while (ember_iter_next(&it, &r) == 1) {
            int64_t k = ember_i64(r.key);
            assert_int_equal(((k % 3) + 3) % 3, (int64_t)p);
            n++;
        }
        assert_int_equal(n, 4);
    }
    ember_result_free(res);
    /* partition_by again with the same count: already so, no shuffle */
    assert_ptr_equal(ember_partition_by(parted, 3), parted);
    /* lookup reads the key's own partition */
    int64_t k = -2;
    assert_int_equal(ember_lookup(parted, ember_bytes_of(&k, 8), &res), 0);
    assert_int_equal(ember_result_len(res), 1);
    assert_int_equal(ember_i64(ember_result_at(res, 0).val), 2);
    ember_result_free(res);
    /* reduce_by_key with ember_sum_i64: its values are int64 */
    ember_rdd *sums = ember_reduce_by_key(pairs, ember_sum_i64, NULL, 2);
    assert_int_equal(ember_value_kind(sums), EMBER_KIND_I64);
    assert_int_equal(ember_key_kind(sums), EMBER_KIND_I64);
    assert_int_equal(ember_value_kind(ember_keys(sums)), EMBER_KIND_I64);
    /* a join of int keys with bytes keys of the same bytes still meets */
    ember_rdd *other = ember_map(ember_range(ctx, 0, 3, 1, 2), negate_key, NULL); /* bytes keys */
    int64_t n = 0;
    assert_int_equal(ember_count(ember_join(pairs, other, 3), &n), 0);
    assert_int_equal(n, 3);
    ember_close(ctx);
}

static char dir[128];

static char *read_parts(const char *d)
{
    static char all[4096];
    size_t len = 0;
    char path[400];
    for (int p = 0; p < 16; p++) {
        snprintf(path, sizeof path, "%s/part-%05d", d, p);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        len += fread(all + len, 1, sizeof all - 1 - len, f);
        fclose(f);
    }
    all[len] = 0;
    return all;
}

static void test_text_and_printing(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ember-kinds-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ember_ctx *ctx = open_ctx("local[2]");
    char out[300];
    /* int64 values as decimal lines: 10 is "10", not a line break */
    snprintf(out, sizeof out, "%s/ints", dir);
    assert_int_equal(ember_save_as_text_file(ember_range(ctx, 8, 12, 1, 2), out, NULL), 0);
    assert_string_equal(read_parts(out), "8\n9\n10\n11\n");
    /* int64 pairs: key, tab, value */
    snprintf(out, sizeof out, "%s/pairs", dir);
    ember_rdd *ip = ember_as_pairs(ember_map(ember_range(ctx, 1, 3, 1, 1), negate_key, NULL),
                                   EMBER_KIND_I64, EMBER_KIND_I64);
    assert_int_equal(ember_save_as_text_file(ip, out, NULL), 0);
    assert_string_equal(read_parts(out), "-1\t1\n-2\t2\n");
    /* readable records */
    ember_buf b;
    ember_buf_init(&b);
    int64_t k = 7, v = -3;
    assert_int_equal(
        ember_rec_text(ip, (ember_rec){ember_bytes_of(&k, 8), ember_bytes_of(&v, 8)}, &b), 0);
    assert_int_equal(b.len, strlen("(7, -3)"));
    assert_memory_equal(b.ptr, "(7, -3)", b.len);
    ember_rdd *raw = ember_parallelize(ctx, (ember_bytes[]){ember_bytes_of("a\n\x01", 3)}, 1, 1);
    assert_int_equal(ember_rec_text(raw, (ember_rec){.val = ember_bytes_of("a\n\x01", 3)}, &b), 0);
    assert_int_equal(b.len, strlen("a\\x0a\\x01"));
    assert_memory_equal(b.ptr, "a\\x0a\\x01", b.len);
    ember_buf_destroy(&b);
    /* sources know their kinds */
    char txt[300];
    snprintf(txt, sizeof txt, "%s/t.txt", dir);
    FILE *f = fopen(txt, "w");
    fputs("{\"a\": 1}\n", f);
    fclose(f);
    assert_int_equal(ember_value_kind(ember_text_file(ctx, txt, 1)), EMBER_KIND_STRING);
    assert_int_equal(ember_value_kind(ember_read_json_lines(ctx, txt, NULL)), EMBER_KIND_JSON);
    assert_int_equal(ember_key_kind(ember_whole_text_files(ctx, txt, 1)), EMBER_KIND_STRING);
    assert_int_equal(ember_value_kind(ember_map(ember_range(ctx, 0, 3, 1, 1), negate_key, NULL)),
                     EMBER_KIND_BYTES); /* made by a user function: not known */
    ember_close(ctx);
    assert_int_equal(remove_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_follows_the_kind),
        cmocka_unit_test(test_int_keys),
        cmocka_unit_test(test_text_and_printing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
