// lib/src/http.cpp — gofer::http: Go's net/http on Boost.Beast over gofer::net::conn.
//
// Server: serve() accepts and starts one goroutine per connection (serve_conn). That
// goroutine loops: wait for the next request's first byte (idle deadline), read the header
// with Beast's request_parser (header deadline), check it, read the body (read deadline),
// call the handler, write the buffered answer with Beast's serializer (write deadline),
// and goes round again while keep-alive holds. Connection states live in the server
// state's registry so that shutdown() can close the idle ones and wait for the rest.
//
// Client: a pool of idle connections per host:port under a gofer::mutex; a round trip
// writes a Beast request and reads with a response_parser; a watcher goroutine turns a
// context cancellation into an immediate conn deadline.
//
// Nothing here parses HTTP by hand: Beast's parser and serializer do. What is parsed here
// is the http:// URL syntax, request-target paths (%-decoding, segments) and query strings.
#include "gofer/http.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "gofer/defer.hpp"
#include "gofer/detail/wait.hpp"
#include "gofer/panic.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"
#include "gofer/sync.hpp"

namespace gofer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using clk = std::chrono::steady_clock;

// ---- small string helpers --------------------------------------------------------------

namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hexval(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX-decodes s; '+' becomes a space when plus_is_space (query strings). nullopt for a
// malformed escape.
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

// RFC 7230 token characters (method and header names).
bool is_tchar(char c) noexcept {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}
bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), is_tchar);
}

// Go's Header.Write cleaning: CR, LF and NUL in a value become spaces.
std::string clean_value(std::string_view v) {
  std::string out(v);
  for (char& c : out)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return out;
}

// "GET" → "Get", as Go's client errors spell the method.
std::string go_method(std::string_view m) {
  std::string out;
  for (std::size_t i = 0; i < m.size(); ++i) out.push_back(i == 0 ? m[i] : lower(m[i]));
  return out;
}

const absl::Status& server_closed_error() {
  static const absl::Status s = absl::CancelledError("http: Server closed");
  return s;
}

}  // namespace

// ---- status_text, mime ----------------------------------------------------------------

std::string_view status_text(int code) noexcept {
  if (code < 100 || code > 999) return "";
  auto st = bhttp::int_to_status(static_cast<unsigned>(code));
  if (st == bhttp::status::unknown) return "";
  beast::string_view r = bhttp::obsolete_reason(st);
  if (r == "<unknown-status>") return "";
  if (code == 413) return "Content Too Large";  // RFC 9110's name (Beast: Payload Too Large)
  return {r.data(), r.size()};
}

std::string_view mime_type_by_extension(std::string_view p) noexcept {
  auto slash = p.find_last_of('/');
  if (slash != std::string_view::npos) p.remove_prefix(slash + 1);
  auto dot = p.find_last_of('.');
  if (dot == std::string_view::npos) return "";
  std::string_view ext = p.substr(dot);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},  {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},    {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},  {".md", "text/markdown; charset=utf-8"},
      {".csv", "text/csv; charset=utf-8"},    {".xml", "text/xml; charset=utf-8"},
      {".png", "image/png"},                  {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},                {".gif", "image/gif"},
      {".svg", "image/svg+xml"},              {".ico", "image/vnd.microsoft.icon"},
      {".webp", "image/webp"},                {".avif", "image/avif"},
      {".wasm", "application/wasm"},          {".pdf", "application/pdf"},
      {".zip", "application/zip"},            {".gz", "application/gzip"},
      {".tar", "application/x-tar"},          {".woff", "font/woff"},
      {".woff2", "font/woff2"},               {".ttf", "font/ttf"},
      {".mp3", "audio/mpeg"},                 {".mp4", "video/mp4"},
      {".webm", "video/webm"},                {".wav", "audio/wav"},
  };
  for (const auto& [e, t] : kTypes)
    if (iequals(e, ext)) return t;
  return "";
}

// ---- header -----------------------------------------------------------------------------

std::string header::get(std::string_view name) const {
  for (const auto& [k, v] : fields_)
    if (iequals(k, name)) return v;
  return {};
}

std::vector<std::string> header::values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields_)
    if (iequals(k, name)) out.push_back(v);
  return out;
}

bool header::has(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(), [&](const field& f) { return iequals(f.first, name); });
}

void header::set(std::string name, std::string value) {
  auto it = std::find_if(fields_.begin(), fields_.end(), [&](const field& f) { return iequals(f.first, name); });
  if (it == fields_.end()) {
    fields_.emplace_back(std::move(name), std::move(value));
    return;
  }
  it->second = std::move(value);
  // Remove the later duplicates, keeping the first position (so order stays stable).
  fields_.erase(std::remove_if(std::next(it), fields_.end(), [&](const field& f) { return iequals(f.first, name); }),
                fields_.end());
}

void header::add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }

void header::del(std::string_view name) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(), [&](const field& f) { return iequals(f.first, name); }),
                fields_.end());
}

// ---- request / response -----------------------------------------------------------------

std::string request::path_value(std::string_view name) const {
  for (const auto& [k, v] : path_values_)
    if (k == name) return v;
  return {};
}

void request::set_path_value(std::string name, std::string value) {
  for (auto& [k, v] : path_values_)
    if (k == name) {
      v = std::move(value);
      return;
    }
  path_values_.emplace_back(std::move(name), std::move(value));
}

std::string request::query(std::string_view key) const {
  std::string_view q = raw_query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto k = unescape(pair.substr(0, eq), true);
    if (!k || *k != key) continue;
    if (eq == std::string_view::npos) return {};
    auto v = unescape(pair.substr(eq + 1), true);
    return v ? *v : std::string();
  }
  return {};
}

namespace {
struct json_too_deep {};

// nlohmann's parser with a depth bound: the callback sees each '[' / '{' with the depth of
// its container and throws past max_depth, so the parse stops at the first bracket too deep.
absl::StatusOr<nlohmann::json> parse_json(const std::string& body, int max_depth) {
  using nlohmann::json;
  auto cb = [max_depth](int depth, json::parse_event_t ev, json&) {
    if ((ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) && depth >= max_depth)
      throw json_too_deep{};
    return true;
  };
  try {
    return json::parse(body, cb);
  } catch (const json_too_deep&) {
    return absl::InvalidArgumentError("invalid JSON: nesting deeper than " + std::to_string(max_depth));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("invalid JSON: ") + e.what());
  }
}
}  // namespace

absl::StatusOr<nlohmann::json> request::json() const { return parse_json(body, max_json_depth); }
absl::StatusOr<nlohmann::json> request::json(int max_depth) const { return parse_json(body, max_depth); }
absl::StatusOr<nlohmann::json> response::json() const { return parse_json(body, max_json_depth); }

struct response_writer_access {
  static int status(const response_writer& w) { return w.status_; }
  static header& headers(response_writer& w) { return w.headers_; }
  static std::string& body(response_writer& w) { return w.body_; }
  static void set_hijack(response_writer& w, std::function<net::conn(std::string*)> f) { w.hijack_ = std::move(f); }
};

absl::StatusOr<net::conn> response_writer::hijack(std::string* buffered) {
  if (hijacked_) return absl::FailedPreconditionError("http: connection has been hijacked");
  if (!hijack_) return absl::UnimplementedError("http: hijack not supported");
  hijacked_ = true;
  return hijack_(buffered);
}

void error(response_writer& w, std::string_view msg, int code) {
  w.headers().del("Content-Length");
  w.headers().set("Content-Type", "text/plain; charset=utf-8");
  w.headers().set("X-Content-Type-Options", "nosniff");
  w.write_header(code);
  w.write(msg);
  w.write("\n");
}

void not_found(response_writer& w) { error(w, "404 page not found", status::not_found); }

