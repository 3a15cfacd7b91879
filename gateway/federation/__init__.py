"""Across the continuum: the other places (members) that serve a service, and delegation to them.

`members` resolves a service's members from its definition (OSCAR's ``replicas``, v4
``federation.members`` and ``clusters``); `client` talks to a member (its token, its load, a
request); `delegator` picks a member by the service's policy, skipping failing ones for a while.
"""

from __future__ import annotations

from gateway.federation.client import (
    DELEGATED_FROM,
    DELEGATED_JOB,
    SERVED_BY,
    MemberClient,
    MemberFailed,
)
from gateway.federation.delegator import Delegator, MemberAnswer, state_here
from gateway.federation.members import Member, Policy, has_members, members_of, policy_of

__all__ = [
    "DELEGATED_FROM",
    "DELEGATED_JOB",
    "SERVED_BY",
    "Delegator",
    "Member",
    "MemberAnswer",
    "MemberClient",
    "MemberFailed",
    "Policy",
    "has_members",
    "members_of",
    "policy_of",
    "state_here",
]
