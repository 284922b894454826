"""Receipts by e-mail: after a paid trip, to members who gave an address and agreed (`email_receipts`).

The message is the printed receipt's text (server/store/receipts.py) in a plain-text e-mail
sent with smtplib to `[email] smtp_host` (STARTTLS and login when configured). Sending is
never part of the checkout's transaction: a mail server that is down loses no sale, the
receipt says why it was not sent, and the till can send it again. A receipt records the
address it went to, so a repeated checkout answer does not send it twice.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Mapping

from server.store.receipts import receipt_lines


class MailError(RuntimeError):
    """The receipt could not be e-mailed; the message says why and what to do."""


def receipt_message(receipt: Mapping[str, Any], site: Mapping[str, Any], sender: str, to: str) -> EmailMessage:
    """The receipt as a plain-text e-mail (monospace layout, as printed)."""
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = f"Your receipt from {site.get('store_name') or 'ShopGo'}"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content("\n".join([*receipt_lines(receipt, site), "",
                               "You get this e-mail because you asked for e-mail receipts. To stop them, ask at",
                               "the till or the customer desk."]))
    return msg


def send_receipt(email: Mapping[str, Any], site: Mapping[str, Any], receipt: Mapping[str, Any], to: str) -> None:
    """Send the receipt to `to` through the [email] SMTP server; MailError when it cannot."""
    host = str(email.get("smtp_host") or "")
    if not host:
        raise MailError("no mail server is configured ([email] smtp_host); the receipt was not e-mailed")
    msg = receipt_message(receipt, site, str(email.get("from_address")), to)
    try:
        with smtplib.SMTP(host, int(email.get("smtp_port", 25)), timeout=10) as smtp:
            if email.get("starttls"):
                smtp.starttls()
            if email.get("username"):
                smtp.login(str(email["username"]), str(email.get("password") or ""))
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the mail server {host} did not take the receipt ({exc}); send it again later") from exc
