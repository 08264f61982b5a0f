/* The TOML lock files, poetry.lock and Cargo.lock: the name, version and (Cargo) source of each
 * [[package]] table, through the TOML reader of rampart/toml.h. */
#include "internal.h"
#include "rampart/toml.h"

/* The fields of the [[package]] being read. */
struct toml_pkg {
    bool active;
    unsigned header_line, name_line;
    bool has_name, has_version, has_source;
    struct rp_buf name, version, source;
};

static void toml_pkg_reset(struct toml_pkg *pk)
{
    pk->active = false;
    pk->has_name = pk->has_version = pk->has_source = false;
    rp_buf_reset(&pk->name);
    rp_buf_reset(&pk->version);
    rp_buf_reset(&pk->source);
}

/* The [[package]] just read is complete. Cargo.lock lists the workspace's own crates too, with
 * no "source": they are not from crates.io and are left out. */
static int toml_pkg_finish(struct rp__inv *c, struct toml_pkg *pk, enum rp_eco eco)
{
    if (!pk->active)
        return RP_OK;
    pk->active = false;
    if (!pk->has_name)
        return rp__inv_fail(c, pk->header_line, "[[package]] without a name");
    char ex[64];
    if (!pk->has_version)
        return rp__inv_fail(c, pk->header_line, "package '%s' without a version",
                            rp_str_excerpt(rp_buf_str(&pk->name), ex, sizeof(ex)));
    if (eco == RP_ECO_CRATES && !pk->has_source)
        return RP_OK;
    struct rp_str v = rp_buf_str(&pk->version);
    return rp__inv_add_pkg(c, eco, rp_buf_str(&pk->name), &v, pk->name_line);
}

/* A key/value line; inside a [[package]], name, version and (Cargo.lock) source are kept:
 * poetry.lock's source is a table of its own that rampart does not read. */
static int toml_keyval(struct rp__inv *c, struct rp_toml *t, const struct rp_toml_item *it,
                       struct toml_pkg *pk, enum rp_eco eco)
{
    struct rp_buf *out = NULL;
    bool *has = NULL;
    const char *field = NULL;
    if (pk->active) {
        if (rp_toml_key_is(it, "name"))
            out = &pk->name, has = &pk->has_name, field = "name";
        else if (rp_toml_key_is(it, "version"))
            out = &pk->version, has = &pk->has_version, field = "version";
        else if (eco == RP_ECO_CRATES && rp_toml_key_is(it, "source"))
            out = &pk->source, has = &pk->has_source, field = "source";
    }
    if (has && *has)
        return rp__inv_fail(c, it->line, "duplicate key '%s'", field);
    enum rp_toml_type type;
    int result = rp_toml_value(t, out, &type);
    if (result || !has)
        return result;
    if (type != RP_TOML_STRING)
        return rp__inv_fail(c, it->line, "'%s' is not a string", field);
    *has = true;
    if (out == &pk->name)
        pk->name_line = it->line;
    return RP_OK;
}

/* The "name", "version" and (Cargo.lock) "source" strings of each [[package]] table, read by the
 * TOML reader of rampart/toml.h, which checks the rest as TOML. */
static int read_toml_lock(struct rp__inv *c, struct rp_str text, enum rp_eco eco)
{
    struct rp_toml t;
    struct toml_pkg pk = {0};
    rp_toml_init(&t, text, c->err);
    rp_buf_init(&pk.name, text.len + 1);
    rp_buf_init(&pk.version, text.len + 1);
    rp_buf_init(&pk.source, text.len + 1);
    struct rp_toml_item it;
    int result;
    while (!(result = rp_toml_next(&t, &it)) && it.kind != RP_TOML_END) {
        if (it.kind == RP_TOML_KEY) {
            result = toml_keyval(c, &t, &it, &pk, eco);
        } else {
            result = toml_pkg_finish(c, &pk, eco);
            if (!result && it.kind == RP_TOML_ARRAY_TABLE && rp_toml_key_is(&it, "package")) {
                toml_pkg_reset(&pk);
                pk.active = true;
                pk.header_line = it.line;
            }
        }
        if (result)
            break;
    }
    if (!result)
        result = toml_pkg_finish(c, &pk, eco);
    rp_toml_release(&t);
    rp_buf_release(&pk.name);
    rp_buf_release(&pk.version);
    rp_buf_release(&pk.source);
    return result;
}

int rp__inv_read_poetry_lock(struct rp__inv *c, struct rp_str text)
{
    return read_toml_lock(c, text, RP_ECO_PYPI);
}

int rp__inv_read_cargo_lock(struct rp__inv *c, struct rp_str text)
{
    return read_toml_lock(c, text, RP_ECO_CRATES);
}
