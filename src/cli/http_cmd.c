/* `ember http`: requests from lines (URLs or JSON objects), answers as JSON lines.
 *
 * The lines become an rdd of (line number, request) spread over the context's
 * threads; ember_http sends them with a window of --concurrency in flight in
 * all; the answers are written in input order, one per non-blank input line,
 * each {"line": N, "url", "status", "ok", "attempts", "latency_ms", "headers",
 * "body", "error"}. Answers are not held in memory: the tasks save them as
 * part files, copied in order to the output. A second thread draws a progress
 * line on a terminal. The exit status is 1 when any request finally failed
 * (summary on stderr), 2 for bad usage or input. Under MPI every rank runs the
 * command and shares the requests; rank 0 writes. Uses only the public API.
 */
#include <ember/ember.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static const char HTTP_USAGE[] =
    "usage: ember http [--in FILE|-] [--out FILE|DIR/] [--concurrency N] [--rate N/s|N/min]\n"
    "                  [--burst N] [--retries N] [--timeout DURATION] [--header 'K: V']...\n"
    "                  [--method M] [--cacert FILE] [--insecure] [--master M]\n"
    "\n"
    "Sends a request for each line of the input (a URL, or a JSON object {method, url,\n"
    "headers, body}) and writes one JSON line per request, in input order.\n"
    "  --in FILE       requests, one a line (default -: standard input); blank lines skipped\n"
    "  --out FILE      answers as JSON lines (default: standard output); DIR/ (or an\n"
    "                  existing directory) writes part files with a _SUCCESS marker\n"
    "  --concurrency N requests in flight, all threads together (default 256)\n"
    "  --rate R        at most R requests a second (N/s) or a minute (N/min); default none\n"
    "  --burst N       requests allowed at once under --rate (default: one second's worth)\n"
    "  --retries N     more attempts after errors, timeouts and 5xx (default 3)\n"
    "  --timeout D     per attempt: 500ms, 30s, 2m (default 30s)\n"
    "  --header 'K: V' sent with every request (repeatable)\n"
    "  --method M      for URL lines (default GET)\n"
    "  --cacert FILE   trust the CA certificates in FILE (PEM) instead of the system's\n"
    "  --insecure      do not verify TLS certificates (verification is on by default)\n"
    "  --master M      local[N] etc. (default $EMBER_MASTER, else local[*])\n"
    "exit status: 0 all answered 2xx/3xx, 1 some failed (summary on stderr), 2 bad usage\n";

static int bad_usage(const char *what, const char *opt)
{
    fprintf(stderr, "ember http: %s %s\n%s", what, opt, HTTP_USAGE);
    return 2;
}

/* "500ms", "30s", "2m", "1h", or seconds; -1 when it is none of these. */
static double parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    if (!*end || !strcmp(end, "s"))
        return v;
    if (!strcmp(end, "ms"))
        return v / 1e3;
    if (!strcmp(end, "m") || !strcmp(end, "min"))
        return v * 60;
    if (!strcmp(end, "h"))
        return v * 3600;
    return -1;
}

/* "N/s", "N/min", "N/m", "N/h" or N (a second): requests a second; -1 when bad. */
static double parse_rate(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0))
        return -1;
    if (!*end || !strcmp(end, "/s"))
        return v;
    if (!strcmp(end, "/min") || !strcmp(end, "/m"))
        return v / 60;
    if (!strcmp(end, "/h"))
        return v / 3600;
    return -1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* The input's non-blank lines as (line number, text) records. */
typedef struct lines {
    char *data;
    size_t len;
    ember_rec *recs;
    int64_t *nums;
    size_t n;
} lines;

static int read_lines(const char *path, lines *l)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "ember http: cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    size_t cap = 0;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (l->len + k + 1 > cap) {
            cap = (l->len + k + 1) * 2;
            char *d = realloc(l->data, cap);
            if (!d)
                abort();
            l->data = d;
        }
        memcpy(l->data + l->len, buf, k);
        l->len += k;
    }
    bool err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        fprintf(stderr, "ember http: reading %s failed\n", path);
        return 2;
    }
    size_t nl = 1;
    for (size_t i = 0; i < l->len; i++)
        nl += l->data[i] == '\n';
    l->recs = calloc(nl, sizeof *l->recs);
    l->nums = calloc(nl, sizeof *l->nums);
    if (!l->recs || !l->nums)
        abort();
    int64_t line = 0;
    for (size_t at = 0; at < l->len;) {
        char *p = l->data + at, *eol = memchr(p, '\n', l->len - at);
        size_t n = eol ? (size_t)(eol - p) : l->len - at;
        at += n + 1;
        line++;
        size_t b = 0;
        while (b < n && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r'))
            b++;
        if (b == n)
            continue; /* blank */
        l->nums[l->n] = line;
        l->recs[l->n] = (ember_rec){ember_bytes_of(&l->nums[l->n], 8), ember_bytes_of(p, n)};
        l->n++;
    }
    return 0;
}

typedef struct progress {
    ember_rdd *rdd;
    size_t total;
    atomic_bool stop;
} progress;

