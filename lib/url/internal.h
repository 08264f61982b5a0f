/* Internals shared by the URL parser's files (not part of the public API). */
#ifndef RAMPART_URL_INTERNAL_H
#define RAMPART_URL_INTERNAL_H

#include "rampart/url.h"
#include "rampart/url_inspect.h"

/* The host parser of the URL standard. is_opaque is true for non-special schemes. On success
 * appends the serialised host to out and sets *type. */
int rp__url_host_parse(struct rp_str input, bool is_opaque, struct rp_buf *out,
                       enum rp_url_host_type *type, struct rp_error *err);

/* Percent-encode sets of the URL standard. */
enum rp__pct_set {
    RP_PCT_C0,
    RP_PCT_FRAGMENT,
    RP_PCT_QUERY,
    RP_PCT_SPECIAL_QUERY,
    RP_PCT_PATH,
    RP_PCT_USERINFO
};

bool rp__url_in_pct_set(unsigned char c, enum rp__pct_set set);
int rp__url_pct_encode(struct rp_buf *out, const char *ptr, size_t len, enum rp__pct_set set);

/* Where an IP host (IPv4 or IPv6 type, as serialised) leads: RP_URL_NET_PUBLIC for every other
 * host. *what gets a static phrase naming the range; *mapped is set for an IPv4-mapped IPv6
 * address ([::ffff:7f00:1]), classified by its IPv4 part. */
enum rp_url_network rp__url_ip_network(const struct rp_url *u, const char **what, bool *mapped);
/* Where a lowercase ASCII domain leads by its name alone (localhost, .local, .internal, ...):
 * RP_URL_NET_PUBLIC when no rule of RFC 6761, 6762 or 8375 applies. *what as above. */
enum rp_url_network rp__url_name_network(const char *host, const char **what);

/* Parses text as a brands list and as a one-domain-a-line list, then throws the result away:
 * the list parsers' fuzz entry point (fuzz/fuzz_url_lists.c). */
int rp__url_lists_parse(struct rp_str text, struct rp_error *err);

#endif