void redirect(response_writer& w, const request& r, std::string_view url, int code) {
  w.headers().set("Location", std::string(url));
  if (r.method == "GET" || r.method == "HEAD") {
    if (!w.headers().has("Content-Type")) w.headers().set("Content-Type", "text/html; charset=utf-8");
    w.write_header(code);
    std::string esc;
    for (char c : url) {
      switch (c) {
        case '<': esc += "&lt;"; break;
        case '>': esc += "&gt;"; break;
        case '&': esc += "&amp;"; break;
        case '"': esc += "&#34;"; break;
        case '\'': esc += "&#39;"; break;
        default: esc.push_back(c);
      }
    }
    w.write("<a href=\"" + esc + "\">" + std::string(status_text(code)) + "</a>.\n");
  } else {
    w.write_header(code);
  }
}

void write_json(response_writer& w, int code, const nlohmann::json& j) {
  w.headers().set("Content-Type", "application/json");
  w.write_header(code);
  // Invalid UTF-8 in a string becomes U+FFFD, as Go's json.Marshal does, instead of
  // nlohmann's type_error 316 (which used to leave the client an empty reply).
  w.write(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  w.write("\n");
}

std::optional<nlohmann::json> decode_json(const request& r, response_writer& w) {
  auto j = r.json();
  if (j.ok()) return std::move(*j);
  error(w, std::string(j.status().message()), status::bad_request);
  return std::nullopt;
}

// ---- URLs ---------------------------------------------------------------------------------

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
  if (u.path.empty()) u.path = "/";
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
  if (!std::isalpha(static_cast<unsigned char>(ref[0]))) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = ref[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
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
  std::string scheme;
  for (char c : s.substr(0, colon)) scheme.push_back(lower(c));
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
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return bad("invalid IPv6 host");
  } else {
    auto c = auth.rfind(':');
    host = auth.substr(0, c);
    if (c != std::string_view::npos) {
      port = auth.substr(c + 1);
      has_port = true;
    }
    for (char ch : host)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.' && ch != '_' && ch != '~')
        return bad("invalid character in host name");
  }
  if (host.empty()) return bad("no Host in request URL");
  if (has_port && !port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("invalid port \":" + std::string(port) + "\" after host");
    int pv = std::atoi(std::string(port).c_str());
    if (pv < 1 || pv > 65535) return bad("invalid port \":" + std::string(port) + "\" after host");
  }
  for (char c : host) u.host.push_back(lower(c));
  u.port = std::string(port);
  if (auto st = set_path_query(rest, u); !st.ok()) return bad(std::string(st.message()));
  return u;
}

absl::StatusOr<url> resolve_reference(const url& base, std::string_view ref) {
  ref = trim(ref);
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

// ---- serve_mux ----------------------------------------------------------------------------

namespace {

enum class seg_kind { literal, wild, multi, end };

struct segment {
  seg_kind kind;
  std::string text;  // literal (decoded) or wildcard name ("" for a trailing slash)
};

struct route {
  std::string pattern;
  std::string method;  // "" matches every method
  std::vector<segment> segs;
  handler h;
};

int rank(seg_kind k) {
  switch (k) {
    case seg_kind::literal:
    case seg_kind::end: return 3;
    case seg_kind::wild: return 2;
    case seg_kind::multi: return 1;
  }
  return 0;
}

bool is_ident(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

route parse_pattern(std::string_view pattern) {
  auto fail = [&](const std::string& why) {
    throw gofer::panic_error("parsing \"" + std::string(pattern) + "\": " + why);
  };
  route r;
  r.pattern = std::string(pattern);
  std::string_view p = pattern;
  auto sp = p.find_first_of(" \t");
  if (sp != std::string_view::npos) {
    r.method = std::string(p.substr(0, sp));
    p = trim(p.substr(sp));
    if (!is_token(r.method)) fail("invalid method \"" + r.method + "\"");
  }
  if (p.empty()) fail("empty pattern");
  if (p.front() != '/') fail("host patterns are not supported; the path must start with '/'");
  std::set<std::string> names;
  std::string_view rest = p.substr(1);
  for (;;) {
    auto slash = rest.find('/');
    bool last = slash == std::string_view::npos;
    std::string_view seg = rest.substr(0, slash);
    if (last && seg.empty()) {  // a trailing slash: an anonymous {...}
      r.segs.push_back({seg_kind::multi, ""});
      break;
    }
    if (!seg.empty() && seg.front() == '{') {
      if (seg.back() != '}') fail("bad wildcard segment (must end with '}')");
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name == "$") {
        if (!last) fail("{$} not at end");
        r.segs.push_back({seg_kind::end, ""});
        break;
      }
      bool multi = name.size() >= 3 && name.substr(name.size() - 3) == "...";
      if (multi) name.remove_suffix(3);
      if (!is_ident(name)) fail("bad wildcard name \"" + std::string(name) + "\"");
      if (!names.insert(std::string(name)).second) fail("duplicate wildcard name \"" + std::string(name) + "\"");
      if (multi && !last) fail("{...} wildcard not at end");
      r.segs.push_back({multi ? seg_kind::multi : seg_kind::wild, std::string(name)});
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos) fail("bad wildcard segment (must be entire segment)");
      auto lit = unescape(seg, false);
      if (!lit) fail("invalid escape in \"" + std::string(seg) + "\"");
      r.segs.push_back({seg_kind::literal, std::move(*lit)});
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  return r;
}

// Splits a decoded path "/a/b/" into {"a", "b", ""}; "/" into {""}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') {
    out.push_back(path);
    return out;
  }
  std::size_t i = 1;
  for (;;) {
    auto slash = path.find('/', i);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(i));
      break;
    }
    out.push_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

bool match_path(const route& r, const std::vector<std::string_view>& segs,
                std::vector<std::pair<std::string, std::string>>* values) {
  std::size_t n = segs.size();
  std::size_t i = 0;
  for (const segment& s : r.segs) {
    switch (s.kind) {
      case seg_kind::literal:
        if (i >= n || segs[i] != s.text) return false;
        break;
      case seg_kind::wild:
        if (i >= n || segs[i].empty()) return false;
        if (values) values->emplace_back(s.text, std::string(segs[i]));
        break;
      case seg_kind::end:
        return i == n - 1 && segs[i].empty();
      case seg_kind::multi: {
        if (i >= n) return false;
        if (values && !s.text.empty()) {
          std::string v;
          for (std::size_t j = i; j < n; ++j) {
            if (j > i) v.push_back('/');
            v.append(segs[j]);
          }
          values->emplace_back(s.text, std::move(v));
        }
        return true;
      }
    }
    ++i;
  }
  return i == n;
}

// 0: exact method, 1: GET pattern serving HEAD, 2: no method; -1: no match.
int method_match(const route& r, std::string_view m) {
  if (r.method.empty()) return 2;
  if (r.method == m) return 0;
  if (r.method == "GET" && m == "HEAD") return 1;
  return -1;
}

// Is a more specific than b (both match the request)?
bool more_specific(const route& a, int am, const route& b, int bm) {
  std::size_t n = std::min(a.segs.size(), b.segs.size());
  for (std::size_t i = 0; i < n; ++i) {
    int ra = rank(a.segs[i].kind), rb = rank(b.segs[i].kind);
    if (ra != rb) return ra > rb;
  }
  if (a.segs.size() != b.segs.size()) return a.segs.size() > b.segs.size();
  return am < bm;
}

bool same_shape(const route& a, const route& b) {
  if (a.method != b.method || a.segs.size() != b.segs.size()) return false;
  for (std::size_t i = 0; i < a.segs.size(); ++i) {
    if (a.segs[i].kind != b.segs[i].kind) return false;
    if (a.segs[i].kind == seg_kind::literal && a.segs[i].text != b.segs[i].text) return false;
  }
  return true;
}

}  // namespace

struct serve_mux::table {
  // Guards routes. Held for registration and matching only: never while a handler runs,
  // never across a parking operation (so a std::shared_mutex is fine).
  mutable std::shared_mutex mu;
  std::vector<std::shared_ptr<const route>> routes;
};

serve_mux::serve_mux() : t_(std::make_shared<table>()) {}

