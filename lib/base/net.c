/* Network helpers: textual addresses, CIDR ranges, "ADDR:PORT" splitting and the client network
 * (an IPv4 /24 or an IPv6 /56) that per-network limits count against. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rampart/net.h"

/* Longest text rp_cidr_parse reads: an IPv6 address with an embedded IPv4 tail and "/128". */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Reduces a socket address to its family and address bytes. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack listener reports for IPv4 peers) becomes plain IPv4, so the
 * same peer matches the same ranges and counts against the same network on either listener. */
static int addr_bytes(const struct sockaddr *sa, int *family, unsigned char out[16])
{
    if (!sa)
        return RP_EINVAL;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof(in));
        memcpy(out, &in.sin_addr, 4);
        *family = AF_INET;
        return RP_OK;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof(in6));
        const unsigned char *b = in6.sin6_addr.s6_addr;
        if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            memcpy(out, b + 12, 4);
            *family = AF_INET;
        } else {
            memcpy(out, b, 16);
            *family = AF_INET6;
        }
        return RP_OK;
    }
    return RP_EINVAL;
}

/* Clears every bit of addr (n bytes) after the first prefix bits. */
static void mask_bits(unsigned char *addr, size_t n, unsigned prefix)
{
    for (size_t i = 0; i < n; i++) {
        unsigned bit = (unsigned)i * 8;
        if (bit >= prefix)
            addr[i] = 0;
        else if (prefix - bit < 8)
            addr[i] &= (unsigned char)(0xff << (8 - (prefix - bit)));
    }
}

/* Parses a bare IPv4 or IPv6 address (NUL-terminated) into family and network bytes. */
static int parse_ip(const char *s, int *family, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return RP_OK;
    }
    if (strchr(s, ':') && inet_pton(AF_INET6, s, out) == 1) {
        *family = AF_INET6;
        return RP_OK;
    }
    return RP_EINVAL;
}

int rp_cidr_parse(const char *text, struct rp_cidr *out, struct rp_error *err)
{
    char buf[CIDR_TEXT_MAX + 1];
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > CIDR_TEXT_MAX) {
        rp_error_set(err, "'%.64s' is not an IP address or CIDR range", text ? text : "");
        return RP_EINVAL;
    }
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    struct rp_cidr c = {0};
    if (parse_ip(buf, &c.family, c.addr)) {
        rp_error_set(err, "'%s' is not an IP address or CIDR range", text);
        return RP_EINVAL;
    }
    unsigned max = c.family == AF_INET ? 32 : 128;
    c.prefix = max;
    if (slash) {
        /* Digits only: no sign, no spaces, no leading zeros that could hide a typo. */
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 3 || p[digits] != '\0' || (p[0] == '0' && digits > 1)) {
            rp_error_set(err, "'%s': the prefix length must be a number 0..%u", text, max);
            return RP_EINVAL;
        }
        unsigned v = 0;
        for (size_t i = 0; i < digits; i++)
            v = v * 10 + (unsigned)(p[i] - '0');
        if (v > max) {
            rp_error_set(err, "'%s': the prefix length must be a number 0..%u", text, max);
            return RP_EINVAL;
        }
        c.prefix = v;
    }
    unsigned char masked[16];
    size_t nbytes = c.family == AF_INET ? 4 : 16;
    memcpy(masked, c.addr, nbytes);
    mask_bits(masked, nbytes, c.prefix);
    if (memcmp(masked, c.addr, nbytes) != 0) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(c.family, masked, net, sizeof(net));
        rp_error_set(err, "'%s' has host bits set (the range is %s/%u)", text, net, c.prefix);
        return RP_EINVAL;
    }
    /* A range inside ::ffff:0:0/96 is stored as the IPv4 range it names, the way peers are
     * compared (addr_bytes). */
    if (c.family == AF_INET6 && c.prefix >= 96 &&
        memcmp(c.addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        memmove(c.addr, c.addr + 12, 4);
        memset(c.addr + 4, 0, 12);
        c.family = AF_INET;
        c.prefix -= 96;
    }
    *out = c;
    return RP_OK;
}

bool rp_cidr_contains(const struct rp_cidr *c, const struct sockaddr *sa)
{
    int family;
    unsigned char addr[16];
    if (!c || addr_bytes(sa, &family, addr) || family != c->family)
        return false;
    size_t nbytes = family == AF_INET ? 4 : 16;
    unsigned prefix = c->prefix > nbytes * 8 ? (unsigned)nbytes * 8 : c->prefix;
    mask_bits(addr, nbytes, prefix);
    return memcmp(addr, c->addr, nbytes) == 0;
}

