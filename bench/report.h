// bench/report.h: what flit-bench prints and writes at the end of a run, the
// same for flit's client and the raw baselines, so the two compare line by
// line (and in --json output).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "histogram.h"

namespace flit::bench {

struct Report {
  std::string kind;       // "flit" or "baseline"
  std::string transport;  // "udp", "dpdk", ...
  std::string mode;       // "latency", "throughput"
  std::string target;     // the URI measured against
  size_t req_size = 0;
  size_t resp_size = 0;
  uint32_t inflight = 1;
  uint32_t sessions = 1;
  double seconds = 0;
  uint64_t requests = 0;  // completed and measured
  uint64_t errors = 0;    // failed calls (flit) or lost packets (baseline)
  uint64_t retransmissions = 0;
  double cpu_seconds = 0;  // client process CPU time while measuring
  Histogram latency;
  double target_rps = 0;         // open loop (--rate); 0: closed loop
  uint64_t behind_schedule = 0;  // open loop: calls due in the window, never sent

  double rps() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  // Payload bit rates: requests (client to server) and responses (back).
  double gbps_out() const { return rps() * static_cast<double>(req_size) * 8 / 1e9; }
  double gbps_back() const { return rps() * static_cast<double>(resp_size) * 8 / 1e9; }
};

inline void print_percentiles(const char* label, const Histogram& h) {
  auto us = [&](double q) { return static_cast<double>(h.percentile(q)) / 1000.0; };
  std::printf(
      "%s p50 %.2f us  p90 %.2f us  p99 %.2f us  p99.9 %.2f us  p99.99 %.2f us  max %.2f us\n",
      label, us(0.5), us(0.9), us(0.99), us(0.999), us(0.9999),
      static_cast<double>(h.max()) / 1000.0);
}

inline void print_report(const Report& r) {
  std::printf("\n== flit-bench %s %s over %s: %s ==\n", r.kind.c_str(), r.mode.c_str(),
              r.transport.c_str(), r.target.c_str());
  std::printf(
      "requests: %lu in %.2f s = %.0f req/s (%.3f Mreq/s; payload %.3f Gbit/s out, %.3f Gbit/s "
      "back)\n",
      static_cast<unsigned long>(r.requests), r.seconds, r.rps(), r.rps() / 1e6, r.gbps_out(),
      r.gbps_back());
  if (r.target_rps > 0) {
    std::printf("open loop: target %.0f req/s, achieved %.0f req/s", r.target_rps, r.rps());
    if (r.behind_schedule != 0) {
      std::printf(
          "; %lu calls due in the window were never sent (every call slot busy: the server "
          "did not keep up, or --sessions x --inflight is too few for the rate); the "
          "percentiles leave them out",
          static_cast<unsigned long>(r.behind_schedule));
    }
    std::printf("\n");
  }
  print_percentiles("latency:", r.latency);
  if (r.requests != 0) {
    std::printf("client CPU per request: %.2f us\n",
                r.cpu_seconds * 1e6 / static_cast<double>(r.requests));
  }
  std::printf("retransmissions %lu; errors %lu\n", static_cast<unsigned long>(r.retransmissions),
              static_cast<unsigned long>(r.errors));
}

// s as the inside of a JSON string: quotes, backslashes and control
// characters escaped.
inline std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char u[8];
      std::snprintf(u, sizeof u, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      o += u;
    } else {
      o += c;
    }
  }
  return o;
}

// Writes the report as one JSON object. Returns false (with errno) on I/O error.
inline bool write_json(const Report& r, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const Histogram& h = r.latency;
  std::fprintf(f,
               "{\n  \"tool\": \"flit-bench\",\n  \"kind\": \"%s\",\n  \"transport\": \"%s\",\n"
               "  \"mode\": \"%s\",\n  \"target\": \"%s\",\n  \"req_size\": %zu,\n"
               "  \"resp_size\": %zu,\n  \"inflight\": %u,\n  \"sessions\": %u,\n"
               "  \"seconds\": %.6f,\n  \"requests\": %lu,\n  \"requests_per_s\": %.1f,\n"
               "  \"gbit_per_s_out\": %.6f,\n  \"gbit_per_s_back\": %.6f,\n"
               "  \"target_requests_per_s\": %.1f,\n  \"behind_schedule\": %lu,\n"
               "  \"errors\": %lu,\n  \"retransmissions\": %lu,\n"
               "  \"cpu_us_per_request\": %.4f,\n",
               json_escape(r.kind).c_str(), json_escape(r.transport).c_str(),
               json_escape(r.mode).c_str(), json_escape(r.target).c_str(), r.req_size, r.resp_size,
               r.inflight, r.sessions, r.seconds, static_cast<unsigned long>(r.requests), r.rps(),
               r.gbps_out(), r.gbps_back(), r.target_rps,
               static_cast<unsigned long>(r.behind_schedule), static_cast<unsigned long>(r.errors),
               static_cast<unsigned long>(r.retransmissions),
               r.requests ? r.cpu_seconds * 1e6 / static_cast<double>(r.requests) : 0.0);
  std::fprintf(
      f,
      "  \"latency_ns\": {\"min\": %lu, \"mean\": %.1f, \"p50\": %lu, \"p90\": %lu, "
      "\"p99\": %lu, \"p99_9\": %lu, \"p99_99\": %lu, \"max\": %lu},\n",
      static_cast<unsigned long>(h.min()), h.mean(), static_cast<unsigned long>(h.percentile(0.5)),
      static_cast<unsigned long>(h.percentile(0.9)), static_cast<unsigned long>(h.percentile(0.99)),
      static_cast<unsigned long>(h.percentile(0.999)),
      static_cast<unsigned long>(h.percentile(0.9999)), static_cast<unsigned long>(h.max()));
  // The latency distribution for plots (scripts/plot.sh): quantile, ns.
  std::fprintf(f, "  \"cdf\": [");
  const double qs[] = {0.001, 0.01, 0.05, 0.1,  0.2,   0.3,   0.4,    0.5,    0.6, 0.7,
                       0.8,   0.9,  0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0};
  bool first = true;
  for (double q : qs) {
    std::fprintf(f, "%s[%.4f, %lu]", first ? "" : ", ", q,
                 static_cast<unsigned long>(h.percentile(q)));
    first = false;
  }
  std::fprintf(f, "]\n}\n");
  return std::fclose(f) == 0;
}

}  // namespace flit::bench
