// tools/trace_svg.cpp — renders a GOFER_TRACE file as an SVG timeline, for learners
// without a browser trace viewer (chapter 2, "visualizing concurrency").
//
//   trace_svg trace.json timeline.svg [--width 1600]
//
// One lane per scheduler thread; each goroutine run slice is a bar (one colour per
// goroutine, labelled when wide enough); a park is a tick under the bar with its wait
// reason in the tooltip; a wake-up is a thin line from the waker to the woken goroutine's
// next slice. Reads the Chrome trace-event JSON with nlohmann-json and parses flags with
// CLI11; writes plain SVG 1.1.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct slice {
  int tid;
  double ts, dur;
  std::string name;
  long gid;
};
struct mark {
  int tid;
  double ts;
  std::string name;
};
struct flow_end {
  int tid = -1;
  double ts = 0;
};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A stable, readable colour per goroutine.
std::string colour(long gid) {
  static const char* palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return palette[static_cast<unsigned long>(gid) % 10];
}

}  // namespace

int main(int argc, char** argv) {
  std::string in_path, out_path;
  int width = 1600;
  CLI::App app{"render a GOFER_TRACE file as an SVG timeline", "trace_svg"};
  app.add_option("trace", in_path, "trace file written with GOFER_TRACE=...")->required()->check(CLI::ExistingFile);
  app.add_option("svg", out_path, "SVG file to write")->required();
  app.add_option("--width", width, "image width in pixels")->check(CLI::Range(400, 20000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "trace_svg: " << e.what() << "\nUsage: trace_svg TRACE SVG [--width N]\n";
    return 2;
  }

  nlohmann::json doc;
  try {
    std::ifstream in(in_path);
    doc = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "trace_svg: " << in_path << ": not a trace-event JSON file: " << e.what() << "\n";
    return 1;
  }
  const auto& events = doc.contains("traceEvents") ? doc["traceEvents"] : doc;
  if (!events.is_array()) {
    std::cerr << "trace_svg: " << in_path << ": no traceEvents array\n";
    return 1;
  }

  std::vector<slice> slices;
  std::vector<mark> marks;
  std::map<long, flow_end> flow_from, flow_to;
  std::map<int, std::string> lanes;
  double t0 = 1e300, t1 = -1e300;
  for (const auto& e : events) {
    std::string ph = e.value("ph", "");
    int tid = e.value("tid", 0);
    double ts = e.value("ts", 0.0);
    if (ph == "M") {
      if (e.value("name", "") == "thread_name") lanes[tid] = e["args"].value("name", "thread");
      continue;
    }
    if (ph.empty()) continue;
    lanes.emplace(tid, "thread " + std::to_string(tid));
    if (ph == "X") {
      double dur = e.value("dur", 0.0);
      long gid = e.contains("args") ? e["args"].value("goroutine", 0L) : 0L;
      slices.push_back({tid, ts, dur, e.value("name", "?"), gid});
      t0 = std::min(t0, ts);
      t1 = std::max(t1, ts + dur);
    } else if (ph == "i") {
      marks.push_back({tid, ts, e.value("name", "")});
    } else if (ph == "s") {
      flow_from[e.value("id", 0L)] = {tid, ts};
    } else if (ph == "f") {
      flow_to[e.value("id", 0L)] = {tid, ts};
    }
  }
  if (slices.empty()) {
    std::cerr << "trace_svg: " << in_path << ": no goroutine run slices to draw\n";
    return 1;
  }
  if (t1 <= t0) t1 = t0 + 1;

  const int left = 110, lane_h = 46, top = 40, bar_h = 24;
  std::map<int, int> lane_y;
  int y = top;
  for (auto& [tid, name] : lanes) {
    lane_y[tid] = y;
    y += lane_h;
  }
  const int height = y + 40;
  const double span = t1 - t0, scale = (width - left - 20) / span;
  auto x_of = [&](double ts) { return left + (ts - t0) * scale; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << left << "\" y=\"20\" font-size=\"13\">" << escape(in_path) << " — "
      << slices.size() << " run slices over " << span / 1000.0 << " ms</text>\n";
  for (auto& [tid, name] : lanes) {
    int ly = lane_y[tid];
    svg << "<text x=\"8\" y=\"" << ly + bar_h / 2 + 4 << "\">" << escape(name) << "</text>\n";
    svg << "<line x1=\"" << left << "\" y1=\"" << ly + bar_h << "\" x2=\"" << width - 20 << "\" y2=\""
        << ly + bar_h << "\" stroke=\"#ddd\"/>\n";
  }
  for (const slice& s : slices) {
    double x = x_of(s.ts), w = std::max(1.0, s.dur * scale);
    int ly = lane_y[s.tid];
    svg << "<rect x=\"" << x << "\" y=\"" << ly << "\" width=\"" << w << "\" height=\"" << bar_h
        << "\" fill=\"" << colour(s.gid) << "\"><title>" << escape(s.name) << " — " << s.dur
        << " µs</title></rect>\n";
    if (w > 7.0 * static_cast<double>(s.name.size()))
      svg << "<text x=\"" << x + 3 << "\" y=\"" << ly + 16 << "\" fill=\"white\">" << escape(s.name) << "</text>\n";
  }
  for (const mark& m : marks) {
    double x = x_of(m.ts);
    int ly = lane_y[m.tid] + bar_h;
    svg << "<line x1=\"" << x << "\" y1=\"" << ly << "\" x2=\"" << x << "\" y2=\"" << ly + 6
        << "\" stroke=\"#333\"><title>park: " << escape(m.name) << "</title></line>\n";
  }
  for (auto& [id, from] : flow_from) {
    auto it = flow_to.find(id);
    if (it == flow_to.end()) continue;
    svg << "<line x1=\"" << x_of(from.ts) << "\" y1=\"" << lane_y[from.tid] + bar_h / 2 << "\" x2=\""
        << x_of(it->second.ts) << "\" y2=\"" << lane_y[it->second.tid] + bar_h / 2
        << "\" stroke=\"#555\" stroke-width=\"0.6\" opacity=\"0.6\"/>\n";
  }
  svg << "<text x=\"" << left << "\" y=\"" << height - 12
      << "\" fill=\"#555\">bars: goroutines running · ticks: a goroutine parks (hover: why) · "
         "lines: wake-ups</text>\n";
  svg << "</svg>\n";

  std::ofstream out(out_path);
  out << svg.str();
  if (!out) {
    std::cerr << "trace_svg: cannot write " << out_path << "\n";
    return 1;
  }
  std::printf("wrote %s: %zu slices on %zu threads\n", out_path.c_str(), slices.size(), lanes.size());
  return 0;
}
