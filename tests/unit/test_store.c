/* lib/store: accounts, tokens, keys and bans in SQLite, the batched event log, schema versions
 * and durability across kill -9. Each test gets a fresh state directory under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rampart/store.h"

struct fixture {
    char dir[64];
    char state[128]; /* dir/state: not created before the store opens it */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A distinct 32-byte hash per seed, as the callers' SHA-256 would be. */
static void hash_of(uint8_t h[RP_HASH_LEN], int seed)
{
    for (int i = 0; i < RP_HASH_LEN; i++)
        h[i] = (uint8_t)(seed * 31 + i * 7);
}

static struct rp_store *open_store(const char *dir)
{
    struct rp_store *st = NULL;
    struct rp_error err = {{0}};
    int rc = rp_store_open(dir, &st, &err);
    if (rc != RP_OK)
        fail_msg("rp_store_open: %s", err.msg);
    return st;
}

static void db_path(const struct fixture *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s/rampart.db", f->state);
}

/* A number from the database, read directly with SQLite. */
static int64_t db_int(const struct fixture *f, const char *sql)
{
    char path[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    db_path(f, path, sizeof(path));
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void test_open_creates_private_dir(void **state)
{
    struct fixture *f = *state;
    char nested[192];
    snprintf(nested, sizeof(nested), "%s/a/b", f->state);
    struct rp_store *st = open_store(nested);
    struct stat sb;
    assert_int_equal(stat(nested, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(f->state, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    char path[256];
    snprintf(path, sizeof(path), "%s/rampart.db", nested);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0);
    rp_store_close(st);

    /* The settings are persistent in the file: check them from outside. */
    size_t len = strlen(nested);
    assert_true(len < sizeof(f->state));
    memcpy(f->state, nested, len + 1);
    assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    /* A state directory that is a file is a clear error. */
    struct rp_error err = {{0}};
    assert_int_equal(rp_store_open(path, &st, &err), RP_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, "not a directory"));
    rp_store_close(NULL);
}

static void test_signup_verify_key_revoke(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN], t3[RP_HASH_LEN], k1[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(t3, 3);
    hash_of(k1, 10);
    int64_t id = 0, id2 = 0, got = 0, key = 0;
    struct rp_account a;

    assert_int_equal(rp_store_signup(st, "", t1, 1000, 2000, &id), RP_EINVAL);
    assert_int_equal(rp_store_signup(st, "ann@example.org", t1, 1000, 2000, &id), RP_OK);
    assert_true(id > 0);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);
    assert_string_equal(a.email, "ann@example.org");
    assert_int_equal(a.created, 1000);
    assert_int_equal(a.verified, 0);

    /* A second signup of the pending account (any case) reuses it and adds a token. */
    assert_int_equal(rp_store_signup(st, "Ann@Example.org", t2, 1100, 2100, &id2), RP_OK);
    assert_int_equal(id2, id);
    assert_int_equal(rp_store_account_by_email(st, "ANN@example.ORG", &a), RP_OK);
    assert_int_equal(a.id, id);
    assert_int_equal(rp_store_account_by_email(st, "bob@example.org", &a), RP_ENOTFOUND);

    assert_int_equal(rp_store_verify(st, t1, 1500, &got), RP_OK);
    assert_int_equal(got, id);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(a.verified, 1500);
    /* The older token stays valid until expiry but changes nothing more. */
    assert_int_equal(rp_store_verify(st, t2, 1600, &got), RP_OK);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.verified, 1500);

    /* Signing up an active e-mail records no token and still names the account. */
    got = 0;
    assert_int_equal(rp_store_signup(st, "ann@example.org", t3, 1700, 2700, &got), RP_OK);
    assert_int_equal(got, id);
    assert_int_equal(rp_store_verify(st, t3, 1701, &got), RP_ENOTFOUND);

    assert_int_equal(rp_store_key_create(st, id, k1, "rp-3f9a", 1800, &key), RP_OK);
    assert_true(key > 0);
    int64_t n = -1;
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 1);
    /* A hash is recorded once; keys need an account. */
    int64_t other = 0;
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-dup", 1800, &other), RP_EINVAL);
    assert_int_equal(rp_store_key_create(st, id + 100, t3, "rp-x", 1800, &other), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_create(st, id, t3,
                                         "rp-toolong-toolong-toolong-toolong-toolong"
                                         "-toolong-toolong-toolong",
                                         1800, &other),
                     RP_ETOOBIG);

    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.key_id, key);
    assert_int_equal(ki.account_id, id);
    assert_false(ki.revoked);
    assert_int_equal(ki.account_status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_key_lookup(st, t3, &ki), RP_ENOTFOUND);

    assert_int_equal(rp_store_key_revoke(st, id + 1, key, 1900), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_revoke(st, id, key + 1, 1900), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_revoke(st, id, key, 1900), RP_OK);
    assert_int_equal(rp_store_key_revoke(st, id, key, 1950), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_true(ki.revoked);
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 0);
    rp_store_close(st);
    /* The first revocation time is kept. */
    assert_int_equal(db_int(f, "SELECT revoked FROM api_keys"), 1900);
}

