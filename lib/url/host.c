/* The URL standard's host parser: IPv6 and IPv4 (with the browser's hex and octal forms),
 * opaque hosts, and domains through IDNA UTS #46 (ICU, the implementation Chromium uses). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicode/uidna.h>

#include "internal.h"

static bool is_forbidden_host(unsigned char c)
{
    switch (c) {
    case 0x00:
    case 0x09:
    case 0x0a:
    case 0x0d:
    case ' ':
    case '#':
    case '/':
    case ':':
    case '<':
    case '>':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '^':
    case '|': return true;
    default: return false;
    }
}

static bool is_forbidden_domain(unsigned char c)
{
    return is_forbidden_host(c) || c <= 0x1f || c == '%' || c == 0x7f;
}

/* ---- IPv6 ---- */

static int ipv6_parse(struct rp_str in, uint16_t address[8], struct rp_error *err)
{
    const unsigned char *s = (const unsigned char *)in.ptr;
    size_t n = in.len, p = 0;
    int piece = 0, compress = -1;
#define C (p < n ? s[p] : 0)
#define AT_EOF (p >= n)
    memset(address, 0, 8 * sizeof(uint16_t));
    if (!AT_EOF && C == ':') {
        if (p + 1 >= n || s[p + 1] != ':')
            goto bad;
        p += 2;
        piece++;
        compress = piece;
    }
    while (!AT_EOF) {
        if (piece == 8)
            goto bad;
        if (C == ':') {
            if (compress >= 0)
                goto bad;
            p++;
            piece++;
            compress = piece;
            continue;
        }
        unsigned value = 0, length = 0;
        while (length < 4 && !AT_EOF && rp_hex_value((unsigned char)C) >= 0) {
            value = value * 16 + (unsigned)rp_hex_value((unsigned char)C);
            p++;
            length++;
        }
        if (!AT_EOF && C == '.') {
            if (length == 0)
                goto bad;
            p -= length;
            if (piece > 6)
                goto bad;
            int seen = 0;
            while (!AT_EOF) {
                int v4 = -1;
                if (seen > 0) {
                    if (C == '.' && seen < 4)
                        p++;
                    else
                        goto bad;
                }
                if (AT_EOF || C < '0' || C > '9')
                    goto bad;
                while (!AT_EOF && C >= '0' && C <= '9') {
                    int d = C - '0';
                    if (v4 < 0)
                        v4 = d;
                    else if (v4 == 0)
                        goto bad;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255)
                        goto bad;
                    p++;
                }
                address[piece] = (uint16_t)(address[piece] * 0x100 + v4);
                seen++;
                if (seen == 2 || seen == 4)
                    piece++;
            }
            if (seen != 4)
                goto bad;
            break;
        } else if (!AT_EOF && C == ':') {
            p++;
            if (AT_EOF)
                goto bad;
        } else if (!AT_EOF) {
            goto bad;
        }
        address[piece] = (uint16_t)value;
        piece++;
    }
    if (compress >= 0) {
        int swaps = piece - compress;
        piece = 7;
        while (piece != 0 && swaps > 0) {
            uint16_t t = address[piece];
            address[piece] = address[compress + swaps - 1];
            address[compress + swaps - 1] = t;
            piece--;
            swaps--;
        }
    } else if (piece != 8) {
        goto bad;
    }
    return RP_OK;
bad:
    rp_error_set(err, "invalid IPv6 address '%.*s'", (int)(in.len > 64 ? 64 : in.len), in.ptr);
    return RP_EINVAL;
#undef C
#undef AT_EOF
}

