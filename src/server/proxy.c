/* Proxying authenticated requests to the model upstream: limits first, then the request goes
 * out on a pooled connection and the answer comes back as it arrives (server-sent events
 * included), with backpressure from slow clients and token usage read on the way. */
#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "guardrail.h"
#include "rampart/sse.h"

/* Above this many bytes waiting for a slow client, the upstream is no longer read. */
#define CLIENT_HIGH_WATER (256u * 1024)
/* Of a non-streamed answer only the end is kept: "usage" comes last in OpenAI's answers (and in
 * those of llama.cpp, vLLM and Ollama), so a 100 MB embedding still has its tokens counted
 * while memory stays bounded. */
#define USAGE_TAIL (64u * 1024)
#define SSE_LINE_MAX (256u * 1024)
/* A non-streamed answer the guardrails inspect is read whole, up to this size. */
#define GUARDED_BODY_MAX (64u << 20)

struct proxy {
    struct gw_worker *w;
    struct evhttp_request *client;
    struct evhttp_request *up;
    struct evhttp_connection *conn;
    struct rp_key_info key;
    char key_name[32];
    char path[32]; /* which endpoint, for the event log */
    bool started, finished, paused, stream, client_gone, failed;
    bool stopping;              /* the guardrails stopped the answer; stop_cb ends the request */
    bool too_big;               /* a guarded answer went over GUARDED_BODY_MAX */
    struct gw_answer_guard *ag; /* the output guardrails, or NULL */
    struct evbuffer *gout;      /* what the guardrails let through, to send */
    int status;
    int up_error;        /* an enum evhttp_request_error, or -1 when none was reported */
    struct rp_buf body;  /* copy of a non-streamed answer, for its usage */
    struct rp_sse sse;   /* the events of a streamed answer */
    struct event *watch; /* EOF of the client before the answer starts (evhttp stops reading) */
    int64_t prompt_tokens, completion_tokens;
    double started_at;
};

static void read_usage_object(struct proxy *p, json_t *u)
{
    if (!json_is_object(u))
        return;
    json_t *pt = json_object_get(u, "prompt_tokens"), *ct = json_object_get(u, "completion_tokens");
    if (json_is_integer(pt))
        p->prompt_tokens = json_integer_value(pt);
    if (json_is_integer(ct))
        p->completion_tokens = json_integer_value(ct);
}

static void read_usage(struct proxy *p, json_t *j)
{
    read_usage_object(p, json_object_get(j, "usage"));
}

/* Keeps the last USAGE_TAIL bytes of a non-streamed answer in p->body (capacity 2 * USAGE_TAIL). */
static void keep_tail(struct proxy *p, const char *data, size_t n)
{
    if (n >= USAGE_TAIL) {
        rp_buf_reset(&p->body);
        rp_buf_add(&p->body, data + n - USAGE_TAIL, USAGE_TAIL);
        return;
    }
    if (p->body.len + n > 2 * USAGE_TAIL) {
        size_t keep = USAGE_TAIL - n;
        memmove(p->body.ptr, p->body.ptr + p->body.len - keep, keep);
        rp_buf_truncate(&p->body, keep);
    }
    rp_buf_add(&p->body, data, n);
}

/* The usage object of a non-streamed answer, from the kept end: the last "usage" key, then the
 * object after it (the rest of the text is not parsed). */
static void usage_from_tail(struct proxy *p)
{
    const char *b = p->body.ptr, *key = NULL;
    size_t len = p->body.len;
    for (const char *q = b; (q = memmem(q, len - (size_t)(q - b), "\"usage\"", 7)) != NULL; q += 7)
        key = q;
    if (!key)
        return;
    const char *brace = memchr(key, '{', len - (size_t)(key - b));
    if (!brace)
        return;
    json_t *u = json_loadb(brace, len - (size_t)(brace - b), JSON_DISABLE_EOF_CHECK, NULL);
    read_usage_object(p, u);
    json_decref(u);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg);

/* Each event of a streamed answer: the one that carries "usage" says how many tokens it took;
 * with guardrails, each goes through them on its way to the client. */
