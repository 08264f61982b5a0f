/* Appending JSON strings to bounded buffers, and the streaming reader (see rampart/json.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* ---- The writer ---- */

void rp_jsonw_init(struct rp_jsonw *w, struct rp_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

/* After a write: one that failed (the buffer's failure, sticky) is undone whole, the text and
 * the writer's state as they were, so that the buffer always holds whole writes and a mark is
 * always at a whole place, even one taken after a failure. */
static void jsonw_commit(struct rp_jsonw *w, struct rp_jsonw_mark before)
{
    if (!rp_buf_error(w->out))
        return;
    w->out->len = before.len;
    if (w->out->ptr)
        w->out->ptr[before.len] = '\0';
    w->depth = before.depth;
    w->objects = before.objects;
    w->more = before.more;
    w->after_key = before.after_key;
}

/* Before a value: the comma between members, or nothing after a key; a value in an object
 * that has no key is a misuse. */
static bool jsonw_value(struct rp_jsonw *w)
{
    if (w->err)
        return false;
    if (w->after_key) {
        w->after_key = false;
        return true;
    }
    if (w->objects & (1u << w->depth)) {
        w->err = RP_EINVAL;
        return false;
    }
    if (!w->depth && (w->more & 1u)) {
        w->err = RP_EINVAL; /* a second document */
        return false;
    }
    if (w->depth && (w->more & (1u << w->depth)))
        rp_buf_addc(w->out, ',');
    w->more |= 1u << w->depth;
    return true;
}

static void jsonw_open(struct rp_jsonw *w, bool object)
{
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (!jsonw_value(w))
        return;
    if (w->depth + 1 >= RP_JSONW_MAX_DEPTH) {
        w->err = RP_EINVAL;
        return;
    }
    rp_buf_addc(w->out, object ? '{' : '[');
    w->depth++;
    w->more &= ~(1u << w->depth);
    if (object)
        w->objects |= 1u << w->depth;
    else
        w->objects &= ~(1u << w->depth);
    jsonw_commit(w, before);
}

void rp_jsonw_object(struct rp_jsonw *w)
{
    jsonw_open(w, true);
}

void rp_jsonw_array(struct rp_jsonw *w)
{
    jsonw_open(w, false);
}

void rp_jsonw_end(struct rp_jsonw *w)
{
    if (w->err)
        return;
    if (!w->depth || w->after_key) {
        w->err = RP_EINVAL;
        return;
    }
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    rp_buf_addc(w->out, (w->objects & (1u << w->depth)) ? '}' : ']');
    w->depth--;
    jsonw_commit(w, before);
}

void rp_jsonw_key(struct rp_jsonw *w, const char *key)
{
    if (w->err)
        return;
    if (!(w->objects & (1u << w->depth)) || w->after_key || !key) {
        w->err = RP_EINVAL;
        return;
    }
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (w->more & (1u << w->depth))
        rp_buf_addc(w->out, ',');
    w->more |= 1u << w->depth;
    rp_json_add_cstr(w->out, key);
    rp_buf_addc(w->out, ':');
    w->after_key = true;
    jsonw_commit(w, before);
}

void rp_jsonw_strn(struct rp_jsonw *w, const char *s, size_t len)
{
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (jsonw_value(w))
        rp_json_add_string(w->out, s, len);
    jsonw_commit(w, before);
}

void rp_jsonw_str(struct rp_jsonw *w, const char *s)
{
    rp_jsonw_strn(w, s, s ? strlen(s) : 0);
}

void rp_jsonw_int(struct rp_jsonw *w, long long v)
{
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (jsonw_value(w))
        rp_buf_addf(w->out, "%lld", v);
    jsonw_commit(w, before);
}

void rp_jsonw_num(struct rp_jsonw *w, double v, int decimals)
{
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (!jsonw_value(w))
        return;
    if (!isfinite(v))
        rp_buf_adds(w->out, "null");
    else
        rp_buf_addf(w->out, "%.*f", decimals < 0 ? 0 : decimals > 17 ? 17 : decimals, v);
    jsonw_commit(w, before);
}

void rp_jsonw_bool(struct rp_jsonw *w, bool v)
{
    struct rp_jsonw_mark before = rp_jsonw_mark(w);
    if (jsonw_value(w))
        rp_buf_adds(w->out, v ? "true" : "false");
    jsonw_commit(w, before);
}

void rp_jsonw_kstr(struct rp_jsonw *w, const char *key, const char *s)
{
    rp_jsonw_key(w, key);
    rp_jsonw_str(w, s);
}

void rp_jsonw_kint(struct rp_jsonw *w, const char *key, long long v)
{
    rp_jsonw_key(w, key);
    rp_jsonw_int(w, v);
}

void rp_jsonw_knum(struct rp_jsonw *w, const char *key, double v, int decimals)
{
    rp_jsonw_key(w, key);
    rp_jsonw_num(w, v, decimals);
}

void rp_jsonw_kbool(struct rp_jsonw *w, const char *key, bool v)
{
    rp_jsonw_key(w, key);
    rp_jsonw_bool(w, v);
}

struct rp_jsonw_mark rp_jsonw_mark(const struct rp_jsonw *w)
{
    return (struct rp_jsonw_mark){w->out->len, w->depth, w->objects, w->more, w->after_key};
}

void rp_jsonw_rewind(struct rp_jsonw *w, struct rp_jsonw_mark m)
{
    rp_buf_truncate(w->out, m.len);
    w->depth = m.depth;
    w->objects = m.objects;
    w->more = m.more;
    w->after_key = m.after_key;
}

int rp_jsonw_finish(const struct rp_jsonw *w)
{
    if (rp_buf_error(w->out))
        return rp_buf_error(w->out);
    if (w->err || w->depth || w->after_key || !(w->more & 1u))
        return RP_EINVAL; /* a misuse, something still open, or no document at all */
    return RP_OK;
}

/* ---- The streaming reader ---- */

/* A streaming JSON reader (RFC 8259, as strict as jansson: UTF-8 checked, no "\u0000", no
 * trailing commas). Readers walk the document in order, keeping only what they need, so every
 * key has its exact line, big files cost one pass and no tree, and hostile nesting is bounded. */
#define JSON_MAX_DEPTH 512

const char *rp_json_type_name(enum rp_json_type t)
{
    switch (t) {
    case RP_JSON_OBJECT: return "an object";
    case RP_JSON_ARRAY: return "an array";
    case RP_JSON_STRING: return "a string";
    case RP_JSON_NUMBER: return "a number";
    case RP_JSON_TRUE:
    case RP_JSON_FALSE: return "a boolean";
    case RP_JSON_NULL: return "null";
    }
    return "a value";
}

int rp_jsonr_fail(struct rp_jsonr *j, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int result = rp_error_vset_line(j->err, line, fmt, ap);
    va_end(ap);
    return result;
}

void rp_jsonr_init(struct rp_jsonr *j, struct rp_str text, struct rp_error *err)
{
    j->p = text.ptr ? text.ptr : "";
    j->end = j->p + text.len;
    j->line = 1;
    j->depth = 0;
    j->err = err;
    rp_buf_init(&j->str, text.len + 1);
}

void rp_jsonr_release(struct rp_jsonr *j)
{
    rp_buf_release(&j->str);
}

static void j_ws(struct rp_jsonr *j)
{
    while (j->p < j->end) {
        char ch = *j->p;
        if (ch == '\n')
            j->line++;
        else if (ch != ' ' && ch != '\t' && ch != '\r')
            return;
        j->p++;
    }
}

/* The error of finding something else than what: names what is there. */
static int j_expected(struct rp_jsonr *j, const char *what)
{
    if (j->p >= j->end)
        return rp_jsonr_fail(j, j->line, "expected %s, not the end of the file", what);
    unsigned char ch = (unsigned char)*j->p;
    if (ch > 0x20 && ch < 0x7f)
        return rp_jsonr_fail(j, j->line, "expected %s, not '%c'", what, ch);
    return rp_jsonr_fail(j, j->line, "expected %s, not byte 0x%02x", what, ch);
}

static int j_add(struct rp_jsonr *j, struct rp_buf *out, const char *ptr, size_t len)
{
    if (!out)
        return RP_OK;
    int result = rp_buf_add(out, ptr, len);
    if (result == RP_ENOMEM)
        rp_error_set(j->err, "out of memory");
    else if (result)
        return rp_jsonr_fail(j, j->line, "string longer than the file");
    return result;
}

/* Four hex digits at p, or -1. */
static long j_hex4(const struct rp_jsonr *j)
{
    if (j->end - j->p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = rp_hex_value((unsigned char)j->p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string at p ('"'), decoded into j->str when keep, else only checked. */
static int j_string(struct rp_jsonr *j, bool keep)
{
    struct rp_buf *out = keep ? &j->str : NULL;
    if (keep)
        rp_buf_reset(&j->str);
    unsigned start = j->line;
    j->p++;
    for (;;) {
        if (j->p >= j->end)
            return rp_jsonr_fail(j, start, "unterminated string");
        unsigned char ch = (unsigned char)*j->p;
        int result = RP_OK;
        if (ch == '"') {
            j->p++;
            return RP_OK;
        } else if (ch < 0x20) {
            return rp_jsonr_fail(j, j->line, "control character 0x%02x in a string", ch);
        } else if (ch == '\\') {
            j->p++;
            if (j->p >= j->end)
                return rp_jsonr_fail(j, start, "unterminated string");
            char e = *j->p++;
            const char *simple = NULL;
            switch (e) {
            case '"': simple = "\""; break;
            case '\\': simple = "\\"; break;
            case '/': simple = "/"; break;
            case 'b': simple = "\b"; break;
            case 'f': simple = "\f"; break;
            case 'n': simple = "\n"; break;
            case 'r': simple = "\r"; break;
            case 't': simple = "\t"; break;
            default: break;
            }
            if (simple) {
                result = j_add(j, out, simple, 1);
            } else if (e == 'u') {
                long cp = j_hex4(j);
                if (cp < 0)
                    return rp_jsonr_fail(j, j->line, "invalid \\u escape in a string");
                j->p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    /* A high surrogate must be followed by an escaped low one. */
                    long lo = -1;
                    if (j->end - j->p >= 2 && j->p[0] == '\\' && j->p[1] == 'u') {
                        j->p += 2;
                        lo = j_hex4(j);
                    }
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return rp_jsonr_fail(j, j->line, "invalid \\u escape in a string");
                    j->p += 4;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return rp_jsonr_fail(j, j->line, "invalid \\u escape in a string");
                } else if (cp == 0) {
                    return rp_jsonr_fail(j, j->line, "\\u0000 in a string");
                }
                char u[4];
                result = j_add(j, out, u, rp_utf8_encode((uint32_t)cp, u));
            } else {
                return rp_jsonr_fail(j, j->line, "invalid escape in a string");
            }
        } else if (ch >= 0x80) {
            size_t n = rp_utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
            if (!n)
                return rp_jsonr_fail(j, j->line, "invalid UTF-8 in a string");
            result = j_add(j, out, j->p, n);
            j->p += n;
        } else {
            /* The run of plain ASCII in one go. */
            const char *run = j->p;
            while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20 &&
                   (unsigned char)*j->p < 0x80)
                j->p++;
            result = j_add(j, out, run, (size_t)(j->p - run));
        }
        if (result)
            return result;
    }
}

static bool j_digit(const struct rp_jsonr *j)
{
    return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

static int j_number(struct rp_jsonr *j, bool *integer)
{
    *integer = true;
    if (*j->p == '-')
        j->p++;
    if (!j_digit(j))
        return j_expected(j, "a digit");
    if (*j->p == '0')
        j->p++;
    else
        while (j_digit(j))
            j->p++;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        *integer = false;
        if (!j_digit(j))
            return j_expected(j, "a digit");
        while (j_digit(j))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        *integer = false;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!j_digit(j))
            return j_expected(j, "a digit");
        while (j_digit(j))
            j->p++;
    }
    return RP_OK;
}

int rp_jsonr_value(struct rp_jsonr *j, struct rp_jsonv *v)
{
    j_ws(j);
    v->line = j->line;
    v->integer = false;
    v->text = (struct rp_str){NULL, 0};
    if (j->p >= j->end)
        return j_expected(j, "a value");
    char ch = *j->p;
    if (ch == '{' || ch == '[') {
        if (j->depth >= JSON_MAX_DEPTH)
            return rp_jsonr_fail(j, j->line, "JSON nested more than %d deep", JSON_MAX_DEPTH);
        j->depth++;
        j->p++;
        v->type = ch == '{' ? RP_JSON_OBJECT : RP_JSON_ARRAY;
        return RP_OK;
    }
    if (ch == '"') {
        v->type = RP_JSON_STRING;
        return j_string(j, true);
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        v->type = RP_JSON_NUMBER;
        v->text.ptr = j->p;
        int result = j_number(j, &v->integer);
        v->text.len = (size_t)(j->p - v->text.ptr);
        return result;
    }
    static const struct {
        const char *word;
        enum rp_json_type type;
    } words[] = {{"true", RP_JSON_TRUE}, {"false", RP_JSON_FALSE}, {"null", RP_JSON_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i].word, n)) {
            j->p += n;
            v->type = words[i].type;
            return RP_OK;
        }
    }
    return j_expected(j, "a value");
}

