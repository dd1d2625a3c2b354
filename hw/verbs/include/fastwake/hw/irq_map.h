// Finds the MSI-X IRQs behind an RDMA device's completion vectors (from
// /sys/class/infiniband/DEV/device/msi_irqs and /proc/interrupts) and moves
// them (/proc/irq/N/smp_affinity_list): the affinity remapper's lever on
// stock drivers. Depends on the C++ standard library only, so the preload shim
// can use it too. Every function takes a root prefix ("" = the real /) so
// tests run on a synthetic tree.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fastwake::hw {

struct IrqMap {
  /// IRQs of each completion vector (index = vector); empty where unknown.
  std::vector<std::vector<int>> vector_irqs;
  /// How the map was found, or why there is none (e.g. "no IRQ lever on rxe0:
  /// software device ..."). Goes into results as extra.irq_lever.
  std::string source;
  /// True if at least one vector has an IRQ.
  bool any() const;
};

/// IRQ number -> name (the last column) of every numbered line of a
/// /proc/interrupts text. Lines without a number (NMI, LOC, ...) are skipped.
std::map<int, std::string> parse_proc_interrupts(std::string_view text);

/// Completion vector index encoded in an IRQ name, -1 if none:
/// "mlx5_comp3@pci:0000:3b:00.0" -> 3, "mlx4-comp-3@pci:..." -> 3.
int comp_vector_of_irq_name(std::string_view name);

/// Discovers the IRQ of each of `num_vectors` completion vectors of `device`.
/// Never throws: a device without IRQs (Soft-RoCE, siw) or with unrecognised
/// IRQ names gives an empty map whose `source` says why.
IrqMap discover_irqs(const std::string& device, int num_vectors, const std::string& root = "");

/// Builds a map from a user-given list (--irqs: IRQ of vector 0, 1, ...).
IrqMap irq_map_from_list(const std::vector<int>& irqs);

/// First CPU the IRQ may run on (/proc/irq/N/smp_affinity_list), -1 if unreadable.
int irq_affinity_cpu(int irq, const std::string& root = "");

/// Pins the IRQ to one CPU. Returns an error text, empty on success (best
/// effort: managed IRQs refuse, non-root cannot write).
std::string pin_irq(int irq, int cpu, const std::string& root = "");

}  // namespace fastwake::hw