static void on_event(void *arg, struct rp_str data)
{
    struct proxy *p = arg;
    if (memmem(data.ptr, data.len, "\"usage\"", 7)) {
        json_t *j = json_loadb(data.ptr, data.len, 0, NULL);
        if (j)
            read_usage(p, j);
        json_decref(j);
    }
    if (p->ag && !p->stopping && gw_answer_guard_event(p->ag, data, p->gout)) {
        /* Refused: the error event goes out, and the generation is stopped from the loop (not
         * from inside this evhttp callback). */
        p->stopping = true;
        if (event_base_once(p->w->base, -1, EV_TIMEOUT, stop_cb, p, NULL) != 0)
            p->stopping = false;
    }
}

static struct bufferevent *client_bev(struct proxy *p)
{
    struct evhttp_connection *c = evhttp_request_get_connection(p->client);
    return c ? evhttp_connection_get_bufferevent(c) : NULL;
}

static void resume_cb(struct evhttp_connection *c, void *arg)
{
    (void)c;
    struct proxy *p = arg;
    struct bufferevent *cb = client_bev(p);
    if (p->paused && p->conn && cb &&
        evbuffer_get_length(bufferevent_get_output(cb)) < CLIENT_HIGH_WATER / 2) {
        bufferevent_enable(evhttp_connection_get_bufferevent(p->conn), EV_READ);
        p->paused = false;
    }
}

static void forward(struct proxy *p, struct evbuffer *data)
{
    size_t n = evbuffer_get_length(data);
    if (!n || p->client_gone)
        return;
    if (p->stopping) {
        evbuffer_drain(data, n);
        return;
    }
    if (p->ag && p->stream) {
        /* The events are rewritten by the guardrails: what goes out is p->gout. */
        rp_sse_feed(&p->sse, (const char *)evbuffer_pullup(data, -1), n);
        evbuffer_drain(data, n);
        data = p->gout;
        n = evbuffer_get_length(data);
        if (!n)
            return;
    } else if (p->ag) {
        /* A whole answer is inspected whole: it is sent from done_cb. */
        if (rp_buf_add(&p->body, evbuffer_pullup(data, -1), n))
            p->too_big = true;
        evbuffer_drain(data, n);
        return;
    } else if (p->stream) {
        rp_sse_feed(&p->sse, (const char *)evbuffer_pullup(data, -1), n);
    } else {
        keep_tail(p, (const char *)evbuffer_pullup(data, -1), n);
    }
    atomic_fetch_add(&p->w->gw->m.bytes_out, n);
    evhttp_send_reply_chunk_with_cb(p->client, data, resume_cb, p);
    /* Backpressure: stop reading the upstream while the client lags. */
    struct bufferevent *cb = client_bev(p);
    if (cb && p->conn && evbuffer_get_length(bufferevent_get_output(cb)) > CLIENT_HIGH_WATER) {
        bufferevent_disable(evhttp_connection_get_bufferevent(p->conn), EV_READ);
        p->paused = true;
    }
}

static void stop_watch(struct proxy *p)
{
    if (p->watch) {
        event_free(p->watch);
        p->watch = NULL;
    }
}

static void start_reply(struct proxy *p, struct evhttp_request *up)
{
    if (p->started || p->client_gone)
        return;
    p->started = true;
    /* From the first byte on, a client that left makes the writes fail, which evhttp notices. */
    stop_watch(p);
    p->status = evhttp_request_get_response_code(up);
    struct evkeyvalq *out = evhttp_request_get_output_headers(p->client);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(up), "Content-Type");
    evhttp_add_header(out, "Content-Type", ct ? ct : "application/json");
    if (ct && strncmp(ct, "text/event-stream", 17) == 0) {
        p->stream = true;
        evhttp_add_header(out, "Cache-Control", "no-cache");
        atomic_fetch_add(&p->w->gw->m.streams, 1);
    }
    evhttp_send_reply_start(p->client, p->status, evhttp_request_get_response_code_line(up));
}

static int header_cb(struct evhttp_request *up, void *arg)
{
    start_reply(arg, up);
    return 0;
}

static void chunk_cb(struct evhttp_request *up, void *arg)
{
    struct proxy *p = arg;
    start_reply(p, up);
    forward(p, evhttp_request_get_input_buffer(up));
}

static void error_cb(enum evhttp_request_error e, void *arg)
{
    struct proxy *p = arg;
    p->up_error = (int)e;
    p->failed = true;
}

