/* libFuzzer target: the gateway's HTTP/1.1 server (src/server/httpd.c) on any bytes a client
 * sends, over a socket pair: heads, bodies, pipelining and refusals, answered by a route that
 * reads the whole request API and replies as the path says: "/s" streamed, "/a" started then
 * aborted, "/k" kept and ended by the harness once the loop has run ("/ka" aborted, "/kd" after a
 * piece big enough to wait for GW_REQ_DRAINED, "/kg" left to the client's shutting its side,
 * which reports it gone), "/x" whole but the client then closes at once without reading; any
 * other path whole. An input of odd length is written in two pieces with the loop run between,
 * so that heads and bodies also arrive cut. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

#define INPUT_MAX (48u * 1024)
#define MAX_BODY (64u * 1024)
#define SETTLE_ROUNDS 64
#define CLOSE_ROUNDS 200
/* "/kd" sends BIG bytes at once: more than the socket takes plus GW_LOW_WATER, so that the
 * reply has to wait for the client. */
#define BIG (4 * GW_LOW_WATER)

static struct event_base *base;
static struct gw_server *server;
static struct evbuffer *piece;
static char *big; /* BIG bytes */
/* The "/k" request the route kept, and the third byte of its path (how it is to end). */
static struct gw_req *held;
static char held_how;
static bool client_leaves; /* a "/x" request came */
/* What the route read, summed so that the reads cannot be left out. */
static volatile size_t sink;

static void on_event(struct gw_req *req, enum gw_req_event what, void *arg)
{
    (void)arg;
    if (req != held)
        abort(); /* events belong to a kept request, and stop once it ends */
    if (what == GW_REQ_GONE) {
        held = NULL;
        gw_reply_abort(req);
    }
}

static size_t len_or_0(const char *s)
{
    return s ? strlen(s) : 0;
}

static void route(struct gw_req *req, void *arg)
{
    (void)arg;
    if (held)
        abort(); /* a connection hands over one request at a time */
    int refused = gw_req_refused(req);
    const char *path = gw_req_path(req);
    size_t n = (size_t)gw_req_method(req) + len_or_0(gw_req_uri(req)) + strlen(path) +
               len_or_0(gw_req_query(req));
    static const char *const names[] = {"Host", "Content-Type", "Expect", "Authorization"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        n += len_or_0(gw_req_header(req, names[i]));
    struct rp_str body = gw_req_body(req);
    if (body.len > MAX_BODY)
        abort();
    /* memchr lets ASan check that the whole body is readable. */
    n += memchr(body.ptr, '\n', body.len) != NULL;
    n += gw_req_peer(req)->sa_family;
    sink += n;
    if (gw_req_set_header(req, "X-Fuzz", "1") != RP_OK)
        abort(); /* a short header always fits a reply that has not started */
    if (gw_req_query(req))
        gw_req_set_header(req, "X-Query", gw_req_query(req));

    if (refused) {
        if (refused != 400 && refused != 413 && refused != 431 && refused != 505)
            abort();
        sink += strlen(gw_req_refused_reason(req));
        gw_reply(req, refused, "text/plain", "refused\n", 8);
    } else if (path[0] == '/' && path[1] == 's') {
        gw_reply_start(req, 200, "text/event-stream");
        evbuffer_add(piece, "data: 1\n\n", 9);
        gw_reply_chunk(req, piece);
        evbuffer_add(piece, body.ptr, body.len);
        gw_reply_chunk(req, piece);
        gw_reply_end(req);
    } else if (path[0] == '/' && path[1] == 'a') {
        gw_reply_start(req, 200, "text/event-stream");
        gw_reply_abort(req);
    } else if (path[0] == '/' && path[1] == 'k') {
        gw_reply_start(req, 200, "text/event-stream");
        held = req;
        held_how = path[2];
        gw_req_watch(req, on_event, NULL);
        if (held_how == 'd') {
            evbuffer_add(piece, big, BIG);
            gw_reply_chunk(req, piece);
        }
    } else {
        client_leaves |= path[0] == '/' && path[1] == 'x';
        static const char ok[] = "{\"ok\":true}\n";
        gw_reply(req, 200, "application/json", ok, sizeof(ok) - 1);
    }
}

/* One turn of the loop, then what the server wrote is read and dropped (fd < 0: closed). */
static void turn(int fd)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    char buf[64 * 1024];
    while (fd >= 0 && recv(fd, buf, sizeof(buf), 0) > 0)
        continue;
}

static void feed(int fd, const uint8_t *data, size_t len)
{
    for (int tries = 0; len > 0 && tries < 1000; tries++) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else {
            turn(fd); /* the socket is full: the server reads on */
        }
    }
}

static void settle(int fd)
{
    for (int i = 0; i < SETTLE_ROUNDS && gw_server_conns(server) > 0; i++)
        turn(fd);
}

/* Ends the kept request as its path asked. */
static void end_held(void)
{
    struct gw_req *req = held;
    held = NULL;
    if (held_how == 'a') {
        gw_reply_abort(req);
    } else {
        evbuffer_add(piece, "data: end\n\n", 11);
        gw_reply_chunk(req, piece);
        gw_reply_end(req);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return 0;
    if (!base) {
        /* The server ignores SIGPIPE (it blocks it); writes to a closed client fail instead. */
        signal(SIGPIPE, SIG_IGN);
        struct gw_server_options opt = {
            .max_body = MAX_BODY, .max_head = 8 * 1024, .timeout_s = 120, .route = route};
        base = event_base_new();
        piece = evbuffer_new();
        big = calloc(1, BIG);
        if (!base || !piece || !big || gw_server_new(base, NULL, &opt, &server) != RP_OK)
            abort();
    }
    client_leaves = false;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        abort();
    if (gw_server_adopt(server, fds[0], NULL, 0) != RP_OK)
        abort();
    size_t cut = size % 2 ? size / 2 : size;
    feed(fds[1], data, cut);
    if (cut < size) {
        turn(fds[1]);
        feed(fds[1], data + cut, size - cut);
    }
    /* The server answers all it can, and a request is kept while the client's side is open. */
    for (int i = 0; i < 4 && !client_leaves; i++)
        turn(fds[1]);
    if (!client_leaves) {
        if (held && held_how != 'g')
            end_held();
        shutdown(fds[1], SHUT_WR);
        settle(fds[1]);
        for (int i = 0; held && i < 16; i++) {
            end_held(); /* a kept request the end of input did not reach, or a later one */
            settle(fds[1]);
        }
        /* All was sent, the client's side is shut and what came back was read: the server
         * has nothing left to wait for. */
        if (gw_server_conns(server) != 0) {
            fprintf(stderr, "fuzz_httpd: a connection is left after the client shut its side\n");
            abort();
        }
    }
    close(fds[1]);
    for (int i = 0; i < CLOSE_ROUNDS && gw_server_conns(server) > 0; i++) {
        turn(-1);
        if (held && i == CLOSE_ROUNDS / 2)
            end_held(); /* not reported gone: its connection has not read the close */
    }
    if (gw_server_conns(server) != 0 || held) {
        fprintf(stderr, "fuzz_httpd: a connection is left after the client closed\n");
        abort();
    }
    return 0;
}
