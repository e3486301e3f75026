// Replays every file of a corpus directory (or single files) through the
// fuzz entry point, so the corpus runs as a unit test with any compiler.
// Seed files named valid_* must pass VerifyBatch and bad_* must fail it, so
// the corpus also pins expected verdicts. Exits 1 if no input was found or a
// verdict is wrong; a property violation traps as in the fuzzer.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "storage/record_batch_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunFile(const std::filesystem::path& path, int* count, int* wrong) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::printf("replay %s (%zu bytes)\n", path.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  ++*count;
  const std::string name = path.filename().string();
  const bool ok = raftlog::storage::VerifyBatch(bytes).ok();
  if ((name.starts_with("valid_") && !ok) || (name.starts_with("bad_") && ok)) {
    std::fprintf(stderr, "wrong verdict for %s: VerifyBatch %s\n", path.c_str(),
                 ok ? "accepted it" : "rejected it");
    ++*wrong;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  int wrong = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) RunFile(entry.path(), &count, &wrong);
      }
    } else {
      RunFile(arg, &count, &wrong);
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...; no input files found\n", argv[0]);
    return 1;
  }
  if (wrong > 0) {
    std::fprintf(stderr, "%d of %d inputs had the wrong verdict\n", wrong, count);
    return 1;
  }
  std::printf("replayed %d inputs, all passed\n", count);
  return 0;
}
