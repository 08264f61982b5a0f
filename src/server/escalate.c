/* Escalation: soft-blocks of an account counted in a sliding window (a GCRA cell per account,
 * bounded state on the request path); past the allowance the account is banned for a time that
 * grows with each of its bans (like fail2ban's bantime.increment), up to permanent. */
#include <math.h>
#include <stdio.h>
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

void gw_escalate(struct gw *gw, const struct rp_key_info *key, const char *code,
                 struct gw_escalation *out)
{
    struct gw_escalation none;
    bool told = out != NULL;
    out = told ? out : &none;
    memset(out, 0, sizeof(*out));
    if (!gw->esc_limit)
        return;
    const struct rp_config *c = gw->cfg;
    bool monitor = !strcmp(c->escalation_mode, "monitor");
    char name[32];
    account_cell(name, sizeof(name), key->account_id);
    struct rp_str cell = {name, strlen(name)};
    double retry, now = gw_now();
    bool passed = rp_limiter_take(gw->esc_limit, cell, &gw->esc_rate, now, 1, &retry);
    if (passed && (!told || monitor))
        return;
    /* A ban, and what the person is told, need the account's bans so far. */
    struct rp_account a;
    if (rp_store_account_get(gw->store, key->account_id, &a) || a.status == RP_ACCOUNT_BANNED)
        return;
    double secs = ban_seconds(c, a.ban_count);
    out->counted = !monitor;
    out->window = c->escalation_window;
    out->ban_seconds = secs;
    if (passed) {
        out->left = rp_limiter_room(gw->esc_limit, cell, &gw->esc_rate, now);
        return;
    }
    int64_t inow = (int64_t)now, until = secs > 0 ? inow + (int64_t)ceil(secs) : 0;
    char reason[200], span[32];
    if (secs > 0)
        snprintf(span, sizeof(span), "%.0f s", ceil(secs));
    else
        snprintf(span, sizeof(span), "permanently");
    snprintf(reason, sizeof(reason),
             "escalation-soft-blocks: more than %u soft-blocks within %.0f s (the last: %s)",
             c->escalation_soft_blocks, c->escalation_window, code);
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                          .account_id = key->account_id,
                          .key_id = key->key_id};
    snprintf(ev.kind, sizeof(ev.kind), "%s", monitor ? "escalation_monitor" : "ban");
    snprintf(ev.detail, sizeof(ev.detail),
             "{\"code\":\"escalation-soft-blocks\",\"last\":\"%s\",\"ban\":\"%s\",\"until\":%lld,"
             "\"ban_count\":%lld}",
             code, span, (long long)until, (long long)a.ban_count + 1);
    /* The ban and its event are one transaction: a crash cannot keep one without the other. */
    if (monitor) {
        rp_store_event(gw->store, &ev);
        return;
    }
    if (rp_store_ban_until(gw->store, key->account_id, reason, inow, until, &ev)) {
        out->counted = false;
        return;
    }
    atomic_fetch_add(&gw->key_generation, 1);
    atomic_fetch_add(&gw->m.escalation_bans, 1);
    gw_ban_notify(gw, key->account_id);
    out->banned = true;
}
