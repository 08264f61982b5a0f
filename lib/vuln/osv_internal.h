/* Internals of OSV records and their index (lib/vuln/osv.c, db.c, match.c), shared with the
 * unit tests and fuzz targets; not part of the public API. */
#ifndef RAMPART_VULN_OSV_INTERNAL_H
#define RAMPART_VULN_OSV_INTERNAL_H

#include <jansson.h>

#include "rampart/vuln.h"

/* The ranges of one affected package are kept in the index in a compact text form: for each
 * SEMVER or ECOSYSTEM range (GIT ranges name commits, not versions, and are left out) the
 * letter 'S' or 'E', then each event as one letter and its version ended by RP__SEP: 'i'
 * introduced, 'f' fixed, 'l' last_affected, 'm' limit; ranges are ended by RP__RANGE_END.
 * Each range's events are sorted as the schema's evaluation orders them (introduced "0"
 * first, then by version in the ecosystem's order, limits last); events whose version the
 * ecosystem cannot read are left out. Explicit versions are those the ecosystem can read, sorted
 * in its order, each ended by RP__SEP, then, if any, RP__UNORDERED and the others. Versions
 * never hold these bytes (records whose versions do are refused when indexed). */
#define RP__SEP '\x1f'
#define RP__RANGE_END '\x1e'
#define RP__UNORDERED '\x1d'

/* One affected package of a record, as rp__osv_record() hands it out. Strings point into the
 * record or into buffers that live until the callback returns. */
struct rp__osv_affected {
    enum rp_eco eco;
    struct rp_str ecosystem; /* as the record writes it ("PyPI", "Debian:12") */
    struct rp_str name;      /* the package name, as written */
    struct rp_str ranges;    /* compact form (above) */
    struct rp_str versions;  /* compact form (above) */
    struct rp_str severity;  /* the CVSS vector that applies to this package, or empty */
};

/* What a record says about itself. */
struct rp__osv_info {
    const char *id;
    const char *summary;  /* summary, else the first line of details (cut), else "" */
    const char *aliases;  /* the aliases, each ended by RP__SEP */
    const char *modified; /* as written, or "" */
    bool withdrawn;
};

typedef int rp__osv_affected_fn(void *arg, const struct rp__osv_info *info,
                                const struct rp__osv_affected *a);

/* Reads one OSV record (a parsed JSON object) and calls fn for each affected package. A record
 * without an id, with affected of the wrong type, or with a version that holds a control byte
 * is RP_EINVAL with what is wrong in err. fn's non-zero result stops the walk and is returned.
 * Withdrawn records are handed out with info->withdrawn set. */
int rp__osv_record(json_t *rec, rp__osv_affected_fn *fn, void *arg, struct rp_error *err);

/* The normalised form of a package name for lookups: PyPI's PEP 503 form (lowercase, runs of
 * '-', '_', '.' as one '-'), crates.io lowercase with '_' as '-', other ecosystems as written.
 * Writes at most cap bytes with a NUL; false when it does not fit. */
bool rp__vuln_name_key(enum rp_eco eco, struct rp_str name, char *out, size_t cap);

/* Whether version v (of ecosystem eco) is affected by an affected package in compact form, as
 * the OSV schema's evaluation says (docs/vulns.md). When it is and a later 'fixed' event of the
 * range that holds v exists, *fixed (if not NULL) points at that version inside ranges, with
 * *fixed_len its length; else *fixed is NULL. When v is not a valid version of eco, only the
 * explicit versions are consulted. */
bool rp__osv_affects(enum rp_eco eco, struct rp_str v, struct rp_str ranges, struct rp_str versions,
                     const char **fixed, size_t *fixed_len);

/* The same; *forced (if not NULL) says whether every version from v up to *fixed is affected
 * too (v is in a range whose next event of note is that fix: no last_affected before it, no
 * limit), so no version below *fixed can clear this record. */
bool rp__osv_affects_ex(enum rp_eco eco, struct rp_str v, struct rp_str ranges,
                        struct rp_str versions, const char **fixed, size_t *fixed_len,
                        bool *forced);

/* Compares versions a and b in eco's order; when one of them is not a valid version of eco, in
 * the generic order (RP_ECO_OTHER) instead, so that any two versions can be sorted. */
int rp__version_order(enum rp_eco eco, struct rp_str a, struct rp_str b);

/* Calls fn(arg, version) for each 'fixed' event of ranges (candidates for an upgrade). */
void rp__osv_fixed_events(struct rp_str ranges, void (*fn)(void *arg, struct rp_str v), void *arg);

#endif
