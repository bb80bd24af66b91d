"""Command-line options and ini keys, and the typed settings read from them.

Every option lives in pytest's ``spider`` help group and has an ini key of the same name
(``--spider-timeout=2`` and ``spider_timeout = 2`` are the same setting; the command line
wins). :class:`SpiderSettings` is what the rest of the plugin reads, never raw options.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal

import pytest

from pytest_spider.helpers.dns import parse_server
from pytest_spider.locate import Bounds
from pytest_spider.schema import DEFAULT_FAIL_ON, DEFAULT_SKIP_ON

#: PATHspider's timeout: 5 s per connection.
DEFAULT_TIMEOUT = 5.0
#: Sequences in flight per process. PATHspider's 100 workers leave its CPU idle on real
#: paths: 100 dead targets at 2 x 5 s hold every slot for 10 s. Threads start with the work,
#: so a small run starts only as many as it has sequences; the open-file limit is raised to
#: fit (``openfiles``). More slots pay where many targets are dead (a dead target holds its
#: slot through its timeouts at no cost but a socket): 10,000 targets, 10 % dead at 5 s, took
#: 27.2 s with 500 and 20.4 s with 1,000. They cost where all answer: 100,000 under -n 2
#: took 128.7 s with 500 and 151.3 s with 1,000.
DEFAULT_CONCURRENCY = 500
#: Unreported sequences held per sequence in flight and trial, unless --spider-lookahead says
#: (the engine tops them up once half are reported, so never fewer than twice the slots):
#: enough to keep every slot busy while dead targets time out and items are reported
#: finished-first; more only holds finished results in memory while pytest reports (at
#: 100,000 targets under -n 2: 724 MiB for the tree with 4, 772-783 MiB with 20).
LOOKAHEAD_PER_SLOT = 4
#: Upper bounds: a value past them is a typo, and would make every item fail or the run
#: exhaust threads or memory (libcurl's timeouts are C longs of milliseconds).
MAX_TIMEOUT = 3600.0
MAX_CONCURRENCY = 10_000
MAX_LOOKAHEAD = 10_000_000
MAX_BODY = 1 << 30
MAX_RATE = 1_000_000.0
#: Trials per target x experiment (``--spider-trials``), and the longest gap between two.
MAX_TRIALS = 100
MAX_TRIAL_GAP = 86_400.0
#: --spider-locate's bounds: TTLs, sends of each probe per TTL, seconds per answer (below the
#: 1 s after which Linux would send a probe's SYN again) and seconds per target.
_LOCATE = Bounds()
MAX_LOCATE_TTL = 255
MAX_LOCATE_PROBES = 10
MIN_LOCATE_WAIT = 0.01
MAX_LOCATE_WAIT = 0.9
MAX_LOCATE_BUDGET = 600.0
#: A DSCP codepoint is six bits.
MAX_CODEPOINT = 63

IniType = Literal["string", "linelist", "paths", "bool"]


@dataclasses.dataclass(frozen=True)
class _Option:
    flag: str
    help: str
    ini_type: IniType = "string"
    metavar: str | None = None
    repeatable: bool = False
    default: Any = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


_OPTIONS = (
    _Option(
        "--spider-targets",
        "target list (ndjson, CSV, plain lines; '-' is stdin); "
        "repeatable. Measuring starts when at least one is given.",
        "paths",
        "PATH",
        True,
    ),
    _Option(
        "--spider-experiment",
        "run an installed experiment by name (entry-point group "
        "pytest_spider.experiments, e.g. h2) besides any collected from paths; repeatable.",
        "linelist",
        "NAME",
        True,
    ),
    _Option(
        "--spider-exclude",
        "never contact targets in these networks: a file with one CIDR "
        "per line (zmap blocklist format); excluded targets are reported as skipped. "
        "Repeatable.",
        "paths",
        "FILE",
        True,
    ),
    _Option(
        "--spider-timeout",
        f"seconds per connection (default {DEFAULT_TIMEOUT:g}, at most {MAX_TIMEOUT:g}).",
        metavar="SECONDS",
        default=DEFAULT_TIMEOUT,
    ),
    _Option(
        "--spider-trials",
        "measure each target x experiment N times (1-100, default 1), still one item and one "
        "record: its conditions are those that held in every trial, plus "
        "<experiment>.trials.consistent or .inconsistent.",
        metavar="N",
        default=1,
    ),
    _Option(
        "--spider-trial-gap",
        "seconds from the end of one trial of a target to the start of its next "
        f"(default: --spider-timeout; at most {MAX_TRIAL_GAP:g}).",
        metavar="SECONDS",
    ),
    _Option(
        "--spider-connect",
        "connection mode for experiments that have several "
        "(h2: http|https; default: each experiment's first mode).",
        metavar="MODE",
    ),
    _Option(
        "--spider-concurrency",
        f"connection sequences in flight per process (default {DEFAULT_CONCURRENCY}); as many "
        "again may run on the hub when cooperative and other experiments are measured together.",
        metavar="N",
        default=DEFAULT_CONCURRENCY,
    ),
    _Option(
        "--spider-lookahead",
        "most sequences measured ahead of the item being reported (default "
        f"{LOOKAHEAD_PER_SLOT} x --spider-concurrency x --spider-trials); bounds memory.",
        metavar="N",
    ),
    _Option(
        "--spider-output",
        "write one PATHspider-compatible ndjson record per target x "
        "experiment to FILE, as items finish.",
        metavar="FILE",
    ),
    _Option(
        "--spider-resume",
        "continue the campaign in --spider-output: targets it already has records of are "
        "not measured again; new records are appended (a torn last line is cut off first).",
        "bool",
        default=False,
    ),
    _Option(
        "--spider-fail-on",
        "fail a target whose conditions match GLOB (repeatable; "
        f"default {' '.join(DEFAULT_FAIL_ON)}).",
        "linelist",
        "GLOB",
        True,
        DEFAULT_FAIL_ON,
    ),
    _Option(
        "--spider-skip-on",
        "skip a target whose conditions match GLOB (repeatable; "
        f"default {' '.join(DEFAULT_SKIP_ON)}).",
        "linelist",
        "GLOB",
        True,
        DEFAULT_SKIP_ON,
    ),
    _Option(
        "--spider-keep-bad-targets",
        "report bad target lines and measure the rest, instead of stopping with a usage error.",
        "bool",
        default=False,
    ),
    _Option(
        "--spider-tls-verify",
        "check TLS certificates (off by default, as in PATHspider).",
        "bool",
        default=False,
    ),
    _Option("--spider-ca-file", "CA bundle for --spider-tls-verify.", metavar="FILE"),
    _Option(
        "--spider-dns-server",
        "DNS server (ADDR or ADDR:PORT, [V6]:PORT) for experiments that resolve names "
        "(dnsresolv); the system resolver is never used.",
        metavar="ADDR",
    ),
    _Option(
        "--spider-vantage",
        "name of the vantage point recorded with every record (default: the xdist worker id "
        "under --dist each, else 'local').",
        metavar="NAME",
    ),
    _Option(
        "--spider-dist",
        "under pytest-xdist: 'share' hands every worker its whole share of targets at the "
        "start so it can measure ahead (default); 'xdist' keeps xdist's own --dist scheduling.",
        metavar="share|xdist",
        default="share",
    ),
    _Option(
        "--spider-rate",
        "start at most N connection sequences per second, all xdist workers together "
        "(default: no limit).",
        metavar="N",
    ),
    _Option(
        "--spider-codepoint",
        "the DSCP codepoint (0-63) the dscp experiment sends in its experimental connection, "
        "as PATHspider's --codepoint (default: the experiment's own, 48, PATHspider's default; "
        "a target's own 'codepoint' field still wins).",
        metavar="N",
    ),
    _Option(
        "--spider-baseline",
        "compare with a previous campaign's ndjson output: fail only on regressions (a fail "
        "glob matches now and did not there); a target that stays failing passes with a note.",
        metavar="FILE",
    ),
    _Option(
        "--spider-report",
        "write a self-contained HTML report of the run's records (needs --spider-output).",
        metavar="FILE",
    ),
    _Option(
        "--spider-protocol",
        "how experiment items run: 'lean' (default) runs each in a protocol that makes the "
        "same reports without fixture setup or capturing, wherever nothing else needs them; "
        "'full' runs every item through pytest's full protocol.",
        metavar="lean|full",
        default="lean",
    ),
    _Option(
        "--spider-driver",
        "what runs the connection sequences: 'auto' (default) runs those of cooperative "
        "experiments (h2, h3, tls: nothing but HTTP transfers) as greenlets on one thread "
        "that drives all their transfers together, and every other one on a thread of its "
        "own; 'threads' gives every sequence a thread.",
        metavar="auto|threads",
        default="auto",
    ),
    _Option(
        "--spider-max-body",
        "bytes of each HTTP response body kept in records; the "
        "transfer stops there (default 4096).",
        metavar="BYTES",
        default=4096,
    ),
    _Option(
        "--spider-locate",
        "for each target whose conditions match a fail glob, find the hop after which the "
        "experimental packet is lost, altered or refused while the baseline one passes "
        "(TTL-limited probes to the target; the record's 'locate').",
        "bool",
        default=False,
    ),
    _Option(
        "--spider-locate-max-ttl",
        f"highest TTL --spider-locate probes with (default {_LOCATE.max_ttl}, at most "
        f"{MAX_LOCATE_TTL}).",
        metavar="N",
        default=_LOCATE.max_ttl,
    ),
    _Option(
        "--spider-locate-probes",
        "times --spider-locate sends each probe at one TTL while it has no answer (default "
        f"{_LOCATE.probes}, at most {MAX_LOCATE_PROBES}).",
        metavar="N",
        default=_LOCATE.probes,
    ),
    _Option(
        "--spider-locate-wait",
        f"seconds --spider-locate waits for each probe's answer (default {_LOCATE.wait:g}, "
        f"{MIN_LOCATE_WAIT:g}-{MAX_LOCATE_WAIT:g}: a TCP probe stays one SYN).",
        metavar="SECONDS",
        default=_LOCATE.wait,
    ),
    _Option(
        "--spider-locate-budget",
        f"seconds --spider-locate may spend on one target (default {_LOCATE.budget:g}, at "
        f"most {MAX_LOCATE_BUDGET:g}).",
        metavar="SECONDS",
        default=_LOCATE.budget,
    ),
    _Option(
        "--spider-metadata",
        "write the campaign's metadata (sessions, options, counts) to FILE "
        "(default: <--spider-output>.meta.json); --spider-resume reads it from there.",
        metavar="FILE",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """Declare every option in the ``spider`` group, each with its ini key."""
    group = parser.getgroup("spider", "pytest-spider: A/B path transparency measurement")
    for opt in _OPTIONS:
        if opt.ini_type == "bool":
            group.addoption(
                opt.flag, action="store_true", default=None, dest=opt.dest, help=opt.help
            )
        else:
            group.addoption(
                opt.flag,
                action="append" if opt.repeatable else "store",
                default=None,
                dest=opt.dest,
                metavar=opt.metavar,
                help=opt.help,
            )
        default = list(opt.default) if isinstance(opt.default, tuple) else opt.default
        if opt.ini_type == "string" and default is not None:
            default = str(default)
        parser.addini(opt.dest, opt.help, type=opt.ini_type, default=default)


def _raw(config: pytest.Config, dest: str) -> Any:
    value = config.getoption(dest)
    return config.getini(dest) if value is None else value


def _number(
    config: pytest.Config, dest: str, kind: Callable[[str], float], low: float, high: float
) -> Any:
    """A number in ``low..high``; NaN and infinities are no numbers here (every connection
    would fail with them), nor is an integer option written as a float."""
    raw = _raw(config, dest)
    flag = "--" + dest.replace("_", "-")
    try:
        value = kind(str(raw).strip())
    except ValueError:
        raise pytest.UsageError(f"{flag}: not a number: {str(raw)[:40]!r}") from None
    if not math.isfinite(value):
        raise pytest.UsageError(f"{flag}: must be a finite number, not {raw!r}")
    if value < low:
        raise pytest.UsageError(f"{flag}: must be at least {_shown(low)}")
    if value > high:
        raise pytest.UsageError(f"{flag}: must be at most {_shown(high)}")
    return value


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _dns_server(config: pytest.Config) -> str | None:
    """``--spider-dns-server`` checked now, not per item: an address (names are never
    resolved) and a port 1-65535. Kept as given, which dnsresolv parses the same way."""
    given = config.getoption("spider_dns_server")
    raw = config.getini("spider_dns_server") if given is None else given
    text = str(raw or "").strip()
    if not text:
        if given is None:
            return None  # neither option nor ini key
        raise pytest.UsageError("--spider-dns-server: empty (give ADDR, ADDR:PORT or [V6]:PORT)")
    try:
        parse_server(text)
    except ValueError as exc:
        raise pytest.UsageError(f"--spider-dns-server: {exc}") from None
    return text


def _choice(config: pytest.Config, dest: str, choices: tuple[str, ...]) -> str:
    value = str(_raw(config, dest))
    if value not in choices:
        flag = "--" + dest.replace("_", "-")
        raise pytest.UsageError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return value


@dataclasses.dataclass(frozen=True)
class SpiderSettings:
    """The resolved spider settings of one pytest run."""

    targets: tuple[str, ...]
    experiments: tuple[str, ...]
    exclude: tuple[str, ...]
    timeout: float
    trials: int
    #: Seconds between two trials of a target (``--spider-timeout`` unless given).
    trial_gap: float
    connect: str | None
    concurrency: int
    lookahead: int
    output: str | None
    resume: bool
    fail_on: tuple[str, ...]
    skip_on: tuple[str, ...]
    keep_bad_targets: bool
    tls_verify: bool
    ca_file: str | None
    max_body: int
    baseline: str | None
    report: str | None
    dns_server: str | None
    vantage: str | None
    dist: str
    rate: float | None
    metadata: str | None
    protocol: str
    #: ``--spider-driver``: ``auto`` (cooperative experiments on the hub) or ``threads``.
    driver: str
    locate: bool
    locate_max_ttl: int
    locate_probes: int
    locate_wait: float
    locate_budget: float
    #: ``--spider-codepoint``: the dscp experiment's codepoint, None for the experiment's own.
    codepoint: int | None

    @property
    def active(self) -> bool:
        """Measuring is on: some target list was given."""
        return bool(self.targets)

    @classmethod
    def from_config(cls, config: pytest.Config) -> SpiderSettings:
        """Read and check every option; bad values are usage errors (exit code 4)."""

        def strings(dest: str) -> tuple[str, ...]:
            return tuple(str(v) for v in (_raw(config, dest) or ()) if str(v).strip())

        def text(dest: str) -> str | None:
            value = _raw(config, dest)
            return str(value) if value not in (None, "") else None

        timeout = _number(config, "spider_timeout", float, 0.001, MAX_TIMEOUT)
        locate_wait = _number(config, "spider_locate_wait", float, MIN_LOCATE_WAIT, MAX_LOCATE_WAIT)
        locate_budget = _number(config, "spider_locate_budget", float, 0.0, MAX_LOCATE_BUDGET)
        if locate_budget < locate_wait:
            raise pytest.UsageError(
                f"--spider-locate-budget: must be at least --spider-locate-wait "
                f"({locate_wait:g} s), or no probe could be sent"
            )
        trials = int(_number(config, "spider_trials", int, 1, MAX_TRIALS))
        concurrency = int(_number(config, "spider_concurrency", int, 1, MAX_CONCURRENCY))
        return cls(
            targets=strings("spider_targets"),
            experiments=strings("spider_experiment"),
            exclude=strings("spider_exclude"),
            timeout=timeout,
            trials=trials,
            trial_gap=(
                _number(config, "spider_trial_gap", float, 0, MAX_TRIAL_GAP)
                if text("spider_trial_gap")
                else timeout
            ),
            connect=text("spider_connect"),
            concurrency=concurrency,
            lookahead=(
                int(_number(config, "spider_lookahead", int, 1, MAX_LOOKAHEAD))
                if text("spider_lookahead")
                else LOOKAHEAD_PER_SLOT * concurrency * trials
            ),
            output=text("spider_output"),
            resume=bool(_raw(config, "spider_resume")),
            fail_on=strings("spider_fail_on"),
            skip_on=strings("spider_skip_on"),
            keep_bad_targets=bool(_raw(config, "spider_keep_bad_targets")),
            tls_verify=bool(_raw(config, "spider_tls_verify")),
            ca_file=text("spider_ca_file"),
            max_body=int(_number(config, "spider_max_body", int, 0, MAX_BODY)),
            baseline=text("spider_baseline"),
            report=text("spider_report"),
            dns_server=_dns_server(config),
            vantage=text("spider_vantage"),
            dist=_choice(config, "spider_dist", ("share", "xdist")),
            rate=(
                _number(config, "spider_rate", float, 0.001, MAX_RATE)
                if text("spider_rate")
                else None
            ),
            metadata=text("spider_metadata"),
            protocol=_choice(config, "spider_protocol", ("lean", "full")),
            driver=_choice(config, "spider_driver", ("auto", "threads")),
            locate=bool(_raw(config, "spider_locate")),
            locate_max_ttl=int(_number(config, "spider_locate_max_ttl", int, 1, MAX_LOCATE_TTL)),
            locate_probes=int(_number(config, "spider_locate_probes", int, 1, MAX_LOCATE_PROBES)),
            locate_wait=locate_wait,
            locate_budget=locate_budget,
            codepoint=(
                int(_number(config, "spider_codepoint", int, 0, MAX_CODEPOINT))
                if text("spider_codepoint")
                else None
            ),
        )
