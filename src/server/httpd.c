/* The server side of the gateway's HTTP/1.1: client connections read and written directly on
 * one edge-triggered event each, requests framed by http-parser, replies whole or chunked,
 * keep-alive and pipelining, limits on heads and bodies, and a sweep that closes connections
 * which stop making progress. */
#include <errno.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

#define IN_SIZE (16u * 1024)
#define HEADERS_MAX 100
#define RHDR_MAX 2048

struct gw_conn;

struct gw_req {
    struct gw_conn *c;
    enum gw_method method;
    /* The head as it was parsed: the target, then each header name and value, NUL-terminated,
     * then a copy of the path; offsets into it until the head is whole. */
    struct rp_buf head;
    uint32_t name_at[HEADERS_MAX], value_at[HEADERS_MAX];
    size_t n_hdr;
    int hstate; /* 0 in the target, 1 in a name, 2 in a value */
    const char *path, *query;
    struct rp_buf body;
    int refused; /* 400, 413 or 431 when the request could not be read */
    bool keep_alive, http10, whole;
    bool head_done; /* the path, query and headers are set; trailers do not change them */
    /* The reply. */
    char rhdr[RHDR_MAX];
    size_t rhdr_len;
    bool started, chunked, want_drain;
    gw_req_event_fn on_event;
    void *ev_arg;
};

struct gw_conn {
    struct gw_server *s;
    struct gw_conn *prev, *next;
    evutil_socket_t fd;
    struct event *ev;
    struct sockaddr_storage peer;
    http_parser parser;
    struct evbuffer *out;
    struct gw_req req;
    time_t last;    /* the last progress, for the sweep */
    int in_cb;      /* inside conn_cb: frees wait for its end */
    bool busy;      /* req was handed to the route and is not ended */
    bool closing;   /* close once the output is written */
    bool gone;      /* the socket is closed; the struct waits for the request's end */
    bool notified;  /* GW_REQ_GONE was reported */
    bool readable;  /* the kernel may hold more input (edge-triggered) */
    bool rdhup;     /* the client has closed its side: read on to the end */
    bool eof;       /* ... and the end was read */
    bool lingering; /* the reply is out; what the client still sends is read and dropped */
    size_t dropped; /* bytes dropped while lingering */
    size_t in_len;
    char in[IN_SIZE]; /* input not yet parsed */
};

struct gw_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct gw_server_options opt;
    struct gw_conn *conns;
    struct event *sweep;
    struct event *resume; /* re-enables the listener after accept() ran out of descriptors */
    time_t date_at, accept_logged;
    char date[40];
};

static time_t now_s(struct gw_server *s)
{
    struct timeval tv;
    event_base_gettimeofday_cached(s->base, &tv);
    return tv.tv_sec;
}

/* ---- Parsing (http-parser callbacks) ---- */

static int refuse(struct gw_req *r, int status)
{
    r->refused = status;
    return -1;
}

static int head_add(struct gw_conn *c, const char *at, size_t len)
{
    struct gw_req *r = &c->req;
    if (r->head.len + len > c->s->opt.max_head || rp_buf_add(&r->head, at, len))
        return refuse(r, 431);
    return 0;
}

static int head_nul(struct gw_conn *c)
{
    return head_add(c, "", 1);
}

/* Forgets everything of the previous request on the connection. */
static void req_reset(struct gw_req *r)
{
    rp_buf_reset(&r->head);
    rp_buf_reset(&r->body);
    r->n_hdr = 0;
    r->hstate = 0;
    r->refused = 0;
    r->whole = false;
    r->rhdr_len = 0;
    r->started = r->chunked = r->want_drain = false;
    r->on_event = NULL;
    r->path = r->query = NULL;
    r->head_done = false;
    r->method = GW_OTHER;
    r->http10 = false;
    r->keep_alive = false;
}

static int on_begin(http_parser *p)
{
    struct gw_conn *c = p->data;
    req_reset(&c->req);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return head_add(p->data, at, len);
}

