/* Escalation: soft-blocks of an account counted in a sliding window (a GCRA cell per account,
 * bounded state on the request path); past the allowance the account is banned for a time that
 * grows with each of its bans (like fail2ban's bantime.increment), up to permanent. The count
 * runs on the loop, in memory; the ban, which waits on the store, runs on a store thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* The length of an account's next ban, from the bans it had: ban_time * factor^count, or 0 for
 * permanent once that passes ban_time_max. */
static double ban_seconds(const struct rp_config *c, int64_t count)
{
    double d = c->escalation_ban_time * pow(c->escalation_ban_factor, (double)count);
    return d > c->escalation_ban_max || !isfinite(d) ? 0 : d;
}

static void account_cell(char *name, size_t size, int64_t account_id)
{
    snprintf(name, size, "a%lld", (long long)account_id);
}

/* One stored soft-block, replayed into its account's window at the time it happened. */
static void replay(void *arg, int64_t account_id, int64_t time_ms)
{
    struct gw *gw = arg;
    char name[32];
    double retry;
    account_cell(name, sizeof(name), account_id);
    rp_limiter_take(gw->esc_limit, (struct rp_str){name, strlen(name)}, &gw->esc_rate,
                    (double)time_ms / 1000, 1, &retry);
}

int gw_escalate_restore(struct gw *gw)
{
    if (!gw->esc_limit)
        return RP_OK;
    /* A soft-block older than the window has drained out of any GCRA cell. */
    int64_t since = (int64_t)((gw_now() - gw->cfg->escalation_window) * 1000);
    return rp_store_soft_blocks(gw->store, since, replay, gw);
}

void gw_duration_text(double seconds, char *out, size_t size)
{
    static const struct {
        double s;
        const char *one, *many;
    } units[] = {{86400, "day", "days"},
                 {3600, "hour", "hours"},
                 {60, "minute", "minutes"},
                 {1, "second", "seconds"}};
    if (!(seconds > 0)) {
        snprintf(out, size, "permanently");
        return;
    }
    double s = ceil(seconds);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* The largest unit that says it exactly: 5400 s is "90 minutes", not "1.5 hours". */
        if (fmod(s, units[i].s) == 0) {
            double n = s / units[i].s;
            snprintf(out, size, "%.0f %s", n, n == 1 ? units[i].one : units[i].many);
            return;
        }
    }
}

/* "escalation-soft-blocks: more than 5 soft-blocks within 600 s (the last: jailbreak-dan)". */
static void ban_reason(const struct rp_config *c, const char *code, char *out, size_t size)
{
    snprintf(out, size,
             "escalation-soft-blocks: more than %u soft-blocks within %.0f s (the last: %s)",
             c->escalation_soft_blocks, c->escalation_window, code);
}

/* The detail of a ban event (or of its monitor-mode stand-in). */
static void ban_event(struct rp_event *ev, bool monitor, int64_t account_id, int64_t key_id,
                      const char *code, double secs, int64_t until, int64_t ban_count)
{
    char span[32];
    memset(ev, 0, sizeof(*ev));
    ev->time_ms = (int64_t)(gw_now() * 1000);
    ev->account_id = account_id;
    ev->key_id = key_id;
    if (secs > 0)
        snprintf(span, sizeof(span), "%.0f s", ceil(secs));
    else
        snprintf(span, sizeof(span), "permanently");
    snprintf(ev->kind, sizeof(ev->kind), "%s", monitor ? "escalation_monitor" : "ban");
    snprintf(ev->detail, sizeof(ev->detail),
             "{\"code\":\"escalation-soft-blocks\",\"last\":\"%s\",\"ban\":\"%s\",\"until\":%lld,"
             "\"ban_count\":%lld}",
             code, span, (long long)until, (long long)ban_count + 1);
}

void gw_escalate_count(struct gw *gw, const struct rp_key_info *key, const char *code,
                       struct gw_escalation *out)
{
    memset(out, 0, sizeof(*out));
    if (!gw->esc_limit || key->account_status == RP_ACCOUNT_BANNED)
        return;
    const struct rp_config *c = gw->cfg;
    bool monitor = !strcmp(c->escalation_mode, "monitor");
    char name[32];
    account_cell(name, sizeof(name), key->account_id);
    struct rp_str cell = {name, strlen(name)};
    double retry, now = gw_now();
    bool passed = rp_limiter_take(gw->esc_limit, cell, &gw->esc_rate, now, 1, &retry);
    if (passed && monitor)
        return;
    /* The account's bans so far come with its key (a lookup at most a few seconds old, and
     * dropped from the cache at each ban): the loop does not wait on the store for them. */
    double secs = ban_seconds(c, key->ban_count);
    out->counted = !monitor;
    out->window = c->escalation_window;
    out->ban_seconds = secs;
    if (passed) {
        out->left = rp_limiter_room(gw->esc_limit, cell, &gw->esc_rate, now);
        return;
    }
    if (monitor) {
        /* What enforce mode would have done, recorded (a queued event: no wait). */
        struct rp_event ev;
        int64_t inow = (int64_t)now, until = secs > 0 ? inow + (int64_t)ceil(secs) : 0;
        ban_event(&ev, true, key->account_id, key->key_id, code, secs, until, key->ban_count);
        rp_store_event(gw->store, &ev);
        return;
    }
    out->ban_due = true;
}

void gw_escalate_ban(struct gw *gw, int64_t account_id, int64_t key_id, const char *code,
                     struct gw_escalation *out)
{
    const struct rp_config *c = gw->cfg;
    /* The store says how many bans the account had (and whether another soft-block has banned
     * it meanwhile): the length of this one follows from that, not from the key's copy. */
    struct rp_account a;
    if (rp_store_account_get(gw->store, account_id, &a) || a.status == RP_ACCOUNT_BANNED) {
        out->counted = false;
        return;
    }
    double secs = ban_seconds(c, a.ban_count);
    int64_t inow = (int64_t)gw_now(), until = secs > 0 ? inow + (int64_t)ceil(secs) : 0;
    char reason[200];
    ban_reason(c, code, reason, sizeof(reason));
    struct rp_event ev;
    ban_event(&ev, false, account_id, key_id, code, secs, until, a.ban_count);
    out->ban_seconds = secs;
    /* The ban and its event are one transaction: a crash cannot keep one without the other. */
    if (rp_store_ban_until(gw->store, account_id, reason, inow, until, &ev)) {
        out->counted = false;
        return;
    }
    atomic_fetch_add(&gw->key_generation, 1);
    atomic_fetch_add(&gw->m.escalation_bans, 1);
    gw_ban_notify(gw, account_id);
    out->banned = true;
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
    struct gw_escalation esc = {.counted = true};
    gw_escalate_ban(b->gw, b->account_id, b->key_id, b->code, &esc);
}

static void ban_release(struct gw_job *job)
{
    free(job);
}

static const struct gw_job_ops ban_ops = {ban_work, NULL, ban_release};

void gw_escalate(struct gw *gw, const struct rp_key_info *key, const char *code)
{
    struct gw_escalation esc;
    gw_escalate_count(gw, key, code, &esc);
    if (!esc.ban_due)
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
