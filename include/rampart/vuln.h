/* rampart vuln: known vulnerabilities (OSV records) matched against what an organisation runs.
 * Versions compared as each ecosystem orders them, inventories read from lock files and SBOMs,
 * CVSS base scores computed from their vectors. */
#ifndef RAMPART_VULN_H
#define RAMPART_VULN_H

#include "rampart/base.h"

/* ---- ecosystems and versions (lib/vuln/version.c) ---- */

/* The ecosystems whose version order rampart knows. RP_ECO_OTHER compares with the generic
 * fallback (runs of digits as numbers, the rest as text). */
enum rp_eco {
    RP_ECO_OTHER = 0,
    RP_ECO_PYPI,   /* PEP 440 */
    RP_ECO_GO,     /* SemVer 2.0 with Go's leading "v" and "+incompatible" */
    RP_ECO_NPM,    /* SemVer 2.0 */
    RP_ECO_CRATES, /* SemVer 2.0 (crates.io) */
    RP_ECO_DEBIAN, /* dpkg: epoch, upstream with "~", revision */
    /* OpenWrt's opkg packages, in dpkg's order (opkg's is dpkg's). OSV has no OpenWrt
     * advisories: these are read, listed, and reported as not checked unless a database of
     * one's own holds records of ecosystem "OpenWrt". */
    RP_ECO_OPENWRT,
    RP_ECO_COUNT
};

/* The ecosystem an OSV "ecosystem" string names: "PyPI", "Go", "npm", "crates.io", "Debian"
 * (also "Debian:12" and the like: the part after ':' is a release), "OpenWrt". Anything else is
 * RP_ECO_OTHER. */
enum rp_eco rp_eco_from_osv(struct rp_str name);
/* The OSV name of an ecosystem ("PyPI", ...); "other" for RP_ECO_OTHER. */
const char *rp_eco_name(enum rp_eco eco);

/* Compares versions a and b as eco orders them: *cmp is negative, 0 or positive. Returns 0, or
 * RP_EINVAL when a or b is not a valid version of eco (RP_ECO_OTHER never fails). Neither string
 * needs a NUL. Allocates nothing. */
int rp_version_cmp(enum rp_eco eco, struct rp_str a, struct rp_str b, int *cmp);
/* Whether v is a valid version of eco. */
bool rp_version_valid(enum rp_eco eco, struct rp_str v);

/* ---- inventories: what is installed (lib/vuln/inventory.c, a file inv_*.c per format) ---- */

enum rp_inv_format {
    RP_INV_UNKNOWN = 0,
    RP_INV_CYCLONEDX,    /* CycloneDX JSON (components[].purl) */
    RP_INV_SPDX,         /* SPDX 2.3 JSON (packages[].externalRefs purl) */
    RP_INV_REQUIREMENTS, /* requirements.txt */
    RP_INV_POETRY_LOCK,  /* poetry.lock (TOML) */
    RP_INV_PIPFILE_LOCK, /* Pipfile.lock (JSON) */
    RP_INV_GO_MOD,       /* go.mod */
    RP_INV_NPM_LOCK,     /* package-lock.json, lockfileVersion 2 or 3 */
    RP_INV_CARGO_LOCK,   /* Cargo.lock (TOML) */
    RP_INV_DPKG_STATUS,  /* /var/lib/dpkg/status */
    /* One file of /var/lib/dpkg/status.d/ (distroless images): paragraphs as in a status file,
     * where one without a Status field is installed. */
    RP_INV_DPKG_STATUS_D,
    RP_INV_OPKG_STATUS /* OpenWrt's /usr/lib/opkg/status: ecosystem RP_ECO_OPENWRT */
};

/* One package of an inventory. Strings are owned by the inventory. */
struct rp_pkg {
    enum rp_eco eco;
    char *name;    /* as the file writes it */
    char *version; /* NULL when the file does not pin one (unpinned is then true) */
    bool unpinned; /* a requirement without "==": reported, not matched */
    /* When unpinned, why in a few words when it is not merely a missing or loose version
     * ("its version comes from an environment variable"), else NULL. Static text. */
    const char *why;
    /* Where the file installs this copy, when it says (npm: "node_modules/a/node_modules/b"),
     * else NULL. */
    char *path;
    unsigned line;      /* 1-based line of the file where this package is declared */
    const char *source; /* the file's path, as given to rp_inventory_parse (owned by inv) */
};

/* The packages read from one or more files. */
struct rp_inventory {
    struct rp_pkg *pkgs;
    size_t n, alloc;
    char **sources; /* the paths given to rp_inventory_parse, owned */
    size_t nsources;
};

