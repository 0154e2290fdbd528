// gofer/detail/source_location.hpp — gofer::source_location: the call site a blocking
// operation records (gofer/detail/wait.hpp, "Call sites"; gofer/debug.hpp).
//
// std::source_location where the standard library has it (GCC 11+; clang 15+). Clang 14
// with libstdc++ 12 has no __builtin_source_location, so <source_location> declares
// nothing there; the fallback has the same interface, built from __builtin_FILE/LINE/
// FUNCTION (three words instead of one pointer: only such builds pay for it).
#pragma once

#include <cstdint>
#include <version>
#if __has_include(<source_location>)
#include <source_location>
#endif

namespace gofer {

#if defined(__cpp_lib_source_location)
using source_location = std::source_location;
#else
class source_location {
 public:
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           std::uint_least32_t line = __builtin_LINE(),
                                           const char* function = __builtin_FUNCTION()) noexcept {
    source_location s;
    s.file_ = file;
    s.line_ = line;
    s.function_ = function;
    return s;
  }
  constexpr source_location() noexcept = default;
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return 0; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
};
#endif

}  // namespace gofer
