/* rampart store on SQLite: durable facts, with the events that tell them, through one
 * mutex-guarded connection committed with synchronous=FULL; other events through a second
 * connection fed by a bounded queue and a writer thread. Schema versioned by PRAGMA
 * user_version with ordered migrations. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rampart/store.h"

/* Migration i takes the schema from version i to i + 1; append, never edit a released step. */
static const char *const migrations[] = {
    "CREATE TABLE accounts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'banned')),"
    " created INTEGER NOT NULL,"
    " verified INTEGER NOT NULL DEFAULT 0,"
    " banned_at INTEGER NOT NULL DEFAULT 0,"
    " ban_reason TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE verify_tokens ("
    " hash BLOB PRIMARY KEY CHECK (length(hash) = 32),"
    " account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX verify_tokens_account ON verify_tokens(account_id);"
    "CREATE TABLE api_keys ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    " prefix TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_account ON api_keys(account_id);"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " account_id INTEGER NOT NULL DEFAULT 0,"
    " key_id INTEGER NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " detail TEXT NOT NULL DEFAULT '',"
    " prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " completion_tokens INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX events_account ON events(account_id, id);",
    /* 2: bans that end (escalation), and how many an account has had. */
    "ALTER TABLE accounts ADD COLUMN ban_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN ban_count INTEGER NOT NULL DEFAULT 0;",
    /* 3: the normalised address of each account, to link new sign-ups to banned accounts. */
    "ALTER TABLE accounts ADD COLUMN email_key TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX accounts_email_key ON accounts(email_key);",
    /* 4: sign-ups held for an operator's review. */
    "ALTER TABLE accounts ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';",
    /* 5: the client network an account signed up from, to link later sign-ups to bans. */
    "ALTER TABLE accounts ADD COLUMN signup_net TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX accounts_signup_net ON accounts(signup_net);",
    /* 6: soft-blocks by time, for the escalation windows a restart rebuilds (partial: the
     * request events that are most of the table do not pay for it). */
    "CREATE INDEX events_soft_blocks ON events(time_ms) WHERE kind = 'soft_block';",
    /* 7: when each verification token was made, to bound the links a repeated sign-up sends. */
    "ALTER TABLE verify_tokens ADD COLUMN created INTEGER NOT NULL DEFAULT 0;",
    /* 8: the row the health probe writes (rp_store_probe): proof that the database takes
     * writes now, without touching a fact. */
    "CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at INTEGER NOT NULL);"
    "INSERT INTO health (id, probed_at) VALUES (1, 0);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define ACCOUNT_COLS                                                                               \
    "id, email, status, created, verified, banned_at, ban_reason, ban_until, ban_count, "          \
    "hold_reason"

/* Events are written by both connections: in batches by the event writer, and inside the
 * transaction of the durable fact they tell. */
#define EVENT_INSERT                                                                               \
    "INSERT INTO events (time_ms, account_id, key_id, kind, status, detail, prompt_tokens,"        \
    " completion_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"

/* Statements of the durable connection, prepared on first use and kept until close. */
enum q {
    Q_ACCOUNT_BY_EMAIL,
    Q_ACCOUNT_BY_ID,
    Q_ACCOUNT_INSERT,
    Q_ACCOUNT_LIST,
    Q_TOKEN_PRUNE,
    Q_TOKEN_INSERT,
    Q_TOKEN_GET,
    Q_TOKEN_SPEND,
    Q_TOKEN_STATS,
    Q_ACCOUNT_ACTIVATE,
    Q_KEY_INSERT,
    Q_KEY_REVOKE,
    Q_KEY_EXISTS,
    Q_KEY_LOOKUP,
    Q_KEY_COUNT,
    Q_KEY_LIST,
    Q_BAN,
    Q_UNBAN,
    Q_EVENTS_ALL,
    Q_EVENTS_ACCOUNT,
    Q_SOFT_BLOCKS,
    Q_BANNED_BY_KEY,
    Q_LOOKALIKE,
    Q_HOLD_RELEASE,
    Q_HOLD_LIST,
    Q_BANNED_BY_NET,
    Q_EVENT_INSERT,
    Q_COUNT
};

static const char *const q_sql[Q_COUNT] = {
    [Q_ACCOUNT_BY_EMAIL] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE email = ?1",
    [Q_ACCOUNT_BY_ID] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
    [Q_ACCOUNT_INSERT] = "INSERT INTO accounts (email, status, created, email_key, signup_net,"
                         " hold_reason) VALUES (?1, 'pending', ?2, ?3, ?4, ?5)",
    [Q_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id LIMIT ?1 OFFSET ?2",
    /* Expired tokens are useless but for counting the links of the last period. */
    [Q_TOKEN_PRUNE] = "DELETE FROM verify_tokens WHERE account_id = ?1 AND expires <= ?2"
                      " AND created <= ?3",
    [Q_TOKEN_INSERT] = "INSERT INTO verify_tokens (hash, account_id, expires, created)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [Q_TOKEN_GET] = "SELECT account_id FROM verify_tokens"
                    " WHERE hash = ?1 AND used = 0 AND expires > ?2",
    [Q_TOKEN_SPEND] = "UPDATE verify_tokens SET used = ?2 WHERE account_id = ?1 AND used = 0",
    [Q_TOKEN_STATS] = "SELECT count(*), coalesce(max(created), 0) FROM verify_tokens"
                      " WHERE account_id = ?1 AND created > ?2",
    [Q_ACCOUNT_ACTIVATE] =
        "UPDATE accounts SET verified = CASE WHEN verified = 0 THEN ?2 ELSE verified END,"
        " status = CASE WHEN status = 'pending' THEN 'active' ELSE status END WHERE id = ?1",
    [Q_KEY_INSERT] = "INSERT INTO api_keys (account_id, hash, prefix, created)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [Q_KEY_REVOKE] = "UPDATE api_keys SET revoked = ?3"
                     " WHERE id = ?2 AND account_id = ?1 AND revoked = 0",
    [Q_KEY_EXISTS] = "SELECT 1 FROM api_keys WHERE id = ?2 AND account_id = ?1",
    [Q_KEY_LOOKUP] = "SELECT k.id, k.account_id, k.revoked, a.status, a.ban_until, a.ban_count"
                     " FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?1",
    [Q_KEY_COUNT] = "SELECT count(*) FROM api_keys WHERE account_id = ?1 AND revoked = 0",
    [Q_KEY_LIST] = "SELECT id, prefix, created, revoked FROM api_keys"
                   " WHERE account_id = ?1 ORDER BY id",
    [Q_BAN] = "UPDATE accounts SET status = 'banned', banned_at = ?2, ban_reason = ?3,"
              " ban_until = ?4, ban_count = ban_count + ?5 WHERE id = ?1",
    [Q_UNBAN] = "UPDATE accounts SET status = CASE WHEN verified > 0 THEN 'active' ELSE 'pending'"
                " END, banned_at = 0, ban_reason = '', ban_until = 0"
                " WHERE id = ?1 AND status = 'banned'",
    [Q_HOLD_RELEASE] = "UPDATE accounts SET hold_reason = '' WHERE id = ?1 AND hold_reason != ''",
    [Q_HOLD_LIST] = "SELECT id FROM accounts WHERE hold_reason != '' ORDER BY id LIMIT ?1",
    [Q_BANNED_BY_NET] = "SELECT id FROM accounts WHERE signup_net = ?1 AND signup_net != ''"
                        " AND status = 'banned' AND (ban_until = 0 OR ban_until > ?2)"
                        " ORDER BY id LIMIT 1",
    [Q_BANNED_BY_KEY] = "SELECT id FROM accounts WHERE email_key = ?1 AND email_key != ''"
                        " AND verified > 0 AND status = 'banned'"
                        " AND (ban_until = 0 OR ban_until > ?2) ORDER BY id LIMIT 1",
    [Q_LOOKALIKE] = "SELECT id FROM accounts WHERE email_key = ?1 AND email_key != ''"
                    " AND verified > 0 AND verified >= ?3 AND email != ?2 ORDER BY id LIMIT 1",
    [Q_EVENT_INSERT] = EVENT_INSERT,
    [Q_EVENTS_ALL] = "SELECT id, time_ms, account_id, key_id, kind, status, detail,"
                     " prompt_tokens, completion_tokens FROM events ORDER BY id DESC LIMIT ?2",
    [Q_EVENTS_ACCOUNT] = "SELECT id, time_ms, account_id, key_id, kind, status, detail,"
                         " prompt_tokens, completion_tokens FROM events WHERE account_id = ?1"
                         " ORDER BY id DESC LIMIT ?2",
    /* A soft-block weighs 1 unless its detail says otherwise ("weight", docs/abuse.md). */
    [Q_SOFT_BLOCKS] = "SELECT account_id, time_ms, CASE WHEN json_valid(detail) THEN"
                      " coalesce(json_extract(detail, '$.weight'), 1) ELSE 1 END"
                      " FROM events WHERE kind = 'soft_block' AND time_ms >= ?1"
                      " ORDER BY time_ms, id",
};

/* Events the writer copies out of the queue at a time, and the most in one transaction (so a
 * flood cannot hold the write lock against durable writes for long). */
#define BATCH 256
#define TX_MAX 16384
/* A writer waits for the disk this long before a write counts as failed. */
#define BUSY_MS 5000
/* The probe waits less for the write lock: it answers "is the store writable now?". */
#define PROBE_BUSY_MS 1000

struct rp_store {
    char path[PATH_MAX];

    /* The durable connection and its statements: one user at a time. */
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];

    /* The event connection: one writer at a time (the writer thread or rp_store_flush), which
     * keeps events in queue order and lets a flush know every earlier batch is written. */
    pthread_mutex_t write_mu;
    sqlite3 *edb;
    sqlite3_stmt *ins;
    struct rp_event *batch;

    /* The queue, a ring of cap events; guarded by qmu with the fields below. */
    pthread_mutex_t qmu;
    pthread_cond_t wake;
    struct rp_event *ring;
    size_t cap, head, count, kick_at;
    uint64_t dropped;
    bool kick, stop, has_thread;
    pthread_t thread;
    int flush_ms;

    /* The probe's connection and statement (rp_store_probe). */
    pthread_mutex_t probe_mu;
    sqlite3 *pdb;
    sqlite3_stmt *probe;

    /* When the write in progress of the event writer and of the probe began (unix ms), 0 when
     * none: a write that does not come back is a stall no error reports. */
    atomic_int_fast64_t drain_since_ms, probe_since_ms;

    pthread_mutex_t err_mu;
    struct rp_error last_err;
    /* Failures by kind (rp_store_failures), and the latest: guarded by err_mu. */
    uint64_t failures[4];
    int64_t failure_ms;
    struct rp_error failure;
};

enum { FAIL_FULL, FAIL_IO, FAIL_BUSY, FAIL_OTHER };

/* The store's own bookkeeping of its operations (when a write began, when one failed, for
 * rp_store_failures and the health check's stall detection) is a measurement of its own work,
 * like a timeout, and reads the clock here; every fact it stores or decides on (bans running,
 * tokens expiring, windows) is about the `now` its caller passes. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The kind of a failure of SQLite, or -1 when it is no failure of the store (a constraint: the
 * input was refused). */
static int failure_kind(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return -1;
    case SQLITE_FULL: return FAIL_FULL;
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL: return FAIL_IO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return FAIL_BUSY;
    default: return FAIL_OTHER;
    }
}

