/* Proxying authenticated requests to the model upstream: limits first, then the request goes
 * out on a pooled connection and the answer comes back as it arrives (server-sent events
 * included), with backpressure from slow clients and token usage read on the way. */
#include <math.h>
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
    struct gw_req *client; /* NULL once the client's side has ended */
    struct gw_up *up;      /* NULL once the upstream's side has ended */
    struct rp_key_info key;
    char key_name[32];
    char path[32]; /* which endpoint, for the event log */
    bool started, paused, stream, client_gone, accounted;
    bool stopping;              /* the guardrails refused the streamed answer */
    bool too_big;               /* a guarded answer went over GUARDED_BODY_MAX */
    struct gw_answer_guard *ag; /* the output guardrails, or NULL */
    struct evbuffer *gout;      /* what the guardrails let through, to send */
    struct evbuffer *piece;     /* the piece being relayed */
    int status;
    char ctype[128];    /* of the answer */
    struct rp_buf body; /* copy of a non-streamed answer, for its usage */
    struct rp_sse sse;  /* the events of a streamed answer */
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
    /* Refused: the error event is in gout; relay() ends the request once the feed returns. */
    if (p->ag && !p->stopping && gw_answer_guard_event(p->ag, data, p->gout))
        p->stopping = true;
}

/* What the request cost: its concurrency slot back, its tokens charged, its event logged. Done
 * before the end of the answer is written, so that a client's next request meets the limits
 * this one left. */
static void account(struct proxy *p)
{
    struct gw *gw = p->w->gw;
    if (p->accounted)
        return;
    p->accounted = true;
    gw_answer_guard_record(p->ag);
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
}

static void finish(struct proxy *p)
{
    account(p);
    rp_buf_release(&p->body);
    rp_sse_release(&p->sse);
    gw_answer_guard_free(p->ag);
    if (p->gout)
        evbuffer_free(p->gout);
    if (p->piece)
        evbuffer_free(p->piece);
    free(p);
}

/* Sends data on to the client, and stops reading the upstream while the client lags. */
static void send_piece(struct proxy *p, struct evbuffer *data)
{
    size_t n = evbuffer_get_length(data);
    if (!n)
        return;
    atomic_fetch_add(&p->w->gw->m.bytes_out, n);
    gw_reply_chunk(p->client, data);
    if (p->up && !p->paused && gw_req_pending(p->client) > CLIENT_HIGH_WATER) {
        gw_up_pause(p->up, true);
        p->paused = true;
    }
}

static void start_reply(struct proxy *p)
{
    if (p->started || !p->client)
        return;
    p->started = true;
    if (p->stream)
        gw_req_set_header(p->client, "Cache-Control", "no-cache");
    gw_reply_start(p->client, p->status, p->ctype);
}

static void up_head(void *arg, int status, const char *content_type)
{
    struct proxy *p = arg;
    p->status = status;
    snprintf(p->ctype, sizeof(p->ctype), "%s", content_type ? content_type : "application/json");
    if (strncmp(p->ctype, "text/event-stream", 17) == 0) {
        p->stream = true;
        atomic_fetch_add(&p->w->gw->m.streams, 1);
    }
    /* A whole answer the guardrails inspect goes out once inspected, with its length. */
    if (!p->ag || p->stream)
        start_reply(p);
}

/* The guardrails refused a streamed answer: the error event goes out, the reply ends, and the
 * upstream connection is closed, which stops the generation. */
static void stop_refused(struct proxy *p)
{
    struct gw *gw = p->w->gw;
    if (p->up) {
        gw_up_cancel(p->up);
        p->up = NULL;
    }
    gw_count_status(gw, p->status);
    account(p);
    send_piece(p, p->gout);
    gw_reply_end(p->client);
    p->client = NULL;
    finish(p);
}

