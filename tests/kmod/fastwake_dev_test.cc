// Host tests of the /dev/fastwake client (no module needed): absent device, wrong device, clear
// messages, uapi layout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "fastwake/errors.h"
#include "fastwake/hw/fastwake_dev.h"

using fastwake::DeviceError;
using fastwake::hw::FastwakeDevice;

namespace {

std::string open_error(const std::string& path) {
  try {
    (void)FastwakeDevice::open(path);
  } catch (const DeviceError& e) {
    return e.what();
  }
  return "";
}

TEST(FastwakeDevice, AbsentDeviceMeansFallback) {
  EXPECT_FALSE(FastwakeDevice::open_if_present("/nonexistent-dir/fastwake").has_value());
  EXPECT_FALSE(FastwakeDevice::open_if_present("/dev/fastwake-does-not-exist").has_value());
}

TEST(FastwakeDevice, MissingDeviceSaysLoadTheModule) {
  const std::string msg = open_error("/dev/fastwake-does-not-exist");
  ASSERT_FALSE(msg.empty());
  EXPECT_NE(msg.find("not loaded"), std::string::npos) << msg;
  EXPECT_NE(msg.find("insmod"), std::string::npos) << msg;
}

TEST(FastwakeDevice, SomethingElseAtThePathIsRefusedNotUsed) {
  // /dev/null answers every ioctl with ENOTTY: not the module.
  const std::string msg = open_error("/dev/null");
  ASSERT_FALSE(msg.empty());
  EXPECT_NE(msg.find("not the fastwake module"), std::string::npos) << msg;
  // Present but unusable must throw from open_if_present too (no silent fallback).
  EXPECT_THROW((void)FastwakeDevice::open_if_present("/dev/null"), DeviceError);
  // A directory cannot be opened read-write.
  EXPECT_FALSE(open_error("/tmp").empty());
}

TEST(FastwakeDevice, UapiLayoutAndNumbers) {
  EXPECT_EQ(sizeof(fw_abi), 24u);
  EXPECT_EQ(sizeof(fw_attach), 16u);
  EXPECT_EQ(sizeof(fw_stats), 72u);
  // Struct ioctls carry their size: a layout change changes the number.
  EXPECT_EQ(_IOC_SIZE(FW_IOC_ABI), sizeof(fw_abi));
  EXPECT_EQ(_IOC_SIZE(FW_IOC_ATTACH), sizeof(fw_attach));
  EXPECT_EQ(_IOC_SIZE(FW_IOC_STATS), sizeof(fw_stats));
  // Value ioctls carry no size and no direction: nothing is copied.
  for (unsigned long c : {FW_IOC_REGISTER, FW_IOC_UNREGISTER, FW_IOC_WAIT, FW_IOC_WAKE,
                          FW_IOC_SWITCH_TO, FW_IOC_SWITCH_WAIT, FW_IOC_DETACH}) {
    EXPECT_EQ(_IOC_SIZE(c), 0u);
    EXPECT_EQ(_IOC_DIR(c), static_cast<unsigned>(_IOC_NONE));
    EXPECT_EQ(_IOC_TYPE(c), static_cast<unsigned>(FW_IOC_MAGIC));
  }
  EXPECT_EQ(_IOC_NR(FW_IOC_STATS), static_cast<unsigned>(FW_IOC_NR_MAX));
}

TEST(FastwakeDevice, MovesOwnership) {
  // No device here: exercise the move operations on the optional path only.
  std::optional<FastwakeDevice> a = FastwakeDevice::open_if_present("/nonexistent-dir/fastwake");
  std::optional<FastwakeDevice> b = std::move(a);
  EXPECT_FALSE(b.has_value());
  if (::access(FW_DEVICE_PATH, F_OK) == 0) {
    FastwakeDevice d = FastwakeDevice::open();
    const int fd = d.fd();
    FastwakeDevice e = std::move(d);
    EXPECT_EQ(e.fd(), fd);
    EXPECT_EQ(d.fd(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  }
}

}  // namespace
