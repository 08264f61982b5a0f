/* The streaming TOML reader (see rampart/toml.h): a recursive descent over the text, with the
 * nesting of arrays and inline tables bounded. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rampart/toml.h"

int rp_toml_fail(struct rp_toml *t, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int result = rp_error_vset_line(t->err, line, fmt, ap);
    va_end(ap);
    return result;
}

static bool t_eof(const struct rp_toml *t)
{
    return t->p >= t->end;
}

static void t_ws(struct rp_toml *t)
{
    while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
        t->p++;
}

/* Consumes a newline ("\n" or "\r\n") at p; false when there is none. */
static bool t_newline(struct rp_toml *t)
{
    if (t->p < t->end && *t->p == '\n') {
        t->p++;
        t->line++;
        return true;
    }
    if (t->end - t->p >= 2 && t->p[0] == '\r' && t->p[1] == '\n') {
        t->p += 2;
        t->line++;
        return true;
    }
    return false;
}

static bool t_control(unsigned char ch);

/* A comment runs to the end of the line; it stops before a control character (other than tab),
 * which TOML refuses there, so that what follows finds it and fails. */
static void t_comment(struct rp_toml *t)
{
    if (t->p < t->end && *t->p == '#')
        while (++t->p < t->end && !t_control((unsigned char)*t->p))
            ;
}

/* Skips whitespace, comments and newlines (inside arrays). */
static void t_blank(struct rp_toml *t)
{
    for (;;) {
        t_ws(t);
        t_comment(t);
        if (!t_newline(t))
            return;
    }
}

/* The error of something else than what at p; a control character there (a lone "\r", one
 * that ended a comment) is named. */
static int t_expected(struct rp_toml *t, const char *what)
{
    const char *p = t->p;
    if (p < t->end && t_control((unsigned char)*p) && *p != '\n' &&
        !(*p == '\r' && p + 1 < t->end && p[1] == '\n'))
        return rp_toml_fail(t, t->line, "control character 0x%02x", (unsigned char)*p);
    return rp_toml_fail(t, t->line, "expected %s", what);
}

/* After a header or a key/value: whitespace, a comment, then the end of the line or file. */
static int t_eol(struct rp_toml *t)
{
    t_ws(t);
    t_comment(t);
    if (t_eof(t) || t_newline(t))
        return RP_OK;
    if (t_control((unsigned char)*t->p))
        return t_expected(t, "the end of the line");
    struct rp_str rest = {t->p, 0};
    while (rest.len < 16 && t->p + rest.len < t->end && t->p[rest.len] != '\n' &&
           t->p[rest.len] != '\r')
        rest.len++;
    char ex[64];
    return rp_toml_fail(t, t->line, "unexpected '%s' after a value",
                        rp_str_excerpt(rest, ex, sizeof(ex)));
}

static int t_add(struct rp_toml *t, struct rp_buf *out, const char *ptr, size_t len)
{
    if (!out)
        return RP_OK;
    int result = rp_buf_add(out, ptr, len);
    if (result == RP_ENOMEM)
        rp_error_set(t->err, "out of memory");
    else if (result)
        return rp_toml_fail(t, t->line, "string longer than %zu bytes", out->cap);
    return result;
}

static int t_add_utf8(struct rp_toml *t, struct rp_buf *out, uint32_t cp)
{
    char u[4];
    return t_add(t, out, u, rp_utf8_encode(cp, u));
}

/* A basic string's escape at p (just after the backslash). */
static int t_escape(struct rp_toml *t, struct rp_buf *out)
{
    if (t_eof(t))
        return rp_toml_fail(t, t->line, "unterminated string");
    char e = *t->p++;
    const char *simple = NULL;
    switch (e) {
    case 'b': simple = "\b"; break;
    case 't': simple = "\t"; break;
    case 'n': simple = "\n"; break;
    case 'f': simple = "\f"; break;
    case 'r': simple = "\r"; break;
    case 'e': simple = "\x1b"; break;
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    default: break;
    }
    if (simple)
        return t_add(t, out, simple, 1);
    int digits = e == 'u' ? 4 : e == 'U' ? 8 : e == 'x' ? 2 : 0;
    if (!digits || t->end - t->p < digits)
        return rp_toml_fail(t, t->line, "invalid escape in a string");
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
        int h = rp_hex_value((unsigned char)t->p[i]);
        if (h < 0)
            return rp_toml_fail(t, t->line, "invalid escape in a string");
        cp = cp * 16 + (uint32_t)h;
    }
    t->p += digits;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return rp_toml_fail(t, t->line, "escape of an invalid code point");
    return t_add_utf8(t, out, cp);
}

