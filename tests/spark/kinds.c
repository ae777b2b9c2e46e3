/* Values that know their kind: the defaults of every action and output that
 * orders, prints or places values follow the kind (numbers as numbers, as
 * Spark and PySpark do), bytes keep the byte order, and the kind travels
 * through the transformations that keep records as they are. */
#include <dirent.h>
#include <errno.h>
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

/* The test's scratch directory: under mpirun the launcher's, which every rank
 * sees (and tests/mpi/run.sh removes) */
static void dir_make(void)
{
    const char *shared = getenv("EMBER_TEST_DIR");
    if (shared) {
        snprintf(dir, sizeof dir, "%s/kinds", shared);
        assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
        return;
    }
    snprintf(dir, sizeof dir, "/tmp/ember-kinds-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void dir_remove(void)
{
    if (!getenv("EMBER_TEST_DIR"))
        assert_int_equal(remove_tree(dir), 0);
}

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
    dir_make();
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
    dir_remove();
}

/* ---------------------------------------------------------------- kinds from typed emits */

static int64_t parse(ember_bytes b)
{
    char s[32];
    size_t n = b.len < sizeof s - 1 ? b.len : sizeof s - 1;
    memcpy(s, b.ptr, n);
    s[n] = 0;
    return strtoll(s, NULL, 10);
}

static int to_i64(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_i64(out, parse(in.val));
}

static int to_i64_counted(ember_rec in, ember_out *out, void *acc)
{
    int rc = ember_accumulator_add_i64(acc, 1);
    return rc ? rc : ember_emit_i64(out, parse(in.val));
}

static int to_f64(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_f64(out, (double)parse(in.val));
}

static int to_str(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    char s[32];
    snprintf(s, sizeof s, "n%lld", (long long)parse(in.val));
    return ember_emit_str(out, s);
}

static int to_raw8(ember_rec in, ember_out *out, void *arg) /* 8 bytes, untyped */
{
    (void)arg;
    int64_t v = parse(in.val);
    return ember_emit(out, ember_bytes_of(&v, 8));
}

static int to_pair_f64(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit_pair_f64(out, in.val, (double)parse(in.val));
}

static int keep_all(ember_rec in, void *arg)
{
    (void)in;
    (void)arg;
    return 1;
}

/* "3", "256", "-1", "10" in 3 partitions, the first empty (the probe scans on) */
static ember_rdd *numbers(ember_ctx *ctx)
{
    ember_bytes s[] = {B("3"), B("256"), B("-1"), B("10")};
    return ember_parallelize(ctx, s, 4, 5);
}

static void max_is(ember_rdd *r, int64_t want)
{
    ember_buf b;
    ember_buf_init(&b);
    assert_int_equal(ember_max(r, NULL, NULL, &b), 0);
    assert_int_equal(i64_of(&b), want);
    ember_buf_destroy(&b);
}

/* A user function's typed emits give its values' kind (ember_emit_i64: int64),
 * for the first action as for every later one, cached or checkpointed */
static void test_kinds_from_typed_emits(void **state)
{
    (void)state;
    ember_ctx *ctx = open_ctx("local[2]");
    ember_accumulator *calls = ember_accumulator_i64(ctx, 0);
    ember_rdd *m = ember_map(numbers(ctx), to_i64_counted, calls);
    max_is(m, 256); /* by bytes it was -1 */
    int64_t ran = 0;
    assert_int_equal(ember_accumulator_value_i64(calls, &ran), 0);
    assert_int_equal(ran, 4); /* the probe's run of the first record is not the program's */
    assert_int_equal(ember_value_kind(m), EMBER_KIND_I64);
    ember_buf b;
    ember_buf_init(&b);
    assert_int_equal(ember_min(m, NULL, NULL, &b), 0);
    assert_int_equal(i64_of(&b), -1);
    ember_result *res;
    assert_int_equal(ember_take_ordered(ember_map(numbers(ctx), to_i64, NULL), 3, NULL, NULL, &res),
                     0);
    int64_t want[] = {-1, 3, 10};
    for (int i = 0; i < 3; i++)
        assert_int_equal(ember_i64(ember_result_at(res, (size_t)i).val), want[i]);
    ember_result_free(res);
    /* through the transformations that keep records, built before any action */
    ember_rdd *fresh = ember_map(numbers(ctx), to_i64, NULL);
    ember_rdd *kept = ember_distinct(ember_filter(ember_coalesce(fresh, 2), keep_all, NULL), 2);
    max_is(kept, 256);
    assert_int_equal(ember_count_by_value(ember_map(numbers(ctx), to_i64, NULL), &res), 0);
    int64_t keys[] = {-1, 3, 10, 256};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ember_i64(ember_result_at(res, i).key), keys[i]);
    ember_result_free(res);
    /* cached before the kind was asked: the same answer */
    ember_rdd *cached = ember_persist(ember_map(numbers(ctx), to_i64, NULL), EMBER_MEMORY_ONLY);
    assert_int_equal(count_of(cached), 4);
    max_is(cached, 256);
    /* checkpointed (its parents gone) before the kind was asked: the same */
    ember_rdd *cut = ember_map(numbers(ctx), to_i64, NULL);
    if (ember_ranks(ctx) > 1) { /* not on the MPI backend: said so */
        assert_int_equal(ember_local_checkpoint(cut), EMBER_ENOTSUP);
        assert_msg(ctx, "not supported on the MPI backend");
    } else {
        assert_int_equal(ember_local_checkpoint(cut), 0);
        assert_int_equal(count_of(cut), 4);
        max_is(cut, 256);
    }
    /* other typed emits; untyped ones stay bytes; a declaration wins */
    assert_int_equal(ember_value_kind(ember_flat_map(numbers(ctx), to_f64, NULL)), EMBER_KIND_F64);
    assert_int_equal(ember_value_kind(ember_map(numbers(ctx), to_str, NULL)), EMBER_KIND_STRING);
    ember_rdd *raw = ember_map(numbers(ctx), to_raw8, NULL);
    assert_int_equal(ember_value_kind(raw), EMBER_KIND_BYTES);
    max_is(raw, -1); /* bytes keep the byte order */
    max_is(ember_as_kind(ember_map(numbers(ctx), to_i64, NULL), EMBER_KIND_BYTES), -1);
    /* pair values: ember_emit_pair_f64 */
    ember_rdd *pf = ember_values(ember_map(numbers(ctx), to_pair_f64, NULL));
    assert_int_equal(ember_value_kind(pf), EMBER_KIND_F64);
    assert_int_equal(ember_max(pf, NULL, NULL, &b), 0);
    assert_true(ember_f64(ember_buf_bytes(&b)) == 256.0);
    /* union: one kind, or bytes */
    ember_rdd *a = ember_map(numbers(ctx), to_i64, NULL);
    assert_int_equal(ember_value_kind(ember_union(a, ember_map(numbers(ctx), to_i64, NULL))),
                     EMBER_KIND_I64);
    assert_int_equal(ember_value_kind(ember_union(a, ember_map(numbers(ctx), to_str, NULL))),
                     EMBER_KIND_BYTES);
    /* zip_with_index: the record as the key, its int64 index as the value */
    ember_rdd *zi = ember_zip_with_index(ember_map(numbers(ctx), to_i64, NULL));
    assert_int_equal(ember_key_kind(zi), EMBER_KIND_I64);
    assert_int_equal(ember_value_kind(zi), EMBER_KIND_I64);
    ember_result *kr;
    assert_int_equal(ember_collect(ember_sort_by_key(zi, true, NULL, NULL, 1), &kr), 0);
    assert_int_equal(ember_i64(ember_result_at(kr, 0).key), -1);
    assert_int_equal(ember_i64(ember_result_at(kr, 0).val), 2); /* -1 was the third */
    ember_result_free(kr);
    /* an empty rdd: nothing to learn, bytes */
    assert_int_equal(ember_value_kind(ember_map(ember_parallelize(ctx, NULL, 0, 2), to_i64, NULL)),
                     EMBER_KIND_BYTES);
    /* readable records */
    int64_t ten = 10;
    assert_int_equal(ember_rec_text(m, (ember_rec){.val = ember_bytes_of(&ten, 8)}, &b), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.ptr, "10", 2);
    ember_buf_destroy(&b);
    ember_close(ctx);
}