static void release_conn(struct proxy *p, bool reusable)
{
    struct gw_worker *w = p->w;
    if (!p->conn)
        return;
    if (p->paused)
        bufferevent_enable(evhttp_connection_get_bufferevent(p->conn), EV_READ);
    /* evhttp cannot reconnect a TLS bufferevent once the peer closed it: TLS connections are not
     * kept (one handshake a request; a local TLS-terminating proxy avoids that). */
    if (reusable && !w->gw->up_tls && w->n_pool < GW_POOL_MAX)
        w->pool[w->n_pool++] = p->conn;
    else
        evhttp_connection_free(p->conn);
    p->conn = NULL;
}

static void client_close_cb(struct evhttp_connection *c, void *arg);

static void finish(struct proxy *p)
{
    struct gw *gw = p->w->gw;
    rp_inflight_release(gw->inflight, (struct rp_str){p->key_name, strlen(p->key_name)});
    atomic_fetch_sub(&gw->m.in_flight, 1);
    /* Tokens are known only now: charge them (the next request waits if this one overdrew). */
    int64_t tokens = p->prompt_tokens + p->completion_tokens;
    if (tokens > 0) {
        rp_limiter_charge(gw->tok_limit, (struct rp_str){p->key_name, strlen(p->key_name)},
                          &gw->tok_rate, gw_now(), (double)tokens);
        atomic_fetch_add(&gw->m.prompt_tokens, (uint64_t)p->prompt_tokens);
        atomic_fetch_add(&gw->m.completion_tokens, (uint64_t)p->completion_tokens);
    }
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                          .account_id = p->key.account_id,
                          .key_id = p->key.key_id,
                          .status = p->status,
                          .prompt_tokens = p->prompt_tokens,
                          .completion_tokens = p->completion_tokens};
    snprintf(ev.kind, sizeof(ev.kind), "request");
    snprintf(ev.detail, sizeof(ev.detail),
             "{\"path\":\"%s\",\"stream\":%s,\"ms\":%.1f,\"client_gone\":%s}", p->path,
             p->stream ? "true" : "false", (gw_now() - p->started_at) * 1000,
             p->client_gone ? "true" : "false");
    rp_store_event(gw->store, &ev);
    stop_watch(p);
    struct evhttp_connection *cc = p->client ? evhttp_request_get_connection(p->client) : NULL;
    if (cc)
        evhttp_connection_set_closecb(cc, NULL, NULL);
    rp_buf_release(&p->body);
    rp_sse_release(&p->sse);
    gw_answer_guard_free(p->ag);
    if (p->gout)
        evbuffer_free(p->gout);
    free(p);
}

