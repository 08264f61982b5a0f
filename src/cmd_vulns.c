/* `rampart vulns`: which known vulnerabilities (OSV advisories) affect the packages listed in
 * lock files, SBOMs and package databases, and the smallest upgrade that fixes them. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "rampart/vuln.h"

/* An inventory file larger than this is refused (a 10,000-package SBOM is a few MB). */
#define INVENTORY_MAX RP_INV_FILE_MAX
#define WALK_DEPTH 32

enum output { OUT_TABLE, OUT_JSON, OUT_SARIF };

/* Exit status of a scan in which no package could be checked (all of them unpinned, or of
 * ecosystems the database has no advisories for or whose versions rampart cannot order): it is
 * neither clean (0) nor vulnerable (1), and a pipeline must not take it for clean. */
#define EXIT_UNCHECKED 3

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rampart vulns [--db DIR] [--json | --sarif] [--index FILE] [--rebuild-index]\n"
            "                     [--ignore ID]... [--ignore-file FILE] [--debian-release N]\n"
            "                     PATH...\n"
            "       rampart vulns --list [--json] PATH...\n"
            "\n"
            "Lists the known vulnerabilities (OSV advisories) of the packages that PATH lists,\n"
            "and for each vulnerable package the smallest version that fixes them all.\n"
            "A PATH is a file or a folder (walked for the file names below).\n"
            "\n"
            "Inventories: CycloneDX JSON and SPDX 2.3 JSON (package URLs), requirements*.txt,\n"
            "poetry.lock, Pipfile.lock, go.mod, package-lock.json (v1-v3), Cargo.lock, and a\n"
            "dpkg status file (/var/lib/dpkg/status).\n"
            "\n"
            "  --db DIR          the advisory database: osv.dev's offline layout\n"
            "                    (<Ecosystem>/all.zip), a folder of .json records, or one .zip;\n"
            "                    default $RAMPART_VULNS_DB\n"
            "  --json            one JSON object {\"results\": [...], \"summary\": {...}}\n"
            "  --sarif           SARIF 2.1.0, for code-scanning tools\n"
            "  --index FILE      where the database's index is kept (default: in DIR when it\n"
            "                    is yours and only you can write to it, else ~/.cache/rampart)\n"
            "  --rebuild-index   build the index anew even when it is current\n"
            "  --ignore ID       leave out the advisory with this id or alias (an accepted\n"
            "                    risk; repeatable)\n"
            "  --ignore-file F   the same for each id in F, one a line ('#' comments)\n"
            "  --debian-release N  match dpkg packages only against Debian N's advisories\n"
            "                    (and release-less ones); default: VERSION_ID of the\n"
            "                    etc/os-release beside a ROOT/var/lib/dpkg/status read\n"
            "  --list            only list the packages PATH holds (no database needed)\n"
            "  -h, --help        this text\n"
            "\n"
            "Packages that cannot be checked (no pinned version, an ecosystem the database\n"
            "has no advisories for or whose versions rampart cannot order) are listed apart,\n"
            "each with why.\n"
            "\n"
            "Exit status: 0 nothing found, 1 vulnerable packages found, 2 usage or input error,\n"
            "3 no package could be checked.\n");
}

/* ---- reading the inventories ---- */

struct scan {
    struct rp_inventory inv;
    size_t files;
    char release[32]; /* the Debian release read beside a dpkg status file, or "" */
};

/* The Debian release of the system a dpkg status file belongs to: for ROOT/var/lib/dpkg/status
 * (or a file of ROOT/var/lib/dpkg/status.d/), VERSION_ID of ROOT/etc/os-release when its ID is
 * debian. Writes "" when it cannot tell. */
static void debian_release_of(const char *status_path, char *out, size_t cap)
{
    static const char tail[] = "var/lib/dpkg/status";
    size_t n = strlen(status_path), t = sizeof(tail) - 1;
    out[0] = '\0';
    const char *d = strstr(status_path, "var/lib/dpkg/status.d/");
    if (d && (d == status_path || d[-1] == '/') && !strchr(d + t + 3, '/'))
        n = (size_t)(d - status_path) + t; /* ROOT/var/lib/dpkg/status.d/NAME */
    if (n < t || strncmp(status_path + n - t, tail, t) || (n > t && status_path[n - t - 1] != '/'))
        return;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%.*setc/os-release", (int)(n - t), status_path) >=
        (int)sizeof(path))
        return;
    char *text = NULL;
    size_t len = 0;
    struct rp_error err;
    if (rp_file_read(path, 64u << 10, &text, &len, &err))
        return;
    rp_vuln_debian_release((struct rp_str){text, len}, out, cap);
    free(text);
}

/* Reads one inventory file. explicit: named on the command line (an unknown format is an
 * error); else found by the walk (an unknown file is skipped). */
