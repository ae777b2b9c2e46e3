/* ember/json.h: records read as json_t, json_t emitted as records, paths
 * plucked; the JSON-lines writer refuses text that is not JSON, naming it. */
#include <sys/stat.h>

#include <ember/json.h>

#include "support.h"

static int reshape(ember_rec in, ember_out *out, void *arg)
{
    json_t *j = ember_json_of(in.val, NULL);
    if (!j)
        return EMBER_EINVAL;
    json_t *tags = json_array(), *x = json_string("x");
    json_t *t;
    size_t i;
    json_array_foreach(ember_json_path(j, "user.tags"), i, t)
        json_array_append_new(tags, json_integer((json_int_t)json_string_length(t)));
    int rc = ember_emit_jsonf(out, "{s:O?, s:o, s:b}", "name", ember_json_path(j, "user.name"),
                              "tag_lengths", tags, "first_is_x",
                              json_equal(ember_json_path(j, "user.tags.0"), x));
    json_decref(x);
    json_decref(j);
    return rc;
}

static int bad_format(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_jsonf(out, "{s:i", "unclosed", 1);
}

static int emit_obj(ember_rec in, ember_out *out, void *arg)
{
    json_t *o = json_pack("{s:I, s:[s, n]}", "v", (json_int_t)ember_i64(in.val), "a", "é\n");
    int rc = ember_emit_json(out, o);
    json_decref(o);
    return rc;
}

static void test_rows(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    const char *in[] = {"{\"user\": {\"name\": \"ana\", \"tags\": [\"x\", \"yz\"]}}",
                        "{\"user\": {\"tags\": []}}"};
    ember_rdd *r =
        ember_map(ember_parallelize(ctx, (ember_bytes[]){ember_str(in[0]), ember_str(in[1])}, 2, 2),
                  reshape, NULL);
    ember_result *res;
    assert_int_equal(ember_collect(r, &res), 0);
    assert_bytes(ember_result_at(res, 0).val,
                 "{\"name\":\"ana\",\"tag_lengths\":[1,2],\"first_is_x\":true}");
    assert_bytes(ember_result_at(res, 1).val,
                 "{\"name\":null,\"tag_lengths\":[],\"first_is_x\":false}"); /* O?: null */
    ember_result_free(res);
    assert_int_equal(ember_collect(ember_map(ember_range(ctx, 7, 8, 1, 1), emit_obj, NULL), &res),
                     0);
    assert_bytes(ember_result_at(res, 0).val, "{\"v\":7,\"a\":[\"é\\n\",null]}");
    ember_result_free(res);
    /* a format that does not build fails the task, named */
    int64_t n;
    assert_int_equal(ember_count(ember_map(ember_range(ctx, 0, 1, 1, 1), bad_format, NULL), &n),
                     EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(ctx), "ember_emit_jsonf(\"{s:i\")"));
    /* paths: keys and indexes; absent is NULL */
    json_t *j = ember_json_of(ember_str("[{\"a\": [10, 20]}]"), NULL);
    assert_int_equal(json_integer_value(ember_json_path(j, "0.a.1")), 20);
    assert_null(ember_json_path(j, "0.b"));
    assert_null(ember_json_path(j, "1"));
    json_decref(j);
    json_error_t e;
    assert_null(ember_json_of(ember_str("{nope"), &e));
    assert_true(e.column > 0);
    ember_close(ctx);
}

static void test_json_lines_writer(void **state)
{
    char dir[128], out[200];
    snprintf(dir, sizeof dir, "/tmp/ember-json-rows-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ember_ctx *ctx = open_ctx("local[2]");
    /* text that is not JSON is refused, named; nothing is written */
    snprintf(out, sizeof out, "%s/bad", dir);
    ember_rdd *mixed = ember_parallelize(
        ctx, (ember_bytes[]){ember_str("{\"a\":1}"), ember_str("[2]"), ember_str("not json")}, 3,
        1);
    assert_int_equal(ember_save_as_json_lines(mixed, out, NULL), EMBER_EINVAL);
    assert_non_null(strstr(ember_errmsg(ctx), "partition 0 record 3 is not JSON"));
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    /* JSON passes, the values as they were */
    snprintf(out, sizeof out, "%s/good", dir);
    ember_rdd *good = ember_parallelize(
        ctx, (ember_bytes[]){ember_str("{\"a\":1}"), ember_str("[2]"), ember_str("\"s\"")}, 3, 1);
    assert_int_equal(ember_save_as_json_lines(good, out, NULL), 0);
    char part[300], text[100] = "";
    snprintf(part, sizeof part, "%s/part-00000", out);
    FILE *f = fopen(part, "r");
    assert_non_null(f);
    size_t k = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[k] = 0;
    assert_string_equal(text, "{\"a\":1}\n[2]\n\"s\"\n");
    ember_close(ctx);
    assert_int_equal(remove_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_json_lines_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
