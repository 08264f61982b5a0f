/* rampart network helpers: addresses, CIDR ranges, the client network a limit counts against. */
#ifndef RAMPART_NET_H
#define RAMPART_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "rampart/base.h"

struct rp_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network bytes (4 used for AF_INET) */
    unsigned prefix;        /* 0..32 or 0..128 */
};

/* Parses "10.0.0.0/8", "::1/128" or a bare address (full prefix). RP_EINVAL on anything else,
 * or when host bits are set beyond the prefix ("10.0.0.1/8"), with a message in err. A range
 * inside ::ffff:0:0/96 is stored as the IPv4 range it names. err may be NULL. */
int rp_cidr_parse(const char *text, struct rp_cidr *out, struct rp_error *err);
/* An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is compared as the IPv4 address it carries. */
bool rp_cidr_contains(const struct rp_cidr *c, const struct sockaddr *sa);

/* Parses a textual IPv4 or IPv6 address into *out (port 0). RP_EINVAL for anything else. */
int rp_addr_parse(const char *text, struct sockaddr_storage *out);

/* The network a per-network limit counts against: the /24 of an IPv4 address, the /56 of an
 * IPv6 one (IPv4-mapped IPv6 counts as IPv4). Written as text, e.g. "192.0.2.0/24", into buf;
 * RP_ETOOBIG when len is too small (RP_NET_KEY_MAX always suffices), RP_EINVAL for another
 * address family. */
#define RP_NET_KEY_MAX 64
int rp_net_key(const struct sockaddr *sa, char *buf, size_t len);

/* Splits "ADDR:PORT" or "[V6]:PORT" into host (NUL-terminated, without brackets) and port
 * (1..65535). ADDR may also be a host name (letters, digits, '-', '.', '_'); the text inside
 * brackets must be an IPv6 address. RP_EINVAL with a message for a bad input, RP_ETOOBIG when
 * host_len is too small; err may be NULL. */
int rp_hostport_parse(const char *text, char *host, size_t host_len, unsigned *port,
                      struct rp_error *err);

#endif
