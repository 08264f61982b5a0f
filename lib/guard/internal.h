/* Internals of lib/guard shared by its files: rules as loaded from packs, the compiled guard,
 * and the checks that the block and stream scanners both run. */
#ifndef RAMPART_GUARD_INTERNAL_H
#define RAMPART_GUARD_INTERNAL_H

#include <hs/hs.h>
#include <unicode/uspoof.h>

#include "rampart/guard.h"

enum rp__guard_validate { V_NONE = 0, V_LUHN, V_IBAN, V_URL };

struct rp__guard_rule {
    char *id, *category, *message, *pattern, *replacement, *starts_with;
    char *file; /* the pack it came from, for messages */
    unsigned line;
    unsigned dirs; /* bit 1 << RP_GUARD_INPUT, 1 << RP_GUARD_OUTPUT */
    double points;
    enum rp_guard_modify modify;
    enum rp__guard_validate validate;
    bool caseless, utf8, has_hold, disabled;
    uint8_t hold[32]; /* bitset of the bytes a match may contain */
    unsigned max_width; /* of a match, from Hyperscan; RP_GUARD_MAX_HOLD when unbounded */
};

struct rp__guard_rules {
    struct rp__guard_rule *v;
    size_t n, alloc;
};

/* Reads one rule pack (YAML text) and appends its rules. name is what messages call the file.
 * Returns RP_EINVAL with "name:line: what", RP_ETOOBIG or RP_ENOMEM. */
int rp__guard_rules_load(struct rp__guard_rules *rs, const char *name, const char *text,
                         size_t len, struct rp_error *err);
void rp__guard_rules_release(struct rp__guard_rules *rs);

/* A class of bytes that streamed matches hold, and how far back at most. */
struct rp__guard_hold {
    uint8_t bytes[32];
    unsigned width;
};

/* Hyperscan ids: rule index in the direction's table, and for openers (starts_with) the rule's
 * index plus this. */
#define RP__OPENER 0x100000u

struct rp__guard_dir {
    hs_database_t *block, *stream;
    hs_database_t *view; /* input: the word rules, for the de-obfuscated view (block mode) */
    const struct rp__guard_rule **rules; /* the rules of this direction, by Hyperscan id */
    size_t n_rules;
    struct rp__guard_hold *holds; /* distinct classes of the direction's rules (stream), by
                                     width, narrowest first */
    size_t n_holds;
    /* For each byte, the hold classes that contain it (bit k: holds[k]), when there are at
     * most 64 classes; then one walk back from the end of a stream finds every class's run. */
    uint64_t hold_mask[256];
    bool hold_masked;
    size_t *starts; /* the rules with starts_with, by index in rules */
    size_t n_starts;
    uint8_t start_bytes[32]; /* the bytes of their literals (both cases when caseless) */
    unsigned unbounded_width; /* the widest rule without a class or literal, else 0 */
    struct rp_guard_model *model;
    double refuse, flag, confident, cls_points;
};

struct rp_guard {
    struct rp__guard_rules rules;
    struct rp__guard_dir dir[RP_GUARD_NDIR];
    bool monitor;
    const struct rp_url_inspector *urls;
    struct rp_url_inspector *own_urls;
    USpoofChecker *spoof; /* UTS #39 skeletons, for look-alike letters */
};

struct rp__guard_match {
    uint32_t rule; /* Hyperscan id */
    uint64_t from, to;
};

struct rp_guard_scratch {
    hs_scratch_t *hs;
    uint8_t *seen; /* the classifiers' bitmap of seen features, all zero between uses */
    size_t seen_bytes;
    struct rp__guard_match *m;
    size_t n, alloc;
    bool oom;
};

/* Whether rule r is compiled with start of match (it rewrites or validates what it matched). */
bool rp__guard_rule_som(const struct rp__guard_rule *r);

/* rp_guard_model_score with a caller's zeroed bitmap of rp__guard_model_bitmap_bytes(m) bytes,
 * which it leaves zeroed (the thread's scratch keeps one: no allocation a text). */
