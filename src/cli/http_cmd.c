/* `ember http`: requests from lines (URLs or JSON objects), answers as JSON lines.
 *
 * The lines become an rdd of ((seq, line number), request) spread over the
 * context's threads; ember_http sends them with a window of --concurrency in
 * flight in all; each answer becomes {"line": N, "url", "status", "ok",
 * "attempts", "latency_ms", "headers", "body", "error"}, one per non-blank input
 * line, in input order.
 *
 * The ordered writer: the tasks hand their answers, in order within each
 * partition, to one writer. The partition at the head of the output writes
 * straight through (so standard output streams: a line appears as soon as it
 * and every line before it are final); the others wait in memory, past 4 MiB in
 * an unlinked temporary file, until the head reaches them. An answer a retried
 * task hands on again is recognised by its sequence number and skipped. A file
 * output is written to an unnamed file (O_TMPFILE) in its directory and given
 * its name by link and rename once complete, so it appears whole or not at all
 * and a kill at any moment leaves no scratch behind. What is not a plain file
 * (/dev/null, a FIFO, /dev/stdout) is written through, never replaced. A
 * directory output (DIR/) is a save_as_text_file. Under MPI, where the answers
 * of the other ranks are not in this process, rank 0 copies saved part files
 * in order instead.
 *
 * Interruption: the first SIGINT or SIGTERM cancels the job (ember_cancel): no
 * request starts, those in flight get --grace seconds to answer, what is final
 * is in the journal (and on standard output when in order); nothing else is
 * written, and the exit status is 130 (143). A second signal ends at once.
 * The journal (--journal FILE, or OUT.journal for a file output) makes a rerun
 * send only what had no final answer; it is removed once the output is
 * complete. Exit status: 0 all answered 2xx/3xx, 1 some failed, 2 bad usage or
 * input or an error of the job. Uses only the public API.
 */
#include <ember/ember.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/http_out.h"
#include "core/xxh.h"

static const char HTTP_USAGE[] =
    "usage: ember http [--in FILE|-] [--out FILE|DIR/|DB_URL] [--url TEMPLATE] [--concurrency N]\n"
    "                  [--rate N/s|N/min|N/h] [--burst N] [--no-adapt] [--retries N]\n"
    "                  [--timeout DURATION] [--header 'K: V']... [--method M] [--body-json]\n"
    "                  [--journal FILE] [--keep-journal] [--no-journal] [--retry-failed]\n"
    "                  [--grace DURATION] [--max-time DURATION] [--max-retry-after DURATION]\n"
    "                  [--max-body SIZE] [--memory SIZE] [--cacert FILE] [--insecure] [--master "
    "M]\n"
    "\n"
    "Sends a request for each line of the input (a URL, or a JSON object {method, url,\n"
    "headers, body}) and writes one JSON line per request, in input order.\n"
    "  --in FILE        requests, one a line (default -: standard input); blank lines skipped\n"
    "  --out FILE       answers as JSON lines, written whole or not at all (default: standard\n"
    "                   output, each line as soon as it and those before it are final);\n"
    "                   DIR/ (or an existing directory) writes part files and _SUCCESS;\n"
    "                   postgresql://...?table=T or sqlite:PATH?table=T writes rows: T's\n"
    "                   columns taken from the answers' fields (line, url, status, ok,\n"
    "                   attempts, latency_ms, headers, body, error), each task's in one\n"
    "                   transaction\n"
    "  --url TEMPLATE   build each request from its line: {} is the line, URL-encoded; with\n"
    "                   JSON lines, {field} is that field (https://api.example/items/{})\n"
    "  --concurrency N  requests in flight, all threads together (default 256)\n"
    "  --rate R         at most R requests a second (N/s), a minute (N/min) or an hour\n"
    "                   (N/h); the pace adapts below it to what the server allows\n"
    "  --burst N        requests allowed at once under --rate (default: one second's worth)\n"
    "  --no-adapt       a fixed rate: throttled answers (429) pause, but never slow the pace\n"
    "  --retries N      more attempts after errors, timeouts and 5xx (default 3)\n"
    "  --timeout D      per attempt: 500ms, 30s, 2m (default 30s)\n"
    "  --max-time D     a request from start to final answer, every wait included (default none)\n"
    "  --max-retry-after D  the longest pause a server may ask for (default 10m)\n"
    "  --max-body SIZE  a larger answer is that line's error (default 64m; k, m, g)\n"
    "  --memory SIZE    response bytes held at once; past it requests wait (default: a\n"
    "                   quarter of the machine's memory)\n"
    "  --header 'K: V'  sent with every request (repeatable; a JSON line's own header wins)\n"
    "  --method M       for URL lines (default GET)\n"
    "  --body-json      an answer's body that is JSON goes in as a JSON value, not a string\n"
    "  --journal FILE   keep each final answer in FILE as it comes; run again with the same\n"
    "                   FILE, only requests without a final answer are sent (default with\n"
    "                   --out FILE: FILE.journal); removed once the output is complete\n"
    "  --keep-journal   do not remove the journal at the end\n"
    "  --no-journal     no journal, even with --out FILE\n"
    "  --retry-failed   with a journal: send again the requests that ended in error\n"
    "  --grace D        on Ctrl-C or SIGTERM, wait this long for the requests in flight\n"
    "                   (default 5s); a second signal stops at once\n"
    "  --cacert FILE    trust the CA certificates in FILE (PEM) instead of the system's\n"
    "  --insecure       do not verify TLS certificates (verification is on by default)\n"
    "  --master M       local[N] etc. (default $EMBER_MASTER, else local[*])\n"
    "exit status: 0 all answered 2xx/3xx, 1 some failed (summary on stderr), 2 bad usage or\n"
    "input, 130 (143) interrupted by SIGINT (SIGTERM)\n";

