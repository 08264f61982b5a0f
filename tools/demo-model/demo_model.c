/* `rampart-demo-model`: a small OpenAI-compatible model server that answers by echoing, the
 * upstream of `make run`, of the gateway's integration tests and of `make bench-gateway`. A test
 * tool built beside rampart, not part of it: it keeps its own HTTP stack, as curl's test servers
 * do, and borrows only librampart's buffers. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <jansson.h>

#include "rampart/base.h"

/* Exit codes, as rampart's commands have them (STYLE.md). */
#define EXIT_OK 0
#define EXIT_USAGE 2 /* bad usage, or cannot listen or start */

#define MODEL_ID "rampart-echo"
/* /v1/models reports a fixed creation time so that its answer never changes. */
#define MODEL_CREATED 1735689600
#define STR_(x) #x
#define STR(x) STR_(x)
#define BODY_MAX (8u << 20)
#define HEADERS_MAX (64u << 10)
#define THREADS_MAX 64
#define EMBED_DIM 8
/* The events of one streamed answer: words of at most BODY_MAX bytes of input, each word an
 * event of a few hundred bytes at worst. */
#define EVENTS_MAX (256u << 20)
#define DELAY_MAX_MS 3600000L
#define CHUNK_WORDS_MAX 1000000L
/* How often a dying stream checks whether its last chunk has left for the kernel. */
#define DRAIN_POLL_MS 1

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart-demo-model [--listen ADDR:PORT] [--delay-ms N] [--chunk-words N]\n"
            "                          [--die-after-chunks N] [--threads N]\n"
            "\n"
            "Serves a small OpenAI-compatible model API that answers by echoing: the upstream\n"
            "of `make run`, of the gateway's tests and of `make bench-gateway`. Its one model,\n"
            "'%s', answers a chat with \"You said: \" and the last user message.\n"
            "\n"
            "  GET  /v1/models            the model list\n"
            "  POST /v1/chat/completions  echo of the last user message; \"stream\": true sends\n"
            "                             chat.completion.chunk events, the last one with\n"
            "                             finish_reason and usage, then 'data: [DONE]'\n"
            "  POST /v1/completions       echo of each prompt (streams too)\n"
            "  POST /v1/embeddings        a unit vector of %d numbers hashed from each input\n"
            "  GET  /health               {\"status\":\"ok\"}\n"
            "\n"
            "Tokens are counted as whitespace-separated words, an approximation of a real\n"
            "tokenizer. \"max_tokens\" (or \"max_completion_tokens\") cuts the answer, which\n"
            "then finishes with \"length\". The Authorization header is ignored.\n"
            "\n"
            "  --listen ADDR:PORT      numeric address to listen on, [V6]:PORT for IPv6; port 0\n"
            "                          picks a free one (default 127.0.0.1:8090)\n"
            "  --delay-ms N            time to produce each chunk: a streamed answer waits N ms\n"
            "                          before each chunk, a whole answer waits for all of its\n"
            "                          chunks (default 0)\n"
            "  --chunk-words N         words a streamed chunk carries (default 1)\n"
            "  --die-after-chunks N    after N chunk events of a streamed answer (content\n"
            "                          chunks and the last one; 0: right after the headers),\n"
            "                          close that connection as a crashed upstream would: no\n"
            "                          final chunk, no [DONE], no end of the chunked body.\n"
            "                          The server keeps serving other requests\n"
            "  --threads N             event loops sharing the port through SO_REUSEPORT\n"
            "                          (default 1, at most %d)\n"
            "  -h, --help              this text\n"
            "\n"
            "Prints 'demo-model listening on ADDR:PORT' on standard error once it accepts\n"
            "connections; SIGINT or SIGTERM stop it. Exit status: 0 after a signal, 2 on usage\n"
            "errors or when it cannot listen.\n",
            MODEL_ID, EMBED_DIM, THREADS_MAX);
}

struct opts {
    struct sockaddr_storage addr;
    int addr_len;
    long delay_ms;
    long chunk_words;
    long die_after; /* -1: never */
    int threads;
};

struct job;

/* One event loop with its own HTTP server; the main thread runs worker 0. */
struct worker {
    const struct opts *o;
    unsigned index;
    struct event_base *base;
    struct evhttp *http;
    struct evbuffer *scratch;
    struct event *stop; /* activated from the main thread to end this loop */
    struct job *jobs;   /* answers waiting on a timer, freed at shutdown */
    uint64_t seq;
    pthread_t tid;
    bool started;
};

/* ---- words: the token approximation ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static long count_words(const char *p, size_t n)
{
    long words = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_space(p[i]) && (i == 0 || is_space(p[i - 1])))
            words++;
    return words;
}

/* Offset just past the k-th word from `from` (the whitespace before each word included), or n
 * when fewer than k words remain. */
