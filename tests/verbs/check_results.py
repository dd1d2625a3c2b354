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


def main():
    out = sys.argv[1]
    print(read(out, "env.txt", "(no env.txt)").strip())
    for f in (replay, poisson, migrate, mismatch, perftest, irq_pin, probe):
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
