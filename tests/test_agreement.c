/* Agreement metrics: published worked examples (to 1e-3, each cited where it
 * is used), agreement between the forms of one statistic, the degenerate
 * cases, every validation error, and out-of-memory recovery.  Every expected
 * value was also recomputed independently (scikit-learn's
 * cohen_kappa_score, and a Python coincidence-matrix alpha) before it was
 * written here. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SENTINEL (-12345.0)

static void msg_has(const char *part)
{
    ck_assert_msg(strstr(hitl_error_message(), part) != NULL,
                  "message \"%s\" lacks \"%s\"", hitl_error_message(), part);
}

/* The whole message: a NULL argument is named alone. */
static void msg_is(const char *want)
{
    ck_assert_str_eq(hitl_error_message(), want);
}

/* Ratings as (item, rater, label) triples, built from small tables. */
typedef struct triples {
    size_t n;
    uint64_t item[512], rater[512];
    int32_t label[512];
} triples;

static void add(triples *t, uint64_t item, uint64_t rater, int32_t label)
{
    ck_assert_uint_lt(t->n, 512);
    t->item[t->n] = item;
    t->rater[t->n] = rater;
    t->label[t->n] = label;
    t->n++;
}

/* From an observers x units matrix with -1 for "no rating"; labels are
 * value - offset.  Item ids are 1000 + unit, rater ids 7 * (observer + 1),
 * so neither is an index. */
static void from_matrix(triples *t, const int *m, size_t observers,
                        size_t units, int offset)
{
    t->n = 0;
    for (size_t u = 0; u < units; u++)
        for (size_t o = 0; o < observers; o++)
            if (m[o * units + u] >= 0)
                add(t, 1000 + u, 7 * (o + 1), m[o * units + u] - offset);
}

/* From a Fleiss table: counts[u][c] raters put item u in class c.  Rater
 * ids restart on every item (Fleiss: the raters may differ by item). */
static void from_counts(triples *t, const uint32_t *counts, size_t items,
                        size_t classes)
{
    t->n = 0;
    for (size_t u = 0; u < items; u++) {
        uint64_t r = 0;
        for (size_t c = 0; c < classes; c++)
            for (uint32_t k = 0; k < counts[u * classes + c]; k++)
                add(t, 50 - u, r++, (int32_t)c);   /* ids in reverse order */
    }
}

/* The statistic of a set of triples, which must be defined. */
static double alpha_of(const triples *t, size_t n_classes)
{
    double a = SENTINEL;
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&a, t->item, t->rater,
                                                       t->label, t->n, n_classes),
                     HITL_OK);
    return a;
}

static double fleiss_of(const triples *t, size_t n_classes)
{
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t->item, t->rater, t->label,
                                                 t->n, n_classes), HITL_OK);
    return k;
}

/* ---- Cohen's kappa --------------------------------------------------------- */

/* Wikipedia, "Cohen's kappa", worked example: 50 proposals read by A and B;
 * 20 yes/yes, 5 A-yes/B-no, 10 A-no/B-yes, 15 no/no.  p_o = 0.7, p_e = 0.5,
 * kappa = 0.4. */
START_TEST(test_cohen_wikipedia)
{
    int32_t a[50], b[50];
    size_t i = 0;
    for (; i < 20; i++) a[i] = 1, b[i] = 1;
    for (; i < 25; i++) a[i] = 1, b[i] = 0;
    for (; i < 35; i++) a[i] = 0, b[i] = 1;
    for (; i < 50; i++) a[i] = 0, b[i] = 0;
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, 50, 2), HITL_OK);
    ck_assert_double_eq_tol(k, 0.4, 1e-12);
    /* Symmetric in the two annotators, and in the naming of classes. */
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, b, a, 50, 2), HITL_OK);
    ck_assert_double_eq_tol(k, 0.4, 1e-12);
    for (i = 0; i < 50; i++)
        a[i] = 2 * (1 - a[i]), b[i] = 2 * (1 - b[i]);
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, 50, 3), HITL_OK);
    ck_assert_double_eq_tol(k, 0.4, 1e-12);
}
END_TEST