static size_t skip_words(const char *p, size_t n, size_t from, long k)
{
    size_t i = from;
    for (long w = 0; w < k && i < n; w++) {
        while (i < n && is_space(p[i]))
            i++;
        while (i < n && !is_space(p[i]))
            i++;
    }
    return i;
}

/* ---- answers ---- */

enum kind { KIND_CHAT, KIND_COMPLETION };

/* One choice of an answer: a slice of answer.text. */
struct choice {
    size_t off, len;
    long words;
    bool cut; /* max_tokens ended it: finish_reason "length" */
};

/* What the model says, before it is written as one body or as a stream of events. */
struct answer {
    enum kind kind;
    char id[48];
    char *model; /* heap copy */
    long long created;
    struct rp_buf text;
    struct choice *choices;
    size_t nchoices;
    long prompt_tokens, completion_tokens;
};

static void answer_release(struct answer *a)
{
    free(a->model);
    rp_buf_release(&a->text);
    free(a->choices);
}

/* Appends "You said: " and reply to the answer as a new choice, at most max_tokens words when
 * max_tokens > 0. */
static int answer_add(struct answer *a, const char *reply, size_t len, long max_tokens)
{
    struct choice *c = realloc(a->choices, (a->nchoices + 1) * sizeof(*c));
    if (!c)
        return RP_ENOMEM;
    a->choices = c;
    c = &a->choices[a->nchoices];
    *c = (struct choice){.off = a->text.len};
    int result = rp_buf_adds(&a->text, "You said: ");
    if (!result)
        result = rp_buf_add(&a->text, reply, len);
    if (result)
        return result;
    const char *t = a->text.ptr + c->off;
    c->len = a->text.len - c->off;
    c->words = count_words(t, c->len);
    if (max_tokens > 0 && c->words > max_tokens) {
        c->len = skip_words(t, c->len, 0, max_tokens);
        c->words = max_tokens;
        c->cut = true;
        rp_buf_truncate(&a->text, c->off + c->len);
    }
    a->completion_tokens += c->words;
    a->nchoices++;
    return RP_OK;
}

static json_t *usage_json(const struct answer *a)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)a->prompt_tokens,
                     "completion_tokens", (json_int_t)a->completion_tokens, "total_tokens",
                     (json_int_t)(a->prompt_tokens + a->completion_tokens));
}

static const char *finish_reason(const struct choice *c)
{
    return c->cut ? "length" : "stop";
}

/* The choice object of a whole answer, or of a stream chunk carrying text (a slice of choice
 * c) and, when last, its finish_reason. */
static json_t *choice_json(const struct answer *a, size_t i, const char *text, size_t len,
                           bool whole, bool last, bool first)
{
    const struct choice *c = &a->choices[i];
    json_t *fr = last ? json_string(finish_reason(c)) : json_null();
    if (a->kind == KIND_COMPLETION)
        return json_pack("{s:s#, s:I, s:n, s:o}", "text", text, (int)len, "index", (json_int_t)i,
                         "logprobs", "finish_reason", fr);
    json_t *msg;
    if (whole)
        msg = json_pack("{s:s, s:s#, s:n}", "role", "assistant", "content", text, (int)len,
                        "refusal");
    else if (first)
        msg = json_pack("{s:s, s:s#}", "role", "assistant", "content", text, (int)len);
    else if (len || !last)
        msg = json_pack("{s:s#}", "content", text, (int)len);
    else
        msg = json_object();
    return json_pack("{s:I, s:o, s:n, s:o}", "index", (json_int_t)i, whole ? "message" : "delta",
                     msg, "logprobs", "finish_reason", fr);
}

static json_t *envelope(const struct answer *a, bool chunk, json_t *choices)
{
    const char *object = a->kind == KIND_CHAT
                             ? (chunk ? "chat.completion.chunk" : "chat.completion")
                             : "text_completion";
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", a->id, "object", object, "created",
                     (json_int_t)a->created, "model", a->model, "choices", choices);
}

/* The whole answer as one JSON body; the caller frees *out. */
static int answer_body(const struct answer *a, char **out)
{
    int result = RP_ENOMEM;
    json_t *choices = json_array();
    for (size_t i = 0; choices && i < a->nchoices; i++)
        if (json_array_append_new(choices, choice_json(a, i, a->text.ptr + a->choices[i].off,
                                                       a->choices[i].len, true, true, false)))
            goto out;
    json_t *root = envelope(a, false, choices);
    choices = NULL;
    if (root && !json_object_set_new(root, "usage", usage_json(a))) {
        *out = json_dumps(root, JSON_COMPACT);
        if (*out)
            result = RP_OK;
    }
    json_decref(root);
out:
    json_decref(choices);
    return result;
}

/* Server-sent events, back to back in text; event i ends at end[i]. */
struct events {
    struct rp_buf text;
    size_t *end;
    size_t n, alloc;
    size_t chunks; /* events that are chunks: all but [DONE] */
};

