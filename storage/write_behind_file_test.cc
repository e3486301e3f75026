// WriteBehindFile against a plain file: the same random writes, cuts,
// preallocations and syncs must leave the same bytes visible through Read
// and Size at every step, and on disk after Sync or destruction; a failed
// write (disk full) keeps what was accepted before it, so a cut back to the
// old end undoes it without touching the disk.
#include "storage/write_behind_file.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"
#include "storage/log_test_util.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::TempDir;

std::shared_ptr<File> Open(Env* env, const std::string& path) {
  absl::StatusOr<std::unique_ptr<File>> f = env->OpenFile(path, /*create=*/true);
  EXPECT_TRUE(f.ok()) << f.status();
  return std::shared_ptr<File>(std::move(*f));
}

std::vector<uint8_t> ReadAll(const File& f) {
  absl::StatusOr<uint64_t> size = f.Size();
  EXPECT_TRUE(size.ok()) << size.status();
  std::vector<uint8_t> out(*size);
  absl::StatusOr<size_t> n = f.Read(0, std::span<uint8_t>(out));
  EXPECT_TRUE(n.ok()) << n.status();
  out.resize(*n);
  return out;
}

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

class WriteBehindFileRandomTest : public ::testing::TestWithParam<int> {};

TEST_P(WriteBehindFileRandomTest, ReadsAndDiskMatchAPlainFile) {
  std::mt19937_64 rng(GetParam());
  auto uniform = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  TempDir dir;
  Env* env = Env::Posix();
  std::shared_ptr<File> plain = Open(env, dir.path() + "/plain");
  const std::string wrapped_path = dir.path() + "/wrapped";
  std::shared_ptr<File> inner = Open(env, wrapped_path);
  // The largest capacity also sees appends around kWriteThroughBytes, some
  // written through past what is held.
  const size_t capacity = std::vector<size_t>{16, 300, 4096, 256 << 10}[GetParam() % 4];
  auto piece_size = [&]() -> uint64_t {
    if (capacity <= WriteBehindFile::kWriteThroughBytes) return uniform(0, capacity);
    if (uniform(0, 9) == 0) {
      return uniform(WriteBehindFile::kWriteThroughBytes - 100,
                     WriteBehindFile::kWriteThroughBytes + 100);
    }
    return uniform(0, 3000);
  };
  auto wb = std::make_unique<WriteBehindFile>(inner, 0, capacity);
  uint64_t logical = 0;  // the plain file's size, known to the writer as a log knows its end
  size_t max_buffered = 0;
  for (int step = 0; step < 400; ++step) {
    SCOPED_TRACE(absl::StrFormat("seed %d step %d", GetParam(), step));
    const uint64_t op = uniform(0, 99);
    if (op < 60) {  // append at the end, as pieces
      std::vector<std::vector<uint8_t>> data;
      std::vector<std::span<const uint8_t>> pieces;
      const int n = static_cast<int>(uniform(1, 3));
      for (int i = 0; i < n; ++i) data.push_back(Bytes(piece_size(), uint8_t(step + i)));
      for (const auto& d : data) pieces.emplace_back(d);
      ASSERT_TRUE(plain->Writev(logical, pieces).ok());
      ASSERT_TRUE(wb->Writev(logical, pieces).ok());
      for (const auto& d : data) logical += d.size();
    } else if (op < 65) {  // overwrite somewhere (not an append)
      const uint64_t pos = uniform(0, logical);
      std::vector<uint8_t> d = Bytes(uniform(1, 50), uint8_t(step));
      ASSERT_TRUE(plain->Write(pos, d).ok());
      ASSERT_TRUE(wb->Write(pos, d).ok());
      logical = std::max(logical, pos + d.size());
    } else if (op < 75) {  // cut (or extend) to anywhere
      const uint64_t size = uniform(0, logical + 100);
      ASSERT_TRUE(plain->Truncate(size).ok());
      ASSERT_TRUE(wb->Truncate(size).ok());
      logical = size;
    } else if (op < 80) {  // preallocate past the end
      const uint64_t len = uniform(1, 2000);
      ASSERT_TRUE(plain->Allocate(logical, len).ok());
      ASSERT_TRUE(wb->Allocate(logical, len).ok());
      // Both files now read as zeros up to logical + len; the writer (like
      // a segment) still appends at its logical end.
    } else if (op < 85) {
      ASSERT_TRUE(wb->Sync().ok());
      ASSERT_TRUE(plain->Sync().ok());
      EXPECT_EQ(wb->buffered_bytes(), 0u);
      // After a Sync the wrapped file alone holds everything written.
      std::vector<uint8_t> on_disk = ReadAll(*inner);
      std::vector<uint8_t> expect = ReadAll(*plain);
      on_disk.resize(std::min(on_disk.size(), expect.size()));
      expect.resize(on_disk.size());
      ASSERT_EQ(on_disk, expect);
      ASSERT_GE(ReadAll(*inner).size(), logical);
    } else {  // a read of any range, past the end too
      const uint64_t pos = uniform(0, logical + 10);
      const size_t n = static_cast<size_t>(uniform(0, 3 * capacity));
      std::vector<uint8_t> a(n), b(n);
      absl::StatusOr<size_t> ra = plain->Read(pos, std::span<uint8_t>(a));
      absl::StatusOr<size_t> rb = wb->Read(pos, std::span<uint8_t>(b));
      ASSERT_TRUE(ra.ok() && rb.ok());
      ASSERT_EQ(*ra, *rb);
      a.resize(*ra);
      b.resize(*rb);
      ASSERT_EQ(a, b);
    }
    max_buffered = std::max(max_buffered, wb->buffered_bytes());
    ASSERT_LE(wb->buffered_bytes(), capacity);
    ASSERT_EQ(*wb->Size(), *plain->Size());
    ASSERT_EQ(ReadAll(*wb), ReadAll(*plain));
  }
  EXPECT_GT(max_buffered, 0u) << "nothing was ever held back: the test tested a plain file";
  wb.reset();  // writes out the rest
  EXPECT_EQ(ReadAll(*Open(env, wrapped_path)), ReadAll(*plain));
}

