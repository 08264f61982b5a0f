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

/* A count of the upstream that is not a number is charged as the size of the text over this:
 * about four bytes a token (OpenAI's rule of thumb for English), counted on the whole body, so
 * that a broken count never charges less than the text took. */
#define BYTES_A_TOKEN 4

/* The error events that end a stream (OpenAI's error shape in a data: event). */
#define EVENT_BANNED                                                                               \
    "data: {\"error\":{\"message\":\"this account was banned; the answer was stopped\","           \
    "\"type\":\"invalid_request_error\",\"code\":\"account_banned\"}}\n\n"
#define EVENT_STOPPING                                                                             \
    "data: {\"error\":{\"message\":\"the gateway is stopping; the answer was cut off, retry\","    \
    "\"type\":\"server_error\",\"code\":\"shutting_down\"}}\n\n"
#define EVENT_TOO_LARGE                                                                            \
    "data: {\"error\":{\"message\":\"an event of the answer is over the 256 KiB the guardrails "   \
    "inspect at once\",\"type\":\"server_error\",\"code\":\"answer_too_large\"}}\n\n"
#define EVENT_OVERLOADED                                                                           \
    "data: {\"error\":{\"message\":\"the gateway is out of memory\",\"type\":\"server_error\","    \
    "\"code\":\"overloaded\"}}\n\n"
#define EVENT_UNREADABLE                                                                           \
    "data: {\"error\":{\"message\":\"the answer is not a stream of server-sent events the "        \
    "guardrails can read\",\"type\":\"server_error\",\"code\":\"answer_unreadable\"}}\n\n"

struct gw_proxy {
    struct gw_worker *w;
    struct gw_proxy *prev, *next; /* in w->open */
    struct gw_req *client;        /* NULL once the client's side has ended */
    struct gw_up *up;             /* NULL once the upstream's side has ended */
    struct rp_key_info key;
    char path[32]; /* which endpoint, for the event log */
    bool started, paused, stream, client_gone, accounted;
    bool stopping;              /* the guardrails refused the streamed answer */
    bool banned;                /* the account was banned after the request began */
    uint64_t ban_mark;          /* the bans numbered after this one came after it began */
    struct gw_answer_guard *ag; /* the output guardrails, or NULL */
    struct evbuffer *gout;      /* what the guardrails let through, to send */
    struct evbuffer *piece;     /* the piece being relayed */
    int status;
    char ctype[128];    /* of the answer */
    struct rp_buf body; /* copy of a non-streamed answer, for its usage */
    struct rp_sse sse;  /* the events of a streamed answer */
    struct rp_usage usage;
    size_t req_bytes, answer_bytes; /* sent upstream, received from it */
    double started_at;
};

/* Keeps the last USAGE_TAIL bytes of a non-streamed answer in p->body (capacity 2 * USAGE_TAIL). */
static void keep_tail(struct gw_proxy *p, const char *data, size_t n)
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
static void usage_from_tail(struct gw_proxy *p)
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
    rp_usage_object((struct rp_str){brace, len - (size_t)(brace - b)}, &p->usage);
}

/* Each event of a streamed answer: the one that carries "usage" says how many tokens it took;
 * with guardrails, each goes through them on its way to the client. */
static void on_event(void *arg, struct rp_str data)
{
    struct gw_proxy *p = arg;
    if (memmem(data.ptr, data.len, "\"usage\"", 7))
        rp_usage_answer(data, &p->usage);
    /* A stream found not to be one, or to have skipped an event, ends after this feed with an
     * error event: nothing after that point is relayed, not even in the same piece. */
    if (p->sse.foreign || p->sse.overflow)
        return;
    /* Refused: the error event is in gout; up_body ends the request once the feed returns. */
    if (p->ag && !p->stopping && gw_answer_guard_event(p->ag, data, p->gout))
        p->stopping = true;
}

/* The tokens charged for count k (0 prompt, 1 completion): the upstream's count when it is a
 * number (clamped at RP_USAGE_MAX), else the larger of that and an estimate from the size of
 * the text (the request's body, or the answer's). */
