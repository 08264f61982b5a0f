/* The admin API (bearer admin_token): accounts, bans, events; and /metrics, /healthz. */
#include <event2/keyvalq_struct.h>
#include <event2/http.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "route.h"

/* Three refusals, told apart so that an operator knows what to fix: the API is off (no token
 * configured), no token was sent, the token sent is not the one. All 401, with the
 * WWW-Authenticate challenge of RFC 6750. */
static bool admin_auth(struct gw *gw, struct gw_req *req)
{
    const char *auth = gw_req_header(req, "Authorization");
    const char *tok = gw->cfg->admin_token;
    size_t n = tok ? strlen(tok) : 0;
    if (!tok) {
        gw_req_set_header(req, "WWW-Authenticate", "Bearer realm=\"rampart admin\"");
        gw_error(gw, req, 401, "invalid_request_error", "admin_api_off",
                 "the admin API is off: start the gateway with admin_token in its configuration "
                 "or RAMPART_ADMIN_TOKEN in its environment");
        return false;
    }
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        gw_req_set_header(req, "WWW-Authenticate", "Bearer realm=\"rampart admin\"");
        gw_error(gw, req, 401, "invalid_request_error", "missing_admin_token",
                 "no admin token: send 'Authorization: Bearer <admin_token>'");
        return false;
    }
    if (strlen(auth + 7) != n || CRYPTO_memcmp(auth + 7, tok, n) != 0) {
        gw_req_set_header(req, "WWW-Authenticate",
                          "Bearer realm=\"rampart admin\", error=\"invalid_token\"");
        gw_error(gw, req, 401, "invalid_request_error", "invalid_admin_token",
                 "the admin token is wrong: it is not the gateway's admin_token "
                 "(or RAMPART_ADMIN_TOKEN)");
        return false;
    }
    return true;
}

/* ---- Times as RFC 3339 text beside the numbers ---- */

/* "2026-11-26T04:07:30Z" (with ".123" when ms is set) for a time in milliseconds, or JSON null
 * for 0 (never: not verified, not banned). */
static json_t *rfc3339(int64_t ms, bool with_ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char text[40], out[48];
    if (!gmtime_r(&t, &tm) || !strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm))
        return json_null();
    if (with_ms)
        snprintf(out, sizeof(out), "%s.%03dZ", text, (int)(ms % 1000));
    else
        snprintf(out, sizeof(out), "%sZ", text);
    return json_string(out);
}

/* Beside each numeric time field of o named in names (seconds, or milliseconds when ms), the
 * same time as text under NAME_utc ("time_ms" gets "time_utc"). The numbers stay: programs read
 * them. */
static void add_utc(json_t *o, const char *const *names, bool ms)
{
    for (; o && *names; names++) {
        json_t *v = json_object_get(o, *names);
        if (!json_is_integer(v))
            continue;
        char key[64];
        size_t n = strlen(*names);
        if (ms && n > 3 && strcmp(*names + n - 3, "_ms") == 0)
            n -= 3;
        snprintf(key, sizeof(key), "%.*s_utc", (int)n, *names);
        int64_t x = (int64_t)json_integer_value(v);
        json_object_set_new(o, key, rfc3339(ms ? x : x * 1000, ms));
    }
}

static void account_times(json_t *a)
{
    static const char *const acc[] = {"created", "verified", "banned_at", "ban_until", NULL};
    static const char *const key[] = {"created", "revoked", NULL};
    add_utc(a, acc, false);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(a, "keys"), i, k) add_utc(k, key, false);
}

static void accounts_times(json_t *arr)
{
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) account_times(a);
}

static void events_times(json_t *arr)
{
    static const char *const names[] = {"time_ms", NULL};
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) add_utc(e, names, true);
}

