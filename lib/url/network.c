/* Where a host leads when it is not a place on the public internet: this computer, the private
 * network a person is on, or an address or name set aside (IANA special-purpose registries,
 * RFC 6761 and RFC 6762). docs/url.md lists them. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "rampart/url_inspect.h"

struct v4_range {
    uint32_t net;
    unsigned prefix;
    enum rp_url_network network;
    const char *what;
};

/* IANA's IPv4 special-purpose address registry, the entries a browser can be sent to. The
 * first match wins, so narrower ranges come before the ones holding them. */
static const struct v4_range v4_ranges[] = {
    {0x00000000u, 8, RP_URL_NET_UNSPECIFIED, "0.0.0.0/8"},
    {0x0a000000u, 8, RP_URL_NET_PRIVATE, "10.0.0.0/8"},
    {0x64400000u, 10, RP_URL_NET_SHARED, "100.64.0.0/10"},
    {0x7f000000u, 8, RP_URL_NET_LOOPBACK, "127.0.0.0/8"},
    {0xa9fe0000u, 16, RP_URL_NET_LINK_LOCAL, "169.254.0.0/16"},
    {0xac100000u, 12, RP_URL_NET_PRIVATE, "172.16.0.0/12"},
    {0xc0000000u, 24, RP_URL_NET_RESERVED, "protocol assignments, 192.0.0.0/24"},
    {0xc0000200u, 24, RP_URL_NET_RESERVED, "documentation examples, 192.0.2.0/24"},
    {0xc0a80000u, 16, RP_URL_NET_PRIVATE, "192.168.0.0/16"},
    {0xc6120000u, 15, RP_URL_NET_RESERVED, "network benchmarks, 198.18.0.0/15"},
    {0xc6336400u, 24, RP_URL_NET_RESERVED, "documentation examples, 198.51.100.0/24"},
    {0xcb007100u, 24, RP_URL_NET_RESERVED, "documentation examples, 203.0.113.0/24"},
    {0xe0000000u, 4, RP_URL_NET_RESERVED, "multicast, 224.0.0.0/4"},
    {0xffffffffu, 32, RP_URL_NET_RESERVED, "broadcast, 255.255.255.255"},
    {0xf0000000u, 4, RP_URL_NET_RESERVED, "future use, 240.0.0.0/4"},
};

static enum rp_url_network v4_network(uint32_t a, const char **what)
{
    for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
        const struct v4_range *r = &v4_ranges[i];
        uint32_t mask = r->prefix ? ~0u << (32 - r->prefix) : 0;
        if ((a & mask) == r->net) {
            *what = r->what;
            return r->network;
        }
    }
    return RP_URL_NET_PUBLIC;
}

/* Whether the first bits of the 16 bytes of a match those of p. */
static bool v6_in(const unsigned char *a, const unsigned char *p, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, p, whole))
        return false;
    return !rest || ((a[whole] ^ p[whole]) & (0xff00u >> rest) & 0xff) == 0;
}

static enum rp_url_network v6_network(const unsigned char *a, const char **what, bool *mapped)
{
    static const unsigned char zero[16], one[16] = {[15] = 1};
    static const unsigned char v4mapped[16] = {[10] = 0xff, [11] = 0xff};
    static const unsigned char ula[16] = {0xfc}, linklocal[16] = {0xfe, 0x80};
    static const unsigned char sitelocal[16] = {0xfe, 0xc0}, multicast[16] = {0xff};
    static const unsigned char doc[16] = {0x20, 0x01, 0x0d, 0xb8}, discard[16] = {0x01};
    if (!memcmp(a, zero, 16)) {
        *what = "::, the unspecified IPv6 address";
        return RP_URL_NET_UNSPECIFIED;
    }
    if (!memcmp(a, one, 16)) {
        *what = "::1, the IPv6 loopback address";
        return RP_URL_NET_LOOPBACK;
    }
    if (v6_in(a, v4mapped, 96)) {
        /* [::ffff:7f00:1] is 127.0.0.1 to the browser. */
        *mapped = true;
        return v4_network(
            (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15], what);
    }
    if (v6_in(a, ula, 7)) {
        *what = "fc00::/7";
        return RP_URL_NET_PRIVATE;
    }
    if (v6_in(a, linklocal, 10)) {
        *what = "fe80::/10";
        return RP_URL_NET_LINK_LOCAL;
    }
    if (v6_in(a, sitelocal, 10)) {
        *what = "fec0::/10, the former site-local range";
        return RP_URL_NET_PRIVATE;
    }
    if (v6_in(a, multicast, 8)) {
        *what = "multicast, ff00::/8";
        return RP_URL_NET_RESERVED;
    }
    if (v6_in(a, doc, 32)) {
        *what = "documentation examples, 2001:db8::/32";
        return RP_URL_NET_RESERVED;
    }
    if (v6_in(a, discard, 64)) {
        *what = "discarded traffic, 100::/64";
        return RP_URL_NET_RESERVED;
    }
    return RP_URL_NET_PUBLIC;
}