void serve_mux::handle(std::string_view pattern, handler h) {
  if (!h) throw gofer::panic_error("http: nil handler");
  auto r = std::make_shared<route>(parse_pattern(pattern));
  r->h = std::move(h);
  std::unique_lock lk(t_->mu);
  for (const auto& old : t_->routes)
    if (same_shape(*old, *r))
      throw gofer::panic_error("pattern \"" + r->pattern + "\" conflicts with pattern \"" + old->pattern + "\"");
  t_->routes.push_back(std::move(r));
}

void serve_mux::operator()(const request& r, response_writer& w) const {
  auto segs = split_path(r.path);
  std::shared_ptr<const route> best;
  int best_m = 0;
  std::set<std::string> allowed;
  bool redirect_slash = false;
  {
    std::shared_lock lk(t_->mu);
    for (const auto& rt : t_->routes) {
      if (!match_path(*rt, segs, nullptr)) continue;
      int m = method_match(*rt, r.method);
      if (m < 0) {
        allowed.insert(rt->method);
        continue;
      }
      if (!best || more_specific(*rt, m, *best, best_m)) {
        best = rt;
        best_m = m;
      }
    }
    if (!best && allowed.empty() && !r.path.empty() && r.path.back() != '/') {
      auto segs2 = segs;
      segs2.push_back("");
      for (const auto& rt : t_->routes) {
        if (rt->segs.empty() || rt->segs.back().kind != seg_kind::multi) continue;
        if (method_match(*rt, r.method) >= 0 && match_path(*rt, segs2, nullptr)) {
          redirect_slash = true;
          break;
        }
      }
    }
  }
  if (best) {
    // Go's ServeMux records the match in the request itself; so does gofer (path_values_
    // is mutable for this; only the goroutine serving r touches it).
    std::vector<std::pair<std::string, std::string>> values;
    match_path(*best, segs, &values);
    for (auto& kv_new : values) {  // (no structured binding: clang 14 cannot capture one)
      auto it = std::find_if(r.path_values_.begin(), r.path_values_.end(),
                             [&](const auto& kv) { return kv.first == kv_new.first; });
      if (it != r.path_values_.end()) it->second = std::move(kv_new.second);
      else r.path_values_.emplace_back(std::move(kv_new.first), std::move(kv_new.second));
    }
    best->h(r, w);
    return;
  }
  if (!allowed.empty()) {
    if (allowed.count("GET")) allowed.insert("HEAD");
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    w.headers().set("Allow", allow);
    error(w, "Method Not Allowed", status::method_not_allowed);
    return;
  }
  if (redirect_slash) {
    std::string target = r.target;
    std::string raw_path = target.substr(0, target.find('?'));
    if (raw_path.empty() || raw_path.front() != '/') raw_path = r.path;
    std::string loc = raw_path + "/";
    if (!r.raw_query.empty()) loc += "?" + r.raw_query;
    redirect(w, r, loc, status::moved_permanently);
    return;
  }
  not_found(w);
}

// ---- strip_prefix, file_server --------------------------------------------------------------

handler strip_prefix(std::string prefix, handler h) {
  return [prefix = std::move(prefix), h = std::move(h)](const request& r, response_writer& w) {
    if (r.path.compare(0, prefix.size(), prefix) != 0) {
      not_found(w);
      return;
    }
    request r2 = r;
    r2.path = r.path.substr(prefix.size());
    if (r2.path.empty() || r2.path.front() != '/') r2.path.insert(r2.path.begin(), '/');
    h(r2, w);
  };
}

