// Umbrella header for the Kafka RecordBatch v2 codec: header parsing and
// patching, validation/decoding, and building. See the included headers for
// the byte layout and the checks made.
#pragma once

#include "storage/record.h"                // IWYU pragma: export
#include "storage/record_batch_builder.h"  // IWYU pragma: export
#include "storage/record_batch_header.h"   // IWYU pragma: export
#include "storage/record_batch_reader.h"   // IWYU pragma: export