static int ipv6_serialize(const uint16_t a[8], struct rp_buf *out)
{
    /* Compress the first longest run of two or more zero pieces. */
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        if (a[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && a[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    int result = rp_buf_addc(out, '[');
    bool ignore0 = false;
    for (int i = 0; i < 8 && !result; i++) {
        if (ignore0 && a[i] == 0)
            continue;
        ignore0 = false;
        if (best == i) {
            result = rp_buf_adds(out, i == 0 ? "::" : ":");
            ignore0 = true;
            continue;
        }
        result = rp_buf_addf(out, "%x", a[i]);
        if (!result && i != 7)
            result = rp_buf_addc(out, ':');
    }
    return result ? result : rp_buf_addc(out, ']');
}

/* ---- IPv4 ---- */

/* Parses one dotted part: decimal, 0x hex or 0 octal. Values saturate above 2^32, which the
 * callers' range checks turn into failures. Returns false when not a number. */
static bool ipv4_number(struct rp_str part, uint64_t *out)
{
    const char *s = part.ptr;
    size_t n = part.len;
    unsigned radix = 10;
    if (n == 0)
        return false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
        radix = 16;
    } else if (n >= 2 && s[0] == '0') {
        s++;
        n--;
        radix = 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = rp_hex_value((unsigned char)s[i]);
        if (d < 0 || (unsigned)d >= radix)
            return false;
        if (v <= (1ULL << 40))
            v = v * radix + (unsigned)d;
    }
    *out = v;
    return true;
}

/* Splits s on '.', dropping one trailing empty part when there is more than one part. */
static size_t split_dots(struct rp_str s, struct rp_str *parts, size_t max, bool *too_many)
{
    size_t count = 0;
    size_t start = 0;
    *too_many = false;
    for (size_t i = 0; i <= s.len; i++) {
        if (i == s.len || s.ptr[i] == '.') {
            if (count == max) {
                *too_many = true;
                return count;
            }
            parts[count++] = (struct rp_str){s.ptr + start, i - start};
            start = i + 1;
        }
    }
    if (count > 1 && parts[count - 1].len == 0)
        count--;
    return count;
}

static bool ends_in_number(struct rp_str s)
{
    size_t end = s.len;
    if (end > 0 && s.ptr[end - 1] == '.') {
        end--;
        if (end == 0)
            return false;
    }
    size_t start = end;
    while (start > 0 && s.ptr[start - 1] != '.')
        start--;
    struct rp_str last = {s.ptr + start, end - start};
    if (last.len == 0)
        return false;
    bool digits = true;
    for (size_t i = 0; i < last.len; i++)
        if (last.ptr[i] < '0' || last.ptr[i] > '9')
            digits = false;
    uint64_t v;
    return digits || ipv4_number(last, &v);
}

static int ipv4_parse(struct rp_str s, struct rp_buf *out, struct rp_error *err)
{
    struct rp_str parts[5];
    bool too_many;
    size_t n = split_dots(s, parts, 5, &too_many);
    uint64_t num[4];
    if (too_many || n > 4)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        if (!ipv4_number(parts[i], &num[i]))
            goto bad;
        if (i + 1 < n && num[i] > 255)
            goto bad;
    }
    if (num[n - 1] >= (1ULL << (8 * (5 - n))))
        goto bad;
    uint64_t ip = num[n - 1];
    for (size_t i = 0; i + 1 < n; i++)
        ip += num[i] << (8 * (3 - i));
    return rp_buf_addf(out, "%u.%u.%u.%u", (unsigned)(ip >> 24) & 255, (unsigned)(ip >> 16) & 255,
                       (unsigned)(ip >> 8) & 255, (unsigned)ip & 255);
bad:
    rp_error_set(err, "'%.*s' looks like an IPv4 address but is not a valid one",
                 (int)(s.len > 64 ? 64 : s.len), s.ptr);
    return RP_EINVAL;
}

/* ---- IDNA ---- */

static UIDNA *idna;
static pthread_once_t idna_once = PTHREAD_ONCE_INIT;

static void idna_init(void)
{
    UErrorCode status = U_ZERO_ERROR;
    /* The URL standard's options: CheckBidi, CheckJoiners, nontransitional; not STD3. */
    idna = uidna_openUTS46(UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                               UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE,
                           &status);
    if (U_FAILURE(status))
        idna = NULL;
}

/* Errors the URL standard does not check: CheckHyphens and VerifyDnsLength are false. */
#define IGNORED_IDNA_ERRORS                                                                        \
    (UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG | UIDNA_ERROR_DOMAIN_NAME_TOO_LONG |     \
     UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4)

typedef int32_t (*idna_fn)(const UIDNA *, const char *, int32_t, char *, int32_t, UIDNAInfo *,
                           UErrorCode *);

/* Runs an ICU UTF-8 IDNA conversion into out; *errors receives the UTS #46 error bits. */
static int idna_run(idna_fn fn, struct rp_str in, struct rp_buf *out, uint32_t *errors)
{
    pthread_once(&idna_once, idna_init);
    if (!idna)
        return RP_ENOMEM;
    if (in.len > INT32_MAX / 4)
        return RP_ETOOBIG;
    int32_t cap = (int32_t)in.len * 4 + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *dst = malloc((size_t)cap);
        if (!dst)
            return RP_ENOMEM;
        UIDNAInfo info = UIDNA_INFO_INITIALIZER;
        UErrorCode status = U_ZERO_ERROR;
        int32_t n = fn(idna, in.ptr, (int32_t)in.len, dst, cap, &info, &status);
        if (status == U_BUFFER_OVERFLOW_ERROR) {
            free(dst);
            cap = n + 1;
            continue;
        }
        int result = U_FAILURE(status) ? RP_EINVAL : rp_buf_add(out, dst, (size_t)n);
        free(dst);
        *errors = info.errors;
        return result;
    }
    return RP_EINVAL;
}

