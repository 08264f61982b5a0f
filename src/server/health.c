/* Whether the gateway can do its work, told by /healthz and /metrics without waiting for
 * anything: a probe thread writes to the store every second (a write that hangs on a frozen
 * disk hangs there, where nobody waits for it), and a monitor thread, which never touches the
 * disk, writes the store's failures and stalls to the log at most once in 10 s, reads the free
 * space of the state directory and, after upstream failures, checks that the upstream still
 * takes connections. The loops only read what these two leave in atomics. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "offload.h"
#include "connect.h"
#include "rampart/net.h"

#define PROBE_PERIOD_MS 1000
#define MONITOR_PERIOD_MS 200
/* A probe that has not come back after this long is a stall (the deadline of a key lookup). */
#define STALL_MS GW_LOOKUP_DEADLINE_MS
/* The most a store or stall line comes in the log. */
#define LOG_PERIOD_MS 10000
/* Less free space than this (four pages of SQLite) and the store cannot take a write. */
#define FREE_MIN 16384
/* An unreachable upstream is tried this often, until it answers. */
#define UPSTREAM_RETRY_MS 1000
#define UPSTREAM_CONNECT_MS 2000

enum { UP_UNKNOWN, UP_REACHABLE, UP_UNREACHABLE };

struct gw_health {
    struct gw *gw;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    pthread_t probe_thread, monitor_thread;
    bool probe_started, monitor_started;

    /* When the probe last succeeded and failed (unix ms). */
    atomic_int_fast64_t probe_ok_ms, probe_fail_ms;
    /* Free bytes of the state directory's file system (-1 unknown). */
    atomic_int_fast64_t free_bytes;
    /* The upstream: UP_*, when it was last tried, and why it failed (guarded by mu). */
    atomic_int up_state;
    atomic_int_fast64_t up_checked_ms;
    char up_problem[200];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits ms or until stop; returns true when stopping. */
static bool nap(struct gw_health *h, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    while (!h->stop && pthread_cond_timedwait(&h->wake, &h->mu, &until) != ETIMEDOUT)
        ;
    bool stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    return stop;
}

static void probe_once(struct gw_health *h)
{
    int rc = rp_store_probe(h->gw->store, now_ms() / 1000);
    atomic_store(rc == RP_OK ? &h->probe_ok_ms : &h->probe_fail_ms, now_ms());
}

/* How long the oldest store operation now in progress has waited (ms): the probe's write, the
 * event writer's, a job of the store threads. */
static int64_t waiting_ms(struct gw *gw, const struct rp_store_failures *f, int64_t t)
{
    int64_t w = f->writing_since_ms ? t - f->writing_since_ms : 0;
    if (gw->offload) {
        struct gw_offload_stats s;
        gw_offload_stats(gw->offload, &s);
        if ((int64_t)s.oldest_running_ms > w)
            w = (int64_t)s.oldest_running_ms;
    }
    return w;
}

static void *probe_main(void *arg)
{
    struct gw_health *h = arg;
    while (!nap(h, PROBE_PERIOD_MS))
        probe_once(h);
    return NULL;
}

/* Whether the upstream takes a TCP connection within UPSTREAM_CONNECT_MS; why not in why. */
static bool upstream_connects(struct gw *gw, char *why, size_t cap)
{
    int fd = gw_tcp_connect(gw->up_host, gw->up_port, true);
    if (fd < 0) {
        snprintf(why, cap, "cannot connect to %.100s:%u: %s", gw->up_host, gw->up_port,
                 errno ? strerror(errno) : "the name does not resolve");
        return false;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, UPSTREAM_CONNECT_MS);
    int e = 0;
    socklen_t len = sizeof(e);
    if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0) {
        close(fd);
        return true;
    }
    snprintf(why, cap, "cannot connect to %.100s:%u: %s", gw->up_host, gw->up_port,
             n == 0 ? "no answer within 2 s" : strerror(e ? e : errno));
    close(fd);
    return false;
}

