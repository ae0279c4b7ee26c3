#include "udp_baseline.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "flit/error.h"
#include "flit/uri.h"
#include "work.h"

namespace flit::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kHdr = 40;                // a flit packet header's worth
constexpr uint32_t kBatch = 32;            // like the engine's bursts
constexpr uint64_t kLossNs = 100'000'000;  // a datagram unanswered this long is lost
// A datagram: its send time (8 bytes), then the answer's datagram size the
// client asks for (4 bytes, host order: both ends are this program; 0: echo
// it whole).
constexpr size_t kStamp = sizeof(uint64_t);
constexpr size_t kAskAt = kStamp;
constexpr size_t kMaxDatagram = 65507;  // UDP over IPv4

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

Addr resolve(const std::string& uri) {
  Uri u = parse_uri(uri);
  if (u.scheme != "udp") throw Error("the UDP baseline needs a udp:// URI, got " + uri);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &res);
  if (rc != 0) throw Error("cannot resolve " + uri + ": " + gai_strerror(rc));
  Addr a;
  std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  return a;
}

int make_socket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) throw Error(std::string("socket: ") + std::strerror(errno));
  int big = 16 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  return fd;
}

// Fixed arrays for one recvmmsg/sendmmsg batch.
struct Batch {
  explicit Batch(size_t bytes) : buf(kBatch * bytes), size(bytes) {
    for (uint32_t i = 0; i < kBatch; ++i) {
      iov[i].iov_base = buf.data() + i * bytes;
      iov[i].iov_len = bytes;
      std::memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  uint8_t* data(uint32_t i) { return buf.data() + i * size; }
  std::vector<uint8_t> buf;
  size_t size;
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  sockaddr_storage from[kBatch];
};

}  // namespace

int run_udp_baseline_server(const BaselineOpts& o, const std::atomic<bool>& stop) {
  Addr a = resolve(o.uri);
  int fd = make_socket(a.ss.ss_family);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0) {
    throw Error("baseline server: cannot bind " + o.uri + ": " + std::strerror(errno));
  }
  std::printf("flit-bench baseline server: echoing on %s\n", o.uri.c_str());
  if (o.work_iters != 0) {
    std::printf("flit-bench baseline server: %u multiply-adds of work per datagram\n",
                o.work_iters);
  }
  std::fflush(stdout);
  Batch b(65536);
  const uint64_t end =
      o.duration > 0 ? now_ns() + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  uint64_t echoed = 0;
  for (uint64_t spins = 0; !stop.load(std::memory_order_relaxed); ++spins) {
    for (uint32_t i = 0; i < kBatch; ++i) {
      b.msgs[i].msg_hdr.msg_name = &b.from[i];
      b.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      b.iov[i].iov_len = b.size;
    }
    int n = recvmmsg(fd, b.msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n > 0) {
      for (int i = 0; i < n; ++i) {
        if (o.work_iters != 0) simulated_work(o.work_iters);
        uint8_t* d = b.data(static_cast<uint32_t>(i));
        const size_t got = b.msgs[i].msg_len;
        uint32_t ask = 0;
        if (got >= kAskAt + sizeof ask) std::memcpy(&ask, d + kAskAt, sizeof ask);
        if (ask < kAskAt + sizeof ask || ask > kMaxDatagram) ask = static_cast<uint32_t>(got);
        // An answer longer than the question is padded with zeros, not with
        // what an earlier datagram left in the buffer.
        if (ask > got) std::memset(d + got, 0, ask - got);
        b.iov[i].iov_len = ask;
      }
      int off = 0;
      while (off < n) {
        int s = sendmmsg(fd, b.msgs + off, n - off, MSG_DONTWAIT);
        if (s > 0) {
          off += s;
        } else if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          break;  // the queue is full: the rest are dropped, as a full queue would
        } else {
          off++;  // this one cannot go (gone peer, EMSGSIZE): the others still can
        }
      }
      echoed += n;
    }
    if ((spins & 1023) == 0 && now_ns() >= end) break;
  }
  close(fd);
  std::printf("flit-bench baseline server: %lu datagrams echoed\n",
              static_cast<unsigned long>(echoed));
  return 0;
}

