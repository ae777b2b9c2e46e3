/* The context's UI: the settings resolved (the conf, else the environment,
 * else the defaults: a progress bar when stderr is a terminal, no event log,
 * no web UI) and the parts started; rank 0 only under MPI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui/ui.h"

struct ember__ui {
    ui_model *model;
    ui_server *server;
    ui_log *log;
    ui_bar *bar;
};

/* EMBER_PROGRESS: 1 on (even when stderr is not a terminal), 0 off. */
static bool progress_wanted(const ember_conf *conf)
{
    if (conf->progress > 0)
        return true;
    if (conf->progress < 0)
        return false;
    const char *e = getenv("EMBER_PROGRESS");
    if (e && *e)
        return !strcmp(e, "1");
    return isatty(STDERR_FILENO);
}

int ember__ui_open(ember_ctx *ctx, const ember_conf *conf)
{
    if (ctx->rank != 0)
        return 0;
    const char *log = conf->event_log;
    if (!log || !*log)
        log = getenv("EMBER_EVENT_LOG");
    int port = conf->ui_port;
    if (!port) {
        const char *e = getenv("EMBER_UI_PORT");
        if (e && *e) {
            char *end;
            long p = strtol(e, &end, 10);
            if (*end || p < -1 || p > 65535)
                return ember__err(ctx, EMBER_EINVAL,
                                  "ember_open: EMBER_UI_PORT '%s' is not a port (0 off, -1 for "
                                  "4040 and up, or 1 to 65535)",
                                  e);
            port = (int)p;
        }
    } else if (port < -1 || port > 65535) {
        return ember__err(ctx, EMBER_EINVAL,
                          "ember_open: ui_port %d is not a port (0 off, -1 for 4040 and up)", port);
    }
    bool bar = progress_wanted(conf);
    if (!port && !(log && *log) && !bar)
        return 0;
    struct ember__ui *ui = ember__calloc(1, sizeof *ui);
    if (!ui)
        return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
    ctx->ui = ui;
    int rc = 0;
    /* the log first: in a directory, it may give the application a new id
     * (its log's name was taken), which every listener must then hear */
    if (log && *log && (rc = ember__ui_log_open(ctx, log, &ui->log)))
        return rc;
    if (port) {
        char why[200];
        int keep[2];
        if ((rc = ember__ui_retained(ctx, "ember_open", keep)))
            return rc;
        if (!(ui->model = ember__ui_model_new(keep)) || ember__ui_model_live(ui->model))
            return ember__err(ctx, EMBER_ENOMEM, "ember_open: out of memory");
        if ((rc = ember__listen_named(ctx, ember__ui_model_listener, ui->model, ~0u, true)))
            return ember__err(ctx, rc, "ember_open: out of memory");
        if ((rc = ember__ui_serve(&ui->model, 1, false, port, &ui->server, why, sizeof why, NULL)))
            return ember__err(ctx, rc, "ember_open: the web UI: %s", why);
        fprintf(stderr, "ember: web UI at http://127.0.0.1:%d/\n",
                ember__ui_server_port(ui->server));
    }
    if (bar && (rc = ember__ui_bar_open(ctx, &ui->bar)))
        return rc;
    return 0;
}

void ember__ui_close(ember_ctx *ctx)
{
    struct ember__ui *ui = ctx->ui;
    if (!ui)
        return;
    ember__ui_bar_close(ui->bar);
    ember__ui_log_close(ui->log);
    ember__ui_server_stop(ui->server);
    ember__ui_model_free(ui->model);
    ember__free(ui);
    ctx->ui = NULL;
}

int ember_ui_port(ember_ctx *ctx)
{
    if (!ember__handle_ok(ctx, EMBER__H_CTX))
        return EMBER_EINVAL;
    return ctx->ui && ctx->ui->server ? ember__ui_server_port(ctx->ui->server) : 0;
}