static int on_field(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *c = p->data;
    struct gw_req *r = &c->req;
    if (r->head_done)
        return 0; /* the trailers of a chunked body: not headers, and never read */
    if (r->hstate != 1) {
        if (head_nul(c))
            return -1;
        if (r->hstate == 2)
            r->n_hdr++;
        if (r->n_hdr >= HEADERS_MAX)
            return refuse(r, 431);
        r->name_at[r->n_hdr] = (uint32_t)r->head.len;
        r->hstate = 1;
    }
    return head_add(c, at, len);
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *c = p->data;
    struct gw_req *r = &c->req;
    if (r->head_done)
        return 0;
    if (r->hstate != 2) {
        if (head_nul(c))
            return -1;
        r->value_at[r->n_hdr] = (uint32_t)r->head.len;
        r->hstate = 2;
    }
    return head_add(c, at, len);
}

static void put(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

static void conn_flush(struct gw_conn *c);

static int on_headers(http_parser *p)
{
    struct gw_conn *c = p->data;
    struct gw_req *r = &c->req;
    if (r->hstate == 0 && head_nul(c)) /* the end of the target */
        return -1;
    if (r->hstate == 2) {
        if (head_nul(c))
            return -1;
        r->n_hdr++;
    } else if (r->hstate == 1) {
        return refuse(r, 400); /* http-parser does not end a head inside a name */
    }
    /* The path: the target up to '?', of an absolute-form target ("http://host/p") its path. */
    const char *uri = r->head.ptr;
    const char *start = uri;
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
        const char *slash = strchr(uri + 8 - (uri[4] == ':'), '/');
        start = slash ? slash : "/";
    }
    size_t plen = strcspn(start, "?#");
    size_t path_at = r->head.len;
    if (start == uri || (start > uri && start < uri + r->head.len)) {
        /* The path is in the head itself, which may move as it grows: copied piece by piece. */
        size_t from = (size_t)(start - uri);
        for (size_t i = 0; i < plen;) {
            char tmp[512];
            size_t n = plen - i < sizeof(tmp) ? plen - i : sizeof(tmp);
            memcpy(tmp, r->head.ptr + from + i, n);
            if (rp_buf_add(&r->head, tmp, n))
                return refuse(r, 431);
            i += n;
        }
    } else if (rp_buf_add(&r->head, start, plen)) {
        return refuse(r, 431);
    }
    if (rp_buf_add(&r->head, "", 1))
        return refuse(r, 431);
    r->path = r->head.ptr + path_at;
    const char *q = strchr(r->head.ptr, '?');
    r->query = q ? q + 1 : NULL;
    r->method = p->method == HTTP_GET      ? GW_GET
                : p->method == HTTP_POST   ? GW_POST
                : p->method == HTTP_DELETE ? GW_DELETE
                                           : GW_OTHER;
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    r->head_done = true;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (!chunked && p->content_length != ULLONG_MAX && p->content_length > c->s->opt.max_body)
        return refuse(r, 413);
    /* curl and others wait for this before sending a body of more than 1 KB. */
    const char *expect = gw_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && !r->http10 &&
        (chunked || (p->content_length != ULLONG_MAX && p->content_length > 0))) {
        put(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_flush(c);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct gw_conn *c = p->data;
    struct gw_req *r = &c->req;
    if (r->body.len + len > c->s->opt.max_body)
        return refuse(r, 413);
    if (rp_buf_add(&r->body, at, len))
        return refuse(r, 413);
    return 0;
}

static int on_complete(http_parser *p)
{
    struct gw_conn *c = p->data;
    c->req.keep_alive = http_should_keep_alive(p) != 0;
    c->req.whole = true;
    http_parser_pause(p, 1); /* one request at a time: the next waits in c->in */
    return 0;
}

static const http_parser_settings req_settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- Connections ---- */

static void conn_free(struct gw_conn *c)
{
    struct gw_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ev)
        event_free(c->ev);
    if (!c->gone && c->fd >= 0)
        evutil_closesocket(c->fd);
    if (c->out)
        evbuffer_free(c->out);
    rp_buf_release(&c->req.head);
    rp_buf_release(&c->req.body);
    free(c);
}