static void draw(progress *p, bool last)
{
    ember_http_counts c;
    int64_t done = 0;
    if (ember_http_progress(p->rdd, &c, &done))
        return;
    fprintf(stderr,
            "\rember http: %lld/%zu done, %lld sent, %lld retried, %lld throttled, %lld failed%s",
            (long long)done, p->total, (long long)c.sent, (long long)c.retried,
            (long long)c.throttled, (long long)c.failed, last ? "\n" : "  ");
    fflush(stderr);
}

static void *progress_main(void *arg)
{
    progress *p = arg;
    while (!atomic_load(&p->stop)) {
        draw(p, false);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* A response record as its JSON line, with the input's line number first. */
static int to_json(ember_rec in, ember_out *out, void *arg)
{
    (void)arg;
    ember_buf j;
    ember_buf_init(&j);
    char head[48];
    int n = snprintf(head, sizeof head, "{\"line\":%lld,", (long long)ember_i64(in.key));
    int rc = ember_buf_append(&j, head, (size_t)n);
    size_t at = j.len;
    if (!rc)
        rc = ember_http_response_json(in.val, &j);
    if (!rc) {
        /* drop the object's own opening brace */
        memmove(j.ptr + at, j.ptr + at + 1, j.len - at - 1);
        j.len--;
        rc = ember_emit(out, ember_buf_bytes(&j));
    }
    ember_buf_destroy(&j);
    return rc;
}

/* Copy PARTS part files of dir to f, in partition order (a committed save has
 * one for every partition, so a missing one is an error). 0, or 2 with a
 * message. */
static int copy_parts(const char *dir, int parts, FILE *f, const char *name)
{
    char path[PATH_MAX + 32];
    static char buf[1 << 16];
    for (int i = 0; i < parts; i++) {
        snprintf(path, sizeof path, "%s/part-%05d", dir, i);
        FILE *p = fopen(path, "rb");
        if (!p) {
            fprintf(stderr, "ember http: cannot read %s: %s\n", path, strerror(errno));
            return 2;
        }
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, p)) > 0)
            if (fwrite(buf, 1, k, f) != k)
                break;
        bool bad = ferror(p) || ferror(f);
        fclose(p);
        if (bad) {
            fprintf(stderr, "ember http: writing %s failed: %s\n", name, strerror(errno));
            return 2;
        }
    }
    return 0;
}

/* Remove what save_ordered's scratch directory holds (the part files, _SUCCESS). */
static void remove_scratch(const char *scratch, int parts)
{
    char path[PATH_MAX + 48];
    for (int i = 0; i < parts; i++) {
        snprintf(path, sizeof path, "%s/parts/part-%05d", scratch, i);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/parts/_SUCCESS", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/parts", scratch);
    rmdir(path);
    rmdir(scratch);
}

/* The answers to one file (out) or to standard output (out NULL), in input
 * order, without holding them all: the tasks save their partitions as part
 * files in a scratch directory beside the output (the job's committed output),
 * which are then copied in order. A file appears by a rename, whole or not at
 * all. Returns 0, a negative code from the job, or 2 (a message printed). */
static int save_ordered(ember_ctx *ctx, ember_rdd *json, const char *out, int parts)
{
    char scratch[PATH_MAX], parts_dir[PATH_MAX + 8], tmp[PATH_MAX + 16];
    const char *base = out ? NULL : getenv("TMPDIR");
    if (out) {
        const char *slash = strrchr(out, '/');
        snprintf(scratch, sizeof scratch, "%.*s/.ember-http-XXXXXX", slash ? (int)(slash - out) : 1,
                 slash ? out : ".");
    } else {
        snprintf(scratch, sizeof scratch, "%s/ember-http-XXXXXX", base && *base ? base : "/tmp");
    }
    /* every rank must use the same directory: rank 0 makes it, all get its name;
     * under MPI rank 0 alone writes the output, the others only send requests */
    bool made = ember_is_driver(ctx) && mkdtemp(scratch);
    if (ember_is_driver(ctx) && !made) {
        fprintf(stderr, "ember http: cannot write %s: %s (making a scratch directory in %s)\n",
                out ? out : "the standard output", strerror(errno),
                out ? "the output's directory" : "$TMPDIR");
        scratch[0] = 0;
    }
    ember_broadcast *name = ember_broadcast_create(ctx, scratch, strlen(scratch) + 1);
    if (!name) {
        if (made)
            rmdir(scratch);
        return EMBER_ENOMEM;
    }
    snprintf(scratch, sizeof scratch, "%s", (const char *)ember_broadcast_value(name).ptr);
    ember_broadcast_free(name);
    if (!scratch[0])
        return 2;
    snprintf(parts_dir, sizeof parts_dir, "%s/parts", scratch);
    int rc = ember_save_as_text_file(json, parts_dir, NULL);
    if (!rc && ember_is_driver(ctx)) {
        FILE *f = stdout;
        if (out) {
            snprintf(tmp, sizeof tmp, "%s/answers", scratch);
            if (!(f = fopen(tmp, "wb"))) {
                fprintf(stderr, "ember http: cannot write %s: %s\n", tmp, strerror(errno));
                rc = 2;
            }
        }
        if (!rc)
            rc = copy_parts(parts_dir, parts, f, out ? out : "the standard output");
        bool to_stdout = f == stdout;
        if (f && (to_stdout ? fflush(f) : fclose(f)) && !rc) {
            fprintf(stderr, "ember http: writing %s failed: %s\n",
                    to_stdout ? "the standard output" : out, strerror(errno));
            rc = 2;
        }
        if (!rc && out && rename(tmp, out)) {
            fprintf(stderr, "ember http: cannot write %s: %s\n", out, strerror(errno));
            rc = 2;
        }
        if (out)
            unlink(tmp);
    }
    if (ember_is_driver(ctx))
        remove_scratch(scratch, parts);
    return rc;
}

