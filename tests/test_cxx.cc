// The public header compiles as C++ (extern "C", no C-only constructs) and a
// C++ program links against libhitl and runs a small loop through it:
// RAII handles with the _free functions as deleters, the built-in model, and
// a custom model whose callbacks are C++ code with a user pointer.
#include "hitl.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace {

int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", \
                         __FILE__, __LINE__, #cond, hitl_error_message()); \
            ++failures;                                                    \
        }                                                                  \
    } while (0)

using pool_ptr = std::unique_ptr<hitl_pool, decltype(&hitl_pool_free)>;
using model_ptr = std::unique_ptr<hitl_model, decltype(&hitl_model_free)>;
using strategy_ptr =
    std::unique_ptr<hitl_strategy, decltype(&hitl_strategy_free)>;
using feedback_ptr =
    std::unique_ptr<hitl_feedback, decltype(&hitl_feedback_free)>;

// Two classes in 2-D: class 0 around (-1, 0), class 1 around (+1, 0); x
// spreads the items along the first axis so that items near 0 are the
// uncertain ones.
const size_t n_items = 40;
std::vector<float> make_rows()
{
    std::vector<float> rows(n_items * 2);
    for (size_t i = 0; i < n_items; ++i) {
        rows[2 * i] = -2.0f + 4.0f * static_cast<float>(i) / (n_items - 1);
        rows[2 * i + 1] = (i % 2) ? 0.25f : -0.25f;
    }
    return rows;
}
int true_label(const float *row) { return row[0] > 0.0f; }

// A "C++ model": a logistic curve with a fixed slope.  Called through a C
// function pointer; exceptions must not leave a callback, so none is thrown.
struct fixed_slope {
    float slope;
    int predictions;
};
int fixed_slope_predict(void *user, const float *X, size_t n, size_t stride,
                        size_t dim, float *proba)
{
    (void)dim;
    auto *self = static_cast<fixed_slope *>(user);
    for (size_t i = 0; i < n; ++i) {
        float p1 = 1.0f / (1.0f + std::exp(-self->slope * X[i * stride]));
        proba[2 * i] = 1.0f - p1;
        proba[2 * i + 1] = p1;
    }
    self->predictions += static_cast<int>(n);
    return 0;
}

void test_version_and_errors()
{
    CHECK(std::strcmp(hitl_version(), HITL_VERSION_STRING) == 0);
    CHECK(hitl_version_number() == HITL_VERSION_NUMBER);
    CHECK(std::strlen(hitl_strerror(HITL_EINVAL)) > 0);

    hitl_error_clear();
    CHECK(hitl_pool_create(nullptr, 2) == HITL_EINVAL);
    CHECK(hitl_error_message()[0] != '\0');
    hitl_pool *p = nullptr;
    CHECK(hitl_pool_create(&p, 0) == HITL_EINVAL);
    CHECK(p == nullptr);
    hitl_pool_free(nullptr); // every _free accepts NULL
}

