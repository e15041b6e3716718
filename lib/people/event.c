/* A feedback event on its own: the checks of its fields (every live call
 * and every replayed record passes them) and its record form in the
 * journal.
 *
 * Record payload of format version 1, little-endian, HITL__EVENT_FIXED = 67
 * bytes then the reason:  u64 event id, u8 kind, u64 item, u64 annotator,
 * u64 target, i64 time (us), i32 label, i32 shown label, f64 confidence,
 * f64 shown confidence (NaN: none), u16 reason length, reason bytes (no
 * NUL).  Version 3 adds, to an answer that was shown an explanation, u8
 * n_shown (1 .. HITL_SHOWN_MAX) and n_shown x (u32 feature, f32
 * contribution); other events are as in version 1.  What follows from the log (retracted_by, the prev chain, every
 * aggregate) is not stored: replay derives it. */
#include "people/people.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* ---- checking an event ------------------------------------------------------- */

/* Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) or is NUL, else n. */
static size_t utf8_bad_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need, lo = 0x80, hi = 0xbf;
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else
            return i;
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (unsigned j = 2; j <= need; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return i;
        i += need + 1;
    }
    return n;
}

static int unit_or_nan(double x)
{
    return isnan(x) || (x >= 0 && x <= 1);
}

int hitl__fb_check_event(const hitl__fb_event *e, const char *fn)
{
    int k = e->kind;
    if (k < HITL_EVENT_LABEL || k > HITL_EVENT_GOLD)
        return hitl__fail_in(HITL_EINVAL, fn, "unknown event kind %d", k);
    /* first: a CONFIRM without a shown label also has no label (it takes
     * the shown one), and that is what its message must say */
    if ((k == HITL_EVENT_OVERRIDE || k == HITL_EVENT_CONFIRM) &&
        e->shown_label == -1)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "an %s needs the shown_label it %s",
                             k == HITL_EVENT_OVERRIDE ? "OVERRIDE" : "CONFIRM",
                             k == HITL_EVENT_OVERRIDE ? "corrects" : "confirms");
    int32_t lo = k == HITL_EVENT_GOLD ? -1 : 0;
    if (k == HITL_EVENT_SKIP || k == HITL_EVENT_RETRACT) {
        if (e->label != -1)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "label is %" PRId32 "; a %s has none (-1)",
                                 e->label,
                                 k == HITL_EVENT_SKIP ? "SKIP" : "RETRACT");
    } else if (e->label < lo || e->label > HITL__MAX_LABEL) {
        return hitl__fail_in(HITL_EINVAL, fn,
                             "label %" PRId32 " is not in [%d, %d]", e->label,
                             (int)lo, HITL__MAX_LABEL);
    }
    if (e->shown_label < -1 || e->shown_label > HITL__MAX_LABEL)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "shown_label %" PRId32 " is not in [-1, %d]",
                             e->shown_label, HITL__MAX_LABEL);
    if (!unit_or_nan(e->confidence))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "confidence %g is not in [0, 1] (NaN: none)",
                             e->confidence);
    if (!unit_or_nan(e->shown_confidence))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "shown_confidence %g is not in [0, 1] (NaN: none)",
                             e->shown_confidence);
    if (e->shown_label < 0 && !isnan(e->shown_confidence))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "shown_confidence %g without a shown_label",
                             e->shown_confidence);
    if (!hitl__is_answer(k) && (e->shown_label >= 0 || !isnan(e->confidence)))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "a %s event carries no confidence or "
                             "pre-annotation", k == HITL_EVENT_GOLD ? "GOLD"
                                                                  : "RETRACT");
    if (e->n_shown > HITL_SHOWN_MAX)
        return hitl__fail_in(HITL_EINVAL, fn, "n_shown %u exceeds HITL_SHOWN_MAX (%d)",
                             (unsigned)e->n_shown, HITL_SHOWN_MAX);
    if (e->n_shown && (k == HITL_EVENT_SKIP || !hitl__is_answer(k) || e->shown_label < 0))
        return hitl__fail_in(HITL_EINVAL, fn, "an explanation is shown with a "
                             "pre-annotation (shown_label >= 0) of an answer only");
    for (size_t i = 0; i < e->n_shown; i++) {
        const unsigned char *q = e->shown + 8 * i;
        uint32_t f = (uint32_t)hitl__get_le(&q, 4), bits = (uint32_t)hitl__get_le(&q, 4);
        float v;
        memcpy(&v, &bits, sizeof v);
        if (f > INT32_MAX || !isfinite(v))
            return hitl__fail_in(HITL_EINVAL, fn, "shown feature %zu: %" PRIu32
                                 " (must be <= INT32_MAX) with contribution %g "
                                 "(must be finite)", i, f, (double)v);
    }
    if (k == HITL_EVENT_OVERRIDE && e->label == e->shown_label)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "OVERRIDE label %" PRId32
                             " equals the shown label; use CONFIRM",
                             e->label);
    if (k == HITL_EVENT_CONFIRM && e->label != e->shown_label)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "CONFIRM label %" PRId32
                             " differs from the shown label %" PRId32
                             "; use OVERRIDE",
                             e->label, e->shown_label);
    if ((k == HITL_EVENT_RETRACT) != (e->target != HITL_NO_EVENT))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "target %" PRIu64 " on a %s event", e->target,
                             k == HITL_EVENT_RETRACT ? "RETRACT" : "non-RETRACT");
    if (e->time == HITL_TIME_NOW)
        return hitl__fail_in(HITL_EINVAL, fn, "timestamp is HITL_TIME_NOW");
    if (e->reason_len > HITL_REASON_MAX)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "reason is %u bytes, more than %d",
                             (unsigned)e->reason_len, HITL_REASON_MAX);
    size_t bad = utf8_bad_at((const unsigned char *)e->reason, e->reason_len);
    if (bad < e->reason_len)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "reason is not valid UTF-8 at byte %zu (0x%02x)",
                             bad, (unsigned)(unsigned char)e->reason[bad]);
    return HITL_OK;
}

