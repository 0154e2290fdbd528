// tests/fuzz/chan_fuzz.cpp — libFuzzer harness: channel and select operations against the
// reference model of Go's channel semantics (chan_model.hpp).
//
// One input is one program, run on one scheduler thread so that it is deterministic:
//
//   byte 0        number of channels (1-3);  bytes 1-3: their capacities (0-3)
//   byte 4        number of worker goroutines (1-3)
//   then per step: an actor (main or a worker) and an operation with its arguments —
//                 send, recv, try_send, try_recv, close, or a select over 1-3 send/receive
//                 cases with or without a default. Main only does what cannot block.
//
// Each step hands the operation to its actor (a worker gets it through its own mailbox
// channel), lets every goroutine run until none can (yields: one thread, so this is exact),
// and compares with the model: the actor's outcome (value, closed, refused, panic, which
// select case ran — any ready case is accepted), whether it blocked, which blocked actors
// the operation woke and with what, and every channel's len(). At the end main closes every
// channel (waking all blocked workers, checked the same way). A mismatch prints the program
// and aborts (libFuzzer saves the input); tests/fuzz/corpus/ holds inputs replayed by the
// normal test suite (chan_fuzz_replay, CTest fuzz.chan_corpus).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chan_model.hpp"
#include "gofer/gofer.hpp"

