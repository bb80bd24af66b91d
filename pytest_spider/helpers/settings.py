"""Process-wide helper settings, set once from the pytest options before measuring starts.

Helpers keep PATHspider's call signatures, so run-wide choices (certificate checks, how much
of a body to keep) cannot travel as arguments; they live here instead.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class HelperSettings:
    """Choices that apply to every connection a helper makes."""

    #: Check TLS certificates (PATHspider does not).
    tls_verify: bool = False
    #: CA bundle for the check; None means the system's.
    ca_file: str | None = None
    #: Bytes of the response body kept in a record; the transfer stops after that.
    max_body: int = 4096
    user_agent: str = "pytest-spider (A/B path transparency measurement)"


#: The settings in force; :func:`configure` replaces them.
current = HelperSettings()


def configure(settings: HelperSettings) -> None:
    """Make ``settings`` the ones every helper uses from now on."""
    global current
    current = settings
