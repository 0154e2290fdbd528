// lib/src/http/mux.cpp — serve_mux (Go 1.22's ServeMux: patterns, precedence, 405 / 301 /
// 404 dispatch) and strip_prefix.
#include <algorithm>
#include <set>
#include <shared_mutex>

#include "detail/http.hpp"
#include "gofer/panic.hpp"

namespace gofer::http {

using namespace internal;  // the shared helpers of lib/src/detail/http.hpp

namespace internal {

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

}  // namespace internal

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
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; });
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
    p = trim_ows(p.substr(sp));
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

// ---- strip_prefix -------------------------------------------------------------------------

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

}  // namespace gofer::http
