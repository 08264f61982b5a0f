/* Where the texts are in OpenAI-shaped requests and answers: in a jansson tree, or read in one
 * pass without one (see rampart/texts.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/json.h"
#include "rampart/texts.h"

/* Keeps node when it is a string and there is room. */
static void take(json_t *node, json_t **out, size_t cap, size_t *n)
{
    if (json_is_string(node) && *n < cap)
        out[(*n)++] = node;
}

/* The texts of one message, in the order of its members: its content (a string, or each part's
 * "text"), each tool call's function arguments, a function call's arguments. */
static void message_texts(json_t *m, json_t **out, size_t cap, size_t *n)
{
    const char *key;
    json_t *v, *e;
    size_t k;
    json_object_foreach(m, key, v)
    {
        if (!strcmp(key, "content")) {
            take(v, out, cap, n);
            json_array_foreach(v, k, e) take(json_object_get(e, "text"), out, cap, n);
        } else if (!strcmp(key, "tool_calls")) {
            json_array_foreach(v, k, e)
                take(json_object_get(json_object_get(e, "function"), "arguments"), out, cap, n);
        } else if (!strcmp(key, "function_call")) {
            take(json_object_get(v, "arguments"), out, cap, n);
        }
    }
}

size_t rp_prompt_texts_tree(json_t *body, const char *path, json_t **out, size_t cap)
{
    size_t n = 0;
    if (!strcmp(path, "/v1/chat/completions")) {
        /* In the order of the body's members, as the scan meets them. */
        const char *key;
        json_t *v, *e;
        size_t i;
        json_object_foreach(body, key, v)
        {
            if (!strcmp(key, "messages")) {
                json_array_foreach(v, i, e) message_texts(e, out, cap, &n);
            } else if (!strcmp(key, "tools")) {
                json_array_foreach(v, i, e) take(
                    json_object_get(json_object_get(e, "function"), "description"), out, cap, &n);
            } else if (!strcmp(key, "functions")) {
                json_array_foreach(v, i, e) take(json_object_get(e, "description"), out, cap, &n);
            }
        }
        return n;
    }
    json_t *v = json_object_get(body, !strcmp(path, "/v1/embeddings") ? "input" : "prompt"), *e;
    if (json_is_string(v) && n < cap)
        out[n++] = v;
    size_t i;
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e) && n < cap)
            out[n++] = e;
    }
    return n;
}

/* ---- Requests read without a tree ---- */

#define OBJECT_KEYS_MAX 32

struct scan {
    rp_text_fn fn;
    void *arg;
};

/* rp_jsonr_value for a request: RP_SCAN_TREE for a number jansson refuses (an integer past 64
 * bits, a real that overflows), so that the tree answers it as before (400). */
static int value(struct rp_jsonr *j, struct rp_jsonv *v)
{
    int rc = rp_jsonr_value(j, v);
    if (rc || v->type != RP_JSON_NUMBER)
        return rc;
    char small[64], *num = small;
    if (v->text.len >= sizeof(small)) {
        if (v->integer)
            return RP_SCAN_TREE; /* past 64 bits */
        /* A real of many digits may well be one jansson takes (fuzz_texts found one). */
        num = malloc(v->text.len + 1);
        if (!num)
            return RP_SCAN_TREE;
    }
    memcpy(num, v->text.ptr, v->text.len);
    num[v->text.len] = '\0';
    errno = 0;
    if (v->integer)
        (void)strtoll(num, NULL, 10);
    else if (strtod(num, NULL) == 0)
        errno = 0; /* jansson takes what underflows to 0 */
    rc = errno == ERANGE ? RP_SCAN_TREE : RP_SCAN_OK;
    if (num != small)
        free(num);
    return rc;
}

/* Adds the key just read to those of its object; RP_SCAN_TREE when it may repeat one (the tree,
 * which refuses duplicate keys, decides) or the object has too many to compare. */
static int new_key(struct rp_jsonr *j, uint64_t *keys, size_t *n)
{
    uint64_t h = rp_hash64(j->str.ptr ? j->str.ptr : "", j->str.len, 0);
    if (*n == OBJECT_KEYS_MAX)
        return RP_SCAN_TREE;
    for (size_t i = 0; i < *n; i++)
        if (keys[i] == h)
            return RP_SCAN_TREE;
    keys[(*n)++] = h;
    return RP_SCAN_OK;
}

