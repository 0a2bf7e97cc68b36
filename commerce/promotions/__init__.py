"""Promotions: what a merchant offers, and the engine that applies it to a cart.

- models.py      Promotion (schedule + IANA zone, state, priority, stacking, coupon
                 requirement, usage limits), its condition and action rows, CouponCode,
                 PromotionUsage (per-shopper counters), Redemption (held/redeemed/released
                 uses), CouponEntry (the code a cart or checkout carries), PromotionRevision
- rules.py       the condition and action kinds and the validation of their parameters
- engine.py      pure evaluation: priority, stacking, conditions, actions, rounding, allocation
- active.py      the compiled live set (cached per process by revision), codes, usage limits
- services.py    create / update / enable / pause / end / duplicate / delete (audited)
- coupons.py     single and generated codes, CSV export, codes entered by shoppers
- redemptions.py usage limits taken by conditional UPDATEs; hold, redeem, release
- queries.py     the console's lists; summary.py what a promotion does, in words
- code_jobs.py   a batch of generated codes as a job with progress
- tasks.py       the code batch job's task, the periodic release of expired holds

Conditions and actions are typed rows (`kind` + JSON `params` validated per kind by rules.py)
rather than columns or one free-form JSON blob: one row is one small form in the console
builder (added and removed with htmx), new kinds need no migration, and every row is
re-validated when compiled, so the JSON is never trusted as stored.

Pricing sits above this package: commerce.pricing.promotions adapts the engine to the
pipeline's producer interface (adjustments and notes), so nothing here imports pricing.
"""

from commerce.promotions import tasks as _tasks  # noqa: F401  (registers Celery tasks)
