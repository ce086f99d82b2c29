// OpendTect's ExternalAttrib plugin, its side of the protocol, as its Linux code does it: the launch (pipes for
// stdin and stdout, stderr to a log file, fork, every other descriptor closed, execve of /bin/sh SCRIPT ARGS with
// only IFS and PATH=/usr/bin:/bin:/usr/sbin:/sbin), unbuffered fwrite / fread of the blocks, SIGKILL at the end
// without closing stdin; its URL encoding (urllib.h); and a synthetic survey. For tests/test_opendtect.cpp and
// benchmarks/bench_opendtect.cpp.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "apps/faults/synth.h"

namespace strata::test {

// A synthetic survey for the attribute: `inlines` generated sections of `samples` x `crosslines`, stored
// (inline, crossline, sample) as the plugin indexes traces.
inline std::vector<float> synthetic_survey(int inlines, int crosslines, int samples, uint64_t seed) {
  std::vector<float> survey(size_t(inlines) * size_t(crosslines) * size_t(samples));
  faults::SynthOptions synth;
  synth.height = samples;
  synth.width = crosslines;
  for (int il = 0; il < inlines; ++il) {
    std::mt19937_64 rng = sample_rng(seed, 0, uint64_t(il));
    const faults::SynthSection s = faults::generate_section(synth, rng);
    for (int xl = 0; xl < crosslines; ++xl)
      for (int z = 0; z < samples; ++z)
        survey[size_t((il * crosslines + xl) * samples + z)] = s.seismic[size_t(z * crosslines + xl)];
  }
  return survey;
}

// The window of the trace at (il, xl) of a survey (inlines x crosslines x samples, stored (inline, crossline,
// sample)) as the plugin sends it: (2 so_inl + 1) x (2 so_crl + 1) traces, inline-major, each `count` samples from
// sample `first`; in place of traces outside the survey the centre trace, outside its samples 0.
inline std::vector<float> plugin_window(const std::vector<float>& survey, int64_t inlines, int64_t crosslines,
                                        int64_t samples, int64_t il, int64_t xl, int64_t so_inl, int64_t so_crl,
                                        int64_t first, int64_t count) {
  std::vector<float> w;
  w.reserve(size_t((2 * so_inl + 1) * (2 * so_crl + 1) * count));
  for (int64_t a = -so_inl; a <= so_inl; ++a)
    for (int64_t c = -so_crl; c <= so_crl; ++c) {
      int64_t ti = il + a, tc = xl + c;
      if (ti < 0 || ti >= inlines || tc < 0 || tc >= crosslines) ti = il, tc = xl;
      for (int64_t z = first; z < first + count; ++z)
        w.push_back(z >= 0 && z < samples ? survey[size_t((ti * crosslines + tc) * samples + z)] : 0.f);
    }
  return w;
}

// The plugin's urllib.h: letters and digits as they are, every other byte %XX, a backslash %5C%5C.
inline std::string plugin_urlencode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) out += char(c);
    else if (c == '\\') out += "%5C%5C";
    else out += {'%', hex[c >> 4], hex[c & 15]};
  }
  return out;
}
inline std::string plugin_urldecode(const std::string& s) {
  std::string out;
  const auto from_hex = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::toupper(c) - 'A' + 10) & 15; };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && s.size() > i + 2) {
      const char ch = char(from_hex(s[i + 1]) << 4 | from_hex(s[i + 2]));
      out += ch;
      if (ch == '\\') out += ch;
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// One attribute process, started as the plugin starts it.
class PluginProcess {
 public:
  PluginProcess(const std::filesystem::path& script, const std::vector<std::string>& args, const std::filesystem::path& log) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    write_ = fdopen(in[1], "w");
    read_ = fdopen(out[0], "r");
    setbuf(write_, nullptr);
    setbuf(read_, nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(out[0]);
      close(in[1]);
      dup2(in[0], 0);
      close(in[0]);
      dup2(out[1], 1);
      close(out[1]);
      const int err = open(log.c_str(), O_RDWR | O_CREAT | O_TRUNC, S_IRUSR | S_IWUSR);
      if (err != -1) dup2(err, 2), close(err);
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      std::vector<std::string> words{"/bin/sh", script.string()};
      words.insert(words.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& w : words) argv.push_back(w.data());
      argv.push_back(nullptr);
      char ifs[] = "IFS= \t\n", path[] = "PATH=/usr/bin:/bin:/usr/sbin:/sbin";
      char* envp[] = {ifs, path, nullptr};
      execve("/bin/sh", argv.data(), envp);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
  }
  ~PluginProcess() { finish(); }

  bool send(const void* p, size_t n) { return fwrite(p, n, 1, write_) == 1; }
  std::string read_all() {
    std::string s;
    char b[4096];
    for (size_t n; (n = fread(b, 1, sizeof b, read_)) > 0;) s.append(b, n);
    return s;
  }
  bool read_floats(float* dst, size_t n) { return fread(dst, sizeof(float), n, read_) == n; }
  // Waits up to `seconds` for the process to end by itself; its status, or -1 when it is still running.
  int wait_exit(double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Ends the input (the plugin never does; a driver that wants the attribute's closing summary on stderr can).
  void close_input() {
    if (write_) fclose(write_), write_ = nullptr;
  }
  // As the plugin's ProcInst::finish: SIGKILL, stdin never closed before.
  void finish() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (write_) fclose(write_), write_ = nullptr;
    if (read_) fclose(read_), read_ = nullptr;
  }

 private:
  pid_t pid_ = -1;
  FILE* write_ = nullptr;
  FILE* read_ = nullptr;
};

}  // namespace strata::test
