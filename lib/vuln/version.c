/* Versions compared as each ecosystem orders them: PEP 440 (PyPI), SemVer (npm, crates.io, Go)
 * and dpkg (Debian), with a generic order for the rest. Both strings are parsed in place on each
 * call: nothing is allocated, and runs of digits of any length compare as numbers without ever
 * being converted to one. */
#include <string.h>

#include "rampart/vuln.h"

/* ---- shared pieces ---------------------------------------------------------------------- */

static inline bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline bool is_alpha(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26u;
}

static inline unsigned char to_lower(unsigned char c)
{
    return (unsigned)(c - 'A') < 26u ? (unsigned char)(c | 0x20) : c;
}

static inline int sign(int c)
{
    return (c > 0) - (c < 0);
}

/* The bytes of s; never NULL, so that pointer arithmetic on an empty slice is defined. */
static inline const unsigned char *bytes_of(struct rp_str s)
{
    return s.len ? (const unsigned char *)s.ptr : (const unsigned char *)"";
}

static const unsigned char *skip_digits(const unsigned char *p, const unsigned char *e)
{
    while (p < e && is_digit(*p))
        p++;
    return p;
}

/* Compares two runs of decimal digits as the numbers they write, whatever their length: leading
 * zeros are dropped, then the longer run is the larger number, then the first differing digit
 * decides. An empty run is 0. */
static int num_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    while (an && *a == '0')
        a++, an--;
    while (bn && *b == '0')
        b++, bn--;
    if (an != bn)
        return an < bn ? -1 : 1;
    /* Version numbers are short: a loop beats a call to memcmp(). */
    for (size_t i = 0; i < an; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* A piece of a version: a slice into the caller's string. */
struct span {
    const unsigned char *p;
    size_t n;
};

static inline struct span span_of(const unsigned char *from, const unsigned char *to)
{
    return (struct span){from, (size_t)(to - from)};
}

static inline int span_num_cmp(struct span a, struct span b)
{
    return num_cmp(a.p, a.n, b.p, b.n);
}

/* White space that the peers strip from both ends of a version: Python's str.isspace() (what
 * the `\s` of packaging's pattern matches) or JavaScript's String.prototype.trim(). Both are
 * ASCII controls and space plus a few Unicode spaces, here as their UTF-8 bytes. */
enum space_kind { SPACE_PYTHON, SPACE_JS };

/* Length of the white space character that starts at p (n > 0 bytes available), or 0. */
static size_t space_at(const unsigned char *p, size_t n, enum space_kind k)
{
    unsigned char c = p[0];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    if (c < 0x80)
        return k == SPACE_PYTHON && c >= 0x1c && c <= 0x1f;
    if (n >= 2 && c == 0xc2)
        return (p[1] == 0xa0 || (p[1] == 0x85 && k == SPACE_PYTHON)) ? 2 : 0;
    if (n < 3)
        return 0;
    if (c == 0xe1)
        return p[1] == 0x9a && p[2] == 0x80 ? 3 : 0;
    if (c == 0xe2 && p[1] == 0x80)
        return ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf) ? 3
                                                                                                : 0;
    if (c == 0xe2 && p[1] == 0x81)
        return p[2] == 0x9f ? 3 : 0;
    if (c == 0xe3)
        return p[1] == 0x80 && p[2] == 0x80 ? 3 : 0;
    if (c == 0xef && k == SPACE_JS) /* U+FEFF, which trim() removes as well */
        return p[1] == 0xbb && p[2] == 0xbf ? 3 : 0;
    return 0;
}

/* Narrows [*p, *e) to leave out white space at both ends. */
static void trim_space(const unsigned char **p, const unsigned char **e, enum space_kind k)
{
    const unsigned char *s = *p, *t = *e;
    size_t n;
    while (s < t && (n = space_at(s, (size_t)(t - s), k)))
        s += n;
    while (s < t) {
        if (space_at(t - 1, 1, k) == 1)
            t--;
        else if (t - s >= 2 && t[-2] >= 0x80 && space_at(t - 2, 2, k) == 2)
            t -= 2;
        else if (t - s >= 3 && t[-3] >= 0x80 && space_at(t - 3, 3, k) == 3)
            t -= 3;
        else
            break;
    }
    *p = s;
    *e = t;
}

