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

/* A first sign-up with its link's token, as the gateway records one. */
static int signup(struct rp_store *st, const char *email, const uint8_t t[RP_HASH_LEN], int64_t now,
                  int64_t expires, int64_t *id)
{
    bool created = false;
    struct rp_signup in = {.email = email, .token_hash = t, .now = now, .expires = expires};
    return rp_store_signup(st, &in, id, &created);
}

/* Verifies with token t, making a key whose hash derives from key_seed. */
static int verify(struct rp_store *st, const uint8_t t[RP_HASH_LEN], int64_t now, int key_seed,
                  struct rp_verified *out)
{
    uint8_t k[RP_HASH_LEN];
    hash_of(k, 1000 + key_seed);
    return rp_store_verify(st, t, now, k, "rp-verify", NULL, NULL, out);
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
    assert_int_equal(db_int(f, "PRAGMA user_version"), 8);
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
    int64_t id = 0, id2 = 0, key = 0;
    bool created = true, sent = false;
    struct rp_account a;
    struct rp_verified v;

    assert_int_equal(signup(st, "", t1, 1000, 2000, &id), RP_EINVAL);
    assert_int_equal(signup(st, "ann@example.org", t1, 1000, 2000, &id), RP_OK);
    assert_true(id > 0);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);
    assert_string_equal(a.email, "ann@example.org");
    assert_int_equal(a.created, 1000);
    assert_int_equal(a.verified, 0);

    /* A first sign-up of an address that has an account (any case) records nothing. */
    struct rp_signup again = {
        .email = "Ann@Example.org", .token_hash = t2, .now = 1100, .expires = 2100};
    assert_int_equal(rp_store_signup(st, &again, &id2, &created), RP_OK);
    assert_int_equal(id2, id);
    assert_false(created);
    assert_int_equal(verify(st, t2, 1101, 0, &v), RP_ENOTFOUND);
    assert_int_equal(rp_store_account_by_email(st, "ANN@example.ORG", &a), RP_OK);
    assert_int_equal(a.id, id);
    assert_int_equal(rp_store_account_by_email(st, "bob@example.org", &a), RP_ENOTFOUND);
    /* A fresh link for it. */
    assert_int_equal(rp_store_resend(st, id, t2, 1100, 2100, 60, 5, NULL, &sent), RP_OK);
    assert_true(sent);
    assert_int_equal(rp_store_resend(st, id + 100, t3, 1100, 2100, 60, 5, NULL, &sent),
                     RP_ENOTFOUND);

    assert_int_equal(verify(st, t1, 1500, 1, &v), RP_OK);
    assert_int_equal(v.account_id, id);
    assert_true(v.key_id > 0);
    assert_int_equal(v.status, RP_ACCOUNT_ACTIVE);
    assert_false(v.again);
    assert_false(v.held);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(a.verified, 1500);
    /* Using a link spends the account's other links: an older mail makes no second key. */
    assert_int_equal(verify(st, t2, 1600, 2, &v), RP_ENOTFOUND);

    /* An active account gets a fresh link too, and it makes one more key (the person who lost
     * the first); the account keeps its first verification time. */
    assert_int_equal(rp_store_resend(st, id, t3, 1700, 2700, 60, 5, NULL, &sent), RP_OK);
    assert_true(sent);
    assert_int_equal(verify(st, t3, 1701, 3, &v), RP_OK);
    assert_true(v.again);
    assert_int_equal(v.status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.verified, 1500);
    int64_t n = -1;
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 2);
    /* A key hash is recorded once: the verification fails whole and its token stays. */
    uint8_t t4[RP_HASH_LEN];
    hash_of(t4, 4);
    assert_int_equal(rp_store_resend(st, id, t4, 1800, 2800, 60, 5, NULL, &sent), RP_OK);
    assert_int_equal(verify(st, t4, 1801, 3, &v), RP_EINVAL);
    assert_int_equal(verify(st, t4, 1802, 4, &v), RP_OK);

    assert_int_equal(rp_store_key_create(st, id, k1, "rp-3f9a", 1800, NULL, &key), RP_OK);
    assert_true(key > 0);
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 4);
    /* A hash is recorded once; keys need an account. */
    int64_t other = 0;
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-dup", 1800, NULL, &other), RP_EINVAL);
    assert_int_equal(rp_store_key_create(st, id + 100, t3, "rp-x", 1800, NULL, &other),
                     RP_ENOTFOUND);
    assert_int_equal(rp_store_key_create(st, id, t3,
                                         "rp-toolong-toolong-toolong-toolong-toolong"
                                         "-toolong-toolong-toolong",
                                         1800, NULL, &other),
                     RP_ETOOBIG);

    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.key_id, key);
    assert_int_equal(ki.account_id, id);
    assert_false(ki.revoked);
    assert_int_equal(ki.account_status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_key_lookup(st, t3, &ki), RP_ENOTFOUND);

    assert_int_equal(rp_store_key_revoke(st, id + 1, key, 1900, NULL), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_revoke(st, id, key + 1, 1900, NULL), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_revoke(st, id, key, 1900, NULL), RP_OK);
    assert_int_equal(rp_store_key_revoke(st, id, key, 1950, NULL), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_true(ki.revoked);
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 3);
    rp_store_close(st);
    /* The first revocation time is kept. */
    assert_int_equal(db_int(f, "SELECT revoked FROM api_keys WHERE revoked > 0"), 1900);
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
    bool sent = false;
    struct rp_verified v;
    assert_int_equal(signup(st, "a@example.org", t1, 1000, 2000, &id), RP_OK);
    assert_int_equal(rp_store_resend(st, id, t2, 1000, 2000, 0, 5, NULL, &sent), RP_OK);
    assert_true(sent);

    /* Expired at the instant of expiry. */
    assert_int_equal(verify(st, t1, 2000, 1, &v), RP_ENOTFOUND);
    assert_int_equal(verify(st, unknown, 1500, 1, &v), RP_ENOTFOUND);
    struct rp_account a;
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);

    assert_int_equal(verify(st, t2, 1999, 1, &v), RP_OK);
    assert_int_equal(v.account_id, id);
    assert_int_equal(verify(st, t2, 1999, 2, &v), RP_ENOTFOUND);
    assert_int_equal(v.account_id, 0);
    assert_int_equal(v.key_id, 0);
    rp_store_close(st);
    /* Used tokens keep their use time; hashes are stored, never the tokens. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM verify_tokens WHERE used = 1999"), 2);
    assert_int_equal(db_int(f, "SELECT length(hash) FROM verify_tokens LIMIT 1"), RP_HASH_LEN);

    /* A later link prunes the tokens of the account that expired before the last day. */
    st = open_store(f->state);
    uint8_t t3[RP_HASH_LEN], t4[RP_HASH_LEN], t5[RP_HASH_LEN];
    hash_of(t3, 3);
    hash_of(t4, 4);
    hash_of(t5, 5);
    assert_int_equal(signup(st, "b@example.org", t3, 3000, 4000, &got), RP_OK);
    assert_int_equal(rp_store_resend(st, got, t4, 5000, 6000, 0, 5, NULL, &sent), RP_OK);
    assert_int_equal(rp_store_resend(st, got, t5, 100000, 101000, 0, 5, NULL, &sent), RP_OK);
    /* A token hash is recorded once. */
    assert_int_equal(rp_store_resend(st, got, t1, 100001, 101000, 0, 5, NULL, &sent), RP_EINVAL);
    assert_false(sent);
    /* A first sign-up's token too. */
    assert_int_equal(signup(st, "c@example.org", t5, 100002, 101000, &id), RP_EINVAL);
    assert_int_equal(rp_store_account_by_email(st, "c@example.org", &a), RP_ENOTFOUND);
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
    bool sent = true;
    struct rp_verified v;
    assert_int_equal(signup(st, "c@example.org", t1, 10, 100, &id), RP_OK);
    assert_int_equal(verify(st, t1, 11, 1, &v), RP_OK);
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-0001", 12, NULL, &key), RP_OK);

    assert_int_equal(rp_store_ban(st, id, "soft-block escalation: 5 refusals in 10 min", 20, NULL),
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
    /* Signing up again with a banned e-mail does not lift the ban, nor send a link. */
    assert_int_equal(signup(st, "c@example.org", t2, 21, 100, &got), RP_OK);
    assert_int_equal(got, id);
    assert_int_equal(rp_store_resend(st, id, t2, 21, 100, 0, 5, NULL, &sent), RP_OK);
    assert_false(sent);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);

    assert_int_equal(rp_store_unban(st, id, 30, NULL), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.banned_at, 0);
    assert_string_equal(a.ban_reason, "");
    assert_int_equal(rp_store_unban(st, id, 31, NULL), RP_OK);
    assert_int_equal(a.ban_count, 0); /* an operator's ban is not counted */

    /* Bans of escalation end by themselves and are counted; unbanning keeps the count. */
    assert_int_equal(rp_store_ban_until(st, id, "escalation-soft-blocks", 50, 110, NULL), RP_OK);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_int_equal(ki.account_status, RP_ACCOUNT_BANNED);
    assert_int_equal(ki.ban_until, 110);
    /* The key carries its account's bans, so that escalation need not read the account. */
    assert_int_equal(ki.ban_count, 1);
    assert_int_equal(rp_store_unban(st, id, 111, NULL), RP_OK);
    assert_int_equal(rp_store_ban_until(st, id, "escalation-soft-blocks", 120, 0, NULL), RP_OK);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.ban_count, 2);
    assert_int_equal(a.ban_until, 0);
    assert_int_equal(rp_store_unban(st, id, 121, NULL), RP_OK);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.ban_count, 2);
    assert_int_equal(a.ban_until, 0);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);

    /* An account banned before it verified returns to pending. */
    assert_int_equal(signup(st, "d@example.org", t2, 40, 100, &pending), RP_OK);
    assert_int_equal(rp_store_ban(st, pending, NULL, 41, NULL), RP_OK);
    assert_int_equal(rp_store_unban(st, pending, 42, NULL), RP_OK);
    assert_int_equal(rp_store_account_get(st, pending, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_PENDING);

    assert_int_equal(rp_store_ban(st, 9999, "x", 50, NULL), RP_ENOTFOUND);
    assert_int_equal(rp_store_unban(st, 9999, 50, NULL), RP_ENOTFOUND);
    char big[600];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rp_store_ban(st, id, big, 50, NULL), RP_ETOOBIG);
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
    int64_t a1 = 0, a2 = 0, key1 = 0, key2 = 0;
    struct rp_verified v;
    assert_int_equal(signup(st, "e@example.org", t1, 100, 200, &a1), RP_OK);
    assert_int_equal(signup(st, "f@example.org", t2, 101, 200, &a2), RP_OK);
    assert_int_equal(verify(st, t1, 102, 1, &v), RP_OK);
    assert_int_equal(rp_store_key_create(st, a1, k1, "rp-aaaa", 103, NULL, &key1), RP_OK);
    assert_int_equal(rp_store_key_create(st, a1, k2, "rp-bbbb", 104, NULL, &key2), RP_OK);
    assert_int_equal(rp_store_key_revoke(st, a1, key2, 105, NULL), RP_OK);
    assert_int_equal(rp_store_ban(st, a2, "burst of signups", 106, NULL), RP_OK);

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
    assert_int_equal(json_array_size(keys), 3);
    /* The key of the verification first. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(keys, 0), "id")), v.key_id);
    json_t *k = json_array_get(keys, 1);
    assert_int_equal(json_object_size(k), 4);
    assert_int_equal(json_integer_value(json_object_get(k, "id")), key1);
    assert_string_equal(json_string_value(json_object_get(k, "prefix")), "rp-aaaa");
    assert_int_equal(json_integer_value(json_object_get(k, "created")), 103);
    assert_int_equal(json_integer_value(json_object_get(k, "revoked")), 0);
    k = json_array_get(keys, 2);
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
    int64_t id = 0, key = 0;
    struct rp_verified v;
    assert_int_equal(signup(st, "g@example.org", t1, 1, 100, &id), RP_OK);
    assert_int_equal(verify(st, t1, 2, 1, &v), RP_OK);
    assert_int_equal(rp_store_key_create(st, id, k1, "rp-gggg", 3, NULL, &key), RP_OK);
    assert_int_equal(rp_store_ban(st, id, "abuse", 4, NULL), RP_OK);
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
    assert_int_equal(verify(st, t1, 5, 2, &v), RP_ENOTFOUND);
    json_t *arr = NULL;
    assert_int_equal(rp_store_events_json(st, id, 10, &arr), RP_OK);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    /* Ids are not reused. */
    uint8_t t2[RP_HASH_LEN];
    hash_of(t2, 2);
    int64_t id2 = 0;
    assert_int_equal(signup(st, "h@example.org", t2, 6, 100, &id2), RP_OK);
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
    assert_non_null(strstr(err.msg, "schema version 999, newer than this rampart's 8"));
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
        assert_int_equal(signup(st, email, t, 1, 100, &id), RP_OK);
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
        int64_t id = 0, key = 0;
        struct rp_verified v;
        if (rp_store_open(f->state, &st, NULL) != RP_OK)
            _exit(10);
        if (signup(st, "k@example.org", t1, 1, 100, &id) != RP_OK)
            _exit(11);
        if (verify(st, t1, 2, 1, &v) != RP_OK)
            _exit(12);
        if (rp_store_key_create(st, id, k1, "rp-kkkk", 3, NULL, &key) != RP_OK)
            _exit(13);
        if (rp_store_ban(st, id, "killed", 4, NULL) != RP_OK)
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
    struct rp_verified v;
    assert_int_equal(verify(st, t1, 5, 2, &v), RP_ENOTFOUND);
    rp_store_close(st);
}