static void events_release(struct events *e)
{
    rp_buf_release(&e->text);
    free(e->end);
}

static int events_close(struct events *e)
{
    if (e->n == e->alloc) {
        size_t alloc = e->alloc ? e->alloc * 2 : 16;
        size_t *end = realloc(e->end, alloc * sizeof(*end));
        if (!end)
            return RP_ENOMEM;
        e->end = end;
        e->alloc = alloc;
    }
    e->end[e->n++] = e->text.len;
    return RP_OK;
}

/* Appends `data: JSON\n\n` for root and takes root. */
static int events_add(struct events *e, json_t *root)
{
    int result = RP_ENOMEM;
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (s) {
        result = rp_buf_adds(&e->text, "data: ");
        if (!result)
            result = rp_buf_adds(&e->text, s);
        if (!result)
            result = rp_buf_adds(&e->text, "\n\n");
        if (!result)
            result = events_close(e);
    }
    free(s);
    json_decref(root);
    return result;
}

/* The answer as a stream: each choice in chunks of chunk_words words (each chunk's text keeps
 * the whitespace before its words, so the chunks put together are the whole answer), then one
 * chunk finishing every choice with the usage, then [DONE]. */
static int answer_events(const struct answer *a, long chunk_words, struct events *e)
{
    int result = RP_OK;
    for (size_t i = 0; i < a->nchoices && !result; i++) {
        const char *t = a->text.ptr + a->choices[i].off;
        size_t len = a->choices[i].len, words_end = len;
        while (words_end > 0 && is_space(t[words_end - 1]))
            words_end--;
        for (size_t at = 0; at < len && !result;) {
            size_t to = skip_words(t, len, at, chunk_words);
            /* Whitespace after the last word travels with the last chunk. */
            if (to >= words_end)
                to = len;
            json_t *ch = json_array();
            if (ch && json_array_append_new(
                          ch, choice_json(a, i, t + at, to - at, false, false, at == 0))) {
                json_decref(ch);
                ch = NULL;
            }
            result = events_add(e, ch ? envelope(a, true, ch) : NULL);
            at = to;
        }
    }
    json_t *ch = json_array();
    for (size_t i = 0; ch && i < a->nchoices; i++)
        if (json_array_append_new(ch, choice_json(a, i, "", 0, false, true, false))) {
            json_decref(ch);
            ch = NULL;
        }
    json_t *last = ch ? envelope(a, true, ch) : NULL;
    if (last && json_object_set_new(last, "usage", usage_json(a))) {
        json_decref(last);
        last = NULL;
    }
    if (!result)
        result = events_add(e, last);
    else
        json_decref(last);
    e->chunks = e->n;
    if (!result)
        result = rp_buf_adds(&e->text, "data: [DONE]\n\n");
    if (!result)
        result = events_close(e);
    return result;
}

/* ---- replies ---- */

static void reply_json(struct evhttp_request *req, int code, const char *reason, const char *body,
                       size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    evhttp_send_reply(req, code, reason, NULL);
}

/* An error in OpenAI's shape; code_name may be NULL (JSON null). */
static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *type,
                        const char *code_name, const char *message)
{
    json_t *root = json_pack("{s:{s:s, s:s, s:n, s:o}}", "error", "message", message, "type", type,
                             "param", "code", code_name ? json_string(code_name) : json_null());
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) {
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    reply_json(req, code, reason, s, strlen(s));
    free(s);
}

static void reply_invalid(struct evhttp_request *req, const char *message)
{
    reply_error(req, 400, "Bad Request", "invalid_request_error", NULL, message);
}

/* Out of memory fails the request, not the server (STYLE.md rule 6). */
static void reply_unavailable(struct evhttp_request *req)
{
    reply_error(req, 503, "Service Unavailable", "server_error", NULL,
                "the demo model is out of memory");
}

/* ---- answers that wait: delays and deaths ---- */

/* A delayed whole answer, or a stream in progress. Owned by its worker's list; the request
 * stays evhttp's, and is detached from its connection (evhttp_request_get_connection() NULL)
 * when the client goes away, which on_conn_close notices. */
struct job {
    struct worker *w;
    struct job *prev, *next;
    struct evhttp_request *req;
    struct event *ev;
    bool stream;
    bool waited; /* the delay before the next event has passed */
    bool dying;  /* waiting for the output to drain before closing the connection */
    bool gone;   /* the client closed the connection */
    long delay_ms;
    char *body; /* whole answer */
    size_t body_len;
    struct events events;
    size_t next_event;
    size_t chunks_sent;
};

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->prev)
        j->prev->next = j->next;
    else
        j->w->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    if (j->ev)
        event_free(j->ev);
    free(j->body);
    events_release(&j->events);
    free(j);
}

static void job_schedule(struct job *j, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(j->ev, &tv);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct job *j = arg;
    (void)evcon;
    j->gone = true;
    /* Finish on the next turn of the loop, outside evhttp's own teardown. */
    job_schedule(j, 0);
}