/* ---- ecosystems ------------------------------------------------------------------------- */

static const char *const eco_names[RP_ECO_COUNT] = {
    [RP_ECO_OTHER] = "other",     [RP_ECO_PYPI] = "PyPI",        [RP_ECO_GO] = "Go",
    [RP_ECO_NPM] = "npm",         [RP_ECO_CRATES] = "crates.io", [RP_ECO_DEBIAN] = "Debian",
    [RP_ECO_OPENWRT] = "OpenWrt",
};

enum rp_eco rp_eco_from_osv(struct rp_str name)
{
    /* "Debian:12": the release after the colon does not change how versions sort. */
    const char *colon = name.len ? memchr(name.ptr, ':', name.len) : NULL;
    if (colon) {
        struct rp_str base = {name.ptr, (size_t)(colon - name.ptr)};
        return rp_str_eq_cstr(base, "Debian")    ? RP_ECO_DEBIAN
               : rp_str_eq_cstr(base, "OpenWrt") ? RP_ECO_OPENWRT
                                                 : RP_ECO_OTHER;
    }
    for (int e = RP_ECO_OTHER + 1; e < RP_ECO_COUNT; e++)
        if (rp_str_eq_cstr(name, eco_names[e]))
            return (enum rp_eco)e;
    return RP_ECO_OTHER;
}

const char *rp_eco_name(enum rp_eco eco)
{
    return (unsigned)eco < RP_ECO_COUNT ? eco_names[eco] : "unknown";
}

/* ---- PyPI: PEP 440, as packaging.version.Version reads and orders it ------------------------
 *
 * packaging matches one regular expression, case-insensitively, with optional white space at
 * both ends:
 *   v? (N!)? N(.N)* ([-_.]? (a|b|c|rc|alpha|beta|pre|preview) [-_.]? N?)?
 *   (-N | [-_.]? (post|rev|r) [-_.]? N?)? ([-_.]? dev [-_.]? N?)? (+L([-_.]L)*)?
 * Reading it left to right and taking each optional part and separator as soon as it fits
 * accepts exactly the strings the backtracking regex accepts, with the same groups: every
 * following part has an optional separator of its own, so taking one early never loses a
 * match. Python's case-insensitive matching also lets U+0130 and U+0131 stand for 'i' and
 * U+017F for 's' (and U+212A KELVIN SIGN for 'k' in a local label), and packaging keeps the
 * letters they make: "1.0prevıew" is a pre-release "prevıew" that sorts between b and rc. */

enum pre_kind { PRE_A, PRE_B, PRE_PREVIEW_DOT, PRE_PREVIEW_DOTLESS, PRE_RC };
enum post_kind { POST_NONE = -1, POST_POST, POST_LONG_S };

struct pep440 {
    struct span epoch, release, pre_n, post_n, dev_n, local;
    signed char pre;  /* enum pre_kind, or -1 */
    signed char post; /* enum post_kind */
    bool dev, has_local;
};

static inline bool is_sep(unsigned char c)
{
    return c == '-' || c == '_' || c == '.';
}

/* The end of the ASCII keyword kw (lowercase) at p, matched case-insensitively, or NULL. */
static const unsigned char *keyword(const unsigned char *p, const unsigned char *e, const char *kw)
{
    for (; *kw; kw++, p++)
        if (p == e || to_lower(*p) != (unsigned char)*kw)
            return NULL;
    return p;
}

/* Length of a character Python lets stand for ASCII letter c under IGNORECASE: the letter in
 * either case (variant 0), or U+0130 (variant 1) or U+0131 (variant 2) for 'i', U+017F for 's'
 * (variant 1). 0 when none is at p. */
