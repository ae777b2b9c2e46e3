/* Spill files: runs written and read back, merged in order, and damage found. */
#include <unistd.h>

#include "shuffle/shuffle.h"
#include "support.h"

static char why[300];

/* a run of n records per part, keys "k<j*step+off>" (sorted as bytes when step keeps width) */
static void write_recs(ember__spill_file *f, int parts, int n, int off)
{
    assert_int_equal(ember__run_begin(f, parts), 0);
    for (int p = 0; p < parts; p++) {
        for (int j = 0; j < n; j++) {
            char k[16], v[64];
            int kl = snprintf(k, sizeof k, "k%06d", j * 3 + off);
            memset(v, 'a' + (j % 26), sizeof v);
            ember_rec r = {ember_bytes_of(k, (size_t)kl), ember_bytes_of(v, (size_t)(j % 64))};
            assert_int_equal(ember__run_rec(f, r, why, sizeof why), 0);
        }
        assert_int_equal(ember__run_part_end(f, why, sizeof why), 0);
    }
}

static void test_round_trip_and_merge(void **state)
{
    ember__spill_file f = {.fd = -1};
    assert_int_equal(ember__spill_open(&f, "/tmp", why, sizeof why), 0);
    /* three runs of 3 parts, 5000 records a part: keys interleave across runs */
    for (int run = 0; run < 3; run++)
        write_recs(&f, 3, 5000, run);
    ember__run_done(&f);
    assert_int_equal(f.nruns, 3);
    ember__run_reader rd[3];
    for (int run = 0; run < 3; run++) {
        const uint64_t *row = f.offs + (size_t)run * 4;
        ember__reader_open(&rd[run], f.fd, row[1], row[2]); /* part 1 */
    }
    ember__order o = {NULL, NULL, 1};
    ember__merge m;
    assert_int_equal(ember__merge_start(&m, rd, 3, &o), 0);
    ember_rec r;
    int run, n = 0;
    while (ember__merge_next(&m, &r, &run) == 1) {
        char want[16];
        snprintf(want, sizeof want, "k%06d", n);
        assert_int_equal(r.key.len, 7);
        assert_memory_equal(r.key.ptr, want, 7);
        assert_int_equal(run, n % 3);
        assert_int_equal(r.val.len, (size_t)((n / 3) % 64));
        n++;
    }
    assert_int_equal(n, 15000);
    ember__merge_end(&m);
    for (int i = 0; i < 3; i++)
        ember__reader_close(&rd[i]);
    ember__spill_close(&f);
}

static void test_damage_is_found(void **state)
{
    ember__spill_file f = {.fd = -1};
    assert_int_equal(ember__spill_open(&f, "/tmp", why, sizeof why), 0);
    write_recs(&f, 1, 3000, 0);
    ember__run_done(&f);
    ember__run_reader rd;
    ember_rec r;
    int rc;
    /* a segment cut short: a record or block runs past its end */
    ember__reader_open(&rd, f.fd, f.offs[0], f.offs[1] - 5);
    while ((rc = ember__reader_next(&rd, &r)) == 1)
        ;
    assert_int_equal(rc, EMBER_EIO);
    ember__reader_close(&rd);
    /* a block's header claiming more than a block */
    uint32_t bad = 1u << 30;
    assert_int_equal(pwrite(f.fd, &bad, sizeof bad, (off_t)f.offs[0]), (ssize_t)sizeof bad);
    ember__reader_open(&rd, f.fd, f.offs[0], f.offs[1]);
    assert_int_equal(ember__reader_next(&rd, &r), EMBER_EIO);
    ember__reader_close(&rd);
    ember__spill_close(&f);
    /* a directory that cannot be made: the reason, with the directory */
    assert_int_equal(ember__spill_open(&f, "/proc/ember-no/such", why, sizeof why), EMBER_EIO);
    assert_non_null(strstr(why, "/proc/ember-no/such"));
    assert_int_equal(f.fd, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_merge),
        cmocka_unit_test(test_damage_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