/* Stops watching the connection: past this, evhttp owns its end. */
static void job_detach(struct job *j)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(j->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

/* Closes the connection in the middle of the stream once what was sent has left for the kernel,
 * so the client sees those chunks and then the end of the connection. */
static void job_die(struct job *j)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(j->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        job_schedule(j, DRAIN_POLL_MS);
        return;
    }
    job_detach(j);
    if (evcon)
        evhttp_connection_free(evcon); /* frees the request too */
    else
        evhttp_send_reply_end(j->req); /* frees a detached request */
    job_free(j);
}

/* Sends what is due and waits for the next delay, or ends the answer. */
static void job_step(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    const struct opts *o = j->w->o;
    (void)fd;
    (void)what;
    if (j->gone) {
        /* A detached request: ending the reply frees it. */
        if (j->stream)
            evhttp_send_reply_end(j->req);
        else
            evhttp_send_reply(j->req, 200, "OK", NULL);
        job_free(j);
        return;
    }
    if (j->dying) {
        job_die(j);
        return;
    }
    if (!j->stream) {
        job_detach(j);
        reply_json(j->req, 200, "OK", j->body, j->body_len);
        job_free(j);
        return;
    }
    struct events *e = &j->events;
    while (j->next_event < e->n) {
        if (j->delay_ms > 0 && j->next_event < e->chunks && !j->waited) {
            j->waited = true;
            job_schedule(j, j->delay_ms);
            return;
        }
        j->waited = false;
        size_t from = j->next_event ? e->end[j->next_event - 1] : 0;
        evbuffer_add(j->w->scratch, e->text.ptr + from, e->end[j->next_event] - from);
        evhttp_send_reply_chunk(j->req, j->w->scratch);
        evbuffer_drain(j->w->scratch, evbuffer_get_length(j->w->scratch));
        bool chunk = j->next_event++ < e->chunks;
        if (chunk && o->die_after > 0 && (long)++j->chunks_sent == o->die_after) {
            j->dying = true;
            job_die(j);
            return;
        }
    }
    job_detach(j);
    evhttp_send_reply_end(j->req);
    job_free(j);
}

/* A job for req on worker w, watching the connection; NULL when out of memory. The caller fills
 * in what to send and starts it. */
static struct job *job_new(struct worker *w, struct evhttp_request *req, bool stream)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->w = w;
    j->req = req;
    j->stream = stream;
    rp_buf_init(&j->events.text, EVENTS_MAX);
    j->ev = evtimer_new(w->base, job_step, j);
    if (!j->ev) {
        free(j);
        return NULL;
    }
    j->next = w->jobs;
    if (w->jobs)
        w->jobs->prev = j;
    w->jobs = j;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, j);
    return j;
}

/* Answers req with a, whole or streamed, now or after the configured delays. */
static void send_answer(struct worker *w, struct evhttp_request *req, const struct answer *a,
                        bool stream)
{
    const struct opts *o = w->o;
    struct job *j = NULL;
    if (!stream) {
        /* A whole answer takes as long as its chunks would have. */
        long chunks = 0, delay_ms;
        for (size_t i = 0; i < a->nchoices; i++)
            chunks += (a->choices[i].words + o->chunk_words - 1) / o->chunk_words;
        delay_ms = o->delay_ms && chunks > DELAY_MAX_MS / o->delay_ms ? DELAY_MAX_MS
                                                                      : chunks * o->delay_ms;
        char *body;
        if (answer_body(a, &body))
            goto fail;
        if (delay_ms == 0) {
            reply_json(req, 200, "OK", body, strlen(body));
            free(body);
            return;
        }
        j = job_new(w, req, false);
        if (!j) {
            free(body);
            goto fail;
        }
        j->body = body;
        j->body_len = strlen(body);
        job_schedule(j, delay_ms);
        return;
    }
    j = job_new(w, req, true);
    if (!j || answer_events(a, o->chunk_words, &j->events))
        goto fail;
    j->delay_ms = o->delay_ms;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
    if (o->die_after == 0) {
        j->dying = true;
        job_die(j);
        return;
    }
    job_step(-1, 0, j);
    return;
fail:
    if (j) {
        job_detach(j);
        job_free(j);
    }
    reply_unavailable(req);
}

/* ---- requests ---- */