/* ---------------------------------------------------------------- signals */

static ember_ctx *volatile g_ctx;
static volatile sig_atomic_t g_sig;
char ember_cli_scratch[PATH_MAX + 64]; /* a named temporary output to remove on a second signal */

static void on_signal(int sig)
{
    if (g_sig) { /* the second: stop now */
        if (ember_cli_scratch[0])
            unlink(ember_cli_scratch);
        _exit(128 + g_sig);
    }
    g_sig = sig;
    if (g_ctx)
        ember_cancel(g_ctx);
    static const char msg[] = "\nember http: interrupted: no new requests; waiting for those in "
                              "flight (interrupt again to stop at once)\n";
    ssize_t k = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)k;
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is a write error, handled */
}

/* ---------------------------------------------------------------- options */

static int bad_usage(const char *what, const char *opt)
{
    fprintf(stderr, "ember http: %s %s\n(ember http --help lists the options)\n", what, opt);
    return 2;
}

/* "500ms", "30s", "2m", "1h", or seconds; -1 when it is none of these. */
static double parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e9)
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

/* "N/s", "N/min", "N/m", "N/h" or N (a second): requests a second; 0 for a
 * zero count, -1 when it does not parse. */
static double parse_rate(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || v > 1e9)
        return -1;
    if (!*end || !strcmp(end, "/s"))
        return v;
    if (!strcmp(end, "/min") || !strcmp(end, "/m"))
        return v / 60;
    if (!strcmp(end, "/h"))
        return v / 3600;
    return -1;
}

/* "65536", "64k", "64m", "2g" (powers of 1,024): -1 when it is none of these. */
static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = !*end               ? 0
                : !strcmp(end, "k") ? 10
                : !strcmp(end, "m") ? 20
                : !strcmp(end, "g") ? 30
                                    : -1;
    if (errno || shift < 0 || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)v << shift;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

typedef struct opts {
    const char *in, *out, *master, *journal, *tmpl;
    bool keep_journal, no_journal, body_json;
    int concurrency, retries;
    double grace;
    ember_http_conf hc;
    const char **headers;
    int nh;
} opts;