static int read_inventory(struct scan *s, const char *path, bool explicit)
{
    char *text = NULL;
    size_t len = 0;
    struct rp_error err = {{0}};
    int result = rp_file_read(path, INVENTORY_MAX, &text, &len, &err);
    if (result) {
        fprintf(stderr, "rampart vulns: %s\n", err.msg[0] ? err.msg : "cannot read the inventory");
        return CMD_EXIT_USAGE;
    }
    struct rp_str head = {text, len < 4096 ? len : 4096};
    enum rp_inv_format f = rp_inventory_detect(path, head);
    /* A file called "status" found by the walk is dpkg's (or opkg's) only if it reads like it. */
    if ((f == RP_INV_DPKG_STATUS || f == RP_INV_DPKG_STATUS_D || f == RP_INV_OPKG_STATUS) &&
        !explicit && strncmp(text, "Package: ", 9) &&
        !memmem(head.ptr, head.len, "\nPackage: ", 10))
        f = RP_INV_UNKNOWN;
    if (f == RP_INV_UNKNOWN) {
        free(text);
        if (!explicit)
            return CMD_EXIT_OK;
        fprintf(stderr,
                "rampart vulns: '%s': not an inventory rampart reads (see rampart vulns --help)\n",
                path);
        return CMD_EXIT_USAGE;
    }
    /* Included files (requirements.txt's -r and -c) are read as pip reads them. */
    char real[PATH_MAX];
    struct rp_inventory_options opt = {rp_inventory_read_file, NULL,
                                       realpath(path, real) ? real : NULL};
    result = rp_inventory_parse_ex(&s->inv, f, path, (struct rp_str){text, len}, &opt, &err);
    free(text);
    if (result) {
        fprintf(stderr, "rampart vulns: %s: %s\n", path,
                err.msg[0] ? err.msg : rp_strerror(result));
        return CMD_EXIT_USAGE;
    }
    s->files++;
    if ((f == RP_INV_DPKG_STATUS || f == RP_INV_DPKG_STATUS_D) && !s->release[0])
        debian_release_of(path, s->release, sizeof(s->release));
    return CMD_EXIT_OK;
}

/* Whether the package manager reads another file beside path instead of it
 * (rp_inventory_superseded_by): the walk leaves path out, a path named on the command line is
 * read as asked; either way standard error says so. */
static bool superseded(const char *path, bool walking)
{
    const char *by = rp_inventory_superseded_by(path);
    if (!by)
        return false;
    const char *slash = strrchr(path, '/');
    char other[PATH_MAX];
    struct stat st;
    if (snprintf(other, sizeof(other), "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, by) >=
            (int)sizeof(other) ||
        stat(other, &st) || !S_ISREG(st.st_mode))
        return false;
    if (walking)
        fprintf(stderr, "rampart vulns: note: %s not read: npm installs from %s beside it\n", path,
                other);
    else
        fprintf(stderr,
                "rampart vulns: warning: %s: npm ignores this file and installs from %s beside "
                "it\n",
                path, other);
    return walking;
}

static int walk(struct scan *s, const char *dir, int depth)
{
    /* In name order, so that output does not depend on the file system. */
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "rampart vulns: cannot read the folder '%s': %s\n", dir, strerror(errno));
        return CMD_EXIT_USAGE;
    }
    int status = CMD_EXIT_OK;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[PATH_MAX];
        struct stat st;
        if (status == CMD_EXIT_OK && name[0] != '.' && strcmp(name, "node_modules") &&
            snprintf(path, sizeof(path), "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                     name) < (int)sizeof(path) &&
            lstat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH)
                status = walk(s, path, depth + 1);
            else if (S_ISREG(st.st_mode) && superseded(path, true))
                ; /* npm reads the npm-shrinkwrap.json beside it instead */
            else if (S_ISREG(st.st_mode) &&
                     rp_inventory_detect(path, RP_STR_NULL) != RP_INV_UNKNOWN)
                status = read_inventory(s, path, false);
            else if (S_ISREG(st.st_mode) && strstr(name, ".json"))
                status = read_inventory(s, path, false); /* SBOMs are told by their content */
        }
        free(names[i]);
    }
    free(names);
    return status;
}

/* ---- output ---- */

/* What the report says besides the matches: the accepted risks given, for their warnings. */
struct ignores {
    char **v;
    const char **from; /* where each came from: the --ignore-file's path, NULL for --ignore */
    size_t n;
};

static const char *rating(double score)
{
    return score < 0 ? "unknown" : rp_cvss_rating(score);
}

static json_t *severity_json(const struct rp_vuln_advisory *a)
{
    if (!a->severity)
        return json_null();
    return json_pack("{s:s, s:s, s:f, s:s}", "type",
                     !strncmp(a->severity, "CVSS:4", 6) ? "CVSS_V4" : "CVSS_V3", "vector",
                     a->severity, "score", a->score, "rating", rating(a->score));
}

/* Whether copy j of a package is declared where an earlier copy is (a file read twice: by the
 * walk and through another file's -r), which is one location, not two. */
static bool seen_location(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                          size_t first, size_t j)
{
    const struct rp_pkg *q = &inv->pkgs[j];
    for (size_t i = first; i != j; i = rep->same[i]) {
        const struct rp_pkg *p = &inv->pkgs[i];
        if (p->line == q->line && !strcmp(p->source ? p->source : "", q->source ? q->source : "") &&
            !strcmp(p->path ? p->path : "", q->path ? q->path : ""))
            return true;
    }
    return false;
}

/* The next location of the package whose first copy is first, after i (SIZE_MAX: none). */
static size_t next_location(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                            size_t first, size_t i)
{
    for (i = rep->same[i]; i != SIZE_MAX && seen_location(inv, rep, first, i); i = rep->same[i])
        ;
    return i;
}

static size_t count_locations(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                              size_t first)
{
    size_t n = 0;
    for (size_t i = first; i != SIZE_MAX; i = next_location(inv, rep, first, i))
        n++;
    return n;
}

static void source_text(const struct rp_pkg *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%u", p->source ? p->source : "", p->line);
}