/* A 3-class cross table [[0,4,1],[0,8,0],[0,1,5]] (rows: A's class, columns:
 * B's) whose SAS PROC FREQ printout, kappa = 0.4842, statsmodels' tests
 * quote (sklearn's cohen_kappa_score gives 0.484162895...). */
START_TEST(test_cohen_three_classes)
{
    static const int table[3][3] = { { 0, 4, 1 }, { 0, 8, 0 }, { 0, 1, 5 } };
    int32_t a[19], b[19];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < table[i][j]; k++)
                a[n] = i, b[n] = j, n++;
    ck_assert_uint_eq(n, 19);
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, n, 3), HITL_OK);
    ck_assert_double_eq_tol(k, 0.4842, 1e-4);
    ck_assert_double_eq_tol(k, 0.48416289592760176, 1e-12);
    /* An unused fourth class changes nothing. */
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, n, 4), HITL_OK);
    ck_assert_double_eq_tol(k, 0.48416289592760176, 1e-12);
}
END_TEST

START_TEST(test_cohen_extremes)
{
    int32_t a[4] = { 0, 1, 0, 1 }, b[4] = { 0, 1, 0, 1 }, c[4] = { 1, 0, 1, 0 };
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, 4, 2), HITL_OK);
    ck_assert_double_eq(k, 1.0);
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, c, 4, 2), HITL_OK);
    ck_assert_double_eq(k, -1.0);
    /* One annotator constant, the other not: p_e = p_o, kappa 0. */
    int32_t z[4] = { 0, 0, 0, 0 };
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, z, 4, 2), HITL_OK);
    ck_assert_double_eq_tol(k, 0.0, 1e-15);
    /* Both constant in the same class: undefined. */
    k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, z, z, 4, 2), HITL_ESTATE);
    msg_has("class 0");
    ck_assert_double_eq(k, SENTINEL);
    /* Both constant in different classes: p_e = 0, p_o = 0, kappa 0. */
    int32_t o[4] = { 1, 1, 1, 1 };
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, z, o, 4, 2), HITL_OK);
    ck_assert_double_eq(k, 0.0);
}
END_TEST

START_TEST(test_cohen_errors)
{
    int32_t a[3] = { 0, 1, 2 }, b[3] = { 0, 1, 3 };
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(NULL, a, a, 3, 3), HITL_EINVAL);
    msg_is("hitl_agreement_cohen_kappa: kappa is NULL");
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, NULL, a, 3, 3), HITL_EINVAL);
    msg_is("hitl_agreement_cohen_kappa: labels_a is NULL");
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, NULL, 3, 3), HITL_EINVAL);
    msg_is("hitl_agreement_cohen_kappa: labels_b is NULL");
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, a, 0, 3), HITL_EINVAL);
    msg_has("n is 0");
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, a, 3, 1), HITL_EINVAL);
    msg_has("n_classes is 1");
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, a, 3, 65537), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, a, b, 3, 3), HITL_EINVAL);
    msg_has("labels_b[2] is 3");
    b[2] = -1;
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&k, b, a, 3, 3), HITL_EINVAL);
    msg_has("labels_a[2] is -1");
    ck_assert_double_eq(k, SENTINEL);
}
END_TEST

/* ---- Fleiss' kappa ---------------------------------------------------------- */

/* Fleiss (1971), "Measuring nominal scale agreement among many raters",
 * Psychological Bulletin 76(5):378-382, Table 1: 30 patients, 6 of 43
 * psychiatrists each, 5 diagnoses (1 depression, 2 personality disorder,
 * 3 schizophrenia, 4 neurosis, 5 other); the paper's kappa = .430.  The
 * per-rating listing is R package irr's `diagnoses` data set of that table;
 * the class totals are 26, 26, 30, 55, 43 as in the paper's p_j. */
