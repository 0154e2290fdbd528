// tests/select_misuse.cpp — select's misuse is a compile error with a clear message.
//
// Compiled by CTest (tests/CMakeLists.txt, select_misuse.*) once per SELECT_MISUSE_<name>
// macro, each expected to fail with the static_assert text of gofer/select.hpp that the
// test's PASS_REGULAR_EXPRESSION names. Without a macro the file compiles (the valid forms).
#include <optional>

#include "gofer/select.hpp"

bool valid(const gofer::chan<int>& c, const gofer::recv_chan<int>& done) {
  // Every case has a handler returning bool: select returns bool.
  return gofer::select(gofer::recv_case(c, [](std::optional<int> v) { return v.has_value(); }),
                       gofer::recv_case(done, [](auto) { return false; }));
}

void misuse(const gofer::chan<int>& c) {
#if defined(SELECT_MISUSE_handlerless_case)
  // A handler returns bool, but the second case has no handler to return one.
  bool more = gofer::select(gofer::recv_case(c, [](auto) { return true; }), gofer::recv_case(c));
  (void)more;
#elif defined(SELECT_MISUSE_handlerless_default)
  bool more = gofer::select(gofer::recv_case(c, [](auto) { return true; }), gofer::default_case());
  (void)more;
#elif defined(SELECT_MISUSE_mixed_types)
  // bool and int: not one type.
  auto r = gofer::select(gofer::recv_case(c, [](auto) { return true; }), gofer::default_case([] { return 1; }));
  (void)r;
#elif defined(SELECT_MISUSE_void_and_value)
  auto r = gofer::select(gofer::recv_case(c, [](auto) { return true; }), gofer::send_case(c, 1, [] {}));
  (void)r;
#elif defined(SELECT_MISUSE_two_defaults)
  gofer::select(gofer::recv_case(c), gofer::default_case(), gofer::default_case());
#endif
  (void)c;
}
