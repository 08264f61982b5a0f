/* The advisory database: OSV records read from zips (osv.dev's offline layout) or .json files,
 * indexed once into an SQLite file keyed by (ecosystem, package name), and rebuilt when a file
 * of the database changes (its path, size or modification time). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "db_internal.h"

/* Bump when the index's tables or the compact form change: an older index is rebuilt. */
#define INDEX_FORMAT 3
/* One record larger than this is refused (the largest of osv.dev's are a few hundred KB). */
#define RECORD_MAX (32u << 20)
/* Folders below the database path that are walked for .json records. */
#define DEPTH_MAX 8
#define FILES_MAX 1000000

struct rp_vuln_db {
    sqlite3 *db;
    sqlite3_stmt *lookup;
    struct rp_vuln_db_info info;
    signed char has_eco[RP_ECO_COUNT]; /* -1 not asked yet, else 0 or 1 */
};

/* ---- the files of a database ---- */

struct file {
    char *path;
    struct stat st;
};

struct files {
    struct file *v;
    size_t n, alloc;
};

static int files_add(struct files *f, const char *path, const struct stat *st)
{
    if (f->n == FILES_MAX)
        return RP_ETOOBIG;
    if (f->n == f->alloc) {
        size_t na = f->alloc ? f->alloc * 2 : 64;
        struct file *nv = realloc(f->v, na * sizeof(*nv));
        if (!nv)
            return RP_ENOMEM;
        f->v = nv;
        f->alloc = na;
    }
    if (!(f->v[f->n].path = strdup(path)))
        return RP_ENOMEM;
    f->v[f->n++].st = *st;
    return RP_OK;
}

static void files_release(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].path);
    free(f->v);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Collects <dir>/<Ecosystem>/all.zip and every *.json below dir (hidden names skipped). */
static int walk(const char *dir, int depth, struct files *f)
{
    DIR *d = opendir(dir);
    if (!d)
        return depth == 0 ? RP_EIO : RP_OK;
    int result = RP_OK;
    struct dirent *e;
    while (!result && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < DEPTH_MAX)
                result = walk(path, depth + 1, f);
        } else if (S_ISREG(st.st_mode) && (has_suffix(e->d_name, ".json") ||
                                           (depth == 1 && !strcmp(e->d_name, "all.zip"))))
            result = files_add(f, path, &st);
    }
    closedir(d);
    return result;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

/* The fingerprint of the database: a SHA-256 of the index format and, for each file in path
 * order, its path, size and modification time; hex into out (65 bytes). */
static void fingerprint(const struct files *f, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char head[64];
    int n = snprintf(head, sizeof(head), "rampart-vulns-index %d\n", INDEX_FORMAT);
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, head, n);
    for (size_t i = 0; ok && i < f->n; i++) {
        char line[96];
        int k = snprintf(line, sizeof(line), "\n%lld %lld.%09ld\n", (long long)f->v[i].st.st_size,
                         (long long)f->v[i].st.st_mtim.tv_sec, (long)f->v[i].st.st_mtim.tv_nsec);
        ok = EVP_DigestUpdate(ctx, f->v[i].path, strlen(f->v[i].path)) &&
             EVP_DigestUpdate(ctx, line, (size_t)k);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < (ok ? len : 0) && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    if (!ok)
        out[0] = '\0';
}

/* ---- building ---- */

struct build {
    sqlite3 *db;
    sqlite3_stmt *adv, *aff;
    struct rp_vuln_db_info *info;
    int64_t rid;
    const char *file, *entry;
};