struct monitor {
    uint64_t logged;         /* failures counted when the last line was written */
    int64_t logged_ms;       /* when it was written */
    int64_t stall_logged_ms; /* when the last stall line was written; 0: not stalled */
    uint64_t up_seen;        /* upstream failures when it was last tried */
};

/* The store's failures, at most one line in LOG_PERIOD_MS, each with the number of failures
 * since the line before (the ones it stood for). */
static void log_failures(struct gw_health *h, struct monitor *m, int64_t t)
{
    struct rp_store_failures f;
    rp_store_failures(h->gw->store, &f);
    uint64_t total = f.full + f.io + f.busy + f.other;
    if (total == m->logged || t - m->logged_ms < LOG_PERIOD_MS)
        return;
    fprintf(stderr,
            "rampart serve: store failure: %s; %llu since the last line (disk full %llu, i/o "
            "%llu, busy %llu, other %llu; at most one line in 10 s, all in "
            "rampart_store_failures_total)\n",
            f.last, (unsigned long long)(total - m->logged), (unsigned long long)f.full,
            (unsigned long long)f.io, (unsigned long long)f.busy, (unsigned long long)f.other);
    m->logged = total;
    m->logged_ms = t;
}

/* A write that does not come back is no failure SQLite can report: the monitor says so. */
static void log_stall(struct gw_health *h, struct monitor *m, int64_t t)
{
    struct rp_store_failures f;
    rp_store_failures(h->gw->store, &f);
    int64_t w = waiting_ms(h->gw, &f, t);
    if (w >= STALL_MS) {
        if (!m->stall_logged_ms || t - m->stall_logged_ms >= LOG_PERIOD_MS) {
            fprintf(stderr,
                    "rampart serve: store stalled: an operation on %s/rampart.db has waited %.0f "
                    "s (for the disk or the database's lock); requests that need the store wait "
                    "at most %d s, then are answered 503 store_unavailable\n",
                    h->gw->cfg->state_dir, (double)w / 1000, GW_LOOKUP_DEADLINE_MS / 1000);
            m->stall_logged_ms = t;
        }
    } else if (m->stall_logged_ms && w == 0) {
        fprintf(stderr, "rampart serve: store answers again\n");
        m->stall_logged_ms = 0;
    }
}

static void check_space(struct gw_health *h)
{
    struct statvfs sv;
    if (statvfs(h->gw->cfg->state_dir, &sv) != 0) {
        atomic_store(&h->free_bytes, -1);
        return;
    }
    /* root may use the blocks the file system keeps back from others. */
    uint64_t blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    atomic_store(&h->free_bytes, (int64_t)(blocks * sv.f_frsize));
}

/* Tries the upstream after failures of requests (a connection refused, a timeout), and again
 * while it stays unreachable; a working upstream is never disturbed. */
static void check_upstream(struct gw_health *h, struct monitor *m, int64_t t)
{
    struct gw *gw = h->gw;
    uint64_t fails = atomic_load(&gw->m.upstream_errors) + atomic_load(&gw->m.upstream_timeouts);
    bool retry = atomic_load(&h->up_state) == UP_UNREACHABLE &&
                 t - atomic_load(&h->up_checked_ms) >= UPSTREAM_RETRY_MS;
    if (fails == m->up_seen && !retry)
        return;
    m->up_seen = fails;
    char why[200] = "";
    bool ok = upstream_connects(gw, why, sizeof(why));
    pthread_mutex_lock(&h->mu);
    snprintf(h->up_problem, sizeof(h->up_problem), "%s", why);
    pthread_mutex_unlock(&h->mu);
    int was = atomic_exchange(&h->up_state, ok ? UP_REACHABLE : UP_UNREACHABLE);
    atomic_store(&h->up_checked_ms, now_ms());
    if (ok && was == UP_UNREACHABLE)
        fprintf(stderr, "rampart serve: upstream %s is reachable again\n", gw->cfg->upstream_url);
}

