/* go.mod: the required modules, with replace directives applied and the other directives
 * checked as Go's modfile checks them. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct gotok {
    struct rp_str s;
    bool quoted;
};

struct go_require {
    struct rp_str path, version;
    unsigned line;
};

struct go_replace {
    struct rp_str old, oldv; /* oldv empty: every version */
    struct rp_str new_path, new_version;
    bool local; /* replaced by a directory: the module comes from the tree, not a release */
    unsigned line;
    size_t idx; /* order in the file: a later replace of the same module wins */
};

struct gomod {
    struct go_require *req;
    size_t nreq, areq;
    struct go_replace *rep;
    size_t nrep, arep;
    unsigned module_line; /* the line of the module directive, 0 before it */
};

#define GO_MAX_TOKENS 8

static bool go_punct(char ch)
{
    return ch == '(' || ch == ')' || ch == '[' || ch == ']' || ch == '{' || ch == '}' || ch == ',';
}

/* The tokens of one line up to a "//" comment: words, quoted strings ("..." or `...`) and
 * punctuation. *n counts them all; at most GO_MAX_TOKENS are stored. */
static int go_tokens(struct rp__inv *c, struct rp_str l, unsigned line, struct gotok *tok,
                     size_t *n)
{
    *n = 0;
    size_t i = 0;
    while (i < l.len) {
        char ch = l.ptr[i];
        if (rp__inv_blank(ch)) {
            i++;
            continue;
        }
        if (ch == '/' && i + 1 < l.len && l.ptr[i + 1] == '/')
            break;
        struct gotok t = {{l.ptr + i, 1}, false};
        if (go_punct(ch)) {
            i++;
        } else if (ch == '"' || ch == '`') {
            size_t j = i + 1;
            while (j < l.len && l.ptr[j] != ch) {
                if (ch == '"' && l.ptr[j] == '\\' && j + 1 < l.len)
                    j++;
                j++;
            }
            if (j >= l.len)
                return rp__inv_fail(c, line, "unterminated quoted string");
            t.s = (struct rp_str){l.ptr + i + 1, j - i - 1};
            t.quoted = true;
            i = j + 1;
        } else {
            size_t j = i;
            while (j < l.len && !rp__inv_blank(l.ptr[j]) && !go_punct(l.ptr[j]) &&
                   !(l.ptr[j] == '/' && j + 1 < l.len && l.ptr[j + 1] == '/'))
                j++;
            t.s.len = j - i;
            i = j;
        }
        if (*n < GO_MAX_TOKENS)
            tok[*n] = t;
        (*n)++;
    }
    return RP_OK;
}

static bool go_tok_is(const struct gotok *t, const char *s)
{
    return !t->quoted && rp_str_eq_cstr(t->s, s);
}

/* A module path or version: a word or a quoted string without escapes (module paths and
 * versions have no characters that need one). */
static int go_check_word(struct rp__inv *c, const struct gotok *t, unsigned line)
{
    char ex[64];
    if (!t->quoted && t->s.len == 1 && go_punct(t->s.ptr[0]))
        return rp__inv_fail(c, line, "unexpected '%c'", t->s.ptr[0]);
    if (t->quoted && memchr(t->s.ptr, '\\', t->s.len))
        return rp__inv_fail(c, line, "escape in quoted module path or version '%s'",
                            rp_str_excerpt(t->s, ex, sizeof(ex)));
    return RP_OK;
}

/* Go's modfile.IsDirectoryPath: a replacement that is a local directory. */
static bool go_is_dir(struct rp_str s)
{
    if (rp_str_eq_cstr(s, ".") || rp_str_eq_cstr(s, "..") || rp_str_has_prefix(s, "./") ||
        rp_str_has_prefix(s, "../") || rp_str_has_prefix(s, "/") || rp_str_has_prefix(s, ".\\") ||
        rp_str_has_prefix(s, "..\\") || rp_str_has_prefix(s, "\\"))
        return true;
    return s.len >= 2 && s.ptr[1] == ':' &&
           ((s.ptr[0] >= 'a' && s.ptr[0] <= 'z') || (s.ptr[0] >= 'A' && s.ptr[0] <= 'Z'));
}