namespace gofer_fuzz {
namespace {

constexpr int kMaxChans = 3;
constexpr int kMaxSteps = 256;

struct reader {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t next() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
};

std::string op_str(const op& o) {
  auto cs = [](const select_case& c) {
    return (c.is_send ? "send " + std::to_string(c.value) + " on c" : std::string("recv c")) +
           std::to_string(c.chan);
  };
  switch (o.kind) {
    case op_kind::send: return "send " + std::to_string(o.value) + " on c" + std::to_string(o.chan);
    case op_kind::recv: return "recv c" + std::to_string(o.chan);
    case op_kind::try_send: return "try_send " + std::to_string(o.value) + " on c" + std::to_string(o.chan);
    case op_kind::try_recv: return "try_recv c" + std::to_string(o.chan);
    case op_kind::close: return "close c" + std::to_string(o.chan);
    case op_kind::select: {
      std::string s = "select {";
      for (std::size_t i = 0; i < o.cases.size(); ++i) s += (i ? "; " : " ") + cs(o.cases[i]);
      return s + (o.has_default ? "; default }" : " }");
    }
  }
  return "?";
}

// Runs one select with up to three cases (missing ones are nil receive cases, never ready).
// Returns the model's index: case i, or cases.size() for the default.
template <class... Cs>
std::size_t run_select(const op& o, std::vector<gofer::chan<int>>& chans,
                       std::array<std::optional<int>, kMaxChans>& out, Cs&&... cs) {
  constexpr std::size_t i = sizeof...(Cs);
  if constexpr (i == kMaxChans) {
    if (o.has_default) {
      const std::size_t k = gofer::select(std::forward<Cs>(cs)..., gofer::default_case());
      return k == kMaxChans ? o.cases.size() : k;
    }
    return gofer::select(std::forward<Cs>(cs)...);
  } else {
    if (i < o.cases.size() && o.cases[i].is_send) {
      return run_select(o, chans, out, std::forward<Cs>(cs)...,
                        gofer::send_case(chans[o.cases[i].chan], o.cases[i].value));
    }
    gofer::chan<int> c = i < o.cases.size() ? chans[o.cases[i].chan] : gofer::chan<int>(nullptr);
    return run_select(o, chans, out, std::forward<Cs>(cs)..., gofer::recv_case(c, out[i]));
  }
}

// Performs o on the calling goroutine; returns what it saw.
outcome perform(const op& o, std::vector<gofer::chan<int>>& chans) {
  try {
    switch (o.kind) {
      case op_kind::send:
        chans[o.chan].send(o.value);
        return {outcome::ok};
      case op_kind::try_send: {
        int v = o.value;
        return {chans[o.chan].try_send(v) ? outcome::ok : outcome::refused};
      }
      case op_kind::recv:
      case op_kind::try_recv: {
        std::optional<int> v = o.kind == op_kind::recv ? chans[o.chan].recv() : chans[o.chan].try_recv();
        return v ? outcome{outcome::value, *v} : outcome{outcome::closed};
      }
      case op_kind::close:
        chans[o.chan].close();
        return {outcome::ok};
      case op_kind::select: {
        std::array<std::optional<int>, kMaxChans> out;
        const std::size_t k = run_select(o, chans, out);
        outcome r{outcome::ok, 0, static_cast<int>(k)};
        if (k < o.cases.size() && !o.cases[k].is_send) {
          r.kind = out[k] ? outcome::value : outcome::closed;
          r.v = out[k].value_or(0);
        }
        return r;
      }
    }
  } catch (const gofer::panic_error&) {
    return {outcome::panic};
  }
  return {outcome::ok};
}

struct report {
  int actor;
  outcome out;
};

[[noreturn]] void fail(const std::vector<std::string>& log, const std::string& why) {
  std::fprintf(stderr, "chan_fuzz: MISMATCH with the model of Go's channels\nprogram:\n");
  for (const std::string& l : log) std::fprintf(stderr, "  %s\n", l.c_str());
  std::fprintf(stderr, "=> %s\n", why.c_str());
  std::abort();
}

void run_program(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  const int nchans = 1 + in.next() % kMaxChans;
  std::vector<std::size_t> caps;
  for (int i = 0; i < kMaxChans; ++i) {
    const std::size_t cap = in.next() % 4;
    if (i < nchans) caps.push_back(cap);
  }
  const int nworkers = 1 + in.next() % 3;
  const int nactors = nworkers + 1;  // actor 0 is main

  gofer::run(
      [&] {
        std::vector<std::string> log;
        log.push_back(std::to_string(nchans) + " channels, caps " + [&] {
          std::string s;
          for (std::size_t c : caps) s += std::to_string(c) + " ";
          return s;
        }() + "; " + std::to_string(nworkers) + " workers");
        std::vector<gofer::chan<int>> chans;
        for (std::size_t c : caps) chans.emplace_back(c);
        model m(caps, nactors);
        std::vector<report> reports;  // one thread: plain vector
        std::vector<gofer::chan<op>> mailbox;
        for (int w = 1; w <= nworkers; ++w) {
          mailbox.emplace_back(1);
          gofer::go([&reports, &chans, box = mailbox.back(), w]() {
            while (std::optional<op> o = box.recv()) reports.push_back({w, perform(*o, chans)});
          });
        }
        auto settle = [] {
          for (int i = 0; i < 16; ++i) gofer::yield();
        };
        auto norm = [](outcome o) {
          if (o.kind == outcome::panic) o.select_index = -1;
          return o;
        };
        auto check_step = [&](int actor, const op& o) {
          // the actor's own report, if it finished
          std::optional<outcome> mine;
          std::vector<report> others;
          for (const report& r : reports) {
            if (r.actor == actor && !mine) mine = r.out;
            else others.push_back(r);
          }
          reports.clear();
          int chosen = -1;
          if (o.kind == op_kind::select && mine) {
            chosen = mine->select_index;
            if (mine->kind == outcome::panic) {
              // which case panicked is not observable: any send case on a closed channel
              chosen = -2;
              for (std::size_t i = 0; i < o.cases.size(); ++i)
                if (o.cases[i].is_send && m.closed(o.cases[i].chan)) chosen = static_cast<int>(i);
              if (chosen < 0) fail(log, "select panicked, but no send case's channel is closed");
            }
          }
          if (o.kind == op_kind::select) {
            const std::string why = m.check_select(o, mine ? chosen : -1);
            if (!why.empty()) fail(log, why);
          }
          std::vector<std::pair<int, outcome>> woken;
          std::optional<outcome> expect = m.start(actor, o, woken, chosen);
          if (expect.has_value() != mine.has_value()) {
            fail(log, mine ? "completed with " + mine->str() + ", the model blocks"
                           : "blocked, the model completes with " + expect->str());
          }
          if (mine && norm(*mine) != norm(*expect)) {
            fail(log, "got " + mine->str() + ", the model says " + expect->str());
          }
          if (woken.size() != others.size()) {
            fail(log, std::to_string(others.size()) + " other goroutines finished, the model wakes " +
                          std::to_string(woken.size()));
          }
          for (const auto& [a, out] : woken) {
            bool found = false;
            for (const report& r : others) found = found || (r.actor == a && norm(r.out) == norm(out));
            if (!found) fail(log, "the model wakes worker " + std::to_string(a) + " with " + out.str() + "; it did not happen");
          }
          for (int c = 0; c < nchans; ++c) {
            if (chans[c].len() != m.len(c)) {
              fail(log, "len(c" + std::to_string(c) + ") = " + std::to_string(chans[c].len()) +
                            ", the model says " + std::to_string(m.len(c)));
            }
          }
        };
        int next_value = 1;
        for (int step = 0; step < kMaxSteps && !in.empty(); ++step) {
          const std::uint8_t a = in.next(), k = in.next(), c = in.next();
          int actor = a % nactors;
          if (actor != 0 && m.blocked(actor)) actor = 0;  // blocked: main acts instead
          op o;
          o.chan = c % nchans;
          o.value = next_value++;
          if (actor == 0) {
            // main never blocks: try_send, try_recv, close (rarely), select with default
            switch (k % 8) {
              case 0: case 1: case 2: o.kind = op_kind::try_send; break;
              case 3: case 4: case 5: o.kind = op_kind::try_recv; break;
              case 6: o.kind = (k & 0x80) ? op_kind::close : op_kind::try_recv; break;
              default: o.kind = op_kind::select; o.has_default = true; break;
            }
          } else {
            switch (k % 8) {
              case 0: case 1: o.kind = op_kind::send; break;
              case 2: case 3: o.kind = op_kind::recv; break;
              case 4: o.kind = op_kind::try_send; break;
              case 5: o.kind = op_kind::try_recv; break;
              case 6: o.kind = (k & 0x80) ? op_kind::close : op_kind::select; break;
              default: o.kind = op_kind::select; o.has_default = (k & 0x40) != 0; break;
            }
          }
          if (o.kind == op_kind::select) {
            const int n = 1 + (k >> 3) % 3;
            const std::uint8_t shape = in.next();
            for (int i = 0; i < n; ++i) {
              const select_case sc{((shape >> i) & 1) != 0, ((shape >> (3 + 2 * i)) & 3) % nchans,
                                   next_value++};
              // two cases with the same channel and direction: which one a waker picks is
              // unspecified in Go, so the model could not predict the index; keep the first
              bool dup = false;
              for (const select_case& x : o.cases) dup = dup || (x.chan == sc.chan && x.is_send == sc.is_send);
              if (!dup) o.cases.push_back(sc);
            }
          }
          log.push_back((actor == 0 ? std::string("main") : "worker " + std::to_string(actor)) +
                        ": " + op_str(o));
          if (actor == 0) {
            reports.push_back({0, perform(o, chans)});
          } else {
            mailbox[actor - 1].send(o);
          }
          settle();
          check_step(actor, o);
        }
        // main closes every open channel: blocked workers wake (receivers: closed, senders:
        // panic), checked like any step
        for (int c = 0; c < nchans; ++c) {
          if (m.closed(c)) continue;
          op o;
          o.kind = op_kind::close;
          o.chan = c;
          log.push_back("main: " + op_str(o) + " (end)");
          reports.push_back({0, perform(o, chans)});
          settle();
          check_step(0, o);
        }
        for (auto& box : mailbox) box.close();
        settle();
      },
      {.threads = 1});
}

}  // namespace
}  // namespace gofer_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gofer_fuzz::run_program(data, size);
  return 0;
}
