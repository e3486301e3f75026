// DataDir: locking a node's data directory and checking or writing its
// identity file, node.meta (format and invariants in data_dir.h).
#include "broker/data_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

constexpr char kTempSuffix[] = ".tmp";
constexpr char kCrcKey[] = "crc32c=";
constexpr int kFormatVersion = 1;
constexpr size_t kMaxMetaBytes = 64 * 1024;

std::string Errno(int err) { return std::strerror(err); }

absl::Status IoError(const std::string& what, const std::string& path, int err) {
  return absl::InternalError(absl::StrFormat("%s %s: %s", what, path, Errno(err)));
}

// Writes all of `data` to `fd`.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot write", path, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("cannot fsync", path, err);
  return absl::OkStatus();
}

// Writes `contents` to `path` atomically: temp file, fsync, rename, dir fsync.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& path,
                                 absl::string_view contents) {
  const std::string tmp = path + kTempSuffix;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", tmp, errno);
  absl::Status status = WriteAll(fd, contents, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = IoError("cannot fsync", tmp, errno);
  ::close(fd);
  if (!status.ok()) return status;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return IoError("cannot rename", tmp, errno);
  return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

// Reads a small file; NotFound if it does not exist.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(path);
    return absl::DataLossError(absl::StrFormat("cannot read %s: %s", path, Errno(errno)));
  }
  std::string data;
  char buf[4096];
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::DataLossError(absl::StrFormat("cannot read %s: %s", path, Errno(errno)));
      break;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxMetaBytes) {
      status = absl::DataLossError(
          absl::StrFormat("%s is larger than %d bytes; not an identity file", path, kMaxMetaBytes));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return data;
}

absl::StatusOr<std::string> RandomDirectoryId() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("getrandom: ", Errno(errno)));
    got += static_cast<size_t>(n);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // UUID version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string hex;
  for (uint8_t b : bytes) absl::StrAppendFormat(&hex, "%02x", b);
  return hex;
}

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool IsHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct NodeMeta {
  int format_version = 0;
  std::string cluster_id;
  uint64_t node_id = 0;
  std::string directory_id;
  std::string created_at;
};

std::string EncodeNodeMeta(const NodeMeta& m) {
  std::string body = absl::StrFormat(
      "format_version=%d\ncluster_id=%s\nnode_id=%d\ndirectory_id=%s\ncreated_at=%s\n",
      m.format_version, m.cluster_id, m.node_id, m.directory_id, m.created_at);
  const uint32_t crc = storage::Crc32c(body.data(), body.size());
  absl::StrAppendFormat(&body, "%s%08x\n", kCrcKey, crc);
  return body;
}

// Decodes node.meta. Errors are plain descriptions; the caller wraps them.
absl::StatusOr<NodeMeta> DecodeNodeMeta(const std::string& text) {
  // The last line must be "crc32c=XXXXXXXX\n", covering every byte before it.
  if (text.empty() || text.back() != '\n') return absl::DataLossError("missing final newline");
  const size_t line_start = text.rfind('\n', text.size() - 2);
  const size_t crc_start = line_start == std::string::npos ? 0 : line_start + 1;
  absl::string_view crc_line(text.data() + crc_start, text.size() - 1 - crc_start);
  if (!absl::ConsumePrefix(&crc_line, kCrcKey) || crc_line.size() != 8 || !IsHex(crc_line)) {
    return absl::DataLossError("last line is not crc32c=<8 hex digits>");
  }
  uint32_t stored = 0;
  if (!absl::SimpleHexAtoi(crc_line, &stored)) return absl::DataLossError("bad crc32c value");
  const uint32_t actual = storage::Crc32c(text.data(), crc_start);
  if (stored != actual) {
    return absl::DataLossError(
        absl::StrFormat("CRC mismatch (stored %08x, computed %08x)", stored, actual));
  }
  std::map<std::string, std::string, std::less<>> fields;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), crc_start), '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::DataLossError(absl::StrFormat("line \"%s\" is not key=value", line));
    }
    if (!fields.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1))).second) {
      return absl::DataLossError(absl::StrFormat("key %s appears twice", line.substr(0, eq)));
    }
  }
  NodeMeta m;
  for (absl::string_view key : {"format_version", "cluster_id", "node_id", "directory_id"}) {
    if (fields.find(key) == fields.end()) {
      return absl::DataLossError(absl::StrFormat("missing key %s", key));
    }
  }
  if (!absl::SimpleAtoi(fields["format_version"], &m.format_version)) {
    return absl::DataLossError("format_version is not a number");
  }
  if (m.format_version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("format_version %d is not supported (this raftlogd knows %d)",
                        m.format_version, kFormatVersion));
  }
  m.cluster_id = fields["cluster_id"];
  if (!absl::SimpleAtoi(fields["node_id"], &m.node_id) || m.node_id == 0) {
    return absl::DataLossError(absl::StrFormat("bad node_id \"%s\"", fields["node_id"]));
  }
  m.directory_id = fields["directory_id"];
  if (m.directory_id.size() != 32 || !IsHex(m.directory_id)) {
    return absl::DataLossError(absl::StrFormat("bad directory_id \"%s\"", m.directory_id));
  }
  m.created_at = fields["created_at"];
  return m;
}

// Reads the pid a running raftlogd wrote into LOCK, for the error message.
std::string LockHolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  int pid = 0;
  if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid)) {
    return absl::StrCat(pid);
  }
  return "unknown";
}

}  // namespace

