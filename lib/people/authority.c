/* Authority: the roles that rank annotators, and the answer that settles
 * an item by authority (the rule is stated in include/hitl.h, "Authority").
 * A role is kept per annotator id, whether or not they have answered; the
 * annotators who have answered carry their level with them, so that
 * aggregating an item reads no map. */
#include "people/people.h"

#define NO_EVENT UINT64_MAX

int32_t hitl__fb_role_of(const hitl_feedback *fb, uint64_t annotator)
{
    size_t r = hitl__idmap_get(&fb->role_map, annotator);
    return r == HITL__NO_SLOT ? 0 : fb->roles[r].level;
}

int hitl__fb_role_reserve(hitl_feedback *fb, uint64_t annotator)
{
    if (hitl__idmap_get(&fb->role_map, annotator) != HITL__NO_SLOT)
        return 0;
    return hitl__grow((void **)&fb->roles, &fb->cap_roles, fb->n_roles + 1,
                      sizeof *fb->roles) ||
           hitl__idmap_reserve(&fb->role_map);
}

void hitl__fb_role_put(hitl_feedback *fb, uint64_t annotator, int32_t level)
{
    size_t r = hitl__idmap_get(&fb->role_map, annotator);
    if (r == HITL__NO_SLOT) {
        r = fb->n_roles++;
        fb->roles[r].annotator = annotator;
        hitl__idmap_put(&fb->role_map, annotator, r);
    }
    fb->roles[r].level = level;
    size_t a = hitl__idmap_get(&fb->annot_map, annotator);
    if (a != HITL__NO_SLOT)
        fb->annots[a].authority = level;
}

void hitl__fb_roles_clear(hitl_feedback *fb)
{
    hitl__free(fb->roles);
    hitl__idmap_free(&fb->role_map);
    fb->roles = NULL;
    fb->n_roles = fb->cap_roles = 0;
    fb->role_map = (hitl__idmap){0};
    for (size_t a = 0; a < fb->n_annots; a++)
        fb->annots[a].authority = 0;
}

int32_t hitl__fb_fixed_class(const hitl_feedback *fb, const hitl__fb_item *it, uint64_t *by)
{
    if (it->gold >= 0) {
        *by = it->gold_event;
        return it->gold;
    }
    /* the latest label among those of the highest level above 0 */
    int32_t top = 0;
    *by = NO_EVENT;
    for (size_t v = 0; v < it->n_votes; v++) {
        const hitl__fb_vote *vo = &it->votes[v];
        int32_t level = fb->annots[vo->annot].authority;
        if (vo->label < 0 || level == 0 || level < top)
            continue;
        if (level > top || vo->eff > *by)
            *by = vo->eff;
        top = level;
    }
    return *by == NO_EVENT ? -1 : fb->ev[*by].label;
}