/* 0, or the exit status after a message. */
static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){.in = "-", .concurrency = 256, .retries = 3, .grace = 5};
    o->headers = calloc((size_t)argc + 1, sizeof *o->headers);
    if (!o->headers)
        abort();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const flags[] = {"--insecure",     "--keep-journal", "--no-journal",
                                            "--retry-failed", "--no-adapt",     "--body-json"};
        bool flag = false;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
            flag |= !strcmp(a, flags[k]);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HTTP_USAGE, stdout);
            return -1;
        }
        if (flag) {
            if (!strcmp(a, "--insecure"))
                o->hc.insecure = true;
            else if (!strcmp(a, "--keep-journal"))
                o->keep_journal = true;
            else if (!strcmp(a, "--no-journal"))
                o->no_journal = true;
            else if (!strcmp(a, "--retry-failed"))
                o->hc.retry_failed = true;
            else if (!strcmp(a, "--no-adapt"))
                o->hc.no_adapt = true;
            else
                o->body_json = true;
            continue;
        }
        static const char *const valued[] = {
            "--in",       "--out",    "--master",      "--method",
            "--cacert",   "--header", "--concurrency", "--retries",
            "--rate",     "--burst",  "--timeout",     "--grace",
            "--journal",  "--url",    "--max-time",    "--max-retry-after",
            "--max-body", "--memory"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            known |= !strcmp(a, valued[k]);
        if (!known)
            return bad_usage("unknown option", a);
        if (!v)
            return bad_usage("a value is needed after", a);
        i++;
        const char *why = NULL;
        if (!strcmp(a, "--in")) {
            o->in = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
            if (!*v)
                why = "an empty name";
        } else if (!strcmp(a, "--master")) {
            o->master = v;
        } else if (!strcmp(a, "--method")) {
            o->hc.method = v;
            for (const char *p = v; !why && *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'))
                    why = "an HTTP method in capitals (GET, POST, ...)";
            if (!*v)
                why = "an HTTP method in capitals (GET, POST, ...)";
        } else if (!strcmp(a, "--cacert")) {
            o->hc.ca_file = v;
        } else if (!strcmp(a, "--journal")) {
            o->journal = v;
            if (!*v)
                why = "an empty name";
        } else if (!strcmp(a, "--url")) {
            o->tmpl = v;
            if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
                why = "a template starting with http:// or https://";
            else if (!strchr(v, '{') || !strchr(v, '}'))
                why = "a template with {} (the line) or {field} (a field of a JSON line)";
        } else if (!strcmp(a, "--header")) {
            const char *colon = strchr(v, ':');
            if (!colon || colon == v || strpbrk(v, "\r\n") ||
                strcspn(v, " \t") < (size_t)(colon - v))
                why = "'Name: value' (a name, a colon, a value; no line breaks)";
            o->headers[o->nh++] = v;
        } else if (!strcmp(a, "--concurrency")) {
            if (parse_int(v, 1, 1000000, &o->concurrency))
                why = "a count of requests in flight, 1 to 1000000";
        } else if (!strcmp(a, "--retries")) {
            if (parse_int(v, 0, 1000, &o->retries))
                why = "a count of 0 to 1000";
        } else if (!strcmp(a, "--rate")) {
            double r = parse_rate(v);
            if (r <= 0)
                why = r == 0 ? "more than 0 requests (N/s, N/min or N/h)"
                             : "N/s, N/min or N/h, e.g. 120/min";
            else if (r < 1e-4 || r > 1e9)
                why = "a rate from 0.0001/s (one every 2.8 h) to 10^9/s";
            o->hc.rate = r;
        } else if (!strcmp(a, "--burst")) {
            char *end;
            o->hc.burst = strtod(v, &end);
            if (end == v || *end || !(o->hc.burst >= 1) || o->hc.burst > 1e9)
                why = "a count of at least 1";
        } else if (!strcmp(a, "--timeout")) {
            double t = parse_duration(v);
            if (!(t > 0) || t > 1e7)
                why = t == 0 ? "more than 0 (500ms, 30s, 2m)"
                             : "a duration of at most 10^7 s: 500ms, 30s, 2m, 1h";
            o->hc.timeout = t;
        } else if (!strcmp(a, "--grace")) {
            o->grace = parse_duration(v);
            if (o->grace < 0 || o->grace > 1e7)
                why = "a duration: 0, 500ms, 5s, 1m";
        } else if (!strcmp(a, "--max-time") || !strcmp(a, "--max-retry-after")) {
            double t = parse_duration(v);
            if (!(t > 0) || t > 1e7)
                why = "a duration of more than 0, at most 10^7 s: 500ms, 30s, 2m, 1h";
            else if (!strcmp(a, "--max-time"))
                o->hc.total_timeout = t;
            else
                o->hc.max_retry_after = t;
        } else if (!strcmp(a, "--max-body") || !strcmp(a, "--memory")) {
            size_t z;
            if (parse_size(v, &z) || z == 0)
                why = "a size of more than 0: 65536, 64k, 64m, 2g";
            else if (!strcmp(a, "--max-body"))
                o->hc.max_body = z;
            else
                o->hc.max_memory = z;
        }
        if (why) {
            fprintf(stderr, "ember http: bad value for %s: '%s' (expected %s)\n", a, v, why);
            return 2;
        }
    }
    if (o->hc.burst != 0 && o->hc.rate == 0) {
        fprintf(stderr, "ember http: --burst goes with --rate\n");
        return 2;
    }
    o->hc.headers = o->nh ? o->headers : NULL;
    o->hc.max_attempts = o->retries + 1;
    o->hc.grace = o->grace > 0 ? o->grace : -1;
    return 0;
}

