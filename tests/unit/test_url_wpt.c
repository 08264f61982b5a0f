/* Conformance with the web-platform-tests URL and IDNA cases (../shared/data/url): parse
 * success or failure, protocol, hostname and port must match what browsers do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/url.h"

#define DATA "../shared/data/url/"

static json_t *load(const char *name)
{
    json_error_t jerr;
    char path[256];
    snprintf(path, sizeof(path), DATA "%s", name);
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("missing test data '%s' (%s): the tests read ../shared/data", path, jerr.text);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static struct rp_str jslice(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return (struct rp_str){json_string_value(v), json_string_length(v)};
}

/* Every case of urltestdata.json: the URL standard's own conformance suite. */
static void test_urltestdata(void **state)
{
    (void)state;
    json_t *cases = load("urltestdata.json");
    size_t i, total = 0, passed = 0, href_ok = 0, parses = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!json_is_object(c))
            continue;
        total++;
        struct rp_url base, url;
        struct rp_error err = {{0}};
        bool have_base = false, ok;
        if (jstr(c, "base")) {
            if (rp_url_parse(jslice(c, "base"), NULL, &base, &err) != 0) {
                printf("  base does not parse: %s\n", jstr(c, "base"));
                continue;
            }
            have_base = true;
        }
        bool expect_fail = json_is_true(json_object_get(c, "failure"));
        parses += !expect_fail;
        int rc = rp_url_parse(jslice(c, "input"), have_base ? &base : NULL, &url, &err);
        if (expect_fail) {
            ok = rc != 0;
            if (!ok)
                printf("  should fail: '%s' -> %s\n", jstr(c, "input"), url.href);
        } else if (rc != 0) {
            ok = false;
            printf("  should parse: '%s' (%s)\n", jstr(c, "input"), err.msg);
        } else {
            char protocol[64];
            snprintf(protocol, sizeof(protocol), "%s:", url.scheme);
            const char *host = url.host ? url.host : "";
            char port[16] = "";
            if (url.port >= 0)
                snprintf(port, sizeof(port), "%d", url.port);
            ok = strcmp(protocol, jstr(c, "protocol")) == 0 &&
                 strcmp(host, jstr(c, "hostname")) == 0 && strcmp(port, jstr(c, "port")) == 0;
            if (!ok)
                printf("  mismatch: '%s': got %s %s %s, want %s %s %s\n", jstr(c, "input"),
                       protocol, host, port, jstr(c, "protocol"), jstr(c, "hostname"),
                       jstr(c, "port"));
            if (strcmp(url.href, jstr(c, "href")) == 0)
                href_ok++;
            else
                printf("  href differs: '%s': got '%s', want '%s'\n", jstr(c, "input"), url.href,
                       jstr(c, "href"));
        }
        if (rc == 0)
            rp_url_release(&url);
        if (have_base)
            rp_url_release(&base);
        passed += ok;
    }
    printf("urltestdata.json: %zu of %zu cases pass (protocol, hostname, port, failure); "
           "%zu hrefs identical\n",
           passed, total, href_ok);
    json_decref(cases);
    assert_int_equal(passed, total);
    assert_int_equal(href_ok, parses);
}

/* Cases whose expected output follows the IDNA mapping table of Unicode 15.1/16.0, newer than the
 * ICU of Debian 12 (ICU 72, Unicode 15.0): ẞ now maps to ß, U+180E and U+206B are now ignored,
 * and three characters gained mappings. These must still fail here, so that a newer ICU that
 * fixes them is noticed and the list shrinks. */
static const char *const unicode16_cases[] = {
    "look\u180eout.net", "look\u206bout.net", "\u04c0.com",     "\U0002f868.com",
    "\u2183.com",        "\u1e9e.com",        "\u1e9e.foo.com",
};

static bool is_unicode16_case(const char *in)
{
    for (size_t i = 0; i < sizeof(unicode16_cases) / sizeof(unicode16_cases[0]); i++)
        if (strcmp(unicode16_cases[i], in) == 0)
            return true;
    return false;
}

/* toascii.json: the host-to-ASCII cases ("output": null means the host must be refused). */
static void test_toascii(void **state)
{
    (void)state;
    json_t *cases = load("toascii.json");
    size_t i, total = 0, passed = 0, newer = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!json_is_object(c))
            continue;
        total++;
        struct rp_error err = {{0}};
        /* As the suite does: parse https://{input}/x and read the hostname. */
        const char *in = jstr(c, "input");
        size_t len = strlen(in) + 16;
        char *href = malloc(len);
        snprintf(href, len, "https://%s/x", in);
        struct rp_url url;
        int rc = rp_url_parse(rp_str_from_cstr(href), NULL, &url, &err);
        const char *want = jstr(c, "output");
        bool ok;
        if (!want)
            ok = rc != 0;
        else
            ok = rc == 0 && strcmp(url.host, want) == 0;
        if (is_unicode16_case(in)) {
            /* Expected to differ until ICU implements Unicode 15.1's IDNA table. */
            newer++;
            if (ok)
                printf("  toascii: '%s' now passes: remove it from unicode16_cases\n", in);
            ok = !ok;
        } else if (!ok) {
            printf("  toascii: '%s': got %s, want %s\n", in, rc == 0 ? url.host : "failure",
                   want ? want : "failure");
        }
        if (rc == 0)
            rp_url_release(&url);
        free(href);
        passed += ok;
    }
    printf("toascii.json: %zu of %zu cases pass; %zu of them follow Unicode 15.1+ and differ "
           "as ICU 72 must\n",
           passed - newer, total, newer);
    json_decref(cases);
    assert_int_equal(passed, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urltestdata),
        cmocka_unit_test(test_toascii),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
