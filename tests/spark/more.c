/* More of Spark's RDD against its documented behaviour (PySpark's doctests
 * were the reference; the cases are ours): zip, mapPartitionsWithIndex,
 * randomSplit, sampleByKey, pipe, toLocalIterator, takeSample,
 * treeAggregate, countApproxDistinct, histogram over strings, and the
 * approximate count, sum and mean. */
#include "support.h"

static void test_zip(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *a = ember_range(ctx, 0, 5, 1, 2), *b = ember_range(ctx, 1000, 1005, 1, 2);
    ember_result *res;
    assert_int_equal(ember_collect(ember_zip(a, b), &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ember_i64(ember_result_at(res, i).key), (int64_t)i);
        assert_int_equal(ember_i64(ember_result_at(res, i).val), 1000 + (int64_t)i);
    }
    ember_result_free(res);
    assert_int_equal(ember_key_kind(ember_zip(a, b)), EMBER_KIND_I64);
    /* unequal partitions: named */
    int64_t n;
    assert_int_not_equal(ember_count(ember_zip(a, ember_range(ctx, 0, 6, 1, 2)), &n), 0);
    assert_msg(ctx, "zip: partition");
    assert_int_not_equal(ember_count(ember_zip(a, ember_range(ctx, 0, 5, 1, 3)), &n), 0);
    assert_msg(ctx, "zip: the rdds have 2 and 3 partitions");
    ember_close(ctx);
}

static int emit_index(ember_iter *in, ember_out *out, int index, void *arg)
{
    return ember_emit_i64(out, index);
}

