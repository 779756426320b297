"""Bench: a simulated deployment — does the served hub learn what each user likes? (issue 18, item 8)

Per seed it writes a world (``bench/sim_world.py``: a Chinese library on several topics and content
types, only about half tagged with the topic; users with hidden topic / type tastes, lifecycle stages and
fatigue), serves a fresh hub (``contenthub serve`` on a free loopback port, keys made with
``contenthub keys create``, assets through ``POST /v1/assets/import``, users through ``PUT /v1/users``),
and plays ``--days`` simulated days. Every day a bot asks
``GET /v1/recommendations/users/{id}?channel=wecom_1v1&n=1`` for every reachable user and posts what the
users did with the pick (delivered / open / click / convert, and unsubscribe) through ``POST /v1/events``,
back-dated: simulated day d happens at ``start − (days − d + 1) days``, so the whole run lies in the past and
the last day is yesterday. A day's reactions reach the hub before the next day's requests.

In the same run three baselines play the same world with the same users and common random numbers (the
uniforms deciding a reaction are drawn per seed × day × user × asset): ``random``, ``popularity``
(ε-greedy, ε = 0.1, on the click rate observed so far over all users, shrunk towards the overall rate
by 5 pseudo-sends) and ``oracle`` (knows the hidden
tastes and sends the asset with the highest expected click probability). Every policy obeys the same
rules: one send per user per day, only assets tagged for the channel, no asset sent again to a user
within the re-delivery window. The hub's picks are checked against those rules on the simulated timeline
(the hub's own day and month caps count calendar days of the real "now", which a back-dated run never
fills; so the simulator counts sends per simulated day and month against the hub's cap rule).

Prints JSON on stdout: per policy and day the click rate (clicks per send and per user-day), the topic
match of the picks, the share of picks per content type, the share of the hub's picks carrying each
reason, rule-check counts, and ContentHub's click-rate ratios to each baseline over days 11–20 and 1–3
(mean over seeds with a 90% t interval). One line per seed goes to stderr, with a progress bar per day.

Usage: python bench/simulate.py [--seeds 5] [--seed-start 1] [--days 20] [--users 400] [--assets 250]
       [--workers 4] [--strategy default] [--data-dir DIR] [--keep] [--quick] [--no-hub]
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from scipy import stats
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sim_world import (  # noqa: E402
    CHANNEL,
    TOPICS,
    TYPE_IDS,
    Reaction,
    UserState,
    World,
    click_probs,
    day_uniforms,
    eligible,
    end_of_day,
    make_world,
    react,
)

from contenthub.timeutil import to_iso, utcnow  # noqa: E402

POLICIES = ("contenthub", "random", "popularity", "oracle")
BASELINES = ("random", "popularity", "oracle")
EPSILON = 0.1
POP_PRIOR_SENDS = 5.0
IMPORT_CHUNK = 25
EVENT_BATCH = 5000
WINDOW_DAYS = 30  # the hub's default re-delivery window (Settings.redelivery_window_days)
PickRef = tuple[str | None, float | None]
"""The hub's (recommendation id, propensity) of one of its picks; the baselines have none."""
TIMEZONE = "Asia/Shanghai"  # the hub's default time zone: its caps count calendar days there


