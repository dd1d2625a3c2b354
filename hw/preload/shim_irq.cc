// Preload shim, irq mode: per device context an IRQ lever (the IRQs of its
// completion vectors, /proc/irq) and core's RemapDriver over it, fed by
// threads about to block in ibv_get_cq_event; and the completion vector a new
// CQ is created on (FW_PRELOAD_VECTOR), chosen by core's placement rules.
// CoreIds here are CPU numbers. The remap rule (majority vote per vector,
// reaction delay, hysteresis) is the one the model and the replay server run.
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fastwake/cpu_list.h"
#include "fastwake/hw/irq_map.h"
#include "fastwake/nic.h"
#include "fastwake/placement.h"
#include "fastwake/remap_driver.h"
#include "shim_state.h"

namespace fastwake::preload {

/// Where a device context's completion vectors' interrupts go (CoreId = CPU).
class ShimLever final : public IrqLever {
 public:
  ShimLever(const hw::IrqMap& map, int vectors) : map_(map), vectors_(vectors) {}

  int num_vectors() const override { return vectors_; }

  /// The CPU the vector's first IRQ may run on; kNoCore without an IRQ
  /// (rxe, siw) or if unreadable.
  CoreId vector_core(VectorId v) const override {
    const std::vector<int>* irqs = irqs_of(v);
    if (!irqs || irqs->empty()) return kNoCore;
    const int cpu = hw::irq_affinity_cpu(irqs->front());
    return cpu >= 0 ? cpu : kNoCore;
  }

  /// Re-pins every IRQ of the vector to the CPU (irq_repins, irq_errors); a
  /// vector without IRQs has nothing to move, but the decision is counted
  /// (remap_moves) all the same.
  void set_vector_core(VectorId v, CoreId cpu) override {
    g_tot.remap_moves.fetch_add(1, std::memory_order_relaxed);
    const std::vector<int>* irqs = irqs_of(v);
    if (!irqs || cpu < 0) return;
    for (int irq : *irqs) {
      const std::string e = hw::pin_irq(irq, cpu);
      if (e.empty()) {
        g_tot.irq_repins.fetch_add(1, std::memory_order_relaxed);
      } else if (g_tot.irq_errors.fetch_add(1) == 0) {
        log("IRQ re-pin failed: %s", e.c_str());
      }
    }
  }

 private:
  const std::vector<int>* irqs_of(VectorId v) const {
    if (v < 0 || v >= static_cast<VectorId>(map_.vector_irqs.size())) return nullptr;
    return &map_.vector_irqs[static_cast<std::size_t>(v)];
  }
  const hw::IrqMap& map_;
  int vectors_;
};

/// A device context's remap state. `driver` only under `mu` (ibv_get_cq_event
/// runs in many threads; this is off the fast path, before a blocking read).
struct IrqCtl {
  IrqCtl(hw::IrqMap m, int vectors)
      : map(std::move(m)), lever(map, vectors), driver(g_remap_opts, lever) {}
  hw::IrqMap map;
  ShimLever lever;
  RemapDriver driver;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
};

namespace {

/// FW_PRELOAD_IRQS=A,B,...: the IRQ of completion vector 0, 1, ... (like the
/// replay tool's --irqs, for devices whose IRQs discovery cannot name).
/// Empty if unset; a message and empty if malformed.
std::vector<int> given_irqs() {
  const char* v = std::getenv("FW_PRELOAD_IRQS");
  if (!v || !*v) return {};
  // core's list parser, as the replay tool's --irqs (ranges allowed, order kept).
  std::string why;
  auto irqs = fastwake::parse_cpu_list(v, &why, 1'000'000);
  if (!irqs) {
    log("FW_PRELOAD_IRQS=%s is not a list of IRQ numbers (A,B,...: the IRQ of vector 0, 1, ...; "
        "%s): discovering the device's IRQs instead",
        v, why.c_str());
    return {};
  }
  return *irqs;
}

}  // namespace

void ensure_irq_map(ibv_context* ctx) {
  if (g_mode != Mode::kIrq) return;
  Ctx* c = find_ctx(ctx);
  if (!c || c->irq.load(std::memory_order_acquire)) return;
  pthread_mutex_lock(&g_mu);
  if (!c->irq.load(std::memory_order_relaxed)) {
    const int nv = ctx->num_comp_vectors > 0 ? ctx->num_comp_vectors : 0;
    guarded("irq mode set-up", [&] {
      const std::vector<int> given = given_irqs();
      hw::IrqMap m =
          given.empty() ? hw::discover_irqs(ctx->device->name, nv) : hw::irq_map_from_list(given);
      if (!given.empty()) {
        m.source = "given in FW_PRELOAD_IRQS (" + std::string(std::getenv("FW_PRELOAD_IRQS")) + ")";
        if (static_cast<int>(given.size()) > nv)
          log("FW_PRELOAD_IRQS: %zu IRQs for the %d completion vectors of %s: the rest are ignored",
              given.size(), nv, ctx->device->name);
      }
      m.vector_irqs.resize(static_cast<std::size_t>(nv));
      std::snprintf(g_irq_lever, sizeof g_irq_lever, "%s", m.source.c_str());
      for (char& ch : g_irq_lever)
        if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20)
          ch = ch ? '\'' : ch;  // stays valid JSON
      if (g_verbose) log("%s", m.source.c_str());
      // The driver reads the vectors' current CPUs through the lever.
      c->irq.store(new IrqCtl(std::move(m), nv), std::memory_order_release);
    });
  }
  pthread_mutex_unlock(&g_mu);
}

