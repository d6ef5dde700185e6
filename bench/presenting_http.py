"""Presenting at a counter through the wallet service over HTTP, at a fixed rate (issue 10).

One presentation is the whole round trip of docs/wallet.md, from the counter's request text in
to the answer's envelope text out: ``POST /presentations {"request": "JR1:…"}`` (who asks, why,
what would be shown), ``POST …/accept`` (a copy taken, the KB-JWT's signing input), the phone
signing it with the copy's key, ``POST …/signature`` (the JG1 envelope). Each request carries
its own DPoP proof of the device's key, as ``bench/wallet_http.py`` sends them.

**The parties.** The wallet deployment of ``bench/wallet_seed.py``: 100 accounts, each holding
one resident-register extract with a stock of unused copies (copies of a real one, restocked
before every step so that no step runs short or pays for the copies earlier steps used). The
counter is the sample bank ``issuer init`` registers in the trust list with its key (its key
store under the issuer's data directory; the trust list the wallet synced names it), with a
``Verifier`` over a trust store synced from the same list: for each presentation it makes a
fresh signed request (``Verifier.make_request``, account opening: name, birth date, address),
made before the step starts (they live 300 s), so that the latency is the phone's and the
wallet's alone. The issuer keeps being served, so that the wallet's trust list stays fresh.

**Open loop**, rounds and search as ``bench/wallet_http.py``: presentation i is due at
``start + i / rate`` (devices in turn); latency runs from its due time to the envelope's last
byte, its three requests and the phone's signing inside. Every answer of a step is then
checked by the counter (``Verifier.verify_answer`` with the request it answers: signatures,
audience, nonce, exactly the claims asked); one that is not valid stops the bench.

**In-process.** With the servers stopped, the same round trip as service calls on the same
database (``presenting.ask``, ``answering.accept``, the phone's signing, ``answering.sign``),
what each of its three requests also runs (``dpop_guard.check_proof``, ``current_nonce``), and
its parts: the counter's ``make_request``, the wallet's ``read_request`` and
``select_for_query``, the KB-JWT (signing input and ES256 signature), the counter's
``verify_answer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import math
import statistics
import tempfile
import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from bench.open_loop import Answer, Outcome, Pool, Step, run_step
from bench.timing import Case, Measurement, measure
from bench.wallet_http import MIN_SEARCH_STEP, REQUEST_SECONDS, Plan, _databases
from bench.wallet_seed import (
    EXTRACT_TYPE,
    Device,
    SeededWallet,
    open_deployment,
    restock_extracts,
    running_issuer,
    seed_wallet,
    serving_wallet,
)
from credential_schemas import Registry
from keys.encoding import b64url_encode, json_dumps
from keys.jwk import Signer
from protocols.dpop import DPOP_HEADER, DPOP_NONCE_HEADER, DpopErrorCode, make_dpop_proof
from servicekit.db import session_scope
from verifier import TrustStore, Verifier
from verifier.dcql_select import select_for_query
from verifier.openid4vp import PresentationRequest, read_request
from verifier.sync import sync_trust_store
from wallet_api import answering, presenting
from wallet_api.deployment import WalletDeployment
from wallet_api.dpop_guard import check_proof, current_nonce
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.models import Credential, CredentialCopy
from wallet_api.presentation import prepare_key_binding
from wallet_api.sealed import copy_context

__all__ = [
    "FULL",
    "QUICK",
    "TARGET_P99_MS",
    "Measured",
    "PresentingRun",
    "measure_presenting",
]

TARGET_P99_MS = 100.0  # at Plan.target_rate, on 2 cores (issue 10)
COUNTER = "counter.bank.example"  # the sample bank (issuer/sample_relying_parties.json)
PURPOSE = "account_opening"  # name, birth_date, address of a resident-register extract
ASKED = frozenset({"name", "birth_date", "address"})
_NONCE_HEADER = DPOP_NONCE_HEADER.lower().encode("ascii")
_USE_NONCE = DpopErrorCode.USE_DPOP_NONCE.encode("ascii")
_REQUESTS_A_PRESENTATION = 3

FULL = Plan(
    devices=100,
    per_device=0,  # the extract only
    workers=(1, 2),
    target_rate=50,
    target_seconds=10,
    rounds=3,
    ladder=(10, 20, 30, 40, 50, 75, 100, 150),
    search_seconds=5,
    bisections=1,
    warmup_seconds=1,
    repeats=5,
    batch_seconds=0.2,
    gc_lists=0,
)
QUICK = Plan(
    devices=100,
    per_device=0,
    workers=(1,),
    target_rate=50,
    target_seconds=1,
    rounds=1,
    ladder=(50,),
    search_seconds=0.5,
    bisections=0,
    warmup_seconds=0.25,
    repeats=2,
    batch_seconds=0.02,
    gc_lists=0,
)


def copies_stocked(plan: Plan) -> int:
    """Unused copies each device holds at a step's start: enough for the largest step."""
    largest = max(  # a bisection's rate is below the ladder's top
        plan.target_rate * (plan.target_seconds + plan.warmup_seconds),
        max(plan.ladder) * (plan.search_seconds + plan.warmup_seconds),
    )
    return math.ceil(largest / plan.devices) + 1


