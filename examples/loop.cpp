// The same loop from C++: RAII ownership of libhitl handles with
// std::unique_ptr, errors turned into exceptions.  Build against an installed
// libhitl with pkg-config only:
//
//     c++ loop.cpp $(pkg-config --cflags --libs libhitl) -o loop++ && ./loop++
#include <hitl.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct PoolFree { void operator()(hitl_pool *p) const { hitl_pool_free(p); } };
struct ModelFree { void operator()(hitl_model *m) const { hitl_model_free(m); } };
struct StrategyFree {
    void operator()(hitl_strategy *s) const { hitl_strategy_free(s); }
};
struct FeedbackFree {
    void operator()(hitl_feedback *f) const { hitl_feedback_free(f); }
};

void ok(int status, const char *what)
{
    if (status != HITL_OK)
        throw std::runtime_error(std::string(what) + ": " +
                                 hitl_strerror(status) + " (" +
                                 hitl_error_message() + ")");
}

constexpr size_t kDim = 2, kClasses = 3, kItems = 300;

}  // namespace

int main()
try {
    // The library must be at least as new as the header we were built with.
    if (hitl_version_number() < HITL_VERSION_NUMBER)
        throw std::runtime_error(std::string("libhitl ") + hitl_version() +
                                 " is older than its header " HITL_VERSION_STRING);

    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.8f);
    std::vector<float> x(kItems * kDim);
    std::vector<int32_t> y(kItems);
    for (size_t i = 0; i < kItems; i++) {
        y[i] = static_cast<int32_t>(i % kClasses);
        x[i * kDim] = 2.5f * std::cos(2.1f * y[i]) + noise(rng);
        x[i * kDim + 1] = 2.5f * std::sin(2.1f * y[i]) + noise(rng);
    }

    hitl_pool *p = nullptr;
    ok(hitl_pool_create(&p, kDim), "pool");
    std::unique_ptr<hitl_pool, PoolFree> pool(p);
    // Borrowed rows: x must outlive the pool, which it does (same scope, declared first).
    ok(hitl_pool_add_borrowed(pool.get(), x.data(), kItems, kDim, nullptr), "add");

    hitl_model *m = nullptr;
    ok(hitl_model_create_logreg(&m, kDim, kClasses), "model");
    std::unique_ptr<hitl_model, ModelFree> model(m);
    ok(hitl_model_set_param(model.get(), HITL_PARAM_L2, 0.1), "param");

    hitl_strategy *s = nullptr;
    ok(hitl_strategy_create(&s, HITL_STRATEGY_ENTROPY), "strategy");
    std::unique_ptr<hitl_strategy, StrategyFree> strategy(s);

    hitl_feedback *f = nullptr;
    ok(hitl_feedback_create(&f, pool.get()), "feedback");
    std::unique_ptr<hitl_feedback, FeedbackFree> feedback(f);

    for (uint64_t i = 0; i < kClasses; i++)
        ok(hitl_feedback_label(feedback.get(), i, 1, y[i]), "label");

    const size_t k = 6;
    std::vector<size_t> idx(k);
    std::vector<uint64_t> ids(k);
    std::vector<double> scores(k);
    for (int round = 0; round < 4; round++) {
        ok(hitl_model_fit(model.get(), pool.get()), "fit");
        size_t count = 0;
        ok(hitl_query(&count, idx.data(), ids.data(), scores.data(),
                      strategy.get(), model.get(), pool.get(), k), "query");
        std::printf("round %d: %zu queried, top entropy %.3f\n", round, count,
                    count ? scores[0] : 0.0);
        for (size_t j = 0; j < count; j++)
            ok(hitl_feedback_label(feedback.get(), ids[j], 1, y[idx[j]]), "label");
    }
    ok(hitl_model_fit(model.get(), pool.get()), "fit");

    std::vector<float> proba(kItems * kClasses);
    ok(hitl_model_predict(proba.data(), model.get(), x.data(), kItems, kDim), "predict");
    size_t right = 0;
    for (size_t i = 0; i < kItems; i++) {
        size_t best = 0;
        for (size_t c = 1; c < kClasses; c++)
            if (proba[i * kClasses + c] > proba[i * kClasses + best])
                best = c;
        right += static_cast<int32_t>(best) == y[i];
    }
    std::printf("accuracy %.3f\n", static_cast<double>(right) / kItems);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
}