static void test_token_single_use_and_expiry(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN], unknown[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(unknown, 99);
    int64_t id = 0, got = 0;
    assert_int_equal(rp_store_signup(st, "a@example.org", t1, 1000, 2000, &id), RP_OK);
    assert_int_equal(rp_store_signup(st, "a@example.org", t2, 1000, 2000, &id), RP_OK);

    /* Expired at the instant of expiry. */
    assert_int_equal(rp_store_verify(st, t1, 2000, &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_verify(st, unknown, 1500, &got), RP_ENOTFOUND);
    struct rp_account a;
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);

    assert_int_equal(rp_store_verify(st, t2, 1999, &got), RP_OK);
    assert_int_equal(got, id);
    got = 0;
    assert_int_equal(rp_store_verify(st, t2, 1999, &got), RP_ENOTFOUND);
    assert_int_equal(got, 0);
    rp_store_close(st);
    /* Used tokens keep their use time; hashes are stored, never the tokens. */
    assert_int_equal(db_int(f, "SELECT used FROM verify_tokens WHERE used > 0"), 1999);
    assert_int_equal(db_int(f, "SELECT length(hash) FROM verify_tokens LIMIT 1"), RP_HASH_LEN);

    /* A later signup prunes the expired tokens of the account. */
    st = open_store(f->state);
    uint8_t t3[RP_HASH_LEN], t4[RP_HASH_LEN];
    hash_of(t3, 3);
    hash_of(t4, 4);
    assert_int_equal(rp_store_signup(st, "b@example.org", t3, 3000, 4000, &got), RP_OK);
    assert_int_equal(rp_store_signup(st, "b@example.org", t4, 5000, 6000, &got), RP_OK);
    /* A token hash is recorded once. */
    assert_int_equal(rp_store_signup(st, "b@example.org", t1, 5000, 6000, &got), RP_EINVAL);
    rp_store_close(st);
    assert_int_equal(db_int(f, "SELECT count(*) FROM verify_tokens WHERE account_id = 2"), 1);
}

