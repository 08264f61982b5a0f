/* Where the texts are in OpenAI-shaped requests and answers (src/server/texts.c): found in a
 * jansson tree, or read in one pass without a tree (rampart/json.h) on the hot path. The two
 * ways find the same texts in the same order; fuzz/fuzz_texts.c holds them to that. */
#ifndef RAMPART_SERVER_TEXTS_H
#define RAMPART_SERVER_TEXTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "rampart/base.h"

/* What a scan without a tree says: go on with the bytes as they are, or let the tree take them. */
enum { GW_SCAN_OK = 0, GW_SCAN_TREE = 1 };

/* Called with each text as it is decoded; returns GW_SCAN_OK to go on or GW_SCAN_TREE to stop
 * the scan (which then returns GW_SCAN_TREE). */
typedef int (*gw_text_fn)(void *arg, struct rp_str text);

/* The string nodes of a request body that carry text for the model (the messages' "content",
 * and their parts' "text", for /v1/chat/completions; "prompt" for /v1/completions; "input" for
 * /v1/embeddings; a string or an array of them), at most cap of them in out. Returns how many
 * there are (may exceed cap). */
size_t gw_prompt_texts_tree(json_t *body, const char *path, json_t **out, size_t cap);

/* The same texts of a request body read without a tree, each handed to fn. GW_SCAN_TREE when fn
 * asks for it, and when the body is not what the tree path would accept (not JSON, not an
 * object, a key repeated in an object: JSON_REJECT_DUPLICATES) or cannot be told apart from
 * that cheaply (an object of more than 32 keys). */
int gw_prompt_texts_scan(struct rp_str body, const char *path, gw_text_fn fn, void *arg);

/* The texts of a whole answer (each choice's message "content" when chat, else its "text") read
 * without a tree, and its usage (prompt_tokens, completion_tokens) into usage when present.
 * Every occurrence of a repeated key is read. GW_SCAN_TREE when fn asks for it or the answer is
 * not JSON. */
int gw_answer_texts_scan(struct rp_str body, bool chat, gw_text_fn fn, void *arg, int64_t usage[2]);

#endif
