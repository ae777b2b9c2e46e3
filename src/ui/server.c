/* The web server: libmicrohttpd on 127.0.0.1 only, its own threads (an epoll
 * loop and a small pool: two threads, the history server's four, for an
 * answer there may wait while its log is read whole), so a slow or hostile
 * client never touches a job.
 * Limits: 200 connections at once (more are refused), 10 s of silence closes
 * one, 32 KiB for a request's headers (a 10 MB header gets 431), GET and HEAD
 * only. Nothing is read from disk: a path is one of the pages, the REST API or
 * the two embedded assets, else 404.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "core/lazy.h"
#include "ui/ui.h"

struct ui_server {
    struct MHD_Daemon *d;
    int port;
    bool history;
    pthread_rwlock_t rw; /* models and nmodels: read by each answer, swapped by history */
    ui_model **models;
    int nmodels;
    ui_hooks hooks;
};

/* The page's script: while the application runs, the page's content is fetched
 * again every second and swapped in (no framework; nothing from elsewhere). */
static const char UI_JS[] =
    "(function(){\n"
    "  var live = document.body.getAttribute('data-live') === '1';\n"
    "  if (!live) return;\n"
    "  function tick(){\n"
    "    fetch(location.href, {cache: 'no-store'}).then(function(r){ return r.text(); })\n"
    "    .then(function(t){\n"
    "      var d = new DOMParser().parseFromString(t, 'text/html');\n"
    "      var m = document.getElementById('main'), n = d.getElementById('main');\n"
    "      if (m && n) m.innerHTML = n.innerHTML;\n"
    "      if (d.body.getAttribute('data-live') === '1') setTimeout(tick, 1000);\n"
    "      else document.body.setAttribute('data-live', '0');\n"
    "    }).catch(function(){ setTimeout(tick, 2000); });\n"
    "  }\n"
    "  setTimeout(tick, 1000);\n"
    "})();\n";

static const char UI_CSS[] =
    "body{font-family:sans-serif;margin:0;color:#222}\n"
    "nav{background:#33475b;padding:6px 12px}nav a{color:#fff;margin-right:16px;"
    "text-decoration:none}\n"
    "nav .app{color:#ccd;float:right}\n"
    "#main{padding:8px 16px}h2{font-size:18px}h3{font-size:15px}\n"
    "table{border-collapse:collapse;margin:6px 0 14px}td,th{border:1px solid #ccc;"
    "padding:3px 8px;font-size:13px;text-align:left}th{background:#eee}\n"
    "td.n{text-align:right}.fail{color:#b00;font-weight:bold}.warn{color:#a60}\n"
    ".error{background:#fee;border:1px solid #b00;padding:8px;margin:8px 0;white-space:pre-wrap}\n"
    "svg{background:#fafafa;border:1px solid #ddd}svg.bar{border:0;vertical-align:middle}\n";

static bool path_ok(const char *p)
{
    size_t n = strlen(p);
    return n > 0 && n <= 512 && p[0] == '/' && !strstr(p, "..") && !strchr(p, '\\') &&
           !strstr(p, "//");
}

static enum MHD_Result answer(struct MHD_Connection *c, ui_reply *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->body.len, r->body.len ? r->body.ptr : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "text/html; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; frame-ancestors 'none'");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void not_found(ui_reply *r)
{
    r->body.len = 0;
    r->status = 404;
    r->type = "text/plain; charset=utf-8";
    ember_buf_append(&r->body, "not found\n", 10);
}

