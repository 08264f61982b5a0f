/* The server-sent events reader (see rampart/sse.h), after the WHATWG HTML "event stream
 * interpretation": lines end in CRLF, LF or CR; a blank line dispatches the event; "data" lines
 * accumulate; comments (":") and other fields are ignored. */
#include <string.h>

#include "rampart/sse.h"

void rp_sse_init(struct rp_sse *s, size_t cap, rp_sse_event_fn fn, void *arg)
{
    memset(s, 0, sizeof(*s));
    rp_buf_init(&s->line, cap);
    rp_buf_init(&s->data, cap);
    s->fn = fn;
    s->arg = arg;
}

void rp_sse_release(struct rp_sse *s)
{
    rp_buf_release(&s->line);
    rp_buf_release(&s->data);
}

/* One complete line (without its end). */
static int sse_line(struct rp_sse *s, struct rp_str line)
{
    if (line.len == 0) {
        if (s->have_data && s->fn)
            s->fn(s->arg, rp_buf_str(&s->data));
        rp_buf_reset(&s->data);
        s->have_data = false;
        return RP_OK;
    }
    if (line.ptr[0] == ':')
        return RP_OK;
    const char *colon = memchr(line.ptr, ':', line.len);
    size_t name_len = colon ? (size_t)(colon - line.ptr) : line.len;
    struct rp_str name = {line.ptr, name_len};
    if (!rp_str_eq_cstr(name, "data")) {
        if (!rp_str_eq_cstr(name, "event") && !rp_str_eq_cstr(name, "id") &&
            !rp_str_eq_cstr(name, "retry"))
            s->foreign = true;
        return RP_OK;
    }
    struct rp_str value = RP_STR("");
    if (colon) {
        value.ptr = colon + 1;
        value.len = line.len - name_len - 1;
        if (value.len && value.ptr[0] == ' ') {
            value.ptr++;
            value.len--;
        }
    }
    int result = RP_OK;
    if (s->have_data)
        result = rp_buf_addc(&s->data, '\n');
    if (!result)
        result = rp_buf_add(&s->data, value.ptr, value.len);
    s->have_data = true;
    if (result == RP_ETOOBIG) {
        /* An event larger than the cap is dropped whole. */
        s->overflow = true;
        rp_buf_reset(&s->data);
        s->have_data = false;
        result = RP_OK;
    }
    return result;
}

int rp_sse_feed(struct rp_sse *s, const char *ptr, size_t len)
{
    size_t i = 0;
    /* The standard skips one U+FEFF at the start of the stream (it may come in pieces). */
    static const char bom[3] = "\xEF\xBB\xBF";
    while (s->bom < 3 && i < len && ptr[i] == bom[s->bom]) {
        s->bom++;
        i++;
    }
    if (s->bom < 3 && i < len) {
        if (s->bom > 0) {
            /* A cut-off mark: those bytes were text after all. */
            int rc = rp_buf_add(&s->line, bom, s->bom);
            if (rc == RP_ETOOBIG)
                s->overflow = s->line_over = true;
            else if (rc)
                return rc;
        }
        s->bom = 3;
    }
    if (i == len)
        return RP_OK;
    ptr += i;
    len -= i;
    i = 0;
    /* A "\r\n" split between two pieces: the '\n' ends nothing new. */
    if (s->cr && len && ptr[0] == '\n')
        i = 1;
    s->cr = false;
    while (i < len) {
        const char *end = ptr + i;
        size_t n = 0;
        while (i + n < len && end[n] != '\n' && end[n] != '\r')
            n++;
        int result = RP_OK;
        if (n) {
            result = rp_buf_add(&s->line, end, n);
            if (result == RP_ETOOBIG) {
                s->overflow = s->line_over = true;
                result = RP_OK;
            }
        }
        if (result)
            return result;
        i += n;
        if (i == len)
            break;
        /* A line end: CR, LF or CRLF. */
        if (ptr[i] == '\r') {
            if (i + 1 < len && ptr[i + 1] == '\n')
                i++;
            else if (i + 1 == len)
                s->cr = true;
        }
        i++;
        if (s->line_over) {
            /* The line went over the cap: skip it. */
            rp_buf_reset(&s->line);
            s->line_over = false;
            continue;
        }
        result = sse_line(s, rp_buf_str(&s->line));
        rp_buf_reset(&s->line);
        if (result)
            return result;
    }
    return RP_OK;
}
