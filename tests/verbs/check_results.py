#!/usr/bin/python3
"""Asserts the verbs checks' results (tests/verbs/guest_checks.sh output dir) and prints the figures."""
import json
import os
import re
import sys

STRATEGIES = ["busy_poll", "fastwake_poll", "fastwake_irq", "fastwake_irq_affinity_only",
              "fastwake_irq_wakepath_only", "interrupt"]
BLOCKING = {"fastwake_irq", "fastwake_irq_affinity_only", "fastwake_irq_wakepath_only", "interrupt"}
ITERS = 200

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def read(out, name, default=None):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return default
    with open(p, encoding="utf-8", errors="replace") as f:
        return f.read()


def rc(out, name):
    t = read(out, name + ".rc")
    return None if t is None else int(t.strip() or -1)


def both_ok(out, case):
    s, c = rc(out, case + ".server"), rc(out, case + ".client")
    ok = check(s == 0 and c == 0, f"{case}: server exit {s}, client exit {c} (want 0, 0)")
    if not ok:
        for side in ("server", "client"):
            text = read(out, f"{case}.{side}.out", "") or ""
            print(f"---- {case}.{side}.out (last 15 lines)\n" + "\n".join(text.splitlines()[-15:]))
    return ok


def check_replay_doc(case, doc, strategies, iters=None):
    check(doc.get("schema") == "fastwake-result/1", f"{case}: schema")
    got = [r["strategy"] for r in doc["results"]]
    check(got == strategies, f"{case}: strategies {got}, want {strategies}")
    for r in doc["results"]:
        s, x = r["strategy"], r["extra"]
        check(r["backend"] == "verbs", f"{case}/{s}: backend {r['backend']}")
        check(x["sent"] > 0, f"{case}/{s}: nothing sent")
        check(x["sent"] == x["completed"] == x["served"] == x["replies"],
              f"{case}/{s}: sent {x['sent']} completed {x['completed']} served {x['served']} replies {x['replies']}")
        check(x["server"]["rt_served"] == x["served"], f"{case}/{s}: threads counted {x['server']['rt_served']}")
        check(x["events"] == x["acks"], f"{case}/{s}: events {x['events']} != acks {x['acks']}")
        check(x["bad_replies"] == 0 and x["server"]["errors"] == 0 and x["server"]["left_in_stash"] == 0,
              f"{case}/{s}: bad replies / errors / stash leftovers")
        check(x["drained"], f"{case}/{s}: not drained")
        check(r["requests"] > 0 and r["latency_us"]["p50"] > 0, f"{case}/{s}: no measured requests")
        if iters is not None:
            check(r["requests"] == iters, f"{case}/{s}: -n {iters} but {r['requests']} measured")
        check(abs(x["rtt_half_us"]["p50"] * 2 - r["latency_us"]["p50"]) < 1e-6, f"{case}/{s}: RTT/2")
        if s in BLOCKING:
            check(x["events"] > 0 and x["arms"] > 0, f"{case}/{s}: a blocking strategy saw no events")
        else:
            check(x["events"] == 0, f"{case}/{s}: a polling strategy read {x['events']} events")
        if s == "fastwake_poll":
            check(x["handoffs"] > 0 and x["stashed"] > 0, f"{case}/{s}: no dispatcher hand-offs")
        nic = x["server"]["nic"]
        if "rxe" in x["server"].get("device_name", ""):
            check("no IRQ lever on rxe" in nic["irq_lever"], f"{case}/{s}: irq_lever says {nic['irq_lever']!r}")


def replay(out):
    if not both_ok(out, "replay"):
        return
    docs = {}
    for side in ("server", "client"):
        t = read(out, f"replay.{side}.json")
        if check(t is not None, f"replay: no {side} JSON"):
            docs[side] = json.loads(t)
            check_replay_doc(f"replay.{side}", docs[side], STRATEGIES)
    if len(docs) == 2:
        for a, b in zip(docs["server"]["results"], docs["client"]["results"]):
            check(a["extra"]["sent"] == b["extra"]["sent"] and a["latency_us"] == b["latency_us"],
                  f"replay/{a['strategy']}: server and client documents differ")
        print("replay (RTT us as the client saw it; emulated guest + rxe: functional figures only):")
        for r in docs["client"]["results"]:
            x = r["extra"]
            print(f"  {r['strategy']:28s} p50 {r['latency_us']['p50']:10.1f}  p99 {r['latency_us']['p99']:10.1f}"
                  f"  requests {x['sent']:5d}  events {x['events']:5d}  handoffs {x['handoffs']:5d}")