void test_builtin_loop(const std::vector<float> &rows)
{
    hitl_pool *raw_pool = nullptr;
    CHECK(hitl_pool_create(&raw_pool, 2) == HITL_OK);
    pool_ptr pool(raw_pool, hitl_pool_free);
    std::vector<uint64_t> ids(n_items);
    for (size_t i = 0; i < n_items; ++i)
        ids[i] = 1000 + i;
    CHECK(hitl_pool_add(pool.get(), rows.data(), n_items, 2, ids.data()) ==
          HITL_OK);

    hitl_model *raw_model = nullptr;
    CHECK(hitl_model_create_logreg(&raw_model, 2, 2) == HITL_OK);
    model_ptr model(raw_model, hitl_model_free);
    CHECK(hitl_model_set_param(model.get(), HITL_PARAM_L2, 0.1) == HITL_OK);
    // A strategy parameter on a model is rejected.
    CHECK(hitl_model_set_param(model.get(), HITL_PARAM_SEED, 1) ==
          HITL_EINVAL);

    hitl_feedback *raw_fb = nullptr;
    CHECK(hitl_feedback_create(&raw_fb, pool.get()) == HITL_OK);
    feedback_ptr fb(raw_fb, hitl_feedback_free);
    // Seed: the two ends of the line.
    CHECK(hitl_feedback_label(fb.get(), 1000, 7, 0) == HITL_OK);
    CHECK(hitl_feedback_label(fb.get(), 1000 + n_items - 1, 7, 1) == HITL_OK);
    CHECK(hitl_feedback_label(fb.get(), 99, 7, 1) == HITL_ENOTFOUND);

    hitl_strategy *raw_s = nullptr;
    CHECK(hitl_strategy_create(&raw_s, HITL_STRATEGY_MARGIN) == HITL_OK);
    strategy_ptr strategy(raw_s, hitl_strategy_free);

    for (int round = 0; round < 3; ++round) {
        CHECK(hitl_model_fit(model.get(), pool.get()) == HITL_OK);
        size_t count = 0, idx[4];
        uint64_t qid[4];
        double score[4];
        CHECK(hitl_query(&count, idx, qid, score, strategy.get(), model.get(),
                         pool.get(), 4) == HITL_OK);
        CHECK(count == 4);
        for (size_t j = 0; j < count && j < 4; ++j) {
            CHECK(qid[j] == 1000 + idx[j]);
            if (j > 0)
                CHECK(score[j - 1] <= score[j]); // margin: smallest first
            CHECK(hitl_feedback_label(fb.get(), qid[j], 7,
                                      true_label(&rows[2 * idx[j]])) ==
                  HITL_OK);
        }
    }
    CHECK(hitl_model_fit(model.get(), pool.get()) == HITL_OK);
    size_t labeled = 0;
    CHECK(hitl_pool_count(&labeled, pool.get(), HITL_ITEM_LABELED) == HITL_OK);
    CHECK(labeled == 2 + 3 * 4);

    const float probe[4] = {-1.5f, 0.0f, 1.5f, 0.0f};
    float proba[4] = {0, 0, 0, 0};
    CHECK(hitl_model_predict(proba, model.get(), probe, 2, 2) == HITL_OK);
    CHECK(proba[0] > 0.5f && proba[3] > 0.5f);
    CHECK(std::fabs(proba[0] + proba[1] - 1.0f) < 1e-5f);
}

void test_custom_model(const std::vector<float> &rows)
{
    hitl_pool *raw_pool = nullptr;
    CHECK(hitl_pool_create(&raw_pool, 2) == HITL_OK);
    pool_ptr pool(raw_pool, hitl_pool_free);
    // Borrowed rows: `rows` outlives the pool.
    CHECK(hitl_pool_add_borrowed(pool.get(), rows.data(), n_items, 2,
                                 nullptr) == HITL_OK);

    fixed_slope cxx_model{4.0f, 0};
    hitl_model *raw_model = nullptr;
    CHECK(hitl_model_create_custom(&raw_model, 2, 2, nullptr,
                                   fixed_slope_predict, &cxx_model) == HITL_OK);
    model_ptr model(raw_model, hitl_model_free);

    hitl_strategy *raw_s = nullptr;
    CHECK(hitl_strategy_create(&raw_s, HITL_STRATEGY_ENTROPY) == HITL_OK);
    strategy_ptr strategy(raw_s, hitl_strategy_free);
    size_t count = 0, idx[2] = {0, 0};
    CHECK(hitl_query(&count, idx, nullptr, nullptr, strategy.get(),
                     model.get(), pool.get(), 2) == HITL_OK);
    CHECK(count == 2);
    // The two items nearest x = 0 are the most uncertain.
    CHECK((idx[0] == 19 && idx[1] == 20) || (idx[0] == 20 && idx[1] == 19));
    CHECK(cxx_model.predictions >= static_cast<int>(n_items));
}

} // namespace

int main()
{
    const std::vector<float> rows = make_rows();
    test_version_and_errors();
    test_builtin_loop(rows);
    test_custom_model(rows);
    if (failures)
        std::fprintf(stderr, "test_cxx: %d check(s) failed\n", failures);
    else
        std::printf("test_cxx: all checks passed\n");
    return failures ? 1 : 0;
}
