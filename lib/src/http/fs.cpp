// lib/src/http/fs.cpp — file_server (Go's http.FileServer: serveFile and serveContent in
// fs.go, without directory listings): the path checks and the open run on the handler's
// thread, as Go's do (see file_server in gofer/http.hpp for why not gofer::blocking);
// conditional requests and ranges as Go's checkPreconditions and parseRange; the body goes
// from the file to the socket by sendfile (net::conn::send_file).
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <random>

#include "detail/http.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

file_body::~file_body() {
  if (fd >= 0) ::close(fd);
}

std::uint64_t file_body::size() const noexcept {
  std::uint64_t n = tail.size();
  for (const piece& p : pieces) n += p.text.size() + p.length;
  return n;
}

namespace internal {
absl::Status write_file_body(net::conn& c, const file_body& f) {
  for (const file_body::piece& p : f.pieces) {
    if (!p.text.empty())
      if (auto n = c.write(p.text); !n.ok()) return n.status();
    if (p.length != 0)
      if (auto n = c.send_file(f.fd, p.offset, p.length); !n.ok()) return n.status();
  }
  if (!f.tail.empty())
    if (auto n = c.write(f.tail); !n.ok()) return n.status();
  return absl::OkStatus();
}
}  // namespace internal

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

std::string_view base_name(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  auto slash = p.find_last_of('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

// What opening r.path below root found (runs on a helper thread).
struct opened {
  int code = 404;        // 200: fd is open; 301: redirect to location
  std::string location;  // relative, as Go's localRedirect
  std::string path;      // the real path served (its extension gives the type)
  int fd = -1;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

opened open_file(const std::string& root, const std::string& url_path) {
  opened out;
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr) return out;
  const std::string rroot = buf;
  // Go opens path.Clean(url): without the trailing slash, which only steers redirects.
  std::string_view name = url_path;
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  if (::realpath((rroot + std::string(name)).c_str(), buf) == nullptr) return out;
  std::string real = buf;
  if (!within(real, rroot)) return out;  // a symlink leading out of root
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return out;
  const bool slash = url_path.back() == '/';
  if (S_ISDIR(st.st_mode)) {
    if (!slash) {  // Go: localRedirect(w, r, path.Base(url)+"/")
      out.code = 301;
      out.location = std::string(base_name(url_path)) + "/";
      return out;
    }
    if (::realpath((real + "/index.html").c_str(), buf) == nullptr) return out;  // no listings
    real = buf;
    if (!within(real, rroot) || ::stat(real.c_str(), &st) != 0) return out;
  } else if (slash) {  // Go: a file named with a trailing slash: localRedirect to "../name"
    out.code = 301;
    out.location = "../" + std::string(base_name(url_path));
    return out;
  }
  if (!S_ISREG(st.st_mode)) return out;
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return out;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // what was opened is what is described
    ::close(fd);
    return out;
  }
  out.code = 200;
  out.fd = fd;
  out.path = std::move(real);
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return out;
}

// ---- dates (Go's http.TimeFormat and http.ParseTime) ----------------------------------

std::string http_time(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char b[40];
  std::strftime(b, sizeof b, "%a, %d %b %Y %H:%M:%S GMT", &tm);  // the C locale: English names
  return b;
}

// IMF-fixdate, RFC 850 and ANSI C's asctime (RFC 9110 §5.6.7); nullopt if none fits.
std::optional<std::time_t> parse_http_time(std::string_view v) {
  std::string s(strip_ascii_whitespace(v));
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), fmt, &tm);
    if (end != nullptr && *end == '\0') return ::timegm(&tm);
  }
  return std::nullopt;
}

// ---- ETags (Go's scanETag, etagStrongMatch, etagWeakMatch) ----------------------------

// The entity-tag at the start of s (W/ prefix and quotes kept) and what follows it; an
// empty tag when s does not start with one.
std::pair<std::string_view, std::string_view> scan_etag(std::string_view s) {
  s = trim_ows(s);
  std::size_t start = 0;
  if (s.substr(0, 2) == "W/") start = 2;
  if (s.size() - start < 2 || s[start] != '"') return {};
  for (std::size_t i = start + 1; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') return {s.substr(0, i + 1), s.substr(i + 1)};
    if (!(c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80)) return {};
  }
  return {};
}

