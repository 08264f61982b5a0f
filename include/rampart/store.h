/* rampart store: the durable facts of the gateway (accounts, API keys, verification tokens,
 * bans) and its event log, behind one interface. The implementation is SQLite in WAL mode in
 * <state_dir>/rampart.db, schema versioned with migrations (PostgreSQL later, same interface).
 * Durable facts are committed before a function returns; events are queued and written by a
 * writer thread in batches, off the request path. All functions are thread-safe. */
#ifndef RAMPART_STORE_H
#define RAMPART_STORE_H

#include <jansson.h>

#include "rampart/base.h"

/* Secrets (keys, tokens) are never stored: only their SHA-256. */
#define RP_HASH_LEN 32

enum rp_account_status { RP_ACCOUNT_PENDING = 0, RP_ACCOUNT_ACTIVE, RP_ACCOUNT_BANNED };

struct rp_account {
    int64_t id;
    char email[321];
    enum rp_account_status status;
    char ban_reason[512];
    int64_t created;  /* unix seconds */
    int64_t verified; /* 0 when not yet */
    int64_t banned_at;
};

/* What an API key resolves to. */
struct rp_key_info {
    int64_t key_id;
    int64_t account_id;
    bool revoked;
    enum rp_account_status account_status;
};

struct rp_event {
    int64_t time_ms;
    int64_t account_id; /* 0 when none */
    int64_t key_id;     /* 0 when none */
    char kind[32];      /* "request", "signup", "verify", "ban", "unban", "key_created", ... */
    int status;         /* HTTP status, 0 when not a request */
    char detail[512];   /* JSON object text or a short sentence */
    int64_t prompt_tokens, completion_tokens;
};

struct rp_store;

/* Opens (creating directory, database and schema as needed) the store in state_dir. *out is
 * owned by the caller (rp_store_close, which flushes queued events). Fills err on failure. */
int rp_store_open(const char *state_dir, struct rp_store **out, struct rp_error *err);
void rp_store_close(struct rp_store *st);

/* A signup: creates the account as pending (or reuses the pending account of the same e-mail)
 * and records a verification token (its hash) that expires at `expires`. */
int rp_store_signup(struct rp_store *st, const char *email, const uint8_t token_hash[RP_HASH_LEN],
                    int64_t now, int64_t expires, int64_t *account_id);

/* Consumes a verification token: single use, refused after expiry. Activates the account.
 * RP_ENOTFOUND when the token is unknown, used or expired. */
int rp_store_verify(struct rp_store *st, const uint8_t token_hash[RP_HASH_LEN], int64_t now,
                    int64_t *account_id);

/* Records a new API key (hash and a short public prefix for display, e.g. "rp-3f9a"). */
int rp_store_key_create(struct rp_store *st, int64_t account_id,
                        const uint8_t key_hash[RP_HASH_LEN], const char *prefix, int64_t now,
                        int64_t *key_id);
/* Revokes a key of account_id; RP_ENOTFOUND when the account has no such key. */
int rp_store_key_revoke(struct rp_store *st, int64_t account_id, int64_t key_id, int64_t now);
/* Resolves a key hash; RP_ENOTFOUND when unknown. */
int rp_store_key_lookup(struct rp_store *st, const uint8_t key_hash[RP_HASH_LEN],
                        struct rp_key_info *out);

int rp_store_account_get(struct rp_store *st, int64_t id, struct rp_account *out);
/* The accounts as a JSON array of objects (id, email, status, created, verified, ban_reason,
 * keys: [{id, prefix, created, revoked}]), at most limit from offset. New reference in *out. */
int rp_store_accounts_json(struct rp_store *st, int64_t offset, int64_t limit, json_t **out);
/* One account as a JSON object (same fields); RP_ENOTFOUND. */
int rp_store_account_json(struct rp_store *st, int64_t id, json_t **out);

int rp_store_ban(struct rp_store *st, int64_t id, const char *reason, int64_t now);
int rp_store_unban(struct rp_store *st, int64_t id, int64_t now);

/* Queues an event for the writer thread; never waits for the disk. When the queue is full
 * (bounded) the event is dropped and counted (rp_store_events_dropped). */
void rp_store_event(struct rp_store *st, const struct rp_event *ev);
uint64_t rp_store_events_dropped(struct rp_store *st);
/* Writes queued events now (tests, shutdown). */
int rp_store_flush(struct rp_store *st);
/* The newest events (account_id 0: all), newest first, as a JSON array. */
int rp_store_events_json(struct rp_store *st, int64_t account_id, int64_t limit, json_t **out);

#endif
