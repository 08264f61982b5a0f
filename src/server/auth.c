/* Authentication of API keys: the sharded key cache, look-ups in the store off the loop, ban
 * expiry and key admission applied (lib/gate's rp_key_admit decides). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#define KC_SHARDS 16
#define KC_SLOTS 4096
#define KC_TTL 2.0
/* While the store does not answer, a key checked this recently still lets its requests in
 * (unless a ban or revocation since made every entry stale): an outage of the disk does not
 * become an outage of the API for the keys in use. */
#define KC_STALE_MAX 300.0

struct kc_entry {
    uint8_t hash[RP_HASH_LEN];
    struct rp_key_info info;
    double at;
    uint64_t generation;
    bool used;
};

struct gw_keycache {
    struct {
        pthread_mutex_t lock;
        struct kc_entry slots[KC_SLOTS];
    } shards[KC_SHARDS];
};

int gw_keycache_new(struct gw_keycache **out)
{
    struct gw_keycache *kc = calloc(1, sizeof(*kc));
    if (!kc)
        return RP_ENOMEM;
    for (size_t i = 0; i < KC_SHARDS; i++)
        pthread_mutex_init(&kc->shards[i].lock, NULL);
    *out = kc;
    return RP_OK;
}

void gw_keycache_free(struct gw_keycache *kc)
{
    if (!kc)
        return;
    for (size_t i = 0; i < KC_SHARDS; i++)
        pthread_mutex_destroy(&kc->shards[i].lock);
    free(kc);
}

static struct kc_entry *kc_slot(struct gw_keycache *kc, const uint8_t hash[RP_HASH_LEN],
                                pthread_mutex_t **lock)
{
    uint64_t word;
    memcpy(&word, hash, sizeof(word));
    size_t shard = word % KC_SHARDS, slot = (word / KC_SHARDS) % KC_SLOTS;
    *lock = &kc->shards[shard].lock;
    return &kc->shards[shard].slots[slot];
}

/* A cached lookup of the current generation, less than max_age old: true with *out filled. */
static bool kc_get_within(struct gw *gw, const uint8_t hash[RP_HASH_LEN], struct rp_key_info *out,
                          double max_age)
{
    pthread_mutex_t *lock;
    struct kc_entry *e = kc_slot(gw->keys, hash, &lock);
    uint64_t gen = atomic_load(&gw->key_generation);
    double now = gw_now();
    pthread_mutex_lock(lock);
    bool hit = e->used && e->generation == gen && now - e->at < max_age &&
               memcmp(e->hash, hash, RP_HASH_LEN) == 0;
    if (hit)
        *out = e->info;
    pthread_mutex_unlock(lock);
    return hit;
}

static bool kc_get(struct gw *gw, const uint8_t hash[RP_HASH_LEN], struct rp_key_info *out)
{
    return kc_get_within(gw, hash, out, KC_TTL);
}

/* Caches a lookup made at `at`, when the generation was gen (a ban since makes it stale). */
static void kc_put(struct gw *gw, const uint8_t hash[RP_HASH_LEN], const struct rp_key_info *info,
                   uint64_t gen, double at)
{
    pthread_mutex_t *lock;
    struct kc_entry *e = kc_slot(gw->keys, hash, &lock);
    pthread_mutex_lock(lock);
    memcpy(e->hash, hash, RP_HASH_LEN);
    e->info = *info;
    e->at = at;
    e->generation = gen;
    e->used = true;
    pthread_mutex_unlock(lock);
}

int gw_key_lookup(struct gw *gw, const uint8_t hash[RP_HASH_LEN], struct rp_key_info *out)
{
    if (kc_get(gw, hash, out))
        return RP_OK;
    uint64_t gen = atomic_load(&gw->key_generation);
    double now = gw_now();
    int rc = rp_store_key_lookup(gw->store, hash, out);
    if (rc == RP_OK)
        kc_put(gw, hash, out, gen, now);
    return rc;
}

