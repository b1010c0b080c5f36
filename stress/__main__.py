"""make stress: the battery, long. Bounded in time and in count, loopback
only; stops by itself and prints a table. Exit status 0 when nothing was
found, 1 otherwise.

  python3 -m stress                     every phase, about five minutes
  python3 -m stress --scale 0.2         the same, five times shorter
  python3 -m stress fuzz --seed 4242    one phase, a given seed

Phases: load, crashes, faults, slow, flood, fuzz.
"""

import argparse
import sys
import time

from tests import battery, fuzz

PHASES = ("load", "crashes", "faults", "slow", "flood", "fuzz")


def phase_load(scale, seed):
    result = battery.Result("load: CGI + serve + readers", seed)
    watch = battery.ProcessListWatch(result)
    with battery.Workspace(result) as workspace:
        watch.start()
        try:
            with battery.Serve(workspace) as serve:
                battery.run_load(result, workspace, serve, names=max(6, int(48 * scale)),
                                 per_name=40, cgi_workers=6, serve_workers=8,
                                 seed=seed, deadline_s=90 * scale + 10)
                battery.check_log(result, serve.stop(), "the serve error log")
        finally:
            watch.stop()
    return [result]


def phase_crashes(scale, seed):
    serve_result = battery.Result("crash: SIGKILL serve mid-write", seed)
    with battery.Workspace(serve_result, window="1d") as workspace:
        battery.run_serve_crashes(serve_result, workspace, cycles=max(5, int(150 * scale)),
                                  clients=6, seed=seed, deadline_s=75 * scale + 10,
                                  probe_hot_journals=20)
    serve_result.done()
    cgi_result = battery.Result("crash: SIGKILL CGI mid-write", seed)
    with battery.Workspace(cgi_result, window="1d") as workspace:
        battery.run_cgi_crashes(cgi_result, workspace, runs=max(20, int(500 * scale)),
                                parallel=6, seed=seed, deadline_s=45 * scale + 10)
    return [serve_result, cgi_result]


def phase_faults(scale, seed):
    results = []
    for transport in ("cgi", "serve"):
        result = battery.Result("faults via %s" % transport, seed)
        try:
            battery.run_faults(result, transport, seed=seed)
        except battery.Unavailable as reason:
            result.set("disk full, read-only", "skipped: %s" % reason)
            battery.run_faults(result, transport, ["missing directory"], seed=seed)
        result.done()
        results.append(result)
    return results


def phase_slow(scale, seed):
    result = battery.Result("slow, idle and huge clients (serve, 10 s timeout)", seed)
    with battery.Workspace(result) as workspace:
        battery.run_slow_clients(result, workspace, idle=max(50, int(400 * scale)),
                                 slowloris=10, huge=10, probes=max(20, int(100 * scale)),
                                 timeout_s=10.0, seed=seed)
    return [result]


def phase_flood(scale, seed):
    results = []
    for title, fixed, rotating in (("flood: forgeries from 4 addresses", 4, 0),
                                   ("flood: forgeries from ever new addresses", 0, 6)):
        result = battery.Result(title, seed)
        with battery.Workspace(result) as workspace:
            with battery.Serve(workspace) as serve:
                battery.run_refusal_flood(result, workspace, serve, fixed=fixed,
                                          rotating=rotating, duration_s=15 * scale + 2,
                                          seed=seed)
                battery.check_log(result, serve.stop(), "the serve error log")
        result.done()
        results.append(result)
    return results


def phase_fuzz(scale, seed):
    results = []
    for transport, cases, seconds in (("serve", int(20000 * scale), 60),
                                      ("cgi", int(1500 * scale), 60)):
        result = battery.Result("fuzz via %s" % transport, seed)
        with battery.Workspace(result, fast_disk=True,
                               trusted_proxies="10.0.0.0/8") as workspace:
            serve = battery.Serve(workspace) if transport == "serve" else None
            try:
                fuzz.run_fuzz(result, workspace, transport, max(100, cases), seed,
                              serve=serve, deadline_s=seconds * scale + 10)
            finally:
                if serve:
                    battery.check_log(result, serve.stop(), "the serve error log")
        result.done()
        results.append(result)
    return results


def show(result, seconds):
    print("== %s (%.1f s)" % (result.title, seconds))
    for figure, value in result.figures.items():
        print("   %-58s %s" % (figure, value))
    latencies = result.latency_figures()
    if latencies:
        print("   %-40s %7s %9s %9s %9s" % ("latency", "n", "p50 ms", "p99 ms", "max ms"))
        for label, (count, p50, p99, worst) in latencies.items():
            print("   %-40s %7d %9.1f %9.1f %9.1f" % (label, count, p50, p99, worst))
    if result.violation_count:
        print(result.report())
    print(flush=True)


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m stress", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("phases", nargs="*", metavar="PHASE",
                        help="phases to run: %s (default: all)" % ", ".join(PHASES))
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply counts and time limits (default 1)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 4:
        parser.error("--scale must be in (0, 4]")
    for phase in args.phases:
        if phase not in PHASES:
            parser.error("no phase %r (phases: %s)" % (phase, ", ".join(PHASES)))
    print("stress: seed %d, scale %g" % (args.seed, args.scale), flush=True)
    rows, started = [], time.monotonic()
    for phase in args.phases or PHASES:
        results = globals()["phase_" + phase](args.scale, args.seed)
        for result in results:
            if result.seconds is None:
                result.done()
            show(result, result.seconds)
            rows.append(summary_row(result, result.seconds))
    print("%-46s %8s %8s %8s %6s %8s %8s %5s %6s" % (
        "phase", "requests", "accepted", "refused", "5xx", "p50 ms", "p99 ms", "viol.",
        "s"))
    for row in rows:
        print("%-46s %8s %8s %8s %6s %8s %8s %5d %6.0f" % row)
    print("5xx: the 503s the faults call for, and http.server's 501 for an unknown "
          "method; any other is a violation.\nrequests of the crash phases: messages "
          "sent, some of them into a process being killed.")
    failed = sum(row[-2] for row in rows)
    print("seed %d: %s in %.0f s" % (args.seed, "%d violation(s)" % failed if failed
                                     else "no violations", time.monotonic() - started))
    return 1 if failed else 0


def summary_row(result, seconds):
    figures = result.figures
    requests = figures.get("requests", figures.get("cases", figures.get("messages sent", "")))
    accepted = figures.get("accepted", figures.get("accepted updates", ""))
    refused = figures.get("refused (409)", "")
    if not refused:
        refused = sum(value for figure, value in figures.items()
                      if isinstance(value, int) and (" answered 4" in figure))
    errors = figures.get("errors", sum(value for figure, value in figures.items()
                                       if isinstance(value, int) and (" answered 5" in figure
                                                                      or "-> 5" in figure)))
    # (load: "errors" counts any answer but 200 and 409, each also a violation)
    latencies = [values for label, values in result.latencies.items()
                 if "held for" not in label and "connect" not in label]
    merged = [value for values in latencies for value in values]
    p50 = "%.1f" % (1000 * battery.percentile(merged, 0.5)) if merged else ""
    p99 = "%.1f" % (1000 * battery.percentile(merged, 0.99)) if merged else ""
    return (result.title[:46], requests, accepted, refused or "", errors, p50, p99,
            result.violation_count, seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
