// DataDir: a node's data directory and its identity (PITFALLS #14). A node
// refuses to start on a directory that belongs to another cluster or node id,
// on one holding someone else's files, and on one another process is using.
//
// Layout:
//   <path>/LOCK        flock()ed exclusively for the DataDir's life; holds the pid
//   <path>/node.meta   identity, text `key=value` lines:
//                        format_version=1
//                        cluster_id=<cluster>
//                        node_id=<id>
//                        directory_id=<32 hex digits, random, made once>
//                        created_at=<UTC, RFC 3339>
//                        crc32c=<8 hex digits: CRC-32C of every byte before this line>
//   <path>/metadata    the metadata group (MetadataDir())
//   <path>/groups/<20-digit group id>   one partition group each (GroupDir())
// node.meta is written once, on first start in an empty directory, via
// node.meta.tmp + fsync + rename + directory fsync. Invariants: a node.meta
// that exists but is unreadable, unparseable or fails its CRC is DataLoss and
// is never treated as absent (PITFALLS #15); a directory holding anything
// other than LOCK (and a crash-leftover node.meta.tmp) but no node.meta is
// refused rather than adopted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace raftlog::broker {

inline constexpr char kNodeMetaFileName[] = "node.meta";
inline constexpr char kLockFileName[] = "LOCK";

class DataDir {
 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Creates `path` (and parents) if missing, locks it and checks or writes its
  // identity. Errors: FailedPrecondition (in use, other cluster/node, foreign
  // files, unsupported format), DataLoss (corrupt node.meta), InvalidArgument
  // (bad arguments), Internal (I/O failures), each naming the directory.
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path,
                                                       const std::string& cluster_id,
                                                       raft::NodeId node_id);

  DataDir(PrivateTag, std::string path, int lock_fd);  // Use Open().
  ~DataDir();                                          // Releases the lock.
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return path_; }
  const std::string& cluster_id() const { return cluster_id_; }
  raft::NodeId node_id() const { return node_id_; }
  // 32 lowercase hex digits, random, fixed when the directory was first used.
  const std::string& directory_id() const { return directory_id_; }
  // True when this Open created the identity: the node starts with no data.
  bool is_new() const { return is_new_; }

  // Paths only; the caller creates them when it needs them.
  std::string GroupDir(uint64_t group) const;  // "<path>/groups/<20-digit group>"
  std::string MetadataDir() const;             // "<path>/metadata"

 private:
  absl::Status CheckOrCreateIdentity(const std::string& cluster_id, raft::NodeId node_id);

  std::string path_;
  int lock_fd_;
  std::string cluster_id_;
  raft::NodeId node_id_;
  std::string directory_id_;
  bool is_new_ = false;
};

}  // namespace raftlog::broker