# --- the served hub -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(data_dir: Path) -> dict[str, str]:
    """The served hub's environment. The bot asks for a whole day's users in seconds, far above the default
    per-key rate limit (6,000/min): this bench measures what the hub picks, not how it throttles."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CONTENTHUB_DATA_DIR": str(data_dir),
        "CONTENTHUB_RATE_LIMIT_PER_MINUTE": str(10**9),
    }


def create_key(data_dir: Path, role: str) -> str:
    """``contenthub keys create`` — the command an operator runs; the secret is its stdout."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "contenthub.cli",
            "keys",
            "create",
            "--role",
            role,
            "--name",
            f"simulate-{role}",
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        env=hub_env(data_dir),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def serving(data_dir: Path, probe_key: str) -> Iterator[str]:
    """``contenthub serve`` on a free loopback port until the block ends; yields the base URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "contenthub.cli",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--no-access-log",
    ]
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            argv, cwd=ROOT, env=hub_env(data_dir), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited; see {log_path}")
            try:
                if (
                    httpx.get(
                        f"{url}/v1/taxonomy/content_types", timeout=5, headers={"Authorization": f"Bearer {probe_key}"}
                    ).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"the server did not answer within 300 s; see {log_path}")
            time.sleep(0.5)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful stop
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # the session this bench started for its own server
            server.wait()


def check(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json()


# --- bookkeeping per policy -----------------------------------------------------------------------


class Tally:
    """What one policy did on one seed: per-day counts, content-type and reason counts, rule checks."""

    def __init__(self, days: int, users: int) -> None:
        self.users = users
        self.per_day = {
            k: np.zeros(days, dtype=float)
            for k in (
                "sends",
                "opens",
                "clicks",
                "converts",
                "revenue",
                "no_pick",
                "reachable",
                "topic_hit",
                "topic_affinity",
                "unsubscribes",
            )
        }
        self.types: Counter[str] = Counter()
        self.reason_kinds: Counter[str] = Counter()
        self.reason_texts: Counter[str] = Counter()
        self.hub_stages: Counter[str] = Counter()  # the lifecycle stage the hub's answers named
        self.rules = {
            "resend_within_window": 0,
            "off_channel": 0,
            "over_day_cap": 0,
            "over_month_cap": 0,
            "unknown_asset": 0,
            "capped_answers": 0,
            "empty_answers": 0,
            "http_errors": 0,
        }


def reason_pattern(kind: str, detail: str) -> str:
    """A reason's text with what varies per pick masked: titles in 「」, similarity figures, tag lists."""
    text = re.sub(r"「[^」]*」", "「…」", detail)
    text = re.sub(r"\d+\.\d+", "#", text)
    head, sep, _tail = text.partition(": ")
    if sep and " " in head:  # "matches engaged tags: 护眼, 咖啡" → "matches engaged tags: …"
        text = f"{head}: …"
    return f"{kind}: {text}"


def cap_limits(rule: dict[str, Any], day_date: datetime) -> tuple[int | None, int | None]:
    per_month = rule.get("per_month")
    if per_month == -1:
        per_month = calendar.monthrange(day_date.year, day_date.month)[1]
    return rule.get("per_day"), per_month


def record_send(
    world: World, state: UserState, tally: Tally, u: int, a: int, day: int, dates: list[datetime], rule: dict[str, Any]
) -> None:
    """Rule checks for a send about to happen, on the simulated timeline (before ``react`` records it)."""
    if not world.on_channel[a]:
        tally.rules["off_channel"] += 1
    last = state.sent[u].get(a)
    if last is not None and day - last < WINDOW_DAYS:
        tally.rules["resend_within_window"] += 1
    per_day, per_month = cap_limits(rule, dates[day - 1])
    if per_day is not None and state.sends_by_day[u].get(day, 0) + 1 > per_day:
        tally.rules["over_day_cap"] += 1
    if per_month is not None:
        month = (dates[day - 1].year, dates[day - 1].month)
        in_month = sum(n for d, n in state.sends_by_day[u].items() if (dates[d - 1].year, dates[d - 1].month) == month)
        if in_month + 1 > per_month:
            tally.rules["over_month_cap"] += 1
    tally.types[TYPE_IDS[world.ctype[a]]] += 1
    tally.per_day["topic_hit"][day - 1] += world.liked(u, a)
    tally.per_day["topic_affinity"][day - 1] += world.affinity[u, world.topic[a]]


# --- one seed -------------------------------------------------------------------------------------


def baseline_pick(
    name: str,
    world: World,
    state: UserState,
    u: int,
    day: int,
    rng: np.random.Generator,
    pop: tuple[np.ndarray, np.ndarray],
) -> int | None:
    ok = eligible(world, state, u, day, WINDOW_DAYS)
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return None
    if name == "random" or (name == "popularity" and rng.random() < EPSILON):
        return int(rng.choice(cand))
    if name == "popularity":
        clicks, sends = pop
        mean = clicks.sum() / sends.sum() if sends.sum() else 0.0
        # the observed rate, shrunk towards the overall rate by POP_PRIOR_SENDS pseudo-sends: one lucky click
        # on one send does not make an asset "the most clicked"; never-sent assets stand at the overall rate
        rate = (clicks[cand] + POP_PRIOR_SENDS * mean) / (sends[cand] + POP_PRIOR_SENDS)
        best = cand[rate == rate.max()]
        return int(rng.choice(best))
    p_open, p_click = click_probs(world, state, u)
    expected = (p_open * p_click)[cand]
    return int(cand[int(expected.argmax())])


