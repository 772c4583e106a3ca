// Retention: which partitions' earliest offsets retention.ms and
// retention.bytes move forward now. Pure, over the catalog, so the rule is
// tested on its own; the writer commits what it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/meta_record.hpp"
#include "meta/catalog.hpp"

namespace rivulet::db {

// partition.start changes for every partition of a live topic whose
// cleanup.policy includes delete and whose oldest whole batches are older
// than retention.ms (by the highest timestamp up to and including them) or
// not needed to keep retention.bytes (as Kafka, the partition keeps at
// least retention.bytes). Only visible batches go. At most `max` changes.
std::vector<format::MetaChange> retention_changes(const meta::Catalog& catalog, int64_t now_ms, size_t max);

}  // namespace rivulet::db
