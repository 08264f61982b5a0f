/* Appending JSON strings to bounded buffers (see rampart/json.h). */
#include "rampart/json.h"

int rp_json_add_string(struct rp_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!s)
        return rp_buf_add(out, "null", 4);
    int result = rp_buf_addc(out, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (!result && i < len) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            result = rp_buf_add(out, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            result = rp_buf_add(out, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            result = rp_buf_add(out, esc, 6);
            i++;
        } else {
            size_t n = rp_utf8_len(p + i, len - i);
            if (n) {
                result = rp_buf_add(out, p + i, n);
                i += n;
            } else {
                result = rp_buf_add(out, "\xef\xbf\xbd", 3);
                i += rp_utf8_invalid_len(p + i, len - i);
            }
        }
    }
    return result ? result : rp_buf_addc(out, '"');
}
