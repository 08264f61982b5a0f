/* The limits of the public API per key and per account: keys are free to make, so each limit
 * of a key (requests and tokens a minute, requests in flight) also holds for all the keys of its
 * account together (limits.per_account, by default the per-key values), and making keys is
 * itself limited (docs/configuration.md). The cells live in the gateway's shared tables, named
 * "k<key id>", "a<account id>" and "c<account id>" (key creation). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"

struct names {
    char key[32], account[32];
    struct rp_str k, a;
};

static void names_of(const struct rp_key_info *key, struct names *n)
{
    snprintf(n->key, sizeof(n->key), "k%lld", (long long)key->key_id);
    snprintf(n->account, sizeof(n->account), "a%lld", (long long)key->account_id);
    n->k = (struct rp_str){n->key, strlen(n->key)};
    n->a = (struct rp_str){n->account, strlen(n->account)};
}

/* An account's limit: its own when set, else the key's. */
static double per_account(double account, double key)
{
    return account > 0 ? account : key;
}

static struct rp_rate account_req_rate(const struct rp_config *c)
{
    double r = per_account(c->account_requests_per_minute, c->key_requests_per_minute);
    return (struct rp_rate){r, 60, r};
}

static struct rp_rate account_tok_rate(const struct rp_config *c)
{
    double r = per_account(c->account_tokens_per_minute, c->key_tokens_per_minute);
    return (struct rp_rate){r, 60, r};
}

static unsigned account_concurrency(const struct rp_config *c)
{
    return c->account_concurrent_requests ? c->account_concurrent_requests
                                          : c->key_concurrent_requests;
}

/* A 429 for the behaviour checks: hammering on past the limits is a soft-block of its own. */
static void watch_refusal(struct gw *gw, const struct rp_key_info *key)
{
    struct rp_verdict v;
    rp_watch_signal(gw->watch, key->account_id, RP_SIGNAL_RATE_LIMITED, RP_STR_NULL, gw_now(), &v);
    if (v.action == RP_ACTION_SOFT_BLOCK) {
        struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                              .account_id = key->account_id,
                              .key_id = key->key_id,
                              .status = 429};
        snprintf(ev.kind, sizeof(ev.kind), "soft_block");
        struct gw_detail d;
        gw_detail_begin(&d);
        rp_jsonw_key(&d.w, "codes");
        rp_jsonw_array(&d.w);
        rp_jsonw_str(&d.w, v.code);
        rp_jsonw_end(&d.w);
        gw_detail_end(&d, &ev);
        rp_store_event(gw->store, &ev);
        gw_escalate(gw, key, v.code);
    }
}

static void refuse_rate(struct gw *gw, const struct rp_key_info *key, double retry,
                        const char *whose, struct gw_refusal *no)
{
    watch_refusal(gw, key);
    char ra[32];
    snprintf(ra, sizeof(ra), "%.0f", ceil(retry));
    gw_refusal_set(no, 429, "rate_limit_error", "rate_limit_exceeded",
                   "rate limit of this %s reached; retry in %s s", whose, ra);
    snprintf(no->retry_after, sizeof(no->retry_after), "%s", ra);
}

bool gw_limits_take(struct gw *gw, const struct rp_key_info *key, struct gw_refusal *no)
{
    const struct rp_config *c = gw->cfg;
    struct names n;
    names_of(key, &n);
    struct rp_rate art = account_req_rate(c), att = account_tok_rate(c);
    double now = gw_now(), retry;
    /* Tokens are only checked (their cost is known at the end); a request is charged to the key
     * and then to its account, so that an account's refusal still costs the key that asked. */
    if (!rp_limiter_take(gw->tok_limit, n.k, &gw->tok_rate, now, 0, &retry) ||
        !rp_limiter_take(gw->req_limit, n.k, &gw->req_rate, now, 1, &retry)) {
        refuse_rate(gw, key, retry, "key", no);
        return false;
    }
    if (!rp_limiter_take(gw->tok_limit, n.a, &att, now, 0, &retry) ||
        !rp_limiter_take(gw->req_limit, n.a, &art, now, 1, &retry)) {
        refuse_rate(gw, key, retry, "account (all its keys together)", no);
        return false;
    }
    if (!rp_inflight_acquire(gw->inflight, n.k, c->key_concurrent_requests)) {
        gw_refusal_set(no, 429, "rate_limit_error", "too_many_concurrent_requests",
                       "this key already has %u requests in flight", c->key_concurrent_requests);
        snprintf(no->retry_after, sizeof(no->retry_after), "1");
        return false;
    }
    if (!rp_inflight_acquire(gw->inflight, n.a, account_concurrency(c))) {
        rp_inflight_release(gw->inflight, n.k);
        gw_refusal_set(no, 429, "rate_limit_error", "too_many_concurrent_requests",
                       "this account already has %u requests in flight (all its keys together)",
                       account_concurrency(c));
        snprintf(no->retry_after, sizeof(no->retry_after), "1");
        return false;
    }
    return true;
}

void gw_limits_release(struct gw *gw, const struct rp_key_info *key)
{
    struct names n;
    names_of(key, &n);
    rp_inflight_release(gw->inflight, n.k);
    rp_inflight_release(gw->inflight, n.a);
}

void gw_limits_charge(struct gw *gw, const struct rp_key_info *key, double tokens)
{
    struct names n;
    names_of(key, &n);
    struct rp_rate att = account_tok_rate(gw->cfg);
    double now = gw_now();
    rp_limiter_charge(gw->tok_limit, n.k, &gw->tok_rate, now, tokens);
    rp_limiter_charge(gw->tok_limit, n.a, &att, now, tokens);
}

int gw_key_quota_check(struct gw *gw, int64_t account_id, struct gw_key_quota *out)
{
    const struct rp_config *c = gw->cfg;
    char name[32];
    snprintf(name, sizeof(name), "c%lld", (long long)account_id);
    struct rp_rate r = {c->account_keys_per_hour, 3600, c->account_keys_per_hour};
    memset(out, 0, sizeof(*out));
    int rc = rp_store_key_count(gw->store, account_id, &out->live);
    if (rc)
        return rc;
    /* A key refused for the count does not use up the hourly allowance. */
    if (out->live >= (int64_t)c->account_max_keys)
        out->verdict = GW_KEYS_TOO_MANY;
    else if (!rp_limiter_take(gw->req_limit, (struct rp_str){name, strlen(name)}, &r, gw_now(), 1,
                              &out->retry))
        out->verdict = GW_KEYS_TOO_FAST;
    return RP_OK;
}

void gw_key_quota_refusal(struct gw *gw, const struct rp_key_info *key,
                          const struct gw_key_quota *q, struct gw_refusal *no)
{
    const struct rp_config *c = gw->cfg;
    watch_refusal(gw, key);
    if (q->verdict == GW_KEYS_TOO_MANY) {
        gw_refusal_set(no, 429, "rate_limit_error", "too_many_keys",
                       "this account has %lld keys, the most it may hold "
                       "(limits.per_account.max_keys); revoke one with DELETE /v1/keys/{id}",
                       (long long)q->live);
        return;
    }
    char ra[32];
    snprintf(ra, sizeof(ra), "%.0f", ceil(q->retry));
    gw_refusal_set(no, 429, "rate_limit_error", "key_creation_rate_exceeded",
                   "an account may make %.15g keys an hour (limits.per_account.keys_per_hour); "
                   "retry in %s s",
                   c->account_keys_per_hour, ra);
    snprintf(no->retry_after, sizeof(no->retry_after), "%s", ra);
}