class Bot:
    """The bot's side of the served hub: its HTTP clients and what it saw (latency, errors, event counts)."""

    def __init__(self, url: str, keys: dict[str, str], workers: int, strategy: str) -> None:
        limits = httpx.Limits(max_connections=workers + 2, max_keepalive_connections=workers + 2)
        self.clients = {
            role: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=120, limits=limits)
            for role, secret in keys.items()
        }
        self.pool = ThreadPoolExecutor(max(1, workers))
        self.strategy = strategy
        self.latencies: list[float] = []  # seconds per next-content request, as the bot saw them
        self.http_errors: list[str] = []
        self.event_rejections: list[str] = []
        self.event_counts: Counter[str] = Counter()  # posted / accepted / duplicates / rejected as the hub answered
        self.seconds = 0.0  # time spent waiting for the hub during the simulated days

    def close(self) -> None:
        self.pool.shutdown()
        for c in self.clients.values():
            c.close()

    def import_library(self, world: World, seed: int) -> None:
        """In pieces: each embeds its assets before answering (slow on a loaded box), and a bar shows it."""
        served_types = {e["id"] for e in check(self.clients["admin"].get("/v1/taxonomy/content_types"), "taxonomy")}
        missing = set(TYPE_IDS) - served_types
        if missing:
            raise RuntimeError(f"the hub's taxonomy lacks the content types {sorted(missing)}")
        for i in tqdm(
            range(0, len(world.assets), IMPORT_CHUNK),
            desc=f"seed {seed} import",
            unit="chunk",
            file=sys.stderr,
            leave=False,
        ):
            chunk = world.assets[i : i + IMPORT_CHUNK]
            lines = "\n".join(json.dumps(a, ensure_ascii=False) for a in chunk).encode()
            report = check(
                self.clients["editor"].post(
                    "/v1/assets/import", content=lines, timeout=900, headers={"Content-Type": "application/x-ndjson"}
                ),
                "import",
            )
            if report["imported"] != len(chunk):
                raise RuntimeError(f"import: {report}")

    def add_users(self, world: World) -> dict[str, Any]:
        """The users, as an SCRM sync would; returns the hub's cap rule for the channel."""
        for body in world.users:
            check(self.clients["editor"].put("/v1/users", json=body), "PUT /v1/users")
        caps = check(self.clients["editor"].get("/v1/caps"), "caps")
        return next(c for c in caps if c["channel"] == CHANNEL)

    def picks(
        self, world: World, tally: Tally, reach: list[int], day: int, index: dict[str, int]
    ) -> dict[int, tuple[int, PickRef | None]]:
        """Asks the hub for every reachable user; user → (asset index, (recommendation id, propensity)) of the answers with a pick."""
        t0 = time.time()
        answers = list(self.pool.map(lambda u: ask(self.clients["bot"], world.user_ids[u], self.strategy), reach))
        self.seconds += time.time() - t0
        picks: dict[int, tuple[int, PickRef | None]] = {}
        for u, (ans, took, error) in zip(reach, answers, strict=True):
            self.latencies.append(took)
            if ans is None:
                tally.rules["http_errors"] += 1
                self.http_errors.append(f"day {day} {world.user_ids[u]}: {error}")
                continue
            tally.hub_stages[str(ans.get("stage"))] += 1
            if not ans["picks"]:
                tally.rules["capped_answers" if ans.get("capped") else "empty_answers"] += 1
                continue
            pick = ans["picks"][0]
            a = index.get(pick["asset_id"])
            if a is None:
                tally.rules["unknown_asset"] += 1
                continue
            picks[u] = (a, (pick.get("recommendation_id"), pick.get("propensity")))
            reasons = pick.get("reasons", [])
            tally.reason_kinds.update({r["kind"] for r in reasons})
            tally.reason_texts.update({reason_pattern(r["kind"], r["detail"]) for r in reasons})
        return picks

    def post(self, events: list[dict[str, Any]]) -> None:
        t0 = time.time()
        for i in range(0, len(events), EVENT_BATCH):
            batch = events[i : i + EVENT_BATCH]
            resp = self.clients["bot"].post("/v1/events", json={"events": batch})
            body = check(resp, "POST /v1/events") if resp.status_code != 207 else resp.json()
            rejected = body.get("rejected", [])
            self.event_rejections += [r["reason"] for r in rejected][:5]
            self.event_counts.update(
                posted=len(batch), accepted=body["accepted"], duplicates=body["duplicates"], rejected=len(rejected)
            )
        self.seconds += time.time() - t0

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": dict(self.event_counts),
            "http_errors": self.http_errors[:5],
            "event_rejections": self.event_rejections[:10],
        }
        if self.latencies:
            out["request_ms"] = {
                q: round(float(np.percentile(self.latencies, v)) * 1000, 1) for q, v in (("p50", 50), ("p99", 99))
            }
        return out


