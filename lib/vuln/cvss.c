/* CVSS base scores from vector strings, as OSV records carry them in "severity": v3.0 and v3.1
 * by the specifications' formulas, v4.0 by the macrovector lookup and interpolation of FIRST's
 * reference calculator. Parsing validates every metric the vector names; scoring uses the base
 * metrics only. No allocation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rampart/vuln.h"

/* The two "round up" functions of CVSS v3.1 and v3.0; internal, declared here for the unit
 * tests that pin their edge cases. */
double rp__cvss_roundup_31(double x);
double rp__cvss_roundup_30(double x);

/* ---- metrics of each version ------------------------------------------------------------ */

/* A metric of a vector string and the values the specification allows for it. Values are
 * compared case-sensitively, as the specifications write them. */
struct metric {
    const char *name;
    bool base;
    const char *values[6]; /* NULL-terminated */
};

/* CVSS v3.0 and v3.1 (the specifications' Vector String section): base, temporal and
 * environmental metrics. The index of a value in values[] is what the scoring below reads. */
enum { V3_AV, V3_AC, V3_PR, V3_UI, V3_S, V3_C, V3_I, V3_A };
static const struct metric v3_metrics[] = {
    {"AV", true, {"N", "A", "L", "P"}},
    {"AC", true, {"L", "H"}},
    {"PR", true, {"N", "L", "H"}},
    {"UI", true, {"N", "R"}},
    {"S", true, {"U", "C"}},
    {"C", true, {"H", "L", "N"}},
    {"I", true, {"H", "L", "N"}},
    {"A", true, {"H", "L", "N"}},
    {"E", false, {"X", "H", "F", "P", "U"}},
    {"RL", false, {"X", "U", "W", "T", "O"}},
    {"RC", false, {"X", "C", "R", "U"}},
    {"CR", false, {"X", "H", "M", "L"}},
    {"IR", false, {"X", "H", "M", "L"}},
    {"AR", false, {"X", "H", "M", "L"}},
    {"MAV", false, {"X", "N", "A", "L", "P"}},
    {"MAC", false, {"X", "L", "H"}},
    {"MPR", false, {"X", "N", "L", "H"}},
    {"MUI", false, {"X", "N", "R"}},
    {"MS", false, {"X", "U", "C"}},
    {"MC", false, {"X", "H", "L", "N"}},
    {"MI", false, {"X", "H", "L", "N"}},
    {"MA", false, {"X", "H", "L", "N"}},
};

/* CVSS v4.0 (the specification's Vector String section): base, threat, environmental and
 * supplemental metrics. Base values are single letters; scoring reads them as such. */
enum { V4_AV, V4_AC, V4_AT, V4_PR, V4_UI, V4_VC, V4_VI, V4_VA, V4_SC, V4_SI, V4_SA };
static const struct metric v4_metrics[] = {
    {"AV", true, {"N", "A", "L", "P"}},
    {"AC", true, {"L", "H"}},
    {"AT", true, {"N", "P"}},
    {"PR", true, {"N", "L", "H"}},
    {"UI", true, {"N", "P", "A"}},
    {"VC", true, {"H", "L", "N"}},
    {"VI", true, {"H", "L", "N"}},
    {"VA", true, {"H", "L", "N"}},
    {"SC", true, {"H", "L", "N"}},
    {"SI", true, {"H", "L", "N"}},
    {"SA", true, {"H", "L", "N"}},
    {"E", false, {"X", "A", "P", "U"}},
    {"CR", false, {"X", "H", "M", "L"}},
    {"IR", false, {"X", "H", "M", "L"}},
    {"AR", false, {"X", "H", "M", "L"}},
    {"MAV", false, {"X", "N", "A", "L", "P"}},
    {"MAC", false, {"X", "L", "H"}},
    {"MAT", false, {"X", "N", "P"}},
    {"MPR", false, {"X", "N", "L", "H"}},
    {"MUI", false, {"X", "N", "P", "A"}},
    {"MVC", false, {"X", "H", "L", "N"}},
    {"MVI", false, {"X", "H", "L", "N"}},
    {"MVA", false, {"X", "H", "L", "N"}},
    {"MSC", false, {"X", "H", "L", "N"}},
    {"MSI", false, {"X", "S", "H", "L", "N"}},
    {"MSA", false, {"X", "S", "H", "L", "N"}},
    {"S", false, {"X", "N", "P"}},
    {"AU", false, {"X", "N", "Y"}},
    {"R", false, {"X", "A", "U", "I"}},
    {"V", false, {"X", "D", "C"}},
    {"RE", false, {"X", "L", "M", "H"}},
    {"U", false, {"X", "Clear", "Green", "Amber", "Red"}},
};