/* The JSON body of req, or NULL after answering 400. */
static json_t *read_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!data) {
        reply_unavailable(req);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "We could not parse the JSON body of your request: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        reply_invalid(req, msg);
        return NULL;
    }
    if (!json_is_object(root)) {
        reply_invalid(req, "the body of the request must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Reads the parameters every generation takes; answers 400 and returns RP_EINVAL when one is
 * wrong. */
static int read_common(struct evhttp_request *req, json_t *root, struct answer *a, bool *stream,
                       long *max_tokens)
{
    json_t *model = json_object_get(root, "model");
    json_t *s = json_object_get(root, "stream");
    if (model && !json_is_string(model)) {
        reply_invalid(req, "'model' must be a string");
        return RP_EINVAL;
    }
    if (s && !json_is_boolean(s) && !json_is_null(s)) {
        reply_invalid(req, "'stream' must be a boolean");
        return RP_EINVAL;
    }
    *stream = json_is_true(s);
    *max_tokens = 0;
    static const char *const limits[] = {"max_tokens", "max_completion_tokens"};
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_object_get(root, limits[i]);
        if (!m || json_is_null(m))
            continue;
        if (!json_is_integer(m) || json_integer_value(m) < 1) {
            char msg[96];
            snprintf(msg, sizeof(msg), "'%s' must be an integer of at least 1", limits[i]);
            reply_invalid(req, msg);
            return RP_EINVAL;
        }
        json_int_t v = json_integer_value(m);
        *max_tokens = v > 1000000000 ? 1000000000 : (long)v;
    }
    a->model = strdup(model ? json_string_value(model) : MODEL_ID);
    if (!a->model) {
        reply_unavailable(req);
        return RP_ENOMEM;
    }
    return RP_OK;
}

static void make_id(struct worker *w, const char *prefix, struct answer *a)
{
    snprintf(a->id, sizeof(a->id), "%s%02x%010llx", prefix, w->index, (unsigned long long)++w->seq);
    a->created = (long long)time(NULL);
}

/* Appends the text of a message's content: a string, or the "text" of its text parts. */
static int content_text(json_t *content, struct rp_buf *out)
{
    if (!content || json_is_null(content))
        return RP_OK;
    if (json_is_string(content))
        return rp_buf_add(out, json_string_value(content), json_string_length(content));
    if (!json_is_array(content))
        return RP_EINVAL;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *text = json_object_get(part, "text");
        if (!json_is_object(part))
            return RP_EINVAL;
        if (!json_is_string(text))
            continue;
        int result = i && out->len ? rp_buf_addc(out, '\n') : RP_OK;
        if (!result)
            result = rp_buf_add(out, json_string_value(text), json_string_length(text));
        if (result)
            return result;
    }
    return RP_OK;
}

static void on_chat(struct worker *w, struct evhttp_request *req)
{
    struct answer a = {.kind = KIND_CHAT};
    struct rp_buf said, text;
    rp_buf_init(&a.text, BODY_MAX * 2);
    rp_buf_init(&said, BODY_MAX);
    rp_buf_init(&text, BODY_MAX);
    bool stream;
    long max_tokens;
    json_t *root = read_body(req);
    if (!root || read_common(req, root, &a, &stream, &max_tokens))
        goto out;
    json_t *messages = json_object_get(root, "messages");
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        reply_invalid(req, "'messages' must be a non-empty array");
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            reply_invalid(req, "each message must be an object with a string 'role'");
            goto out;
        }
        rp_buf_reset(&text);
        int result = content_text(json_object_get(m, "content"), &text);
        if (result == RP_EINVAL) {
            reply_invalid(req, "a message's 'content' must be a string or an array of parts");
            goto out;
        }
        if (result) {
            reply_unavailable(req);
            goto out;
        }
        a.prompt_tokens += count_words(text.ptr ? text.ptr : "", text.len);
        if (strcmp(json_string_value(role), "user") == 0) {
            rp_buf_reset(&said);
            if (rp_buf_add(&said, text.ptr ? text.ptr : "", text.len)) {
                reply_unavailable(req);
                goto out;
            }
        }
    }
    make_id(w, "chatcmpl-", &a);
    if (answer_add(&a, said.ptr ? said.ptr : "", said.len, max_tokens)) {
        reply_unavailable(req);
        goto out;
    }
    send_answer(w, req, &a, stream);
out:
    json_decref(root);
    rp_buf_release(&said);
    rp_buf_release(&text);
    answer_release(&a);
}