/* An event of kind, for account (the store sets it anyway on durable facts). */
static struct rp_event kind_event(const char *kind, int64_t time_ms)
{
    struct rp_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time_ms = time_ms;
    snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
    snprintf(ev.detail, sizeof(ev.detail), "{\"by\":\"test\"}");
    return ev;
}

/* How many events of kind the database holds (for account, unless 0). */
static int64_t events_of(const struct fixture *f, const char *kind, int64_t account)
{
    char sql[200];
    if (account)
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM events WHERE kind = '%s' AND "
                 "account_id = %lld",
                 kind, (long long)account);
    else
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE kind = '%s'", kind);
    return db_int(f, sql);
}

/* Screening links: a verified banned account is found by its normalised address while its ban
 * lasts, any banned account by its network; look-alikes link to verified accounts only; holds
 * are listed, approved (with a link) and rejected (a ban), each with its event. */
static void test_screening_links_and_holds(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    int64_t a = 0, b = 0, c = 0, got = 0;
    bool created = false;
    struct rp_verified v;
    int64_t now = (int64_t)time(NULL);
    struct rp_signup in = {.email = "x.y@example.org",
                           .email_key = "xy@example.org",
                           .net = "10.0.0.0/24",
                           .token_hash = t1,
                           .now = now,
                           .expires = now + 100};
    assert_int_equal(rp_store_signup(st, &in, &a, &created), RP_OK);
    assert_true(created);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now, &got), RP_ENOTFOUND);
    /* Unverified, the address links nothing. */
    assert_int_equal(rp_store_lookalike_verified(st, "xy@example.org", "xy2@example.org", 0, &got),
                     RP_ENOTFOUND);
    /* Banned before it verified: not by its address either, but its network still holds. */
    assert_int_equal(rp_store_ban_until(st, a, "r", now, now + 3600, NULL), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now, &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.0.0.0/24", now, &got), RP_OK);
    assert_int_equal(got, a);
    assert_int_equal(rp_store_unban(st, a, now, NULL), RP_OK);
    assert_int_equal(verify(st, t1, now, 1, &v), RP_OK);

    assert_int_equal(
        rp_store_lookalike_verified(st, "xy@example.org", "xy2@example.org", now - 10, &got),
        RP_OK);
    assert_int_equal(got, a);
    /* Not the address itself, nor an account verified before `since`. */
    assert_int_equal(rp_store_lookalike_verified(st, "xy@example.org", "x.y@example.org", 0, &got),
                     RP_ENOTFOUND);
    assert_int_equal(
        rp_store_lookalike_verified(st, "xy@example.org", "xy2@example.org", now + 1, &got),
        RP_ENOTFOUND);
    assert_int_equal(rp_store_lookalike_verified(st, "", "xy2@example.org", 0, &got), RP_ENOTFOUND);

    assert_int_equal(rp_store_ban_until(st, a, "r", now, now + 3600, NULL), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now, &got), RP_OK);
    assert_int_equal(got, a);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.0.0.0/24", now, &got), RP_OK);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.9.0.0/24", now, &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_email_key(st, "", now, &got), RP_ENOTFOUND);
    /* The ban runs until now + 3600 by the caller's clock, not the store's. */
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now + 3599, &got), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now + 3600, &got),
                     RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.0.0.0/24", now + 3600, &got),
                     RP_ENOTFOUND);
    /* A ban that has run out no longer links, before anyone lifts it. */
    assert_int_equal(rp_store_ban_until(st, a, "r", now - 10, now - 1, NULL), RP_OK);
    assert_int_equal(rp_store_banned_by_email_key(st, "xy@example.org", now, &got), RP_ENOTFOUND);
    assert_int_equal(rp_store_banned_by_signup_net(st, "10.0.0.0/24", now, &got), RP_ENOTFOUND);

    /* A held sign-up: no token, listed, approved with a link. */
    struct rp_signup held = {
        .email = "z@example.org", .hold = "lookalike-address: test", .now = now};
    struct rp_event ev = kind_event("signup_held", now * 1000);
    held.ev = &ev;
    assert_int_equal(rp_store_signup(st, &held, &b, &created), RP_OK);
    assert_true(created);
    assert_int_equal(events_of(f, "signup_held", b), 1);
    held.email = "y@example.org";
    held.hold = "";
    assert_int_equal(rp_store_signup(st, &held, &c, &created), RP_EINVAL);
    char big[300];
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    held.hold = big;
    assert_int_equal(rp_store_signup(st, &held, &c, &created), RP_EINVAL);
    int64_t ids[4];
    size_t n = 0;
    assert_int_equal(rp_store_holds(st, ids, 4, &n), RP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], b);
    struct rp_account acc;
    assert_int_equal(rp_store_account_get(st, b, &acc), RP_OK);
    assert_string_equal(acc.hold_reason, "lookalike-address: test");
    /* A held sign-up gets no fresh link however often it is repeated. */
    bool sent = true;
    assert_int_equal(rp_store_resend(st, b, t2, now, now + 100, 0, 5, NULL, &sent), RP_OK);
    assert_false(sent);
    ev = kind_event("hold_approved", now * 1000);
    assert_int_equal(rp_store_hold_approve(st, b, t2, now, now + 100, &ev), RP_OK);
    assert_int_equal(rp_store_hold_approve(st, b, t2, now, now + 100, &ev), RP_ENOTFOUND);
    assert_int_equal(events_of(f, "hold_approved", b), 1);
    assert_int_equal(rp_store_holds(st, ids, 4, &n), RP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(verify(st, t2, now, 2, &v), RP_OK);
    assert_int_equal(v.account_id, b);

    /* Rejected: banned for good, with its event. */
    held.email = "w@example.org";
    held.hold = "banned-network: test";
    held.ev = NULL;
    assert_int_equal(rp_store_signup(st, &held, &c, &created), RP_OK);
    ev = kind_event("hold_rejected", now * 1000);
    assert_int_equal(rp_store_hold_reject(st, c, "sign-up rejected", now, &ev), RP_OK);
    assert_int_equal(rp_store_hold_reject(st, c, "sign-up rejected", now, &ev), RP_ENOTFOUND);
    assert_int_equal(rp_store_hold_reject(st, a, "not held", now, &ev), RP_ENOTFOUND);
    assert_int_equal(rp_store_account_get(st, c, &acc), RP_OK);
    assert_int_equal(acc.status, RP_ACCOUNT_BANNED);
    assert_int_equal(acc.ban_until, 0);
    assert_string_equal(acc.hold_reason, "");
    assert_int_equal(events_of(f, "hold_rejected", c), 1);
    rp_store_close(st);
}