namespace {

bool contains_dotdot(std::string_view p) {
  for (auto s : split_path(p))
    if (s == "..") return true;
  return false;
}

bool within(const std::string& real, const std::string& root) {
  if (root == "/") return true;
  return real == root || (real.size() > root.size() && real.compare(0, root.size(), root) == 0 && real[root.size()] == '/');
}

struct file_result {
  int code = 404;
  std::string body;
  std::string path;
};

// Runs on a helper thread (gofer::blocking): realpath checks and the read.
file_result load_file(const std::string& root, const std::string& rel) {
  file_result out;
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr) return out;
  std::string rroot = buf;
  std::string cand = rroot + rel;
  if (::realpath(cand.c_str(), buf) == nullptr) return out;
  std::string real = buf;
  if (!within(real, rroot)) return out;
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return out;
  if (S_ISDIR(st.st_mode)) {
    cand = real + "/index.html";
    if (::realpath(cand.c_str(), buf) == nullptr) return out;
    real = buf;
    if (!within(real, rroot) || ::stat(real.c_str(), &st) != 0) return out;
  }
  if (!S_ISREG(st.st_mode)) return out;
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return out;
  std::string body;
  body.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  for (;;) {
    if (got == body.size()) body.resize(body.size() + 4096);
    ssize_t n = ::read(fd, body.data() + got, body.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return out;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  body.resize(got);
  out.code = 200;
  out.body = std::move(body);
  out.path = std::move(real);
  return out;
}

}  // namespace

handler file_server(std::string root) {
  return [root = std::move(root)](const request& r, response_writer& w) {
    if (r.method != "GET" && r.method != "HEAD") {
      w.headers().set("Allow", "GET, HEAD");
      error(w, "405 method not allowed", status::method_not_allowed);
      return;
    }
    std::string p = r.path.empty() || r.path.front() != '/' ? "/" + r.path : r.path;
    if (p.find('\0') != std::string::npos || p.find('\\') != std::string::npos || contains_dotdot(p)) {
      error(w, "invalid URL path", status::bad_request);
      return;
    }
    file_result f = gofer::blocking([&] { return load_file(root, p); });
    if (f.code != 200) {
      not_found(w);
      return;
    }
    std::string_view ct = mime_type_by_extension(f.path);
    w.headers().set("Content-Type", ct.empty() ? "application/octet-stream" : std::string(ct));
    w.write_header(status::ok);
    w.write(f.body);
  };
}

// ---- server ---------------------------------------------------------------------------------

namespace {

struct conn_rec {
  explicit conn_rec(net::conn cn) : c(std::move(cn)) {}
  net::conn c;  // moved out (guarded by server::state::mu) by a hijack
  bool hijacked = false;  // only the connection's goroutine
  const clk::time_point accepted = clk::now();
  conn_state st = conn_state::new_;  // guarded by server::state::mu
};

// How long shutdown lets a connection that was accepted but has not sent a request yet
// send one (Go closes such StateNew connections once they are 5 s old).
constexpr std::chrono::seconds kNewConnGrace{5};

// The read buffer's bound while a body is read: a chunk line (size and extensions) or a
// trailer larger than this is refused (413 / 431). Bodies themselves go to the body.
constexpr std::size_t kBodyStageBuffer = 64 << 10;

// "Mon, 02 Jan 2006 15:04:05 GMT", cached per thread and second.
std::string http_date() {
  thread_local std::time_t cached_sec = 0;
  thread_local char cached[40] = {0};
  std::time_t now = std::time(nullptr);
  if (now != cached_sec) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::snprintf(cached, sizeof cached, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                  kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_sec = now;
  }
  return cached;
}

time_point deadline_in(std::chrono::nanoseconds d) {
  return d > std::chrono::nanoseconds::zero() ? clk::now() + d : time_point{};
}

// Shuts the write side, then reads and discards what the client still sends (for at most
// 500 ms or 1 MiB) before closing, so the client reads our answer instead of a reset
// (Go's closeWriteAndWait).
void linger_close(net::conn& c) {
  if (!c.is_open()) return;
  (void)c.close_write();
  c.set_read_deadline(clk::now() + std::chrono::milliseconds(500));
  char sink[4096];
  std::size_t total = 0;
  while (total < (1u << 20)) {
    auto n = c.read(sink, sizeof sink);
    if (!n.ok()) break;
    total += *n;
  }
  (void)c.close();
}

// bhttp::read_header with the header limit counted over the whole header. Beast 1.74
// compares header_limit with the bytes it has not consumed yet, so a header of many small
// fields arriving in several reads could grow past the limit without bound (found by
// tests/http_fuzz_test.cpp). Counting what the parser consumed enforces it exactly.
template <class Parser>
void read_header_limited(net::conn& c, beast::flat_buffer& buf, Parser& p, std::uint64_t limit, error_code& ec) {
  std::uint64_t used = 0;
  while (!p.is_header_done()) {
    try {
      used += bhttp::read_some(c, buf, p, ec);
    } catch (const std::length_error&) {  // a field over 64 KiB: see read_request_header
      ec = bhttp::error::header_limit;
      return;
    }
    if (ec) return;
    if (used > limit) {
      ec = bhttp::error::header_limit;
      return;
    }
  }
}

// The server's header read: Beast's parser fed from buf, with three checks Beast 1.74 lacks,
// made on the raw bytes before the parser sees them (it parses a header only once the
// whole of it is in the buffer, so a count made afterwards would come too late):
//   - empty lines (CRLF or LF) before the request line are skipped (RFC 9112 §2.2);
//   - the header is limited to `limit` bytes however many reads it takes;
//   - at most max_fields field lines (the request line and the final empty line aside):
//     a header of many tiny fields would otherwise cost Beast's field list and the
//     request's copy ~40× its bytes.
// Past either limit ec = header_limit (431). buf's max_size bounds the bytes read ahead.
template <class Parser>
void read_request_header(net::conn& c, beast::flat_buffer& buf, Parser& p, std::uint64_t limit,
                         std::size_t max_fields, error_code& ec) {
  std::uint64_t used = 0;     // bytes of this header the parser consumed, and skipped CRLFs
  std::size_t scanned = 0;    // bytes of buf.data() already counted (Beast consumes nothing
  std::size_t lines = 0;      //   of a header until it is complete)
  bool at_line_start = false, header_end = false, started = false;
  for (;;) {
    if (!started) {  // skip empty lines before the request line
      auto d = buf.data();
      auto* b = static_cast<const char*>(d.data());
      std::size_t i = 0;
      while (i < d.size() && (b[i] == '\n' || (b[i] == '\r' && i + 1 < d.size() && b[i + 1] == '\n')))
        i += b[i] == '\r' ? 2 : 1;
      buf.consume(i);
      used += i;
      if (buf.size() > 0 && !(buf.size() == 1 && static_cast<const char*>(buf.data().data())[0] == '\r'))
        started = true;
    }
    if (started && !header_end) {
      auto d = buf.data();
      auto* b = static_cast<const char*>(d.data());
      for (; scanned < d.size() && !header_end; ++scanned) {
        char ch = b[scanned];
        if (ch == '\n') {
          if (at_line_start) header_end = true;  // the empty line: the header ends here
          ++lines;
          at_line_start = true;
        } else if (ch != '\r') {
          at_line_start = false;
        }
      }
      // lines counts the request line, the fields and (at the end) the empty line.
      if (lines > max_fields + 2 || (!header_end && lines > max_fields + 1)) {
        ec = bhttp::error::header_limit;
        return;
      }
    }
    if (started && buf.size() > 0) {
      std::size_t n = 0;
      try {
        n = p.put(buf.data(), ec);
      } catch (const std::length_error&) {
        // Beast's field list stores a name or value of at most 65,533 bytes and throws
        // for a longer one, whatever header_limit says: a header field too large.
        ec = bhttp::error::header_limit;
        return;
      }
      buf.consume(n);
      used += n;
      if (ec == bhttp::error::need_more) ec = {};
      if (ec) return;
      if (used > limit) {  // Beast's own check misses a header that arrived in pieces
        ec = bhttp::error::header_limit;
        return;
      }
      if (p.is_header_done()) return;
    }
    if (used + buf.size() > limit) {
      ec = bhttp::error::header_limit;
      return;
    }
    if (buf.size() >= buf.max_size()) {
      ec = bhttp::error::buffer_overflow;
      return;
    }
    std::size_t want = std::min<std::size_t>(65536, buf.max_size() - buf.size());
    std::size_t n = c.read_some(buf.prepare(want), ec);
    buf.commit(n);
    if (ec == boost::asio::error::eof) {
      ec = started ? bhttp::error::partial_message : bhttp::error::end_of_stream;
      return;
    }
    if (ec) return;
  }
}

// Go's CVE-2023-39326 rule for chunked bodies: a chunk line longer than 4 KiB
// (maxLineLength) is refused, and the bytes that are not data (extensions, CRLFs) may
// exceed the data's by at most 16 KiB over the whole body.
struct chunk_guard {
  std::int64_t excess = 0;
  bool tripped = false;
  void operator()(std::uint64_t size, beast::string_view ext, error_code& ec) {
    if (ext.size() > 4096) {
      tripped = true;
      ec = bhttp::error::bad_chunk_extension;
      return;
    }
    excess += static_cast<std::int64_t>(ext.size()) + 4;  // extensions, line CRLF, data CRLF
    excess -= 16 + 2 * static_cast<std::int64_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 40));
    if (excess < 0) excess = 0;
    if (excess > 16 * 1024) {
      tripped = true;
      ec = bhttp::error::bad_chunk_extension;
    }
  }
};

// True when buf's unparsed bytes start a chunked body's last chunk ("0\r\n", possibly
// after the previous chunk's CRLF): an overflow there is the trailer's (431, not 413).
bool at_last_chunk(const beast::flat_buffer& buf) {
  std::string_view d{static_cast<const char*>(buf.data().data()), buf.size()};
  if (d.substr(0, 2) == "\r\n") d.remove_prefix(2);
  std::size_t z = 0;
  while (z < d.size() && d[z] == '0') ++z;
  return z > 0 && z < d.size() && (d[z] == '\r' || d[z] == ';' || d[z] == ' ' || d[z] == '\t');
}

// The request line's version, when Beast refused it as bad_version: 505 for a well-formed
// "HTTP/d.d" other than 1.0 / 1.1 (RFC 9110 §15.6.6; Go answers 505 too), else 400.
int status_for_bad_version(const beast::flat_buffer& buf) {
  std::string_view d{static_cast<const char*>(buf.data().data()), buf.size()};
  auto eol = d.find('\n');
  if (eol == std::string_view::npos) return status::bad_request;
  std::string_view line = d.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // method SP target SP HTTP/d.d, and not one Beast would have taken (then something
  // else in the line is wrong: "GET /a b HTTP/1.1").
  if (line.size() < 9 || std::count(line.begin(), line.end(), ' ') != 2) return status::bad_request;
  std::string_view v = line.substr(line.size() - 9);
  bool ok = v.substr(0, 6) == " HTTP/" && std::isdigit(static_cast<unsigned char>(v[6])) && v[7] == '.' &&
            std::isdigit(static_cast<unsigned char>(v[8]));
  if (!ok || v.substr(1) == "HTTP/1.0" || v.substr(1) == "HTTP/1.1") return status::bad_request;
  return status::http_version_not_supported;
}

// RFC 9112 §3.2 / Go's httpguts.ValidHostHeader: the bytes a Host value may hold
// (reg-name, IP literal, port; no spaces, no userinfo '@').
bool valid_host(std::string_view h) noexcept {
  for (char ch : h) {
    if (std::isalnum(static_cast<unsigned char>(ch))) continue;
    if (std::strchr("!$&'()*+,-.:;=[]_~%", ch) == nullptr || ch == '\0') return false;
  }
  return true;
}

// Maps a read error to the status to answer (0: close silently).
int status_for_read_error(const error_code& ec, bool header_done) {
  if (ec == bhttp::error::header_limit) return status::request_header_fields_too_large;
  if (ec == bhttp::error::body_limit) return status::payload_too_large;
  if (ec == bhttp::error::buffer_overflow)
    return header_done ? status::payload_too_large : status::request_header_fields_too_large;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return status::bad_request;
  return 0;  // network: EOF, timeout, reset, closed
}

}  // namespace

struct server::state {
  state(handler hh, server_options oo) : h(std::move(hh)), o(std::move(oo)) {
    auto [c, cancel] = gofer::with_cancel(gofer::background());
    base = c;
    cancel_base = std::move(cancel);
  }

  handler h;
  const server_options o;
  gofer::context base;  // request.ctx; cancelled by close()
  gofer::cancel_func cancel_base;