static void metrics(struct gw *gw, struct gw_req *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    struct gw_metrics *m = &gw->m;
#define C(name, help, v)                                                                           \
    evbuffer_add_printf(b, "# HELP rampart_%s %s\n# TYPE rampart_%s counter\nrampart_%s %llu\n",   \
                        name, help, name, name, (unsigned long long)atomic_load(&v))
    C("requests_total", "Requests answered by the gateway.", m->requests);
    C("responses_2xx_total", "Answers with a 2xx status.", m->status_2xx);
    C("responses_4xx_total", "Answers with a 4xx status.", m->status_4xx);
    C("responses_5xx_total", "Answers with a 5xx status.", m->status_5xx);
    C("rate_limited_total", "Answers with status 429.", m->status_429);
    C("upstream_errors_total", "Upstream requests that failed.", m->upstream_errors);
    C("upstream_timeouts_total", "Upstream requests that timed out.", m->upstream_timeouts);
    C("client_aborts_total", "Clients that left before the answer ended.", m->client_aborts);
    C("signups_total", "Accepted sign-ups.", m->signups);
    C("verifications_total", "Verified accounts.", m->verifications);
    C("prompt_tokens_total", "Prompt tokens reported by the upstream.", m->prompt_tokens);
    C("completion_tokens_total", "Completion tokens reported by the upstream.",
      m->completion_tokens);
    C("streams_total", "Answers relayed as server-sent events.", m->streams);
    C("bytes_out_total", "Answer bytes relayed to clients.", m->bytes_out);
    C("guard_prompts_refused_total", "Prompts refused by the guardrails (soft-blocks).",
      m->guard_refused[0]);
    C("guard_prompts_modified_total", "Prompts modified (redacted) by the guardrails.",
      m->guard_modified[0]);
    C("guard_prompts_flagged_total", "Prompts flagged by the guardrails.", m->guard_flagged[0]);
    C("guard_answers_refused_total", "Answers stopped by the guardrails.", m->guard_refused[1]);
    C("guard_answers_modified_total", "Answers modified (redacted, defanged) by the guardrails.",
      m->guard_modified[1]);
    C("guard_answers_flagged_total", "Answers flagged by the guardrails.", m->guard_flagged[1]);
    C("guard_monitored_total", "Guardrail findings recorded in monitor mode only.",
      m->guard_monitored);
    C("signups_rejected_total", "Sign-ups refused by screening (403 signup_rejected).",
      m->signups_rejected);
    C("refusals_borderline_total",
      "Refused prompts that counted escalation.borderline_weight towards a ban.",
      m->soft_blocks_borderline);
    C("refusals_counted_fully_total",
      "Refused prompts that counted fully towards a ban (confident, or repeated).",
      m->soft_blocks_full);
    C("moderation_requests_total", "Requests answered by POST /v1/moderations (any status).",
      m->moderation_requests);
    C("moderation_flagged_total", "Texts POST /v1/moderations flagged.", m->moderation_flagged);
    C("escalation_bans_total", "Accounts banned by escalation (repeated soft-blocks).",
      m->escalation_bans);
    C("escalation_bans_deferred_total",
      "Escalation bans put off to the next soft-block because the store queue was full.",
      m->escalation_bans_deferred);
    C("ban_expiries_total", "Bans of escalation that ran their time and were lifted.",
      m->ban_expiries);
#undef C
    evbuffer_add_printf(
        b,
        "# HELP rampart_in_flight Requests being proxied now.\n"
        "# TYPE rampart_in_flight gauge\nrampart_in_flight %lld\n"
        "# HELP rampart_events_dropped_total Events dropped on a full queue.\n"
        "# TYPE rampart_events_dropped_total counter\n"
        "rampart_events_dropped_total %llu\n"
        "# HELP rampart_mails_sent_total Messages delivered by SMTP.\n"
        "# TYPE rampart_mails_sent_total counter\nrampart_mails_sent_total %llu\n"
        "# HELP rampart_mail_failures_total SMTP deliveries that failed (retried).\n"
        "# TYPE rampart_mail_failures_total counter\n"
        "rampart_mail_failures_total %llu\n",
        (long long)atomic_load(&m->in_flight),
        (unsigned long long)rp_store_events_dropped(gw->store),
        (unsigned long long)atomic_load(&gw->mail.sent),
        (unsigned long long)atomic_load(&gw->mail.failed));
    if (gw->conns) {
        struct gw_conns_stats cs;
        gw_conns_stats(gw->conns, &cs);
        evbuffer_add_printf(
            b,
            "# HELP rampart_connections_open Client connections open now.\n"
            "# TYPE rampart_connections_open gauge\nrampart_connections_open %llu\n"
            "# HELP rampart_connections_limit Open client connections past which the oldest "
            "idle ones are closed (the limit of open files less a reserve; 0: none).\n"
            "# TYPE rampart_connections_limit gauge\nrampart_connections_limit %llu\n"
            "# HELP rampart_connections_refused_total Connections refused by "
            "limits.per_client.connections.\n"
            "# TYPE rampart_connections_refused_total counter\n"
            "rampart_connections_refused_total %llu\n"
            "# HELP rampart_connections_evicted_total Idle or slow connections closed to make "
            "room for new ones.\n"
            "# TYPE rampart_connections_evicted_total counter\n"
            "rampart_connections_evicted_total %llu\n"
            "# HELP rampart_header_timeouts_total Connections closed by limits.header_timeout.\n"
            "# TYPE rampart_header_timeouts_total counter\n"
            "rampart_header_timeouts_total %llu\n",
            (unsigned long long)cs.open, (unsigned long long)cs.limit,
            (unsigned long long)cs.refused, (unsigned long long)cs.evicted,
            (unsigned long long)cs.header_timeouts);
    }
    gw_health_metrics(gw, b);
    gw_reply_buffer(req, 200, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}

/* "/admin/accounts/42/ban" -> 42 and "/ban"; returns false when there is no number. */
static long long query_int(struct gw_req *req, const char *name, long long dflt)
{
    const char *qs = strchr(gw_req_uri(req), '?');
    struct evkeyvalq q;
    long long v = dflt;
    if (qs && evhttp_parse_query_str(qs + 1, &q) == 0) {
        const char *s = evhttp_find_header(&q, name);
        char *end;
        if (s) {
            long long x = strtoll(s, &end, 10);
            v = (*end || x < 0) ? -1 : x;
        }
        evhttp_clear_headers(&q);
    }
    return v;
}

/* ---- The store work of the admin API, off the admin loop ----
 * A request is read and checked on the loop; what it asks of the store runs on a store thread,
 * which writes the answer into the job; the loop then replies. So /healthz and /metrics on the
 * admin address answer while the store is slow. */

enum admin_op {
    ADMIN_ACCOUNTS, /* GET /admin/accounts */
    ADMIN_EVENTS,   /* GET /admin/events */
    ADMIN_HOLDS,    /* GET /admin/holds */
    ADMIN_DECIDE,   /* POST /admin/holds/{id}/approve|reject */
    ADMIN_ACCOUNT,  /* GET /admin/accounts/{id} */
    ADMIN_BAN,      /* POST /admin/accounts/{id}/ban|unban */
};

struct admin_job {
    struct gw_req_job base; /* first */
    enum admin_op op;
    int64_t id;
    long long offset, limit, account;
    bool on; /* approve, ban */
    char reason[512];
    /* The answer: a document, or an error (status, code, message). */
    int status;
    json_t *doc;
    const char *code;
    char message[200];
};

static void admin_fail(struct admin_job *a, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void admin_fail(struct admin_job *a, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    a->status = status;
    a->code = code;
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
}

/* The account, with its times, as the answer (or just its id when it cannot be read). */
static void answer_account(struct admin_job *a, struct gw *gw)
{
    json_t *acc = NULL;
    rp_store_account_json(gw->store, a->id, &acc);
    account_times(acc);
    a->status = 200;
    a->doc = acc ? acc : json_pack("{s:I}", "id", (json_int_t)a->id);
}

/* {"by": "admin", "reason": reason}; a reason too long for the detail (the ban itself keeps it
 * whole) is cut at a character, with "truncated": true. */
static void ban_detail(const char *reason, struct rp_event *ev)
{
    struct gw_detail d;
    size_t n = strlen(reason);
    bool cut = false;
    for (;;) {
        gw_detail_begin(&d);
        rp_jsonw_kstr(&d.w, "by", "admin");
        rp_jsonw_key(&d.w, "reason");
        rp_jsonw_strn(&d.w, reason, n);
        if (cut)
            rp_jsonw_kbool(&d.w, "truncated", true);
        if (gw_detail_end(&d, ev) != RP_ETOOBIG || n == 0)
            return;
        /* A quarter shorter each time: a few tries for the longest reason. */
        cut = true;
        n -= n / 4 + 1;
        while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
}

static void ban_work(struct admin_job *a, struct gw *gw)
{
    /* The audit trail: who did what to which account, and why; written with the ban in one
     * transaction, before the answer goes out. */
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000), .account_id = a->id};
    snprintf(ev.kind, sizeof(ev.kind), a->on ? "ban" : "unban");
    ban_detail(a->on ? a->reason : "unbanned", &ev);
    int64_t now = (int64_t)gw_now();
    int rc = a->on ? rp_store_ban(gw->store, a->id, a->reason, now, &ev)
                   : rp_store_unban(gw->store, a->id, now, &ev);
    atomic_fetch_add(&gw->key_generation, 1);
    if (rc == RP_ENOTFOUND) {
        admin_fail(a, 404, "account_not_found", "no account %lld", (long long)a->id);
        return;
    }
    if (rc) {
        admin_fail(a, 503, "store_unavailable", "try again later");
        return;
    }
    if (a->on)
        gw_ban_notify(gw, a->id); /* its open requests end too */
    answer_account(a, gw);
}

/* The sign-ups held for review, oldest first (at most 1,000). */
static void holds_work(struct admin_job *a, struct gw *gw)
{
    int64_t *ids = malloc(1000 * sizeof(*ids));
    size_t n = 0;
    json_t *arr = json_array();
    int rc = arr && ids ? rp_store_holds(gw->store, ids, 1000, &n) : RP_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *acc = NULL;
        if (rp_store_account_json(gw->store, ids[i], &acc) == RP_OK) {
            account_times(acc);
            json_array_append_new(arr, acc);
        }
    }
    free(ids);
    if (rc) {
        json_decref(arr);
        admin_fail(a, 503, "store_unavailable", "try again later");
        return;
    }
    a->status = 200;
    a->doc = json_pack("{s:o}", "holds", arr);
}

