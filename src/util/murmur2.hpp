// Kafka's default partitioner for keyed records: murmur2 as in Kafka's
// Utils.murmur2 (seed 0x9747b28c), then (hash & 0x7fffffff) % partitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rivulet {

// Same value as Java's Utils.murmur2(byte[]) (signed, as Java returns it).
int32_t murmur2(const void* data, size_t n);

// The partition Kafka's producer picks for `key`. partitions > 0.
int32_t kafka_partition_for_key(std::string_view key, int32_t partitions);

}  // namespace rivulet
