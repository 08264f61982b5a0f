/* rampart gate policy: the decisions of the gateway as functions of plain facts and `now`. Key
 * admission and ban expiry, escalation of soft-blocks to bans, the behaviour watch, sign-up
 * screening and what a guard verdict means for a request and its account. Each returns a verdict
 * with a reason code and a sentence; the program gathers the facts and applies the verdict
 * (replies, events, store writes). docs/abuse.md says why each rule is as it is. */
#ifndef RAMPART_POLICY_H
#define RAMPART_POLICY_H

#include <jansson.h>

#include "rampart/gate.h"
#include "rampart/guard.h"
#include "rampart/store.h"

/* What a verdict asks of the program. */
enum rp_action {
    RP_ACTION_ALLOW = 0,  /* go on; nothing to record */
    RP_ACTION_NOTE,       /* go on, and record the verdict (an event) */
    RP_ACTION_HOLD,       /* keep it for an operator's review */
    RP_ACTION_REFUSE,     /* refuse the request */
    RP_ACTION_SOFT_BLOCK, /* refuse it, and count it against its account (watch, escalation) */
    RP_ACTION_BAN         /* ban the account */
};

#define RP_SENTENCE_MAX 512

/* A decision: what to do, its reason code (a static string, stable for programs and events; ""
 * when there is nothing to say) and a sentence for a person ("" likewise). */
struct rp_verdict {
    enum rp_action action;
    const char *code;
    char sentence[RP_SENTENCE_MAX];
};

/* "1 hour", "10 minutes", "90 seconds" (the largest unit that says it exactly), or
 * "permanently" for 0: a duration for a person. */
void rp_duration_text(double seconds, char *out, size_t size);

/* ---- keys ------------------------------------------------------------------------------- */

/* Whether the key's account has a ban of escalation that has run its time at now (now at or
 * after its end), on a key that still counts: the program lifts it (event unban, code
 * ban-expired) before it admits the key. */
bool rp_ban_expired(const struct rp_key_info *key, int64_t now);

/* Whether a key lets its request in at now (key NULL: no key has that secret). ALLOW, or REFUSE
 * with code invalid_api_key (unknown, revoked, or its account is not active) or account_banned
 * (the sentence says for how many seconds more when the ban ends by itself). A ban that has run
 * its time still refuses: rp_ban_expired says when to lift it. */
void rp_key_admit(const struct rp_key_info *key, int64_t now, struct rp_verdict *out);

/* ---- what a refused prompt counts ----------------------------------------------------------- */

/* How much a refusal weighs towards a ban (escalation: in docs/configuration.md). */
struct rp_refusal_rules {
    double borderline_weight;  /* what a refusal of confidence below 1 counts, 0 to 1 */
    double retry_window;       /* seconds within which a prompt may repeat a refused one */
    double retry_similarity;   /* resemblance (rp_sketch_resemblance) at which it does */
    unsigned retries_forgiven; /* repeats of a borderline refusal that count as it did */
};

/* What a refused prompt counts towards a ban. code: "confident" (confidence 1: weight 1),
 * "repeated" (a borderline refusal repeating one refused earlier more than retries_forgiven
 * times: weight 1) or "borderline" (weight borderline_weight). */
struct rp_refusal_weight {
    double weight;
    double confidence; /* the guard's (rp_guard_result.confidence) */
    unsigned repeats;  /* refusals of the same prompt before it, each within the window */
    const char *code;
};

/* Sets w->weight and w->code from w->confidence and w->repeats. */
void rp_refusal_weigh(const struct rp_refusal_rules *rules, struct rp_refusal_weight *w);

/* The words of a text as a bottom-k sketch: hashes of its RP_SKETCH_WORDS smallest distinct
 * words (runs of letters and digits, ASCII lowercased; other bytes of UTF-8 are letters). */
#define RP_SKETCH_WORDS 32
struct rp_sketch {
    uint32_t h[RP_SKETCH_WORDS]; /* increasing */
    size_t n;
};
void rp_sketch_text(struct rp_str text, struct rp_sketch *out);
/* The Jaccard index of the two word sets, estimated from their sketches (exact while each has
 * at most RP_SKETCH_WORDS distinct words): 1 for the same words in any order, 0 for none shared
 * or two empty texts. */
double rp_sketch_resemblance(const struct rp_sketch *a, const struct rp_sketch *b);

/* Each account's last RP_REFUSALS_KEPT refused prompts, as sketches, in a bounded, sharded table
 * (RP_REFUSALS_ACCOUNTS at once; the account refused longest ago is replaced). Thread-safe. */
