/* Pipfile.lock (pipenv): the pinned entries of its "default" and "develop" sections. */
#include "internal.h"

/* Pipfile.lock: "default" and "develop" map names to {"version": "==1.2.3", ...}. Entries with no
 * version (a path, a VCS checkout) are unpinned. */
static int pipfile_section(struct rp__inv_json *j, struct rp_buf *name,
                           struct rp__inv_lock_entry *e)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        struct rp_jsonv v;
        if ((result = rp_jsonr_keep(&j->r, name)) || (result = rp_jsonr_value(&j->r, &v)))
            return result;
        if (v.type != RP_JSON_OBJECT)
            return rp__inv_json_wrong(j, line, rp_buf_str(name), &v, "an object");
        if ((result = rp__inv_lock_entry_read(j, e, false)))
            return result;
        struct rp_str ver = e->has_version ? rp__inv_trim(rp_buf_str(&e->version)) : RP_STR_NULL;
        bool pinned = rp_str_has_prefix(ver, "==");
        if (pinned) {
            size_t op = rp_str_has_prefix(ver, "===") ? 3 : 2;
            ver = rp__inv_trim((struct rp_str){ver.ptr + op, ver.len - op});
        }
        result = rp__inv_add_pkg(j->c, RP_ECO_PYPI, rp_buf_str(name), pinned ? &ver : NULL, line);
        if (result)
            return result;
    }
    return result;
}

static int pipfile_root(struct rp__inv_json *j)
{
    struct rp_buf name;
    struct rp__inv_lock_entry e;
    rp_buf_init(&name, j->r.str.cap);
    rp__inv_lock_entry_init(&e, j->r.str.cap);
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if (!rp_jsonr_key_is(&j->r, "default") && !rp_jsonr_key_is(&j->r, "develop")) {
            if ((result = rp_jsonr_pass(&j->r)))
                break;
            continue;
        }
        const char *section = rp_jsonr_key_is(&j->r, "default") ? "default" : "develop";
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            break;
        if (v.type == RP_JSON_NULL)
            continue;
        if (v.type != RP_JSON_OBJECT) {
            result = rp__inv_json_wrong(j, line, rp_str_from_cstr(section), &v, "an object");
            break;
        }
        if ((result = pipfile_section(j, &name, &e)))
            break;
    }
    rp_buf_release(&name);
    rp__inv_lock_entry_release(&e);
    return result;
}

int rp__inv_read_pipfile_lock(struct rp__inv *c, struct rp_str text)
{
    return rp__inv_read_json(c, text, pipfile_root);
}
