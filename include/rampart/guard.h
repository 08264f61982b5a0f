/* rampart guard: the guardrails of prompts (input) and answers (output). Rule packs of Hyperscan
 * patterns with CRS-style anomaly scores, checks written in C (hidden text, homoglyphs, Luhn,
 * IBAN, links through the URL inspector), learned classifiers, and the verdict; whole texts in
 * block mode and streamed answers incrementally. docs/guardrails.md describes every check. */
#ifndef RAMPART_GUARD_H
#define RAMPART_GUARD_H

#include "rampart/base.h"
#include "rampart/url_inspect.h"

enum rp_guard_dir { RP_GUARD_INPUT = 0, RP_GUARD_OUTPUT = 1 };
#define RP_GUARD_NDIR 2

/* What the guard makes of a text, from mildest to strongest. */
enum rp_guard_verdict { RP_GUARD_ALLOW = 0, RP_GUARD_FLAG, RP_GUARD_MODIFY, RP_GUARD_REFUSE };

/* How a rule changes the text it matched. */
enum rp_guard_modify { RP_GUARD_KEEP = 0, RP_GUARD_REDACT, RP_GUARD_DEFANG };

#define RP_GUARD_MAX_PACKS 16
#define RP_GUARD_MAX_RULES 1024
#define RP_GUARD_MAX_REASONS 16
#define RP_GUARD_MAX_RULE_FILE (1u << 20)
/* A streamed answer's held-back text never grows beyond this: a rule whose match could be
 * longer gives up at this length (docs/guardrails.md, "Streaming"). */
#define RP_GUARD_MAX_HOLD 4096
/* The output classifier judges answers of at least this many bytes (whole or streamed so far). */
#define RP_GUARD_CLASSIFIER_MIN 256
/* The default confident_score, a multiple of refuse_score: on prompts the classifier never saw,
 * 0.6% of the false refusals reached it, and 55% of the true ones (docs/guardrails.md). */
#define RP_GUARD_CONFIDENT_FACTOR 1.6

struct rp_guard_options {
    /* Rule packs read after the embedded default pack (conf/guard-rules.yaml). */
    const char *rule_files[RP_GUARD_MAX_PACKS];
    size_t n_rule_files;
    bool no_default_rules;      /* skip the embedded pack */
    const char *const *disable; /* rule ids switched off, n_disable of them */
    size_t n_disable;
    const char *model_files[RP_GUARD_NDIR]; /* NULL: the embedded classifier of the direction */
    /* Anomaly points at which a text is refused / flagged (refuse > flag > 0). */
    double refuse_score[RP_GUARD_NDIR]; /* 0: the default, 5 */
    double flag_score[RP_GUARD_NDIR];   /* 0: the default, 2 */
    /* Points (less neutralised) at which a refusal is confident even when the classifier's
     * share is needed to reach refuse_score (at least refuse_score); 0: the default,
     * RP_GUARD_CONFIDENT_FACTOR x refuse_score (8 with the default 5). */
    double confident_score[RP_GUARD_NDIR];
    /* Points the classifier adds when its probability reaches its threshold (it adds
     * points * p / threshold, at most twice that); 0: the default, 5; negative: off. */
    double classifier_points[RP_GUARD_NDIR];
    bool monitor; /* verdicts are computed and reported, but texts pass unchanged */
    /* The URL inspector for link checks, borrowed (outlives the guard); NULL: the guard makes
     * its own with the embedded lists. */
    const struct rp_url_inspector *urls;
    /* Called once, before the first rule database that the compilation cache does not hold is
     * compiled (that takes seconds; a cached one loads at once), so that a program can say so.
     * NULL: nothing is called. */
    void (*on_compile)(void *arg);
    void *on_compile_arg;
};

struct rp_config;

/* Fills o with the guard's options from the guard: section of c. The pointers in o point into c,
 * which must outlive o; o->urls and o->on_compile are left NULL. */
void rp_guard_options_from_config(const struct rp_config *c, struct rp_guard_options *o);

struct rp_guard;

/* Compiles the rules and loads the classifiers. On success *out is a new guard the caller frees
 * with rp_guard_free(); it is read-only, and any number of threads may use it at once. On
 * failure returns RP_EINVAL (with "file:line: what" in err for a bad rule), RP_EIO or
 * RP_ENOMEM. */
int rp_guard_new(const struct rp_guard_options *opt, struct rp_guard **out, struct rp_error *err);
void rp_guard_free(struct rp_guard *g);

/* Parses and checks rule packs without building a guard (`rampart serve --check`): returns what
 * rp_guard_new would, and the number of rules in *n_rules. */