bool etag_strong_match(std::string_view a, std::string_view b) { return a == b && !a.empty() && a[0] == '"'; }
bool etag_weak_match(std::string_view a, std::string_view b) {
  if (a.substr(0, 2) == "W/") a.remove_prefix(2);
  if (b.substr(0, 2) == "W/") b.remove_prefix(2);
  return a == b;
}

enum class cond { none, yes, no };

// If-Match / If-None-Match: does the list hold "*" or a tag matching etag?
cond match_list(std::string_view list, std::string_view etag, bool strong) {
  list = trim_ows(list);
  if (list.empty()) return cond::none;
  while (!list.empty()) {
    list = trim_ows(list);
    if (list.empty()) break;
    if (list[0] == ',') {
      list.remove_prefix(1);
      continue;
    }
    if (list[0] == '*') return cond::yes;
    auto [tag, rest] = scan_etag(list);
    if (tag.empty()) break;
    if (strong ? etag_strong_match(tag, etag) : etag_weak_match(tag, etag)) return cond::yes;
    list = rest;
  }
  return cond::no;
}

// ---- ranges (Go's parseRange) ----------------------------------------------------------

struct byte_range {
  std::uint64_t start = 0, length = 0;
  std::string content_range(std::uint64_t size) const {
    return "bytes " + std::to_string(start) + "-" + std::to_string(start + length - 1) + "/" + std::to_string(size);
  }
};

// Digits only (not absl::SimpleAtoi, which also takes a sign and surrounding whitespace;
// Go's parseRange does not).
std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

enum class range_error { none, invalid, no_overlap };

// "bytes=0-99,200-,-50" against a file of `size` bytes.
range_error parse_ranges(std::string_view h, std::uint64_t size, std::vector<byte_range>& out) {
  constexpr std::string_view kPrefix = "bytes=";
  if (h.substr(0, kPrefix.size()) != kPrefix) return range_error::invalid;
  h.remove_prefix(kPrefix.size());
  bool no_overlap = false;
  while (true) {
    auto comma = h.find(',');
    std::string_view ra = trim_ows(h.substr(0, comma));
    if (!ra.empty()) {
      auto dash = ra.find('-');
      if (dash == std::string_view::npos) return range_error::invalid;
      std::string_view first = trim_ows(ra.substr(0, dash)), last = trim_ows(ra.substr(dash + 1));
      byte_range r;
      if (first.empty()) {  // "-N": the last N bytes
        auto n = parse_uint(last);
        if (!n) return range_error::invalid;
        if (*n == 0) {  // RFC 9110 §14.1.3: a zero suffix is unsatisfiable
          no_overlap = true;
        } else {
          r.start = size - std::min(*n, size);
          r.length = size - r.start;
          if (r.length == 0) no_overlap = true;  // an empty file
          else out.push_back(r);
        }
      } else {
        auto s = parse_uint(first);
        if (!s) return range_error::invalid;
        std::optional<std::uint64_t> e;
        if (!last.empty()) {
          e = parse_uint(last);
          if (!e || *s > *e) return range_error::invalid;
        }
        if (*s >= size) {
          no_overlap = true;
        } else {
          r.start = *s;
          std::uint64_t end = e ? std::min(*e, size - 1) : size - 1;
          r.length = end - r.start + 1;
          out.push_back(r);
        }
      }
    }
    if (comma == std::string_view::npos) break;
    h.remove_prefix(comma + 1);
  }
  if (no_overlap && out.empty()) return range_error::no_overlap;
  return range_error::none;
}

std::string random_boundary() {  // Go's multipart randomBoundary: 30 random bytes in hex
  std::random_device rd;
  std::string b;
  char hex[3];
  for (int i = 0; i < 30; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(rd() & 0xff));
    b += hex;
  }
  return b;
}

// Go's writeNotModified.
void not_modified(response_writer& w) {
  header& h = w.headers();
  h.del("Content-Type");
  h.del("Content-Length");
  h.del("Content-Encoding");
  if (h.has("ETag")) h.del("Last-Modified");
  w.write_header(status::not_modified);
}

