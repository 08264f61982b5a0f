/* Unit tests of lib/vuln/cvss.c: CVSS v3.0, v3.1 and v4.0 base scores of known vectors, v3.1's
 * Roundup at its edges, every v3 and v4 base vector at once against a checksum of the reference
 * scores, metric order and non-base metrics, ratings, and the errors of bad vectors.
 *
 * Where the expected scores come from:
 * - v3.1/v3.0: RedHatProductSecurity/cvss tests/vectors_simple31 and vectors_simple3 (base
 *   column), the FIRST v3.1 calculator values quoted in github/advisory-database#7119 and
 *   cisagov/vulnrichment#333, and the v3.1 specification's Appendix A for Roundup.
 * - v4.0: RedHatProductSecurity/cvss tests/vectors_simple4 (generated with FIRST's calculator),
 *   FIRSTdotorg/cvss-resources vectorFiles/reference-scores (vectors whose threat and
 *   environmental values are the worst-case defaults, so their score is the CVSS-B score),
 *   RedHatProductSecurity/cvss tests/test_cvss4.py, and the vectors of the calculator's issues
 *   #53 and #66 (RedHatProductSecurity/cvss-v4-calculator).
 * - The whole-space checksums: the scores of all 2,592 v3 and 104,976 v4.0 base vectors as
 *   ae-cvss-calculator 1.0.13 (npm) computes them; ruby-cvss-suite 3.1.0 (Debian 12) agrees on
 *   every v3 vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rampart/vuln.h"

double rp__cvss_roundup_31(double x);
double rp__cvss_roundup_30(double x);

struct known {
    const char *vector;
    double score;
};

/* Scores compare in tenths: they are one-decimal numbers by construction. */
static long tenths(double score)
{
    return lround(score * 10);
}

static void check_known(const struct known *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rp_error err = {{0}};
        double score = -1;
        int rc = rp_cvss_base_score(rp_str_from_cstr(k[i].vector), &score, &err);
        if (rc)
            fail_msg("'%s': %s", k[i].vector, err.msg);
        if (tenths(score) != tenths(k[i].score) || fabs(score * 10 - tenths(score)) > 1e-9)
            fail_msg("'%s': %.17g, want %.1f", k[i].vector, score, k[i].score);
    }
}

static double score_of(const char *vector)
{
    struct rp_error err = {{0}};
    double score = -1;
    int rc = rp_cvss_base_score(rp_str_from_cstr(vector), &score, &err);
    if (rc)
        fail_msg("'%s': %s", vector, err.msg);
    return score;
}

/* ---- v3 --------------------------------------------------------------------------------- */

