/* rampart url inspection: who controls a web address, and whether it looks deceptive.
 * The decision is plain data in, a report out; callers print or act on it. */
#ifndef RAMPART_URL_INSPECT_H
#define RAMPART_URL_INSPECT_H

#include "rampart/base.h"
#include "rampart/url.h"

enum rp_url_verdict { RP_URL_OK = 0, RP_URL_CAUTION, RP_URL_DANGER };

/* At most this many reasons are reported for one address (there are fewer codes than this). */
#define RP_URL_MAX_REASONS 24

struct rp_url_reason {
    const char *code;             /* a reason code of docs/url.md, static */
    enum rp_url_verdict severity; /* what this reason alone makes of the address */
    char *message;                /* a sentence for a person, owned by the report */
};

/* Where a host leads when it is not a place on the public internet (docs/url.md). */
enum rp_url_network {
    RP_URL_NET_PUBLIC = 0,  /* the public internet, or no host at all */
    RP_URL_NET_LOOPBACK,    /* this computer: 127.0.0.0/8, ::1, localhost, *.localhost */
    RP_URL_NET_UNSPECIFIED, /* 0.0.0.0/8, ::: no destination; browsers take this computer */
    RP_URL_NET_PRIVATE,     /* a private network: RFC 1918, fc00::/7 (and fec0::/10) */
    RP_URL_NET_LINK_LOCAL,  /* the local network segment: 169.254.0.0/16, fe80::/10 */
    RP_URL_NET_SHARED,      /* an internet provider's own network: 100.64.0.0/10 */
    RP_URL_NET_RESERVED,    /* documentation, benchmarks, multicast, broadcast, future use */
    RP_URL_NET_LOCAL_NAME   /* .local, .internal, .home.arpa, ..., a name without a dot */
};

/* What the inspector found. Strings are owned by the report; NULL where the JSON says null. */
struct rp_url_report {
    bool valid;         /* the browser would accept the address */
    bool scheme_added;  /* no scheme was given: read as the address bar does, https:// */
    char *error;        /* why not, when !valid */
    struct rp_url url;  /* the parsed address, when valid */
    char *host_unicode; /* the host as a person should read it */
    bool ip;            /* the host is an IPv4 or IPv6 address */
    enum rp_url_network network;
    const char *network_what; /* static: the range or name rule matched; NULL when public */
    bool network_mapped;      /* an IPv4-mapped IPv6 host, classified by its IPv4 part */
    char *registrable_domain; /* ASCII; NULL for IP hosts, public suffixes, no host */
    char *registrable_domain_unicode;
    char *public_suffix;    /* e.g. "co.uk" */
    char *controlling_word; /* the label left of the public suffix, in Unicode */
    enum rp_url_verdict verdict;
    double score; /* learned phishing score, 0..1 */
    struct rp_url_reason reasons[RP_URL_MAX_REASONS];
    size_t n_reasons;
};

/* Files that replace the embedded defaults; NULL keeps the default. */
struct rp_url_inspector_options {
    const char *psl_file;        /* Public Suffix List (.dat); default: the system's newest */
    const char *brands_file;     /* conf/brands.txt format */
    const char *shorteners_file; /* conf/shorteners.txt format */
    const char *tlds_file;       /* conf/suspicious-tlds.txt format */
    const char *model_file;      /* conf/url-model.txt format */
};

struct rp_url_inspector;

/* Loads the lists and the model. On success *out is owned by the caller (rp_url_inspector_free).
 * On failure returns a negative code and says what and where in err ("file:line: what").
 * An inspector is read-only once made: threads may share it. */
int rp_url_inspector_new(const struct rp_url_inspector_options *opt, struct rp_url_inspector **out,
                         struct rp_error *err);
void rp_url_inspector_free(struct rp_url_inspector *in);

/* Inspects one address: any bytes are accepted, a non-URL gives valid=false and the reason
 * "invalid". Returns 0, or RP_ENOMEM (then *out is empty). The caller releases *out with
 * rp_url_report_release(). */
int rp_url_inspect(const struct rp_url_inspector *in, struct rp_str input,
                   struct rp_url_report *out);
void rp_url_report_release(struct rp_url_report *r);

/* The registrable domain (Public Suffix List, ICANN and PRIVATE sections) of a domain written
 * in Unicode or ASCII, any case. *out is the ASCII form, owned by the caller, or NULL when the
 * domain is a public suffix itself, an IP address or starts with '.'. Returns RP_EINVAL (with
 * err) when domain is not a valid host. */
int rp_url_registrable_domain(const struct rp_url_inspector *in, struct rp_str domain, char **out,
                              struct rp_error *err);

/* The UTS #39 confusable skeleton of s (UTF-8, at most 256 bytes), lowercased, so that
 * "j0hn", "JOHN" and "jоhn" (Cyrillic o) all give "john"; "m" gives "rn". A new string the
 * caller frees, or NULL when s is too long, not UTF-8 or memory ran out. */
char *rp_url_skeleton(const struct rp_url_inspector *in, struct rp_str s);

const char *rp_url_verdict_name(enum rp_url_verdict v);
/* "public", "loopback", "unspecified", "private", "link-local", "shared", "reserved" or
 * "local-name": the JSON field network. */
const char *rp_url_network_name(enum rp_url_network n);

/* Appends the report as one line of JSON (no newline) to out. */
int rp_url_report_json(const struct rp_url_report *r, struct rp_str input, struct rp_buf *out);

/* Appends a short explanation for a non-expert, several lines ending in '\n', to out. */
int rp_url_report_explain(const struct rp_url_report *r, struct rp_str input, struct rp_buf *out);

#endif