static const int diagnoses[30][6] = {
    { 4, 4, 4, 4, 4, 4 }, { 2, 2, 2, 5, 5, 5 }, { 2, 3, 3, 3, 3, 5 },
    { 5, 5, 5, 5, 5, 5 }, { 2, 2, 2, 4, 4, 4 }, { 1, 1, 3, 3, 3, 3 },
    { 3, 3, 3, 3, 5, 5 }, { 1, 1, 3, 3, 3, 4 }, { 1, 1, 4, 4, 4, 4 },
    { 5, 5, 5, 5, 5, 5 }, { 1, 4, 4, 4, 4, 4 }, { 1, 2, 4, 4, 4, 4 },
    { 2, 2, 2, 3, 3, 3 }, { 1, 4, 4, 4, 4, 4 }, { 2, 2, 4, 4, 4, 5 },
    { 3, 3, 3, 3, 3, 5 }, { 1, 1, 1, 4, 5, 5 }, { 1, 1, 1, 1, 1, 2 },
    { 2, 2, 4, 4, 4, 4 }, { 1, 3, 3, 5, 5, 5 }, { 5, 5, 5, 5, 5, 5 },
    { 2, 4, 4, 4, 4, 4 }, { 2, 2, 4, 5, 5, 5 }, { 1, 1, 4, 4, 4, 4 },
    { 1, 4, 4, 4, 4, 5 }, { 2, 2, 2, 2, 2, 4 }, { 1, 1, 1, 1, 5, 5 },
    { 2, 2, 4, 4, 4, 4 }, { 1, 3, 3, 3, 3, 3 }, { 5, 5, 5, 5, 5, 5 },
};

START_TEST(test_fleiss_1971)
{
    static triples t;
    uint32_t counts[30 * 5] = { 0 };
    uint32_t totals[5] = { 0 };
    t.n = 0;
    for (size_t u = 0; u < 30; u++)
        for (size_t r = 0; r < 6; r++) {
            int c = diagnoses[u][r] - 1;
            add(&t, 3 * u + 1, r, c);
            counts[u * 5 + (size_t)c]++;
            totals[c]++;
        }
    ck_assert_uint_eq(totals[0], 26);
    ck_assert_uint_eq(totals[3], 55);
    ck_assert_uint_eq(totals[4], 43);
    double k = fleiss_of(&t, 5);
    ck_assert_double_eq_tol(k, 0.430, 1e-3);
    ck_assert_double_eq_tol(k, 0.43024452006014074, 1e-12);
    double kc = SENTINEL;
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&kc, counts, 30, 5),
                     HITL_OK);
    ck_assert_double_eq_tol(kc, k, 1e-14);
}
END_TEST

/* Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters,
 * 5 categories; P = 0.378, P_e = 0.213, kappa = 0.210. */
static const uint32_t wiki_fleiss[10 * 5] = {
    0, 0, 0, 0, 14,
    0, 2, 6, 4, 2,
    0, 0, 3, 5, 6,
    0, 3, 9, 2, 0,
    2, 2, 8, 1, 1,
    7, 7, 0, 0, 0,
    3, 2, 6, 3, 0,
    2, 5, 3, 2, 2,
    6, 5, 2, 1, 0,
    0, 2, 2, 3, 7,
};

START_TEST(test_fleiss_wikipedia)
{
    double k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, wiki_fleiss, 10, 5),
                     HITL_OK);
    ck_assert_double_eq_tol(k, 0.210, 1e-3);
    ck_assert_double_eq_tol(k, 0.20993070442195522, 1e-12);
    static triples t;
    from_counts(&t, wiki_fleiss, 10, 5);
    ck_assert_uint_eq(t.n, 140);
    double kt = fleiss_of(&t, 5);
    ck_assert_double_eq_tol(kt, k, 1e-14);
}
END_TEST

/* With two raters on every item, Fleiss' kappa is Scott's pi; on the
 * Wikipedia Cohen example p_o = 0.7 and the pooled marginals (55, 45)/100
 * give P_e = 0.505, pi = 0.195/0.495. */