int ember_cli_http(int argc, char **argv)
{
    const char *in = "-", *out = NULL, *master = NULL;
    ember_http_conf hc = {0};
    int concurrency = 256, retries = 3;
    const char **headers = calloc((size_t)argc + 1, sizeof *headers);
    int nh = 0;
    if (!headers)
        abort();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HTTP_USAGE, stdout);
            free(headers);
            return 0;
        }
        if (!strcmp(a, "--insecure")) {
            hc.insecure = true;
            continue;
        }
        if (!v) {
            free(headers);
            return bad_usage("a value is needed after", a);
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--in"))
            in = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--master"))
            master = v;
        else if (!strcmp(a, "--method"))
            hc.method = v;
        else if (!strcmp(a, "--cacert"))
            hc.ca_file = v;
        else if (!strcmp(a, "--header"))
            headers[nh++] = v;
        else if (!strcmp(a, "--concurrency"))
            bad = parse_int(v, 1, 1 << 20, &concurrency);
        else if (!strcmp(a, "--retries"))
            bad = parse_int(v, 0, 1000, &retries);
        else if (!strcmp(a, "--rate"))
            bad = (hc.rate = parse_rate(v)) < 0;
        else if (!strcmp(a, "--burst"))
            bad = (hc.burst = strtod(v, NULL)) < 1;
        else if (!strcmp(a, "--timeout"))
            bad = !((hc.timeout = parse_duration(v)) > 0);
        else {
            free(headers);
            return bad_usage("unknown option", a);
        }
        if (bad) {
            fprintf(stderr, "ember http: bad value for %s: '%s'\n", a, v);
            free(headers);
            return 2;
        }
    }
    hc.headers = nh ? headers : NULL;
    hc.max_attempts = retries + 1;

    lines l = {0};
    int rc = read_lines(in, &l);
    if (rc) {
        free(headers);
        return rc;
    }
    ember_ctx *ctx = NULL;
    if ((rc = ember_open(&ctx, &(ember_conf){.master = master, .app_name = "ember http"}))) {
        fprintf(stderr, "ember http: %s\n", ember_errmsg(NULL));
        free(headers);
        free(l.data), free(l.recs), free(l.nums);
        return 2;
    }
    int parts = ember_parallelism(ctx) * ember_ranks(ctx); /* every rank's threads */
    if ((size_t)parts > l.n)
        parts = l.n ? (int)l.n : 1;
    hc.max_in_flight = (concurrency + parts - 1) / parts;
    ember_rdd *reqs = ember_parallelize_pairs(ctx, l.recs, l.n, parts);
    ember_rdd *answers = ember_http(reqs, &hc);
    ember_rdd *json = ember_map(answers, to_json, NULL);

    progress p = {.rdd = answers, .total = l.n};
    pthread_t th;
    bool tty = isatty(STDERR_FILENO) && l.n > 0 && ember_is_driver(ctx);
    if (tty && pthread_create(&th, NULL, progress_main, &p))
        tty = false;

    struct stat st;
    bool to_dir = out && (out[strlen(out) - 1] == '/' || (!stat(out, &st) && S_ISDIR(st.st_mode)));
    if (to_dir)
        rc = ember_save_as_text_file(json, out, NULL);
    else
        rc = save_ordered(ctx, json, out, parts);
    if (tty) {
        atomic_store(&p.stop, true);
        pthread_join(th, NULL);
        draw(&p, true);
    }
    int status = 0;
    ember_http_counts c = {0};
    if (rc < 0) {
        if (ember_is_driver(ctx))
            fprintf(stderr, "ember http: %s\n", ember_errmsg(ctx));
        status = 2;
    } else if (rc) {
        status = 2;
    } else if (!ember_http_counters(answers, &c) && c.failed) {
        if (ember_is_driver(ctx))
            fprintf(stderr,
                    "ember http: %lld of %zu requests failed (sent %lld, retried %lld, "
                    "throttled %lld); see \"error\" in their lines\n",
                    (long long)c.failed, l.n, (long long)c.sent, (long long)c.retried,
                    (long long)c.throttled);
        status = 1;
    }
    ember_close(ctx);
    free(headers);
    free(l.data), free(l.recs), free(l.nums);
    return status;
}
