// channels1 — solution. The sender closes the channel when it has nothing more to send;
// B's range loop then ends after the last letter. Only the sender closes: a send on a
// closed channel panics.

#include <cctype>
#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

int main() {
  return gofer::run([] {
    const std::string text = "Four score and seven years ago";
    gofer::chan<char> belt;
    gofer::chan<std::string> finished;

    gofer::go(gofer::named{"worker-A"}, [text, belt] {
      for (char c : text) belt.send(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      belt.close();
    });

    gofer::go(gofer::named{"worker-B"}, [belt, finished] {
      std::string out;
      for (char c : belt) out += c;
      finished.send(out);
    });

    std::string sentence = *finished.recv();
    std::printf("%s\nB packed %zu letters\n", sentence.c_str(), sentence.size());
  });
}
