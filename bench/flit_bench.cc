// bench/flit_bench.cc: flit-bench, the latency and throughput benchmark.
//
//   flit-bench server --listen udp://127.0.0.1:31850 [--cpu 0] [--duration 60]
//   flit-bench client --connect udp://127.0.0.1:31850 --mode latency|throughput
//                     [--duration 10] [--warmup 1] [--req-size 32] [--resp-size 32]
//                     [--inflight 32] [--sessions 1] [--cpu 1]
//
//   flit-bench baseline-server --listen udp://127.0.0.1:31860
//   flit-bench baseline --connect udp://127.0.0.1:31860 --mode latency|throughput
//
// The client prints a progress line per second and, at the end, latency
// percentiles (p50, p90, p99, p99.9, p99.99, max), requests per second and
// CPU time per request; --json FILE writes the same as JSON. The baseline is
// the same traffic over busy-polled sockets with no RPC layer: the limit
// flit's figure is compared with, measured in the same run.
#include <arpa/inet.h>
#include <sched.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "flit/flit.h"
#include "histogram.h"
#include "report.h"
#include "udp_baseline.h"
#include "work.h"
#if FLIT_BENCH_DPDK
#include "dpdk_baseline.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint16_t kEcho = 1;   // response = request
constexpr uint16_t kSized = 2;  // response size = little-endian u32 at the request's start

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void pin_to_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    throw flit::Error("flit-bench: cannot pin to CPU " + std::to_string(cpu) + ": " +
                      std::strerror(errno));
  }
}

// Range checks pass NaN (every comparison with it is false): seconds and
// rates must also be finite numbers.
const CLI::Validator kFinite(
    [](std::string& v) -> std::string {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      return end != v.c_str() && *end == '\0' && std::isfinite(d) ? "" : "not a finite number";
    },
    "FINITE");

// Fails now, not after the run, if --json FILE cannot be written: the path
// is a directory, or cannot be opened for writing. Leaves no new file.
void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  struct stat st;
  const bool existed = stat(path.c_str(), &st) == 0;
  if (existed && S_ISDIR(st.st_mode)) {
    throw CLI::ValidationError(flag, path + " is a directory");
  }
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) throw CLI::ValidationError(flag, path + ": " + std::strerror(errno));
  std::fclose(f);
  if (!existed) std::remove(path.c_str());
}