static void test_splits_and_samples(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* mapPartitionsWithIndex: the doctest's sum of indexes 0..3 */
    int64_t sum = 0;
    assert_int_equal(
        ember_sum_i64_values(
            ember_map_partitions_with_index(ember_range(ctx, 1, 5, 1, 4), emit_index, NULL), &sum),
        0);
    assert_int_equal(sum, 6);
    /* randomSplit: every record in exactly one split, about by the weights */
    ember_rdd *src = ember_range(ctx, 0, 500, 1, 3), *parts[2];
    assert_int_equal(ember_random_split(src, (double[]){2, 3}, 2, 17, parts), 0);
    int64_t n0 = count_of(parts[0]), n1 = count_of(parts[1]);
    assert_int_equal(n0 + n1, 500);
    assert_true(n0 > 150 && n0 < 250);
    assert_int_equal(count_of(ember_distinct(ember_union(parts[0], parts[1]), 2)), 500);
    assert_int_equal(count_of(parts[0]), n0); /* the same draws again */
    assert_int_not_equal(ember_random_split(src, (double[]){1, -1}, 2, 1, parts), 0);
    /* sampleByKey: each key at its fraction */
    ember_rec *kv = calloc(2000, sizeof *kv);
    for (int i = 0; i < 2000; i++)
        kv[i] = (ember_rec){i % 2 ? B("b") : B("a"), B("v")};
    ember_rdd *pairs = ember_parallelize_pairs(ctx, kv, 2000, 4);
    free(kv);
    ember_bytes keys[] = {B("a"), B("b")};
    ember_result *cnt;
    assert_int_equal(ember_count_by_key(
                         ember_sample_by_key(pairs, false, keys, (double[]){0.1, 0.5}, 2, 7), &cnt),
                     0);
    int64_t ca = ember_i64(ember_result_at(cnt, 0).val),
            cb = ember_i64(ember_result_at(cnt, 1).val);
    ember_result_free(cnt);
    assert_true(ca > 50 && ca < 150);
    assert_true(cb > 430 && cb < 570);
    int64_t n;
    assert_int_not_equal(
        ember_count(ember_sample_by_key(pairs, false, keys, (double[]){0.5}, 1, 1), &n), 0);
    assert_msg(ctx, "sample_by_key: no fraction for a key");
    /* sampleByKeyExact: exactly ceil(f * count) a key, the same with the same seed */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(
            ember_count_by_key(
                ember_sample_by_key_exact(pairs, false, keys, (double[]){0.1, 0.333}, 2, 42), &cnt),
            0);
        assert_int_equal(ember_i64(ember_result_at(cnt, 0).val), 100); /* ceil(0.1 * 1000) */
        assert_int_equal(ember_i64(ember_result_at(cnt, 1).val), 333); /* ceil(0.333 * 1000) */
        ember_result_free(cnt);
    }
    /* the same seed, the same records: pairs numbered by their value */
    ember_rec *nk = calloc(400, sizeof *nk);
    int64_t *vals = calloc(400, sizeof *vals);
    for (int i = 0; i < 400; i++) {
        vals[i] = i;
        nk[i] = (ember_rec){i % 2 ? B("b") : B("a"), ember_bytes_of(&vals[i], 8)};
    }
    ember_rdd *numbered = ember_parallelize_pairs(ctx, nk, 400, 3);
    ember_result *s1, *s2;
    assert_int_equal(
        ember_collect(
            ember_sample_by_key_exact(numbered, false, keys, (double[]){0.05, 0.05}, 2, 5), &s1),
        0);
    assert_int_equal(
        ember_collect(
            ember_sample_by_key_exact(numbered, false, keys, (double[]){0.05, 0.05}, 2, 5), &s2),
        0);
    assert_int_equal(ember_result_len(s1), 20);
    assert_int_equal(ember_result_len(s2), 20);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(ember_i64(ember_result_at(s1, i).val),
                         ember_i64(ember_result_at(s2, i).val));
    ember_result_free(s1);
    ember_result_free(s2);
    /* with replacement: exactly ceil(f * count) a key, f above 1 allowed */
    assert_int_equal(
        ember_count_by_key(
            ember_sample_by_key_exact(pairs, true, keys, (double[]){1.5, 0.25}, 2, 3), &cnt),
        0);
    assert_int_equal(ember_i64(ember_result_at(cnt, 0).val), 1500);
    assert_int_equal(ember_i64(ember_result_at(cnt, 1).val), 250);
    ember_result_free(cnt);
    /* each record of its key, some more than once; the same seed, the same
     * sample; another seed, another */
    ember_result *r[3];
    for (int k = 0; k < 3; k++)
        assert_int_equal(
            ember_collect(ember_sample_by_key_exact(numbered, true, keys, (double[]){1.0, 0.5}, 2,
                                                    k < 2 ? 11 : 12),
                          &r[k]),
            0);
    assert_int_equal(ember_result_len(r[0]), 300); /* 200 of "a", 100 of "b" */
    int hits[400] = {0}, na = 0, distinct_a = 0;
    for (size_t i = 0; i < 300; i++) {
        ember_rec rec = ember_result_at(r[0], i);
        int64_t v = ember_i64(rec.val);
        assert_true(v >= 0 && v < 400);
        assert_int_equal(rec.key.len, 1);
        assert_int_equal(*(const char *)rec.key.ptr, v % 2 ? 'b' : 'a'); /* its own key */
        na += v % 2 == 0;
        distinct_a += v % 2 == 0 && hits[v]++ == 0;
    }
    assert_int_equal(na, 200);
    /* 200 picks of 200 records: about 200 (1 - 1/e) = 126 distinct */
    assert_true(distinct_a > 100 && distinct_a < 150);
    assert_int_equal(ember_result_len(r[1]), 300);
    bool same = true, other = false;
    for (size_t i = 0; i < 300; i++) {
        same &= ember_i64(ember_result_at(r[0], i).val) == ember_i64(ember_result_at(r[1], i).val);
        other |= ember_i64(ember_result_at(r[0], i).val) != ember_i64(ember_result_at(r[2], i).val);
    }
    assert_true(same);
    assert_true(other);
    for (int k = 0; k < 3; k++)
        ember_result_free(r[k]);
    /* every key needs a fraction */
    ember_rdd *missing = ember_sample_by_key_exact(pairs, true, keys, (double[]){0.5}, 1, 1);
    assert_int_not_equal(ember_count(missing, &n), 0);
    assert_msg(ctx, "no fraction for a key");
    free(nk);
    free(vals);
    ember_close(ctx);
}

