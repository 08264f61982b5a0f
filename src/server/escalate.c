/* Escalation in the gateway: soft-blocks are counted by lib/gate's ladder (rp_escalation_count,
 * on the loop, in memory), and its verdicts applied here: the event of a would-be ban in monitor
 * mode, a ban written with its event by a store thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* One stored soft-block, replayed into its account's window at the time it happened. */
static void replay(void *arg, int64_t account_id, int64_t time_ms, double weight)
{
    struct gw *gw = arg;
    rp_escalation_replay(gw->esc, account_id, (double)time_ms / 1000, weight);
}

int gw_escalate_restore(struct gw *gw)
{
    if (!gw->esc)
        return RP_OK;
    /* A soft-block older than the window has drained out of any GCRA cell. */
    int64_t since = (int64_t)(rp_escalation_since(gw->esc, gw_now()) * 1000);
    return rp_store_soft_blocks(gw->store, since, replay, gw);
}

/* The event of a ban of v (kind "ban", or "escalation_monitor" for its monitor-mode stand-in):
 * code is the reason code of the last soft-block. */
static void ban_event(struct rp_event *ev, const char *kind, int64_t account_id, int64_t key_id,
                      const char *code, const struct rp_escalation_verdict *v)
{
    char span[32];
    memset(ev, 0, sizeof(*ev));
    ev->time_ms = (int64_t)(gw_now() * 1000);
    ev->account_id = account_id;
    ev->key_id = key_id;
    if (v->ban_seconds > 0)
        snprintf(span, sizeof(span), "%.0f s", ceil(v->ban_seconds));
    else
        snprintf(span, sizeof(span), "permanently");
    snprintf(ev->kind, sizeof(ev->kind), "%s", kind);
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "code", v->v.code);
    rp_jsonw_kstr(&d.w, "last", code);
    rp_jsonw_kstr(&d.w, "ban", span);
    rp_jsonw_kint(&d.w, "until", (long long)v->until);
    rp_jsonw_kint(&d.w, "ban_count", (long long)v->ban_count);
    gw_detail_end(&d, ev);
}

void gw_escalate_count(struct gw *gw, const struct rp_key_info *key, const char *code,
                       double weight, struct rp_escalation_verdict *out)
{
    /* The account's bans so far come with its key (a lookup at most a few seconds old, and
     * dropped from the cache at each ban): the loop does not wait on the store for them. */
    struct rp_escalation_account a = {.id = key->account_id,
                                      .banned = key->account_status == RP_ACCOUNT_BANNED,
                                      .ban_count = key->ban_count};
    rp_escalation_count_weighted(gw->esc, &a, code, weight, gw_now(), out);
    if (out->v.action == RP_ACTION_NOTE) {
        /* What enforce mode would have done, recorded (a queued event: no wait). */
        struct rp_event ev;
        ban_event(&ev, "escalation_monitor", key->account_id, key->key_id, code, out);
        rp_store_event(gw->store, &ev);
    }
}

void gw_escalate_ban(struct gw *gw, int64_t account_id, int64_t key_id, const char *code,
                     struct rp_escalation_verdict *v)
{
    /* The store says how many bans the account had (and whether another soft-block has banned
     * it meanwhile): the length of this one follows from that, not from the key's copy. */
    struct rp_account acc;
    if (rp_store_account_get(gw->store, account_id, &acc)) {
        v->counted = false;
        return;
    }
    struct rp_escalation_account a = {
        .id = account_id, .banned = acc.status == RP_ACCOUNT_BANNED, .ban_count = acc.ban_count};
    double now = gw_now();
    rp_escalation_ban(gw->esc, &a, code, now, v);
    if (v->v.action != RP_ACTION_BAN)
        return;
    /* "escalation-soft-blocks: more than 5 soft-blocks within 3600 s (the last: x)": a rule id
     * has at most 64 bytes, so the reason stays within the store's 511. */
    char reason[RP_SENTENCE_MAX + 64];
    snprintf(reason, sizeof(reason), "%s: %s", v->v.code, v->v.sentence);
    struct rp_event ev;
    ban_event(&ev, "ban", account_id, key_id, code, v);
    /* The ban and its event are one transaction: a crash cannot keep one without the other. */
    if (rp_store_ban_until(gw->store, account_id, reason, (int64_t)now, v->until, &ev)) {
        v->counted = false;
        return;
    }
    atomic_fetch_add(&gw->key_generation, 1);
    atomic_fetch_add(&gw->m.escalation_bans, 1);
    gw_ban_notify(gw, account_id);
}

/* A ban of escalation that no request waits for, written by a store thread. */
struct ban_job {
    struct gw_job job; /* first: the executor's view */
    struct gw *gw;
    int64_t account_id, key_id;
    char code[64];
};

static void ban_work(struct gw_job *job)
{
    struct ban_job *b = (struct ban_job *)job;
    struct rp_escalation_verdict v = {.counted = true};
    gw_escalate_ban(b->gw, b->account_id, b->key_id, b->code, &v);
}

static void ban_release(struct gw_job *job)
{
    free(job);
}

static const struct gw_job_ops ban_ops = {ban_work, NULL, ban_release};

void gw_escalate(struct gw *gw, const struct rp_key_info *key, const char *code)
{
    struct rp_escalation_verdict esc;
    gw_escalate_count(gw, key, code, 1, &esc);
    if (esc.v.action != RP_ACTION_BAN)
        return;
    if (!gw->offload) {
        /* No store threads (a loop of tests): the ban is written here. */
        gw_escalate_ban(gw, key->account_id, key->key_id, code, &esc);
        return;
    }
    struct ban_job *b = calloc(1, sizeof(*b));
    if (b) {
        b->job.ops = &ban_ops;
        b->gw = gw;
        b->account_id = key->account_id;
        b->key_id = key->key_id;
        snprintf(b->code, sizeof(b->code), "%s", code);
    }
    if (!b || gw_offload_submit(gw->offload, NULL, &b->job, 0, false) != RP_OK) {
        /* The soft-blocks stay counted: the next one past the allowance asks again. */
        free(b);
        atomic_fetch_add(&gw->m.escalation_bans_deferred, 1);
    }
}
