// Preload shim, interposition: the exported ibv_* functions (found by
// LD_PRELOAD before libibverbs'), the provider-op wrappers put into every
// opened context (ops.poll_cq, ops.req_notify_cq, create_cq_ex: static inline
// in verbs.h, so they are reached through the context), and CQ registration.
// Dispatcher-mode CQs are handed to the dispatcher (shim_dispatcher.cc);
// irq-mode threads report their CPU before they block (shim_irq.cc).
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "ledger.h"
#include "shim_state.h"
#include "slot_poll.h"

namespace fastwake::preload {
namespace {

// ibv_comp_channel::fd is libibverbs' plain int, which the application may
// read (poll/epoll) while the shim swaps it for a CQ creation: every access
// of the shim's goes through atomic_ref (no torn or cached value), and the
// swaps happen under the channel's mutex. docs/verbs.md says what an
// application reading it during a CQ creation on that channel can see.
int channel_fd(ibv_comp_channel* ch) {
  return std::atomic_ref<int>(ch->fd).load(std::memory_order_acquire);
}
void set_channel_fd(ibv_comp_channel* ch, int fd) {
  std::atomic_ref<int>(ch->fd).store(fd, std::memory_order_release);
}

int fw_poll_cq(ibv_cq* cq, int n, ibv_wc* wc) {
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    Ctx* c = find_ctx(cq->context);
    return c ? c->poll(cq, n, wc) : -1;
  }
  Slot& s = g_slot[i];
  if (!s.emulate) {
    const int r = s.poll(cq, n, wc);
    if (r > 0) s.polled.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
    return r;
  }
  if (inherited(s.pid)) {
    refuse("ibv_poll_cq on a dispatcher-mode CQ inherited across fork()");
    return -1;
  }
  // Never waits for the mutex (the dispatcher may hold it while preempted):
  // a skipped poll returns 0 and the dispatcher looks again (slot_poll.h).
  const AppPoll p = app_poll(s, n, wc, [&](int m, ibv_wc* w) { return s.poll(cq, m, w); });
  if (p.skipped) {
    g_tot.polls_skipped.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const int k = p.stashed, r = p.polled;
  if (k) s.unstashed.fetch_add(static_cast<std::uint64_t>(k), std::memory_order_relaxed);
  if (r < 0) return k > 0 ? k : r;
  s.polled.fetch_add(static_cast<std::uint64_t>(k + r), std::memory_order_relaxed);
  return k + r;
}

int fw_req_notify_cq(ibv_cq* cq, int solicited_only) {
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    Ctx* c = find_ctx(cq->context);
    return c ? c->notify(cq, solicited_only) : EINVAL;
  }
  Slot& s = g_slot[i];
  s.arms.fetch_add(1, std::memory_order_relaxed);
  if (!s.emulate) return s.notify(cq, solicited_only);
  if (inherited(s.pid)) {
    refuse("ibv_req_notify_cq on a dispatcher-mode CQ inherited across fork()");
    return EPERM;
  }
  // Solicited-only arming is emulated as "any completion": at worst an extra
  // event, which verbs programs must tolerate anyway.
  if (solicited_only) g_tot.solicited_arms.fetch_add(1, std::memory_order_relaxed);
  // Started when the CQ's channel was made (else the channel would not be
  // emulated), so this only fails if that was in another process (refused
  // above as inherited). Refuse rather than arm a CQ nobody would poll.
  if (!ensure_dispatcher()) {
    refuse("ibv_req_notify_cq: no dispatcher thread (cannot be started) for a dispatcher-mode CQ");
    return EAGAIN;
  }
  place_dispatcher();
  // Dekker with the dispatcher's sleep: this store, then wake_dispatcher()'s
  // seq_cst load of its sleeping flag (shim_dispatcher.cc).
  s.armed.store(1, std::memory_order_seq_cst);
  wake_dispatcher();
  return 0;
}

int fw_refuse_start_poll(ibv_cq_ex*, ibv_poll_cq_attr*) {
  refuse(
      "ibv_start_poll (extended CQ polling) on a dispatcher-mode CQ: the dispatcher's stash cannot "
      "be "
      "served through it; run with FW_PRELOAD_MODE=irq or off");
  return EOPNOTSUPP;
}

// ------------------------------------------------------------ registration

void register_cq(ibv_cq* cq, int chan, int vector) {
  Ctx* c = find_ctx(cq->context);
  pthread_mutex_lock(&g_mu);
  int i = -1;
  for (int k = 0; k < kMaxCqs; ++k)
    if (!g_slot[k].used) {
      i = k;
      break;
    }
  if (i < 0 || !c) {
    pthread_mutex_unlock(&g_mu);
    log("%s: CQ %p is passed through untouched", !c ? "context not patched" : "more than 1024 CQs",
        static_cast<void*>(cq));
    return;
  }
  Slot& s = g_slot[i];
  pthread_mutex_lock(&s.mu);
  s.used = true;
  s.gen.fetch_add(1, std::memory_order_acq_rel);
  s.chan = chan;
  s.emulate = chan >= 0 && g_chan[chan].emulate;
  s.pid = g_pid.load();
  s.poll = c->poll;
  s.notify = c->notify;
  s.armed.store(0);
  s.head = s.count = 0;
  s.real_delivered = s.real_acked = s.emu_delivered = s.emu_acked = 0;
  s.arms = s.raised = s.polled = s.stashed = s.unstashed = 0;
  irq_register(s, c, vector);
  s.cq.store(cq, std::memory_order_relaxed);
  s.dead.store(false);
  pthread_mutex_unlock(&s.mu);
  g_cq_table.insert(cq, i);
  if (i + 1 > g_high_water.load()) g_high_water.store(i + 1, std::memory_order_release);
  if (chan >= 0) {
    pthread_mutex_lock(&g_chan[chan].mu);
    g_chan[chan].cqs->push_back(i);
    pthread_mutex_unlock(&g_chan[chan].mu);
  }
  // The dispatcher thread registers it with its Dispatcher before its next round.
  if (s.emulate) dispatcher_add(i, chan);
  pthread_mutex_unlock(&g_mu);
  g_tot.cqs_created.fetch_add(1, std::memory_order_relaxed);
}

/// Creates a CQ with the channel's kernel fd in place (the provider passes
/// channel->fd to the kernel), then puts the eventfd back.
template <class F>
auto with_real_fd(ibv_comp_channel* ch, int chan, F create) {
  if (chan < 0 || !g_chan[chan].emulate) return create();
  Chan& c = g_chan[chan];
  pthread_mutex_lock(&c.mu);
  set_channel_fd(ch, c.real_fd);
  auto r = create();
  set_channel_fd(ch, c.efd);
  pthread_mutex_unlock(&c.mu);
  return r;
}

ibv_cq_ex* fw_create_cq_ex(ibv_context* ctx, ibv_cq_init_attr_ex* attr) {
  Ctx* c = find_ctx(ctx);
  if (!c || !c->create_cq_ex) {
    errno = EOPNOTSUPP;
    return nullptr;
  }
  ensure_irq_map(ctx);
  const int chan = attr && attr->channel ? g_chan_table.find(attr->channel) : -1;
  if (attr)
    attr->comp_vector =
        static_cast<std::uint32_t>(choose_vector(ctx, static_cast<int>(attr->comp_vector)));
  ibv_cq_ex* cq = with_real_fd(attr ? attr->channel : nullptr, chan,
                               [&] { return c->create_cq_ex(ctx, attr); });
  if (!cq) return cq;
  register_cq(ibv_cq_ex_to_cq(cq), chan, attr ? static_cast<int>(attr->comp_vector) : -1);
  if (chan >= 0 && g_chan[chan].emulate) cq->start_poll = fw_refuse_start_poll;
  return cq;
}

void patch_context(ibv_context* ctx) {
  pthread_mutex_lock(&g_mu);
  Ctx* slot = nullptr;
  for (auto& x : g_ctx)
    if (!x.ctx.load()) {
      slot = &x;
      break;
    }
  if (!slot) {
    pthread_mutex_unlock(&g_mu);
    log("more than %d open device contexts: context %p is not intercepted", kMaxContexts,
        static_cast<void*>(ctx));
    return;
  }
  slot->poll = ctx->ops.poll_cq;
  slot->notify = ctx->ops.req_notify_cq;
  slot->create_cq_ex = nullptr;
  slot->irq.store(nullptr);  // the previous context's (if any) is not freed: see Ctx
  if (verbs_context* v = verbs_get_ctx_op(ctx, create_cq_ex)) {
    slot->create_cq_ex = v->create_cq_ex;
    v->create_cq_ex = fw_create_cq_ex;
  }
  slot->ctx.store(ctx, std::memory_order_release);
  ctx->ops.poll_cq = fw_poll_cq;
  ctx->ops.req_notify_cq = fw_req_notify_cq;
  pthread_mutex_unlock(&g_mu);
}

}  // namespace
}  // namespace fastwake::preload