def play_day(
    world: World,
    state: UserState,
    tally: Tally,
    picks: dict[int, tuple[int, PickRef | None]],
    day: int,
    uni: np.ndarray,
    dates: list[datetime],
    rule: dict[str, Any],
) -> list[tuple[int, int, PickRef | None, Reaction]]:
    """The users react to the day's sends (rule checks first); the day ends. Returns (user, asset, rec id, reaction)."""
    d = day - 1
    tally.per_day["no_pick"][d] = tally.per_day["reachable"][d] - len(picks)
    opened_today: set[int] = set()
    played = []
    for u, (a, ref) in picks.items():
        record_send(world, state, tally, u, a, day, dates, rule)
        r = react(world, state, u, a, day, uni)
        per_day = tally.per_day
        per_day["sends"][d] += 1
        per_day["opens"][d] += r.opened
        per_day["clicks"][d] += r.clicked
        per_day["converts"][d] += r.converted
        per_day["revenue"][d] += r.value
        per_day["unsubscribes"][d] += r.unsubscribed
        if r.opened:
            opened_today.add(u)
        played.append((u, a, ref, r))
    end_of_day(world, state, day, opened_today)
    return played


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.time()
    world = make_world(seed, args.assets, args.users)
    n_users, n_assets, days = len(world.user_ids), len(world.assets), args.days
    start = utcnow()
    stamps = [start - timedelta(days=days - d + 1) for d in range(1, days + 1)]  # simulated day d at stamps[d-1]
    dates = [s.astimezone(ZoneInfo(TIMEZONE)) for s in stamps]
    policies = [p for p in POLICIES if not (args.no_hub and p == "contenthub")]
    states = {p: UserState.start(world) for p in policies}
    tallies = {p: Tally(days, n_users) for p in policies}
    rngs = {p: np.random.default_rng([seed, 18, 1000 + i]) for i, p in enumerate(POLICIES)}
    pop = (np.zeros(n_assets), np.zeros(n_assets))  # popularity's observed clicks and sends per asset
    index = {asset["id"]: i for i, asset in enumerate(world.assets)}
    timings: dict[str, float] = {}
    rule: dict[str, Any] = {"per_day": 1, "per_month": -1}  # the hub's default; read from the hub when it runs
    bot_report: dict[str, Any] = {}

    base_dir = Path(args.data_dir) if args.data_dir else None
    if base_dir:
        base_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=f"contenthub-sim-{seed}-", dir=base_dir))
    try:
        hub_ctx: AbstractContextManager[str | None] = nullcontext(None)
        if not args.no_hub:
            t0 = time.time()
            keys = {role: create_key(data_dir, role) for role in ("admin", "editor", "bot")}
            timings["keys_s"] = time.time() - t0
            hub_ctx = serving(data_dir, keys["admin"])
        with hub_ctx as url:
            bot = None
            if url is not None:
                timings["server_start_s"] = time.time() - t_start - timings["keys_s"]
                t0 = time.time()
                bot = Bot(url, keys, args.workers, args.strategy)
                bot.import_library(world, seed)
                timings["import_s"] = time.time() - t0
                t0 = time.time()
                rule = bot.add_users(world)
                timings["users_s"] = time.time() - t0
            t_days = time.time()
            for day in tqdm(range(1, days + 1), desc=f"seed {seed}", unit="day", file=sys.stderr, leave=False):
                uni = day_uniforms(seed, day, n_users, n_assets)
                for p in policies:
                    state, tally = states[p], tallies[p]
                    reach = [u for u in range(n_users) if not state.unsubscribed[u]]
                    tally.per_day["reachable"][day - 1] = len(reach)
                    if p == "contenthub":
                        assert bot is not None
                        picks = bot.picks(world, tally, reach, day, index)
                    else:
                        picks = {
                            u: (a, None)
                            for u in reach
                            if (a := baseline_pick(p, world, state, u, day, rngs[p], pop)) is not None
                        }
                    played = play_day(world, state, tally, picks, day, uni, dates, rule)
                    if p == "contenthub" and played:
                        assert bot is not None
                        bot.post(
                            [
                                ev
                                for u, a, ref, r in played
                                for ev in bot_events(
                                    seed, day, world.user_ids[u], world.assets[a]["id"], ref, stamps[day - 1], r
                                )
                            ]
                        )
                    if p == "popularity":
                        for _, a, _, r in played:  # observed after the day, like the hub's reactions
                            pop[1][a] += 1
                            pop[0][a] += r.clicked
            timings["days_s"] = time.time() - t_days
            if bot is not None:
                timings["hub_http_s"] = bot.seconds
                bot_report = bot.report()
                bot.close()
    finally:
        if args.keep:
            print(f"seed {seed}: data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    timings["total_s"] = time.time() - t_start
    tagged = sum(TOPICS[world.topic[i]][1] in a["tags"] for i, a in enumerate(world.assets)) / n_assets
    return {
        "seed": seed,
        "tallies": tallies,
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "events": bot_report.get("events", {}),
        "http_errors": bot_report.get("http_errors", []),
        "event_rejections": bot_report.get("event_rejections", []),
        "request_ms": bot_report.get("request_ms", {}),
        "users": n_users,
        "assets": n_assets,
        "on_channel_assets": int(world.on_channel.sum()),
        "topic_tagged_share": round(tagged, 3),
    }


def ask(client: httpx.Client, user_id: str, strategy: str) -> tuple[dict[str, Any] | None, float, str]:
    """One next-content request: (answer, seconds, error). The answer is None when the hub failed (counted,
    never retried: a bot would skip the user that day)."""
    params: dict[str, Any] = {"channel": CHANNEL, "n": 1}
    if strategy != "default":
        params["strategy"] = strategy
    t0 = time.perf_counter()
    try:
        resp = client.get(f"/v1/recommendations/users/{user_id}", params=params)
    except httpx.HTTPError as exc:
        return None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:200]
    took = time.perf_counter() - t0
    if resp.status_code != 200:
        return None, took, f"HTTP {resp.status_code}: {resp.text[:200]}"
    return resp.json(), took, ""


