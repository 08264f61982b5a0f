/* Internals shared by lib/vuln's files, its unit tests and fuzz targets (not part of the public
 * API). */
#ifndef RAMPART_VULN_INTERNAL_H
#define RAMPART_VULN_INTERNAL_H

#include "rampart/json.h"
#include "rampart/vuln.h"

/* ---- package URLs (lib/vuln/purl.c) ---- */

/* A package URL read down to what matching needs. Both strings are heap copies owned by the
 * struct (rp__purl_release frees them). */
struct rp__purl {
    enum rp_eco eco;
    char *name;    /* the ecosystem's package name: "github.com/foo/bar", "@scope/pkg", ... */
    char *version; /* NULL when the URL carries none */
};

/* Parses "pkg:type/namespace/name@version?qualifiers#subpath" (the purl specification): type
 * pypi, golang, npm, cargo and deb (namespace "debian") pick an ecosystem, any other type is
 * RP_ECO_OTHER. Percent-escapes are decoded; qualifiers and subpath are ignored. The name joins
 * the namespace and the name with '/' (with ':' for maven). Returns 0, RP_ENOMEM, or RP_EINVAL
 * with "invalid package URL '...': why" in err; on failure *out holds nothing to release. */
int rp__purl_parse(struct rp_str purl, struct rp__purl *out, struct rp_error *err);
void rp__purl_release(struct rp__purl *p);

/* ---- inventories (lib/vuln/inventory.c, and one inv_*.c file per format) ---- */

/* inventory.c holds what every format shares: the inventory, the format table (name, how a
 * file is recognised, its reader) and the helpers below. Each inv_*.c file reads one format
 * (or a family that shares a reader) and exports its rp__inv_read_* and, when a base name is
 * not enough to recognise a file, its rp__inv_is_*. */

/* Longest package name or version kept: real ones are far shorter (npm allows 214 bytes, Go
 * module paths a few hundred); anything longer is a broken or hostile file. */
#define RP__INV_MAX_FIELD 4096

/* The reading of one file: where its packages go and where errors are told. */
struct rp__inv {
    struct rp_inventory *inv;
    const char *source; /* the file's path, owned by inv */
    struct rp_error *err;
    const struct rp_inventory_options *opt; /* may be NULL */
};

/* A format's reader: appends the packages of text to c->inv. On failure returns RP_EINVAL with
 * "line N: what" in c->err (rp__inv_fail), RP_ENOMEM or RP_ETOOBIG; the packages it added by
 * then are dropped by its caller. */
typedef int (*rp__inv_read_fn)(struct rp__inv *c, struct rp_str text);
/* Whether a file is in a format, from its path (may be NULL), the path's base name and the
 * start of its content (head.ptr NULL when there is none). */
typedef bool (*rp__inv_is_fn)(const char *path, struct rp_str base, struct rp_str head);

/* Fills c->err with "line N: " and the message: every malformed-file error names its line.
 * Returns RP_EINVAL. */
