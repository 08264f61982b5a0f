/* Rule packs: the YAML files of guardrail rules (docs/guardrails.md, "Rule packs"), read with
 * libyaml's document API into plain structs. Every error names the file and line. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

struct pack {
    struct rp__guard_rules *rs;
    yaml_document_t *doc;
    const char *name;
    struct rp_error *err;
};

__attribute__((format(printf, 3, 4))) static int fail(struct pack *pk, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    rp_error_set(pk->err, "%s:%u: %s", pk->name, n ? (unsigned)n->start_mark.line + 1 : 1, what);
    return RP_EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE ||
        strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return NULL;
    return (const char *)n->data.scalar.value;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return RP_OK;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return RP_OK;
    }
    return RP_EINVAL;
}

static void set_bit(uint8_t set[32], unsigned c)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* One member of a class: a byte, an escape or a class shorthand. Returns the bytes consumed, or
 * 0 when malformed; *lo..*hi is the byte range, *shorthand a letter for \s \d \w. */
static size_t class_atom(const char *s, unsigned *lo, char *shorthand)
{
    *shorthand = 0;
    if (s[0] != '\\') {
        *lo = (unsigned char)s[0];
        return s[0] ? 1 : 0;
    }
    switch (s[1]) {
    case 's':
    case 'd':
    case 'w': *shorthand = s[1]; return 2;
    case 'n': *lo = '\n'; return 2;
    case 'r': *lo = '\r'; return 2;
    case 't': *lo = '\t'; return 2;
    case 'x':
        if (isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3])) {
            char hex[3] = {s[2], s[3], 0};
            *lo = (unsigned)strtoul(hex, NULL, 16);
            return 4;
        }
        return 0;
    case '\0': return 0;
    default:
        if (isalnum((unsigned char)s[1]))
            return 0;
        *lo = (unsigned char)s[1];
        return 2;
    }
}

/* Parses "[...]" (ranges, \s \d \w, escapes, a leading ^ for the complement) into set. */
static int parse_class(const char *s, uint8_t set[32])
{
    memset(set, 0, 32);
    size_t len = strlen(s);
    if (len < 3 || s[0] != '[' || s[len - 1] != ']')
        return RP_EINVAL;
    bool negate = s[1] == '^';
    const char *p = s + 1 + negate, *end = s + len - 1;
    while (p < end) {
        unsigned lo, hi;
        char sh;
        size_t n = class_atom(p, &lo, &sh);
        if (!n || p + n > end)
            return RP_EINVAL;
        p += n;
        if (sh) {
            for (unsigned c = 0; c < 128; c++)
                if ((sh == 's' && isspace((int)c)) || (sh == 'd' && isdigit((int)c)) ||
                    (sh == 'w' && (isalnum((int)c) || c == '_')))
                    set_bit(set, c);
            continue;
        }
        hi = lo;
        if (p + 1 < end && *p == '-') {
            n = class_atom(p + 1, &hi, &sh);
            if (!n || sh || hi < lo || p + 1 + n > end)
                return RP_EINVAL;
            p += 1 + n;
        }
        for (unsigned c = lo; c <= hi; c++)
            set_bit(set, c);
    }
    if (negate)
        for (size_t i = 0; i < 32; i++)
            set[i] = (uint8_t)~set[i];
    return RP_OK;
}

static bool valid_id(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

static int dup_to(char **slot, const char *s)
{
    free(*slot);
    *slot = strdup(s);
    return *slot ? RP_OK : RP_ENOMEM;
}

static void rule_release(struct rp__guard_rule *r)
{
    free(r->id);
    free(r->category);
    free(r->message);
    free(r->pattern);
    free(r->replacement);
    free(r->starts_with);
    free(r->file);
}

static const char *const rule_keys[] = {
    "id",   "direction", "category",    "score",    "pattern", "message",     "caseless",
    "utf8", "modify",    "replacement", "validate", "hold",    "starts_with", NULL};

/* One key of a rule. */
static int rule_key(struct pack *pk, struct rp__guard_rule *r, const char *key,
                    const yaml_node_t *vn)
{
    const char *v = scalar(vn);
    if (!v)
        return fail(pk, vn, "'%s' must be a single value", key);
    if (!strcmp(key, "id")) {
        if (!valid_id(v))
            return fail(pk, vn, "rule id '%.60s' must be 1 to 64 of a-z, 0-9, '-' and '_'", v);
        return dup_to(&r->id, v);
    }
    if (!strcmp(key, "direction")) {
        if (!strcmp(v, "input"))
            r->dirs = 1u << RP_GUARD_INPUT;
        else if (!strcmp(v, "output"))
            r->dirs = 1u << RP_GUARD_OUTPUT;
        else if (!strcmp(v, "both"))
            r->dirs = (1u << RP_GUARD_INPUT) | (1u << RP_GUARD_OUTPUT);
        else
            return fail(pk, vn, "'direction' must be input, output or both, not '%.60s'", v);
        return RP_OK;
    }
    if (!strcmp(key, "score")) {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d) || d < 0 || d > 1000)
            return fail(pk, vn, "'score' must be a number from 0 to 1000, not '%.60s'", v);
        r->points = d;
        return RP_OK;
    }
    if (!strcmp(key, "caseless") || !strcmp(key, "utf8")) {
        bool b;
        if (parse_bool(v, &b))
            return fail(pk, vn, "'%s' must be true or false", key);
        *(key[0] == 'c' ? &r->caseless : &r->utf8) = b;
        return RP_OK;
    }
    if (!strcmp(key, "modify")) {
        if (!strcmp(v, "redact"))
            r->modify = RP_GUARD_REDACT;
        else if (!strcmp(v, "defang"))
            r->modify = RP_GUARD_DEFANG;
        else
            return fail(pk, vn, "'modify' must be redact or defang, not '%.60s'", v);
        return RP_OK;
    }
    if (!strcmp(key, "validate")) {
        if (!strcmp(v, "luhn"))
            r->validate = V_LUHN;
        else if (!strcmp(v, "iban"))
            r->validate = V_IBAN;
        else if (!strcmp(v, "url"))
            r->validate = V_URL;
        else
            return fail(pk, vn, "'validate' must be luhn, iban or url, not '%.60s'", v);
        return RP_OK;
    }
    if (!strcmp(key, "hold")) {
        if (parse_class(v, r->hold))
            return fail(pk, vn,
                        "'hold' must be a character class such as '[A-Za-z0-9_-]', not '%.60s'", v);
        r->has_hold = true;
        return RP_OK;
    }
    if (!*v)
        return fail(pk, vn, "'%s' must not be empty", key);
    if (!strcmp(key, "replacement") || !strcmp(key, "message") || !strcmp(key, "category")) {
        if (!printable(v))
            return fail(pk, vn, "'%s' must not hold control characters", key);
        return dup_to(!strcmp(key, "replacement") ? &r->replacement
                      : key[0] == 'm'             ? &r->message
                                                  : &r->category,
                      v);
    }
    if (!strcmp(key, "starts_with"))
        return dup_to(&r->starts_with, v);
    return dup_to(&r->pattern, v);
}