def poisson(out):
    if not both_ok(out, "poisson"):
        return
    t = read(out, "poisson.client.json")
    if check(t is not None, "poisson: no client JSON"):
        doc = json.loads(t)
        check_replay_doc("poisson", doc, ["interrupt", "fastwake_poll"], iters=ITERS)
        check(doc["config"]["workload"]["message_bytes"] == 256, "poisson: -s 256 not applied")
        check(all(r["extra"]["server"]["nic"]["cq_vectors"] == [0] * 4 for r in doc["results"]),
              "poisson: -X 0 did not put every CQ on vector 0")


def migrate(out):
    if not both_ok(out, "migrate"):
        return
    t = read(out, "migrate.client.json")
    if check(t is not None, "migrate: no client JSON"):
        doc = json.loads(t)
        check_replay_doc("migrate", doc, ["fastwake_irq", "fastwake_poll"])
        irq = doc["results"][0]["extra"]["server"]
        check(irq["remapper_moves"] >= 1, f"migrate: the remapper did not follow the migrated thread: {irq['remapper_moves']}")
        nic = irq["nic"]
        check(nic["irq_moves"] + nic["irq_moves_without_lever"] >= 1, f"migrate: set_vector_core never called: {nic}")


def probe(out):
    for case in ("probe_stock", "probe_shim_dispatcher", "probe_shim_irq"):
        text = read(out, case + ".out", "") or ""
        ok = check(rc(out, case) == 0 and "all parts ok" in text, f"{case}: exit {rc(out, case)}")
        if not ok:
            print(f"---- {case}.out\n{text[-2000:]}")
    for mode in ("dispatcher", "irq"):
        st = stats_lines(out, f"probe_shim_{mode}.stats")
        if not check(len(st) == 2, f"probe_shim_{mode}: {len(st)} shim reports (want 2: fork child, parent)"):
            continue
        child, parent = st
        check(parent["balanced"], f"probe_shim_{mode} parent: not balanced: {parent}")
        check(parent["cqs_created"] == parent["cqs_destroyed"] >= 10, f"probe_shim_{mode} parent: CQs {parent}")
        if mode == "dispatcher":
            check(parent["channels_emulated"] >= 4 and parent["events_emulated"] >= 4 * ITERS,
                  f"probe_shim_dispatcher parent: events not emulated: {parent}")
            check(child["refused"] == 1, f"probe_shim_dispatcher child: the inherited channel was not refused: {child}")
        else:
            check(parent["events_real"] >= 4 * ITERS and parent["events_emulated"] == 0,
                  f"probe_shim_irq parent: {parent}")
            check(child["refused"] == 0 and child["balanced"], f"probe_shim_irq child: {child}")
        check(child["events_emulated"] == child["acks_emulated"] and child["events_real"] == child["acks_real"]
              and child["events_emulated"] + child["events_real"] >= 20 and child["cqs_created"] == child["cqs_destroyed"],
              f"probe_shim_{mode} child: its own CQ's events/acks: {child}")


def mismatch(out):
    s, c = rc(out, "mismatch.server"), rc(out, "mismatch.client")
    check(s == 2, f"mismatch: server exit {s}, want 2 (bad input)")
    check(c not in (0, None), f"mismatch: client exit {c}, want a failure")
    text = (read(out, "mismatch.server.out", "") or "") + (read(out, "mismatch.client.out", "") or "")
    check("configs differ" in text and "workload.message_bytes" in text,
          "mismatch: no 'configs differ ... workload.message_bytes' message")


