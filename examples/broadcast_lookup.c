/* Enrich records from a broadcast lookup table, counting the misses with an
 * accumulator: each task reads the same table, no copy per task.
 *
 *   broadcast_lookup                   (master from $EMBER_MASTER, else local[*])
 */
#include <ember/ember.h>
#include <stdio.h>
#include <string.h>

/* the table: "code=name\n" lines, looked up by code */
static const char TABLE[] = "de=Germany\nfr=France\nit=Italy\njp=Japan\nus=United States\n";

typedef struct lookup {
    ember_broadcast *table;
    ember_accumulator *misses;
} lookup;

static int enrich(ember_rec in, ember_out *out, void *arg)
{
    lookup *l = arg;
    ember_bytes t = ember_broadcast_value(l->table);
    const char *p = t.ptr, *end = p + t.len;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p)),
                   *nl = memchr(p, '\n', (size_t)(end - p));
        if ((size_t)(eq - p) == in.val.len && !memcmp(p, in.val.ptr, in.val.len))
            return ember_emit_pair(out, in.val, ember_bytes_of(eq + 1, (size_t)(nl - eq - 1)));
        p = nl + 1;
    }
    int rc = ember_accumulator_add_i64(l->misses, 1);
    return rc ? rc : ember_emit_pair(out, in.val, ember_str("(unknown)"));
}

int main(void)
{
    const char *codes[] = {"fr", "jp", "xx", "de", "us", "it", "zz", "fr"};
    ember_bytes items[8];
    for (int i = 0; i < 8; i++)
        items[i] = ember_str(codes[i]);
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "broadcast_lookup"})) {
        fprintf(stderr, "broadcast_lookup: %s\n", ember_errmsg(NULL));
        return 1;
    }
    lookup l = {ember_broadcast_create(ctx, TABLE, strlen(TABLE)), ember_accumulator_i64(ctx, 0)};
    ember_rdd *rdd = ember_map(ember_parallelize(ctx, items, 8, 3), enrich, &l);
    ember_result *res;
    int64_t misses = 0;
    if (ember_collect(rdd, &res) || ember_accumulator_value_i64(l.misses, &misses)) {
        fprintf(stderr, "broadcast_lookup: %s\n", ember_errmsg(ctx));
        ember_close(ctx);
        return 1;
    }
    for (size_t i = 0; i < ember_result_len(res); i++) {
        ember_rec r = ember_result_at(res, i);
        printf("%.*s -> %.*s\n", (int)r.key.len, (const char *)r.key.ptr, (int)r.val.len,
               (const char *)r.val.ptr);
    }
    printf("unknown codes: %lld\n", (long long)misses);
    ember_result_free(res);
    ember_close(ctx);
    return 0;
}