/* The socket failed or the client left: it is closed now; the struct lives on while a handler
 * holds the request. A handler that keeps the request hears of it from the loop (never from
 * inside one of its own calls, such as a failed gw_reply_chunk). */
static void conn_fail(struct gw_conn *c)
{
    if (c->gone)
        return;
    c->gone = true;
    event_del(c->ev);
    evutil_closesocket(c->fd);
    c->fd = -1;
    if (!c->in_cb && c->busy)
        event_active(c->ev, EV_READ, 0);
}

static void conn_flush(struct gw_conn *c)
{
    while (!c->gone && evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n > 0) {
            c->last = now_s(c->s);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the next writable edge goes on */
        conn_fail(c);
    }
}

/* Reads what fits; a short read means the socket is drained (a new edge comes with new data or
 * the client's close, EV_CLOSED). A reset that comes in the same edge as the last data goes
 * unnoticed until the next write to the client fails, or the sweep: the price of not making a
 * second read a request. */
static void conn_read(struct gw_conn *c)
{
    while (!c->gone && c->readable && c->in_len < IN_SIZE) {
        size_t room = IN_SIZE - c->in_len;
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            c->last = now_s(c->s);
            if ((size_t)n < room && !c->rdhup)
                c->readable = false;
        } else if (n == 0) {
            c->eof = true; /* no more requests */
            c->readable = false;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->readable = false;
        } else if (errno != EINTR) {
            conn_fail(c);
        }
    }
}

/* Parses the input; hands a whole (or unreadable) request to the route. Returns true when one
 * was handed over. */
static bool conn_process(struct gw_conn *c)
{
    if (c->in_len == 0)
        return false;
    size_t n = http_parser_execute(&c->parser, &req_settings, c->in, c->in_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&c->parser, 0);
    } else if (e != HPE_OK) {
        if (!c->req.refused)
            c->req.refused = 400;
        n = c->in_len; /* nothing after an unreadable request is read */
    }
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    if (c->parser.upgrade && c->req.whole) {
        /* An Upgrade or CONNECT, answered as HTTP/1.1 (the gateway upgrades to nothing); what
         * follows it is not HTTP any more, so the connection ends with the answer. */
        c->req.keep_alive = false;
        c->in_len = 0;
    }
    if (!c->req.whole && !c->req.refused)
        return false;
    if (c->req.refused) {
        /* Nothing of a request that could not be read is handed on (the parser may have failed
         * before it began a new one, leaving the last request's state): the route sees path
         * "/", no headers, no body. The reply is the last on this connection: what follows
         * cannot be framed. */
        int status = c->req.refused;
        req_reset(&c->req);
        c->req.refused = status;
        if (rp_buf_add(&c->req.head, "/\0/", 4) == RP_OK)
            c->req.path = c->req.head.ptr + 2;
        else
            c->req.path = "/";
        c->in_len = 0;
        c->readable = false;
    }
    if (c->req.method == GW_OTHER)
        c->req.keep_alive =
            false; /* HEAD and the like: an answer with a body ends the connection */
    c->busy = true;
    c->notified = false;
    c->s->opt.route(&c->req, c->s->opt.arg);
    return true;
}

/* Frees the connection when nothing holds it any more: its socket failed and its request (if
 * any) has ended, or it was to close and its output is out. */
static bool conn_settle(struct gw_conn *c)
{
    if (c->in_cb)
        return false;
    if (c->gone && !c->busy) {
        conn_free(c);
        return true;
    }
    if (c->busy || !c->closing || c->lingering || evbuffer_get_length(c->out) > 0)
        return false;
    if (c->req.refused && shutdown(c->fd, SHUT_WR) == 0) {
        /* The client may still be sending the body that was refused: closing now would reset
         * the connection and lose the reply in its buffers. Its input is read and dropped
         * until it closes (bounded in bytes here, in time by the sweep). */
        c->lingering = true;
        c->readable = true;
        c->last = now_s(c->s);
        event_active(c->ev, EV_READ, 0);
        return false;
    }
    conn_free(c);
    return true;
}

