/* The gateway's own HTTP/1.1 on libevent: the server side (src/server/httpd.c) and the client of
 * the model upstream (src/server/upstream.c). Messages are framed by http-parser; each socket is
 * registered once, edge-triggered, and read and written directly, so a proxied request costs
 * about four system calls on top of the loop's wait (docs/performance.md says why evhttp was
 * left). Each loop (worker thread) has its own server and upstream; nothing here is shared
 * between threads. */
#ifndef RAMPART_SERVER_HTTPD_H
#define RAMPART_SERVER_HTTPD_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rampart/base.h"
#include "rampart/net.h"

/* ---- The server side ---- */

/* GW_HEAD is answered like any request, without the body (its Content-Length stays). */
enum gw_method { GW_GET = 1, GW_POST = 2, GW_DELETE = 4, GW_OTHER = 8, GW_HEAD = 16 };

struct gw_server;
struct gw_conns; /* the client connections of the whole process: limits shared by every loop */
struct gw_req;   /* one request of a client connection, from its head to the end of its reply */

typedef void (*gw_route_fn)(struct gw_req *req, void *arg);

/* What happens to a request a handler keeps after route returned (gw_req_watch). */
enum gw_req_event {
    GW_REQ_DRAINED, /* the data queued for the client fell below GW_LOW_WATER */
    GW_REQ_GONE,    /* the client left: the handler must still end the request (gw_reply_abort) */
};
typedef void (*gw_req_event_fn)(struct gw_req *req, enum gw_req_event what, void *arg);

#define GW_LOW_WATER (128u * 1024)

struct gw_server_options {
    size_t max_body;    /* bodies above it are answered 413 */
    size_t max_head;    /* request line and headers; above it 431 */
    unsigned timeout_s; /* a connection that makes no progress for this long is closed */
    /* A request head must be whole this long after its first byte (the first request of a
     * connection: after the accept), however slowly it trickles in; else 408 and the
     * connection closes (silently when nothing came at all). 0: no deadline. */
    unsigned header_timeout_s;
    struct gw_conns *conns; /* the descriptor reserve (and per-client cap), or NULL: none */
    bool cap_clients;       /* connections count against conns' per-client cap */
    gw_route_fn route;      /* called once a request is whole (head and body) */
    void *arg;
};

/* ---- Limits on client connections, shared by every loop of the process ---- */

struct gw_conns_options {
    /* Connections open at once from one client address (an IPv4 address, an IPv6 /64);
     * the next one is answered 429 and closed. 0: no cap. */
    unsigned per_client;
    /* Peers that carry many clients and are not capped (trusted proxies); borrowed. */
    const struct rp_cidr *exempt;
    size_t n_exempt;
};

struct gw_conns_stats {
    uint64_t open;            /* client connections open now */
    uint64_t limit;           /* open connections past which the oldest idle ones are closed */
    uint64_t refused;         /* connections refused by the per-client cap */
    uint64_t evicted;         /* idle or slow connections closed to make room */
    uint64_t header_timeouts; /* connections closed by the head deadline */
};

/* Descriptors are a resource of the process: client connections may use all but a reserve of
 * RLIMIT_NOFILE (an eighth, at least 32: the store, upstream connections, listeners), read
 * again every second so that a changed limit counts. Past that, a new connection makes room by
 * closing the oldest connections of its loop that hold no request in a handler (idle between
 * requests, or still sending a head or body), rather than being refused. */
int gw_conns_new(const struct gw_conns_options *opt, struct gw_conns **out);
/* Call after every server using it is freed. NULL is a no-op. */
void gw_conns_free(struct gw_conns *t);
void gw_conns_stats(struct gw_conns *t, struct gw_conns_stats *out);

/* Serves the connections of listener l (of base; the server takes it over and frees it, also
 * when this fails). l may be NULL: connections then come only from gw_server_adopt. */
int gw_server_new(struct event_base *base, struct evconnlistener *l,
                  const struct gw_server_options *opt, struct gw_server **out);
/* Serves the connected, non-blocking socket fd (taken over, closed also on failure); sa is
 * its peer (may be NULL). */
int gw_server_adopt(struct gw_server *s, evutil_socket_t fd, const struct sockaddr *sa,
                    socklen_t len);
/* How many connections are open (for tests). */
size_t gw_server_conns(const struct gw_server *s);
/* Closes the listener and every connection; requests still held by handlers are not notified
 * (the loop is ending). NULL is a no-op. */
void gw_server_free(struct gw_server *s);

enum gw_method gw_req_method(const struct gw_req *req);
/* The request target as sent ("/v1/verify?token=..."), its path and its query (NULL if none):
 * NUL-terminated, valid until the request ends. */