int choose_vector(ibv_context* ctx, int app_vector) {
  if (g_mode != Mode::kIrq || g_vector_choice == -2) return app_vector;
  const int nv = ctx->num_comp_vectors;
  g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
  if (g_vector_choice >= 0) return nv > 0 ? g_vector_choice % nv : app_vector;
  // auto: core's "the vector whose IRQ is on my CPU" (the first, rank 0),
  // else the stock round-robin with the CPU number in the CQ index's place
  // (threads on different CPUs spread over the vectors).
  const int cpu = sched_getcpu();
  if (nv <= 0 || cpu < 0) return app_vector;
  VectorId v = stock_cq_vector(cpu, nv);
  Ctx* c = find_ctx(ctx);
  if (IrqCtl* r = c ? c->irq.load(std::memory_order_acquire) : nullptr)
    guarded("vector choice", [&] {
      std::vector<CoreId> where(static_cast<std::size_t>(nv));
      for (VectorId k = 0; k < nv; ++k)
        where[static_cast<std::size_t>(k)] = r->lever.vector_core(k);
      if (const auto mine = vector_on_core(where, cpu, 0)) v = *mine;
    });
  return v;
}

void irq_register(Slot& s, Ctx* c, int vector) {
  // Not yet reachable by follow_thread (it is added to its channel after this).
  s.vector = vector;
  s.irq = g_mode == Mode::kIrq && c ? c->irq.load(std::memory_order_acquire) : nullptr;
  s.in_remap = false;
}

void irq_forget(int i) {
  Slot& s = g_slot[i];
  IrqCtl* r = s.irq;
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  if (s.in_remap) guarded("remap driver", [&] { r->driver.remove_cq(i, now_ns()); });
  s.in_remap = false;
  pthread_mutex_unlock(&r->mu);
}

void follow_thread(int chan) {
  Chan& c = g_chan[chan];
  // A fork child waiting on its parent's channel does not move the parent's
  // vectors (its copy of the remap state, and of the locks, is the parent's).
  if (inherited(c.pid)) return;
  const int cpu = sched_getcpu();
  if (cpu < 0) return;
  const Nanos now = now_ns();
  pthread_mutex_lock(&c.mu);
  for (int i : *c.cqs) {
    Slot& s = g_slot[i];
    IrqCtl* r = s.irq;
    if (!r || inherited(s.pid) || s.vector < 0 || s.vector >= r->lever.num_vectors()) continue;
    pthread_mutex_lock(&r->mu);
    guarded("remap driver", [&] {
      // A CQ votes from its first waiter's report on (never as "unknown core").
      if (!s.in_remap) {
        r->driver.add_cq(i, s.vector);
        s.in_remap = true;
      }
      r->driver.thread_at(i, cpu, now);
      r->driver.run_due(now);
    });
    pthread_mutex_unlock(&r->mu);
  }
  pthread_mutex_unlock(&c.mu);
}

}  // namespace fastwake::preload
