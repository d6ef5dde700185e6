"""``python -m bench [--quick] [--markdown] [--profile] [--rounds N] [--http | --http-only |
--counter | --wallet-http [--presenting]]``: verification, issuance, QR size, status-list
loads; and on request the issuer over HTTP, the counter app (camera frame to verdict), or the
wallet service over HTTP (listing and showing, or presenting at a counter)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

from rich.console import Console

from bench import (
    counter_scan,
    issuance,
    issuer_http,
    presenting_http,
    presenting_report,
    qr_size,
    status_list_load,
    verification,
    wallet_http,
    wallet_report,
)
from bench.report import (
    MIN_SHARE_OF_RAW_LIMIT,
    MIN_SPEEDUP_OVER_REFERENCE,
    Ratio,
    Report,
    machine_report,
    markdown,
    print_rich,
    qr_report,
    rounds_report,
    throughput_report,
)
from bench.scenario import Parties
from bench.timing import Measurement, measure
from bench.verifier_profile import profile_reports, step_report

# (repeats, seconds per batch, QR samples per type, verifications profiled)
FULL = (7, 0.3, 5, 3000)
QUICK = (3, 0.02, 1, 200)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke test")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--profile", action="store_true", help="also profile our verifier (cProfile, by step)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="measure the ES256 verification table N times and add the ratios' spread "
        "(the table shown is the last round)",
    )
    http = parser.add_mutually_exclusive_group()
    http.add_argument(
        "--http",
        action="store_true",
        help="also the issuer's credential endpoint over HTTP (a local uvicorn; minutes)",
    )
    http.add_argument(
        "--http-only", action="store_true", help="only the issuer over HTTP (and the machine)"
    )
    http.add_argument(
        "--counter",
        action="store_true",
        help="only the counter app: from a camera frame to the verdict (and the machine)",
    )
    http.add_argument(
        "--wallet-http",
        action="store_true",
        help="only the wallet service over HTTP: listing and showing credentials at fixed "
        "request rates (and the machine; about 10 min with PostgreSQL)",
    )
    parser.add_argument(
        "--presenting",
        action="store_true",
        help="with --wallet-http: presenting at a counter instead (the whole round trip at "
        "fixed rates, 100 devices; about 6 min with PostgreSQL)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL server for the HTTP benchmarks, beside SQLite "
        f"(default: ${issuer_http.DATABASE_URL_ENV}, if set)",
    )
    args = parser.parse_args(argv)
    if args.presenting and not args.wallet_http:
        parser.error("--presenting goes with --wallet-http")
    return args


def _core_reports(args: argparse.Namespace, parties: Parties, console: Console) -> list[Report]:
    """Verification, issuance, QR size, and the profile if asked for."""
    repeats, seconds, samples, profiled = QUICK if args.quick else FULL
    console.print("measuring verification …", style="dim")
    es256_cases = verification.es256_cases(parties)
    rounds = [
        measure(es256_cases, repeats=repeats, target_seconds=seconds)
        for _ in range(max(1, args.rounds))
    ]
    es256 = rounds[-1]
    eddsa = measure(verification.eddsa_cases(parties), repeats=repeats, target_seconds=seconds)
    console.print("measuring issuance …", style="dim")
    issued = measure(issuance.cases(parties), repeats=repeats, target_seconds=seconds)
    console.print("measuring QR sizes …", style="dim")
    sizes = qr_size.measure_sizes(parties, samples=samples)
    console.print("measuring status-list loads …", style="dim")
    loads = status_list_load.measure_loads(quick=args.quick, repeats=repeats)

    ours_es256 = (verification.OURS_PLAIN, verification.OURS_ENVELOPE)
    verification_report = throughput_report(
        "Verification, resident-register extract (name, birth_date, address; KB-JWT; ES256)",
        es256,
        ours=ours_es256,
        reference=verification.REFERENCE,
        raw_limit=dict.fromkeys(
            (*ours_es256, verification.OURS_STRICT_JSON, verification.FLOOR),
            verification.RAW_ES256,
        ),
        ceilings=(verification.OURS_STRICT_JSON, verification.FLOOR),
    )
    by_label = {m.label: m for m in es256}
    fresh = by_label[verification.RAW_ES256_FRESH_HOLDER].median_us
    for label in ours_es256:
        verification_report.notes.append(
            f"{label} / raw with the holder key built each time: "
            f"{fresh / by_label[label].median_us:.0%} (for information)"
        )
    reports: list[Report] = [
        verification_report,
        *([_rounds_report(rounds)] if len(rounds) > 1 else []),
        throughput_report(
            "Verification, the same presentation with EdDSA (Ed25519) keys, for information",
            eddsa,
            ours=(),  # for information: the targets are set on the ES256 default
            reference=None,
            raw_limit={verification.OURS_EDDSA: verification.RAW_EDDSA},
            ceilings=(verification.OURS_EDDSA,),
        ),
        throughput_report(
            "Issuance, resident-register extract (ES256)",
            issued,
            ours=(),  # the issue sets targets for verification only
            reference=issuance.REFERENCE,
            raw_limit={issuance.OURS: issuance.RAW},
            ceilings=(issuance.OURS,),
        ),
        qr_report(sizes),
        status_list_load.load_report(loads),
    ]
    if args.profile:
        console.print("profiling our verifier …", style="dim")
        reports.append(step_report(parties, repeats=repeats, target_seconds=seconds / 3))
        reports += profile_reports(parties, runs=profiled)
    return reports


def _rounds_report(rounds: list[list[Measurement]]) -> Report:
    v = verification
    return rounds_report(
        "Verification targets (ES256)",
        rounds,
        [
            Ratio("plain vs reference", v.OURS_PLAIN, v.REFERENCE, MIN_SPEEDUP_OVER_REFERENCE),
            Ratio(
                "plain, share of raw limit", v.OURS_PLAIN, v.RAW_ES256, MIN_SHARE_OF_RAW_LIMIT, True
            ),
            Ratio(
                "envelope vs reference", v.OURS_ENVELOPE, v.REFERENCE, MIN_SPEEDUP_OVER_REFERENCE
            ),
            Ratio(
                "envelope, share of raw limit",
                v.OURS_ENVELOPE,
                v.RAW_ES256,
                MIN_SHARE_OF_RAW_LIMIT,
                True,
            ),
            Ratio(
                "plain, share of raw with holder key built",
                v.OURS_PLAIN,
                v.RAW_ES256_FRESH_HOLDER,
                as_share=True,
            ),
            Ratio("floor vs reference", v.FLOOR, v.REFERENCE),
            Ratio("floor, share of raw limit", v.FLOOR, v.RAW_ES256, as_share=True),
        ],
    )


def _http_report(args: argparse.Namespace, parties: Parties, console: Console) -> Report:
    _, seconds, _, _ = QUICK if args.quick else FULL
    ours = issuance.cases(parties)[0]  # issue_sd_jwt_vc, as in the issuance table
    in_process: list[float] = []

    def sample_in_process() -> None:
        [measured] = measure([ours], repeats=1, target_seconds=seconds)
        in_process.append(measured.ops_per_second)

    plan = issuer_http.QUICK if args.quick else issuer_http.FULL
    cells = issuer_http.measure_backends(
        plan,
        postgres_url=issuer_http.postgres_url_from(args.database_url),
        between_rounds=sample_in_process,
        log=lambda message: console.print(message, style="dim"),
    )
    return issuer_http.http_report(cells, statistics.median(in_process), plan)


def _wallet_http_reports(args: argparse.Namespace, console: Console) -> list[Report]:
    measured = wallet_http.measure_wallet(
        wallet_http.QUICK if args.quick else wallet_http.FULL,
        postgres_url=issuer_http.postgres_url_from(args.database_url),
        log=lambda message: console.print(message, style="dim"),
    )
    return wallet_report.wallet_reports(measured)


def _presenting_reports(args: argparse.Namespace, console: Console) -> list[Report]:
    measured = presenting_http.measure_presenting(
        presenting_http.QUICK if args.quick else presenting_http.FULL,
        postgres_url=issuer_http.postgres_url_from(args.database_url),
        log=lambda message: console.print(message, style="dim"),
    )
    return presenting_report.presenting_reports(measured)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    repeats, seconds, _, _ = QUICK if args.quick else FULL
    # Piped output (a log, CI) gets wide tables instead of rich's 80-column default.
    console = Console(stderr=args.markdown, width=None if sys.stdout.isatty() else 132)
    started = time.perf_counter()

    reports = [machine_report()]  # first: the load average is the one the run started with
    if args.counter:
        console.print("measuring the counter app …", style="dim")
        reports.append(counter_scan.measure_counter(quick=args.quick))
    elif args.wallet_http and args.presenting:
        reports += _presenting_reports(args, console)
    elif args.wallet_http:
        reports += _wallet_http_reports(args, console)
    else:
        parties = Parties.create()
        if not args.http_only:
            reports += _core_reports(args, parties, console)
        if args.http or args.http_only:
            reports.append(_http_report(args, parties, console))
    if args.markdown:
        print(markdown(reports))
    else:
        print_rich(reports, console)
    mode = "quick" if args.quick else "full"
    console.print(
        f"{mode} run: {repeats} repeats, batches of ~{seconds * 1000:.0f} ms, "
        f"{time.perf_counter() - started:.1f} s in all",
        style="dim",
    )


if __name__ == "__main__":
    main()
