/* Behaviour checks: per account, decaying counts of what an abuse analyst watches (rate-limit
 * refusals, soft-blocks, new keys, client networks), kept in a bounded in-memory table on the
 * request path. They make an account risk score shown in the admin API; hammering past a
 * threshold is itself a soft-block for escalation. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define SHARDS 64        /* each with its own lock: every request passes here */
#define SHARD_SLOTS 1024 /* 65,536 accounts watched at once; the stalest is replaced */
#define PROBE 8
#define HALF_LIFE 600.0 /* seconds: counts halve every ten minutes */
#define NETS 8
#define NET_SECONDS 3600.0
/* 429s within about ten minutes that count as hammering (a soft-block for escalation). */
#define HAMMERING 100.0

struct slot {
    int64_t account;
    double seen; /* last update, seconds */
    double rate_limited, refusals, keys;
    uint64_t nets[NETS];
    double net_seen[NETS];
    bool hammering; /* over HAMMERING, until it decays under half of it */
};

struct gw_watch {
    struct {
        pthread_mutex_t mu;
        struct slot s[SHARD_SLOTS];
    } shard[SHARDS];
};

int gw_watch_new(struct gw_watch **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return RP_ENOMEM;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&(*out)->shard[i].mu, NULL);
    return RP_OK;
}

void gw_watch_free(struct gw_watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&w->shard[i].mu);
    free(w);
}

/* The slot of account (found, or a new one in place of the stalest of its probe run); counts
 * are decayed to now. */
static size_t hash_of(int64_t account)
{
    return (size_t)((uint64_t)account * 0x9e3779b97f4a7c15ull >> 40);
}

static struct slot *slot_of(struct gw_watch *w, int64_t account, double now)
{
    size_t h = hash_of(account);
    struct slot *base = w->shard[h % SHARDS].s;
    h /= SHARDS;
    struct slot *stalest = &base[h % SHARD_SLOTS];
    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &base[(h + i) % SHARD_SLOTS];
        if (s->account == account) {
            double f = exp2(-(now - s->seen) / HALF_LIFE);
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

static size_t networks(const struct slot *s, double now)
{
    size_t n = 0;
    for (size_t i = 0; i < NETS; i++)
        n += s->nets[i] && now - s->net_seen[i] < NET_SECONDS;
    return n;
}

bool gw_watch(struct gw *gw, int64_t account, enum gw_signal sig, const char *net)
{
    struct gw_watch *w = gw->watch;
    if (!w || account <= 0)
        return false;
    double now = gw_now();
    bool soft_block = false;
    pthread_mutex_t *mu = &w->shard[hash_of(account) % SHARDS].mu;
    pthread_mutex_lock(mu);
    struct slot *s = slot_of(w, account, now);
    switch (sig) {
    case GW_SIGNAL_RATE_LIMITED:
        s->rate_limited += 1;
        if (!s->hammering && s->rate_limited >= HAMMERING)
            soft_block = s->hammering = true;
        else if (s->hammering && s->rate_limited < HAMMERING / 2)
            s->hammering = false;
        break;
    case GW_SIGNAL_REFUSED: s->refusals += 1; break;
    case GW_SIGNAL_KEY_CREATED: s->keys += 1; break;
    case GW_SIGNAL_REQUEST: {
        uint64_t h = rp_hash64(net, strlen(net), 0x6e6574ull) | 1;
        size_t oldest = 0;
        for (size_t i = 0; i < NETS; i++) {
            if (s->nets[i] == h) {
                s->net_seen[i] = now;
                oldest = NETS;
                break;
            }
            if (s->net_seen[i] < s->net_seen[oldest])
                oldest = i;
        }
        if (oldest < NETS) {
            s->nets[oldest] = h;
            s->net_seen[oldest] = now;
        }
        break;
    }
    }
    pthread_mutex_unlock(mu);
    return soft_block;
}

/* Each signal adds up to its weight as it saturates: the score is 0..100. */
json_t *gw_watch_risk(struct gw *gw, int64_t account)
{
    struct gw_watch *w = gw->watch;
    double now = gw_now(), rl = 0, ref = 0, keys = 0;
    size_t nets = 0;
    if (w) {
        pthread_mutex_t *mu = &w->shard[hash_of(account) % SHARDS].mu;
        pthread_mutex_lock(mu);
        struct slot *s = slot_of(w, account, now);
        rl = s->rate_limited;
        ref = s->refusals;
        keys = s->keys;
        nets = networks(s, now);
        pthread_mutex_unlock(mu);
    }
    double score = 30 * fmin(rl / HAMMERING, 1) + 40 * fmin(ref / 5, 1) +
                   15 * fmin(fmax(keys - 2, 0) / 5, 1) +
                   15 * fmin(fmax((double)nets - 2, 0) / 4, 1);
    return json_pack("{s:f, s:{s:f, s:f, s:f, s:I}}", "score", round(score * 10) / 10, "signals",
                     "rate_limited", round(rl * 10) / 10, "refusals", round(ref * 10) / 10,
                     "keys_created", round(keys * 10) / 10, "networks", (json_int_t)nets);
}
