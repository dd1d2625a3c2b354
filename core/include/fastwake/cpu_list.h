// The one parser of CPU lists (and other number lists) in the toolkit: the
// command lines' --cpus/--cpu/--nic-cpu/--irqs and the kernel's
// /proc/irq/N/smp_affinity_list use the same syntax, the kernel's "cpulist"
// format (Documentation/admin-guide/kernel-parameters.rst "cpu lists";
// printed by bitmap_print_to_pagebuf's %*pbl, lib/bitmap.c): items
// separated by commas, each a number N or an ascending range A-B.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fastwake {

/// Largest CPU number a list may name (the kernel's NR_CPUS is at most 8192,
/// CONFIG_MAXSMP; the margin leaves the existence check to the backend,
/// which names the CPUs this host has).
inline constexpr int kMaxCpuNumber = 65535;

/// Parses "0,2-5,7" into {0,2,3,4,5,7}, in the order written (a command
/// line's order means something: the CPU of app core 0, 1, ...). Trailing
/// spaces and newlines (sysfs files) are ignored. Refused, with `*error` set
/// to a message quoting the bad item: an empty list or item ("", "1,,2"),
/// something not a number ("a", "1.5", "+3"), a range that goes down ("5-2"),
/// a number above `max`, a number given twice ("1,1", "0-3,2"). Returns
/// nullopt on refusal.
std::optional<std::vector<int>> parse_cpu_list(std::string_view text, std::string* error = nullptr,
                                               int max = kMaxCpuNumber);

/// As parse_cpu_list, throwing ConfigError("<what>: <reason>") on refusal,
/// e.g. "--cpus: range '5-2' goes down (write 2-5)".
std::vector<int> parse_cpu_list_or_throw(std::string_view text, std::string_view what,
                                         int max = kMaxCpuNumber);

/// {0,1,2,3,8} -> "0-3,8": the inverse, for messages and documents.
std::string format_cpu_list(const std::vector<int>& cpus);

}  // namespace fastwake