static void done_cb(struct evhttp_request *up, void *arg)
{
    struct proxy *p = arg;
    struct gw *gw = p->w->gw;
    p->up = NULL;
    if (p->client_gone || p->stopping) {
        /* abandon_cb or stop_cb, already scheduled, finishes the request. */
        return;
    }
    if (!up || p->failed || evhttp_request_get_response_code(up) == 0) {
        bool timeout = p->up_error == (int)EVREQ_HTTP_TIMEOUT;
        int64_t now = (int64_t)gw_now(), last = atomic_load(&gw->upstream_logged);
        if (now - last >= 10 && atomic_compare_exchange_strong(&gw->upstream_logged, &last, now))
            fprintf(stderr,
                    "rampart serve: upstream %s %s (counted in rampart_upstream_%s_total)\n",
                    gw->cfg->upstream_url, timeout ? "timed out" : "failed or is unreachable",
                    timeout ? "timeouts" : "errors");
        atomic_fetch_add(timeout ? &gw->m.upstream_timeouts : &gw->m.upstream_errors, 1);
        release_conn(p, false);
        if (!p->started) {
            p->status = timeout ? 504 : 502;
            gw_error(gw, p->client, p->status, "server_error",
                     timeout ? "upstream_timeout" : "upstream_unavailable",
                     timeout ? "the model did not answer in time" : "the model is not reachable");
        } else {
            /* A cut answer must not look complete. A stream says so in an error event, then
             * ends and the connection closes; any other answer loses its connection at once,
             * without the end of its chunked body, so no client takes half a JSON for whole. */
            struct evhttp_connection *cc = evhttp_request_get_connection(p->client);
            gw_count_status(gw, 502);
            if (p->stream) {
                struct evbuffer *b = evbuffer_new();
                if (b) {
                    evbuffer_add_printf(
                        b, "\ndata: {\"error\":{\"message\":\"the model's answer was cut off\","
                           "\"type\":\"server_error\",\"code\":\"upstream_failed\"}}\n\n");
                    evhttp_send_reply_chunk(p->client, b);
                    evbuffer_free(b);
                }
                evhttp_send_reply_end(p->client);
                if (cc)
                    evhttp_connection_free_on_completion(cc);
            } else if (cc) {
                evhttp_connection_set_closecb(cc, NULL, NULL);
                p->client = NULL;
                evhttp_connection_free(cc); /* frees the request too */
            }
        }
        finish(p);
        return;
    }
    start_reply(p, up);
    forward(p, evhttp_request_get_input_buffer(up));
    if (p->stopping)
        return;
    if (!p->stream && p->body.len)
        usage_from_tail(p);
    if (p->ag && !p->client_gone) {
        if (p->too_big)
            evbuffer_add_printf(p->gout, "{\"error\":{\"message\":\"the answer is too large to "
                                         "inspect\",\"type\":\"server_error\",\"code\":"
                                         "\"answer_too_large\"}}");
        else if (p->stream)
            gw_answer_guard_end(p->ag, p->gout);
        else
            gw_answer_guard_whole(p->ag, p->status, rp_buf_str(&p->body), p->gout);
        atomic_fetch_add(&gw->m.bytes_out, evbuffer_get_length(p->gout));
        evhttp_send_reply_chunk(p->client, p->gout);
    }
    evhttp_send_reply_end(p->client);
    gw_count_status(gw, p->status);
    release_conn(p, true);
    finish(p);
}

/* The clean-up of a request whose client left, run from the loop outside any evhttp callback:
 * cancelling a request or freeing its connection from inside one of its own callbacks (a chunk
 * being forwarded when the client's socket fails) would leave evhttp holding freed memory. */
static void abandon_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy *p = arg;
    /* Stop the generation the client no longer waits for: freeing the upstream connection
     * closes it and frees the request on it without calling back (evhttp_cancel_request was
     * seen to leak a request whose answer was being read). */
    p->up = NULL;
    release_conn(p, false);
    /* A reply that had started was detached from its dead connection by evhttp and is ours to
     * end, which frees it. */
    if (p->client) {
        evhttp_send_reply_end(p->client);
        p->client = NULL;
    }
    finish(p);
}

/* The end of an answer the guardrails refused: the upstream connection is closed (which stops
 * the generation), the reply ends after its error event. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy *p = arg;
    struct gw *gw = p->w->gw;
    p->up = NULL;
    release_conn(p, false);
    if (p->client) {
        /* p is freed below: the client's connection must no longer call back into it. */
        struct evhttp_connection *cc = evhttp_request_get_connection(p->client);
        if (cc)
            evhttp_connection_set_closecb(cc, NULL, NULL);
        if (!p->client_gone && p->gout && evbuffer_get_length(p->gout))
            evhttp_send_reply_chunk(p->client, p->gout);
        evhttp_send_reply_end(p->client);
        p->client = NULL;
    }
    gw_count_status(gw, p->status);
    finish(p);
}

static void client_close_cb(struct evhttp_connection *c, void *arg)
{
    (void)c;
    struct proxy *p = arg;
    if (p->client_gone)
        return;
    p->client_gone = true;
    if (p->stopping) {
        /* stop_cb, already scheduled, ends the request (the reply had started). */
        atomic_fetch_add(&p->w->gw->m.client_aborts, 1);
        return;
    }
    /* Before the reply started, evhttp frees the request right after this callback; after, it
     * detaches the request from the connection and leaves it to us (abandon_cb ends it). */
    if (!p->started)
        p->client = NULL;
    stop_watch(p);
    atomic_fetch_add(&p->w->gw->m.client_aborts, 1);
    if (event_base_once(p->w->base, -1, EV_TIMEOUT, abandon_cb, p, NULL) != 0)
        abandon_cb(-1, 0, p);
}

