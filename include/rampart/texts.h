/* Where the texts are in OpenAI-shaped requests and answers (lib/gate/texts.c): found in a
 * jansson tree, or read in one pass without a tree (rampart/json.h) on the hot path. The two
 * ways find the same texts in the same order; fuzz/fuzz_texts.c holds them to that. */
#ifndef RAMPART_TEXTS_H
#define RAMPART_TEXTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "rampart/base.h"
#include "rampart/json.h"

/* What a scan without a tree says: go on with the bytes as they are, or let the tree take them. */
enum { RP_SCAN_OK = 0, RP_SCAN_TREE = 1 };

/* Called with each text as it is decoded; returns RP_SCAN_OK to go on or RP_SCAN_TREE to stop
 * the scan (which then returns RP_SCAN_TREE). */
typedef int (*rp_text_fn)(void *arg, struct rp_str text);

/* The string nodes of a request body that carry text for the model, in the order of the body:
 * for /v1/chat/completions each message's "content" (whatever its role) or its parts' "text",
 * its tool calls' function "arguments" and its function call's "arguments", and the
 * "description" of each of "tools" (of their "function") and "functions"; "prompt" for
 * /v1/completions; "input" for /v1/embeddings; a string or an array of them. At most cap of
 * them in out; returns how many it kept (cap when there are more: ask for one more than you
 * take). */
size_t rp_prompt_texts_tree(json_t *body, const char *path, json_t **out, size_t cap);

/* The same texts of a request body read without a tree, each handed to fn. RP_SCAN_TREE when fn
 * asks for it, and when the body is not what the tree path would accept (not JSON, not an
 * object, a key repeated in an object: JSON_REJECT_DUPLICATES) or cannot be told apart from
 * that cheaply (an object of more than 32 keys). */
int rp_prompt_texts_scan(struct rp_str body, const char *path, rp_text_fn fn, void *arg);

/* ---- Token usage ---- */

/* The most tokens one count of an answer may say (prompt or completion): a larger count is
 * taken as this (docs/api.md, "Token usage"). No real answer comes near it: 2,048 embedding
 * inputs of 8,192 tokens are 16.8 million. */
#define RP_USAGE_MAX 100000000
/* What an upstream's count was, from the best to the worst. */
enum rp_usage_state {
    RP_USAGE_ABSENT = 0, /* not there, or null */
    RP_USAGE_OK,         /* a whole number 0..RP_USAGE_MAX */
    RP_USAGE_CLAMPED,    /* a whole number over RP_USAGE_MAX (taken as RP_USAGE_MAX) */
    RP_USAGE_INVALID     /* negative, a fraction or exponent, or not a number */
};
/* The token counts of an answer's "usage" (index 0 prompt_tokens, 1 completion_tokens), as
 * checked numbers: an upstream's bug must not become the gateway's (a count of 2^63-1 once
 * overflowed the accounting, a negative one passed uncharged). */
struct rp_usage {
    int64_t n[2];              /* the largest valid (or clamped) count read, 0 when none */
    enum rp_usage_state st[2]; /* the worst of the counts read */
    char what[48];             /* the first count that was not OK, for the log */
};
/* Takes one count (the value v just read, begun with rp_jsonr_value) into u->n[k]: of several
 * occurrences the largest count and the worst state are kept. */
void rp_usage_take(struct rp_usage *u, int k, const struct rp_jsonv *v);
/* The usage object whose '{' starts text (what follows it is not read). RP_SCAN_TREE when it is
 * not a JSON object; the counts read before an error are kept. */
int rp_usage_object(struct rp_str text, struct rp_usage *u);
/* The top-level "usage" of an answer or of an event of a stream (each occurrence of a repeated
 * key). RP_SCAN_TREE when the text is not JSON; the counts read before an error are kept. */
int rp_usage_answer(struct rp_str text, struct rp_usage *u);

/* The texts of a whole answer (each choice's message "content" when chat, else its "text") read
 * without a tree, and its usage (rp_usage_take) into *usage. Every occurrence of a repeated key
 * is read. RP_SCAN_TREE when fn asks for it or the answer is not JSON (usage is then left as
 * it was). */
int rp_answer_texts_scan(struct rp_str body, bool chat, rp_text_fn fn, void *arg,
                         struct rp_usage *usage);

#endif