def bot_events(
    seed: int, day: int, user_id: str, asset_id: str, ref: PickRef | None, at: datetime, r: Any
) -> list[dict[str, Any]]:
    """What the bot reports for one send, each event a few minutes after the last, ids unique per run. ``ref``
    is the hub's (recommendation id, propensity) for its own picks: the delivery echoes the propensity, as a
    bot should, so the hub's offline evaluation (`contenthub strategies evaluate`) can read the run."""
    base: dict[str, Any] = {"user_id": user_id, "asset_id": asset_id, "channel": CHANNEL}
    rec_id, propensity = ref or (None, None)
    if rec_id:
        base["recommendation_id"] = rec_id
    delivered: dict[str, Any] = {
        **base,
        "id": f"sim{seed}-{day}-{user_id}-delivered",
        "type": "delivered",
        "ts": to_iso(at),
    }
    if propensity is not None:
        delivered["attributes"] = {"propensity": propensity}
    out = [delivered]
    if r.opened:
        out.append(
            {**base, "id": f"sim{seed}-{day}-{user_id}-open", "type": "open", "ts": to_iso(at + timedelta(minutes=5))}
        )
    if r.clicked:
        out.append(
            {**base, "id": f"sim{seed}-{day}-{user_id}-click", "type": "click", "ts": to_iso(at + timedelta(minutes=7))}
        )
    if r.converted:
        out.append(
            {
                **base,
                "id": f"sim{seed}-{day}-{user_id}-convert",
                "type": "convert",
                "value": r.value,
                "ts": to_iso(at + timedelta(minutes=30)),
            }
        )
    if r.unsubscribed:
        out.append(
            {
                "user_id": user_id,
                "channel": CHANNEL,
                "id": f"sim{seed}-{day}-{user_id}-unsubscribe",
                "type": "unsubscribe",
                "ts": to_iso(at + timedelta(minutes=10)),
            }
        )
    return out


# --- summary over seeds ---------------------------------------------------------------------------


