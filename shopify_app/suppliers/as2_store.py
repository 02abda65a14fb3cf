"""The AS2 ledger over the database for one shop's partner (implements edi_x12.as2_transport.As2Ledger), and partners' endpoint tokens."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from integrations.suppliers.edi_x12.as2_transport import InboxFile
from integrations.suppliers.runtime import SupplierRef

from ..models import utcnow
from .as2_models import As2Endpoint, As2Message


def inbound_file_name(message_id: str) -> str:
    """The file name an inbound message's payload gets in the partner's folders (stable per Message-ID)."""
    return f"as2_{hashlib.sha256(message_id.encode()).hexdigest()[:24]}.x12"


def endpoint_token(session_factory: sessionmaker, owner: SupplierRef) -> str:
    """The partner's inbound URL token (made once per supplier; 256 bits, unguessable)."""
    with session_factory() as session:
        token = session.scalar(select(As2Endpoint.token).where(As2Endpoint.shop_domain == owner.shop_domain, As2Endpoint.supplier_id == owner.supplier_id))
    if token:
        return token
    try:
        with session_factory.begin() as session:
            token = secrets.token_urlsafe(32)
            session.add(As2Endpoint(shop_domain=owner.shop_domain, supplier_id=owner.supplier_id, token=token))
    except IntegrityError:  # made by a concurrent request
        return endpoint_token(session_factory, owner)
    return token


def endpoint_owner(session, token: str) -> SupplierRef | None:
    """The shop and supplier an inbound URL token belongs to."""
    row = session.execute(select(As2Endpoint.shop_domain, As2Endpoint.supplier_id).where(As2Endpoint.token == token)).first()
    return SupplierRef(row.shop_domain, row.supplier_id) if row is not None else None


class DatabaseAs2Ledger:
    """Rows scoped by shop and supplier; each call one short transaction (no network inside)."""

    def __init__(self, session_factory: sessionmaker, owner: SupplierRef):
        self._sessions = session_factory
        self._owner = owner

    def _mine(self, direction: str):
        return (As2Message.shop_domain == self._owner.shop_domain, As2Message.supplier_id == self._owner.supplier_id, As2Message.direction == direction)

    def record_outbound(self, folder: str, file_name: str, message_id: str) -> None:
        """Record our message before it is sent (a resend finds it and keeps it)."""
        with self._sessions() as session:
            if session.scalar(select(As2Message.id).where(*self._mine("out"), As2Message.message_id == message_id)) is not None:
                return
        try:
            with self._sessions.begin() as session:
                session.add(As2Message(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, direction="out", message_id=message_id,
                                       folder=folder, file_name=file_name, status="sending", attempts=0))
        except IntegrityError:
            pass  # recorded by a concurrent send of the same document

    def outbound_status(self, folder: str, file_name: str) -> str | None:
        """The status of our newest message for this file."""
        with self._sessions() as session:
            return session.scalar(select(As2Message.status).where(*self._mine("out"), As2Message.folder == folder, As2Message.file_name == file_name)
                                  .order_by(As2Message.id.desc()).limit(1))

    def note_attempt(self, message_id: str, status: str, mic: str | None, detail: str) -> None:
        """Record one send's outcome; a delivered message stays delivered (a late failure of a resend does not undo it)."""
        with self._sessions.begin() as session:
            session.execute(update(As2Message).where(*self._mine("out"), As2Message.message_id == message_id).values(
                attempts=As2Message.attempts + 1, updated_at=utcnow(), mic=mic, detail=detail,
                status=_keep_delivered(status)))

    def mdn_received(self, message_id: str, delivered: bool, detail: str) -> str | None:
        """An asynchronous MDN for one of our messages: returns the file name it confirms (or fails), None when it is not ours."""
        with self._sessions.begin() as session:
            row = session.scalar(select(As2Message).where(*self._mine("out"), As2Message.message_id == message_id).with_for_update())
            if row is None:
                return None
            if row.status != "delivered":
                row.status = "delivered" if delivered else "failed"
            row.detail, row.updated_at = detail[:500], utcnow()
            return row.file_name

    def outbound_mic(self, message_id: str) -> str | None:
        """The MIC we computed for our message (an asynchronous MDN must return it)."""
        with self._sessions() as session:
            return session.scalar(select(As2Message.mic).where(*self._mine("out"), As2Message.message_id == message_id))

    def seen_inbound(self, message_id: str) -> bool:
        """Whether the partner's message with this Message-ID was received before."""
        with self._sessions() as session:
            return session.scalar(select(As2Message.id).where(*self._mine("in"), As2Message.message_id == message_id)) is not None

    def record_inbound(self, message_id: str, folder: str, payload: bytes, detail: str) -> bool:
        """Keep a verified inbound payload in `folder` for the EDI poll; False when this Message-ID was received already."""
        try:
            with self._sessions.begin() as session:
                session.add(As2Message(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, direction="in", message_id=message_id,
                                       folder=folder, file_name=inbound_file_name(message_id), payload=payload, status="received", detail=detail[:500], attempts=1))
        except IntegrityError:
            return False
        return True

    def inbox(self, folder: str) -> list[InboxFile]:
        """Inbound payloads in `folder`, oldest first."""
        with self._sessions() as session:
            size = func.coalesce(func.length(As2Message.payload), 0)  # the size from the database, not every payload read to measure it
            rows = session.execute(select(As2Message.file_name, size, As2Message.created_at).where(*self._mine("in"), As2Message.folder == folder)
                                   .order_by(As2Message.id))
            return [InboxFile(name, length, created) for name, length, created in rows]

    def payload(self, folder: str, file_name: str) -> bytes | None:
        """One inbound payload."""
        with self._sessions() as session:
            data = session.scalar(select(As2Message.payload).where(*self._mine("in"), As2Message.folder == folder, As2Message.file_name == file_name))
            return bytes(data) if data is not None else None

    def move(self, folder: str, file_name: str, to_folder: str) -> None:
        """File an inbound payload in another folder."""
        with self._sessions.begin() as session:
            session.execute(update(As2Message).where(*self._mine("in"), As2Message.folder == folder, As2Message.file_name == file_name)
                            .values(folder=to_folder, updated_at=utcnow()))


def _keep_delivered(status: str):
    """SQL: leave a delivered row delivered, else take `status`."""
    return case((As2Message.status == "delivered", "delivered"), else_=status)