/* Keys from a key function's typed emit: sort_by and sort_by_key in numeric
 * order, whole records kept; text on disk and into a command as decimals */
static void test_learned_kinds_order_and_text(void **state)
{
    (void)state;
    dir_make();
    ember_ctx *ctx = open_ctx("local[2]");
    ember_result *res;
    assert_int_equal(
        ember_collect(ember_sort_by(numbers(ctx), to_i64, NULL, true, NULL, NULL, 2), &res), 0);
    const char *order[] = {"-1", "3", "10", "256"}; /* by bytes: 256, 3, 10, -1 */
    assert_int_equal(ember_result_len(res), 4);
    for (size_t i = 0; i < 4; i++)
        assert_bytes(ember_result_at(res, i).val, order[i]);
    ember_result_free(res);
    ember_rdd *keyed = ember_key_by(numbers(ctx), to_i64, NULL);
    assert_int_equal(ember_collect(ember_sort_by_key(keyed, false, NULL, NULL, 3), &res), 0);
    const char *desc[] = {"256", "10", "3", "-1"};
    for (size_t i = 0; i < 4; i++) {
        assert_bytes(ember_result_at(res, i).val, desc[i]);
        assert_int_equal(ember_i64(ember_result_at(res, i).key), parse(ember_str(desc[i])));
    }
    ember_result_free(res);
    assert_int_equal(ember_key_kind(keyed), EMBER_KIND_I64);
    /* save_as_text_file: decimal lines on disk */
    char out[300];
    snprintf(out, sizeof out, "%s/learned", dir);
    assert_int_equal(ember_save_as_text_file(ember_map(numbers(ctx), to_i64, NULL), out, NULL), 0);
    assert_string_equal(read_parts(out), "3\n256\n-1\n10\n");
    /* pipe: the command reads decimal text */
    assert_int_equal(
        ember_collect(ember_pipe(ember_map(numbers(ctx), to_i64, NULL), "sed s/^/x/"), &res), 0);
    const char *piped[] = {"x3", "x256", "x-1", "x10"};
    assert_int_equal(ember_result_len(res), 4);
    for (size_t i = 0; i < 4; i++)
        assert_bytes(ember_result_at(res, i).val, piped[i]);
    ember_result_free(res);
    /* a function over what calls out (a command, HTTP, a database) is not run
     * again to learn its kind: bytes, unless declared; past a shuffle (whose
     * output is kept) it is */
    ember_rdd *piped_nums = ember_pipe(numbers(ctx), "cat");
    assert_int_equal(ember_value_kind(ember_map(piped_nums, to_i64, NULL)), EMBER_KIND_BYTES);
    ember_rdd *moved = ember_map(ember_repartition(piped_nums, 2), to_i64, NULL);
    assert_int_equal(ember_value_kind(moved), EMBER_KIND_I64);
    max_is(moved, 256);
    ember_close(ctx);
    dir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_follows_the_kind),
        cmocka_unit_test(test_int_keys),
        cmocka_unit_test(test_text_and_printing),
        cmocka_unit_test(test_kinds_from_typed_emits),
        cmocka_unit_test(test_learned_kinds_order_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
