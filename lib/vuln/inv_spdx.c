/* SPDX 2.3 JSON SBOMs: the purl references of their packages. */
#include "internal.h"

/* SPDX: packages[].externalRefs[] whose referenceType is "purl"; the locator may come before or
 * after the type. */
static int spdx_ref(struct rp__inv_json *j, struct rp_buf *loc)
{
    bool first = true, done, is_purl = false, has_type = false, has_loc = false;
    unsigned line, type_line = 0, loc_line = 0;
    struct rp_jsonv loc_v = {.type = RP_JSON_NULL};
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        bool type = rp_jsonr_key_is(&j->r, "referenceType"),
             locator = rp_jsonr_key_is(&j->r, "referenceLocator");
        if (!type && !locator) {
            if ((result = rp_jsonr_pass(&j->r)))
                return result;
            continue;
        }
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            return result;
        if (type) {
            if (v.type != RP_JSON_STRING)
                return rp__inv_json_wrong(j, line, RP_STR("referenceType"), &v, "a string");
            has_type = true;
            type_line = line;
            is_purl = rp_jsonr_key_is(&j->r, "purl");
        } else {
            has_loc = true;
            loc_line = line;
            loc_v = v;
            if (v.type == RP_JSON_STRING && (result = rp_jsonr_keep(&j->r, loc)))
                return result;
        }
        if ((result = rp_jsonr_finish(&j->r, &v)))
            return result;
    }
    if (result || !has_type || !is_purl)
        return result;
    if (!has_loc)
        return rp__inv_fail(j->c, type_line, "purl reference without \"referenceLocator\"");
    if (loc_v.type != RP_JSON_STRING)
        return rp__inv_json_wrong(j, loc_line, RP_STR("referenceLocator"), &loc_v, "a string");
    return rp__inv_add_purl(j->c, rp_buf_str(loc), loc_line);
}

static int spdx_package(struct rp__inv_json *j, struct rp_buf *loc)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if (!rp_jsonr_key_is(&j->r, "externalRefs")) {
            if ((result = rp_jsonr_pass(&j->r)))
                return result;
            continue;
        }
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            return result;
        if (v.type == RP_JSON_NULL)
            continue;
        if (v.type != RP_JSON_ARRAY)
            return rp__inv_json_wrong(j, line, RP_STR("externalRefs"), &v, "an array");
        bool efirst = true, edone;
        while (!(result = rp_jsonr_element(&j->r, &efirst, &edone)) && !edone) {
            struct rp_jsonv e;
            if ((result = rp_jsonr_value(&j->r, &e)))
                return result;
            if (e.type != RP_JSON_OBJECT)
                return rp__inv_fail(j->c, e.line, "\"externalRefs\" holds %s, not an object",
                                    rp_json_type_name(e.type));
            if ((result = spdx_ref(j, loc)))
                return result;
        }
        if (result)
            return result;
    }
    return result;
}

static int spdx_root(struct rp__inv_json *j)
{
    struct rp_buf loc;
    rp_buf_init(&loc, j->r.str.cap);
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if (!rp_jsonr_key_is(&j->r, "packages")) {
            if ((result = rp_jsonr_pass(&j->r)))
                break;
            continue;
        }
        struct rp_jsonv v;
        if ((result = rp_jsonr_value(&j->r, &v)))
            break;
        if (v.type == RP_JSON_NULL)
            continue;
        if (v.type != RP_JSON_ARRAY) {
            result = rp__inv_json_wrong(j, line, RP_STR("packages"), &v, "an array");
            break;
        }
        bool pfirst = true, pdone;
        while (!(result = rp_jsonr_element(&j->r, &pfirst, &pdone)) && !pdone) {
            struct rp_jsonv e;
            if ((result = rp_jsonr_value(&j->r, &e)))
                break;
            if (e.type != RP_JSON_OBJECT) {
                result = rp__inv_fail(j->c, e.line, "\"packages\" holds %s, not an object",
                                      rp_json_type_name(e.type));
                break;
            }
            if ((result = spdx_package(j, &loc)))
                break;
        }
        if (result)
            break;
    }
    rp_buf_release(&loc);
    return result;
}

int rp__inv_read_spdx(struct rp__inv *c, struct rp_str text)
{
    return rp__inv_read_json(c, text, spdx_root);
}

/* A *.json file that says "spdxVersion" before any "bomFormat". */
bool rp__inv_is_spdx(const char *path, struct rp_str base, struct rp_str head)
{
    (void)path;
    return rp__inv_json_says(base, head, "\"spdxVersion\"", "\"bomFormat\"");
}