/* TOML refuses control characters in strings, except tab (and newlines in multi-line ones). */
static bool t_control(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* A string at p (a quote), decoded into out (NULL: checked and skipped). */
static int t_string(struct rp_toml *t, struct rp_buf *out)
{
    char q = *t->p;
    unsigned start = t->line;
    bool literal = q == '\'';
    bool multi = t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q;
    int result = RP_OK;
    if (!multi) {
        t->p++;
        for (;;) {
            if (t_eof(t) || *t->p == '\n' || (*t->p == '\r'))
                return rp_toml_fail(t, start, "unterminated string");
            unsigned char ch = (unsigned char)*t->p;
            if (ch == (unsigned char)q) {
                t->p++;
                return RP_OK;
            }
            if (t_control(ch))
                return rp_toml_fail(t, t->line, "control character in a string");
            if (ch == '\\' && !literal) {
                t->p++;
                result = t_escape(t, out);
            } else {
                /* Copy the run of plain bytes in one go. */
                const char *run = t->p;
                while (t->p < t->end && *t->p != q && *t->p != '\n' && *t->p != '\r' &&
                       !(*t->p == '\\' && !literal) && !t_control((unsigned char)*t->p))
                    t->p++;
                result = t_add(t, out, run, (size_t)(t->p - run));
            }
            if (result)
                return result;
        }
    }
    t->p += 3;
    t_newline(t); /* a newline right after the opening quotes is not part of the string */
    for (;;) {
        if (t_eof(t))
            return rp_toml_fail(t, start, "unterminated string");
        unsigned char ch = (unsigned char)*t->p;
        if (ch == (unsigned char)q && t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q) {
            /* Up to two quotes may end the content: """a"""" is 'a"'. */
            size_t run = 3;
            while (t->p + run < t->end && t->p[run] == q)
                run++;
            if (run > 5)
                return rp_toml_fail(t, t->line, "too many quotes closing a string");
            result = t_add(t, out, t->p, run - 3);
            t->p += run;
            return result;
        }
        if (ch == '\n' || ch == '\r') {
            const char *nl = t->p;
            if (!t_newline(t))
                return rp_toml_fail(t, t->line, "control character in a string");
            result = t_add(t, out, nl, (size_t)(t->p - nl));
        } else if (ch == '\\' && !literal) {
            /* A backslash at the end of a line joins it to the next non-blank text. */
            const char *after = t->p + 1;
            while (after < t->end && (*after == ' ' || *after == '\t'))
                after++;
            if (after < t->end && (*after == '\n' || *after == '\r')) {
                t->p = after;
                if (!t_newline(t))
                    return rp_toml_fail(t, t->line, "control character in a string");
                for (;;) {
                    t_ws(t);
                    if (!t_newline(t))
                        break;
                }
            } else {
                t->p++;
                result = t_escape(t, out);
            }
        } else if (t_control(ch)) {
            return rp_toml_fail(t, t->line, "control character in a string");
        } else {
            result = t_add(t, out, t->p, 1);
            t->p++;
        }
        if (result)
            return result;
    }
}

static bool t_bare_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* A dotted key at p; its first segment is decoded into out (reset first; NULL: checked only) and
 * its segment count is *nseg. */
static int t_key(struct rp_toml *t, struct rp_buf *out, size_t *nseg)
{
    if (out)
        rp_buf_reset(out);
    *nseg = 0;
    for (;;) {
        t_ws(t);
        struct rp_buf *seg = *nseg == 0 ? out : NULL;
        if (t_eof(t))
            return t_expected(t, "a key");
        if (*t->p == '"' || *t->p == '\'') {
            if (t->end - t->p >= 3 && t->p[1] == *t->p && t->p[2] == *t->p)
                return rp_toml_fail(t, t->line, "a multi-line string cannot be a key");
            int result = t_string(t, seg);
            if (result)
                return result;
        } else {
            const char *start = t->p;
            while (t->p < t->end && t_bare_key_char(*t->p))
                t->p++;
            if (t->p == start)
                return t_expected(t, "a key");
            int result = t_add(t, seg, start, (size_t)(t->p - start));
            if (result)
                return result;
        }
        (*nseg)++;
        t_ws(t);
        if (t_eof(t) || *t->p != '.')
            return RP_OK;
        t->p++;
    }
}

static int t_value(struct rp_toml *t, struct rp_buf *out, enum rp_toml_type *type, int depth);

/* An array at p ('['); values may span lines, with comments and a trailing comma. */
static int t_array(struct rp_toml *t, int depth)
{
    unsigned start = t->line;
    t->p++;
    for (;;) {
        t_blank(t);
        if (t_eof(t))
            return rp_toml_fail(t, start, "unterminated array");
        if (*t->p == ']') {
            t->p++;
            return RP_OK;
        }
        enum rp_toml_type type;
        int result = t_value(t, NULL, &type, depth + 1);
        if (result)
            return result;
        t_blank(t);
        if (t_eof(t))
            return rp_toml_fail(t, start, "unterminated array");
        if (*t->p == ',')
            t->p++;
        else if (*t->p != ']')
            return rp_toml_fail(t, t->line, "expected ',' or ']' in an array");
    }
}

/* An inline table at p ('{'). TOML 1.0 keeps one on one line; newlines are let through as
 * TOML 1.1 does. */
static int t_inline_table(struct rp_toml *t, int depth)
{
    unsigned start = t->line;
    t->p++;
    t_blank(t);
    if (!t_eof(t) && *t->p == '}') {
        t->p++;
        return RP_OK;
    }
    for (;;) {
        size_t nseg;
        t_blank(t);
        int result = t_key(t, NULL, &nseg);
        if (result)
            return result;
        if (t_eof(t) || *t->p != '=')
            return rp_toml_fail(t, t->line, "expected '=' after a key");
        t->p++;
        t_ws(t);
        enum rp_toml_type type;
        result = t_value(t, NULL, &type, depth + 1);
        if (result)
            return result;
        t_blank(t);
        if (t_eof(t))
            return rp_toml_fail(t, start, "unterminated inline table");
        if (*t->p == '}') {
            t->p++;
            return RP_OK;
        }
        if (*t->p != ',')
            return rp_toml_fail(t, t->line, "expected ',' or '}' in an inline table");
        t->p++;
    }
}

static bool t_scalar_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '+' || ch == '.' || ch == ':';
}

