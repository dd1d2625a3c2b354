// Keeps threads waiting in /dev/fastwake (registered, with an attached eventfd) until SIGTERM, for
// the unload test.
//
// usage: fastwake_kmod_hold [--threads N] --ready FILE
// Writes FILE once every thread sleeps in the module. On SIGTERM, interrupts
// the waits with SIGUSR1 and exits 0 if every wait ended with EINTR.
#include <sys/eventfd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "kmod_util.h"

using namespace fwtest;

int main(int argc, char** argv) {
  int threads = 4;
  std::string ready;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (a == "--ready")
      ready = argv[i + 1];
  }
  if (ready.empty() || threads < 1) {
    std::fprintf(stderr, "usage: fastwake_kmod_hold [--threads N] --ready FILE\n");
    return 2;
  }
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);  // inherited: only sigwait() below takes it
  install_interrupt_signal(SIGUSR1);
  const int fd = open_ready();
  if (fd < 0) {
    std::fprintf(stderr, "hold: %s: %s\n", FW_DEVICE_PATH, std::strerror(-fd));
    return 2;
  }
  std::atomic<int> registered{0}, interrupted{0}, other{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&] {
      const int efd = ::eventfd(0, EFD_CLOEXEC);
      fw_attach at{};
      at.fd = efd;
      if (xioctl(fd, FW_IOC_REGISTER, 0UL) != 0 || xioctl(fd, FW_IOC_ATTACH, &at) != 0) {
        ++other;
        return;
      }
      ++registered;
      const int err = xioctl(fd, FW_IOC_WAIT, FW_WAIT_FOREVER);
      (err == EINTR ? interrupted : other)++;
      ::close(efd);
    });
  }
  while (registered.load() + other.load() < threads) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let them reach the wait
  if (FILE* f = std::fopen(ready.c_str(), "w")) {
    std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
    std::fclose(f);
  }
  std::printf("hold: %d threads waiting in %s (pid %d)\n", registered.load(), FW_DEVICE_PATH,
              ::getpid());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&term, &sig);
  while (interrupted.load() + other.load() < threads) {
    for (auto& t : ts) ::pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : ts) t.join();
  ::close(fd);
  std::printf("hold: %d waits interrupted (EINTR), %d other results\n", interrupted.load(),
              other.load());
  return other.load() == 0 && interrupted.load() == threads ? 0 : 1;
}