  // Guards every field below and conn_rec::st of registered connections. Held only for
  // bookkeeping and non-parking calls (conn::close, listener::close, set_read_deadline);
  // never while a handler, a hook or any I/O wait runs.
  mutable std::mutex mu;
  bool shutting_down = false;
  bool drained_closed = false;
  std::vector<std::shared_ptr<net::listener>> listeners;
  std::unordered_set<conn_rec*> conns;
  gofer::chan<std::monostate> drained;  // closed when shutting down and conns is empty

  void notify(const net::conn& c, conn_state st) {
    if (o.on_conn_state) o.on_conn_state(c, st);
  }

  bool is_shutting_down() const {
    std::lock_guard lk(mu);
    return shutting_down;
  }

  // Transitions; false means "shutting down: close instead". While shutting down only a
  // new connection may still become active (its first request is served, Go's rule).
  bool to(conn_rec& r, conn_state st) {
    std::lock_guard lk(mu);
    if (shutting_down && !(r.st == conn_state::new_ && st == conn_state::active)) return false;
    r.st = st;
    return true;
  }

  // Sets a new connection's first read deadline, unless shutdown already set a sooner one
  // (both under mu, so neither overwrites the other).
  void arm_new(conn_rec& r, time_point d) {
    std::lock_guard lk(mu);
    if (!shutting_down) r.c.set_read_deadline(d);
  }

  void unregister(conn_rec& r) {
    bool close_drained = false;
    {
      std::lock_guard lk(mu);
      conns.erase(&r);
      r.st = conn_state::closed;
      if (shutting_down && conns.empty() && !drained_closed) {
        drained_closed = true;
        close_drained = true;
      }
    }
    if (close_drained) drained.close();
  }
};

namespace {

// Writes an error answer ("400 Bad Request: why") with Connection: close.
void write_error(net::conn& c, unsigned version, int code, std::string_view why, std::chrono::nanoseconds wt) {
  bhttp::response<bhttp::string_body> res;
  res.version(version == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(code));
  res.reason(beast::string_view(status_text(code).data(), status_text(code).size()));
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::date, http_date());
  res.body() = std::to_string(code) + " " + std::string(status_text(code));
  if (!why.empty()) res.body() += ": " + std::string(why);
  res.content_length(res.body().size());
  res.keep_alive(false);
  c.set_write_deadline(clk::now() + (wt > std::chrono::nanoseconds::zero() ? wt : std::chrono::seconds(5)));
  error_code ec;
  bhttp::write(c, res, ec);
}

struct parsed_target {
  std::string path, query;
  std::string authority;  // absolute-form: the target's host[:port], which is r.host
  std::string err;  // non-empty: answer 400 with this
};

parsed_target parse_target(std::string_view target) {
  parsed_target t;
  std::string_view raw_path, raw_query;
  if (!target.empty() && target.front() == '/') {
    auto qm = target.find('?');
    raw_path = target.substr(0, qm);
    if (qm != std::string_view::npos) raw_query = target.substr(qm + 1);
    t.query = std::string(raw_query);
  } else if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {  // absolute-form
    auto u = parse_url(target);
    if (!u.ok()) {
      t.err = "invalid request-target";
      return t;
    }
    auto dec = unescape(u->path, false);
    if (!dec) {
      t.err = "invalid URL escape";
      return t;
    }
    t.path = std::move(*dec);
    t.query = u->raw_query;
    std::string_view rest = target.substr(7);
    t.authority = std::string(rest.substr(0, rest.find_first_of("/?#")));
    raw_path = {};
  } else {
    t.err = "invalid request-target";
    return t;
  }
  if (!raw_path.empty()) {
    auto dec = unescape(raw_path, false);
    if (!dec) {
      t.err = "invalid URL escape";
      return t;
    }
    t.path = std::move(*dec);
  }
  if (t.path.find('\0') != std::string::npos) {
    t.err = "invalid URL path";
    return t;
  }
  for (auto s : split_path(t.path))
    if (s == "." || s == "..") {
      t.err = "invalid URL path";
      return t;
    }
  return t;
}

// Sends the handler's buffered answer. Returns false on a write error.
bool write_response(net::conn& c, response_writer& w, const request& r, bool& keep) {
  int code = response_writer_access::status(w);
  if (code == 0) code = 200;
  bhttp::response<bhttp::string_body> res;
  res.version(r.version == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(code < 100 || code > 999 ? 500 : code));
  if (status_text(code).empty()) res.reason("status code " + std::to_string(code));
  else res.reason(beast::string_view(status_text(code).data(), status_text(code).size()));
  bool has_ctype = false, has_date = false;
  for (const auto& [k, v] : response_writer_access::headers(w)) {
    if (!is_token(k)) continue;
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding")) continue;
    if (iequals(k, "Connection")) {
      if (iequals(trim(v), "close")) keep = false;
      continue;
    }
    if (iequals(k, "Content-Type")) has_ctype = true;
    if (iequals(k, "Date")) has_date = true;
    res.insert(k, clean_value(v));
  }
  std::string& body = response_writer_access::body(w);
  bool no_body = (code >= 100 && code < 200) || code == 204 || code == 304;
  if (no_body) body.clear();
  if (!has_ctype && !body.empty()) res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  if (!has_date) res.set(bhttp::field::date, http_date());
  res.body() = std::move(body);
  if (!no_body) res.content_length(res.body().size());
  res.keep_alive(keep);
  error_code ec;
  if (r.method == "HEAD") {
    bhttp::response_serializer<bhttp::string_body> sr{res};
    bhttp::write_header(c, sr, ec);
  } else {
    bhttp::write(c, res, ec);
  }
  return !ec;
}