static void test_ban_unban(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN], k1[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(k1, 10);
    int64_t id = 0, pending = 0, key = 0, got = 0;
    assert_int_equal(rp_store_signup(st, "c@example.org", t1, 10, 100, &id), RP_OK);
    assert_int_equal(rp_store_verify(st, t1, 11, &got), RP_OK);
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-0001", 12, &key), RP_OK);

    assert_int_equal(rp_store_ban(st, id, "soft-block escalation: 5 refusals in 10 min", 20),
                     RP_OK);
    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_status, RP_ACCOUNT_BANNED);
    assert_false(ki.revoked);
    struct rp_account a;
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);
    assert_int_equal(a.banned_at, 20);
    assert_string_equal(a.ban_reason, "soft-block escalation: 5 refusals in 10 min");
    /* Signing up again with a banned e-mail does not lift the ban. */
    assert_int_equal(rp_store_signup(st, "c@example.org", t2, 21, 100, &got), RP_OK);
    assert_int_equal(got, id);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);

    assert_int_equal(rp_store_unban(st, id, 30), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.banned_at, 0);
    assert_string_equal(a.ban_reason, "");
    assert_int_equal(rp_store_unban(st, id, 31), RP_OK);
    assert_int_equal(a.ban_count, 0); /* an operator's ban is not counted */

    /* Bans of escalation end by themselves and are counted; unbanning keeps the count. */
    assert_int_equal(rp_store_ban_until(st, id, "escalation-soft-blocks", 50, 110), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_status, RP_ACCOUNT_BANNED);
    assert_int_equal(ki.ban_until, 110);
    assert_int_equal(rp_store_unban(st, id, 111), RP_OK);
    assert_int_equal(rp_store_ban_until(st, id, "escalation-soft-blocks", 120, 0), RP_OK);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.ban_count, 2);
    assert_int_equal(a.ban_until, 0);
    assert_int_equal(rp_store_unban(st, id, 121), RP_OK);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.ban_count, 2);
    assert_int_equal(a.ban_until, 0);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);

    /* An account banned before it verified returns to pending, and verifying while banned
     * does not lift the ban. */
    assert_int_equal(rp_store_signup(st, "d@example.org", t2, 40, 100, &pending), RP_OK);
    assert_int_equal(rp_store_ban(st, pending, NULL, 41), RP_OK);
    assert_int_equal(rp_store_unban(st, pending, 42), RP_OK);
    assert_int_equal(rp_store_account_get(st, pending, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);
    assert_int_equal(rp_store_ban(st, pending, "x", 43), RP_OK);
    assert_int_equal(rp_store_verify(st, t2, 44, &got), RP_OK);
    assert_int_equal(rp_store_account_get(st, pending, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);
    assert_int_equal(a.verified, 44);
    assert_int_equal(rp_store_unban(st, pending, 45), RP_OK);
    assert_int_equal(rp_store_account_get(st, pending, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);

    assert_int_equal(rp_store_ban(st, 9999, "x", 50), RP_ENOTFOUND);
    assert_int_equal(rp_store_unban(st, 9999, 50), RP_ENOTFOUND);
    char big[600];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rp_store_ban(st, id, big, 50), RP_ETOOBIG);
    rp_store_close(st);
}

/* No key of any object, at any depth, names a hash. */
static void assert_no_hash(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            assert_null(strstr(k, "hash"));
            assert_no_hash(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) assert_no_hash(v);
    }
}

