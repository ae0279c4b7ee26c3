// bench/micro_bench.cc: Google Benchmark micro-benchmarks of the costs that
// add up to one RPC, so a regression shows where it happens:
//   - packet header build and parse;
//   - message-buffer allocate/free from the per-Rpc pool;
//   - flit::Function construction and call (continuations);
//   - marshaling of a representative message (flitc-generated builder, view
//     validation and field reads);
//   - a whole call through the engine (client and server Rpc, session lookup,
//     slots, credits, batching) over an in-memory transport with no syscalls:
//     the engine's own CPU cost per RPC;
//   - the lock-free ring (one thread, and handed between two threads),
//     Rpc::post, and a whole call through a worker-thread handler.
//
//   ./build/bench/flit-micro-bench [--benchmark_filter=...]
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "bench_msg.flit.h"
#include "flit/flit.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "ring.h"

namespace {

using namespace flit;

void BM_HeaderBuildParse(benchmark::State& state) {
  alignas(64) uint8_t buf[kPktHdrSize];
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = 1;
  uint64_t n = 0;
  for (auto _ : state) {
    h.req_num = n++;
    h.store(buf);
    benchmark::DoNotOptimize(buf);
    PktHdr back = PktHdr::load(buf);
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_HeaderBuildParse);

void BM_MsgBufferAllocFree(benchmark::State& state) {
  MsgBufferPool pool(1432, 8 << 20);
  size_t size = static_cast<size_t>(state.range(0));
  { MsgBuffer warm = pool.alloc(size); }
  for (auto _ : state) {
    MsgBuffer b = pool.alloc(size);
    benchmark::DoNotOptimize(b.data());
  }
}
BENCHMARK(BM_MsgBufferAllocFree)->Arg(32)->Arg(4096)->Arg(1 << 20);

void BM_FunctionCall(benchmark::State& state) {
  int acc = 0;
  for (auto _ : state) {
    Function<void(Status), 64> f = [&acc](Status s) { acc += static_cast<int>(s); };
    f(Status::kOk);
    benchmark::DoNotOptimize(acc);
  }
}
BENCHMARK(BM_FunctionCall);

void BM_MarshalBuild(benchmark::State& state) {
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer buf = pool.alloc(512);
  uint8_t key[16], value[200];
  std::memset(key, 'k', sizeof key);
  std::memset(value, 'v', sizeof value);
  for (auto _ : state) {
    buf.resize(buf.capacity());
    wire::Writer w(buf);
    auto b = benchmsg::PutBuilder::init_root(w);
    b.set_op(benchmsg::Op::kPut);
    b.set_key({key, sizeof key});
    b.set_value({value, sizeof value});
    b.set_version(42);
    b.set_ttl_ms(1000);
    auto tags = b.init_tags(4);
    for (uint32_t i = 0; i < 4; ++i) tags.set(i, i * 3);
    if (w.finish(buf) != Status::kOk) state.SkipWithError("does not fit");
    benchmark::DoNotOptimize(buf.data());
  }
  state.counters["bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_MarshalBuild);

void BM_MarshalValidateRead(benchmark::State& state) {
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer buf = pool.alloc(512);
  uint8_t key[16], value[200];
  std::memset(key, 'k', sizeof key);
  std::memset(value, 'v', sizeof value);
  wire::Writer w(buf);
  auto b = benchmsg::PutBuilder::init_root(w);
  b.set_op(benchmsg::Op::kPut);
  b.set_key({key, sizeof key});
  b.set_value({value, sizeof value});
  b.set_version(42);
  auto tags = b.init_tags(4);
  for (uint32_t i = 0; i < 4; ++i) tags.set(i, i);
  if (w.finish(buf) != Status::kOk) state.SkipWithError("does not fit");
  for (auto _ : state) {
    benchmsg::PutView v;
    if (benchmsg::PutView::parse(buf.span(), &v) != Status::kOk) state.SkipWithError("invalid");
    uint64_t sum = v.version() + v.key().size() + v.value().size();
    for (uint32_t t : v.tags()) sum += t;
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_MarshalValidateRead);

// An in-memory transport pair: packets are copied into the peer's queue.
// No syscalls, so a round trip through it costs what the engine costs.
class PipeTransport final : public transport::Transport {
 public:
  explicit PipeTransport(PipeTransport** self, uint32_t slots = 4096) : ring_(slots) {
    *self = this;
  }
  PipeTransport* peer = nullptr;
  // With kernel_crossing, every burst call also enters the kernel (a
  // getppid), as recvmmsg and sendmmsg would, and the ticks spent there are
  // added to kernel_ticks. A kernel entry evicts much of what the engine
  // had in its caches (on this VM, with page-table isolation under a
  // hypervisor, a line touched before a getppid costs about 16 ns after
  // it), so the engine runs as in a real socket process, not warm.
  bool kernel_crossing = false;
  uint64_t kernel_ticks = 0;
  static uint64_t ticks() {
#if defined(__x86_64__)
    return __rdtsc();  // a clock read would cost more than getppid's return
#else
    return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
  }
  void cross_kernel() {
    const uint64_t t0 = ticks();
    syscall(SYS_getppid);
    kernel_ticks += ticks() - t0;
  }
  std::string_view name() const override { return "pipe"; }
  size_t max_packet_size() const override { return 1472; }
  std::string local_uri() const override { return "pipe://local:1"; }
  transport::Route resolve(std::string_view) override { return {}; }
  bool same_peer(const transport::Route&, const transport::Route&) const override { return true; }
  std::string route_to_string(const transport::Route&) const override { return "pipe"; }
  uint32_t tx_burst(const transport::TxPacket* pkts, uint32_t n) override {
    if (kernel_crossing) cross_kernel();
    for (uint32_t i = 0; i < n; ++i) {
      Slot& s = peer->ring_[peer->tail_++ % peer->ring_.size()];
      std::memcpy(s.bytes, pkts[i].hdr, kPktHdrSize);
      if (pkts[i].payload_len != 0)
        std::memcpy(s.bytes + kPktHdrSize, pkts[i].payload, pkts[i].payload_len);
      s.len = static_cast<uint32_t>(kPktHdrSize + pkts[i].payload_len);
    }
    return n;
  }
  uint32_t rx_burst(transport::RxPacket* pkts, uint32_t max) override {
    if (kernel_crossing) cross_kernel();
    uint32_t n = 0;
    while (n < max && head_ != tail_) {
      Slot& s = ring_[head_++ % ring_.size()];
      pkts[n++] = {s.bytes, s.len, &route_, 0};
    }
    return n;
  }
  void rx_release(const transport::RxPacket*, uint32_t) override {}
  transport::TransportStats stats() const override { return {}; }

 private:
  struct Slot {
    uint8_t bytes[1536];
    uint32_t len;
  };
  std::vector<Slot> ring_;
  uint64_t head_ = 0, tail_ = 0;
  transport::Route route_{};
};

// Calls of state.range(0) bytes, one at a time, from a client Rpc to an
// echo handler (inline, or on a worker thread) on a server Rpc, both on this
// thread over the in-memory transport. With kernel_crossing, each burst call
// enters the kernel too (PipeTransport::cross_kernel) and the counter
// user_ns is the time per call outside the kernel.
void round_trips(benchmark::State& state, HandlerMode mode, bool kernel_crossing = false) {
  PipeTransport* server_t = nullptr;
  PipeTransport* client_t = nullptr;
  NexusConfig sc, cc;
  if (mode == HandlerMode::kWorker) sc.num_worker_threads = 1;
  // A kernel socket reuses a few receive buffers; the 4096-slot ring walks
  // 6 MiB, a new page every few calls, which would count TLB misses no
  // real transport has.
  const uint32_t slots = kernel_crossing ? 64 : 4096;
  sc.transport_factory = [&](uint8_t) { return std::make_unique<PipeTransport>(&server_t, slots); };
  cc.transport_factory = [&](uint8_t) { return std::make_unique<PipeTransport>(&client_t, slots); };
  Nexus sn(sc), cn(cc);
  sn.register_handler(
      1,
      [](ReqHandle* h) {
        auto req = h->request();
        MsgBuffer& out = h->init_response(req.size());
        std::memcpy(out.data(), req.data(), req.size());
        h->rpc()->enqueue_response(h);
      },
      mode);
  Rpc server(sn, 0), client(cn, 0);
  server_t->peer = client_t;
  client_t->peer = server_t;
  bool up = false;
  SessionId s = client.create_session("pipe://server:1",
                                      [&](SessionId, Status st) { up = st == Status::kOk; });
  while (!up) {
    client.run_event_loop_once();
    server.run_event_loop_once();
  }
  size_t size = static_cast<size_t>(state.range(0));
  MsgBuffer req = client.alloc_msg_buffer(size), resp = client.alloc_msg_buffer(size);
  std::memset(req.data(), 7, size);
  server_t->kernel_crossing = client_t->kernel_crossing = kernel_crossing;
  const uint64_t ticks0 = PipeTransport::ticks();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    bool done = false;
    if (client.enqueue_request(s, 1, &req, &resp, [&done](Status) { done = true; }) !=
        Status::kOk) {
      state.SkipWithError("enqueue failed");
      break;
    }
    while (!done) {
      server.run_event_loop_once();
      client.run_event_loop_once();
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (kernel_crossing && state.iterations() != 0) {
    const double ns = static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    const double ns_per_tick = ns / static_cast<double>(PipeTransport::ticks() - ticks0);
    const double kernel_ns =
        static_cast<double>(server_t->kernel_ticks + client_t->kernel_ticks) * ns_per_tick;
    state.counters["user_ns"] = (ns - kernel_ns) / static_cast<double>(state.iterations());
  }
}

void BM_EngineRoundTrip(benchmark::State& state) { round_trips(state, HandlerMode::kInline); }
BENCHMARK(BM_EngineRoundTrip)->Arg(32)->Arg(4096);

// BM_EngineRoundTrip with a kernel entry in every burst call, as a socket
// transport makes: user_ns is the engine's cost per call outside the
// kernel, as a real process sees it. Each entry evicts much of the caches,
// so the count of distinct code and data lines a call touches shows here
// and not in BM_EngineRoundTrip (docs/BENCHMARKS.md, "Where the UDP gap
// goes").
void BM_EngineRoundTripKernelCrossing(benchmark::State& state) {
  round_trips(state, HandlerMode::kInline, true);
}
BENCHMARK(BM_EngineRoundTripKernelCrossing)->Arg(32);

// A push and a pop on one thread: the ring's uncontended cost.
void BM_RingPushPop(benchmark::State& state) {
  detail::Ring<uint64_t> ring(1024);
  uint64_t v = 0, out = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.try_push(uint64_t{v++}));
    benchmark::DoNotOptimize(ring.try_pop(out));
  }
}
BENCHMARK(BM_RingPushPop);

// Items handed from a producer thread to this (consumer) thread, per item:
// includes the cache-line transfers of a real hand-off.
void BM_RingHandoff(benchmark::State& state) {
  detail::Ring<uint64_t> ring(1024);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    uint64_t v = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (!ring.try_push(uint64_t{v})) continue;
      ++v;
    }
  });
  uint64_t out = 0;
  for (auto _ : state) {
    while (!ring.try_pop(out)) {
    }
    benchmark::DoNotOptimize(out);
  }
  stop.store(true);
  producer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingHandoff)->UseRealTime();

// Rpc::post from the owner plus the event-loop iteration that runs it, on
// the in-memory transport: the cost of handing work to an Rpc.
void BM_PostAndRun(benchmark::State& state) {
  PipeTransport* t = nullptr;
  NexusConfig c;
  c.transport_factory = [&](uint8_t) { return std::make_unique<PipeTransport>(&t); };
  Nexus n(c);
  Rpc rpc(n, 0);
  t->peer = t;
  uint64_t ran = 0;
  for (auto _ : state) {
    if (!rpc.post([&ran] { ran++; })) state.SkipWithError("ring full");
    rpc.run_event_loop_once();
  }
  benchmark::DoNotOptimize(ran);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PostAndRun);

// BM_EngineRoundTrip with the handler on a worker thread: adds the hand-off
// to the worker pool, the response ring back, and the response copy.
void BM_WorkerRoundTrip(benchmark::State& state) { round_trips(state, HandlerMode::kWorker); }
BENCHMARK(BM_WorkerRoundTrip)->Arg(32)->UseRealTime();

// One event-loop iteration with nothing to receive, on the UDP transport,
// against the bare recvmmsg it wraps: the engine's polling overhead.
void BM_PollEmptyUdp(benchmark::State& state) {
  NexusConfig c;
  c.listen_uri = "udp://127.0.0.1:0";
  Nexus n(c);
  Rpc rpc(n, 0);
  for (auto _ : state) rpc.run_event_loop_once();
}
BENCHMARK(BM_PollEmptyUdp);

void BM_PollEmptyRawRecvmmsg(benchmark::State& state) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  static uint8_t buf[32][1536];
  iovec iov[32];
  mmsghdr msgs[32] = {};
  sockaddr_in from[32];
  for (int i = 0; i < 32; ++i) {
    iov[i] = {buf[i], sizeof buf[i]};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  for (auto _ : state) benchmark::DoNotOptimize(recvmmsg(fd, msgs, 32, MSG_DONTWAIT, nullptr));
  close(fd);
}
BENCHMARK(BM_PollEmptyRawRecvmmsg);

}  // namespace

BENCHMARK_MAIN();
