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
    int parts = ember_parallelism(ctx);
    ember_raise_open_files_limit(); /* up to 1,000 sockets at once */
    char key_header[256];
    const char *headers[2] = {NULL, NULL};
    if (getenv("CAT_API_KEY")) {
        snprintf(key_header, sizeof key_header, "x-api-key: %s", getenv("CAT_API_KEY"));
        headers[0] = key_header;
    }
    ember_http_conf hc = {.max_in_flight = (1000 + parts - 1) / parts,
                          .rate = per_min / 60,
                          .burst = per_min > 0 ? per_min : 0,
                          .headers = headers};
    /* request i: (i, URL), so a failure names its request */
    ember_rdd *reqs = ember_map(ember_range(ctx, 0, n, 1, parts), to_request, (void *)url);
    ember_rdd *answers = ember_http(reqs, &hc);
    ember_rdd *lines = ember_map(answers, pluck, NULL);
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