START_TEST(test_fleiss_two_raters_is_scott)
{
    static triples t;
    t.n = 0;
    for (uint64_t i = 0; i < 50; i++) {
        int a = i < 25, b = i < 20 || (i >= 25 && i < 35);
        add(&t, i, 1, a);
        add(&t, i, 2, b);
    }
    double k = fleiss_of(&t, 2);
    ck_assert_double_eq_tol(k, 0.195 / 0.495, 1e-12);
}
END_TEST

START_TEST(test_fleiss_errors)
{
    static triples t;
    double k = SENTINEL;
    /* Items with 3 and 2 ratings. */
    t.n = 0;
    add(&t, 5, 1, 0); add(&t, 5, 2, 1); add(&t, 5, 3, 1);
    add(&t, 9, 1, 0); add(&t, 9, 2, 0);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 2), HITL_EINVAL);
    msg_has("item 9 has 2 ratings");
    msg_has("has 3");
    /* One rating per item. */
    t.n = 0;
    add(&t, 5, 1, 0); add(&t, 6, 1, 1);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 2), HITL_EINVAL);
    msg_has("at least two raters");
    /* A rater twice on one item. */
    t.n = 0;
    add(&t, 5, 1, 0); add(&t, 5, 2, 1); add(&t, 6, 1, 1); add(&t, 5, 1, 1);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 2), HITL_EINVAL);
    msg_has("ratings 0 and 3 are both by rater 1 on item 5");
    /* Every rating in one class. */
    t.n = 0;
    add(&t, 5, 1, 1); add(&t, 5, 2, 1); add(&t, 6, 1, 1); add(&t, 6, 2, 1);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 3), HITL_ESTATE);
    msg_has("every rating is class 1");
    /* Arguments. */
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(NULL, t.item, t.rater, t.label,
                                                 t.n, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, NULL, t.rater, t.label,
                                                 t.n, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, NULL, t.label,
                                                 t.n, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, NULL,
                                                 t.n, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 0, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 0), HITL_EINVAL);
    t.label[2] = 3;
    ck_assert_int_eq(hitl_agreement_fleiss_kappa(&k, t.item, t.rater, t.label,
                                                 t.n, 3), HITL_EINVAL);
    msg_has("label[2] is 3");
    ck_assert_double_eq(k, SENTINEL);

    /* The table form. */
    uint32_t c[6] = { 2, 1, 0, 1, 1, 0 };
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c, 2, 3), HITL_EINVAL);
    msg_has("counts row 1 sums to 2 but row 0 sums to 3");
    uint32_t c1[4] = { 1, 0, 0, 1 };
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c1, 2, 2), HITL_EINVAL);
    msg_has("at least two raters");
    uint32_t c2[4] = { 0, 2, 0, 2 };
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c2, 2, 2), HITL_ESTATE);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(NULL, c2, 2, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, NULL, 2, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c2, 0, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c2, 2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, c2, SIZE_MAX / 2, 3),
                     HITL_EINVAL);
    msg_has("overflows");
    ck_assert_double_eq(k, SENTINEL);
}
END_TEST

/* ---- Krippendorff's alpha --------------------------------------------------- */

/* Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
 * section C, "Nominal data, any number of observers, missing values":
 * 4 observers, 12 units, values 1..5, -1 = missing; alpha = 0.743.  Unit 12
 * has a single value and is not pairable. */
static const int kripp_c[4 * 12] = {
    1, 2, 3, 3, 2, 1, 4, 1, 2, -1, -1, -1,
    1, 2, 3, 3, 2, 2, 4, 1, 2, 5, -1, -1,
    -1, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3,
    1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, -1,
};

START_TEST(test_kripp_nominal_missing)
{
    static triples t;
    from_matrix(&t, kripp_c, 4, 12, 1);
    double a = alpha_of(&t, 5);
    ck_assert_double_eq_tol(a, 0.743, 1e-3);
    ck_assert_double_eq_tol(a, 0.743421052631579, 1e-12);
    /* Order of the triples does not matter. */
    static triples r;
    r.n = 0;
    for (size_t i = t.n; i-- > 0;)
        add(&r, t.item[i], t.rater[i], t.label[i]);
    double b = alpha_of(&r, 5);
    ck_assert_double_eq_tol(b, a, 1e-14);
    /* More single-rated items change nothing. */
    add(&r, 77, 1, 0);
    add(&r, 78, 2, 4);
    b = alpha_of(&r, 5);
    ck_assert_double_eq_tol(b, a, 1e-14);
}
END_TEST