uint64_t ns_since(Clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

// Transport selection, shared by server and client.
struct TransportOpts {
  std::string transport;             // empty: from the URI's scheme
  std::vector<std::string> options;  // key=value, passed to the transport
  std::string dpdk_args;             // EAL arguments (--dpdk-args)
  std::string rdma_device;           // RDMA device name (--rdma-device)

  void apply(flit::NexusConfig* cfg) const {
    cfg->transport = transport;
    cfg->transport_options = options;
    if (!dpdk_args.empty()) cfg->transport_options.push_back("eal=" + dpdk_args);
    if (!rdma_device.empty()) cfg->transport_options.push_back("device=" + rdma_device);
  }
  void add_flags(CLI::App* app) {
    app->add_option("--transport", transport, "udp, dpdk or rdma (default: the URI's scheme)")
        ->check(CLI::IsMember({"udp", "dpdk", "rdma"}));
    app->add_option("--transport-opt", options,
                    "transport option KEY=VALUE (repeatable; see docs/transports.md)");
    app->add_option("--dpdk-args", dpdk_args, "DPDK EAL arguments, e.g. \"--vdev=net_memif0\"");
    app->add_option("--rdma-device", rdma_device, "RDMA device name, e.g. mlx5_0");
  }
};

// --rx-burst: NexusConfig::rx_burst, for server and client alike.
void add_rx_burst_flag(CLI::App* app, uint32_t* v) {
  app->add_option("--rx-burst", *v,
                  "packets taken per receive poll, at most " + std::to_string(flit::kMaxRxBurst) +
                      " (NexusConfig::rx_burst)")
      ->check(CLI::Range(1u, flit::kMaxRxBurst))
      ->capture_default_str();
}

struct ServerOpts {
  TransportOpts t;
  std::string listen = "udp://127.0.0.1:31850";
  int cpu = -1;
  double duration = 0;  // 0: until SIGINT/SIGTERM
  size_t mtu = 0;
  uint32_t rx_burst = flit::kDefaultRxBurst;
  uint32_t work_iters = 0;  // simulated work per request (work.h)
};

// The transport's own counters that are not zero, on one line (DPDK's drops
// by reason and ARP, RDMA's address handles); nothing for UDP.
void print_transport_counters(const char* who, const flit::Rpc& rpc) {
  std::string line;
  for (const auto& c : rpc.transport_counters()) {
    if (c.value != 0) line += " " + c.name + "=" + std::to_string(c.value);
  }
  if (!line.empty()) std::printf("%s: transport%s\n", who, line.c_str());
}

int run_server(const ServerOpts& o) {
  pin_to_cpu(o.cpu);
  flit::NexusConfig cfg;
  o.t.apply(&cfg);
  cfg.listen_uri = o.listen;
  cfg.mtu = o.mtu;
  cfg.rx_burst = o.rx_burst;
  flit::Nexus nexus(cfg);
  const uint32_t work = o.work_iters;
  nexus.register_handler(kEcho, [work](flit::ReqHandle* h) {
    if (work != 0) flit::bench::simulated_work(work);
    auto req = h->request();
    flit::MsgBuffer& out = h->init_response(req.size());
    if (!req.empty()) std::memcpy(out.data(), req.data(), req.size());
    h->rpc()->enqueue_response(h);
  });
  nexus.register_handler(kSized, [work](flit::ReqHandle* h) {
    if (work != 0) flit::bench::simulated_work(work);
    auto req = h->request();
    if (req.size() < 4) {
      h->rpc()->enqueue_response(h, flit::Status::kInvalidArgument);
      return;
    }
    uint32_t n =
        uint32_t{req[0]} | uint32_t{req[1]} << 8 | uint32_t{req[2]} << 16 | uint32_t{req[3]} << 24;
    flit::MsgBuffer& out = h->init_response(n);  // throws (not ours to catch) above the maximum
    std::memset(out.data(), 0x5a, n);
    h->rpc()->enqueue_response(h);
  });
  flit::Rpc rpc(nexus, 0);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("flit-bench server: listening on %s\n", rpc.local_uri().c_str());
  if (work != 0) std::printf("flit-bench server: %u multiply-adds of work per request\n", work);
  std::fflush(stdout);
  auto t0 = Clock::now();
  uint64_t limit = o.duration > 0 ? static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 1024; ++i) rpc.run_event_loop_once();
    if (ns_since(t0) >= limit) break;
  }
  const flit::RpcStats& s = rpc.stats();
  std::printf("flit-bench server: %lu requests handled, %lu packets in, %lu out, %lu resent\n",
              static_cast<unsigned long>(s.requests_handled), static_cast<unsigned long>(s.pkts_rx),
              static_cast<unsigned long>(s.pkts_tx),
              static_cast<unsigned long>(s.responses_resent));
  print_transport_counters("flit-bench server", rpc);
  return 0;
}

struct ClientOpts {
  TransportOpts t;
  std::string connect = "udp://127.0.0.1:31850";
  std::string mode = "latency";
  double duration = 10;
  double warmup = 1;
  size_t req_size = 32;
  size_t resp_size = 32;
  uint32_t inflight = 32;
  uint32_t sessions = 1;
  int cpu = -1;
  size_t mtu = 0;
  uint32_t rx_burst = flit::kDefaultRxBurst;
  double connect_timeout = 2;
  std::string json;
  double rate = 0;  // requests/s, open loop; 0: closed loop
};

struct Client;

// One call slot of the load generator: it reissues its call as soon as the
// previous one completes, so `inflight` calls per session stay outstanding.
struct CallCtx {
  Client* c;
  flit::SessionId session;
  flit::MsgBuffer resp;
  Clock::time_point start;
};

