// tests/log_test.cpp — <gofer/log.hpp>: the goroutine's id and name in every spdlog line.
//
// Suites:
//   log        goroutine_name(); %G from named and unnamed goroutines on 1, 2 and 4
//              scheduler threads (each line carries the id its goroutine reported); %G
//              outside a goroutine; an async logger formats on spdlog's thread (%G is "-")
//              while tag() taken in the goroutine keeps the id
#include <gtest/gtest.h>

#include <spdlog/async.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gofer/chan.hpp>
#include <gofer/log.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>

#include "test_util.hpp"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::shared_ptr<spdlog::logger> stream_logger(std::ostringstream& os, const char* pattern) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  auto log = std::make_shared<spdlog::logger>("test", sink);
  gofer::log::use_goroutine_flag(*log, pattern);
  return log;
}

class log_threads : public gofer_test::threads_test {};

TEST(log, goroutine_name_is_the_named_name_and_empty_otherwise) {
  EXPECT_EQ(gofer::goroutine_name(), "");
  std::string named_seen = "?", unnamed_seen = "?", main_seen = "?";
  gofer_test::run_main(2, [&] {
    main_seen = std::string(gofer::goroutine_name());
    gofer::chan<int> done;
    gofer::go(gofer::named("fetcher-3"), [&, done] {
      named_seen = std::string(gofer::goroutine_name());
      done.send(1);
    });
    gofer::go([&, done] {
      unnamed_seen = std::string(gofer::goroutine_name());
      done.send(1);
    });
    done.recv();
    done.recv();
  });
  EXPECT_EQ(main_seen, "");
  EXPECT_EQ(named_seen, "fetcher-3");
  EXPECT_EQ(unnamed_seen, "");
}

// Every goroutine reports its id on a channel, then logs; each line must carry the id and
// name of the goroutine that wrote it. The goroutines yield between lines so they move
// between threads and interleave.
TEST_P(log_threads, every_line_carries_its_goroutines_id_and_name) {
  constexpr int kWorkers = 8, kLines = 50;
  std::ostringstream os;
  auto log = stream_logger(os, "[%G] %v");
  std::map<std::string, std::uint64_t> id_of;  // name -> id, written by main only
  std::uint64_t main_id = 0;
  gofer_test::run_main(threads(), [&] {
    main_id = gofer::goroutine_id();
    gofer::chan<std::pair<std::string, std::uint64_t>> ids;
    gofer::wait_group wg;
    for (int w = 0; w < kWorkers; ++w) {
      wg.add(1);
      std::string name = w % 2 == 0 ? "worker-" + std::to_string(w) : "";
      auto body = [log, ids, &wg, name, w]() {
        ids.send({name.empty() ? "#" + std::to_string(w) : name, gofer::goroutine_id()});
        for (int i = 0; i < kLines; ++i) {
          log->info("w{} line {}", w, i);
          gofer::yield();
        }
        wg.done();
      };
      if (name.empty()) gofer::go(body);
      else gofer::go(gofer::named(name), body);
    }
    for (int w = 0; w < kWorkers; ++w) {
      auto got = ids.recv();
      ASSERT_TRUE(got.has_value());
      id_of[got->first] = got->second;
    }
    wg.wait();
    log->info("main done");
  });
  std::vector<std::string> lines = lines_of(os.str());
  ASSERT_EQ(lines.size(), std::size_t(kWorkers * kLines + 1));
  std::regex re(R"(^\[g([0-9]+)( ([a-z0-9-]+))?\] w([0-9]+) line [0-9]+$)");
  std::map<int, int> per_worker;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i], m, re)) << lines[i];
    int w = std::stoi(m[4]);
    std::string key = w % 2 == 0 ? "worker-" + std::to_string(w) : "#" + std::to_string(w);
    EXPECT_EQ(std::stoull(m[1]), id_of.at(key)) << lines[i];
    if (w % 2 == 0) EXPECT_EQ(m[3].str(), key) << lines[i];
    else EXPECT_FALSE(m[2].matched) << "an unnamed goroutine has no name: " << lines[i];
    ++per_worker[w];
  }
  EXPECT_EQ(lines.back(), "[g" + std::to_string(main_id) + "] main done");
  EXPECT_EQ(main_id, 1u);
  for (int w = 0; w < kWorkers; ++w) EXPECT_EQ(per_worker[w], kLines) << "worker " << w;
}

INSTANTIATE_TEST_SUITE_P(log, log_threads, ::testing::Values(1u, 2u, 4u),
                         gofer_test::threads_name);

TEST(log, outside_a_goroutine_the_flag_is_a_dash) {
  std::ostringstream os;
  auto log = stream_logger(os, "[%G] %v");
  log->info("from main()");
  std::thread t([&] { log->info("from a thread"); });
  t.join();
  EXPECT_EQ(os.str(), "[-] from main()\n[-] from a thread\n");
}

// An async logger formats on spdlog's worker thread: %G cannot see the goroutine there
// (the header's table), but tag() evaluated in the goroutine travels in the message.
TEST(log, async_logger_formats_on_its_own_thread_so_tag_goes_in_the_text) {
  std::ostringstream os;
  auto tp = std::make_shared<spdlog::details::thread_pool>(64, 1);
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  auto log = std::make_shared<spdlog::async_logger>("async", sink, tp,
                                                    spdlog::async_overflow_policy::block);
  gofer::log::use_goroutine_flag(*log, "[%G] %v");
  std::uint64_t id = 0;
  gofer_test::run_main(2, [&] {
    gofer::chan<int> done;
    gofer::go(gofer::named("shipper"), [&, done] {
      id = gofer::goroutine_id();
      log->info("{} queued", gofer::log::tag());
      done.send(1);
    });
    done.recv();
  });
  log.reset();
  tp.reset();  // the pool's last owner: its destructor drains the queue and joins the thread
  EXPECT_EQ(os.str(), "[-] g" + std::to_string(id) + " shipper queued\n");
}

}  // namespace