static void test_json_shapes(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN], k1[RP_HASH_LEN], k2[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(k1, 10);
    hash_of(k2, 11);
    int64_t a1 = 0, a2 = 0, key1 = 0, key2 = 0, got = 0;
    assert_int_equal(rp_store_signup(st, "e@example.org", t1, 100, 200, &a1), RP_OK);
    assert_int_equal(rp_store_signup(st, "f@example.org", t2, 101, 200, &a2), RP_OK);
    assert_int_equal(rp_store_verify(st, t1, 102, &got), RP_OK);
    assert_int_equal(rp_store_key_create(st, a1, k1, "rp-aaaa", 103, &key1), RP_OK);
    assert_int_equal(rp_store_key_create(st, a1, k2, "rp-bbbb", 104, &key2), RP_OK);
    assert_int_equal(rp_store_key_revoke(st, a1, key2, 105), RP_OK);
    assert_int_equal(rp_store_ban(st, a2, "burst of signups", 106), RP_OK);

    json_t *arr = NULL;
    assert_int_equal(rp_store_accounts_json(st, 0, 10, &arr), RP_OK);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    assert_no_hash(arr);
    json_t *o = json_array_get(arr, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), a1);
    assert_string_equal(json_string_value(json_object_get(o, "email")), "e@example.org");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "active");
    assert_int_equal(json_integer_value(json_object_get(o, "created")), 100);
    assert_int_equal(json_integer_value(json_object_get(o, "verified")), 102);
    assert_int_equal(json_integer_value(json_object_get(o, "banned_at")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "ban_reason")), "");
    json_t *keys = json_object_get(o, "keys");
    assert_int_equal(json_array_size(keys), 2);
    json_t *k = json_array_get(keys, 0);
    assert_int_equal(json_object_size(k), 4);
    assert_int_equal(json_integer_value(json_object_get(k, "id")), key1);
    assert_string_equal(json_string_value(json_object_get(k, "prefix")), "rp-aaaa");
    assert_int_equal(json_integer_value(json_object_get(k, "created")), 103);
    assert_int_equal(json_integer_value(json_object_get(k, "revoked")), 0);
    k = json_array_get(keys, 1);
    assert_int_equal(json_integer_value(json_object_get(k, "revoked")), 105);
    o = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "banned");
    assert_string_equal(json_string_value(json_object_get(o, "ban_reason")), "burst of signups");
    assert_int_equal(json_integer_value(json_object_get(o, "banned_at")), 106);
    assert_int_equal(json_array_size(json_object_get(o, "keys")), 0);
    json_decref(arr);

    assert_int_equal(rp_store_accounts_json(st, 1, 10, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), a2);
    json_decref(arr);
    assert_int_equal(rp_store_accounts_json(st, 0, 1, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    assert_int_equal(rp_store_accounts_json(st, -1, 1, &arr), RP_EINVAL);
    assert_null(arr);

    assert_int_equal(rp_store_account_json(st, a2, &o), RP_OK);
    assert_string_equal(json_string_value(json_object_get(o, "email")), "f@example.org");
    assert_non_null(json_object_get(o, "keys"));
    assert_no_hash(o);
    json_decref(o);
    assert_int_equal(rp_store_account_json(st, 9999, &o), RP_ENOTFOUND);
    assert_null(o);
    rp_store_close(st);
}

static struct rp_event make_event(int64_t account, int64_t key, int status, const char *detail)
{
    struct rp_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time_ms = 1700000000000LL + account;
    ev.account_id = account;
    ev.key_id = key;
    snprintf(ev.kind, sizeof(ev.kind), "request");
    ev.status = status;
    snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
    ev.prompt_tokens = 12;
    ev.completion_tokens = 34;
    return ev;
}

static void test_events_flush(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    struct rp_event ev = make_event(1, 7, 200, "{\"model\":\"m\"}");
    rp_store_event(st, &ev);
    ev = make_event(2, 8, 403, "refused: prompt injection");
    rp_store_event(st, &ev);
    ev = make_event(1, 7, 429, "");
    rp_store_event(st, &ev);
    assert_int_equal(rp_store_flush(st), RP_OK);
    assert_int_equal(rp_store_events_dropped(st), 0);

    json_t *arr = NULL;
    assert_int_equal(rp_store_events_json(st, 0, 10, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 3);
    json_t *o = json_array_get(arr, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 429);
    assert_string_equal(json_string_value(json_object_get(o, "detail")), "");
    o = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "request");
    assert_int_equal(json_integer_value(json_object_get(o, "account_id")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "key_id")), 8);
    assert_int_equal(json_integer_value(json_object_get(o, "time_ms")), 1700000000002LL);
    assert_int_equal(json_integer_value(json_object_get(o, "prompt_tokens")), 12);
    assert_int_equal(json_integer_value(json_object_get(o, "completion_tokens")), 34);
    assert_string_equal(json_string_value(json_object_get(o, "detail")),
                        "refused: prompt injection");
    o = json_array_get(arr, 2);
    /* A JSON object detail comes back as an object. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "detail"), "model")),
                        "m");
    assert_true(json_integer_value(json_object_get(o, "id")) <
                json_integer_value(json_object_get(json_array_get(arr, 0), "id")));
    json_decref(arr);

    assert_int_equal(rp_store_events_json(st, 1, 10, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    assert_int_equal(rp_store_events_json(st, 0, 1, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);

    /* Without a flush the writer thread writes the event within its period. */
    ev = make_event(3, 0, 0, "late");
    rp_store_event(st, &ev);
    size_t n = 0;
    for (int i = 0; i < 100 && n == 0; i++) {
        usleep(20 * 1000);
        assert_int_equal(rp_store_events_json(st, 3, 10, &arr), RP_OK);
        n = json_array_size(arr);
        json_decref(arr);
    }
    assert_int_equal(n, 1);
    rp_store_close(st);
}