#define LINGER_MAX (64u << 20)
#define LINGER_S 5

static void conn_linger(struct gw_conn *c)
{
    while (c->readable) {
        ssize_t n = recv(c->fd, c->in, IN_SIZE, 0);
        if (n > 0) {
            c->dropped += (size_t)n;
            if (c->dropped <= LINGER_MAX)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = false;
            return;
        }
        conn_free(c); /* the client closed, failed, or sent too much */
        return;
    }
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct gw_conn *c = arg;
    if (what & (EV_READ | EV_CLOSED))
        c->readable = true;
    if (what & EV_CLOSED)
        c->rdhup = true; /* the end may have come with the last data, in the same edge */
    if (c->lingering) {
        conn_linger(c);
        return;
    }
    c->in_cb++;
    conn_flush(c);
    for (;;) {
        conn_read(c);
        if (c->gone) {
            if (c->busy && !c->notified && c->req.on_event) {
                c->notified = true;
                c->req.on_event(&c->req, GW_REQ_GONE, c->req.ev_arg);
            }
            break;
        }
        if (c->busy && c->eof) {
            conn_fail(c); /* a client that closes its side while waiting is taken as gone */
            continue;
        }
        if (c->busy) {
            struct gw_req *r = &c->req;
            if (r->want_drain && r->on_event && evbuffer_get_length(c->out) < GW_LOW_WATER) {
                r->want_drain = false;
                r->on_event(r, GW_REQ_DRAINED, r->ev_arg);
            }
            break;
        }
        if (c->closing)
            break;
        /* A client that pipelines without reading its answers waits for them to go out: what
         * the socket takes now is written, and what it does not makes the writable edge that
         * brings the connection back here. */
        if (evbuffer_get_length(c->out) > GW_LOW_WATER) {
            conn_flush(c);
            if (c->gone)
                continue;
            if (evbuffer_get_length(c->out) > GW_LOW_WATER)
                break;
        }
        /* Whole requests are served; a partial one waits for more input, read at once when
         * the socket may hold it (the edge has passed). */
        if (conn_process(c))
            continue;
        if (c->eof) {
            c->closing = true; /* the answers go out, then the connection closes */
            break;
        }
        if (!c->readable)
            break;
    }
    conn_flush(c);
    c->in_cb--;
    conn_settle(c);
}

static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int gw_server_adopt(struct gw_server *s, evutil_socket_t fd, const struct sockaddr *sa,
                    socklen_t len)
{
    struct gw_conn *c = malloc(sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return RP_ENOMEM;
    }
    memset(c, 0, offsetof(struct gw_conn, in));
    c->s = s;
    c->fd = fd;
    if (sa)
        memcpy(&c->peer, sa, (size_t)len < sizeof(c->peer) ? (size_t)len : sizeof(c->peer));
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->req.c = c;
    rp_buf_init(&c->req.head, 2 * s->opt.max_head + 2);
    rp_buf_init(&c->req.body, s->opt.max_body);
    c->out = evbuffer_new();
    c->ev = event_new(s->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, conn_cb, c);
    c->last = now_s(s);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (!c->out || !c->ev || event_add(c->ev, NULL) != 0) {
        conn_free(c);
        return RP_ENOMEM;
    }
    set_nodelay(fd);
    return RP_OK;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)l;
    gw_server_adopt(arg, fd, sa, (socklen_t)len);
}

#define ACCEPT_PAUSE_MS 100