/* One location as the table writes it: "file:line", or "file:line (node_modules/x)". */
static void location_text(const struct rp_pkg *p, char *out, size_t cap)
{
    if (p->path)
        snprintf(out, cap, "%s:%u (%s)", p->source ? p->source : "", p->line, p->path);
    else
        source_text(p, out, cap);
}

static json_t *locations_json(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                              size_t first)
{
    json_t *a = json_array();
    for (size_t i = first; i != SIZE_MAX; i = next_location(inv, rep, first, i)) {
        const struct rp_pkg *p = &inv->pkgs[i];
        char src[PATH_MAX + 32];
        source_text(p, src, sizeof(src));
        json_t *o = json_pack("{s:s}", "source", src);
        if (p->path)
            json_object_set_new(o, "path", json_string(p->path));
        json_array_append_new(a, o);
    }
    return a;
}

/* Why a package was not checked, as a sentence's end. */
static void unchecked_text(const struct rp_pkg *p, enum rp_vuln_skip why, char *out, size_t cap)
{
    switch (why) {
    case RP_VULN_UNPINNED: snprintf(out, cap, "%s", p->why ? p->why : "no pinned version"); break;
    case RP_VULN_UNORDERED:
        snprintf(out, cap, "rampart cannot order the versions of its ecosystem");
        break;
    case RP_VULN_NO_ADVISORIES:
        snprintf(out, cap, "the database has no %s advisories%s", rp_eco_name(p->eco),
                 p->eco == RP_ECO_OPENWRT ? " (OSV publishes none)" : "");
        break;
    }
}

static json_t *unchecked_json(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                              const struct rp_vuln_unchecked *u)
{
    const struct rp_pkg *p = &inv->pkgs[u->pkg];
    char src[PATH_MAX + 32], why[256];
    source_text(p, src, sizeof(src));
    unchecked_text(p, u->why, why, sizeof(why));
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:s, s:o}", "source", src, "ecosystem", rp_eco_name(p->eco),
        "name", p->name, "version", p->version ? json_string(p->version) : json_null(), "reason",
        rp_vuln_skip_name(u->why), "why", why, "locations", locations_json(inv, rep, u->pkg));
}

static json_t *ignore_list_json(const struct ignores *ig, const struct rp_vuln_report *rep,
                                enum rp_vuln_ignore_use use)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ig->n; i++)
        if (rep->ignore_use[i] == use)
            json_array_append_new(a, json_string(ig->v[i]));
    return a;
}

static json_t *report_json(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                           const struct ignores *ig)
{
    json_t *results = json_array();
    for (size_t i = 0; i < rep->n; i++) {
        const struct rp_vuln_result *r = &rep->results[i];
        const struct rp_pkg *p = &inv->pkgs[r->pkg];
        json_t *advs = json_array();
        for (size_t k = 0; k < r->nadv; k++) {
            const struct rp_vuln_advisory *a = &r->adv[k];
            json_t *aliases = json_array();
            for (size_t j = 0; j < a->naliases; j++)
                json_array_append_new(aliases, json_string(a->aliases[j]));
            json_array_append_new(advs, json_pack("{s:s, s:o, s:s, s:o, s:o}", "id", a->id,
                                                  "aliases", aliases, "summary", a->summary,
                                                  "severity", severity_json(a), "fixed",
                                                  a->fixed ? json_string(a->fixed) : json_null()));
        }
        char source[PATH_MAX + 32];
        source_text(p, source, sizeof(source));
        json_array_append_new(results,
                              json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:b, s:o}", "source",
                                        source, "ecosystem", rp_eco_name(p->eco), "name", p->name,
                                        "version", p->version, "advisories", advs, "fix",
                                        r->fix ? json_string(r->fix) : json_null(), "fix_removes",
                                        (json_int_t)r->fix_removes, "fix_clean", r->fix_clean,
                                        "locations", locations_json(inv, rep, r->pkg)));
    }
    json_t *unpinned = json_array(), *unchecked = json_array();
    for (size_t i = 0; i < rep->nunchecked; i++) {
        const struct rp_vuln_unchecked *u = &rep->unchecked[i];
        const struct rp_pkg *p = &inv->pkgs[u->pkg];
        json_array_append_new(unchecked, unchecked_json(inv, rep, u));
        if (u->why != RP_VULN_UNPINNED)
            continue;
        char source[PATH_MAX + 32];
        source_text(p, source, sizeof(source));
        json_array_append_new(unpinned, json_pack("{s:s, s:s, s:s}", "source", source, "ecosystem",
                                                  rp_eco_name(p->eco), "name", p->name));
    }
    json_t *summary = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
        "packages", (json_int_t)rep->packages, "scanned", (json_int_t)rep->scanned, "affected",
        (json_int_t)rep->n, "advisories", (json_int_t)rep->advisories, "fixable_packages",
        (json_int_t)rep->fixable, "fixable_advisories", (json_int_t)rep->fixable_advisories,
        "not_checked", (json_int_t)rep->nunchecked, "unpinned", (json_int_t)rep->unpinned,
        "unsupported", (json_int_t)rep->unsupported, "no_advisories",
        (json_int_t)rep->no_advisories, "invalid_versions", (json_int_t)rep->bad_version, "ignored",
        (json_int_t)rep->ignored, "unpinned_packages", unpinned, "not_checked_packages", unchecked,
        "ignore_unknown", ignore_list_json(ig, rep, RP_VULN_IGNORE_UNKNOWN), "ignore_unused",
        ignore_list_json(ig, rep, RP_VULN_IGNORE_UNUSED));
    return json_pack("{s:o, s:o}", "results", results, "summary", summary);
}

