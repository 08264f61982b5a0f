/* requirements.txt, as pip reads it: requirements pinned or not, pip's options, and the files
 * that "-r" and "-c" include. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "osv_internal.h"

/* Whether s holds needle, ASCII case aside. */
static bool contains_ci(struct rp_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (rp_str_ieq_cstr((struct rp_str){s.ptr + i, n}, needle))
            return true;
    return false;
}

/* A line that pip treats as a comment as a whole (optional blanks, then '#'). */
static bool req_comment_line(struct rp_str l)
{
    l = rp__inv_trim(l);
    return l.len && l.ptr[0] == '#';
}

static bool req_continued(struct rp_str l)
{
    return l.len && l.ptr[l.len - 1] == '\\' && !req_comment_line(l);
}

static bool req_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Whether the first word of a requirement line is a path, URL or archive, which pip installs
 * as it is and which names no index package. */
static bool req_is_location(struct rp_str s)
{
    size_t n = 0;
    while (n < s.len && !rp__inv_blank(s.ptr[n]) && s.ptr[n] != ';')
        n++;
    struct rp_str w = {s.ptr, n};
    static const char *const archives[] = {".whl", ".zip",    ".tar.gz", ".tgz", ".tar.bz2",
                                           ".tbz", ".tar.xz", ".txz",    ".tar"};
    if (!w.len || w.ptr[0] == '.' || w.ptr[0] == '~' || memchr(w.ptr, '/', w.len) ||
        memchr(w.ptr, '\\', w.len))
        return true;
    for (size_t i = 0; i < sizeof(archives) / sizeof(archives[0]); i++)
        if (rp__inv_has_suffix(w, archives[i]))
            return true;
    return false;
}

/* What one requirement line says. */
struct req {
    struct rp_str name;
    bool pinned;
    struct rp_str version; /* when pinned */
    const char *why;       /* when not pinned, why (rp_pkg.why), or NULL */
};

/* PEP 440's comparison operators, longest first so that "===" is not read as "==". */
static const char *const req_ops[] = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};

/* Whether the text holds "${NAME}": pip replaces it by the variable's value when it installs,
 * which rampart cannot know. */
static bool req_has_env(struct rp_str s)
{
    const char *d = s.len ? memmem(s.ptr, s.len, "${", 2) : NULL;
    return d && memchr(d, '}', (size_t)(s.ptr + s.len - d));
}

static const char req_env_why[] = "its version comes from an environment variable";

/* The version specifiers of a requirement (after its name and extras, before ';'): clauses
 * "OP VERSION" separated by ','. An operator PEP 440 does not have ("Django=2.2") or a version
 * with a character no version has is an error, as pip makes it. */
