/* Join users with their orders, and list the users who ordered nothing.
 *
 *   join              (master from $EMBER_MASTER, else local[*])
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Print each record as "key: left + right", sorted (a join has no order). */
static int print_joined(ember_ctx *ctx, ember_rdd *rdd)
{
    ember_result *res;
    if (ember_collect(rdd, &res)) {
        fprintf(stderr, "join: %s\n", ember_errmsg(ctx));
        return 1;
    }
    size_t n = ember_result_len(res);
    char **lines = calloc(n + 1, sizeof *lines);
    for (size_t i = 0; i < n; i++) {
        ember_rec r = ember_result_at(res, i);
        ember_bytes user, order;
        int has = ember_join_sides(r.val, &user, &order);
        lines[i] = malloc(128);
        snprintf(lines[i], 128, "%.*s: %.*s + %.*s", (int)r.key.len, (const char *)r.key.ptr,
                 (int)user.len, (const char *)user.ptr, has & 2 ? (int)order.len : 10,
                 has & 2 ? (const char *)order.ptr : "(no order)");
    }
    qsort(lines, n, sizeof *lines, cmp_lines);
    for (size_t i = 0; i < n; i++) {
        puts(lines[i]);
        free(lines[i]);
    }
    free(lines);
    ember_result_free(res);
    return 0;
}

int main(void)
{
    ember_rec users[] = {{ember_str("u1"), ember_str("Ada")},
                         {ember_str("u2"), ember_str("Grace")},
                         {ember_str("u3"), ember_str("Linus")}};
    ember_rec orders[] = {{ember_str("u1"), ember_str("book")},
                          {ember_str("u2"), ember_str("lamp")},
                          {ember_str("u1"), ember_str("pen")}};
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "join"})) {
        fprintf(stderr, "join: %s\n", ember_errmsg(NULL));
        return 1;
    }
    ember_rdd *u = ember_parallelize_pairs(ctx, users, 3, 2);
    ember_rdd *o = ember_parallelize_pairs(ctx, orders, 3, 2);
    int rc = print_joined(ctx, ember_left_outer_join(u, o, 0));
    ember_close(ctx);
    return rc;
}