static const char *sarif_level(double score)
{
    return score >= 7 ? "error" : score >= 4 || score < 0 ? "warning" : "note";
}

/* A file path as a SARIF artifact URI: relative paths stay relative; spaces and the like are
 * percent-encoded. */
static json_t *path_uri(const char *path)
{
    char out[3 * PATH_MAX + 8];
    size_t n = 0;
    if (path[0] == '/')
        n = (size_t)snprintf(out, sizeof(out), "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < sizeof(out); p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%%%02X", *p);
    }
    out[n] = '\0';
    return json_string(out);
}

/* The SARIF locations of a package: each file and line it is declared at. */
static json_t *sarif_locations(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                               size_t first)
{
    json_t *a = json_array();
    for (size_t i = first; i != SIZE_MAX; i = next_location(inv, rep, first, i)) {
        const struct rp_pkg *p = &inv->pkgs[i];
        json_t *loc = json_pack("{s:{s:{s:o}, s:{s:i}}}", "physicalLocation", "artifactLocation",
                                "uri", path_uri(p->source ? p->source : ""), "region", "startLine",
                                (int)(p->line ? p->line : 1));
        if (p->path)
            json_object_set_new(loc, "message", json_pack("{s:s}", "text", p->path));
        json_array_append_new(a, loc);
    }
    return a;
}

/* The run's notifications: each package that was not checked, and each id to ignore that no
 * advisory of the database has. */
static json_t *sarif_notifications(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                                   const struct ignores *ig)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rep->nunchecked; i++) {
        const struct rp_vuln_unchecked *u = &rep->unchecked[i];
        const struct rp_pkg *p = &inv->pkgs[u->pkg];
        char why[256], msg[1024];
        unchecked_text(p, u->why, why, sizeof(why));
        snprintf(msg, sizeof(msg), "%s%s%s (%s) was not checked: %s", p->name,
                 p->version ? " " : "", p->version ? p->version : "", rp_eco_name(p->eco), why);
        json_array_append_new(a, json_pack("{s:s, s:{s:s}, s:{s:s}, s:o}", "level", "warning",
                                           "message", "text", msg, "descriptor", "id",
                                           rp_vuln_skip_name(u->why), "locations",
                                           sarif_locations(inv, rep, u->pkg)));
    }
    for (size_t i = 0; i < ig->n; i++) {
        if (rep->ignore_use[i] != RP_VULN_IGNORE_UNKNOWN)
            continue;
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "ignored advisory %s: no advisory of the database has this id "
                 "or alias",
                 ig->v[i]);
        json_array_append_new(a, json_pack("{s:s, s:{s:s}, s:{s:s}}", "level", "warning", "message",
                                           "text", msg, "descriptor", "id", "ignore_unknown"));
    }
    return a;
}

static json_t *report_sarif(const struct rp_inventory *inv, const struct rp_vuln_report *rep,
                            const struct ignores *ig, int status)
{
    json_t *rules = json_array(), *results = json_array(), *seen = json_object();
    for (size_t i = 0; i < rep->n; i++) {
        const struct rp_vuln_result *r = &rep->results[i];
        const struct rp_pkg *p = &inv->pkgs[r->pkg];
        for (size_t k = 0; k < r->nadv; k++) {
            const struct rp_vuln_advisory *a = &r->adv[k];
            json_t *index = json_object_get(seen, a->id);
            if (!index) {
                char help[512], score[16];
                snprintf(help, sizeof(help), "https://osv.dev/vulnerability/%s", a->id);
                snprintf(score, sizeof(score), "%.1f", a->score);
                json_t *props = json_pack("{s:[s,s]}", "tags", "security", "vulnerability");
                if (a->score >= 0)
                    json_object_set_new(props, "security-severity", json_string(score));
                index = json_integer((json_int_t)json_array_size(rules));
                json_object_set_new(seen, a->id, index);
                json_array_append_new(rules, json_pack("{s:s, s:{s:s}, s:s, s:o}", "id", a->id,
                                                       "shortDescription", "text",
                                                       a->summary[0] ? a->summary : a->id,
                                                       "helpUri", help, "properties", props));
            }
            char msg[2048];
            int m =
                snprintf(msg, sizeof(msg), "%s %s is affected by %s", p->name, p->version, a->id);
            if (a->naliases && m > 0 && (size_t)m < sizeof(msg))
                m += snprintf(msg + m, sizeof(msg) - (size_t)m, " (%s)", a->aliases[0]);
            if (a->summary[0] && m > 0 && (size_t)m < sizeof(msg))
                m += snprintf(msg + m, sizeof(msg) - (size_t)m, ": %s", a->summary);
            if (m > 0 && (size_t)m < sizeof(msg))
                snprintf(msg + m, sizeof(msg) - (size_t)m, "%s%s%s",
                         a->fixed ? ". Fixed in " : ". No fix yet", a->fixed ? a->fixed : "",
                         r->fix ? "" : ".");
            if (r->fix && m > 0 && strlen(msg) + 64 < sizeof(msg)) {
                size_t l = strlen(msg);
                snprintf(msg + l, sizeof(msg) - l, "; upgrade to %s to fix every known advisory.",
                         r->fix);
            }
            char fp[1024];
            snprintf(fp, sizeof(fp), "%s/%s@%s/%s", rp_eco_name(p->eco), p->name, p->version,
                     a->id);
            json_array_append_new(results,
                                  json_pack("{s:s, s:I, s:s, s:{s:s}, s:o, s:{s:s}}", "ruleId",
                                            a->id, "ruleIndex", json_integer_value(index), "level",
                                            sarif_level(a->score), "message", "text", msg,
                                            "locations", sarif_locations(inv, rep, r->pkg),
                                            "partialFingerprints", "rampartVuln/v1", fp));
        }
    }
    json_decref(seen);
    /* What was counted apart: the packages that could not be checked. */
    json_t *props =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packages", (json_int_t)rep->packages,
                  "scanned", (json_int_t)rep->scanned, "affected", (json_int_t)rep->n, "advisories",
                  (json_int_t)rep->advisories, "notChecked", (json_int_t)rep->nunchecked,
                  "unpinned", (json_int_t)rep->unpinned, "unsupportedEcosystem",
                  (json_int_t)rep->unsupported, "noAdvisories", (json_int_t)rep->no_advisories);
    json_t *invocation =
        json_pack("{s:b, s:i, s:o}", "executionSuccessful", status != EXIT_UNCHECKED, "exitCode",
                  status, "toolExecutionNotifications", sarif_notifications(inv, rep, ig));
    return json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:s, s:o}}, s:[o], s:o, s:o}]}",
                     "version", "2.1.0", "$schema", "https://json.schemastore.org/sarif-2.1.0.json",
                     "runs", "tool", "driver", "name", "rampart", "version", RAMPART_VERSION,
                     "semanticVersion", RAMPART_VERSION, "informationUri", "https://osv.dev",
                     "rules", rules, "invocations", invocation, "properties", props, "results",
                     results);
}