struct name_suffix {
    const char *suffix; /* with its leading dot, or the whole name */
    enum rp_url_network network;
    const char *what;
};

/* RFC 6761 (localhost), RFC 6762 (.local, and appendix G's names used on private networks),
 * RFC 8375 (.home.arpa), ICANN's 2024 reservation of .internal; .localdomain from /etc/hosts. */
static const struct name_suffix names[] = {
    {"localhost", RP_URL_NET_LOOPBACK, "'localhost' always means this computer"},
    {".localhost", RP_URL_NET_LOOPBACK, "names ending in '.localhost' always mean this computer"},
    {".local", RP_URL_NET_LOCAL_NAME,
     "names ending in '.local' are announced by the devices of a local network themselves, "
     "by multicast DNS"},
    {".home.arpa", RP_URL_NET_LOCAL_NAME, "'.home.arpa' is set aside for home networks"},
    {".internal", RP_URL_NET_LOCAL_NAME, "'.internal' is set aside for private networks"},
    {".localdomain", RP_URL_NET_LOCAL_NAME, "'.localdomain' is a name computers give themselves"},
    {".lan", RP_URL_NET_LOCAL_NAME, "'.lan' is a name routers give the devices of a home network"},
    {".home", RP_URL_NET_LOCAL_NAME, "'.home' is a name used inside private networks"},
    {".corp", RP_URL_NET_LOCAL_NAME, "'.corp' is a name used inside company networks"},
    {".intranet", RP_URL_NET_LOCAL_NAME, "'.intranet' is a name used inside company networks"},
    {".private", RP_URL_NET_LOCAL_NAME, "'.private' is a name used inside private networks"},
};

enum rp_url_network rp__url_name_network(const char *host, const char **what)
{
    size_t len = strlen(host);
    /* "localhost." is the same name as "localhost" to the resolver. */
    if (len > 1 && host[len - 1] == '.')
        len--;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        /* ".local" holds "printer.local" and the bare name "local" alike. */
        const char *s = names[i].suffix;
        bool suffix = s[0] == '.';
        const char *bare = suffix ? s + 1 : s;
        size_t bl = strlen(bare);
        bool whole = len == bl && !memcmp(host, bare, bl);
        bool under = suffix && len > bl + 1 && host[len - bl - 1] == '.' &&
                     !memcmp(host + len - bl, bare, bl);
        if (whole || under) {
            *what = names[i].what;
            return names[i].network;
        }
    }
    return RP_URL_NET_PUBLIC;
}

enum rp_url_network rp__url_ip_network(const struct rp_url *u, const char **what, bool *mapped)
{
    *mapped = false;
    if (u->host_type == RP_URL_HOST_IPV4) {
        struct in_addr a;
        if (inet_pton(AF_INET, u->host, &a) != 1)
            return RP_URL_NET_PUBLIC;
        return v4_network(ntohl(a.s_addr), what);
    }
    if (u->host_type == RP_URL_HOST_IPV6) {
        /* Serialised in brackets, without a zone: "[fe80::1]". */
        char text[64];
        size_t len = strlen(u->host);
        if (len < 3 || len - 2 >= sizeof(text) || u->host[0] != '[')
            return RP_URL_NET_PUBLIC;
        memcpy(text, u->host + 1, len - 2);
        text[len - 2] = '\0';
        unsigned char a[16];
        if (inet_pton(AF_INET6, text, a) != 1)
            return RP_URL_NET_PUBLIC;
        return v6_network(a, what, mapped);
    }
    return RP_URL_NET_PUBLIC;
}

const char *rp_url_network_name(enum rp_url_network n)
{
    switch (n) {
    case RP_URL_NET_PUBLIC: return "public";
    case RP_URL_NET_LOOPBACK: return "loopback";
    case RP_URL_NET_UNSPECIFIED: return "unspecified";
    case RP_URL_NET_PRIVATE: return "private";
    case RP_URL_NET_LINK_LOCAL: return "link-local";
    case RP_URL_NET_SHARED: return "shared";
    case RP_URL_NET_RESERVED: return "reserved";
    case RP_URL_NET_LOCAL_NAME: return "local-name";
    }
    return "public";
}