/* A TLS connection to an https upstream: certificate and host name verified (SNI set). */
static struct evhttp_connection *tls_conn(struct gw_worker *w)
{
    struct gw *gw = w->gw;
    SSL *ssl = SSL_new(gw->ssl_ctx);
    if (!ssl)
        return NULL;
    struct in6_addr ip;
    if (inet_pton(AF_INET, gw->up_host, &ip) == 1 || inet_pton(AF_INET6, gw->up_host, &ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), gw->up_host);
    } else {
        SSL_set_tlsext_host_name(ssl, gw->up_host);
        SSL_set1_host(ssl, gw->up_host);
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return evhttp_connection_base_bufferevent_new(w->base, NULL, bev, gw->up_host,
                                                  (unsigned short)gw->up_port);
}

/* The client's socket became readable while the model works: EOF (or an error) means the
 * client left, so the generation it no longer waits for is stopped. Anything else (a pipelined
 * request) is left to evhttp, and the watch ends. */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct proxy *p = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        stop_watch(p);
        return;
    }
    struct evhttp_connection *cc = evhttp_request_get_connection(p->client);
    stop_watch(p);
    /* Freeing the connection runs client_close_cb (which cancels the upstream request and
     * frees p), then frees the request. */
    if (cc)
        evhttp_connection_free(cc);
}

static void start_watch(struct proxy *p)
{
    struct evhttp_connection *cc = evhttp_request_get_connection(p->client);
    struct bufferevent *bev = cc ? evhttp_connection_get_bufferevent(cc) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return;
    p->watch = event_new(p->w->base, fd, EV_READ | EV_PERSIST, watch_cb, p);
    if (p->watch)
        event_add(p->watch, NULL);
}

static struct evhttp_connection *take_conn(struct gw_worker *w)
{
    if (w->n_pool)
        return w->pool[--w->n_pool];
    struct evhttp_connection *c = w->gw->up_tls
                                      ? tls_conn(w)
                                      : evhttp_connection_base_new(w->base, NULL, w->gw->up_host,
                                                                   (unsigned short)w->gw->up_port);
    if (c) {
        evhttp_connection_set_timeout(c, (int)ceil(w->gw->cfg->upstream_timeout_seconds));
        evhttp_connection_set_retries(c, w->gw->up_tls ? 0 : 1);
    }
    return c;
}

