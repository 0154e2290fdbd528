// lib/src/http/fs.cpp — file_server (Go's http.FileServer, without directory listings):
// realpath checks against the root and the read run on a helper thread (gofer::blocking).
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "detail/http.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

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

}  // namespace gofer::http