/* The table: one line per advisory, the package's columns on its first line only. */
/* The FIX column: the version, and how many of the advisories it removes when not all. */
static void fix_text(const struct rp_vuln_result *r, char *out, size_t cap)
{
    if (!r->fix)
        snprintf(out, cap, "no fix yet");
    else if (r->fix_removes < r->nadv)
        snprintf(out, cap, "%s (fixes %zu of %zu)", r->fix, r->fix_removes, r->nadv);
    else
        snprintf(out, cap, "%s", r->fix);
}

/* Copies s into out, cut at a character boundary to at most max bytes with "...". */
static void cut(const char *s, char *out, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        memcpy(out, s, n + 1);
        return;
    }
    n = max - 3;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
}

/* The table names at most this many locations of a package, and this many packages of each
 * reason for not checking; --json lists them all. */
#define TABLE_LOCATIONS 5
#define TABLE_UNCHECKED 10

/* "  installed at N places: a, b, ... and N more" under a package found in several places. */
static void table_locations(FILE *out, const struct rp_inventory *inv,
                            const struct rp_vuln_report *rep, size_t first)
{
    size_t n = count_locations(inv, rep, first);
    if (n < 2)
        return;
    fprintf(out, "  %s at %zu places:", inv->pkgs[first].path ? "installed" : "declared", n);
    size_t shown = 0;
    for (size_t i = first; i != SIZE_MAX && shown < TABLE_LOCATIONS;
         i = next_location(inv, rep, first, i), shown++) {
        char loc[PATH_MAX + 64];
        location_text(&inv->pkgs[i], loc, sizeof(loc));
        fprintf(out, "%s %s", shown ? "," : "", loc);
    }
    if (n > shown)
        fprintf(out, " and %zu more (--json lists them all)", n - shown);
    fputc('\n', out);
}

/* The packages not checked, by reason, each with where it is; for those the database has no
 * advisories for, how many of each ecosystem. */
static void table_unchecked(FILE *out, const struct rp_inventory *inv,
                            const struct rp_vuln_report *rep)
{
    if (!rep->nunchecked)
        return;
    fprintf(out, "%zu package%s could not be checked:\n", rep->nunchecked,
            rep->nunchecked == 1 ? "" : "s");
    static const struct {
        enum rp_vuln_skip why;
        const char *title;
    } groups[] = {
        {RP_VULN_NO_ADVISORIES, "the database has no advisories of their ecosystem"},
        {RP_VULN_UNORDERED, "rampart cannot order the versions of their ecosystem"},
        {RP_VULN_UNPINNED, "no pinned version"},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        size_t total = 0, per_eco[RP_ECO_COUNT] = {0};
        for (size_t i = 0; i < rep->nunchecked; i++)
            if (rep->unchecked[i].why == groups[g].why) {
                total++;
                enum rp_eco e = inv->pkgs[rep->unchecked[i].pkg].eco;
                per_eco[(unsigned)e < RP_ECO_COUNT ? e : RP_ECO_OTHER]++;
            }
        if (!total)
            continue;
        fprintf(out, "  %s (%zu", groups[g].title, total);
        if (groups[g].why == RP_VULN_NO_ADVISORIES)
            for (int e = 0, first = 1; e < RP_ECO_COUNT; e++)
                if (per_eco[e]) {
                    fprintf(out, "%s %s %zu", first ? ":" : ",", rp_eco_name((enum rp_eco)e),
                            per_eco[e]);
                    first = 0;
                }
        fprintf(out, "):\n");
        size_t shown = 0;
        for (size_t i = 0; i < rep->nunchecked && shown < TABLE_UNCHECKED; i++) {
            const struct rp_vuln_unchecked *u = &rep->unchecked[i];
            if (u->why != groups[g].why)
                continue;
            const struct rp_pkg *p = &inv->pkgs[u->pkg];
            char loc[PATH_MAX + 64];
            location_text(p, loc, sizeof(loc));
            size_t more = count_locations(inv, rep, u->pkg) - 1;
            char also[48] = "";
            if (more)
                snprintf(also, sizeof(also), " and %zu other place%s", more, more == 1 ? "" : "s");
            fprintf(out, "    %s%s%s [%s] at %s%s%s%s\n", p->name, p->version ? " " : "",
                    p->version ? p->version : "", rp_eco_name(p->eco), loc, also,
                    u->why == RP_VULN_UNPINNED && p->why ? ": " : "",
                    u->why == RP_VULN_UNPINNED && p->why ? p->why : "");
            shown++;
        }
        if (total > shown)
            fprintf(out, "    ... and %zu more (--json lists them all)\n", total - shown);
    }
}

