"""Records: register sellers, ingest orders in batches, read a seller.

``POST /v1/sellers``, ``POST /v1/orders`` and ``POST /v1/tier-history`` take
``{"items": [...]}``, one object per record with the field names of the record contract
(``docs/records.md``); fields added to the contract later (``cancelled_at``,
``disputed_at``, ``membership_tier_at``) may be left out. Values are
checked row by row by the contract, so a bad value rejects its row, not the request: the
answer (200) counts the rows ``accepted`` (new), ``unchanged`` (same content as stored:
nothing written) and ``updated`` (changed content replaced the stored row), names every
rejected row (``rejected_row_numbers``) and lists their problems as ``{"row", "field",
"reason"}`` in row order, at most :data:`MAX_PROBLEMS_SHOWN` of them (``problems``
counts them all; ``row`` is the 1-based position in ``items``; 0 names a whole field).
Only the request's shape is checked up front: more than 10,000 rows is a 413
``batch_too_large`` (counted before any row is read, so a huge batch of junk gets a small
answer); an unknown field name or a
value of an impossible JSON type is a 422 ``invalid_request`` naming its path. Ids follow
the one id pattern and times the one plausible range of the record contract
(``docs/records.md``): a row outside them is a rejected row like any other.
Money is a decimal string (``"1250.00"``) or a number, in the major unit and exact to the
minor unit.

Permissions: ``sellers:write`` (sellers and tier history), ``orders:write``;
``decisions:read`` to read a seller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from access.principal import Principal
from api.deps import SettingsDep, UowDep, require
from api.validation import ID_REGEX
from features.records import MAX_ID_LENGTH, ORDER_FIELDS, SELLER_FIELDS, TIER_HISTORY_FIELDS
from records import ingest as service
from records.errors import BatchTooLarge
from store.clock import utc_now

router = APIRouter(prefix="/v1", tags=["records"])

_DESCRIPTIONS = {spec.name: spec.description for spec in (*SELLER_FIELDS, *ORDER_FIELDS)}

# Loose value types on purpose: the contract checks each value and rejects only its row.
# Strict members, so that a JSON value of another type (a boolean id) is refused as the
# document says instead of being coerced.
Text = StrictStr | StrictInt | None
Number = StrictStr | StrictFloat | StrictInt | None
Flag = StrictBool | StrictStr | StrictInt | None
Timestamp = StrictStr | None


_TIER_DESCRIPTIONS = {spec.name: spec.description for spec in TIER_HISTORY_FIELDS}


def _field(name: str) -> Any:
    return Field(None, description=_DESCRIPTIONS[name])


def _tier_field(name: str) -> Any:
    return Field(None, description=_TIER_DESCRIPTIONS[name])


def _at_most_max_rows(items: Any) -> Any:
    """Refuse a batch over the cap before any row is validated: ``BatchTooLarge`` is not
    a ``ValueError``, so pydantic lets it through to the one error table (413) instead of
    validating, and reporting on, every one of a million junk items first."""
    if isinstance(items, list) and len(items) > service.MAX_BATCH_ROWS:
        raise BatchTooLarge(len(items), service.MAX_BATCH_ROWS)
    return items


#: The ``items`` of a batch: at most ``MAX_BATCH_ROWS``, counted first.
_Capped = BeforeValidator(_at_most_max_rows)


class SellerIn(BaseModel):
    """One seller record (``docs/records.md``)."""

    model_config = ConfigDict(extra="forbid")

    seller_id: Text = _field("seller_id")
    kind: Text = _field("kind")
    registered_at: Timestamp = _field("registered_at")
    region: Text = _field("region")
    industry: Text = _field("industry")
    membership_tier: Text = _field("membership_tier")
    membership_tier_at: Timestamp = _field("membership_tier_at")


class OrderIn(BaseModel):
    """One order record (``docs/records.md``); a later version with the same ``order_id``
    (a refund, a dispute, a new status) replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    order_id: Text = _field("order_id")
    seller_id: Text = _field("seller_id")
    buyer_id: Text = _field("buyer_id")
    created_at: Timestamp = _field("created_at")
    amount: Number = _field("amount")
    currency: Text = _field("currency")
    status: Text = _field("status")
    refunded_amount: Number = _field("refunded_amount")
    refunded_at: Timestamp = _field("refunded_at")
    disputed: Flag = _field("disputed")
    channel: Text = _field("channel")
    buyer_country: Text = _field("buyer_country")
    shipped_at: Timestamp = _field("shipped_at")
    paid_out_at: Timestamp = _field("paid_out_at")
    cancelled_at: Timestamp = _field("cancelled_at")
    disputed_at: Timestamp = _field("disputed_at")


class TierPeriodIn(BaseModel):
    """One period a seller held a membership tier (``docs/records.md``)."""

    model_config = ConfigDict(extra="forbid")

    seller_id: Text = _tier_field("seller_id")
    membership_tier: Text = _tier_field("membership_tier")
    valid_from: Timestamp = _tier_field("valid_from")
    valid_to: Timestamp = _tier_field("valid_to")


