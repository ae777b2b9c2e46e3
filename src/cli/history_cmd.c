/* `ember history LOG... [--port N]` serves finished event logs (files, or
 * directories of them) with the web UI's pages and Spark's REST API on
 * 127.0.0.1, until Ctrl-C or SIGTERM; `ember history --list DIR` lists the
 * applications of a directory's logs. Uses the public API only.
 */
#include <ember/ember.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char HISTORY_USAGE[] =
    "usage: ember history LOG... [--port N]\n"
    "       ember history --list DIR\n"
    "serves event logs (files written by EMBER_EVENT_LOG or conf.event_log, plain or\n"
    "zstd-compressed, or directories of them) with the web UI and Spark's REST API\n"
    "(/api/v1) on 127.0.0.1, looking again every 10 s for new and changed logs\n"
    "(EMBER_HISTORY_UPDATE_INTERVAL, seconds; 0 never); an application's log is read\n"
    "whole when a page of it is asked for, the last 50 kept\n"
    "(EMBER_HISTORY_RETAINED_APPLICATIONS)\n"
    "  --port N   the port (default 18080; -1: 4040 and up)\n"
    "  --list DIR the applications of DIR's event logs, one a line\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int ember_cli_history(int argc, char **argv)
{
    const char **logs = calloc((size_t)argc + 1, sizeof *logs);
    int nlogs = 0, port = 0;
    if (!logs)
        return 2;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HISTORY_USAGE, stdout);
            free(logs);
            return 0;
        }
        if (!strcmp(argv[i], "--list")) {
            free(logs);
            if (i + 1 >= argc) {
                fprintf(stderr, "ember history: --list needs a directory\n%s", HISTORY_USAGE);
                return 2;
            }
            if (ember_history_list(argv[i + 1], stdout)) {
                fprintf(stderr, "%s\n", ember_errmsg(NULL));
                return 1;
            }
            return 0;
        }
        if (!strcmp(argv[i], "--port")) {
            char *end = NULL;
            long p = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || *end || p < -1 || p == 0 || p > 65535) {
                fprintf(stderr, "ember history: --port needs a port (1 to 65535, or -1)\n");
                free(logs);
                return 2;
            }
            port = (int)p;
            i++;
            continue;
        }
        logs[nlogs++] = argv[i];
    }
    if (!nlogs) {
        fprintf(stderr, "ember history: no event log given\n%s", HISTORY_USAGE);
        free(logs);
        return 2;
    }
    ember_history *h;
    if (ember_history_open(&h, logs, nlogs, port)) {
        fprintf(stderr, "%s\n", ember_errmsg(NULL));
        free(logs);
        return 1;
    }
    free(logs);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "ember history: serving at http://127.0.0.1:%d/ (Ctrl-C stops)\n",
            ember_history_port(h));
    while (!g_stop)
        pause();
    ember_history_close(h);
    return 0;
}
