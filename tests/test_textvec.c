/* The demo's hashing TF-IDF vectoriser (examples/textvec.c): tokens,
 * n-grams, weights, norms; and its rows in a sparse pool. */
#include "config.h"
#include "testutil.h"
#include "textvec.h"

#include <math.h>
#include <string.h>

#define BITS 18

/* Row i of m as (column, value) pairs, for comparing two rows. */
static int rows_equal(const tv_csr *a, size_t i, const tv_csr *b, size_t j)
{
    int32_t na = a->indptr[i + 1] - a->indptr[i], nb = b->indptr[j + 1] - b->indptr[j];
    if (na != nb)
        return 0;
    for (int32_t p = 0; p < na; p++)
        if (a->indices[a->indptr[i] + p] != b->indices[b->indptr[j] + p] ||
            fabsf(a->values[a->indptr[i] + p] - b->values[b->indptr[j] + p]) > 1e-6f)
            return 0;
    return 1;
}

static float value_at(const tv_csr *m, size_t i, int32_t col)
{
    for (int32_t p = m->indptr[i]; p < m->indptr[i + 1]; p++)
        if (m->indices[p] == col)
            return m->values[p];
    return 0;
}

START_TEST(test_tokens)
{
    /* Case, punctuation, one-letter words and HTML tags do not count. */
    const char *texts[] = {"Good FOOD, a treat!<br /><br />Tasty.", "good food treat tasty",
                           "", "x <p class=\"y\">"};
    tv_csr m;
    ck_assert_int_eq(tv_vectorize(&m, texts, 4, BITS), 0);
    ck_assert_uint_eq(m.dim, 1u << BITS);
    ck_assert(rows_equal(&m, 0, &m, 1));
    /* 4 unigrams + 3 bigrams, barring a collision among 2^18 columns. */
    ck_assert_int_eq(m.indptr[1] - m.indptr[0], 7);
    ck_assert_int_eq(m.indptr[3] - m.indptr[2], 0); /* empty text, empty row */
    ck_assert_int_eq(m.indptr[4] - m.indptr[3], 0); /* nothing but a tag */
    ck_assert_float_ne(value_at(&m, 0, tv_column("tasty", 5, BITS)), 0);
    ck_assert_int_eq(tv_column("TASTY", 5, BITS), tv_column("tasty", 5, BITS));
    tv_free(&m);
}
END_TEST

START_TEST(test_bigrams_keep_order)
{
    const char *texts[] = {"not good", "good not"};
    tv_csr m;
    ck_assert_int_eq(tv_vectorize(&m, texts, 2, BITS), 0);
    ck_assert_int_eq(m.indptr[1], 3);
    ck_assert_int_eq(m.indptr[2], 6);
    ck_assert(!rows_equal(&m, 0, &m, 1)); /* same words, other bigram */
    int shared = 0;
    for (int32_t p = 0; p < 3; p++)
        shared += value_at(&m, 1, m.indices[p]) != 0;
    ck_assert_int_eq(shared, 2);
    tv_free(&m);
}
END_TEST

/* Weights: count x (ln((1 + n) / (1 + df)) + 1), then unit norm. */
START_TEST(test_tfidf_weights)
{
    const char *texts[] = {"apple apple banana", "apple cherry", "plum"};
    tv_csr m;
    ck_assert_int_eq(tv_vectorize(&m, texts, 3, BITS), 0);
    double idf_apple = log(4.0 / 3.0) + 1, idf_rare = log(4.0 / 2.0) + 1;
    /* row 0: apple x2, banana, "apple apple", "apple banana" */
    double w[4] = {2 * idf_apple, idf_rare, idf_rare, idf_rare}, ss = 0;
    for (int k = 0; k < 4; k++)
        ss += w[k] * w[k];
    ck_assert_int_eq(m.indptr[1], 4);
    ck_assert_float_eq_tol(value_at(&m, 0, tv_column("apple", 5, BITS)), w[0] / sqrt(ss),
                           1e-6);
    ck_assert_float_eq_tol(value_at(&m, 0, tv_column("banana", 6, BITS)), w[1] / sqrt(ss),
                           1e-6);
    for (size_t i = 0; i < 3; i++) {
        double norm = 0;
        for (int32_t p = m.indptr[i]; p < m.indptr[i + 1]; p++) {
            norm += (double)m.values[p] * m.values[p];
            ck_assert_int_lt(m.indices[p], 1 << BITS);
            if (p > m.indptr[i])
                ck_assert_int_gt(m.indices[p], m.indices[p - 1]);
        }
        ck_assert_double_eq_tol(norm, 1, 1e-6);
    }
    tv_free(&m);
}
END_TEST

START_TEST(test_bad_bits)
{
    const char *texts[] = {"words"};
    tv_csr m;
    ck_assert_int_eq(tv_vectorize(&m, texts, 1, 0), -1);
    ck_assert_int_eq(tv_vectorize(&m, texts, 1, 31), -1);
    ck_assert_ptr_null(m.indptr);
}
END_TEST

/* The rows are what a sparse pool takes, as they are. */
START_TEST(test_rows_fill_a_pool)
{
    const char *texts[] = {"great coffee, will buy again", "stale and bland",
                           "great price", ""};
    tv_csr m;
    hitl_pool *pool = NULL;
    ck_assert_int_eq(tv_vectorize(&m, texts, 4, BITS), 0);
    ck_assert_int_eq(hitl_pool_create_sparse(&pool, m.dim), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_csr(pool, m.indptr, m.indices, m.values, m.n, NULL),
                     HITL_OK);
    size_t n = 0;
    ck_assert_int_eq(hitl_pool_size(&n, pool), HITL_OK);
    ck_assert_uint_eq(n, 4);
    hitl_pool_free(pool);
    tv_free(&m);
}
END_TEST

static Suite *textvec_suite(void)
{
    Suite *s = suite_create("textvec");
    TCase *tc = tcase_create("vectorise");
    tcase_add_test(tc, test_tokens);
    tcase_add_test(tc, test_bigrams_keep_order);
    tcase_add_test(tc, test_tfidf_weights);
    tcase_add_test(tc, test_bad_bits);
    tcase_add_test(tc, test_rows_fill_a_pool);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(textvec_suite)
