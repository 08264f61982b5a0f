/* The gateway's threads: N I/O workers, each with its own libevent loop and an SO_REUSEPORT
 * listener on the public address, and one loop for the admin address; the claim that keeps
 * another process off those addresses; the signals. */
#include <event2/listener.h>
#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway.h"
#include "route.h"
#include "rampart/net.h"
#include "server.h"

#define WORKERS_MAX 64

#define HEAD_MAX (64u * 1024)
#define CLIENT_TIMEOUT_S 120

/* A request that could not be read is answered in OpenAI's shape, like every other error.
 * Returns true when it was one. */
static bool refused(struct gw *gw, struct gw_req *req)
{
    const char *why = gw_req_refused_reason(req);
    switch (gw_req_refused(req)) {
    case 0: return false;
    case 408:
        gw_error(gw, req, 408, "invalid_request_error", "request_timeout",
                 "the request line and headers did not arrive within %.0f s "
                 "(limits.header_timeout)",
                 gw->cfg->header_timeout_seconds);
        break;
    case 505:
        gw_error(gw, req, 505, "invalid_request_error", "http_version_not_supported",
                 "%s is not served here: send HTTP/1.1 (or 1.0)", why);
        break;
    case 413:
        gw_error(gw, req, 413, "invalid_request_error", "request_too_large",
                 "the request body is over the limit of %zu bytes (limits.max_body_bytes)",
                 gw->cfg->max_body_bytes);
        break;
    case 431:
        gw_error(gw, req, 431, "invalid_request_error", "request_header_fields_too_large",
                 "the request line and headers are over the limit of %u bytes", HEAD_MAX);
        break;
    default:
        gw_error(gw, req, 400, "invalid_request_error", "invalid_request",
                 "the request is not valid HTTP/1.1%s%s", *why ? ": " : "", why);
    }
    return true;
}

/* The public listener's endpoints; each handler checks its own methods. */
enum { R_PROXY, R_MODERATIONS, R_SIGNUP, R_VERIFY, R_KEYS, R_HEALTHZ };
static const struct gw_route routes[] = {
    {"/v1/chat/completions", 0, R_PROXY},
    {"/v1/completions", 0, R_PROXY},
    {"/v1/embeddings", 0, R_PROXY},
    {"/v1/models", 0, R_PROXY},
    {"/v1/moderations", 0, R_MODERATIONS},
    {"/v1/signup", 0, R_SIGNUP},
    {"/v1/verify", 0, R_VERIFY},
    {"/v1/keys", 0, R_KEYS},
    {"/v1/keys/*", 0, R_KEYS},
    {"/healthz", 0, R_HEALTHZ},
};

static void route(struct gw_req *req, void *arg)
{
    struct gw_worker *w = arg;
    if (refused(w->gw, req))
        return;
    const char *path = gw_req_path(req);
    int64_t id;
    const struct gw_route *r =
        gw_route_find(routes, sizeof(routes) / sizeof(routes[0]), path, gw_req_method(req), &id);
    switch (r ? r->op : -1) {
    case R_PROXY: gw_proxy(w, req, path); break;
    case R_MODERATIONS: gw_moderations(w, req); break;
    case R_SIGNUP: gw_signup(w, req); break;
    case R_VERIFY: gw_verify(w, req); break;
    case R_KEYS: gw_keys(w, req, path); break;
    case R_HEALTHZ: gw_healthz(w->gw, req, false); break;
    default:
        gw_error(w->gw, req, 404, "invalid_request_error", "not_found",
                 "no such endpoint: %s (see docs/api.md)", path);
    }
}

static void admin_route(struct gw_req *req, void *arg)
{
    struct gw_worker *w = arg;
    if (!refused(w->gw, req))
        gw_admin(w, req);
}

/* Binds addr (port 0 allowed: the kernel's port is then written back into *sa); shared with
 * the other workers' listeners when share (SO_REUSEPORT). */
static struct evconnlistener *listen_on(struct event_base *base, struct sockaddr_storage *sa,
                                        socklen_t len, bool share)
{
    struct evconnlistener *l =
        evconnlistener_new_bind(base, NULL, NULL,
                                LEV_OPT_REUSEABLE | (share ? LEV_OPT_REUSEABLE_PORT : 0) |
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)sa, (int)len);
    if (l) {
        socklen_t n = sizeof(*sa);
        getsockname(evconnlistener_get_fd(l), (struct sockaddr *)sa, &n);
    }
    return l;
}

static int resolve(const char *text, struct sockaddr_storage *sa, socklen_t *len,
                   struct rp_error *err)
{
    char host[256];
    unsigned port;
    int rc = rp_hostport_parse(text, host, sizeof(host), &port, err);
    if (rc)
        return rc;
    if (rp_addr_parse(host, sa) != 0) {
        rp_error_set(err, "'%s' is not an IP address (listen on an address, not a name)", host);
        return RP_EINVAL;
    }
    if (sa->ss_family == AF_INET) {
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in);
    } else {
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in6);
    }
    return RP_OK;
}

/* Admin connections (cap false) count against the descriptors, not the per-client cap: an
 * operator must get in while clients of the same address are capped. */