static int grow(struct rp__inv *c, void **ptr, size_t *alloc, size_t n, size_t size)
{
    if (n < *alloc)
        return RP_OK;
    size_t want = *alloc ? *alloc * 2 : 32;
    void *p = realloc(*ptr, want * size);
    if (!p) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    *ptr = p;
    *alloc = want;
    return RP_OK;
}

/* The directives of a go.mod besides require and replace, as Go's modfile knows them (Go 1.25).
 * Go refuses a main module's go.mod with any other directive ("unknown directive"), so a typo
 * such as "requre" is an error here too, not a dependency silently dropped. */
static const char *const go_verbs[] = {"module",  "go",      "toolchain", "godebug",
                                       "exclude", "retract", "tool",      "ignore"};

static bool go_known_verb(struct rp_str verb)
{
    if (rp_str_eq_cstr(verb, "require") || rp_str_eq_cstr(verb, "replace"))
        return true;
    for (size_t i = 0; i < sizeof(go_verbs) / sizeof(go_verbs[0]); i++)
        if (rp_str_eq_cstr(verb, go_verbs[i]))
            return true;
    return false;
}

/* Go's GoVersionRE: "1.21", "1.21.0", "1.21rc1" (no leading zeros). */
static bool go_version_ok(struct rp_str v)
{
    size_t i = 0;
    for (int part = 0; part < 3; part++) {
        size_t start = i;
        while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
            i++;
        if (i == start || (i - start > 1 && v.ptr[start] == '0') ||
            (part == 0 && v.ptr[start] == '0'))
            return false;
        if (i == v.len || v.ptr[i] != '.' || part == 2)
            break;
        i++;
    }
    if (i < v.len) {
        size_t letters = i;
        while (i < v.len && v.ptr[i] >= 'a' && v.ptr[i] <= 'z')
            i++;
        size_t digits = i;
        while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
            i++;
        if (i == letters || digits == letters || i == digits)
            return false;
    }
    return i == v.len && memchr(v.ptr, '.', v.len);
}

/* A directive that names no dependency: checked as Go checks its shape, then set aside. */
static int go_other_stmt(struct rp__inv *c, struct gomod *m, struct rp_str verb,
                         const struct gotok *a, size_t n, unsigned line)
{
    char ex[64];
    if (!go_known_verb(verb))
        return rp__inv_fail(c, line, "unknown directive '%s'",
                            rp_str_excerpt(verb, ex, sizeof(ex)));
    if (rp_str_eq_cstr(verb, "module")) {
        if (m->module_line)
            return rp__inv_fail(c, line, "repeated module directive (the first is on line %u)",
                                m->module_line);
        if (n != 1)
            return rp__inv_fail(c, line, "expected 'module module/path'");
        m->module_line = line;
        return go_check_word(c, &a[0], line);
    }
    if (rp_str_eq_cstr(verb, "go")) {
        if (n != 1)
            return rp__inv_fail(c, line, "expected 'go 1.N'");
        if (!go_version_ok(a[0].s))
            return rp__inv_fail(c, line, "invalid go version '%s': must be like 1.21 or 1.21.0",
                                rp_str_excerpt(a[0].s, ex, sizeof(ex)));
        return RP_OK;
    }
    if (rp_str_eq_cstr(verb, "exclude"))
        return n == 2 ? RP_OK : rp__inv_fail(c, line, "expected 'exclude module/path v1.2.3'");
    if (rp_str_eq_cstr(verb, "godebug")) {
        if (n != 1 || !memchr(a[0].s.ptr, '=', a[0].s.len))
            return rp__inv_fail(c, line, "expected 'godebug key=value'");
        return RP_OK;
    }
    if (rp_str_eq_cstr(verb, "retract"))
        return n ? RP_OK
                 : rp__inv_fail(c, line, "expected 'retract version' or 'retract [low, high]'");
    /* toolchain, tool, ignore: one word */
    if (n != 1) {
        char vx[64];
        return rp__inv_fail(c, line, "expected '%s' and one argument",
                            rp_str_excerpt(verb, vx, sizeof(vx)));
    }
    return RP_OK;
}

