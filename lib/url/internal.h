/* Internals shared by the URL parser's files (not part of the public API). */
#ifndef RAMPART_URL_INTERNAL_H
#define RAMPART_URL_INTERNAL_H

#include "rampart/url.h"

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


/* Parses text as a brands list and as a one-domain-a-line list, then throws the result away:
 * the list parsers' fuzz entry point (fuzz/fuzz_url_lists.c). */
int rp__url_lists_parse(struct rp_str text, struct rp_error *err);

#endif
