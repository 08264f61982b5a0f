/* The WHATWG URL standard's basic URL parser and serialiser (no state override): what a
 * browser's address bar and `new URL(input, base)` do with a string. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum state {
    S_SCHEME_START,
    S_SCHEME,
    S_NO_SCHEME,
    S_SPECIAL_RELATIVE_OR_AUTHORITY,
    S_PATH_OR_AUTHORITY,
    S_RELATIVE,
    S_RELATIVE_SLASH,
    S_SPECIAL_AUTHORITY_SLASHES,
    S_SPECIAL_AUTHORITY_IGNORE_SLASHES,
    S_AUTHORITY,
    S_HOST,
    S_PORT,
    S_FILE,
    S_FILE_SLASH,
    S_FILE_HOST,
    S_PATH_START,
    S_PATH,
    S_OPAQUE_PATH,
    S_QUERY,
    S_FRAGMENT
};

/* The URL under construction. The path is kept serialised: each segment is "/" + segment, so
 * the segment list [] is "", [""] is "/", and shortening cuts at the last '/'. */
struct build {
    struct rp_buf scheme, username, password, host, path, query, fragment;
    enum rp_url_host_type host_type;
    long port;
    bool has_query, has_fragment, opaque_path, special;
};

static const char *const special_schemes[] = {"ftp", "file", "http", "https", "ws", "wss"};
static const int special_ports[] = {21, -1, 80, 443, 80, 443};