static void up_body(void *arg, const char *data, size_t n)
{
    struct proxy *p = arg;
    if (p->ag && p->stream) {
        /* The events are rewritten by the guardrails: what goes out is p->gout. */
        rp_sse_feed(&p->sse, data, n);
        if (p->stopping) {
            stop_refused(p);
            return;
        }
        send_piece(p, p->gout);
        return;
    }
    if (p->ag) {
        /* A whole answer is inspected whole: it is sent from up_done. */
        if (rp_buf_add(&p->body, data, n))
            p->too_big = true;
        return;
    }
    if (p->stream)
        rp_sse_feed(&p->sse, data, n);
    else
        keep_tail(p, data, n);
    evbuffer_add(p->piece, data, n);
    send_piece(p, p->piece);
}

static void up_done(void *arg, enum gw_up_result result)
{
    struct proxy *p = arg;
    struct gw *gw = p->w->gw;
    p->up = NULL;
    if (result == GW_UP_SHUTDOWN) {
        /* The gateway is stopping: the client hears so, the request is freed. */
        if (!p->started)
            p->status = 503;
        account(p);
        if (!p->started)
            gw_error(gw, p->client, 503, "server_error", "shutting_down",
                     "the gateway is stopping; retry");
        else
            gw_reply_abort(p->client);
        p->client = NULL;
        finish(p);
        return;
    }
    if (result != GW_UP_OK) {
        bool timeout = result == GW_UP_TIMEOUT;
        int64_t now = (int64_t)gw_now(), last = atomic_load(&gw->upstream_logged);
        if (now - last >= 10 && atomic_compare_exchange_strong(&gw->upstream_logged, &last, now))
            fprintf(stderr,
                    "rampart serve: upstream %s %s (counted in rampart_upstream_%s_total)\n",
                    gw->cfg->upstream_url, timeout ? "timed out" : "failed or is unreachable",
                    timeout ? "timeouts" : "errors");
        atomic_fetch_add(timeout ? &gw->m.upstream_timeouts : &gw->m.upstream_errors, 1);
        if (!p->started)
            p->status = timeout ? 504 : 502;
        account(p);
        if (!p->started) {
            gw_error(gw, p->client, p->status, "server_error",
                     timeout ? "upstream_timeout" : "upstream_unavailable",
                     timeout ? "the model did not answer in time" : "the model is not reachable");
        } else if (p->stream) {
            /* A cut answer must not look complete: a stream says so in an error event, and the
             * connection closes after it. */
            gw_count_status(gw, 502);
            evbuffer_add_printf(
                p->piece, "\ndata: {\"error\":{\"message\":\"the model's answer was cut off\","
                          "\"type\":\"server_error\",\"code\":\"upstream_failed\"}}\n\n");
            send_piece(p, p->piece);
            gw_reply_abort(p->client);
        } else {
            /* Any other answer loses its connection without the end of its chunked body, so
             * no client takes half a JSON for whole. */
            gw_count_status(gw, 502);
            gw_reply_abort(p->client);
        }
        p->client = NULL;
        finish(p);
        return;
    }
    if (!p->stream && !p->ag && p->body.len)
        usage_from_tail(p);
    if (p->ag && p->stream) {
        gw_answer_guard_end(p->ag, p->gout);
    } else if (p->ag && !p->too_big) {
        int64_t usage[2] = {p->prompt_tokens, p->completion_tokens};
        gw_answer_guard_whole(p->ag, p->status, rp_buf_str(&p->body), p->gout, usage);
        p->prompt_tokens = usage[0];
        p->completion_tokens = usage[1];
    }
    gw_count_status(gw, p->status);
    account(p);
    if (p->ag && p->stream) {
        send_piece(p, p->gout);
        gw_reply_end(p->client);
    } else if (p->ag) {
        if (p->too_big)
            evbuffer_add_printf(p->gout, "{\"error\":{\"message\":\"the answer is too large to "
                                         "inspect\",\"type\":\"server_error\",\"code\":"
                                         "\"answer_too_large\"}}");
        atomic_fetch_add(&gw->m.bytes_out, evbuffer_get_length(p->gout));
        gw_reply_buffer(p->client, p->status, p->ctype, p->gout);
    } else {
        gw_reply_end(p->client);
    }
    p->client = NULL;
    finish(p);
}

