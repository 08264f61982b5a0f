/* rampart store: the durable facts of the gateway (accounts, API keys, verification tokens,
 * bans) and its event log, behind one interface. The implementation is SQLite in WAL mode in
 * <state_dir>/rampart.db, schema versioned with migrations (PostgreSQL later, same interface).
 * Durable facts are committed, with the events that tell them, before a function returns;
 * other events are queued and written by a writer thread in batches, off the request path. All
 * functions are thread-safe. */
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
    int64_t ban_count; /* of the account: bans escalation gave it, ever */
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

/* Failures of database operations since the store was opened, by kind, for the log and the
 * metrics. full: the disk is full; io: reading or writing failed (an I/O error, corruption, a
 * read-only or unopenable file); busy: the database stayed locked past the busy timeout; other:
 * anything else. A constraint (an input the schema refuses) is no failure. */
struct rp_store_failures {
    uint64_t full, io, busy, other;
    int64_t last_ms; /* when the latest happened (unix milliseconds), 0 when none */
    char last[256];  /* its message, with SQLite's name of it: "'<path>': ... (disk I/O error)" */
    /* When the oldest write now in progress of the event writer or of rp_store_probe began
     * (unix milliseconds), 0 when none: a write that does not come back (a frozen disk) is a
     * stall that no failure reports. */
    int64_t writing_since_ms;
};
void rp_store_failures(struct rp_store *st, struct rp_store_failures *out);
/* Proves that the database takes writes now: one row (of the health table) rewritten and
 * committed with a sync to the disk, on a connection of its own that waits at most 1 s for the
 * write lock. RP_OK, or RP_EIO (counted in rp_store_failures). It may block as long as the disk
 * does: call it off any loop. */
int rp_store_probe(struct rp_store *st, int64_t now);

/* Durable facts and their audit rows. Every function below that records a fact takes ev, the
 * event that tells it (NULL: none), and writes it in the same SQLite transaction as the fact:
 * both are committed or neither is, so a crash never leaves a ban, a key or a verification
 * without its event. The store sets the event's account_id to the account of the fact (and its
 * key_id where the store makes the key); the rest is the caller's. A call that changes nothing
 * (unbanning an account that is not banned, revoking a revoked key) writes no event. These
 * events are in the log at once, not after the writer's next batch, so their ids may come
 * before those of queued events that happened earlier: order by time_ms for a timeline. */

/* A first sign-up (rp_store_signup). */
struct rp_signup {
    const char *email;     /* compared ASCII case-insensitively; at most 320 bytes (RP_EINVAL) */
    const char *email_key; /* its normalised form (rp_email_key), NULL or "" for none */
    const char *net;       /* the client network it came from (rp_net_key), NULL or "" */
    const char *hold;      /* NULL, or why it is held for an operator's review (at most 199
                              bytes, RP_EINVAL): then no token is recorded */
    const uint8_t *token_hash; /* the link's token (RP_HASH_LEN bytes), unless held */
    int64_t now, expires;      /* the token is refused from `expires` on */
    const struct rp_event *ev;
};

/* Creates the pending account of a first sign-up with what screening links later sign-ups by
 * (email_key, net), and either its verification token or its hold, and ev. When the e-mail
 * already has an account nothing is recorded: *created is false and *account_id is that
 * account (callers look the address up first, rp_store_account_by_email; this settles a race of
 * two sign-ups). A token hash is recorded once (RP_EINVAL). */
int rp_store_signup(struct rp_store *st, const struct rp_signup *in, int64_t *account_id,
                    bool *created);

/* The day over which rp_store_resend counts the tokens of an account. */
#define RP_STORE_RESEND_PERIOD 86400

/* A fresh link for an account that exists (a repeated sign-up): records token_hash for a
 * pending account that is not held, or an active one (also one whose ban of escalation has run
 * out), unless its last token was recorded less than `gap` seconds before now or `max` were in
 * the RP_STORE_RESEND_PERIOD before now. *sent says whether it was recorded, with ev. Expired
 * tokens older than the period are dropped here. RP_ENOTFOUND when there is no such account. */
int rp_store_resend(struct rp_store *st, int64_t account_id, const uint8_t token_hash[RP_HASH_LEN],
                    int64_t now, int64_t expires, int64_t gap, int max, const struct rp_event *ev,
                    bool *sent);

/* What rp_store_verify did. */
struct rp_verified {
    int64_t account_id;
    int64_t key_id;                /* the key it made; 0 when it made none */
    enum rp_account_status status; /* the account's status after the call */
    bool held;                     /* the sign-up is held for review: nothing was done */
    bool again;                    /* the account was verified before: the key is one more */
};

/* Uses a verification token: refused after expiry (now >= expires) and once used. In one
 * transaction a pending account becomes active (verified now), an active one keeps its keys, and
 * either gets a new API key (key_hash and prefix as rp_store_key_create), with ev (the
 * verification) and key_ev (the key). Using a token spends every other unused token of the
 * account. A banned account (whose ban still runs) or a held sign-up gets nothing: no key, the
 * token stays unused, out->status or out->held says why, and the result is RP_OK with
 * out->key_id 0. RP_ENOTFOUND when the token is unknown, used or expired; RP_EINVAL when the
 * key hash is already recorded. */
