// The model's wake-path stage table against the module: docs/kmod.md's
// documented stage list (between the fastwake-module-stages markers) must
// equal wake_stages::kModule, and every fw_ function it names must exist in
// kmod/fastwake.c. Changing either side alone fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "fastwake/strategy.h"
#include "fastwake/wait_policy.h"
#include "fastwake/wake_path.h"

using namespace fastwake;

namespace {

std::string slurp(const std::string& rel) {
  std::ifstream f(std::string(FW_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(f.good()) << rel;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct DocRow {
  std::string stage, where;
};

/// Rows of the documented table: first column `stage`, last column functions.
std::vector<DocRow> documented_module_stages() {
  const std::string doc = slurp("docs/kmod.md");
  const auto a = doc.find("<!-- fastwake-module-stages:begin -->");
  const auto b = doc.find("<!-- fastwake-module-stages:end -->");
  EXPECT_NE(a, std::string::npos);
  EXPECT_NE(b, std::string::npos);
  std::vector<DocRow> rows;
  if (a == std::string::npos || b == std::string::npos) return rows;
  std::istringstream in(doc.substr(a, b - a));
  std::string line;
  const std::regex row(R"(^\|\s*`([a-z_]+)`\s*\|.*\|([^|]*)\|\s*$)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, row)) rows.push_back({m[1], m[2]});
  return rows;
}

std::vector<std::string> model_stages(WakePathKind k) {
  std::vector<std::string> out;
  for (WakeStage s : wake_path_stages(k)) out.emplace_back(wake_stage_name(s));
  return out;
}

}  // namespace

TEST(WakePath, ModuleStageListEqualsTheDocumentedModuleStages) {
  std::vector<std::string> doc;
  for (const auto& r : documented_module_stages()) doc.push_back(r.stage);
  EXPECT_EQ(doc, model_stages(WakePathKind::kModule));
}

TEST(WakePath, EveryModuleFunctionTheTableNamesExistsInTheModule) {
  const std::string src = slurp("kmod/fastwake.c");
  const std::regex fn(R"(\b(fw_[a-z_]+)\b)");
  int named = 0;
  for (const auto& r : documented_module_stages()) {
    for (std::sregex_iterator it(r.where.begin(), r.where.end(), fn), end; it != end; ++it) {
      ++named;
      const std::string name = (*it)[1];
      EXPECT_TRUE(std::regex_search(src, std::regex("\\b" + name + "\\s*\\(")))
          << "stage " << r.stage << " names " << name << ", which kmod/fastwake.c does not define";
    }
  }
  EXPECT_GE(named, 4);
  // The two facts the module stages rest on: the callback wakes with the stock
  // wake function, and FW_ATTACH_PREEMPT only asks the IRQ CPU to reschedule.
  EXPECT_NE(src.find("default_wake_function(wait, mode, sync, key)"), std::string::npos);
  EXPECT_NE(src.find("task_cpu(thr->task) == smp_processor_id()"), std::string::npos);
}

TEST(WakePath, VariantsDifferOnlyByTheirStages) {
  using S = WakeStage;
  const WakePath stock = WakePath::stock(), module = WakePath::module(),
                 deep = WakePath::proposal();
  // The module keeps uverbs' handler and the stock wake-up; it adds its callback.
  EXPECT_TRUE(module.has(S::kUverbsHandler));
  EXPECT_TRUE(module.has(S::kTtwu));
  EXPECT_TRUE(module.has(S::kCtxSwitch));
  EXPECT_FALSE(module.has(S::kHeadOfRunqueue));
  EXPECT_FALSE(module.has(S::kReadReturn));
  EXPECT_TRUE(stock.has(S::kReadReturn));
  // The proposal: no uverbs event (so no drain), head of the run queue.
  EXPECT_FALSE(deep.has(S::kUverbsHandler));
  EXPECT_FALSE(deep.has(S::kDeferredDrain));
  EXPECT_TRUE(deep.has(S::kHeadOfRunqueue));
  EXPECT_FALSE(deep.implemented());
  EXPECT_TRUE(module.implemented());
  EXPECT_NE(wake_path_name(WakePathKind::kProposal).find("proposal"), std::string::npos);
}

TEST(WakePath, EveryStrategyIsImplementedByTheModuleOrMarkedAProposal) {
  for (const auto& s : strategies()) {
    if (s.name.rfind("test_", 0) == 0) continue;
    SCOPED_TRACE(s.name);
    if (!s.wake_path.implemented()) {
      EXPECT_NE(s.description.find("PROPOSAL"), std::string::npos);
    }
    const WaitPolicy wp(s);
    if (s.wait == WaitMode::kBlock) {
      EXPECT_NE(wp.woken_reads_channel(), wp.waits_in_module());
    }
  }
}
