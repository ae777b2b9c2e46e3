/* What only a distributed context has: ranks, rank 0's broadcast, files read
 * and written by every rank, one message for a failure on any rank (in a task,
 * or building an rdd on one rank alone), take that
 * computes only what it needs, checkpoint files every rank reads. Run by tests/mpi/run.sh at 1 to 4
 * ranks; also correct as a local program (one rank). With the argument "die", rank 1 (or the only
 * rank) exits in the middle of a task: the launcher must end the job with a non-zero status
 * (tests/mpi/rank_death.sh). */
#include <sqlite3.h>
#include <unistd.h>

#include <ember/db.h>

#include "support.h"

static ember_ctx *open_dist(void)
{
    return open_ctx("local[2]"); /* mpi[2,1] under tests/mpi/run.sh */
}

static void test_ranks_and_broadcast(void **state)
{
    ember_ctx *ctx = open_dist();
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    int ranks = size ? atoi(size) : 1;
    assert_int_equal(ember_ranks(ctx), ranks);
    assert_int_equal(ember_is_driver(ctx), ember_rank(ctx) == 0);
    /* each rank offers its own bytes: every rank gets rank 0's */
    char mine[32];
    snprintf(mine, sizeof mine, "from rank %d", ember_rank(ctx));
    ember_broadcast *bc = ember_broadcast_create(ctx, mine, strlen(mine));
    assert_non_null(bc);
    assert_bytes(ember_broadcast_value(bc), "from rank 0");
    ember_close(ctx);
}

static int tag_line(ember_rec in, ember_out *out, void *arg)
{
    ember_accumulator *acc = arg;
    if (acc && ember_accumulator_add_i64(acc, 1))
        return EMBER_EINVAL;
    char b[64];
    int n = snprintf(b, sizeof b, "<%.*s>", (int)in.val.len, (const char *)in.val.ptr);
    return ember_emit(out, ember_bytes_of(b, (size_t)n));
}

static void test_files_read_and_written_by_every_rank(void **state)
{
    ember_ctx *ctx = open_dist();
    enum { N = 5000 };
    static char text[N * 12];
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "line %d\n", i);
    tmp_write("in.txt", text, len);
    ember_rdd *lines = ember_text_file(ctx, tmp_path("in.txt"), 7);
    ember_result *res;
    assert_int_equal(ember_collect(lines, &res), 0);
    assert_int_equal(ember_result_len(res), N); /* the same splits on every rank */
    for (int i = 0; i < N; i += 499) {
        char want[16];
        snprintf(want, sizeof want, "line %d", i);
        assert_bytes(ember_result_at(res, (size_t)i).val, want);
    }
    ember_result_free(res);

    /* every rank writes its parts; rank 0 commits; every rank sees the result */
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    const char *dir = tmp_path("out");
    assert_int_equal(ember_save_as_text_file(ember_map(lines, tag_line, acc), dir, NULL), 0);
    char success[300];
    snprintf(success, sizeof success, "%s/_SUCCESS", dir);
    assert_int_equal(access(success, F_OK), 0);
    int64_t calls;
    assert_int_equal(ember_accumulator_value_i64(acc, &calls), 0);
    assert_int_equal(calls, N); /* every rank's tasks, counted on every rank */
    ember_rdd *back = ember_text_file(ctx, dir, 1);
    assert_int_equal(count_of(back), N);
    ember_result *first;
    assert_int_equal(ember_take(back, 1, &first), 0);
    assert_bytes(ember_result_at(first, 0).val, "<line 0>");
    ember_result_free(first);
    /* saving again: the same refusal on every rank */
    assert_int_equal(ember_save_as_text_file(lines, dir, NULL), EMBER_EINVAL);
    assert_msg(ctx, "already exists");
    ember_close(ctx);
}

static int fail_in_partition_1(ember_iter *in, ember_out *out, int index, void *arg)
{
    ember_rec r;
    int rc;
    if (index == 1)
        return -77;
    while ((rc = ember_iter_next(in, &r)) == 1)
        if ((rc = ember_emit_rec(out, r)))
            return rc;
    return rc;
}

static void test_one_failure_one_message(void **state)
{
    ember_ctx *ctx = open_dist();
    int64_t n;
    ember_rdd *r = ember_map_partitions(ember_range(ctx, 0, 400, 1, 4), fail_in_partition_1, NULL);
    assert_int_equal(ember_count(r, &n), -77);
    /* the same words on every rank, whichever ran partition 1 */
    assert_msg(ctx, "count failed: task for partition 1 of rdd");
    assert_msg(ctx, "returned -77");
    /* usable after */
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 3)), 10);
    ember_close(ctx);
}

/* An rdd that could not be built on one rank alone (here the last rank's file
 * is missing): every rank's action fails with that rank's message before any
 * collective of the job (no rank is left waiting in one the other never
 * calls), and the context stays usable on every rank. */
static void test_a_failure_on_one_rank_alone(void **state)
{
    ember_ctx *ctx = open_dist();
    tmp_write("here.txt", "a\nb\nc\n", 6);
    bool last = ember_rank(ctx) == ember_ranks(ctx) - 1;
    ember_rdd *lines = ember_text_file(ctx, tmp_path(last ? "missing.txt" : "here.txt"), 2);
    int64_t n;
    assert_int_not_equal(ember_count(lines, &n), 0);
    assert_msg(ctx, "missing.txt");
    if (ember_ranks(ctx) > 1 && !last) {
        char on[32];
        snprintf(on, sizeof on, "(on rank %d)", ember_ranks(ctx) - 1);
        assert_msg(ctx, on);
    }
    assert_int_equal(count_of(ember_range(ctx, 0, 10, 1, 3)), 10);
    ember_close(ctx);
}