int rp_store_verify(struct rp_store *st, const uint8_t token_hash[RP_HASH_LEN], int64_t now,
                    const uint8_t key_hash[RP_HASH_LEN], const char *prefix,
                    const struct rp_event *ev, const struct rp_event *key_ev,
                    struct rp_verified *out);

/* Records a new API key (hash and a short public prefix for display, e.g. "rp-3f9a", at most
 * 64 bytes: RP_ETOOBIG), with ev (its key_id set to the new key). RP_ENOTFOUND when the account
 * does not exist, RP_EINVAL when the hash is already recorded. The store applies no policy:
 * callers check the account's status. */
int rp_store_key_create(struct rp_store *st, int64_t account_id,
                        const uint8_t key_hash[RP_HASH_LEN], const char *prefix, int64_t now,
                        const struct rp_event *ev, int64_t *key_id);
/* Revokes a key of account_id, with ev; RP_ENOTFOUND when the account has no such key.
 * Revoking a revoked key succeeds, keeps the first revocation time and writes no event. */
int rp_store_key_revoke(struct rp_store *st, int64_t account_id, int64_t key_id, int64_t now,
                        const struct rp_event *ev);
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

/* Bans an account (again: the newer reason and time replace the older), with ev. reason: at
 * most 511 bytes (RP_ETOOBIG), NULL for none. RP_ENOTFOUND when there is no such account. */
int rp_store_ban(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                 const struct rp_event *ev);
/* A ban that ends by itself at `until` (unix seconds), counted in the account's ban_count (an
 * escalation's ban; rp_store_ban, an operator's, is permanent and not counted). */
int rp_store_ban_until(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                       int64_t until, const struct rp_event *ev);
/* Lifts a ban, with ev: the account returns to active when it was verified, else to pending.
 * Unbanning an account that is not banned changes nothing and writes no event. RP_ENOTFOUND
 * when there is no such account. */
int rp_store_unban(struct rp_store *st, int64_t id, int64_t now, const struct rp_event *ev);
/* An operator's approval of a held sign-up: ends the hold and records token_hash (refused from
 * `expires` on) for the link of its mail, with ev. RP_ENOTFOUND when the account is not held. */
int rp_store_hold_approve(struct rp_store *st, int64_t id, const uint8_t token_hash[RP_HASH_LEN],
                          int64_t now, int64_t expires, const struct rp_event *ev);
/* An operator's rejection of a held sign-up: ends the hold and bans the account for good with
 * reason (as rp_store_ban), with ev. RP_ENOTFOUND when the account is not held. */
int rp_store_hold_reject(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                         const struct rp_event *ev);
/* The ids of held accounts, oldest first, at most cap. */
int rp_store_holds(struct rp_store *st, int64_t *ids, size_t cap, size_t *n);

/* Screening. Only verified accounts link a sign-up by its address: an address anyone can type
 * must not let one person's unverified sign-up, or an account banned before it verified, stand
 * in another's way. */
/* A banned account that signed up from net, while its ban runs at now: its id in *id, or
 * RP_ENOTFOUND. */
int rp_store_banned_by_signup_net(struct rp_store *st, const char *net, int64_t now, int64_t *id);
/* A verified account, banned while its ban runs at now, whose normalised address is key: its
 * id in *id, or RP_ENOTFOUND. */
int rp_store_banned_by_email_key(struct rp_store *st, const char *key, int64_t now, int64_t *id);
/* Another verified account (not email) whose normalised address is key, verified at or after
 * since: its id in *id, or RP_ENOTFOUND. */
int rp_store_lookalike_verified(struct rp_store *st, const char *key, const char *email,
                                int64_t since, int64_t *id);

/* Queues (copies) an event for the writer thread; never waits for the disk. When the queue is
 * full (bounded) the event is dropped and counted (rp_store_events_dropped). The writer writes
 * what is queued, in one transaction, every flush_ms or sooner when the queue fills up. */
void rp_store_event(struct rp_store *st, const struct rp_event *ev);
/* Events lost so far: dropped on a full queue, or in a batch whose write failed. */
uint64_t rp_store_events_dropped(struct rp_store *st);
/* Writes queued events now (tests, shutdown): when it returns, every event queued before the
 * call is in the database. RP_EIO when a batch could not be written (its events are lost). */
int rp_store_flush(struct rp_store *st);
/* Calls fn(arg, account_id, time_ms, weight) for every soft_block event at or after since_ms,
 * oldest first (escalation rebuilds its windows from them at start-up); weight is the "weight" of
 * its JSON detail, 1 when it has none. fn must not call the store. RP_EIO when the query
 * fails. */
typedef void rp_store_soft_block_fn(void *arg, int64_t account_id, int64_t time_ms, double weight);
int rp_store_soft_blocks(struct rp_store *st, int64_t since_ms, rp_store_soft_block_fn *fn,
                         void *arg);
/* The newest events (account_id 0: all), newest first, as a JSON array of objects (id,
 * time_ms, account_id, key_id, kind, status, detail, prompt_tokens, completion_tokens); detail
 * is an object when its text is a JSON object, else a string. At most limit (capped at
 * RP_STORE_LIST_MAX). New reference in *out. */
int rp_store_events_json(struct rp_store *st, int64_t account_id, int64_t limit, json_t **out);

#endif