/* The format a file is in, judged from its path: the base names *requirements*.txt,
 * poetry.lock, Pipfile.lock, go.mod, package-lock.json, npm-shrinkwrap.json, Cargo.lock, status
 * (opkg's when its folder is "opkg"), any file of a dpkg/status.d/ folder but *.md5sums, and,
 * for other *.json files, the start of its content (CycloneDX's "bomFormat", SPDX's
 * "spdxVersion"). RP_INV_UNKNOWN when it is none of them. head may be empty. */
enum rp_inv_format rp_inventory_detect(const char *path, struct rp_str head);
/* A short name of a format ("requirements.txt", "CycloneDX", ...). */
const char *rp_inventory_format_name(enum rp_inv_format f);
/* The base name of the file beside path that the package manager reads instead of it, or NULL:
 * npm installs from an npm-shrinkwrap.json and ignores a package-lock.json in the same folder
 * (npm's documentation of npm-shrinkwrap.json; npm 11 does so). Whether that file exists is the
 * caller's to see. */
const char *rp_inventory_superseded_by(const char *path);

void rp_inventory_init(struct rp_inventory *inv);
void rp_inventory_release(struct rp_inventory *inv);

/* Reads a file that an inventory includes (requirements.txt's "-r FILE" and "-c FILE"). path is
 * the include as pip resolves it (relative to the including file's folder). On success returns
 * 0 with *text a heap copy of the content (the library frees it) of *len bytes, and in id (idcap
 * bytes, NUL-terminated) what identifies the file, such as its real path: an include whose id is
 * one of the files being read is a cycle. On failure returns an RP_E code with why in err. */
typedef int rp_inventory_read_fn(void *arg, const char *path, char **text, size_t *len, char *id,
                                 size_t idcap, struct rp_error *err);
/* The reader of rp_inventory_read_fn for files on disk: at most RP_INV_FILE_MAX bytes
 * (rp_file_read), identified by their real path. arg is unused. */
int rp_inventory_read_file(void *arg, const char *path, char **text, size_t *len, char *id,
                           size_t idcap, struct rp_error *err);
#define RP_INV_FILE_MAX (256u << 20)
/* Includes nested deeper than this are refused (pip has no limit but its stack). */
#define RP_INV_MAX_INCLUDE_DEPTH 32

struct rp_inventory_options {
    /* Reads included files; NULL: a file that includes another is an error. */
    rp_inventory_read_fn *read;
    void *arg;
    /* The id (as read would give it) of the file being parsed, or NULL: its path. */
    const char *id;
};

/* Appends the packages of text, a file at path in format f, to inv. path is copied. On a
 * malformed file returns RP_EINVAL with "line N: what" in err and leaves inv as it was; RP_ENOMEM
 * or RP_ETOOBIG (more than RP_INV_MAX_PKGS packages in inv) likewise. A requirements.txt's
 * includes are errors (rp_inventory_parse_ex follows them). */
int rp_inventory_parse(struct rp_inventory *inv, enum rp_inv_format f, const char *path,
                       struct rp_str text, struct rp_error *err);
/* The same, with options (opt may be NULL). Included files are read with opt->read and their
 * packages name them as their source; a failure in one is RP_EINVAL with "line N: in 'FILE':
 * line M: what" (N the include's line). A cycle of includes, an include nested deeper than
 * RP_INV_MAX_INCLUDE_DEPTH, a URL or an environment variable in an include is an error. */
int rp_inventory_parse_ex(struct rp_inventory *inv, enum rp_inv_format f, const char *path,
                          struct rp_str text, const struct rp_inventory_options *opt,
                          struct rp_error *err);
#define RP_INV_MAX_PKGS 1000000

/* ---- CVSS (lib/vuln/cvss.c) ---- */

/* The base score, 0.0..10.0, of a CVSS v3.0, v3.1 or v4.0 vector ("CVSS:3.1/AV:N/AC:L/...",
 * "CVSS:4.0/AV:N/..."), computed as the specification says. Returns 0, or RP_EINVAL with what is
 * wrong in err (unknown version, missing or repeated base metric, bad value). Metrics may come
 * in any order; temporal, threat, environmental and supplemental metrics are validated but do
 * not change the score (for v4.0 it is the CVSS-B score). err may be NULL; *score is left alone
 * on failure. Allocates nothing. */
