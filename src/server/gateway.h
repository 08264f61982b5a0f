/* The gateway process of `rampart serve`: shared state, worker threads and the handlers of the
 * public API (signup, keys, proxy) and the admin API. Internal to the program. */
#ifndef RAMPART_SERVER_GATEWAY_H
#define RAMPART_SERVER_GATEWAY_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdatomic.h>

#include "rampart/config.h"
#include "rampart/gate.h"
#include "rampart/guard.h"
#include "rampart/json.h"
#include "rampart/policy.h"
#include "mail.h"
#include "rampart/store.h"
#include "httpd.h"
#include "offload.h"

#define GW_POOL_MAX 512 /* idle upstream connections kept a worker */

struct gw_metrics {
    atomic_uint_fast64_t requests, status_2xx, status_4xx, status_5xx, status_429;
    atomic_uint_fast64_t upstream_errors, upstream_timeouts, client_aborts;
    atomic_uint_fast64_t signups, verifications, prompt_tokens, completion_tokens;
    atomic_uint_fast64_t streams, bytes_out;
    /* Guardrail verdicts enforced, by direction (0 prompts, 1 answers). */
    atomic_uint_fast64_t guard_refused[2], guard_modified[2], guard_flagged[2], guard_monitored;
    atomic_uint_fast64_t escalation_bans, escalation_bans_deferred, ban_expiries, signups_rejected;
    /* Refused prompts by what they counted towards a ban: borderline_weight, or fully. */
    atomic_uint_fast64_t soft_blocks_borderline, soft_blocks_full;
    atomic_uint_fast64_t moderation_requests, moderation_flagged; /* POST /v1/moderations */
    atomic_int_fast64_t in_flight;
};

struct gw_keycache;
struct gw_health;

/* The store executor's size, and how long a request waits for it: a key lookup less than the
 * store's busy timeout (5 s), so that a write stuck on the disk (which holds the store) does not
 * hold the requests behind it; a write more, so that a busy store says so itself first. */
#define GW_STORE_THREADS 2
#define GW_STORE_QUEUE 1024
#define GW_LOOKUP_DEADLINE_MS 2000
#define GW_WRITE_DEADLINE_MS 10000

/* The ring of the latest bans (gw_ban_notify): slot i % GW_BAN_RING holds ban i. */
#define GW_BAN_RING 1024
struct gw_ban_slot {
    atomic_uint_fast64_t seq; /* the ban's number, 0 while it is being written */
    atomic_int_fast64_t account;
};

struct gw {
    struct rp_config *cfg;
    struct rp_store *store;
    struct rp_limiter *req_limit, *tok_limit, *signup_limit;
    struct rp_inflight *inflight;
    struct gw_metrics m;
    char up_host[256];
    unsigned up_port;
    char up_prefix[256]; /* path of upstream.url without a trailing '/', e.g. "" or "/api" */
    char *up_auth;       /* "Bearer <upstream.api_key>" or NULL */
    /* The headers every upstream request carries, by method ("Name: value\r\n" each). */
    struct rp_str up_head_get, up_head_post;
    bool up_tls;   /* https upstream */
    void *ssl_ctx; /* SSL_CTX * of an https upstream */
    struct rp_rate req_rate, tok_rate, signup_rate;
    struct gw_mail mail; /* running when smtp.url is set */
    struct gw_keycache *keys;
    struct gw_conns *conns; /* limits on client connections, while gw_run runs */
    struct rp_guard *guard; /* NULL when guard.mode is off */
    /* signup.disposable_domains, and the inspector that finds registrable domains for it. */
    struct rp_domain_set *disposable;
    struct rp_url_inspector *urls;
    struct rp_watch *watch;    /* behaviour checks per account */
    struct rp_escalation *esc; /* soft-blocks per account; NULL when escalation is off */
    struct rp_refusals *refusals; /* each account's recent refused prompts, for their weight */
    /* Bumped by every ban, unban and revocation: cached key lookups older than it are stale. */
    atomic_uint_fast64_t key_generation;
    /* When the last upstream failure was written to stderr (unix seconds): at most one line every
     * 10 s, so an outage is visible in the log without flooding it. */
    atomic_int_fast64_t upstream_logged;
    /* The same for token counts of the upstream that were not valid numbers. */
    atomic_int_fast64_t usage_logged;
    /* Every ban of an account, numbered from 1 (ban_seq: the last number given), so that each
     * worker ends the open requests of a banned account, whichever thread banned it. */
    struct gw_ban_slot ban_ring[GW_BAN_RING];
    atomic_uint_fast64_t ban_seq;
    /* Store work off the loops (offload.c), and what /healthz says (health.c). */
    struct gw_offload *offload;
    struct gw_health *health;
};