static void report_table(FILE *out, const struct rp_inventory *inv,
                         const struct rp_vuln_report *rep)
{
    char fix[128];
    int w_src = 6, w_name = 7, w_ver = 7, w_fix = 3, w_id = 8;
    char buf[PATH_MAX + 32];
    for (size_t i = 0; i < rep->n; i++) {
        const struct rp_vuln_result *r = &rep->results[i];
        const struct rp_pkg *p = &inv->pkgs[r->pkg];
        int n = snprintf(buf, sizeof(buf), "%s:%u", p->source, p->line);
        w_src = n > w_src ? n : w_src;
        w_name = (int)strlen(p->name) > w_name ? (int)strlen(p->name) : w_name;
        w_ver = (int)strlen(p->version) > w_ver ? (int)strlen(p->version) : w_ver;
        fix_text(r, fix, sizeof(fix));
        n = (int)strlen(fix);
        w_fix = n > w_fix ? n : w_fix;
        for (size_t k = 0; k < r->nadv; k++)
            w_id = (int)strlen(r->adv[k].id) > w_id ? (int)strlen(r->adv[k].id) : w_id;
    }
    w_src = w_src > 48 ? 48 : w_src;
    w_name = w_name > 40 ? 40 : w_name;
    if (rep->n)
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-13s  %-*s  %s\n", w_src, "SOURCE", w_name,
                "PACKAGE", w_ver, "VERSION", w_fix, "FIX", "SEVERITY", w_id, "ADVISORY", "SUMMARY");
    for (size_t i = 0; i < rep->n; i++) {
        const struct rp_vuln_result *r = &rep->results[i];
        const struct rp_pkg *p = &inv->pkgs[r->pkg];
        snprintf(buf, sizeof(buf), "%s:%u", p->source, p->line);
        for (size_t k = 0; k < r->nadv; k++) {
            const struct rp_vuln_advisory *a = &r->adv[k];
            char sev[32];
            if (a->score >= 0)
                snprintf(sev, sizeof(sev), "%.1f %s", a->score, rating(a->score));
            else
                snprintf(sev, sizeof(sev), "-");
            char summary[128], text[160];
            cut(a->summary, summary, 72);
            if (a->naliases)
                snprintf(text, sizeof(text), "%s%s[%s]", summary, summary[0] ? " " : "",
                         a->aliases[0]);
            else
                snprintf(text, sizeof(text), "%s", summary);
            fix_text(r, fix, sizeof(fix));
            if (k == 0)
                fprintf(out, "%-*.*s  %-*.*s  %-*s  %-*s  %-13s  %-*s  %s\n", w_src, w_src, buf,
                        w_name, w_name, p->name, w_ver, p->version, w_fix, fix, sev, w_id, a->id,
                        text);
            else
                fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-13s  %-*s  %s\n", w_src, "", w_name, "",
                        w_ver, "", w_fix, "", sev, w_id, a->id, text);
        }
        table_locations(out, inv, rep, r->pkg);
    }
    if (rep->n)
        fputc('\n', out);
    if (rep->packages == 0)
        fprintf(out, "No packages: the inventories list none.\n");
    else if (rep->scanned == 0)
        fprintf(out, "Nothing was checked: none of the %zu package%s could be.\n", rep->packages,
                rep->packages == 1 ? "" : "s");
    else if (rep->n == 0)
        fprintf(out, "No known vulnerabilities in %zu package%s%s.\n", rep->scanned,
                rep->scanned == 1 ? "" : "s", rep->nunchecked ? " checked" : "");
    else
        fprintf(out,
                "%zu of %zu packages affected by %zu advisories; upgrading %zu package%s "
                "removes %zu of them.\n",
                rep->n, rep->scanned, rep->advisories, rep->fixable, rep->fixable == 1 ? "" : "s",
                rep->fixable_advisories);
    table_unchecked(out, inv, rep);
    if (rep->ignored)
        fprintf(out, "%zu match%s of ignored advisories (--ignore) left out.\n", rep->ignored,
                rep->ignored == 1 ? "" : "es");
    if (rep->bad_version)
        fprintf(out,
                "%zu version%s not valid in %s ecosystem: only the advisories' lists "
                "of versions were checked.\n",
                rep->bad_version, rep->bad_version == 1 ? " is" : "s are",
                rep->bad_version == 1 ? "its" : "their");
}

/* ---- accepted risks (--ignore) ---- */