static int req_spec(struct rp__inv *c, struct rp_str line_text, struct rp_str spec, unsigned line,
                    struct req *r)
{
    char ex[64];
    size_t clauses = 0;
    bool eq = false, env = false;
    struct rp_str eq_version = RP_STR_NULL;
    const char *p = spec.ptr, *end = spec.ptr + spec.len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct rp_str cl = rp__inv_trim((struct rp_str){p, (size_t)((comma ? comma : end) - p)});
        p = (comma ? comma : end) + 1;
        clauses++;
        if (!cl.len)
            return rp__inv_fail(c, line, "empty version clause in '%s'",
                                rp_str_excerpt(line_text, ex, sizeof(ex)));
        const char *op = NULL;
        for (size_t i = 0; i < sizeof(req_ops) / sizeof(req_ops[0]) && !op; i++)
            if (rp_str_has_prefix(cl, req_ops[i]))
                op = req_ops[i];
        size_t oplen = op ? strlen(op) : 0;
        if (!op || (oplen < cl.len && strchr("=<>!~", cl.ptr[oplen]))) {
            size_t n = 0;
            while (n < cl.len && strchr("=<>!~", cl.ptr[n]))
                n++;
            if (!n)
                return rp__inv_fail(c, line, "cannot read requirement '%s'",
                                    rp_str_excerpt(line_text, ex, sizeof(ex)));
            char opx[64];
            return rp__inv_fail(c, line, "'%s' is not a version operator in '%s'%s",
                                rp_str_excerpt((struct rp_str){cl.ptr, n}, opx, sizeof(opx)),
                                rp_str_excerpt(line_text, ex, sizeof(ex)),
                                n == 1 && cl.ptr[0] == '=' ? " (did you mean '=='?)" : "");
        }
        struct rp_str v = rp__inv_trim((struct rp_str){cl.ptr + oplen, cl.len - oplen});
        if (!v.len)
            return rp__inv_fail(c, line, "'%s' without a version in '%s'", op,
                                rp_str_excerpt(line_text, ex, sizeof(ex)));
        bool v_env = req_has_env(v);
        for (size_t k = 0; k < v.len; k++) {
            char ch = v.ptr[k];
            if (rp__inv_blank(ch))
                return rp__inv_fail(c, line, "cannot read requirement '%s'",
                                    rp_str_excerpt(line_text, ex, sizeof(ex)));
            /* "===" compares as text and takes anything; the others want PEP 440's characters. */
            if (strcmp(op, "===") && !v_env && !req_alnum(ch) && !strchr("._+!*-", ch)) {
                char vx[64];
                return rp__inv_fail(c, line, "invalid version '%s' in '%s'",
                                    rp_str_excerpt(v, vx, sizeof(vx)),
                                    rp_str_excerpt(line_text, ex, sizeof(ex)));
            }
        }
        env |= v_env;
        if (oplen >= 2 && op[1] == '=' && op[0] == '=') {
            eq = true;
            eq_version = v;
        }
        if (!comma)
            break;
    }
    r->pinned = clauses == 1 && eq && !env && !memchr(eq_version.ptr, '*', eq_version.len);
    if (r->pinned)
        r->version = eq_version;
    else if (clauses == 1 && eq && env)
        r->why = req_env_why;
    return RP_OK;
}

/* One requirement line, its comment and per-requirement options already removed. A requirement
 * is "name[extras] specifiers ; markers" (PEP 508); it is pinned when its only specifier is "==V"
 * or "===V" with no wildcard. *named is false for a line that names no index package (a path,
 * URL or archive). */
static int req_parse(struct rp__inv *c, struct rp_str s, unsigned line, struct req *r, bool *named)
{
    char ex[64];
    *r = (struct req){0};
    *named = false;
    size_t i = 0;
    while (i < s.len &&
           (req_alnum(s.ptr[i]) || s.ptr[i] == '.' || s.ptr[i] == '_' || s.ptr[i] == '-'))
        i++;
    r->name = (struct rp_str){s.ptr, i};
    bool name_ok = r->name.len && req_alnum(r->name.ptr[0]) && req_alnum(r->name.ptr[i - 1]);
    while (i < s.len && rp__inv_blank(s.ptr[i]))
        i++;
    if (name_ok && i < s.len && s.ptr[i] == '[') {
        const char *close = memchr(s.ptr + i, ']', s.len - i);
        if (!close)
            return rp__inv_fail(c, line, "unterminated extras in '%s'",
                                rp_str_excerpt(s, ex, sizeof(ex)));
        i = (size_t)(close - s.ptr) + 1;
        while (i < s.len && rp__inv_blank(s.ptr[i]))
            i++;
    }
    /* "name @ https://...": a direct reference names the package but pins no index version. */
    if (name_ok && i < s.len && s.ptr[i] == '@') {
        *named = true;
        r->why = "a direct reference (name @ URL)";
        return RP_OK;
    }
    if (req_is_location(s))
        return RP_OK;
    if (!name_ok)
        return rp__inv_fail(c, line, "cannot read requirement '%s'%s",
                            rp_str_excerpt(s, ex, sizeof(ex)),
                            req_has_env(s) ? ": it names an environment variable" : "");
    *named = true;
    if (i == s.len || s.ptr[i] == ';')
        return RP_OK;
    struct rp_str spec = {s.ptr + i, s.len - i};
    const char *semi = memchr(spec.ptr, ';', spec.len);
    if (semi)
        spec.len = (size_t)(semi - spec.ptr);
    spec = rp__inv_trim(spec);
    if (spec.len && spec.ptr[0] == '(') {
        if (spec.ptr[spec.len - 1] != ')')
            return rp__inv_fail(c, line, "unbalanced '(' in '%s'",
                                rp_str_excerpt(s, ex, sizeof(ex)));
        spec = rp__inv_trim((struct rp_str){spec.ptr + 1, spec.len - 2});
    }
    if (!spec.len || !strchr("=<>!~", spec.ptr[0]))
        return rp__inv_fail(c, line, "cannot read requirement '%s'",
                            rp_str_excerpt(s, ex, sizeof(ex)));
    return req_spec(c, s, spec, line, r);
}

