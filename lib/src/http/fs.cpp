// lib/src/http/fs.cpp — file_server (Go's http.FileServer: serveFile and serveContent in
// fs.go, without directory listings): the path checks and the open run on the handler's
// thread, as Go's do (see file_server in gofer/http.hpp for why not gofer::blocking), below
// a root directory opened once, by openat2(RESOLVE_BENEATH) (realpath only as a fallback);
// conditional requests and ranges as Go's checkPreconditions and parseRange; the body goes
// from the file to the socket by sendfile (net::conn::send_file).
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>  // open_how, RESOLVE_BENEATH (glibc 2.36 has no openat2 wrapper)
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

// What opening r.path below root found (on the handler's thread).
struct opened {
  int code = 404;        // 200: fd is open; 301: redirect to location
  std::string location;  // relative, as Go's localRedirect
  std::string name;      // the name served, below root (its extension gives the type, as Go's)
  int fd = -1;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// The slow path (see open_file): root's and the file's real paths by realpath(3), the
// file's required to lie within root's. Used when openat2 is missing (ENOSYS: a kernel
// before 5.6, or a seccomp filter that refuses it) or refused a path (EXDEV: a ".." or an
// absolute symlink on the way — possibly still inside root, which this path decides).
opened open_file_realpath(const std::string& root, const std::string& url_path) {
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
  out.name = std::string(name);
  if (S_ISDIR(st.st_mode)) {
    if (!slash) {  // Go: localRedirect(w, r, path.Base(url)+"/")
      out.code = 301;
      out.location = std::string(base_name(url_path)) + "/";
      return out;
    }
    if (::realpath((real + "/index.html").c_str(), buf) == nullptr) return out;  // no listings
    real = buf;
    out.name += "/index.html";
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
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return out;
}

// root, opened once (O_PATH) on the first request that finds it, and closed with the
// last copy of the handler. Every file is then opened relative to it.
class root_dir {
 public:
  explicit root_dir(std::string path) : path_(std::move(path)) {}
  ~root_dir() {
    if (int fd = fd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
  }
  root_dir(const root_dir&) = delete;
  root_dir& operator=(const root_dir&) = delete;
  const std::string& path() const noexcept { return path_; }
  // The descriptor, or -1 if root cannot be opened (yet: a root created later is found).
  int fd() const noexcept {
    int fd = fd_.load(std::memory_order_acquire);
    if (fd >= 0) return fd;
    int mine = ::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (mine < 0) return -1;
    int expected = -1;
    if (fd_.compare_exchange_strong(expected, mine, std::memory_order_acq_rel)) return mine;
    ::close(mine);  // another request opened it first
    return expected;
  }

 private:
  const std::string path_;
  mutable std::atomic<int> fd_{-1};
};

enum class beneath { ok, not_found, slow_path };

// openat2(2) with RESOLVE_BENEATH: the kernel resolves name below dirfd in one walk and
// fails with EXDEV if any step (a "..", an absolute or escaping symlink, a magic link)
// would leave it — no window between a check and the open. O_NONBLOCK: a FIFO under root
// does not block the open (it is refused below, as every non-regular file is).
beneath open_beneath(int dirfd, const char* name, int& fd, struct stat& st) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long r;
  do {
    r = ::syscall(SYS_openat2, dirfd, name, &how, sizeof how);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    switch (errno) {
      case ENOSYS:  // no openat2 (kernel < 5.6) or a seccomp filter refusing it
      case EPERM:
      case E2BIG:
      case EINVAL:
      case EXDEV:   // leaves dirfd on the way: maybe back inside (an absolute symlink)
      case EAGAIN:  // the kernel could not rule out an escape (a rename raced a "..")
        return beneath::slow_path;
      default:
        return beneath::not_found;
    }
  }
  fd = static_cast<int>(r);
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fd = -1;
    return beneath::not_found;
  }
  return beneath::ok;
}

// Opens url_path (starting with '/', no ".." segment) below root: a regular file (200),
// a directory's index.html (200), a redirect (301) or nothing (404). The fast path walks
// the path once, in the kernel (open_beneath: openat2, fstat); the slow path
// (open_file_realpath) decides what openat2 cannot.
opened open_file(const root_dir& root, const std::string& url_path) {
  int dirfd = root.fd();
  if (dirfd < 0) return {};
  // Go opens path.Clean(url): without the trailing slash, which only steers redirects; and
  // relative to root ("//etc/passwd" is root + "/etc/passwd").
  std::string_view name = url_path;
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  std::string rel = name.empty() ? std::string(".") : std::string(name);
  const bool slash = url_path.back() == '/';
  opened out;
  struct stat st {};
  int fd = -1;
  switch (open_beneath(dirfd, rel.c_str(), fd, st)) {
    case beneath::slow_path: return open_file_realpath(root.path(), url_path);
    case beneath::not_found: return out;
    case beneath::ok: break;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    if (!slash) {  // Go: localRedirect(w, r, path.Base(url)+"/")
      out.code = 301;
      out.location = std::string(base_name(url_path)) + "/";
      return out;
    }
    rel += "/index.html";  // no listings
    switch (open_beneath(dirfd, rel.c_str(), fd, st)) {
      case beneath::slow_path: return open_file_realpath(root.path(), url_path);
      case beneath::not_found: return out;
      case beneath::ok: break;
    }
  } else if (slash) {  // Go: a file named with a trailing slash: localRedirect to "../name"
    ::close(fd);
    out.code = 301;
    out.location = "../" + std::string(base_name(url_path));
    return out;
  }
  if (!S_ISREG(st.st_mode)) {  // a directory named index.html, a FIFO, a device, a socket
    ::close(fd);
    return out;
  }
  out.code = 200;
  out.fd = fd;
  out.name = std::move(rel);
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return out;
}

// ---- dates (Go's http.TimeFormat and http.ParseTime) ----------------------------------

// Go's http.TimeFormat, "Mon, 02 Jan 2006 15:04:05 GMT", formatted by hand: strftime
// cost more than the rest of the validators together (the locale machinery).
std::string http_time(std::time_t t) {
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char b[64];
  auto two = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10 % 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {  // outside IMF-fixdate's 4 digits
    std::snprintf(b, sizeof b, "%.3s, %02d %.3s %d %02d:%02d:%02d GMT", kDays + 3 * tm.tm_wday, tm.tm_mday,
                  kMonths + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return b;
  }
  std::memcpy(b, kDays + 3 * tm.tm_wday, 3);
  std::memcpy(b + 3, ", ", 2);
  two(b + 5, tm.tm_mday);
  b[7] = ' ';
  std::memcpy(b + 8, kMonths + 3 * tm.tm_mon, 3);
  b[11] = ' ';
  const int y = tm.tm_year + 1900;
  two(b + 12, y / 100);
  two(b + 14, y % 100);
  b[16] = ' ';
  two(b + 17, tm.tm_hour);
  b[19] = ':';
  two(b + 20, tm.tm_min);
  b[22] = ':';
  two(b + 23, tm.tm_sec);
  std::memcpy(b + 25, " GMT", 4);
  return std::string(b, 29);
}

// IMF-fixdate, RFC 850 and ANSI C's asctime (RFC 9110 §5.6.7); nullopt if none fits.
std::optional<std::time_t> parse_http_time(std::string_view v) {
  v = strip_ascii_whitespace(v);
  if (v.empty()) return std::nullopt;  // the usual case: no such header (strptime would try 3 formats)
  std::string s(v);
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

// "<hex>-<hex>" of the ETag, by hand (snprintf's format parsing showed in profiles).
void append_hex(std::string& out, std::uint64_t v) {
  char b[16];
  int n = 0;
  do {
    b[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  while (n > 0) out += b[--n];
}

}  // namespace

handler file_server(std::string root) {
  return [root = std::make_shared<const root_dir>(std::move(root))](const request& r, response_writer& w) {
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

    opened f = open_file(*root, p);  // on this thread: microseconds from the kernel's caches
    if (f.code == 301) return local_redirect(f.location);
    if (f.code != 200) return not_found(w);
    auto body = std::make_shared<file_body>();
    body->fd = f.fd;  // closed with body, on every path from here

    // The validators: Last-Modified (seconds) and a strong ETag.
    const std::time_t mtime = static_cast<std::time_t>(f.mtime_ns / 1000000000);
    std::string etag = "\"";
    append_hex(etag, static_cast<std::uint64_t>(f.mtime_ns));
    etag += '-';
    append_hex(etag, f.size);
    etag += '"';
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

    std::string_view ct = mime_type_by_extension(f.name);
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