int rp_guard_check(const struct rp_guard_options *opt, size_t *n_rules, struct rp_error *err);

struct rp_guard_reason {
    const char *code;     /* the rule's id, or a built-in code of docs/guardrails.md */
    const char *category; /* e.g. "prompt-injection", "secret" */
    const char *message;  /* for a person; owned by the guard */
    double points;        /* what it added to the anomaly score */
    size_t start, end;    /* where in the text (byte offsets), or 0, 0 for the whole text */
};

struct rp_guard_result {
    enum rp_guard_verdict verdict; /* what enforcement does (in monitor mode, would do) */
    bool enforced;                 /* false in monitor mode: the text passes unchanged */
    double points;                 /* the anomaly score: the sum of the reasons' points */
    double neutralised;            /* of which from findings the guard modified away: they
                                      count towards flag, not towards refuse */
    double score;                  /* (points - neutralised) / refuse_score, at most 1 */
    double classifier;             /* the classifier's probability, or -1 when it did not run */
    /* With a refusal: how sure it is, 0 to 1. 1 when the rules alone (the classifier's share
     * left out) reach refuse_score, or the points (less neutralised) reach confident_score;
     * else (points - refuse_score) / (confident_score - refuse_score): 0 at the edge. 0 for
     * any other verdict. docs/guardrails.md, "Confidence". */
    double confidence;
    struct rp_guard_reason reasons[RP_GUARD_MAX_REASONS];
    size_t n_reasons;
    size_t n_more;      /* reasons beyond RP_GUARD_MAX_REASONS (counted in points, not listed) */
    struct rp_buf text; /* the modified text, when verdict is RP_GUARD_MODIFY */
};

/* The scratch space of one thread: Hyperscan needs one a thread. */
struct rp_guard_scratch;
int rp_guard_scratch_new(const struct rp_guard *g, struct rp_guard_scratch **out);
void rp_guard_scratch_free(struct rp_guard_scratch *s);

/* Inspects a whole text in one direction. text may be any bytes (ill-formed UTF-8 included) and
 * any length. On success fills *res, which the caller releases with rp_guard_result_release();
 * returns RP_ENOMEM or RP_OK. */
int rp_guard_inspect(const struct rp_guard *g, struct rp_guard_scratch *s, enum rp_guard_dir dir,
                     struct rp_str text, struct rp_guard_result *res);
void rp_guard_result_release(struct rp_guard_result *res);

const char *rp_guard_verdict_name(enum rp_guard_verdict v);
/* The refuse score of direction dir (guard.<dir>.refuse_score, or its default). */
double rp_guard_refuse_score(const struct rp_guard *g, enum rp_guard_dir dir);
/* The result as one line of JSON (no newline): verdict, score, reasons, text when modified. */
int rp_guard_result_json(const struct rp_guard_result *res, struct rp_buf *out);

/* ---- streams ------------------------------------------------------------------------------ */

/* The output direction over an answer that arrives in pieces. Each piece is scanned as it comes;
 * what is released is the text up to the first byte that could still belong to a match (the
 * rest is held back until it can no longer match, or the stream ends), with redactions and
 * defanged links already applied. */
struct rp_guard_stream;

/* A new stream scanner for the output direction, using scratch s (which must outlive it). */
int rp_guard_stream_new(const struct rp_guard *g, struct rp_guard_scratch *s,
                        struct rp_guard_stream **out);
void rp_guard_stream_free(struct rp_guard_stream *st);

/* Feeds the next piece and appends the text now safe to send to out. Returns RP_OK, RP_ENOMEM,
 * or RP_ETOOBIG when out's cap is reached. After a refusal (rp_guard_stream_refused) nothing more
 * is released. */
int rp_guard_stream_feed(struct rp_guard_stream *st, struct rp_str piece, struct rp_buf *out);
/* The answer ended: appends what was held back (scanned to the end) to out. */
int rp_guard_stream_finish(struct rp_guard_stream *st, struct rp_buf *out);
/* True once the answer reached the refuse score in enforce mode; the caller ends the stream. */
bool rp_guard_stream_refused(const struct rp_guard_stream *st);
/* The findings so far (the verdict of the text released so far; text is not filled). */
const struct rp_guard_result *rp_guard_stream_result(const struct rp_guard_stream *st);

/* ---- guard providers ---------------------------------------------------------------------- */

/* The requests to, and the answers of, guard models an operator runs beside rampart's own
 * classifiers: OpenAI's moderation endpoint (POST /v1/moderations) and a Llama Guard model
 * behind an OpenAI-compatible chat completion (vLLM, llama.cpp, Ollama). The gateway does not
 * call them yet (docs/guardrails.md, "Guard providers"). */
