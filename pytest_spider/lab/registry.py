"""Which labs exist on this machine, so that labs side by side never collide and the leftovers
of a crashed one can be found and removed.

One JSON file per lab under ``/run/pytest-spider/labs`` (tmpfs: gone with the namespaces at
reboot), written under an exclusive lock before any namespace is made. An entry whose owner
process is gone is a leftover; so is a lab namespace with no entry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import re
import shutil
import threading
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Final

from pytest_spider.lab import addressing, netns
from pytest_spider.lab.netns import process_start

REGISTRY_DIR: Final = Path("/run/pytest-spider")
_LABS_DIR: Final = REGISTRY_DIR / "labs"
ROLES: Final = ("client", "router", "server")
_NS_NAME: Final = re.compile(r"spl(\d+)-(?:client|router|server|hop\d+|vantage-[a-z][a-z0-9_]*)")
#: Lab work directories are made with this prefix; nothing else is ever deleted.
WORKDIR_PREFIX: Final = "pytest-spider-lab-"


def namespace(lab_id: int, role: str) -> str:
    """Name of the ``role`` namespace of lab ``lab_id``."""
    return f"spl{lab_id}-{role}"


def vantage_namespace(lab_id: int, name: str) -> str:
    """Name of the namespace of lab ``lab_id``'s extra vantage ``name``."""
    return namespace(lab_id, f"vantage-{name}")


def hop_namespace(lab_id: int, hop: int) -> str:
    """Name of the namespace of router ``hop`` of lab ``lab_id``'s chain (all but the router
    that applies the path profiles, which keeps the role ``router``)."""
    return namespace(lab_id, f"hop{hop}")


def namespaces(lab_id: int) -> list[str]:
    """The namespaces of lab ``lab_id`` that exist, its extra vantages' included."""
    return [
        name
        for name in netns.existing()
        if (match := _NS_NAME.fullmatch(name)) and int(match[1]) == lab_id
    ]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One lab as recorded: who owns it and what it holds."""

    lab_id: int
    owner_pid: int
    owner_start: int
    v4_blocks: tuple[str, ...]
    workdir: str

    def owner_alive(self) -> bool:
        """True while the process that made the lab runs (a reused pid does not count)."""
        return process_start(self.owner_pid) == self.owner_start


_THREAD_LOCK: Final = threading.RLock()
_depth = 0


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """The registry lock: an flock between processes, re-entered (not taken again) by the
    thread holding it, as when a signal handler tears labs down while one is being claimed."""
    global _depth
    with _THREAD_LOCK, contextlib.ExitStack() as stack:
        if _depth == 0:
            _LABS_DIR.mkdir(parents=True, exist_ok=True)
            lock = stack.enter_context(open(REGISTRY_DIR / "lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1


def _entries() -> list[Entry]:
    found = []
    for path in sorted(_LABS_DIR.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            raw = json.loads(path.read_text())
            found.append(Entry(**{**raw, "v4_blocks": tuple(raw["v4_blocks"])}))
    return found


def _remove(lab_id: int, workdir: str | None) -> list[str]:
    removed = namespaces(lab_id)
    for name in removed:
        netns.remove(name)
    if workdir and Path(workdir).name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(workdir, ignore_errors=True)
    (_LABS_DIR / f"{lab_id}.json").unlink(missing_ok=True)
    return removed


def _reap_locked() -> list[str]:
    live: set[int] = set()
    removed: list[str] = []
    for entry in _entries():
        if entry.owner_alive():
            live.add(entry.lab_id)
        else:
            removed += _remove(entry.lab_id, entry.workdir)
    for name in netns.existing():
        match = _NS_NAME.fullmatch(name)
        if match and int(match[1]) not in live:
            removed += _remove(int(match[1]), None)
    return removed


def reap() -> list[str]:
    """Remove every leftover lab (dead owner or no entry); return the namespaces removed."""
    with _locked():
        return _reap_locked()


def claim(owner_pid: int, v4_prefix: int, blocks: int, workdir: str) -> Entry:
    """Reserve a lab id and ``blocks`` IPv4 networks of length ``v4_prefix`` for ``owner_pid``."""
    start = process_start(owner_pid)
    if start is None:
        raise ValueError(f"no process {owner_pid}")
    with _locked():
        _reap_locked()
        live = _entries()
        used = {e.lab_id for e in live}
        free = [i for i in range(addressing.MAX_LABS) if i not in used]
        if not free:
            raise RuntimeError(f"{addressing.MAX_LABS} labs exist already")
        taken = [IPv4Network(n) for e in live for n in e.v4_blocks]
        nets = addressing.allocate_v4(v4_prefix, blocks, taken)
        entry = Entry(free[0], owner_pid, start, tuple(str(n) for n in nets), workdir)
        path = _LABS_DIR / f"{entry.lab_id}.json"
        path.write_text(json.dumps(dataclasses.asdict(entry)))
        return entry


def release(entry: Entry) -> None:
    """Remove what is left of lab ``entry`` and forget it."""
    with _locked():
        _remove(entry.lab_id, entry.workdir)