/* The cache of API key lookups in front of the store: bounded, sharded, 2 s at most (up to 5
 * minutes while the store does not answer). */
int gw_keycache_new(struct gw_keycache **out);
void gw_keycache_free(struct gw_keycache *kc);
/* Key lookups: from the cache, else from the store (then cached). */
int gw_key_lookup(struct gw *gw, const uint8_t hash[RP_HASH_LEN], struct rp_key_info *out);

struct gw_proxy;
/* Health (src/server/health.c): a probe thread that writes to the store every second and a
 * monitor thread that logs the store's failures and stalls (at most a line in 10 s) and checks
 * the upstream after its failures. Start after the store is open; stop before it closes. */
int gw_health_start(struct gw *gw, struct gw_health **out);
void gw_health_stop(struct gw_health *h);
/* The document of /healthz (a new reference in *out) and its status: 200 when the store takes
 * writes and the upstream is reachable, else 503. detail adds messages, paths and counts (the
 * admin address). Never waits for the store. */
int gw_health_json(struct gw *gw, bool detail, json_t **out);
/* Answers GET /healthz with that document. */
void gw_healthz(struct gw *gw, struct gw_req *req, bool detail);
/* The health and store executor lines of /metrics. */
void gw_health_metrics(struct gw *gw, struct evbuffer *b);

struct gw_worker {
    struct gw *gw;
    struct event_base *base;
    struct gw_server *server;
    struct gw_upstream *up;
    struct rp_guard_scratch *guard_scratch; /* this thread's, when gw->guard is set */
    /* The proxied requests open on this loop, and while there are any, a timer that looks for
     * bans of their accounts (src/server/proxy.c). Touched by this worker's thread only. */
    struct gw_proxy *open;
    struct event *ban_timer;
    uint64_t ban_seen; /* the bans up to this number have been looked at */
    /* Bans up to this number were lost from the ring (0: none): the accounts of the open
     * requests are to be read from the store, by one job at a time. */
    uint64_t ban_lost_upto;
    bool ban_job_pending;
    struct gw_inbox *inbox; /* completions of store jobs for this loop */
};