# --- the counter and the phones -------------------------------------------------------------------


@dataclass(frozen=True)
class _Counter:
    verifier: Verifier
    signer: Signer

    def request(self) -> PresentationRequest:
        return self.verifier.make_request(signer=self.signer, client_id=COUNTER, purpose_id=PURPOSE)


@dataclass
class _Phones:
    """The devices presenting, the last nonce the service sent, and what each answer was."""

    public_url: str
    devices: Sequence[Device]
    keys: DeviceKeys  # the copies' keys (seeded copies of the donor phone's)
    requests: list[tuple[PresentationRequest, str]] = field(default_factory=list)
    answers: dict[int, str] = field(default_factory=dict)
    refusals: Tally[str] = field(default_factory=Tally)
    nonce: str | None = None

    async def _post(self, pool: Pool, device: Device, path: str, body: object) -> Answer:
        for _attempt in range(2):
            proof = make_dpop_proof(
                device.key,
                method="POST",
                uri=self.public_url + path,
                now=int(time.time()),
                nonce=self.nonce,
            )
            answer = await pool.post(path, [(DPOP_HEADER, proof)], json_dumps(body))
            nonce = answer.headers.get(_NONCE_HEADER)
            if nonce is not None:
                self.nonce = nonce.decode("ascii")
            if answer.status != httpx.codes.UNAUTHORIZED or _USE_NONCE not in answer.body:
                return answer
        return answer

    def _refused(self, step: str, answer: Answer) -> bool:
        try:
            error = str(json.loads(answer.body).get("error"))
        except ValueError:
            error = "not JSON"
        self.refusals[f"{step}: {answer.status} {error}"] += 1
        return False

    async def send(self, pool: Pool, i: int) -> Outcome:
        """Presentation i: device i in turn answers request i, from its text to the envelope."""
        device = self.devices[i % len(self.devices)]
        _, request_text = self.requests[i]
        left = time.perf_counter()
        shown = await self._post(pool, device, "/presentations", {"request": request_text})
        if shown.status != httpx.codes.CREATED:
            return Outcome(left, self._refused("ask", shown), 0)
        path = f"/presentations/{json.loads(shown.body)['id']}"
        accepted = await self._post(pool, device, f"{path}/accept", {})
        if accepted.status != httpx.codes.OK:
            return Outcome(left, self._refused("accept", accepted), 0)
        signing = json.loads(accepted.body)
        signature = self.keys.sign(signing["holder_jkt"], signing["signing_input"].encode())
        answered = await self._post(
            pool, device, f"{path}/signature", {"signature": b64url_encode(signature)}
        )
        if answered.status != httpx.codes.OK:
            return Outcome(left, self._refused("signature", answered), 0)
        self.answers[i] = json.loads(answered.body)["envelope"]
        return Outcome(left, True, 0)


