// gofer/detail/source_location.hpp — gofer::source_location: the call site a blocking
// operation records (gofer/detail/park.hpp, "Call sites"; gofer/debug.hpp).
//
// What it is: one pointer to a static record {file, function, line, column}, with
// std::source_location's interface (current(), file_name(), function_name(), line(),
// column()). Trivially copyable, passed in a register, stored with one lock-free atomic
// store (goroutine::where). A default-constructed location is empty ("", "", line 0: "no
// user site").
//
// Why gofer's own class, not an alias of std::source_location: the library is built by
// GCC, while clang 14 (the libFuzzer harness, tests/fuzz/libfuzzer; the thread-safety check,
// tools/thread_safety.sh) with libstdc++ 12 has no std::source_location (no
// __builtin_source_location before clang 15). One class type for both compilers gives
// park(), block_forever(), conn::read(), ... the same mangled names and the same layout,
// so a clang-built program links against the GCC-built library.
//
// How current() gets the record:
//   - with std::source_location (GCC 11+, clang 15+): the pointer inside
//     std::source_location::current() — the compiler's static record, whose layout
//     (libstdc++'s and libc++'s __impl) is detail::location_data's: nothing to copy, no
//     cost (tests/runtime_test.cpp, source_location.*, checks the layout);
//   - without (clang 14): __builtin_FILE/LINE/FUNCTION as default arguments, interned by
//     detail::intern_location (lib/src/source_location.cpp) into a record that lives for the
//     program: a thread-local cache hit per call, a lock and a hash lookup on a miss. Only
//     such builds pay for it; their function names are clang's short ones ("main").
// Either way current() used as a default argument reports the caller's line, also when
// nested (an operation's `where = gofer::source_location::current()`).
//
// Thread-safety: values are immutable; the records are never freed.
#pragma once

#include <cstdint>
#include <version>
#if __has_include(<source_location>)
#include <source_location>
#endif
#if defined(__cpp_lib_source_location)
#include <bit>
#endif

namespace gofer {

namespace detail {
// The static record of one call site: the layout of std::source_location::__impl in
// libstdc++ and libc++ (file, function, line, column).
struct location_data {
  const char* file;
  const char* function;
  std::uint_least32_t line;
  std::uint_least32_t column;
};
inline constexpr location_data empty_location{"", "", 0, 0};
// The record for (file, line, function), the same pointer for the same triple, valid for
// the rest of the program. Thread-safe; used by compilers without std::source_location.
const location_data* intern_location(const char* file, std::uint_least32_t line,
                                     const char* function) noexcept;
}  // namespace detail

class source_location {
 public:
#if defined(__cpp_lib_source_location)
  static source_location current(std::source_location s = std::source_location::current()) noexcept {
    static_assert(sizeof(std::source_location) == sizeof(const detail::location_data*));
    source_location r;
    if (auto* p = std::bit_cast<const detail::location_data*>(s)) r.p_ = p;
    return r;
  }
#else
  static source_location current(const char* file = __builtin_FILE(),
                                 std::uint_least32_t line = __builtin_LINE(),
                                 const char* function = __builtin_FUNCTION()) noexcept {
    source_location r;
    r.p_ = detail::intern_location(file, line, function);
    return r;
  }
#endif
  constexpr source_location() noexcept = default;
  constexpr const char* file_name() const noexcept { return p_->file; }
  constexpr const char* function_name() const noexcept { return p_->function; }
  constexpr std::uint_least32_t line() const noexcept { return p_->line; }
  constexpr std::uint_least32_t column() const noexcept { return p_->column; }

 private:
  const detail::location_data* p_ = &detail::empty_location;
};

}  // namespace gofer