#define RP_REFUSALS_ACCOUNTS 8192
#define RP_REFUSALS_KEPT 4
struct rp_refusals;
/* *out is the caller's (rp_refusals_free); rules are copied. */
int rp_refusals_new(const struct rp_refusal_rules *rules, struct rp_refusals **out);
void rp_refusals_free(struct rp_refusals *t);
/* Records the refusal of a text whose words are *words (rp_sketch_text), of confidence
 * confidence, for account at now and weighs it: a repeat when it resembles a kept refusal of the
 * account from the window before now (the most alike), which it then replaces with one more
 * repeat; else it takes the oldest place. */
void rp_refusals_count(struct rp_refusals *t, int64_t account, const struct rp_sketch *words,
                       double confidence, double now, struct rp_refusal_weight *out);

/* ---- escalation: soft-blocks to bans -------------------------------------------------------- */

/* The ladder of escalation (escalation: in docs/configuration.md). */
struct rp_ladder {
    bool monitor;         /* a ban that would be due is recorded (NOTE), never given */
    unsigned soft_blocks; /* soft-blocks that may pass in a window; the next one bans */
    double window;        /* seconds: the allowance refills evenly over it */
    double ban_time;      /* the first ban, seconds */
    double ban_factor;    /* each next ban is this many times longer */
    double ban_max;       /* a ban longer than this is permanent */
};

/* The length of the next ban of an account that has had ban_count of them: ban_time *
 * factor^ban_count seconds, or 0 (permanent) once that passes ban_max. */
double rp_ladder_ban_seconds(const struct rp_ladder *l, int64_t ban_count);

/* The soft-blocks of each account in a sliding window: a GCRA cell per account in a bounded
 * table (rp_limiter), so that counting costs no store call. Thread-safe. */
struct rp_escalation;
/* A table of capacity cells for ladder l (copied). *out is the caller's (rp_escalation_free). */
int rp_escalation_new(const struct rp_ladder *l, size_t capacity, struct rp_escalation **out);
void rp_escalation_free(struct rp_escalation *e);
/* The soft-blocks at or after this time still count at now; older ones have drained away. */
double rp_escalation_since(const struct rp_escalation *e, double now);
/* Counts a soft-block of account_id made at `at` (seconds), of its weight (rp_refusal_weight;
 * 1 for any other soft-block), without deciding anything: a restart replays the stored ones,
 * oldest first, so that it forgives none. */
void rp_escalation_replay(struct rp_escalation *e, int64_t account_id, double at, double weight);

/* What escalation knows of an account: from its key (a lookup a few seconds old at most) when a
 * soft-block is counted, from the store when its ban is written. */
struct rp_escalation_account {
    int64_t id;
    bool banned;       /* banned already */
    int64_t ban_count; /* bans escalation gave it so far */
};

/* What a soft-block does to its account. */
struct rp_escalation_verdict {
    /* ALLOW: no ban (counted or not); NOTE: monitor mode, a ban would be due (record it);
     * BAN: ban the account. Code escalation-soft-blocks and, with NOTE and BAN, the reason
     * "more than 5 soft-blocks within 3600 s (the last: jailbreak-dan)". */
    struct rp_verdict v;
    bool counted;       /* enforce mode counted it: the person may be told how close a ban is */
    unsigned left;      /* when no ban is due: soft-blocks that may still pass; the next bans */
    double window;      /* the ladder's window, seconds */
    double ban_seconds; /* the length of the next ban (with BAN: of this one); 0 permanent */
    int64_t until;      /* with NOTE and BAN: when the ban ends (unix seconds), 0 permanent */
    int64_t ban_count;  /* with NOTE and BAN: the account's bans with this one */
};

/* Counts a soft-block of account a (code: what it was for, such as its top guard reason) at now
 * in its window and decides. e NULL (escalation off) or a banned account: ALLOW, not counted.
 * Within the allowance: ALLOW, counted in enforce mode, with what is left. Past it: BAN in
 * enforce mode (its length from a's ban_count: rp_escalation_ban makes it final with the store's
 * facts), NOTE in monitor mode. */
void rp_escalation_count(struct rp_escalation *e, const struct rp_escalation_account *a,
                         const char *code, double now, struct rp_escalation_verdict *out);
/* rp_escalation_count for a soft-block that counts weight (0 to 1: rp_refusal_weight) of one
 * in the window: a borderline refusal uses up a quarter of an allowance by default. */
void rp_escalation_count_weighted(struct rp_escalation *e, const struct rp_escalation_account *a,
                                  const char *code, double weight, double now,
                                  struct rp_escalation_verdict *out);

/* The ban a BAN verdict asked for, from the store's facts of the account read when it is written
 * (another soft-block may have banned it meanwhile): *v becomes ALLOW, not counted, when a is
 * banned already; else BAN with the length, end and count of this ban. A program that then
 * fails to write the ban clears v->counted. */
