/* rampart gate: the decisions at the front door. GCRA rate limits (requests and tokens), kept
 * in bounded, sharded in-memory tables so that no request waits for the disk. */
#ifndef RAMPART_GATE_H
#define RAMPART_GATE_H

#include "rampart/base.h"
#include "rampart/net.h"

/* A GCRA limit: `rate` units per `period` seconds, with bursts of up to `burst` units. */
struct rp_rate {
    double rate;
    double period;
    double burst;
};

/* The generic cell rate algorithm on one cell's theoretical arrival time (seconds). Charges
 * cost units at time now when the limit allows; returns true, or false with *retry_after (seconds
 * until cost units would pass). A cost of 0 only checks. */
bool rp_gcra(double *tat, const struct rp_rate *r, double now, double cost, double *retry_after);

/* A bounded table of GCRA cells keyed by strings (a key id, a client network). Thread-safe,
 * sharded. When full, the cell least recently due is reused: a limit may then reset early,
 * never fail closed. */
struct rp_limiter;

int rp_limiter_new(size_t capacity, struct rp_limiter **out);
void rp_limiter_free(struct rp_limiter *l);
/* rp_gcra on the cell of key (created on first use). */
bool rp_limiter_take(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r, double now,
                     double cost, double *retry_after);

/* How many whole units the cell of key would let pass at time now (0 to burst), charging
 * nothing: what is left of an allowance. */
unsigned rp_limiter_room(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r,
                         double now);

/* Charges cost units whatever the allowance: for costs known only after the work is done (the
 * tokens of an answer). The cell then stays in debt until time pays it back. */
void rp_limiter_charge(struct rp_limiter *l, struct rp_str key, const struct rp_rate *r, double now,
                       double cost);

/* Counters of requests in flight, per key, bounded like the limiter. acquire returns false when
 * key already has max in flight; every successful acquire is paired with one release. */
struct rp_inflight;
int rp_inflight_new(size_t capacity, struct rp_inflight **out);
void rp_inflight_free(struct rp_inflight *f);
bool rp_inflight_acquire(struct rp_inflight *f, struct rp_str key, unsigned max);
void rp_inflight_release(struct rp_inflight *f, struct rp_str key);

/* Why an address cannot be used to sign up (a sentence for the person), or NULL: one '@' with at
 * most 64 bytes before it, a domain with a dot, at most 254 bytes, no spaces, controls or
 * characters that need quoting. */
const char *rp_email_problem(struct rp_str email);

/* The value of the field `name` in application/x-www-form-urlencoded text (an HTML form's body
 * or a query string), parsed as the WHATWG URL standard does: fields split at '&', the name from
 * the value at the first '=', '+' is a space and "%XX" a byte in both. Writes the value with a NUL
 * after it to out (cap bytes) and its length (it may hold NUL bytes) to *len (may be NULL).
 * RP_ENOTFOUND when no field has that name, RP_EINVAL when more than one has (which was meant
 * is a guess), RP_ETOOBIG when the value does not fit. */
int rp_form_field(struct rp_str form, const char *name, char *out, size_t cap, size_t *len);

/* The longest verification token accepted, and whether token has the shape of one: 1 to
 * RP_TOKEN_MAX characters of base64url (A-Z, a-z, 0-9, '-', '_'), as the gateway makes them. */
#define RP_TOKEN_MAX 128
bool rp_token_valid(struct rp_str token);

/* The client of a request that reached us through proxies we trust: reading X-Forwarded-For from
 * the right, the first address that is not in trusted (or the leftmost when all are). False, and
 * *out untouched, when an entry the walk reaches is not an IP address. */
bool rp_forwarded_client(struct rp_str xff, const struct rp_cidr *trusted, size_t n_trusted,
                         struct sockaddr_storage *out);

/* The normalised form of an e-mail address, to link sign-ups that are one person's: the local
 * part lowercased, without its +tag, dots and trailing digits, then as its confusable skeleton
 * (rp_url_skeleton; only when urls is given: "j0hn" and "john" meet); the domain as its registrable
 * domain (urls may be NULL: the domain as it is), googlemail.com as gmail.com. Writes a
 * NUL-terminated key of at most cap bytes to out. RP_EINVAL without '@', RP_ETOOBIG. */
struct rp_url_inspector;
int rp_email_key(const char *email, const struct rp_url_inspector *urls, char *out, size_t cap);

/* A set of domain names from a list file: one a line, '#' starts a comment, blank lines and a
 * trailing dot are ignored, names are compared in lowercase. */
struct rp_domain_set;
/* Parses text (name is what errors call it: "name:line: ..."). On success *out is owned by the
 * caller (rp_domain_set_free). RP_EINVAL for a line that is not a domain name, RP_ENOMEM. */
int rp_domain_set_load(const char *name, struct rp_str text, struct rp_domain_set **out,
                       struct rp_error *err);
void rp_domain_set_free(struct rp_domain_set *s);
size_t rp_domain_set_size(const struct rp_domain_set *s);
/* Whether domain (lowercase, no trailing dot) is in the set, exactly. NULL set: false. */
bool rp_domain_set_has(const struct rp_domain_set *s, const char *domain);

#endif