int rp_addr_parse(const char *text, struct sockaddr_storage *out)
{
    int family;
    unsigned char addr[16];
    if (!text || parse_ip(text, &family, addr))
        return RP_EINVAL;
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in in = {0};
        in.sin_family = AF_INET;
        memcpy(&in.sin_addr, addr, 4);
        memcpy(out, &in, sizeof(in));
    } else {
        struct sockaddr_in6 in6 = {0};
        in6.sin6_family = AF_INET6;
        memcpy(&in6.sin6_addr, addr, 16);
        memcpy(out, &in6, sizeof(in6));
    }
    return RP_OK;
}

int rp_net_key(const struct sockaddr *sa, char *buf, size_t len)
{
    int family;
    unsigned char addr[16];
    char text[INET6_ADDRSTRLEN];
    if (addr_bytes(sa, &family, addr))
        return RP_EINVAL;
    unsigned prefix = family == AF_INET ? 24 : 56;
    mask_bits(addr, family == AF_INET ? 4 : 16, prefix);
    if (!inet_ntop(family, addr, text, sizeof(text)))
        return RP_EINVAL;
    int n = snprintf(buf, len, "%s/%u", text, prefix);
    if (n < 0 || (size_t)n >= len)
        return RP_ETOOBIG;
    return RP_OK;
}

/* A host name as a listener or URL may carry: letters, digits, '-', '.' and '_'. */
static bool hostname_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

int rp_hostport_parse(const char *text, char *host, size_t host_len, unsigned *port,
                      struct rp_error *err)
{
    if (!text || !*text) {
        rp_error_set(err, "an address is needed (ADDR:PORT, e.g. 127.0.0.1:8080)");
        return RP_EINVAL;
    }
    const char *h;
    size_t hn;
    const char *p;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            rp_error_set(err, "'%.80s' is not [IPV6]:PORT", text);
            return RP_EINVAL;
        }
        h = text + 1;
        hn = (size_t)(close - h);
        p = close + 2;
        char v6[INET6_ADDRSTRLEN];
        unsigned char bytes[16];
        if (hn == 0 || hn >= sizeof(v6)) {
            rp_error_set(err, "'%.80s': not an IPv6 address inside the brackets", text);
            return RP_EINVAL;
        }
        memcpy(v6, h, hn);
        v6[hn] = '\0';
        if (inet_pton(AF_INET6, v6, bytes) != 1) {
            rp_error_set(err, "'%.80s': not an IPv6 address inside the brackets", text);
            return RP_EINVAL;
        }
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            rp_error_set(err, "'%.80s' needs a port (ADDR:PORT, e.g. 127.0.0.1:8080)", text);
            return RP_EINVAL;
        }
        h = text;
        hn = (size_t)(colon - text);
        p = colon + 1;
        if (memchr(h, ':', hn)) {
            rp_error_set(err, "'%.80s': an IPv6 address is written in brackets, e.g. [::1]:8080",
                         text);
            return RP_EINVAL;
        }
        if (hn == 0) {
            rp_error_set(err, "'%.80s' needs an address before the port (e.g. 0.0.0.0%s)", text,
                         colon);
            return RP_EINVAL;
        }
        if (!hostname_ok(h, hn)) {
            rp_error_set(err, "'%.80s': '%.*s' is not an address or host name", text,
                         (int)(hn > 80 ? 80 : hn), h);
            return RP_EINVAL;
        }
    }
    size_t digits = strspn(p, "0123456789");
    unsigned v = 0;
    /* Port 0 (exactly "0") asks the kernel for any free port when listening. */
    bool zero = digits == 1 && p[0] == '0' && p[1] == '\0';
    if (digits == 0 || digits > 5 || p[digits] != '\0' || (p[0] == '0' && !zero))
        v = 70000;
    else
        for (size_t i = 0; i < digits; i++)
            v = v * 10 + (unsigned)(p[i] - '0');
    if (v > 65535) {
        rp_error_set(err, "'%.80s': the port must be a number 0..65535", text);
        return RP_EINVAL;
    }
    if (hn + 1 > host_len) {
        rp_error_set(err, "'%.80s': the address is too long", text);
        return RP_ETOOBIG;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = v;
    return RP_OK;
}
