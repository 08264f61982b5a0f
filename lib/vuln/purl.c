/* Package URLs (github.com/package-url/purl-spec) read down to an ecosystem, a package name and a
 * version, as SBOMs name what they list. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Appends s to out with its percent-escapes decoded. A malformed escape or a decoded NUL (names
 * become C strings) is RP_EINVAL with why in *why. */
static int pct_decode(struct rp_str s, struct rp_buf *out, const char **why)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '%') {
            int hi = i + 2 < s.len ? rp_hex_value((unsigned char)s.ptr[i + 1]) : -1;
            int lo = i + 2 < s.len ? rp_hex_value((unsigned char)s.ptr[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "malformed percent-escape";
                return RP_EINVAL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') {
            *why = "NUL byte";
            return RP_EINVAL;
        }
        int result = rp_buf_addc(out, c);
        if (result)
            return result;
    }
    return RP_OK;
}

/* The position of the last c in s, or s.len. */
static size_t last_of(struct rp_str s, char c)
{
    for (size_t i = s.len; i > 0; i--)
        if (s.ptr[i - 1] == c)
            return i - 1;
    return s.len;
}

static bool type_is(struct rp_str type, const char *want)
{
    return rp_str_ieq_cstr(type, want);
}

int rp__purl_parse(struct rp_str purl, struct rp__purl *out, struct rp_error *err)
{
    out->eco = RP_ECO_OTHER;
    out->name = NULL;
    out->version = NULL;
    const char *why = NULL;
    int result = RP_EINVAL;
    struct rp_buf name, version;
    rp_buf_init(&name, purl.len + 1);
    rp_buf_init(&version, purl.len + 1);

    if (purl.len < 4 || !rp_str_ieq_cstr((struct rp_str){purl.ptr, 4}, "pkg:")) {
        why = "does not start with 'pkg:'";
        goto out;
    }
    for (size_t i = 0; i < purl.len; i++) {
        unsigned char c = (unsigned char)purl.ptr[i];
        if (c <= ' ' || c == 0x7f) {
            why = "control character or space";
            goto out;
        }
    }
    struct rp_str r = {purl.ptr + 4, purl.len - 4};
    /* The specification tolerates "pkg://type/...". */
    while (r.len && r.ptr[0] == '/') {
        r.ptr++;
        r.len--;
    }
    /* The subpath, then the qualifiers, are split off from the right. */
    r.len = last_of(r, '#');
    r.len = last_of(r, '?');

    size_t slash = 0;
    while (slash < r.len && r.ptr[slash] != '/')
        slash++;
    struct rp_str type = {r.ptr, slash};
    if (!type.len || slash == r.len) {
        why = "no type and name";
        goto out;
    }
    for (size_t i = 0; i < type.len; i++) {
        char c = type.ptr[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-'))) {
            why = "malformed type";
            goto out;
        }
    }
    struct rp_str rest = {r.ptr + slash + 1, r.len - slash - 1};
    while (rest.len && rest.ptr[rest.len - 1] == '/')
        rest.len--;

    /* The version follows the last '@' after the last '/': an npm scope written unescaped
     * ("@babel/core") is not a version. */
    size_t last_slash = last_of(rest, '/');
    size_t at = last_of(rest, '@');
    bool has_version = at < rest.len && (last_slash == rest.len || at > last_slash);
    if (has_version) {
        struct rp_str v = {rest.ptr + at + 1, rest.len - at - 1};
        if (!v.len) {
            why = "empty version";
            goto out;
        }
        result = pct_decode(v, &version, &why);
        if (result)
            goto out;
        rest.len = at;
        while (rest.len && rest.ptr[rest.len - 1] == '/')
            rest.len--;
    }

    bool maven = type_is(type, "maven");
    bool deb = type_is(type, "deb");
    struct rp_str deb_ns = RP_STR_NULL;
    /* Namespace segments then the name, empty segments dropped, each decoded on its own. */
    size_t start = 0;
    for (size_t i = 0; i <= rest.len; i++) {
        if (i < rest.len && rest.ptr[i] != '/')
            continue;
        struct rp_str seg = {rest.ptr + start, i - start};
        start = i + 1;
        if (!seg.len)
            continue;
        bool is_name = i == rest.len;
        if (deb && !is_name) {
            if (!deb_ns.ptr)
                deb_ns = seg;
            continue; /* A Debian package's name is its name alone: the vendor is not part. */
        }
        if (name.len) {
            result = rp_buf_addc(&name, maven && is_name ? ':' : '/');
            if (result)
                goto out;
        }
        result = pct_decode(seg, &name, &why);
        if (result)
            goto out;
    }
    result = RP_EINVAL;
    if (!name.len) {
        why = "no name";
        goto out;
    }

    if (type_is(type, "pypi"))
        out->eco = RP_ECO_PYPI;
    else if (type_is(type, "golang"))
        out->eco = RP_ECO_GO;
    else if (type_is(type, "npm"))
        out->eco = RP_ECO_NPM;
    else if (type_is(type, "cargo"))
        out->eco = RP_ECO_CRATES;
    else if (deb && (!deb_ns.ptr || rp_str_ieq_cstr(deb_ns, "debian")))
        out->eco = RP_ECO_DEBIAN; /* Ubuntu's and others' versions are not Debian's */

    out->name = rp_buf_detach(&name);
    if (!out->name) {
        result = RP_ENOMEM;
        goto out;
    }
    if (has_version) {
        out->version = rp_buf_detach(&version);
        if (!out->version) {
            free(out->name);
            out->name = NULL;
            result = RP_ENOMEM;
            goto out;
        }
    }
    result = RP_OK;
out:
    if (result == RP_EINVAL) {
        char ex[64];
        rp_error_set(err, "invalid package URL '%s': %s", rp_str_excerpt(purl, ex, sizeof(ex)),
                     why ? why : "malformed");
        result = RP_EINVAL;
    } else if (result) {
        rp_error_set(err, "%s", rp_strerror(result));
    }
    rp_buf_release(&name);
    rp_buf_release(&version);
    return result;
}

void rp__purl_release(struct rp__purl *p)
{
    free(p->name);
    free(p->version);
    p->name = NULL;
    p->version = NULL;
}