/* Records a database failure of db for rp_store_last_error and maps it to an RP_E* code. */
static int db_fail(struct rp_store *st, sqlite3 *db, int rc)
{
    int kind = failure_kind(rc);
    int64_t t = wall_ms();
    pthread_mutex_lock(&st->err_mu);
    rp_error_set(&st->last_err, "'%s': %s", st->path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (kind >= 0) {
        st->failures[kind]++;
        st->failure_ms = t;
        /* SQLite's text of the code, when the message does not say it already. */
        const char *what = sqlite3_errstr(rc);
        if (strstr(st->last_err.msg, what))
            rp_error_set(&st->failure, "%s", st->last_err.msg);
        else
            rp_error_set(&st->failure, "%s (%s)", st->last_err.msg, what);
    }
    pthread_mutex_unlock(&st->err_mu);
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return RP_ENOMEM;
    case SQLITE_CONSTRAINT: return RP_EINVAL;
    default: return RP_EIO;
    }
}

void rp_store_failures(struct rp_store *st, struct rp_store_failures *out)
{
    pthread_mutex_lock(&st->err_mu);
    out->full = st->failures[FAIL_FULL];
    out->io = st->failures[FAIL_IO];
    out->busy = st->failures[FAIL_BUSY];
    out->other = st->failures[FAIL_OTHER];
    out->last_ms = st->failure_ms;
    snprintf(out->last, sizeof(out->last), "%s", st->failure.msg);
    pthread_mutex_unlock(&st->err_mu);
    int64_t d = atomic_load(&st->drain_since_ms), p = atomic_load(&st->probe_since_ms);
    out->writing_since_ms = d && (!p || d < p) ? d : p;
}