struct Client {
  // Calls still out when the client goes (a run ended by an error, or a
  // server that stopped answering past the drain) are cancelled while
  // their contexts exist: ~Rpc would otherwise complete them later, into
  // freed contexts.
  ~Client() {
    stopping = true;
    for (flit::SessionId s : sessions) {
      try {
        if (rpc->session_state(s) == flit::SessionState::kConnected) rpc->disconnect(s);
      } catch (...) {  // a continuation's failure to reissue: nothing to do now
      }
    }
  }
  flit::Rpc* rpc;
  const ClientOpts* o;
  std::vector<flit::SessionId> sessions;  // connected, for the destructor
  uint16_t method;
  flit::MsgBuffer req;
  std::vector<std::unique_ptr<CallCtx>> calls;
  flit::bench::Histogram interval, total;
  // The measured window: a call counts if it completed in the window, or
  // started in it (open loop: was due in it) and completed after, while
  // the run drains; so the slowest calls of the window, still outstanding
  // at its end, are not left out, and an open loop that fell behind during
  // the warm-up shows the backlog's latency (from each call's scheduled
  // time) instead of hiding it.
  Clock::time_point window_start = Clock::time_point::max();
  Clock::time_point window_end = Clock::time_point::max();
  bool stopping = false;
  bool open_loop = false;  // --rate: calls start on a schedule
  // Open loop: contexts free to issue, oldest first (a ring as large as
  // the contexts: no allocation while measuring).
  std::vector<CallCtx*> idle;
  size_t idle_head = 0, idle_count = 0;
  void push_idle(CallCtx* ctx) { idle[(idle_head + idle_count++) % idle.size()] = ctx; }
  CallCtx* pop_idle() {
    CallCtx* ctx = idle[idle_head];
    idle_head = (idle_head + 1) % idle.size();
    idle_count--;
    return ctx;
  }
  uint64_t completed = 0, recorded = 0, errors = 0, outstanding = 0;
  // Calls that completed inside the window, whenever they started: the
  // throughput (the drain's calls are in the percentiles, not the rate).
  uint64_t completed_in_window = 0;
  uint64_t err_by_status[flit::kNumStatusCodes] = {};
  // Closed loop with many calls in flight: the clock is read at most twice
  // per event-loop iteration, not twice per call (as the raw baseline reads
  // it once per burst each way): at the first call the iteration issues, and
  // after it if it completed any. A call then counts from no later than its
  // issue until after the iteration that completed it: an upper bound. An
  // iteration that does nothing reads no clock (a clock read is ~30 ns on a
  // VM; the raw baseline's empty polls read it every 256th time).
  bool batched_clock = false;
  bool have_iter_start = false;
  Clock::time_point iter_start;
  std::vector<std::pair<Clock::time_point, flit::Status>> finished;  // this iteration's

  // Issues a call whose latency counts from `start`: now (or, with many
  // calls in flight, when this iteration issued its first) in closed loop;
  // the scheduled send time in open loop, so a stall is not hidden.
  void issue(CallCtx* ctx) {
    if (!batched_clock) return issue_at(ctx, Clock::now());
    if (!have_iter_start) {
      iter_start = Clock::now();
      have_iter_start = true;
    }
    issue_at(ctx, iter_start);
  }
  void issue_at(CallCtx* ctx, Clock::time_point start) {
    ctx->start = start;
    outstanding++;
    flit::Status st = rpc->enqueue_request(ctx->session, method, &req, &ctx->resp,
                                           [ctx](flit::Status r) { ctx->c->done(ctx, r); });
    if (st != flit::Status::kOk) {
      throw flit::Error(std::string("flit-bench: enqueue_request: ") +
                        std::string(flit::to_string(st)));
    }
  }
  void done(CallCtx* ctx, flit::Status st) {
    completed++;
    outstanding--;
    if (batched_clock) {
      finished.emplace_back(ctx->start, st);  // recorded after the iteration
    } else {
      record(ctx->start, Clock::now(), st);
    }
    if (open_loop) {
      push_idle(ctx);
    } else if (!stopping) {
      issue(ctx);
    }
  }
  void record(Clock::time_point start, Clock::time_point end, flit::Status st) {
    if (st != flit::Status::kOk) {
      // Failures of the warm-up and of the drain are not the
      // measurement's (the baseline counts its losses in the window only,
      // too).
      if (end >= window_start && end < window_end) {
        errors++;
        err_by_status[static_cast<int>(st)]++;
      }
    } else if (end >= window_start && start < window_end) {
      interval.record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
      recorded++;
      if (end < window_end) completed_in_window++;
    }
  }
  // One event-loop iteration.
  void poll() {
    if (!batched_clock) {
      rpc->run_event_loop_once();
      return;
    }
    have_iter_start = false;
    rpc->run_event_loop_once();
    if (finished.empty()) return;
    const Clock::time_point end = Clock::now();
    for (auto& [start, st] : finished) record(start, end, st);
    finished.clear();
  }
};

