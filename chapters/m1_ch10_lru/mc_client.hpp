// chapters/m1_ch10_lru/mc_client.hpp — the memcached client the lru demo (01_lru.cpp) and its
// benchmark (bench/lru_bench.cpp) compare the in-process caches with: one libmemcached
// handle (Debian libmemcached-dev) on one server at 127.0.0.1:<port>, TCP_NODELAY.
//
// What it is: get/set of string values, each call through gofer::blocking — libmemcached
// blocks its thread on the network, so the calling goroutine parks and its scheduler thread
// runs others meanwhile.
// Copy semantics: not copyable (it owns the handle); movable. Hold it by unique_ptr or value.
// Thread-safety: none — a libmemcached handle is not thread-safe, so give each goroutine its
// own client (they are cheap: the connection is made on first use).
// Errors: get() is false on a miss and on any error (a cache: a miss is always safe); set()
// reports nothing (a lost set is a later miss).
//
// Example:
//   mc_client cl(server.port());
//   if (!cl.get("k")) cl.set("k", load("k"), 60);

#pragma once

#include <libmemcached-1.0/memcached.h>

#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

#include <gofer/net.hpp>  // gofer::blocking

class mc_client {
 public:
  explicit mc_client(int port) : m_(memcached_create(nullptr), &memcached_free) {
    if (!m_) throw std::runtime_error("memcached_create failed");
    memcached_behavior_set(m_.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_server_add(m_.get(), "127.0.0.1", static_cast<in_port_t>(port));
  }
  // True on a hit (the value is read and dropped: the demo and the benchmark count hits).
  bool get(const std::string& key) {
    return gofer::blocking([&] {
      size_t len = 0;
      uint32_t flags = 0;
      memcached_return_t rc;
      char* v = memcached_get(m_.get(), key.data(), key.size(), &len, &flags, &rc);
      std::free(v);
      return rc == MEMCACHED_SUCCESS;
    });
  }
  // Stores `v` under `key` for `ttl` seconds.
  void set(const std::string& key, const std::string& v, time_t ttl) {
    gofer::blocking([&] { memcached_set(m_.get(), key.data(), key.size(), v.data(), v.size(), ttl, 0); });
  }

 private:
  std::unique_ptr<memcached_st, decltype(&memcached_free)> m_;
};
