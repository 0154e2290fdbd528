// pool1 — a database connection per request, replaced by a pool (book, chapter 6:
// "Connecting to MySQL", "Exploring our web server").
//
// The book's dynamic pages called sql.Open on every request (and never closed it): each
// request paid for a new connection — a socket, a handshake, a thread on the server side —
// and under load the database, not Go, became the limit. This article store does the
// same: title() connects, asks, and disconnects, every time. The tests start a private
// MariaDB (the package mariadb-server), load 100 articles, let 40 goroutines look up 200
// titles at once, and then ask MariaDB how many connections it was given.
//
// Goal: the same titles, through at most `pool_size` connections that are opened once and
// reused, never more than `pool_size` in use at once; the tests pass.
// Question: in Go, a buffered channel is often used as a free list. What would a
// goroutine do when the list is empty, and what when it is done with a connection?
//
// The MariaDB calls below block their thread, so they run inside gofer::blocking (the
// goroutine parks, its scheduler thread serves others): keep them there.

#include <mysql.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <gofer/chan.hpp>
#include <gofer/gtest.hpp>
#include <gofer/net.hpp>
#include <gofer/runtime.hpp>
#include <gofer/sync.hpp>
#include <gofer/testing.hpp>

#include "server.hpp"  // chapters/common: the launcher for a private MariaDB

// ---- MariaDB helpers (no need to change these; each one blocks its thread) ----

// A new connection to the database `master` on the unix socket.
MYSQL* connect(const std::string& socket) {
  MYSQL* m = mysql_init(nullptr);
  if (!m || !mysql_real_connect(m, nullptr, "gofer", nullptr, "master", 0, socket.c_str(), 0)) {
    std::string why = m ? mysql_error(m) : "out of memory";
    if (m) mysql_close(m);
    throw std::runtime_error("connect: " + why);
  }
  return m;
}

void disconnect(MYSQL* m) { mysql_close(m); }

// The first column of the first row of `sql` ("" if there is none).
std::string query_one(MYSQL* m, const std::string& sql) {
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) throw std::runtime_error(mysql_error(m));
  MYSQL_RES* res = mysql_store_result(m);
  std::string value;
  if (res) {
    if (MYSQL_ROW row = mysql_fetch_row(res); row && row[0]) value = row[0];
    mysql_free_result(res);
  }
  return value;
}

// ---- the store ----

class article_store {
 public:
  // TODO: open the connections here, once.
  article_store(std::string socket, int pool_size) : socket_(std::move(socket)) { (void)pool_size; }
  // TODO: and close them here.
  ~article_store() {}

  // The title of article `id`. Called by many goroutines at once.
  std::string title(int id) const {
    // TODO: borrow a connection instead of making one.
    return gofer::blocking([&] {
      MYSQL* m = connect(socket_);
      std::string t = query_one(m, "SELECT article_title FROM articles WHERE article_id = " + std::to_string(id));
      disconnect(m);
      return t;
    });
  }

 private:
  std::string socket_;
};

// ---- the tests: no need to change anything below ----

TEST(pool1, two_hundred_lookups_through_four_connections) {
  mysql_library_init(0, nullptr, nullptr);
  ASSERT_GOFER_OK(gofer::testing::run([] {
    auto db = gofer_demo::server::start(gofer_demo::mariadb_spec());
    std::string socket = gofer_demo::mariadb_socket(db.dir()).string();
    // The table: 100 articles.
    MYSQL* admin = gofer::blocking([&] {
      MYSQL* m = mysql_init(nullptr);
      if (!mysql_real_connect(m, nullptr, "gofer", nullptr, nullptr, 0, socket.c_str(), 0))
        throw std::runtime_error(mysql_error(m));
      std::string sql = "INSERT INTO articles VALUES ";
      for (int id = 1; id <= 100; ++id) sql += (id == 1 ? "(" : ",(") + std::to_string(id) + ",'Article " + std::to_string(id) + "')";
      for (std::string q : {std::string("CREATE DATABASE master"), std::string("USE master"),
                            std::string("CREATE TABLE articles (article_id INT PRIMARY KEY, article_title VARCHAR(128))"), sql})
        query_one(m, q);
      return m;
    });
    long before = std::stol(gofer::blocking([&] { return query_one(admin, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CONNECTIONS'"); }));

    std::vector<std::string> got(200);
    {
      article_store store(socket, 4);
      gofer::wait_group wg;
      for (int g = 0; g < 40; ++g) {
        wg.add(1);
        gofer::go(gofer::named{"reader"}, [&, g] {
          for (int i = 0; i < 5; ++i) got[g * 5 + i] = store.title((g * 5 + i) % 100 + 1);
          wg.done();
        });
      }
      wg.wait();
    }

    for (int k = 0; k < 200; ++k) EXPECT_EQ(got[k], "Article " + std::to_string(k % 100 + 1));
    long after = std::stol(gofer::blocking([&] { return query_one(admin, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'CONNECTIONS'"); }));
    long most = std::stol(gofer::blocking([&] { return query_one(admin, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'MAX_USED_CONNECTIONS'"); }));
    EXPECT_LE(after - before, 4) << "connections opened for 200 lookups (a pool of 4 opens 4)";
    EXPECT_LE(most, 4 + 1) << "connections open at once, the test's own included";
    gofer::blocking([&] { disconnect(admin); });
  }));
}