static size_t folded_letter(const unsigned char *p, const unsigned char *e, char c, int *variant)
{
    *variant = 0;
    if (p == e)
        return 0;
    if (to_lower(*p) == (unsigned char)c)
        return 1;
    if (e - p < 2)
        return 0;
    if (c == 'i' && p[0] == 0xc4 && (p[1] == 0xb0 || p[1] == 0xb1)) {
        *variant = p[1] == 0xb0 ? 1 : 2;
        return 2;
    }
    if (c == 's' && p[0] == 0xc5 && p[1] == 0xbf) {
        *variant = 1;
        return 2;
    }
    return 0;
}

/* A pre-release label at p: its end and kind, or NULL. The longest spelling is tried first;
 * a shorter one that is the start of a longer one ("a" of "alpha") could never be followed by
 * the rest of the longer one, so the regex's order of alternatives changes nothing. */
static const unsigned char *pre_label(const unsigned char *p, const unsigned char *e, int *kind)
{
    const unsigned char *q;
    if (p == e)
        return NULL;
    switch (to_lower(*p)) {
    case 'a': *kind = PRE_A; return (q = keyword(p, e, "alpha")) ? q : p + 1;
    case 'b': *kind = PRE_B; return (q = keyword(p, e, "beta")) ? q : p + 1;
    case 'c': *kind = PRE_RC; return p + 1;
    case 'r': *kind = PRE_RC; return keyword(p, e, "rc");
    case 'p': {
        *kind = PRE_RC;
        if (!(p = keyword(p, e, "pre")))
            return NULL;
        int variant;
        const unsigned char *v = keyword(p, e, "v");
        size_t n = v ? folded_letter(v, e, 'i', &variant) : 0;
        if (n && (q = keyword(v + n, e, "ew"))) {
            *kind = variant == 0 ? PRE_RC : variant == 1 ? PRE_PREVIEW_DOT : PRE_PREVIEW_DOTLESS;
            return q;
        }
        return p;
    }
    default: return NULL;
    }
}

/* A post-release label (post, rev, r) at p: its end and kind, or NULL. */
static const unsigned char *post_label(const unsigned char *p, const unsigned char *e, int *kind)
{
    const unsigned char *q;
    *kind = POST_POST;
    if (p == e)
        return NULL;
    if (to_lower(*p) == 'r')
        return (q = keyword(p, e, "rev")) ? q : p + 1;
    int variant;
    size_t n;
    if ((q = keyword(p, e, "po")) && (n = folded_letter(q, e, 's', &variant)) &&
        (q = keyword(q + n, e, "t"))) {
        *kind = variant ? POST_LONG_S : POST_POST;
        return q;
    }
    return NULL;
}

/* After a label: an optional separator, then the label's number (empty when absent). */
static const unsigned char *label_number(const unsigned char *p, const unsigned char *e,
                                         struct span *n)
{
    if (p < e && is_sep(*p))
        p++;
    const unsigned char *q = skip_digits(p, e);
    *n = span_of(p, q);
    return q;
}

/* Length of one character of a local label at p: an ASCII letter or digit, or one of the four
 * non-ASCII letters Python's IGNORECASE lets [a-z] match. 0 for anything else. */
static size_t local_char(const unsigned char *p, const unsigned char *e)
{
    if (is_digit(*p) || is_alpha(*p))
        return 1;
    if (e - p >= 2 &&
        ((p[0] == 0xc4 && (p[1] == 0xb0 || p[1] == 0xb1)) || (p[0] == 0xc5 && p[1] == 0xbf)))
        return 2;
    if (e - p >= 3 && p[0] == 0xe2 && p[1] == 0x84 && p[2] == 0xaa)
        return 3;
    return 0;
}