static int special_index(struct rp_str scheme)
{
    for (size_t i = 0; i < sizeof(special_schemes) / sizeof(special_schemes[0]); i++)
        if (rp_str_eq_cstr(scheme, special_schemes[i]))
            return (int)i;
    return -1;
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static char lower(int c)
{
    return (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
}

/* "Windows drive letter": an ASCII alpha and ':' or '|'; normalised means ':'. */
static bool is_drive(const char *s, size_t n, bool normalized)
{
    return n == 2 && is_alpha((unsigned char)s[0]) && (s[1] == ':' || (!normalized && s[1] == '|'));
}

static bool starts_with_drive(const char *s, size_t n)
{
    if (n < 2 || !is_drive(s, 2, false))
        return false;
    return n == 2 || s[2] == '/' || s[2] == '\\' || s[2] == '?' || s[2] == '#';
}

static bool is_single_dot(struct rp_str s)
{
    return rp_str_eq_cstr(s, ".") || rp_str_ieq_cstr(s, "%2e");
}

static bool is_double_dot(struct rp_str s)
{
    return rp_str_eq_cstr(s, "..") || rp_str_ieq_cstr(s, ".%2e") || rp_str_ieq_cstr(s, "%2e.") ||
           rp_str_ieq_cstr(s, "%2e%2e");
}

/* The first path segment, when there is one. */
static struct rp_str first_segment(const char *path, size_t len)
{
    if (len == 0)
        return RP_STR_NULL;
    const char *end = memchr(path + 1, '/', len - 1);
    return (struct rp_str){path + 1, end ? (size_t)(end - path - 1) : len - 1};
}

static size_t segment_count(const struct rp_buf *path)
{
    size_t n = 0;
    for (size_t i = 0; i < path->len; i++)
        n += path->ptr[i] == '/';
    return n;
}

static void shorten_path(struct build *u)
{
    struct rp_str first = first_segment(u->path.ptr, u->path.len);
    if (rp_str_eq_cstr(rp_buf_str(&u->scheme), "file") && segment_count(&u->path) == 1 &&
        is_drive(first.ptr, first.len, true))
        return;
    if (u->path.len == 0)
        return;
    char *last = memrchr(u->path.ptr, '/', u->path.len);
    rp_buf_truncate(&u->path, (size_t)(last - u->path.ptr));
}

static int copy_str(struct rp_buf *dst, const char *src)
{
    rp_buf_reset(dst);
    return src ? rp_buf_adds(dst, src) : RP_OK;
}

/* Copies the authority (userinfo, host, port) of base into u. */
static int copy_authority(struct build *u, const struct rp_url *base)
{
    int result = copy_str(&u->username, base->username);
    if (!result)
        result = copy_str(&u->password, base->password);
    if (!result)
        result = copy_str(&u->host, base->host);
    u->host_type = base->host_type;
    u->port = base->port;
    return result;
}

static int set_query(struct build *u, const char *q)
{
    u->has_query = q != NULL;
    return copy_str(&u->query, q);
}

static int finish(struct build *u, struct rp_url *out)
{
    struct rp_buf href;
    rp_buf_init(&href, u->scheme.len + u->username.len + u->password.len + u->host.len +
                           u->path.len + u->query.len + u->fragment.len + 64);
    int result = rp_buf_add(&href, u->scheme.ptr, u->scheme.len);
    result = result ? result : rp_buf_addc(&href, ':');
    if (!result && u->host_type != RP_URL_HOST_NONE) {
        result = rp_buf_adds(&href, "//");
        if (!result && (u->username.len || u->password.len)) {
            result = rp_buf_add(&href, u->username.ptr, u->username.len);
            if (!result && u->password.len) {
                result = rp_buf_addc(&href, ':');
                result = result ? result : rp_buf_add(&href, u->password.ptr, u->password.len);
            }
            result = result ? result : rp_buf_addc(&href, '@');
        }
        result = result ? result : rp_buf_add(&href, u->host.ptr, u->host.len);
        if (!result && u->port >= 0)
            result = rp_buf_addf(&href, ":%ld", u->port);
    } else if (!result && !u->opaque_path && segment_count(&u->path) > 1 && u->path.len > 1 &&
               u->path.ptr[1] == '/') {
        /* Keeps "web+demo:/.//not-a-host/" from reading back as having a host. */
        result = rp_buf_adds(&href, "/.");
    }
    result = result ? result : rp_buf_add(&href, u->path.ptr, u->path.len);
    if (!result && u->has_query) {
        result = rp_buf_addc(&href, '?');
        result = result ? result : rp_buf_add(&href, u->query.ptr, u->query.len);
    }
    if (!result && u->has_fragment) {
        result = rp_buf_addc(&href, '#');
        result = result ? result : rp_buf_add(&href, u->fragment.ptr, u->fragment.len);
    }
    if (result) {
        rp_buf_release(&href);
        return result;
    }
    memset(out, 0, sizeof(*out));
    out->href = rp_buf_detach(&href);
    out->scheme = rp_buf_detach(&u->scheme);
    out->username = rp_buf_detach(&u->username);
    out->password = rp_buf_detach(&u->password);
    out->host_type = u->host_type;
    out->host = u->host_type == RP_URL_HOST_NONE ? NULL : rp_buf_detach(&u->host);
    out->port = (int)u->port;
    out->path = rp_buf_detach(&u->path);
    out->opaque_path = u->opaque_path;
    out->query = u->has_query ? rp_buf_detach(&u->query) : NULL;
    out->fragment = u->has_fragment ? rp_buf_detach(&u->fragment) : NULL;
    out->special = u->special;
    if (!out->href || !out->scheme || !out->username || !out->password || !out->path ||
        (u->host_type != RP_URL_HOST_NONE && !out->host) || (u->has_query && !out->query) ||
        (u->has_fragment && !out->fragment)) {
        rp_url_release(out);
        return RP_ENOMEM;
    }
    return RP_OK;
}

/* Strips leading and trailing C0 controls and spaces, removes tabs and newlines, and turns
 * ill-formed UTF-8 into U+FFFD. */
static int preprocess(struct rp_str in, struct rp_buf *out)
{
    size_t start = 0, end = in.len;
    while (start < end && (unsigned char)in.ptr[start] <= 0x20)
        start++;
    while (end > start && (unsigned char)in.ptr[end - 1] <= 0x20)
        end--;
    /* The common case, a clean address, is copied once. */
    bool clean = true;
    for (size_t i = start; i < end && clean; i++)
        clean = in.ptr[i] != '\t' && in.ptr[i] != '\n' && in.ptr[i] != '\r' &&
                (unsigned char)in.ptr[i] < 0x80;
    if (clean)
        return rp_buf_add(out, in.ptr + start, end - start);
    struct rp_buf tmp;
    rp_buf_init(&tmp, end - start);
    int result = RP_OK;
    for (size_t i = start; i < end && !result; i++) {
        char c = in.ptr[i];
        if (c != '\t' && c != '\n' && c != '\r')
            result = rp_buf_addc(&tmp, c);
    }
    if (!result)
        result = rp_utf8_sanitize(rp_buf_str(&tmp), out);
    rp_buf_release(&tmp);
    return result;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        rp_error_set(err, __VA_ARGS__);                                                            \
        result = RP_EINVAL;                                                                        \
        goto out;                                                                                  \
    } while (0)
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        result = (expr);                                                                           \
        if (result)                                                                                \
            goto out;                                                                              \
    } while (0)

int rp_url_parse(struct rp_str input, const struct rp_url *base, struct rp_url *out,
                 struct rp_error *err)
{
    int result = RP_OK;
    struct build u;
    struct rp_buf in, buffer;
    memset(out, 0, sizeof(*out));
    memset(&u, 0, sizeof(u));
    if (input.len > RP_URL_MAX_INPUT) {
        rp_error_set(err, "the input is longer than %u bytes", RP_URL_MAX_INPUT);
        return RP_ETOOBIG;
    }
    /* Percent-encoding at most triples the input; the 3 bytes of U+FFFD likewise. */
    size_t cap = 9 * input.len + 64;
    rp_buf_init(&in, 3 * input.len + 8);
    rp_buf_init(&buffer, cap);
    struct rp_buf *bufs[] = {&u.scheme, &u.username, &u.password, &u.host,
                             &u.path,   &u.query,    &u.fragment};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        rp_buf_init(bufs[i], cap + (base ? strlen(base->href) : 0));
    u.port = -1;
    u.host_type = RP_URL_HOST_NONE;

    CHECK(preprocess(input, &in));
    const char *s = in.ptr ? in.ptr : "";
    const ptrdiff_t n = (ptrdiff_t)in.len;
    enum state state = S_SCHEME_START;
    bool at_sign_seen = false, inside_brackets = false, password_token_seen = false;
    int special_port = -1;

    for (ptrdiff_t p = 0;; p++) {
        const int c = p < n ? (unsigned char)s[p] : -1; /* -1 is the EOF code point */
        const char *rest = s + p + 1;                   /* "remaining" */
        const size_t rest_len = p + 1 < n ? (size_t)(n - p - 1) : 0;
        switch (state) {
        case S_SCHEME_START:
            if (is_alpha(c)) {
                CHECK(rp_buf_addc(&buffer, lower(c)));
                state = S_SCHEME;
            } else {
                state = S_NO_SCHEME;
                p--;
            }
            break;

        case S_SCHEME:
            if (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.') {
                CHECK(rp_buf_addc(&buffer, lower(c)));
            } else if (c == ':') {
                CHECK(rp_buf_add(&u.scheme, buffer.ptr, buffer.len));
                rp_buf_reset(&buffer);
                int si = special_index(rp_buf_str(&u.scheme));
                u.special = si >= 0;
                special_port = si >= 0 ? special_ports[si] : -1;
                if (rp_str_eq_cstr(rp_buf_str(&u.scheme), "file")) {
                    state = S_FILE;
                } else if (u.special && base && strcmp(base->scheme, u.scheme.ptr) == 0) {
                    state = S_SPECIAL_RELATIVE_OR_AUTHORITY;
                } else if (u.special) {
                    state = S_SPECIAL_AUTHORITY_SLASHES;
                } else if (rest_len > 0 && rest[0] == '/') {
                    state = S_PATH_OR_AUTHORITY;
                    p++;
                } else {
                    u.opaque_path = true;
                    state = S_OPAQUE_PATH;
                }
            } else {
                rp_buf_reset(&buffer);
                state = S_NO_SCHEME;
                p = -1;
            }
            break;

        case S_NO_SCHEME:
            if (!base || (base->opaque_path && c != '#'))
                FAIL("not an absolute URL (it needs a scheme such as 'https://')");
            if (base->opaque_path && c == '#') {
                CHECK(copy_str(&u.scheme, base->scheme));
                CHECK(copy_str(&u.path, base->path));
                u.opaque_path = true;
                CHECK(set_query(&u, base->query));
                u.has_fragment = true;
                state = S_FRAGMENT;
            } else {
                state = strcmp(base->scheme, "file") != 0 ? S_RELATIVE : S_FILE;
                p--;
            }
            break;

        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
            if (c == '/' && rest_len > 0 && rest[0] == '/') {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p++;
            } else {
                state = S_RELATIVE;
                p--;
            }
            break;

        case S_PATH_OR_AUTHORITY:
            if (c == '/') {
                state = S_AUTHORITY;
            } else {
                state = S_PATH;
                p--;
            }
            break;

        case S_RELATIVE: {
            CHECK(copy_str(&u.scheme, base->scheme));
            int si = special_index(rp_buf_str(&u.scheme));
            u.special = si >= 0;
            special_port = si >= 0 ? special_ports[si] : -1;
            if (c == '/' || (u.special && c == '\\')) {
                state = S_RELATIVE_SLASH;
            } else {
                CHECK(copy_authority(&u, base));
                CHECK(copy_str(&u.path, base->path));
                CHECK(set_query(&u, base->query));
                if (c == '?') {
                    CHECK(set_query(&u, ""));
                    state = S_QUERY;
                } else if (c == '#') {
                    u.has_fragment = true;
                    state = S_FRAGMENT;
                } else if (c != -1) {
                    CHECK(set_query(&u, NULL));
                    shorten_path(&u);
                    state = S_PATH;
                    p--;
                }
            }
            break;
        }

        case S_RELATIVE_SLASH:
            if (u.special && (c == '/' || c == '\\')) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
            } else if (c == '/') {
                state = S_AUTHORITY;
            } else {
                CHECK(copy_authority(&u, base));
                state = S_PATH;
                p--;
            }
            break;

        case S_SPECIAL_AUTHORITY_SLASHES:
            state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
            if (c == '/' && rest_len > 0 && rest[0] == '/')
                p++;
            else
                p--;
            break;

        case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
            if (c != '/' && c != '\\') {
                state = S_AUTHORITY;
                p--;
            }
            break;

        case S_AUTHORITY:
            if (c == '@') {
                if (at_sign_seen) {
                    struct rp_buf *dst = password_token_seen ? &u.password : &u.username;
                    CHECK(rp_buf_adds(dst, "%40"));
                }
                at_sign_seen = true;
                for (size_t i = 0; i < buffer.len; i++) {
                    if (buffer.ptr[i] == ':' && !password_token_seen) {
                        password_token_seen = true;
                        continue;
                    }
                    struct rp_buf *dst = password_token_seen ? &u.password : &u.username;
                    CHECK(rp__url_pct_encode(dst, buffer.ptr + i, 1, RP_PCT_USERINFO));
                }
                rp_buf_reset(&buffer);
            } else if (c == -1 || c == '/' || c == '?' || c == '#' || (u.special && c == '\\')) {
                if (at_sign_seen && buffer.len == 0)
                    FAIL("there is nothing between '@' and the end of the host");
                p -= (ptrdiff_t)buffer.len + 1;
                rp_buf_reset(&buffer);
                state = S_HOST;
            } else {
                CHECK(rp_buf_addc(&buffer, (char)c));
            }
            break;

        case S_HOST:
            if (c == ':' && !inside_brackets) {
                if (buffer.len == 0)
                    FAIL("the host is missing before ':'");
                CHECK(rp__url_host_parse(rp_buf_str(&buffer), !u.special, &u.host, &u.host_type,
                                         err));
                rp_buf_reset(&buffer);
                state = S_PORT;
            } else if (c == -1 || c == '/' || c == '?' || c == '#' || (u.special && c == '\\')) {
                p--;
                if (u.special && buffer.len == 0)
                    FAIL("the address has no host");
                if (buffer.len == 0) {
                    u.host_type = RP_URL_HOST_EMPTY;
                } else {
                    CHECK(rp__url_host_parse(rp_buf_str(&buffer), !u.special, &u.host, &u.host_type,
                                             err));
                }
                rp_buf_reset(&buffer);
                state = S_PATH_START;
            } else {
                if (c == '[')
                    inside_brackets = true;
                if (c == ']')
                    inside_brackets = false;
                CHECK(rp_buf_addc(&buffer, (char)c));
            }
            break;

        case S_PORT:
            if (is_digit(c)) {
                CHECK(rp_buf_addc(&buffer, (char)c));
            } else if (c == -1 || c == '/' || c == '?' || c == '#' || (u.special && c == '\\')) {
                if (buffer.len) {
                    long port = 0;
                    for (size_t i = 0; i < buffer.len && port <= 65535; i++)
                        port = port * 10 + (buffer.ptr[i] - '0');
                    if (port > 65535)
                        FAIL("the port is larger than 65535");
                    u.port = port == special_port ? -1 : port;
                    rp_buf_reset(&buffer);
                }
                state = S_PATH_START;
                p--;
            } else {
                FAIL("the port contains '%c', which is not a digit",
                     c >= 0x20 && c < 0x7f ? c : '?');
            }
            break;

        case S_FILE:
            rp_buf_reset(&u.scheme);
            CHECK(rp_buf_adds(&u.scheme, "file"));
            u.special = true;
            special_port = -1;
            rp_buf_reset(&u.host);
            u.host_type = RP_URL_HOST_EMPTY;
            if (c == '/' || c == '\\') {
                state = S_FILE_SLASH;
            } else if (base && strcmp(base->scheme, "file") == 0) {
                CHECK(copy_str(&u.host, base->host));
                u.host_type = base->host_type;
                CHECK(copy_str(&u.path, base->path));
                CHECK(set_query(&u, base->query));
                if (c == '?') {
                    CHECK(set_query(&u, ""));
                    state = S_QUERY;
                } else if (c == '#') {
                    u.has_fragment = true;
                    state = S_FRAGMENT;
                } else if (c != -1) {
                    CHECK(set_query(&u, NULL));
                    if (!starts_with_drive(s + p, (size_t)(n - p)))
                        shorten_path(&u);
                    else
                        rp_buf_reset(&u.path);
                    state = S_PATH;
                    p--;
                }
            } else {
                state = S_PATH;
                p--;
            }
            break;

        case S_FILE_SLASH:
            if (c == '/' || c == '\\') {
                state = S_FILE_HOST;
            } else {
                if (base && strcmp(base->scheme, "file") == 0) {
                    CHECK(copy_str(&u.host, base->host));
                    u.host_type = base->host_type;
                    struct rp_str first = first_segment(base->path, strlen(base->path));
                    if (!starts_with_drive(s + p, (size_t)(n - p)) &&
                        is_drive(first.ptr, first.len, true)) {
                        CHECK(rp_buf_addc(&u.path, '/'));
                        CHECK(rp_buf_add(&u.path, first.ptr, first.len));
                    }
                }
                state = S_PATH;
                p--;
            }
            break;

        case S_FILE_HOST:
            if (c == -1 || c == '/' || c == '\\' || c == '?' || c == '#') {
                p--;
                if (is_drive(buffer.ptr, buffer.len, false)) {
                    /* The drive-letter quirk: buffer is kept and becomes the first segment. */
                    state = S_PATH;
                } else if (buffer.len == 0) {
                    rp_buf_reset(&u.host);
                    u.host_type = RP_URL_HOST_EMPTY;
                    state = S_PATH_START;
                } else {
                    rp_buf_reset(&u.host);
                    CHECK(
                        rp__url_host_parse(rp_buf_str(&buffer), false, &u.host, &u.host_type, err));
                    if (rp_str_eq_cstr(rp_buf_str(&u.host), "localhost")) {
                        rp_buf_reset(&u.host);
                        u.host_type = RP_URL_HOST_EMPTY;
                    }
                    rp_buf_reset(&buffer);
                    state = S_PATH_START;
                }
            } else {
                CHECK(rp_buf_addc(&buffer, (char)c));
            }
            break;

        case S_PATH_START:
            if (u.special) {
                state = S_PATH;
                if (c != '/' && c != '\\')
                    p--;
            } else if (c == '?') {
                CHECK(set_query(&u, ""));
                state = S_QUERY;
            } else if (c == '#') {
                u.has_fragment = true;
                state = S_FRAGMENT;
            } else if (c != -1) {
                state = S_PATH;
                if (c != '/')
                    p--;
            }
            break;

        case S_PATH:
            if (c == -1 || c == '/' || (u.special && c == '\\') || c == '?' || c == '#') {
                bool slash = c == '/' || (u.special && c == '\\');
                struct rp_str seg = rp_buf_str(&buffer);
                if (is_double_dot(seg)) {
                    shorten_path(&u);
                    if (!slash)
                        CHECK(rp_buf_addc(&u.path, '/'));
                } else if (is_single_dot(seg) && !slash) {
                    CHECK(rp_buf_addc(&u.path, '/'));
                } else if (!is_single_dot(seg)) {
                    if (rp_str_eq_cstr(rp_buf_str(&u.scheme), "file") && u.path.len == 0 &&
                        is_drive(buffer.ptr, buffer.len, false))
                        buffer.ptr[1] = ':';
                    CHECK(rp_buf_addc(&u.path, '/'));
                    CHECK(rp_buf_add(&u.path, buffer.ptr, buffer.len));
                }
                rp_buf_reset(&buffer);
                if (c == '?') {
                    CHECK(set_query(&u, ""));
                    state = S_QUERY;
                } else if (c == '#') {
                    u.has_fragment = true;
                    state = S_FRAGMENT;
                }
            } else {
                char ch = (char)c;
                CHECK(rp__url_pct_encode(&buffer, &ch, 1, RP_PCT_PATH));
            }
            break;

        case S_OPAQUE_PATH:
            if (c == '?') {
                CHECK(set_query(&u, ""));
                state = S_QUERY;
            } else if (c == '#') {
                u.has_fragment = true;
                state = S_FRAGMENT;
            } else if (c == ' ' && rest_len > 0 && (rest[0] == '?' || rest[0] == '#')) {
                /* A space before the query or fragment would be lost as trailing space. */
                CHECK(rp_buf_adds(&u.path, "%20"));
            } else if (c != -1) {
                char ch = (char)c;
                CHECK(rp__url_pct_encode(&u.path, &ch, 1, RP_PCT_C0));
            }
            break;

        case S_QUERY:
            if (c == '#' || c == -1) {
                CHECK(rp__url_pct_encode(&u.query, buffer.ptr ? buffer.ptr : "", buffer.len,
                                         u.special ? RP_PCT_SPECIAL_QUERY : RP_PCT_QUERY));
                rp_buf_reset(&buffer);
                if (c == '#') {
                    u.has_fragment = true;
                    state = S_FRAGMENT;
                }
            } else {
                CHECK(rp_buf_addc(&buffer, (char)c));
            }
            break;

        case S_FRAGMENT:
            if (c != -1) {
                char ch = (char)c;
                CHECK(rp__url_pct_encode(&u.fragment, &ch, 1, RP_PCT_FRAGMENT));
            }
            break;
        }
        if (p >= n)
            break;
    }
    result = finish(&u, out);
out:
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        rp_buf_release(bufs[i]);
    rp_buf_release(&in);
    rp_buf_release(&buffer);
    if (result == RP_ETOOBIG)
        rp_error_set(err, "the address is too long");
    else if (result == RP_ENOMEM)
        rp_error_set(err, "out of memory");
    return result;
}

void rp_url_release(struct rp_url *u)
{
    if (!u)
        return;
    free(u->href);
    free(u->scheme);
    free(u->username);
    free(u->password);
    free(u->host);
    free(u->path);
    free(u->query);
    free(u->fragment);
    memset(u, 0, sizeof(*u));
}