/* The next member of the object being read (after its '{' or the previous member's value):
 * its key is left in j->str and *line; *done at the closing '}'. *first starts true. */
int rp_jsonr_member(struct rp_jsonr *j, bool *first, bool *done, unsigned *line)
{
    j_ws(j);
    *done = false;
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        *done = true;
        return RP_OK;
    }
    if (!*first) {
        if (j->p >= j->end || *j->p != ',')
            return j_expected(j, "',' or '}'");
        j->p++;
        j_ws(j);
    }
    *first = false;
    if (j->p >= j->end || *j->p != '"')
        return j_expected(j, "a key");
    *line = j->line;
    int result = j_string(j, true);
    if (result)
        return result;
    j_ws(j);
    if (j->p >= j->end || *j->p != ':')
        return j_expected(j, "':'");
    j->p++;
    return RP_OK;
}

/* The next element of the array being read; *done at its closing ']'. A ']' after a ',' is
 * refused by the j_value that follows. */
int rp_jsonr_element(struct rp_jsonr *j, bool *first, bool *done)
{
    j_ws(j);
    *done = false;
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        j->depth--;
        *done = true;
        return RP_OK;
    }
    if (!*first) {
        if (j->p >= j->end || *j->p != ',')
            return j_expected(j, "',' or ']'");
        j->p++;
    }
    *first = false;
    return RP_OK;
}