/* Approves (the verification mail goes out) or rejects (the account is banned) a held sign-up;
 * the decision is in the audit trail with it (gw_hold_decide). */
static void decide_work(struct admin_job *a, struct gw *gw)
{
    int rc = gw_hold_decide(gw, a->id, a->on);
    if (rc == RP_ENOTFOUND)
        admin_fail(a, 404, "hold_not_found", "no sign-up %lld is held for review",
                   (long long)a->id);
    else if (rc)
        admin_fail(a, 503, "store_unavailable", "try again later");
    else
        answer_account(a, gw);
}

static void admin_work(struct gw_req_job *j)
{
    struct admin_job *a = (struct admin_job *)j;
    struct gw *gw = j->gw;
    json_t *list = NULL;
    int rc;
    switch (a->op) {
    case ADMIN_ACCOUNTS:
        if (rp_store_accounts_json(gw->store, a->offset, a->limit, &list) == 0) {
            accounts_times(list);
            a->status = 200;
            a->doc = json_pack("{s:o}", "accounts", list);
        } else
            admin_fail(a, 503, "store_unavailable", "try again later");
        break;
    case ADMIN_EVENTS:
        rp_store_flush(gw->store);
        if (rp_store_events_json(gw->store, a->account, a->limit, &list) == 0) {
            events_times(list);
            a->status = 200;
            a->doc = json_pack("{s:o}", "events", list);
        } else
            admin_fail(a, 503, "store_unavailable", "try again later");
        break;
    case ADMIN_HOLDS: holds_work(a, gw); break;
    case ADMIN_DECIDE: decide_work(a, gw); break;
    case ADMIN_ACCOUNT:
        rc = rp_store_account_json(gw->store, a->id, &a->doc);
        if (rc == 0) {
            account_times(a->doc);
            a->status = 200;
        } else if (rc == RP_ENOTFOUND)
            admin_fail(a, 404, "account_not_found", "no account %lld", (long long)a->id);
        else
            admin_fail(a, 503, "store_unavailable", "try again later");
        break;
    case ADMIN_BAN: ban_work(a, gw); break;
    }
    if (a->status == 200 && !a->doc)
        admin_fail(a, 503, "overloaded", "the gateway is out of memory");
}