static void *monitor_main(void *arg)
{
    struct gw_health *h = arg;
    struct monitor m = {0};
    m.up_seen = atomic_load(&h->gw->m.upstream_errors) + atomic_load(&h->gw->m.upstream_timeouts);
    do {
        int64_t t = now_ms();
        log_failures(h, &m, t);
        log_stall(h, &m, t);
        check_space(h);
        check_upstream(h, &m, t);
    } while (!nap(h, MONITOR_PERIOD_MS));
    return NULL;
}

int gw_health_start(struct gw *gw, struct gw_health **out)
{
    *out = NULL;
    struct gw_health *h = calloc(1, sizeof(*h));
    if (!h)
        return RP_ENOMEM;
    h->gw = gw;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&h->free_bytes, -1);
    /* The first answer of /healthz already knows. */
    probe_once(h);
    check_space(h);
    if (pthread_create(&h->probe_thread, NULL, probe_main, h) == 0)
        h->probe_started = true;
    if (h->probe_started && pthread_create(&h->monitor_thread, NULL, monitor_main, h) == 0)
        h->monitor_started = true;
    if (!h->monitor_started) {
        gw_health_stop(h);
        return RP_EIO;
    }
    *out = h;
    return RP_OK;
}

void gw_health_stop(struct gw_health *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->mu);
    if (h->monitor_started)
        pthread_join(h->monitor_thread, NULL);
    if (h->probe_started)
        pthread_join(h->probe_thread, NULL);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* What the store's state is now: NULL when it takes writes, else a reason code, with the
 * sentence in why. */
static const char *store_problem(struct gw_health *h, char *why, size_t cap)
{
    int64_t t = now_ms();
    int64_t ok = atomic_load(&h->probe_ok_ms), fail = atomic_load(&h->probe_fail_ms);
    int64_t space = atomic_load(&h->free_bytes);
    struct rp_store_failures f;
    rp_store_failures(h->gw->store, &f);
    int64_t w = waiting_ms(h->gw, &f, t);
    if (w >= STALL_MS) {
        snprintf(why, cap, "an operation has waited %.1f s for the disk or the database's lock",
                 (double)w / 1000);
        return "store_stalled";
    }
    if (space >= 0 && space < FREE_MIN) {
        snprintf(why, cap, "the file system of the state directory is full (%lld bytes free)",
                 (long long)space);
        return "disk_full";
    }
    if (fail > ok || f.last_ms > ok) {
        snprintf(why, cap, "%s", f.last[0] ? f.last : "the last write failed");
        return "store_failing";
    }
    return NULL;
}

int gw_health_json(struct gw *gw, bool detail, json_t **out)
{
    struct gw_health *h = gw->health;
    int64_t t = now_ms();
    char swhy[300] = "", uwhy[200] = "";
    const char *scode = h ? store_problem(h, swhy, sizeof(swhy)) : NULL;
    int up = h ? atomic_load(&h->up_state) : UP_UNKNOWN;
    if (h && up == UP_UNREACHABLE) {
        pthread_mutex_lock(&h->mu);
        snprintf(uwhy, sizeof(uwhy), "%s", h->up_problem);
        pthread_mutex_unlock(&h->mu);
    }
    json_t *store = json_pack("{s:b}", "writable", scode == NULL);
    json_t *upj = json_pack("{s:b}", "reachable", up != UP_UNREACHABLE);
    json_t *problems = json_array();
    if (store && scode) {
        json_object_set_new(store, "problem", json_string(scode));
        json_array_append_new(problems, json_string(scode));
    }
    if (upj && up == UP_UNREACHABLE) {
        json_object_set_new(upj, "problem", json_string("upstream_unreachable"));
        json_array_append_new(problems, json_string("upstream_unreachable"));
    }
    /* The details name paths and addresses: the admin address has them, the public one not. */
    if (detail && h && store && upj) {
        struct rp_store_failures f;
        rp_store_failures(gw->store, &f);
        int64_t ok = atomic_load(&h->probe_ok_ms), space = atomic_load(&h->free_bytes);
        if (scode)
            json_object_set_new(store, "message", json_string(swhy));
        json_object_set_new(store, "last_write_ms_ago", ok ? json_integer(t - ok) : json_null());
        json_object_set_new(store, "free_bytes", space >= 0 ? json_integer(space) : json_null());
        json_object_set_new(store, "failures",
                            json_pack("{s:I, s:I, s:I, s:I}", "disk_full", (json_int_t)f.full, "io",
                                      (json_int_t)f.io, "busy", (json_int_t)f.busy, "other",
                                      (json_int_t)f.other));
        int64_t checked = atomic_load(&h->up_checked_ms);
        json_object_set_new(upj, "checked_ms_ago",
                            checked ? json_integer(t - checked) : json_null());
        if (up == UP_UNREACHABLE)
            json_object_set_new(upj, "message", json_string(uwhy));
    }
    bool healthy = !scode && up != UP_UNREACHABLE;
    *out = json_pack("{s:s, s:o, s:o, s:o}", "status", healthy ? "ok" : "unavailable", "store",
                     store, "upstream", upj, "problems", problems);
    return healthy ? 200 : 503;
}