/* An empty replacement is allowed (it deletes), so it is read before the emptiness check. */
static bool empty_replacement(const char *key, const yaml_node_t *vn)
{
    const char *v = scalar(vn);
    return !strcmp(key, "replacement") && v && !*v;
}

static int load_rule(struct pack *pk, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(pk, map, "each rule must be a mapping of keys (id, pattern, ...)");
    struct rp__guard_rules *rs = pk->rs;
    if (rs->n == RP_GUARD_MAX_RULES)
        return fail(pk, map, "too many rules (at most %d)", RP_GUARD_MAX_RULES);
    if (rs->n == rs->alloc) {
        size_t na = rs->alloc ? rs->alloc * 2 : 64;
        void *nv = realloc(rs->v, na * sizeof(*rs->v));
        if (!nv)
            return RP_ENOMEM;
        rs->v = nv;
        rs->alloc = na;
    }
    struct rp__guard_rule *r = &rs->v[rs->n];
    memset(r, 0, sizeof(*r));
    r->caseless = true;
    r->line = (unsigned)map->start_mark.line + 1;
    int result = dup_to(&r->file, pk->name);
    bool seen_score = false;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         !result && pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = yaml_document_get_node(pk->doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(pk->doc, pair->value);
        const char *key = scalar(kn);
        if (!key || !vn) {
            result = fail(pk, kn, "rule keys must be plain names");
            break;
        }
        size_t k = 0;
        while (rule_keys[k] && strcmp(rule_keys[k], key))
            k++;
        if (!rule_keys[k]) {
            result = fail(pk, kn,
                          "unknown rule key '%.40s' (known: id, direction, category, score, "
                          "pattern, message, caseless, utf8, modify, replacement, validate, hold, "
                          "starts_with)",
                          key);
            break;
        }
        seen_score |= !strcmp(key, "score");
        if (empty_replacement(key, vn))
            result = dup_to(&r->replacement, "");
        else
            result = rule_key(pk, r, key, vn);
    }
    static const char *const required[] = {"id", "direction", "category", "pattern", "message"};
    const void *have[] = {r->id, r->dirs ? r : NULL, r->category, r->pattern, r->message};
    for (size_t i = 0; !result && i < 5; i++)
        if (!have[i])
            result = fail(pk, map, "the rule has no '%s'", required[i]);
    if (!result && !seen_score)
        result = fail(pk, map, "the rule has no '%s'", "score");
    if (!result && r->replacement && r->modify != RP_GUARD_REDACT)
        result = fail(pk, map, "'replacement' needs 'modify: redact'");
    for (size_t i = 0; !result && i < rs->n; i++)
        if (!strcmp(rs->v[i].id, r->id)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "duplicate rule id '%s' (first in %s:%u)", r->id,
                     rs->v[i].file, rs->v[i].line);
            result = fail(pk, map, "%s", msg);
        }
    if (result) {
        rule_release(r);
        return result;
    }
    rs->n++;
    return RP_OK;
}

int rp__guard_rules_load(struct rp__guard_rules *rs, const char *name, const char *text, size_t len,
                         struct rp_error *err)
{
    if (len > RP_GUARD_MAX_RULE_FILE) {
        rp_error_set(err, "%s: a rule pack is at most 1 MiB", name);
        return RP_ETOOBIG;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return RP_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rp_error_set(err, "%s:%zu: %s", name, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not valid YAML");
        /* yaml_parser_delete clears the parser: the error is read before. */
        int result = parser.error == YAML_MEMORY_ERROR ? RP_ENOMEM : RP_EINVAL;
        yaml_parser_delete(&parser);
        return result;
    }
    struct pack pk = {rs, &doc, name, err};
    int result = RP_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *list = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        result = fail(&pk, root, "a rule pack is a mapping with the key 'rules'");
        goto out;
    }
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pair->key);
        const char *key = scalar(kn);
        if (!key || strcmp(key, "rules")) {
            result = fail(&pk, kn, "unknown key '%.40s' (a rule pack has only 'rules')",
                          key ? key : "?");
            goto out;
        }
        list = yaml_document_get_node(&doc, pair->value);
    }
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        result = fail(&pk, list ? list : root, "'rules' must be a list of rules");
        goto out;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         !result && it < list->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        if (item)
            result = load_rule(&pk, item);
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return result;
}

void rp__guard_rules_release(struct rp__guard_rules *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        rule_release(&rs->v[i]);
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}
