"""Which subscription owns which reference id, and which ids may not be used again."""

from __future__ import annotations

from ._errors import UnknownSubscriptionError
from ._ids import derive_reference_id, normalize_reference_id
from ._subscription import SubscriptionRecord

__all__ = ["Registry"]


class Registry:
    """Subscriptions by name and by current reference id, plus retired and reserved ids.

    Lookups are case-insensitive. Retired ids (deleted by a reset, an
    unsubscribe or a failure) are remembered, up to ``retired_memory`` of
    them, so that late messages for them count as stale and new ids never
    reuse them. Reserved ids belong to re-creations that are damped.
    """

    def __init__(self, retired_memory: int) -> None:
        self.subs: dict[str, SubscriptionRecord] = {}  # by normalised name
        self.by_ref: dict[str, SubscriptionRecord] = {}  # current ids, exact and normalised
        self._retired: dict[str, None] = {}  # normalised; insertion order = age
        self._reserved: set[str] = set()
        self._limit = retired_memory

    def __contains__(self, norm: object) -> bool:
        """True if the normalised id is in any use (live, retired or reserved)."""
        return isinstance(norm, str) and (
            norm in self.by_ref or norm in self._retired or norm in self._reserved
        )

    def add(self, sub: SubscriptionRecord) -> None:
        self.subs[normalize_reference_id(sub.name)] = sub
        self.register(sub, sub.reference_id)

    def get(self, name: str) -> SubscriptionRecord:
        sub = self.subs.get(normalize_reference_id(name)) if isinstance(name, str) else None
        if sub is None:
            raise UnknownSubscriptionError(str(name))
        return sub

    def lookup(self, ref: str) -> SubscriptionRecord | None:
        """The subscription whose current reference id is ``ref``, if any."""
        sub = self.by_ref.get(ref)
        if sub is None:
            sub = self.by_ref.get(normalize_reference_id(ref))
        return sub

    def is_retired(self, ref: str) -> bool:
        return normalize_reference_id(ref) in self._retired

    def register(self, sub: SubscriptionRecord, ref: str) -> None:
        """Make ``ref`` the subscription's current reference id."""
        sub.reference_id = ref
        self.by_ref[ref] = sub
        self.by_ref[normalize_reference_id(ref)] = sub

    def retire(self, sub: SubscriptionRecord) -> None:
        """Stop routing the subscription's current reference id; never hand it out again."""
        ref = sub.reference_id
        norm = normalize_reference_id(ref)
        if self.by_ref.get(norm) is sub:
            del self.by_ref[norm]
            self.by_ref.pop(ref, None)
        self._remember(norm)

    def _remember(self, norm: str) -> None:
        self._retired[norm] = None
        while len(self._retired) > self._limit:
            del self._retired[next(iter(self._retired))]

    def reserve_next(self, sub: SubscriptionRecord) -> str:
        """Choose the subscription's next reference id (deterministic) and reserve it."""
        ref, counter = derive_reference_id(sub.name, sub.counter, self)
        sub.counter = counter + 1
        sub.next_reference_id = ref
        self._reserved.add(normalize_reference_id(ref))
        return ref

    def take_reserved(self, sub: SubscriptionRecord) -> str:
        """Register the reserved next id as the current one and return it."""
        ref = sub.next_reference_id
        if ref is None:
            raise AssertionError(f"subscription {sub.name!r} has no reserved reference id")
        self._reserved.discard(normalize_reference_id(ref))
        sub.next_reference_id = None
        self.register(sub, ref)
        return ref

    def drop(self, sub: SubscriptionRecord) -> None:
        """Forget the subscription; all its ids count as retired."""
        self.retire(sub)
        if sub.next_reference_id is not None:
            norm = normalize_reference_id(sub.next_reference_id)
            self._reserved.discard(norm)
            self._remember(norm)
            sub.next_reference_id = None
        del self.subs[normalize_reference_id(sub.name)]