static int pep440_parse(struct rp_str s, struct pep440 *v)
{
    const unsigned char *p = bytes_of(s), *e = p + s.len, *q;
    if (!s.len)
        return RP_EINVAL;
    trim_space(&p, &e, SPACE_PYTHON);
    memset(v, 0, sizeof(*v));
    v->pre = -1;
    v->post = POST_NONE;
    if (p < e && (*p == 'v' || *p == 'V'))
        p++;
    q = skip_digits(p, e);
    if (q == p)
        return RP_EINVAL;
    if (q < e && *q == '!') {
        v->epoch = span_of(p, q);
        p = q + 1;
        q = skip_digits(p, e);
        if (q == p)
            return RP_EINVAL;
    }
    const unsigned char *release = p;
    p = q;
    while (e - p >= 2 && *p == '.' && is_digit(p[1]))
        p = skip_digits(p + 1, e);
    v->release = span_of(release, p);

    int kind;
    q = p < e && is_sep(*p) ? p + 1 : p;
    if ((q = pre_label(q, e, &kind))) {
        v->pre = (signed char)kind;
        p = label_number(q, e, &v->pre_n);
    }

    if (e - p >= 2 && *p == '-' && is_digit(p[1])) { /* 1.0-1: an implicit post-release */
        q = skip_digits(p + 1, e);
        v->post = POST_POST;
        v->post_n = span_of(p + 1, q);
        p = q;
    } else {
        q = p < e && is_sep(*p) ? p + 1 : p;
        if ((q = post_label(q, e, &kind))) {
            v->post = (signed char)kind;
            p = label_number(q, e, &v->post_n);
        }
    }

    q = p < e && is_sep(*p) ? p + 1 : p;
    if ((q = keyword(q, e, "dev"))) {
        v->dev = true;
        p = label_number(q, e, &v->dev_n);
    }

    if (p < e && *p == '+') {
        const unsigned char *local = ++p;
        for (;;) {
            const unsigned char *label = p;
            size_t n;
            while (p < e && (n = local_char(p, e)))
                p += n;
            if (p == label)
                return RP_EINVAL;
            if (p == e || !is_sep(*p))
                break;
            p++;
        }
        v->local = span_of(local, p);
        v->has_local = true;
    }
    return p == e ? RP_OK : RP_EINVAL;
}

/* Release segments compare as numbers, the shorter padded with zeros (1.0 == 1.0.0). */
static int release_cmp(struct span a, struct span b)
{
    const unsigned char *p = a.p, *pe = p + a.n, *q = b.p, *qe = q + b.n;
    while (p < pe || q < qe) {
        const unsigned char *ps = p, *qs = q;
        p = skip_digits(p, pe);
        q = skip_digits(q, qe);
        int c = num_cmp(ps, (size_t)(p - ps), qs, (size_t)(q - qs));
        if (c)
            return c;
        p += p < pe; /* the '.' */
        q += q < qe;
    }
    return 0;
}

/* Reads a local label lowercased as Python's str.lower() does, one UTF-8 byte at a time: the
 * bytes of lowered text compare as its code points do. */
struct lowered {
    const unsigned char *p, *e;
    const char *pending;
};

static int lowered_next(struct lowered *l)
{
    if (l->pending && *l->pending)
        return (unsigned char)*l->pending++;
    if (l->p == l->e)
        return -1;
    unsigned char c = *l->p;
    if (c < 0x80) {
        l->p++;
        return to_lower(c);
    }
    if (c == 0xe2) { /* U+212A KELVIN SIGN lowers to 'k' */
        l->p += 3;
        return 'k';
    }
    if (c == 0xc4 && l->p[1] == 0xb0) { /* U+0130 lowers to "i\u0307" */
        l->p += 2;
        l->pending = "\xcc\x87";
        return 'i';
    }
    l->p++; /* U+0131 and U+017F are lowercase already */
    return c;
}