static void test_v31_known(void **state)
{
    (void)state;
    static const struct known k[] = {
        /* RedHatProductSecurity/cvss tests/vectors_simple31 */
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:L/A:L", 9.9},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:N", 0.0},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", 7.3},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:N/A:N", 4.3},
        {"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9},
        {"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4},
        {"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8},
        {"CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 9.0},
        {"CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 3.5},
        {"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:L/A:L", 6.6},
        {"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.9},
        /* FIRST calculator values quoted in github/advisory-database#7119 and
         * cisagov/vulnrichment#333 */
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:L", 6.5},
        /* Physical, changed scope: the raw score is 5.29999597, just under a tenth. */
        {"CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N", 5.3},
        /* Scope changed raises the privilege weights (L 0.68, H 0.5) and multiplies by 1.08. */
        {"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:H/A:N", 7.5},
        {"CVSS:3.1/AV:A/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8},
        {"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L", 1.6},
    };
    check_known(k, sizeof(k) / sizeof(k[0]));
}

static void test_v30_known(void **state)
{
    (void)state;
    /* RedHatProductSecurity/cvss tests/vectors_simple3: over the base metrics alone v3.0 and
     * v3.1 agree on every vector (their rounding differs only on environmental scores). */
    static const struct known k[] = {
        {"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
        {"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:L/A:N", 9.3},
        {"CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6},
        {"CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:U/C:H/I:H/A:H", 8.0},
        {"CVSS:3.0/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2},
        {"CVSS:3.0/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:N/A:H", 7.5},
        {"CVSS:3.0/AV:P/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N", 5.3},
        {"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0},
    };
    check_known(k, sizeof(k) / sizeof(k[0]));
}

/* Appendix A of the v3.1 specification: Roundup works on an integer of 1e-5 steps so that a
 * floating-point artefact just above a tenth does not add a tenth; v3.0's plain ceiling does. */
static void test_v31_roundup_edges(void **state)
{
    (void)state;
    static const struct {
        double in, v31, v30;
    } c[] = {
        {4.02, 4.1, 4.1},
        {4.00, 4.0, 4.0},
        {4.000000000000001, 4.0, 4.1}, /* the specification's example */
        {0.1 + 0.2, 0.3, 0.4},         /* 0.30000000000000004 */
        {4.000004, 4.0, 4.1},          /* under 1e-5 above a tenth: noise for v3.1 */
        {4.00001, 4.1, 4.1},
        {9.99999, 10.0, 10.0},
        {10.0, 10.0, 10.0},
        {0.0, 0.0, 0.0},
        {0.04, 0.1, 0.1},
        {6.400000000000001, 6.4, 6.5},
        {5.2999959717151235, 5.3, 5.3},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        double got31 = rp__cvss_roundup_31(c[i].in), got30 = rp__cvss_roundup_30(c[i].in);
        if (tenths(got31) != tenths(c[i].v31))
            fail_msg("Roundup31(%.17g) = %.17g, want %.1f", c[i].in, got31, c[i].v31);
        if (tenths(got30) != tenths(c[i].v30))
            fail_msg("Roundup30(%.17g) = %.17g, want %.1f", c[i].in, got30, c[i].v30);
    }
}

/* FNV-1a of the scores in tenths, one byte each, in enumeration order. */
static uint64_t fnv_add(uint64_t h, unsigned char b)
{
    return (h ^ b) * 0x100000001b3ULL;
}

/* Every v3 base vector (2,592, the last metric varying fastest) scores, and the sequence of
 * scores is the reference's: for v3.0 and v3.1 alike. */
static void test_v3_all_base_vectors(void **state)
{
    (void)state;
    static const char *const names[] = {"AV", "AC", "PR", "UI", "S", "C", "I", "A"};
    static const char *const values[] = {"NALP", "LH", "NLH", "NR", "UC", "HLN", "HLN", "HLN"};
    for (int version = 0; version < 2; version++) {
        size_t idx[8] = {0}, count = 0;
        long sum = 0;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (;;) {
            char v[128];
            int n = snprintf(v, sizeof(v), "CVSS:%s", version ? "3.1" : "3.0");
            for (int m = 0; m < 8; m++)
                n += snprintf(v + n, sizeof(v) - (size_t)n, "/%s:%c", names[m], values[m][idx[m]]);
            double s = score_of(v);
            assert_true(s >= 0 && s <= 10);
            sum += tenths(s);
            h = fnv_add(h, (unsigned char)tenths(s));
            count++;
            int m = 7;
            while (m >= 0 && !values[m][++idx[m]])
                idx[m--] = 0;
            if (m < 0)
                break;
        }
        assert_int_equal(count, 2592);
        assert_int_equal(sum, 142706);
        assert_true(h == 0xe696c5debffb6f09ULL);
    }
}

/* Temporal and environmental metrics are checked, not scored. */
static void test_v3_non_base_metrics(void **state)
{
    (void)state;
    const char *base = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    assert_int_equal(tenths(score_of(base)), 98);
    assert_int_equal(tenths(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U")),
                     98);
    assert_int_equal(tenths(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/RL:X/RC:X/"
                                     "CR:L/IR:L/AR:L/MAV:P/MAC:H/MPR:H/MUI:R/MS:C/MC:N/MI:N/MA:N")),
                     98);
    assert_int_equal(tenths(score_of("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:F/CR:H")), 98);
}

/* ---- v4.0 ------------------------------------------------------------------------------- */

static void test_v40_known(void **state)
{
    (void)state;
    static const struct known k[] = {
        /* RedHatProductSecurity/cvss tests/vectors_simple4 */
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L", 9.2},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:L", 7.8},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N", 6.9},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:L/SA:H", 7.9},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:N/VA:L/SC:N/SI:H/SA:N", 8.3},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:N/VA:N/SC:L/SI:N/SA:L", 5.3},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.6},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:H/VA:N/SC:N/SI:L/SA:L", 8.5},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", 5.1},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:L/SC:N/SI:L/SA:N", 7.1},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:L/VI:L/VA:N/SC:H/SI:L/SA:L", 6.4},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L", 7.0},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:A/VC:H/VI:H/VA:H/SC:H/SI:N/SA:H", 9.3},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:A/VC:N/VI:L/VA:L/SC:L/SI:L/SA:H", 6.2},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:N", 5.1},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:P/VC:L/VI:L/VA:N/SC:L/SI:N/SA:N", 4.8},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:A/VC:L/VI:N/VA:N/SC:H/SI:N/SA:H", 6.0},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:H/SI:H/SA:H", 6.2},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:N/SA:H", 9.5},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:N/VI:L/VA:L/SC:H/SI:L/SA:L", 7.0},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:N/SC:H/SI:N/SA:N", 4.9},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:H", 4.6},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 2.1},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:N/VI:N/VA:N/SC:N/SI:L/SA:N", 2.3},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:N/SC:N/SI:H/SA:L", 4.5},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:N/VC:N/VI:L/VA:L/SC:H/SI:H/SA:H", 5.5},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:P/VC:H/VI:L/VA:L/SC:L/SI:N/SA:L", 5.8},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N", 1.8},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:H/VA:N/SC:N/SI:H/SA:L", 6.8},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:L/SI:H/SA:L", 9.4},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:L/SI:L/SA:H", 7.0},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", 2.1},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:P/VC:H/VI:H/VA:H/SC:H/SI:L/SA:H", 8.8},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H", 5.2},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:N/VI:L/VA:L/SC:H/SI:H/SA:L", 5.0},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:N/VC:N/VI:N/VA:N/SC:L/SI:H/SA:N", 4.8},
        {"CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N", 4.0},
        {"CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:L", 9.1},
        {"CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:L/VI:L/VA:H/SC:L/SI:N/SA:N", 8.3},
        {"CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:N/VI:L/VA:N/SC:L/SI:H/SA:L", 7.0},
        /* FIRSTdotorg/cvss-resources vectorFiles/reference-scores: E:A and CR/IR/AR:H are the
         * values Not Defined stands for, so these scores are CVSS-B scores. */
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A/CR:H/IR:H/AR:H",
         10.0},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 9.3},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 9.2},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 8.8},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 8.4},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H/E:A/CR:H/IR:H/AR:H", 7.9},
        {"CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 6.3},
        {"CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A/CR:H/IR:H/AR:H", 9.4},
        {"CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A/CR:H/IR:H/AR:H", 9.0},
        {"CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/CR:H/IR:H/AR:H", 7.7},
        /* RedHatProductSecurity/cvss tests/test_cvss4.py */
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", 8.7},
        {"CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L", 6.9},
    };
    check_known(k, sizeof(k) / sizeof(k[0]));
}

