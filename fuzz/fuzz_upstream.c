/* libFuzzer target: the gateway's client of the model upstream (src/server/upstream.c) on any
 * answer. A listener on 127.0.0.1 plays the upstream: it checks each request it reads and writes
 * the input (after its first byte) back as the answer. The first byte steers the harness: bit 0
 * closes the harness's side once the answer is written (EOF-delimited bodies); bit 5 closes it
 * at the end of the input instead, after the loop ran, so that the next request meets a pooled
 * connection closed under it (and is retried); bit 4 makes either close a reset; bit 1 writes
 * the answer in two pieces cut at (byte >> 6) / 4 of it; bit 2 pauses the reading from the head
 * for a few rounds; bit 3 cancels the request at its first piece of body, or in done when none
 * came. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

#define INPUT_MAX (48u * 1024)
#define PEERS 8
#define ROUNDS 64
#define IDLE_ROUNDS 8 /* rounds in a row without progress before the request is cancelled */
#define SPLIT_ROUNDS 2
#define PAUSE_ROUNDS 3
#define CTYPE_MAX 256

enum {
    CTL_CLOSE = 1,
    CTL_SPLIT = 2,
    CTL_PAUSE = 4,
    CTL_CANCEL = 8,
    CTL_RESET = 16,
    CTL_LATE_CLOSE = 32
};

/* One connection the harness accepted: where it is in the request it reads, and the answer it
 * writes. */
struct peer {
    int fd;
    size_t pos;
    const uint8_t *out;
    size_t out_len, out_at, cut;
    int wait; /* rounds left before the second piece */
};

/* One input: the answer, the steering byte, and what the handler saw of its request. */
struct state {
    const uint8_t *ans;
    size_t alen;
    unsigned ctl;
    struct gw_up *r;
    int requests; /* read by the harness: the first, and a retry */
    bool closed;  /* the harness closed the connection after the whole answer */
    int heads, paused;
    size_t body;
    bool finished; /* done was called, or the request was cancelled */
    enum gw_up_result result;
};

static struct event_base *base;
static struct gw_upstream *up;
static int listener = -1;
static char request[512];
static size_t request_len;
static struct peer peers[PEERS];
static size_t n_peers;
/* Two states used in turn, so that a callback meant for the previous request is caught. */
static struct state states[2];
static struct state *cur;
static bool sending;

static const char body_json[] = "{\"model\":\"m\",\"stream\":true}";

static void on_head(void *arg, int status, const char *content_type)
{
    struct state *st = arg;
    if (sending || st->finished || st->heads > 0 || status < 200 || status > 999)
        abort();
    if (content_type && strlen(content_type) >= CTYPE_MAX)
        abort();
    st->heads++;
    if (st->ctl & CTL_PAUSE) {
        gw_up_pause(st->r, true);
        st->paused = PAUSE_ROUNDS;
    }
}

static void on_body(void *arg, const char *data, size_t len)
{
    struct state *st = arg;
    if (sending || st->finished || st->heads != 1)
        abort(); /* body only after the head, and before the end */
    st->body += len + (memchr(data, '\0', len) != NULL); /* ASan checks the range */
    if (st->ctl & CTL_CANCEL) {
        st->finished = true;
        gw_up_cancel(st->r);
    }
}

static void on_done(void *arg, enum gw_up_result result)
{
    struct state *st = arg;
    if (sending || st->finished)
        abort(); /* done comes once, and never after a cancel */
    if (result == GW_UP_OK && st->heads != 1)
        abort();
    st->finished = true;
    st->result = result;
    if ((st->ctl & CTL_CANCEL) && st->body == 0)
        gw_up_cancel(st->r); /* the gw_up lives until done returns */
}

static const struct gw_up_handler handler = {on_head, on_body, on_done};

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(listener, 16) != 0 || getsockname(listener, (struct sockaddr *)&sa, &len) != 0)
        abort();
    unsigned port = ntohs(sa.sin_port);
    int n = snprintf(request, sizeof(request),
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "Accept: */*\r\nContent-Length: %zu\r\n\r\n%s",
                     port, sizeof(body_json) - 1, body_json);
    if (n < 0 || (size_t)n >= sizeof(request))
        abort();
    request_len = (size_t)n;
    base = event_base_new();
    struct gw_upstream_options opt = {
        .host = "127.0.0.1", .port = port, .ssl_ctx = NULL, .timeout_s = 5, .pool_max = 4};
    if (!base || gw_upstream_new(base, &opt, &up) != RP_OK)
        abort();
}

/* Closes peer i, with a reset when the input says so. */
static void peer_close(size_t i, bool by_input)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    if (by_input && (cur->ctl & CTL_RESET))
        setsockopt(peers[i].fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(peers[i].fd);
    peers[i] = peers[--n_peers];
}