INSTANTIATE_TEST_SUITE_P(Seeds, WriteBehindFileRandomTest, ::testing::Range(1, 13));

TEST(WriteBehindFileTest, SmallAppendsReachTheFileOncePerCapacity) {
  TempDir dir;
  FaultInjectingEnv env;
  std::shared_ptr<File> inner = Open(&env, dir.path() + "/f");
  WriteBehindFile wb(inner, 0, 1000);
  const std::vector<uint8_t> frame = Bytes(100, 1);
  const int64_t before = env.writes();
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(wb.Write(100 * i, frame).ok());
  // 10 frames fit; the 11th and 22nd writes flush what is held plus themselves.
  EXPECT_EQ(env.writes() - before, 2);
  EXPECT_EQ(wb.buffered_bytes(), 300u);
  EXPECT_EQ(*inner->Size(), 2200u);
  ASSERT_TRUE(wb.Sync().ok());
  EXPECT_EQ(*inner->Size(), 2500u);
  EXPECT_EQ(env.writes() - before, 3);
}

// A large append is not copied into the buffer: it reaches the file at
// once, behind what was held, in one gather write; small appends after it
// are held again.
TEST(WriteBehindFileTest, LargeAppendsAreWrittenThroughBehindWhatIsHeld) {
  TempDir dir;
  FaultInjectingEnv env;
  std::shared_ptr<File> inner = Open(&env, dir.path() + "/f");
  WriteBehindFile wb(inner, 0, 4 << 20);  // room for the large append
  const std::vector<uint8_t> small = Bytes(100, 1);
  const std::vector<uint8_t> large = Bytes(WriteBehindFile::kWriteThroughBytes, 2);
  const int64_t before = env.writes();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(wb.Write(100 * i, small).ok());
  EXPECT_EQ(env.writes() - before, 0);
  EXPECT_EQ(wb.buffered_bytes(), 300u);
  ASSERT_TRUE(wb.Write(300, large).ok());
  EXPECT_EQ(env.writes() - before, 1);
  EXPECT_EQ(wb.buffered_bytes(), 0u);
  EXPECT_EQ(*inner->Size(), 300 + large.size());
  ASSERT_TRUE(wb.Write(300 + large.size(), small).ok());  // held again
  EXPECT_EQ(env.writes() - before, 1);
  EXPECT_EQ(wb.buffered_bytes(), 100u);
  // A large append into an empty buffer: written at once too.
  ASSERT_TRUE(wb.Flush().ok());
  ASSERT_TRUE(wb.Write(400 + large.size(), large).ok());
  EXPECT_EQ(env.writes() - before, 3);
  EXPECT_EQ(wb.buffered_bytes(), 0u);
  std::vector<uint8_t> expect;
  for (int i = 0; i < 3; ++i) expect.insert(expect.end(), small.begin(), small.end());
  expect.insert(expect.end(), large.begin(), large.end());
  expect.insert(expect.end(), small.begin(), small.end());
  expect.insert(expect.end(), large.begin(), large.end());
  EXPECT_EQ(ReadAll(wb), expect);
  EXPECT_EQ(ReadAll(*inner), expect);
}

TEST(WriteBehindFileTest, AFailedFlushKeepsWhatWasAcceptedAndTheCutBackUndoesIt) {
  TempDir dir;
  FaultInjectingEnv env;
  std::shared_ptr<File> inner = Open(&env, dir.path() + "/f");
  WriteBehindFile wb(inner, 0, 1000);
  const std::vector<uint8_t> a = Bytes(600, 1);
  const std::vector<uint8_t> b = Bytes(600, 2);
  ASSERT_TRUE(wb.Write(0, a).ok());  // held
  // The append that must flush meets a full disk after writing 700 bytes.
  env.SetDiskFull(true, 700);
  absl::Status s = wb.Write(600, b);
  ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // The caller (a segment) undoes by cutting back to its old end: the bytes
  // accepted before are intact, the partial write is gone, no disk write
  // was needed.
  ASSERT_TRUE(wb.Truncate(600).ok());
  EXPECT_EQ(*wb.Size(), 600u);
  EXPECT_EQ(ReadAll(wb), a);
  EXPECT_EQ(*inner->Size(), 0u);
  // Still full: Sync reports it and keeps the bytes.
  EXPECT_EQ(wb.Sync().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadAll(wb), a);
  env.SetDiskFull(false);
  ASSERT_TRUE(wb.Write(600, b).ok());
  ASSERT_TRUE(wb.Sync().ok());
  std::vector<uint8_t> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_EQ(ReadAll(*inner), ab);
}

}  // namespace
}  // namespace raftlog::storage
