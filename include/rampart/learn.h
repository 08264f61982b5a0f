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

#endif
