/* lib/base: bounded buffers, JSON string writing, file reads, the stable hash, excerpts and
 * located errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rampart/base.h"
#include "rampart/json.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct rp_buf b;
    rp_buf_init(&b, 8);
    assert_int_equal(rp_buf_adds(&b, "12345678"), RP_OK);
    assert_int_equal(rp_buf_addc(&b, 'x'), RP_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.ptr, "12345678");
    assert_int_equal(rp_buf_addf(&b, "%d", 1), RP_ETOOBIG);
    rp_buf_truncate(&b, 2);
    assert_int_equal(rp_buf_addf(&b, "%s-%d", "ab", 7), RP_OK);
    assert_string_equal(b.ptr, "12ab-7");
    char *s = rp_buf_detach(&b);
    assert_string_equal(s, "12ab-7");
    assert_null(b.ptr);
    free(s);
    /* An empty buffer detaches as "", never NULL. */
    s = rp_buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
    rp_buf_release(&b);
}

/* The first failure sticks: later adds, even ones that would fit, are no-ops returning it,
 * so a run of adds is checked once; reset and truncate are the caller's recovery. */
static void test_buf_sticky_error(void **state)
{
    (void)state;
    struct rp_buf b;
    rp_buf_init(&b, 8);
    assert_int_equal(rp_buf_error(&b), RP_OK);
    assert_int_equal(rp_buf_adds(&b, "1234"), RP_OK);
    assert_int_equal(rp_buf_adds(&b, "56789"), RP_ETOOBIG);
    assert_int_equal(rp_buf_error(&b), RP_ETOOBIG);
    /* Each of these would fit, and none adds a byte. */
    assert_int_equal(rp_buf_addc(&b, 'x'), RP_ETOOBIG);
    assert_int_equal(rp_buf_adds(&b, "y"), RP_ETOOBIG);
    assert_int_equal(rp_buf_add(&b, "z", 1), RP_ETOOBIG);
    assert_int_equal(rp_buf_addf(&b, "%d", 1), RP_ETOOBIG);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.ptr, "1234");
    assert_int_equal(rp_buf_error(&b), RP_ETOOBIG);
    rp_buf_reset(&b);
    assert_int_equal(rp_buf_error(&b), RP_OK);
    assert_int_equal(rp_buf_adds(&b, "ok"), RP_OK);
    assert_string_equal(b.ptr, "ok");
    /* The fast path of rp_buf_addc, with room allocated, keeps the failure too. */
    assert_int_equal(rp_buf_adds(&b, "1234567"), RP_ETOOBIG);
    assert_true(b.alloc > b.len + 1);
    assert_int_equal(rp_buf_addc(&b, 'c'), RP_ETOOBIG);
    assert_string_equal(b.ptr, "ok");
    /* Detaching hands over what was whole and forgets the failure. */
    char *s = rp_buf_detach(&b);
    assert_string_equal(s, "ok");
    free(s);
    assert_int_equal(rp_buf_error(&b), RP_OK);
    rp_buf_release(&b);
}

/* The writer puts commas, colons and escapes; what it finishes is JSON, nested or not. */
static void test_jsonw(void **state)
{
    (void)state;
    struct rp_buf b;
    struct rp_jsonw w;
    rp_buf_init(&b, 1024);
    rp_jsonw_init(&w, &b);
    rp_jsonw_object(&w);
    rp_jsonw_kstr(&w, "s", "a\"b\\c\n\x01\xff");
    rp_jsonw_kint(&w, "i", -42);
    rp_jsonw_knum(&w, "x", 1.25, 1);
    rp_jsonw_knum(&w, "nan", NAN, 2);
    rp_jsonw_kbool(&w, "t", true);
    rp_jsonw_kstr(&w, "null", NULL);
    rp_jsonw_key(&w, "list");
    rp_jsonw_array(&w);
    rp_jsonw_int(&w, 1);
    rp_jsonw_object(&w);
    rp_jsonw_end(&w);
    rp_jsonw_array(&w);
    rp_jsonw_str(&w, "in");
    rp_jsonw_end(&w);
    rp_jsonw_bool(&w, false);
    rp_jsonw_end(&w);
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_OK);
    assert_string_equal(b.ptr,
                        "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\",\"i\":-42,\"x\":1.2,"
                        "\"nan\":null,\"t\":true,\"null\":null,\"list\":[1,{},[\"in\"],false]}");
    json_t *j = json_loads(b.ptr, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    rp_buf_release(&b);
}