def _check_answers(counter: _Counter, phones: _Phones) -> None:
    """The counter judges every answer of the step against the request it answers."""
    for i, envelope in phones.answers.items():
        request, _ = phones.requests[i]
        result = counter.verifier.verify_answer(envelope, request)
        if not result.valid or set(result.claims) != ASKED:
            raise RuntimeError(
                f"answer {i}: {result.error} {result.detail} {sorted(result.claims)}"
            )


def _step(
    phones: _Phones,
    counter: _Counter,
    seeded: SeededWallet,
    stock: int,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    server_pid: int,
) -> Step:
    """Restock, make the step's requests, run it, judge its answers."""
    restock_extracts(seeded, stock)
    total = round(warmup * rate) + round(seconds * rate)
    phones.requests = [(r, r.envelope) for r in (counter.request() for _ in range(total))]
    phones.answers, phones.refusals = {}, Tally()
    host, port = phones.public_url.removeprefix("http://").rsplit(":", 1)

    async def run() -> Step:
        pool = Pool(host, int(port), len(phones.devices))
        await pool.open()
        try:
            return await run_step(
                pool,
                phones.send,
                rate=rate,
                seconds=seconds,
                warmup=warmup,
                server_pid=server_pid,
                deadline_seconds=REQUEST_SECONDS,
            )
        finally:
            pool.close()

    step = asyncio.run(run())
    _check_answers(counter, phones)
    return step


# --- servers, target rows, search -----------------------------------------------------------------


@dataclass(frozen=True)
class PresentingRun:
    backend: str
    workers: int
    targets: tuple[Step, ...]
    search: tuple[Step, ...]
    refusals: tuple[str, ...]  # "step: status error" x count, over every step

    @property
    def p50_ms(self) -> float:
        return statistics.median(step.p50_ms for step in self.targets)

    @property
    def p99_ms(self) -> float:
        return statistics.median(step.p99_ms for step in self.targets)

    @property
    def highest(self) -> Step | None:
        held = [s for s in self.search if s.p99_ms <= TARGET_P99_MS]
        return max(held, key=lambda s: s.rate) if held else None


def _search(run: Callable[[float, float], Step], plan: Plan) -> list[Step]:
    """Rates of the ladder until p99 > 100 ms, then halvings (as bench/wallet_http.py)."""
    steps: list[Step] = []
    held: float = 0
    missed: float | None = None
    for rate in plan.ladder:
        step = run(rate, plan.search_seconds)
        steps.append(step)
        if step.p99_ms > TARGET_P99_MS:
            missed = rate
            break
        held = rate
    for _ in range(plan.bisections if missed is not None else 0):
        assert missed is not None
        rate = round((held + missed) / 2)
        if rate - held < MIN_SEARCH_STEP:
            break
        step = run(rate, plan.search_seconds)
        steps.append(step)
        if step.p99_ms <= TARGET_P99_MS:
            held = rate
        else:
            missed = rate
    return steps


def _measure_http(
    wallets: Sequence[SeededWallet],
    counter: _Counter,
    plan: Plan,
    log: Callable[[str], None],
) -> list[PresentingRun]:
    stock = copies_stocked(plan)
    with contextlib.ExitStack() as stack:
        cells = []
        for wallet in wallets:
            keys = wallet.donor_keys()
            for workers in plan.workers:
                url, pid = stack.enter_context(
                    serving_wallet(wallet, workers=workers, own_port=True)
                )
                cells.append((wallet, workers, _Phones(url, wallet.devices, keys), pid))

        def run(cell: tuple[SeededWallet, int, _Phones, int], rate: float, seconds: float) -> Step:
            wallet, workers, phones, pid = cell
            step = _step(
                phones,
                counter,
                wallet,
                stock,
                rate=rate,
                seconds=seconds,
                warmup=plan.warmup_seconds,
                server_pid=pid,
            )
            refused = ", ".join(f"{k} x {n}" for k, n in phones.refusals.items())
            log(
                f"  {wallet.backend}, {workers} worker(s), present at {rate:g}/s: "
                f"p50 {step.p50_ms:.1f} ms, p99 {step.p99_ms:.1f} ms, {step.failures} failed"
                f"{' (' + refused + ')' if refused else ''}, load {step.load:.1f}"
            )
            refusals[id(cell)].update(phones.refusals)
            return step

        refusals: dict[int, Tally[str]] = {id(cell): Tally() for cell in cells}
        targets: list[list[Step]] = [[] for _ in cells]
        for round_number in range(plan.rounds):
            log(f"round {round_number + 1} of {plan.rounds} at {plan.target_rate:g}/s …")
            for cell, steps in zip(cells, targets, strict=True):
                steps.append(run(cell, plan.target_rate, plan.target_seconds))
        runs = []
        for cell, steps in zip(cells, targets, strict=True):
            wallet, workers, _, _ = cell
            log(f"searching: {wallet.backend}, {workers} worker(s) …")
            search = _search(functools.partial(run, cell), plan)
            runs.append(
                PresentingRun(
                    wallet.backend,
                    workers,
                    tuple(steps),
                    tuple(search),
                    tuple(f"{k} x {n}" for k, n in refusals[id(cell)].items()),
                )
            )
    return runs


