/* lib/gate/sse.c: server-sent events split anywhere, line ends of every kind, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rampart/sse.h"

struct seen {
    char text[4096];
    size_t n;
};

/* Collects events as "data|data|...". */
static void collect(void *arg, struct rp_str data)
{
    struct seen *s = arg;
    size_t room = sizeof(s->text) - strlen(s->text) - 2;
    strncat(s->text, data.ptr, data.len < room ? data.len : room);
    strncat(s->text, "|", 2);
    s->n++;
}

static const char stream[] = ": comment\r\n"
                             "event: message\n"
                             "data: {\"a\":1}\n\n"
                             "data:two\rdata: lines\r\r"
                             "id: 7\r\n"
                             "data: [DONE]\r\n\r\n"
                             "data: unfinished";

/* Every way of cutting the stream in two gives the same events. */
static void test_every_split(void **state)
{
    (void)state;
    for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
        struct seen seen = {{0}, 0};
        struct rp_sse s;
        rp_sse_init(&s, 1024, collect, &seen);
        assert_int_equal(rp_sse_feed(&s, stream, cut), RP_OK);
        assert_int_equal(rp_sse_feed(&s, stream + cut, sizeof(stream) - 1 - cut), RP_OK);
        assert_string_equal(seen.text, "{\"a\":1}|two\nlines|[DONE]|");
        rp_sse_release(&s);
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct seen seen = {{0}, 0};
    struct rp_sse s;
    rp_sse_init(&s, 1024, collect, &seen);
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        assert_int_equal(rp_sse_feed(&s, stream + i, 1), RP_OK);
    assert_int_equal(seen.n, 3);
    rp_sse_release(&s);
}

/* A line over the cap is skipped whole; the stream goes on after it. */
static void test_cap(void **state)
{
    (void)state;
    struct seen seen = {{0}, 0};
    struct rp_sse s;
    rp_sse_init(&s, 16, collect, &seen);
    static const char long_line[] = "data: 0123456789abcdefghijklmnop\n\ndata: ok\n\n";
    assert_int_equal(rp_sse_feed(&s, long_line, sizeof(long_line) - 1), RP_OK);
    assert_true(s.overflow);
    assert_string_equal(seen.text, "ok|");
    rp_sse_release(&s);
}

/* A line that is no field of an event stream is ignored, and said (a JSON answer sent as
 * text/event-stream); the fields of the standard and comments are not. */
static void test_foreign_lines(void **state)
{
    (void)state;
    struct seen seen = {{0}, 0};
    struct rp_sse s;
    rp_sse_init(&s, 1024, collect, &seen);
    static const char ok[] = ": c\nevent: e\nid: 1\nretry: 5\ndata\n\n";
    assert_int_equal(rp_sse_feed(&s, ok, sizeof(ok) - 1), RP_OK);
    assert_false(s.foreign);
    assert_string_equal(seen.text, "|");
    static const char json[] = "{\"choices\": []}\n\n";
    assert_int_equal(rp_sse_feed(&s, json, sizeof(json) - 1), RP_OK);
    assert_true(s.foreign);
    assert_int_equal(seen.n, 1);
    rp_sse_release(&s);
}

/* One byte order mark at the start is skipped, in whatever pieces it comes; anywhere else, or
 * a cut-off one, is text. */
static void test_byte_order_mark(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF"
                               "data: a\n\n";
    for (size_t cut = 0; cut <= sizeof(text) - 1; cut++) {
        struct seen seen = {{0}, 0};
        struct rp_sse s;
        rp_sse_init(&s, 1024, collect, &seen);
        assert_int_equal(rp_sse_feed(&s, text, cut), RP_OK);
        assert_int_equal(rp_sse_feed(&s, text + cut, sizeof(text) - 1 - cut), RP_OK);
        assert_string_equal(seen.text, "a|");
        assert_false(s.foreign);
        rp_sse_release(&s);
    }
    struct seen seen = {{0}, 0};
    struct rp_sse s;
    rp_sse_init(&s, 1024, collect, &seen);
    static const char cut_mark[] = "\xEF\xBB"
                                   "data: b\n\n";
    assert_int_equal(rp_sse_feed(&s, cut_mark, sizeof(cut_mark) - 1), RP_OK);
    assert_true(s.foreign);
    assert_int_equal(seen.n, 0);
    static const char second[] = "\xEF\xBB\xBF"
                                 "data: c\n\n";
    assert_int_equal(rp_sse_feed(&s, second, sizeof(second) - 1), RP_OK);
    assert_int_equal(seen.n, 0);
    rp_sse_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_foreign_lines),
        cmocka_unit_test(test_byte_order_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