/* Issue 12, item 8: a durable fact and its audit event are one transaction. Each event is in
 * the database when the call returns, with no flush (the store here has no writer thread), and
 * when the event cannot be written the fact is not either. */
static void test_regression_ban_and_event_one_transaction(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = NULL;
    struct rp_error err = {{0}};
    struct rp_store_options opt = {.manual_flush = true};
    assert_int_equal(rp_store_open_ex(f->state, &opt, &st, &err), RP_OK);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN], k1[RP_HASH_LEN], k2[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(k1, 10);
    hash_of(k2, 11);
    int64_t id = 0, key = 0;
    bool created = false, sent = false;
    struct rp_event ev = kind_event("signup", 1000), vev = kind_event("verify", 1001),
                    kev = kind_event("key_created", 1001);
    struct rp_signup in = {
        .email = "t@example.org", .token_hash = t1, .now = 1, .expires = 100, .ev = &ev};
    assert_int_equal(rp_store_signup(st, &in, &id, &created), RP_OK);
    struct rp_verified v;
    assert_int_equal(rp_store_verify(st, t1, 2, k1, "rp-t1", &vev, &kev, &v), RP_OK);
    int64_t first_key = v.key_id;
    ev = kind_event("key_created", 1002);
    assert_int_equal(rp_store_key_create(st, id, k2, "rp-t2", 3, &ev, &key), RP_OK);
    ev = kind_event("key_revoked", 1003);
    assert_int_equal(rp_store_key_revoke(st, id, key, 4, &ev), RP_OK);
    assert_int_equal(rp_store_key_revoke(st, id, key, 5, &ev), RP_OK); /* no change, no event */
    ev = kind_event("ban", 1004);
    assert_int_equal(rp_store_ban(st, id, "by the test", 6, &ev), RP_OK);
    ev = kind_event("unban", 1005);
    assert_int_equal(rp_store_unban(st, id, 7, &ev), RP_OK);
    assert_int_equal(rp_store_unban(st, id, 8, &ev), RP_OK); /* not banned: no event */
    ev = kind_event("ban", 1006);
    assert_int_equal(rp_store_ban_until(st, id, "escalation", 9, 100, &ev), RP_OK);
    ev = kind_event("signup_resend", 1007);
    assert_int_equal(rp_store_resend(st, id, t2, 10, 100, 0, 5, &ev, &sent), RP_OK);
    assert_false(sent); /* banned: no link, no event */

    assert_int_equal(events_of(f, "signup", id), 1);
    assert_int_equal(events_of(f, "verify", id), 1);
    assert_int_equal(events_of(f, "key_created", id), 2);
    assert_int_equal(events_of(f, "key_revoked", id), 1);
    assert_int_equal(events_of(f, "ban", id), 2);
    assert_int_equal(events_of(f, "unban", id), 1);
    assert_int_equal(events_of(f, "signup_resend", 0), 0);
    /* The store names the key it made. */
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT key_id FROM events WHERE kind = 'key_created' AND "
             "time_ms = 1001");
    assert_int_equal(db_int(f, sql), first_key);
    snprintf(sql, sizeof(sql), "SELECT key_id FROM events WHERE kind = 'key_revoked'");
    assert_int_equal(db_int(f, sql), key);

    /* Events that cannot be written: the facts are not written either. */
    char path[256];
    sqlite3 *db = NULL;
    db_path(f, path, sizeof(path));
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER no_events BEFORE INSERT ON events"
                                  " BEGIN SELECT RAISE(ABORT, 'the test refuses events'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(rp_store_unban(st, id, 11, &ev), RP_EINVAL);
    struct rp_account a;
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);
    assert_int_equal(rp_store_unban(st, id, 12, NULL), RP_OK);
    assert_int_equal(rp_store_ban(st, id, "lost", 13, &ev), RP_EINVAL);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_ACTIVE);
    assert_int_equal(rp_store_ban_until(st, id, "lost", 13, 100, &ev), RP_EINVAL);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.ban_count, 1);
    uint8_t k3[RP_HASH_LEN];
    hash_of(k3, 12);
    assert_int_equal(rp_store_key_create(st, id, k3, "rp-t3", 14, &ev, &key), RP_EINVAL);
    struct rp_key_info ki;
    assert_int_equal(rp_store_key_lookup(st, k3, &ki), RP_ENOTFOUND);
    assert_int_equal(rp_store_resend(st, id, t2, 15, 100, 0, 5, &ev, &sent), RP_EINVAL);
    assert_false(sent);
    assert_int_equal(rp_store_resend(st, id, t2, 15, 100, 0, 5, NULL, &sent), RP_OK);
    assert_true(sent);
    assert_int_equal(rp_store_verify(st, t2, 16, k3, "rp-t3", &ev, NULL, &v), RP_EINVAL);
    assert_int_equal(rp_store_key_lookup(st, k3, &ki), RP_ENOTFOUND);
    in = (struct rp_signup){
        .email = "u@example.org", .token_hash = t1, .now = 17, .expires = 100, .ev = &ev};
    hash_of(t1, 50);
    int64_t other = 0;
    assert_int_equal(rp_store_signup(st, &in, &other, &created), RP_EINVAL);
    assert_int_equal(rp_store_account_by_email(st, "u@example.org", &a), RP_ENOTFOUND);
    assert_int_equal(rp_store_key_revoke(st, id, first_key, 18, &ev), RP_EINVAL);
    assert_int_equal(rp_store_key_lookup(st, k1, &ki), RP_OK);
    assert_false(ki.revoked);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER no_events", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    rp_store_close(st);
}