/* Reads what came on peer i: each whole request is checked and answered. Returns whether
 * anything moved. */
static bool peer_read(size_t i)
{
    struct peer *p = &peers[i];
    bool moved = false;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
        if (n < 0)
            return moved;
        if (n == 0) {
            peer_close(i, false); /* the client closed the connection */
            return true;
        }
        moved = true;
        for (size_t k = 0; k < (size_t)n; k++) {
            if (p->out || buf[k] != request[p->pos])
                abort(); /* not the request that was sent, or more before the answer went out */
            if (++p->pos < request_len)
                continue;
            p->pos = 0;
            if (++cur->requests > 2)
                abort(); /* a request is sent again at most once */
            cur->closed = false;
            p->out = cur->ans;
            p->out_len = cur->alen;
            p->out_at = 0;
            p->cut = cur->ctl & CTL_SPLIT ? cur->alen * (cur->ctl >> 6) / 4 : cur->alen;
            p->wait = SPLIT_ROUNDS;
        }
    }
}

/* Writes what is due of peer i's answer; closes the peer after it when the input says so. */
static bool peer_write(size_t i)
{
    struct peer *p = &peers[i];
    if (!p->out)
        return false;
    if (p->out_at == p->cut && p->cut < p->out_len && p->wait-- > 0)
        return false;
    size_t end = p->out_at < p->cut ? p->cut : p->out_len;
    bool moved = false;
    while (p->out_at < end) {
        ssize_t n = send(p->fd, p->out + p->out_at, end - p->out_at, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            return moved;
        p->out_at += (size_t)n;
        moved = true;
    }
    if (p->out_at == p->out_len) {
        p->out = NULL;
        if (cur->ctl & CTL_CLOSE) {
            peer_close(i, true);
            cur->closed = true;
            return true;
        }
    }
    return moved;
}

/* One round: the loop, new connections, then each peer read and written. */
static bool round_once(int wait_ms)
{
    bool moved = false;
    event_base_loop(base, EVLOOP_NONBLOCK);
    struct pollfd pl = {.fd = listener, .events = POLLIN};
    while (poll(&pl, 1, moved ? 0 : wait_ms) == 1) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        if (n_peers == PEERS)
            abort(); /* the client holds more connections than its pool and one request */
        /* Without it, a second piece of an answer waits for the ACK of the first (Nagle), which
         * a kept-alive connection delays by up to 40 ms. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peers[n_peers++] = (struct peer){.fd = fd};
        moved = true;
    }
    for (size_t i = n_peers; i-- > 0;) {
        size_t before = n_peers;
        moved |= peer_read(i);
        if (n_peers == before)
            moved |= peer_write(i);
    }
    return moved;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > INPUT_MAX)
        return 0;
    if (!base)
        setup();
    static unsigned turn;
    struct state *st = cur = &states[turn++ % 2];
    *st = (struct state){.ans = data + 1, .alen = size - 1, .ctl = data[0]};
    struct rp_str head = RP_STR("Accept: */*\r\n");
    struct rp_str body = {body_json, sizeof(body_json) - 1};
    sending = true;
    int rc = gw_up_send(up, "POST", "/v1/chat/completions", head, body, &handler, st, &st->r);
    sending = false;
    if (rc != RP_OK) {
        fprintf(stderr, "fuzz_upstream: gw_up_send: %s\n", rp_strerror(rc));
        abort();
    }
    int idle = 0;
    for (int i = 0; i < ROUNDS && !st->finished && idle < IDLE_ROUNDS; i++) {
        /* Until the request has come, the kernel may still be connecting: wait a little. */
        bool moved = round_once(st->requests ? 0 : 2);
        if (st->paused > 0 && --st->paused == 0 && !st->finished) {
            gw_up_pause(st->r, false);
            moved = true;
        }
        idle = moved || st->paused ? 0 : idle + 1;
    }
    if (!st->finished) {
        /* Once the upstream has closed, nothing more can come: the request has to end now,
         * not when the timeout says so. */
        if (st->closed) {
            fprintf(stderr, "fuzz_upstream: no end after the upstream closed the connection\n");
            abort();
        }
        st->finished = true;
        gw_up_cancel(st->r);
    }
    /* The rest of an answer still goes out (an idle connection that hears more is closed), and
     * the connections the client closed are closed here too. */
    for (int i = 0; i < 4; i++)
        round_once(0);
    for (size_t i = n_peers; i-- > 0;) {
        peers[i].out = NULL;
        if (peers[i].pos != 0)
            abort(); /* a request left half-sent on a connection that stays open */
        if (st->ctl & CTL_LATE_CLOSE)
            peer_close(i, true);
    }
    return 0;
}
