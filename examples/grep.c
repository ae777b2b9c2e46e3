/* grep over files in parallel: the lines that contain a pattern, in file order.
 *
 *   grep PATTERN PATHS      (a file, a directory, a glob, or a comma list)
 */
#define _GNU_SOURCE
#include <ember/ember.h>
#include <stdio.h>
#include <string.h>

static int contains(ember_rec line, void *pattern)
{
    return memmem(line.val.ptr, line.val.len, pattern, strlen(pattern)) != NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: grep PATTERN PATHS\n");
        return 2;
    }
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.app_name = "grep"})) {
        fprintf(stderr, "grep: %s\n", ember_errmsg(NULL));
        return 2;
    }
    ember_result *res;
    if (ember_collect(ember_filter(ember_text_file(ctx, argv[2], 0), contains, argv[1]), &res)) {
        fprintf(stderr, "grep: %s\n", ember_errmsg(ctx));
        ember_close(ctx);
        return 2;
    }
    for (size_t i = 0; i < ember_result_len(res); i++) {
        ember_bytes line = ember_result_at(res, i).val;
        printf("%.*s\n", (int)line.len, (const char *)line.ptr);
    }
    int found = ember_result_len(res) > 0;
    ember_result_free(res);
    ember_close(ctx);
    return found ? 0 : 1;
}