static int ignore_add(struct ignores *ig, const char *id, size_t len, const char *from)
{
    if (!len || len > RP_VULN_ID_MAX) {
        fprintf(stderr, "rampart vulns: --ignore wants an advisory id such as PYSEC-2021-66\n");
        return -1;
    }
    char ex[64];
    if (!rp_vuln_id_valid((struct rp_str){id, len})) {
        /* The id is shown with its non-printable bytes as '?'. */
        snprintf(ex, sizeof(ex), "%.*s", (int)(len < 60 ? len : 60), id);
        for (char *q = ex; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                *q = '?';
        fprintf(stderr,
                "rampart vulns: --ignore '%s': not an advisory id (such as PYSEC-2021-66, "
                "GHSA-jfh8-c2jp-5v3q or CVE-2021-44228)\n",
                ex);
        return -1;
    }
    char **nv = realloc(ig->v, (ig->n + 1) * sizeof(*nv));
    if (nv)
        ig->v = nv;
    const char **nf = nv ? realloc(ig->from, (ig->n + 1) * sizeof(*nf)) : NULL;
    if (nf)
        ig->from = nf;
    char *copy = nf ? strndup(id, len) : NULL;
    if (!copy) {
        fprintf(stderr, "rampart vulns: out of memory\n");
        return -1;
    }
    ig->from[ig->n] = from;
    ig->v[ig->n++] = copy;
    return 0;
}

struct ignore_file_ctx {
    struct ignores *ig;
    const char *path;
};

static int ignore_one(void *arg, struct rp_str id)
{
    struct ignore_file_ctx *c = arg;
    return ignore_add(c->ig, id.ptr, id.len, c->path) ? RP_ENOMEM : RP_OK;
}

/* The ids of an --ignore-file (rp_vuln_ignore_parse). */
static int ignore_file(struct ignores *ig, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    struct rp_error err = {{0}};
    if (rp_file_read(path, 16u << 20, &text, &len, &err)) {
        fprintf(stderr, "rampart vulns: %s\n", err.msg[0] ? err.msg : "cannot read the file");
        return -1;
    }
    struct ignore_file_ctx c = {ig, path};
    int result = rp_vuln_ignore_parse((struct rp_str){text, len}, ignore_one, &c, &err);
    if (result == RP_EINVAL)
        fprintf(stderr, "rampart vulns: %s: %s\n", path, err.msg);
    free(text);
    return result ? -1 : 0;
}

static void ignores_release(struct ignores *ig)
{
    for (size_t i = 0; i < ig->n; i++)
        free(ig->v[i]);
    free(ig->v);
    free(ig->from);
}

/* An id to ignore that no advisory of the database has is most likely a typo: the risk it meant
 * to accept is still reported, and this says why. */
static void ignore_warnings(const struct ignores *ig, const struct rp_vuln_report *rep)
{
    for (size_t i = 0; i < ig->n; i++)
        if (rep->ignore_use[i] == RP_VULN_IGNORE_UNKNOWN)
            fprintf(stderr,
                    "rampart vulns: warning: %s%s%s: no advisory in the database has this id or "
                    "alias (a typo?); it ignores nothing\n",
                    ig->v[i], ig->from[i] ? " in " : " (--ignore)", ig->from[i] ? ig->from[i] : "");
}

/* --list: the packages read, one a line (or one JSON object a line), in file order. */
static void list_packages(FILE *out, const struct rp_inventory *inv, bool json)
{
    for (size_t i = 0; i < inv->n; i++) {
        const struct rp_pkg *p = &inv->pkgs[i];
        char source[PATH_MAX + 32];
        snprintf(source, sizeof(source), "%s:%u", p->source, p->line);
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "source", source, "ecosystem",
                                  rp_eco_name(p->eco), "name", p->name, "version",
                                  p->version ? json_string(p->version) : json_null());
            char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (line)
                fprintf(out, "%s\n", line);
            free(line);
            json_decref(o);
        } else {
            fprintf(out, "%s\t%s\t%s\t%s\n", source, rp_eco_name(p->eco), p->name,
                    p->version ? p->version : "(unpinned)");
        }
    }
}

/* ---- the command ---- */

static void progress(void *arg, const char *file, size_t records)
{
    (void)arg;
    fprintf(stderr, "rampart vulns: indexing %s (%zu advisories so far)\n", file, records);
}