/* Misuse is an error, never output that looks whole; a value too long fails the document,
 * and a rewind to a mark is whole again. */
static void test_jsonw_errors(void **state)
{
    (void)state;
    struct rp_buf b;
    struct rp_jsonw w;
    rp_buf_init(&b, 64);
    /* A value without a key in an object; a key in an array; an open container; two
     * documents; a key without its value. */
    rp_jsonw_init(&w, &b);
    rp_jsonw_object(&w);
    rp_jsonw_int(&w, 1);
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    rp_jsonw_array(&w);
    rp_jsonw_key(&w, "k");
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    rp_jsonw_object(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_OK);
    rp_jsonw_object(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    rp_jsonw_object(&w);
    rp_jsonw_key(&w, "k");
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    /* Too deep. */
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    for (int i = 0; i < RP_JSONW_MAX_DEPTH + 2; i++)
        rp_jsonw_array(&w);
    for (int i = 0; i < RP_JSONW_MAX_DEPTH + 2; i++)
        rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_EINVAL);
    /* Too long for the cap: the failure sticks past shorter writes; a rewind undoes it. */
    rp_buf_reset(&b);
    rp_jsonw_init(&w, &b);
    rp_jsonw_array(&w);
    rp_jsonw_str(&w, "first");
    struct rp_jsonw_mark m = rp_jsonw_mark(&w);
    rp_jsonw_str(&w, "a string far too long to fit in the sixty-four bytes of this buffer");
    rp_jsonw_str(&w, "x");
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_ETOOBIG);
    rp_jsonw_rewind(&w, m);
    rp_jsonw_str(&w, "x");
    rp_jsonw_end(&w);
    assert_int_equal(rp_jsonw_finish(&w), RP_OK);
    assert_string_equal(b.ptr, "[\"first\",\"x\"]");
    rp_buf_release(&b);
}

/* The status of a child that evaluates check (1: RP_ALWAYS(0), 2: RP_NEVER(1)), and
 * exits 0 if it goes on past it. */
