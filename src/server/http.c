/* Replies, request bodies, client addresses and authentication shared by the handlers. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "rampart/net.h"

double gw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gw_count_status(struct gw *gw, int status)
{
    atomic_fetch_add(&gw->m.requests, 1);
    if (status >= 200 && status < 300)
        atomic_fetch_add(&gw->m.status_2xx, 1);
    else if (status >= 400 && status < 500)
        atomic_fetch_add(&gw->m.status_4xx, 1);
    else if (status >= 500)
        atomic_fetch_add(&gw->m.status_5xx, 1);
    if (status == 429)
        atomic_fetch_add(&gw->m.status_429, 1);
}

void gw_json(struct gw *gw, struct gw_req *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"the gateway is out of memory\","
                                  "\"type\":\"server_error\",\"code\":\"overloaded\"}}\n";
        gw_count_status(gw, 503);
        gw_reply(req, 503, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL makes room for the line's end */
    gw_count_status(gw, status);
    gw_reply(req, status, "application/json", text, n + 1);
    free(text);
}

void gw_error(struct gw *gw, struct gw_req *req, int status, const char *type, const char *code,
              const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err =
        json_pack("{s:{s:s, s:s, s:s?}}", "error", "message", msg, "type", type, "code", code);
    gw_json(gw, req, status, err);
}

json_t *gw_body_json(struct gw *gw, struct gw_req *req)
{
    struct rp_str in = gw_req_body(req);
    size_t len = in.len;
    const char *data = in.ptr;
    json_error_t jerr;
    json_t *j = len ? json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j) {
        gw_error(gw, req, 400, "invalid_request_error", "invalid_json",
                 "the request body is not valid JSON%s%s", len ? ": " : " (it is empty)",
                 len ? jerr.text : "");
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        gw_error(gw, req, 400, "invalid_request_error", "invalid_json",
                 "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

void gw_client_addr(struct gw *gw, struct gw_req *req, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    const struct sockaddr *sa = gw_req_peer(req);
    memcpy(out, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    bool trusted = false;
    for (size_t i = 0; i < gw->cfg->n_trusted_proxies && !trusted; i++)
        trusted = rp_cidr_contains(&gw->cfg->trusted_proxies[i], sa);
    const char *xff = gw_req_header(req, "X-Forwarded-For");
    if (trusted && xff)
        rp_forwarded_client(rp_str_from_cstr(xff), gw->cfg->trusted_proxies,
                            gw->cfg->n_trusted_proxies, out);
}

#define KC_SHARDS 16
#define KC_SLOTS 4096
#define KC_TTL 2.0

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

int gw_key_lookup(struct gw *gw, const uint8_t hash[RP_HASH_LEN], struct rp_key_info *out)
{
    struct gw_keycache *kc = gw->keys;
    uint64_t word;
    memcpy(&word, hash, sizeof(word));
    size_t shard = word % KC_SHARDS, slot = (word / KC_SHARDS) % KC_SLOTS;
    uint64_t gen = atomic_load(&gw->key_generation);
    double now = gw_now();
    pthread_mutex_lock(&kc->shards[shard].lock);
    struct kc_entry *e = &kc->shards[shard].slots[slot];
    bool hit = e->used && e->generation == gen && now - e->at < KC_TTL &&
               memcmp(e->hash, hash, RP_HASH_LEN) == 0;
    if (hit)
        *out = e->info;
    pthread_mutex_unlock(&kc->shards[shard].lock);
    if (hit)
        return RP_OK;
    int rc = rp_store_key_lookup(gw->store, hash, out);
    if (rc == RP_OK) {
        pthread_mutex_lock(&kc->shards[shard].lock);
        memcpy(e->hash, hash, RP_HASH_LEN);
        e->info = *out;
        e->at = now;
        e->generation = gen;
        e->used = true;
        pthread_mutex_unlock(&kc->shards[shard].lock);
    }
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

bool gw_authenticate(struct gw *gw, struct gw_req *req, struct rp_key_info *key)
{
    const char *auth = gw_req_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        gw_error(gw, req, 401, "invalid_request_error", "invalid_api_key",
                 "no API key: send 'Authorization: Bearer <key>' (sign up at POST /v1/signup)");
        return false;
    }
    const char *k = auth + 7;
    uint8_t h[RP_HASH_LEN];
    key_hash(k, strlen(k), h);
    int rc = gw_key_lookup(gw, h, key);
    if (rc == RP_ENOTFOUND || (rc == 0 && key->revoked)) {
        gw_error(gw, req, 401, "invalid_request_error", "invalid_api_key",
                 "the API key is not valid%s", rc == 0 ? " (it was revoked)" : "");
        return false;
    }
    if (rc) {
        gw_error(gw, req, 503, "server_error", "store_unavailable",
                 "the gateway cannot check keys right now; try again");
        return false;
    }
    if (key->account_status == RP_ACCOUNT_BANNED && key->ban_until > 0 &&
        (int64_t)gw_now() >= key->ban_until) {
        /* A ban of escalation that has run its time: lifted on the first request after it,
         * with its event in the same transaction. */
        struct rp_event ev = {.time_ms = (int64_t)(gw_now() * 1000),
                              .account_id = key->account_id,
                              .key_id = key->key_id};
        snprintf(ev.kind, sizeof(ev.kind), "unban");
        snprintf(ev.detail, sizeof(ev.detail), "{\"code\":\"ban-expired\"}");
        if (rp_store_unban(gw->store, key->account_id, (int64_t)gw_now(), &ev) == RP_OK) {
            atomic_fetch_add(&gw->key_generation, 1);
            atomic_fetch_add(&gw->m.ban_expiries, 1);
            key->account_status = RP_ACCOUNT_ACTIVE;
            key->ban_until = 0;
        }
    }
    if (key->account_status == RP_ACCOUNT_BANNED) {
        if (key->ban_until > 0)
            gw_error(gw, req, 403, "invalid_request_error", "account_banned",
                     "this account is banned for %lld more seconds after repeated refused "
                     "requests",
                     (long long)(key->ban_until - (int64_t)gw_now()));
        else
            gw_error(gw, req, 403, "invalid_request_error", "account_banned",
                     "this account is banned; contact the operator of this service");
        return false;
    }
    if (key->account_status != RP_ACCOUNT_ACTIVE) {
        gw_error(gw, req, 401, "invalid_request_error", "invalid_api_key",
                 "the account of this key is not active");
        return false;
    }
    return true;
}
