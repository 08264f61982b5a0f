/* The output direction over a streamed answer: Hyperscan's stream mode with start-of-match sees
 * each piece once; the scanner releases text up to the first byte that could still belong to a
 * match (each rule's class of bytes, or the literal its matches start with), so that a secret
 * split across pieces is redacted before any of it leaves. docs/guardrails.md, "Streaming". */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rp_guard_stream {
    const struct rp_guard *g;
    const struct rp__guard_dir *d;
    struct rp_guard_scratch *s;
    hs_stream_t *hs;
    struct rp_buf pend; /* bytes not released yet; pend.ptr[0] is at offset base */
    uint64_t base;
    struct rp__guard_match *m; /* matches not taken yet (they start at or after the cut) */
    size_t n_m, alloc_m;
    int64_t *open_at;   /* per rule with starts_with: the opening literal held from, or -1 */
    int64_t *open_last; /* the latest place the literal was seen, or -1 */
    struct rp_guard_model_state cls;
    double rule_points;
    uint64_t seen;
    struct rp_guard_result res;
    struct rp__guard_scan sc;
    bool refused, finished, modified;
};

int rp_guard_stream_new(const struct rp_guard *g, struct rp_guard_scratch *s,
                        struct rp_guard_stream **out)
{
    *out = NULL;
    const struct rp__guard_dir *d = &g->dir[RP_GUARD_OUTPUT];
    struct rp_guard_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return RP_ENOMEM;
    st->g = g;
    st->d = d;
    st->s = s;
    st->open_at = malloc((d->n_rules ? d->n_rules : 1) * sizeof(*st->open_at));
    st->open_last = malloc((d->n_rules ? d->n_rules : 1) * sizeof(*st->open_last));
    if (!st->open_at || !st->open_last ||
        (d->stream && hs_open_stream(d->stream, 0, &st->hs) != HS_SUCCESS)) {
        free(st->open_at);
        free(st->open_last);
        free(st);
        return RP_ENOMEM;
    }
    for (size_t i = 0; i < d->n_rules; i++)
        st->open_at[i] = st->open_last[i] = -1;
    /* The held text is bounded by the widest hold; the cap leaves room for a piece. */
    rp_buf_init(&st->pend, 64u << 20);
    if (d->model && rp_guard_model_state_init(&st->cls, d->model)) {
        rp_guard_stream_free(st);
        return RP_ENOMEM;
    }
    st->res.classifier = -1;
    st->sc = (struct rp__guard_scan){.g = g, .d = d, .res = &st->res};
    *out = st;
    return RP_OK;
}

void rp_guard_stream_free(struct rp_guard_stream *st)
{
    if (!st)
        return;
    if (st->hs)
        hs_close_stream(st->hs, NULL, NULL, NULL);
    rp_buf_release(&st->pend);
    rp_guard_model_state_release(&st->cls);
    free(st->m);
    free(st->open_at);
    free(st->open_last);
    free(st->sc.spans);
    free(st);
}

bool rp_guard_stream_refused(const struct rp_guard_stream *st)
{
    return st->refused;
}

const struct rp_guard_result *rp_guard_stream_result(const struct rp_guard_stream *st)
{
    return &st->res;
}

/* Moves the scratch's new matches into the stream's list; openers update open_at. */
static int collect(struct rp_guard_stream *st)
{
    struct rp_guard_scratch *s = st->s;
    for (size_t i = 0; i < s->n; i++) {
        struct rp__guard_match m = s->m[i];
        if (m.rule >= RP__OPENER) {
            size_t r = m.rule - RP__OPENER;
            if (st->open_at[r] < 0)
                st->open_at[r] = (int64_t)m.from;
            st->open_last[r] = (int64_t)m.from;
            continue;
        }
        if (st->d->rules[m.rule]->starts_with && st->open_at[m.rule] >= 0) {
            /* A complete block: openers up to its start are settled; a later one stays open. */
            int64_t last = st->open_last[m.rule];
            st->open_at[m.rule] = last > (int64_t)m.from ? last : -1;
        }
        if (st->n_m == st->alloc_m) {
            size_t na = st->alloc_m ? st->alloc_m * 2 : 32;
            void *nm = realloc(st->m, na * sizeof(*st->m));
            if (!nm)
                return RP_ENOMEM;
            st->m = nm;
            st->alloc_m = na;
        }
        st->m[st->n_m++] = m;
    }
    s->n = 0;
    return s->oom ? RP_ENOMEM : RP_OK;
}

static bool in_class(const uint8_t set[32], unsigned char c)
{
    return set[c >> 3] & (1u << (c & 7));
}

/* The first offset that could still belong to a match: nothing from there on is released. A
 * class-held rule keeps its whole width, not one byte less: a match that ends in \b or $ is
 * reported only when the byte after it arrives (a regression of test_guard's
 * test_stream_secret_word_boundary, where the first byte of a key went out). */
