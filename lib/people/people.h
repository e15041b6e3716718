/*
 * The people layer: what the people in the loop say and how far they agree.
 * Feedback events, each on its own (event.c: field checks, record form) and
 * what they imply for the pool (feedback.c); their aggregation into one
 * label per item (aggregate.c), where authority settles first
 * (authority.c); annotator drift (drift.c); the crash-safe
 * journal (journal.c); and agreement metrics (agreement.c).  Uses the layers below; writes answers
 * into the pool through its public setters.
 */
#ifndef HITL_PEOPLE_H
#define HITL_PEOPLE_H

#include "select/select.h"

/* ---- the feedback handle --------------------------------------------------------- */

/* The feedback handle is an append-only event log plus what it implies: per
 * item, the effective answer of each annotator (their latest answer that is
 * not retracted; earlier answers of the same person on the same item are
 * superseded, and a retraction falls back along the chain `prev`).  Items and
 * annotators get dense slots in the order they first appear. */

#define HITL__MAX_LABEL 65535            /* labels are class indices < 65536 */

typedef struct hitl__fb_event {
    uint64_t item;          /* caller id of the item */
    uint64_t annotator;
    uint64_t target;        /* RETRACT: the retracted event; else NO_EVENT */
    uint64_t retracted_by;  /* the RETRACT that removed it, or NO_EVENT */
    uint64_t prev;          /* previous answer of the same annotator on the
                               same item, or NO_EVENT */
    uint64_t item_prev;     /* previous event of any kind on the same item,
                               or NO_EVENT: the item's audit trail */
    int64_t time;           /* microseconds since the Unix epoch */
    double confidence, shown_confidence;   /* NaN: none */
    int32_t label, shown_label;            /* -1: none */
    char *reason;           /* owned, NUL-terminated, or NULL */
    unsigned char *shown;   /* owned: the explanation shown, n_shown x (u32
                               feature, f32 contribution) little-endian */
    uint16_t reason_len;
    uint8_t kind;           /* hitl_event_kind */
    uint8_t n_shown;        /* <= HITL_SHOWN_MAX */
} hitl__fb_event;

/* One annotator's standing on one item. */
typedef struct hitl__fb_vote {
    size_t annot;           /* annotator slot */
    uint64_t eff;           /* effective answer event, or NO_EVENT */
    uint64_t last;          /* latest answer event (head of the prev chain) */
    int32_t label;          /* of eff: >= 0 a label, -1 skip, -2 none */
} hitl__fb_vote;

typedef struct hitl__fb_item {
    uint64_t id;            /* caller id */
    size_t index;           /* pool index */
    hitl__fb_vote *votes;
    size_t n_votes, cap_votes;
    int32_t gold;           /* known answer, or -1 */
    uint64_t gold_event;    /* the GOLD event that set it */
    uint64_t last_event;    /* latest event about the item */
    /* the aggregation result, kept current */
    int32_t label;          /* -1 when there is no label */
    uint8_t status;         /* hitl_consensus */
    uint8_t how;            /* hitl_settlement */
    uint64_t settled_by;    /* deciding event (AUTHORITY, GOLD) or NO_EVENT */
    uint32_t n_labels;      /* effective labels (skips not counted) */
    double confidence, agreement;
} hitl__fb_item;

typedef struct hitl__fb_ref { size_t item, vote; } hitl__fb_ref;

typedef struct hitl__fb_annot {
    uint64_t id;
    int32_t authority;      /* their role's level, kept equal to the role
                               table's */
    hitl__fb_ref *refs;     /* the votes of this annotator, one per item */
    size_t n_refs, cap_refs;
    /* counters over effective answers, kept current */
    size_t n_labels, n_skips;
    size_t gold_n, gold_ok;  /* answers on gold items, correct ones */
    size_t cons_n, cons_ok;  /* answers on non-gold items with >= 2 labels,
                                agreeing with the aggregated label */
} hitl__fb_annot;

/* One candidate label of an item while it is aggregated. */
typedef struct hitl__fb_tally {
    int32_t label;
    size_t votes;
    double score;
    uint64_t first;         /* earliest effective answer giving this label */
} hitl__fb_tally;

/* Dawid-Skene estimates (aggregate.c), all in log space: logtheta[a][k][l]
 * = log P(annotator a answers l | true class k), a < A; logmean the same for
 * an annotator the fit has not seen (the element-wise mean of the fitted
 * matrices); logprior[k] = log P(true class k).  K == 0: never fitted. */