int rp_cvss_base_score(struct rp_str vector, double *score, struct rp_error *err);
/* The qualitative rating of a score: "none" (0.0), "low" (0.1-3.9), "medium" (4.0-6.9), "high"
 * (7.0-8.9) or "critical" (9.0-10.0). */
const char *rp_cvss_rating(double score);

/* ---- the advisory database and its index (lib/vuln/db.c) ---- */

/* An OSV database opened for matching: a folder in osv.dev's offline layout
 * (<Ecosystem>/all.zip), any .json records below it, or one .zip or .json file; read through an
 * index built once and rebuilt when a file of the database changes. Read-only once open; not
 * for use by several threads at once. */
struct rp_vuln_db;

struct rp_vuln_db_options {
    /* The index file. NULL: <dir>/.rampart-vulns.idx when the folder is this user's and
     * writable by them only, else
     * vulns-<hash of the path>.idx in rp_cache_dir(), else an index in memory only. */
    const char *index;
    bool rebuild; /* build the index even when it is current */
    /* Called while an index is built, after each file of the database (may be NULL). */
    void (*progress)(void *arg, const char *file, size_t records_so_far);
    void *arg;
};

struct rp_vuln_db_info {
    size_t files;         /* database files (zips and .json records) */
    size_t records;       /* records indexed */
    size_t withdrawn;     /* withdrawn records, left out */
    size_t skipped;       /* malformed records, left out */
    char first_skip[256]; /* why the first of them was left out: "file: entry: what" */
    size_t packages;      /* (record, affected package) pairs indexed */
    bool built;           /* this open built the index (it was missing, stale or --rebuild) */
    double build_seconds;
    char index[4096]; /* where the index is, or ":memory:" */
};

/* Opens the database at path. On success *out is the database (rp_vuln_db_close frees it). On
 * failure returns RP_ENOTFOUND (no such path, or no records in it), RP_EINVAL (an unreadable
 * zip: truncated, not a zip; a record too large) or RP_EIO (the index cannot be written or
 * read), with the file and what went wrong in err. A malformed record is skipped and counted,
 * not an error. */
int rp_vuln_db_open(const char *path, const struct rp_vuln_db_options *opt, struct rp_vuln_db **out,
                    struct rp_error *err);
const struct rp_vuln_db_info *rp_vuln_db_info(const struct rp_vuln_db *db);
void rp_vuln_db_close(struct rp_vuln_db *db);
/* Whether the database holds any record of ecosystem eco (false for RP_ECO_OTHER, and when the
 * index cannot be read). */
bool rp_vuln_db_has_ecosystem(struct rp_vuln_db *db, enum rp_eco eco);
/* Whether some record of the database has id as its id or one of its aliases: *found. Returns 0,
 * or RP_EIO when the index cannot be read. */
int rp_vuln_db_has_id(struct rp_vuln_db *db, const char *id, bool *found);

/* ---- matching and remediation (lib/vuln/match.c) ---- */

/* One flaw affecting a package: records that share an id or alias are merged into one. */
struct rp_vuln_advisory {
    char *id;       /* the id of the record chosen to name it (the ecosystem's own first) */
    char **aliases; /* the other ids, sorted */
    size_t naliases;
    char *summary;
    char *severity; /* the CVSS vector with the highest base score, or NULL */
    double score;   /* its base score, or -1 */
    char *fixed;    /* the smallest version that fixes it for this version, or NULL */
};

struct rp_vuln_result {
    size_t pkg; /* index of the package in the inventory (the first of its copies: same[]) */
    struct rp_vuln_advisory *adv;
    size_t nadv;
    double max_score; /* the highest score of its advisories, or -1 */
    /* The upgrade: the smallest version that fixes every advisory above that has a fix,
     * preferring one that no known advisory of the package affects at all (fix_clean); NULL:
     * no fix yet. fix_removes says how many of the advisories it removes (fewer than nadv when
     * some have no fix yet). */
    char *fix;
    bool fix_clean;
    size_t fix_removes;
};

/* Why a package was not checked. */
enum rp_vuln_skip {
    RP_VULN_UNPINNED = 1,  /* no pinned version (rp_pkg.why may say more) */
    RP_VULN_UNORDERED,     /* an ecosystem whose versions rampart cannot order (pkg:maven...) */
    RP_VULN_NO_ADVISORIES, /* the database holds no advisory of the package's ecosystem */
};
/* "unpinned", "unsupported_ecosystem" or "no_advisories". */
const char *rp_vuln_skip_name(enum rp_vuln_skip why);