void rp_escalation_ban(const struct rp_escalation *e, const struct rp_escalation_account *a,
                       const char *code, double now, struct rp_escalation_verdict *v);

/* What a refusal tells the person of an applied verdict v, to append to its message: "; 2 more
 * refused prompts within 10 minutes will ban this account for 1 hour", "; this account is now
 * banned for 1 hour after repeated refusals", or "" when v was not counted. */
void rp_escalation_notice(const struct rp_escalation_verdict *v, char *out, size_t size);

/* ---- the behaviour watch ---------------------------------------------------------------- */

/* What the watch counts and when hammering starts (behaviour: in docs/configuration.md). */
struct rp_watch_rules {
    double hammering;      /* rate-limit refusals (decaying) at which an account hammers */
    double half_life;      /* seconds over which each count halves */
    double network_window; /* seconds a client network counts as one the account comes from */
};

enum rp_signal {
    RP_SIGNAL_REQUEST,      /* a request, from a client network */
    RP_SIGNAL_RATE_LIMITED, /* an answer 429 */
    RP_SIGNAL_REFUSED,      /* a refused prompt */
    RP_SIGNAL_KEY_CREATED   /* a key made */
};

/* Per account, decaying counts of what an abuse analyst watches, in a bounded, sharded table
 * (RP_WATCH_ACCOUNTS at once; the stalest is replaced). Thread-safe. */
#define RP_WATCH_ACCOUNTS 65536
struct rp_watch;
/* *out is the caller's (rp_watch_free); rules are copied. */
int rp_watch_new(const struct rp_watch_rules *rules, struct rp_watch **out);
void rp_watch_free(struct rp_watch *w);

/* Records a signal of account at now (net: the client's network, for RP_SIGNAL_REQUEST). ALLOW,
 * or SOFT_BLOCK with code behaviour-hammering when this 429 made the account start hammering
 * (once; again only after its count decays under half the threshold). */
void rp_watch_signal(struct rp_watch *w, int64_t account, enum rp_signal sig, struct rp_str net,
                     double now, struct rp_verdict *out);

/* An account's risk at now: its decayed counts and a score of 0 to 100 that adds up to 30 for
 * hammering, 40 for refused prompts (5), 15 for keys beyond 2 and 15 for networks beyond 2, each
 * as its signal saturates. */
struct rp_risk {
    double score;
    double rate_limited, refusals, keys_created;
    size_t networks;
};
void rp_watch_risk(struct rp_watch *w, int64_t account, double now, struct rp_risk *out);

/* ---- sign-up screening ------------------------------------------------------------------ */

/* How recently another account must have been verified for an address like its own to be held
 * as a look-alike (one person making accounts). */
#define RP_LOOKALIKE_SECONDS 86400

/* A screening's verdict: ALLOW, REFUSE or HOLD with its code and sentence. */
struct rp_screening {
    struct rp_verdict v;
    char domain[256]; /* with disposable-domain: the listed domain */
    int64_t linked;   /* with HOLD: the account the sign-up links to */
};

/* Screening of an address (lowercase, rp_email_problem passed) before anything is stored: REFUSE
 * with code disposable-domain when its domain, or that domain's registrable domain (urls may be
 * NULL: the domain only), is in disposable (NULL: none is), else ALLOW. */
void rp_screen_address(const struct rp_domain_set *disposable, const struct rp_url_inspector *urls,
                       const char *email, struct rp_screening *out);

/* What the store knows of the accounts a first sign-up links to: an account id, 0 for none. */
struct rp_signup_links {
    int64_t banned_address; /* verified, banned while its ban runs, same normalised address */
    int64_t recent_address; /* another, verified within RP_LOOKALIKE_SECONDS, same address */
    int64_t banned_network; /* banned while its ban runs, signed up from the same network */
};

/* Screening of a first sign-up by its links: HOLD with code linked-to-banned, lookalike-address
 * or banned-network (in that order), else ALLOW. A link only holds, never refuses: a person who
 * never misbehaved may share a look-alike address or a network with one who did, and an operator
 * tells them apart. */
void rp_screen_links(const struct rp_signup_links *l, struct rp_screening *out);

/* ---- what a guard verdict means --------------------------------------------------------- */

/* Which of the guard's counters a verdict goes to. */
enum rp_enforced {
    RP_ENFORCED_NONE = 0,
    RP_ENFORCED_MONITOR, /* not enforced (monitor mode): it passes unchanged */
    RP_ENFORCED_FLAG,
    RP_ENFORCED_MODIFY,
    RP_ENFORCED_REFUSE
};

