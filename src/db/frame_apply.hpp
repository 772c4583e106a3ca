// Applies one valid frame to a catalog: metadata records change topics,
// every batch advances its partition's offsets and index. Recovery, the
// writer, readers catching up and `check` all use this one function.
#pragma once

#include <functional>

#include "format/frame.hpp"
#include "meta/catalog.hpp"

namespace rivulet::db {

// Calls `take` for each record of batch `b`; a malformed record is
// corruption naming its position.
Status for_each_record(const format::BatchRef& b, const std::function<Status(const format::DecodedRecord&)>& take);

// A frame whose checksums hold but whose contents contradict the catalog
// (offsets that skip, an unknown topic) is corruption at its position.
Status apply_frame(meta::Catalog& catalog, const format::ParsedFrame& frame);

}  // namespace rivulet::db