/* ---- requirements.txt: options and included files ---- */

/* A constraint ("-c FILE"): a version that pip installs for a requirement of the same name
 * that does not pin one itself. */
struct req_constraint {
    char key[256]; /* the name's PEP 503 form */
    char *version;
    const char *source;
    unsigned line;
};

/* What reading one requirements.txt and the files it includes shares. */
struct req_state {
    struct req_constraint *cons;
    size_t ncons, acons;
    /* The files being read, outermost first: their ids (for cycles) and paths (for messages). */
    char *ids[RP_INV_MAX_INCLUDE_DEPTH + 1];
    const char *paths[RP_INV_MAX_INCLUDE_DEPTH + 1];
    size_t depth;
    const char *err_file; /* the included file an error is in, once there is one */
};

static int req_file(struct rp__inv *c, struct req_state *st, struct rp_str text, bool constraints);

/* Whether s starts with the option o: "-r" also as "-rFILE", "--requirement" also as
 * "--requirement=FILE". *value is what follows in the same word, or NULL. */
static bool req_opt(struct rp_str word, const char *o, struct rp_str *value)
{
    size_t n = strlen(o);
    if (!rp_str_has_prefix(word, o))
        return false;
    if (word.len == n) {
        *value = RP_STR_NULL;
        return true;
    }
    bool is_long = n > 2;
    if (is_long && word.ptr[n] != '=')
        return false;
    size_t skip = n + (is_long ? 1 : 0);
    *value = (struct rp_str){word.ptr + skip, word.len - skip};
    return true;
}

/* The next word of s at *i (blanks skipped); a word in single or double quotes loses them, as
 * pip's shlex reading of options does. */
static struct rp_str req_word(struct rp_str s, size_t *i)
{
    while (*i < s.len && rp__inv_blank(s.ptr[*i]))
        (*i)++;
    size_t start = *i;
    if (*i < s.len && (s.ptr[*i] == '"' || s.ptr[*i] == '\'')) {
        const char *close = memchr(s.ptr + *i + 1, s.ptr[*i], s.len - *i - 1);
        if (close) {
            *i = (size_t)(close - s.ptr) + 1;
            return (struct rp_str){s.ptr + start + 1, (size_t)(close - s.ptr) - start - 1};
        }
    }
    while (*i < s.len && !rp__inv_blank(s.ptr[*i]))
        (*i)++;
    return (struct rp_str){s.ptr + start, *i - start};
}

/* The path pip opens for an include: relative to the including file's folder, as
 * os.path.join(dirname(including), include) makes it ("./" segments dropped). Heap copy. */
static char *req_resolve(const char *including, struct rp_str inc)
{
    const char *slash = strrchr(including, '/');
    size_t dir = inc.len && inc.ptr[0] == '/' ? 0 : slash ? (size_t)(slash - including) + 1 : 0;
    char *out = malloc(dir + inc.len + 1);
    if (!out)
        return NULL;
    memcpy(out, including, dir);
    size_t n = dir;
    for (size_t i = 0; i < inc.len;) {
        if (inc.ptr[i] == '.' && i + 1 < inc.len && inc.ptr[i + 1] == '/' &&
            (i == 0 || inc.ptr[i - 1] == '/')) {
            i += 2;
            continue;
        }
        if (inc.ptr[i] == '/' && n > 0 && out[n - 1] == '/') {
            i++;
            continue;
        }
        out[n++] = inc.ptr[i++];
    }
    out[n] = '\0';
    return out;
}