struct rp_vuln_unchecked {
    size_t pkg; /* index of the package in the inventory (the first of its copies) */
    enum rp_vuln_skip why;
};

/* What became of an advisory id to ignore. */
enum rp_vuln_ignore_use {
    RP_VULN_IGNORE_USED = 0, /* it left out at least one match */
    RP_VULN_IGNORE_UNUSED,   /* a record of the database has it, but none that affects these */
    RP_VULN_IGNORE_UNKNOWN,  /* no record of the database has it as id or alias: a typo? */
};

/* The report counts distinct packages: the same ecosystem, name (as the ecosystem compares
 * names) and version are one package wherever they are declared and however many copies are
 * installed (npm installs one per node_modules folder that needs it). */
struct rp_vuln_report {
    struct rp_vuln_result *results; /* in inventory order */
    size_t n, alloc;
    /* inv->n entries: same[i] is the next package of the inventory (after i) that is the same
     * package as i, or SIZE_MAX. results and unchecked name the first of each. */
    size_t *same;
    size_t packages;      /* distinct packages */
    size_t scanned;       /* of them, matched: pinned, ordered, with advisories of their kind */
    size_t unpinned;      /* not matched: no pinned version */
    size_t unsupported;   /* not matched: an ecosystem whose versions rampart cannot order */
    size_t no_advisories; /* not matched: the database holds none of their ecosystem */
    size_t bad_version;   /* versions invalid in their ecosystem: matched on explicit lists only */
    size_t advisories;    /* advisories over all results */
    size_t fixable;       /* results with a fix */
    size_t fixable_advisories; /* advisories those fixes remove */
    size_t ignored;            /* records that affected a package but were ignored */
    /* The packages not matched, in inventory order (unpinned + unsupported + no_advisories). */
    struct rp_vuln_unchecked *unchecked;
    size_t nunchecked;
    /* One per id of opt->ignore: how it was used. */
    enum rp_vuln_ignore_use *ignore_use;
};

/* What a match leaves out. */
struct rp_vuln_match_options {
    /* Advisories to ignore (accepted risks), by id or alias: a record that carries one of them
     * is treated as if it were not in the database. */
    const char *const *ignore;
    size_t n_ignore;
    /* The Debian release the packages come from ("12"), or NULL: records scoped to another
     * release ("Debian:11") are then left out; records of plain "Debian" always apply. */
    const char *debian_release;
};

/* Matches every distinct package of inv against db. On success the caller releases *out with
 * rp_vuln_report_release. RP_ENOMEM or RP_EIO (the index could not be read) with err. */
int rp_vuln_match(struct rp_vuln_db *db, const struct rp_inventory *inv, struct rp_vuln_report *out,
                  struct rp_error *err);
/* The same, with options (opt may be NULL). */
int rp_vuln_match_ex(struct rp_vuln_db *db, const struct rp_inventory *inv,
                     const struct rp_vuln_match_options *opt, struct rp_vuln_report *out,
                     struct rp_error *err);
void rp_vuln_report_release(struct rp_vuln_report *r);

/* ---- accepted risks (lib/vuln/ignore.c) ---- */

#define RP_VULN_ID_MAX 256

/* Reads a list of advisory ids to ignore: one a line, blank lines and text after '#' skipped.
 * Calls fn(arg, id) for each (id is a slice of text, without NUL). Returns 0; RP_EINVAL with
 * "line N: what" in err for a line of two words, a control character, an id longer than
 * RP_VULN_ID_MAX or one that is not an advisory id (rp_vuln_id_valid); or fn's non-zero
 * result. */
typedef int rp_vuln_ignore_fn(void *arg, struct rp_str id);
/* Whether id reads as an advisory id: a prefix that starts with a letter, '-', then the rest
 * (PYSEC-2021-66, GHSA-jfh8-c2jp-5v3q, CVE-2021-44228, GO-2023-1737, RUSTSEC-2020-0001,
 * DEBIAN-CVE-...), of letters, digits and "-_.:" only, at most RP_VULN_ID_MAX bytes. */
bool rp_vuln_id_valid(struct rp_str id);
int rp_vuln_ignore_parse(struct rp_str text, rp_vuln_ignore_fn *fn, void *arg,
                         struct rp_error *err);

/* The Debian release an os-release file describes: its VERSION_ID ("12", quoted or not) when its
 * ID is debian and the release is digits and dots. Writes it with a NUL to out (cap bytes) and
 * returns true; else writes "" (when cap > 0) and returns false. */
bool rp_vuln_debian_release(struct rp_str text, char *out, size_t cap);

#endif
