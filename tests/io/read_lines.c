/* Count the lines of a text input (file, directory, glob): prints the count,
 * or the error and exit 1. For tests/io/save_kill.sh. */
#include <stdio.h>

#include <ember/ember.h>

int main(int argc, char **argv)
{
    ember_ctx *ctx;
    if (argc != 2 || ember_open(&ctx, &(ember_conf){.master = "local[2]"}))
        return 2;
    int64_t n = 0;
    int rc = ember_count(ember_text_file(ctx, argv[1], 0), &n);
    if (rc)
        fprintf(stderr, "%s\n", ember_errmsg(ctx));
    else
        printf("%lld\n", (long long)n);
    ember_close(ctx);
    return rc ? 1 : 0;
}
