// FetchResponseEncoder: its bytes parse as the FetchResponse protobuf would
// build (byte-identical where the service uses it), and the batches are
// sent from the read buffer itself, not from a copy.
#include "broker/fetch_response_encoder.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/byte_buffer_test_util.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::api::v1;

// A BatchView over a buffer holding `batches` with `gap` filler bytes before
// each (where the log's frame headers would be).
storage::BatchView MakeView(const std::vector<std::string>& batches, size_t gap = 7) {
  storage::BatchView v;
  size_t size = 0;
  for (const std::string& b : batches) size += gap + b.size();
  v.data = std::make_unique<uint8_t[]>(size);
  v.data_size = size;
  size_t pos = 0;
  for (const std::string& b : batches) {
    std::memset(v.data.get() + pos, 0xEE, gap);
    pos += gap;
    std::memcpy(v.data.get() + pos, b.data(), b.size());
    v.batches.emplace_back(v.data.get() + pos, b.size());
    v.batches_bytes += b.size();
    pos += b.size();
  }
  return v;
}

void FillOk(pb::FetchPartitionResponse* p, const std::string& topic, int partition) {
  p->set_topic(topic);
  p->set_partition(partition);
  p->set_high_watermark(1000 + partition);
  p->set_last_stable_offset(1000 + partition);
  p->set_log_start_offset(3);
}

TEST(FetchResponseEncoder, BytesAreTheProtobufEncodingOfTheSameResponse) {
  const std::string big(300000, 'x');  // a length that takes a 3-byte varint
  FetchResponseEncoder enc;
  pb::FetchResponse want;

  FillOk(enc.AddPartition(), "t", 0);
  enc.SetRecords(MakeView({"batch-one", big, "batch-three"}));
  FillOk(want.add_partitions(), "t", 0);
  want.mutable_partitions(0)->set_records("batch-one" + big + "batch-three");

  pb::FetchPartitionResponse* err = enc.AddPartition();
  err->set_topic("t");
  err->set_partition(1);
  err->set_error(pb::NOT_LEADER);
  err->set_error_message("not leader");
  err->set_leader_id(2);
  err->set_leader_address("127.0.0.1:9");
  *want.add_partitions() = *err;

  FillOk(enc.AddPartition(), "caught-up", 2);  // no data: no records field
  FillOk(want.add_partitions(), "caught-up", 2);

  FillOk(enc.AddPartition(), "u", 3);
  enc.SetRecords(MakeView({}));  // an empty read: no records field either
  FillOk(want.add_partitions(), "u", 3);

  FillOk(enc.AddPartition(), "u", 4);
  enc.SetRecords(MakeView({"z"}, /*gap=*/0));
  FillOk(want.add_partitions(), "u", 4);
  want.mutable_partitions(4)->set_records("z");

  EXPECT_EQ(enc.records_bytes(), 9 + big.size() + 11 + 1);
  const std::string wire = proto::FlattenByteBuffer(enc.Finish());
  EXPECT_EQ(wire, want.SerializeAsString());
  pb::FetchResponse got;
  ASSERT_TRUE(got.ParseFromString(wire));
  EXPECT_EQ(got.SerializeAsString(), want.SerializeAsString());
  EXPECT_EQ(got.partitions(0).records(), "batch-one" + big + "batch-three");
  EXPECT_EQ(got.partitions(1).leader_address(), "127.0.0.1:9");
}

TEST(FetchResponseEncoder, BatchesAreSentFromTheReadBufferNotCopied) {
  FetchResponseEncoder enc;
  FillOk(enc.AddPartition(), "t", 0);
  storage::BatchView v = MakeView({std::string(5000, 'a'), std::string(7000, 'b')});
  const uint8_t* first = v.batches[0].data();
  const uint8_t* second = v.batches[1].data();
  enc.SetRecords(std::move(v));
  grpc::ByteBuffer buf = enc.Finish();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buf.Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 3u);  // header bytes, then one slice per batch
  EXPECT_EQ(slices[1].begin(), first);
  EXPECT_EQ(slices[1].size(), 5000u);
  EXPECT_EQ(slices[2].begin(), second);
  EXPECT_EQ(slices[2].size(), 7000u);
  // The slices keep the buffer alive after the encoder and the ByteBuffer.
  buf.Clear();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(slices[2].begin()), 3), "bbb");
}

TEST(FetchResponseEncoder, SetRecordsReplacesRecordsSetOnTheMessage) {
  FetchResponseEncoder enc;
  pb::FetchPartitionResponse* p = enc.AddPartition();
  FillOk(p, "t", 0);
  p->set_records("stale");
  enc.SetRecords(MakeView({"fresh"}));
  pb::FetchResponse got;
  ASSERT_TRUE(got.ParseFromString(proto::FlattenByteBuffer(enc.Finish())));
  ASSERT_EQ(got.partitions_size(), 1);
  EXPECT_EQ(got.partitions(0).records(), "fresh");
}

TEST(FetchResponseEncoder, FinishEmptiesTheEncoder) {
  FetchResponseEncoder enc;
  FillOk(enc.AddPartition(), "t", 0);
  enc.SetRecords(MakeView({"abc"}));
  EXPECT_EQ(enc.records_bytes(), 3u);
  EXPECT_FALSE(proto::FlattenByteBuffer(enc.Finish()).empty());
  EXPECT_EQ(enc.records_bytes(), 0u);
  EXPECT_EQ(proto::FlattenByteBuffer(enc.Finish()), "");  // an empty FetchResponse
}

}  // namespace
}  // namespace raftlog::broker