static int local_label_cmp(struct span a, struct span b)
{
    bool anum = skip_digits(a.p, a.p + a.n) == a.p + a.n;
    bool bnum = skip_digits(b.p, b.p + b.n) == b.p + b.n;
    if (anum && bnum)
        return span_num_cmp(a, b);
    if (anum != bnum) /* a number sorts after a word */
        return anum ? 1 : -1;
    struct lowered x = {a.p, a.p + a.n, NULL}, y = {b.p, b.p + b.n, NULL};
    for (;;) {
        int c = lowered_next(&x), d = lowered_next(&y);
        if (c != d)
            return c < d ? -1 : 1;
        if (c < 0)
            return 0;
    }
}

/* Local versions compare label by label (any of - _ . separates them); more labels win a tie. */
static int local_cmp(struct span a, struct span b)
{
    const unsigned char *p = a.p, *pe = p + a.n, *q = b.p, *qe = q + b.n;
    for (;;) {
        const unsigned char *ps = p, *qs = q;
        while (p < pe && !is_sep(*p))
            p++;
        while (q < qe && !is_sep(*q))
            q++;
        int c = local_label_cmp(span_of(ps, p), span_of(qs, q));
        if (c)
            return c;
        if (p == pe || q == qe)
            return (p < pe) - (q < qe);
        p++;
        q++;
    }
}

/* Where the pre-release part sorts: 1.0.dev0 (no pre- or post-release, a dev release) before
 * every pre-release, a version without one after them all. */
static int pre_class(const struct pep440 *v)
{
    if (v->pre >= 0)
        return 1;
    return v->post == POST_NONE && v->dev ? 0 : 2;
}

static int pep440_cmp(const struct pep440 *a, const struct pep440 *b)
{
    int c;
    if ((c = span_num_cmp(a->epoch, b->epoch)) || (c = release_cmp(a->release, b->release)))
        return c;
    int ka = pre_class(a), kb = pre_class(b);
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (ka == 1) {
        if (a->pre != b->pre)
            return a->pre < b->pre ? -1 : 1;
        if ((c = span_num_cmp(a->pre_n, b->pre_n)))
            return c;
    }
    if (a->post != b->post)
        return a->post < b->post ? -1 : 1;
    if (a->post != POST_NONE && (c = span_num_cmp(a->post_n, b->post_n)))
        return c;
    if (a->dev != b->dev)
        return a->dev ? -1 : 1;
    if (a->dev && (c = span_num_cmp(a->dev_n, b->dev_n)))
        return c;
    if (a->has_local != b->has_local)
        return a->has_local ? 1 : -1;
    return a->has_local ? local_cmp(a->local, b->local) : 0;
}

/* ---- SemVer: npm's semver.compare (npm, crates.io) and Go's x/mod/semver -------------------
 *
 * MAJOR.MINOR.PATCH without leading zeros, then -PRERELEASE and +BUILD, each dot-separated
 * identifiers of [0-9A-Za-z-], never empty; a numeric prerelease identifier has no leading zero.
 * npm: a leading "v", white space trimmed (String.prototype.trim), at most 256 UTF-16 units
 * before trimming, and MAJOR, MINOR and PATCH at most 2^53 - 1. Go: the "v" Go writes is
 * optional (OSV's Go records leave it out), no white space, numbers of any size, and "v1" and
 * "v1.2" stand for v1.0.0 and v1.2.0 as in Go. Build metadata ("+incompatible") never counts. */

struct semver {
    struct span major, minor, patch, pre;
};

/* A number without leading zeros at *p. */
static bool sv_number(const unsigned char **p, const unsigned char *e, struct span *out)
{
    const unsigned char *q = skip_digits(*p, e);
    if (q == *p || (q - *p > 1 && **p == '0'))
        return false;
    *out = span_of(*p, q);
    *p = q;
    return true;
}

static inline bool sv_ident_char(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '-';
}

/* Dot-separated identifiers at *p, up to the first byte that cannot be in one. Numeric ones must
 * not have a leading zero when numeric_rule is set (prerelease, not build). */