# --- in-process -----------------------------------------------------------------------------------

ROUND_TRIP = "round trip: ask, accept, the phone's signing, sign"
ASK_ACCEPT = "ask and accept"
ASK = "presenting.ask (read_request, choose, select, record)"
PHONE_SIGN = "the phone's KB-JWT signature (DeviceKeys.sign)"
GUARD = "dpop_guard.check_proof (with make_dpop_proof)"
PROOF = "make_dpop_proof (the client's signing)"
NONCE = "dpop_guard.current_nonce"
MAKE_REQUEST = "counter: Verifier.make_request and its JR1 text"
READ_REQUEST = "wallet: read_request of the JR1 text"
SELECT = "wallet: select_for_query"
KB_JWT = "phone: KB-JWT signing input and ES256 signature"
VERIFY_ANSWER = "counter: Verifier.verify_answer of the JG1 text"


def _in_process(seeded: SeededWallet, counter: _Counter, plan: Plan) -> list[Measurement]:
    """The service calls of a presentation, and its parts, on the stopped server's database.
    Each call asks a fresh request of its own (a request is read once): the counter's making
    of it is inside every row that asks, and timed on its own too."""
    restock_extracts(seeded, copies_stocked(plan))
    deployment = open_deployment(seeded)
    keys = seeded.donor_keys()
    devices = itertools.cycle(seeded.devices)
    nonce = current_nonce(deployment)
    uri = seeded.public_url + "/presentations"
    store = deployment.trust.store()
    registry = Registry.load()

    def ask() -> tuple[str, str]:
        account_id = next(devices).account_id
        shown = presenting.ask(deployment, account_id, request=counter.request().envelope)
        return account_id, str(shown["id"])

    def ask_accept() -> tuple[str, str, dict[str, Any]]:
        account_id, presentation_id = ask()
        return (
            account_id,
            presentation_id,
            answering.accept(deployment, account_id, presentation_id),
        )

    def round_trip() -> str:
        account_id, presentation_id, signing = ask_accept()
        signature = keys.sign(signing["holder_jkt"], signing["signing_input"].encode())
        answer = answering.sign(
            deployment, account_id, presentation_id, signature=b64url_encode(signature)
        )
        text: str = answer["envelope"]
        return text

    def proof() -> str:
        key = next(devices).key
        return make_dpop_proof(key, method="POST", uri=uri, now=deployment.now(), nonce=nonce)

    # One presentation first, through every call: what the parts below work on.
    account_id, _, signing = ask_accept()
    holder_kid = signing["holder_jkt"]
    request = counter.request()
    request_text = request.envelope
    query = request.credential_query
    copy = _an_unused_extract_copy(deployment, account_id)
    compact = deployment.sealer.open(copy.sealed, context=copy_context(copy.id)).decode("ascii")
    selection = select_for_query(compact, query)
    request_answered = counter.request()
    shown = presenting.ask(deployment, account_id, request=request_answered.envelope)
    signing = answering.accept(deployment, account_id, shown["id"])
    signature = keys.sign(signing["holder_jkt"], signing["signing_input"].encode())
    answer = answering.sign(
        deployment, account_id, shown["id"], signature=b64url_encode(signature)
    )["envelope"]
    if not counter.verifier.verify_answer(answer, request_answered).valid:
        raise RuntimeError("the in-process answer does not verify")

    def kb_jwt() -> bytes:
        prepared = prepare_key_binding(
            selection.sd_jwt,
            holder_algorithm=keys.public_key(holder_kid).algorithm,
            audience=COUNTER,
            nonce=request.nonce,
            now=deployment.now(),
        )
        return keys.sign(holder_kid, prepared.signing_input)

    def guard() -> object:
        return check_proof(
            deployment, [proof()], method="POST", path="/presentations", account_required=True
        )

    cases = [
        Case(ROUND_TRIP, round_trip),
        Case(ASK_ACCEPT, ask_accept),
        Case(ASK, ask),
        Case(PHONE_SIGN, lambda: keys.sign(holder_kid, signing["signing_input"].encode())),
        Case(GUARD, guard),
        Case(PROOF, proof),
        Case(NONCE, lambda: current_nonce(deployment)),
        Case(MAKE_REQUEST, lambda: counter.request().envelope),
        Case(
            READ_REQUEST,
            lambda: read_request(request_text, store, now=deployment.now(), registry=registry),
        ),
        Case(SELECT, lambda: select_for_query(compact, query)),
        Case(KB_JWT, kb_jwt),
        Case(VERIFY_ANSWER, lambda: counter.verifier.verify_answer(answer, request_answered)),
    ]
    try:
        return measure(cases, repeats=plan.repeats, target_seconds=plan.batch_seconds)
    finally:
        deployment.engine.dispose()