/* accept() failed for want of descriptors or memory. The pending connection keeps the listener
 * readable, so accepting again at once would spin (and libevent would log each try): the
 * listener rests ACCEPT_PAUSE_MS, and stderr hears of it at most once every 10 s. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct gw_server *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    time_t now = now_s(s);
    if (now - s->accept_logged >= 10) {
        s->accept_logged = now;
        fprintf(stderr,
                "rampart serve: cannot accept connections: %s (%zu open here; raise the "
                "limit of open files, ulimit -n)\n",
                evutil_socket_error_to_string(err), gw_server_conns(s));
    }
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};
    evconnlistener_disable(l);
    event_add(s->resume, &pause);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_server *s = arg;
    evconnlistener_enable(s->listener);
}

/* Once a second: connections idle past the timeout are closed; a kept request whose client
 * stopped reading its answer is reported gone. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_server *s = arg;
    time_t now = now_s(s);
    for (struct gw_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->lingering && now - c->last >= LINGER_S) {
            conn_free(c);
            continue;
        }
        if (c->gone || c->lingering || now - c->last < (time_t)s->opt.timeout_s)
            continue;
        if (!c->busy) {
            conn_fail(c);
            conn_settle(c);
        } else if (evbuffer_get_length(c->out) > 0) {
            conn_fail(c);
            if (c->req.on_event && !c->notified) {
                c->notified = true;
                c->in_cb++;
                c->req.on_event(&c->req, GW_REQ_GONE, c->req.ev_arg);
                c->in_cb--;
            }
            conn_settle(c);
        }
    }
}

int gw_server_new(struct event_base *base, struct evconnlistener *l,
                  const struct gw_server_options *opt, struct gw_server **out)
{
    struct gw_server *s = calloc(1, sizeof(*s));
    if (!s) {
        if (l)
            evconnlistener_free(l);
        return RP_ENOMEM;
    }
    s->base = base;
    s->opt = *opt;
    s->listener = l;
    if (l) {
        evconnlistener_set_cb(l, accept_cb, s);
        evconnlistener_set_error_cb(l, accept_error_cb);
    }
    s->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, s);
    s->resume = evtimer_new(base, resume_cb, s);
    struct timeval second = {1, 0};
    if (!s->sweep || !s->resume || event_add(s->sweep, &second) != 0) {
        gw_server_free(s);
        return RP_ENOMEM;
    }
    *out = s;
    return RP_OK;
}

void gw_server_free(struct gw_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_free(s->conns);
    if (s->listener)
        evconnlistener_free(s->listener);
    if (s->sweep)
        event_free(s->sweep);
    if (s->resume)
        event_free(s->resume);
    free(s);
}

/* ---- Requests ---- */

enum gw_method gw_req_method(const struct gw_req *req)
{
    return req->method;
}

const char *gw_req_uri(const struct gw_req *req)
{
    return req->head.ptr && req->path ? req->head.ptr : "/";
}

const char *gw_req_path(const struct gw_req *req)
{
    return req->path ? req->path : "/";
}

const char *gw_req_query(const struct gw_req *req)
{
    return req->query;
}

const char *gw_req_header(const struct gw_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_hdr; i++)
        if (strcasecmp(req->head.ptr + req->name_at[i], name) == 0)
            return req->head.ptr + req->value_at[i];
    return NULL;
}

struct rp_str gw_req_body(const struct gw_req *req)
{
    return rp_buf_str(&req->body);
}

const struct sockaddr *gw_req_peer(const struct gw_req *req)
{
    return (const struct sockaddr *)&req->c->peer;
}

int gw_req_refused(const struct gw_req *req)
{
    return req->refused;
}

int gw_req_set_header(struct gw_req *req, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    if (req->started || strpbrk(value, "\r\n") || req->rhdr_len + n + v + 4 > RHDR_MAX)
        return RP_ENOMEM;
    char *p = req->rhdr + req->rhdr_len;
    memcpy(p, name, n);
    memcpy(p + n, ": ", 2);
    memcpy(p + n + 2, value, v);
    memcpy(p + n + 2 + v, "\r\n", 2);
    req->rhdr_len += n + v + 4;
    return RP_OK;
}

static void put_uint(struct evbuffer *b, size_t v, unsigned base)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    evbuffer_add(b, tmp + i, sizeof(tmp) - i);
}

static const char *date_now(struct gw_server *s)
{
    time_t now = now_s(s);
    if (now != s->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = now;
    }
    return s->date;
}

