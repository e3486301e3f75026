// POSIX implementation of Env (pread/pwrite/pwritev/fdatasync/fallocate, O_CLOEXEC)
// and the whole-file helpers declared in env.h.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "storage/env.h"

namespace raftlog::storage {

namespace {

absl::Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = absl::StrFormat("%s %s: %s", what, path, std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  absl::Status Write(uint64_t pos, std::span<const uint8_t> data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(pos + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pwrite", path_, errno);
      }
      if (n == 0) return ErrnoStatus("pwrite", path_, ENOSPC);
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Writev(uint64_t pos, std::span<const std::span<const uint8_t>> pieces) override {
    // Up to kBatch iovecs per pwritev; a short write resumes inside the piece
    // where it stopped. Bounded: every successful call writes >= 1 byte.
    constexpr size_t kBatch = 64;  // <= IOV_MAX (1024 on Linux)
    struct iovec iov[kBatch];
    size_t piece = 0;  // first piece not yet fully written
    size_t skip = 0;   // bytes of pieces[piece] already written
    while (piece < pieces.size()) {
      if (pieces[piece].size() == skip) {
        ++piece;
        skip = 0;
        continue;
      }
      int count = 0;
      for (size_t i = piece; i < pieces.size() && count < static_cast<int>(kBatch); ++i) {
        const size_t off = i == piece ? skip : 0;
        if (pieces[i].size() == off) continue;
        iov[count].iov_base = const_cast<uint8_t*>(pieces[i].data() + off);
        iov[count].iov_len = pieces[i].size() - off;
        ++count;
      }
      ssize_t n = ::pwritev(fd_, iov, count, static_cast<off_t>(pos));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pwritev", path_, errno);
      }
      if (n == 0) return ErrnoStatus("pwritev", path_, ENOSPC);
      pos += static_cast<uint64_t>(n);
      auto left = static_cast<size_t>(n);
      while (left > 0) {
        const size_t take = std::min(left, pieces[piece].size() - skip);
        skip += take;
        left -= take;
        if (skip == pieces[piece].size()) {
          ++piece;
          skip = 0;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(uint64_t pos, std::span<uint8_t> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(pos + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pread", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("ftruncate", path_, errno);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status Allocate(uint64_t pos, uint64_t len) override {
    int err = ::posix_fallocate(fd_, static_cast<off_t>(pos), static_cast<off_t>(len));
    if (err == EOPNOTSUPP || err == EINVAL) {
      return absl::UnimplementedError(absl::StrFormat("fallocate %s unsupported", path_));
    }
    if (err != 0) return ErrnoStatus("fallocate", path_, err);
    return absl::OkStatus();
  }

  absl::Status Reserve(uint64_t pos, uint64_t len) override {
    int rc;
    do {
      rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(pos), static_cast<off_t>(len));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
      return absl::UnimplementedError(absl::StrFormat("fallocate keep-size %s unsupported", path_));
    }
    if (rc != 0) return ErrnoStatus("fallocate keep-size", path_, errno);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd;
    do {
      fd = ::open(path.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<File>(std::make_unique<PosixFile>(path, fd));
  }

  absl::StatusOr<bool> FileExists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return ErrnoStatus("stat", path, errno);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir", dir, errno);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return absl::OkStatus();
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open dir", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync dir", dir, err);
    return absl::OkStatus();
  }
};

}  // namespace

Env* Env::Posix() {
  static PosixEnv env;  // stateless, so safe to use during static destruction
  return &env;
}

absl::StatusOr<std::vector<uint8_t>> ReadWholeFile(Env* env, const std::string& path) {
  absl::StatusOr<std::unique_ptr<File>> f = env->OpenFile(path, /*create=*/false);
  if (!f.ok()) return f.status();
  absl::StatusOr<uint64_t> size = (*f)->Size();
  if (!size.ok()) return size.status();
  std::vector<uint8_t> data(*size);
  absl::StatusOr<size_t> n = (*f)->Read(0, data);
  if (!n.ok()) return n.status();
  data.resize(*n);
  return data;
}

absl::Status WriteFileAtomically(Env* env, const std::string& dir, const std::string& name,
                                 std::span<const uint8_t> data) {
  const std::string tmp = dir + "/" + name + ".tmp";
  {
    absl::StatusOr<std::unique_ptr<File>> f = env->OpenFile(tmp, /*create=*/true);
    if (!f.ok()) return f.status();
    absl::Status s = (*f)->Truncate(0);
    if (s.ok()) s = (*f)->Write(0, data);
    if (s.ok()) s = (*f)->Sync();
    if (!s.ok()) return s;
  }
  absl::Status s = env->RenameFile(tmp, dir + "/" + name);
  if (!s.ok()) return s;
  return env->SyncDir(dir);
}

}  // namespace raftlog::storage
