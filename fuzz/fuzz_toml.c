/* libFuzzer target: the streaming TOML reader (rampart/toml.h) on any bytes, as the whole
 * document. Besides crashes and sanitizer reports, it aborts when a walk breaks the API's
 * promises: an error is RP_EINVAL with "line N: " (N a line of the text) or RP_ENOMEM; items
 * come in the order of their lines; keys and decoded strings are UTF-8 (the text was); a walk
 * that succeeds ends on the text's last line; and passing values over reads the same items, to
 * the same end, as reading each one. A third walk decodes strings into an 8-byte buffer, so
 * that the over-the-cap path runs too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/toml.h"

/* What a walk saw: a hash of its items (kind, line, key, segments) and how it ended. */
struct seen {
    uint64_t items;
    size_t n;
    int result;
    struct rp_error err;
};

static unsigned count_lines(struct rp_str text)
{
    unsigned n = 1;
    for (size_t i = 0; i < text.len; i++)
        n += text.ptr[i] == '\n';
    return n;
}

static void walk(struct rp_str text, size_t cap, bool read_values, struct seen *s)
{
    unsigned lines = count_lines(text), last = 1;
    struct rp_toml t;
    struct rp_buf out;
    memset(s, 0, sizeof(*s));
    rp_toml_init(&t, text, &s->err);
    rp_buf_init(&out, cap);
    for (;;) {
        struct rp_toml_item it;
        if ((s->result = rp_toml_next(&t, &it)))
            break;
        if (it.line < last || it.line > lines)
            abort();
        last = it.line;
        if (!rp_utf8_valid(it.key.ptr, it.key.len))
            abort();
        unsigned fields[3] = {it.kind, it.line, (unsigned)it.nseg};
        s->items = rp_hash64(fields, sizeof(fields), s->items);
        s->items = rp_hash64(it.key.ptr, it.key.len, s->items);
        s->n++;
        if (it.kind == RP_TOML_END) {
            if (it.line != lines)
                abort(); /* every newline counted */
            /* The end stays the end. */
            if (rp_toml_next(&t, &it) || it.kind != RP_TOML_END)
                abort();
            break;
        }
        if (it.kind != RP_TOML_KEY)
            continue;
        if (!read_values)
            continue;
        enum rp_toml_type type;
        if ((s->result = rp_toml_value(&t, &out, &type)))
            break;
        if (type != RP_TOML_STRING && out.len)
            abort(); /* only strings are kept */
        if (!rp_utf8_valid(out.ptr ? out.ptr : "", out.len))
            abort();
    }
    if (s->result) {
        unsigned line = 0;
        if (s->result != RP_EINVAL && s->result != RP_ENOMEM)
            abort();
        if (s->result == RP_EINVAL &&
            (sscanf(s->err.msg, "line %u: ", &line) != 1 || line < 1 || line > lines))
            abort();
    }
    rp_buf_release(&out);
    rp_toml_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_str text = {(const char *)data, size};
    struct seen read, passed, small;
    walk(text, size + 1, true, &read);
    walk(text, size + 1, false, &passed);
    if (read.items != passed.items || read.n != passed.n || read.result != passed.result ||
        strcmp(read.err.msg, passed.err.msg) != 0)
        abort();
    walk(text, 8, true, &small);
    return 0;
}
