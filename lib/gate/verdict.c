/* What a guard verdict means for a request and its account: which event records it, which
 * counter counts it, whether it is a soft-block, and what a refusal tells the person (see
 * rampart/policy.h). */
#include <stdio.h>
#include <string.h>

#include "rampart/json.h"
#include "rampart/policy.h"

/* How much a reason tells a person: a rule names what the text does; "obfuscated" only that a
 * rule's trigger was hidden (the rule is listed too); the classifier's judgement names nothing. */
static int reason_rank(const struct rp_guard_reason *r)
{
    return !strcmp(r->code, "classifier") ? 0 : !strcmp(r->code, "obfuscated") ? 1 : 2;
}

/* The most informative reason, for the message a person reads: a rule before the classifier
 * (even when the classifier gave more points), then the one with the most points, the first of
 * equals. */
static const struct rp_guard_reason *top_reason(const struct rp_guard_result *r)
{
    const struct rp_guard_reason *best = NULL;
    for (size_t i = 0; i < r->n_reasons; i++) {
        const struct rp_guard_reason *c = &r->reasons[i];
        int rc = reason_rank(c), rb = best ? reason_rank(best) : -1;
        if (rc > rb || (rc == rb && c->points > best->points))
            best = c;
    }
    return best;
}

/* "(jailbreak-dan: uses the DAN persona; also classifier)": the top reason and the codes of the
 * others (at most 3), for a refusal's message. */
static void reason_text(const struct rp_guard_result *r, const char *none, char *out, size_t size)
{
    const struct rp_guard_reason *why = r ? top_reason(r) : NULL;
    struct rp_buf b;
    rp_buf_init(&b, size - 1);
    rp_buf_addf(&b, "(%s: %s", why ? why->code : "policy", why ? why->message : none);
    size_t shown = 0;
    for (size_t i = 0; why && i < r->n_reasons && shown < 3; i++) {
        if (&r->reasons[i] == why)
            continue;
        rp_buf_adds(&b, shown++ ? ", " : "; also ");
        rp_buf_adds(&b, r->reasons[i].code);
    }
    size_t more = why ? r->n_reasons - 1 - shown + r->n_more : 0;
    if (more)
        rp_buf_addf(&b, "%s%zu more", shown ? " and " : "; also ", more);
    rp_buf_addc(&b, ')');
    snprintf(out, size, "%.*s", (int)b.len, b.ptr ? b.ptr : "");
    rp_buf_release(&b);
}

/* The reasons of a refusal are cut at this length, as a person reads them. */
#define REASONS_MAX 400

void rp_enforcement_init(struct rp_enforcement *out, const struct rp_guard_result *r,
                         enum rp_guard_dir dir)
{
    bool input = dir == RP_GUARD_INPUT;
    memset(out, 0, sizeof(*out));
    out->v.action = RP_ACTION_ALLOW;
    out->v.code = "";
    if (r && r->verdict == RP_GUARD_ALLOW)
        return;
    if (r && !r->enforced) {
        out->v.action = RP_ACTION_NOTE;
        out->counter = RP_ENFORCED_MONITOR;
        out->event = "guard_monitor";
    } else if (r && r->verdict == RP_GUARD_MODIFY) {
        out->v.action = RP_ACTION_NOTE;
        out->counter = RP_ENFORCED_MODIFY;
        out->event = input ? "prompt_modified" : "answer_modified";
    } else if (r && r->verdict == RP_GUARD_FLAG) {
        out->v.action = RP_ACTION_NOTE;
        out->counter = RP_ENFORCED_FLAG;
        out->event = "guard_flag";
    } else {
        out->v.action = input ? RP_ACTION_SOFT_BLOCK : RP_ACTION_REFUSE;
        out->counter = r ? RP_ENFORCED_REFUSE : RP_ENFORCED_NONE;
        out->event = !r ? NULL : input ? "soft_block" : "answer_refused";
    }
    const struct rp_guard_reason *why = r ? top_reason(r) : NULL;
    out->v.code = why ? why->code : "content_policy";
    if (out->v.action == RP_ACTION_NOTE)
        return;
    char reasons[REASONS_MAX];
    reason_text(r, input ? "refused" : "too many choices to inspect while streaming", reasons,
                sizeof(reasons));
    snprintf(out->v.sentence, sizeof(out->v.sentence), "the %s by this service's content policy %s",
             input ? "prompt was refused" : "answer was stopped", reasons);
}

/* The detail up to its list of codes, each of the first n codes, and the end. */
static int guard_detail(struct rp_buf *out, const char *path, const struct rp_guard_result *r,
                        const struct rp_refusal_weight *weight, size_t n, bool truncated)
{
    struct rp_jsonw w;
    rp_jsonw_init(&w, out);
    rp_jsonw_object(&w);
    rp_jsonw_kstr(&w, "path", path);
    rp_jsonw_kstr(&w, "verdict", rp_guard_verdict_name(r->verdict));
    rp_jsonw_knum(&w, "points", r->points, 2);
    if (weight) {
        rp_jsonw_knum(&w, "confidence", weight->confidence, 4);
        rp_jsonw_knum(&w, "weight", weight->weight, 4);
        rp_jsonw_kstr(&w, "counts_as", weight->code);
        rp_jsonw_kint(&w, "repeats", weight->repeats);
    }
    rp_jsonw_key(&w, "codes");
    rp_jsonw_array(&w);
    for (size_t i = 0; i < n; i++)
        rp_jsonw_str(&w, r->reasons[i].code);
    rp_jsonw_end(&w);
    if (truncated)
        rp_jsonw_kbool(&w, "truncated", true);
    rp_jsonw_end(&w);
    return rp_jsonw_finish(&w);
}

int rp_guard_event_detail(struct rp_buf *out, const char *path, const struct rp_guard_result *r,
                          const struct rp_refusal_weight *weight)
{
    size_t start = out->len, n = r->n_reasons;
    int rc = guard_detail(out, path, r, weight, n, false);
    /* Too long: the most codes that fit with the marker (few reasons: a few tries at most). */
    while (rc == RP_ETOOBIG && n > 0) {
        rp_buf_truncate(out, start);
        rc = guard_detail(out, path, r, weight, --n, true);
    }
    if (rc)
        rp_buf_truncate(out, start);
    return rc;
}

bool rp_guard_split_attack(struct rp_guard_result *joined, const char *const *codes, size_t n_codes,
                           double refuse_score)
{
    if (joined->verdict != RP_GUARD_REFUSE)
        return false;
    double rules = -joined->neutralised;
    bool fresh = false;
    for (size_t i = 0; i < joined->n_reasons; i++) {
        const struct rp_guard_reason *r = &joined->reasons[i];
        if (!strcmp(r->code, "classifier"))
            continue;
        rules += r->points;
        size_t k = 0;
        while (k < n_codes && strcmp(codes[k], r->code))
            k++;
        fresh |= k == n_codes;
    }
    if (!fresh || rules < refuse_score)
        return false;
    if (joined->n_reasons < RP_GUARD_MAX_REASONS)
        joined->reasons[joined->n_reasons++] = (struct rp_guard_reason){
            "split-across-texts",
            "prompt-attack",
            "the request's messages make an attack only when read together",
            0,
            0,
            0};
    return true;
}
