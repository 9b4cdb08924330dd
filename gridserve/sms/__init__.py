"""Text messages for outreach campaigns: staggered sending plans and carrier length rules.

Pure Python, no Flask and no database:

- :mod:`gridserve.sms.rotation` turns a rotation plan (ordered senders, start day, window,
  rounds, policy) into time slots and the audit events that explain them;
- :mod:`gridserve.sms.text` measures and splits texts the way carriers count them, and adds
  the 【签名】 prefix and the unsubscribe suffix (回T退订).
"""
