/* libFuzzer target: the inventory readers of `rampart vulns`. The first byte picks the format
 * (0-8: CycloneDX ... dpkg status in enum order; 9: a package URL alone; 10: the JSON reader
 * against jansson), the rest is the file. Besides crashes and sanitizer reports, it aborts when
 * a result breaks the API's promises: a failed parse must leave the inventory as it was with a
 * "line N: " message, every package must have a name, a version unless unpinned, and a line of
 * the file; and the JSON reader must accept exactly what jansson accepts. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/vuln/internal.h"

static size_t count_lines(struct rp_str text)
{
    size_t n = 1;
    for (size_t i = 0; i < text.len; i++)
        n += text.ptr[i] == '\n';
    return n;
}

static bool is_json_format(enum rp_inv_format f)
{
    return f == RP_INV_CYCLONEDX || f == RP_INV_SPDX || f == RP_INV_PIPFILE_LOCK ||
           f == RP_INV_NPM_LOCK;
}

/* Whether jansson refuses text for a reason the inventory's reader does not share: numbers out
 * of the range of its integer and double types (the reader never converts numbers). */
static bool jansson_range_error(const json_error_t *e)
{
    return strstr(e->text, "too big") || strstr(e->text, "overflow");
}

static void check_json(struct rp_str text)
{
    struct rp_error err = {{0}};
    int mine = rp__inventory_json_check(text, &err);
    json_error_t jerr;
    json_t *root = json_loadb(text.ptr, text.len, JSON_DECODE_ANY, &jerr);
    if (!mine && !root && !jansson_range_error(&jerr))
        abort(); /* accepted what is not JSON */
    /* jansson takes a NUL right after a top-level number for the end of the input ("6\0"). */
    bool jansson_nul = text.len && memchr(text.ptr, '\0', text.len);
    if (mine && root && !strstr(err.msg, "nested more than") && !jansson_nul)
        abort(); /* refused valid JSON */
    if (mine && strncmp(err.msg, "line ", 5) != 0)
        abort();
    json_decref(root);
}

static void check_purl(struct rp_str text)
{
    struct rp__purl p;
    struct rp_error err = {{0}};
    int rc = rp__purl_parse(text, &p, &err);
    if (rc == RP_OK) {
        if (!p.name || !p.name[0] || (p.version && !p.version[0]))
            abort();
        rp__purl_release(&p);
    } else if (rc != RP_EINVAL && rc != RP_ENOMEM) {
        abort();
    } else if (p.name || p.version) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 11;
    struct rp_str text = {(const char *)data + 1, size - 1};
    if (sel == 9) {
        check_purl(text);
        return 0;
    }
    if (sel == 10) {
        check_json(text);
        return 0;
    }
    enum rp_inv_format f = (enum rp_inv_format)(sel + 1);
    (void)rp_inventory_detect("fuzz.json", text);

    /* One package already in the inventory: a failed parse must leave it alone. */
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    struct rp_error err = {{0}};
    if (rp_inventory_parse(&inv, RP_INV_REQUIREMENTS, "first", RP_STR("first==1\n"), &err) != 0 ||
        inv.n != 1)
        abort();
    int rc = rp_inventory_parse(&inv, f, "fuzz", text, &err);
    if (rc) {
        if (rc != RP_EINVAL && rc != RP_ENOMEM && rc != RP_ETOOBIG)
            abort();
        if (inv.n != 1 || inv.nsources != 1 || strcmp(inv.pkgs[0].name, "first") != 0)
            abort();
        if (rc == RP_EINVAL && strncmp(err.msg, "line ", 5) != 0)
            abort();
    } else {
        size_t lines = count_lines(text);
        for (size_t i = 1; i < inv.n; i++) {
            const struct rp_pkg *p = &inv.pkgs[i];
            if (!p->name || !p->name[0] || strlen(p->name) > 4096)
                abort();
            if (p->unpinned != !p->version || (p->version && !p->version[0]))
                abort();
            if (p->line < 1 || p->line > lines || strcmp(p->source, "fuzz") != 0)
                abort();
        }
        /* What the JSON formats read must be JSON (a byte order mark aside). */
        if (is_json_format(f)) {
            struct rp_str t = text;
            if (rp_str_has_prefix(t, "\xef\xbb\xbf")) {
                t.ptr += 3;
                t.len -= 3;
            }
            json_error_t jerr;
            json_t *root = json_loadb(t.ptr, t.len, 0, &jerr);
            if (!root && !jansson_range_error(&jerr))
                abort();
            json_decref(root);
        }
    }
    rp_inventory_release(&inv);
    return 0;
}
