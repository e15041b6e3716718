/* Maps from uint64 keys (item ids, annotator ids, pool indices) to dense
 * slots: open addressing with linear probing over a power-of-two table.
 * splitmix64's mixer sends every input bit to every output bit, so
 * sequential or strided keys spread evenly over the table and probes stay
 * short.  The pool keeps its own arrays (it stages a new table during an
 * add); both use the same probe. */
#include "base/base.h"

size_t hitl__map_slot(const uint64_t *keys, const size_t *vals, size_t cap,
                      uint64_t key)
{
    size_t mask = cap - 1, s = (size_t)hitl__mix64(key) & mask;
    while (vals[s] && keys[s] != key)
        s = (s + 1) & mask;
    return s;
}

static size_t map_pos(const hitl__idmap *m, uint64_t key)
{
    return hitl__map_slot(m->keys, m->vals, m->cap, key);
}

size_t hitl__idmap_get(const hitl__idmap *m, uint64_t key)
{
    if (m->cap == 0)
        return HITL__NO_SLOT;
    size_t s = map_pos(m, key);
    return m->vals[s] ? m->vals[s] - 1 : HITL__NO_SLOT;
}

/* Rebuilds into new arrays, so on failure the map is unchanged. */
int hitl__idmap_reserve(hitl__idmap *m)
{
    if (m->n + 1 <= m->cap / 2)
        return 0;
    size_t cap = m->cap ? 2 * m->cap : 16;
    hitl__idmap r = {hitl__calloc(cap, sizeof *r.keys),
                     hitl__calloc(cap, sizeof *r.vals), cap, m->n};
    if (!r.keys || !r.vals) {
        hitl__free(r.keys);
        hitl__free(r.vals);
        return -1;
    }
    for (size_t s = 0; s < m->cap; s++)
        if (m->vals[s]) {
            size_t t = map_pos(&r, m->keys[s]);
            r.keys[t] = m->keys[s];
            r.vals[t] = m->vals[s];
        }
    hitl__free(m->keys);
    hitl__free(m->vals);
    *m = r;
    return 0;
}

void hitl__idmap_put(hitl__idmap *m, uint64_t key, size_t slot)
{
    size_t s = map_pos(m, key);
    m->keys[s] = key;
    m->vals[s] = slot + 1;
    m->n++;
}

void hitl__idmap_free(hitl__idmap *m)
{
    hitl__free(m->keys);
    hitl__free(m->vals);
}