/* SHA-256 fetched once: SHA256() looks the algorithm up again on every call, which showed in
 * the profile of the request path. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void key_hash(const char *k, size_t n, uint8_t out[RP_HASH_LEN])
{
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || !EVP_Digest(k, n, out, NULL, sha256_md, NULL))
        SHA256((const unsigned char *)k, n, out);
}

/* The key of the request's Authorization header, hashed; false (with the 401 in *no) when there
 * is none. */
static bool request_key_hash(struct gw_req *req, uint8_t h[RP_HASH_LEN], struct gw_refusal *no)
{
    const char *auth = gw_req_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        gw_refusal_set(no, 401, "invalid_request_error", "invalid_api_key",
                       "no API key: send 'Authorization: Bearer <key>' (sign up at POST "
                       "/v1/signup)");
        return false;
    }
    key_hash(auth + 7, strlen(auth + 7), h);
    return true;
}

/* Lifts a ban of escalation that has run its time (on the first request after it): true when
 * it did, with key updated. Waits on the store. */
static bool lift_expired_ban(struct gw *gw, struct rp_key_info *key)
{
    /* Its event goes in the same transaction. */
    struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                          .account_id = key->account_id,
                          .key_id = key->key_id};
    snprintf(ev.kind, sizeof(ev.kind), "unban");
    struct gw_detail d;
    gw_detail_begin(&d);
    rp_jsonw_kstr(&d.w, "code", "ban-expired");
    gw_detail_end(&d, &ev);
    if (rp_store_unban(gw->store, key->account_id, (int64_t)gw_now(), &ev) != RP_OK)
        return false;
    key->account_status = RP_ACCOUNT_ACTIVE;
    key->ban_until = 0;
    return true;
}

/* Whether the looked-up key (rc of the lookup) lets the request in (rp_key_admit); if not,
 * why in *no. */
static bool key_verdict(int rc, const struct rp_key_info *key, struct gw_refusal *no)
{
    if (rc && rc != RP_ENOTFOUND) {
        gw_refusal_set(no, 503, "server_error", "store_unavailable",
                       "the gateway cannot check keys right now; try again");
        return false;
    }
    struct rp_verdict v;
    rp_key_admit(rc ? NULL : key, (int64_t)gw_now(), &v);
    if (v.action == RP_ACTION_ALLOW)
        return true;
    gw_refusal_set(no, strcmp(v.code, "account_banned") ? 401 : 403, "invalid_request_error",
                   v.code, "%s", v.sentence);
    return false;
}

/* Calls then with the looked-up key (rc of the lookup) or with why it does not pass. */
static void admit(struct gw_worker *w, struct gw_req *req, gw_auth_fn then, int rc,
                  const struct rp_key_info *key)
{
    struct gw_refusal no;
    if (key_verdict(rc, key, &no))
        then(w, req, key, NULL);
    else
        then(w, req, NULL, &no);
}

/* Resolves the request's key waiting on the store (a loop of tests without store threads). */
static void authenticate_here(struct gw_worker *w, struct gw_req *req, gw_auth_fn then)
{
    struct gw *gw = w->gw;
    struct gw_refusal no;
    struct rp_key_info key;
    uint8_t h[RP_HASH_LEN];
    if (!request_key_hash(req, h, &no)) {
        then(w, req, NULL, &no);
        return;
    }
    int rc = gw_key_lookup(gw, h, &key);
    if (rc == RP_OK && rp_ban_expired(&key, (int64_t)gw_now()) && lift_expired_ban(gw, &key)) {
        atomic_fetch_add(&gw->key_generation, 1);
        atomic_fetch_add(&gw->m.ban_expiries, 1);
    }
    admit(w, req, then, rc, &key);
}

/* ---- Key lookups off the loop ---- */

struct auth_job {
    struct gw_job job; /* first: the executor's view */
    struct gw *gw;
    struct gw_worker *w;
    struct gw_req *req;
    gw_auth_fn then;
    uint8_t hash[RP_HASH_LEN];
    uint64_t generation; /* of the keys when the lookup was asked for */
    double at;
    /* The store thread's results. */
    int rc;
    struct rp_key_info key;
    bool unbanned;
    bool gone; /* the client left while the lookup ran */
};