/* ---------------------------------------------------------------- input */

/* The input's non-blank lines as ((seq, line number), request) records. */
typedef struct lines {
    char *data;
    size_t len;
    ember_rec *recs;
    int64_t (*keys)[2];
    char **made; /* requests built from --url, one a line (NULL: the line itself) */
    size_t n, blank;
} lines;

static void lines_free(lines *l)
{
    for (size_t i = 0; l->made && i < l->n; i++)
        free(l->made[i]);
    free(l->made);
    free(l->data);
    free(l->recs);
    free(l->keys);
}

static int read_input(const char *path, lines *l)
{
    bool std = !strcmp(path, "-");
    FILE *f = std ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ember http: cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    size_t cap = 0;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0 && !g_sig) {
        if (l->len + k + 1 > cap) {
            cap = (l->len + k + 1) * 2;
            char *d = realloc(l->data, cap);
            if (!d) {
                fprintf(stderr, "ember http: out of memory reading %s\n", path);
                if (!std)
                    fclose(f);
                return 2;
            }
            l->data = d;
        }
        memcpy(l->data + l->len, buf, k);
        l->len += k;
    }
    bool err = ferror(f);
    int saved = errno;
    if (!std)
        fclose(f);
    if (err) {
        fprintf(stderr, "ember http: reading %s failed: %s\n", std ? "the standard input" : path,
                strerror(saved));
        return 2;
    }
    size_t nl = 1;
    for (size_t i = 0; i < l->len; i++)
        nl += l->data[i] == '\n';
    l->recs = calloc(nl, sizeof *l->recs);
    l->keys = calloc(nl, sizeof *l->keys);
    if (!l->recs || !l->keys) {
        fprintf(stderr, "ember http: out of memory for %zu lines\n", nl);
        return 2;
    }
    int64_t line = 0;
    for (size_t at = 0; at < l->len;) {
        char *p = l->data + at, *eol = memchr(p, '\n', l->len - at);
        size_t n = eol ? (size_t)(eol - p) : l->len - at;
        at += n + 1;
        line++;
        size_t b = 0;
        while (b < n && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r'))
            b++;
        if (b == n) {
            l->blank++;
            continue;
        }
        l->keys[l->n][0] = (int64_t)l->n;
        l->keys[l->n][1] = line;
        l->recs[l->n] = (ember_rec){ember_bytes_of(l->keys[l->n], 16), ember_bytes_of(p, n)};
        l->n++;
    }
    return 0;
}

/* ---------------------------------------------------------------- --url */