/* One statement: verb and its arguments (the tokens after the verb, or a block's line). */
static int go_stmt(struct rp__inv *c, struct gomod *m, struct rp_str verb, const struct gotok *a,
                   size_t n, unsigned line)
{
    int result;
    if (rp_str_eq_cstr(verb, "require")) {
        if (n != 2)
            return rp__inv_fail(c, line, "expected 'require module/path v1.2.3'");
        if ((result = go_check_word(c, &a[0], line)) || (result = go_check_word(c, &a[1], line)))
            return result;
        result = grow(c, (void **)&m->req, &m->areq, m->nreq, sizeof(*m->req));
        if (result)
            return result;
        m->req[m->nreq++] = (struct go_require){a[0].s, a[1].s, line};
        return RP_OK;
    }
    if (!rp_str_eq_cstr(verb, "replace"))
        return go_other_stmt(c, m, verb, a, n, line);
    size_t arrow = n;
    for (size_t i = 0; i < n; i++)
        if (go_tok_is(&a[i], "=>")) {
            arrow = i;
            break;
        }
    size_t rhs = n - arrow - (arrow < n);
    if ((arrow != 1 && arrow != 2) || (rhs != 1 && rhs != 2))
        return rp__inv_fail(c, line, "expected 'replace module [version] => module [version]'");
    struct go_replace r = {a[0].s, RP_STR_NULL, a[arrow + 1].s, RP_STR_NULL, false, line, m->nrep};
    if (arrow == 2)
        r.oldv = a[1].s;
    if (rhs == 2)
        r.new_version = a[arrow + 2].s;
    r.local = go_is_dir(r.new_path);
    char ex[64];
    if (rhs == 1 && !r.local)
        return rp__inv_fail(c, line, "replacement '%s' has no version and is not a local directory",
                            rp_str_excerpt(r.new_path, ex, sizeof(ex)));
    if (rhs == 2 && r.local)
        return rp__inv_fail(c, line, "local replacement '%s' cannot have a version",
                            rp_str_excerpt(r.new_path, ex, sizeof(ex)));
    for (size_t i = 0; i < n; i++)
        if (i != arrow && (i != arrow + 1 || !r.local) && (result = go_check_word(c, &a[i], line)))
            return result;
    result = grow(c, (void **)&m->rep, &m->arep, m->nrep, sizeof(*m->rep));
    if (result)
        return result;
    m->rep[m->nrep++] = r;
    return RP_OK;
}