/* Digits of base at s, an '_' allowed between two of them: where they end, NULL when there are
 * none or an '_' is misplaced. */
static const char *t_digits(const char *s, const char *end, int base)
{
    for (;;) {
        int d = s < end ? rp_hex_value((unsigned char)*s) : -1;
        if (d < 0 || d >= base)
            return NULL;
        if (++s < end && *s == '_')
            s++;
        else if (s == end || rp_hex_value((unsigned char)*s) < 0 ||
                 rp_hex_value((unsigned char)*s) >= base)
            return s;
    }
}

/* The value of the n decimal digits at s (n <= 4), or -1. */
static int t_fixed(const char *s, const char *end, int n)
{
    int v = 0;
    if (end - s < n)
        return -1;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + s[i] - '0';
    }
    return v;
}

/* HH:MM:SS with an optional fraction at s: where it ends, or NULL. */
static const char *t_time(const char *s, const char *end)
{
    if (end - s < 8)
        return NULL;
    int h = t_fixed(s, end, 2), m = t_fixed(s + 3, end, 2), sec = t_fixed(s + 6, end, 2);
    if (h < 0 || h > 23 || s[2] != ':' || m < 0 || m > 59 || s[5] != ':' || sec < 0 || sec > 59)
        return NULL;
    s += 8;
    if (s < end && *s == '.') {
        const char *frac = ++s;
        while (s < end && *s >= '0' && *s <= '9')
            s++;
        if (s == frac)
            return NULL;
    }
    return s;
}