/* The same paper, section A, "Binary or dichotomous data, two observers, no
 * missing data": 10 units, alpha = 0.095. */
START_TEST(test_kripp_binary)
{
    static const int m[2 * 10] = {
        0, 1, 0, 0, 0, 0, 0, 0, 1, 0,
        1, 1, 1, 0, 0, 1, 0, 0, 0, 0,
    };
    static triples t;
    from_matrix(&t, m, 2, 10, 0);
    double a = alpha_of(&t, 2);
    ck_assert_double_eq_tol(a, 0.095, 1e-3);
}
END_TEST

/* Section B, "Nominal data, two observers, no missing data": 12 units,
 * values a..e; alpha = 0.692. */
START_TEST(test_kripp_nominal_two)
{
    static const char *obs[2] = { "aabbdcccedda", "babbbccceddd" };
    static triples t;
    t.n = 0;
    for (size_t o = 0; o < 2; o++)
        for (size_t u = 0; u < 12; u++)
            add(&t, u, o, obs[o][u] - 'a');
    double a = alpha_of(&t, 5);
    ck_assert_double_eq_tol(a, 0.692, 1e-3);
}
END_TEST

/* With the same m raters on every item, alpha = (1 - 1/(N m)) kappa_Fleiss +
 * 1/(N m) (both use pooled marginals; alpha's expected disagreement carries
 * the small-sample factor n/(n-1)).  Checked on Fleiss' table. */
START_TEST(test_kripp_vs_fleiss)
{
    static triples t;
    from_counts(&t, wiki_fleiss, 10, 5);
    double a = alpha_of(&t, 5), k = SENTINEL;
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&k, wiki_fleiss, 10, 5),
                     HITL_OK);
    double nm = 140;
    ck_assert_double_eq_tol(a, (1 - 1 / nm) * k + 1 / nm, 1e-12);
}
END_TEST

START_TEST(test_kripp_errors)
{
    static triples t;
    double a = SENTINEL;
    t.n = 0;
    add(&t, 1, 1, 0); add(&t, 2, 1, 1); add(&t, 3, 2, 1);
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&a, t.item, t.rater,
                                                       t.label, t.n, 2), HITL_ESTATE);
    msg_has("no item has two or more ratings");
    /* Pairable ratings all in one class (the single-rated item differs). */
    add(&t, 2, 3, 1);
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&a, t.item, t.rater,
                                                       t.label, t.n, 2), HITL_ESTATE);
    msg_has("every pairable rating is class 1");
    add(&t, 1, 2, 0);
    ck_assert_double_eq(alpha_of(&t, 2), 1.0);
    add(&t, 1, 2, 1);
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&a, t.item, t.rater,
                                                       t.label, t.n, 2), HITL_EINVAL);
    msg_has("both by rater 2 on item 1");
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(NULL, t.item, t.rater,
                                                       t.label, t.n, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&a, t.item, t.rater,
                                                       t.label, 0, 2), HITL_EINVAL);
    ck_assert_double_eq(a, SENTINEL);
}
END_TEST

/* ---- accuracy ------------------------------------------------------------------ */

