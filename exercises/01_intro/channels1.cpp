// channels1 — the letter capitalization factory (book, chapter 1: "Channel-based sorting at
// the letter capitalization factory", "Cleaning up our goroutines").
//
// Worker A upper-cases each letter and hands it to worker B over an unbuffered channel, the
// conveyor belt. B packs the letters into the finished sentence with `for (char c : belt)`,
// which receives until the channel is closed and empty, and then hands the sentence to main.
// As shipped, B never learns that the last letter has come, so it waits forever, main waits
// for B, and gofer's deadlock detector ends the program: "all goroutines are asleep".
//
// Goal: the program prints
//   FOUR SCORE AND SEVEN YEARS AGO
//   B packed 30 letters

#include <cctype>
#include <cstdio>
#include <string>

#include <gofer/chan.hpp>
#include <gofer/runtime.hpp>

int main() {
  return gofer::run([] {
    const std::string text = "Four score and seven years ago";
    gofer::chan<char> belt;               // unbuffered: A and B meet at every letter
    gofer::chan<std::string> finished;    // B hands the sentence to main

    // Worker A.
    gofer::go(gofer::named{"worker-A"}, [text, belt] {
      for (char c : text) belt.send(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      // TODO: tell B that no more letters will come.
    });

    // Worker B.
    gofer::go(gofer::named{"worker-B"}, [belt, finished] {
      std::string out;
      for (char c : belt) out += c;
      finished.send(out);
    });

    std::string sentence = *finished.recv();
    std::printf("%s\nB packed %zu letters\n", sentence.c_str(), sentence.size());
  });
}
