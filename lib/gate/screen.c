/* Sign-up screening: an address at a disposable e-mail service is refused before anything is
 * stored; a first sign-up that links to a banned account, a look-alike of a recent one or the
 * network of a banned one is held for an operator (see rampart/policy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/policy.h"
#include "rampart/url_inspect.h"

static void allow(struct rp_screening *out)
{
    memset(out, 0, sizeof(*out));
    out->v.action = RP_ACTION_ALLOW;
    out->v.code = "";
}

void rp_screen_address(const struct rp_domain_set *disposable, const struct rp_url_inspector *urls,
                       const char *email, struct rp_screening *out)
{
    allow(out);
    const char *domain = strrchr(email, '@');
    if (!disposable || !domain)
        return;
    domain++;
    char *reg = NULL;
    struct rp_error err;
    if (urls)
        rp_url_registrable_domain(urls, rp_str_from_cstr(domain), &reg, &err);
    const char *hit = rp_domain_set_has(disposable, domain)       ? domain
                      : reg && rp_domain_set_has(disposable, reg) ? reg
                                                                  : NULL;
    if (hit) {
        out->v.action = RP_ACTION_REFUSE;
        out->v.code = "disposable-domain";
        snprintf(out->domain, sizeof(out->domain), "%s", hit);
        snprintf(out->v.sentence, sizeof(out->v.sentence),
                 "addresses at %s, a disposable e-mail service, cannot sign up; use an address "
                 "you keep",
                 hit);
    }
    free(reg);
}

/* A hold of code, because of account id. */
static void hold(struct rp_screening *out, const char *code, int64_t id)
{
    out->v.action = RP_ACTION_HOLD;
    out->v.code = code;
    out->linked = id;
}

void rp_screen_links(const struct rp_signup_links *l, struct rp_screening *out)
{
    allow(out);
    char *s = out->v.sentence;
    size_t n = sizeof(out->v.sentence);
    if (l->banned_address) {
        hold(out, "linked-to-banned", l->banned_address);
        snprintf(s, n, "the address is a variant of that of account %lld, banned on this service",
                 (long long)l->banned_address);
    } else if (l->recent_address) {
        hold(out, "lookalike-address", l->recent_address);
        snprintf(s, n,
                 "the address is a variant of that of account %lld, verified in the last 24 "
                 "hours",
                 (long long)l->recent_address);
    } else if (l->banned_network) {
        /* The network may be shared (an office, a carrier), so a person decides. */
        hold(out, "banned-network", l->banned_network);
        snprintf(s, n, "account %lld, banned, signed up from this network",
                 (long long)l->banned_network);
    }
}