using flit::bench::print_percentiles;

int run_client(const ClientOpts& o) {
  pin_to_cpu(o.cpu);
  flit::NexusConfig cfg;
  o.t.apply(&cfg);
  if (cfg.transport.empty()) cfg.transport = flit::parse_uri(o.connect).scheme;
  {
    // An IPv4 server: a plain IPv4 socket, cheaper per send than the default
    // dual-stack one (docs/transports.md, UDP).
    flit::Uri u = flit::parse_uri(o.connect);
    in_addr a4;
    if (u.scheme == "udp" && inet_pton(AF_INET, u.host.c_str(), &a4) == 1) {
      cfg.client_bind_host = "0.0.0.0";
    }
  }
  cfg.mtu = o.mtu;
  cfg.rx_burst = o.rx_burst;
  cfg.connect_timeout =
      std::chrono::duration_cast<flit::Duration>(std::chrono::duration<double>(o.connect_timeout));
  flit::Nexus nexus(cfg);
  flit::Rpc rpc(nexus, 0);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  Client c;
  c.rpc = &rpc;
  c.o = &o;
  c.method = o.resp_size == o.req_size ? kEcho : kSized;
  c.req = rpc.alloc_msg_buffer(o.req_size);
  std::memset(c.req.data(), 0xa5, o.req_size);
  if (c.method == kSized) {
    uint32_t n = static_cast<uint32_t>(o.resp_size);
    for (int i = 0; i < 4; ++i) c.req.data()[i] = static_cast<uint8_t>(n >> (8 * i));
  }
  uint32_t inflight = o.mode == "latency" ? 1 : o.inflight;
  // All sessions connect at once; Ctrl-C ends the wait.
  std::vector<flit::SessionId> sessions;
  uint32_t answered = 0;
  flit::Status failure = flit::Status::kOk;
  for (uint32_t i = 0; i < o.sessions; ++i) {
    sessions.push_back(rpc.create_session(o.connect, [&](flit::SessionId, flit::Status st) {
      answered++;
      if (st != flit::Status::kOk) failure = st;
    }));
  }
  rpc.run_event_loop_until(
      [&] { return answered == o.sessions || g_stop.load(std::memory_order_relaxed); },
      std::chrono::duration_cast<flit::Duration>(
          std::chrono::duration<double>(o.connect_timeout + 1)));
  if (answered != o.sessions || failure != flit::Status::kOk) {
    std::fprintf(
        stderr, "flit-bench: cannot connect to %s: %s\n", o.connect.c_str(),
        answered != o.sessions
            ? (g_stop.load() ? "interrupted" : "no answer within --connect-timeout")
            : (std::string(flit::to_string(failure)) + " (is the server running?)").c_str());
    return 1;
  }
  c.sessions = sessions;
  std::printf(
      "flit-bench client: %s, %s, %u session(s) x %u in flight, request %zu B, "
      "response %zu B, %.0f s (+%.0f s warm-up)\n",
      o.mode.c_str(), o.connect.c_str(), o.sessions, inflight, o.req_size, o.resp_size, o.duration,
      o.warmup);
  if (inflight > flit::kSessionSlots) {
    // Latency counts from the call's issue, so the backlog wait is in it.
    std::printf(
        "flit-bench client: note: a session has %u request slots; of %u calls in flight per "
        "session the other %u wait in the client's backlog (more sessions: --sessions)\n",
        flit::kSessionSlots, inflight, inflight - flit::kSessionSlots);
  }
  std::fflush(stdout);
  // Contexts interleaved across sessions, so that an open loop's calls
  // spread over every session instead of filling one session's slots.
  for (uint32_t i = 0; i < inflight; ++i) {
    for (flit::SessionId s : sessions) {
      c.calls.push_back(std::make_unique<CallCtx>(
          CallCtx{&c, s, rpc.alloc_msg_buffer(std::max<size_t>(o.resp_size, 1)), {}}));
    }
  }
  c.open_loop = o.rate > 0;
  c.batched_clock = !c.open_loop && c.calls.size() > 1;
  c.finished.reserve(c.calls.size());
  auto t0 = Clock::now();
  const uint64_t warm_ns = static_cast<uint64_t>(o.warmup * 1e9);
  const uint64_t end_ns = warm_ns + static_cast<uint64_t>(o.duration * 1e9);
  c.window_start = t0 + std::chrono::nanoseconds(warm_ns);
  if (c.open_loop) {
    c.idle.resize(c.calls.size());
    for (auto& ctx : c.calls) c.push_idle(ctx.get());
  } else {
    for (auto& ctx : c.calls) c.issue(ctx.get());
  }

  // Open loop: the k-th call is due at t0 + k / rate, whether or not the
  // previous ones have completed (at most `inflight` per session outstanding;
  // beyond that a due call waits, and its wait counts as latency).
  const double period_ns = o.rate > 0 ? 1e9 / o.rate : 0;
  double next_due_ns = 0;
  bool measuring = false;
  uint64_t last_tick = warm_ns;
  uint64_t tick_recorded = 0;
  uint64_t measure_start = 0, measure_end = 0;
  auto cpu0 = std::clock();
  std::clock_t cpu_measure_start = cpu0;
  uint64_t retx_at_start = 0;
  for (;;) {
    for (int i = 0; i < (c.open_loop ? 1 : 64); ++i) c.poll();
    uint64_t now = ns_since(t0);
    while (c.open_loop && next_due_ns <= static_cast<double>(now) && c.idle_count != 0) {
      CallCtx* ctx = c.pop_idle();
      c.issue_at(ctx, t0 + std::chrono::nanoseconds(static_cast<int64_t>(next_due_ns)));
      next_due_ns += period_ns;
    }
    if (!measuring && now >= warm_ns) {
      measuring = true;
      measure_start = warm_ns;  // the window's start, where calls begin to count
      cpu_measure_start = std::clock();
      retx_at_start = rpc.stats().retransmissions;
    }
    if (measuring && now >= last_tick + 1'000'000'000) {
      // Over the time since the last line (a stalled loop prints late, once).
      uint64_t n = c.recorded - tick_recorded;
      tick_recorded = c.recorded;
      char label[64];
      std::snprintf(label, sizeof label, "[%3.0fs] %9.0f req/s ", (now - warm_ns) / 1e9,
                    static_cast<double>(n) / ((now - last_tick) / 1e9));
      if (c.interval.count() == 0) {
        std::printf("%s no call completed\n", label);
      } else {
        print_percentiles(label, c.interval);
      }
      std::fflush(stdout);
      c.total.merge(c.interval);
      c.interval.reset();
      last_tick = now;
    }
    if (now >= end_ns || g_stop.load(std::memory_order_relaxed)) {
      measure_end = now;
      if (!measuring) measure_start = measure_end;  // stopped in the warm-up: nothing measured
      break;
    }
  }
  double cpu_s = static_cast<double>(std::clock() - cpu_measure_start) / CLOCKS_PER_SEC;
  const uint64_t retx_at_end = rpc.stats().retransmissions;
  c.window_end = t0 + std::chrono::nanoseconds(measure_end);
  // Open loop: calls due in the window but never sent (every context busy:
  // the server did not keep up). They are not in the percentiles; said below.
  uint64_t behind = 0;
  if (c.open_loop && measuring) {
    const double from = std::max(next_due_ns, static_cast<double>(measure_start));
    if (from < static_cast<double>(measure_end))
      behind =
          static_cast<uint64_t>(std::ceil((static_cast<double>(measure_end) - from) / period_ns));
  }
  // Let outstanding calls finish (each ends by its deadline); those that
  // started in the window are measured too.
  c.stopping = true;
  auto drain_end = Clock::now() + std::chrono::seconds(10);
  while (c.outstanding != 0 && Clock::now() < drain_end) c.poll();
  c.total.merge(c.interval);

  flit::bench::Report r;
  r.kind = "flit";
  r.transport = cfg.transport;
  r.mode = o.mode;
  r.target = o.connect;
  r.req_size = o.req_size;
  r.resp_size = o.resp_size;
  r.inflight = inflight;
  r.sessions = o.sessions;
  r.seconds = static_cast<double>(measure_end - measure_start) / 1e9;
  r.requests = c.completed_in_window;
  r.errors = c.errors;
  r.retransmissions = measuring ? retx_at_end - retx_at_start : 0;
  r.cpu_seconds = cpu_s;
  r.latency = c.total;
  r.target_rps = o.rate;
  r.behind_schedule = behind;
  flit::bench::print_report(r);
  print_transport_counters("client", rpc);
  for (int i = 0; i < flit::kNumStatusCodes; ++i) {
    if (c.err_by_status[i] != 0) {
      std::printf("  %s: %lu\n", std::string(flit::to_string(static_cast<flit::Status>(i))).c_str(),
                  static_cast<unsigned long>(c.err_by_status[i]));
    }
  }
  if (!o.json.empty() && !flit::bench::write_json(r, o.json)) {
    std::fprintf(stderr, "flit-bench: cannot write %s: %s\n", o.json.c_str(), std::strerror(errno));
    return 1;
  }
  return c.errors == 0 && c.total.count() > 0 ? 0 : 1;
}

