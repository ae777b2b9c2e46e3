/* A driver under process[2] that runs a long job: tests/exec/driver_kill.sh
 * kills it with SIGKILL mid-job and checks its workers go too. Prints
 * "running" once the job has begun. */
#include <ember/ember.h>
#include <stdio.h>
#include <unistd.h>

static int slow(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    usleep(50000);
    return ember_emit(out, in.val);
}

static int announce(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    return ember_emit(out, in.val);
}

int main(void)
{
    ember_ctx *ctx;
    if (ember_open(&ctx, &(ember_conf){.master = "process[2]", .app_name = "proc_victim"}))
        return 1;
    int64_t n;
    ember_count(ember_map(ember_range(ctx, 0, 4, 1, 2), announce, NULL), &n);
    printf("running\n");
    fflush(stdout);
    ember_count(ember_map(ember_range(ctx, 0, 100000, 1, 4), slow, NULL), &n);
    ember_close(ctx);
    return 0;
}