void rp_store_last_error(struct rp_store *st, struct rp_error *err)
{
    if (!err)
        return;
    pthread_mutex_lock(&st->err_mu);
    rp_error_set(err, "%s", st->last_err.msg);
    pthread_mutex_unlock(&st->err_mu);
}

/* The statement id of the durable connection, reset and unbound; caller holds st->mu. */
static int q_get(struct rp_store *st, enum q id, sqlite3_stmt **out)
{
    if (!st->q[id]) {
        int rc =
            sqlite3_prepare_v3(st->db, q_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->q[id], NULL);
        if (rc != SQLITE_OK)
            return db_fail(st, st->db, rc);
    }
    *out = st->q[id];
    return RP_OK;
}

/* Makes a statement ready for its next use; NULL is a no-op. */
static void q_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Runs a statement that returns no rows. */
static int q_run(struct rp_store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, sqlite3_db_handle(s), rc);
    return RP_OK;
}

/* Steps a query: 1 with a row, 0 when done, negative RP_E* on failure. */
static int q_row(struct rp_store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(st, sqlite3_db_handle(s), rc);
}

static int exec(struct rp_store *st, sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, db, rc);
    return RP_OK;
}

/* Write transactions take the write lock up front: a deferred one that reads first can fail
 * with SQLITE_BUSY on upgrade without the busy handler ever waiting. */
static int tx_begin(struct rp_store *st, sqlite3 *db)
{
    return exec(st, db, "BEGIN IMMEDIATE");
}

/* Commits when result is RP_OK, else rolls back; returns the outcome. */
static int tx_end(struct rp_store *st, sqlite3 *db, int result)
{
    if (result == RP_OK)
        result = exec(st, db, "COMMIT");
    if (result != RP_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return result;
}

static const char *status_name(enum rp_account_status s)
{
    switch (s) {
    case RP_ACCOUNT_ACTIVE: return "active";
    case RP_ACCOUNT_BANNED: return "banned";
    default: return "pending";
    }
}

static enum rp_account_status status_parse(const unsigned char *s)
{
    if (s && strcmp((const char *)s, "active") == 0)
        return RP_ACCOUNT_ACTIVE;
    if (s && strcmp((const char *)s, "banned") == 0)
        return RP_ACCOUNT_BANNED;
    return RP_ACCOUNT_PENDING;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* Fills out from a row of ACCOUNT_COLS. */
static void account_from_row(sqlite3_stmt *s, struct rp_account *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(s, 0);
    copy_text(out->email, sizeof(out->email), sqlite3_column_text(s, 1));
    out->status = status_parse(sqlite3_column_text(s, 2));
    out->created = sqlite3_column_int64(s, 3);
    out->verified = sqlite3_column_int64(s, 4);
    out->banned_at = sqlite3_column_int64(s, 5);
    copy_text(out->ban_reason, sizeof(out->ban_reason), sqlite3_column_text(s, 6));
    out->ban_until = sqlite3_column_int64(s, 7);
    out->ban_count = sqlite3_column_int64(s, 8);
    copy_text(out->hold_reason, sizeof(out->hold_reason), sqlite3_column_text(s, 9));
}

/* mkdir -p, each created directory with mode 0700. */
static int make_dirs(const char *dir, struct rp_error *err)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        rp_error_set(err, "state directory '%s': bad length", dir);
        return RP_EINVAL;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            rp_error_set(err, "unable to create '%s': %s", path, strerror(errno));
            return RP_EIO;
        }
        path[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rp_error_set(err, "state directory '%s' is not a directory", dir);
        return RP_EIO;
    }
    return RP_OK;
}