/* Consumes the next value whole, keeping nothing. */
int rp_jsonr_pass(struct rp_jsonr *j)
{
    j_ws(j);
    if (j->p < j->end && *j->p == '"')
        return j_string(j, false);
    struct rp_jsonv v;
    int result = rp_jsonr_value(j, &v);
    return result ? result : rp_jsonr_finish(j, &v);
}

int rp_jsonr_finish(struct rp_jsonr *j, const struct rp_jsonv *v)
{
    bool first = true, done = false;
    int result = RP_OK;
    unsigned line;
    if (v->type == RP_JSON_OBJECT) {
        while (!result && !(result = rp_jsonr_member(j, &first, &done, &line)) && !done)
            result = rp_jsonr_pass(j);
    } else if (v->type == RP_JSON_ARRAY) {
        while (!result && !(result = rp_jsonr_element(j, &first, &done)) && !done)
            result = rp_jsonr_pass(j);
    }
    return result;
}

bool rp_jsonr_key_is(const struct rp_jsonr *j, const char *key)
{
    return rp_str_eq_cstr(rp_buf_str(&j->str), key);
}

int rp_jsonr_keep(struct rp_jsonr *j, struct rp_buf *dst)
{
    rp_buf_reset(dst);
    return j_add(j, dst, j->str.ptr ? j->str.ptr : "", j->str.len);
}

int rp_jsonr_end(struct rp_jsonr *j)
{
    j_ws(j);
    return j->p < j->end ? j_expected(j, "the end of the file") : RP_OK;
}
