// Where a tensor's storage lives. CPU is always available; CUDA devices exist
// only in builds with the CUDA backend (real or emulated) and a usable device.
#pragma once

#include <iosfwd>
#include <string>

namespace strata {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const;
};

std::ostream& operator<<(std::ostream& os, Device d);

}  // namespace strata