// Go's serveError for a failed precondition or range: the header describing the file goes.
void serve_error(response_writer& w, std::string_view msg, int code) {
  w.headers().del("ETag");
  w.headers().del("Last-Modified");
  w.headers().del("Accept-Ranges");
  error(w, msg, code);
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
    // Go: a request for ".../index.html" is redirected to its directory ("./").
    auto local_redirect = [&](std::string to) {
      if (!r.raw_query.empty()) to += "?" + r.raw_query;
      w.headers().set("Location", to);
      w.write_header(status::moved_permanently);
    };
    constexpr std::string_view kIndex = "/index.html";
    if (p.size() >= kIndex.size() && p.compare(p.size() - kIndex.size(), kIndex.size(), kIndex) == 0)
      return local_redirect("./");

    opened f = open_file(root, p);  // on this thread: microseconds from the kernel's caches
    if (f.code == 301) return local_redirect(f.location);
    if (f.code != 200) return not_found(w);
    auto body = std::make_shared<file_body>();
    body->fd = f.fd;  // closed with body, on every path from here

    // The validators: Last-Modified (seconds) and a strong ETag.
    const std::time_t mtime = static_cast<std::time_t>(f.mtime_ns / 1000000000);
    char etag_buf[64];
    std::snprintf(etag_buf, sizeof etag_buf, "\"%" PRIx64 "-%" PRIx64 "\"", static_cast<std::uint64_t>(f.mtime_ns),
                  f.size);
    const std::string etag = etag_buf;
    header& h = w.headers();
    if (mtime > 0) h.set("Last-Modified", http_time(mtime));
    h.set("ETag", etag);

    // Go's checkPreconditions, in its order.
    cond c = match_list(r.headers.get("If-Match"), etag, true);
    if (c == cond::none && mtime > 0) {
      if (auto t = parse_http_time(r.headers.get("If-Unmodified-Since")); t) c = mtime <= *t ? cond::yes : cond::no;
    }
    if (c == cond::no) return w.write_header(status::precondition_failed);
    switch (match_list(r.headers.get("If-None-Match"), etag, false)) {
      case cond::yes:
        return not_modified(w);
      case cond::none:
        if (mtime > 0)
          if (auto t = parse_http_time(r.headers.get("If-Modified-Since")); t && mtime <= *t) return not_modified(w);
        break;
      case cond::no:
        break;
    }
    std::string range = r.headers.get("Range");
    if (!range.empty()) {
      if (std::string ir = r.headers.get("If-Range"); !ir.empty()) {
        auto [tag, rest] = scan_etag(ir);
        bool applies;
        if (!tag.empty()) applies = etag_strong_match(tag, etag);
        else applies = mtime > 0 && parse_http_time(ir) == std::optional<std::time_t>(mtime);
        if (!applies) range.clear();
      }
    }

    std::string_view ct = mime_type_by_extension(f.path);
    const std::string ctype = ct.empty() ? "application/octet-stream" : std::string(ct);
    h.set("Content-Type", ctype);
    h.set("Accept-Ranges", "bytes");

    std::vector<byte_range> ranges;
    if (!range.empty()) {
      switch (parse_ranges(range, f.size, ranges)) {
        case range_error::invalid:
          return serve_error(w, "invalid range", status::range_not_satisfiable);
        case range_error::no_overlap:
          h.set("Content-Range", "bytes */" + std::to_string(f.size));
          return serve_error(w, "invalid range: failed to overlap", status::range_not_satisfiable);
        case range_error::none:
          break;
      }
      std::uint64_t sum = 0;
      for (const byte_range& br : ranges) sum += br.length;
      if (sum > f.size) ranges.clear();  // Go: more than the file itself — send it whole
    }
    if (ranges.size() == 1) {
      h.set("Content-Range", ranges[0].content_range(f.size));
      body->pieces.push_back({"", static_cast<std::int64_t>(ranges[0].start), ranges[0].length});
      w.write_header(status::partial_content);
    } else if (ranges.size() > 1) {
      // multipart/byteranges, byte for byte as Go's mime/multipart writer makes it.
      const std::string boundary = random_boundary();
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        std::string part = (i == 0 ? "--" : "\r\n--") + boundary + "\r\n";
        part += "Content-Range: " + ranges[i].content_range(f.size) + "\r\nContent-Type: " + ctype + "\r\n\r\n";
        body->pieces.push_back({std::move(part), static_cast<std::int64_t>(ranges[i].start), ranges[i].length});
      }
      body->tail = "\r\n--" + boundary + "--\r\n";
      h.set("Content-Type", "multipart/byteranges; boundary=" + boundary);
      w.write_header(status::partial_content);
    } else {
      if (f.size != 0) body->pieces.push_back({"", 0, f.size});
      w.write_header(status::ok);
    }
    response_writer_access::file(w) = std::move(body);
  };
}

}  // namespace gofer::http