double rp__guard_model_score_with(const struct rp_guard_model *m, struct rp_str text,
                                  uint8_t *seen);
size_t rp__guard_model_bitmap_bytes(const struct rp_guard_model *m);

/* Hyperscan 5.4's AVX-512 VBMI runtime (avx512vbmi_hs_scan_stream and its block-mode twin, which
 * it picks on processors with VBMI, an AMD EPYC of ours among them) reads a few bytes past the
 * end of the buffer it scans (intel/hyperscan#457 reports the same). That is harmless unless the
 * buffer ends at the end of a mapped page, and then it is a SIGSEGV that depends only on where
 * the caller's text lies: fuzz_guard_stream met it once, and never on replay. So every buffer
 * given to Hyperscan goes through rp__guard_hs_text: it returns the text itself when at least
 * RP__GUARD_HS_SLACK bytes after its end lie in the same 4 KiB block (pages are made of whole
 * such blocks, so those bytes can be read), else a copy in pad followed by that many zero bytes,
 * or NULL when out of memory. The copy is rare (64 of 4096 end addresses). pad is the caller's,
 * initialised with a cap of at least text.len + RP__GUARD_HS_SLACK, and released by the caller. */
#define RP__GUARD_HS_SLACK 64
const char *rp__guard_hs_text(struct rp_str text, struct rp_buf *pad);

/* The Hyperscan match callback: appends to the scratch's match list. */
int rp__guard_on_match(unsigned id, unsigned long long from, unsigned long long to,
                       unsigned flags, void *ctx);

/* Whether a match of rule r over bytes [p, p+n) stands (validators: Luhn, IBAN, URL danger). */
bool rp__guard_validate(const struct rp_guard *g, const struct rp__guard_rule *r, const char *p,
                        size_t n);

/* Adds a reason to res (or counts it in n_more) and its points. */
void rp__guard_add_reason(struct rp_guard_result *res, const char *code, const char *category,
                          const char *message, double points, size_t start, size_t end);

/* The classifier's share of the anomaly score for probability p (docs/guardrails.md). */
double rp__guard_classifier_points(const struct rp__guard_dir *d, double p);

/* Appends the replacement of rule r for the matched bytes [p, p+n) to out. */
int rp__guard_rewrite(const struct rp__guard_rule *r, const char *p, size_t n, struct rp_buf *out);

/* Decides the verdict from res->points and whether something was modified. */
void rp__guard_decide(const struct rp_guard *g, const struct rp__guard_dir *d, bool modified,
                      struct rp_guard_result *res);

/* The findings of one text (or one stream) while its matches are taken. */
struct rp__guard_scan {
    const struct rp_guard *g;
    const struct rp__guard_dir *d;
    struct rp_guard_result *res;
    uint8_t fired[RP_GUARD_MAX_RULES / 8]; /* rules whose points were counted */
    struct rp__guard_match *spans;         /* what is modified */
    size_t n_spans, alloc_spans;
    bool oom;
};

/* Drops matches whose check digits (Luhn, IBAN) are wrong, then sorts matches by rule and start
 * and merges overlapping matches of one rule (Hyperscan reports every end of a match). text
 * holds the matched bytes, its first at offset base. Returns the new count. */
size_t rp__guard_dedupe(const struct rp_guard *g, const struct rp__guard_dir *d,
                        struct rp__guard_match *m, size_t n, const char *text, uint64_t base);

/* Takes deduplicated matches over text (its first byte at offset base): validates them, counts
 * each rule's points once, keeps the spans to modify. hidden: matches in the de-obfuscated view
 * of the text, which count only and are never modified. */
void rp__guard_take(struct rp__guard_scan *sc, const struct rp__guard_match *m, size_t n,
                    const char *text, uint64_t base, bool hidden);

/* Appends text (len bytes starting at offset base) with the spans rewritten to out. */
int rp__guard_apply_spans(const struct rp__guard_dir *d, struct rp__guard_match *spans, size_t n,
                          const char *text, uint64_t base, size_t len, struct rp_buf *out);

#endif