typedef struct hitl__fb_ds {
    size_t K, A;
    double *logtheta, *logprior, *logmean;
    double *accuracy;       /* A: expected share of correct answers */
    size_t iterations;
    double objective;       /* log posterior at the returned estimates */
    int converged;
    int kind;               /* hitl_aggregation fitted: DAWID_SKENE or ONE_COIN
                               (whose matrices are tied), or MAJORITY when
                               RECOMMENDED chose a vote (K == 0) */
    double strength;        /* of the prior on the matrices (HITL_PARAM_DS_PRIOR) */
    unsigned char *ignore;  /* A, or NULL: 1 for an annotator whose answers
                               RECOMMENDED leaves out (constant answers) */
} hitl__fb_ds;

/* An annotator's authority level (hitl_feedback_set_role); annotators
 * without an entry have level 0. */
typedef struct hitl__fb_role {
    uint64_t annotator;
    int32_t level;
} hitl__fb_role;

/* The parameters of a feedback handle (HITL_PARAM_4xx). */
typedef struct hitl__fb_params {
    int method;             /* hitl_aggregation */
    size_t min_annotators, n_classes, em_max_iter;
    double min_agreement, min_confidence, em_tol;
    int confidence_weights;
    size_t drift_window;    /* HITL_PARAM_DRIFT_WINDOW */
    double drift_alpha;     /* HITL_PARAM_DRIFT_ALPHA */
    double ds_prior;        /* HITL_PARAM_DS_PRIOR */
    int method_chosen;      /* the method was set (on the handle or by a
                               journal), not the default */
} hitl__fb_params;

struct hitl_feedback {
    hitl_pool *pool;        /* borrowed */
    hitl__fb_params par;
    int32_t max_label;      /* largest label of any answer or gold, or -1 */
    int replaying;          /* journal replay: records are not written again */
    int unrecorded_aggregate;  /* the last aggregation came from opening or
                                  attaching the journal, which the file does
                                  not show: the next record written says it */
    hitl__fb_ds ds;
    double *post;           /* per-item Dawid-Skene scratch, K doubles */
    size_t cap_post;
    hitl__records journal;  /* the journal file (fd -1: none open) */
    hitl__fb_event *ev;
    size_t n_ev, cap_ev;
    hitl__fb_item *items;
    size_t n_items, cap_items;
    hitl__idmap item_map;   /* pool index -> item slot */
    hitl__fb_annot *annots;
    size_t n_annots, cap_annots;
    hitl__idmap annot_map;  /* annotator id -> annotator slot */
    hitl__fb_tally *tally;  /* per-item aggregation scratch, one entry per
                               vote of the busiest item */
    size_t cap_tally;
    hitl__fb_role *roles;   /* every annotator ever given a role */
    size_t n_roles, cap_roles;
    hitl__idmap role_map;   /* annotator id -> role slot */
};

/* ---- event.c --------------------------------------------------------------------- */

static inline int hitl__is_answer(int kind)     /* LABEL, OVERRIDE, CONFIRM, SKIP */
{
    return kind >= HITL_EVENT_LABEL && kind <= HITL_EVENT_SKIP;
}
/* Field checks of one event (ranges, UTF-8 of the reason); no state. */
int hitl__fb_check_event(const hitl__fb_event *e, const char *fn);
/* The journal's file format (base/records.c does the rest). */
extern const hitl__record_format hitl__journal_format;
/* The record form of event `id` in the journal: a payload of
 * HITL__EVENT_FIXED bytes plus the reason, then (version 3, only when the
 * event has one) u8 n_shown and the explanation's 8 n_shown bytes; at most
 * HITL__EVENT_MAX. */
#define HITL__EVENT_FIXED 67
#define HITL__EVENT_MAX (HITL__EVENT_FIXED + HITL_REASON_MAX + 1 + 8 * HITL_SHOWN_MAX)
/* Journal versions: 2 adds control records, 3 the explanation shown with
 * an answer (both on top of the one before). */
#define HITL__JOURNAL_CONTROLS 2
#define HITL__JOURNAL_SHOWN 3
/* Write the payload to buf (HITL__EVENT_MAX bytes); returns its size. */
size_t hitl__event_encode(unsigned char *buf, const hitl__fb_event *e, uint64_t id);
/* Read a payload of n bytes; e->reason and e->shown point into it.
 * Returns 0, or -1 if the sizes disagree. */
