/* src/core/rdd.c: lineage lifetimes (ember_free), error nodes, the alloc seam. */
#include "core/core.h"
#include "support.h"

static int live_nodes(const ember_ctx *ctx)
{
    int n = 0;
    for (const ember_rdd *r = ctx->nodes; r; r = r->next)
        n++;
    return n;
}

static int ident(ember_rec in, ember_out *out, void *arg)
{
    return ember_emit_rec(out, in);
}

static void test_free_releases_the_chain(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *src = ember_range(ctx, 0, 10, 1, 2);
    ember_rdd *a = ember_map(src, ident, NULL);
    ember_rdd *b = ember_map(a, ident, NULL);
    assert_int_equal(live_nodes(ctx), 3);
    ember_free(src); /* a child still needs it */
    ember_free(a);
    assert_int_equal(live_nodes(ctx), 3);
    assert_int_equal(count_of(b), 10);
    ember_free(b); /* the last hold: the whole chain goes */
    assert_int_equal(live_nodes(ctx), 0);

    /* a parent shared by two children lives until both are freed */
    ember_rdd *p = ember_range(ctx, 0, 4, 1, 1);
    ember_rdd *u = ember_union(p, p);
    ember_rdd *m = ember_map(p, ident, NULL);
    ember_free(p);
    ember_free(u);
    assert_int_equal(live_nodes(ctx), 2);
    assert_int_equal(count_of(m), 4);
    ember_free(m);
    assert_int_equal(live_nodes(ctx), 0);
    ember_close(ctx);
}

static void test_out_of_memory_node(void **state)
{
    ember_ctx *ctx = open_ctx("local[2]");
    ember_rdd *src = ember_range(ctx, 0, 10, 1, 2);
    ember__alloc_fail_at(1);
    ember_rdd *m = ember_map(src, ident, NULL);
    ember__alloc_fail_at(0);
    assert_non_null(m); /* never NULL on a live context */
    ember_rdd *later = ember_map(m, ident, NULL);
    int64_t n;
    assert_int_equal(ember_count(later, &n), EMBER_ENOMEM);
    assert_msg(ctx, "out of memory");
    ember_free(m); /* harmless */
    assert_int_equal(count_of(src), 10);
    ember_close(ctx);
}

static void test_alloc_seam(void **state)
{
    long before = ember__alloc_count();
    void *p = ember__malloc(10);
    assert_non_null(p);
    assert_int_equal(ember__alloc_count(), before + 1);
    ember__free(p);
    ember__alloc_fail_at(2);
    p = ember__malloc(1);
    assert_non_null(p);               /* the first goes through */
    assert_null(ember__calloc(1, 1)); /* the second fails */
    void *q = ember__realloc(p, 64);  /* then it is disarmed */
    assert_non_null(q);
    ember__free(q);
    char *s = ember__strdup("ember");
    assert_string_equal(s, "ember");
    ember__free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_releases_the_chain),
        cmocka_unit_test(test_out_of_memory_node),
        cmocka_unit_test(test_alloc_seam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