/* Opens one connection to the database with the pragmas every connection needs. */
static int db_open(struct rp_store *st, int synchronous_full, sqlite3 **out, struct rp_error *err)
{
    int result = RP_OK;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(
        st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        result = rc == SQLITE_NOMEM ? RP_ENOMEM : RP_EIO;
        rp_error_set(err, "unable to open '%s': %s", st->path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_MS);
    /* journal_mode answers with the mode in effect, which is not WAL when it could not be set
     * (e.g. a file system without shared memory). */
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        result = RP_EIO;
        rp_error_set(err, "unable to open '%s': %s", st->path, sqlite3_errmsg(db));
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        result = RP_EIO;
        rp_error_set(err, "unable to use write-ahead logging on '%s' (journal mode '%s')", st->path,
                     mode ? (const char *)mode : "");
        goto out;
    }
    /* FULL syncs the log at each commit: a durable fact survives a crash of the machine, not
     * only of the process. Events may lose their last batch on power loss (NORMAL). */
    rc = sqlite3_exec(db,
                      synchronous_full ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"
                                       : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        result = RP_EIO;
        rp_error_set(err, "unable to open '%s': %s", st->path, sqlite3_errmsg(db));
        goto out;
    }
out:
    sqlite3_finalize(s);
    if (result != RP_OK) {
        sqlite3_close(db);
        db = NULL;
    }
    *out = db;
    return result;
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Brings the schema to SCHEMA_VERSION, one transaction per step; the version is read inside
 * the transaction so that two processes opening at once do not apply a step twice. */
static int migrate(struct rp_store *st, struct rp_error *err)
{
    for (;;) {
        int v = 0;
        int result = tx_begin(st, st->db);
        if (result == RP_OK && user_version(st->db, &v) != SQLITE_OK)
            result = db_fail(st, st->db, sqlite3_errcode(st->db));
        if (result != RP_OK) {
            tx_end(st, st->db, result);
            rp_error_set(err, "unable to read the schema version of %s", st->last_err.msg);
            return result;
        }
        if (v < 0) {
            tx_end(st, st->db, RP_EINVAL);
            rp_error_set(err, "database '%s' has an invalid schema version %d", st->path, v);
            return RP_EINVAL;
        }
        if (v > SCHEMA_VERSION) {
            tx_end(st, st->db, RP_EINVAL);
            rp_error_set(err,
                         "database '%s' has schema version %d, newer than this rampart's %d: "
                         "upgrade rampart",
                         st->path, v, SCHEMA_VERSION);
            return RP_EINVAL;
        }
        if (v == SCHEMA_VERSION)
            return tx_end(st, st->db, RP_OK);
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        result = exec(st, st->db, migrations[v]);
        if (result == RP_OK)
            result = exec(st, st->db, sql);
        result = tx_end(st, st->db, result);
        if (result != RP_OK) {
            rp_error_set(err, "unable to migrate to schema version %d: %s", v + 1,
                         st->last_err.msg);
            return result;
        }
    }
}

/* Moves up to max events from the queue head into dst; returns how many. */
static size_t take(struct rp_store *st, struct rp_event *dst, size_t max)
{
    pthread_mutex_lock(&st->qmu);
    size_t n = st->count < max ? st->count : max;
    for (size_t i = 0; i < n; i++) {
        dst[i] = st->ring[st->head];
        st->head = (st->head + 1) % st->cap;
    }
    st->count -= n;
    pthread_mutex_unlock(&st->qmu);
    return n;
}

/* Writes ev with the insert statement s (of either connection). */
static int event_insert(struct rp_store *st, sqlite3_stmt *s, const struct rp_event *ev)
{
    sqlite3_bind_int64(s, 1, ev->time_ms);
    sqlite3_bind_int64(s, 2, ev->account_id);
    sqlite3_bind_int64(s, 3, ev->key_id);
    sqlite3_bind_text(s, 4, ev->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, ev->status);
    sqlite3_bind_text(s, 6, ev->detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, ev->prompt_tokens);
    sqlite3_bind_int64(s, 8, ev->completion_tokens);
    int result = q_run(st, s);
    q_done(s);
    return result;
}

/* Writes the events queued when it starts, in transactions of up to TX_MAX; a batch that fails
 * is counted as dropped. Called by the writer thread and by rp_store_flush. */
static int drain(struct rp_store *st)
{
    int result = RP_OK;
    pthread_mutex_lock(&st->write_mu);
    pthread_mutex_lock(&st->qmu);
    size_t todo = st->count;
    pthread_mutex_unlock(&st->qmu);
    if (todo > 0)
        atomic_store(&st->drain_since_ms, wall_ms());
    while (todo > 0) {
        size_t in_tx = 0;
        int r = tx_begin(st, st->edb);
        while (in_tx < TX_MAX && todo > 0) {
            size_t want = todo < BATCH ? todo : BATCH;
            size_t n = take(st, st->batch, want);
            todo = n < want ? 0 : todo - n;
            in_tx += n;
            for (size_t i = 0; r == RP_OK && i < n; i++)
                r = event_insert(st, st->ins, &st->batch[i]);
            if (r != RP_OK || n == 0)
                break;
        }
        r = tx_end(st, st->edb, r);
        if (r != RP_OK) {
            result = r;
            pthread_mutex_lock(&st->qmu);
            st->dropped += in_tx;
            pthread_mutex_unlock(&st->qmu);
        }
    }
    atomic_store(&st->drain_since_ms, 0);
    pthread_mutex_unlock(&st->write_mu);
    return result;
}

static void *writer_main(void *arg)
{
    struct rp_store *st = arg;
    pthread_mutex_lock(&st->qmu);
    while (!st->stop) {
        /* The writer's period: a timeout of the store's own thread, not a fact it stores. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += st->flush_ms / 1000;
        deadline.tv_nsec += (long)(st->flush_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!st->stop && !st->kick) {
            if (pthread_cond_timedwait(&st->wake, &st->qmu, &deadline) == ETIMEDOUT)
                break;
        }
        st->kick = false;
        if (st->count == 0)
            continue;
        pthread_mutex_unlock(&st->qmu);
        /* A failure is counted in dropped and left in last_error; the next batch tries again. */
        drain(st);
        pthread_mutex_lock(&st->qmu);
    }
    pthread_mutex_unlock(&st->qmu);
    return NULL;
}

int rp_store_open(const char *state_dir, struct rp_store **out, struct rp_error *err)
{
    return rp_store_open_ex(state_dir, NULL, out, err);
}

int rp_store_open_ex(const char *state_dir, const struct rp_store_options *opt,
                     struct rp_store **out, struct rp_error *err)
{
    int result = RP_OK;
    struct rp_store *st = NULL;
    pthread_condattr_t ca;
    bool ca_ok = false;
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        rp_error_set(err, "sqlite was built without thread support");
        return RP_EINVAL;
    }
    result = make_dirs(state_dir, err);
    if (result)
        return result;
    st = calloc(1, sizeof(*st));
    if (!st) {
        rp_error_set(err, "out of memory");
        return RP_ENOMEM;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_mutex_init(&st->qmu, NULL);
    pthread_mutex_init(&st->err_mu, NULL);
    pthread_mutex_init(&st->probe_mu, NULL);
    /* The writer's period is measured on the monotonic clock: setting the date must not stall
     * it. */
    if (pthread_condattr_init(&ca) == 0) {
        ca_ok = true;
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    }
    pthread_cond_init(&st->wake, ca_ok ? &ca : NULL);
    if (ca_ok)
        pthread_condattr_destroy(&ca);
    st->cap = opt && opt->event_queue ? opt->event_queue : RP_STORE_EVENT_QUEUE;
    st->flush_ms = opt && opt->flush_ms > 0 ? opt->flush_ms : RP_STORE_FLUSH_MS;
    /* Wake the writer early once a batch is waiting; below that the timer collects them. */
    st->kick_at = st->cap / 2 < BATCH ? (st->cap / 2 ? st->cap / 2 : 1) : BATCH;

    int n = snprintf(st->path, sizeof(st->path), "%s/rampart.db", state_dir);
    if (n < 0 || (size_t)n >= sizeof(st->path)) {
        rp_error_set(err, "state directory '%s': path too long", state_dir);
        result = RP_EINVAL;
        goto out;
    }
    /* Created here so that it is private from the start: SQLite gives the -wal and -shm files
     * the permissions of the database file. */
    int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rp_error_set(err, "unable to open '%s': %s", st->path, strerror(errno));
        result = RP_EIO;
        goto out;
    }
    close(fd);

    result = db_open(st, 1, &st->db, err);
    if (result)
        goto out;
    result = migrate(st, err);
    if (result)
        goto out;
    result = db_open(st, 0, &st->edb, err);
    if (result)
        goto out;
    int rc =
        sqlite3_prepare_v3(st->edb, EVENT_INSERT, -1, SQLITE_PREPARE_PERSISTENT, &st->ins, NULL);
    if (rc != SQLITE_OK) {
        result = db_fail(st, st->edb, rc);
        rp_error_set(err, "unable to prepare %s", st->last_err.msg);
        goto out;
    }
    /* The probe's own connection, synced like the durable one: it meets what they meet. */
    result = db_open(st, 1, &st->pdb, err);
    if (result)
        goto out;
    sqlite3_busy_timeout(st->pdb, PROBE_BUSY_MS);
    rc = sqlite3_prepare_v3(st->pdb, "UPDATE health SET probed_at = ?1 WHERE id = 1", -1,
                            SQLITE_PREPARE_PERSISTENT, &st->probe, NULL);
    if (rc != SQLITE_OK) {
        result = db_fail(st, st->pdb, rc);
        rp_error_set(err, "unable to prepare %s", st->last_err.msg);
        goto out;
    }
    st->ring = calloc(st->cap, sizeof(*st->ring));
    st->batch = calloc(BATCH, sizeof(*st->batch));
    if (!st->ring || !st->batch) {
        rp_error_set(err, "out of memory");
        result = RP_ENOMEM;
        goto out;
    }
    if (!(opt && opt->manual_flush)) {
        rc = pthread_create(&st->thread, NULL, writer_main, st);
        if (rc != 0) {
            rp_error_set(err, "unable to start the event writer: %s", strerror(rc));
            result = RP_EIO;
            goto out;
        }
        st->has_thread = true;
    }
    *out = st;
    st = NULL;
out:
    rp_store_close(st);
    return result;
}