static int setup_server(struct gw_worker *w, struct evconnlistener *l, gw_route_fn fn, void *arg,
                        bool cap)
{
    struct gw_server_options opt = {.max_body = w->gw->cfg->max_body_bytes,
                                    .max_head = HEAD_MAX,
                                    .timeout_s = CLIENT_TIMEOUT_S,
                                    .header_timeout_s =
                                        (unsigned)ceil(w->gw->cfg->header_timeout_seconds),
                                    .conns = w->gw->conns,
                                    .cap_clients = cap,
                                    .route = fn,
                                    .arg = arg};
    return gw_server_new(w->base, l, &opt, &w->server);
}

/* One loop a thread. Sockets are registered once, edge-triggered; the changelist folds what
 * interest changes remain (timers aside, none a request) into the loop's wait. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *b = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return b;
}

static void *worker_main(void *arg)
{
    struct gw_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static char *addr_text(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char host[64] = "?";
    unsigned port = 0;
    if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
        port = ntohs(((struct sockaddr_in *)sa)->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
        port = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    }
    return buf;
}

/* ---- One gateway an address ---- */

static int claim_one(const char *key, const char *text, int *fd_out, struct rp_error *err)
{
    struct sockaddr_storage sa;
    socklen_t len;
    char shown[80];
    *fd_out = -1;
    int rc = resolve(text, &sa, &len, err);
    if (rc)
        return rc;
    addr_text(&sa, shown, sizeof(shown));
    in_port_t port = sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
                                             : ((struct sockaddr_in6 *)&sa)->sin6_port;
    if (port == 0)
        return RP_OK; /* each bind of port 0 gets a port nobody holds */
    /* The lock: an abstract Unix socket named after the address. One socket at a time may hold a
     * name, per network namespace like the port itself, and the kernel lets go of it when the
     * process ends, however it ends: two gateways starting at once cannot both pass. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "rampart-serve %s", shown);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || n <= 0 || (size_t)n >= sizeof(un.sun_path) - 1) {
        rp_error_set(err, "%s %s: cannot make the lock of the address: %s", key, shown,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        return RP_EIO;
    }
    if (bind(fd, (struct sockaddr *)&un,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            rp_error_set(err, "%s %s is already in use (another rampart serve listens there)", key,
                         shown);
        else
            rp_error_set(err, "%s %s: cannot take the lock of the address: %s", key, shown,
                         strerror(e));
        return RP_EIO;
    }
    /* The probe: a bind without SO_REUSEPORT, refused while anything listens on the port (an
     * older gateway, another program, a wildcard address covering this one). */
    int probe = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (probe >= 0)
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (probe < 0 || bind(probe, (struct sockaddr *)&sa, len) != 0) {
        int e = errno;
        if (probe >= 0)
            close(probe);
        close(fd);
        if (e == EADDRINUSE)
            rp_error_set(err, "%s %s is already in use (another rampart serve?)", key, shown);
        else
            rp_error_set(err, "cannot listen on %s %s: %s", key, shown, strerror(e));
        return RP_EIO;
    }
    close(probe);
    *fd_out = fd;
    return RP_OK;
}

int gw_claim(const struct rp_config *cfg, struct gw_claim *out, struct rp_error *err)
{
    out->fd[0] = out->fd[1] = -1;
    int rc = claim_one("listen", cfg->listen, &out->fd[0], err);
    if (!rc)
        rc = claim_one("admin_listen", cfg->admin_listen, &out->fd[1], err);
    if (rc)
        gw_claim_release(out);
    return rc;
}

void gw_claim_release(struct gw_claim *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        c->fd[i] = -1;
    }
}