/* Replies with an error in OpenAI's shape {"error": {"message", "type", "code"}}. */
void gw_error(struct gw *gw, struct gw_req *req, int status, const char *type, const char *code,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A refusal for a handler to reply with: the helpers that decide on a request (authentication,
 * limits, the body's JSON, the guardrails) fill one instead of replying, so that each handler
 * replies in one place. */
struct gw_refusal {
    int status;
    const char *type, *code; /* static strings */
    char retry_after[32];    /* the Retry-After header's value, "" for none */
    char message[1024];
};
/* Fills r (no Retry-After) with a message made from fmt. */
void gw_refusal_set(struct gw_refusal *r, int status, const char *type, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Replies with r, as gw_error does, and its Retry-After when it has one. */
void gw_refuse(struct gw *gw, struct gw_req *req, const struct gw_refusal *r);
/* Replies with a JSON document (a reference of j is taken). */
void gw_json(struct gw *gw, struct gw_req *req, int status, json_t *j);
void gw_count_status(struct gw *gw, int status);
/* The client's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy. */
void gw_client_addr(struct gw *gw, struct gw_req *req, struct sockaddr_storage *out);
/* The request body parsed as a JSON object (a new reference), or NULL with why in *no (400
 * invalid_json). */
json_t *gw_body_object(struct gw_req *req, struct gw_refusal *no);
double gw_now(void);

/* The detail of an event being written: one JSON object (docs/api.md, "The audit trail"),
 * its members written with d->w between gw_detail_begin and gw_detail_end. */
struct gw_detail {
    struct rp_buf buf;
    struct rp_jsonw w;
};
/* Begins the object, bounded by the size of an event's detail. */
void gw_detail_begin(struct gw_detail *d);
/* Ends the object and puts it into ev->detail. A detail that does not fit is never cut into
 * something that is not JSON: ev->detail is then {"truncated":true} and the result RP_ETOOBIG
 * (a writer that would rather keep part of a long value rewinds, as rp_guard_event_detail does). */
int gw_detail_end(struct gw_detail *d, struct rp_event *ev);
/* Puts json (a whole document when rc is RP_OK) into ev->detail, else {"truncated":true}: the
 * end of gw_detail_end, for a detail written by the library (rp_guard_event_detail). */
void gw_detail_put(struct rp_event *ev, const struct rp_buf *json, int rc);

/* Handlers. */
void gw_signup(struct gw_worker *w, struct gw_req *req);
void gw_verify(struct gw_worker *w, struct gw_req *req);
void gw_keys(struct gw_worker *w, struct gw_req *req, const char *path);
void gw_proxy(struct gw_worker *w, struct gw_req *req, const char *path);
/* POST /v1/moderations: the guardrails' verdicts in OpenAI's moderation shape (moderation.c). */
void gw_moderations(struct gw_worker *w, struct gw_req *req);
void gw_admin(struct gw_worker *w, struct gw_req *req);

/* A soft-block of the key's account (a refused prompt), counted in escalation's window in
 * memory, on the loop (docs/configuration.md, escalation). code says what the soft-block was
 * for, weight what it counts (rp_refusal_weight; 1 for hammering); out says what it did and what the person may be told (rp_escalation_notice). Past
 * escalation.soft_blocks_before_ban, in enforce mode, a BAN verdict asks for gw_escalate_ban; in
 * monitor mode the would-be ban is recorded as an event instead. */
void gw_escalate_count(struct gw *gw, const struct rp_key_info *key, const char *code,
                       double weight, struct rp_escalation_verdict *out);
/* Bans the account for a time that grows with each of its bans (read from the store), with its
 * event in the same transaction, and ends its open requests: the BAN verdict v made final
 * (rp_escalation_ban). Waits on the store: run it on a store thread. Clears v->counted when the
 * account was banned already or the store failed. */
void gw_escalate_ban(struct gw *gw, int64_t account_id, int64_t key_id, const char *code,
                     struct rp_escalation_verdict *v);
/* gw_escalate_count, and a ban when due written by a store thread, for a soft-block whose
 * reply does not wait for it (hammering). A full store queue defers the ban to the next
 * soft-block (escalation_bans_deferred_total). */
void gw_escalate(struct gw *gw, const struct rp_key_info *key, const char *code);
/* Rebuilds escalation's windows from the soft-blocks the store holds, so that a restart does not
 * forgive them. Call once, before the listeners start. Returns 0 or RP_EIO. */
int gw_escalate_restore(struct gw *gw);

/* Says that an account was banned (after the ban is stored and key_generation bumped): every
 * worker ends the account's open requests within GW_BAN_CHECK_MS, a stream with an error event
 * (src/server/proxy.c). Any thread. */
#define GW_BAN_CHECK_MS 100
void gw_ban_notify(struct gw *gw, int64_t account_id);

/* Limits per key and per account (src/server/limits.c). take: the request rate, the token
 * allowance and a concurrency slot of both the key and its account; on refusal it counts the
 * refusal for the behaviour checks and returns false with the 429 in *no. Every successful take
 * is paired with one release. charge: the tokens of an answer, to the key and the account. */
bool gw_limits_take(struct gw *gw, const struct rp_key_info *key, struct gw_refusal *no);
void gw_limits_release(struct gw *gw, const struct rp_key_info *key);
void gw_limits_charge(struct gw *gw, const struct rp_key_info *key, double tokens);
/* Whether an account may create another key (limits.per_account.max_keys, then keys_per_hour,
 * whose allowance it takes when allowed). */
enum gw_key_verdict { GW_KEYS_ALLOWED, GW_KEYS_TOO_MANY, GW_KEYS_TOO_FAST };
struct gw_key_quota {
    enum gw_key_verdict verdict;
    int64_t live; /* the account's keys not revoked */
    double retry; /* GW_KEYS_TOO_FAST: seconds until the next key may be made */
};
/* Counts the account's keys in the store (it waits on it: call it on a store thread). Returns
 * RP_OK with *out set, or the store's error. */
int gw_key_quota_check(struct gw *gw, int64_t account_id, struct gw_key_quota *out);
/* The 429 of a refused creation (q->verdict not GW_KEYS_ALLOWED) into *no, counted for the
 * behaviour checks. */
void gw_key_quota_refusal(struct gw *gw, const struct rp_key_info *key,
                          const struct gw_key_quota *q, struct gw_refusal *no);

/* An operator's decision on a held sign-up: approve sends its verification mail, reject bans
 * the account; either is written to the audit trail (hold_approved, hold_rejected) with it.
 * RP_ENOTFOUND when it is not held. */
int gw_hold_decide(struct gw *gw, int64_t id, bool approve);

/* What a request does once its key is looked up: key is the request's (an active account's, not
 * revoked) when it passes; else key is NULL and no says why, for the handler to reply with. */
typedef void (*gw_auth_fn)(struct gw_worker *w, struct gw_req *req, const struct rp_key_info *key,
                           const struct gw_refusal *no);
/* Resolves the request's API key without waiting on the loop: from the cache, then is called
 * at once; else from the store on a store thread, then is called later from the loop (the
 * request is kept meanwhile). When the key does not pass, then is called with the refusal
 * (401, 403; 503 store_unavailable when the store does not answer within
 * GW_LOOKUP_DEADLINE_MS, store_busy when its queue is full). A request whose client left
 * meanwhile is ended here, and then is not called. */
void gw_authenticate_then(struct gw_worker *w, struct gw_req *req, gw_auth_fn then);
/* Why a store job could not be queued (rc of gw_offload_submit), into *no: 503 store_busy, or
 * shutting_down; gw_store_refuse replies with it. */
void gw_store_refusal(struct gw *gw, int rc, struct gw_refusal *no);
void gw_store_refuse(struct gw *gw, struct gw_req *req, int rc);

/* A request's store work, off the loop. A handler embeds this first in a struct of its own
 * (calloc'd; freed with free() once both sides are done, after release if set), sets work and
 * reply, and submits it
 * with gw_req_offload: work runs on a store thread (the struct's fields, the store; never the
 * request), then reply answers the request on its loop. When the deadline passes first, late
 * answers instead (NULL: 503 store_unavailable); when the client left, the request is ended
 * and neither is called. */
struct gw_req_job {
    struct gw_job job;
    struct gw *gw;
    struct gw_worker *w;
    struct gw_req *req;
    void (*work)(struct gw_req_job *j);
    void (*reply)(struct gw_req_job *j);
    void (*late)(struct gw_req_job *j);
    void (*release)(struct gw_req_job *j); /* frees what the struct holds (NULL: nothing) */
    /* The queue refused j (rc RP_EBUSY): replies in place of work and reply (NULL: 503
     * store_busy or shutting_down). */
    void (*busy)(struct gw_req_job *j, int rc);
    bool gone;
};
/* Queues j for req (kept until it is answered). On failure j is freed and the request answered
 * (by busy, or 503 store_busy, shutting_down). With no store threads (a loop of tests), work
 * runs here. */
void gw_req_offload(struct gw_worker *w, struct gw_req *req, struct gw_req_job *j,
                    unsigned deadline_ms);

#endif
