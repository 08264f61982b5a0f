/* What the JSON inventory formats share: reading the object a file is, the error of a member
 * of the wrong type, recognising an SBOM by its content, and the entries of lock files. */
#include <string.h>

#include "internal.h"

int rp__inv_json_wrong(struct rp__inv_json *j, unsigned line, struct rp_str key,
                       const struct rp_jsonv *v, const char *want)
{
    char ex[64];
    return rp__inv_fail(j->c, line, "\"%s\" is %s, not %s", rp_str_excerpt(key, ex, sizeof(ex)),
                        rp_json_type_name(v->type), want);
}

/* The position of needle in s, or s.len. */
static size_t find(struct rp_str s, const char *needle)
{
    const char *hit = memmem(s.ptr, s.len, needle, strlen(needle));
    return hit ? (size_t)(hit - s.ptr) : s.len;
}

bool rp__inv_json_says(struct rp_str base, struct rp_str head, const char *mine, const char *other)
{
    return rp__inv_has_suffix(base, ".json") && head.ptr && find(head, mine) < find(head, other);
}

int rp__inv_lock_entry_read(struct rp__inv_json *j, struct rp__inv_lock_entry *e, bool npm)
{
    e->has_version = e->has_name = e->link = false;
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        bool version = rp_jsonr_key_is(&j->r, "version");
        bool name = npm && rp_jsonr_key_is(&j->r, "name");
        bool link = npm && rp_jsonr_key_is(&j->r, "link");
        if (!version && !name && !link) {
            if ((result = rp_jsonr_pass(&j->r)))
                return result;
            continue;
        }
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            return result;
        if (link) {
            e->link = v.type == RP_JSON_TRUE;
            result = rp_jsonr_finish(&j->r, &v);
        } else if (v.type != RP_JSON_STRING) {
            return rp__inv_json_wrong(j, line, version ? RP_STR("version") : RP_STR("name"), &v,
                                      "a string");
        } else if (version) {
            e->has_version = true;
            result = rp_jsonr_keep(&j->r, &e->version);
        } else {
            e->has_name = true;
            result = rp_jsonr_keep(&j->r, &e->name);
        }
        if (result)
            return result;
    }
    return result;
}

void rp__inv_lock_entry_init(struct rp__inv_lock_entry *e, size_t cap)
{
    memset(e, 0, sizeof(*e));
    rp_buf_init(&e->version, cap);
    rp_buf_init(&e->name, cap);
}

void rp__inv_lock_entry_release(struct rp__inv_lock_entry *e)
{
    rp_buf_release(&e->version);
    rp_buf_release(&e->name);
}

int rp__inv_read_json(struct rp__inv *c, struct rp_str text, rp__inv_json_fn reader)
{
    struct rp__inv_json j = {.c = c};
    rp_jsonr_init(&j.r, text, c->err);
    struct rp_jsonv root;
    int result = rp_jsonr_value(&j.r, &root);
    if (!result && root.type != RP_JSON_OBJECT)
        result = rp__inv_fail(c, root.line, "the file is %s, not a JSON object",
                              rp_json_type_name(root.type));
    if (!result)
        result = reader(&j);
    if (!result)
        result = rp_jsonr_end(&j.r);
    rp_jsonr_release(&j.r);
    return result;
}

int rp__inventory_json_check(struct rp_str text, struct rp_error *err)
{
    struct rp_jsonr j;
    rp_jsonr_init(&j, text, err);
    struct rp_jsonv root;
    int result = rp_jsonr_value(&j, &root);
    if (!result)
        result = rp_jsonr_finish(&j, &root);
    if (!result)
        result = rp_jsonr_end(&j);
    rp_jsonr_release(&j);
    return result;
}
