// Preload shim, irq mode: the IRQs of a device context's completion vectors
// (discovered at its first CQ), re-pinned to the CPU of a thread about to
// block in ibv_get_cq_event; and the completion vector a new CQ is created
// on (FW_PRELOAD_VECTOR).
#include <sched.h>

#include <cstdio>
#include <string>

#include "fastwake/hw/irq_map.h"
#include "shim_state.h"

namespace fastwake::preload {

int choose_vector(ibv_context* ctx, int app_vector) {
  if (g_mode != Mode::kIrq || g_vector_choice == -2) return app_vector;
  const int nv = ctx->num_comp_vectors;
  if (g_vector_choice >= 0) {
    g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
    return nv > 0 ? g_vector_choice % nv : app_vector;
  }
  // auto: the vector whose IRQ is on this CPU, else cpu % vectors.
  const int cpu = sched_getcpu();
  Ctx* c = find_ctx(ctx);
  if (c && c->irqs)
    for (int v = 0; v < static_cast<int>(c->irqs->vector_irqs.size()); ++v)
      if (!c->irqs->vector_irqs[v].empty() &&
          fastwake::hw::irq_affinity_cpu(c->irqs->vector_irqs[v][0]) == cpu) {
        g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
        return v;
      }
  g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
  return nv > 0 && cpu >= 0 ? cpu % nv : app_vector;
}

void ensure_irq_map(ibv_context* ctx) {
  if (g_mode != Mode::kIrq) return;
  Ctx* c = find_ctx(ctx);
  if (!c || c->irqs) return;
  auto* m = new fastwake::hw::IrqMap(fastwake::hw::discover_irqs(ctx->device->name, ctx->num_comp_vectors));
  c->irqs = m;
  std::snprintf(g_irq_lever, sizeof g_irq_lever, "%s", m->source.c_str());
  for (char& ch : g_irq_lever)
    if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20)
      ch = ch ? '\'' : ch;  // stays valid JSON
  if (g_verbose) log("%s", m->source.c_str());
}

void follow_thread(int chan) {
  Chan& c = g_chan[chan];
  const int cpu = sched_getcpu();
  if (cpu < 0) return;
  const std::int64_t now = now_ns();
  pthread_mutex_lock(&c.mu);
  for (int i : *c.cqs) {
    Slot& s = g_slot[i];
    if (s.n_irqs == 0 || s.pinned_cpu == cpu || now - s.last_pin_ns < 1'000'000) continue;
    for (int k = 0; k < s.n_irqs; ++k) {
      const std::string e = fastwake::hw::pin_irq(s.irqs[k], cpu);
      if (e.empty()) {
        g_tot.irq_repins.fetch_add(1, std::memory_order_relaxed);
      } else if (g_tot.irq_errors.fetch_add(1) == 0) {
        log("IRQ re-pin failed: %s", e.c_str());
      }
    }
    s.pinned_cpu = cpu;
    s.last_pin_ns = now;
  }
  pthread_mutex_unlock(&c.mu);
}

}  // namespace fastwake::preload