/* "-r FILE" or "-c FILE" on line: reads the file and its packages (constraints: its pins). */
static int req_include(struct rp__inv *c, struct req_state *st, struct rp_str arg, bool constraints,
                       unsigned line)
{
    char ex[64];
    const char *opt = constraints ? "-c" : "-r";
    rp_str_excerpt(arg, ex, sizeof(ex));
    if (!arg.len)
        return rp__inv_fail(c, line, "'%s' without a file", opt);
    if (memchr(arg.ptr, '\0', arg.len))
        return rp__inv_fail(c, line, "NUL byte in '%s %s'", opt, ex);
    if (req_has_env(arg))
        return rp__inv_fail(
            c, line, "cannot follow '%s %s': the path names an environment variable", opt, ex);
    if (memmem(arg.ptr, arg.len, "://", 3))
        return rp__inv_fail(c, line, "cannot follow '%s %s': rampart reads local files only", opt,
                            ex);
    if (!c->opt || !c->opt->read)
        return rp__inv_fail(c, line, "'%s %s' includes another file, which is not read here", opt,
                            ex);
    if (st->depth >= RP_INV_MAX_INCLUDE_DEPTH)
        return rp__inv_fail(c, line, "'%s %s': includes nested more than %d deep", opt, ex,
                            RP_INV_MAX_INCLUDE_DEPTH);
    char *path = req_resolve(c->source, arg);
    if (!path) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    char *text = NULL, id[4096];
    size_t len = 0;
    struct rp_error rerr = {{0}};
    id[0] = '\0';
    int result = c->opt->read(c->opt->arg, path, &text, &len, id, sizeof(id), &rerr);
    if (result == RP_ENOMEM) {
        rp_error_set(c->err, "out of memory");
    } else if (result) {
        result = rp__inv_fail(c, line, "%s %s: %s", opt, ex,
                              rerr.msg[0] ? rerr.msg : rp_strerror(result));
    } else {
        if (!id[0])
            snprintf(id, sizeof(id), "%s", path);
        for (size_t i = 0; !result && i < st->depth; i++) {
            if (strcmp(st->ids[i], id))
                continue;
            /* The chain, from the file included again to here: "a.txt -> b.txt -> a.txt". */
            char chain[192];
            size_t n = 0;
            chain[0] = '\0';
            for (size_t k = i; k <= st->depth && n + 4 < sizeof(chain); k++) {
                const char *name = k < st->depth ? st->paths[k] : path;
                const char *base = strrchr(name, '/');
                n += (size_t)snprintf(chain + n, sizeof(chain) - n, "%s%s", k > i ? " -> " : "",
                                      base ? base + 1 : name);
                if (n >= sizeof(chain))
                    n = sizeof(chain) - 1;
            }
            result = rp__inv_fail(c, line, "%s %s: a cycle of includes (%s)", opt, ex, chain);
        }
    }
    const char *src = NULL;
    if (!result)
        result = rp__inv_add_source(c, path, &src);
    if (!result && !(st->ids[st->depth] = strdup(id))) {
        rp_error_set(c->err, "out of memory");
        result = RP_ENOMEM;
    }
    if (!result) {
        st->paths[st->depth++] = src;
        struct rp_str t = {text, len};
        if (rp_str_has_prefix(t, "\xef\xbb\xbf"))
            t.ptr += 3, t.len -= 3;
        struct rp__inv child = {c->inv, src, c->err, c->opt};
        result = req_file(&child, st, t, constraints);
        free(st->ids[--st->depth]);
        if (result == RP_EINVAL && !st->err_file)
            st->err_file = src; /* the file whose "line M: what" err holds */
        if (result == RP_EINVAL && c->err && st->depth == 1) {
            /* Where the top-level file includes, then where in which file it went wrong. */
            struct rp_error inner = *c->err;
            result = rp__inv_fail(c, line, "in '%s': %s", st->err_file, inner.msg);
        }
    }
    free(text);
    free(path);
    return result;
}