static uint64_t hold_from(struct rp_guard_stream *st)
{
    const struct rp__guard_dir *d = st->d;
    const unsigned char *p = (const unsigned char *)st->pend.ptr;
    size_t len = st->pend.len, cut = len;
    if (d->hold_masked) {
        /* One walk back: each class drops out at the first byte it does not contain, or once
         * its width is reached; the walk ends when none is left. */
        uint64_t alive = d->n_holds == 64 ? ~0ull : (1ull << d->n_holds) - 1;
        size_t i = len, next = 0; /* holds are sorted by width: next is the next to expire */
        while (alive && i > 0) {
            uint64_t out = alive & ~d->hold_mask[p[i - 1]];
            while (next < d->n_holds && len - i >= d->holds[next].width)
                out |= 1ull << next++;
            alive &= ~out;
            if (!alive)
                break;
            i--;
        }
        cut = i;
    } else {
        for (size_t k = 0; k < d->n_holds; k++) {
            size_t i = len, stop = len >= d->holds[k].width ? len - d->holds[k].width : 0;
            while (i > stop && in_class(d->holds[k].bytes, p[i - 1]))
                i--;
            if (i < cut)
                cut = i;
        }
    }
    if (d->unbounded_width) {
        size_t back = d->unbounded_width;
        if (len - (back < len ? back : len) < cut)
            cut = len - (back < len ? back : len);
    }
    uint64_t end = st->base + len, at = st->base + cut;
    /* The end of the text may be the start of a literal: only when its last byte is in one. */
    bool maybe_literal = len && in_class(d->start_bytes, p[len - 1]);
    for (size_t q = 0; q < d->n_starts; q++) {
        size_t r = d->starts[q];
        const struct rp__guard_rule *rule = d->rules[r];
        /* An opener whose block could no longer fit is given up, for the latest one if any
         * (a regression of test_stream_block_after_false_start). */
        if (st->open_at[r] >= 0 && end - (uint64_t)st->open_at[r] >= rule->max_width)
            st->open_at[r] = st->open_last[r] > st->open_at[r] &&
                                     end - (uint64_t)st->open_last[r] < rule->max_width
                                 ? st->open_last[r]
                                 : -1;
        if (st->open_at[r] >= 0) {
            if ((uint64_t)st->open_at[r] < at)
                at = (uint64_t)st->open_at[r] < st->base ? st->base : (uint64_t)st->open_at[r];
            continue;
        }
        if (!maybe_literal)
            continue;
        size_t lit = strlen(rule->starts_with);
        for (size_t k = lit - 1 < len ? lit - 1 : len; k > 0; k--) {
            bool same = rule->caseless
                            ? strncasecmp((const char *)p + len - k, rule->starts_with, k) == 0
                            : memcmp(p + len - k, rule->starts_with, k) == 0;
            if (same) {
                if (end - k < at)
                    at = end - k;
                break;
            }
        }
    }
    return at;
}

/* Counts the classifier once enough of the answer is in (or at the end). */
static void classify(struct rp_guard_stream *st)
{
    const struct rp__guard_dir *d = st->d;
    if (!d->model || d->cls_points <= 0 || st->seen < RP_GUARD_CLASSIFIER_MIN)
        return;
    double p = rp_guard_model_state_score(d->model, &st->cls);
    st->res.classifier = p;
    double pts = rp__guard_classifier_points(d, p);
    /* The classifier's reason is the last one; it is replaced as the score moves. */
    struct rp_guard_result *res = &st->res;
    res->points = st->rule_points;
    if (res->n_reasons && !strcmp(res->reasons[res->n_reasons - 1].code, "classifier"))
        res->n_reasons--;
    if (p >= rp_guard_model_threshold(d->model) / 2 || pts >= 1) {
        rp__guard_add_reason(res, "classifier", "harmful-answer",
                             "the learned classifier rates the answer as harmful help", pts, 0, 0);
    } else {
        res->points += pts;
    }
}

/* Whether a match can be taken now: one that starts before the cut can grow no more, and a
 * rule without start of match (it only scores) is counted as soon as it matches. */
static bool settled(const struct rp_guard_stream *st, const struct rp__guard_match *m, uint64_t cut)
{
    return m->from < cut || !rp__guard_rule_som(st->d->rules[m->rule]);
}