int hitl__event_decode(hitl__fb_event *e, uint64_t *id, const unsigned char *p, size_t n);
/* Control records of the journal (format 2): not events, but the points
 * where the live handle changed a parameter or a role or re-aggregated, so
 * that replay does the same at the same place.  Encoded in the event
 * layout: id = the next event's id (not consumed), kind, item = the
 * parameter, confidence = its value (a role: annotator = whose, label = the
 * level); every other field as an event without it (-1, NaN, 0). */
enum { HITL__CTRL_PARAM = 0x81, HITL__CTRL_AGGREGATE = 0x82, HITL__CTRL_ROLE = 0x83 };
static inline int hitl__is_control(int kind)
{
    return kind >= HITL__CTRL_PARAM && kind <= HITL__CTRL_ROLE;
}
size_t hitl__control_encode(unsigned char *buf, int kind, hitl_param param, double value,
                            uint64_t next_id, int64_t time);
/* A role change: annotator = whose, label = the level. */
size_t hitl__role_encode(unsigned char *buf, uint64_t annotator, int32_t level,
                         uint64_t next_id, int64_t time);
/* HITL_OK if a decoded control record's fields are in place, else
 * HITL_EINVAL. */
int hitl__control_check(const hitl__fb_event *e, const char *fn);

/* ---- authority.c ------------------------------------------------------------------ */

int32_t hitl__fb_role_of(const hitl_feedback *fb, uint64_t annotator);
/* Room for one more role (a no-op for an annotator who has one); 0 or -1
 * (out of memory), the handle unchanged either way. */
int hitl__fb_role_reserve(hitl_feedback *fb, uint64_t annotator);
/* Set a role whose room was reserved; the annotator's level follows. */
void hitl__fb_role_put(hitl_feedback *fb, uint64_t annotator, int32_t level);
/* Forget every role (a version 2 replay starts without). */
void hitl__fb_roles_clear(hitl_feedback *fb);
/* The class an item is known to have, which a fit does not estimate: its
 * gold label, else the label its highest authority gave (see "Authority" in
 * hitl.h), else -1.  *by gets the deciding event (NO_EVENT with -1). */
int32_t hitl__fb_fixed_class(const hitl_feedback *fb, const hitl__fb_item *it, uint64_t *by);

/* ---- drift.c ------------------------------------------------------------------------ */

/* An annotator's drift figures (see HITL_ANNOTATOR_DRIFT*): NaN where they
 * have fewer than 2 W answers on settled items. */
typedef struct hitl__drift {
    double flag, before, after, z, at;
} hitl__drift;
/* The figures of annotator slot a.  HITL_OK or HITL_ENOMEM (O(their
 * answers) scratch). */
int hitl__fb_drift(hitl__drift *d, const hitl_feedback *fb, size_t a, const char *fn);
/* z with P(Z > z) = alpha for a standard normal Z (0 < alpha < 1/2); the
 * bias audit's tests and intervals use it too. */
double hitl__normal_upper(double alpha);

/* ---- feedback.c --------------------------------------------------------------------- */

/* Record an event that passed hitl__fb_check_event (the path of
 * live calls and of journal replay alike).  Checks it against the handle's
 * state, reserves, appends it to the journal when one is open and the handle
 * is not replaying, then commits; on failure nothing changed.  e->reason is
 * borrowed (copied on success).  *id gets the event id. */
int hitl__fb_apply(hitl_feedback *fb, const hitl__fb_event *e, uint64_t *id,
                   const char *fn);
void hitl__fb_params_default(hitl__fb_params *p);
/* Where a format-2 replay starts: the defaults with MAJORITY. */
void hitl__fb_params_base(hitl__fb_params *p);
/* Write a control record for every parameter that differs from its
 * default, making the open journal format 2 first (whose replay starts from
 * the defaults).  With none differing, nothing is written, and the file is
 * made format 2 only when `upgrade` asks for it. */
int hitl__fb_journal_params(hitl_feedback *fb, int upgrade, const char *fn);
/* Make the open journal version 3 (by way of 2: its parameters and roles
 * written first, as hitl__fb_journal_params with upgrade does) before an
 * event with an explanation is appended. */
int hitl__fb_journal_shown(hitl_feedback *fb, const char *fn);
/* Set a parameter (live, then journaled; or from a journal's control
 * record) and aggregate as hitl_feedback_aggregate does: the one path for
 * both, so that replay does what the live handle did. */
int hitl__fb_set_param(hitl_feedback *fb, hitl_param param, double value, const char *fn);
int hitl__fb_aggregate(hitl_feedback *fb, const char *fn);
/* Give an annotator a role (live, then journaled; or from a journal's
 * control record) and re-decide the items they answered. */
