#include "engine/profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace strata::profile {
namespace {

struct Entry {
  double seconds = 0;
  long calls = 0;
};

std::mutex mu;
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("STRATA_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

namespace {
void (*device_wait)() = nullptr;
}  // namespace

void set_device_wait(void (*wait)()) { device_wait = wait; }

void wait_for_devices() {
  if (device_wait) device_wait();
}

void add(const std::string& key, double seconds) {
  std::lock_guard<std::mutex> lock(mu);
  Entry& e = table()[key];
  e.seconds += seconds;
  ++e.calls;
}

void reset() {
  std::lock_guard<std::mutex> lock(mu);
  table().clear();
}

std::string report(double total) {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<std::pair<std::string, Entry>> rows(table().begin(), table().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double sum = 0;
  for (const auto& [_, e] : rows) sum += e.seconds;
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%10s %7s %6s  %s\n", "ms", "calls", "share", "where");
  out += buf;
  for (const auto& [k, e] : rows) {
    std::snprintf(buf, sizeof buf, "%10.1f %7ld %5.1f%%  %s\n", 1000 * e.seconds, e.calls,
                  100 * e.seconds / (total > 0 ? total : sum), k.c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%10.1f %7s %5.1f%%  (all timed)\n", 1000 * sum, "", total > 0 ? 100 * sum / total : 100.0);
  out += buf;
  return out;
}

}  // namespace strata::profile
