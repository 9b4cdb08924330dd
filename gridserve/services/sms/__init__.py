"""SMS outreach use cases, one module per rule:

- :mod:`.campaigns` — campaigns, their texts (draft → review → approved) and channels;
- :mod:`.recipients` — recipient lists, audiences and the opt-out register;
- :mod:`.numbers` — phone numbers at rest: the keyed hash and its rotation;
- :mod:`.outbox` — the outbox and its order rule: mandated texts accepted before custom ones
  (materialize, release_custom, claim, record outcomes, stale-claim recovery, requeue);
- :mod:`.dispatch` — the sending loop: rates, the gateway pool, its one commit helper;
- :mod:`.send_window` — when a slot may send (the daily window clipped by the quiet hours);
- :mod:`.inbound` — what gateways send back: delivery receipts, replies, signed callbacks;
- :mod:`.progress` — progress views, what one number got, the daily summary.

The pure rules (rotation arithmetic, text counting, phone parsing, gateway adapters) live in
:mod:`gridserve.sms`, without a database.
"""
