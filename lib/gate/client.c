/* What the gateway believes about a client: its e-mail address at sign-up, and its network
 * address behind trusted proxies (see rampart/gate.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rampart/gate.h"
#include "rampart/url_inspect.h"

#define EMAIL_MAX 254
#define LOCAL_MAX 64

const char *rp_email_problem(struct rp_str email)
{
    const char *e = email.ptr;
    size_t len = email.len;
    if (len == 0)
        return "the e-mail address is empty";
    if (len > EMAIL_MAX)
        return "the e-mail address is longer than 254 characters";
    const char *at = memchr(e, '@', len);
    if (!at || at == e || memchr(at + 1, '@', len - (size_t)(at - e) - 1))
        return "the e-mail address must have exactly one '@' with a name before it";
    if (at - e > LOCAL_MAX)
        return "the part before '@' is longer than 64 characters";
    const char *dom = at + 1;
    size_t dl = len - (size_t)(dom - e);
    if (dl < 3 || !memchr(dom, '.', dl) || dom[0] == '.' || dom[dl - 1] == '.')
        return "the domain of the e-mail address is not valid";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)e[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',' ||
            c == ';' || c == '(' || c == ')' || c == '[' || c == ']')
            return "the e-mail address contains a character that is not allowed";
    }
    return NULL;
}

bool rp_forwarded_client(struct rp_str xff, const struct rp_cidr *trusted, size_t n_trusted,
                         struct sockaddr_storage *out)
{
    /* From the right: the last entry was written by the proxy we trust, the ones before it by
     * whoever talked to that proxy. The whole header is read, however long: cutting it would
     * drop the trustworthy right end. */
    size_t end = xff.len;
    for (;;) {
        size_t start = end;
        while (start > 0 && xff.ptr[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff.ptr[a] == ' ' || xff.ptr[a] == '\t'))
            a++;
        while (b > a && (xff.ptr[b - 1] == ' ' || xff.ptr[b - 1] == '\t'))
            b--;
        char item[64];
        struct sockaddr_storage ss;
        if (b - a == 0 || b - a >= sizeof(item))
            return false;
        memcpy(item, xff.ptr + a, b - a);
        item[b - a] = '\0';
        if (rp_addr_parse(item, &ss) != 0)
            return false;
        bool is_trusted = false;
        for (size_t i = 0; i < n_trusted && !is_trusted; i++)
            is_trusted = rp_cidr_contains(&trusted[i], (struct sockaddr *)&ss);
        if (!is_trusted || start == 0) {
            *out = ss;
            return true;
        }
        end = start - 1;
    }
}

int rp_email_key(const char *email, const struct rp_url_inspector *urls, char *out, size_t cap)
{
    const char *at = strrchr(email, '@');
    if (!at || at == email || !at[1])
        return RP_EINVAL;
    struct rp_buf b;
    rp_buf_init(&b, cap ? cap - 1 : 0);
    /* The local part: lowercase, without its +tag and dots, without trailing digits. */
    const char *end = memchr(email, '+', (size_t)(at - email));
    if (!end)
        end = at;
    for (const char *p = email; p < end; p++)
        if (*p != '.')
            rp_buf_addc(&b, (char)tolower((unsigned char)*p));
    while (b.len > 1 && isdigit((unsigned char)b.ptr[b.len - 1]))
        rp_buf_truncate(&b, b.len - 1);
    /* Then its confusable skeleton, so that j0hn, jhon's "rn"/"m" and Cyrillic letters meet
     * (after the digits: the skeleton of a trailing 1 is "l"). */
    char *sk = urls && b.ptr ? rp_url_skeleton(urls, rp_buf_str(&b)) : NULL;
    if (sk) {
        rp_buf_reset(&b);
        rp_buf_add(&b, sk, strlen(sk));
        free(sk);
    }
    rp_buf_addc(&b, '@');
    /* The domain: its registrable domain, so that mail.example.com and example.com meet. */
    const char *domain = at + 1;
    char *reg = NULL;
    struct rp_error err;
    if (urls)
        rp_url_registrable_domain(urls, rp_str_from_cstr(domain), &reg, &err);
    const char *d = reg ? reg : domain;
    if (!strcasecmp(d, "googlemail.com"))
        d = "gmail.com";
    for (; *d; d++)
        rp_buf_addc(&b, (char)tolower((unsigned char)*d));
    free(reg);
    int result = RP_OK;
    if (!b.ptr || b.len + 1 > cap || b.len >= b.cap)
        result = RP_ETOOBIG;
    else
        memcpy(out, b.ptr, b.len + 1);
    rp_buf_release(&b);
    return result;
}
