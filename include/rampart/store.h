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
    int64_t ban_until;     /* when a ban ends by itself (unix seconds); 0: it does not */
    int64_t ban_count;     /* bans that escalation has given this account, ever */
    char hold_reason[200]; /* "" unless the sign-up is held for an operator's review */
};

/* What an API key resolves to. */
struct rp_key_info {
    int64_t key_id;
    int64_t account_id;
    bool revoked;
    enum rp_account_status account_status;
    int64_t ban_until; /* of the account: 0, or when its ban ends */
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

/* Events the queue holds by default, and the writer's period when nothing wakes it sooner. */
#define RP_STORE_EVENT_QUEUE 65536
#define RP_STORE_FLUSH_MS 200
/* The most rows a listing (rp_store_accounts_json, rp_store_events_json) returns. */
#define RP_STORE_LIST_MAX 1000

struct rp_store_options {
    size_t event_queue; /* capacity of the event queue; 0: RP_STORE_EVENT_QUEUE */
    int flush_ms;       /* writer period in ms; 0: RP_STORE_FLUSH_MS */
    bool manual_flush;  /* no writer thread: events are written only by rp_store_flush (tests,
                           one-shot commands) */
};

/* Opens (creating directory, database and schema as needed) the store in state_dir. *out is
 * owned by the caller (rp_store_close, which flushes queued events). Fills err on failure.
 * state_dir and its missing parents are created with mode 0700, rampart.db with 0600. A database
 * written by a newer rampart (higher schema version) is refused with RP_EINVAL. */
int rp_store_open(const char *state_dir, struct rp_store **out, struct rp_error *err);
/* rp_store_open with options (NULL: the defaults). */
int rp_store_open_ex(const char *state_dir, const struct rp_store_options *opt,
                     struct rp_store **out, struct rp_error *err);
/* Flushes queued events, stops the writer thread and closes the database. NULL: no-op. */
void rp_store_close(struct rp_store *st);
/* The message of the latest failure of a database operation (for the log), "" when none.
 * Functions without an err parameter return RP_EIO (RP_ENOMEM, RP_EINVAL on a constraint) and
 * leave the reason here. */
void rp_store_last_error(struct rp_store *st, struct rp_error *err);

/* A signup: creates the account as pending (or reuses the pending account of the same e-mail)
 * and records a verification token (its hash) that expires at `expires`; the account's earlier
 * tokens stay valid until they expire. E-mails compare ASCII case-insensitively; at most 320
 * bytes (RP_EINVAL). When the e-mail belongs to an active or banned account, nothing changes and
 * no token is recorded, but the result is still RP_OK with *account_id set: callers look the
 * e-mail up first (rp_store_account_by_email) to decide what to tell the person. */
int rp_store_signup(struct rp_store *st, const char *email, const uint8_t token_hash[RP_HASH_LEN],
                    int64_t now, int64_t expires, int64_t *account_id);

/* Consumes a verification token: single use, refused after expiry (now >= expires). Activates a
 * pending account and sets its verified time; a banned account stays banned (but counts as
 * verified once unbanned). RP_ENOTFOUND when the token is unknown, used or expired. */
int rp_store_verify(struct rp_store *st, const uint8_t token_hash[RP_HASH_LEN], int64_t now,
                    int64_t *account_id);

/* Records a new API key (hash and a short public prefix for display, e.g. "rp-3f9a", at most
 * 64 bytes: RP_ETOOBIG). RP_ENOTFOUND when the account does not exist, RP_EINVAL when the hash
 * is already recorded. The store applies no policy: callers check the account's status. */
int rp_store_key_create(struct rp_store *st, int64_t account_id,
                        const uint8_t key_hash[RP_HASH_LEN], const char *prefix, int64_t now,
                        int64_t *key_id);
/* Revokes a key of account_id; RP_ENOTFOUND when the account has no such key. Revoking a
 * revoked key succeeds and keeps the first revocation time. */
int rp_store_key_revoke(struct rp_store *st, int64_t account_id, int64_t key_id, int64_t now);
/* Resolves a key hash; RP_ENOTFOUND when unknown. */
int rp_store_key_lookup(struct rp_store *st, const uint8_t key_hash[RP_HASH_LEN],
                        struct rp_key_info *out);
/* The number of keys of account_id that are not revoked (0 for an unknown account). */
int rp_store_key_count(struct rp_store *st, int64_t account_id, int64_t *n);

/* RP_ENOTFOUND when there is no such account. */
int rp_store_account_get(struct rp_store *st, int64_t id, struct rp_account *out);
/* The account of an e-mail (compared as in rp_store_signup); RP_ENOTFOUND when none. */
int rp_store_account_by_email(struct rp_store *st, const char *email, struct rp_account *out);
/* The accounts, oldest first, as a JSON array of objects (id, email, status: "pending" |
 * "active" | "banned", created, verified, banned_at, ban_reason, ban_until, ban_count, keys: [{id,
 * prefix, created, revoked}]), at most limit (capped at RP_STORE_LIST_MAX) from offset. Times are
 * unix seconds, 0 for never; hashes are never included. New reference in *out. */
int rp_store_accounts_json(struct rp_store *st, int64_t offset, int64_t limit, json_t **out);
/* One account as a JSON object (same fields); RP_ENOTFOUND. */
int rp_store_account_json(struct rp_store *st, int64_t id, json_t **out);

/* Bans an account (again: the newer reason and time replace the older). reason: at most 511
 * bytes (RP_ETOOBIG), NULL for none. RP_ENOTFOUND when there is no such account. */
int rp_store_ban(struct rp_store *st, int64_t id, const char *reason, int64_t now);
/* A ban that ends by itself at `until` (unix seconds), counted in the account's ban_count (an
 * escalation's ban; rp_store_ban, an operator's, is permanent and not counted). */
int rp_store_ban_until(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                       int64_t until);
/* Holds a pending account's sign-up for review (reason: a screening code and sentence, at most
 * 199 bytes); RP_ENOTFOUND when no pending account has that id. */
int rp_store_hold(struct rp_store *st, int64_t id, const char *reason);
/* Ends a hold; RP_ENOTFOUND when the account is not held. */
int rp_store_hold_release(struct rp_store *st, int64_t id);
/* The ids of held accounts, oldest first, at most cap. */
int rp_store_holds(struct rp_store *st, int64_t *ids, size_t cap, size_t *n);
/* A banned account that signed up from net: its id in *id, or RP_ENOTFOUND. */
int rp_store_banned_by_signup_net(struct rp_store *st, const char *net, int64_t *id);
/* Records what screening links later sign-ups by: the normalised address of an account
 * (rp_email_key; NULL or "" for none) and the client network it signed up from (rp_net_key). */
int rp_store_set_screening(struct rp_store *st, int64_t id, const char *email_key, const char *net);
/* A banned account whose normalised address is key: its id in *id, or RP_ENOTFOUND. */
int rp_store_banned_by_email_key(struct rp_store *st, const char *key, int64_t *id);
/* Lifts a ban: the account returns to active when it was verified, else to pending. Unbanning
 * an account that is not banned changes nothing. RP_ENOTFOUND when there is no such account. */
int rp_store_unban(struct rp_store *st, int64_t id, int64_t now);

/* Queues (copies) an event for the writer thread; never waits for the disk. When the queue is
 * full (bounded) the event is dropped and counted (rp_store_events_dropped). The writer writes
 * what is queued, in one transaction, every flush_ms or sooner when the queue fills up. */
void rp_store_event(struct rp_store *st, const struct rp_event *ev);
/* Events lost so far: dropped on a full queue, or in a batch whose write failed. */
uint64_t rp_store_events_dropped(struct rp_store *st);
/* Writes queued events now (tests, shutdown): when it returns, every event queued before the
 * call is in the database. RP_EIO when a batch could not be written (its events are lost). */
int rp_store_flush(struct rp_store *st);
/* Calls fn(arg, account_id, time_ms) for every soft_block event at or after since_ms, oldest
 * first (escalation rebuilds its windows from them at start-up). fn must not call the store.
 * RP_EIO when the query fails. */
typedef void rp_store_soft_block_fn(void *arg, int64_t account_id, int64_t time_ms);
int rp_store_soft_blocks(struct rp_store *st, int64_t since_ms, rp_store_soft_block_fn *fn,
                         void *arg);
/* The newest events (account_id 0: all), newest first, as a JSON array of objects (id,
 * time_ms, account_id, key_id, kind, status, detail, prompt_tokens, completion_tokens); detail
 * is an object when its text is a JSON object, else a string. At most limit (capped at
 * RP_STORE_LIST_MAX). New reference in *out. */
int rp_store_events_json(struct rp_store *st, int64_t account_id, int64_t limit, json_t **out);

#endif