/* A line that starts with an option. pip's global options (--index-url, -e and the others)
 * name no index package; "-r FILE" and "-c FILE" (also "-rFILE", "--requirement FILE",
 * "--requirement=FILE", and --constraint alike) include another file. */
static int req_option_line(struct rp__inv *c, struct req_state *st, struct rp_str s, unsigned line)
{
    size_t i = 0;
    struct rp_str word = req_word(s, &i), value;
    bool constraints;
    if (req_opt(word, "-r", &value) || req_opt(word, "--requirement", &value))
        constraints = false;
    else if (req_opt(word, "-c", &value) || req_opt(word, "--constraint", &value))
        constraints = true;
    else
        return RP_OK;
    if (!value.ptr)
        value = req_word(s, &i);
    else if (value.len >= 2 && (value.ptr[0] == '"' || value.ptr[0] == '\'') &&
             value.ptr[value.len - 1] == value.ptr[0])
        value = (struct rp_str){value.ptr + 1, value.len - 2}; /* -r'my file.txt' */
    return req_include(c, st, value, constraints, line);
}

/* The options pip takes after a requirement ("pkg==1.0 --hash=sha256:... -C key=val"); each
 * takes a value, in the same word ("--hash=X", "-CX") or the next. Any other is an error, as it
 * is to pip ("no such option"). */
static int req_per_requirement_options(struct rp__inv *c, struct rp_str s, unsigned line)
{
    static const char *const opts[] = {"--hash", "--config-settings", "-C", "--global-option",
                                       "--install-option"};
    char ex[64];
    size_t i = 0;
    for (;;) {
        struct rp_str word = req_word(s, &i), value = RP_STR_NULL;
        if (!word.len)
            return RP_OK;
        const char *o = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]) && !o; k++)
            if (req_opt(word, opts[k], &value))
                o = opts[k];
        if (!o)
            return rp__inv_fail(c, line,
                                "unknown option '%s' after a requirement (pip takes --hash, "
                                "--config-settings or -C, and --global-option there)",
                                rp_str_excerpt(word, ex, sizeof(ex)));
        if (!value.ptr)
            value = req_word(s, &i);
        if (!value.len)
            return rp__inv_fail(c, line, "'%s' without a value", o);
    }
}

/* PEP 503's form of a name, for matching constraints to requirements. */
static bool req_key(struct rp_str name, char *out, size_t cap)
{
    return rp__vuln_name_key(RP_ECO_PYPI, name, out, cap);
}

static int req_add_constraint(struct rp__inv *c, struct req_state *st, const struct req *r,
                              unsigned line)
{
    struct req_constraint k = {.source = c->source, .line = line};
    if (!req_key(r->name, k.key, sizeof(k.key)))
        return RP_OK; /* longer than any name: matches no requirement */
    for (size_t i = 0; i < st->ncons; i++)
        if (!strcmp(st->cons[i].key, k.key))
            return RP_OK; /* the first pin wins; two different ones make pip fail anyway */
    if (st->ncons == st->acons) {
        size_t na = st->acons ? st->acons * 2 : 16;
        struct req_constraint *nv = realloc(st->cons, na * sizeof(*nv));
        if (!nv)
            goto nomem;
        st->cons = nv;
        st->acons = na;
    }
    if (!(k.version = strndup(r->version.ptr, r->version.len)))
        goto nomem;
    st->cons[st->ncons++] = k;
    return RP_OK;
nomem:
    rp_error_set(c->err, "out of memory");
    return RP_ENOMEM;
}

/* Lines ending in '\' are joined to the next (as pip does, with the backslash removed), so a
 * requirement with its "--hash" lines is one logical line, numbered by its first. A '#' at the
 * start or after a blank starts a comment. In a constraints file (-c), pinned requirements are
 * kept as constraints, not packages. */