/* ---- the record form ---------------------------------------------------------------- */

/* Format 1: events only.  Format 2: events and control records; a file is
 * created as format 1 and rewritten as 2 before its first control record,
 * so journals without one stay readable by libraries that read format 1.
 * Format 3: also explanations shown with answers; a file becomes 3 (and 2
 * first) before the first event that has one. */
const hitl__record_format hitl__journal_format = {
    .name = "journal", .magic = "HITLJRNL", .version = 1, .oldest = 1,
    .newest = HITL__JOURNAL_SHOWN,
    .min_payload = HITL__EVENT_FIXED, .max_payload = HITL__EVENT_MAX,
};

size_t hitl__event_encode(unsigned char *buf, const hitl__fb_event *e, uint64_t id)
{
    unsigned char *p = buf;
    p = hitl__put_le(p, id, 8);
    p = hitl__put_le(p, e->kind, 1);
    p = hitl__put_le(p, e->item, 8);
    p = hitl__put_le(p, e->annotator, 8);
    p = hitl__put_le(p, e->target, 8);
    p = hitl__put_le(p, (uint64_t)e->time, 8);
    p = hitl__put_le(p, (uint32_t)e->label, 4);
    p = hitl__put_le(p, (uint32_t)e->shown_label, 4);
    p = hitl__put_f64(p, e->confidence);
    p = hitl__put_f64(p, e->shown_confidence);
    p = hitl__put_le(p, e->reason_len, 2);
    if (e->reason_len)
        memcpy(p, e->reason, e->reason_len);
    p += e->reason_len;
    if (e->n_shown) {
        p = hitl__put_le(p, e->n_shown, 1);
        memcpy(p, e->shown, 8 * (size_t)e->n_shown);
        p += 8 * (size_t)e->n_shown;
    }
    return (size_t)(p - buf);
}