void rp_store_close(struct rp_store *st)
{
    if (!st)
        return;
    if (st->has_thread) {
        pthread_mutex_lock(&st->qmu);
        st->stop = true;
        pthread_cond_signal(&st->wake);
        pthread_mutex_unlock(&st->qmu);
        pthread_join(st->thread, NULL);
    }
    if (st->edb && st->ins && st->ring)
        drain(st);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(st->q[i]);
    sqlite3_finalize(st->ins);
    sqlite3_finalize(st->probe);
    sqlite3_close(st->pdb);
    sqlite3_close(st->edb);
    sqlite3_close(st->db);
    free(st->ring);
    free(st->batch);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->write_mu);
    pthread_mutex_destroy(&st->qmu);
    pthread_mutex_destroy(&st->err_mu);
    pthread_mutex_destroy(&st->probe_mu);
    free(st);
}

/* Reads the account with e-mail; caller holds st->mu. */
static int account_by_email_locked(struct rp_store *st, const char *email, struct rp_account *out)
{
    sqlite3_stmt *s = NULL;
    int result = q_get(st, Q_ACCOUNT_BY_EMAIL, &s);
    if (result)
        goto out;
    sqlite3_bind_text(s, 1, email, -1, SQLITE_STATIC);
    result = q_row(st, s);
    if (result == 1) {
        account_from_row(s, out);
        result = RP_OK;
    } else if (result == 0) {
        result = RP_ENOTFOUND;
    }
out:
    q_done(s);
    return result;
}

static bool email_ok(const char *email)
{
    size_t n = email ? strlen(email) : 0;
    return n > 0 && n < sizeof(((struct rp_account *)0)->email);
}

/* Reads account id; caller holds st->mu. RP_OK, RP_ENOTFOUND or a failure. */
static int account_get_locked(struct rp_store *st, int64_t id, struct rp_account *out)
{
    sqlite3_stmt *s = NULL;
    int result = q_get(st, Q_ACCOUNT_BY_ID, &s);
    if (result)
        return result;
    sqlite3_bind_int64(s, 1, id);
    result = q_row(st, s);
    if (result == 1)
        account_from_row(s, out);
    q_done(s);
    return result == 1 ? RP_OK : result == 0 ? RP_ENOTFOUND : result;
}

/* Whether account id exists; caller holds st->mu. RP_OK, RP_ENOTFOUND or a failure. */
static int account_exists_locked(struct rp_store *st, int64_t id)
{
    struct rp_account a;
    return account_get_locked(st, id, &a);
}

/* A ban that still runs: an escalation's ban whose time has passed is lifted only on the
 * account's next request, but it no longer holds anything back. */
static bool banned_now(const struct rp_account *a, int64_t now)
{
    return a->status == RP_ACCOUNT_BANNED && (a->ban_until == 0 || a->ban_until > now);
}

/* Writes ev (NULL: nothing) on the durable connection, inside the caller's transaction, for
 * account_id and, when not 0, key_id; caller holds st->mu. */
static int event_write_locked(struct rp_store *st, const struct rp_event *ev, int64_t account_id,
                              int64_t key_id)
{
    if (!ev)
        return RP_OK;
    struct rp_event e = *ev;
    e.kind[sizeof(e.kind) - 1] = '\0';
    e.detail[sizeof(e.detail) - 1] = '\0';
    e.account_id = account_id;
    if (key_id)
        e.key_id = key_id;
    sqlite3_stmt *s = NULL;
    int result = q_get(st, Q_EVENT_INSERT, &s);
    return result ? result : event_insert(st, s, &e);
}

/* Records a verification token of account_id, dropping the account's tokens that expired
 * before the last resend period; caller holds st->mu in a transaction. */
static int token_insert_locked(struct rp_store *st, int64_t account_id,
                               const uint8_t hash[RP_HASH_LEN], int64_t now, int64_t expires)
{
    sqlite3_stmt *s = NULL;
    int result = q_get(st, Q_TOKEN_PRUNE, &s);
    if (result)
        return result;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now - RP_STORE_RESEND_PERIOD);
    result = q_run(st, s);
    q_done(s);
    if (result)
        return result;
    result = q_get(st, Q_TOKEN_INSERT, &s);
    if (result)
        return result;
    sqlite3_bind_blob(s, 1, hash, RP_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, account_id);
    sqlite3_bind_int64(s, 3, expires);
    sqlite3_bind_int64(s, 4, now);
    result = q_run(st, s);
    q_done(s);
    return result;
}

/* Runs the statement q of the durable connection bound to (id, text): RP_ENOTFOUND when it
 * changed no row; caller holds st->mu. */
static int update_locked(struct rp_store *st, enum q q, int64_t id, const char *text)
{
    sqlite3_stmt *s = NULL;
    int result = q_get(st, q, &s);
    if (result)
        return result;
    sqlite3_bind_int64(s, 1, id);
    if (text)
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    result = q_run(st, s);
    q_done(s);
    if (result == RP_OK && sqlite3_changes(st->db) == 0)
        result = RP_ENOTFOUND;
    return result;
}

