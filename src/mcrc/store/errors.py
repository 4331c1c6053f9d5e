"""Errors of the case store; all are McrcError, so callers catch them beside the engine's own.

StoreError            the database is unusable (unreachable, schema not upgraded, busy too long)
├── StoreNotFound     no such case / user (or not visible to this user)
├── StoreConflict     the case changed since it was read (optimistic locking); nothing overwritten
└── StoreForbidden    the user's role does not allow this action on this object; nothing written
StoreInvalid          a request argument is not acceptable (an InputError, with .problems)
└── StoreNotReady     the request is well formed but the case is not in a state that allows it yet (a diff
                      of a case assessed once, a decision on a case whose current version is not assessed)
"""

from __future__ import annotations

from mcrc.errors import InputError, McrcError


class StoreError(McrcError):
    """The store cannot do what was asked; nothing was written."""


class StoreNotFound(StoreError):
    pass


class StoreConflict(StoreError):
    def __init__(self, case_id: int, expected: int, actual: int):
        self.case_id, self.expected, self.actual = case_id, expected, actual
        super().__init__(
            f"case {case_id} was changed by someone else: you edited version {expected}, the store has version "
            f"{actual}; nothing was overwritten (reload the case and apply your change again)")


class StoreForbidden(StoreError):
    def __init__(self, user: str, role: str, action: str, target: str):
        self.user, self.role, self.action, self.target = user, role, action, target
        super().__init__(f"user {user!r} (role {role}) is not allowed to {action} (on {target}); nothing was written")


class StoreInvalid(InputError):
    headline = "invalid store request"


class StoreNotReady(StoreInvalid):
    """Well-formed, but the case is not ready for it (the API answers 409, not 422)."""

    headline = "the case is not ready for this request"
