/* Unit tests of the URL phishing model: the text format's errors, save/load round trips, the
 * committed model's scores, and scoring hostile input. Run from the top of the tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart/url_model.h"

#define COMMITTED_MODEL "conf/url-model.txt"

static const char *const header = "rampart-url-model 1\n"
                                  "features 1\n"
                                  "hash-bits 10\n"
                                  "ngrams 3 5\n"
                                  "bias -0.5\n"
                                  "threshold 0.75\n";

/* Loads text that must be refused and checks the message starts with want (e.g. "line 3:"). */
static void assert_refused(const char *text, const char *want)
{
    struct rp_url_model *m = (struct rp_url_model *)1;
    struct rp_error err = {{0}};
    int rc = rp_url_model_load(rp_str_from_cstr(text), &m, &err);
    if (rc != RP_EINVAL || strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("expected '%s...', got %d '%s' for:\n%s", want, rc, err.msg, text);
    assert_null(m);
}

/* header + extra, loaded, must be refused with want. */
static void assert_refused_after_header(const char *extra, const char *want)
{
    char text[1024];
    snprintf(text, sizeof(text), "%s%s", header, extra);
    assert_refused(text, want);
}

static struct rp_url_model *load_committed(void)
{
    struct rp_error err = {{0}};
    struct rp_url_model *m = NULL;
    char *text = NULL;
    size_t len = 0;
    if (rp_file_read(COMMITTED_MODEL, RP_URL_MODEL_MAX_TEXT, &text, &len, &err))
        fail_msg("%s", err.msg);
    if (rp_url_model_load((struct rp_str){text, len}, &m, &err))
        fail_msg("%s: %s", COMMITTED_MODEL, err.msg);
    free(text);
    return m;
}

/* Scores input as the inspector does: parsed when it parses, raw otherwise. */
static double score(const struct rp_url_model *m, const char *input, size_t len)
{
    struct rp_url u;
    struct rp_str in = {input, len};
    bool parsed = rp_url_parse(in, NULL, &u, NULL) == RP_OK;
    double s = rp_url_model_score(m, in, parsed ? &u : NULL);
    if (parsed)
        rp_url_release(&u);
    assert_true(s >= 0 && s <= 1);
    return s;
}

static double score_cstr(const struct rp_url_model *m, const char *input)
{
    return score(m, input, strlen(input));
}

static void test_load_refuses_bad_header(void **state)
{
    (void)state;
    assert_refused("", "line 1: empty file");
    assert_refused("\n# only a comment\n", "line 3: empty file");
    assert_refused("rampart-url-modle 1\n", "line 1: not a rampart URL model");
    assert_refused("# comment\nrampart-url-model 2\n", "line 2: unsupported format version 2");
    assert_refused("rampart-url-model one\n", "line 1: format version must be an integer");
    assert_refused("rampart-url-model 1 extra\n", "line 1: unexpected text");
    assert_refused("rampart-url-model 1\nfeatures 9\n", "line 2: model uses feature version 9");
    assert_refused("rampart-url-model 1\nhash-bits 40\n", "line 2: hash-bits must be an integer");
    assert_refused("rampart-url-model 1\nngrams 5 3\n", "line 2: n-gram maximum must be");
    assert_refused("rampart-url-model 1\nbias nan\n", "line 2: bias must be a finite number");
    assert_refused("rampart-url-model 1\nthreshold 1.5\n", "line 2: threshold must be within");
    assert_refused("rampart-url-model 1\nbias 1\nbias 2\n", "line 3: 'bias' given twice");
    assert_refused("rampart-url-model 1\ncolour blue\n", "line 2: unknown header key 'colour'");
    assert_refused("rampart-url-model 1\nfeatures 1\nweights 0\n",
                   "line 3: 'weights' before the header gave 'hash-bits'");
    assert_refused("rampart-url-model 1\nfeatures 1\n", "line 3: the file ends before");
    assert_refused("rampart-url-model 1\nnote a\001b\n", "line 2: control character in note");
}

static void test_load_refuses_bad_weight_line(void **state)
{
    (void)state;
    assert_refused_after_header("weights 2\n1 0.5\n", "line 9: the file ends after 1 of 2");
    assert_refused_after_header("weights 2\n1 0.5\n1 0.25\n", "line 9: weight indices must");
    assert_refused_after_header("weights 1\n1024 0.5\n", "line 8: weight index must be");
    assert_refused_after_header("weights 1\n-1 0.5\n", "line 8: weight index must be");
    assert_refused_after_header("weights 1\n7\n", "line 8: weight must be a finite number");
    assert_refused_after_header("weights 1\n7 inf\n", "line 8: weight must be a finite number");
    assert_refused_after_header("weights 1\n7 1e300\n", "line 8: weight out of range");
    assert_refused_after_header("weights 1\n7 0.5 9\n", "line 8: unexpected text");
    assert_refused_after_header("weights 1\n7 0.5\n8 0.5\n", "line 9: text after the 1 weights");
    assert_refused_after_header("weights 2000\n", "line 7: 2000 weights do not fit");
    assert_refused_after_header("weights x\n", "line 7: weight count must be");
    /* A NUL inside a number is not the end of the number. */
    static const char with_nul[] = "rampart-url-model 1\nfeatures 1\nhash-bits 10\0"
                                   "9\n";
    struct rp_url_model *m = NULL;
    struct rp_error err = {{0}};
    assert_int_equal(rp_url_model_load((struct rp_str){with_nul, sizeof(with_nul) - 1}, &m, &err),
                     RP_EINVAL);
    assert_string_equal(err.msg, "line 3: hash-bits must be an integer from 8 to 24, not '10'");
    assert_null(m);
}

static void test_load_accepts_minimal_model(void **state)
{
    (void)state;
    char text[512];
    struct rp_url_model *m = NULL;
    struct rp_error err = {{0}};
    snprintf(text, sizeof(text), "# a comment\r\n%sweights 2\r\n3 0.5\r\n1023 -1.25\r\n\r\n",
             header);
    assert_int_equal(rp_url_model_load(rp_str_from_cstr(text), &m, &err), RP_OK);
    assert_non_null(m);
    assert_true(rp_url_model_threshold(m) == 0.75);
    assert_int_equal(rp_url_model_params(m)->hash_bits, 10);
    assert_int_equal(rp_url_model_params(m)->ngram_min, 3);
    assert_int_equal(rp_url_model_params(m)->ngram_max, 5);
    assert_string_equal(rp_url_model_notes(m), "");
    rp_url_model_free(m);
    rp_url_model_free(NULL);
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    struct rp_url_model_params p = {12, 2, 4};
    size_t n = (size_t)1 << p.hash_bits;
    float *w = calloc(n, sizeof(float));
    struct rp_url_model *m = NULL, *loaded = NULL;
    struct rp_error err = {{0}};
    struct rp_buf a, b;
    assert_non_null(w);
    for (size_t i = 0; i < n; i += 7)
        w[i] = (float)(((double)(i % 97) - 48.0) / 31.0);
    assert_int_equal(
        rp_url_model_new(&p, w, -0.123456789, 0.4, "data: made up\nsecond\tline", &m, &err), RP_OK);
    rp_buf_init(&a, RP_URL_MODEL_MAX_TEXT);
    rp_buf_init(&b, RP_URL_MODEL_MAX_TEXT);
    assert_int_equal(rp_url_model_save(m, &a), RP_OK);
    assert_int_equal(rp_url_model_load(rp_buf_str(&a), &loaded, &err), RP_OK);
    assert_int_equal(rp_url_model_save(loaded, &b), RP_OK);
    assert_string_equal(a.ptr, b.ptr);
    assert_string_equal(rp_url_model_notes(loaded), "data: made up\nsecond\tline");
    assert_true(rp_url_model_threshold(loaded) == rp_url_model_threshold(m));
    assert_memory_equal(rp_url_model_params(loaded), &p, sizeof(p));
    static const char *const inputs[] = {"http://example.com/a/b?c=d",
                                         "https://xn--80ak6aa92e.com/", "not a url at all", ""};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        double s1 = score_cstr(m, inputs[i]), s2 = score_cstr(loaded, inputs[i]);
        assert_true(s1 == s2);
    }
    rp_url_model_free(m);
    rp_url_model_free(loaded);
    rp_buf_release(&a);
    rp_buf_release(&b);
    free(w);
}