using namespace fastwake::preload;

// ================================================================ exported

FW_EXPORT ibv_context* ibv_open_device(ibv_device* dev) {
  init();
  if (!g_real.open_device) {
    errno = ENOSYS;
    return nullptr;
  }
  ibv_context* ctx = g_real.open_device(dev);
  if (ctx) patch_context(ctx);
  return ctx;
}

FW_EXPORT int ibv_close_device(ibv_context* ctx) {
  init();
  if (Ctx* c = find_ctx(ctx)) {
    ctx->ops.poll_cq = c->poll;
    ctx->ops.req_notify_cq = c->notify;
    if (c->create_cq_ex)
      if (verbs_context* v = verbs_get_ctx_op(ctx, create_cq_ex)) v->create_cq_ex = c->create_cq_ex;
    c->ctx.store(nullptr, std::memory_order_release);
  }
  return g_real.close_device ? g_real.close_device(ctx) : ENOSYS;
}

FW_EXPORT ibv_comp_channel* ibv_create_comp_channel(ibv_context* ctx) {
  init();
  if (!g_real.create_comp_channel) {
    errno = ENOSYS;
    return nullptr;
  }
  ibv_comp_channel* ch = g_real.create_comp_channel(ctx);
  if (!ch) return ch;
  // Emulated only with a dispatcher to raise its events: start it now (not
  // under g_mu, which it takes); if it cannot start, the stock path.
  const bool emulate = g_mode == Mode::kDispatcher && find_ctx(ctx) != nullptr;
  const bool have_dispatcher = emulate && ensure_dispatcher();
  pthread_mutex_lock(&g_mu);
  int j = -1;
  for (int k = 0; k < kMaxChannels; ++k)
    if (!g_chan[k].used) {
      j = k;
      break;
    }
  if (j < 0) {
    pthread_mutex_unlock(&g_mu);
    log("more than %d completion channels: channel %p is passed through", kMaxChannels,
        static_cast<void*>(ch));
    return ch;
  }
  Chan& c = g_chan[j];
  c.used = true;
  c.ch = ch;
  c.pid = g_pid.load();
  c.real_fd = channel_fd(ch);
  c.efd = -1;
  c.emulate = emulate && have_dispatcher;
  if (emulate && !have_dispatcher)
    log("channel %p uses the stock path: no dispatcher thread", static_cast<void*>(ch));
  if (!c.events) c.events = new std::deque<ibv_cq*>();
  if (!c.cqs) c.cqs = new std::vector<int>();
  c.events->clear();
  c.cqs->clear();
  if (c.emulate) {
    c.efd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
    if (c.efd < 0) {
      log("eventfd failed (%s): channel %p uses the stock path", std::strerror(errno),
          static_cast<void*>(ch));
      c.emulate = false;
    } else {
      set_channel_fd(ch, c.efd);
      g_tot.channels_emulated.fetch_add(1, std::memory_order_relaxed);
    }
  }
  g_chan_table.insert(ch, j);
  pthread_mutex_unlock(&g_mu);
  g_tot.channels.fetch_add(1, std::memory_order_relaxed);
  return ch;
}