START_TEST(test_accuracy)
{
    /* Gold: items 10, 11, 12, 13 are classes 0, 1, 2, 1. */
    const uint64_t gi[4] = { 13, 10, 12, 11 };
    const int32_t gl[4] = { 1, 0, 2, 1 };
    static triples t;
    t.n = 0;
    /* Annotator 100: right on 10, 11, 12, wrong on 13; item 99 not gold. */
    add(&t, 10, 100, 0); add(&t, 11, 100, 1); add(&t, 12, 100, 2);
    add(&t, 13, 100, 0); add(&t, 99, 100, 2);
    /* Annotator 200: right on 10, wrong on 11. */
    add(&t, 11, 200, 2); add(&t, 10, 200, 0);
    /* Annotator 300 rates only a non-gold item; 400 is not asked about. */
    add(&t, 99, 300, 1); add(&t, 12, 400, 0);
    const uint64_t who[3] = { 300, 200, 100 };
    double acc[3] = { SENTINEL, SENTINEL, SENTINEL };
    size_t scored[3] = { 9, 9, 9 };
    ck_assert_int_eq(hitl_agreement_accuracy(acc, scored, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_OK);
    ck_assert(isnan(acc[0]));
    ck_assert_uint_eq(scored[0], 0);
    ck_assert_double_eq(acc[1], 0.5);
    ck_assert_uint_eq(scored[1], 2);
    ck_assert_double_eq(acc[2], 0.75);
    ck_assert_uint_eq(scored[2], 4);
    /* n_scored may be NULL. */
    ck_assert_int_eq(hitl_agreement_accuracy(acc, NULL, who + 1, 1, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_OK);
    ck_assert_double_eq(acc[0], 0.5);

    /* Errors leave the outputs alone. */
    double keep[3] = { SENTINEL, SENTINEL, SENTINEL };
    size_t ks[3] = { 9, 9, 9 };
    const uint64_t twice[2] = { 100, 100 };
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, twice, 2, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    msg_has("annotators[0] and annotators[1] are both 100");
    const uint64_t gdup[2] = { 10, 10 };
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gdup, gl, 2, 3), HITL_EINVAL);
    msg_has("ref_item[0] and ref_item[1] are both 10");
    const int32_t gbad[4] = { 1, 0, 3, 1 };
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, gbad, 4, 3), HITL_EINVAL);
    msg_has("ref_label[2] is 3");
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 0, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, gl, 0, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(NULL, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, NULL, 3, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, NULL, gl, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, NULL, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, NULL, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, 0, gi, gl, 4, 3), HITL_EINVAL);
    add(&t, 10, 100, 1);
    ck_assert_int_eq(hitl_agreement_accuracy(keep, ks, who, 3, t.item, t.rater,
                                             t.label, t.n, gi, gl, 4, 3), HITL_EINVAL);
    msg_has("ratings 0 and 9 are both by rater 100 on item 10");
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(keep[i], SENTINEL);
        ck_assert_uint_eq(ks[i], 9);
    }
}
END_TEST

/* ---- out of memory ----------------------------------------------------------- */

/* Run `call` with allocation fail_at = 0, 1, ... failing until it succeeds;
 * every failure is HITL_ENOMEM with the output untouched, and the final
 * figure equals the one computed without failures. */
#define OOM_LOOP(out, expect, call)                                         \
    do {                                                                    \
        oom_install();                                                      \
        long fail_at = 0;                                                   \
        for (;; fail_at++) {                                                \
            (out) = SENTINEL;                                               \
            oom_arm(fail_at);                                               \
            int rc_ = (call);                                               \
            oom_arm(-1);                                                    \
            if (rc_ == HITL_OK)                                             \
                break;                                                      \
            ck_assert_int_eq(rc_, HITL_ENOMEM);                             \
            ck_assert_double_eq((out), SENTINEL);                           \
            msg_has("no memory");                                           \
        }                                                                   \
        oom_uninstall();                                                    \
        ck_assert_int_gt(fail_at, 0);                                       \
        ck_assert_double_eq_tol((out), (expect), 1e-14);                    \
    } while (0)

