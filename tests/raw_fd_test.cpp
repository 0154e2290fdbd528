// tests/raw_fd_test.cpp — gofer::net::raw_fd (gofer/raw_fd.hpp): foreign descriptors on
// the runtime's poller.
//
// Suite `raw_fd` (1, 2, 4 and 8 scheduler threads): a pipe read parks only its goroutine (on
// one thread, others run meanwhile), read and write loops over a pipe, a write that parks
// while the pipe is full, close() waking a parked reader, deadlines, inotify, adopt vs
// borrow (who closes the descriptor), wait_read for a library that does its own I/O, and
// the errors (negative fd, a regular file epoll refuses, use after close).
//
// Ordering: "goroutine X is parked on the descriptor" is established by waiting until the
// dump shows X in "IO wait" (test_util.hpp's wait_state), never by sleeping.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gofer/net.hpp"
#include "gofer/raw_fd.hpp"
#include "test_util.hpp"

namespace gofer_test {
namespace {

using namespace std::chrono_literals;
using gofer::net::raw_fd;

using raw_fd_p = threads_test;

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) == 0) {
      r = p[0];
      w = p[1];
    }
  }
  ~pipe_fds() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// One read(2) through raw_fd::read: the bytes, or "" at EOF / on error.
std::string read_some(raw_fd& raw) {
  char buf[256];
  ssize_t n = -1;
  absl::Status st = raw.read([&](int fd) {
    n = ::read(fd, buf, sizeof buf);
    return !(n < 0 && errno == EAGAIN);
  });
  if (!st.ok() || n <= 0) return "";
  return std::string(buf, static_cast<std::size_t>(n));
}

TEST_P(raw_fd_p, a_read_parks_until_data_and_other_goroutines_run_meanwhile) {
  run_main(threads(), [] {
    pipe_fds p;
    auto raw = raw_fd::adopt(p.r);
    ASSERT_TRUE(raw.ok()) << raw.status();
    p.r = -1;  // owned by raw now
    gofer::chan<std::string> got;
    gofer::go(gofer::named{"reader"}, [&] { got.send(read_some(*raw)); });
    ASSERT_TRUE(wait_state("reader", "IO wait"));
    // The reader's thread is free: a ping-pong with another goroutine completes (on one
    // thread it could not if the read blocked the thread).
    gofer::chan<int> ping, pong;
    gofer::go(gofer::named{"ponger"}, [&] { pong.send(*ping.recv() + 1); });
    ping.send(41);
    EXPECT_EQ(*pong.recv(), 42);
    ASSERT_EQ(::write(p.w, "hello", 5), 5);
    EXPECT_EQ(*got.recv(), "hello");
  });
}

TEST_P(raw_fd_p, adopt_sets_nonblocking_and_close_closes_the_descriptor) {
  run_main(threads(), [] {
    pipe_fds p;
    int fd = p.r;
    p.r = -1;
    auto raw = raw_fd::adopt(fd);
    ASSERT_TRUE(raw.ok()) << raw.status();
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_EQ(raw->fd(), fd);
    EXPECT_TRUE(raw->is_open());
    EXPECT_TRUE(raw->close().ok());
    EXPECT_FALSE(raw->is_open());
    EXPECT_EQ(raw->fd(), -1);
    EXPECT_FALSE(fd_is_open(fd));
    EXPECT_TRUE(gofer::net::is_closed(raw->close()));  // idempotent, says so
  });
}

