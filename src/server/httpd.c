/* The server side of the gateway's HTTP/1.1: client connections read and written directly on
 * one edge-triggered event each, requests framed by http-parser, replies whole or chunked,
 * keep-alive and pipelining, limits on heads and bodies, a sweep that closes connections which
 * stop making progress or take too long over a head, and the limits on connections the loops
 * share (per client address, and the descriptors of the process). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

#define IN_SIZE (16u * 1024)
#define HEADERS_MAX 100
#define RHDR_MAX 2048
#define WHY_MAX 128
#define CKEY_LEN                                                                                   \
    9 /* a client address as the per-client cap counts it: family, then 4 or 8 bytes               \
       */

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
    int refused;       /* 400, 408, 413, 431 or 505 when the request could not be read */
    char why[WHY_MAX]; /* what was wrong with it, or "" */
    bool keep_alive, http10, whole;
    bool head_method; /* HEAD: the reply goes out without its body */
    bool head_done;   /* the path, query and headers are set; trailers do not change them */
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
    time_t last; /* the last progress, for the sweep */
    /* When the request being read began (its first byte; the accept for the first one) or, between
     * requests, when the last one ended: the head deadline counts from it while in_head, and the
     * oldest connections go first when descriptors run short. */
    time_t since;
    bool in_head;   /* a request head is due: the head deadline runs */
    bool began;     /* a byte of a request has come on this connection */
    bool no_linger; /* refused for being slow (408): closed once the answer is out */
    bool counted;   /* counted against its client address (ckey) in s->opt.conns */
    unsigned char ckey[CKEY_LEN];
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

/* ---- Limits on connections, shared by the loops ---- */

#define CT_SHARDS 64
#define CT_BUCKETS 256

struct ct_entry {
    struct ct_entry *next;
    unsigned char key[CKEY_LEN];
    unsigned n;
};

struct gw_conns {
    unsigned per_client;
    struct rp_cidr *exempt;
    size_t n_exempt;
    uint64_t seed; /* of the hash: addresses chosen to collide cannot be known in advance */
    atomic_size_t open, limit;
    atomic_uint_fast64_t refused, evicted, header_timeouts;
    atomic_int_fast64_t cap_logged, room_logged; /* stderr hears of each once in 10 s */
    struct {
        pthread_mutex_t lock;
        struct ct_entry *b[CT_BUCKETS];
    } shard[CT_SHARDS];
};

/* True at most once every 10 s for *at, across threads. */
static bool log_due(atomic_int_fast64_t *at, time_t now)
{
    int_fast64_t was = atomic_load(at);
    return now - was >= 10 && atomic_compare_exchange_strong(at, &was, (int_fast64_t)now);
}

/* RLIMIT_NOFILE less the reserve: the client connections the process may hold. */
static void conns_refresh(struct gw_conns *t)
{
    struct rlimit rl;
    size_t limit = SIZE_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t cur = (size_t)rl.rlim_cur, reserve = cur / 8 < 32 ? 32 : cur / 8;
        limit = cur > reserve ? cur - reserve : 1;
    }
    atomic_store(&t->limit, limit);
}

int gw_conns_new(const struct gw_conns_options *opt, struct gw_conns **out)
{
    *out = NULL;
    struct gw_conns *t = calloc(1, sizeof(*t));
    if (!t)
        return RP_ENOMEM;
    t->per_client = opt->per_client;
    if (opt->n_exempt) {
        t->exempt = calloc(opt->n_exempt, sizeof(*t->exempt));
        if (!t->exempt) {
            free(t);
            return RP_ENOMEM;
        }
        memcpy(t->exempt, opt->exempt, opt->n_exempt * sizeof(*t->exempt));
        t->n_exempt = opt->n_exempt;
    }
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
    for (size_t i = 0; i < CT_SHARDS; i++)
        pthread_mutex_init(&t->shard[i].lock, NULL);
    atomic_store(&t->cap_logged, INT64_MIN / 2);
    atomic_store(&t->room_logged, INT64_MIN / 2);
    conns_refresh(t);
    *out = t;
    return RP_OK;
}

void gw_conns_free(struct gw_conns *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < CT_SHARDS; i++) {
        for (size_t b = 0; b < CT_BUCKETS; b++)
            for (struct ct_entry *e = t->shard[i].b[b], *next; e; e = next) {
                next = e->next;
                free(e);
            }
        pthread_mutex_destroy(&t->shard[i].lock);
    }
    free(t->exempt);
    free(t);
}

void gw_conns_stats(struct gw_conns *t, struct gw_conns_stats *out)
{
    out->open = atomic_load(&t->open);
    size_t limit = atomic_load(&t->limit);
    out->limit = limit == SIZE_MAX ? 0 : limit;
    out->refused = atomic_load(&t->refused);
    out->evicted = atomic_load(&t->evicted);
    out->header_timeouts = atomic_load(&t->header_timeouts);
}

