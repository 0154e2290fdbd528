// source_location.cpp — the records of call sites for compilers without
// std::source_location (gofer/detail/source_location.hpp; clang 14 with libstdc++ 12).
//
// intern_location keeps one record per (file, line, function) for the rest of the program.
// Each thread remembers recent answers in a small direct-mapped cache keyed by the three
// values (the strings are the compiler's literals, so equal pointers mean the same site);
// a miss takes a global lock and looks the site up by content. GCC builds never call it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "gofer/detail/source_location.hpp"

namespace gofer::detail {
namespace {

struct site {
  std::string_view file, function;
  std::uint_least32_t line;
  bool operator==(const site&) const = default;
};
struct site_hash {
  std::size_t operator()(const site& s) const noexcept {
    std::size_t h = std::hash<std::string_view>{}(s.file);
    h ^= std::hash<std::string_view>{}(s.function) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h ^ (s.line * 0x9e3779b97f4a7c15ULL);
  }
};

struct cache_entry {
  const char* file = nullptr;
  const char* function = nullptr;
  std::uint_least32_t line = 0;
  const location_data* data = nullptr;
};

}  // namespace

const location_data* intern_location(const char* file, std::uint_least32_t line,
                                     const char* function) noexcept {
  // Not reset across parks: the cache holds program-lifetime pointers, whichever thread.
  thread_local cache_entry cache[64];
  auto key = reinterpret_cast<std::uintptr_t>(file) ^ reinterpret_cast<std::uintptr_t>(function) ^
             (static_cast<std::uintptr_t>(line) * 0x9e3779b1u);
  cache_entry& e = cache[(key ^ (key >> 7)) % 64];
  if (e.data != nullptr && e.file == file && e.function == function && e.line == line) return e.data;

  static std::mutex mu;  // never held across a park: a plain critical section, no callbacks
  static auto* sites = new std::unordered_map<site, std::unique_ptr<location_data>, site_hash>;
  const location_data* d;
  {
    std::lock_guard l(mu);
    auto& slot = (*sites)[site{file, function, line}];
    if (!slot) slot.reset(new location_data{file, function, line, 0});
    d = slot.get();
  }
  e = cache_entry{file, function, line, d};
  return d;
}

}  // namespace gofer::detail
