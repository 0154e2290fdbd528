// lease1 — the lost update on memcached (book, chapter 4: "Using memcached", "Atomic
// consistency / mutual exclusion").
//
// Eight goroutines, each with its own memcached client, increment one counter key. As it
// ships, increment() reads the counter, adds one and writes it back: two clients that read
// the same value both write value+1, and an increment is lost. memcached itself has two
// tools against this: `add` stores a key only if it does not exist yet (so a lock key can
// be taken by exactly one client: a lease, with a TTL in case its holder dies), and `cas`
// ("check and set") stores a value only if nobody wrote the key since you read it with
// `gets`. The test starts a private memcached (chapters/common/server.hpp) and checks the
// count. The yield marks where a client may be switched out between its read and its write;
// keep it.
//
// Goal: no increment is lost; the tests pass. Use either tool (or both, one at a time).
// Question: with the lease, what happens if the holder takes longer than the TTL?

#include <libmemcached-1.0/memcached.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/gtest.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

#include "server.hpp"

// ---- a small memcached client: no need to change it -------------------------------------
// Every call returns libmemcached's status: MEMCACHED_SUCCESS, MEMCACHED_NOTFOUND (no such
// key), MEMCACHED_NOTSTORED (add: the key exists), MEMCACHED_DATA_EXISTS (cas: someone
// wrote since your gets), or an error. Calls block their thread, so they go through
// gofer::blocking: the goroutine parks meanwhile.
class client {
 public:
  explicit client(int port) : m_(memcached_create(nullptr), &memcached_free) {
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_server_add(m_.get(), "127.0.0.1", static_cast<in_port_t>(port));
  }
  memcached_return_t get(const std::string& key, long& value) {
    uint64_t cas_unused;
    return gets(key, value, cas_unused);
  }
  // The value and its cas token (the version the server gave the key's last write).
  memcached_return_t gets(const std::string& key, long& value, uint64_t& cas) {
    return gofer::blocking([&] {
      const char* keys[] = {key.c_str()};
      size_t lens[] = {key.size()};
      memcached_return_t rc = memcached_mget(m_.get(), keys, lens, 1);
      if (rc != MEMCACHED_SUCCESS) return rc;
      bool found = false;
      while (memcached_result_st* r = memcached_fetch_result(m_.get(), nullptr, &rc)) {
        value = std::stol(std::string(memcached_result_value(r), memcached_result_length(r)));
        cas = memcached_result_cas(r);
        found = true;
        memcached_result_free(r);
      }
      return found ? MEMCACHED_SUCCESS : MEMCACHED_NOTFOUND;
    });
  }
  memcached_return_t set(const std::string& key, long value) {
    std::string v = std::to_string(value);
    return gofer::blocking([&] { return memcached_set(m_.get(), key.data(), key.size(), v.data(), v.size(), 0, 0); });
  }
  // Stores only if the key does not exist; expires after ttl seconds.
  memcached_return_t add(const std::string& key, const std::string& v, time_t ttl) {
    return gofer::blocking([&] { return memcached_add(m_.get(), key.data(), key.size(), v.data(), v.size(), ttl, 0); });
  }
  // Stores only if the key's cas token is still `cas`.
  memcached_return_t cas(const std::string& key, long value, uint64_t cas) {
    std::string v = std::to_string(value);
    return gofer::blocking(
        [&] { return memcached_cas(m_.get(), key.data(), key.size(), v.data(), v.size(), 0, 0, cas); });
  }
  memcached_return_t del(const std::string& key) {
    return gofer::blocking([&] { return memcached_delete(m_.get(), key.data(), key.size(), 0); });
  }

 private:
  std::unique_ptr<memcached_st, decltype(&memcached_free)> m_;
};

// Adds one to the counter stored at `key`.
void increment(client& mc, const std::string& key) {
  // cas: read the value with its token; the write succeeds only if nobody wrote since.
  // If somebody did (DATA_EXISTS), read again and retry. (A lease would be: loop on
  // mc.add("lock:" + key, me, ttl) until it succeeds, get, set, mc.del("lock:" + key).)
  for (;;) {
    long v = 0;
    uint64_t token = 0;
    if (mc.gets(key, v, token) != MEMCACHED_SUCCESS) throw std::runtime_error("gets failed");
    gofer::yield();  // the client may be switched out here: keep this line
    memcached_return_t rc = mc.cas(key, v + 1, token);
    if (rc == MEMCACHED_SUCCESS) return;
    if (rc != MEMCACHED_DATA_EXISTS) throw std::runtime_error("cas failed");
  }
}

// ---- the tests: no need to change anything below ----

struct lease1 : ::testing::Test {
  static inline gofer_demo::server* mc = nullptr;
  static void SetUpTestSuite() { mc = new gofer_demo::server(gofer_demo::server::start(gofer_demo::memcached_spec())); }
  static void TearDownTestSuite() { delete mc; }
};

TEST_F(lease1, one_client_counts_right) {
  long got = -1;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    client c(mc->port());
    c.set("one", 0);
    for (int i = 0; i < 20; ++i) increment(c, "one");
    c.get("one", got);
  }));
  EXPECT_EQ(got, 20);
}

TEST_F(lease1, eight_clients_lose_no_increment) {
  long got = -1;
  ASSERT_GOFER_OK(gofer::testing::run([&] {
    client admin(mc->port());
    admin.set("counter", 0);
    gofer::wait_group wg;
    wg.add(8);
    for (int g = 0; g < 8; ++g) {
      gofer::go(gofer::named("client"), [&] {
        client c(mc->port());
        for (int i = 0; i < 50; ++i) increment(c, "counter");
        wg.done();
      });
    }
    wg.wait();
    admin.get("counter", got);
  }, {.threads = 2}));
  EXPECT_EQ(got, 8 * 50) << (8 * 50 - got) << " increments were lost";
}