#define RP_PROVIDER_MAX_CATEGORIES 16
struct rp_provider_verdict {
    bool flagged;
    char categories[RP_PROVIDER_MAX_CATEGORIES][48]; /* as the provider names them: "hate",
                                                        "S1"; at most 16, each cut at 47 bytes */
    size_t n_categories;
    double score; /* the highest category score given (0..1), -1 for none */
};
/* OpenAI's moderation answer for one input: {"results": [{"flagged": bool, "categories":
 * {name: bool}, "category_scores": {name: number}}]}. RP_EINVAL with why in err for anything
 * else (not JSON, a repeated key, no results[0].flagged). */
int rp_provider_read_moderation(struct rp_str body, struct rp_provider_verdict *out,
                                struct rp_error *err);
/* A Llama Guard model's chat completion: choices[0].message.content "safe", or "unsafe" and
 * then its category codes ("S1,S10") on the next line. RP_EINVAL with why for anything else. */
int rp_provider_read_llama_guard(struct rp_str body, struct rp_provider_verdict *out,
                                 struct rp_error *err);
/* The name of a Llama Guard 3 category code ("S9": "indiscriminate weapons"), or NULL. */
const char *rp_provider_category_name(const char *code);
/* The request bodies, appended to out: {"input", "model"} (model NULL: omni-moderation-latest),
 * and a chat completion of the prompt (with the answer, when has_answer: the model then judges
 * the answer) at temperature 0 (model NULL: llama-guard3). */
int rp_provider_moderation_request(struct rp_str text, const char *model, struct rp_buf *out);
int rp_provider_llama_guard_request(struct rp_str prompt, struct rp_str answer, bool has_answer,
                                    const char *model, struct rp_buf *out);

/* ---- learned classifiers ------------------------------------------------------------------ */

/* A logistic model over hashed word and character n-grams of a text (docs/guardrails.md,
 * "Classifiers"). Read-only after loading; threads may share one. */
struct rp_guard_model;

int rp_guard_model_load(struct rp_str text, struct rp_guard_model **out, struct rp_error *err);
void rp_guard_model_free(struct rp_guard_model *m);
double rp_guard_model_score(const struct rp_guard_model *m, struct rp_str text);
double rp_guard_model_threshold(const struct rp_guard_model *m);
const char *rp_guard_model_notes(const struct rp_guard_model *m);

/* The features of a text for training: calls fn once per (index, value) with index below
 * 2^hash_bits; character n-grams of ngram_min..ngram_max bytes (3..5, or 0 0 for none). The
 * model's score is sigmoid(bias + sum weight[index] * value). */
typedef void (*rp_guard_feature_fn)(void *arg, uint32_t index, float value);
void rp_guard_model_features(unsigned hash_bits, unsigned ngram_min, unsigned ngram_max,
                             struct rp_str text, rp_guard_feature_fn fn, void *arg);

/* Builds the text form of a model from trained weights (2^hash_bits of them); notes lines are
 * '\n'-separated. Appends to out. */
int rp_guard_model_write(unsigned hash_bits, unsigned ngram_min, unsigned ngram_max,
                         const float *weights, double bias, double threshold, const char *notes,
                         struct rp_buf *out);

/* The incremental score of a growing text: feed pieces, read the score at any time. Features
 * count once each (presence), so the state keeps a bitmap of those seen. */
struct rp_guard_model_state {
    double sum;                   /* sum of weights of the distinct features seen */
    double count;                 /* number of distinct features seen */
    uint64_t prev_word, cur_word; /* hashes: the last complete word, the one being read */
    uint64_t grams;               /* the last 5 normalised bytes, for character n-grams */
    unsigned n_gram;              /* how many of them are valid */
    bool in_word, space;
    uint8_t *seen; /* 2^hash_bits bits, owned */
};
/* Prepares st for model m (allocates its bitmap): RP_OK or RP_ENOMEM. */
int rp_guard_model_state_init(struct rp_guard_model_state *st, const struct rp_guard_model *m);
void rp_guard_model_state_release(struct rp_guard_model_state *st);
void rp_guard_model_feed(const struct rp_guard_model *m, struct rp_guard_model_state *st,
                         struct rp_str piece);
double rp_guard_model_state_score(const struct rp_guard_model *m,
                                  const struct rp_guard_model_state *st);

/* Whether a labelled text belongs to the 20% evaluation split that guard-train never trains on
 * and guard-eval --split held-out measures: rp_hash64 of its bytes (seed 0x6775617264) mod 5
 * is 0 (docs/guardrails.md). */
bool rp_guard_held_out(struct rp_str text);

#endif
