// lib/src/http/server.cpp — server (Go's http.Server): the accept loop, the registry of
// connections (their states, for shutdown), graceful shutdown and close. Each accepted
// connection is served by its own goroutine: internal::serve_conn (conn.cpp).
#include <algorithm>

#include "detail/http.hpp"
#include "gofer/runtime.hpp"
#include "gofer/select.hpp"

namespace gofer::http {

namespace {

// How long shutdown lets a connection that was accepted but has not sent a request yet
// send one (Go closes such StateNew connections once they are 5 s old).
constexpr std::chrono::seconds kNewConnGrace{5};

const absl::Status& server_closed_error() {
  static const absl::Status s = absl::CancelledError("http: Server closed");
  return s;
}

}  // namespace

server::server(handler h, server_options opts) : s_(std::make_shared<state>(std::move(h), std::move(opts))) {}

server::~server() { (void)close(); }

absl::Status server::serve(net::listener ln) {
  // Only the shared state from here on: the server object may be destroyed (closing the
  // listener) while this call is still returning.
  std::shared_ptr<state> s = s_;
  auto lp = std::make_shared<net::listener>(std::move(ln));
  {
    std::lock_guard lk(s->mu);
    if (s->shutting_down) {
      (void)lp->close();
      return server_closed_error();
    }
    s->listeners.push_back(lp);
  }
  auto leave = [&] {
    std::lock_guard lk(s->mu);
    auto& ls = s->listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), lp), ls.end());
    return s->shutting_down;
  };
  for (;;) {
    auto r = lp->accept();
    if (!r.ok()) {
      bool sd = leave();
      (void)lp->close();
      return sd ? server_closed_error() : r.status();
    }
    auto rec = std::make_shared<conn_rec>(std::move(*r));
    {
      std::lock_guard lk(s->mu);
      if (s->shutting_down) {
        (void)rec->c.close();
        continue;
      }
      s->conns.insert(rec.get());
    }
    gofer::go(gofer::named{"http-conn"}, [s, rec] { internal::serve_conn(s, rec); });
  }
}

absl::Status server::listen_and_serve(std::string_view addr) {
  auto ln = net::listen(addr);
  if (!ln.ok()) return ln.status();
  return serve(std::move(*ln));
}

absl::Status server::shutdown(const gofer::context& ctx) {
  std::shared_ptr<state> s = s_;
  bool done = false, close_now = false;
  {
    std::lock_guard lk(s->mu);
    s->shutting_down = true;
    // Listeners first: once any connection is seen closed, new dials are refused.
    for (auto& l : s->listeners) (void)l->close();
    // Idle connections are closed now. New ones (no request yet) keep at most
    // kNewConnGrace to send one: their read deadline is pulled in, and when it passes
    // they close by themselves.
    const auto hdr = s->o.read_header_timeout > std::chrono::nanoseconds::zero() ? s->o.read_header_timeout
                                                                                  : s->o.read_timeout;
    for (conn_rec* r : s->conns) {
      if (r->st == conn_state::idle) {
        (void)r->c.close();
      } else if (r->st == conn_state::new_) {
        auto d = clk::now() + kNewConnGrace;
        if (hdr > std::chrono::nanoseconds::zero()) d = std::min(d, r->accepted + hdr);
        r->c.set_read_deadline(d);
      }
    }
    done = s->quiet_locked();  // no connection and no closed hook still running
    close_now = s->drain_now_locked();
  }
  if (close_now) s->drained.close();
  if (done) return absl::OkStatus();
  bool expired = false;
  gofer::select(gofer::recv_case(s->drained),
                gofer::recv_case(ctx.done(), [&](auto) { expired = true; }));
  if (expired) return ctx.err();
  return absl::OkStatus();
}

absl::Status server::close() {
  bool close_now = false;
  {
    std::lock_guard lk(s_->mu);
    s_->shutting_down = true;
    for (auto& l : s_->listeners) (void)l->close();
    for (conn_rec* r : s_->conns) (void)r->c.close();
    close_now = s_->drain_now_locked();
  }
  if (close_now) s_->drained.close();
  if (s_->cancel_base) s_->cancel_base();
  return absl::OkStatus();
}

std::size_t server::open_connections() const {
  std::lock_guard lk(s_->mu);
  return s_->conns.size();
}

bool is_server_closed(const absl::Status& s) noexcept { return s == server_closed_error(); }

}  // namespace gofer::http