static void put_encoded(char **o, size_t *len, size_t *cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (*len + 4 > *cap) {
            *cap = (*len + 4) * 2;
            if (!(*o = realloc(*o, *cap)))
                abort();
        }
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            (*o)[(*len)++] = (char)c;
        } else {
            (*o)[(*len)++] = '%';
            (*o)[(*len)++] = hex[c >> 4];
            (*o)[(*len)++] = hex[c & 15];
        }
    }
}

/* The text of field name (n bytes) of the JSON object line: a string's
 * characters, a number or a boolean as written. false when the line is not an
 * object or has no such field (or it is null, an object or an array). */
/* --out postgresql://...?table=T (or postgres://, or sqlite:PATH?table=T) */
static bool is_db_url(const char *out)
{
    return !strncmp(out, "postgresql://", 13) || !strncmp(out, "postgres://", 11) ||
           !strncmp(out, "sqlite:", 7);
}

/* The table (the query's table=T, taken out) and the URL without it. */
static int db_target(const char *out, char **url, char **table)
{
    const char *q = strchr(out, '?');
    const char *t = q ? strstr(q, "table=") : NULL;
    while (t && t[-1] != '?' && t[-1] != '&')
        t = strstr(t + 1, "table=");
    if (!t || !t[6] || t[6] == '&') {
        fprintf(stderr, "ember http: --out %s names no table (add ?table=NAME)\n", out);
        return 2;
    }
    size_t tl = strcspn(t + 6, "&"), cap = strlen(out) + 1;
    const char *after = t + 6 + tl;
    size_t head = (size_t)(t - out) - 1; /* up to the '?' or '&' before "table=" */
    char *u = malloc(cap);
    *table = strndup(t + 6, tl);
    if (!u || !*table)
        abort();
    memcpy(u, out, head);
    u[head] = 0;
    if (*after == '&') /* what followed keeps the separator "table=" had */
        snprintf(u + head, cap - head, "%c%s", out[head], after + 1);
    *url = u;
    return 0;
}

static bool json_field(const char *line, size_t len, const char *name, size_t n, char **out,
                       size_t *outlen)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)n, name);
    json_t *v = json_is_object(j) ? json_object_get(j, key) : NULL;
    bool ok = false;
    if (json_is_string(v)) {
        *outlen = json_string_length(v);
        ok = (*out = malloc(*outlen + 1)) != NULL;
        if (ok)
            memcpy(*out, json_string_value(v), *outlen + 1);
    } else if (json_is_number(v) || json_is_boolean(v)) {
        ok = (*out = json_dumps(v, JSON_ENCODE_ANY)) != NULL;
        if (ok)
            *outlen = strlen(*out);
    }
    json_decref(j);
    return ok;
}

/* The request for one line from the template; NULL with *why set when a field
 * is missing. */
static char *expand(const char *tmpl, const char *line, size_t n, char *why, size_t whylen)
{
    size_t len = 0, cap = strlen(tmpl) + n * 3 + 16;
    char *o = malloc(cap);
    if (!o)
        abort();
    bool json = n && line[0] == '{';
    for (const char *t = tmpl; *t;) {
        const char *open = strchr(t, '{'), *close = open ? strchr(open, '}') : NULL;
        size_t lit = open && close ? (size_t)(open - t) : strlen(t);
        if (len + lit + 1 > cap) {
            cap = (len + lit + 1) * 2;
            if (!(o = realloc(o, cap)))
                abort();
        }
        memcpy(o + len, t, lit);
        len += lit;
        t += lit;
        if (!(open && close))
            break;
        size_t fl = (size_t)(close - open - 1);
        if (fl == 0) {
            put_encoded(&o, &len, &cap, line, n);
        } else if (!json) {
            snprintf(why, whylen, "--url has {%.*s} but the line is not a JSON object", (int)fl,
                     open + 1);
            free(o);
            return NULL;
        } else {
            char *v;
            size_t vl;
            if (!json_field(line, n, open + 1, fl, &v, &vl)) {
                snprintf(why, whylen, "--url has {%.*s} but the line has no such field", (int)fl,
                         open + 1);
                free(o);
                return NULL;
            }
            put_encoded(&o, &len, &cap, v, vl);
            free(v);
        }
        t = close + 1;
    }
    o[len] = 0;
    return o;
}

