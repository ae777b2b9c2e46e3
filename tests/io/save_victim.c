/* A program that saves N numbered lines in PARTS partitions to DIR, over and
 * over (ROUNDS times, each with conf.overwrite), for tests/io/save_kill.sh to
 * kill at random moments. SIGINT and SIGTERM call ember_cancel: the save then
 * fails with EMBER_ECANCELED and the program exits 130. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/ember.h>

static ember_ctx *ctx;

static void on_signal(int sig)
{
    (void)sig;
    ember_cancel(ctx);
}

static int line(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    char buf[64];
    int n =
        snprintf(buf, sizeof buf, "line %lld of the saved output", (long long)ember_i64(in.val));
    return ember_emit(out, ember_bytes_of(buf, (size_t)n));
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s DIR N PARTS ROUNDS\n", argv[0]);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (ember_open(&ctx, &(ember_conf){.master = "local[2]", .overwrite = 1}))
        return 1;
    int64_t n = atoll(argv[2]);
    int parts = atoi(argv[3]), rounds = atoi(argv[4]);
    ember_rdd *r = ember_map(ember_range(ctx, 0, n, 1, parts), line, NULL);
    for (int i = 0; i < rounds; i++) {
        int rc = ember_save_as_text_file(r, argv[1], i % 2 ? "gzip" : NULL);
        if (rc == EMBER_ECANCELED) {
            fprintf(stderr, "%s\n", ember_errmsg(ctx));
            ember_close(ctx);
            return 130;
        }
        if (rc) {
            fprintf(stderr, "%s\n", ember_errmsg(ctx));
            ember_close(ctx);
            return 1;
        }
    }
    ember_close(ctx);
    return 0;
}