/* The signals the gateway takes with sigwait, blocked in every thread. */
void gw_block_signals(bool stop_too)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    if (stop_too) {
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int gw_run(struct gw *gw, struct rp_error *err)
{
    int result = RP_OK;
    unsigned n = gw->cfg->workers;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : (unsigned)cpus;
    }
    if (n > WORKERS_MAX)
        n = WORKERS_MAX;
    evthread_use_pthreads();
    /* Signals are taken by this thread alone, with sigwait. */
    gw_block_signals(true);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);

    struct gw_worker *workers = calloc(n, sizeof(*workers));
    struct gw_worker admin = {0};
    pthread_t *tids = calloc(n + 1, sizeof(*tids));
    size_t started = 0;
    bool admin_started = false;
    struct sockaddr_storage sa, asa;
    socklen_t len, alen;
    char shown[80], ashown[80];
    if (!workers || !tids) {
        result = RP_ENOMEM;
        goto out;
    }
    /* The store threads, before any loop can ask them for work. */
    result = gw_offload_new(GW_STORE_THREADS, GW_STORE_QUEUE, &gw->offload);
    if (result) {
        rp_error_set(err, "cannot start the store threads");
        goto out;
    }
    result = resolve(gw->cfg->listen, &sa, &len, err);
    if (!result)
        result = resolve(gw->cfg->admin_listen, &asa, &alen, err);
    if (result)
        goto out;
    struct gw_conns_options co = {.per_client = gw->cfg->client_connections,
                                  .exempt = gw->cfg->trusted_proxies,
                                  .n_exempt = gw->cfg->n_trusted_proxies};
    if (gw_conns_new(&co, &gw->conns)) {
        result = RP_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        struct gw_worker *w = &workers[i];
        w->gw = gw;
        if (gw->guard && rp_guard_scratch_new(gw->guard, &w->guard_scratch)) {
            result = RP_ENOMEM;
            goto out;
        }
        w->base = new_base();
        if (w->base && gw_inbox_new(w->base, &w->inbox)) {
            result = RP_ENOMEM;
            goto out;
        }
        struct gw_upstream_options uo = {.host = gw->up_host,
                                         .port = gw->up_port,
                                         .ssl_ctx = gw->up_tls ? gw->ssl_ctx : NULL,
                                         .timeout_s =
                                             (unsigned)ceil(gw->cfg->upstream_timeout_seconds),
                                         .pool_max = GW_POOL_MAX};
        if (!w->base || gw_upstream_new(w->base, &uo, &w->up)) {
            result = RP_ENOMEM;
            goto out;
        }
        /* The first bind settles an ephemeral port; the others share it (SO_REUSEPORT; the
         * claim of gw_claim keeps other processes out). */
        struct evconnlistener *l = listen_on(w->base, &sa, len, n > 1);
        if (!l) {
            rp_error_set(err, "cannot listen on %s: %s%s", gw->cfg->listen, strerror(errno),
                         errno == EADDRINUSE ? " (another program took it while starting?)" : "");
            result = RP_EIO;
            goto out;
        }
        if (setup_server(w, l, route, w, true)) {
            result = RP_ENOMEM;
            goto out;
        }
    }
    /* Links in mails point where the API really listens (listen may ask for any free port). */
    if (!gw->cfg->public_url_explicit) {
        char url[96];
        snprintf(url, sizeof(url), "http://%s", addr_text(&sa, shown, sizeof(shown)));
        char *copy = strdup(url);
        if (copy) {
            free(gw->cfg->public_url);
            gw->cfg->public_url = copy;
        }
    }
    admin.gw = gw;
    admin.base = event_base_new();
    if (!admin.base || gw_inbox_new(admin.base, &admin.inbox)) {
        result = RP_ENOMEM;
        goto out;
    }
    struct evconnlistener *al = listen_on(admin.base, &asa, alen, false);
    if (!al) {
        rp_error_set(err, "cannot listen on %s: %s", gw->cfg->admin_listen, strerror(errno));
        result = RP_EIO;
        goto out;
    }
    if (setup_server(&admin, al, admin_route, &admin, false)) {
        result = RP_ENOMEM;
        goto out;
    }
    for (; started < n; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &workers[started]) != 0) {
            rp_error_set(err, "cannot start worker threads");
            result = RP_ENOMEM;
            goto out;
        }
    if (pthread_create(&tids[n], NULL, worker_main, &admin) != 0) {
        result = RP_ENOMEM;
        goto out;
    }
    admin_started = true;
    if (!gw->cfg->admin_token)
        fprintf(stderr,
                "rampart serve: the admin API is off: no admin_token in the configuration and "
                "RAMPART_ADMIN_TOKEN is not set (/admin/ answers 401 admin_api_off; /metrics and "
                "/healthz still answer on %s)\n",
                addr_text(&asa, ashown, sizeof(ashown)));
    fprintf(stderr, "rampart serve: listening on %s (admin %s), %u workers, upstream %s\n",
            addr_text(&sa, shown, sizeof(shown)), addr_text(&asa, ashown, sizeof(ashown)), n,
            gw->cfg->upstream_url);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGINT || sig == SIGTERM)
            break;
        /* The default action of SIGHUP would end the process at once, without the clean stop. */
        fprintf(stderr, "rampart serve: SIGHUP: reload is not supported yet; ignored (SIGTERM "
                        "stops the gateway)\n");
    }
    fprintf(stderr, "rampart serve: stopping\n");
out:
    for (size_t i = 0; i < started; i++)
        event_base_loopexit(workers[i].base, NULL);
    if (admin_started)
        event_base_loopexit(admin.base, NULL);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (admin_started)
        pthread_join(tids[n], NULL);
    /* The store threads finish what they were given; its answers go out from the inboxes
     * (the loops have stopped), before the connections they answer are freed. */
    gw_offload_stop(gw->offload);
    for (unsigned i = 0; workers && i < n; i++)
        gw_inbox_free(workers[i].inbox);
    gw_inbox_free(admin.inbox);
    for (unsigned i = 0; workers && i < n; i++) {
        /* Requests in flight first: their proxies answer their clients and free themselves. */
        gw_upstream_free(workers[i].up);
        gw_server_free(workers[i].server);
        if (workers[i].base)
            event_base_free(workers[i].base);
        rp_guard_scratch_free(workers[i].guard_scratch);
    }
    gw_server_free(admin.server);
    if (admin.base)
        event_base_free(admin.base);
    gw_conns_free(gw->conns);
    gw->conns = NULL;
    gw_offload_free(gw->offload);
    gw->offload = NULL;
    free(workers);
    free(tids);
    return result;
}