int rp_store_signup(struct rp_store *st, const struct rp_signup *in, int64_t *account_id,
                    bool *created)
{
    *created = false;
    if (!email_ok(in->email) || (!in->hold && !in->token_hash) ||
        (in->hold &&
         (!*in->hold || strlen(in->hold) >= sizeof(((struct rp_account *)0)->hold_reason))))
        return RP_EINVAL;
    sqlite3_stmt *s = NULL;
    struct rp_account a;
    int64_t id = 0;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (result)
        goto out;
    result = account_by_email_locked(st, in->email, &a);
    if (result == RP_OK) {
        *account_id = a.id;
        goto out;
    }
    if (result != RP_ENOTFOUND)
        goto out;
    result = q_get(st, Q_ACCOUNT_INSERT, &s);
    if (result)
        goto out;
    sqlite3_bind_text(s, 1, in->email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, in->now);
    sqlite3_bind_text(s, 3, in->email_key ? in->email_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, in->net ? in->net : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, in->hold ? in->hold : "", -1, SQLITE_STATIC);
    result = q_run(st, s);
    if (result)
        goto out;
    id = sqlite3_last_insert_rowid(st->db);
    if (!in->hold)
        result = token_insert_locked(st, id, in->token_hash, in->now, in->expires);
    if (!result)
        result = event_write_locked(st, in->ev, id, 0);
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    if (result == RP_OK && id) {
        *account_id = id;
        *created = true;
    }
    return result;
}

int rp_store_resend(struct rp_store *st, int64_t account_id, const uint8_t token_hash[RP_HASH_LEN],
                    int64_t now, int64_t expires, int64_t gap, int max, const struct rp_event *ev,
                    bool *sent)
{
    *sent = false;
    sqlite3_stmt *s = NULL;
    struct rp_account a;
    bool recorded = false;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = account_get_locked(st, account_id, &a);
    if (result || a.hold_reason[0] || banned_now(&a, now))
        goto out;
    result = q_get(st, Q_TOKEN_STATS, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, now - RP_STORE_RESEND_PERIOD);
    result = q_row(st, s);
    if (result < 0)
        goto out;
    int64_t count = result ? sqlite3_column_int64(s, 0) : 0;
    int64_t last = result ? sqlite3_column_int64(s, 1) : 0;
    result = RP_OK;
    if (count >= max || (last > 0 && now - last < gap))
        goto out;
    result = token_insert_locked(st, account_id, token_hash, now, expires);
    if (!result)
        result = event_write_locked(st, ev, account_id, 0);
    recorded = result == RP_OK;
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    *sent = result == RP_OK && recorded;
    return result;
}

int rp_store_verify(struct rp_store *st, const uint8_t token_hash[RP_HASH_LEN], int64_t now,
                    const uint8_t key_hash[RP_HASH_LEN], const char *prefix,
                    const struct rp_event *ev, const struct rp_event *key_ev,
                    struct rp_verified *out)
{
    memset(out, 0, sizeof(*out));
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > 64)
        return RP_ETOOBIG;
    struct rp_verified v = {0};
    struct rp_account a;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (result)
        goto out;
    result = q_get(st, Q_TOKEN_GET, &s);
    if (result)
        goto out;
    sqlite3_bind_blob(s, 1, token_hash, RP_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    v.account_id = sqlite3_column_int64(s, 0);
    q_done(s);
    s = NULL;
    result = account_get_locked(st, v.account_id, &a);
    if (result)
        goto out;
    v.status = a.status;
    v.held = a.hold_reason[0] != '\0';
    /* A banned or held account's link stays unused: once the ban is lifted or the hold
     * approved, it still works. */
    if (v.held || banned_now(&a, now))
        goto out;
    v.again = a.verified > 0;
    /* The use time, not 1: it says when, for whoever investigates an account. Every other
     * link of the account is spent with it, so an older mail cannot make another key. */
    result = q_get(st, Q_TOKEN_SPEND, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, v.account_id);
    sqlite3_bind_int64(s, 2, now > 0 ? now : 1);
    result = q_run(st, s);
    q_done(s);
    if (result)
        goto out;
    result = q_get(st, Q_ACCOUNT_ACTIVATE, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, v.account_id);
    sqlite3_bind_int64(s, 2, now);
    result = q_run(st, s);
    q_done(s);
    if (result)
        goto out;
    if (v.status == RP_ACCOUNT_PENDING)
        v.status = RP_ACCOUNT_ACTIVE;
    result = q_get(st, Q_KEY_INSERT, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, v.account_id);
    sqlite3_bind_blob(s, 2, key_hash, RP_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    result = q_run(st, s);
    if (result)
        goto out;
    v.key_id = sqlite3_last_insert_rowid(st->db);
    result = event_write_locked(st, ev, v.account_id, 0);
    if (!result)
        result = event_write_locked(st, key_ev, v.account_id, v.key_id);
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    if (result == RP_OK)
        *out = v;
    return result;
}

int rp_store_key_create(struct rp_store *st, int64_t account_id,
                        const uint8_t key_hash[RP_HASH_LEN], const char *prefix, int64_t now,
                        const struct rp_event *ev, int64_t *key_id)
{
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > 64)
        return RP_ETOOBIG;
    sqlite3_stmt *s = NULL;
    int64_t id = 0;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (result)
        goto out;
    result = account_exists_locked(st, account_id);
    if (result)
        goto out;
    result = q_get(st, Q_KEY_INSERT, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_blob(s, 2, key_hash, RP_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    result = q_run(st, s);
    if (result)
        goto out;
    id = sqlite3_last_insert_rowid(st->db);
    result = event_write_locked(st, ev, account_id, id);
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    if (result == RP_OK)
        *key_id = id;
    return result;
}

int rp_store_key_revoke(struct rp_store *st, int64_t account_id, int64_t key_id, int64_t now,
                        const struct rp_event *ev)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = q_get(st, Q_KEY_REVOKE, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, key_id);
    /* revoked holds the time; 0 means "not revoked", so a revocation at time 0 records 1. */
    sqlite3_bind_int64(s, 3, now > 0 ? now : 1);
    result = q_run(st, s);
    if (result)
        goto out;
    if (sqlite3_changes(st->db) > 0) {
        result = event_write_locked(st, ev, account_id, key_id);
        goto out;
    }
    q_done(s);
    /* Nothing changed: either already revoked (fine) or not a key of this account. */
    result = q_get(st, Q_KEY_EXISTS, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, key_id);
    result = q_row(st, s);
    result = result == 1 ? RP_OK : result == 0 ? RP_ENOTFOUND : result;
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_key_lookup(struct rp_store *st, const uint8_t key_hash[RP_HASH_LEN],
                        struct rp_key_info *out)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_KEY_LOOKUP, &s);
    if (result)
        goto out;
    sqlite3_bind_blob(s, 1, key_hash, RP_HASH_LEN, SQLITE_STATIC);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    out->key_id = sqlite3_column_int64(s, 0);
    out->account_id = sqlite3_column_int64(s, 1);
    out->revoked = sqlite3_column_int64(s, 2) != 0;
    out->account_status = status_parse(sqlite3_column_text(s, 3));
    out->ban_until = sqlite3_column_int64(s, 4);
    out->ban_count = sqlite3_column_int64(s, 5);
    result = RP_OK;
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_key_count(struct rp_store *st, int64_t account_id, int64_t *n)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_KEY_COUNT, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, account_id);
    result = q_row(st, s);
    if (result == 1) {
        *n = sqlite3_column_int64(s, 0);
        result = RP_OK;
    } else if (result == 0) {
        result = RP_EIO;
    }
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_account_get(struct rp_store *st, int64_t id, struct rp_account *out)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_ACCOUNT_BY_ID, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    account_from_row(s, out);
    result = RP_OK;
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_account_by_email(struct rp_store *st, const char *email, struct rp_account *out)
{
    if (!email_ok(email))
        return RP_ENOTFOUND;
    pthread_mutex_lock(&st->mu);
    int result = account_by_email_locked(st, email, out);
    pthread_mutex_unlock(&st->mu);
    return result;
}

