"""A small Dockerfile reader for the image tests: stages, instructions, COPY sources, ENV values.

It understands what the project's Dockerfiles use: comments and parser directives, backslash line
continuations, ``FROM [--platform=...] image [AS name]``, flags such as ``COPY --from=stage``, and
the shell and exec (JSON) forms. It is not a full Dockerfile parser (no heredocs, no escape
directive), and fails loudly on what it does not know rather than guessing.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), ``--flag=value`` options and the rest."""

    keyword: str
    flags: dict[str, str]
    args: str
    line: int

    def words(self) -> list[str]:
        """The arguments as words: the JSON array of the exec form, else shell-like words."""
        if self.args.startswith("["):
            words = json.loads(self.args)
            assert isinstance(words, list)
            return [str(w) for w in words]
        return shlex.split(self.args)


@dataclass
class Stage:
    """A build stage: its base (an image or an earlier stage's name) and its instructions."""

    index: int
    base: str
    name: str | None
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's own ENV values (later ones win), quotes removed."""
        values: dict[str, str] = {}
        for instruction in self.of("ENV"):
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                assert sep, f"line {instruction.line}: use ENV key=value, not {word!r}"
                values[key] = value
        return values

    def workdir(self, before: Instruction) -> PurePosixPath:
        """The working directory in effect at ``before`` (for this stage's own WORKDIRs)."""
        path = PurePosixPath("/")
        for instruction in self.instructions:
            if instruction is before:
                break
            if instruction.keyword == "WORKDIR":
                path = path / instruction.args.strip()
        return path


@dataclass
class Dockerfile:
    """A parsed Dockerfile: its stages in order, the last one being the image."""

    path: Path
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, ref: str) -> Stage | None:
        """The stage called ``ref`` (a name or an index), if there is one."""
        for stage in self.stages:
            if stage.name == ref or str(stage.index) == ref:
                return stage
        return None

    def base_image(self, stage: Stage) -> str:
        """The image ``stage`` finally builds on, following ``FROM <earlier stage>``."""
        while (parent := self.stage(stage.base)) is not None and parent.index < stage.index:
            stage = parent
        return stage.base


_FLAG = re.compile(r"--([a-z-]+)=(\S+)\s+")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each instruction, continuations joined, comments dropped."""
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not current:
            start = number
        if raw.endswith("\\"):
            current.append(raw[:-1])
            continue
        current.append(raw)
        lines.append((start, "".join(current).strip()))
        current = []
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def parse(path: Path) -> Dockerfile:
    stages: list[Stage] = []
    for number, line in logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        flags: dict[str, str] = {}
        while match := _FLAG.match(rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"{path}:{number}: unexpected FROM {rest!r}"
            stages.append(Stage(len(stages), words[0], name, flags.get("platform")))
            continue
        if keyword == "ARG" and not stages:
            continue  # a global build argument
        assert stages, f"{path}:{number}: {keyword} before any FROM"
        stages[-1].instructions.append(Instruction(keyword, flags, rest, number))
    assert stages, f"{path}: no FROM"
    return Dockerfile(path, stages)


def copy_sources(instruction: Instruction) -> list[str]:
    """The sources of a COPY or ADD (every word but the destination)."""
    words = instruction.words()
    assert len(words) >= 2, f"line {instruction.line}: COPY needs a source and a destination"
    return words[:-1]


def dockerignore_patterns(path: Path) -> list[str]:
    """The patterns of a .dockerignore file, in order (``!`` marks an exception)."""
    patterns = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + "$")


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``relative`` out (the path or one of its parents matches;
    the last matching pattern decides, as Docker does)."""
    parts = PurePosixPath(relative.strip("/")).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.match(candidate) for candidate in candidates):
            result = not negate
    return result
