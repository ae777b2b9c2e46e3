/* The scripted server of the unit tests (tests/support_server.h) as a program,
 * for the CLI tests: `server PORTFILE LOGFILE` listens on 127.0.0.1 (a port the
 * system picks, written to PORTFILE), appends every request it gets to LOGFILE
 * as one line ("METHOD URL |name: value|...| body=BODY"), and runs until
 * SIGTERM or SIGINT. */
#include <signal.h>

#include "support_server.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORTFILE LOGFILE\n", argv[0]);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    test_server *s = server_start(NULL, NULL);
    if (!s)
        return 1;
    if (!(s->log = fopen(argv[2], "a")))
        return 1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 1;
    fprintf(f, "%d\n", s->port);
    fclose(f);
    rename(tmp, argv[1]); /* the port file appears whole */
    while (!stop)
        pause();
    FILE *log = s->log;
    server_stop(s); /* waits for the connection threads, then frees s */
    fclose(log);
    (void)server_record;
    (void)server_count;
    return 0;
}
