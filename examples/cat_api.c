/* The seed's job: N calls to a JSON API shaped like TheCatAPI's image search
 * (GET /v1/images/search answers [{"id", "url", "width", "height", "breeds":
 * [{"name"}, ...]}]), each answer plucked to its id, url, size and breed names,
 * saved as JSON lines. A request that finally fails is saved as {"request": i,
 * "error": "..."}: nothing is lost.
 *
 *   cat_api URL [N] [OUT_DIR] [RATE_PER_MIN]
 *
 * URL is requested N times (default 1000); $CAT_API_KEY, when set, goes in an
 * x-api-key header. RATE_PER_MIN caps the calls (a free tier allows 120 a
 * minute; 0: no cap). Up to 1,000 calls are in flight from the context's
 * threads.
 */
#include <ember/ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cat_pluck.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [N] [OUT_DIR] [RATE_PER_MIN]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 1000;
    const char *dir = argc > 3 ? argv[3] : "cats";
    double per_min = argc > 4 ? atof(argv[4]) : 0;
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "cat_api", .overwrite = true})) {
        fprintf(stderr, "cat_api: %s\n", ember_errmsg(NULL));
        return 1;
    }
    ember_rdd *answers, *lines = cat_calls(ctx, url, n, per_min, &answers);
    int rc = ember_save_as_text_file(lines, dir, NULL);
    ember_http_counts c = {0};
    if (rc)
        fprintf(stderr, "cat_api: %s\n", ember_errmsg(ctx));
    else if (!ember_http_counters(answers, &c))
        printf("saved %ld cats to %s: %lld answered, %lld failed (%lld sent, %lld retried, %lld "
               "throttled)\n",
               n, dir, (long long)c.succeeded, (long long)c.failed, (long long)c.sent,
               (long long)c.retried, (long long)c.throttled);
    ember_close(ctx);
    return rc ? 1 : c.failed ? 3 : 0;
}
