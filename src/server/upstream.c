/* The client side of the gateway's HTTP/1.1: requests to the model upstream on kept-alive
 * connections (plain or TLS), answers framed by http-parser and handed on piece by piece, one
 * edge-triggered event a connection, a retry on a new connection for a request that met a
 * kept-alive connection the upstream had closed, and a sweep for upstreams that go silent. */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "httpd.h"
#include "connect.h"
#include "rampart/net.h"

#define READ_SIZE (16u * 1024)
#define CTYPE_MAX 256

enum up_state { UP_CONNECTING, UP_HANDSHAKE, UP_READY };

struct gw_up {
    struct gw_upstream *u;
    struct gw_up *prev, *next; /* in u->idle or u->active */
    evutil_socket_t fd;
    struct event *ev;
    SSL *ssl;
    enum up_state state;
    http_parser parser;
    struct rp_buf req; /* the request's bytes, kept for a retry until the answer starts */
    size_t sent;
    const struct gw_up_handler *h;
    void *arg;
    time_t last;
    int in_cb;
    bool idle, reused, retried, answered, paused, readable, cancelled, complete, keep, closed;
    bool rdhup; /* the upstream closed its side: read on to the end */
    /* The header being parsed: only Content-Type is kept. */
    int hstate; /* 0 none, 1 name, 2 value */
    char name[16];
    size_t name_len;
    bool is_ctype;
    char ctype[CTYPE_MAX];
    size_t ctype_len;
};

struct gw_upstream {
    struct event_base *base;
    struct gw_upstream_options opt;
    char host[256];
    char hostport[300];
    struct gw_up *idle, *active;
    size_t n_idle;
    struct event *sweep;
};

static time_t up_now(struct gw_upstream *u)
{
    struct timeval tv;
    event_base_gettimeofday_cached(u->base, &tv);
    return tv.tv_sec;
}