/* Consumes the rest of value v, checking that no object in it repeats a key. */
static int skim(struct rp_jsonr *j, const struct rp_jsonv *v)
{
    bool first = true, done;
    int rc = RP_SCAN_OK;
    if (v->type == RP_JSON_OBJECT) {
        uint64_t keys[OBJECT_KEYS_MAX];
        size_t n = 0;
        unsigned line;
        while (!rc && !(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
            struct rp_jsonv c;
            if (!(rc = new_key(j, keys, &n)) && !(rc = value(j, &c)))
                rc = skim(j, &c);
        }
    } else if (v->type == RP_JSON_ARRAY) {
        while (!rc && !(rc = rp_jsonr_element(j, &first, &done)) && !done) {
            struct rp_jsonv c;
            if (!(rc = value(j, &c)))
                rc = skim(j, &c);
        }
    }
    return rc;
}

/* An object whose member named key carries text (a part's "text", a function call's
 * "arguments"): the text when it is a string. With inner, the member key is itself an object
 * whose member inner carries the text (a tool call's function's "arguments"). */
static int text_member(struct scan *ps, struct rp_jsonr *j, const char *key, const char *inner)
{
    uint64_t keys[OBJECT_KEYS_MAX];
    size_t n = 0;
    bool first = true, done;
    unsigned line;
    int rc;
    while (!(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
        bool hit = rp_jsonr_key_is(j, key);
        struct rp_jsonv v;
        if ((rc = new_key(j, keys, &n)) || (rc = value(j, &v)))
            return rc;
        if (hit && !inner && v.type == RP_JSON_STRING)
            rc = ps->fn(ps->arg, rp_buf_str(&j->str));
        else if (hit && inner && v.type == RP_JSON_OBJECT)
            rc = text_member(ps, j, inner, NULL);
        else
            rc = skim(j, &v);
        if (rc)
            return rc;
    }
    return rc;
}

/* The elements of an array value just read: each object's member key carries text (with inner,
 * the member inner of the object that is its member key). */
static int array_texts(struct scan *ps, struct rp_jsonr *j, const char *key, const char *inner)
{
    bool first = true, done;
    int rc;
    while (!(rc = rp_jsonr_element(j, &first, &done)) && !done) {
        struct rp_jsonv e;
        if ((rc = value(j, &e)))
            return rc;
        rc = e.type == RP_JSON_OBJECT ? text_member(ps, j, key, inner) : skim(j, &e);
        if (rc)
            return rc;
    }
    return rc;
}

/* One message object: its content (a string, or parts), its tool calls' function arguments,
 * its function call's arguments, in the order of its members. */
static int message(struct scan *ps, struct rp_jsonr *j)
{
    uint64_t keys[OBJECT_KEYS_MAX];
    size_t n = 0;
    bool first = true, done;
    unsigned line;
    int rc;
    while (!(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
        bool content = rp_jsonr_key_is(j, "content"), calls = rp_jsonr_key_is(j, "tool_calls"),
             call = rp_jsonr_key_is(j, "function_call");
        struct rp_jsonv v;
        if ((rc = new_key(j, keys, &n)) || (rc = value(j, &v)))
            return rc;
        if (content && v.type == RP_JSON_STRING)
            rc = ps->fn(ps->arg, rp_buf_str(&j->str));
        else if (content && v.type == RP_JSON_ARRAY)
            rc = array_texts(ps, j, "text", NULL);
        else if (calls && v.type == RP_JSON_ARRAY)
            rc = array_texts(ps, j, "function", "arguments");
        else if (call && v.type == RP_JSON_OBJECT)
            rc = text_member(ps, j, "arguments", NULL);
        else
            rc = skim(j, &v);
        if (rc)
            return rc;
    }
    return rc;
}

static int prompt_scan(struct scan *ps, struct rp_jsonr *j, const char *path)
{
    bool chat = !strcmp(path, "/v1/chat/completions");
    const char *field = chat ? "messages" : !strcmp(path, "/v1/embeddings") ? "input" : "prompt";
    struct rp_jsonv top;
    int rc = value(j, &top);
    if (rc || top.type != RP_JSON_OBJECT)
        return RP_SCAN_TREE; /* the tree's error message says what is wrong */
    uint64_t keys[OBJECT_KEYS_MAX];
    size_t n = 0;
    bool first = true, done;
    unsigned line;
    while (!(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
        bool hit = rp_jsonr_key_is(j, field), tools = chat && rp_jsonr_key_is(j, "tools"),
             functions = chat && rp_jsonr_key_is(j, "functions");
        struct rp_jsonv v;
        if ((rc = new_key(j, keys, &n)) || (rc = value(j, &v)))
            break;
        if (hit && !chat && v.type == RP_JSON_STRING) {
            rc = ps->fn(ps->arg, rp_buf_str(&j->str));
        } else if (hit && v.type == RP_JSON_ARRAY) {
            bool f2 = true, d2;
            while (!rc && !(rc = rp_jsonr_element(j, &f2, &d2)) && !d2) {
                struct rp_jsonv e;
                if ((rc = value(j, &e)))
                    break;
                if (chat && e.type == RP_JSON_OBJECT)
                    rc = message(ps, j);
                else if (!chat && e.type == RP_JSON_STRING)
                    rc = ps->fn(ps->arg, rp_buf_str(&j->str));
                else
                    rc = skim(j, &e);
            }
        } else if (tools && v.type == RP_JSON_ARRAY) {
            rc = array_texts(ps, j, "function", "description");
        } else if (functions && v.type == RP_JSON_ARRAY) {
            rc = array_texts(ps, j, "description", NULL);
        } else {
            rc = skim(j, &v);
        }
        if (rc)
            break;
    }
    if (!rc)
        rc = rp_jsonr_end(j);
    return rc ? RP_SCAN_TREE : RP_SCAN_OK;
}

int rp_prompt_texts_scan(struct rp_str body, const char *path, rp_text_fn fn, void *arg)
{
    struct scan ps = {fn, arg};
    struct rp_jsonr j;
    rp_jsonr_init(&j, body, NULL);
    int rc = prompt_scan(&ps, &j, path);
    rp_jsonr_release(&j);
    return rc;
}

/* ---- Whole answers read without a tree ---- */

/* ---- Token usage ---- */

/* Keeps, for the log, the first count that was not OK: its name and its text (a number's). */
static void usage_note(struct rp_usage *u, int k, const struct rp_jsonv *v)
{
    if (u->what[0])
        return;
    const char *name = k ? "completion_tokens" : "prompt_tokens";
    if (v->type != RP_JSON_NUMBER)
        snprintf(u->what, sizeof(u->what), "%s (%s)", name, rp_json_type_name(v->type));
    else
        snprintf(u->what, sizeof(u->what), "%s %.*s%s", name,
                 (int)(v->text.len > 24 ? 24 : v->text.len), v->text.ptr,
                 v->text.len > 24 ? "..." : "");
}

void rp_usage_take(struct rp_usage *u, int k, const struct rp_jsonv *v)
{
    enum rp_usage_state st = RP_USAGE_INVALID;
    int64_t n = 0;
    if (v->type == RP_JSON_NULL)
        return;
    bool minus = v->type == RP_JSON_NUMBER && v->text.len && v->text.ptr[0] == '-';
    /* "-0" is 0, as jansson reads it; any other minus is a negative count. */
    if (minus && v->integer) {
        size_t zeros = 1;
        while (zeros < v->text.len && v->text.ptr[zeros] == '0')
            zeros++;
        minus = zeros < v->text.len;
    }
    if (v->type == RP_JSON_NUMBER && v->integer && v->text.len && !minus) {
        /* Digits only (the reader checked the syntax): the value, or past RP_USAGE_MAX. */
        st = RP_USAGE_OK;
        for (size_t i = v->text.ptr[0] == '-'; i < v->text.len && st == RP_USAGE_OK; i++) {
            n = n * 10 + (v->text.ptr[i] - '0');
            if (n > RP_USAGE_MAX) {
                n = RP_USAGE_MAX;
                st = RP_USAGE_CLAMPED;
            }
        }
    }
    if (st != RP_USAGE_OK)
        usage_note(u, k, v);
    if (n > u->n[k])
        u->n[k] = n;
    if (st > u->st[k])
        u->st[k] = st;
}

/* The members of a usage object, its '{' consumed. */
static int usage_members(struct rp_jsonr *j, struct rp_usage *u)
{
    bool first = true, done;
    unsigned line;
    int rc;
    while (!(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
        int k = rp_jsonr_key_is(j, "prompt_tokens")       ? 0
                : rp_jsonr_key_is(j, "completion_tokens") ? 1
                                                          : -1;
        struct rp_jsonv v;
        if ((rc = rp_jsonr_value(j, &v)))
            break;
        if (k >= 0)
            rp_usage_take(u, k, &v);
        if ((rc = rp_jsonr_finish(j, &v)))
            break;
    }
    return rc;
}

int rp_usage_object(struct rp_str text, struct rp_usage *u)
{
    struct rp_jsonr j;
    struct rp_jsonv v;
    rp_jsonr_init(&j, text, NULL);
    int rc = rp_jsonr_value(&j, &v);
    if (!rc && v.type != RP_JSON_OBJECT)
        rc = RP_EINVAL;
    if (!rc)
        rc = usage_members(&j, u);
    rp_jsonr_release(&j);
    return rc ? RP_SCAN_TREE : RP_SCAN_OK;
}

int rp_usage_answer(struct rp_str text, struct rp_usage *u)
{
    struct rp_jsonr j;
    struct rp_jsonv top, v;
    bool first = true, done;
    unsigned line;
    rp_jsonr_init(&j, text, NULL);
    int rc = rp_jsonr_value(&j, &top);
    if (!rc && top.type != RP_JSON_OBJECT)
        rc = rp_jsonr_finish(&j, &top);
    else
        while (!rc && !(rc = rp_jsonr_member(&j, &first, &done, &line)) && !done) {
            bool in_usage = rp_jsonr_key_is(&j, "usage");
            if ((rc = rp_jsonr_value(&j, &v)))
                break;
            rc = in_usage && v.type == RP_JSON_OBJECT ? usage_members(&j, u)
                                                      : rp_jsonr_finish(&j, &v);
        }
    if (!rc)
        rc = rp_jsonr_end(&j);
    rp_jsonr_release(&j);
    return rc ? RP_SCAN_TREE : RP_SCAN_OK;
}

/* One element of "choices": its message's content (chat) or its text (completions). */
static int scan_choice(struct scan *sc, struct rp_jsonr *j, bool chat)
{
    bool first = true, done;
    unsigned line;
    int rc;
    while (!(rc = rp_jsonr_member(j, &first, &done, &line)) && !done) {
        struct rp_jsonv v;
        if (chat && rp_jsonr_key_is(j, "message")) {
            if ((rc = rp_jsonr_value(j, &v)))
                return rc;
            if (v.type != RP_JSON_OBJECT) {
                /* Its error must not be lost to the next member's read (fuzz_texts found an
                 * ill-formed message array taken as well-formed). */
                if ((rc = rp_jsonr_finish(j, &v)))
                    return rc;
                continue;
            }
            bool f2 = true, d2;
            while (!(rc = rp_jsonr_member(j, &f2, &d2, &line)) && !d2) {
                bool content = rp_jsonr_key_is(j, "content");
                if ((rc = rp_jsonr_value(j, &v)))
                    return rc;
                if (content && v.type == RP_JSON_STRING)
                    rc = (sc->fn(sc->arg, rp_buf_str(&j->str)) ? RP_SCAN_TREE : 0);
                else
                    rc = rp_jsonr_finish(j, &v);
                if (rc)
                    return rc;
            }
        } else if (!chat && rp_jsonr_key_is(j, "text")) {
            if ((rc = rp_jsonr_value(j, &v)))
                return rc;
            rc = v.type == RP_JSON_STRING
                     ? (sc->fn(sc->arg, rp_buf_str(&j->str)) ? RP_SCAN_TREE : 0)
                     : rp_jsonr_finish(j, &v);
        } else {
            rc = rp_jsonr_pass(j);
        }
        if (rc)
            return rc;
    }
    return rc;
}

int rp_answer_texts_scan(struct rp_str body, bool chat, rp_text_fn fn, void *arg,
                         struct rp_usage *usage)
{
    struct scan sc = {fn, arg};
    struct rp_usage use = *usage;
    struct rp_jsonr j;
    rp_jsonr_init(&j, body, NULL);
    struct rp_jsonv top, v;
    bool first = true, done;
    unsigned line;
    int rc = rp_jsonr_value(&j, &top);
    if (!rc && top.type != RP_JSON_OBJECT)
        rc = rp_jsonr_finish(&j, &top);
    else
        while (!rc && !(rc = rp_jsonr_member(&j, &first, &done, &line)) && !done) {
            bool choices = rp_jsonr_key_is(&j, "choices"), in_usage = rp_jsonr_key_is(&j, "usage");
            if ((rc = rp_jsonr_value(&j, &v)))
                break;
            if (choices && v.type == RP_JSON_ARRAY) {
                bool f2 = true, d2;
                while (!(rc = rp_jsonr_element(&j, &f2, &d2)) && !d2) {
                    struct rp_jsonv e;
                    if ((rc = rp_jsonr_value(&j, &e)))
                        break;
                    rc = e.type == RP_JSON_OBJECT ? scan_choice(&sc, &j, chat)
                                                  : rp_jsonr_finish(&j, &e);
                    if (rc)
                        break;
                }
            } else if (in_usage && v.type == RP_JSON_OBJECT) {
                rc = usage_members(&j, &use);
            } else {
                rc = rp_jsonr_finish(&j, &v);
            }
        }
    if (!rc)
        rc = rp_jsonr_end(&j);
    rp_jsonr_release(&j);
    if (rc)
        return RP_SCAN_TREE;
    *usage = use;
    return RP_SCAN_OK;
}