START_TEST(test_oom)
{
    static triples t;
    from_matrix(&t, kripp_c, 4, 12, 1);
    double a, ref = alpha_of(&t, 5);
    OOM_LOOP(a, ref, hitl_agreement_krippendorff_alpha(&a, t.item, t.rater,
                                                       t.label, t.n, 5));
    from_counts(&t, wiki_fleiss, 10, 5);
    ref = fleiss_of(&t, 5);
    OOM_LOOP(a, ref, hitl_agreement_fleiss_kappa(&a, t.item, t.rater, t.label,
                                                 t.n, 5));
    OOM_LOOP(a, ref, hitl_agreement_fleiss_kappa_counts(&a, wiki_fleiss, 10, 5));
    int32_t x[4] = { 0, 1, 1, 2 }, y[4] = { 0, 1, 2, 2 };
    ck_assert_int_eq(hitl_agreement_cohen_kappa(&ref, x, y, 4, 3), HITL_OK);
    OOM_LOOP(a, ref, hitl_agreement_cohen_kappa(&a, x, y, 4, 3));
    const uint64_t gi[2] = { 45, 44 }, who[2] = { 0, 5 };
    const int32_t gl[2] = { 0, 3 };
    double acc[2];
    ck_assert_int_eq(hitl_agreement_accuracy(acc, NULL, who, 2, t.item, t.rater,
                                             t.label, t.n, gi, gl, 2, 5), HITL_OK);
    ref = acc[0];
    OOM_LOOP(acc[0], ref, hitl_agreement_accuracy(acc, NULL, who, 2, t.item,
                                                  t.rater, t.label, t.n, gi,
                                                  gl, 2, 5));
}
END_TEST

/* Counts no array can have are refused before anything is read (the
 * arrays here hold one entry). */
START_TEST(test_counts_that_cannot_fit)
{
    uint64_t item[1] = {1}, rater[1] = {1}, who[1] = {1};
    int32_t label[1] = {0};
    uint32_t counts[2] = {1, 1};
    double v;
    const size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 4 + 1};   /* > int32s */
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        ck_assert_int_eq(hitl_agreement_fleiss_kappa(&v, item, rater, label, n, 2),
                         HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_int_eq(hitl_agreement_krippendorff_alpha(&v, item, rater, label, n, 2),
                         HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_int_eq(hitl_agreement_cohen_kappa(&v, label, label, n, 2), HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_int_eq(hitl_agreement_accuracy(&v, NULL, who, 1, item, rater, label, n,
                                                 item, label, 1, 2), HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_int_eq(hitl_agreement_accuracy(&v, NULL, who, 1, item, rater, label, 1,
                                                 item, label, n, 2), HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_int_eq(hitl_agreement_accuracy(&v, NULL, who, n, item, rater, label, 1,
                                                 item, label, 1, 2), HITL_EINVAL);
        msg_has("do not fit in memory");
    }
    /* n_items x n_classes fits in size_t but not in bytes */
    ck_assert_int_eq(hitl_agreement_fleiss_kappa_counts(&v, counts, SIZE_MAX / 8 + 1, 2),
                     HITL_EINVAL);
    msg_has("do not fit in memory");
}
END_TEST

static Suite *agreement_suite(void)
{
    Suite *s = suite_create("agreement");
    TCase *tc = tcase_create("cohen");
    tcase_add_test(tc, test_cohen_wikipedia);
    tcase_add_test(tc, test_cohen_three_classes);
    tcase_add_test(tc, test_cohen_extremes);
    tcase_add_test(tc, test_cohen_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("fleiss");
    tcase_add_test(tc, test_fleiss_1971);
    tcase_add_test(tc, test_fleiss_wikipedia);
    tcase_add_test(tc, test_fleiss_two_raters_is_scott);
    tcase_add_test(tc, test_fleiss_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("krippendorff");
    tcase_add_test(tc, test_kripp_nominal_missing);
    tcase_add_test(tc, test_kripp_binary);
    tcase_add_test(tc, test_kripp_nominal_two);
    tcase_add_test(tc, test_kripp_vs_fleiss);
    tcase_add_test(tc, test_kripp_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("accuracy");
    tcase_add_test(tc, test_accuracy);
    tcase_add_test(tc, test_counts_that_cannot_fit);
    suite_add_tcase(s, tc);
    tc = tcase_create("oom");
    tcase_add_test(tc, test_oom);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(agreement_suite)
