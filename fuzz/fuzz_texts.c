/* libFuzzer target: the texts of requests and answers found without a tree (lib/gate/texts.c, the
 * hot path) against those found in jansson's tree (the path that rewrites), on any bytes. The first
 * byte picks the endpoint; the rest is the body, read both as a request and as an answer.
 * - A request the scan lets through must be one the tree path takes (a JSON object without a
 *   repeated key), with the same texts in the same order; and a body the tree takes, whose
 *   objects have at most 32 keys, must not be sent to the tree by the scan.
 * - An answer the scan reads must be JSON jansson reads (bar integers past 64 bits); when it has
 *   no repeated key, the texts and the usage must be the tree's (each count checked as
 *   rp_usage_take says), and rp_usage_answer must read the same usage.
 * - rp_usage_object on the body never reads past it, whatever it is. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/texts.h"

#define TEXTS_MAX 300

struct list {
    size_t n;
    struct rp_str t[TEXTS_MAX];
};

static int collect(void *arg, struct rp_str text)
{
    struct list *l = arg;
    if (l->n == TEXTS_MAX)
        return RP_SCAN_TREE;
    char *copy = malloc(text.len + 1);
    if (!copy)
        abort();
    memcpy(copy, text.ptr, text.len);
    copy[text.len] = '\0';
    l->t[l->n++] = (struct rp_str){copy, text.len};
    return RP_SCAN_OK;
}

static void list_free(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->t[i].ptr);
    l->n = 0;
}

static void same_texts(const struct list *l, json_t **nodes, size_t n)
{
    if (l->n != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (json_string_length(nodes[i]) != l->t[i].len ||
            memcmp(json_string_value(nodes[i]), l->t[i].ptr, l->t[i].len) != 0)
            abort();
}

/* The most keys any object in j has. */
static size_t widest(json_t *j)
{
    size_t most = 0, i;
    const char *k;
    json_t *v;
    if (json_is_object(j)) {
        most = json_object_size(j);
        json_object_foreach(j, k, v)
        {
            size_t w = widest(v);
            most = w > most ? w : most;
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            size_t w = widest(v);
            most = w > most ? w : most;
        }
    }
    return most;
}

static void check_request(struct rp_str body, const char *path)
{
    static struct list l;
    int rc = rp_prompt_texts_scan(body, path, collect, &l);
    json_error_t err;
    json_t *j = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    bool tree_takes = j && json_is_object(j);
    if (rc == RP_SCAN_OK) {
        if (!tree_takes)
            abort();
        json_t *nodes[TEXTS_MAX];
        size_t n = rp_prompt_texts_tree(j, path, nodes, TEXTS_MAX);
        if (n > TEXTS_MAX)
            abort();
        same_texts(&l, nodes, n);
    } else if (tree_takes && widest(j) <= 32 && l.n < TEXTS_MAX &&
               !memchr(body.ptr, '\0', body.len)) {
        /* Sent to the tree for no reason. (jansson's reader skips raw NUL bytes between
         * tokens, which the scan refuses: those bodies go to the tree, as they should.) */
        abort();
    }
    json_decref(j);
    list_free(&l);
}

/* What rp_usage_take makes of jansson's value of a count. */
static void expected_count(json_t *v, enum rp_usage_state *st, int64_t *n)
{
    *n = 0;
    if (!v || json_is_null(v)) {
        *st = RP_USAGE_ABSENT;
    } else if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *st = RP_USAGE_INVALID;
    } else if (json_integer_value(v) > RP_USAGE_MAX) {
        *st = RP_USAGE_CLAMPED;
        *n = RP_USAGE_MAX;
    } else {
        *st = RP_USAGE_OK;
        *n = json_integer_value(v);
    }
}

static void same_usage(const struct rp_usage *u, json_t *doc)
{
    json_t *usage = json_object_get(doc, "usage");
    if (!json_is_object(usage))
        usage = NULL;
    static const char *names[2] = {"prompt_tokens", "completion_tokens"};
    for (int k = 0; k < 2; k++) {
        enum rp_usage_state st;
        int64_t n;
        expected_count(json_object_get(usage, names[k]), &st, &n);
        if (u->st[k] != st || u->n[k] != n || u->n[k] < 0 || u->n[k] > RP_USAGE_MAX)
            abort();
    }
}

static void check_answer(struct rp_str body, bool chat)
{
    static struct list l;
    struct rp_usage usage = {{0, 0}, {RP_USAGE_ABSENT, RP_USAGE_ABSENT}, ""};
    int rc = rp_answer_texts_scan(body, chat, collect, &l, &usage);
    struct rp_usage other = {{0, 0}, {RP_USAGE_ABSENT, RP_USAGE_ABSENT}, ""};
    int rc2 = rp_usage_answer(body, &other);
    struct rp_usage obj = {{0, 0}, {RP_USAGE_ABSENT, RP_USAGE_ABSENT}, ""};
    rp_usage_object(body, &obj);
    for (int k = 0; k < 2; k++)
        if (obj.n[k] < 0 || obj.n[k] > RP_USAGE_MAX || other.n[k] < 0 || other.n[k] > RP_USAGE_MAX)
            abort();
    json_error_t err;
    json_t *j = json_loadb(body.ptr, body.len, 0, &err);
    /* jansson refuses more than the scan: integers past 64 bits, reals that overflow, deep
     * nesting, and a document that is a bare scalar; those answers go out unchanged either way
     * when they hold no text. */
    if (rc == RP_SCAN_OK && !j && !strstr(err.text, "too big") && !strstr(err.text, "overflow") &&
        !strstr(err.text, "nesting") && !(strstr(err.text, "'[' or '{' expected") && l.n == 0))
        abort();
    json_t *strict = j ? json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (rc == RP_SCAN_OK && strict) {
        json_t *nodes[TEXTS_MAX];
        size_t n = 0, i;
        json_t *ch;
        json_array_foreach(json_object_get(strict, "choices"), i, ch)
        {
            json_t *t = chat ? json_object_get(json_object_get(ch, "message"), "content")
                             : json_object_get(ch, "text");
            if (json_is_string(t) && n < TEXTS_MAX)
                nodes[n++] = t;
        }
        same_texts(&l, nodes, n);
        same_usage(&usage, strict);
        if (rc2 != RP_SCAN_OK)
            abort();
        same_usage(&other, strict);
    }
    json_decref(strict);
    json_decref(j);
    list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *paths[] = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"};
    if (size < 1)
        return 0;
    const char *path = paths[data[0] % 3];
    struct rp_str body = {(const char *)data + 1, size - 1};
    check_request(body, path);
    check_answer(body, data[0] % 3 == 0);
    return 0;
}