static int64_t tokens_of(const struct gw_proxy *p, int k)
{
    int64_t n = p->usage.n[k];
    if (p->usage.st[k] == RP_USAGE_INVALID) {
        size_t bytes = k ? p->answer_bytes : p->req_bytes;
        size_t e = bytes / BYTES_A_TOKEN + (bytes % BYTES_A_TOKEN != 0);
        e = e > RP_USAGE_MAX ? RP_USAGE_MAX : e;
        n = (int64_t)e > n ? (int64_t)e : n;
    }
    return n;
}

/* A count of the upstream that was not a token count: said on stderr, at most once in 10 s. */
static void log_usage(struct gw *gw, const struct rp_usage *u, const int64_t charged[2])
{
    if (u->st[0] < RP_USAGE_CLAMPED && u->st[1] < RP_USAGE_CLAMPED)
        return;
    int64_t now = (int64_t)gw_now(), last = atomic_load(&gw->usage_logged);
    if (now - last < 10 || !atomic_compare_exchange_strong(&gw->usage_logged, &last, now))
        return;
    fprintf(stderr,
            "rampart serve: the upstream's usage has %s, not a token count from 0 to %d; "
            "charged %lld prompt and %lld completion tokens (docs/api.md, token usage; at most "
            "one such line every 10 s)\n",
            u->what, RP_USAGE_MAX, (long long)charged[0], (long long)charged[1]);
}

/* What the request cost: its concurrency slots back, its tokens charged, its event logged. Done
 * before the end of the answer is written, so that a client's next request meets the limits
 * this one left. */
static void account(struct gw_proxy *p)
{
    struct gw *gw = p->w->gw;
    if (p->accounted)
        return;
    p->accounted = true;
    gw_answer_guard_record(p->ag);
    gw_limits_release(gw, &p->key);
    atomic_fetch_sub(&gw->m.in_flight, 1);
    /* Tokens are known only now: charge them (the next request waits if this one overdrew).
     * Each count is at most RP_USAGE_MAX, so their sum cannot overflow. */
    int64_t t[2] = {tokens_of(p, 0), tokens_of(p, 1)};
    log_usage(gw, &p->usage, t);
    if (t[0] + t[1] > 0) {
        gw_limits_charge(gw, &p->key, (double)(t[0] + t[1]));
        atomic_fetch_add(&gw->m.prompt_tokens, (uint64_t)t[0]);
        atomic_fetch_add(&gw->m.completion_tokens, (uint64_t)t[1]);
    }
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                          .account_id = p->key.account_id,
                          .key_id = p->key.key_id,
                          .status = p->status,
                          .prompt_tokens = t[0],
                          .completion_tokens = t[1]};
    snprintf(ev.kind, sizeof(ev.kind), "request");
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "path", p->path);
    rp_jsonw_kbool(&d.w, "stream", p->stream);
    rp_jsonw_knum(&d.w, "ms", (gw_now() - p->started_at) * 1000, 1);
    rp_jsonw_kbool(&d.w, "client_gone", p->client_gone);
    gw_detail_end(&d, &ev);
    rp_store_event(gw->store, &ev);
}

/* ---- Bans of the accounts of open requests ------------------------------------------------ */

void gw_ban_notify(struct gw *gw, int64_t account_id)
{
    /* The slot is marked as being written, then filled, then numbered: a reader that finds the
     * number it looks for twice around the account read the account of that ban. */
    uint64_t seq = atomic_fetch_add(&gw->ban_seq, 1) + 1;
    struct gw_ban_slot *s = &gw->ban_ring[seq % GW_BAN_RING];
    atomic_store(&s->seq, 0);
    atomic_store(&s->account, account_id);
    atomic_store(&s->seq, seq);
}

/* The accounts of a worker's open requests, read from the store when more bans came than the
 * ring holds: a store thread reads them, and the loop marks those banned. */
struct ban_reread_job {
    struct gw_job job; /* first: the executor's view */
    struct gw_worker *w;
    uint64_t upto; /* the bans up to this number are answered by the read */
    size_t n;
    int64_t *ids;
    bool *banned;
};

static void reread_work(struct gw_job *job)
{
    struct ban_reread_job *b = (struct ban_reread_job *)job;
    for (size_t i = 0; i < b->n; i++) {
        struct rp_account a;
        b->banned[i] = rp_store_account_get(b->w->gw->store, b->ids[i], &a) == RP_OK &&
                       a.status == RP_ACCOUNT_BANNED;
    }
}