/* Takes the matches that start before cut, applies their spans and releases [base, cut). */
static int release(struct rp_guard_stream *st, uint64_t cut, struct rp_buf *out)
{
    /* Matches that start before the cut are complete: no longer one can start there. */
    size_t k = 0, n_take = 0;
    for (size_t i = 0; i < st->n_m; i++)
        if (settled(st, &st->m[i], cut))
            n_take++;
    struct rp__guard_match *take = n_take ? malloc(n_take * sizeof(*take)) : NULL;
    if (n_take && !take)
        return RP_ENOMEM;
    n_take = 0;
    for (size_t i = 0; i < st->n_m; i++) {
        if (settled(st, &st->m[i], cut))
            take[n_take++] = st->m[i];
        else
            st->m[k++] = st->m[i];
    }
    st->n_m = k;
    if (n_take) {
        size_t n = rp__guard_dedupe(st->g, st->d, take, n_take, st->pend.ptr, st->base);
        /* Reasons are added after the classifier's: remove it and put it back. */
        struct rp_guard_result *res = &st->res;
        if (res->n_reasons && !strcmp(res->reasons[res->n_reasons - 1].code, "classifier"))
            res->n_reasons--;
        res->points = st->rule_points;
        rp__guard_take(&st->sc, take, n, st->pend.ptr, st->base, false);
        st->rule_points = res->points;
    }
    free(take);
    classify(st);
    if (st->sc.oom)
        return RP_ENOMEM;
    /* A span that reaches past the cut moves the cut back to its start, and a cut never splits a
     * UTF-8 sequence (the client's JSON must stay well-formed); each move may cross another
     * span, so until nothing moves (a regression found by fuzz_guard_stream: "secret=abcd"
     * went out unredacted when a second span moved the cut into the first). */
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < st->sc.n_spans; i++)
            if (st->sc.spans[i].to > cut && st->sc.spans[i].from < cut) {
                cut = st->sc.spans[i].from;
                moved = true;
            }
        while (cut > st->base && cut < st->base + st->pend.len &&
               ((unsigned char)st->pend.ptr[cut - st->base] & 0xC0) == 0x80) {
            cut--;
            moved = true;
        }
    }
    rp__guard_decide(st->g, st->d, st->modified || st->sc.n_spans > 0, &st->res);
    if (st->res.verdict == RP_GUARD_REFUSE && !st->g->monitor) {
        st->refused = true;
        return RP_OK;
    }
    size_t n_apply = 0;
    k = 0;
    for (size_t i = 0; i < st->sc.n_spans; i++)
        if (st->sc.spans[i].to <= cut)
            n_apply++;
    int result = RP_OK;
    size_t len = (size_t)(cut - st->base);
    if (st->g->monitor || !n_apply) {
        result = len ? rp_buf_add(out, st->pend.ptr, len) : RP_OK;
    } else {
        /* Spans to apply first, the others after them (rp__guard_apply_spans sorts its part). */
        for (size_t i = 0; i < st->sc.n_spans; i++)
            if (st->sc.spans[i].to <= cut) {
                struct rp__guard_match t = st->sc.spans[k];
                st->sc.spans[k++] = st->sc.spans[i];
                st->sc.spans[i] = t;
            }
        result =
            rp__guard_apply_spans(st->d, st->sc.spans, n_apply, st->pend.ptr, st->base, len, out);
        st->modified = true;
    }
    if (result)
        return result;
    if (n_apply && !st->g->monitor) {
        memmove(st->sc.spans, st->sc.spans + n_apply,
                (st->sc.n_spans - n_apply) * sizeof(*st->sc.spans));
        st->sc.n_spans -= n_apply;
    } else if (st->g->monitor) {
        /* In monitor mode spans only count: they are forgotten once released. */
        k = 0;
        for (size_t i = 0; i < st->sc.n_spans; i++)
            if (st->sc.spans[i].to > cut)
                st->sc.spans[k++] = st->sc.spans[i];
        st->modified |= k < st->sc.n_spans;
        st->sc.n_spans = k;
    }
    if (len) {
        memmove(st->pend.ptr, st->pend.ptr + len, st->pend.len - len);
        rp_buf_truncate(&st->pend, st->pend.len - len);
    }
    st->base = cut;
    return RP_OK;
}

int rp_guard_stream_feed(struct rp_guard_stream *st, struct rp_str piece, struct rp_buf *out)
{
    if (st->refused || st->finished || !piece.len)
        return RP_OK;
    int result = rp_buf_add(&st->pend, piece.ptr, piece.len);
    if (result)
        return result;
    st->seen += piece.len;
    if (st->d->model)
        rp_guard_model_feed(st->d->model, &st->cls, piece);
    if (st->hs) {
        st->s->n = 0;
        st->s->oom = false;
        /* Hyperscan may read a few bytes past the piece (rp__guard_hs_text). */
        struct rp_buf pad;
        rp_buf_init(&pad, piece.len + RP__GUARD_HS_SLACK);
        const char *p = rp__guard_hs_text(piece, &pad);
        hs_error_t e = p ? hs_scan_stream(st->hs, p, (unsigned)piece.len, 0, st->s->hs,
                                          rp__guard_on_match, st->s)
                         : HS_NOMEM;
        rp_buf_release(&pad);
        if (e != HS_SUCCESS)
            return RP_ENOMEM;
        result = collect(st);
        if (result)
            return result;
    }
    return release(st, hold_from(st), out);
}

int rp_guard_stream_finish(struct rp_guard_stream *st, struct rp_buf *out)
{
    if (st->refused || st->finished)
        return RP_OK;
    st->finished = true;
    if (st->hs) {
        st->s->n = 0;
        st->s->oom = false;
        hs_error_t e = hs_close_stream(st->hs, st->s->hs, rp__guard_on_match, st->s);
        st->hs = NULL;
        if (e != HS_SUCCESS)
            return RP_ENOMEM;
        int result = collect(st);
        if (result)
            return result;
    }
    return release(st, st->base + st->pend.len, out);
}