/* The client address as the cap counts it: an IPv4 address (also mapped into IPv6), or the /64
 * of an IPv6 one, which one customer usually has whole. False for other families. */
static bool ct_key(const struct sockaddr *sa, unsigned char key[CKEY_LEN])
{
    memset(key, 0, CKEY_LEN);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        key[0] = 4;
        memcpy(key + 1, a->s6_addr + 12, 4);
    } else {
        key[0] = 6;
        memcpy(key + 1, a->s6_addr, 8);
    }
    return true;
}

static void ct_key_text(const unsigned char key[CKEY_LEN], char *buf, size_t len)
{
    if (key[0] == 4) {
        inet_ntop(AF_INET, key + 1, buf, (socklen_t)len);
        return;
    }
    unsigned char a[16] = {0};
    memcpy(a, key + 1, 8);
    char host[INET6_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET6, a, host, sizeof(host));
    snprintf(buf, len, "%s/64", host);
}

static struct ct_entry **ct_slot(struct gw_conns *t, const unsigned char key[CKEY_LEN],
                                 pthread_mutex_t **lock)
{
    uint64_t h = rp_hash64(key, CKEY_LEN, t->seed);
    *lock = &t->shard[h % CT_SHARDS].lock;
    return &t->shard[h % CT_SHARDS].b[(h / CT_SHARDS) % CT_BUCKETS];
}

/* Counts a new connection from sa against its address. False when the address already has
 * per_client open: the connection is to be refused. *counted says whether it was counted (not
 * for exempt peers, other families, or when memory ran out: a connection is not refused for
 * that). */
static bool ct_take(struct gw_conns *t, const struct sockaddr *sa, unsigned char key[CKEY_LEN],
                    bool *counted)
{
    *counted = false;
    if (!t->per_client || !sa || !ct_key(sa, key))
        return true;
    for (size_t i = 0; i < t->n_exempt; i++)
        if (rp_cidr_contains(&t->exempt[i], sa))
            return true;
    pthread_mutex_t *lock;
    struct ct_entry **slot = ct_slot(t, key, &lock), *e;
    bool ok = true;
    pthread_mutex_lock(lock);
    for (e = *slot; e && memcmp(e->key, key, CKEY_LEN) != 0; e = e->next)
        ;
    if (e && e->n >= t->per_client) {
        ok = false;
    } else if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
        memcpy(e->key, key, CKEY_LEN);
        e->next = *slot;
        *slot = e;
    }
    if (ok && e) {
        e->n++;
        *counted = true;
    }
    pthread_mutex_unlock(lock);
    return ok;
}