static void test_pipe(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_bytes words[] = {B("a"), B("b"), B("c")};
    ember_result *res;
    assert_int_equal(
        ember_collect(ember_pipe(ember_parallelize(ctx, words, 3, 2), "tr a-z A-Z"), &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    assert_bytes(ember_result_at(res, 0).val, "A");
    assert_bytes(ember_result_at(res, 2).val, "C");
    ember_result_free(res);
    /* numbers as decimal lines; a lot of them through the pipes both ways */
    ember_rdd *back = ember_pipe(ember_range(ctx, 0, 200000, 1, 2), "cat");
    assert_int_equal(count_of(back), 200000);
    assert_int_equal(ember_collect(ember_pipe(ember_range(ctx, 8, 12, 1, 1), "cat"), &res), 0);
    assert_bytes(ember_result_at(res, 2).val, "10");
    ember_result_free(res);
    /* a command that fails: its status and its first error line */
    int64_t n;
    assert_int_not_equal(
        ember_count(ember_pipe(ember_range(ctx, 0, 10, 1, 2), "echo broken >&2; exit 3"), &n), 0);
    assert_msg(ctx, "exited with status 3");
    assert_msg(ctx, "broken");
    /* a command that reads nothing and answers once a partition */
    assert_int_equal(count_of(ember_pipe(ember_range(ctx, 0, 100000, 1, 2), "echo done")), 2);
    ember_close(ctx);
}

static int sum_into(ember_bytes a, ember_bytes b, ember_buf *res, void *arg)
{
    return ember_buf_set_i64(res, ember_i64(a) + ember_i64(b));
}

static void test_actions(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* toLocalIterator: in order, a job a partition */
    ember_rdd *r = ember_range(ctx, 0, 100, 1, 4);
    ember_local_iter *it;
    assert_int_equal(ember_to_local_iterator(r, &it), 0);
    int64_t jobs = ember_job_count(ctx), want = 0;
    ember_rec rec;
    int more;
    while ((more = ember_local_iter_next(it, &rec)) == 1)
        assert_int_equal(ember_i64(rec.val), want++);
    assert_int_equal(more, 0);
    assert_int_equal(want, 100);
    assert_int_equal(ember_job_count(ctx), jobs + 4);
    ember_local_iter_free(it);
    /* takeSample: the doctest's sizes; the same seed the same sample */
    ember_rdd *ten = ember_range(ctx, 0, 10, 1, 2);
    ember_result *s1, *s2;
    assert_int_equal(ember_take_sample(ten, true, 20, 1, &s1), 0);
    assert_int_equal(ember_result_len(s1), 20);
    ember_result_free(s1);
    assert_int_equal(ember_take_sample(ten, false, 15, 3, &s1), 0);
    assert_int_equal(ember_result_len(s1), 10);
    ember_result_free(s1);
    assert_int_equal(ember_take_sample(ten, false, 5, 2, &s1), 0);
    assert_int_equal(ember_take_sample(ten, false, 5, 2, &s2), 0);
    assert_int_equal(ember_result_len(s1), 5);
    int seen[10] = {0};
    for (size_t i = 0; i < 5; i++) {
        int64_t v = ember_i64(ember_result_at(s1, i).val);
        assert_true(v >= 0 && v < 10 && !seen[v]); /* without replacement: distinct */
        seen[v] = 1;
        assert_int_equal(v, ember_i64(ember_result_at(s2, i).val));
    }
    ember_result_free(s1);
    ember_result_free(s2);
    /* treeAggregate */
    int64_t zero = 0;
    ember_buf out;
    ember_buf_init(&out);
    assert_int_equal(ember_tree_aggregate(ember_range(ctx, 1, 101, 1, 7), ember_bytes_of(&zero, 8),
                                          sum_into, sum_into, NULL, 2, &out),
                     0);
    assert_int_equal(ember_i64(ember_buf_bytes(&out)), 5050);
    ember_buf_destroy(&out);
    ember_close(ctx);
}

static int as_text_mod(ember_rec in, ember_out *out, void *arg)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)(ember_i64(in.val) % *(int *)arg));
    return ember_emit_str(out, s);
}