#define KILL_ACCOUNTS 16
#define KILL_ROUNDS 4

/* Issue 12, item 8, as it was seen: kill -9 in the middle of a loop of bans and unbans. After
 * each restart every account's events tell its state: one more ban than unbans when it is
 * banned, as many when it is not. */
static void test_regression_ban_event_survives_kill9(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    int64_t ids[KILL_ACCOUNTS];
    for (int i = 0; i < KILL_ACCOUNTS; i++) {
        uint8_t t[RP_HASH_LEN];
        char email[64];
        hash_of(t, 200 + i);
        snprintf(email, sizeof(email), "kill%d@example.org", i);
        assert_int_equal(signup(st, email, t, 1, 100, &ids[i]), RP_OK);
    }
    rp_store_close(st);
    unsigned seed = (unsigned)time(NULL);
    int64_t total = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        /* The child says each ban or unban it made on a pipe; the parent kills it after a
         * random number of them, while it is in the middle of the next. */
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            struct rp_store *cst = NULL;
            if (rp_store_open(f->state, &cst, NULL) != RP_OK)
                _exit(10);
            for (int64_t n = 0;; n++) {
                int64_t id = ids[n % KILL_ACCOUNTS];
                struct rp_account a;
                if (rp_store_account_get(cst, id, &a) != RP_OK)
                    _exit(11);
                bool banned = a.status == RP_ACCOUNT_BANNED;
                struct rp_event ev = kind_event(banned ? "unban" : "ban", n);
                int rc = banned ? rp_store_unban(cst, id, n, &ev)
                                : rp_store_ban(cst, id, "kill loop", n, &ev);
                if (rc != RP_OK || write(fds[1], "x", 1) != 1)
                    _exit(12);
            }
        }
        close(fds[1]);
        int target = 3 + (int)(rand_r(&seed) % 40), seen = 0;
        char c;
        while (seen < target && read(fds[0], &c, 1) == 1)
            seen++;
        kill(pid, SIGKILL);
        close(fds[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("child exited with %d", WEXITSTATUS(status));
        total += seen;
        st = open_store(f->state);
        for (int i = 0; i < KILL_ACCOUNTS; i++) {
            struct rp_account a;
            assert_int_equal(rp_store_account_get(st, ids[i], &a), RP_OK);
            int64_t bans = events_of(f, "ban", ids[i]), unbans = events_of(f, "unban", ids[i]);
            if (bans - unbans != (a.status == RP_ACCOUNT_BANNED ? 1 : 0))
                fail_msg("round %d: account %lld is %s with %lld bans and %lld unbans", round,
                         (long long)ids[i], a.status == RP_ACCOUNT_BANNED ? "banned" : "not banned",
                         (long long)bans, (long long)unbans);
        }
        rp_store_close(st);
    }
    assert_true(events_of(f, "ban", 0) + events_of(f, "unban", 0) >= total);
}

