/* libFuzzer target: the JSON writer (rampart/json.h) driven by any bytes, as a program of
 * writes with strings taken from the input (the event details it builds hold strings from
 * requests). Besides crashes and sanitizer reports, it aborts when the writer breaks its
 * promise: a document it finishes with RP_OK is JSON that jansson reads, within the buffer's
 * cap; a string of valid UTF-8 written whole comes back the same; and a rewind to a mark leaves
 * the buffer as it was at the mark. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/json.h"

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The next string of the program: a length byte, then that many bytes (fewer at the end). */
static struct rp_str next_str(struct input *in)
{
    size_t len = next(in);
    if (len > in->n)
        len = in->n;
    struct rp_str s = {(const char *)in->p, len};
    in->p += len;
    in->n -= len;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    size_t cap = 16 + next(&in) * 4;
    struct rp_buf b, copy;
    struct rp_jsonw w;
    rp_buf_init(&b, cap);
    rp_buf_init(&copy, cap);
    rp_jsonw_init(&w, &b);
    struct rp_jsonw_mark m = rp_jsonw_mark(&w);
    char key[257];
    while (in.n) {
        unsigned op = next(&in) % 11;
        struct rp_str s;
        switch (op) {
        case 0: rp_jsonw_object(&w); break;
        case 1: rp_jsonw_array(&w); break;
        case 2: rp_jsonw_end(&w); break;
        case 3:
            s = next_str(&in);
            memcpy(key, s.ptr, s.len);
            key[s.len] = '\0';
            rp_jsonw_key(&w, key);
            break;
        case 4:
            s = next_str(&in);
            rp_jsonw_strn(&w, s.ptr, s.len);
            break;
        case 5: rp_jsonw_int(&w, (long long)next(&in) * 7919 - 1000000); break;
        case 6: rp_jsonw_num(&w, (double)next(&in) / 3.0 - 40, (int)next(&in) % 20 - 2); break;
        case 7: rp_jsonw_bool(&w, next(&in) & 1); break;
        case 8:
            m = rp_jsonw_mark(&w);
            rp_buf_reset(&copy);
            rp_buf_add(&copy, b.ptr ? b.ptr : "", b.len);
            break;
        case 9:
            rp_jsonw_rewind(&w, m);
            if (b.len != copy.len || (b.len && memcmp(b.ptr, copy.ptr, b.len)))
                abort();
            break;
        case 10: rp_jsonw_kstr(&w, "k", NULL); break;
        }
    }
    /* Close what is open: a document with no misuse and room enough must then be whole. */
    for (unsigned i = 0; i < RP_JSONW_MAX_DEPTH && w.depth; i++)
        rp_jsonw_end(&w);
    if (rp_jsonw_finish(&w) == RP_OK) {
        if (b.len > cap)
            abort();
        json_error_t e;
        json_t *j = json_loadb(b.ptr ? b.ptr : "", b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!j) {
            fprintf(stderr, "not JSON (%s): %.*s\n", e.text, (int)b.len, b.ptr);
            abort();
        }
        json_decref(j);
    }
    /* A string alone, if valid UTF-8 without NUL, comes back the same. */
    struct rp_str all = {(const char *)data, size < 200 ? size : 200};
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    rp_jsonw_strn(&w, all.ptr, all.len);
    json_t *j = rp_jsonw_finish(&w) == RP_OK
                    ? json_loadb(b.ptr, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                    : NULL;
    if (!j && rp_jsonw_finish(&w) == RP_OK)
        abort();
    if (j && rp_utf8_valid(all.ptr, all.len) &&
        (json_string_length(j) != all.len || memcmp(json_string_value(j), all.ptr, all.len)))
        abort();
    json_decref(j);
    rp_buf_release(&b);
    rp_buf_release(&copy);
    return 0;
}
