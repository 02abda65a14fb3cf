"""Encryption of secrets at rest with MultiFernet: encrypt with the newest key, read with any."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session


class SecretBox:
    """Encrypts and decrypts token strings; keys are newest first."""

    def __init__(self, keys: tuple[str, ...] | list[str]):
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt with the newest key."""
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        """Decrypt with whichever configured key made it; InvalidToken if none did."""
        return self._fernet.decrypt(ciphertext).decode("utf-8")

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(ciphertext)


def rotate_all_tokens(session: Session, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the newest key (shop tokens, supplier credentials and mailboxes, AS2 keys, alert webhook URLs); returns the rows rewritten."""
    from .models import ShopSetting, ShopToken
    from .suppliers.as2_models import As2Identity
    from .suppliers.email_inbox_models import EmailMailbox
    from .suppliers.models import Supplier

    count = 0
    for token in session.scalars(select(ShopToken).with_for_update()):
        token.access_token_enc = box.rotate(token.access_token_enc)
        if token.refresh_token_enc:
            token.refresh_token_enc = box.rotate(token.refresh_token_enc)
        count += 1
    for supplier in session.scalars(select(Supplier).where(Supplier.credentials_enc.is_not(None)).with_for_update()):
        supplier.credentials_enc = box.rotate(supplier.credentials_enc)
        count += 1
    for mailbox in session.scalars(select(EmailMailbox).with_for_update()):
        mailbox.password_enc = box.rotate(mailbox.password_enc)
        count += 1
    for identity in session.scalars(select(As2Identity).with_for_update()):  # shops' AS2 private keys, the previous one too (it still decrypts)
        identity.private_key_enc = box.rotate(identity.private_key_enc)
        if identity.previous_private_key_enc:
            identity.previous_private_key_enc = box.rotate(identity.previous_private_key_enc)
        count += 1
    for row in session.scalars(select(ShopSetting).where(ShopSetting.key == "alert_channels").with_for_update()):
        if (row.value or {}).get("slack_webhook_enc"):
            # A new dict: the JSON column notices assignment, not in-place changes.
            row.value = {**row.value, "slack_webhook_enc": box.rotate(row.value["slack_webhook_enc"].encode()).decode()}
            count += 1
    return count


__all__ = ["SecretBox", "InvalidToken", "rotate_all_tokens"]