int cmd_vulns(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"sarif", no_argument, NULL, 's'},
        {"index", required_argument, NULL, 'i'},
        {"rebuild-index", no_argument, NULL, 'r'},
        {"list", no_argument, NULL, 'l'},
        {"ignore", required_argument, NULL, 'g'},
        {"ignore-file", required_argument, NULL, 'G'},
        {"debian-release", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *dbpath = getenv("RAMPART_VULNS_DB");
    enum output fmt = OUT_TABLE;
    struct rp_vuln_db_options dopt = {0};
    bool list = false;
    struct ignores ign = {0};
    const char *release = NULL;
    int c;
    optind = 1;
    int early = -1; /* an exit status decided while reading the options */
    while (early < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbpath = optarg; break;
        case 'j':
        case 's':
            if (fmt != OUT_TABLE) {
                fprintf(stderr, "rampart vulns: --json and --sarif exclude each other\n");
                early = CMD_EXIT_USAGE;
            }
            fmt = c == 'j' ? OUT_JSON : OUT_SARIF;
            break;
        case 'i': dopt.index = optarg; break;
        case 'r': dopt.rebuild = true; break;
        case 'l': list = true; break;
        case 'D':
            release = optarg;
            if (!*release || strlen(release) > 16 || strchr(release, ':')) {
                fprintf(stderr, "rampart vulns: --debian-release wants a release such as 12\n");
                early = CMD_EXIT_USAGE;
            }
            break;
        case 'g':
        case 'G':
            if (c == 'g' ? ignore_add(&ign, optarg, strlen(optarg), NULL)
                         : ignore_file(&ign, optarg))
                early = CMD_EXIT_USAGE;
            break;
        case 'h':
            usage(stdout);
            early = CMD_EXIT_OK;
            break;
        default:
            usage(stderr);
            early = CMD_EXIT_USAGE;
            break;
        }
    }
    if (early < 0 && optind == argc) {
        fprintf(stderr, "rampart vulns: name at least one file or folder to check\n");
        usage(stderr);
        early = CMD_EXIT_USAGE;
    }
    if (early < 0 && list && fmt == OUT_SARIF) {
        fprintf(stderr, "rampart vulns: --list prints a table or --json, not SARIF\n");
        early = CMD_EXIT_USAGE;
    }
    if (early < 0 && !list && (!dbpath || !*dbpath)) {
        fprintf(stderr, "rampart vulns: no advisory database: give --db DIR (osv.dev's offline "
                        "layout, <Ecosystem>/all.zip) or set RAMPART_VULNS_DB\n");
        early = CMD_EXIT_USAGE;
    }
    if (early >= 0) {
        ignores_release(&ign);
        return early;
    }
    struct scan s = {0};
    rp_inventory_init(&s.inv);
    int status = CMD_EXIT_OK;
    for (int i = optind; status == CMD_EXIT_OK && i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) {
            fprintf(stderr, "rampart vulns: '%s': %s\n", argv[i], strerror(errno));
            status = CMD_EXIT_USAGE;
        } else if (S_ISDIR(st.st_mode)) {
            size_t before = s.files;
            status = walk(&s, argv[i], 0);
            if (status == CMD_EXIT_OK && s.files == before)
                fprintf(stderr, "rampart vulns: no inventory found in '%s'\n", argv[i]);
        } else {
            superseded(argv[i], false);
            status = read_inventory(&s, argv[i], true);
        }
    }
    /* A scan that read nothing would pass for a clean one (say, a pipeline pointed at the wrong
     * folder): that is an error. */
    if (status == CMD_EXIT_OK && s.files == 0) {
        fprintf(stderr, "rampart vulns: nothing to check: no inventory in the paths given\n");
        status = CMD_EXIT_USAGE;
    }
    if (list) {
        if (status == CMD_EXIT_OK)
            list_packages(stdout, &s.inv, fmt == OUT_JSON);
        if (fflush(stdout) == EOF)
            status = CMD_EXIT_USAGE;
        rp_inventory_release(&s.inv);
        ignores_release(&ign);
        return status;
    }
    struct rp_vuln_db *db = NULL;
    struct rp_error err = {{0}};
    if (status == CMD_EXIT_OK) {
        dopt.progress = isatty(STDERR_FILENO) ? progress : NULL;
        if (rp_vuln_db_open(dbpath, &dopt, &db, &err)) {
            fprintf(stderr, "rampart vulns: %s\n", err.msg);
            status = CMD_EXIT_USAGE;
        }
    }
    if (db) {
        const struct rp_vuln_db_info *info = rp_vuln_db_info(db);
        if (info->built)
            fprintf(stderr, "rampart vulns: indexed %zu advisories of %zu files in %.1f s (%s)\n",
                    info->records, info->files, info->build_seconds, info->index);
        if (info->built && info->skipped)
            fprintf(stderr, "rampart vulns: left out %zu malformed records; the first: %s\n",
                    info->skipped, info->first_skip);
    }
    struct rp_vuln_report rep = {0};
    struct rp_vuln_match_options mopt = {(const char *const *)ign.v, ign.n,
                                         release        ? release
                                         : s.release[0] ? s.release
                                                        : NULL};
    if (status == CMD_EXIT_OK && rp_vuln_match_ex(db, &s.inv, &mopt, &rep, &err)) {
        fprintf(stderr, "rampart vulns: %s\n", err.msg);
        status = CMD_EXIT_USAGE;
    }
    if (status == CMD_EXIT_OK) {
        /* The verdict, decided before the report that states it (SARIF's exitCode). */
        int verdict = rep.n                              ? CMD_EXIT_FINDINGS
                      : rep.packages && rep.scanned == 0 ? EXIT_UNCHECKED
                                                         : CMD_EXIT_OK;
        ignore_warnings(&ign, &rep);
        if (fmt == OUT_TABLE) {
            report_table(stdout, &s.inv, &rep);
        } else {
            json_t *doc = fmt == OUT_JSON ? report_json(&s.inv, &rep, &ign)
                                          : report_sarif(&s.inv, &rep, &ign, verdict);
            if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF) {
                fprintf(stderr, "rampart vulns: cannot write the report\n");
                status = CMD_EXIT_USAGE;
            }
            json_decref(doc);
        }
        if (status == CMD_EXIT_OK)
            status = verdict;
    }
    if (fflush(stdout) == EOF && status != CMD_EXIT_USAGE) {
        fprintf(stderr, "rampart vulns: cannot write the report: %s\n", strerror(errno));
        status = CMD_EXIT_USAGE;
    }
    rp_vuln_report_release(&rep);
    rp_vuln_db_close(db);
    rp_inventory_release(&s.inv);
    ignores_release(&ign);
    return status;
}