/* Build every line's request from the template. A line it cannot build from
 * becomes a request that fails with that message (never a silent skip). */
static void apply_template(lines *l, const char *tmpl)
{
    l->made = calloc(l->n ? l->n : 1, sizeof *l->made);
    if (!l->made)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->recs[i].val.ptr;
        size_t n = l->recs[i].val.len;
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        char why[300];
        char *r = expand(tmpl, p, n, why, sizeof why);
        if (!r) { /* not a URL: ember_http answers it with this text as its error */
            if (asprintf(&r, "(%s)", why) < 0)
                abort();
        }
        l->made[i] = r;
        l->recs[i].val = ember_bytes_of(r, strlen(r));
    }
}

/* ---------------------------------------------------------------- progress */

typedef struct progress {
    ember_rdd *rdd;
    size_t total;
    atomic_bool stop;
    struct timespec t0;
    int64_t hist_done[16];
    double hist_t[16];
    int nhist;
} progress;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void fmt_secs(char *b, size_t n, double s)
{
    if (s < 60)
        snprintf(b, n, "%.0f s", s);
    else if (s < 3600)
        snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(b, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void draw(progress *p)
{
    ember_http_counts c;
    int64_t done = 0;
    if (ember_http_progress(p->rdd, &c, &done))
        return;
    double t = since(&p->t0);
    /* answers a second over the last few seconds */
    int k = p->nhist % 16;
    p->hist_done[k] = done;
    p->hist_t[k] = t;
    p->nhist++;
    int oldest = p->nhist > 16 ? p->nhist % 16 : 0;
    double dt = t - p->hist_t[oldest],
           rate = dt > 0.1 ? (double)(done - p->hist_done[oldest]) / dt : 0;
    char el[32], eta[48] = "";
    fmt_secs(el, sizeof el, t);
    if (rate > 0 && (size_t)done < p->total) {
        char e[32];
        fmt_secs(e, sizeof e, (double)(p->total - (size_t)done) / rate);
        snprintf(eta, sizeof eta, ", ETA %s", e);
    }
    fprintf(stderr,
            "\r\033[Kember http: %lld/%zu done, %.1f/s, %s%s; %lld sent, %lld retried, %lld "
            "throttled, %lld failed",
            (long long)done, p->total, rate, el, eta, (long long)c.sent, (long long)c.retried,
            (long long)c.throttled, (long long)c.failed);
    fflush(stderr);
}

static void *progress_main(void *arg)
{
    progress *p = arg;
    while (!atomic_load(&p->stop)) {
        draw(p);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fputs("\r\033[K", stderr);
    return NULL;
}

/* ---------------------------------------------------------------- the journal */

/* What the journal is for: the input's name, size and hash, and the template. */
static char *journal_tag(const opts *o, const lines *l)
{
    XXH128_hash_t h = XXH3_128bits(l->data, l->len);
    char *tag = NULL;
    if (asprintf(&tag, "%s: %zu requests, xxh128 %016llx%016llx%s%s",
                 strcmp(o->in, "-") ? o->in : "standard input", l->n, (unsigned long long)h.high64,
                 (unsigned long long)h.low64, o->tmpl ? "; --url " : "",
                 o->tmpl ? o->tmpl : "") < 0)
        abort();
    return tag;
}

static void journal_remove(const char *path)
{
    unlink(path);
    char pattern[PATH_MAX + 16];
    snprintf(pattern, sizeof pattern, "%s.rank-*", path);
    glob_t g;
    if (!glob(pattern, GLOB_NOSORT, NULL, &g)) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
}

/* ---------------------------------------------------------------- the command */

static void print_summary(const char *how, size_t total, const ember_http_counts *c, int64_t done,
                          double secs, const char *journal, bool kept)
{
    fprintf(stderr,
            "ember http: %s: %lld of %zu answered in %.1f s (%lld ok, %lld failed%s%lld from "
            "the journal); %lld sent, %lld retried, %lld throttled\n",
            how, (long long)done, total, secs, (long long)c->succeeded, (long long)c->failed, ", ",
            (long long)c->resumed, (long long)c->sent, (long long)c->retried,
            (long long)c->throttled);
    if (journal && kept)
        fprintf(stderr,
                "ember http: the answers so far are in %s; run the same command again "
                "to send only the rest\n",
                journal);
}

int ember_cli_http(int argc, char **argv)
{
    opts o;
    int status = parse_opts(argc, argv, &o);
    if (status) {
        free(o.headers);
        return status < 0 ? 0 : status;
    }
    catch_signals();
    ember_raise_open_files_limit(); /* a socket a request in flight */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    lines l = {0};
    char *db_url = NULL, *db_table = NULL; /* --out to a database */
    if ((status = read_input(o.in, &l)))
        goto out_lines;
    if (g_sig) {
        status = 128 + g_sig;
        goto out_lines;
    }
    struct stat st;
    bool to_db = o.out && is_db_url(o.out);
    if (to_db && (status = db_target(o.out, &db_url, &db_table)))
        goto out_lines;
    bool to_dir = !to_db && o.out &&
                  (o.out[strlen(o.out) - 1] == '/' || (!stat(o.out, &st) && S_ISDIR(st.st_mode)));
    if (l.n == 0) { /* nothing to send: an existing output is left as it is */
        fprintf(stderr, "ember http: no requests in %s (%zu blank line%s); %s\n",
                strcmp(o.in, "-") ? o.in : "the standard input", l.blank, l.blank == 1 ? "" : "s",
                o.out ? "the output is left as it was" : "nothing written");
        goto out_lines;
    }
    if (o.tmpl)
        apply_template(&l, o.tmpl);

    ember_ctx *ctx = NULL;
    /* the progress: this command's own line (done, rate, ETA) when stderr is a
     * terminal; Spark's bar instead when EMBER_PROGRESS asks for it */
    const char *bar = getenv("EMBER_PROGRESS");
    bool own_line = !(bar && *bar);
    if (ember_open(&ctx, &(ember_conf){.master = o.master,
                                       .app_name = "ember http",
                                       .progress = own_line ? -1 : 0})) {
        fprintf(stderr, "ember http: %s\n", ember_errmsg(NULL));
        status = 2;
        goto out_lines;
    }
    g_ctx = ctx;
    if (g_sig)
        ember_cancel(ctx);
    bool driver = ember_is_driver(ctx), mpi = ember_ranks(ctx) > 1;

    /* the journal: asked for, or beside a file output */
    char *jpath = NULL, *tag = journal_tag(&o, &l);
    if (o.journal && !o.no_journal)
        jpath = strdup(o.journal);
    else if (o.out && !to_dir && !to_db && !o.no_journal &&
             asprintf(&jpath, "%s.journal", o.out) < 0)
        abort();
    if (jpath) {
        struct stat js;
        if (!stat(jpath, &js) && !S_ISREG(js.st_mode)) { /* never a device or a FIFO */
            fprintf(stderr, "ember http: the journal %s is not a plain file\n", jpath);
            status = 2;
            goto out_ctx;
        }
        o.hc.journal = jpath;
        o.hc.journal_tag = tag;
    }

    output out = {.fd = -1};
    if (!to_dir && !to_db && driver && (status = ember_cli_output_open(o.out, &out)))
        goto out_ctx;

    int parts = ember_parallelism(ctx) * ember_ranks(ctx); /* every rank's threads */
    if ((size_t)parts > l.n)
        parts = (int)l.n;
    int per_task = (o.concurrency + parts - 1) / parts;
    o.hc.max_in_flight = per_task > 65536 ? 65536 : per_task;
    ember_rdd *reqs = ember_parallelize_pairs(ctx, l.recs, l.n, parts);
    ember_rdd *answers = ember_http(reqs, &o.hc);
    line_args la = {.body_json = o.body_json, .keyed = !to_dir && !to_db && !mpi};
    ember_rdd *json = ember_map(answers, ember_cli_to_json, &la);

    progress p = {.rdd = answers, .total = l.n, .t0 = t0};
    pthread_t th;
    bool tty = own_line && isatty(STDERR_FILENO) && driver;
    if (tty && pthread_create(&th, NULL, progress_main, &p))
        tty = false;

    writer w = {.fd = out.fd >= 0 ? out.fd : STDOUT_FILENO, .stream = !out.atomic, .ctx = ctx};
    int rc = 0;
    if (to_dir) {
        rc = ember_save_as_text_file(json, o.out, NULL);
    } else if (to_db) { /* the table's columns taken from each line, the others left out */
        rc = ember_save_to_db(json, &(ember_db_conf){.url = db_url,
                                                     .table = db_table,
                                                     .mode = EMBER_DB_INSERT,
                                                     .rows = EMBER_DB_ROWS_JSON,
                                                     .ignore_unknown = 1});
    } else if (mpi) {
        rc = ember_cli_save_distributed(ctx, json, &out, o.out, parts);
    } else {
        pthread_mutex_init(&w.mu, NULL);
        w.parts = parts;
        w.start = calloc((size_t)parts + 1, sizeof *w.start);
        w.next = calloc((size_t)parts + 1, sizeof *w.next);
        w.held = calloc((size_t)parts, sizeof *w.held);
        if (!w.start || !w.next || !w.held)
            abort();
        for (int i = 0; i <= parts; i++) /* parallelize's slices */
            w.start[i] = (int64_t)((unsigned __int128)l.n * (unsigned)i / (unsigned)parts);
        for (int i = 0; i < parts; i++) {
            w.next[i] = w.start[i];
            w.held[i].fd = -1;
        }
        rc = ember_foreach(json, ember_cli_writer_each, &w);
        if (!rc && !w.err && (w.err = ember_cli_writer_flush(&w)))
            ember_cancel(ctx);
        if (!rc && !w.err && w.head != parts) /* every line is written, or the job failed */
            w.err = EIO;
        ember_cli_writer_free(&w);
    }
    if (tty) {
        atomic_store(&p.stop, true);
        pthread_join(th, NULL);
    }
    /* the job's counts (every rank's) when it ran to the end, else this process's */
    ember_http_counts c = {0};
    int64_t done = 0;
    if (rc == 0 && !ember_http_counters(answers, &c))
        done = c.succeeded + c.failed;
    else
        ember_http_progress(answers, &c, &done);
    double secs = since(&t0);
    if (g_sig) {
        if (driver)
            print_summary(g_sig == SIGTERM ? "interrupted by SIGTERM" : "interrupted by SIGINT",
                          l.n, &c, done, secs, jpath, true);
        status = 128 + g_sig;
    } else if (w.err) {
        if (w.err == EPIPE) { /* the reader went away (| head): not an error worth a word */
            status = 141;
        } else {
            fprintf(stderr, "ember http: writing %s failed: %s\n", out.name, strerror(w.err));
            status = 2;
        }
    } else if (rc < 0) {
        if (driver) {
            fprintf(stderr, "ember http: %s\n", ember_errmsg(ctx));
            if (jpath && done > 0)
                fprintf(stderr, "ember http: the answers so far are in %s\n", jpath);
        }
        status = 2;
    } else if (rc) {
        status = 2;
    } else if (driver && (status = ember_cli_output_commit(&out)) == 0) {
        if (jpath && !o.keep_journal)
            journal_remove(jpath);
        print_summary(c.failed ? "done, with failures" : "done", l.n, &c, done, secs, NULL, false);
        if (c.failed)
            fprintf(stderr,
                    "ember http: %lld of %zu requests failed; see \"error\" in their "
                    "lines\n",
                    (long long)c.failed, l.n);
        status = c.failed ? 1 : 0;
    }
    if (!driver && !status && c.failed)
        status = 1;
    ember_cli_output_close(&out);
out_ctx:
    g_ctx = NULL;
    ember_close(ctx);
    free(jpath);
    free(tag);
out_lines:
    free(db_url);
    free(db_table);
    lines_free(&l);
    free(o.headers);
    return status;
}