/* Regressions the reference calculator itself went through. */
static void test_v40_reference_rounding_fix(void **state)
{
    (void)state;
    /* cvss-v4-calculator#66, fixed 2024-11-01: 8.6 - 0.05 lands one ulp under 8.55 and must
     * still round half up. */
    assert_int_equal(tenths(score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:H/SI:H/"
                                     "SA:H")),
                     86);
    /* Likewise 5.8 - 0.85 = 4.95. */
    assert_int_equal(tenths(score_of("CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/"
                                     "SA:H")),
                     50);
}

static void test_v40_reference_issue_53(void **state)
{
    (void)state;
    /* cvss-v4-calculator#53: a 2024 change of the reference briefly gave 5.9; the algorithm
     * (and FIRST's calculator) gives 6.1, since EQ2 and EQ4 have no lower macrovector here. */
    assert_int_equal(tenths(score_of("CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/"
                                     "SA:N")),
                     61);
}

/* Every v4.0 base vector (104,976, the last metric varying fastest) scores, and the sequence
 * of scores is the reference's. */
static void test_v40_all_base_vectors(void **state)
{
    (void)state;
    static const char *const names[] = {"AV", "AC", "AT", "PR", "UI", "VC",
                                        "VI", "VA", "SC", "SI", "SA"};
    static const char *const values[] = {"NALP", "LH",  "NP",  "NLH", "NPA", "HLN",
                                         "HLN",  "HLN", "HLN", "HLN", "HLN"};
    size_t idx[11] = {0}, count = 0;
    long sum = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (;;) {
        char v[128];
        int n = snprintf(v, sizeof(v), "CVSS:4.0");
        for (int m = 0; m < 11; m++)
            n += snprintf(v + n, sizeof(v) - (size_t)n, "/%s:%c", names[m], values[m][idx[m]]);
        double s = score_of(v);
        if (!(s >= 0 && s <= 10) || fabs(s * 10 - tenths(s)) > 1e-9)
            fail_msg("'%s': %.17g", v, s);
        sum += tenths(s);
        h = fnv_add(h, (unsigned char)tenths(s));
        count++;
        int m = 10;
        while (m >= 0 && !values[m][++idx[m]])
            idx[m--] = 0;
        if (m < 0)
            break;
    }
    assert_int_equal(count, 104976);
    assert_int_equal(sum, 5964883);
    assert_true(h == 0x5ddefebf6dbbe1daULL);
}