static int child_status(int check)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's abort is the expected result: keep ASan and the core out of it. */
        int x = check == 1 ? RP_ALWAYS(getpid() == 0) : RP_NEVER(getpid() != 0);
        _exit(x == 12345 ? 1 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* The test build aborts on a broken invariant instead of taking the safe branch. */
static void test_always_never_abort_in_test_build(void **state)
{
    (void)state;
    assert_true(RP_ALWAYS(1));
    assert_false(RP_NEVER(0));
    for (int check = 1; check <= 2; check++) {
        int status = child_status(check);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

/* Whatever bytes go in, the output parses as JSON; valid text comes back unchanged. */
static void test_json_string(void **state)
{
    (void)state;
    static const char in[] = "a\"b\\c\n\x01\0d\xc3\xa9\xff\xe2\x82";
    struct rp_buf b;
    rp_buf_init(&b, 1024);
    assert_int_equal(rp_json_add_string(&b, in, sizeof(in) - 1), RP_OK);
    json_error_t err;
    json_t *j = json_loadb(b.ptr, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(j);
    /* \xff is one ill-formed subpart, the truncated \xe2\x82 another: two U+FFFD. */
    static const char want[] = "a\"b\\c\n\x01\0d\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd";
    assert_int_equal(json_string_length(j), sizeof(want) - 1);
    assert_memory_equal(json_string_value(j), want, sizeof(want) - 1);
    json_decref(j);
    rp_buf_reset(&b);
    assert_int_equal(rp_json_add_cstr(&b, NULL), RP_OK);
    assert_string_equal(b.ptr, "null");
    rp_buf_release(&b);
}

static void test_file_read(void **state)
{
    (void)state;
    char *text;
    size_t len;
    struct rp_error err = {{0}};
    assert_int_equal(rp_file_read("/nonexistent/x", 100, &text, &len, &err), RP_EIO);
    assert_non_null(strstr(err.msg, "unable to open '/nonexistent/x'"));
    assert_int_equal(rp_file_read("Makefile", 10, &text, &len, &err), RP_ETOOBIG);
    assert_non_null(strstr(err.msg, "too large"));
    assert_int_equal(rp_file_read("Makefile", 1 << 20, &text, &len, &err), RP_OK);
    assert_true(len > 10 && text[len] == '\0');
    free(text);
}

/* The hash splits data sets: it must never change between builds. */
static void test_hash_stable(void **state)
{
    (void)state;
    assert_true(rp_hash64("", 0, 0) == 0xcbf29ce484222325ULL);
    assert_true(rp_hash64("a", 1, 0) == 0xaf63dc4c8601ec8cULL);
}

/* rp_utf8_valid reads ASCII eight bytes at a time: an ill-formed byte is found at every
 * position of a word and after it, and well-formed sequences that straddle words pass. */
static void test_utf8_valid_words(void **state)
{
    (void)state;
    char buf[40];
    for (size_t at = 0; at < 24; at++) {
        memset(buf, 'a', sizeof(buf));
        buf[at] = (char)0xff;
        assert_false(rp_utf8_valid(buf, sizeof(buf)));
        memset(buf, 'a', sizeof(buf));
        memcpy(buf + at, "\xe2\x82\xac", 3); /* U+20AC across a word boundary */
        assert_true(rp_utf8_valid(buf, sizeof(buf)));
        buf[at + 2] = 'a'; /* cut short */
        assert_false(rp_utf8_valid(buf, sizeof(buf)));
    }
    assert_true(rp_utf8_valid("", 0));
}

/* An excerpt for a message: printable ASCII as it is, every other byte as '?', cut at 60 bytes
 * with "...", and never past the buffer it is given. */
static void test_str_excerpt(void **state)
{
    (void)state;
    char ex[64];
    assert_string_equal(rp_str_excerpt(RP_STR("name==1.0"), ex, sizeof(ex)), "name==1.0");
    assert_string_equal(rp_str_excerpt(RP_STR("a\x1b[31mb\xc3\xa9\n"), ex, sizeof(ex)),
                        "a?[31mb???");
    assert_string_equal(rp_str_excerpt(RP_STR_NULL, ex, sizeof(ex)), "");
    char big[100];
    memset(big, 'x', sizeof(big));
    rp_str_excerpt((struct rp_str){big, sizeof(big)}, ex, sizeof(ex));
    assert_int_equal(strlen(ex), 63);
    assert_memory_equal(ex + 60, "...", 3);
    rp_str_excerpt((struct rp_str){big, 60}, ex, sizeof(ex));
    assert_int_equal(strlen(ex), 60); /* exactly 60: not cut */
    char small[8];
    assert_string_equal(rp_str_excerpt((struct rp_str){big, sizeof(big)}, small, sizeof(small)),
                        "xxxx...");
}

static int fail_at(struct rp_error *err, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int result = rp_error_vset_line(err, line, fmt, ap);
    va_end(ap);
    return result;
}

/* The readers' errors name their line; a message too long for rp_error is cut, not overrun. */
static void test_error_line(void **state)
{
    (void)state;
    struct rp_error err = {{0}};
    assert_int_equal(fail_at(&err, 7, "\"%s\" is %s", "version", "a number"), RP_EINVAL);
    assert_string_equal(err.msg, "line 7: \"version\" is a number");
    assert_int_equal(fail_at(NULL, 1, "no error to fill"), RP_EINVAL);
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fail_at(&err, 12345, "%s", big);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, "line 12345: xxx", 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_sticky_error),
        cmocka_unit_test(test_always_never_abort_in_test_build),
        cmocka_unit_test(test_jsonw),
        cmocka_unit_test(test_jsonw_errors),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_hash_stable),
        cmocka_unit_test(test_utf8_valid_words),
        cmocka_unit_test(test_str_excerpt),
        cmocka_unit_test(test_error_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
