/* Internals shared by lib/vuln's files, its unit tests and fuzz targets (not part of the public
 * API). */
#ifndef RAMPART_VULN_INTERNAL_H
#define RAMPART_VULN_INTERNAL_H

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

/* ---- inventories (lib/vuln/inventory.c) ---- */

/* Reads text as one JSON value (any type) with the inventory's JSON reader and throws it away:
 * RP_EINVAL with "line N: what" in err when it is not valid JSON. For the fuzz target, which
 * compares the verdict with jansson's. */
int rp__inventory_json_check(struct rp_str text, struct rp_error *err);

#endif