static void auth_work(struct gw_job *job)
{
    struct auth_job *a = (struct auth_job *)job;
    a->rc = rp_store_key_lookup(a->gw->store, a->hash, &a->key);
    if (a->rc == RP_OK && rp_ban_expired(&a->key, (int64_t)gw_now()))
        a->unbanned = lift_expired_ban(a->gw, &a->key);
}

static void auth_done(struct gw_job *job, enum gw_job_end how)
{
    struct auth_job *a = (struct auth_job *)job;
    struct gw *gw = a->gw;
    gw_req_watch(a->req, NULL, NULL);
    if (a->gone) {
        gw_reply_abort(a->req);
        return;
    }
    struct rp_key_info stale;
    if ((how == GW_JOB_LATE || (a->rc != RP_OK && a->rc != RP_ENOTFOUND)) &&
        kc_get_within(gw, a->hash, &stale, KC_STALE_MAX) &&
        !rp_ban_expired(&stale, (int64_t)gw_now())) {
        /* The store does not answer: what it said of this key a little while ago stands. */
        admit(a->w, a->req, a->then, RP_OK, &stale);
        return;
    }
    if (how == GW_JOB_LATE) {
        struct gw_refusal no;
        gw_refusal_set(&no, 503, "server_error", "store_unavailable",
                       "the gateway cannot check keys right now (its store did not answer within "
                       "%d s); try again",
                       GW_LOOKUP_DEADLINE_MS / 1000);
        a->then(a->w, a->req, NULL, &no);
        return;
    }
    if (a->rc == RP_OK)
        kc_put(gw, a->hash, &a->key, a->generation, a->at);
    if (a->unbanned) {
        atomic_fetch_add(&gw->key_generation, 1);
        atomic_fetch_add(&gw->m.ban_expiries, 1);
    }
    admit(a->w, a->req, a->then, a->rc, &a->key);
}

static void auth_release(struct gw_job *job)
{
    free(job);
}

static const struct gw_job_ops auth_ops = {auth_work, auth_done, auth_release};

/* The client of a request waiting for its lookup left: the request ends when the lookup does. */
static void auth_event(struct gw_req *req, enum gw_req_event what, void *arg)
{
    (void)req;
    struct auth_job *a = arg;
    if (what == GW_REQ_GONE && !a->gone) {
        a->gone = true;
        atomic_fetch_add(&a->gw->m.client_aborts, 1);
    }
}

void gw_authenticate_then(struct gw_worker *w, struct gw_req *req, gw_auth_fn then)
{
    struct gw *gw = w->gw;
    struct rp_key_info key;
    struct gw_refusal no;
    if (!gw->offload || !w->inbox) {
        /* No store threads (a loop of its own, in tests): the lookup waits here. */
        authenticate_here(w, req, then);
        return;
    }
    uint8_t h[RP_HASH_LEN];
    if (!request_key_hash(req, h, &no)) {
        then(w, req, NULL, &no);
        return;
    }
    /* The fast path: a key seen in the last 2 s is answered from memory, on the loop. */
    if (kc_get(gw, h, &key) && !rp_ban_expired(&key, (int64_t)gw_now())) {
        admit(w, req, then, RP_OK, &key);
        return;
    }
    struct auth_job *a = calloc(1, sizeof(*a));
    if (!a) {
        gw_refusal_set(&no, 503, "server_error", "overloaded", "the gateway is out of memory");
        then(w, req, NULL, &no);
        return;
    }
    a->job.ops = &auth_ops;
    a->gw = gw;
    a->w = w;
    a->req = req;
    a->then = then;
    memcpy(a->hash, h, RP_HASH_LEN);
    a->generation = atomic_load(&gw->key_generation);
    a->at = gw_now();
    int rc = gw_offload_submit(gw->offload, w->inbox, &a->job, GW_LOOKUP_DEADLINE_MS, true);
    if (rc) {
        free(a);
        if (kc_get_within(gw, h, &key, KC_STALE_MAX) && !rp_ban_expired(&key, (int64_t)gw_now())) {
            admit(w, req, then, RP_OK, &key);
            return;
        }
        gw_store_refusal(gw, rc, &no);
        then(w, req, NULL, &no);
        return;
    }
    gw_req_watch(req, auth_event, a);
}
