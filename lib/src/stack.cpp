// lib/src/stack.cpp — goroutine stacks: carved from large arenas, recycled, thread-safe.
//
// Why not Boost's allocators: fixedsize_stack mallocs 128 KiB per fiber and
// protected_fixedsize_stack mmaps and munmaps one region per fiber (a syscall pair and
// fresh page faults per spawn, 7× Go's spawn cost here); pooled_fixedsize_stack is not
// thread-safe, and goroutine stacks are freed on whichever thread the goroutine ended.
//
// Layout: an arena is one anonymous mapping of kStacksPerArena stacks, MAP_NORESERVE, so
// only touched pages cost memory. One mapping per arena keeps us far below the kernel's
// vm.max_map_count (65,530 by default): a million 64 KiB stacks need ~15,600 mappings.
// With GOFER_STACK_GUARD (debug builds) the lowest page of each stack is PROT_NONE so an
// overflow faults instead of corrupting the neighbour; each guard splits the mapping, so
// guarded runs top out near 32,000 live goroutines (documented in lib/DESIGN.md).
//
// Freed stacks go to the freeing worker's cache (spilled to the pool's free list in batches)
// and are reused as they are, LIFO, so their pages are still committed and warm.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "detail/runtime.hpp"
#include "gofer/runtime.hpp"

namespace gofer::detail {

namespace {

constexpr std::size_t kDefaultStackSize = 64 * 1024;
constexpr std::size_t kStacksPerArena = 64;

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

struct stack_pool {
  std::mutex mu;                 // guards free_list
  std::vector<void*> free_list;  // lowest address of each free stack

  void* take(std::size_t size) {
    std::lock_guard<std::mutex> lk(mu);
    if (free_list.empty()) grow(size);
    void* p = free_list.back();
    free_list.pop_back();
    return p;
  }
  // Moves up to n free stacks to `out` (at least one: maps more only when none is free, so
  // stacks used before — their top pages already faulted in — go first): one lock a batch.
  void take_batch(std::size_t size, std::vector<void*>& out, std::size_t n) {
    std::lock_guard<std::mutex> lk(mu);
    if (free_list.empty()) grow(size);
    const std::size_t k = std::min(n, free_list.size());
    out.insert(out.end(), free_list.end() - static_cast<std::ptrdiff_t>(k), free_list.end());
    free_list.resize(free_list.size() - k);
  }
  void give(void* p) {
    std::lock_guard<std::mutex> lk(mu);
    free_list.push_back(p);
  }
  void grow(std::size_t size) {
    std::size_t bytes = size * kStacksPerArena;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    auto* b = static_cast<char*>(base);
    for (std::size_t i = kStacksPerArena; i-- > 0;) {
      char* lo = b + i * size;
#ifdef GOFER_STACK_GUARD
      ::mprotect(lo, page_size(), PROT_NONE);
#endif
      free_list.push_back(lo);
    }
  }
};

// One pool per stack size ever used in this process. Never destroyed: fibers may release
// their stacks during thread teardown, after static destructors would have run.
std::mutex pools_mu;
std::map<std::size_t, stack_pool*>& pools() {
  static auto* m = new std::map<std::size_t, stack_pool*>();
  return *m;
}

stack_pool& pool_for(std::size_t size) {
  std::lock_guard<std::mutex> lk(pools_mu);
  auto& p = pools()[size];
  if (p == nullptr) p = new stack_pool();
  return *p;
}

std::size_t configured_stack_size() {
  runtime* rt = current_runtime();
  std::size_t s = rt != nullptr && rt->stack_size != 0 ? rt->stack_size : kDefaultStackSize;
  std::size_t ps = page_size();
  s = (s + ps - 1) / ps * ps;
  return std::max<std::size_t>(s, 4 * ps);
}

}  // namespace

// Per-worker caches: a goroutine's stack is usually freed on a scheduler thread and the
// next one allocated on one, so most spawns touch no shared lock at all.
constexpr std::size_t kCacheBatch = 32;
constexpr std::size_t kCacheMax = 4 * kCacheBatch;

boost::context::stack_context stack_allocator::allocate() {
  std::size_t size = configured_stack_size();
  void* lo = nullptr;
  worker* w = current_worker();
  if (w != nullptr) {
    if (w->stack_cache_size != size) {
      flush_stack_cache(*w);
      w->stack_cache_size = size;
    }
    // An empty cache is refilled with a batch: a goroutine that spawns many (spawn then
    // join of 100,000) takes the pool's locks once per kCacheBatch stacks, not twice per
    // stack — at 2 threads those locks were contended with the other worker's frees.
    if (w->stack_cache.empty()) pool_for(size).take_batch(size, w->stack_cache, kCacheBatch);
    lo = w->stack_cache.back();
    w->stack_cache.pop_back();
  } else {
    lo = pool_for(size).take(size);
  }
  boost::context::stack_context sctx;
  sctx.size = size;
  sctx.sp = static_cast<char*>(lo) + size;
  return sctx;
}

void stack_allocator::deallocate(boost::context::stack_context& sctx) noexcept {
  void* lo = static_cast<char*>(sctx.sp) - sctx.size;
  worker* w = current_worker();
  if (w != nullptr) {
    if (w->stack_cache_size != sctx.size) {
      flush_stack_cache(*w);
      w->stack_cache_size = sctx.size;
    }
    w->stack_cache.push_back(lo);
    if (w->stack_cache.size() > kCacheMax) {
      stack_pool& p = pool_for(sctx.size);
      std::lock_guard<std::mutex> lk(p.mu);
      for (std::size_t i = 0; i < kCacheBatch; ++i) {
        p.free_list.push_back(w->stack_cache.back());
        w->stack_cache.pop_back();
      }
    }
    return;
  }
  pool_for(sctx.size).give(lo);
}

void flush_stack_cache(worker& w) noexcept {
  if (w.stack_cache.empty()) return;
  stack_pool& p = pool_for(w.stack_cache_size);
  std::lock_guard<std::mutex> lk(p.mu);
  p.free_list.insert(p.free_list.end(), w.stack_cache.begin(), w.stack_cache.end());
  w.stack_cache.clear();
}

}  // namespace gofer::detail