class SellerBatch(BaseModel):
    """A batch of seller records."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[SellerIn], _Capped] = Field(
        max_length=service.MAX_BATCH_ROWS, description="At most 10,000 sellers (413 "
        "`batch_too_large` above).")


class OrderBatch(BaseModel):
    """A batch of order records."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[OrderIn], _Capped] = Field(
        max_length=service.MAX_BATCH_ROWS, description="At most 10,000 orders (413 "
        "`batch_too_large` above).")


class TierPeriodBatch(BaseModel):
    """A batch of membership-tier periods."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[TierPeriodIn], _Capped] = Field(
        max_length=service.MAX_BATCH_ROWS, description="At most 10,000 periods (413 "
        "`batch_too_large` above).")


#: Problems listed in a batch's answer: a batch of 10,000 rows with every field wrong
#: would otherwise answer with 140,000 entries. Every rejected row is still named in
#: ``rejected_row_numbers``, and ``problems`` counts them all.
MAX_PROBLEMS_SHOWN = 1_000


class RejectedRowPublic(BaseModel):
    """One problem of a rejected row."""

    row: int = Field(description="1-based position in `items` (0: the whole field).")
    field: str
    reason: str


class IngestResultPublic(BaseModel):
    """What a batch did; `accepted + unchanged + updated + rejected_rows == received`."""

    received: int
    accepted: int = Field(description="New records stored.")
    unchanged: int = Field(description="Records equal to the stored ones (nothing written).")
    updated: int = Field(description="Stored records replaced by a changed version.")
    rejected_rows: int = Field(description="Rows rejected (nothing of them is stored).")
    rejected: list[RejectedRowPublic] = Field(description=(
        f"The problems of the rejected rows in row order: every one, up to "
        f"{MAX_PROBLEMS_SHOWN:,}; `problems` counts them all."))
    problems: int = Field(description="How many problems the rejected rows have in all.")
    rejected_row_numbers: list[int] = Field(description=(
        "Every rejected row's 1-based position, in order (0: a whole field), whether or "
        "not its problems fit in `rejected`."))


class SellerPublic(BaseModel):
    """A registered seller and the as-of time of its feature snapshot."""

    seller_id: str
    kind: str
    registered_at: datetime
    region: str
    industry: str
    membership_tier: str
    membership_tier_at: datetime | None = Field(description="When the marketplace showed "
                                                "the tier (null: not known).")
    stored_at: datetime
    updated_at: datetime
    snapshot_as_of: datetime | None = Field(description="The moment the stored feature "
                                            "snapshot describes (null: none yet).")
    snapshot_orders_seen: int | None = Field(description="Stored orders the snapshot read.")


def _public(result: service.IngestResult) -> IngestResultPublic:
    problems = sorted(result.rejected, key=lambda p: p.row)  # stable: fields keep order
    return IngestResultPublic(
        received=result.received, accepted=result.accepted, unchanged=result.unchanged,
        updated=result.updated, rejected_rows=result.rejected_rows,
        rejected=[RejectedRowPublic(row=p.row, field=p.field, reason=p.reason)
                  for p in problems[:MAX_PROBLEMS_SHOWN]],
        problems=len(problems),
        rejected_row_numbers=sorted({p.row for p in problems}))


@router.post("/sellers", response_model=IngestResultPublic)
def register_sellers(batch: SellerBatch, uow: UowDep, settings: SettingsDep,
                     principal: Annotated[Principal, require("sellers:write")],
                     ) -> IngestResultPublic:
    """Register sellers (idempotent by `seller_id`; a changed record is an update)."""
    rows = [item.model_dump() for item in batch.items]
    return _public(service.register_sellers(uow, rows, now=utc_now(),
                                            timezone=settings.timezone))


@router.post("/orders", response_model=IngestResultPublic)
def ingest_orders(batch: OrderBatch, uow: UowDep, settings: SettingsDep,
                  principal: Annotated[Principal, require("orders:write")],
                  ) -> IngestResultPublic:
    """Ingest orders (idempotent by `order_id`); the sellers' feature snapshots follow."""
    rows = [item.model_dump() for item in batch.items]
    return _public(service.ingest_orders(uow, rows, now=utc_now(),
                                         currencies=settings.currencies,
                                         timezone=settings.timezone))


@router.post("/tier-history", response_model=IngestResultPublic)
def ingest_tier_history(batch: TierPeriodBatch, uow: UowDep, settings: SettingsDep,
                        principal: Annotated[Principal, require("sellers:write")],
                        ) -> IngestResultPublic:
    """Store membership-tier periods (idempotent by `seller_id` and `valid_from`); the
    sellers' feature snapshots follow."""
    rows = [item.model_dump() for item in batch.items]
    return _public(service.ingest_tier_history(uow, rows, now=utc_now(),
                                               timezone=settings.timezone))


@router.get("/sellers/{seller_id}", response_model=SellerPublic)
def read_seller(seller_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                                               pattern=ID_REGEX)],
                uow: UowDep,
                principal: Annotated[Principal, require("decisions:read")]) -> SellerPublic:
    """A registered seller and its snapshot's as-of time; 404 `unknown_seller` (an id
    outside the id pattern: 422, without quoting it)."""
    view = service.get_seller(uow, seller_id)
    return SellerPublic(**{name: getattr(view, name) for name in SellerPublic.model_fields})
