/* lib/base/toml.c: the streaming TOML reader's items, keys, strings and bare values, the values
 * it passes over, and its errors with their lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/toml.h"

static const char *const type_names[] = {"s", "bare", "array", "table"};

/* Walks text and writes what it read into trace: "[key]@LINE" and "[[key]]@LINE" for headers,
 * "key@LINE" for a key ("key/N@LINE" for one of N segments) followed, when values are read, by
 * "=TYPE" or "=s:'decoded'" for a string, and "END@LINE". Items are separated by blanks.
 * Returns what the walk ended with; err holds the message. */
static int walk(const char *text, bool read_values, char *trace, size_t cap, struct rp_error *err)
{
    struct rp_toml t;
    struct rp_buf s;
    rp_toml_init(&t, rp_str_from_cstr(text), err);
    rp_buf_init(&s, 1024);
    size_t n = 0;
    trace[0] = '\0';
    int result;
    for (;;) {
        struct rp_toml_item it;
        if ((result = rp_toml_next(&t, &it)))
            break;
        const char *sep = n ? " " : "";
        if (it.kind == RP_TOML_END) {
            n += (size_t)snprintf(trace + n, cap - n, "%sEND@%u", sep, it.line);
            break;
        }
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)it.key.len, it.key.ptr);
        if (it.nseg > 1)
            snprintf(key + strlen(key), sizeof(key) - strlen(key), "/%zu", it.nseg);
        if (it.kind == RP_TOML_TABLE)
            n += (size_t)snprintf(trace + n, cap - n, "%s[%s]@%u", sep, key, it.line);
        else if (it.kind == RP_TOML_ARRAY_TABLE)
            n += (size_t)snprintf(trace + n, cap - n, "%s[[%s]]@%u", sep, key, it.line);
        else
            n += (size_t)snprintf(trace + n, cap - n, "%s%s@%u", sep, key, it.line);
        assert_true(n < cap);
        if (it.kind != RP_TOML_KEY || !read_values)
            continue;
        enum rp_toml_type type;
        if ((result = rp_toml_value(&t, &s, &type)))
            break;
        if (type == RP_TOML_STRING)
            n += (size_t)snprintf(trace + n, cap - n, "=s:'%s'", s.ptr ? s.ptr : "");
        else
            n += (size_t)snprintf(trace + n, cap - n, "=%s", type_names[type]);
        assert_true(n < cap);
    }
    rp_buf_release(&s);
    rp_toml_release(&t);
    return result;
}

static void expect(const char *text, const char *want)
{
    char trace[2048];
    struct rp_error err = {{0}};
    int rc = walk(text, true, trace, sizeof(trace), &err);
    if (rc)
        fail_msg("'%s': %s", text, err.msg);
    assert_string_equal(trace, want);
}

/* text fails with a message that starts with want, whether its values are read or passed
 * over. */
static void expect_fail(const char *text, const char *want)
{
    for (int read = 0; read < 2; read++) {
        char trace[2048];
        struct rp_error err = {{0}};
        assert_int_equal(walk(text, read, trace, sizeof(trace), &err), RP_EINVAL);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("'%s': got '%s', want '%s'", text, err.msg, want);
    }
}

static void test_items(void **state)
{
    (void)state;
    expect("# a lock file\n"
           "version = 1\n"
           "\n"
           "[[package]]\n"
           "name = \"abc\" # a comment\n"
           "\"quoted key\" = 'lit'\n"
           "dotted . key = []\n"
           "[ package.extras ]\n"
           "x = {a = 1, b = [2]}\r\n"
           "[[ package ]]\n"
           "'name' = \"\"\n",
           "version@2=bare [[package]]@4 name@5=s:'abc' quoted key@6=s:'lit' dotted/2@7=array "
           "[package/2]@8 x@9=table [[package]]@10 name@11=s:'' END@12");
    expect("", "END@1");
    expect("\n\n# only comments\n", "END@4");
    expect("a=1", "a@1=bare END@1"); /* no newline at the end */
}