static void test_distinct_histogram_approx(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    /* countApproxDistinct: the doctest's 1,000 strings and 20 residues */
    int thousand = 1000, twenty = 20;
    int64_t n;
    assert_int_equal(
        ember_count_approx_distinct(
            ember_map(ember_range(ctx, 0, 1000, 1, 4), as_text_mod, &thousand), 0.05, &n),
        0);
    assert_true(n > 900 && n < 1100);
    assert_int_equal(
        ember_count_approx_distinct(
            ember_map(ember_range(ctx, 0, 1000, 1, 4), as_text_mod, &twenty), 0.05, &n),
        0);
    assert_true(n > 18 && n < 22);
    assert_int_not_equal(ember_count_approx_distinct(ember_range(ctx, 0, 5, 1, 1), 0.5, &n), 0);
    /* histogram over strings, and over int64 by their kind */
    ember_bytes letters[] = {B("a"), B("b"), B("c"), B("d"), B("x"), B("e")};
    ember_bytes edges[] = {B("a"), B("c"), B("e")};
    int64_t counts[2];
    assert_int_equal(
        ember_histogram_by(ember_parallelize(ctx, letters, 6, 2), edges, 3, NULL, NULL, counts), 0);
    assert_int_equal(counts[0], 2); /* a, b */
    assert_int_equal(counts[1], 3); /* c, d, and e: the last bucket holds its edge */
    int64_t e[] = {0, 5, 9};
    ember_bytes ie[] = {ember_bytes_of(&e[0], 8), ember_bytes_of(&e[1], 8),
                        ember_bytes_of(&e[2], 8)};
    assert_int_equal(ember_histogram_by(ember_range(ctx, -3, 12, 1, 3), ie, 3, NULL, NULL, counts),
                     0);
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 5);
    assert_int_not_equal(ember_histogram_by(ember_range(ctx, 0, 3, 1, 1),
                                            (ember_bytes[]){ie[1], ie[0]}, 2, NULL, NULL, counts),
                         0);
    /* approximate: with time enough, exact */
    ember_rdd *r = ember_range(ctx, 0, 1000, 1, 8);
    ember_bounded b;
    assert_int_equal(ember_count_approx(r, 600000, 0.95, &b), 0);
    assert_true(b.mean == 1000 && b.low == 1000 && b.high == 1000 && b.confidence == 1.0);
    assert_int_equal(ember_sum_approx(r, 600000, 0.95, &b), 0);
    assert_true(b.mean == 499500 && b.confidence == 1.0);
    assert_int_equal(ember_mean_approx(r, 600000, 0.95, &b), 0);
    assert_true(b.mean == 499.5);
    /* no time at all: one wave's partitions, bounds around the estimate */
    int64_t *v = malloc(1000 * sizeof *v);
    uint64_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (int64_t)(x >> 33) % 1000;
    }
    int64_t total = 0;
    for (int i = 0; i < 1000; i++)
        total += v[i];
    ember_rdd *shuffled = ember_parallelize_i64(ctx, v, 1000, 8);
    free(v);
    assert_int_equal(ember_count_approx(shuffled, 0, 0.95, &b), 0);
    assert_true(b.confidence == 0.95 && b.low <= 1000 && b.high >= 1000 && b.low < b.high);
    assert_int_equal(ember_sum_approx(shuffled, 0, 0.95, &b), 0);
    assert_true(b.low <= (double)total && b.high >= (double)total && b.low < b.high);
    assert_int_equal(ember_mean_approx(shuffled, 0, 0.95, &b), 0);
    assert_true(b.low <= total / 1000.0 && b.high >= total / 1000.0);
    ember_close(ctx);
}

/* letters a-m to partition 0, n-z to 1 */
static int halves(ember_bytes key, int nparts, void *arg)
{
    return key.len && *(const char *)key.ptr >= 'n';
}

static int too_far(ember_bytes key, int nparts, void *arg)
{
    return nparts;
}

/* Keeps every other record of each key of letter_pair (its values step by 26). */
static int every_other(ember_rec in, void *arg)
{
    (void)arg;
    return ember_i64(in.val) / 26 % 2 == 0;
}

static int parity(ember_bytes key, int nparts, void *arg)
{
    return (int)(ember_i64(key) & 1);
}

static int letter_pair(ember_rec in, ember_out *out, void *arg)
{
    char k = (char)('a' + ember_i64(in.val) % 26);
    return ember_emit_pair_i64(out, ember_bytes_of(&k, 1), ember_i64(in.val));
}

static int int_pair(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_pair_i64(out, in.val, 1);
}