/* The JSON object of the account on the current row of s (ACCOUNT_COLS) with its keys; caller
 * holds st->mu. */
static int account_json_locked(struct rp_store *st, sqlite3_stmt *row, json_t **out)
{
    struct rp_account a;
    sqlite3_stmt *s = NULL;
    json_t *keys = NULL, *obj = NULL;
    account_from_row(row, &a);
    int result = q_get(st, Q_KEY_LIST, &s);
    if (result)
        goto out;
    keys = json_array();
    if (!keys) {
        result = RP_ENOMEM;
        goto out;
    }
    sqlite3_bind_int64(s, 1, a.id);
    while ((result = q_row(st, s)) == 1) {
        const unsigned char *prefix = sqlite3_column_text(s, 1);
        json_t *k = json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)sqlite3_column_int64(s, 0),
                              "prefix", prefix ? (const char *)prefix : "", "created",
                              (json_int_t)sqlite3_column_int64(s, 2), "revoked",
                              (json_int_t)sqlite3_column_int64(s, 3));
        if (!k || json_array_append_new(keys, k) != 0) {
            result = RP_ENOMEM;
            goto out;
        }
    }
    if (result < 0)
        goto out;
    obj = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:O}", "id", (json_int_t)a.id,
                    "email", a.email, "status", status_name(a.status), "created",
                    (json_int_t)a.created, "verified", (json_int_t)a.verified, "banned_at",
                    (json_int_t)a.banned_at, "ban_reason", a.ban_reason, "ban_until",
                    (json_int_t)a.ban_until, "ban_count", (json_int_t)a.ban_count, "keys", keys);
    if (obj && a.hold_reason[0])
        json_object_set_new(obj, "held_for_review", json_string(a.hold_reason));
    result = obj ? RP_OK : RP_ENOMEM;
out:
    q_done(s);
    json_decref(keys);
    *out = obj;
    return result;
}

static int64_t list_limit(int64_t limit)
{
    return limit > RP_STORE_LIST_MAX ? RP_STORE_LIST_MAX : limit;
}

typedef int (*row_json_fn)(struct rp_store *st, sqlite3_stmt *row, json_t **out);

/* Runs the bound statement s (caller holds st->mu) and collects one object per row, made by
 * fn, into a new array in *out. */
static int rows_json_locked(struct rp_store *st, sqlite3_stmt *s, row_json_fn fn, json_t **out)
{
    json_t *arr = json_array();
    int result;
    if (!arr)
        return RP_ENOMEM;
    while ((result = q_row(st, s)) == 1) {
        json_t *obj;
        result = fn(st, s, &obj);
        if (result)
            goto out;
        if (json_array_append_new(arr, obj) != 0) {
            result = RP_ENOMEM;
            goto out;
        }
    }
    if (result < 0)
        goto out;
    *out = arr;
    arr = NULL;
    result = RP_OK;
out:
    json_decref(arr);
    return result;
}

