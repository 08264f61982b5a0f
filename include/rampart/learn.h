/* What the two trainers (`rampart guard-train`, `rampart url-train`) share: one random generator,
 * the logistic function and its gradient, one held-out rule, one threshold and calibration
 * routine, and the syntax of the keys of a model file (docs/training.md). Pure functions of their
 * arguments: no I/O, no clock, no global state. */
#ifndef RAMPART_LEARN_H
#define RAMPART_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rampart/base.h"

/* splitmix64: the next number of the sequence that *state (any value, the seed) stands for, and
 * *state moves on. The same seed gives the same numbers on every machine. */
uint64_t rp_learn_random(uint64_t *state);

/* Shuffles the n entries of v in place (Fisher-Yates, the generator above): the order of one
 * training pass. */
void rp_learn_shuffle(size_t *v, size_t n, uint64_t *state);

/* The logistic function 1 / (1 + e^-z), z clamped to [-40, 40] so that the log-loss stays finite
 * (at 40 the double rounds to 1; at -40 it is about 4e-18). */
double rp_learn_sigmoid(double z);

/* The gradient of the log-loss of one example with respect to its log-odds: the predicted
 * probability p minus the label (0 or 1), times the example's weight. Both trainers' optimisers
 * (AdaGrad SGD in guard-train, FTRL-proximal in url-train) step on it. */
double rp_learn_logloss_gradient(double p, int label, double weight);

/* The held-out rule: an example is held out of training when rp_hash64 of its key (the bytes that
 * identify it: a text, a URL, a site) with seed, modulo modulus, is below count. guard-train
 * holds out count 1 of modulus 5 with seed 0x6775617264, url-train 20 of 100 with seed 0. */
bool rp_learn_held_out(struct rp_str key, uint64_t seed, unsigned modulus, unsigned count);

/* A score and the label (0 or 1) of the example it belongs to. */
struct rp_learn_scored {
    double score;
    int label;
};

/* qsort() order of struct rp_learn_scored: highest score first. */
int rp_learn_scored_cmp_desc(const void *a, const void *b);

/* The threshold that at most a share fpr of n negative examples reach: just above the (k+1)-th
 * highest of their scores, k = floor(fpr n), for scores that are probabilities (at most 1).
 * neg_desc holds the n negatives' scores, highest first. When k >= n every negative may reach it:
 * returns fallback. */
double rp_learn_threshold_at_fpr(const struct rp_learn_scored *neg_desc, size_t n, double fpr,
                                 double fallback);

/* Platt scaling: the a > 0 and c for which sigmoid(a z + c) best fits the labels of the n
 * (log-odds z, label) pairs, by Newton's method on the log-loss, with Platt's targets
 * (N+ + 1) / (N+ + 2) and 1 / (N- + 2) in place of 1 and 0 so that a separable set does not
 * drive a to infinity. Leaves a = 1, c = 0 when no such fit is found. */
void rp_learn_platt(const struct rp_learn_scored *s, size_t n, double *a, double *c);

/* Model files (docs/training.md): lines of a key and values; a key's words are joined by '-'
 * ("hash-bits"). Readers also accept the older spelling with '_' ("hash_bits"), so that models
 * written before keep loading. Whether word, the key of a line, is key (spelt with '-'). */
bool rp_learn_key_is(struct rp_str word, const char *key);

/* The optimisers of both trainers behind one interface: AdaGrad SGD (guard-train) and
 * FTRL-proximal (McMahan et al. 2013; url-train) over dim coordinates, of which the last,
 * dim - 1, is the bias: it is not regularised. alpha is the learning rate; beta, l1 and l2 as
 * FTRL has them; AdaGrad uses alpha and l2 (an l2 * w term in each step's gradient). */
enum rp_learn_method { RP_LEARN_ADAGRAD, RP_LEARN_FTRL };

struct rp_learn_params {
    enum rp_learn_method method;
    double alpha, beta, l1, l2;
};

struct rp_learn_opt;

/* A new optimiser at zero weights; RP_EINVAL for dim 0 or an unknown method, RP_ENOMEM. The
 * caller frees *out with rp_learn_opt_free() (NULL is a no-op). */
int rp_learn_opt_new(const struct rp_learn_params *p, size_t dim, struct rp_learn_opt **out);
void rp_learn_opt_free(struct rp_learn_opt *o);

/* The current weight of coordinate i (< dim). */
double rp_learn_opt_weight(const struct rp_learn_opt *o, size_t i);

/* One step on coordinate i with g, the gradient of the example's loss with respect to its
 * weight (rp_learn_logloss_gradient times the feature's value; the bias's value is 1). */
void rp_learn_opt_step(struct rp_learn_opt *o, size_t i, double g);

/* The smallest number of at most digits significant digits (1..17) that is at least x: a
 * threshold written to a file with "%.<digits>g" and read back still keeps out what it kept
 * out (a threshold rounded to nearest could fall to the score it was just above). */
double rp_learn_round_up(double x, int digits);

/* The one reader of model files (docs/training.md): lines, split into words at spaces and
 * tabs; the loaders of both models walk their text with it and name each complaint's line. */
struct rp_learn_reader {
    const char *p, *end;
    size_t lineno; /* the line last returned, from 1 */
};

void rp_learn_reader_init(struct rp_learn_reader *r, struct rp_str text);

/* The next line without its "\n" or "\r\n" into *line; false at the end of the text. */
bool rp_learn_reader_line(struct rp_learn_reader *r, struct rp_str *line);

/* Splits off the first word of *rest (which then starts at the next word). */
struct rp_str rp_learn_word(struct rp_str *rest);

/* Whether word w is a whole integer (decimal, optional '-') / a finite number (as strtod reads
 * it), into *out. Nothing else is read: no spaces, no trailing bytes, no NUL. */
bool rp_learn_word_long(struct rp_str w, long *out);
bool rp_learn_word_double(struct rp_str w, double *out);

#endif