/* The base score is CVSS-B: threat, environmental and supplemental metrics are validated but
 * scored as Not Defined. */
static void test_v40_non_base_metrics(void **state)
{
    (void)state;
    const char *base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
    assert_int_equal(tenths(score_of(base)), 93);
    /* With all of them: the full CVSS-BTE score of this vector is lower, CVSS-B is not. */
    assert_int_equal(tenths(score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/"
                                     "SA:N/E:U/CR:L/IR:L/AR:L/MAV:P/MAC:H/MAT:P/MPR:H/MUI:A/"
                                     "MVC:N/MVI:N/MVA:N/MSC:N/MSI:S/MSA:S/S:P/AU:Y/R:I/V:C/RE:H/"
                                     "U:Red")),
                     93);
    assert_int_equal(tenths(score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/"
                                     "SA:N/E:X/CR:X/U:Clear")),
                     93);
}

/* ---- order, ratings, errors ------------------------------------------------------------- */

static void test_any_metric_order(void **state)
{
    (void)state;
    assert_int_equal(tenths(score_of("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N")), 98);
    assert_int_equal(tenths(score_of("CVSS:3.1/E:P/AV:N/MAV:L/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")),
                     61);
    assert_int_equal(tenths(score_of("CVSS:4.0/SA:H/SI:H/SC:H/VA:H/VI:L/VC:H/UI:P/PR:N/AT:N/AC:L/"
                                     "AV:N")),
                     86);
    assert_int_equal(tenths(score_of("CVSS:4.0/U:Amber/AV:N/E:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/"
                                     "VA:H/SC:N/SI:N/SA:N")),
                     93);
}