def perftest_line(text):
    m = re.search(r"^\s*\d+\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text or "", re.M)
    return m and {"iters": int(m.group(1)), "t_min": float(m.group(2)), "t_typical": float(m.group(4))}


def stats_lines(out, name):
    t = read(out, name)
    if t is None:
        return []
    return [json.loads(line) for line in t.splitlines() if line.strip()]


def perftest(out):
    figures = []
    for case in ["lat_poll", "lat_events", "lat_shim_dispatcher", "lat_shim_irq", "lat_shim_off"]:
        if not both_ok(out, case):
            continue
        line = perftest_line(read(out, case + ".client.out"))
        if check(line is not None and line["iters"] == ITERS, f"{case}: no ib_send_lat result line for {ITERS} iterations"):
            figures.append((case, line["t_typical"]))
    for case in ["lat_shim_dispatcher", "lat_shim_irq", "lat_shim_off", "rc_shim_dispatcher", "rc_shim_irq"]:
        if case.startswith("rc_") and not both_ok(out, case):
            continue
        if case.startswith("rc_"):
            check(f"{ITERS} iters in" in (read(out, case + ".client.out") or ""), f"{case}: no ibv_rc_pingpong result")
        mode = case.split("_shim_")[1]
        for side in ("server", "client"):
            st = stats_lines(out, f"{case}.{side}.stats")
            if not check(len(st) == 1, f"{case}.{side}: {len(st)} shim reports (want 1)"):
                continue
            s = st[0]
            tag = f"{case}.{side}"
            check(s["mode"] == mode, f"{tag}: shim mode {s['mode']}")
            check(s["balanced"], f"{tag}: shim accounting not balanced: {s}")
            check(s["cqs_created"] > 0 and s["cqs_created"] == s["cqs_destroyed"], f"{tag}: CQs created/destroyed {s}")
            check(s["polled_wc"] >= ITERS, f"{tag}: only {s['polled_wc']} completions polled")
            check(s["arms"] >= ITERS, f"{tag}: only {s['arms']} arms")
            if mode == "dispatcher":
                check(s["channels_emulated"] >= 1 and s["events_emulated"] >= ITERS and s["events_real"] == 0,
                      f"{tag}: dispatcher mode did not emulate events: {s}")
                check(s["events_emulated"] == s["acks_emulated"] and s["stashed"] == s["unstashed"] + s["stash_dropped"],
                      f"{tag}: emulated events/acks or stash do not add up: {s}")
            else:
                check(s["events_emulated"] == 0 and s["events_real"] >= ITERS and s["events_real"] == s["acks_real"],
                      f"{tag}: pass-through events/acks do not add up: {s}")
            if mode == "irq":
                check("no IRQ lever" in s["irq_lever"] or s["irq_repins"] >= 0, f"{tag}: irq lever {s['irq_lever']!r}")
                # core's RemapDriver runs before every block: without an IRQ lever (rxe) the
                # vector's CPU is unknown, so the first waiter's report moves it (nothing to pin).
                if "no IRQ lever" in s["irq_lever"]:
                    check(s["remap_moves"] >= 1 and s["irq_repins"] == 0,
                          f"{tag}: the remap driver took no decision: {s}")
    # The dispatcher could not start (FW_PRELOAD_TEST_FAIL_THREAD=1): stock path, said so, no hang.
    if both_ok(out, "lat_shim_nothread"):
        for side in ("server", "client"):
            st = stats_lines(out, f"lat_shim_nothread.{side}.stats")
            if not check(len(st) == 1, f"lat_shim_nothread.{side}: {len(st)} shim reports (want 1)"):
                continue
            s = st[0]
            check(s["dispatcher_start_failures"] >= 1 and s["channels_emulated"] == 0
                  and s["events_emulated"] == 0 and s["events_real"] >= ITERS and s["balanced"],
                  f"lat_shim_nothread.{side}: not on the stock path after the failed start: {s}")
        check("cannot start the dispatcher thread" in (read(out, "lat_shim_nothread.client.out") or "")
              + (read(out, "lat_shim_nothread.client.err") or ""),
              "lat_shim_nothread: no message about the dispatcher thread")
    if figures:
        print("ib_send_lat (t_typical = median RTT/2, us; emulated guest + rxe: functional figures only):")
        for case, t in figures:
            print(f"  {case:22s} {t:10.2f}")


def irq_pin(out):
    """irq mode with a lever: the server's shim was given a virtio IRQ as vector 0's."""
    aff = read(out, "lat_shim_irq_pin.affinity")
    if aff is None:
        print("lat_shim_irq_pin: not run (no virtio IRQ on this machine)")
        return
    if not both_ok(out, "lat_shim_irq_pin"):
        return
    m = re.match(r"irq (\d+) cpu (\d+) before (\S*) after (\S*)", aff)
    if not check(m is not None, f"lat_shim_irq_pin: affinity record {aff!r}"):
        return
    st = stats_lines(out, "lat_shim_irq_pin.server.stats")
    if not check(len(st) == 1, f"lat_shim_irq_pin.server: {len(st)} shim reports (want 1)"):
        return
    s = st[0]
    check(s["balanced"] and "FW_PRELOAD_IRQS" in s["irq_lever"], f"lat_shim_irq_pin.server: {s}")
    check(s["remap_moves"] >= 1 and s["irq_repins"] >= 1 and s["irq_errors"] == 0,
          f"lat_shim_irq_pin.server: the remap driver did not re-pin IRQ {m.group(1)}: {s}")
    check(m.group(4) == m.group(2),
          f"lat_shim_irq_pin: IRQ {m.group(1)} is on CPU(s) {m.group(4)} after the run, want the server's {m.group(2)}")
    print(f"lat_shim_irq_pin: IRQ {m.group(1)} CPU {m.group(3)} -> {m.group(4)}, "
          f"irq_repins {s['irq_repins']}, remap_moves {s['remap_moves']}")


def load_doc(out, name):
    """A --json file of a failed run: absent, or a whole valid document."""
    t = read(out, name)
    if t is None:
        return None
    try:
        return json.loads(t)
    except ValueError as e:
        check(False, f"{name}: not valid JSON ({e}): partial output")
        return None


def fault_case(out, case, side, want_rc, message, finished, max_secs=90):
    """One side of a fault case: exit status, bounded time, clear message, the
    strategies that finished written whole (and only those)."""
    name = f"{case}.{side}"
    r = rc(out, name)
    text = read(out, f"{name}.out", "") or ""
    hung = read(out, f"{name}.hung")
    ok = check(hung is None, f"{name}: hung ({hung.strip() if hung else ''}) - the watchdog killed it")
    ok &= check(r in want_rc, f"{name}: exit {r}, want {' or '.join(map(str, want_rc))}")
    secs = read(out, f"{name}.secs")
    if secs is not None:
        ok &= check(float(secs) <= max_secs, f"{name}: took {secs.strip()} s (bound {max_secs} s)")
    if message:
        ok &= check(re.search(message, text) is not None, f"{name}: no message matching {message!r}")
    if finished is not None:
        doc = load_doc(out, f"{name}.json")
        if check(doc is not None, f"{name}.json: the strategies that finished were not written"):
            check_replay_doc(name, doc, finished)
            check(doc["config"]["strategies"] == finished,
                  f"{name}.json: config.strategies {doc['config']['strategies']}, want {finished}")
    if not ok:
        print(f"---- {name}.out (last 15 lines)\n" + "\n".join(text.splitlines()[-15:]))
    last = [l for l in text.splitlines() if "fastwake-bench:" in l or "failed" in l]
    print(f"{name}: exit {r}" + (f", {secs.strip()} s" if secs else "") + (f": {last[-1][:200]}" if last else ""))


def resources(out, name):
    t = read(out, name)
    if not check(t is not None, f"{name}: missing"):
        return None
    m = re.match(r"fds (\d+) qps (\d+) cqs (\d+) mrs (\d+)", t)
    if not check(m is not None, f"{name}: {t!r}"):
        return None
    return dict(zip(("fds", "qps", "cqs", "mrs"), map(int, m.groups())))


def faults(out):
    print(read(out, "faults.env", "(no faults.env)").strip())
    one = ["busy_poll"]
    fault_case(out, "good0", "client", (0,), None, ["busy_poll", "interrupt"])
    # The client killed mid-strategy 2: the forever server drops the session.
    fault_case(out, "client_kill", "client", (137,), None, None)
    fault_case(out, "qp_error", "client", (1,), r"interrupt \[2/2\] failed: .*error state", one)
    fault_case(out, "mismatch_mid", "client", (1,), r"configs differ \(workload\.message_bytes: server 64, client 128\)", one)
    fault_case(out, "slow_client", "client", (1,), r"interrupt \[2/2\] failed: ", one)
    # The link down for 3 s: the run either survives exactly-once or fails cleanly.
    r = rc(out, "link_flap.client")
    fault_case(out, "link_flap", "client", (0, 1), r"interrupt \[2/2\] failed: " if r == 1 else None,
               one if r == 1 else ["busy_poll", "interrupt"])
    fault_case(out, "good_after", "client", (0,), None, ["busy_poll", "interrupt"])
    srv = read(out, "forever.server.out", "") or ""
    check((read(out, "forever.server.alive", "") or "").strip() == "alive",
          "forever server: did not survive the faulty clients")
    check(read(out, "forever.server.hung") is None, "forever server: hung")
    for what, pat in (("client_kill", r"interrupt \[2/2\] for client .* failed: .*closed the connection"),
                      ("qp_error", r"failed: the client reports: client: .*error state"),
                      ("mismatch_mid", r"interrupt \[2/2\] for client .* failed: server and client configs differ"),
                      ("slow_client", r"failed: the client went silent: nothing on the side channel for 5 s")):
        check(re.search(pat + r".*serving the next client", srv) is not None,
              f"forever server: no message for {what} matching {pat!r}")
    b, a = resources(out, "forever.before"), resources(out, "forever.after")
    d = resources(out, "forever.during")
    if b and a and d:
        print(f"forever server resources: between sessions before the faults {b}, "
              f"mid-session {d}, after the faults {a}")
        # The counting sees the server's objects: 4 threads' QPs, CQs, the MR.
        check(d["qps"] >= 4 and d["cqs"] >= 4 and d["mrs"] >= 1,
              f"forever server: rdma res lists too few QPs/CQs/MRs mid-session ({d}): cannot count leaks")
        for k in ("fds", "qps", "cqs", "mrs"):
            check(a[k] == b[k], f"forever server: {k} {b[k]} after the baseline client, {a[k]} after the faulty ones (leak)")
    soak_check(out)
    # One-shot servers.
    fault_case(out, "client_kill_oneshot", "client", (137,), None, None)
    fault_case(out, "client_kill_oneshot", "server", (1,), r"interrupt \[2/2\] for client .* failed: .*closed the connection", one)
    fault_case(out, "server_kill", "server", (137,), None, None)
    fault_case(out, "server_kill", "client", (1,), r"interrupt \[2/2\] failed: ", one, max_secs=60)
    stress(out)


def soak_check(out):
    """The forever server's fds and VmRSS after each of 20 short clients
    (guest_faults.sh): fds exactly flat and RSS within 256 kB between the
    medians of clients 6-10 and 16-20 (the first 5 are the warm-up). A server
    that kept every client's series grew ~100 kB per client of the default
    config (docs/verbs.md), ~50 kB per three-strategy client here: ~500 kB
    over the 10 clients between the medians; the figure measured is printed."""
    text = read(out, "forever.soak")
    if text is None:
        check(False, "forever server soak: forever.soak missing")
        return
    rows = [l.split() for l in text.splitlines() if l.strip()]
    bad = [l for l in rows if len(l) != 3]
    check(not bad, f"forever server soak: a client failed: {bad}")
    rows = [] if bad else [(int(i), int(f), int(r)) for i, f, r in rows]
    if len(rows) < 20:
        check(False, f"forever server soak: only {len(rows)} of 20 clients")
        return
    import statistics
    fds = {f for _, f, _ in rows[5:]}
    early = statistics.median(r for _, _, r in rows[5:10])
    late = statistics.median(r for _, _, r in rows[15:20])
    print(f"forever server soak: 20 clients, fds {sorted(fds)}, VmRSS median clients 6-10 {early:.0f} kB, "
          f"16-20 {late:.0f} kB (growth {late - early:.0f} kB)")
    check(len(fds) == 1, f"forever server soak: fds moved after the warm-up: {sorted(fds)}")
    check(late - early <= 256, f"forever server soak: VmRSS grew {late - early:.0f} kB over 10 clients (leak)")


def stress(out):
    """fw_shim_stress: the same stdout with and without the shim, balanced counters."""
    if read(out, "stress_stock.rc") is None:
        check(False, "stress: fw_shim_stress did not run")
        return
    stock = read(out, "stress_stock.out", "") or ""
    ok = check(rc(out, "stress_stock") == 0 and read(out, "stress_stock.hung") is None,
               f"stress_stock: exit {rc(out, 'stress_stock')} (the stock verbs run itself failed)")
    if not ok:
        print("---- stress_stock.out\n" + stock + (read(out, "stress_stock.err", "") or ""))
    for mode in ("dispatcher", "irq"):
        case = f"stress_shim_{mode}"
        text = read(out, case + ".out", "") or ""
        hung = read(out, case + ".hung")
        check(hung is None, f"{case}: hung ({(hung or '').strip()})")
        check(rc(out, case) == rc(out, "stress_stock"), f"{case}: exit {rc(out, case)}, stock {rc(out, 'stress_stock')}")
        if not check(text == stock, f"{case}: stdout differs from the stock run"):
            a, b = stock.splitlines(), text.splitlines()
            for i in range(max(len(a), len(b))):
                x, y = (a[i] if i < len(a) else "<none>"), (b[i] if i < len(b) else "<none>")
                if x != y:
                    print(f"{case}: stock : {x}\n{case}: shim  : {y}")
        st = stats_lines(out, case + ".stats")
        if not check(len(st) == 2, f"{case}: {len(st)} shim reports (want 2: the exec'ed child, the process)"):
            continue
        child, parent = st
        for who, r in (("child", child), ("parent", parent)):
            check(r["balanced"] and r["unacked"] == 0 and r["overacks"] == 0 and r["refused"] == 0,
                  f"{case} {who}: counters not balanced: {r}")
            check(r["events_emulated"] == r["acks_emulated"] and r["events_real"] == r["acks_real"],
                  f"{case} {who}: events delivered != acked: {r}")
        # exit_waiting's pair is still there at exit: 2 CQs
        check(parent["cqs_created"] == parent["cqs_destroyed"] + 2,
              f"{case} parent: CQs created {parent['cqs_created']}, destroyed {parent['cqs_destroyed']} (want +2)")
        delivered = parent["events_emulated"] if mode == "dispatcher" else parent["events_real"]
        check(delivered >= 64, f"{case} parent: only {delivered} events delivered through the {mode} path")
        print(f"{case}: stdout as stock ({len(text.splitlines())} lines); parent events emulated "
              f"{parent['events_emulated']} real {parent['events_real']}, acks {parent['acks_emulated']}+{parent['acks_real']}, "
              f"purged {parent['events_purged']}, balanced {parent['balanced']}; child balanced {child['balanced']}")
    print("stress_stock:\n  " + "\n  ".join(stock.splitlines()))


def main():
    args = sys.argv[1:]
    suite = (replay, poisson, migrate, mismatch, perftest, irq_pin, probe)
    if args and args[0] == "--faults":
        suite = (faults,)
        args = args[1:]
    out = args[0]
    if suite[0] is replay:
        print(read(out, "env.txt", "(no env.txt)").strip())
    for f in suite:
        try:
            f(out)
        except Exception as e:  # a malformed file is a failure, not a crash
            failures.append(f"{f.__name__}: {type(e).__name__}: {e}")
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        for x in failures:
            print("  - " + x)
        return 1
    print("verbs checks: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
