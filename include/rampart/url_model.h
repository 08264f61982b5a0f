/* rampart url model: a learned phishing score for web addresses (logistic regression over hashed
 * URL features), its text file format, and the pieces `rampart url-train` builds one from. */
#ifndef RAMPART_URL_MODEL_H
#define RAMPART_URL_MODEL_H

#include "rampart/base.h"
#include "rampart/url.h"

/* Version of the text format (first line "rampart-url-model 1") and of the feature extraction
 * ("features 1"). A model file whose feature version differs from this build's is refused:
 * its weights would be read against features they were not trained on. */
#define RP_URL_MODEL_FORMAT 1
#define RP_URL_MODEL_FEATURES 1

/* The most (index, value) pairs rp_url_model_features() writes for one input, whatever the input:
 * host and path are cut to fixed lengths before they are featurised. */
#define RP_URL_MODEL_MAX_FEATURES 2048

/* A model file larger than this is refused (the committed one is about 1 MB). */
#define RP_URL_MODEL_MAX_TEXT (16u << 20)

/* Settings that decide which feature indices an input yields. They are stored in the model's
 * header; a model only makes sense with the settings it was trained with. */
struct rp_url_model_params {
    unsigned hash_bits; /* 2^hash_bits weights; RP_URL_MODEL_MIN_BITS..RP_URL_MODEL_MAX_BITS */
    unsigned ngram_min; /* character n-grams of host and path from ngram_min ... */
    unsigned ngram_max; /* ... to ngram_max bytes; 1 <= min <= max <= RP_URL_MODEL_MAX_NGRAM */
};

#define RP_URL_MODEL_MIN_BITS 8
#define RP_URL_MODEL_MAX_BITS 24
#define RP_URL_MODEL_MAX_NGRAM 8

/* The defaults of `rampart url-train`. */
#define RP_URL_MODEL_PARAMS_DEFAULT ((struct rp_url_model_params){18, 3, 5})

/* One feature of one input: weight index (< 2^hash_bits) and value. An index may repeat (two
 * features that hash to one bucket); the score adds them up. */
struct rp_url_feature {
    uint32_t index;
    float value;
};

/* A loaded model: weights, bias, threshold and notes. Read-only after it is built, so any number
 * of threads may score with one model at once. */
struct rp_url_model;

/* Checks that params are within the bounds above. Returns 0 or RP_EINVAL with a message. */
int rp_url_model_params_check(const struct rp_url_model_params *p, struct rp_error *err);

/* Parses a model from its text format (docs/url-model.md). text need not be NUL-terminated and
 * is not kept. On success *out is a new model the caller frees with rp_url_model_free(). On
 * failure returns RP_EINVAL (with "line N: what" in err), RP_ETOOBIG or RP_ENOMEM, and sets *out
 * to NULL. */
int rp_url_model_load(struct rp_str text, struct rp_url_model **out, struct rp_error *err);

/* Frees a model; NULL is a no-op. */
void rp_url_model_free(struct rp_url_model *m);

/* The probability, 0..1, that input is a phishing address. url is input as rp_url_parse() parsed
 * it, or NULL when it did not parse: then host and path are guessed from the raw bytes. input
 * may hold any bytes and be of any length (only the first few hundred bytes of host and path
 * are featurised). Never allocates; safe to call from many threads with one model. What the
 * committed model's scores are worth, given its training data: docs/url-model.md. */
double rp_url_model_score(const struct rp_url_model *m, struct rp_str input,
                          const struct rp_url *url);

/* The logistic function, clamped so that exp() never overflows: the score of a linear sum. */
double rp_url_model_sigmoid(double z);

/* The score at or above which the model calls an address phishing: chosen by the trainer so that
 * about 1% of the benign addresses of sites it had not trained on are at or above it (a
 * site-grouped validation split of its training data, docs/url-model.md). */
double rp_url_model_threshold(const struct rp_url_model *m);

/* The model's feature settings. The pointer lives as long as the model. */
const struct rp_url_model_params *rp_url_model_params(const struct rp_url_model *m);

/* The model's "note" header lines (training data, split, figures), joined by '\n'; "" when it
 * has none. The pointer lives as long as the model. */
const char *rp_url_model_notes(const struct rp_url_model *m);

/* Writes the features of input (see rp_url_model_score for input and url) into out, which must
 * have room for RP_URL_MODEL_MAX_FEATURES entries, and returns how many it wrote. params must
 * pass rp_url_model_params_check(). Never allocates. The score is
 * 1 / (1 + exp(-(bias + sum of weight[index] * value))). */
size_t rp_url_model_features(const struct rp_url_model_params *params, struct rp_str input,
                             const struct rp_url *url, struct rp_url_feature *out);

/* Builds a model from trained weights: weights has 2^params->hash_bits entries and is copied,
 * each rounded to the 4 significant digits the file keeps (bias and threshold to 6); notes (may
 * be NULL) is copied and becomes the model's "note" lines, one per '\n'-separated line. On
 * success *out is a new model the caller frees with rp_url_model_free(). Returns RP_EINVAL (bad
 * params, a weight or the bias not finite, threshold outside 0..1, a control character other
 * than tab or newline in notes) or RP_ENOMEM, with a message in err. */
int rp_url_model_new(const struct rp_url_model_params *params, const float *weights, double bias,
                     double threshold, const char *notes, struct rp_url_model **out,
                     struct rp_error *err);

/* Replace the threshold (0..1, rounded to the 6 digits the file keeps) or the notes (copied;
 * NULL for none) of a model the caller is still building: not of one other threads are using.
 * set_notes returns 0, RP_EINVAL (a control character other than tab and newline) or
 * RP_ENOMEM, and then keeps the old notes. */
void rp_url_model_set_threshold(struct rp_url_model *m, double threshold);
int rp_url_model_set_notes(struct rp_url_model *m, const char *notes, struct rp_error *err);

/* Appends the model in its text format to out (the caller owns out and chooses its cap).
 * Weights are written with 4 significant digits and zero weights are left out; a saved and
 * reloaded model scores exactly as the one in memory (rp_url_model_new rounds the same way), and
 * a model loaded from saved text saves to that text again. Returns 0, RP_ETOOBIG or RP_ENOMEM. */
int rp_url_model_save(const struct rp_url_model *m, struct rp_buf *out);

#endif
