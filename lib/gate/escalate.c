/* Escalation: soft-blocks of an account counted in a sliding window (a GCRA cell per account);
 * past the allowance the account is banned for a time that grows with each of its bans (like
 * fail2ban's bantime.increment), up to permanent (see rampart/policy.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/policy.h"

struct rp_escalation {
    struct rp_ladder ladder;
    struct rp_rate rate; /* soft_blocks may pass in a window; the next one is over */
    struct rp_limiter *cells;
};

void rp_duration_text(double seconds, char *out, size_t size)
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

double rp_ladder_ban_seconds(const struct rp_ladder *l, int64_t ban_count)
{
    double d = l->ban_time * pow(l->ban_factor, (double)ban_count);
    return d > l->ban_max || !isfinite(d) ? 0 : d;
}

int rp_escalation_new(const struct rp_ladder *l, size_t capacity, struct rp_escalation **out)
{
    struct rp_escalation *e = calloc(1, sizeof(*e));
    if (!e || rp_limiter_new(capacity, &e->cells)) {
        free(e);
        return RP_ENOMEM;
    }
    e->ladder = *l;
    e->rate = (struct rp_rate){l->soft_blocks, l->window, l->soft_blocks};
    *out = e;
    return RP_OK;
}

void rp_escalation_free(struct rp_escalation *e)
{
    if (!e)
        return;
    rp_limiter_free(e->cells);
    free(e);
}

double rp_escalation_since(const struct rp_escalation *e, double now)
{
    return now - e->ladder.window;
}

/* The name of an account's cell. */
struct cell_name {
    char text[32];
    struct rp_str s;
};

static void cell_of(int64_t account_id, struct cell_name *n)
{
    int len = snprintf(n->text, sizeof(n->text), "a%lld", (long long)account_id);
    n->s = (struct rp_str){n->text, (size_t)len};
}

void rp_escalation_replay(struct rp_escalation *e, int64_t account_id, double at, double weight)
{
    struct cell_name n;
    double retry;
    cell_of(account_id, &n);
    rp_limiter_take(e->cells, n.s, &e->rate, at, weight, &retry);
}

/* The ban of an account that had ban_count bans, decided at now: its length, end and reason. */
static void ban_of(const struct rp_ladder *l, int64_t ban_count, const char *code, double now,
                   struct rp_escalation_verdict *out)
{
    double secs = rp_ladder_ban_seconds(l, ban_count);
    out->v.code = "escalation-soft-blocks";
    snprintf(out->v.sentence, sizeof(out->v.sentence),
             "more than %u soft-blocks within %.0f s (the last: %s)", l->soft_blocks, l->window,
             code);
    out->ban_seconds = secs;
    out->until = secs > 0 ? (int64_t)now + (int64_t)ceil(secs) : 0;
    out->ban_count = ban_count + 1;
}

void rp_escalation_count(struct rp_escalation *e, const struct rp_escalation_account *a,
                         const char *code, double now, struct rp_escalation_verdict *out)
{
    rp_escalation_count_weighted(e, a, code, 1, now, out);
}

void rp_escalation_count_weighted(struct rp_escalation *e, const struct rp_escalation_account *a,
                                  const char *code, double weight, double now,
                                  struct rp_escalation_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->v.action = RP_ACTION_ALLOW;
    out->v.code = "";
    if (!e || a->banned)
        return;
    const struct rp_ladder *l = &e->ladder;
    struct cell_name n;
    double retry;
    cell_of(a->id, &n);
    bool passed = rp_limiter_take(e->cells, n.s, &e->rate, now, weight, &retry);
    if (passed && l->monitor)
        return;
    out->counted = !l->monitor;
    out->window = l->window;
    out->ban_seconds = rp_ladder_ban_seconds(l, a->ban_count);
    if (passed) {
        out->left = rp_limiter_room(e->cells, n.s, &e->rate, now);
        return;
    }
    ban_of(l, a->ban_count, code, now, out);
    out->v.action = l->monitor ? RP_ACTION_NOTE : RP_ACTION_BAN;
}

void rp_escalation_ban(const struct rp_escalation *e, const struct rp_escalation_account *a,
                       const char *code, double now, struct rp_escalation_verdict *v)
{
    if (a->banned) {
        v->v.action = RP_ACTION_ALLOW;
        v->counted = false;
        return;
    }
    ban_of(&e->ladder, a->ban_count, code, now, v);
    v->v.action = RP_ACTION_BAN;
}

void rp_escalation_notice(const struct rp_escalation_verdict *v, char *out, size_t size)
{
    char ban[48], win[48];
    out[0] = '\0';
    if (!v->counted)
        return;
    rp_duration_text(v->ban_seconds, ban, sizeof(ban));
    rp_duration_text(v->window, win, sizeof(win));
    const char *for_ = v->ban_seconds > 0 ? "for " : "";
    if (v->v.action == RP_ACTION_BAN)
        snprintf(out, size, "; this account is now banned %s%s after repeated refusals", for_, ban);
    else
        snprintf(out, size, "; %u more refused %s within %s will ban this account %s%s",
                 v->left + 1, v->left ? "prompts" : "prompt", win, for_, ban);
}