/* The account's risk from the behaviour watch: {"score": 0..100, "signals": {...}}. */
static json_t *risk_json(struct gw *gw, int64_t account)
{
    struct rp_risk r;
    rp_watch_risk(gw->watch, account, gw_now(), &r);
    return json_pack("{s:f, s:{s:f, s:f, s:f, s:I}}", "score", round(r.score * 10) / 10, "signals",
                     "rate_limited", round(r.rate_limited * 10) / 10, "refusals",
                     round(r.refusals * 10) / 10, "keys_created", round(r.keys_created * 10) / 10,
                     "networks", (json_int_t)r.networks);
}

static void admin_reply(struct gw_req_job *j)
{
    struct admin_job *a = (struct admin_job *)j;
    if (a->status != 200) {
        gw_error(j->gw, j->req, a->status,
                 a->status == 503 ? "server_error" : "invalid_request_error", a->code, "%s",
                 a->message);
        return;
    }
    if (a->op == ADMIN_ACCOUNT) /* the behaviour watch is the loop's to read */
        json_object_set_new(a->doc, "risk", risk_json(j->gw, a->id));
    gw_json(j->gw, j->req, 200, a->doc);
    a->doc = NULL;
}

static void admin_late(struct gw_req_job *j)
{
    struct admin_job *a = (struct admin_job *)j;
    bool write = a->op == ADMIN_BAN || a->op == ADMIN_DECIDE;
    gw_error(j->gw, j->req, 503, "server_error", "store_unavailable",
             "the gateway's store did not answer within %d s%s; try again",
             GW_WRITE_DEADLINE_MS / 1000,
             write ? " (the change may still be made: repeating it is harmless)" : "");
}

static void admin_release(struct gw_req_job *j)
{
    json_decref(((struct admin_job *)j)->doc);
}

