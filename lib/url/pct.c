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