static int add_affected(void *arg, const struct rp__osv_info *info,
                        const struct rp__osv_affected *a)
{
    struct build *b = arg;
    if (info->withdrawn)
        return RP_OK;
    if (b->rid == 0) {
        /* The record's own row, once, before its first package. */
        sqlite3_reset(b->adv);
        sqlite3_bind_text(b->adv, 1, info->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(b->adv, 2, info->aliases, -1, SQLITE_STATIC);
        sqlite3_bind_text(b->adv, 3, info->summary, -1, SQLITE_STATIC);
        sqlite3_bind_text(b->adv, 4, info->modified, -1, SQLITE_STATIC);
        if (sqlite3_step(b->adv) != SQLITE_DONE)
            return RP_EIO;
        b->rid = sqlite3_last_insert_rowid(b->db);
    }
    char key[1024];
    if (!rp__vuln_name_key(a->eco, a->name, key, sizeof(key)))
        return RP_OK; /* no package of an inventory has such a name */
    sqlite3_reset(b->aff);
    sqlite3_bind_int(b->aff, 1, (int)a->eco);
    sqlite3_bind_text(b->aff, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(b->aff, 3, b->rid);
    sqlite3_bind_text(b->aff, 4, a->ecosystem.ptr, (int)a->ecosystem.len, SQLITE_STATIC);
    sqlite3_bind_blob(b->aff, 5, a->ranges.ptr, (int)a->ranges.len, SQLITE_STATIC);
    sqlite3_bind_blob(b->aff, 6, a->versions.ptr, (int)a->versions.len, SQLITE_STATIC);
    sqlite3_bind_text(b->aff, 7, a->severity.ptr, (int)a->severity.len, SQLITE_STATIC);
    if (sqlite3_step(b->aff) != SQLITE_DONE)
        return RP_EIO;
    b->info->packages++;
    return RP_OK;
}

static int check_affected(void *arg, const struct rp__osv_info *info,
                          const struct rp__osv_affected *a)
{
    (void)arg;
    (void)info;
    (void)a;
    return RP_OK;
}

/* Indexes one record's text; a malformed record is counted and skipped. */
static int add_record(struct build *b, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *rec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    struct rp_error err = {{0}};
    int result;
    if (!rec) {
        rp_error_set(&err, "line %d: %s", jerr.line, jerr.text);
        result = RP_EINVAL;
    } else {
        /* The whole record is checked before any of it is indexed: a malformed record is left
         * out whole, not up to its first bad package. */
        result = rp__osv_record(rec, check_affected, NULL, &err);
        b->rid = 0;
        if (!result)
            result = rp__osv_record(rec, add_affected, b, &err);
        if (!result && json_object_get(rec, "withdrawn"))
            b->info->withdrawn++;
        else if (!result)
            b->info->records++;
        json_decref(rec);
    }
    if (result == RP_EINVAL || result == RP_ETOOBIG) {
        /* A long reason is cut: its start names the file and entry, which matter most. */
        if (b->info->skipped++ == 0 &&
            snprintf(b->info->first_skip, sizeof(b->info->first_skip), "%s%s%s: %s", b->file,
                     b->entry ? ": " : "", b->entry ? b->entry : "", err.msg) < 0)
            b->info->first_skip[0] = '\0';
        return RP_OK;
    }
    return result;
}

static int add_zip(struct build *b, const char *path, struct rp_error *err)
{
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &code);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        rp_error_set(err, "cannot read '%s': %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return RP_EINVAL;
    }
    int result = RP_OK;
    char *buf = NULL;
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; !result && i < n; i++) {
        zip_stat_t st;
        if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) || !(st.valid & ZIP_STAT_NAME) ||
            !has_suffix(st.name, ".json"))
            continue;
        if (!(st.valid & ZIP_STAT_SIZE) || st.size > RECORD_MAX) {
            rp_error_set(err, "'%s': entry '%s' is larger than %u MiB", path, st.name,
                         RECORD_MAX >> 20);
            result = RP_EINVAL;
            break;
        }
        char *nb = realloc(buf, st.size + 1);
        if (!nb) {
            result = RP_ENOMEM;
            break;
        }
        buf = nb;
        zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
        zip_int64_t got = zf ? zip_fread(zf, buf, st.size) : -1;
        /* libzip checks an entry's CRC only when a read reaches its end: read past it. A damaged
         * entry fails here, as does one longer than the central directory says. */
        if (got == (zip_int64_t)st.size && zip_fread(zf, buf + st.size, 1) != 0)
            got = -1;
        if (got != (zip_int64_t)st.size) {
            rp_error_set(err, "'%s': entry '%s': %s", path, st.name,
                         zf ? zip_file_strerror(zf) : zip_strerror(z));
            result = RP_EINVAL;
        } else if (zip_fclose(zf)) {
            zf = NULL;
            rp_error_set(err, "'%s': entry '%s' is damaged", path, st.name);
            result = RP_EINVAL;
        } else {
            zf = NULL;
            b->entry = st.name;
            result = add_record(b, buf, (size_t)got);
            b->entry = NULL;
        }
        if (zf)
            zip_fclose(zf);
    }
    free(buf);
    zip_discard(z);
    return result;
}

static int add_json_file(struct build *b, const char *path, struct rp_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int result = rp_file_read(path, RECORD_MAX, &text, &len, err);
    if (result == RP_ETOOBIG) {
        rp_error_set(err, "'%s' is larger than %u MiB", path, RECORD_MAX >> 20);
        result = RP_EINVAL;
    }
    if (!result)
        result = add_record(b, text, len);
    free(text);
    return result;
}

