// tests/testbed/verbs_probe.cc: dynamic C++ program for the testbed smoke test: opens the guest's
// rxe device via libibverbs.
#include <infiniband/verbs.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "verbs_probe: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_dev = std::getenv("FW_RDMA_DEV");
  const std::string want = env_dev != nullptr ? env_dev : "rxe0";
  const std::string out_path = argc > 1 ? argv[1] : "/out/verbs_probe.txt";

  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) return fail("no RDMA devices");
  ibv_device* dev = nullptr;
  for (int i = 0; i < n; ++i) {
    if (want == ibv_get_device_name(list[i])) dev = list[i];
  }
  if (dev == nullptr) return fail("device " + want + " not found");
  ibv_context* ctx = ibv_open_device(dev);
  if (ctx == nullptr) return fail("ibv_open_device failed");

  ibv_port_attr port{};
  if (ibv_query_port(ctx, 1, &port) != 0) return fail("ibv_query_port failed");
  ibv_pd* pd = ibv_alloc_pd(ctx);
  ibv_comp_channel* channel = ibv_create_comp_channel(ctx);
  ibv_cq* cq = channel != nullptr ? ibv_create_cq(ctx, 16, nullptr, channel, 0) : nullptr;
  if (pd == nullptr || cq == nullptr) return fail("PD/CQ/completion channel creation failed");
  const bool armed = ibv_req_notify_cq(cq, 0) == 0;

  std::ofstream out(out_path);
  out << "device=" << want << "\n"
      << "devices=" << n << "\n"
      << "port_state=" << ibv_port_state_str(port.state) << "\n"
      << "cq_armed=" << (armed ? "yes" : "no") << "\n"
      << "comp_vectors=" << ctx->num_comp_vectors << "\n";
  out.close();
  std::printf("verbs_probe: %s %s, %d completion vector(s), CQ armed: %s\n", want.c_str(),
              ibv_port_state_str(port.state), ctx->num_comp_vectors, armed ? "yes" : "no");

  ibv_destroy_cq(cq);
  ibv_destroy_comp_channel(channel);
  ibv_dealloc_pd(pd);
  ibv_close_device(ctx);
  ibv_free_device_list(list);
  return port.state == IBV_PORT_ACTIVE && armed ? 0 : 1;
}
