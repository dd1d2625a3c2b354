// IRQ discovery for completion vectors: sysfs MSI list + /proc/interrupts names.
#include "fastwake/hw/irq_map.h"

#include "fastwake/cpu_list.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fastwake::hw {

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  if (!f) return {};
  std::ostringstream o;
  o << f.rdbuf();
  return o.str();
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool IrqMap::any() const {
  for (const auto& v : vector_irqs)
    if (!v.empty()) return true;
  return false;
}

std::map<int, std::string> parse_proc_interrupts(std::string_view text) {
  std::map<int, std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view num = line.substr(0, colon);
    while (!num.empty() && (num.front() == ' ' || num.front() == '\t')) num.remove_prefix(1);
    int irq = 0;
    if (!parse_int(num, &irq)) continue;
    // The name is the last whitespace-separated field.
    std::string_view rest = line.substr(colon + 1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t' || rest.back() == '\r'))
      rest.remove_suffix(1);
    const std::size_t sp = rest.find_last_of(" \t");
    const std::string_view name = sp == std::string_view::npos ? rest : rest.substr(sp + 1);
    if (!name.empty()) out[irq] = std::string(name);
  }
  return out;
}

int comp_vector_of_irq_name(std::string_view name) {
  // "comp" followed by an optional '-' or '_' and digits.
  for (std::size_t at = name.find("comp"); at != std::string_view::npos;
       at = name.find("comp", at + 1)) {
    std::size_t i = at + 4;
    if (i < name.size() && (name[i] == '-' || name[i] == '_')) ++i;
    std::size_t j = i;
    while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
    int v = 0;
    if (j > i && parse_int(name.substr(i, j - i), &v)) return v;
  }
  return -1;
}

IrqMap discover_irqs(const std::string& device, int num_vectors, const std::string& root) {
  IrqMap m;
  m.vector_irqs.assign(num_vectors > 0 ? num_vectors : 0, {});
  const fs::path dev_dir = fs::path(root + "/sys/class/infiniband") / device;
  std::error_code ec;
  if (!fs::exists(dev_dir, ec)) {
    m.source = "no IRQ lever on " + device + ": " + dev_dir.string() + " does not exist";
    return m;
  }
  const fs::path pci_dir = dev_dir / "device";
  if (!fs::exists(pci_dir, ec)) {
    m.source = "no IRQ lever on " + device +
               ": software device (no PCI function, so no MSI-X completion IRQs; e.g. rxe, siw) - "
               "completions are signalled from the kernel's own context";
    return m;
  }
  std::string pci = fs::canonical(pci_dir, ec).filename().string();
  if (ec) pci.clear();
  std::set<int> msi;
  for (const auto& e : fs::directory_iterator(pci_dir / "msi_irqs", ec)) {
    int irq = 0;
    if (parse_int(e.path().filename().string(), &irq)) msi.insert(irq);
  }
  const auto names = parse_proc_interrupts(read_all(root + "/proc/interrupts"));
  int found = 0;
  std::string detail;
  for (const auto& [irq, name] : names) {
    const bool mine = msi.count(irq) || (!pci.empty() && name.find(pci) != std::string::npos);
    if (!mine) continue;
    const int v = comp_vector_of_irq_name(name);
    if (v < 0 || v >= num_vectors) continue;
    m.vector_irqs[v].push_back(irq);
    ++found;
    if (found <= 4)
      detail += (detail.empty() ? "" : ", ") + std::string("vector ") + std::to_string(v) +
                " -> IRQ " + std::to_string(irq) + " (" + name + ")";
  }
  if (found == 0) {
    m.source = "no IRQ lever on " + device + ": " + std::to_string(msi.size()) + " MSI IRQs of " +
               (pci.empty() ? "its PCI function" : pci) +
               " but none named as a completion vector (\"...comp<N>...\") in /proc/interrupts; "
               "give the map with --irqs";
    return m;
  }
  m.source = "/proc/interrupts + sysfs msi_irqs of " + (pci.empty() ? device : pci) + ": " +
             std::to_string(found) + " completion IRQs (" + detail + (found > 4 ? ", ..." : "") +
             ")";
  return m;
}

IrqMap irq_map_from_list(const std::vector<int>& irqs) {
  IrqMap m;
  for (int irq : irqs) m.vector_irqs.push_back({irq});
  std::string list;
  for (std::size_t v = 0; v < irqs.size(); ++v) list += (v ? "," : "") + std::to_string(irqs[v]);
  m.source = "given on the command line (--irqs " + list + ")";
  return m;
}

int irq_affinity_cpu(int irq, const std::string& root) {
  // The kernel writes the list with %*pbl (ascending): core's cpulist parser.
  const auto cpus = fastwake::parse_cpu_list(
      read_all(root + "/proc/irq/" + std::to_string(irq) + "/smp_affinity_list"));
  return cpus && !cpus->empty() ? cpus->front() : -1;
}

std::string pin_irq(int irq, int cpu, const std::string& root) {
  const std::string path = root + "/proc/irq/" + std::to_string(irq) + "/smp_affinity_list";
  std::ofstream f(path);
  if (!f) return path + ": cannot open (" + std::strerror(errno) + ")";
  f << cpu << "\n";
  f.flush();
  if (!f) return path + ": write refused (managed IRQ or not root)";
  return {};
}

}  // namespace fastwake::hw