static void reread_done(struct gw_job *job, enum gw_job_end how)
{
    struct ban_reread_job *b = (struct ban_reread_job *)job;
    struct gw_worker *w = b->w;
    w->ban_job_pending = false;
    if (how != GW_JOB_DONE)
        return; /* the next look asks again: w->ban_lost_upto stays */
    /* Requests opened after the bans read about are judged by the ring. */
    for (struct gw_proxy *p = w->open; p; p = p->next)
        for (size_t i = 0; i < b->n; i++)
            if (b->banned[i] && p->key.account_id == b->ids[i] && p->ban_mark < b->upto)
                p->banned = true;
    if (w->ban_lost_upto <= b->upto)
        w->ban_lost_upto = 0;
}

static void reread_release(struct gw_job *job)
{
    struct ban_reread_job *b = (struct ban_reread_job *)job;
    free(b->ids);
    free(b->banned);
    free(b);
}

static const struct gw_job_ops reread_ops = {reread_work, reread_done, reread_release};

/* Asks a store thread for the accounts of w's open requests (on failure the next look asks
 * again). With no store threads (a loop of tests) they are read here. */
static void ban_reread(struct gw_worker *w)
{
    size_t n = 0;
    for (struct gw_proxy *p = w->open; p; p = p->next)
        n++;
    struct ban_reread_job *b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->job.ops = &reread_ops;
    b->w = w;
    b->upto = w->ban_lost_upto;
    b->ids = calloc(n ? n : 1, sizeof(*b->ids));
    b->banned = calloc(n ? n : 1, sizeof(*b->banned));
    if (!b->ids || !b->banned) {
        reread_release(&b->job);
        return;
    }
    for (struct gw_proxy *p = w->open; p; p = p->next)
        b->ids[b->n++] = p->key.account_id;
    w->ban_job_pending = true;
    if (!w->gw->offload || !w->inbox) {
        reread_work(&b->job);
        reread_done(&b->job, GW_JOB_DONE);
        reread_release(&b->job);
        return;
    }
    if (gw_offload_submit(w->gw->offload, w->inbox, &b->job, GW_LOOKUP_DEADLINE_MS, true)) {
        w->ban_job_pending = false;
        reread_release(&b->job);
    }
}

/* Marks the open requests of w whose account was banned after they began (p->banned). The bans
 * since w->ban_seen are read from the ring; a ban still being written is taken up by the next
 * look. When more bans came than the ring holds (GW_BAN_RING within GW_BAN_CHECK_MS), each open
 * request's account is read from the store instead, by a store thread (ban_reread). */
static void ban_check(struct gw_worker *w)
{
    struct gw *gw = w->gw;
    uint64_t cur = atomic_load(&gw->ban_seq), i = w->ban_seen;
    bool lost = cur - i > GW_BAN_RING;
    while (!lost && i < cur) {
        struct gw_ban_slot *s = &gw->ban_ring[(i + 1) % GW_BAN_RING];
        uint64_t a = atomic_load(&s->seq);
        int64_t account_id = atomic_load(&s->account);
        uint64_t b = atomic_load(&s->seq);
        if (a != i + 1 || b != a) {
            lost = a > i + 1 || b > i + 1; /* written over: the ring went round */
            break;
        }
        i++;
        for (struct gw_proxy *p = w->open; p; p = p->next)
            if (p->key.account_id == account_id && i > p->ban_mark)
                p->banned = true;
    }
    if (lost) {
        w->ban_lost_upto = cur;
        i = cur;
    }
    w->ban_seen = i;
    if (w->ban_lost_upto && !w->ban_job_pending)
        ban_reread(w);
}

static void end_banned(struct gw_proxy *p);

/* Every GW_BAN_CHECK_MS while requests are open: those of banned accounts end, also when their
 * upstream is silent (a stream that sends is checked at each piece too). */
static void ban_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_worker *w = arg;
    if (atomic_load(&w->gw->ban_seq) != w->ban_seen || (w->ban_lost_upto && !w->ban_job_pending))
        ban_check(w);
    for (struct gw_proxy *p = w->open, *next; p; p = next) {
        next = p->next;
        if (p->banned)
            end_banned(p);
    }
}