int hitl__fb_set_role(hitl_feedback *fb, uint64_t annotator, int32_t level, const char *fn);
/* Forget every event, item and annotator; parameters, the Dawid-Skene fit
 * and the journal stay (a failed replay into an empty handle undoes itself). */
void hitl__fb_reset(hitl_feedback *fb);

/* ---- aggregate.c -------------------------------------------------------------------- */

size_t hitl__fb_classes(const hitl_feedback *fb);   /* K for Dawid-Skene */
/* Around any change to an item: begin takes the item's share out of the
 * annotators' counters, end re-aggregates it, puts its share back and writes
 * it to the pool. */
void hitl__fb_item_begin(hitl_feedback *fb, const hitl__fb_item *it);
void hitl__fb_item_end(hitl_feedback *fb, hitl__fb_item *it);
/* Re-aggregate every item with the current estimates, recount, write the
 * pool.  Cannot fail once hitl__fb_reserve_post(fb, K of fb->ds) held. */
void hitl__fb_refresh(hitl_feedback *fb);
/* Fit Dawid-Skene by EM into *out (fresh memory; fb is only read).
 * Returns HITL_OK, HITL_ENOMEM, or HITL_ESTATE when K would be inferred
 * (HITL_PARAM_N_CLASSES 0) above HITL__DS_INFERRED_MAX; sets the message. */
#define HITL__DS_INFERRED_MAX 1024
int hitl__fb_ds_fit(hitl__fb_ds *out, const hitl_feedback *fb, int kind, double strength,
                    const char *fn);
/* The rule of HITL_AGGREGATE_RECOMMENDED (stated in hitl.h): a model needs
 * HITL__REC_PER_ITEM labels per item and HITL__REC_PER_ANNOT answers per
 * annotator on average, the full matrices HITL__REC_PER_ROW K; the
 * candidates (shared coin, one coin, full matrices with prior strength
 * HITL__REC_STRENGTH K) are scored by the
 * log-likelihood of held-out answers, less HITL__REC_MARGIN nats per step
 * of complexity; the best whose fit overrules at most HITL__REC_OVERRULE of
 * the clear majorities wins. */
#define HITL__REC_PER_ITEM 2.0
#define HITL__REC_PER_ANNOT 10.0
#define HITL__REC_STRENGTH 0.5
#define HITL__REC_OVERRULE 0.25
#define HITL__REC_MARGIN 3.0
#define HITL__REC_PER_ROW 1.0
/* A constant annotator (left out by RECOMMENDED): at least
 * HITL__REC_CONST_MIN answers, at least HITL__REC_CONST_SHARE of them one
 * class c, on items where the clear majority of the annotators who do not
 * answer so is not c at least HITL__REC_CONST_OTHER of the time (of at
 * least HITL__REC_CONST_MIN / 2 items with one). */
#define HITL__REC_CONST_MIN 10
#define HITL__REC_CONST_SHARE 0.95
#define HITL__REC_CONST_OTHER 0.2
#define HITL__DS_PRIOR_MAX 1e6
/* 1 for the methods that fit a model of the annotators. */
int hitl__fb_is_model(int method);
void hitl__fb_ds_free(hitl__fb_ds *ds);
/* Install a fit: free the old one, take *ds, set annotators' accuracies. */
void hitl__fb_ds_install(hitl_feedback *fb, hitl__fb_ds *ds);
/* The scratch a per-item aggregation with K classes needs. */
int hitl__fb_reserve_post(hitl_feedback *fb, size_t K);
/* An aggregation (hitl_feedback_aggregate, a parameter change that calls
 * for one, the end of a journal replay) in two steps, so that the journal
 * can be written between them: prepare fits what the parameters `par` call
 * for (Dawid-Skene: a fit into *ds; nothing for the votes) and changes
 * nothing visible; HITL_OK, HITL_ENOMEM or HITL_ESTATE (see ds_fit).
 * commit installs par and the fit and re-aggregates every item; it cannot
 * fail. */
int hitl__fb_prepare(hitl__fb_ds *ds, const hitl__fb_params *par, hitl_feedback *fb,
                     const char *fn);
void hitl__fb_commit(hitl_feedback *fb, const hitl__fb_params *par, hitl__fb_ds *ds);

/* The message of every call refused after an undone journal write failed:
 * this handle holds events the file may lack, so it cannot attach it again. */
#define HITL__JOURNAL_FAILED                                                 \
    "the journal failed earlier; close it (hitl_feedback_close_journal) "  \
    "and replay it into a new handle"

#endif /* HITL_PEOPLE_H */
