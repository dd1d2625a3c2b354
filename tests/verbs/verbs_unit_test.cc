// Verbs backend pieces that need no NIC: IRQ discovery on a synthetic sysfs/proc tree, the shim's ack split,
// the side channel, QP address exchange, and the server/client command-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "fastwake/errors.h"
#include "fastwake/hw/irq_map.h"
#include "fastwake/hw/side_channel.h"
#include "fastwake/hw/verbs_device.h"
#include "ledger.h"

namespace fs = std::filesystem;
using fastwake::DeviceError;
using namespace fastwake::hw;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// A machine with mlx5_0 on PCI 0000:3b:00.0 (IRQs 120 async, 121/122 comp
/// 0/1, 130 of another device named comp0 too), rxe0 (software), and irdma0
/// whose IRQs carry no vector names.
struct FakeRoot {
  fs::path root;
  FakeRoot() {
    root = fs::temp_directory_path() / ("fw_irq_test_" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path pci = root / "sys/devices/pci0000:00/0000:3b:00.0";
    for (int irq : {120, 121, 122}) write(pci / "msi_irqs" / std::to_string(irq), "msix\n");
    fs::create_directories(root / "sys/class/infiniband/mlx5_0");
    fs::create_symlink(pci, root / "sys/class/infiniband/mlx5_0/device");
    fs::create_directories(root / "sys/class/infiniband/rxe0/ports/1");
    const fs::path pci2 = root / "sys/devices/pci0000:00/0000:5e:00.0";
    write(pci2 / "msi_irqs/140", "msix\n");
    fs::create_directories(root / "sys/class/infiniband/irdma0");
    fs::create_symlink(pci2, root / "sys/class/infiniband/irdma0/device");
    write(
        root / "proc/interrupts",
        "           CPU0       CPU1       CPU2       CPU3\n"
        "  0:         36          0          0          0   IO-APIC   2-edge      timer\n"
        "120:          0          0          0          0  IR-PCI-MSI 31981568-edge      "
        "mlx5_async0@pci:0000:3b:00.0\n"
        "121:       1234          0          0          0  IR-PCI-MSI 31981569-edge      "
        "mlx5_comp0@pci:0000:3b:00.0\n"
        "122:          0       5678          0          0  IR-PCI-MSI 31981570-edge      "
        "mlx5_comp1@pci:0000:3b:00.0\n"
        "130:          0          0          0          0  IR-PCI-MSI 1000-edge      "
        "mlx5_comp0@pci:0000:af:00.0\n"
        "140:          0          0          0          0  IR-PCI-MSI 2000-edge      irdma-0000:5e:00.0-AEQ\n"
        "NMI:          0          0          0          0   Non-maskable interrupts\n");
    write(root / "proc/irq/121/smp_affinity_list", "2\n");
    write(root / "proc/irq/122/smp_affinity_list", "0-3\n");
  }
  ~FakeRoot() { fs::remove_all(root); }
};

struct Out {
  int code;
  std::string text;
};

Out run_bench(const std::string& args) {
  const std::string cmd = std::string(FW_BENCH_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

bool host_has_rdma() {
  std::error_code ec;
  return fs::exists("/sys/class/infiniband", ec) && !fs::is_empty("/sys/class/infiniband", ec);
}

}  // namespace

TEST(IrqMap, ParsesProcInterrupts) {
  const auto m = parse_proc_interrupts(
      "           CPU0       CPU1\n"
      " 24:  1  2  PCI-MSI 32768-edge      virtio0-config\n"
      "121:  3  4  IR-PCI-MSI 1-edge      mlx5_comp0@pci:0000:3b:00.0\r\n"
      "LOC:  5  6   Local timer interrupts\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at(24), "virtio0-config");
  EXPECT_EQ(m.at(121), "mlx5_comp0@pci:0000:3b:00.0");
}

TEST(IrqMap, VectorFromIrqName) {
  EXPECT_EQ(comp_vector_of_irq_name("mlx5_comp3@pci:0000:3b:00.0"), 3);
  EXPECT_EQ(comp_vector_of_irq_name("mlx4-comp-12@pci:0000:04:00.0"), 12);
  EXPECT_EQ(comp_vector_of_irq_name("mlx5_async0@pci:0000:3b:00.0"), -1);
  EXPECT_EQ(comp_vector_of_irq_name("eth0-TxRx-3"), -1);
  EXPECT_EQ(comp_vector_of_irq_name("component"), -1);
}

TEST(IrqMap, CpuLists) {
  EXPECT_EQ(parse_cpu_list("0-3,8\n"), (std::vector<int>{0, 1, 2, 3, 8}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_TRUE(parse_cpu_list("").empty());
  EXPECT_TRUE(parse_cpu_list("3-1").empty());
  EXPECT_TRUE(parse_cpu_list("a,b").empty());
}

TEST(IrqMap, FindsCompletionVectorsOfAPciDevice) {
  FakeRoot f;
  const IrqMap m = discover_irqs("mlx5_0", 4, f.root.string());
  ASSERT_TRUE(m.any()) << m.source;
  ASSERT_EQ(m.vector_irqs.size(), 4u);
  EXPECT_EQ(m.vector_irqs[0], std::vector<int>{121});  // not 130: another device's comp0
  EXPECT_EQ(m.vector_irqs[1], std::vector<int>{122});
  EXPECT_TRUE(m.vector_irqs[2].empty());
  EXPECT_NE(m.source.find("vector 0 -> IRQ 121"), std::string::npos) << m.source;
  EXPECT_EQ(irq_affinity_cpu(121, f.root.string()), 2);
  EXPECT_EQ(irq_affinity_cpu(122, f.root.string()), 0);
  EXPECT_EQ(irq_affinity_cpu(999, f.root.string()), -1);
  EXPECT_EQ(pin_irq(121, 3, f.root.string()), "");
  EXPECT_EQ(irq_affinity_cpu(121, f.root.string()), 3);
  EXPECT_NE(pin_irq(999, 1, f.root.string() + "/nonexistent"), "");
}

TEST(IrqMap, SoftwareDevicesHaveNoLever) {
  FakeRoot f;
  const IrqMap rxe = discover_irqs("rxe0", 4, f.root.string());
  EXPECT_FALSE(rxe.any());
  EXPECT_NE(rxe.source.find("no IRQ lever on rxe0: software device"), std::string::npos) << rxe.source;
  const IrqMap none = discover_irqs("mlx5_9", 4, f.root.string());
  EXPECT_FALSE(none.any());
  EXPECT_NE(none.source.find("does not exist"), std::string::npos) << none.source;
  const IrqMap unnamed = discover_irqs("irdma0", 4, f.root.string());
  EXPECT_FALSE(unnamed.any());
  EXPECT_NE(unnamed.source.find("--irqs"), std::string::npos) << unnamed.source;
  const IrqMap given = irq_map_from_list({40, 41});
  EXPECT_EQ(given.vector_irqs, (std::vector<std::vector<int>>{{40}, {41}}));
}

TEST(PreloadLedger, AcksGoToRealEventsFirst) {
  using fastwake::preload::split_ack;
  auto s = split_ack(5, 3, 10);
  EXPECT_EQ(s.real, 3u);
  EXPECT_EQ(s.emu, 2u);
  EXPECT_EQ(s.over, 0u);
  s = split_ack(5, 0, 2);  // more acks than events: the excess is dropped, never forwarded
  EXPECT_EQ(s.real, 0u);
  EXPECT_EQ(s.emu, 2u);
  EXPECT_EQ(s.over, 3u);
  s = split_ack(1, 0, 1);
  EXPECT_EQ(s.emu, 1u);
  s = split_ack(0, 4, 4);
  EXPECT_EQ(s.real + s.emu + s.over, 0u);
}

TEST(SideChannel, ExchangesMessagesAndReportsPeerErrors) {
  TcpListener l("127.0.0.1", 0);
  ASSERT_GT(l.port(), 0);
  std::thread peer([&] {
    SideChannel c = SideChannel::connect("127.0.0.1", l.port(), 5);
    c.send({{"type", "hello"}, {"n", 3}});
    const auto r = c.expect("ready", 5000);
    c.send({{"type", "error"}, {"message", "configs differ (x)"}});
  });
  auto s = l.accept(5000);
  ASSERT_TRUE(s);
  const auto hello = s->expect("hello", 5000);
  EXPECT_EQ(hello["n"], 3);
  EXPECT_FALSE(s->recv(50));  // nothing pending: times out
  s->send({{"type", "ready"}});
  try {
    s->expect("go", 5000);
    ADD_FAILURE() << "an error message must throw";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("configs differ (x)"), std::string::npos) << e.what();
  }
  peer.join();
  EXPECT_THROW(s->recv(2000), DeviceError);  // the peer closed
}

TEST(SideChannel, ConnectFailsClearly) {
  int port = 0;
  {
    TcpListener l("127.0.0.1", 0);
    port = l.port();
  }
  try {
    SideChannel::connect("127.0.0.1", port, 0.3);
    ADD_FAILURE() << "connect to a closed port must fail";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("fastwake-bench server"), std::string::npos) << e.what();
  }
}

TEST(QpInfo, RoundTripsThroughJson) {
  QpInfo q;
  q.qpn = 0x1234;
  q.psn = 0xabcdef;
  q.lid = 7;
  for (int i = 0; i < 16; ++i) q.gid[i] = static_cast<std::uint8_t>(i * 17);
  const QpInfo r = QpInfo::from_json(q.to_json());
  EXPECT_EQ(r.qpn, q.qpn);
  EXPECT_EQ(r.psn, q.psn);
  EXPECT_EQ(r.lid, q.lid);
  EXPECT_EQ(r.gid, q.gid);
  EXPECT_THROW(QpInfo::from_json({{"qpn", 1}}), DeviceError);
  EXPECT_THROW(QpInfo::from_json({{"qpn", 1}, {"psn", 2}, {"lid", 3}, {"gid", "zz"}}), DeviceError);
}

TEST(VerbsCli, BadOptionsExitTwoWithAReason) {
  struct Case {
    const char* args;
    const char* says;
  } cases[] = {
      {"client", "give the server's address"},
      {"client 127.0.0.1 -n 0", "-n: expected an integer"},
      {"client 127.0.0.1 --bogus", "unknown option --bogus"},
      {"server --cpus 9999", "--cpus: no such CPU 9999"},
      {"server -X abc", "-X: expected an integer"},
      {"server --tx-depth 4", "--tx-depth"},
      {"server -d", "-d needs a value"},
  };
  for (const auto& c : cases) {
    const Out o = run_bench(c.args);
    EXPECT_EQ(o.code, 2) << c.args << "\n" << o.text;
    EXPECT_NE(o.text.find(c.says), std::string::npos) << c.args << "\n" << o.text;
  }
}

TEST(VerbsCli, NoDeviceIsARunFailureThatSaysWhy) {
  if (host_has_rdma()) GTEST_SKIP() << "this host has an RDMA device";
  const Out o = run_bench("client 127.0.0.1 -q");
  EXPECT_EQ(o.code, 1) << o.text;
  EXPECT_NE(o.text.find("no RDMA device"), std::string::npos) << o.text;
}