static void test_new_refuses_bad_arguments(void **state)
{
    (void)state;
    struct rp_url_model_params p = {8, 3, 5}, bad_bits = {30, 3, 5}, bad_ngrams = {8, 0, 5};
    float w[256] = {0};
    struct rp_url_model *m = NULL;
    struct rp_error err = {{0}};
    assert_int_equal(rp_url_model_params_check(&bad_bits, &err), RP_EINVAL);
    assert_int_equal(rp_url_model_params_check(&bad_ngrams, &err), RP_EINVAL);
    assert_int_equal(rp_url_model_new(&bad_bits, w, 0, 0.5, NULL, &m, &err), RP_EINVAL);
    assert_int_equal(rp_url_model_new(&p, w, NAN, 0.5, NULL, &m, &err), RP_EINVAL);
    assert_int_equal(rp_url_model_new(&p, w, 0, 2, NULL, &m, &err), RP_EINVAL);
    assert_int_equal(rp_url_model_new(&p, w, 0, 0.5, "bell\a", &m, &err), RP_EINVAL);
    w[17] = INFINITY;
    assert_int_equal(rp_url_model_new(&p, w, 0, 0.5, NULL, &m, &err), RP_EINVAL);
    assert_null(m);
}

static void test_committed_model_loads(void **state)
{
    (void)state;
    struct rp_url_model *m = load_committed();
    const struct rp_url_model_params *p = rp_url_model_params(m);
    assert_int_equal(p->hash_bits, RP_URL_MODEL_PARAMS_DEFAULT.hash_bits);
    assert_true(rp_url_model_threshold(m) > 0 && rp_url_model_threshold(m) < 1);
    assert_non_null(strstr(rp_url_model_notes(m), "(a) held out, phishing_labeled.jsonl only: "
                                                  "ROC-AUC"));
    assert_non_null(strstr(rp_url_model_notes(m), "(c) site-grouped split"));
    rp_url_model_free(m);
}

