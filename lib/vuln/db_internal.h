/* Internals of the advisory index (lib/vuln/db.c) that matching (lib/vuln/match.c) reads. */
#ifndef RAMPART_VULN_DB_INTERNAL_H
#define RAMPART_VULN_DB_INTERNAL_H

#include "osv_internal.h"

/* One (record, affected package) row of the index. The strings live until the callback
 * returns. */
struct rp__vuln_hit {
    const char *id;
    const char *aliases; /* each ended by RP__SEP */
    const char *summary;
    const char *severity; /* CVSS vector or "" */
    const char *ecosystem;
    struct rp_str ranges;   /* compact form (osv_internal.h) */
    struct rp_str versions; /* compact form */
};

typedef int rp__vuln_hit_fn(void *arg, const struct rp__vuln_hit *h);

/* Calls fn for every indexed affected package of ecosystem eco whose name key
 * (rp__vuln_name_key) is key. fn's non-zero result stops and is returned; RP_EIO when the index
 * cannot be read. */
int rp__vuln_db_lookup(struct rp_vuln_db *db, enum rp_eco eco, const char *key, rp__vuln_hit_fn *fn,
                       void *arg);

#endif