static bool sv_idents(const unsigned char **p, const unsigned char *e, bool numeric_rule)
{
    const unsigned char *q = *p;
    for (;;) {
        const unsigned char *start = q;
        bool digits_only = true;
        while (q < e && sv_ident_char(*q))
            digits_only &= is_digit(*q++);
        if (q == start || (numeric_rule && digits_only && q - start > 1 && *start == '0'))
            return false;
        if (q == e || *q != '.')
            break;
        q++;
    }
    *p = q;
    return true;
}

/* Whether a number without leading zeros is at most Number.MAX_SAFE_INTEGER. */
static bool js_safe_integer(struct span n)
{
    return n.n < 16 || (n.n == 16 && memcmp(n.p, "9007199254740991", 16) <= 0);
}

/* The length of s in UTF-16 code units, as JavaScript counts a string: a version that is not
 * valid UTF-8 is refused anyway, so counting lead bytes suffices. */
static size_t utf16_units(struct rp_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        n += (c & 0xc0) != 0x80;
        n += c >= 0xf0;
    }
    return n;
}

static int semver_parse(enum rp_eco eco, struct rp_str s, struct semver *v)
{
    const unsigned char *p = bytes_of(s), *e = p + s.len;
    bool go = eco == RP_ECO_GO;
    if (!s.len)
        return RP_EINVAL;
    if (!go) {
        if (s.len > 256 && utf16_units(s) > 256)
            return RP_EINVAL;
        trim_space(&p, &e, SPACE_JS);
    }
    memset(v, 0, sizeof(*v));
    if (p < e && *p == 'v')
        p++;
    if (!sv_number(&p, e, &v->major))
        return RP_EINVAL;
    if (go && p == e)
        return RP_OK;
    if (p == e || *p++ != '.' || !sv_number(&p, e, &v->minor))
        return RP_EINVAL;
    if (go && p == e)
        return RP_OK;
    if (p == e || *p++ != '.' || !sv_number(&p, e, &v->patch))
        return RP_EINVAL;
    if (!go &&
        !(js_safe_integer(v->major) && js_safe_integer(v->minor) && js_safe_integer(v->patch)))
        return RP_EINVAL;
    if (p < e && *p == '-') {
        const unsigned char *pre = ++p;
        if (!sv_idents(&p, e, true))
            return RP_EINVAL;
        v->pre = span_of(pre, p);
    }
    if (p < e && *p == '+') {
        p++;
        if (!sv_idents(&p, e, false))
            return RP_EINVAL;
    }
    return p == e ? RP_OK : RP_EINVAL;
}