static int str_cmp(struct rp_str a, struct rp_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (r)
        return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int go_replace_key_cmp(const struct go_replace *r, struct rp_str path, struct rp_str v)
{
    int d = str_cmp(r->old, path);
    return d ? d : str_cmp(r->oldv, v);
}

static int go_replace_cmp(const void *a, const void *b)
{
    const struct go_replace *x = a, *y = b;
    int d = go_replace_key_cmp(x, y->old, y->oldv);
    if (d)
        return d;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The last replace (in file order) of exactly path and v, or NULL. reps is sorted. */
static const struct go_replace *go_find(const struct gomod *m, struct rp_str path, struct rp_str v)
{
    size_t lo = 0, hi = m->nrep;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (go_replace_key_cmp(&m->rep[mid], path, v) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo && !go_replace_key_cmp(&m->rep[lo - 1], path, v))
        return &m->rep[lo - 1];
    return NULL;
}

/* Each required module, or what replaces it: "replace a v1 => b v2" (a at v1 only) beats
 * "replace a => b v2" (every version of a); a local directory replacement drops the module.
 * A replaced module's line is the replace's, where the version in use is written. */
static int go_resolve(struct rp__inv *c, struct gomod *m)
{
    if (m->nrep)
        qsort(m->rep, m->nrep, sizeof(*m->rep), go_replace_cmp);
    for (size_t i = 0; i < m->nreq; i++) {
        const struct go_require *r = &m->req[i];
        const struct go_replace *rep = go_find(m, r->path, r->version);
        if (!rep)
            rep = go_find(m, r->path, RP_STR_NULL);
        int result;
        if (!rep)
            result = rp__inv_add_pkg(c, RP_ECO_GO, r->path, &r->version, r->line);
        else if (rep->local)
            result = RP_OK;
        else
            result = rp__inv_add_pkg(c, RP_ECO_GO, rep->new_path, &rep->new_version, rep->line);
        if (result)
            return result;
    }
    return RP_OK;
}

int rp__inv_read_go_mod(struct rp__inv *c, struct rp_str text)
{
    struct gomod m = {0};
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 0, block_line = 0;
    struct rp_str block = RP_STR_NULL; /* the verb of the open "verb (" block */
    int result = RP_OK;
    while (!result && p < end) {
        const char *next;
        struct rp_str l = rp__inv_next_line(p, end, &next);
        p = next;
        line++;
        struct gotok tok[GO_MAX_TOKENS];
        size_t n;
        result = go_tokens(c, l, line, tok, &n);
        if (result || !n)
            continue;
        if (n > GO_MAX_TOKENS) {
            /* No statement that matters is that long; others (retract [a, b]) are skipped. */
            struct rp_str verb = block.ptr ? block : tok[0].s;
            char ex[64];
            if (rp_str_eq_cstr(verb, "require") || rp_str_eq_cstr(verb, "replace"))
                result = rp__inv_fail(c, line, "too many words in a '%s' line",
                                      rp_str_eq_cstr(verb, "require") ? "require" : "replace");
            else if (!go_known_verb(verb))
                result = rp__inv_fail(c, line, "unknown directive '%s'",
                                      rp_str_excerpt(verb, ex, sizeof(ex)));
            else if (rp_str_eq_cstr(verb, "module") && !block.ptr && !m.module_line)
                m.module_line = line; /* let a later module line be the repeated one */
            continue;
        }
        if (block.ptr) {
            if (go_tok_is(&tok[0], ")")) {
                if (n != 1)
                    result = rp__inv_fail(c, line, "unexpected text after ')'");
                block = RP_STR_NULL;
            } else {
                result = go_stmt(c, &m, block, tok, n, line);
            }
            continue;
        }
        if (go_tok_is(&tok[0], ")") || go_tok_is(&tok[0], "(")) {
            result = rp__inv_fail(c, line, "unexpected '%c'", tok[0].s.ptr[0]);
        } else if (n >= 2 && go_tok_is(&tok[1], "(") && !go_known_verb(tok[0].s)) {
            char ex[64];
            result = rp__inv_fail(c, line, "unknown directive '%s'",
                                  rp_str_excerpt(tok[0].s, ex, sizeof(ex)));
        } else if (n == 2 && go_tok_is(&tok[1], "(")) {
            block = tok[0].s;
            block_line = line;
        } else if (n == 3 && go_tok_is(&tok[1], "(") && go_tok_is(&tok[2], ")")) {
            continue; /* "require ()" */
        } else {
            size_t nargs = n - 1;
            result = go_stmt(c, &m, tok[0].s, tok + 1, nargs, line);
        }
    }
    if (!result && block.ptr) {
        char ex[64];
        result = rp__inv_fail(c, block_line, "'%s (' block without its ')'",
                              rp_str_excerpt(block, ex, sizeof(ex)));
    }
    /* Go refuses a go.mod without its module directive: so does a file that is not a go.mod. */
    if (!result && !m.module_line)
        result = rp__inv_fail(c, 1, "no module directive: not a go.mod file");
    if (!result)
        result = go_resolve(c, &m);
    free(m.req);
    free(m.rep);
    return result;
}