def windows(days: int) -> dict[str, tuple[int, int]]:
    """Days 11–20 and 1–3 (1-based, inclusive); on shorter runs the second half and the first 3 days."""
    late = (11, min(20, days)) if days >= 11 else (days // 2 + 1, days)
    return {f"days_{late[0]}_{late[1]}": late, f"days_1_{min(3, days)}": (1, min(3, days))}


def rate(t: Tally, lo: int, hi: int, per: str) -> float:
    clicks = t.per_day["clicks"][lo - 1 : hi].sum()
    if per == "send":
        den = t.per_day["sends"][lo - 1 : hi].sum()
    else:  # user-day: every user of the world, reachable or not (losing users costs clicks)
        den = len(t.per_day["sends"][lo - 1 : hi]) * t.users
    return float(clicks / den) if den else float("nan")


def interval(values: list[float]) -> dict[str, Any]:
    v = np.array([x for x in values if np.isfinite(x)])
    if v.size == 0:
        return {"mean": None}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": round(mean, 4), "ci90": None, "n": int(v.size)}
    half = float(stats.t.ppf(0.95, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return {"mean": round(mean, 4), "ci90": [round(mean - half, 4), round(mean + half, 4)], "n": int(v.size)}


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    days = args.days
    policies = list(runs[0]["tallies"])
    win = windows(days)
    per_seed = []
    for run in runs:
        ts = run["tallies"]
        entry: dict[str, Any] = {"seed": run["seed"], "timings_s": run["timings"]}
        for wname, (lo, hi) in win.items():
            entry[wname] = {
                p: {
                    "clicks_per_send": round(rate(ts[p], lo, hi, "send"), 4),
                    "clicks_per_user_day": round(rate(ts[p], lo, hi, "user"), 4),
                }
                for p in policies
            }
        if run["events"]:
            entry["events"] = run["events"]
            entry["next_content_request_ms"] = run["request_ms"]
        if run["http_errors"]:
            entry["http_errors"] = run["http_errors"]
        if run["event_rejections"]:
            entry["event_rejections"] = run["event_rejections"]
        per_seed.append(entry)
    ratios: dict[str, Any] = {}
    if "contenthub" in policies:
        for wname, (lo, hi) in win.items():
            ratios[wname] = {}
            for b in BASELINES:
                ratios[wname][f"contenthub/{b}"] = {
                    per_name: interval(
                        [
                            rate(r["tallies"]["contenthub"], lo, hi, per) / rate(r["tallies"][b], lo, hi, per)
                            for r in runs
                        ]
                    )
                    for per, per_name in (("send", "clicks_per_send"), ("user", "clicks_per_user_day"))
                }
    # oracle and popularity against random: how much a policy can gain in this world at all
    headroom = {
        wname: {
            f"{b}/random": interval(
                [rate(r["tallies"][b], lo, hi, "send") / rate(r["tallies"]["random"], lo, hi, "send") for r in runs]
            )
            for b in ("popularity", "oracle")
        }
        for wname, (lo, hi) in win.items()
    }

    def per_day_mean(p: str, f: Any) -> list[float]:
        return [round(float(np.nanmean([f(r["tallies"][p], d) for r in runs])), 4) for d in range(days)]

    def safe(num: float, den: float) -> float:
        return num / den if den else float("nan")

    daily = {
        p: {
            "clicks_per_send": per_day_mean(p, lambda t, d: safe(t.per_day["clicks"][d], t.per_day["sends"][d])),
            "clicks_per_user_day": per_day_mean(p, lambda t, d: t.per_day["clicks"][d] / t.users),
            "opens_per_send": per_day_mean(p, lambda t, d: safe(t.per_day["opens"][d], t.per_day["sends"][d])),
            "topic_match": per_day_mean(p, lambda t, d: safe(t.per_day["topic_hit"][d], t.per_day["sends"][d])),
            "topic_affinity": per_day_mean(p, lambda t, d: safe(t.per_day["topic_affinity"][d], t.per_day["sends"][d])),
            "no_pick": per_day_mean(p, lambda t, d: t.per_day["no_pick"][d]),
            "reachable_users": per_day_mean(p, lambda t, d: t.per_day["reachable"][d]),
        }
        for p in policies
    }
    totals = {
        p: {
            k: int(sum(r["tallies"][p].per_day[k].sum() for r in runs))
            for k in ("sends", "opens", "clicks", "converts", "unsubscribes")
        }
        for p in policies
    }
    type_share = {}
    for p in policies:
        c: Counter[str] = Counter()
        for r in runs:
            c.update(r["tallies"][p].types)
        n = sum(c.values()) or 1
        type_share[p] = {k: round(v / n, 3) for k, v in c.most_common()}
    rules = {p: dict(sum((Counter(r["tallies"][p].rules) for r in runs), Counter())) for p in policies}
    for p in policies:
        for k in runs[0]["tallies"][p].rules:
            rules[p].setdefault(k, 0)
    out: dict[str, Any] = {
        "bench": "simulate",
        "issue": 18,
        "channel": CHANNEL,
        "seeds": [r["seed"] for r in runs],
        "days": days,
        "users": runs[0]["users"],
        "assets": runs[0]["assets"],
        "topics": [t[1] for t in TOPICS],
        "on_channel_assets": [r["on_channel_assets"] for r in runs],
        "topic_tagged_share": [r["topic_tagged_share"] for r in runs],
        "epsilon": EPSILON,
        "popularity_prior_sends": POP_PRIOR_SENDS,
        "redelivery_window_days": WINDOW_DAYS,
        "strategy": args.strategy,
        "ratios": ratios,
        "headroom": headroom,
        "per_seed": per_seed,
        "daily": daily,
        "totals": totals,
        "content_type_share": type_share,
        "rule_checks": rules,
    }
    if "contenthub" in policies:
        kinds: Counter[str] = Counter()
        texts: Counter[str] = Counter()
        hub_stages: Counter[str] = Counter()
        for r in runs:
            hub_stages.update(r["tallies"]["contenthub"].hub_stages)
            kinds.update(r["tallies"]["contenthub"].reason_kinds)
            texts.update(r["tallies"]["contenthub"].reason_texts)
        n = totals["contenthub"]["sends"] + sum(rules["contenthub"][k] for k in ("unknown_asset",)) or 1
        out["reason_share"] = {
            "kinds": {k: round(v / n, 3) for k, v in kinds.most_common()},
            "texts": {k: round(v / n, 3) for k, v in texts.most_common(25)},
        }
        answers = sum(hub_stages.values()) or 1
        out["hub_stage_share"] = {k: round(v / answers, 3) for k, v in hub_stages.most_common()}
    out["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    out["wall_s"] = round(sum(r["timings"]["total_s"] for r in runs), 1)
    return out


def compact_json(obj: Any) -> str:
    """Indented JSON with every list of plain values on one line (per-day series stay readable)."""
    text = json.dumps(obj, ensure_ascii=False, indent=1)
    return re.sub(r"\[([^\[\]{}]*)\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)).strip() + "]", text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="How many seeds (worlds): seed-start, seed-start+1, ….")
    ap.add_argument("--seed-start", type=int, default=1, help="The first seed (other worlds: e.g. 101).")
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--assets", type=int, default=250)
    ap.add_argument("--workers", type=int, default=4, help="Bot threads asking the hub at once.")
    ap.add_argument("--keep", action="store_true", help="Keep each seed's data directory (printed to stderr).")
    ap.add_argument("--data-dir", default="", help="Where the per-seed data directories go (default: temp).")
    ap.add_argument("--quick", action="store_true", help="A tiny smoke run: 1 seed, 5 days, 60 users, 80 assets.")
    ap.add_argument("--strategy", default="default", help="The hub strategy the bot asks for.")
    ap.add_argument("--no-hub", action="store_true", help="Only the baselines (no server): checks the world.")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.days, args.users, args.assets = 1, 5, 60, 80
    if args.days >= WINDOW_DAYS:
        ap.error(
            f"--days must be below {WINDOW_DAYS}: the hub's re-delivery window is counted from the real now, "
            "so a longer back-dated run would let it re-send what the simulated timeline forbids"
        )
    runs = []
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        run = run_seed(seed, args)
        t = run["tallies"]
        late = windows(args.days)
        lo, hi = next(iter(late.values()))
        rates = " ".join(f"{p}={rate(tl, lo, hi, 'send'):.3f}" for p, tl in t.items())
        print(
            f"seed {seed}: {run['timings']['total_s']:.0f} s ({json.dumps(run['timings'])}); clicks/send days "
            f"{lo}-{hi}: {rates}",
            file=sys.stderr,
        )
        runs.append(run)
    print(compact_json(summarise(runs, args)))


if __name__ == "__main__":
    main()