/* A value that is not read is still checked, and the next item comes after it. */
static void test_values_passed_over(void **state)
{
    (void)state;
    char trace[512];
    struct rp_error err = {{0}};
    assert_int_equal(walk("a = \"\"\"\nb = 1\n\"\"\"\nc = [\n  1,\n]\nd = 2\n", false, trace,
                          sizeof(trace), &err),
                     RP_OK);
    assert_string_equal(trace, "a@1 c@4 d@7 END@8");
    expect_fail("a = 1\nb = tru\n", "line 2: invalid value 'tru'");
    expect_fail("a = 1 2\n", "line 1: unexpected '2' after a value");
}

static void test_strings(void **state)
{
    (void)state;
    expect("a = \"tab\\tq\\\"bs\\\\\\u00e9\\U0001F600\\e\\x41\"\n",
           "a@1=s:'tab\tq\"bs\\\xc3\xa9\xf0\x9f\x98\x80\x1b\x41' END@2");
    expect("a = 'C:\\path\\n'\n", "a@1=s:'C:\\path\\n' END@2");
    /* A newline right after the opening quotes is not content; a backslash at the end of a line
     * joins the next non-blank text; up to two quotes may end the content. */
    expect("a = \"\"\"\none\ntwo \\\n    three\"\"\"\"\"\n", "a@1=s:'one\ntwo three\"\"' END@5");
    expect("a = '''\n\\n is kept'''\n", "a@1=s:'\\n is kept' END@3");
    expect("a = \"caf\xc3\xa9\"\n", "a@1=s:'caf\xc3\xa9' END@2");
}

static void test_bare_values(void **state)
{
    (void)state;
    expect("a = [true, false, 0, -0, +17, 1_000, 0xDEAD_beef, 0o755, 0b1101, 3.14, 5e+22, inf,\n"
           "     -inf, nan, 1979-05-27, 1979-05-27T07:32:00Z, 1979-05-27 07:32:00.5-07:00,\n"
           "     07:32:00, 2000-02-29]\n"
           "b = 1987-07-05 17:45:00\n",
           "a@1=array b@4=bare END@5");
    static const char *const bad[] = {"fals",     "True",       "01",         "1__0",       "0x",
                                      "1.",       ".5",         "1e",         "infinity",   "07:32",
                                      "24:00:00", "2023-02-29", "0000-01-01", "1979-05-27T"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "x = 1\ny = %s\n", bad[i]);
        expect_fail(text, "line 2: invalid value");
    }
}

static void test_key_is(void **state)
{
    (void)state;
    struct rp_toml t;
    rp_toml_init(&t, RP_STR("name.x = 1\n\"name\" = 2\n[[name]]\n"), NULL);
    struct rp_toml_item it;
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(it.kind, RP_TOML_KEY);
    assert_false(rp_toml_key_is(&it, "name")); /* two segments */
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_true(rp_toml_key_is(&it, "name"));
    assert_false(rp_toml_key_is(&it, "nam"));
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(it.kind, RP_TOML_ARRAY_TABLE);
    assert_true(rp_toml_key_is(&it, "name"));
    rp_toml_release(&t);
}

/* The end is returned again and again; a value is read once, after its key only. */
static void test_end_and_misuse(void **state)
{
    (void)state;
    struct rp_error err = {{0}};
    struct rp_toml t;
    rp_toml_init(&t, RP_STR("a = 1\n"), &err);
    struct rp_toml_item it;
    enum rp_toml_type type;
    assert_int_equal(rp_toml_value(&t, NULL, &type), RP_EINVAL);
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(rp_toml_value(&t, NULL, &type), RP_OK);
    assert_int_equal(type, RP_TOML_BARE);
    assert_int_equal(rp_toml_value(&t, NULL, &type), RP_EINVAL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rp_toml_next(&t, &it), RP_OK);
        assert_int_equal(it.kind, RP_TOML_END);
        assert_int_equal(it.line, 2);
    }
    rp_toml_release(&t);
    /* A NULL text is an empty document. */
    rp_toml_init(&t, RP_STR_NULL, NULL);
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(it.kind, RP_TOML_END);
    rp_toml_release(&t);
}

