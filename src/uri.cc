#include "flit/uri.h"

#include <charconv>

#include "flit/error.h"

namespace flit {

namespace {
[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw Error("bad URI '" + std::string(text) + "': " + why +
              " (expected scheme://host:port, e.g. udp://127.0.0.1:31850 or udp://[::1]:31850)");
}
}  // namespace

Uri parse_uri(std::string_view text) {
  Uri u;
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) bad(text, "no '://'");
  u.scheme = std::string(text.substr(0, sep));
  if (u.scheme.empty()) bad(text, "empty scheme");
  for (char c : u.scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      bad(text, "scheme must be lowercase letters and digits");
  }
  std::string_view rest = text.substr(sep + 3);
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) bad(text, "unterminated '[' in IPv6 address");
    u.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (rest.empty() || rest.front() != ':') bad(text, "missing ':port' after ']'");
    port_text = rest.substr(1);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) bad(text, "missing ':port'");
    u.host = std::string(rest.substr(0, colon));
    if (u.host.find(':') != std::string::npos) bad(text, "IPv6 addresses go in brackets");
    port_text = rest.substr(colon + 1);
  }
  if (u.host.empty()) bad(text, "empty host");
  if (u.host.find('/') != std::string::npos || u.host.find(' ') != std::string::npos)
    bad(text, "invalid character in host");
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    bad(text, "port must be a number in [0, 65535]");
  }
  u.port = static_cast<uint16_t>(port);
  return u;
}

std::string Uri::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace flit