/* Issue 12, item 12: a pending account banned before it verified gets no key from its link,
 * and its link still works once the ban is lifted. */
static void test_regression_verify_banned_pending_gets_no_key(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t1[RP_HASH_LEN], t2[RP_HASH_LEN];
    hash_of(t1, 1);
    hash_of(t2, 2);
    int64_t id = 0;
    struct rp_verified v;
    struct rp_account a;
    assert_int_equal(signup(st, "p@example.org", t1, 10, 1000, &id), RP_OK);
    assert_int_equal(rp_store_ban(st, id, "operator", 11, NULL), RP_OK);
    assert_int_equal(verify(st, t1, 12, 1, &v), RP_OK);
    assert_int_equal(v.account_id, id);
    assert_int_equal(v.key_id, 0);
    assert_int_equal(v.status, RP_ACCOUNT_BANNED);
    assert_int_equal(rp_store_account_get(st, id, &a), RP_OK);
    assert_int_equal(a.status, RP_ACCOUNT_BANNED);
    assert_int_equal(a.verified, 0);
    int64_t n = -1;
    assert_int_equal(rp_store_key_count(st, id, &n), RP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rp_store_unban(st, id, 13, NULL), RP_OK);
    assert_int_equal(verify(st, t1, 14, 1, &v), RP_OK);
    assert_true(v.key_id > 0);
    assert_int_equal(v.status, RP_ACCOUNT_ACTIVE);

    /* A ban of escalation that has run its time holds nothing back: the key is made, and the
     * account's next request lifts the ban. */
    bool sent = false;
    assert_int_equal(rp_store_ban_until(st, id, "escalation", 20, 30, NULL), RP_OK);
    assert_int_equal(rp_store_resend(st, id, t2, 25, 1000, 0, 5, NULL, &sent), RP_OK);
    assert_false(sent);
    assert_int_equal(rp_store_resend(st, id, t2, 31, 1000, 0, 5, NULL, &sent), RP_OK);
    assert_true(sent);
    assert_int_equal(verify(st, t2, 32, 2, &v), RP_OK);
    assert_true(v.key_id > 0);
    assert_true(v.again);
    assert_int_equal(v.status, RP_ACCOUNT_BANNED);
    rp_store_close(st);
}