def _an_unused_extract_copy(deployment: WalletDeployment, account_id: str) -> CredentialCopy:
    with session_scope(deployment.read_engine) as session:
        return session.exec(
            select(CredentialCopy)
            .join(Credential, col(Credential.id) == col(CredentialCopy.credential_id))
            .where(
                col(Credential.account_id) == account_id,
                col(Credential.credential_type) == EXTRACT_TYPE,
                col(CredentialCopy.used_at).is_(None),
            )
        ).first() or _none(account_id)


def _none(account_id: str) -> CredentialCopy:
    raise RuntimeError(f"{account_id} holds no unused copy of its extract")


# --- all of it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    runs: list[PresentingRun]
    in_process: dict[str, list[Measurement]]  # backend -> calls
    seeded: list[SeededWallet]
    plan: Plan
    stock: int


def measure_presenting(
    plan: Plan, *, postgres_url: str | None, log: Callable[[str], None] = print
) -> Measured:
    """Seed each backend, then measure: each worker count's target rows and search over HTTP,
    then the in-process calls with the servers stopped (the issuer served throughout)."""
    in_process: dict[str, list[Measurement]] = {}
    seeded: list[SeededWallet] = []
    stock = copies_stocked(plan)
    with (
        tempfile.TemporaryDirectory(prefix="jigap-bench-presenting-") as scratch,
        _databases(Path(scratch), postgres_url) as urls,
        running_issuer(Path(scratch)) as issuer,
    ):
        directory = Path(scratch)
        for backend, url in urls.items():
            log(f"seeding the wallet on {backend} …")
            seeded.append(
                seed_wallet(
                    issuer,
                    directory,
                    backend=backend,
                    database_url=url,
                    devices=plan.devices,
                    per_device=plan.per_device,
                    extract_copies=stock,
                )
            )
        trust_dir = directory / "counter-trust"
        sync_trust_store([issuer.trust_list_url], trust_dir, anchor_file=issuer.anchor_file)
        counter = _Counter(Verifier(TrustStore.load(trust_dir)), issuer.counter_signer(COUNTER))
        log("measuring presentations over HTTP …")
        runs = _measure_http(seeded, counter, plan, log)
        for wallet in seeded:
            log(f"measuring a presentation's calls in-process on {wallet.backend} …")
            in_process[wallet.backend] = _in_process(wallet, counter, plan)
    return Measured(runs, in_process, seeded, plan, stock)