static void test_rating(void **state)
{
    (void)state;
    static const struct {
        double score;
        const char *rating;
    } c[] = {
        {0.0, "none"},      {0.1, "low"},   {3.9, "low"},  {4.0, "medium"},
        {6.9, "medium"},    {7.0, "high"},  {8.9, "high"}, {9.0, "critical"},
        {10.0, "critical"}, {-1.0, "none"}, {NAN, "none"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        assert_string_equal(rp_cvss_rating(c[i].score), c[i].rating);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *vector;
        const char *msg;
    } c[] = {
        {"", "'' is not a CVSS vector (it should start with 'CVSS:3.1/' or 'CVSS:4.0/')"},
        {"cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "'cvss:3.1/AV:N/AC:L/PR:N/...' is not a CVSS vector (it should start with 'CVSS:3.1/' "
         "or 'CVSS:4.0/')"},
        {"AV:N/AC:L/Au:N/C:P/I:P/A:P",
         "CVSS v2 vectors are not supported (only CVSS:3.0, 3.1 and 4.0)"},
        {"CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
         "unsupported CVSS version '2.0' (only 3.0, 3.1 and 4.0)"},
        {"CVSS:3.1", "CVSS 3.1 vector without metrics"},
        {"CVSS:4.0/", "CVSS 4.0 vector without metrics"},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "missing base metric 'A' in CVSS 3.1 vector"},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
         "missing base metric 'SA' in CVSS 4.0 vector"},
        {"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "metric 'AV' given twice"},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/E:P", "metric 'E' given twice"},
        {"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "bad value 'X' for metric 'AV' (one of N, A, L, P)"},
        {"CVSS:3.1/AV:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "bad value 'n' for metric 'AV' (one of N, A, L, P)"},
        {"CVSS:3.1/AV:/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "bad value '' for metric 'AV' (one of N, A, L, P)"},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H ",
         "bad value 'H ' for metric 'A' (one of H, L, N)"},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AT:N",
         "unknown metric 'AT' in CVSS 3.1 vector"},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:U",
         "bad value 'U' for metric 'S' (one of X, N, P)"},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/U:red",
         "bad value 'red' for metric 'U' (one of X, Clear, Green, Amber, Red)"},
        {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
         "bad value 'S' for metric 'SI' (one of H, L, N)"},
        {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
         "empty metric in CVSS 3.1 vector (a '/' too many)"},
        {"CVSS:3.1//AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "empty metric in CVSS 3.1 vector (a '/' too many)"},
        {"CVSS:3.1/AV/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "'AV' is not METRIC:VALUE"},
        {"CVSS:3.1/:N", "unknown metric '' in CVSS 3.1 vector"},
        {"CVSS:3.1/AV:N:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
         "bad value 'N:N' for metric 'AV' (one of N, A, L, P)"},
        {"CVSS:3.1/\x01\xff:N", "unknown metric '\\x01\\xff' in CVSS 3.1 vector"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct rp_error err = {{0}};
        double score = 42;
        int rc = rp_cvss_base_score(rp_str_from_cstr(c[i].vector), &score, &err);
        if (rc != RP_EINVAL)
            fail_msg("'%s': %d (score %.1f), want RP_EINVAL", c[i].vector, rc, score);
        if (strcmp(err.msg, c[i].msg) != 0)
            fail_msg("'%s': \"%s\", want \"%s\"", c[i].vector, err.msg, c[i].msg);
        assert_true(score == 42); /* untouched on failure */
    }
}

/* Slices are not NUL-terminated; NUL bytes, a NULL slice and a NULL err are all fine. */
static void test_slices_and_bytes(void **state)
{
    (void)state;
    struct rp_error err = {{0}};
    double score = -1;
    const char *v = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Hxyz";
    assert_int_equal(rp_cvss_base_score((struct rp_str){v, strlen(v) - 3}, &score, &err), RP_OK);
    assert_int_equal(tenths(score), 98);
    static const char nul[] = "CVSS:3.1/AV:N\0/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    assert_int_equal(rp_cvss_base_score((struct rp_str){nul, sizeof(nul) - 1}, &score, &err),
                     RP_EINVAL);
    assert_string_equal(err.msg, "bad value 'N\\x00' for metric 'AV' (one of N, A, L, P)");
    assert_int_equal(rp_cvss_base_score(RP_STR_NULL, &score, &err), RP_EINVAL);
    assert_int_equal(rp_cvss_base_score(RP_STR("CVSS:9.9/"), &score, NULL), RP_EINVAL);
    char big[4096];
    memset(big, 'A', sizeof(big));
    assert_int_equal(rp_cvss_base_score((struct rp_str){big, sizeof(big)}, &score, &err),
                     RP_EINVAL);
    assert_string_equal(err.msg, "'AAAAAAAAAAAAAAAAAAAAAAAA...' is not a CVSS vector (it should "
                                 "start with 'CVSS:3.1/' or 'CVSS:4.0/')");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v31_known),
        cmocka_unit_test(test_v30_known),
        cmocka_unit_test(test_v31_roundup_edges),
        cmocka_unit_test(test_v3_all_base_vectors),
        cmocka_unit_test(test_v3_non_base_metrics),
        cmocka_unit_test(test_v40_known),
        cmocka_unit_test(test_v40_reference_rounding_fix),
        cmocka_unit_test(test_v40_reference_issue_53),
        cmocka_unit_test(test_v40_all_base_vectors),
        cmocka_unit_test(test_v40_non_base_metrics),
        cmocka_unit_test(test_any_metric_order),
        cmocka_unit_test(test_rating),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_slices_and_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