static void list_remove(struct gw_up **head, struct gw_up *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void list_push(struct gw_up **head, struct gw_up *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void up_disconnect(struct gw_up *c);

/* Closes and frees a connection (out of whichever list holds it). */
static void up_free(struct gw_up *c)
{
    struct gw_upstream *u = c->u;
    list_remove(c->idle ? &u->idle : &u->active, c);
    if (c->idle)
        u->n_idle--;
    up_disconnect(c);
    rp_buf_release(&c->req);
    free(c);
}

/* ---- Parsing the answer ---- */

static int on_field(http_parser *p, const char *at, size_t len)
{
    struct gw_up *c = p->data;
    if (c->hstate != 1) {
        c->hstate = 1;
        c->name_len = 0;
    }
    size_t room = sizeof(c->name) - c->name_len;
    memcpy(c->name + c->name_len, at, len < room ? len : room);
    c->name_len += len < room ? len : room;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    struct gw_up *c = p->data;
    if (c->hstate != 2) {
        c->hstate = 2;
        c->is_ctype = c->name_len == 12 && strncasecmp(c->name, "Content-Type", 12) == 0;
        if (c->is_ctype)
            c->ctype_len = 0;
    }
    if (c->is_ctype) {
        size_t room = CTYPE_MAX - 1 - c->ctype_len;
        memcpy(c->ctype + c->ctype_len, at, len < room ? len : room);
        c->ctype_len += len < room ? len : room;
        c->ctype[c->ctype_len] = '\0';
    }
    return 0;
}

static int on_headers(http_parser *p)
{
    struct gw_up *c = p->data;
    c->hstate = 0;
    if (p->status_code == 101 || p->status_code < 100 || p->status_code > 599)
        return -1; /* nobody asked to switch protocols; a status HTTP does not have */
    if (p->status_code < 200)
        return 1; /* an interim answer, without a body: the real one follows */
    c->h->head(c->arg, p->status_code, c->ctype_len ? c->ctype : NULL);
    return c->cancelled ? -1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct gw_up *c = p->data;
    c->h->body(c->arg, at, len);
    return c->cancelled ? -1 : 0;
}

static int on_complete(http_parser *p)
{
    struct gw_up *c = p->data;
    if (p->status_code < 200) {
        c->ctype_len = 0;
        return 0;
    }
    c->complete = true;
    c->keep = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings answer_settings = {
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- Connections ---- */

static void up_cb(evutil_socket_t fd, short what, void *arg);

static int set_host_check(struct gw_upstream *u, SSL *ssl)
{
    struct in6_addr ip;
    if (inet_pton(AF_INET, u->host, &ip) == 1 || inet_pton(AF_INET6, u->host, &ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, u->host) != 1 || SSL_set1_host(ssl, u->host) != 1)
        return -1;
    return 0;
}

/* Connects c (non-blocking) to the first address that takes it: a new socket, TLS session and
 * event. Returns 0, or -1 with nothing of them left. */
static int up_connect(struct gw_up *c)
{
    struct gw_upstream *u = c->u;
    evutil_socket_t fd = gw_tcp_connect(u->host, u->opt.port, true);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = UP_CONNECTING;
    if (u->opt.ssl_ctx) {
        c->ssl = SSL_new(u->opt.ssl_ctx);
        if (!c->ssl || set_host_check(u, c->ssl) != 0 || SSL_set_fd(c->ssl, fd) != 1)
            goto fail;
        SSL_set_connect_state(c->ssl);
    }
    c->ev = event_new(u->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, up_cb, c);
    if (!c->ev || event_add(c->ev, NULL) != 0)
        goto fail;
    return 0;
fail:
    up_disconnect(c);
    return -1;
}

static void up_disconnect(struct gw_up *c)
{
    if (c->ev)
        event_free(c->ev);
    c->ev = NULL;
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    c->ssl = NULL;
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    c->fd = -1;
}

static struct gw_up *up_open(struct gw_upstream *u)
{
    struct gw_up *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->u = u;
    c->fd = -1;
    rp_buf_init(&c->req, SIZE_MAX / 2);
    if (up_connect(c) != 0) {
        free(c);
        return NULL;
    }
    list_push(&u->active, c);
    return c;
}

/* n > 0 bytes moved; 0 end of stream; -1 would block; -2 failed. */
static ssize_t up_io(struct gw_up *c, bool write, void *buf, size_t len)
{
    if (c->ssl) {
        ERR_clear_error();
        int n = write ? SSL_write(c->ssl, buf, (int)len) : SSL_read(c->ssl, buf, (int)len);
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return -1;
        return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
    }
    for (;;) {
        ssize_t n = write ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
    }
}

static void up_progress(struct gw_up *c);

/* The request failed on c. A request that met a kept-alive connection closed by the upstream
 * (nothing of an answer came back) is sent again, once, on a new connection; any other failure
 * ends it. */
static void up_fail(struct gw_up *c, enum gw_up_result result)
{
    if (c->cancelled || c->closed)
        return;
    c->closed = true;
    if (result == GW_UP_FAILED && c->reused && !c->retried && !c->answered) {
        /* The same request on a new socket (the handle the caller holds stays valid). */
        up_disconnect(c);
        if (up_connect(c) == 0) {
            c->closed = false;
            c->retried = true;
            c->reused = false;
            c->sent = 0;
            c->readable = c->rdhup = false;
            c->hstate = 0;
            c->ctype_len = 0;
            http_parser_init(&c->parser, HTTP_RESPONSE);
            c->parser.data = c;
            c->last = up_now(c->u);
            return;
        }
    }
    c->cancelled = true;
    c->in_cb++;
    c->h->done(c->arg, result);
    c->in_cb--;
}

/* Frees c when it is over and nothing is inside its calls. */
static void up_settle(struct gw_up *c)
{
    if (c->in_cb)
        return;
    if (c->cancelled)
        up_free(c);
}

/* The answer ended: done is called, and the connection kept for the next request or closed. */
static void up_complete(struct gw_up *c)
{
    struct gw_upstream *u = c->u;
    c->in_cb++;
    c->h->done(c->arg, GW_UP_OK);
    c->in_cb--;
    if (c->cancelled)
        return; /* done cancelled it: it is freed by settle */
    if (!c->keep || c->rdhup || u->n_idle >= u->opt.pool_max || c->ssl) {
        /* A TLS connection is not kept: its close_notify and session state would need the
         * care a local TLS-terminating proxy takes better (docs/configuration.md). */
        c->cancelled = true;
        return;
    }
    list_remove(&u->active, c);
    c->idle = true;
    list_push(&u->idle, c);
    u->n_idle++;
    c->h = NULL;
    c->arg = NULL;
    c->complete = c->answered = c->paused = c->retried = false;
    rp_buf_reset(&c->req);
    c->sent = 0;
}

static void up_read(struct gw_up *c)
{
    char buf[READ_SIZE];
    while (!c->cancelled && !c->paused && c->readable) {
        ssize_t n = up_io(c, false, buf, sizeof(buf));
        if (n == -1) {
            c->readable = false;
            return;
        }
        if (n == -2) {
            up_fail(c, GW_UP_FAILED);
            return;
        }
        if (n == 0) {
            /* The end of the stream: the end of an answer that runs to it, or a failure. */
            c->readable = false;
            if (c->answered) {
                c->in_cb++;
                http_parser_execute(&c->parser, &answer_settings, NULL, 0);
                c->in_cb--;
            }
            if (c->complete) {
                c->keep = false;
                up_complete(c);
            } else {
                up_fail(c, GW_UP_FAILED);
            }
            return;
        }
        c->answered = true;
        c->last = up_now(c->u);
        c->in_cb++;
        size_t used = http_parser_execute(&c->parser, &answer_settings, buf, (size_t)n);
        c->in_cb--;
        if (c->cancelled)
            return;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->complete) {
            /* Bytes after the answer: the connection cannot be trusted for another. */
            if (used < (size_t)n || c->sent < c->req.len)
                c->keep = false;
            up_complete(c);
            return;
        }
        if (e != HPE_OK) {
            /* The answer cannot be read (http-parser refuses bad lengths, chunk sizes and
             * status lines, and an overflow of either): not a network failure, not retried. */
            up_fail(c, GW_UP_INVALID);
            return;
        }
        /* Read on to EAGAIN: a reset that came with the last data is reported by libevent as
         * readable and writable, not closed, and only a read after a short one finds it. */
    }
}

/* Writes what is left of the request. Returns 0 (all out, or the socket is full), -1 failed. */
static int up_write(struct gw_up *c)
{
    while (c->sent < c->req.len) {
        ssize_t n = up_io(c, true, c->req.ptr + c->sent, c->req.len - c->sent);
        if (n == -1)
            return 0;
        if (n <= 0)
            return -1;
        c->sent += (size_t)n;
    }
    return 0;
}

static void up_progress(struct gw_up *c)
{
    if (c->state == UP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
            up_fail(c, GW_UP_FAILED);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) != 0)
            return; /* not connected yet */
        c->state = c->ssl ? UP_HANDSHAKE : UP_READY;
    }
    if (c->state == UP_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                up_fail(c, GW_UP_FAILED);
            return;
        }
        c->state = UP_READY;
    }
    if (up_write(c) != 0) {
        up_fail(c, GW_UP_FAILED);
        return;
    }
    up_read(c);
}