static void ct_release(struct gw_conns *t, const unsigned char key[CKEY_LEN])
{
    pthread_mutex_t *lock;
    struct ct_entry **slot = ct_slot(t, key, &lock);
    pthread_mutex_lock(lock);
    for (struct ct_entry **pe = slot; *pe; pe = &(*pe)->next) {
        struct ct_entry *e = *pe;
        if (memcmp(e->key, key, CKEY_LEN) != 0)
            continue;
        if (--e->n == 0) {
            *pe = e->next;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(lock);
}

/* A connection over the per-client cap: told so in OpenAI's shape and closed, without costing
 * more than the accept. What the client already sent is read first, so that closing does not
 * reset the connection before it reads the answer. */
static void ct_refuse(struct gw_conns *t, evutil_socket_t fd, const unsigned char key[CKEY_LEN],
                      time_t now)
{
    char body[320], msg[512], addr[INET6_ADDRSTRLEN + 4] = "?";
    atomic_fetch_add(&t->refused, 1);
    ct_key_text(key, addr, sizeof(addr));
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"message\":\"too many connections from %s: at most %u at once "
                     "(limits.per_client.connections)\",\"type\":\"rate_limit_error\","
                     "\"code\":\"too_many_connections\"}}\n",
                     addr, t->per_client);
    int m = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                     "Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                     n, body);
    char drop[4096];
    for (int i = 0; i < 16 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; i++)
        ;
    if (m > 0 && (size_t)m < sizeof(msg) &&
        send(fd, msg, (size_t)m, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
        shutdown(fd, SHUT_WR);
    evutil_closesocket(fd);
    if (log_due(&t->cap_logged, now))
        fprintf(stderr,
                "rampart serve: %s has %u connections open, the most "
                "limits.per_client.connections allows: refusing more (429)\n",
                addr, t->per_client);
}

/* ---- Parsing (http-parser callbacks) ---- */

static int refuse(struct gw_req *r, int status)
{
    r->refused = status;
    return -1;
}

static int refuse_why(struct gw_req *r, int status, const char *why)
{
    snprintf(r->why, sizeof(r->why), "%s", why);
    return refuse(r, status);
}

/* tchar of RFC 9110, section 5.6.2, what a header name is made of: ALPHA, DIGIT and
 * !#$%&'*+-.^_`|~, one bit a byte value. */
static const uint32_t tchars[8] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff,
                                   0x00000000, 0x00000000, 0x00000000, 0x00000000};

static bool is_tchar(unsigned char ch)
{
    return (tchars[ch >> 5] >> (ch & 31)) & 1;
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
    r->why[0] = '\0';
    r->whole = false;
    r->rhdr_len = 0;
    r->started = r->chunked = r->want_drain = false;
    r->on_event = NULL;
    r->path = r->query = NULL;
    r->head_done = false;
    r->method = GW_OTHER;
    r->http10 = false;
    r->keep_alive = false;
    r->head_method = false;
}

static int on_begin(http_parser *p)
{
    struct gw_conn *c = p->data;
    req_reset(&c->req);
    /* The first request of a connection has been due since the accept. */
    if (!c->in_head) {
        c->in_head = true;
        c->since = now_s(c->s);
    }
    c->began = true;
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
    /* http-parser (built without HTTP_PARSER_STRICT) takes spaces into a name, and honours
     * "Content-Length : 18" as the length: a framing another server may read differently. */
    for (size_t i = 0; i < len; i++) {
        if (is_tchar((unsigned char)at[i]))
            continue;
        if (at[i] != ' ' && at[i] != '\t')
            return refuse_why(r, 400, "a header name is not a token (RFC 9110, section 5.1)");
        if (i == 0 && r->head.len == r->name_at[r->n_hdr])
            return refuse_why(r, 400, "a header line starts with a space (RFC 9112, section 2.2)");
        return refuse_why(r, 400,
                          "a space in a header name or before its colon (RFC 9112, section 5.1)");
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
                : p->method == HTTP_HEAD   ? GW_HEAD
                                           : GW_OTHER;
    r->head_method = p->method == HTTP_HEAD;
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    r->head_done = true;
    c->in_head = false;
    /* HTTP/1.2 and the like are served as 1.1 (RFC 9110, section 2.5); another major version
     * (HTTP/2.0 and 9.9 sent as text, 0.9's bare "GET /") is not HTTP/1 at all. */
    if (p->http_major != 1) {
        char why[WHY_MAX];
        if (p->http_major == 0 && p->http_minor == 9)
            snprintf(why, sizeof(why), "HTTP/0.9 (or a request line without a version)");
        else
            snprintf(why, sizeof(why), "HTTP/%u.%u", p->http_major, p->http_minor);
        return refuse_why(r, 505, why);
    }
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
    if (s->opt.conns) {
        atomic_fetch_sub(&s->opt.conns->open, 1);
        if (c->counted)
            ct_release(s->opt.conns, c->ckey);
    }
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

/* Makes the request one that could not be read, with status. Nothing of it is handed on (the
 * parser may have failed before it began a new one, leaving the last request's state): the
 * route sees path "/", no headers, no body, and the reason. The reply is the last on this
 * connection: what follows cannot be framed. */
static void conn_refused(struct gw_conn *c, int status)
{
    char why[WHY_MAX];
    memcpy(why, c->req.why, sizeof(why));
    req_reset(&c->req);
    c->req.refused = status;
    memcpy(c->req.why, why, sizeof(why));
    if (rp_buf_add(&c->req.head, "/\0/", 4) == RP_OK)
        c->req.path = c->req.head.ptr + 2;
    else
        c->req.path = "/";
    c->in_len = 0;
    c->readable = false;
    c->in_head = false;
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
            refuse_why(&c->req, 400, http_errno_description(e));
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
    if (c->req.refused)
        conn_refused(c, c->req.refused);
    if (c->req.method == GW_OTHER)
        c->req.keep_alive = false; /* PUT and the like: their bodies are not framed for us */
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
    if (c->req.refused && !c->no_linger && shutdown(c->fd, SHUT_WR) == 0) {
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

static size_t conns_make_room(struct gw_server *s, const char *why);

int gw_server_adopt(struct gw_server *s, evutil_socket_t fd, const struct sockaddr *sa,
                    socklen_t len)
{
    struct gw_conns *t = s->opt.conns;
    unsigned char key[CKEY_LEN];
    bool counted = false;
    if (t && s->opt.cap_clients && !ct_take(t, sa, key, &counted)) {
        ct_refuse(t, fd, key, now_s(s));
        return RP_ETOOBIG;
    }
    if (t && atomic_load(&t->open) >= atomic_load(&t->limit))
        conns_make_room(s, "the most the limit of open files leaves room for");
    struct gw_conn *c = malloc(sizeof(*c));
    if (!c) {
        if (counted)
            ct_release(t, key);
        evutil_closesocket(fd);
        return RP_ENOMEM;
    }
    memset(c, 0, offsetof(struct gw_conn, in));
    c->s = s;
    c->fd = fd;
    if (t) {
        atomic_fetch_add(&t->open, 1);
        c->counted = counted;
        memcpy(c->ckey, key, CKEY_LEN);
    }
    if (sa)
        memcpy(&c->peer, sa, (size_t)len < sizeof(c->peer) ? (size_t)len : sizeof(c->peer));
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->req.c = c;
    rp_buf_init(&c->req.head, 2 * s->opt.max_head + 2);
    rp_buf_init(&c->req.body, s->opt.max_body);
    c->out = evbuffer_new();
    c->ev = event_new(s->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, conn_cb, c);
    c->last = c->since = now_s(s);
    c->in_head = true;
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
    /* Out of descriptors with idle or slow connections open: they make room, and the listener,
     * still readable, accepts again on the loop's next turn. */
    if ((err == EMFILE || err == ENFILE) && s->opt.conns &&
        conns_make_room(s, "and the process is out of file descriptors") > 0)
        return;
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

/* A head that was not whole by its deadline: 408 when part of a request came (the route
 * answers it; the connection closes once the answer is out, without lingering for more), a
 * silent close when nothing did. Either way its descriptor is free again at once, however
 * slowly the client trickles its bytes. */
static void conn_head_late(struct gw_conn *c)
{
    if (c->s->opt.conns)
        atomic_fetch_add(&c->s->opt.conns->header_timeouts, 1);
    if (!c->began && c->in_len == 0) {
        conn_fail(c);
        conn_settle(c);
        return;
    }
    refuse_why(&c->req, 408, "");
    conn_refused(c, 408);
    c->no_linger = true;
    c->busy = true;
    c->notified = false;
    c->in_cb++;
    c->s->opt.route(&c->req, c->s->opt.arg);
    conn_flush(c);
    c->in_cb--;
    conn_settle(c);
}

/* Closes up to EVICT_BATCH of this loop's connections that hold no request in a handler,
 * oldest first (those lingering after a refusal before all): the room a new connection needs
 * when descriptors run short. Returns how many were closed. */
#define EVICT_BATCH 16
static size_t conns_evict(struct gw_server *s)
{
    struct gw_conn *pick[EVICT_BATCH];
    time_t at[EVICT_BATCH];
    size_t n = 0;
    /* The list runs from the newest connection to the oldest: among equal times, the one met
     * later (older) goes first. */
    for (struct gw_conn *c = s->conns; c; c = c->next) {
        if (c->busy || c->in_cb || c->gone)
            continue;
        time_t t = c->lingering ? 0 : c->since;
        if (n == EVICT_BATCH && t > at[n - 1])
            continue;
        size_t i = n < EVICT_BATCH ? n++ : n - 1;
        for (; i > 0 && at[i - 1] >= t; i--) {
            pick[i] = pick[i - 1];
            at[i] = at[i - 1];
        }
        pick[i] = c;
        at[i] = t;
    }
    for (size_t i = 0; i < n; i++)
        conn_free(pick[i]);
    if (n && s->opt.conns)
        atomic_fetch_add(&s->opt.conns->evicted, n);
    return n;
}

/* Makes room for a new connection when the process holds all it may; says so once in 10 s. */
static size_t conns_make_room(struct gw_server *s, const char *why)
{
    struct gw_conns *t = s->opt.conns;
    size_t n = conns_evict(s);
    if (n && t && log_due(&t->room_logged, now_s(s)))
        fprintf(stderr,
                "rampart serve: %zu client connections open, %s: closed the %zu oldest idle or "
                "slow ones of a worker to serve new ones (raise the limit of open files, "
                "ulimit -n)\n",
                (size_t)atomic_load(&t->open), why, n);
    return n;
}

/* Once a second: connections idle past the timeout are closed, and those whose head is past
 * its deadline; a kept request whose client stopped reading its answer is reported gone. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_server *s = arg;
    time_t now = now_s(s);
    if (s->opt.conns)
        conns_refresh(s->opt.conns);
    for (struct gw_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->lingering && now - c->last >= LINGER_S) {
            conn_free(c);
            continue;
        }
        if (c->in_head && !c->busy && !c->gone && !c->lingering && s->opt.header_timeout_s &&
            now - c->since >= (time_t)s->opt.header_timeout_s) {
            conn_head_late(c);
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

const char *gw_req_refused_reason(const struct gw_req *req)
{
    return req->why;
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
    c->since = now_s(c->s); /* idle from now, for the oldest-first closing */
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
        if (!req->head_method)
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
        if (!req->head_method)
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
    if (c->gone || n == 0 || req->head_method) {
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
    if (!req->c->gone && req->chunked && !req->head_method)
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