/* Issue 12, item 12: a repeated sign-up sends a fresh link at most once a `gap` and `max` a
 * day. */
static void test_regression_resend_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    uint8_t t[12][RP_HASH_LEN];
    for (int i = 0; i < 12; i++)
        hash_of(t[i], 300 + i);
    int64_t id = 0, T = 1000000;
    bool sent = false;
    assert_int_equal(signup(st, "r@example.org", t[0], T, T + 3600, &id), RP_OK);
    /* The first sign-up's link counts. */
    assert_int_equal(rp_store_resend(st, id, t[1], T + 10, T + 3600, 60, 5, NULL, &sent), RP_OK);
    assert_false(sent);
    int k = 1;
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(rp_store_resend(st, id, t[k], T + 60 * i, T + 3600, 60, 5, NULL, &sent),
                         RP_OK);
        assert_true(sent);
        k++;
    }
    assert_int_equal(rp_store_resend(st, id, t[k], T + 600, T + 3600, 60, 5, NULL, &sent), RP_OK);
    assert_false(sent);
    /* A day after the first, one of five is free again. */
    assert_int_equal(rp_store_resend(st, id, t[k], T + RP_STORE_RESEND_PERIOD + 1,
                                     T + RP_STORE_RESEND_PERIOD + 3600, 60, 5, NULL, &sent),
                     RP_OK);
    assert_true(sent);
    k++;
    assert_int_equal(rp_store_resend(st, id, t[k], T + RP_STORE_RESEND_PERIOD + 2,
                                     T + RP_STORE_RESEND_PERIOD + 3600, 60, 5, NULL, &sent),
                     RP_OK);
    assert_false(sent);
    rp_store_close(st);
    /* The first sign-up's token, expired and older than the period, is gone. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM verify_tokens"), 5);
}

/* The health probe writes its row; a write lock held elsewhere makes it fail as busy, counted
 * with its message; an input the schema refuses is no failure of the store. */