/* The page of one model: its lock held while it draws. */
static void page(ui_model *m, const char *base, const char *rest, const char *query, bool history,
                 ui_reply *r)
{
    pthread_mutex_lock(&m->mu);
    ember__ui_model_sync(m);
    ember__ui_page(m, base, rest, query, history, r);
    pthread_mutex_unlock(&m->mu);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload;
    ui_server *s = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        ui_reply r = {.status = 405, .type = "text/plain; charset=utf-8"};
        ember_buf_append(&r.body, "method not allowed\n", 19);
        enum MHD_Result ret = answer(c, &r);
        ember_buf_destroy(&r.body);
        return ret;
    }
    if (*upload_size) { /* a GET with a body: ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    (void)con_cls;
    ui_reply r = {.status = 200};
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    void *entered = s->hooks.enter ? s->hooks.enter(s->hooks.arg, url) : NULL;
    pthread_rwlock_rdlock(&s->rw);
    if (!path_ok(url)) {
        not_found(&r);
    } else if (!strcmp(url, "/static/ui.js")) {
        r.type = "text/javascript; charset=utf-8";
        ember_buf_append(&r.body, UI_JS, sizeof UI_JS - 1);
    } else if (!strcmp(url, "/static/ui.css")) {
        r.type = "text/css; charset=utf-8";
        ember_buf_append(&r.body, UI_CSS, sizeof UI_CSS - 1);
    } else if (!strncmp(url, "/api/v1", 7) && (url[7] == '/' || !url[7])) {
        /* the arguments Spark's REST API takes, decoded, as "name=value&..."
         * (an '&' in a value would start another: it is made a '?') */
        static const char *const names[] = {"status",  "offset",  "length",     "limit",
                                            "minDate", "maxDate", "minEndDate", "maxEndDate"};
        char query[512] = "";
        size_t at = 0;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, names[i]);
            if (!v)
                continue;
            int w =
                snprintf(query + at, sizeof query - at, "%s%s=%.40s", at ? "&" : "", names[i], v);
            for (char *p = query + at + strlen(names[i]) + 1 + (at ? 1 : 0); *p; p++)
                if (*p == '&')
                    *p = '?';
            at += (size_t)w;
        }
        for (int i = 0; i < s->nmodels; i++)
            pthread_mutex_lock(&s->models[i]->mu);
        ember__ui_rest(s->models, s->nmodels, url + 7, query, &r);
        for (int i = s->nmodels - 1; i >= 0; i--)
            pthread_mutex_unlock(&s->models[i]->mu);
    } else if (!s->history) {
        page(s->models[0], "", url, q, false, &r);
    } else if (!strcmp(url, "/")) {
        for (int i = 0; i < s->nmodels; i++)
            pthread_mutex_lock(&s->models[i]->mu);
        ember__ui_app_list(s->models, s->nmodels, &r);
        for (int i = s->nmodels - 1; i >= 0; i--)
            pthread_mutex_unlock(&s->models[i]->mu);
    } else if (!strncmp(url, "/history/", 9)) {
        const char *id = url + 9, *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        ui_model *m = NULL;
        for (int i = 0; i < s->nmodels && !m; i++)
            if (s->models[i]->app_id && strlen(s->models[i]->app_id) == n &&
                !strncmp(s->models[i]->app_id, id, n))
                m = s->models[i];
        char base[300];
        snprintf(base, sizeof base, "/history/%.*s", (int)(n < 200 ? n : 200), id);
        if (m)
            page(m, base, slash ? slash : "/", q, true, &r);
        else
            not_found(&r);
    } else {
        not_found(&r);
    }
    pthread_rwlock_unlock(&s->rw);
    if (s->hooks.leave)
        s->hooks.leave(s->hooks.arg, entered);
    if (!r.status)
        r.status = 200;
    enum MHD_Result ret = answer(c, &r);
    ember_buf_destroy(&r.body);
    return ret;
}

int ember__ui_serve(ui_model **models, int nmodels, bool history, int port, ui_server **out,
                    char *why, size_t whylen, const ui_hooks *hooks)
{
    ui_server *s = ember__calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return EMBER_ENOMEM;
    }
    *s = (ui_server){.history = history, .models = models, .nmodels = nmodels};
    if (hooks)
        s->hooks = *hooks;
    if (ember__lib_load(&ember__libmhd)) { /* loaded when first used: core/lazy.h */
        snprintf(why, whylen, "%s", ember__libmhd.err);
        ember__free(s);
        return EMBER_EIO;
    }
    pthread_rwlockattr_t ra; /* a new look waits for the answers in flight, not all to come */
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    int first = port < 0 ? 4040 : port, tries = port < 0 ? 16 : 1;
    for (int p = first; p < first + tries && !s->d; p++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->d = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO, (uint16_t)p, NULL, NULL, handle, s,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_LIMIT, (unsigned)200,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)(32 * 1024), MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(history ? 4 : 2),
            MHD_OPTION_END);
        if (s->d)
            s->port = p;
    }
    if (!s->d) {
        if (tries > 1)
            snprintf(why, whylen, "no port free from %d to %d on 127.0.0.1", first,
                     first + tries - 1);
        else
            snprintf(why, whylen, "cannot listen on 127.0.0.1:%d (taken?)", first);
        pthread_rwlock_destroy(&s->rw);
        ember__free(s);
        return EMBER_EIO;
    }
    *out = s;
    return 0;
}

int ember__ui_server_port(const ui_server *s)
{
    return s ? s->port : 0;
}

void ember__ui_server_models(ui_server *s, ui_model **models, int nmodels)
{
    pthread_rwlock_wrlock(&s->rw); /* no answer is being made: none holds the old */
    s->models = models;
    s->nmodels = nmodels;
    pthread_rwlock_unlock(&s->rw);
}

void ember__ui_server_stop(ui_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    pthread_rwlock_destroy(&s->rw);
    ember__free(s);
}
