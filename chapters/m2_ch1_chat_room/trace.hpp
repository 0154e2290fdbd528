// trace.hpp — the chat room's tracer (Module 2, chapter 1: "Tracing code to get a look under
// the hood"): an interface with one method, a tracer that writes lines to a stream, and a
// tracer that does nothing — the room's default, so tracing costs nothing unless asked for.
//
//   trace::tracer   the interface (Go's Tracer): trace(args...) writes one line
//   trace::make(o)  a tracer writing to o (Go's trace.New(w))
//   trace::off()    a tracer that ignores everything (Go's trace.Off())
//
// The book builds it test-first (red, green): tests/trace_test.cpp beside this file checks
// that make() writes exactly the line given and that off() accepts calls and writes nothing.
// A shared_ptr<tracer> is a handle: copies share one tracer. Thread-safety: make()'s tracer
// locks around each line (a std::mutex, held only while the line is written to the stream:
// no goroutine parks inside it), so any goroutine may trace. off() is stateless.
//
// Example:
//   auto t = trace::make(std::cout);
//   t->trace("New client joined");          // "New client joined\n"
//   t->trace("Message received: ", text);   // the arguments in a row, as Go's fmt.Sprint
#pragma once

#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

namespace trace {

class tracer {
 public:
  virtual ~tracer() = default;
  // Writes its arguments (operator<<, no separators) as one line. Never parks.
  template <class... Args>
  void trace(const Args&... args) {
    if (!enabled()) return;  // off(): not even the formatting
    if constexpr (sizeof...(Args) == 1 && (std::is_convertible_v<const Args&, std::string_view> && ...)) {
      write_line(std::string_view(args...));  // one string: nothing to format
    } else {
      std::ostringstream line;
      (line << ... << args);
      write_line(line.str());
    }
  }

 protected:
  virtual bool enabled() const noexcept { return true; }
  virtual void write_line(std::string_view line) = 0;
};

namespace detail {
class stream_tracer final : public tracer {
 public:
  explicit stream_tracer(std::ostream& out) : out_(out) {}

 private:
  void write_line(std::string_view line) override {
    std::lock_guard lk(mu_);
    out_ << line << '\n';
    out_.flush();
  }
  std::mutex mu_;  // guards out_ (one line at a time); never held across a park
  std::ostream& out_;
};

class nil_tracer final : public tracer {
  bool enabled() const noexcept override { return false; }
  void write_line(std::string_view) override {}
};
}  // namespace detail

// Go's trace.New(w): out must outlive the tracer.
inline std::shared_ptr<tracer> make(std::ostream& out) { return std::make_shared<detail::stream_tracer>(out); }

// Go's trace.Off(): one shared do-nothing tracer.
inline std::shared_ptr<tracer> off() {
  static const std::shared_ptr<tracer> nil = std::make_shared<detail::nil_tracer>();
  return nil;
}

}  // namespace trace