void gw_healthz(struct gw *gw, struct gw_req *req, bool detail)
{
    json_t *j = NULL;
    int status = gw_health_json(gw, detail, &j);
    gw_json(gw, req, status, j);
}

void gw_health_metrics(struct gw *gw, struct evbuffer *b)
{
    struct rp_store_failures f;
    rp_store_failures(gw->store, &f);
    char why[300];
    bool writable = !gw->health || !store_problem(gw->health, why, sizeof(why));
    bool reachable = !gw->health || atomic_load(&gw->health->up_state) != UP_UNREACHABLE;
    struct gw_offload_stats s = {0};
    if (gw->offload)
        gw_offload_stats(gw->offload, &s);
    evbuffer_add_printf(
        b,
        "# HELP rampart_store_failures_total Failed database operations, by kind.\n"
        "# TYPE rampart_store_failures_total counter\n"
        "rampart_store_failures_total{kind=\"disk_full\"} %llu\n"
        "rampart_store_failures_total{kind=\"io\"} %llu\n"
        "rampart_store_failures_total{kind=\"busy\"} %llu\n"
        "rampart_store_failures_total{kind=\"other\"} %llu\n"
        "# HELP rampart_store_writable Whether the store takes writes now (as /healthz says).\n"
        "# TYPE rampart_store_writable gauge\nrampart_store_writable %d\n"
        "# HELP rampart_upstream_reachable Whether the upstream takes connections.\n"
        "# TYPE rampart_upstream_reachable gauge\nrampart_upstream_reachable %d\n"
        "# HELP rampart_store_jobs_queued Store jobs waiting for a store thread.\n"
        "# TYPE rampart_store_jobs_queued gauge\nrampart_store_jobs_queued %llu\n"
        "# HELP rampart_store_jobs_running Store jobs on a store thread now.\n"
        "# TYPE rampart_store_jobs_running gauge\nrampart_store_jobs_running %llu\n"
        "# HELP rampart_store_jobs_total Store jobs run.\n"
        "# TYPE rampart_store_jobs_total counter\nrampart_store_jobs_total %llu\n"
        "# HELP rampart_store_jobs_rejected_total Requests answered 503 store_busy (queue full).\n"
        "# TYPE rampart_store_jobs_rejected_total counter\n"
        "rampart_store_jobs_rejected_total %llu\n"
        "# HELP rampart_store_jobs_late_total Requests answered 503 store_unavailable (deadline).\n"
        "# TYPE rampart_store_jobs_late_total counter\nrampart_store_jobs_late_total %llu\n",
        (unsigned long long)f.full, (unsigned long long)f.io, (unsigned long long)f.busy,
        (unsigned long long)f.other, writable, reachable, (unsigned long long)s.queued,
        (unsigned long long)s.running, (unsigned long long)s.done, (unsigned long long)s.rejected,
        (unsigned long long)s.late);
}
