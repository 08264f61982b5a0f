/* libFuzzer target: the guard's streaming scanner (rp_guard_stream_*) against its block mode
 * (rp_guard_inspect, output direction), on one guard built once from the rule pack below (no
 * default pack, classifiers off): redactions with hold classes (a fixed-width key, e-mail
 * addresses with bounds that Hyperscan 5.4 still compiles with SOM_LEFTMOST, Luhn-checked card
 * numbers, a token ending in \b, zero-width characters deleted), a PEM block found through
 * starts_with, a rule without a hold class, a defanged link, a flagging word and a refusing one.
 * Input: byte 0 seeds the piece lengths (1 .. 1 + (byte0 & 31), drawn by a small PRNG), the rest
 * is the answer. Ill-formed UTF-8 is streamed as is (no comparison: block mode would read it
 * sanitised), then replaced with U+FFFD and compared like any other answer. Every text and piece
 * the guard scans is first copied to end where a page ends, before an unmapped page, so that a
 * read past its end crashes on every run, not only where the allocator happened to put it (a
 * regression: Hyperscan's AVX-512 VBMI code reads past the buffer, see rp__guard_hs_text).
 * Invariants, abort() when broken:
 *   - feed and finish return RP_OK; nothing is released once the stream is refused;
 *   - the stream is refused exactly when block mode refuses;
 *   - otherwise the concatenated released text equals, byte for byte, block mode's modified
 *     text (verdict modify) or the answer itself (allow, flag), and the stream's final verdict
 *     and points are block mode's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rampart/guard.h"

static const char pack[] =
    "rules:\n"
    "  - id: aws-key\n"
    "    direction: output\n"
    "    category: secret\n"
    "    score: 2\n"
    "    caseless: false\n"
    "    pattern: 'AKIA[0-9A-Z]{16}'\n"
    "    message: an AWS access key id\n"
    "    modify: redact\n"
    "    replacement: '[AWS]'\n"
    "    hold: '[A-Z0-9]'\n"
    "  - id: gh-token\n"
    "    direction: output\n"
    "    category: secret\n"
    "    score: 2\n"
    "    caseless: false\n"
    "    pattern: '\\bgh[pousr]_[A-Za-z0-9]{8,40}\\b'\n"
    "    message: a GitHub-like token\n"
    "    modify: redact\n"
    "    replacement: '[GH]'\n"
    "    hold: '[A-Za-z0-9_]'\n"
    "  - id: email\n"
    "    direction: output\n"
    "    category: personal-data\n"
    "    score: 2\n"
    "    pattern: '[a-z0-9._%+-]{1,48}@[a-z0-9.-]{1,48}\\.[a-z]{2,24}'\n"
    "    message: an e-mail address\n"
    "    modify: redact\n"
    "    replacement: '[EMAIL]'\n"
    "    hold: '[A-Za-z0-9._%+@-]'\n"
    "  - id: card\n"
    "    direction: output\n"
    "    category: personal-data\n"
    "    score: 2\n"
    "    pattern: "
    "'\\b(?:4\\d{3}|5[1-5]\\d{2}|2[2-7]\\d{2}|3[47]\\d{2}|6(?:011|5\\d{2}))(?:[ -]?\\d){9,15}\\b'\n"
    "    validate: luhn\n"
    "    message: a payment card number\n"
    "    modify: redact\n"
    "    replacement: '[CARD]'\n"
    "    hold: '[0-9 -]'\n"
    "  - id: private-key\n"
    "    direction: output\n"
    "    category: secret\n"
    "    score: 2\n"
    "    caseless: false\n"
    "    pattern: '-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[A-Za-z0-9+/=\\s]{1,400}"
    "-----END (?:RSA |EC )?PRIVATE KEY-----'\n"
    "    message: a private key\n"
    "    modify: redact\n"
    "    replacement: '[KEY]'\n"
    "    starts_with: '-----BEGIN'\n"
    "  - id: secret-kv\n"
    "    direction: output\n"
    "    category: secret\n"
    "    score: 2\n"
    "    pattern: 'secret=[a-z]{4,12}'\n"
    "    message: a secret assignment, no hold class, default replacement\n"
    "    modify: redact\n"
    "  - id: zero-width\n"
    "    direction: output\n"
    "    category: hidden-text\n"
    "    score: 2\n"
    "    caseless: false\n"
    "    utf8: true\n"
    "    pattern: '[\\x{200B}\\x{2060}-\\x{2064}\\x{FEFF}]|[\\x{200C}\\x{200D}]{2}'\n"
    "    message: zero-width characters (removed)\n"
    "    modify: redact\n"
    "    replacement: ''\n"
    "    hold: '[\\x80-\\xBF\\xE2\\xEF\\xF3]'\n"
    "  - id: evil-link\n"
    "    direction: output\n"
    "    category: link\n"
    "    score: 2\n"
    "    pattern: 'https?://evil\\.example(?:/[a-z0-9]{0,16})?'\n"
    "    message: a bad link (defanged)\n"
    "    modify: defang\n"
    "    hold: '[A-Za-z0-9:/.]'\n"
    "  - id: suspicious\n"
    "    direction: output\n"
    "    category: test\n"
    "    score: 2\n"
    "    pattern: 'suspicious'\n"
    "    message: a word that flags\n"
    "  - id: forbidden\n"
    "    direction: output\n"
    "    category: test\n"
    "    score: 5\n"
    "    pattern: 'forbidden'\n"
    "    message: a word that refuses\n";

static struct rp_guard *guard;
static struct rp_guard_scratch *scratch;

/* Two areas that end where an unmapped page begins: one for the answer, one for a piece. */
#define EDGE_BYTES (1u << 20)
static char *edge_end[2];