int rp_store_accounts_json(struct rp_store *st, int64_t offset, int64_t limit, json_t **out)
{
    *out = NULL;
    if (offset < 0 || limit < 0)
        return RP_EINVAL;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_ACCOUNT_LIST, &s);
    if (!result) {
        sqlite3_bind_int64(s, 1, list_limit(limit));
        sqlite3_bind_int64(s, 2, offset);
        result = rows_json_locked(st, s, account_json_locked, out);
    }
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_account_json(struct rp_store *st, int64_t id, json_t **out)
{
    sqlite3_stmt *s = NULL;
    *out = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_ACCOUNT_BY_ID, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    result = account_json_locked(st, s, out);
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

static int ban(struct rp_store *st, int64_t id, const char *reason, int64_t now, int64_t until,
               int counted, const struct rp_event *ev)
{
    if (!reason)
        reason = "";
    if (strlen(reason) >= sizeof(((struct rp_account *)0)->ban_reason))
        return RP_ETOOBIG;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = q_get(st, Q_BAN, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, until);
    sqlite3_bind_int64(s, 5, counted);
    result = q_run(st, s);
    if (result == RP_OK && sqlite3_changes(st->db) == 0)
        result = RP_ENOTFOUND;
    if (result == RP_OK)
        result = event_write_locked(st, ev, id, 0);
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_ban(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                 const struct rp_event *ev)
{
    return ban(st, id, reason, now, 0, 0, ev);
}

int rp_store_ban_until(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                       int64_t until, const struct rp_event *ev)
{
    return ban(st, id, reason, now, until, 1, ev);
}

int rp_store_hold_approve(struct rp_store *st, int64_t id, const uint8_t token_hash[RP_HASH_LEN],
                          int64_t now, int64_t expires, const struct rp_event *ev)
{
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = update_locked(st, Q_HOLD_RELEASE, id, NULL);
    if (!result)
        result = token_insert_locked(st, id, token_hash, now, expires);
    if (!result)
        result = event_write_locked(st, ev, id, 0);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_hold_reject(struct rp_store *st, int64_t id, const char *reason, int64_t now,
                         const struct rp_event *ev)
{
    if (!reason)
        reason = "";
    if (strlen(reason) >= sizeof(((struct rp_account *)0)->ban_reason))
        return RP_ETOOBIG;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = update_locked(st, Q_HOLD_RELEASE, id, NULL);
    if (!result)
        result = q_get(st, Q_BAN, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, 0);
    sqlite3_bind_int64(s, 5, 0);
    result = q_run(st, s);
    if (result == RP_OK)
        result = event_write_locked(st, ev, id, 0);
out:
    q_done(s);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_holds(struct rp_store *st, int64_t *ids, size_t cap, size_t *n)
{
    sqlite3_stmt *s = NULL;
    *n = 0;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_HOLD_LIST, &s);
    if (result)
        goto out;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
    while ((result = q_row(st, s)) == 1 && *n < cap)
        ids[(*n)++] = sqlite3_column_int64(s, 0);
    if (result > 0)
        result = RP_OK;
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

/* The id of the first row of query q bound to (text, now), or RP_ENOTFOUND. Bans that have run
 * out (ban_until passed) no longer link: they are lifted lazily, on the account's next request,
 * but screening must not wait for that. */
static int banned_by(struct rp_store *st, enum q q, const char *text, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, q, &s);
    if (result)
        goto out;
    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    *id = sqlite3_column_int64(s, 0);
    result = RP_OK;
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_banned_by_signup_net(struct rp_store *st, const char *net, int64_t now, int64_t *id)
{
    return banned_by(st, Q_BANNED_BY_NET, net, now, id);
}

int rp_store_banned_by_email_key(struct rp_store *st, const char *key, int64_t now, int64_t *id)
{
    return banned_by(st, Q_BANNED_BY_KEY, key, now, id);
}

int rp_store_lookalike_verified(struct rp_store *st, const char *key, const char *email,
                                int64_t since, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_LOOKALIKE, &s);
    if (result)
        goto out;
    sqlite3_bind_text(s, 1, key ? key : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, email ? email : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, since);
    result = q_row(st, s);
    if (result == 0)
        result = RP_ENOTFOUND;
    if (result < 0)
        goto out;
    *id = sqlite3_column_int64(s, 0);
    result = RP_OK;
out:
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_unban(struct rp_store *st, int64_t id, int64_t now, const struct rp_event *ev)
{
    (void)now;
    pthread_mutex_lock(&st->mu);
    int result = tx_begin(st, st->db);
    if (!result)
        result = update_locked(st, Q_UNBAN, id, NULL);
    if (result == RP_OK)
        result = event_write_locked(st, ev, id, 0);
    else if (result == RP_ENOTFOUND)
        result = account_exists_locked(st, id);
    result = tx_end(st, st->db, result);
    pthread_mutex_unlock(&st->mu);
    return result;
}

int rp_store_soft_blocks(struct rp_store *st, int64_t since_ms, rp_store_soft_block_fn *fn,
                         void *arg)
{
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, Q_SOFT_BLOCKS, &s);
    if (!result) {
        sqlite3_bind_int64(s, 1, since_ms);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            fn(arg, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
               sqlite3_column_double(s, 2));
        if (rc != SQLITE_DONE)
            result = RP_EIO;
    }
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}

void rp_store_event(struct rp_store *st, const struct rp_event *ev)
{
    if (!st || !ev)
        return;
    pthread_mutex_lock(&st->qmu);
    if (st->count == st->cap) {
        st->dropped++;
    } else {
        struct rp_event *e = &st->ring[(st->head + st->count) % st->cap];
        *e = *ev;
        /* The writer binds these as C strings. */
        e->kind[sizeof(e->kind) - 1] = '\0';
        e->detail[sizeof(e->detail) - 1] = '\0';
        st->count++;
        if (st->count >= st->kick_at && !st->kick && st->has_thread) {
            st->kick = true;
            pthread_cond_signal(&st->wake);
        }
    }
    pthread_mutex_unlock(&st->qmu);
}

uint64_t rp_store_events_dropped(struct rp_store *st)
{
    pthread_mutex_lock(&st->qmu);
    uint64_t n = st->dropped;
    pthread_mutex_unlock(&st->qmu);
    return n;
}

int rp_store_flush(struct rp_store *st)
{
    return drain(st);
}

int rp_store_probe(struct rp_store *st, int64_t now)
{
    pthread_mutex_lock(&st->probe_mu);
    atomic_store(&st->probe_since_ms, wall_ms());
    sqlite3_bind_int64(st->probe, 1, now);
    int result = q_run(st, st->probe);
    if (result == RP_OK && sqlite3_changes(st->pdb) != 1)
        result = RP_EIO; /* the row is made by migration 7 and never deleted */
    q_done(st->probe);
    atomic_store(&st->probe_since_ms, 0);
    pthread_mutex_unlock(&st->probe_mu);
    return result;
}

/* One event row as a JSON object; detail comes back as an object when it holds one. */
static int event_json_locked(struct rp_store *st, sqlite3_stmt *s, json_t **out)
{
    (void)st;
    const unsigned char *kind = sqlite3_column_text(s, 4);
    const char *text = (const char *)sqlite3_column_text(s, 6);
    json_t *detail = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(detail)) {
        json_decref(detail);
        detail = json_string(text ? text : "");
    }
    if (!detail)
        return RP_ENOMEM;
    /* json_pack takes the reference to detail, also when it fails. */
    *out = json_pack("{s:I, s:I, s:I, s:I, s:s, s:i, s:o, s:I, s:I}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "time_ms",
                     (json_int_t)sqlite3_column_int64(s, 1), "account_id",
                     (json_int_t)sqlite3_column_int64(s, 2), "key_id",
                     (json_int_t)sqlite3_column_int64(s, 3), "kind", kind ? (const char *)kind : "",
                     "status", sqlite3_column_int(s, 5), "detail", detail, "prompt_tokens",
                     (json_int_t)sqlite3_column_int64(s, 7), "completion_tokens",
                     (json_int_t)sqlite3_column_int64(s, 8));
    return *out ? RP_OK : RP_ENOMEM;
}

int rp_store_events_json(struct rp_store *st, int64_t account_id, int64_t limit, json_t **out)
{
    *out = NULL;
    if (limit < 0)
        return RP_EINVAL;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&st->mu);
    int result = q_get(st, account_id ? Q_EVENTS_ACCOUNT : Q_EVENTS_ALL, &s);
    if (!result) {
        sqlite3_bind_int64(s, 1, account_id);
        sqlite3_bind_int64(s, 2, list_limit(limit));
        result = rows_json_locked(st, s, event_json_locked, out);
    }
    q_done(s);
    pthread_mutex_unlock(&st->mu);
    return result;
}
