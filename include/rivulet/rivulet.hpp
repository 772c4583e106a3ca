// Rivulet: Kafka's topics, partitions, keyed records and offsets in one file.
// Include this header for the whole C++ API.
#pragma once

#include "rivulet/consumer.hpp"
#include "rivulet/db.hpp"
#include "rivulet/groups.hpp"
#include "rivulet/inspect.hpp"
#include "rivulet/options.hpp"
#include "rivulet/record.hpp"
#include "rivulet/status.hpp"
#include "rivulet/version.hpp"