FW_EXPORT int ibv_destroy_comp_channel(ibv_comp_channel* ch) {
  init();
  const int j = g_chan_table.find(ch);
  if (j < 0) return g_real.destroy_comp_channel ? g_real.destroy_comp_channel(ch) : ENOSYS;
  Chan& c = g_chan[j];
  pthread_mutex_lock(&g_mu);
  pthread_mutex_lock(&c.mu);  // every swap of ch->fd under the channel's mutex
  if (c.emulate) set_channel_fd(ch, c.real_fd);  // libibverbs closes ch->fd
  const int r = g_real.destroy_comp_channel(ch);
  if (r != 0 && c.emulate) set_channel_fd(ch, c.efd);  // still in use (CQs attached)
  pthread_mutex_unlock(&c.mu);
  if (r != 0) {
    pthread_mutex_unlock(&g_mu);
    return r;
  }
  // The dispatcher may be between queueing an event and writing the eventfd
  // (its CQ destroyed meanwhile): let it finish before the fd is closed.
  while (c.raising.load(std::memory_order_acquire) > 0) usleep(50);
  if (c.efd >= 0) close(c.efd);
  c.efd = -1;
  g_chan_table.erase(ch);
  c.used = false;
  c.ch = nullptr;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

FW_EXPORT ibv_cq* ibv_create_cq(ibv_context* ctx, int cqe, void* cq_context,
                                ibv_comp_channel* channel, int comp_vector) {
  init();
  if (!g_real.create_cq) {
    errno = ENOSYS;
    return nullptr;
  }
  ensure_irq_map(ctx);
  const int chan = channel ? g_chan_table.find(channel) : -1;
  const int vector = choose_vector(ctx, comp_vector);
  ibv_cq* cq = with_real_fd(
      channel, chan, [&] { return g_real.create_cq(ctx, cqe, cq_context, channel, vector); });
  if (cq) register_cq(cq, chan, vector);
  return cq;
}

FW_EXPORT int ibv_destroy_cq(ibv_cq* cq) {
  init();
  const int i = g_cq_table.find(cq);
  if (i < 0) return g_real.destroy_cq ? g_real.destroy_cq(cq) : ENOSYS;
  Slot& s = g_slot[i];
  // A fork child's copy of the parent's state is left alone (its locks may be
  // copies of locks the parent's dispatcher held at fork time).
  if (inherited(s.pid)) return g_real.destroy_cq(cq);
  pthread_mutex_lock(&s.mu);
  s.dead.store(true, std::memory_order_release);  // the dispatcher skips it from now on
  const int was_armed = s.armed.exchange(0);
  pthread_mutex_unlock(&s.mu);
  const int r = g_real.destroy_cq(cq);  // waits until every real event is acked
  if (r != 0) {
    // Still in use (EBUSY: a QP uses it): the CQ lives on as it was, armed
    // included, as the stock destroy leaves it.
    pthread_mutex_lock(&s.mu);
    s.dead.store(false, std::memory_order_release);
    if (was_armed) s.armed.store(1, std::memory_order_seq_cst);
    pthread_mutex_unlock(&s.mu);
    if (was_armed && s.emulate) wake_dispatcher();
    return r;
  }
  // The kernel drops a destroyed CQ's unread events; so does the shim.
  if (s.chan >= 0) {
    Chan& c = g_chan[s.chan];
    pthread_mutex_lock(&c.mu);
    std::uint64_t purged = 0;
    for (auto it = c.events->begin(); it != c.events->end();)
      if (*it == cq) {
        it = c.events->erase(it);
        ++purged;
      } else {
        ++it;
      }
    for (auto it = c.cqs->begin(); it != c.cqs->end(); ++it)
      if (*it == i) {
        c.cqs->erase(it);
        break;
      }
    pthread_mutex_unlock(&c.mu);
    g_tot.purged += purged;
  }
  // libibverbs' destroy returns only once every event it reported is acked
  // (it waits, another thread may still ack); the emulated events likewise.
  for (int waited_ms = 0;; ++waited_ms) {
    spin_lock(s.ack_lock);
    const std::uint64_t unacked = s.emu_delivered - s.emu_acked;
    spin_unlock(s.ack_lock);
    if (unacked == 0) break;
    if (waited_ms == 1000)
      log("ibv_destroy_cq(%p) waits for %llu unacked event(s), as libibverbs does",
          static_cast<void*>(cq), static_cast<unsigned long long>(unacked));
    usleep(1000);
  }
  irq_forget(i);  // after leaving the channel: no waiter reports for it again
  pthread_mutex_lock(&g_mu);
  pthread_mutex_lock(&s.mu);
  g_tot.dropped += static_cast<std::uint64_t>(
      s.count);  // stashed, never polled: gone with the CQ, as in the stock path
  s.count = 0;
  spin_lock(s.ack_lock);
  fold(s);
  spin_unlock(s.ack_lock);
  g_cq_table.erase(cq);
  // Queued before the slot can be reused (registration queues under g_mu too).
  if (s.emulate) dispatcher_remove(i);
  s.cq.store(nullptr);
  s.used = false;
  pthread_mutex_unlock(&s.mu);
  pthread_mutex_unlock(&g_mu);
  g_tot.cqs_destroyed.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

FW_EXPORT int ibv_get_cq_event(ibv_comp_channel* ch, ibv_cq** cq, void** cq_context) {
  init();
  const int j = g_chan_table.find(ch);
  if (j < 0 || !g_chan[j].emulate) {
    if (j >= 0 && g_mode == Mode::kIrq) follow_thread(j);
    // HOOK(kmod, issue 6): with /dev/fastwake present (FastwakeDevice::
    // open_if_present), register this thread once, attach(real channel fd)
    // and wait() in the module (trimmed wake path), then read the event
    // non-blocking here. Not wired yet: the stock blocking read follows.
    const int r = g_real.get_cq_event ? g_real.get_cq_event(ch, cq, cq_context) : -1;
    if (r == 0) {
      const int i = g_cq_table.find(*cq);
      if (i >= 0) {
        Slot& s = g_slot[i];
        spin_lock(s.ack_lock);
        ++s.real_delivered;
        spin_unlock(s.ack_lock);
      } else {
        g_tot.unknown_events.fetch_add(1, std::memory_order_relaxed);
      }
    }
    return r;
  }
  Chan& c = g_chan[j];
  if (inherited(c.pid)) {
    refuse("ibv_get_cq_event on a dispatcher-mode channel inherited across fork()");
    errno = EPERM;
    return -1;
  }
  for (;;) {
    std::uint64_t v;
    // Blocks like the stock read() unless the application made the fd
    // non-blocking; EINTR/EAGAIN come back as from ibv_get_cq_event.
    if (read(c.efd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return -1;
    pthread_mutex_lock(&c.mu);
    if (c.events->empty()) {  // a unit left behind by a destroyed CQ's purge
      pthread_mutex_unlock(&c.mu);
      continue;
    }
    ibv_cq* q = c.events->front();
    c.events->pop_front();
    pthread_mutex_unlock(&c.mu);
    const int i = g_cq_table.find(q);
    if (i >= 0) {
      Slot& s = g_slot[i];
      spin_lock(s.ack_lock);
      ++s.emu_delivered;
      spin_unlock(s.ack_lock);
    }
    *cq = q;
    *cq_context = q->cq_context;
    return 0;
  }
}

FW_EXPORT void ibv_ack_cq_events(ibv_cq* cq, unsigned int nevents) {
  init();
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    g_tot.unknown_acks.fetch_add(nevents, std::memory_order_relaxed);
    if (g_real.ack_cq_events) g_real.ack_cq_events(cq, nevents);
    return;
  }
  Slot& s = g_slot[i];
  spin_lock(s.ack_lock);
  const auto split = fastwake::preload::split_ack(nevents, s.real_delivered - s.real_acked,
                                                  s.emu_delivered - s.emu_acked);
  s.real_acked += split.real;
  s.emu_acked += split.emu;
  spin_unlock(s.ack_lock);
  if (split.over) {
    if (g_tot.overacks.fetch_add(split.over) == 0)
      log("ibv_ack_cq_events(%p, %u): %u more acks than events delivered (dropped)",
          static_cast<void*>(cq), nevents, split.over);
  }
  if (split.real && g_real.ack_cq_events) g_real.ack_cq_events(cq, split.real);
}