static const struct gw_up_handler up_handler = {up_head, up_body, up_done};

/* The client left (the generation it no longer waits for is stopped), or caught up with what
 * was queued for it (the upstream is read again). */
static void client_event(struct gw_req *req, enum gw_req_event what, void *arg)
{
    struct proxy *p = arg;
    if (what == GW_REQ_DRAINED) {
        if (p->paused && p->up) {
            gw_up_pause(p->up, false);
            p->paused = false;
        }
        return;
    }
    p->client_gone = true;
    atomic_fetch_add(&p->w->gw->m.client_aborts, 1);
    if (p->up) {
        gw_up_cancel(p->up);
        p->up = NULL;
    }
    gw_reply_abort(req);
    p->client = NULL;
    finish(p);
}

void gw_proxy(struct gw_worker *w, struct gw_req *req, const char *path)
{
    struct gw *gw = w->gw;
    enum gw_method method = gw_req_method(req);
    bool is_models = strcmp(path, "/v1/models") == 0;
    if ((is_models && method != GW_GET) || (!is_models && method != GW_POST)) {
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
        gw_req_set_header(req, "Retry-After", ra);
        gw_error(gw, req, 429, "rate_limit_error", "rate_limit_exceeded",
                 "rate limit of this key reached; retry in %s s", ra);
        return;
    }
    if (!rp_inflight_acquire(gw->inflight, kn, gw->cfg->key_concurrent_requests)) {
        gw_req_set_header(req, "Retry-After", "1");
        gw_error(gw, req, 429, "rate_limit_error", "too_many_concurrent_requests",
                 "this key already has %u requests in flight", gw->cfg->key_concurrent_requests);
        return;
    }
    atomic_fetch_add(&gw->m.in_flight, 1);
    json_t *body = NULL;
    bool rewritten = false;
    /* Most prompts are read, inspected and sent on without a tree; the tree takes the rest. */
    int fast = is_models ? 0 : gw_guard_prompt_fast(w, req, path, &key);
    if (fast < 0) {
        rp_inflight_release(gw->inflight, kn);
        atomic_fetch_sub(&gw->m.in_flight, 1);
        return;
    }
    if (fast > 0) {
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
    struct proxy *p = ag_failed ? NULL : calloc(1, sizeof(*p));
    if (p) {
        p->gout = ag ? evbuffer_new() : NULL;
        p->piece = evbuffer_new();
    }
    /* The guardrails redacted the prompt: the rewritten body goes upstream. */
    char *rewritten_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!p || !p->piece || (ag && !p->gout) || (rewritten && !rewritten_text)) {
        if (p) {
            if (p->gout)
                evbuffer_free(p->gout);
            if (p->piece)
                evbuffer_free(p->piece);
            free(p);
        }
        free(rewritten_text);
        gw_answer_guard_free(ag);
        rp_inflight_release(gw->inflight, kn);
        atomic_fetch_sub(&gw->m.in_flight, 1);
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    p->w = w;
    p->client = req;
    p->key = key;
    p->started_at = now;
    memcpy(p->key_name, key_name, sizeof(key_name));
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->ag = ag;
    rp_buf_init(&p->body, p->ag ? GUARDED_BODY_MAX : 2 * USAGE_TAIL);
    rp_sse_init(&p->sse, SSE_LINE_MAX, on_event, p);
    char target[1024];
    snprintf(target, sizeof(target), "%s%s", gw->up_prefix, path);
    struct rp_str out = rewritten_text ? rp_str_from_cstr(rewritten_text) : gw_req_body(req);
    int rc =
        gw_up_send(w->up, is_models ? "GET" : "POST", target,
                   is_models ? gw->up_head_get : gw->up_head_post, out, &up_handler, p, &p->up);
    free(rewritten_text);
    if (rc != RP_OK) {
        up_done(p, GW_UP_FAILED); /* replies 502 and ends the request */
        return;
    }
    gw_req_watch(req, client_event, p);
}
