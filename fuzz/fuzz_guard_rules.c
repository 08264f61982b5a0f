/* libFuzzer target: the guardrail rule-pack loader (rp__guard_rules_load) on any bytes read as a
 * YAML rule pack. Invariants, abort() when broken:
 *   - the result is RP_OK, RP_EINVAL or RP_ENOMEM, and RP_EINVAL says "fuzz.yaml:<line>: ...";
 *   - every loaded rule has an id of 1 to 64 of [a-z0-9_-], unique in the pack, a category, a
 *     pattern and a message (none empty, no control characters in category and message), a
 *     direction (dirs 1..3), finite points within 0..1000, modify and validate within their
 *     enums, a replacement only with modify: redact, and its file and line;
 *   - loading the same pack a second time into the same set fails (duplicate id) and adds no rule.
 * Small packs that load (under 2 KiB, with short patterns without large repeats, so that
 * Hyperscan compiles quickly) are also compiled with rp_guard_check (no default pack, classifiers
 * off): it must say RP_OK with the same rule count, or RP_EINVAL with a message. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/guard/internal.h"

#define NAME "fuzz.yaml"
#define COMPILE_MAX_INPUT 2048
#define COMPILE_MAX_PATTERN 96
#define COMPILE_MAX_REPEAT 64

static int pack_fd = -1;
static char pack_path[64];
static struct rp_url_inspector *urls;

static void broken(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_guard_rules: broken invariant: %s\ninput (%zu bytes): %.*s\n", what, size,
            (int)(size > 2000 ? 2000 : size), (const char *)data);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pack_fd = memfd_create("fuzz-guard-rules", 0);
    if (pack_fd >= 0)
        snprintf(pack_path, sizeof(pack_path), "/proc/self/fd/%d", pack_fd);
    /* One URL inspector for every compile: rp_guard_new would otherwise load the embedded lists
     * each time. */
    struct rp_url_inspector_options uo = {0};
    struct rp_error err;
    if (rp_url_inspector_new(&uo, &urls, &err)) {
        fprintf(stderr, "fuzz_guard_rules: no URL inspector: %s\n", err.msg);
        abort();
    }
    return 0;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
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

static void check_rule(const struct rp__guard_rules *rs, size_t i, const uint8_t *data, size_t size)
{
    const struct rp__guard_rule *r = &rs->v[i];
    if (!r->id || !valid_id(r->id))
        broken("rule without a valid id", data, size);
    if (!r->category || !*r->category || !printable(r->category))
        broken("rule without a category (or one with control characters)", data, size);
    if (!r->pattern || !*r->pattern)
        broken("rule without a pattern", data, size);
    if (!r->message || !*r->message || !printable(r->message))
        broken("rule without a message (or one with control characters)", data, size);
    if (r->dirs == 0 || r->dirs > 3)
        broken("rule without a direction", data, size);
    if (!isfinite(r->points) || r->points < 0 || r->points > 1000)
        broken("rule points not finite or outside 0..1000", data, size);
    if (r->modify != RP_GUARD_KEEP && r->modify != RP_GUARD_REDACT && r->modify != RP_GUARD_DEFANG)
        broken("rule modify outside its enum", data, size);
    if (r->validate != V_NONE && r->validate != V_LUHN && r->validate != V_IBAN &&
        r->validate != V_URL)
        broken("rule validate outside its enum", data, size);
    if (r->replacement && r->modify != RP_GUARD_REDACT)
        broken("replacement without modify: redact", data, size);
    if (r->starts_with && !*r->starts_with)
        broken("empty starts_with", data, size);
    if (!r->file || strcmp(r->file, NAME) || r->line < 1)
        broken("rule without its file and line", data, size);
    if (r->disabled || r->max_width)
        broken("the loader set disabled or max_width", data, size);
    for (size_t k = 0; k < i; k++)
        if (!strcmp(rs->v[k].id, r->id))
            broken("duplicate rule id", data, size);
}

/* Whether Hyperscan compiles the rules quickly enough for a fuzzer: short patterns, no bounded
 * repeat above COMPILE_MAX_REPEAT. */
static bool cheap_to_compile(const struct rp__guard_rules *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        const char *p = rs->v[i].pattern;
        if (strlen(p) > COMPILE_MAX_PATTERN)
            return false;
        if (rs->v[i].starts_with && strlen(rs->v[i].starts_with) > COMPILE_MAX_PATTERN)
            return false;
        for (; *p; p++)
            if (isdigit((unsigned char)*p) && strtoul(p, NULL, 10) > COMPILE_MAX_REPEAT)
                return false;
    }
    return true;
}

static void compile(const uint8_t *data, size_t size, size_t n)
{
    if (pack_fd < 0 || ftruncate(pack_fd, 0) || pwrite(pack_fd, data, size, 0) != (ssize_t)size)
        return;
    struct rp_guard_options opt = {
        .rule_files = {pack_path},
        .n_rule_files = 1,
        .no_default_rules = true,
        .classifier_points = {-1, -1},
        .urls = urls,
    };
    struct rp_error err;
    err.msg[0] = '\0';
    size_t n_rules = 0;
    int rc = rp_guard_check(&opt, &n_rules, &err);
    if (rc == RP_OK && n_rules != n)
        broken("rp_guard_check counts other rules than the loader", data, size);
    if (rc == RP_EINVAL && !err.msg[0])
        broken("rp_guard_check said RP_EINVAL without a message", data, size);
    if (rc != RP_OK && rc != RP_EINVAL && rc != RP_ENOMEM)
        broken("rp_guard_check returned an unexpected code", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp__guard_rules rs = {0};
    struct rp_error err;
    err.msg[0] = '\0';
    int rc = rp__guard_rules_load(&rs, NAME, (const char *)data, size, &err);
    if (rc != RP_OK && rc != RP_EINVAL && rc != RP_ENOMEM)
        broken("the loader returned an unexpected code", data, size);
    if (rc == RP_EINVAL && strncmp(err.msg, NAME ":", sizeof(NAME)))
        broken("RP_EINVAL without \"fuzz.yaml:<line>: what\"", data, size);
    if (rc == RP_OK) {
        for (size_t i = 0; i < rs.n; i++)
            check_rule(&rs, i, data, size);
        size_t n = rs.n;
        if (n) {
            /* Again into the same set: the first rule's id is taken now. */
            int again = rp__guard_rules_load(&rs, NAME, (const char *)data, size, &err);
            if (again != RP_EINVAL && again != RP_ENOMEM)
                broken("a pack loaded twice did not fail on the duplicate ids", data, size);
            if (rs.n != n)
                broken("a failed second load added rules", data, size);
        }
        bool cheap = size < COMPILE_MAX_INPUT && n && cheap_to_compile(&rs);
        rp__guard_rules_release(&rs);
        if (cheap)
            compile(data, size, n);
        return 0;
    }
    rp__guard_rules_release(&rs);
    return 0;
}