/* The status line and headers; len is the body's length, or SIZE_MAX for a body in pieces. */
static void put_head(struct gw_req *r, int status, const char *content_type, size_t len)
{
    struct gw_conn *c = r->c;
    struct evbuffer *b = c->out;
    r->started = true;
    if (!r->keep_alive || c->closing)
        c->closing = true;
    put(b, r->http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    put_uint(b, (size_t)status, 10);
    evbuffer_add(b, " ", 1);
    put(b, http_status_str((enum http_status)status));
    put(b, "\r\nDate: ");
    put(b, date_now(c->s));
    if (content_type) {
        put(b, "\r\nContent-Type: ");
        put(b, content_type);
    }
    if (len != SIZE_MAX) {
        put(b, "\r\nContent-Length: ");
        put_uint(b, len, 10);
    } else if (r->chunked) {
        put(b, "\r\nTransfer-Encoding: chunked");
    }
    put(b, "\r\n");
    evbuffer_add(b, r->rhdr, r->rhdr_len);
    if (c->closing)
        put(b, "Connection: close\r\n");
    else if (r->http10)
        put(b, "Connection: keep-alive\r\n");
    put(b, "\r\n");
}

/* The end of a request: the connection goes on with the next one, or closes. */
static void req_end(struct gw_req *r, bool close)
{
    struct gw_conn *c = r->c;
    if (!c->busy)
        return;
    c->busy = false;
    r->on_event = NULL;
    r->whole = false;
    if (close)
        c->closing = true;
    if (c->in_cb)
        return; /* conn_cb goes on from here */
    conn_flush(c);
    if (conn_settle(c))
        return;
    /* A pipelined request waiting, or a close to make: the connection's callback does it. */
    if (!c->gone && (c->in_len > 0 || c->closing || c->readable))
        event_active(c->ev, EV_WRITE, 0);
}

void gw_reply(struct gw_req *req, int status, const char *content_type, const void *body,
              size_t len)
{
    if (!req->c->gone) {
        put_head(req, status, content_type, len);
        evbuffer_add(req->c->out, body, len);
    }
    req_end(req, false);
}

void gw_reply_buffer(struct gw_req *req, int status, const char *content_type,
                     struct evbuffer *body)
{
    size_t len = evbuffer_get_length(body);
    if (!req->c->gone) {
        put_head(req, status, content_type, len);
        evbuffer_add_buffer(req->c->out, body);
    }
    evbuffer_drain(body, evbuffer_get_length(body));
    req_end(req, false);
}

void gw_reply_start(struct gw_req *req, int status, const char *content_type)
{
    if (req->c->gone)
        return;
    req->chunked = !req->http10;
    if (req->http10)
        req->keep_alive = false; /* the body ends where the connection does */
    put_head(req, status, content_type, SIZE_MAX);
    conn_flush(req->c);
}

void gw_reply_chunk(struct gw_req *req, struct evbuffer *data)
{
    struct gw_conn *c = req->c;
    size_t n = evbuffer_get_length(data);
    if (c->gone || n == 0) {
        evbuffer_drain(data, n);
        return;
    }
    if (req->chunked) {
        put_uint(c->out, n, 16);
        put(c->out, "\r\n");
    }
    evbuffer_add_buffer(c->out, data);
    if (req->chunked)
        put(c->out, "\r\n");
    conn_flush(c);
    if (evbuffer_get_length(c->out) >= GW_LOW_WATER)
        req->want_drain = true;
}

void gw_reply_end(struct gw_req *req)
{
    if (!req->c->gone && req->chunked)
        put(req->c->out, "0\r\n\r\n");
    req_end(req, false);
}

void gw_reply_abort(struct gw_req *req)
{
    req_end(req, true);
}

size_t gw_req_pending(const struct gw_req *req)
{
    return evbuffer_get_length(req->c->out);
}

void gw_req_watch(struct gw_req *req, gw_req_event_fn cb, void *arg)
{
    req->on_event = cb;
    req->ev_arg = arg;
}

size_t gw_server_conns(const struct gw_server *s)
{
    size_t n = 0;
    for (const struct gw_conn *c = s->conns; c; c = c->next)
        n++;
    return n;
}