size_t hitl__control_encode(unsigned char *buf, int kind, hitl_param param, double value,
                            uint64_t next_id, int64_t time)
{
    hitl__fb_event c = { .item = kind == HITL__CTRL_PARAM ? (uint64_t)param : 0,
                         .target = HITL_NO_EVENT, .time = time, .label = -1,
                         .shown_label = -1, .confidence = value,
                         .shown_confidence = NAN, .kind = (uint8_t)kind };
    return hitl__event_encode(buf, &c, next_id);
}

size_t hitl__role_encode(unsigned char *buf, uint64_t annotator, int32_t level,
                         uint64_t next_id, int64_t time)
{
    hitl__fb_event c = { .annotator = annotator, .target = HITL_NO_EVENT, .time = time,
                         .label = level, .shown_label = -1, .confidence = NAN,
                         .shown_confidence = NAN, .kind = HITL__CTRL_ROLE };
    return hitl__event_encode(buf, &c, next_id);
}

int hitl__control_check(const hitl__fb_event *e, const char *fn)
{
    if (e->n_shown)
        return hitl__fail_in(HITL_EINVAL, fn, "a control record with an explanation");
    if (e->kind == HITL__CTRL_ROLE && e->item == 0 && e->target == HITL_NO_EVENT &&
        e->label >= 0 && e->label <= HITL_AUTHORITY_MAX && e->shown_label == -1 &&
        isnan(e->confidence) && isnan(e->shown_confidence) && e->reason_len == 0)
        return HITL_OK;
    int fields_plain = e->annotator == 0 && e->target == HITL_NO_EVENT && e->label == -1 &&
                       e->shown_label == -1 && isnan(e->shown_confidence) &&
                       e->reason_len == 0;
    if (e->kind == HITL__CTRL_AGGREGATE && fields_plain && e->item == 0 &&
        isnan(e->confidence))
        return HITL_OK;
    if (e->kind == HITL__CTRL_PARAM && fields_plain && e->item >= HITL_PARAM_AGGREGATION &&
        e->item <= HITL_PARAM_DS_PRIOR)
        return HITL_OK;                  /* the value is checked as it is set */
    return hitl__fail_in(HITL_EINVAL, fn, "a control record (kind %d) with fields out of "
                         "place", (int)e->kind);
}

int hitl__event_decode(hitl__fb_event *e, uint64_t *id, const unsigned char *p, size_t n)
{
    if (n < HITL__EVENT_FIXED)
        return -1;
    *e = (hitl__fb_event){0};
    *id = hitl__get_le(&p, 8);
    e->kind = (uint8_t)hitl__get_le(&p, 1);
    e->item = hitl__get_le(&p, 8);
    e->annotator = hitl__get_le(&p, 8);
    e->target = hitl__get_le(&p, 8);
    e->time = (int64_t)hitl__get_le(&p, 8);
    e->label = (int32_t)(uint32_t)hitl__get_le(&p, 4);
    e->shown_label = (int32_t)(uint32_t)hitl__get_le(&p, 4);
    e->confidence = hitl__get_f64(&p);
    e->shown_confidence = hitl__get_f64(&p);
    e->reason_len = (uint16_t)hitl__get_le(&p, 2);
    e->reason = (char *)p;
    e->retracted_by = e->prev = HITL_NO_EVENT;
    size_t used = HITL__EVENT_FIXED + (size_t)e->reason_len;
    if (used == n)
        return 0;
    if (used > n)
        return -1;
    p += e->reason_len;
    e->n_shown = (uint8_t)hitl__get_le(&p, 1);
    e->shown = (unsigned char *)p;
    return e->n_shown > 0 && used + 1 + 8 * (size_t)e->n_shown == n ? 0 : -1;
}