/* An idle connection stirred: the upstream closed it (or sent what nobody asked for). */
static void idle_event(struct gw_up *c)
{
    char b;
    ssize_t n = c->ssl ? -1 : recv(c->fd, &b, 1, MSG_PEEK);
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_peek(c->ssl, &b, 1);
        int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        n = r > 0 ? 1 : e == SSL_ERROR_WANT_READ ? -1 : 0;
        if (n < 0)
            errno = EAGAIN;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    up_free(c);
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct gw_up *c = arg;
    if (c->idle) {
        if (what & (EV_READ | EV_CLOSED))
            idle_event(c);
        return;
    }
    if (what & (EV_READ | EV_CLOSED))
        c->readable = true;
    if (what & EV_CLOSED)
        c->rdhup = true; /* the end may have come with the last data, in the same edge */
    c->in_cb++;
    up_progress(c);
    c->in_cb--;
    up_settle(c);
}

/* Once a second: a request whose upstream has said nothing for timeout_s fails with
 * GW_UP_TIMEOUT (not one paused for a slow client: that wait is the client's). */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_upstream *u = arg;
    time_t now = up_now(u);
    for (struct gw_up *c = u->active, *next; c; c = next) {
        next = c->next;
        if (c->paused || c->cancelled || now - c->last < (time_t)u->opt.timeout_s)
            continue;
        up_fail(c, GW_UP_TIMEOUT);
        up_settle(c);
    }
}

