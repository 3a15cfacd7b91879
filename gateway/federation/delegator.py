"""Delegation: send a request a service cannot take here to one of its members.

Members are tried in the service's policy order: ``static`` by priority, ``random`` shuffled,
``load-based`` by the members' cached ``/system/status`` (fewest jobs waiting or running, then
most free cpu). A member that is unreachable or answers 429 or 5xx is skipped for
``delegation_cooldown`` seconds for that service (`Breaker`) and the next one is tried; any
other answer (a 4xx is the input's fault, the same anywhere) is the answer. When no member
takes the request, `Unavailable`. A request that carries ``X-Delegated-From`` was delegated to
us: it is never delegated again, so two gateways that list each other cannot loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from gateway.backends.base import State
from gateway.config import Settings
from gateway.errors import InvalidDefinition, ServiceNotFound, Unavailable
from gateway.federation.breaker import Breaker
from gateway.federation.client import DELEGATED_FROM, MemberAnswer, MemberClient, MemberFailed
from gateway.federation.members import Member, Policy, has_members, members_of, policy_of
from gateway.metrics import GatewayMetrics
from gateway.registry import Entry
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.federation")

__all__ = ["Delegator", "MemberAnswer", "state_here"]
T = TypeVar("T")


def state_here(entry: Entry) -> State:
    """The service's state on its backend here (registered, not deployed yet: starting)."""
    try:
        return entry.backend.status(entry.spec.name).state
    except ServiceNotFound:
        return "starting"


class Delegator:
    """Chooses members and sends them requests (one per gateway process)."""

    def __init__(
        self,
        settings: Settings,
        client: MemberClient | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self.client = client or MemberClient(settings)
        self.breaker = Breaker(settings.delegation_cooldown)
        self._resolved: dict[str, _Resolved] = {}

    async def start(self) -> None:
        await self.client.start()

    async def aclose(self) -> None:
        await self.client.aclose()

    def delegable(self, spec: ServiceSpec, headers: Mapping[str, str]) -> bool:
        """Whether a request may go to a member: the service has some, and the request was not
        itself delegated."""
        return has_members(spec) and DELEGATED_FROM not in headers

    def members(self, spec: ServiceSpec) -> tuple[Member, ...]:
        """The service's members (resolved once per definition)."""
        return self._resolve(spec).members

    def _resolve(self, spec: ServiceSpec) -> _Resolved:
        resolved = self._resolved.get(spec.name)
        if resolved is None or resolved.spec is not spec:
            try:
                members = members_of(spec, self._settings.cluster_id)
                resolved = _Resolved(spec, members, policy_of(spec))
            except InvalidDefinition as exc:  # the operator's mistake: said once, answered 503
                log.error("%s: no request or job of it is delegated", exc.message)
                resolved = _Resolved(spec, (), "static", exc.message)
            self._resolved[spec.name] = resolved
        return resolved

    async def order(self, spec: ServiceSpec) -> list[Member]:
        """The members to try, in the policy's order, without those the breaker holds off."""
        resolved = self._resolve(spec)
        if resolved.problem is not None:
            raise Unavailable(
                f"service {spec.name!r} cannot take the request here, and its members are "
                f"misdeclared: {resolved.problem}"
            )
        members = [m for m in resolved.members if self.breaker.allows(_key(m))]
        policy = resolved.policy
        if policy == "random":
            random.shuffle(members)
        elif policy == "load-based" and len(members) > 1:
            loads = await asyncio.gather(*(self.client.load(m) for m in members))
            ranked = sorted(zip(members, loads, strict=True), key=lambda pair: pair[1].key())
            members = [member for member, _ in ranked]
        return members

    async def send(
        self,
        spec: ServiceSpec,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None = None,
        only_success: bool = False,
    ) -> MemberAnswer:
        """The first member's answer that is not a failure; ``path`` names the service as
        ``{service}`` (each member's name for it goes there). ``only_success``: any answer but a
        2xx is a failure (a job that a member does not take)."""

        async def one(member: Member) -> MemberAnswer:
            answer = await self.client.send(
                member,
                method,
                path.replace("{service}", quote(member.service, safe="")),
                body=body,
                headers=headers,
                timeout=timeout or self._settings.upstream_timeout,
            )
            if not ((200 <= answer.status < 300) if only_success else _taken(answer.status)):
                raise MemberFailed(f"it answered {answer.status}")
            return answer

        return await self.first(spec, one)

    async def first(
        self,
        spec: ServiceSpec,
        attempt: Callable[[Member], Awaitable[T]],
        usable: Callable[[Member], bool] = lambda member: True,
    ) -> T:
        """What `attempt` returns for the first member (in the policy's order, of those
        `usable`) that does not fail (`MemberFailed`: held off for a while, the next tried)."""
        tried: list[str] = []
        for member in await self.order(spec):
            if not usable(member):
                continue
            try:
                result = await attempt(member)
            except MemberFailed as exc:
                log.warning(
                    "service %s: member %s failed (%s); skipped for %.0f s",
                    spec.name, member.name, exc, self._settings.delegation_cooldown,
                )  # fmt: skip
                self.breaker.failed(_key(member))
                self._count(spec, member, "failed")
                tried.append(member.name)
                continue
            self.breaker.succeeded(_key(member))
            self._count(spec, member, "taken")
            log.info("service %s: delegated to member %s", spec.name, member.name)
            return result
        raise Unavailable(
            f"service {spec.name!r} cannot take the request here, and no member took it"
            + (f" (tried: {', '.join(tried)})" if tried else " (no member to try now)"),
            retry_after=1,
        )

    def _count(self, spec: ServiceSpec, member: Member, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.delegations.labels(spec.name, member.name, outcome).inc()


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A definition's members and policy, or what is wrong with them."""

    spec: ServiceSpec
    members: tuple[Member, ...]
    policy: Policy
    problem: str | None = None


def _taken(status: int) -> bool:
    return status != 429 and status < 500


def _key(member: Member) -> str:
    """What the breaker holds off: one service at one member."""
    return f"{member.name}/{member.service}"
