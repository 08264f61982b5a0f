/* CycloneDX JSON SBOMs: the "components" array, each component's purl and its nested
 * components. */
#include "internal.h"

static int cdx_component(struct rp__inv_json *j);

static int cdx_components(struct rp__inv_json *j, unsigned line)
{
    struct rp_jsonv v;
    int result = rp_jsonr_value(&j->r, &v);
    if (result || v.type == RP_JSON_NULL)
        return result;
    if (v.type != RP_JSON_ARRAY)
        return rp__inv_json_wrong(j, line, RP_STR("components"), &v, "an array");
    bool first = true, done;
    while (!(result = rp_jsonr_element(&j->r, &first, &done)) && !done) {
        struct rp_jsonv e;
        if ((result = rp_jsonr_value(&j->r, &e)))
            return result;
        if (e.type != RP_JSON_OBJECT)
            return rp__inv_fail(j->c, e.line, "\"components\" holds %s, not an object",
                                rp_json_type_name(e.type));
        if ((result = cdx_component(j)))
            return result;
    }
    return result;
}

static int cdx_component(struct rp__inv_json *j)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        if (rp_jsonr_key_is(&j->r, "purl")) {
            struct rp_jsonv v;
            if ((result = rp_jsonr_value(&j->r, &v)))
                return result;
            if (v.type == RP_JSON_STRING)
                result = rp__inv_add_purl(j->c, rp_buf_str(&j->r.str), line);
            else if (v.type != RP_JSON_NULL)
                return rp__inv_json_wrong(j, line, RP_STR("purl"), &v, "a string");
        } else if (rp_jsonr_key_is(&j->r, "components")) {
            result = cdx_components(j, line);
        } else {
            result = rp_jsonr_pass(&j->r);
        }
        if (result)
            return result;
    }
    return result;
}

/* metadata.component is the thing the SBOM describes (the application itself), not one of its
 * dependencies, so only the top-level "components" are read. */
static int cdx_root(struct rp__inv_json *j)
{
    bool first = true, done;
    unsigned line;
    int result;
    while (!(result = rp_jsonr_member(&j->r, &first, &done, &line)) && !done) {
        result =
            rp_jsonr_key_is(&j->r, "components") ? cdx_components(j, line) : rp_jsonr_pass(&j->r);
        if (result)
            return result;
    }
    return result;
}

int rp__inv_read_cyclonedx(struct rp__inv *c, struct rp_str text)
{
    return rp__inv_read_json(c, text, cdx_root);
}

/* A *.json file that says "bomFormat" before any "spdxVersion". */
bool rp__inv_is_cyclonedx(const char *path, struct rp_str base, struct rp_str head)
{
    (void)path;
    return rp__inv_json_says(base, head, "\"bomFormat\"", "\"spdxVersion\"");
}