void serve_conn(const std::shared_ptr<server::state>& sp, const std::shared_ptr<conn_rec>& rec) {
  server::state& s = *sp;
  const server_options& o = s.o;
  net::conn& c = rec->c;
  // A new connection's header deadline counts from here, as Go's readRequest counts from
  // its own start: the wait for the first byte is included, but not the time the goroutine
  // waited to be scheduled after accept (under load that could eat the whole timeout and
  // the deadline would then fail a request already waiting in the socket).
  const auto serving_since = clk::now();
  // Unregisters even when the runtime unwinds this goroutine (goroutine_exit).
  gofer::defer unregister([&s, &r = *rec] {
    (void)r.c.close();
    s.unregister(r);
    // Not while the runtime unwinds us: the hook might park, which would throw again.
    if (std::uncaught_exceptions() == 0 && !r.hijacked) s.notify(r.c, conn_state::closed);
  });
  s.notify(c, conn_state::new_);
  const std::string remote = c.remote_addr();
  const auto hdr_timeout = o.read_header_timeout > std::chrono::nanoseconds::zero() ? o.read_header_timeout : o.read_timeout;
  const auto idle_timeout = o.idle_timeout > std::chrono::nanoseconds::zero() ? o.idle_timeout : o.read_timeout;
  auto hdr_deadline_from = [&](clk::time_point t0) {
    return hdr_timeout > std::chrono::nanoseconds::zero() ? t0 + hdr_timeout : time_point{};
  };

  // The read buffer's bound: a header of max_header_bytes plus one read ahead. While a
  // body is read it shrinks to kBodyStageBuffer, which bounds a chunk line and the trailer.
  const std::size_t header_stage_buffer = std::size_t{o.max_header_bytes} + 65536;
  beast::flat_buffer buf{header_stage_buffer};
  bool first = true;
  for (;;) {
    // 1. Wait for the request's first byte: the header deadline for a new connection
    //    (Go counts the wait in ReadHeaderTimeout), the idle deadline between requests.
    error_code ec;
    if (buf.size() == 0) {
      if (!first) {
        if (!s.to(*rec, conn_state::idle)) return;
        s.notify(c, conn_state::idle);
        if (buf.capacity() > (64u << 10)) buf.shrink_to_fit();
      }
      if (first) s.arm_new(*rec, hdr_deadline_from(serving_since));
      else c.set_read_deadline(deadline_in(idle_timeout));
      std::size_t n = c.read_some(buf.prepare(4096), ec);
      if (ec) return;  // EOF, idle timeout, closed by shutdown
      buf.commit(n);
    }
    if (!s.to(*rec, conn_state::active)) return;
    s.notify(c, conn_state::active);
    const auto t0 = first ? serving_since : clk::now();
    first = false;

    // 2. The header (the buffer bound back to the header stage's: a pipelined request may
    //    already be in it).
    c.set_read_deadline(hdr_deadline_from(t0));
    buf.max_size(std::max(buf.size(), header_stage_buffer));
    bhttp::request_parser<bhttp::string_body> p;
    p.header_limit(o.max_header_bytes);
    p.body_limit(o.max_body_bytes);
    // The header is read without eager parsing, so a too-large Content-Length reliably
    // reports body_limit here (Beast 1.74 drops that error when parsing eagerly past it).
    read_request_header(c, buf, p, o.max_header_bytes, o.max_header_fields, ec);
    if (ec) {
      int code = ec == bhttp::error::bad_version ? status_for_bad_version(buf) : status_for_read_error(ec, p.is_header_done());
      if (code != 0) {
        write_error(c, 11, code, code == 400 ? ec.message() : "", o.write_timeout);
        linger_close(c);
      }
      return;
    }
    auto& breq = p.get();
    unsigned version = breq.version();
    const auto t_header = clk::now();
    c.set_write_deadline(deadline_in(o.write_timeout));
    auto reject = [&](int code, std::string_view why) {
      write_error(c, version, code, why, o.write_timeout);
      linger_close(c);
    };
    if (version != 10 && version != 11) return reject(status::http_version_not_supported, "");
    if (version == 11 && breq.find(bhttp::field::host) == breq.end())
      return reject(status::bad_request, "missing required Host header");
    // RFC 9112 §3.2: more than one Host, or an invalid one, is answered 400 (as Go does).
    if (breq.count(bhttp::field::host) > 1) return reject(status::bad_request, "too many Host headers");
    if (auto h = breq[bhttp::field::host]; !valid_host({h.data(), h.size()}))
      return reject(status::bad_request, "malformed Host header");
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; a proxy in
    // front may not agree where the body ends, so answer 400 and close. (Go ignores TE on
    // 1.0 and reads by Content-Length; either way no second request is read from a body.)
    if (version == 10 && breq.find(bhttp::field::transfer_encoding) != breq.end())
      return reject(status::bad_request, "Transfer-Encoding in an HTTP/1.0 request");
    if (breq.find(bhttp::field::transfer_encoding) != breq.end()) {
      auto te = breq[bhttp::field::transfer_encoding];
      if (!p.chunked() || breq.count(bhttp::field::transfer_encoding) != 1 ||
          !iequals(trim({te.data(), te.size()}), "chunked"))
        return reject(status::not_implemented, "unsupported transfer encoding");
    }
    std::string_view target{breq.target().data(), breq.target().size()};
    std::string_view method{breq.method_string().data(), breq.method_string().size()};
    if (target == "*") {
      if (method != "OPTIONS") return reject(status::bad_request, "invalid request-target");
    }
    parsed_target pt;
    if (target != "*") {
      pt = parse_target(target);
      if (!pt.err.empty()) return reject(status::bad_request, pt.err);
    } else {
      pt.path = "*";
    }

    // 3. The body (Expect: 100-continue answered first), within body_read_timeout (and
    //    read_timeout), through a buffer of at most kBodyStageBuffer.
    // The header fields are copied now: a chunked body's trailer adds its fields to the
    // same Beast message (each after the last of its name), and they must not mix.
    header req_headers;
    std::unordered_map<std::string, std::size_t> header_names;  // lower-cased name → count
    for (const auto& f : breq) {
      auto n = f.name_string();
      auto v = f.value();
      req_headers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
      if (!p.chunked()) continue;  // only a chunked body has a trailer
      std::string key(n.data(), n.size());
      for (char& ch : key) ch = lower(ch);
      ++header_names[key];
    }
    const std::size_t header_fields = req_headers.size();
    chunk_guard guard;
    if (!p.is_done()) {
      time_point rd{};
      if (o.read_timeout > std::chrono::nanoseconds::zero()) rd = t0 + o.read_timeout;
      if (o.body_read_timeout > std::chrono::nanoseconds::zero()) {
        auto b = clk::now() + o.body_read_timeout;
        rd = rd == time_point{} ? b : std::min(rd, b);
      }
      c.set_read_deadline(rd);
      auto expect = breq[bhttp::field::expect];
      if (version == 11 && iequals(trim({expect.data(), expect.size()}), "100-continue")) {
        // Bounded like the body: a client that never reads could otherwise hold this write.
        if (rd != time_point{} && (o.write_timeout <= std::chrono::nanoseconds::zero() || rd < t_header + o.write_timeout))
          c.set_write_deadline(rd);
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        bhttp::write(c, cont, ec);
        if (ec) return;
      }
      buf.max_size(std::max(buf.size(), kBodyStageBuffer));
      p.on_chunk_header(guard);
      try {
        bhttp::read(c, buf, p, ec);
      } catch (const std::length_error&) {  // a trailer field over 64 KiB (see above)
        ec = bhttp::error::buffer_overflow;
      }
      if (ec) {
        int code = status_for_read_error(ec, true);
        if (guard.tripped) code = status::payload_too_large;
        else if (ec == bhttp::error::buffer_overflow && at_last_chunk(buf))
          code = status::request_header_fields_too_large;
        if (code != 0) {
          write_error(c, version, code, code == 400 ? ec.message() : "", o.write_timeout);
          linger_close(c);
        }
        return;
      }
      if (static_cast<std::size_t>(std::distance(breq.begin(), breq.end())) > header_fields + o.max_header_fields)
        return reject(status::request_header_fields_too_large, "");
    }
    c.set_read_deadline(time_point{});

    // 4. The handler.
    request r;
    r.method = std::string(method);
    r.target = std::string(target);
    r.path = std::move(pt.path);
    r.raw_query = std::move(pt.query);
    r.version = static_cast<int>(version);
    r.headers = std::move(req_headers);
    if (static_cast<std::size_t>(std::distance(breq.begin(), breq.end())) > header_fields) {
      // Beast inserts a field after the last one of the same name, so within a name the
      // header's come first: skip that many of each name, the rest are the trailer's.
      for (const auto& f : breq) {
        auto n = f.name_string();
        std::string key(n.data(), n.size());
        for (char& ch : key) ch = lower(ch);
        auto it = header_names.find(key);
        if (it != header_names.end() && it->second > 0) {
          --it->second;
          continue;
        }
        auto v = f.value();
        r.trailers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
      }
    }
    r.host = pt.authority.empty() ? r.headers.get("Host") : pt.authority;
    r.body = std::move(breq.body());
    r.remote_addr = remote;
    r.ctx = s.base;
    bool keep = o.keep_alives && breq.keep_alive();
    response_writer w;
    // A hijack moves the conn out under mu (close() closes the tracked ones under mu) and
    // stops tracking it, with the bytes read past this request.
    response_writer_access::set_hijack(w, [&](std::string* rest) {
      net::conn out;
      {
        std::lock_guard lk(s.mu);
        out = std::move(rec->c);
      }
      rec->hijacked = true;
      s.unregister(*rec);
      s.notify(out, conn_state::hijacked);
      out.set_deadline(time_point{});
      if (rest) {
        auto d = buf.data();
        rest->assign(static_cast<const char*>(d.data()), d.size());
      }
      buf.consume(buf.size());
      return out;
    });
    bool panicked = false;
    if (target == "*") {
      w.headers().set("Content-Length", "0");
      w.write_header(status::ok);
    } else {
      try {
        s.h(r, w);
      } catch (const gofer::detail::goroutine_exit&) {
        throw;  // the runtime is unwinding this goroutine
      } catch (const std::exception& e) {
        std::fprintf(stderr, "http: panic serving %s: %s\n", remote.c_str(), e.what());
        panicked = true;
      } catch (...) {
        std::fprintf(stderr, "http: panic serving %s: unknown exception\n", remote.c_str());
        panicked = true;
      }
    }
    if (rec->hijacked) return;  // the handler owns the connection now
    // The answer is buffered: nothing of it was sent when the handler threw, whatever it
    // had written, so the client always gets the 500.
    const auto write_deadline = [&] {
      time_point wd = o.write_timeout > std::chrono::nanoseconds::zero() ? t_header + o.write_timeout : time_point{};
      if (o.response_write_timeout > std::chrono::nanoseconds::zero()) {
        auto b = clk::now() + o.response_write_timeout;
        wd = wd == time_point{} ? b : std::min(wd, b);
      }
      return wd;
    };
    if (panicked) {
      response_writer w2;
      error(w2, "Internal Server Error", status::internal_server_error);
      bool k = false;
      c.set_write_deadline(write_deadline());
      write_response(c, w2, r, k);
      linger_close(c);
      return;
    }

    // 5. The answer, within response_write_timeout (and write_timeout).
    if (keep && s.is_shutting_down()) keep = false;
    c.set_write_deadline(write_deadline());
    if (!write_response(c, w, r, keep)) return;
    if (!keep) {
      linger_close(c);
      return;
    }
  }
}

}  // namespace