DataDir::DataDir(PrivateTag, std::string path, int lock_fd)
    : path_(std::move(path)), lock_fd_(lock_fd) {}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // Closing the last fd releases the flock.
}

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path_arg,
                                                       const std::string& cluster_id,
                                                       raft::NodeId node_id) {
  std::string path = path_arg;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return absl::InvalidArgumentError("data directory: empty path");
  if (node_id == raft::kNoNode) {
    return absl::InvalidArgumentError(absl::StrFormat("data directory %s: node id 0", path));
  }
  if (cluster_id.empty() || cluster_id.find_first_of("\n\r=") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data directory %s: invalid cluster id \"%s\"", path, cluster_id));
  }

  // Directories this Open creates, deepest first: their entries in their
  // parents are fsynced so that a crash cannot drop the new directory.
  std::error_code ec;
  std::vector<std::filesystem::path> created;
  for (std::filesystem::path p = path;
       !p.empty() && p != p.parent_path() && !std::filesystem::exists(p, ec) && !ec;
       p = p.parent_path()) {
    created.push_back(p);
  }
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot create data directory %s: %s", path, ec.message()));
  }
  for (const std::filesystem::path& p : created) {
    const std::filesystem::path parent = p.has_parent_path() ? p.parent_path() : ".";
    if (absl::Status st = FsyncPath(parent.string(), O_RDONLY | O_DIRECTORY); !st.ok()) return st;
  }
  if (!std::filesystem::is_directory(path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("data directory %s exists and is not a directory", path));
  }

  const std::string lock_path = path + "/" + kLockFileName;
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open lock file", lock_path, errno);
  auto dir = std::make_unique<DataDir>(PrivateTag{}, path, fd);  // Owns fd from here.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data directory %s is in use by another raftlogd (pid %s)", path, LockHolderPid(fd)));
    }
    return IoError("cannot lock", lock_path, errno);
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0) return IoError("cannot truncate", lock_path, errno);
  if (::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return IoError("cannot write", lock_path, errno);
  }

  if (absl::Status st = dir->CheckOrCreateIdentity(cluster_id, node_id); !st.ok()) return st;
  return dir;
}

absl::Status DataDir::CheckOrCreateIdentity(const std::string& cluster_id, raft::NodeId node_id) {
  const std::string meta_path = path_ + "/" + kNodeMetaFileName;
  absl::StatusOr<std::string> text = ReadSmallFile(meta_path);
  if (text.ok()) {
    absl::StatusOr<NodeMeta> meta = DecodeNodeMeta(*text);
    if (!meta.ok()) {
      return absl::Status(meta.status().code(),
                          absl::StrFormat("data directory %s: identity file %s is unusable: %s; "
                                          "refusing to start (restore the file, or wipe the "
                                          "directory and let the node rejoin as a new replica)",
                                          path_, meta_path, meta.status().message()));
    }
    if (meta->cluster_id != cluster_id) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data directory %s belongs to cluster %s, this node is configured for cluster %s; "
          "refusing to start rather than mix data",
          path_, meta->cluster_id, cluster_id));
    }
    if (meta->node_id != node_id.value()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data directory %s belongs to node %d, this node is configured as node %d; refusing to "
          "start rather than mix data",
          path_, meta->node_id, node_id.value()));
    }
    cluster_id_ = meta->cluster_id;
    node_id_ = node_id;
    directory_id_ = meta->directory_id;
    is_new_ = false;
    return absl::OkStatus();
  }
  if (!absl::IsNotFound(text.status())) {
    return absl::DataLossError(
        absl::StrFormat("data directory %s: identity file %s is unusable: %s; refusing to start",
                        path_, meta_path, text.status().message()));
  }

  // No identity: the directory must hold nothing of anyone else's.
  std::vector<std::string> foreign;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == kLockFileName) continue;
    if (name == std::string(kNodeMetaFileName) + kTempSuffix) {
      ::unlink(it->path().c_str());  // Left by a crash during a first start.
      continue;
    }
    foreign.push_back(name);
  }
  if (ec) {
    return absl::InternalError(
        absl::StrFormat("cannot list data directory %s: %s", path_, ec.message()));
  }
  if (!foreign.empty()) {
    std::sort(foreign.begin(), foreign.end());
    if (foreign.size() > 5) foreign.resize(5);
    return absl::FailedPreconditionError(absl::StrFormat(
        "data directory %s is not empty but has no %s (found: %s); refusing to start because it "
        "might hold another node's data. Use an empty directory",
        path_, kNodeMetaFileName, absl::StrJoin(foreign, ", ")));
  }

  NodeMeta meta;
  meta.format_version = kFormatVersion;
  meta.cluster_id = cluster_id;
  meta.node_id = node_id.value();
  absl::StatusOr<std::string> id = RandomDirectoryId();
  if (!id.ok()) return id.status();
  meta.directory_id = *id;
  meta.created_at = NowUtc();
  if (absl::Status st = WriteFileAtomically(path_, meta_path, EncodeNodeMeta(meta)); !st.ok()) {
    return st;
  }
  cluster_id_ = cluster_id;
  node_id_ = node_id;
  directory_id_ = meta.directory_id;
  is_new_ = true;
  return absl::OkStatus();
}

std::string DataDir::GroupDir(uint64_t group) const {
  return absl::StrFormat("%s/groups/%020d", path_, group);
}

std::string DataDir::MetadataDir() const { return path_ + "/metadata"; }

}  // namespace raftlog::broker