static void edge_init(void)
{
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < 2; i++) {
        char *m = mmap(NULL, EDGE_BYTES + (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m + EDGE_BYTES, (size_t)page, PROT_NONE)) {
            perror("fuzz_guard_stream: the page-end areas");
            abort();
        }
        edge_end[i] = m + EDGE_BYTES;
    }
}

/* text copied to end at the end of area i (left where it is when it does not fit). */
static struct rp_str at_edge(int i, struct rp_str text)
{
    if (text.len > EDGE_BYTES)
        return text;
    char *p = edge_end[i] - text.len;
    if (text.len)
        memmove(p, text.ptr, text.len);
    return (struct rp_str){p, text.len};
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[] = "/tmp/fuzz-guard-stream-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, pack, sizeof(pack) - 1) != (ssize_t)(sizeof(pack) - 1)) {
        perror("fuzz_guard_stream: the rule pack");
        abort();
    }
    close(fd);
    struct rp_guard_options opt = {
        .rule_files = {path},
        .n_rule_files = 1,
        .no_default_rules = true,
        .classifier_points = {-1, -1},
    };
    struct rp_error err;
    int rc = rp_guard_new(&opt, &guard, &err);
    unlink(path);
    if (rc || rp_guard_scratch_new(guard, &scratch)) {
        fprintf(stderr, "fuzz_guard_stream: no guard: %s\n", rc ? err.msg : "no scratch");
        abort();
    }
    edge_init();
    return 0;
}

static void dump(const char *label, const char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x\"\"", c);
    }
    fprintf(stderr, "\"\n");
}

static void broken(const char *what, uint8_t seed, struct rp_str text, const char *expected,
                   size_t n_expected, const struct rp_buf *got)
{
    fprintf(stderr, "fuzz_guard_stream: broken invariant: %s\npiece seed: %u\n", what, seed);
    dump("answer", text.ptr, text.len);
    if (expected)
        dump("expected", expected, n_expected);
    if (got)
        dump("streamed", got->ptr ? got->ptr : "", got->len);
    abort();
}

/* xorshift32: the piece lengths. */
static uint32_t next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Streams text in pieces; returns whether the stream was refused. */
static bool stream(uint8_t seed, struct rp_str text, struct rp_buf *out,
                   struct rp_guard_result *final)
{
    struct rp_guard_stream *st;
    if (rp_guard_stream_new(guard, scratch, &st))
        abort();
    uint32_t x = 0x9E3779B9u ^ ((uint32_t)seed * 0x01000193u);
    size_t max = 1 + (seed & 31u), at = 0, released = 0;
    bool refused = false;
    while (at < text.len) {
        size_t n = 1 + next(&x) % max;
        if (n > text.len - at)
            n = text.len - at;
        if (rp_guard_stream_feed(st, at_edge(1, (struct rp_str){text.ptr + at, n}), out) != RP_OK)
            broken("rp_guard_stream_feed failed", seed, text, NULL, 0, out);
        at += n;
        if (refused && out->len != released)
            broken("text released after the refusal", seed, text, NULL, 0, out);
        refused = rp_guard_stream_refused(st);
        released = out->len;
    }
    if (rp_guard_stream_finish(st, out) != RP_OK)
        broken("rp_guard_stream_finish failed", seed, text, NULL, 0, out);
    if (refused && out->len != released)
        broken("text released at the end after the refusal", seed, text, NULL, 0, out);
    refused = rp_guard_stream_refused(st);
    *final = *rp_guard_stream_result(st);
    rp_guard_stream_free(st);
    return refused;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t seed = data[0];
    struct rp_str text = {(const char *)data + 1, size - 1};
    struct rp_buf out, clean;
    struct rp_guard_result sres;
    rp_buf_init(&out, 1u << 26);
    rp_buf_init(&clean, 1u << 26);
    if (!rp_utf8_valid(text.ptr, text.len)) {
        stream(seed, text, &out, &sres);
        rp_buf_reset(&out);
        if (rp_utf8_sanitize(text, &clean))
            abort();
        text = rp_buf_str(&clean);
    }
    struct rp_guard_result res;
    if (rp_guard_inspect(guard, scratch, RP_GUARD_OUTPUT, at_edge(0, text), &res))
        abort();
    bool refused = stream(seed, text, &out, &sres);
    bool block_refused = res.verdict == RP_GUARD_REFUSE;
    if (refused != block_refused)
        broken(refused ? "the stream refused, block mode did not"
                       : "block mode refused, the stream did not",
               seed, text, NULL, 0, &out);
    if (!refused) {
        const char *want = res.verdict == RP_GUARD_MODIFY ? res.text.ptr : text.ptr;
        size_t n_want = res.verdict == RP_GUARD_MODIFY ? res.text.len : text.len;
        if (out.len != n_want || (n_want && memcmp(out.ptr, want, n_want)))
            broken("the streamed text differs from block mode's", seed, text, want, n_want, &out);
        if (sres.verdict != res.verdict)
            broken("the stream's verdict differs from block mode's", seed, text, want, n_want,
                   &out);
        if (sres.points != res.points)
            broken("the stream's points differ from block mode's", seed, text, want, n_want, &out);
    }
    rp_guard_result_release(&res);
    rp_buf_release(&out);
    rp_buf_release(&clean);
    return 0;
}
