// JSON from outside (a model file's header, a device's runner output) parsed with a bound on
// its nesting. nlohmann's parser itself does not recurse, but copying, comparing and dump()ing a
// tree recurse once per level, so a tree nested a million deep would overflow the stack in
// whatever touched it next. Header-only: used by ubp_device_model and ubp_device_protocol.
#pragma once

#include <nlohmann/json.hpp>

namespace ubp::device {

// Thrown by parse_json_bounded when the text nests deeper than allowed.
struct JsonTooDeep {
  int max_depth;
};

// Parses [begin, end) like Json::parse (throwing its parse_error on malformed text), and throws
// JsonTooDeep as soon as an array or object opens deeper than `max_depth` levels.
template <class Json, class Iterator>
Json parse_json_bounded(Iterator begin, Iterator end, int max_depth) {
  return Json::parse(begin, end, [max_depth](int depth, typename Json::parse_event_t, Json&) {
    if (depth > max_depth) throw JsonTooDeep{max_depth};
    return true;
  });
}

}  // namespace ubp::device