static void test_partitioners(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *pairs = ember_map(ember_range(ctx, 0, 260, 1, 3), letter_pair, NULL);
    ember_rdd *byfn = ember_partition_by_fn(pairs, 2, halves, NULL);
    ember_result *res;
    assert_int_equal(ember_collect(ember_glom(byfn), &res), 0);
    for (size_t p = 0; p < 2; p++) {
        ember_iter it;
        ember_rec r;
        int n = 0;
        ember_iter_init(&it, ember_result_at(res, p).val);
        while (ember_iter_next(&it, &r) == 1) {
            assert_int_equal(*(const char *)r.key.ptr >= 'n', (int)p);
            n++;
        }
        assert_int_equal(n, 130);
    }
    ember_result_free(res);
    assert_ptr_equal(ember_partition_by_fn(byfn, 2, halves, NULL), byfn); /* no new shuffle */
    /* lookup reads the one partition the function names */
    assert_int_equal(ember_lookup(byfn, B("q"), &res), 0);
    assert_int_equal(ember_result_len(res), 10);
    ember_result_free(res);
    ember_job_stats js;
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, 1);
    /* a partition out of range is the task's failure, named */
    int64_t n;
    assert_int_not_equal(ember_count(ember_partition_by_fn(pairs, 2, too_far, NULL), &n), 0);
    assert_msg(ctx, "the partition function gave a partition outside 0 to 1");
    /* reduce_by_key with the caller's partitioner: odd keys in partition 1 */
    ember_rdd *sums = ember_with_partitioner(
        ember_reduce_by_key(ember_map(ember_range(ctx, 0, 100, 1, 4), int_pair, NULL),
                            ember_sum_i64, NULL, 2),
        parity, NULL);
    assert_int_equal(ember_collect(ember_glom(sums), &res), 0);
    for (size_t p = 0; p < 2; p++) {
        ember_iter it;
        ember_rec r;
        ember_iter_init(&it, ember_result_at(res, p).val);
        while (ember_iter_next(&it, &r) == 1)
            assert_int_equal(ember_i64(r.key) & 1, (int64_t)p);
    }
    ember_result_free(res);
    assert_int_not_equal(ember_count(ember_with_partitioner(pairs, parity, NULL), &n), 0);
    assert_msg(ctx, "with_partitioner: the rdd is not a shuffle by key");
    /* lookup on sorted data reads the key's range only */
    ember_rdd *sorted = ember_sort_by_key(pairs, true, NULL, NULL, 4);
    assert_int_equal(ember_lookup(sorted, B("c"), &res), 0); /* sampling, map side, then 1 */
    assert_int_equal(ember_result_len(res), 10);
    ember_result_free(res);
    assert_int_equal(ember_lookup(sorted, B("x"), &res), 0); /* the map side kept: 1 task */
    assert_int_equal(ember_result_len(res), 10);
    ember_result_free(res);
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, 1);
    /* and through a filter, which keeps keys where they are: still 1 task */
    ember_rdd *some = ember_filter(sorted, every_other, NULL);
    assert_int_equal(ember_lookup(some, B("x"), &res), 0);
    assert_int_equal(ember_result_len(res), 5);
    ember_result_free(res);
    assert_int_equal(ember_job_stats_get(ctx, -1, &js), 0);
    assert_int_equal(js.total.attempts, 1);
    ember_close(ctx);
}

static _Atomic int calls;
static int counted(ember_rec in, ember_out *out, void *arg)
{
    calls++;
    return ember_emit_i64(out, ember_i64(in.val) * 2);
}

/* checkpoint: computed once, written, then read back (the map never runs
 * again); local_checkpoint the same in memory; files gone at close */
static void test_checkpoint(void **state)
{
    bool procs = getenv("EMBER_TEST_PROCESS") != NULL; /* calls count in the workers then */
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/ember-ck-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *r = ember_map(ember_range(ctx, 0, 100, 1, 4), counted, NULL);
    assert_int_not_equal(ember_checkpoint(r), 0);
    assert_msg(ctx, "no checkpoint directory");
    assert_int_equal(ember_set_checkpoint_dir(ctx, dir), 0);
    assert_int_equal(ember_checkpoint(r), 0);
    assert_false(ember_is_checkpointed(r));
    calls = 0;
    int64_t sum = 0;
    assert_int_equal(ember_sum_i64_values(r, &sum), 0);
    assert_int_equal(sum, 99 * 100);
    assert_true(ember_is_checkpointed(r));
    if (!procs) /* the checkpoint's stage, and the map's first record again to learn the
                 * kind it emits before its lineage goes; the action read the output */
        assert_int_equal(calls, 101);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls %s/*/rdd-*/part-* | wc -l) = 4", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ember_sum_i64_values(r, &sum), 0);
    assert_int_equal(sum, 99 * 100);
    if (!procs)
        assert_int_equal(calls, 101); /* read back from the files: not computed again */
    /* local_checkpoint, of a declared kind: nothing to learn */
    ember_rdd *l = ember_as_i64(ember_map(ember_range(ctx, 0, 50, 1, 3), counted, NULL));
    assert_int_equal(ember_local_checkpoint(l), 0);
    calls = 0;
    assert_int_equal(count_of(l), 50);
    assert_int_equal(count_of(l), 50);
    if (!procs)
        assert_int_equal(calls, 50);
    assert_true(ember_is_checkpointed(l));
    ember_close(ctx);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", dir); /* removed at close */
    assert_int_equal(system(cmd), 0);
    assert_int_equal(remove_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zip),
        cmocka_unit_test(test_splits_and_samples),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_distinct_histogram_approx),
        cmocka_unit_test(test_partitioners),
        cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