/* The admin API's operations, two of them in two variants (on: approve, ban). */
enum { OP_ON = 0x100 };
static const struct gw_route admin_routes[] = {
    {"/admin/accounts", GW_GET, ADMIN_ACCOUNTS},
    {"/admin/events", GW_GET, ADMIN_EVENTS},
    {"/admin/holds", GW_GET, ADMIN_HOLDS},
    {"/admin/holds/{id}/approve", GW_POST, ADMIN_DECIDE | OP_ON},
    {"/admin/holds/{id}/reject", GW_POST, ADMIN_DECIDE},
    {"/admin/accounts/{id}", GW_GET, ADMIN_ACCOUNT},
    {"/admin/accounts/{id}/ban", GW_POST, ADMIN_BAN | OP_ON},
    {"/admin/accounts/{id}/unban", GW_POST, ADMIN_BAN},
};

/* Reads and checks an authenticated /admin/ request into a (an op and its arguments); false
 * when it has replied (a bad request, an unknown endpoint). */
static bool admin_read(struct gw *gw, struct gw_req *req, struct admin_job *a)
{
    const char *path = gw_req_path(req);
    const struct gw_route *r =
        gw_route_find(admin_routes, sizeof(admin_routes) / sizeof(admin_routes[0]), path,
                      gw_req_method(req), &a->id);
    if (!r) {
        gw_error(gw, req, 404, "invalid_request_error", "not_found", "no such endpoint: %s", path);
        return false;
    }
    a->op = (enum admin_op)(r->op & ~OP_ON);
    a->on = (r->op & OP_ON) != 0;
    switch (a->op) {
    case ADMIN_ACCOUNTS:
        a->offset = query_int(req, "offset", 0);
        a->limit = query_int(req, "limit", 100);
        if (a->offset < 0 || a->limit < 0 || a->limit > 1000) {
            gw_error(gw, req, 400, "invalid_request_error", "invalid_query",
                     "offset must be >= 0 and limit 0..1000");
            return false;
        }
        break;
    case ADMIN_EVENTS:
        a->account = query_int(req, "account", 0);
        a->limit = query_int(req, "limit", 100);
        if (a->account < 0 || a->limit < 0 || a->limit > 10000) {
            gw_error(gw, req, 400, "invalid_request_error", "invalid_query",
                     "account must be an account id, limit 0..10000");
            return false;
        }
        break;
    case ADMIN_BAN:
        snprintf(a->reason, sizeof(a->reason), "banned by an operator");
        if (a->on) {
            struct gw_refusal no;
            json_t *body = gw_body_object(req, &no);
            if (!body) {
                gw_refuse(gw, req, &no);
                return false;
            }
            json_t *reason = json_object_get(body, "reason");
            if (json_is_string(reason) && json_string_length(reason) > 0)
                snprintf(a->reason, sizeof(a->reason), "%s", json_string_value(reason));
            json_decref(body);
        }
        break;
    default: break;
    }
    return true;
}

/* What the admin listener answers before and without authentication: its health, its metrics,
 * and 404 for what is not under /admin/. */
enum { A_HEALTHZ, A_METRICS, A_ADMIN };
static const struct gw_route admin_listener[] = {
    {"/healthz", 0, A_HEALTHZ},
    {"/metrics", 0, A_METRICS},
    {"/admin/*", 0, A_ADMIN},
};

void gw_admin(struct gw_worker *w, struct gw_req *req)
{
    struct gw *gw = w->gw;
    const char *path = gw_req_path(req);
    int64_t id;
    const struct gw_route *r =
        gw_route_find(admin_listener, sizeof(admin_listener) / sizeof(admin_listener[0]), path,
                      gw_req_method(req), &id);
    if (r && r->op == A_HEALTHZ) {
        gw_healthz(gw, req, true);
        return;
    }
    if (r && r->op == A_METRICS) {
        metrics(gw, req);
        return;
    }
    if (!r) {
        gw_error(gw, req, 404, "invalid_request_error", "not_found", "no such endpoint: %s", path);
        return;
    }
    if (!admin_auth(gw, req))
        return;
    struct admin_job *a = calloc(1, sizeof(*a));
    if (!a) {
        gw_error(gw, req, 503, "server_error", "overloaded", "the gateway is out of memory");
        return;
    }
    if (!admin_read(gw, req, a)) {
        free(a);
        return;
    }
    a->base.work = admin_work;
    a->base.reply = admin_reply;
    a->base.late = admin_late;
    a->base.release = admin_release;
    gw_req_offload(w, req, &a->base, GW_WRITE_DEADLINE_MS);
}