static int req_file(struct rp__inv *c, struct req_state *st, struct rp_str text, bool constraints)
{
    struct rp_buf joined;
    rp_buf_init(&joined, text.len + 1);
    const char *p = text.ptr, *end = text.ptr + text.len;
    unsigned line = 1;
    int result = RP_OK;
    while (!result && p < end) {
        unsigned first = line;
        const char *next;
        struct rp_str l = rp__inv_next_line(p, end, &next);
        p = next;
        line++;
        if (req_continued(l)) {
            rp_buf_reset(&joined);
            for (;;) {
                bool more = req_continued(l);
                struct rp_str part = l;
                while (more && part.len && part.ptr[part.len - 1] == '\\')
                    part.len--;
                if (more || !req_comment_line(l))
                    result = rp_buf_add(&joined, part.ptr, part.len);
                if (result || !more || p >= end)
                    break;
                l = rp__inv_next_line(p, end, &next);
                p = next;
                line++;
            }
            if (result) {
                rp_error_set(c->err, "out of memory");
                break;
            }
            l = rp_buf_str(&joined);
        }
        for (size_t i = 0; i < l.len; i++) {
            if (l.ptr[i] == '#' && (i == 0 || rp__inv_blank(l.ptr[i - 1]))) {
                l.len = i;
                break;
            }
        }
        l = rp__inv_trim(l);
        if (!l.len)
            continue;
        if (l.ptr[0] == '-') {
            result = req_option_line(c, st, l, first);
            continue;
        }
        /* As pip's break_args_options: the first word after a blank that starts with '-' begins
         * the requirement's own options. */
        for (size_t i = 1; i < l.len; i++) {
            if (rp__inv_blank(l.ptr[i - 1]) && l.ptr[i] == '-') {
                result =
                    req_per_requirement_options(c, (struct rp_str){l.ptr + i, l.len - i}, first);
                l = rp__inv_trim((struct rp_str){l.ptr, i});
                break;
            }
        }
        struct req r;
        bool named;
        if (!result)
            result = req_parse(c, l, first, &r, &named);
        if (result || !named)
            continue;
        if (constraints) {
            if (r.pinned)
                result = req_add_constraint(c, st, &r, first);
            continue;
        }
        result = rp__inv_add_pkg(c, RP_ECO_PYPI, r.name, r.pinned ? &r.version : NULL, first);
        if (!result && r.why)
            c->inv->pkgs[c->inv->n - 1].why = r.why;
    }
    rp_buf_release(&joined);
    return result;
}

/* A requirement without a pin of its own gets the version a constraint pins (pip installs
 * that one), and the constraint's file and line, where that version is written. */
static int req_apply_constraints(struct rp__inv *c, struct req_state *st, size_t from)
{
    for (size_t i = from; i < c->inv->n && st->ncons; i++) {
        struct rp_pkg *p = &c->inv->pkgs[i];
        char key[256];
        if (!p->unpinned || p->why || !req_key(rp_str_from_cstr(p->name), key, sizeof(key)))
            continue;
        for (size_t k = 0; k < st->ncons; k++) {
            if (strcmp(st->cons[k].key, key))
                continue;
            if (!(p->version = strdup(st->cons[k].version))) {
                rp_error_set(c->err, "out of memory");
                return RP_ENOMEM;
            }
            p->unpinned = false;
            p->source = st->cons[k].source;
            p->line = st->cons[k].line;
            break;
        }
    }
    return RP_OK;
}

int rp__inv_read_requirements(struct rp__inv *c, struct rp_str text)
{
    struct req_state st = {0};
    const char *id = c->opt && c->opt->id ? c->opt->id : c->source;
    size_t from = c->inv->n;
    int result = RP_OK;
    if (!(st.ids[0] = strdup(id))) {
        rp_error_set(c->err, "out of memory");
        return RP_ENOMEM;
    }
    st.paths[0] = c->source;
    st.depth = 1;
    result = req_file(c, &st, text, false);
    if (!result)
        result = req_apply_constraints(c, &st, from);
    free(st.ids[0]);
    for (size_t i = 0; i < st.ncons; i++)
        free(st.cons[i].version);
    free(st.cons);
    return result;
}

/* requirements.txt, requirements-dev.txt, dev-requirements.txt, test_requirements.txt... */
bool rp__inv_is_requirements(const char *path, struct rp_str base, struct rp_str head)
{
    (void)path, (void)head;
    return contains_ci(base, "requirements") && rp__inv_has_suffix(base, ".txt");
}
