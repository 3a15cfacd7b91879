"""Talking to a member: its service token (fetched with Basic, cached), its load (cached) and
one request.

An ``oscar`` member with credentials gets its service's token as OSCAR does it: ``GET
/system/services/<name>`` with HTTP Basic, the ``token`` field of the answer; the token is kept
until the member refuses it (then fetched again, and the request sent once more). Its load
comes from ``GET /system/status`` (jobs waiting or running, free cpu), kept for
``delegation_status_ttl`` seconds. Every delegated request carries ``X-Delegated-From`` (the hop
header: it is never delegated again) and the member's own ``headers``. aiohttp's exceptions
become `MemberFailed` here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from gateway.config import Settings
from gateway.federation.members import Member
from gateway.proxy import forwarded_headers

JOB_ID = "X-Job-Id"  # this project's gateway names the job a POST /job/{service} made
DELEGATED_FROM = "X-Delegated-From"
DELEGATED_JOB = "X-Delegated-Job-ID"
SERVED_BY = "X-Served-By"


class MemberFailed(Exception):
    """A member did not take a request (unreachable, refused, busy or broken)."""


@dataclass(frozen=True, slots=True)
class MemberAnswer:
    """What a member answered, which member it was, and the job it made (``X-Job-Id``)."""

    status: int
    body: bytes
    headers: dict[str, str]
    member: Member
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class Load:
    """A member's load from its ``/system/status``: lower sorts first."""

    active_jobs: int
    cpu_free: int

    def key(self) -> tuple[int, int]:
        return (self.active_jobs, -self.cpu_free)


UNKNOWN_LOAD = Load(active_jobs=2**31, cpu_free=0)


class MemberClient:
    """HTTP to members (one pooled session per gateway process)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[tuple[str, str], str | None] = {}
        self._loads: dict[str, tuple[float, Load]] = {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            skip_auto_headers=("Content-Type",),  # a body goes as it came, typed or not
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._settings.upstream_connect_timeout
            ),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        member: Member,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
        hop: bool = True,
    ) -> MemberAnswer:
        """One request to ``member`` (``path`` on its base URL, query included); ``hop``: it
        is delegated (the member must not delegate it again)."""
        sent = {**dict(member.headers), **headers}
        if hop:
            sent[DELEGATED_FROM] = self.origin
        for fresh in (False, True):
            token = await self.token(member)
            if token:
                sent["Authorization"] = f"Bearer {token}"
            status, payload, answered = await self._request(
                member, method, path, body=body, headers=sent, timeout=timeout
            )
            if status not in (401, 403) or not token or fresh:
                break
            self.forget_token(member)  # rotated there: fetched again
        passed = forwarded_headers(answered)
        return MemberAnswer(status, payload, passed, member, answered.get(JOB_ID))

    @property
    def origin(self) -> str:
        """What this gateway calls itself to members (its cluster id)."""
        return self._settings.cluster_id or "gateway"

    async def load(self, member: Member) -> Load:
        """The member's load (cached); `UNKNOWN_LOAD` when it does not tell."""
        cached = self._loads.get(member.base_url)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._settings.delegation_status_ttl:
            return cached[1]
        load = UNKNOWN_LOAD
        if member.kind == "oscar":
            try:
                status, payload, _ = await self._request(
                    member, "GET", "/system/status", headers=self._basic(member), timeout=5.0
                )
                if status == 200:
                    load = _load(orjson.loads(payload))
            except (MemberFailed, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
        self._loads[member.base_url] = (now, load)
        return load

    async def system_config(self, member: Member) -> dict[str, object]:
        """The member's ``GET /system/config`` (Basic with its cluster's credentials), as OSCAR
        fetches a delegating cluster's storage credentials."""
        status, payload, _ = await self._request(
            member, "GET", "/system/config", headers=self._basic(member),
            timeout=self._settings.delegation_timeout,
        )  # fmt: skip
        if status != 200:
            raise MemberFailed(f"its GET /system/config answered {status}")
        try:
            config = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise MemberFailed("its /system/config is not JSON") from None
        if not isinstance(config, dict):
            raise MemberFailed("its /system/config is not a JSON object")
        return config

    def forget_token(self, member: Member) -> None:
        """The member refused its token (rotated there): the next `token` fetches it again."""
        self._tokens.pop((member.base_url, member.service), None)

    async def token(self, member: Member) -> str | None:
        """The member's service token (fetched once with Basic, kept); None: it needs none."""
        if member.kind != "oscar" or member.user is None:
            return None
        key = (member.base_url, member.service)
        if key in self._tokens:
            return self._tokens[key]
        status, payload, _ = await self._request(
            member, "GET", f"/system/services/{member.service}", headers=self._basic(member),
            timeout=self._settings.delegation_timeout,
        )  # fmt: skip
        if status != 200:
            raise MemberFailed(f"its GET /system/services/{member.service} answered {status}")
        try:
            token = orjson.loads(payload).get("token")
        except (orjson.JSONDecodeError, AttributeError):
            raise MemberFailed("its service description is not JSON") from None
        self._tokens[key] = str(token) if token else None
        return self._tokens[key]

    @staticmethod
    def _basic(member: Member) -> dict[str, str]:
        if member.user is None:
            return {}
        auth = aiohttp.BasicAuth(member.user, member.password or "")
        return {"Authorization": auth.encode()}

    async def _request(
        self,
        member: Member,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        assert self._session is not None, "MemberClient.start() was not called"
        try:
            async with self._session.request(
                method,
                member.base_url + path,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                ssl=member.ssl_verify,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                return response.status, await response.read(), response.headers
        except TimeoutError:
            raise MemberFailed("it did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise MemberFailed(f"{type(exc).__name__}: {exc}") from None


def _load(status: Mapping[str, object]) -> Load:
    oscar = status.get("OSCAR")
    jobs = oscar.get("jobsCount", {}) if isinstance(oscar, Mapping) else {}
    active = int(jobs.get("active", 0)) if isinstance(jobs, Mapping) else 0
    return Load(active_jobs=active, cpu_free=int(str(status.get("cpuFreeTotal", 0))))