/* Adds p to its worker's open requests (and starts the worker's timer with the first). */
static int open_add(struct gw_proxy *p)
{
    struct gw_worker *w = p->w;
    if (!w->ban_timer) {
        struct timeval tv = {0, GW_BAN_CHECK_MS * 1000};
        w->ban_timer = event_new(w->base, -1, EV_PERSIST, ban_timer_cb, w);
        if (!w->ban_timer || event_add(w->ban_timer, &tv) != 0) {
            if (w->ban_timer)
                event_free(w->ban_timer);
            w->ban_timer = NULL;
            return RP_ENOMEM;
        }
    }
    if (!w->open)
        w->ban_seen = p->ban_mark; /* earlier bans have no open request to end */
    p->prev = NULL;
    p->next = w->open;
    if (w->open)
        w->open->prev = p;
    w->open = p;
    return RP_OK;
}

/* Takes p out of its worker's open requests (the last one stops the timer). */
static void open_remove(struct gw_proxy *p)
{
    struct gw_worker *w = p->w;
    if (p->prev)
        p->prev->next = p->next;
    else if (w->open == p)
        w->open = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    if (!w->open && w->ban_timer) {
        /* libevent allows freeing an event from its own callback; nothing of it is used after. */
        event_free(w->ban_timer);
        w->ban_timer = NULL;
    }
}