#define N_METRICS(t) (sizeof(t) / sizeof((t)[0]))
#define MAX_METRICS N_METRICS(v4_metrics)

enum cvss_version { CVSS_30, CVSS_31, CVSS_40 };

/* A parsed vector: for each metric of its version, 1 + the index of its value, or 0 when the
 * vector does not name it. */
struct parsed {
    enum cvss_version version;
    unsigned char val[MAX_METRICS];
};

/* ---- parsing ------------------------------------------------------------------------------ */

/* Writes s into out (size n) for an error message: at most 24 bytes, anything but printable
 * ASCII as \xNN, "..." when cut. The input may be any bytes; the message stays readable. */
static const char *shown(struct rp_str s, char *out, size_t n)
{
    size_t o = 0, i;
    for (i = 0; i < s.len && i < 24; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        int w = (c >= 0x20 && c < 0x7f && c != '\\') ? snprintf(out + o, n - o, "%c", c)
                                                     : snprintf(out + o, n - o, "\\x%02x", c);
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
    if (i < s.len && o + 4 <= n)
        memcpy(out + o, "...", 4);
    else if (o < n)
        out[o] = '\0';
    return out;
}

static bool str_is(struct rp_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* The allowed values of m as "N, A, L, P" for an error message. */
static const char *value_list(const struct metric *m, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; m->values[i] && o < n; i++) {
        int w = snprintf(out + o, n - o, "%s%s", i ? ", " : "", m->values[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return out;
}

/* Reads the metrics of a vector after its "CVSS:x.y/" prefix into p. Metrics may come in any
 * order: the specifications list them in a fixed order, but real advisories do not always
 * follow it, and the order carries no meaning. */
static int parse_metrics(struct rp_str rest, const struct metric *table, size_t n, struct parsed *p,
                         const char *version, struct rp_error *err)
{
    char a[128], b[128];
    const char *s = rest.ptr, *end = rest.ptr + rest.len;
    for (;;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *stop = slash ? slash : end;
        struct rp_str item = {s, (size_t)(stop - s)};
        if (item.len == 0) {
            rp_error_set(err,
                         slash || s != rest.ptr ? "empty metric in CVSS %s vector (a '/' too many)"
                                                : "CVSS %s vector without metrics",
                         version);
            return RP_EINVAL;
        }
        const char *colon = memchr(item.ptr, ':', item.len);
        if (!colon) {
            rp_error_set(err, "'%s' is not METRIC:VALUE", shown(item, a, sizeof(a)));
            return RP_EINVAL;
        }
        struct rp_str name = {item.ptr, (size_t)(colon - item.ptr)};
        struct rp_str value = {colon + 1, (size_t)(stop - colon - 1)};
        size_t m = 0;
        while (m < n && !str_is(name, table[m].name))
            m++;
        if (m == n) {
            rp_error_set(err, "unknown metric '%s' in CVSS %s vector", shown(name, a, sizeof(a)),
                         version);
            return RP_EINVAL;
        }
        if (p->val[m]) {
            rp_error_set(err, "metric '%s' given twice", table[m].name);
            return RP_EINVAL;
        }
        size_t v = 0;
        while (table[m].values[v] && !str_is(value, table[m].values[v]))
            v++;
        if (!table[m].values[v]) {
            rp_error_set(err, "bad value '%s' for metric '%s' (one of %s)",
                         shown(value, a, sizeof(a)), table[m].name,
                         value_list(&table[m], b, sizeof(b)));
            return RP_EINVAL;
        }
        p->val[m] = (unsigned char)(v + 1);
        if (!slash)
            break;
        s = slash + 1;
    }
    for (size_t m = 0; m < n; m++)
        if (table[m].base && !p->val[m]) {
            rp_error_set(err, "missing base metric '%s' in CVSS %s vector", table[m].name, version);
            return RP_EINVAL;
        }
    return RP_OK;
}

static int parse(struct rp_str vector, struct parsed *p, struct rp_error *err)
{
    char a[128];
    memset(p, 0, sizeof(*p));
    if (!vector.ptr)
        vector = (struct rp_str){"", 0};
    if (!rp_str_has_prefix(vector, "CVSS:")) {
        /* CVSS v2 vectors carry no prefix; say so rather than "not a vector". */
        if (rp_str_has_prefix(vector, "AV:") && memmem(vector.ptr, vector.len, "/Au:", 4))
            rp_error_set(err, "CVSS v2 vectors are not supported (only CVSS:3.0, 3.1 and 4.0)");
        else
            rp_error_set(err,
                         "'%s' is not a CVSS vector (it should start with 'CVSS:3.1/' or "
                         "'CVSS:4.0/')",
                         shown(vector, a, sizeof(a)));
        return RP_EINVAL;
    }
    struct rp_str after = {vector.ptr + 5, vector.len - 5};
    const char *slash = memchr(after.ptr, '/', after.len);
    struct rp_str ver = {after.ptr, slash ? (size_t)(slash - after.ptr) : after.len};
    if (str_is(ver, "3.0"))
        p->version = CVSS_30;
    else if (str_is(ver, "3.1"))
        p->version = CVSS_31;
    else if (str_is(ver, "4.0"))
        p->version = CVSS_40;
    else {
        rp_error_set(err, "unsupported CVSS version '%s' (only 3.0, 3.1 and 4.0)",
                     shown(ver, a, sizeof(a)));
        return RP_EINVAL;
    }
    const char *name = p->version == CVSS_40 ? "4.0" : p->version == CVSS_31 ? "3.1" : "3.0";
    if (!slash) {
        rp_error_set(err, "CVSS %s vector without metrics", name);
        return RP_EINVAL;
    }
    struct rp_str rest = {slash + 1, (size_t)(vector.ptr + vector.len - slash - 1)};
    if (p->version == CVSS_40)
        return parse_metrics(rest, v4_metrics, N_METRICS(v4_metrics), p, name, err);
    return parse_metrics(rest, v3_metrics, N_METRICS(v3_metrics), p, name, err);
}

/* ---- CVSS v3.0 and v3.1 ------------------------------------------------------------------- */

/* JavaScript's Math.round for the non-negative values scoring produces: the nearest integer,
 * halves up. The reference calculators are JavaScript and scores must match them to the bit. */
static double js_round(double x)
{
    double r = ceil(x);
    if (r - 0.5 > x)
        r -= 1.0;
    return r;
}

/* v3.1's Roundup (specification Appendix A): rounds up to one decimal through an integer of
 * 1e-5 steps, so that 4.000000000000001, a floating-point artefact of 4.0, stays 4.0. */
double rp__cvss_roundup_31(double x)
{
    long long i = (long long)js_round(x * 100000.0);
    if (i % 10000 == 0)
        return (double)i / 100000.0;
    return (double)(i / 10000 + 1) / 10.0;
}

/* v3.0's Round up (its base equations): the smallest one-decimal number not below x,
 * computed as the v3.0 reference calculator does. */
double rp__cvss_roundup_30(double x)
{
    return ceil(x * 10.0) / 10.0;
}

/* The base score of the v3.1 specification's section 7.1 (v3.0's equations are the same but
 * for rounding), in the reference calculators' order of operations. */
static double score_v3(const struct parsed *p)
{
    static const double av_w[] = {0.85, 0.62, 0.55, 0.2}; /* N A L P */
    static const double ac_w[] = {0.77, 0.44};            /* L H */
    static const double pr_u[] = {0.85, 0.62, 0.27};      /* N L H, scope unchanged */
    static const double pr_c[] = {0.85, 0.68, 0.5};       /* N L H, scope changed */
    static const double ui_w[] = {0.85, 0.62};            /* N R */
    static const double cia_w[] = {0.56, 0.22, 0.0};      /* H L N */
    bool changed = p->val[V3_S] == 2;
    double av = av_w[p->val[V3_AV] - 1], ac = ac_w[p->val[V3_AC] - 1];
    double pr = changed ? pr_c[p->val[V3_PR] - 1] : pr_u[p->val[V3_PR] - 1];
    double ui = ui_w[p->val[V3_UI] - 1];
    double c = cia_w[p->val[V3_C] - 1], i = cia_w[p->val[V3_I] - 1], a = cia_w[p->val[V3_A] - 1];

    double exploitability = 8.22 * av * ac * pr * ui;
    double iss = 1 - ((1 - c) * (1 - i) * (1 - a));
    double impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss;
    if (impact <= 0)
        return 0.0;
    double raw =
        changed ? fmin(1.08 * (impact + exploitability), 10) : fmin(impact + exploitability, 10);
    return p->version == CVSS_31 ? rp__cvss_roundup_31(raw) : rp__cvss_roundup_30(raw);
}

/* ---- CVSS v4.0 ---------------------------------------------------------------------------- */

/* Scores of the macrovectors, keyed by their EQ1..EQ6 levels: normative data of CVSS v4.0, the
 * lookup table of FIRST's reference calculator (cvss_lookup.js, CVSS40.LOOKUP_TABLE in
 * cvss40.js of github.com/RedHatProductSecurity/cvss-v4-calculator, the code behind
 * first.org/cvss/calculator/4.0). Sorted by key; the 54 combinations that cannot occur (EQ3
 * level 2 with EQ6 level 0) are absent, as there. */
static const struct {
    char eq[7];
    double score;
} macro_scores[] = {
    {"000000", 10.0}, {"000001", 9.9},  {"000010", 9.8}, {"000011", 9.5}, {"000020", 9.5},
    {"000021", 9.2},  {"000100", 10.0}, {"000101", 9.6}, {"000110", 9.3}, {"000111", 8.7},
    {"000120", 9.1},  {"000121", 8.1},  {"000200", 9.3}, {"000201", 9.0}, {"000210", 8.9},
    {"000211", 8.0},  {"000220", 8.1},  {"000221", 6.8}, {"001000", 9.8}, {"001001", 9.5},
    {"001010", 9.5},  {"001011", 9.2},  {"001020", 9.0}, {"001021", 8.4}, {"001100", 9.3},
    {"001101", 9.2},  {"001110", 8.9},  {"001111", 8.1}, {"001120", 8.1}, {"001121", 6.5},
    {"001200", 8.8},  {"001201", 8.0},  {"001210", 7.8}, {"001211", 7.0}, {"001220", 6.9},
    {"001221", 4.8},  {"002001", 9.2},  {"002011", 8.2}, {"002021", 7.2}, {"002101", 7.9},
    {"002111", 6.9},  {"002121", 5.0},  {"002201", 6.9}, {"002211", 5.5}, {"002221", 2.7},
    {"010000", 9.9},  {"010001", 9.7},  {"010010", 9.5}, {"010011", 9.2}, {"010020", 9.2},
    {"010021", 8.5},  {"010100", 9.5},  {"010101", 9.1}, {"010110", 9.0}, {"010111", 8.3},
    {"010120", 8.4},  {"010121", 7.1},  {"010200", 9.2}, {"010201", 8.1}, {"010210", 8.2},
    {"010211", 7.1},  {"010220", 7.2},  {"010221", 5.3}, {"011000", 9.5}, {"011001", 9.3},
    {"011010", 9.2},  {"011011", 8.5},  {"011020", 8.5}, {"011021", 7.3}, {"011100", 9.2},
    {"011101", 8.2},  {"011110", 8.0},  {"011111", 7.2}, {"011120", 7.0}, {"011121", 5.9},
    {"011200", 8.4},  {"011201", 7.0},  {"011210", 7.1}, {"011211", 5.2}, {"011220", 5.0},
    {"011221", 3.0},  {"012001", 8.6},  {"012011", 7.5}, {"012021", 5.2}, {"012101", 7.1},
    {"012111", 5.2},  {"012121", 2.9},  {"012201", 6.3}, {"012211", 2.9}, {"012221", 1.7},
    {"100000", 9.8},  {"100001", 9.5},  {"100010", 9.4}, {"100011", 8.7}, {"100020", 9.1},
    {"100021", 8.1},  {"100100", 9.4},  {"100101", 8.9}, {"100110", 8.6}, {"100111", 7.4},
    {"100120", 7.7},  {"100121", 6.4},  {"100200", 8.7}, {"100201", 7.5}, {"100210", 7.4},
    {"100211", 6.3},  {"100220", 6.3},  {"100221", 4.9}, {"101000", 9.4}, {"101001", 8.9},
    {"101010", 8.8},  {"101011", 7.7},  {"101020", 7.6}, {"101021", 6.7}, {"101100", 8.6},
    {"101101", 7.6},  {"101110", 7.4},  {"101111", 5.8}, {"101120", 5.9}, {"101121", 5.0},
    {"101200", 7.2},  {"101201", 5.7},  {"101210", 5.7}, {"101211", 5.2}, {"101220", 5.2},
    {"101221", 2.5},  {"102001", 8.3},  {"102011", 7.0}, {"102021", 5.4}, {"102101", 6.5},
    {"102111", 5.8},  {"102121", 2.6},  {"102201", 5.3}, {"102211", 2.1}, {"102221", 1.3},
    {"110000", 9.5},  {"110001", 9.0},  {"110010", 8.8}, {"110011", 7.6}, {"110020", 7.6},
    {"110021", 7.0},  {"110100", 9.0},  {"110101", 7.7}, {"110110", 7.5}, {"110111", 6.2},
    {"110120", 6.1},  {"110121", 5.3},  {"110200", 7.7}, {"110201", 6.6}, {"110210", 6.8},
    {"110211", 5.9},  {"110220", 5.2},  {"110221", 3.0}, {"111000", 8.9}, {"111001", 7.8},
    {"111010", 7.6},  {"111011", 6.7},  {"111020", 6.2}, {"111021", 5.8}, {"111100", 7.4},
    {"111101", 5.9},  {"111110", 5.7},  {"111111", 5.7}, {"111120", 4.7}, {"111121", 2.3},
    {"111200", 6.1},  {"111201", 5.2},  {"111210", 5.7}, {"111211", 2.9}, {"111220", 2.4},
    {"111221", 1.6},  {"112001", 7.1},  {"112011", 5.9}, {"112021", 3.0}, {"112101", 5.8},
    {"112111", 2.6},  {"112121", 1.5},  {"112201", 2.3}, {"112211", 1.3}, {"112221", 0.6},
    {"200000", 9.3},  {"200001", 8.7},  {"200010", 8.6}, {"200011", 7.2}, {"200020", 7.5},
    {"200021", 5.8},  {"200100", 8.6},  {"200101", 7.4}, {"200110", 7.4}, {"200111", 6.1},
    {"200120", 5.6},  {"200121", 3.4},  {"200200", 7.0}, {"200201", 5.4}, {"200210", 5.2},
    {"200211", 4.0},  {"200220", 4.0},  {"200221", 2.2}, {"201000", 8.5}, {"201001", 7.5},
    {"201010", 7.4},  {"201011", 5.5},  {"201020", 6.2}, {"201021", 5.1}, {"201100", 7.2},
    {"201101", 5.7},  {"201110", 5.5},  {"201111", 4.1}, {"201120", 4.6}, {"201121", 1.9},
    {"201200", 5.3},  {"201201", 3.6},  {"201210", 3.4}, {"201211", 1.9}, {"201220", 1.9},
    {"201221", 0.8},  {"202001", 6.4},  {"202011", 5.1}, {"202021", 2.0}, {"202101", 4.7},
    {"202111", 2.1},  {"202121", 1.1},  {"202201", 2.4}, {"202211", 0.9}, {"202221", 0.4},
    {"210000", 8.8},  {"210001", 7.5},  {"210010", 7.3}, {"210011", 5.3}, {"210020", 6.0},
    {"210021", 5.0},  {"210100", 7.3},  {"210101", 5.5}, {"210110", 5.9}, {"210111", 4.0},
    {"210120", 4.1},  {"210121", 2.0},  {"210200", 5.4}, {"210201", 4.3}, {"210210", 4.5},
    {"210211", 2.2},  {"210220", 2.0},  {"210221", 1.1}, {"211000", 7.5}, {"211001", 5.5},
    {"211010", 5.8},  {"211011", 4.5},  {"211020", 4.0}, {"211021", 2.1}, {"211100", 6.1},
    {"211101", 5.1},  {"211110", 4.8},  {"211111", 1.8}, {"211120", 2.0}, {"211121", 0.9},
    {"211200", 4.6},  {"211201", 1.8},  {"211210", 1.7}, {"211211", 0.7}, {"211220", 0.8},
    {"211221", 0.2},  {"212001", 5.3},  {"212011", 2.4}, {"212021", 1.4}, {"212101", 2.4},
    {"212111", 1.2},  {"212121", 0.5},  {"212201", 1.0}, {"212211", 0.3}, {"212221", 0.1},
};

/* The score of the macrovector of levels eq[0..5], or NAN when the table has none (the level
 * is past the last of its EQ, or the combination cannot occur). */
static double macro_score(const int eq[6])
{
    char key[7];
    for (int k = 0; k < 6; k++) {
        if (eq[k] < 0 || eq[k] > 2)
            return NAN;
        key[k] = (char)('0' + eq[k]);
    }
    key[6] = '\0';
    size_t lo = 0, hi = N_METRICS(macro_scores);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(macro_scores[mid].eq, key);
        if (c == 0)
            return macro_scores[mid].score;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NAN;
}

/* The metrics that enter the severity distance, in the reference calculator's order, each with
 * its values from most to least severe and the severity level of each value
 * (CVSS40.METRIC_LEVELS). The levels are kept as the decimals the reference uses: sums of their
 * differences are what its scores are rounded from. */
enum {
    D_AV,
    D_PR,
    D_UI,
    D_AC,
    D_AT,
    D_VC,
    D_VI,
    D_VA,
    D_SC,
    D_SI,
    D_SA,
    D_CR,
    D_IR,
    D_AR,
    D_E,
    D_N
};
static const struct {
    const char *values;
    double level[4];
} levels[D_N] = {
    [D_AV] = {"NALP", {0.0, 0.1, 0.2, 0.3}},
    [D_PR] = {"NLH", {0.0, 0.1, 0.2}},
    [D_UI] = {"NPA", {0.0, 0.1, 0.2}},
    [D_AC] = {"LH", {0.0, 0.1}},
    [D_AT] = {"NP", {0.0, 0.1}},
    [D_VC] = {"HLN", {0.0, 0.1, 0.2}},
    [D_VI] = {"HLN", {0.0, 0.1, 0.2}},
    [D_VA] = {"HLN", {0.0, 0.1, 0.2}},
    [D_SC] = {"HLN", {0.1, 0.2, 0.3}},
    [D_SI] = {"SHLN", {0.0, 0.1, 0.2, 0.3}},
    [D_SA] = {"SHLN", {0.0, 0.1, 0.2, 0.3}},
    [D_CR] = {"HML", {0.0, 0.1, 0.2}},
    [D_IR] = {"HML", {0.0, 0.1, 0.2}},
    [D_AR] = {"HML", {0.0, 0.1, 0.2}},
    [D_E] = {"APU", {0.0, 0.1, 0.2}},
};

static double level_of(int d, char v)
{
    const char *at = strchr(levels[d].values, v);
    return RP_ALWAYS(at && v) ? levels[d].level[at - levels[d].values] : 0.0;
}

/* The highest-severity vectors of each EQ level (CVSS40.MAX_COMPOSED), as the values of the
 * EQ's metrics in order: EQ1 AV PR UI, EQ2 AC AT, EQ3 with EQ6 VC VI VA CR IR AR, EQ4 SC SI SA,
 * EQ5 E. NULL ends each list. */
static const char *const max_eq1[3][4] = {{"NNN"}, {"ANN", "NLN", "NNP"}, {"PNN", "ALP"}};
static const char *const max_eq2[2][3] = {{"LN"}, {"HN", "LP"}};
static const char *const max_eq36[3][2][6] = {
    {{"HHHHHH"}, {"HHLMMH", "HHHMMM"}},
    {{"LHHHHH", "HLHHHH"}, {"LHLHMH", "LHHHMM", "HLHMHM", "HLLMHH", "LLHHHM"}},
    {{NULL}, {"LLLHHH"}},
};
static const char *const max_eq4[3][2] = {{"HSS"}, {"HHH"}, {"LLL"}};
static const char *const max_eq5[3][2] = {{"A"}, {"P"}, {"U"}};

/* The depth of each EQ level in severity steps, plus one (CVSS40.MAX_SEVERITY). */
static const int depth_eq1[3] = {1, 4, 5};
static const int depth_eq2[2] = {1, 2};
static const int depth_eq36[3][2] = {{7, 6}, {8, 8}, {0, 10}};
static const int depth_eq4[3] = {6, 5, 4};

/* The score of a vector whose effective values are ev[D_*] (one letter each), by the algorithm
 * of the specification's section 8 (CVSS v4.0 Scoring) as FIRST's calculator implements it
 * (calculateScore in cvss40.js): the score of the vector's macrovector, lowered by the mean, over
 * the EQs, of the way from the macrovector's highest-severity vector towards the next lower
 * macrovector. */
static double score_v4_effective(const char ev[D_N])
{
    if (ev[D_VC] == 'N' && ev[D_VI] == 'N' && ev[D_VA] == 'N' && ev[D_SC] == 'N' &&
        ev[D_SI] == 'N' && ev[D_SA] == 'N')
        return 0.0;

    char av = ev[D_AV], pr = ev[D_PR], ui = ev[D_UI];
    char vc = ev[D_VC], vi = ev[D_VI], va = ev[D_VA];
    int eq[6];
    if (av == 'N' && pr == 'N' && ui == 'N')
        eq[0] = 0;
    else if ((av == 'N' || pr == 'N' || ui == 'N') && av != 'P')
        eq[0] = 1;
    else
        eq[0] = 2;
    eq[1] = ev[D_AC] == 'L' && ev[D_AT] == 'N' ? 0 : 1;
    if (vc == 'H' && vi == 'H')
        eq[2] = 0;
    else if (vc == 'H' || vi == 'H' || va == 'H')
        eq[2] = 1;
    else
        eq[2] = 2;
    if (ev[D_SI] == 'S' || ev[D_SA] == 'S')
        eq[3] = 0;
    else if (ev[D_SC] == 'H' || ev[D_SI] == 'H' || ev[D_SA] == 'H')
        eq[3] = 1;
    else
        eq[3] = 2;
    eq[4] = ev[D_E] == 'A' ? 0 : ev[D_E] == 'P' ? 1 : 2;
    eq[5] = (ev[D_CR] == 'H' && vc == 'H') || (ev[D_IR] == 'H' && vi == 'H') ||
                    (ev[D_AR] == 'H' && va == 'H')
                ? 0
                : 1;

    double value = macro_score(eq);
    if (RP_NEVER(isnan(value)))
        return 0.0;

    /* The next lower macrovector of each EQ; EQ3 and EQ6 move together, and from levels 0/0 the
     * higher scoring of the two ways down counts. */
    int lower[5][6];
    for (int k = 0; k < 5; k++)
        memcpy(lower[k], eq, sizeof(eq));
    lower[0][0]++;
    lower[1][1]++;
    lower[3][3]++;
    lower[4][4]++;
    double next36;
    if (eq[2] == 0 && eq[5] == 0) {
        int left[6], right[6];
        memcpy(left, eq, sizeof(eq));
        memcpy(right, eq, sizeof(eq));
        left[5]++;
        right[2]++;
        double l = macro_score(left), r = macro_score(right);
        /* Math.max of the reference yields NaN when either is missing (neither ever is). */
        next36 = isnan(l) || isnan(r) ? NAN : fmax(l, r);
    } else {
        if (eq[2] == 1 && eq[5] == 0)
            lower[2][5]++;
        else if (eq[2] == 2)
            lower[2][2]++, lower[2][5]++;
        else
            lower[2][2]++;
        next36 = macro_score(lower[2]);
    }
    double next[5] = {macro_score(lower[0]), macro_score(lower[1]), next36, macro_score(lower[3]),
                      macro_score(lower[4])};

    /* The first highest-severity vector, in the reference's order of combination, that the
     * vector does not exceed in any metric. */
    double dist[D_N] = {0};
    const char *const *l1 = max_eq1[eq[0]], *const *l2 = max_eq2[eq[1]];
    const char *const *l36 = max_eq36[eq[2]][eq[5]], *const *l4 = max_eq4[eq[3]];
    const char *const *l5 = max_eq5[eq[4]];
    bool found = false;
    for (size_t a = 0; l1[a] && !found; a++)
        for (size_t b = 0; l2[b] && !found; b++)
            for (size_t c = 0; l36[c] && !found; c++)
                for (size_t d = 0; l4[d] && !found; d++)
                    for (size_t e = 0; l5[e] && !found; e++) {
                        char mv[D_N] = {
                            [D_AV] = l1[a][0],  [D_PR] = l1[a][1],  [D_UI] = l1[a][2],
                            [D_AC] = l2[b][0],  [D_AT] = l2[b][1],  [D_VC] = l36[c][0],
                            [D_VI] = l36[c][1], [D_VA] = l36[c][2], [D_CR] = l36[c][3],
                            [D_IR] = l36[c][4], [D_AR] = l36[c][5], [D_SC] = l4[d][0],
                            [D_SI] = l4[d][1],  [D_SA] = l4[d][2],  [D_E] = l5[e][0],
                        };
                        found = true;
                        for (int m = 0; m < D_N; m++) {
                            dist[m] = level_of(m, ev[m]) - level_of(m, mv[m]);
                            if (dist[m] < 0)
                                found = false;
                        }
                    }

    double cur[4] = {
        dist[D_AV] + dist[D_PR] + dist[D_UI],
        dist[D_AC] + dist[D_AT],
        dist[D_VC] + dist[D_VI] + dist[D_VA] + dist[D_CR] + dist[D_IR] + dist[D_AR],
        dist[D_SC] + dist[D_SI] + dist[D_SA],
    };
    double depth[4] = {depth_eq1[eq[0]] * 0.1, depth_eq2[eq[1]] * 0.1,
                       depth_eq36[eq[2]][eq[5]] * 0.1, depth_eq4[eq[3]] * 0.1};
    double normalized[5] = {0};
    int existing = 0;
    for (int k = 0; k < 5; k++) {
        double available = value - next[k];
        if (isnan(available))
            continue;
        existing++;
        /* EQ5 has a single value per level: its proportion is always 0. */
        normalized[k] = k < 4 ? available * (cur[k] / depth[k]) : available * 0;
    }
    double mean = 0;
    if (existing)
        mean = (normalized[0] + normalized[1] + normalized[2] + normalized[3] + normalized[4]) /
               existing;
    double score = fmax(0, fmin(10, value - mean));
    /* Half up to one decimal, lifted by 1e-6 first: the interpolation above lands one ulp
     * below a tie like 8.55 for some vectors, and the reference (since its rounding fix of
     * 2024-11-01, the version FIRST's reference scores are generated with) lifts it so. */
    return js_round((score + 1e-6) * 10) / 10;
}

/* The CVSS-B score (specification section 1.3): base metrics only. Threat and environmental
 * metrics are scored as Not Defined whatever the vector says, which the specification resolves
 * to their worst case: Exploit Maturity Attacked, the security requirements High, and the
 * modified metrics the base values. */
static double score_v4(const struct parsed *p)
{
    static const int base_of[] = {
        [D_AV] = V4_AV, [D_PR] = V4_PR, [D_UI] = V4_UI, [D_AC] = V4_AC,
        [D_AT] = V4_AT, [D_VC] = V4_VC, [D_VI] = V4_VI, [D_VA] = V4_VA,
        [D_SC] = V4_SC, [D_SI] = V4_SI, [D_SA] = V4_SA,
    };
    char ev[D_N];
    for (int d = 0; d <= D_SA; d++) {
        const struct metric *m = &v4_metrics[base_of[d]];
        ev[d] = m->values[p->val[base_of[d]] - 1][0];
    }
    ev[D_CR] = ev[D_IR] = ev[D_AR] = 'H';
    ev[D_E] = 'A';
    return score_v4_effective(ev);
}

/* ---- public ------------------------------------------------------------------------------- */

int rp_cvss_base_score(struct rp_str vector, double *score, struct rp_error *err)
{
    struct parsed p;
    int result = parse(vector, &p, err);
    if (result)
        return result;
    *score = p.version == CVSS_40 ? score_v4(&p) : score_v3(&p);
    return RP_OK;
}

/* The rating scale of the specifications (v3.1 section 5, v4.0 section 6). Scores come in
 * tenths; between them the lower bound of each band decides. */
const char *rp_cvss_rating(double score)
{
    if (!(score > 0.0))
        return "none";
    if (score < 4.0)
        return "low";
    if (score < 7.0)
        return "medium";
    if (score < 9.0)
        return "high";
    return "critical";
}