static void test_probe_and_failures(void **state)
{
    struct fixture *f = *state;
    struct rp_store *st = open_store(f->state);
    struct rp_store_failures fl;
    rp_store_failures(st, &fl);
    assert_int_equal(fl.full + fl.io + fl.busy + fl.other, 0);
    assert_int_equal(fl.last_ms, 0);
    assert_int_equal(rp_store_probe(st, 1234), RP_OK);
    assert_int_equal(db_int(f, "SELECT probed_at FROM health WHERE id = 1"), 1234);

    int64_t a = 0, k = 0;
    uint8_t t[RP_HASH_LEN], h[RP_HASH_LEN];
    hash_of(t, 1);
    hash_of(h, 2);
    struct rp_signup in = {.email = "p@example.org", .token_hash = t, .now = 10, .expires = 100};
    bool created = false;
    assert_int_equal(rp_store_signup(st, &in, &a, &created), RP_OK);
    assert_true(created);
    assert_int_equal(rp_store_key_create(st, a, h, "rp-x", 10, NULL, &k), RP_OK);
    assert_int_equal(rp_store_key_create(st, a, h, "rp-x", 10, NULL, &k), RP_EINVAL);
    rp_store_failures(st, &fl);
    assert_int_equal(fl.full + fl.io + fl.busy + fl.other, 0);

    char path[256];
    db_path(f, path, sizeof(path));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rp_store_probe(st, 1235), RP_EIO);
    rp_store_failures(st, &fl);
    assert_int_equal(fl.busy, 1);
    assert_int_equal(fl.full + fl.io + fl.other, 0);
    assert_true(fl.last_ms > 0);
    assert_non_null(strstr(fl.last, path));
    assert_non_null(strstr(fl.last, "locked"));
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(rp_store_probe(st, 1236), RP_OK);
    rp_store_failures(st, &fl);
    assert_int_equal(fl.busy, 1); /* counted, not cleared: counters only grow */
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
        cmocka_unit_test_setup_teardown(test_regression_ban_and_event_one_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_regression_ban_event_survives_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_verify_banned_pending_gets_no_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_regression_resend_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_and_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
