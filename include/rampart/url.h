/* rampart url: a WHATWG URL parser (what a browser does with a web address), and the
 * inspector that explains who controls an address and whether it looks deceptive. */
#ifndef RAMPART_URL_H
#define RAMPART_URL_H

#include "rampart/base.h"

/* Inputs longer than this are refused as invalid rather than parsed (browsers cap at 2 MB;
 * nothing legitimate a person reads comes near it). */
#define RP_URL_MAX_INPUT (1u << 20)

enum rp_url_host_type {
    RP_URL_HOST_NONE = 0, /* the URL has no host (mailto:, data:, ...) */
    RP_URL_HOST_EMPTY,    /* an empty host (file:///x, sc://) */
    RP_URL_HOST_DOMAIN,   /* a domain, lowercased and IDNA-encoded */
    RP_URL_HOST_IPV4,
    RP_URL_HOST_IPV6,
    RP_URL_HOST_OPAQUE /* the host of a non-special URL, percent-encoded, not interpreted */
};

/* A parsed URL. Every string is NUL-terminated, heap-allocated and owned by the struct;
 * rp_url_release() frees them. Components are stored as the URL standard serialises them. */
struct rp_url {
    char *href;     /* the whole serialised URL */
    char *scheme;   /* lowercase, without the ':' */
    char *username; /* "" when absent */
    char *password; /* "" when absent */
    char *host;     /* serialised host (IPv6 in brackets); NULL when host_type is NONE */
    enum rp_url_host_type host_type;
    int port;         /* -1 when absent or the scheme's default */
    char *path;       /* serialised path: "/a/b", or the opaque path */
    bool opaque_path; /* "mailto:x", "javascript:..." */
    char *query;      /* without '?'; NULL when absent */
    char *fragment;   /* without '#'; NULL when absent */
    bool special;     /* http, https, ws, wss, ftp, file */
};

/* Parses input as a URL, relative to base when base is not NULL (the browser's new URL(input,
 * base)). On success fills *out, which the caller releases with rp_url_release(). On failure
 * returns RP_EINVAL (not a URL), RP_ETOOBIG or RP_ENOMEM, leaves *out empty and, when err is
 * not NULL, says why in err. */
int rp_url_parse(struct rp_str input, const struct rp_url *base, struct rp_url *out,
                 struct rp_error *err);
void rp_url_release(struct rp_url *u);

/* The WHATWG "domain to ASCII" of a host string (percent-decoding, IDNA UTS #46 with the URL
 * standard's options, forbidden code points, IPv4 numbers). On success *out is the serialised
 * host, heap-allocated, owned by the caller. */
int rp_url_host_to_ascii(struct rp_str host, char **out, struct rp_error *err);

/* The Unicode form of an ASCII (punycode) domain, for showing to people. *out is owned by the
 * caller. Labels that do not decode stay as they are. */
int rp_url_host_to_unicode(const char *ascii_host, char **out);

#endif