/* A date, a date and time (with or without an offset) or a time, as TOML 1.0 writes them. */
static bool t_datetime(const char *s, const char *end)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (end - s < 10 || s[4] != '-' || s[7] != '-')
        return t_time(s, end) == end;
    int y = t_fixed(s, end, 4), m = t_fixed(s + 5, end, 2), d = t_fixed(s + 8, end, 2);
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    /* Years from 1, as tomllib (Python's datetime) has them: year 0 is nobody's lock file. */
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days[m - 1] || (m == 2 && d == 29 && !leap))
        return false;
    s += 10;
    if (s == end)
        return true;
    if ((*s != 'T' && *s != 't' && *s != ' ') || !(s = t_time(s + 1, end)))
        return false;
    if (s == end || ((*s == 'Z' || *s == 'z') && s + 1 == end))
        return true;
    if (end - s != 6 || (*s != '+' && *s != '-') || s[3] != ':')
        return false;
    int oh = t_fixed(s + 1, end, 2), om = t_fixed(s + 4, end, 2);
    return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

/* A bare value, s to end: a boolean, an integer, a float or a date or time, as TOML 1.0 (and
 * Python's tomllib) reads them. */
static bool t_bare_value(const char *s, const char *end)
{
    size_t n = (size_t)(end - s);
    if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)))
        return true;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
        return t_digits(s + 2, end, s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2) == end;
    const char *p = s < end && (*s == '+' || *s == '-') ? s + 1 : s;
    if (end - p == 3 && (!memcmp(p, "inf", 3) || !memcmp(p, "nan", 3)))
        return true;
    if (p < end && *p == '0')
        p++; /* no leading zeros */
    else if (!(p = t_digits(p, end, 10)))
        return t_datetime(s, end);
    if (p < end && *p == '.' && !(p = t_digits(p + 1, end, 10)))
        return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!(p = t_digits(p, end, 10)))
            return false;
    }
    return p == end || t_datetime(s, end);
}

/* A value at p: a string goes to out (when not NULL), anything else is skipped. */
static int t_value(struct rp_toml *t, struct rp_buf *out, enum rp_toml_type *type, int depth)
{
    *type = RP_TOML_BARE;
    if (depth > RP_TOML_MAX_DEPTH)
        return rp_toml_fail(t, t->line, "values nested more than %d deep", RP_TOML_MAX_DEPTH);
    if (t_eof(t))
        return t_expected(t, "a value");
    char ch = *t->p;
    if (ch == '"' || ch == '\'') {
        *type = RP_TOML_STRING;
        return t_string(t, out);
    }
    if (ch == '[') {
        *type = RP_TOML_ARRAY;
        return t_array(t, depth);
    }
    if (ch == '{') {
        *type = RP_TOML_INLINE_TABLE;
        return t_inline_table(t, depth);
    }
    /* Numbers, booleans, dates and times; a date may be followed by " 07:32:00". */
    const char *start = t->p;
    while (t->p < t->end && t_scalar_char(*t->p))
        t->p++;
    if (t->p == start)
        return t_expected(t, "a value");
    if (t->p - start == 10 && start[4] == '-' && start[7] == '-' && t->end - t->p >= 2 &&
        t->p[0] == ' ' && t->p[1] >= '0' && t->p[1] <= '9') {
        t->p++;
        while (t->p < t->end && t_scalar_char(*t->p))
            t->p++;
    }
    if (!t_bare_value(start, t->p)) {
        char ex[64];
        return rp_toml_fail(
            t, t->line, "invalid value '%s'",
            rp_str_excerpt((struct rp_str){start, (size_t)(t->p - start)}, ex, sizeof(ex)));
    }
    return RP_OK;
}