static void finish(struct gw_proxy *p)
{
    account(p);
    open_remove(p);
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
static void send_piece(struct gw_proxy *p, struct evbuffer *data)
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

static void start_reply(struct gw_proxy *p)
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
    struct gw_proxy *p = arg;
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

/* Ends the request now: its upstream request is closed (which stops the generation), what it
 * cost is accounted. */
static void cut_upstream(struct gw_proxy *p)
{
    if (p->up) {
        gw_up_cancel(p->up);
        p->up = NULL;
    }
    account(p);
}

/* Ends a guarded stream early: what the guardrails let through goes out, then the error event
 * (NULL: the guardrails' own refusal, already in gout), and the reply ends. */
static void stop_stream(struct gw_proxy *p, const char *event)
{
    struct gw *gw = p->w->gw;
    gw_count_status(gw, p->status);
    cut_upstream(p);
    if (event)
        evbuffer_add(p->gout, event, strlen(event));
    send_piece(p, p->gout);
    gw_reply_end(p->client);
    p->client = NULL;
    finish(p);
}

/* The account was banned while the request was open: a stream ends with an error event and
 * its connection closes; an answer not yet started is a 403; a plain answer being relayed is
 * cut (its connection closes without the end of the body). */
static void end_banned(struct gw_proxy *p)
{
    struct gw *gw = p->w->gw;
    if (!p->started)
        p->status = 403;
    cut_upstream(p);
    if (!p->started) {
        gw_error(gw, p->client, 403, "invalid_request_error", "account_banned",
                 "this account was banned while its request was open; contact the operator of "
                 "this service");
    } else {
        gw_count_status(gw, 403);
        if (p->stream) {
            evbuffer_add(p->piece, EVENT_BANNED, strlen(EVENT_BANNED));
            send_piece(p, p->piece);
        }
        gw_reply_abort(p->client);
    }
    p->client = NULL;
    finish(p);
}

/* A whole answer the guardrails cannot inspect is not relayed: a 502 says why. */
static void fail_whole(struct gw_proxy *p, const char *code, const char *message)
{
    struct gw *gw = p->w->gw;
    p->status = 502;
    cut_upstream(p);
    gw_error(gw, p->client, 502, "server_error", code, "%s", message);
    p->client = NULL;
    finish(p);
}

static void up_body(void *arg, const char *data, size_t n)
{
    struct gw_proxy *p = arg;
    struct gw_worker *w = p->w;
    p->answer_bytes += n;
    if (atomic_load(&w->gw->ban_seq) != w->ban_seen) {
        ban_check(w);
        if (w->ban_timer)
            event_active(w->ban_timer, EV_TIMEOUT, 0); /* the others of the account, at once */
    }
    if (p->banned) {
        end_banned(p);
        return;
    }
    if (p->ag && p->stream) {
        /* The events are rewritten by the guardrails: what goes out is p->gout. */
        int rc = rp_sse_feed(&p->sse, data, n);
        if (p->stopping)
            stop_stream(p, NULL);
        else if (rc)
            stop_stream(p, EVENT_OVERLOADED);
        else if (p->sse.overflow)
            stop_stream(p, EVENT_TOO_LARGE);
        else if (p->sse.foreign)
            stop_stream(p, EVENT_UNREADABLE);
        else
            send_piece(p, p->gout);
        return;
    }
    if (p->ag) {
        /* A whole answer is inspected whole: it is sent from up_done. */
        if (rp_buf_add(&p->body, data, n))
            fail_whole(p, "answer_too_large",
                       "the answer is over the 64 MiB the guardrails can inspect");
        return;
    }
    if (p->stream)
        rp_sse_feed(&p->sse, data, n);
    else
        keep_tail(p, data, n);
    evbuffer_add(p->piece, data, n);
    send_piece(p, p->piece);
}

/* The upstream's answer ended without being whole. */
static void up_failed(struct gw_proxy *p, enum gw_up_result result)
{
    struct gw *gw = p->w->gw;
    bool timeout = result == GW_UP_TIMEOUT, invalid = result == GW_UP_INVALID;
    int64_t now = (int64_t)gw_now(), last = atomic_load(&gw->upstream_logged);
    if (now - last >= 10 && atomic_compare_exchange_strong(&gw->upstream_logged, &last, now))
        fprintf(stderr, "rampart serve: upstream %s %s (counted in rampart_upstream_%s_total)\n",
                gw->cfg->upstream_url,
                timeout   ? "timed out"
                : invalid ? "sent an answer that is not valid HTTP/1.1 (a bad status line, "
                            "length or chunk size)"
                          : "failed or is unreachable",
                timeout ? "timeouts" : "errors");
    atomic_fetch_add(timeout ? &gw->m.upstream_timeouts : &gw->m.upstream_errors, 1);
    if (!p->started)
        p->status = timeout ? 504 : 502;
    account(p);
    if (!p->started) {
        gw_error(gw, p->client, p->status, "server_error",
                 timeout   ? "upstream_timeout"
                 : invalid ? "upstream_invalid"
                           : "upstream_unavailable",
                 timeout   ? "the model did not answer in time"
                 : invalid ? "the model's answer is not valid HTTP/1.1"
                           : "the model is not reachable");
    } else if (p->stream) {
        /* A cut answer must not look complete: a stream says so in an error event, and the
         * connection closes after it. */
        gw_count_status(gw, 502);
        evbuffer_add_printf(p->piece,
                            "\ndata: {\"error\":{\"message\":\"the model's answer was cut off\","
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
}

static void up_done(void *arg, enum gw_up_result result)
{
    struct gw_proxy *p = arg;
    struct gw *gw = p->w->gw;
    p->up = NULL;
    if (result == GW_UP_SHUTDOWN) {
        /* The gateway is stopping (the loops have ended; what is written here goes out at
         * once when the socket takes it): the client hears so, the request is freed. */
        if (!p->started)
            p->status = 503;
        account(p);
        if (!p->started) {
            gw_error(gw, p->client, 503, "server_error", "shutting_down",
                     "the gateway is stopping; retry");
        } else {
            if (p->stream) {
                /* Like an upstream's cut, a stream says so. */
                evbuffer_add(p->piece, EVENT_STOPPING, strlen(EVENT_STOPPING));
                send_piece(p, p->piece);
            }
            gw_reply_abort(p->client);
        }
        p->client = NULL;
        finish(p);
        return;
    }
    if (result != GW_UP_OK) {
        up_failed(p, result);
        return;
    }
    if (!p->stream && !p->ag && p->body.len)
        usage_from_tail(p);
    int status = p->status;
    const char *ctype = p->ctype;
    bool unreadable = false;
    if (p->ag && p->stream) {
        gw_answer_guard_end(p->ag, p->gout);
        /* Bytes after the last whole event: not an event stream (or one cut in an event). */
        unreadable = p->sse.line.len > 0 || p->sse.have_data;
    } else if (p->ag) {
        status = gw_answer_guard_whole(p->ag, p->status, rp_buf_str(&p->body), p->gout, &p->usage);
        if (status != p->status) {
            p->status = status;
            ctype = "application/json";
        }
    }
    gw_count_status(gw, p->status);
    account(p);
    if (p->ag && p->stream) {
        if (unreadable && !gw_answer_guard_refused(p->ag))
            evbuffer_add(p->gout, EVENT_UNREADABLE, strlen(EVENT_UNREADABLE));
        send_piece(p, p->gout);
        gw_reply_end(p->client);
    } else if (p->ag) {
        atomic_fetch_add(&gw->m.bytes_out, evbuffer_get_length(p->gout));
        gw_reply_buffer(p->client, status, ctype, p->gout);
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
    struct gw_proxy *p = arg;
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

/* Gives back what gw_proxy took before the request went upstream (it has replied). */
static void untake(struct gw *gw, const struct rp_key_info *key)
{
    gw_limits_release(gw, key);
    atomic_fetch_sub(&gw->m.in_flight, 1);
}

/* A refused prompt whose reply waits for the ban it earned: the ban is written by a store
 * thread, and the refusal then says it. */
struct refusal_job {
    struct gw_req_job base; /* first */
    int64_t account_id, key_id;
    struct gw_prompt_refusal why;
};

/* Replies with no and, appended to its message, what escalation did (esc). */
static void refusal_reply_with(struct gw *gw, struct gw_req *req, const struct gw_refusal *no,
                               const struct rp_escalation_verdict *esc)
{
    struct gw_refusal r = *no;
    size_t n = strlen(r.message);
    rp_escalation_notice(esc, r.message + n, sizeof(r.message) - n);
    gw_refuse(gw, req, &r);
}

static void refusal_work(struct gw_req_job *j)
{
    struct refusal_job *r = (struct refusal_job *)j;
    gw_escalate_ban(j->gw, r->account_id, r->key_id, r->why.code, &r->why.esc);
}

static void refusal_reply(struct gw_req_job *j)
{
    struct refusal_job *r = (struct refusal_job *)j;
    refusal_reply_with(j->gw, j->req, &r->why.no, &r->why.esc);
}

/* The store is slow or its queue full: the refusal goes out without word of a ban (which, when
 * late, may still be written; when refused, the next soft-block asks for it again). */
static void refusal_plain(struct gw_req_job *j)
{
    struct refusal_job *r = (struct refusal_job *)j;
    struct rp_escalation_verdict none = {0};
    refusal_reply_with(j->gw, j->req, &r->why.no, &none);
}

static void refusal_busy(struct gw_req_job *j, int rc)
{
    (void)rc;
    atomic_fetch_add(&j->gw->m.escalation_bans_deferred, 1);
    refusal_plain(j);
}

/* Replies to a request the guardrails refused: the reasons, and for a soft-block what escalation
 * did (how many refusals are left before a ban, or the ban this one earned, once a store thread
 * has written it). */
static void refuse_prompt(struct gw_worker *w, struct gw_req *req, const struct rp_key_info *key,
                          const struct gw_prompt_refusal *why)
{
    struct gw *gw = w->gw;
    bool ban_due = why->esc.v.action == RP_ACTION_BAN;
    struct refusal_job *r = ban_due ? calloc(1, sizeof(*r)) : NULL;
    if (!r) {
        struct rp_escalation_verdict esc = why->esc;
        if (ban_due) /* out of memory: the next soft-block asks again */
            esc.counted = false;
        refusal_reply_with(gw, req, &why->no, &esc);
        return;
    }
    r->account_id = key->account_id;
    r->key_id = key->key_id;
    r->why = *why;
    r->base.work = refusal_work;
    r->base.reply = refusal_reply;
    r->base.late = refusal_plain;
    r->base.busy = refusal_busy;
    gw_req_offload(w, req, &r->base, GW_LOOKUP_DEADLINE_MS);
}

static void proxy_authenticated(struct gw_worker *w, struct gw_req *req,
                                const struct rp_key_info *k, const struct gw_refusal *no);

void gw_proxy(struct gw_worker *w, struct gw_req *req, const char *path)
{
    enum gw_method method = gw_req_method(req);
    bool is_models = strcmp(path, "/v1/models") == 0;
    if ((is_models && method != GW_GET) || (!is_models && method != GW_POST)) {
        gw_error(w->gw, req, 405, "invalid_request_error", "method_not_allowed", "%s takes %s",
                 path, is_models ? "GET" : "POST");
        return;
    }
    /* A key not in the cache is looked up off the loop: the rest follows when it is known. */
    gw_authenticate_then(w, req, proxy_authenticated);
}

/* The rest of a proxied request, once its key is looked up. Every answer of the request before it
 * goes upstream is given here; after, by the upstream's callbacks above. */
static void proxy_authenticated(struct gw_worker *w, struct gw_req *req,
                                const struct rp_key_info *k, const struct gw_refusal *no)
{
    struct gw *gw = w->gw;
    if (!k) {
        gw_refuse(gw, req, no);
        return;
    }
    const char *path = gw_req_path(req);
    bool is_models = strcmp(path, "/v1/models") == 0;
    struct rp_key_info key = *k;
    /* Bans numbered after this end the request. A ban committed while an uncached key was
     * being looked up off the loop, and numbered before this point, is not among them: the
     * lookup itself may have read the account before it (a window of the lookup's length). */
    uint64_t ban_mark = atomic_load(&gw->ban_seq);
    double now = gw_now();
    {
        /* Behaviour checks: the networks an account comes from. */
        struct sockaddr_storage ss;
        char net[64] = "unknown";
        gw_client_addr(gw, req, &ss);
        rp_net_key((struct sockaddr *)&ss, net, sizeof(net));
        struct rp_verdict seen;
        rp_watch_signal(gw->watch, key.account_id, RP_SIGNAL_REQUEST, rp_str_from_cstr(net), now,
                        &seen);
    }
    struct gw_refusal limited;
    if (!gw_limits_take(gw, &key, &limited)) {
        gw_refuse(gw, req, &limited);
        return;
    }
    atomic_fetch_add(&gw->m.in_flight, 1);
    json_t *body = NULL;
    bool rewritten = false;
    /* Most prompts are read, inspected and sent on without a tree; the tree takes the rest. */
    struct gw_prompt_refusal why;
    int fast = is_models ? 0 : gw_guard_prompt_fast(w, req, path, &key, &why);
    if (fast > 0) {
        body = gw_body_object(req, &why.no);
        fast = body ? gw_guard_prompt(w, path, body, &key, &rewritten, &why) : -1;
        if (fast < 0 || !rewritten) {
            json_decref(body);
            body = NULL;
        }
    }
    if (fast < 0) {
        untake(gw, &key);
        refuse_prompt(w, req, &key, &why);
        return;
    }
    /* The output guardrails of this answer (NULL when none apply). */
    struct gw_answer_guard *ag = NULL;
    bool ag_failed = !is_models && gw_answer_guard_new(w, path, &key, &ag) != RP_OK;
    struct gw_proxy *p = ag_failed ? NULL : calloc(1, sizeof(*p));
    if (p) {
        p->w = w;
        p->key = key;
        p->ban_mark = ban_mark;
        p->gout = ag ? evbuffer_new() : NULL;
        p->piece = evbuffer_new();
    }
    /* The guardrails redacted the prompt: the rewritten body goes upstream. */
    char *rewritten_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!p || !p->piece || (ag && !p->gout) || (rewritten && !rewritten_text) ||
        open_add(p) != RP_OK) {
        if (p) {
            if (p->gout)
                evbuffer_free(p->gout);
            if (p->piece)
                evbuffer_free(p->piece);
            free(p);
        }
        free(rewritten_text);
        gw_answer_guard_free(ag);
        untake(gw, &key);
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    p->client = req;
    p->started_at = now;
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->ag = ag;
    rp_buf_init(&p->body, p->ag ? GUARDED_BODY_MAX : 2 * USAGE_TAIL);
    rp_sse_init(&p->sse, SSE_LINE_MAX, on_event, p);
    char target[1024];
    snprintf(target, sizeof(target), "%s%s", gw->up_prefix, path);
    struct rp_str out = rewritten_text ? rp_str_from_cstr(rewritten_text) : gw_req_body(req);
    p->req_bytes = out.len;
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