/* A string longer than the caller's buffer is an error of its line, not a cut string. */
static void test_out_cap(void **state)
{
    (void)state;
    struct rp_error err = {{0}};
    struct rp_toml t;
    struct rp_buf out;
    rp_buf_init(&out, 3);
    rp_toml_init(&t, RP_STR("a = \"abc\"\nb = \"abcd\"\n"), &err);
    struct rp_toml_item it;
    enum rp_toml_type type;
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(rp_toml_value(&t, &out, &type), RP_OK);
    assert_string_equal(out.ptr, "abc");
    assert_int_equal(rp_toml_next(&t, &it), RP_OK);
    assert_int_equal(rp_toml_value(&t, &out, &type), RP_EINVAL);
    assert_string_equal(err.msg, "line 2: string longer than 3 bytes");
    rp_toml_release(&t);
    rp_buf_release(&out);
}

/* "x = " and n times c: a value nested n deep. Heap; the caller frees it. */
static char *nested(char c, size_t n)
{
    char *s = malloc(n + 5);
    assert_non_null(s);
    memcpy(s, "x = ", 4);
    memset(s + 4, c, n);
    s[4 + n] = '\0';
    return s;
}

static void test_errors(void **state)
{
    (void)state;
    expect_fail("a = \"abc\nb = 1\n", "line 1: unterminated string");
    expect_fail("a = 1\nb = \"\"\"\nnever\nends\n", "line 2: unterminated string");
    expect_fail("a = [\n1,\n\n", "line 1: unterminated array");
    expect_fail("a = [1 2]\n", "line 1: expected ',' or ']' in an array");
    expect_fail("a = {b = 1\n", "line 1: unterminated inline table");
    expect_fail("a = {b = 1 c = 2}\n", "line 1: expected ',' or '}' in an inline table");
    expect_fail("a \"b\"\n", "line 1: expected '=' after a key");
    expect_fail("= 1\n", "line 1: expected a key");
    expect_fail("\"\"\"a\"\"\" = 1\n", "line 1: a multi-line string cannot be a key");
    expect_fail("a = \n", "line 1: expected a value");
    expect_fail("a = \"\\q\"\n", "line 1: invalid escape in a string");
    expect_fail("a = \"\\ud800\"\n", "line 1: escape of an invalid code point");
    expect_fail("a = \"\\U00110000\"\n", "line 1: escape of an invalid code point");
    expect_fail("a = \"x\x01\"\n", "line 1: control character in a string");
    expect_fail("a = \"\"\"a\"\"\"\"\"\"\n", "line 1: too many quotes closing a string");
    expect_fail("\n[[a\nb = 1\n", "line 2: unterminated table header");
    expect_fail("[a]]\n", "line 1: unexpected ']' after a value");
    expect_fail("# a\x01 comment\n", "line 1: control character 0x01");
    expect_fail("a = 1\r# lone CR\n", "line 1: control character 0x0d");
    /* The whole text is UTF-8, checked before the first item. */
    expect_fail("a = 1\nb = 2\n# caf\xe9\n", "line 3: invalid UTF-8");
    expect_fail("a = '\xed\xa0\x80'\n", "line 1: invalid UTF-8"); /* a surrogate */
    /* Nesting is bounded before it can exhaust the stack. */
    char *deep = nested('[', 100000);
    expect_fail(deep, "line 1: values nested more than 200 deep");
    free(deep);
    deep = nested('{', 100000);
    expect_fail(deep, "line 1: expected a key"); /* "{{": an inline table's key is not a table */
    free(deep);
    /* 200 levels are read. */
    char ok[512];
    memcpy(ok, "x = ", 4);
    memset(ok + 4, '[', RP_TOML_MAX_DEPTH);
    memset(ok + 4 + RP_TOML_MAX_DEPTH, ']', RP_TOML_MAX_DEPTH);
    ok[4 + 2 * RP_TOML_MAX_DEPTH] = '\0';
    expect(ok, "x@1=array END@1");
}

/* The reader does not check that a key is defined once: that is its caller's. */
static void test_duplicates_are_the_callers(void **state)
{
    (void)state;
    expect("a = 1\na = 2\n[t]\n[t]\n", "a@1=bare a@2=bare [t]@3 [t]@4 END@5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_values_passed_over),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_bare_values),
        cmocka_unit_test(test_key_is),
        cmocka_unit_test(test_end_and_misuse),
        cmocka_unit_test(test_out_cap),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_duplicates_are_the_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