void rp_toml_init(struct rp_toml *t, struct rp_str text, struct rp_error *err)
{
    memset(t, 0, sizeof(*t));
    t->p = text.ptr ? text.ptr : "";
    t->end = t->p + text.len;
    t->line = 1;
    t->err = err;
    /* A key is never longer than the text it is decoded from. */
    rp_buf_init(&t->key, text.len + 1);
}

void rp_toml_release(struct rp_toml *t)
{
    rp_buf_release(&t->key);
}

/* A TOML file is UTF-8 throughout, comments included: checked once, before the first item, so
 * that nothing is read from a file that is not TOML. */
static int t_check_utf8(struct rp_toml *t)
{
    unsigned line = 1;
    size_t len = (size_t)(t->end - t->p);
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)t->p[i];
        size_t n = ch < 0x80 ? 1 : rp_utf8_len((const unsigned char *)t->p + i, len - i);
        if (!n)
            return rp_toml_fail(t, line, "invalid UTF-8");
        line += ch == '\n';
        i += n;
    }
    t->checked = true;
    return RP_OK;
}

/* A header at p ('['), up to its closing bracket; the rest of its line is checked by the next
 * call. */
static int t_header(struct rp_toml *t, struct rp_toml_item *item)
{
    unsigned line = t->line;
    bool array = t->end - t->p >= 2 && t->p[1] == '[';
    t->p += array ? 2 : 1;
    int result = t_key(t, &t->key, &item->nseg);
    if (result)
        return result;
    if (array ? t->end - t->p < 2 || t->p[0] != ']' || t->p[1] != ']' : t_eof(t) || t->p[0] != ']')
        return rp_toml_fail(t, line, "unterminated table header");
    t->p += array ? 2 : 1;
    item->kind = array ? RP_TOML_ARRAY_TABLE : RP_TOML_TABLE;
    item->line = line;
    item->key = rp_buf_str(&t->key);
    t->at = RP_TOML_AT_EOL;
    return RP_OK;
}

/* The key of a key/value line at p and its '=': the value is read next. */
static int t_keyval(struct rp_toml *t, struct rp_toml_item *item)
{
    int result = t_key(t, &t->key, &item->nseg);
    if (result)
        return result;
    unsigned line = t->line;
    if (t_eof(t) || *t->p != '=')
        return rp_toml_fail(t, line, "expected '=' after a key");
    t->p++;
    t_ws(t);
    item->kind = RP_TOML_KEY;
    item->line = line;
    item->key = rp_buf_str(&t->key);
    t->at = RP_TOML_AT_VALUE;
    return RP_OK;
}

int rp_toml_next(struct rp_toml *t, struct rp_toml_item *item)
{
    *item = (struct rp_toml_item){.kind = RP_TOML_END, .key = {"", 0}};
    int result;
    if (!t->checked && (result = t_check_utf8(t)))
        return result;
    if (t->at == RP_TOML_AT_VALUE) {
        enum rp_toml_type type;
        if ((result = rp_toml_value(t, NULL, &type)))
            return result;
    }
    if (t->at == RP_TOML_AT_EOL) {
        if ((result = t_eol(t)))
            return result;
        t->at = RP_TOML_AT_ITEM;
    }
    t_blank(t);
    if (t_eof(t)) {
        item->line = t->line;
        return RP_OK;
    }
    return *t->p == '[' ? t_header(t, item) : t_keyval(t, item);
}

bool rp_toml_key_is(const struct rp_toml_item *item, const char *name)
{
    return item->nseg == 1 && rp_str_eq_cstr(item->key, name);
}

int rp_toml_value(struct rp_toml *t, struct rp_buf *out, enum rp_toml_type *type)
{
    *type = RP_TOML_BARE;
    if (t->at != RP_TOML_AT_VALUE)
        return rp_toml_fail(t, t->line, "no value to read here");
    if (out)
        rp_buf_reset(out);
    int result = t_value(t, out, type, 0);
    if (!result)
        t->at = RP_TOML_AT_EOL;
    return result;
}
