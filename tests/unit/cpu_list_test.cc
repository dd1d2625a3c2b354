// The one CPU-list parser (core/include/fastwake/cpu_list.h): the kernel's
// cpulist syntax, the order kept, and bad input refused with a message that
// quotes the bad item.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fastwake/cpu_list.h"
#include "fastwake/errors.h"

using fastwake::format_cpu_list;
using fastwake::parse_cpu_list;
using fastwake::parse_cpu_list_or_throw;

namespace {
std::string why(const std::string& text, int max = fastwake::kMaxCpuNumber) {
  std::string e;
  EXPECT_FALSE(parse_cpu_list(text, &e, max).has_value()) << text;
  return e;
}
}  // namespace

TEST(CpuList, NumbersAndRangesInTheOrderWritten) {
  EXPECT_EQ(parse_cpu_list("0,2-5,7"), (std::vector<int>{0, 2, 3, 4, 5, 7}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_EQ(parse_cpu_list("3,1"), (std::vector<int>{3, 1}));  // app core 0 on CPU 3
  EXPECT_EQ(parse_cpu_list("4-4"), (std::vector<int>{4}));
  EXPECT_EQ(parse_cpu_list("0-3,8\n"), (std::vector<int>{0, 1, 2, 3, 8}));  // a sysfs file
  EXPECT_EQ(parse_cpu_list("4096"), (std::vector<int>{4096}));  // existence is the backend's
}

TEST(CpuList, BadInputIsRefusedWithTheItem) {
  EXPECT_NE(why("5-2").find("range '5-2' goes down (write 2-5)"), std::string::npos) << why("5-2");
  EXPECT_NE(why("a").find("'a' is not a number"), std::string::npos) << why("a");
  EXPECT_NE(why("1,a,3").find("'a'"), std::string::npos);
  EXPECT_NE(why("").find("empty list"), std::string::npos) << why("");
  EXPECT_NE(why(" \n").find("empty list"), std::string::npos);
  EXPECT_NE(why("1,,2").find("empty item"), std::string::npos) << why("1,,2");
  EXPECT_NE(why("1,").find("empty item"), std::string::npos);
  EXPECT_NE(why("1,1").find("1 is given twice"), std::string::npos) << why("1,1");
  EXPECT_NE(why("0-3,2").find("2 is given twice"), std::string::npos) << why("0-3,2");
  EXPECT_NE(why("-1").find("'-1'"), std::string::npos) << why("-1");
  EXPECT_NE(why("1.5").find("'1.5' is not a number"), std::string::npos);
  EXPECT_NE(why("+3").find("'+3' is not a number"), std::string::npos);
  EXPECT_NE(why("1-2-3").find("'1-2-3'"), std::string::npos);
  EXPECT_NE(why("70000").find("'70000' is above 65535"), std::string::npos) << why("70000");
  EXPECT_NE(why("0-99999999999").find("goes above"), std::string::npos);
  EXPECT_NE(why("9", 8).find("above 8"), std::string::npos);
}

TEST(CpuList, ThrowingFormNamesTheOption) {
  try {
    parse_cpu_list_or_throw("5-2", "--cpus");
    FAIL() << "5-2 must be refused";
  } catch (const fastwake::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--cpus: range '5-2' goes down (write 2-5)");
  }
  EXPECT_EQ(parse_cpu_list_or_throw("2-3", "--cpus"), (std::vector<int>{2, 3}));
}

TEST(CpuList, FormatIsTheInverse) {
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8}), "0-3,8");
  EXPECT_EQ(format_cpu_list({0, 1}), "0,1");
  EXPECT_EQ(format_cpu_list({3, 1}), "3,1");
  EXPECT_EQ(format_cpu_list({}), "");
  for (const char* s : {"0-3,8", "5", "0,2-5,7", "9,3-5"})
    EXPECT_EQ(format_cpu_list(*parse_cpu_list(s)), s);
}