int gw_upstream_new(struct event_base *base, const struct gw_upstream_options *opt,
                    struct gw_upstream **out)
{
    struct gw_upstream *u = calloc(1, sizeof(*u));
    if (!u)
        return RP_ENOMEM;
    u->base = base;
    u->opt = *opt;
    snprintf(u->host, sizeof(u->host), "%s", opt->host);
    u->opt.host = u->host;
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(u->hostport, sizeof(u->hostport), "%s%s%s:%u", v6 ? "[" : "", u->host, v6 ? "]" : "",
             opt->port);
    u->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, u);
    struct timeval second = {1, 0};
    if (!u->sweep || event_add(u->sweep, &second) != 0) {
        gw_upstream_free(u);
        return RP_ENOMEM;
    }
    *out = u;
    return RP_OK;
}

void gw_upstream_free(struct gw_upstream *u)
{
    if (!u)
        return;
    while (u->idle)
        up_free(u->idle);
    while (u->active) {
        /* A request still in flight ends with GW_UP_SHUTDOWN, so that its owner answers and
         * frees what it holds. */
        struct gw_up *c = u->active;
        if (!c->cancelled && c->h) {
            c->cancelled = true;
            c->h->done(c->arg, GW_UP_SHUTDOWN);
        }
        up_free(c);
    }
    if (u->sweep)
        event_free(u->sweep);
    free(u);
}

int gw_up_send(struct gw_upstream *u, const char *method, const char *target, struct rp_str head,
               struct rp_str body, const struct gw_up_handler *h, void *arg, struct gw_up **out)
{
    struct gw_up *c = u->idle;
    if (c) {
        list_remove(&u->idle, c);
        u->n_idle--;
        c->idle = false;
        c->reused = true;
        list_push(&u->active, c);
    } else {
        c = up_open(u);
        if (!c)
            return RP_EIO;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->hstate = 0;
    c->ctype_len = 0;
    c->h = h;
    c->arg = arg;
    c->last = up_now(u);
    char len[24];
    snprintf(len, sizeof(len), "%zu", body.len);
    struct rp_buf *b = &c->req;
    int rc = rp_buf_adds(b, method);
    rc = rc ? rc : rp_buf_add(b, " ", 1);
    rc = rc ? rc : rp_buf_adds(b, target);
    rc = rc ? rc : rp_buf_adds(b, " HTTP/1.1\r\nHost: ");
    rc = rc ? rc : rp_buf_adds(b, u->hostport);
    rc = rc ? rc : rp_buf_add(b, "\r\n", 2);
    rc = rc ? rc : rp_buf_add(b, head.ptr, head.len);
    if (body.len || strcmp(method, "GET") != 0) {
        rc = rc ? rc : rp_buf_adds(b, "Content-Length: ");
        rc = rc ? rc : rp_buf_adds(b, len);
        rc = rc ? rc : rp_buf_add(b, "\r\n", 2);
    }
    rc = rc ? rc : rp_buf_add(b, "\r\n", 2);
    rc = rc ? rc : rp_buf_add(b, body.ptr, body.len);
    if (rc) {
        c->cancelled = true;
        up_free(c);
        return RP_ENOMEM;
    }
    *out = c;
    /* On a kept connection the request goes out now; a failure (and its retry or done) is
     * taken up by the loop, never inside this call. A new connection sends once connected. */
    if (c->state == UP_READY && up_write(c) != 0)
        event_active(c->ev, EV_WRITE, 0);
    return RP_OK;
}

void gw_up_pause(struct gw_up *r, bool paused)
{
    if (r->paused == paused)
        return;
    r->paused = paused;
    if (!paused) {
        /* What the kernel held while paused makes no new edge: read it now. */
        r->readable = true;
        r->last = up_now(r->u);
        if (r->in_cb == 0)
            event_active(r->ev, EV_READ, 0);
    }
}

void gw_up_cancel(struct gw_up *r)
{
    if (r->cancelled)
        return;
    r->cancelled = true;
    up_settle(r);
}
