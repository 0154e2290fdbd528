// tests/fuzz/chan_model.hpp — a small reference model of Go's channel semantics.
//
//   model        channels (capacity, buffer, closed, FIFO send and receive waiter queues) and
//                actors (goroutines) that are idle or blocked in one operation
//   op           send, recv, try_send, try_recv, close, select (recv/send cases, optional
//                default) — what one actor does
//   outcome      what an operation returned: a value, "closed" (nullopt), false, a panic, the
//                index of the select case that ran
//
// The model follows the Go spec and runtime/chan.go + select.go: unbuffered hand-off, FIFO
// buffer, waiters served in arrival order (a select waiter already served through another
// channel is skipped, like Go's dequeue), close wakes every receiver (nullopt after the
// buffer drains) and every sender (panic). Where Go chooses at random (select with several
// ready cases), the model does not predict: `check_select` accepts any case that was ready
// and then applies it. Everything else is deterministic, so the harness compares outcomes
// exactly. Single-threaded; no gofer in here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace gofer_fuzz {

enum class op_kind : std::uint8_t { send, recv, try_send, try_recv, close, select };

struct select_case {
  bool is_send = false;
  int chan = 0;
  int value = 0;  // send cases
};

struct op {
  op_kind kind = op_kind::recv;
  int chan = 0;
  int value = 0;                  // send, try_send
  std::vector<select_case> cases;  // select
  bool has_default = false;        // select
};

// What an operation did, as the actor saw it when it returned.
struct outcome {
  enum kind_t : std::uint8_t { value, closed, refused, ok, panic } kind = ok;
  int v = 0;                  // kind == value
  int select_index = -1;      // select: the case that ran (cases.size() = default)
  bool operator==(const outcome&) const = default;
  std::string str() const {
    std::string s;
    switch (kind) {
      case value: s = "value " + std::to_string(v); break;
      case closed: s = "closed"; break;
      case refused: s = "refused"; break;
      case ok: s = "ok"; break;
      case panic: s = "panic"; break;
    }
    if (select_index >= 0) s += " (case " + std::to_string(select_index) + ")";
    return s;
  }
};

class model {
 public:
  model(std::vector<std::size_t> caps, int actors) : chans_(caps.size()), actors_(actors) {
    for (std::size_t i = 0; i < caps.size(); ++i) chans_[i].cap = caps[i];
  }

  bool blocked(int actor) const { return actors_[actor].blocked; }
  std::size_t len(int c) const { return chans_[c].buf.size(); }
  bool closed(int c) const { return chans_[c].closed; }

  // Is case `c` of a select (or the plain operation) ready right now?
  bool ready(const select_case& sc) const {
    const chan& ch = chans_[sc.chan];
    if (ch.closed) return true;  // recv: nullopt; send: panic
    if (sc.is_send) return live_front(ch.recvq) != nullptr || ch.buf.size() < ch.cap;
    return !ch.buf.empty() || live_front(ch.sendq) != nullptr;
  }

