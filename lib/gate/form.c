/* Fields of application/x-www-form-urlencoded text (an HTML form's body, a query string), as the
 * WHATWG URL standard parses it, and the shape of a verification token (see rampart/gate.h). */
#include <string.h>

#include "rampart/gate.h"

/* Decodes in ('+' a space, "%XX" a byte, any other '%' itself) into out, at most cap bytes;
 * returns the decoded length, or cap + 1 when it does not fit. out may be NULL (measure only,
 * cap then ignored). */
static size_t decode(struct rp_str in, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        int hi, lo;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < in.len &&
                   (hi = rp_hex_value((unsigned char)in.ptr[i + 1])) >= 0 &&
                   (lo = rp_hex_value((unsigned char)in.ptr[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (out) {
            if (n == cap)
                return cap + 1;
            out[n] = c;
        }
        n++;
    }
    return n;
}

/* Whether the field name of in (already split from its value) decodes to name. */
static bool name_is(struct rp_str in, const char *name)
{
    char buf[64];
    size_t want = strlen(name);
    if (want > sizeof(buf) || in.len > 3 * sizeof(buf))
        return false;
    size_t n = decode(in, buf, sizeof(buf));
    return n == want && memcmp(buf, name, want) == 0;
}

int rp_form_field(struct rp_str form, const char *name, char *out, size_t cap, size_t *len)
{
    bool found = false;
    size_t i = 0;
    if (cap == 0)
        return RP_ETOOBIG;
    if (form.len == 0)
        return RP_ENOTFOUND;
    while (i <= form.len) {
        const char *amp = memchr(form.ptr + i, '&', form.len - i);
        size_t end = amp ? (size_t)(amp - form.ptr) : form.len;
        struct rp_str field = {form.ptr + i, end - i};
        i = end + 1;
        if (field.len == 0)
            continue;
        const char *eq = memchr(field.ptr, '=', field.len);
        struct rp_str fname = {field.ptr, eq ? (size_t)(eq - field.ptr) : field.len};
        struct rp_str value = {eq ? eq + 1 : field.ptr + field.len,
                               eq ? field.len - fname.len - 1 : 0};
        if (!name_is(fname, name))
            continue;
        /* Two values for one name: which one the person meant is a guess, so none is taken. */
        if (found)
            return RP_EINVAL;
        found = true;
        size_t n = decode(value, out, cap - 1);
        if (n > cap - 1)
            return RP_ETOOBIG;
        out[n] = '\0';
        if (len)
            *len = n;
    }
    return found ? RP_OK : RP_ENOTFOUND;
}

bool rp_token_valid(struct rp_str token)
{
    if (token.len == 0 || token.len > RP_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < token.len; i++) {
        char c = token.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}