void gw_proxy(struct gw_worker *w, struct evhttp_request *req, const char *path)
{
    struct gw *gw = w->gw;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bool is_models = strcmp(path, "/v1/models") == 0;
    if ((is_models && method != EVHTTP_REQ_GET) || (!is_models && method != EVHTTP_REQ_POST)) {
        gw_error(gw, req, 405, "invalid_request_error", "method_not_allowed", "%s takes %s", path,
                 is_models ? "GET" : "POST");
        return;
    }
    struct rp_key_info key;
    if (!gw_authenticate(gw, req, &key))
        return;
    char key_name[32];
    snprintf(key_name, sizeof(key_name), "k%lld", (long long)key.key_id);
    struct rp_str kn = {key_name, strlen(key_name)};
    double now = gw_now(), retry;
    {
        /* Behaviour checks: the networks an account comes from. */
        struct sockaddr_storage ss;
        char net[64] = "unknown";
        gw_client_addr(gw, req, &ss);
        rp_net_key((struct sockaddr *)&ss, net, sizeof(net));
        gw_watch(gw, key.account_id, GW_SIGNAL_REQUEST, net);
    }
    if (!rp_limiter_take(gw->tok_limit, kn, &gw->tok_rate, now, 0, &retry) ||
        !rp_limiter_take(gw->req_limit, kn, &gw->req_rate, now, 1, &retry)) {
        /* Hammering on past the limit is a soft-block of its own. */
        if (gw_watch(gw, key.account_id, GW_SIGNAL_RATE_LIMITED, NULL)) {
            struct rp_event ev = {.time_ms = (int64_t)(now * 1000),
                                  .account_id = key.account_id,
                                  .key_id = key.key_id,
                                  .status = 429};
            snprintf(ev.kind, sizeof(ev.kind), "soft_block");
            snprintf(ev.detail, sizeof(ev.detail), "{\"codes\":[\"behaviour-hammering\"]}");
            rp_store_event(gw->store, &ev);
            gw_escalate(gw, &key, "behaviour-hammering");
        }
        char ra[32];
        snprintf(ra, sizeof(ra), "%.0f", ceil(retry));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        gw_error(gw, req, 429, "rate_limit_error", "rate_limit_exceeded",
                 "rate limit of this key reached; retry in %s s", ra);
        return;
    }
    if (!rp_inflight_acquire(gw->inflight, kn, gw->cfg->key_concurrent_requests)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        gw_error(gw, req, 429, "rate_limit_error", "too_many_concurrent_requests",
                 "this key already has %u requests in flight", gw->cfg->key_concurrent_requests);
        return;
    }
    atomic_fetch_add(&gw->m.in_flight, 1);
    json_t *body = NULL;
    bool rewritten = false;
    if (!is_models) {
        body = gw_body_json(gw, req);
        if (!body || gw_guard_prompt(w, req, path, body, &key, &rewritten)) {
            json_decref(body);
            rp_inflight_release(gw->inflight, kn);
            atomic_fetch_sub(&gw->m.in_flight, 1);
            return;
        }
        if (!rewritten) {
            json_decref(body);
            body = NULL;
        }
    }
    /* The output guardrails of this answer (NULL when none apply). */
    struct gw_answer_guard *ag = NULL;
    bool ag_failed = !is_models && gw_answer_guard_new(w, path, &key, &ag) != RP_OK;
    struct evbuffer *gout = ag ? evbuffer_new() : NULL;
    struct proxy *p = ag_failed ? NULL : calloc(1, sizeof(*p));
    struct evhttp_connection *conn = p && (!ag || gout) ? take_conn(w) : NULL;
    struct evhttp_request *up = conn ? evhttp_request_new(done_cb, p) : NULL;
    if (!up) {
        if (conn)
            evhttp_connection_free(conn);
        free(p);
        json_decref(body);
        gw_answer_guard_free(ag);
        if (gout)
            evbuffer_free(gout);
        rp_inflight_release(gw->inflight, kn);
        atomic_fetch_sub(&gw->m.in_flight, 1);
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    p->w = w;
    p->up_error = -1;
    p->client = req;
    p->up = up;
    p->conn = conn;
    p->key = key;
    p->started_at = now;
    memcpy(p->key_name, key_name, sizeof(key_name));
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->ag = ag;
    p->gout = gout;
    rp_buf_init(&p->body, p->ag ? GUARDED_BODY_MAX : 2 * USAGE_TAIL);
    rp_sse_init(&p->sse, SSE_LINE_MAX, on_event, p);
    evhttp_request_set_chunked_cb(up, chunk_cb);
    evhttp_request_set_header_cb(up, header_cb);
    evhttp_request_set_error_cb(up, error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(up);
    char host[300];
    snprintf(host, sizeof(host), "%s:%u", gw->up_host, gw->up_port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Accept", "application/json, text/event-stream");
    if (!is_models)
        evhttp_add_header(h, "Content-Type", "application/json");
    if (gw->up_auth)
        evhttp_add_header(h, "Authorization", gw->up_auth);
    if (body) {
        /* The guardrails redacted the prompt: the rewritten body goes upstream. */
        char *txt = json_dumps(body, JSON_COMPACT);
        evbuffer_drain(evhttp_request_get_input_buffer(req),
                       evbuffer_get_length(evhttp_request_get_input_buffer(req)));
        if (txt)
            evbuffer_add(evhttp_request_get_output_buffer(up), txt, strlen(txt));
        free(txt);
        json_decref(body);
    } else {
        evbuffer_add_buffer(evhttp_request_get_output_buffer(up),
                            evhttp_request_get_input_buffer(req));
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), client_close_cb, p);
    char target[1024];
    snprintf(target, sizeof(target), "%s%s", gw->up_prefix, path);
    if (evhttp_make_request(conn, up, is_models ? EVHTTP_REQ_GET : EVHTTP_REQ_POST, target) == 0) {
        start_watch(p);
    } else {
        /* evhttp_make_request has freed up already. */
        p->up = NULL;
        release_conn(p, false);
        p->status = 502;
        gw_error(gw, req, 502, "server_error", "upstream_unavailable",
                 "the model is not reachable");
        finish(p);
    }
}