int rp__inv_fail(struct rp__inv *c, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends one package: name as written, version NULL when the file pins none, path where the
 * file installs it (or NULL). All are copied. An empty or over-long name or version, or one with
 * a NUL byte, is an error of line. */
int rp__inv_add_pkg_at(struct rp__inv *c, enum rp_eco eco, struct rp_str name,
                       const struct rp_str *version, unsigned line, const struct rp_str *path);
int rp__inv_add_pkg(struct rp__inv *c, enum rp_eco eco, struct rp_str name,
                    const struct rp_str *version, unsigned line);
/* Adds the package a purl names (line: where the purl is); a malformed purl is an error. */
int rp__inv_add_purl(struct rp__inv *c, struct rp_str purl, unsigned line);
/* Appends a copy of path to c->inv->sources; *out is the copy. */
int rp__inv_add_source(struct rp__inv *c, const char *path, const char **out);
/* Drops packages [from, to) of the inventory. */
void rp__inv_drop_pkgs(struct rp_inventory *inv, size_t from, size_t to);

/* s without the blanks (space, tab) at either end. */
struct rp_str rp__inv_trim(struct rp_str s);
/* The line that starts at p (before end): its content without "\n" or "\r\n", and where the next
 * one starts. */
struct rp_str rp__inv_next_line(const char *p, const char *end, const char **next);
/* Whether s ends with suffix, ASCII case aside. */
bool rp__inv_has_suffix(struct rp_str s, const char *suffix);
/* Space, tab, CR, FF or VT: what pip, Go and dpkg take for a blank inside a line. */
bool rp__inv_blank(char ch);

/* The JSON formats (lib/vuln/inv_json.c) are read by the streaming reader of rampart/json.h;
 * struct rp__inv_json adds the file being read. */
struct rp__inv_json {
    struct rp_jsonr r;
    struct rp__inv *c;
};
/* Reads text as one JSON object: reader walks its members (after the '{'), and nothing but
 * white space may follow it. */
typedef int (*rp__inv_json_fn)(struct rp__inv_json *j);
int rp__inv_read_json(struct rp__inv *c, struct rp_str text, rp__inv_json_fn reader);
/* The error of a member key that has the wrong type: '"key" is a number, not a string'. */
int rp__inv_json_wrong(struct rp__inv_json *j, unsigned line, struct rp_str key,
                       const struct rp_jsonv *v, const char *want);
/* Whether base is a *.json file whose head names mine ("\"bomFormat\"") before other. */
bool rp__inv_json_says(struct rp_str base, struct rp_str head, const char *mine, const char *other);

/* The members of a lock entry (after its '{'): "version" (a string, kept in version), and for
 * npm "name" (kept in name) and "link". Other members are passed over. Pipfile.lock and
 * package-lock.json share it. */
struct rp__inv_lock_entry {
    bool has_version, has_name, link;
    struct rp_buf version, name;
};
void rp__inv_lock_entry_init(struct rp__inv_lock_entry *e, size_t cap);
void rp__inv_lock_entry_release(struct rp__inv_lock_entry *e);
int rp__inv_lock_entry_read(struct rp__inv_json *j, struct rp__inv_lock_entry *e, bool npm);

/* Reads text as one JSON value (any type) with the inventory's JSON reader and throws it away:
 * RP_EINVAL with "line N: what" in err when it is not valid JSON. For the fuzz target, which
 * compares the verdict with jansson's. */
int rp__inventory_json_check(struct rp_str text, struct rp_error *err);

/* The formats: what the table of inventory.c names for each. */
int rp__inv_read_requirements(struct rp__inv *c, struct rp_str text); /* inv_requirements.c */
bool rp__inv_is_requirements(const char *path, struct rp_str base, struct rp_str head);
int rp__inv_read_poetry_lock(struct rp__inv *c, struct rp_str text); /* inv_toml_lock.c */
int rp__inv_read_cargo_lock(struct rp__inv *c, struct rp_str text);
int rp__inv_read_pipfile_lock(struct rp__inv *c, struct rp_str text); /* inv_pipfile.c */
int rp__inv_read_npm_lock(struct rp__inv *c, struct rp_str text);     /* inv_npm.c */
int rp__inv_read_go_mod(struct rp__inv *c, struct rp_str text);       /* inv_gomod.c */
int rp__inv_read_dpkg_status(struct rp__inv *c, struct rp_str text);  /* inv_dpkg.c */
int rp__inv_read_dpkg_status_d(struct rp__inv *c, struct rp_str text);
bool rp__inv_is_dpkg_status_d(const char *path, struct rp_str base, struct rp_str head);
int rp__inv_read_opkg_status(struct rp__inv *c, struct rp_str text);
bool rp__inv_is_opkg_status(const char *path, struct rp_str base, struct rp_str head);
int rp__inv_read_cyclonedx(struct rp__inv *c, struct rp_str text); /* inv_cyclonedx.c */
bool rp__inv_is_cyclonedx(const char *path, struct rp_str base, struct rp_str head);
int rp__inv_read_spdx(struct rp__inv *c, struct rp_str text); /* inv_spdx.c */
bool rp__inv_is_spdx(const char *path, struct rp_str base, struct rp_str head);

#endif
