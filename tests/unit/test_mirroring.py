from datetime import timedelta

from sqlmodel import Session

from models.conversations import mark_for_mirror, open_or_reopen_conversation
from models.mirroring import (
    claim_conversation_for_mirror,
    find_conversations_to_mirror,
    finish_mirror,
    release_mirror,
)
from models.types import utcnow
from tests.factories import make_contact, make_line


def _conversation(session: Session):
    conversation, _ = open_or_reopen_conversation(
        session=session, line=make_line(session), contact=make_contact(session), user_id="U1"
    )
    session.commit()
    return conversation


def test_a_claim_is_exclusive_until_released(session: Session) -> None:
    conversation = _conversation(session)
    now = utcnow()
    assert find_conversations_to_mirror(session=session, now=now) == [conversation.id]
    claim = claim_conversation_for_mirror(
        session=session, conversation_id=conversation.id, now=now, lease=timedelta(minutes=1)
    )
    assert claim is not None and not claim.taken_over
    assert (
        claim_conversation_for_mirror(
            session=session, conversation_id=conversation.id, now=now, lease=timedelta(minutes=1)
        )
        is None
    )
    assert find_conversations_to_mirror(session=session, now=now) == []
    # An expired lease (its worker died) can be claimed again, and the claim says so: the
    # dead worker may have posted without recording it.
    later = now + timedelta(minutes=2)
    taken = claim_conversation_for_mirror(
        session=session, conversation_id=conversation.id, now=later, lease=timedelta(minutes=1)
    )
    assert taken is not None and (taken.seq, taken.taken_over) == (claim.seq, True)


def test_work_arriving_during_a_claim_is_not_lost(session: Session) -> None:
    conversation = _conversation(session)
    now = utcnow()
    claim = claim_conversation_for_mirror(
        session=session, conversation_id=conversation.id, now=now, lease=timedelta(minutes=1)
    )
    assert claim is not None
    session.commit()
    mark_for_mirror(conversation)  # e.g. a status callback while the worker posts
    session.add(conversation)
    session.commit()
    assert finish_mirror(session=session, conversation_id=conversation.id, seq=claim.seq) is False
    assert find_conversations_to_mirror(session=session, now=now) == [conversation.id]
    again = claim_conversation_for_mirror(
        session=session, conversation_id=conversation.id, now=now, lease=timedelta(minutes=1)
    )
    assert again is not None and not again.taken_over  # the first was finished, not lost
    assert finish_mirror(session=session, conversation_id=conversation.id, seq=again.seq) is True
    assert find_conversations_to_mirror(session=session, now=now) == []


def test_a_release_can_ask_to_wait(session: Session) -> None:
    conversation = _conversation(session)
    now = utcnow()
    claim_conversation_for_mirror(
        session=session, conversation_id=conversation.id, now=now, lease=timedelta(minutes=1)
    )
    release_mirror(
        session=session, conversation_id=conversation.id, not_before=now + timedelta(seconds=3)
    )
    assert find_conversations_to_mirror(session=session, now=now) == []
    assert find_conversations_to_mirror(session=session, now=now + timedelta(seconds=3)) == [
        conversation.id
    ]