server::server(handler h, server_options opts) : s_(std::make_shared<state>(std::move(h), std::move(opts))) {}

server::~server() { (void)close(); }

absl::Status server::serve(net::listener ln) {
  // Only the shared state from here on: the server object may be destroyed (closing the
  // listener) while this call is still returning.
  std::shared_ptr<state> s = s_;
  auto lp = std::make_shared<net::listener>(std::move(ln));
  {
    std::lock_guard lk(s->mu);
    if (s->shutting_down) {
      (void)lp->close();
      return server_closed_error();
    }
    s->listeners.push_back(lp);
  }
  auto leave = [&] {
    std::lock_guard lk(s->mu);
    auto& ls = s->listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), lp), ls.end());
    return s->shutting_down;
  };
  for (;;) {
    auto r = lp->accept();
    if (!r.ok()) {
      bool sd = leave();
      (void)lp->close();
      return sd ? server_closed_error() : r.status();
    }
    auto rec = std::make_shared<conn_rec>(std::move(*r));
    {
      std::lock_guard lk(s->mu);
      if (s->shutting_down) {
        (void)rec->c.close();
        continue;
      }
      s->conns.insert(rec.get());
    }
    gofer::go(gofer::named{"http-conn"}, [s, rec] { serve_conn(s, rec); });
  }
}

absl::Status server::listen_and_serve(std::string_view addr) {
  auto ln = net::listen(addr);
  if (!ln.ok()) return ln.status();
  return serve(std::move(*ln));
}

absl::Status server::shutdown(const gofer::context& ctx) {
  std::shared_ptr<state> s = s_;
  bool done = false, close_now = false;
  {
    std::lock_guard lk(s->mu);
    s->shutting_down = true;
    // Listeners first: once any connection is seen closed, new dials are refused.
    for (auto& l : s->listeners) (void)l->close();
    // Idle connections are closed now. New ones (no request yet) keep at most
    // kNewConnGrace to send one: their read deadline is pulled in, and when it passes
    // they close by themselves.
    const auto hdr = s->o.read_header_timeout > std::chrono::nanoseconds::zero() ? s->o.read_header_timeout
                                                                                  : s->o.read_timeout;
    for (conn_rec* r : s->conns) {
      if (r->st == conn_state::idle) {
        (void)r->c.close();
      } else if (r->st == conn_state::new_) {
        auto d = clk::now() + kNewConnGrace;
        if (hdr > std::chrono::nanoseconds::zero()) d = std::min(d, r->accepted + hdr);
        r->c.set_read_deadline(d);
      }
    }
    done = s->conns.empty();
    if (done && !s->drained_closed) {
      s->drained_closed = true;
      close_now = true;
    }
  }
  if (close_now) s->drained.close();
  if (done) return absl::OkStatus();
  bool expired = false;
  gofer::select(gofer::recv_case(s->drained),
                gofer::recv_case(ctx.done(), [&](auto) { expired = true; }));
  if (expired) return ctx.err();
  return absl::OkStatus();
}

absl::Status server::close() {
  bool close_now = false;
  {
    std::lock_guard lk(s_->mu);
    s_->shutting_down = true;
    for (auto& l : s_->listeners) (void)l->close();
    for (conn_rec* r : s_->conns) (void)r->c.close();
    if (s_->conns.empty() && !s_->drained_closed) {
      s_->drained_closed = true;
      close_now = true;
    }
  }
  if (close_now) s_->drained.close();
  if (s_->cancel_base) s_->cancel_base();
  return absl::OkStatus();
}

std::size_t server::open_connections() const {
  std::lock_guard lk(s_->mu);
  return s_->conns.size();
}

bool is_server_closed(const absl::Status& s) noexcept { return s == server_closed_error(); }

// ---- client ---------------------------------------------------------------------------------

struct client::state {
  explicit state(client_options oo) : o(std::move(oo)) {}
  const client_options o;

  struct idle_conn {
    net::conn c;
    clk::time_point since;
  };
  // Guards idle and idle_count. Held for pool bookkeeping only; connections are closed
  // (destroyed) after it is released.
  mutable gofer::mutex mu;
  std::unordered_map<std::string, std::vector<idle_conn>> idle;
  std::size_t idle_count = 0;

  std::optional<net::conn> take(const std::string& key) {
    std::vector<net::conn> expired;
    std::optional<net::conn> out;
    {
      std::lock_guard lk(mu);
      auto it = idle.find(key);
      if (it != idle.end()) {
        auto& v = it->second;
        auto now = clk::now();
        while (!v.empty()) {
          idle_conn ic = std::move(v.back());
          v.pop_back();
          --idle_count;
          if (o.idle_conn_timeout > std::chrono::nanoseconds::zero() && now - ic.since > o.idle_conn_timeout) {
            expired.push_back(std::move(ic.c));
            continue;
          }
          out = std::move(ic.c);
          break;
        }
      }
    }
    return out;  // `expired` closes on destruction, outside the lock
  }

  void put(const std::string& key, net::conn c) {
    std::optional<net::conn> drop;
    {
      std::lock_guard lk(mu);
      auto& v = idle[key];
      if (v.size() >= o.max_idle_per_host) {
        drop = std::move(c);
      } else {
        v.push_back({std::move(c), clk::now()});
        ++idle_count;
      }
    }
  }
};