int run_udp_baseline_client(const BaselineOpts& o, const std::atomic<bool>& stop, Report* r) {
  Addr a = resolve(o.uri);
  int fd = make_socket(a.ss.ss_family);
  // Like flit's transport, which serves every peer from one socket, the
  // client sends each datagram with its destination (unconnected), unless
  // --connected asks for the 1:1 socket a single-peer program could use.
  if (o.connected && connect(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0) {
    throw Error("baseline client: connect " + o.uri + ": " + std::strerror(errno));
  }
  const size_t dgram = kHdr + o.req_size;
  const size_t stamp = kStamp;
  const uint32_t answer = static_cast<uint32_t>(o.resp_size >= 0 ? kHdr + o.resp_size : 0);
  const uint32_t window = o.mode == "latency" ? 1 : o.inflight;
  r->kind = "baseline";
  r->transport = "udp";
  r->mode = o.mode;
  r->target = o.uri;
  r->req_size = o.req_size;
  r->resp_size = o.resp_size >= 0 ? static_cast<size_t>(o.resp_size) : o.req_size;
  r->inflight = window;

  Batch tx(dgram), rx(std::max<size_t>(dgram, answer) + 64);
  for (uint32_t i = 0; i < kBatch; ++i) std::memcpy(tx.data(i) + kAskAt, &answer, sizeof answer);
  if (!o.connected) {
    for (uint32_t i = 0; i < kBatch; ++i) {
      tx.msgs[i].msg_hdr.msg_name = &a.ss;
      tx.msgs[i].msg_hdr.msg_namelen = a.len;
    }
  }
  const uint64_t t0 = now_ns();
  MeasureWindow w(t0, o.warmup, o.duration);
  uint32_t outstanding = 0;
  uint32_t idle_polls = 0;
  uint64_t last_rx = t0;
  uint64_t reset_at = 0;  // datagrams sent before this were counted lost
  for (;;) {
    // Top the window up in one sendmmsg.
    uint32_t want = window - outstanding;
    if (want > kBatch) want = kBatch;
    if (want != 0) {
      uint64_t ts = now_ns();
      for (uint32_t i = 0; i < want; ++i) {
        std::memcpy(tx.data(i), &ts, stamp);
        tx.iov[i].iov_len = dgram;
      }
      int s = sendmmsg(fd, tx.msgs, want, MSG_DONTWAIT);
      if (s > 0) outstanding += static_cast<uint32_t>(s);
    }
    int n = recvmmsg(fd, rx.msgs, kBatch, MSG_DONTWAIT, nullptr);
    // The clock when something arrived, else every 64th empty poll, as
    // flit-bench's client reads it.
    if (n <= 0 && ++idle_polls % 64 != 0) continue;
    uint64_t now = now_ns();
    if (n > 0) {
      last_rx = now;
      for (int i = 0; i < n; ++i) {
        uint64_t ts;
        std::memcpy(&ts, rx.data(i), stamp);
        // A late answer to a datagram already counted lost is neither a
        // sample nor a slot of the window.
        if (ts < reset_at) continue;
        if (outstanding != 0) outstanding--;
        // An answer of another size than asked for: a server that does not
        // know --resp-size (an older flit-bench) echoed it whole.
        if (answer != 0 && rx.msgs[i].msg_len != answer) {
          if (w.measuring) r->errors++;
          continue;
        }
        if (w.counts(ts)) {
          r->latency.record(now - ts);
          r->requests++;
        }
      }
    } else if (outstanding != 0 && now - last_rx > kLossNs) {
      if (w.measuring) r->errors += outstanding;  // lost: refill the window
      outstanding = 0;
      last_rx = reset_at = now;
    }
    if (w.advance(now, stop.load(std::memory_order_relaxed), r)) break;
  }
  close(fd);
  return r->requests > 0 ? 0 : 1;
}

}  // namespace flit::bench
