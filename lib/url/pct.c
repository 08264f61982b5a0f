/* Percent-encoding sets and UTF-8 hygiene for the URL parser. */
#include <string.h>

#include "internal.h"

bool rp__url_in_pct_set(unsigned char c, enum rp__pct_set set)
{
    if (c < 0x20 || c > 0x7e)
        return true;
    switch (set) {
    case RP_PCT_C0: return false;
    case RP_PCT_FRAGMENT: return c == ' ' || c == '"' || c == '<' || c == '>' || c == '`';
    case RP_PCT_QUERY: return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>';
    case RP_PCT_SPECIAL_QUERY:
        return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || c == '\'';
    case RP_PCT_PATH:
        return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || c == '?' || c == '^' ||
               c == '`' || c == '{' || c == '}';
    case RP_PCT_USERINFO:
        return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || c == '?' || c == '`' ||
               c == '{' || c == '}' || c == '/' || c == ':' || c == ';' || c == '=' || c == '@' ||
               (c >= '[' && c <= '^') || c == '|';
    }
    return false;
}

int rp__url_pct_encode(struct rp_buf *out, const char *ptr, size_t len, enum rp__pct_set set)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ptr[i];
        int result;
        if (rp__url_in_pct_set(c, set)) {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            result = rp_buf_add(out, enc, 3);
        } else {
            result = rp_buf_addc(out, (char)c);
        }
        if (result)
            return result;
    }
    return RP_OK;
}

bool rp__utf8_valid(const char *ptr, size_t len)
{
    const unsigned char *p = (const unsigned char *)ptr;
    for (size_t i = 0; i < len;) {
        size_t n = rp_utf8_len(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

int rp__utf8_sanitize(struct rp_str in, struct rp_buf *out)
{
    const unsigned char *p = (const unsigned char *)in.ptr;
    for (size_t i = 0; i < in.len;) {
        /* Copy the longest well-formed run at once. */
        size_t run = i, n;
        while (run < in.len && (n = rp_utf8_len(p + run, in.len - run)) > 0)
            run += n;
        int result = RP_OK;
        if (run > i) {
            result = rp_buf_add(out, p + i, run - i);
            i = run;
        } else {
            /* One U+FFFD per maximal ill-formed subpart, as the WHATWG decoder does: the
             * lead byte plus the continuation bytes that still fit its expected pattern. */
            result = rp_buf_add(out, "\xef\xbf\xbd", 3);
            size_t skip = 1;
            unsigned char c = p[i], lo = 0x80, hi = 0xbf;
            size_t want = (c >= 0xc2 && c <= 0xdf)   ? 2
                          : (c >= 0xe0 && c <= 0xef) ? 3
                          : (c >= 0xf0 && c <= 0xf4) ? 4
                                                     : 1;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
            else if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
            while (skip < want && i + skip < in.len && p[i + skip] >= lo && p[i + skip] <= hi) {
                skip++;
                lo = 0x80;
                hi = 0xbf;
            }
            i += skip;
        }
        if (result)
            return result;
    }
    return RP_OK;
}