const char *gw_req_uri(const struct gw_req *req);
const char *gw_req_path(const struct gw_req *req);
const char *gw_req_query(const struct gw_req *req);
/* A header's value (the first of that name, case-insensitive), or NULL. */
const char *gw_req_header(const struct gw_req *req, const char *name);
struct rp_str gw_req_body(const struct gw_req *req);
/* 0, or the status of a request that could not be read (400 malformed, 408 head not whole
 * within header_timeout_s, 413 body over max_body, 431 head over max_head, 505 an HTTP major
 * version other than 1): the route must answer it with that status, and the connection closes
 * after. */
int gw_req_refused(const struct gw_req *req);
/* What was wrong with a refused request, for a person ("a space between a header name and its
 * colon"), or "" when the status says it all. Valid until the request ends. */
const char *gw_req_refused_reason(const struct gw_req *req);
/* The socket peer of the client's connection. */
const struct sockaddr *gw_req_peer(const struct gw_req *req);

/* Adds a header to the reply (before it starts). Returns RP_ENOMEM when they are too long. */
int gw_req_set_header(struct gw_req *req, const char *name, const char *value);
/* Replies in one piece and ends the request. */
void gw_reply(struct gw_req *req, int status, const char *content_type, const void *body,
              size_t len);
/* The same with the whole of body (drained; its chains move, nothing is copied). */
void gw_reply_buffer(struct gw_req *req, int status, const char *content_type,
                     struct evbuffer *body);
/* Starts a reply whose body follows in pieces (chunked; for HTTP/1.0 clients, delimited by
 * closing the connection). */
void gw_reply_start(struct gw_req *req, int status, const char *content_type);
/* Queues the whole of data (drained) for the client. */
void gw_reply_chunk(struct gw_req *req, struct evbuffer *data);
/* Ends a started reply, and the request. */
void gw_reply_end(struct gw_req *req);
/* Ends the request by closing its connection once what is queued has gone out: a reply cut
 * there does not look complete. Also the way to let go of a request whose client is gone. */
void gw_reply_abort(struct gw_req *req);
/* Bytes queued for the client and not yet written. */
size_t gw_req_pending(const struct gw_req *req);
/* Asks for the events of a request kept past route (cb NULL: none). While a request is kept,
 * the connection still reads its socket, so a client that leaves is noticed at once. */
void gw_req_watch(struct gw_req *req, gw_req_event_fn cb, void *arg);

/* ---- The client of the upstream ---- */

struct gw_upstream; /* one loop's connections to the model */
struct gw_up;       /* one request on one of them */

/* GW_UP_INVALID: the answer is not HTTP/1.1 that can be read (a status outside 100..599, a bad
 * length or chunk size). GW_UP_SHUTDOWN: gw_upstream_free ended the request (the gateway is
 * stopping). */
enum gw_up_result { GW_UP_OK, GW_UP_FAILED, GW_UP_TIMEOUT, GW_UP_INVALID, GW_UP_SHUTDOWN };

/* A request's callbacks, called from the loop. head once the status and headers are in (not
 * for 1xx answers); body for each piece of the body as it arrives (chunked framing removed);
 * done once at the end, after which the gw_up is gone. Any of them may call gw_up_cancel. */
struct gw_up_handler {
    void (*head)(void *arg, int status, const char *content_type);
    void (*body)(void *arg, const char *data, size_t len);
    void (*done)(void *arg, enum gw_up_result result);
};

struct gw_upstream_options {
    const char *host; /* a name or an address */
    unsigned port;
    void *ssl_ctx; /* SSL_CTX * for an https upstream (certificate and name verified), or NULL */
    unsigned timeout_s; /* no byte from the upstream for this long: GW_UP_TIMEOUT */
    size_t pool_max;    /* idle connections kept */
};

int gw_upstream_new(struct event_base *base, const struct gw_upstream_options *opt,
                    struct gw_upstream **out);
/* Closes every connection; each request in flight gets done(GW_UP_SHUTDOWN) first. */
void gw_upstream_free(struct gw_upstream *u);

/* Sends "METHOD target HTTP/1.1" with the headers in head (each "Name: value\r\n", Host and
 * Content-Length added here) and body, on an idle connection or a new one. A request that
 * meets a kept-alive connection closed by the upstream is sent again once on a new one.
 * Returns RP_OK (the handler will be called; *out is the request until done or cancel), or
 * RP_ENOMEM / RP_EIO when it cannot even start (no callback then). */
int gw_up_send(struct gw_upstream *u, const char *method, const char *target, struct rp_str head,
               struct rp_str body, const struct gw_up_handler *h, void *arg, struct gw_up **out);
/* Stops (true) or resumes reading the answer: the backpressure of a slow client. */
void gw_up_pause(struct gw_up *r, bool paused);
/* Drops the request: its connection is closed (which stops a generation), no more callbacks. */
void gw_up_cancel(struct gw_up *r);

#endif