// The baseline subcommands' transport: --transport udp|dpdk (default: the
// URI's scheme); for DPDK, the same --transport-opt and --dpdk-args as
// server and client, and --via-transport.
struct BaselineTransport {
  std::string transport;
  std::string dpdk_args;

  void add_flags(CLI::App* app, flit::bench::BaselineOpts* o) {
    app->add_option("--transport", transport, "udp or dpdk (default: the URI's scheme)")
        ->check(CLI::IsMember({"udp", "dpdk"}));
    app->add_option("--transport-opt", o->transport_options,
                    "DPDK transport option KEY=VALUE (repeatable; see docs/transports.md)");
    app->add_option("--dpdk-args", dpdk_args, "DPDK EAL arguments");
    app->add_flag("--via-transport", o->via_transport,
                  "DPDK, latency mode: go through flit's DpdkTransport (no engine) instead of "
                  "raw frames");
  }
  // Whether o runs over DPDK; then adds the EAL arguments to its options.
  // DPDK flags on a UDP baseline are an error.
  bool resolve(flit::bench::BaselineOpts* o) const {
    std::string t = transport;
    if (t.empty()) t = o->uri.rfind("dpdk://", 0) == 0 ? "dpdk" : "udp";
    if (t == "udp") {
      if (!o->transport_options.empty() || !dpdk_args.empty() || o->via_transport) {
        throw CLI::ValidationError("--transport-opt/--dpdk-args/--via-transport",
                                   "are for --transport dpdk");
      }
      return false;
    }
    if (!dpdk_args.empty()) o->transport_options.push_back("eal=" + dpdk_args);
    return true;
  }
};

