"""Text messages for outreach campaigns: staggered sending plans, carrier length rules, phone
numbers and gateways.

Pure Python, no Flask and no database:

- :mod:`gridserve.sms.rotation` turns a rotation plan (ordered senders, start day, window,
  rounds, policy) into time slots and the audit events that explain them;
- :mod:`gridserve.sms.text` measures and splits texts the way carriers count them, and adds
  the 【签名】 prefix and the unsubscribe suffix (回T退订).
- :mod:`gridserve.sms.phones` reads phone numbers (E.164), recipient CSV files and opt-out
  replies;
- :mod:`gridserve.sms.gateways` hands finished texts to carriers (file, HTTP, SMPP adapters)
  and reads their receipts and replies.

The use cases that store and send (outbox, dispatcher, inbound traffic) are in
:mod:`gridserve.services.sms`.
"""
