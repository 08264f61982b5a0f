/* Writing an inspection report: one JSON line for programs, a few sentences for people. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rampart/json.h"
#include "rampart/url_inspect.h"

#define ADD(expr)                                                                                  \
    do {                                                                                           \
        if (!result)                                                                               \
            result = (expr);                                                                       \
    } while (0)

/* Appends `"key":` and the string value (null when s is NULL). */
static int field_key(struct rp_buf *out, const char *key)
{
    int result = rp_buf_add(out, ",\"", 2);
    ADD(rp_buf_adds(out, key));
    ADD(rp_buf_add(out, "\":", 2));
    return result;
}

static int field_str(struct rp_buf *out, const char *key, const char *s)
{
    int result = field_key(out, key);
    ADD(rp_json_add_cstr(out, s));
    return result;
}

static int field_bool(struct rp_buf *out, const char *key, bool v)
{
    int result = field_key(out, key);
    ADD(rp_buf_adds(out, v ? "true" : "false"));
    return result;
}

int rp_url_report_json(const struct rp_url_report *r, struct rp_str input, struct rp_buf *out)
{
    const struct rp_url *u = &r->url;
    const bool v = r->valid;
    int result = rp_buf_adds(out, "{\"input\":");
    ADD(rp_json_add_string(out, input.ptr, input.len));
    ADD(field_bool(out, "valid", v));
    ADD(field_bool(out, "scheme_added", r->scheme_added));
    ADD(field_str(out, "href", v ? u->href : NULL));
    ADD(field_str(out, "scheme", v ? u->scheme : NULL));
    ADD(field_str(out, "host", v ? u->host : NULL));
    ADD(field_str(out, "host_unicode", r->host_unicode));
    ADD(field_bool(out, "ip", r->ip));
    ADD(field_str(out, "network", rp_url_network_name(r->network)));
    if (v && u->port >= 0)
        ADD(rp_buf_addf(out, ",\"port\":%d", u->port));
    else
        ADD(rp_buf_adds(out, ",\"port\":null"));
    ADD(field_str(out, "registrable_domain", r->registrable_domain));
    ADD(field_str(out, "registrable_domain_unicode", r->registrable_domain_unicode));
    ADD(field_str(out, "public_suffix", r->public_suffix));
    ADD(field_str(out, "controlling_word", r->controlling_word));
    ADD(field_str(out, "verdict", rp_url_verdict_name(r->verdict)));
    ADD(rp_buf_addf(out, ",\"score\":%.4f,\"reasons\":[", r->score));
    for (size_t i = 0; i < r->n_reasons; i++) {
        ADD(rp_buf_addf(out, "%s{\"code\":\"%s\",\"severity\":\"%s\",\"message\":", i ? "," : "",
                        r->reasons[i].code, rp_url_verdict_name(r->reasons[i].severity)));
        ADD(rp_json_add_cstr(out, r->reasons[i].message));
        ADD(rp_buf_addc(out, '}'));
    }
    ADD(rp_buf_addc(out, ']'));
    if (!v)
        ADD(field_str(out, "error", r->error));
    ADD(rp_buf_addc(out, '}'));
    return result;
}

/* Appends s with control characters shown as '?', so that an address cannot rewrite the
 * terminal it is printed on. */
static int add_printable(struct rp_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int result = rp_buf_addc(out, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
        if (result)
            return result;
    }
    return RP_OK;
}

/* Who answers at a host off the public internet, for a person; NULL for a public host. */
static const char *network_owner(enum rp_url_network n)
{
    switch (n) {
    case RP_URL_NET_LOOPBACK:
    case RP_URL_NET_UNSPECIFIED: return "your own computer, and whatever program runs on it";
    case RP_URL_NET_PRIVATE:
        return "whoever runs the private network you are on (your router, a printer, a company "
               "server), not a site on the internet";
    case RP_URL_NET_LINK_LOCAL:
        return "a device on the same local network as you, not a site on the internet";
    case RP_URL_NET_SHARED: return "your internet provider's network, not a public site";
    case RP_URL_NET_RESERVED: return "no one: no public site uses this address";
    case RP_URL_NET_LOCAL_NAME:
        return "whoever runs the local network you are on; the name is not registered on the "
               "internet";
    case RP_URL_NET_PUBLIC: break;
    }
    return NULL;
}

int rp_url_report_explain(const struct rp_url_report *r, struct rp_str input, struct rp_buf *out)
{
    static const char *const headline[] = {
        [RP_URL_OK] = "OK: nothing deceptive found",
        [RP_URL_CAUTION] = "CAUTION: look closely before you trust it",
        [RP_URL_DANGER] = "DANGER: this address is built to deceive",
    };
    struct rp_buf safe;
    rp_buf_init(&safe, 3 * input.len + 8);
    int result = rp_utf8_sanitize(input, &safe);
    if (!result)
        result = add_printable(out, safe.ptr ? safe.ptr : "", safe.len > 200 ? 200 : safe.len);
    rp_buf_release(&safe);
    if (!result && input.len > 200)
        result = rp_buf_adds(out, "...");
    if (!result)
        result = rp_buf_addf(out, "\n  %s\n", headline[r->verdict]);
    if (result)
        return result;
    if (!result && r->scheme_added)
        result =
            rp_buf_addf(out, "  No scheme was given: read as a browser's address bar does, as %s\n",
                        r->url.href);
    if (r->valid && r->url.host && r->url.host[0]) {
        result = rp_buf_addf(out, "  The browser goes to: %s\n",
                             r->host_unicode ? r->host_unicode : r->url.host);
        const char *who = network_owner(r->network);
        if (!result && who)
            result = rp_buf_addf(out, "  Who controls it: %s\n", who);
        else if (!result && r->registrable_domain_unicode)
            result = rp_buf_addf(out,
                                 "  Who controls it: whoever registered '%s' (the word that "
                                 "matters: '%s')\n",
                                 r->registrable_domain_unicode, r->controlling_word);
        else if (!result && r->ip)
            result = rp_buf_adds(out, "  Who controls it: whoever runs that IP address; no name "
                                      "tells you who\n");
        else if (!result && r->public_suffix)
            result = rp_buf_addf(out,
                                 "  Who controls it: '%s' is a public ending shared by many "
                                 "owners, not one site\n",
                                 r->public_suffix);
    } else if (r->valid) {
        result = rp_buf_addf(out, "  This is a '%s:' address, not a web site\n", r->url.scheme);
    }
    for (size_t i = 0; i < r->n_reasons && !result; i++) {
        result = rp_buf_adds(out, "  - ");
        if (!result)
            result = add_printable(out, r->reasons[i].message, strlen(r->reasons[i].message));
        if (!result)
            result = rp_buf_addf(out, " (%s)\n", r->reasons[i].code);
    }
    return result;
}
