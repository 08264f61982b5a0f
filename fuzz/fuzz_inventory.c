/* libFuzzer target: the inventory readers of `rampart vulns`. The first byte picks the format
 * (0-8: CycloneDX ... dpkg status in enum order; 9: a package URL alone; 10: the JSON reader
 * against jansson; 11: a dpkg status.d file; 12: an opkg status file; 13: a requirements.txt
 * with the files it includes, below), the rest is the file. Besides crashes and sanitizer
 * reports, it aborts when a result breaks the API's promises: a failed parse must leave the
 * inventory as it was with a "line N: " message, every package must have a name, a version
 * unless unpinned, and a line of the file; and the JSON reader must accept exactly what jansson
 * accepts.
 *
 * For 13 the input is several files: the first is "r/requirements.txt", and each line
 * "@@ PATH" starts the file PATH (as the include resolves it, "r/base.txt" for "-r base.txt");
 * an include of a path not given fails to read. Packages must name one of those files, and a
 * line within it. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
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

/* The files of a selector-13 input: up to MAX_VFILES, each a path and its text. */
#define MAX_VFILES 16
struct vfs {
    size_t n;
    char path[MAX_VFILES][128];
    struct rp_str text[MAX_VFILES];
};

static void vfs_split(struct rp_str in, struct vfs *v)
{
    v->n = 1;
    snprintf(v->path[0], sizeof(v->path[0]), "r/requirements.txt");
    v->text[0] = (struct rp_str){in.ptr, 0};
    const char *p = in.ptr, *end = in.ptr + in.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        if (end - p >= 3 && !memcmp(p, "@@ ", 3) && v->n < MAX_VFILES) {
            size_t len = (size_t)((nl ? nl : end) - p - 3);
            if (len >= sizeof(v->path[0]))
                len = sizeof(v->path[0]) - 1;
            memcpy(v->path[v->n], p + 3, len);
            v->path[v->n][len] = '\0';
            v->text[v->n] = (struct rp_str){next, 0};
            v->n++;
        } else {
            v->text[v->n - 1].len = (size_t)(next - v->text[v->n - 1].ptr);
        }
        p = next;
    }
}

static int vfs_read(void *arg, const char *path, char **text, size_t *len, char *id, size_t idcap,
                    struct rp_error *err)
{
    const struct vfs *v = arg;
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->path[i], path) != 0)
            continue;
        /* A copy of exactly the file's size, so that reading past it is an ASan error. */
        *text = malloc(v->text[i].len ? v->text[i].len : 1);
        if (!*text)
            return RP_ENOMEM;
        memcpy(*text, v->text[i].ptr, v->text[i].len);
        *len = v->text[i].len;
        snprintf(id, idcap, "%s", path);
        return RP_OK;
    }
    rp_error_set(err, "unable to read '%s'", path);
    return RP_ENOTFOUND;
}

static void check_includes(struct rp_str text)
{
    struct vfs v;
    vfs_split(text, &v);
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    struct rp_error err = {{0}};
    const struct rp_inventory_options opt = {vfs_read, &v, NULL};
    int rc = rp_inventory_parse_ex(&inv, RP_INV_REQUIREMENTS, v.path[0], v.text[0], &opt, &err);
    if (rc) {
        if (rc != RP_EINVAL && rc != RP_ENOMEM && rc != RP_ETOOBIG)
            abort();
        if (inv.n || inv.nsources)
            abort();
        if (rc == RP_EINVAL && strncmp(err.msg, "line ", 5) != 0)
            abort();
    }
    for (size_t i = 0; i < inv.n; i++) {
        const struct rp_pkg *p = &inv.pkgs[i];
        if (!p->name || !p->name[0] || p->unpinned != !p->version)
            abort();
        size_t f = 0;
        while (f < v.n && strcmp(v.path[f], p->source) != 0)
            f++;
        if (f == v.n || p->line < 1 || p->line > count_lines(v.text[f]))
            abort();
    }
    rp_inventory_release(&inv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 14;
    struct rp_str text = {(const char *)data + 1, size - 1};
    if (sel == 9) {
        check_purl(text);
        return 0;
    }
    if (sel == 10) {
        check_json(text);
        return 0;
    }
    if (sel == 13) {
        check_includes(text);
        return 0;
    }
    enum rp_inv_format f = sel == 11   ? RP_INV_DPKG_STATUS_D
                           : sel == 12 ? RP_INV_OPKG_STATUS
                                       : (enum rp_inv_format)(sel + 1);
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
