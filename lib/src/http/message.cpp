// lib/src/http/message.cpp — the message types and the answer helpers: header (Go's
// http.Header), request and response (their query and JSON accessors), status_text, the
// common MIME types, and error / not_found / redirect / write_json / decode_json.
#include <algorithm>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "detail/http.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

namespace internal {

bool is_tchar(char c) noexcept {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
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
}  // namespace internal

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

// ---- the request body (Go's r.Body) --------------------------------------------------------

namespace {

const absl::Status& body_eof() {
  static const absl::Status s = absl::OutOfRangeError("EOF");  // net::is_eof's
  return s;
}

absl::StatusOr<std::size_t> read_state(request::body_state& b, char* p, std::size_t n) {
  if (!b.err.ok()) return b.err;
  if (b.eof) return body_eof();
  if (n == 0) return std::size_t{0};
  if (b.detached) return absl::FailedPreconditionError("http: invalid Read on closed Body");
  if (b.src != nullptr) {
    auto got = b.src->read_body(p, n, b);
    if (got.ok() && *got == 0) return body_eof();
    return got;
  }
  // In memory (set_body).
  std::size_t k = std::min(n, b.mem.size() - b.mem_pos);
  if (k == 0) {
    b.eof = true;
    return body_eof();
  }
  if (b.consumed + k > b.limit) {
    b.err = absl::ResourceExhaustedError("http: request body too large");
    b.err_code = status::payload_too_large;
    return b.err;
  }
  std::memcpy(p, b.mem.data() + b.mem_pos, k);
  b.mem_pos += k;
  b.consumed += k;
  return k;
}

// The rest of the body, under b.limit.
absl::StatusOr<std::string> read_rest(request::body_state& b) {
  std::string out;
  for (;;) {
    std::size_t step = out.size() < (64u << 10) ? (16u << 10) : (64u << 10);
    std::size_t old = out.size();
    out.resize(old + step);
    auto n = read_state(b, out.data() + old, step);
    if (!n.ok()) {
      out.resize(old);
      if (net::is_eof(n.status())) return out;
      return n.status();
    }
    out.resize(old + *n);
  }
}

}  // namespace

const std::string& request::body() const {
  static const std::string empty;
  if (!body_) return empty;
  auto& b = *body_;
  if (b.whole) return *b.whole;
  auto rest = read_rest(b);
  if (!rest.ok()) throw body_error(rest.status(), b.err.ok() ? 0 : b.err_code);
  b.whole = std::move(*rest);
  return *b.whole;
}

absl::StatusOr<std::string> request::read_body(std::uint64_t limit) const {
  if (!body_) return std::string();
  body_->limit = limit;
  if (body_->whole) {  // body() read it already
    if (body_->consumed > limit) return absl::ResourceExhaustedError("http: request body too large");
    return *body_->whole;
  }
  return read_rest(*body_);
}

absl::StatusOr<std::size_t> request::read(void* buf, std::size_t n) const {
  if (!body_) return body_eof();
  return read_state(*body_, static_cast<char*>(buf), n);
}

const header& request::trailers() const {
  static const header none;
  return body_ ? body_->trailers : none;
}

void request::set_body(std::string b) {
  body_ = std::make_shared<body_state>();
  content_length = static_cast<std::int64_t>(b.size());
  body_->mem = std::move(b);
}

void max_bytes(const request& r, std::uint64_t n) {
  if (r.body_) r.body_->limit = n;
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

absl::StatusOr<nlohmann::json> request::json() const { return parse_json(body(), max_json_depth); }
absl::StatusOr<nlohmann::json> request::json(int max_depth) const { return parse_json(body(), max_depth); }
absl::StatusOr<nlohmann::json> response::json() const { return parse_json(body, max_json_depth); }

// ---- response_writer, event_stream --------------------------------------------------------

bool response_writer::write(std::string_view data) {
  if (!err_.ok()) return false;
  if (status_ == 0) status_ = 200;
  if (flushed_ && sink_ != nullptr) {
    if (auto st = sink_->check(); !st.ok()) {
      err_ = st;
      return false;
    }
  }
  body_.append(data);
  if (flushed_ && sink_ != nullptr && body_.size() >= kStreamBuffer) return flush().ok();
  return true;
}

absl::Status response_writer::flush() {
  if (!err_.ok()) return err_;
  if (status_ == 0) status_ = 200;
  if (sink_ == nullptr) {  // a test's writer: like Go's httptest.ResponseRecorder
    flushed_ = true;
    return absl::OkStatus();
  }
  absl::Status st = sink_->flush(*this);
  if (!st.ok()) err_ = st;
  return st;
}

absl::StatusOr<response_writer::hijacked> response_writer::hijack() {
  if (!err_.ok()) return err_;
  if (sink_ == nullptr) return absl::FailedPreconditionError("http: not attached to a connection");
  if (flushed_) return absl::FailedPreconditionError("http: response already flushed");
  auto h = sink_->hijack();
  if (!h.ok()) return h;
  // Go's ErrHijacked for every later use of w.
  err_ = absl::FailedPreconditionError("http: connection has been hijacked");
  status_ = 0;
  headers_ = header{};
  body_.clear();
  return h;
}

event_stream::event_stream(response_writer& w) : w_(w) {
  w_.headers().set("Content-Type", "text/event-stream");
  w_.headers().set("Cache-Control", "no-cache");
  w_.write_header(status::ok);
  (void)w_.flush();  // a failure stays in w and is what the first send returns
}

absl::Status event_stream::send(std::string_view event, std::string_view data, std::string_view id) {
  if (event.find_first_of("\r\n") != std::string_view::npos)
    return absl::InvalidArgumentError("http: event_stream: event type contains a line end");
  if (id.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return absl::InvalidArgumentError("http: event_stream: id contains a line end or NUL");
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 32);
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  // One "data:" field per line; CRLF, LF and CR each end a line (WHATWG's rule), so the
  // client's data is these lines joined by LF. No line end at all: one field.
  for (;;) {
    auto eol = data.find_first_of("\r\n");
    out.append("data: ").append(data.substr(0, eol)).append("\n");
    if (eol == std::string_view::npos) break;
    std::size_t next = eol + 1;
    if (data[eol] == '\r' && next < data.size() && data[next] == '\n') ++next;
    data.remove_prefix(next);
  }
  out.append("\n");
  if (!w_.write(out)) return w_.err();
  return w_.flush();
}

absl::Status event_stream::comment(std::string_view text) {
  std::string out = ": ";
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\n\n");
  if (!w_.write(out)) return w_.err();
  return w_.flush();
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
  absl::StatusOr<nlohmann::json> j;
  try {
    j = r.json();
  } catch (const body_error& e) {
    if (e.code() == 0) throw;  // the client is gone or too slow: nothing to answer
    error(w, std::string(e.status().message()), e.code());
    return std::nullopt;
  }
  if (j.ok()) return std::move(*j);
  error(w, std::string(j.status().message()), status::bad_request);
  return std::nullopt;
}

}  // namespace gofer::http