// The DPDK baseline: server when r is null, else client into r.
int run_dpdk_baseline(const flit::bench::BaselineOpts& o, flit::bench::Report* r) {
#if FLIT_BENCH_DPDK
  if (r == nullptr) return flit::bench::run_dpdk_baseline_server(o, g_stop);
  return flit::bench::run_dpdk_baseline_client(o, g_stop, r);
#else
  (void)o;
  (void)r;
  throw flit::Error(
      "flit-bench was built without the DPDK transport (apt-get install libdpdk-dev, then "
      "reconfigure with -Ddpdk=enabled)");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flit-bench: latency and throughput of flit RPCs"};
  app.require_subcommand(1);

  ServerOpts so;
  auto* server = app.add_subcommand("server", "answer benchmark calls");
  server->add_option("--listen", so.listen, "URI to listen on")->capture_default_str();
  server->add_option("--cpu", so.cpu, "pin to this CPU")->check(CLI::Range(0, 4095));
  server->add_option("--duration", so.duration, "exit after SECONDS (default: until SIGINT)")
      ->check(kFinite & CLI::Range(0.0, 86400.0));
  server->add_option("--mtu", so.mtu, "largest packet, header included (default: transport's)");
  add_rx_burst_flag(server, &so.rx_burst);
  server
      ->add_option("--work-iters", so.work_iters,
                   "simulated work per request: N dependent multiply-adds before answering "
                   "(default 0; compare with baseline-server --work-iters)")
      ->check(CLI::Range(0, 100'000'000));
  so.t.add_flags(server);

  ClientOpts co;
  auto* client = app.add_subcommand("client", "issue benchmark calls and report");
  client->add_option("--connect", co.connect, "server URI")->capture_default_str();
  client
      ->add_option("--mode", co.mode,
                   "latency (one call in flight), throughput (--inflight per session) or "
                   "bandwidth (throughput of large requests: default --req-size 1 MiB)")
      ->check(CLI::IsMember({"latency", "throughput", "bandwidth"}))
      ->capture_default_str();
  client->add_option("--duration", co.duration, "measured SECONDS")
      ->check(kFinite & CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  client->add_option("--warmup", co.warmup, "unmeasured SECONDS first")
      ->check(kFinite & CLI::Range(0.0, 600.0))
      ->capture_default_str();
  client->add_option("--req-size", co.req_size, "request bytes")
      ->check(CLI::Range(size_t{0}, flit::kDefaultMaxMsgSize))
      ->capture_default_str();
  client->add_option("--resp-size", co.resp_size, "response bytes")
      ->check(CLI::Range(size_t{0}, flit::kDefaultMaxMsgSize))
      ->capture_default_str();
  client
      ->add_option("--rate", co.rate,
                   "open loop: issue REQ/S on a fixed schedule, latency from the scheduled "
                   "time (throughput/bandwidth modes)")
      ->check(kFinite & CLI::Range(1.0, 1e9));
  auto* req_size_opt = client->get_option("--req-size");
  auto* inflight =
      client->add_option("--inflight", co.inflight, "calls in flight per session (throughput)")
          ->check(CLI::Range(1u, 4096u))
          ->capture_default_str();
  client->add_option("--sessions", co.sessions, "sessions to the server")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  client->add_option("--cpu", co.cpu, "pin to this CPU")->check(CLI::Range(0, 4095));
  client
      ->add_option("--connect-timeout", co.connect_timeout,
                   "SECONDS to wait for the server to answer the handshake")
      ->check(kFinite & CLI::Range(0.01, 600.0))
      ->capture_default_str();
  client->add_option("--mtu", co.mtu, "largest packet, header included (default: transport's)");
  add_rx_burst_flag(client, &co.rx_burst);
  co.t.add_flags(client);
  client->add_option("--json", co.json, "also write the result as JSON to FILE");

  flit::bench::BaselineOpts bso;
  auto* bserver =
      app.add_subcommand("baseline-server", "echo datagrams over busy-polled UDP (no RPC layer)");
  bserver->add_option("--listen", bso.uri, "udp:// or dpdk:// URI to listen on")->required();
  bserver->add_option("--cpu", bso.cpu, "pin to this CPU")->check(CLI::Range(0, 4095));
  bserver->add_option("--duration", bso.duration, "exit after SECONDS (default: until SIGINT)")
      ->check(kFinite & CLI::Range(0.0, 86400.0));
  bso.duration = 0;
  bserver
      ->add_option("--work-iters", bso.work_iters,
                   "simulated work per datagram or frame: N dependent multiply-adds before "
                   "answering (default 0; as flit-bench server --work-iters)")
      ->check(CLI::Range(0, 100'000'000));
  BaselineTransport bst;
  bst.add_flags(bserver, &bso);

  flit::bench::BaselineOpts bco;
  std::string bjson;
  auto* bclient = app.add_subcommand(
      "baseline", "ping-pong (latency) or batch-echo (throughput) datagrams: the limit");
  bclient->add_option("--connect", bco.uri, "udp:// or dpdk:// URI of a baseline-server")
      ->required();
  bclient->add_option("--mode", bco.mode, "latency or throughput")
      ->check(CLI::IsMember({"latency", "throughput"}))
      ->capture_default_str();
  bclient->add_option("--duration", bco.duration, "measured SECONDS")
      ->check(kFinite & CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  bclient->add_option("--warmup", bco.warmup, "unmeasured SECONDS first")
      ->check(kFinite & CLI::Range(0.0, 600.0))
      ->capture_default_str();
  bclient->add_option("--req-size", bco.req_size, "payload bytes (plus a 40-byte flit header)")
      ->check(CLI::Range(size_t{8}, size_t{65000}))
      ->capture_default_str();
  bclient
      ->add_option("--resp-size", bco.resp_size,
                   "answer payload bytes, 0 for a bare 40-byte header (default: the request's, "
                   "an echo; UDP only)")
      ->check(CLI::Range(int64_t{0}, int64_t{65000}));
  auto* binflight =
      bclient->add_option("--inflight", bco.inflight, "datagrams in flight (throughput)")
          ->check(CLI::Range(1u, 4096u))
          ->capture_default_str();
  bclient->add_option("--cpu", bco.cpu, "pin to this CPU")->check(CLI::Range(0, 4095));
  bclient->add_flag("--connected", bco.connected,
                    "connect() the client socket to the server (a 1:1 socket; default: address "
                    "each datagram, as flit's transport does)");
  bclient->add_option("--json", bjson, "also write the result as JSON to FILE");
  BaselineTransport bct;
  bct.add_flags(bclient, &bco);

  CLI11_PARSE(app, argc, argv);

  try {
    if (server->parsed()) return run_server(so);
    if (bserver->parsed()) {
      pin_to_cpu(bso.cpu);
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      if (bst.resolve(&bso)) return run_dpdk_baseline(bso, nullptr);
      return flit::bench::run_udp_baseline_server(bso, g_stop);
    }
    if (bclient->parsed()) {
      check_writable(bjson, "--json");
      pin_to_cpu(bco.cpu);
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      flit::bench::Report r;
      const bool dpdk = bct.resolve(&bco);
      if (bco.connected && dpdk) {
        throw CLI::ValidationError("--connected", "is for --transport udp");
      }
      if (bco.resp_size >= 0 && dpdk) {
        throw CLI::ValidationError("--resp-size",
                                   "is for --transport udp (the DPDK baseline reflects frames)");
      }
      if (bco.mode == "latency" && binflight->count() != 0 && bco.inflight != 1) {
        throw CLI::ValidationError("--inflight",
                                   "--mode latency keeps one datagram in flight; use --mode "
                                   "throughput");
      }
      if (bco.mode != "latency" && bco.via_transport) {
        throw CLI::ValidationError("--via-transport", "measures --mode latency only");
      }
      int rc =
          dpdk ? run_dpdk_baseline(bco, &r) : flit::bench::run_udp_baseline_client(bco, g_stop, &r);
      flit::bench::print_report(r);
      if (!bjson.empty() && !flit::bench::write_json(r, bjson)) {
        std::fprintf(stderr, "flit-bench: cannot write %s: %s\n", bjson.c_str(),
                     std::strerror(errno));
        return 1;
      }
      return rc;
    }
    if (co.mode == "bandwidth" && req_size_opt->count() == 0) co.req_size = size_t{1} << 20;
    if (co.mode == "latency" && co.rate > 0) {
      throw CLI::ValidationError("--rate", "--mode latency is closed loop; use --mode throughput");
    }
    if (co.mode == "latency" && inflight->count() != 0 && co.inflight != 1) {
      throw CLI::ValidationError("--inflight",
                                 "--mode latency keeps one call in flight; use --mode throughput");
    }
    if (co.mode == "latency" && co.sessions != 1) {
      throw CLI::ValidationError("--sessions",
                                 "--mode latency keeps one call in flight; use --mode throughput");
    }
    if (co.resp_size != co.req_size && co.req_size < 4) {
      throw CLI::ValidationError("--resp-size",
                                 "a response size different from the request size needs "
                                 "--req-size >= 4 (the request carries the size)");
    }
    {
      // Every call context holds a response buffer; the pool hands out
      // power-of-two sizes (at least that: a lower bound).
      const size_t each = std::bit_ceil(std::max<size_t>(co.resp_size, 64));
      const double bytes = static_cast<double>(co.sessions) *
                           (co.mode == "latency" ? 1 : co.inflight) * static_cast<double>(each);
      if (bytes > static_cast<double>(size_t{2} << 30)) {
        throw CLI::ValidationError("--sessions/--inflight/--resp-size",
                                   "sessions x calls in flight x response buffer is " +
                                       std::to_string(static_cast<uint64_t>(bytes / (1 << 20))) +
                                       " MiB of response buffers; at most 2048 MiB");
      }
    }
    check_writable(co.json, "--json");
    return run_client(co);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // flit::Error from setup: its message names the fix
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
