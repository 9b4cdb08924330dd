"""The case wing's phone numbers under ``gridserve keys rotate``.

Two columns hold keyed hashes of reporters' numbers, made with the one SMS hash key
(:mod:`gridserve.services.sms.numbers`): ``tasks.reporter_phone_hash`` (beside the encrypted
``reporter_phone_enc``) and ``case_feedback.phone_hash`` (the number a feedback text went to,
which a reply 1/2/3 is matched by). A rotation re-hashes both with the new key in the
rotation's transaction, while the hash key is locked (:func:`numbers.rotation`):

- a reporter's number is decrypted, re-encrypted with the newest data key and hashed with the
  new key (its E.164 form for a mobile, :func:`intake.e164`), as intake made it;
- ``case_feedback`` keeps no number of its own. Its number is one of the reporters' of the
  case and of the cases merged into it (:func:`intake.merged_ids`) — or the text's own
  outbox row (``message_id``) while it is kept: the candidate whose hash under the old key is
  the stored hash is hashed with the new key. A row none matches (its reporter's number was
  erased meanwhile) can never be matched again: its hash is cleared (counted ``unmatched``).
  So a reply from the reporter's number still rates the case after the rotation.

Neither record changes for its readers: no version, change number or ``updated_at`` moves.
No commits here: the command's transaction holds everything or nothing.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from gridserve import crypto
from gridserve.db import batches
from gridserve.extensions import db
from gridserve.models import CaseFeedback, SmsMessage, Task
from gridserve.services.cases import intake
from gridserve.services.sms.numbers import Hasher


def rehash_all(old: Hasher | None, new: Hasher, batch_size: int = 500) -> dict[str, int]:
    """Re-hash (and re-encrypt) the case wing's numbers with ``new``; ``old``: the key the
    stored hashes were made with (:func:`gridserve.services.sms.numbers.rotation`). Raises
    :class:`gridserve.crypto.DecryptionError` naming the row that cannot be decrypted (the
    caller rolls back). Returns rows rewritten per table, and ``case_feedback_unmatched``."""
    counts = {"tasks": _reporters(new, batch_size)}
    counts["case_feedback"], counts["case_feedback_unmatched"] = _feedback(old, new, batch_size)
    return counts


def _decrypt(table: str, row_id: int, token: bytes | None) -> str:
    try:
        return crypto.decrypt(token) or ""
    except crypto.DecryptionError as exc:
        raise crypto.DecryptionError(
            f"{table} row {row_id} cannot be decrypted with any key of the ring"
        ) from exc


def _reporters(new: Hasher, batch_size: int) -> int:
    table = Task.__table__
    done = 0
    for rows in batches(table, table.c.reporter_phone_enc, size=batch_size,
                        where=table.c.reporter_phone_enc.is_not(None)):  # fmt: skip
        values = []
        for row_id, token in rows:
            phone = _decrypt("tasks", row_id, token)
            values.append({"b_id": row_id, "b_enc": crypto.encrypt(phone),
                           "b_hash": new(intake.e164(phone)) if phone else None})  # fmt: skip
        db.session.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(
                reporter_phone_enc=bindparam("b_enc"),
                reporter_phone_hash=bindparam("b_hash"),
                updated_at=table.c.updated_at,  # the record itself is unchanged
            ),
            values,
        )
        done += len(values)
    return done


def _candidates(task_id: int, message_id: int | None) -> list[str]:
    """The numbers a feedback row of ``task_id`` may have gone to (E.164 for mobiles)."""
    found: list[str] = []
    if message_id is not None:
        token = db.session.scalar(select(SmsMessage.phone_enc).where(SmsMessage.id == message_id))
        if token:  # empty once anonymised by retention
            found.append(_decrypt("sms_messages", message_id, token))
    tokens = db.session.execute(
        select(Task.id, Task.reporter_phone_enc).where(
            Task.id.in_(intake.merged_ids(task_id)), Task.reporter_phone_enc.is_not(None)
        )
    ).all()
    found += [intake.e164(_decrypt("tasks", i, t)) for i, t in tokens]
    return [p for p in dict.fromkeys(found) if p]


def _feedback(old: Hasher | None, new: Hasher, batch_size: int) -> tuple[int, int]:
    table = CaseFeedback.__table__
    done = unmatched = 0
    for rows in batches(table, table.c.task_id, table.c.message_id, table.c.phone_hash,
                        size=batch_size, where=table.c.phone_hash.is_not(None)):  # fmt: skip
        values = []
        for row_id, task_id, message_id, stored in rows:
            candidates = _candidates(task_id, message_id)
            if old is not None:
                phone = next((p for p in candidates if old(p) == stored), None)
            else:  # no key recorded (no hash was ever made with one): the only number there is
                phone = candidates[0] if len(candidates) == 1 else None
            if phone is None:
                unmatched += 1
                same_key = old is not None and old.key_id == new.key_id
                values.append({"b_id": row_id, "b_hash": stored if same_key else None})
            else:
                values.append({"b_id": row_id, "b_hash": new(phone)})
        db.session.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(phone_hash=bindparam("b_hash")),
            values,
        )
        done += len(values)
    return done, unmatched