TEST_P(raw_fd_p, borrow_leaves_the_descriptor_open_and_its_flags_alone) {
  run_main(threads(), [] {
    pipe_fds p;
    ASSERT_EQ(::fcntl(p.r, F_SETFL, ::fcntl(p.r, F_GETFL) | O_NONBLOCK), 0);
    int flags = ::fcntl(p.r, F_GETFL);
    {
      auto raw = raw_fd::borrow(p.r);
      ASSERT_TRUE(raw.ok()) << raw.status();
      ASSERT_EQ(::write(p.w, "x", 1), 1);
      EXPECT_EQ(read_some(*raw), "x");
    }  // destroyed: unregistered, not closed
    EXPECT_TRUE(fd_is_open(p.r));
    EXPECT_EQ(::fcntl(p.r, F_GETFL), flags);
    // Registered again after the first registration ended: still works.
    auto again = raw_fd::borrow(p.r);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ(::write(p.w, "y", 1), 1);
    EXPECT_EQ(read_some(*again), "y");
  });
}

TEST_P(raw_fd_p, close_wakes_a_parked_reader_with_is_closed) {
  run_main(threads(), [] {
    pipe_fds p;
    auto raw = raw_fd::adopt(p.r);
    ASSERT_TRUE(raw.ok());
    p.r = -1;
    gofer::chan<absl::Status> done;
    int calls = 0;
    gofer::go(gofer::named{"reader"}, [&] {
      done.send(raw->read([&](int fd) {
        ++calls;
        char c;
        ssize_t n = ::read(fd, &c, 1);
        return !(n < 0 && errno == EAGAIN);
      }));
    });
    ASSERT_TRUE(wait_state("reader", "IO wait"));
    EXPECT_TRUE(raw->close().ok());
    absl::Status st = *done.recv();
    EXPECT_TRUE(gofer::net::is_closed(st)) << st;
    EXPECT_EQ(calls, 1);  // f is not called again after close
  });
}

TEST_P(raw_fd_p, a_read_deadline_ends_a_parked_read_with_i_o_timeout) {
  run_main(threads(), [] {
    pipe_fds p;
    auto raw = raw_fd::adopt(p.r);
    ASSERT_TRUE(raw.ok());
    p.r = -1;
    raw->set_read_deadline(std::chrono::steady_clock::now() + 30ms);
    auto start = std::chrono::steady_clock::now();
    absl::Status st = raw->read([](int fd) {
      char c;
      ssize_t n = ::read(fd, &c, 1);
      return !(n < 0 && errno == EAGAIN);
    });
    EXPECT_TRUE(gofer::net::is_timeout(st)) << st;
    EXPECT_GE(std::chrono::steady_clock::now() - start, 25ms);
    // Expired: fails before f runs. Cleared: reads again.
    bool called = false;
    EXPECT_TRUE(gofer::net::is_timeout(raw->read([&](int) { return called = true; })));
    EXPECT_FALSE(called);
    raw->set_read_deadline({});
    ASSERT_EQ(::write(p.w, "z", 1), 1);
    EXPECT_EQ(read_some(*raw), "z");
  });
}

TEST_P(raw_fd_p, a_write_parks_while_the_pipe_is_full_and_resumes_when_drained) {
  run_main(threads(), [] {
    pipe_fds p;
    auto w = raw_fd::adopt(p.w);
    ASSERT_TRUE(w.ok());
    p.w = -1;
    ASSERT_EQ(::fcntl(p.r, F_SETFL, ::fcntl(p.r, F_GETFL) | O_NONBLOCK), 0);
    const std::size_t total = 1 << 20;  // far beyond the 64 KiB pipe buffer
    gofer::chan<std::size_t> wrote;
    gofer::go(gofer::named{"writer"}, [&] {
      std::vector<char> data(total, 'a');
      std::size_t off = 0;
      absl::Status st = w->write([&](int fd) {
        while (off < total) {
          ssize_t n = ::write(fd, data.data() + off, total - off);
          if (n < 0) return errno != EAGAIN;
          off += static_cast<std::size_t>(n);
        }
        return true;
      });
      EXPECT_TRUE(st.ok()) << st;
      wrote.send(off);
    });
    ASSERT_TRUE(wait_state("writer", "IO wait"));
    std::size_t got = 0;
    std::vector<char> buf(65536);
    while (got < total) {  // main drains from outside the poller, yielding when empty
      ssize_t n = ::read(p.r, buf.data(), buf.size());
      if (n > 0) got += static_cast<std::size_t>(n);
      else gofer::yield();
    }
    EXPECT_EQ(*wrote.recv(), total);
    EXPECT_EQ(got, total);
  });
}