namespace {

bool replayable(std::string_view m) { return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE"; }

// Is a pooled connection still usable? Nothing must be readable: EOF, an error or stray
// bytes mean the server closed it (or broke the protocol) while it sat in the pool. Go
// learns the same from its per-connection read loop; one non-blocking peek is cheaper
// than a goroutine. (Not a read with a passed deadline: that fails before the syscall.)
bool still_open(net::conn& c) { return !c.read_ready(); }

bool is_redirect(int code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

// Turns a context cancellation into an immediate deadline on the connection, so a parked
// read or write returns at once. disarm() guarantees the watcher no longer touches the
// connection; it leaves the watcher goroutine to exit on its own.
class ctx_watch {
 public:
  ctx_watch(const gofer::context& ctx, net::conn& c) {
    if (ctx.done() == nullptr) return;
    shared_ = std::make_shared<shared>();
    shared_->c = &c;
    gofer::go([ctx, stop = stop_, sh = shared_]() {
      bool cancelled = false;
      gofer::select(gofer::recv_case(ctx.done(), [&](auto) { cancelled = true; }), gofer::recv_case(stop));
      if (!cancelled) return;
      std::lock_guard lk(sh->mu);
      if (sh->c != nullptr) sh->c->set_deadline(clk::now());
    });
  }
  ~ctx_watch() { disarm(); }
  void disarm() {
    if (!shared_) return;
    {
      std::lock_guard lk(shared_->mu);
      shared_->c = nullptr;
    }
    stop_.close();
    shared_.reset();
  }

 private:
  struct shared {
    std::mutex mu;  // guards c; held only around set_deadline (never parks)
    net::conn* c = nullptr;
  };
  std::shared_ptr<shared> shared_;
  gofer::chan<std::monostate> stop_;
};

// The status for a failed round trip, ctx's error taking precedence.
absl::Status round_trip_error(const error_code& ec, const gofer::context& ctx) {
  if (auto e = ctx.err(); !e.ok()) return e;
  if (ec == boost::asio::error::timed_out) {
    if (auto d = ctx.deadline(); d && clk::now() >= *d) return absl::DeadlineExceededError("context deadline exceeded");
    return absl::DeadlineExceededError("i/o timeout");
  }
  if (ec == bhttp::error::body_limit) return absl::ResourceExhaustedError("http: response body too large");
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
    return absl::ResourceExhaustedError("http: response header too large");
  if (ec == bhttp::error::end_of_stream || ec == boost::asio::error::eof) return absl::UnavailableError("EOF");
  if (ec == bhttp::error::partial_message) return absl::DataLossError("unexpected EOF");
  if (ec == boost::asio::error::bad_descriptor) return absl::UnavailableError("use of closed network connection");
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return absl::DataLossError("malformed HTTP response: " + ec.message());
  return absl::UnavailableError(ec.message());
}

absl::Status wrap(const absl::Status& st, std::string_view method, const std::string& u) {
  return absl::Status(st.code(), go_method(method) + " \"" + u + "\": " + std::string(st.message()));
}

absl::StatusOr<response> round_trip(client::state& s, const gofer::context& ctx, const std::string& method,
                                    const url& u, const std::string& body, const header& hdrs) {
  const client_options& o = s.o;
  const std::string key = u.host_port();
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(u.request_target());
  req.version(11);
  req.set(bhttp::field::host, u.host_header());
  req.set(bhttp::field::user_agent, o.user_agent);
  for (const auto& [k, v] : hdrs) {
    if (!is_token(k)) continue;
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") || iequals(k, "Connection")) continue;
    if (iequals(k, "Host") || iequals(k, "User-Agent")) {
      req.set(k, clean_value(v));
      continue;
    }
    req.insert(k, clean_value(v));
  }
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") req.content_length(body.size());

  for (int attempt = 0;; ++attempt) {
    net::conn c;
    bool reused = false;
    if (attempt == 0) {
      while (auto pc = s.take(key)) {
        if (still_open(*pc)) {
          c = std::move(*pc);
          reused = true;
          break;
        }
        (void)pc->close();
      }
    }
    if (!reused) {
      auto d = net::dial(key, ctx);
      if (!d.ok()) {
        if (auto e = ctx.err(); !e.ok()) return e;
        return d.status();
      }
      c = std::move(*d);
    }
    auto dl = ctx.deadline();
    c.set_deadline(dl ? *dl : time_point{});
    ctx_watch watch(ctx, c);

    error_code ec;
    bhttp::write(c, req, ec);
    if (ec) {
      watch.disarm();
      (void)c.close();
      if (reused && ctx.err().ok()) continue;  // a stale pooled connection: nothing was read
      return round_trip_error(ec, ctx);
    }
    beast::flat_buffer buf;
    std::optional<bhttp::response_parser<bhttp::string_body>> p;
    bool got_any = false;
    for (;;) {
      p.emplace();
      p->header_limit(o.max_response_header_bytes);
      p->body_limit(o.max_response_bytes);
      if (method == "HEAD") p->skip(true);
      // Header first, then the body: Beast 1.74's parser loses the body_limit error of a
      // too-large Content-Length when it parses eagerly past the header (as http::read
      // does), so read_header (not eager) is what enforces max_response_bytes there.
      read_header_limited(c, buf, *p, o.max_response_header_bytes, ec);
      if (!ec && !p->is_done()) bhttp::read(c, buf, *p, ec);
      got_any = got_any || p->got_some();
      if (ec) break;
      unsigned code = p->get().result_int();
      if (code >= 100 && code < 200 && code != 101) continue;  // 1xx: the real answer follows
      break;
    }
    watch.disarm();
    if (ec) {
      (void)c.close();
      bool stale = ec == bhttp::error::end_of_stream || ec == boost::asio::error::connection_reset ||
                   ec == boost::asio::error::eof;
      if (reused && !got_any && stale && replayable(method) && ctx.err().ok()) continue;
      return round_trip_error(ec, ctx);
    }
    auto& bres = p->get();
    response res;
    res.status = static_cast<int>(bres.result_int());
    res.reason = std::string(bres.reason().data(), bres.reason().size());
    res.version = static_cast<int>(bres.version());
    for (const auto& f : bres) {
      auto n = f.name_string();
      auto v = f.value();
      res.headers.add(std::string(n.data(), n.size()), std::string(v.data(), v.size()));
    }
    bool keep = bres.keep_alive() && !p->need_eof() && buf.size() == 0 && res.status != 101;
    res.body = std::move(bres.body());
    if (keep && ctx.err().ok()) {
      c.set_deadline(time_point{});
      s.put(key, std::move(c));
    } else {
      (void)c.close();
    }
    return res;
  }
}

}  // namespace

client::client() : client(client_options{}) {}
client::client(client_options opts) : s_(std::make_shared<state>(std::move(opts))) {}
client::~client() { close_idle_connections(); }

absl::StatusOr<response> client::get(const gofer::context& ctx, std::string_view u) { return send(ctx, "GET", u); }

absl::StatusOr<response> client::post(const gofer::context& ctx, std::string_view u, std::string body,
                                      std::string_view content_type) {
  return send(ctx, "POST", u, std::move(body), header{{"Content-Type", std::string(content_type)}});
}

absl::StatusOr<response> client::send(const gofer::context& ctx0, std::string_view method0, std::string_view url0,
                                      std::string body, header headers) {
  std::string method(method0);
  if (method.empty()) method = "GET";
  if (!is_token(method))
    return absl::InvalidArgumentError("net/http: invalid method \"" + method + "\"");
  auto pu = parse_url(url0);
  if (!pu.ok()) return wrap(pu.status(), method, std::string(url0));
  url u = std::move(*pu);
  if (auto e = ctx0.err(); !e.ok()) return wrap(e, method, u.string());

  gofer::context ctx = ctx0;
  gofer::cancel_func cancel;
  if (s_->o.timeout > std::chrono::nanoseconds::zero()) std::tie(ctx, cancel) = gofer::with_timeout(ctx0, s_->o.timeout);
  gofer::defer cancel_at_exit([&cancel] {
    if (cancel) cancel();
  });

  for (int redirects = 0;;) {
    auto r = round_trip(*s_, ctx, method, u, body, headers);
    if (!r.ok()) return wrap(r.status(), method, u.string());
    r->url = u.string();
    if (s_->o.max_redirects <= 0 || !is_redirect(r->status)) return r;
    std::string loc = r->headers.get("Location");
    if (loc.empty()) return r;
    auto next = resolve_reference(u, loc);
    if (!next.ok()) return wrap(next.status(), method, u.string());
    if (++redirects >= s_->o.max_redirects)
      return wrap(absl::ResourceExhaustedError("stopped after " + std::to_string(s_->o.max_redirects) + " redirects"),
                  method, next->string());
    if (r->status == 301 || r->status == 302 || r->status == 303) {
      if (method != "GET" && method != "HEAD") method = "GET";
      body.clear();
      headers.del("Content-Type");
    }
    if (next->host_port() != u.host_port()) {
      headers.del("Authorization");
      headers.del("Www-Authenticate");
      headers.del("Cookie");
      headers.del("Cookie2");
    }
    u = std::move(*next);
  }
}

void client::close_idle_connections() {
  std::unordered_map<std::string, std::vector<state::idle_conn>> drop;
  {
    std::lock_guard lk(s_->mu);
    drop.swap(s_->idle);
    s_->idle_count = 0;
  }
}

std::size_t client::idle_connections() const {
  std::lock_guard lk(s_->mu);
  return s_->idle_count;
}

}  // namespace gofer::http
