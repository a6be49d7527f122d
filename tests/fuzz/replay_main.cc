// tests/fuzz/replay_main.cc — runs fuzz targets without libFuzzer: every file named on the
// command line (directories are walked, sorted) goes once through LLVMFuzzerTestOneInput. Built
// with ASan+UBSan in the normal build for the fuzz-smoke suite: a crash, a sanitizer report or a
// broken promise (abort) fails the test. No input at all fails too.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace fs = std::filesystem;

int main(int argc, char **argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path arg = argv[i];
    if (!fs::is_directory(arg)) {
      inputs.push_back(arg);
      continue;
    }
    std::vector<fs::path> files;
    for (auto &entry : fs::directory_iterator(arg))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    inputs.insert(inputs.end(), files.begin(), files.end());
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 1;
  }
  for (auto &path : inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // An exactly-sized copy, as libFuzzer passes it: ASan then catches a read one past the end
    // (a vector's spare capacity would hide it).
    auto exact = std::make_unique<std::uint8_t[]>(data.size());
    std::copy(data.begin(), data.end(), exact.get());
    std::printf("replay: %s (%zu bytes)\n", path.filename().c_str(), data.size());
    std::fflush(stdout);  // the last name printed is the input that crashed
    LLVMFuzzerTestOneInput(exact.get(), data.size());
  }
  std::printf("replay: %zu inputs, all passed\n", inputs.size());
  return 0;
}