/* "domain to ASCII" with beStrict false. */
static int domain_to_ascii(struct rp_str domain, struct rp_buf *out, struct rp_error *err)
{
    bool ascii = true;
    for (size_t i = 0; i < domain.len; i++)
        if ((unsigned char)domain.ptr[i] >= 0x80)
            ascii = false;
    size_t start = out->len;
    int result;
    if (ascii) {
        /* An ASCII domain is only lowercased: browsers keep even invalid "xn--" labels of an
         * ASCII host as they are (wpt toascii.json "Invalid Punycode"). */
        for (size_t i = 0; i < domain.len; i++) {
            char c = domain.ptr[i];
            result = rp_buf_addc(out, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
            if (result)
                return result;
        }
    } else {
        uint32_t errors = 0;
        if (!rp_utf8_valid(domain.ptr, domain.len)) {
            rp_error_set(err, "the host is not valid UTF-8 once percent-decoded");
            return RP_EINVAL;
        }
        result = idna_run(uidna_nameToASCII_UTF8, domain, out, &errors);
        if (result == RP_EINVAL || (errors & ~(uint32_t)IGNORED_IDNA_ERRORS)) {
            rp_error_set(err, "the host '%.*s' is not a valid internationalised domain name",
                         (int)(domain.len > 64 ? 64 : domain.len), domain.ptr);
            return RP_EINVAL;
        }
        if (result)
            return result;
    }
    if (out->len == start) {
        rp_error_set(err, "the host is empty");
        return RP_EINVAL;
    }
    for (size_t i = start; i < out->len; i++) {
        if (is_forbidden_domain((unsigned char)out->ptr[i])) {
            rp_error_set(err, "the host contains the forbidden character '%c'",
                         out->ptr[i] >= 0x20 && out->ptr[i] < 0x7f ? out->ptr[i] : '?');
            return RP_EINVAL;
        }
    }
    return RP_OK;
}

static void percent_decode(struct rp_str in, struct rp_buf *out, int *result)
{
    for (size_t i = 0; i < in.len && !*result; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (c == '%' && i + 2 < in.len && rp_hex_value((unsigned char)in.ptr[i + 1]) >= 0 &&
            rp_hex_value((unsigned char)in.ptr[i + 2]) >= 0) {
            c = (unsigned char)(rp_hex_value((unsigned char)in.ptr[i + 1]) * 16 +
                                rp_hex_value((unsigned char)in.ptr[i + 2]));
            i += 2;
        }
        *result = rp_buf_addc(out, (char)c);
    }
}

int rp__url_host_parse(struct rp_str in, bool is_opaque, struct rp_buf *out,
                       enum rp_url_host_type *type, struct rp_error *err)
{
    int result = RP_OK;
    if (in.len > 0 && in.ptr[0] == '[') {
        if (in.ptr[in.len - 1] != ']' || in.len < 2) {
            rp_error_set(err, "an IPv6 address must end with ']'");
            return RP_EINVAL;
        }
        uint16_t a[8];
        result = ipv6_parse((struct rp_str){in.ptr + 1, in.len - 2}, a, err);
        if (!result)
            result = ipv6_serialize(a, out);
        *type = RP_URL_HOST_IPV6;
        return result;
    }
    if (is_opaque) {
        for (size_t i = 0; i < in.len; i++) {
            if (is_forbidden_host((unsigned char)in.ptr[i])) {
                rp_error_set(err, "the host contains the forbidden character '%c'",
                             in.ptr[i] >= 0x20 && in.ptr[i] < 0x7f ? in.ptr[i] : '?');
                return RP_EINVAL;
            }
        }
        *type = in.len ? RP_URL_HOST_OPAQUE : RP_URL_HOST_EMPTY;
        return rp__url_pct_encode(out, in.ptr, in.len, RP_PCT_C0);
    }
    struct rp_buf decoded, ascii;
    rp_buf_init(&decoded, in.len + 1);
    rp_buf_init(&ascii, 4 * in.len + 64);
    percent_decode(in, &decoded, &result);
    if (result)
        goto out;
    result = domain_to_ascii(rp_buf_str(&decoded), &ascii, err);
    if (result)
        goto out;
    if (ends_in_number(rp_buf_str(&ascii))) {
        *type = RP_URL_HOST_IPV4;
        result = ipv4_parse(rp_buf_str(&ascii), out, err);
    } else {
        *type = RP_URL_HOST_DOMAIN;
        result = rp_buf_add(out, ascii.ptr, ascii.len);
    }
out:
    rp_buf_release(&decoded);
    rp_buf_release(&ascii);
    return result;
}

int rp_url_host_to_ascii(struct rp_str host, char **out, struct rp_error *err)
{
    struct rp_buf b;
    enum rp_url_host_type type;
    rp_buf_init(&b, 4 * host.len + 64);
    if (host.len == 0) {
        rp_error_set(err, "the host is empty");
        return RP_EINVAL;
    }
    int result = rp__url_host_parse(host, false, &b, &type, err);
    if (result) {
        rp_buf_release(&b);
        return result;
    }
    *out = rp_buf_detach(&b);
    return *out ? RP_OK : RP_ENOMEM;
}

int rp_url_host_to_unicode(const char *ascii_host, char **out)
{
    /* Label by label, so that one undecodable label does not hide the others. */
    size_t len = strlen(ascii_host);
    struct rp_buf b;
    rp_buf_init(&b, 4 * len + 64);
    int result = RP_OK;
    const char *p = ascii_host, *end = ascii_host + len;
    while (!result) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *label_end = dot ? dot : end;
        struct rp_str label = {p, (size_t)(label_end - p)};
        size_t mark = b.len;
        uint32_t errors = 0;
        if (label.len >= 4 && strncasecmp(label.ptr, "xn--", 4) == 0) {
            result = idna_run(uidna_labelToUnicodeUTF8, label, &b, &errors);
            if (result == RP_EINVAL || errors) {
                rp_buf_truncate(&b, mark);
                result = rp_buf_add(&b, label.ptr, label.len);
            }
        } else {
            result = rp_buf_add(&b, label.ptr, label.len);
        }
        if (!dot)
            break;
        if (!result)
            result = rp_buf_addc(&b, '.');
        p = dot + 1;
    }
    if (result) {
        rp_buf_release(&b);
        return result;
    }
    *out = rp_buf_detach(&b);
    return *out ? RP_OK : RP_ENOMEM;
}