/* Regression: the threshold was the score at 1% FPR on the URL split's held-out lines, whose benign
 * pages come from sites seen in training, so it was far too low (0.048) for any other site, and
 * the benign side was only the 296 sites of 2016. The committed model must say that it added more
 * benign sites and chose its threshold on sites its model never saw. */
static void test_committed_model_threshold_chosen_on_unseen_sites(void **state)
{
    (void)state;
    struct rp_url_model *m = load_committed();
    const char *notes = rp_url_model_notes(m);
    assert_non_null(strstr(notes, "osv-reference-urls.jsonl "));
    assert_non_null(strstr(notes, "threshold: flags 0.01 of the benign lines of sites its model "
                                  "never saw"));
    rp_url_model_free(m);
}

static void test_scoring_is_deterministic(void **state)
{
    (void)state;
    struct rp_url_model *a = load_committed(), *b = load_committed();
    static const char *const inputs[] = {
        "http://paypal.com.secure-login.verify-account.xyz/webscr.php?cmd=_login",
        "https://en.wikipedia.org/wiki/Uniform_Resource_Locator", "example.com/path",
        "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        double s = score_cstr(a, inputs[i]);
        assert_true(s == score_cstr(a, inputs[i]));
        assert_true(s == score_cstr(b, inputs[i]));
    }
    rp_url_model_free(a);
    rp_url_model_free(b);
}

/* The committed model must put obvious phishing above ordinary pages and flag it. What it does
 * with everyday sites outside its benign data is documented in docs/url-model.md. */
static void test_committed_model_orders_obvious_cases(void **state)
{
    (void)state;
    struct rp_url_model *m = load_committed();
    static const char *const phishing[] = {
        "http://paypal.com.secure-login.verify-account.xyz/webscr.php?cmd=_login",
        "http://192.168.13.7/bank/login.php",
        "http://secure-appleid.apple.com.verify-login.tk/index.php",
        "https://login-microsoftonline.com-session.ru/owa/auth.php?user=x",
    };
    static const char *const benign[] = {
        "http://www.theguardian.com/world/2015/may/10/general-election-results-analysis",
        "https://stackoverflow.com/questions/11227809/why-is-processing-a-sorted-array-faster",
    };
    for (size_t i = 0; i < sizeof(phishing) / sizeof(phishing[0]); i++) {
        double p = score_cstr(m, phishing[i]);
        assert_true(p >= rp_url_model_threshold(m));
        for (size_t j = 0; j < sizeof(benign) / sizeof(benign[0]); j++)
            assert_true(p > score_cstr(m, benign[j]));
    }
    rp_url_model_free(m);
}

