"""Open files for a campaign's sockets: the concurrency must fit the process's limit.

Each sequence in flight holds a socket, and a campaign that measures cooperative experiments
beside others may have ``--spider-concurrency`` in flight on threads and as many again on the
hub. Past the open-file limit a socket cannot be made, and the target would read as broken
or offline when it was this process that could not connect. Many systems start processes with
a soft limit of 1,024 and let them raise it up to a much higher hard limit; :func:`fit`
raises it as far as the concurrency may need, and where the hard limit cannot hold even one
socket per slot it gives the concurrency that fits, which the plugin then runs with (and says
so).
"""

from __future__ import annotations

import sys

#: Files a measuring process holds besides its sockets in flight: pytest's and xdist's
#: streams, the output, the hub's epoll and its wake-up pair, libcurl's own.
RESERVE = 64


def needed(concurrency: int) -> int:
    """Open files a process may need at ``concurrency``: a socket per sequence on threads,
    as many on the hub, and the :data:`RESERVE`."""
    return 2 * concurrency + RESERVE


def fit(concurrency: int) -> int:
    """Raise the soft open-file limit to what ``concurrency`` may need (never lower it, never
    past the hard limit); return ``concurrency``, or, where the limit cannot hold even one
    socket per slot (a campaign on threads or on the hub alone), the most that it can."""
    if sys.platform == "win32":  # no RLIMIT_NOFILE: sockets are not counted against one
        return concurrency
    import resource

    want = needed(concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return concurrency
    raised = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    except (ValueError, OSError):  # a platform that refuses (macOS caps at OPEN_MAX)
        raised = soft
    return max(1, min(concurrency, raised - RESERVE))