/* ember_read_db's ranges are rank 0's: each rank here reads its own SQLite
 * file, rank r's holding ids 1 to 100 (r + 1), one partition a rank. Taken
 * from rank 0's range (1 to 100), the last rank's partition (from its start
 * up) reads every id above 100 of its file: 100 x ranks rows in all. Ranges
 * taken from each rank's own file would leave rows out (150 at 2 ranks), as
 * rows written between the ranks' questions would. */
static void test_db_ranges_are_rank_0s(void **state)
{
    ember_ctx *ctx = open_dist();
    int ranks = ember_ranks(ctx);
    char name[32];
    snprintf(name, sizeof name, "ids-%d.db", ember_rank(ctx));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(tmp_path(name), &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof sql,
             "CREATE TABLE t (id INTEGER); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
             "i + 1 FROM n WHERE i < %d) INSERT INTO t SELECT i FROM n",
             100 * (ember_rank(ctx) + 1));
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char url[320];
    snprintf(url, sizeof url, "sqlite:%s", tmp_path(name));
    ember_rdd *rows =
        ember_read_db(ctx, &(ember_db_conf){.url = url}, "SELECT id FROM t", "id", 0, 0, ranks);
    assert_int_equal(count_of(rows), 100 * ranks);
    ember_close(ctx);
}

static void test_take_computes_what_it_needs(void **state)
{
    ember_ctx *ctx = open_dist();
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    ember_rdd *r = ember_map(ember_range(ctx, 0, 800, 1, 8), tag_line, acc);
    ember_result *res;
    assert_int_equal(ember_take(r, 3, &res), 0);
    assert_int_equal(ember_result_len(res), 3);
    ember_result_free(res);
    int64_t calls;
    assert_int_equal(ember_accumulator_value_i64(acc, &calls), 0);
    assert_int_equal(calls, 3); /* partition 0 alone, wherever it ran, stopped at 3 */
    ember_close(ctx);
}

static int times_ten(ember_rec in, ember_out *out, void *acc)
{
    int rc = ember_accumulator_add_i64(acc, 1);
    return rc ? rc : ember_emit_i64(out, ember_i64(in.val) * 10);
}

/* checkpoint: each rank writes the partitions it computed into rank 0's
 * directory (one set of files every rank reads); a task may then read any
 * partition, wherever it was computed (coalesce to one); local_checkpoint,
 * whose partitions stay with the rank that computed them, is refused */
static void test_checkpoint_on_every_rank(void **state)
{
    ember_ctx *ctx = open_dist();
    ember_accumulator *acc = ember_accumulator_i64(ctx, 0);
    ember_rdd *r = ember_map(ember_range(ctx, 0, 100, 1, 5), times_ten, acc);
    assert_int_equal(ember_set_checkpoint_dir(ctx, tmp_path("ck")), 0);
    assert_int_equal(ember_checkpoint(r), 0);
    int64_t sum = 0, calls = 0;
    assert_int_equal(ember_sum_i64_values(r, &sum), 0);
    assert_int_equal(sum, 99 * 100 * 10 / 2);
    assert_true(ember_is_checkpointed(r));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls %s/*/rdd-*/part-* | wc -l) = 5", tmp_path("ck"));
    assert_int_equal(system(cmd), 0); /* one set of files, every rank's among them */
    ember_rdd *one = ember_coalesce(r, 1);
    assert_int_equal(ember_sum_i64_values(one, &sum), 0);
    assert_int_equal(sum, 99 * 100 * 10 / 2);
    ember_buf top;
    ember_buf_init(&top);
    assert_int_equal(ember_max(r, NULL, NULL, &top), 0); /* the kind, learned before the cut */
    assert_int_equal(ember_i64(ember_buf_bytes(&top)), 990);
    ember_buf_destroy(&top);
    assert_int_equal(ember_accumulator_value_i64(acc, &calls), 0);
    assert_int_equal(calls, 100); /* computed once, read back after */
    ember_rdd *l = ember_map(ember_range(ctx, 0, 10, 1, 2), times_ten, acc);
    if (ember_ranks(ctx) > 1) {
        assert_int_equal(ember_local_checkpoint(l), EMBER_ENOTSUP);
        assert_msg(ctx, "not supported on the MPI backend");
    } else {
        assert_int_equal(ember_local_checkpoint(l), 0);
        assert_int_equal(count_of(l), 10);
    }
    bool rank0 = ember_rank(ctx) == 0;
    ember_close(ctx);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", tmp_path("ck"));
    if (rank0) /* removed at close, by rank 0 */
        assert_int_equal(system(cmd), 0);
}

static int die_in_task(ember_rec in, ember_out *out, void *arg)
{
    ember_ctx *ctx = arg;
    (void)ctx;
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    bool victim = !size || atoi(size) == 1 ? true : rank && atoi(rank) == 1;
    if (victim && ember_i64(in.val) == 150)
        _exit(7); /* a rank that dies: no message, no MPI_Finalize */
    return ember_emit(out, in.val);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "die")) {
        ember_ctx *ctx = open_dist();
        int64_t n;
        ember_count(ember_map(ember_range(ctx, 0, 400, 1, 4), die_in_task, ctx), &n);
        fprintf(stderr, "rank %d: the job ended without the dead rank\n", ember_rank(ctx));
        ember_close(ctx);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_and_broadcast),
        cmocka_unit_test(test_files_read_and_written_by_every_rank),
        cmocka_unit_test(test_one_failure_one_message),
        cmocka_unit_test(test_a_failure_on_one_rank_alone),
        cmocka_unit_test(test_db_ranges_are_rank_0s),
        cmocka_unit_test(test_take_computes_what_it_needs),
        cmocka_unit_test(test_checkpoint_on_every_rank),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
