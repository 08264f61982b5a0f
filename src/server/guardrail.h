/* The guardrails on the gateway's request path (src/server/guardrail.c). */
#ifndef RAMPART_SERVER_GUARDRAIL_H
#define RAMPART_SERVER_GUARDRAIL_H

#include <event2/buffer.h>
#include <jansson.h>

#include "gateway.h"
#include "rampart/texts.h"

/* Why the guardrails refuse a request, for the proxy to reply with. */
struct gw_prompt_refusal {
    struct gw_refusal no; /* 400 content_policy or too_many_texts, 503 overloaded */
    /* A refused prompt is a soft-block: what escalation made of it, to append to the message
     * (rp_escalation_notice). A BAN verdict is a ban due: gw_escalate_ban writes it first. */
    struct rp_escalation_verdict esc;
    char code[64]; /* the reason code the soft-block counts as */
    struct rp_refusal_weight weight; /* what it counts towards a ban, and why */
};

/* Inspects the texts of a request body (messages, prompt or input) before it goes upstream, and
 * records what it finds (counters, events, the behaviour watch, escalation's count). Returns 0
 * to go on (*rewritten: redactions were made in body, which must be sent instead of the original
 * bytes), or -1 when the request is refused, with why in *out. It never replies. */
int gw_guard_prompt(struct gw_worker *w, const char *path, json_t *body,
                    const struct rp_key_info *key, bool *rewritten, struct gw_prompt_refusal *out);

/* The same for a request read without a tree (no allocation a value): returns 0 to go on with
 * the body as it is, -1 when it is refused (*out), 1 when the tree must take the request (a text
 * to redact, malformed JSON or a repeated key, too many texts, no guardrails): then call
 * gw_body_object and gw_guard_prompt, which inspect it anew. */
int gw_guard_prompt_fast(struct gw_worker *w, struct gw_req *req, const char *path,
                         const struct rp_key_info *key, struct gw_prompt_refusal *out);

/* The output side of one answer in *out; NULL when the guard is off or the endpoint has no
 * text answer (embeddings, models). RP_ENOMEM when it cannot be made (the request must fail:
 * an answer is never relayed unguarded). Freeing it records the findings as events. */
struct gw_answer_guard;
int gw_answer_guard_new(struct gw_worker *w, const char *path, const struct rp_key_info *key,
                        struct gw_answer_guard **out);
void gw_answer_guard_free(struct gw_answer_guard *ag);
/* Records what the scans of a finished or stopped answer found, as events (once; freeing does
 * it too). NULL is a no-op. */
void gw_answer_guard_record(struct gw_answer_guard *ag);

/* One server-sent event of a streamed answer (its data): appends what to send to out. Returns
 * true once the answer is refused: out then ends with an error event and nothing more is to be
 * sent. */
bool gw_answer_guard_event(struct gw_answer_guard *ag, struct rp_str data, struct evbuffer *out);
/* The stream ended without [DONE]: appends the held-back text. Returns true when refused. */
bool gw_answer_guard_end(struct gw_answer_guard *ag, struct evbuffer *out);
/* Whether the streamed answer was refused (its error event written). */
bool gw_answer_guard_refused(const struct gw_answer_guard *ag);
/* A whole (non-streamed) answer: appends it, inspected and perhaps modified, to out (the
 * model's own bytes when nothing changed), and returns the status to answer with: the
 * upstream's, or 502 when the answer cannot be inspected (out then holds an error in OpenAI's
 * shape, code answer_unreadable), 503 when out of memory (code overloaded). A refused answer
 * keeps its shape with empty text and finish_reason "content_filter". The answer's usage is read
 * into *usage (rampart/texts.h). */
int gw_answer_guard_whole(struct gw_answer_guard *ag, int status, struct rp_str body,
                          struct evbuffer *out, struct rp_usage *usage);

#endif
