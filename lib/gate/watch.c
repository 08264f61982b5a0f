/* The behaviour watch: per account, decaying counts of what an abuse analyst watches (rate-limit
 * refusals, refused prompts, new keys, client networks) in a bounded, sharded table on the
 * request path. They make an account's risk score; hammering on past the limits is itself a
 * soft-block (see rampart/policy.h). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/policy.h"

#define SHARDS 64 /* each with its own lock: every request passes here */
#define SHARD_SLOTS (RP_WATCH_ACCOUNTS / SHARDS) /* the stalest of a probe run is replaced */
#define PROBE 8
#define NETS 8 /* client networks remembered an account */

struct slot {
    int64_t account;
    double seen; /* last update, seconds */
    double rate_limited, refusals, keys;
    uint64_t nets[NETS];
    double net_seen[NETS];
    bool hammering; /* over the threshold, until it decays under half of it */
};

struct rp_watch {
    struct rp_watch_rules rules;
    struct {
        pthread_mutex_t mu;
        struct slot s[SHARD_SLOTS];
    } shard[SHARDS];
};

int rp_watch_new(const struct rp_watch_rules *rules, struct rp_watch **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return RP_ENOMEM;
    (*out)->rules = *rules;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&(*out)->shard[i].mu, NULL);
    return RP_OK;
}

void rp_watch_free(struct rp_watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&w->shard[i].mu);
    free(w);
}

static size_t hash_of(int64_t account)
{
    return (size_t)((uint64_t)account * 0x9e3779b97f4a7c15ull >> 40);
}

/* The slot of account (found, or a new one in place of the stalest of its probe run); counts
 * are decayed to now. Called with its shard's lock held. */
static struct slot *slot_of(struct rp_watch *w, int64_t account, double now)
{
    size_t h = hash_of(account);
    struct slot *base = w->shard[h % SHARDS].s;
    h /= SHARDS;
    struct slot *stalest = &base[h % SHARD_SLOTS];
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &base[(h + i) % SHARD_SLOTS];
        if (s->account == account) {
            double f = exp2(-(now - s->seen) / w->rules.half_life);
            s->rate_limited *= f;
            s->refusals *= f;
            s->keys *= f;
            s->seen = now;
            return s;
        }
        if (s->seen < stalest->seen)
            stalest = s;
    }
    memset(stalest, 0, sizeof(*stalest));
    stalest->account = account;
    stalest->seen = now;
    return stalest;
}

static size_t networks(const struct rp_watch *w, const struct slot *s, double now)
{
    size_t n = 0;
    for (size_t i = 0; i < NETS; i++)
        n += s->nets[i] && now - s->net_seen[i] < w->rules.network_window;
    return n;
}

static void seen_from(struct slot *s, struct rp_str net, double now)
{
    uint64_t h = rp_hash64(net.ptr, net.len, 0x6e6574ull) | 1;
    size_t oldest = 0;
    for (size_t i = 0; i < NETS; i++) {
        if (s->nets[i] == h) {
            s->net_seen[i] = now;
            return;
        }
        if (s->net_seen[i] < s->net_seen[oldest])
            oldest = i;
    }
    s->nets[oldest] = h;
    s->net_seen[oldest] = now;
}

void rp_watch_signal(struct rp_watch *w, int64_t account, enum rp_signal sig, struct rp_str net,
                     double now, struct rp_verdict *out)
{
    out->action = RP_ACTION_ALLOW;
    out->code = "";
    out->sentence[0] = '\0';
    if (!w || account <= 0)
        return;
    double hammering = w->rules.hammering;
    bool soft_block = false;
    pthread_mutex_t *mu = &w->shard[hash_of(account) % SHARDS].mu;
    pthread_mutex_lock(mu);
    struct slot *s = slot_of(w, account, now);
    switch (sig) {
    case RP_SIGNAL_RATE_LIMITED:
        s->rate_limited += 1;
        if (!s->hammering && s->rate_limited >= hammering)
            soft_block = s->hammering = true;
        else if (s->hammering && s->rate_limited < hammering / 2)
            s->hammering = false;
        break;
    case RP_SIGNAL_REFUSED: s->refusals += 1; break;
    case RP_SIGNAL_KEY_CREATED: s->keys += 1; break;
    case RP_SIGNAL_REQUEST: seen_from(s, net, now); break;
    }
    pthread_mutex_unlock(mu);
    if (soft_block) {
        out->action = RP_ACTION_SOFT_BLOCK;
        out->code = "behaviour-hammering";
        snprintf(out->sentence, sizeof(out->sentence),
                 "hammering: %.15g rate-limit refusals, counted with a half-life of %.15g s",
                 hammering, w->rules.half_life);
    }
}

void rp_watch_risk(struct rp_watch *w, int64_t account, double now, struct rp_risk *out)
{
    memset(out, 0, sizeof(*out));
    double hammering = 1;
    if (w) {
        hammering = w->rules.hammering;
        pthread_mutex_t *mu = &w->shard[hash_of(account) % SHARDS].mu;
        pthread_mutex_lock(mu);
        struct slot *s = slot_of(w, account, now);
        out->rate_limited = s->rate_limited;
        out->refusals = s->refusals;
        out->keys_created = s->keys;
        out->networks = networks(w, s, now);
        pthread_mutex_unlock(mu);
    }
    /* Each signal adds up to its weight as it saturates. */
    out->score = 30 * fmin(out->rate_limited / hammering, 1) + 40 * fmin(out->refusals / 5, 1) +
                 15 * fmin(fmax(out->keys_created - 2, 0) / 5, 1) +
                 15 * fmin(fmax((double)out->networks - 2, 0) / 4, 1);
}