static const char *const schema[] = {
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE advisories (rid INTEGER PRIMARY KEY, id TEXT NOT NULL, aliases TEXT NOT NULL,"
    " summary TEXT NOT NULL, modified TEXT NOT NULL)",
    "CREATE TABLE affected (eco INTEGER NOT NULL, name TEXT NOT NULL, rid INTEGER NOT NULL,"
    " ecosystem TEXT NOT NULL, ranges BLOB NOT NULL, versions BLOB NOT NULL,"
    " severity TEXT NOT NULL)",
    "BEGIN",
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int build_index(sqlite3 *db, const struct files *f, const char *fp,
                       const struct rp_vuln_db_options *opt, struct rp_vuln_db_info *info,
                       struct rp_error *err)
{
    double t0 = now_seconds();
    struct build b = {.db = db, .info = info};
    int result = RP_OK;
    for (size_t i = 0; !result && i < sizeof(schema) / sizeof(schema[0]); i++)
        if (sqlite3_exec(db, schema[i], NULL, NULL, NULL) != SQLITE_OK)
            result = RP_EIO;
    if (!result &&
        (sqlite3_prepare_v2(db,
                            "INSERT INTO advisories (id, aliases, summary, modified)"
                            " VALUES (?1, ?2, ?3, ?4)",
                            -1, &b.adv, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db,
                            "INSERT INTO affected (eco, name, rid, ecosystem, ranges, versions,"
                            " severity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            -1, &b.aff, NULL) != SQLITE_OK))
        result = RP_EIO;
    if (result)
        rp_error_set(err, "cannot write the index: %s", sqlite3_errmsg(db));
    for (size_t i = 0; !result && i < f->n; i++) {
        b.file = f->v[i].path;
        result =
            has_suffix(b.file, ".zip") ? add_zip(&b, b.file, err) : add_json_file(&b, b.file, err);
        if (result == RP_EIO && !err->msg[0])
            rp_error_set(err, "cannot write the index: %s", sqlite3_errmsg(db));
        if (!result && opt && opt->progress)
            opt->progress(opt->arg, b.file, info->records);
    }
    sqlite3_finalize(b.adv);
    sqlite3_finalize(b.aff);
    /* What this build found is kept with the index, so that an open that reuses it says the
     * same (withdrawn and skipped records are not in the tables). */
    sqlite3_stmt *s = NULL;
    if (!result && (sqlite3_prepare_v2(db, "INSERT INTO meta VALUES ('first_skip', ?1)", -1, &s,
                                       NULL) != SQLITE_OK ||
                    sqlite3_bind_text(s, 1, info->first_skip, -1, SQLITE_STATIC) != SQLITE_OK ||
                    sqlite3_step(s) != SQLITE_DONE)) {
        rp_error_set(err, "cannot write the index: %s", sqlite3_errmsg(db));
        result = RP_EIO;
    }
    sqlite3_finalize(s);
    if (!result) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "CREATE INDEX affected_key ON affected (eco, name);"
                 "INSERT INTO meta VALUES ('fingerprint', '%s');"
                 "INSERT INTO meta VALUES ('records', '%zu');"
                 "INSERT INTO meta VALUES ('withdrawn', '%zu');"
                 "INSERT INTO meta VALUES ('skipped', '%zu');"
                 "PRAGMA user_version = %d; COMMIT",
                 fp, info->records, info->withdrawn, info->skipped, INDEX_FORMAT);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            rp_error_set(err, "cannot write the index: %s", sqlite3_errmsg(db));
            result = RP_EIO;
        }
    }
    info->built = true;
    info->build_seconds = now_seconds() - t0;
    return result;
}

/* ---- opening ---- */

/* Whether the index at db is current: its format and fingerprint match. */
static bool index_current(sqlite3 *db, const char *fp, struct rp_vuln_db_info *info)
{
    sqlite3_stmt *s = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT value FROM meta WHERE key = 'fingerprint'),"
                           " (SELECT value FROM meta WHERE key = 'records'),"
                           " (SELECT COUNT(*) FROM affected),"
                           " (SELECT value FROM meta WHERE key = 'withdrawn'),"
                           " (SELECT value FROM meta WHERE key = 'skipped'),"
                           " (SELECT value FROM meta WHERE key = 'first_skip')",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *got = sqlite3_column_text(s, 0);
        const unsigned char *first_skip = sqlite3_column_text(s, 5);
        ok = got && !strcmp((const char *)got, fp) && first_skip;
        if (ok) {
            info->records = (size_t)sqlite3_column_int64(s, 1);
            info->packages = (size_t)sqlite3_column_int64(s, 2);
            info->withdrawn = (size_t)sqlite3_column_int64(s, 3);
            info->skipped = (size_t)sqlite3_column_int64(s, 4);
            snprintf(info->first_skip, sizeof(info->first_skip), "%s", (const char *)first_skip);
        }
    }
    sqlite3_finalize(s);
    sqlite3_stmt *v = NULL;
    ok = ok && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK &&
         sqlite3_step(v) == SQLITE_ROW && sqlite3_column_int(v, 0) == INDEX_FORMAT;
    sqlite3_finalize(v);
    return ok;
}

