"""Payment at the till: checkout hands the bill's total to a payment step and records the purchase
only when the step says it is paid.

The interface is one method, `pay(trip, amount_minor) -> PaymentResult`. Two steps ship:
- cash: the till enters what the shopper handed over (`tendered_minor`, default the exact amount);
  less than the amount due is refused, more gives change;
- manual: a colleague confirms a payment taken outside ShopGo (a stand-alone card terminal, a
  voucher) and types its reference.
A card terminal plugs in as another PaymentStep under the method name "card" (`register`); until
one is registered, "card" is refused with a message that says to take cash or a manual payment.
A refused payment raises before anything is written, so the trip stays open and nothing is half done.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from db.models import Trip
from server.errors import ApiError
from shop.money import format_money


@dataclass(frozen=True)
class PaymentResult:
    """What a payment step did: paid or not, how, and what the receipt shows."""

    paid: bool
    method: str
    amount_minor: int
    tendered_minor: int | None = None
    change_minor: int | None = None
    reference: str = ""
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("paid", "message")}


class PaymentStep(Protocol):
    """Takes a trip's payment."""

    def pay(self, trip: Trip, amount_minor: int) -> PaymentResult: ...


@dataclass(frozen=True)
class CashPayment:
    """Cash handed over at the till; change when it is more than the amount due."""

    tendered_minor: int | None = None
    currency: str = "GBP"
    exponent: int = 2

    def pay(self, trip: Trip, amount_minor: int) -> PaymentResult:
        tendered = amount_minor if self.tendered_minor is None else self.tendered_minor
        if tendered < amount_minor:
            due, given = (format_money(v, self.currency, self.exponent) for v in (amount_minor, tendered))
            return PaymentResult(False, "cash", amount_minor, tendered,
                                 message=f"{given} tendered is less than the {due} due; take the rest or another payment")
        return PaymentResult(True, "cash", amount_minor, tendered, tendered - amount_minor)


@dataclass(frozen=True)
class ManualPayment:
    """A payment taken outside ShopGo, confirmed by a colleague with its reference."""

    reference: str = ""

    def pay(self, trip: Trip, amount_minor: int) -> PaymentResult:
        if not self.reference.strip():
            return PaymentResult(False, "manual", amount_minor,
                                 message="a manual payment needs the reference of the payment taken (e.g. the terminal's slip number)")
        return PaymentResult(True, "manual", amount_minor, reference=self.reference.strip()[:64])


Factory = Callable[[Mapping[str, Any], Mapping[str, Any]], PaymentStep]
_STEPS: dict[str, Factory] = {
    "cash": lambda details, cfg: CashPayment(details.get("tendered_minor"), cfg.get("site", {}).get("currency", "GBP"),
                                             int(cfg.get("site", {}).get("currency_exponent", 2))),
    "manual": lambda details, cfg: ManualPayment(str(details.get("reference") or "")),
}
METHODS = ("cash", "manual", "card")


def register(method: str, factory: Factory) -> None:
    """Plug in a payment step (a card terminal's driver) under a method name."""
    _STEPS[method] = factory


def take_payment(trip: Trip, amount_minor: int, details: Mapping[str, Any] | None,
                 cfg: Mapping[str, Any]) -> PaymentResult:
    """Pay the amount by the method the till chose (cash, exactly, when it chose none); a refused
    payment is a 402 ApiError that says what to do, raised before anything is recorded."""
    details = details or {"method": "cash"}
    method = str(details.get("method", "cash"))
    factory = _STEPS.get(method)
    if factory is None:
        raise ApiError(402, f"no {method} payment step is set up at this store; take cash or a manual payment")
    result = factory(details, cfg).pay(trip, amount_minor)
    if not result.paid:
        raise ApiError(402, result.message or f"the {method} payment was refused; the trip stays open")
    return result