static void on_completions(struct worker *w, struct evhttp_request *req)
{
    struct answer a = {.kind = KIND_COMPLETION};
    rp_buf_init(&a.text, BODY_MAX * 2);
    bool stream;
    long max_tokens;
    json_t *root = read_body(req);
    if (!root || read_common(req, root, &a, &stream, &max_tokens))
        goto out;
    json_t *prompt = json_object_get(root, "prompt");
    bool ok = json_is_string(prompt) || (json_is_array(prompt) && json_array_size(prompt) > 0);
    size_t i;
    json_t *p;
    if (json_is_array(prompt)) {
        json_array_foreach(prompt, i, p)
        {
            if (!json_is_string(p))
                ok = false;
        }
    }
    if (!ok) {
        reply_invalid(req, "'prompt' must be a string or a non-empty array of strings");
        goto out;
    }
    make_id(w, "cmpl-", &a);
    for (i = 0; i < (json_is_string(prompt) ? 1 : json_array_size(prompt)); i++) {
        p = json_is_string(prompt) ? prompt : json_array_get(prompt, i);
        const char *s = json_string_value(p);
        size_t len = json_string_length(p);
        a.prompt_tokens += count_words(s, len);
        if (answer_add(&a, s, len, max_tokens)) {
            reply_unavailable(req);
            goto out;
        }
    }
    send_answer(w, req, &a, stream);
out:
    json_decref(root);
    answer_release(&a);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The embedding of s: EMBED_DIM numbers from hashes of s, scaled to length 1, as JSON numbers
 * or (base64) their little-endian float32 bytes, which is how OpenAI's clients ask for them. */
static json_t *embedding_json(const char *s, size_t len, bool base64)
{
    float v[EMBED_DIM];
    double norm = 0;
    for (unsigned k = 0; k < EMBED_DIM; k++) {
        uint64_t h = rp_hash64(s, len, 0x9e3779b97f4a7c15ull * (k + 1));
        v[k] = (float)((double)(h >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
        norm += (double)v[k] * v[k];
    }
    norm = sqrt(norm);
    for (unsigned k = 0; k < EMBED_DIM; k++)
        v[k] = norm > 0 ? (float)(v[k] / norm) : 0.0f;
    if (base64) {
        unsigned char bytes[EMBED_DIM * 4];
        char out[(sizeof(bytes) + 2) / 3 * 4 + 1];
        for (unsigned k = 0; k < EMBED_DIM; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            for (unsigned b = 0; b < 4; b++)
                bytes[k * 4 + b] = (unsigned char)(u >> (8 * b));
        }
        size_t o = 0;
        for (size_t i = 0; i < sizeof(bytes); i += 3) {
            uint32_t n = (uint32_t)bytes[i] << 16;
            n |= i + 1 < sizeof(bytes) ? (uint32_t)bytes[i + 1] << 8 : 0;
            n |= i + 2 < sizeof(bytes) ? bytes[i + 2] : 0;
            out[o++] = b64[n >> 18 & 63];
            out[o++] = b64[n >> 12 & 63];
            out[o++] = i + 1 < sizeof(bytes) ? b64[n >> 6 & 63] : '=';
            out[o++] = i + 2 < sizeof(bytes) ? b64[n & 63] : '=';
        }
        out[o] = '\0';
        return json_string(out);
    }
    json_t *arr = json_array();
    for (unsigned k = 0; arr && k < EMBED_DIM; k++)
        if (json_array_append_new(arr, json_real(v[k]))) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static void on_embeddings(struct worker *w, struct evhttp_request *req)
{
    (void)w;
    json_t *out = NULL;
    char *s = NULL;
    json_t *root = read_body(req);
    if (!root)
        goto out;
    json_t *input = json_object_get(root, "input");
    json_t *model = json_object_get(root, "model");
    json_t *format = json_object_get(root, "encoding_format");
    bool ok = json_is_string(input) || (json_is_array(input) && json_array_size(input) > 0);
    size_t i;
    json_t *p;
    if (json_is_array(input)) {
        json_array_foreach(input, i, p)
        {
            if (!json_is_string(p))
                ok = false;
        }
    }
    if (!ok) {
        reply_invalid(req, "'input' must be a string or a non-empty array of strings");
        goto out;
    }
    if (model && !json_is_string(model)) {
        reply_invalid(req, "'model' must be a string");
        goto out;
    }
    bool base64 = json_is_string(format) && strcmp(json_string_value(format), "base64") == 0;
    if (format && !json_is_null(format) && !base64 &&
        !(json_is_string(format) && strcmp(json_string_value(format), "float") == 0)) {
        reply_invalid(req, "'encoding_format' must be 'float' or 'base64'");
        goto out;
    }
    json_t *data = json_array();
    long words = 0;
    for (i = 0; data && i < (json_is_string(input) ? 1 : json_array_size(input)); i++) {
        p = json_is_string(input) ? input : json_array_get(input, i);
        words += count_words(json_string_value(p), json_string_length(p));
        json_t *e = embedding_json(json_string_value(p), json_string_length(p), base64);
        json_t *item = e ? json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                     (json_int_t)i, "embedding", e)
                         : NULL;
        if (json_array_append_new(data, item)) {
            json_decref(data);
            data = NULL;
        }
    }
    out = data ? json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                           model ? json_string_value(model) : MODEL_ID, "usage", "prompt_tokens",
                           (json_int_t)words, "total_tokens", (json_int_t)words)
               : NULL;
    /* float32 holds about 7 significant digits; printing 17 would only add noise. */
    s = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    if (!s) {
        reply_unavailable(req);
        goto out;
    }
    reply_json(req, 200, "OK", s, strlen(s));
out:
    free(s);
    json_decref(out);
    json_decref(root);
}

static void on_models(struct worker *w, struct evhttp_request *req)
{
    (void)w;
    static const char body[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"" MODEL_ID "\","
        "\"object\":\"model\",\"created\":" STR(MODEL_CREATED) ","
                                                               "\"owned_by\":\"rampart\"}]}";
    reply_json(req, 200, "OK", body, sizeof(body) - 1);
}

static void on_health(struct worker *w, struct evhttp_request *req)
{
    (void)w;
    static const char body[] = "{\"status\":\"ok\"}";
    reply_json(req, 200, "OK", body, sizeof(body) - 1);
}

static const struct {
    const char *path;
    enum evhttp_cmd_type method;
    void (*fn)(struct worker *, struct evhttp_request *);
} routes[] = {
    {"/v1/models", EVHTTP_REQ_GET, on_models},
    {"/v1/chat/completions", EVHTTP_REQ_POST, on_chat},
    {"/v1/completions", EVHTTP_REQ_POST, on_completions},
    {"/v1/embeddings", EVHTTP_REQ_POST, on_embeddings},
    {"/health", EVHTTP_REQ_GET, on_health},
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t len = strcspn(uri, "?#");
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strlen(routes[i].path) != len || memcmp(routes[i].path, uri, len) != 0)
            continue;
        path_known = true;
        if (routes[i].method == method) {
            routes[i].fn(w, req);
            return;
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "Invalid URL (%s %.*s)", method_name(method),
             len > 100 ? 100 : (int)len, uri);
    if (path_known)
        reply_error(req, 405, "Method Not Allowed", "invalid_request_error", "method_not_allowed",
                    msg);
    else
        reply_error(req, 404, "Not Found", "invalid_request_error", "unknown_url", msg);
}

/* ---- listening, threads, signals ---- */

/* Reads "ADDR:PORT" or "[V6]:PORT" (numeric; "localhost" is 127.0.0.1). Port 0 is allowed,
 * which evutil_parse_sockaddr_port() refuses. */
static int parse_listen(const char *text, struct opts *o)
{
    char host[64];
    const char *colon;
    bool v6 = text[0] == '[';
    if (v6) {
        const char *rb = strchr(text, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - text - 1) >= sizeof(host))
            return RP_EINVAL;
        memcpy(host, text + 1, (size_t)(rb - text - 1));
        host[rb - text - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strchr(text, ':');
        if (!colon || strchr(colon + 1, ':') || (size_t)(colon - text) >= sizeof(host))
            return RP_EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
        return RP_EINVAL;
    memset(&o->addr, 0, sizeof(o->addr));
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->addr;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        o->addr_len = (int)sizeof(*s6);
        return evutil_inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? RP_OK : RP_EINVAL;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&o->addr;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    o->addr_len = (int)sizeof(*s4);
    if (strcmp(host, "localhost") == 0)
        return evutil_inet_pton(AF_INET, "127.0.0.1", &s4->sin_addr) == 1 ? RP_OK : RP_EINVAL;
    return evutil_inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? RP_OK : RP_EINVAL;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[64] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        evutil_inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", host, port);
        return;
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    evutil_inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
    port = ntohs(s4->sin_port);
    snprintf(out, len, "%s:%u", host, port);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(w->base);
}

/* Creates worker w's loop and server listening on o->addr; *bound receives the address the
 * kernel gave (the real port when o->addr asks for port 0). */
static int worker_init(struct worker *w, struct opts *o, struct sockaddr_storage *bound)
{
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
    if (o->threads > 1)
        flags |= LEV_OPT_REUSEABLE_PORT;
    w->o = o;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    w->scratch = evbuffer_new();
    if (!w->http || !w->scratch)
        return RP_ENOMEM;
    evhttp_set_max_body_size(w->http, BODY_MAX);
    evhttp_set_max_headers_size(w->http, HEADERS_MAX);
    /* Every method reaches on_request, which answers the wrong ones in OpenAI's shape. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(w->http, on_request, w);
    w->stop = event_new(w->base, -1, 0, on_stop, w);
    if (!w->stop)
        return RP_ENOMEM;
    struct evconnlistener *l = evconnlistener_new_bind(w->base, NULL, NULL, flags, 1024,
                                                       (struct sockaddr *)&o->addr, o->addr_len);
    if (!l)
        return RP_EIO;
    if (!evhttp_bind_listener(w->http, l)) {
        evconnlistener_free(l);
        return RP_ENOMEM;
    }
    socklen_t len = sizeof(*bound);
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)bound, &len) != 0)
        return RP_EIO;
    return RP_OK;
}

static void worker_release(struct worker *w)
{
    while (w->jobs) {
        struct job *j = w->jobs;
        /* A detached request is ours to free; evhttp_free frees the others with their
         * connections. */
        if (j->gone)
            evhttp_send_reply_end(j->req);
        else
            job_detach(j);
        job_free(j);
    }
    if (w->http)
        evhttp_free(w->http);
    if (w->stop)
        event_free(w->stop);
    if (w->scratch)
        evbuffer_free(w->scratch);
    if (w->base)
        event_base_free(w->base);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

struct stopper {
    struct worker *workers;
    int n;
};

/* Stops every loop. An activated event waits for its loop to run, so a signal that comes
 * before a thread has entered its loop still stops it (a loopbreak would be forgotten). */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct stopper *s = arg;
    (void)sig;
    (void)what;
    for (int i = s->n - 1; i >= 0; i--)
        if (s->workers[i].stop)
            event_active(s->workers[i].stop, EV_READ, 0);
}

static int parse_long(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "rampart-demo-model: %s wants a number from %ld to %ld, not '%s'\n", opt,
                lo, hi, text);
        return RP_EINVAL;
    }
    *out = v;
    return RP_OK;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"chunk-words", required_argument, NULL, 'c'},
        {"die-after-chunks", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.delay_ms = 0, .chunk_words = 1, .die_after = -1, .threads = 1};
    const char *listen = "127.0.0.1:8090";
    long threads = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = RP_OK;
        switch (c) {
        case 'l': listen = optarg; break;
        case 'd': bad = parse_long("--delay-ms", optarg, 0, DELAY_MAX_MS, &o.delay_ms); break;
        case 'c':
            bad = parse_long("--chunk-words", optarg, 1, CHUNK_WORDS_MAX, &o.chunk_words);
            break;
        case 'k':
            bad = parse_long("--die-after-chunks", optarg, 0, 1000000000L, &o.die_after);
            break;
        case 't': bad = parse_long("--threads", optarg, 1, THREADS_MAX, &threads); break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
        if (bad)
            return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "rampart-demo-model: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (parse_listen(listen, &o)) {
        fprintf(stderr, "rampart-demo-model: --listen wants ADDR:PORT or [V6]:PORT, not '%s'\n",
                listen);
        return EXIT_USAGE;
    }
    o.threads = (int)threads;

    int exit_code = EXIT_USAGE; /* cannot listen or start: 2, like rampart serve */
    struct worker *workers = calloc((size_t)o.threads, sizeof(*workers));
    struct event *sigs[2] = {NULL, NULL};
    struct stopper stopper = {workers, o.threads};
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_pipe;
    bool pipe_saved = false;
    if (!workers) {
        fprintf(stderr, "rampart-demo-model: out of memory\n");
        goto out;
    }
    /* The loops of other threads are stopped from the main one. */
    if (o.threads > 1 && evthread_use_pthreads() != 0) {
        fprintf(stderr, "rampart-demo-model: libevent has no thread support\n");
        goto out;
    }
    /* A client gone mid-answer must fail that write, not kill the server. */
    pipe_saved = sigaction(SIGPIPE, &ignore, &old_pipe) == 0;
    char shown[96];
    for (int i = 0; i < o.threads; i++) {
        struct sockaddr_storage bound;
        workers[i].index = (unsigned)i;
        int result = worker_init(&workers[i], &o, &bound);
        if (result) {
            char want[96];
            format_addr(&o.addr, want, sizeof(want));
            fprintf(stderr, "rampart-demo-model: unable to listen on '%s': %s\n", want,
                    result == RP_EIO ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
                                     : rp_strerror(result));
            goto out;
        }
        /* Port 0: the other loops join the port the first one was given. */
        if (i == 0) {
            memcpy(&o.addr, &bound, sizeof(bound));
            format_addr(&bound, shown, sizeof(shown));
        }
    }
    sigs[0] = evsignal_new(workers[0].base, SIGINT, on_signal, &stopper);
    sigs[1] = evsignal_new(workers[0].base, SIGTERM, on_signal, &stopper);
    if (!sigs[0] || !sigs[1] || evsignal_add(sigs[0], NULL) || evsignal_add(sigs[1], NULL)) {
        fprintf(stderr, "rampart-demo-model: unable to handle signals\n");
        goto out;
    }
    /* Signals go to the main thread's loop only. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 1; i < o.threads; i++)
        workers[i].started = pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 1; i < o.threads; i++)
        if (!workers[i].started) {
            fprintf(stderr, "rampart-demo-model: unable to start thread %d\n", i);
            on_signal(0, 0, &stopper);
            goto join;
        }
    fprintf(stderr, "demo-model listening on %s\n", shown);
    event_base_dispatch(workers[0].base);
    exit_code = EXIT_OK;
join:
    for (int i = 1; i < o.threads; i++)
        if (workers[i].started)
            pthread_join(workers[i].tid, NULL);
out:
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    for (int i = 0; workers && i < o.threads; i++)
        worker_release(&workers[i]);
    free(workers);
    if (pipe_saved)
        sigaction(SIGPIPE, &old_pipe, NULL);
    return exit_code;
}