/* What a guard result means for the request and its account. */
struct rp_enforcement {
    /* ALLOW: nothing found. NOTE: it goes on (monitored, flagged, modified), recorded. A refused
     * prompt is a SOFT_BLOCK: refused, and counted against the account by the watch and by
     * escalation; a refused answer is a REFUSE (withheld, or its stream stopped). With those two
     * the code is the most informative reason ("content_policy" without one) and the sentence
     * what the person reads: "the prompt was refused by this service's content policy
     * (jailbreak-dan: uses the DAN persona; also classifier)". */
    struct rp_verdict v;
    enum rp_enforced counter;
    const char *event; /* the event's kind: soft_block, guard_flag, ...; NULL for none */
};

/* The meaning of r, a result in direction dir. r NULL: an answer the guardrails could not
 * inspect while it streamed (too many choices), a REFUSE with no event. */
void rp_enforcement_init(struct rp_enforcement *out, const struct rp_guard_result *r,
                         enum rp_guard_dir dir);

/* Whether joined, the result of a request's texts inspected joined (none refused on its own),
 * is an attack split across them: it is refused by its rules' points (the classifier's share
 * left out, less neutralised), and one of its rules matched in none of the texts alone (codes:
 * the n_codes that did). Then a reason "split-across-texts" (0 points) is added to it when
 * there is room. */
bool rp_guard_split_attack(struct rp_guard_result *joined, const char *const *codes, size_t n_codes,
                           double refuse_score);

/* The detail of the event of a guard result r on path, appended to out as one JSON object:
 * {"path", "verdict", "points", "codes": [...]}, the codes of its reasons in order; with weight
 * (a refused prompt's; NULL for none) also "confidence", "weight", "counts_as" (its code) and
 * "repeats" before the codes. When the codes do not all fit in out's cap, the list is cut at a
 * whole code and "truncated": true follows it, so the detail is always whole JSON. RP_ETOOBIG
 * only when not even the empty list fits. */
int rp_guard_event_detail(struct rp_buf *out, const char *path, const struct rp_guard_result *r,
                          const struct rp_refusal_weight *weight);

/* ---- moderation ------------------------------------------------------------------------- */

/* The categories of a moderation result: OpenAI's moderation categories, then rampart's own. */
enum rp_mod_category {
    RP_MOD_HARASSMENT,
    RP_MOD_HARASSMENT_THREATENING,
    RP_MOD_HATE,
    RP_MOD_HATE_THREATENING,
    RP_MOD_ILLICIT,
    RP_MOD_ILLICIT_VIOLENT,
    RP_MOD_SELF_HARM,
    RP_MOD_SELF_HARM_INTENT,
    RP_MOD_SELF_HARM_INSTRUCTIONS,
    RP_MOD_SEXUAL,
    RP_MOD_SEXUAL_MINORS,
    RP_MOD_VIOLENCE,
    RP_MOD_VIOLENCE_GRAPHIC,
    RP_MOD_PROMPT_INJECTION,
    RP_MOD_JAILBREAK,
    RP_MOD_PROMPT_ATTACK,
    RP_MOD_SECRET,
    RP_MOD_PERSONAL_DATA,
    RP_MOD_HIDDEN_TEXT,
    RP_MOD_LINK,
    RP_MOD_NCATS
};
/* Their names, as the JSON keys of "categories" and "category_scores". */
extern const char *const rp_moderation_categories[RP_MOD_NCATS];

/* A text's moderation: flagged when the guard refuses it (as a prompt); each category's score
 * is the largest share of refuse_score one of its findings gave (at most 1; the classifier's
 * "prompt-attack" is 1 at its threshold), and the category is true when the text is flagged and
 * it has a finding. Rules map by category, the default pack's harmful-request rules by id
 * (weapons and explosives: illicit, illicit/violent; killing, trafficking: violence,
 * illicit/violent; sexual content involving minors: sexual, sexual/minors; ways to end one's
 * life: self-harm, self-harm/instructions; the rest, and an operator's: illicit). */
struct rp_moderation {
    bool flagged;
    bool categories[RP_MOD_NCATS];
    double scores[RP_MOD_NCATS];
};
void rp_moderation_of(const struct rp_guard_result *r, double refuse_score,
                      struct rp_moderation *out);

/* The texts of a moderation request's "input" (a string, or an array of strings or of
 * {"type": "text", "text": ...} parts, in OpenAI's shape): at most cap string nodes into out
 * (borrowed from body), their count in *n. NULL when they are all text; else the error code
 * (invalid_input, too_many_inputs, unsupported_input: an image or other part) with a sentence
 * in why, and *n is 0. */
const char *rp_moderation_inputs(json_t *body, json_t **out, size_t cap, size_t *n, char *why,
                                 size_t why_size);

#endif
