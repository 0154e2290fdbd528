// lib/src/http/url.cpp — http:// URLs (Go's net/url, the part the client needs): parse_url,
// resolve_reference (RFC 3986 §5.2), and %-decoding shared with the server and the router.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "detail/http.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

namespace internal {

int hexval(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace internal

namespace {

// Validates and normalizes "path?query#frag" into u.path / u.raw_query: keeps RFC 3986
// characters and valid %-escapes, %-escapes spaces, non-ASCII and a few unsafe bytes,
// refuses control characters and malformed escapes; drops the fragment.
absl::Status set_path_query(std::string_view pq, url& u) {
  if (auto hash = pq.find('#'); hash != std::string_view::npos) pq = pq.substr(0, hash);
  auto qm = pq.find('?');
  std::string_view p = pq.substr(0, qm);
  std::string_view q = qm == std::string_view::npos ? std::string_view{} : pq.substr(qm + 1);
  auto escape = [](std::string_view in, std::string& out) -> absl::Status {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
      auto c = static_cast<unsigned char>(in[i]);
      if (c < 0x20 || c == 0x7f) return absl::InvalidArgumentError("invalid control character in URL");
      if (c == '%') {
        if (i + 2 >= in.size() || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
          return absl::InvalidArgumentError("invalid URL escape \"" + std::string(in.substr(i, 3)) + "\"");
        out.append(in.substr(i, 3));
        i += 2;
        continue;
      }
      if (c >= 0x80 || c == ' ' || std::strchr("\"<>\\^`{|}", static_cast<char>(c)) != nullptr) {
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
        continue;
      }
      out.push_back(static_cast<char>(c));
    }
    return absl::OkStatus();
  };
  if (auto st = escape(p, u.path); !st.ok()) return st;
  if (u.path.empty()) u.path.push_back('/');  // (not = "/": GCC 12 -O3 warns -Wrestrict there, PR 105651)
  if (u.path.front() != '/') return absl::InvalidArgumentError("URL path must be absolute");
  return escape(q, u.raw_query);
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::vector<std::string_view> out;
  bool trailing = false;
  std::size_t i = 0;
  if (!in.empty() && in.front() == '/') i = 1;
  while (i <= in.size()) {
    auto slash = in.find('/', i);
    std::string_view seg = in.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    bool last = slash == std::string_view::npos;
    trailing = false;
    if (seg == ".") {
      trailing = last;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = last;
    } else {
      out.push_back(seg);
    }
    if (last) break;
    i = slash + 1;
  }
  std::string r;
  for (auto s : out) {
    r.push_back('/');
    r.append(s);
  }
  if (trailing || r.empty()) r.push_back('/');
  return r;
}

bool has_scheme(std::string_view ref) {
  auto colon = ref.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (!absl::ascii_isalpha(static_cast<unsigned char>(ref[0]))) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = ref[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string url::host_port() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + (port.empty() ? "80" : port);
}

std::string url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!port.empty() && port != "80") h += ":" + port;
  return h;
}

std::string url::request_target() const { return raw_query.empty() ? path : path + "?" + raw_query; }

std::string url::string() const { return scheme + "://" + host_header() + request_target(); }

absl::StatusOr<url> parse_url(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError("parse \"" + std::string(s) + "\": " + std::string(why));
  };
  if (!has_scheme(s)) return bad("missing protocol scheme");
  auto colon = s.find(':');
  std::string scheme = to_lower(s.substr(0, colon));
  if (scheme != "http") return absl::InvalidArgumentError("unsupported protocol scheme \"" + scheme + "\"");
  std::string_view rest = s.substr(colon + 1);
  if (rest.substr(0, 2) != "//") return bad("missing \"//\" after http:");
  rest.remove_prefix(2);
  auto auth_end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, auth_end);
  rest = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (auth.find('@') != std::string_view::npos) return bad("userinfo in URLs is not supported");
  url u;
  std::string_view host, port;
  bool has_port = false;
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return bad("missing ']' in host");
    host = auth.substr(1, close - 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("invalid port after host");
      port = after.substr(1);
      has_port = true;
    }
    if (host.empty()) return bad("empty IPv6 host");
    for (char c : host)
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return bad("invalid IPv6 host");
  } else {
    auto c = auth.rfind(':');
    host = auth.substr(0, c);
    if (c != std::string_view::npos) {
      port = auth.substr(c + 1);
      has_port = true;
    }
    for (char ch : host)
      if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.' && ch != '_' && ch != '~')
        return bad("invalid character in host name");
  }
  if (host.empty()) return bad("no Host in request URL");
  if (has_port && !port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("invalid port \":" + std::string(port) + "\" after host");
    int pv = std::atoi(std::string(port).c_str());
    if (pv < 1 || pv > 65535) return bad("invalid port \":" + std::string(port) + "\" after host");
  }
  u.host = to_lower(host);
  u.port = std::string(port);
  if (auto st = set_path_query(rest, u); !st.ok()) return bad(std::string(st.message()));
  return u;
}

absl::StatusOr<url> resolve_reference(const url& base, std::string_view ref) {
  ref = trim_ows(ref);
  if (auto hash = ref.find('#'); hash != std::string_view::npos) ref = ref.substr(0, hash);
  if (has_scheme(ref)) return parse_url(ref);
  if (ref.substr(0, 2) == "//") return parse_url("http:" + std::string(ref));
  url u = base;
  if (ref.empty()) return u;
  std::string pq;
  if (ref.front() == '/') {
    pq = std::string(ref);
  } else if (ref.front() == '?') {
    pq = base.path + std::string(ref);
  } else {
    auto slash = base.path.rfind('/');
    pq = base.path.substr(0, slash + 1) + std::string(ref);
  }
  url tmp;
  if (auto st = set_path_query(pq, tmp); !st.ok()) return st;
  u.path = remove_dot_segments(tmp.path);
  u.raw_query = tmp.raw_query;
  return u;
}
}  // namespace gofer::http