static void test_event_queue_overflow(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = NULL;
    struct rp_error err = {{0}};
    struct rp_store_options opt = {.event_queue = 4, .manual_flush = true};
    assert_int_equal(rp_store_open_ex(f->state, &opt, &st, &err), RP_OK);
    for (int i = 0; i < 10; i++) {
        struct rp_event ev = make_event(i + 1, 0, 200, "");
        rp_store_event(st, &ev);
    }
    assert_int_equal(rp_store_events_dropped(st), 6);
    assert_int_equal(rp_store_flush(st), RP_OK);
    json_t *arr = NULL;
    assert_int_equal(rp_store_events_json(st, 0, 100, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 4);
    /* The first four were kept, in order. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "account_id")), 4);
    json_decref(arr);
    /* Room again after the flush; the ring wraps. */
    for (int i = 0; i < 6; i++) {
        struct rp_event ev = make_event(100 + i, 0, 200, "");
        rp_store_event(st, &ev);
    }
    assert_int_equal(rp_store_events_dropped(st), 8);
    /* Close writes what is queued. */
    rp_store_close(st);
    assert_int_equal(db_int(f, "SELECT count(*) FROM events"), 8);
    assert_int_equal(db_int(f, "SELECT max(account_id) FROM events"), 103);
}

static void test_reopen_keeps_everything(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], k1[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(k1, 10);
    int64_t id = 0, key = 0, got = 0;
    assert_int_equal(rp_store_signup(st, "g@example.org", t1, 1, 100, &id), RP_OK);
    assert_int_equal(rp_store_verify(st, t1, 2, &got), RP_OK);
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-gggg", 3, &key), RP_OK);
    assert_int_equal(rp_store_ban(st, id, "abuse", 4), RP_OK);
    struct rp_event ev = make_event(id, key, 200, "");
    rp_store_event(st, &ev);
    rp_store_close(st);

    st = open_store(f->state);
    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.key_id, key);
    assert_int_equal(ki.account_status, RP_ACCOUNT_BANNED);
    struct rp_account a;
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_string_equal(a.ban_reason, "abuse");
    assert_int_equal(rp_store_verify(st, t1, 5, &got), RP_ENOTFOUND);
    json_t *arr = NULL;
    assert_int_equal(rp_store_events_json(st, id, 10, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    /* Ids are not reused. */
    uint8_t t2[RP_HASH_LEN];
    hash_of(t2, 2);
    int64_t id2 = 0;
    assert_int_equal(rp_store_signup(st, "h@example.org", t2, 6, 100, &id2), RP_OK);
    assert_true(id2 > id);
    rp_store_close(st);
}

static void test_schema_newer_refused(void **state)
{
    struct fixture *f = *state;
    rp_store_close(open_store(f->state));
    char path[256];
    db_path(f, path, sizeof(path));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct rp_store *st = NULL;
    struct rp_error err = {{0}};
    assert_int_equal(rp_store_open(f->state, &st, &err), RP_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "schema version 999, newer than this rampart's 6"));
    assert_non_null(strstr(err.msg, path));

    /* A file that is not a database is named in the error. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("not a database, just text that is long enough to hold a header.........\n", fp);
    fclose(fp);
    char wal[300];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    remove(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    remove(wal);
    assert_int_equal(rp_store_open(f->state, &st, &err), RP_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, "unable to open"));
    assert_non_null(strstr(err.msg, "not a database"));
}

#define EVENT_THREADS 4
#define EVENTS_PER_THREAD 5000

struct producer {
    struct rp_store *st;
    int n;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < EVENTS_PER_THREAD; i++) {
        struct rp_event ev = make_event(p->n + 1, i, 200, "{\"i\":1}");
        rp_store_event(p->st, &ev);
    }
    return NULL;
}

/* Several workers queue events while durable writes go on; nothing is lost or mixed up. */
static void test_events_concurrent(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    pthread_t th[EVENT_THREADS];
    struct producer p[EVENT_THREADS];
    for (int i = 0; i < EVENT_THREADS; i++) {
        p[i] = (struct producer){st, i};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        uint8_t t[RP_HASH_LEN];
        char email[64];
        int64_t id = 0;
        hash_of(t, 100 + i);
        snprintf(email, sizeof(email), "w%d@example.org", i);
        assert_int_equal(rp_store_signup(st, email, t, 1, 100, &id), RP_OK);
    }
    for (int i = 0; i < EVENT_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(rp_store_flush(st), RP_OK);
    assert_int_equal(rp_store_events_dropped(st), 0);
    rp_store_close(st);
    assert_int_equal(db_int(f, "SELECT count(*) FROM events"), EVENT_THREADS * EVENTS_PER_THREAD);
    for (int i = 0; i < EVENT_THREADS; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT count(DISTINCT key_id) FROM events WHERE account_id = %d", i + 1);
        assert_int_equal(db_int(f, sql), EVENTS_PER_THREAD);
    }
    assert_int_equal(db_int(f, "SELECT count(*) FROM accounts"), 20);
}

/* kill -9 right after the calls return: the facts are in the database when it reopens. */
static void test_durable_across_kill9(void **state)
{
    struct fixture *f = *state;
    uint8_t t1[RP_HASH_LEN], k1[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(k1, 10);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child opens its own store (connections do not cross fork) and never closes it;
         * cmocka's asserts cannot be used here, so a failure is an exit code. */
        struct rp_store *st = NULL;
        int64_t id = 0, key = 0, got = 0;
        if (rp_store_open(f->state, &st, NULL) != RP_OK)
            _exit(10);
        if (rp_store_signup(st, "k@example.org", t1, 1, 100, &id) != RP_OK)
            _exit(11);
        if (rp_store_verify(st, t1, 2, &got) != RP_OK)
            _exit(12);
        if (rp_store_key_create(st, id, k1, "rp-kkkk", 3, &key) != RP_OK)
            _exit(13);
        if (rp_store_ban(st, id, "killed", 4) != RP_OK)
            _exit(14);
        kill(getpid(), SIGKILL);
        _exit(15);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    struct rp_store *st = open_store(f->state);
    struct rp_account a;
    assert_int_equal(rp_store_account_by_email(st, "k@example.org", &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);
    assert_int_equal(a.verified, 2);
    assert_string_equal(a.ban_reason, "killed");
    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_id, a.id);
    assert_int_equal(ki.account_status, RP_ACCOUNT_BANNED);
    int64_t got = 0;
    assert_int_equal(rp_store_verify(st, t1, 5, &got), RP_ENOTFOUND);
    rp_store_close(st);
}

/* Screening links: a banned account is found by its normalised address and its network while
 * its ban lasts (an expired one no longer links); holds are listed and released. */
static void test_screening_links_and_holds(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    int64_t a = 0, b = 0, got = 0;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(rp_store_signup(st, "x.y@example.org", t1, now, now + 100, &a), RP_OK);
    assert_int_equal(rp_store_set_screening(st, a, "xy@example.org", "10.0.0.0/24"), RP_OK);
    assert_int_equal(rp_store_set_screening(st, 999, "k", "n"), RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_ban_until(st, a, "r", now, now + 3600), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", &got), RP_OK);
    assert_int_equal(got, a);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.0.0.0/24", &got), RP_OK);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.9.0.0/24", &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_email_key(st, "", &got), RP_ENOTFOUND);
    /* A ban that has run out no longer links, before anyone lifts it. */
    assert_int_equal(rp_store_ban_until(st, a, "r", now - 10, now - 1), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", &got), RP_ENOTFOUND);

    assert_int_equal(rp_store_signup(st, "z@example.org", t2, now, now + 100, &b), RP_OK);
    assert_int_equal(rp_store_hold(st, b, ""), RP_EINVAL);
    assert_int_equal(rp_store_hold(st, a, "banned, not pending"), RP_ENOTFOUND);
    assert_int_equal(rp_store_hold(st, b, "lookalike-address: test"), RP_OK);
    int64_t ids[4];
    size_t n = 0;
    assert_int_equal(rp_store_holds(st, ids, 4, &n), RP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], b);
    struct rp_account acc;
    assert_int_equal(rp_store_account_get(st, b, &acc), RP_OK);
    assert_string_equal(acc.hold_reason, "lookalike-address: test");
    assert_int_equal(rp_store_hold_release(st, b), RP_OK);
    assert_int_equal(rp_store_hold_release(st, b), RP_ENOTFOUND);
    assert_int_equal(rp_store_holds(st, ids, 4, &n), RP_OK);
    assert_int_equal(n, 0);
    rp_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signup_verify_key_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_single_use_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ban_unban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_screening_links_and_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_queue_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_across_kill9, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
