/* Uncertainty sampling's scores: how unsure a model (or a committee's
 * consensus) is about each item of a class-major probability block.
 *   LEAST_CONFIDENT  1 - p1
 *   MARGIN           p1 - p2 (smallest first)
 *   ENTROPY          -sum_c p_c log p_c
 * with p1 >= p2 the two largest probabilities.  Loops run 16 items at a time
 * with a fixed inner trip count, which the compiler vectorises. */
#include "select/select.h"

#include <math.h>
#include <string.h>

/* 1 - p1 */
static void score_least_confident(float *s, const float *P, size_t ld, size_t K)
{
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        float p1[16];
        for (int r = 0; r < 16; r++)
            p1[r] = P[i0 + r];
        for (size_t c = 1; c < K; c++)
            for (int r = 0; r < 16; r++) {
                float v = P[c * ld + i0 + r];
                p1[r] = v > p1[r] ? v : p1[r];
            }
        for (int r = 0; r < 16; r++)
            s[i0 + r] = 1.0f - p1[r];
    }
}

/* p1 - p2: the new second largest is max(p2, min(p1, v)). */
static void score_margin(float *s, const float *P, size_t ld, size_t K)
{
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        float p1[16], p2[16];
        for (int r = 0; r < 16; r++) {
            p1[r] = P[i0 + r];
            p2[r] = -1.0f;
        }
        for (size_t c = 1; c < K; c++)
            for (int r = 0; r < 16; r++) {
                float v = P[c * ld + i0 + r];
                float lo = v < p1[r] ? v : p1[r];
                p1[r] = v > p1[r] ? v : p1[r];
                p2[r] = lo > p2[r] ? lo : p2[r];
            }
        for (int r = 0; r < 16; r++)
            s[i0 + r] = p1[r] - p2[r];
    }
}

void hitl__uncertainty_block(int kind, float *s, const float *P, size_t ld, size_t K)
{
    switch (kind) {
    case HITL_STRATEGY_LEAST_CONFIDENT: score_least_confident(s, P, ld, K); break;
    case HITL_STRATEGY_MARGIN: score_margin(s, P, ld, K); break;
    case HITL_STRATEGY_ENTROPY: hitl__entropy_cm(s, P, ld, K); break; /* log, sum fused */
    default: memset(s, 0, ld * sizeof *s); break;    /* not an uncertainty kind */
    }
}

/* Each score scaled by its largest value, larger = more informative:
 *   LEAST_CONFIDENT  (1 - p1) / (1 - 1/K)
 *   MARGIN           1 - (p1 - p2)
 *   ENTROPY          -sum p log p / log K */
double hitl__informativeness(int kind, double u, size_t K)
{
    if (kind == HITL_STRATEGY_LEAST_CONFIDENT)
        u /= 1 - 1.0 / (double)K;
    else if (kind == HITL_STRATEGY_MARGIN)
        u = 1 - u;
    else
        u /= log((double)K);
    return u < 0 ? 0 : u > 1 ? 1 : u;
}