static int sv_ident_cmp(struct span a, struct span b)
{
    bool anum = skip_digits(a.p, a.p + a.n) == a.p + a.n;
    bool bnum = skip_digits(b.p, b.p + b.n) == b.p + b.n;
    if (anum && bnum)
        return span_num_cmp(a, b);
    if (anum != bnum) /* numeric identifiers sort before alphanumeric ones */
        return anum ? -1 : 1;
    size_t n = a.n < b.n ? a.n : b.n;
    int c = sign(memcmp(a.p, b.p, n));
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int semver_cmp(const struct semver *a, const struct semver *b)
{
    int c;
    if ((c = span_num_cmp(a->major, b->major)) || (c = span_num_cmp(a->minor, b->minor)) ||
        (c = span_num_cmp(a->patch, b->patch)))
        return c;
    if (!a->pre.n || !b->pre.n) /* a release sorts after its prereleases */
        return (a->pre.n == 0) - (b->pre.n == 0);
    const unsigned char *p = a->pre.p, *pe = p + a->pre.n, *q = b->pre.p, *qe = q + b->pre.n;
    for (;;) {
        const unsigned char *ps = p, *qs = q;
        while (p < pe && *p != '.')
            p++;
        while (q < qe && *q != '.')
            q++;
        if ((c = sv_ident_cmp(span_of(ps, p), span_of(qs, q))))
            return c;
        if (p == pe || q == qe)
            return (p < pe) - (q < qe);
        p++;
        q++;
    }
}

/* ---- Debian: dpkg's parseversion() and verrevcmp() ---------------------------------------
 *
 * [epoch:]upstream[-revision]. Spaces and tabs around the version are ignored. The epoch is
 * what strtol() reads before the first colon (so "+1" and "-0" pass) and at most INT_MAX; the
 * revision follows the last hyphen and must not be empty; upstream must start with a digit and
 * hold only letters, digits and . + - ~ : (the revision: letters, digits and . + ~). dpkg only
 * warns about the last two rules, but a version that breaks them is not one it would install,
 * and is invalid here. */

struct deb {
    uint64_t epoch; /* at most INT_MAX */
    struct span upstream, revision;
};

static inline bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* What both parts of a Debian version may hold (upstream also '-' and ':'). */
static inline bool deb_char(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '.' || c == '+' || c == '~';
}

static int deb_parse(struct rp_str s, struct deb *v)
{
    const unsigned char *p = bytes_of(s), *e = p + s.len, *end, *q;
    v->epoch = 0;
    while (p < e && is_blank(*p))
        p++;
    for (end = p; end < e && !is_blank(*end);)
        end++;
    for (q = end; q < e; q++)
        if (!is_blank(*q))
            return RP_EINVAL; /* a space inside the version */
    if (p == end)
        return RP_EINVAL;

    const unsigned char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) {
        /* As strtol(): white space, a sign, digits (at least one), and nothing else. */
        while (p < colon && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
            p++;
        bool minus = p < colon && *p == '-';
        if (p < colon && (*p == '-' || *p == '+'))
            p++;
        q = skip_digits(p, colon);
        if (q == p || q != colon)
            return RP_EINVAL;
        while (p < q && *p == '0')
            p++;
        if (q - p > 10)
            return RP_EINVAL;
        for (; p < q; p++)
            v->epoch = v->epoch * 10 + (uint64_t)(*p - '0');
        if (v->epoch > 2147483647u || (minus && v->epoch))
            return RP_EINVAL;
        p = colon + 1;
    }
    const unsigned char *hyphen = NULL;
    for (q = p; q < end; q++)
        if (*q == '-')
            hyphen = q;
    v->upstream = span_of(p, hyphen ? hyphen : end);
    v->revision = hyphen ? span_of(hyphen + 1, end) : span_of(end, end);
    if (hyphen && !v->revision.n)
        return RP_EINVAL;
    if (!v->upstream.n || !is_digit(v->upstream.p[0]))
        return RP_EINVAL;
    for (q = v->upstream.p; q < v->upstream.p + v->upstream.n; q++)
        if (!deb_char(*q) && *q != '-' && *q != ':')
            return RP_EINVAL;
    for (q = v->revision.p; q < v->revision.p + v->revision.n; q++)
        if (!deb_char(*q))
            return RP_EINVAL;
    return RP_OK;
}

/* dpkg's weight of a character outside digit runs: '~' before the end of the string, the end
 * before letters, letters before everything else. */
static inline int deb_order(const unsigned char *p, const unsigned char *e)
{
    if (p == e || is_digit(*p))
        return 0;
    if (is_alpha(*p))
        return *p;
    return *p == '~' ? -1 : *p + 256;
}

/* Alternating runs of non-digits (by deb_order, character by character) and digits (as
 * numbers). */
static int deb_part_cmp(struct span a, struct span b)
{
    const unsigned char *p = a.p, *pe = p + a.n, *q = b.p, *qe = q + b.n;
    while (p < pe || q < qe) {
        while ((p < pe && !is_digit(*p)) || (q < qe && !is_digit(*q))) {
            int ac = deb_order(p, pe), bc = deb_order(q, qe);
            if (ac != bc)
                return ac < bc ? -1 : 1;
            /* Equal weights are both non-digits here: the end weighs 0 like a digit, and one
             * side at least is a non-digit, which never weighs 0. */
            p++;
            q++;
        }
        const unsigned char *ps = p, *qs = q;
        p = skip_digits(p, pe);
        q = skip_digits(q, qe);
        int c = num_cmp(ps, (size_t)(p - ps), qs, (size_t)(q - qs));
        if (c)
            return c;
    }
    return 0;
}

static int deb_cmp(const struct deb *a, const struct deb *b)
{
    if (a->epoch != b->epoch)
        return a->epoch < b->epoch ? -1 : 1;
    int c = deb_part_cmp(a->upstream, b->upstream);
    return c ? c : deb_part_cmp(a->revision, b->revision);
}

/* ---- other ecosystems ---------------------------------------------------------------------
 *
 * Runs of digits compare as numbers and other runs as ASCII-case-insensitive text; the first
 * run that differs decides, and a version that is the start of the other sorts first. A number
 * sorts before text ("1" < "v1"). Every byte string is a version. */

static int other_cmp(struct rp_str a, struct rp_str b)
{
    const unsigned char *p = bytes_of(a), *pe = p + a.len;
    const unsigned char *q = bytes_of(b), *qe = q + b.len;
    for (;;) {
        if (p == pe || q == qe)
            return (p < pe) - (q < qe);
        bool dp = is_digit(*p), dq = is_digit(*q);
        if (dp != dq)
            return dp ? -1 : 1;
        if (dp) {
            const unsigned char *ps = p, *qs = q;
            p = skip_digits(p, pe);
            q = skip_digits(q, qe);
            int c = num_cmp(ps, (size_t)(p - ps), qs, (size_t)(q - qs));
            if (c)
                return c;
            continue;
        }
        for (;;) {
            bool pend = p == pe || is_digit(*p), qend = q == qe || is_digit(*q);
            if (pend || qend) {
                if (pend != qend)
                    return pend ? -1 : 1;
                break;
            }
            unsigned char c = to_lower(*p++), d = to_lower(*q++);
            if (c != d)
                return c < d ? -1 : 1;
        }
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

int rp_version_cmp(enum rp_eco eco, struct rp_str a, struct rp_str b, int *cmp)
{
    *cmp = 0;
    switch (eco) {
    case RP_ECO_PYPI: {
        struct pep440 x, y;
        if (pep440_parse(a, &x) || pep440_parse(b, &y))
            return RP_EINVAL;
        *cmp = pep440_cmp(&x, &y);
        return RP_OK;
    }
    case RP_ECO_GO:
    case RP_ECO_NPM:
    case RP_ECO_CRATES: {
        struct semver x, y;
        if (semver_parse(eco, a, &x) || semver_parse(eco, b, &y))
            return RP_EINVAL;
        *cmp = semver_cmp(&x, &y);
        return RP_OK;
    }
    case RP_ECO_DEBIAN:
    case RP_ECO_OPENWRT: {
        struct deb x, y;
        if (deb_parse(a, &x) || deb_parse(b, &y))
            return RP_EINVAL;
        *cmp = deb_cmp(&x, &y);
        return RP_OK;
    }
    case RP_ECO_OTHER: *cmp = other_cmp(a, b); return RP_OK;
    default: return RP_EINVAL;
    }
}

bool rp_version_valid(enum rp_eco eco, struct rp_str v)
{
    switch (eco) {
    case RP_ECO_PYPI: {
        struct pep440 x;
        return pep440_parse(v, &x) == RP_OK;
    }
    case RP_ECO_GO:
    case RP_ECO_NPM:
    case RP_ECO_CRATES: {
        struct semver x;
        return semver_parse(eco, v, &x) == RP_OK;
    }
    case RP_ECO_DEBIAN:
    case RP_ECO_OPENWRT: {
        struct deb x;
        return deb_parse(v, &x) == RP_OK;
    }
    case RP_ECO_OTHER: return true;
    default: return false;
    }
}