  // Starts `o` for `actor` (idle). Returns the actor's outcome if it completes at once, or
  // nullopt if it blocks. Outcomes of other actors it woke are appended to `woken`.
  // For a select with several ready cases the caller passes the case the implementation
  // chose (`chosen`, validated by check_select first).
  std::optional<outcome> start(int actor, const op& o, std::vector<std::pair<int, outcome>>& woken,
                               int chosen = -1) {
    switch (o.kind) {
      case op_kind::send:
      case op_kind::try_send: {
        const select_case sc{true, o.chan, o.value};
        if (ready(sc)) return do_case(sc, woken);
        if (o.kind == op_kind::try_send) return outcome{outcome::refused};
        block(actor, {sc}, -1);
        return std::nullopt;
      }
      case op_kind::recv:
      case op_kind::try_recv: {
        const select_case sc{false, o.chan, 0};
        if (ready(sc)) return do_case(sc, woken);
        if (o.kind == op_kind::try_recv) return outcome{outcome::closed};  // try_recv's nullopt
        block(actor, {sc}, -1);
        return std::nullopt;
      }
      case op_kind::close: {
        chan& ch = chans_[o.chan];
        if (ch.closed) return outcome{outcome::panic};
        ch.closed = true;
        while (waiter* w = pop_live(ch.recvq)) finish(*w, outcome{outcome::closed}, woken);
        while (waiter* w = pop_live(ch.sendq)) finish(*w, outcome{outcome::panic}, woken);
        return outcome{outcome::ok};
      }
      case op_kind::select: {
        if (chosen >= 0 && chosen < static_cast<int>(o.cases.size())) {
          outcome r = do_case(o.cases[chosen], woken);
          r.select_index = chosen;
          return r;
        }
        if (o.has_default) return outcome{outcome::ok, 0, static_cast<int>(o.cases.size())};
        block(actor, o.cases, 0);
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // Validates the implementation's choice for a select: the chosen case must be ready, or
  // (index == cases.size()) the default, allowed only when no case is ready. Returns "" if
  // fine, else why not. `chosen` -1 means "it blocked": fine only if nothing is ready and
  // there is no default.
  std::string check_select(const op& o, int chosen) const {
    bool any = false;
    for (const select_case& sc : o.cases) any = any || ready(sc);
    const int n = static_cast<int>(o.cases.size());
    if (chosen == -1) {
      if (any) return "select blocked although a case was ready";
      if (o.has_default) return "select blocked although it has a default";
      return "";
    }
    if (chosen == n) return !o.has_default ? "select ran a default it does not have"
                          : any            ? "select ran its default although a case was ready"
                                           : "";
    if (chosen < 0 || chosen > n) return "select returned an impossible index";
    if (!ready(o.cases[chosen])) return "select chose case " + std::to_string(chosen) + ", which was not ready";
    return "";
  }

 private:
  struct actor_state;
  struct waiter {
    int actor;
    select_case sc;
    int index;  // the case index for a select waiter, -1 for a plain operation
    std::uint64_t wait_id;
  };
  struct chan {
    std::size_t cap = 0;
    std::deque<int> buf;
    bool closed = false;
    std::deque<waiter> recvq, sendq;
  };
  struct actor_state {
    bool blocked = false;
    std::uint64_t wait_id = 0;  // identifies the current wait; stale waiters have another
  };

  bool live(const waiter& w) const {
    return actors_[w.actor].blocked && actors_[w.actor].wait_id == w.wait_id;
  }
  const waiter* live_front(const std::deque<waiter>& q) const {
    for (const waiter& w : q)
      if (live(w)) return &w;
    return nullptr;
  }
  // Pops stale waiters and then the first live one (copied into scratch_).
  waiter* pop_live(std::deque<waiter>& q) {
    while (!q.empty()) {
      waiter w = q.front();
      q.pop_front();
      if (live(w)) {
        scratch_ = w;
        return &scratch_;
      }
    }
    return nullptr;
  }
  void block(int actor, const std::vector<select_case>& cases, int first_index) {
    actor_state& a = actors_[actor];
    a.blocked = true;
    a.wait_id = ++next_wait_;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const select_case& sc = cases[i];
      const waiter w{actor, sc, first_index < 0 ? -1 : static_cast<int>(i), a.wait_id};
      (sc.is_send ? chans_[sc.chan].sendq : chans_[sc.chan].recvq).push_back(w);
    }
  }
  void finish(const waiter& w, outcome r, std::vector<std::pair<int, outcome>>& woken) {
    actors_[w.actor].blocked = false;
    r.select_index = w.index;
    woken.emplace_back(w.actor, r);
  }
  // Performs a ready case (the caller checked ready()) for a running actor.
  outcome do_case(const select_case& sc, std::vector<std::pair<int, outcome>>& woken) {
    chan& ch = chans_[sc.chan];
    if (sc.is_send) {
      if (ch.closed) return outcome{outcome::panic};
      if (waiter* w = pop_live(ch.recvq)) {
        finish(*w, outcome{outcome::value, sc.value}, woken);
      } else {
        ch.buf.push_back(sc.value);
      }
      return outcome{outcome::ok};
    }
    if (!ch.buf.empty()) {
      const int v = ch.buf.front();
      ch.buf.pop_front();
      if (waiter* w = pop_live(ch.sendq)) {  // the buffer was full: the oldest sender moves in
        ch.buf.push_back(w->sc.value);
        finish(*w, outcome{outcome::ok}, woken);
      }
      return outcome{outcome::value, v};
    }
    if (waiter* w = pop_live(ch.sendq)) {
      const int v = w->sc.value;
      finish(*w, outcome{outcome::ok}, woken);
      return outcome{outcome::value, v};
    }
    return outcome{outcome::closed};  // closed and drained
  }

  std::vector<chan> chans_;
  std::vector<actor_state> actors_;
  std::uint64_t next_wait_ = 0;
  waiter scratch_{};
};

}  // namespace gofer_fuzz