TEST_P(raw_fd_p, wait_read_returns_once_readable_without_reading) {
  run_main(threads(), [] {
    pipe_fds p;
    auto raw = raw_fd::borrow(p.r);
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(::fcntl(p.r, F_SETFL, ::fcntl(p.r, F_GETFL) | O_NONBLOCK), 0);
    gofer::chan<int> ready;
    gofer::go(gofer::named{"library"}, [&] {
      // A library's loop: try, and wait when it would block.
      for (;;) {
        char c;
        if (::read(p.r, &c, 1) == 1) {
          ready.send(c);
          return;
        }
        ASSERT_EQ(errno, EAGAIN);
        ASSERT_TRUE(raw->wait_read().ok());
      }
    });
    ASSERT_TRUE(wait_state("library", "IO wait"));
    ASSERT_EQ(::write(p.w, "q", 1), 1);
    EXPECT_EQ(*ready.recv(), 'q');
  });
}

TEST_P(raw_fd_p, inotify_events_arrive_through_the_poller) {
  run_main(threads(), [] {
    char tmpl[] = "/tmp/gofer-rawfd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    auto raw = raw_fd::adopt(::inotify_init1(IN_CLOEXEC));
    ASSERT_TRUE(raw.ok()) << raw.status();
    ASSERT_GE(::inotify_add_watch(raw->fd(), dir.c_str(), IN_CLOSE_WRITE), 0);
    gofer::chan<std::string> names;
    gofer::go(gofer::named{"watcher"}, [&] {
      alignas(inotify_event) char buf[4096];
      ssize_t n = 0;
      absl::Status st = raw->read([&](int fd) {
        n = ::read(fd, buf, sizeof buf);
        return !(n < 0 && errno == EAGAIN);
      });
      auto* ev = reinterpret_cast<inotify_event*>(buf);
      names.send(st.ok() && n > 0 && ev->len > 0 ? std::string(ev->name) : "error");
    });
    ASSERT_TRUE(wait_state("watcher", "IO wait"));
    std::string file = dir + "/a.txt";
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("hi", f);
    std::fclose(f);
    EXPECT_EQ(*names.recv(), "a.txt");
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
  });
}

TEST_P(raw_fd_p, bad_descriptors_are_clear_errors) {
  run_main(threads(), [] {
    auto neg = raw_fd::adopt(-1);
    EXPECT_TRUE(absl::IsInvalidArgument(neg.status())) << neg.status();
    // epoll cannot watch a regular file: EPERM, and the descriptor is left open.
    char path[] = "/tmp/gofer-rawfd-file-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    auto file = raw_fd::adopt(fd);
    EXPECT_FALSE(file.ok());
    EXPECT_NE(std::string(file.status().message()).find("Operation not permitted"), std::string::npos)
        << file.status();
    EXPECT_TRUE(fd_is_open(fd));
    ::close(fd);
    // An empty raw_fd: is_closed everywhere.
    raw_fd empty;
    EXPECT_TRUE(gofer::net::is_closed(empty.read([](int) { return true; })));
    EXPECT_TRUE(gofer::net::is_closed(empty.wait_write()));
    EXPECT_EQ(empty.fd(), -1);
  });
}

TEST(raw_fd, outside_gofer_run_adopt_is_a_logic_error) {
  EXPECT_THROW((void)raw_fd::adopt(0), std::logic_error);
}

INSTANTIATE_TEST_SUITE_P(threads, raw_fd_p, ::testing::ValuesIn(kThreadCounts), threads_name);

}  // namespace
}  // namespace gofer_test