/* Where the index of the database at path goes (see rp_vuln_db_options.index). */
static void index_path(const char *path, const struct stat *st, char *out, size_t cap)
{
    /* Beside the database only in a folder of this user's that its mode lets them write to
     * (root passes access(W_OK) everywhere, even on a read-only data set). */
    if (S_ISDIR(st->st_mode) && st->st_uid == geteuid() && (st->st_mode & S_IWUSR) &&
        !(st->st_mode & (S_IWGRP | S_IWOTH)) && access(path, W_OK) == 0 &&
        snprintf(out, cap, "%s/.rampart-vulns.idx", path) < (int)cap)
        return;
    char dir[PATH_MAX - 100], real[PATH_MAX];
    if (!rp_cache_dir(dir, sizeof(dir)) || !realpath(path, real)) {
        snprintf(out, cap, ":memory:");
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    char hex[17] = "";
    if (EVP_Digest(real, strlen(real), md, &len, EVP_sha256(), NULL))
        for (unsigned i = 0; i < 8; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, cap, "%s/vulns-%s.idx", dir, hex);
}

static int open_ro(const char *file, sqlite3 **db)
{
    /* Exclusive locking: one shared lock for the connection's life rather than a lock and an
     * unlock around every lookup (a rebuild writes another file and renames it). */
    if (sqlite3_open_v2(file, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(*db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(*db);
        *db = NULL;
        return RP_EIO;
    }
    return RP_OK;
}

int rp_vuln_db_open(const char *path, const struct rp_vuln_db_options *opt, struct rp_vuln_db **out,
                    struct rp_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st)) {
        rp_error_set(err, "no advisory database at '%s': %s", path, strerror(errno));
        return RP_ENOTFOUND;
    }
    struct files f = {0};
    int result = RP_OK;
    if (S_ISDIR(st.st_mode))
        result = walk(path, 0, &f);
    else if (S_ISREG(st.st_mode) && (has_suffix(path, ".zip") || has_suffix(path, ".json")))
        result = files_add(&f, path, &st);
    if (result) {
        rp_error_set(err, "cannot read the advisory database '%s'", path);
        files_release(&f);
        return result;
    }
    if (f.n == 0) {
        rp_error_set(err,
                     "no advisories in '%s': expected <Ecosystem>/all.zip (osv.dev's offline"
                     " layout) or .json records",
                     path);
        files_release(&f);
        return RP_ENOTFOUND;
    }
    qsort(f.v, f.n, sizeof(f.v[0]), by_path);
    char fp[65];
    fingerprint(&f, fp);
    struct rp_vuln_db *db = calloc(1, sizeof(*db));
    if (!db) {
        files_release(&f);
        return RP_ENOMEM;
    }
    memset(db->has_eco, -1, sizeof(db->has_eco));
    db->info.files = f.n;
    if (opt && opt->index)
        snprintf(db->info.index, sizeof(db->info.index), "%s", opt->index);
    else
        index_path(path, &st, db->info.index, sizeof(db->info.index));
    bool memory = !strcmp(db->info.index, ":memory:");
    if (!memory && !(opt && opt->rebuild) && !open_ro(db->info.index, &db->db) &&
        !index_current(db->db, fp, &db->info)) {
        sqlite3_close(db->db);
        db->db = NULL;
    }
    if (!db->db) {
        /* Build into a file of our own, then rename it over the old index: a reader never sees
         * half an index, and two builds at once do not mix. */
        char tmp[sizeof(db->info.index) + 32];
        snprintf(tmp, sizeof(tmp), "%s", db->info.index);
        if (!memory)
            snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", db->info.index, (long)getpid());
        sqlite3 *w = NULL;
        if (sqlite3_open_v2(tmp, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
            rp_error_set(err, "cannot write the index '%s': %s", tmp, sqlite3_errmsg(w));
            result = RP_EIO;
        }
        if (!result) {
            db->info.records = db->info.packages = db->info.withdrawn = db->info.skipped = 0;
            db->info.first_skip[0] = '\0';
            result = build_index(w, &f, fp, opt, &db->info, err);
        }
        if (memory && !result) {
            db->db = w;
            w = NULL;
        } else {
            sqlite3_close(w);
        }
        if (!memory && !result && rename(tmp, db->info.index)) {
            rp_error_set(err, "cannot write the index '%s': %s", db->info.index, strerror(errno));
            result = RP_EIO;
        }
        if (!memory)
            unlink(tmp);
        if (!memory && !result && open_ro(db->info.index, &db->db)) {
            rp_error_set(err, "cannot read the index '%s'", db->info.index);
            result = RP_EIO;
        }
    }
    files_release(&f);
    if (!result &&
        sqlite3_prepare_v2(db->db,
                           "SELECT v.id, v.aliases, v.summary, a.severity, a.ecosystem, a.ranges,"
                           " a.versions FROM affected a JOIN advisories v ON v.rid = a.rid"
                           " WHERE a.eco = ?1 AND a.name = ?2",
                           -1, &db->lookup, NULL) != SQLITE_OK) {
        rp_error_set(err, "cannot read the index '%s': %s", db->info.index, sqlite3_errmsg(db->db));
        result = RP_EIO;
    }
    if (!result && db->info.records == 0 && db->info.withdrawn == 0) {
        rp_error_set(err, "no advisories in '%s'%s%s", path, db->info.skipped ? ": " : "",
                     db->info.skipped ? db->info.first_skip : "");
        result = RP_ENOTFOUND;
    }
    if (result) {
        rp_vuln_db_close(db);
        return result;
    }
    *out = db;
    return RP_OK;
}

bool rp_vuln_db_has_ecosystem(struct rp_vuln_db *db, enum rp_eco eco)
{
    if ((unsigned)eco >= RP_ECO_COUNT || eco == RP_ECO_OTHER)
        return false;
    if (db->has_eco[eco] < 0) {
        /* One step of the (eco, name) index. */
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(db->db, "SELECT 1 FROM affected WHERE eco = ?1 LIMIT 1", -1, &s,
                                    NULL);
        if (rc == SQLITE_OK)
            sqlite3_bind_int(s, 1, (int)eco);
        rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return false;
        db->has_eco[eco] = rc == SQLITE_ROW;
    }
    return db->has_eco[eco] == 1;
}

int rp_vuln_db_has_id(struct rp_vuln_db *db, const char *id, bool *found)
{
    /* Aliases are kept as one text, each ended by RP__SEP: a whole alias is SEP id SEP in
     * SEP || aliases. A scan of the advisories, done once an id. */
    char sep[2] = {RP__SEP, '\0'};
    sqlite3_stmt *s = NULL;
    *found = false;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT 1 FROM advisories WHERE id = ?1"
                           " OR instr(?2 || aliases, ?2 || ?1 || ?2) > 0 LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return RP_EIO;
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sep, 1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return RP_EIO;
    *found = rc == SQLITE_ROW;
    return RP_OK;
}

const struct rp_vuln_db_info *rp_vuln_db_info(const struct rp_vuln_db *db)
{
    return &db->info;
}

void rp_vuln_db_close(struct rp_vuln_db *db)
{
    if (!db)
        return;
    sqlite3_finalize(db->lookup);
    sqlite3_close(db->db);
    free(db);
}

int rp__vuln_db_lookup(struct rp_vuln_db *db, enum rp_eco eco, const char *key, rp__vuln_hit_fn *fn,
                       void *arg)
{
    sqlite3_stmt *s = db->lookup;
    sqlite3_reset(s);
    sqlite3_bind_int(s, 1, (int)eco);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    int rc, result = RP_OK;
    while (!result && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct rp__vuln_hit h = {
            .id = (const char *)sqlite3_column_text(s, 0),
            .aliases = (const char *)sqlite3_column_text(s, 1),
            .summary = (const char *)sqlite3_column_text(s, 2),
            .severity = (const char *)sqlite3_column_text(s, 3),
            .ecosystem = (const char *)sqlite3_column_text(s, 4),
            .ranges = {sqlite3_column_blob(s, 5), (size_t)sqlite3_column_bytes(s, 5)},
            .versions = {sqlite3_column_blob(s, 6), (size_t)sqlite3_column_bytes(s, 6)},
        };
        if (!h.id || !h.aliases || !h.summary || !h.severity || !h.ecosystem)
            return RP_EIO;
        if (!h.ranges.ptr)
            h.ranges = (struct rp_str){"", 0};
        if (!h.versions.ptr)
            h.versions = (struct rp_str){"", 0};
        result = fn(arg, &h);
    }
    sqlite3_reset(s);
    if (!result && rc != SQLITE_DONE)
        result = RP_EIO;
    return result;
}