static void test_hostile_input_is_scored(void **state)
{
    (void)state;
    struct rp_url_model *m = load_committed();
    struct rp_url_feature *f = malloc(RP_URL_MODEL_MAX_FEATURES * sizeof(*f));
    struct rp_url_model_params widest = {RP_URL_MODEL_MAX_BITS, 1, RP_URL_MODEL_MAX_NGRAM};
    size_t big = (size_t)RP_URL_MAX_INPUT + 1; /* one byte more than the parser takes */
    char *huge = malloc(big);
    assert_non_null(f);
    assert_non_null(huge);

    static const char nul[] = "http://exa\0mple.com/\0a?\0#\0";
    score(m, nul, sizeof(nul) - 1);
    static const char bad_utf8[] = "http://\xff\xfe\xc3\x28.com/\xe2\x82/\xf0\x28\x8c\xbc?q=\x80";
    score(m, bad_utf8, sizeof(bad_utf8) - 1);
    score(m, "", 0);
    score(m, NULL, 0);
    assert_true(rp_url_model_score(m, (struct rp_str){bad_utf8, sizeof(bad_utf8) - 1}, NULL) >= 0);

    /* 1 MiB of each kind, then with a path in its second half: letters, separators only, random
     * bytes; one byte longer than the parser takes (the raw fallback featurises those), and
     * exactly as long. */
    static const char *const fills[] = {"a", "/", "@", ".", "%", "-"};
    uint64_t x = 88172645463325252ULL;
    for (size_t k = 0; k <= sizeof(fills) / sizeof(fills[0]); k++) {
        for (size_t i = 0; i < big; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            huge[i] = k < sizeof(fills) / sizeof(fills[0]) ? fills[k][0] : (char)(x & 0xff);
        }
        memcpy(huge, "http://", 7);
        score(m, huge, big);
        score(m, huge, big - 1);
        assert_true(rp_url_model_score(m, (struct rp_str){huge, big}, NULL) >= 0);
        assert_true(rp_url_model_features(&widest, (struct rp_str){huge, big}, NULL, f) <=
                    RP_URL_MODEL_MAX_FEATURES);
        huge[big / 2] = '/';
        for (size_t i = big / 2 + 1; i < big; i++)
            huge[i] = 'b';
        assert_true(rp_url_model_features(&widest, (struct rp_str){huge, big}, NULL, f) <=
                    RP_URL_MODEL_MAX_FEATURES);
    }
    free(huge);
    free(f);
    rp_url_model_free(m);
}

struct thread_job {
    const struct rp_url_model *m;
    double sum;
};

static const char *const thread_inputs[] = {
    "http://u1047531.cp.example.ru/acces-inges-20200104-t452/3facd",
    "https://docs.example.com/forms/d/e/1FAIpQLSevif/viewform?usp=send_form",
    "http://news.example.org/2015/05/08/some-long-article-title-about-things",
    "http://[::1]:8080/a/../b?c#d",
};

static void *thread_run(void *arg)
{
    struct thread_job *job = arg;
    for (int r = 0; r < 200; r++)
        for (size_t i = 0; i < sizeof(thread_inputs) / sizeof(thread_inputs[0]); i++)
            job->sum += rp_url_model_score(job->m, rp_str_from_cstr(thread_inputs[i]), NULL);
    return NULL;
}

/* One model, four threads: every thread gets the single-threaded sums. */
static void test_concurrent_scoring(void **state)
{
    (void)state;
    struct rp_url_model *m = load_committed();
    struct thread_job alone = {m, 0}, jobs[4];
    pthread_t t[4];
    thread_run(&alone);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct thread_job){m, 0};
        assert_int_equal(pthread_create(&t[i], NULL, thread_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(jobs[i].sum == alone.sum);
    }
    rp_url_model_free(m);
}

/* Features of an address come out the same whether the parser or the raw fallback found its
 * parts, apart from the one feature that says which. */
static void test_raw_fallback_finds_the_parts(void **state)
{
    (void)state;
    struct rp_url_model_params p = RP_URL_MODEL_PARAMS_DEFAULT;
    struct rp_url_feature *a = malloc(RP_URL_MODEL_MAX_FEATURES * sizeof(*a));
    struct rp_url_feature *b = malloc(RP_URL_MODEL_MAX_FEATURES * sizeof(*b));
    struct rp_url u;
    const char *input = "http://login.example.co.uk/a/b.php?x=1&y=2";
    struct rp_str in = rp_str_from_cstr(input);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rp_url_parse(in, NULL, &u, NULL), RP_OK);
    size_t na = rp_url_model_features(&p, in, &u, a);
    size_t nb = rp_url_model_features(&p, in, NULL, b);
    assert_int_equal(na, nb);
    size_t differ = 0;
    for (size_t i = 0; i < na; i++)
        differ += a[i].index != b[i].index || a[i].value != b[i].value;
    assert_int_equal(differ, 1);
    rp_url_release(&u);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_refuses_bad_header),
        cmocka_unit_test(test_load_refuses_bad_weight_line),
        cmocka_unit_test(test_load_accepts_minimal_model),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_new_refuses_bad_arguments),
        cmocka_unit_test(test_committed_model_loads),
        cmocka_unit_test(test_committed_model_threshold_chosen_on_unseen_sites),
        cmocka_unit_test(test_scoring_is_deterministic),
        cmocka_unit_test(test_committed_model_orders_obvious_cases),
        cmocka_unit_test(test_hostile_input_is_scored),
        cmocka_unit_test(test_concurrent_scoring),
        cmocka_unit_test(test_raw_fallback_finds_the_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
